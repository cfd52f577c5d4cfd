#!/usr/bin/env python3
"""The luma backend end to end: real nginx and reelgate processes, with
tests/fakes/fake_luma.py (Luma Dream Machine's generations API, strict) on
loopback ports.

Every scenario has its own fake (a backend and a model of the same name, see
NAMES / backend_specs()), so the tests run several scenarios at once and a
fake's /_fake/jobs shows exactly what reelgate sent for that scenario.
Videos are small (320x180, 24 fps, 5 or 9 s).  Every wait is bounded; tests
end with `reelgate db check`.  The last test looks for the API keys in every
log, the database and every answer.
"""
import base64
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
import ops_refs  # noqa: E402
from harness import (ANY, FakeServer, Suite, alive, check, children, eq,  # noqa: E402
                     expect_error, expect_video, png_bytes, wait_until)
from test_backends import (Problems, download, expect_completed, expect_failed,  # noqa: E402
                           ignored, no_content_files, wait_all, create_form, check_mp4,
                           ENDED_AT)

suite = Suite()
test = suite.test

VIDEO_BOUND = 45
KEY = "luma-it-" + secrets.token_hex(16)
OPENAI_KEY = "sk-fo-" + secrets.token_hex(16)
WRONG_KEY = "luma-wrong-" + secrets.token_hex(16)
MODEL = "ray-2"
FIELDS = {"model", "prompt", "aspect_ratio", "resolution", "duration", "loop", "keyframes",
          "concepts", "callback_url", "generation_type"}

NAMES = ("l-ok", "l-429", "l-503", "l-500", "l-mod", "l-credits", "l-param", "l-badkey",
         "l-expired", "l-p500", "l-p429", "l-pbad", "l-preset", "l-failed", "l-fmod", "l-never",
         "l-404", "l-redir", "l-priv", "l-reset", "l-badjson", "l-lost", "l-hang", "l-full",
         "l-crash", "l-cancel", "l-fo", "l-ops")
FAKES = {}


def fk(name):
    return FAKES[name]


def backend(fake, **extra):
    return dict({"type": "luma", "base_url": fk(fake).url + "/dream-machine/v1",
                 "api_key_env": "LUMA_KEY", "poll_seconds": 1, "allow_addresses": ["127.0.0.1"],
                 "max_retries": 3, "concurrency": 2}, **extra)


def model(backends, deadline=1800):
    return {"backends": [{"backend": b, "model": MODEL if b.startswith("l-") else "sora-2"}
                         for b in backends],
            "seconds": {"min": 2, "max": 12}, "default_seconds": 5, "default_size": "1280x720",
            "sizes": {"max_width": 3840, "max_height": 3840}, "default_fps": 24, "max_fps": 60,
            "deadline_seconds": deadline}


def backend_specs():
    b = {n: backend(n) for n in NAMES}
    b["l-ok"]["concurrency"] = 6
    b["l-strict"] = backend("l-ok", strict_params=True)
    b["l-badkey"] = dict(backend("l-badkey"), api_key=WRONG_KEY)
    del b["l-badkey"]["api_key_env"]
    for n in ("l-lost", "l-hang", "l-full"):
        b[n]["request_timeout_seconds"] = 2
    b["l-cancel"]["concurrency"] = 1
    b["o-fo"] = {"type": "openai", "base_url": fk("o-fo").url + "/v1", "api_key": OPENAI_KEY,
                 "encoding": "multipart", "poll_seconds": 1, "allow_addresses": ["127.0.0.1"],
                 "max_retries": 3, "concurrency": 2}
    return b


def configure(cfg):
    if not FAKES:
        fakes = {n: FakeServer("luma", "--api-key", KEY, "--step-seconds", "0.4")
                 for n in NAMES}
        fakes["o-fo"] = FakeServer("openai", "--api-key", OPENAI_KEY, "--step-seconds", "0.4")
        FakeServer.start_all(fakes.values())
        FAKES.update(fakes)
    backends = backend_specs()
    cfg["backends"].update(backends)
    for n in backends:
        cfg["models"][n] = model([n], 10 if n == "l-never" else 1800)
    cfg["models"]["l-fo"] = model(["l-fo", "o-fo"])
    # operations: ray-2 edits and extends, ray-1-6 only extends; a model of
    # two Luma backends starts nothing from a video one of them did not make
    cfg["backends"]["l-ops2"] = backend("l-ops")
    cfg["backends"]["l-ops-strict"] = backend("l-ops", strict_params=True)
    for n in ("l-ops2", "l-ops-strict"):
        cfg["models"][n] = model([n])
    cfg["models"]["l-ops16"] = model(["l-ops"])
    cfg["models"]["l-ops16"]["backends"][0]["model"] = "ray-1-6"
    cfg["models"]["l-ops-two"] = model(["l-ops", "l-ops2"])
    cfg["default_model"] = "l-ops"     # where an uploaded clip goes
    cfg["limits"]["max_output_bytes"] = 4 << 20


