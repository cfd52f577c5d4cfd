#!/usr/bin/env python3
"""The `veo` backend (Veo on the Gemini API) end to end.

Real nginx and reelgate; the upstream is tests/fakes/fake_veo.py, one per
scenario (a backend and a model of the same name in the shared stack, see
FAKE_SPECS), so that what a fake received is that scenario's alone.  The
fake checks the key as Google does and refuses what Google refuses; what
reelgate sent is read back from its /_fake/jobs.  A second listener of each
fake on 127.0.0.2 plays the CDN a download may be redirected to.

Every wait is bounded; tests end with `reelgate db check`.  The last test
looks for the keys in every log, the database and every answer.
"""
import base64
import os
import secrets
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_refs  # noqa: E402
from harness import (ANY, FakeServer, Suite, alive, check, eq, expect_error,  # noqa: E402
                     expect_video, png_bytes, wait_until)

suite = Suite()
test = suite.test

BOUND = 40                 # seconds any small video may take here
VEO_KEY = "AIza-reelgate-it-" + secrets.token_hex(12)
VEO_WRONG_KEY = "AIza-wrong-" + secrets.token_hex(12)
OPENAI_KEY = "sk-upstream-veo-it-" + secrets.token_hex(12)
MODEL = "veo-3.1-generate-preview"
VEO_FIELDS = {"instances", "parameters"}

FAKE_SPECS = {n: ("veo", ["--api-key", VEO_KEY, "--step-seconds", "0.4"]) for n in (
    "v-ok", "v-429", "v-503", "v-policy", "v-quota", "v-expired", "v-badkey", "v-badjson",
    "v-pbad", "v-hang", "v-phang", "v-lost", "v-resub", "v-failed", "v-filtered", "v-rpolicy",
    "v-inline", "v-404", "v-redir", "v-priv", "v-never", "v-crash", "v-cancel", "v-fo",
    "v-ops")}
FAKE_SPECS["o-fo"] = ("openai", ["--api-key", OPENAI_KEY, "--step-seconds", "0.4"])
FAKES = {}


def fk(name):
    return FAKES[name]


def veo_backend(fake, **extra):
    return dict({"type": "veo", "base_url": fk(fake).url + "/v1beta", "api_key_env": "VEO_KEY",
                 "poll_seconds": 1, "allow_addresses": ["127.0.0.1", "127.0.0.2"],
                 "max_retries": 3, "concurrency": 2}, **extra)


def model(backends, deadline=1800, **extra):
    return dict({"backends": [{"backend": b, "model": "sora-2" if b.startswith("o-") else MODEL}
                              for b in backends],
                 "seconds": {"min": 1, "max": 8}, "default_seconds": 4,
                 "default_size": "1280x720", "sizes": {"max_width": 3840, "max_height": 3840},
                 "default_fps": 24, "max_fps": 60, "deadline_seconds": deadline}, **extra)


