/* reelgate console: the page.
 *
 * A single page over reelgate's public API, with the user's own key: the
 * key is typed once, kept in this tab's sessionStorage and sent only in the
 * Authorization header of requests to this origin's /v1 (the service worker
 * sw.js adds it to the player's requests).  Views, chosen by the URL's
 * hash: #/signin, #/videos (the gallery), #/videos/<id> (the player),
 * #/new (create), #/usage.  Nothing here is a secret and nothing is kept
 * beyond the tab.
 */
import {validateCreate, allowedSeconds, fieldOfParam, priceEstimate} from "./form.js";
import {Watcher} from "./watch.js";

const KEY_ITEM = "reelgate.key";
const PAGE = 24;			/* gallery page size */
const EXTEND_SECONDS = ["4", "8", "12", "16", "20"]; /* docs/api.md, extensions */
const FINAL = new Set(["completed", "failed"]);

const main = document.getElementById("main");
const nav = document.getElementById("nav");
let models = null;	/* GET /v1/models data, loaded once per sign-in */
let watcher = null;	/* live status of running videos (watch.js) */
const blobs = new Map(); /* "id/variant" -> object URL of a fetched preview */
let viewGen = 0;	/* bumped on every navigation: stale work stops */
let viewCleanup = [];	/* functions run when the view is left */

/* ---- the key and the API ----------------------------------------------- */

function apiKey() {
	return sessionStorage.getItem(KEY_ITEM);
}

export class ApiError extends Error {
	constructor(status, body, retryAfter) {
		const err = (body && body.error) || {};
		super(err.message || `The server answered ${status}.`);
		this.status = status;
		this.type = err.type || null;
		this.code = err.code || null;
		this.param = err.param || null;
		this.retryAfter = retryAfter;
	}
}

/* request: one call of the API.  path is under /v1; body is a FormData or
 * an object (sent as JSON).  Answers the parsed JSON, or a Blob when
 * asBlob; throws ApiError for a non-2xx answer and for a network failure
 * (status 0). */
export async function request(path, {method = "GET", body, query, asBlob = false, signal} = {}) {
	const key = apiKey();
	if (!key)
		throw new ApiError(401, {error: {message: "Sign in with an API key first."}});
	const headers = {Authorization: "Bearer " + key};
	let payload;
	if (body instanceof FormData)
		payload = body;
	else if (body !== undefined) {
		headers["Content-Type"] = "application/json";
		payload = JSON.stringify(body);
	}
	let url = "/v1" + path;
	if (query) {
		const q = new URLSearchParams();
		for (const [k, v] of Object.entries(query))
			if (v !== undefined && v !== null && v !== "")
				q.set(k, String(v));
		const s = q.toString();
		if (s)
			url += "?" + s;
	}
	let res;
	try {
		res = await fetch(url, {method, headers, body: payload, signal, cache: "no-store",
					credentials: "omit", referrerPolicy: "no-referrer"});
	} catch (e) {
		if (e.name === "AbortError")
			throw e;
		throw new ApiError(0, {error: {message: "The server could not be reached: " + e.message}});
	}
	if (!res.ok) {
		let parsed = null;
		try {
			parsed = await res.json();
		} catch (e) {
			parsed = null;
		}
		const err = new ApiError(res.status, parsed, Number(res.headers.get("Retry-After")) || 0);
		if (res.status === 401 && err.code === "invalid_api_key" && watcher)
			signOut("The key was refused: " + err.message); /* revoked meanwhile */
		throw err;
	}
	return asBlob ? res.blob() : res.json();
}

async function loadModels(force = false) {
	if (!models || force)
		models = (await request("/models")).data;
	return models;
}

function modelOf(id) {
	return (models || []).find((m) => m.id === id) || null;
}

function ops(model) {
	const m = modelOf(model);
	return new Set((m && m.operations) || []);
}

/* The service worker adds the key to the player's requests; it needs the
 * key of this tab, and asks again after a restart. */
function tellWorker() {
	const sw = navigator.serviceWorker;
	if (!sw || !sw.controller)
		return;
	const key = apiKey();
	sw.controller.postMessage(key ? {type: "key", key} : {type: "signout"});
}

function startWorker() {
	const sw = navigator.serviceWorker;
	if (!sw || !window.isSecureContext)
		return;
	sw.addEventListener("message", (e) => {
		if (e.data && e.data.type === "key?" && e.ports[0])
			e.ports[0].postMessage(apiKey() || "");
	});
	sw.addEventListener("controllerchange", tellWorker);
	sw.register("sw.js", {scope: "./"}).then(tellWorker, (e) => {
		toast("The player falls back to whole downloads: " + e.message);
	});
}

/* A media URL the <video> element can play with this tab's key: the API's
 * own URL when the service worker adds the key (Range requests, playback
 * starts at once), else a blob of the whole file. */
async function playableUrl(id) {
	const sw = navigator.serviceWorker;
	if (sw && sw.controller)
		return `/v1/videos/${encodeURIComponent(id)}/content`;
	return previewUrl(id, "video");
}

/* previewUrl: an object URL of a variant of a video, fetched once. */
async function previewUrl(id, variant) {
	const k = id + "/" + variant;
	if (!blobs.has(k)) {
		const p = request(`/videos/${encodeURIComponent(id)}/content`, {query: {variant}, asBlob: true})
			.then((b) => URL.createObjectURL(b));
		blobs.set(k, p);
		p.catch(() => blobs.delete(k));
	}
	return blobs.get(k);
}

