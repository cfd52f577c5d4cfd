/* reelgate console: live status of running videos, shared by the tabs.
 *
 * Views watch(id, callback) the videos they show while those run.  Of all
 * the tabs signed in with one key, one polls: the holder of a Web Lock
 * named after the key (the leader).  The others tell it what they watch
 * over a BroadcastChannel ("want", every few seconds and on each change)
 * and receive what it learns ("video").  So ten tabs cost what one does.
 *
 * The leader polls each wanted video on its own schedule: after 1 s, then
 * 1.5 times longer each time nothing changed, at most 8 s while a tab that
 * wants it is visible and 30 s while none is; a change starts it over.
 * When more than LIST_ABOVE videos are due at once, one GET /v1/videos of
 * the newest 100 answers for all of them (and at most LIST_ABOVE of the
 * rest are asked one by one).  A 429 waits its Retry-After; a 5xx or a
 * network failure waits 1 s, doubling to 60 s.  Finished videos are no
 * longer polled.
 */

const TICK_MS = 250;
const FIRST_MS = 1000;
const GROW = 1.5;
const VISIBLE_MAX_MS = 8000;
const HIDDEN_MAX_MS = 30000;
const ERROR_MAX_MS = 60000;
const LIST_ABOVE = 4;
const LIST_LIMIT = 100;
const WANT_EVERY_MS = 4000;
const WANT_TTL_MS = 12000;
const FINAL = new Set(["completed", "failed"]);

/* fnv: a short name for a key, for lock and channel names (not a secret's
 * protection: both are visible to this origin's pages only). */
function fnv(s) {
	let x = 0x811c9dc5;
	for (let i = 0; i < s.length; i++) {
		x ^= s.charCodeAt(i);
		x = Math.imul(x, 0x01000193) >>> 0;
	}
	return x.toString(16);
}

export class Watcher {
	/* getOne(id) → video (throws an error with .status); getList(query) →
	 * the list page. */
	constructor(key, getOne, getList) {
		this.getOne = getOne;
		this.getList = getList;
		this.name = "reelgate-watch-" + fnv(key);
		this.tab = Math.random().toString(36).slice(2) + Date.now().toString(36);
		this.subs = new Map();	/* id -> Set of callbacks, this tab's */
		this.wants = new Map();	/* leader: tab -> {ids, visible, at} */
		this.due = new Map();	/* leader: id -> {at, delay, last} */
		this.done = new Set();	/* ids seen completed or failed: never polled again */
		this.leader = false;
		this.busy = false;
		this.closed = false;
		this.pauseUntil = 0;
		this.errorDelay = 0;
		this.chan = typeof BroadcastChannel === "function" ? new BroadcastChannel(this.name) : null;
		if (this.chan)
			this.chan.onmessage = (e) => this.onMessage(e.data || {});
		this.onVisibility = () => this.announce();
		document.addEventListener("visibilitychange", this.onVisibility);
		this.ticker = setInterval(() => this.tick(), TICK_MS);
		this.announcer = setInterval(() => this.announce(), WANT_EVERY_MS);
		if (navigator.locks && this.chan) {
			navigator.locks.request(this.name, () => new Promise((resolve) => {
				if (this.closed)
					return resolve();
				this.leader = true;
				this.release = resolve;
				return undefined;
			})).catch(() => {});
		} else {
			this.leader = true; /* no way to share: each tab polls its own */
		}
	}

	/* watch: callback(video) on every news of id until it is final;
	 * returns the function that stops watching. */
	watch(id, callback) {
		if (!this.subs.has(id))
			this.subs.set(id, new Set());
		this.subs.get(id).add(callback);
		this.announce();
		return () => {
			const s = this.subs.get(id);
			if (s) {
				s.delete(callback);
				if (!s.size)
					this.subs.delete(id);
			}
			this.announce();
		};
	}

	announce() {
		if (this.closed || !this.chan)
			return;
		this.chan.postMessage({type: "want", tab: this.tab, ids: [...this.subs.keys()], visible: !document.hidden});
	}

