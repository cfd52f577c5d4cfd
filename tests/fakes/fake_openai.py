#!/usr/bin/env python3
"""Fake OpenAI Videos API (Sora 2) upstream for reelgate's integration tests.

  fake_openai.py --port PORT --api-key KEY [--prefix /v1] [--step-seconds 0.5] [--cache-dir DIR]
  fake_openai.py --self-test

Faithful to /work/shared/research/openai-videos.md: the 13-field video object,
the list envelope, the {"error":{message,type,param,code}} envelope, create as
JSON *or* multipart, content variants, remix, delete; edits and extensions
(POST /videos/edits, /videos/extensions, §7 of the research: `video` as an
uploaded file part, as {"id"} in JSON or video[id] in a form; extensions'
`seconds` "4".."20", the result as long as source + segment).  Binds 127.0.0.1, prints
"ready PORT" once listening, exits 0 on SIGTERM, logs one line per request to
stderr.  Standard library only; the media are real files made by ffmpeg.

A job's status follows its age, in --step-seconds steps: queued (step 0),
in_progress 0% (1), in_progress 50% (2), then completed/failed (3+).

Test control, no auth (see Handler.fake_control):
  POST /_fake/scenario {"submit": "ok|429|500|503|reset|invalid_json|slow|hold|400",
                        "poll": "ok|429|500|invalid_json|reset",
                        "outcome": "completed|failed|never",
                        "content": "ok|404|redirect_private|redirect|slow|huge",
                        "count": N, "delay": S, "retry_after": S}
  GET /_fake/scenario   POST /_fake/reset   GET /_fake/jobs
"""

import argparse
import hashlib
import http.client
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

STEPS = 3                      # steps until a job finishes (see above)
EXPIRES_AFTER = 3600           # how long assets stay downloadable (expires_at)
HUGE_LENGTH = 10 * 1024 ** 3   # Content-Length claimed by content=huge
PRIVATE_URL = "http://10.0.0.1/v.mp4"
MODES = {  # the first mode of each phase is the well-behaved default
    "submit": ("ok", "429", "500", "503", "reset", "invalid_json", "slow", "hold", "400"),
    "poll": ("ok", "429", "500", "invalid_json", "reset"),
    "outcome": ("completed", "failed", "never"),
    "content": ("ok", "404", "redirect_private", "redirect", "slow", "huge"),
}
DEFAULT = {p: m[0] for p, m in MODES.items()}
COUNTERS = ("creates_received", "creates_accepted", "remixes_received", "remixes_accepted",
            "edits_received", "edits_accepted", "extensions_received", "extensions_accepted",
            "polls", "content_downloads", "file_downloads", "lists", "deletes")
VARIANTS = {"video": ("mp4", "video/mp4"), "thumbnail": ("webp", "image/webp"),
            "spritesheet": ("jpg", "image/jpeg")}
CREATE_FIELDS = ("prompt", "model", "seconds", "size", "input_reference",
                 "input_reference[image_url]", "input_reference[file_id]")
# edits and extensions: the text fields each takes (`video` is an object in
# JSON, video[id] in a form, or the file part "video")
DERIVED_FIELDS = {"edit": ("prompt",), "extension": ("prompt", "seconds")}
SEGMENTS = ("4", "8", "12", "16", "20")      # an extension's new segment, seconds
CLIP_TYPES = {"video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm"}


class State:
    """Everything the fake remembers; POST /_fake/reset starts afresh."""

    def __init__(self):
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.videos = {}   # id -> {"obj": video object, "t0", "outcome", "deleted"}
            self.jobs = []     # every create/remix received, in order
            self.counters = dict.fromkeys(COUNTERS, 0)
            self.scenario = {p: {"mode": DEFAULT[p], "remaining": None} for p in MODES}
            self.delay, self.retry_after = 2.0, None

    def count(self, name):
        with self.lock:
            self.counters[name] += 1

    def take(self, phase):
        """The mode for this request of `phase`.  A misbehaviour with a count
        uses one up and reverts to the default when none are left."""
        with self.lock:
            s = self.scenario[phase]
            mode = s["mode"]
            if mode != DEFAULT[phase] and s["remaining"] is not None:
                s["remaining"] -= 1
                if s["remaining"] <= 0:
                    s.update(mode=DEFAULT[phase], remaining=None)
            return mode

    def view(self):
        with self.lock:
            return dict({p: dict(s) for p, s in self.scenario.items()},
                        delay=self.delay, retry_after=self.retry_after)

    def refresh(self, rec, step):
        """Advance a job's status from its age; returns a copy of the video object."""
        with self.lock:
            v = rec["obj"]
            if v["status"] in ("queued", "in_progress"):
                n = int((time.monotonic() - rec["t0"]) / step) if step > 0 else STEPS
                now = int(time.time())
                if n == 0:
                    pass
                elif n < STEPS or rec["outcome"] == "never":
                    v.update(status="in_progress", progress=min(50 * (n - 1), 90))
                elif rec["outcome"] == "failed":
                    v.update(status="failed", completed_at=now, error={
                        "code": "moderation_blocked",
                        "message": "Your request was blocked by our moderation system."})
                else:
                    v.update(status="completed", progress=100, completed_at=now,
                             expires_at=now + EXPIRES_AFTER)
            return dict(v)


class Media:
    """Real media made by ffmpeg, cached per (size, seconds): an H.264 MP4 of the
    requested size and length (testsrc2, 12 fps), a WebP thumbnail and a JPEG
    spritesheet (one 160px-wide frame per second, 4 per row)."""

    def __init__(self, cache_dir):
        self.dir, self.locks, self.glock = cache_dir, {}, threading.Lock()

    def get(self, size, seconds, variant):
        key = "%s_%ss" % (size, seconds)
        with self.glock:
            lock = self.locks.setdefault(key, threading.Lock())
        paths = {e: os.path.join(self.dir, "%s.%s" % (key, e)) for e in ("mp4", "webp", "jpg")}
        with lock:
            if not all(map(os.path.exists, paths.values())):
                tmp = {e: p + ".tmp" for e, p in paths.items()}
                for args in (
                        ["-f", "lavfi", "-i", "testsrc2=size=%s:rate=12:duration=%s" % (size, seconds),
                         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "45", "-pix_fmt",
                         "yuv420p", "-movflags", "+faststart", "-f", "mp4", tmp["mp4"]],
                        ["-i", tmp["mp4"], "-frames:v", "1", "-c:v", "libwebp", "-f", "webp",
                         tmp["webp"]],
                        ["-i", tmp["mp4"], "-vf", "fps=1,scale=160:-2,tile=4x%d"
                         % math.ceil(int(seconds) / 4), "-frames:v", "1", "-q:v", "5", "-f", "image2",
                         tmp["jpg"]]):
                    subprocess.run([os.environ.get("FFMPEG", "ffmpeg"), "-nostdin", "-v", "error",
                                    "-y"] + args, check=True)
                for e in paths:
                    os.replace(tmp[e], paths[e])
        return paths[VARIANTS[variant][0]]


