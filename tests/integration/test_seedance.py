#!/usr/bin/env python3
"""The seedance backend end to end: real nginx and reelgate processes, with
tests/fakes/fake_seedance.py (Ark's task API, strict) on loopback ports.

Every scenario has its own fake (a backend and a model of the same name, see
FAKES_OF / backend_specs()), so the tests run several scenarios at once and
a fake's /_fake/jobs shows exactly what reelgate sent for that scenario.
What reelgate sent is read from the fakes; videos are small (320x180, 24 fps,
2 to 4 s).  Every wait is bounded; tests end with `reelgate db check`.  The
last test looks for the API keys in every log, the database and every
answer.
"""
import base64
import os
import re
import secrets
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ANY, FakeServer, Suite, alive, check, children, eq,  # noqa: E402
                     expect_error, expect_video, png_bytes, wait_until)
from test_backends import (Problems, download, expect_completed, expect_failed,  # noqa: E402
                           gaps, ignored, no_content_files, wait_all, create_form, check_mp4,
                           ENDED_AT)
from ops_refs import data_uri, edit, make_character, operations, refused  # noqa: E402
from records import check_settled, stored_record  # noqa: E402

suite = Suite()
test = suite.test

VIDEO_BOUND = 45
KEY = "ark-it-" + secrets.token_hex(16)
OPENAI_KEY = "sk-fo-" + secrets.token_hex(16)
WRONG_KEY = "ark-wrong-" + secrets.token_hex(16)
MODEL = "doubao-seedance-1-0-pro-250528"
FIELDS = {"model", "content", "safety_identifier", "callback_url", "return_last_frame",
          "service_tier", "execution_expires_after", "priority", "generate_audio", "draft",
          "camera_fixed", "watermark", "seed", "resolution", "ratio", "duration", "frames", "tools"}

# one fake per scenario; the backend and the model of the same name use it
NAMES = ("s-ok", "s-rpm", "s-overload", "s-500", "s-sens", "s-quota", "s-overdue", "s-param",
         "s-badkey", "s-expired", "s-p500", "s-p429", "s-pbad", "s-preset", "s-failed",
         "s-expire", "s-never", "s-404", "s-redir", "s-priv", "s-reset", "s-badjson", "s-lost",
         "s-hang", "s-full", "s-crash", "s-cancel", "s-fo", "s-ops")
FAKES = {}
# models that take reference images: on s-ok's fake (s-ref, an image as a
# reference) and s-ops's (characters); s-ops itself is MODEL (1.0 pro)
REF_MODEL = {"s-ref": ("s-ok", "doubao-seedance-2-0-260128"),
             "s-sd2": ("s-ops", "doubao-seedance-2-0-260128"),
             "s-lite": ("s-ops", "doubao-seedance-1-0-lite-i2v-250428")}


def fk(name):
    return FAKES[name]


def backend(fake, **extra):
    return dict({"type": "seedance", "base_url": fk(fake).url + "/api/v3", "api_key_env": "ARK_KEY",
                 "poll_seconds": 1, "allow_addresses": ["127.0.0.1"], "max_retries": 3,
                 "concurrency": 2}, **extra)


def model(backends, deadline=1800):
    return {"backends": [{"backend": b, "model": MODEL if b.startswith("s-") else "sora-2"}
                         for b in backends],
            "seconds": {"min": 2, "max": 12}, "default_seconds": 2, "default_size": "1280x720",
            "sizes": {"max_width": 1920, "max_height": 1920}, "default_fps": 24, "max_fps": 60,
            "deadline_seconds": deadline}


def backend_specs():
    b = {n: backend(n) for n in NAMES}
    b["s-ok"]["concurrency"] = 6
    b["s-ok"]["watermark"] = False
    b["s-strict"] = backend("s-ok", strict_params=True)
    b["s-badkey"] = dict(backend("s-badkey"), api_key=WRONG_KEY)
    del b["s-badkey"]["api_key_env"]
    for n in ("s-lost", "s-hang", "s-full"):
        b[n]["request_timeout_seconds"] = 2
    b["s-cancel"]["concurrency"] = 1
    for alias, (fake, _m) in REF_MODEL.items():
        b[alias] = backend(fake)
    b["o-fo"] = {"type": "openai", "base_url": fk("o-fo").url + "/v1", "api_key": OPENAI_KEY,
                 "encoding": "multipart", "poll_seconds": 1, "allow_addresses": ["127.0.0.1"],
                 "max_retries": 3, "concurrency": 2}
    return b


