#!/usr/bin/env python3
"""Edits and extensions on the remote modules openai and kling, end to end:
real nginx and reelgate processes, tests/fakes/fake_openai.py (its
/videos/edits and /videos/extensions) and tests/fakes/fake_kling.py (its
video-extend) on loopback ports.

A source is made on the fake upstream first; the edit or extension of it
must reach the fake exactly as the provider takes it (the upstream's id of
a video it made, or the clip itself as the file part), complete, and read
back with the stitched length.  Then what cannot run (a Kling extension of
a video Kling did not make, a length Kling cannot make, an edit on Kling,
kling-v1-5), what the upstreams refuse or fail, a lost submit, and a
delete while the upstream works.  Every scenario has its own fake (a
backend and a model of the same name) so that /_fake/jobs shows exactly
what reelgate sent for it.  Every wait is bounded; the last test looks for
the secrets everywhere.
"""
import hashlib
import http.client
import os
import secrets
import signal
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ANY, FakeServer, Suite, alive, check, eq, expect_error,  # noqa: E402
                     expect_video, wait_until)
from test_backends import (Problems, download, expect_completed, expect_failed,  # noqa: E402
                           probe, wait_all)

suite = Suite()
test = suite.test

VIDEO_BOUND = 60
AK = "AK-ops-" + secrets.token_hex(4)
KLING_SK = "SK-ops-" + secrets.token_hex(16)
OPENAI_KEY = "sk-ops-" + secrets.token_hex(16)
KLING_FAIL_MSG = "The content failed moderation"         # fake_kling.FAIL_MSG
KLING_STEP = 4.5                                         # fake_kling.EXTEND_STEP

OPENAI_FAKES = ("o-ed", "o-ed2", "o-fail", "o-lost", "o-gone")
KLING_FAKES = ("k-ext", "k-fail", "k-lost", "k-resub", "k-cancel", "k-fo", "k-crash")
FAKES = {}
TOKENS = set()            # every Kling bearer token seen, for the secrets test


def fk(name):
    return FAKES[name]


def openai_backend(fake, **extra):
    return dict({"type": "openai", "base_url": fk(fake).url + "/v1", "api_key": OPENAI_KEY,
                 "encoding": "multipart", "poll_seconds": 1, "allow_addresses": ["127.0.0.1"],
                 "max_retries": 3, "concurrency": 3}, **extra)


def kling_backend(fake, **extra):
    return dict({"type": "kling", "base_url": fk(fake).url, "access_key": AK,
                 "secret_key_env": "KLING_SK", "poll_seconds": 1,
                 "allow_addresses": ["127.0.0.1"], "max_retries": 3, "concurrency": 3}, **extra)


def model(backends, entry_model=None):
    return {"backends": [{"backend": b, "model": entry_model or
                          ("kling-v1-6" if b.startswith("k-") else "sora-2")} for b in backends],
            "seconds": {"min": 1, "max": 10}, "default_seconds": 2, "default_size": "320x180",
            "sizes": {"max_width": 1920, "max_height": 1920}, "default_fps": 12,
            "max_fps": 60, "deadline_seconds": 1800}


def configure(cfg):
    if not FAKES:
        fakes = {n: FakeServer("openai", "--api-key", OPENAI_KEY, "--step-seconds", "0.4")
                 for n in OPENAI_FAKES}
        fakes.update({n: FakeServer("kling", "--access-key", AK, "--secret-key", KLING_SK,
                                    "--step-seconds", "0.4") for n in KLING_FAKES})
        FakeServer.start_all(fakes.values())
        FAKES.update(fakes)
    b = {n: openai_backend(n) for n in OPENAI_FAKES}
    b.update({n: kling_backend(n) for n in KLING_FAKES})
    b["o-json"] = openai_backend("o-ed", encoding="json")       # the same fake, JSON bodies
    b["o-lost"]["request_timeout_seconds"] = 2
    b["k-lost"]["request_timeout_seconds"] = 2
    b["k-resub"].update(request_timeout_seconds=2, resubmit_unknown=True)
    b["k-cancel"]["concurrency"] = 1
    b["o-fo"] = openai_backend("o-ed")                           # k-fo's second
    cfg["backends"].update(b)
    for n in b:
        cfg["models"][n] = model([n])
    cfg["models"]["k-fo"] = model(["k-fo", "o-fo"])
    cfg["models"]["k-v15"] = model(["k-ext"], "kling-v1-5")
    # a clip uploaded with an edit or extension runs on the default model
    cfg["default_model"] = "o-ed"
    cfg["limits"]["max_output_bytes"] = 8 << 20


