#!/usr/bin/env python3
"""Veo on Vertex AI end to end: real nginx and reelgate, the upstream is
tests/fakes/fake_vertex.py (Vertex, Google's token service and Cloud Storage
in one process, with a second listener as "another origin").

The test makes an RSA key pair and service-account JSON files with the
openssl program; the fake verifies the RS256 JWT-bearer assertions against
the public key.  Each scenario group has its own fake (and backend + model
of the same name), so what reelgate sent is read from that fake's
/_fake/jobs.  Videos are 320x180 at 24 fps, 4 s.
"""
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ANY, FakeServer, Stack, Suite, alive, check, eq,  # noqa: E402
                     expect_error, expect_video, png_bytes, wait_until)

suite = Suite()
test = suite.test

PROJECT, LOCATION = "reelgate-it", "us-central1"
EMAIL = "veo-caller@reelgate-it.iam.gserviceaccount.com"
MODEL = "veo-3.0-generate-001"
BOUND = 40
KEYDIR = tempfile.mkdtemp(prefix="reelgate-vx-")
KLING_AK, KLING_SK = "AK-vx-" + secrets.token_hex(4), "SK-vx-" + secrets.token_hex(16)


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_key(name):
    key, pub = os.path.join(KEYDIR, name + ".pem"), os.path.join(KEYDIR, name + ".pub")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key)
    openssl("pkey", "-in", key, "-pubout", "-out", pub)
    with open(key) as f:
        return key, pub, f.read()


KEY, PUB, PEM = make_key("sa")
_, _, WRONG_PEM = make_key("wrong")

# fake name -> token lifetime (s); the backend and model of the same name use it
FAKE_SPECS = {"v-main": 6, "v-gcs": 3600, "v-err": 3600, "v-retry": 3600, "v-lost": 3600,
              "v-crash": 3600, "v-fo": 3600, "v-static": 3600}   # v-static: never reset
FAKES = {}


def sa_file(fake, pem=PEM, name=None):
    path = os.path.join(KEYDIR, (name or fake) + ".json")
    with open(path, "w") as f:
        json.dump({"type": "service_account", "project_id": PROJECT,
                   "private_key_id": "0123456789abcdef0123456789abcdef01234567",
                   "private_key": pem, "client_email": EMAIL, "client_id": "1000000000001",
                   "token_uri": FAKES[fake].url + "/token"}, f)
    return path


def vertex_backend(fake, **extra):
    return dict({"type": "vertex", "base_url": FAKES[fake].url + "/v1", "project": PROJECT,
                 "location": LOCATION, "credentials_file": sa_file(fake), "poll_seconds": 1,
                 "request_timeout_seconds": 3, "allow_addresses": ["127.0.0.1"],
                 "max_retries": 3, "concurrency": 2}, **extra)


def model(backends, deadline=1800):
    return {"backends": [{"backend": b, "model": "kling-v1" if b.startswith("k-") else MODEL}
                         for b in backends],
            "seconds": [4, 5, 6, 8, 10], "default_seconds": 4, "default_size": "1280x720",
            "sizes": {"max_width": 3840, "max_height": 3840}, "default_fps": 24,
            "max_fps": 60, "deadline_seconds": deadline}


def mint_outside(fake):
    """A token got from the fake's token service the way gcloud would (for
    the access_token backend): an RS256 assertion signed with openssl."""
    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    now = int(time.time())
    signing = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(
        {"iss": EMAIL, "scope": "https://www.googleapis.com/auth/cloud-platform",
         "aud": FAKES[fake].url + "/token", "iat": now, "exp": now + 3600}).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", KEY], input=signing.encode(),
                         capture_output=True, check=True).stdout
    form = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" + \
        signing + "." + b64(sig)
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", FAKES[fake].port, timeout=10)
    c.request("POST", "/token", body=form,
              headers={"Content-Type": "application/x-www-form-urlencoded"})
    tok = json.loads(c.getresponse().read())["access_token"]
    c.close()
    TOKENS.add(tok)
    return tok


