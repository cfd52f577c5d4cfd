#!/usr/bin/env python3
"""The official OpenAI SDK as a client: tests/sdk/videos.test.mjs under
Node's test runner, against a real stack (reelgate + nginx on loopback).

The `openai` npm package is installed, pinned, in two generations side by
side (tests/sdk/package.json: openai7 = 7.x, create always multipart;
openai6 = 6.2-6.27, create as JSON unless a file is attached), with
`npm ci` in tests/sdk.  This script starts one stack (the local renderer
model, small videos), makes the keys the scenarios need (one fresh key per
generation for exact listing and isolation, and a revoked one), serves a PNG
on loopback for the image_url scenario and puts a capture proxy between the
SDK and nginx: it forwards every byte unchanged and records each request
(method, path, Content-Type, the JSON or form fields, the SDK's retry count)
and its status, which the node tests read to check what the SDK put on the
wire.  Then it runs

    node --test --test-reporter=tap tests/sdk/videos.test.mjs

and relays every node test as one TAP line of its own ("openai7 (openai
7.57.0): create: text only ..."), followed by checks of its own: no request
was retried by the SDK, and `reelgate db check` passes.

The proxy also records each answer's Content-Type and, when it is JSON, its
body: the node tests check every one against OpenAI's published OpenAPI
schemas (tests/sdk/openapi.mjs, with Ajv from tests/sdk/package.json; the
schema excerpt tests/sdk/openapi/openai-videos-files.json is vendored, cut
by tests/sdk/openapi/extract.mjs from openai/openai-openapi at the commit
it names: nothing is downloaded).  The stack's local backend declares the
edit and extend operations (render-ffmpeg runs both), so the SDK's
videos.edit and videos.extend run to completion; openai 6.x lacks them
(and createCharacter / getCharacter), which the node tests skip with that
reason.

Skips (the whole file) when node or tests/sdk/node_modules is missing, or
nginx is not installed.  Environment as for the other integration tests
(harness.py), plus NODE (the node binary; default from PATH).
"""
import collections
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRCDIR, Skip, Stack, png_bytes  # noqa: E402

SDK_DIR = os.path.join(SRCDIR, "tests", "sdk")
TEST_FILE = os.path.join(SDK_DIR, "videos.test.mjs")
GENERATIONS = ("openai7", "openai6")   # the npm aliases of tests/sdk/package.json
NODE_TIMEOUT = 300                      # seconds for the whole node run


def find_node():
    if "NODE" in os.environ:
        path = os.environ["NODE"]
        return path if path and os.access(path, os.X_OK) else None
    return shutil.which("node")


# ------------------------------------------------------------ capture proxy

class _HttpStream:
    """Splits one direction of an HTTP/1.1 connection into messages.

    feed(data) returns the messages completed by data: (start line,
    headers {lowercase: value}, body bytes).  Bodies by Content-Length or
    chunked; responses to HEAD, 1xx, 204 and 304 have none; a response
    without either lasts until the connection closes (close())."""

    def __init__(self, responses, methods=None):
        self.buf = bytearray()
        self.responses = responses
        self.methods = methods      # a deque of request methods (responses)

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            msg = self._one()
            if msg is None:
                return out
            out.append(msg)

    def close(self):
        if self.responses and self.buf:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                start, headers = self._head(bytes(self.buf[:end]))
                body = bytes(self.buf[end + 4:])
                self.buf.clear()
                return [(start, headers, body)]
        return []

    @staticmethod
    def _head(raw):
        lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return lines[0], headers

    def _one(self):
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        start, headers = self._head(bytes(self.buf[:end]))
        pos = end + 4
        no_body = False
        if self.responses:
            parts = start.split(" ")
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            if 100 <= status < 200:
                del self.buf[:pos]
                return self._one()
            method = self.methods.popleft() if self.methods else "GET"
            no_body = method == "HEAD" or status in (204, 304)
        if no_body:
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                eol = self.buf.find(b"\r\n", pos)
                if eol < 0:
                    return self._undo()
                size = int(self.buf[pos:eol].split(b";")[0].strip() or b"0", 16)
                pos = eol + 2
                if size == 0:
                    # trailers up to an empty line
                    while True:
                        eol = self.buf.find(b"\r\n", pos)
                        if eol < 0:
                            return self._undo()
                        line, pos = self.buf[pos:eol], eol + 2
                        if not line:
                            break
                    break
                if len(self.buf) < pos + size + 2:
                    return self._undo()
                body += self.buf[pos:pos + size]
                pos += size + 2
            body = bytes(body)
        elif "content-length" in headers:
            n = int(headers["content-length"])
            if len(self.buf) < pos + n:
                return self._undo()
            body = bytes(self.buf[pos:pos + n])
            pos += n
        elif self.responses:
            return self._undo()     # until the connection closes
        else:
            body = b""
        del self.buf[:pos]
        return start, headers, body

    def _undo(self):
        if self.responses and self.methods is not None:
            # _one() popped the method of a response it could not finish.
            self.methods.appendleft(self._last_method)
        return None


