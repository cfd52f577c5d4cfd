#!/usr/bin/env python3
"""Generation end to end: the dispatcher, the `command` backend, content.

Real nginx, real reelgate processes, the shipped render-ffmpeg with real
ffmpeg, and the fake renderers of tests/fakes for the cases a real model
cannot be made to show on demand (slow, failing, hanging, writing nothing).
Videos are small (320x180, 1-2 s, 12 fps) except where a test needs a longer
render.  Every wait is bounded; every scenario ends with `reelgate db check`.

Most tests share one stack whose config has a model per behaviour (see
MODELS); the ones that kill the dispatcher make their own.  Input images
given by URL are served by an ImageServer on loopback, which the stack's
image_urls allows.
"""
import base64
import os
import re
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from records import check_settled, stored_record  # noqa: E402
from harness import (ANY, FAKES, MODEL, SPAWN_FCGI, ImageServer, Skip, Stack, Suite,  # noqa: E402
                     alive, check, children, cmdline, eq, expect_error, expect_video,
                     fake, ffprobe, png_bytes, wait_until)

suite = Suite()
test = suite.test

RETENTION = 3600
FAIL_MESSAGE = "fake: out of GPU memory (needed 80 GiB, have 0)"
VIDEO_BOUND = 60      # seconds any small video may take, queue included


def model(backend, deadline=1800):
    return {
        "backends": [{"backend": backend, "model": backend + "-upstream"}],
        "seconds": {"min": 1, "max": 20},
        "sizes": {"max_width": 1920, "max_height": 1920},
        "default_seconds": 1,
        "default_size": "320x180",
        "default_fps": 12,
        "max_fps": 60,
        "deadline_seconds": deadline,
    }


def command(cmd, concurrency, **extra):
    return dict({"type": "command", "command": cmd, "concurrency": concurrency}, **extra)


# Model name -> (backend name, backend, model deadline).
MODELS = {
    "hang": ("hang", command(fake("hang"), 4), 1800),
    "hang-deadline": ("hang", None, 10),
    "hang-short": ("hang-short", command(fake("hang"), 2, timeout_seconds=3), 1800),
    "held": ("held", command(fake("hang"), 1), 1800),
    "held-deadline": ("held", None, 10),
    "fail": ("fail", command(fake("fail", FAIL_MESSAGE), 2), 1800),
    "no-output": ("no-output", command(fake("no-output"), 2), 1800),
    "not-mp4": ("not-mp4", command(fake("not-mp4"), 2), 1800),
    "leak-paths": ("leak-paths", command(fake("leak-paths"), 2), 1800),
    "serial": ("serial", command(fake("slow-render", 2), 1), 1800),
    "imgurl": ("imgurl", command(fake("slow-render", 0), 4), 1800),
}
# Input images given by URL: the shared stack lets the dispatcher download
# them from loopback (where ImageServer runs), and gives up after 4 s.
IMAGE_URLS = {"allow_addresses": ["127.0.0.1"], "timeout_seconds": 4}


def shared_stack_args(**more):
    backends = {b: cmd for b, cmd, _ in MODELS.values() if cmd}
    models = {name: model(b, deadline) for name, (b, _, deadline) in MODELS.items()}
    models[MODEL] = model("local")
    args = dict(workers=2, extra_models=models, backends=backends,
                content={"delivery": "x-accel-redirect", "retention_seconds": RETENTION},
                configure=lambda cfg: cfg.update(image_urls=dict(IMAGE_URLS)))
    args.update(more)
    return args


# ------------------------------------------------------------------ helpers

def content_path(s, vid, ext):
    return os.path.join(s.data_dir, "content", "%s.%s" % (vid, ext))


def files_of(s, vid):
    """Files (any depth) under data_dir/content, uploads and tmp whose name
    contains the id."""
    return [f for sub in ("content", "uploads", "tmp") for f in s.files_under(sub)
            if vid in os.path.basename(f)]


def stray_files(s):
    """Files under data_dir/content that are no video's final file."""
    return [f for f in s.files_under("content")
            if not re.match(r"^video_[0-9a-z]+\.(mp4|webp|jpg)$", os.path.basename(f))]


# A filesystem location at the start of a word: /x, ~/x, ./x, ../x, file:x
# or /x after a colon (the "//" of a web URL is no match).
PATH_IN_TEXT = re.compile(r"(?:^|[\s'\"`(\[{<=,;])(?:/+[^\s/]|~[\w.-]*/|\.\.?/)|:/(?!/)|file:",
                          re.I)


def check_no_paths(s, message, *more):
    """message names no place in the server's filesystem: no path at the
    start of a word, and neither the stack's directory (its data_dir, tmp
    dir, uploads) nor the source tree in any word, nor any of more."""
    check(not PATH_IN_TEXT.search(message), "a path in error.message: %r" % message)
    for place in (s.dir, s.data_dir, os.path.realpath(s.dir), FAKES,
                  s.dir.lstrip("/"), "uploads/", "img_") + more:
        check(place not in message, "%r in error.message: %r" % (place, message))


def top_level_boxes(data):
    """The top-level ISO-BMFF box types of an MP4, in order."""
    boxes, off = [], 0
    while off + 8 <= len(data):
        size = int.from_bytes(data[off:off + 4], "big")
        kind = data[off + 4:off + 8].decode("latin-1")
        if size == 1 and off + 16 <= len(data):
            size = int.from_bytes(data[off + 8:off + 16], "big")
        elif size == 0:
            size = len(data) - off
        if size < 8:
            break
        boxes.append(kind)
        off += size
    return boxes


def download(s, vid, variant, ctype, key=ANY):
    """GET the content of variant: 200, Content-Type, Content-Length, and the
    bytes equal to the stored file.  Returns the bytes."""
    r = s.content(vid, variant, key=key)
    check(r.status == 200, "content %s: status %s" % (variant, r.status), r)
    eq((r.header("content-type") or "").split(";")[0].strip(), ctype,
       "Content-Type of variant %s" % variant)
    check(r.header("content-length") is not None, "no Content-Length for variant %s" % variant)
    eq(int(r.header("content-length")), len(r.body), "Content-Length of variant %s" % variant)
    check(r.header("x-accel-redirect") is None, "X-Accel-Redirect leaked to the client", r)
    ext = {"video": "mp4", "thumbnail": "webp", "spritesheet": "jpg"}[variant]
    with open(content_path(s, vid, ext), "rb") as f:
        check(f.read() == r.body, "variant %s: the bytes differ from data_dir/content" % variant)
    return r.body