def configure(cfg):
    if not FAKES:
        fakes = {n: FakeServer("vertex", "--public-key", PUB, "--client-email", EMAIL,
                               "--project", PROJECT, "--location", LOCATION,
                               "--token-seconds", life, "--step-seconds", "0.3")
                 for n, life in FAKE_SPECS.items()}
        fakes["k-fo"] = FakeServer("kling", "--access-key", KLING_AK, "--secret-key", KLING_SK)
        FakeServer.start_all(fakes.values())
        FAKES.update(fakes)
    b = {n: vertex_backend(n) for n in FAKE_SPECS}
    b["v-strict"] = vertex_backend("v-main", strict_params=True)
    b["v-gcs"].update(storage_uri="gs://reelgate-out/veo",
                      storage_base_url=FAKES["v-gcs"].url + "/storage/v1")
    b["v-badkey"] = vertex_backend("v-err", credentials_file=sa_file("v-err", WRONG_PEM,
                                                                     "wrong"))
    b["v-resub"] = vertex_backend("v-lost", resubmit_unknown=True)
    b["v-static"] = vertex_backend("v-static", access_token=mint_outside("v-static"))
    del b["v-static"]["credentials_file"]
    b["k-fo"] = {"type": "kling", "base_url": FAKES["k-fo"].url, "access_key": KLING_AK,
                 "secret_key": KLING_SK, "poll_seconds": 1, "allow_addresses": ["127.0.0.1"]}
    cfg["backends"].update(b)
    cfg["models"].update({n: model([n]) for n in b if n != "k-fo"})
    cfg["models"]["fo"] = model(["v-fo", "k-fo"])


def fk(name):
    return FAKES[name]


def jobs(name):
    j = fk(name).jobs()
    TOKENS.update(j["tokens"])
    return j


TOKENS = set()


def create(s, name, **fields):
    return s.create(model=name, prompt=fields.pop("prompt", "a heron over a misty lake"),
                    **fields)


def wait(s, vid, timeout=BOUND):
    return s.wait_video(vid, timeout=timeout)


def completed(s, vid, timeout=BOUND):
    v, hist = wait(s, vid, timeout)
    check(v["status"] == "completed", "%s ended %s (error %s); states %s"
          % (vid, v["status"], v["error"], hist))
    return v


def failed(s, vid, code, *fragments, timeout=BOUND):
    v, hist = wait(s, vid, timeout)
    check(v["status"] == "failed", "%s ended %s, want failed %s; %s" % (vid, v["status"], code,
                                                                        hist))
    eq(v["error"]["code"], code, "error.code")
    for f in fragments:
        check(f.lower() in v["error"]["message"].lower(), "error.message %r does not mention %r"
              % (v["error"]["message"], f))
    return v


def content(s, vid):
    r = s.content(vid)
    eq(r.status, 200, "content of %s" % vid)
    check(r.body[4:8] == b"ftyp", "not an MP4")
    return r.body


def fake_mp4(name, seconds=4):
    status, raw = fk(name).call("GET", "/_fake/file/%d" % seconds)
    eq(status, 200, "the fake's MP4")
    return raw


def ops_of(name, prompt):
    return [o for o in jobs(name)["operations"]
            if o["body"]["instances"][0].get("prompt") == prompt]


# ==================================================================== tests

@test("t2v and i2v: the body Vertex receives (instances[0].prompt/image, durationSeconds, "
      "aspectRatio, resolution, seed, fps, negativePrompt, metadata pass-through, model from "
      "the entry), the inline base64 result stored byte for byte, tokens re-minted", timeout=90)
