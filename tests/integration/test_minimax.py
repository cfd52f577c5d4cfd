#!/usr/bin/env python3
"""The minimax backend (MiniMax Hailuo v1) end to end.

Real nginx and reelgate; the upstream is tests/fakes/fake_minimax.py, one
per scenario (a backend and a model of the same name in the shared stack's
config), so /_fake/jobs shows exactly what reelgate sent for that scenario.
What reelgate sent is read from the fakes: the create bodies, every request
with its Authorization header, the counters.

MiniMax has no idempotency key, client reference or task list: a submit of
unknown outcome is never resent unless the backend sets resubmit_unknown.
The last test greps every log, the database and every answer for the keys.
"""
import base64
import os
import secrets
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ANY, FakeServer, ImageServer, Suite, alive, check, eq,  # noqa: E402
                     expect_error, expect_video, png_bytes, wait_until)

suite = Suite()
test = suite.test

BOUND = 40                # seconds any small remote video may take
KEY = "mm-key-" + secrets.token_hex(16)
WRONG_KEY = "mm-wrong-" + secrets.token_hex(16)
OPENAI_KEY = "sk-upstream-" + secrets.token_hex(16)
MM_FIELDS = {"model", "prompt", "prompt_optimizer", "fast_pretreatment", "duration",
             "resolution", "first_frame_image", "last_frame_image", "callback_url",
             "aigc_watermark", "subject_reference"}

NAMES = ("m-ok", "m-1026", "m-1008", "m-badkey", "m-1004", "m-rate", "m-429", "m-prate",
         "m-garbage", "m-pbad", "m-lost", "m-resub", "m-phang", "m-fail", "m-1027", "m-never",
         "m-404", "m-priv", "m-redir", "m-crash", "m-crash-resub", "m-fo", "m-del")
FAKES = {}
IMAGES = []


def fk(name):
    return FAKES[name]


def backend(fake, **extra):
    return dict({"type": "minimax", "base_url": fk(fake).url + "/v1", "api_key_env": "MM_KEY",
                 "poll_seconds": 1, "allow_addresses": ["127.0.0.1"], "max_retries": 3,
                 "concurrency": 2}, **extra)


def model(backends, deadline=600, **extra):
    return dict({"backends": [{"backend": b, "model": m} for b, m in backends],
                 "seconds": [6, 10], "default_seconds": 6, "default_size": "1366x768",
                 "sizes": {"max_width": 1920, "max_height": 1920}, "default_fps": 24,
                 "max_fps": 60, "deadline_seconds": deadline}, **extra)


def configure(cfg):
    if not FAKES:
        fakes = {n: FakeServer("minimax", "--api-key", KEY) for n in NAMES}
        fakes["o-fo"] = FakeServer("openai", "--api-key", OPENAI_KEY, "--step-seconds", "0.3")
        FakeServer.start_all(fakes.values())
        FAKES.update(fakes)
    b = {n: backend(n) for n in NAMES}
    b["m-badkey"] = dict(backend("m-badkey"), api_key=WRONG_KEY)
    del b["m-badkey"]["api_key_env"]
    b["m-strict"] = backend("m-ok", strict_params=True)
    b["m-01"] = backend("m-ok")
    for n in ("m-lost", "m-resub", "m-phang"):
        b[n]["request_timeout_seconds"] = 2
    b["m-resub"]["resubmit_unknown"] = True
    b["m-crash-resub"]["resubmit_unknown"] = True
    b["o-fo"] = {"type": "openai", "base_url": fk("o-fo").url + "/v1", "api_key": OPENAI_KEY,
                 "encoding": "json", "poll_seconds": 1, "allow_addresses": ["127.0.0.1"],
                 "max_retries": 3, "concurrency": 2}
    cfg["backends"].update(b)
    m = {n: model([(n, "MiniMax-Hailuo-02")], 10 if n == "m-never" else 600) for n in NAMES}
    m["m-strict"] = model([("m-strict", "MiniMax-Hailuo-02")])
    m["m-free"] = model([("m-ok", "MiniMax-Hailuo-02")], seconds={"min": 1, "max": 20})
    m["m-23"] = model([("m-ok", "MiniMax-Hailuo-2.3")])
    m["m-t2v01"] = model([("m-01", "T2V-01")])
    m["m-fo"] = model([("m-fo", "MiniMax-Hailuo-02"), ("o-fo", "sora-2")])
    cfg["models"].update(m)
    cfg["image_urls"] = {"allow_addresses": ["127.0.0.1"]}


