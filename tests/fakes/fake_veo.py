#!/usr/bin/env python3
"""A fake Gemini API (generativelanguage.googleapis.com/v1beta) for Veo.

It follows /work/shared/research/providers-2.md section 1.1 and the request
and answer shapes python-genai builds and reads in Gemini-API mode
(models._GenerateVideosParameters_to_mldev, _Video_from_mldev,
operations._get_videos_operation):

  POST /v1beta/models/{model}:predictLongRunning
       {"instances":[{"prompt", "image":{bytesBase64Encoded, mimeType},
                      "lastFrame":{...}}],
        "parameters":{durationSeconds, aspectRatio, resolution, negativePrompt,
                      personGeneration, enhancePrompt, sampleCount}}
       -> {"name": "models/{model}/operations/{id}"}
  GET  /v1beta/models/{model}/operations/{id}
       -> {"name", "done": false} ... {"name", "done": true, "response":
          {"@type": ..., "generateVideoResponse": {"generatedSamples":
          [{"video": {"uri": ".../v1beta/files/{fid}:download?alt=media"}}]}}}
          or {"done": true, "error": {code, message, status}}
  GET  /v1beta/files/{fid}:download?alt=media   the MP4 (key required)

Extension (Veo 3.1 and 3.1 Fast only): instances[0].video = {"uri": <the
download URI of a video this server generated, done, 720p, at most 141 s>}
(encodedVideo/encoding may come along, as python-genai sends a downloaded
Video; bytes alone are refused), with no image, lastFrame or
referenceImages, durationSeconds 8 (or absent) and resolution 720p: the
result is the source plus 7 s (Google: "extends by 7 seconds", up to 148 s).
Reference images (Veo 3.1 and 3.1 Fast only): instances[0].referenceImages,
1 to 3 of {"image": {bytesBase64Encoded, mimeType}, "referenceType":
"asset"} ("ASSET" too: the SDK sends its enum's value; "style" is Vertex
only), no first frame, durationSeconds 8, personGeneration allow_adult if
given.  The operation's body (in /_fake/jobs) shows what was sent.

Authentication as Google checks it: the key in `x-goog-api-key` (or the
`key` query parameter); none -> 403 PERMISSION_DENIED; a wrong one -> 400
INVALID_ARGUMENT with ErrorInfo reason API_KEY_INVALID.  Errors are
google.rpc.Status envelopes {"error": {code, message, status, details}}.
Unknown or mistyped fields are refused as the protobuf JSON parser does
("Invalid JSON payload received. Unknown name ..."); so are the parameters
the Gemini API does not take (seed, fps, generateAudio, storageUri...), an
image given as a URL or gcsUri, and wrong enum values.

A second listener on --cdn-host (default 127.0.0.2, same port number chosen
freely) plays a CDN the download may be redirected to; it records the
headers it received so that a test can check the key never went there.

Misbehaviour through /_fake/ (no auth), as in fake_kling.py:
  POST /_fake/scenario {"submit":..., "poll":..., "outcome":..., "result":...,
                        "count":N, "delay":S, "retry_delay":"2s"}
  GET  /_fake/scenario, POST /_fake/reset, GET /_fake/jobs
Submit modes: ok 429 503 500 reset invalid_json slow hold hang policy quota
expired_key; poll modes: ok 429 500 503 invalid_json reset hang; outcomes
(fixed when the operation is made): succeed inline failed filtered policy
never; results (at download): ok 404 redirect_other redirect_private.

Usage: fake_veo.py --port PORT --api-key KEY [--host 127.0.0.1]
                   [--cdn-host 127.0.0.2] [--step-seconds 0.5]
       fake_veo.py --self-test
Prints "ready PORT" once listening.  Python standard library only (plus
ffmpeg for the MP4s).
"""

import argparse, base64, binascii, http.client, itertools, json, os, re, shutil, signal
import socket, string, struct, subprocess, sys, tempfile, threading, time, traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fakelib

SUBMIT_MODES = {"ok", "429", "503", "500", "reset", "invalid_json", "slow", "hold", "hang",
                "policy", "quota", "expired_key"}
POLL_MODES = {"ok", "429", "500", "503", "invalid_json", "reset", "hang"}
OUTCOMES = {"succeed", "inline", "failed", "filtered", "policy", "never"}
RESULTS = {"ok", "404", "redirect_other", "redirect_private"}
MODELS = {"veo-3.1-generate-preview", "veo-3.1-fast-generate-preview",
          "veo-3.1-lite-generate-preview", "veo-3.0-generate-001", "veo-3.0-fast-generate-001",
          "veo-2.0-generate-001"}
DEFAULT_DELAY = 10.0
COUNTERS = ("submits_received", "submits_accepted", "polls", "downloads", "cdn_downloads",
            "auth_failures")
