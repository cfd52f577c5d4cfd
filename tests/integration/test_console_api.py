#!/usr/bin/env python3
"""What the web console (issue 18) reads from the public API, through the
whole stack: each model's `capabilities` on GET /v1/models (exactly what a
create accepts: a create inside them succeeds, one just outside is the 400
naming the parameter), and GET /v1/videos filtered by `status` and `model`
(each, together, paged with `after`, the 400s, other keys' videos never
seen, and the bound of 10000 videos examined per request).

Budgets on GET /v1/usage/videos are tested in test_usage.py.

Models: HELD (the default model) runs on the `hang` fake with concurrency
1, whose slot setup() gives to another key's task, so its tasks stay
queued; HANGING runs on a second `hang` backend, so a key's first task
there stays in progress; FAST renders for real (render-ffmpeg, 1 s,
160x90); BROKEN fails (`fail` fake).  LISTED, RANGED, PRICED, PER_VIDEO and
ODD only exist to be described and validated; their tasks stay queued
behind HELD's slot.
"""
import base64
import decimal
import json
import os
import sys
import time
import urllib.parse
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MODEL, RENDER_FFMPEG, Suite, check, eq, expect_error,  # noqa: E402
                     expect_video, fake, wait_until)

suite = Suite()
test = suite.test

HELD = MODEL
HANGING, FAST, BROKEN = "hanging", "fast", "broken"
LISTED, RANGED, PRICED, PER_VIDEO = "listed", "ranged", "priced", "per-video"
ODD = 'odd/"name" \u00e9'  # a model name json-c escapes
LIMITS = {"max_n": 64, "max_prompt_chars": 300, "max_image_bytes": 300000}
SMALL = {"seconds": {"min": 1, "max": 20}, "default_seconds": 1, "default_size": "160x90",
         "default_fps": 12}


def on(backend, **cfg):
    m = {"backends": [{"backend": backend, "model": "x"}]}
    m.update(cfg)
    return m


MODELS = {
    HANGING: on("hang2", **SMALL),
    FAST: on("render", **SMALL),
    BROKEN: on("failing", **SMALL),
    LISTED: on("local", seconds=[12, 4, 8, 4], sizes=["1280x720", "720x1280", "640x480"],
               default_seconds=8, default_size="720x1280", default_fps=24, max_fps=30),
    RANGED: on("local", seconds={"min": 2, "max": 10},
               sizes={"max_width": 1024, "max_height": 576}, default_seconds=3,
               default_size="320x180", default_fps=12, max_fps=25),
    PRICED: on("local", seconds={"min": 1, "max": 8},
               price={"per_second": 0.25,
                      "per_second_by_tier": {"720p": 0.1, "1080p": "0.123456"}}),
    PER_VIDEO: on("local", price={"per_video": "1.50"}),
    ODD: on("local", **SMALL),
}

STACK = {
    "workers": 2,
    "limits": LIMITS,
    "backends": {
        "local": {"type": "command", "command": fake("hang"), "concurrency": 1},
        "hang2": {"type": "command", "command": fake("hang"), "concurrency": 1},
        "render": {"type": "command", "command": [RENDER_FFMPEG], "concurrency": 2},
        "failing": {"type": "command", "command": fake("fail", "fake: no GPU left"),
                    "concurrency": 2},
    },
    "extra_models": MODELS,
    "configure": lambda cfg: cfg.update(usage={"currency": "EUR"}),
}


def setup(s):
    """Gives HELD's only slot to a task of its own key that never ends."""
    k = s.create_key("slot-holder")
    v = s.create(key=k, prompt="holds the default backend's only slot")
    wait_until(lambda: s.get(v["id"], key=k).json["status"] == "in_progress", 30,
               what="the slot holder to start")


def new_key(s):
    return s.create_key("c" + uuid.uuid4().hex[:8])


def exact(resp):
    """The answer's JSON with its numbers as Decimal: amounts compare exactly."""
    return json.loads(resp.body, parse_float=decimal.Decimal)


def models(s):
    r = s.request("GET", "/v1/models")
    eq(r.status, 200, "GET /v1/models")
    return {m["id"]: m for m in exact(r)["data"]}


