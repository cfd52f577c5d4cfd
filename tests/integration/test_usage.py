#!/usr/bin/env python3
"""Usage and budgets (issue 17) through the whole stack: the ledger counts
what each key made (measured from the MP4), failed and cancelled; prices
give costs at the price of the day; budgets set with `reelgate keys limit`
refuse creates across all workers in the create's own transaction; GET
/v1/usage/videos answers a key's own usage in OpenAI's bucketed page and
`reelgate usage` the operator's view; every answer of it also says the
key's budgets, what is used of each and what remains.

Videos are made by the shipped render-ffmpeg (1 s, 160x90, 12 fps: 12
frames), failures by the `fail` fake, and tasks that stay in progress by
`slow-render` (60 s).  Each test uses keys of its own.
"""
import calendar
import decimal
import json
import os
import re
import sys
import threading
import time
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MODEL, Suite, check, eq, expect_error, fake, wait_until)  # noqa: E402

suite = Suite()
test = suite.test

SMALL = {"seconds": {"min": 1, "max": 20}, "default_seconds": 1, "default_size": "160x90",
         "default_fps": 12}


def model(backend, **extra):
    m = dict(SMALL, backends=[{"backend": backend, "model": "x"}])
    m.update(extra)
    return m


STACK = {
    "workers": 3,
    "extra_models": {
        "priced": model("local", price={"per_second": 0.25}),
        "per-video": model("local", price={"per_video": "0.40"}),
        "tiered": model("local", price={"per_second_by_tier": {"480p": 0.1}}),
        "broken": model("failing"),
        "slow": model("slow"),
    },
    "backends": {
        "failing": {"type": "command", "command": fake("fail", "fake: no GPU left"),
                    "concurrency": 2},
        "slow": {"type": "command", "command": fake("slow-render", "60"), "concurrency": 4},
    },
    "configure": lambda cfg: cfg.update(usage={"currency": "EUR"}),
}


def new_key(s, *limits):
    """A new key (secret, key id), with `reelgate keys limit` options."""
    name = "u" + uuid.uuid4().hex[:8]
    secret = s.create_key(name)
    kid = s.key_id(name)
    if limits:
        s.cli("keys", "limit", kid, *[str(a) for a in limits])
    return secret, kid


def make(s, key, model=MODEL, wait=True, **extra):
    fields = {"prompt": "usage test " + uuid.uuid4().hex[:6], "model": model,
              "seconds": "1", "size": "160x90", "fps": 12}
    fields.update(extra)
    r = s.request("POST", "/v1/videos", key=key, json=fields)
    eq(r.status, 200, "create (%s)" % r.text[:300])
    vid = r.json["id"]
    if wait:
        s.wait_video(vid, key=key, timeout=90)
    return vid


def today():
    return int(time.time()) // 86400 * 86400


def usage(s, key, **q):
    q.setdefault("start_time", today())
    query = "&".join("%s=%s" % (k, v) for k, v in q.items())
    return s.request("GET", "/v1/usage/videos?" + query, key=key)


def today_results(s, key, **q):
    r = usage(s, key, **q)
    eq(r.status, 200, "usage (%s)" % r.text[:300])
    eq(r.json["object"], "page", "page")
    return r.json["data"][0]["results"]


def cli_json(s, *args):
    return json.loads(s.cli("usage", "--format", "json", *args).stdout.decode())


@test("a mixed run is counted: made seconds and frames, failed, cancelled; API and CLI agree",
      timeout=180)
