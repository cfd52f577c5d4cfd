#!/usr/bin/env python3
"""The web console (share/reelgate/console) in a real headless Chromium:
tests/console/console.test.mjs under Node's test runner, driving Debian's
chromium with playwright-core (tests/console/package.json, `npm ci` there),
against a real stack: reelgate behind nginx, whose shipped template serves
the console at the root, with a capture proxy in front (nodetest.py) that
records every request the browser makes, its service worker's included.

The stack has three models: reelgate-local (the shipped renderer, a range
of durations and sizes, remix, edit and extend), reelgate-slow (a list of
durations and sizes, priced, each video reporting progress for 6 s) and
reelgate-broken (every video fails); and three keys: alice (the user),
bob (another key), carol (with budgets).  Every node test is a TAP line of
its own; then checks of our own on what went over the wire:

- every request of the browser is a console file or under /v1, and every
  /v1 request carried its key as "Authorization: Bearer ..." while no URL
  ever held a key, and no console file was asked with a key;
- the console's files hold no key and no secret of the stack;
- `reelgate db check` passes.

Screenshots of every page at desktop and phone widths are written to
tests/console/screenshots/ of the build tree (REELGATE_SCREENSHOTS to
change it); the last TAP comment lists them.

Skips (the whole file) when node, tests/console/node_modules, chromium
(CHROMIUM: its path; default /usr/bin/chromium or PATH) or nginx is
missing.
"""
import os
import shutil
import signal
import sys
import traceback
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRCDIR, Skip, Stack, fake, png_bytes  # noqa: E402
from nodetest import (CaptureProxy, Tap, db_check_line, find_node, relay,  # noqa: E402
                      run_node, serve_png, stop_all)

TESTS_DIR = os.path.join(SRCDIR, "tests", "console")
TEST_FILE = os.path.join(TESTS_DIR, "console.test.mjs")
CONSOLE_DIR = os.path.join(SRCDIR, "share", "reelgate", "console")
NODE_TIMEOUT = 600


