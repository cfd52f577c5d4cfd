#!/usr/bin/env python3
"""Results in S3-compatible object storage (issue 19): content.store "s3"
against the tests' S3 server (tests/s3: s3rver behind a proxy that checks
every request's SigV4 with the AWS SDK's own signer, so a wrong signature
is refused as S3 refuses it), read back with the AWS CLI (botocore's
signer) as an independent client.

Two stacks share one bucket-per-stack S3 fake: "redirect" (302 to a
presigned GET, followed by curl) and "proxy" (X-Accel-Redirect to nginx's
/_reelgate_s3/ location, Range through nginx).  A fake renderer writes a
known file of a chosen size (cp of a file made here), so the bytes in the
bucket are compared with what was rendered; a 24 MB one goes up in five
5 MiB parts.  The store down during an upload, and kill -9 of the
dispatcher in the middle of a multipart upload, lose nothing.
"""
import calendar
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Skip, Stack, Suite, check, eq, wait_until  # noqa: E402
from harness import fake as fake_renderer  # noqa: E402
from s3fake import NODE, S3_DIR, S3Fake  # noqa: E402

AK = "AKIDREELGATES3"
SK = "reelgate-s3-secret/with+odd=chars"
REGION = "eu-central-1"
PART = 5 * 1024 * 1024
RECHECK = 6  # content.s3.delete_recheck_seconds of the test stacks
BIG = 100 * 1024 * 1024 + 4321  # tests/fakes/big-mp4: 21 parts, the last one short

suite = Suite()
test = suite.test

_S3 = []
_STACKS = {}
_TMP = []
_BUCKETS = set()


def tmp():
    if not _TMP:
        _TMP.append(tempfile.mkdtemp(prefix="rg-s3t-"))
    return _TMP[0]


def s3():
    if not _S3:
        _S3.append(S3Fake(access_key=AK, secret_key=SK, region=REGION).start())
    return _S3[0]


def aws_cli():
    for path in (os.environ.get("AWS_CLI"), "/usr/bin/aws", shutil.which("aws")):
        if path and os.access(path, os.X_OK):
            return path
    raise Skip("the AWS CLI is not installed (apt-get install awscli)")


def aws(*args, check_rc=True):
    """The AWS CLI against the fake, with its own config and credentials
    (nothing of the machine's)."""
    d = tmp()
    cfg = os.path.join(d, "aws-config")
    with open(cfg, "w") as f:
        f.write("[default]\nregion = %s\ns3 =\n    addressing_style = path\n" % REGION)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": d, "AWS_CONFIG_FILE": cfg,
           "AWS_SHARED_CREDENTIALS_FILE": os.path.join(d, "none"),
           "AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK}
    p = subprocess.run([aws_cli(), "--endpoint-url", s3().url] + list(args), env=env,
                       capture_output=True, timeout=120)
    if check_rc:
        check(p.returncode == 0, "aws %s: %s %s" % (" ".join(args), p.stdout, p.stderr))
    return p


def source(size):
    """A file of size bytes the fake renderer hands back (seeded, so every
    size has its own known bytes)."""
    path = os.path.join(tmp(), "src-%d.bin" % size)
    if not os.path.exists(path):
        rnd = random.Random(size)
        with open(path, "wb") as f:
            left = size
            while left:
                n = min(left, 1 << 20)
                f.write(rnd.randbytes(n))
                left -= n
    return path


def renderer():
    path = os.path.join(tmp(), "render-copy")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n# copies the file named in metadata.src (read from stdin) to "
                "REELGATE_OUTPUT\nsrc=$(python3 -c 'import json,sys; "
                "print(json.load(sys.stdin)[\"metadata\"][\"src\"])')\n"
                "echo 'progress 50'\ncp \"$src\" \"$REELGATE_OUTPUT\" || exit 1\n"
                "echo 'progress 100'\n")
    os.chmod(path, 0o755)
    return path