def reset(*names):
    for n in names:
        fk(n).reset()


def jobs(name):
    return fk(name).jobs()


def tasks_of(name):
    return jobs(name)["tasks"]


# ================================================================ mapping

@test("luma: text-to-video (size -> aspect_ratio + resolution, seconds -> \"5s\"/\"9s\", "
      "Luma-native metadata passed through, model not overridable), image-to-video by URL "
      "(keyframes.frame0), n=2, Bearer key; the CDN result downloaded without it; an uploaded "
      "image -> unsupported_value (Luma takes URLs only), nothing sent", timeout=90)
def _(s):
    reset("l-ok")
    url = "https://images.example.com/reelgate/cat.png"
    t2v = s.create(model="l-ok", prompt="a red fox in the snow", seconds="5", size="1280x720",
                   metadata={"loop": True, "model": "ray-1-6", "resolution": 5,
                             "owner_tag": "x"})
    tall = s.create(model="l-ok", prompt="a tall waterfall", size="1080x1920", seconds="9")
    by_url = s.create(model="l-ok", prompt="the linked picture moves",
                      input_reference={"image_url": url}, size="960x540")
    two = s.create(model="l-ok", prompt="twins", n=2)
    pair = (two["metadata"] or {}).get("video_ids") or []
    eq(len(pair), 2, "metadata.video_ids of n=2")
    up = create_form(s, "l-ok", "an uploaded picture", png_bytes(64, 64, (10, 200, 90)))
    for v in (t2v, tall, by_url):
        check(not ignored(v), "%s: nothing to ignore, yet %r" % (v["id"], ignored(v)))
    done = wait_all(s, [v["id"] for v in (t2v, tall, by_url, up)] + pair)
    j = jobs("l-ok")
    by_text = {}
    for t in j["tasks"]:
        by_text.setdefault(t["body"]["prompt"], []).append(t)
    p = Problems()
    want = {
        t2v["id"]: ("a red fox in the snow", {"duration": "5s", "aspect_ratio": "16:9",
                                              "resolution": "720p", "loop": True, "model": MODEL},
                       5),
        tall["id"]: ("a tall waterfall", {"duration": "9s", "aspect_ratio": "9:16",
                                          "resolution": "1080p"}, 9),
        by_url["id"]: ("the linked picture moves",
                       {"aspect_ratio": "16:9", "resolution": "540p",
                        "keyframes": {"frame0": {"type": "image", "url": url}}}, 5),
    }
    for vid, (text, fields, secs) in want.items():
        with p.case(text):
            expect_completed(*done[vid])
            got = by_text.get(text, [])
            eq(len(got), 1, "Luma generations with this prompt")
            body = got[0]["body"]
            check(set(body) <= FIELDS, "fields Luma does not know: %s" % sorted(set(body) - FIELDS))
            for k, val in fields.items():
                eq(body.get(k), val, "body field %s" % k)
            if "keyframes" not in fields:
                check("keyframes" not in body, "keyframes without an image")
            data = download(s, vid)
            check_mp4(s, vid, data, 320, 180, 24, secs * 24)
    with p.case("n=2"):
        for vid in pair:
            expect_completed(*done[vid])
        eq(len(by_text.get("twins", [])), 2, "Luma generations for n=2")
    with p.case("upload"):
        expect_failed(*done[up["id"]], "unsupported_value", "URL only")
        eq(by_text.get("an uploaded picture"), None, "a generation for the uploaded image")
        no_content_files(s, up["id"])
    with p.case("downloads"):
        f = j["fetches"]
        eq(len([x for x in f if x["where"] == "cdn"]), 5, "downloads of the CDN URLs")
        eq([x for x in f if x["authorization"]], [], "downloads that carried a credential")
        eq(j["auth_failures"], 0, "requests the fake refused for their key")
    p.done()
    s.db_check()


@test("luma: ignored_params (seed, fps other than 24, seconds other than 5 or 9, a size that "
      "is not one of Luma's ratio and tier pairs, metadata.negative_prompt); strict_params -> "
      "400 naming the field", timeout=45)
