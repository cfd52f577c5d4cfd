#!/usr/bin/env python3
"""The vidu backend end to end: real nginx and reelgate processes, with
tests/fakes/fake_vidu.py (Vidu's ent/v2 API, strict) on loopback ports.

Every scenario has its own fake (a backend and a model of the same name, see
NAMES / backend_specs()), so the tests run several scenarios at once and a
fake's /_fake/jobs shows exactly what reelgate sent for that scenario.
What reelgate sent is read from the fakes; videos are small (320x180, 24 fps,
2 to 4 s).  Every wait is bounded; tests end with `reelgate db check`.  The
last test looks for the API keys in every log, the database and every
answer.
"""
import base64
import calendar
import http.client
import json
import os
import re
import secrets
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Suite, FakeServer, alive, check, children, eq,  # noqa: E402
                     expect_error, png_bytes, wait_until)
from test_backends import (Problems, download, expect_completed, expect_failed,  # noqa: E402
                           ignored, no_content_files, wait_all, create_form, check_mp4,
                           ENDED_AT)
from ops_refs import data_uri, edit, make_character, operations, refused  # noqa: E402
from records import check_settled, stored_record  # noqa: E402

suite = Suite()
test = suite.test

VIDEO_BOUND = 45
KEY = "vidu-it-" + secrets.token_hex(16)
OPENAI_KEY = "sk-fo-" + secrets.token_hex(16)
WRONG_KEY = "vidu-wrong-" + secrets.token_hex(16)
MODEL = "viduq2"

# one fake per scenario; the backend and the model of the same name use it
NAMES = ("v-ok", "v-quota", "v-tmr", "v-500", "v-audit", "v-credit", "v-field", "v-badkey",
         "v-expired", "v-p500", "v-p429", "v-pbad", "v-preset", "v-policy", "v-genfail",
         "v-never", "v-404", "v-redir", "v-priv", "v-reset", "v-badjson", "v-lost", "v-lostnp",
         "v-hang", "v-full", "v-crash", "v-cancel", "v-fo", "v-ops")
FAKES = {}
# characters: other Vidu models, on v-ops's fake (v-ops itself is viduq2)
OPS_MODEL = {"v-q3": "viduq3-pro", "v-20": "vidu2.0"}


def fk(name):
    return FAKES[name]


def backend(fake, **extra):
    return dict({"type": "vidu", "base_url": fk(fake).url + "/ent/v2", "api_key_env": "VIDU_KEY",
                 "poll_seconds": 1, "allow_addresses": ["127.0.0.1"], "max_retries": 3,
                 "concurrency": 2}, **extra)


def model(backends, deadline=1800):
    return {"backends": [{"backend": b, "model": MODEL if b.startswith("v-") else "sora-2"}
                         for b in backends],
            "seconds": {"min": 2, "max": 10}, "default_seconds": 2, "default_size": "1280x720",
            "sizes": {"max_width": 1920, "max_height": 1920}, "default_fps": 24, "max_fps": 60,
            "deadline_seconds": deadline}


def backend_specs():
    b = {n: backend(n) for n in NAMES}
    b["v-ok"]["concurrency"] = 8
    b["v-strict"] = backend("v-ok", strict_params=True)
    b["v-badkey"] = dict(backend("v-badkey"), api_key=WRONG_KEY)
    del b["v-badkey"]["api_key_env"]
    for n in ("v-lost", "v-lostnp", "v-hang", "v-full"):
        b[n]["request_timeout_seconds"] = 2
    b["v-cancel"]["concurrency"] = 1
    for alias in OPS_MODEL:
        b[alias] = backend("v-ops")
    b["o-fo"] = {"type": "openai", "base_url": fk("o-fo").url + "/v1", "api_key": OPENAI_KEY,
                 "encoding": "multipart", "poll_seconds": 1, "allow_addresses": ["127.0.0.1"],
                 "max_retries": 3, "concurrency": 2}
    return b


def configure(cfg):
    if not FAKES:
        fakes = {n: FakeServer("vidu", "--api-key", KEY, "--step-seconds", "0.3")
                 for n in NAMES}
        fakes["o-fo"] = FakeServer("openai", "--api-key", OPENAI_KEY, "--step-seconds", "0.4")
        FakeServer.start_all(fakes.values())
        FAKES.update(fakes)
    backends = backend_specs()
    cfg["backends"].update(backends)
    for n in backends:
        cfg["models"][n] = model([n], 10 if n == "v-never" else 1800)
    cfg["models"]["v-fo"] = model(["v-fo", "o-fo"])
    for alias, m in OPS_MODEL.items():
        cfg["models"][alias]["backends"][0]["model"] = m
    cfg["limits"]["max_output_bytes"] = 4 << 20


