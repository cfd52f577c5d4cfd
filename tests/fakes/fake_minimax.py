#!/usr/bin/env python3
"""A fake MiniMax Hailuo video API (v1) for reelgate's integration tests.

It follows /work/shared/research/providers-2.md section 4 and providers.md
section 4, checked against MiniMax's own MiniMax-MCP (minimax_mcp/server.py,
client.py) and MiniMax CLI (src/client/endpoints.ts, src/types/api.ts):
  POST /v1/video_generation             {model, prompt, duration, resolution,
                                         first_frame_image, ...}
                                         -> {task_id, base_resp}
  GET  /v1/query/video_generation?task_id=
                                         -> {task_id, status, file_id (a string),
                                             video_width, video_height, base_resp}
  GET  /v1/files/retrieve?file_id=       -> {file: {file_id (a number), bytes,
                                             created_at, filename, purpose,
                                             download_url}, base_resp}
  GET  /download/<file_id>.mp4?Expires=..&sig=..   the signed CDN URL (no auth)
Auth is "Authorization: Bearer <key>" on the three API paths; errors are
MiniMax's: HTTP 200 with base_resp {status_code, status_msg} (1004 no or
expired key, 2049 wrong key, 2013 invalid params...).  Statuses walk
Preparing -> Queueing -> Processing -> Success | Fail, one --step-seconds
each.  The MP4 is real (ffmpeg, 320x180, 12 fps).

Misbehaviour is scripted through /_fake/ (no auth), as fake_kling.py does:
  POST /_fake/scenario  {"submit":..., "poll":..., "retrieve":..., "outcome":...,
                         "result":..., "redirect_to": URL, "count":N, "delay":S}
  POST /_fake/reset     everything back to "ok", tasks and counters cleared
  GET  /_fake/jobs      every task (with the body received), every request seen,
                        the counters
See State.scenario_set for the semantics.

Usage:  fake_minimax.py --port PORT --api-key KEY [--step-seconds 0.3]
Prints "ready PORT" once listening; SIGTERM exits.  Standard library only.
"""

import argparse, base64, binascii, itertools, json, os, re, shutil, signal, socket
import subprocess, sys, tempfile, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# scenario mode -> (HTTP status, status_code, status_msg); "http429" also
# sends Retry-After.
CODES = {
    "1002": (200, 1002, "rate limit"),
    "1039": (200, 1039, "token limit"),
    "1000": (200, 1000, "unknown error"),
    "1024": (200, 1024, "internal error"),
    "1004": (200, 1004, "login fail: token expired, please log in again"),
    "1008": (200, 1008, "insufficient balance"),
    "1026": (200, 1026, "input new_sensitive: the prompt contains sensitive content"),
    "2013": (200, 2013, "invalid params"),
    "http429": (429, 1002, "rate limit"),
    "500": (500, 1000, "unknown error"),
    "503": (503, 1024, "internal error"),
}
SUBMIT_MODES = set(CODES) | {"ok", "invalid_json", "reset", "hold", "slow"}
POLL_MODES = {"ok", "1002", "500", "invalid_json", "reset", "hold"}
RETRIEVE_MODES = {"ok", "1002", "500", "invalid_json"}
OUTCOMES = {"success", "fail", "fail_1027", "never"}
RESULTS = {"ok", "404", "redirect", "redirect_private"}
FIELDS = {"model", "prompt", "prompt_optimizer", "fast_pretreatment", "duration", "resolution",
          "first_frame_image", "last_frame_image", "callback_url", "aigc_watermark",
          "subject_reference"}
# model -> (durations, resolutions, image: "no" / "may" / "must")
MODELS = {
    "MiniMax-Hailuo-2.3": ((6, 10), ("768P", "1080P"), "may"),
    "MiniMax-Hailuo-2.3-Fast": ((6, 10), ("768P", "1080P"), "must"),
    "MiniMax-Hailuo-02": ((6, 10), ("512P", "768P", "1080P"), "may"),
    "T2V-01": ((6,), ("720P",), "no"),
    "T2V-01-Director": ((6,), ("720P",), "no"),
    "I2V-01": ((6,), ("720P",), "must"),
    "I2V-01-Director": ((6,), ("720P",), "must"),
    "I2V-01-live": ((6,), ("720P",), "must"),
}
DIMS = {"512P": (912, 512), "720P": (1280, 720), "768P": (1366, 768), "1080P": (1920, 1080)}
DEFAULT_DELAY = 10.0
COUNTERS = ("creates_received", "creates_accepted", "polls", "retrieves", "downloads",
            "auth_failures", "unknown_paths")
BROKEN_JSON = b'{"task_id":"1069161122'


