/*
 * store_kv: the keys and values of the store, as they are written and read
 * inside a transaction: the key encodings (owner \0 id, be64(due_at) id,
 * backend \0 upstream id), the one way a video record is written (with its
 * cached public object, video.c's form), its index entries, and an insert
 * with its idempotency key, rate limit and new ids.  Which transaction,
 * and when it commits, is its callers' concern (store_env.c runs them);
 * reading a record's fields is record.h's.
 */
#include "store_int.h"

#include "buf.h"
#include "download.h"
#include "record.h"
#include "video.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* kv_due_at: when the dispatcher looks at rec next (ms), 0: never. */
uint64_t kv_due_at(struct json_object *rec)
{
	int64_t n = rec_i64(rec, "due_at");
	return n > 0 ? (uint64_t)n : 0;
}

/* kv_pair_key builds owner \0 id (or owner \0 for a prefix) into out. */
size_t kv_pair_key(char *out, size_t cap, const char *a, const char *b)
{
	size_t la = strlen(a), lb = b ? strlen(b) : 0;
	if (la + 1 + lb > cap)
		return 0;
	memcpy(out, a, la);
	out[la] = '\0';
	if (lb)
		memcpy(out + la + 1, b, lb);
	return la + 1 + lb;
}

size_t kv_due_key(uint8_t *out, size_t cap, uint64_t at, const char *id)
{
	size_t lid = strlen(id);
	if (8 + lid > cap)
		return 0;
	for (int i = 7; i >= 0; i--) {
		out[i] = (uint8_t)(at & 0xff);
		at >>= 8;
	}
	memcpy(out + 8, id, lid);
	return 8 + lid;
}

int kv_put_json(MDB_txn *txn, MDB_dbi dbi, const char *key, struct json_object *rec)
{
	size_t len;
	const char *text = json_object_to_json_string_length(rec, JSON_C_TO_STRING_PLAIN, &len);
	if (text == NULL)
		return ENOMEM;
	MDB_val k = { strlen(key), (void *)key };
	MDB_val v = { len, (void *)text };
	return mdb_put(txn, dbi, &k, &v, 0);
}

/* kv_put_pub writes the cached public object of rec (video.c's form). */
int kv_put_pub(struct store *st, MDB_txn *txn, const char *id, struct json_object *rec)
{
	struct buf b;
	buf_init(&b, PUB_MAX);
	int rc = video_cache_build(rec, &b) < 0 ? EINVAL : 0;
	if (rc == 0) {
		MDB_val k = { strlen(id), (void *)id }, v = { b.len, b.data };
		rc = mdb_put(txn, st->pub, &k, &v, 0);
	}
	buf_deinit(&b);
	return rc;
}

int kv_put_download(struct store *st, MDB_txn *txn, const char *id, struct json_object *rec)
{
	struct buf b;
	buf_init(&b, PUB_MAX);
	int rc = download_build(rec, &b) < 0 ? EINVAL : 0;
	if (rc == 0) {
		MDB_val k = { strlen(id), (void *)id }, v = { b.len, b.data };
		rc = mdb_put(txn, st->download, &k, &v, 0);
	}
	buf_deinit(&b);
	return rc;
}

/* kv_put_video is the one way a video record is written: the record,
 * its cached public object and its download entry change together, so
 * neither is ever stale. */
int kv_put_video(struct store *st, MDB_txn *txn, const char *id, struct json_object *rec)
{
	int rc = kv_put_json(txn, st->videos, id, rec);
	if (rc == 0)
		rc = kv_put_pub(st, txn, id, rec);
	return rc != 0 ? rc : kv_put_download(st, txn, id, rec);
}

static int put_index(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen)
{
	MDB_val k = { klen, (void *)key }, v = { 0, (void *)"" };
	return mdb_put(txn, dbi, &k, &v, 0);
}