def reset(*names):
    for n in names:
        fk(n).reset()


def openai_derived(name, kind=None):
    """The edits and extensions the OpenAI fake received."""
    return [j for j in fk(name).jobs()["jobs"]
            if j["kind"] in ((kind,) if kind else ("edit", "extension"))]


def kling_tasks(name, endpoint=None):
    j = fk(name).jobs()
    TOKENS.update(t["authorization"][7:] for t in j["tokens"]
                  if (t.get("authorization") or "").startswith("Bearer "))
    return [t for t in j["tasks"] if endpoint is None or t["endpoint"] == endpoint]


def made(s, model_name, prompt, **fields):
    """A completed video of model_name."""
    v = expect_video(s.request("POST", "/v1/videos", json=dict(model=model_name, prompt=prompt,
                                                               **fields)))
    got, hist = s.wait_video(v["id"], timeout=VIDEO_BOUND)
    expect_completed(got, hist)
    return got


def edit(s, vid, prompt, key=ANY):
    return s.request("POST", "/v1/videos/edits", key=key,
                     json={"prompt": prompt, "video": {"id": vid}})


def extend(s, vid, prompt, seconds, **kw):
    return s.request("POST", "/v1/videos/extensions",
                     json={"prompt": prompt, "seconds": seconds, "video": {"id": vid}}, **kw)


def duration(s, vid):
    p = probe(s, vid, download(s, vid))
    return p["duration"], (p["width"], p["height"])


def upstream_id_of(name, vid):
    """The upstream video the OpenAI fake made for our video vid (its
    Idempotency-Key)."""
    ids = [j["video_id"] for j in fk(name).jobs()["jobs"]
           if j["idempotency_key"] == vid and j["video_id"]]
    eq(len(ids), 1, "upstream jobs of %s" % vid)
    return ids[0]


# ================================================================== models

@test("GET /v1/models: openai runs edits and extensions, kling extensions (not on kling-v1-5), "
      "neither claims characters; a model runs what all its backends run")
def _(s):
    for name, want in (("o-ed", ["create", "remix", "edit", "extend"]),
                       ("o-json", ["create", "remix", "edit", "extend"]),
                       ("k-ext", ["create", "remix", "extend"]),
                       ("k-fo", ["create", "remix", "extend"]),
                       ("k-v15", ["create", "remix"])):
        r = s.request("GET", "/v1/models/" + name)
        eq(r.status, 200, "GET /v1/models/" + name)
        eq(r.json.get("operations"), want, "operations of " + name)


# ================================================================== openai

@test("openai: an edit and an extension of a video the same upstream made go to /videos/edits "
      "and /videos/extensions with its upstream id (video[id] in a form, {\"id\"} in JSON), "
      "no model or size; they complete, the extension as long as source + segment",
      timeout=150)