function forgetBlobs() {
	for (const p of blobs.values())
		p.then((u) => URL.revokeObjectURL(u), () => {});
	blobs.clear();
}

function signIn(key) {
	sessionStorage.setItem(KEY_ITEM, key);
	tellWorker();
	watcher = new Watcher(key, (id) => request(`/videos/${encodeURIComponent(id)}`),
			      (q) => request("/videos", {query: q}));
}

function signOut(why) {
	sessionStorage.removeItem(KEY_ITEM);
	models = null;
	forgetBlobs();
	if (watcher) {
		watcher.close();
		watcher = null;
	}
	const sw = navigator.serviceWorker;
	if (sw && sw.controller)
		sw.controller.postMessage({type: "signout"});
	go("#/signin" + (why ? "?why=" + encodeURIComponent(why) : ""));
}

/* ---- DOM helpers --------------------------------------------------------- */

/* h: an element.  attrs: properties and attributes; "on..." are listeners,
 * "class", "text", "dataset" and booleans handled; children: nodes or
 * strings (always text, never HTML). */
export function h(tag, attrs = {}, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === undefined || v === null || v === false)
			continue;
		if (k.startsWith("on"))
			el.addEventListener(k.slice(2), v);
		else if (k === "class")
			el.className = v;
		else if (k === "text")
			el.textContent = v;
		else if (k === "dataset")
			Object.assign(el.dataset, v);
		else if (k === "style")
			Object.assign(el.style, v); /* CSSOM: the CSP allows no style="" */
		else if (v === true)
			el.setAttribute(k, "");
		else
			el.setAttribute(k, String(v));
	}
	for (const c of children.flat()) {
		if (c === null || c === undefined || c === false)
			continue;
		el.append(c instanceof Node ? c : String(c));
	}
	return el;
}

/* fill: el's children become nodes (null and false are left out, where
 * replaceChildren would write "null"). */
function fill(el, ...nodes) {
	el.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
}

let toastTimer = 0;
function toast(text) {
	const t = document.getElementById("toast");
	t.textContent = text;
	t.classList.add("shown");
	clearTimeout(toastTimer);
	toastTimer = setTimeout(() => t.classList.remove("shown"), 6000);
}

function errorBox(err) {
	const box = h("div", {class: "error", role: "alert"});
	box.append(h("strong", {text: err.code ? err.code + ": " : "Error: "}), err.message);
	return box;
}

function when(unix) {
	if (!unix)
		return "—";
	return new Date(unix * 1000).toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
}

function statusBadge(v) {
	return h("span", {class: "badge s-" + v.status, dataset: {status: v.status}}, v.status.replace("_", " "));
}

function progressBar(v) {
	const p = Math.max(0, Math.min(100, Number(v.progress) || 0));
	return h("div", {class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100,
			 "aria-valuenow": p, "aria-label": "Progress"},
		 h("div", {class: "bar", style: {width: `${p}%`}}));
}

function heading(text) {
	const el = h("h1", {tabindex: "-1"}, text);
	return el;
}

/* ---- router -------------------------------------------------------------- */

function go(hash) {
	if (location.hash === hash)
		route();
	else
		location.hash = hash;
}

function route() {
	viewGen++;
	for (const f of viewCleanup)
		f();
	viewCleanup = [];
	const [path, qs] = (location.hash.slice(1) || "/videos").split("?");
	const params = new URLSearchParams(qs || "");
	const parts = path.split("/").filter(Boolean);
	if (!apiKey() && parts[0] !== "signin") {
		go("#/signin");
		return;
	}
	nav.hidden = !apiKey();
	for (const a of nav.querySelectorAll("a[data-nav]"))
		a.toggleAttribute("aria-current", a.dataset.nav === (parts[0] || "videos") && parts.length < 2);
	main.replaceChildren();
	const gen = viewGen;
	let view;
	if (parts[0] === "signin")
		view = viewSignIn(params);
	else if (parts[0] === "new")
		view = viewCreate(gen);
	else if (parts[0] === "usage")
		view = viewUsage(gen);
	else if (parts[0] === "videos" && parts[1])
		view = viewVideo(gen, decodeURIComponent(parts[1]));
	else
		view = viewGallery(gen, params);
	Promise.resolve(view).then(() => {
		if (gen !== viewGen)
			return;
		const h1 = main.querySelector("h1");
		if (h1)
			h1.focus({preventScroll: true});
	}, (e) => {
		if (gen === viewGen && e.name !== "AbortError")
			main.append(errorBox(e));
	});
}

/* ---- sign in ------------------------------------------------------------- */

function viewSignIn(params) {
	document.title = "Sign in · reelgate";
	const input = h("input", {id: "key", name: "key", type: "password", autocomplete: "off",
				  spellcheck: "false", required: true, "aria-describedby": "key-help"});
	const err = h("p", {class: "field-error", id: "key-error", "aria-live": "polite"});
	const why = params.get("why");
	const form = h("form", {class: "card narrow", novalidate: true},
		heading("Sign in"),
		why ? h("div", {class: "error", role: "alert"}, why) : null,
		h("label", {for: "key"}, "API key"),
		input,
		err,
		h("p", {class: "help", id: "key-help"},
		  "The key stays in this browser tab (session storage) and is sent only to this server's API, " +
		  "in the Authorization header. Sign out forgets it."),
		h("button", {type: "submit", class: "primary"}, "Sign in"));
	form.addEventListener("submit", async (e) => {
		e.preventDefault();
		const key = input.value.trim();
		err.textContent = "";
		input.removeAttribute("aria-invalid");
		if (!key) {
			err.textContent = "Enter the API key you were given.";
			input.setAttribute("aria-invalid", "true");
			input.focus();
			return;
		}
		sessionStorage.setItem(KEY_ITEM, key);
		try {
			await loadModels(true);
		} catch (x) {
			sessionStorage.removeItem(KEY_ITEM);
			err.textContent = x.message;
			input.setAttribute("aria-invalid", "true");
			input.focus();
			return;
		}
		signIn(key);
		go("#/videos");
	});
	main.append(form);
}