def configure(cfg):
    if not FAKES:
        fakes = {n: FakeServer(kind, *args) for n, (kind, args) in FAKE_SPECS.items()}
        FakeServer.start_all(fakes.values())
        FAKES.update(fakes)
    b = {n: veo_backend(n) for n, (kind, _) in FAKE_SPECS.items() if kind == "veo"}
    b["v-ok"]["concurrency"] = 6
    b["v-strict"] = veo_backend("v-ok", strict_params=True)
    b["v-veo2"] = veo_backend("v-ok")
    b["v-badkey"] = dict(veo_backend("v-badkey"), api_key=VEO_WRONG_KEY)
    del b["v-badkey"]["api_key_env"]
    for n in ("v-hang", "v-lost", "v-resub"):
        b[n]["request_timeout_seconds"] = 2
    b["v-phang"]["request_timeout_seconds"] = 2
    b["v-phang"]["download_timeout_seconds"] = 2      # a poll may carry the video: its cap
    b["v-resub"]["resubmit_unknown"] = True
    b["v-cancel"]["concurrency"] = 1
    b["o-fo"] = {"type": "openai", "base_url": fk("o-fo").url + "/v1", "api_key": OPENAI_KEY,
                 "encoding": "multipart", "poll_seconds": 1, "allow_addresses": ["127.0.0.1"],
                 "max_retries": 3, "concurrency": 2}
    cfg["backends"].update(b)
    for n in b:
        if n != "o-fo":
            cfg["models"][n] = model([n], deadline=10 if n == "v-never" else 1800)
    cfg["models"]["v-veo2"]["backends"][0]["model"] = "veo-2.0-generate-001"
    # operations: Veo 3.1 extends and takes characters; 3.0 does neither; a
    # model of two Veo backends extends nothing one of them did not make
    b["v-ops2"] = veo_backend("v-ops")
    b["v-ops-strict"] = veo_backend("v-ops", strict_params=True)
    cfg["backends"].update({n: b[n] for n in ("v-ops2", "v-ops-strict")})
    for n in ("v-ops", "v-ops-strict"):
        cfg["models"][n] = model([n])
    cfg["models"]["v-ops30"] = model(["v-ops"])
    cfg["models"]["v-ops30"]["backends"][0]["model"] = "veo-3.0-generate-001"
    cfg["models"]["v-ops-two"] = model(["v-ops", "v-ops2"])
    cfg["default_model"] = "v-ops"     # where an uploaded clip goes
    cfg["models"]["v-fo"] = model(["v-fo", "o-fo"])


# ----------------------------------------------------------------- helpers

class Problems:
    def __init__(self):
        self.items = []

    def case(self, name):
        p = self

        class Ctx:
            def __enter__(self):
                return self

            def __exit__(self, kind, e, tb):
                if isinstance(e, AssertionError):
                    p.items.append("[%s] %s" % (name, e))
                    return True
                return False
        return Ctx()

    def done(self):
        check(not self.items, "%d scenario(s) failed:\n" % len(self.items) + "\n".join(self.items))


def reset(*names):
    for n in names:
        fk(n).reset()


def ops(name):
    return fk(name).jobs()["operations"]


def op_of(name, prompt):
    found = [o for o in ops(name) if o["body"]["instances"][0].get("prompt") == prompt]
    eq(len(found), 1, "operations at %s with prompt %r" % (name, prompt))
    return found[0]


def wait_all(s, vids, timeout=BOUND):
    out = {}
    deadline = time.monotonic() + timeout
    while len(out) < len(vids):
        for vid in vids:
            if vid in out:
                continue
            v = expect_video(s.get(vid), status=None)
            if v["status"] in ("completed", "failed"):
                out[vid] = v
        check(time.monotonic() < deadline, "not ended within %ss: %s"
              % (timeout, [v for v in vids if v not in out]))
        time.sleep(0.1)
    return out


def completed(v):
    check(v["status"] == "completed", "%s ended %s: %s" % (v["id"], v["status"], v["error"]))


def failed(v, code, *frags):
    check(v["status"] == "failed", "%s ended %s, want failed %s" % (v["id"], v["status"], code))
    eq(v["error"]["code"], code, "error.code of %s" % v["id"])
    for f in frags:
        check(f.lower() in v["error"]["message"].lower(), "message %r lacks %r"
              % (v["error"]["message"], f))


def content(s, vid):
    r = s.content(vid)
    check(r.status == 200 and r.body[4:8] == b"ftyp", "content of %s: %s" % (vid, r.status))
    return r.body


def ignored(v):
    return (v.get("metadata") or {}).get("ignored_params")


# =================================================================== tests

@test("t2v and i2v complete; each field as the Gemini API spells it: durationSeconds, "
      "aspectRatio, resolution, negativePrompt, personGeneration allow_adult with an image "
      "(bytesBase64Encoded + mimeType), metadata pass-through; the key only in x-goog-api-key",
      timeout=60)
