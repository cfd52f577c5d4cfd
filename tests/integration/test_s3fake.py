#!/usr/bin/env python3
"""The S3 server of the tests (tests/s3: s3rver behind sigv4-proxy.mjs, which
recomputes every request's AWS Signature V4 with the AWS SDK's own signer)
checked with independent clients: the AWS CLI (botocore's signer), curl's
--aws-sigv4 (libcurl's, the one reelgate's S3 client is likely to use) and
s3fake.sigv4() (Python's standard library).  Good signatures pass, every
kind of bad one is refused with S3's own error and status, and each
misbehaviour the control API offers happens as asked.

The AWS CLI runs with a temp config and credentials file and no other AWS_*
variable, so nothing of the machine's is read.  Debian's awscli
(/usr/bin/aws) is preferred to another `aws` on PATH; $AWS_CLI overrides.
"""
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Skip, Suite, check, eq  # noqa: E402
from s3fake import S3Fake  # noqa: E402

AK = "AKIDREELGATES3TEST"
SK = "s3-fake-secret/with+odd=chars"
REGION = "eu-central-1"

suite = Suite()
test = suite.test

_S3 = []
_TMP = []


def aws_cli():
    for path in (os.environ.get("AWS_CLI"), "/usr/bin/aws", shutil.which("aws")):
        if path and os.access(path, os.X_OK):
            return path
    raise Skip("the AWS CLI is not installed (apt-get install awscli)")


def s3():
    """The one S3 fake of this run, reset to no misbehaviour."""
    if not _S3:
        _S3.append(S3Fake(access_key=AK, secret_key=SK, region=REGION).start())
    fake = _S3[0]
    fake.reset()
    return fake


def tmpdir():
    if not _TMP:
        base = os.environ.get("TMPDIR", "/tmp")
        _TMP.append(tempfile.mkdtemp(prefix="reelgate-s3t-", dir=base if len(base) <= 40 else "/tmp"))
    return _TMP[0]


def bucket(fake):
    name = "b-" + uuid.uuid4().hex[:12]
    fake.create_bucket(name)
    return name


def aws(fake, *args, secret=SK, key=AK, check_ok=True, timeout=120):
    """Runs the AWS CLI against the fake; (returncode, stdout, stderr)."""
    cli = aws_cli()
    home = tmpdir()
    config = os.path.join(home, "aws-config")
    creds = os.path.join(home, "aws-credentials-%s" % hashlib.sha256((key + secret).encode()).hexdigest()[:8])
    with open(config, "w") as f:
        f.write("[default]\nregion = %s\ns3 =\n    addressing_style = path\n" % REGION)
    with open(creds, "w") as f:
        f.write("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (key, secret))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=config, AWS_SHARED_CREDENTIALS_FILE=creds,
               AWS_EC2_METADATA_DISABLED="true", AWS_MAX_ATTEMPTS="5", AWS_PAGER="",
               HOME=home)
    p = subprocess.run([cli, "--endpoint-url", fake.url, "--no-cli-pager"] + list(args),
                       env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    if check_ok:
        check(p.returncode == 0, "aws %s failed (%s): %s %s" % (" ".join(args), p.returncode, out, err))
    return p.returncode, out, err


def curl(*args, timeout=60):
    """curl -s; (returncode, HTTP status, body)."""
    p = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}"] + list(args),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    body, _, code = p.stdout.rpartition(b"\n")
    return p.returncode, int(code or 0), body


def sigv4_curl(fake, *args, secret=SK):
    return curl("--aws-sigv4", "aws:amz:%s:s3" % REGION, "--user", "%s:%s" % (AK, secret), *args)


def error_code(body):
    m = re.search(rb"<Code>([^<]*)</Code>", body)
    return m.group(1).decode() if m else None


def error_message(body):
    m = re.search(rb"<Message>([^<]*)</Message>", body)
    return m.group(1).decode() if m else None


