/*
 * store_webhooks: webhook endpoints and the deliveries of their events
 * (store.h), in the sub-database "webhooks":
 *
 *   e:<endpoint id>            the endpoint: key, URL, events, secrets, state
 *   d:<delivery id>            a delivery: the event's exact body, where it
 *                              goes, attempts, last outcome, state
 *   q:<endpoint>\0<be64 next_at><delivery id>
 *                              the pending deliveries of each endpoint (the
 *                              one whose secret signs them), by when they
 *                              are due: one endpoint's backlog never hides
 *                              another's due deliveries
 *
 * A video's terminal state and the deliveries of its event are written in
 * one transaction (kv_events_add, called by every write of a record), so a
 * crash may delay an event, never lose one, and never announce a state
 * that was not committed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "record.h"
#include "store_int.h"

#define WH_KEY_MAX 96

static size_t wh_key(char out[WH_KEY_MAX], char kind, const char *id)
{
	int n = snprintf(out, WH_KEY_MAX, "%c:%s", kind, id);
	return n > 0 && n < WH_KEY_MAX ? (size_t)n : 0;
}

/* queue_key: "q:" endpoint \0 be64(at) id. */
static size_t queue_key(uint8_t out[WH_KEY_MAX], const char *endpoint, uint64_t at, const char *id)
{
	size_t el = strlen(endpoint), len = strlen(id);
	if (2 + el + 1 + 8 + len > WH_KEY_MAX)
		return 0;
	out[0] = 'q';
	out[1] = ':';
	memcpy(out + 2, endpoint, el);
	out[2 + el] = '\0';
	for (int i = 0; i < 8; i++)
		out[3 + el + i] = (uint8_t)(at >> (56 - 8 * i));
	memcpy(out + 11 + el, id, len);
	return 11 + el + len;
}

/* queue_prefix: "q:" endpoint \0, the start of every key of endpoint's
 * queue; its length, 0 when it does not fit. */
static size_t queue_prefix(uint8_t out[WH_KEY_MAX], const char *endpoint)
{
	size_t el = strlen(endpoint);
	if (3 + el + 8 > WH_KEY_MAX)
		return 0;
	out[0] = 'q';
	out[1] = ':';
	memcpy(out + 2, endpoint, el);
	out[2 + el] = '\0';
	return 3 + el;
}

/* queue_del removes d's queue entry, if it has one. */
static int queue_del(struct store *st, MDB_txn *txn, struct json_object *d)
{
	uint8_t q[WH_KEY_MAX];
	const char *ep = rec_str(d, "endpoint_id"), *id = rec_str(d, "id");
	const char *state = rec_str(d, "state");
	if (ep == NULL || id == NULL || state == NULL || strcmp(state, "pending") != 0)
		return 0;
	size_t n = queue_key(q, ep, (uint64_t)rec_i64(d, "next_at"), id);
	MDB_val k = { n, q };
	int rc = n ? mdb_del(txn, st->webhooks, &k, NULL) : 0;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- endpoints ------------------------------------------------------------------ */

static int put_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct json_object *ep = arg;
	char key[WH_KEY_MAX];
	const char *id = rec_str(ep, "id");
	if (id == NULL || wh_key(key, 'e', id) == 0)
		return EINVAL;
	return kv_put_json(txn, st->webhooks, key, ep);
}

int kv_webhook_put(struct store *st, MDB_txn *txn, struct json_object *ep)
{
	return put_txn(st, txn, ep);
}

int kv_webhook_get(struct store *st, MDB_txn *txn, const char *id, struct json_object **out)
{
	char key[WH_KEY_MAX];
	if (wh_key(key, 'e', id) == 0)
		return MDB_NOTFOUND;
	return env_get(st, txn, st->webhooks, key, out);
}

enum rg_err store_webhook_put(struct store *st, struct json_object *ep)
{
	return env_write(st, put_txn, ep);
}

enum rg_err store_webhook_get(struct store *st, const char *id, struct json_object **out)
{
	char key[WH_KEY_MAX];
	if (wh_key(key, 'e', id) == 0)
		return RG_ENOENT;
	return kv_get_json(st, st->webhooks, key, out);
}

