/* The web console (share/reelgate/console) in a real headless Chromium
 * (Debian's, driven with playwright-core), against a real stack: reelgate
 * behind nginx, with a capture proxy in front (tests/integration/
 * test_console.py starts all of it and runs this file under node --test).
 *
 * Each test is one thing a user does; they run in order and share what
 * they made (the first video is played, remixed, extended, deleted).  The
 * API is also called directly (fetch with the key) to compare what the page
 * shows with what the server says.  Screenshots of every page at desktop
 * and phone widths go to REELGATE_SHOTS.
 *
 * Environment: REELGATE_BASE_URL (the proxy, http://127.0.0.1:PORT),
 * REELGATE_KEY (alice), REELGATE_KEY2 (bob), REELGATE_KEY3 (carol, with
 * budgets), REELGATE_CHROMIUM, REELGATE_SHOTS, REELGATE_CAPTURE_URL,
 * REELGATE_IMAGE (a 320x180 PNG), REELGATE_IMAGE_URL (it, over HTTP).
 */
import {test, before, after} from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {chromium} from "playwright-core";

const env = process.env;
const BASE = env.REELGATE_BASE_URL;
const ALICE = env.REELGATE_KEY;
const BOB = env.REELGATE_KEY2;
const CAROL = env.REELGATE_KEY3;
const SHOTS = env.REELGATE_SHOTS;
const CAPTURE = env.REELGATE_CAPTURE_URL;
const IMAGE = env.REELGATE_IMAGE;
const IMAGE_URL = env.REELGATE_IMAGE_URL;	/* the same PNG, served on loopback */
const LOCAL = "reelgate-local";	/* a range model: width x height inputs; remix, edit, extend */
const SLOW = "reelgate-slow";	/* a list model (selects), priced, 6 s of progress per video */
const BROKEN = "reelgate-broken"; /* every video fails */

const DESKTOP = {viewport: {width: 1280, height: 800}};
const PHONE = {viewport: {width: 390, height: 844}, isMobile: true, hasTouch: true, deviceScaleFactor: 2};

let browser;
const errors = [];		/* console errors and page errors not expected */
const shared = {};		/* what earlier tests made */

/* ---- helpers --------------------------------------------------------- */

async function api(key, p, opts = {}) {
	const headers = {Authorization: "Bearer " + key};
	let body;
	if (opts.json !== undefined) {
		headers["Content-Type"] = "application/json";
		body = JSON.stringify(opts.json);
	}
	const res = await fetch(BASE + "/v1" + p, {method: opts.method || "GET", headers, body});
	const text = await res.text();
	let json = null;
	try {
		json = JSON.parse(text);
	} catch (e) {
		json = null;
	}
	return {status: res.status, json, text};
}

async function waitVideo(key, id, final = ["completed", "failed"], timeoutMs = 90000) {
	const end = Date.now() + timeoutMs;
	for (;;) {
		const r = await api(key, "/videos/" + id);
		assert.equal(r.status, 200, r.text);
		if (final.includes(r.json.status))
			return r.json;
		if (Date.now() > end)
			throw new Error(`video ${id} still ${r.json.status} after ${timeoutMs} ms`);
		await new Promise((res) => setTimeout(res, 300));
	}
}

async function captured(from = 0) {
	const r = await fetch(`${CAPTURE}/requests?from=${from}`);
	return r.json();
}

/* A context (a browser profile of its own) and a page in it whose console
 * errors are collected; allowed: regular expressions of the errors this
 * page is expected to log (the 4xx answers a test asks for). */
async function open(opts = DESKTOP, allowed = []) {
	const ctx = await browser.newContext({...opts, serviceWorkers: "allow"});
	ctx.setDefaultTimeout(60000); /* a loaded CI machine: waits are for events, not speed */
	const page = await ctx.newPage();
	watch(page, allowed);
	return {ctx, page};
}

function watch(page, allowed) {
	page.allowed = allowed;
	page.on("console", (m) => {
		if (m.type() !== "error")
			return;
		const text = m.text();
		if (!page.allowed.some((re) => re.test(text)))
			errors.push(`${page.url()}: console.error: ${text}`);
	});
	page.on("pageerror", (e) => errors.push(`${page.url()}: uncaught: ${e.message}`));
}