def stack(delivery, retention=3600):
    name = "%s-%d" % (delivery, retention)
    if name in _STACKS:
        return _STACKS[name]
    fake = s3()
    bucket = "rg-" + name
    if bucket not in _BUCKETS:
        fake.create_bucket(bucket)
        _BUCKETS.add(bucket)

    def configure(cfg):
        cfg["content"] = {
            "store": "s3", "delivery": delivery, "retention_seconds": retention,
            "s3": {"endpoint": fake.url, "region": REGION, "bucket": bucket,
                   "prefix": "results/", "access_key": AK, "secret_key_env": "RG_S3_SECRET",
                   "path_style": True, "part_bytes": PART, "presign_seconds": 120,
                   "delete_recheck_seconds": RECHECK, "allow_addresses": ["127.0.0.1"]}}
    os.environ["RG_S3_SECRET"] = SK  # the CLI runs (keys) read the config too
    st = Stack(workers=2, configure=configure, env={"RG_S3_SECRET": SK},
               extra_models={"copy": {"backends": [{"backend": "copy", "model": "x"}],
                                      "seconds": {"min": 1, "max": 20},
                                      "default_seconds": 1, "default_size": "160x90",
                                      "default_fps": 12},
                             "big": {"backends": [{"backend": "big", "model": "x"}],
                                     "seconds": {"min": 1, "max": 4},
                                     "default_seconds": 1, "default_size": "160x90",
                                     "default_fps": 12}},
               backends={"copy": {"type": "command", "command": [renderer()],
                                  "concurrency": 2},
                         "big": {"type": "command", "command": fake_renderer("big-mp4", BIG),
                                 "concurrency": 1}})
    st.start()
    st.bucket = bucket
    _STACKS[name] = st
    return st


def objects_of(st, vid):
    """The object keys of vid in its bucket, from the AWS CLI's listing."""
    p = aws("s3api", "list-objects-v2", "--bucket", st.bucket, "--prefix",
            "results/%s/" % vid)
    out = json.loads(p.stdout or b"{}")
    return sorted(o["Key"] for o in out.get("Contents", []))


def fetch_object(st, key):
    dest = os.path.join(tmp(), "got-" + key.replace("/", "_"))
    aws("s3", "cp", "s3://%s/%s" % (st.bucket, key), dest)
    with open(dest, "rb") as f:
        data = f.read()
    os.unlink(dest)
    return data


def sha(data):
    return hashlib.sha256(data).hexdigest()


def make(st, size=None, **kw):
    if size is None:
        r = st.create(prompt="a red kite over the sea", seconds="1", size="160x90", **kw)
    else:
        r = st.create(prompt="copy", model="copy", metadata={"src": source(size)}, **kw)
    return r["id"]


def curl_follow(url, key, *extra):
    p = subprocess.run(["curl", "-sS", "-L", "-o", "-", "-w", "\n%{http_code} %{num_redirects}",
                        "-H", "Authorization: Bearer " + key, *extra, url],
                       capture_output=True, timeout=60)
    body, _, tail = p.stdout.rpartition(b"\n")
    return body, tail.decode()


@test("every variant is uploaded, the local copies removed; a 302 to a presigned GET, "
      "followed by curl, gives the bytes the AWS CLI reads")
def variants(_):
    st = stack("redirect")
    vid = make(st)
    v = st.wait_video(vid, timeout=120, strict=False)[0]
    eq(v["status"], "completed", "video: %s" % v)
    keys = objects_of(st, vid)
    eq(keys, ["results/%s/%s" % (vid, n) for n in
              ("spritesheet.jpg", "thumbnail.webp", "video.mp4")], "objects")
    content = os.path.join(st.data_dir, "content")
    left = [n for n in os.listdir(content) if n.startswith(vid)]
    eq(left, [], "local copies left")
    for variant, name in (("video", "video.mp4"), ("thumbnail", "thumbnail.webp"),
                          ("spritesheet", "spritesheet.jpg")):
        head = json.loads(aws("s3api", "head-object", "--bucket", st.bucket, "--key",
                              "results/%s/%s" % (vid, name)).stdout)
        check(head["ContentLength"] > 0, "%s empty" % name)
        stored = fetch_object(st, "results/%s/%s" % (vid, name))
        r = st.content(vid, variant)
        eq(r.status, 302, "%s: %s" % (variant, r))
        loc = r.header("location")
        check(loc.startswith(s3().url + "/" + st.bucket + "/results/" + vid + "/"), loc)
        # presign_seconds 120 and the default reuse window (60 s): signed
        # at the window's start, for 120 + 60 s, and the same URL again
        check("X-Amz-Signature=" in loc and "X-Amz-Expires=180" in loc, loc)
        signed = calendar.timegm(time.strptime(
            urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)["X-Amz-Date"][0],
            "%Y%m%dT%H%M%SZ"))
        eq(signed % 60, 0, "X-Amz-Date on a window's start: %s" % loc)
        check(signed + 180 >= time.time() + 120, "lives presign_seconds at least: %s" % loc)
        again = st.content(vid, variant).header("location")
        check(again == loc or time.time() >= signed + 60,
              "within the window the same URL: %s then %s" % (loc, again))
        eq(r.header("cache-control"), "no-store", "cache-control")
        body, tail = curl_follow(st.base + "/v1/videos/%s/content?variant=%s" % (vid, variant),
                                 st.key)
        eq(tail, "200 1", "%s: curl status and redirects" % variant)
        eq(sha(body), sha(stored), "%s bytes via redirect vs the AWS CLI" % variant)
    ftype = subprocess.run(["file", "-b", "-"], input=fetch_object(
        st, "results/%s/video.mp4" % vid), capture_output=True).stdout
    check(b"MP4" in ftype or b"ISO Media" in ftype, "not an MP4: %r" % ftype)
    st.db_check()