/* remove_txn removes the endpoint and fails its pending deliveries. */
static int remove_txn(struct store *st, MDB_txn *txn, void *arg)
{
	const char *ep = arg;
	char key[WH_KEY_MAX];
	uint8_t q[WH_KEY_MAX];
	if (wh_key(key, 'e', ep) == 0)
		return MDB_NOTFOUND;
	MDB_val k = { strlen(key), key };
	int rc = mdb_del(txn, st->webhooks, &k, NULL);
	size_t plen = queue_prefix(q, ep);
	if (rc != 0 || plen == 0)
		return rc;
	MDB_cursor *cur;
	if ((rc = mdb_cursor_open(txn, st->webhooks, &cur)) != 0)
		return rc;
	MDB_val qk = { plen, q }, v;
	for (rc = mdb_cursor_get(cur, &qk, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &qk, &v, MDB_SET_RANGE)) {
		if (qk.mv_size <= plen + 8 || memcmp(qk.mv_data, q, plen) != 0)
			break;
		char id[ID_MAX], dkey[WH_KEY_MAX];
		size_t len = qk.mv_size - plen - 8;
		memcpy(id, (const char *)qk.mv_data + plen + 8, len < ID_MAX ? len : ID_MAX - 1);
		id[len < ID_MAX ? len : ID_MAX - 1] = '\0';
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		wh_key(dkey, 'd', id);
		MDB_val dk = { strlen(dkey), dkey }, dv;
		if (mdb_get(txn, st->webhooks, &dk, &dv) == 0) {
			struct json_object *d = env_parse(&dv);
			if (d) {
				json_object_object_add(d, "state",
						       json_object_new_string("failed"));
				json_object_object_add(
					d, "last_error",
					json_object_new_string("the endpoint was removed"));
				json_object_object_add(d, "done_at",
						       json_object_new_int64((int64_t)now_ms()));
				rc = kv_put_json(txn, st->webhooks, dkey, d);
				json_object_put(d);
				if (rc != 0)
					break;
			}
		}
		qk.mv_size = plen;
		qk.mv_data = q;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

enum rg_err store_webhook_remove(struct store *st, const char *id)
{
	return env_write(st, remove_txn, (void *)id);
}

struct list_args {
	const char *key_id;
	store_webhook_fn fn;
	void *arg;
};

static int list_one(struct json_object *ep, void *arg)
{
	struct list_args *a = arg;
	const char *k = rec_str(ep, "key_id");
	if (a->key_id && (k == NULL || strcmp(k, a->key_id) != 0))
		return 0;
	return a->fn(ep, a->arg);
}

enum rg_err store_webhook_list(struct store *st, const char *key_id, store_webhook_fn fn, void *arg)
{
	struct list_args a = { key_id, fn, arg };
	return kv_scan_json(st, st->webhooks, "e:", 2, list_one, &a);
}

/* ---- events, written with the state they announce --------------------------------- */

/* subscribed: ep is enabled and takes events of type. */
static int subscribed(struct json_object *ep, const char *type)
{
	const char *state = rec_str(ep, "state");
	struct json_object *events = NULL;
	if (state == NULL || strcmp(state, "enabled") != 0)
		return 0;
	if (!json_object_object_get_ex(ep, "events", &events) ||
	    !json_object_is_type(events, json_type_array))
		return 1; /* every event */
	for (size_t i = 0; i < json_object_array_length(events); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(events, i)), type) == 0)
			return 1;
	return 0;
}

static int put_delivery(struct store *st, MDB_txn *txn, struct json_object *d)
{
	char key[WH_KEY_MAX];
	uint8_t q[WH_KEY_MAX];
	const char *id = rec_str(d, "id");
	const char *state = rec_str(d, "state"), *ep = rec_str(d, "endpoint_id");
	if (id == NULL || wh_key(key, 'd', id) == 0)
		return EINVAL;
	int rc = kv_put_json(txn, st->webhooks, key, d);
	if (rc == 0 && state && strcmp(state, "pending") == 0) {
		size_t n = ep ? queue_key(q, ep, (uint64_t)rec_i64(d, "next_at"), id) : 0;
		MDB_val k = { n, q }, v = { 0, "" };
		rc = n ? mdb_put(txn, st->webhooks, &k, &v, 0) : EINVAL;
	}
	return rc;
}

/* new_delivery makes the delivery of event (its id, type and body) to url,
 * signed with endpoint's secret. */
static struct json_object *new_delivery(const char *event_id, const char *type,
					const char *video_id, const char *owner, const char *body,
					const char *endpoint, const char *url, int callback,
					uint64_t at)
{
	char id[ID_MAX];
	if (id_prefixed_new(id, sizeof(id), "dlv_", 12) < 0)
		return NULL;
	struct json_object *d = json_object_new_object();
	if (d == NULL)
		return NULL;
	json_object_object_add(d, "id", json_object_new_string(id));
	json_object_object_add(d, "event_id", json_object_new_string(event_id));
	json_object_object_add(d, "type", json_object_new_string(type));
	json_object_object_add(d, "video_id", json_object_new_string(video_id));
	json_object_object_add(d, "key_id", json_object_new_string(owner));
	json_object_object_add(d, "endpoint_id",
			       endpoint ? json_object_new_string(endpoint) : NULL);
	json_object_object_add(d, "url", json_object_new_string(url));
	if (callback)
		json_object_object_add(d, "callback", json_object_new_boolean(1));
	json_object_object_add(d, "body", json_object_new_string(body));
	json_object_object_add(d, "created_at", json_object_new_int64((int64_t)at));
	json_object_object_add(d, "attempts", json_object_new_int(0));
	json_object_object_add(d, "state", json_object_new_string("pending"));
	json_object_object_add(d, "next_at", json_object_new_int64((int64_t)at));
	return d;
}