def _(s):
    reset("o-ed")
    src = made(s, "o-ed", "a lighthouse at dusk", seconds="2", size="320x180")
    src_json = made(s, "o-json", "a lighthouse in JSON", seconds="2", size="320x180")
    up, up_json = upstream_id_of("o-ed", src["id"]), upstream_id_of("o-ed", src_json["id"])
    e = expect_video(edit(s, src["id"], "the same at night"))
    x = expect_video(extend(s, src["id"], "the light turns on", "4"))
    ej = expect_video(edit(s, src_json["id"], "in winter"))
    xj = expect_video(extend(s, src_json["id"], "snow falls", 8))
    eq((e["seconds"], e["size"], e["model"]), ("2", "320x180", "o-ed"), "edit as answered")
    eq((x["seconds"], x["size"]), ("6", "320x180"), "extension as answered (2 + 4)")
    eq(xj["seconds"], "10", "JSON extension as answered (2 + 8)")
    done = wait_all(s, [v["id"] for v in (e, x, ej, xj)], timeout=VIDEO_BOUND)
    p = Problems()
    for v in (e, x, ej, xj):
        with p.case("completes " + v["id"]):
            expect_completed(*done[v["id"]])
            eq(s.get(v["id"]).json["seconds"], v["seconds"], "seconds on GET")
    sent = {j["idempotency_key"]: j for j in openai_derived("o-ed")}
    for v, kind, enc, ref, fields in (
            (e, "edit", "multipart", up, {"prompt": "the same at night"}),
            (x, "extension", "multipart", up, {"prompt": "the light turns on", "seconds": "4"}),
            (ej, "edit", "json", up_json, {"prompt": "in winter"}),
            (xj, "extension", "json", up_json, {"prompt": "snow falls", "seconds": "8"})):
        with p.case("sent for %s %s" % (kind, enc)):
            j = sent.get(v["id"])
            check(j is not None, "the fake got no %s with Idempotency-Key %s: %s"
                  % (kind, v["id"], sorted(sent)))
            eq((j["kind"], j["encoding"], j["video_ref"], j["has_file"]),
               (kind, enc, ref, False), "what the upstream got")
            eq(j["fields"], fields, "the fields (no model, no size)")
            eq(j["status_code"], 200, "the upstream's answer")
    for v, want in ((e, 2), (x, 6), (xj, 10)):
        with p.case("content of " + v["id"]):
            d, size = duration(s, v["id"])
            eq(size, (320, 180), "size")
            check(abs(d - want) < 0.3, "duration %r, want %s" % (d, want))
    p.done()
    s.db_check()


@test("openai: a clip uploaded with the request (and a video another backend made) goes to the "
      "upstream as the multipart 'video' file part, byte for byte; the result is the clip's "
      "size, the extension clip + segment", timeout=150)
def _(s):
    reset("o-ed", "o-ed2")
    other = made(s, "o-ed2", "made on another upstream", seconds="3", size="320x180")
    clip = download(s, other["id"])
    # the default model (o-ed) runs an uploaded clip
    r = s.request("POST", "/v1/videos/extensions",
                  form=[("prompt", "and it goes on"), ("seconds", "4"),
                        ("video", ("clip.mp4", "video/mp4", clip))])
    x = expect_video(r)
    eq((x["model"], x["seconds"], x["size"]), ("o-ed", "7", "320x180"), "as answered")
    r = s.request("POST", "/v1/videos/edits",
                  form=[("prompt", "in black and white"), ("video", ("c.mp4", "video/mp4", clip))])
    e = expect_video(r)
    done = wait_all(s, [x["id"], e["id"]], timeout=VIDEO_BOUND)
    p = Problems()
    sent = {j["idempotency_key"]: j for j in openai_derived("o-ed")}
    for v, kind, fields in ((x, "extension", {"prompt": "and it goes on", "seconds": "4"}),
                            (e, "edit", {"prompt": "in black and white"})):
        with p.case(kind):
            expect_completed(*done[v["id"]])
            j = sent[v["id"]]
            eq((j["kind"], j["encoding"], j["video_ref"], j["has_file"]),
               (kind, "multipart", None, True), "what the upstream got")
            eq(j["fields"], fields, "text fields")
            eq((j["file"]["content_type"], j["file"]["size"]), ("video/mp4", len(clip)),
               "the file part")
            eq(j["file_sha256"], hashlib.sha256(clip).hexdigest(), "the clip's bytes")
    with p.case("lengths"):
        eq(duration(s, x["id"])[1], (320, 180), "size of the extension")
        d = duration(s, x["id"])[0]
        check(abs(d - 7) < 0.3, "extension lasts %r, want 7" % d)
    eq(openai_derived("o-ed2"), [], "the upstream that made the source got nothing")
    p.done()


@test("openai: upstream failures of edits and extensions are mapped (moderation at submit and "
      "in the job -> content_policy_violation, 429 retried)", timeout=150)