class _ResponseStream(_HttpStream):
    def _one(self):
        self._last_method = self.methods[0] if self.methods else "GET"
        return super()._one()


def _summarize(method, target, headers, body):
    """A request as the node tests see it (see onWire in videos.test.mjs)."""
    ctype = headers.get("content-type", "")
    entry = {
        "method": method, "path": target, "content_type": ctype,
        "retry_count": int(headers.get("x-stainless-retry-count", "0") or 0),
        "user_agent": headers.get("user-agent", ""), "body_bytes": len(body),
        "chunked": "chunked" in headers.get("transfer-encoding", "").lower(),
        "status": None, "json": None, "form": None, "answer": None,
    }
    if ctype.startswith("application/json"):
        try:
            entry["json"] = json.loads(body)
        except ValueError:
            entry["json"] = {"_unparsable": body[:200].decode("utf-8", "replace")}
    elif ctype.startswith("multipart/form-data"):
        m = re.search(r'boundary="?([^";]+)"?', ctype)
        form = []
        if m:
            delim = b"--" + m.group(1).encode("latin-1")
            for part in body.split(delim)[1:]:
                if part.startswith(b"--"):
                    break
                part = part[2:] if part.startswith(b"\r\n") else part
                head, _, data = part.partition(b"\r\n\r\n")
                if data.endswith(b"\r\n"):
                    data = data[:-2]
                hdrs = _HttpStream._head(b"x\r\n" + head)[1]
                disp = hdrs.get("content-disposition", "")
                name = re.search(r'\bname="([^"]*)"', disp)
                fname = re.search(r'\bfilename="([^"]*)"', disp)
                name = name.group(1) if name else None
                if fname:
                    form.append([name, {"filename": fname.group(1),
                                        "content_type": hdrs.get("content-type"),
                                        "size": len(data)}])
                else:
                    form.append([name, data.decode("utf-8", "replace")])
        entry["form"] = form
    elif ctype.startswith("application/x-www-form-urlencoded"):
        entry["form"] = [list(p) for p in urllib.parse.parse_qsl(body.decode("latin-1"),
                                                                 keep_blank_values=True)]
    return entry


