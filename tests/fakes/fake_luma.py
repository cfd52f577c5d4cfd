#!/usr/bin/env python3
"""A fake Luma Dream Machine video API for reelgate's integration tests.

It follows /work/shared/research/providers-2.md section 5.3 and Luma's
official SDK lumalabs/lumaai-python (read at c00ac17: resources/generations/
generations.py and video.py, types/generation.py, types/generations/
video_create_params.py, types/generation_list_*.py, _client.py):
  POST   /dream-machine/v1/generations/video      create -> the Generation (201)
  GET    /dream-machine/v1/generations/{id}       the Generation
  GET    /dream-machine/v1/generations?limit=&offset=
                                   {"generations", "count", "has_more", "limit", "offset"}
  DELETE /dream-machine/v1/generations/{id}       removes it, whatever its state (204)
  POST   /dream-machine/v1/generations/video/modify  modify -> the Generation (201)
The modify body takes the SDK's VideoModifyParams only: generation_type
"modify_video", media {url}, mode adhere_1..3 | flex_1..3 | reimagine_1..3
and model ray-2 | ray-flash-2 (all required), prompt, first_frame {url},
callback_url.  A keyframe {"type": "generation", "id"} (an extension) must
name a completed generation of this server (the key's: it takes one key);
the result is that generation's length plus the new duration (assumed: the
extended video holds the source).  A modify's media.url must be the video
URL of a completed generation here of at most 10 s (docs.lumalabs.ai
"Modify Video": ray-2, max 10 s; assumed: refused at create, 400); its
result is as long as the source.
Auth is exactly `Authorization: Bearer <key>` (the SDK's auth_headers).  The
create body takes only the SDK's fields (model ray-1-6 | ray-2 | ray-flash-2,
prompt, aspect_ratio, resolution, duration "5s"/"9s", loop, keyframes
{frame0, frame1} of {"type":"image","url"} or {"type":"generation","id"},
concepts [{key}], callback_url, generation_type "video"); anything else is
refused.  Not in the SDK, assumed (docs/backends.md, "## luma"): errors are
{"detail": "..."} (a validation error: 422 with {"detail": [{"type", "loc",
"msg", "input"}]}, FastAPI's shape); a keyframe image must be an http(s)
URL (a data: URL is refused); generations are listed newest first; a
moderation refusal says "moderation" in detail or failure_reason.
Generations walk queued -> dreaming -> completed | failed, one
--step-seconds per step.  assets.video is a URL on this server's
/dream_machine/ path (Luma's CDN: public; a request that carries an
Authorization header is refused, so a leaked credential shows); it is a real
MP4 made with ffmpeg at 24 fps, 5 or 9 s.  A second listener (another port,
so another origin) serves redirected downloads and records the headers.

Misbehaviour is scripted through /_fake/ (no auth), as fake_kling.py:
  POST /_fake/scenario  {"submit":..., "poll":..., "outcome":..., "result":...,
                         "auth":..., "count":N, "delay":S, "retry_after":S}
  POST /_fake/reset     back to all "ok", generations and counters cleared
  GET  /_fake/jobs      every generation (with the body received), the
                        counters, every download request's headers
Usage: fake_luma.py --port PORT --api-key KEY [--step-seconds 0.5]
Prints "ready PORT" once listening; SIGTERM exits.  Python standard library
only (plus the ffmpeg binary).
"""

import argparse, datetime, json, os, re, shutil, signal, socket, struct, subprocess, sys
import tempfile, threading, time, traceback, urllib.parse, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fakelib

PREFIX = "/dream-machine/v1/generations"
SUBMIT_MODES = {"ok", "429", "500", "503", "400_moderation", "400_credits", "422_param", "reset",
                "invalid_json", "hang", "hold"}
POLL_MODES = {"ok", "500", "429", "invalid_json", "reset"}
OUTCOMES = {"succeed", "failed", "moderation", "never", "stay_queued"}
RESULTS = {"ok", "404", "redirect_other", "redirect_private"}
AUTHS = {"ok", "expired"}
# scenario mode -> (HTTP status, detail)
ERRORS = {
    "429": (429, "Too many requests, please slow down"),
    "500": (500, "Internal Server Error"),
    "503": (503, "Service temporarily unavailable, please retry"),
    "400_moderation": (400, "400: prompt not allowed because advanced moderation failed"),
    "400_credits": (400, "Insufficient credits"),
}
FAILURES = {"failed": "Internal error while generating the video",
            "moderation": "Output failed moderation: the generated video was flagged"}