def _(s):
    reset("l-ok")
    p = Problems()
    for fields, want in ((dict(seed=7), ["seed"]), (dict(fps=30), ["fps"]), (dict(fps=24), None),
                         (dict(seconds="4"), ["seconds"]), (dict(seconds="9"), None),
                         (dict(size="1000x700"), ["size"]), (dict(size="3840x2160"), None),
                         (dict(metadata={"negative_prompt": "blur"}), ["metadata.negative_prompt"])):
        with p.case(str(fields)):
            v = s.create(model="l-ok", prompt="params %s" % sorted(fields), **fields)
            got = ignored(v)
            if want is None:
                check(not got, "ignored_params %r for honoured fields" % (got,))
            else:
                eq(sorted(got or []), want, "ignored_params")
    for field, value in (("seed", 7), ("size", "1000x700")):
        with p.case("strict " + field):
            with s.no_new_records():
                r = s.request("POST", "/v1/videos", json={"model": "l-strict",
                                                          "prompt": "strict", field: value})
                expect_error(r, 400, param=field)
    p.done()


# ================================================================= errors

@test("luma: a moderation refusal -> content_policy_violation, insufficient credits -> "
      "upstream_quota_exhausted, a 422 -> upstream_rejected with Luma's reason, a wrong key and "
      "an expired key -> upstream_auth_failed; none retried", timeout=45)
def _(s):
    cases = {"l-mod": ("400_moderation", "content_policy_violation", "moderation"),
             "l-credits": ("400_credits", "upstream_quota_exhausted", "Insufficient credits"),
             "l-param": ("422_param", "upstream_rejected", "resolution"),
             "l-badkey": (None, "upstream_auth_failed", "credentials"),
             "l-expired": (None, "upstream_auth_failed", "credentials")}
    reset(*cases)
    for n, (mode, _, _) in cases.items():
        if mode:
            fk(n).scenario(submit=mode, count=1)
    fk("l-expired").scenario(auth="expired")
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


@test("luma: 429 (Retry-After 2) x2, 503 x2 and 500 x2 on create are waited out: one "
      "generation each, completed", timeout=60)
def _(s):
    modes = {"l-429": "429", "l-503": "503", "l-500": "500"}
    reset(*modes)
    for n, mode in modes.items():
        fk(n).scenario(submit=mode, count=2, retry_after=2 if n == "l-429" else None)
    t0 = {n: time.time() for n in modes}
    vids = {n: s.create(model=n, prompt="retried on " + n)["id"] for n in modes}
    done = wait_all(s, vids.values())
    p = Problems()
    for n, vid in vids.items():
        with p.case(n):
            expect_completed(*done[vid])
            j = jobs(n)
            eq((j["creates_received"], j["creates_accepted"]), (3, 1), "creates received, made")
            if n == "l-429":
                made = time.mktime(time.strptime(j["tasks"][0]["created_at"][:19],
                                                 "%Y-%m-%dT%H:%M:%S")) - time.timezone
                check(made - t0[n] >= 3, "Retry-After: 2 twice not honoured: made %.1f s after "
                      "the create" % (made - t0[n]))
            download(s, vid)
    p.done()
    s.db_check()


@test("luma: polls answered by 500, 429, invalid JSON or a reset twice -> completed", timeout=60)
def _(s):
    modes = {"l-p500": "500", "l-p429": "429", "l-pbad": "invalid_json", "l-preset": "reset"}
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
            eq(j["creates_accepted"], 1, "generations")
            check(j["polls"] >= 3, "%d polls" % j["polls"])
            download(s, vid)
    p.done()
    s.db_check()


@test("luma: failed -> generation_failed with failure_reason; failed for moderation -> "
      "content_policy_violation; never done -> generation_timeout (10 s); result 404 or a "
      "redirect to 10.0.0.1 -> download_failed; a redirect to another origin -> completed, no "
      "credential sent there", timeout=60)
