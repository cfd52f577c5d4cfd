#!/usr/bin/env python3
"""A fake Seedance (Volcengine Ark / BytePlus ModelArk) video API for
reelgate's integration tests.

It follows /work/shared/research/providers-2.md section 2 and the task API
of volcengine/volcengine-python-sdk (volcenginesdkarkruntime, resources/
content_generation/tasks.py and types/content_generation/*, read at
b5be43b5):
  POST   /api/v3/contents/generations/tasks        create -> {"id": "cgt-..."}
  GET    /api/v3/contents/generations/tasks/{id}    the task
  GET    /api/v3/contents/generations/tasks?page_num=&page_size=&filter.model=
         &filter.status=&filter.task_ids=&filter.service_tier=   {"total", "items"}
  DELETE /api/v3/contents/generations/tasks/{id}    cancel a queued task, delete
                                                    an ended one; refused while running
Auth is exactly `Authorization: Bearer <key>`; errors are Ark's
{"error": {"code", "message", "param", "type"}} with its HTTP statuses.
Tasks walk queued -> running -> succeeded | failed (| expired, cancelled),
one --step-seconds per step.  A result is a signed URL on this server's
/tos/ path (an object store: a request that also carries an Authorization
header is refused, as S3-style stores refuse two auth mechanisms); it is a
real MP4 made with ffmpeg at 24 fps.  A second listener (the "CDN", another
port, so another origin) serves redirected downloads and records the
headers it got.

Misbehaviour is scripted through /_fake/ (no auth), as fake_kling.py:
  POST /_fake/scenario  {"submit":..., "poll":..., "outcome":..., "result":...,
                         "auth":..., "count":N, "delay":S, "retry_after":S}
  POST /_fake/reset     back to all "ok", tasks and counters cleared
  GET  /_fake/jobs      every task (with the body received), the counters,
                        every download request's headers (main and CDN)
Usage: fake_seedance.py --port PORT --api-key KEY [--step-seconds 0.5]
Prints "ready PORT" once listening; SIGTERM exits.  Python standard library
only (plus the ffmpeg binary).
"""

import argparse, base64, binascii, hashlib, hmac, itertools, json, os, random, re, shutil
import signal, socket, string, struct, subprocess, sys, tempfile, threading, time, traceback
import urllib.parse, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fakelib

PREFIX = "/api/v3/contents/generations/tasks"
SUBMIT_MODES = {"ok", "429_rpm", "429_overload", "429_quota", "403_overdue", "400_sensitive",
                "400_param", "500", "503", "reset", "invalid_json", "hang", "hold"}
POLL_MODES = {"ok", "500", "429_rpm", "invalid_json", "reset"}
OUTCOMES = {"succeed", "failed", "never", "expire", "stay_queued"}
RESULTS = {"ok", "404", "redirect_other", "redirect_private"}
AUTHS = {"ok", "expired"}
# scenario mode -> (HTTP status, Ark code, type, message)
ERRORS = {
    "429_rpm": (429, "RateLimitExceeded.EndpointRPMExceeded", "TooManyRequests",
                "The request has exceeded the RPM rate limit of the endpoint."),
    "429_overload": (429, "ServerOverloaded", "TooManyRequests",
                     "The service is currently overloaded. Please try again later."),
    "429_quota": (429, "QuotaExceeded", "TooManyRequests",
                  "The free trial quota of the model has been used up."),
    "403_overdue": (403, "AccountOverdueError", "Forbidden",
                    "The request failed because your account has an overdue balance."),
    "400_sensitive": (400, "InputTextSensitiveContentDetected", "BadRequest",
                      "The request failed because the input text may contain sensitive information."),
    "400_param": (400, "InvalidParameter", "BadRequest",
                  "The parameter `content` specified in the request is not valid."),
    "500": (500, "InternalServiceError", "InternalServerError",
            "The service encountered an unexpected internal error."),
    "503": (503, "ServiceUnavailable", "ServiceUnavailable",
            "The service is temporarily unavailable."),
}
FAIL_CODE, FAIL_MSG = "OutputVideoSensitiveContentDetected", \
    "The request failed because the output video may contain sensitive information."