def create(s, key, **fields):
    fields.setdefault("prompt", "console test " + uuid.uuid4().hex[:6])
    return s.request("POST", "/v1/videos", key=key, json=fields)


# ------------------------------------------------------------ capabilities

@test("capabilities: every model has them; GET /v1/models/{id} says the same as the list")
def _(s):
    ms = models(s)
    check(set(MODELS) | {HELD} <= set(ms), "configured models listed", sorted(ms))
    for name, m in ms.items():
        caps = m.get("capabilities")
        check(isinstance(caps, dict), "%s: no capabilities" % name, m)
        for k in ("seconds", "seconds_min", "seconds_max", "default_seconds", "sizes",
                  "min_width", "min_height", "max_width", "max_height", "default_size",
                  "default_fps", "max_fps", "max_n", "max_prompt_chars", "max_image_bytes",
                  "price"):
            check(k in caps, "%s: capabilities.%s missing" % (name, k), caps)
        eq((caps["max_n"], caps["max_prompt_chars"], caps["max_image_bytes"]),
           (LIMITS["max_n"], LIMITS["max_prompt_chars"], LIMITS["max_image_bytes"]),
           "%s: the config's limits" % name)
        if name == ODD:
            continue  # its name has no path of its own
        r = s.request("GET", "/v1/models/" + urllib.parse.quote(name))
        eq(r.status, 200, "GET /v1/models/%s" % name)
        eq(exact(r), m, "GET /v1/models/%s = its entry in the list" % name)


@test("capabilities of a model with lists: durations ascending as strings, sizes in config "
      "order, their bounds, defaults, fps, no price")
def _(s):
    c = models(s)[LISTED]["capabilities"]
    eq(c["seconds"], ["4", "8", "12"], "seconds: [12, 4, 8, 4] sorted, once each, as strings")
    eq((c["seconds_min"], c["seconds_max"], c["default_seconds"]), (4, 12, "8"), "duration")
    eq(c["sizes"], ["1280x720", "720x1280", "640x480"], "sizes in config order")
    eq((c["min_width"], c["min_height"], c["max_width"], c["max_height"]),
       (640, 480, 1280, 1280), "the list's bounds")
    eq((c["default_size"], c["default_fps"], c["max_fps"]), ("720x1280", 24, 30), "defaults")
    eq(c["price"], None, "no price")


@test("capabilities of a model with ranges: null lists, the range's bounds")
def _(s):
    c = models(s)[RANGED]["capabilities"]
    eq((c["seconds"], c["seconds_min"], c["seconds_max"], c["default_seconds"]),
       (None, 2, 10, "3"), "durations")
    eq((c["sizes"], c["min_width"], c["min_height"], c["max_width"], c["max_height"]),
       (None, 16, 16, 1024, 576), "sizes")
    eq((c["default_size"], c["default_fps"], c["max_fps"]), ("320x180", 12, 25), "defaults")
    eq(c["price"], None, "no price")


@test("capabilities' price: only the keys the config has, amounts printed exactly")
def _(s):
    r = s.request("GET", "/v1/models/" + PRICED)
    eq(exact(r)["capabilities"]["price"],
       {"currency": "EUR", "per_second": decimal.Decimal("0.25"),
        "per_second_by_tier": {"720p": decimal.Decimal("0.1"),
                               "1080p": decimal.Decimal("0.123456")}},
       "per second, by tier")
    for text in ('"per_second":0.25', '"720p":0.10', '"1080p":0.123456'):
        check(text in r.text, "%s printed from the stored millionths" % text, r.text)
    r = s.request("GET", "/v1/models/" + PER_VIDEO)
    eq(exact(r)["capabilities"]["price"],
       {"currency": "EUR", "per_video": decimal.Decimal("1.5")}, "per video")
    check('"per_video":1.50' in r.text, "per_video printed exactly", r.text)


@test("a create inside a list model's capabilities succeeds; just outside is the 400 "
      "naming the parameter")
