"""Helpers the provider tests share for OpenAI's edits and characters:
real clips made by ffmpeg, characters created over HTTP (with the first
frame reelgate keeps for them), and the 400s of an operation a model
cannot run.  Imported by test_runway.py, test_vidu.py, test_seedance.py.
"""
import base64
import os
import struct
import subprocess
import tempfile

from harness import ANY, check, eq, expect_error


def make_clip(seconds=1, size="320x180", pad=0):
    """A small real MP4 made by ffmpeg; pad adds an ISO BMFF 'free' box of
    that many bytes at the end (a larger file every player still reads)."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "clip.mp4")
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc2=s=%s:r=12" % size, "-t", str(seconds), "-pix_fmt", "yuv420p",
                        "-c:v", "libx264", "-preset", "ultrafast", "-movflags", "+faststart",
                        out], check=True, timeout=60)
        with open(out, "rb") as f:
            data = f.read()
    if pad:
        data += struct.pack(">I", pad + 8) + b"free" + b"\0" * pad
    return data


def make_character(s, name="Ada", key=ANY):
    """A character made from a fresh clip: (its id, the bytes of the first
    frame reelgate stored for it, data_dir/uploads/<id>.png)."""
    r = s.request("POST", "/v1/videos/characters", key=key,
                  form=[("name", name), ("video", ("me.mp4", "video/mp4", make_clip()))])
    eq(r.status, 200, "create character: %s" % r.body[:200])
    cid = r.json["id"]
    with open(os.path.join(s.data_dir, "uploads", cid + ".png"), "rb") as f:
        png = f.read()
    check(png.startswith(b"\x89PNG"), "the character's first frame is a PNG")
    return cid, png


def data_uri(mime, data):
    return "data:%s;base64,%s" % (mime, base64.b64encode(data).decode())


def refused(r, model, code, *frags, param=ANY):
    """A 400 with code whose message names the model and holds frags."""
    err = expect_error(r, 400, param, code)
    check("'%s'" % model in err["message"], "the message names the model %r" % model, err)
    for f in frags:
        check(f.lower() in err["message"].lower(), "message %r lacks %r" % (err["message"], f))
    return err


def operations(s, model):
    r = s.request("GET", "/v1/models/" + model)
    eq(r.status, 200, "GET /v1/models/" + model)
    return r.json.get("operations")


def edit(s, vid=None, clip=None, prompt="make it night", key=ANY):
    """POST /v1/videos/edits of a stored video (JSON) or a clip (multipart)."""
    if clip is not None:
        return s.request("POST", "/v1/videos/edits", key=key,
                         form=[("prompt", prompt), ("video", ("in.mp4", "video/mp4", clip))])
    return s.request("POST", "/v1/videos/edits", key=key,
                     json={"prompt": prompt, "video": {"id": vid}})