/* ---- gallery ------------------------------------------------------------- */

async function viewGallery(gen, params) {
	document.title = "Videos · reelgate";
	await loadModels();
	const status = params.get("status") || "";
	const model = params.get("model") || "";
	const limit = Math.min(100, Math.max(1, Number(params.get("limit")) || PAGE));
	const statusSel = h("select", {id: "filter-status", name: "status"},
		h("option", {value: ""}, "Any status"),
		["queued", "in_progress", "completed", "failed"].map((s) =>
			h("option", {value: s, selected: s === status}, s.replace("_", " "))));
	const modelSel = h("select", {id: "filter-model", name: "model"},
		h("option", {value: ""}, "Any model"),
		models.map((m) => h("option", {value: m.id, selected: m.id === model}, m.id)));
	const refilter = () => {
		const q = new URLSearchParams();
		if (statusSel.value)
			q.set("status", statusSel.value);
		if (modelSel.value)
			q.set("model", modelSel.value);
		if (limit !== PAGE)
			q.set("limit", String(limit));
		go("#/videos" + (q.toString() ? "?" + q : ""));
	};
	statusSel.addEventListener("change", refilter);
	modelSel.addEventListener("change", refilter);
	const grid = h("ul", {class: "grid", id: "gallery", "aria-label": "Your videos"});
	const more = h("button", {type: "button", id: "more", hidden: true}, "Load more");
	const empty = h("p", {class: "empty", hidden: true},
		"No videos here yet. ", h("a", {href: "#/new"}, "Make one"), ".");
	main.append(
		h("div", {class: "bar-row"}, heading("Your videos"),
		  h("a", {class: "button primary", href: "#/new"}, "New video")),
		h("div", {class: "filters", role: "group", "aria-label": "Filter"},
		  h("label", {for: "filter-status"}, "Status"), statusSel,
		  h("label", {for: "filter-model"}, "Model"), modelSel),
		grid, empty, more);

	const observer = new IntersectionObserver((entries) => {
		for (const e of entries)
			if (e.isIntersecting) {
				observer.unobserve(e.target);
				e.target.dispatchEvent(new Event("visible"));
			}
	}, {rootMargin: "200px"});
	viewCleanup.push(() => observer.disconnect());

	let after = null;
	let shown = 0;
	const loadPage = async () => {
		more.disabled = true;
		const page = await request("/videos", {query: {limit, after, status, model}});
		if (gen !== viewGen)
			return;
		for (const v of page.data) {
			grid.append(card(gen, v, observer));
			shown++;
		}
		after = page.last_id;
		more.hidden = !page.has_more || !after;
		more.disabled = false;
		empty.hidden = shown > 0 || page.has_more;
	};
	more.addEventListener("click", () => loadPage().catch((e) => main.append(errorBox(e))));
	await loadPage();
}

/* card: one video of the gallery, a link to its player; kept live while
 * it runs. */
function card(gen, v, observer) {
	const thumb = h("div", {class: "thumb", "aria-hidden": "true"});
	const info = h("div", {class: "info"});
	const li = h("li", {class: "card-video", dataset: {id: v.id}},
		h("a", {href: "#/videos/" + encodeURIComponent(v.id), "aria-label": `${v.status.replace("_", " ")}: ${v.prompt}`},
		  thumb, info));
	const draw = (v) => {
		li.dataset.status = v.status;
		fill(info,
			h("div", {class: "row"}, statusBadge(v), h("span", {class: "muted"}, v.model)),
			FINAL.has(v.status) ? null : progressBar(v),
			h("p", {class: "prompt"}, v.prompt),
			h("p", {class: "muted small"}, `${v.size} · ${v.seconds} s · ${when(v.created_at)}`));
		if (v.status === "completed" && !thumb.dataset.loaded) {
			thumb.dataset.loaded = "1";
			li.addEventListener("visible", () => showThumb(gen, v.id, thumb), {once: true});
			observer.observe(li);
		} else if (v.status === "failed") {
			thumb.replaceChildren(h("span", {class: "thumb-text"}, (v.error && v.error.code) || "failed"));
		} else if (v.status !== "completed") {
			thumb.replaceChildren(h("span", {class: "thumb-text"}, `${v.progress || 0}%`));
		}
	};
	draw(v);
	if (!FINAL.has(v.status) && watcher)
		viewCleanup.push(watcher.watch(v.id, draw));
	return li;
}

