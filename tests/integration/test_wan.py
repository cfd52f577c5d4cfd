#!/usr/bin/env python3
"""The `wan` backend (Alibaba DashScope / Model Studio) end to end.

Real nginx and reelgate; the upstream is tests/fakes/fake_wan.py, one fake
per scenario on its own loopback port (a backend and a model of the same
name), so a test reads exactly what reelgate sent for that scenario from the
fake's /_fake/jobs.  A failover model pairs a wan fake with an OpenAI fake.
Videos are small (320x180, 12 fps); every wait is bounded; tests end with
`reelgate db check`; the last one greps every log, the database and every
answer for the keys.
"""
import base64
import os
import secrets
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from records import check_settled, stored_record  # noqa: E402
from harness import (ANY, FakeServer, Stack, Suite, alive, check, eq,  # noqa: E402
                     expect_error, expect_video, png_bytes, wait_until)

suite = Suite()
test = suite.test

BOUND = 40
KEY = "sk-wan-it-" + secrets.token_hex(16)
WRONG_KEY = "sk-wan-wrong-" + secrets.token_hex(16)
OPENAI_KEY = "sk-openai-it-" + secrets.token_hex(16)

# fake name -> extra fake arguments
WAN_FAKES = ("w-ok", "w-429", "w-500", "w-content", "w-arrear", "w-badkey", "w-expired",
             "w-badparam", "w-failed", "w-rescontent", "w-never", "w-pbad", "w-phang",
             "w-garbage", "w-lost", "w-unsettled", "w-crash", "w-redir", "w-404", "w-priv",
             "w-fo", "w-cancel")
FAKES = {}


def fk(name):
    return FAKES[name]


def wan_backend(fake, **extra):
    return dict({"type": "wan", "base_url": fk(fake).url + "/api/v1", "api_key_env": "WAN_KEY",
                 "poll_seconds": 1, "allow_addresses": ["127.0.0.1"], "max_retries": 4,
                 "concurrency": 2}, **extra)


def model(backends, deadline=1800, seconds=(2, 15)):
    return {"backends": backends, "seconds": {"min": seconds[0], "max": seconds[1]},
            "default_seconds": 5, "default_size": "1280x720",
            "sizes": {"max_width": 1920, "max_height": 1920}, "default_fps": 24,
            "max_fps": 60, "deadline_seconds": deadline}


def configure(cfg):
    if not FAKES:
        fakes = {n: FakeServer("wan", "--api-key", KEY, "--step-seconds", "0.4")
                 for n in WAN_FAKES}
        fakes["o-fo"] = FakeServer("openai", "--api-key", OPENAI_KEY, "--step-seconds", "0.4")
        FakeServer.start_all(fakes.values())
        FAKES.update(fakes)
    b, m = cfg["backends"], cfg["models"]
    for n in WAN_FAKES:
        b[n] = wan_backend(n)
        m[n] = model([{"backend": n, "model": "wan2.2-t2v-plus"}],
                     deadline=10 if n == "w-never" else 1800)
    b["w-badkey"]["api_key"] = WRONG_KEY
    del b["w-badkey"]["api_key_env"]
    b["w-ok"]["concurrency"] = 6
    b["w-ok"]["workspace"] = "ws-reelgate-it"
    b["w-lost"]["request_timeout_seconds"] = 2
    b["w-unsettled"]["request_timeout_seconds"] = 2
    b["w-phang"]["request_timeout_seconds"] = 2
    b["w-strict"] = wan_backend("w-ok", strict_params=True)
    m["w-strict"] = model([{"backend": "w-strict", "model": "wan2.2-t2v-plus"}])
    m["w-26"] = model([{"backend": "w-ok", "model": "wan2.6-t2v"}])
    m["w-27"] = model([{"backend": "w-ok", "model": "wan2.7-t2v"}])
    m["w-kf"] = model([{"backend": "w-ok", "model": "wanx2.1-kf2v-plus"}])
    b["o-fo"] = {"type": "openai", "base_url": fk("o-fo").url + "/v1", "api_key": OPENAI_KEY,
                 "encoding": "json", "poll_seconds": 1, "allow_addresses": ["127.0.0.1"],
                 "max_retries": 3, "concurrency": 2}
    m["fo"] = model([{"backend": "w-fo", "model": "wan2.2-t2v-plus"},
                     {"backend": "o-fo", "model": "sora-2"}], seconds=(1, 15))
    cfg["image_urls"] = {"allow_addresses": ["127.0.0.1"]}