def check_mp4(s, vid, body, width, height, fps, seconds):
    """The video is an H.264 yuv420p MP4 (+faststart) of exactly the size,
    fps, frame count and duration asked for."""
    check(body[4:8] == b"ftyp", "the video does not start with an ftyp box: %r" % body[:16])
    boxes = top_level_boxes(body)
    check("moov" in boxes and "mdat" in boxes, "MP4 boxes: %s" % boxes)
    check(boxes.index("moov") < boxes.index("mdat"),
          "moov after mdat (not +faststart): %s" % boxes)
    path = os.path.join(s.dir, "%s.mp4" % vid)
    with open(path, "wb") as f:
        f.write(body)
    p = ffprobe(path)
    check("mp4" in p["format"], "container %r is not MP4" % p["format"])
    eq(p["codec"], "h264", "codec")
    eq(p["pix_fmt"], "yuv420p", "pix_fmt")
    eq((p["width"], p["height"]), (width, height), "width, height")
    eq(p["fps"], "%d/1" % fps, "frame rate")
    eq(p["frames"], seconds * fps, "frame count (seconds * fps)")
    check(p["duration"] is not None and abs(p["duration"] - seconds) < 0.1,
          "duration %r, want %s s" % (p["duration"], seconds))
    return p


def check_images(s, vid, width, height):
    """The thumbnail is a WebP, the spritesheet a JPEG, both of the video's
    aspect ratio, with the right Content-Type."""
    thumb = download(s, vid, "thumbnail", "image/webp")
    check(thumb[:4] == b"RIFF" and thumb[8:12] == b"WEBP", "thumbnail is not WebP: %r" % thumb[:16])
    sprite = download(s, vid, "spritesheet", "image/jpeg")
    check(sprite[:3] == b"\xff\xd8\xff", "spritesheet is not JPEG: %r" % sprite[:16])
    aspect = width / height
    t = ffprobe(content_path(s, vid, "webp"))
    eq(t["codec"], "webp", "thumbnail codec")
    check(0 < t["width"] <= width and abs(t["width"] / t["height"] - aspect) < 0.05,
          "thumbnail %dx%d for a %dx%d video" % (t["width"], t["height"], width, height))
    sp = ffprobe(content_path(s, vid, "jpg"))
    eq(sp["codec"], "mjpeg", "spritesheet codec")
    check(abs(sp["width"] / sp["height"] - aspect) < 0.05 and sp["width"] > t["width"] // 2,
          "spritesheet %dx%d for a %dx%d video (a grid of frames)"
          % (sp["width"], sp["height"], width, height))


def check_completed(s, v, created):
    eq(v["status"], "completed", "status")
    eq(v["progress"], 100, "progress")
    eq(v["error"], None, "error")
    check(isinstance(v["completed_at"], int) and v["completed_at"] >= created["created_at"],
          "completed_at %r before created_at %r" % (v["completed_at"], created["created_at"]))
    check(v["completed_at"] <= int(time.time()) + 1, "completed_at in the future", v)
    eq(v["expires_at"], v["completed_at"] + RETENTION, "expires_at (completed_at + retention)")
    eq((v.get("metadata") or {}).get("url"),
       "%s/v1/videos/%s/content" % (s.base, v["id"]), "metadata.url")
    for f in ("id", "model", "prompt", "size", "seconds", "created_at"):
        eq(v[f], created[f], "field %s after completion" % f)


def alive_any(pids):
    return [p for p in pids if alive(p)]


# -------------------------------------------------------------------- tests

@test("create (JSON text, multipart PNG, JSON base64 image) -> completed, valid MP4, "
      "thumbnail and spritesheet; progress rises", timeout=150)
def _(s):
    png = png_bytes(64, 36, (30, 120, 200))
    # The long one first: it takes a free slot at once and renders a few
    # seconds, so its progress can be watched.
    long = s.create(prompt="a long zoom into the Mandelbrot set", seconds="20",
                    size="640x360", fps=24, seed=9)
    text = s.create(prompt="a lighthouse at night", seconds="2", size="320x180", fps=12,
                    seed=7)
    eq((text["metadata"] or {}).get("seed"), 7, "metadata.seed")
    up0 = len(s.files_under("uploads"))
    multi = expect_video(s.request("POST", "/v1/videos", form=[
        ("prompt", "the picture comes alive"), ("seconds", "2"), ("size", "320x180"),
        ("fps", "12"), ("input_reference", ("ref.png", "image/png", png))]))
    b64 = s.create(prompt="pan over the picture", seconds="1", size="320x180", fps=12,
                   image=base64.b64encode(png).decode())
    eq(len(s.files_under("uploads")), up0 + 2, "uploaded images stored")

    t0 = time.monotonic()
    v, hist = s.wait_video(long["id"], timeout=VIDEO_BOUND, interval=0.05)
    took = time.monotonic() - t0
    statuses = [st for st, _ in hist]
    check("in_progress" in statuses, "never saw in_progress: %s" % hist)
    check(statuses.index("in_progress") < statuses.index(v["status"]),
          "in_progress not before the end: %s" % hist)
    progress = [p for st, p in hist if st == "in_progress"]
    eq(progress, sorted(progress), "progress while in_progress (non-decreasing)")
    # Progress is written about once a second: a render of 3 s or more must
    # show some (a very fast machine may finish before the first write).
    check(took < 3 or any(0 < p < 100 for p in progress),
          "no progress between 0 and 100 seen during a %.1f s render: %s" % (took, hist))
    check_completed(s, v, long)
    body = download(s, long["id"], "video", "video/mp4")
    check_mp4(s, long["id"], body, 640, 360, 24, 20)

    for created, (w, h, fps, secs) in ((text, (320, 180, 12, 2)), (multi, (320, 180, 12, 2)),
                                        (b64, (320, 180, 12, 1))):
        v, hist = s.wait_video(created["id"], timeout=VIDEO_BOUND)
        check(v["status"] == "completed", "%s ended %s: %s" % (created["id"], v["status"],
                                                              v["error"]), hist)
        check_completed(s, v, created)
        body = download(s, created["id"], "video", "video/mp4")
        check_mp4(s, created["id"], body, w, h, fps, secs)
        # what the usage ledger reads: the MP4 as made, no provider's usage
        check_settled(stored_record(s, created["id"]), body)
        check_images(s, created["id"], w, h)
        eq(expect_video(s.get(created["id"]), status="completed"), v, "retrieve after completion")
    listed = {x["id"]: x for x in s.list(order="desc", limit=100).json["data"]}
    eq(listed[text["id"]]["status"], "completed", "status in the list")
    s.db_check()