def _(s):
    key, kid = new_key(s)
    done = [make(s, key), make(s, key)]
    make(s, key, model="broken")
    slow = make(s, key, model="slow", wait=False)
    eq(s.request("DELETE", "/v1/videos/" + slow, key=key).status, 200, "delete while running")
    res = today_results(s, key, group_by="model")
    by = {r["model"]: r for r in res}
    eq(set(by), {MODEL, "broken", "slow"}, "models")
    loc = by[MODEL]
    eq((loc["videos"], loc["completed"], loc["failed"], loc["cancelled"], loc["in_progress"]),
       (2, 2, 0, 0, 0), "local counts")
    eq(loc["frames"], 24, "frames made (2 x 1 s at 12 fps, read from the MP4s)")
    eq(loc["unmeasured"], 0, "every output measured")
    check(1.9 <= loc["seconds"] <= 2.1, "seconds made", loc)
    eq(loc["reserved_seconds"], 0, "nothing reserved once finished")
    eq((by["broken"]["failed"], by["broken"]["seconds"]), (1, 0), "the failure made nothing")
    eq((by["slow"]["cancelled"], by["slow"]["seconds"], by["slow"]["in_progress"]), (1, 0, 0),
       "the deleted task is cancelled")
    eq(loc["cost"], {"value": 0, "currency": "eur"}, "no price, no cost")
    for r in res:
        eq(r["object"], "organization.usage.videos.result", "result object")
        eq((r["api_key_id"], r["size_tier"]), (None, None), "not grouped by key or tier")
    # the operator's view of the same key
    out = cli_json(s, "--key", kid, "--by", "model")
    rows = {r["model"]: r for r in out["rows"]}
    eq(rows[MODEL]["frames"], 24, "CLI frames")
    eq(rows[MODEL]["seconds"], loc["seconds"], "CLI seconds = API seconds")
    eq(out["total"]["videos"], 4, "CLI total videos")
    eq(out["currency"], "EUR", "currency")
    # and the video itself is still served (the ledger keeps nothing of it)
    eq(s.content(done[0], key=key).status, 200, "content")


@test("prices: cost counted from what was made, at the price of the day it was made")
def _(s):
    key, kid = new_key(s)
    make(s, key, model="priced")
    make(s, key, model="per-video")
    res = {r["model"]: r for r in today_results(s, key, group_by="model")}
    pr = res["priced"]
    check(0.2 <= pr["cost"]["value"] <= 0.3, "1 s at 0.25/s", pr)
    eq(res["per-video"]["cost"], {"value": 0.4, "currency": "eur"}, "per video")
    before = pr["cost"]["value"]
    # a new price applies to new tasks only
    models = json.loads(json.dumps(s.config["models"]))
    models["priced"]["price"] = {"per_second": 1}
    s.write_config(models=models)
    s.reload()
    try:
        make(s, key, model="priced")
        after = {r["model"]: r for r in today_results(s, key, group_by="model")}["priced"]
        check(before + 0.9 <= after["cost"]["value"] <= before + 1.1,
              "the second video at 1/s, the first still at 0.25/s", before, after)
    finally:
        models["priced"]["price"] = {"per_second": 0.25}
        s.write_config(models=models)
        s.reload()


@test("a model priced for some tiers refuses a size it has no price for (400, param size)")
def _(s):
    key, _ = new_key(s)
    r = s.request("POST", "/v1/videos", key=key,
                  json={"prompt": "x", "model": "tiered", "size": "1920x1080", "seconds": "1"})
    expect_error(r, 400, param="size", code="unsupported_value")
    check("1080p" in r.json["error"]["message"] and "tiered" in r.json["error"]["message"],
          "message names the model and tier", r.json)
    make(s, key, model="tiered")  # 160x90: 480p, priced


@test("budget race: 50 concurrent creates against 10 seconds a day make exactly 10", timeout=180)
def _(s):
    key, kid = new_key(s, "--seconds-per-day", 10)
    results = []
    lock = threading.Lock()
    go = threading.Event()

    def one():
        go.wait()
        r = s.request("POST", "/v1/videos", key=key,
                      json={"prompt": "race", "model": "slow", "seconds": "1", "size": "160x90"})
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(60)
    eq(len(results), 50, "answers")
    ok = [r for r in results if r.status == 200]
    refused = [r for r in results if r.status != 200]
    eq(len(ok), 10, "created")
    for r in refused:
        expect_error(r, 429, code="insufficient_quota")
        eq(r.json["error"]["type"], "insufficient_quota", "type")
        msg = r.json["error"]["message"]
        check("10 seconds of video a day" in msg and "resets at" in msg.lower(),
              "the message names the budget, its size and reset", msg)
        check(int(r.header("Retry-After")) > 0, "Retry-After", r.headers)
    eq(s.count(key=key), 10, "videos listed")
    # and in the ledger: 10 reserved seconds
    res = today_results(s, key)
    eq((res[0]["videos"], res[0]["reserved_seconds"]), (10, 10), "reserved")
    for r in ok:
        s.request("DELETE", "/v1/videos/" + r.json["id"], key=key)
    res = today_results(s, key)
    eq((res[0]["cancelled"], res[0]["reserved_seconds"]), (10, 0), "given back")
    make(s, key, model="slow", wait=False)  # room again