# ----------------------------------------------------------------- helpers

def jobs(name):
    return fk(name).jobs()


def reset(*names):
    for n in names:
        fk(n).reset()


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
        check(time.monotonic() < deadline, "not ended in %ss: %s" % (
            timeout, [v for v in vids if v not in out]))
        time.sleep(0.1)
    return out


def completed(v):
    check(v["status"] == "completed", "%s ended %s: %s" % (v["id"], v["status"], v["error"]))


def failed(v, code, *frags):
    check(v["status"] == "failed", "%s ended %s, want failed %s" % (v["id"], v["status"], code))
    eq(v["error"]["code"], code, "error.code of %s" % v["id"])
    for f in frags:
        check(f.lower() in v["error"]["message"].lower(),
              "error.message %r does not mention %r" % (v["error"]["message"], f))


def download(s, vid):
    r = s.content(vid)
    check(r.status == 200 and r.body[4:8] == b"ftyp", "content of %s: %s" % (vid, r.status))
    return r.body


def fake_copy(name, task_id):
    status, raw = fk(name).call("GET", "/files/raw/%s.mp4" % task_id)
    eq(status, 200, "the fake's own copy")
    return raw


def ignored(v):
    return (v.get("metadata") or {}).get("ignored_params")


class Problems:
    def __init__(self):
        self.items = []

    def case(self, name):
        outer = self

        class C:
            def __enter__(self):
                return self

            def __exit__(self, kind, e, tb):
                if kind is AssertionError:
                    outer.items.append("[%s] %s" % (name, e))
                    return True
                return False
        return C()

    def done(self):
        check(not self.items, "%d scenario(s) failed:\n%s" % (len(self.items),
                                                              "\n".join(self.items)))


# ------------------------------------------------------------------ tests

@test("wan: t2v (size W*H, duration, seed, negative_prompt, metadata passthrough), i2v "
      "(stored PNG as a data: URL, an image URL), wan2.6 / wan2.7 (resolution + ratio) and "
      "kf2v (first/last frame); headers; the stored video is the fake's", timeout=90)