async function showThumb(gen, id, thumb) {
	let url;
	try {
		url = await previewUrl(id, "thumbnail");
	} catch (e) {
		thumb.replaceChildren(h("span", {class: "thumb-text"}, "no preview"));
		return;
	}
	if (gen !== viewGen)
		return;
	const img = h("img", {src: url, alt: "", loading: "lazy", decoding: "async"});
	thumb.replaceChildren(img);
	/* The spritesheet (5 x 5 frames over the whole video) as a hover scrub. */
	let sheet = null;
	const scrub = (clientX) => {
		if (!sheet)
			return;
		const r = thumb.getBoundingClientRect();
		const i = Math.max(0, Math.min(24, Math.floor(((clientX - r.left) / r.width) * 25)));
		thumb.style.backgroundPosition = `${(i % 5) * 25}% ${Math.floor(i / 5) * 25}%`;
	};
	const start = async (e) => {
		const x = e.clientX;
		if (!sheet) {
			try {
				sheet = await previewUrl(id, "spritesheet");
			} catch (err) {
				return;
			}
			thumb.style.backgroundImage = `url("${sheet}")`;
		}
		thumb.classList.add("scrubbing");
		scrub(x);
	};
	thumb.addEventListener("pointerenter", start);
	thumb.addEventListener("pointermove", (e) => scrub(e.clientX));
	thumb.addEventListener("pointerleave", () => thumb.classList.remove("scrubbing"));
}

/* ---- create -------------------------------------------------------------- */

function field(name, label, control, help) {
	const err = h("p", {class: "field-error", id: `err-${name}`, dataset: {errorFor: name}, "aria-live": "polite"});
	const wrap = h("div", {class: "field", id: `field-${name}`},
		h("label", {for: control.id || ""}, label), control,
		help ? h("p", {class: "help", id: `help-${name}`}, help) : null, err);
	control.setAttribute("aria-describedby", (help ? `help-${name} ` : "") + `err-${name}`);
	return wrap;
}

function setFieldError(form, name, message) {
	const err = form.querySelector(`[data-error-for="${name}"]`);
	if (!err)
		return false;
	err.textContent = message;
	const wrap = err.closest(".field");
	for (const c of wrap.querySelectorAll("input, select, textarea"))
		c.setAttribute("aria-invalid", "true");
	return true;
}

function clearErrors(form) {
	for (const e of form.querySelectorAll(".field-error"))
		e.textContent = "";
	for (const c of form.querySelectorAll("[aria-invalid]"))
		c.removeAttribute("aria-invalid");
	const top = form.querySelector(".form-error");
	if (top)
		top.replaceChildren();
}

/* showServerError: the server's message beside the field its param names,
 * else at the top of the form. */
function showServerError(form, err) {
	const name = fieldOfParam(err.param);
	if (name && setFieldError(form, name, err.message)) {
		const c = form.querySelector(`#field-${name} input, #field-${name} select, #field-${name} textarea`);
		if (c)
			c.focus();
		return;
	}
	const top = form.querySelector(".form-error");
	top.replaceChildren(errorBox(err));
	top.scrollIntoView({block: "nearest"});
}