def _(s):
    fk("v-main").reset()
    png = png_bytes(64, 64, (10, 200, 90))
    t2v = create(s, "v-main", prompt="a fox in the snow", seconds="8", size="1920x1080", seed=42,
                 fps=24, metadata={"negative_prompt": "blurry", "generate_audio": "true",
                                   "personGeneration": "allow_all", "model": "veo-2.0-x"})
    v916 = create(s, "v-main", prompt="a tall waterfall", size="720x1280")
    form = [("model", "v-main"), ("prompt", "the picture comes alive"), ("seconds", "6"),
            ("input_reference", ("ref.png", "image/png", png))]
    i2v = expect_video(s.request("POST", "/v1/videos", form=form))
    for v in (t2v, v916, i2v):
        eq((v.get("metadata") or {}).get("ignored_params"), None, "ignored_params")
    for v in (t2v, v916, i2v):
        completed(s, v["id"])
    want = {
        "a fox in the snow": ({"sampleCount": 1, "durationSeconds": 8, "aspectRatio": "16:9",
                               "resolution": "1080p", "seed": 42, "fps": 24,
                               "negativePrompt": "blurry", "generateAudio": True,
                               "personGeneration": "allow_all"}, None, 8),
        "a tall waterfall": ({"sampleCount": 1, "durationSeconds": 4, "aspectRatio": "9:16",
                              "resolution": "720p", "fps": 24}, None, 4),
        "the picture comes alive": ({"sampleCount": 1, "durationSeconds": 6,
                                     "aspectRatio": "16:9", "resolution": "720p", "fps": 24},
                                    {"bytesBase64Encoded": base64.b64encode(png).decode(),
                                     "mimeType": "image/png"}, 6),
    }
    by_prompt = {"a fox in the snow": t2v, "a tall waterfall": v916,
                 "the picture comes alive": i2v}
    for prompt, (params, image, secs) in want.items():
        ops = ops_of("v-main", prompt)
        eq(len(ops), 1, "operations for %r" % prompt)
        eq(ops[0]["model"], MODEL, "the model in the URL (the entry's; metadata cannot change it)")
        body = ops[0]["body"]
        eq(body["parameters"], params, "parameters of %r" % prompt)
        inst = dict(body["instances"][0])
        eq(inst.pop("prompt"), prompt, "prompt")
        eq(inst.get("image"), image, "image of %r" % prompt)
        eq(set(body), {"instances", "parameters"}, "top-level keys")
        check(content(s, by_prompt[prompt]["id"]) == fake_mp4("v-main", secs),
              "the stored video differs from the one Vertex sent inline")
    # expires_in is 6 s: a token is renewed 1.5 s early, before any 401
    first = jobs("v-main")["token_log"][0]["time"]
    time.sleep(max(0.0, first + 5 - time.time()))
    completed(s, create(s, "v-main", prompt="after the token aged")["id"])
    j = jobs("v-main")
    eq(j["auth_failures"], 0, "requests refused for their token")
    check(all(t["verdict"] == "ok" for t in j["token_log"]), "assertions refused: %s"
          % j["token_log"])
    check(j["mints"] >= 2, "%d token(s) minted over %.0f s with expires_in 6: no renewal"
          % (j["mints"], time.time() - first))
    s.db_check()


@test("ignored_params: seconds 5, a size that is no 16:9/9:16 at 720/1080/2160, fps 12 are "
      "listed and not sent; strict_params -> 400 naming the field", timeout=60)
def _(s):
    fk("v-main").reset()
    v = create(s, "v-main", prompt="params", seconds="5", size="1000x700", fps=12)
    eq(sorted(v["metadata"]["ignored_params"]), ["fps", "seconds", "size"], "ignored_params")
    completed(s, v["id"])
    p = ops_of("v-main", "params")[0]["body"]["parameters"]
    eq((p["durationSeconds"], p["aspectRatio"], p["resolution"], "fps" in p),
       (4, "16:9", "720p", False), "durationSeconds, aspectRatio, resolution, fps sent")
    for field, value in (("seconds", "10"), ("size", "1000x700"), ("fps", 30)):
        with s.no_new_records():
            r = s.request("POST", "/v1/videos", json={"model": "v-strict", "prompt": "strict",
                                                      field: value})
            expect_error(r, 400, param=field)
    v = create(s, "v-strict", prompt="strict and plain", size="1280x720", seconds="4")
    completed(s, v["id"])


@test("storage_uri: the result is a gs:// object fetched through the Cloud Storage JSON API "
      "with the bearer token; a redirect to another origin is followed without it; a missing "
      "object -> download_failed", timeout=60)
