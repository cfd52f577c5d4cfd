#!/usr/bin/env python3
"""A fake Vidu (Shengshu) ent/v2 video API for reelgate's integration tests.

It follows /work/shared/research/providers-2.md section 5.1 and Vidu's own
pages (platform.vidu.com/docs: text-to-video, get-generation, tasks-list,
cancel-generation, error-code):
  POST /ent/v2/text2video | img2video | start-end2video | reference2video
       -> {"task_id", "state": "created", "model", ..., "payload", "credits",
           "created_at"}
  GET  /ent/v2/tasks/{id}/creations -> {"id", "state", "err_code", "credits",
       "payload", "bgm", "off_peak", "creations": [{"id", "url", "cover_url",
       "watermarked_url"}]}
  GET  /ent/v2/tasks?created_at.from=&created_at.to=&task_ids=&states=
       &model_versions=&resolutions=&templates=&pager.page=&pager.pagesz=
       &pager.page_token=   -> {"tasks": [...], "next_page_token"}
  POST /ent/v2/tasks/{id}/cancel {"id": "<id>"} -> {} while created or
       queueing; refused (400 BadRequest, "task state is ..., can not
       cancel") after; a cancelled task ends failed with err_code
       UserCancelled.
Auth is exactly `Authorization: Token <key>` (not Bearer).  Errors are the
HTTP status plus {"code": <status>, "reason": "<Code>", "message",
"metadata": {"trace_id"}}.  Each endpoint takes its own fields only (an
unknown one is FieldUnwanted, a mistyped one or a wrong enum value
FieldInvalid, a missing one FieldLacking, a wrong image count
FieldItemCountOutOfRange, an image that is neither an http(s) URL nor a
data:image/...;base64, URL ImageFormatInvalid).  Tasks walk created ->
queueing -> processing -> success | failed, one --step-seconds per step.
A result is a signed URL on this server's /cdn/ path that refuses a
request carrying an Authorization header; it is a real MP4 made with
ffmpeg at 24 fps.  A second listener (another port, so another origin)
serves redirected downloads and records the headers it got.

Misbehaviour is scripted through /_fake/ (no auth), as fake_kling.py:
  POST /_fake/scenario  {"submit":..., "poll":..., "outcome":..., "result":...,
                         "auth":..., "count":N, "delay":S, "retry_after":S,
                         "list_payload": false (list items without payload)}
  POST /_fake/reset     back to all "ok", tasks and counters cleared
  GET  /_fake/jobs      every task (with the body and endpoint received), the
                        counters, every download request's headers
Usage: fake_vidu.py --port PORT --api-key KEY [--step-seconds 0.5]
Prints "ready PORT" once listening; SIGTERM exits.  Python standard library
only (plus the ffmpeg binary).
"""

import argparse, base64, binascii, calendar, hashlib, hmac, json, os, random, re, shutil
import signal, socket, struct, subprocess, sys, tempfile, threading, time, traceback
import urllib.parse, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fakelib

PREFIX = "/ent/v2"
SUBMIT_MODES = {"ok", "429_quota", "429_tmr", "400_credit", "400_audit", "400_field", "500",
                "503", "reset", "invalid_json", "hang", "hold"}
POLL_MODES = {"ok", "500", "429_tmr", "invalid_json", "reset"}
OUTCOMES = {"succeed", "failed", "policy", "never", "stay_queued"}
RESULTS = {"ok", "404", "redirect_other", "redirect_private"}
AUTHS = {"ok", "expired"}
# scenario mode -> (HTTP status, reason, message)
ERRORS = {
    "429_quota": (429, "QuotaExceeded", "concurrency quota exceeded, please try again later"),
    "429_tmr": (429, "TooManyRequests", "too many requests, please slow down"),
    "400_credit": (400, "CreditInsufficient", "credit insufficient, please recharge"),
    "400_audit": (400, "AuditSubmitIllegal", "the prompt did not pass the content audit"),
    "400_field": (400, "FieldInvalid", "field movement_amplitude is invalid"),
    "500": (500, "InternalServerError", "internal server error"),
    "503": (503, "ServiceUnavailable", "service unavailable"),
}
COMMON = {"model": str, "prompt": str, "duration": int, "seed": int, "resolution": str,
          "movement_amplitude": str, "bgm": bool, "off_peak": bool, "payload": str,
          "callback_url": str, "watermark": bool, "wm_position": int, "wm_url": str,
          "meta_data": str}