async function viewCreate(gen) {
	document.title = "New video · reelgate";
	await loadModels(true);
	if (gen !== viewGen)
		return;
	const form = h("form", {class: "card create", novalidate: true, id: "create"});
	const top = h("div", {class: "form-error"});
	const modelSel = h("select", {id: "model", name: "model"},
		models.map((m) => h("option", {value: m.id}, m.id)));
	const modelInfo = h("p", {class: "help", id: "model-info"});
	const prompt = h("textarea", {id: "prompt", name: "prompt", rows: 4, required: true});
	const count = h("span", {class: "muted small", id: "prompt-count"});
	const seconds = h("div", {id: "seconds-wrap"});
	const size = h("div", {id: "size-wrap", class: "inline"});
	const fps = h("input", {id: "fps", name: "fps", type: "number", inputmode: "numeric", min: 1, step: 1});
	const seed = h("input", {id: "seed", name: "seed", type: "number", inputmode: "numeric", min: 0,
				 max: 4294967295, step: 1, placeholder: "random"});
	const n = h("input", {id: "n", name: "n", type: "number", inputmode: "numeric", min: 1, step: 1, value: 1});
	const user = h("input", {id: "user", name: "user", type: "text", maxlength: 256, placeholder: "optional"});
	const respFmt = h("select", {id: "response_format", name: "response_format"},
		h("option", {value: ""}, "default"), h("option", {value: "url"}, "url"));
	const estimate = h("p", {class: "help", id: "estimate"});

	/* The image: a file (picked or dropped) or a URL; one at a time. */
	let imageFile = null;
	const file = h("input", {id: "image-file", name: "image-file", type: "file",
				 accept: "image/png,image/jpeg,image/webp"});
	const imageUrl = h("input", {id: "image", name: "image", type: "url", placeholder: "https://… or data:image/…"});
	const preview = h("img", {id: "image-preview", alt: "Preview of the input image", hidden: true});
	const clearImg = h("button", {type: "button", id: "image-clear", hidden: true}, "Remove image");
	const drop = h("div", {class: "drop", id: "image-drop", tabindex: "0", role: "button",
			       "aria-label": "Drop an image here, or press Enter to pick a file"},
		"Drop an image here (PNG, JPEG or WebP), or ", h("span", {class: "linkish"}, "pick a file"), ".");
	let previewUrlObj = null;
	const setPreview = (src) => {
		if (previewUrlObj) {
			URL.revokeObjectURL(previewUrlObj);
			previewUrlObj = null;
		}
		if (!src) {
			preview.hidden = true;
			preview.removeAttribute("src");
			clearImg.hidden = true;
			return;
		}
		preview.src = src;
		preview.hidden = false;
		clearImg.hidden = false;
	};
	const takeFile = (f) => {
		imageFile = f || null;
		if (f) {
			imageUrl.value = "";
			previewUrlObj = null;
			const u = URL.createObjectURL(f);
			setPreview(u);
			previewUrlObj = u;
		} else
			setPreview(null);
	};
	file.addEventListener("change", () => takeFile(file.files[0]));
	imageUrl.addEventListener("input", () => {
		if (imageUrl.value.trim()) {
			imageFile = null;
			file.value = "";
			const v = imageUrl.value.trim();
			setPreview(/^(https?:|data:image\/)/i.test(v) ? v : null);
			clearImg.hidden = false;
		} else
			setPreview(null);
	});
	clearImg.addEventListener("click", () => {
		imageFile = null;
		file.value = "";
		imageUrl.value = "";
		setPreview(null);
	});
	drop.addEventListener("click", () => file.click());
	drop.addEventListener("keydown", (e) => {
		if (e.key === "Enter" || e.key === " ") {
			e.preventDefault();
			file.click();
		}
	});
	for (const t of ["dragenter", "dragover"])
		drop.addEventListener(t, (e) => {
			e.preventDefault();
			drop.classList.add("over");
		});
	drop.addEventListener("dragleave", () => drop.classList.remove("over"));
	drop.addEventListener("drop", (e) => {
		e.preventDefault();
		drop.classList.remove("over");
		const f = e.dataTransfer && e.dataTransfer.files[0];
		if (f)
			takeFile(f);
	});

	/* Metadata: key/value rows. */
	const rows = h("div", {id: "metadata-rows"});
	const addRow = (k = "", v = "") => {
		const i = rows.children.length;
		const kIn = h("input", {type: "text", class: "meta-key", "aria-label": `Metadata key ${i + 1}`, value: k});
		const vIn = h("input", {type: "text", class: "meta-value", "aria-label": `Metadata value ${i + 1}`, value: v});
		const row = h("div", {class: "meta-row"}, kIn, vIn,
			h("button", {type: "button", class: "link", "aria-label": `Remove metadata row ${i + 1}`,
				     onclick: () => row.remove()}, "Remove"));
		rows.append(row);
		return kIn;
	};
	const addMeta = h("button", {type: "button", id: "metadata-add", onclick: () => addRow().focus()}, "Add key/value");

	const drawModel = () => {
		const m = modelOf(modelSel.value);
		const c = m.capabilities || {};
		modelInfo.textContent = `Can: ${(m.operations || []).join(", ") || "create"}.`;
		prompt.maxLength = c.max_prompt_chars || 32000;
		const secs = allowedSeconds(c);
		let sc;
		if (c.seconds) {
			sc = h("select", {id: "seconds", name: "seconds"},
			       secs.map((s) => h("option", {value: s, selected: s === c.default_seconds}, `${s} s`)));
		} else {
			sc = h("input", {id: "seconds", name: "seconds", type: "number", inputmode: "numeric", step: 1,
					 min: c.seconds_min, max: c.seconds_max, value: c.default_seconds});
		}
		seconds.replaceChildren(sc);
		if (c.sizes) {
			size.replaceChildren(h("select", {id: "size", name: "size", "aria-label": "Size"},
				c.sizes.map((s) => h("option", {value: s, selected: s === c.default_size}, s.replace("x", " × ")))));
		} else {
			const [dw, dh] = (c.default_size || "1280x720").split("x");
			size.replaceChildren(
				h("input", {id: "width", name: "width", type: "number", inputmode: "numeric", step: 2,
					    min: c.min_width, max: c.max_width, value: dw, "aria-label": "Width"}),
				h("span", {"aria-hidden": "true"}, " × "),
				h("input", {id: "height", name: "height", type: "number", inputmode: "numeric", step: 2,
					    min: c.min_height, max: c.max_height, value: dh, "aria-label": "Height"}));
		}
		fps.max = c.max_fps || 60;
		fps.placeholder = `default ${c.default_fps || "—"}`;
		n.max = c.max_n || 1;
		drawEstimate();
	};
	const values = () => {
		const meta = [...rows.querySelectorAll(".meta-row")].map((r) => [
			r.querySelector(".meta-key").value, r.querySelector(".meta-value").value]);
		const q = (id) => form.querySelector("#" + id);
		return {
			model: modelSel.value, prompt: prompt.value,
			seconds: q("seconds") ? q("seconds").value : "",
			size: q("size") ? q("size").value : "",
			width: q("width") ? q("width").value : "", height: q("height") ? q("height").value : "",
			fps: fps.value, seed: seed.value, n: n.value, user: user.value,
			response_format: respFmt.value,
			imageFile, imageUrl: imageUrl.value.trim(), metadata: meta,
		};
	};
	const drawEstimate = () => {
		const m = modelOf(modelSel.value);
		const e = priceEstimate(m.capabilities || {}, values());
		estimate.textContent = e || "";
	};
	modelSel.addEventListener("change", drawModel);
	form.addEventListener("input", drawEstimate);
	prompt.addEventListener("input", () => {
		const c = modelOf(modelSel.value).capabilities || {};
		count.textContent = `${[...prompt.value].length} / ${c.max_prompt_chars || 32000}`;
	});

	const submit = h("button", {type: "submit", class: "primary", id: "create-submit"}, "Create video");
	form.append(
		heading("New video"), top,
		field("model", "Model", modelSel), modelInfo,
		field("prompt", "Prompt", prompt), count,
		h("div", {class: "cols"},
		  field("seconds", "Seconds", seconds),
		  field("size", "Size (width × height)", size)),
		h("div", {class: "cols"},
		  field("fps", "Frames per second", fps),
		  field("seed", "Seed", seed),
		  field("n", "How many", n)),
		h("fieldset", {class: "field", id: "field-image"},
		  h("legend", {}, "Image (optional): the first frame or a reference"),
		  drop, h("label", {for: "image-file", class: "sr-only"}, "Image file"), file,
		  h("label", {for: "image"}, "or an image URL"), imageUrl, preview, clearImg,
		  h("p", {class: "field-error", id: "err-image", dataset: {errorFor: "image"}, "aria-live": "polite"})),
		h("fieldset", {class: "field", id: "field-metadata"},
		  h("legend", {}, "Metadata (optional): key/value pairs echoed back"),
		  rows, addMeta,
		  h("p", {class: "field-error", id: "err-metadata", dataset: {errorFor: "metadata"}, "aria-live": "polite"})),
		h("details", {},
		  h("summary", {}, "More"),
		  h("div", {class: "cols"},
		    field("user", "User", user),
		    field("response_format", "Response format", respFmt))),
		estimate, submit);
	main.append(form);
	drawModel();

	form.addEventListener("submit", async (e) => {
		e.preventDefault();
		clearErrors(form);
		const m = modelOf(modelSel.value);
		const v = values();
		const errs = validateCreate(m.capabilities || {}, v);
		const names = Object.keys(errs);
		if (names.length) {
			for (const k of names)
				setFieldError(form, k, errs[k]);
			const first = form.querySelector(`#field-${names[0]} input, #field-${names[0]} select, #field-${names[0]} textarea, #image-drop`);
			if (first)
				first.focus();
			return;
		}
		submit.disabled = true;
		submit.textContent = "Creating…";
		try {
			const video = await request("/videos", {method: "POST", body: createBody(v)});
			go("#/videos/" + encodeURIComponent(video.id));
		} catch (x) {
			if (gen === viewGen)
				showServerError(form, x);
		} finally {
			submit.disabled = false;
			submit.textContent = "Create video";
		}
	});
}

