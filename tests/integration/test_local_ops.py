#!/usr/bin/env python3
"""Edits and extensions on the local ffmpeg renderer (the `command` backend
running share/reelgate/render-ffmpeg), end to end over real HTTP: the
request, the task, the program's run, and the MP4 it stores, read back with
ffprobe and ffmpeg.

An extension is the source followed by a new segment: its length is the
source's plus the segment's, its size the source's, and its first frames
are the source's.  An edit is the source re-rendered with the new prompt
over it: same length and size, different frames.  Sources are completed
videos of the caller, clips uploaded with the request (multipart `video`)
and Files API files (`video: {"file_id": ...}`).  A command backend that
does not declare the operations is refused with a 400 naming the model.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FFPROBE, MODEL, RENDER_FFMPEG, Skip, Stack, Suite, check,  # noqa: E402
                     eq, expect_error, expect_video)

suite = Suite()
test = suite.test

FFMPEG = os.environ.get("FFMPEG", shutil.which("ffmpeg") or "")
PLAIN = "reelgate-plain"
STACK = {
    "workers": 2,
    "backends": {
        "local": {"type": "command", "command": [RENDER_FFMPEG],
                  "operations": ["edit", "extend"], "concurrency": 2},
        # the same program, operations not declared: it runs creates only
        "plain": {"type": "command", "command": [RENDER_FFMPEG], "concurrency": 1},
    },
    "extra_models": {
        PLAIN: {"backends": [{"backend": "plain", "model": "ffmpeg-render"}],
                "seconds": {"min": 1, "max": 20}, "default_size": "320x180",
                "default_seconds": 1},
    },
}
SIZE = "320x180"
STATE = {}


def note(text):
    """A TAP comment: what was measured, for the log."""
    print("# " + text)


def tools():
    if not FFPROBE or not FFMPEG:
        raise Skip("ffmpeg/ffprobe not installed")


def run(args):
    r = subprocess.run(args, capture_output=True, timeout=120)
    check(r.returncode == 0, "%s failed" % args[0], r.stderr.decode(errors="replace")[-800:])
    return r


def save(data, suffix=".mp4"):
    fd, path = tempfile.mkstemp(suffix=suffix, dir=STATE["tmp"])
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def probe(path):
    """Every stream (codec_type, codec_name, width, height) and the
    container's duration."""
    r = run([FFPROBE, "-v", "error", "-show_entries",
             "stream=codec_type,codec_name,width,height:format=duration", "-of", "json", path])
    out = json.loads(r.stdout)
    return out.get("streams") or [], float(out["format"]["duration"])


