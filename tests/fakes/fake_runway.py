#!/usr/bin/env python3
"""A fake Runway API v1 for reelgate's integration tests.

It follows /work/shared/research/providers-2.md section 5.2 and the official
SDK runwayml/sdk-python (read at c604e0ea: src/runwayml/types/
text_to_video_create_params.py, image_to_video_create_params.py,
resources/tasks.py, _client.py):
  POST   /v1/text_to_video     create -> 200 {"id": "<uuid>"}
  POST   /v1/image_to_video    create -> 200 {"id": "<uuid>"}
  POST   /v1/video_to_video    create -> 200 {"id": "<uuid>"} (types/
                               video_to_video_create_params.py: aleph2 and
                               gemini_omni_flash take videoUri, seedance2* promptVideo:
                               an HTTPS URL, a runway:// upload or a data: URI of at most
                               16 MB; the output lasts as long as the input)
  GET    /v1/tasks/{id}        {id, createdAt, status, progress | output | failure, failureCode}
  DELETE /v1/tasks/{id}        204, no body: cancels a PENDING, THROTTLED or RUNNING
                               task, deletes any other (never fetched again)
Every API request needs `Authorization: Bearer <key>` and `X-Runway-Version:
2024-11-06`.  The create body is a union keyed on `model` (gen4.5, gen4_turbo,
veo3.1, veo3.1_fast, veo3, seedance2, seedance2_fast, seedance2_mini,
gemini_omni_flash; aleph2 on video_to_video only), each with its own fields,
ratios and durations (references[{uri}], up to 9 images, on seedance2's
text_to_video and video_to_video and gemini_omni_flash's video_to_video only);
anything else is refused with Runway's 400 {"error", "issues"} (that shape
is [mem] in the research: not in the SDK).  Tasks walk PENDING ->
THROTTLED (scenario "throttled": that many polls) -> RUNNING (progress) ->
SUCCEEDED | FAILED, one --step-seconds per step.  Output URLs are signed and
new on every GET (as Runway's are); a download carrying an Authorization
header is refused (the URL is its own credential).  A second listener (the
"CDN", another origin) serves redirected downloads and records headers.

Misbehaviour through /_fake/ (no auth), as fake_kling.py:
  POST /_fake/scenario  {"submit":..., "poll":..., "outcome":..., "result":...,
                         "auth":..., "throttled":N, "count":N, "delay":S, "retry_after":S}
  POST /_fake/reset     back to all "ok", tasks and counters cleared
  GET  /_fake/jobs      every task (with the body received), counters, downloads
Usage: fake_runway.py --port PORT --api-key KEY [--step-seconds 0.5]
Prints "ready PORT" once listening; SIGTERM exits.  Standard library only
(plus the ffmpeg binary).
"""

import argparse, base64, binascii, hashlib, hmac, json, os, re, shutil, signal, socket
import struct, subprocess, sys, tempfile, threading, time, traceback, urllib.parse, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fakelib

VERSION = "2024-11-06"
SUBMIT_MODES = {"ok", "429", "429_daily", "credits", "500", "502", "503", "reset",
                "invalid_json", "hang", "hold"}
POLL_MODES = {"ok", "500", "429", "invalid_json", "reset"}
OUTCOMES = {"succeed", "safety_input", "safety_output", "internal", "asset", "never",
            "stay_pending"}