def _(s):
    reset("o-fail")
    src = made(s, "o-fail", "a calm sea", seconds="2")
    fk("o-fail").scenario(submit="400", count=1)
    a = expect_video(edit(s, src["id"], "blocked at submit"))
    wait_until(lambda: openai_derived("o-fail"), 15, what="the refused edit")
    fk("o-fail").scenario(outcome="failed", count=1)
    b = expect_video(extend(s, src["id"], "blocked in the job", "4"))
    wait_until(lambda: len(openai_derived("o-fail")) >= 2, 15, what="the failing extension")
    fk("o-fail").scenario(submit="429", count=2, retry_after=1)
    c = expect_video(extend(s, src["id"], "after the rate limit", "4"))
    done = wait_all(s, [a["id"], b["id"], c["id"]], timeout=VIDEO_BOUND)
    p = Problems()
    with p.case("submit 400 moderation"):
        expect_failed(*done[a["id"]], code="content_policy_violation")
    with p.case("job failed moderation"):
        expect_failed(*done[b["id"]], "content_policy_violation", "moderation")
    with p.case("429 twice, then made"):
        expect_completed(*done[c["id"]])
        eq(len([j for j in openai_derived("o-fail") if j["idempotency_key"] == c["id"]]), 3,
           "tries of the rate-limited extension")
    p.done()


@test("openai: a source the upstream no longer has (deleted there) -> the edit fails with the "
      "upstream's 404 as upstream_rejected", timeout=90)
def _(s):
    reset("o-gone")
    gone = made(s, "o-gone", "soon forgotten upstream", seconds="2")
    up = upstream_id_of("o-gone", gone["id"])
    conn = http.client.HTTPConnection("127.0.0.1", fk("o-gone").port, timeout=10)
    conn.request("DELETE", "/v1/videos/" + up, headers={"Authorization": "Bearer " + OPENAI_KEY})
    eq(conn.getresponse().status, 200, "delete on the fake")
    conn.close()
    v = expect_video(edit(s, gone["id"], "too late"))
    got, hist = s.wait_video(v["id"], timeout=VIDEO_BOUND)
    expect_failed(got, hist, "upstream_rejected", "404")
    j = openai_derived("o-gone")
    eq([(x["video_ref"], x["status_code"]) for x in j], [(up, 404)], "the upstream's answers")


@test("openai: an edit whose submit got no answer (the upstream made it) is found in the "
      "upstream's list by its prompt, size and length, not sent twice", timeout=120)
def _(s):
    reset("o-lost")
    src = made(s, "o-lost", "a quiet street", seconds="2")
    fk("o-lost").scenario(submit="hold", delay=4, count=1)
    v = expect_video(edit(s, src["id"], "the street at rush hour"))
    got, hist = s.wait_video(v["id"], timeout=VIDEO_BOUND, strict=False)
    expect_completed(got, hist)
    j = openai_derived("o-lost")
    eq([(x["kind"], x["scenario"]) for x in j], [("edit", "hold")], "edits the upstream got")
    eq(fk("o-lost").jobs()["edits_accepted"], 1, "jobs made upstream")


# ================================================================== kling

@test("kling: an extension of a video Kling made goes to video-extend with exactly its Kling "
      "video id and the prompt; it completes (seconds source + 4, Kling's 4-5 s step in the "
      "file) and can be extended again", timeout=150)
def _(s):
    reset("k-ext")
    src = made(s, "k-ext", "a fox in the snow", seconds="5", size="1280x720")
    t2v = kling_tasks("k-ext", "text2video")
    eq(len(t2v), 1, "text2video tasks")
    x = expect_video(extend(s, src["id"], "the fox runs off", "4"))
    eq((x["seconds"], x["model"]), ("9", "k-ext"), "as answered")
    got, hist = s.wait_video(x["id"], timeout=VIDEO_BOUND)
    expect_completed(got, hist)
    eq(s.get(x["id"]).json["seconds"], "9", "seconds on GET")
    ext = kling_tasks("k-ext", "video-extend")
    eq(len(ext), 1, "video-extend tasks")
    eq(ext[0]["body"], {"video_id": "v" + t2v[0]["task_id"], "prompt": "the fox runs off"},
       "what video-extend got")
    d, _ = duration(s, x["id"])
    check(9 <= d <= 10.2, "the extension lasts %r s: the source's 5 plus Kling's 4-5" % d)
    x2 = expect_video(extend(s, x["id"], "it comes back", 4))
    eq(x2["seconds"], "13", "an extension of an extension")
    got, hist = s.wait_video(x2["id"], timeout=VIDEO_BOUND)
    expect_completed(got, hist)
    ext = kling_tasks("k-ext", "video-extend")
    eq(ext[-1]["body"]["video_id"], "v" + ext[0]["task_id"], "extends the extension's video")
    s.db_check()


