#!/usr/bin/env python3
"""The runway backend end to end: real nginx and reelgate processes, with
tests/fakes/fake_runway.py (the Runway API v1, strict) on loopback ports.

Every scenario has its own fake (a backend and a model of the same name), so
scenarios run at once and a fake's /_fake/jobs shows exactly what reelgate
sent for that scenario.  Videos are small (320x180, 24 fps, 2 to 8 s).
Runway echoes no client reference and lists no tasks, so a create of unknown
outcome is never resent unless the backend sets resubmit_unknown.  The last
test looks for the API keys in every log, the database and every answer.
"""
import base64
import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FakeServer, Suite, alive, check, eq, expect_error,  # noqa: E402
                     png_bytes, wait_until)
from test_backends import (Problems, download, expect_completed, expect_failed,  # noqa: E402
                           ignored, no_content_files, wait_all, create_form, check_mp4,
                           ENDED_AT)
from ops_refs import (data_uri, edit, make_character, make_clip, operations,  # noqa: E402
                      refused)

suite = Suite()
test = suite.test

BOUND = 45
KEY = "key_" + os.urandom(24).hex()
OPENAI_KEY = "sk-fo-" + os.urandom(16).hex()
WRONG_KEY = "key_wrong" + os.urandom(16).hex()

# one fake per scenario; the backend and the model of the same name use it
NAMES = ("r-ok", "r-429", "r-503", "r-502", "r-safe-in", "r-credits", "r-daily", "r-invalid",
         "r-badkey", "r-expired", "r-p500", "r-p429", "r-pbad", "r-preset", "r-throttle",
         "r-safe-out", "r-internal", "r-asset", "r-never", "r-404", "r-redir", "r-priv",
         "r-garbage", "r-hang", "r-lost", "r-resub", "r-crash", "r-crash-resub", "r-cancel",
         "r-fo", "r-ops")
FAKES = {}
# the Runway model each scenario's public model maps to (gen4.5 unless named)
RUNWAY_MODEL = {"r-veo": "veo3.1", "r-turbo": "gen4_turbo", "r-veo3": "veo3"}
# edits and characters: Runway models that run them, on r-ops's fake
OPS_MODEL = {"r-sd2": "seedance2", "r-gem": "gemini_omni_flash", "r-aleph": "aleph2",
             "r-ops": "gen4.5"}


def fk(name):
    return FAKES[name]


def jobs(name):
    return fk(name).jobs()


def backend(fake, **extra):
    return dict({"type": "runway", "base_url": fk(fake).url + "/v1",
                 "api_key_env": "RUNWAY_KEY", "poll_seconds": 1,
                 "allow_addresses": ["127.0.0.1"], "max_retries": 3, "concurrency": 2}, **extra)


def model(backends, rmodel="gen4.5", deadline=1800):
    return {"backends": [{"backend": b, "model": rmodel if b.startswith("r-") else "sora-2"}
                         for b in backends],
            "seconds": {"min": 2, "max": 12}, "default_seconds": 2, "default_size": "1280x720",
            "sizes": {"max_width": 1920, "max_height": 1920}, "default_fps": 24, "max_fps": 60,
            "deadline_seconds": deadline}


def configure(cfg):
    if not FAKES:
        fakes = {n: FakeServer("runway", "--api-key", KEY, "--step-seconds", "0.4")
                 for n in NAMES}
        fakes["o-fo"] = FakeServer("openai", "--api-key", OPENAI_KEY, "--step-seconds", "0.4")
        FakeServer.start_all(fakes.values())
        FAKES.update(fakes)
    b = {n: backend(n) for n in NAMES}
    b["r-ok"]["concurrency"] = 6
    for alias in RUNWAY_MODEL:               # other Runway models, on r-ok's fake
        b[alias] = backend("r-ok")
    for alias in OPS_MODEL:
        b[alias] = backend("r-ops")
    b["r-strict"] = backend("r-ok", strict_params=True)
    b["r-badkey"] = dict(backend("r-badkey"), api_key=WRONG_KEY)
    del b["r-badkey"]["api_key_env"]
    for n in ("r-hang", "r-lost", "r-resub", "r-garbage"):
        b[n]["request_timeout_seconds"] = 2
    for n in ("r-resub", "r-crash-resub"):
        b[n]["resubmit_unknown"] = True
    b["r-cancel"]["concurrency"] = 1
    b["o-fo"] = {"type": "openai", "base_url": fk("o-fo").url + "/v1", "api_key": OPENAI_KEY,
                 "encoding": "multipart", "poll_seconds": 1, "allow_addresses": ["127.0.0.1"],
                 "max_retries": 3, "concurrency": 2}
    cfg["backends"].update(b)
    for n in b:
        cfg["models"][n] = model([n], OPS_MODEL.get(n, RUNWAY_MODEL.get(n, "gen4.5")),
                                 10 if n == "r-never" else 1800)
    cfg["models"]["r-fo"] = model(["r-fo", "o-fo"])
    cfg["default_model"] = "r-aleph"       # where an uploaded clip is edited
    cfg["limits"]["max_body_bytes"] = 24 << 20   # a clip over Runway's 16 MB data: URI
    cfg["limits"]["max_output_bytes"] = 4 << 20


