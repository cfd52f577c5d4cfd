#!/usr/bin/env python3
"""The process model with real processes and signals.

SIGTERM under load loses no acknowledged create; a worker killed with
SIGKILL is respawned; SIGHUP re-reads the config and replaces the workers
without a failed request; spawn-fcgi -F 2 (no master of ours) serves the API
and generates videos; a wrong config is refused with the file and the key;
an idle worker lets go of the database pages it has read; a connection whose
input was read to its end is closed at once, one with input left unread is
closed as libfcgi closes it (after the web server's own close).
(The dispatcher's own process tests are in test_generation.py.)  Each test has its own
stack (temp dir, reelgate, nginx).
"""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, MODEL, Stack, Suite, alive, base_config, check,  # noqa: E402
                     eq, expect_error, expect_video, ffprobe, mapped_kb, run_threads, wait_until)

suite = Suite()
test = suite.test


def wait_workers(s, n, timeout=20):
    """Waits until the master has at least n children; returns their pids."""
    return wait_until(lambda: len(s.worker_pids()) >= n and s.worker_pids(), timeout,
                      what="%d children of the master" % n)


class Load:
    """Threads sending requests until stopped; records every outcome."""

    def __init__(self, s, threads, make_request, max_each=400):
        self.s = s
        self.make_request = make_request
        self.max_each = max_each
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = []          # responses with status 200
        self.failed = []      # (status or exception name, detail)
        self.threads = run_threads(self._run, threads)

    def _run(self, i):
        for n in range(self.max_each):
            if self.stop.is_set():
                return
            try:
                r = self.make_request(i, n)
            except Exception as e:  # connection refused/reset once nginx is gone
                with self.lock:
                    self.failed.append((type(e).__name__, str(e)))
                time.sleep(0.05)
                continue
            with self.lock:
                if r.status == 200:
                    self.ok.append(r)
                else:
                    self.failed.append((r.status, r.text[:200]))
            if r.status != 200:
                time.sleep(0.05)

    def finish(self, timeout=60):
        self.stop.set()
        for t in self.threads:
            t.join(timeout)
        check(not any(t.is_alive() for t in self.threads), "load threads did not stop")


@test("SIGTERM during concurrent creates loses no acknowledged create", timeout=240)
def _(_):
    with Stack(workers=2) as s:
        load = Load(s, 6, lambda i, n: s.request(
            "POST", "/v1/videos", json={"prompt": "load %d/%d" % (i, n)}, timeout=20))
        wait_until(lambda: len(load.ok) >= 30, 60, what="30 acknowledged creates")
        workers = s.worker_pids()
        rc = s.stop_reelgate(signal.SIGTERM, timeout=30)
        time.sleep(0.5)
        load.finish()
        eq(rc, 0, "exit status of the master after SIGTERM")
        wait_until(lambda: not any(alive(p) for p in workers), 15,
                   what="the workers to exit with the master")
        acked = [r.json["id"] for r in load.ok]
        check(len(set(acked)) == len(acked), "two creates answered the same id")

        s.start_reelgate()
        s.wait_ready()
        lost = [vid for vid in acked if s.get(vid).status != 200]
        check(not lost, "%d of %d acknowledged videos are gone after the restart: %s"
              % (len(lost), len(acked), lost[:5]))
        listed = set(s.list_ids())
        check(set(acked) <= listed, "acknowledged videos missing from the list")
        expect_video(s.get(acked[-1]), status=None)  # the dispatcher may have started it
        s.create(prompt="after the restart")


@test("a worker killed with SIGKILL is respawned; requests still succeed", timeout=120)
def _(_):
    with Stack(workers=2) as s:
        before = wait_workers(s, 2)
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        after = wait_until(lambda: (victim not in s.worker_pids()
                                    and len(s.worker_pids()) >= len(before)
                                    and s.worker_pids()), 20,
                           what="the killed worker to be replaced")
        check(victim not in after, "the killed pid is still a child")
        check(s.proc.poll() is None, "the master died")
        for i in range(20):
            eq(s.request("GET", "/v1/models").status, 200, "GET /v1/models #%d" % i)
        v = s.create(prompt="after a worker crash")
        expect_video(s.get(v["id"]), status=None)


@test("SIGHUP re-reads the config and replaces the workers without a failed request",
      timeout=120)
