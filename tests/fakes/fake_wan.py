#!/usr/bin/env python3
"""A fake Alibaba DashScope / Model Studio Wan video API for reelgate's tests.

It follows /work/shared/research/providers-2.md section 3 and providers.md
section 3 (DashScope), checked against the official SDK
(dashscope/dashscope-sdk-python: aigc/video_synthesis.py, client/base_api.py):

  POST /api/v1/services/aigc/video-generation/video-synthesis   (t2v, i2v, wan2.7)
  POST /api/v1/services/aigc/image2video/video-synthesis        (kf2v models only)
       Authorization: Bearer <key>, X-DashScope-Async: enable (required)
       {"model", "input": {...}, "parameters": {...}}
       -> {"request_id", "output": {"task_id", "task_status": "PENDING"}}
  GET  /api/v1/tasks/{task_id}      -> output.task_status PENDING -> RUNNING ->
       SUCCEEDED (output.video_url, usage) | FAILED (output.code, message);
       CANCELED after a cancel; UNKNOWN for an id it does not know
  POST /api/v1/tasks/{task_id}/cancel   PENDING only, else 400
  GET  /api/v1/tasks?start_time=YYYYMMDDhhmmss&end_time=...&model_name=&status=
       &page_no=&page_size=   -> {"request_id", "data": [...], "total", ...}
Errors are the HTTP status plus {"request_id", "code", "message"}.

What the SDK does not settle (the list's answer shape and time zone, the
cancel's refusal code) is the fake's assumption, as docs/backends.md says:
the list's times are read as UTC+8 (Beijing), its entries carry
gmt_create in epoch milliseconds.

Misbehaviour is scripted through /_fake/ (no auth), as fake_kling.py does:
  POST /_fake/scenario  {"submit", "poll", "list", "outcome", "result", "count",
                         "delay", "retry_after", "pending_seconds"}
  GET  /_fake/scenario, POST /_fake/reset, GET /_fake/jobs
Usage: fake_wan.py --port PORT --api-key KEY [--host 127.0.0.1] [--step-seconds 0.5]
Prints "ready PORT"; SIGTERM exits.  Standard library only (and ffmpeg).
"""

import argparse, base64, binascii, calendar, itertools, json, os, re, shutil, signal, socket, struct
import subprocess, sys, tempfile, threading, time, traceback, urllib.parse, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fakelib