def base_resp(code=0, msg="success"):
    return {"status_code": code, "status_msg": msg}


def image_problem(name, v):
    """None when v is an image MiniMax takes: an http(s) URL or a data: URL
    of a JPEG, PNG or WebP in base64."""
    if not isinstance(v, str) or not v:
        return "%s must be a non-empty string" % name
    if re.match(r"https?://", v):
        return None
    m = re.fullmatch(r"data:image/(jpeg|jpg|png|webp);base64,(.+)", v, re.S)
    if not m:
        return "%s must be a URL or a data URL (data:image/jpeg;base64,...)" % name
    try:
        raw = base64.b64decode(m.group(2), validate=True)
    except (ValueError, binascii.Error):
        return "%s: invalid base64" % name
    if len(raw) > 20 << 20:
        return "%s larger than 20MB" % name
    if not (raw[:8] == b"\x89PNG\r\n\x1a\n" or raw[:3] == b"\xff\xd8\xff" or raw[8:12] == b"WEBP"):
        return "%s is not a JPG, PNG or WebP image" % name
    return None


def validate(b):
    """MiniMax's checks of a create: None, or the 2013 message."""
    unknown = sorted(set(b) - FIELDS)
    if unknown:
        return "invalid params, unknown field %s" % unknown[0]
    model = b.get("model")
    if model not in MODELS:
        return "invalid params, model %r is not supported" % (model,)
    durations, resolutions, image = MODELS[model]
    prompt = b.get("prompt")
    if "prompt" in b and (not isinstance(prompt, str) or len(prompt) > 2000):
        return "invalid params, prompt must be a string of at most 2000 characters"
    if "first_frame_image" not in b and not prompt:
        return "invalid params, prompt is required"
    for f in ("prompt_optimizer", "fast_pretreatment", "aigc_watermark"):
        if f in b and not isinstance(b[f], bool):
            return "invalid params, %s must be a boolean" % f
    d = b.get("duration", 6)
    if isinstance(d, bool) or not isinstance(d, int) or d not in durations:
        return "invalid params, duration %r is not supported by %s" % (d, model)
    r = b.get("resolution", "768P" if "768P" in resolutions else resolutions[0])
    if r not in resolutions:
        return "invalid params, resolution %r is not supported by %s" % (r, model)
    if d == 10 and r == "1080P":
        return "invalid params, 10s is not supported at 1080P"
    if image == "must" and "first_frame_image" not in b:
        return "invalid params, %s needs first_frame_image" % model
    if image == "no" and "first_frame_image" in b:
        return "invalid params, %s does not take first_frame_image" % model
    for f in ("first_frame_image", "last_frame_image"):
        if f in b:
            p = image_problem(f, b[f])
            if p:
                return "invalid params, " + p
    if "last_frame_image" in b and "first_frame_image" not in b:
        return "invalid params, last_frame_image needs first_frame_image"
    if "callback_url" in b and not (isinstance(b["callback_url"], str)
                                    and re.match(r"https?://", b["callback_url"])):
        return "invalid params, callback_url must be a URL"
    return None