def _(s):
    reset("w-ok")
    png = png_bytes(64, 64, (10, 200, 90))
    url = "https://images.example.com/cat.png"
    last = "https://images.example.com/last.png"
    t2v = s.create(model="w-ok", prompt="a red fox in the snow", seconds="5", size="1280x720",
                   seed=42, metadata={"negative_prompt": "blurry", "prompt_extend": False,
                                      "watermark": True})
    form = [("model", "w-ok"), ("prompt", "the picture comes alive"), ("seconds", "5"),
            ("input_reference", ("ref.png", "image/png", png))]
    i2v = expect_video(s.request("POST", "/v1/videos", form=form))
    by_url = s.create(model="w-ok", prompt="the linked picture moves",
                      input_reference={"image_url": url})
    w26 = s.create(model="w-26", prompt="a long take", seconds="12", size="1920x1080",
                   metadata={"parameters.audio": True, "shot_type": "multi"})
    w27 = s.create(model="w-27", prompt="square world", seconds="3", size="960x960")
    kf = s.create(model="w-kf", prompt="from first to last", input_reference={"image_url": url},
                  metadata={"last_frame_url": last})
    vids = [v["id"] for v in (t2v, i2v, by_url, w26, w27, kf)]
    for v in (t2v, by_url, w26, w27, kf):
        check(not ignored(v), "%s: ignored_params %r" % (v["id"], ignored(v)))
    done = wait_all(s, vids)
    j = jobs("w-ok")
    by_prompt = {t["body"]["input"].get("prompt"): t for t in j["tasks"]}
    want = {
        t2v["id"]: ("video-generation", "wan2.2-t2v-plus",
                    {"prompt": "a red fox in the snow", "negative_prompt": "blurry"},
                    {"size": "1280*720", "duration": 5, "seed": 42, "prompt_extend": False,
                     "watermark": True}),
        i2v["id"]: ("video-generation", "wan2.2-i2v-plus",
                    {"prompt": "the picture comes alive",
                     "img_url": "data:image/png;base64," + base64.b64encode(png).decode()},
                    {"resolution": "720P", "duration": 5}),
        by_url["id"]: ("video-generation", "wan2.2-i2v-plus",
                       {"prompt": "the linked picture moves", "img_url": url},
                       {"resolution": "720P", "duration": 5}),
        w26["id"]: ("video-generation", "wan2.6-t2v", {"prompt": "a long take"},
                    {"size": "1920*1080", "duration": 12, "audio": True, "shot_type": "multi"}),
        w27["id"]: ("video-generation", "wan2.7-t2v", {"prompt": "square world"},
                    {"resolution": "720P", "ratio": "1:1", "duration": 3}),
        kf["id"]: ("image2video", "wanx2.1-kf2v-plus",
                   {"prompt": "from first to last", "first_frame_url": url,
                    "last_frame_url": last},
                   {"resolution": "720P", "duration": 5}),
    }
    p = Problems()
    for v0 in (t2v, i2v, by_url, w26, w27, kf):
        vid = v0["id"]
        with p.case(vid):
            completed(done[vid])
            path, mdl, inp, par = want[vid]
            t = by_prompt.get(inp["prompt"])
            check(t is not None, "no task at the fake for %r" % inp["prompt"])
            eq(t["path"], path, "API path")
            eq(t["body"]["model"], mdl, "model")
            eq(t["body"]["input"], inp, "input")
            eq(t["body"]["parameters"], par, "parameters")
            data = download(s, vid)
            eq(data, fake_copy("w-ok", t["task_id"]), "the stored video")
            # usage.video_duration: the seconds DashScope bills
            check_settled(stored_record(s, vid), data, {"seconds": par.get("duration", 5)})
    with p.case("headers"):
        subs = [r for r in j["requests"] if r["path"].endswith("video-synthesis")]
        eq(len(subs), 6, "creates")
        check(all(r["async"] == "enable" for r in subs), "X-DashScope-Async: %r" % subs)
        check(all(r["workspace"] == "ws-reelgate-it" for r in j["requests"]),
              "X-DashScope-WorkSpace on every API request")
        eq(j["auth_failures"], 0, "auth failures")
        eq(j["submits_received"], 6, "one create per video")
        check(all(not d["authorization"] for d in j["download_requests"]),
              "a download carried credentials: %r" % j["download_requests"])
    p.done()
    s.db_check()


@test("wan: ignored_params (fps; seconds a model cannot do; a size DashScope lacks; size "
      "with an image) and strict_params -> 400 naming the field", timeout=60)
def _(s):
    reset("w-ok")
    png = png_bytes(32, 32)
    p = Problems()
    made = {}
    for mdl, fields, want, sent in (
            ("w-ok", dict(fps=30), ["fps"], {"duration": 5, "size": "1280*720"}),
            ("w-ok", dict(seconds="8"), ["seconds"], {"duration": 5}),
            ("w-ok", dict(size="1000x700"), ["size"], {"size": "1088*832"}),
            ("w-ok", dict(size="1280x720", image=base64.b64encode(png).decode()), ["size"],
             {"resolution": "720P"}),
            ("w-26", dict(seconds="2", size="832x480"), None, {"duration": 2, "size": "832*480"})):
        with p.case("%s %s" % (mdl, fields)):
            v = s.create(model=mdl, prompt="params %s %s" % (mdl, sorted(fields)), **fields)
            got = ignored(v)
            if want is None:
                check(not got, "ignored_params %r" % (got,))
            else:
                eq(sorted(got or []), sorted(want), "ignored_params")
            made[v["id"]] = (v["prompt"], sent)
    for field, value in (("fps", 24), ("size", "1000x700"), ("seconds", "8")):
        with p.case("strict " + field):
            with s.no_new_records():
                r = s.request("POST", "/v1/videos", json={"model": "w-strict", "prompt": "strict",
                                                          field: value})
                e = expect_error(r, 400, param=field)
                check(field in e["message"], "message %r" % e["message"])
    done = wait_all(s, list(made))
    tasks = {t["body"]["input"]["prompt"]: t for t in jobs("w-ok")["tasks"]}
    for vid, (prompt, sent) in made.items():
        with p.case("sent " + prompt):
            completed(done[vid])
            par = tasks[prompt]["body"]["parameters"]
            for k, val in sent.items():
                eq(par.get(k), val, "parameters.%s" % k)
            check("fps" not in par, "fps sent")
    p.done()
    s.db_check()