async function signIn(page, key) {
	await page.goto(BASE + "/#/signin");
	await page.fill("#key", key);
	await page.press("#key", "Enter");
	await page.waitForSelector("#gallery", {state: "attached"});
}

async function shot(page, name) {
	const file = path.join(SHOTS, name + ".png");
	await page.screenshot({path: file, fullPage: true});
	return file;
}

function videoIdOf(page) {
	const m = /#\/videos\/([^/?]+)/.exec(page.url());
	return m ? decodeURIComponent(m[1]) : null;
}

/* Drops a file on an element the way a user's drag and drop does: a
 * DataTransfer holding a File, through dragenter, dragover and drop. */
async function dropFile(page, selector, file, type) {
	const b64 = fs.readFileSync(file).toString("base64");
	await page.evaluate(({selector, b64, name, type}) => {
		const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
		const dt = new DataTransfer();
		dt.items.add(new File([bytes], name, {type}));
		const el = document.querySelector(selector);
		for (const t of ["dragenter", "dragover", "drop"])
			el.dispatchEvent(new DragEvent(t, {bubbles: true, cancelable: true, dataTransfer: dt}));
	}, {selector, b64, name: path.basename(file), type});
}

before(async () => {
	fs.mkdirSync(SHOTS, {recursive: true});
	browser = await chromium.launch({
		executablePath: env.REELGATE_CHROMIUM,
		args: ["--no-sandbox", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required",
		       "--disable-gpu", "--no-first-run", "--mute-audio"],
	});
});

after(async () => {
	if (browser)
		await browser.close();
});

/* ---- the scenarios ---------------------------------------------------- */