def _(s):
    reset("v-ok")
    png = png_bytes(64, 36, (10, 200, 90))
    b64 = base64.b64encode(png).decode()
    cases = {
        "t2v plain": (dict(), {"durationSeconds": 4, "aspectRatio": "16:9"}, None),
        "t2v portrait 6 s": (dict(seconds="6", size="720x1280",
                                  metadata={"negative_prompt": "blurry"}),
                             {"durationSeconds": 6, "aspectRatio": "9:16",
                              "negativePrompt": "blurry"}, None),
        "t2v 1080p": (dict(seconds="8", size="1920x1080"),
                      {"durationSeconds": 8, "aspectRatio": "16:9", "resolution": "1080p"}, None),
        "t2v native": (dict(metadata={"enhancePrompt": True, "personGeneration": "allow_all",
                                      "model": "veo-9-evil"}),
                       {"durationSeconds": 4, "aspectRatio": "16:9", "enhancePrompt": True,
                        "personGeneration": "allow_all"}, None),
        "i2v": (dict(image=b64, seconds="8"),
                {"durationSeconds": 8, "aspectRatio": "16:9", "personGeneration": "allow_adult"},
                {"bytesBase64Encoded": b64, "mimeType": "image/png"}),
    }
    made = {}
    for name, (fields, _, _) in cases.items():
        v = s.create(model="v-ok", prompt="veo " + name, **fields)
        check(not ignored(v), "%s: ignored_params %r" % (name, ignored(v)))
        made[name] = v["id"]
    done = wait_all(s, list(made.values()))
    p = Problems()
    for name, (fields, params, image) in cases.items():
        with p.case(name):
            completed(done[made[name]])
            o = op_of("v-ok", "veo " + name)
            eq(o["model"], MODEL, "the model in the path")
            eq(set(o["body"]), VEO_FIELDS, "top-level fields")
            eq(o["body"]["parameters"], params, "parameters")
            inst = o["body"]["instances"][0]
            eq(inst.get("image"), image, "instances[0].image")
            check(set(inst) <= {"prompt", "image"}, "instance fields %s" % sorted(inst))
            data = content(s, made[name])
            check(len(data) > 1000, "a video of %d bytes" % len(data))
    with p.case("key"):
        j = fk("v-ok").jobs()
        eq(j["auth_failures"], 0, "auth failures at the fake")
        eq(set(j["keys_seen"]), {VEO_KEY}, "keys the fake saw")
        eq(j["downloads"], len(cases), "downloads (each with the key, at the API's origin)")
    p.done()
    s.db_check()


@test("seed and fps (this API has neither), off-grid seconds and sizes are listed in "
      "ignored_params and never sent; strict_params refuses them with a 400; veo-2 takes 5..8 s "
      "and 720p only", timeout=60)
def _(s):
    reset("v-ok")
    p = Problems()
    made = {}
    for mdl, fields, want, params in (
            ("v-ok", dict(seed=7, fps=24), ["seed", "fps"], {"durationSeconds": 4}),
            ("v-ok", dict(seconds="5"), ["seconds"], {"durationSeconds": 6}),
            ("v-ok", dict(size="1000x700"), ["size"], {"aspectRatio": "16:9"}),
            ("v-ok", dict(size="1920x1080", seconds="4"), ["seconds"],
             {"durationSeconds": 8, "resolution": "1080p"}),
            ("v-veo2", dict(seconds="5"), None, {"durationSeconds": 5}),
            ("v-veo2", dict(size="1920x1080"), ["size"], {"aspectRatio": "16:9"})):
        prompt = "params %s %s" % (mdl, sorted(fields.items()))
        with p.case(prompt):
            v = s.create(model=mdl, prompt=prompt, **fields)
            got = ignored(v)
            if want is None:
                check(not got, "ignored_params %r" % (got,))
            else:
                eq(sorted(got or []), sorted(want), "ignored_params")
            made[v["id"]] = (prompt, params)
    for field, value in (("seed", 7), ("fps", 24), ("seconds", "5"), ("size", "1000x700")):
        with p.case("strict " + field):
            with s.no_new_records():
                e = expect_error(s.request("POST", "/v1/videos", json={
                    "model": "v-strict", "prompt": "strict", field: value}), 400, param=field)
                check(field in e["message"], "message %r" % e["message"])
    done = wait_all(s, list(made))
    for vid, (prompt, params) in made.items():
        with p.case("sent " + prompt):
            completed(done[vid])
            sent = op_of("v-ok", prompt)["body"]["parameters"]
            check(not {"seed", "fps"} & set(sent), "sent %s" % sent)
            for k, val in params.items():
                eq(sent.get(k), val, k)
    p.done()


