#!/usr/bin/env python3
"""Several reelgate nodes behind one nginx (issue 19, README "Several
nodes", docs/cluster.md): two nodes on loopback, each with its own config,
data_dir (LMDB), dispatcher and FastCGI socket, behind one nginx generated
from etc/nginx/cluster.conf.in, which pins each API key to one node by
hashing its Authorization header.

Keys are made on node 1 (`reelgate keys create`, `keys limit`, `webhooks
add`), exported (`reelgate keys export -o`), imported on node 2 (`reelgate
keys import`, twice: the second changes nothing).  Then, through the one
front: both nodes get keys (seen in their logs), and every operation works
for every key (create, get, list complete and only the key's own, content
of each variant, remix, delete, files, usage), webhooks are delivered from
whichever node holds the key, signed with the endpoint's secret; metrics
are per node.  Last, one node is killed with SIGKILL (master, workers,
dispatcher, renderers): its keys get nginx's JSON 502 while the other
node's keys go on; restarted, every video of its keys is there and the
queued ones finish.

Then a second cluster, "S3:", whose two nodes keep results in one bucket
of the tests' S3 server (content.store "s3", the same bucket and prefix;
tests/s3 checks every signature), read back with the AWS CLI: keys spread
over both nodes, each node's dispatcher uploads its own videos (its log),
the bucket holds exactly three objects per video, none shared; /content
through the front is a 302 to a presigned GET (curl -L gets the AWS CLI's
bytes); a delete on each node removes that video's objects alone; both
nodes restarted with delivery "proxy": the bytes and Range through the
front's /_reelgate_s3/ location; a node killed with SIGKILL in the middle
of a multipart upload finishes it once restarted.
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from s3fake import S3Fake  # noqa: E402
from harness import (BIN, MODEL, SRCDIR, Skip, Stack, Suite, base_config, check,  # noqa: E402
                     children, eq, expect_error, expect_video, fake, free_port, nginx_config,
                     png_bytes, pids_mentioning, start_nginx, wait_until)

CLUSTER_TEMPLATE = os.path.join(SRCDIR, "etc", "nginx", "cluster.conf.in")
SLOW = "slow"     # a model whose renders take 3 s (tests/fakes/slow-render)
NKEYS = 10
FAST = {"seconds": "1", "size": "160x90", "fps": 12}

suite = Suite()
test = suite.test


class Node:
    """One reelgate node: its directory, config, `reelgate serve`."""

    def __init__(self, parent, n, setup=None, env=None):
        self.n = n
        self.name = "node%d" % n
        self.dir = os.path.join(parent, self.name)
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        self.sock = os.path.join(self.dir, "fcgi.sock")
        self.token = "metrics-%s-%s" % (self.name, uuid.uuid4().hex)
        cfg = base_config(
            self.dir, "unix:" + self.sock, workers=2,
            extra_models={SLOW: {
                "backends": [{"backend": "slow", "model": "x"}],
                "seconds": {"min": 1, "max": 20}, "default_seconds": 1,
                "default_size": "160x90", "default_fps": 12}},
            backends={"slow": {"type": "command", "command": fake("slow-render", 3),
                               "concurrency": 1}},
            content={"delivery": "none"})
        cfg["webhooks"] = {"allow_addresses": ["127.0.0.1"], "timeout_seconds": 3}
        cfg["metrics"] = {"token": self.token}
        if setup:
            setup(self, cfg)
        for b in cfg["backends"].values():
            b["command"] = [a.replace("@STACK@", self.dir) for a in b["command"]]
        self.env = dict(os.environ, **(env or {}))
        self.config = cfg
        self.data_dir = cfg["data_dir"]
        self.log_file = cfg["log_file"]
        self.config_path = os.path.join(self.dir, "reelgate.json")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f, indent=2)
        self.proc = None

    def start(self):
        log = open(os.path.join(self.dir, "logs", "serve.log"), "ab")
        self.proc = subprocess.Popen([BIN, "serve", "-c", self.config_path, "--foreground"],
                                     stdin=subprocess.DEVNULL, stdout=log, env=self.env,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

        def accepts():
            check(self.proc.poll() is None, "%s exited: %s" % (self.name, self.log_tail()))
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(self.sock)
                return True
            except OSError:
                return False
            finally:
                s.close()
        wait_until(accepts, 30, what="%s to listen" % self.name)

    def cli(self, *args, stdin=None, check_rc=True):
        r = subprocess.run([BIN] + list(args) + ["-c", self.config_path], input=stdin,
                           capture_output=True, timeout=60, env=self.env)
        if check_rc:
            check(r.returncode == 0, "%s: reelgate %s exited %s" % (self.name, " ".join(args),
                                                                  r.returncode),
                  r.stderr.decode(errors="replace"))
        return r

    def dispatcher_pid(self):
        try:
            with open(os.path.join(self.data_dir, "dispatcher.lock")) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if harness.alive(pid) else None

    def pids(self):
        """Every process of this node: master, workers, dispatcher, renderers."""
        found = set()
        if self.proc is not None and self.proc.poll() is None:
            found.add(self.proc.pid)
            found |= set(children(self.proc.pid))
        d = self.dispatcher_pid()
        if d:
            found.add(d)
        found |= set(pids_mentioning(self.dir)) | set(pids_mentioning(self.dir, environ=True))
        found.discard(os.getpid())
        return found

    def kill9(self):
        pids = self.pids()
        check(self.proc.pid in pids and len(pids) >= 3,
              "%s: expected a master, workers and a dispatcher, found %s" % (self.name, pids))
        # Until none is left: a worker the master forked between the
        # listing and its kill is found (and killed) by the next round.
        deadline = time.monotonic() + 10
        while True:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            self.proc.wait(10)
            wait_until(lambda: not any(harness.alive(p) for p in pids), 10,
                       what="%s's processes to die" % self.name)
            rest = {p for p in self.pids() if harness.alive(p)} - pids
            killed_all = not rest
            pids |= rest
            if killed_all or time.monotonic() > deadline:
                break
        return pids

    def owners_created(self):
        """The keys that created videos on this node (its log)."""
        owners = set()
        for path in (self.log_file, os.path.join(self.dir, "logs", "serve.log")):
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    for line in f:
                        if "video_created" in line and "owner=" in line:
                            owners.add(line.split("owner=", 1)[1].split()[0])
        return owners

    def log_tail(self, n=15):
        return "\n".join("--- %s\n%s" % (p, harness.tail(p, n))
                         for p in (self.log_file, os.path.join(self.dir, "logs", "serve.log"))
                         if os.path.exists(p))

    def stop(self):
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class Cluster(Stack):
    """Two nodes and the one nginx in front (a Stack, for its HTTP helpers,
    whose key is given per request).  node_setup(node, cfg) changes each
    node's config before it is written; node_env: variables of the nodes'
    processes (and of their CLI runs)."""

    def __init__(self, node_setup=None, node_env=None):
        super().__init__()
        self.node_setup = node_setup
        self.node_env = node_env

    def start(self):
        if not harness.NGINX:
            raise Skip("nginx not installed")
        self.dir = tempfile.mkdtemp(prefix="reelgate-cl-", dir="/tmp")
        harness._STACKS.append(self)
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        self.nodes = [Node(self.dir, n, self.node_setup, self.node_env) for n in (1, 2)]
        self.config = dict(self.nodes[0].config, log_file=self.nodes[0].log_file)
        self.data_dir = self.nodes[0].data_dir
        for n in self.nodes:
            n.start()
        self.max_body = self.config["limits"]["max_body_bytes"]
        for attempt in range(5):
            self.port = free_port()
            self.base = "http://127.0.0.1:%d" % self.port
            conf = nginx_config(self.dir, self.port, "", "", self.max_body,
                                template=CLUSTER_TEMPLATE,
                                placeholders={"@NODE1@": "unix:" + self.nodes[0].sock,
                                              "@NODE2@": "unix:" + self.nodes[1].sock})
            try:
                self.nginx = start_nginx(conf, self.dir, self.port)
                break
            except harness.PortTaken:
                if attempt == 4:
                    raise
        self._logs += [os.path.join(self.dir, "logs", "nginx-error.log")]

    def stop(self):
        if self.dir is None:
            return
        for n in getattr(self, "nodes", []):
            n.stop()
        super().stop()

    def log_tail(self, n=15):
        return "\n".join(node.log_tail(n) for node in getattr(self, "nodes", []))

    def node_of(self, key_id):
        """The node whose log shows key_id's creates (None: no create yet);
        a key whose creates went to two nodes fails."""
        found = [n for n in self.nodes if key_id in n.owners_created()]
        check(len(found) <= 1, "%s created videos on %s: the front does not pin keys"
              % (key_id, [n.name for n in found]))
        return found[0] if found else None


class Receiver:
    """A webhook receiver on loopback that checks each delivery's Standard
    Webhooks signature with the endpoint secrets it is told."""

    def __init__(self):
        self.secrets = {}   # path -> whsec_ secret
        self.got = []       # (path, verified, body)
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ok = outer.verify(self.path, self.headers, body)
                with outer.lock:
                    outer.got.append((self.path, ok, body))
                self.send_response(200 if ok else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_):
                pass
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def verify(self, path, headers, body):
        secret = self.secrets.get(path)
        if not secret:
            return False
        key = base64.b64decode(secret[len("whsec_"):])
        signed = ("%s.%s." % (headers.get("webhook-id"), headers.get("webhook-timestamp"))
                  ).encode() + body
        want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        return any(s == "v1," + want for s in (headers.get("webhook-signature") or "").split())

    def events(self, path):
        with self.lock:
            return [(ok, json.loads(body)) for p, ok, body in self.got if p == path]

    def stop(self):
        self.server.shutdown()


# ---------------------------------------------------------------- the run

C = {}          # the cluster, its keys, the receiver, what the tests made


def cluster():
    check("c" in C, "the cluster did not start (see the first test)")
    return C["c"]


def make_keys(node, count):
    """count new keys on node: [{name, secret, id}]; the first with limits."""
    keys = []
    for i in range(count):
        name = "cl%s" % uuid.uuid4().hex[:8]
        secret = node.cli("keys", "create", "--name", name).stdout.decode().strip()
        keys.append({"name": name, "secret": secret})
    ids = {l.split("\t")[1]: l.split("\t")[0]
           for l in node.cli("keys", "list").stdout.decode().splitlines()}
    for k in keys:
        k["id"] = ids[k["name"]]
    return keys


def add_webhooks(node, keys, recv):
    for k in keys:
        path = "/hook/" + k["id"]
        out = node.cli("webhooks", "add", k["id"],
                       "http://127.0.0.1:%d%s" % (recv.port, path)).stdout.decode().split()
        k["endpoint"], k["whsec"], k["hook"] = out[0], out[1], path
        recv.secrets[path] = out[1]


def export_import(c, first):
    n1, n2 = c.nodes
    path = os.path.join(c.dir, "keys-%d.json" % len(os.listdir(c.dir)))
    r = n1.cli("keys", "export", "-o", path)
    eq(stat.S_IMODE(os.stat(path).st_mode), 0o600, "the export's mode")
    text = open(path).read()
    doc = json.loads(text)
    eq((doc["format"], doc["version"]), ("reelgate-keys", 1), "format and version")
    for k in C["keys"]:
        check(k["secret"] not in text, "the export holds a key's secret in clear")
    check(b"keep it as secret" in r.stderr, "export warns of the endpoints' secrets", r.stderr)
    r = n2.cli("keys", "import", path)
    check(b"added" in r.stderr, "import says what it added", r.stderr)
    r = n2.cli("keys", "import", path)
    check(b"nothing to change" in r.stderr, "the same file again changes nothing", r.stderr)
    return path, doc


@test("keys made on node 1, exported, imported on node 2 (again: no change); a wrong file "
      "writes nothing", timeout=120)
def _(_):
    c = Cluster()
    c.start()
    C["c"] = c
    recv = C["recv"] = Receiver()
    n1, n2 = c.nodes
    C["keys"] = keys = make_keys(n1, NKEYS)
    n1.cli("keys", "limit", keys[0]["id"], "--creates-per-minute", "2")
    add_webhooks(n1, keys, recv)
    path, doc = export_import(c, True)
    eq(len(doc["keys"]), NKEYS, "keys exported")
    # node 2 now lists the same keys with the same limits, and the same
    # endpoints with the same secrets
    eq(n2.cli("keys", "list").stdout, n1.cli("keys", "list").stdout, "keys list on node 2")
    eq(n2.cli("webhooks", "list").stdout, n1.cli("webhooks", "list").stdout,
       "webhooks list on node 2")
    again = json.loads(n2.cli("keys", "export").stdout)
    for d in (again, doc):
        d.pop("exported_at")
    eq(again, doc, "node 2's export")
    # a file with one bad key among good ones: refused whole
    extra = make_keys(n1, 1)[0]
    bad = json.loads(n1.cli("keys", "export").stdout)
    bad["keys"][-1]["limits"] = {"max_in_flight": "many"}
    r = n2.cli("keys", "import", "-", stdin=json.dumps(bad).encode(), check_rc=False)
    eq(r.returncode, 1, "import of a wrong file")
    check(b"max_in_flight" in r.stderr and b"nothing was imported" in r.stderr,
          "says what is wrong", r.stderr)
    check(extra["id"].encode() not in n2.cli("keys", "list").stdout,
          "a key of the refused file is on node 2")
    n1.cli("keys", "revoke", extra["id"])
    C["revoked"] = extra
    export_import(c, False)


def make_video(c, k, **fields):
    for f, v in FAST.items():
        fields.setdefault(f, v)
    return c.create(key=k["secret"], **fields)


def creates_until_both_nodes(c):
    """Two videos per key, one after the other; more keys while one node
    has none (rare: the hash splits 10 keys 10-0 once in 500)."""
    made = {}
    for _round in range(3):
        for k in C["keys"]:
            if k["id"] not in made:
                made[k["id"]] = [make_video(c, k)["id"], make_video(c, k)["id"]]
        homes = {}
        for k in C["keys"]:
            node = wait_until(lambda: c.node_of(k["id"]), 10, what="a node to log %s" % k["id"])
            homes[k["id"]] = node
        if len({n.name for n in homes.values()}) == 2:
            return made, homes
        C["keys"] += make_keys(c.nodes[0], 4)
        add_webhooks(c.nodes[0], C["keys"][-4:], C["recv"])
        export_import(c, False)
    raise AssertionError("every key hashed to one node three times over")


@test("keys spread over both nodes; each key's creates only on its own node", timeout=180)
def _(_):
    c = cluster()
    made, homes = creates_until_both_nodes(c)
    C["videos"] = {kid: list(vids) for kid, vids in made.items()}
    C["homes"] = homes
    o1, o2 = (n.owners_created() for n in c.nodes)
    check(o1 and o2, "both nodes must hold keys", o1, o2)
    eq(o1 & o2, set(), "keys that created videos on both nodes")
    # a revoked key is refused by whichever node it hashes to
    expect_error(c.request("GET", "/v1/videos", key=C["revoked"]["secret"]), 401,
                 code="invalid_api_key")
    # the limits moved: key 0 may create 2 a minute (a calendar minute):
    # 3 creates in one minute get a 429
    k0 = C["keys"][0]
    for _try in range(3):
        if time.time() % 60 > 50:
            time.sleep(61 - time.time() % 60)
        minute = int(time.time()) // 60
        answers = [c.request("POST", "/v1/videos", key=k0["secret"],
                             json=dict(FAST, prompt="over the limit")) for _i in range(3)]
        if int(time.time()) // 60 == minute:
            break
    C["limited_minute"] = minute
    refused = [r for r in answers if r.status == 429]
    check(refused, "3 creates in a minute by a key limited to 2 a minute: no 429", answers)
    expect_error(refused[0], 429, code="rate_limit_exceeded")
    C["videos"][k0["id"]] = [v["id"] for v in c.list(key=k0["secret"]).json["data"]]


@test("through the one front: get, list, content, remix, delete, files, usage for every key",
      timeout=300)
def _(_):
    c = cluster()
    for k in C["keys"]:
        kid, sec = k["id"], k["secret"]
        for vid in C["videos"][kid]:
            v, hist = c.wait_video(vid, key=sec, timeout=90)
            eq(v["status"], "completed", "%s of %s (%s)" % (vid, kid, hist))
        vid = C["videos"][kid][0]
        for variant, magic in (("video", b"ftyp"), ("thumbnail", b"WEBP"),
                               ("spritesheet", None)):
            r = c.content(vid, variant, key=sec)
            eq(r.status, 200, "content %s of %s" % (variant, vid))
            check(magic is None or magic in r.body[:16], "%s bytes" % variant, r.body[:16])
        if k is not C["keys"][0]:
            rx = expect_video(c.request("POST", "/v1/videos/%s/remix" % vid, key=sec,
                                        json={"prompt": "again, at night"}))
            eq(rx["remixed_from_video_id"], vid, "remix source")
            C["videos"][kid].append(rx["id"])
            gone = make_video(c, k)["id"]
            c.wait_video(gone, key=sec, timeout=90)
            r = c.request("DELETE", "/v1/videos/" + gone, key=sec)
            eq((r.status, r.json.get("deleted")), (200, True), "delete %s" % gone)
            expect_error(c.get(gone, key=sec), 404)
        data = png_bytes(12, 12)
        r = c.request("POST", "/v1/files", key=sec, form=[
            ("purpose", "vision"), ("file", ("ref.png", "image/png", data))])
        eq(r.status, 200, "file upload (%s)" % r.text[:200])
        fid = r.json["id"]
        eq(c.request("GET", "/v1/files/%s/content" % fid, key=sec).body, data, "file bytes")
        eq([f["id"] for f in c.request("GET", "/v1/files", key=sec).json["data"]], [fid],
           "the key's files")
        eq(c.request("DELETE", "/v1/files/" + fid, key=sec).status, 200, "file delete")
        r = c.request("GET", "/v1/usage/videos?start_time=%d" % (int(time.time()) // 86400 * 86400),
                      key=sec)
        eq(r.status, 200, "usage (%s)" % r.text[:200])
        C["videos"][kid] = sorted(C["videos"][kid])
    for k in C["keys"]:
        kid, sec = k["id"], k["secret"]
        for vid in C["videos"][kid]:
            c.wait_video(vid, key=sec, timeout=90)
        eq(sorted(c.list_ids(key=sec)), C["videos"][kid], "the list of %s" % kid)
        # another key's video is not found, whichever node it is on
        other = C["keys"][(C["keys"].index(k) + 1) % len(C["keys"])]
        expect_error(c.get(C["videos"][other["id"]][0], key=sec), 404)


@test("webhooks: each key's events come from its node, signed with the exported secret",
      timeout=120)
def _(_):
    c = cluster()
    recv = C["recv"]
    for k in C["keys"]:
        want = set(C["videos"][k["id"]])
        wait_until(lambda: want <= {e["data"]["id"] for ok, e in recv.events(k["hook"])}, 60,
                   what="video.completed of %s's videos at %s" % (k["id"], k["hook"]))
        evs = recv.events(k["hook"])
        check(all(ok for ok, _ in evs), "a delivery's signature did not verify", evs)
        check({e["type"] for ok, e in evs} <= {"video.completed"}, "event types", evs)
    for n in c.nodes:
        homed = [k for k in C["keys"] if C["homes"][k["id"]] is n]
        for k in homed:
            out = n.cli("webhooks", "deliveries", k["endpoint"]).stdout.decode()
            check(out.count("delivered") >= len(C["videos"][k["id"]]),
                  "%s delivered %s's events" % (n.name, k["id"]), out)


@test("metrics are per node: /metrics/node1 and /metrics/node2, each with its own token")
def _(_):
    c = cluster()
    for i, n in enumerate(c.nodes, 1):
        r = c.request("GET", "/metrics/node%d" % i, key=n.token)
        eq(r.status, 200, "metrics of %s" % n.name)
        check(b"# TYPE" in r.body, "Prometheus text", r.body[:200])
        other = c.nodes[2 - i]
        expect_error(c.request("GET", "/metrics/node%d" % i, key=other.token), 401,
                     code="invalid_metrics_token")


def blocks(path):
    """The error pages, the Allow map and the S3 proxy location of an nginx
    template, by name."""
    text = open(path).read()
    found = {}
    for start in ("map $request_uri $reelgate_allow {", "location = /_reelgate_errors/",
                  "location ~ ^/_reelgate_s3/"):
        at = text.find(start)
        while at >= 0:
            end = text.index("}", at)
            found[text[at:text.index("{", at)]] = text[at:end]
            at = text.find(start, end)
    return found


@test("the front is standalone.conf.in's: the same error pages, Allow map and S3 proxy "
      "location, the console at /, nginx's own errors as JSON envelopes")
def _(_):
    c = cluster()
    mine = blocks(CLUSTER_TEMPLATE)
    theirs = blocks(os.path.join(SRCDIR, "etc", "nginx", "standalone.conf.in"))
    check(len(theirs) > 10, "error pages found in standalone.conf.in", sorted(theirs))
    check(any("_reelgate_s3" in name for name in theirs), "the S3 location in standalone",
          sorted(theirs))
    eq(mine, theirs, "cluster.conf.in's error pages, map and S3 proxy location")
    r = c.request("GET", "/", key=None)
    eq(r.status, 200, "the console at /")
    with open(os.path.join(harness.CONSOLE_DIR, "index.html"), "rb") as f:
        eq(r.body, f.read(), "index.html")
    expect_error(c.request("GET", "/nothing-here", key=None), 404, code="not_found")
    r = c.request("PUT", "/v1/videos", key=None)
    eq(r.status, 405, "PUT /v1/videos")
    expect_error(c.request("GET", "/v1/videos", key=None), 401)


@test("a node killed with SIGKILL: its keys get the JSON 502, the others go on; restarted, "
      "nothing is lost and the queued videos finish", timeout=300)
def _(_):
    c = cluster()
    victim = c.nodes[1]
    mine = [k for k in C["keys"] if C["homes"][k["id"]] is victim]
    theirs = [k for k in C["keys"] if C["homes"][k["id"]] is not victim]
    check(mine and theirs, "each node holds keys")
    # key 0 may create 2 a minute and used them up in the minute of the
    # second test: with the tests between quick, that may be this minute
    while int(time.time()) // 60 <= C.get("limited_minute", 0):
        time.sleep(0.5)
    queued = []
    for k in mine:
        for _i in range(2):
            v = make_video(c, k, model=SLOW)
            queued.append((k, v["id"]))
            C["videos"][k["id"]].append(v["id"])
    k, vid = queued[0]
    c.wait_video(vid, until="in_progress", key=k["secret"], timeout=30)
    killed = victim.kill9()
    for k in mine:
        r = c.get(C["videos"][k["id"]][0], key=k["secret"])
        expect_error(r, 502)
        expect_error(c.request("POST", "/v1/videos", key=k["secret"],
                               json=dict(FAST, prompt="while down")), 502)
    for k in theirs:
        eq(c.get(C["videos"][k["id"]][0], key=k["secret"]).status, 200, "the other node's key")
        v = make_video(c, k)
        C["videos"][k["id"]].append(v["id"])
    victim.start()
    check(not (killed & victim.pids()), "a killed process is back", killed)
    for k in C["keys"]:
        sec = k["secret"]
        for vid in C["videos"][k["id"]]:
            v, hist = c.wait_video(vid, key=sec, timeout=120, strict=False)
            eq(v["status"], "completed", "%s of %s after the restart (%s)" % (vid, k["id"], hist))
        eq(sorted(c.list_ids(key=sec)), sorted(C["videos"][k["id"]]),
           "the list of %s after the restart" % k["id"])
    for n in c.nodes:
        r = n.cli("db", "check")
        check(b"ok" in r.stdout, "db check of %s" % n.name, r.stdout)



# ------------------------------------------- results shared in one bucket
#
# A second cluster of two nodes with content.store "s3", both nodes on the
# same bucket and the same prefix of the tests' S3 server (tests/s3: every
# request's SigV4 checked with the AWS SDK's signer), read back with the
# AWS CLI.  Object keys are prefix + video id + "/" + variant; a video id
# is its creation time in ms and 80 random bits (src/id.c), so the ids of
# two nodes, and their objects, never meet: one prefix for every node is
# safe (docs/cluster.md).

S3AK = "AKIDREELGATECLUSTER"
S3SK = "reelgate-cluster-s3/secret+key="
S3REGION = "eu-west-3"
BUCKET = "rg-cluster"
PREFIX = "results/"
VARIANTS = (("video", "video.mp4"), ("thumbnail", "thumbnail.webp"),
            ("spritesheet", "spritesheet.jpg"))
PART = 5 * 1024 * 1024
S = {}          # the S3 cluster: "fake", "c", "keys", "videos", "homes"


def s3cluster():
    check("c" in S, "the S3 cluster did not start (see its first test)")
    return S["c"]


def aws(*args):
    """The AWS CLI against the fake (its own config and credentials)."""
    cli = os.environ.get("AWS_CLI") or shutil.which("aws")
    if not cli:
        raise Skip("the AWS CLI is not installed (apt-get install awscli)")
    d = S["tmp"]
    cfg = os.path.join(d, "aws-config")
    with open(cfg, "w") as f:
        f.write("[default]\nregion = %s\ns3 =\n    addressing_style = path\n" % S3REGION)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": d, "AWS_CONFIG_FILE": cfg,
           "AWS_SHARED_CREDENTIALS_FILE": os.path.join(d, "none"),
           "AWS_ACCESS_KEY_ID": S3AK, "AWS_SECRET_ACCESS_KEY": S3SK}
    p = subprocess.run([cli, "--endpoint-url", S["fake"].url] + list(args), env=env,
                       capture_output=True, timeout=120)
    check(p.returncode == 0, "aws %s: %s %s" % (" ".join(args), p.stdout, p.stderr))
    return p.stdout


def bucket_keys():
    """Every object key under PREFIX in the bucket (the AWS CLI's listing,
    all pages)."""
    out = json.loads(aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix", PREFIX)
                     or b"{}")
    return sorted(o["Key"] for o in out.get("Contents", []))


def object_bytes(key):
    dest = os.path.join(S["tmp"], "got")
    aws("s3", "cp", "s3://%s/%s" % (BUCKET, key), dest)
    with open(dest, "rb") as f:
        data = f.read()
    os.unlink(dest)
    return data


def keys_of(vid):
    return ["%s%s/%s" % (PREFIX, vid, name) for name in sorted(n for _v, n in VARIANTS)]


def sha(data):
    return hashlib.sha256(data).hexdigest()


def copy_renderer(d):
    """A renderer that hands back the file named in metadata.src: results
    of a chosen size and known bytes."""
    path = os.path.join(d, "render-copy")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nsrc=$(python3 -c 'import json,sys; "
                "print(json.load(sys.stdin)[\"metadata\"][\"src\"])')\n"
                "echo 'progress 50'\ncp \"$src\" \"$REELGATE_OUTPUT\" || exit 1\n"
                "echo 'progress 100'\n")
    os.chmod(path, 0o755)
    return path


def s3_setup(delivery):
    def setup(node, cfg):
        cfg["content"] = {
            "store": "s3", "delivery": delivery, "retention_seconds": 3600,
            "s3": {"endpoint": S["fake"].url, "region": S3REGION, "bucket": BUCKET,
                   "prefix": PREFIX, "access_key": S3AK, "secret_key_env": "RG_S3_SECRET",
                   "path_style": True, "part_bytes": PART, "presign_seconds": 120,
                   "allow_addresses": ["127.0.0.1"]}}
        cfg["models"]["copy"] = {"backends": [{"backend": "copy", "model": "x"}],
                                 "seconds": {"min": 1, "max": 20}, "default_seconds": 1,
                                 "default_size": "160x90", "default_fps": 12}
        cfg["backends"]["copy"] = {"type": "command", "command": [S["renderer"]],
                                   "concurrency": 2}
    return setup


def node_logged(node, event, vid):
    """node's log has `event` for vid (s3_uploaded video=..., s3_deleted key=...)."""
    for path in (node.log_file, os.path.join(node.dir, "logs", "serve.log")):
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                if any(event in line and vid in line for line in f):
                    return True
    return False


