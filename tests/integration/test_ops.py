#!/usr/bin/env python3
"""OpenAI's newer Videos operations over real HTTP: edits, extensions,
characters, and the operations GET /v1/models lists.

FAST runs on render-ffmpeg with "operations": ["edit", "extend"], so a
request that passes every check (fields, the source is the caller's and
completed) makes a queued task; the default model's command backend (the
`hang` fake) declares no operations, so the same request for it is a 400
unsupported_operation naming the model and the operation.  The checks
before that are what this file drives, in JSON, multipart and urlencoded
bodies (test_local_ops.py renders and probes the results).  Characters
are stored and read back per key.
"""
import os
import sys
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ANY, MODEL, RENDER_FFMPEG, Suite, check, eq,  # noqa: E402
                     expect_error, expect_video, fake, png_bytes, wait_until)

suite = Suite()
test = suite.test

FAST = "reelgate-fast"
STACK = {
    "workers": 2,
    "backends": {
        "local": {"type": "command", "command": fake("hang"), "concurrency": 1},
        "render": {"type": "command", "command": [RENDER_FFMPEG],
                   "operations": ["edit", "extend"], "concurrency": 2},
    },
    "extra_models": {
        FAST: {
            "backends": [{"backend": "render", "model": "ffmpeg-render"}],
            "seconds": {"min": 1, "max": 20},
            "sizes": {"max_width": 1920, "max_height": 1920},
            "default_seconds": 1,
            "default_size": "320x180",
            "default_fps": 12,
            "max_fps": 60,
            "deadline_seconds": 1800,
        },
    },
}

STATE = {}


def setup(s):
    """A key with a completed video (FAST renders it) and a queued one (the
    default model's only slot is held by a task that never ends)."""
    holder = s.create_key("slot-holder")
    h = s.create(key=holder, prompt="holds the default backend's only slot")
    wait_until(lambda: s.get(h["id"], key=holder).json["status"] == "in_progress", 30,
               what="the slot holder to start")
    k = s.create_key("owner")
    done = s.create(key=k, model=FAST, prompt="the source", seconds="1", size="320x180")
    v, hist = s.wait_video(done["id"], key=k, timeout=60)
    eq(v["status"], "completed", "source status (%s)" % hist)
    queued = s.create(key=k, prompt="stays queued")
    clip = s.content(done["id"], key=k)
    eq(clip.status, 200, "source content")
    STATE.update(key=k, done=done["id"], queued=queued["id"], clip=clip.body,
                 other=s.create_key("other"))


def unsupported(r, model, noun):
    err = expect_error(r, 400, None, "unsupported_operation")
    check("'%s'" % model in err["message"] and noun in err["message"],
          "message must name the model and the operation", err)
    return err


def accepted(s, r, seconds, key):
    """An accepted edit or extension of STATE's source: a queued Video of
    FAST, seconds the total; deleted at once (its run is not the point)."""
    v = expect_video(r)
    eq((v["model"], v["size"], v["seconds"], v["remixed_from_video_id"]),
       (FAST, "320x180", str(seconds), None), "model, size, seconds, remixed_from_video_id")
    eq(s.request("DELETE", "/v1/videos/" + v["id"], key=key).status, 200, "delete")
    return v


# ------------------------------------------------------------------ models

@test("GET /v1/models/{id} and the list say which operations each model supports")
def _(s):
    want = {MODEL: ["create", "remix"], FAST: ["create", "remix", "edit", "extend"]}
    for m, ops in want.items():
        r = s.request("GET", "/v1/models/" + m)
        eq(r.status, 200, "status")
        eq(r.json.get("operations"), ops, "operations of " + m)
    for m in s.request("GET", "/v1/models").json["data"]:
        eq(m.get("operations"), want[m["id"]], "operations in the list")


# ------------------------------------------------------------------ edits, extensions

@test("edit of the caller's completed video: a queued task of its model in JSON, form and "
      "urlencoded")
def _(s):
    k, vid = STATE["key"], STATE["done"]
    for kw in ({"json": {"prompt": "at night", "video": {"id": vid}}},
               {"form": [("prompt", "at night"), ("video[id]", vid)]},
               {"urlencoded": [("prompt", "at night"), ("video[id]", vid)]}):
        accepted(s, s.request("POST", "/v1/videos/edits", key=k, **kw), 1, k)


@test("extension: seconds as string or number, every allowed value, three encodings; "
      "seconds is the total")
def _(s):
    k, vid = STATE["key"], STATE["done"]
    for sec in ("4", "8", "12", "16", "20", 4, 20):
        r = s.request("POST", "/v1/videos/extensions", key=k,
                      json={"prompt": "and then", "seconds": sec, "video": {"id": vid}})
        accepted(s, r, 1 + int(sec), k)
    accepted(s, s.request("POST", "/v1/videos/extensions", key=k,
                          form=[("video[id]", vid), ("seconds", "8"), ("prompt", "more")]), 9, k)
    accepted(s, s.request("POST", "/v1/videos/extensions", key=k,
                          urlencoded={"video[id]": vid, "seconds": "12", "prompt": "more"}),
             13, k)


