#!/usr/bin/env python3
"""A fake Veo on Vertex AI (and Google's token service and Cloud Storage) for
reelgate's integration tests.

It follows /work/shared/research/providers-2.md section 1.2 and the
predictLongRunning / fetchPredictOperation code of googleapis/python-genai
(models.py _GenerateVideosConfig_to_vertex, operations.py):
  POST /token                       the OAuth2 JWT-bearer grant (RFC 7523): the
                                    assertion's RS256 signature is verified
                                    against --public-key with `openssl dgst`;
                                    iss, aud, scope, iat and exp are checked
  POST /v1/projects/P/locations/L/publishers/google/models/M:predictLongRunning
  POST /v1/projects/P/locations/L/publishers/google/models/M:fetchPredictOperation
  GET  /storage/v1/b/BUCKET/o/OBJECT?alt=media   a result written to storageUri
Every API call needs "Authorization: Bearer <a token this fake issued, not
expired, not revoked>", else 401 UNAUTHENTICATED.  Errors are google.rpc.Status
objects {"error": {"code", "message", "status"}}.  Operations are done after
two --step-seconds; the video is inline base64 (videos[].bytesBase64Encoded)
or, when the request had parameters.storageUri, a gs:// object served by the
storage endpoint.  A second listener (the "elsewhere" port, another origin)
serves /elsewhere/<op>.mp4 for the redirect test and records whether an
Authorization header reached it.

Control API (no auth):
  POST /_fake/scenario {"submit":..., "poll":..., "token":..., "outcome":...,
                        "result":..., "count":N, "delay":S, "retry_after":S}
  POST /_fake/revoke   every token issued so far is refused from now on
  POST /_fake/reset    everything back to the start
  GET  /_fake/jobs     operations, tokens, counters

Usage: fake_vertex.py --port PORT --public-key PEM --client-email EMAIL
                      --project P --location L [--token-seconds N]
                      [--step-seconds S]
Prints "ready PORT" once listening.  Standard library only (plus the ffmpeg
and openssl programs).
"""

import argparse, base64, binascii, itertools, json, os, re, secrets, shutil, signal
import socket, struct, subprocess, sys, tempfile, threading, time, traceback, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fakelib

SUBMIT_MODES = {"ok", "429", "503", "500", "garbage", "reset", "hold", "policy", "quota",
                "invalid", "hang"}
POLL_MODES = {"ok", "429", "500", "garbage", "reset", "hang"}
TOKEN_MODES = {"ok", "500", "invalid_grant"}
OUTCOMES = {"ok", "rai", "error", "never"}
RESULTS = {"ok", "404", "redirect_elsewhere"}
ERRORS = {
    "429": (429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/"
            "online_prediction_requests_per_base_model with base model: veo-3.0-generate. "
            "Please submit a quota increase request."),
    "503": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "500": (500, "INTERNAL", "Internal error encountered."),
    "policy": (400, "INVALID_ARGUMENT", "The prompt could not be submitted. This prompt contains "
               "sensitive words that violate Google's Responsible AI practices. Try rephrasing "
               "the prompt. If you think this was an error, send feedback. Support codes: "
               "58061214"),
    "quota": (403, "PERMISSION_DENIED", "This API method requires billing to be enabled. Please "
              "enable billing on project #1234 by visiting the Google Cloud console."),
    "invalid": (400, "INVALID_ARGUMENT", "Video generation with the given parameters is not "
                "supported for this model."),
}
UNAUTH = ("Request had invalid authentication credentials. Expected OAuth 2 access token, "
          "login cookie or other valid authentication credential.")
RAI_REASON = ("The video could not be generated because it may violate Google's usage "
              "guidelines. Support codes: 17301594")
OP_ERROR = "Video generation failed due to an internal error. Support codes: 90789179"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
COUNTERS = ("creates_received", "creates_accepted", "polls", "mints", "token_requests",
            "token_failures", "auth_failures", "downloads", "elsewhere_downloads",
            "elsewhere_with_auth", "storage_without_auth", "unknown_paths")