@test("the openai SDKs (openai7, openai6) follow the 302 to the presigned GET: the bytes "
      "the AWS CLI reads, and no API key sent to the S3 host")
def sdk_redirect(_):
    sdk = os.path.join(os.path.dirname(S3_DIR), "sdk", "node_modules")
    if NODE is None or not os.path.isdir(sdk):
        raise Skip("node or tests/sdk/node_modules missing (npm ci in tests/sdk)")
    st = stack("redirect")
    fake = s3()
    vid = make(st)
    eq(st.wait_video(vid, timeout=120, strict=False)[0]["status"], "completed", "video")
    names = {"video": "video.mp4", "thumbnail": "thumbnail.webp",
             "spritesheet": "spritesheet.jpg"}
    stored = {v: sha(fetch_object(st, "results/%s/%s" % (vid, n))) for v, n in names.items()}
    out = tempfile.mkdtemp(dir=tmp())
    fake.clear_requests()
    p = subprocess.run([NODE, os.path.join(S3_DIR, "sdk-download.mjs"), st.base, st.key, vid,
                        out] + list(names), capture_output=True, timeout=120)
    lines = [json.loads(x) for x in p.stdout.decode().splitlines() if x.startswith("{")]
    check(p.returncode == 0, "sdk-download.mjs: %s %s" % (p.stdout, p.stderr[-2000:]))
    done = [x for x in lines if not x.get("missing")]
    check({x["alias"] for x in done} == {"openai7", "openai6"},
          "both SDK generations ran: %r" % lines)
    for x in done:
        what = "%s %s (%s)" % (x["alias"], x["variant"], x["version"])
        eq((x["status"], x["redirected"]), (200, True), what + ": status, redirected")
        eq(x["url"], "%s/%s/results/%s/%s" % (fake.url, st.bucket, vid, names[x["variant"]]),
           what + ": the final URL")
        with open(x["file"], "rb") as f:
            eq(sha(f.read()), stored[x["variant"]], what + ": bytes vs the AWS CLI")
    gets = [e for e in fake.requests() if e["method"] == "GET"]
    eq(len(gets), len(done), "presigned GETs at the S3 host: %r" % gets)
    for e in gets:
        eq((e["auth"], e["signature"], e["status"]), ("presigned", "ok", 200),
           "the SDK's GET at the S3 host: %r" % e)
        eq(e["authorization"], None, "an Authorization header sent to the S3 host: %r" % e)


@test("a 24 MB result goes up in 5 MiB parts (multipart); the object is the rendered file",
      timeout=180)
def multipart(_):
    st = stack("redirect")
    fake = s3()
    fake.clear_requests()
    size = 24 * 1024 * 1024 + 12345
    vid = make(st, size)
    v = st.wait_video(vid, timeout=150, strict=False)[0]
    eq(v["status"], "completed", "video: %s" % v)
    key = "results/%s/video.mp4" % vid
    with open(source(size), "rb") as f:
        want = f.read()
    eq(sha(fetch_object(st, key)), sha(want), "object vs rendered file")
    log = fake.requests()
    parts = [e for e in log if e.get("method") == "PUT" and "partNumber=" in e.get("url", e.get("path", "")) + json.dumps(e.get("query", ""))]
    check(len(parts) >= 5, "part uploads: %d of %r" % (len(parts), log[-3:]))


