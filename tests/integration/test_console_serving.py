#!/usr/bin/env python3
"""The web console's files (share/reelgate/console, issue 18) as every
shipped web-server config serves them, each run with its real server.

The configs: etc/nginx/standalone.conf.in (as test_deploy.py renders it,
and as harness.nginx_config() does for quickstart and the other tests),
keepalive.conf.in, the production block reelgate.conf itself (its marked
lines adjusted), lighttpd's external.conf.in and bin-path.conf.in, Apache's
proxy-fcgi.conf.in and fcgid.conf.in.  Against each:

- every file of the console, and / (index.html), to GET and HEAD: its exact
  bytes, the type of its extension, Content-Security-Policy,
  X-Content-Type-Options, Referrer-Policy, Cache-Control: no-cache (and
  X-Request-Id where the server has ids: nginx, Apache); a revalidation with
  its ETag is a 304;
- nothing else: a missing file, a directory (no listing), a dotfile, a path
  climbing out of the directory (raw and percent-encoded) is a JSON error
  envelope (404; 400 where the server refuses a path above the root), never
  a file's bytes;
- POST, PUT, DELETE, PATCH, OPTIONS on the console's paths: the JSON 405
  with Allow: GET, HEAD;
- the API as it was: /v1/models is reelgate's JSON 401 without a key, 200
  with one and none of the console's headers; /v1/ paths with dots and
  /metrics reach reelgate;
- no secret in the console: its bytes contain none of the API keys the
  stack made, nor the metrics token.

The servers serve a copy of the console directory with probes added (a
dotfile, a subdirectory with a file and a dotfile, a file beside the
directory); bytes are compared with share/reelgate/console itself.  One
test serves the source tree's directory itself (nginx_config's default).
The last test checks that Makefile.am installs every file of the console.

Environment: as test_deploy.py's (LIGHTTPD, APACHE2, APACHE_MODULES); a
server that is not installed is reported `# SKIP`.
"""
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import SRCDIR, Suite, check, eq, expect_error, free_port  # noqa: E402
from test_deploy import Deploy, expect_envelope  # noqa: E402

suite = Suite()
test = suite.test

ETC = os.path.join(SRCDIR, "etc")
# The shipped console (named here, not taken from harness.CONSOLE_DIR,
# whose default one test checks).
CONSOLE_DIR = os.path.join(SRCDIR, "share", "reelgate", "console")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
       "img-src 'self' blob: data: https: http:; media-src 'self' blob:; "
       "connect-src 'self'; worker-src 'self'; manifest-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
# The headers of every console file, whatever the server.
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
# The types the configs give the console's files, by extension.  A console
# file with another extension fails the test: give its type to every
# config of etc/ (nginx types {}, lighttpd mimetype.assign, Apache AddType)
# and add it here.
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
}
TOKEN = secrets.token_hex(24)     # the stacks' metrics token
MARKER = "console-probe-" + secrets.token_hex(8)   # in the probes no one may read
OUTSIDE = "outside-probe.txt"     # beside the console directory


def console_files(top=CONSOLE_DIR):
    """The console's files: paths relative to top, dotfiles and dot
    directories left out (no server serves them)."""
    out = []
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                out.append(os.path.relpath(os.path.join(root, name), top))
    return out


def shipped(rel):
    with open(os.path.join(CONSOLE_DIR, rel), "rb") as f:
        return f.read()


class Probes:
    """A copy of share/reelgate/console in a temp directory readable by
    whoever the servers run as, plus: .probe-hidden (a dotfile),
    probe-dir/inner.js (served: the whole directory is), probe-dir/.probe-hidden,
    and OUTSIDE beside the directory.  The hidden files hold MARKER."""

    def __enter__(self):
        self.top = tempfile.mkdtemp(prefix="reelgate-console-", dir="/tmp")
        os.chmod(self.top, 0o755)
        self.dir = os.path.join(self.top, "console")
        shutil.copytree(CONSOLE_DIR, self.dir)
        os.makedirs(os.path.join(self.dir, "probe-dir"))
        for rel, text in ((".probe-hidden", MARKER), ("probe-dir/.probe-hidden", MARKER),
                          ("probe-dir/inner.js", "/* a console file in a subdirectory */\n"),
                          ("../" + OUTSIDE, MARKER)):
            with open(os.path.join(self.dir, rel), "w") as f:
                f.write(text + "\n")
        for root, dirs, files in os.walk(self.top):
            for n in dirs + files:
                p = os.path.join(root, n)
                os.chmod(p, 0o755 if os.path.isdir(p) else 0o644)
        return self

    def __exit__(self, *exc):
        if not os.environ.get("REELGATE_TEST_KEEP"):
            shutil.rmtree(self.top, ignore_errors=True)
        return False