@test("failed and deleted tasks give their reservation back; completed ones count what was "
      "made; a remix is held by the same budget",
      timeout=120)
def _(s):
    key, kid = new_key(s, "--seconds-per-day", 3)
    make(s, key, model="broken")
    make(s, key, model="broken")
    make(s, key, model="broken")
    vid = make(s, key, model="slow", wait=False, seconds="3")
    r = s.request("POST", "/v1/videos", key=key, json={"prompt": "x", "model": "slow",
                                                       "seconds": "1"})
    expect_error(r, 429, code="insufficient_quota")
    check("3 are used or reserved" in r.json["error"]["message"], "used in message",
          r.json["error"]["message"])
    s.request("DELETE", "/v1/videos/" + vid, key=key)
    make(s, key)
    make(s, key)
    last = make(s, key)
    r = s.request("POST", "/v1/videos", key=key, json={"prompt": "x", "seconds": "1"})
    expect_error(r, 429, code="insufficient_quota")
    # a remix is a create too: the same budget holds it
    r = s.request("POST", "/v1/videos/%s/remix" % last, key=key, json={"prompt": "again"})
    expect_error(r, 429, code="insufficient_quota")
    check("seconds of video a day" in r.json["error"]["message"], "remix refusal",
          r.json["error"]["message"])


@test("max in flight: 429 rate_limit_exceeded with Retry-After; room again when one ends")
def _(s):
    key, kid = new_key(s, "--max-in-flight", 2)
    a = make(s, key, model="slow", wait=False)
    make(s, key, model="slow", wait=False)
    r = s.request("POST", "/v1/videos", key=key, json={"prompt": "x", "model": "slow"})
    expect_error(r, 429, code="rate_limit_exceeded")
    check("2 queued or in progress" in r.json["error"]["message"], "message",
          r.json["error"]["message"])
    check(int(r.header("Retry-After")) > 0, "Retry-After", r.headers)
    s.request("DELETE", "/v1/videos/" + a, key=key)
    make(s, key, model="slow", wait=False)
    # n counts: 2 in flight, n=2 asks for 2 more
    r = s.request("POST", "/v1/videos", key=key, json={"prompt": "x", "model": "slow", "n": 2})
    expect_error(r, 429, code="rate_limit_exceeded")


@test("cost per month: refused with the amounts in the config's currency")
def _(s):
    key, kid = new_key(s, "--cost-per-month", "0.6")
    make(s, key, model="priced")
    make(s, key, model="priced")
    r = s.request("POST", "/v1/videos", key=key, json={"prompt": "x", "model": "priced",
                                                       "seconds": "1"})
    expect_error(r, 429, code="insufficient_quota")
    msg = r.json["error"]["message"]
    check("0.60 EUR a month" in msg and "0.25" in msg, "message", msg)
    make(s, key)  # an unpriced model costs nothing
    listed = s.cli("keys", "list").stdout.decode()
    check(any(kid in line and "0.60/month" in line for line in listed.splitlines()),
          "keys list shows the budget", listed)


@test("usage endpoint: buckets, paging, group_by, isolation and the 400s")
def _(s):
    key, kid = new_key(s)
    other, _ = new_key(s)
    make(s, key)
    start = today() - 2 * 86400
    r = usage(s, key, start_time=start, limit=2)
    eq(r.status, 200, "page")
    p = r.json
    eq([b["start_time"] for b in p["data"]], [start, start + 86400], "two daily buckets")
    eq([b["end_time"] - b["start_time"] for b in p["data"]], [86400, 86400], "1d")
    eq((p["has_more"], p["next_page"]), (True, "day_%d" % (start + 2 * 86400)), "more")
    eq([b["results"] for b in p["data"]], [[], []], "nothing on the days before")
    r = usage(s, key, start_time=start, limit=2, page=p["next_page"])
    eq((len(r.json["data"]), r.json["has_more"], r.json["next_page"]), (1, False, None),
       "the last page")
    eq(r.json["data"][0]["results"][0]["videos"], 1, "today's video")
    res = today_results(s, key, **{"group_by[]": "size_tier", "group_by": "api_key_id"})
    eq((res[0]["size_tier"], res[0]["api_key_id"], res[0]["model"]), ("480p", kid, None),
       "grouped by tier and key")
    eq(today_results(s, other), [], "another key sees none of it")
    eq(p["budgets"], {}, "a key without budgets: budgets {}")
    eq(s.request("GET", "/v1/usage/videos?start_time=0", key=None).status, 401, "no key")
    for q, param in (({"start_time": ""}, "start_time"), ({"start_time": "abc"}, "start_time"),
                     ({"bucket_width": "1h"}, "bucket_width"),
                     ({"group_by": "project_id"}, "group_by"), ({"limit": 0}, "limit"),
                     ({"limit": 32}, "limit"), ({"page": "day_1"}, "page"),
                     ({"end_time": 5}, "end_time")):
        expect_error(usage(s, key, **q), 400, param=param)
    r = s.request("GET", "/v1/usage/videos", key=key)
    expect_error(r, 400, param="start_time")
    r = s.request("POST", "/v1/usage/videos?start_time=0", key=key)
    expect_error(r, 405)
    eq(r.header("Allow"), "GET", "Allow")