@test("429 RESOURCE_EXHAUSTED (RetryInfo 3s) x2 and 503 UNAVAILABLE x2 at submit are waited "
      "out: one operation each, completed; the 429 waits honour retryDelay", timeout=60)
def _(s):
    reset("v-429", "v-503")
    fk("v-429").scenario(submit="429", count=2, retry_delay="3s")
    fk("v-503").scenario(submit="503", count=2)
    vids = {n: s.create(model=n, prompt="waited on " + n)["id"] for n in ("v-429", "v-503")}
    done = wait_all(s, list(vids.values()))
    p = Problems()
    for n, vid in vids.items():
        with p.case(n):
            completed(done[vid])
            j = fk(n).jobs()
            eq((j["submits_received"], j["submits_accepted"]), (3, 1), "submits, operations")
            content(s, vid)
    with p.case("retryDelay"):
        t = fk("v-429").jobs()["submit_times"]
        gaps = [b - a for a, b in zip(t, t[1:])]
        eq(len(gaps), 2, "gaps between the three submits")
        # the backoff alone would wait 1-2 s, then 2-4 s
        check(all(2.9 <= g <= 8 for g in gaps), "waits %s, want about retryDelay 3s" % gaps)
    p.done()
    s.db_check()


@test("failures with Google's reason and our code, none retried: content policy at submit, "
      "FAILED_PRECONDITION (billing), an expired key, a wrong key (API_KEY_INVALID), an "
      "invalid parameter through metadata", timeout=45)
def _(s):
    names = ("v-policy", "v-quota", "v-expired", "v-badkey")
    reset(*names, "v-ok")
    fk("v-policy").scenario(submit="policy", count=1)
    fk("v-quota").scenario(submit="quota", count=1)
    fk("v-expired").scenario(submit="expired_key", count=1)
    vids = {n: s.create(model=n, prompt="refused on " + n)["id"] for n in names}
    vids["invalid"] = s.create(model="v-ok", prompt="bad native",
                               metadata={"aspectRatio": "1:1"})["id"]
    done = wait_all(s, list(vids.values()), timeout=20)
    p = Problems()
    for n, code, frag in (("v-policy", "content_policy_violation", "usage guidelines"),
                          ("v-quota", "upstream_quota_exhausted", "billing"),
                          ("v-expired", "upstream_auth_failed", "API_KEY_INVALID"),
                          ("v-badkey", "upstream_auth_failed", "credentials"),
                          ("invalid", "upstream_rejected", "Aspect ratio")):
        with p.case(n):
            failed(done[vids[n]], code, frag)
            if n != "invalid":
                j = fk(n).jobs()
                eq((j["submits_received"], j["submits_accepted"]), (1, 0), "submits, operations")
    with p.case("no key words"):
        for n in ("v-expired", "v-badkey"):
            check("expired" not in done[vids[n]]["error"]["message"].lower()
                  and "not valid" not in done[vids[n]]["error"]["message"],
                  "Google's words on a key repeated: %r" % done[vids[n]]["error"]["message"])
    p.done()
    s.db_check()


@test("garbage: a submit answered with broken JSON has an unknown outcome -> "
      "upstream_unknown_outcome, not resent; polls answered with broken JSON x2 -> completed",
      timeout=45)
def _(s):
    reset("v-badjson", "v-pbad")
    fk("v-badjson").scenario(submit="invalid_json", count=1)
    fk("v-pbad").scenario(poll="invalid_json", count=2)
    a = s.create(model="v-badjson", prompt="garbage answer")["id"]
    b = s.create(model="v-pbad", prompt="garbage polls")["id"]
    done = wait_all(s, [a, b])
    p = Problems()
    with p.case("submit"):
        failed(done[a], "upstream_unknown_outcome", "not sent again")
        eq(fk("v-badjson").jobs()["submits_received"], 1, "submits")
    with p.case("poll"):
        completed(done[b])
        j = fk("v-pbad").jobs()
        check(j["polls"] >= 3, "polls %d" % j["polls"])
        eq(j["scenario"]["poll"], "ok", "the bad polls were used up")
    p.done()
    s.db_check()


