"""A loopback S3 server that checks AWS Signature V4 as S3 does, for the
integration tests: tests/s3/sigv4-proxy.mjs (s3rver for storage, every
request's signature recomputed with the AWS SDK's own signer) in a temp
directory, on free loopback ports.

    s3 = S3Fake(access_key="AK", secret_key="SK", region="us-east-1").start()
    s3.url                         # http://127.0.0.1:PORT (path-style)
    s3.create_bucket("videos")     # PUT /videos, signed (sigv4() below)
    s3.request("GET", "/videos/k") # any signed request: (status, headers, body)
    s3.scenario(slow_down=2)       # POST /_fake/scenario (merged)
    s3.requests()                  # GET /_fake/requests: the log, oldest first
    s3.uploads()                   # GET /_fake/uploads: multipart uploads open
    s3.reset(); s3.stop()

Scenario keys (tests/s3/README): down (true|"refuse"|"reset"|false),
slow_down N, internal_error N, fail_parts [n...] with fail_parts_times,
fail [{method, path_re, query_re, status, code, count}], drop_after_bytes N
with drop_count, delay_ms, delay [{method, path_re, query_re, ms}],
hold [{method, path_re, query_re}], hold_parts [n...], clock_offset_s.  The control API has a port of
its own (control_url), which answers while the S3 port is down.

start() raises harness.Skip when node or tests/s3/node_modules is missing
(`npm ci` in tests/s3).  The Suite's cleanup stops it like a FakeServer.

sigv4() signs a request with Python's standard library alone, a signer
independent of the SDK's (and of botocore's and libcurl's).
"""

import datetime
import hashlib
import hmac
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

import harness
from harness import Skip, check, tail

S3_DIR = os.path.join(harness.SRCDIR, "tests", "s3")
PROXY = os.path.join(S3_DIR, "sigv4-proxy.mjs")
NODE = shutil.which("node")

UNSIGNED = "UNSIGNED-PAYLOAD"


def uri_encode(s, keep_slash):
    """S3's UriEncode: every byte but A-Za-z0-9-._~ (and / in a key) as %XX."""
    return urllib.parse.quote(s, safe="/~" if keep_slash else "~")