def find_chromium():
    if "CHROMIUM" in os.environ:
        path = os.environ["CHROMIUM"]
        return path if path and os.access(path, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


def configure(cfg):
    cfg["backends"]["local"]["operations"] = ["edit", "extend"]
    cfg["backends"]["slow"] = {"type": "command", "command": fake("slow-render", 6),
                               "concurrency": 8}
    cfg["backends"]["broken"] = {"type": "command",
                                 "command": fake("fail", "the renderer ran out of paint"),
                                 "concurrency": 2}
    cfg["models"]["reelgate-slow"] = {
        "backends": [{"backend": "slow", "model": "slow"}],
        "seconds": [2, 4], "sizes": ["320x180", "180x320"],
        "default_seconds": 2, "default_size": "320x180",
        "default_fps": 12, "max_fps": 24, "deadline_seconds": 600,
        "price": {"per_second": 0.05},
    }
    cfg["models"]["reelgate-broken"] = {
        "backends": [{"backend": "broken", "model": "broken"}],
        "seconds": {"min": 1, "max": 4}, "sizes": {"max_width": 640, "max_height": 640},
        "default_seconds": 1, "default_size": "320x180",
        "default_fps": 12, "max_fps": 24, "deadline_seconds": 600,
    }
    cfg["usage"] = {"currency": "USD"}
    cfg["image_urls"] = {"allow_addresses": ["127.0.0.1"]}


def wire_checks(tap, requests, keys, console_files):
    """Our own checks of every request the browser made."""
    allowed_static = {"/"} | {"/" + f for f in console_files}
    strays, unkeyed, in_url, keyed_static = [], [], [], []
    refused = 0
    for r in requests:
        path = r["path"]
        plain = urllib.parse.urlsplit(path).path
        if any(k in urllib.parse.unquote(path) for k in keys) or "bearer" in path.lower():
            in_url.append(path)
        if plain.startswith("/v1/"):
            auth = r.get("authorization") or ""
            if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
                if r.get("status") == 401:
                    refused += 1   # a signed-out page's, refused: nothing was given
                else:
                    unkeyed.append("%s %s (%r) -> %s" % (r["method"], path, auth, r.get("status")))
        elif plain in allowed_static:
            if r.get("authorization"):
                keyed_static.append(path)
        else:
            strays.append("%s %s" % (r["method"], path))
    n_api = sum(1 for r in requests if r["path"].startswith("/v1/"))
    tap.line(n_api > 50 and not unkeyed,
             "wire: every API request of the browser (%d) carried its key in the Authorization header"
             " (%d without, after sign-out, were refused with 401)" % (n_api, refused),
             diag=unkeyed[:20])
    tap.line(not in_url, "wire: no URL the browser asked for held a key", diag=in_url[:20])
    tap.line(not keyed_static, "wire: the console's own files were asked for without a key",
             diag=keyed_static[:20])
    tap.line(not strays, "wire: the browser asked for nothing but the console's files and the API",
             diag=strays[:20])


def main():
    sys.stdout.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    node = find_node()
    chromium = find_chromium()
    if not node:
        print("1..0 # SKIP node not installed (tests/console needs Node.js 20+ and npm ci there)")
        return 0
    if not os.path.isfile(os.path.join(TESTS_DIR, "node_modules", "playwright-core", "package.json")):
        print("1..0 # SKIP tests/console/node_modules lacks playwright-core: run `npm ci` in tests/console")
        return 0
    if not chromium:
        print("1..0 # SKIP chromium not installed (Debian's package chromium)")
        return 0

    tap = Tap()
    stack = proxy = img = None
    try:
        try:
            stack = Stack(workers=3, configure=configure)
            stack.start()
        except Skip as e:
            print("1..0 # SKIP %s" % e)
            return 0
        except Exception:
            tap.line(False, "start the stack (reelgate + nginx)",
                     diag=[traceback.format_exc()] + ([stack.log_tail()] if stack and stack.dir else []))
            tap.plan()
            return 0
        bob = stack.create_key("bob")
        carol = stack.create_key("carol")
        stack.cli("keys", "limit", stack.key_id("carol"), "--seconds-per-day", "60",
                  "--seconds-per-month", "600", "--cost-per-month", "5", "--max-in-flight", "3")
        image = os.path.join(stack.dir, "image.png")
        png = png_bytes(320, 180, (200, 80, 40))
        with open(image, "wb") as f:
            f.write(png)
        img, img_url, _ = serve_png(png)
        shots = os.environ.get("REELGATE_SCREENSHOTS") or os.path.abspath(
            os.path.join("tests", "console", "screenshots"))
        for old in (os.listdir(shots) if os.path.isdir(shots) else []):
            if old.endswith(".png"):
                os.unlink(os.path.join(shots, old))
        proxy = CaptureProxy(stack.port, os.path.join(stack.dir, "logs", "browser-wire.log"))

        env = dict(os.environ)
        env.update({
            "REELGATE_BASE_URL": "http://127.0.0.1:%d" % proxy.port,
            "REELGATE_KEY": stack.key,
            "REELGATE_KEY2": bob,
            "REELGATE_KEY3": carol,
            "REELGATE_CHROMIUM": chromium,
            "REELGATE_SHOTS": shots,
            "REELGATE_CAPTURE_URL": proxy.control_url,
            "REELGATE_IMAGE": image,
            "REELGATE_IMAGE_URL": img_url,
        })
        out, err, rc, took = run_node(node, TEST_FILE, TESTS_DIR, env, NODE_TIMEOUT,
                                      os.path.join(stack.dir, "logs", "node-test.tap"))
        relay(tap, out, err, rc, took, "tests/console/console.test.mjs")

        keys = [stack.key, bob, carol]
        console_files = sorted(os.listdir(CONSOLE_DIR))
        wire_checks(tap, proxy.requests, keys, console_files)
        secrets = keys + [stack.config.get("metrics", {}).get("token") or "no-metrics-token"]
        leaks = []
        for name in console_files:
            with open(os.path.join(CONSOLE_DIR, name), "rb") as f:
                data = f.read()
            leaks += ["%s holds %s..." % (name, s[:8]) for s in secrets if s.encode() in data]
            if b"sk-rg-" in data:
                leaks.append("%s holds a key prefix" % name)
        tap.line(not leaks, "the console's files hold no key and no secret", diag=leaks)
        db_check_line(tap, stack, "the browser run")
        made = sorted(f for f in os.listdir(shots) if f.endswith(".png")) if os.path.isdir(shots) else []
        print("# screenshots in %s: %s" % (shots, " ".join(made)))
        tap.plan()
    finally:
        stop_all(proxy, img, stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
