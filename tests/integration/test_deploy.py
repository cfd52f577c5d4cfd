#!/usr/bin/env python3
"""The deployments of the README, each with the real server it names.

nginx fastcgi_pass over TCP, over a unix socket and with kept-alive
connections; lighttpd mod_fastcgi starting reelgate (bin-path) and in front
of a running reelgate; Apache 2.4 mod_proxy_fcgi (TCP and unix socket) and
mod_fcgid starting reelgate itself; a spawn-fcgi -F N pool; systemd's units
(systemd-analyze verify, socket activation with systemd-socket-activate).

Each deployment runs the example config of etc/ itself, its @PLACEHOLDERS@
substituted, and the same smoke scenario: create with the local model
(320x180, 1 s) -> completed -> download (the bytes stored, a valid MP4,
sent by the web server where X-Accel-Redirect or X-Sendfile is configured,
Range) -> delete.  Most also check the errors the web server raises itself
(unknown path, body over the limit) are OpenAI error envelopes and that a
body under the limit reaches reelgate.  The 405s each server raises itself
(TRACE, CONNECT, methods it does not serve outside /v1/) must also carry the
Allow of the path: the route's methods in reelgate's router, GET, HEAD off
the API.

Started as root, the web servers' workers and reelgate run as www-data
(nobody without it), as in production: data_dir belongs to that user and
the CLI runs as it.  If that user cannot run the binary where it is (a tree
under /root), the few files needed are copied to a temp directory.

Environment (besides harness.py's): LIGHTTPD, APACHE2 (binaries),
APACHE_MODULES (default /usr/lib/apache2/modules), SYSTEMD_SOCKET_ACTIVATE,
SYSTEMD_ANALYZE; a variable set but empty means "not installed".  A
deployment whose server is missing is reported `# SKIP ... not installed`.
"""
import atexit
import difflib
import grp
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (BIN, CONSOLE_DIR, FAKES, FFPROBE, MODEL, NGINX,  # noqa: E402
                     RENDER_FFMPEG, SPAWN_FCGI, SRCDIR, Skip, Stack, Suite, alive, base_config,
                     check, cmdline, eq, expect_error, fake, ffprobe,
                     free_port, run_threads, tail, wait_until)

suite = Suite()
test = suite.test

ETC = os.path.join(SRCDIR, "etc")
VIDEO_BOUND = 60      # seconds a 320x180 1 s video may take, queue included


def tool(var, name):
    """$VAR when set (empty: not installed), else PATH and the sbin dirs."""
    if var in os.environ:
        path = os.environ[var]
        return path if path and os.access(path, os.X_OK) else None
    found = shutil.which(name)
    for d in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        if not found and os.access(os.path.join(d, name), os.X_OK):
            found = os.path.join(d, name)
    return found


LIGHTTPD = tool("LIGHTTPD", "lighttpd")
APACHE2 = tool("APACHE2", "apache2")
APACHE_MODULES = os.environ.get("APACHE_MODULES") or "/usr/lib/apache2/modules"
SOCKET_ACTIVATE = tool("SYSTEMD_SOCKET_ACTIVATE", "systemd-socket-activate")
SYSTEMD_ANALYZE = tool("SYSTEMD_ANALYZE", "systemd-analyze")


def apache_module(name):
    path = os.path.join(APACHE_MODULES, "mod_%s.so" % name)
    return path if os.path.isfile(path) else None


# ----------------------------------------------------------- who runs what