@test("kling refuses what it cannot run, before anything is sent: a video another backend "
      "made, a length other than 4, an edit -> 400 naming the model")
def _(s):
    reset("k-fo", "k-ext")
    fk("k-fo").scenario(submit="500", count=1)          # the create fails over to o-fo
    elsewhere = made(s, "k-fo", "made by the second backend", seconds="5")
    eq((fk("k-fo").jobs()["submits_received"], kling_tasks("k-fo")), (1, []),
       "Kling refused the create")
    eq(len([j for j in fk("o-ed").jobs()["jobs"] if j["idempotency_key"] == elsewhere["id"]]),
       1, "the create made by the OpenAI backend")
    mine = made(s, "k-ext", "made by Kling", seconds="5")
    before = len(kling_tasks("k-ext"))
    with s.no_new_records():
        e = expect_error(extend(s, elsewhere["id"], "more", "4"), 400, "video", "invalid_value")
        check("'k-fo'" in e["message"] and "Kling extends only videos" in e["message"],
              "message: %r" % e["message"])
        for sec in ("8", "12", "16", "20"):
            e = expect_error(extend(s, mine["id"], "more", sec), 400, "seconds",
                             "unsupported_value")
            check("'k-ext'" in e["message"] and "extension of %s seconds" % sec in e["message"]
                  and "one of: 4" in e["message"], "message: %r" % e["message"])
        e = expect_error(edit(s, mine["id"], "recolour"), 400, None, "unsupported_operation")
        check("'k-ext'" in e["message"] and "video edits" in e["message"], "message %r"
              % e["message"])
    eq(len(kling_tasks("k-ext")), before, "tasks Kling got")


@test("kling-v1-5 cannot extend (Kling: not its videos): the model lists no extend and an "
      "extension of its video is 400 unsupported_operation")
def _(s):
    v = made(s, "k-v15", "an old model's video", seconds="5")
    e = expect_error(extend(s, v["id"], "more", "4"), 400, None, "unsupported_operation")
    check("'k-v15'" in e["message"] and "video extensions" in e["message"], "message %r"
          % e["message"])


@test("kling: upstream failures of an extension are mapped (the task fails -> generation_failed "
      "with Kling's reason, 1301 -> content_policy_violation, 1302 retried)", timeout=150)
def _(s):
    reset("k-fail")
    src = made(s, "k-fail", "a river", seconds="5")
    fk("k-fail").scenario(outcome="failed")
    a = expect_video(extend(s, src["id"], "the river floods", "4"))
    wait_until(lambda: kling_tasks("k-fail", "video-extend"), 15, what="the extension")
    fk("k-fail").scenario(outcome="succeed", submit="400_1301", count=1)
    b = expect_video(extend(s, src["id"], "something Kling refuses", "4"))
    wait_until(lambda: s.get(b["id"]).json["status"] == "failed", 20, what="the refusal")
    fk("k-fail").scenario(submit="429_1302", count=2)
    c = expect_video(extend(s, src["id"], "after the rate limit", "4"))
    done = wait_all(s, [a["id"], b["id"], c["id"]], timeout=VIDEO_BOUND)
    p = Problems()
    with p.case("failed task"):
        expect_failed(*done[a["id"]], "generation_failed", KLING_FAIL_MSG)
    with p.case("1301"):
        expect_failed(*done[b["id"]], "content_policy_violation")
    with p.case("1302 twice"):
        expect_completed(*done[c["id"]])
    p.done()


@test("kling: an extension whose submit got no answer cannot be looked up (no external_task_id "
      "on video-extend): upstream_unknown_outcome, sent once; with resubmit_unknown it is sent "
      "again and completes", timeout=120)
