/* reelgate console: service worker.
 *
 * A <video> element cannot send an Authorization header, and the key must
 * never go into a URL.  This worker sits between the console's pages and
 * the server: a GET of this origin's /v1/videos/{id}/content (the player's
 * requests, Range and all) gets the key of the page that asked added as
 * "Authorization: Bearer ...", and is otherwise sent unchanged.  Nothing
 * else is touched, and nothing is cached.
 *
 * The key lives in the page's sessionStorage.  Pages tell this worker the
 * key ({type: "key", key}) and forget it ({type: "signout"}); the worker
 * keeps it in memory only, per page (client id).  A worker restarted by the
 * browser has lost it: it then asks the page itself over a MessageChannel.
 */
"use strict";

const CONTENT = /^\/v1\/videos\/[^/]+\/content$/;
const keys = new Map(); /* client id -> key */

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("message", (event) => {
	const msg = event.data || {};
	const id = event.source && event.source.id;
	if (!id)
		return;
	if (msg.type === "key" && typeof msg.key === "string")
		keys.set(id, msg.key);
	else if (msg.type === "signout")
		keys.clear();
});

/* keyOf: the key of the page with this client id, asking it when the
 * worker does not know it (after a restart).  null: no such page, or it is
 * signed out. */
async function keyOf(clientId) {
	if (!clientId)
		return null;
	if (keys.has(clientId))
		return keys.get(clientId);
	const client = await self.clients.get(clientId);
	if (!client)
		return null;
	const key = await new Promise((resolve) => {
		const ch = new MessageChannel();
		const timer = setTimeout(() => resolve(null), 3000);
		ch.port1.onmessage = (e) => {
			clearTimeout(timer);
			resolve(typeof e.data === "string" && e.data ? e.data : null);
		};
		client.postMessage({type: "key?"}, [ch.port2]);
	});
	if (key)
		keys.set(clientId, key);
	return key;
}

async function withKey(request, clientId) {
	const key = await keyOf(clientId);
	if (!key)
		return fetch(request);
	const headers = new Headers();
	for (const [name, value] of request.headers)
		headers.set(name, value);
	headers.set("Authorization", "Bearer " + key);
	return fetch(request.url, {
		method: "GET",
		headers,
		mode: "same-origin",
		credentials: "omit",
		cache: "no-store",
		redirect: "follow",
		signal: request.signal,
	});
}

self.addEventListener("fetch", (event) => {
	const req = event.request;
	if (req.method !== "GET" || req.headers.has("Authorization"))
		return;
	const url = new URL(req.url);
	if (url.origin !== self.location.origin || !CONTENT.test(url.pathname))
		return;
	/* A media element's requests come from its page (clientId); a
	 * navigation has no page of its own and is left alone (downloads are
	 * fetched by the page with the key and saved from a blob). */
	if (!event.clientId)
		return;
	event.respondWith(withKey(req, event.clientId));
});