def range_checks(s, vid, data, mode):
    size = len(data)
    for rng, start, end in (("bytes=0-99", 0, 99), ("bytes=100-", 100, size - 1),
                            ("bytes=-50", size - 50, size - 1)):
        r = s.content(vid, headers={"Range": rng})
        eq(r.status, 206, "%s: status of Range %s" % (mode, rng))
        eq(r.header("content-range"), "bytes %d-%d/%d" % (start, end, size),
           "%s: Content-Range of %s" % (mode, rng))
        eq(int(r.header("content-length") or -1), end - start + 1,
           "%s: Content-Length of %s" % (mode, rng))
        check(r.body == data[start:end + 1], "%s: wrong bytes for Range %s" % (mode, rng))
        eq((r.header("content-type") or "").split(";")[0], "video/mp4",
           "%s: Content-Type of a 206" % mode)
    r = s.content(vid, headers={"Range": "bytes=99999999-"})
    err = expect_error(r, 416, code=ANY)
    eq(r.header("content-range"), "bytes */%d" % size, "%s: Content-Range of the 416" % mode)
    return err


@test("content: X-Accel-Redirect through nginx and worker streaming; Range 206 and 416 "
      "in both", timeout=120)
def _(s):
    problems = []
    # delivery x-accel-redirect (the shared stack): nginx sends the file.
    v = s.create(prompt="served by nginx", seconds="2", size="320x180", fps=12)
    done, hist = s.wait_video(v["id"], timeout=VIDEO_BOUND)
    eq(done["status"], "completed", "status (%s)" % hist)
    data = download(s, v["id"], "video", "video/mp4")
    try:
        range_checks(s, v["id"], data, "x-accel-redirect")
    except AssertionError as e:
        problems.append("delivery x-accel-redirect: %s" % e)
    s.db_check()
    # delivery none: the worker streams it; metadata.url from public_url.
    public = "https://videos.example.com:8443"
    with Stack(workers=2, content={"delivery": "none", "retention_seconds": RETENTION},
               configure=lambda c: c.update(public_url=public)) as t:
        w = t.create(prompt="streamed by a worker", seconds="2", size="320x180", fps=12)
        done, hist = t.wait_video(w["id"], timeout=VIDEO_BOUND)
        eq(done["status"], "completed", "status (%s)" % hist)
        eq(done["metadata"].get("url"), "%s/v1/videos/%s/content" % (public, w["id"]),
           "metadata.url with public_url set")
        r = t.content(w["id"])
        eq(r.header("accept-ranges"), "bytes", "Accept-Ranges of a streamed video")
        data = download(t, w["id"], "video", "video/mp4")
        err = range_checks(t, w["id"], data, "none")
        check("range" in err["message"].lower(), "416 message %r" % err["message"])
        thumb = download(t, w["id"], "thumbnail", "image/webp")
        r = t.content(w["id"], "thumbnail", headers={"Range": "bytes=0-11"})
        eq((r.status, r.body), (206, thumb[:12]), "Range on the thumbnail")
        t.db_check()
    check(not problems, "\n".join(problems))


@test("content before completion: 404 video_not_ready naming the status; unknown "
      "variant: 400", timeout=60)
def _(s):
    k = s.create_key()
    running = s.create(key=k, model="held", prompt="holds the only slot")
    wait_until(lambda: s.get(running["id"], key=k).json["status"] == "in_progress", 20,
               what="the first held video to start")
    queued = s.create(key=k, model="held", prompt="waits behind it")
    time.sleep(1.5)  # a scan or two: it must stay queued (concurrency 1)
    eq(s.get(queued["id"], key=k).json["status"], "queued", "status of the second")
    for v, status in ((queued, "queued"), (running, "in_progress")):
        for variant in (None, "video", "thumbnail", "spritesheet"):
            r = s.content(v["id"], variant, key=k)
            err = expect_error(r, 404, code="video_not_ready")
            check(status in err["message"], "the message must say the status %r: %r"
                  % (status, err["message"]))
        expect_error(s.content(v["id"], "gif", key=k), 400, param="variant")
    done = s.create(key=k, prompt="finished one")
    v, hist = s.wait_video(done["id"], key=k, timeout=VIDEO_BOUND)
    eq(v["status"], "completed", "status (%s)" % hist)
    for bad in ("gif", "VIDEO", "", "thumbnail,video"):
        expect_error(s.content(done["id"], bad, key=k), 400, param="variant")
    expect_error(s.content("video_00000000000000000000000000000000", "video", key=k), 404,
                 code="not_found")
    # Delete the queued one first (deleting the running one frees its slot).
    for v in (queued, running):
        eq(s.request("DELETE", "/v1/videos/" + v["id"], key=k).status, 200, "delete")
    s.db_check()


