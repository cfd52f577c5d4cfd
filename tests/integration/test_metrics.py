#!/usr/bin/env python3
"""Prometheus metrics (issue 17) through the whole stack: GET /metrics
behind nginx answers only with the config's metrics.token; its text passes
`promtool check metrics` (Debian's prometheus package); counters move with
traffic (requests by route and status, a video made by the fake OpenAI
upstream: submit, polls and download; a retry; a rate-limit refusal), are
the sum over the workers and survive kill -9 of one; and a real Prometheus
scrapes reelgate through nginx and answers a query for a counter through
its HTTP API.
"""
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FakeServer, Skip, Stack, Suite, check, eq, expect_error,  # noqa: E402
                     free_port, wait_until)

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
TOKEN = "mt-" + secrets.token_hex(20)
OPENAI_KEY = "sk-upstream-" + secrets.token_hex(16)
FAKES = []

suite = Suite()
test = suite.test


def fake():
    if not FAKES:
        FAKES.append(FakeServer("openai", "--api-key", OPENAI_KEY, "--step-seconds", "0.3").start())
    return FAKES[0]


def configure(cfg):
    cfg["metrics"] = {"token": TOKEN}
    cfg["webhooks"] = {"allow_addresses": ["127.0.0.1"], "timeout_seconds": 3}
    cfg["backends"]["up"] = {"type": "openai", "base_url": fake().url + "/v1",
                             "api_key": OPENAI_KEY, "encoding": "multipart", "poll_seconds": 1,
                             "allow_addresses": ["127.0.0.1"], "max_retries": 3,
                             "concurrency": 2}
    cfg["models"]["sora-fake"] = {
        "backends": [{"backend": "up", "model": "sora-2"}],
        "seconds": {"min": 1, "max": 8}, "default_seconds": 1, "default_size": "320x180",
        "sizes": {"max_width": 1920, "max_height": 1920}, "default_fps": 12, "max_fps": 60}


def scrape(stack, token=TOKEN):
    r = stack.request("GET", "/metrics", key=None,
                      headers={"Authorization": "Bearer " + token})
    eq(r.status, 200, "GET /metrics with the token")
    check(r.header("Content-Type").startswith("text/plain; version=0.0.4"),
          "the text format's content type", r.header("Content-Type"))
    return r.body.decode()


def series(text):
    """{'name{labels}': value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def val(text_or_series, name):
    s = series(text_or_series) if isinstance(text_or_series, str) else text_or_series
    return s.get(name, 0.0)


def requests_total(route, status):
    return 'reelgate_http_requests_total{route="%s",status="%s"}' % (route, status)


def upstream(phase, outcome, backend="up"):
    return ('reelgate_upstream_requests_total{backend="%s",phase="%s",outcome="%s"}'
            % (backend, phase, outcome))


@test("no token or a wrong one is refused with the error envelope")
def _(stack):
    r = stack.request("GET", "/metrics", key=None)
    expect_error(r, 401, code="invalid_metrics_token")
    check("Authorization: Bearer" in r.json["error"]["message"], "says how", r.json)
    r = stack.request("GET", "/metrics", key=None,
                      headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"})
    expect_error(r, 401, code="invalid_metrics_token")
    # an API key is not the metrics token
    r = stack.request("GET", "/metrics")
    expect_error(r, 401, code="invalid_metrics_token")
    r = stack.request("POST", "/metrics", key=None,
                      headers={"Authorization": "Bearer " + TOKEN})
    expect_error(r, 405)
    eq(r.header("Allow"), "GET", "Allow of /metrics")
    leaks = stack.secret_leaks({"metrics token": TOKEN})
    check(not leaks, "the metrics token leaked", leaks)


def from_other_address(stack, path="/metrics"):
    """GET path with the token from 127.0.0.2, an address the shipped
    configs do not let scrape; (status, parsed JSON body)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=15,
                                      source_address=("127.0.0.2", 0))
    try:
        conn.request("GET", path, headers={"Authorization": "Bearer " + TOKEN})
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    try:
        return r.status, json.loads(body)
    except ValueError:
        return r.status, body


def expect_web_server_403(stack):
    status, body = from_other_address(stack)
    eq(status, 403, "/metrics from 127.0.0.2")
    check(isinstance(body, dict) and set(body) == {"error"} and
          body["error"].get("code") == "forbidden" and body["error"].get("message"),
          "the web server's 403 is the JSON envelope", body)
    check(b"reelgate_" not in json.dumps(body).encode(), "no figures", body)