/* kv_index_video adds (add != 0) or removes the index entries of rec. */
int kv_index_video(struct store *st, MDB_txn *txn, struct json_object *rec, int add)
{
	const char *id = rec_str(rec, "id");
	const char *owner = rec_str(rec, "owner");
	if (id == NULL || owner == NULL)
		return EINVAL;
	char ok[OWNER_MAX + ID_MAX + 2];
	size_t oklen = kv_pair_key(ok, sizeof(ok), owner, id);
	if (oklen == 0)
		return EINVAL;
	int rc = add ? put_index(txn, st->by_owner, ok, oklen)
		     : env_del(txn, st->by_owner, ok, oklen);
	if (rc != 0)
		return rc;
	uint64_t due = kv_due_at(rec);
	if (due != 0) {
		uint8_t dk[8 + ID_MAX];
		size_t dklen = kv_due_key(dk, sizeof(dk), due, id);
		if (dklen == 0)
			return EINVAL;
		rc = add ? put_index(txn, st->due, dk, dklen) : env_del(txn, st->due, dk, dklen);
		if (rc != 0)
			return rc;
	}
	/* upstream: which task holds an upstream job (remote.backend and
	 * remote.upstream_id), so no other task can claim it. */
	struct json_object *remote, *b, *u;
	if (json_object_object_get_ex(rec, "remote", &remote) &&
	    json_object_object_get_ex(remote, "backend", &b) &&
	    json_object_object_get_ex(remote, "upstream_id", &u)) {
		char uk[512];
		size_t uklen = kv_pair_key(uk, sizeof(uk), json_object_get_string(b),
					   json_object_get_string(u));
		if (uklen == 0)
			return EINVAL;
		if (add) {
			MDB_val k = { uklen, uk }, v = { strlen(id), (void *)id };
			rc = mdb_put(txn, st->upstream, &k, &v, 0);
		} else {
			rc = env_del(txn, st->upstream, uk, uklen);
		}
	}
	return rc;
}

/* count_rate counts n creates in owner's current one-minute window, or
 * returns TXN_LIMITED when they do not fit. */
static int count_rate(struct store *st, MDB_txn *txn, struct insert_args *a)
{
	MDB_val k = { strlen(a->owner), (void *)a->owner }, v;
	uint64_t now = (uint64_t)time(NULL), start = now - now % 60;
	uint32_t count = 0;
	if (mdb_get(txn, st->rate, &k, &v) == 0 && v.mv_size == 12) {
		const uint8_t *p = v.mv_data;
		uint64_t ws = 0;
		for (int i = 0; i < 8; i++)
			ws = (ws << 8) | p[i];
		if (ws == start)
			count = ((uint32_t)p[8] << 24) | ((uint32_t)p[9] << 16) |
				((uint32_t)p[10] << 8) | p[11];
	}
	if (count + a->n > (uint64_t)a->per_minute) {
		a->retry_after = (int)(start + 60 - now);
		snprintf(a->why.which, sizeof(a->why.which), "rate_limit");
		a->why.limit = a->per_minute;
		a->why.used = count;
		a->why.asked = (int64_t)a->n;
		a->why.reset_at = (int64_t)(start + 60);
		return TXN_LIMITED;
	}
	count += (uint32_t)a->n;
	uint8_t out[12];
	for (int i = 7; i >= 0; i--) {
		out[i] = (uint8_t)(start & 0xff);
		start >>= 8;
	}
	out[8] = (uint8_t)(count >> 24);
	out[9] = (uint8_t)(count >> 16);
	out[10] = (uint8_t)(count >> 8);
	out[11] = (uint8_t)count;
	MDB_val nv = { sizeof(out), out };
	return mdb_put(txn, st->rate, &k, &nv, 0);
}

/* allocate_ids fills a->ids with ids that sort after the last stored one,
 * then has the caller build the records. */
static int allocate_ids(struct store *st, MDB_txn *txn, struct insert_args *a)
{
	MDB_cursor *cur;
	MDB_val k, d;
	char last[ID_MAX] = "";
	int rc = mdb_cursor_open(txn, st->videos, &cur);
	if (rc != 0)
		return rc;
	if (mdb_cursor_get(cur, &k, &d, MDB_LAST) == 0 && k.mv_size < ID_MAX) {
		memcpy(last, k.mv_data, k.mv_size);
		last[k.mv_size] = '\0';
	}
	mdb_cursor_close(cur);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	for (size_t i = 0; i < a->n; i++) {
		uint8_t rnd[10];
		if (id_random(rnd, sizeof(rnd)) < 0)
			return EIO;
		id_video_next(a->ids[i], last[0] ? last : NULL, now, rnd);
		memcpy(last, a->ids[i], ID_MAX);
	}
	for (size_t i = 0; i < a->n; i++) {
		json_object_put(a->recs[i]); /* from an earlier, retried attempt */
		a->recs[i] = a->build(a->ids, a->n, i, a->build_arg);
		if (a->recs[i] == NULL)
			return ENOMEM;
	}
	return 0;
}

