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
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
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

    def __init__(self, parent, n):
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
        for b in cfg["backends"].values():
            b["command"] = [a.replace("@STACK@", self.dir) for a in b["command"]]
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
                                     stdin=subprocess.DEVNULL, stdout=log,
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
                           capture_output=True, timeout=60)
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
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.proc.wait(10)
        wait_until(lambda: not any(harness.alive(p) for p in pids), 10,
                   what="%s's processes to die" % self.name)
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
    whose key is given per request)."""

    def start(self):
        if not harness.NGINX:
            raise Skip("nginx not installed")
        self.dir = tempfile.mkdtemp(prefix="reelgate-cl-", dir="/tmp")
        harness._STACKS.append(self)
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        self.nodes = [Node(self.dir, 1), Node(self.dir, 2)]
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
    """The error pages and the Allow map of an nginx template, by name."""
    text = open(path).read()
    found = {}
    for start in ("map $request_uri $reelgate_allow {", "location = /_reelgate_errors/"):
        at = text.find(start)
        while at >= 0:
            end = text.index("}", at)
            found[text[at:text.index("{", at)]] = text[at:end]
            at = text.find(start, end)
    return found


@test("the front is standalone.conf.in's: the same error pages and Allow map, the console "
      "at /, nginx's own errors as JSON envelopes")
def _(_):
    c = cluster()
    mine = blocks(CLUSTER_TEMPLATE)
    theirs = blocks(os.path.join(SRCDIR, "etc", "nginx", "standalone.conf.in"))
    check(len(theirs) > 10, "error pages found in standalone.conf.in", sorted(theirs))
    eq(mine, theirs, "cluster.conf.in's error pages and map")
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


if __name__ == "__main__":
    try:
        sys.exit(suite.main(shared=False))
    finally:
        if "recv" in C:
            C["recv"].stop()