test("sign in with the keyboard: a wrong key is refused at the key field, the right one opens the gallery", async () => {
	const {ctx, page} = await open(DESKTOP, [/status of 401/]);
	shared.alice = {ctx, page};
	await page.goto(BASE + "/");
	await page.waitForSelector("#key");
	assert.match(page.url(), /#\/signin$/, "an unknown visitor lands on the sign-in page");
	/* Tab from the top of the page to the key field. */
	for (let i = 0; i < 8; i++) {
		if (await page.evaluate(() => document.activeElement && document.activeElement.id === "key"))
			break;
		await page.keyboard.press("Tab");
	}
	assert.equal(await page.evaluate(() => document.activeElement.id), "key", "Tab reaches the key field");
	await page.keyboard.type("sk-rg-not-a-key-0000000000000000000000000000");
	await page.keyboard.press("Enter");
	await page.waitForFunction(() => document.querySelector("#key-error").textContent.length > 0);
	const msg = await page.textContent("#key-error");
	const direct = await api("sk-rg-not-a-key-0000000000000000000000000000", "/models");
	assert.equal(direct.status, 401);
	assert.equal(msg, direct.json.error.message, "the server's own message, at the key field");
	assert.equal(await page.getAttribute("#key", "aria-invalid"), "true");
	assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a refused key is not kept");
	await page.fill("#key", ALICE);
	await page.keyboard.press("Enter");
	await page.waitForSelector("#gallery", {state: "attached"});
	const storage = await page.evaluate(() => ({
		session: Object.fromEntries(Object.entries(sessionStorage)),
		local: localStorage.length, cookie: document.cookie,
	}));
	assert.deepEqual(storage, {session: {"reelgate.key": ALICE}, local: 0, cookie: ""},
			 "the key is in session storage only");
	assert.equal(await page.isVisible("#nav"), true);
	await shot(page, "gallery-empty-desktop");
});

test("create: every field, an image dropped on the form, metadata rows; the page follows the video to completed", async () => {
	const {page} = shared.alice;
	await page.goto(BASE + "/#/new");
	await page.waitForSelector("#create");
	await page.selectOption("#model", LOCAL);
	await page.fill("#prompt", "A paper boat drifting down a rainy street");
	await page.fill("#seconds", "2");
	await page.fill("#width", "320");
	await page.fill("#height", "180");
	await page.fill("#fps", "12");
	await page.fill("#seed", "42");
	await page.fill("#n", "1");
	await page.click("details summary");
	await page.fill("#user", "console-user-1");
	await page.selectOption("#response_format", "url");
	await dropFile(page, "#image-drop", IMAGE, "image/png");
	await page.waitForFunction(() => {
		const img = document.querySelector("#image-preview");
		return img && !img.hidden && img.complete && img.naturalWidth === 320;
	});
	await page.click("#metadata-add");
	await page.fill("#metadata-rows .meta-row:nth-child(1) .meta-key", "style");
	await page.fill("#metadata-rows .meta-row:nth-child(1) .meta-value", "film noir");
	await page.click("#metadata-add");
	await page.fill("#metadata-rows .meta-row:nth-child(2) .meta-key", "take");
	await page.fill("#metadata-rows .meta-row:nth-child(2) .meta-value", "3");
	await shot(page, "create-filled-desktop");
	const posted = page.waitForRequest((r) => r.method() === "POST" && r.url().endsWith("/v1/videos"));
	await page.click("#create-submit");
	const req = await posted;
	assert.match(req.headers()["content-type"], /^multipart\/form-data; boundary=/, "a file goes as multipart");
	await page.waitForURL(/#\/videos\/video_/);
	const id = videoIdOf(page);
	/* The page follows it: its badge says completed without a reload. */
	await page.waitForSelector('#state [data-status="completed"]', {timeout: 90000});
	await page.waitForSelector("#player");
	const v = (await api(ALICE, "/videos/" + id)).json;
	assert.equal(v.status, "completed");
	assert.equal(v.model, LOCAL);
	assert.equal(v.size, "320x180");
	assert.equal(v.seconds, "2");
	assert.equal(v.prompt, "A paper boat drifting down a rainy street");
	assert.equal(v.metadata.style, "film noir");
	assert.equal(v.metadata.take, "3");
	assert.equal(v.metadata.seed, 42);
	assert.equal(v.metadata.fps, 12);
	assert.equal(v.metadata.user, "console-user-1");
	assert.equal(v.metadata.response_format, "url");
	/* What the page shows is what the server says. */
	const details = await page.$$eval("#details dt", (dts) =>
		Object.fromEntries(dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
	assert.equal(details.ID, id);
	assert.equal(details.Size, "320x180");
	assert.equal(details["metadata.style"], "film noir");
	shared.first = id;
});

test("watch: a running video's status and progress change on the page as the server reports them", async () => {
	const {page} = shared.alice;
	await page.goto(BASE + "/#/new");
	await page.waitForSelector("#create");
	await page.selectOption("#model", SLOW);
	/* A list model: durations and sizes are selects of what it allows. */
	assert.deepEqual(await page.$$eval("#seconds option", (o) => o.map((x) => x.value)), ["2", "4"]);
	assert.deepEqual(await page.$$eval("#size option", (o) => o.map((x) => x.value)), ["320x180", "180x320"]);
	assert.match(await page.textContent("#estimate"), /0\.1 USD/, "2 s at 0.05 a second");
	await page.fill("#prompt", "A lighthouse in a storm, slowly");
	/* An image URL shows its preview; picking a file then replaces it. */
	await page.fill("#image", IMAGE_URL);
	await page.waitForFunction(() => {
		const img = document.querySelector("#image-preview");
		return !img.hidden && img.complete && img.naturalWidth === 320;
	});
	await page.setInputFiles("#image-file", IMAGE);
	await page.waitForFunction(() => document.querySelector("#image-preview").src.startsWith("blob:"));
	assert.equal(await page.inputValue("#image"), "", "one image at a time: the URL is cleared");
	await page.click("#create-submit");
	await page.waitForURL(/#\/videos\/video_/);
	const id = videoIdOf(page);
	await page.waitForSelector("#state .badge");
	const seen = new Set();
	const progress = [];
	const end = Date.now() + 90000;
	for (;;) {
		const s = await page.$eval("#state .badge", (b) => b.dataset.status);
		seen.add(s);
		const p = await page.$$eval("#state [role=progressbar]", (b) => b.map((x) => Number(x.getAttribute("aria-valuenow"))));
		if (p.length)
			progress.push(p[0]);
		if (s === "completed" || s === "failed" || Date.now() > end)
			break;
		await page.waitForTimeout(200);
	}
	assert.ok(seen.has("in_progress"), `in_progress was shown (saw ${[...seen]})`);
	assert.ok(seen.has("completed"), `completed was shown (saw ${[...seen]})`);
	const distinct = [...new Set(progress)];
	assert.ok(distinct.length >= 3, `the progress moved on the page: ${distinct}`);
	for (let i = 1; i < progress.length; i++)
		assert.ok(progress[i] >= progress[i - 1], `progress never goes back: ${progress}`);
	shared.slow = id;
});

test("gallery: newest first with thumbnails, the spritesheet as a hover scrub, filters, paging with the cursor", async () => {
	const {page} = shared.alice;
	/* A failed video, for the filters. */
	const failed = await api(ALICE, "/videos", {method: "POST", json: {model: BROKEN, prompt: "This one breaks", seconds: "1", size: "320x180"}});
	assert.equal(failed.status, 200, failed.text);
	await waitVideo(ALICE, failed.json.id);
	shared.failed = failed.json.id;
	const all = (await api(ALICE, "/videos?limit=100")).json.data.map((v) => v.id);
	assert.equal(all.length, 3);

	await page.goto(BASE + "/#/videos");
	await page.waitForSelector("#gallery .card-video");
	const cards = await page.$$eval("#gallery .card-video", (c) => c.map((x) => x.dataset.id));
	assert.deepEqual(cards, all, "the gallery is the list API's order, newest first");
	/* Completed videos get their thumbnail (fetched with the key). */
	await page.waitForFunction((n) => [...document.querySelectorAll("#gallery .thumb img")]
		.filter((i) => i.complete && i.naturalWidth > 0).length === n, 2);
	const failedCard = `#gallery .card-video[data-id="${shared.failed}"]`;
	assert.match(await page.textContent(failedCard), /failed/);
	/* Hovering a thumbnail scrubs through the spritesheet. */
	const thumb = page.locator(`#gallery .card-video[data-id="${shared.first}"] .thumb`);
	const box = await thumb.boundingBox();
	await page.mouse.move(box.x + 2, box.y + box.height / 2);
	await page.waitForFunction((id) => {
		const t = document.querySelector(`#gallery .card-video[data-id="${id}"] .thumb`);
		return t.classList.contains("scrubbing") && t.style.backgroundImage.startsWith('url("blob:');
	}, shared.first);
	const left = await thumb.evaluate((t) => t.style.backgroundPosition);
	await page.mouse.move(box.x + box.width - 2, box.y + box.height / 2);
	const right = await thumb.evaluate((t) => t.style.backgroundPosition);
	assert.equal(left, "0% 0%");
	assert.equal(right, "100% 100%", "the last frame at the right edge");
	await page.mouse.move(0, 0);
	await shot(page, "gallery-desktop");

	/* Filters: status and model, through the list API's own filters. */
	await page.selectOption("#filter-status", "failed");
	await page.waitForURL(/status=failed/);
	await page.waitForFunction(() => document.querySelectorAll("#gallery .card-video").length === 1);
	assert.deepEqual(await page.$$eval("#gallery .card-video", (c) => c.map((x) => x.dataset.id)), [shared.failed]);
	await page.selectOption("#filter-status", "completed");
	await page.waitForURL(/status=completed/);
	await page.selectOption("#filter-model", SLOW);
	await page.waitForURL(/model=reelgate-slow/);
	await page.waitForFunction((id) => {
		const c = document.querySelectorAll("#gallery .card-video");
		return c.length === 1 && c[0].dataset.id === id;
	}, shared.slow);
	await page.selectOption("#filter-status", "queued");
	await page.waitForSelector(".empty:not([hidden])");

	/* Paging: two at a time, "Load more" follows the cursor. */
	await page.goto(BASE + "/#/videos?limit=2");
	await page.waitForFunction(() => document.querySelectorAll("#gallery .card-video").length === 2);
	const more = page.waitForRequest((r) => /\/v1\/videos\?.*after=/.test(r.url()));
	await page.click("#more");
	const req = await more;
	assert.equal(new URL(req.url()).searchParams.get("after"), all[1], "after = the last id of the page before");
	await page.waitForFunction(() => document.querySelectorAll("#gallery .card-video").length === 3);
	assert.deepEqual(await page.$$eval("#gallery .card-video", (c) => c.map((x) => x.dataset.id)), all);
	assert.equal(await page.isHidden("#more"), true, "no more pages");
	/* The keyboard reaches a card and opens it. */
	await page.focus(`#gallery .card-video[data-id="${shared.first}"] a`);
	await page.keyboard.press("Enter");
	await page.waitForURL(new RegExp(`#/videos/${shared.first}$`));
});

test("play: the player streams through the API with Range requests and plays; its duration is the video's", async () => {
	const {page} = shared.alice;
	const mark = (await captured(0)).next;
	await page.goto(BASE + "/#/videos/" + shared.first);
	await page.reload(); /* a new document: nothing of the earlier player is reused */
	await page.waitForSelector("#player");
	const src = await page.getAttribute("#player", "src");
	assert.equal(src, `/v1/videos/${shared.first}/content`, "the API's URL, with no key in it");
	await page.waitForFunction(() => document.querySelector("#player").readyState >= 1, null, {timeout: 20000});
	const duration = await page.$eval("#player", (v) => v.duration);
	assert.ok(Math.abs(duration - 2) < 0.25, `duration ${duration} for a 2 s video`);
	await page.$eval("#player", (v) => {
		v.muted = true;
		return v.play();
	});
	await page.waitForFunction(() => {
		const v = document.querySelector("#player");
		return !v.paused && v.currentTime > 0.2;
	}, null, {timeout: 20000});
	await shot(page, "video-playing-desktop");
	const reqs = (await captured(mark)).requests.filter((r) => r.path === `/v1/videos/${shared.first}/content`);
	assert.ok(reqs.length >= 1, "the player asked the API for the content");
	for (const r of reqs) {
		assert.equal(r.authorization, "Bearer " + ALICE, "the service worker added the key");
		assert.ok(r.range && /^bytes=\d+-/.test(r.range), `a Range request: ${r.range}`);
		assert.equal(r.status, 206);
	}
	/* Download: the whole MP4, as the API serves it. */
	const dl = page.waitForEvent("download");
	await page.click("#download");
	const d = await dl;
	assert.equal(d.suggestedFilename(), shared.first + ".mp4");
	const saved = fs.readFileSync(await d.path());
	const direct = await fetch(`${BASE}/v1/videos/${shared.first}/content`, {headers: {Authorization: "Bearer " + ALICE}});
	assert.deepEqual(saved, Buffer.from(await direct.arrayBuffer()));
});

test("a failed video shows its error code and message", async () => {
	const {page} = shared.alice;
	const v = (await api(ALICE, "/videos/" + shared.failed)).json;
	assert.equal(v.status, "failed");
	await page.goto(BASE + "/#/videos/" + shared.failed);
	await page.waitForSelector("#video-error");
	const text = await page.textContent("#video-error");
	assert.ok(text.includes(v.error.code) && text.includes(v.error.message), `${text} / ${JSON.stringify(v.error)}`);
	assert.equal(await page.$("#player"), null);
	assert.equal(await page.$("#remix-open"), null, "no remix of a failed video");
	await shot(page, "video-failed-desktop");
});

test("remix, extend and edit from the player page, where the model runs them", async () => {
	const {page} = shared.alice;
	const models = (await api(ALICE, "/models")).json.data;
	const ops = models.find((m) => m.id === LOCAL).operations;
	for (const op of ["remix", "extend", "edit"])
		assert.ok(ops.includes(op), `${LOCAL} runs ${op}: ${ops}`);
	/* The slow model runs no edit or extension: no buttons for them. */
	await page.goto(BASE + "/#/videos/" + shared.slow);
	await page.waitForSelector("#actions #download");
	for (const op of ["remix", "extend", "edit"]) {
		const has = (await page.$(`#${op}-open`)) !== null;
		const runs = models.find((m) => m.id === SLOW).operations.includes(op);
		assert.equal(has, runs, `${op} offered on ${SLOW} exactly when the model runs it`);
	}

	const run = async (op, fill) => {
		await page.goto(BASE + "/#/videos/" + shared.first);
		await page.waitForSelector(`#${op}-open`);
		await page.click(`#${op}-open`);
		await fill();
		await page.click(`#${op}-form button[type=submit]`);
		await page.waitForURL((u) => /#\/videos\/video_/.test(u.hash) && !u.hash.includes(shared.first));
		const id = videoIdOf(page);
		await page.waitForSelector('#state [data-status="completed"]', {timeout: 90000});
		return (await api(ALICE, "/videos/" + id)).json;
	};
	const remix = await run("remix", () => page.fill("#remix-prompt", "The same boat, at night"));
	assert.equal(remix.remixed_from_video_id, shared.first);
	assert.equal(remix.prompt, "The same boat, at night");
	assert.equal(await page.textContent(`#details a[href="#/videos/${shared.first}"]`), shared.first,
		     "the remix links to its source");
	const ext = await run("extend", async () => {
		await page.fill("#extend-prompt", "The boat sails on");
		await page.selectOption("#extend-seconds", "4");
	});
	assert.equal(ext.seconds, "6", "2 s source + 4 s");
	await page.waitForFunction(() => document.querySelector("#player").readyState >= 1);
	const d = await page.$eval("#player", (v) => v.duration);
	assert.ok(Math.abs(d - 6) < 0.3, `the extended video plays for ${d} s`);
	const edit = await run("edit", () => page.fill("#edit-prompt", "The boat, now red"));
	assert.equal(edit.seconds, "2");
	assert.equal(edit.prompt, "The boat, now red");
	shared.derived = [remix.id, ext.id, edit.id];
});

test("errors: the form refuses what the server would before sending, and the server's own errors appear at their field", async () => {
	const {page} = shared.alice;
	page.allowed.push(/status of 400/);
	await page.goto(BASE + "/#/new");
	await page.waitForSelector("#create");
	await page.selectOption("#model", LOCAL);
	const caps = (await api(ALICE, "/models/" + LOCAL)).json.capabilities;
	let posts = 0;
	const count = (r) => {
		if (r.method() === "POST")
			posts++;
	};
	page.on("request", count);
	/* Refused here, nothing sent: each at its own field. */
	await page.fill("#prompt", "   ");
	await page.fill("#seconds", String(caps.seconds_max + 1));
	await page.fill("#width", "321");
	await page.fill("#fps", String(caps.max_fps + 1));
	await page.fill("#seed", "4294967296");
	await page.fill("#n", String(caps.max_n + 1));
	await page.click("#create-submit");
	for (const f of ["prompt", "seconds", "size", "fps", "seed", "n"])
		assert.ok((await page.textContent(`#err-${f}`)).length > 0, `an error at ${f}`);
	assert.equal(await page.evaluate(() => document.activeElement.id), "prompt", "the first bad field has the focus");
	assert.equal(posts, 0, "nothing was sent");
	await shot(page, "create-invalid-desktop");
	/* The server's own refusal: metadata.seed disagrees with seed. */
	await page.fill("#prompt", "A fox in the snow");
	await page.fill("#seconds", "2");
	await page.fill("#width", "320");
	await page.fill("#fps", "");
	await page.fill("#seed", "7");
	await page.fill("#n", "1");
	await page.click("#metadata-add");
	await page.fill("#metadata-rows .meta-key", "seed");
	await page.fill("#metadata-rows .meta-value", "8");
	const answer = page.waitForResponse((r) => r.request().method() === "POST" && r.url().endsWith("/v1/videos"));
	await page.click("#create-submit");
	const res = await answer;
	assert.equal(res.status(), 400);
	const err = (await res.json()).error;
	assert.equal(err.param, "metadata.seed");
	await page.waitForFunction(() => document.querySelector("#err-metadata").textContent.length > 0);
	assert.equal(await page.textContent("#err-metadata"), err.message, "the server's message at the metadata field");
	for (const f of ["prompt", "seconds", "size", "fps", "seed", "n"])
		assert.equal(await page.textContent(`#err-${f}`), "", `no error left at ${f}`);
	assert.equal(posts, 1);
	page.off("request", count);
	await shot(page, "create-server-error-desktop");
	/* Fixed (the row removed), with an image by URL: sent as JSON. */
	await page.click("#metadata-rows .meta-row button");
	await page.fill("#image", IMAGE_URL);
	const sent = page.waitForRequest((r) => r.method() === "POST" && r.url().endsWith("/v1/videos"));
	await page.click("#create-submit");
	const req = await sent;
	assert.equal(req.headers()["content-type"], "application/json");
	assert.deepEqual(JSON.parse(req.postData()).input_reference, {image_url: IMAGE_URL});
	await page.waitForURL(/#\/videos\/video_/);
	await page.waitForSelector('#state [data-status="completed"]', {timeout: 90000});
	const v = (await api(ALICE, "/videos/" + videoIdOf(page))).json;
	assert.equal(v.metadata.image_url, IMAGE_URL);
	assert.equal(v.metadata.seed, 7);
	shared.derived.push(v.id);
});

test("usage: the key's own usage and what remains of its budgets", async () => {
	const {ctx, page} = await open(DESKTOP);
	await signIn(page, CAROL);
	const made = await api(CAROL, "/videos", {method: "POST", json: {model: SLOW, prompt: "Counted", seconds: "2", size: "320x180"}});
	assert.equal(made.status, 200, made.text);
	await waitVideo(CAROL, made.json.id);
	await page.goto(BASE + "/#/usage");
	await page.waitForSelector("#usage-table table");
	const day = 86400;
	const today = Math.floor(Date.now() / 1000 / day) * day;
	const u = (await api(CAROL, `/usage/videos?start_time=${today - 6 * day}&end_time=${today + day}&group_by=model&limit=7`)).json;
	const videos = u.data.reduce((a, b) => a + b.results.reduce((x, r) => x + r.videos, 0), 0);
	const seconds = u.data.reduce((a, b) => a + b.results.reduce((x, r) => x + r.seconds, 0), 0);
	assert.equal(videos, 1);
	assert.equal(await page.textContent("#total-videos"), "1");
	assert.equal(Number((await page.textContent("#total-seconds")).replace(/,/g, "")), Math.round(seconds * 1000) / 1000);
	assert.ok(u.budgets && u.budgets.seconds_per_day, `carol has budgets: ${JSON.stringify(u.budgets)}`);
	for (const [name, b] of Object.entries(u.budgets)) {
		const li = page.locator(`#budgets [data-budget="${name}"]`);
		assert.equal(await li.count(), 1, `budget ${name} shown`);
		const left = await li.locator(".remaining").textContent();
		assert.equal(Number(left.split(" ")[0].replace(/,/g, "")), Math.round(b.remaining * 1000) / 1000,
			     `${name}: ${left} vs ${JSON.stringify(b)}`);
	}
	await shot(page, "usage-desktop");
	await ctx.close();
	/* A key without budgets says so. */
	const {page: a} = shared.alice;
	await a.goto(BASE + "/#/usage");
	await a.waitForSelector("#no-budgets");
});

test("another key sees none of it", async () => {
	const {ctx, page} = await open(DESKTOP, [/status of 404/]);
	await signIn(page, BOB);
	await page.waitForSelector(".empty:not([hidden])");
	assert.equal(await page.$$eval("#gallery .card-video", (c) => c.length), 0, "bob's gallery is empty");
	await page.goto(BASE + "/#/videos/" + shared.first);
	await page.waitForSelector("h1");
	await page.waitForFunction(() => /not found/i.test(document.querySelector("h1").textContent));
	/* Not even through the service worker, with bob's key. */
	const status = await page.evaluate(async (id) => (await fetch(`/v1/videos/${id}/content`)).status, shared.first);
	assert.equal(status, 404);
	await page.goto(BASE + "/#/usage");
	await page.waitForSelector("#total-videos");
	assert.equal(await page.textContent("#total-videos"), "0");
	await ctx.close();
});

test("many tabs, many running videos: one tab polls for all, with backoff; every tab sees them finish", async () => {
	const {ctx} = shared.alice;
	const ids = [];
	for (let i = 0; i < 6; i++) {
		const r = await api(ALICE, "/videos", {method: "POST", json: {model: SLOW, prompt: `Running ${i}`, seconds: "2", size: "320x180"}});
		assert.equal(r.status, 200, r.text);
		ids.push(r.json.id);
	}
	const tabs = [];
	for (let i = 0; i < 3; i++) {
		/* Session storage is a tab's own: each new tab signs in. */
		const p = await ctx.newPage();
		watch(p, []);
		await signIn(p, ALICE);
		await p.waitForSelector("#gallery .card-video");
		tabs.push(p);
	}
	const mark = (await captured(0)).next;
	await tabs[0].waitForTimeout(5000);
	const polls = (await captured(mark)).requests.filter((r) => r.method === "GET" &&
		/^\/v1\/videos(\/video_[^/?]+)?(\?|$)/.test(r.path));
	/* One poller over 6 videos: at most one list a second (and a few
	 * single reads); each tab on its own would be 3 x 6 reads a second. */
	assert.ok(polls.length <= 10, `${polls.length} polls in 5 s by 3 tabs: ${polls.map((r) => r.path).join(" ")}`);
	assert.ok(polls.length >= 2, `the videos were polled (${polls.length})`);
	for (const p of tabs)
		await p.waitForFunction((ids) => ids.every((id) => {
			const c = document.querySelector(`#gallery .card-video[data-id="${id}"]`);
			return c && c.dataset.status === "completed";
		}), ids, {timeout: 90000});
	for (const p of tabs.slice(1))
		await p.close();
	shared.tab0 = tabs[0];
});

test("screenshots: every page at desktop and phone widths, nothing wider than the screen", async () => {
	for (const [label, opts] of [["desktop", DESKTOP], ["phone", PHONE]]) {
		const {ctx, page} = await open(opts);
		await page.goto(BASE + "/");
		await page.waitForSelector("#key");
		await shot(page, `signin-${label}`);
		await signIn(page, ALICE);
		const pages = [["gallery", "/#/videos", "#gallery .thumb img"],
			       ["create", "/#/new", "#create"],
			       ["video", "/#/videos/" + shared.first, "#player"],
			       ["video-failed", "/#/videos/" + shared.failed, "#video-error"],
			       ["usage", "/#/usage", "#usage-table table"]];
		for (const [name, url, sel] of pages) {
			await page.goto(BASE + url);
			await page.waitForSelector(sel);
			if (name === "gallery") { /* thumbnails load as they scroll into view */
				await page.evaluate(async () => {
					for (let y = 0; y < document.body.scrollHeight; y += window.innerHeight / 2) {
						window.scrollTo(0, y);
						await new Promise((r) => setTimeout(r, 50));
					}
				});
				await page.waitForFunction(() => [...document.querySelectorAll('#gallery .card-video[data-status="completed"]')]
					.every((c) => { const i = c.querySelector(".thumb img"); return i && i.complete && i.naturalWidth > 0; }));
				await page.evaluate(() => window.scrollTo(0, 0));
			}
			await page.waitForTimeout(300);
			const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
			assert.ok(wide <= 0, `${name} at ${label} width is ${wide} px wider than the screen`);
			await shot(page, `${name}-${label}`);
		}
		await ctx.close();
	}
});

test("delete asks first; kept on cancel, gone on confirm", async () => {
	const {page} = shared.alice;
	const id = shared.first; /* the video made, played and remixed above */
	await page.goto(BASE + "/#/videos/" + id);
	await page.waitForSelector("#delete");
	await page.click("#delete");
	await page.waitForSelector("#delete-dialog[open]");
	await shot(page, "video-delete-dialog-desktop");
	await page.keyboard.press("Escape");
	await page.waitForSelector("#delete-dialog", {state: "detached"});
	assert.equal((await api(ALICE, "/videos/" + id)).status, 200, "Escape keeps it");
	await page.click("#delete");
	await page.click("#delete-cancel");
	assert.equal((await api(ALICE, "/videos/" + id)).status, 200, "Keep it keeps it");
	await page.click("#delete");
	await page.click("#delete-confirm");
	await page.waitForURL(/#\/videos$/);
	await page.waitForSelector("#gallery .card-video");
	const ids = (await api(ALICE, "/videos?limit=100")).json.data.map((v) => v.id);
	assert.ok(!ids.includes(id), "not in the list");
	await page.waitForFunction((n) => document.querySelectorAll("#gallery .card-video").length === n, ids.length);
	assert.equal(await page.$(`#gallery .card-video[data-id="${id}"]`), null, "not in the gallery");
	assert.equal((await api(ALICE, "/videos/" + id)).status, 404, "gone from the API");
});

test("sign out forgets the key: storage, the service worker, the pages", async () => {
	let page = shared.tab0;
	if (!page) { /* the tabs test failed before keeping one */
		page = await shared.alice.ctx.newPage();
		watch(page, []);
		await signIn(page, ALICE);
	}
	page.allowed.push(/status of 401/);
	await page.click("#signout");
	await page.waitForSelector("#key");
	assert.equal(await page.evaluate(() => sessionStorage.length), 0);
	await page.goto(BASE + "/#/videos/" + shared.first);
	await page.waitForSelector("#key");
	assert.match(page.url(), /#\/signin/, "a signed-out page goes back to sign in");
	const status = await page.evaluate(async (id) => (await fetch(`/v1/videos/${id}/content`)).status, shared.first);
	assert.equal(status, 401, "the service worker no longer adds a key");
});

test("no page logged an error", () => {
	assert.deepEqual(errors, []);
});