def restart_node(c, node, delivery):
    """SIGTERM (a clean stop), every process gone, the config's delivery
    changed, started again."""
    pids = node.pids()
    node.proc.send_signal(signal.SIGTERM)
    node.proc.wait(30)
    wait_until(lambda: not any(harness.alive(p) for p in pids), 30,
               what="%s's processes to exit" % node.name)
    node.config["content"]["delivery"] = delivery
    with open(node.config_path, "w") as f:
        json.dump(node.config, f, indent=2)
    node.start()


@test("S3: two nodes with content.store \"s3\" on one bucket behind the front; keys spread "
      "over both; each node's dispatcher uploads its own videos, no key collides",
      timeout=300)
def _(_):
    if "c" in C:
        C["c"].stop()       # the first cluster is done with
    S["tmp"] = tempfile.mkdtemp(prefix="rg-cls3-", dir="/tmp")
    S["renderer"] = copy_renderer(S["tmp"])
    S["fake"] = S3Fake(access_key=S3AK, secret_key=S3SK, region=S3REGION).start()
    S["fake"].create_bucket(BUCKET)
    c = Cluster(node_setup=s3_setup("redirect"), node_env={"RG_S3_SECRET": S3SK})
    c.start()
    S["c"] = c
    n1, n2 = c.nodes
    keys = make_keys(n1, 8)
    videos, homes = {}, {}
    for _round in range(3):
        path = os.path.join(c.dir, "keys-%d.json" % _round)
        n1.cli("keys", "export", "-o", path)
        n2.cli("keys", "import", path)
        for k in keys:
            if k["id"] not in videos:
                videos[k["id"]] = [make_video(c, k)["id"], make_video(c, k)["id"]]
        for k in keys:
            homes[k["id"]] = wait_until(lambda: c.node_of(k["id"]), 10,
                                        what="a node to log %s" % k["id"])
        if len({n.name for n in homes.values()}) == 2:
            break
        keys += make_keys(n1, 4)
    check(len({n.name for n in homes.values()}) == 2, "every key hashed to one node")
    S.update(keys=keys, videos=videos, homes=homes)
    every = []
    for k in keys:
        for vid in videos[k["id"]]:
            v, hist = c.wait_video(vid, key=k["secret"], timeout=120, strict=False)
            eq(v["status"], "completed", "%s of %s (%s)" % (vid, k["id"], hist))
            every.append(vid)
    eq(len(set(every)), len(every), "video ids made by the two nodes")
    # the bucket holds exactly every variant of every video, under the one
    # prefix: 3 objects a video, none shared, none missing
    eq(bucket_keys(), sorted(sum((keys_of(v) for v in every), [])), "the bucket's objects")
    # each video was made and uploaded by its own node (its log), and the
    # other node's log never names it
    for k in keys:
        home = homes[k["id"]]
        other = n2 if home is n1 else n1
        for vid in videos[k["id"]]:
            for variant, _name in VARIANTS:
                check(node_logged(home, "s3_uploaded", "video=%s variant=%s" % (vid, variant)),
                      "%s's log has no s3_uploaded of %s %s" % (home.name, vid, variant))
            check(not node_logged(other, "", "video=" + vid),
                  "%s's log names %s, a video of %s" % (other.name, vid, home.name))
    for n in c.nodes:
        content = os.path.join(n.data_dir, "content")
        left = [f for f in os.listdir(content)] if os.path.isdir(content) else []
        eq(left, [], "local copies left on %s" % n.name)
    uploads = [e for e in S["fake"].requests() if e.get("method") == "PUT"]
    check(uploads and all(e.get("signature") == "ok" for e in uploads),
          "uploads whose signature the store refused", [e for e in uploads
                                                        if e.get("signature") != "ok"][:3])