def with_token(cfg):
    cfg["metrics"] = {"token": TOKEN}


# ----------------------------------------------------------------- checks

def norm_type(value):
    return re.sub(r"\s+", "", (value or "").lower())


def what(s):
    return "%s (%s)" % (s.server, getattr(s, "template", None) or getattr(s, "mode", ""))


def has_ids(s):
    """Does the web server put its own X-Request-Id on its answers?"""
    return s.server != "lighttpd"


def check_file(s, path, body, ctype, served, method="GET"):
    """One console answer: 200, the bytes (none for HEAD), type, headers."""
    r = s.request(method, path, key=None)
    label = "%s %s through %s" % (method, path, what(s))
    check(r.status == 200, "%s: status %s, want 200" % (label, r.status), r)
    if method == "GET":
        check(r.body == body, "%s: the bytes differ from share/reelgate/console (%d bytes, "
              "want %d)" % (label, len(r.body), len(body)))
        served.append((label, r.body))
    else:
        eq(r.body, b"", "%s: body" % label)
    length = r.header("content-length")
    if length is not None:
        eq(int(length), len(body), "%s: Content-Length" % label)
    eq(norm_type(r.header("content-type")), norm_type(ctype), "%s: Content-Type" % label)
    for name, value in HEADERS.items():
        eq((r.header(name) or "").strip(), value, "%s: %s" % (label, name))
    if has_ids(s):
        check(r.header("x-request-id"), "%s: no X-Request-Id" % label, r.headers)
    return r


def check_revalidation(s, path):
    """no-cache means revalidate: the validator the server gave makes the
    next request a 304 without the bytes."""
    r = s.request("GET", path, key=None)
    etag, modified = r.header("etag"), r.header("last-modified")
    check(etag or modified, "GET %s through %s: neither ETag nor Last-Modified: no-cache "
          "would mean downloading it every time" % (path, what(s)), r.headers)
    hdrs = {"If-None-Match": etag} if etag else {"If-Modified-Since": modified}
    r2 = s.request("GET", path, key=None, headers=hdrs)
    eq((r2.status, r2.body), (304, b""), "GET %s with %s through %s (status, body)"
       % (path, hdrs, what(s)))


def expect_not_served(s, r, label, statuses=(404,)):
    """A JSON error envelope with no console or probe bytes in it."""
    check(r.status in statuses, "%s through %s: status %s, want %s"
          % (label, what(s), r.status, " or ".join(map(str, statuses))), r)
    code = {400: "invalid_body", 404: "not_found"}[r.status]
    expect_envelope(r, r.status, code, has_ids(s))
    check(MARKER.encode() not in r.body and b"root:" not in r.body,
          "%s through %s: a probe's (or /etc/passwd's) bytes in the answer" % (label, what(s)), r)


def raw_get(s, target):
    return s.raw(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                  % target).encode())


MISSES = ["/nonexistent.js", "/nonexistent.html", "/index.htm", "/index.html/",
          "/probe-dir", "/probe-dir/", "/.probe-hidden", "/probe-dir/.probe-hidden",
          "/%2eprobe-hidden", "/not-the-api", "/" + OUTSIDE]
# Paths out of the directory; servers resolve them before mapping (or
# refuse those above the root: 400).
ESCAPES = ["/../" + OUTSIDE, "/..%2f" + OUTSIDE, "/%2e%2e/" + OUTSIDE, "/%2e%2e%2f" + OUTSIDE,
           "/probe-dir/../../" + OUTSIDE, "/probe-dir/..%2f..%2f" + OUTSIDE,
           "/./../" + OUTSIDE, "/%252e%252e/" + OUTSIDE,
           "/../../../../../../../etc/passwd", "/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd"]
METHODS = ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