def reset(*names):
    for n in names:
        fk(n).reset()


def jobs(name):
    return fk(name).jobs()


def tasks_of(name):
    return jobs(name)["tasks"]


def made_at(task):
    """A task's created_at (Vidu's RFC 3339 UTC) as epoch seconds."""
    return calendar.timegm(time.strptime(task["created_at"][:19], "%Y-%m-%dT%H:%M:%S")) + \
        float("0" + task["created_at"][19:-1])


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


# ================================================================ mapping

@test("vidu: text-to-video, image-to-video (an upload as a data: URL), start-end (the "
      "caller's URL + metadata.last_frame_url), reference (metadata.reference_images), n=2: "
      "the endpoint by images, duration, aspect_ratio, resolution, seed, payload = our video "
      "id, Vidu-native metadata passed through with type checks (model not overridable), "
      "Token key; the signed result is downloaded without the key; credits kept on the record",
      timeout=90)
def _(s):
    reset("v-ok")
    png = png_bytes(64, 64, (10, 200, 90))
    url = "https://images.example.com/reelgate/cat.png"
    last = "https://images.example.com/reelgate/cat-end.png"
    refs = ["https://images.example.com/r1.png", "https://images.example.com/r2.png"]
    t2v = s.create(model="v-ok", prompt="a red fox in the snow", seconds="4", size="1280x720",
                   seed=77, metadata={"movement_amplitude": "small", "bgm": True,
                                      "model": "viduq1", "style": 1, "owner_tag": "x",
                                      "callback_url": "http://evil.example/"})
    tall = s.create(model="v-ok", prompt="a tall waterfall", size="720x1280")
    up = create_form(s, "v-ok", "the picture comes alive", png, seconds="2")
    se = s.create(model="v-ok", prompt="from start to end", input_reference={"image_url": url},
                  metadata={"last_frame_url": last, "aspect_ratio": "1:1"})
    ref = s.create(model="v-ok", prompt="the subjects meet", size="1080x1080",
                   metadata={"reference_images": " ".join(refs)})
    two = s.create(model="v-ok", prompt="twins", n=2)
    pair = (two["metadata"] or {}).get("video_ids") or []
    eq(len(pair), 2, "metadata.video_ids of n=2")
    for v in (t2v, tall, up, se, ref):
        check(not ignored(v), "%s: nothing to ignore, yet %r" % (v["id"], ignored(v)))
    done = wait_all(s, [v["id"] for v in (t2v, tall, up, se, ref)] + pair)
    j = jobs("v-ok")
    by_text = {}
    for t in j["tasks"]:
        by_text.setdefault(t["body"]["prompt"], []).append(t)
    p = Problems()
    want = {
        t2v["id"]: ("a red fox in the snow", "text2video",
                    {"duration": 4, "aspect_ratio": "16:9", "resolution": "720p", "seed": 77,
                     "movement_amplitude": "small", "bgm": True, "model": MODEL}, None),
        tall["id"]: ("a tall waterfall", "text2video",
                     {"duration": 2, "aspect_ratio": "9:16", "resolution": "720p"}, None),
        up["id"]: ("the picture comes alive", "img2video", {"resolution": "720p"},
                   ["data:image/png;base64," + base64.b64encode(png).decode()]),
        se["id"]: ("from start to end", "start-end2video", {"duration": 2}, [url, last]),
        ref["id"]: ("the subjects meet", "reference2video",
                    {"aspect_ratio": "1:1", "resolution": "1080p"}, refs),
    }
    for vid, (text, endpoint, fields, images) in want.items():
        with p.case(text):
            expect_completed(*done[vid])
            got = by_text.get(text, [])
            eq(len(got), 1, "Vidu tasks with this prompt")
            body = got[0]["body"]
            eq(got[0]["endpoint"], endpoint, "the endpoint")
            eq(body.get("payload"), vid, "payload (the correlation)")
            for k, val in fields.items():
                eq(body.get(k), val, "body field %s" % k)
            for k in ("style", "owner_tag", "callback_url"):
                check(k not in body, "metadata.%s was passed on" % k)
            if vid != t2v["id"]:
                check("seed" not in body, "a seed nobody asked for")
            if endpoint in ("img2video", "start-end2video"):
                check("aspect_ratio" not in body, "aspect_ratio sent with a first frame")
            eq(body.get("images"), images, "images")
            data = download(s, vid)
            check_mp4(s, vid, data, 320, 180, 24, body.get("duration", 5) * 24)
            check(record_has(s, vid, '"credits":"%d"' % (4 * body.get("duration", 5))),
                  "credits are not on the record")
            # settled from what was made and what Vidu charged
            check_settled(stored_record(s, vid), data,
                          {"credits": 4 * body.get("duration", 5)})
    with p.case("n=2"):
        for vid in pair:
            expect_completed(*done[vid])
        eq(len(by_text.get("twins", [])), 2, "Vidu tasks for n=2")
        eq(sorted(t["body"]["payload"] for t in by_text.get("twins", [])), sorted(pair),
           "payloads of n=2")
    with p.case("downloads"):
        f = j["fetches"]
        eq(len([x for x in f if x["where"] == "cdn"]), 7, "downloads of the signed URLs")
        eq([x for x in f if x["authorization"]], [], "downloads that carried a credential")
        eq(j["auth_failures"], 0, "requests the fake refused for their key")
    p.done()
    s.db_check()