@test("S3: content through the front is a 302 to a presigned GET of the bucket; curl -L "
      "through the front gets the bytes the AWS CLI reads; another key's video is 404",
      timeout=240)
def _(_):
    c = s3cluster()
    keys = S["keys"]
    for i, k in enumerate(keys):
        vid = S["videos"][k["id"]][0]
        variants = VARIANTS if i < 2 or k is keys[-1] else VARIANTS[:1]
        for variant, name in variants:
            r = c.content(vid, variant, key=k["secret"])
            eq(r.status, 302, "content %s of %s: %s" % (variant, vid, r))
            loc = r.header("location")
            check(loc.startswith("%s/%s/%s%s/%s" % (S["fake"].url, BUCKET, PREFIX, vid, name))
                  and "X-Amz-Signature=" in loc, "the redirect", loc)
            eq(r.header("cache-control"), "no-store", "cache-control")
            p = subprocess.run(["curl", "-sS", "-L", "-o", "-", "-w", "\n%{http_code} "
                                "%{num_redirects}", "-H", "Authorization: Bearer " + k["secret"],
                                "%s/v1/videos/%s/content?variant=%s" % (c.base, vid, variant)],
                               capture_output=True, timeout=60)
            body, _nl, tail = p.stdout.rpartition(b"\n")
            eq(tail, b"200 1", "curl -L: status and redirects of %s %s" % (vid, variant))
            eq(sha(body), sha(object_bytes("%s%s/%s" % (PREFIX, vid, name))),
               "%s of %s via the front vs the AWS CLI" % (variant, vid))
        other = keys[(i + 1) % len(keys)]
        expect_error(c.content(S["videos"][other["id"]][0], key=k["secret"]), 404)
    # the presigned GETs were checked by the store too
    gets = [e for e in S["fake"].requests() if e.get("auth") == "presigned"]
    check(gets and all(e.get("signature") == "ok" for e in gets), "presigned GETs", gets[:3])