RESULTS = {"ok", "404", "redirect_other", "redirect_private"}
AUTHS = {"ok", "expired"}
# mode -> (HTTP status, Runway's error message)
ERRORS = {
    "429": (429, "You have exceeded the rate limit for this model. Please try again later."),
    "429_daily": (429, "You have exceeded your daily generation limit for this model."),
    "credits": (400, "You do not have enough credits to run this task."),
    "500": (500, "An unexpected error occurred."),
    "502": (502, "Bad gateway"),
    "503": (503, "The service is temporarily overloaded. Please try again later."),
}
FAILURES = {  # outcome -> (failureCode, failure)
    "safety_input": ("SAFETY.INPUT.TEXT", "Your prompt was flagged by our content moderation."),
    "safety_output": ("SAFETY.OUTPUT.VIDEO", "The output was flagged by our content moderation."),
    "internal": ("INTERNAL.BAD_OUTPUT.CODE01", "The output did not pass our quality checks."),
    "asset": ("ASSET.INVALID", "The input image could not be read."),
}
GEN_T2V = ["1280:720", "720:1280"]
GEN_I2V = ["1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672"]
VEO = ["1280:720", "720:1280", "1080:1920", "1920:1080"]
MODERATION = {"publicFigureThreshold": ("auto", "low")}
# (endpoint, model) -> {field: (type, required, allowed values or a range)}
MODELS = {}
for ep in ("text_to_video", "image_to_video"):
    i2v = ep == "image_to_video"
    img = {"promptImage": ((str, list), True, None)} if i2v else {}
    MODELS[(ep, "gen4.5")] = dict(img, promptText=(str, True, None),
                                  ratio=(str, True, GEN_I2V if i2v else GEN_T2V),
                                  duration=(int, True, range(2, 11)), seed=(int, False, None),
                                  contentModeration=(dict, False, MODERATION))
    for m in ("veo3.1", "veo3.1_fast"):
        MODELS[(ep, m)] = dict(img, promptText=(str, not i2v, None), ratio=(str, True, VEO),
                               audio=(bool, False, None), duration=(int, False, (4, 6, 8)),
                               negativePrompt=(str, False, None))
    MODELS[(ep, "veo3")] = dict(img, promptText=(str, not i2v, None), ratio=(str, True, VEO),
                                duration=(int, True, (8,)), negativePrompt=(str, False, None))
SEEDANCE2 = ["992:432", "864:496", "752:560", "640:640", "560:752", "496:864", "1470:630",
             "1280:720", "1112:834", "960:960", "834:1112", "720:1280", "2206:946", "1920:1080",
             "1664:1248", "1440:1440", "1248:1664", "1080:1920", "3840:1646", "3840:2160",
             "3840:2880", "3840:3840", "2880:3840", "2160:3840"]
TEXT_MAX = {"seedance2": 3500, "seedance2_fast": 3500, "seedance2_mini": 3500,
            "gemini_omni_flash": 4000}
for m, ratios in (("seedance2", SEEDANCE2), ("seedance2_fast", SEEDANCE2[:12]),
                  ("seedance2_mini", SEEDANCE2[:12])):
    common = dict(audio=(bool, False, None), duration=(int, False, range(4, 16)),
                  ratio=(str, False, ratios), referenceAudio=(list, False, None))
    MODELS[("text_to_video", m)] = dict(common, promptText=(str, True, None),
                                        references=(list, False, None),
                                        referenceVideos=(list, False, None))
    MODELS[("image_to_video", m)] = dict(common, promptText=(str, False, None),
                                         promptImage=((str, list), True, None))
    MODELS[("video_to_video", m)] = dict(common, promptText=(str, False, None),
                                         promptVideo=(str, True, None),
                                         references=(list, False, None),
                                         referenceVideos=(list, False, None))
MODELS[("text_to_video", "gemini_omni_flash")] = {
    "promptText": (str, True, None), "duration": (int, False, range(3, 11)),
    "ratio": (str, False, GEN_T2V)}
MODELS[("image_to_video", "gemini_omni_flash")] = {
    "promptImage": ((str, list), True, None), "promptText": (str, False, None),
    "duration": (int, False, range(3, 11)), "ratio": (str, False, GEN_T2V)}
MODELS[("video_to_video", "gemini_omni_flash")] = {
    "promptText": (str, True, None), "videoUri": (str, True, None),
    "references": (list, False, None)}