# ----------------------------------------------------------------- helpers

def jobs(name):
    return fk(name).jobs()


def tasks_of(name, prompt):
    return [t for t in jobs(name)["tasks"] if t["body"].get("prompt") == prompt]


def api_requests(j):
    return [r for r in j["requests"] if r["path"].startswith("/v1/")]


def creates(j):
    return [r for r in j["requests"] if r["path"] == "/v1/video_generation"]


def wait_all(s, vids, timeout=BOUND):
    deadline = time.monotonic() + timeout
    out = {}
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


def failed(v, code, *fragments):
    check(v["status"] == "failed", "%s ended %s, want failed %s" % (v["id"], v["status"], code))
    eq(v["error"]["code"], code, "error.code of %s" % v["id"])
    for f in fragments:
        check(f.lower() in v["error"]["message"].lower(), "error.message %r lacks %r"
              % (v["error"]["message"], f))


def content(s, vid):
    r = s.content(vid)
    check(r.status == 200 and r.body[4:8] == b"ftyp", "content of %s: %s" % (vid, r.status), r)
    return r.body


def fake_mp4(name, task):
    status, raw = fk(name).call("GET", "/download/raw/%d.mp4" % task["file_id"])
    eq(status, 200, "the fake's own copy")
    return raw


def ignored(v):
    return (v.get("metadata") or {}).get("ignored_params")


class Problems:
    def __init__(self):
        self.items = []

    def case(self, name):
        p = self

        class Ctx:
            def __enter__(self):
                return self

            def __exit__(self, kind, e, tb):
                if kind is AssertionError:
                    p.items.append("[%s] %s" % (name, e))
                    return True
                return False
        return Ctx()

    def done(self):
        check(not self.items, "%d case(s) failed:\n%s" % (len(self.items), "\n".join(self.items)))


# ================================================================== tests

@test("t2v and i2v (PNG as a data: URL, an image URL as given): fields as MiniMax takes them, "
      "Bearer key, file_id carried to files/retrieve, the download without credentials",
      timeout=90)
def _(s):
    fk("m-ok").reset()
    png = png_bytes(320, 320, (10, 200, 90))
    url = "https://images.example.com/reelgate/cat.png"
    t1 = s.create(model="m-ok", prompt="a red fox in the snow", seconds="10", size="1366x768",
                  metadata={"prompt_optimizer": False, "aigc_watermark": True,
                            "model": "T2V-01", "note": "kept, not sent"})
    t2 = s.create(model="m-ok", prompt="a tall waterfall", size="1920x1080")
    form = [("model", "m-ok"), ("prompt", "the picture comes alive"),
            ("input_reference", ("ref.png", "image/png", png))]
    up = expect_video(s.request("POST", "/v1/videos", form=form))
    by_url = s.create(model="m-ok", prompt="the linked picture moves",
                      input_reference={"image_url": url},
                      metadata={"last_frame_image": url + "?last"})
    t23 = s.create(model="m-23", prompt="on hailuo 2.3", size="1280x720")
    for v in (t1, t2, by_url):
        check(not ignored(v), "%s: ignored_params %r" % (v["id"], ignored(v)))
    done = wait_all(s, [v["id"] for v in (t1, t2, up, by_url, t23)])
    p = Problems()
    want = {
        t1["id"]: {"model": "MiniMax-Hailuo-02", "prompt": "a red fox in the snow",
                   "duration": 10, "resolution": "768P", "prompt_optimizer": False,
                   "aigc_watermark": True},
        t2["id"]: {"model": "MiniMax-Hailuo-02", "prompt": "a tall waterfall", "duration": 6,
                   "resolution": "1080P"},
        up["id"]: {"model": "MiniMax-Hailuo-02", "prompt": "the picture comes alive",
                   "duration": 6, "resolution": "768P",
                   "first_frame_image": "data:image/png;base64,"
                   + base64.b64encode(png).decode()},
        by_url["id"]: {"model": "MiniMax-Hailuo-02", "prompt": "the linked picture moves",
                       "duration": 6, "resolution": "768P", "first_frame_image": url,
                       "last_frame_image": url + "?last"},
        t23["id"]: {"model": "MiniMax-Hailuo-2.3", "prompt": "on hailuo 2.3", "duration": 6,
                    "resolution": "768P"},
    }
    j = jobs("m-ok")
    for vid, body in want.items():
        with p.case(vid):
            completed(done[vid])
            ts = [t for t in j["tasks"] if t["body"].get("prompt") == body["prompt"]]
            eq(len(ts), 1, "tasks at the fake")
            eq(ts[0]["body"], body, "the create body MiniMax received")
            check(set(ts[0]["body"]) <= MM_FIELDS, "unknown fields")
            eq(content(s, vid), fake_mp4("m-ok", ts[0]), "the stored video")
    with p.case("requests"):
        api = api_requests(j)
        eq({r["authorization"] for r in api}, {"Bearer " + KEY}, "Authorization on the API")
        retrieves = [r for r in api if r["path"] == "/v1/files/retrieve"]
        fids = {"file_id=%d" % t["file_id"] for t in j["tasks"]}
        eq({r["query"] for r in retrieves}, fids, "files/retrieve asked for each file_id")
        dl = [r for r in j["requests"] if r["path"].startswith("/download/")]
        eq(len(dl), 5, "downloads")
        eq([r["authorization"] for r in dl], [None] * 5, "Authorization on the downloads")
        eq((j["creates_received"], j["auth_failures"], j["unknown_paths"]), (5, 0, 0),
           "creates, auth failures, unknown paths")
    p.done()
    s.db_check()