@test("wan: errors -> 400 DataInspectionFailed content_policy_violation, Arrearage "
      "upstream_quota_exhausted, a wrong key and an expired key upstream_auth_failed, "
      "InvalidParameter upstream_rejected, FAILED generation_failed, FAILED "
      "DataInspectionFailed content_policy_violation, RUNNING past the deadline "
      "generation_timeout; none retried", timeout=60)
def _(s):
    names = ("w-content", "w-arrear", "w-badkey", "w-expired", "w-badparam", "w-failed",
             "w-rescontent", "w-never")
    reset(*names)
    fk("w-content").scenario(submit="400_datainspection", count=1)
    fk("w-arrear").scenario(submit="400_arrearage", count=1)
    fk("w-expired").scenario(submit="401_expired", count=1)
    fk("w-failed").scenario(outcome="failed")
    fk("w-rescontent").scenario(outcome="content")
    fk("w-never").scenario(outcome="never")
    vids = {n: s.create(model=n, prompt="refused on " + n)["id"] for n in names if n != "w-badparam"}
    vids["w-badparam"] = s.create(model="w-badparam", prompt="bad size",
                                  metadata={"parameters.size": "1000*1000"})["id"]
    t0 = time.monotonic()
    done = wait_all(s, list(vids.values()), timeout=30)
    p = Problems()
    for name, code, frag, submits in (
            ("w-content", "content_policy_violation", "DataInspectionFailed", 1),
            ("w-arrear", "upstream_quota_exhausted", "Arrearage", 1),
            ("w-badkey", "upstream_auth_failed", "credentials", 1),
            ("w-expired", "upstream_auth_failed", "api_key", 1),
            ("w-badparam", "upstream_rejected", "InvalidParameter", 1),
            ("w-failed", "generation_failed", "InternalError.Algo", 1),
            ("w-rescontent", "content_policy_violation", "inappropriate", 1),
            ("w-never", "generation_timeout", "", 1)):
        with p.case(name):
            failed(done[vids[name]], code, frag)
            eq(jobs(name)["submits_received"], submits, "creates (a refusal is not retried)")
    with p.case("w-never timing"):
        check(time.monotonic() - t0 < 25, "took %.1f s" % (time.monotonic() - t0))
    p.done()
    s.db_check()


@test("wan: 429 Throttling.RateQuota x2 (Retry-After 2) and 500 x2 on create are waited out "
      "with backoff; poll answered by invalid JSON x2, and a poll that hangs past the timeout -> completed, one task",
      timeout=90)
def _(s):
    reset("w-429", "w-500", "w-pbad", "w-phang")
    fk("w-429").scenario(submit="429_ratequota", count=2, retry_after=2)
    fk("w-500").scenario(submit="500", count=2)
    fk("w-pbad").scenario(poll="invalid_json", count=2)
    fk("w-phang").scenario(poll="hang", delay=5, count=1)
    vids = {n: s.create(model=n, prompt="trouble on " + n)["id"]
            for n in ("w-429", "w-500", "w-pbad", "w-phang")}
    done = wait_all(s, list(vids.values()), timeout=60)
    p = Problems()
    for name, vid in vids.items():
        with p.case(name):
            completed(done[vid])
            j = jobs(name)
            eq(len(j["tasks"]), 1, "tasks at the fake")
            download(s, vid)
    with p.case("w-429 waits"):
        j = jobs("w-429")
        eq(j["submits_received"], 3, "creates (2 refused, 1 made)")
        times = [r["time"] for r in j["requests"] if r["path"].endswith("video-synthesis")]
        eq(len(times), 3, "create requests")
        gaps = [b - a for a, b in zip(times, times[1:])]
        check(all(1.9 <= g <= 8 for g in gaps), "waits %r: Retry-After 2 not honoured" % gaps)
    with p.case("w-500"):
        eq(jobs("w-500")["submits_received"], 3, "creates")
    with p.case("w-phang"):
        check(jobs("w-phang")["polls"] >= 2, "the hanging poll was not retried")
    p.done()
    s.db_check()


