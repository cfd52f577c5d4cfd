#!/usr/bin/env python3
"""The official OpenAI SDK as a client: tests/sdk/videos.test.mjs under
Node's test runner, against a real stack (reelgate + nginx on loopback).

The `openai` npm package is installed, pinned, in two generations side by
side (tests/sdk/package.json: openai7 = 7.x, create always multipart;
openai6 = 6.2-6.27, create as JSON unless a file is attached), with
`npm ci` in tests/sdk.  This script starts one stack (the local renderer
model, small videos), makes the keys the scenarios need (one fresh key per
generation for exact listing and isolation, and a revoked one), serves a PNG
on loopback for the image_url scenario and puts a capture proxy between the
SDK and nginx: it forwards every byte unchanged and records each request
(method, path, Content-Type, the JSON or form fields, the SDK's retry count)
and its status, which the node tests read to check what the SDK put on the
wire.  Then it runs

    node --test --test-reporter=tap tests/sdk/videos.test.mjs

and relays every node test as one TAP line of its own ("openai7 (openai
7.57.0): create: text only ..."), followed by checks of its own: no request
was retried by the SDK, and `reelgate db check` passes.

The proxy also records each answer's Content-Type and, when it is JSON, its
body: the node tests check every one against OpenAI's published OpenAPI
schemas (tests/sdk/openapi.mjs, with Ajv from tests/sdk/package.json; the
schema excerpt tests/sdk/openapi/openai-videos-files.json is vendored, cut
by tests/sdk/openapi/extract.mjs from openai/openai-openapi at the commit
it names: nothing is downloaded).  The stack's local backend declares the
edit and extend operations (render-ffmpeg runs both), so the SDK's
videos.edit and videos.extend run to completion; openai 6.x lacks them
(and createCharacter / getCharacter), which the node tests skip with that
reason.

Skips (the whole file) when node or tests/sdk/node_modules is missing, or
nginx is not installed.  Environment as for the other integration tests
(harness.py), plus NODE (the node binary; default from PATH).
"""
import collections
import json
import os
import re
import signal
import sys
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRCDIR, Skip, Stack, png_bytes  # noqa: E402
from nodetest import (CaptureProxy, Tap, db_check_line, find_node, relay,  # noqa: E402
                      run_node, serve_png, stop_all)

SDK_DIR = os.path.join(SRCDIR, "tests", "sdk")
TEST_FILE = os.path.join(SDK_DIR, "videos.test.mjs")
GENERATIONS = ("openai7", "openai6")   # the npm aliases of tests/sdk/package.json
NODE_TIMEOUT = 300                      # seconds for the whole node run


# ------------------------------------------------------------------- main

