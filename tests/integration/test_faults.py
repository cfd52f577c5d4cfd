#!/usr/bin/env python3
"""Faults: processes killed under load, power cuts, resource limits.

Real nginx and reelgate processes on loopback (see harness.py); each test
makes its own stack(s).

  chaos         60 s of mixed create / retrieve / list / content load from
                several threads while a killer thread kill -9's a random
                worker every 200 ms and the dispatcher every 5 s; tasks on
                the local backend (tiny 160x90 1 s 6 fps renders) and on a
                misbehaving fake OpenAI upstream (500s, resets, 429s, bad
                JSON, slow and held submits, slow downloads, each with a
                count so that tasks still finish).  Afterwards every
                acknowledged create exists, every task ends within its
                deadline, no upstream job was made twice, `reelgate db
                check` passes; the figures are printed as "# figure: ...".
  slow create   the same race made deterministic: the dispatcher is killed
                while the upstream still handles a slow (3 s) create; the new
                dispatcher must find that job, not submit a second one.
  power cut     kill -9 of the whole process tree (master, workers,
                dispatcher, nginx) the instant a create's 200 is read, 20
                times with concurrent creates; every acknowledged record is
                in the database (mdb_dump, db check, and through the API
                after a restart).  strace shows the commit is on stable
                storage (fdatasync / O_DSYNC) before the reply is written.
  map growth    db.map_mb 1: thousands of concurrent creates with ~10 KB
                metadata; no request fails, the map grows.
  full disk     data_dir on an 8 MiB tmpfs filled up: creates fail with 507
                (or 503) and an OpenAI error envelope, nothing crashes, the
                database stays consistent, creates work again once space
                returns.
  slow uploads  500 sockets uploading slowly (oversized Content-Length,
                stalled and dripping bodies) through nginx while good
                requests are timed; everything is cleaned up afterwards.

Models that must not render (the resource tests) use the `hang` fake with
concurrency 1, so one renderer sleeps and the other tasks stay queued.
"""
import http.client
import json
import os
import random
import re
import secrets
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ANY, MODEL, TEMPLATE, BodyCut, FakeServer, Skip,  # noqa: E402
                     Stack, Suite, alive, check, children, cmdline, eq, expect_error,
                     expect_video, fake, tail, wait_until)

suite = Suite()
test = suite.test

MDB_DUMP = shutil.which("mdb_dump")
STRACE = shutil.which("strace")
TERMINAL = ("completed", "failed")


def figure(text):
    """A TAP diagnostic line with a figure to quote."""
    print("# figure: %s" % text, flush=True)


def note(text):
    for line in str(text).splitlines():
        print("# " + line, flush=True)


def command(cmd, concurrency, **extra):
    return dict({"type": "command", "command": cmd, "concurrency": concurrency}, **extra)


def quiet(s):
    """Stops the stack from keeping every answer (load tests send thousands)."""
    s._keep = lambda *a: None
    return s


def hang_backends():
    """The default model's backend replaced by the hanging fake, one at a time:
    creates are stored and queued, nothing renders."""
    return {"local": command(fake("hang"), 1)}


def kill_fakes(s):
    """kill -9 the fake renderers (own process groups) a stack left."""
    for pid in s.fake_pids():
        cmd = " ".join(cmdline(pid)[:2])
        if "tests/fakes" in cmd or "sleep" in cmd:
            for f in (os.killpg, os.kill):
                try:
                    f(pid, signal.SIGKILL)
                except OSError:
                    pass


def noise_png(width, height, seed=0):
    """A valid PNG of random pixels (does not compress): about 3*w*h bytes."""
    rnd = random.Random(seed)

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + rnd.randbytes(3 * width) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 0)) + chunk(b"IEND", b""))