def _(s):
    reset("k-lost", "k-resub")
    a_src = made(s, "k-lost", "a bridge", seconds="5")
    b_src = made(s, "k-resub", "a tower", seconds="5")
    for n in ("k-lost", "k-resub"):
        fk(n).scenario(submit="hold", delay=4, count=1)
    a = expect_video(extend(s, a_src["id"], "the bridge sways", "4"))
    b = expect_video(extend(s, b_src["id"], "the tower leans", "4"))
    done = wait_all(s, [a["id"], b["id"]], timeout=VIDEO_BOUND, strict=False)
    p = Problems()
    with p.case("no resubmit"):
        expect_failed(*done[a["id"]], "upstream_unknown_outcome", "video-extend",
                      "not sent again")
        eq(len(kling_tasks("k-lost", "video-extend")), 1, "extensions Kling made")
    with p.case("resubmit_unknown"):
        expect_completed(*done[b["id"]])
        eq(len(kling_tasks("k-resub", "video-extend")), 2,
           "extensions Kling made (the lost one, and the resent one)")
    p.done()


@test("kling: kill -9 the dispatcher while an extension's submit is in Kling's hands: the new "
      "dispatcher cannot look it up and fails it with upstream_unknown_outcome, never sending "
      "it twice", timeout=120)
def _(s):
    reset("k-crash")
    src = made(s, "k-crash", "a kite", seconds="5")
    fk("k-crash").scenario(submit="hold", delay=8, count=1)
    x = expect_video(extend(s, src["id"], "the kite climbs", "4"))
    wait_until(lambda: kling_tasks("k-crash", "video-extend"), 20, interval=0.1,
               what="the extension at Kling")
    old = s.dispatcher_pid()
    check(old, "no live dispatcher")
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: s.dispatcher_pid() not in (None, old), 15, interval=0.1,
               what="a new dispatcher")
    check(not alive(old), "the old dispatcher lives")
    got, hist = s.wait_video(x["id"], timeout=VIDEO_BOUND, strict=False)
    expect_failed(got, hist, "upstream_unknown_outcome", "not sent again")
    eq(len(kling_tasks("k-crash", "video-extend")), 1, "extensions Kling made")
    eq(fk("k-crash").jobs()["submits_received"], 2, "submits Kling got (the source, the extension)")


def db_cancels(s):
    out = s.cli("db", "cancels").stdout.decode()
    return {f[0]: f[1:] for f in (line.split("\t") for line in out.splitlines()) if f}


@test("delete of a running Kling extension: gone at once; Kling cannot cancel, so `db cancels` "
      "keeps its video-extend task as unsupported", timeout=90)
def _(s):
    reset("k-cancel")
    src = made(s, "k-cancel", "a balloon", seconds="5")
    fk("k-cancel").scenario(outcome="never")
    x = expect_video(extend(s, src["id"], "it floats away", "4"))
    task = wait_until(lambda: kling_tasks("k-cancel", "video-extend"), 20,
                      what="the extension at Kling")[0]
    wait_until(lambda: s.get(x["id"]).json["status"] == "in_progress", 20, what="in progress")
    r = s.request("DELETE", "/v1/videos/" + x["id"])
    eq((r.status, (r.json or {}).get("deleted")), (200, True), "DELETE")
    eq(s.get(x["id"]).status, 404, "GET after DELETE")
    e = wait_until(lambda: (db_cancels(s).get(x["id"]) or [None])[0] not in (None, "pending")
                   and db_cancels(s)[x["id"]], 15, what="the cancel entry")
    eq((e[0], e[1], e[2]), ("unsupported", "k-cancel", task["task_id"]), "cancel entry")
    eq(s.get(src["id"]).status, 200, "the source stays")


@test("secrets (Kling's secret key and tokens, the OpenAI key) appear in no log, no database "
      "file and no answer", timeout=30)
def _(s):
    sec = {"the Kling secret key": KLING_SK, "the OpenAI upstream key": OPENAI_KEY}
    for n in KLING_FAKES:
        kling_tasks(n)
    for i, tok in enumerate(sorted(TOKENS)):
        sec["Kling token %d" % i] = tok
    leaks = s.secret_leaks(sec)
    check(not leaks, "secrets found:\n" + "\n".join(leaks))


if __name__ == "__main__":
    sys.exit(suite.main(shared=True, workers=2, configure=configure, env={"KLING_SK": KLING_SK},
                        content={"delivery": "x-accel-redirect", "retention_seconds": 3600}))