def configure(cfg):
    if not FAKES:
        fakes = {n: FakeServer("seedance", "--api-key", KEY, "--step-seconds", "0.4")
                 for n in NAMES}
        fakes["o-fo"] = FakeServer("openai", "--api-key", OPENAI_KEY, "--step-seconds", "0.4")
        FakeServer.start_all(fakes.values())
        FAKES.update(fakes)
    backends = backend_specs()
    cfg["backends"].update(backends)
    for n in backends:
        cfg["models"][n] = model([n], 10 if n == "s-never" else 1800)
    cfg["models"]["s-fo"] = model(["s-fo", "o-fo"])
    for alias, (_f, m) in REF_MODEL.items():
        cfg["models"][alias]["backends"][0]["model"] = m
    cfg["limits"]["max_output_bytes"] = 4 << 20


def reset(*names):
    for n in names:
        fk(n).reset()


def jobs(name):
    return fk(name).jobs()


def tasks_of(name):
    return jobs(name)["tasks"]


def record_has(s, vid, text):
    """text is in the stored record of vid (read from the LMDB file)."""
    db = os.path.join(s.data_dir, "db")
    paths = [os.path.join(db, f) for f in os.listdir(db)] if os.path.isdir(db) else [db]
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        for m in re.finditer(re.escape(vid.encode()), data):
            if text.encode() in data[max(0, m.start() - 8192): m.end() + 8192]:
                return True
    return False


def derived_seed(vid):
    h = 2166136261
    for c in vid.encode():
        h = ((h ^ c) * 16777619) & 0xffffffff
    return h & 0x7fffffff


# ================================================================ mapping

@test("seedance: text-to-video, image-to-video (an upload as a data: URL, a caller's URL as "
      "is), n=2: content[], duration, ratio, resolution, seed (given or derived), Ark-native "
      "metadata passed through (model not overridable), Bearer key; the signed result is "
      "downloaded without the key; usage.total_tokens kept on the record", timeout=90)