	onMessage(m) {
		if (m.type === "want" && typeof m.tab === "string" && Array.isArray(m.ids))
			this.wants.set(m.tab, {ids: m.ids.filter((x) => typeof x === "string"), visible: !!m.visible, at: Date.now()});
		else if (m.type === "bye")
			this.wants.delete(m.tab);
		else if (m.type === "video" && m.video && typeof m.video.id === "string")
			this.deliver(m.video);
		else if (m.type === "gone" && typeof m.id === "string")
			this.subs.delete(m.id);
	}

	deliver(v) {
		const s = this.subs.get(v.id);
		if (!s)
			return;
		for (const cb of [...s])
			cb(v);
		if (FINAL.has(v.status)) {
			this.done.add(v.id);
			this.subs.delete(v.id);
			this.announce();
		}
	}

	publish(v) {
		this.deliver(v);
		if (this.chan)
			this.chan.postMessage({type: "video", video: v});
	}

	/* wanted: id -> whether a visible tab wants it. */
	wanted() {
		const now = Date.now();
		const out = new Map();
		for (const id of this.subs.keys())
			if (!this.done.has(id))
				out.set(id, !document.hidden);
		for (const [tab, w] of this.wants) {
			if (now - w.at > WANT_TTL_MS) {
				this.wants.delete(tab);
				continue;
			}
			for (const id of w.ids)
				if (!this.done.has(id))
					out.set(id, out.get(id) || w.visible);
		}
		return out;
	}

	tick() {
		if (!this.leader || this.closed || this.busy)
			return;
		const now = Date.now();
		if (now < this.pauseUntil)
			return;
		const wanted = this.wanted();
		for (const id of this.due.keys())
			if (!wanted.has(id))
				this.due.delete(id);
		const ready = [];
		for (const id of wanted.keys()) {
			if (!this.due.has(id))
				this.due.set(id, {at: now, delay: FIRST_MS, last: ""});
			if (this.due.get(id).at <= now)
				ready.push(id);
		}
		if (!ready.length)
			return;
		this.busy = true;
		this.round(ready, wanted).finally(() => {
			this.busy = false;
		});
	}

	async round(ready, wanted) {
		try {
			const got = [];
			let one = ready;
			if (ready.length > LIST_ABOVE) {
				const page = await this.getList({limit: LIST_LIMIT});
				const byId = new Map(page.data.map((v) => [v.id, v]));
				for (const id of ready)
					if (byId.has(id))
						got.push(byId.get(id));
				one = ready.filter((id) => !byId.has(id)).slice(0, LIST_ABOVE);
			}
			for (const id of one) {
				if (this.closed)
					return;
				try {
					got.push(await this.getOne(id));
				} catch (e) {
					if (e.status !== 404)
						throw e;
					this.due.delete(id); /* deleted meanwhile */
					this.subs.delete(id);
					if (this.chan)
						this.chan.postMessage({type: "gone", id});
				}
			}
			this.errorDelay = 0;
			for (const v of got) {
				if (this.closed)
					return;
				this.schedule(v, wanted.get(v.id));
				this.publish(v);
			}
		} catch (e) {
			if (e.name === "AbortError" || this.closed)
				return;
			if (e.status === 401)
				return; /* signed out (app.js) */
			this.errorDelay = Math.min(ERROR_MAX_MS, this.errorDelay ? this.errorDelay * 2 : 1000);
			const wait = e.status === 429 && e.retryAfter ? e.retryAfter * 1000 : this.errorDelay;
			this.pauseUntil = Date.now() + wait;
		}
	}

	schedule(v, visible) {
		const d = this.due.get(v.id);
		if (!d)
			return;
		if (FINAL.has(v.status)) {
			this.due.delete(v.id);
			this.done.add(v.id);
			return;
		}
		const sig = v.status + "/" + v.progress;
		const cap = visible ? VISIBLE_MAX_MS : HIDDEN_MAX_MS;
		d.delay = sig === d.last ? Math.min(cap, d.delay * GROW) : FIRST_MS;
		d.last = sig;
		d.at = Date.now() + d.delay;
	}

	close() {
		this.closed = true;
		clearInterval(this.ticker);
		clearInterval(this.announcer);
		document.removeEventListener("visibilitychange", this.onVisibility);
		if (this.chan) {
			this.chan.postMessage({type: "bye", tab: this.tab});
			this.chan.close();
		}
		if (this.release)
			this.release();
		this.subs.clear();
	}
}