def _(_):
    with Stack(workers=2) as s:
        before = set(wait_workers(s, 2))
        load = Load(s, 3, lambda i, n: s.request("GET", "/v1/models", timeout=20))
        wait_until(lambda: len(load.ok) >= 10, 30, what="requests before the reload")
        probe = dict(s.config["models"][MODEL])
        models = dict(s.config["models"], **{"reload-probe": probe})
        s.write_config(models=models)
        os.kill(s.master_pid(), signal.SIGHUP)
        wait_until(lambda: len(set(s.worker_pids()) - before) >= 2, 30,
                   what="2 new workers after SIGHUP")
        n = len(load.ok)
        wait_until(lambda: len(load.ok) >= n + 10, 30, what="requests after the reload")
        load.finish()
        check(not load.failed, "%d requests failed during the reload: %s"
              % (len(load.failed), load.failed[:3]))
        check(s.proc.poll() is None, "the master exited on SIGHUP")
        ids = [m["id"] for m in s.request("GET", "/v1/models").json["data"]]
        check("reload-probe" in ids, "the reloaded config's model is not served: %s" % ids)
        wait_until(lambda: not any(alive(p) for p in before), 20,
                   what="the old workers to exit")
        s.create(prompt="after the reload")


@test("spawn-fcgi -F 2: create, retrieve, list, generate, download, remix, delete "
      "through nginx", timeout=150)
def _(_):
    with Stack(spawn_fcgi=2) as s:
        check(all(alive(p) for p in s.fcgi_pids), "spawn-fcgi's children died")
        k = s.create_key()
        a = s.create(key=k, prompt="spawned one", seconds="2", size="320x180", fps=12)
        r = s.request("POST", "/v1/videos", key=k, form=[("prompt", "spawned two"),
                                                        ("duration", "3"),
                                                        ("size", "320x180"), ("fps", "12")])
        b = expect_video(r)
        eq(b["seconds"], "3", "seconds")
        eq(expect_video(s.get(a["id"], key=k), status=None)["prompt"], "spawned one",
           "retrieved prompt")
        r = s.list(key=k, order="asc")
        eq(r.status, 200, "list status")
        eq([v["id"] for v in r.json["data"]], [a["id"], b["id"]], "listed ids")
        # No master: a worker started the dispatcher; both videos render.
        for v, secs in ((a, 2), (b, 3)):
            done, hist = s.wait_video(v["id"], key=k, timeout=60)
            eq(done["status"], "completed", "%s (%s; error %s)" % (v["id"], hist, done["error"]))
            r = s.request("GET", "/v1/videos/%s/content" % v["id"], key=k)
            eq(r.status, 200, "content status")
            eq(r.header("content-type"), "video/mp4", "content type")
            eq(int(r.header("content-length")), len(r.body), "Content-Length")
            path = os.path.join(s.dir, v["id"] + ".mp4")
            with open(path, "wb") as f:
                f.write(r.body)
            p = ffprobe(path)
            eq((p["codec"], p["width"], p["height"], p["frames"]), ("h264", 320, 180, secs * 12),
               "codec, width, height, frames of the downloaded video")
        content = os.path.join(s.data_dir, "content")
        check(any(f.startswith(a["id"]) for f in os.listdir(content)), "no stored files")
        eq(s.request("DELETE", "/v1/videos/" + a["id"], key=k).json,
           {"id": a["id"], "object": "video.deleted", "deleted": True}, "delete answer")
        expect_error(s.get(a["id"], key=k), 404, code="not_found")
        eq([f for f in os.listdir(content) if a["id"] in f], [], "files of the deleted video")
        r = s.request("POST", "/v1/videos/%s/remix" % b["id"], key=k, json={"prompt": "x"})
        eq(expect_video(r)["remixed_from_video_id"], b["id"], "remixed_from_video_id")
        # Both processes serve: 40 requests, none fails.
        for i in range(40):
            eq(s.request("GET", "/v1/models", key=k).status, 200, "GET /v1/models #%d" % i)
        check(all(alive(p) for p in s.fcgi_pids), "a spawn-fcgi child died")
        s.db_check()