def _(s):
    names = ("l-failed", "l-fmod", "l-never", "l-404", "l-priv", "l-redir")
    reset(*names)
    fk("l-failed").scenario(outcome="failed")
    fk("l-fmod").scenario(outcome="moderation")
    fk("l-never").scenario(outcome="never")
    fk("l-404").scenario(result="404")
    fk("l-priv").scenario(result="redirect_private")
    fk("l-redir").scenario(result="redirect_other")
    t0 = time.monotonic()
    vids = {n: s.create(model=n, prompt="outcome on " + n)["id"] for n in names}
    done = wait_all(s, vids.values(), timeout=30)
    d = {n: done[v] for n, v in vids.items()}
    p = Problems()
    with p.case("l-failed"):
        expect_failed(*d["l-failed"], "generation_failed", "Internal error")
    with p.case("l-fmod"):
        expect_failed(*d["l-fmod"], "content_policy_violation", "moderation")
    with p.case("l-never"):
        expect_failed(*d["l-never"], "generation_timeout")
        took = ENDED_AT[vids["l-never"]] - t0
        check(9 <= took <= 22, "failed %.1f s after creation; the deadline is 10 s" % took)
    for n in ("l-404", "l-priv"):
        with p.case(n):
            expect_failed(*d[n], "download_failed")
            no_content_files(s, vids[n])
    with p.case("l-redir"):
        expect_completed(*d["l-redir"])
        f = jobs("l-redir")["fetches"]
        eq([x["where"] for x in f], ["cdn", "cdn2"], "the download, then its redirect")
        eq([x["authorization"] for x in f], [None, None], "Authorization on the downloads")
        download(s, vids["l-redir"])
    p.done()
    s.db_check()


# ================================================== unknown outcomes, crash

@test("luma: a create answered by a reset or invalid JSON, one that hangs (nothing made "
      "each) and one made whose answer is lost -> reconciled from the generation list: exactly one "
      "generation each; the lost one is never sent again", timeout=75)
def _(s):
    cases = {"l-reset": ("reset", 2), "l-badjson": ("invalid_json", 2), "l-hang": ("hang", 2),
             "l-lost": ("hold", 1)}
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
            eq(j["creates_received"], creates, "creates received")
            eq(j["creates_accepted"], 1, "generations made")
            check(j["lists"] >= 1, "no generation list asked: the outcome was not reconciled")
            download(s, vids[n])
    p.done()
    s.db_check()


@test("luma: a lost create among more than a page (100) of generations made around it -> "
      "upstream_unknown_outcome, not sent again", timeout=60)