def reset(*names):
    for n in names:
        fk(n).reset()


# ================================================================ mapping

@test("runway: t2v (gen4.5: promptText, ratio, duration, seed, contentModeration from "
      "metadata.publicFigureThreshold, model not overridable), a tall size, i2v on gen4_turbo (a data: URI) and "
      "gen4.5 (the caller's https URL), veo3.1 (negativePrompt, duration 6, audio), n=2; "
      "Bearer key and X-Runway-Version on every API request; the signed result downloaded "
      "without the key", timeout=90)
def _(s):
    reset("r-ok")
    png = png_bytes(64, 64, (10, 200, 90))
    url = "https://images.example.com/reelgate/cat.png"
    t2v = s.create(model="r-ok", prompt="a red fox in the snow", seconds="4", size="1280x720",
                   seed=77, metadata={"publicFigureThreshold": "low",
                                      "model": "gen4_turbo", "audio": True, "owner": "x"})
    tall = s.create(model="r-ok", prompt="a tall waterfall", size="720x1280")
    up = create_form(s, "r-turbo", "the picture comes alive", png, seconds="2")
    by_url = s.create(model="r-ok", prompt="the linked picture moves",
                      input_reference={"image_url": url})
    veo = s.create(model="r-veo", prompt="a drone over hills", seconds="6", size="1920x1080",
                   metadata={"negative_prompt": "blur", "audio": False})
    two = s.create(model="r-ok", prompt="twins", n=2)
    pair = (two["metadata"] or {}).get("video_ids") or []
    eq(len(pair), 2, "metadata.video_ids of n=2")
    for v in (t2v, tall, up, by_url, veo):
        check(not ignored(v), "%s: nothing to ignore, yet %r" % (v["id"], ignored(v)))
    done = wait_all(s, [v["id"] for v in (t2v, tall, up, by_url, veo)] + pair)
    j = jobs("r-ok")
    by_text = {}
    for t in j["tasks"]:
        by_text.setdefault(t["body"].get("promptText"), []).append(t)
    b64 = base64.b64encode(png).decode()
    want = {
        t2v["id"]: ("a red fox in the snow", "text_to_video",
                    {"model": "gen4.5", "promptText": "a red fox in the snow",
                     "ratio": "1280:720", "duration": 4, "seed": 77,
                     "contentModeration": {"publicFigureThreshold": "low"}}),
        tall["id"]: ("a tall waterfall", "text_to_video",
                     {"model": "gen4.5", "promptText": "a tall waterfall", "ratio": "720:1280",
                      "duration": 2}),
        up["id"]: ("the picture comes alive", "image_to_video",
                   {"model": "gen4_turbo", "promptText": "the picture comes alive",
                    "promptImage": "data:image/png;base64," + b64, "ratio": "1280:720",
                    "duration": 2}),
        by_url["id"]: ("the linked picture moves", "image_to_video",
                       {"model": "gen4.5", "promptText": "the linked picture moves",
                        "promptImage": url, "ratio": "1280:720", "duration": 2}),
        veo["id"]: ("a drone over hills", "text_to_video",
                    {"model": "veo3.1", "promptText": "a drone over hills", "ratio": "1920:1080",
                     "duration": 6, "negativePrompt": "blur", "audio": False}),
    }
    p = Problems()
    for vid, (text, ep, body) in want.items():
        with p.case(text):
            expect_completed(*done[vid])
            got = by_text.get(text, [])
            eq(len(got), 1, "Runway tasks with this prompt")
            eq(got[0]["endpoint"], ep, "the endpoint")
            eq(got[0]["body"], body, "the body Runway got")
            data = download(s, vid)
            check_mp4(s, vid, data, 320, 180, 24, body["duration"] * 24)
    with p.case("n=2"):
        for vid in pair:
            expect_completed(*done[vid])
        eq(len(by_text.get("twins", [])), 2, "Runway tasks for n=2")
    with p.case("downloads"):
        f = j["fetches"]
        eq(len([x for x in f if x["where"] == "out"]), 7, "downloads of the signed URLs")
        eq([x for x in f if x["authorization"] or x["version"]], [],
           "downloads that carried Runway's headers")
        eq(j["auth_failures"], 0, "requests the fake refused for their headers")
    p.done()
    s.db_check()