int kv_insert(struct store *st, MDB_txn *txn, void *arg)
{
	struct insert_args *a = arg;
	const char *owner = a->owner ? a->owner : rec_str(a->recs[0], "owner");
	char ik[OWNER_MAX + IDEM_MAX + 2];
	size_t iklen = 0;
	if (owner == NULL)
		return EINVAL;
	if (a->idem != NULL) {
		iklen = kv_pair_key(ik, sizeof(ik), owner, a->idem);
		if (iklen == 0)
			return EINVAL;
		MDB_val k = { iklen, ik }, v, rv;
		if (mdb_get(txn, st->idem, &k, &v) == 0 && v.mv_size < ID_MAX) {
			MDB_val vk = { v.mv_size, v.mv_data };
			if (mdb_get(txn, st->videos, &vk, &rv) == 0) {
				memcpy(a->existing_id, v.mv_data, v.mv_size);
				a->existing_id[v.mv_size] = '\0';
				return TXN_EXISTS;
			}
		}
	}
	if (a->per_minute > 0) {
		int rc = count_rate(st, txn, a);
		if (rc != 0)
			return rc;
	}
	if (a->build != NULL) {
		int rc = allocate_ids(st, txn, a);
		if (rc != 0)
			return rc;
	}
	int rc = kv_budget_check(st, txn, owner, a->recs, a->n, &a->why);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < a->n; i++) {
		const char *id = rec_str(a->recs[i], "id");
		if (id == NULL)
			return EINVAL;
		rc = kv_put_video(st, txn, id, a->recs[i]);
		if (rc == 0)
			rc = kv_index_video(st, txn, a->recs[i], 1);
		if (rc == 0)
			rc = kv_usage_created(st, txn, a->recs[i]);
		if (rc != 0)
			return rc;
	}
	if (a->idem != NULL) {
		const char *first = rec_str(a->recs[0], "id");
		MDB_val k = { iklen, ik }, v = { strlen(first), (void *)first };
		return mdb_put(txn, st->idem, &k, &v, 0);
	}
	return 0;
}

enum rg_err kv_get_json(struct store *st, MDB_dbi dbi, const char *key, struct json_object **out)
{
	MDB_txn *txn;
	*out = NULL;
	int rc = env_read_begin(st, &txn);
	if (rc != 0)
		return env_error(rc);
	rc = env_get(st, txn, dbi, key, out);
	env_read_end(st, txn);
	return env_error(rc);
}

enum rg_err kv_scan_json(struct store *st, MDB_dbi dbi, const char *prefix, size_t plen,
			 int (*fn)(struct json_object *rec, void *arg), void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = env_cursor_begin(st, dbi, &txn, &cur);
	if (rc != 0)
		return env_error(rc);
	MDB_val k = { plen, (void *)prefix }, v;
	enum rg_err err = RG_OK;
	for (rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		struct json_object *rec = env_parse(&v);
		if (rec == NULL) {
			err = RG_ECORRUPT;
			break;
		}
		int stop = fn(rec, arg);
		json_object_put(rec);
		if (stop)
			break;
	}
	env_cursor_end(st, txn, cur);
	return err;
}

struct purge_args {
	MDB_dbi dbi;
	const char *prefix;
	size_t plen;
	int (*old)(struct json_object *rec, void *arg);
	void *arg;
	size_t removed;
};

static int purge_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct purge_args *a = arg;
	MDB_cursor *cur;
	(void)st;
	int rc = mdb_cursor_open(txn, a->dbi, &cur);
	if (rc != 0)
		return rc;
	a->removed = 0;
	MDB_val k = { a->plen, (void *)a->prefix }, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < a->plen || memcmp(k.mv_data, a->prefix, a->plen) != 0)
			break;
		struct json_object *rec = env_parse(&v);
		int old = rec && a->old(rec, a->arg);
		json_object_put(rec);
		if (old && (rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		a->removed += (size_t)old;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

enum rg_err kv_purge_json(struct store *st, MDB_dbi dbi, const char *prefix, size_t plen,
			  int (*old)(struct json_object *rec, void *arg), void *arg,
			  size_t *removed)
{
	struct purge_args a = { dbi, prefix, plen, old, arg, 0 };
	enum rg_err err = env_write(st, purge_txn, &a);
	if (removed)
		*removed = err == RG_OK ? a.removed : 0;
	return err;
}