class CaptureProxy:
    """A loopback TCP relay to nginx that records each HTTP request (and the
    status of its answer) without changing a byte; plus a control HTTP
    server: GET /requests?from=N -> {"next": total, "requests": [...]}."""

    def __init__(self, target_port, log_path):
        self.target = target_port
        self.log_path = log_path
        self.requests = []
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.port = self.srv.getsockname()[1]
        proxy = self

        class Control(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                start = int((q.get("from") or ["0"])[0])
                with proxy.lock:
                    body = json.dumps({"next": len(proxy.requests),
                                       "requests": proxy.requests[start:]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_):
                pass

        self.control = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Control)
        self.control.daemon_threads = True
        self.control_url = "http://127.0.0.1:%d" % self.control.server_address[1]
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self.control.serve_forever, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                client, _ = self.srv.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            pending = collections.deque()     # entries waiting for a status
            methods = collections.deque()
            threading.Thread(target=self._pipe, daemon=True,
                             args=(client, upstream, _HttpStream(False), pending, methods)).start()
            threading.Thread(target=self._pipe, daemon=True,
                             args=(upstream, client, _ResponseStream(True, methods), pending,
                                   methods)).start()

    def _pipe(self, src, dst, parser, pending, methods):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                # Record first, then forward: the SDK cannot see an answer
                # before the request and its status are recorded.
                self._record(parser, parser.feed(data), pending, methods)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._record(parser, parser.close(), pending, methods)
            for s in (dst, src):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    s.close()
                except OSError:
                    pass

    def _record(self, parser, messages, pending, methods):
        for start, headers, body in messages:
            if parser.responses:
                parts = start.split(" ")
                with self.lock:
                    if pending:
                        entry = pending.popleft()
                        entry["status"] = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
                        # The answer: its type, size and, when JSON, the
                        # parsed body (the node tests check it against
                        # OpenAI's OpenAPI schemas).
                        actype = headers.get("content-type", "")
                        entry["answer"] = {"content_type": actype, "bytes": len(body), "json": None}
                        if actype.startswith("application/json"):
                            try:
                                entry["answer"]["json"] = json.loads(body)
                            except ValueError:
                                entry["answer"]["json"] = {
                                    "_unparsable": body[:200].decode("utf-8", "replace")}
                        self._log(entry)
                continue
            method, _, rest = start.partition(" ")
            target = rest.rpartition(" ")[0]
            entry = _summarize(method, target, headers, body)
            with self.lock:
                entry["seq"] = len(self.requests)
                self.requests.append(entry)
                pending.append(entry)
                methods.append(method)

    def _log(self, e):
        try:
            with open(self.log_path, "a") as f:
                f.write("%s %s %s retry=%s %s %s\n" % (
                    e["method"], e["path"], e["status"], e["retry_count"],
                    e["user_agent"], e["content_type"].split(";")[0]))
        except OSError:
            pass

    def stop(self):
        self.stopped = True
        try:
            self.srv.close()
        except OSError:
            pass
        self.control.shutdown()
        self.control.server_close()


# -------------------------------------------------------- image URL server

def serve_png(png):
    """A loopback HTTP server answering every GET with the PNG; returns
    (server, url, hits) where hits counts the GETs."""
    hits = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *_):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, "http://127.0.0.1:%d/reference.png" % srv.server_address[1], hits


# ----------------------------------------------------------- TAP relaying

POINT = re.compile(r"^( *)(not ok|ok) (\d+)(?: - (.*?))?(?: # (SKIP|TODO)\b ?(.*))?$")


def parse_node_tap(text):
    """The test points of node's TAP: a list of dicts {indent, ok, name,
    directive, reason, yaml (lines), parent}.  A point whose previous point
    is indented deeper is a suite (its children come right before it)."""
    lines = text.splitlines()
    points = []
    i = 0
    while i < len(lines):
        m = POINT.match(lines[i])
        i += 1
        if not m:
            continue
        p = {"indent": len(m.group(1)), "ok": m.group(2) == "ok",
             "name": (m.group(4) or "").replace("\\#", "#"), "directive": m.group(5),
             "reason": (m.group(6) or "").strip(), "yaml": [], "suite": False, "parent": None}
        # Its YAML block: "---" ... "..." indented two more.
        if i < len(lines) and lines[i].strip() == "---":
            i += 1
            while i < len(lines) and lines[i].strip() != "...":
                p["yaml"].append(lines[i][p["indent"] + 2:])
                i += 1
            i += 1
        # Its diagnostics (t.diagnostic): "# ..." lines at its indent.
        while i < len(lines) and lines[i].startswith(" " * p["indent"] + "# ") \
                and not lines[i].strip().startswith("# Subtest:"):
            p.setdefault("diag", []).append(lines[i].strip()[2:])
            i += 1
        if points and points[-1]["indent"] > p["indent"]:
            p["suite"] = True
        points.append(p)
    for k, p in enumerate(points):
        for q in points[k + 1:]:
            if q["indent"] < p["indent"]:
                p["parent"] = q["name"]
                break
    return points