def write_file(name, data):
    path = os.path.join(tmpdir(), name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def entries(fake, since_id, **match):
    """The log's entries after since_id whose fields equal match's."""
    return [e for e in fake.requests() if e["id"] > since_id
            and all(e.get(k) == v for k, v in match.items())]


def last_id(fake):
    reqs = fake.requests()
    return reqs[-1]["id"] if reqs else 0


def stored(fake, b, key):
    """The object's bytes read back with a signed GET (None: not there)."""
    return fake.get_object(b, key)


# ---------------------------------------------------------------- AWS CLI

@test("aws CLI: mb, cp up and down, head, ls, rm, rb; every request signed and checked")
def _(_stack):
    fake = s3()
    start = last_id(fake)
    b = "cli-" + uuid.uuid4().hex[:10]
    aws(fake, "s3", "mb", "s3://" + b)
    data = os.urandom(4096)
    key = "dir/a b+c (1)!*'~.bin"
    aws(fake, "s3", "cp", "--only-show-errors", write_file("small", data), "s3://%s/%s" % (b, key))
    back = os.path.join(tmpdir(), "small.back")
    aws(fake, "s3", "cp", "--only-show-errors", "s3://%s/%s" % (b, key), back)
    with open(back, "rb") as f:
        eq(f.read(), data, "bytes read back by the CLI")
    eq(stored(fake, b, key), data, "bytes read back by s3fake's own signer")
    _, out, _ = aws(fake, "s3api", "head-object", "--bucket", b, "--key", key, "--output", "json")
    eq(json.loads(out)["ContentLength"], 4096, "head-object ContentLength")
    _, out, _ = aws(fake, "s3", "ls", "s3://%s/dir/" % b)
    check("a b+c (1)!*'~.bin" in out, "ls lists the key", out)
    aws(fake, "s3", "rm", "--only-show-errors", "s3://%s/%s" % (b, key))
    eq(stored(fake, b, key), None, "the object after rm")
    aws(fake, "s3", "rb", "s3://" + b)
    log = entries(fake, start)
    check(len(log) >= 7, "every CLI request is in the log", log)
    bad = [e for e in log if e["signature"] != "ok" or e["auth"] != "header"]
    check(not bad, "every request of the CLI passed the SDK signer's check", bad)
    check(any(e["method"] == "HEAD" and e["status"] == 200 for e in log), "a HEAD in the log", log)
    check(any(e["method"] == "DELETE" and e["status"] == 204 for e in log), "a DELETE in the log", log)


@test("aws CLI: multipart upload of 20 MB (parts of 8 MB), read back equal", timeout=300)
def _(_stack):
    fake = s3()
    b = bucket(fake)
    start = last_id(fake)
    data = os.urandom(20 * 1000 * 1000)
    aws(fake, "s3", "cp", "--only-show-errors", write_file("big", data), "s3://%s/videos/big.mp4" % b)
    log = entries(fake, start)
    eq([e["query"] for e in log if e["method"] == "POST" and e["query"] == "uploads"], ["uploads"],
       "one CreateMultipartUpload")
    parts = [e for e in log if e["method"] == "PUT" and "partNumber=" in e["query"]]
    eq(len(parts), 3, "UploadPart requests")
    eq(sum(e["bytes"] for e in parts), len(data), "bytes in the parts")
    check(all(e["signature"] == "ok" and e["status"] == 200 for e in parts), "parts accepted", parts)
    check(any(e["method"] == "POST" and e["query"].startswith("uploadId=") and e["status"] == 200
              for e in log), "CompleteMultipartUpload", log)
    back = stored(fake, b, "videos/big.mp4")
    check(back is not None and hashlib.sha256(back).digest() == hashlib.sha256(data).digest(),
          "the 20 MB object read back equal")


@test("aws s3 presign: the URL fetched with curl; altered or expired, refused")
def _(_stack):
    fake = s3()
    b = bucket(fake)
    key = "v/x y+z.mp4"
    fake.put_object(b, key, b"presigned bytes")
    _, url, _ = aws(fake, "s3", "presign", "s3://%s/%s" % (b, key), "--expires-in", "300")
    url = url.strip()
    check("X-Amz-Signature=" in url and "X-Amz-Expires=300" in url, "a presigned URL", url)
    start = last_id(fake)
    rc, status, body = curl(url)
    eq((rc, status, body), (0, 200, b"presigned bytes"), "GET of the presigned URL")
    eq([(e["auth"], e["signature"]) for e in entries(fake, start)], [("presigned", "ok")], "log")
    # Range works through it (as S3's does).
    rc, status, body = curl("-r", "10-14", url)
    eq((status, body), (206, b"bytes"), "Range through the presigned URL")
    # Another key, the same signature.
    rc, status, body = curl(url.replace("x%20y%2Bz.mp4", "x%20y%2Bw.mp4"))
    eq((status, error_code(body)), (403, "SignatureDoesNotMatch"), "another key with the same signature")
    # A longer life than signed.
    rc, status, body = curl(url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000"))
    eq((status, error_code(body)), (403, "SignatureDoesNotMatch"), "X-Amz-Expires altered")
    # Another method than signed.
    rc, status, body = curl("-X", "DELETE", url)
    eq((status, error_code(body)), (403, "SignatureDoesNotMatch"), "DELETE with a GET's URL")
    eq(stored(fake, b, key), b"presigned bytes", "the object after the refused DELETE")
    # Expired: signed for 1 s, fetched 2 s later.
    _, short, _ = aws(fake, "s3", "presign", "s3://%s/%s" % (b, key), "--expires-in", "1")
    time.sleep(2.2)
    rc, status, body = curl(short.strip())
    eq((status, error_code(body), error_message(body)), (403, "AccessDenied", "Request has expired"),
       "an expired presigned URL")
    # More than a week.
    rc, status, body = curl(url.replace("X-Amz-Expires=300", "X-Amz-Expires=604801"))
    eq((status, error_code(body)), (400, "AuthorizationQueryParametersError"), "X-Amz-Expires > 604800")


@test("aws CLI with a wrong secret: 403 SignatureDoesNotMatch, nothing stored")
def _(_stack):
    fake = s3()
    b = bucket(fake)
    start = last_id(fake)
    rc, out, err = aws(fake, "s3api", "put-object", "--bucket", b, "--key", "k", "--body",
                       write_file("w", b"nope"), secret=SK + "x", check_ok=False)
    check(rc != 0 and "SignatureDoesNotMatch" in err, "the CLI reports SignatureDoesNotMatch", rc, err)
    log = entries(fake, start)
    check(log and all(e["status"] == 403 and e["signature"].startswith("SignatureDoesNotMatch")
                      for e in log), "refused in the log", log)
    eq(stored(fake, b, "k"), None, "the object")


@test("aws CLI with an unknown access key: 403 InvalidAccessKeyId")
def _(_stack):
    fake = s3()
    b = bucket(fake)
    rc, out, err = aws(fake, "s3", "ls", "s3://" + b, key="AKIDSOMEONEELSE", check_ok=False)
    check(rc != 0 and "InvalidAccessKeyId" in err, "the CLI reports InvalidAccessKeyId", rc, err)


@test("no signature at all: 403 AccessDenied")
def _(_stack):
    fake = s3()
    b = bucket(fake)
    fake.put_object(b, "k", b"secret bytes")
    rc, status, body = curl("%s/%s/k" % (fake.url, b))
    eq((status, error_code(body)), (403, "AccessDenied"), "an anonymous GET")
    rc, status, body = curl("-X", "PUT", "--data-binary", "x", "%s/%s/k2" % (fake.url, b))
    eq((status, error_code(body)), (403, "AccessDenied"), "an anonymous PUT")
    eq(stored(fake, b, "k2"), None, "the anonymous PUT's object")


@test("clock skew: 14 min accepted, 16 min RequestTimeTooSkewed")
def _(_stack):
    fake = s3()
    b = bucket(fake)
    fake.scenario(clock_offset_s=14 * 60)
    aws(fake, "s3", "ls", "s3://" + b)
    fake.scenario(clock_offset_s=-16 * 60)
    status, _, body = fake.request("GET", "/" + b)
    eq((status, error_code(body)), (403, "RequestTimeTooSkewed"), "16 min behind")
    fake.scenario(clock_offset_s=16 * 60)
    rc, out, err = aws(fake, "s3", "ls", "s3://" + b, check_ok=False)
    check(rc != 0 and "RequestTimeTooSkewed" in err, "the CLI 16 min behind", rc, err)


# ---------------------------------------------------------------- Python's own signer

@test("sigv4 by hand: payload hash checked against the body; a tampered body refused")
def _(_stack):
    fake = s3()
    b = bucket(fake)
    body = b"the real body " * 100
    fake.put_object(b, "ok", body)
    eq(stored(fake, b, "ok"), body, "a hand-signed PUT")
    # Signed for one body, another of the same length sent.
    tampered = body.replace(b"real", b"fake")
    status, _, out = fake.request("PUT", "/%s/t" % b, body=tampered,
                                  payload_hash=hashlib.sha256(body).hexdigest())
    eq((status, error_code(out)), (400, "XAmzContentSHA256Mismatch"), "the tampered body")
    check(hashlib.sha256(tampered).hexdigest().encode() in out, "S3's computed hash in the error", out)
    eq(stored(fake, b, "t"), None, "the tampered object")
    # UNSIGNED-PAYLOAD: the body is not checked, the rest of the request is.
    status, _, out = fake.request("PUT", "/%s/u" % b, body=tampered, payload_hash="UNSIGNED-PAYLOAD")
    eq(status, 200, "UNSIGNED-PAYLOAD accepted")
    eq(stored(fake, b, "u"), tampered, "the UNSIGNED-PAYLOAD object")
    # A value that is neither.
    status, _, out = fake.request("PUT", "/%s/v" % b, body=body, payload_hash="not-a-hash")
    eq((status, error_code(out)), (400, "InvalidArgument"), "a bad x-amz-content-sha256")


@test("sigv4 by hand: a signed header altered, an unsigned x-amz-* header, a wrong region or service")
def _(_stack):
    import http.client
    from s3fake import sigv4
    fake = s3()
    b = bucket(fake)
    host = "127.0.0.1:%d" % fake.port

    def send(method, path, headers, body=b""):
        conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=30)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    h = sigv4("PUT", host, "/%s/m" % b, {}, {"x-amz-meta-owner": "alice", "content-type": "video/mp4"},
              b"m", AK, SK, REGION)
    eq(send("PUT", "/%s/m" % b, h, b"m")[0], 200, "signed as sent")
    h2 = dict(h, **{"x-amz-meta-owner": "mallory"})
    status, out = send("PUT", "/%s/m" % b, h2, b"m")
    eq((status, error_code(out)), (403, "SignatureDoesNotMatch"), "a signed header altered")
    check(b"<CanonicalRequest>" in out and b"x-amz-meta-owner:mallory" in out,
          "the canonical request the server computed is in the error", out)
    h3 = dict(h, **{"x-amz-meta-extra": "1"})
    status, out = send("PUT", "/%s/m" % b, h3, b"m")
    eq((status, error_code(out)), (403, "AccessDenied"), "an x-amz-* header not signed")
    check(b"HeadersNotSigned" in out, "named HeadersNotSigned", out)
    # Headers S3 does not require signed may be added (user-agent here).
    eq(send("PUT", "/%s/m" % b, dict(h, **{"user-agent": "x/1"}), b"m")[0], 200, "an unsigned user-agent")
    # Whitespace inside a signed header's value is folded (SigV4's trimall).
    h4 = sigv4("PUT", host, "/%s/m" % b, {}, {"x-amz-meta-owner": "a  b"}, b"m", AK, SK, REGION)
    eq(send("PUT", "/%s/m" % b, dict(h4, **{"x-amz-meta-owner": "  a b "}), b"m")[0], 200,
       "a header's spaces folded")
    for region, service, what in (("us-west-2", "s3", "region"), (REGION, "ec2", "service")):
        h5 = sigv4("GET", host, "/" + b, {}, {}, b"", AK, SK, region, service=service)
        status, out = send("GET", "/" + b, h5)
        eq((status, error_code(out)), (400, "AuthorizationHeaderMalformed"), "a wrong " + what)
    # The path is canonical as S3 encodes it: a key with reserved characters.
    key = "d/é ü+&=?#%.bin"
    fake.put_object(b, key, b"odd key")
    eq(stored(fake, b, key), b"odd key", "a key of reserved characters")
    # Query parameters are sorted and encoded by the signer (ListObjectsV2).
    status, _, out = fake.request("GET", "/" + b, query={"list-type": "2", "prefix": "d/é ü",
                                                         "max-keys": "5"})
    eq(status, 200, "a signed query")
    check("d/é ü+&amp;=?#%.bin".encode() in out, "the key listed", out)


# ---------------------------------------------------------------- curl --aws-sigv4

@test("curl --aws-sigv4: PUT and GET accepted (x-amz-content-sha256 given), wrong secret refused")
def _(_stack):
    fake = s3()
    b = bucket(fake)
    data = os.urandom(100000)
    path = write_file("curl.bin", data)
    url = "%s/%s/curl/a%%20b%%2Bc.bin" % (fake.url, b)
    digest = hashlib.sha256(data).hexdigest()
    rc, status, out = sigv4_curl(fake, "-H", "x-amz-content-sha256: " + digest, "-T", path, url)
    eq((rc, status), (0, 200), "curl's PUT: %r" % out[:300])
    rc, status, out = sigv4_curl(fake, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", url)
    eq((rc, status, out == data), (0, 200, True), "curl's GET")
    eq(stored(fake, b, "curl/a b+c.bin"), data, "the key as S3 decodes it")
    # curl 7.88 sends no x-amz-content-sha256 by itself; S3 wants it.
    rc, status, out = sigv4_curl(fake, url)
    eq((status, error_code(out)), (400, "InvalidRequest"), "without x-amz-content-sha256")
    rc, status, out = sigv4_curl(fake, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", url, secret="bad")
    eq((status, error_code(out)), (403, "SignatureDoesNotMatch"), "curl with a wrong secret")
    rc, status, out = sigv4_curl(fake, "-X", "DELETE", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", url)
    eq(status, 204, "curl's DELETE")
    eq(stored(fake, b, "curl/a b+c.bin"), None, "the object after DELETE")


@test("virtual-host style: Host BUCKET.s3.local:PORT signed by curl")
def _(_stack):
    fake = s3()
    b = bucket(fake)
    fake.put_object(b, "vh.txt", b"virtual host")
    start = last_id(fake)
    url = "http://%s.s3.local:%d/vh.txt" % (b, fake.port)
    rc, status, out = sigv4_curl(fake, "--connect-to", "::127.0.0.1:%d" % fake.port,
                                 "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", url)
    eq((rc, status, out), (0, 200, b"virtual host"), "GET by virtual host")
    eq([(e["host"], e["signature"]) for e in entries(fake, start)],
       [("%s.s3.local:%d" % (b, fake.port), "ok")], "log")


# ---------------------------------------------------------------- misbehaviour

@test("scenario down: connection refused (and reset), back up afterwards")
def _(_stack):
    fake = s3()
    b = bucket(fake)
    fake.scenario(down=True)
    with socket.socket() as s:
        s.settimeout(5)
        eq(s.connect_ex(("127.0.0.1", fake.port)) != 0, True, "connect while down")
    rc, out, err = aws(fake, "s3", "ls", "s3://" + b, check_ok=False)
    check(rc != 0 and "Could not connect" in err, "the CLI while down", rc, err)
    fake.scenario(down="reset")
    rc, status, _ = sigv4_curl(fake, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "%s/%s" % (fake.url, b))
    check(rc in (52, 56) and status == 0, "curl against a reset", rc, status)
    fake.scenario(down=False)
    aws(fake, "s3", "ls", "s3://" + b)


@test("scenario slow_down: 503 SlowDown N times; the CLI retries through it")
def _(_stack):
    fake = s3()
    b = bucket(fake)
    start = last_id(fake)
    fake.scenario(slow_down=2)
    aws(fake, "s3", "cp", "--only-show-errors", write_file("sd", b"slow"), "s3://%s/sd" % b)
    log = entries(fake, start)
    eq([e["status"] for e in log], [503, 503, 200], "statuses")
    eq(log[0]["error"], "injected SlowDown", "logged as injected")
    fake.scenario(slow_down=1)
    status, _, out = fake.request("GET", "/%s/sd" % b)
    eq((status, error_code(out)), (503, "SlowDown"), "by hand")
    eq(stored(fake, b, "sd"), b"slow", "next request")


@test("scenario internal_error and fail rules: 500 InternalError on the requests matched", timeout=60)
def _(_stack):
    fake = s3()
    b = bucket(fake)
    fake.put_object(b, "del", b"x")
    fake.scenario(internal_error=1)
    status, _, out = fake.request("GET", "/%s/del" % b)
    eq((status, error_code(out)), (500, "InternalError"), "internal_error")
    fake.scenario(fail=[{"method": "DELETE", "path_re": "/del$", "status": 500, "count": 2}])
    statuses = [fake.request("DELETE", "/%s/del" % b)[0] for _ in range(3)]
    eq(statuses, [500, 500, 204], "DELETE failed twice then done")
    status, out = fake.control("POST", "/_fake/scenario", {"no_such_key": 1})
    eq(status, 400, "an unknown scenario key")


@test("scenario fail_parts: part 2 answers 500 once (the CLI retries it), or always (upload fails)",
      timeout=300)
def _(_stack):
    fake = s3()
    b = bucket(fake)
    data = os.urandom(20 * 1000 * 1000)
    path = write_file("parts", data)
    fake.scenario(fail_parts=[2])
    start = last_id(fake)
    aws(fake, "s3", "cp", "--only-show-errors", path, "s3://%s/p1" % b)
    part2 = [e["status"] for e in entries(fake, start) if re.search(r"(^|&)partNumber=2(&|$)", e["query"])]
    eq(part2, [500, 200], "part 2's statuses")
    check(hashlib.sha256(stored(fake, b, "p1")).digest() == hashlib.sha256(data).digest(), "object")
    fake.scenario(fail_parts=[2], fail_parts_times=-1)
    rc, out, err = aws(fake, "s3", "cp", "--only-show-errors", path, "s3://%s/p2" % b, check_ok=False)
    check(rc != 0 and "InternalError" in err, "the CLI gives up", rc, err)
    eq(stored(fake, b, "p2"), None, "the failed upload's object")


@test("scenario drop_after_bytes: an upload cut mid-body, nothing stored; the next one passes")
def _(_stack):
    fake = s3()
    b = bucket(fake)
    data = os.urandom(1000000)
    path = write_file("drop", data)
    url = "%s/%s/dropped" % (fake.url, b)
    start = last_id(fake)
    fake.scenario(drop_after_bytes=100000)
    rc, status, _ = sigv4_curl(fake, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-T", path, url)
    check(rc != 0 and status in (0, 100), "curl's upload cut", rc, status)
    eq([e["error"] for e in entries(fake, start)], ["dropped after 100000 bytes of the body"], "log")
    eq(stored(fake, b, "dropped"), None, "the cut upload's object")
    rc, status, _ = sigv4_curl(fake, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-T", path, url)
    eq((rc, status), (0, 200), "the next upload")
    eq(stored(fake, b, "dropped"), data, "its object")


@test("scenario delay_ms: answers come that much later")
def _(_stack):
    fake = s3()
    b = bucket(fake)
    fake.scenario(delay_ms=700)
    t0 = time.monotonic()
    status, _, _ = fake.request("GET", "/" + b)
    elapsed = time.monotonic() - t0
    check(status == 200 and elapsed >= 0.7, "a 700 ms delay", status, elapsed)


@test("request log: method, path, query, status, signature verdict; DELETE clears it")
def _(_stack):
    fake = s3()
    b = bucket(fake)
    fake.request("GET", "/" + b, query={"list-type": "2"})
    fake.request("GET", "/" + b, secret_key="wrong")
    log = fake.requests()
    ok, bad = log[-2], log[-1]
    eq((ok["method"], ok["path"], ok["query"], ok["status"], ok["signature"], ok["auth"]),
       ("GET", "/" + b, "list-type=2", 200, "ok", "header"), "a good request's entry")
    eq((bad["status"], bad["signature"].split(":")[0]), (403, "SignatureDoesNotMatch"), "a bad one's")
    fake.clear_requests()
    eq(fake.requests(), [], "the log after DELETE /_fake/requests")


if __name__ == "__main__":
    try:
        sys.exit(suite.main(shared=False))
    finally:
        for f in _S3:
            f.stop()
        for d in _TMP:
            shutil.rmtree(d, ignore_errors=True)