@test("a 100 MB result (a real MP4 padded with a `free` box) goes up in 21 parts of 5 MiB "
      "within 30 s of rendering; the AWS CLI reads back its SHA-256", timeout=240)
def big_result(_):
    st = stack("redirect")
    fake_s3 = s3()
    fake_s3.clear_requests()
    vid = st.create(prompt="a long shot", model="big", seconds="1", size="160x90")["id"]
    wait_until(lambda: st.get(vid).json.get("progress") == 100, 120, what="not rendered")
    t0 = time.monotonic()
    v = st.wait_video(vid, timeout=180, strict=False)[0]
    took = time.monotonic() - t0
    eq(v["status"], "completed", "video: %s" % v)
    with open(os.path.join(st.fake_dir(), vid + ".sha256")) as f:
        rendered = f.read().strip()
    key = "results/%s/video.mp4" % vid
    head = json.loads(aws("s3api", "head-object", "--bucket", st.bucket, "--key", key).stdout)
    eq(head["ContentLength"], BIG, "object size")
    dest = os.path.join(tmp(), "big-" + vid)
    aws("s3", "cp", "s3://%s/%s" % (st.bucket, key), dest)
    h = hashlib.sha256()
    with open(dest, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    if shutil.which("ffprobe"):
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=format_name",
                                "-of", "csv=p=0", dest], capture_output=True, timeout=60)
        check(probe.returncode == 0 and b"mp4" in probe.stdout,
              "ffprobe of the object: %r %r" % (probe.stdout, probe.stderr[-500:]))
    os.unlink(dest)
    eq(h.hexdigest(), rendered, "SHA-256 read back by the AWS CLI vs the rendered file")
    parts = sorted(int(q.split("partNumber=")[1].split("&")[0]) for q in
                   (e["query"] for e in fake_s3.requests()
                    if e["method"] == "PUT" and e["status"] == 200 and "partNumber=" in e["query"]))
    eq(parts, list(range(1, 22)), "the parts acknowledged")
    sys.stdout.write("# 100 MB upload: %.1f s after rendering\n" % took)
    check(took < 30, "the upload took %.1f s" % took)


@test("proxy delivery: X-Accel-Redirect to nginx's S3 location, Range through nginx")
def proxy(_):
    st = stack("proxy")
    size = 300000
    vid = make(st, size)
    v = st.wait_video(vid, timeout=120, strict=False)[0]
    eq(v["status"], "completed", "video: %s" % v)
    with open(source(size), "rb") as f:
        want = f.read()
    r = st.content(vid)
    eq(r.status, 200, "whole: %s" % r)
    eq(sha(r.body), sha(want), "whole object through nginx")
    r = st.content(vid, headers={"Range": "bytes=1000-1999"})
    eq(r.status, 206, "range: %s" % r)
    eq(r.body, want[1000:2000], "range bytes")
    eq(r.header("content-range"), "bytes 1000-1999/%d" % size, "content-range")


@test("DELETE removes the objects from the bucket (queued durably, drained)")
def delete(_):
    st = stack("redirect")
    vid = make(st, 1000)
    eq(st.wait_video(vid, timeout=120)[0]["status"], "completed", "video")
    check(objects_of(st, vid), "no objects before the delete")
    eq(st.request("DELETE", "/v1/videos/" + vid).status, 200, "delete")
    wait_until(lambda: objects_of(st, vid) == [], 30, what="objects of %s still there" % vid)
    st.db_check()


@test("the retention expiry removes the objects; /content then answers video_expired")
def expiry(_):
    # Long enough that a loaded machine still sees the objects before the
    # expiry removes them (2 s was not, under a full parallel suite).
    st = stack("redirect", retention=10)
    vid = make(st, 1000)
    eq(st.wait_video(vid, timeout=120)[0]["status"], "completed", "video")
    check(objects_of(st, vid), "no objects after completion")
    wait_until(lambda: objects_of(st, vid) == [], 60, what="objects of %s expired" % vid)
    r = st.content(vid)
    eq(r.status, 404, "content after expiry: %s" % r)
    eq(r.json["error"]["code"], "video_expired", "code")
    st.db_check()