@test("S3: a delete on a node removes that video's objects (its node's dispatcher); the "
      "other videos' objects stay", timeout=120)
def _(_):
    c = s3cluster()
    before = bucket_keys()
    gone = []
    for n in c.nodes:
        k = next(k for k in S["keys"] if S["homes"][k["id"]] is n)
        vid = S["videos"][k["id"]].pop()
        r = c.request("DELETE", "/v1/videos/" + vid, key=k["secret"])
        eq((r.status, r.json.get("deleted")), (200, True), "delete %s on %s" % (vid, n.name))
        gone.append((n, vid))
    want = [key for key in before if not any(vid in key for _n, vid in gone)]
    eq(len(want), len(before) - 6, "objects of the two deleted videos")
    wait_until(lambda: bucket_keys() == want, 30, what="the deleted videos' objects to go")
    for n, vid in gone:
        other = c.nodes[2 - n.n]
        for key in keys_of(vid):
            # the store removes the object before its answer reaches the node
            wait_until(lambda: node_logged(n, "s3_deleted", key), 10,
                       what="%s to log s3_deleted %s" % (n.name, key))
            check(not node_logged(other, "s3_deleted", key), "%s deleted %s, %s's"
                  % (other.name, key, n.name))
    for n in c.nodes:
        check(b"ok" in n.cli("db", "check").stdout, "db check of %s" % n.name)