@test("ignored_params (seed, fps, metadata.negative_prompt, a size MiniMax cannot make, "
      "seconds other than 6/10, size of an image task) and strict_params -> 400 naming it; "
      "the 01 series gets neither duration nor resolution", timeout=60)
def _(s):
    fk("m-ok").reset()
    p = Problems()
    png = base64.b64encode(png_bytes(320, 320)).decode()
    cases = (("m-ok", dict(seed=7, fps=30), ["seed", "fps"], {"duration": 6}),
             ("m-ok", dict(metadata={"negative_prompt": "blur"}), ["metadata.negative_prompt"],
              {"resolution": "768P"}),
             ("m-ok", dict(size="1000x700"), ["size"], {"resolution": "768P"}),
             ("m-ok", dict(size="720x1280"), ["size"], {"resolution": "768P"}),
             ("m-ok", dict(size="1920x1080", seconds="10"), ["size"],
              {"duration": 10, "resolution": "768P"}),
             ("m-free", dict(seconds="7"), ["seconds"], {"duration": 6}),
             ("m-free", dict(seconds="9"), ["seconds"], {"duration": 10}),
             ("m-ok", dict(size="912x512"), None, {"resolution": "512P"}),
             ("m-ok", dict(image=png, size="1366x768"), ["size"], {"resolution": "768P"}),
             ("m-t2v01", dict(seconds="6", size="1280x720"), None, {}),
             ("m-t2v01", dict(seconds="10"), ["seconds"], {}))
    made = {}
    for i, (m, fields, want, sent) in enumerate(cases):
        with p.case("%s %s" % (m, fields)):
            v = s.create(model=m, prompt="params %d" % i, **fields)
            got = ignored(v)
            if want is None:
                check(not got, "ignored_params %r" % (got,))
            else:
                eq(sorted(got or []), sorted(want), "ignored_params")
            made[v["id"]] = (i, m, sent)
    for field, value in (("seed", 7), ("fps", 30), ("size", "1000x700"),
                         ("metadata.negative_prompt", {"negative_prompt": "x"})):
        with p.case("strict " + field):
            with s.no_new_records():
                body = {"model": "m-strict", "prompt": "strict"}
                if field.startswith("metadata."):
                    body["metadata"] = value
                else:
                    body[field] = value
                e = expect_error(s.request("POST", "/v1/videos", json=body), 400, param=field)
                check(field in e["message"], "message %r does not name %s" % (e["message"], field))
    done = wait_all(s, list(made))
    for vid, (i, m, sent) in made.items():
        with p.case("sent %d" % i):
            completed(done[vid])
            t = tasks_of("m-ok", "params %d" % i)
            eq(len(t), 1, "tasks")
            body = t[0]["body"]
            check(not {"seed", "fps", "negative_prompt", "size"} & set(body), "sent %s" % body)
            for k, val in sent.items():
                eq(body.get(k), val, k)
            if m == "m-t2v01":
                eq((body["model"], "duration" in body, "resolution" in body),
                   ("T2V-01", False, False), "the 01 series' body")
    p.done()


