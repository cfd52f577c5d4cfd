#!/usr/bin/env python3
"""Remote backends end to end: Kling, OpenAI-compatible upstreams and ComfyUI.

Real nginx and reelgate processes; the upstreams are the fakes of
tests/fakes (fake_kling.py, fake_openai.py, fake_comfyui.py), each on its own
loopback port, and for the peer test a second reelgate.  Every scenario has
its own fake (a backend and a model of the same name in the shared stack's
config, see FAKE_SPECS / backend_specs() / model_specs()), so one test can
run several scenarios at once and the fake's /_fake/jobs shows exactly what
reelgate sent for that scenario alone.  Tests reset the fakes they use
first.  What reelgate keeps is not visible through the API: what it sent is
read from the fakes.

Videos are small (320x180, a few seconds, 12 fps; the Kling fake's are
320x180 5 or 10 s).  Every wait is bounded; tests end with `reelgate db
check`.  The last test greps every log, the database and every answer the
tests received for the secrets in the config.
"""
import base64
import contextlib
import os
import re
import secrets
import signal
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ANY, SRCDIR, FakeServer, ImageServer, Stack, Suite, alive,  # noqa: E402
                     check, children, eq, expect_error, expect_video, ffprobe, png_bytes,
                     wait_until)

suite = Suite()
test = suite.test

VIDEO_BOUND = 45          # seconds any small remote video may take
RETENTION = 3600
MAX_OUTPUT = 4 << 20      # limits.max_output_bytes of the shared stack

# Secrets: none of these may ever show in a log, a record or an answer.
AK = "AK-reelgate-it-" + secrets.token_hex(4)
KLING_SK = "SKsecret-" + secrets.token_hex(16)
KLING_WRONG_SK = "SKwrong-" + secrets.token_hex(16)
OPENAI_KEY = "sk-upstream-" + secrets.token_hex(16)
OPENAI_WRONG_KEY = "sk-wrong-" + secrets.token_hex(16)
JWTS = set()              # every Kling token the fakes saw (bearer credentials too)

WORKFLOW = os.path.join(SRCDIR, "etc", "comfyui", "wan-t2v.json")
COMFY_INPUTS = {"prompt": ["6", "text"], "negative_prompt": ["7", "text"], "seed": ["3", "seed"],
                "width": ["55", "width"], "height": ["55", "height"],
                "frames": ["55", "length"], "fps": ["57", "fps"], "image": ["56", "image"]}
AZURE_PREFIX = "/openai/deployments/sora/v1"
KLING_FAIL_MSG = "The content failed moderation"          # fake_kling.FAIL_MSG
COMFY_ERROR = "fake: CUDA out of memory (tried to allocate 80.00 GiB)"
# ComfyUI's exceptions name its own files: they reach no client
COMFY_ERROR_PATH = "/opt/ComfyUI/models/diffusion_models/wan2.1_t2v_14B.safetensors"

# ------------------------------------------------------------------ config

# fake name -> (kind, extra arguments).  The backend and the model of the
# same name use it, unless backend_specs() / model_specs() say otherwise.
FAKE_SPECS = {}
for _n in ("k-ok", "k-1302", "k-1303", "k-500", "k-1301", "k-1102", "k-badkey", "k-reset",
           "k-badjson", "k-lost", "k-p500", "k-pbad", "k-preset", "k-p1302", "k-failed",
           "k-never", "k-404", "k-priv", "k-loop", "k-slowres", "k-fo", "k-fo2", "k-crash",
           "k-noallow", "k-cancel"):
    FAKE_SPECS[_n] = ("kling", ["--access-key", AK, "--secret-key", KLING_SK])
FAKE_SPECS["k-serial"] = ("kling", ["--access-key", AK, "--secret-key", KLING_SK,
                                    "--step-seconds", "1.5"])
for _n in ("o-main", "o-429", "o-500", "o-reset", "o-badjson", "o-lost", "o-400", "o-p429",
           "o-p500", "o-pbad", "o-preset", "o-failed", "o-never", "o-404", "o-priv", "o-redir",
           "o-huge", "o-slow", "o-badkey", "o-fo", "o-fo2", "o-crash", "o-closed", "o-twins"):
    FAKE_SPECS[_n] = ("openai", ["--api-key", OPENAI_KEY, "--step-seconds", "0.4"])
FAKE_SPECS["o-azure"] = ("openai", ["--api-key", OPENAI_KEY, "--step-seconds", "0.4",
                                    "--prefix", AZURE_PREFIX])
for _n in ("c-main", "c-err", "c-val", "c-view404", "c-sub500", "c-subbad", "c-hold",
           "c-poll500", "c-pollbad", "c-pollreset", "c-up500", "c-viewslow", "c-crash",
           "c-closed"):
    FAKE_SPECS[_n] = ("comfyui", ["--step-seconds", "0.3"])
FAKE_SPECS["c-vhs"] = ("comfyui", ["--step-seconds", "0.3", "--output", "vhs"])

FAKES = {}                # name -> started FakeServer
IMAGES = []               # the ImageServer of image URLs, once started


def images():
    if not IMAGES:
        IMAGES.append(ImageServer())
    return IMAGES[0]


def fk(name):
    return FAKES[name]


def kling_backend(fake, **extra):
    return dict({"type": "kling", "base_url": fk(fake).url, "access_key": AK,
                 "secret_key_env": "KLING_SK", "poll_seconds": 1,
                 "allow_addresses": ["127.0.0.1"], "max_retries": 3, "concurrency": 2}, **extra)


def openai_backend(fake, prefix="/v1", **extra):
    return dict({"type": "openai", "base_url": fk(fake).url + prefix, "api_key": OPENAI_KEY,
                 "encoding": "multipart", "poll_seconds": 1, "allow_addresses": ["127.0.0.1"],
                 "max_retries": 3, "concurrency": 2}, **extra)


def comfy_backend(fake, **extra):
    return dict({"type": "comfyui", "base_url": fk(fake).url, "workflow": WORKFLOW,
                 "inputs": COMFY_INPUTS, "poll_seconds": 1, "allow_addresses": ["127.0.0.1"],
                 "max_retries": 3, "concurrency": 2}, **extra)


def backend_specs():
    """Backend name -> backend config (needs the fakes started)."""
    b = {}
    for name, (kind, _) in FAKE_SPECS.items():
        b[name] = {"kling": kling_backend, "openai": openai_backend,
                   "comfyui": comfy_backend}[kind](name)
    b["k-ok"]["concurrency"] = 4
    b["k-cancel"]["concurrency"] = 1
    b["k-badkey"] = kling_backend("k-badkey", secret_key=KLING_WRONG_SK)
    del b["k-badkey"]["secret_key_env"]
    b["k-lost"]["request_timeout_seconds"] = 2
    del b["k-noallow"]["allow_addresses"]          # its loopback fake is refused
    b["k-serial"]["concurrency"] = 1
    b["k-strict"] = kling_backend("k-ok", strict_params=True)
    b["o-main"]["concurrency"] = 4
    b["o-json"] = openai_backend("o-main", encoding="json", concurrency=4)
    b["o-azure"] = openai_backend("o-azure", prefix=AZURE_PREFIX, auth="api-key")
    b["o-lost"]["request_timeout_seconds"] = 2
    b["o-badkey"]["api_key"] = OPENAI_WRONG_KEY
    b["c-main"]["concurrency"] = 3
    return b


def kling_model(backends, deadline=1800):
    return {"backends": [{"backend": x, "model": "kling-v1-6" if x.startswith("k-") else "sora-2"}
                         for x in backends],
            "seconds": [5, 10], "default_seconds": 5, "default_size": "640x360",
            "sizes": {"max_width": 1920, "max_height": 1920}, "default_fps": 24,
            "max_fps": 60, "deadline_seconds": deadline}


def openai_model(backends, deadline=1800):
    return {"backends": [{"backend": x, "model": "sora-2"} for x in backends],
            "seconds": {"min": 1, "max": 8}, "default_seconds": 1, "default_size": "320x180",
            "sizes": {"max_width": 1920, "max_height": 1920}, "default_fps": 12,
            "max_fps": 60, "deadline_seconds": deadline}


def comfy_model(backends, deadline=1800):
    return {"backends": [{"backend": x} for x in backends],
            "seconds": {"min": 1, "max": 4}, "default_seconds": 2, "default_size": "320x176",
            "sizes": {"max_width": 1920, "max_height": 1920}, "default_fps": 8,
            "max_fps": 30, "deadline_seconds": deadline}


def model_specs(backends):
    m = {}
    for name in backends:
        maker = {"k": kling_model, "o": openai_model, "c": comfy_model}[name[0]]
        m[name] = maker([name], 10 if name.endswith("-never") else 1800)
    m["k-free"] = dict(kling_model(["k-ok"]), seconds={"min": 1, "max": 20})
    m["fo"] = kling_model(["k-fo", "o-fo"])
    m["fo2"] = kling_model(["k-fo2", "o-fo2"])
    return m