@test("DELETE during rendering kills the renderer and leaves no files", timeout=60)
def _(s):
    up0 = set(s.files_under("uploads"))
    r = s.request("POST", "/v1/videos", form=[
        ("prompt", "never finishes"), ("model", "hang"),
        ("input_reference", ("in.png", "image/png", png_bytes(32, 32)))])
    v = expect_video(r)
    vid = v["id"]
    check(len(set(s.files_under("uploads")) - up0) == 1, "the upload was not stored")
    wait_until(lambda: s.get(vid).json["status"] == "in_progress", 20, what="in_progress")
    pids = wait_until(lambda: len(s.fake_pids(vid)) == 2 and s.fake_pids(vid), 20,
                      what="the renderer to record its pids")
    check(all(alive(p) for p in pids), "the renderer is not running: %s" % pids)
    scratch = os.path.join(s.data_dir, "tmp", "run-" + vid)
    wait_until(lambda: os.path.exists(os.path.join(scratch, "out.mp4")), 10,
               what="the renderer's partial output in its scratch directory")
    d = s.request("DELETE", "/v1/videos/" + vid)
    eq(d.status, 200, "delete status")
    eq(d.json, {"id": vid, "object": "video.deleted", "deleted": True}, "delete answer")
    left = alive_any(pids[:1])
    check(not left, "the renderer (pid %s) still runs after DELETE returned" % left)
    # Its child got the group's SIGKILL too; allow the kernel a moment.
    try:
        wait_until(lambda: not alive_any(pids), 1, what="the renderer's child to die")
    except AssertionError:
        raise AssertionError("the renderer's child %s outlived DELETE (not a group kill): %s"
                             % (alive_any(pids), [cmdline(p) for p in alive_any(pids)]))
    expect_error(s.get(vid), 404, code="not_found")
    problems = []
    left = files_of(s, vid)
    if left:
        problems.append("files of the deleted video left under data_dir: %s" % left)
    if set(s.files_under("uploads")) != up0:
        problems.append("uploads after the delete: %s"
                        % sorted(set(s.files_under("uploads")) ^ up0))

    # The same with the real renderer, deleted while its ffmpeg runs.
    stray0 = set(stray_files(s))
    w = s.create(prompt="deleted while ffmpeg renders", seconds="20", size="640x360",
                 fps=24, seed=9)
    disp = s.dispatcher_pid()

    def ffmpeg_running():
        group = [p for r in children(disp) for p in [r] + children(r)]
        return [p for p in group if os.path.basename((cmdline(p) or [""])[0]) == "ffmpeg"]
    ffmpeg = wait_until(ffmpeg_running, 30, interval=0.02, what="render-ffmpeg's ffmpeg")
    eq(s.request("DELETE", "/v1/videos/" + w["id"]).status, 200, "delete status")
    try:
        wait_until(lambda: not alive_any(ffmpeg), 1, what="ffmpeg to die")
    except AssertionError:
        problems.append("render-ffmpeg's ffmpeg %s outlived DELETE" % alive_any(ffmpeg))
    new_stray = sorted(set(stray_files(s)) - stray0)
    if new_stray or files_of(s, w["id"]):
        problems.append("render-ffmpeg's files left in data_dir/content after DELETE: %s"
                        % [os.path.relpath(f, s.data_dir)
                           for f in new_stray + files_of(s, w["id"])])

    # A new task still runs: the dispatcher is fine.
    x = s.create(prompt="after the delete")
    eq(s.wait_video(x["id"], timeout=VIDEO_BOUND)[0]["status"], "completed", "next video")
    s.db_check()
    check(not problems, "\n".join(problems))


@test("a renderer that fails, writes nothing, hangs past the deadline or the backend "
      "time limit ends failed with a clear error", timeout=90)
def _(s):
    left = {}          # files each failed task left behind (checked last)
    t0 = time.monotonic()
    deadline = s.create(model="hang-deadline", prompt="hangs past its 10 s deadline")
    short = s.create(model="hang-short", prompt="hangs past the backend's 3 s")
    failing = s.create(model="fail", prompt="fails")
    empty = s.create(model="no-output", prompt="writes nothing")

    v, hist = s.wait_video(failing["id"], timeout=VIDEO_BOUND)
    eq(v["status"], "failed", "status of the failing renderer (%s)" % hist)
    check(isinstance(v["error"], dict) and set(v["error"]) >= {"code", "message"},
          "error must be {code, message}", v)
    eq(v["error"]["code"], "generation_failed", "error.code")
    check(FAIL_MESSAGE in v["error"]["message"],
          "error.message must carry the renderer's last stderr line: %r" % v["error"]["message"])
    eq(v["completed_at"], None, "completed_at of a failed video")
    left["the failed renderer"] = files_of(s, failing["id"])
    err = expect_error(s.content(failing["id"]), 404, code="video_not_ready")
    check("failed" in err["message"], "content message must say failed: %r" % err["message"])

    v, hist = s.wait_video(empty["id"], timeout=VIDEO_BOUND)
    eq(v["status"], "failed", "status of the renderer that wrote nothing (%s)" % hist)
    eq(v["error"]["code"], "generation_failed", "error.code")
    check(re.search(r"without writing|no (video|output)|did not write|wrote nothing",
                    v["error"]["message"], re.I),
          "the message must say no video was written: %r" % v["error"]["message"])
    left["the renderer that wrote nothing"] = files_of(s, empty["id"])

    v, hist = s.wait_video(short["id"], timeout=30)
    took = time.monotonic() - t0
    eq(v["status"], "failed", "status past the backend timeout_seconds (%s)" % hist)
    eq(v["error"]["code"], "generation_timeout", "error.code past timeout_seconds")
    check(2.5 <= took <= 15, "failed %.1f s after creation; timeout_seconds is 3" % took)
    check(not alive_any(s.fake_pids(short["id"])), "the timed-out renderer still runs")
    left["the renderer past timeout_seconds"] = files_of(s, short["id"])

    v, hist = s.wait_video(deadline["id"], timeout=30)
    took = time.monotonic() - t0
    eq(v["status"], "failed", "status past the deadline (%s)" % hist)
    eq(v["error"]["code"], "generation_timeout", "error.code past the deadline")
    check(v["error"]["message"], "empty error.message")
    check(9 <= took <= 21, "failed %.1f s after creation; the deadline is 10 s" % took)
    pids = s.fake_pids(deadline["id"])
    check(pids, "the hanging renderer never ran")
    check(not alive_any(pids), "the renderer still runs past the deadline: %s" % alive_any(pids))
    left["the renderer past the deadline"] = files_of(s, deadline["id"])
    for x in (deadline, short, failing, empty):
        eq(s.get(x["id"]).json["status"], "failed", "still failed: %s" % x["id"])
    s.db_check()
    left = ["%s: %s" % (k, [os.path.relpath(f, s.data_dir) for f in v])
            for k, v in left.items() if v]
    check(not left, "files left in data_dir by failed tasks:\n" + "\n".join(left))