class State:
    def __init__(self, args):
        self.args = args
        self.port = 0
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.videodir = tempfile.mkdtemp(prefix="fake-minimax-")
        self.video_lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.tasks = {}          # task_id -> task
            self.files = {}          # file_id (int) -> task
            self.requests = []       # every request: method, path, authorization seen
            self.counters = dict.fromkeys(COUNTERS, 0)
            self.scenario = {"submit": "ok", "poll": "ok", "retrieve": "ok",
                             "outcome": "success", "result": "ok", "redirect_to": "",
                             "delay": DEFAULT_DELAY}
            self.left = {"submit": None, "poll": None, "retrieve": None}

    def bump(self, name):
        with self.lock:
            self.counters[name] += 1

    def scenario_set(self, obj):
        """Merges obj into the scenario; an error string or None.  `count`
        (int >= 1, or null = forever) is how many requests the submit /
        poll / retrieve misbehaviour of the same call applies to; after
        that many it goes back to "ok"."""
        allowed = {"submit": SUBMIT_MODES, "poll": POLL_MODES, "retrieve": RETRIEVE_MODES,
                   "outcome": OUTCOMES, "result": RESULTS}
        if not isinstance(obj, dict):
            return "scenario must be a JSON object"
        for k, v in obj.items():
            if k in allowed:
                if v not in allowed[k]:
                    return "%s must be one of %s" % (k, sorted(allowed[k]))
            elif k == "count":
                if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                    return "count must be an integer >= 1 or null"
            elif k == "delay":
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                    return "delay must be a number >= 0"
            elif k == "redirect_to":
                if not isinstance(v, str):
                    return "redirect_to must be a URL"
            else:
                return "unknown scenario key %r" % k
        with self.lock:
            for k in list(allowed) + ["redirect_to"]:
                if k in obj:
                    self.scenario[k] = obj[k]
            if "delay" in obj:
                self.scenario["delay"] = float(obj["delay"])
            for k in ("submit", "poll", "retrieve"):
                if k in obj:
                    self.left[k] = obj.get("count") if obj[k] != "ok" else None
        return None

    def take(self, which):
        with self.lock:
            mode, delay = self.scenario[which], self.scenario["delay"]
            if mode != "ok" and self.left[which] is not None:
                self.left[which] -= 1
                if self.left[which] <= 0:
                    self.scenario[which], self.left[which] = "ok", None
            return mode, delay

    def create(self, body):
        with self.lock:
            n = next(self.ids)
            tid = str(106916112212032 + n * 7919)
            fid = 205258526306433 + n * 104729
            t = {"task_id": tid, "file_id": fid, "body": body, "created": time.time(),
                 "outcome": self.scenario["outcome"],
                 "resolution": body.get("resolution", "768P"), "duration": body.get("duration", 6)}
            self.tasks[tid] = t
            self.files[fid] = t
            self.counters["creates_accepted"] += 1
        threading.Thread(target=self.video, daemon=True).start()
        return t

    def status(self, t):
        step = self.args.step_seconds
        age = time.time() - t["created"]
        if age < step:
            return "Preparing"
        if age < 2 * step:
            return "Queueing"
        if age < 3 * step or t["outcome"] == "never":
            return "Processing"
        return "Success" if t["outcome"] == "success" else "Fail"

    def video(self):
        path = os.path.join(self.videodir, "v.mp4")
        with self.video_lock:
            if not os.path.exists(path):
                tmp = path + ".part.mp4"
                subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
                                "-i", "testsrc2=s=320x180:r=12", "-t", "2", "-pix_fmt", "yuv420p",
                                "-c:v", "libx264", "-preset", "ultrafast", "-movflags",
                                "+faststart", tmp], check=True, stdout=subprocess.DEVNULL,
                               timeout=120)
                os.replace(tmp, path)
        return path


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-minimax/1.0"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self): self.dispatch("GET")      # noqa: E704
    def do_POST(self): self.dispatch("POST")    # noqa: E704
    def do_DELETE(self): self.dispatch("DELETE")  # noqa: E704

    @property
    def state(self):
        return self.server.state

    def send(self, status, body=b"", ctype="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def answer(self, obj, status=200, headers=()):
        self.send(status, json.dumps(obj).encode(), headers=headers)

    def error(self, mode):
        status, code, msg = CODES[mode]
        headers = [("Retry-After", "2")] if mode == "http429" else []
        self.answer({"base_resp": base_resp(code, msg)}, status, headers)

    def drop(self):
        """Closes the connection without an answer."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def misbehave(self, mode, delay):
        """Acts out a non-"ok" mode that is not an error code; True if it did."""
        if mode == "invalid_json":
            self.send(200, BROKEN_JSON)
        elif mode == "reset":
            self.drop()
        elif mode in CODES:
            self.error(mode)
        else:
            return False
        return True

    def authorized(self):
        """MiniMax's check: "Authorization: Bearer <key>"; 1004 without one,
        2049 for a wrong key (both HTTP 200)."""
        a = self.headers.get("Authorization")
        if a == "Bearer " + self.server.args.api_key:
            return True
        self.state.bump("auth_failures")
        if not a or not a.startswith("Bearer "):
            self.answer({"base_resp": base_resp(
                1004, "login fail: Please carry the API secret key in the 'Authorization' "
                      "field of the request header")})
        else:
            self.answer({"base_resp": base_resp(2049, "invalid api key")})
        return False

    def dispatch(self, method):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if u.path.startswith("/_fake/"):
            return self.control(method, u.path, raw)
        with self.state.lock:
            self.state.requests.append({"method": method, "path": u.path, "query": u.query,
                                        "authorization": self.headers.get("Authorization"),
                                        "time": time.time()})
        if method == "POST" and u.path == "/v1/video_generation":
            return self.create(raw)
        if method == "GET" and u.path == "/v1/query/video_generation":
            return self.query(q)
        if method == "GET" and u.path == "/v1/files/retrieve":
            return self.retrieve(q)
        m = re.fullmatch(r"/download/(raw/)?(\d+)\.mp4", u.path)
        if method == "GET" and m:
            return self.download(int(m.group(2)), bool(m.group(1)))
        self.state.bump("unknown_paths")
        self.send(404, b'{"base_resp":{"status_code":404,"status_msg":"not found"}}')

    def create(self, raw):
        st = self.state
        st.bump("creates_received")
        if not self.authorized():
            return
        mode, delay = st.take("submit")
        if self.misbehave(mode, delay):
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self.answer({"base_resp": base_resp(2013, "invalid params, body must be "
                                                              "a JSON object")})
        problem = validate(body)
        if problem:
            return self.answer({"task_id": "", "base_resp": base_resp(2013, problem)})
        t = st.create(body)
        if mode == "hold":               # made, but the answer is lost
            time.sleep(delay)
            return self.drop()
        if mode == "slow":
            time.sleep(delay)
        self.answer({"task_id": t["task_id"], "base_resp": base_resp()})

    def query(self, q):
        st = self.state
        st.bump("polls")
        if not self.authorized():
            return
        mode, delay = st.take("poll")
        if mode == "hold":
            time.sleep(delay)
            return self.drop()
        if self.misbehave(mode, delay):
            return
        tid = (q.get("task_id") or [""])[0]
        t = st.tasks.get(tid)
        if t is None:
            return self.answer({"task_id": tid, "status": "", "file_id": "",
                                "base_resp": base_resp(2013, "invalid params, task not found")})
        s = st.status(t)
        out = {"task_id": tid, "status": s, "file_id": "", "base_resp": base_resp()}
        if s == "Success":
            w, h = DIMS.get(t["resolution"], (1366, 768))
            out.update(file_id=str(t["file_id"]), video_width=w, video_height=h)
        elif s == "Fail" and t["outcome"] == "fail_1027":
            out["base_resp"] = base_resp(1027, "output video sensitive")
        self.answer(out)

    def retrieve(self, q):
        st = self.state
        st.bump("retrieves")
        if not self.authorized():
            return
        mode, delay = st.take("retrieve")
        if self.misbehave(mode, delay):
            return
        fid = (q.get("file_id") or [""])[0]
        t = st.files.get(int(fid)) if fid.isdigit() else None
        if t is None or st.status(t) != "Success":
            return self.answer({"base_resp": base_resp(2013, "invalid params, file_id")})
        size = os.path.getsize(st.video())
        self.answer({"file": {
            "file_id": t["file_id"], "bytes": size, "created_at": int(t["created"]),
            "filename": "output_aigc.mp4", "purpose": "video_generation",
            "download_url": "http://%s:%d/download/%d.mp4?Expires=%d&sig=fake" % (
                self.server.args.host, st.port, t["file_id"], int(time.time()) + 32400)},
            "base_resp": base_resp()})

    def download(self, fid, raw):
        st = self.state
        t = st.files.get(fid)
        if t is None or st.status(t) != "Success":
            return self.send(404, b"not found\n", "text/plain")
        res = "ok" if raw else st.scenario["result"]
        if res == "404":
            return self.send(404, b"not found\n", "text/plain")
        if res in ("redirect", "redirect_private"):
            to = st.scenario["redirect_to"] if res == "redirect" else "http://10.0.0.1/x.mp4"
            return self.send(302, b"", "text/plain", [("Location", to)])
        with open(st.video(), "rb") as f:
            data = f.read()
        st.bump("downloads")
        self.send(200, data, "video/mp4")

    def control(self, method, path, raw):
        st = self.state
        if path == "/_fake/scenario" and method == "POST":
            try:
                obj = json.loads(raw or b"{}")
            except ValueError:
                obj = None
            problem = st.scenario_set(obj)
            if problem:
                return self.send(400, json.dumps({"error": problem}).encode())
            return self.answer(dict(st.scenario, left=st.left))
        if path == "/_fake/reset" and method == "POST":
            st.reset()
            return self.answer({"reset": True})
        if path == "/_fake/jobs" and method == "GET":
            with st.lock:
                tasks = [{"task_id": t["task_id"], "file_id": t["file_id"], "body": t["body"],
                          "status": st.status(t), "outcome": t["outcome"]}
                         for t in st.tasks.values()]
                out = {"tasks": tasks, "requests": list(st.requests),
                       "scenario": dict(st.scenario)}
                out.update(st.counters)
            return self.answer(out)
        self.send(404, b'{"error":"unknown control endpoint"}')


def main():
    p = argparse.ArgumentParser(description="Fake MiniMax Hailuo video API")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--api-key", required=True)
    p.add_argument("--step-seconds", type=float, default=0.3)
    args = p.parse_args()
    state = State(args)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.state, server.args = state, args
    state.port = server.server_address[1]

    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("ready %d" % state.port, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        shutil.rmtree(state.videodir, ignore_errors=True)


if __name__ == "__main__":
    main()