def _(s):
    key = new_key(s)
    c = models(s)[LISTED]["capabilities"]
    for sec in c["seconds"]:
        expect_video(create(s, key, model=LISTED, seconds=sec))
    for size in c["sizes"]:
        expect_video(create(s, key, model=LISTED, size=size))
    v = expect_video(create(s, key, model=LISTED, fps=c["max_fps"], n=c["max_n"]))
    eq(len(v["metadata"]["video_ids"]), c["max_n"], "max_n tasks")
    v = expect_video(create(s, key, model=LISTED))
    eq((v["seconds"], v["size"], v["metadata"]["fps"]),
       (c["default_seconds"], c["default_size"], c["default_fps"]), "the defaults")
    outside = [
        ({"seconds": str(c["seconds_max"] + 1)}, "seconds"),
        ({"seconds": str(c["seconds_min"] - 1)}, "seconds"),
        ({"seconds": "5"}, "seconds"),  # between two listed durations
        ({"size": "%dx%d" % (c["max_width"], c["max_width"])}, "size"),  # each side allowed
        ({"size": "1280x719"}, "size"),
        ({"fps": c["max_fps"] + 1}, "fps"),
        ({"n": c["max_n"] + 1}, "n"),
    ]
    for fields, param in outside:
        expect_error(create(s, key, model=LISTED, **fields), 400, param=param)


@test("a create inside a range model's capabilities succeeds; just outside is the 400 "
      "naming the parameter")
def _(s):
    key = new_key(s)
    c = models(s)[RANGED]["capabilities"]
    for sec in (c["seconds_min"], c["seconds_max"]):
        expect_video(create(s, key, model=RANGED, seconds=str(sec)))
    for size in ("%dx%d" % (c["min_width"], c["min_height"]),
                 "%dx%d" % (c["max_width"], c["max_height"]), "322x180"):
        expect_video(create(s, key, model=RANGED, size=size))
    expect_video(create(s, key, model=RANGED, fps=c["max_fps"]))
    expect_video(create(s, key, model=RANGED, prompt="p" * c["max_prompt_chars"]))
    png = b"\x89PNG\r\n\x1a\n"
    blob = png + b"\0" * (c["max_image_bytes"] - len(png))
    data_uri = "data:image/png;base64,"
    expect_video(create(s, key, model=RANGED, image=data_uri + base64.b64encode(blob).decode()))
    outside = [
        ({"seconds": str(c["seconds_max"] + 1)}, "seconds"),
        ({"seconds": str(c["seconds_min"] - 1)}, "seconds"),
        ({"size": "%dx%d" % (c["max_width"] + 2, c["max_height"])}, "size"),
        ({"size": "%dx%d" % (c["max_width"], c["max_height"] + 2)}, "size"),
        ({"size": "%dx%d" % (c["min_width"] - 2, c["min_height"])}, "size"),
        ({"size": "321x180"}, "size"),  # odd width
        ({"width": 320, "height": 181}, "width"),  # odd height, the seed's spelling
        ({"fps": c["max_fps"] + 1}, "fps"),
        ({"n": c["max_n"] + 1}, "n"),
        ({"prompt": "p" * (c["max_prompt_chars"] + 1)}, "prompt"),
        ({"image": data_uri + base64.b64encode(blob + b"\0").decode()}, "image"),
    ]
    for fields, param in outside:
        expect_error(create(s, key, model=RANGED, **fields), 400, param=param)


@test("a create at a priced tier succeeds")
def _(s):
    key = new_key(s)
    c = models(s)[PRICED]["capabilities"]
    for size in ("1280x720", "1920x1080", "640x360"):  # 720p, 1080p, per_second
        expect_video(create(s, key, model=PRICED, size=size, seconds=str(c["seconds_max"])))
    expect_error(create(s, key, model=PRICED, seconds=str(c["seconds_max"] + 1)), 400,
                 param="seconds")


# ------------------------------------------------------------ list filters

def listing(s, key, **q):
    r = s.list(key=key, **q)
    eq(r.status, 200, "list %s (%s)" % (q, r.text[:300]))
    return r.json


def ids(page):
    return [v["id"] for v in page["data"]]


