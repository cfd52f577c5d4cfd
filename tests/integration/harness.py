"""Integration test harness: the real reelgate binary behind a real nginx.

A Stack is one throw-away deployment on loopback: a temp directory with a
reelgate config (FastCGI on a unix socket or a TCP port), API keys made with
the `reelgate keys` CLI, `reelgate serve --foreground` (or spawn-fcgi) and an
nginx generated from etc/nginx/standalone.conf.in, the same template
./quickstart uses.  It offers HTTP helpers (JSON, multipart, urlencoded and
raw requests), record counting (through the API, and LMDB's own count with
mdb_stat when it is installed) and assertion helpers for OpenAI's error
envelope and video object.

Generation: the `command` backend runs share/reelgate/render-ffmpeg by
default (RENDER_FFMPEG); fake(NAME, ...) makes a backend command for one of
the fake renderers in tests/fakes (slow, hanging, failing, writing nothing),
which record their pids and the task they were given (fake_pids(),
fake_task()).  wait_video() polls a video to a final status, content()
fetches its files, dispatcher_pid() reads data_dir/dispatcher.lock,
db_check() runs `reelgate db check`, ffprobe() describes a media file.

nginx_config() writes such an nginx config for any FastCGI socket, and
start_nginx() starts it (bench/run runs its references behind them, and its
reelgate in a Stack(dir=..., nginx_extra=...)).

Remote backends: FakeServer runs one of the fake upstreams of tests/fakes
(fake_kling.py, fake_openai.py, fake_comfyui.py) on a free loopback port and
drives its /_fake/ control API (scenario, reset, jobs); Stack(env={...})
passes extra environment (secrets named by *_env keys) to `reelgate serve`;
Stack.secret_leaks() looks for secrets in every log file, the database and
every answer the stack gave.  ImageServer serves input images given by URL
(and 404s, redirects, slow or oversized answers) on loopback.

A Suite runs named test functions and prints TAP for automake's tap-driver.
Every test is independent: it makes its own videos (and keys when it needs
them) and compares counts before and after, never absolute numbers.

Environment (set by `make check`; each has a default for running a test file
by hand, e.g. `python3 tests/integration/test_api.py`):
  REELGATE_BIN     the reelgate binary (default: SRCDIR/src/reelgate)
  REELGATE_SRCDIR  the source tree (default: two levels above this file)
  NGINX            nginx binary; set but empty means "not installed"
  SPAWN_FCGI       spawn-fcgi binary; same convention
  FFPROBE          ffprobe binary (default: from PATH); same convention
  REELGATE_TEST_KEEP=1  keep the temp directories (logs, data) after the run
  REELGATE_TEST_ONLY    a regular expression: run only the tests whose name
                        matches it (the others are reported as skipped)

Python standard library only.
"""

import base64
import contextlib
import http.client
import json as _json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid
import zlib