def configure_shared(cfg):
    """Starts the fakes (once) and puts their backends and models into the
    shared stack's config."""
    if not FAKES:
        fakes = {n: FakeServer(kind, *args) for n, (kind, args) in FAKE_SPECS.items()}
        FakeServer.start_all(fakes.values())
        FAKES.update(fakes)
    backends = backend_specs()
    cfg["backends"].update(backends)
    cfg["models"].update(model_specs(backends))
    cfg["limits"]["max_output_bytes"] = MAX_OUTPUT
    # Image URLs that ComfyUI needs as files are downloaded from IMAGES.
    cfg["image_urls"] = {"allow_addresses": ["127.0.0.1"]}


def shared_stack_args():
    return dict(workers=2, configure=configure_shared, env={"KLING_SK": KLING_SK},
                content={"delivery": "x-accel-redirect", "retention_seconds": RETENTION})


# ----------------------------------------------------------------- helpers

class Problems:
    """Collects the failures of several scenarios run in one test, so that
    one failing scenario does not hide the others."""

    def __init__(self):
        self.items = []

    @contextlib.contextmanager
    def case(self, name):
        try:
            yield
        except AssertionError as e:
            self.items.append("[%s] %s" % (name, e))

    def done(self):
        check(not self.items, "%d scenario(s) failed:\n" % len(self.items)
              + "\n".join(self.items))


def reset(*names):
    for n in names:
        fk(n).reset()


def kjobs(name):
    """The Kling fake's /_fake/jobs (its tokens are remembered for the
    secrets test)."""
    j = fk(name).jobs()
    JWTS.update(t["authorization"][7:] for t in j["tokens"]
                if (t.get("authorization") or "").startswith("Bearer "))
    return j


def kling_tasks(name, vid):
    return [t for t in kjobs(name)["tasks"] if t["external_task_id"] == vid]


def kling_submit_times(jobs):
    """When each submit reached the Kling fake (from its token log)."""
    return [t["time"] for t in jobs["tokens"]
            if re.fullmatch(r"/v1/videos/(text2video|image2video)", t["path"])]


def openai_jobs(name, vid=None):
    j = fk(name).jobs()
    return j if vid is None else [x for x in j["jobs"] if x["idempotency_key"] == vid]


def comfy_jobs(name, vid=None):
    j = fk(name).jobs()
    return j if vid is None else [x for x in j["jobs"] if x["prompt_id"] == vid]


ENDED_AT = {}              # video id -> time.monotonic() when wait_all saw it end


def wait_all(s, vids, timeout=VIDEO_BOUND, strict=True):
    """Polls every video in turn until each has ended (completed or failed);
    returns {id: (video, history)} and notes in ENDED_AT when each was first
    seen ended.  history: the distinct (status, progress) seen.  strict:
    every answer is a valid video object and progress never falls while
    in_progress; a terminal status never changes."""
    deadline = time.monotonic() + timeout
    hist = {vid: [] for vid in vids}
    out = {}
    while True:
        for vid in [v for v in hist if v not in out]:
            r = s.get(vid)
            if strict:
                v = expect_video(r, status=None)
            else:
                check(r.status == 200 and (r.json or {}).get("id") == vid, "GET %s" % vid, r)
                v = r.json
            h, state = hist[vid], (v["status"], v["progress"])
            if not h or h[-1] != state:
                if strict and h and h[-1][0] == state[0] == "in_progress":
                    check(state[1] >= h[-1][1], "progress of %s fell: %s" % (vid, h + [state]))
                h.append(state)
            if v["status"] in ("completed", "failed"):
                out[vid] = (v, h)
                ENDED_AT[vid] = time.monotonic()
        if len(out) == len(hist):
            break
        if time.monotonic() > deadline:
            raise AssertionError("not ended within %ss: %s" % (
                timeout, {vid: h for vid, h in hist.items() if vid not in out}))
        time.sleep(0.1)
    for vid, (v, h) in out.items():      # terminal means terminal
        eq(s.get(vid).json["status"], v["status"], "status of %s a moment later" % vid)
    return out


def expect_completed(v, hist):
    check(v["status"] == "completed", "%s ended %s (error %s); states %s"
          % (v["id"], v["status"], v["error"], hist))
    eq(v["progress"], 100, "progress of a completed video")
    eq(v["error"], None, "error of a completed video")


def expect_failed(v, hist, code, *fragments):
    """v failed with error.code code (or one of a set of codes) and a message
    that mentions every fragment (case-insensitive)."""
    check(v["status"] == "failed", "%s ended %s, want failed %s; states %s"
          % (v["id"], v["status"], code, hist))
    err = v["error"]
    check(isinstance(err, dict) and isinstance(err.get("message"), str) and err["message"],
          "error must be {code, message}: %r" % (err,))
    if isinstance(code, (set, frozenset, tuple)):
        check(err.get("code") in code, "error.code %r is not one of %s (docs/backends.md)"
              % (err.get("code"), sorted(code)))
    else:
        eq(err.get("code"), code, "error.code")
    for frag in fragments:
        check(frag.lower() in err["message"].lower(),
              "error.message %r does not mention %r" % (err["message"], frag))
    eq(v["completed_at"], None, "completed_at of a failed video")


def download(s, vid, variant="video", key=ANY):
    """GET the content of variant: 200, its Content-Type and Content-Length;
    the bytes."""
    ctype = {"video": "video/mp4", "thumbnail": "image/webp",
             "spritesheet": "image/jpeg"}[variant]
    r = s.content(vid, variant, key=key)
    check(r.status == 200, "content %s of %s: status %s" % (variant, vid, r.status), r)
    eq((r.header("content-type") or "").split(";")[0].strip(), ctype,
       "Content-Type of variant %s" % variant)
    eq(int(r.header("content-length") or -1), len(r.body), "Content-Length of %s" % variant)
    if variant == "video":
        check(r.body[4:8] == b"ftyp", "the video is not an MP4: %r" % r.body[:16])
    elif variant == "thumbnail":
        check(r.body[:4] == b"RIFF" and r.body[8:12] == b"WEBP", "thumbnail is not WebP")
    else:
        check(r.body[:3] == b"\xff\xd8\xff", "spritesheet is not JPEG")
    return r.body


def probe(s, name, body):
    path = os.path.join(s.dir, name + ".mp4")
    with open(path, "wb") as f:
        f.write(body)
    return ffprobe(path)


def check_mp4(s, vid, body, width, height, fps, frames):
    p = probe(s, vid, body)
    check("mp4" in p["format"], "container %r is not MP4" % p["format"])
    eq(p["codec"], "h264", "codec")
    eq((p["width"], p["height"]), (width, height), "width, height")
    eq(p["fps"], "%d/1" % fps, "frame rate")
    eq(p["frames"], frames, "frame count")
    check(p["duration"] and abs(p["duration"] - frames / fps) < 0.2,
          "duration %r, want about %.2f s" % (p["duration"], frames / fps))
    return p


def no_content_files(s, vid):
    left = [f for sub in ("content", "tmp") for f in s.files_under(sub)
            if vid in os.path.basename(f)]
    check(not left, "files left behind by failed %s: %s" % (vid, left))


def ignored(v):
    return (v.get("metadata") or {}).get("ignored_params")


def create_form(s, model, prompt, png, **fields):
    form = [("model", model), ("prompt", prompt)] + [(k, str(v)) for k, v in fields.items()]
    form.append(("input_reference", ("ref.png", "image/png", png)))
    return expect_video(s.request("POST", "/v1/videos", form=form))


def gaps(times):
    return [b - a for a, b in zip(times, times[1:])]


# ================================================================== Kling

KLING_FIELDS = {"model_name", "prompt", "negative_prompt", "mode", "duration", "aspect_ratio",
                "image", "external_task_id", "cfg_scale", "image_tail", "callback_url"}


@test("kling: text2video and image2video (PNG as raw base64, an image URL), n=2 and a remix "
      "complete; JWT, external_task_id, duration, aspect_ratio, negative_prompt and mode as "
      "sent", timeout=90)