@test("refusals: 1026 -> content_policy_violation, 1008 -> upstream_quota_exhausted, a wrong "
      "key (2049) and an expired one (1004) -> upstream_auth_failed, 2013 -> upstream_rejected "
      "with MiniMax's reason; none retried", timeout=45)
def _(s):
    names = ("m-1026", "m-1008", "m-badkey", "m-1004", "m-ok")
    for n in names:
        fk(n).reset()
    fk("m-1026").scenario(submit="1026", count=1)
    fk("m-1008").scenario(submit="1008", count=1)
    fk("m-1004").scenario(submit="1004", count=1)
    vids = {n: s.create(model=n, prompt="refused on " + n)["id"] for n in names[:4]}
    # a metadata value of the wrong type: MiniMax's own 2013
    vids["m-ok"] = s.create(model="m-ok", prompt="bad param",
                            metadata={"prompt_optimizer": "yes"})["id"]
    done = wait_all(s, list(vids.values()), timeout=20)
    p = Problems()
    for n, code, frag in (("m-1026", "content_policy_violation", "1026"),
                          ("m-1008", "upstream_quota_exhausted", "1008"),
                          ("m-badkey", "upstream_auth_failed", "2049"),
                          ("m-1004", "upstream_auth_failed", "1004"),
                          ("m-ok", "upstream_rejected", "prompt_optimizer must be a boolean")):
        with p.case(n):
            failed(done[vids[n]], code, frag)
            j = jobs(n)
            eq((j["creates_received"], j["tasks"]), (1, []), "creates, tasks (not retried)")
            check(KEY not in done[vids[n]]["error"]["message"], "the key in the message")
    with p.case("m-badkey auth header"):
        eq([r["authorization"] for r in creates(jobs("m-badkey"))], ["Bearer " + WRONG_KEY],
           "what the fake saw")
    p.done()
    s.db_check()


@test("rate limits: 1002 x2 at submit, HTTP 429 with Retry-After: 2, 1002 x2 on query and "
      "files/retrieve -> waited out with backoff, one task each, completed", timeout=60)
def _(s):
    for n in ("m-rate", "m-429", "m-prate"):
        fk(n).reset()
    fk("m-rate").scenario(submit="1002", count=2)
    fk("m-429").scenario(submit="http429", count=1)
    fk("m-prate").scenario(poll="1002", count=2)
    fk("m-prate").scenario(retrieve="1002", count=2)
    vids = {n: s.create(model=n, prompt="waits on " + n)["id"] for n in ("m-rate", "m-429",
                                                                        "m-prate")}
    done = wait_all(s, list(vids.values()))
    p = Problems()
    for n, vid in vids.items():
        with p.case(n):
            completed(done[vid])
            j = jobs(n)
            eq(len(j["tasks"]), 1, "tasks")
            content(s, vid)
            times = [r["time"] for r in creates(j)]
            if n == "m-rate":
                eq(len(times), 3, "creates")
                g = [b - a for a, b in zip(times, times[1:])]
                check(0.45 <= g[0] <= 3 and 0.9 <= g[1] <= 8, "backoff gaps %s" % g)
            if n == "m-429":
                eq(len(times), 2, "creates")
                check(times[1] - times[0] >= 1.9, "retried %.2f s after Retry-After: 2"
                      % (times[1] - times[0]))
            if n == "m-prate":
                check(j["polls"] >= 3 and j["retrieves"] >= 3, "polls %d retrieves %d"
                      % (j["polls"], j["retrieves"]))
                eq(j["scenario"]["poll"], "ok", "poll misbehaviour used up")
    p.done()


@test("garbage: a create answered with broken JSON -> upstream_unknown_outcome, never resent; "
      "broken JSON, 500 and a reset on query and files/retrieve -> completed", timeout=60)