def main():
    sys.stdout.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    node = find_node()
    if not node:
        print("1..0 # SKIP node not installed (tests/sdk needs Node.js 20+ and npm ci there)")
        return 0
    missing = [g for g in GENERATIONS
               if not os.path.isfile(os.path.join(SDK_DIR, "node_modules", g, "package.json"))]
    if missing:
        print("1..0 # SKIP tests/sdk/node_modules lacks %s: run `npm ci` in tests/sdk"
              % ", ".join(missing))
        return 0

    tap = Tap()
    stack = proxy = img = None
    try:
        try:
            # The image_url test's image is served on loopback: the
            # dispatcher downloads it for the local renderer, which also
            # runs the edits and extensions (render-ffmpeg declares both).
            def configure(cfg):
                cfg["image_urls"] = {"allow_addresses": ["127.0.0.1"]}
                cfg["backends"]["local"]["operations"] = ["edit", "extend"]
            stack = Stack(workers=2, configure=configure)
            stack.start()
        except Skip as e:
            print("1..0 # SKIP %s" % e)
            return 0
        except Exception:
            tap.line(False, "start the stack (reelgate + nginx)",
                     diag=[traceback.format_exc()] + ([stack.log_tail()] if stack and stack.dir else []))
            tap.plan()
            return 0

        other = {g: stack.create_key("sdk-" + g) for g in GENERATIONS}
        revoked = stack.create_key("sdk-revoked")
        # A key per generation with a per-key limit of 2 creates a minute.
        limited = {}
        for g in GENERATIONS:
            name = "sdk-limited-" + g
            out = stack.cli("keys", "create", "--name", name, "--creates-per-minute", "2")
            limited[g] = {"key": out.stdout.decode().strip(), "requests": 2, "op": "create"}
        stack.cli("keys", "revoke", stack.key_id("sdk-revoked"))
        png = png_bytes(64, 36, (30, 120, 200))
        img, img_url, img_hits = serve_png(png)
        wire_log = os.path.join(stack.dir, "logs", "sdk-wire.log")
        proxy = CaptureProxy(stack.port, wire_log)

        env = dict(os.environ)
        env.update({
            "REELGATE_BASE_URL": "http://127.0.0.1:%d/v1" % proxy.port,
            "REELGATE_KEY": stack.key,
            "REELGATE_SDKS": ",".join(GENERATIONS),
            "REELGATE_MODEL": "reelgate-local",
            "REELGATE_OTHER_KEYS": json.dumps(other),
            "REELGATE_REVOKED_KEY": revoked,
            "REELGATE_CONTENT_DIR": os.path.join(stack.data_dir, "content"),
            "REELGATE_UPLOADS_DIR": os.path.join(stack.data_dir, "uploads"),
            "REELGATE_FILES_DIR": os.path.join(stack.data_dir, "files"),
            "REELGATE_IMAGE_URL": img_url,
            "REELGATE_CAPTURE_URL": proxy.control_url,
            "REELGATE_RATE_LIMITS": json.dumps(limited),
        })
        out, err, rc, took = run_node(node, TEST_FILE, SDK_DIR, env, NODE_TIMEOUT,
                                      os.path.join(stack.dir, "logs", "node-test.tap"))
        points = relay(tap, out, err, rc, took, "tests/sdk/videos.test.mjs")
        if any(not p["ok"] for p in points):
            print("# what the SDK sent, request by request: %s (REELGATE_TEST_KEEP=1 keeps it)"
                  % wire_log)

        # Checks of our own on what went over the wire.
        retried = [r for r in proxy.requests if r["retry_count"] > 0]
        tap.line(not retried, "the SDK never had to retry a request (x-stainless-retry-count)",
                 diag=["%s %s -> %s (retry %d, %s)" % (r["method"], r["path"], r["status"],
                                                       r["retry_count"], r["user_agent"])
                       for r in retried[:20]])
        for g in GENERATIONS:
            creates = [r for r in proxy.requests if r["method"] == "POST"
                       and r["path"] == "/v1/videos" and "OpenAI/JS" in r["user_agent"]]
            version = re.compile(r"OpenAI/JS %s\." % g[-1])
            mine = [r for r in creates if version.search(r["user_agent"])]
            kinds = collections.Counter(r["content_type"].split(";")[0] for r in mine)
            names = {n for r in mine for n, _ in (r["form"] or [])}
            if g == "openai7":
                ok = set(kinds) == {"multipart/form-data"} and \
                    {"input_reference[image_url]", "metadata[style]"} <= names
                what = "every create as multipart/form-data, nested fields in bracket form"
            else:
                with_file = [any(isinstance(v, dict) for _, v in r["form"] or []) for r in mine]
                ok = set(kinds) == {"multipart/form-data", "application/json"} and all(
                    (r["content_type"].startswith("multipart/") == f) for r, f in zip(mine, with_file))
                what = "creates as JSON, and as multipart exactly when a file is attached"
            tap.line(bool(mine) and ok, "wire: %s sent %s" % (g, what),
                     diag=[] if mine and ok else [dict(kinds), sorted(names)])
        db_check_line(tap, stack, "the SDK run")
        if img_hits:
            print("# the image_url server was fetched %d times" % len(img_hits))
        tap.plan()
    finally:
        stop_all(proxy, img, stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