def _(s):
    reset("k-ok")
    png = png_bytes(64, 64, (10, 200, 90))
    url = "https://images.example.com/reelgate/cat.png"
    t5 = s.create(model="k-ok", prompt="a red fox in the snow", seconds="5", size="1280x720",
                  metadata={"negative_prompt": "blurry, watermark", "quality_level": "high"})
    t10 = s.create(model="k-ok", prompt="a tall waterfall", seconds="10", size="720x1280")
    up = create_form(s, "k-ok", "the picture comes alive", png, seconds="5")
    by_url = s.create(model="k-ok", prompt="the linked picture moves",
                      input_reference={"image_url": url})
    eq((by_url["metadata"] or {}).get("image_url"), url, "metadata.image_url")
    two = s.create(model="k-ok", prompt="twins", n=2)
    pair = (two["metadata"] or {}).get("video_ids") or []
    eq(len(pair), 2, "metadata.video_ids of n=2")
    for v in (t5, t10, up, by_url):
        check(not ignored(v), "%s: nothing to ignore, yet ignored_params %r"
              % (v["id"], ignored(v)))
    done = wait_all(s, [v["id"] for v in (t5, t10, up, by_url)] + pair)
    p = Problems()
    with p.case("n=2"):
        for vid in pair:
            expect_completed(*done[vid])
            eq([t["body"]["prompt"] for t in kling_tasks("k-ok", vid)], ["twins"],
               "the Kling task of %s" % vid)
    want = {
        t5["id"]: ("text2video", {"prompt": "a red fox in the snow", "duration": "5",
                                  "aspect_ratio": "16:9", "negative_prompt": "blurry, watermark",
                                  "mode": "pro"}, 5),
        t10["id"]: ("text2video", {"prompt": "a tall waterfall", "duration": "10",
                                   "aspect_ratio": "9:16"}, 10),
        up["id"]: ("image2video", {"prompt": "the picture comes alive", "duration": "5",
                                   "image": base64.b64encode(png).decode()}, 5),
        by_url["id"]: ("image2video", {"prompt": "the linked picture moves", "duration": "5",
                                       "image": url}, 5),
    }
    for vid, (endpoint, fields, secs) in want.items():
        with p.case(vid + " " + endpoint):
            v, hist = done[vid]
            expect_completed(v, hist)
            tasks = kling_tasks("k-ok", vid)
            eq(len(tasks), 1, "Kling tasks with external_task_id == our id")
            t = tasks[0]
            eq(t["endpoint"], endpoint, "endpoint")
            body = t["body"]
            eq(body.get("external_task_id"), vid, "external_task_id")
            eq(body.get("model_name"), "kling-v1-6", "model_name (the backend entry's model)")
            for k, val in fields.items():
                eq(body.get(k), val, "body field %s" % k)
            for k in ("negative_prompt", "mode", "aspect_ratio", "image"):
                if k not in fields:
                    check(k not in body, "%s sent though not asked for: %r" % (k, body.get(k)))
            check(set(body) <= KLING_FIELDS, "fields Kling does not know: %s"
                  % sorted(set(body) - KLING_FIELDS))
            data = download(s, vid)
            status, raw = fk("k-ok").call("GET", "/files/raw/%s.mp4" % t["task_id"])
            eq(status, 200, "the fake's own copy of the result")
            check(data == raw, "the stored video differs from the one Kling served")
            check_mp4(s, vid, data, 320, 180, 12, secs * 12)
            from records import check_settled, stored_record  # the usage ledger's inputs
            check_settled(stored_record(s, vid), data, {"units": 1})  # final_unit_deduction
            download(s, vid, "thumbnail")
            download(s, vid, "spritesheet")
    with p.case("completed video object"):
        v = done[t5["id"]][0]
        check(isinstance(v["completed_at"], int) and v["completed_at"] >= t5["created_at"],
              "completed_at %r" % v["completed_at"])
        eq(v["expires_at"], v["completed_at"] + RETENTION, "expires_at")
        eq((v["metadata"] or {}).get("url"), "%s/v1/videos/%s/content" % (s.base, v["id"]),
           "metadata.url")
        for f in ("model", "prompt", "size", "seconds", "created_at"):
            eq(v[f], t5[f], "%s after completion" % f)
    with p.case("remix: a new Kling generation with the source's settings"):
        r = expect_video(s.request("POST", "/v1/videos/%s/remix" % t10["id"],
                                   json={"prompt": "the waterfall freezes"}))
        eq(r["remixed_from_video_id"], t10["id"], "remixed_from_video_id")
        v, hist = s.wait_video(r["id"], timeout=VIDEO_BOUND)
        expect_completed(v, hist)
        t = kling_tasks("k-ok", r["id"])
        eq(len(t), 1, "Kling tasks of the remix")
        eq((t[0]["endpoint"], t[0]["body"].get("prompt"), t[0]["body"].get("duration"),
            t[0]["body"].get("aspect_ratio")),
           ("text2video", "the waterfall freezes", "10", "9:16"),
           "the remix's endpoint, prompt, duration, aspect_ratio")
    with p.case("JWT"):
        jobs = kjobs("k-ok")
        check(jobs["tokens"], "the fake saw no token")
        now = time.time()
        for t in jobs["tokens"]:
            eq(t["verdict"], 0, "the fake's verdict on a token (0: valid signature, iss, "
               "exp, nbf) for %s" % t["path"])
            c = t["claims"]
            eq(c.get("iss"), AK, "iss")
            check(1790 <= c["exp"] - c["nbf"] <= 1810, "exp - nbf = %s, want about 1800"
                  % (c["exp"] - c["nbf"]))
            check(c["nbf"] <= t["time"] + 1 and c["exp"] > now, "token not valid now: %r" % c)
        eq(jobs["auth_failures"], 0, "auth failures")
        eq(jobs["submits_received"], 7, "submits received (one per video)")
    p.done()
    s.db_check()


@test("kling: 429 1302 x2, 429 1303 x2 and 500 x2 on submit are waited out with backoff: "
      "one task each, completed", timeout=60)
def _(s):
    names = ("k-1302", "k-1303", "k-500")
    reset(*names)
    for name, mode in zip(names, ("429_1302", "429_1303", "500")):
        fk(name).scenario(submit=mode, count=2)
    vids = {name: s.create(model=name, prompt="retried on " + name)["id"] for name in names}
    done = wait_all(s, vids.values())
    p = Problems()
    for name, vid in vids.items():
        with p.case(name):
            expect_completed(*done[vid])
            jobs = kjobs(name)
            eq(jobs["submits_received"], 3, "submits received (2 refused, then 1 accepted)")
            eq([t["external_task_id"] for t in jobs["tasks"]], [vid], "tasks at the fake")
            g = gaps(kling_submit_times(jobs))
            eq(len(g), 2, "gaps between the three submits")
            # Backoff with jitter: the first wait at least 0.5 s, the second
            # (doubled) at least 1 s; both bounded.
            check(0.45 <= g[0] <= 3, "retried %.2f s after the first refusal" % g[0])
            check(0.9 <= g[1] <= 8, "retried %.2f s after the second refusal (the first "
                  "wait was %.2f s)" % (g[1], g[0]))
            download(s, vid)
    p.done()
    s.db_check()


@test("kling: 400 1301 -> content_policy_violation, 429 1102 -> upstream_quota_exhausted, "
      "a wrong secret key -> upstream_auth_failed, a loopback base_url not in allow_addresses "
      "-> upstream_forbidden; none retried", timeout=45)
def _(s):
    names = ("k-1301", "k-1102", "k-badkey", "k-noallow")
    reset(*names)
    fk("k-1301").scenario(submit="400_1301", count=1)
    fk("k-1102").scenario(submit="429_1102", count=1)
    t0 = time.monotonic()
    vids = {n: s.create(model=n, prompt="refused on " + n)["id"] for n in names}
    done = wait_all(s, vids.values(), timeout=20)
    took = time.monotonic() - t0
    p = Problems()
    for name, code, frag in (("k-1301", "content_policy_violation", "1301"),
                             ("k-1102", "upstream_quota_exhausted", "1102"),
                             ("k-badkey", "upstream_auth_failed", "credentials"),
                             ("k-noallow", "upstream_forbidden", "allow_addresses")):
        with p.case(name):
            expect_failed(*done[vids[name]], code, frag)
            jobs = kjobs(name)
            eq(jobs["submits_received"], 0 if name == "k-noallow" else 1,
               "submits (a refusal is not retried; the SSRF guard sends nothing)")
            eq(jobs["tasks"], [], "tasks at the fake")
            no_content_files(s, vids[name])
    with p.case("k-badkey token"):
        toks = kjobs("k-badkey")["tokens"]
        eq([t["verdict"] for t in toks], [1002], "the fake's verdicts (1002: bad signature)")
        eq(toks[0]["claims"].get("iss"), AK, "iss of the token signed with the wrong key")
    check(took < 15, "the refusals took %.1f s" % took)
    p.done()
    s.db_check()


@test("kling: submit answered by a reset, by invalid JSON, or timing out after the task was "
      "made -> reconciled by external_task_id, exactly one task, completed", timeout=60)