@test("wan: an unreadable create answer, a create made but its answer lost (timeout, "
      "reset) -> the task list finds it (one task, never sent twice) or proves it absent "
      "(sent once more); a list that cannot settle it -> upstream_unknown_outcome", timeout=90)
def _(s):
    reset("w-garbage", "w-lost", "w-unsettled")
    fk("w-garbage").scenario(submit="invalid_json", count=1)       # refused before creation
    fk("w-lost").scenario(submit="hold", delay=5, count=1)          # made; answer too late
    fk("w-unsettled").scenario(submit="lost", count=1, list="no_gmt_create")
    vids = {n: s.create(model=n, prompt="unknown outcome on " + n)["id"]
            for n in ("w-garbage", "w-lost", "w-unsettled")}
    done = wait_all(s, list(vids.values()), timeout=60)
    p = Problems()
    with p.case("w-garbage"):
        completed(done[vids["w-garbage"]])
        j = jobs("w-garbage")
        eq(j["submits_received"], 2, "creates (the broken answer made nothing: sent again)")
        eq(len(j["tasks"]), 1, "tasks")
        check(j["lists"] >= 1, "no task-list query")
        q = j["list_queries"][0]
        eq(q.get("model_name"), "wan2.2-t2v-plus", "model_name of the list query")
        check(len(q.get("start_time", "")) == 14 and len(q.get("end_time", "")) == 14,
              "time window %r" % q)
    with p.case("w-lost"):
        completed(done[vids["w-lost"]])
        j = jobs("w-lost")
        eq(j["submits_received"], 1, "creates (found by the list, never resent)")
        eq(len(j["tasks"]), 1, "tasks")
        check(j["lists"] >= 1, "no task-list query")
        download(s, vids["w-lost"])
    with p.case("w-unsettled"):
        failed(done[vids["w-unsettled"]], "upstream_unknown_outcome", "not sent again")
        eq(jobs("w-unsettled")["submits_received"], 1, "creates")
    p.done()
    s.db_check()


@test("wan: kill -9 the dispatcher while a create is held by DashScope: the new dispatcher "
      "finds the task through the list; one task, completed", timeout=90)
def _(s):
    reset("w-crash")
    fk("w-crash").scenario(submit="hold", delay=8, count=1)
    vid = s.create(model="w-crash", prompt="survives its dispatcher")["id"]
    wait_until(lambda: jobs("w-crash")["tasks"], 15, interval=0.1, what="the fake to make it")
    old = s.dispatcher_pid()
    check(old, "no dispatcher")
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: s.dispatcher_pid() not in (None, old), 15, interval=0.1,
               what="a new dispatcher")
    check(not alive(old), "the old dispatcher lives")
    v = wait_all(s, [vid], timeout=BOUND)[vid]
    completed(v)
    j = jobs("w-crash")
    eq(j["submits_received"], 1, "creates (the held one found, not resent)")
    eq(len(j["tasks"]), 1, "tasks")
    check(j["lists"] >= 1, "no task-list query")
    download(s, vid)
    s.db_check()


@test("wan: result redirected to another host -> followed without credentials (none sent "
      "anywhere on a download); result 404 and a redirect to 10.0.0.1 -> download_failed",
      timeout=60)
def _(s):
    reset("w-redir", "w-404", "w-priv")
    fk("w-redir").scenario(result="redirect_other_host")
    fk("w-404").scenario(result="404")
    fk("w-priv").scenario(result="redirect_private")
    vids = {n: s.create(model=n, prompt="result on " + n)["id"] for n in ("w-redir", "w-404", "w-priv")}
    done = wait_all(s, list(vids.values()))
    p = Problems()
    with p.case("w-redir"):
        completed(done[vids["w-redir"]])
        d = jobs("w-redir")["download_requests"]
        ports = {x["port"] for x in d}
        check(len(ports) == 2, "the redirect to the other origin was not followed: %r" % d)
        check(all(not x["authorization"] for x in d), "credentials on a download: %r" % d)
        t = jobs("w-redir")["tasks"][0]
        eq(download(s, vids["w-redir"]), fake_copy("w-redir", t["task_id"]), "stored video")
    with p.case("w-404"):
        failed(done[vids["w-404"]], "download_failed")
    with p.case("w-priv"):
        failed(done[vids["w-priv"]], "download_failed", "SSRF")
    p.done()
    s.db_check()