@test("vidu: ignored_params (fps other than 24, a size that is not one of Vidu's ratio and "
      "tier pairs, a size with an image, metadata.negative_prompt, metadata.last_frame_url "
      "without a first frame); strict_params -> 400 naming the field", timeout=45)
def _(s):
    reset("v-ok")
    png = base64.b64encode(png_bytes(32, 32)).decode()
    p = Problems()
    for fields, want in ((dict(fps=30), ["fps"]), (dict(fps=24), None),
                         (dict(size="1000x700"), ["size"]), (dict(size="1920x1080"), None),
                         (dict(size="960x540"), None),
                         (dict(size="640x480", image=png), ["size"]),
                         (dict(metadata={"negative_prompt": "blur"}), ["metadata.negative_prompt"]),
                         (dict(metadata={"last_frame_url": "https://x.example/a.png"}),
                          ["metadata.last_frame_url"])):
        with p.case(str(fields)):
            v = s.create(model="v-ok", prompt="params %s" % sorted(fields), **fields)
            got = ignored(v)
            if want is None:
                check(not got, "ignored_params %r for honoured fields" % (got,))
            else:
                eq(sorted(got or []), want, "ignored_params")
    for field, value in (("fps", 30), ("size", "1000x700")):
        with p.case("strict " + field):
            with s.no_new_records():
                r = s.request("POST", "/v1/videos", json={"model": "v-strict",
                                                          "prompt": "strict", field: value})
                expect_error(r, 400, param=field)
    p.done()


# ================================================================= errors

@test("vidu: AuditSubmitIllegal -> content_policy_violation, CreditInsufficient -> "
      "upstream_quota_exhausted, FieldInvalid -> upstream_rejected with Vidu's reason, a "
      "wrong key and an expired key -> upstream_auth_failed; none retried", timeout=45)
def _(s):
    cases = {"v-audit": ("400_audit", "content_policy_violation", "AuditSubmitIllegal"),
             "v-credit": ("400_credit", "upstream_quota_exhausted", "CreditInsufficient"),
             "v-field": ("400_field", "upstream_rejected", "movement_amplitude"),
             "v-badkey": (None, "upstream_auth_failed", "credentials"),
             "v-expired": (None, "upstream_auth_failed", "credentials")}
    reset(*cases)
    for n, (mode, _, _) in cases.items():
        if mode:
            fk(n).scenario(submit=mode, count=1)
    fk("v-expired").scenario(auth="expired")
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
    p.done()
    s.db_check()


@test("vidu: 429 QuotaExceeded (Retry-After 2) x2, 429 TooManyRequests x2 and 500 x2 on "
      "create are waited out: one task each, completed", timeout=60)