def exact_page(s, key):
    """Today's usage page with its numbers as Decimal (amounts compare
    exactly)."""
    r = usage(s, key)
    eq(r.status, 200, "usage (%s)" % r.text[:300])
    return json.loads(r.body, parse_float=decimal.Decimal), r.text


def next_month(t):
    y, m = time.gmtime(t)[:2]
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return calendar.timegm((y, m, 1, 0, 0, 0))


@test("budgets: a key with all four; used and remaining match the ledger", timeout=180)
def _(s):
    key, kid = new_key(s, "--seconds-per-day", 600, "--seconds-per-month", 900,
                       "--cost-per-month", "10", "--max-in-flight", 4)
    make(s, key, model="priced")
    make(s, key, model="priced")
    make(s, key, model="per-video")
    make(s, key, model="slow", wait=False, seconds="3")
    page, text = exact_page(s, key)
    res = page["data"][-1]["results"]
    eq(len(res), 1, "today's results")
    made, held = res[0]["seconds"], res[0]["reserved_seconds"]
    cost = res[0]["cost"]["value"] + res[0]["reserved_cost"]["value"]
    eq(held, 3, "the running task holds its 3 s")
    check(made >= 2, "seconds made", res)
    b = page["budgets"]
    eq(sorted(b), ["cost_per_month", "max_in_flight", "seconds_per_day", "seconds_per_month"],
       "the key's four budgets")
    now = int(time.time())
    eq(b["seconds_per_day"], {"limit": 600, "used": made + held, "remaining": 600 - made - held,
                              "resets_at": now // 86400 * 86400 + 86400},
       "seconds per day: made plus reserved today")
    eq(b["seconds_per_month"], {"limit": 900, "used": made + held,
                                "remaining": 900 - made - held, "resets_at": next_month(now)},
       "seconds per month")
    eq(b["cost_per_month"], {"limit": 10, "used": cost, "remaining": 10 - cost,
                             "currency": "EUR", "resets_at": next_month(now)},
       "cost per month, in the config's currency")
    check(cost >= decimal.Decimal("0.4"), "the per-video price counted", cost)
    eq(b["max_in_flight"], {"limit": 4, "used": 1, "remaining": 3}, "in flight")
    for m in re.finditer(r'"(?:used|remaining)":(-?[0-9.]+)', text):
        check(len(m.group(1).partition(".")[2]) <= 6, "an amount of at most 6 decimals",
              m.group(0))
    sec = json.loads(text)["budgets"]["seconds_per_day"]
    check(re.search(r'"seconds_per_day":\{"limit":600,"used":[0-9]+(\.[0-9]{1,3})?,', text),
          "seconds with at most 3 decimals", text, sec)
    # a limit lowered below what is used: nothing remains, never less
    s.cli("keys", "limit", kid, "--seconds-per-day", "1", "--max-in-flight", "1")
    b = exact_page(s, key)[0]["budgets"]
    eq((b["seconds_per_day"]["limit"], b["seconds_per_day"]["remaining"]), (1, 0),
       "remaining 0 when used passes the limit")
    eq(b["max_in_flight"], {"limit": 1, "used": 1, "remaining": 0}, "in flight at its limit")


@test("budgets: {} without any; one member per budget the key has; never another key's")
def _(s):
    plain, _ = new_key(s)
    one, one_id = new_key(s, "--max-in-flight", 7)
    other, _ = new_key(s, "--seconds-per-day", 50, "--cost-per-month", "3")
    make(s, other, model="slow", wait=False, seconds="2")
    make(s, other, model="priced")
    eq(exact_page(s, plain)[0]["budgets"], {}, "no budget")
    eq(exact_page(s, one)[0]["budgets"], {"max_in_flight": {"limit": 7, "used": 0,
                                                             "remaining": 7}},
       "only the key's own budget, nothing of the other key's use")
    b = exact_page(s, other)[0]["budgets"]
    eq(sorted(b), ["cost_per_month", "seconds_per_day"], "the other key's budgets")
    eq(b["seconds_per_day"]["limit"], 50, "its own limit")
    check(b["seconds_per_day"]["used"] > 2, "its own use", b)
    s.cli("keys", "limit", one_id, "--max-in-flight", "0")
    eq(exact_page(s, one)[0]["budgets"], {}, "a budget removed is gone")


@test("budgets: used is what the 429 says when the budget is hit", timeout=180)
def _(s):
    def refused(key, **fields):
        fields.setdefault("prompt", "over budget")
        r = s.request("POST", "/v1/videos", key=key, json=fields)
        check(r.status == 429, "refused", r)
        return r.json["error"]["message"]

    key, _ = new_key(s, "--seconds-per-day", 3)
    make(s, key)  # 1 s made (as measured)
    make(s, key, model="slow", wait=False)  # 1 s reserved
    msg = refused(key, seconds="2", model="slow")
    said = re.search(r"; ([0-9.]+) are used or reserved this day", msg)
    check(said, "the message says what is used", msg)
    b = exact_page(s, key)[0]["budgets"]["seconds_per_day"]
    eq(b["used"], decimal.Decimal(said.group(1)), "seconds used: the 429's figure")
    check(b["used"] >= 2, "made plus reserved", b)

    key, _ = new_key(s, "--cost-per-month", "0.3")
    make(s, key, model="priced")
    msg = refused(key, model="priced", seconds="1")
    said = re.search(r"; ([0-9.]+) is used or reserved this month", msg)
    check(said, "the message says what is used", msg)
    b = exact_page(s, key)[0]["budgets"]["cost_per_month"]
    eq(b["used"], decimal.Decimal(said.group(1)), "cost used: the 429's figure")
    eq(b["remaining"], decimal.Decimal("0.3") - b["used"], "cost remaining")

    key, _ = new_key(s, "--max-in-flight", 2)
    make(s, key, model="slow", wait=False)
    make(s, key, model="slow", wait=False)
    msg = refused(key, model="slow")
    said = re.search(r"and has (\d+);", msg)
    check(said, "the message says how many are in flight", msg)
    eq(exact_page(s, key)[0]["budgets"]["max_in_flight"],
       {"limit": 2, "used": int(said.group(1)), "remaining": 0}, "in flight: the 429's figure")


@test("reelgate usage: by day, model and key; table, json and csv; bad arguments exit 2")
def _(s):
    key, kid = new_key(s)
    make(s, key, model="priced")
    day = time.strftime("%Y-%m-%d", time.gmtime())
    out = cli_json(s, "--by", "key", "--from", day, "--to", day)
    rows = {r["key"]: r for r in out["rows"]}
    check(kid in rows, "the key is a row", out)
    eq(rows[kid]["videos"], 1, "its video")
    check(out["total"]["videos"] >= 1, "total")
    by_day = cli_json(s, "--key", kid)
    eq([r["day"] for r in by_day["rows"]], [day], "one day")
    csv = s.cli("usage", "--format", "csv", "--key", kid, "--by", "model").stdout.decode()
    lines = csv.strip().splitlines()
    eq(lines[0].split(",")[:3], ["model", "videos", "completed"], "csv header")
    eq(lines[1].split(",")[:3], ["priced", "1", "1"], "csv row")
    table = s.cli("usage", "--key", kid).stdout.decode()
    check(day in table and "total" in table and "EUR" in table, "table", table)
    for bad in (["--by", "week"], ["--format", "xml"], ["--from", "2026-02-30"],
                ["--from", "2026-12-07", "--to", "2026-12-01"], ["--bogus"]):
        eq(s.cli("usage", *bad, check_rc=False).returncode, 2, "bad %s" % bad)
    r = s.cli("keys", "limit", kid, check_rc=False)
    eq(r.returncode, 2, "keys limit without a limit")
    r = s.cli("keys", "limit", kid, "--cost-per-month", "1.1234567", check_rc=False)
    eq(r.returncode, 2, "finer than a micro-unit")


if __name__ == "__main__":
    sys.exit(suite.main(shared=True, **STACK))