BROKEN_JSON = b'{\n  "name": "models/veo-3.1-generate-preview/operations/'
FILTER_REASON = ("We encountered an issue with the audio for your prompt. You have not been "
                 "charged for this request.")
POLICY_MSG = ("The prompt could not be submitted. This prompt contains words that violate "
              "our usage guidelines.")
ERRORS = {   # scenario mode -> (HTTP status, google.rpc status, message)
    "429": (429, "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details."),
    "503": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "500": (500, "INTERNAL", "An internal error has occurred."),
    "policy": (400, "INVALID_ARGUMENT", POLICY_MSG),
    "quota": (400, "FAILED_PRECONDITION",
              "User location is not supported for the API use without a billing account "
              "linked."),
}
INSTANCE_FIELDS = {"prompt", "image", "lastFrame", "referenceImages", "video"}
PARAM_FIELDS = {"sampleCount", "durationSeconds", "aspectRatio", "resolution",
                "personGeneration", "negativePrompt", "enhancePrompt"}
# Known to the protobuf but refused by the Gemini API (the SDK refuses them
# client-side in Gemini-API mode: research §1.1).
VERTEX_ONLY = {"seed", "fps", "storageUri", "pubsubTopic", "generateAudio", "compressionQuality",
               "resizeMode"}
MIMES = {"image/png", "image/jpeg", "image/webp"}
# the models that extend videos and take reference images (Gemini API docs)
OPS_MODELS = {"veo-3.1-generate-preview", "veo-3.1-fast-generate-preview"}
EXTEND_ADDS = 7
EXTEND_SOURCE_MAX = 141


def status_json(code, status, message, details=None):
    e = {"code": code, "message": message, "status": status}
    if details:
        e["details"] = details
    return json.dumps({"error": e}, indent=2).encode()


class Refusal(Exception):
    """A request Google refuses: (HTTP status, rpc status, message)."""

    def __init__(self, http, status, message):
        super().__init__(message)
        self.http, self.status, self.message = http, status, message


def unknown(name, where):
    return Refusal(400, "INVALID_ARGUMENT",
                   'Invalid JSON payload received. Unknown name "%s" at \'%s\': Cannot find '
                   'field.' % (name, where))


def bad_value(where, value):
    return Refusal(400, "INVALID_ARGUMENT",
                   "Invalid value at '%s', %s" % (where, json.dumps(value)))


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool) or \
        isinstance(v, float) and v.is_integer()


def check_image(img, where):
    if not isinstance(img, dict):
        raise bad_value(where, img)
    for k in img:
        if k == "gcsUri":
            raise Refusal(400, "INVALID_ARGUMENT",
                          "gcsUri isn't supported by the Gemini API: send bytesBase64Encoded.")
        if k not in ("bytesBase64Encoded", "mimeType"):
            raise unknown(k, where)
    data = img.get("bytesBase64Encoded")
    if not isinstance(data, str) or not data:
        raise Refusal(400, "INVALID_ARGUMENT", "%s.bytesBase64Encoded is required." % where)
    try:
        raw = base64.b64decode(data, validate=True)
    except (ValueError, binascii.Error):
        raise bad_value(where + ".bytes_base64_encoded", data[:20] + "...")
    mime = img.get("mimeType")
    if mime not in MIMES:
        raise Refusal(400, "INVALID_ARGUMENT",
                      "Unsupported MIME type %r for %s." % (mime, where))
    sniff = "image/png" if raw[:8] == b"\x89PNG\r\n\x1a\n" else \
        "image/jpeg" if raw[:3] == b"\xff\xd8\xff" else \
        "image/webp" if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP" else None
    if sniff != mime:
        raise Refusal(400, "INVALID_ARGUMENT",
                      "The image in %s is not a valid %s." % (where, mime))


def check_video(model, i):
    """An extension's input: the uri of a video Veo made (checked against
    the operations by the handler)."""
    v = i["video"]
    if not isinstance(v, dict):
        raise bad_value("instances[0].video", v)
    for k in v:
        if k not in ("uri", "encodedVideo", "encoding"):
            raise unknown(k, "instances[0].video")
    if not isinstance(v.get("uri"), str) or not v["uri"]:
        raise Refusal(400, "INVALID_ARGUMENT",
                      "The Gemini API extends only videos Veo generated: give the video's uri.")
    if model not in OPS_MODELS:
        raise Refusal(400, "INVALID_ARGUMENT", "Video extension is not supported by %s." % model)
    for k in ("image", "lastFrame", "referenceImages"):
        if k in i:
            raise Refusal(400, "INVALID_ARGUMENT",
                          "instances[0].video cannot be combined with %s." % k)


