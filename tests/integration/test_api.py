#!/usr/bin/env python3
"""The /v1 API over real HTTP: nginx in front, reelgate workers, real LMDB.

Every scenario of docs/api.md: create in the three body encodings with every
seed and OpenAI field, retrieve, list paging, delete, remix, n > 1,
idempotency, tenant isolation, key revocation, models.

Tasks of the default model stay queued: its backend is the `hang` fake
renderer (tests/fakes) with concurrency 1, and setup() gives that one slot
to a task of its own key that never ends.  The model FAST renders for real
(share/reelgate/render-ffmpeg, small videos) for the tests that need a
completed video.  Generation itself is tested in test_generation.py.
"""
import base64
import os
import sys
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MODEL, RENDER_FFMPEG, VIDEO_FIELDS, Suite, check, eq,  # noqa: E402
                     expect_error, expect_video, fake, loose_eq, png_bytes, png_data_uri,
                     wait_until)

suite = Suite()
test = suite.test

FAST = "reelgate-fast"
STACK = {
    "workers": 2,
    "backends": {
        "local": {"type": "command", "command": fake("hang"), "concurrency": 1},
        "render": {"type": "command", "command": [RENDER_FFMPEG], "concurrency": 2},
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


def setup(s):
    """Gives the default model's only slot to a task that never ends, so
    every other task of that model stays queued."""
    k = s.create_key("slot-holder")
    v = s.create(key=k, prompt="holds the default backend's only slot")
    wait_until(lambda: s.get(v["id"], key=k).json["status"] == "in_progress", 30,
               what="the slot holder to start")


def meta(v):
    return v.get("metadata") or {}


# ------------------------------------------------------------------ models

@test("GET /v1/models lists the configured models")
def _(s):
    r = s.request("GET", "/v1/models")
    eq(r.status, 200, "status")
    check(r.header("x-request-id"), "no X-Request-Id")
    body = r.json
    eq(body.get("object"), "list", "object")
    ids = [m.get("id") for m in body["data"]]
    check(MODEL in ids, "%s not in %s" % (MODEL, ids))
    for m in body["data"]:
        eq(set(m) >= {"id", "object", "created", "owned_by"}, True, "model fields of %r" % m)
        eq(m["object"], "model", "model object")
        eq(m["owned_by"], "reelgate", "owned_by")
        check(isinstance(m["created"], int), "created not an integer", m)


@test("the Bearer scheme word is case-insensitive")
def _(s):
    for scheme in ("bearer", "BEARER", "Bearer"):
        r = s.request("GET", "/v1/models", key=None,
                      headers={"Authorization": "%s %s" % (scheme, s.key)})
        eq(r.status, 200, "status with scheme %r" % scheme)


# ------------------------------------------------------------------ create

@test("create with JSON: defaults from the config")
def _(s):
    n0 = s.count()
    r = s.request("POST", "/v1/videos", json={"prompt": "A calico cat on a windowsill"})
    v = expect_video(r)
    eq(v["model"], MODEL, "model")
    eq(v["seconds"], "4", "seconds (default_seconds)")
    eq(v["size"], "1280x720", "size (default_size)")
    eq(v["prompt"], "A calico cat on a windowsill", "prompt")
    eq(v["remixed_from_video_id"], None, "remixed_from_video_id")
    eq(s.count(), n0 + 1, "videos listed")


@test("create with JSON: OpenAI fields")
def _(s):
    v = s.create(model=MODEL, prompt="waves at dusk", seconds="8", size="640x360")
    eq((v["seconds"], v["size"], v["model"]), ("8", "640x360", MODEL), "seconds, size, model")


@test("create with multipart, no file (as OpenAI SDK 7 sends)")
def _(s):
    n0 = s.count()
    r = s.request("POST", "/v1/videos", form=[("prompt", "a fox in the snow"),
                                               ("model", MODEL), ("seconds", "4"),
                                               ("size", "720x1280")])
    v = expect_video(r)
    eq((v["prompt"], v["seconds"], v["size"]), ("a fox in the snow", "4", "720x1280"), "fields")
    eq(s.count(), n0 + 1, "videos listed")


@test("create with multipart and a PNG file part (input_reference)")
def _(s):
    up0 = s.files_under("uploads")
    r = s.request("POST", "/v1/videos", form=[
        ("prompt", "animate this"), ("seconds", "4"), ("size", "640x360"),
        ("input_reference", ("ref.png", "image/png", png_bytes(16, 16)))])
    v = expect_video(r)
    new = sorted(set(s.files_under("uploads")) - set(up0))
    eq(len(new), 1, "new files under data_dir/uploads")
    with open(new[0], "rb") as f:
        eq(f.read(), png_bytes(16, 16), "stored upload bytes")
    expect_video(s.get(v["id"]))


@test("create with urlencoded, metadata and input_reference in bracket notation")
def _(s):
    url = "https://example.com/cat.jpg"
    r = s.request("POST", "/v1/videos", urlencoded=[
        ("prompt", "a cat"), ("seconds", "5"), ("size", "640x480"),
        ("metadata[style]", "film"), ("metadata[negative_prompt]", "blurry"),
        ("input_reference[image_url]", url)])
    v = expect_video(r)
    eq((v["seconds"], v["size"]), ("5", "640x480"), "seconds, size")
    eq(meta(v).get("style"), "film", "metadata.style")
    eq(meta(v).get("negative_prompt"), "blurry", "metadata.negative_prompt")
    eq(meta(v).get("image_url"), url, "metadata.image_url")


@test("create with multipart, metadata as JSON text and bracket input_reference")
def _(s):
    url = "https://example.com/dog.png"
    r = s.request("POST", "/v1/videos", form=[
        ("prompt", "a dog"), ("metadata", '{"style":"anime","quality_level":"high"}'),
        ("input_reference[image_url]", url)])
    v = expect_video(r)
    eq(meta(v).get("style"), "anime", "metadata.style")
    eq(meta(v).get("quality_level"), "high", "metadata.quality_level")
    eq(meta(v).get("image_url"), url, "metadata.image_url")


@test("create with multipart, metadata in bracket notation")
def _(s):
    r = s.request("POST", "/v1/videos", form=[
        ("prompt", "a boat"), ("metadata[style]", "noir"), ("metadata[camera]", "dolly")])
    v = expect_video(r)
    eq((meta(v).get("style"), meta(v).get("camera")), ("noir", "dolly"), "metadata")


SEED = {
    "model": MODEL, "prompt": "宇航员站起身走了", "image": "https://example.com/image.jpg",
    "duration": 5, "width": 1280, "height": 720, "fps": 30, "seed": 20231234, "n": 1,
    "response_format": "url", "user": "user-1234",
    "metadata": {"negative_prompt": "blurry", "style": "film", "quality_level": "high",
                 "flag": True, "score": 1.5, "nothing": None},
}


def check_seed_echo(v):
    eq(v["prompt"], SEED["prompt"], "prompt (UTF-8)")
    eq(v["model"], MODEL, "model")
    eq(v["seconds"], "5", "duration 5 -> seconds")
    eq(v["size"], "1280x720", "width+height -> size")
    m = meta(v)
    for k in ("fps", "seed", "user", "response_format"):
        check(loose_eq(m.get(k), SEED[k]), "metadata.%s: got %r, want %r" % (k, m.get(k), SEED[k]), v)
    eq(m.get("image_url"), SEED["image"], "metadata.image_url")
    for k in ("negative_prompt", "style", "quality_level"):
        eq(m.get(k), SEED["metadata"][k], "metadata.%s" % k)


@test("every seed field round-trips (JSON)")
def _(s):
    v = expect_video(s.request("POST", "/v1/videos", json=SEED))
    check_seed_echo(v)
    m = meta(v)
    eq((m.get("flag"), m.get("score"), "nothing" in m, m.get("nothing")),
       (True, 1.5, True, None), "bool/number/null metadata values")
    check_seed_echo(expect_video(s.get(v["id"])))


@test("every seed field round-trips (multipart, the seed's form)")
def _(s):
    import json
    form = [(k, json.dumps(val) if k == "metadata" else val) for k, val in SEED.items()]
    v = expect_video(s.request("POST", "/v1/videos", form=form))
    check_seed_echo(v)
    check_seed_echo(expect_video(s.get(v["id"])))


@test("every seed field round-trips (urlencoded)")
def _(s):
    pairs = [(k, val) for k, val in SEED.items() if k != "metadata"]
    pairs += [("metadata[%s]" % k, val) for k, val in SEED["metadata"].items()
              if isinstance(val, str)]
    v = expect_video(s.request("POST", "/v1/videos", urlencoded=pairs))
    check_seed_echo(v)


@test("both spellings given and agreeing are accepted")
def _(s):
    v = s.create(duration=6, seconds="6", width=640, height=360, size="640x360")
    eq((v["seconds"], v["size"]), ("6", "640x360"), "seconds, size")


@test("image as a data URI is stored under data_dir/uploads")
def _(s):
    up0 = s.files_under("uploads")
    v = s.create(image=png_data_uri())
    eq(len(set(s.files_under("uploads")) - set(up0)), 1, "new uploads")
    check("image_url" not in meta(v) or not str(meta(v)["image_url"]).startswith("data:"),
          "a data URI must not be echoed as metadata.image_url", v)


@test("image as bare base64 is stored under data_dir/uploads")
def _(s):
    up0 = s.files_under("uploads")
    s.create(image=base64.b64encode(png_bytes()).decode())
    eq(len(set(s.files_under("uploads")) - set(up0)), 1, "new uploads")


@test("input_reference {image_url: data URL} in JSON")
def _(s):
    up0 = s.files_under("uploads")
    s.create(input_reference={"image_url": png_data_uri()})
    eq(len(set(s.files_under("uploads")) - set(up0)), 1, "new uploads")


@test("input_reference {image_url: https URL} in JSON is kept as metadata.image_url")
def _(s):
    url = "https://example.com/ref.webp"
    v = s.create(input_reference={"image_url": url})
    eq(meta(v).get("image_url"), url, "metadata.image_url")


@test("a prompt of exactly 32000 multi-byte characters is accepted")
def _(s):
    prompt = "é" * 32000
    v = s.create(prompt=prompt)
    eq(v["prompt"], prompt, "prompt")


@test("Idempotency-Key: a repeat returns the original video")
def _(s):
    k = s.create_key()
    idem = "idem-" + uuid.uuid4().hex
    body = {"prompt": "only once"}
    a = expect_video(s.request("POST", "/v1/videos", key=k, json=body,
                          headers={"Idempotency-Key": idem}))
    b = expect_video(s.request("POST", "/v1/videos", key=k, json=body,
                          headers={"Idempotency-Key": idem}))
    eq(b["id"], a["id"], "id of the repeat")
    c = expect_video(s.request("POST", "/v1/videos", key=k, json=body,
                          headers={"Idempotency-Key": idem + "-other"}))
    check(c["id"] != a["id"], "another Idempotency-Key must create another video")
    eq(s.count(k), 2, "videos listed")


@test("n=3 creates 3 tasks listed in metadata.video_ids")
def _(s):
    k = s.create_key()
    v = expect_video(s.request("POST", "/v1/videos", key=k, json={"prompt": "three", "n": 3}))
    ids = meta(v).get("video_ids")
    check(isinstance(ids, list) and len(ids) == 3 and len(set(ids)) == 3,
          "metadata.video_ids must list 3 distinct ids", v)
    eq(ids[0], v["id"], "the response is the first video")
    check(loose_eq(meta(v).get("n"), 3), "metadata.n", v)
    for vid in ids:
        w = expect_video(s.get(vid, key=k))
        eq(w["prompt"], "three", "prompt of %s" % vid)
    eq(sorted(s.list_ids(k)), sorted(ids), "listed ids")


# ---------------------------------------------------------------- retrieve

@test("retrieve returns the object create returned")
def _(s):
    v = s.create(prompt="same object", seconds="3", size="320x240", metadata={"k": "v"})
    g = expect_video(s.get(v["id"]))
    for f in VIDEO_FIELDS + ("metadata",):
        eq(g[f], v[f], "field %s" % f)


@test("retrieve and list follow every change of the record; metadata.url follows the Host",
      timeout=120)
def _(s):
    # GET and list answer from a public object the store keeps beside each
    # record: every state change the dispatcher writes must show at once,
    # and the one part that depends on the request (the base URL of
    # metadata.url) must come from this request.
    k = s.create_key()
    v = s.create(key=k, model=FAST, prompt="follows its record", metadata={"tag": "x"})
    q = s.create(key=k, prompt="stays queued")
    r = s.get(q["id"], key=k)
    eq(r.header("openai-poll-after-ms"), "1000", "poll header of a queued video")
    eq(r.json["status"], "queued", "queued status")
    done, hist = s.wait_video(v["id"], key=k, timeout=60)
    eq(done["status"], "completed", "status (%s)" % hist)
    eq(done["progress"], 100, "progress once completed")
    check(done["completed_at"] and done["expires_at"], "completed_at and expires_at set", done)
    eq(meta(done).get("tag"), "x", "caller metadata kept")
    eq(meta(done).get("url"), "%s/v1/videos/%s/content" % (s.base, v["id"]), "metadata.url")
    r = s.get(v["id"], key=k)
    eq(r.header("openai-poll-after-ms"), None, "no poll header once completed")
    page = s.list(key=k, limit=10).json
    listed = {x["id"]: x for x in page["data"]}
    eq(listed.get(v["id"]), done, "the listed object is the retrieved one")
    eq(listed.get(q["id"]), s.get(q["id"], key=k).json, "the listed queued object")
    for host in ("videos.example:8443", "other.example"):
        h = s.request("GET", "/v1/videos/" + v["id"], key=k, headers={"Host": host})
        eq(meta(h.json).get("url"), "http://%s/v1/videos/%s/content" % (host, v["id"]),
           "metadata.url with Host %s" % host)
        lp = s.request("GET", "/v1/videos?limit=10", key=k, headers={"Host": host}).json
        urls = [meta(x).get("url") for x in lp["data"] if x["id"] == v["id"]]
        eq(urls, ["http://%s/v1/videos/%s/content" % (host, v["id"])],
           "listed metadata.url with Host %s" % host)
    eq(s.request("DELETE", "/v1/videos/" + v["id"], key=k).status, 200, "delete")
    expect_error(s.get(v["id"], key=k), 404)
    eq([x["id"] for x in s.list(key=k).json["data"]], [q["id"]], "listed after the delete")
    s.db_check()


@test("X-Request-Id on every answer, a new one per request")
def _(s):
    a = s.request("GET", "/v1/models")
    b = s.request("GET", "/v1/models")
    c = s.request("GET", "/v1/videos/video_doesnotexist")
    ids = [x.header("x-request-id") for x in (a, b, c)]
    check(all(ids) and len(set(ids)) == 3, "X-Request-Id: %r" % ids)


# -------------------------------------------------------------------- list

def make(s, k, n):
    """n videos of key k; their ids in list (id) order."""
    return sorted(s.create(key=k, prompt="item %d" % i)["id"] for i in range(n))


def page(s, k, **q):
    r = s.list(key=k, **q)
    eq(r.status, 200, "list status")
    p = r.json
    eq(set(p) >= {"object", "data", "first_id", "last_id", "has_more"}, True,
       "list envelope keys %s" % sorted(p))
    eq(p["object"], "list", "object")
    ids = [v["id"] for v in p["data"]]
    for v in p["data"]:
        expect_video(v, status=None)
    eq(p["first_id"], ids[0] if ids else None, "first_id")
    eq(p["last_id"], ids[-1] if ids else None, "last_id")
    return ids, p["has_more"]


@test("ids of sequential creates sort in creation order")
def _(s):
    # DESIGN.md: "an id order is a creation order".  Each create here
    # starts after the previous one answered, often within the same
    # millisecond and on another worker.
    k = s.create_key()
    ids = [s.create(key=k, prompt="seq %d" % i)["id"] for i in range(30)]
    check(sorted(ids) == ids, "ids out of creation order: %s" %
          [(i, v) for i, v in enumerate(ids) if i and v < ids[i - 1]][:3])
    eq(s.list_ids(k, order="asc"), ids, "list asc vs creation order")


@test("list: an empty list")
def _(s):
    k = s.create_key()
    eq(page(s, k), ([], False), "ids, has_more")


@test("list: both orders, paging with after")
def _(s):
    k = s.create_key()
    ids = make(s, k, 5)
    eq(page(s, k, order="asc"), (ids, False), "asc")
    eq(page(s, k), (ids[::-1], False), "default order (desc)")
    eq(page(s, k, order="desc"), (ids[::-1], False), "desc")
    eq(page(s, k, order="asc", limit=2), (ids[:2], True), "asc page 1")
    eq(page(s, k, order="asc", limit=2, after=ids[1]), (ids[2:4], True), "asc page 2")
    eq(page(s, k, order="asc", limit=2, after=ids[3]), (ids[4:], False), "asc page 3")
    eq(page(s, k, order="desc", limit=2), ([ids[4], ids[3]], True), "desc page 1")
    eq(page(s, k, order="desc", limit=2, after=ids[3]), ([ids[2], ids[1]], True), "desc page 2")
    eq(page(s, k, order="desc", limit=2, after=ids[1]), ([ids[0]], False), "desc page 3")
    eq(page(s, k, order="asc", limit=5), (ids, False), "exactly one page")
    eq(page(s, k, order="asc", after=ids[4]), ([], False), "after the last")
    eq(page(s, k, order="desc", after=ids[0]), ([], False), "desc after the first")


@test("list: after a deleted id continues after it")
def _(s):
    k = s.create_key()
    ids = make(s, k, 5)
    eq(s.request("DELETE", "/v1/videos/" + ids[2], key=k).status, 200, "delete status")
    eq(page(s, k, order="asc", after=ids[2]), (ids[3:], False), "asc after deleted")
    eq(page(s, k, order="desc", after=ids[2]), ([ids[1], ids[0]], False), "desc after deleted")
    eq(page(s, k, order="asc", limit=1, after=ids[2]), ([ids[3]], True), "asc limit 1")


@test("list: limit edges (0, 1, 100, default 20)")
def _(s):
    k = s.create_key()
    ids = make(s, k, 21)
    got, _more = page(s, k, limit=0)
    eq(got, [], "limit=0 data")
    eq(page(s, k, order="asc", limit=1), ([ids[0]], True), "limit=1")
    eq(page(s, k, order="asc"), (ids[:20], True), "default limit 20")
    eq(page(s, k, order="asc", limit=100), (ids, False), "limit=100")
    eq(page(s, k, order="asc", limit=20, after=ids[19]), ([ids[20]], False), "the 21st")


# ------------------------------------------------------------------ delete

@test("delete: answer shape, then 404, files removed")
def _(s):
    up0 = s.files_under("uploads")
    r = s.request("POST", "/v1/videos", form=[
        ("prompt", "to delete"), ("input_reference", ("x.png", "image/png", png_bytes()))])
    v = expect_video(r)
    check(len(s.files_under("uploads")) == len(up0) + 1, "upload not stored")
    d = s.request("DELETE", "/v1/videos/" + v["id"])
    eq(d.status, 200, "delete status")
    eq(d.json, {"id": v["id"], "object": "video.deleted", "deleted": True}, "delete answer")
    expect_error(s.get(v["id"]), 404, code="not_found")
    expect_error(s.request("DELETE", "/v1/videos/" + v["id"]), 404, code="not_found")
    check(v["id"] not in s.list_ids(), "deleted video still listed")
    eq(s.files_under("uploads"), up0, "files under uploads after delete")


# ---------------------------------------------------------- remix, content

@test("remix of a completed video: 200, remixed_from_video_id, inherits the source",
      timeout=120)
def _(s):
    k = s.create_key()
    src = s.create(key=k, model=FAST, prompt="the source", seconds="1", size="320x180",
                   fps=12, seed=42)
    done, hist = s.wait_video(src["id"], key=k, timeout=60)
    eq(done["status"], "completed", "source status (%s; error %s)" % (hist, done["error"]))
    remixes = []
    for how in ("json", "form", "urlencoded"):
        prompt = "the source, at night (%s)" % how
        kw = {"json": {"prompt": prompt}} if how == "json" else \
            {"form": [("prompt", prompt)]} if how == "form" else \
            {"urlencoded": {"prompt": prompt}}
        r = s.request("POST", "/v1/videos/%s/remix" % src["id"], key=k, **kw)
        v = expect_video(r)
        eq(v["remixed_from_video_id"], src["id"], "remixed_from_video_id (%s)" % how)
        eq(v["prompt"], prompt, "prompt (%s)" % how)
        check(v["id"] != src["id"], "the remix must be a new video")
        eq((v["model"], v["size"], v["seconds"]), (FAST, "320x180", "1"),
           "model, size, seconds inherited (%s)" % how)
        check(loose_eq(meta(v).get("fps"), 12) and loose_eq(meta(v).get("seed"), 42),
              "fps and seed inherited (%s)" % how, v)
        remixes.append(v["id"])
    eq(sorted(s.list_ids(k)), sorted([src["id"]] + remixes), "listed ids")
    done, hist = s.wait_video(remixes[0], key=k, timeout=60)
    eq(done["status"], "completed", "the remix renders (%s)" % hist)
    eq(done["remixed_from_video_id"], src["id"], "remixed_from_video_id once completed")
    eq(s.request("GET", "/v1/videos/%s/content" % remixes[0], key=k).status, 200,
       "content of the remix")


@test("remix of a completed video: a bad Idempotency-Key or a NUL-smuggled field is a 400 "
      "(a 300-byte key was a 500), nothing created", timeout=120)
def _(s):
    k = s.create_key()
    src = s.create(key=k, model=FAST, prompt="the source", seconds="1", size="320x180")
    done, hist = s.wait_video(src["id"], key=k, timeout=60)
    eq(done["status"], "completed", "source status (%s)" % hist)
    path = "/v1/videos/%s/remix" % src["id"]
    for idem in ("i" * 300, "a b"):
        r = s.request("POST", path, key=k, json={"prompt": "p"}, headers={"Idempotency-Key": idem})
        expect_error(r, 400, param="Idempotency-Key", code="invalid_value")
    r = s.request("POST", path, key=k, body='{"prompt":"original","prompt\\u0000x":"smuggled"}',
                  content_type="application/json")
    expect_error(r, 400, code="invalid_value")
    eq(s.count(k), 1, "videos after the refused remixes")
    r = s.request("POST", path, key=k, json={"prompt": "p"}, headers={"Idempotency-Key": "i" * 255})
    expect_video(r)
    eq(s.count(k), 2, "videos after a good remix with a 255-byte key")


@test("remix of a queued video: 409 video_not_ready, nothing created")
def _(s):
    k = s.create_key()
    v = s.create(key=k, prompt="source")
    for how in ("json", "form", "urlencoded"):
        kw = {"json": {"prompt": "again"}} if how == "json" else \
            {"form": [("prompt", "again")]} if how == "form" else \
            {"urlencoded": {"prompt": "again"}}
        r = s.request("POST", "/v1/videos/%s/remix" % v["id"], key=k, **kw)
        expect_error(r, 409, code="video_not_ready")
    eq(s.count(k), 1, "videos after the remixes")


@test("remix of an unknown video: 404")
def _(s):
    expect_error(s.request("POST", "/v1/videos/video_0000000000000000nothere/remix",
                           json={"prompt": "x"}), 404, code="not_found")


@test("content of a queued video: 404 video_not_ready naming the status")
def _(s):
    v = s.create()
    for q in ("", "?variant=video", "?variant=thumbnail", "?variant=spritesheet"):
        r = s.request("GET", "/v1/videos/%s/content%s" % (v["id"], q))
        err = expect_error(r, 404, code="video_not_ready")
        check("queued" in err["message"], "the message should say the status", r)


# ----------------------------------------------------------------- tenants

@test("tenant isolation: another key gets 404s identical to an unknown id")
def _(s):
    a, b = s.create_key(), s.create_key()
    v = s.create(key=a, prompt="mine")
    other = v["id"]
    unknown = "video_" + "0" * (len(other) - len("video_"))
    calls = [("GET", "/v1/videos/%s", None), ("DELETE", "/v1/videos/%s", None),
             ("POST", "/v1/videos/%s/remix", {"prompt": "steal"}),
             ("GET", "/v1/videos/%s/content", None)]
    for method, path, body in calls:
        kw = {"json": body} if body else {}
        r1 = s.request(method, path % other, key=b, **kw)
        r2 = s.request(method, path % unknown, key=b, **kw)
        e1 = expect_error(r1, 404, code="not_found")
        e2 = expect_error(r2, 404, code="not_found")
        e1["message"] = e1["message"].replace(other, "ID")
        e2["message"] = e2["message"].replace(unknown, "ID")
        eq(e1, e2, "%s %s: another key's video vs an unknown id" % (method, path))
        hide = {"x-request-id", "date"}
        h1 = sorted((k.lower(), val) for k, val in r1.headers if k.lower() not in hide
                    and k.lower() != "content-length")
        h2 = sorted((k.lower(), val) for k, val in r2.headers if k.lower() not in hide
                    and k.lower() != "content-length")
        eq(h1, h2, "%s %s: headers" % (method, path))
    eq(s.list_ids(b), [], "B's list")
    eq(s.list_ids(a), [other], "A's list")
    expect_video(s.get(other, key=a))


# -------------------------------------------------------------------- keys

@test("a revoked key gets 401 on its next request; others keep working")
def _(s):
    name = "rev" + uuid.uuid4().hex[:8]
    k = s.create_key(name)
    keep = s.create_key()
    v = s.create(key=k)
    eq(s.request("GET", "/v1/models", key=k).status, 200, "before revoke")
    kid = s.key_id(name)
    check(kid.startswith("key_"), "key id %r does not look like key_<hex>" % kid)
    s.cli("keys", "revoke", kid)
    for method, path in (("GET", "/v1/models"), ("GET", "/v1/videos/" + v["id"]),
                         ("GET", "/v1/videos")):
        expect_error(s.request(method, path, key=k), 401, code="invalid_api_key")
    expect_error(s.request("POST", "/v1/videos", key=k, json={"prompt": "x"}), 401,
                 code="invalid_api_key")
    eq(s.request("GET", "/v1/models", key=keep).status, 200, "another key")
    line = [x for x in s.cli("keys", "list").stdout.decode().splitlines() if kid in x]
    eq(len(line), 1, "keys list lines for %s" % kid)


@test("workers that checked a key many times see its revocation on the very next request")
def _(s):
    # Each worker remembers what a key's record said; the record changing
    # must end that at once, in every worker.
    name = "hot" + uuid.uuid4().hex[:8]
    k = s.create_key(name)
    v = s.create(key=k)
    for _ in range(40):  # both workers serve this key many times
        eq(s.get(v["id"], key=k).status, 200, "before revoke")
    s.cli("keys", "revoke", s.key_id(name))
    for i in range(20):
        expect_error(s.get(v["id"], key=k), 401, code="invalid_api_key")
        expect_error(s.list(key=k), 401, code="invalid_api_key")


if __name__ == "__main__":
    sys.exit(suite.main(shared=True, setup=setup, **STACK))