CREATE_FIELDS = {"model": str, "prompt": str, "aspect_ratio": str, "resolution": str,
                 "duration": str, "loop": bool, "keyframes": dict, "concepts": list,
                 "callback_url": str, "generation_type": str}
MODELS = {"ray-1-6", "ray-2", "ray-flash-2"}
RATIOS = {"1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"}
RESOLUTIONS = {"540p", "720p", "1080p", "4k"}
DURATIONS = {"5s": 5, "9s": 9}
MODIFY_FIELDS = {"generation_type": str, "media": dict, "mode": str, "model": str,
                 "prompt": str, "first_frame": dict, "callback_url": str}
MODIFY_REQUIRED = ("generation_type", "media", "mode", "model")
MODIFY_MODES = {"%s_%d" % (m, n) for m in ("adhere", "flex", "reimagine") for n in (1, 2, 3)}
MODIFY_MODELS = {"ray-2", "ray-flash-2"}
MODIFY_SOURCE_MAX = 10
COUNTERS = ("creates_received", "creates_accepted", "polls", "lists", "deletes", "downloads",
            "auth_failures")
BROKEN_JSON = b'{"id":"5b0e'
DEFAULT_DELAY = 10.0


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + "%03dZ" % int((t % 1) * 1000)


def problem(loc, msg, typ, value):
    return [{"type": typ, "loc": ["body"] + loc, "msg": msg, "input": value}]


def frame_problem(name, f):
    if not isinstance(f, dict) or f.get("type") not in ("image", "generation"):
        return problem(["keyframes", name, "type"], "Input should be 'image' or 'generation'",
                       "union_tag_invalid", f)
    want = {"type", "url"} if f["type"] == "image" else {"type", "id"}
    extra = set(f) - want
    if extra:
        return problem(["keyframes", name, sorted(extra)[0]], "Extra inputs are not permitted",
                       "extra_forbidden", f[sorted(extra)[0]])
    if f["type"] == "image":
        url = f.get("url")
        if not isinstance(url, str) or not re.match(r"https?://[^/\s]+", url):
            return problem(["keyframes", name, "url"], "URL must be an http(s) image URL",
                           "url_parsing", url if not isinstance(url, str) else url[:40])
    elif not isinstance(f.get("id"), str):
        return problem(["keyframes", name, "id"], "Field required", "missing", None)
    return None


def validate(b):
    """Luma's refusal (a 422 detail list) of a create body, or None."""
    for k, v in b.items():
        if k not in CREATE_FIELDS:
            return problem([k], "Extra inputs are not permitted", "extra_forbidden", v)
        want = CREATE_FIELDS[k]
        if v is None:
            continue
        if not isinstance(v, want) or (want is not bool and isinstance(v, bool)):
            return problem([k], "Input should be a valid %s" % want.__name__,
                           "%s_type" % want.__name__, v)
    if b.get("model") not in MODELS:
        return problem(["model"], "Input should be 'ray-1-6', 'ray-2' or 'ray-flash-2'",
                       "literal_error", b.get("model"))
    for k, allowed in (("aspect_ratio", RATIOS), ("resolution", RESOLUTIONS),
                       ("duration", set(DURATIONS)), ("generation_type", {"video"})):
        if b.get(k) is not None and b[k] not in allowed:
            return problem([k], "Input should be %s" % ", ".join(sorted(allowed)),
                           "literal_error", b[k])
    kf = b.get("keyframes")
    if kf is not None:
        for name, f in kf.items():
            if name not in ("frame0", "frame1"):
                return problem(["keyframes", name], "Extra inputs are not permitted",
                               "extra_forbidden", f)
            p = frame_problem(name, f)
            if p:
                return p
    for i, c in enumerate(b.get("concepts") or []):
        if not isinstance(c, dict) or set(c) != {"key"} or not isinstance(c["key"], str):
            return problem(["concepts", i], "Input should be {key}", "model_type", c)
    if not b.get("prompt") and not kf:
        return problem(["prompt"], "A prompt or a keyframe is required", "missing", None)
    return None