def check_references(model, i):
    refs = i["referenceImages"]
    if not isinstance(refs, list):
        raise bad_value("instances[0].referenceImages", refs)
    if not 1 <= len(refs) <= 3:
        raise Refusal(400, "INVALID_ARGUMENT", "referenceImages takes 1 to 3 images; got %d."
                      % len(refs))
    if model not in OPS_MODELS:
        raise Refusal(400, "INVALID_ARGUMENT", "referenceImages is not supported by %s." % model)
    if "image" in i or "lastFrame" in i:
        raise Refusal(400, "INVALID_ARGUMENT",
                      "referenceImages cannot be combined with image or lastFrame.")
    for n, r in enumerate(refs):
        where = "instances[0].referenceImages[%d]" % n
        if not isinstance(r, dict):
            raise bad_value(where, r)
        for k in r:
            if k not in ("image", "referenceType"):
                raise unknown(k, where)
        if "image" not in r:
            raise Refusal(400, "INVALID_ARGUMENT", "%s.image is required." % where)
        check_image(r["image"], where + ".image")
        t = r.get("referenceType")
        if t in ("style", "STYLE"):
            raise Refusal(400, "INVALID_ARGUMENT",
                          "referenceType STYLE isn't supported by the Gemini API.")
        if t not in ("asset", "ASSET"):
            raise bad_value(where + ".referenceType", t)