def _(s):
    names = ("k-reset", "k-badjson", "k-lost")
    reset(*names)
    fk("k-reset").scenario(submit="reset", count=1)
    fk("k-badjson").scenario(submit="invalid_json", count=1)
    fk("k-lost").scenario(submit="hold", delay=5, count=1)   # request_timeout_seconds 2
    vids = {n: s.create(model=n, prompt="unknown outcome on " + n)["id"] for n in names}
    done = wait_all(s, vids.values())
    p = Problems()
    for name, vid in vids.items():
        with p.case(name):
            expect_completed(*done[vid])
            jobs = kjobs(name)
            eq([t["external_task_id"] for t in jobs["tasks"]], [vid],
               "tasks at the fake (never two for one video)")
            # The reset and the broken answer came before the fake made the
            # task: one resend after the reconcile.  The held one was made:
            # found by the reconcile, never sent again.
            eq(jobs["submits_received"], 1 if name == "k-lost" else 2, "submits received")
            queried = [t for t in jobs["tokens"] if t["path"].endswith("/" + vid)]
            check(queried, "no query by external_task_id (reconcile) reached the fake")
            download(s, vid)
    p.done()
    s.db_check()


@test("kling: poll answered by 500, invalid JSON, a reset or 429 1302 twice -> completed, "
      "one task", timeout=60)
def _(s):
    modes = {"k-p500": "500", "k-pbad": "invalid_json", "k-preset": "reset",
             "k-p1302": "429_1302"}
    reset(*modes)
    for name, mode in modes.items():
        fk(name).scenario(poll=mode, count=2)
    vids = {n: s.create(model=n, prompt="polled through trouble on " + n)["id"] for n in modes}
    done = wait_all(s, vids.values())
    p = Problems()
    for name, vid in vids.items():
        with p.case(name):
            expect_completed(*done[vid])
            jobs = kjobs(name)
            eq(len(jobs["tasks"]), 1, "tasks at the fake")
            eq(jobs["submits_received"], 1, "submits")
            check(jobs["polls"] >= 3, "only %d polls: the two bad answers were not retried"
                  % jobs["polls"])
            eq(jobs["scenario"]["poll"], "ok", "the fake's poll misbehaviour was used up")
            download(s, vid)
    p.done()
    s.db_check()


@test("kling: outcome failed -> failed with Kling's message; never -> generation_timeout at "
      "the model's 10 s deadline; result 404 / redirect to 10.0.0.1 -> download_failed; "
      "redirect to the allowed loopback or a slow body -> completed", timeout=60)
def _(s):
    names = ("k-failed", "k-never", "k-404", "k-priv", "k-loop", "k-slowres")
    reset(*names)
    fk("k-slowres").scenario(result="slow", delay=3)
    fk("k-failed").scenario(outcome="failed")
    fk("k-never").scenario(outcome="never")
    fk("k-404").scenario(result="404")
    fk("k-priv").scenario(result="redirect_private")
    fk("k-loop").scenario(result="redirect_loopback")
    t0 = time.monotonic()
    vids = {n: s.create(model=n, prompt="outcome on " + n)["id"] for n in names}
    ended = wait_all(s, vids.values(), timeout=30)
    done = {n: ended[vid] for n, vid in vids.items()}
    p = Problems()
    with p.case("k-failed"):
        expect_failed(*done["k-failed"], "generation_failed", KLING_FAIL_MSG)
        no_content_files(s, vids["k-failed"])
    with p.case("k-never"):
        took = ENDED_AT[vids["k-never"]] - t0
        expect_failed(*done["k-never"], "generation_timeout")
        check(9 <= took <= 22, "failed %.1f s after creation; the deadline is 10 s" % took)
        eq(kjobs("k-never")["tasks"][0]["task_status"], "processing", "the fake's task")
    with p.case("k-404"):
        expect_failed(*done["k-404"], "download_failed")
        eq(kjobs("k-404")["downloads"], 0, "downloads served")
        no_content_files(s, vids["k-404"])
    with p.case("k-priv"):
        expect_failed(*done["k-priv"], "download_failed", "SSRF")
        no_content_files(s, vids["k-priv"])
    for name in ("k-loop", "k-slowres"):
        with p.case(name):
            expect_completed(*done[name])
            t = kling_tasks(name, vids[name])[0]
            status, raw = fk(name).call("GET", "/files/raw/%s.mp4" % t["task_id"])
            check(download(s, vids[name]) == raw, "the stored video differs from the fake's")
    p.done()
    s.db_check()


# ================================================================ OpenAI

@test("openai: multipart and JSON encodings (text, PNG file, image URL), an Azure-style "
      "prefix with api-key auth; Idempotency-Key, content and thumbnail from the upstream",
      timeout=90)
def _(s):
    reset("o-main", "o-azure")
    png = png_bytes(320, 180, (200, 120, 10))          # the fake wants size == the image's
    url = "https://images.example.com/reelgate/ref.png"
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    cases = {}
    v = s.create(model="o-main", prompt="multipart text", seconds="2", size="320x180")
    cases[v["id"]] = ("o-main", "/v1/videos", "multipart", {}, None, 2)
    v = create_form(s, "o-main", "multipart with a file", png, seconds="1", size="320x180")
    cases[v["id"]] = ("o-main", "/v1/videos", "multipart", {}, len(png), 1)
    v = s.create(model="o-json", prompt="json with a file", seconds="1", size="320x180",
                 image=base64.b64encode(png).decode())
    cases[v["id"]] = ("o-main", "/v1/videos", "json",
                      {"input_reference": {"image_url": data_url}}, None, 1)
    v = s.create(model="o-json", prompt="json with a URL", seconds="1", size="320x180",
                 input_reference={"image_url": url})
    cases[v["id"]] = ("o-main", "/v1/videos", "json",
                      {"input_reference": {"image_url": url}}, None, 1)
    v = s.create(model="o-main", prompt="multipart with a URL", seconds="1", size="320x180",
                 image=url)
    cases[v["id"]] = ("o-main", "/v1/videos", "multipart",
                      {"input_reference[image_url]": url}, None, 1)
    v = s.create(model="o-azure", prompt="to an Azure-style deployment", seconds="1",
                 size="320x180")
    cases[v["id"]] = ("o-azure", AZURE_PREFIX + "/videos", "multipart", {}, None, 1)
    done = wait_all(s, list(cases))
    p = Problems()
    for vid, (fake, path, enc, extra, file_size, secs) in cases.items():
        with p.case("%s %s" % (vid, done[vid][0]["prompt"])):
            v, hist = done[vid]
            expect_completed(v, hist)
            jobs = openai_jobs(fake, vid)
            eq(len(jobs), 1, "creates with Idempotency-Key == our video id")
            job = jobs[0]
            eq((job["kind"], job["path"], job["encoding"]), ("create", path, enc),
               "kind, path, encoding")
            want = dict({"prompt": v["prompt"], "model": "sora-2", "seconds": str(secs),
                         "size": "320x180"}, **extra)
            eq(job["fields"], want, "fields the upstream received")
            if file_size is None:
                eq(job["has_file"], False, "a file part")
            else:
                f = job["file"] or {}
                eq((f.get("field"), f.get("content_type"), f.get("size")),
                   ("input_reference", "image/png", file_size), "the file part")
            up = job["video_id"]
            check(up, "the fake made no video")
            data = download(s, vid)
            status, raw = fk(fake).call("GET", "/files/%s.mp4" % up)
            check(status == 200 and data == raw, "the stored video is not the upstream's")
            check_mp4(s, vid, data, 320, 180, 12, 12 * secs)
            thumb = download(s, vid, "thumbnail")
            status, raw = fk(fake).call("GET", "/files/%s.webp" % up)
            check(status == 200 and thumb == raw, "the thumbnail is not the upstream's")
            download(s, vid, "spritesheet")
    with p.case("counters"):
        eq(openai_jobs("o-main")["creates_received"], 5, "creates at o-main")
        eq(openai_jobs("o-azure")["creates_received"], 1, "creates at o-azure")
    p.done()
    s.db_check()


@test("openai: a remix of a video made there goes to the upstream's remix of its id",
      timeout=60)
def _(s):
    reset("o-main")
    src = s.create(model="o-main", prompt="a paper boat", seconds="1", size="320x180")
    v, hist = s.wait_video(src["id"], timeout=VIDEO_BOUND)
    expect_completed(v, hist)
    up = openai_jobs("o-main", src["id"])[0]["video_id"]
    r = s.request("POST", "/v1/videos/%s/remix" % src["id"], json={"prompt": "now it sinks"})
    remix = expect_video(r)
    eq(remix["remixed_from_video_id"], src["id"], "remixed_from_video_id")
    v, hist = s.wait_video(remix["id"], timeout=VIDEO_BOUND)
    expect_completed(v, hist)
    jobs = openai_jobs("o-main", remix["id"])
    eq(len(jobs), 1, "requests with Idempotency-Key == the remix's id")
    job = jobs[0]
    eq((job["kind"], job["source_video_id"], job["path"]),
       ("remix", up, "/v1/videos/%s/remix" % up), "the upstream request")
    eq(job["fields"], {"prompt": "now it sinks"}, "remix fields")
    counters = openai_jobs("o-main")
    eq((counters["creates_received"], counters["remixes_accepted"]), (1, 1),
       "creates and remixes at the upstream")
    data = download(s, remix["id"])
    status, raw = fk("o-main").call("GET", "/files/%s.mp4" % job["video_id"])
    check(status == 200 and data == raw, "the remix's video is not the upstream remix's")
    s.db_check()