@test("a submit that hangs, and one made upstream whose answer is lost (timeout 2 s): "
      "upstream_unknown_outcome, one submit each; with resubmit_unknown: sent again and "
      "completed (two operations: the cost); a hanging poll is retried -> completed",
      timeout=60)
def _(s):
    reset("v-hang", "v-lost", "v-resub", "v-phang")
    fk("v-hang").scenario(submit="hang", delay=5, count=1)
    fk("v-lost").scenario(submit="hold", delay=5, count=1)
    fk("v-resub").scenario(submit="hold", delay=5, count=1)
    fk("v-phang").scenario(poll="hang", delay=5, count=1)
    vids = {n: s.create(model=n, prompt="unknown on " + n)["id"]
            for n in ("v-hang", "v-lost", "v-resub", "v-phang")}
    done = wait_all(s, list(vids.values()))
    p = Problems()
    for n in ("v-hang", "v-lost"):
        with p.case(n):
            failed(done[vids[n]], "upstream_unknown_outcome", "cannot look the job up")
            j = fk(n).jobs()
            eq(j["submits_received"], 1, "submits")
            eq(len(j["operations"]), 0 if n == "v-hang" else 1, "operations made")
    with p.case("v-resub"):
        completed(done[vids["v-resub"]])
        j = fk("v-resub").jobs()
        eq((j["submits_received"], len(j["operations"])), (2, 2), "submits, operations")
    with p.case("v-phang"):
        completed(done[vids["v-phang"]])
        eq(len(fk("v-phang").jobs()["operations"]), 1, "operations")
    p.done()
    s.db_check()


@test("outcomes: operation error -> generation_failed; raiMediaFilteredCount -> "
      "content_policy_violation with the reason; a blocked result -> content_policy_violation; "
      "inline encodedVideo -> completed with those bytes; download 404 -> download_failed; "
      "never done -> generation_timeout at the 10 s deadline", timeout=60)
def _(s):
    names = ("v-failed", "v-filtered", "v-rpolicy", "v-inline", "v-404", "v-never", "v-priv")
    reset(*names)
    for n, kw in (("v-failed", dict(outcome="failed")), ("v-filtered", dict(outcome="filtered")),
                  ("v-rpolicy", dict(outcome="policy")), ("v-inline", dict(outcome="inline")),
                  ("v-404", dict(result="404")), ("v-never", dict(outcome="never")),
                  ("v-priv", dict(result="redirect_private"))):
        fk(n).scenario(**kw)
    t0 = time.monotonic()
    vids = {n: s.create(model=n, prompt="outcome " + n)["id"] for n in names}
    done = wait_all(s, list(vids.values()), timeout=30)
    p = Problems()
    for n, code, frag in (("v-failed", "generation_failed", "internal error"),
                          ("v-filtered", "content_policy_violation", "charged"),
                          ("v-rpolicy", "content_policy_violation", "safety filters"),
                          ("v-404", "download_failed", ""),
                          ("v-priv", "download_failed", "SSRF"),
                          ("v-never", "generation_timeout", "")):
        with p.case(n):
            failed(done[vids[n]], code, frag)
    with p.case("v-never deadline"):
        check(time.monotonic() - t0 >= 9, "ended before the deadline")
    with p.case("v-inline"):
        completed(done[vids["v-inline"]])
        j = fk("v-inline").jobs()
        eq(j["downloads"], 0, "downloads (the video came in the poll)")
        data = content(s, vids["v-inline"])
        check(len(data) > 1000, "inline video of %d bytes" % len(data))
    p.done()
    s.db_check()


@test("the download redirected to another host (127.0.0.2) is followed without the key: "
      "the CDN never sees x-goog-api-key, the video completes", timeout=45)