CREATE_FIELDS = {"model": str, "content": list, "safety_identifier": str, "callback_url": str,
                 "return_last_frame": bool, "service_tier": str, "execution_expires_after": int,
                 "priority": int, "generate_audio": bool, "draft": bool, "camera_fixed": bool,
                 "watermark": bool, "seed": int, "resolution": str, "ratio": str,
                 "duration": int, "frames": int, "tools": list}
RATIOS = {"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"}
RESOLUTIONS = {"480p", "720p", "1080p"}
ROLES = {"first_frame", "last_frame", "reference_image"}
MODEL_RE = re.compile(r"(doubao-seedance|seedance|dreamina-seedance)-[0-9a-z-]+|ep-[0-9a-z-]+")
STATUSES = {"queued", "running", "succeeded", "failed", "cancelled", "expired"}
COUNTERS = ("creates_received", "creates_accepted", "polls", "lists", "deletes", "downloads",
            "auth_failures")
BROKEN_JSON = b'{"id":"cgt-2026'
DEFAULT_DELAY = 10.0
SIGN_KEY = os.urandom(16)


def sign(task_id, expires):
    return hmac.new(SIGN_KEY, ("%s:%d" % (task_id, expires)).encode(), hashlib.sha256).hexdigest()


def task_id():
    return "cgt-%s-%s" % (time.strftime("%Y%m%d%H%M%S", time.gmtime()),
                          "".join(random.choice(string.ascii_lowercase + string.digits)
                                  for _ in range(5)))


def image_problem(url):
    """Ark's checks of an image_url.url: a URL, a data: URL or an asset."""
    if not isinstance(url, str) or not url:
        return "image_url.url must be a non-empty string"
    if re.match(r"https?://", url) or url.startswith("asset://"):
        return None
    m = re.fullmatch(r"data:image/(png|jpeg|jpg|webp|bmp|tiff|gif|heic|heif);base64,(.+)", url,
                     re.S)
    if not m:
        return "image_url.url must be an http(s) URL, an asset:// id or a data:image/<format>;base64, URL"
    try:
        raw = base64.b64decode(m.group(2), validate=True)
    except (ValueError, binascii.Error):
        return "the base64 data of image_url.url is not valid"
    if len(raw) > 30 << 20:
        return "the image is larger than 30 MB"
    return None


def reference_max(model):
    """How many reference_image items the model takes: Seedance 2.0 (and 2.0
    fast) 1-9, 1.0 lite i2v 1-4, the others none (Ark's model pages, as
    providers-2.md gives them [2nd]); an endpoint id's model is not known
    here, so it takes them."""
    if "seedance-2-0" in model or model.startswith("ep-"):
        return 9
    return 4 if "seedance-1-0-lite-i2v" in model else 0