@test("openai: submit 429 (Retry-After 3) x2, 500 x2, a reset, invalid JSON, a create that "
      "times out after it was made -> one upstream video each; a 400 fails at once",
      timeout=60)
def _(s):
    names = ("o-429", "o-500", "o-reset", "o-badjson", "o-lost", "o-400")
    reset(*names)
    fk("o-429").scenario(submit="429", count=2, retry_after=3)
    fk("o-500").scenario(submit="500", count=2)
    fk("o-reset").scenario(submit="reset", count=1)
    fk("o-badjson").scenario(submit="invalid_json", count=1)
    fk("o-lost").scenario(submit="hold", delay=5, count=1)     # request_timeout_seconds 2
    fk("o-400").scenario(submit="400", count=1)
    vids = {n: s.create(model=n, prompt="submit trouble on " + n)["id"] for n in names}
    done = wait_all(s, vids.values())
    p = Problems()
    received = {"o-429": 3, "o-500": 3, "o-reset": 2, "o-badjson": 2, "o-lost": 1}
    for name, n in received.items():
        with p.case(name):
            vid = vids[name]
            expect_completed(*done[vid])
            j = openai_jobs(name)
            eq((j["creates_received"], j["creates_accepted"]), (n, 1),
               "creates received, accepted")
            eq([x["idempotency_key"] for x in j["jobs"]], [vid] * n, "Idempotency-Keys")
            if name in ("o-reset", "o-badjson", "o-lost"):
                check(j["lists"] >= 1, "no list request: the unknown outcome was not reconciled")
            if name == "o-429":
                g = gaps([x["time"] for x in j["jobs"]])
                check(all(x >= 2.9 for x in g), "Retry-After: 3 not honoured: waits %s"
                      % ["%.2f" % x for x in g])
            download(s, vid)
    with p.case("o-400"):
        # A refused request: upstream_rejected (or, as it is a moderation
        # refusal, content_policy_violation); never the upstream's own code.
        expect_failed(*done[vids["o-400"]], {"upstream_rejected", "content_policy_violation"},
                      "moderation")
        eq(openai_jobs("o-400")["creates_received"], 1, "creates (a 400 is not retried)")
    p.done()
    s.db_check()


@test("openai: two keys submit the same prompt and one create's outcome is unknown -> the "
      "reconcile does not adopt the other key's upstream video: two upstream videos",
      timeout=60)
def _(s):
    reset("o-twins")
    k1, k2 = s.create_key(), s.create_key()
    fk("o-twins").scenario(submit="invalid_json", count=1)   # the first create to arrive
    prompt = "a cat asleep on a sofa"                      # a prompt many users send
    a = s.create(key=k1, model="o-twins", prompt=prompt)
    b = s.create(key=k2, model="o-twins", prompt=prompt)
    for v, k in ((a, k1), (b, k2)):
        done, hist = s.wait_video(v["id"], key=k, timeout=VIDEO_BOUND)
        expect_completed(done, hist)
    j = openai_jobs("o-twins")
    made = {x["idempotency_key"]: x["video_id"] for x in j["jobs"] if x["video_id"]}
    eq(sorted(made), sorted([a["id"], b["id"]]),
       "videos whose create the upstream accepted (an upstream video each; the one whose "
       "answer was broken was adopted from the other key's job instead)")
    eq(j["creates_accepted"], 2, "upstream videos made")
    s.db_check()


@test("a submit the upstream acted on and then closed unanswered, on a kept-alive "
      "connection, is reconciled and never sent again (openai, comfyui)", timeout=60)
def _(s):
    names = ("o-closed", "c-closed")
    reset(*names)
    # A first video leaves a kept-alive connection to each fake in curl's pool.
    warm = [s.create(model=n, prompt="warms the connection to " + n)["id"] for n in names]
    for vid, (v, hist) in wait_all(s, warm).items():
        expect_completed(v, hist)
    reset(*names)
    for n in names:
        fk(n).scenario(submit="hold", delay=2, count=1)   # made, then closed without answer
    vids = {n: s.create(model=n, prompt="held, then dropped, on " + n)["id"] for n in names}
    done = wait_all(s, vids.values())
    p = Problems()
    with p.case("o-closed"):
        expect_completed(*done[vids["o-closed"]])
        j = openai_jobs("o-closed")
        eq((j["creates_received"], j["creates_accepted"]), (1, 1),
           "creates received, accepted (a second create is a second charge)")
    with p.case("c-closed"):
        expect_completed(*done[vids["c-closed"]])
        j = comfy_jobs("c-closed")
        eq((j["counters"]["prompts_received"], j["counters"]["duplicates"]), (1, 0),
           "prompts received, duplicates (ComfyUI runs a resent prompt_id twice)")
    p.done()
    s.db_check()


@test("openai: poll answered by 429, 500, invalid JSON or a reset twice -> completed",
      timeout=60)
def _(s):
    modes = {"o-p429": "429", "o-p500": "500", "o-pbad": "invalid_json", "o-preset": "reset"}
    reset(*modes)
    for name, mode in modes.items():
        fk(name).scenario(poll=mode, count=2, retry_after=1)
    vids = {n: s.create(model=n, prompt="polls on " + n)["id"] for n in modes}
    done = wait_all(s, vids.values())
    p = Problems()
    for name, vid in vids.items():
        with p.case(name):
            expect_completed(*done[vid])
            j = openai_jobs(name)
            eq((j["creates_received"], j["creates_accepted"]), (1, 1), "creates")
            check(j["polls"] >= 3, "%d polls" % j["polls"])
            download(s, vid)
    p.done()
    s.db_check()


@test("openai: outcome failed / never (10 s deadline); content 404, redirect to 10.0.0.1, "
      "a 10 GB body -> download_failed; a redirect to the allowed loopback or a slow body -> "
      "completed; a wrong key -> upstream_auth_failed", timeout=60)
def _(s):
    names = ("o-failed", "o-never", "o-404", "o-priv", "o-redir", "o-huge", "o-slow",
             "o-badkey")
    reset(*names)
    fk("o-slow").scenario(content="slow", delay=2)
    fk("o-failed").scenario(outcome="failed")
    fk("o-never").scenario(outcome="never")
    fk("o-404").scenario(content="404")
    fk("o-priv").scenario(content="redirect_private")
    fk("o-redir").scenario(content="redirect")
    fk("o-huge").scenario(content="huge")
    t0 = time.monotonic()
    vids = {n: s.create(model=n, prompt="outcome on " + n)["id"] for n in names}
    ended = wait_all(s, vids.values(), timeout=45)
    done = {n: ended[vid] for n, vid in vids.items()}
    took = {n: ENDED_AT[vid] - t0 for n, vid in vids.items()}
    p = Problems()
    with p.case("o-failed"):
        expect_failed(*done["o-failed"], {"generation_failed", "content_policy_violation"},
                      "blocked by our moderation system")
    with p.case("o-never"):
        expect_failed(*done["o-never"], "generation_timeout")
        check(9 <= took["o-never"] <= 22, "failed %.1f s after creation; the deadline is 10 s"
              % took["o-never"])
    with p.case("o-404"):
        expect_failed(*done["o-404"], "download_failed")
        no_content_files(s, vids["o-404"])
    with p.case("o-priv"):
        expect_failed(*done["o-priv"], "download_failed", "SSRF")
        no_content_files(s, vids["o-priv"])
    with p.case("o-huge"):
        expect_failed(*done["o-huge"], "download_failed")
        check(re.search(r"limit|too (big|large)|exceed|size", done["o-huge"][0]["error"]["message"],
                        re.I), "the message does not say the result was too big: %r"
              % done["o-huge"][0]["error"]["message"])
        check(took["o-huge"] < 15, "a result over limits.max_output_bytes took %.1f s to fail "
              "(it cannot succeed: fail at once)" % took["o-huge"])
        no_content_files(s, vids["o-huge"])
    for name in ("o-redir", "o-slow"):
        with p.case(name):
            expect_completed(*done[name])
            up = openai_jobs(name, vids[name])[0]["video_id"]
            for variant, ext in (("video", "mp4"), ("thumbnail", "webp")):
                status, raw = fk(name).call("GET", "/files/%s.%s" % (up, ext))
                check(download(s, vids[name], variant) == raw,
                      "%s differs from the upstream's" % variant)
    with p.case("o-badkey"):
        expect_failed(*done["o-badkey"], "upstream_auth_failed")
        eq(openai_jobs("o-badkey")["creates_received"], 0, "creates accepted past auth")
        check(OPENAI_WRONG_KEY not in done["o-badkey"][0]["error"]["message"],
              "the key is in the error message")
    p.done()
    s.db_check()