@test("nginx keeps /metrics to loopback: another address gets its JSON 403")
def _(stack):
    expect_web_server_403(stack)


@test("lighttpd and Apache (etc/ examples) pass /metrics to reelgate, for loopback only",
      timeout=400)
def _(stack):
    import test_deploy as td

    def with_token(cfg):
        cfg["metrics"] = {"token": TOKEN}
    ran = []
    for server, mode, listen in (("lighttpd", "serve", "unix"), ("lighttpd", "bin-path", "unix"),
                                 ("apache", "serve", "tcp"), ("apache", "fcgid", "unix")):
        try:
            with td.Deploy(server, mode=mode, listen=listen, configure=with_token) as s:
                what = "%s (%s)" % (server, mode)
                r = s.request("GET", "/metrics", key=None)
                expect_error(r, 401, code="invalid_metrics_token")
                text = scrape(s)
                check("# TYPE reelgate_http_requests_total counter" in text, what, text[:500])
                expect_web_server_403(s)
                ran.append(what)
        except Skip:
            continue
    if not ran:
        raise Skip("neither lighttpd nor Apache is installed")
    print("# /metrics served through: " + ", ".join(ran))


@test("without metrics.token, /metrics is refused and says how to set it")
def _(stack):
    def unconfigured(cfg):
        cfg.pop("metrics", None)
    with Stack(workers=1, configure=unconfigured) as s2:
        for headers in ({}, {"Authorization": "Bearer " + TOKEN}):
            r = s2.request("GET", "/metrics", key=None, headers=headers)
            expect_error(r, 403, code="metrics_not_configured")
            msg = r.json["error"]["message"]
            check("metrics" in msg and "token" in msg, "names the setting", msg)
            check(s2.dir not in r.body.decode(), "no server path in the answer", msg)


@test("promtool check metrics accepts the text")
def _(stack):
    if not PROMTOOL:
        raise Skip("promtool not installed (Debian package prometheus)")
    # some of everything first: requests, an upstream exchange's histogram
    stack.request("GET", "/v1/models")
    text = scrape(stack)
    for family in ("reelgate_http_requests_total", "reelgate_http_request_duration_seconds",
                   "reelgate_tasks", "reelgate_lmdb_map_size_bytes",
                   "reelgate_lmdb_map_used_bytes", "reelgate_refusals_total",
                   "reelgate_webhook_deliveries_total", "reelgate_process_restarts_total",
                   "reelgate_dispatcher_loop_lag_seconds",
                   "reelgate_backend_queued_tasks", "reelgate_backend_in_flight_requests"):
        check("# TYPE %s " % family in text, "family %s missing" % family, text[:2000])
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    check(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
          "promtool check metrics: exit %s" % p.returncode,
          p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))
    s = series(text)
    check(s['reelgate_lmdb_map_used_bytes'] > 0, "map use", s.get('reelgate_lmdb_map_used_bytes'))
    check(s['reelgate_lmdb_map_size_bytes'] >= s['reelgate_lmdb_map_used_bytes'], "map size")
    eq(s.get('reelgate_backend_queued_tasks{backend="local"}'), 0, "local queue")
    check(time.time() - s["reelgate_dispatcher_last_turn_timestamp_seconds"] < 120,
          "the dispatcher's loop turns", s["reelgate_dispatcher_last_turn_timestamp_seconds"])


