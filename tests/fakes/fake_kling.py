#!/usr/bin/env python3
"""A fake Kling video-generation API for reelgate's integration tests.

It follows /work/shared/research/providers.md section 1 (Kling official API):
JWT HS256 bearer auth (iss = access key, signed with the secret key), the
text2video/image2video submit, query and list endpoints, Kling's status
enum (submitted -> processing -> succeed | failed) and its error envelope
{"code", "message", "request_id"}.  Result URLs point at this server's own
/files/<task_id>.mp4, a real small MP4 made with ffmpeg.

Video extension (POST /v1/videos/video-extend, query and list under the
same path), as ComfyUI's KlingVideoExtendRequest and Kling's documentation
(mirrored by DMXAPI-docs) describe it: {video_id, prompt, negative_prompt,
cfg_scale, callback_url} and nothing else (no model, mode, duration or
external_task_id: the source's model and mode are kept); video_id is the id
of a video this account made (task_result.videos[].id of a text2video,
image2video or earlier video-extend task that succeeded), not one of
kling-v1-5, and the total stays within 3 minutes.  Each extension adds
EXTEND_STEP seconds (Kling: "4~5 s"); its result's duration is the total,
and task_info.parent_video names the source.

Misbehaviour is scripted through a control API under /_fake/ (no auth):
  POST /_fake/scenario  {"submit":..., "poll":..., "outcome":..., "result":...,
                         "count":N, "delay":S}     (merged into the current one)
  GET  /_fake/scenario  the current scenario
  POST /_fake/reset     scenario back to all "ok", tasks, tokens and counters cleared
  GET  /_fake/jobs      every task, every token seen, the counters
See scenario_set() below for the exact semantics.

Usage:  fake_kling.py --port PORT --access-key AK --secret-key SK
                      [--host 127.0.0.1] [--step-seconds 0.5]
        fake_kling.py --self-test
Prints "ready PORT" once listening (--port 0 picks a free port); SIGTERM exits.
Python standard library only (plus the ffmpeg binary for the MP4s).
"""

import argparse, base64, binascii, hashlib, hmac, http.client, itertools, json, os, re
import shutil, signal, socket, struct, subprocess, sys, tempfile, threading, time
import traceback, urllib.parse, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SUBMIT_MODES = {"ok", "429_1302", "429_1303", "429_1102", "400_1301", "500",
                "503", "reset", "invalid_json", "slow", "hold"}
POLL_MODES = {"ok", "500", "invalid_json", "reset", "429_1302"}
OUTCOMES = {"succeed", "failed", "never"}
RESULTS = {"ok", "404", "redirect_private", "redirect_loopback", "slow"}
# Canned Kling errors: scenario mode -> (HTTP status, Kling code, message).
ERRORS = {
    "429_1302": (429, 1302, "The API request is too fast, exceeding the rate limit"),
    "429_1303": (429, 1303, "parallel task over resource pack limit"),
    "429_1102": (429, 1102, "Resource pack exhausted or expired"),
    "400_1301": (400, 1301, "Content security policy triggered: the input failed the safety check"),
    "500": (500, 5000, "Server internal error"),
    "503": (503, 5001, "Service temporarily unavailable"),
}
AUTH_MESSAGES = {1000: "Authentication failed", 1001: "Authorization is empty",
                 1002: "Authorization is invalid", 1003: "Authorization is not yet valid",
                 1004: "Authorization has expired"}
FAIL_MSG = "The content failed moderation"
KINDS = ("text2video", "image2video", "video-extend")
EXTEND_FIELDS = {"video_id", "prompt", "negative_prompt", "cfg_scale", "callback_url"}
EXTEND_STEP = 4.5       # seconds one video-extend adds (Kling documents 4 to 5)
EXTEND_TOTAL_MAX = 180  # seconds a video may reach by extensions
NBF_SKEW = 5            # seconds of clock skew tolerated on nbf
DEFAULT_DELAY = 10.0    # seconds, for submit slow/hold and result slow
COUNTERS = ("submits_received", "submits_accepted", "polls", "downloads", "auth_failures")
BROKEN_JSON = b'{"code":0,"message":"SUCCEED","request_id":"x","data":{"task_id":"'


# ---------------------------------------------------------------- JWT

def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