def _(s):
    reset("s-ok")
    png = png_bytes(64, 64, (10, 200, 90))
    url = "https://images.example.com/reelgate/cat.png"
    t2v = s.create(model="s-ok", prompt="a red fox in the snow", seconds="4", size="1280x720",
                   seed=77, metadata={"generate_audio": True, "service_tier": "default",
                                      "model": "doubao-seedance-2-0-260128", "camera_fixed": 1,
                                      "owner_tag": "x"})
    tall = s.create(model="s-ok", prompt="a tall waterfall", size="720x1280")
    up = create_form(s, "s-ok", "the picture comes alive", png, seconds="2")
    by_url = s.create(model="s-ref", prompt="the linked picture moves",
                      input_reference={"image_url": url},
                      metadata={"image_role": "reference_image"})
    two = s.create(model="s-ok", prompt="twins", n=2)
    pair = (two["metadata"] or {}).get("video_ids") or []
    eq(len(pair), 2, "metadata.video_ids of n=2")
    for v in (t2v, tall, up, by_url):
        check(not ignored(v), "%s: nothing to ignore, yet %r" % (v["id"], ignored(v)))
    done = wait_all(s, [v["id"] for v in (t2v, tall, up, by_url)] + pair)
    j = jobs("s-ok")
    by_text = {}
    for t in j["tasks"]:
        by_text.setdefault(t["body"]["content"][0]["text"], []).append(t)
    p = Problems()
    want = {
        t2v["id"]: ("a red fox in the snow", {"duration": 4, "ratio": "16:9", "resolution": "720p",
                                              "seed": 77, "generate_audio": True,
                                              "service_tier": "default", "watermark": False,
                                              "model": MODEL}, None),
        tall["id"]: ("a tall waterfall", {"duration": 2, "ratio": "9:16", "resolution": "720p",
                                          "seed": derived_seed(tall["id"])}, None),
        up["id"]: ("the picture comes alive", {"ratio": "adaptive", "resolution": "720p"},
                   ("first_frame", "data:image/png;base64," + base64.b64encode(png).decode())),
        by_url["id"]: ("the linked picture moves", {"ratio": "adaptive",
                                                    "model": "doubao-seedance-2-0-260128"},
                       ("reference_image", url)),
    }
    for vid, (text, fields, image) in want.items():
        with p.case(text):
            expect_completed(*done[vid])
            got = by_text.get(text, [])
            eq(len(got), 1, "Ark tasks with this prompt")
            body = got[0]["body"]
            check(set(body) <= FIELDS, "fields Ark does not know: %s" % sorted(set(body) - FIELDS))
            for k, val in fields.items():
                eq(body.get(k), val, "body field %s" % k)
            check("camera_fixed" not in body, "a mistyped metadata field was passed on")
            check(not re.search(r"--(rs|rt|dur|fps|wm|seed|cf)\b", body["content"][0]["text"]),
                  "prompt flags in the text: %r" % body["content"][0]["text"])
            items = body["content"][1:]
            if image is None:
                eq(items, [], "content items besides the text")
            else:
                eq(items, [{"type": "image_url", "image_url": {"url": image[1]},
                            "role": image[0]}], "the image item")
            data = download(s, vid)
            check_mp4(s, vid, data, 320, 180, 24, body.get("duration", 5) * 24)
            check(record_has(s, vid, '"total_tokens":"108900"'),
                  "usage.total_tokens is not on the record")
            # settled from what was made and what Ark billed
            check_settled(stored_record(s, vid), data, {"tokens": 108900})
    with p.case("n=2"):
        for vid in pair:
            expect_completed(*done[vid])
        eq(len(by_text.get("twins", [])), 2, "Ark tasks for n=2")
    with p.case("the usage ledger sums Ark's tokens"):
        r = s.request("GET", "/v1/usage/videos?group_by=model&start_time=%d"
                      % (int(time.time()) // 86400 * 86400 - 86400))
        eq(r.status, 200, "usage")
        res = [x for b in r.json["data"] for x in b["results"]]
        completed = sum(x["completed"] for x in res)
        check(completed >= len(want) + 2, "completed tasks in the ledger", res)
        eq(sum(x["provider_usage"].get("tokens", 0) for x in res), 108900 * completed,
           "tokens: Ark's 108900 per completed task")
    with p.case("downloads"):
        f = j["fetches"]
        eq(len([x for x in f if x["where"] == "tos"]), 6, "downloads of the signed URLs")
        eq([x for x in f if x["authorization"]], [], "downloads that carried a credential")
        eq(j["auth_failures"], 0, "requests the fake refused for their key")
    p.done()
    s.db_check()


# ============================================================== characters

def items_of(task):
    return task["body"]["content"][1:]


def ops_task(prompt):
    got = [t for t in tasks_of("s-ops") if t["body"]["content"][0]["text"] == prompt]
    eq(len(got), 1, "Ark tasks with the prompt %r" % prompt)
    return got[0]


def ref_item(url):
    return {"type": "image_url", "image_url": {"url": url}, "role": "reference_image"}


@test("seedance operations per model: 2.0 and 1.0 lite i2v take characters, 1.0 pro does "
      "not; none edits or extends (GET /v1/models/{id})", timeout=20)
def _(s):
    for m, want in (("s-sd2", ["create", "remix", "characters"]),
                    ("s-lite", ["create", "remix", "characters"]),
                    ("s-ops", ["create", "remix"])):
        eq(operations(s, m), want, "operations of " + m)


@test("seedance characters: metadata.character_ids -> content[] items {image_url: {url: the "
      "character's stored first frame as a data: URL}, role: reference_image} after the text "
      "(and after the input image sent as a reference); ratio from the size, not adaptive; "
      "1.0 pro and an edit are 400 unsupported_operation naming the model; a first frame with "
      "characters, or more than 1.0 lite takes, a 400; nothing sent for the refusals",
      timeout=90)
def _(s):
    reset("s-ops")
    (a, pa), (b, pb) = make_character(s, "Ada"), make_character(s, "Grace")
    png = png_bytes(64, 64, (20, 40, 220))
    v = s.create(model="s-sd2", prompt="two friends on a bench", seconds="4", size="1280x720",
                 metadata={"character_ids": "%s %s" % (a, b)})
    w = s.create(model="s-lite", prompt="a friend and a picture", seconds="4",
                 image=base64.b64encode(png).decode(),
                 metadata={"character_ids": b, "image_role": "reference_image"})
    done = wait_all(s, [v["id"], w["id"]])
    for x in (v, w):
        expect_completed(*done[x["id"]])
    t = ops_task("two friends on a bench")
    eq(items_of(t), [ref_item(data_uri("image/png", pa)), ref_item(data_uri("image/png", pb))],
       "the characters' items")
    eq((t["body"]["model"], t["body"]["ratio"], t["body"]["resolution"], t["body"]["duration"]),
       ("doubao-seedance-2-0-260128", "16:9", "720p", 4), "model, ratio, resolution, duration")
    t = ops_task("a friend and a picture")
    eq(items_of(t), [ref_item(data_uri("image/png", png)), ref_item(data_uri("image/png", pb))],
       "the image as a reference, then the character")
    c, _ = make_character(s, "Linus")
    d, _ = make_character(s, "Barbara")
    n = len(tasks_of("s-ops"))
    with s.no_new_records():
        refused(s.request("POST", "/v1/videos", json={
            "model": "s-ops", "prompt": "1.0 pro", "metadata": {"character_ids": a}}),
            "s-ops", "unsupported_operation", "s-sd2", param="metadata.character_ids")
        refused(s.request("POST", "/v1/videos", json={
            "model": "s-sd2", "prompt": "first frame", "image": base64.b64encode(png).decode(),
            "metadata": {"character_ids": a}}),
            "s-sd2", "unsupported_value", "image_role", param="metadata.character_ids")
        refused(s.request("POST", "/v1/videos", json={
            "model": "s-lite", "prompt": "five", "image": base64.b64encode(png).decode(),
            "metadata": {"character_ids": ",".join((a, b, c, d)),
                         "image_role": "reference_image"}}),
            "s-lite", "unsupported_value", "at most 4", param="metadata.character_ids")
        refused(edit(s, v["id"]), "s-sd2", "unsupported_operation", "video edits", param=None)
    eq(len(tasks_of("s-ops")), n, "tasks at Ark after the refusals")
    s.db_check()


@test("metadata.character_ids refusals the API makes itself (any model): not a string, no id, "
      "an unknown id, another key's character (worded like an unknown one), an id twice, more "
      "than 4; each a 400 naming metadata.character_ids, nothing stored or sent", timeout=90)
def _(s):
    reset("s-ops")
    a, _ = make_character(s, "Ada")
    other = s.create_key()
    theirs, _ = make_character(s, "Eve", key=other)
    more = [make_character(s, "C%d" % i)[0] for i in range(4)]
    n = len(tasks_of("s-ops"))

    def ask(ids):
        return s.request("POST", "/v1/videos", json={
            "model": "s-sd2", "prompt": "refused", "seconds": "4",
            "metadata": {"character_ids": ids}})
    with s.no_new_records():
        for ids, frag in ((5, "must be a string"), (True, "must be a string"),
                          (" , ", "names no character"), ("char_nope", "char_nope"),
                          ("%s,%s" % (a, a), "twice"), (",".join([a] + more), "more than 4")):
            err = expect_error(ask(ids), 400, "metadata.character_ids", "invalid_value")
            check(frag in err["message"], "message %r lacks %r" % (err["message"], frag))
        unknown = expect_error(ask("char_" + "0" * 32), 400, "metadata.character_ids")
        foreign = expect_error(ask(theirs), 400, "metadata.character_ids")
        eq(foreign["message"].replace(theirs, "ID"),
           unknown["message"].replace("char_" + "0" * 32, "ID"),
           "another key's character is answered like an unknown one")
    eq(len(tasks_of("s-ops")), n, "nothing reached Ark")


@test("seedance: ignored_params (fps other than 24, a size that is not one of Ark's ratio "
      "and tier pairs, a size with an image, metadata.negative_prompt); strict_params -> 400 "
      "naming the field", timeout=45)
def _(s):
    reset("s-ok")
    png = base64.b64encode(png_bytes(32, 32)).decode()
    p = Problems()
    for fields, want in ((dict(fps=30), ["fps"]), (dict(fps=24), None),
                         (dict(size="1000x700"), ["size"]), (dict(size="1920x1080"), None),
                         (dict(size="640x480", image=png), ["size"]),
                         (dict(metadata={"negative_prompt": "blur"}), ["metadata.negative_prompt"])):
        with p.case(str(fields)):
            v = s.create(model="s-ok", prompt="params %s" % sorted(fields), **fields)
            got = ignored(v)
            if want is None:
                check(not got, "ignored_params %r for honoured fields" % (got,))
            else:
                eq(sorted(got or []), want, "ignored_params")
    for field, value in (("fps", 30), ("size", "1000x700")):
        with p.case("strict " + field):
            with s.no_new_records():
                r = s.request("POST", "/v1/videos", json={"model": "s-strict",
                                                          "prompt": "strict", field: value})
                expect_error(r, 400, param=field)
    p.done()


# ================================================================= errors

@test("seedance: InputTextSensitiveContentDetected -> content_policy_violation, QuotaExceeded "
      "and AccountOverdueError -> upstream_quota_exhausted, InvalidParameter -> "
      "upstream_rejected with Ark's reason, a wrong key and an expired key -> "
      "upstream_auth_failed; none retried", timeout=45)
def _(s):
    cases = {"s-sens": ("400_sensitive", "content_policy_violation", "sensitive"),
             "s-quota": ("429_quota", "upstream_quota_exhausted", "QuotaExceeded"),
             "s-overdue": ("403_overdue", "upstream_quota_exhausted", "AccountOverdueError"),
             "s-param": ("400_param", "upstream_rejected", "content"),
             "s-badkey": (None, "upstream_auth_failed", "credentials"),
             "s-expired": (None, "upstream_auth_failed", "credentials")}
    reset(*cases)
    for n, (mode, _, _) in cases.items():
        if mode:
            fk(n).scenario(submit=mode, count=1)
    fk("s-expired").scenario(auth="expired")
    vids = {n: s.create(model=n, prompt="refused on " + n)["id"] for n in cases}
    done = wait_all(s, vids.values(), timeout=20)
    p = Problems()
    for n, (_, code, frag) in cases.items():
        with p.case(n):
            expect_failed(*done[vids[n]], code, frag)
            j = jobs(n)
            eq((j["creates_received"], j["creates_accepted"]), (1, 0), "creates received, made")
            check(KEY not in done[vids[n]][0]["error"]["message"], "the key in the message")
            no_content_files(s, vids[n])
    s.db_check()


@test("seedance: RateLimitExceeded (Retry-After 2) x2, ServerOverloaded x2 and "
      "InternalServiceError x2 on create are waited out: one task each, completed", timeout=60)
def _(s):
    modes = {"s-rpm": "429_rpm", "s-overload": "429_overload", "s-500": "500"}
    reset(*modes)
    for n, mode in modes.items():
        fk(n).scenario(submit=mode, count=2, retry_after=2 if n == "s-rpm" else None)
    t0 = {n: time.time() for n in modes}
    vids = {n: s.create(model=n, prompt="retried on " + n)["id"] for n in modes}
    done = wait_all(s, vids.values())
    p = Problems()
    for n, vid in vids.items():
        with p.case(n):
            expect_completed(*done[vid])
            j = jobs(n)
            eq((j["creates_received"], j["creates_accepted"]), (3, 1), "creates received, made")
            made = j["tasks"][0]["created_at"]
            if n == "s-rpm":
                check(made - t0[n] >= 3, "Retry-After: 2 twice not honoured: made %.1f s after "
                      "the create" % (made - t0[n]))
            download(s, vid)
    p.done()
    s.db_check()


@test("seedance: polls answered by 500, 429, invalid JSON or a reset twice -> completed",
      timeout=60)
def _(s):
    modes = {"s-p500": "500", "s-p429": "429_rpm", "s-pbad": "invalid_json", "s-preset": "reset"}
    reset(*modes)
    for n, mode in modes.items():
        fk(n).scenario(poll=mode, count=2)
    vids = {n: s.create(model=n, prompt="polls on " + n)["id"] for n in modes}
    done = wait_all(s, vids.values())
    p = Problems()
    for n, vid in vids.items():
        with p.case(n):
            expect_completed(*done[vid])
            j = jobs(n)
            eq(j["creates_accepted"], 1, "tasks")
            check(j["polls"] >= 3, "%d polls" % j["polls"])
            download(s, vid)
    p.done()
    s.db_check()


@test("seedance: failed with OutputVideoSensitiveContentDetected -> content_policy_violation; "
      "expired -> generation_failed; never done -> generation_timeout (10 s); result 404 or a "
      "redirect to 10.0.0.1 -> download_failed; a redirect to another origin -> completed, "
      "no credential sent there", timeout=60)
def _(s):
    names = ("s-failed", "s-expire", "s-never", "s-404", "s-priv", "s-redir")
    reset(*names)
    fk("s-failed").scenario(outcome="failed")
    fk("s-expire").scenario(outcome="expire")
    fk("s-never").scenario(outcome="never")
    fk("s-404").scenario(result="404")
    fk("s-priv").scenario(result="redirect_private")
    fk("s-redir").scenario(result="redirect_other")
    t0 = time.monotonic()
    vids = {n: s.create(model=n, prompt="outcome on " + n)["id"] for n in names}
    done = wait_all(s, vids.values(), timeout=30)
    d = {n: done[v] for n, v in vids.items()}
    p = Problems()
    with p.case("s-failed"):
        expect_failed(*d["s-failed"], "content_policy_violation", "OutputVideoSensitiveContent")
    with p.case("s-expire"):
        expect_failed(*d["s-expire"], "generation_failed", "expired")
    with p.case("s-never"):
        expect_failed(*d["s-never"], "generation_timeout")
        took = ENDED_AT[vids["s-never"]] - t0
        check(9 <= took <= 22, "failed %.1f s after creation; the deadline is 10 s" % took)
    for n in ("s-404", "s-priv"):
        with p.case(n):
            expect_failed(*d[n], "download_failed")
            no_content_files(s, vids[n])
    with p.case("s-redir"):
        expect_completed(*d["s-redir"])
        f = jobs("s-redir")["fetches"]
        eq([x["where"] for x in f], ["tos", "cdn"], "the download, then its redirect")
        eq([x["authorization"] for x in f], [None, None], "Authorization on the downloads")
        download(s, vids["s-redir"])
    p.done()
    s.db_check()


# ================================================== unknown outcomes, crash

@test("seedance: a create answered by a reset or invalid JSON (nothing made), one that hangs "
      "(nothing made) and one made whose answer is lost -> reconciled from the task list: "
      "exactly one Ark task each; the lost one is never sent again", timeout=75)
def _(s):
    cases = {"s-reset": ("reset", 2), "s-badjson": ("invalid_json", 2), "s-hang": ("hang", 2),
             "s-lost": ("hold", 1)}
    reset(*cases)
    for n, (mode, _) in cases.items():
        fk(n).scenario(submit=mode, count=1, delay=4)
    vids = {n: s.create(model=n, prompt="unknown outcome on " + n)["id"] for n in cases}
    done = wait_all(s, vids.values(), timeout=60)
    p = Problems()
    for n, (mode, creates) in cases.items():
        with p.case(n):
            expect_completed(*done[vids[n]])
            j = jobs(n)
            eq((j["creates_received"], j["creates_accepted"]), (creates, 1),
               "creates received, tasks made")
            check(j["lists"] >= 1, "no task list asked: the outcome was not reconciled")
            eq(j["tasks"][0]["seed"], derived_seed(vids[n]), "the seed that identifies it")
            download(s, vids[n])
    p.done()
    s.db_check()


@test("seedance: a lost create among more than a page (100) of the model's tasks made "
      "around it -> upstream_unknown_outcome, not sent again", timeout=60)
def _(s):
    reset("s-full")
    import http.client
    import json
    for i in range(101):                     # another client's tasks of the same model
        c = http.client.HTTPConnection("127.0.0.1", fk("s-full").port, timeout=10)
        c.request("POST", "/api/v3/contents/generations/tasks",
                  json.dumps({"model": MODEL, "content": [{"type": "text", "text": "other %d" % i}],
                              "seed": i, "duration": 2}),
                  {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"})
        eq(c.getresponse().status, 200, "a task made directly")
        c.close()
    fk("s-full").scenario(submit="hang", count=1, delay=4)
    v = s.create(model="s-full", prompt="lost in a crowd")
    done, hist = s.wait_video(v["id"], timeout=30)
    expect_failed(done, hist, "upstream_unknown_outcome", "not sent again")
    eq(jobs("s-full")["creates_received"], 102, "creates (the lost one was not resent)")
    s.db_check()


@test("seedance: kill -9 of the dispatcher while a create it sent is held by Ark -> the new "
      "dispatcher reconciles: one task, completed", timeout=75)
def _(s):
    reset("s-crash")
    fk("s-crash").scenario(submit="hold", delay=8, count=1)
    v = s.create(model="s-crash", prompt="survives its dispatcher")
    wait_until(lambda: tasks_of("s-crash"), 15, interval=0.1, what="the task at the fake")
    old = s.dispatcher_pid()
    check(old, "no live dispatcher")
    os.kill(old, signal.SIGKILL)
    new = wait_until(lambda: (s.dispatcher_pid() not in (None, old)) and s.dispatcher_pid(), 15,
                     interval=0.1, what="a new dispatcher")
    check(alive(new) and new in children(s.master_pid()), "no new dispatcher under the master")
    done = wait_all(s, [v["id"]], timeout=VIDEO_BOUND, strict=False)
    expect_completed(*done[v["id"]])
    j = jobs("s-crash")
    eq((j["creates_received"], j["creates_accepted"]), (1, 1), "creates received, made")
    check(j["lists"] >= 1, "the new dispatcher did not list the tasks")
    download(s, v["id"])
    s.db_check()


# ========================================================== cancel, failover

def db_cancels(s):
    out = s.cli("db", "cancels").stdout.decode()
    return {f[0]: f[1:] for f in (line.split("\t") for line in out.splitlines()) if f}


def cancel_entry(s, vid):
    return wait_until(lambda: (db_cancels(s).get(vid) or [None])[0] not in (None, "pending")
                      and db_cancels(s)[vid], 20, what="the cancel entry of %s" % vid)


@test("seedance: DELETE of a video whose Ark task is queued -> Ark gets DELETE, the task is "
      "cancelled (db cancels: cancelled); of one whose task runs -> Ark refuses, kept as "
      "refused with Ark's reason", timeout=60)
def _(s):
    reset("s-cancel")
    fk("s-cancel").scenario(outcome="stay_queued")
    a = s.create(model="s-cancel", prompt="queued, then unwanted")
    ta = wait_until(lambda: tasks_of("s-cancel"), 15, interval=0.1, what="the task")[0]
    eq(s.request("DELETE", "/v1/videos/" + a["id"]).status, 200, "DELETE")
    e = cancel_entry(s, a["id"])
    eq((e[0], e[1], e[2]), ("cancelled", "s-cancel", ta["id"]), "the cancel entry")
    eq([t["status"] for t in tasks_of("s-cancel")], ["cancelled"], "the task at Ark")
    eq(jobs("s-cancel")["deletes"], 1, "DELETEs at Ark")
    fk("s-cancel").scenario(outcome="never")
    b = s.create(model="s-cancel", prompt="running, then unwanted")
    tb = wait_until(lambda: [t for t in tasks_of("s-cancel") if t["status"] == "running"], 15,
                    interval=0.1, what="the task to run")[0]
    eq(s.request("DELETE", "/v1/videos/" + b["id"]).status, 200, "DELETE")
    e = cancel_entry(s, b["id"])
    eq((e[0], e[2]), ("refused", tb["id"]), "the cancel entry")
    check("cannot be cancelled" in e[4], "Ark's reason is not kept: %r" % e[4])
    eq(jobs("s-cancel")["deletes"], 2, "DELETEs at Ark")
    s.db_check()


@test("seedance: a public model on seedance then an openai-compatible backend: Ark answers "
      "503 to every create -> the task fails over and completes there", timeout=60)
def _(s):
    reset("s-fo", "o-fo")
    fk("s-fo").scenario(submit="503", count=None)
    v = s.create(model="s-fo", prompt="fails over", size="320x180", seconds="2")
    done, hist = s.wait_video(v["id"], timeout=VIDEO_BOUND)
    expect_completed(done, hist)
    j = jobs("s-fo")
    check(j["creates_received"] >= 1, "the create never reached Ark")
    eq(j["creates_accepted"], 0, "tasks made at Ark")
    o = fk("o-fo").jobs()
    eq([x["idempotency_key"] for x in o["jobs"] if x["video_id"]], [v["id"]],
       "the openai upstream's video")
    download(s, v["id"])
    s.db_check()


@test("seedance: the API keys appear in no log, no database file and no answer", timeout=30)
def _(s):
    check(len(s.bodies) > 30, "only %d answers recorded" % len(s.bodies))
    leaks = s.secret_leaks({"the Ark key": KEY, "the wrong Ark key": WRONG_KEY,
                            "the openai key": OPENAI_KEY})
    check(not leaks, "secrets found:\n" + "\n".join(leaks))


if __name__ == "__main__":
    sys.exit(suite.main(shared=True, workers=2, configure=configure, env={"ARK_KEY": KEY},
                        content={"delivery": "x-accel-redirect", "retention_seconds": 3600}))