SRCDIR = os.environ.get("REELGATE_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.environ.get("REELGATE_BIN") or os.path.join(SRCDIR, "src", "reelgate")
TEMPLATE = os.path.join(SRCDIR, "etc", "nginx", "standalone.conf.in")
MODEL = "reelgate-local"
# The shipped renderer (the `command` backend's default program) and the
# fake renderers of tests/fakes (see tests/fakes/README).
RENDER_FFMPEG = os.path.join(SRCDIR, "share", "reelgate", "render-ffmpeg")
# The web console's static files, served at / by every shipped web-server
# config (@CONSOLE_DIR@).
CONSOLE_DIR = os.path.join(SRCDIR, "share", "reelgate", "console")
FAKES = os.path.join(SRCDIR, "tests", "fakes")

# The 13 fields of OpenAI's video object (docs/api.md), plus our metadata.
VIDEO_FIELDS = ("id", "object", "model", "status", "progress", "created_at",
                "completed_at", "expires_at", "prompt", "size", "seconds",
                "remixed_from_video_id", "error")
# docs/api.md: the codes a 400 may carry.
CODES_400 = {"invalid_value", "unknown_parameter", "missing_required_parameter", "model_not_found",
             "unsupported_value", "invalid_json", "conflicting_parameters",
             "invalid_body", "unsupported_operation"}


def _tool(var, name):
    """The path of a tool: $VAR when set (empty: not installed), else PATH."""
    if var in os.environ:
        path = os.environ[var]
        return path if path and os.access(path, os.X_OK) else None
    found = shutil.which(name)
    if not found:
        for d in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
            if os.access(os.path.join(d, name), os.X_OK):
                found = os.path.join(d, name)
                break
    return found


NGINX = _tool("NGINX", "nginx")
SPAWN_FCGI = _tool("SPAWN_FCGI", "spawn-fcgi")
MDB_STAT = shutil.which("mdb_stat")
FFPROBE = _tool("FFPROBE", "ffprobe")


class Skip(Exception):
    """Raised by a test that cannot run here: TAP `ok N - name # SKIP why`."""


class TestTimeout(Exception):
    pass


# ---------------------------------------------------------------- utilities

def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A loopback TCP port free right now, below the kernel's ephemeral
    range: a port the kernel hands out (bind to port 0, the local end of a
    connection) may be taken again by any process between this check and
    the server's bind, and the suite makes tens of thousands of connections
    while other tests start servers beside it."""
    low, _ = _ephemeral_range()
    lo, hi = (10000, low - 1) if low > 12000 else (low, 65535)
    rnd = random.SystemRandom()
    for _ in range(200):
        port = rnd.randint(lo, hi)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until it returns a true value; returns it or raises."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)


def children(pid):
    """Pids whose parent is pid (from /proc, so no procps needed)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # comm may hold spaces and parentheses: fields follow the last ')'.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1 and fields[0] != "Z" and int(fields[1]) == pid:
            kids.append(int(entry))
    return sorted(kids)


def mapped_kb(pid, suffix):
    """KiB of pid's memory resident in the mappings of a file whose path ends
    with suffix (from /proc/PID/smaps), or None when pid is gone."""
    try:
        with open("/proc/%d/smaps" % pid) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    kb, inside = 0, False
    for line in lines:
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            inside = len(head) >= 6 and head[-1].endswith(suffix)  # a mapping's first line
        elif inside and head and head[0] == "Rss:":
            kb += int(head[1])
    return kb


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def pids_mentioning(text, environ=False):
    """Pids of live processes whose command line (or, with environ=True,
    environment) contains text."""
    found = []
    me = os.getpid()
    what = "environ" if environ else "cmdline"
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open("/proc/%s/%s" % (entry, what), "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmd and alive(int(entry)):
            found.append(int(entry))
    return found


def cmdline(pid):
    """The command line of pid as a list ([] when gone)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def fake(name, *args):
    """A backend "command" running tests/fakes/NAME.  Every fake takes the
    directory where it records its pid (and the task JSON it read) first:
    @STACK@/fakes, i.e. Stack.fake_dir()."""
    return [os.path.join(FAKES, name), "@STACK@/fakes"] + [str(a) for a in args]


def tail(path, n=30):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError as e:
        return "(%s)" % e


def png_bytes(width=8, height=8, rgb=(200, 40, 40)):
    """A valid PNG image (stdlib zlib only)."""
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def ffprobe(path):
    """What ffprobe says of a media file's first video stream: a dict with
    codec, pix_fmt, width, height, fps ("N/D" string), frames (counted by
    decoding), duration (float seconds, from the container), format."""
    if not FFPROBE:
        raise Skip("ffprobe not installed")
    r = subprocess.run([FFPROBE, "-v", "error", "-count_frames", "-select_streams", "v:0",
                        "-show_entries",
                        "stream=codec_name,pix_fmt,width,height,r_frame_rate,nb_read_frames"
                        ":format=duration,format_name",
                        "-of", "json", path], capture_output=True, timeout=60)
    check(r.returncode == 0, "ffprobe %s failed" % path, r.stderr.decode(errors="replace"))
    out = _json.loads(r.stdout)
    streams = out.get("streams") or []
    check(streams, "ffprobe found no video stream in %s" % path, out)
    st, fmt = streams[0], out.get("format", {})

    def num(v, kind):
        try:
            return kind(v)
        except (TypeError, ValueError):
            return None
    return {
        "codec": st.get("codec_name"), "pix_fmt": st.get("pix_fmt"),
        "width": st.get("width"), "height": st.get("height"),
        "fps": st.get("r_frame_rate"), "frames": num(st.get("nb_read_frames"), int),
        "duration": num(fmt.get("duration"), float), "format": fmt.get("format_name", ""),
    }


def png_data_uri():
    return "data:image/png;base64," + base64.b64encode(png_bytes()).decode()


def multipart(fields, boundary=None):
    """Encodes fields as multipart/form-data.

    fields: a list of (name, value) where value is str/bytes/int for a text
    field, or (filename, content_type, data) for a file part.  Returns
    (body, content_type).  Names may repeat (the caller decides).
    """
    boundary = boundary or "----reelgate" + uuid.uuid4().hex
    out = []
    for name, value in fields:
        out.append(b"--" + boundary.encode() + b"\r\n")
        if isinstance(value, tuple):
            filename, ctype, data = value
            out.append(('Content-Disposition: form-data; name="%s"; filename="%s"\r\n'
                        % (name, filename)).encode())
            out.append(("Content-Type: %s\r\n\r\n" % ctype).encode())
            out.append(data)
        else:
            if not isinstance(value, bytes):
                value = str(value).encode()
            out.append(('Content-Disposition: form-data; name="%s"\r\n\r\n' % name).encode())
            out.append(value)
        out.append(b"\r\n")
    out.append(b"--" + boundary.encode() + b"--\r\n")
    return b"".join(out), "multipart/form-data; boundary=" + boundary


class BodyCut(socket.timeout):
    """The status line and headers came, the body stopped short of its
    Content-Length and the connection stayed open: what a client sees when
    the worker answering it is killed mid-body (nginx has already sent the
    worker's Content-Length on)."""

    def __init__(self, status, length):
        super().__init__("body cut short: status %s, Content-Length %s" % (status, length))
        self.status = status
        self.length = length


class Response:
    """An HTTP answer: status, headers (list of pairs), body bytes."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    @property
    def json(self):
        try:
            return _json.loads(self.body)
        except ValueError:
            return None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        body = self.text
        if len(body) > 600:
            body = body[:600] + "...(%d bytes)" % len(self.body)
        return "<HTTP %s %s: %s>" % (self.status, self.header("content-type"), body)


# --------------------------------------------------------------- assertions

ANY = object()


def check(cond, msg, *detail):
    if not cond:
        raise AssertionError(msg + "".join("\n" + str(d) for d in detail))


def eq(got, want, what):
    check(got == want, "%s: got %r, want %r" % (what, got, want))


def _param_ok(got, want):
    if want is ANY:
        return True
    if callable(want):
        return want(got)
    if isinstance(want, (set, frozenset, tuple, list)):
        return got in want
    return got == want


def expect_error(resp, status, param=ANY, code=ANY):
    """Checks an OpenAI error envelope: status, the 4 keys, type, param, code.

    param / code: a value, a set of accepted values, a predicate, or ANY.
    For a 400 with code ANY the code must still be one docs/api.md lists.
    Returns the error object.
    """
    check(resp.status == status, "status: got %s, want %s" % (resp.status, status), resp)
    ctype = resp.header("content-type") or ""
    check(ctype.startswith("application/json"), "Content-Type %r is not JSON" % ctype, resp)
    check(resp.header("x-request-id"), "no X-Request-Id header", resp)
    body = resp.json
    check(isinstance(body, dict) and set(body) == {"error"},
          "body is not {\"error\": {...}}", resp)
    err = body["error"]
    check(isinstance(err, dict) and set(err) == {"message", "type", "param", "code"},
          "error object must have exactly message, type, param, code", resp)
    check(isinstance(err["message"], str) and err["message"].strip(), "empty message", resp)
    want_type = "server_error" if status >= 500 else (
        "requests" if status == 429 else "invalid_request_error")
    if err["code"] == "insufficient_quota":
        want_type = "insufficient_quota"  # OpenAI's spent quota: type and code
    eq(err["type"], want_type, "error.type")
    check(err["param"] is None or isinstance(err["param"], str), "param not a string or null", resp)
    check(_param_ok(err["param"], param),
          "error.param: got %r, want %r" % (err["param"], param), resp)
    check(err["code"] is None or isinstance(err["code"], str), "code not a string or null", resp)
    if code is ANY and status == 400:
        check(err["code"] in CODES_400, "400 code %r is not one of docs/api.md's" % err["code"], resp)
    else:
        check(_param_ok(err["code"], code),
              "error.code: got %r, want %r" % (err["code"], code), resp)
    return err


def expect_video(resp_or_obj, status="queued"):
    """Checks a video object; returns it."""
    v = resp_or_obj
    if isinstance(resp_or_obj, Response):
        check(resp_or_obj.status == 200, "status %s, want 200" % resp_or_obj.status, resp_or_obj)
        check((resp_or_obj.header("content-type") or "").startswith("application/json"),
              "video answer is not JSON", resp_or_obj)
        check(resp_or_obj.header("x-request-id"), "no X-Request-Id header", resp_or_obj)
        v = resp_or_obj.json
    check(isinstance(v, dict), "not a JSON object", v)
    missing = [f for f in VIDEO_FIELDS + ("metadata",) if f not in v]
    check(not missing, "video object lacks %s" % missing, v)
    eq(v["object"], "video", "object")
    check(isinstance(v["id"], str) and v["id"].startswith("video_"), "bad id %r" % v["id"])
    check(isinstance(v["created_at"], int) and v["created_at"] > 1500000000, "bad created_at", v)
    check(isinstance(v["progress"], int) and 0 <= v["progress"] <= 100, "bad progress", v)
    check(isinstance(v["seconds"], str) and v["seconds"].isdigit(), "seconds must be a digit string", v)
    check(isinstance(v["size"], str) and "x" in v["size"], "size must be \"WxH\"", v)
    check(v["metadata"] is None or isinstance(v["metadata"], dict), "metadata not an object", v)
    if status is not None:
        eq(v["status"], status, "status")
    if v["status"] == "queued":
        eq(v["progress"], 0, "progress of a queued video")
        eq(v["completed_at"], None, "completed_at of a queued video")
        eq(v["error"], None, "error of a queued video")
    return v


def loose_eq(got, want):
    """Equal, allowing a number to come back as its decimal string or back."""
    if got == want:
        return True
    if isinstance(want, bool) or isinstance(got, bool):
        return False
    try:
        return str(got) == str(want) or float(got) == float(want)
    except (TypeError, ValueError):
        return False


# -------------------------------------------------------------------- stack

def base_config(tmp, listen, limits=None, workers=2, extra_models=None, backends=None,
                content=None):
    """A complete reelgate config for a stack in tmp.

    extra_models / backends: entries added to (or replacing) "models" /
    "backends"; content: keys merged into "content".  The default backend
    `local` runs the shipped render-ffmpeg, concurrency 2."""
    models = {
        MODEL: {
            "backends": [{"backend": "local", "model": "ffmpeg-render"}],
            "seconds": {"min": 1, "max": 20},
            "sizes": {"max_width": 1920, "max_height": 1920},
            "default_seconds": 4,
            "default_size": "1280x720",
            "default_fps": 24,
            "max_fps": 60,
            "deadline_seconds": 1800,
        },
    }
    models.update(extra_models or {})
    lim = {
        "max_body_bytes": 2 * 1024 * 1024,
        "max_image_bytes": 1024 * 1024,
        "max_prompt_chars": 32000,
        "max_metadata_bytes": 16384,
        "max_fields": 64,
        "max_n": 4,
    }
    lim.update(limits or {})
    backs = {
        "local": {
            "type": "command",
            "command": [RENDER_FFMPEG],
            "concurrency": 2,
        },
    }
    backs.update(backends or {})
    cont = {"delivery": "x-accel-redirect", "accel_prefix": "/_reelgate_content/"}
    cont.update(content or {})
    return {
        "listen": listen,
        "listen_mode": "0660",
        "workers": workers,
        "data_dir": os.path.join(tmp, "data"),
        "log_file": os.path.join(tmp, "reelgate.log"),
        "public_url": None,
        "limits": lim,
        "db": {"map_mb": 16, "max_map_mb": 1024, "durable": True},
        "default_model": MODEL,
        "models": models,
        "backends": backs,
        "content": cont,
    }


def nginx_config(home, port, fcgi, content_dir, max_body, extra=None, console_dir=None,
                 template=TEMPLATE, placeholders=None):
    """Writes home/nginx.conf from etc/nginx/standalone.conf.in (the template
    ./quickstart uses): an nginx in the foreground on 127.0.0.1:port handing
    the API to fcgi, its logs and temporary files under home, serving the
    web console from console_dir (default CONSOLE_DIR).  extra: text added
    to the server block (after its server_name line) before the template's
    @NAMES@ are replaced.  template: another template (cluster.conf.in),
    placeholders: its own @NAMES@ and their values.  Returns the path."""
    with open(template) as f:
        text = f.read()
    if extra:
        marker = "server_name localhost;"
        check(marker in text, "%s has no %r line to add to" % (template, marker))
        text = text.replace(marker, marker + "\n" + extra.rstrip("\n"), 1)
    subst = {
        "@DAEMON@": "off",
        "@USER@": "%s %s" % (_username(), _groupname()),
        "@HOME@": home,
        "@PORT@": str(port),
        "@FCGI@": fcgi,
        "@CONTENT_DIR@": content_dir,
        "@MAX_BODY@": str(max_body),
        "@CONSOLE_DIR@": console_dir or CONSOLE_DIR,
    }
    subst.update(placeholders or {})
    for k, v in subst.items():
        text = text.replace(k, v)
    if os.geteuid() != 0:
        # `user` only means something to an nginx started as root.
        text = "\n".join(l for l in text.splitlines() if not l.startswith("user "))
    for d in ("logs", "nginx-tmp"):
        os.makedirs(os.path.join(home, d), exist_ok=True)
    conf = os.path.join(home, "nginx.conf")
    with open(conf, "w") as f:
        f.write(text)
    return conf


def listens(pid, port):
    """Does process pid hold the socket listening on 127.0.0.1:port (not
    merely: does something answer there)?"""
    want = "0100007F:%04X" % port
    inodes = set()
    try:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                p = line.split()
                if p[1] == want and p[3] == "0A":
                    inodes.add("socket:[%s]" % p[9])
        if not inodes:
            return False
        fds = "/proc/%d/fd" % pid
        return any(os.readlink(os.path.join(fds, fd)) in inodes for fd in os.listdir(fds))
    except OSError:
        return False


class PortTaken(Exception):
    """nginx could not bind its port: another process took it first."""


def start_nginx(conf, home, port):
    """Checks conf (nginx -t) and starts nginx with it in a session of its
    own, its output in home/logs/nginx.out; returns the process once it
    listens on port (killed when it does not)."""
    t = subprocess.run([NGINX, "-t", "-q", "-c", conf], capture_output=True, timeout=30)
    check(t.returncode == 0, "nginx -t refused the generated config",
          t.stderr.decode(errors="replace"))
    log = open(os.path.join(home, "logs", "nginx.out"), "ab")
    proc = subprocess.Popen([NGINX, "-c", conf], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()

    def listening():
        errors = tail(os.path.join(home, "logs", "nginx-error.log"))
        if "bind() to 127.0.0.1:%d failed (98" % port in errors:
            raise PortTaken("port %d is another process's: %s" % (port, errors[-300:]))
        check(proc.poll() is None, "nginx exited",
              tail(os.path.join(home, "logs", "nginx.out")), errors)
        return listens(proc.pid, port)
    try:
        wait_until(listening, 15, what="nginx to listen")
    except BaseException:
        _killpg(proc.pid)
        raise
    return proc


class Stack:
    """One reelgate + nginx deployment in a temp directory.

    listen: "unix" or "tcp".  spawn_fcgi: 0 for `reelgate serve` (a master
    of ours), N for `spawn-fcgi -F N` (no master: each process is a worker on
    the inherited socket).  extra_models, backends, content: see
    base_config(); configure: a function called with the config dict before
    it is written, to change anything else.  In backend commands the string
    "@STACK@" is replaced by the stack's temp directory (fake() uses it).
    dir: a directory of the caller's to use instead of a new temp directory
    (created if missing; stop() leaves it in place).  nginx_extra: text added
    to the server block of the nginx config (see nginx_config()).
    console_dir: the web console's directory nginx serves at / (default
    CONSOLE_DIR, the source tree's); self.console_dir.
    Use as a context manager; stop() kills all it started, also after an
    exception: reelgate, nginx, a dispatcher a worker detached, renderers.
    """

    def __init__(self, workers=2, listen="unix", limits=None, extra_models=None,
                 spawn_fcgi=0, backends=None, content=None, configure=None, env=None,
                 dir=None, nginx_extra=None, console_dir=None):
        self.workers = workers
        self.env = dict(env or {})  # extra environment of `reelgate serve` (secrets)
        self.bodies = []          # every response body received (see secret_leaks)
        self.listen_kind = listen
        self.limits = limits
        self.extra_models = extra_models
        self.backends = backends
        self.content_cfg = content
        self.configure = configure
        self.spawn_fcgi = spawn_fcgi
        self.proc = None          # reelgate serve --foreground
        self.nginx = None
        self.fcgi_pids = []       # spawn-fcgi mode
        self.key = None
        self.dir = None
        self.given_dir = dir      # the caller's directory, or None: a temp one
        self.nginx_extra = nginx_extra
        self.console_dir = console_dir or CONSOLE_DIR
        self._logs = []

    # -- lifecycle

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        if not NGINX:
            raise Skip("nginx not installed")
        if not os.access(BIN, os.X_OK):
            raise RuntimeError("reelgate binary not found: %s (run make first)" % BIN)
        if self.given_dir is not None:
            self.dir = self.given_dir
            os.makedirs(self.dir, exist_ok=True)
        else:
            # Short paths: a unix socket path must fit in 108 bytes.
            base = os.environ.get("TMPDIR", "/tmp")
            if len(base) > 40:
                base = "/tmp"
            self.dir = tempfile.mkdtemp(prefix="reelgate-it-", dir=base)
        _STACKS.append(self)
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "nginx-tmp"), exist_ok=True)
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
        if self.configure:
            self.configure(self.config)
        for b in self.config.get("backends", {}).values():
            if isinstance(b.get("command"), list):
                b["command"] = [a.replace("@STACK@", self.dir) if isinstance(a, str) else a
                                for a in b["command"]]
        self.data_dir = self.config["data_dir"]
        self.write_config()
        self.max_body = self.config["limits"]["max_body_bytes"]
        if self.spawn_fcgi:
            self._start_spawn_fcgi(self.spawn_fcgi)
        else:
            self.start_reelgate()
        self._start_nginx()
        self.wait_ready()
        self.key = self.create_key("alice")

    def write_config(self, **changes):
        """Writes self.config (updated with changes) to the config file."""
        self.config.update(changes)
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write("/* written by tests/integration/harness.py */\n")
            _json.dump(self.config, f, indent=2)
        os.replace(tmp, self.config_path)

    def start_reelgate(self):
        """Starts `reelgate serve --foreground` (also after a stop)."""
        log = open(os.path.join(self.dir, "logs", "serve.log"), "ab")
        self._logs.append(log.name)
        self.proc = subprocess.Popen(
            [BIN, "serve", "-c", self.config_path, "--foreground"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=dict(os.environ, **self.env))
        log.close()
        return self.proc

    def _start_spawn_fcgi(self, n):
        if not SPAWN_FCGI:
            raise Skip("spawn-fcgi not installed")
        pidfile = os.path.join(self.dir, "spawn-fcgi.pid")
        log = os.path.join(self.dir, "logs", "serve.log")
        self._logs.append(log)
        sock = self.sock_path if self.listen_kind == "unix" else None
        where = ["-s", sock, "-M", "0660"] if sock else \
            ["-a", "127.0.0.1", "-p", self.listen.rpartition(":")[2]]
        # sh -c 'exec ...' keeps the pid spawn-fcgi reports and sends the
        # log to a file (spawn-fcgi points stderr at /dev/null).
        cmd = [SPAWN_FCGI] + where + ["-F", str(n), "-P", pidfile, "--",
                                      "/bin/sh", "-c",
                                      'exec "$0" serve -c "$1" --foreground 2>>"$2"',
                                      BIN, self.config_path, log]
        out = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=30, env=dict(os.environ, **self.env))
        try:
            with open(pidfile) as f:
                self.fcgi_pids = [int(p) for p in f.read().split()]
        except OSError:
            self.fcgi_pids = []
        check(out.returncode == 0 and len(self.fcgi_pids) == n,
              "spawn-fcgi failed (exit %s)" % out.returncode,
              out.stdout.decode(errors="replace"), out.stderr.decode(errors="replace"))

    def _start_nginx(self):
        self._logs.append(os.path.join(self.dir, "logs", "nginx-error.log"))
        for attempt in range(5):
            conf = nginx_config(self.dir, self.port, self.listen,
                                os.path.join(self.data_dir, "content"), self.max_body,
                                self.nginx_extra, self.console_dir)
            try:
                self.nginx = start_nginx(conf, self.dir, self.port)
                return
            except PortTaken:
                if attempt == 4:
                    raise
                # another test's server or connection has it: another port
                os.replace(os.path.join(self.dir, "logs", "nginx-error.log"),
                           os.path.join(self.dir, "logs", "nginx-error.log.%d" % attempt))
                self.port = free_port()
                self.base = "http://127.0.0.1:%d" % self.port

    def wait_ready(self, timeout=30):
        """Waits until reelgate itself answers through nginx (401 without key)."""
        def ready():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError("reelgate serve exited with %s:\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            try:
                r = self.request("GET", "/v1/models", key=None, timeout=5)
            except OSError:
                return False
            return r.status in (200, 401)
        wait_until(ready, timeout, interval=0.1, what="reelgate to answer through nginx")

    def stop_reelgate(self, sig=signal.SIGTERM, timeout=30):
        """Signals the master and waits for it; returns its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _killpg(self.proc.pid)
            self.proc.wait(10)
            raise AssertionError("reelgate did not exit within %ss of %s" % (timeout, sig))

    def stop(self):
        """Stops everything this stack started; never raises."""
        if self.dir is None:
            return
        for p in (self.nginx, self.proc):
            if p is not None and p.poll() is None:
                try:
                    p.terminate()
                    p.wait(10)
                except Exception:
                    pass
        for p in (self.nginx, self.proc):
            if p is not None:
                _killpg(p.pid)
        # A dispatcher detached by a worker (spawn-fcgi mode) is in no
        # process group of ours: its pid is in the lock file.
        disp = self.dispatcher_pid()
        if disp:
            try:
                os.kill(disp, signal.SIGKILL)
            except OSError:
                pass
        # Renderers (own process groups): fakes leave their pids.
        for pid in self.fake_pids():
            cmd = " ".join(cmdline(pid)[:2])
            if FAKES in cmd or "sleep" in cmd:
                _killpg(pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        # Whatever is left (spawn-fcgi's children, anything that left our
        # process group) names our temp directory on its command line or
        # in its environment (REELGATE_OUTPUT of renderers).
        for pid in (set(self.fcgi_pids) | set(pids_mentioning(self.dir))
                    | set(pids_mentioning(self.dir, environ=True))):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.given_dir is not None:
            pass  # the caller's directory: the caller decides
        elif os.environ.get("REELGATE_TEST_KEEP"):
            sys.stderr.write("kept %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        if self in _STACKS:
            _STACKS.remove(self)

    def log_tail(self, n=25):
        return "\n".join("--- %s\n%s" % (p, tail(p, n)) for p in
                         dict.fromkeys(self._logs + [self.config.get("log_file", "")]) if p
                         and os.path.exists(p))

    def log_files(self):
        """Every log file of this stack: reelgate's log_file, the serve
        output, nginx's logs (all of logs/)."""
        found = [self.config.get("log_file")] if self.dir else []
        logs = os.path.join(self.dir, "logs") if self.dir else None
        if logs and os.path.isdir(logs):
            found += [os.path.join(logs, f) for f in sorted(os.listdir(logs))]
        return [f for f in dict.fromkeys(found) if f and os.path.isfile(f)]

    def secret_leaks(self, secrets, extra_bodies=()):
        """Where any of secrets (strings) occurs: every log file, the LMDB
        database files (task records), every response body this Stack
        received and extra_bodies ((label, bytes) pairs).  Returns a list of
        "SECRET-NAME in WHERE" strings (secrets: {name: value})."""
        places = []
        for path in self.log_files():
            with open(path, "rb") as f:
                places.append((os.path.relpath(path, self.dir), f.read()))
        db = os.path.join(self.data_dir, "db")
        for root, _dirs, files in os.walk(db) if os.path.isdir(db) else ():
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    places.append(("the database " + name, f.read()))
        if os.path.isfile(db):
            with open(db, "rb") as f:
                places.append(("the database", f.read()))
        places += [("the answer to " + what, body) for what, body in self.bodies]
        places += list(extra_bodies)
        leaks = []
        for name, value in secrets.items():
            needle = value.encode() if isinstance(value, str) else value
            hits = sorted({where for where, data in places if needle and needle in data})
            leaks += ["%s in %s" % (name, w) for w in hits]
        return leaks

    def master_pid(self):
        return self.proc.pid

    def dispatcher_pid(self):
        """The live dispatcher's pid from data_dir/dispatcher.lock, or None
        (no lock file, empty, or the process is gone or is not reelgate)."""
        if self.dir is None or not getattr(self, "data_dir", None):
            return None
        try:
            with open(os.path.join(self.data_dir, "dispatcher.lock")) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        cmd = cmdline(pid)
        if not alive(pid) or not cmd or not any("reelgate" in a for a in cmd[:2]):
            return None
        return pid

    def fake_dir(self):
        return os.path.join(self.dir, "fakes")

    def fake_pids(self, vid=None):
        """Pids the fake renderers recorded (all, or those of video vid)."""
        pids = []
        d = self.fake_dir() if self.dir else None
        if not d or not os.path.isdir(d):
            return pids
        for name in os.listdir(d):
            if name.endswith(".pid") and (vid is None or name == vid + ".pid"):
                try:
                    with open(os.path.join(d, name)) as f:
                        pids += [int(p) for p in f.read().split()]
                except (OSError, ValueError):
                    pass
        return pids

    def fake_task(self, vid):
        """The task JSON a fake renderer read on its stdin (None if none)."""
        try:
            with open(os.path.join(self.fake_dir(), vid + ".json")) as f:
                return _json.loads(f.read())
        except (OSError, ValueError):
            return None

    def db_check(self):
        """`reelgate db check` must pass (indexes agree with records)."""
        r = self.cli("db", "check", check_rc=False)
        check(r.returncode == 0, "reelgate db check exited %s" % r.returncode,
              r.stdout.decode(errors="replace")[-2000:], r.stderr.decode(errors="replace")[-2000:])
        return r

    def worker_pids(self):
        return children(self.proc.pid)

    def reload(self, timeout=30):
        """SIGHUP: the master re-reads the config and replaces its workers;
        returns once none of the old workers is left."""
        old = set(self.worker_pids())
        os.kill(self.master_pid(), signal.SIGHUP)
        wait_until(lambda: not (old & set(self.worker_pids())), timeout,
                   what="the workers replaced after SIGHUP")
        self.wait_ready()

    # -- CLI

    def cli(self, *args, check_rc=True):
        r = subprocess.run([BIN] + list(args) + ["-c", self.config_path],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        if check_rc:
            check(r.returncode == 0, "reelgate %s exited %s" % (" ".join(args), r.returncode),
                  r.stderr.decode(errors="replace"))
        return r

    def create_key(self, name=None):
        """A new API key (`reelgate keys create`); returns the secret."""
        name = name or "k" + uuid.uuid4().hex[:10]
        out = self.cli("keys", "create", "--name", name).stdout.decode()
        lines = out.splitlines()
        check(len(lines) == 1 and lines[0].strip() and " " not in lines[0].strip(),
              "keys create must print the secret alone on one line, printed %r" % out)
        return lines[0].strip()

    def key_id(self, name):
        for line in self.cli("keys", "list").stdout.decode().splitlines():
            f = line.split()
            if len(f) >= 2 and f[1] == name:
                return f[0]
        raise AssertionError("key %r not in `reelgate keys list`" % name)

    # -- HTTP

    def request(self, method, path, key=ANY, body=None, headers=None, json=ANY,
                form=None, urlencoded=None, content_type=None, timeout=30):
        """One HTTP request through nginx; returns a Response.

        key: ANY = the stack's default key, None = no Authorization header,
        a string = that key.  Body from exactly one of: body (bytes/str, with
        content_type), json (any value, sent as application/json), form (a
        multipart field list, see multipart()), urlencoded (pairs or dict).
        """
        hdrs = {}
        if key is ANY:
            key = self.key
        if key is not None:
            hdrs["Authorization"] = "Bearer " + key
        if json is not ANY:
            body = _json.dumps(json).encode()
            content_type = content_type or "application/json"
        elif form is not None:
            body, ctype = multipart(form)
            content_type = content_type or ctype
        elif urlencoded is not None:
            body = urllib.parse.urlencode(urlencoded).encode()
            content_type = content_type or "application/x-www-form-urlencoded"
        if isinstance(body, str):
            body = body.encode()
        if content_type:
            hdrs["Content-Type"] = content_type
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            try:
                conn.request(method, path, body=body, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered early (e.g. 413); read that answer
            r = conn.getresponse()
            try:
                data = r.read()
            except socket.timeout as e:
                raise BodyCut(r.status, r.getheader("Content-Length")) from e
            resp = Response(r.status, r.reason, r.getheaders(), data)
            self._keep(method, path, resp)
            return resp
        finally:
            conn.close()

    def _keep(self, method, path, resp):
        """Remembers a response body (up to 4 MB of it) for secret_leaks()."""
        self.bodies.append(("%s %s" % (method, path), resp.body[:4 << 20]))

    def raw(self, data, timeout=15):
        """Sends raw bytes as a request; parses the answer."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            r = http.client.HTTPResponse(s, method="GET")
            r.begin()
            resp = Response(r.status, r.reason, r.getheaders(), r.read())
            self._keep("RAW", "-", resp)
            return resp
        finally:
            s.close()

    # -- the API, shortly

    def create(self, key=ANY, **fields):
        """POST /v1/videos with a JSON body; asserts 200; returns the video."""
        fields.setdefault("prompt", "a test video " + uuid.uuid4().hex[:8])
        return expect_video(self.request("POST", "/v1/videos", key=key, json=fields))

    def get(self, vid, key=ANY):
        return self.request("GET", "/v1/videos/" + vid, key=key)

    def list(self, key=ANY, **query):
        q = ("?" + urllib.parse.urlencode(query)) if query else ""
        return self.request("GET", "/v1/videos" + q, key=key)

    def list_ids(self, key=ANY, order="asc"):
        """Every id the key can see, paging with `after` (limit 100)."""
        ids, after = [], None
        for _ in range(1000):
            q = {"limit": 100, "order": order}
            if after:
                q["after"] = after
            r = self.list(key=key, **q)
            check(r.status == 200, "list failed", r)
            page = r.json
            ids += [v["id"] for v in page["data"]]
            if not page["has_more"]:
                return ids
            after = page["last_id"]
        raise AssertionError("list never ends")

    def count(self, key=ANY):
        return len(self.list_ids(key))

    def wait_video(self, vid, until=("completed", "failed"), timeout=60, key=ANY,
                   interval=0.1, strict=True):
        """Polls GET /v1/videos/vid until its status is in until.

        Returns (video, history): history is every distinct (status,
        progress) seen, in order.  Fails when time runs out (naming the
        states seen) or a terminal status changes.  strict (for runs that
        are not interrupted): every answer passes expect_video (a queued
        video has progress 0) and progress never falls while in_progress;
        strict=False only checks the answer is a video object."""
        if isinstance(until, str):
            until = (until,)
        history = []
        deadline = time.monotonic() + timeout
        while True:
            r = self.get(vid, key=key)
            if strict:
                v = expect_video(r, status=None)
            else:
                check(r.status == 200, "GET %s failed" % vid, r)
                v = r.json
                check(isinstance(v, dict) and v.get("id") == vid, "not the video object", r)
            state = (v["status"], v["progress"])
            if not history or history[-1] != state:
                if strict and history and history[-1][0] == state[0] == "in_progress":
                    check(state[1] >= history[-1][1], "progress of %s fell: %s"
                          % (vid, history + [state]))
                if history and history[-1][0] in ("completed", "failed"):
                    raise AssertionError("%s left a terminal status: %s" % (vid, history + [state]))
                history.append(state)
            if v["status"] in until:
                return v, history
            if time.monotonic() > deadline:
                raise AssertionError("video %s not %s within %ss; states seen: %s; last: %s"
                                     % (vid, "/".join(until), timeout, history, v))
            time.sleep(interval)

    def content(self, vid, variant=None, key=ANY, headers=None):
        q = "" if variant is None else "?variant=" + urllib.parse.quote(variant, safe=",")
        return self.request("GET", "/v1/videos/%s/content%s" % (vid, q), key=key,
                            headers=headers)

    def db_entries(self):
        """{sub-database: entries} from mdb_stat, or None without it."""
        if not MDB_STAT:
            return None
        path = os.path.join(self.data_dir, "db")
        args = [MDB_STAT, "-a"]
        if os.path.isfile(path):
            args.append("-n")
        elif not os.path.isdir(path):
            return None
        r = subprocess.run(args + [path], capture_output=True, timeout=30)
        if r.returncode != 0:
            return None
        out, name = {}, None
        for line in r.stdout.decode(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("Status of "):
                name = line[len("Status of "):]
            elif line.startswith("Entries:") and name:
                out[name] = int(line.split()[1])
        return out

    def video_records(self):
        """Entries of the `videos` sub-database (None when unknown)."""
        db = self.db_entries()
        return db.get("videos") if db else None

    @contextlib.contextmanager
    def no_new_records(self, key=ANY):
        """Asserts that the block creates no video, by the API count of the
        key and (with mdb_stat) by the records in LMDB."""
        before, db_before = self.count(key), self.video_records()
        yield
        eq(self.count(key), before, "videos listed after a bad request")
        if db_before is not None:
            eq(self.video_records(), db_before, "records in LMDB's videos database")

    def files_under(self, sub):
        """Regular files under data_dir/sub (recursively)."""
        found = []
        for root, _dirs, files in os.walk(os.path.join(self.data_dir, sub)):
            found += [os.path.join(root, f) for f in files]
        return sorted(found)


# ------------------------------------------------------------ fake servers

class FakeServer:
    """One of the fake upstreams of tests/fakes (fake_kling.py, fake_openai.py,
    fake_comfyui.py) on a free loopback port.

        k = FakeServer("kling", "--access-key", "AK", "--secret-key", "SK")
        k.start()                      # waits for its "ready PORT" line
        k.url                          # http://127.0.0.1:PORT
        k.scenario(submit="429_1302", count=2)
        k.jobs()                       # GET /_fake/jobs
        k.reset(); k.stop()

    Its stderr (a line per request) goes to a log file; stop() (or the end
    of the Suite) ends it.  start_all() starts several at once.
    """

    def __init__(self, kind, *args):
        self.kind = kind
        self.args = [str(a) for a in args]
        self.script = os.path.join(FAKES, "fake_%s.py" % kind)
        self.proc = None
        self.port = None
        self.dir = None
        self.log = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def spawn(self):
        """Starts the process (without waiting for it to be ready)."""
        base = os.environ.get("TMPDIR", "/tmp")
        self.dir = tempfile.mkdtemp(prefix="reelgate-fake-", dir=base if len(base) <= 40 else "/tmp")
        self.log = os.path.join(self.dir, "fake_%s.log" % self.kind)
        err = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, self.script, "--port", "0"] + self.args,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=err, start_new_session=True)
        err.close()
        _FAKE_SERVERS.append(self)
        return self

    def wait_ready(self, timeout=30):
        import select
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError("fake %s did not print \"ready PORT\" (exit %s):\n%s"
                                     % (self.kind, self.proc.poll(), tail(self.log)))
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                c = os.read(self.proc.stdout.fileno(), 1)
                if not c:
                    continue
                line += c
        words = line.split()
        check(len(words) == 2 and words[0] == b"ready", "fake %s printed %r" % (self.kind, line))
        self.port = int(words[1])
        return self

    def start(self):
        return self.spawn().wait_ready()

    @staticmethod
    def start_all(fakes):
        """Starts every FakeServer of the iterable at once; returns them."""
        fakes = list(fakes)
        for f in fakes:
            f.spawn()
        for f in fakes:
            f.wait_ready()
        return fakes

    def call(self, method, path, body=None, timeout=30):
        """A request to the fake; (status, JSON or raw bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = None if body is None else _json.dumps(body).encode()
            conn.request(method, path, body=data,
                         headers={"Content-Type": "application/json"} if data else {})
            r = conn.getresponse()
            raw = r.read()
        finally:
            conn.close()
        try:
            return r.status, _json.loads(raw)
        except ValueError:
            return r.status, raw

    def scenario(self, **kw):
        """POST /_fake/scenario (merged into the current one); asserts 200."""
        status, out = self.call("POST", "/_fake/scenario", kw)
        check(status == 200, "fake %s refused scenario %r: %s %r" % (self.kind, kw, status, out))
        return out

    def reset(self):
        status, out = self.call("POST", "/_fake/reset", {})
        check(status == 200, "fake %s reset failed: %s %r" % (self.kind, status, out))

    def jobs(self):
        status, out = self.call("GET", "/_fake/jobs")
        check(status == 200 and isinstance(out, dict), "fake %s /_fake/jobs: %s %r"
              % (self.kind, status, out))
        return out

    def log_tail(self, n=15):
        return "--- fake %s (%s)\n%s" % (self.kind, self.url if self.port else "-",
                                          tail(self.log, n) if self.log else "")

    def stop(self):
        """Stops the fake (SIGTERM, then SIGKILL); never raises."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.terminate()
                self.proc.wait(5)
            except Exception:
                pass
        if self.proc is not None:
            _killpg(self.proc.pid)
            try:
                self.proc.wait(5)
            except Exception:
                pass
            if self.proc.stdout:
                self.proc.stdout.close()
        if self.dir:
            if os.environ.get("REELGATE_TEST_KEEP"):
                sys.stderr.write("kept %s\n" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        if self in _FAKE_SERVERS:
            _FAKE_SERVERS.remove(self)


_FAKE_SERVERS = []


class ImageServer:
    """A loopback HTTP server for input images given by URL, which the
    dispatcher downloads (in a thread of the test process).

        img = ImageServer()
        img.serve("/cat.png", png_bytes())             # 200, image/png
        img.serve("/gone.png", b"no", status=404, ctype="text/plain")
        img.redirect("/a", "/cat.png")                 # 302 to another path (or URL)
        img.route("/slow.png", fn)                     # fn(handler) answers itself
        img.url("/cat.png")                            # http://127.0.0.1:PORT/cat.png
        img.hits                                       # the paths asked for, in order

    An unknown path is a 404.  length=False leaves Content-Length out (the
    body then ends with the connection: HTTP/1.0).  stop() ends it.
    """

    def __init__(self):
        import http.server
        self.routes = {}
        self.hits = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits.append(self.path)
                route = server.routes.get(self.path)
                if callable(route):
                    return route(self)
                status, headers, body = route or (404, {"Content-Type": "text/plain"},
                                                  b"not found\n")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that hung up (a download cut off): expected

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path, host="127.0.0.1"):
        return "http://%s:%d%s" % (host, self.port, path)

    def serve(self, path, body, status=200, ctype="image/png", length=True):
        headers = {"Content-Type": ctype}
        if length:
            headers["Content-Length"] = str(len(body))
        self.routes[path] = (status, headers, body)
        return self.url(path)

    def redirect(self, path, to, status=302):
        self.routes[path] = (status, {"Location": to, "Content-Length": "0"}, b"")
        return self.url(path)

    def route(self, path, fn):
        self.routes[path] = fn
        return self.url(path)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


_STACKS = []


def _killpg(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _username():
    import pwd
    return pwd.getpwuid(os.geteuid()).pw_name


def _groupname():
    import grp
    return grp.getgrgid(os.getegid()).gr_name


def _cleanup_all(*_):
    for s in list(_STACKS):
        s.stop()
    for f in list(_FAKE_SERVERS):
        f.stop()


# --------------------------------------------------------------------- TAP

class Suite:
    """Named tests, run in order, reported as TAP.

        suite = Suite()
        @suite.test("create with JSON")
        def _(stack): ...
        suite.main(shared=True)

    shared=True: one Stack (made with stack_args) for all tests, restarted
    if reelgate died; each test gets it; setup: a function called once with
    it after it started (a failure there fails every test).  shared=False:
    each test gets None and makes the Stacks it needs.  Without nginx, Stack.start() raises
    Skip, so those tests are reported `# SKIP nginx not installed`.
    """

    def __init__(self):
        self.tests = []

    def test(self, name, timeout=120, todo=None):
        """todo: a known gap, named in the TAP line (`# TODO why`): the test
        runs and reports, but is not counted as a failure."""
        def deco(fn):
            self.tests.append((name + (" # TODO " + todo if todo else ""), fn, timeout))
            return fn
        return deco

    def main(self, shared=True, setup=None, **stack_args):
        sys.stdout.reconfigure(line_buffering=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        stack = None
        try:
            start_error = skip_all = None
            if shared:
                try:
                    stack = Stack(**stack_args)
                    stack.start()
                    if setup:
                        setup(stack)
                except Skip as e:
                    skip_all = str(e)
                except Exception:
                    start_error = traceback.format_exc()
                    if stack is not None and stack.dir:
                        start_error += "\n" + stack.log_tail()
            only = os.environ.get("REELGATE_TEST_ONLY")
            start_error_shown = False
            for i, (name, fn, timeout) in enumerate(self.tests, 1):
                if only and not re.search(only, name):
                    print("ok %d - %s # SKIP not selected by REELGATE_TEST_ONLY" % (i, name))
                    continue
                if skip_all:
                    print("ok %d - %s # SKIP %s" % (i, name, skip_all))
                    continue
                if start_error:
                    print("not ok %d - %s" % (i, name))
                    if not start_error_shown:
                        _diag("the test stack did not start:\n" + start_error)
                        start_error_shown = True
                    continue
                if stack is not None and stack.proc is not None and stack.proc.poll() is not None:
                    _diag("reelgate had exited (%s); restarting it" % stack.proc.returncode)
                    stack.start_reelgate()
                    stack.wait_ready()
                self._run_one(i, name, fn, timeout, stack)
            print("1..%d" % len(self.tests))
        finally:
            if stack is not None:
                stack.stop()
            _cleanup_all()
        # Failures are in the TAP lines; a non-zero exit would make
        # tap-driver count one more (ERROR) for the same failure.
        return 0

    def _run_one(self, i, name, fn, timeout, stack):
        def on_alarm(*_):
            raise TestTimeout("test timed out after %ss" % timeout)
        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(timeout)
        try:
            fn(stack)
        except Skip as e:
            signal.alarm(0)
            print("ok %d - %s # SKIP %s" % (i, name, e))
            return True
        except BaseException as e:
            signal.alarm(0)
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            print("not ok %d - %s" % (i, name))
            if isinstance(e, AssertionError):
                _diag("%s" % e)
                tb = traceback.extract_tb(e.__traceback__)
                frames = [f for f in tb if os.path.basename(f.filename) != "harness.py"]
                if frames:
                    _diag("at %s:%d" % (os.path.basename(frames[-1].filename), frames[-1].lineno))
            else:
                _diag(traceback.format_exc())
            if stack is not None and stack.dir:
                _diag(stack.log_tail(15))
            return False
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
        print("ok %d - %s" % (i, name))
        return True


def _diag(text):
    for line in str(text).splitlines():
        print("# " + line)


def run_threads(fn, n, *args):
    """Runs fn(i, *args) in n threads; returns them (started, daemon)."""
    ts = [threading.Thread(target=fn, args=(i,) + args, daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    return ts