def validate(model, b):
    """Google's checks of a predictLongRunning body; raises Refusal."""
    if not isinstance(b, dict):
        raise Refusal(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
    for k in b:
        if k not in ("instances", "parameters", "webhookConfig"):
            raise unknown(k, "")
    inst = b.get("instances")
    if not isinstance(inst, list) or len(inst) != 1 or not isinstance(inst[0], dict):
        raise Refusal(400, "INVALID_ARGUMENT", "instances must hold exactly one instance.")
    i = inst[0]
    for k in i:
        if k not in INSTANCE_FIELDS:
            raise unknown(k, "instances[0]")
    prompt = i.get("prompt")
    if "prompt" in i and not isinstance(prompt, str):
        raise bad_value("instances[0].prompt", prompt)
    if not (prompt or "").strip() and "image" not in i:
        raise Refusal(400, "INVALID_ARGUMENT", "A prompt is required for text-to-video.")
    for k in ("image", "lastFrame"):
        if k in i:
            check_image(i[k], "instances[0].%s" % k)
    if "lastFrame" in i and "image" not in i:
        raise Refusal(400, "INVALID_ARGUMENT", "lastFrame needs an image (the first frame).")
    if "video" in i:
        check_video(model, i)
    if "referenceImages" in i:
        check_references(model, i)
    p = b.get("parameters", {})
    if not isinstance(p, dict):
        raise bad_value("parameters", p)
    for k in p:
        if k in VERTEX_ONLY:
            raise Refusal(400, "INVALID_ARGUMENT", "`%s` isn't supported by this model." % k)
        if k not in PARAM_FIELDS:
            raise unknown(k, "parameters")
    veo2, veo31 = model.startswith("veo-2"), model.startswith("veo-3.1")
    d = p.get("durationSeconds", 8)
    if not is_int(d):
        raise bad_value("parameters.durationSeconds", d)
    if (veo2 and not 5 <= d <= 8) or (not veo2 and d not in (4, 6, 8)):
        raise Refusal(400, "INVALID_ARGUMENT",
                      "The number value for `durationSeconds` is out of bounds. Please "
                      "provide a value between %s." % ("5 and 8" if veo2 else "4, 6 or 8"))
    if p.get("aspectRatio", "16:9") not in ("16:9", "9:16"):
        raise Refusal(400, "INVALID_ARGUMENT",
                      "Aspect ratio %r is not supported: use 16:9 or 9:16." % p["aspectRatio"])
    res = p.get("resolution", "720p")
    if res not in ("720p", "1080p", "4k") or (res == "4k" and not veo31) or \
            (veo2 and res != "720p"):
        raise Refusal(400, "INVALID_ARGUMENT", "Resolution %r is not supported by %s."
                      % (res, model))
    if res != "720p" and d != 8:
        raise Refusal(400, "INVALID_ARGUMENT", "%s is only supported with durationSeconds 8."
                      % res)
    special = "video" in i or "referenceImages" in i
    if special and d != 8:
        raise Refusal(400, "INVALID_ARGUMENT", "%s needs durationSeconds 8."
                      % ("Video extension" if "video" in i else "referenceImages"))
    if "video" in i and res != "720p":
        raise Refusal(400, "INVALID_ARGUMENT", "Video extension is supported at 720p only.")
    pg = p.get("personGeneration")
    if pg is not None:
        if pg not in ("allow_all", "allow_adult", "dont_allow"):
            raise bad_value("parameters.personGeneration", pg)
        if ("image" in i or "referenceImages" in i) and pg != "allow_adult":
            raise Refusal(400, "INVALID_ARGUMENT",
                          "personGeneration %r is not supported for image-to-video: use "
                          "allow_adult." % pg)
        if pg == "dont_allow" and not veo2:
            raise Refusal(400, "INVALID_ARGUMENT", "dont_allow is supported by Veo 2 only.")
    for k, kind in (("negativePrompt", str), ("enhancePrompt", bool)):
        if k in p and not isinstance(p[k], kind):
            raise bad_value("parameters." + k, p[k])
    sc = p.get("sampleCount", 1)
    if not is_int(sc) or not 1 <= sc <= (4 if veo2 else 1):
        raise bad_value("parameters.sampleCount", sc)
    return d


# ---------------------------------------------------------------- state

class State:
    def __init__(self, args):
        self.args = args
        self.port = self.cdn_port = 0
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.videos = fakelib.VideoCache("fake-veo-", 12)
        self.reset()

    def reset(self):
        with self.lock:
            self.ops = {}                        # op id -> operation
            self.files = {}                      # file id -> operation
            self.keys_seen = []                  # every key presented (for the secrets test)
            self.cdn_requests = []
            self.submit_times = []               # when each submit arrived
            self.counters = dict.fromkeys(COUNTERS, 0)
            self.scenario = {"submit": "ok", "poll": "ok", "outcome": "succeed",
                             "result": "ok", "delay": DEFAULT_DELAY, "retry_delay": "1s"}
            self.left = {"submit": None, "poll": None}

    def bump(self, name):
        with self.lock:
            self.counters[name] += 1

    def scenario_view(self):
        return dict(self.scenario, submit_left=self.left["submit"], poll_left=self.left["poll"])

    def scenario_set(self, obj):
        allowed = {"submit": SUBMIT_MODES, "poll": POLL_MODES, "outcome": OUTCOMES,
                   "result": RESULTS}
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
            elif k == "retry_delay":
                if not isinstance(v, str) or not re.fullmatch(r"\d+(\.\d+)?s", v):
                    return "retry_delay must be a duration like \"2s\""
            else:
                return "unknown scenario key %r" % k
        with self.lock:
            for k in list(allowed) + ["retry_delay"]:
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
        with self.lock:
            mode, delay = self.scenario[which], self.scenario["delay"]
            if mode != "ok" and self.left[which] is not None:
                self.left[which] -= 1
                if self.left[which] <= 0:
                    self.scenario[which], self.left[which] = "ok", None
            return mode, delay

    def create(self, model, body, duration):
        alnum = string.ascii_lowercase + string.digits
        with self.lock:
            n = next(self.ids)
            oid = "".join(alnum[(n * 7919 + i * 104729) % 36] for i in range(12))
            op = {"id": oid, "name": "models/%s/operations/%s" % (model, oid), "model": model,
                  "body": body, "created": time.time(), "outcome": self.scenario["outcome"],
                  "duration": int(duration), "file": "f" + oid}
            self.ops[oid] = op
            self.files[op["file"]] = op
            self.counters["submits_accepted"] += 1
        threading.Thread(target=self.video, args=(op["duration"],), daemon=True).start()
        return op

    def done(self, op):
        return op["outcome"] != "never" and time.time() - op["created"] >= 2 * self.args.step_seconds

    def op_json(self, op):
        o = {"name": op["name"]}
        if not self.done(op):
            if time.time() - op["created"] >= self.args.step_seconds:
                o["metadata"] = {}          # sometimes present while running
            o["done"] = False
            return o
        o["done"] = True
        out = op["outcome"]
        if out == "failed":
            o["error"] = {"code": 13, "message": "Video generation failed due to an internal "
                          "error. Please try again.", "status": "INTERNAL"}
        elif out == "policy":
            o["error"] = {"code": 3, "message": "The generated video was blocked by our "
                          "Responsible AI safety filters.", "status": "INVALID_ARGUMENT"}
        else:
            gvr = {}
            if out == "filtered":
                gvr = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [FILTER_REASON]}
            elif out == "inline":
                with open(self.video(op["duration"]), "rb") as f:
                    gvr["generatedSamples"] = [{"video": {
                        "encodedVideo": base64.b64encode(f.read()).decode(),
                        "encoding": "video/mp4"}}]
            else:
                gvr["generatedSamples"] = [{"video": {
                    "uri": "http://%s:%d/v1beta/files/%s:download?alt=media"
                    % (self.args.host, self.port, op["file"])}}]
            o["response"] = {"@type": "type.googleapis.com/google.ai.generativelanguage.v1beta."
                             "PredictLongRunningResponse", "generateVideoResponse": gvr}
        return o

    def video(self, duration):
        return self.videos.get(duration)