@test("requests by route and status are counted, summed over the workers")
def _(stack):
    before = series(scrape(stack))
    n, errors = 120, []
    missing = "/v1/videos/video_" + "0" * 32

    def hammer(k):
        try:
            for _ in range(k):
                eq(stack.request("GET", missing).status, 404, "missing video")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=hammer, args=(n // 6,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check(not errors, "requests failed", errors[:3])
    stack.request("GET", "/v1/nowhere")
    stack.request("GET", "/v1/models", key=None)
    after = series(scrape(stack))
    eq(val(after, requests_total("retrieve", 404)) - val(before, requests_total("retrieve", 404)),
       n, "retrieve 404s counted (every worker's)")
    eq(val(after, requests_total("other", 404)) - val(before, requests_total("other", 404)), 1,
       "unknown path")
    eq(val(after, requests_total("models_list", 401)) -
       val(before, requests_total("models_list", 401)), 1, "401 without a key")
    h = 'reelgate_http_request_duration_seconds_count{route="retrieve"}'
    eq(val(after, h) - val(before, h), n, "duration histogram count")
    # the scrape itself was counted by the worker that served it
    check(val(after, requests_total("metrics", 200)) > val(before, requests_total("metrics", 200)),
          "scrapes counted")


@test("a video on the fake upstream moves submit, poll and download counters")
def _(stack):
    before = series(scrape(stack))
    vid = stack.create(model="sora-fake", prompt="a lighthouse", seconds="1", size="320x180")["id"]
    v, _ = stack.wait_video(vid, timeout=60)
    eq(v["status"], "completed", "the video")
    after = series(scrape(stack))
    for phase, least in (("submit", 1), ("poll", 1), ("download", 1)):
        got = val(after, upstream(phase, "ok")) - val(before, upstream(phase, "ok"))
        check(got >= least if phase == "poll" else got == least,
              "%s ok: %s" % (phase, got))
    c = 'reelgate_upstream_request_duration_seconds_count{backend="up",phase="submit"}'
    eq(val(after, c) - val(before, c), 1, "submit latency observed")
    eq(val(after, 'reelgate_tasks{model="sora-fake",status="completed"}') -
       val(before, 'reelgate_tasks{model="sora-fake",status="completed"}'), 1, "tasks gauge")


@test("a transient upstream failure counts a retry")
def _(stack):
    f = fake()
    before = series(scrape(stack))
    f.scenario(poll="500", count=1)
    try:
        vid = stack.create(model="sora-fake", prompt="a storm", seconds="1", size="320x180")["id"]
        v, _ = stack.wait_video(vid, timeout=90)
        eq(v["status"], "completed", "the video after a retry")
    finally:
        f.reset()
    after = series(scrape(stack))
    r_ = 'reelgate_upstream_retries_total{backend="up",phase="poll"}'
    eq(val(after, r_) - val(before, r_), 1, "poll retries")
    eq(val(after, upstream("poll", "server_error")) - val(before, upstream("poll", "server_error")),
       1, "poll 500s")


class Receiver:
    """A webhook receiver on loopback answering 204 to every POST."""

    def __init__(self):
        import http.server
        import threading as th

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass
        self.server = http.server.HTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        th.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@test("webhook deliveries are counted by outcome: delivered, retried")
def _(stack):
    rx = Receiver()
    dead = free_port()  # nothing listens there: the attempt fails and is retried later
    try:
        name_ok, name_dead = "wh" + secrets.token_hex(4), "wd" + secrets.token_hex(4)
        key_ok = stack.cli("keys", "create", "--name", name_ok).stdout.decode().strip()
        key_dead = stack.cli("keys", "create", "--name", name_dead).stdout.decode().strip()
        stack.cli("webhooks", "add", stack.key_id(name_ok), "http://127.0.0.1:%d/ok" % rx.port)
        stack.cli("webhooks", "add", stack.key_id(name_dead), "http://127.0.0.1:%d/x" % dead)
        before = series(scrape(stack))
        for key in (key_ok, key_dead):
            vid = stack.create(key=key, prompt="hook", seconds="1", size="160x90")["id"]
            stack.wait_video(vid, timeout=60, key=key)

        def moved(outcome):
            k = 'reelgate_webhook_deliveries_total{outcome="%s"}' % outcome
            return val(series(scrape(stack)), k) - val(before, k)
        wait_until(lambda: moved("delivered") >= 1 and moved("retried") >= 1, 30,
                   what="a delivered and a retried webhook counted")
        eq(moved("delivered"), 1, "delivered")
        eq(moved("failed"), 0, "failed (final) so far")
    finally:
        rx.stop()


@test("a rate-limited create counts a refusal")
def _(stack):
    name = "rl" + secrets.token_hex(4)
    key = stack.cli("keys", "create", "--name", name, "--creates-per-minute", "1"
                    ).stdout.decode().strip()
    before = series(scrape(stack))
    stack.create(key=key, prompt="one", seconds="1", size="160x90")
    expect_error(stack.request("POST", "/v1/videos", key=key,
                               json={"prompt": "two", "seconds": "1", "size": "160x90"}), 429)
    after = series(scrape(stack))
    k = 'reelgate_refusals_total{reason="rate_limit"}'
    eq(val(after, k) - val(before, k), 1, "rate_limit refusals")


@test("a create refused by a budget (max in flight) counts under its reason")
def _(stack):
    name = "bf" + secrets.token_hex(4)
    key = stack.create_key(name)
    stack.cli("keys", "limit", stack.key_id(name), "--max-in-flight", "1")
    before = series(scrape(stack))
    first = stack.create(key=key, model="sora-fake", prompt="one", seconds="1", size="320x180")
    r = stack.request("POST", "/v1/videos", key=key,
                      json={"model": "sora-fake", "prompt": "two", "seconds": "1",
                            "size": "320x180"})
    expect_error(r, 429)
    after = series(scrape(stack))
    for reason, want in (("max_in_flight", 1), ("rate_limit", 0), ("seconds_per_day", 0)):
        k = 'reelgate_refusals_total{reason="%s"}' % reason
        eq(val(after, k) - val(before, k), want, "%s refusals" % reason)
    stack.wait_video(first["id"], timeout=60, key=key)


@test("counters survive kill -9 of a worker, and the restart is counted")
def _(stack):
    missing = "/v1/videos/video_" + "1" * 32
    for _ in range(20):
        stack.request("GET", missing)
    before = series(scrape(stack))
    workers = stack.worker_pids()
    disp = stack.dispatcher_pid()
    victims = [p for p in workers if p != disp]
    check(victims, "no worker to kill", workers)
    os.kill(victims[0], signal.SIGKILL)
    wait_until(lambda: victims[0] not in stack.worker_pids() and
               len([p for p in stack.worker_pids() if p != disp]) == len(victims), 20,
               what="the worker to be replaced")
    after = series(scrape(stack))
    check(val(after, requests_total("retrieve", 404)) >= val(before, requests_total("retrieve", 404)),
          "a counter went down after the kill")
    eq(val(after, requests_total("retrieve", 404)), val(before, requests_total("retrieve", 404)),
       "retrieve 404s kept")
    k = 'reelgate_process_restarts_total{process="worker"}'
    eq(val(after, k) - val(before, k), 1, "worker restarts")


@test("a real Prometheus scrapes reelgate through nginx and answers a query", timeout=150)
def _(stack):
    if not PROMETHEUS:
        raise Skip("prometheus not installed (Debian package prometheus)")
    want = val(series(scrape(stack)), 'reelgate_refusals_total{reason="rate_limit"}')
    home = tempfile.mkdtemp(prefix="reelgate-prom-", dir="/tmp")
    port = free_port()
    conf = os.path.join(home, "prometheus.yml")
    with open(conf, "w") as f:
        f.write(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n"
            "  - job_name: reelgate\n"
            "    metrics_path: /metrics\n"
            "    authorization:\n      type: Bearer\n      credentials: %s\n"
            "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % (TOKEN, stack.port))
    log = open(os.path.join(home, "prometheus.log"), "wb")
    proc = subprocess.Popen([PROMETHEUS, "--config.file=" + conf,
                             "--storage.tsdb.path=" + os.path.join(home, "data"),
                             "--web.listen-address=127.0.0.1:%d" % port],
                            cwd=home, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    log.close()

    def prometheus_version():
        r = subprocess.run([PROMETHEUS, "--version"], capture_output=True, timeout=10)
        text = (r.stdout + r.stderr).decode(errors="replace").split("\n")[0]
        return text.replace("prometheus, ", "").split(" (")[0].replace("version ", "")

    def query(q):
        check(proc.poll() is None, "prometheus exited",
              open(os.path.join(home, "prometheus.log"), errors="replace").read()[-3000:])
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": q}))
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                out = json.load(r)
        except OSError:
            return None
        res = out.get("data", {}).get("result", [])
        return float(res[0]["value"][1]) if out.get("status") == "success" and res else None
    try:
        up = wait_until(lambda: query('up{job="reelgate"}') is not None and
                        query('up{job="reelgate"}'), 60, interval=0.5,
                        what="Prometheus to scrape reelgate (up == 1)")
        eq(up, 1.0, "up")
        got = wait_until(lambda: query('reelgate_refusals_total{reason="rate_limit"}'), 30,
                         interval=0.5, what="the counter in Prometheus")
        eq(got, want, "reelgate_refusals_total{reason=\"rate_limit\"} through Prometheus")
        scraped = wait_until(
            lambda: query('reelgate_http_requests_total{route="metrics",status="200"}'), 30,
            interval=0.5, what="Prometheus's own scrapes counted")
        check(scraped >= 1, "scrapes", scraped)
        print("# figure: Prometheus %s, its /api/v1/query: up{job=\"reelgate\"} = %g, "
              "reelgate_refusals_total{reason=\"rate_limit\"} = %g (reelgate counted %g), "
              "its own scrapes counted %g" % (prometheus_version(), up, got, want, scraped))
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    try:
        suite.main(shared=True, workers=2, configure=configure)
    finally:
        for f in FAKES:
            f.stop()