def every_page(s, key, limit, **q):
    """Every id of a filtered list, paging with after=last_id; the pages."""
    got, pages, after = [], [], None
    for _ in range(100):
        qq = dict(q, limit=limit)
        if after:
            qq["after"] = after
        p = listing(s, key, **qq)
        pages.append(p)
        got += ids(p)
        if not p["has_more"]:
            return got, pages
        check(p["last_id"], "has_more without a last_id", p)
        after = p["last_id"]
    raise AssertionError("the list never ends")


MIX = {}


def mix(s):
    """Key A's videos of every status (and key B's beside them), made once:
    {"key", "other", status: [ids, newest first], "odd": id, "all": ids}."""
    if MIX:
        return MIX
    a, b = new_key(s), new_key(s)
    made = {"queued": [], "in_progress": [], "completed": [], "failed": []}
    order = []

    def one(key, model, status, **fields):
        v = expect_video(create(s, key, model=model, **fields))
        if key == a:
            order.append(v["id"])
        return v["id"]

    p1 = one(a, HANGING, "in_progress")
    s.wait_video(p1, until="in_progress", key=a, timeout=30)
    made["in_progress"].append(p1)
    theirs = []
    for model, status in ((FAST, "completed"), (HELD, "queued"), (BROKEN, "failed"),
                          (FAST, "completed"), (HELD, "queued"), (FAST, "completed")):
        made[status].append(one(a, model, status))
        theirs.append((one(b, model, status), status))  # another key's, interleaved
    odd = one(a, ODD, "queued")
    made["queued"].append(odd)
    for vid in made["completed"] + made["failed"]:
        s.wait_video(vid, key=a, timeout=90)
    for vid, status in theirs:
        if status != "queued":
            s.wait_video(vid, key=b, timeout=90)
    MIX.update({k: list(reversed(v)) for k, v in made.items()})
    MIX.update({"key": a, "other": b, "odd": odd, "all": list(reversed(order))})
    return MIX


@test("list: status filter, each status; the unfiltered list is unchanged", timeout=180)
def _(s):
    m = mix(s)
    eq(ids(listing(s, m["key"], limit=100)), m["all"], "unfiltered, newest first")
    for status in ("queued", "in_progress", "completed", "failed"):
        p = listing(s, m["key"], status=status, limit=100)
        eq(ids(p), m[status], "status=%s" % status)
        for v in p["data"]:
            eq(v["status"], status, "status of %s" % v["id"])
        eq((p["first_id"], p["last_id"], p["has_more"]),
           (m[status][0], m[status][-1], False), "status=%s envelope" % status)
        p = listing(s, m["key"], status=status, order="asc", limit=100)
        eq(ids(p), list(reversed(m[status])), "status=%s ascending" % status)


@test("list: model filter, any name (configured or not), escaped names, with status",
      timeout=180)
def _(s):
    m = mix(s)
    key = m["key"]
    eq(ids(listing(s, key, model=FAST, limit=100)), m["completed"], "model=fast")
    eq(ids(listing(s, key, model=BROKEN)), m["failed"], "model=broken")
    eq(ids(listing(s, key, model=HELD)), [v for v in m["queued"] if v != m["odd"]],
       "model=%s" % HELD)
    eq(ids(listing(s, key, model=ODD)), [m["odd"]], "a name with a quote, a slash, an e-acute")
    eq(ids(listing(s, key, model="no-such-model")), [], "an unknown model: no videos, no error")
    eq(ids(listing(s, key, model="m" * 64)), [], "64 bytes")
    eq(ids(listing(s, key, model=FAST, status="completed")), m["completed"], "both, matching")
    eq(ids(listing(s, key, model=FAST, status="failed")), [], "both, disjoint")
    eq(ids(listing(s, key, model=HELD, status="queued", order="asc", limit=1)),
       [v for v in reversed(m["queued"]) if v != m["odd"]][:1], "both, asc, limit 1")


