#!/usr/bin/env python3
"""Downloads (GET /v1/videos/{id}/content) answered from the download
entries (issue 19): every answer, in each delivery mode, as the record says.

A download reads the video's download entry (src/download.c), never its
record; these tests hold every answer to what it was when the record was
parsed: 200 with the file (every variant, Range 206 and 416 when the worker
streams), 404 for another key's video and a missing one, video_not_ready
naming the status (queued, in_progress, failed), video_expired, a variant
whose file is gone, 400 for a bad variant; then `reelgate db check`, which
compares every entry with its record.

With REELGATE_TRANSCRIPT=FILE the answers are also written to FILE (ids
and directories replaced by placeholders), so two builds can be compared
byte for byte: run the test with each binary (REELGATE_BIN) and diff.
"""
import ctypes
import ctypes.util
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack, Suite, check, eq, fake, wait_until  # noqa: E402

suite = Suite()
test = suite.test

VIDEO_BOUND = 90
SMALL = {"seconds": "1", "size": "320x180", "fps": 12}
MODELS = {
    "held": {"backends": [{"backend": "held", "model": "x"}], "seconds": {"min": 1, "max": 20},
             "sizes": {"max_width": 1920, "max_height": 1920}, "default_seconds": 1,
             "default_size": "320x180", "default_fps": 12, "max_fps": 60,
             "deadline_seconds": 1800},
    "fail": {"backends": [{"backend": "fail", "model": "x"}], "seconds": {"min": 1, "max": 20},
             "sizes": {"max_width": 1920, "max_height": 1920}, "default_seconds": 1,
             "default_size": "320x180", "default_fps": 12, "max_fps": 60,
             "deadline_seconds": 1800},
}
BACKENDS = {
    "held": {"type": "command", "command": fake("hang"), "concurrency": 1},
    "fail": {"type": "command", "command": fake("fail", "fake: no GPU"), "concurrency": 1},
}
EXT = {"video": "mp4", "thumbnail": "webp", "spritesheet": "jpg"}
CTYPE = {"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/jpeg"}
# The headers a download's answer is compared by (Date, Server, ETag and
# Last-Modified say when, not what).
HEADERS = ("content-type", "content-length", "content-range", "content-disposition",
           "accept-ranges", "x-sendfile", "openai-poll-after-ms")

TRANSCRIPT = []


def envelope(message, type_, param, code):
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def not_found(vid):
    return envelope("No video found with id '%s'." % vid, "invalid_request_error", "video_id",
                    "not_found")


def not_ready(vid, status):
    return envelope("Video '%s' has no content yet: its status is %s. Download it once its "
                    "status is completed." % (vid, status), "invalid_request_error", "video_id",
                    "video_not_ready")


def expired(vid):
    return envelope("The content of video '%s' expired and was removed; create the video "
                    "again." % vid, "invalid_request_error", "video_id", "video_expired")


BAD_VARIANT = envelope("'variant' must be \"video\", \"thumbnail\" or \"spritesheet\".",
                       "invalid_request_error", "variant", "invalid_value")


def record(s, label, r, names):
    """Keeps r in the transcript: status, HEADERS, body, with the ids and
    the stack's directory replaced by their names."""
    def clean(text):
        text = text.replace(s.dir, "$DIR")
        for vid, name in names.items():
            text = text.replace(vid, name)
        return text
    hdrs = ["%s: %s" % (h, clean(r.header(h))) for h in HEADERS if r.header(h) is not None]
    body = clean(r.body.decode("utf-8", "replace")) if r.status >= 300 else \
        "%d bytes" % len(r.body)
    TRANSCRIPT.append("%s\n  %d\n  %s\n  %s" % (label, r.status, "\n  ".join(hdrs), body))


def expect(s, r, status, body, what):
    eq(r.status, status, "%s: status (%s)" % (what, r.body[:300]))
    check(r.json == body, "%s: body %r, want %r" % (what, r.json, body))
    eq((r.header("content-type") or "").split(";")[0], "application/json",
       "%s: Content-Type" % what)


def file_of(s, vid, variant):
    with open(os.path.join(s.data_dir, "content", "%s.%s" % (vid, EXT[variant])), "rb") as f:
        return f.read()


def completed(s, key, prompt):
    v = s.create(key=key, prompt=prompt, **SMALL)
    done, hist = s.wait_video(v["id"], key=key, timeout=VIDEO_BOUND)
    eq(done["status"], "completed", "status of %s (%s)" % (prompt, hist))
    return v["id"]