@test("a wrong config is refused, naming the file and the key")
def _(_):
    with tempfile.TemporaryDirectory(prefix="reelgate-it-") as tmp:
        cfg = base_config(tmp, "unix:" + os.path.join(tmp, "s.sock"))
        good = os.path.join(tmp, "good.json")
        bad = os.path.join(tmp, "bad.json")
        with open(good, "w") as f:
            json.dump(cfg, f)
        r = subprocess.run([BIN, "check-config", "-c", good], capture_output=True, timeout=30)
        eq(r.returncode, 0, "check-config on a good config (stderr: %r)" % r.stderr[-300:])
        cfg["workerz"] = 3
        with open(bad, "w") as f:
            json.dump(cfg, f)
        for args in (["check-config", "-c", bad], ["serve", "-c", bad, "--foreground"]):
            r = subprocess.run([BIN] + args, capture_output=True, timeout=30,
                               stdin=subprocess.DEVNULL)
            err = r.stderr.decode(errors="replace")
            check(r.returncode != 0, "reelgate %s accepted an unknown key" % args[0])
            check(bad in err and "workerz" in err,
                  "reelgate %s: the message must name the file and the key: %r" % (args[0], err))


@test("reelgate --version and --help")
def _(_):
    r = subprocess.run([BIN, "--version"], capture_output=True, timeout=10)
    eq(r.returncode, 0, "--version exit status")
    check(b"reelgate" in r.stdout and any(c.isdigit() for c in r.stdout.decode()),
          "--version output %r" % r.stdout)
    r = subprocess.run([BIN, "--help"], capture_output=True, timeout=10)
    eq(r.returncode, 0, "--help exit status")
    out = r.stdout.decode()
    for word in ("serve", "keys", "check-config"):
        check(word in out, "--help does not mention %s" % word)


@test("an idle worker lets go of the database pages it has read: data.mdb's resident pages "
      "in the worker drop to none within seconds of its last request", timeout=120)
def _(_):
    with Stack(workers=1) as s:
        wait_workers(s, 1)
        for i in range(30):
            s.create(prompt="paged %d" % i)
        for i in range(40):
            eq(s.request("GET", "/v1/videos?limit=20").status, 200, "list #%d" % i)
        disp = s.dispatcher_pid()
        workers = [p for p in s.worker_pids() if p != disp]
        eq(len(workers), 1, "workers")
        busy = mapped_kb(workers[0], "/db/data.mdb")
        print("# figure: the worker's resident data.mdb pages right after 70 requests: %s KiB" % busy)
        check(busy and busy > 0, "the worker read no data.mdb page through its map", busy)
        t0 = time.monotonic()
        wait_until(lambda: mapped_kb(workers[0], "/db/data.mdb") == 0, 10,
                   what="the idle worker's data.mdb pages to be released")
        print("# figure: released after %.1f s idle" % (time.monotonic() - t0))
        eq(s.request("GET", "/v1/videos?limit=20").status, 200, "a list after the release")

# -- FastCGI spoken directly, as a web server speaks it

FCGI_BEGIN, FCGI_END, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT = 1, 3, 4, 5, 6


def fcgi_record(kind, body=b""):
    return struct.pack(">BBHHBB", 1, kind, 1, len(body), 0, 0) + body


def fcgi_pairs(params):
    out = b""
    for name, value in params.items():
        for part in (name.encode(), value.encode()):
            out += bytes([len(part)]) if len(part) < 128 else struct.pack(">I", len(part) | 1 << 31)
        out += name.encode() + value.encode()
    return out


def fcgi_connect(s, source=None):
    """A connection to reelgate's FastCGI socket (source: the local address
    to connect from, over TCP)."""
    if s.listen_kind == "unix":
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(s.sock_path)
    else:
        host, port = s.listen.rsplit(":", 1)
        c = socket.create_connection((host, int(port)),
                                     source_address=(source, 0) if source else None)
    c.settimeout(10)
    return c


def fcgi_get(s, c, path, stdin=b"", pause=0):
    """Sends a GET of path on c as nginx sends it (the stdin stream ended by
    its empty record; stdin: stray bytes before that end, with no
    CONTENT_LENGTH to announce them; pause: seconds to wait before the
    parameters, as a slow web server would); returns the answer's stdout
    bytes once its END_REQUEST record came."""
    params = {"REQUEST_METHOD": "GET", "REQUEST_URI": path, "DOCUMENT_URI": path,
              "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
              "HTTP_HOST": "127.0.0.1", "HTTP_AUTHORIZATION": "Bearer " + s.key,
              "REQUEST_ID": "0123456789abcdef0123456789abcdef"}
    msg = fcgi_record(FCGI_BEGIN, struct.pack(">HB5x", 1, 0))
    if pause:
        c.sendall(msg)
        time.sleep(pause)
        msg = b""
    msg += fcgi_record(FCGI_PARAMS, fcgi_pairs(params)) + fcgi_record(FCGI_PARAMS)
    if stdin:
        msg += fcgi_record(FCGI_STDIN, stdin)
    c.sendall(msg + fcgi_record(FCGI_STDIN))
    got, out = b"", b""
    while True:
        while len(got) < 8:
            more = c.recv(65536)
            check(more, "the connection ended before END_REQUEST", got)
            got += more
        _, kind, _, n, pad, _ = struct.unpack(">BBHHBB", got[:8])
        while len(got) < 8 + n + pad:
            more = c.recv(65536)
            check(more, "the connection ended inside a record", got)
            got += more
        if kind == FCGI_STDOUT:
            out += got[8:8 + n]
        got = got[8 + n + pad:]
        if kind == FCGI_END:
            eq(got, b"", "bytes after END_REQUEST")
            return out