@test("S3: delivery \"proxy\" through the front's /_reelgate_s3/ location (both nodes "
      "restarted with it): the bytes, Range, nothing lost", timeout=180)
def _(_):
    c = s3cluster()
    for n in c.nodes:
        restart_node(c, n, "proxy")
    for i, k in enumerate(S["keys"]):
        eq(sorted(c.list_ids(key=k["secret"])), sorted(S["videos"][k["id"]]),
           "the list of %s after the restart" % k["id"])
        vid = S["videos"][k["id"]][0]
        want = object_bytes("%s%s/video.mp4" % (PREFIX, vid))
        r = c.content(vid, key=k["secret"])
        eq(r.status, 200, "content of %s through the front: %s" % (vid, r))
        eq(sha(r.body), sha(want), "the bytes of %s through the front" % vid)
        check(r.header("x-accel-redirect") is None, "X-Accel-Redirect leaked to the client")
        r = c.content(vid, key=k["secret"], headers={"Range": "bytes=100-1099"})
        eq(r.status, 206, "range of %s: %s" % (vid, r))
        eq(r.body, want[100:1100], "range bytes")
        eq(r.header("content-range"), "bytes 100-1099/%d" % len(want), "content-range")
        if i == 0:
            r = c.content(vid, "thumbnail", key=k["secret"])
            eq((r.status, sha(r.body)), (200, sha(object_bytes(
                "%s%s/thumbnail.webp" % (PREFIX, vid)))), "the thumbnail through the front")