@test("a renderer whose output is no MP4: the task completes (never failed for it), its record "
      "says output {measured: false} and a warn line names the video", timeout=60)
def _(s):
    v0 = s.create(model="not-mp4", prompt="writes something that is not a video")
    v, hist = s.wait_video(v0["id"], timeout=VIDEO_BOUND)
    eq(v["status"], "completed", "status (%s)" % hist)
    rec = stored_record(s, v0["id"])
    eq(rec.get("output"), {"measured": False}, "record output")
    check("provider_usage" not in rec, "provider_usage on a local render: %r" % rec)
    check("output" not in v and "provider_usage" not in v, "internal fields in the video object")
    with open(os.path.join(s.dir, "logs", "serve.log"), errors="replace") as f:
        lines = [x for x in f if "event=output_unmeasured" in x and v0["id"] in x]
    eq(len(lines), 1, "output_unmeasured log lines for %s" % v0["id"])
    check("level=warn" in lines[0], "not a warning: %r" % lines[0])


@test("an upload that starts like a PNG but is garbage fails saying the input image cannot "
      "be read, and error.message names no server path", timeout=90)
def _(s):
    garbage = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    bad = expect_video(s.request("POST", "/v1/videos", form=[
        ("prompt", "a picture that is not one"), ("seconds", "1"), ("size", "320x180"),
        ("fps", "12"), ("input_reference", ("garbage.png", "image/png", garbage))]))
    v, hist = s.wait_video(bad["id"], timeout=VIDEO_BOUND)
    eq(v["status"], "failed", "status of the garbage image (%s)" % hist)
    eq(v["error"]["code"], "generation_failed", "error.code")
    msg = v["error"]["message"]
    check(re.search(r"input image", msg, re.I) and re.search(r"cannot|could not|unreadable", msg, re.I),
          "the message must say the input image could not be read: %r" % msg)
    check_no_paths(s, msg)
    s.db_check()


@test("a program whose last stderr line is full of server paths: error.message carries "
      "none of them and keeps the rest (the reason, a web URL, HTTP/1.1, and/or)", timeout=60)
def _(s):
    leaky = s.create(model="leak-paths", prompt="fails naming files")
    v, hist = s.wait_video(leaky["id"], timeout=VIDEO_BOUND)
    eq(v["status"], "failed", "status of the program naming files (%s)" % hist)
    msg = v["error"]["message"]
    with open(os.path.join(s.fake_dir(), leaky["id"] + ".leak")) as f:
        line = f.read().rstrip("\n")
    # The dispatcher keeps 399 bytes of a line: all of it must have come through.
    check(len(line.encode()) < 400, "the fake's line is too long to test with: %r" % line)
    with open(os.path.join(s.fake_dir(), leaky["id"] + ".env")) as f:
        output = [l[len("OUTPUT="):] for l in f.read().splitlines() if l.startswith("OUTPUT=")][0]
    # output's directory is the program's TMPDIR (and its working directory).
    check_no_paths(s, msg, output, os.path.dirname(output), s.fake_dir(), "~/")
    for kept in ("leak: cannot write", "https://example.com/e", "HTTP/1.1", "and/or",
                 "No space left"):
        check(kept in msg, "%r must stay in error.message: %r" % (kept, msg))
    s.db_check()


@test("a task queued behind a full backend (concurrency 1) fails at its deadline without "
      "ever starting; the one holding the slot and one waiting without a deadline are "
      "untouched; the slot, once freed, goes to the waiting one", timeout=90)
def _(s):
    k = s.create_key()
    holder = s.create(key=k, model="held", prompt="holds the only slot")
    wait_until(lambda: s.get(holder["id"], key=k).json["status"] == "in_progress", 20,
               what="the held video to start")
    t0 = time.monotonic()
    doomed = s.create(key=k, model="held-deadline", prompt="waits past its 10 s deadline")
    patient = s.create(key=k, model="held", prompt="waits without a deadline")
    v, hist = s.wait_video(doomed["id"], key=k, timeout=30)
    took = time.monotonic() - t0
    eq(v["status"], "failed", "status of the task past its deadline (%s)" % hist)
    eq(v["error"]["code"], "generation_timeout", "error.code")
    check("in_progress" not in [st for st, _ in hist], "it started: %s" % hist)
    check(9 <= took <= 21, "failed %.1f s after creation; the deadline is 10 s" % took)
    eq(s.get(holder["id"], key=k).json["status"], "in_progress", "the holder")
    eq(s.get(patient["id"], key=k).json["status"], "queued", "the patient one")
    # Deleting the holder frees the slot: the waiting task starts.
    eq(s.request("DELETE", "/v1/videos/" + holder["id"], key=k).status, 200, "delete")
    wait_until(lambda: s.get(patient["id"], key=k).json["status"] == "in_progress", 15,
               what="the waiting task to take the freed slot")
    eq(s.request("DELETE", "/v1/videos/" + patient["id"], key=k).status, 200, "delete")
    s.db_check()


@test("backend concurrency 1: three slow tasks run one at a time and all complete",
      timeout=90)