def failure_diag(p):
    """The useful part of a failed point's YAML: error, location, stack."""
    keep, out, skip_keys = False, [], ("duration_ms", "type", "failureType", "code", "name")
    for line in p["yaml"]:
        key = line.split(":", 1)[0].strip() if not line.startswith(" ") else None
        if key is not None:
            keep = key not in skip_keys
        if keep:
            out.append(line)
    return out[:60]


class Tap:
    def __init__(self):
        self.n = 0

    def line(self, ok, name, directive=None, diag=()):
        self.n += 1
        name = name.replace("#", "\\#")
        print("%s %d - %s%s" % ("ok" if ok else "not ok", self.n, name,
                                " # " + directive if directive else ""))
        for d in diag:
            for line in str(d).splitlines():
                print("# " + line)

    def plan(self):
        print("1..%d" % self.n)


# ------------------------------------------------------------------- main

def main():
    sys.stdout.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    node = find_node()
    if not node:
        print("1..0 # SKIP node not installed (tests/sdk needs Node.js 20+ and npm ci there)")
        return 0
    missing = [g for g in GENERATIONS
               if not os.path.isfile(os.path.join(SDK_DIR, "node_modules", g, "package.json"))]
    if missing:
        print("1..0 # SKIP tests/sdk/node_modules lacks %s: run `npm ci` in tests/sdk"
              % ", ".join(missing))
        return 0

    tap = Tap()
    stack = proxy = img = None
    try:
        try:
            # The image_url test's image is served on loopback: the
            # dispatcher downloads it for the local renderer, which also
            # runs the edits and extensions (render-ffmpeg declares both).
            def configure(cfg):
                cfg["image_urls"] = {"allow_addresses": ["127.0.0.1"]}
                cfg["backends"]["local"]["operations"] = ["edit", "extend"]
            stack = Stack(workers=2, configure=configure)
            stack.start()
        except Skip as e:
            print("1..0 # SKIP %s" % e)
            return 0
        except Exception:
            tap.line(False, "start the stack (reelgate + nginx)",
                     diag=[traceback.format_exc()] + ([stack.log_tail()] if stack and stack.dir else []))
            tap.plan()
            return 0

        other = {g: stack.create_key("sdk-" + g) for g in GENERATIONS}
        revoked = stack.create_key("sdk-revoked")
        # A key per generation with a per-key limit of 2 creates a minute.
        limited = {}
        for g in GENERATIONS:
            name = "sdk-limited-" + g
            out = stack.cli("keys", "create", "--name", name, "--creates-per-minute", "2")
            limited[g] = {"key": out.stdout.decode().strip(), "requests": 2, "op": "create"}
        stack.cli("keys", "revoke", stack.key_id("sdk-revoked"))
        png = png_bytes(64, 36, (30, 120, 200))
        img, img_url, img_hits = serve_png(png)
        wire_log = os.path.join(stack.dir, "logs", "sdk-wire.log")
        proxy = CaptureProxy(stack.port, wire_log)

        env = dict(os.environ)
        env.update({
            "REELGATE_BASE_URL": "http://127.0.0.1:%d/v1" % proxy.port,
            "REELGATE_KEY": stack.key,
            "REELGATE_SDKS": ",".join(GENERATIONS),
            "REELGATE_MODEL": "reelgate-local",
            "REELGATE_OTHER_KEYS": json.dumps(other),
            "REELGATE_REVOKED_KEY": revoked,
            "REELGATE_CONTENT_DIR": os.path.join(stack.data_dir, "content"),
            "REELGATE_UPLOADS_DIR": os.path.join(stack.data_dir, "uploads"),
            "REELGATE_FILES_DIR": os.path.join(stack.data_dir, "files"),
            "REELGATE_IMAGE_URL": img_url,
            "REELGATE_CAPTURE_URL": proxy.control_url,
            "REELGATE_RATE_LIMITS": json.dumps(limited),
        })
        env.pop("NODE_OPTIONS", None)
        env.pop("NODE_TEST_CONTEXT", None)   # not a child of another node --test
        started = time.monotonic()
        try:
            run = subprocess.run([node, "--test", "--test-reporter=tap", TEST_FILE],
                                 cwd=SDK_DIR, env=env, stdin=subprocess.DEVNULL,
                                 capture_output=True, timeout=NODE_TIMEOUT)
            out, err, rc = run.stdout.decode("utf-8", "replace"), \
                run.stderr.decode("utf-8", "replace"), run.returncode
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode("utf-8", "replace")
            err = (e.stderr or b"").decode("utf-8", "replace")
            rc = "timeout after %ss" % NODE_TIMEOUT
        took = time.monotonic() - started
        with open(os.path.join(stack.dir, "logs", "node-test.tap"), "w") as f:
            f.write(out + "\n--- stderr\n" + err)

        points = parse_node_tap(out)
        leaves = 0
        for p in points:
            name = "%s: %s" % (p["parent"], p["name"]) if p["parent"] else p["name"]
            if p["suite"]:
                # A suite is counted by its tests; it is a line of its own
                # only when it failed by itself (a hook, its body).
                children_failed = any(not q["ok"] for q in points if q["parent"] == p["name"])
                if p["ok"] or children_failed:
                    continue
            leaves += 1
            directive = "%s %s" % (p["directive"], p["reason"]) if p["directive"] else None
            tap.line(p["ok"], name, directive,
                     diag=p.get("diag", []) + ([] if p["ok"] else failure_diag(p)))
        if leaves == 0:
            tap.line(False, "node --test ran tests/sdk/videos.test.mjs",
                     diag=["exit %s after %.1fs; no test point in its output" % (rc, took),
                           out[-3000:], err[-3000:]])
        elif isinstance(rc, str):
            tap.line(False, "node --test finished in time", diag=[rc, err[-2000:]])
        print("# node --test: %d tests relayed in %.1fs (exit %s)" % (leaves, took, rc))
        if any(not p["ok"] for p in points):
            print("# what the SDK sent, request by request: %s (REELGATE_TEST_KEEP=1 keeps it)"
                  % wire_log)

        # Checks of our own on what went over the wire.
        retried = [r for r in proxy.requests if r["retry_count"] > 0]
        tap.line(not retried, "the SDK never had to retry a request (x-stainless-retry-count)",
                 diag=["%s %s -> %s (retry %d, %s)" % (r["method"], r["path"], r["status"],
                                                       r["retry_count"], r["user_agent"])
                       for r in retried[:20]])
        for g in GENERATIONS:
            creates = [r for r in proxy.requests if r["method"] == "POST"
                       and r["path"] == "/v1/videos" and "OpenAI/JS" in r["user_agent"]]
            version = re.compile(r"OpenAI/JS %s\." % g[-1])
            mine = [r for r in creates if version.search(r["user_agent"])]
            kinds = collections.Counter(r["content_type"].split(";")[0] for r in mine)
            names = {n for r in mine for n, _ in (r["form"] or [])}
            if g == "openai7":
                ok = set(kinds) == {"multipart/form-data"} and \
                    {"input_reference[image_url]", "metadata[style]"} <= names
                what = "every create as multipart/form-data, nested fields in bracket form"
            else:
                with_file = [any(isinstance(v, dict) for _, v in r["form"] or []) for r in mine]
                ok = set(kinds) == {"multipart/form-data", "application/json"} and all(
                    (r["content_type"].startswith("multipart/") == f) for r, f in zip(mine, with_file))
                what = "creates as JSON, and as multipart exactly when a file is attached"
            tap.line(bool(mine) and ok, "wire: %s sent %s" % (g, what),
                     diag=[] if mine and ok else [dict(kinds), sorted(names)])
        try:
            stack.db_check()
            tap.line(True, "reelgate db check after the SDK run")
        except AssertionError as e:
            tap.line(False, "reelgate db check after the SDK run", diag=[e])
        if img_hits:
            print("# the image_url server was fetched %d times" % len(img_hits))
        tap.plan()
    finally:
        if proxy:
            proxy.stop()
        if img:
            img.shutdown()
        if stack is not None:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
