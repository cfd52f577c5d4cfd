#!/usr/bin/env python3
"""The Files API (/v1/files) over real HTTP, and input_reference.file_id on
POST /v1/videos: upload, retrieve, list paging, content, delete, owner
isolation (another key's file answers byte for byte like an unknown one),
and every bad request a 4xx in OpenAI's envelope.

Tasks stay queued: the only backend is the `hang` fake renderer.
"""
import os
import sys
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Suite, check, eq, expect_error, expect_video, fake, png_bytes  # noqa: E402

suite = Suite()
test = suite.test

STACK = {
    "workers": 2,
    "backends": {"local": {"type": "command", "command": fake("hang"), "concurrency": 1}},
}

FILE_KEYS = {"id", "object", "bytes", "created_at", "filename", "purpose", "status"}


def upload(s, data=None, purpose="vision", filename="ref.png", key=None, extra=()):
    data = png_bytes(16, 16) if data is None else data
    form = [("purpose", purpose)] if purpose is not None else []
    form += list(extra) + [("file", (filename, "application/octet-stream", data))]
    kw = {} if key is None else {"key": key}
    return s.request("POST", "/v1/files", form=form, **kw)


def uploaded(s, **kw):
    r = upload(s, **kw)
    eq(r.status, 200, "upload status (%s)" % r.text[:300])
    return r.json


def file_object(o, data, purpose="vision", filename="ref.png"):
    eq(set(o), FILE_KEYS, "file object keys")
    check(o["id"].startswith("file-"), "id %r" % o["id"])
    eq((o["object"], o["bytes"], o["purpose"], o["filename"], o["status"]),
       ("file", len(data), purpose, filename, "processed"), "file object")
    check(isinstance(o["created_at"], int) and o["created_at"] > 1600000000, "created_at", o)


@test("upload, retrieve and download a file; bytes synced under data_dir/files")
def _(s):
    data = png_bytes(20, 12)
    o = uploaded(s, data=data)
    file_object(o, data)
    eq(s.request("GET", "/v1/files/" + o["id"]).json, o, "retrieve")
    c = s.request("GET", "/v1/files/%s/content" % o["id"])
    eq(c.status, 200, "content status")
    eq(c.body, data, "content bytes")
    stored = [p for p in s.files_under("files") if p.endswith(o["id"])]
    eq(len(stored), 1, "stored file")


@test("every accepted purpose; anything else is a 400 naming purpose")
def _(s):
    for p in ("vision", "user_data", "assistants", "video"):
        eq(uploaded(s, purpose=p)["purpose"], p, "purpose")
    n0 = len(s.files_under("files"))
    for bad in ("fine-tune", "", "VISION"):
        expect_error(upload(s, purpose=bad), 400, param="purpose")
    expect_error(upload(s, purpose=None), 400, param="purpose")
    eq(len(s.files_under("files")), n0, "nothing stored by refused uploads")


@test("bad uploads: no file part, wrong part name, unknown field, JSON body, two files")
def _(s):
    expect_error(s.request("POST", "/v1/files", form=[("purpose", "vision")]), 400,
                 param="file")
    expect_error(s.request("POST", "/v1/files", form=[
        ("purpose", "vision"), ("image", ("a.png", "image/png", png_bytes()))]), 400,
        param="image")
    expect_error(upload(s, extra=[("colour", "red")]), 400, param="colour")
    expect_error(s.request("POST", "/v1/files", json={"purpose": "vision"}), 400, param="file")
    expect_error(s.request("POST", "/v1/files", form=[
        ("purpose", "vision"), ("file", ("a.png", "image/png", png_bytes())),
        ("file", ("b.png", "image/png", png_bytes()))]), 400, param="file")


@test("an upload larger than limits.max_body_bytes is refused with a 4xx")
def _(s):
    r = upload(s, data=b"x" * (s.max_body + 1024))
    check(400 <= r.status < 500, "status %d" % r.status, r.text[:200])


@test("list: OpenAI's list shape, newest first, limit/after/order paging, purpose filter")
def _(s):
    k = s.create_key("lister" + uuid.uuid4().hex[:6])
    ids = [uploaded(s, key=k, purpose="vision" if i % 2 else "user_data")["id"]
           for i in range(5)]
    r = s.request("GET", "/v1/files", key=k)
    eq(r.status, 200, "list status")
    body = r.json
    eq((body["object"], body["has_more"]), ("list", False), "envelope")
    eq([f["id"] for f in body["data"]], ids[::-1], "newest first")
    eq((body["first_id"], body["last_id"]), (ids[-1], ids[0]), "first/last id")
    p1 = s.request("GET", "/v1/files?limit=2&order=asc", key=k).json
    eq(([f["id"] for f in p1["data"]], p1["has_more"]), (ids[:2], True), "page 1")
    p2 = s.request("GET", "/v1/files?limit=2&order=asc&after=" + p1["last_id"], key=k).json
    eq([f["id"] for f in p2["data"]], ids[2:4], "page 2")
    d2 = s.request("GET", "/v1/files?limit=2&after=" + ids[2], key=k).json
    eq([f["id"] for f in d2["data"]], [ids[1], ids[0]], "desc after")
    v = s.request("GET", "/v1/files?purpose=vision", key=k).json
    eq([f["id"] for f in v["data"]], [ids[3], ids[1]], "purpose filter")
    for q, param in (("limit=0", "limit"), ("limit=x", "limit"), ("order=up", "order"),
                     ("after=video_123", "after")):
        expect_error(s.request("GET", "/v1/files?" + q, key=k), 400, param=param)