def _(s):
    for n in ("m-garbage", "m-pbad"):
        fk(n).reset()
    fk("m-garbage").scenario(submit="invalid_json", count=1)
    fk("m-pbad").scenario(poll="invalid_json", count=3)
    fk("m-pbad").scenario(retrieve="invalid_json", count=1)
    a = s.create(model="m-garbage", prompt="garbage answer")["id"]
    b = s.create(model="m-pbad", prompt="garbage polls")["id"]
    done = wait_all(s, [a, b])
    failed(done[a], "upstream_unknown_outcome", "not sent again")
    eq(jobs("m-garbage")["creates_received"], 1, "creates (never resent blind)")
    completed(done[b])
    c = s.create(model="m-pbad", prompt="more trouble")["id"]
    fk("m-pbad").scenario(poll="500", count=1)
    fk("m-pbad").scenario(retrieve="500", count=1)
    time.sleep(1.5)
    fk("m-pbad").scenario(poll="reset", count=1)
    completed(wait_all(s, [c])[c])
    eq(jobs("m-pbad")["creates_received"], 2, "creates at m-pbad")
    content(s, b)
    content(s, c)


@test("lost create (made, answer never sent; request_timeout 2): upstream_unknown_outcome and "
      "one create; with resubmit_unknown: true sent again and completed; a hung query is "
      "retried", timeout=60)
def _(s):
    for n in ("m-lost", "m-resub", "m-phang"):
        fk(n).reset()
    for n in ("m-lost", "m-resub"):
        fk(n).scenario(submit="hold", delay=4, count=1)
    fk("m-phang").scenario(poll="hold", delay=4, count=1)
    vids = {n: s.create(model=n, prompt="lost on " + n)["id"] for n in ("m-lost", "m-resub",
                                                                       "m-phang")}
    done = wait_all(s, list(vids.values()))
    failed(done[vids["m-lost"]], "upstream_unknown_outcome", "second charge")
    j = jobs("m-lost")
    eq((j["creates_received"], j["creates_accepted"]), (1, 1), "m-lost creates (made, not resent)")
    completed(done[vids["m-resub"]])
    j = jobs("m-resub")
    eq((j["creates_received"], j["creates_accepted"]), (2, 2),
       "m-resub creates (resent, as configured: two upstream jobs)")
    completed(done[vids["m-phang"]])
    eq(jobs("m-phang")["creates_received"], 1, "m-phang creates")


@test("outcomes: Fail -> generation_failed; Fail with 1027 -> content_policy_violation; never "
      "-> generation_timeout at the 10 s deadline; result 404 / redirect to 10.0.0.1 -> "
      "download_failed; redirect to another host -> completed, no key sent there", timeout=60)
def _(s):
    names = ("m-fail", "m-1027", "m-never", "m-404", "m-priv", "m-redir")
    for n in names:
        fk(n).reset()
    fk("m-fail").scenario(outcome="fail")
    fk("m-1027").scenario(outcome="fail_1027")
    fk("m-never").scenario(outcome="never")
    fk("m-404").scenario(result="404")
    fk("m-priv").scenario(result="redirect_private")
    if not IMAGES:
        IMAGES.append(ImageServer())
    cdn, seen = IMAGES[0], []

    def serve(h):
        seen.append(h.headers.get("Authorization"))
        t = jobs("m-redir")["tasks"][0]
        data = fake_mp4("m-redir", t)
        h.send_response(200)
        h.send_header("Content-Type", "video/mp4")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    # another origin: the same loopback address on another port
    fk("m-redir").scenario(result="redirect", redirect_to=cdn.route("/cdn/v.mp4", serve))
    t0 = time.monotonic()
    vids = {n: s.create(model=n, prompt="outcome on " + n)["id"] for n in names}
    done = wait_all(s, list(vids.values()), timeout=30)
    p = Problems()
    with p.case("m-fail"):
        failed(done[vids["m-fail"]], "generation_failed", "MiniMax")
    with p.case("m-1027"):
        failed(done[vids["m-1027"]], "content_policy_violation", "1027")
    with p.case("m-never"):
        failed(done[vids["m-never"]], "generation_timeout")
        check(time.monotonic() - t0 >= 9, "ended before the deadline")
    with p.case("m-404"):
        failed(done[vids["m-404"]], "download_failed")
    with p.case("m-priv"):
        failed(done[vids["m-priv"]], "download_failed", "SSRF")
    with p.case("m-redir"):
        completed(done[vids["m-redir"]])
        eq(seen, [None], "Authorization headers the other host received")
        t = jobs("m-redir")["tasks"][0]
        eq(content(s, vids["m-redir"]), fake_mp4("m-redir", t), "the stored video")
    p.done()
    s.db_check()


@test("kill -9 of the dispatcher while a create is in flight (made, answer held): the new "
      "dispatcher does not resend it (upstream_unknown_outcome, one create); with "
      "resubmit_unknown it is resent and completes", timeout=90)