def check_console(s, console, probes=True):
    """Everything the module docstring lists, through stack s serving the
    directory console (a Probes copy when probes)."""
    served = []
    files = console_files()
    check("index.html" in files, "share/reelgate/console has no index.html", files)
    if probes:
        eq(sorted(console_files(console)), sorted(files + ["probe-dir/inner.js"]),
           "the files of the copy the server serves")
    for rel in files:
        ext = os.path.splitext(rel)[1].lower()
        check(ext in TYPES, "share/reelgate/console/%s: no type for %r: give it one in every "
              "config of etc/ and in TYPES" % (rel, ext))
        for method in ("GET", "HEAD"):
            check_file(s, "/" + rel, shipped(rel), TYPES[ext], served, method)
    for method in ("GET", "HEAD"):
        check_file(s, "/", shipped("index.html"), TYPES[".html"], served, method)
    check_file(s, "/?from=bookmark", shipped("index.html"), TYPES[".html"], served)
    check_revalidation(s, "/")
    check_revalidation(s, "/" + files[-1])

    if probes:
        with open(os.path.join(console, "probe-dir", "inner.js"), "rb") as f:
            check_file(s, "/probe-dir/inner.js", f.read(), TYPES[".js"], served)
        for path in MISSES:
            expect_not_served(s, s.request("GET", path, key=None), "GET " + path)
            r = s.request("HEAD", path, key=None)
            eq((r.status, r.body), (404, b""), "HEAD %s through %s (status, body)"
               % (path, what(s)))
        for target in ESCAPES:
            expect_not_served(s, raw_get(s, target), "GET " + target, (400, 404))

    for path in ("/", "/index.html", "/" + files[-1]):
        for method in METHODS:
            body = b"{}" if method in ("POST", "PUT", "PATCH") else None
            r = s.request(method, path, key=None, body=body,
                          content_type="application/json" if body else None)
            label = "%s %s through %s" % (method, path, what(s))
            check(r.status == 405, "%s: status %s, want 405" % (label, r.status), r)
            eq(sorted(m.strip() for m in (r.header("allow") or "").split(",")),
               ["GET", "HEAD"], "%s: Allow" % label)
            expect_envelope(r, 405, "method_not_allowed", has_ids(s))

    # The API as it was: reelgate's answers, none of the console's headers.
    r = s.request("GET", "/v1/models", key=None)
    expect_error(r, 401, code=None)
    r = s.request("GET", "/v1/models")
    eq(r.status, 200, "GET /v1/models with the key through %s" % what(s))
    check(r.json and r.json.get("object") == "list", "GET /v1/models: not the list", r)
    for name in ("Content-Security-Policy", "Referrer-Policy"):
        check(r.header(name) is None, "GET /v1/models through %s carries the console's %s"
              % (what(s), name), r.headers)
    for path in ("/v1/.probe-hidden", "/v1/models/.probe-hidden"):
        r = s.request("GET", path)
        check(r.status == 404 and (r.header("x-request-id") or "").startswith("req_"),
              "GET %s through %s: not reelgate's own 404" % (path, what(s)), r, r.headers)
        expect_error(r, 404)
    r = s.request("GET", "/metrics", key=None)
    expect_error(r, 401, code="invalid_metrics_token")
    check(r.header("x-request-id").startswith("req_"), "GET /metrics: not reelgate's answer",
          r.headers)

    # No secret in the console: the stack's keys, one more, the token.
    keys = {"the stack's API key": s.key, "a second API key": s.create_key("console-probe"),
            "the metrics token": TOKEN}
    for name, value in keys.items():
        for label, body in served:
            check(value.encode() not in body, "%s is in the answer to %s" % (name, label))
        for rel in files:
            check(value.encode() not in shipped(rel), "%s is in share/reelgate/console/%s"
                  % (name, rel))
    return len(served)


def quiet_nginx_t(s):
    """nginx -t has no warning about the config s runs (a duplicate type,
    a directive in the wrong place): quickstart shows them."""
    if s.server != "nginx":
        return
    conf = os.path.join(s.dir, "nginx.conf")
    # Without $NGINX (make check exports the binary's path): nginx reads
    # it as inherited sockets and complains.
    env = {k: v for k, v in os.environ.items() if k != "NGINX"}
    r = subprocess.run([harness.NGINX, "-t", "-q", "-c", conf], capture_output=True, timeout=30,
                       env=env)
    eq((r.returncode, r.stderr.decode(errors="replace")), (0, ""), "nginx -t -q of %s" % conf)


def run(server, **kw):
    with Probes() as p:
        with Deploy(server, console_dir=p.dir, configure=with_token, **kw) as s:
            quiet_nginx_t(s)
            n = check_console(s, p.dir)
    print("# %s: %d console answers checked" % (server, n))


# ------------------------------------------------------------------ nginx

@test("nginx (etc/nginx/standalone.conf.in): the console at /, every file with its bytes, "
      "type and headers; misses, dotfiles, directories and escapes are JSON 404s; other "
      "methods JSON 405s; the API unchanged; no secret", timeout=120)
def _(_):
    run("nginx", listen="tcp")


@test("nginx (etc/nginx/keepalive.conf.in): the same", timeout=120)
def _(_):
    run("nginx", template="keepalive.conf.in", listen="tcp", workers=3)


@test("harness.nginx_config() (quickstart's template and every other test's): @CONSOLE_DIR@ "
      "defaults to the source tree's share/reelgate/console", timeout=120)
def _(_):
    with harness.Stack(configure=with_token) as s:
        s.server = "nginx"
        eq(s.console_dir, CONSOLE_DIR, "Stack.console_dir")
        quiet_nginx_t(s)
        check_console(s, CONSOLE_DIR, probes=False)