INSTANCE_KEYS = {"prompt", "image", "lastFrame", "video", "referenceImages", "mask"}
PARAM_TYPES = {"sampleCount": int, "durationSeconds": int, "aspectRatio": str, "resolution": str,
               "negativePrompt": str, "personGeneration": str, "seed": int, "fps": int,
               "generateAudio": bool, "storageUri": str, "enhancePrompt": bool,
               "compressionQuality": str, "resizeMode": str, "pubsubTopic": str}
MODELS = {"veo-2.0-generate-001", "veo-3.0-generate-001", "veo-3.0-fast-generate-001",
          "veo-3.1-generate-001", "veo-3.1-fast-generate-001"}
DEFAULT_DELAY = 10.0


def b64url_decode(text):
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


def validate(model, body):
    """Vertex's checks of a predictLongRunning body: None, or the message."""
    if set(body) - {"instances", "parameters", "labels"}:
        return "Invalid JSON payload received. Unknown name %r: Cannot find field." % \
            sorted(set(body) - {"instances", "parameters", "labels"})[0]
    inst = body.get("instances")
    if not isinstance(inst, list) or len(inst) != 1 or not isinstance(inst[0], dict):
        return "instances must hold exactly one instance"
    i = inst[0]
    if set(i) - INSTANCE_KEYS:
        return "Unknown field in instance: %s" % sorted(set(i) - INSTANCE_KEYS)[0]
    if not isinstance(i.get("prompt"), str) or not i["prompt"].strip():
        return "The prompt is required."
    img = i.get("image")
    if img is not None:
        if not isinstance(img, dict) or set(img) - {"bytesBase64Encoded", "gcsUri", "mimeType"}:
            return "image must be {bytesBase64Encoded | gcsUri, mimeType}"
        if ("bytesBase64Encoded" in img) == ("gcsUri" in img):
            return "image needs exactly one of bytesBase64Encoded and gcsUri"
        if img.get("mimeType") not in ("image/png", "image/jpeg", "image/webp"):
            return "image.mimeType must be image/png, image/jpeg or image/webp"
        if "bytesBase64Encoded" in img:
            try:
                raw = base64.b64decode(img["bytesBase64Encoded"], validate=True)
            except (ValueError, binascii.Error, TypeError):
                return "image.bytesBase64Encoded is not valid base64"
            kind = "image/png" if raw[:8] == b"\x89PNG\r\n\x1a\n" else \
                "image/jpeg" if raw[:3] == b"\xff\xd8\xff" else \
                "image/webp" if raw[8:12] == b"WEBP" else None
            if kind != img["mimeType"]:
                return "image.mimeType does not match the image"
    p = body.get("parameters", {})
    if not isinstance(p, dict):
        return "parameters must be an object"
    for k, v in p.items():
        t = PARAM_TYPES.get(k)
        if t is None:
            return "Unknown parameter: %s" % k
        if not isinstance(v, t) or (t is int and isinstance(v, bool)):
            return "parameters.%s must be of type %s" % (k, t.__name__)
    veo2 = model.startswith("veo-2")
    d = p.get("durationSeconds", 8)
    if (veo2 and not 5 <= d <= 8) or (not veo2 and d not in (4, 6, 8)):
        return "Unsupported duration: %s seconds" % d
    if p.get("aspectRatio", "16:9") not in ("16:9", "9:16"):
        return "Unsupported aspect ratio: %s" % p["aspectRatio"]
    res = ("720p", "1080p", "4k") if model.startswith("veo-3.1") else ("720p", "1080p")
    if "resolution" in p and (veo2 or p["resolution"] not in res):
        return "Unsupported resolution: %s" % p["resolution"]
    if not 1 <= p.get("sampleCount", 1) <= 4:
        return "sampleCount must be between 1 and 4"
    if "seed" in p and not 0 <= p["seed"] <= 4294967295:
        return "seed must be a uint32"
    if "fps" in p and p["fps"] != 24:
        return "Unsupported fps: %s" % p["fps"]
    pg = p.get("personGeneration")
    if pg is not None and pg not in ("dont_allow", "allow_adult", "allow_all"):
        return "Unsupported personGeneration: %s" % pg
    if pg == "allow_all" and img is not None:
        return "personGeneration allow_all is not supported for image-to-video"
    if "generateAudio" in p and veo2:
        return "generateAudio is not supported by this model"
    if "storageUri" in p and not re.fullmatch(r"gs://[a-z0-9._-]+(/.*)?", p["storageUri"]):
        return "storageUri must be a gs:// URI"
    return None