@test("list: a filtered list pages with after=last_id, both orders", timeout=180)
def _(s):
    m = mix(s)
    key = m["key"]
    got, pages = every_page(s, key, 1, status="completed")
    eq(got, m["completed"], "status=completed one by one")
    for p in pages:
        if p["data"]:
            eq(p["last_id"], p["data"][-1]["id"], "a page of matches ends on its last item")
    got, _ = every_page(s, key, 2, status="queued", order="asc")
    eq(got, list(reversed(m["queued"])), "status=queued two by two, ascending")
    got, _ = every_page(s, key, 1, model=FAST, status="completed", order="asc")
    eq(got, list(reversed(m["completed"])), "both filters, one by one")
    p = listing(s, key, status="failed", after=m["completed"][0])
    eq(ids(p), [v for v in m["failed"] if m["all"].index(v) > m["all"].index(m["completed"][0])],
       "after an id that is no match")


@test("list: another key's videos are never listed nor counted")
def _(s):
    m = mix(s)
    for status in ("completed", "failed", "queued"):
        mine = ids(listing(s, m["key"], status=status, limit=100))
        theirs = ids(listing(s, m["other"], status=status, limit=100))
        check(not set(mine) & set(theirs), "no video in both keys' lists", mine, theirs)
        eq(len(theirs), 3 if status == "completed" else 2 if status == "queued" else 1,
           "the other key's %s videos" % status)
    # limit counts the caller's matches only: the other key's interleaved
    # videos do not take places on the page
    eq(ids(listing(s, m["key"], status="completed", limit=2)), m["completed"][:2], "limit 2")
    eq(ids(listing(s, new_key(s), status="completed")), [], "a new key sees nothing")


@test("list: bad status and model values are 400s naming the parameter")
def _(s):
    key = mix(s)["key"]
    for q, param in (({"status": "done"}, "status"), ({"status": "Completed"}, "status"),
                     ({"status": ""}, "status"), ({"status": "cancelled"}, "status"),
                     ({"model": ""}, "model"), ({"model": "m" * 65}, "model")):
        err = expect_error(s.list(key=key, **q), 400, param=param, code="invalid_value")
        if param == "status":
            for st in ("queued", "in_progress", "completed", "failed"):
                check(st in err["message"], "the message lists %s" % st, err)
        else:
            check("64" in err["message"], "the message says the length", err)
    for raw, param in (("status=failed&status=failed", "status"), ("status=failed%00", "status"),
                       ("model=fast%00x", "model"), ("model=a&model=b", "model")):
        expect_error(s.request("GET", "/v1/videos?" + raw, key=key), 400, param=param)


# Last: it leaves ten thousand queued videos behind.
@test("list: a filtered list examines at most 10000 videos a request; it continues with "
      "after=last_id", timeout=600)
def _(s):
    key = new_key(s)
    failed = expect_video(create(s, key, model=BROKEN))["id"]
    s.wait_video(failed, key=key, timeout=90)
    t0 = time.monotonic()
    for _ in range(157):  # 157 x 64 = 10048 queued videos, newer than the failed one
        expect_video(create(s, key, model=HELD, n=64, prompt="bulk"))
    newest_first = s.list_ids(key=key, order="desc")
    eq(len(newest_first), 10049, "videos made")
    p = listing(s, key, status="failed", limit=20)
    eq((ids(p), p["first_id"], p["has_more"]), ([], None, True),
       "no match among the 10000 newest: an empty page with has_more")
    eq(p["last_id"], newest_first[9999], "last_id: the 10000th video examined")
    p = listing(s, key, status="failed", limit=20, after=p["last_id"])
    eq((ids(p), p["last_id"], p["has_more"]), ([failed], failed, False),
       "the next page examines the rest and finds it")
    p = listing(s, key, status="queued", limit=100)
    eq((len(p["data"]), p["last_id"], p["has_more"]), (100, newest_first[99], True),
       "limit reached before the bound: as without a filter")
    p = listing(s, key, status="failed", order="asc", limit=1)
    eq((ids(p), p["has_more"]), ([failed], True), "ascending: found first")
    p = listing(s, key, limit=100)
    eq(ids(p), newest_first[:100], "the unfiltered list is unchanged")
    eq(ids(listing(s, key, model=BROKEN, after=newest_first[9999])), [failed],
       "model filter past the bound")
    print("# 10049 videos made and listed in %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    sys.exit(suite.main(shared=True, setup=setup, **STACK))