@test("another key's file: retrieve, content, delete and list answer like an unknown id")
def _(s):
    a = s.create_key("a" + uuid.uuid4().hex[:6])
    b = s.create_key("b" + uuid.uuid4().hex[:6])
    o = uploaded(s, key=a)
    unknown = "file-" + "0" * 32
    for method, suffix in (("GET", ""), ("GET", "/content"), ("DELETE", "")):
        theirs = s.request(method, "/v1/files/" + o["id"] + suffix, key=b)
        none = s.request(method, "/v1/files/" + unknown + suffix, key=b)
        expect_error(theirs, 404, param="file_id")
        eq(theirs.body.replace(o["id"].encode(), unknown.encode()), none.body,
           "%s %s body" % (method, suffix))
    eq(s.request("GET", "/v1/files", key=b).json["data"], [], "b's list")
    eq(s.request("GET", "/v1/files/" + o["id"], key=a).status, 200, "still a's")
    expect_error(s.request("GET", "/v1/files/not-an-id", key=a), 404, param="file_id")


@test("delete: the deleted object, then 404; the bytes are gone")
def _(s):
    o = uploaded(s)
    r = s.request("DELETE", "/v1/files/" + o["id"])
    eq(r.status, 200, "delete status")
    eq(r.json, {"id": o["id"], "object": "file", "deleted": True}, "deleted object")
    expect_error(s.request("GET", "/v1/files/" + o["id"]), 404, param="file_id")
    expect_error(s.request("DELETE", "/v1/files/" + o["id"]), 404, param="file_id")
    eq([p for p in s.files_under("files") if p.endswith(o["id"])], [], "bytes removed")


@test("method not allowed on file routes")
def _(s):
    r = s.request("PUT", "/v1/files")
    expect_error(r, 405)
    expect_error(s.request("POST", "/v1/files/file-abc"), 405)
    expect_error(s.request("POST", "/v1/files/file-abc/content"), 405)


@test("POST /v1/videos with input_reference.file_id (JSON) uses the file as the image")
def _(s):
    data = png_bytes(24, 24)
    o = uploaded(s, data=data)
    up0 = set(s.files_under("uploads"))
    v = expect_video(s.request("POST", "/v1/videos", json={
        "prompt": "animate the file", "input_reference": {"file_id": o["id"]}}))
    new = sorted(set(s.files_under("uploads")) - up0)
    eq(len(new), 1, "one new upload")
    with open(new[0], "rb") as f:
        eq(f.read(), data, "task image bytes")
    # deleting the file leaves the task's image in place
    eq(s.request("DELETE", "/v1/files/" + o["id"]).status, 200, "delete file")
    with open(new[0], "rb") as f:
        eq(f.read(), data, "task image after the file's delete")
    g = s.get(v["id"])
    eq((g.status, g.json["id"]), (200, v["id"]), "the task is there")
    check(g.json["status"] in ("queued", "in_progress"), "status", g.json)


@test("input_reference[file_id] as a form field (the Node SDK's spelling)")
def _(s):
    o = uploaded(s)
    up0 = set(s.files_under("uploads"))
    expect_video(s.request("POST", "/v1/videos", form=[
        ("prompt", "from a form"), ("input_reference[file_id]", o["id"])]))
    eq(len(set(s.files_under("uploads")) - up0), 1, "one new upload")


@test("file_id errors: both/neither, unknown, another key's, not an image; no record")
def _(s):
    a = s.create_key("fa" + uuid.uuid4().hex[:6])
    b = s.create_key("fb" + uuid.uuid4().hex[:6])
    img = uploaded(s, key=a)
    txt = uploaded(s, key=a, data=b"just some text", filename="notes.txt", purpose="user_data")
    n0 = s.count(key=a)

    def create(ref, key=a):
        return s.request("POST", "/v1/videos", key=key,
                         json={"prompt": "x", "input_reference": ref})
    expect_error(create({"file_id": img["id"], "image_url": "https://example.com/a.png"}), 400,
                 param="input_reference")
    expect_error(create({}), 400, param="input_reference")
    expect_error(create({"file_id": 5}), 400, param="input_reference.file_id")
    unknown = "file-" + "1" * 32
    theirs = create({"file_id": img["id"]}, key=b)
    none = create({"file_id": unknown}, key=b)
    expect_error(theirs, 400, param="input_reference.file_id")
    eq(theirs.body.replace(img["id"].encode(), unknown.encode()), none.body,
       "another key's file answers like an unknown one")
    expect_error(create({"file_id": "garbage"}), 400, param="input_reference.file_id")
    r = create({"file_id": txt["id"]})
    expect_error(r, 400, param="input_reference.file_id", code="invalid_image")
    eq(s.count(key=a), n0, "no video recorded")


if __name__ == "__main__":
    sys.exit(suite.main(shared=True, **STACK))