struct event_ctx {
	struct store *st;
	MDB_txn *txn;
	const char *owner, *type, *video_id, *event_id, *body;
	uint64_t at;
	int rc;
};

/* endpoints_of scans the endpoints of owner in txn. */
static int endpoints_of(struct event_ctx *c, char first_id[ID_MAX])
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(c->txn, c->st->webhooks, &cur);
	if (rc != 0)
		return rc;
	int64_t first_at = 0;
	first_id[0] = '\0';
	MDB_val k = { 2, "e:" }, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && c->rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 2 || memcmp(k.mv_data, "e:", 2) != 0)
			break;
		struct json_object *ep = env_parse(&v);
		const char *key_id = rec_str(ep, "key_id");
		if (ep && key_id && strcmp(key_id, c->owner) == 0) {
			const char *state = rec_str(ep, "state");
			int64_t at = rec_i64(ep, "created_at_ms");
			if (state && strcmp(state, "enabled") == 0 &&
			    (first_id[0] == '\0' || at < first_at)) {
				snprintf(first_id, ID_MAX, "%s", rec_str(ep, "id"));
				first_at = at;
			}
			if (subscribed(ep, c->type)) {
				struct json_object *d = new_delivery(
					c->event_id, c->type, c->video_id, c->owner, c->body,
					rec_str(ep, "id"), rec_str(ep, "url"), 0, c->at);
				c->rc = d ? put_delivery(c->st, c->txn, d) : ENOMEM;
				json_object_put(d);
			}
		}
		json_object_put(ep);
	}
	mdb_cursor_close(cur);
	return c->rc ? c->rc : rc == MDB_NOTFOUND ? 0 : rc;
}

int kv_events_add(struct store *st, MDB_txn *txn, const char *old_status, struct json_object *rec)
{
	const char *status = rec_str(rec, "status");
	if (status == NULL || (strcmp(status, "completed") != 0 && strcmp(status, "failed") != 0))
		return 0;
	if (old_status &&
	    (strcmp(old_status, "completed") == 0 || strcmp(old_status, "failed") == 0))
		return 0; /* announced already */
	const char *owner = rec_str(rec, "owner"), *video_id = rec_str(rec, "id");
	const char *callback = rec_str(rec_obj(rec, "params"), "callback_url");
	if (owner == NULL || video_id == NULL)
		return 0;
	char type[32], event_id[ID_MAX], first[ID_MAX];
	snprintf(type, sizeof(type), "video.%s", status);
	if (id_prefixed_new(event_id, sizeof(event_id), "evt_", 12) < 0)
		return EIO;
	uint64_t at = now_ms();
	int64_t when = strcmp(status, "completed") == 0 ? rec_i64(rec, "completed_at") : 0;
	struct json_object *ev = json_object_new_object(), *data = json_object_new_object();
	if (ev == NULL || data == NULL) {
		json_object_put(ev);
		json_object_put(data);
		return ENOMEM;
	}
	json_object_object_add(ev, "id", json_object_new_string(event_id));
	json_object_object_add(ev, "object", json_object_new_string("event"));
	json_object_object_add(ev, "created_at",
			       json_object_new_int64(when > 0 ? when : (int64_t)(at / 1000)));
	json_object_object_add(ev, "type", json_object_new_string(type));
	json_object_object_add(data, "id", json_object_new_string(video_id));
	json_object_object_add(ev, "data", data);
	const char *body = json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN);
	struct event_ctx c = { st, txn, owner, type, video_id, event_id, body, at, 0 };
	int rc = endpoints_of(&c, first);
	if (rc == 0 && callback != NULL) {
		/* signed with the key's first endpoint's secret; none left (it
		 * was removed since the create): recorded as failed */
		struct json_object *d = new_delivery(event_id, type, video_id, owner, body,
						     first[0] ? first : NULL, callback, 1, at);
		if (d && first[0] == '\0') {
			json_object_object_add(d, "state", json_object_new_string("failed"));
			json_object_object_add(
				d, "last_error",
				json_object_new_string(
					"the key has no webhook endpoint to sign with"));
			json_object_object_add(d, "done_at", json_object_new_int64((int64_t)at));
		}
		rc = d ? put_delivery(st, txn, d) : ENOMEM;
		json_object_put(d);
	}
	json_object_put(ev);
	return rc;
}

/* ---- deliveries ------------------------------------------------------------------- */