def mint_jwt(ak, sk, now=None, exp_in=1800, nbf_off=-5, alg="HS256"):
    """A Kling token as the docs mint it (also used by the self-test)."""
    now = int(time.time() if now is None else now)
    head = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps({"iss": ak, "exp": now + exp_in, "nbf": now + nbf_off}).encode())
    sig = hmac.new(sk.encode(), (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64url(sig)


def check_jwt(authorization, ak, sk, now):
    """Verifies an Authorization header: (kling_code, claims); code 0 = valid.

    claims is the decoded payload whenever it could be decoded, even for a
    token that then fails, so that the caller can record it."""
    if not authorization:
        return 1001, None
    if not authorization.startswith("Bearer ") or authorization.count(" ") != 1:
        return 1002, None                    # exactly "Bearer <token>"
    parts = authorization[7:].split(".")
    if len(parts) != 3:
        return 1002, None
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        sig = b64url_decode(parts[2])
    except (ValueError, binascii.Error):
        return 1002, None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return 1002, None
    want = hmac.new(sk.encode(), (parts[0] + "." + parts[1]).encode(), hashlib.sha256).digest()
    if header.get("alg") != "HS256" or not hmac.compare_digest(sig, want):
        return 1002, claims
    if claims.get("iss") != ak:
        return 1000, claims                  # well signed, but not our access key
    exp, nbf = claims.get("exp"), claims.get("nbf")
    num = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    if not num(exp) or (nbf is not None and not num(nbf)):
        return 1002, claims
    if nbf is not None and nbf > now + NBF_SKEW:
        return 1003, claims
    if now >= exp:
        return 1004, claims
    return 0, claims


# ---------------------------------------------------------------- request validation

def validate(kind, b):
    """Kling's parameter checks: None when fine, else the 1201 message."""
    if kind == "video-extend":
        unknown = sorted(set(b) - EXTEND_FIELDS)
        if unknown:
            return "unknown field %s (video-extend takes %s)" % (unknown[0], sorted(EXTEND_FIELDS))
        if not isinstance(b.get("video_id"), str) or not b["video_id"]:
            return "video_id is required"
    prompt = b.get("prompt")
    if kind == "text2video" and (not isinstance(prompt, str) or not prompt.strip()):
        return "prompt is required"
    for f in ("prompt", "negative_prompt"):
        if f in b and (not isinstance(b[f], str) or len(b[f]) > 2500):
            return "%s must be a string of at most 2500 characters" % f
    if kind == "image2video" and not b.get("image"):
        return "image is required"
    for f in ("image", "image_tail"):
        if f not in b:
            continue
        v = b[f]
        if not isinstance(v, str) or not v:
            return "%s must be a URL or a base64 string" % f
        if v[:5].lower() == "data:":
            return "%s: base64 must not carry a data: prefix" % f
        if not re.match(r"https?://", v):
            try:
                base64.b64decode(v, validate=True)
            except (ValueError, binascii.Error):
                return "%s is neither a URL nor valid base64" % f
    if "duration" in b and b["duration"] not in ("5", "10"):
        return 'duration must be the string "5" or "10"'
    if kind == "text2video" and "aspect_ratio" in b and b["aspect_ratio"] not in ("16:9", "9:16", "1:1"):
        return "aspect_ratio must be one of 16:9, 9:16, 1:1"
    if "mode" in b and b["mode"] not in ("std", "pro"):
        return "mode must be std or pro"
    for f in ("model_name", "external_task_id", "callback_url"):
        if f in b and not isinstance(b[f], str):
            return "%s must be a string" % f
    cfg = b.get("cfg_scale", 0.5)
    if isinstance(cfg, bool) or not isinstance(cfg, (int, float)) or not 0 <= cfg <= 1:
        return "cfg_scale must be a number in [0, 1]"
    return None


# ---------------------------------------------------------------- state

def ms(t):
    return int(t * 1000)


def task_info(t):
    """Kling's task_info: {} unless the caller gave an external_task_id; an
    extension's names its parent video."""
    if t["endpoint"] == "video-extend":
        return {"parent_video": dict(t["parent"])}
    return {"external_task_id": t["external_task_id"]} if t["external_task_id"] else {}


class State:
    """Tasks, scenario, tokens and counters, shared by all handler threads."""

    def __init__(self, args):
        self.args = args
        self.port = 0                        # set once bound
        self.lock = threading.Lock()
        self.ids = itertools.count(1)        # never reset: ids stay unique per process
        self.videodir = tempfile.mkdtemp(prefix="fake-kling-")
        self.video_locks = {}
        self.reset()

    def reset(self):
        with self.lock:
            self.tasks = {}                  # task_id -> task (insertion ordered)
            self.by_ext = {}                 # external_task_id -> task
            self.tokens = []
            self.counters = dict.fromkeys(COUNTERS, 0)
            self.scenario = {"submit": "ok", "poll": "ok", "outcome": "succeed",
                             "result": "ok", "delay": DEFAULT_DELAY}
            self.left = {"submit": None, "poll": None}   # None = forever

    def bump(self, name):
        with self.lock:
            self.counters[name] += 1

    def scenario_view(self):
        return dict(self.scenario, submit_left=self.left["submit"], poll_left=self.left["poll"])

    def scenario_set(self, obj):
        """Merges obj into the scenario; returns an error string or None.

        submit/poll/outcome/result/delay given replace the current values.
        `count` (int >= 1, or null = forever) is how many more requests the
        submit and/or poll misbehaviour set in the same call applies to; with
        neither in the call it applies to both current ones.  After that many
        the mode goes back to "ok"."""
        allowed = {"submit": SUBMIT_MODES, "poll": POLL_MODES, "outcome": OUTCOMES, "result": RESULTS}
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
            else:
                return "unknown scenario key %r" % k
        with self.lock:
            for k in allowed:
                if k in obj:
                    self.scenario[k] = obj[k]
            if "delay" in obj:
                self.scenario["delay"] = float(obj["delay"])
            targets = [k for k in ("submit", "poll") if k in obj] or \
                (["submit", "poll"] if "count" in obj else [])
            for k in targets:
                self.left[k] = obj.get("count") if self.scenario[k] != "ok" else None
        return None

    def take(self, which):
        """The submit/poll mode for this request, consuming one of its count."""
        with self.lock:
            mode, delay = self.scenario[which], self.scenario["delay"]
            if mode != "ok" and self.left[which] is not None:
                self.left[which] -= 1
                if self.left[which] <= 0:
                    self.scenario[which], self.left[which] = "ok", None
            return mode, delay

    def record_token(self, authorization, code, claims, path):
        with self.lock:
            self.tokens.append({"time": time.time(), "path": path, "verdict": code,
                                "claims": claims, "authorization": authorization})
            if code:
                self.counters["auth_failures"] += 1

    def create(self, kind, body, claims, parent=None):
        """Creates a task; None when its external_task_id is taken.  parent:
        an extension's source task."""
        ext = body.get("external_task_id") or None
        with self.lock:
            if ext is not None and ext in self.by_ext:
                return None
            tid = "8%017d" % (next(self.ids) * 7919 + 1000003)   # looks like Kling's numeric ids
            duration = body.get("duration", "5")
            if parent is not None:
                duration = "%g" % (float(parent["duration"]) + EXTEND_STEP)
            task = {"task_id": tid, "external_task_id": ext, "endpoint": kind, "body": body,
                    "claims": claims, "created": time.time(), "outcome": self.scenario["outcome"],
                    "duration": duration,
                    "model_name": (parent or body).get("model_name", "kling-v1"),
                    "parent": parent and {"id": "v" + parent["task_id"],
                                          "url": self.file_url(parent),
                                          "duration": "%.1f" % float(parent["duration"])}}
            self.tasks[tid] = task
            if ext is not None:
                self.by_ext[ext] = task
            self.counters["submits_accepted"] += 1
        threading.Thread(target=self.video, args=(task["duration"],), daemon=True).start()
        return task

    def find(self, ident):
        with self.lock:
            return self.tasks.get(ident) or self.by_ext.get(ident)

    def find_video(self, video_id):
        """The task whose result is the video video_id (v<task_id>), if it succeeded."""
        t = self.tasks.get(video_id[1:]) if video_id.startswith("v") else None
        return t if t is not None and self.status(t)[0] == "succeed" else None

    def file_url(self, t):
        return "http://%s:%d/files/%s.mp4" % (self.args.host, self.port, t["task_id"])

    def status(self, t):
        """(task_status, time it was entered): one --step-seconds per step."""
        step, born = self.args.step_seconds, t["created"]
        elapsed = time.time() - born
        if elapsed < step:
            return "submitted", born
        if elapsed < 2 * step or t["outcome"] == "never":
            return "processing", born + step
        return t["outcome"], born + 2 * step

    def task_json(self, t):
        """The task object of Kling's query response `data`."""
        st, since = self.status(t)
        d = {"task_id": t["task_id"], "task_status": st,
             "task_status_msg": FAIL_MSG if st == "failed" else "",
             "task_info": task_info(t),
             "created_at": ms(t["created"]), "updated_at": ms(since)}
        if st == "succeed":
            d["final_unit_deduction"] = "1"
            d["task_result"] = {"videos": [{
                "id": "v" + t["task_id"], "url": self.file_url(t),
                "duration": "%.1f" % float(t["duration"])}]}
        return d

    def video(self, duration):
        """Path of the MP4 for a duration, made with ffmpeg once and cached."""
        with self.lock:
            lk = self.video_locks.setdefault(duration, threading.Lock())
        path = os.path.join(self.videodir, "%s.mp4" % duration)
        with lk:
            if not os.path.exists(path):
                tmp = path + ".part.mp4"
                subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
                                "-i", "testsrc2=s=320x180:r=12", "-t", str(duration),
                                "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
                                "-movflags", "+faststart", tmp],
                               check=True, stdout=subprocess.DEVNULL, timeout=120)
                os.replace(tmp, path)
        return path