def served(s, r, vid, variant, mode, what):
    """r is variant's whole file, as mode sends it."""
    disp = 'inline; filename="%s.%s"' % (vid, EXT[variant])
    eq(r.status, 200, "%s: status (%s)" % (what, r.body[:300]))
    eq(r.header("content-disposition"), disp, "%s: Content-Disposition" % what)
    eq((r.header("content-type") or "").split(";")[0], CTYPE[variant], "%s: Content-Type" % what)
    if mode == "x-sendfile":  # nginx does not act on it: the header reaches us
        eq(r.header("x-sendfile"), os.path.join(s.data_dir, "content",
                                                "%s.%s" % (vid, EXT[variant])),
           "%s: X-Sendfile" % what)
        eq(r.body, b"", "%s: body beside X-Sendfile" % what)
        return
    check(r.body == file_of(s, vid, variant), "%s: the bytes differ from the file" % what)
    if mode == "none":
        eq(r.header("accept-ranges"), "bytes", "%s: Accept-Ranges" % what)


def every_answer(mode):
    """Every answer of a download, in delivery mode."""
    with Stack(workers=2, extra_models=MODELS, backends=BACKENDS,
               content={"delivery": mode}) as s:
        alice, bob = s.key, s.create_key("bob")
        vid = completed(s, alice, "a download")
        gone = completed(s, alice, "its thumbnail removed by hand")
        held = s.create(key=alice, model="held", prompt="holds the slot")["id"]
        wait_until(lambda: s.get(held, key=alice).json["status"] == "in_progress", 30,
                   what="the held video to start")
        queued = s.create(key=alice, model="held", prompt="waits behind it")["id"]
        failed = s.create(key=alice, model="fail", prompt="fails")["id"]
        wait_until(lambda: s.get(failed, key=alice).json["status"] == "failed", VIDEO_BOUND,
                   what="the failing video to fail")
        eq(s.get(queued, key=alice).json["status"], "queued", "status of the second held")
        os.unlink(os.path.join(s.data_dir, "content", "%s.webp" % gone))
        names = {vid: "$VIDEO", gone: "$GONE", held: "$HELD", queued: "$QUEUED",
                 failed: "$FAILED"}

        def get(label, path, key=alice, headers=None):
            r = s.request("GET", path, key=key, headers=headers)
            record(s, "%s %s" % (mode, label), r, names)
            return r

        for variant in (None, "video", "thumbnail", "spritesheet"):
            q = "" if variant is None else "?variant=" + variant
            r = get("variant %s" % variant, "/v1/videos/%s/content%s" % (vid, q))
            served(s, r, vid, variant or "video", mode, "%s, variant %s" % (mode, variant))
        if mode == "none":
            data = file_of(s, vid, "video")
            size = len(data)
            for rng, start, end in (("bytes=0-99", 0, 99), ("bytes=100-", 100, size - 1),
                                    ("bytes=-50", size - 50, size - 1)):
                r = get("range %s" % rng, "/v1/videos/%s/content" % vid,
                        headers={"Range": rng})
                eq(r.status, 206, "Range %s" % rng)
                eq(r.header("content-range"), "bytes %d-%d/%d" % (start, end, size),
                   "Content-Range of %s" % rng)
                check(r.body == data[start:end + 1], "the bytes of Range %s" % rng)
            r = get("range past the end", "/v1/videos/%s/content" % vid,
                    headers={"Range": "bytes=99999999-"})
            expect(s, r, 416, envelope("The requested range is outside the file (%d bytes)."
                                       % size, "invalid_request_error", None,
                                       "range_not_satisfiable"), "Range past the end")
            eq(r.header("content-range"), "bytes */%d" % size, "Content-Range of the 416")
        # Another key's video is a missing one.
        for variant in ("", "?variant=thumbnail"):
            expect(s, get("another key's %s" % variant, "/v1/videos/%s/content%s" % (vid, variant),
                          key=bob), 404, not_found(vid), "another key's video")
        missing = "video_" + "0" * 32
        expect(s, get("missing", "/v1/videos/%s/content" % missing), 404, not_found(missing),
               "a missing video")
        expect(s, get("bad id", "/v1/videos/nope/content"), 404,
               envelope("No video found with that id: ids look like video_ followed by letters "
                        "and digits.", "invalid_request_error", "video_id", "not_found"),
               "a malformed id")
        for bad in ("gif", "VIDEO", "", "video,thumbnail"):
            expect(s, get("variant %r" % bad, "/v1/videos/%s/content?variant=%s" % (vid, bad)),
                   400, BAD_VARIANT, "variant %r" % bad)
        # The variant is checked before the video is looked up.
        expect(s, get("bad variant, other key", "/v1/videos/%s/content?variant=gif" % vid,
                      key=bob), 400, BAD_VARIANT, "a bad variant of another key's video")
        r = get("variant twice", "/v1/videos/%s/content?variant=video&variant=video" % vid)
        eq((r.status, r.json["error"]["param"]), (400, "variant"), "variant given twice")
        r = get("variant NUL", "/v1/videos/%s/content?variant=vi%%00deo" % vid)
        eq((r.status, r.json["error"]["param"]), (400, "variant"), "a NUL in the variant")
        for v, status in ((queued, "queued"), (held, "in_progress"), (failed, "failed")):
            for variant in ("", "?variant=spritesheet"):
                expect(s, get("%s %s" % (status, variant),
                              "/v1/videos/%s/content%s" % (v, variant)),
                       404, not_ready(v, status), "a video %s" % status)
        expect(s, get("file gone", "/v1/videos/%s/content?variant=thumbnail" % gone), 404,
               envelope("Video '%s' has no stored thumbnail." % gone, "invalid_request_error",
                        "variant", "not_found"), "a variant whose file is gone")
        served(s, get("file gone, video", "/v1/videos/%s/content" % gone), gone, "video", mode,
               "the video beside the removed thumbnail")
        # Deleted: gone for its owner too.
        eq(s.request("DELETE", "/v1/videos/" + vid, key=alice).status, 200, "delete")
        expect(s, get("deleted", "/v1/videos/%s/content" % vid), 404, not_found(vid),
               "a deleted video")
        for v in (held, queued):
            s.request("DELETE", "/v1/videos/" + v, key=alice)
        s.db_check()