API = "/api/v1"
# scenario mode -> (HTTP status, DashScope code, message)
ERRORS = {
    "429_throttling": (429, "Throttling", "Requests throttling triggered."),
    "429_ratequota": (429, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later."),
    "429_allocation": (429, "Throttling.AllocationQuota", "Allocated quota exceeded, please increase your quota limit."),
    "400_datainspection": (400, "DataInspectionFailed", "Input data may contain inappropriate content."),
    "400_ipinfringement": (400, "IPInfringementSuspect", "Input data is suspected of being involved in IP infringement."),
    "400_arrearage": (400, "Arrearage", "Access denied, please make sure your account is in good standing."),
    "401_expired": (401, "InvalidApiKey", "Invalid API-key provided."),
    "500": (500, "InternalError", "An internal error has occured, please try again later."),
    "503": (503, "ServiceUnavailable", "Service is temporarily unavailable."),
}
SUBMIT_MODES = set(ERRORS) | {"ok", "reset", "invalid_json", "slow", "hold", "lost"}
POLL_MODES = {"ok", "500", "429_throttling", "invalid_json", "reset", "hang"}
LIST_MODES = {"ok", "500", "no_gmt_create"}
OUTCOMES = {"succeed", "failed", "content", "never"}
RESULTS = {"ok", "404", "redirect_other_host", "redirect_private", "slow"}
FAIL = ("InternalError.Algo", "Video generation failed: the algorithm could not render the scene.")
CONTENT = ("DataInspectionFailed", "Output data may contain inappropriate content.")
CANCEL_REFUSED = ("UnsupportedOperation",
                  "Failed to cancel the task, please confirm if the task is in PENDING status.")
COUNTERS = ("submits_received", "submits_accepted", "polls", "lists", "cancels", "downloads",
            "auth_failures")
BROKEN_JSON = b'{"request_id":"x","output":{"task_id":"'
BEIJING = 8 * 3600

T2V = {"wanx2.1-t2v-turbo", "wanx2.1-t2v-plus", "wan2.1-t2v-turbo", "wan2.1-t2v-plus",
       "wan2.2-t2v-plus", "wan2.5-t2v-preview", "wan2.6-t2v", "wan2.7-t2v"}
I2V = {"wanx2.1-i2v-turbo", "wanx2.1-i2v-plus", "wan2.1-i2v-turbo", "wan2.1-i2v-plus",
       "wan2.2-i2v-plus", "wan2.2-i2v-flash", "wan2.5-i2v-preview", "wan2.6-i2v", "wan2.7-i2v"}
KF2V = {"wanx2.1-kf2v-plus", "wan2.2-kf2v-flash"}
SIZES = {"832*480", "480*832", "624*624", "1280*720", "720*1280", "960*960", "1088*832",
         "832*1088", "1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632"}
TIERS = {"480P", "720P", "1080P"}
RATIOS = {"16:9", "9:16", "1:1", "4:3", "3:4"}
MEDIA_TYPES = {"first_frame", "last_frame", "driving_audio", "first_clip"}


class Refused(Exception):
    """A request DashScope refuses: (HTTP status, code, message)."""


def durations(model):
    if model.startswith("wan2.5"):
        return {5, 10}
    if model.startswith(("wan2.6", "wan2.7")):
        return set(range(2, 16))
    return {5}


def check_image(name, v):
    """An image DashScope takes: an http(s) URL or a data: URL of base64."""
    if not isinstance(v, str) or not v:
        raise Refused(400, "InvalidParameter", "%s must be a non-empty string" % name)
    if re.match(r"https?://", v):
        return
    m = re.fullmatch(r"data:image/(png|jpeg|jpg|webp|bmp);base64,(.+)", v, re.S)
    if not m:
        raise Refused(400, "InvalidParameter",
                      "%s must be a URL or a data URI (data:{MIME};base64,...)" % name)
    try:
        base64.b64decode(m.group(2), validate=True)
    except (ValueError, binascii.Error):
        raise Refused(400, "InvalidParameter", "%s: the base64 data is invalid" % name)


def check_type(d, key, kind, what):
    if key in d and (not isinstance(d[key], kind) or (kind is int and isinstance(d[key], bool))):
        raise Refused(400, "InvalidParameter", "%s.%s must be %s" % (what, key, kind.__name__))


def validate(path_kind, b):
    """DashScope's checks of a create; raises Refused."""
    if not isinstance(b, dict):
        raise Refused(400, "InvalidParameter", "the body must be a JSON object")
    extra = set(b) - {"model", "input", "parameters"}
    if extra:
        raise Refused(400, "InvalidParameter", "unknown field(s): %s" % sorted(extra))
    model = b.get("model")
    if not model:
        raise Refused(400, "BadRequest.EmptyModel", 'Required parameter "model" missing from request.')
    if not isinstance(model, str) or model not in T2V | I2V | KF2V:
        raise Refused(400, "InvalidParameter", "Model not exist.")
    if (path_kind == "image2video") != (model in KF2V):
        raise Refused(400, "InvalidParameter", "Model %s is not supported on this API path." % model)
    inp = b.get("input")
    if not isinstance(inp, dict):
        raise Refused(400, "BadRequest.EmptyInput", 'Required parameter "input" missing from request.')
    par = b.get("parameters", {})
    if not isinstance(par, dict):
        raise Refused(400, "InvalidParameter", "parameters must be an object")
    w27 = model.startswith("wan2.7")
    allowed_in = {"prompt", "negative_prompt", "extend_prompt"}
    allowed_par = {"duration", "seed", "prompt_extend", "watermark"}
    if model.startswith(("wan2.5", "wan2.6", "wan2.7")):
        allowed_in.add("audio_url")
        allowed_par |= {"audio"}
    if model.startswith(("wan2.6", "wan2.7")):
        allowed_par |= {"shot_type", "audio_setting"}
    if model in T2V:
        allowed_par |= {"resolution", "ratio"} if w27 else {"size"}
    elif model in I2V:
        allowed_in |= {"media"} if w27 else {"img_url"}
        allowed_par |= {"resolution"}
    else:
        allowed_in |= {"first_frame_url", "last_frame_url"}
        allowed_par |= {"resolution"}
    for what, d, allowed in (("input", inp, allowed_in), ("parameters", par, allowed_par)):
        bad = set(d) - allowed
        if bad:
            raise Refused(400, "InvalidParameter",
                          "%s: field(s) %s are not supported by model %s" % (what, sorted(bad), model))
    prompt = inp.get("prompt")
    if model in T2V and (not isinstance(prompt, str) or not prompt.strip()):
        raise Refused(400, "InvalidParameter", "input.prompt is required")
    for k in ("prompt", "negative_prompt", "audio_url"):
        check_type(inp, k, str, "input")
    if len(inp.get("negative_prompt", "")) > 500:
        raise Refused(400, "InvalidParameter", "input.negative_prompt is longer than 500 characters")
    if model in I2V and not w27:
        if "img_url" not in inp:
            raise Refused(400, "InvalidParameter", "input.img_url is required")
        check_image("img_url", inp["img_url"])
    if model in I2V and w27:
        media = inp.get("media")
        if not isinstance(media, list) or not media:
            raise Refused(400, "InvalidParameter", "input.media is required")
        for item in media:
            if not isinstance(item, dict) or set(item) != {"type", "url"} or \
                    item["type"] not in MEDIA_TYPES:
                raise Refused(400, "InvalidParameter", "input.media items are {type, url}")
            check_image("media.url", item["url"])
    if model in KF2V:
        if "first_frame_url" not in inp:
            raise Refused(400, "InvalidParameter", "input.first_frame_url is required")
        for k in ("first_frame_url", "last_frame_url"):
            if k in inp:
                check_image(k, inp[k])
    for k, kind in (("duration", int), ("seed", int), ("prompt_extend", bool), ("watermark", bool),
                    ("audio", bool), ("size", str), ("resolution", str), ("ratio", str),
                    ("shot_type", str), ("audio_setting", str)):
        check_type(par, k, kind, "parameters")
    if "size" in par and par["size"] not in SIZES:
        raise Refused(400, "InvalidParameter", "The size is not match the allowed size (e.g. 1280*720).")
    if "resolution" in par and par["resolution"] not in TIERS:
        raise Refused(400, "InvalidParameter", "resolution must be one of 480P, 720P, 1080P")
    if "ratio" in par and par["ratio"] not in RATIOS:
        raise Refused(400, "InvalidParameter", "ratio must be one of %s" % sorted(RATIOS))
    if "duration" in par and par["duration"] not in durations(model):
        raise Refused(400, "InvalidParameter", "duration %r is not supported by %s" % (par["duration"], model))
    if "seed" in par and not 0 <= par["seed"] <= 2147483647:
        raise Refused(400, "InvalidParameter", "seed must be in [0, 2147483647]")
    if "shot_type" in par and par["shot_type"] not in ("single", "multi"):
        raise Refused(400, "InvalidParameter", "shot_type must be single or multi")


def stamp(t):
    """DashScope's times: "YYYY-MM-DD HH:MM:SS.mmm", Beijing time."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t + BEIJING)) + ".%03d" % (int(t * 1000) % 1000)


class State:
    def __init__(self, args):
        self.args = args
        self.port = 0
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.videos = fakelib.VideoCache("fake-wan-", 12)
        self.reset()

    def reset(self):
        with self.lock:
            self.tasks = {}
            self.counters = dict.fromkeys(COUNTERS, 0)
            self.requests = []              # (path, method, Authorization present, async header)
            self.downloads = []             # {"path", "authorization"}
            self.cancels = []               # {"task_id", "answer"}
            self.lists = []                 # the list queries
            self.scenario = {"submit": "ok", "poll": "ok", "list": "ok", "outcome": "succeed",
                             "result": "ok", "delay": 10.0, "retry_after": None,
                             "pending_seconds": None}
            self.left = {"submit": None, "poll": None, "list": None}

    def bump(self, name):
        with self.lock:
            self.counters[name] += 1

    def scenario_view(self):
        return dict(self.scenario, submit_left=self.left["submit"], poll_left=self.left["poll"],
                    list_left=self.left["list"])

    def scenario_set(self, obj):
        allowed = {"submit": SUBMIT_MODES, "poll": POLL_MODES, "list": LIST_MODES,
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
            elif k in ("delay", "retry_after", "pending_seconds"):
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                    return "%s must be a number >= 0" % k
            else:
                return "unknown scenario key %r" % k
        with self.lock:
            for k in list(allowed) + ["delay", "retry_after", "pending_seconds"]:
                if k in obj:
                    self.scenario[k] = obj[k]
            targets = [k for k in ("submit", "poll", "list") if k in obj] or \
                (["submit", "poll", "list"] if "count" in obj else [])
            for k in targets:
                self.left[k] = obj.get("count") if self.scenario[k] != "ok" else None
        return None

    def take(self, which):
        with self.lock:
            mode, delay = self.scenario[which], self.scenario["delay"]
            if mode != "ok" and self.left[which] is not None:
                self.left[which] -= 1
                if self.left[which] <= 0:
                    self.scenario[which], self.left[which] = "ok", None
            return mode, delay

    def create(self, body, path_kind):
        with self.lock:
            n = next(self.ids)
            tid = "%08x-%04x-4%03x-a%03x-%012x" % (n * 2654435761 % 2**32, n, n % 4096, n % 4096, n)
            par = body.get("parameters", {})
            task = {"task_id": tid, "body": body, "path": path_kind, "created": time.time(),
                    "outcome": self.scenario["outcome"], "canceled": None,
                    "pending": self.scenario["pending_seconds"] or self.args.step_seconds,
                    "duration": par.get("duration", 5), "model": body["model"]}
            self.tasks[tid] = task
            self.counters["submits_accepted"] += 1
        threading.Thread(target=self.video, args=(task["duration"],), daemon=True).start()
        return task

    def status(self, t):
        """(task_status, since)."""
        if t["canceled"] is not None:
            return "CANCELED", t["canceled"]
        born, step = t["created"], self.args.step_seconds
        run_at = born + t["pending"]
        now = time.time()
        if now < run_at:
            return "PENDING", born
        if now < run_at + step or t["outcome"] == "never":
            return "RUNNING", run_at
        return {"succeed": "SUCCEEDED", "failed": "FAILED", "content": "FAILED"}[t["outcome"]], run_at + step

    def task_json(self, t):
        st, since = self.status(t)
        inp = t["body"].get("input", {})
        out = {"task_id": t["task_id"], "task_status": st, "submit_time": stamp(t["created"])}
        if st != "PENDING":
            out["scheduled_time"] = stamp(since if st == "RUNNING" else t["created"] + t["pending"])
        if st in ("SUCCEEDED", "FAILED", "CANCELED"):
            out["end_time"] = stamp(since)
        d = {"request_id": str(uuid.uuid4()), "output": out}
        if st == "SUCCEEDED":
            out["orig_prompt"] = inp.get("prompt", "")
            out["actual_prompt"] = inp.get("prompt", "") + ", cinematic lighting"
            out["video_url"] = "http://%s:%d/files/%s.mp4?Expires=%d&OSSAccessKeyId=fake&Signature=x%%2By" % (
                self.args.host, self.port, t["task_id"], int(time.time()) + 86400)
            par = t["body"].get("parameters", {})
            d["usage"] = {"video_duration": t["duration"], "video_count": 1,
                          "video_ratio": par.get("size") or par.get("resolution") or "1280*720"}
        elif st == "FAILED":
            out["code"], out["message"] = CONTENT if t["outcome"] == "content" else FAIL
        return d

    def video(self, duration):
        return self.videos.get(duration)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-dashscope/1.0"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self): self.dispatch("GET")      # noqa: E704
    def do_POST(self): self.dispatch("POST")    # noqa: E704
    def do_HEAD(self): self.dispatch("HEAD")    # noqa: E704

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

    def ok(self, obj):
        self.send(200, json.dumps(obj).encode())

    def err(self, status, code, message, headers=()):
        self.outcome_code = code
        self.send(status, json.dumps({"request_id": self.rid, "code": code,
                                      "message": message}).encode(), headers=headers)

    def error_mode(self, mode):
        status, code, msg = ERRORS[mode]
        ra = self.state.scenario["retry_after"]
        hdr = [("Retry-After", str(ra))] if status == 429 and ra is not None else []
        self.err(status, code, msg, hdr)

    def reset_conn(self):
        fakelib.reset_conn(self)

    def dispatch(self, method):
        self.state = self.server.state
        self.rid, self.outcome, self.outcome_code, t0 = str(uuid.uuid4()), "-", None, time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        try:
            raw = self.read_body()
            p = url.path
            if p.startswith("/_fake/"):
                self.control(method, p, raw)
            elif p.startswith("/files/"):
                self.file(method, p)
            else:
                self.api(method, p, url.query, raw)
        except (BrokenPipeError, ConnectionResetError):
            self.outcome, self.close_connection = "client-gone", True
        except Exception:
            traceback.print_exc()
            if self.outcome == "-":
                self.err(500, "InternalError", "fake server bug")
        finally:
            sys.stderr.write("fake_wan: %s %s -> %s%s rid=%s %.0fms\n" % (
                method, self.path, self.outcome,
                " code=%s" % self.outcome_code if self.outcome_code else "",
                self.rid, (time.monotonic() - t0) * 1000))
            sys.stderr.flush()

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raw = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return raw
                raw += self.rfile.read(n + 2)[:n]
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def auth(self):
        """True when the key is right; else answers 401 as DashScope does."""
        a = self.headers.get("Authorization")
        with self.state.lock:
            self.state.requests.append({"path": self.path, "method": self.command,
                                        "time": time.time(),
                                        "authorization": a is not None,
                                        "async": self.headers.get("X-DashScope-Async"),
                                        "workspace": self.headers.get("X-DashScope-WorkSpace")})
        if a == "Bearer " + self.server.args.api_key:
            return True
        self.state.bump("auth_failures")
        self.err(401, "InvalidApiKey", "No API-key provided." if not a else
                 "Invalid API-key provided.")
        return False

    # -- the API
    def api(self, method, path, query, raw):
        m = re.fullmatch(API + r"/services/aigc/(video-generation|image2video)/video-synthesis", path)
        if m and method == "POST":
            return self.submit(m.group(1), raw)
        m = re.fullmatch(API + r"/tasks/([^/]+)(/cancel)?", path)
        if m and method == "GET" and not m.group(2):
            return self.query(urllib.parse.unquote(m.group(1)))
        if m and method == "POST" and m.group(2):
            return self.cancel(urllib.parse.unquote(m.group(1)))
        if path == API + "/tasks" and method == "GET":
            return self.list(urllib.parse.parse_qs(query, keep_blank_values=True))
        self.err(404, "NotFound", "The requested resource does not exist: %s %s" % (method, path))

    def submit(self, path_kind, raw):
        st = self.state
        st.bump("submits_received")
        if not self.auth():
            return
        if self.headers.get("X-DashScope-Async") != "enable":
            return self.err(403, "AccessDenied", "current user api does not support synchronous calls")
        mode, delay = st.take("submit")
        if mode in ERRORS:
            return self.error_mode(mode)
        if mode == "reset":
            return self.reset_conn()
        if mode == "invalid_json":
            return self.send(200, BROKEN_JSON)
        if mode == "slow":
            time.sleep(delay)
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return self.err(400, "InvalidParameter", "Content-Type must be application/json")
        try:
            body = json.loads(raw)
        except ValueError:
            return self.err(400, "InvalidParameter", "the body is not valid JSON")
        try:
            validate(path_kind, body)
        except Refused as e:
            return self.err(*e.args)
        task = st.create(body, path_kind)
        if mode == "hold":                   # made; the answer comes late
            self.outcome = "HOLD"
            time.sleep(delay)
        if mode == "lost":                   # made; the answer never comes
            return self.reset_conn()
        self.ok({"request_id": self.rid,
                 "output": {"task_status": "PENDING", "task_id": task["task_id"]}})

    def poll_misbehaves(self):
        mode, delay = self.state.take("poll")
        if mode in ERRORS:
            self.error_mode(mode)
        elif mode == "reset":
            self.reset_conn()
        elif mode == "invalid_json":
            self.send(200, BROKEN_JSON)
        elif mode == "hang":
            self.outcome = "HANG"
            time.sleep(delay)
            self.close_connection = True
        else:
            return False
        return True

    def query(self, tid):
        self.state.bump("polls")
        if not self.auth() or self.poll_misbehaves():
            return
        with self.state.lock:
            t = self.state.tasks.get(tid)
        if t is None:
            return self.ok({"request_id": self.rid,
                            "output": {"task_id": tid, "task_status": "UNKNOWN"}})
        self.ok(self.state.task_json(t))

    def cancel(self, tid):
        st = self.state
        st.bump("cancels")
        if not self.auth():
            return
        with st.lock:
            t = st.tasks.get(tid)
            status = st.status(t)[0] if t else None
            if t is not None and status == "PENDING":
                t["canceled"] = time.time()
            st.cancels.append({"task_id": tid, "status_before": status})
        if t is None:
            return self.err(404, "NotFound", "The task does not exist.")
        if status != "PENDING":
            return self.err(400, *CANCEL_REFUSED)
        self.ok({"request_id": self.rid})

    def list(self, q):
        st = self.state
        st.bump("lists")
        if not self.auth():
            return
        one = {k: v[-1] for k, v in q.items()}
        with st.lock:
            st.lists.append(one)
        mode, _ = st.take("list")
        if mode in ERRORS:
            return self.error_mode(mode)
        known = {"start_time", "end_time", "model_name", "api_key_id", "region", "status",
                 "page_no", "page_size"}
        if set(one) - known:
            return self.err(400, "InvalidParameter", "unknown parameter(s) %s" % sorted(set(one) - known))
        try:
            page, size = int(one.get("page_no", "1")), int(one.get("page_size", "10"))
        except ValueError:
            page = size = 0
        if page < 1 or not 1 <= size <= 100:
            return self.err(400, "InvalidParameter", "page_no >= 1 and page_size in [1, 100]")
        window = []
        for k in ("start_time", "end_time"):
            v = one.get(k)
            if v is None:
                window.append(None)
                continue
            try:
                tm = time.strptime(v, "%Y%m%d%H%M%S")
            except ValueError:
                return self.err(400, "InvalidParameter", "%s must be YYYYMMDDhhmmss" % k)
            window.append(float(calendar.timegm(tm) - BEIJING))
        if one.get("status") not in (None, "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED"):
            return self.err(400, "InvalidParameter", "status is not a task status")
        with st.lock:
            tasks = list(st.tasks.values())
        rows = []
        for t in reversed(tasks):                      # newest first
            status = st.status(t)[0]
            if window[0] is not None and t["created"] < window[0]:
                continue
            if window[1] is not None and t["created"] > window[1]:
                continue
            if one.get("model_name") and one["model_name"] != t["model"]:
                continue
            if one.get("status") and one["status"] != status:
                continue
            row = {"task_id": t["task_id"], "status": status, "model_name": t["model"],
                   "request_id": str(uuid.uuid4()), "region": "ap-southeast-1",
                   "gmt_create": int(t["created"] * 1000),
                   "start_time": int(t["created"] * 1000),
                   "user_api_unique_key": "apikey:v1:aigc:video-generation:video-synthesis:" + t["model"]}
            if mode == "no_gmt_create":
                del row["gmt_create"]
            rows.append(row)
        page_rows = rows[(page - 1) * size: page * size]
        self.ok({"request_id": self.rid, "data": page_rows, "total": len(rows), "page_no": page,
                 "page_size": size, "total_page": -(-len(rows) // size)})

    # -- the OSS bucket: /files/<task_id>.mp4?Expires=..., /files/raw/<id>.mp4
    def file(self, method, path):
        m = re.fullmatch(r"/files/(raw/)?([0-9a-f-]+)\.mp4", path)
        with self.state.lock:
            t = self.state.tasks.get(m.group(2)) if m else None
            self.state.downloads.append({"path": self.path, "port": self.server.server_address[1],
                                         "authorization": self.headers.get("Authorization")})
        if t is None or self.state.status(t)[0] != "SUCCEEDED":
            return self.send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        res = "ok" if m.group(1) else self.state.scenario["result"]
        if res == "404":
            return self.send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        if res == "redirect_private":
            return self.send(302, b"", "text/plain", [("Location", "http://10.0.0.1/x.mp4")])
        if res == "redirect_other_host":     # the second listener: another origin
            to = "http://127.0.0.1:%d/files/raw/%s.mp4" % (self.state.cdn_port, t["task_id"])
            return self.send(302, b"", "text/plain", [("Location", to)])
        with open(self.state.video(t["duration"]), "rb") as f:
            data = f.read()
        if method == "GET":
            self.state.bump("downloads")
        if res != "slow" or method == "HEAD":
            return self.send(200, data, "video/mp4")
        self.outcome = "200-slow"
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        piece = -(-len(data) // 10)
        for i in range(0, len(data), piece):
            self.wfile.write(data[i:i + piece])
            self.wfile.flush()
            time.sleep(self.state.scenario["delay"] / 10)

    # -- control
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
                tasks = list(st.tasks.values())
                out = {"requests": list(st.requests), "download_requests": list(st.downloads),
                       "cancel_requests": list(st.cancels), "list_queries": list(st.lists)}
                out.update(st.counters)
            out["tasks"] = [{"task_id": t["task_id"], "body": t["body"], "path": t["path"],
                             "model": t["model"], "created": t["created"],
                             "task_status": st.status(t)[0]} for t in tasks]
            out["scenario"] = st.scenario_view()
            return self.send(200, json.dumps(out).encode())
        self.send(404, b'{"error":"unknown control endpoint"}')


def serve(args):
    state = State(args)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.state, server.args = state, args
    state.port = server.server_address[1]
    # A second listener with the same routes, standing for a CDN host: the
    # origin a result URL may redirect to.
    cdn = ThreadingHTTPServer((args.host, 0), Handler)
    cdn.daemon_threads = True
    cdn.state, cdn.args = state, args
    state.cdn_port = cdn.server_address[1]
    threading.Thread(target=cdn.serve_forever, daemon=True).start()

    fakelib.run(server, state.port, cleanup=state.videos.remove)


def main():
    p = argparse.ArgumentParser(description="Fake DashScope Wan video API for reelgate's tests")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--api-key", required=True)
    p.add_argument("--step-seconds", type=float, default=0.5)
    serve(p.parse_args())


if __name__ == "__main__":
    main()