def validate_modify(b):
    """Luma's refusal (a 422 detail list) of a modify body, or None."""
    for k, v in b.items():
        if k not in MODIFY_FIELDS:
            return problem([k], "Extra inputs are not permitted", "extra_forbidden", v)
        if not isinstance(v, MODIFY_FIELDS[k]) or isinstance(v, bool):
            return problem([k], "Input should be a valid %s" % MODIFY_FIELDS[k].__name__,
                           "%s_type" % MODIFY_FIELDS[k].__name__, v)
    for k in MODIFY_REQUIRED:
        if k not in b:
            return problem([k], "Field required", "missing", None)
    for k, allowed in (("generation_type", {"modify_video"}), ("mode", MODIFY_MODES),
                       ("model", MODIFY_MODELS)):
        if b[k] not in allowed:
            return problem([k], "Input should be %s" % ", ".join(sorted(allowed)),
                           "literal_error", b[k])
    for k in ("media", "first_frame"):
        m = b.get(k)
        if m is None:
            continue
        if set(m) != {"url"}:
            extra = sorted(set(m) - {"url"})
            return problem([k] + (extra[:1] or ["url"]), "Extra inputs are not permitted"
                           if extra else "Field required", "extra_forbidden" if extra
                           else "missing", None)
        if not isinstance(m["url"], str) or not re.match(r"https?://[^/\s]+", m["url"]):
            return problem([k, "url"], "URL must be an http(s) URL", "url_parsing", m["url"])
    return None