ENDPOINTS = {
    "text2video": dict(COMMON, style=str, aspect_ratio=str),
    "img2video": dict(COMMON, images=list, audio=bool, voice_id=str, is_rec=bool),
    "start-end2video": dict(COMMON, images=list, is_rec=bool),
    "reference2video": dict(COMMON, images=list, aspect_ratio=str, audio=bool),
}
IMAGE_COUNT = {"img2video": (1, 1), "start-end2video": (2, 2), "reference2video": (1, 7)}
DURATIONS = {"viduq3-turbo": range(1, 17), "viduq3-pro": range(1, 17), "viduq2": range(1, 11),
             "viduq2-pro": range(1, 11), "viduq2-turbo": range(1, 11), "viduq1": (5,),
             "vidu2.0": (4, 8)}
# reference2video: the models that take it and how many images (viduq2 and
# viduq1 1-7, vidu2.0 1-3: Vidu's reference-to-video pages as mirrored by
# novita.ai / myrouter.ai / wavespeed.ai; the -pro/-turbo variants and q3 none)
REFERENCE_MODELS = {"viduq2": 7, "viduq1": 7, "vidu2.0": 3}
RATIOS = {"16:9", "9:16", "1:1", "3:4", "4:3"}
AMPLITUDES = {"auto", "small", "medium", "large"}
RESOLUTIONS = {"540p", "720p", "1080p"}
STATES = {"created", "queueing", "processing", "success", "failed"}
COUNTERS = ("creates_received", "creates_accepted", "polls", "lists", "cancels", "downloads",
            "auth_failures")
BROKEN_JSON = b'{"task_id":"8557134'
DEFAULT_DELAY = 10.0
SIGN_KEY = os.urandom(16)


def sign(task_id, expires):
    return hmac.new(SIGN_KEY, ("%s:%d" % (task_id, expires)).encode(), hashlib.sha256).hexdigest()


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


def parse_iso(s):
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]00:00)", s or "")
    if not m:
        return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))


def image_problem(img):
    if not isinstance(img, str) or not img:
        return "FieldInvalid", "images must be strings"
    if re.match(r"https?://", img):
        return None
    m = re.fullmatch(r"data:image/(png|jpeg|jpg|webp);base64,(.+)", img, re.S)
    if not m:
        return "ImageFormatInvalid", "image must be a URL or data:image/<png|jpeg|jpg|webp>;base64,"
    try:
        raw = base64.b64decode(m.group(2), validate=True)
    except (ValueError, binascii.Error):
        return "ImageFormatInvalid", "image base64 is invalid"
    if len(raw) > 50 << 20:
        return "FieldInvalid", "image is larger than 50 MB"
    return None


def validate(kind, b):
    """(reason, message) of the first problem Vidu would refuse, or None."""
    fields = ENDPOINTS[kind]
    for k, v in b.items():
        if k not in fields:
            return "FieldUnwanted", "field %s is unwanted" % k
        want = fields[k]
        if want is int and (isinstance(v, bool) or not isinstance(v, int)):
            return "FieldInvalid", "field %s must be an integer" % k
        if want is not int and not isinstance(v, want):
            return "FieldInvalid", "field %s must be of type %s" % (k, want.__name__)
    if "model" not in b:
        return "FieldLacking", "field model is lacking"
    if b["model"] not in DURATIONS:
        return "ModelUnavailable", "model %s is unavailable" % b["model"]
    if kind == "text2video" and not b.get("prompt"):
        return "FieldLacking", "field prompt is lacking"
    if len(b.get("prompt", "")) > 5000:
        return "FieldInvalid", "field prompt is longer than 5000 characters"
    if kind in IMAGE_COUNT:
        if "images" not in b:
            return "FieldLacking", "field images is lacking"
        lo, hi = IMAGE_COUNT[kind]
        if not lo <= len(b["images"]) <= hi:
            return "FieldItemCountOutOfRange", "images must hold %d to %d items" % (lo, hi)
        for img in b["images"]:
            p = image_problem(img)
            if p:
                return p
    if kind == "reference2video" and b["model"] not in REFERENCE_MODELS:
        return "ModelUnavailable", "model %s does not support reference2video" % b["model"]
    if kind == "reference2video" and len(b["images"]) > REFERENCE_MODELS[b["model"]]:
        return "FieldItemCountOutOfRange", "images must hold 1 to %d items for %s" % (
            REFERENCE_MODELS[b["model"]], b["model"])
    if "duration" in b and b["duration"] not in DURATIONS[b["model"]]:
        return "FieldInvalid", "field duration is invalid for %s" % b["model"]
    if "aspect_ratio" in b and (b["aspect_ratio"] not in RATIOS or (
            b["aspect_ratio"] in ("3:4", "4:3") and b["model"] in ("viduq1", "vidu2.0"))):
        return "FieldInvalid", "field aspect_ratio is invalid"
    if "resolution" in b and b["resolution"] not in RESOLUTIONS:
        return "FieldInvalid", "field resolution is invalid"
    if "movement_amplitude" in b and b["movement_amplitude"] not in AMPLITUDES:
        return "FieldInvalid", "field movement_amplitude is invalid"
    if "style" in b and b["style"] not in ("general", "anime"):
        return "FieldInvalid", "field style is invalid"
    if "seed" in b and b["seed"] < 0:
        return "FieldInvalid", "field seed is invalid"
    if len(b.get("payload", "")) > 1048576:
        return "FieldInvalid", "field payload is too long"
    return None