# ---------------------------------------------------------------- HTTP

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kling/1.0"

    def log_message(self, fmt, *args):      # we log one line per request ourselves
        pass

    def do_GET(self): self.dispatch("GET")      # noqa: E704
    def do_POST(self): self.dispatch("POST")    # noqa: E704
    def do_HEAD(self): self.dispatch("HEAD")    # noqa: E704

    # -- responses
    def send(self, status, body=b"", ctype="application/json", headers=()):
        self.outcome = str(status)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def kling(self, status, code, message, data=None):
        obj = {"code": code, "message": message, "request_id": self.rid}
        if data is not None:
            obj["data"] = data
        self.send(status, json.dumps(obj).encode())

    def ok(self, data):
        self.kling(200, 0, "SUCCEED", data)

    def err(self, status, code, message):
        self.outcome_code = code
        self.kling(status, code, message)

    def reset_conn(self):
        """Closes the connection without answering (RST thanks to linger 0)."""
        self.outcome = "RESET"
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    # -- dispatch
    def dispatch(self, method):
        self.state = self.server.state
        self.rid, self.outcome, self.outcome_code, t0 = str(uuid.uuid4()), "-", None, time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        try:
            raw = self.read_body()
            if url.path.startswith("/_fake/"):
                self.control(method, url.path, raw)
            elif url.path.startswith("/files/"):
                self.file(method, url.path)
            else:
                m = re.fullmatch(r"/v1/videos/(text2video|image2video|video-extend)(?:/([^/]+))?",
                                 url.path)
                if not m:
                    self.err(404, 1203, "resource not found")
                elif method == "POST" and m.group(2) is None:
                    self.submit(m.group(1), raw)
                elif method == "GET" and m.group(2) is None:
                    self.list(m.group(1), urllib.parse.parse_qs(url.query))
                elif method == "GET":
                    self.query(m.group(1), urllib.parse.unquote(m.group(2)))
                else:
                    self.err(404, 1202, "invalid request method")
        except (BrokenPipeError, ConnectionResetError):
            self.outcome, self.close_connection = "client-gone", True
        except Exception:
            traceback.print_exc()
            if self.outcome == "-":
                self.err(500, 5000, "fake server bug")
        finally:
            sys.stderr.write("fake_kling: %s %s -> %s%s rid=%s %.0fms\n" % (
                method, self.path, self.outcome,
                " code=%s" % self.outcome_code if self.outcome_code is not None else "",
                self.rid, (time.monotonic() - t0) * 1000))
            sys.stderr.flush()

    def read_body(self):
        """The request body, by Content-Length or chunked (as curl may send it)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raw = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0], 16)
                if n == 0:                                 # last chunk, then trailers
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return raw
                raw += self.rfile.read(n + 2)[:n]          # chunk + CRLF
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def auth(self):
        """The token's claims, or None after answering 401."""
        a = self.headers.get("Authorization")
        code, claims = check_jwt(a, self.server.args.access_key, self.server.args.secret_key, time.time())
        self.state.record_token(a, code, claims, self.path)
        if code:
            self.err(401, code, AUTH_MESSAGES[code])
            return None
        return claims

    def poll_misbehaves(self):
        """Applies the poll scenario; True when it has answered."""
        mode, _ = self.state.take("poll")
        if mode in ERRORS:
            self.err(*ERRORS[mode])
        elif mode == "reset":
            self.reset_conn()
        elif mode == "invalid_json":
            self.send(200, BROKEN_JSON)
        else:
            return False
        return True

    # -- Kling API
    def submit(self, kind, raw):
        self.state.bump("submits_received")
        claims = self.auth()
        if claims is None:
            return
        mode, delay = self.state.take("submit")
        if mode in ERRORS:
            return self.err(*ERRORS[mode])
        if mode == "reset":
            return self.reset_conn()
        if mode == "invalid_json":
            return self.send(200, BROKEN_JSON)
        if mode == "slow":
            time.sleep(delay)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self.err(400, 1200, "Invalid request parameters: body must be a JSON object")
        problem = validate(kind, body)
        if problem:
            return self.err(400, 1201, "Invalid parameters: " + problem)
        parent = None
        if kind == "video-extend":
            parent = self.state.find_video(body["video_id"])
            if parent is None:
                return self.err(400, 1201, "Invalid parameters: video_id %s is not a video of "
                                "this account that can be extended" % body["video_id"])
            if parent["model_name"] == "kling-v1-5":
                return self.err(400, 1201, "Invalid parameters: videos of kling-v1-5 cannot be "
                                "extended")
            if float(parent["duration"]) + EXTEND_STEP > EXTEND_TOTAL_MAX:
                return self.err(400, 1201, "Invalid parameters: the extended video would be "
                                "longer than 3 minutes")
        task = self.state.create(kind, body, claims, parent)
        if task is None:
            return self.err(400, 1201, "external_task_id already exists")
        data = {"task_id": task["task_id"], "task_status": "submitted",
                "task_info": task_info(task),
                "created_at": ms(task["created"]), "updated_at": ms(task["created"])}
        if mode == "hold":                   # the task exists; the answer is late
            self.outcome = "HOLD"
            time.sleep(delay)
        self.ok(data)

    def query(self, kind, ident):
        self.state.bump("polls")
        if self.auth() is None or self.poll_misbehaves():
            return
        t = self.state.find(ident)
        if t is None or t["endpoint"] != kind:
            return self.err(404, 1203, "task not found")
        self.ok(self.state.task_json(t))

    def list(self, kind, q):
        self.state.bump("polls")
        if self.auth() is None or self.poll_misbehaves():
            return
        try:
            page, size = int(q.get("pageNum", ["1"])[0]), int(q.get("pageSize", ["30"])[0])
        except ValueError:
            page = size = 0
        if page < 1 or not 1 <= size <= 500:
            return self.err(400, 1201, "Invalid parameters: pageNum >= 1, pageSize in [1, 500]")
        with self.state.lock:
            mine = [t for t in reversed(list(self.state.tasks.values())) if t["endpoint"] == kind]
        self.ok([self.state.task_json(t) for t in mine[(page - 1) * size: page * size]])

    # -- the CDN: /files/<task_id>.mp4 (scenario "result"), /files/raw/<task_id>.mp4 (always plain)
    def file(self, method, path):
        m = re.fullmatch(r"/files/(raw/)?([0-9A-Za-z_-]+)\.mp4", path)
        t = self.state.find(m.group(2)) if m and method in ("GET", "HEAD") else None
        if t is None or t["task_id"] != m.group(2) or self.state.status(t)[0] != "succeed":
            return self.send(404, b"not found\n", "text/plain")
        res = "ok" if m.group(1) else self.state.scenario["result"]
        delay = self.state.scenario["delay"]
        if res == "404":
            return self.send(404, b"not found\n", "text/plain")
        if res in ("redirect_private", "redirect_loopback"):
            to = "http://10.0.0.1/x.mp4" if res == "redirect_private" else \
                "http://127.0.0.1:%d/files/raw/%s.mp4" % (self.state.port, t["task_id"])
            return self.send(302, b"", "text/plain", [("Location", to)])
        try:
            with open(self.state.video(t["duration"]), "rb") as f:
                data = f.read()
        except (OSError, subprocess.SubprocessError) as e:
            self.send(500, ("cannot make the MP4: %s\n" % e).encode(), "text/plain")
            return
        if method == "GET":
            self.state.bump("downloads")
        if res != "slow" or method == "HEAD":
            return self.send(200, data, "video/mp4")
        # slow: the full Content-Length up front, then 20 pieces over `delay` seconds
        self.outcome = "200-slow"
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        piece = -(-len(data) // 20)
        for i in range(0, len(data), piece):
            self.wfile.write(data[i:i + piece])
            self.wfile.flush()
            time.sleep(delay / 20)

    # -- control API
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
            return self.send(200, json.dumps(st.scenario_view()).encode())
        if path == "/_fake/scenario" and method == "GET":
            return self.send(200, json.dumps(st.scenario_view()).encode())
        if path == "/_fake/reset" and method == "POST":
            st.reset()
            return self.send(200, b'{"reset":true}')
        if path == "/_fake/jobs" and method == "GET":
            with st.lock:
                tasks, tokens, counters = list(st.tasks.values()), list(st.tokens), dict(st.counters)
            out = {"tasks": [{"task_id": t["task_id"], "external_task_id": t["external_task_id"],
                              "endpoint": t["endpoint"], "body": t["body"], "claims": t["claims"],
                              "created_at": ms(t["created"]), "task_status": st.status(t)[0],
                              "outcome": t["outcome"], "duration": t["duration"],
                              "parent": t["parent"]} for t in tasks],
                   "tokens": tokens, "scenario": st.scenario_view()}
            out.update(counters)
            return self.send(200, json.dumps(out).encode())
        self.send(404, b'{"error":"unknown control endpoint"}')


# ---------------------------------------------------------------- main

def serve(args):
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


# ---------------------------------------------------------------- self-test

def self_test():
    """Runs a real server process and drives every feature; raises on failure."""
    ak, sk = "AKselftest", "SKselftest-secret"
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--port", "0", "--access-key",
                             ak, "--secret-key", sk, "--step-seconds", "0.3"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().split()
    assert line[:1] == ["ready"], "no ready line: %r" % line
    port, tok = int(line[1]), mint_jwt(ak, sk)
    T2V, I2V = "/v1/videos/text2video", "/v1/videos/image2video"
    PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 32).decode()

    def req(method, path, body=None, token=tok, timeout=10):
        """(status, raw body, response); a dict body is sent as JSON."""
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        h = {"Authorization": "Bearer " + token} if token else {}
        if body is not None and not isinstance(body, bytes):
            body, h["Content-Type"] = json.dumps(body).encode(), "application/json"
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, r.read(), r
        finally:
            c.close()

    def jreq(method, path, body=None, **kw):
        status, raw, _ = req(method, path, body, **kw)
        return status, json.loads(raw)

    def scen(**kw):
        assert jreq("POST", "/_fake/scenario", kw, token=None)[0] == 200, kw

    def expect(status, code, method, path, body=None, **kw):
        s, j = jreq(method, path, body, **kw)
        assert (s, j["code"]) == (status, code) and j["request_id"], (method, path, body, s, j)
        return j

    def submit(path=T2V, body=None):
        return expect(200, 0, "POST", path, body or {"prompt": "x"})["data"]["task_id"]

    def wait_status(kind, ident, want):
        for _ in range(100):
            d = expect(200, 0, "GET", "/v1/videos/%s/%s" % (kind, ident))["data"]
            if d["task_status"] == want:
                return d
            time.sleep(0.05)
        raise AssertionError("%s never reached %s: %s" % (ident, want, d))

    def no_answer(method, path, body=None, timeout=10):
        try:
            req(method, path, body, timeout=timeout)
        except (http.client.HTTPException, OSError):     # reset, EOF or timeout
            return
        raise AssertionError("%s %s was answered" % (method, path))

    try:
        # --- auth
        for code, t in ((1001, None), (1002, "garbage"), (1002, mint_jwt(ak, "wrong")),
                        (1000, mint_jwt("other", sk)), (1004, mint_jwt(ak, sk, exp_in=-1)),
                        (1003, mint_jwt(ak, sk, nbf_off=60)), (1002, mint_jwt(ak, sk, alg="none"))):
            expect(401, code, "POST", T2V, {"prompt": "x"}, token=t)
        expect(200, 0, "POST", T2V, {"prompt": "x"}, token=mint_jwt(ak, sk, nbf_off=3))  # skew
        # --- validation
        for bad in ({}, {"prompt": ""}, {"prompt": "x" * 2501}, {"prompt": "x", "duration": 5},
                    {"prompt": "x", "duration": "7"}, {"prompt": "x", "aspect_ratio": "4:3"},
                    {"prompt": "x", "mode": "fast"}, {"prompt": "x", "model_name": 1},
                    {"prompt": "x", "cfg_scale": 2}):
            expect(400, 1201, "POST", T2V, bad)
        for bad in ({"prompt": "x"}, {"image": "data:image/png;base64," + PNG}, {"image": "!!"}):
            expect(400, 1201, "POST", I2V, bad)
        expect(400, 1200, "POST", T2V, b"[1,2]")
        expect(400, 1200, "POST", T2V, b"{not json")
        # --- success: t2v with external_task_id, walk, fetch by either id, download
        d = expect(200, 0, "POST", T2V, {"prompt": "a cat", "duration": "5", "aspect_ratio": "16:9",
                                         "mode": "std", "model_name": "kling-v1",
                                         "external_task_id": "ext-1"})["data"]
        assert d["task_status"] == "submitted" and d["task_info"] == {"external_task_id": "ext-1"}, d
        assert d["created_at"] == d["updated_at"] > 1e12, d
        tid = d["task_id"]
        expect(400, 1201, "POST", T2V, {"prompt": "again", "external_task_id": "ext-1"})
        expect(400, 1201, "POST", I2V, {"image": PNG, "external_task_id": "ext-1"})
        wait_status("text2video", tid, "processing")
        d = wait_status("text2video", "ext-1", "succeed")
        v = d["task_result"]["videos"][0]
        assert d["task_id"] == tid and v["duration"] == "5.0" and d["task_status_msg"] == "", d
        assert v["url"] == "http://127.0.0.1:%d/files/%s.mp4" % (port, tid), v
        s, mp4, r = req("GET", "/files/%s.mp4" % tid, token=None, timeout=60)
        assert s == 200 and mp4[4:8] == b"ftyp" and r.getheader("Content-Type") == "video/mp4", s
        expect(404, 1203, "GET", I2V + "/" + tid)                 # path must match the submit
        expect(404, 1203, "GET", T2V + "/nope")
        expect(404, 1202, "POST", T2V + "/" + tid, {})
        lst = expect(200, 0, "GET", T2V + "?pageNum=1&pageSize=30")["data"]
        assert tid in [x["task_id"] for x in lst], lst
        expect(400, 1201, "GET", T2V + "?pageNum=0")
        # --- success: i2v, 10 s, no external id
        iid = submit(I2V, {"image": PNG, "duration": "10"})
        d = wait_status("image2video", iid, "succeed")
        assert d["task_result"]["videos"][0]["duration"] == "10.0" and d["task_info"] == {}, d
        # --- video-extend: of a succeeded video, by its video id; 4.5 s more each time
        EXT = "/v1/videos/video-extend"
        expect(400, 1201, "POST", EXT, {"video_id": "v" + tid, "prompt": "on",
                                        "external_task_id": "e-1"})
        expect(400, 1201, "POST", EXT, {"video_id": "v" + tid, "model_name": "kling-v1"})
        expect(400, 1201, "POST", EXT, {"prompt": "no video"})
        expect(400, 1201, "POST", EXT, {"video_id": "vnope", "prompt": "x"})
        expect(400, 1201, "POST", EXT, {"video_id": "v" + submit(), "prompt": "not done"})
        eid = submit(EXT, {"video_id": "v" + tid, "prompt": "and then"})
        d = wait_status("video-extend", eid, "succeed")
        assert d["task_info"] == {"parent_video": {"id": "v" + tid, "duration": "5.0",
                                                   "url": v["url"]}}, d
        assert d["task_result"]["videos"][0]["duration"] == "9.5", d
        expect(404, 1203, "GET", T2V + "/" + eid)
        e2 = submit(EXT, {"video_id": d["task_result"]["videos"][0]["id"], "prompt": "more",
                          "negative_prompt": "blur", "cfg_scale": 0.5})
        d2 = wait_status("video-extend", e2, "succeed")
        assert d2["task_result"]["videos"][0]["duration"] == "14.0", d2
        s, ext_mp4, _ = req("GET", "/files/%s.mp4" % e2, token=None, timeout=60)
        assert s == 200 and ext_mp4[4:8] == b"ftyp", s
        v15 = submit(T2V, {"prompt": "old model", "model_name": "kling-v1-5"})
        wait_status("text2video", v15, "succeed")
        expect(400, 1201, "POST", EXT, {"video_id": "v" + v15, "prompt": "x"})
        assert eid in [x["task_id"] for x in expect(200, 0, "GET", EXT)["data"]]
        # --- submit scenarios
        for mode in ("429_1302", "429_1303", "429_1102", "400_1301", "500", "503"):
            scen(submit=mode, count=1)
            expect(ERRORS[mode][0], ERRORS[mode][1], "POST", T2V, {"prompt": "x"})
            submit()
        scen(submit="429_1302", count=2)
        assert [jreq("POST", T2V, {"prompt": "x"})[0] for _ in range(3)] == [429, 429, 200]
        scen(submit="reset", count=1)
        no_answer("POST", T2V, {"prompt": "x"})
        scen(submit="invalid_json", count=1)
        assert req("POST", T2V, {"prompt": "x"})[:2] == (200, BROKEN_JSON)
        scen(submit="slow", delay=0.5, count=1)
        t0 = time.time()
        submit()
        assert time.time() - t0 >= 0.5
        before = jreq("GET", "/_fake/jobs", token=None)[1]["submits_accepted"]
        scen(submit="hold", delay=2, count=1)
        no_answer("POST", T2V, {"prompt": "held", "external_task_id": "held-1"}, timeout=0.5)
        j = jreq("GET", "/_fake/jobs", token=None)[1]
        assert j["submits_accepted"] == before + 1 and j["tasks"][-1]["external_task_id"] == "held-1"
        # --- poll scenarios
        for mode in ("500", "429_1302"):
            scen(poll=mode, count=1)
            expect(ERRORS[mode][0], ERRORS[mode][1], "GET", T2V + "/" + tid)
        scen(poll="invalid_json", count=1)
        assert req("GET", T2V + "/" + tid)[:2] == (200, BROKEN_JSON)
        scen(poll="reset", count=1)
        no_answer("GET", T2V + "/" + tid)
        expect(200, 0, "GET", T2V + "/" + tid)
        # --- outcomes (fixed at submit time)
        scen(outcome="failed")
        d = wait_status("text2video", submit(), "failed")
        assert d["task_status_msg"] == FAIL_MSG and "task_result" not in d, d
        assert req("GET", "/files/%s.mp4" % d["task_id"], token=None)[0] == 404
        scen(outcome="never")
        nid = submit()
        time.sleep(1.0)
        assert jreq("GET", T2V + "/" + nid)[1]["data"]["task_status"] == "processing"
        # --- result scenarios (applied at download time)
        scen(result="404")
        assert req("GET", "/files/%s.mp4" % tid, token=None)[0] == 404
        for res, want in (("redirect_private", "http://10.0.0.1/x.mp4"),
                          ("redirect_loopback", "http://127.0.0.1:%d/files/raw/%s.mp4" % (port, tid))):
            scen(result=res)
            s, _, r = req("GET", "/files/%s.mp4" % tid, token=None)
            assert s == 302 and r.getheader("Location") == want, (res, s, r.getheader("Location"))
        assert req("GET", "/files/raw/%s.mp4" % tid, token=None)[:2] == (200, mp4)
        scen(result="slow", delay=0.5)
        t0 = time.time()
        assert req("GET", "/files/%s.mp4" % tid, token=None)[:2] == (200, mp4)
        assert time.time() - t0 >= 0.45
        # --- bookkeeping, control errors, reset
        j = jreq("GET", "/_fake/jobs", token=None)[1]
        assert j["auth_failures"] == 7 and j["downloads"] == 4 and j["polls"] > 0, j
        assert j["submits_received"] > j["submits_accepted"] > 0, j
        t = [x for x in j["tasks"] if x["task_id"] == tid][0]
        assert t["endpoint"] == "text2video" and t["body"]["prompt"] == "a cat", t
        assert t["claims"]["iss"] == ak and t["task_status"] == "succeed", t
        assert any(x["verdict"] == 1004 for x in j["tokens"]), j["tokens"]
        for bad in ({"submit": "nope"}, {"count": 0}, {"delay": -1}, {"bogus": 1}):
            assert jreq("POST", "/_fake/scenario", bad, token=None)[0] == 400, bad
        assert jreq("POST", "/_fake/reset", {}, token=None)[0] == 200
        j = jreq("GET", "/_fake/jobs", token=None)[1]
        assert j["tasks"] == [] and j["submits_received"] == 0 and j["scenario"]["submit"] == "ok", j
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
    assert rc == 0, "exit status %s after SIGTERM" % rc
    print("self-test ok")


def main():
    p = argparse.ArgumentParser(description="Fake Kling video API for reelgate's tests")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--access-key")
    p.add_argument("--secret-key")
    p.add_argument("--step-seconds", type=float, default=0.5)
    p.add_argument("--self-test", action="store_true")
    args = p.parse_args()
    if args.self_test:
        try:
            self_test()
        except Exception:
            traceback.print_exc()
            print("self-test FAILED", file=sys.stderr)
            sys.exit(1)
        return
    if not args.access_key or not args.secret_key:
        p.error("--access-key and --secret-key are required")
    serve(args)


if __name__ == "__main__":
    main()