def _(s):
    fk("v-gcs").reset()
    v = create(s, "v-gcs", prompt="to the bucket")
    completed(s, v["id"])
    eq(ops_of("v-gcs", "to the bucket")[0]["body"]["parameters"].get("storageUri"),
       "gs://reelgate-out/veo", "storageUri")
    check(content(s, v["id"]) == fake_mp4("v-gcs"), "the stored video is not the object")
    j = jobs("v-gcs")
    eq((j["downloads"], j["storage_without_auth"]), (1, 0), "storage downloads, without auth")
    fk("v-gcs").scenario(result="redirect_elsewhere")
    v = create(s, "v-gcs", prompt="redirected")
    completed(s, v["id"])
    check(content(s, v["id"]) == fake_mp4("v-gcs"), "the redirected video differs")
    j = jobs("v-gcs")
    eq(j["elsewhere_downloads"], 1, "downloads at the other origin")
    eq(j["elsewhere_with_auth"], 0, "downloads at the other origin that carried the token")
    fk("v-gcs").scenario(result="404")
    failed(s, create(s, "v-gcs", prompt="gone")["id"], "download_failed")


@test("errors: content policy at submit and at the result (RAI filter), billing -> quota, "
      "INVALID_ARGUMENT -> upstream_rejected, an operation error -> generation_failed, a wrong "
      "private key -> upstream_auth_failed; none retried", timeout=90)
def _(s):
    fk("v-err").reset()
    t0 = time.monotonic()
    for mode, code, frag in (("policy", "content_policy_violation", "Responsible AI"),
                             ("quota", "upstream_quota_exhausted", "billing"),
                             ("invalid", "upstream_rejected", "not supported")):
        fk("v-err").scenario(submit=mode, count=1)
        before = jobs("v-err")["creates_received"]
        failed(s, create(s, "v-err", prompt="refused " + mode)["id"], code, frag)
        eq(jobs("v-err")["creates_received"], before + 1, "creates for %s (not retried)" % mode)
    for outcome, code, frag in (("rai", "content_policy_violation", "usage guidelines"),
                                ("error", "generation_failed", "Support codes: 90789179")):
        fk("v-err").scenario(outcome=outcome)
        failed(s, create(s, "v-err", prompt="outcome " + outcome)["id"], code, frag)
    fk("v-err").scenario(outcome="ok")
    before = jobs("v-err")["token_failures"]
    v = failed(s, create(s, "v-badkey", prompt="wrong key")["id"], "upstream_auth_failed",
               "invalid_grant")
    check("Signature" not in v["error"]["message"], "the token service's words repeated")
    eq(jobs("v-err")["token_failures"], before + 1, "assertions refused (one, not retried)")
    check(time.monotonic() - t0 < 45, "the failures took %.0f s" % (time.monotonic() - t0))
    s.db_check()


@test("access_token: a token managed outside is sent as given (no token request); once it "
      "is refused, 401 -> upstream_auth_failed, not retried", timeout=45)
def _(s):
    before = jobs("v-static")["token_requests"]
    v = create(s, "v-static", prompt="with a given token")
    completed(s, v["id"])
    check(content(s, v["id"]) == fake_mp4("v-static"), "the stored video")
    fk("v-static").call("POST", "/_fake/revoke", {})
    refused = jobs("v-static")["auth_failures"]
    failed(s, create(s, "v-static", prompt="with a revoked token")["id"],
           "upstream_auth_failed", "credentials")
    j = jobs("v-static")
    eq(j["token_requests"], before, "token requests (the token is not reelgate's to renew)")
    eq(j["auth_failures"], refused + 1, "requests refused (not retried)")


@test("429 RESOURCE_EXHAUSTED x2 with Retry-After 2 is waited out, then 503 x2 and poll "
      "429/500/garbage/hang (past request_timeout_seconds): one operation, completed",
      timeout=90)