@test("edit and extension of an uploaded video file for the default model, whose command "
      "backend declares no operations: 400 naming the model")
def _(s):
    clip = ("in.mp4", "video/mp4", STATE["clip"])
    unsupported(s.request("POST", "/v1/videos/edits",
                          form=[("prompt", "redo"), ("video", clip)]), MODEL, "video edits")
    unsupported(s.request("POST", "/v1/videos/extensions",
                          form=[("prompt", "on"), ("seconds", "4"), ("video", clip)]),
                MODEL, "video extensions")
    webm = b"\x1a\x45\xdf\xa3" + b"\0" * 64
    unsupported(s.request("POST", "/v1/videos/edits",
                          form=[("prompt", "redo"), ("video", ("a.webm", "video/webm", webm))]),
                MODEL, "video edits")


@test("an unknown video, another key's and a malformed id: GET's 404, byte for byte")
def _(s):
    k, other = STATE["key"], STATE["other"]
    for vid in ("video_0123456789abcdef0123456789abcdef", STATE["done"], "nonsense"):
        want = s.request("GET", "/v1/videos/" + vid, key=other)
        expect_error(want, 404)
        for path, extra in (("/v1/videos/edits", {}), ("/v1/videos/extensions", {"seconds": "4"})):
            body = dict(prompt="x", video={"id": vid}, **extra)
            r = s.request("POST", path, key=other, json=body)
            expect_error(r, 404, "video_id", "not_found")
            eq(r.body, want.body, "404 body of %s on %s" % (vid, path))
    eq(s.request("GET", "/v1/videos/" + STATE["done"], key=k).status, 200, "the owner sees it")


@test("a source that is not completed: 400 on video that says it must be completed")
def _(s):
    k, vid = STATE["key"], STATE["queued"]
    for path, extra in (("/v1/videos/edits", {}), ("/v1/videos/extensions", {"seconds": 8})):
        err = expect_error(s.request("POST", path, key=k,
                                     json=dict(prompt="x", video={"id": vid}, **extra)),
                           400, "video", "invalid_value")
        check("completed" in err["message"] and vid in err["message"], "message", err)


BAD = [
    # (path, body kind, body, param, code)
    ("edits", "json", {"prompt": "x"}, "video", "missing_required_parameter"),
    ("edits", "form", [("prompt", "x")], "video", "missing_required_parameter"),
    ("edits", "json", {"prompt": "x", "video": {}}, "video", "missing_required_parameter"),
    ("edits", "json", {"prompt": "x", "video": {"id": 5}}, "video", "invalid_value"),
    ("edits", "json", {"prompt": "x", "video": {"id": "video_1", "url": "u"}}, "video",
     "unknown_parameter"),
    ("edits", "json", {"video": {"id": "video_1"}}, "prompt", "missing_required_parameter"),
    ("edits", "json", {"prompt": "", "video": {"id": "video_1"}}, "prompt", "invalid_value"),
    ("edits", "json", {"prompt": 7, "video": {"id": "video_1"}}, "prompt", "invalid_value"),
    ("edits", "json", {"prompt": "y" * 32001, "video": {"id": "video_1"}}, "prompt", ANY),
    ("edits", "json", {"prompt": "x", "video": {"id": "video_1"}, "seconds": "4"}, "seconds",
     "unknown_parameter"),
    ("edits", "json", {"prompt": "x", "video": {"id": "video_1"}, "model": "m"}, "model",
     "unknown_parameter"),
    ("extensions", "json", {"prompt": "x", "video": {"id": "video_1"}}, "seconds",
     "missing_required_parameter"),
    ("extensions", "json", {"prompt": "x", "video": {"id": "video_1"}, "seconds": "5"},
     "seconds", "invalid_value"),
    ("extensions", "json", {"prompt": "x", "video": {"id": "video_1"}, "seconds": 24},
     "seconds", "invalid_value"),
    ("extensions", "json", {"prompt": "x", "video": {"id": "video_1"}, "seconds": 8.0},
     "seconds", "invalid_value"),
    ("extensions", "urlencoded", {"prompt": "x", "video[id]": "video_1", "seconds": "abc"},
     "seconds", "invalid_value"),
    ("extensions", "json", {"prompt": "x", "seconds": "4"}, "video",
     "missing_required_parameter"),
    ("extensions", "form", [("prompt", "x"), ("seconds", "4"),
                            ("video", ("a.png", "image/png", png_bytes()))], "video",
     "invalid_value"),
    ("edits", "form", [("prompt", "x"), ("video", ("a.txt", "text/plain", b"hello world!!"))],
     "video", "invalid_value"),
    ("edits", "form", [("prompt", "x"), ("image", ("a.mp4", "video/mp4", b"x" * 20))],
     "image", "invalid_value"),
]


@test("every bad edit or extension is a 400 that names the field (%d cases)" % len(BAD))
def _(s):
    for path, kind, body, param, code in BAD:
        r = s.request("POST", "/v1/videos/" + path, **{kind: body})
        try:
            expect_error(r, 400, param, code)
        except AssertionError as e:
            raise AssertionError("%s %s %r: %s" % (path, kind, str(body)[:80], e))