def _(s):
    modes = {"v-quota": "429_quota", "v-tmr": "429_tmr", "v-500": "500"}
    reset(*modes)
    for n, mode in modes.items():
        fk(n).scenario(submit=mode, count=2, retry_after=2 if n == "v-quota" else None)
    t0 = {n: time.time() for n in modes}
    vids = {n: s.create(model=n, prompt="retried on " + n)["id"] for n in modes}
    done = wait_all(s, vids.values())
    p = Problems()
    for n, vid in vids.items():
        with p.case(n):
            expect_completed(*done[vid])
            j = jobs(n)
            eq((j["creates_received"], j["creates_accepted"]), (3, 1), "creates received, made")
            if n == "v-quota":
                made = made_at(j["tasks"][0]) - t0[n]
                check(made >= 3, "Retry-After: 2 twice not honoured: made %.1f s after the "
                      "create" % made)
            download(s, vid)
    p.done()
    s.db_check()


@test("vidu: polls answered by 500, 429, invalid JSON or a reset twice -> completed",
      timeout=60)
def _(s):
    modes = {"v-p500": "500", "v-p429": "429_tmr", "v-pbad": "invalid_json", "v-preset": "reset"}
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


@test("vidu: failed with CreationPolicyViolation -> content_policy_violation; failed "
      "otherwise -> generation_failed; never done -> generation_timeout (10 s); result 404 or "
      "a redirect to 10.0.0.1 -> download_failed; a redirect to another origin -> completed, "
      "no credential sent there", timeout=60)
def _(s):
    names = ("v-policy", "v-genfail", "v-never", "v-404", "v-priv", "v-redir")
    reset(*names)
    fk("v-policy").scenario(outcome="policy")
    fk("v-genfail").scenario(outcome="failed")
    fk("v-never").scenario(outcome="never")
    fk("v-404").scenario(result="404")
    fk("v-priv").scenario(result="redirect_private")
    fk("v-redir").scenario(result="redirect_other")
    t0 = time.monotonic()
    vids = {n: s.create(model=n, prompt="outcome on " + n)["id"] for n in names}
    done = wait_all(s, vids.values(), timeout=30)
    d = {n: done[v] for n, v in vids.items()}
    p = Problems()
    with p.case("v-policy"):
        expect_failed(*d["v-policy"], "content_policy_violation", "CreationPolicyViolation")
    with p.case("v-genfail"):
        expect_failed(*d["v-genfail"], "generation_failed", "InternalError")
    with p.case("v-never"):
        expect_failed(*d["v-never"], "generation_timeout")
        took = ENDED_AT[vids["v-never"]] - t0
        check(9 <= took <= 22, "failed %.1f s after creation; the deadline is 10 s" % took)
    for n in ("v-404", "v-priv"):
        with p.case(n):
            expect_failed(*d[n], "download_failed")
            no_content_files(s, vids[n])
    with p.case("v-redir"):
        expect_completed(*d["v-redir"])
        f = jobs("v-redir")["fetches"]
        eq([x["where"] for x in f], ["cdn", "cdn2"], "the download, then its redirect")
        eq([x["authorization"] for x in f], [None, None], "Authorization on the downloads")
        download(s, vids["v-redir"])
    p.done()
    s.db_check()


# ================================================== unknown outcomes, crash

@test("vidu: a create answered by a reset or invalid JSON (nothing made), one that hangs "
      "(nothing made) and one made whose answer is lost -> reconciled from the task list by "
      "payload (or, on a list without payload, by prompt and duration): exactly one Vidu task "
      "each; the lost ones are never sent again", timeout=75)
def _(s):
    cases = {"v-reset": ("reset", 2), "v-badjson": ("invalid_json", 2), "v-hang": ("hang", 2),
             "v-lost": ("hold", 1), "v-lostnp": ("hold", 1)}
    reset(*cases)
    for n, (mode, _) in cases.items():
        fk(n).scenario(submit=mode, count=1, delay=4)
    fk("v-lostnp").scenario(list_payload=False)
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
            eq(j["tasks"][0]["payload"], vids[n], "the payload that identifies it")
            download(s, vids[n])
    p.done()
    s.db_check()


@test("vidu: a lost create among more than a page (100) of tasks made around it (other "
      "payloads) -> upstream_unknown_outcome, not sent again", timeout=60)