@test("openai peer: reelgate A -> reelgate B (local renderer): content, thumbnail, "
      "spritesheet through A; remix through A reaches B's remix; B's key never shows",
      timeout=120)
def _(_):
    with Stack(workers=2, content={"retention_seconds": RETENTION}) as b:
        bkey = b.create_key("peer-a")
        peer = {"type": "openai", "base_url": b.base + "/v1", "api_key_env": "PEER_KEY",
                "encoding": "multipart", "poll_seconds": 1, "allow_addresses": ["127.0.0.1"],
                "max_retries": 3, "concurrency": 2}
        model = openai_model(["peer"])
        model["backends"] = [{"backend": "peer", "model": "reelgate-local"}]
        with Stack(workers=2, backends={"peer": peer}, extra_models={"peer": model},
                   env={"PEER_KEY": bkey}, content={"retention_seconds": RETENTION}) as a:
            v = a.create(model="peer", prompt="a lighthouse through two gateways", seconds="1",
                         size="320x180")
            done, hist = a.wait_video(v["id"], timeout=VIDEO_BOUND)
            expect_completed(done, hist)
            listed = b.list(key=bkey, limit=10).json["data"]
            eq(len(listed), 1, "videos B made for A's key")
            bv = listed[0]
            eq((bv["prompt"], bv["status"], bv["size"], bv["seconds"], bv["model"]),
               (v["prompt"], "completed", "320x180", "1", "reelgate-local"), "B's video")
            for variant in ("video", "thumbnail"):
                mine = download(a, v["id"], variant)
                theirs = b.content(bv["id"], variant, key=bkey)
                check(theirs.status == 200 and mine == theirs.body,
                      "A's %s is not B's" % variant)
            download(a, v["id"], "spritesheet")
            check_mp4(a, v["id"], download(a, v["id"]), 320, 180, 24, 24)
            r = a.request("POST", "/v1/videos/%s/remix" % v["id"],
                          json={"prompt": "the lighthouse in a storm"})
            remix = expect_video(r)
            eq(remix["remixed_from_video_id"], v["id"], "A's remix: remixed_from_video_id")
            done, hist = a.wait_video(remix["id"], timeout=VIDEO_BOUND)
            expect_completed(done, hist)
            listed = b.list(key=bkey, limit=10).json["data"]
            eq(len(listed), 2, "videos B made for A's key after the remix")
            br = [x for x in listed if x["id"] != bv["id"]][0]
            eq((br["remixed_from_video_id"], br["prompt"]),
               (bv["id"], "the lighthouse in a storm"),
               "B's remix record (remixed_from_video_id, prompt)")
            mine = download(a, remix["id"])
            theirs = b.content(br["id"], key=bkey)
            check(theirs.status == 200 and mine == theirs.body, "A's remix video is not B's")
            a.db_check()
            b.db_check()
            leaks = a.secret_leaks({"B's API key": bkey}) + \
                b.secret_leaks({"B's API key": bkey})
            check(not leaks, "secrets found:\n" + "\n".join(leaks))


# =============================================================== ComfyUI

def comfy_check_workflow(wf, vid, prompt, seconds, fps, w, h, seed=None, negative=None,
                         image=None):
    eq(wf["6"]["inputs"]["text"], prompt, "6.text (prompt)")
    if negative is not None:
        eq(wf["7"]["inputs"]["text"], negative, "7.text (negative_prompt)")
    if seed is not None:
        eq(wf["3"]["inputs"]["seed"], seed, "3.seed")
    else:
        sd = wf["3"]["inputs"]["seed"]
        check(isinstance(sd, int) and 0 <= sd < 2 ** 64, "3.seed %r" % (sd,))
    eq((wf["55"]["inputs"]["width"], wf["55"]["inputs"]["height"]), (w, h), "55 width, height")
    eq(wf["55"]["inputs"]["length"], seconds * fps + 1, "55.length (seconds * fps + 1)")
    eq(wf["57"]["inputs"]["fps"], fps, "57.fps")
    if image is None:
        check("56" not in wf, "the image node 56 was not dropped without an image")
        check("start_image" not in wf["55"]["inputs"], "55.start_image still links to 56")
    else:
        eq(wf["56"]["inputs"]["image"], image, "56.image (the name /upload/image returned)")
        eq(wf["55"]["inputs"]["start_image"], ["56", 0], "55.start_image")


def comfy_fetch(name, job):
    f = job["files"][0]
    q = urllib.parse.urlencode({"filename": f["filename"], "subfolder": f["subfolder"],
                                "type": f["type"]})
    status, raw = fk(name).call("GET", "/view?" + q)
    eq(status, 200, "the fake's /view of its output")
    return raw


def comfy_input(name, upload):
    """The bytes of an image uploaded to the ComfyUI fake (its /view)."""
    q = urllib.parse.urlencode({"filename": upload["name"], "subfolder": upload["subfolder"],
                                "type": upload["type"]})
    status, raw = fk(name).call("GET", "/view?" + q)
    eq(status, 200, "the fake's /view of the uploaded image")
    return raw


@test("comfyui: text only (image node dropped), with an uploaded image, with an image URL "
      "(downloaded by reelgate, uploaded as a file), VHS output shape: prompt_id, seed, size, "
      "frames, fps, negative prompt set in the workflow; an image URL that is a 404 -> "
      "invalid_image", timeout=90)
def _(s):
    reset("c-main", "c-vhs")
    png = png_bytes(64, 64, (40, 40, 220))
    linked = png_bytes(48, 48, (220, 90, 40))
    text = s.create(model="c-main", prompt="a koi pond at dawn", seconds="2", size="320x176",
                    fps=8, seed=4242, metadata={"negative_prompt": "grainy, dark"})
    img = create_form(s, "c-main", "the koi swim", png, seconds="1", size="256x144", fps=12)
    vhs = s.create(model="c-vhs", prompt="saved by VideoHelperSuite", seconds="2",
                   size="320x176", fps=8)
    url = s.create(model="c-main", prompt="from a URL", seconds="1", size="256x144", fps=12,
                   input_reference={"image_url": images().serve("/comfy.png", linked)})
    gone = s.create(model="c-main", prompt="from a missing URL",
                    input_reference={"image_url": images().url("/comfy-missing.png")})
    for v in (text, img, vhs, url):
        check(not ignored(v), "%s: ignored_params %r" % (v["id"], ignored(v)))
    done = wait_all(s, [text["id"], img["id"], vhs["id"], url["id"], gone["id"]])
    p = Problems()
    cases = ((text, "c-main", dict(seconds=2, fps=8, w=320, h=176, seed=4242,
                                   negative="grainy, dark")),
             (img, "c-main", dict(seconds=1, fps=12, w=256, h=144)),
             (url, "c-main", dict(seconds=1, fps=12, w=256, h=144)),
             (vhs, "c-vhs", dict(seconds=2, fps=8, w=320, h=176)))
    for v, fake, want in cases:
        with p.case("%s %s" % (fake, v["prompt"])):
            expect_completed(*done[v["id"]])
            jobs = comfy_jobs(fake, v["id"])
            eq(len(jobs), 1, "prompts with prompt_id == our id")
            job = jobs[0]
            eq(job["status"], "success", "the fake's job status")
            image = None
            if v is img or v is url:
                ups = [u for u in comfy_jobs(fake)["uploads"] if u["name"].startswith(v["id"])]
                eq(len(ups), 1, "uploads named after the video")
                eq(comfy_input(fake, ups[0]), png if v is img else linked, "the uploaded image")
                image = ups[0]["name"] if not ups[0]["subfolder"] else \
                    ups[0]["subfolder"] + "/" + ups[0]["name"]
                eq(job["image"], image, "the image the job used")
            comfy_check_workflow(job["workflow"], v["id"], v["prompt"], image=image, **want)
            data = download(s, v["id"])
            check(data == comfy_fetch(fake, job), "the stored video is not ComfyUI's output")
            check_mp4(s, v["id"], data, want["w"], want["h"], want["fps"],
                      want["seconds"] * want["fps"] + 1)
            download(s, v["id"], "thumbnail")
            download(s, v["id"], "spritesheet")
    with p.case("image URL"):
        eq(images().hits.count("/comfy.png"), 1, "downloads of the image URL")
        eq(done[url["id"]][0]["metadata"].get("image_url"), images().url("/comfy.png"),
           "metadata.image_url")
    with p.case("image URL that is a 404"):
        expect_failed(*done[gone["id"]], "invalid_image", "input_reference", "HTTP 404")
        eq(comfy_jobs("c-main", gone["id"]), [], "prompts for the task")
        eq([u for u in comfy_jobs("c-main")["uploads"] if u["name"].startswith(gone["id"])], [],
           "uploads for the task")
    with p.case("output shapes"):
        j = comfy_jobs("c-vhs", vhs["id"])[0]
        check(j["files"] and j["files"][0]["filename"].endswith(".mp4")
              and not j["files"][0]["filename"].endswith("_.mp4"), "not a VHS name: %r"
              % j["files"])
    p.done()
    s.db_check()