@test("x-accel-redirect: every answer of a download", timeout=300)
def _(_):
    every_answer("x-accel-redirect")


@test("none (the worker streams, Range 206 and 416): every answer of a download", timeout=300)
def _(_):
    every_answer("none")


@test("x-sendfile: every answer of a download", timeout=300)
def _(_):
    every_answer("x-sendfile")


@test("expired: 404 video_expired for every variant, the entry says so", timeout=120)
def _(_):
    with Stack(workers=2, content={"delivery": "none", "retention_seconds": 2}) as s:
        vid = completed(s, s.key, "short-lived")
        wait_until(lambda: not os.path.exists(os.path.join(s.data_dir, "content",
                                                           "%s.mp4" % vid)),
                   20, what="the expiry to remove the files")
        for variant in ("", "?variant=video", "?variant=thumbnail", "?variant=spritesheet"):
            r = s.request("GET", "/v1/videos/%s/content%s" % (vid, variant))
            record(s, "expired %s" % variant, r, {vid: "$VIDEO"})
            expect(s, r, 404, expired(vid), "expired, %s" % variant)
        expect(s, s.request("GET", "/v1/videos/%s/content" % vid, key=s.create_key("bob")), 404,
               not_found(vid), "another key's expired video")
        s.db_check()


@test("a database from before the download entries gets them at the next start",
      timeout=180)
def _(_):
    with Stack(workers=2, content={"delivery": "none"}) as s:
        vid = completed(s, s.key, "from before")
        s.stop_reelgate()
        # Drop the entries (and their completion mark), as a database made
        # by an older reelgate lacks them.
        lib = ctypes.CDLL(ctypes.util.find_library("lmdb") or "liblmdb.so.0")
        env = ctypes.c_void_p()
        txn = ctypes.c_void_p()
        dbi = ctypes.c_uint()
        check(lib.mdb_env_create(ctypes.byref(env)) == 0, "mdb_env_create")
        lib.mdb_env_set_maxdbs(env, 32)
        check(lib.mdb_env_open(env, os.path.join(s.data_dir, "db").encode(), 0, 0o600) == 0,
              "mdb_env_open")
        check(lib.mdb_txn_begin(env, None, 0, ctypes.byref(txn)) == 0, "mdb_txn_begin")
        check(lib.mdb_dbi_open(txn, b"download", 0, ctypes.byref(dbi)) == 0, "mdb_dbi_open")
        check(lib.mdb_drop(txn, dbi, 1) == 0, "mdb_drop")
        check(lib.mdb_txn_commit(txn) == 0, "mdb_txn_commit")
        lib.mdb_env_close(env)
        s.start_reelgate()
        s.wait_ready()
        s.db_check()
        r = s.content(vid)
        eq(r.status, 200, "content after the fill")
        check(r.body == file_of(s, vid, "video"), "the bytes after the fill")


if __name__ == "__main__":
    code = suite.main(shared=False)
    out = os.environ.get("REELGATE_TRANSCRIPT")
    if out:
        with open(out, "w") as f:
            f.write("\n".join(TRANSCRIPT) + "\n")
    sys.exit(code)