def _(s):
    reset("v-full")
    for i in range(101):                     # another client's tasks
        c = http.client.HTTPConnection("127.0.0.1", fk("v-full").port, timeout=10)
        c.request("POST", "/ent/v2/text2video",
                  json.dumps({"model": MODEL, "prompt": "other %d" % i, "duration": 2,
                              "payload": "theirs-%d" % i}),
                  {"Authorization": "Token " + KEY, "Content-Type": "application/json"})
        eq(c.getresponse().status, 200, "a task made directly")
        c.close()
    fk("v-full").scenario(submit="hang", count=1, delay=4)
    v = s.create(model="v-full", prompt="lost in a crowd")
    done, hist = s.wait_video(v["id"], timeout=30)
    expect_failed(done, hist, "upstream_unknown_outcome", "not sent again")
    eq(jobs("v-full")["creates_received"], 102, "creates (the lost one was not resent)")
    s.db_check()


@test("vidu: kill -9 of the dispatcher while a create it sent is held by Vidu -> the new "
      "dispatcher reconciles by payload: one task, completed", timeout=75)
def _(s):
    reset("v-crash")
    fk("v-crash").scenario(submit="hold", delay=8, count=1)
    v = s.create(model="v-crash", prompt="survives its dispatcher")
    wait_until(lambda: tasks_of("v-crash"), 15, interval=0.1, what="the task at the fake")
    old = s.dispatcher_pid()
    check(old, "no live dispatcher")
    os.kill(old, signal.SIGKILL)
    new = wait_until(lambda: (s.dispatcher_pid() not in (None, old)) and s.dispatcher_pid(), 15,
                     interval=0.1, what="a new dispatcher")
    check(alive(new) and new in children(s.master_pid()), "no new dispatcher under the master")
    done = wait_all(s, [v["id"]], timeout=VIDEO_BOUND, strict=False)
    expect_completed(*done[v["id"]])
    j = jobs("v-crash")
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


@test("vidu: DELETE of a video whose Vidu task is queueing -> Vidu gets POST .../cancel, the "
      "task ends failed/UserCancelled (db cancels: cancelled); of one whose task is processing "
      "-> Vidu refuses, kept as refused with Vidu's reason", timeout=60)
def _(s):
    reset("v-cancel")
    fk("v-cancel").scenario(outcome="stay_queued")
    a = s.create(model="v-cancel", prompt="queued, then unwanted")
    ta = wait_until(lambda: tasks_of("v-cancel"), 15, interval=0.1, what="the task")[0]
    eq(s.request("DELETE", "/v1/videos/" + a["id"]).status, 200, "DELETE")
    e = cancel_entry(s, a["id"])
    eq((e[0], e[1], e[2]), ("cancelled", "v-cancel", ta["id"]), "the cancel entry")
    eq([(t["state"], t["err_code"]) for t in tasks_of("v-cancel")], [("failed", "UserCancelled")],
       "the task at Vidu")
    eq(jobs("v-cancel")["cancels"], 1, "cancels at Vidu")
    fk("v-cancel").scenario(outcome="never")
    b = s.create(model="v-cancel", prompt="running, then unwanted")
    tb = wait_until(lambda: [t for t in tasks_of("v-cancel") if t["state"] == "processing"], 15,
                    interval=0.1, what="the task to run")[0]
    eq(s.request("DELETE", "/v1/videos/" + b["id"]).status, 200, "DELETE")
    e = cancel_entry(s, b["id"])
    eq((e[0], e[2]), ("refused", tb["id"]), "the cancel entry")
    check("can not cancel" in e[4], "Vidu's reason is not kept: %r" % e[4])
    eq(jobs("v-cancel")["cancels"], 2, "cancels at Vidu")
    s.db_check()


@test("vidu: a public model on vidu then an openai-compatible backend: Vidu answers 503 to "
      "every create -> the task fails over and completes there", timeout=60)
def _(s):
    reset("v-fo", "o-fo")
    fk("v-fo").scenario(submit="503", count=None)
    v = s.create(model="v-fo", prompt="fails over", size="320x180", seconds="2")
    done, hist = s.wait_video(v["id"], timeout=VIDEO_BOUND)
    expect_completed(done, hist)
    j = jobs("v-fo")
    check(j["creates_received"] >= 1, "the create never reached Vidu")
    eq(j["creates_accepted"], 0, "tasks made at Vidu")
    o = fk("o-fo").jobs()
    eq([x["idempotency_key"] for x in o["jobs"] if x["video_id"]], [v["id"]],
       "the openai upstream's video")
    download(s, v["id"])
    s.db_check()


# ============================================================== characters

@test("vidu operations per model: viduq2 and vidu2.0 take characters, viduq3-pro does not; "
      "none edits or extends (GET /v1/models/{id})", timeout=20)
