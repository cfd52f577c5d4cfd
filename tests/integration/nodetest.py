#!/usr/bin/env python3
"""What the integration tests that run a Node.js test file share
(test_sdk.py: the official openai SDKs; test_console.py: the web console in
a headless Chromium).

find_node() finds node; CaptureProxy sits between a client and nginx on
loopback, forwards every byte unchanged and records each request (method,
path, headers that matter, the JSON or form fields) and its answer, readable
by the node tests over a control URL; serve_png() serves an image on
loopback; run_node() runs `node --test --test-reporter=tap FILE` and
relay() turns its TAP into lines of the caller's own TAP (Tap), one per
node test, with the failure's assertion and stack.
"""
import collections
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse

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
        "authorization": headers.get("authorization"), "range": headers.get("range"),
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


def db_check_line(tap, stack, after):
    """`reelgate db check` of the stack as a line of tap."""
    try:
        stack.db_check()
        tap.line(True, "reelgate db check after %s" % after)
    except AssertionError as e:
        tap.line(False, "reelgate db check after %s" % after, diag=[e])


def stop_all(proxy, image_server, stack):
    """Stops what a node test's script started (any may be None)."""
    if proxy:
        proxy.stop()
    if image_server:
        image_server.shutdown()
    if stack is not None:
        stack.stop()


def run_node(node, test_file, cwd, env, timeout, log_path):
    """Runs node's test runner on test_file; returns (stdout, stderr, rc,
    seconds).  rc is a string when it did not finish within timeout.  Both
    outputs are kept in log_path."""
    env = dict(env)
    env.pop("NODE_OPTIONS", None)
    env.pop("NODE_TEST_CONTEXT", None)   # not a child of another node --test
    started = time.monotonic()
    try:
        run = subprocess.run([node, "--test", "--test-reporter=tap", test_file],
                             cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                             capture_output=True, timeout=timeout)
        out, err, rc = run.stdout.decode("utf-8", "replace"), \
            run.stderr.decode("utf-8", "replace"), run.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        err = (e.stderr or b"").decode("utf-8", "replace")
        rc = "timeout after %ss" % timeout
    took = time.monotonic() - started
    with open(log_path, "w") as f:
        f.write(out + "\n--- stderr\n" + err)
    return out, err, rc, took


def relay(tap, out, err, rc, took, what):
    """Every node test of out (TAP) as one line of tap ("suite: test"); a
    suite is a line of its own only when it failed by itself.  A run with
    no test, or one that timed out, is a failed line.  Returns the parsed
    points."""
    points = parse_node_tap(out)
    leaves = 0
    for p in points:
        name = "%s: %s" % (p["parent"], p["name"]) if p["parent"] else p["name"]
        if p["suite"]:
            children_failed = any(not q["ok"] for q in points if q["parent"] == p["name"])
            if p["ok"] or children_failed:
                continue
        leaves += 1
        directive = "%s %s" % (p["directive"], p["reason"]) if p["directive"] else None
        tap.line(p["ok"], name, directive,
                 diag=p.get("diag", []) + ([] if p["ok"] else failure_diag(p)))
    if leaves == 0:
        tap.line(False, "node --test ran %s" % what,
                 diag=["exit %s after %.1fs; no test point in its output" % (rc, took),
                       out[-3000:], err[-3000:]])
    elif isinstance(rc, str):
        tap.line(False, "node --test finished in time", diag=[rc, err[-2000:]])
    print("# node --test: %d tests relayed in %.1fs (exit %s)" % (leaves, took, rc))
    return points
