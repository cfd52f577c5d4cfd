/*
 * webhook: signing and delivering webhook events (webhook.h).
 */
#include "webhook.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "log.h"
#include "metrics.h"
#include "record.h"

#define PURGE_EVERY_MS (3600 * 1000)
#define KEEP_FINISHED_MS (30LL * 24 * 3600 * 1000)

int webhook_secret_new(char *out, size_t n)
{
	uint8_t raw[32];
	char b64[64];
	if (n < 6 + 45 || id_random(raw, sizeof(raw)) < 0)
		return -1;
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)sizeof(raw));
	snprintf(out, n, "whsec_%s", b64);
	return 0;
}

/* url_ok: an http(s) URL with a host, at most 2048 bytes, printable. */
int webhook_url_ok(const char *u)
{
	size_t n = strlen(u);
	if (n > 2048)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] >= 0x7f)
			return 0;
	const char *rest = strncmp(u, "https://", 8) == 0  ? u + 8
			   : strncmp(u, "http://", 7) == 0 ? u + 7
							   : NULL;
	return rest && *rest && *rest != '/' && *rest != '?' && *rest != '#';
}

int webhook_sign(const char *secret, const char *id, long long timestamp, const char *body,
		 size_t len, char *out)
{
	if (secret == NULL || strncmp(secret, "whsec_", 6) != 0)
		return -1;
	const char *b64 = secret + 6;
	size_t blen = strlen(b64);
	uint8_t key[128];
	if (codec_base64_decoded_max(blen) > sizeof(key))
		return -1;
	long klen = codec_base64_decode(b64, blen, key);
	if (klen <= 0)
		return -1;
	char head[160];
	int hn = snprintf(head, sizeof(head), "%s.%lld.", id, timestamp);
	if (hn <= 0 || (size_t)hn >= sizeof(head))
		return -1;
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	/* the signed content: id.timestamp.body, in one piece */
	uint8_t *msg = malloc((size_t)hn + len + 1);
	int ok = msg != NULL;
	if (ok) {
		memcpy(msg, head, (size_t)hn);
		memcpy(msg + hn, body, len);
		ok = HMAC(EVP_sha256(), key, (int)klen, msg, (size_t)hn + len, mac, &maclen) !=
		     NULL;
	}
	free(msg);
	OPENSSL_cleanse(key, sizeof(key));
	if (!ok)
		return -1;
	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)maclen);
	return 0;
}

