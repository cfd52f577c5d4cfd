#!/usr/bin/env python3
"""Webhooks (issue 16) through the whole stack: `reelgate webhooks` adds an
endpoint per key, a video's terminal state is announced to it signed the
Standard Webhooks way, and a real receiver on loopback
(tests/webhooks/receiver.mjs) verifies every delivery, unmodified, with the
`standardwebhooks` npm package and with the openai SDK's webhooks.unwrap.

Videos are made by the shipped render-ffmpeg (1 s, 160x90), failures by the
`fail` fake renderer.  Deliveries time out after 3 s here
(webhooks.timeout_seconds), so the retry after a hang comes 5 s later.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Skip, Suite, check, eq, expect_error, fake, wait_until)  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RECEIVER_DIR = os.path.join(HERE, "..", "webhooks")
NODE = shutil.which("node")

suite = Suite()
test = suite.test


def configure(cfg):
    cfg["webhooks"] = {"allow_addresses": ["127.0.0.1"], "timeout_seconds": 3}


STACK = {
    "workers": 2,
    "extra_models": {
        "broken": {
            "backends": [{"backend": "failing", "model": "x"}],
            "seconds": {"min": 1, "max": 20},
            "default_seconds": 1,
            "default_size": "160x90",
            "default_fps": 12,
        },
    },
    "backends": {"failing": {"type": "command", "command": fake("fail", "fake: no GPU left"),
                             "concurrency": 2}},
    "configure": configure,
}


class Receiver:
    """tests/webhooks/receiver.mjs, started once per test run."""

    def __init__(self, home):
        if NODE is None or not os.path.isdir(os.path.join(RECEIVER_DIR, "node_modules",
                                                          "standardwebhooks")):
            raise Skip("node or tests/webhooks/node_modules missing (npm ci in tests/webhooks)")
        os.makedirs(home, exist_ok=True)
        self.log = os.path.join(home, "receiver.log")
        self.secrets_path = os.path.join(home, "secrets.json")
        port_file = os.path.join(home, "receiver.port")
        self.secrets = {}
        self._write_secrets()
        self.proc = subprocess.Popen([NODE, os.path.join(RECEIVER_DIR, "receiver.mjs"), self.log,
                                      self.secrets_path, port_file],
                                     stdin=subprocess.DEVNULL, cwd=RECEIVER_DIR)
        wait_until(lambda: os.path.exists(port_file) and open(port_file).read().strip(), 20,
                   what="the receiver to listen")
        self.port = int(open(port_file).read())

    def _write_secrets(self):
        with open(self.secrets_path + ".tmp", "w") as f:
            json.dump(self.secrets, f)
        os.replace(self.secrets_path + ".tmp", self.secrets_path)

    def url(self, mode):
        """A fresh path of the given mode: /MODE/<random>."""
        return "http://127.0.0.1:%d/%s/%s" % (self.port, mode, uuid.uuid4().hex[:10])

    def trust(self, url, *secrets):
        self.secrets[url.split(str(self.port), 1)[1]] = list(secrets)
        self._write_secrets()

    def seen(self, url=None):
        path = url.split(str(self.port), 1)[1] if url else None
        out = []
        if os.path.exists(self.log):
            with open(self.log) as f:
                for line in f:
                    e = json.loads(line)
                    if path is None or e["path"] == path:
                        out.append(e)
        return out

    def wait(self, url, n, timeout=30):
        wait_until(lambda: len(self.seen(url)) >= n, timeout,
                   what="%d deliveries to %s (saw %d)" % (n, url, len(self.seen(url))))
        return self.seen(url)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


RECV = []


def receiver(s):
    if not RECV:
        RECV.append(Receiver(os.path.join(s.dir, "receiver")))
    return RECV[0]


def key_with_id(s):
    """A new key: (secret, key id)."""
    name = "wh" + uuid.uuid4().hex[:8]
    secret = s.create_key(name)
    return secret, s.key_id(name)


def add_endpoint(s, key_id, url, *extra):
    r = s.cli("webhooks", "add", key_id, url, *extra)
    lines = r.stdout.decode().split()
    eq(len(lines), 2, "webhooks add prints the id and the secret")
    check(lines[0].startswith("we_") and lines[1].startswith("whsec_"), "add output", lines)
    return lines[0], lines[1]


def listening(s, mode):
    """A new key with one endpoint of the receiver's given mode, trusted by
    the receiver: (receiver, key, key id, endpoint URL, endpoint id)."""
    rc = receiver(s)
    key, kid = key_with_id(s)
    url = rc.url(mode)
    ep, secret = add_endpoint(s, kid, url)
    rc.trust(url, secret)
    return rc, key, kid, url, ep


def make(s, key, model=None, **extra):
    fields = {"prompt": "webhook test " + uuid.uuid4().hex[:6], "seconds": "1",
              "size": "160x90", "fps": 12}
    if model:
        fields["model"] = model
    fields.update(extra)
    r = s.request("POST", "/v1/videos", key=key, json=fields)
    eq(r.status, 200, "create (%s)" % r.text[:300])
    return r.json["id"]


def verified(e, n=1):
    """Both verifiers accepted the delivery with each of its n secrets."""
    eq(e["standard"], [True] * n, "standardwebhooks verify")
    eq(e["openai"], [True] * n, "openai webhooks.unwrap")


def event_of(e, vid, kind):
    body = json.loads(e["body"])
    eq(set(body), {"id", "object", "created_at", "type", "data"}, "event keys")
    eq((body["object"], body["type"], body["data"]), ("event", kind, {"id": vid}), "event")
    eq(body["id"], e["headers"]["webhook-id"], "webhook-id is the event id")
    check(body["id"].startswith("evt_"), "event id", body["id"])
    check(abs(int(e["headers"]["webhook-timestamp"]) - time.time()) < 60, "timestamp", e)
    eq(e["headers"]["content-type"], "application/json", "content type")
    return body


def deliveries(s, endpoint):
    out = s.cli("webhooks", "deliveries", endpoint).stdout.decode()
    return [line.split("\t") for line in out.splitlines() if line]


@test("a completed and a failed video each announce one signed event to the key's endpoint")
def _(s):
    rc, key, kid, url, ep = listening(s, "ok")
    ok = make(s, key)
    bad = make(s, key, model="broken")
    seen = rc.wait(url, 2, timeout=60)
    time.sleep(2)  # nothing more arrives
    seen = rc.seen(url)
    eq(len(seen), 2, "one delivery per event")
    by_type = {}
    for e in seen:
        verified(e)
        by_type[json.loads(e["body"])["type"]] = e
    c = event_of(by_type["video.completed"], ok, "video.completed")
    event_of(by_type["video.failed"], bad, "video.failed")
    v = s.get(ok, key=key).json
    eq(v["status"], "completed", "video")
    eq(c["created_at"], v["completed_at"], "created_at is when it completed")
    check(by_type["video.completed"]["headers"]["user-agent"].startswith("reelgate-webhooks/"),
          "user agent", by_type["video.completed"]["headers"])
    rows = deliveries(s, ep)
    eq(sorted(r[4] for r in rows), ["delivered", "delivered"], "deliveries listed")
    eq(sorted(r[6] for r in rows), ["200", "200"], "last status")


@test("--events filters; another key's endpoint hears nothing of this key's videos")
def _(s):
    rc = receiver(s)
    key, kid = key_with_id(s)
    _, other_kid = key_with_id(s)
    only_failed, other = rc.url("ok"), rc.url("ok")
    ep, secret = add_endpoint(s, kid, only_failed, "--events", "video.failed")
    _, osecret = add_endpoint(s, other_kid, other)
    rc.trust(only_failed, secret)
    done = make(s, key)
    s.wait_video(done, key=key, timeout=60)
    bad = make(s, key, model="broken")
    e = rc.wait(only_failed, 1, timeout=60)[0]
    event_of(e, bad, "video.failed")
    time.sleep(2)
    eq(len(rc.seen(only_failed)), 1, "the completed video was not announced")
    eq(rc.seen(other), [], "another key's endpoint")
    expect = s.cli("webhooks", "add", kid, rc.url("ok"), "--events", "video.deleted",
                   check_rc=False)
    eq(expect.returncode, 2, "an unknown event type")


@test("a receiver answering 500 gets the retry with the same webhook-id and a new signature")
def _(s):
    rc, key, kid, url, ep = listening(s, "flaky")
    vid = make(s, key)
    first, second = rc.wait(url, 2, timeout=60)
    eq((first["status"], second["status"]), (500, 200), "answers")
    eq(first["headers"]["webhook-id"], second["headers"]["webhook-id"], "same webhook-id")
    eq(first["body"], second["body"], "same body bytes")
    verified(first)
    verified(second)
    gap = second["at"] - first["at"]
    check(4.5 <= gap <= 12, "retried after about 5 s (+10%% jitter), took %.1f s" % gap)
    event_of(second, vid, "video.completed")
    # the outcome is written within 50 ms of the answer (webhook.h)
    wait_until(lambda: deliveries(s, ep)[0][4] == "delivered", 10, what="delivered")
    row = deliveries(s, ep)[0]
    eq((row[4], row[5], row[6]), ("delivered", "2", "200"), "delivery after the retry")


@test("429 with Retry-After: the retry waits at least what the receiver asked")
def _(s):
    rc, key, kid, url, _ = listening(s, "throttle")
    make(s, key)
    first, second = rc.wait(url, 2, timeout=60)
    eq((first["status"], second["status"]), (429, 200), "answers")
    check(second["at"] - first["at"] >= 4.5, "waited", second["at"] - first["at"])


@test("410 disables the endpoint: listed as disabled, later events not sent, enable resumes")
def _(s):
    rc, key, kid, url, ep = listening(s, "gone")
    make(s, key)
    rc.wait(url, 1, timeout=60)
    wait_until(lambda: "disabled" in s.cli("webhooks", "list", kid).stdout.decode(), 10,
               what="the endpoint to be disabled")
    line = s.cli("webhooks", "list", kid).stdout.decode()
    check("410" in line, "the reason is listed", line)
    v2 = make(s, key)
    s.wait_video(v2, key=key, timeout=60)
    time.sleep(2)
    eq(len(rc.seen(url)), 1, "nothing sent to a disabled endpoint")
    # the 410'd one is listed; events while disabled are not queued for it
    eq([r[4] for r in deliveries(s, ep)], ["disabled"], "deliveries")
    s.cli("webhooks", "enable", ep)
    check("enabled" in s.cli("webhooks", "list", kid).stdout.decode(), "enabled again")


@test("a receiver that hangs delays neither another endpoint's delivery nor the tasks")
def _(s):
    rc = receiver(s)
    key, kid = key_with_id(s)
    slow, fast = rc.url("hang"), rc.url("ok")
    _, s1 = add_endpoint(s, kid, slow)
    _, s2 = add_endpoint(s, kid, fast)
    rc.trust(slow, s1)
    rc.trust(fast, s2)
    a = make(s, key)
    rc.wait(fast, 1, timeout=60)
    rc.wait(slow, 1, timeout=10)  # the hanging attempt is in flight
    t0 = time.monotonic()
    b = make(s, key)
    done, _ = s.wait_video(b, key=key, timeout=60)
    eq(done["status"], "completed", "a task while a delivery hangs")
    rc.wait(fast, 2, timeout=10)
    check(time.monotonic() - t0 < 30, "took %.1f s" % (time.monotonic() - t0))
    # the hung attempt timed out (3 s) and was retried with the same id
    seen = rc.wait(slow, 3, timeout=40)
    ids = [e["headers"]["webhook-id"] for e in seen]
    check(len(set(ids)) == 2, "two events to the slow endpoint", ids)
    for e in seen:
        verified(e)
    eq(s.get(a, key=key).json["status"], "completed", "first video")


@test("kill -9 of the dispatcher while a delivery is in flight: it is sent again, same id")
def _(s):
    rc, key, kid, url, ep = listening(s, "hang")
    vid = make(s, key)
    first = rc.wait(url, 1, timeout=60)[0]
    pid = s.dispatcher_pid()
    os.kill(pid, signal.SIGKILL)
    seen = rc.wait(url, 2, timeout=60)
    eq(seen[1]["headers"]["webhook-id"], first["headers"]["webhook-id"], "same webhook-id")
    eq(seen[1]["status"], 200, "delivered after the restart")
    event_of(seen[1], vid, "video.completed")
    verified(seen[1])
    check(s.dispatcher_pid() != pid, "a new dispatcher")
    wait_until(lambda: deliveries(s, ep)[0][4] == "delivered", 10, what="delivered")


@test("rotate: the new secret signs, the old one too (both verify) for 24 hours")
def _(s):
    rc = receiver(s)
    key, kid = key_with_id(s)
    url = rc.url("ok")
    ep, old = add_endpoint(s, kid, url)
    new = s.cli("webhooks", "rotate", ep).stdout.decode().strip()
    check(new.startswith("whsec_") and new != old, "rotate prints a new secret", new)
    rc.trust(url, old, new)
    make(s, key)
    e = rc.wait(url, 1, timeout=60)[0]
    eq(len(e["headers"]["webhook-signature"].split(" ")), 2, "two signatures")
    verified(e, 2)


@test("an endpoint on a private address not in webhooks.allow_addresses is refused")
def _(s):
    rc = receiver(s)
    key, kid = key_with_id(s)
    ep, _ = add_endpoint(s, kid, "http://10.255.255.1:8080/hook")
    make(s, key)
    wait_until(lambda: deliveries(s, ep) and deliveries(s, ep)[0][4] == "failed", 60,
               what="the delivery to fail")
    row = deliveries(s, ep)[0]
    check("not allowed" in row[8], "says why", row)
    eq(row[5], "1", "one attempt, not retried")
    check(rc is not None, "receiver")


@test("callback_url: signed with the key's first endpoint; 400 without an endpoint or for a "
      "URL that is not http(s)")
def _(s):
    rc = receiver(s)
    key, kid = key_with_id(s)
    cb = rc.url("ok")
    body = {"prompt": "cb", "seconds": "1", "size": "160x90", "callback_url": cb}
    expect_error(s.request("POST", "/v1/videos", key=key, json=body), 400,
                 param="callback_url")
    ep, secret = add_endpoint(s, kid, rc.url("ok"), "--events", "video.failed")
    rc.trust(cb, secret)
    for bad in ("ftp://x/y", "http://", "/relative", 5, "http://a b/"):
        expect_error(s.request("POST", "/v1/videos", key=key,
                               json=dict(body, callback_url=bad)), 400, param="callback_url")
    vid = make(s, key, callback_url=cb)
    e = rc.wait(cb, 1, timeout=60)[0]
    verified(e)
    event_of(e, vid, "video.completed")
    # remix takes it too
    r = s.request("POST", "/v1/videos/%s/remix" % vid, key=key,
                  json={"prompt": "again", "callback_url": cb})
    eq(r.status, 200, "remix with callback_url (%s)" % r.text[:200])
    rc.wait(cb, 2, timeout=60)
    rows = deliveries(s, ep)
    check(any(r[8].endswith("(callback_url)") for r in rows), "listed as callback", rows)


@test("redeliver sends a delivered event again with the same webhook-id")
def _(s):
    rc, key, kid, url, ep = listening(s, "ok")
    make(s, key)
    first = rc.wait(url, 1, timeout=60)[0]
    wait_until(lambda: deliveries(s, ep)[0][4] == "delivered", 10, what="delivered")
    dlv = deliveries(s, ep)[0][0]
    s.cli("webhooks", "redeliver", dlv)
    again = rc.wait(url, 2, timeout=30)[1]
    eq(again["headers"]["webhook-id"], first["headers"]["webhook-id"], "same id")
    verified(again)


@test("CLI: bad URLs and unknown ids exit non-zero; remove fails the pending deliveries")
def _(s):
    _, kid = key_with_id(s)
    for bad in ("ftp://x", "http://", "not a url", "https://a\tb"):
        eq(s.cli("webhooks", "add", kid, bad, check_rc=False).returncode, 2, "bad URL " + bad)
    eq(s.cli("webhooks", "add", "key_nope", "http://127.0.0.1:9/x",
             check_rc=False).returncode, 1, "unknown key")
    eq(s.cli("webhooks", "remove", "we_nope", check_rc=False).returncode, 1, "unknown endpoint")
    eq(s.cli("webhooks", "frobnicate", check_rc=False).returncode, 2, "unknown command")
    ep, _ = add_endpoint(s, kid, "http://127.0.0.1:9/never")
    check(ep in s.cli("webhooks", "list").stdout.decode(), "listed")
    s.cli("webhooks", "remove", ep)
    check(ep not in s.cli("webhooks", "list").stdout.decode(), "removed")
    s.db_check()


if __name__ == "__main__":
    try:
        sys.exit(suite.main(shared=True, **STACK))
    finally:
        for r in RECV:
            r.stop()