def parse_multipart(body, ctype):
    """multipart/form-data -> [(name, filename|None, content_type, bytes)]; None if malformed."""
    m = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', ctype)
    if not m:
        return None
    parts = []
    for chunk in (b"\r\n" + body).split(b"\r\n--" + (m.group(1) or m.group(2)).encode())[1:]:
        if chunk.startswith(b"--"):            # the closing delimiter
            return parts
        head, sep, data = chunk.partition(b"\r\n\r\n")
        hdrs = dict((k.strip().lower(), v.strip()) for k, _, v in
                    (ln.decode("utf-8", "replace").partition(":") for ln in head.split(b"\r\n")) if v)
        name = re.search(r'\bname="([^"]*)"', hdrs.get("content-disposition", ""))
        fname = re.search(r'\bfilename="([^"]*)"', hdrs.get("content-disposition", ""))
        if not sep or not name:
            return None
        parts.append((name.group(1), fname and fname.group(1), hdrs.get("content-type"), data))
    return None                                # no closing delimiter


def clip_kind(data):
    """mp4, mov or webm by the first bytes, else None."""
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if data[4:8] == b"ftyp":
        return "mov" if data[8:12] == b"qt  " else "mp4"
    return None


def probe_clip(data):
    """(width, height, seconds) of a clip, by ffprobe; None if it cannot be read."""
    with tempfile.NamedTemporaryFile(suffix=".clip") as fh:
        fh.write(data)
        fh.flush()
        try:
            out = subprocess.run([os.environ.get("FFPROBE", "ffprobe"), "-v", "error",
                                  "-select_streams", "v:0", "-show_entries",
                                  "stream=width,height:format=duration", "-of", "json", fh.name],
                                 capture_output=True, check=True, text=True, timeout=30).stdout
            j = json.loads(out)
            st = j["streams"][0]
            return int(st["width"]), int(st["height"]), max(1, round(float(j["format"]["duration"])))
        except (OSError, ValueError, KeyError, IndexError, subprocess.SubprocessError):
            return None