@test("failover: wan answering 503 -> the task completes on the model's openai backend; "
      "no task at DashScope", timeout=60)
def _(s):
    reset("w-fo", "o-fo")
    fk("w-fo").scenario(submit="503")
    v = s.create(model="fo", prompt="moves to the second backend", seconds="4")
    done = wait_all(s, [v["id"]], timeout=45)
    completed(done[v["id"]])
    j = jobs("w-fo")
    check(j["submits_received"] >= 1, "wan never saw the create")
    eq(j["tasks"], [], "tasks at wan")
    eq(j["polls"], 0, "polls at wan")
    o = fk("o-fo").jobs()
    eq(o["creates_accepted"], 1, "videos the openai backend made")
    download(s, v["id"])
    s.db_check()

def db_cancels(s):
    """`reelgate db cancels`: {video id: [state, backend, upstream id, deleted at, message]}."""
    out = s.cli("db", "cancels").stdout.decode()
    return {f[0]: f[1:] for f in (line.split("\t") for line in out.splitlines()) if f}


def cancel_entry(s, vid):
    return wait_until(lambda: (db_cancels(s).get(vid) or [None])[0] not in (None, "pending")
                      and db_cancels(s)[vid], 15, what="the cancel entry of %s to finish" % vid)


@test("wan: DELETE of an in-progress video whose DashScope task is PENDING -> the fake "
      "receives POST /tasks/{id}/cancel and cancels it (db cancels: cancelled); of one "
      "RUNNING -> DashScope refuses, db cancels keeps `refused` with its reason", timeout=60)
def _(s):
    reset("w-cancel")
    fk("w-cancel").scenario(pending_seconds=60)
    a = s.create(model="w-cancel", prompt="a job nobody wants")
    t = wait_until(lambda: jobs("w-cancel")["tasks"], 15, interval=0.1, what="the create")[0]
    wait_until(lambda: s.get(a["id"]).json["status"] == "in_progress", 10, what="in_progress")
    r = s.request("DELETE", "/v1/videos/" + a["id"])
    eq((r.status, (r.json or {}).get("deleted")), (200, True), "DELETE")
    e = cancel_entry(s, a["id"])
    eq(e[0], "cancelled", "the cancel entry's state")
    eq(e[2], t["task_id"], "the upstream id of the entry")
    j = jobs("w-cancel")
    eq([(c["task_id"], c["status_before"]) for c in j["cancel_requests"]],
       [(t["task_id"], "PENDING")], "cancels received")
    eq(j["tasks"][0]["task_status"], "CANCELED", "the task at the fake")
    expect_error(s.get(a["id"]), 404, code=ANY)

    fk("w-cancel").scenario(pending_seconds=0, outcome="never")
    b = s.create(model="w-cancel", prompt="a job already running")
    wait_until(lambda: [x for x in jobs("w-cancel")["tasks"]
                        if x["body"]["input"]["prompt"] == "a job already running"
                        and x["task_status"] == "RUNNING"], 15, interval=0.1, what="RUNNING")
    r = s.request("DELETE", "/v1/videos/" + b["id"])
    eq(r.status, 200, "DELETE of the running one")
    e = cancel_entry(s, b["id"])
    eq(e[0], "refused", "the cancel entry's state")
    check("PENDING" in e[4], "the refusal's reason is not kept: %r" % e[4])
    eq(len(jobs("w-cancel")["cancel_requests"]), 2, "cancels received")
    s.db_check()


@test("wan: the DashScope key, a wrong key and the OpenAI key appear in no log, no database file "
      "and no answer", timeout=30)
def _(s):
    check(len(s.bodies) > 20, "only %d answers recorded" % len(s.bodies))
    leaks = s.secret_leaks({"the DashScope key": KEY, "the wrong key": WRONG_KEY,
                            "the OpenAI key": OPENAI_KEY})
    check(not leaks, "secrets found:\n" + "\n".join(leaks))


if __name__ == "__main__":
    sys.exit(suite.main(shared=True, workers=2, configure=configure, env={"WAN_KEY": KEY},
                        content={"delivery": "x-accel-redirect", "retention_seconds": 3600}))