@test("runway: ignored_params (fps 30, a size that is no ratio of the model, seconds that "
      "are no duration of veo3.1, a seed on veo3.1, metadata.negative_prompt on gen4.5); "
      "gen4_turbo without an image -> unsupported_value; strict_params -> 400 naming the "
      "field", timeout=60)
def _(s):
    reset("r-ok")
    p = Problems()
    for m, fields, want in (("r-ok", dict(fps=30), ["fps"]), ("r-ok", dict(fps=24), None),
                            ("r-ok", dict(size="1000x700"), ["size"]),
                            ("r-veo", dict(size="1080x1920"), None),
                            ("r-veo", dict(seconds="5"), ["seconds"]),
                            ("r-veo", dict(seed=5), ["seed"]),
                            ("r-ok", dict(metadata={"negative_prompt": "blur"}),
                             ["metadata.negative_prompt"])):
        with p.case("%s %s" % (m, fields)):
            v = s.create(model=m, prompt="params %s" % sorted(fields), **fields)
            got = ignored(v)
            if want is None:
                check(not got, "ignored_params %r for honoured fields" % (got,))
            else:
                eq(sorted(got or []), want, "ignored_params")
    with p.case("nearest"):
        v = s.create(model="r-veo", prompt="nearest duration", seconds="5", size="1000x700")
        done, hist = s.wait_video(v["id"], timeout=BOUND)
        expect_completed(done, hist)
        body = [t for t in jobs("r-ok")["tasks"]
                if t["body"].get("promptText") == "nearest duration"][0]["body"]
        eq((body["duration"], body["ratio"]), (4, "1280:720"), "the nearest duration, ratio")
    with p.case("gen4_turbo t2v"):
        v = s.create(model="r-turbo", prompt="no image")
        done, hist = s.wait_video(v["id"], timeout=20)
        expect_failed(done, hist, "unsupported_value", "image")
    for field, value in (("fps", 30), ("size", "1000x700")):
        with p.case("strict " + field):
            with s.no_new_records():
                r = s.request("POST", "/v1/videos", json={"model": "r-strict",
                                                          "prompt": "strict", field: value})
                expect_error(r, 400, param=field)
    p.done()


# ================================================================= errors

@test("runway: SAFETY.INPUT (the task fails at once) -> content_policy_violation; no credits "
      "(400) and the daily cap (429) -> upstream_quota_exhausted; a body Runway refuses -> "
      "upstream_rejected with its issue; a wrong or expired key -> upstream_auth_failed; none "
      "retried", timeout=45)
def _(s):
    cases = {"r-safe-in": ("content_policy_violation", "SAFETY.INPUT"),
             "r-credits": ("upstream_quota_exhausted", "credits"),
             "r-daily": ("upstream_quota_exhausted", "daily"),
             "r-invalid": ("upstream_rejected", "Invalid enum value"),
             "r-badkey": ("upstream_auth_failed", "credentials"),
             "r-expired": ("upstream_auth_failed", "credentials")}
    reset(*cases)
    fk("r-safe-in").scenario(outcome="safety_input")
    fk("r-credits").scenario(submit="credits", count=1)
    fk("r-daily").scenario(submit="429_daily", count=1)
    fk("r-expired").scenario(auth="expired")
    vids = {n: s.create(model=n, prompt="refused on " + n,
                        **({"metadata": {"ratio": "999:1"}} if n == "r-invalid" else {}))["id"]
            for n in cases}
    done = wait_all(s, vids.values(), timeout=25)
    p = Problems()
    for n, (code, frag) in cases.items():
        with p.case(n):
            expect_failed(*done[vids[n]], code, frag)
            j = jobs(n)
            eq((j["creates_received"], j["creates_accepted"]),
               (1, 1 if n == "r-safe-in" else 0), "creates received, made")
            check(KEY not in done[vids[n]][0]["error"]["message"], "the key in the message")
            no_content_files(s, vids[n])
    s.db_check()