@test("comfyui: an execution error -> failed with ComfyUI's exception message (its path "
      "scrubbed out); a validation "
      "400 -> upstream_rejected naming the node; /view 404 -> download_failed", timeout=45)
def _(s):
    names = ("c-err", "c-val", "c-view404")
    reset(*names)
    fk("c-err").scenario(outcome="error", message=COMFY_ERROR + " loading " + COMFY_ERROR_PATH)
    fk("c-view404").scenario(view="404")
    err = s.create(model="c-err", prompt="runs out of memory")
    val = s.create(model="c-val", prompt="a size ComfyUI refuses", size="328x184")
    view = s.create(model="c-view404", prompt="its output is gone")
    done = wait_all(s, [err["id"], val["id"], view["id"]], timeout=30)
    p = Problems()
    with p.case("c-err"):
        expect_failed(*done[err["id"]], "generation_failed", COMFY_ERROR, " loading <file>")
        check("/opt/" not in done[err["id"]][0]["error"]["message"],
              "ComfyUI's path in error.message: %r" % done[err["id"]][0]["error"]["message"])
        no_content_files(s, err["id"])
    with p.case("c-val"):
        expect_failed(*done[val["id"]], "upstream_rejected", "55", "multiple of 16")
        jobs = comfy_jobs("c-val")["jobs"]
        eq([(j["status"], j["http_status"]) for j in jobs], [("rejected", 400)],
           "prompts at the fake (a 400 is not retried)")
    with p.case("c-view404"):
        expect_failed(*done[view["id"]], "download_failed")
        no_content_files(s, view["id"])
    p.done()
    s.db_check()


@test("comfyui: submit 500 x2, invalid JSON, no answer after queueing; poll 500 / invalid "
      "JSON / reset x2; upload 500; slow /view -> completed, one queued prompt each",
      timeout=60)
def _(s):
    names = ("c-sub500", "c-subbad", "c-hold", "c-poll500", "c-pollbad", "c-pollreset",
             "c-up500", "c-viewslow")
    reset(*names)
    fk("c-sub500").scenario(submit="500", count=2)
    fk("c-subbad").scenario(submit="invalid_json", count=1)
    fk("c-hold").scenario(submit="hold", delay=3, count=1)
    fk("c-poll500").scenario(poll="500", count=2)
    fk("c-pollbad").scenario(poll="invalid_json", count=2)
    fk("c-pollreset").scenario(poll="reset", count=2)
    fk("c-up500").scenario(upload="500", count=1)
    fk("c-viewslow").scenario(view="slow", delay=2, count=1)
    png = png_bytes(48, 48)
    vids = {}
    for n in names:
        if n == "c-up500":
            vids[n] = create_form(s, n, "uploaded twice on " + n, png)["id"]
        else:
            vids[n] = s.create(model=n, prompt="trouble on " + n)["id"]
    done = wait_all(s, vids.values())
    p = Problems()
    for name, vid in vids.items():
        with p.case(name):
            expect_completed(*done[vid])
            j = comfy_jobs(name)
            mine = [x for x in j["jobs"] if x["prompt_id"] == vid]
            eq([x["status"] for x in mine], ["success"], "prompts queued for the video")
            eq((j["counters"]["prompts_queued"], j["counters"]["duplicates"]), (1, 0),
               "prompts queued, duplicates")
            if name == "c-sub500":
                eq(j["counters"]["prompts_received"], 3, "prompts received")
            if name == "c-up500":
                eq(j["counters"]["uploads"], 1, "uploads stored")
            data = download(s, vid)
            check(data == comfy_fetch(name, mine[0]), "the stored video is not ComfyUI's")
    p.done()
    s.db_check()


# ======================================================== scheduling

@test("failover: kling answering 503 -> the task completes on the model's openai backend "
      "(one upstream job); both failing -> upstream_unavailable within bounds", timeout=60)
def _(s):
    reset("k-fo", "o-fo", "k-fo2", "o-fo2")
    fk("k-fo").scenario(submit="503")
    fk("k-fo2").scenario(submit="503")
    fk("o-fo2").scenario(submit="503")
    t0 = time.monotonic()
    ok = s.create(model="fo", prompt="moves to the second backend")
    bad = s.create(model="fo2", prompt="nowhere to go")
    done = wait_all(s, [ok["id"], bad["id"]], timeout=45)
    p = Problems()
    with p.case("fo"):
        expect_completed(*done[ok["id"]])
        k = kjobs("k-fo")
        check(k["submits_received"] >= 1, "kling never saw the submit")
        eq(k["tasks"], [], "tasks at kling")
        eq(k["polls"], 0, "polls at kling (the task is the openai backend's)")
        jobs = openai_jobs("o-fo", ok["id"])
        eq(len(jobs), 1, "creates at the openai backend")
        eq(openai_jobs("o-fo")["creates_accepted"], 1, "videos the openai backend made")
        eq(jobs[0]["fields"].get("model"), "sora-2", "model sent to the openai backend")
        up = jobs[0]["video_id"]
        status, raw = fk("o-fo").call("GET", "/files/%s.mp4" % up)
        check(download(s, ok["id"]) == raw, "the video is not the openai backend's")
    with p.case("fo2"):
        took = ENDED_AT[bad["id"]] - t0
        expect_failed(*done[bad["id"]], "upstream_unavailable")
        check(took < 40, "gave up after %.1f s" % took)
        k, o = kjobs("k-fo2"), openai_jobs("o-fo2")
        attempts = k["submits_received"] + o["creates_received"]
        check(k["submits_received"] >= 1 and o["creates_received"] >= 1,
              "attempts: kling %d, openai %d" % (k["submits_received"], o["creates_received"]))
        check(attempts <= 2 + 3, "%d submits in all with max_retries 3" % attempts)
        eq(o["creates_accepted"] + len(k["tasks"]), 0, "jobs made")
    p.done()
    s.db_check()


@test("remote concurrency 1: three slow kling tasks, at most one in progress at the fake "
      "and in reelgate at a time; all complete", timeout=90)
def _(s):
    reset("k-serial")
    k = s.create_key()
    vids = [s.create(key=k, model="k-serial", prompt="serial %d" % i)["id"] for i in range(3)]
    most, seen_waiting = 0, False
    deadline = time.monotonic() + 60
    while True:
        tasks = kjobs("k-serial")["tasks"]
        busy = [t for t in tasks if t["task_status"] in ("submitted", "processing")]
        check(len(busy) <= 1, "%d tasks running at the fake at once: %s" % (len(busy), busy))
        states = {v["id"]: v["status"] for v in s.list(key=k, limit=10).json["data"]}
        running = [i for i in vids if states.get(i) == "in_progress"]
        check(len(running) <= 1, "%d in_progress at once with concurrency 1: %s"
              % (len(running), states))
        most = max(most, len(running))
        seen_waiting |= bool(running) and any(states.get(i) == "queued" for i in vids)
        if all(states.get(i) in ("completed", "failed") for i in vids):
            break
        check(time.monotonic() < deadline, "not all done in 60 s: %s" % states)
        time.sleep(0.1)
    eq([states[i] for i in vids], ["completed"] * 3, "final statuses")
    check(most == 1 and seen_waiting, "never saw one in progress while another waited")
    tasks = sorted(kjobs("k-serial")["tasks"], key=lambda t: t["created_at"])
    eq(sorted(t["external_task_id"] for t in tasks), sorted(vids), "tasks at the fake")
    for a, b in zip(tasks, tasks[1:]):
        check(b["created_at"] - a["created_at"] >= 2900,
              "a task was submitted %d ms after the previous one, which runs 3 s"
              % (b["created_at"] - a["created_at"]))
    s.db_check()


@test("deleting an in-progress remote video stops its polls and frees its backend slot "
      "(concurrency 1)", timeout=60)
def _(s):
    reset("k-serial")
    a = s.create(model="k-serial", prompt="deleted while Kling works on it")
    wait_until(lambda: kling_tasks("k-serial", a["id"]), 15, interval=0.1,
               what="the task to reach the fake")
    r = s.request("DELETE", "/v1/videos/" + a["id"])
    eq((r.status, (r.json or {}).get("deleted")), (200, True), "DELETE of an in-progress video")
    b = s.create(model="k-serial", prompt="takes the freed slot")
    v, hist = s.wait_video(b["id"], timeout=VIDEO_BOUND)
    expect_completed(v, hist)
    polls = kjobs("k-serial")["polls"]
    time.sleep(2.5)                              # two poll intervals
    eq(kjobs("k-serial")["polls"], polls, "polls after both videos are done or gone")
    expect_error(s.get(a["id"]), 404, code=ANY)
    eq([f for f in s.files_under("content") if a["id"] in f], [], "files of the deleted video")
    s.db_check()