def models_answer(out, what):
    """Checks that out (fcgi_get's) is a 200 with the model list."""
    head, _, body = out.partition(b"\r\n\r\n")
    check(b"Status: 200" in head and json.loads(body)["object"] == "list", what, out[:300])


def peer_gone(c, wait=1.0):
    """True when the other end has closed the connection (a send fails);
    False when it still reads what is sent (for `wait` seconds)."""
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            c.send(b"x")
        except (BrokenPipeError, ConnectionResetError):
            return True
        time.sleep(0.05)
    return False


@test("the FastCGI connection: closed at once once the request's input was read to its end "
      "(no lingering wait for the web server); with input left unread (stray stdin bytes), "
      "closed as libfcgi closes it, after the web server's own close, the answer intact; "
      "over a unix socket and TCP", timeout=120)
def _(_):
    for kind in ("unix", "tcp"):
        with Stack(workers=1, listen=kind) as s:
            wait_workers(s, 1)
            for stray in (b"", b"stray bytes no CONTENT_LENGTH announced"):
                c = fcgi_connect(s)
                models_answer(fcgi_get(s, c, "/v1/models", stray),
                              "%s: the answer (stray %r)" % (kind, stray))
                eq(c.recv(1), b"", "%s: the worker's side ended after the answer" % kind)
                gone = peer_gone(c)
                c.close()
                if stray:
                    check(not gone, "%s: input left unread, yet the worker closed without "
                          "reading the rest (a web server would be sent a reset)" % kind)
                else:
                    check(gone, "%s: the input was read to its end, yet the worker still "
                          "holds the connection (libfcgi's lingering close)" % kind)
                # the worker (the only one) is free again: a request through nginx
                eq(s.request("GET", "/v1/models").status, 200, "%s: a request after" % kind)


@test("the workers accept connections themselves: a web server that pauses longer than the "
      "listen socket's accept tick mid-request (TCP connections inherit that timeout: "
      "cleared) is answered, over TCP and a unix socket; FCGI_WEB_SERVER_ADDRS, as libfcgi "
      "reads it, lets in the addresses it names and closes others' connections unanswered "
      "(an entry that is no address is named in a warning)",
      timeout=120)
def _(_):
    for kind in ("tcp", "unix"):
        with Stack(workers=1, listen=kind) as s:
            wait_workers(s, 1)
            c = fcgi_connect(s)
            models_answer(fcgi_get(s, c, "/v1/models", pause=1.6),
                          "%s: the answer after a 1.6 s pause" % kind)
            c.close()
    with Stack(workers=1, listen="tcp",
               env={"FCGI_WEB_SERVER_ADDRS": "127.0.0.2,not-an-address,127.0.0.1"}) as s:
        wait_workers(s, 1)

        def logged():
            text = ""
            for p in s.log_files():
                with open(p, errors="replace") as f:
                    text += f.read()
            return "fcgi_web_server_addrs_entry_ignored" in text and "not-an-address" in text
        wait_until(logged, 10, what="the worker's warning naming the entry it cannot read")
        eq(s.request("GET", "/v1/models").status, 200, "through nginx (from 127.0.0.1)")
        c = fcgi_connect(s, source="127.0.0.2")
        models_answer(fcgi_get(s, c, "/v1/models"), "from 127.0.0.2, named second")
        c.close()
        c = fcgi_connect(s, source="127.0.0.3")
        try:
            c.sendall(fcgi_record(FCGI_BEGIN, struct.pack(">HB5x", 1, 0)))
            got = c.recv(100)
        except ConnectionResetError:
            got = b""
        eq(got, b"", "from 127.0.0.3, not named: the connection closed unanswered")
        c.close()
        eq(s.request("GET", "/v1/models").status, 200, "through nginx after")


if __name__ == "__main__":
    sys.exit(suite.main(shared=False))