def _(s):
    fk("v-retry").reset()
    fk("v-retry").scenario(submit="429", count=2, retry_after=2)
    t0 = time.monotonic()
    v = create(s, "v-retry", prompt="rate limited")
    completed(s, v["id"])
    took = time.monotonic() - t0
    check(took >= 4, "two Retry-After: 2 waited only %.1f s in all" % took)
    j = jobs("v-retry")
    eq((j["creates_received"], j["creates_accepted"]), (3, 1), "creates received, accepted")
    for poll in ("429", "500", "garbage", "hang"):
        fk("v-retry").reset()
        if poll == "hang":
            fk("v-retry").scenario(poll="hang", delay=5, count=1)
        else:
            fk("v-retry").scenario(poll=poll, count=2)
        fk("v-retry").scenario(submit="503", count=2, retry_after=None)
        v = create(s, "v-retry", prompt="poll " + poll)
        completed(s, v["id"])
        j = jobs("v-retry")
        # (the reset forgot reelgate's token: one create is refused 401 first)
        eq((j["creates_received"] - j["auth_failures"], j["creates_accepted"]), (3, 1),
           "creates with poll " + poll)
        check(j["polls"] >= (2 if poll == "hang" else 3), "polls with %s: %d" % (poll, j["polls"]))
    s.db_check()


@test("unknown submit outcome: garbage, a hang, or a made operation whose answer is lost -> "
      "upstream_unknown_outcome, never resent (no correlation); resubmit_unknown: true resends",
      timeout=90)
def _(s):
    fk("v-lost").reset()
    for mode in ("garbage", "hang", "hold"):
        fk("v-lost").scenario(submit=mode, count=1, delay=6)
        before = jobs("v-lost")
        failed(s, create(s, "v-lost", prompt="lost " + mode)["id"], "upstream_unknown_outcome")
        after = jobs("v-lost")
        eq(after["creates_received"] - before["creates_received"], 1, "creates for " + mode)
        eq(after["creates_accepted"] - before["creates_accepted"], 1 if mode == "hold" else 0,
           "operations made for " + mode)
    fk("v-lost").reset()
    fk("v-lost").scenario(submit="hold", count=1, delay=6)
    v = create(s, "v-resub", prompt="resent")
    completed(s, v["id"])
    j = jobs("v-lost")
    eq((j["creates_received"], j["creates_accepted"]), (2, 2),
       "creates (resubmit_unknown: the lost one was made too)")
    s.db_check()


@test("tokens: revoked mid-task -> 401 UNAUTHENTICATED -> one fresh token, polls go on; "
      "a token service failing 500 once is retried", timeout=60)
def _(s):
    fk("v-main").reset()
    fk("v-main").scenario(outcome="never")
    v = create(s, "v-main", prompt="revoked")
    wait_until(lambda: jobs("v-main")["polls"] >= 1, 15, what="a poll")
    mints, refused = jobs("v-main")["mints"], jobs("v-main")["auth_failures"]
    fk("v-main").call("POST", "/_fake/revoke", {})
    wait_until(lambda: jobs("v-main")["auth_failures"] > refused, 15, what="a refused token")
    wait_until(lambda: jobs("v-main")["mints"] > mints, 15, what="a new token")
    polls = jobs("v-main")["polls"]
    wait_until(lambda: jobs("v-main")["polls"] >= polls + 2, 15, what="polls with the new token")
    eq(s.get(v["id"]).json["status"], "in_progress", "status after the revocation")
    eq(jobs("v-main")["auth_failures"], refused + 1, "refused requests (one, then a fresh token)")
    eq(s.request("DELETE", "/v1/videos/" + v["id"]).status, 200, "DELETE")
    fk("v-main").call("POST", "/_fake/revoke", {})
    fk("v-main").scenario(outcome="ok", token="500", count=1)
    v = create(s, "v-main", prompt="after a token failure")
    completed(s, v["id"])
    j = jobs("v-main")
    check(j["token_requests"] >= mints + 2, "token requests %d" % j["token_requests"])


def db_cancels(s):
    """`reelgate db cancels`: {video id: [state, backend, upstream id, ...]}."""
    out = s.cli("db", "cancels").stdout.decode()
    return {f[0]: f[1:] for f in (line.split("\t") for line in out.splitlines()) if f}