class Production(harness.Stack):
    """reelgate behind an nginx running the server block of
    etc/nginx/reelgate.conf, its marked lines adjusted: a loopback port for
    443 ssl, the stack's socket, content directory and console."""

    server = "nginx"
    template = "reelgate.conf"

    def _start_nginx(self):
        with open(os.path.join(ETC, "nginx", "reelgate.conf")) as f:
            block = f.read()
        params = os.path.join(self.dir, "fastcgi_params")
        with open(os.path.join(ETC, "nginx", "standalone.conf.in")) as f:
            v1 = f.read().split("location /v1/ {", 1)[1].split("}", 1)[0]
        with open(params, "w") as f:
            f.write("".join(l.strip() + "\n" for l in v1.splitlines()
                            if l.strip().startswith("fastcgi_param ")
                            and not re.search(r"\b(HTTP_PROXY|REQUEST_ID)\b", l)))
        for old, new in (("listen 443 ssl http2;", "listen 127.0.0.1:@PORT@;"),
                         ("include fastcgi_params;", "include %s;" % params),
                         ("unix:/run/reelgate/reelgate.sock", self.listen),
                         ("/var/lib/reelgate/content/", os.path.join(self.data_dir, "content/")),
                         ("/usr/local/share/reelgate/console", self.console_dir)):
            check(old in block, "etc/nginx/reelgate.conf no longer has %r" % old)
            block = block.replace(old, new)
        block = re.sub(r"(?m)^\s*ssl_certificate.*$", "", block)
        user = "user %s %s;\n" % (harness._username(), harness._groupname()) \
            if os.geteuid() == 0 else ""
        temps = "".join("\tclient_body_temp_path %s/nginx-tmp/body;\n" % self.dir
                        if t == "client_body" else
                        "\t%s_temp_path %s/nginx-tmp/%s;\n" % (t, self.dir, t)
                        for t in ("client_body", "fastcgi", "proxy", "scgi", "uwsgi"))
        self._logs.append(os.path.join(self.dir, "logs", "nginx-error.log"))
        for attempt in range(5):
            conf = os.path.join(self.dir, "nginx.conf")
            with open(conf, "w") as f:
                f.write("daemon off;\n%sworker_processes 1;\npid %s/nginx.pid;\n"
                        "error_log %s/logs/nginx-error.log warn;\nevents {}\nhttp {\n%s"
                        "\taccess_log %s/logs/nginx-access.log;\n%s\n}\n"
                        % (user, self.dir, self.dir, temps, self.dir,
                           block.replace("@PORT@", str(self.port))))
            try:
                self.nginx = harness.start_nginx(conf, self.dir, self.port)
                return
            except harness.PortTaken:
                if attempt == 4:
                    raise
                self.port = free_port()
                self.base = "http://127.0.0.1:%d" % self.port


@test("nginx running the production block etc/nginx/reelgate.conf (nginx -t, then served): "
      "the same", timeout=120)
def _(_):
    with Probes() as p:
        with Production(console_dir=p.dir, configure=with_token) as s:
            quiet_nginx_t(s)
            check_console(s, p.dir)


# --------------------------------------------------------------- lighttpd

@test("lighttpd (etc/lighttpd/external.conf.in): the same (no X-Request-Id: lighttpd has "
      "none)", timeout=120)
def _(_):
    run("lighttpd", mode="serve")


@test("lighttpd (etc/lighttpd/bin-path.conf.in): the same", timeout=120)
def _(_):
    run("lighttpd", mode="bin-path")


# ----------------------------------------------------------------- Apache

@test("Apache (etc/apache2/proxy-fcgi.conf.in): the same", timeout=120)
def _(_):
    run("apache", mode="serve")


@test("Apache (etc/apache2/fcgid.conf.in): the same; the API's paths, which map into "
      "DocumentRoot with mod_fcgid, are left alone", timeout=120)
def _(_):
    run("apache", mode="fcgid")


# ---------------------------------------------------------------- install

@test("Makefile.am installs (and distributes) every file of share/reelgate/console in "
      "$(pkgdatadir)/console", timeout=30)
def _(_):
    with open(os.path.join(SRCDIR, "Makefile.am")) as f:
        text = f.read().replace("\\\n", " ")
    m = re.search(r"^consoledir\s*=\s*(.*)$", text, re.M)
    check(m, "Makefile.am has no consoledir")
    eq(m.group(1).strip(), "$(pkgdatadir)/console", "consoledir")
    listed = []
    for line in re.findall(r"^dist_console_DATA\s*\+?=(.*)$", text, re.M):
        listed += line.split()
    eq(sorted(listed), sorted("share/reelgate/console/" + rel for rel in console_files()),
       "dist_console_DATA against the files of share/reelgate/console")


if __name__ == "__main__":
    sys.exit(suite.main(shared=False))