def frame_md5(path, n):
    """MD5 of frame n, decoded to RGB."""
    r = run([FFMPEG, "-nostdin", "-v", "error", "-i", path, "-vf", r"select=eq(n\,%d)" % n,
             "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
    check(r.stdout, "no frame %d in %s" % (n, path))
    return hashlib.md5(r.stdout).hexdigest()


def psnr(a, b, start_a=0.0, seconds=1.0):
    """Average PSNR (dB) of `seconds` of a from start_a against the start of
    b, both at b's size; 100 for identical frames."""
    graph = ("[0:v]trim=start=%.3f:duration=%.3f,setpts=PTS-STARTPTS[x];"
             "[1:v]trim=duration=%.3f,setpts=PTS-STARTPTS[y];[x][y]psnr"
             % (start_a, seconds, seconds))
    r = run([FFMPEG, "-nostdin", "-hide_banner", "-i", a, "-i", b, "-lavfi", graph,
             "-f", "null", "-"])
    m = re.search(r"PSNR .*average:(inf|[0-9.]+)", r.stderr.decode(errors="replace"))
    check(m, "no PSNR in ffmpeg's output", r.stderr.decode(errors="replace")[-500:])
    return 100.0 if m.group(1) == "inf" else float(m.group(1))


def make_clip(ext, size, seconds, audio=True):
    """A test clip made by ffmpeg: a moving test pattern (and a tone)."""
    path = os.path.join(STATE["tmp"], "clip-%s-%s-%s.%s" % (size, seconds, audio, ext))
    codecs = {"mp4": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"],
              "mov": ["-c:v", "mpeg4", "-c:a", "aac", "-f", "mov"],
              "webm": ["-c:v", "libvpx-vp9", "-b:v", "200k", "-c:a", "libopus"]}[ext]
    args = [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
            "-i", "testsrc2=s=%s:r=24" % size]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=f=440"]
    else:
        codecs = [c for c in codecs if c not in ("-c:a", "aac", "libopus")]
    run(args + ["-t", str(seconds)] + codecs + [path])
    with open(path, "rb") as f:
        return f.read()


def setup(s):
    STATE["tmp"] = tempfile.mkdtemp(prefix="local-ops-", dir=s.dir)
    if not FFPROBE or not FFMPEG:
        return
    k = s.create_key("owner")
    v = s.create(key=k, prompt="the source", seconds="2", size=SIZE)
    done, hist = s.wait_video(v["id"], key=k, timeout=90)
    eq(done["status"], "completed", "source (%s)" % hist)
    c = s.content(v["id"], key=k)
    eq(c.status, 200, "source content")
    STATE.update(key=k, src=v["id"], src_mp4=save(c.body), src_bytes=c.body)


def request(s, path, key=None, **kw):
    return s.request("POST", "/v1/videos/" + path, key=key or STATE["key"], **kw)


def accepted(r, seconds, size=SIZE, model=MODEL):
    """The answer to an accepted edit or extension: a queued Video of the
    source's model and size, seconds the total, not a remix."""
    v = expect_video(r)
    eq((v["model"], v["size"], v["seconds"], v["remixed_from_video_id"]),
       (model, size, str(seconds), None), "model, size, seconds, remixed_from_video_id")
    return v


def finished(s, v, key=None, timeout=120):
    """Waits for v to complete; checks GET and the stored MP4 (one H.264
    stream, no audio, the size, duration = seconds within 0.2 s); returns
    (video, path of the MP4, history)."""
    got, hist = s.wait_video(v["id"], key=key or STATE["key"], timeout=timeout)
    eq(got["status"], "completed", "status of %s (%s; error %s)" % (v["id"], hist, got["error"]))
    eq((got["seconds"], got["size"], got["progress"]), (v["seconds"], v["size"], 100),
       "GET after completion")
    c = s.content(v["id"], key=key or STATE["key"])
    eq(c.status, 200, "content")
    path = save(c.body)
    streams, duration = probe(path)
    w, h = (int(x) for x in v["size"].split("x"))
    eq([(st["codec_type"], st["codec_name"], st["width"], st["height"]) for st in streams],
       [("video", "h264", w, h)], "streams of the MP4")
    check(abs(duration - int(v["seconds"])) <= 0.2,
          "duration %.3f s, want %s s" % (duration, v["seconds"]))
    note("%s: ffprobe duration=%.3f size=%dx%d streams=%s" % (
        v["id"], duration, w, h,
        ",".join("%s/%s" % (st["codec_type"], st["codec_name"]) for st in streams)))
    return got, path, hist


# ------------------------------------------------------------------ models

@test("GET /v1/models/reelgate-local lists edit and extend; a backend that does not declare "
      "them does not")
def _(s):
    r = s.request("GET", "/v1/models/" + MODEL)
    eq(r.status, 200, "status")
    eq(r.json.get("operations"), ["create", "remix", "edit", "extend"], "operations")
    r = s.request("GET", "/v1/models/" + PLAIN)
    eq(r.json.get("operations"), ["create", "remix"], "operations of " + PLAIN)


@test("the embedded default (a config without models) offers edit and extend")
def _(s):
    def embedded(cfg):
        del cfg["models"], cfg["backends"], cfg["default_model"]
    with Stack(workers=1, configure=embedded) as e:
        r = e.request("GET", "/v1/models/" + MODEL)
        eq(r.status, 200, "status (%s)" % r.text[:200])
        eq(r.json.get("operations"), ["create", "remix", "edit", "extend"], "operations")


@test("a command backend without \"operations\": edits and extensions are a 400 naming the "
      "model and the operation")
def _(s):
    tools()
    k = STATE["key"]
    v = s.create(key=k, model=PLAIN, prompt="plain source")
    eq(s.wait_video(v["id"], key=k, timeout=60)[0]["status"], "completed", "plain source")
    for path, extra, noun in (("edits", {}, "video edits"),
                              ("extensions", {"seconds": "4"}, "video extensions")):
        with s.no_new_records(key=k):
            err = expect_error(request(s, path, json=dict(prompt="x", video={"id": v["id"]},
                                                          **extra)),
                               400, None, "unsupported_operation")
        check("'%s'" % PLAIN in err["message"] and noun in err["message"]
              and "'%s'" % MODEL in err["message"],
              "message names the model, the operation and a model that can", err)


# ------------------------------------------------------------------ extensions

@test("extend a completed video by 4 and by 8 s: the source, then the segment; seconds total")
def _(s):
    tools()
    for seg in (4, 8):
        v = accepted(request(s, "extensions", json={"prompt": "then the sun rises",
                                                    "seconds": str(seg),
                                                    "video": {"id": STATE["src"]}}), 2 + seg)
        got, path, _ = finished(s, v)
        eq(s.get(v["id"], key=STATE["key"]).json["seconds"], str(2 + seg), "GET seconds")
        # the first 2 s are the source (re-encoded), the segment is new
        head = psnr(path, STATE["src_mp4"], 0.0, 1.9)
        tail = psnr(path, STATE["src_mp4"], 2.0 + seg - 1.9, 1.9)
        note("+%d s: PSNR against the source: first 1.9 s %.1f dB, last 1.9 s %.1f dB"
             % (seg, head, tail))
        check(head >= 30, "the extension does not start with the source (PSNR %.1f dB)" % head)
        check(tail < 20, "the new segment repeats the source (PSNR %.1f dB)" % tail)
        th = s.content(v["id"], "thumbnail", key=STATE["key"])
        eq(th.status, 200, "thumbnail of the extension")


@test("an extension reports progress while it renders, ending at 100")
def _(s):
    tools()
    v = accepted(request(s, "extensions", form=[("prompt", "a long way on"), ("seconds", "20"),
                                                ("video[id]", STATE["src"])]), 22)
    _, _, hist = finished(s, v, timeout=180)
    eq(hist[-1], ("completed", 100), "last state")
    check(any(st == "in_progress" for st, _ in hist), "never seen in_progress: %s" % hist)


@test("extension of an extension: 2 + 4 + 4 s")
def _(s):
    tools()
    a = accepted(request(s, "extensions", urlencoded={"prompt": "first", "seconds": "4",
                                                      "video[id]": STATE["src"]}), 6)
    _, first, _ = finished(s, a)
    b = accepted(request(s, "extensions", json={"prompt": "second", "seconds": 4,
                                                "video": {"id": a["id"]}}), 10)
    _, second, _ = finished(s, b)
    check(psnr(second, first, 0.0, 5.9) >= 30, "the second does not start with the first")


@test("extension of an uploaded clip (multipart video: MP4 with audio, WebM of another size)")
def _(s):
    tools()
    # an MP4 of the model's size with an AAC track, 2 s
    clip = make_clip("mp4", SIZE, 2)
    v = accepted(request(s, "extensions", form=[
        ("prompt", "more"), ("seconds", "4"), ("video", ("in.mp4", "video/mp4", clip))]), 6)
    _, path, _ = finished(s, v)
    head = psnr(path, save(clip), 0.0, 1.9)
    note("uploaded MP4 +4 s: PSNR of the first 1.9 s against the clip %.1f dB" % head)
    check(head >= 30, "the extension does not start with the clip (PSNR %.1f dB)" % head)
    # a 2.4 s WebM, 202x150 with audio: the size rounds down to even, the
    # length to whole seconds, and the audio is not kept
    clip = make_clip("webm", "202x150", 2.4)
    v = accepted(request(s, "extensions", form=[
        ("prompt", "and more"), ("seconds", "8"), ("video", ("in.webm", "video/webm", clip))]),
        10, size="202x150")
    finished(s, v)


@test("extension and edit of a Files API file (video.file_id in JSON), a MOV")
def _(s):
    tools()
    k = STATE["key"]
    clip = make_clip("mov", "240x136", 2, audio=True)
    r = s.request("POST", "/v1/files", key=k,
                  form=[("purpose", "video"), ("file", ("clip.mov", "video/quicktime", clip))])
    eq(r.status, 200, "upload (%s)" % r.text[:200])
    fid = r.json["id"]
    v = accepted(request(s, "extensions", json={"prompt": "on", "seconds": "4",
                                                "video": {"file_id": fid}}), 6, size="240x136")
    _, path, _ = finished(s, v)
    head = psnr(path, save(clip, ".mov"), 0.0, 1.9)
    note("Files API MOV +4 s: PSNR of the first 1.9 s against the clip %.1f dB" % head)
    check(head >= 30, "the extension does not start with the clip (PSNR %.1f dB)" % head)
    e = accepted(request(s, "edits", json={"prompt": "redone", "video": {"file_id": fid}}), 2,
                 size="240x136")
    finished(s, e)
    eq(s.request("GET", "/v1/files/" + fid, key=k).status, 200, "the file is still there")


@test("the source deleted right after the extension request: the extension still completes")
def _(s):
    tools()
    k = STATE["key"]
    src = s.create(key=k, prompt="short-lived source", seconds="1", size=SIZE)
    eq(s.wait_video(src["id"], key=k, timeout=60)[0]["status"], "completed", "source")
    v = accepted(request(s, "extensions", json={"prompt": "after", "seconds": "4",
                                                "video": {"id": src["id"]}}), 5)
    eq(s.request("DELETE", "/v1/videos/" + src["id"], key=k).status, 200, "delete the source")
    eq(s.get(src["id"], key=k).status, 404, "the source is gone")
    finished(s, v)


@test("deleting the new task removes its copy of the source (uploads/src_*)")
def _(s):
    tools()
    k = STATE["key"]
    before = set(p for p in s.files_under("uploads") if os.path.basename(p).startswith("src_"))
    v = accepted(request(s, "extensions", json={"prompt": "x", "seconds": "4",
                                                "video": {"id": STATE["src"]}}), 6)
    e = accepted(request(s, "edits", json={"prompt": "y", "video": {"id": STATE["src"]}}), 2)
    mine = set(p for p in s.files_under("uploads")
               if os.path.basename(p).startswith("src_")) - before
    eq(len(mine), 2, "a source copy per task")
    finished(s, v)
    for t in (v, e):
        eq(s.request("DELETE", "/v1/videos/" + t["id"], key=k).status, 200, "delete")
    left = set(p for p in s.files_under("uploads") if os.path.basename(p).startswith("src_"))
    eq(left & mine, set(), "source copies left after the delete")
    eq(s.content(STATE["src"], key=k).status, 200, "the source video itself is untouched")


@test("render-ffmpeg's failures of an edit or an extension say what is wrong, never where")
def _(s):
    tools()
    top = tempfile.mkdtemp(prefix="secret-place-", dir=STATE["tmp"])
    garbage = os.path.join(top, "garbage.mp4")
    with open(garbage, "wb") as f:
        f.write(b"\0\0\0\x18ftypmp42" + os.urandom(4000))
    base = {"REELGATE_ID": "video_x", "REELGATE_PROMPT": "p", "REELGATE_WIDTH": "320",
            "REELGATE_HEIGHT": "180", "REELGATE_FPS": "12", "REELGATE_SEED": "",
            "REELGATE_IMAGE": "", "REELGATE_MODEL": "m",
            "REELGATE_OUTPUT": os.path.join(top, "out.mp4"), "PATH": os.environ["PATH"]}
    cases = [
        ({"REELGATE_OP": "extend", "REELGATE_SOURCE": garbage, "REELGATE_SECONDS": "6",
          "REELGATE_SOURCE_SECONDS": "2", "REELGATE_SEGMENT_SECONDS": "4"},
         "cannot read the source video"),
        ({"REELGATE_OP": "edit", "REELGATE_SOURCE": os.path.join(top, "missing.mp4"),
          "REELGATE_SECONDS": "2", "REELGATE_SOURCE_SECONDS": "2"},
         "cannot read the source video"),
        ({"REELGATE_OP": "extend", "REELGATE_SOURCE": STATE["src_mp4"], "REELGATE_SECONDS": "7",
          "REELGATE_SOURCE_SECONDS": "2", "REELGATE_SEGMENT_SECONDS": "4"},
         "REELGATE_SOURCE_SECONDS + REELGATE_SEGMENT_SECONDS"),
        ({"REELGATE_OP": "edit", "REELGATE_SOURCE": "", "REELGATE_SECONDS": "2"},
         "needs the source video"),
        ({"REELGATE_OP": "resize", "REELGATE_SECONDS": "2"}, "expected create, edit or extend"),
    ]
    for env, want in cases:
        r = subprocess.run([RENDER_FFMPEG], env=dict(base, **env), input=b"{}",
                           capture_output=True, timeout=60)
        last = r.stderr.decode(errors="replace").strip().splitlines()[-1]
        check(r.returncode != 0, "exit status 0 for %s" % env)
        check(want in last, "last line %r lacks %r" % (last, want))
        check("secret-place" not in last and STATE["tmp"] not in last,
              "the message names a path: %r" % last)
        eq(sorted(os.listdir(top)), ["garbage.mp4"], "files left by a failed run")


# ------------------------------------------------------------------ edits

@test("edit of a completed video: same length and size, different frames")
def _(s):
    tools()
    v = accepted(request(s, "edits", json={"prompt": "at night, with lanterns",
                                           "video": {"id": STATE["src"]}}), 2)
    _, path, _ = finished(s, v)
    for n in (0, 24, 47):
        check(frame_md5(path, n) != frame_md5(STATE["src_mp4"], n),
              "frame %d of the edit is the source's" % n)


@test("edit of an uploaded clip (multipart MP4 with audio): same length and size")
def _(s):
    tools()
    clip = make_clip("mp4", "256x144", 3)
    v = accepted(request(s, "edits", form=[("prompt", "in watercolour"),
                                           ("video", ("in.mp4", "video/mp4", clip))]),
                 3, size="256x144")
    _, path, _ = finished(s, v)
    src = save(clip)
    check(frame_md5(path, 10) != frame_md5(src, 10), "frame 10 of the edit is the clip's")


if __name__ == "__main__":
    sys.exit(suite.main(shared=True, setup=setup, **STACK))