@test("crash-safe submission: kill -9 the dispatcher while kling, comfyui and openai hold "
      "a submit they acted on; the new dispatcher reconciles: one job each, all complete",
      timeout=90)
def _(s):
    reset("k-crash", "c-crash", "o-crash")
    for name in ("k-crash", "c-crash", "o-crash"):
        fk(name).scenario(submit="hold", delay=8, count=1)
    vids = {n: s.create(model=n, prompt="survives its dispatcher on " + n)["id"]
            for n in ("k-crash", "c-crash", "o-crash")}

    def all_made():
        return (kling_tasks("k-crash", vids["k-crash"])
                and comfy_jobs("c-crash", vids["c-crash"])
                and [j for j in openai_jobs("o-crash", vids["o-crash"]) if j["video_id"]])
    wait_until(all_made, 15, interval=0.1, what="the three fakes to make their jobs")
    for name, vid in vids.items():
        eq(s.get(vid).json["status"], "in_progress", "%s while its submit is held" % name)
    old = s.dispatcher_pid()
    check(old, "no live dispatcher in data_dir/dispatcher.lock")
    os.kill(old, signal.SIGKILL)
    new = wait_until(lambda: (s.dispatcher_pid() not in (None, old)) and s.dispatcher_pid(),
                     15, interval=0.1, what="a new dispatcher")
    check(alive(new) and not alive(old), "no new dispatcher")
    check(new in children(s.master_pid()), "the new dispatcher is not the master's child")
    done = wait_all(s, vids.values(), timeout=VIDEO_BOUND, strict=False)
    p = Problems()
    with p.case("k-crash"):
        vid = vids["k-crash"]
        expect_completed(*done[vid])
        j = kjobs("k-crash")
        eq([t["external_task_id"] for t in j["tasks"]], [vid], "Kling tasks")
        eq(j["submits_received"], 1, "submits (found by external_task_id, not resent)")
    with p.case("c-crash"):
        vid = vids["c-crash"]
        expect_completed(*done[vid])
        j = comfy_jobs("c-crash")
        eq([x["prompt_id"] for x in j["jobs"]], [vid], "prompts received")
        eq(j["counters"]["duplicates"], 0, "duplicate prompt_ids")
    with p.case("o-crash"):
        vid = vids["o-crash"]
        expect_completed(*done[vid])
        j = openai_jobs("o-crash")
        eq((j["creates_received"], j["creates_accepted"]), (1, 1), "creates")
    for name, vid in vids.items():
        with p.case(name + " content"):
            download(s, vid)
    p.done()
    s.db_check()


# ========================================================== parameters

@test("ignored_params lists what a backend cannot honour (seed, fps, size for kling; seed, "
      "fps for openai; nothing for a fully mapped comfyui); strict_params -> 400 naming the "
      "field", timeout=60)
def _(s):
    reset("k-ok", "o-main", "c-main")
    p = Problems()
    made = {}            # id -> what Kling must receive (None: not checked)
    png = png_bytes(32, 32)
    for model, fields, want, kling in (
            ("k-ok", dict(seed=7, fps=24), ["seed", "fps"], {"aspect_ratio": "16:9"}),
            ("k-ok", dict(size="1000x700"), ["size"], {"aspect_ratio": "16:9"}),
            ("k-ok", dict(size="1000x800"), ["size"], {"aspect_ratio": "1:1"}),
            ("k-ok", dict(size="1000x1000", seconds="10"), None,
             {"aspect_ratio": "1:1", "duration": "10"}),
            ("k-ok", {}, None, {"aspect_ratio": "16:9", "duration": "5"}),
            ("k-free", dict(seconds="7"), ["seconds"], {"duration": "5"}),
            ("k-free", dict(seconds="8"), ["seconds"], {"duration": "10"}),
            ("k-free", dict(seconds="10"), None, {"duration": "10"}),
            ("k-ok", dict(size="1280x720", image=base64.b64encode(png).decode()), ["size"],
             {"image": base64.b64encode(png).decode()}),
            ("o-main", dict(seed=3, fps=12), ["seed", "fps"], None),
            ("c-main", dict(seed=3, fps=12, size="256x144"), None, None)):
        with p.case("%s %s" % (model, fields)):
            v = s.create(model=model, prompt="params %s" % sorted(fields), **fields)
            made[v["id"]] = kling
            got = ignored(v)
            if want is None:
                check(not got, "ignored_params %r for fields that are honoured" % (got,))
            else:
                check(isinstance(got, list) and sorted(got) == sorted(want),
                      "ignored_params %r, want %r" % (got, want))
            eq(expect_video(s.get(v["id"]), status=None)["metadata"].get("ignored_params"),
               got, "ignored_params on retrieve")
    for field, value in (("seed", 7), ("fps", 24), ("size", "1000x700")):
        with p.case("strict %s" % field):
            with s.no_new_records():
                r = s.request("POST", "/v1/videos", json={"model": "k-strict", "prompt": "strict",
                                                          field: value})
                e = expect_error(r, 400, param=field)
                check(field in e["message"], "the message does not name %s: %r"
                      % (field, e["message"]))
    with p.case("strict, nothing ignored"):
        v = s.create(model="k-strict", prompt="strict but plain", size="1280x720")
        made[v["id"]] = {"aspect_ratio": "16:9"}
    done = wait_all(s, made)
    for vid, (v, hist) in done.items():
        with p.case("run %s %s" % (v["model"], v["prompt"])):
            expect_completed(v, hist)
            if made[vid] is None:
                continue
            t = kling_tasks("k-ok", vid)
            eq(len(t), 1, "Kling tasks")
            body = t[0]["body"]
            check(not {"seed", "fps", "size", "width", "height"} & set(body),
                  "Kling got fields it has not: %s" % body)
            for k, val in made[vid].items():
                eq(body.get(k), val, "Kling's %s" % k)
    p.done()
    s.db_check()


def db_cancels(s):
    """`reelgate db cancels`: {video id: [state, backend, upstream id, deleted at, message]}."""
    out = s.cli("db", "cancels").stdout.decode()
    return {f[0]: f[1:] for f in (line.split("\t") for line in out.splitlines()) if f}


@test("delete of an in-progress Kling video (Kling has no cancel): the record is gone at once, "
      "`db cancels` keeps the upstream job as unsupported with its Kling task id; a video "
      "still waiting for a slot leaves no entry", timeout=60)
def _(s):
    reset("k-cancel")
    fk("k-cancel").scenario(outcome="never")
    a = s.create(model="k-cancel", prompt="a job nobody wants")
    b = s.create(model="k-cancel", prompt="second in line")
    task = wait_until(lambda: kling_tasks("k-cancel", a["id"]), 20, what="the Kling submit")[0]
    r = s.request("DELETE", "/v1/videos/" + b["id"])   # while a holds the only slot
    eq(r.status, 200, "DELETE status of the waiting one")
    r = s.request("DELETE", "/v1/videos/" + a["id"])
    eq(r.status, 200, "DELETE status")
    eq(s.request("GET", "/v1/videos/" + a["id"]).status, 404, "GET after DELETE")
    e = wait_until(lambda: (db_cancels(s).get(a["id"]) or [None])[0] not in (None, "pending")
                   and db_cancels(s)[a["id"]], 15, what="the cancel entry to finish")
    print("# figure: db cancels: %s" % "\t".join(e))
    eq(e[0], "unsupported", "state")
    eq(e[1], "k-cancel", "backend")
    eq(e[2], task["task_id"], "the Kling task id")
    check("no way to cancel" in e[4], "message %r" % e[4])
    check(b["id"] not in db_cancels(s), "an entry for a video that never reached Kling")
    check(not kling_tasks("k-cancel", b["id"]), "the waiting video reached Kling")


@test("secrets (Kling secret key and tokens, OpenAI keys) appear in no log, no database "
      "file and no answer", timeout=30)
def _(s):
    secrets_ = {"the Kling secret key": KLING_SK, "the wrong Kling secret key": KLING_WRONG_SK,
                "the OpenAI upstream key": OPENAI_KEY, "the wrong OpenAI key": OPENAI_WRONG_KEY}
    for name in FAKES:
        if FAKE_SPECS[name][0] == "kling":
            kjobs(name)
    for i, tok in enumerate(sorted(JWTS)):
        secrets_["Kling token %d" % i] = tok
    check(len(s.bodies) > 100, "only %d answers recorded" % len(s.bodies))
    check(s.log_files(), "no log files")
    leaks = s.secret_leaks(secrets_)
    check(not leaks, "secrets found:\n" + "\n".join(leaks))


if __name__ == "__main__":
    sys.exit(suite.main(shared=True, **shared_stack_args()))