@test("runway: 429 (Retry-After 2) x2, 503 x2 and 502 x2 on create are waited out: one task "
      "each, completed", timeout=60)
def _(s):
    modes = {"r-429": "429", "r-503": "503", "r-502": "502"}
    reset(*modes)
    for n, mode in modes.items():
        fk(n).scenario(submit=mode, count=2, retry_after=2 if n == "r-429" else None)
    t0 = time.time()
    vids = {n: s.create(model=n, prompt="retried on " + n)["id"] for n in modes}
    done = wait_all(s, vids.values())
    p = Problems()
    for n, vid in vids.items():
        with p.case(n):
            expect_completed(*done[vid])
            j = jobs(n)
            eq((j["creates_received"], j["creates_accepted"]), (3, 1), "creates received, made")
            if n == "r-429":
                made = j["tasks"][0]["createdAt"]
                tm = time.mktime(time.strptime(made[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
                check(tm - t0 >= 3, "Retry-After: 2 twice not honoured (%.1f s)" % (tm - t0))
            download(s, vid)
    p.done()
    s.db_check()


@test("runway: polls answered by 500, 429, invalid JSON or a reset twice -> completed; "
      "THROTTLED for 3 polls is a wait, not an error", timeout=60)
def _(s):
    modes = {"r-p500": "500", "r-p429": "429", "r-pbad": "invalid_json", "r-preset": "reset"}
    reset(*modes, "r-throttle")
    for n, mode in modes.items():
        fk(n).scenario(poll=mode, count=2)
    fk("r-throttle").scenario(throttled=3)
    vids = {n: s.create(model=n, prompt="polls on " + n)["id"] for n in list(modes) +
            ["r-throttle"]}
    done = wait_all(s, vids.values())
    p = Problems()
    for n, vid in vids.items():
        with p.case(n):
            expect_completed(*done[vid])
            j = jobs(n)
            eq(j["creates_accepted"], 1, "tasks")
            check(j["polls"] >= (5 if n == "r-throttle" else 3), "%d polls" % j["polls"])
            download(s, vid)
    p.done()
    s.db_check()


@test("runway: FAILED with SAFETY.OUTPUT -> content_policy_violation, INTERNAL.BAD_OUTPUT -> "
      "generation_failed, ASSET.INVALID -> upstream_rejected; never done -> generation_timeout "
      "(10 s); result 404 or a redirect to 10.0.0.1 -> download_failed; a redirect to another "
      "origin -> completed, no credential sent there", timeout=60)
def _(s):
    names = ("r-safe-out", "r-internal", "r-asset", "r-never", "r-404", "r-priv", "r-redir")
    reset(*names)
    fk("r-safe-out").scenario(outcome="safety_output")
    fk("r-internal").scenario(outcome="internal")
    fk("r-asset").scenario(outcome="asset")
    fk("r-never").scenario(outcome="never")
    fk("r-404").scenario(result="404")
    fk("r-priv").scenario(result="redirect_private")
    fk("r-redir").scenario(result="redirect_other")
    t0 = time.monotonic()
    vids = {n: s.create(model=n, prompt="outcome on " + n)["id"] for n in names}
    done = wait_all(s, vids.values(), timeout=30)
    d = {n: done[v] for n, v in vids.items()}
    p = Problems()
    for n, code, frag in (("r-safe-out", "content_policy_violation", "SAFETY.OUTPUT.VIDEO"),
                          ("r-internal", "generation_failed", "INTERNAL.BAD_OUTPUT"),
                          ("r-asset", "upstream_rejected", "ASSET.INVALID")):
        with p.case(n):
            expect_failed(*d[n], code, frag)
            eq(jobs(n)["creates_received"], 1, "creates (not retried)")
    with p.case("r-never"):
        expect_failed(*d["r-never"], "generation_timeout")
        took = ENDED_AT[vids["r-never"]] - t0
        check(9 <= took <= 22, "failed %.1f s after creation; the deadline is 10 s" % took)
    for n in ("r-404", "r-priv"):
        with p.case(n):
            expect_failed(*d[n], "download_failed")
            no_content_files(s, vids[n])
    with p.case("r-redir"):
        expect_completed(*d["r-redir"])
        f = jobs("r-redir")["fetches"]
        eq([x["where"] for x in f], ["out", "cdn"], "the download, then its redirect")
        eq([(x["authorization"], x["version"]) for x in f], [(None, None), (None, None)],
           "Runway's headers on the downloads")
        download(s, vids["r-redir"])
    p.done()
    s.db_check()


# ================================================== unknown outcomes, crash

@test("runway: no correlation exists, so a create answered with invalid JSON, one that hangs "
      "and one made whose answer is lost -> upstream_unknown_outcome, never resent; with "
      "resubmit_unknown: true the lost one is sent again and completes", timeout=60)
def _(s):
    cases = {"r-garbage": ("invalid_json", 0), "r-hang": ("hang", 0), "r-lost": ("hold", 1),
             "r-resub": ("hold", None)}
    reset(*cases)
    for n, (mode, _) in cases.items():
        fk(n).scenario(submit=mode, count=1, delay=4)
    vids = {n: s.create(model=n, prompt="unknown outcome on " + n)["id"] for n in cases}
    done = wait_all(s, vids.values(), timeout=45)
    p = Problems()
    for n, (mode, made) in cases.items():
        with p.case(n):
            j = jobs(n)
            if made is None:
                expect_completed(*done[vids[n]])
                eq((j["creates_received"], j["creates_accepted"]), (2, 2),
                   "creates (resent as configured: two Runway tasks)")
                download(s, vids[n])
            else:
                expect_failed(*done[vids[n]], "upstream_unknown_outcome")
                eq((j["creates_received"], j["creates_accepted"]), (1, made),
                   "creates received, made (never resent)")
    p.done()
    s.db_check()


@test("runway: kill -9 of the dispatcher while a create is held by Runway -> the new "
      "dispatcher does not resend it (upstream_unknown_outcome, one create); with "
      "resubmit_unknown it is resent and completes", timeout=90)
def _(s):
    names = ("r-crash", "r-crash-resub")
    reset(*names)
    for n in names:
        fk(n).scenario(submit="hold", delay=8, count=1)
    vids = {n: s.create(model=n, prompt="crash on " + n)["id"] for n in names}
    wait_until(lambda: all(jobs(n)["tasks"] for n in names), 15, interval=0.1,
               what="both fakes to make their tasks")
    old = s.dispatcher_pid()
    check(old, "no dispatcher")
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: s.dispatcher_pid() not in (None, old), 15, interval=0.1,
               what="a new dispatcher")
    check(not alive(old), "the old dispatcher lives")
    done = wait_all(s, list(vids.values()), timeout=BOUND, strict=False)
    expect_failed(*done[vids["r-crash"]], "upstream_unknown_outcome")
    eq(jobs("r-crash")["creates_received"], 1, "r-crash creates (not resent)")
    expect_completed(*done[vids["r-crash-resub"]])
    eq(jobs("r-crash-resub")["creates_received"], 2, "r-crash-resub creates (resent)")
    s.db_check()


# ========================================================== cancel, failover

def db_cancels(s):
    out = s.cli("db", "cancels").stdout.decode()
    return {f[0]: f[1:] for f in (line.split("\t") for line in out.splitlines()) if f}


def cancel_entry(s, vid):
    return wait_until(lambda: (db_cancels(s).get(vid) or [None])[0] not in (None, "pending")
                      and db_cancels(s)[vid], 20, what="the cancel entry of %s" % vid)


@test("runway: DELETE of a video whose Runway task is PENDING, then of one RUNNING -> Runway "
      "gets DELETE /v1/tasks/{id} (204) and the task is CANCELLED (db cancels: cancelled)",
      timeout=60)
def _(s):
    reset("r-cancel")
    fk("r-cancel").scenario(outcome="stay_pending")
    a = s.create(model="r-cancel", prompt="pending, then unwanted")
    ta = wait_until(lambda: jobs("r-cancel")["tasks"], 15, interval=0.1, what="the task")[0]
    eq(s.request("DELETE", "/v1/videos/" + a["id"]).status, 200, "DELETE")
    e = cancel_entry(s, a["id"])
    eq((e[0], e[1], e[2]), ("cancelled", "r-cancel", ta["id"]), "the cancel entry")
    fk("r-cancel").scenario(outcome="never")
    b = s.create(model="r-cancel", prompt="running, then unwanted")
    tb = wait_until(lambda: [t for t in jobs("r-cancel")["tasks"] if t["status"] == "RUNNING"],
                    15, interval=0.1, what="the task to run")[0]
    eq(s.request("DELETE", "/v1/videos/" + b["id"]).status, 200, "DELETE")
    e = cancel_entry(s, b["id"])
    eq((e[0], e[2]), ("cancelled", tb["id"]), "the cancel entry")
    eq(sorted(t["status"] for t in jobs("r-cancel")["tasks"]), ["CANCELLED", "CANCELLED"],
       "the tasks at Runway")
    eq(jobs("r-cancel")["deletes"], 2, "DELETEs at Runway")
    s.db_check()


@test("runway: a public model on runway then an openai-compatible backend: Runway answers "
      "503 to every create -> the task fails over and completes there", timeout=60)
def _(s):
    reset("r-fo")
    fk("o-fo").reset()
    fk("r-fo").scenario(submit="503", count=None)
    v = s.create(model="r-fo", prompt="fails over", size="320x180", seconds="2")
    done, hist = s.wait_video(v["id"], timeout=BOUND)
    expect_completed(done, hist)
    j = jobs("r-fo")
    check(j["creates_received"] >= 1, "the create never reached Runway")
    eq(j["creates_accepted"], 0, "tasks made at Runway")
    o = fk("o-fo").jobs()
    eq([x["idempotency_key"] for x in o["jobs"] if x["video_id"]], [v["id"]],
       "the openai upstream's video")
    download(s, v["id"])
    s.db_check()


# ============================================================== operations

def ops_tasks(endpoint=None):
    return [t for t in jobs("r-ops")["tasks"] if endpoint in (None, t["endpoint"])]


@test("runway operations per model: seedance2 edits and takes characters, gemini_omni_flash "
      "and aleph2 edit, gen4.5 neither (GET /v1/models/{id})", timeout=20)
def _(s):
    for m, want in (("r-sd2", ["create", "remix", "edit", "characters"]),
                    ("r-gem", ["create", "remix", "edit"]), ("r-aleph", ["create", "remix", "edit"]),
                    ("r-ops", ["create", "remix"])):
        eq(operations(s, m), want, "operations of %s (%s)" % (m, OPS_MODEL[m]))


@test("runway edit: create (seedance2) -> edit -> completed; video_to_video with promptVideo, "
      "the data: URI of exactly the source's bytes, and promptText; gemini_omni_flash's edit "
      "sends videoUri; the edit lasts as long as its source", timeout=120)
def _(s):
    reset("r-ops")
    p = Problems()
    for m, field in (("r-sd2", "promptVideo"), ("r-gem", "videoUri")):
        with p.case(m):
            src = s.create(model=m, prompt="a harbour at noon (%s)" % m, seconds="4",
                           size="1280x720")
            expect_completed(*wait_all(s, [src["id"]])[src["id"]])
            source = download(s, src["id"])
            r = edit(s, src["id"], prompt="the harbour at night (%s)" % m)
            eq(r.status, 200, "edit: %s" % r.body[:300])
            v = r.json
            eq((v["model"], v["seconds"], v["size"], v["status"]), (m, "4", "1280x720", "queued"),
               "the edit's video object")
            done = wait_all(s, [v["id"]])[v["id"]]
            expect_completed(*done)
            t = [t for t in ops_tasks("video_to_video")
                 if t["body"].get("promptText") == "the harbour at night (%s)" % m]
            eq(len(t), 1, "video_to_video tasks for the edit")
            body = t[0]["body"]
            eq(sorted(body), sorted(["model", field, "promptText"]), "the edit's fields")
            eq(body["model"], OPS_MODEL[m], "model")
            check(body[field] == data_uri("video/mp4", source),
                  "%s is not the source's bytes as a data: URI (%d chars)"
                  % (field, len(body[field])))
            check_mp4(s, v["id"], download(s, v["id"]), 320, 180, 24, 4 * 24)
    p.done()
    s.db_check()


@test("runway edit of an uploaded clip (the default model, aleph2): videoUri holds the clip's "
      "bytes; a clip over Runway's 16 MB data: URI limit is a 400 naming the model, nothing "
      "stored or sent; aleph2 cannot create", timeout=90)
def _(s):
    reset("r-ops")
    clip = make_clip(2, "320x180")
    v = s.request("POST", "/v1/videos/edits",
                  form=[("prompt", "paint it blue"), ("video", ("in.mp4", "video/mp4", clip))])
    eq(v.status, 200, "edit of a clip: %s" % v.body[:300])
    eq((v.json["model"], v.json["seconds"], v.json["size"]), ("r-aleph", "2", "320x180"),
       "the edit's video object")
    expect_completed(*wait_all(s, [v.json["id"]])[v.json["id"]])
    t = ops_tasks("video_to_video")
    eq(len(t), 1, "video_to_video tasks")
    eq(t[0]["body"], {"model": "aleph2", "videoUri": data_uri("video/mp4", clip),
                      "promptText": "paint it blue"}, "the edit's body")
    big = make_clip(1, "320x180", pad=13 << 20)
    before = s.files_under("uploads")
    with s.no_new_records():
        r = s.request("POST", "/v1/videos/edits",
                      form=[("prompt", "too big"), ("video", ("big.mp4", "video/mp4", big))])
    refused(r, "r-aleph", "unsupported_value", "16 MB", param="video")
    eq(s.files_under("uploads"), before, "uploads after the refusal")
    eq(len(ops_tasks()), 1, "tasks at Runway after the refusal")
    c = s.create(model="r-aleph", prompt="aleph2 makes nothing from text")
    f = wait_all(s, [c["id"]])[c["id"]]
    expect_failed(*f, "unsupported_value", "edits")
    eq(len(ops_tasks()), 1, "tasks at Runway after the create on aleph2")


@test("runway characters: metadata.character_ids on seedance2 -> text_to_video with "
      "references [{uri}], each the data: URI of the character's stored first frame; "
      "characters on gen4.5 and an edit of a gen4.5 video are 400 unsupported_operation "
      "naming the model; characters with an input image on seedance2 a 400", timeout=90)
def _(s):
    reset("r-ops")
    (a, pa), (b, pb) = make_character(s, "Ada"), make_character(s, "Grace")
    v = s.create(model="r-sd2", prompt="two friends on a bench", seconds="5", size="1280x720",
                 metadata={"character_ids": "%s, %s" % (a, b)})
    expect_completed(*wait_all(s, [v["id"]])[v["id"]])
    t = ops_tasks("text_to_video")
    eq(len(t), 1, "text_to_video tasks")
    eq(t[0]["body"], {"model": "seedance2", "promptText": "two friends on a bench",
                      "ratio": "1280:720", "duration": 5,
                      "references": [{"uri": data_uri("image/png", pa)},
                                     {"uri": data_uri("image/png", pb)}]}, "the create's body")
    g = s.create(model="r-ops", prompt="a gen4.5 video", seconds="2")
    expect_completed(*wait_all(s, [g["id"]])[g["id"]])
    n = len(ops_tasks())
    with s.no_new_records():
        refused(s.request("POST", "/v1/videos", json={
            "model": "r-ops", "prompt": "no characters here", "metadata": {"character_ids": a}}),
            "r-ops", "unsupported_operation", "r-sd2", param="metadata.character_ids")
        refused(edit(s, g["id"]), "r-ops", "unsupported_operation", "video edits", param=None)
        refused(s.request("POST", "/v1/videos", json={
            "model": "r-sd2", "prompt": "both", "metadata": {"character_ids": a},
            "input_reference": {"image_url": "https://images.example.com/a.png"}}),
            "r-sd2", "unsupported_value", "character_ids")
    eq(len(ops_tasks()), n, "tasks at Runway after the refusals")
    s.db_check()


@test("runway: the API keys appear in no log, no database file and no answer", timeout=30)
def _(s):
    check(len(s.bodies) > 30, "only %d answers recorded" % len(s.bodies))
    leaks = s.secret_leaks({"the Runway key": KEY, "the wrong Runway key": WRONG_KEY,
                            "the openai key": OPENAI_KEY})
    check(not leaks, "secrets found:\n" + "\n".join(leaks))


if __name__ == "__main__":
    sys.exit(suite.main(shared=True, workers=2, configure=configure, env={"RUNWAY_KEY": KEY},
                        content={"delivery": "x-accel-redirect", "retention_seconds": 3600}))