enum rg_err store_delivery_get(struct store *st, const char *id, struct json_object **out)
{
	char key[WH_KEY_MAX];
	if (wh_key(key, 'd', id) == 0)
		return RG_ENOENT;
	return kv_get_json(st, st->webhooks, key, out);
}

enum rg_err store_delivery_due(struct store *st, const char *endpoint, uint64_t now, size_t limit,
			       store_webhook_fn fn, void *arg)
{
	return store_delivery_due_skip(st, endpoint, now, limit, NULL, fn, arg);
}

/* A scan reads at most this many queue entries past the skipped ones. */
#define DUE_SCAN_MAX 4096

enum rg_err store_delivery_due_skip(struct store *st, const char *endpoint, uint64_t now,
				    size_t limit, int (*skip)(const char *id, void *arg),
				    store_webhook_fn fn, void *arg)
{
	uint8_t q[WH_KEY_MAX];
	size_t plen = queue_prefix(q, endpoint);
	if (plen == 0)
		return RG_OK;
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = env_cursor_begin(st, st->webhooks, &txn, &cur);
	if (rc != 0)
		return env_error(rc);
	enum rg_err err = RG_OK;
	size_t seen = 0, scanned = 0;
	MDB_val k = { plen, q }, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && seen < limit && scanned++ < DUE_SCAN_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *p = k.mv_data;
		if (k.mv_size <= plen + 8 || memcmp(p, q, plen) != 0)
			break;
		uint64_t at = 0;
		for (int i = 0; i < 8; i++)
			at = at << 8 | p[plen + i];
		if (at > now)
			break;
		char id[ID_MAX], key[WH_KEY_MAX];
		size_t len = k.mv_size - plen - 8;
		if (len >= ID_MAX)
			continue;
		memcpy(id, p + plen + 8, len);
		id[len] = '\0';
		if (skip && skip(id, arg))
			continue;
		wh_key(key, 'd', id);
		MDB_val dk = { strlen(key), key }, dv;
		if (mdb_get(txn, st->webhooks, &dk, &dv) != 0)
			continue;
		struct json_object *d = env_parse(&dv);
		if (d == NULL) {
			err = RG_ECORRUPT;
			break;
		}
		seen++;
		int stop = fn(d, arg);
		json_object_put(d);
		if (stop)
			break;
	}
	env_cursor_end(st, txn, cur);
	return err;
}

struct update_args {
	struct json_object *d;
	int only_pending; /* refuse (RG_ENOENT) when it is no longer pending */
};

static int update_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct update_args *a = arg;
	const char *id = rec_str(a->d, "id");
	char key[WH_KEY_MAX];
	if (id == NULL || wh_key(key, 'd', id) == 0)
		return EINVAL;
	MDB_val k = { strlen(key), key }, v;
	int rc = mdb_get(txn, st->webhooks, &k, &v);
	if (rc != 0)
		return rc;
	struct json_object *old = env_parse(&v);
	const char *state = rec_str(old, "state");
	int pending = state && strcmp(state, "pending") == 0;
	rc = queue_del(st, txn, old); /* put_delivery adds the new one */
	json_object_put(old);
	if (rc != 0)
		return rc;
	if (a->only_pending && !pending)
		return MDB_NOTFOUND;
	return put_delivery(st, txn, a->d);
}

enum rg_err store_delivery_update(struct store *st, struct json_object *d)
{
	struct update_args a = { d, 1 };
	return env_write(st, update_txn, &a);
}

struct many_args {
	struct json_object **d;
	size_t n;
};

static int many_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct many_args *a = arg;
	for (size_t i = 0; i < a->n; i++) {
		struct update_args one = { a->d[i], 1 };
		int rc = update_txn(st, txn, &one);
		if (rc != 0 && rc != MDB_NOTFOUND) /* no longer pending: skipped */
			return rc;
	}
	return 0;
}

enum rg_err store_deliveries_update(struct store *st, struct json_object **d, size_t n)
{
	struct many_args a = { d, n };
	return env_write(st, many_txn, &a);
}

enum rg_err store_delivery_redeliver(struct store *st, struct json_object *d)
{
	struct update_args a = { d, 0 };
	return env_write(st, update_txn, &a);
}

enum rg_err store_delivery_list(struct store *st, store_webhook_fn fn, void *arg)
{
	return kv_scan_json(st, st->webhooks, "d:", 2, fn, arg);
}

/* finished_before: a delivery that ended before *arg (ms). */
static int finished_before(struct json_object *d, void *arg)
{
	const char *state = rec_str(d, "state");
	return state && strcmp(state, "pending") != 0 &&
	       (uint64_t)rec_i64(d, "done_at") < *(const uint64_t *)arg;
}

enum rg_err store_delivery_purge(struct store *st, uint64_t before_ms, size_t *removed)
{
	return kv_purge_json(st, st->webhooks, "d:", 2, finished_before, &before_ms, removed);
}