MODELS[("video_to_video", "aleph2")] = {
    "videoUri": (str, True, None), "promptText": (str, False, None), "ratio": (str, False, None),
    "seed": (int, False, None), "contentModeration": (dict, False, MODERATION),
    "keyframes": (list, False, None),
    "targetAspectRatio": (str, False, ("16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "21:9"))}
MODELS[("image_to_video", "gen4_turbo")] = {
    "promptImage": ((str, list), True, None), "ratio": (str, True, GEN_I2V),
    "duration": (int, False, range(2, 11)), "promptText": (str, False, None),
    "seed": (int, False, None), "contentModeration": (dict, False, MODERATION)}
COUNTERS = ("creates_received", "creates_accepted", "polls", "deletes", "downloads",
            "auth_failures")
BROKEN_JSON = b'{"id":"17f2'
DEFAULT_DELAY = 10.0
SIGN_KEY = os.urandom(16)


def sign(task_id, nonce):
    return hmac.new(SIGN_KEY, ("%s:%s" % (task_id, nonce)).encode(), hashlib.sha256).hexdigest()


def image_problem(v):
    """Runway's checks of promptImage: an HTTPS URL, a runway:// upload URI or
    a data URI of at most 5 MB; or [{uri, position}]."""
    if isinstance(v, list):
        if not v or not all(isinstance(x, dict) and set(x) <= {"uri", "position"}
                            and x.get("position") in ("first", "last") for x in v):
            return "Invalid promptImage array"
        return image_problem(v[0]["uri"])
    if v.startswith("https://") or v.startswith("runway://"):
        return None
    if v.startswith("http://"):
        return "Image URLs must use HTTPS"
    m = re.fullmatch(r"data:image/(png|jpeg|jpg|webp);base64,(.+)", v, re.S)
    if not m:
        return "Invalid image: expected an HTTPS URL or a data URI"
    if len(v) > 5 << 20:
        return "Data URIs must be at most 5MB"
    try:
        base64.b64decode(m.group(2), validate=True)
    except (ValueError, binascii.Error):
        return "Invalid base64 data in data URI"
    return None


def video_problem(v):
    """Runway's checks of a video input (videoUri, promptVideo): an HTTPS
    URL, a runway:// upload URI or a data: URI of at most 16 MB."""
    if v.startswith("https://") or v.startswith("runway://"):
        return None
    if v.startswith("http://"):
        return "Video URLs must use HTTPS"
    m = re.fullmatch(r"data:video/(mp4|quicktime|webm);base64,(.+)", v, re.S)
    if not m:
        return "Invalid video: expected an HTTPS URL or a data:video/...;base64, URI"
    if len(v) > 16 << 20:
        return "Data URIs must be at most 16MB"
    try:
        base64.b64decode(m.group(2), validate=True)
    except (ValueError, binascii.Error):
        return "Invalid base64 data in data URI"
    return None


def references_problem(v):
    """references: 1 to 9 {uri} images."""
    if not 1 <= len(v) <= 9:
        return "references must hold 1 to 9 images"
    for r in v:
        if not isinstance(r, dict) or set(r) != {"uri"} or not isinstance(r["uri"], str):
            return "Each reference must be {uri}"
        p = image_problem(r["uri"])
        if p:
            return p
    return None


def validate(ep, b):
    """A list of Runway-style issues ({path, message}), empty when accepted."""
    model = b.get("model")
    spec = MODELS.get((ep, model))
    if spec is None:
        return [{"code": "invalid_union_discriminator", "path": ["model"],
                 "message": "Invalid discriminator value for %s: %r" % (ep, model)}]
    issues = []
    for k, v in b.items():
        if k == "model":
            continue
        if k not in spec:
            issues.append({"code": "unrecognized_keys", "path": [],
                           "message": "Unrecognized key(s) in object: '%s'" % k})
            continue
        typ, _, allowed = spec[k]
        if (typ is int and (isinstance(v, bool) or not isinstance(v, int))) or \
                (typ is not int and not isinstance(v, typ)):
            issues.append({"code": "invalid_type", "path": [k],
                           "message": "Expected %s, received %s" % (
                               getattr(typ, "__name__", "string or array"), type(v).__name__)})
            continue
        if k == "contentModeration":
            for kk, vv in v.items():
                if kk not in allowed or vv not in allowed[kk]:
                    issues.append({"code": "invalid_enum_value", "path": [k, kk],
                                   "message": "Invalid contentModeration"})
        elif k in ("promptImage", "videoUri", "promptVideo", "references"):
            p = {"promptImage": image_problem, "references": references_problem}.get(
                k, video_problem)(v)
            if p:
                issues.append({"code": "custom", "path": [k], "message": p})
        elif k == "promptText" and not 1 <= len(v.encode("utf-16-le")) // 2 <= \
                TEXT_MAX.get(model, 1000):
            issues.append({"code": "too_big", "path": [k],
                           "message": "promptText must be 1 to %d characters" %
                           TEXT_MAX.get(model, 1000)})
        elif k == "seed" and not 0 <= v <= 4294967295:
            issues.append({"code": "too_big", "path": [k], "message": "seed out of range"})
        elif allowed is not None and v not in allowed:
            issues.append({"code": "invalid_enum_value", "path": [k],
                           "message": "Invalid enum value. Expected %s, received %r" % (
                               " | ".join(repr(a) for a in allowed), v)})
    for k, (_, req, _) in spec.items():
        if req and k not in b:
            issues.append({"code": "invalid_type", "path": [k], "message": "Required"})
    return issues


class State:
    def __init__(self, args):
        self.args = args
        self.port = self.cdn_port = 0
        self.lock = threading.Lock()
        self.videos = fakelib.VideoCache("fake-runway-", 24)
        self.reset()

    def reset(self):
        with self.lock:
            self.tasks = {}
            self.counters = dict.fromkeys(COUNTERS, 0)
            self.fetches = []
            self.scenario = {"submit": "ok", "poll": "ok", "outcome": "succeed", "result": "ok",
                             "auth": "ok", "throttled": 0, "delay": DEFAULT_DELAY,
                             "retry_after": None}
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
            elif k in ("count", "throttled"):
                if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                    return "%s must be an integer >= 0 or null" % k
            elif k in ("delay", "retry_after"):
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                      or v < 0):
                    return "%s must be a number >= 0" % k
            else:
                return "unknown scenario key %r" % k
        with self.lock:
            for k in list(allowed) + ["delay", "retry_after", "throttled"]:
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

    def create(self, ep, body, seconds=None):
        with self.lock:
            tid = str(uuid.uuid4())
            t = {"id": tid, "endpoint": ep, "body": body, "created": time.time(),
                 "seconds": seconds,
                 "outcome": self.scenario["outcome"], "throttled": self.scenario["throttled"],
                 "polls": 0, "cancelled_at": None, "started": None}
            self.tasks[tid] = t
            self.counters["creates_accepted"] += 1
        threading.Thread(target=self.video, args=(self.duration(t),), daemon=True).start()
        return t

    @staticmethod
    def duration(t):
        d = t["body"].get("duration")
        return d if isinstance(d, int) else t.get("seconds") or 5

    @staticmethod
    def probe(data):
        """The whole seconds of a video given inline (an edit's output lasts
        as long as its input), or None when ffprobe cannot read it."""
        with tempfile.NamedTemporaryFile(suffix=".vid") as f:
            f.write(data)
            f.flush()
            r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                                "-of", "csv=p=0", f.name], capture_output=True, text=True,
                               timeout=60)
        try:
            return max(1, int(float(r.stdout.strip()) + 0.5))
        except ValueError:
            return None

    def status(self, t):
        """PENDING one step, THROTTLED for `throttled` polls, RUNNING one step,
        then the outcome (input moderation fails at once)."""
        step = self.args.step_seconds
        if t["cancelled_at"] is not None:
            return "CANCELLED"
        if t["outcome"] == "safety_input":
            return "FAILED"
        now = time.time()
        if now - t["created"] < step or t["outcome"] == "stay_pending":
            return "PENDING"
        if t["polls"] <= t["throttled"]:
            return "THROTTLED"
        if t["started"] is None:
            t["started"] = now
        if now - t["started"] < step or t["outcome"] == "never":
            return "RUNNING"
        return "SUCCEEDED" if t["outcome"] == "succeed" else "FAILED"

    def task_json(self, t):
        st = self.status(t)
        d = {"id": t["id"], "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                                        time.gmtime(t["created"])),
             "status": st}
        if st == "RUNNING":
            d["progress"] = round(min(0.99, (time.time() - t["started"]) /
                                      self.args.step_seconds), 3)
        elif st == "FAILED":
            d["failureCode"], d["failure"] = FAILURES[t["outcome"]]
        elif st == "SUCCEEDED":
            nonce = uuid.uuid4().hex[:12]          # a new URL on every GET
            d["output"] = ["http://%s:%d/out/%s.mp4?n=%s&_jwt=%s" % (
                self.args.host, self.port, t["id"], nonce, sign(t["id"], nonce))]
        return d

    def video(self, duration):
        return self.videos.get(duration)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-runway/1.0"
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
        if status != 204:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def ok(self, obj):
        self.send(200, json.dumps(obj).encode())

    def err(self, status, message, issues=None, headers=()):
        self.why = message
        body = {"error": message}
        if issues is not None:
            body["issues"] = issues
        self.send(status, json.dumps(body).encode(), headers=headers)

    def canned(self, mode, retry_after=None):
        status, msg = ERRORS[mode]
        h = [("Retry-After", "%g" % retry_after)] if retry_after is not None and status == 429 else []
        self.err(status, msg, headers=h)

    def reset_conn(self):
        fakelib.reset_conn(self)

    def dispatch(self, method):
        self.state = self.server.state
        self.outcome, self.why = "-", None
        t0 = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        try:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n > 0 else b""
            if self.cdn:
                self.download(method, url, cdn=True)
            elif url.path.startswith("/_fake/"):
                self.control(method, url.path, raw)
            elif url.path.startswith("/out/"):
                self.download(method, url, cdn=False)
            elif url.path in ("/v1/text_to_video", "/v1/image_to_video",
                              "/v1/video_to_video") and method == "POST":
                self.create(url.path[4:], raw)
            elif url.path.startswith("/v1/tasks/") and method in ("GET", "DELETE"):
                ident = urllib.parse.unquote(url.path[len("/v1/tasks/"):])
                (self.get if method == "GET" else self.delete)(ident)
            else:
                self.err(404, "Not found")
        except (BrokenPipeError, ConnectionResetError):
            self.outcome, self.close_connection = "client-gone", True
        except Exception:
            traceback.print_exc()
            if self.outcome == "-":
                self.err(500, "fake server bug")
        finally:
            sys.stderr.write("fake_runway%s: %s %s -> %s%s %.0fms\n" % (
                "(cdn)" if self.cdn else "", method, self.path.split("?")[0], self.outcome,
                " (%s)" % self.why if self.why else "", (time.monotonic() - t0) * 1000))
            sys.stderr.flush()

    def authorized(self):
        """True, or False after answering as Runway does (401; 400 without
        the version header)."""
        a = self.headers.get("Authorization")
        if a != "Bearer " + self.server.args.api_key:
            self.state.bump("auth_failures")
            self.err(401, "Invalid API key" if a else "Missing Authorization header")
            return False
        if self.state.scenario["auth"] == "expired":
            self.state.bump("auth_failures")
            self.err(401, "API key has expired or been disabled")
            return False
        v = self.headers.get("X-Runway-Version")
        if v != VERSION:
            self.state.bump("auth_failures")
            self.err(400, "You must provide a valid X-Runway-Version header (got %r)" % v)
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

    def create(self, ep, raw):
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
            return self.err(400, "Content-Type must be application/json")
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self.err(400, "Invalid JSON body")
        issues = validate(ep, body)
        if issues:
            return self.err(400, "Validation of body failed", issues)
        seconds, src = None, body.get("videoUri") or body.get("promptVideo")
        if isinstance(src, str) and src.startswith("data:"):
            seconds = self.state.probe(base64.b64decode(src.split(",", 1)[1]))
            if seconds is None:
                return self.err(400, "Validation of body failed", [
                    {"code": "custom", "path": ["videoUri" if "videoUri" in body else
                                                "promptVideo"],
                     "message": "The video could not be decoded"}])
        t = self.state.create(ep, body, seconds)
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
            if t is not None:
                t["polls"] += 1
        if t is None:
            return self.err(404, "Task not found")
        self.ok(self.state.task_json(t))

    def delete(self, ident):
        self.state.bump("deletes")
        if not self.authorized():
            return
        with self.state.lock:
            t = self.state.tasks.get(ident)
        if t is None:
            return self.err(404, "Task not found")
        if self.state.status(t) in ("PENDING", "THROTTLED", "RUNNING"):
            t["cancelled_at"] = time.time()
        else:
            with self.state.lock:             # an ended task is deleted
                del self.state.tasks[ident]
        self.send(204)

    def download(self, method, url, cdn):
        st = self.state
        with st.lock:
            st.fetches.append({"where": "cdn" if cdn else "out", "path": url.path,
                               "authorization": self.headers.get("Authorization"),
                               "version": self.headers.get("X-Runway-Version")})
        m = re.fullmatch(r"/out/([0-9a-f-]+)\.mp4", url.path)
        q = urllib.parse.parse_qs(url.query)
        with st.lock:
            t = st.tasks.get(m.group(1)) if m else None
        if t is None or not hmac.compare_digest(q.get("_jwt", [""])[0],
                                                sign(t["id"], q.get("n", [""])[0])):
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
            out = {"tasks": [dict(st.task_json(t), body=t["body"], endpoint=t["endpoint"],
                                  polls=t["polls"]) for t in tasks],
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
    p = argparse.ArgumentParser(description="Fake Runway API v1 for reelgate's tests")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--api-key", required=True)
    p.add_argument("--step-seconds", type=float, default=0.5)
    serve(p.parse_args())


if __name__ == "__main__":
    main()