class State:
    def __init__(self, args):
        self.args = args
        self.port = self.elsewhere_port = 0
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.videos = fakelib.VideoCache("fake-vertex-", 24)
        self.reset()

    def reset(self):
        with self.lock:
            self.ops = {}
            self.tokens = {}          # token -> {"exp", "revoked"}
            self.token_log = []       # verdicts of token requests
            self.counters = dict.fromkeys(COUNTERS, 0)
            self.scenario = {"submit": "ok", "poll": "ok", "token": "ok", "outcome": "ok",
                             "result": "ok", "delay": DEFAULT_DELAY, "retry_after": None}
            self.left = {"submit": None, "poll": None, "token": None}

    def bump(self, name):
        with self.lock:
            self.counters[name] += 1

    def scenario_set(self, obj):
        allowed = {"submit": SUBMIT_MODES, "poll": POLL_MODES, "token": TOKEN_MODES,
                   "outcome": OUTCOMES, "result": RESULTS}
        if not isinstance(obj, dict):
            return "scenario must be a JSON object"
        for k, v in obj.items():
            if k in allowed:
                if v not in allowed[k]:
                    return "%s must be one of %s" % (k, sorted(allowed[k]))
            elif k in ("count", "retry_after"):
                if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                    return "%s must be an integer >= 1 or null" % k
            elif k == "delay":
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                    return "delay must be a number >= 0"
            else:
                return "unknown scenario key %r" % k
        with self.lock:
            for k in list(allowed) + ["retry_after"]:
                if k in obj:
                    self.scenario[k] = obj[k]
            if "delay" in obj:
                self.scenario["delay"] = float(obj["delay"])
            for k in [k for k in ("submit", "poll", "token") if k in obj]:
                self.left[k] = obj.get("count") if self.scenario[k] != "ok" else None
        return None

    def take(self, which):
        with self.lock:
            mode = self.scenario[which]
            if mode != "ok" and self.left[which] is not None:
                self.left[which] -= 1
                if self.left[which] <= 0:
                    self.scenario[which], self.left[which] = "ok", None
            return mode, self.scenario["delay"]

    def create(self, model, body, token):
        with self.lock:
            opid = "%08x-0000-4000-8000-%012d" % (0x5f0c9a1e, next(self.ids))
            name = "projects/%s/locations/%s/publishers/google/models/%s/operations/%s" % (
                self.args.project, self.args.location, model, opid)
            p = body.get("parameters", {})
            op = {"name": name, "id": opid, "model": model, "body": body, "created": time.time(),
                  "outcome": self.scenario["outcome"], "token": token,
                  "seconds": p.get("durationSeconds", 8), "storage": p.get("storageUri")}
            self.ops[name] = op
            self.counters["creates_accepted"] += 1
        threading.Thread(target=self.video, args=(op["seconds"],), daemon=True).start()
        return op

    def status(self, op):
        el = time.time() - op["created"]
        if el < 2 * self.args.step_seconds or op["outcome"] == "never":
            return "running"
        return op["outcome"]

    def object_name(self, op):
        bucket, _, prefix = op["storage"][5:].partition("/")
        return bucket, (prefix.rstrip("/") + "/" if prefix else "") + op["id"] + "/sample_0.mp4"

    def op_json(self, op):
        st = self.status(op)
        if st == "running":
            return {"name": op["name"], "done": False}
        out = {"name": op["name"], "done": True}
        if st == "error":
            out["error"] = {"code": 13, "message": OP_ERROR}
            return out
        resp = {"@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
                "raiMediaFilteredCount": 0}
        if st == "rai":
            resp["raiMediaFilteredCount"] = 1
            resp["raiMediaFilteredReasons"] = [RAI_REASON]
        elif op["storage"]:
            bucket, obj = self.object_name(op)
            resp["videos"] = [{"gcsUri": "gs://%s/%s" % (bucket, obj), "mimeType": "video/mp4"}]
        else:
            with open(self.video(op["seconds"]), "rb") as f:
                data = base64.b64encode(f.read()).decode()
            resp["videos"] = [{"bytesBase64Encoded": data, "mimeType": "video/mp4"}]
        out["response"] = resp
        return out

    def video(self, seconds):
        return self.videos.get(seconds)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-vertex/1.0"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self): self.dispatch("GET")      # noqa: E704
    def do_POST(self): self.dispatch("POST")    # noqa: E704
    def do_DELETE(self): self.dispatch("DELETE")  # noqa: E704

    def send(self, status, body=b"", ctype="application/json", headers=()):
        self.outcome = str(status)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def jsend(self, status, obj, headers=()):
        self.send(status, json.dumps(obj).encode(), headers=headers)

    def rpc_error(self, code, status, message, headers=()):
        self.jsend(code, {"error": {"code": code, "message": message, "status": status}}, headers)

    def reset_conn(self):
        fakelib.reset_conn(self)

    def dispatch(self, method):
        self.state = self.server.state
        self.outcome, t0 = "-", time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        try:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n > 0 else b""
            if getattr(self.server, "elsewhere", False):
                self.elsewhere(method, url.path)
            elif url.path.startswith("/_fake/"):
                self.control(method, url.path, raw)
            elif url.path == "/token" and method == "POST":
                self.token(raw)
            elif url.path.startswith("/storage/v1/b/") and method == "GET":
                self.storage(url)
            else:
                m = re.fullmatch(r"/v1/projects/([^/]+)/locations/([^/]+)/publishers/google/"
                                 r"models/([^/:]+):(predictLongRunning|fetchPredictOperation)",
                                 url.path)
                if not m or method != "POST":
                    st = self.state
                    st.bump("unknown_paths")    # e.g. an operations/...:cancel
                    self.rpc_error(404, "NOT_FOUND", "The requested URL was not found.")
                else:
                    self.api(m.group(1), m.group(2), m.group(3), m.group(4), raw)
        except (BrokenPipeError, ConnectionResetError):
            self.outcome, self.close_connection = "client-gone", True
        except Exception:
            traceback.print_exc()
            if self.outcome == "-":
                self.rpc_error(500, "INTERNAL", "fake server bug")
        finally:
            sys.stderr.write("fake_vertex: %s %s -> %s %.0fms\n" % (
                method, url.path, self.outcome, (time.monotonic() - t0) * 1000))
            sys.stderr.flush()

    # -- the token service
    def token(self, raw):
        st, a = self.state, self.server.args
        st.bump("token_requests")
        mode, _ = st.take("token")
        if mode == "500":
            return self.jsend(500, {"error": "internal_failure"})
        form = urllib.parse.parse_qs(raw.decode("ascii", "replace"), keep_blank_values=True)
        verdict = self.check_assertion(form)
        with st.lock:
            st.token_log.append({"time": time.time(), "verdict": verdict})
        if mode == "invalid_grant" and verdict == "ok":
            verdict = "invalid_grant: Invalid grant: account not found"
        if verdict != "ok":
            st.bump("token_failures")
            err, _, desc = verdict.partition(": ")
            return self.jsend(400, {"error": err, "error_description": desc})
        tok = "ya29.fake-" + secrets.token_urlsafe(24)
        with st.lock:
            st.tokens[tok] = {"exp": time.time() + a.token_seconds, "revoked": False}
            st.counters["mints"] += 1
        self.jsend(200, {"access_token": tok, "expires_in": a.token_seconds,
                         "token_type": "Bearer"})

    def check_assertion(self, form):
        a = self.server.args
        if self.headers.get("Content-Type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return "invalid_request: Content-Type must be application/x-www-form-urlencoded"
        if form.get("grant_type") != [GRANT]:
            return "unsupported_grant_type: Invalid grant_type"
        jwt = (form.get("assertion") or [""])[0]
        parts = jwt.split(".")
        if len(parts) != 3:
            return "invalid_grant: Invalid JWT"
        try:
            head, claims = json.loads(b64url_decode(parts[0])), json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
        except (ValueError, binascii.Error):
            return "invalid_grant: Invalid JWT"
        if not isinstance(head, dict) or head.get("alg") != "RS256" or not isinstance(claims, dict):
            return "invalid_grant: Invalid JWT: alg must be RS256"
        with tempfile.TemporaryDirectory() as d:
            data, sigf = os.path.join(d, "data"), os.path.join(d, "sig")
            with open(data, "wb") as f:
                f.write((parts[0] + "." + parts[1]).encode())
            with open(sigf, "wb") as f:
                f.write(sig)
            r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", a.public_key,
                                "-signature", sigf, data], capture_output=True)
        if r.returncode != 0:
            return "invalid_grant: Invalid JWT Signature."
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if claims.get("iss") != a.client_email:
            return "invalid_grant: Invalid email or User ID"
        if claims.get("aud") != "http://127.0.0.1:%d/token" % self.state.port:
            return "invalid_grant: Invalid JWT: audience"
        if SCOPE not in str(claims.get("scope", "")).split():
            return "invalid_scope: Invalid OAuth scope or ID token audience provided."
        if not isinstance(iat, int) or not isinstance(exp, int) or exp - iat > 3600 or \
                iat > now + 60 or exp < now:
            return ("invalid_grant: Invalid JWT: Token must be a short-lived token (60 minutes) "
                    "and in a reasonable timeframe.")
        return "ok"

    def auth(self):
        h = self.headers.get("Authorization") or ""
        tok = h[7:] if h.startswith("Bearer ") else None
        with self.state.lock:
            t = self.state.tokens.get(tok)
            good = t is not None and not t["revoked"] and time.time() < t["exp"]
            if not good:
                self.state.counters["auth_failures"] += 1
        if not good:
            self.rpc_error(401, "UNAUTHENTICATED", UNAUTH,
                           [("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"')])
            return None
        return tok

    # -- Vertex AI
    def api(self, project, location, model, verb, raw):
        st, a = self.state, self.server.args
        if verb == "predictLongRunning":
            st.bump("creates_received")
        else:
            st.bump("polls")
        tok = self.auth()
        if tok is None:
            return
        if (project, location) != (a.project, a.location):
            return self.rpc_error(403, "PERMISSION_DENIED", "Permission 'aiplatform.endpoints."
                                  "predict' denied on resource (or it may not exist).")
        if model not in MODELS:
            return self.rpc_error(404, "NOT_FOUND", "Publisher Model `projects/%s/locations/%s/"
                                  "publishers/google/models/%s` was not found or your project "
                                  "does not have access to it." % (project, location, model))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self.rpc_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if verb == "predictLongRunning":
            return self.submit(model, body, tok)
        mode, delay = st.take("poll")
        if self.misbehave(mode, delay):
            return
        if set(body) != {"operationName"} or not isinstance(body["operationName"], str):
            return self.rpc_error(400, "INVALID_ARGUMENT", "operationName is required.")
        with st.lock:
            op = st.ops.get(body["operationName"])
        if op is None or op["model"] != model:
            return self.rpc_error(404, "NOT_FOUND", "Operation not found.")
        self.jsend(200, st.op_json(op))

    def misbehave(self, mode, delay):
        """The common misbehaviours; True when answered."""
        if mode in ("429", "503", "500"):
            code, status, msg = ERRORS[mode]
            ra = self.state.scenario["retry_after"]
            self.rpc_error(code, status, msg, [("Retry-After", str(ra))] if ra else [])
        elif mode == "garbage":
            self.send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        elif mode == "reset":
            self.reset_conn()
        elif mode == "hang":
            self.outcome = "HANG"
            time.sleep(delay)
            self.close_connection = True
        else:
            return False
        return True

    def submit(self, model, body, tok):
        st = self.state
        mode, delay = st.take("submit")
        if self.misbehave(mode, delay):
            return
        if mode in ("policy", "quota", "invalid"):
            return self.rpc_error(*ERRORS[mode])
        problem = validate(model, body)
        if problem:
            return self.rpc_error(400, "INVALID_ARGUMENT", problem)
        op = st.create(model, body, tok)
        if mode == "hold":           # made; the answer comes too late
            self.outcome = "HOLD"
            time.sleep(delay)
        self.jsend(200, {"name": op["name"]})

    # -- Cloud Storage (JSON API) and the other origin
    def storage(self, url):
        st = self.state
        m = re.fullmatch(r"/storage/v1/b/([^/]+)/o/([^/]+)", url.path)
        if not m or urllib.parse.parse_qs(url.query).get("alt") != ["media"]:
            return self.rpc_error(404, "NOT_FOUND", "No such object.")
        if not self.headers.get("Authorization"):
            st.bump("storage_without_auth")
        if self.auth() is None:
            return
        bucket, obj = m.group(1), urllib.parse.unquote(m.group(2))
        with st.lock:
            op = next((o for o in st.ops.values() if o["storage"] and
                       st.object_name(o) == (bucket, obj) and st.status(o) == "ok"), None)
        if op is None or st.scenario["result"] == "404":
            return self.rpc_error(404, "NOT_FOUND", "No such object: %s/%s" % (bucket, obj))
        if st.scenario["result"] == "redirect_elsewhere":
            to = "http://127.0.0.1:%d/elsewhere/%s.mp4" % (st.elsewhere_port, op["id"])
            return self.send(302, b"", "text/plain", [("Location", to)])
        with open(st.video(op["seconds"]), "rb") as f:
            data = f.read()
        st.bump("downloads")
        self.send(200, data, "video/mp4")

    def elsewhere(self, method, path):
        st = self.state
        m = re.fullmatch(r"/elsewhere/([0-9a-f-]+)\.mp4", path)
        with st.lock:
            op = next((o for o in st.ops.values() if m and o["id"] == m.group(1)), None)
            st.counters["elsewhere_downloads"] += 1
            if self.headers.get("Authorization"):
                st.counters["elsewhere_with_auth"] += 1
        if op is None or method != "GET":
            return self.send(404, b"not found\n", "text/plain")
        with open(st.video(op["seconds"]), "rb") as f:
            self.send(200, f.read(), "video/mp4")

    def control(self, method, path, raw):
        st = self.state
        if path == "/_fake/scenario" and method == "POST":
            try:
                obj = json.loads(raw or b"{}")
            except ValueError:
                obj = None
            problem = st.scenario_set(obj)
            if problem:
                return self.jsend(400, {"error": problem})
            return self.jsend(200, dict(st.scenario, left=st.left))
        if path == "/_fake/revoke" and method == "POST":
            with st.lock:
                for t in st.tokens.values():
                    t["revoked"] = True
            return self.jsend(200, {"revoked": True})
        if path == "/_fake/reset" and method == "POST":
            st.reset()
            return self.jsend(200, {"reset": True})
        if path == "/_fake/jobs" and method == "GET":
            with st.lock:
                ops = [{"name": o["name"], "model": o["model"], "body": o["body"],
                        "status": st.status(o), "created": o["created"]}
                       for o in st.ops.values()]
                out = {"operations": ops, "tokens": sorted(st.tokens),
                       "token_log": list(st.token_log), "scenario": dict(st.scenario),
                       "elsewhere_port": st.elsewhere_port}
                out.update(st.counters)
            return self.jsend(200, out)
        if path.startswith("/_fake/file/") and method == "GET":
            secs = path.rsplit("/", 1)[1]
            with open(st.video(int(secs)), "rb") as f:
                return self.send(200, f.read(), "video/mp4")
        self.jsend(404, {"error": "unknown control endpoint"})


def main():
    p = argparse.ArgumentParser(description="Fake Veo on Vertex AI for reelgate's tests")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--public-key", required=True)
    p.add_argument("--client-email", required=True)
    p.add_argument("--project", required=True)
    p.add_argument("--location", required=True)
    p.add_argument("--token-seconds", type=int, default=3600)
    p.add_argument("--step-seconds", type=float, default=0.3)
    args = p.parse_args()
    state = State(args)
    servers = []
    for elsewhere, port in ((False, args.port), (True, 0)):
        s = ThreadingHTTPServer((args.host, port), Handler)
        s.daemon_threads = True
        s.state, s.args, s.elsewhere = state, args, elsewhere
        servers.append(s)
    state.port = servers[0].server_address[1]
    state.elsewhere_port = servers[1].server_address[1]
    threading.Thread(target=servers[1].serve_forever, daemon=True).start()

    fakelib.run(servers[0], state.port, *servers[1:], cleanup=state.videos.remove)


if __name__ == "__main__":
    main()