@test("the store down while a video uploads: it stays in_progress at 100, "
      "and completes once the store is back, nothing lost", timeout=180)
def store_down(_):
    st = stack("redirect")
    fake = s3()
    size = 2 * 1024 * 1024 + 7
    fake.scenario(down=True)
    try:
        vid = make(st, size)
        wait_until(lambda: st.get(vid).json.get("progress") == 100, 60, what="not rendered")
        time.sleep(3)
        v = st.get(vid).json
        eq((v["status"], v["progress"]), ("in_progress", 100), "while the store is down")
    finally:
        fake.scenario(down=False)
    v = st.wait_video(vid, timeout=120, strict=False)[0]
    eq(v["status"], "completed", "after the store came back: %s" % v)
    with open(source(size), "rb") as f:
        eq(sha(fetch_object(st, "results/%s/video.mp4" % vid)), sha(f.read()), "object")


@test("kill -9 of the dispatcher in the middle of a multipart upload: the next one "
      "resumes, the object is complete", timeout=240)
def kill_mid_upload(_):
    st = stack("redirect")
    fake = s3()
    size = 30 * 1024 * 1024 + 1
    fake.scenario(delay_ms=700)  # every request slow: time to kill mid-way
    try:
        vid = make(st, size)
        wait_until(lambda: st.get(vid).json.get("progress") == 100, 60, what="not rendered")
        fake.clear_requests()
        wait_until(lambda: any("partNumber=2" in json.dumps(e) for e in fake.requests()),
                   60, what="a second part")
        key = "results/%s/video.mp4" % vid
        eq([(x["bucket"], x["key"]) for x in fake.uploads() if x["key"] == key],
           [(st.bucket, key)], "the multipart upload open before the kill")
        pid = st.dispatcher_pid()
        check(pid, "no dispatcher")
        os.kill(pid, signal.SIGKILL)
        killed_at = len(fake.requests())
    finally:
        fake.scenario(delay_ms=0)
    v = st.wait_video(vid, timeout=200, strict=False)[0]
    eq(v["status"], "completed", "after the kill: %s" % v)
    with open(source(size), "rb") as f:
        eq(sha(fetch_object(st, key)), sha(f.read()), "object")
    after = fake.requests()[killed_at:]
    lists = [e for e in after if e["method"] == "GET" and "uploadId=" in e["query"]]
    check(lists and lists[0]["status"] == 200,
          "the next dispatcher asked the store for the parts (ListParts): %r" % after[:5])
    out = json.loads(aws("s3api", "list-multipart-uploads", "--bucket", st.bucket).stdout or b"{}")
    eq(out.get("Uploads", []), [], "multipart uploads left open in the bucket")
    st.db_check()


def kill_dispatcher_when(st, fake, size, scenario, ready, what):
    """Creates a video of size bytes under the S3 server's scenario (list
    values), kills the dispatcher with SIGKILL once ready(object key) holds,
    then lifts the scenario; once the video is completed and its object is
    the rendered file, returns the object key, the S3 server's log and its
    length at the kill."""
    fake.clear_requests()
    fake.scenario(**scenario)
    try:
        vid = make(st, size)
        key = "results/%s/video.mp4" % vid
        wait_until(lambda: ready(key), 90, what=what)
        pid = st.dispatcher_pid()
        check(pid, "no dispatcher")
        os.kill(pid, signal.SIGKILL)
        killed_at = len(fake.requests())
    finally:
        fake.scenario(**{k: [] for k in scenario})
    v = st.wait_video(vid, timeout=200, strict=False)[0]
    eq(v["status"], "completed", "after the kill: %s" % v)
    with open(source(size), "rb") as f:
        eq(sha(fetch_object(st, key)), sha(f.read()), "object")
    return key, fake.requests(), killed_at


def part_of(entry):
    """The part number of an UploadPart in the S3 server's log, else None."""
    if entry.get("method") != "PUT":
        return None
    q = entry.get("query")
    q = urllib.parse.parse_qs(q if isinstance(q, str) else urllib.parse.urlencode(q or {}))
    return int(q["partNumber"][0]) if "partNumber" in q and "uploadId" in q else None