def _(s):
    k = s.create_key()
    png = png_bytes(40, 30)
    vids = [s.create(key=k, model="serial", prompt="serial %d" % i, seconds="1",
                     size="320x180", fps=12, seed=100 + i)["id"] for i in range(2)]
    r = s.request("POST", "/v1/videos", key=k, form=[
        ("prompt", "serial 2"), ("model", "serial"), ("seconds", "1"), ("size", "320x180"),
        ("fps", "12"), ("seed", "102"), ("metadata[style]", "film"),
        ("input_reference", ("in.png", "image/png", png))])
    vids.append(expect_video(r)["id"])
    most, seen_waiting = 0, False
    deadline = time.monotonic() + VIDEO_BOUND
    while True:
        states = {v["id"]: v["status"] for v in s.list(key=k, limit=10).json["data"]}
        running = [i for i in vids if states.get(i) == "in_progress"]
        check(len(running) <= 1, "%d tasks in_progress at once with concurrency 1: %s"
              % (len(running), states))
        most = max(most, len(running))
        seen_waiting |= bool(running) and any(states.get(i) == "queued" for i in vids)
        if all(states.get(i) in ("completed", "failed") for i in vids):
            break
        check(time.monotonic() < deadline, "not all done in %ss: %s" % (VIDEO_BOUND, states))
        time.sleep(0.05)
    eq([states[i] for i in vids], ["completed"] * 3, "final statuses")
    check(most == 1 and seen_waiting, "never saw one running while another waited")
    for i, vid in enumerate(vids):
        body = download(s, vid, "video", "video/mp4", key=k)
        check_mp4(s, vid, body, 320, 180, 12, 1)
        # The backend contract: the task on stdin and in REELGATE_*.
        task = s.fake_task(vid)
        check(task is not None, "the renderer recorded no task JSON for %s" % vid)
        for f, want in (("id", vid), ("prompt", "serial %d" % i), ("seconds", 1),
                        ("width", 320), ("height", 180), ("fps", 12), ("seed", 100 + i),
                        ("model", "serial-upstream")):
            eq(task.get(f), want, "stdin JSON %s" % f)
        check(task.get("output") == os.path.join(s.data_dir, "tmp", "run-" + vid, "out.mp4"),
              "stdin JSON output %r is not the run's scratch file" % task.get("output"))
        with open(os.path.join(s.fake_dir(), vid + ".env")) as f:
            env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        eq((env.get("REELGATE_ID", env.get("ID")), env.get("SECONDS"), env.get("WIDTH"),
            env.get("HEIGHT"), env.get("FPS"), env.get("SEED"), env.get("OUTPUT")),
           (vid, "1", "320", "180", "12", str(100 + i), task["output"]), "REELGATE_* variables")
        if i == 2:
            eq((task.get("metadata") or {}).get("style"), "film", "stdin JSON metadata")
            img = task.get("image")
            check(isinstance(img, str) and img.startswith(os.path.join(s.data_dir, "uploads")),
                  "stdin JSON image %r not under data_dir/uploads" % img)
            eq(env.get("IMAGE"), img, "REELGATE_IMAGE")
            with open(img, "rb") as f:
                eq(f.read(), png, "the image the renderer was given")
        else:
            eq(task.get("image"), None, "stdin JSON image without one")
            eq(env.get("IMAGE"), "", "REELGATE_IMAGE without one")
    s.db_check()


_IMAGES = []


def images():
    """The ImageServer of this file's tests (started on first use)."""
    if not _IMAGES:
        _IMAGES.append(ImageServer())
    return _IMAGES[0]


def check_got_image(s, vid, png):
    """The renderer of vid was given png as a file under data_dir/uploads
    (stdin JSON `image` and REELGATE_IMAGE); returns its path."""
    task = s.fake_task(vid)
    check(task is not None, "the renderer recorded no task JSON for %s" % vid)
    img = task.get("image")
    check(isinstance(img, str) and img.startswith(os.path.join(s.data_dir, "uploads") + "/"),
          "stdin JSON image %r not under data_dir/uploads" % img)
    with open(os.path.join(s.fake_dir(), vid + ".env")) as f:
        env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    eq(env.get("IMAGE"), img, "REELGATE_IMAGE")
    with open(img, "rb") as f:
        eq(f.read(), png, "the image the renderer was given")
    return img


@test("an image URL (input_reference.image_url, and `image` through 2 redirects) is "
      "downloaded once, stored under data_dir/uploads and given to the renderer as a file; "
      "DELETE removes it", timeout=90)
def _(s):
    img = images()
    png = png_bytes(48, 32, (10, 160, 90))
    direct = img.serve("/ok.png", png)
    img.serve("/ok-after-redirects.png", png)
    img.redirect("/r2", "/r1")
    img.redirect("/r1", img.url("/ok-after-redirects.png"))
    k = s.create_key()
    small = dict(key=k, model="imgurl", seconds="1", size="320x180", fps=12)
    a = s.create(prompt="from an image URL", input_reference={"image_url": direct}, **small)
    b = s.create(prompt="from a redirected image URL", image=img.url("/r2"), **small)
    paths = []
    for v, url in ((a, direct), (b, img.url("/r2"))):
        done, hist = s.wait_video(v["id"], key=k, timeout=VIDEO_BOUND)
        eq(done["status"], "completed", "status of %s (%s; error %s)"
           % (v["prompt"], hist, done["error"]))
        eq(done["metadata"].get("image_url"), url, "metadata.image_url (the URL as sent)")
        paths.append(check_got_image(s, v["id"], png))
    eq(img.hits.count("/ok.png"), 1, "downloads of the direct URL")
    eq([h for h in img.hits if h in ("/r2", "/r1", "/ok-after-redirects.png")],
       ["/r2", "/r1", "/ok-after-redirects.png"], "the redirect chain, followed once")
    for v, path in zip((a, b), paths):
        eq(s.request("DELETE", "/v1/videos/" + v["id"], key=k).status, 200, "delete")
        check(not os.path.exists(path), "the downloaded image outlived its video: %s" % path)
    eq(files_of(s, a["id"]) + files_of(s, b["id"]), [], "files left after the deletes")
    s.db_check()


def slow_answer(seconds):
    """A route that sends the headers and a PNG's first bytes, then waits."""
    def answer(h):
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        h.wfile.write(png_bytes()[:16])
        h.wfile.flush()
        time.sleep(seconds)
    return answer


@test("an image URL that gives no usable image fails the task with invalid_image saying "
      "why: 404, refused connection, not an image, too big (announced or streamed), "
      "too many redirects, a timeout, a private or loopback address not allowed (also "
      "after a redirect); the renderer never runs, nothing is left on disk", timeout=90)