def big_metadata(nbytes=10000):
    """Metadata of about nbytes as JSON: 4 random string values."""
    per = nbytes // 4 - 12
    return {"blob%d" % i: secrets.token_hex(per // 2) for i in range(4)}


def envelope_ok(resp, statuses):
    """None when resp is an OpenAI error envelope with one of statuses and
    a server_error type, else a description of what is wrong."""
    if resp.status not in statuses:
        return "status %s (want %s): %r" % (resp.status, "/".join(map(str, statuses)), resp)
    try:
        expect_error(resp, resp.status)
    except AssertionError as e:
        return "status %s without a proper error envelope: %s" % (resp.status, e)
    return None


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def upload_temps(s):
    """Upload temp files (reelgate-form-XXXXXX) left in data_dir/tmp; the
    renderers' run-ID scratch directories are not uploads."""
    d = os.path.join(s.data_dir, "tmp")
    return sorted(f for f in os.listdir(d) if f.startswith("reelgate-form-")) \
        if os.path.isdir(d) else []


def serve_log(s):
    try:
        with open(os.path.join(s.dir, "logs", "serve.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def crashes_in_log(text):
    """Lines saying a reelgate process died of a signal (a crash, or one of
    our kills)."""
    return [l for l in text.splitlines() if "event=worker_exited" in l and "signal=" in l]


def real_workers(s):
    """The master's children that are workers (not the dispatcher)."""
    disp = s.dispatcher_pid()
    return [p for p in children(s.master_pid()) if p != disp]


def wait_full_strength(s, workers, timeout=40):
    """Waits for the master to have all its workers and a dispatcher again
    (respawns back off after quick deaths, up to 10 s)."""
    def ok():
        d = s.dispatcher_pid()
        kids = children(s.master_pid())
        return d and d in kids and len([p for p in kids if p != d]) >= workers
    wait_until(ok, timeout, interval=0.2,
               what="%d workers and a dispatcher after the kills" % workers)


# ==================================================================== chaos

CHAOS_SECONDS = 60
CHAOS_CLIENTS = 6
CHAOS_WORKERS = 4
DEADLINE = 120           # deadline_seconds of both chaos models
DEADLINE_SLACK = 20      # scan interval, our polling, clock granularity
LOCAL_CREATES = 50       # caps, spread over the load (CPU: 2 cores + fuzzers)
REMOTE_CREATES = 60
UPSTREAM_KEY = "sk-chaos-" + secrets.token_hex(12)
REMOTE_MODEL = "chaos-remote"

# The upstream's misbehaviour, one after the other every few seconds; each
# has a count, so it runs out and the upstream behaves again.
SCENARIOS = [
    {"submit": "500", "count": 3},
    {"poll": "500", "count": 4},
    {"submit": "reset", "count": 2},
    {"poll": "reset", "count": 3},
    {"submit": "slow", "count": 3, "delay": 1.5},
    {"poll": "429", "count": 3, "retry_after": 1},
    {"submit": "hold", "count": 2, "delay": 1.5},
    {"content": "slow", "count": 2, "delay": 1.0},
    {"poll": "invalid_json", "count": 2},
    {"submit": "503", "count": 2, "retry_after": 1},
]


def chaos_config(up):
    def configure(cfg):
        cfg["models"][MODEL].update({
            "seconds": {"min": 1, "max": 4}, "default_seconds": 1, "default_size": "160x90",
            "default_fps": 6, "deadline_seconds": DEADLINE})
        cfg["models"][REMOTE_MODEL] = {
            "backends": [{"backend": "chaos-up", "model": "sora-2"}],
            "seconds": {"min": 1, "max": 8}, "default_seconds": 1, "default_size": "160x90",
            "sizes": {"max_width": 1920, "max_height": 1920}, "default_fps": 12,
            "max_fps": 60, "deadline_seconds": DEADLINE}
        cfg["backends"]["chaos-up"] = {
            "type": "openai", "base_url": up.url + "/v1", "api_key": UPSTREAM_KEY,
            "encoding": "multipart", "poll_seconds": 1, "allow_addresses": ["127.0.0.1"],
            "max_retries": 6, "concurrency": 8, "request_timeout_seconds": 5}
    return configure


class Tally:
    """Thread-safe request outcomes of the load."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_status = {}      # status (int) or "conn" / "timeout" / "cut" -> count
        self.by_op = {}
        self.anomalies = []      # unexpected answers (strings)
        self.created = {}        # id -> {"model", "created_at", "prompt"}
        self.completed = set()   # ids seen completed
        self.create_tries = {"local": 0, "remote": 0}
        self.latency = []        # seconds, every answered request

    def add(self, op, outcome):
        with self.lock:
            self.by_status[outcome] = self.by_status.get(outcome, 0) + 1
            d = self.by_op.setdefault(op, {})
            d[outcome] = d.get(outcome, 0) + 1

    def anomaly(self, text):
        with self.lock:
            if len(self.anomalies) < 200:
                self.anomalies.append(text)

    @property
    def total(self):
        return sum(self.by_status.values())

    @property
    def failed(self):
        return sum(n for k, n in self.by_status.items() if k != 200)


# Failures a killed worker explains: nginx's 502 (the FastCGI connection
# died), 503/504, and connection errors.
KILL_FAILURES = (502, 503, 504)


CHAOS_PNG = noise_png(64, 36, seed=5)


def hang_snapshot(s):
    """What might hold a request that got no answer: every process of the
    stack with where it waits, the FastCGI socket's queue, nginx's last
    error lines (a request that hangs has no other trace)."""
    lines = []
    master = s.master_pid()
    for pid in [master] + children(master):
        try:
            with open("/proc/%d/wchan" % pid) as f:
                wchan = f.read().strip()
            with open("/proc/%d/syscall" % pid) as f:
                sysc = f.read().split(" ")[0].strip()
        except OSError:
            continue
        role = "master" if pid == master else "dispatcher" if pid == s.dispatcher_pid() else "worker"
        lines.append("    %s %d wchan=%s syscall=%s" % (role, pid, wchan, sysc))
    if s.listen_kind == "unix":
        try:
            ss = subprocess.run(["ss", "-xl", "src", s.sock_path], capture_output=True,
                                timeout=5).stdout.decode(errors="replace").strip()
            lines.append("    ss -xl: " + " | ".join(ss.splitlines()[1:]))
        except (OSError, subprocess.SubprocessError):
            pass
    lines.append("    nginx error.log: " + " | ".join(
        tail(os.path.join(s.dir, "logs", "nginx-error.log"), 3).splitlines()))
    return "\n".join(lines)


def chaos_client(i, s, tally, stop, t0):
    rnd = random.Random(1000 + i)
    n = 0
    while not stop.is_set():
        n += 1
        form = None
        elapsed = time.monotonic() - t0
        with tally.lock:
            ids = list(tally.created)
            done = list(tally.completed)
            quota = {"local": LOCAL_CREATES, "remote": REMOTE_CREATES}
            # Creates spread evenly over the load.
            may = [k for k in quota if tally.create_tries[k] < quota[k] * min(1.0, (elapsed + 2)
                                                                                / CHAOS_SECONDS)]
        x = rnd.random()
        if x < 0.3 and may:
            kind = rnd.choice(may)
            with tally.lock:
                tally.create_tries[kind] += 1
            prompt = "chaos %s c%d n%d %s" % (kind, i, n, uuid.uuid4().hex[:10])
            body = {"prompt": prompt, "seconds": "1", "size": "160x90"}
            body["model"] = MODEL if kind == "local" else REMOTE_MODEL
            if kind == "local":
                body["fps"] = 6
            op, method, path = "create", "POST", "/v1/videos"
            form = None
            if kind == "local" and n % 2:       # every other one a multipart upload
                form = [(k, str(v)) for k, v in body.items()]
                form.append(("input_reference", ("ref.png", "image/png", CHAOS_PNG)))
        elif x < 0.6 and ids:
            vid = rnd.choice(ids)
            op, method, path, body = "retrieve", "GET", "/v1/videos/" + vid, ANY
        elif x < 0.8 or not (done or ids):
            op, method, path, body = "list", "GET", "/v1/videos?limit=20&order=%s" % rnd.choice(
                ("asc", "desc")), ANY
        elif done:
            vid = rnd.choice(done)
            v = rnd.choice(("", "?variant=thumbnail", "?variant=spritesheet"))
            op, method, path, body = "content", "GET", "/v1/videos/%s/content%s" % (vid, v), ANY
        else:
            vid = rnd.choice(ids)
            op, method, path, body = "retrieve", "GET", "/v1/videos/" + vid, ANY
        started = time.monotonic()
        try:
            if op == "create" and form:
                r = s.request(method, path, form=form, timeout=30)
            else:
                r = s.request(method, path, json=body, timeout=30)
        except BodyCut:
            # the answer began and stopped: its worker was killed mid-body,
            # a failure the kill explains (unlike no answer at all)
            tally.add(op, "cut")
            continue
        except socket.timeout:
            tally.add(op, "timeout")
            tally.anomaly("%s %s: no answer within 30 s (sent %.1f s into the load)\n%s"
                          % (method, path, started - t0, hang_snapshot(s)))
            continue
        except (OSError, http.client.HTTPException):
            tally.add(op, "conn")
            continue
        tally.add(op, r.status)
        with tally.lock:
            tally.latency.append(time.monotonic() - started)
        if r.status in KILL_FAILURES:
            bad = envelope_ok(r, KILL_FAILURES)
            if bad:
                tally.anomaly("%s %s: %s" % (method, path, bad))
            continue
        if r.status != 200:
            tally.anomaly("%s %s: %r" % (method, path, r))
            continue
        j = r.json
        if op == "create":
            if not (isinstance(j, dict) and str(j.get("id", "")).startswith("video_")):
                tally.anomaly("create answered 200 without a video: %r" % r)
                continue
            with tally.lock:
                tally.created[j["id"]] = {"model": body["model"], "created_at": j["created_at"],
                                          "prompt": body["prompt"]}
        elif op == "retrieve":
            if not isinstance(j, dict) or j.get("id") != path.rsplit("/", 1)[1]:
                tally.anomaly("retrieve of %s: %r" % (path, r))
            elif j.get("status") == "completed":
                with tally.lock:
                    tally.completed.add(j["id"])
        elif op == "list":
            if not isinstance(j, dict) or not isinstance(j.get("data"), list):
                tally.anomaly("list: %r" % r)
        elif op == "content" and not r.body:
            tally.anomaly("content %s: empty body" % path)


class Killer:
    """kill -9 a random worker every 200 ms and the dispatcher every 5 s."""

    def __init__(self, s, stop):
        self.s, self.stop = s, stop
        self.workers = self.dispatchers = 0
        self.ticks = self.idle = 0   # ticks; ticks with no live worker to kill
        self.live = 0                # live workers summed over the ticks
        self.log_off = 0
        self.disp_pids = set()
        self.rnd = random.Random(7)

    def _dispatchers(self):
        """Every dispatcher pid the master logged (so that a new dispatcher
        that has not written the lock file yet is never taken for a worker)."""
        path = os.path.join(self.s.dir, "logs", "serve.log")
        try:
            with open(path, "rb") as f:
                f.seek(self.log_off)
                data = f.read()
        except OSError:
            return self.disp_pids
        cut = data.rfind(b"\n") + 1
        self.log_off += cut
        for m in re.finditer(rb"dispatcher_pid=(\d+)", data[:cut]):
            self.disp_pids.add(int(m.group(1)))
        return self.disp_pids

    def run(self):
        master = self.s.master_pid()
        next_disp = time.monotonic() + 5
        while not self.stop.wait(0.2):
            if time.monotonic() >= next_disp:
                next_disp += 5
                d = self.s.dispatcher_pid()
                if d:
                    try:
                        os.kill(d, signal.SIGKILL)
                        self.dispatchers += 1
                    except OSError:
                        pass
            disp = self._dispatchers() | {self.s.dispatcher_pid()}
            workers = [p for p in children(master) if p not in disp]
            self.ticks += 1
            self.live += len(workers)
            self.idle += not workers
            if workers:
                try:
                    os.kill(self.rnd.choice(workers), signal.SIGKILL)
                    self.workers += 1
                except OSError:
                    pass


def rotate_scenarios(up, stop):
    i = 0
    while not stop.wait(3.0):
        try:
            up.scenario(**SCENARIOS[i % len(SCENARIOS)])
        except Exception:
            pass
        i += 1


def get_retrying(s, vid, tries=20):
    """GET a video, retrying the failures a restarting worker explains."""
    r = None
    for _ in range(tries):
        try:
            r = s.get(vid)
        except (OSError, http.client.HTTPException):
            time.sleep(0.25)
            continue
        if r.status not in KILL_FAILURES:
            return r
        time.sleep(0.25)
    return r


@test("chaos: 60 s of mixed load while kill -9 takes a worker every 200 ms and the "
      "dispatcher every 5 s (local + misbehaving remote backend): nothing lost, every task "
      "ends within its deadline, no duplicate upstream job, db check passes", timeout=330)
def _(_):
    up = FakeServer("openai", "--api-key", UPSTREAM_KEY, "--step-seconds", "0.4").start()
    try:
        with Stack(workers=CHAOS_WORKERS, configure=chaos_config(up),
                   content={"retention_seconds": 3600}) as s:
            quiet(s)
            chaos_run(s, up)
    finally:
        up.stop()


def chaos_run(s, up):
    # Warm up: one task of each kind completes (the fake renders its media
    # once) before the chaos starts.
    warm = [s.create(prompt="warm-up local", seconds="1", size="160x90", fps=6),
            s.create(model=REMOTE_MODEL, prompt="warm-up remote", seconds="1", size="160x90")]
    for v in warm:
        done, hist = s.wait_video(v["id"], timeout=60, strict=False)
        eq(done["status"], "completed", "warm-up %s (%s)" % (v["model"], hist))

    tally = Tally()
    stop_load, stop_kill, stop_scen = threading.Event(), threading.Event(), threading.Event()
    killer = Killer(s, stop_kill)
    t0 = time.monotonic()
    threads = [threading.Thread(target=chaos_client, args=(i, s, tally, stop_load, t0),
                                daemon=True) for i in range(CHAOS_CLIENTS)]
    threads.append(threading.Thread(target=killer.run, daemon=True))
    threads.append(threading.Thread(target=rotate_scenarios, args=(up, stop_scen), daemon=True))
    for t in threads:
        t.start()
    time.sleep(CHAOS_SECONDS)
    stop_kill.set()
    stop_scen.set()
    stop_load.set()
    for t in threads:
        t.join(45)
    load_time = time.monotonic() - t0
    check(not any(t.is_alive() for t in threads), "a load thread did not stop")
    # The upstream behaves from now on.
    up.scenario(submit="ok", poll="ok", content="ok", outcome="completed")

    problems = []
    wait_full_strength(s, CHAOS_WORKERS)

    # 1. Every acknowledged create exists (GET 200 with the same id).
    lost = []
    for vid in tally.created:
        r = get_retrying(s, vid)
        if r is None or r.status != 200 or (r.json or {}).get("id") != vid:
            lost.append("%s: %r" % (vid, r))
    if lost:
        problems.append("%d acknowledged creates are gone:\n  %s" % (len(lost),
                                                                    "\n  ".join(lost[:10])))

    # 2. Every task (also those stored though the client saw a 502) ends
    #    within its deadline.
    listed = s.list_ids()
    everything = set(listed) | set(tally.created)
    ghosts = set(listed) - set(tally.created) - {v["id"] for v in warm}
    info = {}
    for vid in everything:
        r = get_retrying(s, vid)
        if r is not None and r.status == 200:
            info[vid] = r.json
    pending = {vid for vid, v in info.items() if v["status"] not in TERMINAL}
    ended = {vid: (v, time.time()) for vid, v in info.items() if v["status"] in TERMINAL}
    last_states = {}
    drain0 = time.monotonic()
    while pending:
        limit = max(info[v]["created_at"] for v in pending) + DEADLINE + DEADLINE_SLACK
        for vid in sorted(pending):
            r = get_retrying(s, vid, tries=4)
            if r is None or r.status != 200:
                continue
            v = r.json
            last_states[vid] = (v["status"], v["progress"])
            if v["status"] in TERMINAL:
                ended[vid] = (v, time.time())
                pending.discard(vid)
        if not pending or time.time() > limit:
            break
        time.sleep(0.5)
    drain = time.monotonic() - drain0
    if pending:
        problems.append("%d tasks never reached a terminal state (waited until %d s past their "
                        "creation): %s" % (len(pending), DEADLINE + DEADLINE_SLACK,
                                           {v: last_states.get(v) for v in sorted(pending)[:10]}))
    late = []
    for vid, (v, seen) in ended.items():
        end = v.get("completed_at") or seen
        if end > v["created_at"] + DEADLINE + DEADLINE_SLACK:
            late.append("%s ended %s %d s after its creation" % (vid, v["status"],
                                                                 end - v["created_at"]))
    if late:
        problems.append("tasks past their %d s deadline:\n  %s"
                        % (DEADLINE, "\n  ".join(late[:10])))
    outcome = {"completed": 0, "failed": 0}
    fail_codes = {}
    for v, _ in ended.values():
        outcome[v["status"]] += 1
        if v["status"] == "failed":
            code = (v.get("error") or {}).get("code")
            fail_codes[code] = fail_codes.get(code, 0) + 1
            if sum(fail_codes.values()) <= 5:
                note("failed task %s (%s): %s" % (v["id"], v["model"],
                                                  (v.get("error") or {}).get("message")))
    # A completed video has its file.
    nofile = [vid for vid, (v, _) in ended.items() if v["status"] == "completed"
              and not os.path.isfile(os.path.join(s.data_dir, "content", vid + ".mp4"))]
    if nofile:
        problems.append("completed videos without data_dir/content/ID.mp4: %s" % nofile[:10])

    # 3. No duplicate upstream job: one accepted create per reelgate video.
    jobs = up.jobs()
    accepted = {}
    for j in jobs["jobs"]:
        if j["kind"] == "create" and j.get("video_id"):
            accepted.setdefault(j.get("idempotency_key"), []).append(j["video_id"])
    dups = {k: v for k, v in accepted.items() if len(v) > 1}
    if dups:
        problems.append("%d reelgate videos made more than one upstream job (Idempotency-Key -> "
                        "upstream ids): %s" % (len(dups), dict(list(dups.items())[:5])))
        log = serve_log(s).splitlines()
        for key in list(dups)[:3]:
            for j in jobs["jobs"]:
                if j.get("idempotency_key") == key:
                    note("upstream %s create at %.3f: scenario %s, answered %s, made %s" % (
                        key, j["time"], j["scenario"], j["status_code"], j["video_id"]))
            for line in log:
                if key in line and ("dispatcher" in line or "remote" in line):
                    note("  " + line[:300])
    remote_ids = {vid for vid in everything if (info.get(vid) or {}).get("model") == REMOTE_MODEL}
    strangers = [k for k in accepted if k not in remote_ids]
    if strangers:
        problems.append("upstream jobs whose Idempotency-Key is no remote video of ours: %s"
                        % strangers[:5])
    no_job = [vid for vid in remote_ids if ended.get(vid, ({},))[0].get("status") == "completed"
              and vid not in accepted]
    if no_job:
        problems.append("completed remote videos with no accepted upstream create: %s" % no_job[:5])

    # 4. The answers: only the failures a killed worker explains.
    if tally.anomalies:
        problems.append("%d unexpected answers during the load, e.g.:\n  %s"
                        % (len(tally.anomalies), "\n  ".join(tally.anomalies[:10])))

    # 5. The database is consistent.
    r = s.cli("db", "check", check_rc=False)
    if r.returncode != 0:
        problems.append("reelgate db check exited %s: %s %s" % (
            r.returncode, r.stdout.decode(errors="replace")[-1500:],
            r.stderr.decode(errors="replace")[-1500:]))
    tmp_left = upload_temps(s)
    runs_left = [d for d in os.listdir(os.path.join(s.data_dir, "tmp")) if d.startswith("run-")]

    total, failed = tally.total, tally.failed
    conn = tally.by_status.get("conn", 0)
    figure("chaos load %.0f s, %d client threads, %d workers: %d requests, %d failed (%.1f%%): %s"
           % (load_time, CHAOS_CLIENTS, CHAOS_WORKERS, total, failed,
              100.0 * failed / max(1, total),
              ", ".join("%s=%d" % (k, n) for k, n in sorted(tally.by_status.items(),
                                                            key=lambda kv: str(kv[0])))))
    for op in sorted(tally.by_op):
        d = tally.by_op[op]
        figure("chaos %s: %d requests, %d failed (%.1f%%)" % (
            op, sum(d.values()), sum(n for k, n in d.items() if k != 200),
            100.0 * sum(n for k, n in d.items() if k != 200) / max(1, sum(d.values()))))
    figure("chaos kills: %d workers, %d dispatchers (every 5 s); of %d killer ticks (every "
           "200 ms) %d found no live worker to kill (all %d in the master's respawn back-off); "
           "%.2f live workers on average" % (killer.workers, killer.dispatchers, killer.ticks,
                                             killer.idle, CHAOS_WORKERS,
                                             killer.live / max(1, killer.ticks)))
    lat = tally.latency
    figure("chaos latency of answered requests: p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max "
           "%.1f s (requests wait in the FastCGI socket's backlog while no worker is alive)"
           % (1000 * percentile(lat, 50), 1000 * percentile(lat, 90), 1000 * percentile(lat, 99),
              max(lat or [0])))
    figure("chaos tasks: %d acknowledged creates (%d local, %d remote), %d stored without an "
           "acknowledgement (client saw an error), %d completed, %d failed %s; drained %.0f s "
           "after the load" % (
               len(tally.created),
               sum(1 for v in tally.created.values() if v["model"] == MODEL),
               sum(1 for v in tally.created.values() if v["model"] == REMOTE_MODEL),
               len(ghosts), outcome["completed"], outcome["failed"], fail_codes or "", drain))
    figure("chaos lost tasks: %d; tasks not terminal: %d; past deadline: %d; duplicate upstream "
           "jobs: %d; unexpected answers: %d; connection errors: %d"
           % (len(lost), len(pending), len(late), len(dups), len(tally.anomalies), conn))
    figure("chaos upstream: %d creates received, %d accepted, %d polls; left in data_dir/tmp: "
           "%d upload temp files, %d run directories" % (
               jobs["creates_received"], jobs["creates_accepted"], jobs["polls"], len(tmp_left),
               len(runs_left)))
    check(not problems, "\n".join(problems))


@test("kill -9 the dispatcher while the upstream is still handling a slow create (3 s): "
      "the new dispatcher reconciles and makes no second upstream job", timeout=120)
def _(_):
    up = FakeServer("openai", "--api-key", UPSTREAM_KEY, "--step-seconds", "0.4").start()
    try:
        with Stack(workers=2, configure=chaos_config(up),
                   content={"retention_seconds": 3600}) as s:
            # The upstream takes 3 s before it makes the job and answers.
            up.scenario(submit="slow", count=1, delay=3.0)
            v = s.create(model=REMOTE_MODEL, prompt="slow upstream create " + uuid.uuid4().hex[:8],
                         seconds="1", size="160x90")

            def received():
                return [j for j in up.jobs()["jobs"] if j.get("idempotency_key") == v["id"]]
            wait_until(received, 20, interval=0.05, what="the upstream to receive the create")
            old = s.dispatcher_pid()
            check(old, "no dispatcher")
            os.kill(old, signal.SIGKILL)
            done, hist = s.wait_video(v["id"], timeout=60, strict=False)
            # Every create the upstream received has been handled (the slow
            # one makes its job only after its 3 s).
            jobs = wait_until(lambda: all(j["status_code"] is not None for j in received())
                              and received(), 15, what="the upstream to finish the creates")
            made = [j["video_id"] for j in jobs if j.get("video_id")]
            log = [l for l in serve_log(s).splitlines() if v["id"] in l and "role=dispatcher" in l]
            eq(done["status"], "completed", "status (%s; error %s)" % (hist, done["error"]))
            check(len(made) == 1, "the upstream made %d jobs for one video (creates received at "
                  "%s): %s\n%s" % (len(made), ["%.3f" % j["time"] for j in jobs], made,
                                    "\n".join(l[:260] for l in log)))
            s.db_check()
    finally:
        up.stop()


# ================================================================ power cut

POWER_ROUNDS = 20
POWER_CLIENTS = 6


def tree_pids(s):
    """Every process of the stack: master, its children (workers,
    dispatcher), the dispatcher from the lock, nginx and its workers."""
    pids = {s.master_pid(), s.nginx.pid}
    pids |= set(children(s.master_pid())) | set(children(s.nginx.pid))
    d = s.dispatcher_pid()
    if d:
        pids.add(d)
    return pids


def powercut_round(s, rnd):
    """Concurrent creates; the first 200 read kills the whole tree at once.
    Returns ([(prompt, id or None)] acknowledged, creates sent)."""
    pids = sorted(tree_pids(s))
    groups = (s.master_pid(), s.nginx.pid)
    killed = threading.Event()
    lock = threading.Lock()
    acks, sent = [], [0]
    # The kill follows the K-th acknowledgement of the round (K random), so
    # that it lands in steady concurrent load, not on an idle server.
    trigger = random.Random(rnd).randint(1, 8)

    def kill_all():
        with lock:
            if killed.is_set():
                return
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            for g in groups:
                try:
                    os.killpg(g, signal.SIGKILL)
                except OSError:
                    pass
            killed.set()

    def client(i):
        n = 0
        while not killed.is_set():
            n += 1
            prompt = "powercut-r%d-t%d-n%d-%s" % (rnd, i, n, uuid.uuid4().hex[:12])
            body = json.dumps({"prompt": prompt}).encode()
            req = (("POST /v1/videos HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
                    "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n"
                    "\r\n") % (s.port, s.key, len(body))).encode() + body
            try:
                c = socket.create_connection(("127.0.0.1", s.port), timeout=15)
            except OSError:
                return
            try:
                c.sendall(req)
                with lock:
                    sent[0] += 1
                buf = b""
                while b"\r\n\r\n" not in buf:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                words = buf.split(b"\r\n", 1)[0].split()
                if len(words) >= 2 and words[1] == b"200" and b"\r\n\r\n" in buf:
                    with lock:
                        acks.append([prompt, None])
                        me = acks[-1]
                        last = len(acks) >= trigger
                    if last:
                        kill_all()       # the instant the headers are read
                    c.settimeout(2)
                    try:
                        while True:
                            chunk = c.recv(65536)
                            if not chunk:
                                break
                            buf += chunk
                    except OSError:
                        pass
                    m = re.search(rb'"id"\s*:\s*"(video_[0-9a-z]+)"', buf)
                    if m:
                        me[1] = m.group(1).decode()
            except OSError:
                pass
            finally:
                c.close()

    ts = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(POWER_CLIENTS)]
    for t in ts:
        t.start()
    killed.wait(30)
    check(killed.is_set(), "round %d: no create was acknowledged within 30 s" % rnd)
    for t in ts:
        t.join(20)
    for p in (s.proc, s.nginx):
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            pass
    wait_until(lambda: not any(alive(p) for p in pids), 10, what="the killed tree to be gone")
    kill_fakes(s)
    return acks, sent[0]


def dump_videos(s):
    """mdb_dump -p of the videos sub-database (the records as text)."""
    r = subprocess.run([MDB_DUMP, "-p", "-s", "videos", os.path.join(s.data_dir, "db")],
                       capture_output=True, timeout=60)
    check(r.returncode == 0, "mdb_dump failed", r.stderr.decode(errors="replace"))
    return r.stdout.decode("utf-8", "replace")


def restart(s):
    s.start_reelgate()
    s._start_nginx()
    s.wait_ready()


def fsync_before_reply(s):
    """strace the worker of one create: the record's pages must be on stable
    storage before the reply is written: every write to data.mdb is followed
    by an fdatasync/fsync of it before the reply, or went through an fd
    opened O_DSYNC/O_SYNC.  Returns a description of the evidence."""
    disp = s.dispatcher_pid()
    workers = [p for p in children(s.master_pid()) if p != disp]
    check(workers, "no worker to trace")
    # Which data.mdb descriptors write synchronously (O_DSYNC 0o10000,
    # O_SYNC 0o4010000).
    sync_fds = {}
    for w in workers:
        for fd in os.listdir("/proc/%d/fd" % w):
            try:
                target = os.readlink("/proc/%d/fd/%s" % (w, fd))
                with open("/proc/%d/fdinfo/%s" % (w, fd)) as f:
                    flags = int(re.search(r"flags:\s*([0-7]+)", f.read()).group(1), 8)
            except (OSError, AttributeError):
                continue
            if target.endswith("/data.mdb"):
                sync_fds[(w, int(fd))] = bool(flags & 0o10000)
    out = os.path.join(s.dir, "strace.out")
    args = [STRACE, "-f", "-yy", "-s", "64", "-o", out, "-e",
            "trace=fdatasync,fsync,msync,sync_file_range,pwrite64,pwritev,pwritev2,write,writev"]
    for w in workers:
        args += ["-p", str(w)]
    st = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)           # attached (strace has no "ready" signal)
        if st.poll() is not None:
            raise AssertionError("strace could not attach: %s"
                                 % st.stderr.read().decode(errors="replace")[-500:])
        v = s.create(prompt="traced create " + uuid.uuid4().hex[:8])
        time.sleep(0.5)
    finally:
        st.send_signal(signal.SIGINT)
        try:
            st.wait(10)
        except subprocess.TimeoutExpired:
            st.kill()
            st.wait(5)
    with open(out, errors="replace") as f:
        lines = f.read().splitlines()
    # The worker that answered: its write of "Status: 200" with our id in
    # the same record is the reply.
    reply = None
    for i, line in enumerate(lines):
        if "fcgi.sock" in line and re.search(r"\bwritev?\(", line) and "Status: 200" in line:
            reply = i
            break
    check(reply is not None, "no FastCGI reply seen in the trace of the create %s" % v["id"],
          "\n".join(lines[-20:]))
    pid = int(lines[reply].split()[0])
    mine = [(i, l) for i, l in enumerate(lines[:reply]) if l.split()[0] == str(pid)]
    writes, syncs = [], []
    for i, l in mine:
        m = re.search(r"^\d+\s+(\w+)\((\d+)<([^>]*)>", l)
        if not m or not m.group(3).endswith("/data.mdb"):
            continue
        call, fd = m.group(1), int(m.group(2))
        if call in ("fdatasync", "fsync", "msync", "sync_file_range"):
            syncs.append(i)
        else:
            writes.append((i, fd, call))
    check(writes, "the worker wrote nothing to data.mdb before replying to the create",
          "\n".join(l for _, l in mine[-20:]))
    unsynced = [(i, fd, call) for i, fd, call in writes
                if not sync_fds.get((pid, fd)) and not any(j > i for j in syncs)]
    check(not unsynced, "writes to data.mdb not on stable storage before the reply (no "
          "fdatasync after them, fd not O_DSYNC): %s" % [lines[i][:160] for i, _, _ in unsynced])
    return "%d writes to data.mdb, %d fdatasync/fsync, %d through an O_DSYNC fd, all before " \
           "the reply" % (len(writes), len(syncs),
                          sum(1 for _, fd, _ in writes if sync_fds.get((pid, fd))))


@test("power cut: kill -9 of master, workers, dispatcher and nginx the instant a create's "
      "200 is read, 20 rounds with concurrent creates: every acknowledged record is in the "
      "database after the restart; the commit is fsync'd before the reply", timeout=240)
def _(_):
    if not MDB_DUMP:
        raise Skip("mdb_dump (lmdb-utils) not installed")
    with Stack(workers=2, backends=hang_backends()) as s:
        quiet(s)
        evidence = None
        if STRACE:
            evidence = fsync_before_reply(s)
        all_acks, sent = [], 0
        problems = []
        for rnd in range(1, POWER_ROUNDS + 1):
            acks, n = powercut_round(s, rnd)
            sent += n
            all_acks += acks
            dump = dump_videos(s)
            for prompt, vid in acks:
                if prompt not in dump or (vid and vid not in dump):
                    problems.append("round %d: acknowledged %s (%s) is not in the database"
                                    % (rnd, vid, prompt))
            r = s.cli("db", "check", check_rc=False)
            if r.returncode != 0:
                problems.append("round %d: db check exited %s: %s" % (
                    rnd, r.returncode, (r.stdout + r.stderr).decode(errors="replace")[-800:]))
            restart(s)
        # Through the API after the last restart: every acknowledged video.
        by_prompt = {}
        for vid in s.list_ids():
            r = s.get(vid)
            if r.status == 200:
                by_prompt[r.json["prompt"]] = vid
        missing = []
        for prompt, vid in all_acks:
            got = by_prompt.get(prompt)
            if got is None or (vid and got != vid):
                missing.append("%s (%s)" % (vid, prompt))
        if missing:
            problems.append("acknowledged but not served after the restart: %s" % missing[:10])
        s.db_check()
        with_id = sum(1 for _, vid in all_acks if vid)
        lost = len(missing) + len([p for p in problems if "not in the database" in p])
        figure("power cut: %d rounds, %d creates sent, %d acknowledged (%d with the body read; "
               "the tree killed the instant the K-th 200 of a round was read, K random 1..8), "
               "%d lost" % (POWER_ROUNDS, sent, len(all_acks), with_id, lost))
        if evidence:
            figure("power cut fsync: " + evidence)
        else:
            note("strace not installed: the fsync-before-reply check was skipped")
        check(not problems, "\n".join(problems))


# =============================================================== map growth

MAP_CREATES = 3000
MAP_THREADS = 8


@test("LMDB map growth: db.map_mb 1, %d concurrent creates with ~10 KB metadata: every one "
      "200, the map grew, db check ok" % MAP_CREATES, timeout=240)
def _(_):
    def configure(cfg):
        cfg["db"].update(map_mb=1, max_map_mb=256)
    with Stack(workers=4, backends=hang_backends(), configure=configure) as s:
        quiet(s)
        mdb = os.path.join(s.data_dir, "db", "data.mdb")
        size0 = os.path.getsize(mdb)
        before = s.video_records()
        lock = threading.Lock()
        results = {}
        failures = []
        counter = [0]

        def client(i):
            rnd = random.Random(i)
            while True:
                with lock:
                    if counter[0] >= MAP_CREATES:
                        return
                    counter[0] += 1
                    n = counter[0]
                body = {"prompt": "map growth %d %s" % (n, uuid.uuid4().hex[:8]),
                        "metadata": {"blob%d" % k: rnd.randbytes(1240).hex() for k in range(4)}}
                try:
                    r = s.request("POST", "/v1/videos", json=body, timeout=60)
                    st = r.status
                except (OSError, http.client.HTTPException) as e:
                    r, st = None, "conn (%s)" % type(e).__name__
                with lock:
                    results[st] = results.get(st, 0) + 1
                    if st != 200 and len(failures) < 10:
                        failures.append(r if r is not None else st)
        t0 = time.monotonic()
        ts = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(MAP_THREADS)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(200)
        took = time.monotonic() - t0
        check(not any(t.is_alive() for t in ts), "the create threads did not finish in 200 s")
        size = os.path.getsize(mdb)
        after = s.video_records()
        stat = subprocess.run(["mdb_stat", "-e", os.path.join(s.data_dir, "db")],
                              capture_output=True, timeout=30).stdout.decode(errors="replace") \
            if shutil.which("mdb_stat") else ""
        m = re.search(r"Map size:\s*(\d+)", stat)
        figure("map growth: %d creates with ~10 KB metadata from %d threads in %.1f s (%.0f/s); "
               "answers %s; data.mdb %d KiB -> %d KiB; map size %s"
               % (MAP_CREATES, MAP_THREADS, took, MAP_CREATES / took, results, size0 >> 10,
                  size >> 10, ("%d MiB" % (int(m.group(1)) >> 20)) if m else "?"))
        check(results.get(200, 0) == MAP_CREATES, "not every create succeeded: %s" % results,
              *failures)
        check(size > 1 << 20, "data.mdb is %d bytes: did not grow past 1 MiB" % size)
        if before is not None and after is not None:
            eq(after - before, MAP_CREATES, "records in LMDB's videos database")
        s.db_check()
        check(not crashes_in_log(serve_log(s)), "a worker died during the load",
              *crashes_in_log(serve_log(s))[:5])


# ================================================================ full disk

def mount_small(size_mb=8):
    """A small filesystem of our own: tmpfs, else a loop-mounted ext4 image.
    Returns (mount point, description); raises Skip saying why not."""
    base = tempfile.mkdtemp(prefix="reelgate-disk-")
    mnt = os.path.join(base, "mnt")
    os.mkdir(mnt)
    errors = []
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0755" % size_mb, "tmpfs",
                        mnt], capture_output=True, timeout=30)
    if r.returncode == 0:
        return base, mnt, "tmpfs %d MiB" % size_mb
    errors.append("mount -t tmpfs: %s" % r.stderr.decode(errors="replace").strip())
    img = os.path.join(base, "disk.img")
    mkfs = shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4"
    r = subprocess.run(["truncate", "-s", "%dM" % size_mb, img], capture_output=True)
    if r.returncode == 0:
        r = subprocess.run([mkfs, "-q", "-F", img], capture_output=True, timeout=60)
    if r.returncode == 0:
        r = subprocess.run(["mount", "-o", "loop", img, mnt], capture_output=True, timeout=30)
        if r.returncode == 0:
            return base, mnt, "loop-mounted ext4 %d MiB" % size_mb
    errors.append("loop ext4: %s" % r.stderr.decode(errors="replace").strip())
    shutil.rmtree(base, ignore_errors=True)
    raise Skip("cannot mount a small filesystem here (%s)" % "; ".join(errors))


def unmount(base, mnt):
    for args in (["umount", mnt], ["umount", "-l", mnt]):
        if subprocess.run(args, capture_output=True).returncode == 0:
            break
    shutil.rmtree(base, ignore_errors=True)


def fill(path, chunk=1 << 16):
    """Writes a filler file until the filesystem is full; returns its size."""
    n = 0
    data = os.urandom(chunk)
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                n += f.write(data)
            except OSError:
                break
        # The last bytes (less than a chunk).
        for small in (4096, 512, 1):
            while True:
                try:
                    n += f.write(data[:small])
                except OSError:
                    break
    return n


@test("full disk: data_dir on an 8 MiB tmpfs filled up: creates fail with 507/503 and an "
      "error envelope, no crash, db check ok, creates work again once space returns",
      timeout=180)
def _(_):
    base, mnt, what = mount_small(8)
    try:
        def configure(cfg):
            cfg["data_dir"] = os.path.join(mnt, "data")
            cfg["db"].update(map_mb=4, max_map_mb=64)
        with Stack(workers=2, backends=hang_backends(), configure=configure) as s:
            quiet(s)
            full_disk_run(s, mnt, what)
    finally:
        unmount(base, mnt)


def create_json(s, tag, meta_bytes=10000):
    return s.request("POST", "/v1/videos", json={
        "prompt": "full disk %s %s" % (tag, uuid.uuid4().hex[:8]),
        "metadata": big_metadata(meta_bytes)})


def create_upload(s, tag, png):
    return s.request("POST", "/v1/videos", form=[
        ("prompt", "full disk upload %s %s" % (tag, uuid.uuid4().hex[:8])),
        ("input_reference", ("ref.png", "image/png", png))])


def full_disk_run(s, mnt, what):
    png = noise_png(300, 300, seed=1)            # ~270 KB, does not compress
    # Space to start with: both kinds of create work.
    for r in (create_json(s, "before"), create_upload(s, "before", png)):
        expect_video(r)
    workers0 = sorted(real_workers(s))
    disp0 = s.dispatcher_pid()
    log0 = len(serve_log(s))
    filler = os.path.join(mnt, "filler")
    filled = fill(filler)
    st = os.statvfs(mnt)
    note("%s filled with a %d KiB filler; %d KiB free" % (what, filled >> 10,
                                                          st.f_bavail * st.f_frsize >> 10))
    problems, answers, wrong = [], {}, {}
    seen = {"json": [], "upload": []}
    for i in range(120):
        kind = "upload" if i % 2 else "json"
        r = create_upload(s, "full %d" % i, png) if kind == "upload" else \
            create_json(s, "full %d" % i)
        key = "%s %s%s" % (kind, r.status, "" if r.status == 200 else
                           " " + str(((r.json or {}).get("error") or {}).get("code")))
        answers[key] = answers.get(key, 0) + 1
        if r.status != 200:
            seen[kind].append(r)
            bad = envelope_ok(r, (507, 503))
            if bad:
                wrong[(kind, bad)] = wrong.get((kind, bad), 0) + 1
        if len(seen["json"]) >= 3 and len(seen["upload"]) >= 3:
            break
    figure("full disk (%s): answers to creates while full: %s" % (what, answers))
    for (kind, bad), n in wrong.items():
        problems.append("%s create on a full disk (%d times): %s" % (kind, n, bad))
    check(seen["json"] or seen["upload"], "no create failed on a full disk: %s" % answers)
    for kind in ("json", "upload"):
        if not seen[kind]:
            problems.append("no %s create failed on a full disk (answers %s)" % (kind, answers))
    # Reads still work.
    r = s.list(limit=5)
    if r.status != 200:
        problems.append("list on a full disk: %r" % r)
    # No crash: the same processes serve.
    crashed = crashes_in_log(serve_log(s)[log0:])
    if crashed or sorted(real_workers(s)) != workers0 or s.dispatcher_pid() != disp0:
        problems.append("a reelgate process died while the disk was full: workers %s -> %s, "
                        "dispatcher %s -> %s; %s" % (workers0, sorted(real_workers(s)), disp0,
                                                     s.dispatcher_pid(), crashed[:5]))
    r = s.cli("db", "check", check_rc=False)
    if r.returncode != 0:
        problems.append("db check on the full disk exited %s: %s" % (
            r.returncode, (r.stdout + r.stderr).decode(errors="replace")[-800:]))
    # Space returns.
    os.unlink(filler)
    for kind, r in (("json", create_json(s, "after")), ("upload", create_upload(s, "after", png))):
        if r.status != 200:
            problems.append("%s create after space returned: %r" % (kind, r))
        else:
            vid = r.json["id"]
            g = s.get(vid)
            if g.status != 200:
                problems.append("GET %s after space returned: %r" % (vid, g))
    left = upload_temps(s)
    if left:
        problems.append("partial upload files left in data_dir/tmp: %s" % left)
    r = s.cli("db", "check", check_rc=False)
    if r.returncode != 0:
        problems.append("db check after recovery exited %s: %s" % (
            r.returncode, (r.stdout + r.stderr).decode(errors="replace")[-800:]))
    check(not problems, "\n".join(problems))


# ============================================================= slow uploads

SLOW_SOCKETS = 500
SLOW_OVERSIZE = 50        # Content-Length far over the body limit, then nothing
SLOW_STALL = 225          # a valid Content-Length, a few bytes, then nothing
# the rest drip a few bytes every second
SLOW_ATTACK = 60          # seconds


def nginx_body_timeout():
    """client_body_timeout of the shipped template (nginx's default: 60 s)."""
    with open(TEMPLATE) as f:
        m = re.search(r"^\s*client_body_timeout\s+(\d+)(s?)\s*;", f.read(), re.M)
    return int(m.group(1)) if m else 60


def nginx_worker_connections():
    with open(TEMPLATE) as f:
        m = re.search(r"^\s*worker_connections\s+(\d+)\s*;", f.read(), re.M)
    return int(m.group(1)) if m else 512


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            m = re.search(r"VmRSS:\s*(\d+)", f.read())
        return int(m.group(1)) if m else 0
    except OSError:
        return 0


class Attacker:
    """SLOW_SOCKETS non-blocking sockets, driven by one thread."""

    def __init__(self, s):
        self.s = s
        self.socks = []           # dicts: sock, kind, answer, closed_at, opened_at
        self.sel = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.boundary = "----slow" + uuid.uuid4().hex

    def head(self, length):
        return ("POST /v1/videos HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n"
                % (self.s.port, self.s.key, self.boundary, length)).encode()

    def body_start(self):
        return ('--%s\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nslow upload\r\n'
                '--%s\r\nContent-Disposition: form-data; name="input_reference"; '
                'filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n'
                % (self.boundary, self.boundary)).encode()

    def open_all(self):
        for i in range(SLOW_SOCKETS):
            kind = "oversize" if i < SLOW_OVERSIZE else \
                "stall" if i < SLOW_OVERSIZE + SLOW_STALL else "drip"
            c = socket.create_connection(("127.0.0.1", self.s.port), timeout=10)
            length = 50 << 20 if kind == "oversize" else 1000000
            c.sendall(self.head(length) + (b"" if kind == "oversize" else self.body_start()))
            c.setblocking(False)
            rec = {"sock": c, "kind": kind, "answer": b"", "closed_at": None,
                   "opened_at": time.monotonic(), "sent": 0, "answered_at": None}
            self.socks.append(rec)
            self.sel.register(c, selectors.EVENT_READ, rec)

    def run(self):
        next_drip = time.monotonic() + 1
        while not self.stop.is_set():
            for key, _ in self.sel.select(timeout=0.2):
                rec = key.data
                try:
                    data = rec["sock"].recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    if not rec["answer"]:
                        rec["answered_at"] = time.monotonic()
                    rec["answer"] += data
                else:
                    rec["closed_at"] = time.monotonic()
                    self.sel.unregister(rec["sock"])
            if time.monotonic() >= next_drip:
                next_drip += 1
                for rec in self.socks:
                    if rec["kind"] == "drip" and rec["closed_at"] is None and not rec["answer"]:
                        try:
                            rec["sock"].send(b"\x00\x01\x02\x03")   # 4 bytes a second
                            rec["sent"] += 4
                        except (BlockingIOError, OSError):
                            pass

    def status(self, rec):
        words = rec["answer"].split(b"\r\n", 1)[0].split()
        return int(words[1]) if len(words) >= 2 and words[1].isdigit() else None

    def close_all(self):
        for rec in self.socks:
            try:
                rec["sock"].close()
            except OSError:
                pass


@test("500 concurrent slow uploads through nginx: bounded by the body limit and timeouts, "
      "good requests still answered meanwhile, everything cleaned up", timeout=150)
def _(_):
    with Stack(workers=2, backends=hang_backends()) as s:
        quiet(s)
        slow_uploads_run(s)


def slow_uploads_run(s):
    body_timeout = nginx_body_timeout()
    workers0 = sorted(real_workers(s))
    disp0 = s.dispatcher_pid()
    nginx_workers = children(s.nginx.pid)
    rss0 = sum(rss_kb(p) for p in nginx_workers)
    # Good requests before the attack, for comparison.
    base = []
    for i in range(5):
        t = time.monotonic()
        s.request("GET", "/v1/models")
        base.append(time.monotonic() - t)
    att = Attacker(s)
    t0 = time.monotonic()
    att.open_all()
    opened = time.monotonic() - t0
    runner = threading.Thread(target=att.run, daemon=True)
    runner.start()
    lat, bad, rss_peak = [], [], rss0
    try:
        probe_end = t0 + SLOW_ATTACK - 5
        i = 0
        while time.monotonic() < probe_end:
            i += 1
            for method, path, kw in (("GET", "/v1/models", {}),
                                     ("GET", "/v1/videos?limit=5", {}),
                                     ("POST", "/v1/videos",
                                      {"json": {"prompt": "good request %d" % i}})):
                t = time.monotonic()
                try:
                    r = s.request(method, path, timeout=30, **kw)
                    st = r.status
                except (OSError, http.client.HTTPException) as e:
                    r, st = None, "conn (%s)" % type(e).__name__
                lat.append(time.monotonic() - t)
                if st != 200:
                    bad.append("%s %s during the attack: %s" % (method, path, r or st))
            rss_peak = max(rss_peak, sum(rss_kb(p) for p in nginx_workers))
            time.sleep(0.7)
        # The oversized ones were refused at once.
        over = [r for r in att.socks if r["kind"] == "oversize"]
        # Wait for the stalled ones to be timed out (client_body_timeout).
        stall_bound = t0 + opened + body_timeout + 8
        stalled = [r for r in att.socks if r["kind"] == "stall"]
        while time.monotonic() < stall_bound and any(
                r["closed_at"] is None and not r["answer"] for r in stalled):
            time.sleep(0.5)
        drip_open = sum(1 for r in att.socks if r["kind"] == "drip" and r["closed_at"] is None
                        and not r["answer"])
        drip_sent = max((r["sent"] for r in att.socks if r["kind"] == "drip"), default=0)
    finally:
        att.stop.set()
        runner.join(10)
        att.close_all()
    elapsed = time.monotonic() - t0
    problems = list(bad[:10])

    def summary(recs):
        out = {}
        for r in recs:
            st = att.status(r)
            k = str(st) if st else ("closed" if r["closed_at"] else "open")
            out[k] = out.get(k, 0) + 1
        return out
    over_sum, stall_sum = summary(over), summary(stalled)
    ends = [r["answered_at"] or r["closed_at"] for r in stalled
            if r["answered_at"] or r["closed_at"]]
    stall_when = ("between %.0f and %.0f s" % (min(ends) - t0, max(ends) - t0)) if ends else "never"
    if set(over_sum) != {"413"}:
        problems.append("oversized Content-Length (50 MiB > limit %d): %s, want all 413"
                        % (s.max_body, over_sum))
    else:
        slowest = max(r["answered_at"] for r in over)
        for r in over[:3]:
            body = r["answer"].split(b"\r\n\r\n", 1)[-1]
            try:
                err = json.loads(body)["error"]
                if err.get("code") != "request_too_large":
                    problems.append("413 code %r" % err.get("code"))
            except (ValueError, KeyError, TypeError):
                problems.append("413 without an error envelope: %r" % r["answer"][:300])
    unbounded = [r for r in stalled if r["closed_at"] is None and not r["answer"]]
    if unbounded:
        problems.append("%d/%d stalled uploads still open %d s after their last byte "
                        "(client_body_timeout %d s)" % (len(unbounded), len(stalled),
                                                        body_timeout + 8, body_timeout))
    # Clean-up: nginx's body buffers, reelgate's temp files, the processes.
    body_dir = os.path.join(s.dir, "nginx-tmp", "body")

    def body_files():
        found = []
        for root, _d, files in os.walk(body_dir):
            found += files
        return found
    try:
        wait_until(lambda: not body_files(), 15, what="nginx's temp body files to go")
    except AssertionError:
        problems.append("nginx temp body files left: %d" % len(body_files()))
    left = upload_temps(s)
    if left:
        problems.append("upload temp files left in data_dir/tmp: %s" % left[:5])
    if sorted(real_workers(s)) != workers0 or s.dispatcher_pid() != disp0:
        problems.append("reelgate processes changed during the attack: workers %s -> %s, "
                        "dispatcher %s -> %s" % (workers0, sorted(real_workers(s)), disp0,
                                                 s.dispatcher_pid()))
    try:
        s.create(prompt="after the slow uploads")
    except AssertionError as e:
        problems.append("create after the attack: %s" % e)
    s.db_check()
    errlog = os.path.join(s.dir, "logs", "nginx-error.log")
    with open(errlog, errors="replace") as f:
        err_text = f.read()
    # nginx closes idle connections when its worker_connections run out
    # ("reusing connections"); it refuses new ones when none is idle.
    conns_short = [l for l in err_text.splitlines() if "worker_connections are not enough" in l]
    refused = [l for l in conns_short if "reusing" not in l]
    if refused:
        problems.append("nginx refused connections: %s" % refused[:3])
    dropped = [r for r in att.socks if r["kind"] != "oversize" and not r["answer"]
               and r["closed_at"] is not None and r["closed_at"] - t0 < body_timeout - 5]
    figure("slow uploads: %d sockets opened in %.2f s (%d oversized, %d stalled, %d dripping 4 "
           "bytes/s); attack %.0f s" % (SLOW_SOCKETS, opened, SLOW_OVERSIZE, SLOW_STALL,
                                        SLOW_SOCKETS - SLOW_OVERSIZE - SLOW_STALL, elapsed))
    figure("slow uploads: good requests during the attack: %d, failed %d; latency p50 %.0f ms, "
           "p95 %.0f ms, max %.0f ms (before the attack: max %.0f ms)"
           % (len(lat), len(bad), 1000 * percentile(lat, 50), 1000 * percentile(lat, 95),
              1000 * max(lat or [0]), 1000 * max(base)))
    figure("slow uploads: oversized -> %s%s; stalled -> %s %s (client_body_timeout %d s); "
           "dripping uploads still open at the end: %d/%d (sent %d bytes each; nginx has no "
           "total body deadline, only worker_connections bounds them)"
           % (over_sum, (" (all within %.2f s)" % (slowest - t0)) if set(over_sum) == {"413"}
              else "", stall_sum, stall_when, body_timeout, drip_open,
              SLOW_SOCKETS - SLOW_OVERSIZE - SLOW_STALL, drip_sent))
    figure("slow uploads: nginx worker RSS %d KiB -> peak %d KiB; nginx ran out of its %s "
           "worker_connections %d times and closed %d waiting attack connections early"
           % (rss0, rss_peak, nginx_worker_connections(), len(conns_short), len(dropped)))
    max_lat = max(lat or [0])
    if max_lat > 10:
        problems.append("a good request took %.1f s during the attack" % max_lat)
    check(not problems, "\n".join(problems))


if __name__ == "__main__":
    sys.exit(suite.main(shared=False))