/* createBody: the request body of POST /v1/videos: multipart when a file
 * goes with it, else JSON.  Only what the user set is sent, so that the
 * server's defaults apply to the rest. */
function createBody(v) {
	const f = {model: v.model, prompt: v.prompt};
	if (v.seconds !== "")
		f.seconds = String(v.seconds);
	if (v.size)
		f.size = v.size;
	if (v.width !== "" && v.height !== "") {
		f.width = Number(v.width);
		f.height = Number(v.height);
	}
	for (const k of ["fps", "seed", "n"])
		if (v[k] !== "")
			f[k] = Number(v[k]);
	if (v.user !== "")
		f.user = v.user;
	if (v.response_format)
		f.response_format = v.response_format;
	const meta = {};
	for (const [k, val] of v.metadata)
		if (k !== "")
			meta[k] = val;
	if (Object.keys(meta).length)
		f.metadata = meta;
	if (!v.imageFile) {
		if (v.imageUrl)
			f.input_reference = {image_url: v.imageUrl};
		return f;
	}
	const fd = new FormData();
	for (const [k, val] of Object.entries(f))
		fd.append(k, typeof val === "object" ? JSON.stringify(val) : String(val));
	fd.append("input_reference", v.imageFile, v.imageFile.name || "image");
	return fd;
}

/* ---- one video ----------------------------------------------------------- */

async function viewVideo(gen, id) {
	document.title = "Video · reelgate";
	await loadModels();
	let v;
	try {
		v = await request(`/videos/${encodeURIComponent(id)}`);
	} catch (e) {
		if (e.status === 404) {
			main.append(heading("Video not found"), errorBox(e), h("p", {}, h("a", {href: "#/videos"}, "Back to your videos")));
			return;
		}
		throw e;
	}
	if (gen !== viewGen)
		return;
	const title = heading(v.prompt.length > 80 ? v.prompt.slice(0, 79) + "…" : v.prompt);
	title.classList.add("prompt-title");
	const state = h("div", {class: "state", id: "state"});
	const stage = h("div", {class: "stage", id: "stage"});
	const details = h("dl", {class: "details", id: "details"});
	const actions = h("div", {class: "actions", id: "actions"});
	main.append(h("p", {}, h("a", {href: "#/videos"}, "← Your videos")), title, state, stage, actions, details);
	let player = null;
	const draw = async (nv) => {
		v = nv;
		document.title = `${v.status.replace("_", " ")} · ${v.prompt.slice(0, 40)} · reelgate`;
		fill(state, statusBadge(v), FINAL.has(v.status) ? null : progressBar(v),
			FINAL.has(v.status) ? null : h("span", {class: "muted", id: "progress-text"}, ` ${v.progress || 0}%`));
		drawDetails(details, v);
		drawActions(gen, actions, v);
		if (v.status === "failed") {
			const err = v.error || {};
			stage.replaceChildren(h("div", {class: "error", role: "alert", id: "video-error"},
				h("strong", {}, (err.code || "failed") + ": "), err.message || "The video failed."));
		} else if (v.status === "completed" && !player) {
			player = h("video", {id: "player", controls: true, playsinline: true, preload: "metadata"});
			stage.replaceChildren(player);
			previewUrl(v.id, "thumbnail").then((u) => {
				player.poster = u;
			}, () => {});
			try {
				player.src = await playableUrl(v.id);
			} catch (e) {
				stage.append(errorBox(e));
			}
		} else if (!FINAL.has(v.status)) {
			stage.replaceChildren(h("div", {class: "waiting"}, `This video is ${v.status.replace("_", " ")}; the page follows it.`));
		}
	};
	await draw(v);
	if (!FINAL.has(v.status) && watcher)
		viewCleanup.push(watcher.watch(v.id, (nv) => {
			if (gen === viewGen)
				draw(nv);
		}));
}