def _(s):
    reset("l-full")
    for i in range(101):                     # another client's generations
        c = http.client.HTTPConnection("127.0.0.1", fk("l-full").port, timeout=10)
        c.request("POST", "/dream-machine/v1/generations/video",
                  json.dumps({"model": MODEL, "prompt": "other %d" % i}),
                  {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"})
        eq(c.getresponse().status, 201, "a generation made directly")
        c.close()
    fk("l-full").scenario(submit="hang", count=1, delay=4)
    v = s.create(model="l-full", prompt="lost in a crowd")
    done, hist = s.wait_video(v["id"], timeout=30)
    expect_failed(done, hist, "upstream_unknown_outcome", "not sent again")
    eq(jobs("l-full")["creates_received"], 102, "creates (the lost one was not resent)")
    s.db_check()


@test("luma: kill -9 of the dispatcher while a create it sent is held by Luma -> the new "
      "dispatcher reconciles: one generation, completed", timeout=75)
def _(s):
    reset("l-crash")
    fk("l-crash").scenario(submit="hold", delay=8, count=1)
    v = s.create(model="l-crash", prompt="survives its dispatcher")
    wait_until(lambda: tasks_of("l-crash"), 15, interval=0.1, what="the generation at the fake")
    old = s.dispatcher_pid()
    check(old, "no live dispatcher")
    os.kill(old, signal.SIGKILL)
    new = wait_until(lambda: (s.dispatcher_pid() not in (None, old)) and s.dispatcher_pid(), 15,
                     interval=0.1, what="a new dispatcher")
    check(alive(new) and new in children(s.master_pid()), "no new dispatcher under the master")
    done = wait_all(s, [v["id"]], timeout=VIDEO_BOUND, strict=False)
    expect_completed(*done[v["id"]])
    j = jobs("l-crash")
    eq((j["creates_received"], j["creates_accepted"]), (1, 1), "creates received, made")
    check(j["lists"] >= 1, "the new dispatcher did not list the generations")
    download(s, v["id"])
    s.db_check()


# ========================================================== cancel, failover

def db_cancels(s):
    out = s.cli("db", "cancels").stdout.decode()
    return {f[0]: f[1:] for f in (line.split("\t") for line in out.splitlines()) if f}


def cancel_entry(s, vid):
    return wait_until(lambda: (db_cancels(s).get(vid) or [None])[0] not in (None, "pending")
                      and db_cancels(s)[vid], 20, what="the cancel entry of %s" % vid)


@test("luma: DELETE of a video whose generation is queued, and of one whose generation is "
      "dreaming -> Luma gets DELETE /generations/{id}, the generation is gone (db cancels: "
      "cancelled)", timeout=60)
def _(s):
    reset("l-cancel")
    for outcome, want in (("stay_queued", "queued"), ("never", "dreaming")):
        fk("l-cancel").scenario(outcome=outcome)
        v = s.create(model="l-cancel", prompt="%s, then unwanted" % want)
        g = wait_until(lambda: [t for t in tasks_of("l-cancel") if t["state"] == want], 15,
                       interval=0.1, what="the generation %s" % want)[0]
        eq(s.request("DELETE", "/v1/videos/" + v["id"]).status, 200, "DELETE")
        e = cancel_entry(s, v["id"])
        eq((e[0], e[1], e[2]), ("cancelled", "l-cancel", g["id"]), "the cancel entry")
        check({"id": g["id"], "state": want} in jobs("l-cancel")["deleted"],
              "the generation was not deleted at Luma while %s" % want)
    eq(tasks_of("l-cancel"), [], "generations left at Luma")
    eq(jobs("l-cancel")["deletes"], 2, "DELETEs at Luma")
    s.db_check()


@test("luma: a public model on luma then an openai-compatible backend: Luma answers 503 to "
      "every create -> the task fails over and completes there", timeout=60)
def _(s):
    reset("l-fo", "o-fo")
    fk("l-fo").scenario(submit="503", count=None)
    v = s.create(model="l-fo", prompt="fails over", size="320x180", seconds="2")
    done, hist = s.wait_video(v["id"], timeout=VIDEO_BOUND)
    expect_completed(done, hist)
    j = jobs("l-fo")
    check(j["creates_received"] >= 1, "the create never reached Luma")
    eq(j["creates_accepted"], 0, "generations made at Luma")
    o = fk("o-fo").jobs()
    eq([x["idempotency_key"] for x in o["jobs"] if x["video_id"]], [v["id"]],
       "the openai upstream's video")
    download(s, v["id"])
    s.db_check()


# ================================================================ operations

STATE = {}


def duration_of(s, vid):
    import tempfile
    from harness import ffprobe
    r = s.content(vid)
    eq(r.status, 200, "content of %s" % vid)
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(r.body)
        f.flush()
        return ffprobe(f.name)["duration"]


refused = ops_refs.refused


def derive(s, kind, vid, prompt, seconds=None):
    body = {"prompt": prompt, "video": {"id": vid}}
    if seconds is not None:
        body["seconds"] = seconds
    return s.request("POST", "/v1/videos/" + kind, json=body)


def finish(s, *vids):
    out = wait_all(s, list(vids))
    for vid in vids:
        expect_completed(*out[vid])
    return {vid: out[vid][0] for vid in vids}


def gen_of(name, prompt):
    found = [t for t in tasks_of(name) if t["body"].get("prompt") == prompt]
    eq(len(found), 1, "generations at %s with prompt %r" % (name, prompt))
    return found[0]


@test("operations of Luma models: ray-2 edits and extends, ray-1-6 only extends; none takes "
      "characters (GET /v1/models/{id})", timeout=20)
def _(s):
    eq(s.request("GET", "/v1/models/l-ops").json.get("operations"),
       ["create", "remix", "edit", "extend"], "operations of a ray-2 model")
    eq(s.request("GET", "/v1/models/l-ops16").json.get("operations"),
       ["create", "remix", "extend"], "operations of a ray-1-6 model")


@test("luma extension: create (5 s) -> extend seconds 4 -> keyframes.frame0 {type: "
      "generation, id} with duration \"5s\", made 5 s (the video object says 10 and lists "
      "seconds in ignored_params); extend that by 8 -> \"9s\", 19 s; luma edit: modify "
      "(POST /generations/video/modify) of the source's Luma URL, mode flex_1, same length",
      timeout=120)
def _(s):
    reset("l-ops")
    src = s.create(model="l-ops", prompt="a paper boat", seconds="5", size="1280x720")
    finish(s, src["id"])
    g = gen_of("l-ops", "a paper boat")
    v = expect_video(derive(s, "extensions", src["id"], "it sails on", "4"))
    eq((v["model"], v["seconds"], v["size"]), ("l-ops", "10", "1280x720"),
       "model, seconds (5 + 5) and size")
    eq(ignored(v), ["seconds"], "ignored_params: 4 asked, Luma makes 5")
    ed = expect_video(derive(s, "edits", src["id"], "make it origami"))
    eq((ed["seconds"], ignored(ed)), ("5", None), "an edit keeps the source's length")
    finish(s, v["id"], ed["id"])
    e = gen_of("l-ops", "it sails on")
    eq(e["body"], {"model": MODEL, "prompt": "it sails on", "aspect_ratio": "16:9",
                   "resolution": "720p", "duration": "5s",
                   "keyframes": {"frame0": {"type": "generation", "id": g["id"]}}},
       "the extension's create")
    m = gen_of("l-ops", "make it origami")
    eq(m["body"], {"generation_type": "modify_video", "media": {"url": g["assets"]["video"]},
                   "mode": "flex_1", "model": MODEL, "prompt": "make it origami"},
       "the edit's modify")
    check(abs(duration_of(s, v["id"]) - 10) < 0.6, "the extension lasts 10 s")
    check(abs(duration_of(s, ed["id"]) - 5) < 0.6, "the edit lasts 5 s")
    v2 = expect_video(derive(s, "extensions", v["id"], "into the sea", "8"))
    eq(v2["seconds"], "19", "10 + 9")
    finish(s, v2["id"])
    eq(gen_of("l-ops", "into the sea")["body"]["duration"], "9s", "8 is made 9 s")
    check(abs(duration_of(s, v2["id"]) - 19) < 0.6, "the second extension lasts 19 s")
    STATE["long"] = v2["id"]
    s.db_check()


@test("luma refusals are 400s naming the model: segments Luma does not make, an uploaded clip "
      "(Luma takes URLs and generation ids only), a video of another backend, an edit of a "
      "source over 10 s, an edit on ray-1-6, strict_params and the 4-for-5 length, "
      "characters; nothing reaches Luma", timeout=90)
def _(s):
    a = s.create(model="l-ops", prompt="source for refusals", seconds="5")
    two = s.create(model="l-ops-two", prompt="made on one of two backends", seconds="5")
    strict = s.create(model="l-ops-strict", prompt="strict source", seconds="5")
    r16 = s.create(model="l-ops16", prompt="a ray-1-6 source", seconds="5")
    finish(s, a["id"], two["id"], strict["id"], r16["id"])
    before = jobs("l-ops")["creates_received"]
    for seconds in ("12", "16", "20"):
        refused(derive(s, "extensions", a["id"], "x", seconds), "l-ops", "unsupported_value",
                "5 or 9 seconds", param="seconds")
    clip = ("c.mp4", "video/mp4", ops_refs.make_clip(2))
    for kind, extra in (("extensions", [("seconds", "4")]), ("edits", [])):
        r = s.request("POST", "/v1/videos/" + kind,
                      form=[("prompt", "x"), ("video", clip)] + extra)
        refused(r, "l-ops", "invalid_value", "uploaded clip", param="video")
    refused(derive(s, "edits", two["id"], "x"), "l-ops-two", "invalid_value",
            "not made by this model")
    refused(derive(s, "extensions", two["id"], "x", "4"), "l-ops-two", "invalid_value",
            "not made by this model")
    check("long" in STATE, "the extension test ran first and left a 19 s video")
    refused(derive(s, "edits", STATE["long"], "x"), "l-ops", "invalid_value",
            "at most 10 seconds")
    refused(derive(s, "edits", r16["id"], "x"), "l-ops16", "unsupported_operation",
            "video edits")
    refused(derive(s, "extensions", strict["id"], "x", "4"), "l-ops-strict",
            "unsupported_value", "adds 5 seconds")
    cid = ops_refs.make_character(s, "Ada")[0]
    r = s.request("POST", "/v1/videos", json={"model": "l-ops", "prompt": "with Ada",
                                               "metadata": {"character_ids": cid}})
    refused(r, "l-ops", "unsupported_operation", "reference")
    eq(jobs("l-ops")["creates_received"], before, "creates after the refusals")
    s.db_check()


@test("luma: the API keys appear in no log, no database file and no answer", timeout=30)
def _(s):
    check(len(s.bodies) > 30, "only %d answers recorded" % len(s.bodies))
    leaks = s.secret_leaks({"the Luma key": KEY, "the wrong Luma key": WRONG_KEY,
                            "the openai key": OPENAI_KEY})
    check(not leaks, "secrets found:\n" + "\n".join(leaks))


if __name__ == "__main__":
    sys.exit(suite.main(shared=True, workers=2, configure=configure, env={"LUMA_KEY": KEY},
                        content={"delivery": "x-accel-redirect", "retention_seconds": 3600}))