def validate(b):
    """(param, message) of the first problem Ark would refuse, or None."""
    for k, v in b.items():
        if k not in CREATE_FIELDS:
            return k, "the parameter `%s` specified in the request is not recognized" % k
        want = CREATE_FIELDS[k]
        if v is None:
            continue
        if want is int and (isinstance(v, bool) or not isinstance(v, int)):
            return k, "the parameter `%s` must be an integer" % k
        if want is not int and not isinstance(v, want):
            return k, "the parameter `%s` must be of type %s" % (k, want.__name__)
    if not isinstance(b.get("model"), str) or not b["model"]:
        return "model", "the parameter `model` is required"
    content = b.get("content")
    if not isinstance(content, list) or not content:
        return "content", "the parameter `content` is required"
    texts, roles = 0, []
    for i, item in enumerate(content):
        p = "content[%d]" % i
        if not isinstance(item, dict) or item.get("type") not in (
                "text", "image_url", "video_url", "audio_url", "draft_task"):
            return p, "the parameter `%s.type` is not valid" % p
        kind = item["type"]
        extra = set(item) - {"type", kind, "role"}
        if kind == "text":
            extra = set(item) - {"type", "text"}
            if not isinstance(item.get("text"), str):
                return p, "the parameter `%s.text` must be a string" % p
            texts += 1
        elif kind == "image_url":
            iu = item.get("image_url")
            if not isinstance(iu, dict) or set(iu) != {"url"}:
                return p, "the parameter `%s.image_url` must be {\"url\": ...}" % p
            prob = image_problem(iu["url"])
            if prob:
                return p, prob
            role = item.get("role", "first_frame")
            if role not in ROLES:
                return p, "the parameter `%s.role` must be one of %s" % (p, sorted(ROLES))
            roles.append(role)
        if extra:
            return p, "the parameter `%s.%s` is not recognized" % (p, sorted(extra)[0])
    if texts > 1:
        return "content", "at most one text item"
    if "reference_image" in roles and ({"first_frame", "last_frame"} & set(roles)):
        return "content", "reference images cannot be mixed with first or last frames"
    refs = roles.count("reference_image")
    if refs and reference_max(b["model"]) == 0:
        return "content", "the model %s does not support reference images" % b["model"]
    if refs > reference_max(b["model"]):
        return "content", "the model %s takes at most %d reference images" % (
            b["model"], reference_max(b["model"]))
    if "last_frame" in roles and "first_frame" not in roles:
        return "content", "a last_frame needs a first_frame"
    if roles.count("first_frame") > 1 or roles.count("last_frame") > 1:
        return "content", "at most one first_frame and one last_frame"
    if b.get("ratio") is not None and b["ratio"] not in RATIOS:
        return "ratio", "the parameter `ratio` must be one of %s" % sorted(RATIOS)
    if b.get("resolution") is not None and b["resolution"] not in RESOLUTIONS:
        return "resolution", "the parameter `resolution` must be one of %s" % sorted(RESOLUTIONS)
    if b.get("duration") is not None and not 2 <= b["duration"] <= 15:
        return "duration", "the parameter `duration` must be in [2, 15]"
    if b.get("seed") is not None and not -1 <= b["seed"] <= 2 ** 32 - 1:
        return "seed", "the parameter `seed` must be in [-1, 4294967295]"
    if b.get("service_tier") is not None and b["service_tier"] not in ("default", "flex"):
        return "service_tier", "the parameter `service_tier` must be default or flex"
    eea = b.get("execution_expires_after")
    if eea is not None and not 3600 <= eea <= 259200:
        return "execution_expires_after", "the parameter must be in [3600, 259200]"
    return None