function drawDetails(dl, v) {
	const rows = [
		["ID", v.id], ["Model", v.model], ["Status", v.status], ["Size", v.size],
		["Seconds", v.seconds], ["Created", when(v.created_at)], ["Completed", when(v.completed_at)],
		["Expires", when(v.expires_at)],
	];
	dl.replaceChildren();
	for (const [k, val] of rows)
		dl.append(h("dt", {}, k), h("dd", {}, String(val)));
	if (v.remixed_from_video_id)
		dl.append(h("dt", {}, "Remix of"),
			  h("dd", {}, h("a", {href: "#/videos/" + encodeURIComponent(v.remixed_from_video_id)}, v.remixed_from_video_id)));
	const meta = v.metadata || {};
	for (const [k, val] of Object.entries(meta)) {
		if (k === "video_ids" && Array.isArray(val)) {
			dl.append(h("dt", {}, "Videos of this request"),
				  h("dd", {}, val.map((x, i) => [i ? ", " : "", h("a", {href: "#/videos/" + encodeURIComponent(x)}, x)])));
			continue;
		}
		dl.append(h("dt", {}, "metadata." + k), h("dd", {}, typeof val === "string" ? val : JSON.stringify(val)));
	}
}

/* drawActions: download, remix, extend, edit (where the model runs them),
 * delete. */
function drawActions(gen, box, v) {
	box.replaceChildren();
	const can = ops(v.model);
	if (v.status === "completed") {
		box.append(h("button", {type: "button", id: "download", onclick: () => download(v)}, "Download MP4"));
		if (can.has("remix"))
			box.append(opForm(gen, "remix", "Remix", v, false));
		if (can.has("extend"))
			box.append(opForm(gen, "extend", "Extend", v, true));
		if (can.has("edit"))
			box.append(opForm(gen, "edit", "Edit", v, false));
	}
	box.append(h("button", {type: "button", class: "danger", id: "delete", onclick: () => confirmDelete(v)}, "Delete"));
}

function opForm(gen, op, label, v, withSeconds) {
	const prompt = h("textarea", {id: `${op}-prompt`, name: "prompt", rows: 2, required: true});
	const secs = withSeconds ? h("select", {id: `${op}-seconds`, name: "seconds"},
		EXTEND_SECONDS.map((s) => h("option", {value: s}, `${s} s more`))) : null;
	const top = h("div", {class: "form-error"});
	const submit = h("button", {type: "submit", class: "primary"}, label);
	const form = h("form", {class: "op", id: `${op}-form`, novalidate: true}, top,
		field("prompt", `${label}: new prompt`, prompt),
		withSeconds ? field("seconds", "Length of the new part", secs) : null, submit);
	const det = h("details", {class: "op-box"}, h("summary", {id: `${op}-open`}, label + "…"), form);
	form.addEventListener("submit", async (e) => {
		e.preventDefault();
		clearErrors(form);
		if (!prompt.value.trim()) {
			setFieldError(form, "prompt", "Write the prompt of the new video.");
			prompt.focus();
			return;
		}
		submit.disabled = true;
		try {
			let nv;
			if (op === "remix")
				nv = await request(`/videos/${encodeURIComponent(v.id)}/remix`, {method: "POST", body: {prompt: prompt.value}});
			else if (op === "extend")
				nv = await request("/videos/extensions", {method: "POST",
					body: {prompt: prompt.value, seconds: secs.value, video: {id: v.id}}});
			else
				nv = await request("/videos/edits", {method: "POST", body: {prompt: prompt.value, video: {id: v.id}}});
			go("#/videos/" + encodeURIComponent(nv.id));
		} catch (x) {
			if (gen === viewGen)
				showServerError(form, x);
		} finally {
			submit.disabled = false;
		}
	});
	return det;
}

async function download(v) {
	try {
		const url = await previewUrl(v.id, "video");
		const a = h("a", {href: url, download: `${v.id}.mp4`, hidden: true});
		document.body.append(a);
		a.click();
		a.remove();
	} catch (e) {
		toast(e.message);
	}
}

function confirmDelete(v) {
	const yes = h("button", {type: "button", class: "danger", id: "delete-confirm"}, "Delete");
	const no = h("button", {type: "button", id: "delete-cancel", autofocus: true}, "Keep it");
	const msg = h("p", {}, "Delete this video and its files? This cannot be undone.");
	const err = h("div");
	const dlg = h("dialog", {id: "delete-dialog", "aria-labelledby": "delete-title"},
		h("h2", {id: "delete-title"}, "Delete video"), msg, err, h("div", {class: "actions"}, no, yes));
	document.body.append(dlg);
	dlg.addEventListener("close", () => dlg.remove());
	no.addEventListener("click", () => dlg.close());
	yes.addEventListener("click", async () => {
		yes.disabled = true;
		try {
			await request(`/videos/${encodeURIComponent(v.id)}`, {method: "DELETE"});
			dlg.close();
			toast("Video deleted.");
			go("#/videos");
		} catch (e) {
			err.replaceChildren(errorBox(e));
			yes.disabled = false;
		}
	});
	dlg.showModal();
}

/* ---- usage --------------------------------------------------------------- */