def _(s):
    for n in ("m-crash", "m-crash-resub"):
        fk(n).reset()
        fk(n).scenario(submit="hold", delay=8, count=1)
    vids = {n: s.create(model=n, prompt="crash on " + n)["id"] for n in ("m-crash",
                                                                        "m-crash-resub")}
    wait_until(lambda: all(jobs(n)["tasks"] for n in vids), 15, interval=0.1,
               what="both fakes to make their tasks")
    old = s.dispatcher_pid()
    check(old, "no dispatcher")
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: s.dispatcher_pid() not in (None, old), 15, interval=0.1,
               what="a new dispatcher")
    check(not alive(old), "the old dispatcher lives")
    done = wait_all(s, list(vids.values()), timeout=BOUND)
    failed(done[vids["m-crash"]], "upstream_unknown_outcome", "restarted")
    eq(jobs("m-crash")["creates_received"], 1, "m-crash creates (not resent)")
    completed(done[vids["m-crash-resub"]])
    eq(jobs("m-crash-resub")["creates_received"], 2, "m-crash-resub creates (resent)")
    s.db_check()


@test("failover: minimax answering HTTP 503 -> the task completes on the model's openai "
      "backend, one upstream job", timeout=60)
def _(s):
    fk("m-fo").reset()
    fk("o-fo").reset()
    fk("m-fo").scenario(submit="503")
    v = s.create(model="m-fo", prompt="moves on", size="320x180", seconds="6")
    done = wait_all(s, [v["id"]])
    completed(done[v["id"]])
    j = jobs("m-fo")
    check(j["creates_received"] >= 1, "minimax never saw the create")
    eq((j["tasks"], j["polls"]), ([], 0), "tasks and polls at minimax")
    o = fk("o-fo").jobs()
    eq(o["creates_accepted"], 1, "videos the openai backend made")
    content(s, v["id"])


def db_cancels(s):
    """`reelgate db cancels`: {video id: [state, backend, upstream id, deleted at, message]}."""
    out = s.cli("db", "cancels").stdout.decode()
    return {f[0]: f[1:] for f in (line.split("\t") for line in out.splitlines()) if f}


@test("DELETE of an in-progress video: MiniMax v1 has no cancel, so none is sent; `db "
      "cancels` keeps the upstream task as unsupported with its task id; its polls stop",
      timeout=45)
def _(s):
    fk("m-del").reset()
    fk("m-del").scenario(outcome="never")
    v = s.create(model="m-del", prompt="deleted while MiniMax works")
    wait_until(lambda: jobs("m-del")["polls"] >= 1, 15, interval=0.1, what="a poll")
    task = jobs("m-del")["tasks"][0]
    r = s.request("DELETE", "/v1/videos/" + v["id"])
    eq((r.status, (r.json or {}).get("deleted")), (200, True), "DELETE")
    e = wait_until(lambda: (db_cancels(s).get(v["id"]) or [None])[0] not in (None, "pending")
                   and db_cancels(s)[v["id"]], 15, what="the cancel entry to finish")
    eq((e[0], e[1], e[2]), ("unsupported", "m-del", task["task_id"]),
       "state, backend, upstream id of the cancel entry")
    polls = jobs("m-del")["polls"]
    time.sleep(2.5)
    j = jobs("m-del")
    eq(j["polls"], polls, "polls after the delete")
    eq(j["unknown_paths"], 0, "requests to paths MiniMax does not have (a cancel)")
    eq([r["method"] for r in j["requests"] if r["method"] != "GET"], ["POST"],
       "requests other than GET (the create only)")
    expect_error(s.get(v["id"]), 404, code=ANY)


@test("the MiniMax keys appear in no log, no database file and no answer", timeout=30)
def _(s):
    check(len(s.bodies) > 50, "only %d answers recorded" % len(s.bodies))
    leaks = s.secret_leaks({"the MiniMax key": KEY, "the wrong MiniMax key": WRONG_KEY,
                            "the OpenAI key": OPENAI_KEY})
    check(not leaks, "secrets found:\n" + "\n".join(leaks))


if __name__ == "__main__":
    sys.exit(suite.main(shared=True, workers=2, configure=configure, env={"MM_KEY": KEY},
                        content={"delivery": "x-accel-redirect", "retention_seconds": 3600}))