def _(s):
    reset("v-redir")
    fk("v-redir").scenario(result="redirect_other")
    vid = s.create(model="v-redir", prompt="through the CDN")["id"]
    v = wait_all(s, [vid])[vid]
    completed(v)
    j = fk("v-redir").jobs()
    eq(j["cdn_downloads"], 1, "downloads served by the CDN")
    for r in j["cdn_requests"]:
        heads = {k.lower(): val for k, val in r["headers"].items()}
        check("x-goog-api-key" not in heads, "the key reached the CDN (headers %s)" % sorted(heads))
        check(VEO_KEY not in repr(r), "the key reached the CDN in %s" % r["path"])
    content(s, vid)
    s.db_check()


@test("failover: the veo backend answering 503 -> the task completes on the model's openai "
      "backend (one upstream job)", timeout=60)
def _(s):
    reset("v-fo", "o-fo")
    fk("v-fo").scenario(submit="503")
    v = s.create(model="v-fo", prompt="moves to openai")
    done = wait_all(s, [v["id"]], timeout=45)
    completed(done[v["id"]])
    j = fk("v-fo").jobs()
    check(j["submits_received"] >= 1, "veo never saw the submit")
    eq((j["submits_accepted"], j["polls"]), (0, 0), "operations, polls at veo")
    eq(fk("o-fo").jobs()["creates_accepted"], 1, "videos made by openai")
    content(s, v["id"])
    s.db_check()


@test("crash-safe submission: kill -9 the dispatcher while the create is in flight (made "
      "upstream); the new dispatcher does not send it again (no way to look it up): "
      "upstream_unknown_outcome, one create", timeout=60)
def _(s):
    reset("v-crash")
    fk("v-crash").scenario(submit="hold", delay=8, count=1)
    vid = s.create(model="v-crash", prompt="survives its dispatcher")["id"]
    wait_until(lambda: fk("v-crash").jobs()["operations"], 15, interval=0.1,
               what="the operation to be made")
    old = s.dispatcher_pid()
    check(old, "no dispatcher")
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: s.dispatcher_pid() not in (None, old), 15, interval=0.1,
               what="a new dispatcher")
    check(not alive(old), "the old dispatcher lives")
    v = wait_all(s, [vid], timeout=30)[vid]
    failed(v, "upstream_unknown_outcome", "restarted")
    time.sleep(1.5)
    j = fk("v-crash").jobs()
    eq((j["submits_received"], len(j["operations"])), (1, 1), "creates at the fake")
    s.db_check()


@test("delete of an in-progress veo video: gone at once; the Gemini API has no cancel, so "
      "`db cancels` keeps the operation as unsupported", timeout=45)
def _(s):
    reset("v-cancel")
    fk("v-cancel").scenario(outcome="never")
    a = s.create(model="v-cancel", prompt="nobody wants this")
    op = wait_until(lambda: fk("v-cancel").jobs()["operations"], 15, what="the operation")[0]
    eq(s.request("DELETE", "/v1/videos/" + a["id"]).status, 200, "DELETE")
    eq(s.get(a["id"]).status, 404, "GET after DELETE")

    def entry():
        out = s.cli("db", "cancels").stdout.decode()
        rows = {f[0]: f[1:] for f in (ln.split("\t") for ln in out.splitlines()) if f}
        e = rows.get(a["id"])
        return e if e and e[0] != "pending" else None
    e = wait_until(entry, 15, what="the cancel entry")
    eq((e[0], e[1], e[2]), ("unsupported", "v-cancel", op["name"]), "state, backend, upstream")
    polls = fk("v-cancel").jobs()["polls"]
    time.sleep(2.5)
    eq(fk("v-cancel").jobs()["polls"], polls, "polls after the delete")


# ----------------------------------------------------------------- operations

def make_character(s, name="Ada"):
    return ops_refs.make_character(s, name)[0]


def duration_of(s, vid):
    import tempfile
    from harness import ffprobe
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(content(s, vid))
        f.flush()
        return ffprobe(f.name)["duration"]


refused = ops_refs.refused


def extend(s, vid, seconds="8", prompt="and then it rains"):
    return s.request("POST", "/v1/videos/extensions",
                     json={"prompt": prompt, "video": {"id": vid}, "seconds": seconds})