@test("a part the store kept but whose answer was lost (the dispatcher killed -9 while S3 holds "
      "part 2's answer): the next dispatcher finds it with ListParts and adopts it, never "
      "sending it again; the object is complete", timeout=240)
def adopt_lost_part(_):
    st = stack("redirect")
    fake = s3()
    _, log, killed_at = kill_dispatcher_when(
        st, fake, 3 * PART + 4321, {"hold_parts": [2]},  # 4 parts
        lambda key: any(part_of(e) == 2 and "held" in (e.get("error") or "")
                        for e in fake.requests()), "part 2 stored, its answer held")
    log = fake.requests()
    before, after = log[:killed_at], log[killed_at:]
    eq([part_of(e) for e in before if part_of(e) == 2], [2], "part 2 sent once before the kill")
    check(any(e["method"] == "GET" and "uploadId=" in json.dumps(e.get("query"))
              and e["status"] == 200 for e in after),
          "the next dispatcher asked the store for the parts (ListParts): %r" % after[:5])
    sent = sorted(part_of(e) for e in after if part_of(e) is not None)
    check(2 not in sent, "part 2, which the store kept, was sent again: parts sent after the "
          "kill %r" % sent)
    st.db_check()


@test("a video deleted while its PUT is on the way, the store committing that PUT after the "
      "first delete (S3 commits a PUT it received even when the client has gone): the object "
      "is deleted again content.s3.delete_recheck_seconds later; nothing is left in the bucket",
      timeout=180)
def late_put(_):
    st = stack("redirect")
    fake = s3()
    fake.clear_requests()
    fake.scenario(delay=[{"method": "PUT", "path_re": r"/video\.mp4$", "ms": 3000}])
    try:
        vid = make(st, 1000)
        key = "results/%s/video.mp4" % vid
        wait_until(lambda: any(e["path"].endswith(key) for e in fake.waiting()), 60,
                   what="the video's PUT received by the store, its commit 3 s away")
        eq(st.request("DELETE", "/v1/videos/" + vid).status, 200, "delete")
        deletes = lambda: [i for i, e in enumerate(fake.requests())  # noqa: E731
                           if e["method"] == "DELETE" and e["path"].endswith(key)]
        wait_until(lambda: deletes(), 30, what="the first DELETE of the object")
    finally:
        fake.scenario(delay=[])
    wait_until(lambda: len(deletes()) >= 2 and objects_of(st, vid) == [], RECHECK + 30,
               what="the second DELETE, and no object left")
    log = fake.requests()
    first, second = deletes()[:2]
    puts = [i for i, e in enumerate(log) if e["method"] == "PUT" and e["path"].endswith(key)
            and e["status"] == 200]
    check(puts and first < puts[-1] < second,
          "the store committed the PUT between the two DELETEs (log positions: PUT %r, "
          "DELETE %d and %d)" % (puts, first, second))
    st.db_check()


@test("an upload the store opened whose answer was lost (the dispatcher killed -9 while S3 "
      "holds the answer of POST ?uploads): the next dispatcher finds it with "
      "ListMultipartUploads and carries it on; no second upload, none left open", timeout=240)
def adopt_lost_upload(_):
    st = stack("redirect")
    fake = s3()
    key, log, killed_at = kill_dispatcher_when(
        st, fake, 2 * PART + 999, {"hold": [{"method": "POST", "query_re": "^uploads"}]},
        lambda key: [x for x in fake.uploads() if x["key"] == key],
        "the upload opened, its answer held")
    inits = [i for i, e in enumerate(log) if e["method"] == "POST" and e["path"].endswith(key)
             and "uploads" in json.dumps(e.get("query"))]
    eq(len(inits), 1, "uploads opened for the key (POST ?uploads): %r" % [log[i] for i in inits])
    check(any(e["method"] == "GET" and "uploads" in json.dumps(e.get("query")) and
              e["status"] == 200 for e in log[killed_at:]),
          "the next dispatcher asked for the open uploads (ListMultipartUploads)")
    eq([x for x in fake.uploads() if x["key"] == key], [], "uploads of the key left open")
    st.db_check()


if __name__ == "__main__":
    try:
        sys.exit(suite.main(shared=False))
    finally:
        for s in _STACKS.values():
            s.stop()
        for d in _TMP:
            shutil.rmtree(d, ignore_errors=True)