@test("the operations' paths: 405 with Allow for other methods, never read as video ids")
def _(s):
    for method, path, allow in (("GET", "/v1/videos/edits", "POST"),
                                ("DELETE", "/v1/videos/extensions", "POST"),
                                ("GET", "/v1/videos/characters", "POST"),
                                ("DELETE", "/v1/videos/characters/char_abc", "GET")):
        r = s.request(method, path)
        expect_error(r, 405, ANY, "method_not_allowed")
        eq(r.header("allow"), allow, "Allow of %s %s" % (method, path))
        check("video_id" not in r.json["error"]["message"], "read as a video id", r)
    for path in ("/v1/videos/edits/x", "/v1/videos/characters/char_a/b"):
        expect_error(s.request("GET", path), 404, ANY, "not_found")


# ------------------------------------------------------------------ characters

def make_character(s, key, name="Ada"):
    clip = ("me.mp4", "video/mp4", STATE["clip"])
    r = s.request("POST", "/v1/videos/characters", key=key, form=[("name", name), ("video", clip)])
    eq(r.status, 200, "create character")
    return r.json


@test("characters: create, read back, stored under uploads, one key's only")
def _(s):
    k, other = STATE["key"], STATE["other"]
    c = make_character(s, k, "Ada Lovelace ✓")
    eq(set(c), {"id", "name", "created_at"}, "keys")
    check(c["id"].startswith("char_") and len(c["id"]) == 37, "id shape", c)
    eq(c["name"], "Ada Lovelace ✓", "name")
    check(isinstance(c["created_at"], int) and c["created_at"] > 1500000000, "created_at", c)
    r = s.request("GET", "/v1/videos/characters/" + c["id"], key=k)
    eq(r.status, 200, "get")
    eq(r.json, c, "read back")
    check(any(c["id"] in f for f in s.files_under("uploads")), "clip stored under uploads",
          s.files_under("uploads"))
    mine = s.request("GET", "/v1/videos/characters/" + c["id"], key=other)
    unknown = s.request("GET", "/v1/videos/characters/" + c["id"][:-4] + "0000", key=other)
    expect_error(mine, 404, "character_id", "not_found")
    expect_error(unknown, 404, "character_id", "not_found")
    eq(mine.json["error"]["message"].replace(c["id"], "ID"),
       unknown.json["error"]["message"].replace(c["id"][:-4] + "0000", "ID"),
       "another key's character answers like an unknown one")
    expect_error(s.request("GET", "/v1/videos/characters/bogus!", key=k), 404, "character_id")
    c2 = make_character(s, k, "x" * 80)
    check(c2["id"] != c["id"], "new id")


CHAR_BAD = [
    ("json", {"name": "Ada", "video": {"id": "video_1"}}, None, "invalid_body"),
    ("urlencoded", {"name": "Ada"}, None, "invalid_body"),
    ("form", [("name", "Ada")], "video", "missing_required_parameter"),
    ("form", [("video", ("a.mp4", "video/mp4", b"\0\0\0\x18ftypmp42" + b"\0" * 16))], "name",
     "missing_required_parameter"),
    ("form", [("name", ""), ("video", ("a.mp4", "video/mp4", b"\0\0\0\x18ftypmp42"))], "name",
     "invalid_value"),
    ("form", [("name", "n" * 81), ("video", ("a.mp4", "video/mp4", b"\0\0\0\x18ftypmp42"))],
     "name", "invalid_value"),
    ("form", [("name", "Ada"), ("video", ("a.png", "image/png", png_bytes()))], "video",
     "invalid_value"),
    ("form", [("name", "Ada"), ("video", "video_123")], "video", "invalid_value"),
    ("form", [("name", "Ada"), ("prompt", "p"),
              ("video", ("a.mp4", "video/mp4", b"\0\0\0\x18ftypmp42"))], "prompt",
     "unknown_parameter"),
]


@test("every bad character is a 400 that says what to fix (%d cases)" % len(CHAR_BAD))
def _(s):
    for kind, body, param, code in CHAR_BAD:
        r = s.request("POST", "/v1/videos/characters", **{kind: body})
        try:
            err = expect_error(r, 400, param, code)
        except AssertionError as e:
            raise AssertionError("%s %r: %s" % (kind, str(body)[:80], e))
        if kind != "form":
            check("multipart" in err["message"], "says multipart is required", err)


@test("a character clip over limits.max_body_bytes is refused, nothing stored")
def _(s):
    before = s.files_under("uploads")
    big = b"\0\0\0\x18ftypmp42" + b"\0" * (s.max_body + 1024)
    r = s.request("POST", "/v1/videos/characters",
                  form=[("name", "big"), ("video", ("big.mp4", "video/mp4", big))])
    check(r.status in (400, 413), "status %s" % r.status, r)
    eq(s.files_under("uploads"), before, "uploads")


if __name__ == "__main__":
    sys.exit(suite.main(shared=True, setup=setup, **STACK))