def _(s):
    img = images()
    big = png_bytes() + b"\0" * (s.config["limits"]["max_image_bytes"] + 1)
    img.serve("/missing.png", b"no such image\n", status=404, ctype="text/plain")
    img.serve("/text.png", b"<html>not an image</html>\n", ctype="text/html")
    img.serve("/big.png", big)
    img.serve("/big-stream.png", big, length=False)
    for i in range(1, 6):
        img.redirect("/loop%d" % i, "/loop%d" % (i + 1))
    img.serve("/loop6", png_bytes())
    img.route("/slow.png", slow_answer(8))
    img.redirect("/to-private", img.url("/text.png", host="127.0.0.2"))
    blocked = r"private, loopback or link-local"
    cases = [  # (URL, field, what error.message must say)
        (img.url("/missing.png"), "input_reference", r"HTTP 404"),
        ("http://127.0.0.1:1/x.png", "image", r"refused the connection"),
        (img.url("/text.png"), "input_reference", r"did not give a PNG, JPEG or WebP image"),
        (img.url("/big.png"), "input_reference", r"larger than the limit of \d+ bytes"),
        (img.url("/big-stream.png"), "image", r"larger than the limit of \d+ bytes"),
        (img.url("/loop1"), "input_reference", r"redirects more than 3 times"),
        (img.url("/slow.png"), "input_reference", r"no complete answer within 4 seconds"),
        (img.url("/ok.png", host="127.0.0.2"), "input_reference", blocked),
        ("http://169.254.169.254/latest/meta-data/x.png", "image", blocked),
        (img.url("/to-private"), "input_reference", blocked),
    ]
    k = s.create_key()
    made = []
    for url, field, _ in cases:
        body = {"image": url} if field == "image" else {"input_reference": {"image_url": url}}
        made.append(s.create(key=k, model="imgurl", prompt="bad image " + url, **body))
    problems = []
    for v, (url, field, says) in zip(made, cases):
        done, hist = s.wait_video(v["id"], key=k, timeout=30)
        err = done["error"] or {}
        if done["status"] != "failed" or err.get("code") != "invalid_image":
            problems.append("%s: %s %s (%s)" % (url, done["status"], err, hist))
            continue
        msg = err.get("message") or ""
        if not re.search(says, msg) or "'%s'" % field not in msg:
            problems.append("%s: error.message %r does not say /%s/ about '%s'"
                            % (url, msg, says, field))
        if s.data_dir in msg or "/tmp" in msg:
            problems.append("%s: error.message names a server path: %r" % (url, msg))
        if "in_progress" in [st for st, _ in hist] or s.fake_task(v["id"]) is not None:
            problems.append("%s: the renderer ran (%s)" % (url, hist))
        if files_of(s, v["id"]):
            problems.append("%s: files left: %s" % (url, files_of(s, v["id"])))
    check(not problems, "%d case(s) wrong:\n" % len(problems) + "\n".join(problems))
    eq(img.hits.count("/loop5"), 0, "redirects followed past the limit of 3")
    s.db_check()


def kill_dispatcher_and_recover(s, vid, elect, key=None):
    """kill -9 the dispatcher while vid renders; returns (old pid, new pid,
    the final video, its history)."""
    kw = {} if key is None else {"key": key}
    wait_until(lambda: s.get(vid, **kw).json["status"] == "in_progress", 30,
               what="the task to start")
    renderer = wait_until(lambda: s.fake_pids(vid), 20, what="the renderer's pid")[0]
    # Mid-render: some progress is on record.
    wait_until(lambda: s.get(vid, **kw).json["progress"] > 0, 20, what="progress > 0")
    old = s.dispatcher_pid()
    check(old, "no live dispatcher pid in data_dir/dispatcher.lock")
    check(renderer in children(old), "the renderer %d is not the dispatcher's child" % renderer)
    os.kill(old, signal.SIGKILL)
    t0 = time.monotonic()
    new = wait_until(lambda: (s.dispatcher_pid() not in (None, old)) and s.dispatcher_pid(),
                     15, interval=0.1, what="a new dispatcher") if not elect else elect(old)
    check(new != old and alive(new), "no new dispatcher")
    check(not alive(old), "the old dispatcher is still alive")
    wait_until(lambda: not alive(renderer), 5, what="the old renderer to die with the dispatcher")
    # The lost run's lease (10 s) lapses, the task is started again.
    v, hist = s.wait_video(vid, timeout=VIDEO_BOUND, strict=False, **kw)
    took = time.monotonic() - t0
    check(v["status"] in ("completed", "failed"), "never finished: %s" % hist)
    return old, new, v, hist, took


@test("kill -9 the dispatcher mid-render: the master starts a new one and the task "
      "still finishes", timeout=120)
def _(_):
    slow = {"local": command(fake("slow-render", 4), 2)}
    with Stack(workers=2, backends=slow,
               content={"retention_seconds": RETENTION}) as s:
        v = s.create(prompt="survives its dispatcher", seconds="1", size="320x180", fps=12)
        old, new, done, hist, took = kill_dispatcher_and_recover(s, v["id"], None)
        check(new in children(s.master_pid()), "the new dispatcher is not the master's child")
        eq(done["status"], "completed", "status after the restart (%s; error %s)"
           % (hist, done["error"]))
        check_completed(s, done, v)
        body = download(s, v["id"], "video", "video/mp4")
        check_mp4(s, v["id"], body, 320, 180, 12, 1)
        check(took < 45, "took %.0f s after the kill" % took)
        s.db_check()
        eq(stray_files(s), [], "stray files under data_dir/content")
        # What a client saw meanwhile: a task put back in the queue is shown
        # as queued with progress 0 (as a new one), never as queued 45%.
        bad = [st for st in hist if st[0] == "queued" and st[1] != 0]
        check(not bad, "the task was shown queued with progress %s after its run was lost "
              "(history %s)" % (sorted({p for _, p in bad}), hist))


@test("kill -9 the dispatcher while it downloads an image URL: the task stays queued, the "
      "next dispatcher downloads it again and the task completes with it", timeout=120)