# ---------------------------------------------------------------- HTTP

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-veo/1.0"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self): self.dispatch("GET")      # noqa: E704
    def do_POST(self): self.dispatch("POST")    # noqa: E704
    def do_DELETE(self): self.dispatch("DELETE")  # noqa: E704

    def send(self, status, body=b"", ctype="application/json; charset=UTF-8", headers=()):
        self.outcome = str(status)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def rpc(self, http, status, message, details=None):
        self.outcome_code = status
        self.send(http, status_json(http, status, message, details))

    def reset_conn(self):
        fakelib.reset_conn(self)

    def misbehave(self, mode):
        """Answers for an error mode; True when it did."""
        st = self.state
        if mode in ERRORS:
            http, status, msg = ERRORS[mode]
            details = None
            if http == 429:
                details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                            "violations": [{"quotaMetric": "generativelanguage.googleapis.com/"
                                            "predict_long_running_requests",
                                            "quotaId": "PredictLongRunningRequestsPerMinute"}]},
                           {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay": st.scenario["retry_delay"]}]
            self.rpc(http, status, msg, details)
        elif mode == "reset":
            self.reset_conn()
        elif mode == "invalid_json":
            self.send(200, BROKEN_JSON)
        elif mode == "expired_key":
            self.rpc(400, "INVALID_ARGUMENT", "API key expired. Please renew the API key.",
                     [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                       "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                       "metadata": {"service": "generativelanguage.googleapis.com"}}])
        else:
            return False
        return True

    def dispatch(self, method):
        self.state = self.server.state
        self.outcome, self.outcome_code, t0 = "-", None, time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        try:
            raw = self.read_body()
            if self.server.cdn:
                self.cdn(method, url.path)
            elif url.path.startswith("/_fake/"):
                self.control(method, url.path, raw)
            else:
                self.api(method, url, raw)
        except (BrokenPipeError, ConnectionResetError):
            self.outcome, self.close_connection = "client-gone", True
        except Exception:
            traceback.print_exc()
            if self.outcome == "-":
                self.rpc(500, "INTERNAL", "fake server bug")
        finally:
            sys.stderr.write("fake_veo%s: %s %s -> %s%s %.0fms\n" % (
                "(cdn)" if self.server.cdn else "", method, self.path, self.outcome,
                " status=%s" % self.outcome_code if self.outcome_code else "",
                (time.monotonic() - t0) * 1000))
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

    def auth(self, url):
        """True when the key is right; else answers as Google does."""
        q = urllib.parse.parse_qs(url.query)
        key = self.headers.get("x-goog-api-key") or (q.get("key") or [None])[0]
        with self.state.lock:
            if key:
                self.state.keys_seen.append(key)
        if key == self.server.args.api_key:
            return True
        self.state.bump("auth_failures")
        if not key:
            self.rpc(403, "PERMISSION_DENIED",
                     "Method doesn't allow unregistered callers (callers without established "
                     "identity). Please use API Key or other form of API consumer identity to "
                     "call this API.")
        else:
            self.rpc(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                     [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                       "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                       "metadata": {"service": "generativelanguage.googleapis.com"}}])
        return False

    def api(self, method, url, raw):
        path = url.path
        m = re.fullmatch(r"/v1beta/models/([^/:]+):predictLongRunning", path)
        if m and method == "POST":
            return self.submit(url, m.group(1), raw)
        m = re.fullmatch(r"/v1beta/models/([^/:]+)/operations/([a-z0-9]+)", path)
        if m and method == "GET":
            return self.poll(url, m.group(1), m.group(2))
        m = re.fullmatch(r"/v1beta/files/([a-z0-9]+):download", path)
        if m and method == "GET":
            return self.download(url, m.group(1))
        if method == "POST" and re.fullmatch(r"/v1beta/models/[^/]+/operations/[^/]+:cancel",
                                             path):
            # The Gemini API has no cancel for Veo operations (research §1.1).
            return self.rpc(404, "NOT_FOUND", "Method not found.")
        self.rpc(404, "NOT_FOUND", "The requested URL %s was not found on this server." % path)

    def submit(self, url, model, raw):
        st = self.state
        st.bump("submits_received")
        with st.lock:
            st.submit_times.append(time.time())
        if not self.auth(url):
            return
        mode, delay = st.take("submit")
        if mode == "hang":
            self.outcome = "HANG"
            time.sleep(delay)
            return self.reset_conn()
        if self.misbehave(mode):
            return
        if mode == "slow":
            time.sleep(delay)
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return self.rpc(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        try:
            body = json.loads(raw)
        except ValueError:
            return self.rpc(400, "INVALID_ARGUMENT",
                            "Invalid JSON payload received. Unexpected token.")
        if model not in MODELS:
            return self.rpc(404, "NOT_FOUND", "models/%s is not found for API version v1beta, "
                            "or is not supported for predictLongRunning." % model)
        try:
            duration = validate(model, body)
            if "video" in body["instances"][0]:
                duration = self.extension_length(body["instances"][0]["video"]["uri"])
        except Refusal as r:
            return self.rpc(r.http, r.status, r.message)
        op = st.create(model, body, duration)
        if mode == "hold":           # made, and the answer comes too late
            self.outcome = "HOLD"
            time.sleep(delay)
        self.send(200, json.dumps({"name": op["name"]}, indent=2).encode())

    def extension_length(self, uri):
        """The length of the extension of the video at uri: a file this
        server made (for this key: the only one it accepts), done and
        succeeded, at 720p, at most 141 s."""
        st = self.state
        m = re.fullmatch(r"http://%s:%d/v1beta/files/([a-z0-9]+):download\?alt=media"
                         % (re.escape(self.server.args.host), st.port), uri)
        with st.lock:
            src = st.files.get(m.group(1)) if m else None
        if src is None or not st.done(src) or src["outcome"] != "succeed":
            raise Refusal(400, "INVALID_ARGUMENT",
                          "The input video must be a video generated by Veo: %s is not one."
                          % uri[:120])
        if src["body"].get("parameters", {}).get("resolution", "720p") != "720p":
            raise Refusal(400, "INVALID_ARGUMENT", "Only 720p videos can be extended.")
        if src["duration"] > EXTEND_SOURCE_MAX:
            raise Refusal(400, "INVALID_ARGUMENT", "The input video must be at most %d seconds "
                          "long." % EXTEND_SOURCE_MAX)
        return src["duration"] + EXTEND_ADDS

    def poll(self, url, model, oid):
        st = self.state
        st.bump("polls")
        if not self.auth(url):
            return
        mode, delay = st.take("poll")
        if mode == "hang":
            self.outcome = "HANG"
            time.sleep(delay)
        elif self.misbehave(mode):
            return
        with st.lock:
            op = st.ops.get(oid)
        if op is None or op["model"] != model:
            return self.rpc(404, "NOT_FOUND", "Operation not found: models/%s/operations/%s"
                            % (model, oid))
        self.send(200, json.dumps(st.op_json(op), indent=2).encode())

    def download(self, url, fid):
        st = self.state
        if urllib.parse.parse_qs(url.query).get("alt") != ["media"]:
            return self.rpc(400, "INVALID_ARGUMENT", "alt=media is required to download.")
        if not self.auth(url):
            return
        with st.lock:
            op = st.files.get(fid)
        if op is None or not st.done(op) or op["outcome"] != "succeed":
            return self.rpc(404, "NOT_FOUND", "File %s not found." % fid)
        res = st.scenario["result"]
        if res == "404":
            return self.rpc(404, "NOT_FOUND", "File %s not found." % fid)
        if res == "redirect_other":
            to = "http://%s:%d/cdn/%s.mp4" % (self.server.args.cdn_host, st.cdn_port, fid)
            return self.send(302, b"", "text/plain", [("Location", to)])
        if res == "redirect_private":
            return self.send(302, b"", "text/plain", [("Location", "http://10.0.0.1/x.mp4")])
        with open(st.video(op["duration"]), "rb") as f:
            data = f.read()
        st.bump("downloads")
        self.send(200, data, "video/mp4")

    def cdn(self, method, path):
        st = self.state
        with st.lock:
            st.cdn_requests.append({"path": path, "headers": dict(self.headers.items())})
        m = re.fullmatch(r"/cdn/([a-z0-9]+)\.mp4", path)
        with st.lock:
            op = st.files.get(m.group(1)) if m else None
        if op is None or method != "GET":
            return self.send(404, b"not found\n", "text/plain")
        with open(st.video(op["duration"]), "rb") as f:
            data = f.read()
        st.bump("cdn_downloads")
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
            return self.send(200, json.dumps(st.scenario_view()).encode())
        if path == "/_fake/scenario" and method == "GET":
            return self.send(200, json.dumps(st.scenario_view()).encode())
        if path == "/_fake/reset" and method == "POST":
            st.reset()
            return self.send(200, b'{"reset":true}')
        if path == "/_fake/jobs" and method == "GET":
            with st.lock:
                ops = list(st.ops.values())
                out = {"operations": [{"name": o["name"], "model": o["model"], "body": o["body"],
                                       "outcome": o["outcome"], "done": st.done(o),
                                       "created_at": int(o["created"] * 1000)} for o in ops],
                       "keys_seen": list(st.keys_seen), "cdn_requests": list(st.cdn_requests),
                       "submit_times": list(st.submit_times),
                       "scenario": st.scenario_view(), "cdn_port": st.cdn_port}
                out.update(st.counters)
            return self.send(200, json.dumps(out).encode())
        self.send(404, b'{"error":"unknown control endpoint"}')


def make_server(host, port, state, args, cdn):
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.state, server.args, server.cdn = state, args, cdn
    return server


def serve(args):
    state = State(args)
    server = make_server(args.host, args.port, state, args, False)
    state.port = server.server_address[1]
    cdn = make_server(args.cdn_host, 0, state, args, True)
    state.cdn_port = cdn.server_address[1]
    threading.Thread(target=cdn.serve_forever, daemon=True).start()

    fakelib.run(server, state.port, cdn, cleanup=state.videos.remove)


# ---------------------------------------------------------------- self-test

def self_test():
    key = "AIza-selftest-" + os.urandom(4).hex()
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--port", "0",
                             "--api-key", key, "--step-seconds", "0.3"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().split()
    assert line[:1] == ["ready"], line
    port = int(line[1])
    M = "/v1beta/models/veo-3.1-generate-preview:predictLongRunning"
    PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 32).decode()

    def req(method, path, body=None, k=key, timeout=10, host="127.0.0.1", p=None):
        c = http.client.HTTPConnection(host, p or port, timeout=timeout)
        h = {"x-goog-api-key": k} if k else {}
        if body is not None:
            body, h["Content-Type"] = json.dumps(body).encode(), "application/json"
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, r.read(), r
        finally:
            c.close()

    def jreq(*a, **kw):
        s, raw, _ = req(*a, **kw)
        return s, json.loads(raw)

    def scen(**kw):
        assert jreq("POST", "/_fake/scenario", kw, k=None)[0] == 200, kw

    def refused(status, rpc, body, path=M, **kw):
        s, j = jreq("POST", path, body, **kw)
        assert (s, j["error"]["status"]) == (status, rpc), (body, s, j)
        return j["error"]

    def wait_done(name):
        for _ in range(100):
            s, j = jreq("GET", "/v1beta/" + name)
            assert s == 200, j
            if j["done"]:
                return j
            time.sleep(0.05)
        raise AssertionError("never done")

    try:
        e = refused(403, "PERMISSION_DENIED", {"instances": [{"prompt": "x"}]}, k=None)
        e = refused(400, "INVALID_ARGUMENT", {"instances": [{"prompt": "x"}]}, k="wrong")
        assert e["details"][0]["reason"] == "API_KEY_INVALID", e
        for bad in ({"instances": [{"prompt": "x"}], "bogus": 1},
                    {"instances": [{"prompt": "x", "negative_prompt": "y"}]},
                    {"instances": [{"prompt": "x"}], "parameters": {"seed": 1}},
                    {"instances": [{"prompt": "x"}], "parameters": {"fps": 24}},
                    {"instances": [{"prompt": "x"}], "parameters": {"durationSeconds": 5}},
                    {"instances": [{"prompt": "x"}], "parameters": {"durationSeconds": "8"}},
                    {"instances": [{"prompt": "x"}], "parameters": {"aspectRatio": "1:1"}},
                    {"instances": [{"prompt": "x"}], "parameters": {"resolution": "1080p",
                                                                    "durationSeconds": 6}},
                    {"instances": [{"prompt": "x", "image": {"imageUri": "http://x"}}]},
                    {"instances": [{"prompt": "x", "image": {"bytesBase64Encoded": PNG,
                                                             "mimeType": "image/jpeg"}}],
                     "parameters": {"personGeneration": "allow_adult"}},
                    {"instances": [{"prompt": "x", "image": {"bytesBase64Encoded": PNG,
                                                             "mimeType": "image/png"}}],
                     "parameters": {"personGeneration": "allow_all"}},
                    {"instances": []}):
            refused(400, "INVALID_ARGUMENT", bad)
        refused(404, "NOT_FOUND", {"instances": [{"prompt": "x"}]},
                path="/v1beta/models/veo-9:predictLongRunning")
        s, j = jreq("POST", M, {"instances": [{"prompt": "a cat"}],
                                "parameters": {"durationSeconds": 4, "aspectRatio": "9:16"}})
        assert s == 200 and re.fullmatch(r"models/veo-3.1-generate-preview/operations/[a-z0-9]+",
                                         j["name"]), j
        name = j["name"]
        assert jreq("GET", "/v1beta/" + name)[1]["done"] is False
        d = wait_done(name)
        uri = d["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
        path = uri.split(str(port), 1)[1]
        assert req("GET", path, k=None)[0] == 403
        s, mp4, _ = req("GET", path, timeout=60)
        assert s == 200 and mp4[4:8] == b"ftyp", s
        ext = {"instances": [{"prompt": "more", "video": {"uri": uri}}],
               "parameters": {"durationSeconds": 8}}
        for bad in ({"instances": [{"prompt": "more", "video": {"uri": uri + "x"}}]},
                    {"instances": [{"prompt": "more", "video": {"encodedVideo": "AAAA"}}]},
                    {"instances": [{"prompt": "more", "video": {"uri": uri, "gcsUri": "g"}}]},
                    {"instances": [{"prompt": "more", "video": {"uri": uri}}],
                     "parameters": {"durationSeconds": 4}},
                    {"instances": [{"prompt": "more", "video": {"uri": uri}}],
                     "parameters": {"resolution": "1080p"}},
                    {"instances": [{"prompt": "x", "referenceImages": [
                        {"image": {"bytesBase64Encoded": PNG, "mimeType": "image/png"},
                         "referenceType": "style"}]}]},
                    {"instances": [{"prompt": "x", "referenceImages": [
                        {"image": {"bytesBase64Encoded": PNG, "mimeType": "image/png"},
                         "referenceType": "asset"}] * 4}]},
                    {"instances": [{"prompt": "x", "image": {"bytesBase64Encoded": PNG,
                                                             "mimeType": "image/png"},
                                    "referenceImages": [
                        {"image": {"bytesBase64Encoded": PNG, "mimeType": "image/png"},
                         "referenceType": "asset"}]}]}):
            refused(400, "INVALID_ARGUMENT", bad)
        refused(400, "INVALID_ARGUMENT", ext,
                path="/v1beta/models/veo-3.0-generate-001:predictLongRunning")
        e = wait_done(jreq("POST", M, ext)[1]["name"])
        euri = e["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
        s, emp4, _ = req("GET", euri.split(str(port), 1)[1], timeout=60)
        assert s == 200 and len(emp4) > len(mp4), (s, len(emp4), len(mp4))
        assert jreq("POST", M, {"instances": [{"prompt": "x", "referenceImages": [
            {"image": {"bytesBase64Encoded": PNG, "mimeType": "image/png"},
             "referenceType": "asset"}]}], "parameters": {"personGeneration": "allow_adult"}}
            )[0] == 200
        scen(result="redirect_other")
        s, _, r = req("GET", path)
        loc = urllib.parse.urlsplit(r.getheader("Location"))
        assert s == 302 and loc.hostname == "127.0.0.2", r.getheader("Location")
        assert req("GET", loc.path, k=None, host=loc.hostname, p=loc.port)[:2] == (200, mp4)
        scen(result="ok", outcome="inline")
        j = jreq("POST", M, {"instances": [{"prompt": "x", "image": {
            "bytesBase64Encoded": PNG, "mimeType": "image/png"}}],
            "parameters": {"personGeneration": "allow_adult", "durationSeconds": 4}})[1]
        v = wait_done(j["name"])["response"]["generateVideoResponse"]["generatedSamples"][0]
        assert base64.b64decode(v["video"]["encodedVideo"]) == mp4
        scen(outcome="filtered")
        g = wait_done(jreq("POST", M, {"instances": [{"prompt": "x"}]})[1]["name"])
        assert g["response"]["generateVideoResponse"]["raiMediaFilteredCount"] == 1, g
        scen(outcome="failed")
        g = wait_done(jreq("POST", M, {"instances": [{"prompt": "x"}]})[1]["name"])
        assert g["error"]["code"] == 13, g
        for mode, want in (("429", 429), ("503", 503), ("500", 500), ("policy", 400),
                           ("quota", 400), ("expired_key", 400)):
            scen(submit=mode, count=1)
            assert jreq("POST", M, {"instances": [{"prompt": "x"}]})[0] == want, mode
        scen(submit="invalid_json", count=1)
        assert req("POST", M, {"instances": [{"prompt": "x"}]})[1] == BROKEN_JSON
        j = jreq("GET", "/_fake/jobs", k=None)[1]
        assert j["submits_accepted"] == 6 and key in j["keys_seen"], j["submits_accepted"]
        assert jreq("POST", "/_fake/reset", {}, k=None)[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
    assert rc == 0, rc
    print("self-test ok")


def main():
    p = argparse.ArgumentParser(description="Fake Gemini API (Veo) for reelgate's tests")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--cdn-host", default="127.0.0.2")
    p.add_argument("--api-key")
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
    if not args.api_key:
        p.error("--api-key is required")
    serve(args)


if __name__ == "__main__":
    main()