def sigv4(method, host, path, query, headers, body, access_key, secret_key, region,
          payload_hash=None, when=None, service="s3", raw_path=False):
    """Headers for a header-signed request (Authorization, x-amz-date,
    x-amz-content-sha256, host added to `headers`).  path: the decoded key
    path ("/bucket/key"); query: a dict of decoded strings.  payload_hash:
    the x-amz-content-sha256 to send (default: the body's SHA-256).
    raw_path: put path in the canonical request as it is, not UriEncode()d
    (to sign wrongly on purpose)."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    h = {k.lower(): str(v) for k, v in headers.items()}
    h["host"] = host
    h["x-amz-date"] = amz_date
    h["x-amz-content-sha256"] = payload_hash or hashlib.sha256(body or b"").hexdigest()
    names = sorted(h)
    canonical_headers = "".join("%s:%s\n" % (n, " ".join(h[n].split())) for n in names)
    signed = ";".join(names)
    canonical_query = "&".join("%s=%s" % (uri_encode(k, False), uri_encode(v, False))
                               for k, v in sorted(query.items()))
    canonical = "\n".join([method, path if raw_path else uri_encode(path, True), canonical_query, canonical_headers,
                           signed, h["x-amz-content-sha256"]])
    scope = "%s/%s/%s/aws4_request" % (day, region, service)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                          % (access_key, scope, signed, sig))
    return h


class S3Fake:
    def __init__(self, access_key="AKIDREELGATETEST", secret_key="reelgate-test-secret",
                 region="us-east-1", vhost_domain="s3.local"):
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.vhost_domain = vhost_domain
        self.proc = None
        self.port = None
        self.control_port = None
        self.dir = None
        self.log = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def control_url(self):
        return "http://127.0.0.1:%d" % self.control_port

    @property
    def data_dir(self):
        """s3rver's files (objects under DIR/BUCKET/...)."""
        return os.path.join(self.dir, "data")

    def start(self, timeout=30):
        if NODE is None or not os.path.isdir(os.path.join(S3_DIR, "node_modules", "s3rver")) \
                or not os.path.isdir(os.path.join(S3_DIR, "node_modules", "@smithy", "signature-v4")):
            raise Skip("node or tests/s3/node_modules missing (npm ci in tests/s3)")
        base = os.environ.get("TMPDIR", "/tmp")
        self.dir = tempfile.mkdtemp(prefix="reelgate-s3-", dir=base if len(base) <= 40 else "/tmp")
        os.mkdir(self.data_dir)
        self.log = os.path.join(self.dir, "sigv4-proxy.log")
        self.port = harness.free_port()
        err = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [NODE, PROXY, "--port", str(self.port), "--control-port", str(harness.free_port()),
             "--dir", self.data_dir, "--access-key", self.access_key,
             "--secret-key", self.secret_key, "--region", self.region,
             "--vhost-domain", self.vhost_domain],
            cwd=S3_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
            start_new_session=True)
        err.close()
        harness._FAKE_SERVERS.append(self)
        import select
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        words = line.split()
        if len(words) != 3 or words[0] != b"ready":
            self.stop_keep_log = tail(self.log)
            rc = self.proc.poll()
            self.stop()
            raise AssertionError("sigv4-proxy.mjs did not start (exit %s, printed %r):\n%s"
                                 % (rc, line, self.stop_keep_log))
        self.port, self.control_port = int(words[1]), int(words[2])
        return self

    # ------------------------------------------------------------ control

    def control(self, method, path, body=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.control_port, timeout=timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data,
                         headers={"Content-Type": "application/json"} if data else {})
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            conn.close()

    def scenario(self, **kw):
        """POST /_fake/scenario (merged into the current one); the scenario."""
        status, out = self.control("POST", "/_fake/scenario", kw)
        check(status == 200, "s3 fake refused scenario %r: %s %r" % (kw, status, out))
        return out

    def reset(self):
        status, out = self.control("POST", "/_fake/reset", {})
        check(status == 200, "s3 fake reset: %s %r" % (status, out))

    def requests(self):
        """Every request so far: {id, method, path, query, host, status,
        signature ("ok" or why not), auth ("header" / "presigned"), error, bytes}."""
        status, out = self.control("GET", "/_fake/requests")
        check(status == 200, "s3 fake /_fake/requests: %s %r" % (status, out))
        return out["requests"]

    def waiting(self):
        """The requests received and held by the scenario's delay (entries
        as requests() gives them, status still None)."""
        status, out = self.control("GET", "/_fake/waiting")
        check(status == 200, "s3 fake /_fake/waiting: %s %r" % (status, out))
        return out["waiting"]

    def uploads(self):
        """The multipart uploads open (initiated, neither completed nor
        aborted): [{upload_id, bucket, key, initiated, parts}]."""
        status, out = self.control("GET", "/_fake/uploads")
        check(status == 200, "s3 fake /_fake/uploads: %s %r" % (status, out))
        return out["uploads"]

    def clear_requests(self):
        self.control("DELETE", "/_fake/requests")

    # ------------------------------------------------------------ signed S3 API

    def request(self, method, path, body=b"", query=None, headers=None, payload_hash=None,
                secret_key=None, timeout=60, sign=True):
        """A request signed with sigv4() (path: decoded, "/bucket/key");
        returns (status, headers dict lower-cased, body bytes)."""
        query = query or {}
        host = "127.0.0.1:%d" % self.port
        h = dict(headers or {})
        if sign:
            h = sigv4(method, host, path, query, h, body, self.access_key,
                      secret_key or self.secret_key, self.region, payload_hash=payload_hash)
        target = uri_encode(path, True)
        if query:
            target += "?" + "&".join("%s=%s" % (uri_encode(k, False), uri_encode(v, False))
                                     for k, v in sorted(query.items()))
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, target, body=body if body else None, headers=h)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def create_bucket(self, name):
        status, _, body = self.request("PUT", "/" + name)
        check(status == 200, "create bucket %s: %s %r" % (name, status, body))

    def put_object(self, bucket, key, data):
        status, _, body = self.request("PUT", "/%s/%s" % (bucket, key), body=data)
        check(status == 200, "put %s/%s: %s %r" % (bucket, key, status, body))

    def get_object(self, bucket, key):
        """The object's bytes, or None when it does not exist."""
        status, _, body = self.request("GET", "/%s/%s" % (bucket, key))
        if status == 404:
            return None
        check(status == 200, "get %s/%s: %s %r" % (bucket, key, status, body))
        return body

    def log_tail(self, n=15):
        return "--- s3 fake (%s)\n%s" % (self.url if self.port else "-",
                                         tail(self.log, n) if self.log else "")

    def stop(self):
        """Stops it (SIGTERM, then SIGKILL) and removes its files; never raises."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.terminate()
                self.proc.wait(5)
            except Exception:
                pass
        if self.proc is not None:
            harness._killpg(self.proc.pid)
            try:
                self.proc.wait(5)
            except Exception:
                pass
            if self.proc.stdout:
                self.proc.stdout.close()
            self.proc = None
        if self.dir:
            if os.environ.get("REELGATE_TEST_KEEP"):
                sys.stderr.write("kept %s\n" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        if self in harness._FAKE_SERVERS:
            harness._FAKE_SERVERS.remove(self)