def _(s):
    for m, want in (("v-ops", ["create", "remix", "characters"]),
                    ("v-20", ["create", "remix", "characters"]), ("v-q3", ["create", "remix"])):
        eq(operations(s, m), want, "operations of " + m)


@test("vidu characters: metadata.character_ids -> reference2video whose images are the "
      "characters' stored first frames as data: URLs (after the input image when there is "
      "one); viduq3-pro and an edit are 400 unsupported_operation naming the model; more "
      "images than vidu2.0 takes, or a last frame, a 400; nothing sent for the refusals",
      timeout=90)
def _(s):
    reset("v-ops")
    (a, pa), (b, pb) = make_character(s, "Ada"), make_character(s, "Grace")
    png = png_bytes(64, 64, (200, 30, 30))
    v = s.create(model="v-ops", prompt="two friends on a bench", seconds="4", size="1280x720",
                 metadata={"character_ids": "%s,%s" % (a, b)})
    w = s.create(model="v-ops", prompt="a friend and a picture", seconds="4",
                 image=base64.b64encode(png).decode(), metadata={"character_ids": b})
    done = wait_all(s, [v["id"], w["id"]])
    for x in (v, w):
        expect_completed(*done[x["id"]])
    by_prompt = {t["body"]["prompt"]: t for t in tasks_of("v-ops")}
    t = by_prompt["two friends on a bench"]
    eq(t["endpoint"], "reference2video", "endpoint")
    eq(t["body"]["images"], [data_uri("image/png", pa), data_uri("image/png", pb)],
       "images: the characters' first frames")
    eq((t["body"]["model"], t["body"]["aspect_ratio"], t["body"]["duration"], t["body"]["payload"]),
       ("viduq2", "16:9", 4, v["id"]), "model, aspect_ratio, duration, payload")
    t = by_prompt["a friend and a picture"]
    eq(t["endpoint"], "reference2video", "endpoint with an image")
    eq(t["body"]["images"], [data_uri("image/png", png), data_uri("image/png", pb)],
       "images: the input image, then the character")
    c, _ = make_character(s, "Linus")
    d, _ = make_character(s, "Barbara")
    n = len(tasks_of("v-ops"))
    with s.no_new_records():
        refused(s.request("POST", "/v1/videos", json={
            "model": "v-q3", "prompt": "q3", "metadata": {"character_ids": a}}),
            "v-q3", "unsupported_operation", "v-ops", param="metadata.character_ids")
        refused(s.request("POST", "/v1/videos", json={
            "model": "v-20", "prompt": "too many", "metadata": {
                "character_ids": ",".join((a, b, c, d))}}),
            "v-20", "unsupported_value", "at most 3", param="metadata.character_ids")
        refused(s.request("POST", "/v1/videos", json={
            "model": "v-ops", "prompt": "last", "image": base64.b64encode(png).decode(),
            "metadata": {"character_ids": a,
                         "last_frame_url": "https://images.example.com/z.png"}}),
            "v-ops", "unsupported_value", "last_frame_url")
        refused(edit(s, v["id"]), "v-ops", "unsupported_operation", "video edits", param=None)
    eq(len(tasks_of("v-ops")), n, "tasks at Vidu after the refusals")
    three = s.create(model="v-20", prompt="three on vidu2.0", seconds="4",
                     metadata={"character_ids": ",".join((a, b, c))})
    expect_completed(*wait_all(s, [three["id"]])[three["id"]])
    eq(len(by_prompt_of("v-ops", "three on vidu2.0")["body"]["images"]), 3, "vidu2.0's images")
    s.db_check()


def by_prompt_of(name, prompt):
    got = [t for t in tasks_of(name) if t["body"].get("prompt") == prompt]
    eq(len(got), 1, "tasks with the prompt %r" % prompt)
    return got[0]


@test("vidu: the API keys appear in no log, no database file and no answer", timeout=30)
def _(s):
    check(len(s.bodies) > 30, "only %d answers recorded" % len(s.bodies))
    leaks = s.secret_leaks({"the Vidu key": KEY, "the wrong Vidu key": WRONG_KEY,
                            "the openai key": OPENAI_KEY})
    check(not leaks, "secrets found:\n" + "\n".join(leaks))


if __name__ == "__main__":
    sys.exit(suite.main(shared=True, workers=2, configure=configure, env={"VIDU_KEY": KEY},
                        content={"delivery": "x-accel-redirect", "retention_seconds": 3600}))