@test("operations of Veo models: 3.1 extends and takes characters; 3.0 neither (GET "
      "/v1/models/{id})", timeout=20)
def _(s):
    eq(s.request("GET", "/v1/models/v-ops").json.get("operations"),
       ["create", "remix", "extend", "characters"], "operations of a Veo 3.1 model")
    eq(s.request("GET", "/v1/models/v-ops30").json.get("operations"), ["create", "remix"],
       "operations of a Veo 3.0 model")


@test("veo extension: create -> extend (seconds 8) -> completed; instances[0].video is the "
      "source's file uri, durationSeconds 8; the result is the source + 7 s, which the video "
      "object says (seconds, ignored_params); an extension of the extension chains",
      timeout=90)
def _(s):
    reset("v-ops")
    src = s.create(model="v-ops", prompt="a lighthouse at dusk", seconds="4", size="1280x720")
    completed(wait_all(s, [src["id"]])[src["id"]])
    src_op = op_of("v-ops", "a lighthouse at dusk")
    r = extend(s, src["id"], prompt="the storm arrives")
    v = expect_video(r)
    eq((v["model"], v["seconds"], v["size"]), ("v-ops", "11", "1280x720"),
       "model, seconds (4 + 7) and size of the extension")
    eq(ignored(v), ["seconds"], "ignored_params: 8 asked, Veo adds 7")
    done = wait_all(s, [v["id"]])[v["id"]]
    completed(done)
    eq(done["seconds"], "11", "seconds once completed")
    o = op_of("v-ops", "the storm arrives")
    eq(o["model"], MODEL, "the model in the path")
    file_uri = fk("v-ops").url + "/v1beta/files/f%s:download?alt=media" % src_op["name"].rsplit(
        "/", 1)[1]
    eq(o["body"], {"instances": [{"prompt": "the storm arrives", "video": {"uri": file_uri}}],
                   "parameters": {"durationSeconds": 8}}, "the extension's request")
    d = duration_of(s, v["id"])
    check(abs(d - 11) < 0.6, "the extension's video lasts %s s, want 11" % d)
    v2 = expect_video(extend(s, v["id"], prompt="and the sun comes back"))
    eq(v2["seconds"], "18", "an extension of an extension")
    completed(wait_all(s, [v2["id"]])[v2["id"]])
    check(abs(duration_of(s, v2["id"]) - 18) < 0.6, "the second extension lasts 18 s")
    s.db_check()


@test("veo extension refusals are 400s naming the model: a segment Veo does not make, an "
      "uploaded clip, a video of another backend, a 1080p source, an inline result, a model "
      "without extensions; strict_params refuses the 7-for-8 length; nothing reaches Veo",
      timeout=90)
def _(s):
    reset("v-ops", "v-inline")
    a = s.create(model="v-ops", prompt="source for refusals", seconds="4")
    big = s.create(model="v-ops", prompt="a 1080p source", seconds="8", size="1920x1080")
    two = s.create(model="v-ops-two", prompt="made on one of two backends", seconds="4")
    strict = s.create(model="v-ops-strict", prompt="strict source", seconds="4")
    fk("v-inline").scenario(outcome="inline")
    inl = s.create(model="v-inline", prompt="an inline result", seconds="4")
    for v in wait_all(s, [x["id"] for x in (a, big, two, inl, strict)]).values():
        completed(v)
    before = fk("v-ops").jobs()["submits_received"]
    for seconds in ("4", "12", "16", "20"):
        refused(extend(s, a["id"], seconds), "v-ops", "unsupported_value", "send seconds 8",
                param="seconds")
    clip = ("c.mp4", "video/mp4", ops_refs.make_clip(2, "1280x720"))
    r = s.request("POST", "/v1/videos/extensions",
                  form=[("prompt", "x"), ("seconds", "8"), ("video", clip)])
    refused(r, "v-ops", "invalid_value", "uploaded clip")     # the default model's
    refused(extend(s, two["id"]), "v-ops-two", "invalid_value", "not made by this model")
    refused(extend(s, big["id"]), "v-ops", "invalid_value", "720p", "1920x1080")
    refused(extend(s, strict["id"]), "v-ops-strict", "unsupported_value", "adds 7 seconds")
    eq(fk("v-ops").jobs()["submits_received"], before, "submits after the refusals")
    p = Problems()
    with p.case("inline"):
        refused(extend(s, inl["id"]), "v-inline", "invalid_value", "inline")
    with p.case("veo 3.0"):
        old = s.create(model="v-ops30", prompt="veo 3 source", seconds="4")
        completed(wait_all(s, [old["id"]])[old["id"]])
        refused(extend(s, old["id"]), "v-ops30", "unsupported_operation", "video extensions")
    p.done()
    s.db_check()