function fmtSeconds(s) {
	return (Math.round(Number(s) * 1000) / 1000).toLocaleString();
}

function fmtMoney(c) {
	if (!c)
		return "—";
	return `${Number(c.value).toLocaleString(undefined, {maximumFractionDigits: 6})} ${String(c.currency || "").toUpperCase()}`;
}

async function viewUsage(gen) {
	document.title = "Usage · reelgate";
	const day = 86400;
	const today = Math.floor(Date.now() / 1000 / day) * day;
	const span = h("select", {id: "usage-days"},
		[7, 14, 31].map((d) => h("option", {value: d}, `Last ${d} days`)));
	const budgets = h("section", {id: "budgets", "aria-labelledby": "budgets-title"});
	const table = h("div", {id: "usage-table"});
	main.append(heading("Usage"), budgets,
		h("section", {"aria-labelledby": "daily-title"},
		  h("div", {class: "bar-row"}, h("h2", {id: "daily-title"}, "By day and model"),
		    h("label", {for: "usage-days", class: "sr-only"}, "Period"), span),
		  table));
	const load = async () => {
		const days = Number(span.value);
		const page = await request("/usage/videos", {query: {start_time: today - (days - 1) * day,
			end_time: today + day, bucket_width: "1d", group_by: "model", limit: days}});
		if (gen !== viewGen)
			return;
		drawBudgets(budgets, page.budgets || {});
		const body = h("tbody");
		const total = {videos: 0, completed: 0, failed: 0, seconds: 0, cost: 0, currency: ""};
		for (const b of page.data.slice().reverse())
			for (const r of b.results) {
				total.videos += r.videos;
				total.completed += r.completed;
				total.failed += r.failed;
				total.seconds += Number(r.seconds);
				if (r.cost) {
					total.cost += Number(r.cost.value);
					total.currency = r.cost.currency;
				}
				body.append(h("tr", {},
					h("td", {}, new Date(b.start_time * 1000).toISOString().slice(0, 10)),
					h("td", {}, r.model || "—"), h("td", {class: "num"}, r.videos),
					h("td", {class: "num"}, r.completed), h("td", {class: "num"}, r.failed),
					h("td", {class: "num"}, r.in_progress), h("td", {class: "num"}, fmtSeconds(r.seconds)),
					h("td", {class: "num"}, fmtMoney(r.cost))));
			}
		if (!body.children.length)
			body.append(h("tr", {}, h("td", {colspan: 8, class: "empty"}, "Nothing made in this period.")));
		table.replaceChildren(h("div", {class: "table-scroll"}, h("table", {},
			h("caption", {class: "sr-only"}, "Videos made per day and model"),
			h("thead", {}, h("tr", {}, ["Day", "Model", "Videos", "Completed", "Failed", "Running", "Seconds", "Cost"]
				.map((c) => h("th", {scope: "col"}, c)))),
			body,
			h("tfoot", {}, h("tr", {}, h("th", {scope: "row", colspan: 2}, "Total"),
				h("td", {class: "num", id: "total-videos"}, total.videos), h("td", {class: "num"}, total.completed),
				h("td", {class: "num"}, total.failed), h("td"),
				h("td", {class: "num", id: "total-seconds"}, fmtSeconds(total.seconds)),
				h("td", {class: "num"}, total.currency ? fmtMoney({value: total.cost, currency: total.currency}) : "—"))))));
	};
	span.addEventListener("change", () => load().catch((e) => table.replaceChildren(errorBox(e))));
	await load();
}

const BUDGET_NAMES = {
	seconds_per_day: ["Seconds of video today (UTC)", "s"],
	seconds_per_month: ["Seconds of video this month (UTC)", "s"],
	cost_per_month: ["Spend this month (UTC)", ""],
	max_in_flight: ["Videos running at once", ""],
};

function drawBudgets(box, budgets) {
	const names = Object.keys(budgets);
	box.replaceChildren(h("h2", {id: "budgets-title"}, "Budgets"));
	if (!names.length) {
		box.append(h("p", {class: "muted", id: "no-budgets"}, "This key has no budget: it may make videos without a limit."));
		return;
	}
	const list = h("ul", {class: "budgets"});
	for (const name of names) {
		const b = budgets[name];
		const [label, unit] = BUDGET_NAMES[name] || [name, ""];
		const cur = b.currency ? " " + String(b.currency).toUpperCase() : unit ? " " + unit : "";
		const pct = b.limit > 0 ? Math.min(100, (Number(b.used) / Number(b.limit)) * 100) : 0;
		list.append(h("li", {class: "budget", dataset: {budget: name}},
			h("div", {class: "row"}, h("strong", {}, label),
			  h("span", {class: "remaining"}, `${fmtSeconds(b.remaining)}${cur} left`)),
			h("div", {class: "progress" + (pct >= 90 ? " high" : ""), role: "progressbar", "aria-label": label,
				  "aria-valuemin": 0, "aria-valuemax": Number(b.limit), "aria-valuenow": Number(b.used)},
			  h("div", {class: "bar", style: {width: `${pct}%`}})),
			h("p", {class: "muted small"}, `${fmtSeconds(b.used)} of ${fmtSeconds(b.limit)}${cur} used` +
			  (b.resets_at ? `; resets ${when(b.resets_at)}` : ""))));
	}
	box.append(list);
}

/* ---- start --------------------------------------------------------------- */

document.getElementById("signout").addEventListener("click", () => signOut());
window.addEventListener("hashchange", route);
startWorker();
if (apiKey())
	signIn(apiKey());
route();