def _(_):
    import threading
    img = images()
    png = png_bytes(40, 24, (220, 200, 20))
    first = threading.Event()      # the first download has reached the server
    release = threading.Event()    # the test lets it go (after the kill)

    def held_once(h):
        if not first.is_set():
            first.set()
            release.wait(30)       # its dispatcher is dead by then
            return
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Content-Length", str(len(png)))
        h.end_headers()
        h.wfile.write(png)
    url = img.route("/held-once.png", held_once)
    backends = {"local": command(fake("slow-render", 0), 2)}
    with Stack(workers=2, backends=backends, content={"retention_seconds": RETENTION},
               configure=lambda cfg: cfg.update(image_urls=dict(IMAGE_URLS))) as s:
        v = s.create(prompt="its image outlives a dispatcher", seconds="1", size="320x180",
                     fps=12, input_reference={"image_url": url})
        check(first.wait(20), "the dispatcher never asked for the image")
        eq(s.get(v["id"]).json["status"], "queued", "status while the image downloads")
        old = s.dispatcher_pid()
        os.kill(old, signal.SIGKILL)
        new = wait_until(lambda: (s.dispatcher_pid() not in (None, old)) and s.dispatcher_pid(),
                         15, interval=0.1, what="a new dispatcher")
        release.set()
        done, hist = s.wait_video(v["id"], timeout=VIDEO_BOUND)
        eq(done["status"], "completed", "status after the restart (%s; error %s)"
           % (hist, done["error"]))
        check(new != old, "the same dispatcher")
        eq(img.hits.count("/held-once.png"), 2, "downloads (one lost with the dispatcher)")
        check_got_image(s, v["id"], png)
        eq([f for f in s.files_under("tmp") if "image-" in f], [], "partial downloads left")
        s.db_check()


@test("kill -9 the dispatcher while ffmpeg renders: no process of the lost run "
      "outlives it, no temp file is left in data_dir/content", timeout=90)
def _(_):
    with Stack(workers=2, content={"retention_seconds": RETENTION}) as s:
        v = s.create(prompt="a long render", seconds="20", size="640x360", fps=24, seed=9)
        disp = wait_until(s.dispatcher_pid, 10, what="the dispatcher")

        def ffmpeg_running():
            group = [p for r in children(disp) for p in [r] + children(r)]
            return [p for p in group if os.path.basename((cmdline(p) or [""])[0]) == "ffmpeg"]
        ffmpeg = wait_until(ffmpeg_running, 30, interval=0.02, what="render-ffmpeg's ffmpeg")
        os.kill(disp, signal.SIGKILL)
        time.sleep(1.5)
        problems = []
        if alive_any(ffmpeg):
            problems.append("the lost run's ffmpeg (pid %s) still runs %.1f s after its "
                            "dispatcher was killed" % (alive_any(ffmpeg), 1.5))
        done, hist = s.wait_video(v["id"], timeout=VIDEO_BOUND, strict=False)
        eq(done["status"], "completed", "status after the restart (%s)" % hist)
        body = download(s, v["id"], "video", "video/mp4")
        check_mp4(s, v["id"], body, 640, 360, 24, 20)
        stray = stray_files(s)
        if stray:
            problems.append("temp files left in data_dir/content: %s"
                            % [os.path.basename(f) for f in stray])
        s.db_check()
        check(not problems, "\n".join(problems))


@test("spawn-fcgi -F 2: a worker elects the dispatcher by the lock; kill -9 -> another "
      "is elected and the task completes", timeout=120)
def _(_):
    if not SPAWN_FCGI:
        raise Skip("spawn-fcgi not installed")
    slow = {"local": command(fake("slow-render", 4), 2)}
    s = Stack(spawn_fcgi=2, backends=slow, content={"retention_seconds": RETENTION})
    first = None
    with s:
        first = wait_until(s.dispatcher_pid, 10, what="a dispatcher started by a worker")
        check(first not in s.fcgi_pids, "a worker is the dispatcher itself")
        check(not any(first in children(w) for w in s.fcgi_pids),
              "the dispatcher is a worker's child (not detached)")
        v = s.create(prompt="elected", seconds="1", size="320x180", fps=12)
        done, hist = s.wait_video(v["id"], timeout=VIDEO_BOUND)
        eq(done["status"], "completed", "first task (%s)" % hist)
        check_mp4(s, v["id"], download(s, v["id"], "video", "video/mp4"), 320, 180, 12, 1)

        w = s.create(prompt="outlives its dispatcher", seconds="1", size="320x180", fps=12)

        def elect(old):
            # Idle workers look every 2 s; a request may also prompt one.
            def elected():
                s.request("GET", "/v1/models")
                pid = s.dispatcher_pid()
                return pid not in (None, old) and pid
            return wait_until(elected, 10, interval=0.25, what="a new dispatcher elected")
        old, new, done, hist, took = kill_dispatcher_and_recover(s, w["id"], elect)
        check(not any(new in children(p) for p in s.fcgi_pids), "the new dispatcher is not "
              "detached from the worker that started it")
        eq(done["status"], "completed", "status after the re-election (%s; error %s)"
           % (hist, done["error"]))
        check_mp4(s, w["id"], download(s, w["id"], "video", "video/mp4"), 320, 180, 12, 1)
        check(all(alive(p) for p in s.fcgi_pids), "a spawn-fcgi worker died")
        s.db_check()
        last = s.dispatcher_pid()
    # Teardown killed the detached dispatcher too.
    for pid in (first, last):
        if pid:
            wait_until(lambda: not alive(pid), 5, what="dispatcher %d to be gone after "
                       "teardown" % pid)


@test("expiry: content.retention_seconds after completion the files are removed, content "
      "answers 404 video_expired and the video stays listable", timeout=60)
def _(_):
    with Stack(workers=2, content={"delivery": "none", "retention_seconds": 2}) as s:
        v = s.create(prompt="short-lived", seconds="1", size="320x180", fps=12)
        done, hist = s.wait_video(v["id"], timeout=VIDEO_BOUND)
        eq(done["status"], "completed", "status (%s)" % hist)
        eq(done["expires_at"], done["completed_at"] + 2, "expires_at")
        eq(download(s, v["id"], "video", "video/mp4")[:4] != b"", True, "content before expiry")
        check(files_of(s, v["id"]), "no stored files before expiry")
        wait_until(lambda: not files_of(s, v["id"]), 10, what="the expiry sweep to remove the files")
        for variant in ("video", "thumbnail", "spritesheet"):
            expect_error(s.request("GET", "/v1/videos/%s/content?variant=%s" % (v["id"], variant)),
                         404, code="video_expired")
        eq(s.get(v["id"]).json["status"], "completed", "status after expiry")
        listed = s.request("GET", "/v1/videos?limit=100").json["data"]
        check(any(x["id"] == v["id"] for x in listed), "the expired video left the list")
        s.db_check()


if __name__ == "__main__":
    sys.exit(suite.main(shared=True, **shared_stack_args()))