@test("veo characters: a character (POST /v1/videos/characters, a real MP4) named in "
      "metadata.character_ids goes as referenceImages (asset) with the bytes of its first "
      "frame PNG under uploads/, durationSeconds 8, personGeneration allow_adult; 4 "
      "characters, a character with an image, and a model without references are 400s",
      timeout=90)
def _(s):
    reset("v-ops")
    c1, c2 = make_character(s, "Ada"), make_character(s, "Grace")
    v = s.create(model="v-ops", prompt="two friends walk", seconds="8",
                 metadata={"character_ids": "%s,%s" % (c1, c2)})
    completed(wait_all(s, [v["id"]])[v["id"]])
    o = op_of("v-ops", "two friends walk")
    refs = o["body"]["instances"][0].get("referenceImages")
    want = []
    for c in (c1, c2):
        with open(os.path.join(s.data_dir, "uploads", c + ".png"), "rb") as f:
            want.append({"image": {"bytesBase64Encoded": base64.b64encode(f.read()).decode(),
                                   "mimeType": "image/png"}, "referenceType": "asset"})
    eq(refs, want, "referenceImages: each character's first frame, in order")
    eq(o["body"]["parameters"], {"durationSeconds": 8, "aspectRatio": "16:9",
                                 "personGeneration": "allow_adult"}, "parameters")
    v4 = s.create(model="v-ops", prompt="four seconds asked", seconds="4",
                  metadata={"character_ids": c1})
    eq(ignored(v4), ["seconds"], "with references Veo makes 8 s: 4 is not honoured")
    cs = [c1, c2, make_character(s, "Alan"), make_character(s, "Edsger")]
    before = fk("v-ops").jobs()["submits_received"]
    r = s.request("POST", "/v1/videos", json={"model": "v-ops", "prompt": "a crowd",
                                               "metadata": {"character_ids": ",".join(cs)}})
    refused(r, "v-ops", "unsupported_value", "at most 3", param="metadata.character_ids")
    png = base64.b64encode(png_bytes(64, 36)).decode()
    r = s.request("POST", "/v1/videos", json={"model": "v-ops", "prompt": "framed",
                                               "input_reference": {"image_url":
                                                                   "data:image/png;base64," + png},
                                               "metadata": {"character_ids": c1}})
    refused(r, "v-ops", "unsupported_value", "not both")
    r = s.request("POST", "/v1/videos", json={"model": "v-ops30", "prompt": "old model",
                                               "metadata": {"character_ids": c1}})
    refused(r, "v-ops30", "unsupported_operation", "reference")
    completed(wait_all(s, [v4["id"]])[v4["id"]])
    eq(fk("v-ops").jobs()["submits_received"], before, "submits after the refusals")
    s.db_check()


@test("secrets: the veo keys (right and wrong) and the openai key appear in no log, no "
      "database file and no answer", timeout=30)
def _(s):
    check(len(s.bodies) > 30, "only %d answers recorded" % len(s.bodies))
    leaks = s.secret_leaks({"the veo key": VEO_KEY, "the wrong veo key": VEO_WRONG_KEY,
                            "the openai key": OPENAI_KEY})
    check(not leaks, "secrets found:\n" + "\n".join(leaks))


if __name__ == "__main__":
    sys.exit(suite.main(shared=True, workers=2, configure=configure, env={"VEO_KEY": VEO_KEY},
                        content={"delivery": "x-accel-redirect", "retention_seconds": 3600}))