long webhook_retry_delay_ms(int next, unsigned jitter)
{
	/* Standard Webhooks' example schedule: the wait before attempt 2..10 */
	static const long wait_s[] = { 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400 };
	int i = next - 2;
	if (i < 0)
		i = 0;
	if (i > 8)
		i = 8;
	long ms = wait_s[i] * 1000;
	return ms + ms / 10 * (long)(jitter & 255) / 255; /* up to 10 % later */
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int webhooks_init(struct webhooks *w, const struct config *cfg, struct store *st, CURLM *multi)
{
	memset(w, 0, sizeof(*w));
	w->cfg = cfg;
	w->st = st;
	w->multi = multi;
	w->nslots = cfg->webhook_in_flight > 0 ? cfg->webhook_in_flight : 32;
	w->slot = calloc((size_t)w->nslots, sizeof(*w->slot));
	return w->slot ? 0 : -1;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* record keeps d (taken), answered, for the next flush; until then the
 * scans pass over it (answered). */
static void record(struct webhooks *w, struct json_object *d)
{
	if (w->noutcomes == w->outcomes_cap) {
		size_t cap = w->outcomes_cap ? 2 * w->outcomes_cap : 64;
		struct json_object **a = realloc(w->outcomes, cap * sizeof(*a));
		if (a == NULL) { /* write it alone */
			enum rg_err err = store_delivery_update(w->st, d);
			if (err != RG_OK && err != RG_ENOENT)
				log_error("webhook_unrecorded", "delivery=%s err=\"%s\"",
					  rec_str(d, "id"), rg_strerror(err));
			json_object_put(d);
			return;
		}
		w->outcomes = a;
		w->outcomes_cap = cap;
	}
	if (w->noutcomes == 0)
		w->first_outcome_ms = mono_ms();
	w->outcomes[w->noutcomes++] = d;
	w->answered_now = 1;
}

/* answered: d's outcome is known but not written yet. */
static int answered(const struct webhooks *w, const char *id)
{
	for (size_t i = 0; i < w->noutcomes; i++) {
		const char *o = rec_str(w->outcomes[i], "id");
		if (o && strcmp(o, id) == 0)
			return 1;
	}
	return 0;
}

int64_t webhooks_flush_due_at(const struct webhooks *w)
{
	return w->noutcomes ? w->first_outcome_ms + WEBHOOK_FLUSH_MS : INT64_MAX;
}

int webhooks_flush(struct webhooks *w, int force)
{
	size_t n = w->noutcomes;
	if (n == 0 || (!force && n < WEBHOOK_FLUSH_MAX && mono_ms() < webhooks_flush_due_at(w)))
		return 0;
	enum rg_err err = store_deliveries_update(w->st, w->outcomes, n);
	if (err != RG_OK)
		log_error("webhook_unrecorded", "deliveries=%zu err=\"%s\"", n, rg_strerror(err));
	for (size_t i = 0; i < n; i++)
		json_object_put(w->outcomes[i]);
	w->noutcomes = 0;
	return (int)n;
}

int webhooks_answered(struct webhooks *w)
{
	int a = w->answered_now;
	w->answered_now = 0;
	return a;
}

static void free_slot(struct webhooks *w, struct webhook_slot *s)
{
	if (s->xfer) {
		curl_multi_remove_handle(w->multi, s->xfer->easy);
		transfer_free(s->xfer);
	}
	json_object_put(s->d);
	memset(s, 0, sizeof(*s));
}

void webhooks_deinit(struct webhooks *w)
{
	for (int i = 0; w->slot && i < w->nslots; i++)
		if (w->slot[i].id[0])
			free_slot(w, &w->slot[i]);
	webhooks_flush(w, 1);
	free(w->outcomes);
	free(w->slot);
	w->slot = NULL;
	w->outcomes = NULL;
}

int webhooks_busy(const struct webhooks *w)
{
	int n = 0;
	for (int i = 0; w->slot && i < w->nslots; i++)
		n += w->slot[i].id[0] != '\0';
	return n;
}

/* finish records d's final state (it puts d). */
static void finish(struct webhooks *w, struct json_object *d, const char *state, long status,
		   const char *error)
{
	int64_t now = wall_ms();
	json_object_object_add(d, "state", json_object_new_string(state));
	json_object_object_add(d, "done_at", json_object_new_int64(now));
	if (status >= 0)
		json_object_object_add(d, "last_status", json_object_new_int64(status));
	if (error)
		json_object_object_add(d, "last_error", json_object_new_string(error));
	metrics_webhook(state);
	log_info("webhook_delivery",
		 "delivery=%s event=%s video=%s endpoint=%s result=%s status=%ld", rec_str(d, "id"),
		 rec_str(d, "event_id"), rec_str(d, "video_id"),
		 rec_str(d, "endpoint_id") ? rec_str(d, "endpoint_id") : "-", state, status);
	record(w, d);
}

/* later schedules d's next attempt after a failure (or fails it after the
 * last one); it puts d. */
static void later(struct webhooks *w, struct json_object *d, long status, long hint_ms,
		  const char *why)
{
	int attempts = (int)rec_i64(d, "attempts");
	if (attempts >= WEBHOOK_ATTEMPTS) {
		finish(w, d, "failed", status, why);
		return;
	}
	uint8_t j = 0;
	if (id_random(&j, 1) < 0)
		j = 128;
	long wait = webhook_retry_delay_ms(attempts + 1, j);
	if (hint_ms > wait)
		wait = hint_ms;
	metrics_webhook("retried");
	json_object_object_add(d, "next_at", json_object_new_int64(wall_ms() + wait));
	json_object_object_add(d, "last_status", json_object_new_int64(status));
	json_object_object_add(d, "last_error", why ? json_object_new_string(why) : NULL);
	log_info("webhook_retry", "delivery=%s attempts=%d status=%ld wait_ms=%ld why=\"%s\"",
		 rec_str(d, "id"), attempts, status, wait, why ? why : "");
	record(w, d);
}

static struct webhook_slot *slot_of(struct webhooks *w, const char *id)
{
	for (int i = 0; i < w->nslots; i++)
		if (w->slot[i].id[0] && strcmp(w->slot[i].id, id) == 0)
			return &w->slot[i];
	return NULL;
}

static struct webhook_slot *free_one(struct webhooks *w)
{
	for (int i = 0; i < w->nslots; i++)
		if (w->slot[i].id[0] == '\0')
			return &w->slot[i];
	return NULL;
}

static int in_flight_to(struct webhooks *w, const char *endpoint)
{
	int n = 0;
	for (int i = 0; i < w->nslots; i++)
		n += w->slot[i].id[0] && strcmp(w->slot[i].endpoint, endpoint) == 0;
	return n;
}

/* signatures writes the header value: the current secret's v1 and, during
 * a rotation, the previous one's. */
static int signatures(struct json_object *ep, const char *id, long long ts, const char *body,
		      size_t len, char *out, size_t n)
{
	char a[WEBHOOK_SIG_MAX], b[WEBHOOK_SIG_MAX];
	if (webhook_sign(rec_str(ep, "secret"), id, ts, body, len, a) < 0)
		return -1;
	const char *old = rec_str(ep, "old_secret");
	if (old && rec_i64(ep, "old_until") > wall_ms() &&
	    webhook_sign(old, id, ts, body, len, b) == 0)
		snprintf(out, n, "%s %s", a, b);
	else
		snprintf(out, n, "%s", a);
	return 0;
}

/* send_one makes attempt number attempts+1 of d (taken) in slot s. */
static void send_one(struct webhooks *w, struct webhook_slot *s, struct json_object *d,
		     struct json_object *ep)
{
	const char *state = rec_str(ep, "state");
	if (state == NULL || strcmp(state, "enabled") != 0) {
		finish(w, d, "disabled", -1, "the endpoint is disabled");
		return;
	}
	const char *id = rec_str(d, "event_id"), *body = rec_str(d, "body"),
		   *url = rec_str(d, "url");
	if (id == NULL || body == NULL || url == NULL) {
		finish(w, d, "failed", -1, "the delivery record is incomplete");
		return;
	}
	long long ts = (long long)(wall_ms() / 1000);
	char sig[2 * WEBHOOK_SIG_MAX + 2], tss[24];
	if (signatures(ep, id, ts, body, strlen(body), sig, sizeof(sig)) < 0) {
		finish(w, d, "failed", -1, "the endpoint's secret is not a whsec_ secret");
		return;
	}
	snprintf(tss, sizeof(tss), "%lld", ts);
	struct http_req req;
	http_req_init(&req);
	snprintf(req.method, sizeof(req.method), "POST");
	snprintf(req.url, sizeof(req.url), "%s", url);
	http_req_header(&req, "Content-Type", "application/json");
	http_req_header(&req, "User-Agent", "reelgate-webhooks/" PACKAGE_VERSION);
	http_req_header(&req, "webhook-id", id);
	http_req_header(&req, "webhook-timestamp", tss);
	http_req_header(&req, "webhook-signature", sig);
	buf_append(&req.body, body, strlen(body));
	struct transfer_limits lim = {
		.connect_timeout_ms =
			w->cfg->webhook_timeout_ms < 10000 ? w->cfg->webhook_timeout_ms : 10000,
		.timeout_ms = w->cfg->webhook_timeout_ms,
		.max_bytes = 64u << 10,
		.max_redirects = 0,
		.policy = &w->cfg->webhook_policy,
	};
	struct transfer *t = transfer_new(&req, &lim, -1);
	http_req_deinit(&req);
	json_object_object_add(d, "attempts", json_object_new_int((int)rec_i64(d, "attempts") + 1));
	json_object_object_add(d, "last_at", json_object_new_int64(wall_ms()));
	if (t == NULL) {
		later(w, d, 0, 0, "out of memory");
		return;
	}
	snprintf(s->id, sizeof(s->id), "%s", rec_str(d, "id"));
	snprintf(s->endpoint, sizeof(s->endpoint), "%s", rec_str(ep, "id"));
	s->xfer = t;
	s->d = d;
	s->sent_at = wall_ms();
	t->owner = s;
	t->phase = -1;
	curl_multi_add_handle(w->multi, t->easy);
}

struct due {
	struct webhooks *w;
	struct json_object *picked[64];
	int n, room;
};

/* busy_with: d is in flight or answered (not to be sent now). */
static int busy_with(const char *id, void *arg)
{
	struct due *c = arg;
	return slot_of(c->w, id) != NULL || answered(c->w, id);
}

static int collect(struct json_object *d, void *arg)
{
	struct due *c = arg;
	if (rec_str(d, "id") == NULL)
		return 0;
	c->picked[c->n++] = json_object_get(d);
	return c->n >= c->room;
}

struct tick {
	struct webhooks *w;
	int64_t now;
};

static int tick_endpoint(struct json_object *ep, void *arg)
{
	struct tick *t = arg;
	struct webhooks *w = t->w;
	const char *epid = rec_str(ep, "id");
	if (epid == NULL)
		return 0;
	int room = w->cfg->webhook_per_endpoint - in_flight_to(w, epid);
	if (room > 64)
		room = 64;
	if (room <= 0)
		return 0;
	struct due c = { w, { 0 }, 0, room };
	/* the entries in flight or answered are passed over unread */
	enum rg_err err = store_delivery_due_skip(w->st, epid, (uint64_t)t->now, (size_t)room,
						  busy_with, collect, &c);
	if (err != RG_OK)
		log_error("webhook_scan_failed", "endpoint=%s err=\"%s\"", epid, rg_strerror(err));
	for (int i = 0; i < c.n; i++) {
		struct webhook_slot *s = free_one(w);
		if (s == NULL) {
			json_object_put(c.picked[i]);
			continue;
		}
		send_one(w, s, c.picked[i], ep);
	}
	return free_one(w) == NULL; /* every slot busy: the rest next time */
}

struct endpoints {
	struct json_object **ep;
	size_t n, cap;
};

static int keep_endpoint(struct json_object *ep, void *arg)
{
	struct endpoints *l = arg;
	const char *state = rec_str(ep, "state");
	if (state == NULL || strcmp(state, "enabled") != 0)
		return 0; /* a disabled one's deliveries wait for enable */
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct json_object **a = realloc(l->ep, cap * sizeof(*a));
		if (a == NULL)
			return 1;
		l->ep = a;
		l->cap = cap;
	}
	l->ep[l->n++] = json_object_get(ep);
	return 0;
}

void webhooks_tick(struct webhooks *w)
{
	struct tick t = { w, wall_ms() };
	if (free_one(w) != NULL) {
		/* the endpoints first (one read), then each one's due deliveries */
		struct endpoints l = { NULL, 0, 0 };
		enum rg_err err = store_webhook_list(w->st, NULL, keep_endpoint, &l);
		if (err != RG_OK)
			log_error("webhook_scan_failed", "err=\"%s\"", rg_strerror(err));
		/* start at a different endpoint each time: none is always last */
		size_t first = l.n ? (size_t)(w->rounds++ % l.n) : 0;
		int full = 0;
		for (size_t i = 0; i < l.n; i++) {
			if (!full)
				full = tick_endpoint(l.ep[(first + i) % l.n], &t);
		}
		for (size_t i = 0; i < l.n; i++)
			json_object_put(l.ep[i]);
		free(l.ep);
	}
	if (t.now >= w->next_purge_ms) {
		size_t removed = 0;
		store_delivery_purge(w->st, (uint64_t)(t.now - KEEP_FINISHED_MS), &removed);
		if (removed)
			log_info("webhook_deliveries_purged", "deliveries=%zu", removed);
		w->next_purge_ms = t.now + PURGE_EVERY_MS;
	}
}

/* disable_endpoint marks the endpoint of d disabled after a 410. */
static void disable_endpoint(struct webhooks *w, const char *epid)
{
	struct json_object *ep = NULL;
	if (epid == NULL || store_webhook_get(w->st, epid, &ep) != RG_OK)
		return;
	json_object_object_add(ep, "state", json_object_new_string("disabled"));
	json_object_object_add(
		ep, "disabled_reason",
		json_object_new_string("the endpoint answered 410 Gone; add it again to resume"));
	if (store_webhook_put(w->st, ep) == RG_OK)
		log_info("webhook_endpoint_disabled", "endpoint=%s why=410", epid);
	json_object_put(ep);
}

int webhooks_done(struct webhooks *w, struct transfer *t)
{
	struct webhook_slot *s = NULL;
	for (int i = 0; i < w->nslots && s == NULL; i++)
		if (w->slot[i].id[0] && w->slot[i].xfer == t)
			s = &w->slot[i];
	if (s == NULL)
		return 0;
	struct json_object *d = s->d;
	s->d = NULL;
	long status = t->result == CURLE_OK ? t->status : 0;
	char why[300];
	int blocked = t->blocked;
	transfer_describe(t, why, sizeof(why));
	long hint = t->retry_after[0] ? atol(t->retry_after) * 1000 : 0;
	struct json_object *cb = NULL;
	int callback = json_object_object_get_ex(d, "callback", &cb) && json_object_get_boolean(cb);
	if (hint > 86400000L)
		hint = 86400000L;
	char epid[ID_MAX];
	snprintf(epid, sizeof(epid), "%s", s->endpoint);
	free_slot(w, s); /* frees t */
	if (blocked) {
		finish(w, d, "failed", 0,
		       "the URL's address is not allowed (private or loopback; see webhooks.allow_addresses)");
	} else if (status >= 200 && status < 300) {
		w->delivered++;
		finish(w, d, "delivered", status, NULL);
	} else if (status == 410) {
		if (!callback)
			disable_endpoint(w, epid);
		finish(w, d, "disabled", status, "the receiver answered 410 Gone");
	} else {
		w->failed_attempts++;
		int throttled = status == 429 || status == 502 || status == 503 || status == 504;
		char msg[360];
		if (status > 0)
			snprintf(msg, sizeof(msg), "the receiver answered HTTP %ld", status);
		else
			snprintf(msg, sizeof(msg), "%s", why);
		later(w, d, status, throttled ? hint : 0, msg);
	}
	return 1;
}