@test("S3: a node killed with SIGKILL in the middle of a multipart upload; restarted, its "
      "dispatcher completes the upload, the object is the rendered file", timeout=300)
def _(_):
    c = s3cluster()
    fake = S["fake"]
    victim = c.nodes[1]
    k = next(k for k in S["keys"] if S["homes"][k["id"]] is victim)
    other = next(k for k in S["keys"] if S["homes"][k["id"]] is not victim)
    size = 3 * PART + 4321
    src = os.path.join(S["tmp"], "src.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(size))
    fake.scenario(delay_ms=700)       # every request slow: time to kill mid-way
    try:
        vid = make_video(c, k, model="copy", metadata={"src": src})["id"]
        S["videos"][k["id"]].append(vid)
        wait_until(lambda: c.get(vid, key=k["secret"]).json.get("progress") == 100, 60,
                   what="%s rendered" % vid)
        fake.clear_requests()
        wait_until(lambda: any("partNumber=2" in json.dumps(e) and vid in json.dumps(e)
                               for e in fake.requests()), 60, what="a second part of %s" % vid)
        victim.kill9()
    finally:
        fake.scenario(delay_ms=0)
    check(not node_logged(victim, "s3_uploaded", "video=%s variant=video" % vid),
          "the upload finished before the kill")
    expect_error(c.get(vid, key=k["secret"]), 502)
    eq(c.get(S["videos"][other["id"]][0], key=other["secret"]).status, 200,
       "the other node's key while one node is down")
    victim.start()
    v, hist = c.wait_video(vid, key=k["secret"], timeout=200, strict=False)
    eq(v["status"], "completed", "%s after the restart (%s)" % (vid, hist))
    with open(src, "rb") as f:
        want = f.read()
    eq(sha(object_bytes("%s%s/video.mp4" % (PREFIX, vid))), sha(want), "the object")
    r = c.content(vid, key=k["secret"])
    eq((r.status, sha(r.body)), (200, sha(want)), "the video through the front")
    eq(bucket_keys().count("%s%s/video.mp4" % (PREFIX, vid)), 1, "the object once")
    for n in c.nodes:
        check(b"ok" in n.cli("db", "check").stdout, "db check of %s" % n.name)


if __name__ == "__main__":
    try:
        sys.exit(suite.main(shared=False))
    finally:
        if "recv" in C:
            C["recv"].stop()
        if "tmp" in S:
            shutil.rmtree(S["tmp"], ignore_errors=True)