class State:
    def __init__(self, args):
        self.args = args
        self.port = self.cdn_port = 0
        self.lock = threading.Lock()
        self.videos = fakelib.VideoCache("fake-luma-", 24)
        self.reset()

    def reset(self):
        with self.lock:
            self.gens = {}
            self.counters = dict.fromkeys(COUNTERS, 0)
            self.fetches = []
            self.deleted = []                 # (id, state when deleted)
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

    def create(self, body, seconds=None, kind="video"):
        with self.lock:
            g = {"id": str(uuid.uuid4()), "body": body, "created": time.time(),
                 "outcome": self.scenario["outcome"], "kind": kind,
                 "seconds": seconds or DURATIONS.get(body.get("duration"), 5)}
            self.gens[g["id"]] = g
            self.counters["creates_accepted"] += 1
        threading.Thread(target=self.video, args=(self.seconds(g),), daemon=True).start()
        return g

    @staticmethod
    def seconds(g):
        return g["seconds"]

    def video_url(self, g):
        return "http://%s:%d/dream_machine/%s/video.mp4" % (self.args.host, self.port, g["id"])

    def source(self, ident=None, url=None):
        """The completed generation an extension or a modify names (by id
        or by its video URL), or None."""
        with self.lock:
            gens = list(self.gens.values())
        for g in gens:
            if (ident is not None and g["id"] == ident or
                    url is not None and self.video_url(g) == url):
                return g if self.state_of(g) == "completed" else None
        return None

    def state_of(self, g):
        step, elapsed = self.args.step_seconds, time.time() - g["created"]
        if elapsed < step or g["outcome"] == "stay_queued":
            return "queued"
        if elapsed < 2 * step or g["outcome"] == "never":
            return "dreaming"
        return "completed" if g["outcome"] == "succeed" else "failed"

    def gen_json(self, g):
        st, b = self.state_of(g), g["body"]
        req = {"generation_type": "video", "model": b["model"], "prompt": b.get("prompt"),
               "aspect_ratio": b.get("aspect_ratio", "16:9"), "resolution": b.get("resolution"),
               "duration": b.get("duration"), "loop": b.get("loop", False),
               "keyframes": b.get("keyframes"), "concepts": b.get("concepts"),
               "callback_url": b.get("callback_url")}
        if g["kind"] == "modify":
            req = {k: b.get(k) for k in MODIFY_FIELDS}
        d = {"id": g["id"], "generation_type": "video", "state": st, "failure_reason": None,
             "created_at": iso(g["created"]), "model": b["model"],
             "assets": {"video": None, "image": None, "progress_video": None}, "request": req}
        if st == "failed":
            d["failure_reason"] = FAILURES[g["outcome"]]
        if st == "completed":
            url = self.video_url(g)
            d["assets"] = {"video": url, "image": url[:-len("video.mp4")] + "thumb.jpg",
                           "progress_video": None}
        return d

    def video(self, seconds):
        return self.videos.get(seconds)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-luma/1.0"
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
        self.send_header("X-Request-Id", self.rid)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def ok(self, obj, status=200):
        self.send(status, json.dumps(obj).encode())

    def err(self, status, detail, headers=()):
        self.send(status, json.dumps({"detail": detail}).encode(), headers=headers)

    def canned(self, mode, retry_after=None):
        status, detail = ERRORS[mode]
        h = [("Retry-After", "%g" % retry_after)] if retry_after is not None and status == 429 else []
        self.err(status, detail, headers=h)

    def reset_conn(self):
        fakelib.reset_conn(self)

    def dispatch(self, method):
        self.state = self.server.state
        self.rid, self.outcome = uuid.uuid4().hex, "-"
        t0 = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        try:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n > 0 else b""
            if self.cdn:
                self.download(method, url, cdn=True)
            elif url.path.startswith("/_fake/"):
                self.control(method, url.path, raw)
            elif url.path.startswith("/dream_machine/"):
                self.download(method, url, cdn=False)
            elif url.path == PREFIX + "/video" and method == "POST":
                self.create(raw)
            elif url.path == PREFIX + "/video/modify" and method == "POST":
                self.create(raw, modify=True)
            elif url.path == PREFIX and method == "GET":
                self.list(url.query)
            elif url.path.startswith(PREFIX + "/") and method in ("GET", "DELETE"):
                ident = urllib.parse.unquote(url.path[len(PREFIX) + 1:])
                (self.get if method == "GET" else self.delete)(ident)
            else:
                self.err(404, "Not Found")
        except (BrokenPipeError, ConnectionResetError):
            self.outcome, self.close_connection = "client-gone", True
        except Exception:
            traceback.print_exc()
            if self.outcome == "-":
                self.err(500, "fake server bug")
        finally:
            sys.stderr.write("fake_luma%s: %s %s -> %s rid=%s %.0fms\n" % (
                "(cdn)" if self.cdn else "", method, self.path, self.outcome, self.rid,
                (time.monotonic() - t0) * 1000))
            sys.stderr.flush()

    def authorized(self):
        """True, or False after answering 401 as Luma does."""
        a = self.headers.get("Authorization")
        if a == "Bearer " + self.server.args.api_key and self.state.scenario["auth"] == "expired":
            self.state.bump("auth_failures")
            self.err(401, "API key has expired")
            return False
        if a != "Bearer " + self.server.args.api_key:
            self.state.bump("auth_failures")
            self.err(401, "Invalid API key")
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
    def sources(self, body, modify):
        """(length of the result, refusal detail or None) for the
        generations or video an extension or a modify starts from."""
        st = self.state
        if modify:
            g = st.source(url=body["media"]["url"])
            if g is None:
                return 0, "media.url could not be fetched: not a completed generation's video"
            if st.seconds(g) > MODIFY_SOURCE_MAX:
                return 0, "media: the video must be at most %d seconds long" % MODIFY_SOURCE_MAX
            return st.seconds(g), None
        total = DURATIONS.get(body.get("duration"), 5)
        for name, f in sorted((body.get("keyframes") or {}).items()):
            if f.get("type") == "generation":
                g = st.source(ident=f["id"])
                if g is None:
                    return 0, "keyframes.%s: generation %s not found or not completed" % (
                        name, f["id"])
                total += st.seconds(g)
        return total, None

    def create(self, raw, modify=False):
        self.state.bump("creates_received")
        if not self.authorized():
            return
        mode, delay, ra = self.state.take("submit")
        if mode in ERRORS:
            return self.canned(mode, ra)
        if mode == "reset":
            return self.reset_conn()
        if mode == "invalid_json":
            return self.send(201, BROKEN_JSON)
        if mode == "hang":                    # nothing made, no answer in time
            self.outcome = "HANG"
            time.sleep(delay)
            return self.reset_conn()
        if mode == "422_param":
            return self.err(422, problem(["resolution"], "resolution 4k is not available for "
                                         "this model", "value_error", "4k"))
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return self.err(422, problem([], "Input should be a valid dictionary",
                                         "model_attributes_type", None))
        try:
            body = json.loads(raw)
        except ValueError:
            return self.err(422, problem([], "JSON decode error", "json_invalid", None))
        if not isinstance(body, dict):
            return self.err(422, problem([], "Input should be a valid dictionary",
                                         "model_attributes_type", body))
        p = validate_modify(body) if modify else validate(body)
        if p:
            return self.err(422, p)
        seconds, why = self.sources(body, modify)
        if why:
            return self.err(400, why)
        g = self.state.create(body, seconds, "modify" if modify else "video")
        if mode == "hold":                    # made; the answer comes too late
            self.outcome = "HOLD"
            time.sleep(delay)
            return self.reset_conn()
        self.ok(self.state.gen_json(g), 201)

    def get(self, ident):
        self.state.bump("polls")
        if not self.authorized() or self.poll_misbehaves():
            return
        with self.state.lock:
            g = self.state.gens.get(ident)
        if g is None:
            return self.err(404, "Generation not found")
        self.ok(self.state.gen_json(g))

    def list(self, query):
        self.state.bump("lists")
        if not self.authorized() or self.poll_misbehaves():
            return
        q = urllib.parse.parse_qs(query, keep_blank_values=True)
        for k in q:
            if k not in ("limit", "offset"):
                return self.err(422, problem([k], "Extra inputs are not permitted",
                                             "extra_forbidden", q[k][0]))
        try:
            limit = int(q.get("limit", ["10"])[0])
            offset = int(q.get("offset", ["0"])[0])
        except ValueError:
            limit = offset = -1
        if not 1 <= limit <= 100 or offset < 0:
            return self.err(422, problem(["limit"], "limit must be in [1, 100], offset >= 0",
                                         "value_error", limit))
        with self.state.lock:
            gens = sorted(self.state.gens.values(), key=lambda g: g["created"], reverse=True)
        page = [self.state.gen_json(g) for g in gens[offset: offset + limit]]
        self.ok({"generations": page, "count": len(page),
                 "has_more": offset + limit < len(gens), "limit": limit, "offset": offset})

    def delete(self, ident):
        self.state.bump("deletes")
        if not self.authorized():
            return
        with self.state.lock:
            g = self.state.gens.pop(ident, None)
            if g is not None:
                self.state.deleted.append({"id": ident, "state": self.state.state_of(g)})
        if g is None:
            return self.err(404, "Generation not found")
        self.send(204)

    # -- the CDN
    def download(self, method, url, cdn):
        st = self.state
        with st.lock:
            st.fetches.append({"where": "cdn2" if cdn else "cdn", "path": url.path,
                               "authorization": self.headers.get("Authorization"),
                               "headers": sorted(k.lower() for k in self.headers.keys())})
        m = re.fullmatch(r"/dream_machine/([0-9a-f-]{36})/video\.mp4", url.path)
        with st.lock:
            g = st.gens.get(m.group(1)) if m else None
        if g is None:
            return self.send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        if self.headers.get("Authorization"):
            return self.send(400, b"<Error><Code>InvalidArgument</Code><Message>Unexpected "
                             b"Authorization header</Message></Error>", "application/xml")
        res = "ok" if cdn else st.scenario["result"]
        if res == "404":
            return self.send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        if res in ("redirect_other", "redirect_private"):
            to = "http://10.0.0.1/x.mp4" if res == "redirect_private" else \
                "http://%s:%d%s" % (st.args.host, st.cdn_port, url.path)
            return self.send(302, b"", "text/plain", [("Location", to)])
        with open(st.video(st.seconds(g)), "rb") as f:
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
            p = st.scenario_set(obj)
            if p:
                return self.send(400, json.dumps({"error": p}).encode())
            return self.send(200, json.dumps(st.scenario).encode())
        if path == "/_fake/reset" and method == "POST":
            st.reset()
            return self.send(200, b'{"reset":true}')
        if path == "/_fake/jobs" and method == "GET":
            with st.lock:
                gens = sorted(st.gens.values(), key=lambda g: g["created"])
                fetches, deleted = list(st.fetches), list(st.deleted)
                counters = dict(st.counters)
            out = {"tasks": [dict(st.gen_json(g), body=g["body"]) for g in gens],
                   "fetches": fetches, "deleted": deleted, "scenario": st.scenario,
                   "cdn_port": st.cdn_port}
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
    p = argparse.ArgumentParser(description="Fake Luma Dream Machine API for reelgate's tests")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--api-key", required=True)
    p.add_argument("--step-seconds", type=float, default=0.5)
    serve(p.parse_args())


if __name__ == "__main__":
    main()