class State:
    def __init__(self, args):
        self.args = args
        self.port = self.cdn_port = 0
        self.lock = threading.Lock()
        self.videos = fakelib.VideoCache("fake-seedance-", 24)
        self.reset()

    def reset(self):
        with self.lock:
            self.tasks = {}
            self.deleted = set()
            self.counters = dict.fromkeys(COUNTERS, 0)
            self.fetches = []                 # every download request: where, headers
            self.scenario = {"submit": "ok", "poll": "ok", "outcome": "succeed", "result": "ok",
                             "auth": "ok", "delay": DEFAULT_DELAY, "retry_after": None}
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
            elif k in ("delay", "retry_after"):
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                      or v < 0):
                    return "%s must be a number >= 0" % k
            else:
                return "unknown scenario key %r" % k
        with self.lock:
            for k in list(allowed) + ["delay", "retry_after"]:
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

    def create(self, body):
        with self.lock:
            tid = task_id()
            while tid in self.tasks:
                tid = task_id()
            seed = body.get("seed")
            t = {"id": tid, "body": body, "created": time.time(), "outcome": self.scenario["outcome"],
                 "cancelled_at": None, "seed": seed if isinstance(seed, int) and seed >= 0
                 else random.randrange(2 ** 31)}
            self.tasks[tid] = t
            self.counters["creates_accepted"] += 1
        threading.Thread(target=self.video, args=(self.duration(t),), daemon=True).start()
        return t

    @staticmethod
    def duration(t):
        d = t["body"].get("duration")
        return d if isinstance(d, int) else 5

    def status(self, t):
        """(status, since): queued one step, running one step, then the outcome."""
        step, born = self.args.step_seconds, t["created"]
        if t["cancelled_at"] is not None:
            return "cancelled", t["cancelled_at"]
        elapsed = time.time() - born
        if elapsed < step or t["outcome"] == "stay_queued":
            return "queued", born
        if t["outcome"] == "expire":
            return "expired", born + step
        if elapsed < 2 * step or t["outcome"] == "never":
            return "running", born + step
        return ("succeeded" if t["outcome"] == "succeed" else "failed"), born + 2 * step

    def task_json(self, t):
        st, since = self.status(t)
        b = t["body"]
        d = {"id": t["id"], "model": b["model"], "status": st, "error": None,
             "created_at": int(t["created"]), "updated_at": int(since), "seed": t["seed"],
             "resolution": b.get("resolution") or "720p",
             "ratio": b.get("ratio") if b.get("ratio") not in (None, "adaptive") else "16:9",
             "duration": self.duration(t), "framespersecond": 24,
             "service_tier": b.get("service_tier") or "default",
             "execution_expires_after": b.get("execution_expires_after") or 172800,
             "generate_audio": bool(b.get("generate_audio", False)), "draft": False,
             "priority": b.get("priority") or 0}
        if st == "failed":
            d["error"] = {"code": FAIL_CODE, "message": FAIL_MSG}
        if st == "succeeded":
            exp = int(time.time()) + 86400
            d["content"] = {"video_url": "http://%s:%d/tos/%s.mp4?X-Tos-Expires=86400&X-Tos-Date=%d"
                            "&X-Tos-Signature=%s" % (self.args.host, self.port, t["id"], exp,
                                                     sign(t["id"], exp))}
            d["usage"] = {"completion_tokens": 108900, "total_tokens": 108900}
        return d

    def video(self, duration):
        return self.videos.get(duration)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-seedance/1.0"
    cdn = False

    def log_message(self, fmt, *args):
        pass

    def do_GET(self): self.dispatch("GET")          # noqa: E704
    def do_POST(self): self.dispatch("POST")        # noqa: E704
    def do_DELETE(self): self.dispatch("DELETE")    # noqa: E704
    def do_HEAD(self): self.dispatch("HEAD")        # noqa: E704

    def send(self, status, body=b"", ctype="application/json", headers=()):
        self.outcome = str(status)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", self.rid)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def ok(self, obj):
        self.send(200, json.dumps(obj).encode())

    def err(self, status, code, typ, message, param="", headers=()):
        self.outcome_code = code
        self.send(status, json.dumps({"error": {
            "code": code, "message": "%s Request id: %s" % (message, self.rid),
            "param": param, "type": typ}}).encode(), headers=headers)

    def canned(self, mode, retry_after=None):
        status, code, typ, msg = ERRORS[mode]
        h = [("Retry-After", "%g" % retry_after)] if retry_after is not None and status == 429 else []
        self.err(status, code, typ, msg, headers=h)

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
            if self.cdn:
                self.download(method, url, cdn=True)
            elif url.path.startswith("/_fake/"):
                self.control(method, url.path, raw)
            elif url.path.startswith("/tos/"):
                self.download(method, url, cdn=False)
            elif url.path == PREFIX and method == "POST":
                self.create(raw)
            elif url.path == PREFIX and method == "GET":
                self.list(url.query)
            elif url.path.startswith(PREFIX + "/") and method in ("GET", "DELETE"):
                ident = urllib.parse.unquote(url.path[len(PREFIX) + 1:])
                (self.get if method == "GET" else self.delete)(ident)
            else:
                self.err(404, "NotFound", "NotFound", "The requested resource is not found.")
        except (BrokenPipeError, ConnectionResetError):
            self.outcome, self.close_connection = "client-gone", True
        except Exception:
            traceback.print_exc()
            if self.outcome == "-":
                self.err(500, "InternalServiceError", "InternalServerError", "fake server bug")
        finally:
            sys.stderr.write("fake_seedance%s: %s %s -> %s%s rid=%s %.0fms\n" % (
                "(cdn)" if self.cdn else "", method, self.path.split("?X-Tos")[0], self.outcome,
                " code=%s" % self.outcome_code if self.outcome_code else "", self.rid,
                (time.monotonic() - t0) * 1000))
            sys.stderr.flush()

    def authorized(self):
        """True, or False after answering 401 as Ark does."""
        a = self.headers.get("Authorization")
        if self.state.scenario["auth"] == "expired" and a == "Bearer " + self.server.args.api_key:
            self.state.bump("auth_failures")
            self.err(401, "AuthenticationError", "Unauthorized",
                     "The API key in the request has expired.")
            return False
        if a != "Bearer " + self.server.args.api_key:
            self.state.bump("auth_failures")
            self.err(401, "AuthenticationError", "Unauthorized",
                     "The API key or AK/SK in the request is missing or invalid.")
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

    # -- the API
    def create(self, raw):
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
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return self.err(400, "InvalidParameter", "BadRequest",
                            "The request body must be application/json.")
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self.err(400, "InvalidParameter", "BadRequest",
                            "The request body is not a valid JSON object.")
        problem = validate(body)
        if problem:
            return self.err(400, "InvalidParameter", "BadRequest",
                            "Invalid parameter: %s." % problem[1], param=problem[0])
        if not MODEL_RE.fullmatch(body["model"]):
            return self.err(404, "InvalidEndpointOrModel.NotFound", "NotFound",
                            "The model or endpoint %s does not exist or you do not have access "
                            "to it." % body["model"])
        t = self.state.create(body)
        if mode == "hold":                    # made; the answer comes too late
            self.outcome = "HOLD"
            time.sleep(delay)
            return self.reset_conn()
        self.ok({"id": t["id"]})

    def get(self, ident):
        self.state.bump("polls")
        if not self.authorized() or self.poll_misbehaves():
            return
        with self.state.lock:
            t = self.state.tasks.get(ident)
        if t is None:
            return self.err(404, "ResourceNotFound", "NotFound",
                            "The specified task %s is not found." % ident)
        self.ok(self.state.task_json(t))

    def list(self, query):
        self.state.bump("lists")
        if not self.authorized() or self.poll_misbehaves():
            return
        q = urllib.parse.parse_qs(query, keep_blank_values=True)
        known = {"page_num", "page_size", "filter.status", "filter.model", "filter.task_ids",
                 "filter.service_tier"}
        for k in q:
            if k not in known:
                return self.err(400, "InvalidParameter", "BadRequest",
                                "the parameter `%s` is not recognized" % k, param=k)
        try:
            page = int(q.get("page_num", ["1"])[0])
            size = int(q.get("page_size", ["10"])[0])
        except ValueError:
            page = size = 0
        if page < 1 or not 1 <= size <= 500:
            return self.err(400, "InvalidParameter", "BadRequest",
                            "page_num must be >= 1 and page_size in [1, 500]")
        st = q.get("filter.status", [None])[0]
        if st is not None and st not in STATUSES:
            return self.err(400, "InvalidParameter", "BadRequest", "filter.status is not valid")
        with self.state.lock:
            tasks = list(self.state.tasks.values())
        items = [self.state.task_json(t) for t in reversed(tasks)]      # newest first
        for key, field in (("filter.model", "model"), ("filter.status", "status"),
                           ("filter.service_tier", "service_tier")):
            if key in q:
                items = [x for x in items if x[field] == q[key][0]]
        if "filter.task_ids" in q:
            items = [x for x in items if x["id"] in q["filter.task_ids"]]
        self.ok({"total": len(items), "items": items[(page - 1) * size: page * size]})

    def delete(self, ident):
        self.state.bump("deletes")
        if not self.authorized():
            return
        with self.state.lock:
            t = self.state.tasks.get(ident)
        if t is None:
            return self.err(404, "ResourceNotFound", "NotFound",
                            "The specified task %s is not found." % ident)
        st, _ = self.state.status(t)
        if st == "queued":
            t["cancelled_at"] = time.time()
            return self.ok({})
        if st in ("running", "cancelled"):
            return self.err(400, "InvalidAction.TaskStatus", "BadRequest",
                            "The task is %s and cannot be cancelled or deleted." % st)
        with self.state.lock:                 # an ended task: its record is deleted
            del self.state.tasks[ident]
        self.ok({})

    # -- the object store (and its CDN)
    def download(self, method, url, cdn):
        st = self.state
        with st.lock:
            st.fetches.append({"where": "cdn" if cdn else "tos", "path": url.path,
                               "authorization": self.headers.get("Authorization"),
                               "headers": sorted(k.lower() for k in self.headers.keys())})
        m = re.fullmatch(r"/tos/(cgt-[0-9a-z-]+)\.mp4", url.path)
        q = urllib.parse.parse_qs(url.query)
        with st.lock:
            t = st.tasks.get(m.group(1)) if m else None
        try:
            exp = int(q.get("X-Tos-Date", ["0"])[0])
        except ValueError:
            exp = 0
        if t is None or not hmac.compare_digest(q.get("X-Tos-Signature", [""])[0],
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
            out = {"tasks": [dict(st.task_json(t), body=t["body"]) for t in tasks],
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
    p = argparse.ArgumentParser(description="Fake Seedance (Ark) video API for reelgate's tests")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--api-key", required=True)
    p.add_argument("--step-seconds", type=float, default=0.5)
    serve(p.parse_args())


if __name__ == "__main__":
    main()