class State:
    def __init__(self, args):
        self.args = args
        self.port = self.cdn_port = 0
        self.lock = threading.Lock()
        self.videos = fakelib.VideoCache("fake-vidu-", 24)
        self.seq = 855713440395427840
        self.reset()

    def reset(self):
        with self.lock:
            self.tasks = {}
            self.counters = dict.fromkeys(COUNTERS, 0)
            self.fetches = []
            self.scenario = {"submit": "ok", "poll": "ok", "outcome": "succeed", "result": "ok",
                             "auth": "ok", "delay": DEFAULT_DELAY, "retry_after": None,
                             "list_payload": True}
            self.left = {"submit": None, "poll": None}

    def bump(self, name):
        with self.lock:
            self.counters[name] += 1

    def scenario_set(self, obj):
        allowed = {"submit": SUBMIT_MODES, "poll": POLL_MODES, "outcome": OUTCOMES,
                   "result": RESULTS, "auth": AUTHS}
        if not isinstance(obj, dict):
            return "scenario must be a JSON object"
        for k, v in obj.items():
            if k in allowed:
                if v not in allowed[k]:
                    return "%s must be one of %s" % (k, sorted(allowed[k]))
            elif k == "count":
                if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                    return "count must be an integer >= 1 or null"
            elif k == "list_payload":
                if not isinstance(v, bool):
                    return "list_payload must be a boolean"
            elif k in ("delay", "retry_after"):
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                      or v < 0):
                    return "%s must be a number >= 0" % k
            else:
                return "unknown scenario key %r" % k
        with self.lock:
            for k in list(allowed) + ["delay", "retry_after", "list_payload"]:
                if k in obj:
                    self.scenario[k] = obj[k]
            targets = [k for k in ("submit", "poll") if k in obj] or \
                (["submit", "poll"] if "count" in obj else [])
            for k in targets:
                self.left[k] = obj.get("count") if self.scenario[k] != "ok" else None
        return None

    def take(self, which):
        with self.lock:
            mode = self.scenario[which]
            if mode != "ok" and self.left[which] is not None:
                self.left[which] -= 1
                if self.left[which] <= 0:
                    self.scenario[which], self.left[which] = "ok", None
            return mode, self.scenario["delay"], self.scenario["retry_after"]

    def create(self, kind, body):
        with self.lock:
            self.seq += random.randrange(1, 1 << 20)
            tid = str(self.seq)
            t = {"id": tid, "kind": kind, "body": body, "created": time.time(),
                 "outcome": self.scenario["outcome"], "cancelled_at": None,
                 "seed": body.get("seed") or random.randrange(1, 2 ** 31)}
            self.tasks[tid] = t
            self.counters["creates_accepted"] += 1
        threading.Thread(target=self.video, args=(self.duration(t),), daemon=True).start()
        return t

    @staticmethod
    def duration(t):
        d = t["body"].get("duration")
        return d if isinstance(d, int) else 5

    def state_of(self, t):
        """created one step, queueing one step, processing one step, then the outcome."""
        step, elapsed = self.args.step_seconds, time.time() - t["created"]
        if t["cancelled_at"] is not None:
            return "failed"
        if elapsed < step:
            return "created"
        if elapsed < 2 * step or t["outcome"] == "stay_queued":
            return "queueing"
        if elapsed < 3 * step or t["outcome"] == "never":
            return "processing"
        return "success" if t["outcome"] == "succeed" else "failed"

    def err_code(self, t, st):
        if st != "failed":
            return ""
        if t["cancelled_at"] is not None:
            return "UserCancelled"
        return "CreationPolicyViolation" if t["outcome"] == "policy" else "InternalError"

    def task_json(self, t):
        st, b = self.state_of(t), t["body"]
        d = {"id": t["id"], "state": st, "err_code": self.err_code(t, st),
             "credits": 4 * self.duration(t) if st == "success" else 0,
             "payload": b.get("payload", ""), "bgm": bool(b.get("bgm", False)),
             "off_peak": bool(b.get("off_peak", False)), "creations": []}
        if st == "success":
            exp = int(time.time()) + 86400
            base = "http://%s:%d/cdn/%s" % (self.args.host, self.port, t["id"])
            q = "?Expires=%d&Signature=%s" % (exp, sign(t["id"], exp))
            d["creations"] = [{"id": str(int(t["id"]) + 1), "url": base + "/video.mp4" + q,
                               "cover_url": base + "/cover.jpg" + q,
                               "watermarked_url": base + "/watermarked.mp4" + q}]
        return d

    def list_item(self, t):
        b, d = t["body"], self.task_json(t)
        d.update({"type": t["kind"], "model": b["model"], "prompt": b.get("prompt", ""),
                  "images": b.get("images", []), "duration": self.duration(t),
                  "resolution": b.get("resolution", "720p"),
                  "aspect_ratio": b.get("aspect_ratio", "16:9"), "key_id": "key-1",
                  "created_at": iso(t["created"])})
        return d

    def video(self, duration):
        return self.videos.get(duration)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-vidu/1.0"
    cdn = False

    def log_message(self, fmt, *args):
        pass

    def do_GET(self): self.dispatch("GET")          # noqa: E704
    def do_POST(self): self.dispatch("POST")        # noqa: E704
    def do_HEAD(self): self.dispatch("HEAD")        # noqa: E704
    def do_DELETE(self): self.dispatch("DELETE")    # noqa: E704

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

    def err(self, status, reason, message, headers=()):
        self.outcome_code = reason
        self.send(status, json.dumps({"code": status, "reason": reason, "message": message,
                                      "metadata": {"trace_id": self.rid}}).encode(),
                  headers=headers)

    def canned(self, mode, retry_after=None):
        status, reason, msg = ERRORS[mode]
        h = [("Retry-After", "%g" % retry_after)] if retry_after is not None and status == 429 else []
        self.err(status, reason, msg, headers=h)

    def reset_conn(self):
        fakelib.reset_conn(self)

    def dispatch(self, method):
        self.state = self.server.state
        self.rid, self.outcome, self.outcome_code = uuid.uuid4().hex, "-", None
        t0 = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        try:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n > 0 else b""
            m = re.fullmatch(PREFIX + r"/tasks/([^/]+)/(creations|cancel)", url.path)
            kind = url.path[len(PREFIX) + 1:] if url.path.startswith(PREFIX + "/") else None
            if self.cdn:
                self.download(method, url, cdn=True)
            elif url.path.startswith("/_fake/"):
                self.control(method, url.path, raw)
            elif url.path.startswith("/cdn/"):
                self.download(method, url, cdn=False)
            elif kind in ENDPOINTS and method == "POST":
                self.create(kind, raw)
            elif url.path == PREFIX + "/tasks" and method == "GET":
                self.list(url.query)
            elif m and m.group(2) == "creations" and method == "GET":
                self.get(urllib.parse.unquote(m.group(1)))
            elif m and m.group(2) == "cancel" and method == "POST":
                self.cancel(urllib.parse.unquote(m.group(1)), raw)
            else:
                self.err(404, "NotFound", "not found")
        except (BrokenPipeError, ConnectionResetError):
            self.outcome, self.close_connection = "client-gone", True
        except Exception:
            traceback.print_exc()
            if self.outcome == "-":
                self.err(500, "InternalServerError", "fake server bug")
        finally:
            sys.stderr.write("fake_vidu%s: %s %s -> %s%s rid=%s %.0fms\n" % (
                "(cdn)" if self.cdn else "", method, self.path.split("?Expires")[0], self.outcome,
                " reason=%s" % self.outcome_code if self.outcome_code else "", self.rid,
                (time.monotonic() - t0) * 1000))
            sys.stderr.flush()

    def authorized(self):
        """True, or False after answering 401 as Vidu does."""
        a = self.headers.get("Authorization")
        if self.state.scenario["auth"] == "expired" and a == "Token " + self.server.args.api_key:
            self.state.bump("auth_failures")
            self.err(401, "Unauthorized", "the api key has expired")
            return False
        if a != "Token " + self.server.args.api_key:
            self.state.bump("auth_failures")
            self.err(401, "Unauthorized", "invalid or missing token")
            return False
        return True

    def poll_misbehaves(self):
        mode, _, ra = self.state.take("poll")
        if mode in ERRORS:
            self.canned(mode, ra)
        elif mode == "reset":
            self.reset_conn()
        elif mode == "invalid_json":
            self.send(200, BROKEN_JSON)
        else:
            return False
        return True

    def json_body(self, raw):
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            self.err(400, "BadRequest", "content type must be application/json")
            return None
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self.err(400, "BadRequest", "the request body is not a JSON object")
            return None
        return body

    # -- the API
    def create(self, kind, raw):
        self.state.bump("creates_received")
        if not self.authorized():
            return
        mode, delay, ra = self.state.take("submit")
        if mode in ERRORS:
            return self.canned(mode, ra)
        if mode == "reset":
            return self.reset_conn()
        if mode == "invalid_json":
            return self.send(200, BROKEN_JSON)
        if mode == "hang":                    # nothing made, no answer in time
            self.outcome = "HANG"
            time.sleep(delay)
            return self.reset_conn()
        body = self.json_body(raw)
        if body is None:
            return
        problem = validate(kind, body)
        if problem:
            return self.err(400, problem[0], problem[1])
        t = self.state.create(kind, body)
        if mode == "hold":                    # made; the answer comes too late
            self.outcome = "HOLD"
            time.sleep(delay)
            return self.reset_conn()
        b = t["body"]
        self.ok({"task_id": t["id"], "state": "created", "model": b["model"],
                 "prompt": b.get("prompt", ""), "images": b.get("images", []),
                 "duration": self.state.duration(t), "seed": t["seed"],
                 "aspect_ratio": b.get("aspect_ratio", "16:9"),
                 "resolution": b.get("resolution", "720p"),
                 "movement_amplitude": b.get("movement_amplitude", "auto"),
                 "payload": b.get("payload", ""), "off_peak": bool(b.get("off_peak", False)),
                 "credits": 4 * self.state.duration(t), "created_at": iso(t["created"])})

    def get(self, ident):
        self.state.bump("polls")
        if not self.authorized() or self.poll_misbehaves():
            return
        with self.state.lock:
            t = self.state.tasks.get(ident)
        if t is None:
            return self.err(404, "TaskNotFound", "task %s not found" % ident)
        self.ok(self.state.task_json(t))

    def list(self, query):
        self.state.bump("lists")
        if not self.authorized() or self.poll_misbehaves():
            return
        q = urllib.parse.parse_qs(query, keep_blank_values=True)
        known = {"created_at.from", "created_at.to", "task_ids", "templates", "model_versions",
                 "resolutions", "states", "pager.page", "pager.pagesz", "pager.page_token"}
        for k in q:
            if k not in known:
                return self.err(400, "FieldUnwanted", "field %s is unwanted" % k)
        try:
            page = int(q.get("pager.page", ["0"])[0])
            size = int(q.get("pager.pagesz", ["10"])[0])
        except ValueError:
            page = size = -1
        if page < 0 or not 1 <= size <= 100:
            return self.err(400, "FieldInvalid", "pager.page must be >= 0, pager.pagesz 1..100")
        lo = hi = None
        for key in ("created_at.from", "created_at.to"):
            if key in q:
                v = parse_iso(q[key][0])
                if v is None:
                    return self.err(400, "FieldInvalid", "field %s is invalid" % key)
                if key.endswith("from"):
                    lo = v
                else:
                    hi = v
        now = time.time()
        lo = now - 7 * 86400 if lo is None else lo
        hi = now if hi is None else hi
        for s in q.get("states", []):
            if s not in STATES:
                return self.err(400, "FieldInvalid", "field states is invalid")
        with self.state.lock:
            tasks = list(self.state.tasks.values())
        items = [self.state.list_item(t) for t in reversed(tasks) if lo <= t["created"] <= hi + 1]
        if "states" in q:
            items = [x for x in items if x["state"] in q["states"]]
        if "task_ids" in q:
            items = [x for x in items if x["id"] in q["task_ids"]]
        if "pager.page_token" in q and q["pager.page_token"][0]:
            try:
                page = int(q["pager.page_token"][0])
            except ValueError:
                return self.err(400, "FieldInvalid", "pager.page_token is invalid")
        if not self.state.scenario["list_payload"]:    # a list without payload
            items = [{k: v for k, v in x.items() if k != "payload"} for x in items]
        more = len(items) > (page + 1) * size
        self.ok({"tasks": items[page * size:(page + 1) * size],
                 "next_page_token": str(page + 1) if more else ""})

    def cancel(self, ident, raw):
        self.state.bump("cancels")
        if not self.authorized():
            return
        body = self.json_body(raw)
        if body is None:
            return
        if set(body) != {"id"} or body["id"] != ident:
            return self.err(400, "FieldInvalid", "field id must be the task id of the path")
        with self.state.lock:
            t = self.state.tasks.get(ident)
        if t is None:
            return self.err(404, "TaskNotFound", "task %s not found" % ident)
        st = self.state.state_of(t)
        if st in ("created", "queueing"):
            t["cancelled_at"] = time.time()
            return self.ok({})
        self.err(400, "BadRequest", "task state is %s, can not cancel" % (
            "scheduled" if st == "processing" else st))

    # -- the CDN
    def download(self, method, url, cdn):
        st = self.state
        with st.lock:
            st.fetches.append({"where": "cdn2" if cdn else "cdn", "path": url.path,
                               "authorization": self.headers.get("Authorization"),
                               "headers": sorted(k.lower() for k in self.headers.keys())})
        m = re.fullmatch(r"/cdn/(\d+)/video\.mp4", url.path)
        q = urllib.parse.parse_qs(url.query)
        with st.lock:
            t = st.tasks.get(m.group(1)) if m else None
        try:
            exp = int(q.get("Expires", ["0"])[0])
        except ValueError:
            exp = 0
        if t is None or not hmac.compare_digest(q.get("Signature", [""])[0],
                                                sign(t["id"], exp)) or exp < time.time():
            return self.send(403, b"<Error><Code>AccessDenied</Code></Error>", "application/xml")
        if self.headers.get("Authorization"):
            return self.send(400, b"<Error><Code>InvalidArgument</Code><Message>Only one auth "
                             b"mechanism allowed</Message></Error>", "application/xml")
        res = "ok" if cdn else st.scenario["result"]
        if res == "404":
            return self.send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        if res in ("redirect_other", "redirect_private"):
            to = "http://10.0.0.1/x.mp4" if res == "redirect_private" else \
                "http://%s:%d%s?%s" % (st.args.host, st.cdn_port, url.path, url.query)
            return self.send(302, b"", "text/plain", [("Location", to)])
        with open(st.video(st.duration(t)), "rb") as f:
            data = f.read()
        if method == "GET":
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
            return self.send(200, json.dumps(st.scenario).encode())
        if path == "/_fake/reset" and method == "POST":
            st.reset()
            return self.send(200, b'{"reset":true}')
        if path == "/_fake/jobs" and method == "GET":
            with st.lock:
                tasks, fetches = list(st.tasks.values()), list(st.fetches)
                counters = dict(st.counters)
            out = {"tasks": [dict(st.list_item(t), body=t["body"], endpoint=t["kind"])
                             for t in tasks],
                   "fetches": fetches, "scenario": st.scenario, "cdn_port": st.cdn_port}
            out.update(counters)
            return self.send(200, json.dumps(out).encode())
        self.send(404, b'{"error":"unknown control endpoint"}')


class CdnHandler(Handler):
    cdn = True


def serve(args):
    state = State(args)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    cdn = ThreadingHTTPServer((args.host, 0), CdnHandler)
    for s in (server, cdn):
        s.daemon_threads = True
        s.state, s.args = state, args
    state.port, state.cdn_port = server.server_address[1], cdn.server_address[1]
    threading.Thread(target=cdn.serve_forever, daemon=True).start()

    fakelib.run(server, state.port, cleanup=state.videos.remove)


def main():
    p = argparse.ArgumentParser(description="Fake Vidu ent/v2 video API for reelgate's tests")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--api-key", required=True)
    p.add_argument("--step-seconds", type=float, default=0.5)
    serve(p.parse_args())


if __name__ == "__main__":
    main()