def validate_create(f, file):
    """OpenAI's checks on a create.  f: the fields; file: an uploaded input_reference
    (bytes) or None.  Returns (message, param, code) for a 400, or None."""
    size = f.get("size", "720x1280")
    seconds = f.get("seconds", "4")
    ref = f.get("input_reference")
    refs = [x for x in (file, f.get("input_reference[image_url]"), f.get("input_reference[file_id]"))
            + ((ref.get("image_url"), ref.get("file_id")) if isinstance(ref, dict) else ())
            if x is not None]
    dims = re.fullmatch(r"([0-9]{2,4})x([0-9]{2,4})", size) if isinstance(size, str) else None
    png = file is not None and file[:8] == b"\x89PNG\r\n\x1a\n"
    for k in f:
        if k not in CREATE_FIELDS:
            return "Unknown parameter: '%s'." % k, k, "unknown_parameter"
    if "prompt" not in f:
        return "Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter"
    if not isinstance(f["prompt"], str) or not 1 <= len(f["prompt"]) <= 32000:
        return "Invalid 'prompt': expected a string of 1 to 32000 characters.", "prompt", "invalid_value"
    if not isinstance(f.get("model", "sora-2"), str) or not f.get("model", "sora-2"):
        return "Invalid 'model': expected a non-empty string.", "model", "invalid_value"
    if not re.fullmatch(r"[1-9][0-9]{0,3}", str(seconds)) or isinstance(seconds, bool):
        return ("Invalid value: '%s'. Supported values are: '4', '8', and '12'." % seconds,
                "seconds", "invalid_value")
    if not dims or any(int(d) % 2 or not 16 <= int(d) <= 4096 for d in dims.groups()):
        return ("Invalid value: '%s'. Supported values are: '720x1280', '1280x720', '1024x1792', "
                "and '1792x1024'." % size, "size", "invalid_value")
    if len(refs) > 1 or (ref is not None and (not isinstance(ref, dict) or not refs
                                              or set(ref) - {"image_url", "file_id"})):
        return ("Invalid 'input_reference': provide exactly one of a file, 'image_url' or 'file_id'.",
                "input_reference", "invalid_value")
    if file is not None and not (png or file[:3] == b"\xff\xd8\xff" or file[8:12] == b"WEBP"):
        return ("Invalid file 'input_reference': unsupported mimetype. Supported file formats are "
                "'image/jpeg', 'image/png', and 'image/webp'.", "input_reference", "invalid_value")
    if png and "%dx%d" % struct.unpack(">II", file[16:24]) != size:  # as the live API does
        return "Inpaint image must match the requested width and height", None, None
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version, sys_version = "fake-openai/1.0", ""

    def log_message(self, fmt, *args):         # one line per request, written by dispatch
        pass

    # ---- plumbing ----------------------------------------------------------
    def do_GET(self):
        t0, self.status, self.note = time.monotonic(), None, ""
        try:
            self.body = self.read_body()
            self.route()
        except (BrokenPipeError, ConnectionResetError):
            self.note += " client-gone"
            self.close_connection = True
        except Exception:
            traceback.print_exc()
            if self.status is None:
                self.error(500, "The server had an error processing your request.", "server_error")
        sys.stderr.write("fake_openai: %s %s -> %s%s (%d ms)\n" % (
            self.command, self.path, self.status or "-", self.note, (time.monotonic() - t0) * 1000))
    do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_GET

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n > 0 else b""
        out = b""
        while True:
            n = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if n == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):   # trailers
                    pass
                return out
            out += self.rfile.read(n)
            self.rfile.readline()

    def send(self, status, body=b"", ctype="application/json", headers=None, length=None):
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.send_header("x-request-id", "req_" + secrets.token_hex(16))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def json(self, status, obj, headers=None):
        self.send(status, json.dumps(obj).encode(), headers=headers)

    def error(self, status, message, etype="invalid_request_error", param=None, code=None, headers=None):
        """OpenAI's error envelope; all four fields always present."""
        self.json(status, {"error": {"message": message, "type": etype, "param": param, "code": code}},
                  headers)

    def misbehave(self, mode):
        """The misbehaviours shared by the submit and poll scenarios."""
        ra = self.server.state.retry_after
        ra = {} if ra is None else {"Retry-After": "%g" % ra}
        self.note += " scenario=" + mode
        if mode == "429":
            self.error(429, "Rate limit reached for requests. Please try again later.", "requests",
                       code="rate_limit_exceeded", headers=ra)
        elif mode == "500":
            self.error(500, "The server had an error while processing your request. Sorry about that!",
                       "server_error")
        elif mode == "503":
            self.error(503, "The engine is currently overloaded, please try again later.",
                       "server_error", headers=ra)
        elif mode == "400":
            self.error(400, "Your request was blocked by our moderation system.",
                       code="moderation_blocked")
        elif mode == "invalid_json":
            self.send(200, b'{"id": "video_', "application/json")      # truncated JSON
        elif mode == "reset":                  # abort with a TCP RST (SO_LINGER 0)
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()

    # ---- routing and auth --------------------------------------------------
    def route(self):
        u = urlsplit(self.path)
        path, self.query = u.path, {k: v[-1] for k, v in parse_qs(u.query).items()}
        if path.startswith("/_fake/"):
            return self.fake_control(path)
        if path.startswith("/files/"):
            return self.serve_file(path[len("/files/"):])
        if not self.authorized():
            return
        m = re.fullmatch(re.escape(self.server.prefix) + r"/videos/(edits|extensions)", path)
        if m and self.command == "POST":
            return self.derive("edit" if m.group(1) == "edits" else "extension")
        if m:
            return self.error(405, "Method %s not allowed on %s." % (self.command, path))
        m = re.fullmatch(re.escape(self.server.prefix) + r"/videos(?:/([^/]+)(/content|/remix)?)?", path)
        handler = m and {("POST", None, None): lambda _: self.create(None),
                         ("GET", None, None): lambda _: self.list_videos(),
                         ("GET", 1, None): self.retrieve, ("DELETE", 1, None): self.delete,
                         ("GET", 1, "/content"): self.content,
                         ("POST", 1, "/remix"): self.create,
                         }.get((self.command, m.group(1) and 1, m.group(2)))
        if handler:
            return handler(m.group(1))
        self.error(404, "Invalid URL (%s %s)" % (self.command, path))

    def authorized(self):
        """Authorization: Bearer KEY, or Azure's api-key: KEY."""
        auth = self.headers.get("Authorization", "")
        given = auth[7:].strip() if auth[:7].lower() == "bearer " else self.headers.get("api-key")
        if given == self.server.api_key:
            return True
        if not given:
            self.error(401, "You didn't provide an API key. You need to provide your API key in an "
                       "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        else:
            self.error(401, "Incorrect API key provided: %s****%s. You can find your API key at "
                       "https://platform.openai.com/account/api-keys." % (given[:3], given[-4:]),
                       code="invalid_api_key")
        return False

    def lookup(self, vid):
        rec = self.server.state.videos.get(vid)
        if rec is None or rec["deleted"]:
            return self.error(404, "Video with id '%s' not found." % vid)
        return rec

    # ---- the Videos API ----------------------------------------------------
    def parse_form(self):
        """Body -> (encoding, fields, uploaded file dict or None, parse error or None)."""
        ctype = self.headers.get("Content-Type", "")
        if ctype.lower().startswith("multipart/form-data"):
            parts = parse_multipart(self.body, ctype)
            if parts is None:
                return "multipart", {}, None, "Could not parse the multipart form body."
            fields = {n: d.decode("utf-8", "replace") for n, fn, _, d in parts if fn is None}
            files = [{"field": n, "filename": fn, "content_type": ct, "size": len(d), "data": d}
                     for n, fn, ct, d in parts if fn is not None]
            return "multipart", fields, (files or [None])[-1], None
        try:
            obj = json.loads(self.body or b"{}")
            if isinstance(obj, dict):
                return "json", obj, None, None
        except ValueError:
            pass
        return "json", {}, None, ("We could not parse the JSON body of your request. (HINT: This "
                                  "likely means you aren't using your HTTP library correctly.)")

    def create(self, source_id):
        """POST /videos, or POST /videos/{source_id}/remix.  Every request is
        recorded for /_fake/jobs, then the submit scenario may misbehave."""
        st, kind = self.server.state, "remixes" if source_id else "creates"
        enc, fields, file, perr = self.parse_form()
        job = {"kind": "remix" if source_id else "create", "time": time.time(), "path": self.path,
               "encoding": enc, "fields": fields, "has_file": file is not None,
               "file_size": file and file["size"],
               "file": file and {k: v for k, v in file.items() if k != "data"},
               "idempotency_key": self.headers.get("Idempotency-Key"),
               "headers": {k.lower(): v for k, v in self.headers.items()
                           if k.lower() not in ("authorization", "api-key")},
               "source_video_id": source_id, "scenario": st.take("submit"), "status_code": None,
               "video_id": None}
        with st.lock:
            st.counters[kind + "_received"] += 1
            st.jobs.append(job)
        try:
            mode = job["scenario"]
            if mode not in ("ok", "slow", "hold"):
                return self.misbehave(mode)
            if mode == "slow":
                self.note += " scenario=slow"
                time.sleep(st.delay)
            if perr:
                return self.error(400, perr)
            if source_id:                      # remix takes {prompt} and inherits the rest
                extra = [k for k in fields if k != "prompt"] + ([file["field"]] if file else [])
                if extra:
                    return self.error(400, "Unknown parameter: '%s'." % extra[0], extra[0],
                                      "unknown_parameter")
                src = self.lookup(source_id)
                if not src:
                    return
                s = st.refresh(src, self.server.step)
                if s["status"] != "completed":
                    return self.error(400, "Video '%s' cannot be remixed: its status is %s, not "
                                      "completed." % (source_id, s["status"]))
                fields = dict(fields, model=s["model"], seconds=s["seconds"], size=s["size"])
            err = validate_create(fields, file and file["data"])
            if err:
                return self.error(400, err[0], param=err[1], code=err[2])
            vid = "video_" + secrets.token_hex(16)
            obj = {"id": vid, "object": "video", "model": fields.get("model", "sora-2"),
                   "status": "queued", "progress": 0, "created_at": int(time.time()),
                   "completed_at": None, "expires_at": None, "prompt": fields["prompt"],
                   "size": fields.get("size", "720x1280"), "seconds": str(fields.get("seconds", "4")),
                   "remixed_from_video_id": source_id, "error": None}
            outcome = st.take("outcome")
            with st.lock:
                st.videos[vid] = {"obj": obj, "t0": time.monotonic(), "outcome": outcome,
                                  "deleted": False}
                st.counters[kind + "_accepted"] += 1
                job["video_id"] = vid
            if outcome == "completed":         # warm the ffmpeg cache meanwhile
                threading.Thread(target=self.server.media.get, daemon=True,
                                 args=(obj["size"], obj["seconds"], "video")).start()
            if mode == "hold":                 # the job exists but the client never hears of it
                self.note += " scenario=hold (no answer for %gs, then close)" % st.delay
                time.sleep(st.delay)
                self.close_connection = True
                return
            self.json(200, dict(obj))
        finally:
            job["status_code"] = self.status

    def derive(self, kind):
        """POST /videos/edits (kind "edit") or /videos/extensions ("extension"):
        a new job from a completed video of this upstream or from an uploaded
        clip.  Recorded for /_fake/jobs like a create; the submit scenario
        applies."""
        st = self.server.state
        job = {"kind": kind, "time": time.time(), "path": self.path, "encoding": None,
               "fields": {}, "has_file": False, "file": None, "file_sha256": None,
               "video_ref": None, "idempotency_key": self.headers.get("Idempotency-Key"),
               "headers": {k.lower(): v for k, v in self.headers.items()
                           if k.lower() not in ("authorization", "api-key")},
               "scenario": st.take("submit"), "status_code": None, "video_id": None}
        with st.lock:
            st.counters[kind + "s_received"] += 1
            st.jobs.append(job)
        try:
            mode = job["scenario"]
            if mode not in ("ok", "slow", "hold"):
                return self.misbehave(mode)
            if mode == "slow":
                self.note += " scenario=slow"
                time.sleep(st.delay)
            got = self.derive_request(kind, job)
            if got is None:
                return
            obj = {"id": "video_" + secrets.token_hex(16), "object": "video", "model": got["model"],
                   "status": "queued", "progress": 0, "created_at": int(time.time()),
                   "completed_at": None, "expires_at": None, "prompt": got["prompt"],
                   "size": got["size"], "seconds": got["seconds"],
                   "remixed_from_video_id": None, "error": None}
            outcome = st.take("outcome")
            with st.lock:
                st.videos[obj["id"]] = {"obj": obj, "t0": time.monotonic(), "outcome": outcome,
                                        "deleted": False}
                st.counters[kind + "s_accepted"] += 1
                job["video_id"] = obj["id"]
            if outcome == "completed":
                threading.Thread(target=self.server.media.get, daemon=True,
                                 args=(obj["size"], obj["seconds"], "video")).start()
            if mode == "hold":
                self.note += " scenario=hold (no answer for %gs, then close)" % st.delay
                time.sleep(st.delay)
                self.close_connection = True
                return
            self.json(200, dict(obj))
        finally:
            job["status_code"] = self.status

    def derive_request(self, kind, job):
        """Reads and checks an edit's or extension's body as OpenAI does;
        {prompt, model, size, seconds} of the new job, or None after a 4xx."""
        st, ctype = self.server.state, self.headers.get("Content-Type", "")
        ref, clip, allowed = None, None, DERIVED_FIELDS[kind]
        if ctype.lower().startswith("multipart/form-data"):
            job["encoding"] = "multipart"
            parts = parse_multipart(self.body, ctype)
            if parts is None:
                return self.error(400, "Could not parse the multipart form body.")
            fields = {}
            for name, fname, pctype, data in parts:
                if fname is not None and name == "video" and clip is None:
                    clip = {"filename": fname, "content_type": pctype, "size": len(data),
                            "data": data}
                elif fname is not None:
                    return self.error(400, "Unknown file parameter: '%s'. Send the clip once, as "
                                      "'video'." % name, param=name, code="unknown_parameter")
                elif name == "video[id]":
                    ref = data.decode("utf-8", "replace")
                elif name == "video":
                    return self.error(400, "Invalid 'video': expected a file, or the id of a "
                                      "completed video as video[id].", param="video",
                                      code="invalid_value")
                elif name in allowed and name not in fields:
                    fields[name] = data.decode("utf-8", "replace")
                else:
                    return self.error(400, "Unknown parameter: '%s'." % name, param=name,
                                      code="unknown_parameter")
        elif ctype.split(";")[0].strip().lower() == "application/json":
            job["encoding"] = "json"
            try:
                fields = json.loads(self.body or b"")
            except ValueError:
                fields = None
            if not isinstance(fields, dict):
                return self.error(400, "We could not parse the JSON body of your request.")
            v = fields.pop("video", None)
            for k in fields:
                if k not in allowed:
                    return self.error(400, "Unknown parameter: '%s'." % k, param=k,
                                      code="unknown_parameter")
            if v is not None:
                if not isinstance(v, dict) or set(v) != {"id"} or not isinstance(v["id"], str):
                    return self.error(400, "Invalid 'video': expected an object {\"id\": "
                                      "\"video_...\"}; in JSON a file cannot be sent.",
                                      param="video", code="invalid_value")
                ref = v["id"]
        else:
            return self.error(415, "Unsupported Content-Type '%s': send multipart/form-data or "
                              "application/json." % ctype)
        job["fields"], job["video_ref"] = dict(fields), ref
        if clip is not None:
            job["has_file"] = True
            job["file"] = {k: v for k, v in clip.items() if k != "data"}
            job["file_sha256"] = hashlib.sha256(clip["data"]).hexdigest()
        prompt = fields.get("prompt")
        if not isinstance(prompt, str) or not 1 <= len(prompt) <= 32000:
            return self.error(400, "Invalid 'prompt': expected a string of 1 to 32000 characters.",
                              param="prompt", code="missing_required_parameter"
                              if prompt is None else "invalid_value")
        if kind == "extension":
            seg = fields.get("seconds")
            if seg is None:
                return self.error(400, "Missing required parameter: 'seconds'.", param="seconds",
                                  code="missing_required_parameter")
            if not isinstance(seg, str) or seg not in SEGMENTS:
                return self.error(400, "Invalid value: %s. Supported values are: '4', '8', '12', "
                                  "'16', and '20'." % json.dumps(seg), param="seconds",
                                  code="invalid_value" if isinstance(seg, str) else "invalid_type")
        if (ref is None) == (clip is None):
            return self.error(400, "Provide exactly one 'video': an uploaded file or the id of a "
                              "completed video.", param="video", code="missing_required_parameter"
                              if ref is None else "invalid_value")
        if ref is not None:
            rec = self.lookup(ref)
            if not rec:
                return None
            src = st.refresh(rec, self.server.step)
            if src["status"] != "completed":
                return self.error(400, "Video '%s' is not completed (status %s): only a completed "
                                  "video can be %s." % (ref, src["status"], kind + "ed"
                                                        if kind == "edit" else "extended"),
                                  param="video", code="invalid_value")
            model, size, seconds = src["model"], src["size"], int(src["seconds"])
        else:
            kind_by_bytes = clip_kind(clip["data"])
            if kind_by_bytes is None or CLIP_TYPES.get(clip["content_type"]) != kind_by_bytes:
                return self.error(400, "Invalid file 'video': unsupported mimetype ('%s'). "
                                  "Supported file formats are 'video/mp4', 'video/quicktime' and "
                                  "'video/webm'." % clip["content_type"], param="video",
                                  code="invalid_value")
            dims = probe_clip(clip["data"])
            if dims is None:
                return self.error(400, "Invalid file 'video': the video could not be decoded.",
                                  param="video", code="invalid_value")
            model, size, seconds = "sora-2", "%dx%d" % (dims[0] & ~1, dims[1] & ~1), dims[2]
        if kind == "extension":
            seconds += int(fields["seconds"])
        return {"prompt": prompt, "model": model, "size": size, "seconds": str(seconds)}

    def retrieve(self, vid):
        st = self.server.state
        st.count("polls")
        mode = st.take("poll")
        if mode != "ok":
            return self.misbehave(mode)
        rec = self.lookup(vid)
        if rec:
            self.json(200, st.refresh(rec, self.server.step),
                      {"openai-poll-after-ms": str(int(self.server.step * 1000))})

    def list_videos(self):
        """Cursor page: ?after=<id>&limit=0..100 (20)&order=asc|desc (desc)."""
        st = self.server.state
        st.count("lists")
        limit, order, after = (self.query.get("limit", "20"), self.query.get("order", "desc"),
                               self.query.get("after"))
        if not re.fullmatch(r"[0-9]{1,3}", limit) or int(limit) > 100:
            return self.error(400, "Invalid 'limit': expected an integer between 0 and 100.",
                              param="limit", code="invalid_value")
        if order not in ("asc", "desc"):
            return self.error(400, "Invalid value: '%s'. Supported values are: 'asc' and 'desc'."
                              % order, param="order", code="invalid_value")
        with st.lock:                          # dicts keep creation order
            vids = [st.refresh(r, self.server.step) for r in st.videos.values() if not r["deleted"]]
        vids = vids[::-1] if order == "desc" else vids
        ids = [v["id"] for v in vids]
        start = (ids.index(after) + 1 if after in ids else len(ids)) if after else 0
        page = vids[start:start + int(limit)]
        self.json(200, {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                        "last_id": page[-1]["id"] if page else None,
                        "has_more": start + len(page) < len(vids)})

    def delete(self, vid):
        """Deletes in any status (the spec leaves queued/in_progress unspecified)."""
        rec = self.lookup(vid)
        if rec:
            rec["deleted"] = True
            self.server.state.count("deletes")
            self.json(200, {"id": vid, "object": "video.deleted", "deleted": True})

    def content(self, vid):
        st = self.server.state
        st.count("content_downloads")
        variant = self.query.get("variant", "video")
        if variant not in VARIANTS:
            return self.error(400, "Invalid value: '%s'. Supported values are: 'video', 'thumbnail', "
                              "and 'spritesheet'." % variant, param="variant", code="invalid_value")
        rec = self.lookup(vid)
        if not rec:
            return
        v = st.refresh(rec, self.server.step)
        if v["status"] != "completed":
            return self.error(404, "Video is not ready yet. Current status: %s" % v["status"])
        mode = st.take("content")
        self.note += "" if mode == "ok" else " scenario=" + mode
        if mode == "404":
            return self.error(404, "Content for video '%s' not found." % vid)
        if mode in ("redirect", "redirect_private"):
            loc = PRIVATE_URL if mode == "redirect_private" else "http://127.0.0.1:%d/files/%s.%s" % (
                self.server.server_address[1], vid, VARIANTS[variant][0])
            return self.send(302, b"", "text/plain", {"Location": loc})
        self.send_media(v, variant, mode)

    def serve_file(self, name):
        """GET /files/<id>.<mp4|webp|jpg>: where content=redirect points; no auth, like a CDN."""
        st = self.server.state
        st.count("file_downloads")
        vid, _, ext = name.partition(".")
        variant = {e: k for k, (e, _) in VARIANTS.items()}.get(ext)
        rec = st.videos.get(vid)
        if not (variant and rec and not rec["deleted"]
                and st.refresh(rec, self.server.step)["status"] == "completed"):
            return self.send(404, b"not found\n", "text/plain")
        self.send_media(rec["obj"], variant, "ok")

    def send_media(self, v, variant, mode):
        st, ctype = self.server.state, VARIANTS[variant][1]
        if mode == "huge":                     # claim 10 GB, trickle junk (~1.3 MB/s) for <= 120 s
            self.send(200, b"", ctype, length=HUGE_LENGTH)
            junk, end = os.urandom(65536), time.monotonic() + 120
            while time.monotonic() < end:
                self.wfile.write(junk)
                time.sleep(0.05)
            self.close_connection = True
            return
        with open(self.server.media.get(v["size"], v["seconds"], variant), "rb") as fh:
            data = fh.read()
        if mode != "slow":
            return self.send(200, data, ctype)
        self.send(200, b"", ctype, length=len(data))    # headers now, the body over `delay` s
        for i in range(10):
            time.sleep(st.delay / 10)
            self.wfile.write(data[i * len(data) // 10:(i + 1) * len(data) // 10])

    # ---- test control ------------------------------------------------------
    def fake_control(self, path):
        st, what = self.server.state, (self.command, path)
        if what == ("POST", "/_fake/scenario"):
            try:
                req = json.loads(self.body or b"{}")
                req.items()
            except (ValueError, AttributeError):
                return self.json(400, {"error": "body must be a JSON object"})
            bad = [k for k in req if k not in MODES and k not in ("count", "delay", "retry_after")]
            bad += [p for p in MODES if p in req and str(req[p]) not in MODES[p]]
            bad += [k for k in ("delay", "retry_after")
                    if not isinstance(req.get(k), (int, float, type(None)))]
            cnt = req.get("count")
            bad += ["count"] * (cnt is not None and (not isinstance(cnt, int) or cnt < 1))
            if bad:
                return self.json(400, {"error": "bad scenario keys/values: %s" % bad, "modes": MODES})
            with st.lock:                      # merge: phases not named keep their state
                for p in MODES:
                    if p in req:
                        mode = str(req[p])
                        st.scenario[p] = {"mode": mode, "remaining": None if mode == DEFAULT[p] else cnt}
                if req.get("delay") is not None:
                    st.delay = float(req["delay"])
                if "retry_after" in req:
                    st.retry_after = req["retry_after"]
            return self.json(200, st.view())
        if what == ("GET", "/_fake/scenario"):
            return self.json(200, st.view())
        if what == ("POST", "/_fake/reset"):
            st.reset()
            return self.json(200, {"ok": True})
        if what == ("GET", "/_fake/jobs"):
            with st.lock:
                return self.json(200, dict(st.counters, jobs=st.jobs))
        self.json(404, {"error": "unknown control endpoint %s %s" % what})


def serve(args):
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.state, srv.api_key, srv.step = State(), args.api_key, args.step_seconds
    srv.prefix = ("/" + args.prefix.strip("/")).rstrip("/")
    cache = args.cache_dir or tempfile.mkdtemp(prefix="fake_openai.")
    os.makedirs(cache, exist_ok=True)
    srv.media = Media(cache)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
        if not args.cache_dir:
            shutil.rmtree(cache, ignore_errors=True)
    return 0


# ---- self-test ---------------------------------------------------------------
def make_png(w, h):
    """A valid grey w x h PNG (compresses to almost nothing)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = (b"\x00" + b"\x80" * 3 * w) * h
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def multipart(fields, file=None, name="input_reference", filename="ref.png", ctype="image/png"):
    b = "b" + secrets.token_hex(8)
    out = b"".join(('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                    % (b, k, v)).encode() for k, v in fields.items())
    if file:
        out += ('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                'Content-Type: %s\r\n\r\n' % (b, name, filename, ctype)).encode() + file + b"\r\n"
    return out + ("--%s--\r\n" % b).encode(), "multipart/form-data; boundary=" + b


def start(*extra):
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--port", "0"] + list(extra),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p, int(p.stdout.readline().split()[1])


def self_test():
    key, step = "sk-selftest-0123456789", 0.2
    proc, port = start("--api-key", key, "--step-seconds", str(step))
    az, azport = start("--api-key", key, "--prefix", "/openai/deployments/sora/v1")
    try:
        run_checks(port, key, step)
        c = http.client.HTTPConnection("127.0.0.1", azport, timeout=10)   # Azure style
        c.request("POST", "/openai/deployments/sora/v1/videos", b'{"prompt": "x"}', {"api-key": key})
        assert c.getresponse().status == 200, "azure-style prefix"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, "exit status after SIGTERM"
    finally:
        for p in (proc, az):
            if p.poll() is None:
                p.kill()
    print("self-test ok")
    return 0


def run_checks(port, key, step):
    auth = {"Authorization": "Bearer " + key}

    def req(method, path, body=None, headers=auth, ctype="application/json", timeout=10, raw=False):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        body = json.dumps(body).encode() if isinstance(body, dict) else body
        c.request(method, path, body, dict(headers, **({"Content-Type": ctype} if body else {})))
        r = c.getresponse()
        if raw:
            return r
        data = r.read()
        try:
            return r.status, r, json.loads(data)
        except ValueError:
            return r.status, r, data

    def ctl(**kw):
        return req("POST", "/_fake/scenario", kw, {})[2]

    def err(res, status, param="-", code="-"):
        e = res[2]["error"] if isinstance(res[2], dict) else res[2]
        assert res[0] == status and set(e) == {"message", "type", "param", "code"}, res
        assert param in ("-", e["param"]) and code in ("-", e["code"]), e

    def wait(vid, want):
        seen = []
        for _ in range(100):
            seen.append(req("GET", "/v1/videos/" + vid)[2])
            if seen[-1]["status"] == want:
                return seen[-1], [(v["status"], v["progress"]) for v in seen]
            time.sleep(step / 2)
        raise AssertionError("%s never %s: %s" % (vid, want, seen[-1]))

    def dead(*a, **kw):                        # the request must get no answer at all
        try:
            req(*a, **kw)
        except (OSError, http.client.HTTPException):
            return True
        raise AssertionError("answered: %s" % (a,))

    def probe(data, suffix):
        with tempfile.NamedTemporaryFile(suffix=suffix) as fh:
            fh.write(data)
            fh.flush()
            j = json.loads(subprocess.run(
                ["ffprobe", "-v", "error", "-show_entries",
                 "stream=codec_name,width,height:format=duration", "-of", "json", fh.name],
                capture_output=True, check=True, text=True).stdout)
        s = j["streams"][0]
        return s["codec_name"], (s["width"], s["height"]), round(float(j["format"].get("duration", 0)))

    # auth, unknown paths, validation
    err(req("GET", "/v1/videos", headers={}), 401, code=None)
    err(req("GET", "/v1/videos", headers={"Authorization": "Bearer nope"}), 401, code="invalid_api_key")
    assert req("GET", "/v1/videos", headers={"api-key": key})[0] == 200
    err(req("GET", "/v1/_stainless_unknown_path"), 404)
    for body, param in (({"model": "sora-2"}, "prompt"), ({"prompt": "x", "seconds": "abc"}, "seconds"),
                        ({"prompt": "x", "size": "big"}, "size"), ({"prompt": "x", "bogus": 1}, "bogus"),
                        (b"{nope", None), ({"prompt": "x", "input_reference": {}}, "input_reference")):
        err(req("POST", "/v1/videos", body), 400, param)

    # JSON create -> poll to completed -> the three variants
    s, _, v = req("POST", "/v1/videos", {"prompt": "a cat", "size": "320x240"},
                  dict(auth, **{"Idempotency-Key": "idem-1"}))
    assert s == 200 and len(v) == 13 and (v["status"], v["progress"], v["model"], v["seconds"],
                                          v["expires_at"]) == ("queued", 0, "sora-2", "4", None), v
    done, seen = wait(v["id"], "completed")
    assert ("in_progress", 50) in seen and done["progress"] == 100, seen
    assert done["completed_at"] and done["expires_at"] > done["completed_at"], done
    media = {}
    for variant, ctype, magic, codec in (("video", "video/mp4", b"ftyp", "h264"),
                                         ("thumbnail", "image/webp", b"WEBP", "webp"),
                                         ("spritesheet", "image/jpeg", b"\xff\xd8\xff", "mjpeg")):
        s, r, data = req("GET", "/v1/videos/%s/content?variant=%s" % (v["id"], variant))
        assert s == 200 and r.getheader("Content-Type") == ctype and magic in data[:12], variant
        assert probe(data, "." + VARIANTS[variant][0])[0] == codec, variant
        media[variant] = data
    assert probe(media["video"], ".mp4") == ("h264", (320, 240), 4)
    err(req("GET", "/v1/videos/%s/content?variant=gif" % v["id"]), 400, "variant")

    # multipart with a PNG; a PNG of the wrong size; the input_reference[image_url] field
    body, ct = multipart({"prompt": "a dog", "seconds": "8", "size": "320x240"}, make_png(320, 240))
    s, _, m = req("POST", "/v1/videos", body, ctype=ct)
    assert s == 200 and m["seconds"] == "8", m
    body, ct = multipart({"prompt": "a dog", "size": "320x240"}, make_png(16, 16))
    err(req("POST", "/v1/videos", body, ctype=ct), 400)
    body, ct = multipart({"prompt": "x", "input_reference[image_url]": "https://e.com/a.png"})
    assert req("POST", "/v1/videos", body, ctype=ct)[0] == 200
    wait(m["id"], "completed")
    assert probe(req("GET", "/v1/videos/%s/content" % m["id"])[2], ".mp4") == ("h264", (320, 240), 8)

    # list and pagination (3 videos so far)
    l1 = req("GET", "/v1/videos?limit=2&order=asc")[2]
    assert set(l1) == {"object", "data", "first_id", "last_id", "has_more"} and l1["has_more"], l1
    assert (l1["first_id"], l1["last_id"]) == (v["id"], m["id"]), l1
    l2 = req("GET", "/v1/videos?limit=2&order=asc&after=" + l1["last_id"])[2]
    assert len(l2["data"]) == 1 and not l2["has_more"], l2
    assert req("GET", "/v1/videos")[2]["data"][-1]["id"] == v["id"], "desc by default"

    # remix; remix and content of an unfinished video; delete
    s, _, rx = req("POST", "/v1/videos/%s/remix" % v["id"], {"prompt": "now blue"})
    assert s == 200 and rx["remixed_from_video_id"] == v["id"] and rx["size"] == "320x240", rx
    err(req("POST", "/v1/videos/%s/remix" % rx["id"], {"prompt": "again"}), 400)
    err(req("GET", "/v1/videos/%s/content" % rx["id"]), 404)
    assert req("DELETE", "/v1/videos/" + m["id"])[2] == {"id": m["id"], "object": "video.deleted",
                                                         "deleted": True}
    err(req("GET", "/v1/videos/" + m["id"]), 404)

    # edits and extensions: by id (JSON, video[id] in a form) or an uploaded clip
    s, _, ed = req("POST", "/v1/videos/edits", {"prompt": "at night", "video": {"id": v["id"]}})
    assert s == 200 and len(ed) == 13 and (ed["status"], ed["size"], ed["seconds"], ed["model"]) \
        == ("queued", "320x240", "4", "sora-2"), ed
    body, ct = multipart({"prompt": "and on", "seconds": "8", "video[id]": v["id"]})
    s, _, ex = req("POST", "/v1/videos/extensions", body, ctype=ct)
    assert s == 200 and ex["seconds"] == "12" and ex["remixed_from_video_id"] is None, ex
    body, ct = multipart({"prompt": "on", "seconds": "4"}, media["video"], "video", "c.mp4",
                         "video/mp4")
    s, _, up = req("POST", "/v1/videos/extensions", body, ctype=ct)
    assert s == 200 and (up["size"], up["seconds"]) == ("320x240", "8"), up
    ext = {"prompt": "x", "seconds": "4", "video": {"id": v["id"]}}
    fresh = req("POST", "/v1/videos", {"prompt": "not done yet", "size": "320x240"})[2]
    for path, bad, status, param in (
            ("edits", {"prompt": "x", "video": {"id": fresh["id"]}}, 400, "video"),
            ("edits", {"prompt": "x", "video": {"id": "video_nope"}}, 404, "-"),
            ("edits", {"prompt": "x"}, 400, "video"),
            ("edits", {"prompt": "x", "video": v["id"]}, 400, "video"),
            ("edits", {"prompt": "x", "video": {"id": v["id"], "x": 1}}, 400, "video"),
            ("edits", {"video": {"id": v["id"]}}, 400, "prompt"),
            ("edits", dict(ext), 400, "seconds"),
            ("extensions", dict(ext, seconds="5"), 400, "seconds"),
            ("extensions", dict(ext, seconds=8), 400, "seconds"),
            ("extensions", {"prompt": "x", "video": {"id": v["id"]}}, 400, "seconds"),
            ("extensions", dict(ext, model="sora-2"), 400, "model")):
        err(req("POST", "/v1/videos/" + path, bad), status, param)
    for fields, file, param in (({"prompt": "x", "video[id]": v["id"]}, media["video"], "video"),
                                ({"prompt": "x"}, make_png(16, 16), "video"),
                                ({"prompt": "x", "size": "320x240"}, media["video"], "size")):
        body, ct = multipart(fields, file, "video", "c.mp4", "video/mp4")
        err(req("POST", "/v1/videos/edits", body, ctype=ct), 400, param)
    wait(up["id"], "completed")
    assert probe(req("GET", "/v1/videos/%s/content" % up["id"])[2], ".mp4") == \
        ("h264", (320, 240), 8)
    dj = [j for j in req("GET", "/_fake/jobs", headers={})[2]["jobs"] if j["kind"] != "create"
          and j["kind"] != "remix"]
    assert [(j["kind"], j["encoding"], j["video_ref"], j["has_file"]) for j in dj[:3]] == [
        ("edit", "json", v["id"], False), ("extension", "multipart", v["id"], False),
        ("extension", "multipart", None, True)], dj[:3]
    assert dj[2]["file_sha256"] == hashlib.sha256(media["video"]).hexdigest(), dj[2]

    # submit scenarios
    new = {"prompt": "p", "size": "320x240"}
    ctl(submit="429", retry_after=3, count=1)
    res = req("POST", "/v1/videos", new)
    err(res, 429, code="rate_limit_exceeded")
    assert res[1].getheader("Retry-After") == "3"
    assert req("POST", "/v1/videos", new)[0] == 200, "count=1: back to ok"
    for mode, status in (("500", 500), ("503", 503), ("400", 400)):
        ctl(submit=mode, count=1)
        err(req("POST", "/v1/videos", new), status)
    ctl(submit="invalid_json", count=1)
    assert isinstance(req("POST", "/v1/videos", new)[2], bytes)
    ctl(submit="reset", count=1)
    dead("POST", "/v1/videos", new)
    ctl(submit="hold", count=1, delay=1.0)
    dead("POST", "/v1/videos", new, timeout=0.5)
    ctl(submit="slow", count=1, delay=0.5)
    t = time.monotonic()
    assert req("POST", "/v1/videos", new)[0] == 200 and time.monotonic() - t >= 0.5
    jobs = req("GET", "/_fake/jobs", headers={})[2]
    held = [j for j in jobs["jobs"] if j["scenario"] == "hold"][0]
    assert held["video_id"] and held["status_code"] is None, held
    first = [j for j in jobs["jobs"] if j["video_id"] == v["id"]][0]
    assert (first["idempotency_key"], first["encoding"], first["fields"]["prompt"]) == (
        "idem-1", "json", "a cat")
    assert "authorization" not in first["headers"], first
    mj = [j for j in jobs["jobs"] if j["has_file"]][0]
    assert mj["file_size"] == len(make_png(320, 240)) and mj["fields"]["seconds"] == "8", mj
    assert jobs["creates_received"] - jobs["creates_accepted"] == 13, jobs  # 7 invalid + 6 scenario
    assert (jobs["remixes_received"], jobs["remixes_accepted"]) == (2, 1), jobs

    # poll scenarios
    ctl(poll="429", count=2, retry_after=1)
    err(req("GET", "/v1/videos/" + v["id"]), 429)
    err(req("GET", "/v1/videos/" + v["id"]), 429)
    assert req("GET", "/v1/videos/" + v["id"])[0] == 200
    ctl(poll="500", count=1)
    err(req("GET", "/v1/videos/" + v["id"]), 500)
    ctl(poll="invalid_json", count=1)
    assert isinstance(req("GET", "/v1/videos/" + v["id"])[2], bytes)
    ctl(poll="reset", count=1)
    dead("GET", "/v1/videos/" + v["id"])

    # outcomes
    ctl(outcome="failed", count=1)
    fv, _ = wait(req("POST", "/v1/videos", new)[2]["id"], "failed")
    assert fv["error"]["code"] == "moderation_blocked" and fv["error"]["message"], fv
    err(req("GET", "/v1/videos/%s/content" % fv["id"]), 404)
    ctl(outcome="never")
    n = req("POST", "/v1/videos", new)[2]
    time.sleep(step * (STEPS + 2))
    assert req("GET", "/v1/videos/" + n["id"])[2]["status"] == "in_progress"
    ctl(outcome="completed")

    # content scenarios (v is completed)
    url = "/v1/videos/%s/content" % v["id"]
    ctl(content="404", count=1)
    err(req("GET", url), 404)
    ctl(content="redirect_private", count=1)
    assert req("GET", url)[1].getheader("Location") == PRIVATE_URL
    ctl(content="redirect", count=1)
    s, r, _ = req("GET", url + "?variant=thumbnail")
    loc = urlsplit(r.getheader("Location")).path
    assert s == 302 and loc == "/files/%s.webp" % v["id"], loc
    assert req("GET", loc, headers={})[2] == media["thumbnail"]
    ctl(content="slow", count=1, delay=0.5)
    t = time.monotonic()
    assert req("GET", url)[2] == media["video"] and time.monotonic() - t >= 0.5
    ctl(content="huge", count=1)
    r = req("GET", url, raw=True)
    assert r.status == 200 and int(r.getheader("Content-Length")) == HUGE_LENGTH
    assert len(r.read(100000)) == 100000
    r.close()
    assert req("GET", url)[2] == media["video"], "back to ok"

    # control API bookkeeping
    j = req("GET", "/_fake/jobs", headers={})[2]
    assert j["polls"] > 10 and j["content_downloads"] >= 12 and j["lists"] >= 3, j
    assert (j["deletes"], j["file_downloads"]) == (1, 1), j
    assert req("POST", "/_fake/scenario", {"submit": "nope"}, {})[0] == 400
    req("POST", "/_fake/reset", b"", {})
    j = req("GET", "/_fake/jobs", headers={})[2]
    assert j["jobs"] == [] and j["polls"] == 0 and req("GET", "/v1/videos")[2]["data"] == []


def main():
    ap = argparse.ArgumentParser(description="Fake OpenAI Videos API for reelgate's tests.")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key", default="sk-fake")
    ap.add_argument("--prefix", default="/v1", help="path prefix, e.g. /openai/deployments/sora/v1")
    ap.add_argument("--step-seconds", type=float, default=0.5)
    ap.add_argument("--cache-dir", help="keep the generated media here (default: a temp dir)")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if not args.self_test:
        return serve(args)
    try:
        return self_test()
    except Exception:
        traceback.print_exc()
        print("self-test FAILED")
        return 1


if __name__ == "__main__":
    sys.exit(main())