def _run_user():
    """(user, group, uid, gid) the servers' workers and reelgate run as when
    the test runs as root; None otherwise (everything runs as us)."""
    if os.geteuid() != 0:
        return None
    for name in ("www-data", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        return pw.pw_name, grp.getgrgid(pw.pw_gid).gr_name, pw.pw_uid, pw.pw_gid
    return None


RUN_AS = _run_user()


def as_user():
    """subprocess keyword arguments that run a child as RUN_AS."""
    if not RUN_AS:
        return {}
    return {"user": RUN_AS[2], "group": RUN_AS[3], "extra_groups": []}


def chown_tree(path):
    if not RUN_AS:
        return
    for root, dirs, files in os.walk(path):
        for name in [root] + [os.path.join(root, n) for n in dirs + files]:
            try:
                os.lchown(name, RUN_AS[2], RUN_AS[3])
            except OSError:
                pass


_TREE = {}


def _remove_tree():
    top = _TREE.get("copy")
    if top and not os.environ.get("REELGATE_TEST_KEEP"):
        shutil.rmtree(top, ignore_errors=True)


atexit.register(_remove_tree)


def tree():
    """Paths of the binary, the renderer, the fakes, etc/errors and the web
    console that RUN_AS can use: the source tree's own, or copies in a temp
    directory when RUN_AS cannot execute the binary where it is."""
    if _TREE:
        return _TREE
    paths = {"bin": BIN, "render": RENDER_FFMPEG, "fakes": FAKES,
             "errors": os.path.join(ETC, "errors") + "/", "console": CONSOLE_DIR}
    if RUN_AS and not os.environ.get("REELGATE_TEST_COPY_TREE"):
        r = subprocess.run([BIN, "--version"], capture_output=True, timeout=10, **as_user())
        ok = r.returncode == 0 and os.access(RENDER_FFMPEG, os.R_OK)
        r2 = subprocess.run(["/bin/sh", "-c", 'test -r "$0/404.html" && test -x "$1" && '
                             'test -r "$2/index.html"',
                             paths["errors"], RENDER_FFMPEG, CONSOLE_DIR], timeout=10,
                            **as_user())
        if ok and r2.returncode == 0:
            _TREE.update(paths)
            return _TREE
    if not RUN_AS:
        _TREE.update(paths)
        return _TREE
    top = tempfile.mkdtemp(prefix="reelgate-tree-", dir="/tmp")
    os.chmod(top, 0o755)
    for sub in ("bin", "share/reelgate", "tests", "errors"):
        os.makedirs(os.path.join(top, sub), exist_ok=True)
    shutil.copy2(BIN, os.path.join(top, "bin", "reelgate"))
    shutil.copy2(RENDER_FFMPEG, os.path.join(top, "share", "reelgate", "render-ffmpeg"))
    shutil.copytree(FAKES, os.path.join(top, "tests", "fakes"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(os.path.join(ETC, "errors"), os.path.join(top, "errors"), dirs_exist_ok=True)
    shutil.copytree(CONSOLE_DIR, os.path.join(top, "share", "reelgate", "console"))
    for root, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(root, n)
            os.chmod(p, 0o755 if os.path.isdir(p) or os.access(p, os.X_OK) else 0o644)
    _TREE.update({"bin": os.path.join(top, "bin", "reelgate"),
                  "render": os.path.join(top, "share", "reelgate", "render-ffmpeg"),
                  "fakes": os.path.join(top, "tests", "fakes"),
                  "errors": os.path.join(top, "errors") + "/",
                  "console": os.path.join(top, "share", "reelgate", "console"), "copy": top})
    return _TREE


def tfake(name, *args):
    """fake() with the fakes RUN_AS can run."""
    cmd = fake(name, *args)
    return [tree()["fakes"] + c[len(FAKES):] if c.startswith(FAKES) else c for c in cmd]


def render_template(src, dst, subst, drop_prefixes=()):
    """Writes the template src to dst with subst applied; lines starting
    (after indentation) with one of drop_prefixes are left out."""
    with open(src) as f:
        text = f.read()
    for k, v in subst.items():
        text = text.replace(k, str(v))
    if drop_prefixes:
        text = "\n".join(line for line in text.splitlines()
                         if not line.lstrip().startswith(tuple(drop_prefixes))) + "\n"
    left = sorted(set(re.findall(r"@[A-Z][A-Z_]*@", text)))
    check(not left, "%s: placeholders left unsubstituted: %s" % (src, left))
    with open(dst, "w") as f:
        f.write(text)
    return dst


def parent_pid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def connect_refused(addr, timeout=1.0):
    """True when connecting to addr ("host:port" or a unix path) is refused."""
    if addr.startswith("/"):
        s = socket.socket(socket.AF_UNIX)
        target = addr
    else:
        host, _, port = addr.rpartition(":")
        s = socket.socket()
        target = (host, int(port))
    s.settimeout(timeout)
    try:
        s.connect(target)
        return False
    except (ConnectionRefusedError, FileNotFoundError):
        return True
    except OSError:
        return False
    finally:
        s.close()


def tcp_established(port):
    """Established TCP connections whose remote end is 127.0.0.1:port."""
    n = 0
    try:
        with open("/proc/net/tcp") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return None
    for row in rows:
        f = row.split()
        if len(f) > 3 and int(f[2].split(":")[1], 16) == port and f[3] == "01":
            n += 1
    return n


# -------------------------------------------------------------- deployment

class Deploy(Stack):
    """One deployment in a temp directory: reelgate started as `mode` says
    behind `server`, from the example config `template` of etc/.

    server: "nginx" | "lighttpd" | "apache".
    mode:   "serve"            `reelgate serve --foreground` (a master of ours)
            "spawn-fcgi"       etc/spawn-fcgi/reelgate-spawn-fcgi start
            "bin-path"         lighttpd starts it (template bin-path.conf.in)
            "fcgid"            mod_fcgid starts it (template fcgid.conf.in)
            "socket-activate"  reelgate.service's ExecStart under
                               systemd-socket-activate on reelgate.socket's
                               ListenStream (argv: exec_start)
    delivery: content.delivery of the reelgate config.
    console_dir: the web console the server serves at / (@CONSOLE_DIR@;
    default: tree()'s, the source tree's or its copy).
    Everything else as harness.Stack; stop() is Stack's (it kills what
    names the temp directory, the detached dispatcher included).
    """

    def __init__(self, server, mode="serve", template=None, listen="unix", workers=2,
                 delivery="none", fcgid_times=(300, 3600, 120), exec_start=None,
                 console_dir=None, **kw):
        super().__init__(workers=workers, listen=listen, content={"delivery": delivery}, **kw)
        self.console_arg = console_dir
        self.server = server
        self.mode = mode
        self.delivery = delivery
        self.template = template
        self.fcgid_times = fcgid_times
        self.exec_start = exec_start
        self.activator = None

    # -- lifecycle

    def _require(self):
        if self.server == "nginx" and not NGINX:
            raise Skip("nginx not installed")
        if self.server == "lighttpd" and not LIGHTTPD:
            raise Skip("lighttpd not installed (Debian package lighttpd)")
        if self.server == "apache":
            if not APACHE2:
                raise Skip("Apache not installed (Debian package apache2-bin)")
            need = {"fcgid": ("fcgid", "libapache2-mod-fcgid")}.get(
                self.mode, ("proxy_fcgi", "apache2-bin"))
            if not apache_module(need[0]):
                raise Skip("mod_%s not installed in %s (Debian package %s)"
                           % (need[0], APACHE_MODULES, need[1]))
        if self.mode == "spawn-fcgi" and not SPAWN_FCGI:
            raise Skip("spawn-fcgi not installed")
        if self.mode == "socket-activate" and not SOCKET_ACTIVATE:
            raise Skip("systemd-socket-activate not installed (Debian package systemd)")
        if not os.access(BIN, os.X_OK):
            raise RuntimeError("reelgate binary not found: %s (run make first)" % BIN)

    def start(self):
        self._require()
        t = tree()
        self.console_dir = self.console_arg or t["console"]
        base = os.environ.get("TMPDIR", "/tmp")
        if RUN_AS or len(base) > 40:
            base = "/tmp"
        self.dir = tempfile.mkdtemp(prefix="reelgate-dp-", dir=base)
        os.chmod(self.dir, 0o755)
        harness._STACKS.append(self)
        for d in ("logs", "tmp", "nginx-tmp", "lighttpd-tmp", "fcgid"):
            os.makedirs(os.path.join(self.dir, d))
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        if self.listen_kind == "unix":
            self.sock_path = os.path.join(self.dir, "fcgi.sock")
            self.listen = "unix:" + self.sock_path
        else:
            self.listen = "127.0.0.1:%d" % free_port()
        self.config_path = os.path.join(self.dir, "reelgate.json")
        self.config = base_config(self.dir, self.listen, self.limits, self.workers,
                                  self.extra_models, self.backends, self.content_cfg)
        for b in self.config["backends"].values():
            if isinstance(b.get("command"), list):
                b["command"] = [t["render"] if a == RENDER_FFMPEG else
                                a.replace("@STACK@", self.dir) if isinstance(a, str) else a
                                for a in b["command"]]
        if self.configure:
            self.configure(self.config)
        self.data_dir = self.config["data_dir"]
        os.makedirs(self.data_dir)
        self.max_body = self.config["limits"]["max_body_bytes"]
        self.write_config()
        chown_tree(self.dir)
        self.key = self.create_key("deploy")
        self.env = dict(os.environ, TMPDIR=os.path.join(self.dir, "tmp"), HOME=self.dir)
        if self.mode == "serve":
            self.start_reelgate()
        elif self.mode == "spawn-fcgi":
            self.spawn_script("start")
        elif self.mode == "socket-activate":
            self._start_activator()
        getattr(self, "_start_" + self.server)()
        self.wait_ready()

    def start_reelgate(self):
        log = open(os.path.join(self.dir, "logs", "serve.log"), "ab")
        self._logs.append(log.name)
        self.proc = subprocess.Popen(
            [tree()["bin"], "serve", "-c", self.config_path, "--foreground"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=self.env, **as_user())
        log.close()
        return self.proc

    def spawn_script(self, action, children=None):
        """Runs etc/spawn-fcgi/reelgate-spawn-fcgi ACTION for this stack."""
        env = dict(self.env, REELGATE_BIN=tree()["bin"], REELGATE_CONFIG=self.config_path,
                   REELGATE_DATA_DIR=self.data_dir,
                   REELGATE_SOCKET=self.sock_path if self.listen_kind == "unix" else self.listen,
                   REELGATE_CHILDREN=str(children or self.workers),
                   REELGATE_PIDFILE=os.path.join(self.dir, "spawn-fcgi.pid"),
                   SPAWN_FCGI=SPAWN_FCGI)
        if RUN_AS:
            env.update(REELGATE_USER=RUN_AS[0], REELGATE_GROUP=RUN_AS[1],
                       REELGATE_SOCKET_GROUP=RUN_AS[1])
        # Through sh: the execute bit may not survive a copy of the tree.
        r = subprocess.run(["/bin/sh", os.path.join(ETC, "spawn-fcgi", "reelgate-spawn-fcgi"),
                            action],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60, env=env)
        check(r.returncode == 0, "reelgate-spawn-fcgi %s exited %s" % (action, r.returncode),
              r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace"))
        if action == "start":
            with open(os.path.join(self.dir, "spawn-fcgi.pid")) as f:
                self.fcgi_pids = [int(p) for p in f.read().split()]
            self._logs.append(self.config["log_file"])
        return r

    def _start_activator(self):
        argv = [a.replace("$MAINPID", "") for a in self.exec_start]
        log = open(os.path.join(self.dir, "logs", "activate.log"), "ab")
        self._logs.append(log.name)
        self.activator = subprocess.Popen(
            [SOCKET_ACTIVATE, "-l", self.sock_path] + argv,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=self.env, **as_user())
        log.close()
        wait_until(lambda: os.path.exists(self.sock_path) or self.activator.poll() is not None,
                   10, what="systemd-socket-activate to listen")
        check(os.path.exists(self.sock_path), "systemd-socket-activate did not listen",
              tail(os.path.join(self.dir, "logs", "activate.log")))

    def _spawn_server(self, argv, name, logs):
        out = os.path.join(self.dir, "logs", name + ".out")
        log = open(out, "ab")
        self.nginx = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True,
                                      env=self.env)
        log.close()
        self._logs += [out] + [os.path.join(self.dir, "logs", l) for l in logs]

        def listening():
            check(self.nginx.poll() is None, "%s exited (%s)" % (name, self.nginx.returncode),
                  self.log_tail(15))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until(listening, 20, what="%s to listen" % name)

    def _start_nginx(self):
        template = os.path.join(ETC, "nginx", self.template or "standalone.conf.in")
        conf = render_template(template, os.path.join(self.dir, "nginx.conf"), {
            "@DAEMON@": "off",
            "@USER@": "%s %s" % (RUN_AS[0], RUN_AS[1]) if RUN_AS else "-",
            "@HOME@": self.dir,
            "@PORT@": self.port,
            "@FCGI@": self.listen,
            "@CONTENT_DIR@": os.path.join(self.data_dir, "content"),
            "@MAX_BODY@": self.max_body,
            "@CONSOLE_DIR@": self.console_dir,
        }, drop_prefixes=() if os.geteuid() == 0 else ("user ",))
        t = subprocess.run([NGINX, "-t", "-q", "-c", conf], capture_output=True, timeout=30)
        check(t.returncode == 0, "nginx -t refused %s" % conf, t.stderr.decode(errors="replace"))
        self._spawn_server([NGINX, "-c", conf], "nginx", ["nginx-error.log"])

    def _start_lighttpd(self):
        name = self.template or ("bin-path.conf.in" if self.mode == "bin-path"
                                 else "external.conf.in")
        check(self.listen_kind == "unix", "the lighttpd examples use a unix socket")
        conf = render_template(os.path.join(ETC, "lighttpd", name),
                               os.path.join(self.dir, "lighttpd.conf"), {
            "@HOME@": self.dir,
            "@USER@": RUN_AS[0] if RUN_AS else "-",
            "@GROUP@": RUN_AS[1] if RUN_AS else "-",
            "@PORT@": self.port,
            "@FCGI_SOCKET@": self.sock_path,
            "@BIN@": tree()["bin"],
            "@CONFIG@": self.config_path,
            "@WORKERS@": self.workers,
            "@CONTENT_DIR@": os.path.join(self.data_dir, "content"),
            "@ERRORS_DIR@": tree()["errors"],
            "@MAX_BODY_KB@": self.max_body // 1024,
            "@CONSOLE_DIR@": self.console_dir,
        }, drop_prefixes=() if RUN_AS else ("server.username", "server.groupname"))
        t = subprocess.run([LIGHTTPD, "-tt", "-f", conf], capture_output=True, timeout=30)
        check(t.returncode == 0, "lighttpd -tt refused %s" % conf,
              (t.stdout + t.stderr).decode(errors="replace"))
        self._spawn_server([LIGHTTPD, "-D", "-f", conf], "lighttpd", ["lighttpd-error.log"])

    def _start_apache(self):
        name = self.template or ("fcgid.conf.in" if self.mode == "fcgid" else "proxy-fcgi.conf.in")
        if self.listen_kind == "unix":
            target = "unix:%s|fcgi://localhost/v1/" % self.sock_path
        else:
            target = "fcgi://%s/v1/" % self.listen
        idle, life, scan = self.fcgid_times
        conf = render_template(os.path.join(ETC, "apache2", name),
                               os.path.join(self.dir, "httpd.conf"), {
            "@HOME@": self.dir,
            "@MODULES@": APACHE_MODULES,
            "@USER@": RUN_AS[0] if RUN_AS else "-",
            "@GROUP@": RUN_AS[1] if RUN_AS else "-",
            "@PORT@": self.port,
            "@PROXY_TARGET@": target,
            "@BIN@": tree()["bin"],
            "@CONFIG@": self.config_path,
            "@WORKERS@": self.workers,
            "@IDLE_TIMEOUT@": idle,
            "@LIFETIME@": life,
            "@SCAN@": scan,
            "@CONTENT_DIR@": os.path.join(self.data_dir, "content"),
            "@ERRORS_DIR@": tree()["errors"],
            "@MAX_BODY@": self.max_body,
            "@CONSOLE_DIR@": self.console_dir,
        }, drop_prefixes=() if RUN_AS else ("User ", "Group "))
        t = subprocess.run([APACHE2, "-t", "-f", conf], capture_output=True, timeout=30,
                           env=self.env)
        check(t.returncode == 0, "apache2 -t refused %s" % conf,
              (t.stdout + t.stderr).decode(errors="replace"))
        self._spawn_server([APACHE2, "-f", conf, "-DFOREGROUND"], "apache",
                           ["apache-error.log"])

    # -- as RUN_AS

    def cli(self, *args, check_rc=True):
        r = subprocess.run([tree()["bin"]] + list(args) + ["-c", self.config_path],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                           **as_user())
        if check_rc:
            check(r.returncode == 0, "reelgate %s exited %s" % (" ".join(args), r.returncode),
                  r.stderr.decode(errors="replace"))
        return r

    def chunks_fcgi_answers(self):
        """Apache's mod_proxy_fcgi drops the Content-Length of FastCGI
        answers and sends them chunked (files sent by mod_xsendfile keep
        theirs)."""
        return self.server == "apache" and self.mode == "serve"

    # -- processes

    def reelgate_pids(self):
        """Live reelgate processes of this stack (by their config path)."""
        return sorted(p for p in harness.pids_mentioning(self.config_path)
                      if any("reelgate" in a for a in cmdline(p)[:2]))

    def worker_pids(self):
        """Live reelgate processes other than the dispatcher (and a master)."""
        disp = self.dispatcher_pid()
        master = self.proc.pid if self.proc is not None else None
        return [p for p in self.reelgate_pids() if p not in (disp, master)]


# --------------------------------------------------------------- the checks

def expect_envelope(resp, status, code, request_id=True):
    """An OpenAI error envelope raised by the web server (or reelgate)."""
    if request_id:
        return expect_error(resp, status, code=code)
    check(resp.status == status, "status: got %s, want %s" % (resp.status, status), resp)
    ctype = resp.header("content-type") or ""
    check(ctype.startswith("application/json"), "Content-Type %r is not JSON" % ctype, resp)
    body = resp.json
    check(isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], dict)
          and set(body["error"]) == {"message", "type", "param", "code"},
          "not an OpenAI error envelope", resp)
    eq(body["error"]["code"], code, "error.code")
    eq(body["error"]["type"], "server_error" if status >= 500 else "invalid_request_error",
       "error.type")
    return body["error"]


def check_sender(r, sends):
    """Who sent the file: "nginx" (X-Accel-Redirect), "x-sendfile" (lighttpd
    or Apache's mod_xsendfile), or None (reelgate streamed it)."""
    for h in ("x-accel-redirect", "x-sendfile"):
        check(r.header(h) is None, "the %s header reached the client" % h, r.headers)
    if sends is None:
        check(r.header("etag") is None and r.header("accept-ranges") == "bytes",
              "reelgate streams the file: Accept-Ranges, no ETag", r.headers)
    else:
        # A web server sending a file itself adds its validators.
        check(r.header("last-modified") is not None,
              "the web server did not send the file itself (no Last-Modified)", r.headers)


def smoke(s, sends=None):
    """create -> completed -> download -> delete, through s.  Returns the
    completed video."""
    # The bearer key reaches reelgate (web servers may drop Authorization).
    eq(s.request("GET", "/v1/models").status, 200, "GET /v1/models with the key")
    expect_error(s.request("GET", "/v1/models", key=None), 401, code=None)
    expect_error(s.request("GET", "/v1/models", key="sk-rg-not-a-key"), 401,
                 code="invalid_api_key")

    v = s.create(prompt="deployment smoke: %s %s" % (s.server, s.mode), model=MODEL,
                 seconds="1", size="320x180", fps=12)
    done, hist = s.wait_video(v["id"], timeout=VIDEO_BOUND)
    eq(done["status"], "completed", "status of %s (%s; error %s)" % (v["id"], hist, done["error"]))
    url = (done.get("metadata") or {}).get("url")
    eq(url, "%s/v1/videos/%s/content" % (s.base, v["id"]),
       "metadata.url (built from the Host the web server passed)")

    path = os.path.join(s.data_dir, "content", v["id"] + ".mp4")
    with open(path, "rb") as f:
        stored = f.read()
    r = s.content(v["id"])
    eq(r.status, 200, "content status (%r)" % r)
    eq((r.header("content-type") or "").split(";")[0], "video/mp4", "content type")
    if r.header("content-length") is not None or not s.chunks_fcgi_answers():
        eq(int(r.header("content-length") or -1), len(stored), "Content-Length")
    check(r.body == stored, "downloaded bytes differ from %s (%d vs %d bytes)"
          % (path, len(r.body), len(stored)))
    eq(r.body[4:8], b"ftyp", "MP4 signature")
    if FFPROBE:
        p = ffprobe(path)
        eq((p["codec"], p["width"], p["height"], p["frames"]), ("h264", 320, 180, 12),
           "codec, width, height, frames")
    check_sender(r, sends)

    r = s.content(v["id"], headers={"Range": "bytes=100-199"})
    eq(r.status, 206, "status of a Range request (%r)" % r)
    eq(r.header("content-range"), "bytes 100-199/%d" % len(stored), "Content-Range")
    check(r.body == stored[100:200], "the range's bytes")

    r = s.content(v["id"], "thumbnail")
    eq((r.status, r.header("content-type")), (200, "image/webp"), "thumbnail")
    check(r.body[:4] == b"RIFF" and r.body[8:12] == b"WEBP", "thumbnail is not WebP")

    r = s.request("DELETE", "/v1/videos/" + v["id"])
    eq(r.json, {"id": v["id"], "object": "video.deleted", "deleted": True}, "delete answer")
    expect_error(s.get(v["id"]), 404, code="not_found")
    left = [f for f in os.listdir(os.path.join(s.data_dir, "content")) if v["id"] in f]
    eq(left, [], "files of the deleted video")
    eq(upstream_errors(s), [], "%s's error log: its connections to reelgate cut short" % s.server)
    return done


# What nginx, lighttpd and Apache log when a FastCGI connection is reset or
# ends before the answer did (reelgate closes a connection as soon as the
# request's input was read to its end: never one with input left unread).
UPSTREAM_ERRORS = re.compile(r"reset by peer|prematurely closed|end-of-file|broken pipe|"
                             r"AH01075|AH01068|AH01070|AH01067", re.I)


def upstream_errors(s):
    try:
        with open(os.path.join(s.dir, "logs", s.server + "-error.log"), errors="replace") as f:
            return [l.strip() for l in f if UPSTREAM_ERRORS.search(l)]
    except FileNotFoundError:
        return []


def server_errors(s, request_id=True):
    """The web server's own errors are envelopes; bodies under the limit
    reach reelgate."""
    expect_envelope(s.request("GET", "/not-the-api"), 404, "not_found", request_id)
    expect_envelope(s.request("GET", "/v1"), 404, "not_found", request_id)
    r = s.request("POST", "/v1/videos", body=b"x" * (s.max_body + 1),
                  content_type="application/json")
    expect_envelope(r, 413, "request_too_large", request_id)
    # 300 KiB (more than mod_fcgid's default FcgidMaxRequestLen, less than
    # the limit): reelgate itself answers (its X-Request-Id, its code).
    r = s.request("POST", "/v1/videos", body=b"{" + b" " * (300 << 10),
                  content_type="application/json")
    expect_error(r, 400, code="invalid_json")


# The web server's own 405s.  On an API route the Allow is the route's in
# reelgate's router (src/router.c); a well-formed id, since the route, not
# the record, decides.  Elsewhere (no API route) the configs say GET, HEAD.
ANY_ID = "video_" + "0" * 32
ROUTES = [("/v1/videos", "GET, POST"), ("/v1/videos/?order=asc", "GET, POST"),
          ("/v1/videos/" + ANY_ID, "GET, DELETE"),
          ("/v1/videos/%s/content?variant=thumbnail" % ANY_ID, "GET"),
          ("/v1/videos/%s/remix" % ANY_ID, "POST"),
          ("/v1/models", "GET"), ("/v1/models/" + MODEL, "GET")]
NOT_ROUTES = ["/v1/unknown", "/v1", "/", "/not-the-api"]
OUTSIDE_V1 = [p for p in NOT_ROUTES if not p.startswith("/v1/")]
ELSEWHERE = "GET, HEAD"


def allowed(value):
    """The methods of an Allow header value, sorted (None: no header)."""
    return None if value is None else sorted(m.strip() for m in value.split(",") if m.strip())


def check_routes_table(s):
    """ROUTES is what reelgate itself answers: its own 405 (to PATCH, which
    every server here passes on) names the same methods."""
    for path, allow in ROUTES:
        r = s.request("PATCH", path)
        eq((r.status, allowed(r.header("allow"))), (405, allowed(allow)),
           "reelgate's own 405 to PATCH %s (status, Allow)" % path)


def expect_405(s, method, target, request_id=True):
    """method on target must be a 405 with the JSON envelope and the Allow
    of the target: its route's methods, or GET, HEAD off the API.  A target
    not starting with "/" is sent raw ("CONNECT host:port")."""
    if target.startswith("/"):
        r = s.request(method, target)
    else:
        r = s.raw(("%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                   % (method, target, target)).encode())
    what = "%s %s through %s (%s)" % (method, target, s.server, s.template or s.mode)
    check(r.status == 405, "%s: status %s, want 405" % (what, r.status), r)
    want = dict(ROUTES).get(target, ELSEWHERE)
    check(r.header("allow") is not None, "%s: a 405 without Allow (RFC 9110 wants %r)"
          % (what, want), r.headers)
    eq(allowed(r.header("allow")), allowed(want), "%s: the methods of Allow" % what)
    expect_envelope(r, 405, "method_not_allowed", request_id)


# -------------------------------------------------------------------- nginx

@test("nginx fastcgi_pass over TCP (etc/nginx/standalone.conf.in): smoke, X-Accel-Redirect, "
      "JSON errors", timeout=120)
def _(_):
    with Deploy("nginx", listen="tcp", delivery="x-accel-redirect") as s:
        smoke(s, "nginx")
        server_errors(s)


@test("nginx fastcgi_pass over a unix socket (etc/nginx/standalone.conf.in): smoke, "
      "X-Accel-Redirect", timeout=120)
def _(_):
    with Deploy("nginx", listen="unix", delivery="x-accel-redirect") as s:
        smoke(s, "nginx")


def keepalive_numbers():
    """(keepalive N, worker_processes) of etc/nginx/keepalive.conf.in."""
    with open(os.path.join(ETC, "nginx", "keepalive.conf.in")) as f:
        text = f.read()
    n = re.search(r"^\s*keepalive\s+(\d+)\s*;", text, re.M)
    wp = re.search(r"^\s*worker_processes\s+(\d+)\s*;", text, re.M)
    check(n and wp, "keepalive.conf.in must set keepalive N and worker_processes")
    check(re.search(r"^\s*fastcgi_keep_conn\s+on\s*;", text, re.M),
          "keepalive.conf.in does not turn fastcgi_keep_conn on")
    return int(n.group(1)), int(wp.group(1))


@test("nginx with kept-alive connections (etc/nginx/keepalive.conf.in): smoke; more "
      "concurrent clients than kept connections all get answers; connections are kept",
      timeout=150)
def _(_):
    n, wp = keepalive_numbers()
    kept = n * wp
    # The file's rule: workers > keepalive x worker_processes.
    with Deploy("nginx", template="keepalive.conf.in", listen="tcp", workers=kept + 1,
                delivery="x-accel-redirect") as s:
        smoke(s, "nginx")
        clients, each = 3 * kept + 2, 12
        failures, done = [], []
        lock = threading.Lock()

        def client(i):
            for j in range(each):
                path = "/v1/models" if j % 2 else "/v1/videos?limit=2"
                t0 = time.monotonic()
                try:
                    r = s.request("GET", path, timeout=10)
                    outcome = r.status
                except Exception as e:  # a starved request times out
                    outcome = type(e).__name__
                with lock:
                    (done if outcome == 200 else failures).append(
                        (i, j, outcome, round(time.monotonic() - t0, 2)))
        for t in run_threads(client, clients):
            t.join(60)
        check(not failures, "%d of %d requests of %d concurrent clients failed or starved "
              "(client, request, outcome, seconds): %s"
              % (len(failures), clients * each, clients, failures[:8]))
        eq(len(done), clients * each, "answered requests")
        port = int(s.listen.rpartition(":")[2])
        open_conns = tcp_established(port)
        if open_conns is not None:
            check(1 <= open_conns <= kept, "nginx should keep 1..%d idle connections to reelgate, "
                  "has %s" % (kept, open_conns))


@test("nginx (etc/nginx/standalone.conf.in, keepalive.conf.in): the 405s nginx raises itself "
      "(TRACE, CONNECT) carry the Allow of the path and the JSON envelope", timeout=90)
def _(_):
    for template in ("standalone.conf.in", "keepalive.conf.in"):
        with Deploy("nginx", template=template, listen="tcp", workers=3) as s:
            check_routes_table(s)
            for method in ("TRACE", "CONNECT"):
                for path, _allow in ROUTES:
                    expect_405(s, method, path)
                for path in NOT_ROUTES:
                    expect_405(s, method, path)


# ----------------------------------------------------------------- lighttpd

def xsendfile_delivery():
    return "x-sendfile" if apache_module("xsendfile") else "none"


@test("lighttpd mod_fastcgi bin-path starts reelgate (etc/lighttpd/bin-path.conf.in): no "
      "master, dispatcher detached; smoke with X-Sendfile; JSON errors", timeout=120)
def _(_):
    with Deploy("lighttpd", mode="bin-path", delivery="x-sendfile", workers=2) as s:
        server = s.nginx.pid
        disp = wait_until(s.dispatcher_pid, 10, what="a dispatcher")
        # lighttpd's children: max-procs reelgate workers, nothing else
        # (the dispatcher a worker started is detached).
        workers = wait_until(lambda: len(s.worker_pids()) == 2 and s.worker_pids(), 10,
                             what="2 reelgate processes started by lighttpd")
        for p in workers:
            eq(parent_pid(p), server, "parent of reelgate process %d" % p)
        check(parent_pid(disp) not in workers + [server],
              "the dispatcher is not detached (parent %s)" % parent_pid(disp))
        smoke(s, "x-sendfile")
        server_errors(s, request_id=False)


@test("lighttpd mod_fastcgi to a running reelgate (etc/lighttpd/external.conf.in): smoke "
      "with X-Sendfile; reelgate stopped -> JSON 503", timeout=120)
def _(_):
    with Deploy("lighttpd", mode="serve", delivery="x-sendfile") as s:
        smoke(s, "x-sendfile")
        server_errors(s, request_id=False)
        eq(s.stop_reelgate(), 0, "exit status of reelgate serve")
        expect_envelope(s.request("GET", "/v1/models"), 503, "internal_error", request_id=False)


@test("lighttpd (etc/lighttpd/external.conf.in, bin-path.conf.in): the 405s lighttpd raises "
      "itself (any method but GET and HEAD outside /v1/, CONNECT host:port) carry Allow and "
      "the JSON envelope; TRACE and CONNECT on the API reach reelgate", timeout=90)
def _(_):
    for mode in ("serve", "bin-path"):
        with Deploy("lighttpd", mode=mode) as s:
            check_routes_table(s)
            for method in ("TRACE", "CONNECT"):
                for path, _allow in ROUTES:
                    expect_405(s, method, path)
            for method in ("CONNECT", "POST", "PUT", "DELETE", "PROPFIND"):
                for path in OUTSIDE_V1:
                    expect_405(s, method, path, request_id=False)
            expect_405(s, "CONNECT", "127.0.0.1:443", request_id=False)


# ------------------------------------------------------------------- Apache

@test("Apache mod_proxy_fcgi over TCP (etc/apache2/proxy-fcgi.conf.in): Authorization "
      "passed, smoke with X-Sendfile, JSON errors; reelgate stopped -> JSON 503", timeout=120)
def _(_):
    delivery = xsendfile_delivery()
    with Deploy("apache", listen="tcp", delivery=delivery) as s:
        smoke(s, "x-sendfile" if delivery == "x-sendfile" else None)
        server_errors(s)
        eq(s.stop_reelgate(), 0, "exit status of reelgate serve")
        expect_envelope(s.request("GET", "/v1/models"), 503, "internal_error")


@test("Apache mod_proxy_fcgi over a unix socket (etc/apache2/proxy-fcgi.conf.in): smoke",
      timeout=120)
def _(_):
    delivery = xsendfile_delivery()
    with Deploy("apache", listen="unix", delivery=delivery) as s:
        smoke(s, "x-sendfile" if delivery == "x-sendfile" else None)


SLOW_SECONDS = 10     # the slow fake's progress phase, before it renders


@test("Apache mod_fcgid starts reelgate (etc/apache2/fcgid.conf.in): no master, dispatcher "
      "elected by lock and detached; smoke; a task completes after mod_fcgid killed every "
      "reelgate process", timeout=150)
def _(_):
    delivery = xsendfile_delivery()
    slow = dict(base_config("/", "x")["models"][MODEL],
                backends=[{"backend": "slow", "model": "slow"}])
    backends = {"slow": {"type": "command", "command": tfake("slow-render", SLOW_SECONDS),
                         "concurrency": 1}}
    with Deploy("apache", mode="fcgid", delivery=delivery, workers=3, fcgid_times=(2, 4, 1),
                extra_models={"slow": slow}, backends=backends) as s:
        smoke(s, "x-sendfile" if delivery == "x-sendfile" else None)
        server_errors(s)
        disp = wait_until(s.dispatcher_pid, 10, what="a dispatcher")
        workers = s.worker_pids()
        check(workers, "no reelgate process started by mod_fcgid")
        for p in workers:
            parent = parent_pid(p)
            check(parent and any("apache2" in a or "httpd" in a for a in cmdline(parent)[:1]),
                  "reelgate process %d is not mod_fcgid's child (parent %s: %s)"
                  % (p, parent, cmdline(parent) if parent else None))
        check(not any(a.endswith("--foreground") for p in workers for a in cmdline(p)),
              "reelgate ran in the foreground")
        check(parent_pid(disp) not in workers, "the dispatcher is a worker's child")

        v = s.create(model="slow", prompt="outlives every fcgid process", seconds="1",
                     size="320x180", fps=12)
        s.wait_video(v["id"], until="in_progress", timeout=20)
        # No more requests: mod_fcgid kills its idle processes (idle 2 s,
        # lifetime 4 s, scanned every second) while the task runs.
        wait_until(lambda: not s.worker_pids(), 15, interval=0.2,
                   what="mod_fcgid to kill every idle reelgate process")
        gone_at = time.time()
        check(not os.path.exists(os.path.join(s.data_dir, "content", v["id"] + ".mp4")),
              "the task finished before the processes were gone: lengthen SLOW_SECONDS")
        seen_workers = []
        done_line = "event=video_completed video=%s" % v["id"]

        def finished():
            # The dispatcher's own word, from its log: no request needed.
            seen_workers.extend(s.worker_pids())
            with open(s.config["log_file"], errors="replace") as f:
                return done_line in f.read()
        wait_until(finished, SLOW_SECONDS + VIDEO_BOUND, interval=0.2,
                   what="the dispatcher to log %r with no reelgate worker alive" % done_line)
        finished_at = time.time()
        eq(seen_workers, [], "reelgate processes alive while the task finished")
        eq(s.dispatcher_pid(), disp, "the dispatcher (it must survive mod_fcgid's kills)")
        # The next request starts a process; it finds the dispatcher alive.
        done, hist = s.wait_video(v["id"], timeout=20)
        eq(done["status"], "completed", "status (%s; error %s)" % (hist, done["error"]))
        check(done["completed_at"] >= int(gone_at) - 1 and done["completed_at"] <= finished_at + 1,
              "completed_at %s is not between the kills (%d) and the check (%d)"
              % (done["completed_at"], gone_at, finished_at))
        eq(s.dispatcher_pid(), disp, "the dispatcher after a new process started")
        r = s.content(v["id"])
        eq((r.status, r.body[4:8]), (200, b"ftyp"), "content of the task")
        s.db_check()


@test("Apache (etc/apache2/proxy-fcgi.conf.in, fcgid.conf.in): the 405s Apache raises itself "
      "(TRACE, PUT/DELETE/PROPFIND outside /v1/, CONNECT host:port) carry the Allow of the "
      "path and the JSON envelope", timeout=120)
def _(_):
    for mode in ("serve", "fcgid"):
        with Deploy("apache", mode=mode) as s:
            check_routes_table(s)
            for path, _allow in ROUTES:
                expect_405(s, "TRACE", path)
            for path in NOT_ROUTES:
                expect_405(s, "TRACE", path)
            for method in ("PUT", "DELETE", "PROPFIND"):
                for path in OUTSIDE_V1:
                    expect_405(s, method, path)
            expect_405(s, "CONNECT", "127.0.0.1:443")


# ---------------------------------------------------------------- spawn-fcgi

@test("spawn-fcgi -F 2 via etc/spawn-fcgi/reelgate-spawn-fcgi behind nginx: smoke; stop ends "
      "workers and dispatcher; start again on the same port", timeout=150)
def _(_):
    with Deploy("nginx", mode="spawn-fcgi", listen="tcp", workers=2,
                delivery="x-accel-redirect") as s:
        check(all(alive(p) for p in s.fcgi_pids) and len(s.fcgi_pids) == 2,
              "spawn-fcgi's 2 children", s.fcgi_pids)
        smoke(s, "nginx")
        disp = s.dispatcher_pid()
        check(disp and disp not in s.fcgi_pids, "a detached dispatcher (%s)" % disp)
        s.spawn_script("stop")
        wait_until(lambda: not s.reelgate_pids(), 10, what="every reelgate process to exit")
        check(connect_refused(s.listen), "the FastCGI port still accepts connections")
        s.spawn_script("start")
        s.wait_ready()
        v = s.create(prompt="after a restart", seconds="1", size="320x180", fps=12)
        done, hist = s.wait_video(v["id"], timeout=VIDEO_BOUND)
        eq(done["status"], "completed", "status after the restart (%s)" % hist)
        s.db_check()


@test("spawn-fcgi: once the workers are stopped, nothing holds the listen socket (the "
      "detached dispatcher must not keep the inherited fd 0)", timeout=60)
def _(_):
    with Deploy("nginx", mode="spawn-fcgi", listen="tcp", workers=2) as s:
        disp = wait_until(s.dispatcher_pid, 10, what="a dispatcher")
        for p in s.fcgi_pids:
            os.kill(p, signal.SIGTERM)
        wait_until(lambda: not any(alive(p) for p in s.fcgi_pids), 10,
                   what="the spawn-fcgi children to exit")
        check(alive(disp), "the dispatcher must outlive the workers")
        holders = []
        for fd in ("0", "1"):
            try:
                holders.append((fd, os.readlink("/proc/%d/fd/%s" % (disp, fd))))
            except OSError:
                pass
        # With a TCP socket held by nobody the kernel refuses connections:
        # nginx answers 502 at once and spawn-fcgi can bind the port again.
        # Held by the dispatcher, connections queue unanswered (nginx waits
        # for fastcgi_read_timeout) and a restart fails with "Address
        # already in use".
        check(connect_refused(s.listen),
              "after the workers exited, connections to %s are still accepted: the "
              "dispatcher (pid %d) holds the listen socket it inherited; its fds 0, 1: %s"
              % (s.listen, disp, holders))


# ------------------------------------------------------------------- systemd

def unit(name):
    """{key: [values]} of a unit file of etc/systemd (all sections)."""
    out = {}
    with open(os.path.join(ETC, "systemd", name)) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";", "[")) or "=" not in line:
                continue
            k, _, v = line.partition("=")
            out.setdefault(k.strip(), []).append(v.strip())
    return out


INSTALLED_BIN = "/usr/local/bin/reelgate"
INSTALLED_CONFIG = "/usr/local/etc/reelgate.json"


def unit_argv(value, config):
    """An Exec*= command line of the unit, for this machine."""
    argv = shlex.split(value.lstrip("-@:+!"))
    return [tree()["bin"] if a == INSTALLED_BIN else config if a == INSTALLED_CONFIG else a
            for a in argv]


@test("systemd: etc/systemd/reelgate.service and reelgate.socket pass systemd-analyze "
      "verify", timeout=60)
def _(_):
    if not SYSTEMD_ANALYZE:
        raise Skip("systemd-analyze not installed (Debian package systemd)")
    with tempfile.TemporaryDirectory(prefix="reelgate-units-") as tmp:
        for name in ("reelgate.service", "reelgate.socket"):
            with open(os.path.join(ETC, "systemd", name)) as f:
                text = f.read()
            # The installed paths, made to exist here.
            text = text.replace(INSTALLED_BIN, BIN).replace(
                INSTALLED_CONFIG, os.path.join(ETC, "reelgate.json"))
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        files = [os.path.join(tmp, n) for n in ("reelgate.service", "reelgate.socket")]
        r = subprocess.run([SYSTEMD_ANALYZE, "verify"] + files, capture_output=True,
                           timeout=60, env=dict(os.environ, SYSTEMD_LOG_LEVEL="warning"))
        err = r.stderr.decode(errors="replace") + r.stdout.decode(errors="replace")
        ours = [l for l in err.splitlines() if "reelgate" in l]
        if r.returncode != 0 and not ours:
            raise Skip("systemd-analyze verify cannot run here: %s" % err.strip()[-300:])
        check(r.returncode == 0 and not ours, "systemd-analyze verify: exit %s" % r.returncode,
              err)


@test("systemd socket activation: reelgate.service's ExecStart under systemd-socket-activate "
      "on reelgate.socket's ListenStream, behind nginx: smoke; ExecReload replaces the "
      "workers; stop leaves systemd's socket", timeout=150)
def _(_):
    svc, sock = unit("reelgate.service"), unit("reelgate.socket")
    eq(svc.get("Type"), ["forking"], "Type of reelgate.service")
    check(sock.get("ListenStream"), "reelgate.socket has no ListenStream")
    holder = {}

    class Activated(Deploy):
        def _start_activator(self):
            for pre in svc.get("ExecStartPre", []):
                r = subprocess.run(unit_argv(pre, self.config_path), capture_output=True,
                                   timeout=30, **as_user())
                check(r.returncode == 0, "ExecStartPre %s failed" % pre, r.stderr)
            self.exec_start = unit_argv(svc["ExecStart"][0], self.config_path)
            holder["argv"] = self.exec_start
            Deploy._start_activator(self)

    with Activated("nginx", mode="socket-activate", listen="unix",
                   delivery="x-accel-redirect", workers=2) as s:
        # The first connection made systemd-socket-activate exec
        # ExecStart, which forked into the background once serving.
        eq(s.activator.wait(30), 0, "exit status of ExecStart (Type=forking: the parent)")
        pidfile = os.path.join(s.data_dir, "reelgate.pid")
        eq(os.path.basename(svc["PIDFile"][0]), os.path.basename(pidfile), "PIDFile name")
        main = wait_until(lambda: os.path.exists(pidfile) and open(pidfile).read().strip(),
                          10, what="the pid file")
        main = int(main)
        check(alive(main), "the daemon (pid %d) is not running" % main)
        # Before it forks into the background reelgate logs to stderr.
        log = os.path.join(s.dir, "logs", "activate.log")
        with open(log) as f:
            check("source=systemd" in f.read(), "reelgate did not take the socket from "
                  "systemd (LISTEN_FDS)", tail(log))
        s._logs.append(s.config["log_file"])
        smoke(s, "nginx")

        # ExecReload
        before = set(harness.children(main)) - {s.dispatcher_pid()}
        reload_argv = shlex.split(svc["ExecReload"][0].replace("$MAINPID", str(main)))
        r = subprocess.run(reload_argv, capture_output=True, timeout=10)
        eq(r.returncode, 0, "ExecReload %s" % reload_argv)
        wait_until(lambda: not (set(harness.children(main)) & before), 20,
                   what="the workers to be replaced after ExecReload")
        for i in range(10):
            eq(s.request("GET", "/v1/models").status, 200,
               "GET /v1/models after the reload #%d" % i)

        # systemctl stop: SIGTERM to the main process (KillMode=mixed).
        eq(svc.get("KillMode"), ["mixed"], "KillMode")
        os.kill(main, signal.SIGTERM)
        wait_until(lambda: not alive(main), 30, what="the daemon to exit on SIGTERM")
        check(os.path.exists(s.sock_path), "reelgate removed the socket systemd owns")


# ------------------------------------------------------------ the files agree

def _error_block(path):
    """The error pages of an nginx file: from the first error_page to the
    end, blanks squeezed, closing braces of server/http dropped."""
    with open(path) as f:
        text = f.read()
    i = text.index("error_page 400")
    lines = [re.sub(r"[ \t]+", " ", l).strip() for l in text[i:].splitlines()]
    # The production block has a number (and a comment) where the
    # templates have @MAX_BODY@.
    lines = [re.sub(r"the limit is \d+ bytes", "the limit is @MAX_BODY@ bytes", l)
             for l in lines if l and not l.startswith("#")]
    while lines and lines[-1] == "}":
        lines.pop()
    return lines


def _allow_map(path):
    """The entries of the map that gives nginx's own 405s their Allow,
    blanks squeezed."""
    with open(path) as f:
        text = f.read()
    m = re.search(r"^\s*map \$request_uri \$reelgate_allow \{\n(.*?)^\s*\}", text, re.M | re.S)
    check(m, "%s has no `map $request_uri $reelgate_allow`" % path)
    return [re.sub(r"\s+", " ", l).strip() for l in m.group(1).splitlines() if l.strip()]


def _console_block(path):
    """The web console's `location / { ... }` of an nginx file, blanks
    squeezed, comments dropped, its root (a placeholder or an installed
    path) as ROOT."""
    with open(path) as f:
        lines = f.read().splitlines()
    start = [i for i, l in enumerate(lines) if l.strip() == "location / {"]
    check(len(start) == 1, "%s: %d `location / {` blocks, want 1" % (path, len(start)))
    indent = lines[start[0]][:len(lines[start[0]]) - len(lines[start[0]].lstrip())]
    end = start[0] + 1
    while end < len(lines) and lines[end] != indent + "}":
        end += 1
    block = [re.sub(r"\s+", " ", l).strip() for l in lines[start[0]:end + 1]]
    return [re.sub(r"^root \S+;$", "root ROOT;", l) for l in block if l and not l.startswith("#")]


@test("the example configs agree with each other and with etc/reelgate.json", timeout=30)
def _(_):
    import json
    nginx = os.path.join(ETC, "nginx")
    want = _error_block(os.path.join(nginx, "standalone.conf.in"))
    console = _console_block(os.path.join(nginx, "standalone.conf.in"))
    check("root ROOT;" in console and "try_files $uri =404;" in console,
          "standalone.conf.in: the console's location has no root or try_files", console)
    for other in ("keepalive.conf.in", "reelgate.conf"):
        eq(_console_block(os.path.join(nginx, other)), console,
           "the console's location of etc/nginx/%s and standalone.conf.in's" % other)
        got = _error_block(os.path.join(nginx, other))
        diff = [l for l in difflib.unified_diff(want, got, "standalone.conf.in", other,
                                                 lineterm="", n=1)]
        check(not diff, "the error pages of etc/nginx/%s differ from standalone.conf.in's:\n%s"
              % (other, "\n".join(diff[:20])))
        eq(_allow_map(os.path.join(nginx, other)),
           _allow_map(os.path.join(nginx, "standalone.conf.in")),
           "the Allow map of etc/nginx/%s and standalone.conf.in's" % other)
    if NGINX:
        # The production server block is valid nginx (TLS and the
        # fastcgi_params include made local).
        with tempfile.TemporaryDirectory(prefix="reelgate-nginx-") as tmp:
            with open(os.path.join(nginx, "reelgate.conf")) as f:
                block = f.read()
            block = re.sub(r"(?m)^\s*listen 443 ssl http2;", "listen 127.0.0.1:%d;" % free_port(),
                           block)
            block = re.sub(r"(?m)^\s*ssl_certificate.*$", "", block)
            block = block.replace("include fastcgi_params;", "")
            conf = os.path.join(tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write("pid %s/pid;\nerror_log %s/error.log;\nevents {}\nhttp {\n%s\n}\n"
                        % (tmp, tmp, block))
            r = subprocess.run([NGINX, "-t", "-q", "-c", conf], capture_output=True, timeout=30)
            check(r.returncode == 0, "nginx -t refused etc/nginx/reelgate.conf",
                  r.stderr.decode(errors="replace"))
    errors = os.path.join(ETC, "errors")
    for name in sorted(os.listdir(errors)):
        if not name.endswith(".html"):
            continue
        status = int(name[:3])
        with open(os.path.join(errors, name)) as f:
            body = json.load(f)
        check(set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"},
              "%s is not an OpenAI error envelope" % name)
        eq(body["error"]["type"], "server_error" if status >= 500 else "invalid_request_error",
           "%s: type" % name)
    # The same type and code for a status, whichever server raises it.
    with open(os.path.join(nginx, "standalone.conf.in")) as f:
        inline = re.findall(r"return (\d+) '(\{.*\})\\n';", f.read())
    check(len(inline) >= 15, "the inline error answers of standalone.conf.in were not found")
    for status, text in inline:
        doc = os.path.join(errors, status + ".html")
        check(os.path.isfile(doc), "etc/errors has no %s.html (nginx maps %s)" % (status, status))
        with open(doc) as f:
            theirs = json.load(f)["error"]
        ours = json.loads(text)["error"]
        eq((theirs["type"], theirs["code"]), (ours["type"], ours["code"]),
           "type and code of %s in etc/errors and etc/nginx" % status)
    for conf in ("proxy-fcgi.conf.in", "fcgid.conf.in"):
        with open(os.path.join(ETC, "apache2", conf)) as f:
            for status, doc in re.findall(r"^ErrorDocument (\d+) /_reelgate_errors/(\S+)$",
                                          f.read(), re.M):
                check(os.path.isfile(os.path.join(errors, doc)),
                      "%s: ErrorDocument %s names a missing %s" % (conf, status, doc))
                eq(doc, status + ".html", "%s: the document of %s" % (conf, status))
    shipped = None
    with open(os.path.join(ETC, "reelgate.json")) as f:
        text = f.read()
    # Comments are allowed in the config: strip them before parsing.
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"(?m)^\s*//.*$", "", text)
    shipped = json.loads(text)
    n, wp = keepalive_numbers()
    check(shipped["workers"] > n * wp, "etc/reelgate.json has %d workers, not more than "
          "keepalive.conf.in's %d x %d kept connections" % (shipped["workers"], n, wp))
    svc = unit("reelgate.service")
    eq(svc["PIDFile"], [os.path.join(shipped["data_dir"], "reelgate.pid")],
       "reelgate.service PIDFile (data_dir of etc/reelgate.json)")
    eq(unit("reelgate.socket")["ListenStream"], ["/run/reelgate/reelgate.sock"], "ListenStream")
    eq(svc["ExecStart"], ["%s serve -c %s" % (INSTALLED_BIN, INSTALLED_CONFIG)], "ExecStart")


if __name__ == "__main__":
    sys.exit(suite.main(shared=False))