@test("DELETE of an in-progress video: Vertex has no cancel for Veo operations, so none is "
      "sent; `db cancels` keeps the operation as unsupported; its polls stop", timeout=45)
def _(s):
    fk("v-main").reset()
    fk("v-main").scenario(outcome="never")
    v = create(s, "v-main", prompt="deleted while Veo works")
    wait_until(lambda: jobs("v-main")["polls"] >= 1, 15, interval=0.1, what="a poll")
    op = jobs("v-main")["operations"][0]["name"]
    r = s.request("DELETE", "/v1/videos/" + v["id"])
    eq((r.status, (r.json or {}).get("deleted")), (200, True), "DELETE")
    e = wait_until(lambda: (db_cancels(s).get(v["id"]) or [None])[0] not in (None, "pending")
                   and db_cancels(s)[v["id"]], 15, what="the cancel entry to finish")
    eq((e[0], e[1], e[2]), ("unsupported", "v-main", op), "state, backend, operation")
    polls = jobs("v-main")["polls"]
    time.sleep(2.5)
    j = jobs("v-main")
    eq(j["polls"], polls, "polls after the delete")
    eq(j["unknown_paths"], 0, "requests to paths the fake does not serve (a cancel)")
    expect_error(s.get(v["id"]), 404, code=ANY)


@test("kill -9 of the dispatcher while Vertex holds a create it acted on: the new dispatcher "
      "does not resend it (no correlation) -> upstream_unknown_outcome, one create", timeout=60)
def _(s):
    fk("v-crash").reset()
    fk("v-crash").scenario(submit="hold", delay=8, count=1)
    v = create(s, "v-crash", prompt="survives its dispatcher")
    wait_until(lambda: jobs("v-crash")["creates_accepted"] == 1, 15, what="the operation")
    old = s.dispatcher_pid()
    check(old, "no dispatcher")
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: s.dispatcher_pid() not in (None, old), 15, what="a new dispatcher")
    check(not alive(old), "the old dispatcher lives")
    v, hist = s.wait_video(v["id"], timeout=BOUND, strict=False)
    eq((v["status"], v["error"]["code"]), ("failed", "upstream_unknown_outcome"), "outcome")
    time.sleep(2)
    j = jobs("v-crash")
    eq((j["creates_received"], j["creates_accepted"]), (1, 1), "creates (never sent twice)")
    s.db_check()


@test("failover: Vertex answering 503 -> the task completes on the model's kling backend",
      timeout=60)
def _(s):
    fk("v-fo").reset()
    fk("k-fo").reset()
    fk("v-fo").scenario(submit="503")
    v = s.create(model="fo", prompt="moves to kling")
    completed(s, v["id"])
    check(jobs("v-fo")["creates_received"] >= 1, "vertex never saw the submit")
    eq(jobs("v-fo")["creates_accepted"], 0, "operations at vertex")
    eq([t["external_task_id"] for t in fk("k-fo").jobs()["tasks"]], [v["id"]], "kling tasks")


@test("secrets (the private key, minted tokens) appear in no log, no database file and no "
      "answer", timeout=30)
def _(s):
    for name in FAKE_SPECS:
        jobs(name)
    body = "".join(l for l in PEM.splitlines() if "PRIVATE KEY" not in l)
    found = {"the private key (part %d)" % i: body[i * 64:(i + 1) * 64] for i in range(3)}
    found.update({"token %d" % i: t for i, t in enumerate(sorted(TOKENS))})
    found["the wrong private key"] = "".join(l for l in WRONG_PEM.splitlines()
                                            if "PRIVATE" not in l)[:64]
    check(len(TOKENS) >= 3, "only %d tokens seen" % len(TOKENS))
    leaks = s.secret_leaks(found)
    check(not leaks, "secrets found:\n" + "\n".join(leaks))


if __name__ == "__main__":
    try:
        sys.exit(suite.main(shared=True, workers=2, configure=configure))
    finally:
        import shutil
        shutil.rmtree(KEYDIR, ignore_errors=True)
