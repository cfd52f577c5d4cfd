/*
 * store: the store's interface (store.h): opening and closing it, and the
 * videos: insert, create (grouped with other processes' creates through
 * store_group.c when the store is durable), read, update, modify, delete,
 * list by owner, the cached public objects, the download entries, the due
 * scan and the upstream index.  Opening also gives the records written
 * before the cached public objects (or the download entries) existed
 * theirs.  The keys are store_keys.c's, the check
 * store_check.c's; how records and indexes are written is store_kv.c's,
 * the environment and its transactions store_env.c's (store_int.h).
 */
#include "store_int.h"

#include "buf.h"
#include "download.h"
#include "record.h"
#include "video.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

/* Records given their cached public object (or download entry) per write
 * transaction while filling: a large database is filled in many bounded
 * commits. */
#define FILL_BATCH 1000

/* What a fill writes beside each record: the cached public object
 * (kv_put_pub into pub) or the download entry (kv_put_download into
 * download); the key PUB_COMPLETE in that dbi says every record has it. */
typedef int (*fill_put_fn)(struct store *st, MDB_txn *txn, const char *id, struct json_object *rec);

struct fill_args {
	MDB_dbi dbi;
	fill_put_fn put;
	char start[ID_MAX]; /* the first id of this batch; "" at the start */
	char next[ID_MAX];  /* out: the first id of the next batch */
	int done;	    /* out: every record has its object */
};

static int fill_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct fill_args *a = arg;
	MDB_val mk = { sizeof(PUB_COMPLETE) - 1, (void *)PUB_COMPLETE }, k, v;
	a->done = mdb_get(txn, a->dbi, &mk, &v) == 0; /* another process finished it */
	if (a->done)
		return 0;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, st->videos, &cur);
	if (rc != 0)
		return rc;
	k.mv_data = a->start;
	k.mv_size = strlen(a->start);
	rc = k.mv_size ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)
		       : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	for (int n = 0; rc == 0; n++) {
		if (n == FILL_BATCH) {
			if (k.mv_size >= ID_MAX)
				rc = MDB_CORRUPTED;
			else {
				memcpy(a->next, k.mv_data, k.mv_size);
				a->next[k.mv_size] = '\0';
			}
			break;
		}
		struct json_object *rec = env_parse(&v);
		const char *id = rec ? rec_str(rec, "id") : NULL;
		/* An unreadable record stays without (db check reports it). */
		if (id != NULL && strlen(id) == k.mv_size && memcmp(id, k.mv_data, k.mv_size) == 0)
			rc = a->put(st, txn, id, rec);
		json_object_put(rec);
		if (rc == EINVAL)
			rc = 0; /* cannot be rendered: db check reports it */
		if (rc == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND) {
		MDB_val e = { 0, (void *)"" };
		rc = mdb_put(txn, a->dbi, &mk, &e, 0);
		a->done = rc == 0;
	}
	return rc;
}

/* fill gives the records written before the cached public objects (or
 * the download entries) existed theirs, once per database.  Writers
 * running meanwhile keep their own records' entries, so the batches need
 * not be one transaction. */
static void fill(struct store *st, MDB_dbi dbi, fill_put_fn put)
{
	MDB_txn *txn;
	MDB_val mk = { sizeof(PUB_COMPLETE) - 1, (void *)PUB_COMPLETE }, v;
	if (env_read_begin(st, &txn) != 0)
		return;
	int done = mdb_get(txn, dbi, &mk, &v) == 0;
	env_read_end(st, txn);
	/* On failure (a full disk) reads still work: they render a missing
	 * entry on the spot, and the next open tries again. */
	struct fill_args a = { dbi, put, "", "", done };
	while (!a.done && env_write(st, fill_txn, &a) == RG_OK)
		memcpy(a.start, a.next, sizeof(a.start)); /* committed: go on */
}

enum rg_err store_open(struct store **out, const char *data_dir, const struct store_options *opt)
{
	char path[4096];
	*out = NULL;
	if (snprintf(path, sizeof(path), "%s/db", data_dir) >= (int)sizeof(path))
		return RG_EINVAL;
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return RG_EIO;
	struct store *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return RG_ENOMEM;
	st->max_map = opt->max_map_bytes;
	st->durable = opt->durable;
	snprintf(st->path, sizeof(st->path), "%s", path);
	int rc = env_open(st, opt->map_bytes);
	if (rc != 0) {
		env_close(st);
		free(st);
		return env_error(rc);
	}
	fill(st, st->pub, kv_put_pub);
	fill(st, st->download, kv_put_download);
	usage_backfill(st); /* a failure leaves it to the next open */
	if (st->durable)
		group_open(st);
	*out = st;
	return RG_OK;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	group_close(st);
	env_close(st);
	free(st);
}

enum rg_err store_videos_insert(struct store *st, struct json_object *const *recs, size_t n,
				const char *idem, char existing_id[ID_MAX])
{
	if (n == 0 || (idem != NULL && strlen(idem) > IDEM_MAX))
		return RG_EINVAL;
	struct insert_args a = {
		(struct json_object **)recs, n, idem, existing_id, NULL, NULL, NULL, NULL, 0, 0,
		{ "", 0, 0, 0, 0 }
	};
	return env_write(st, kv_insert, &a);
}

enum rg_err store_videos_create(struct store *st, size_t n, const char *owner, const char *idem,
				store_build_fn build, void *arg, struct json_object **first)
{
	int unused;
	return store_videos_create_limited(st, n, owner, idem, 0, &unused, build, arg, first);
}

enum rg_err store_videos_create_limited(struct store *st, size_t n, const char *owner,
					const char *idem, int per_minute, int *retry_after_s,
					store_build_fn build, void *arg, struct json_object **first)
{
	struct store_refusal why;
	enum rg_err err = store_videos_create_checked(st, n, owner, idem, per_minute, &why, build,
						      arg, first);
	*retry_after_s = 0;
	if (err == RG_ELIMIT || err == RG_EQUOTA) {
		time_t now = time(NULL);
		*retry_after_s = why.reset_at > now ? (int)(why.reset_at - now) : 1;
	}
	return err;
}

enum rg_err store_videos_create_checked(struct store *st, size_t n, const char *owner,
					const char *idem, int per_minute, struct store_refusal *why,
					store_build_fn build, void *arg, struct json_object **first)
{
	*first = NULL;
	memset(why, 0, sizeof(*why));
	if (n == 0 || n > 64 || (idem != NULL && strlen(idem) > IDEM_MAX))
		return RG_EINVAL;
	struct json_object *recs[64] = { NULL };
	char ids[64][ID_MAX];
	char existing[ID_MAX];
	struct insert_args a = { recs, n,	   idem, existing,	    owner, build, arg,
				 ids,  per_minute, 0,	 { "", 0, 0, 0, 0 } };
	enum rg_err err;
	memset(&a.why, 0, sizeof(a.why));
	if (!st->durable || group_create(st, &a, &err) < 0)
		err = env_write(st, kv_insert, &a);
	else if (err == RG_OK && (recs[0] = build(ids, n, 0, arg)) == NULL)
		err = RG_ENOMEM; /* committed: the answer alone is missing */
	*why = a.why;
	if (err == RG_OK) {
		*first = recs[0];
		recs[0] = NULL;
	} else if (err == RG_EEXIST) {
		if (store_video_get(st, existing, first) != RG_OK)
			err = RG_EIO;
		else
			err = RG_EEXIST;
	}
	for (size_t i = 0; i < n; i++)
		json_object_put(recs[i]);
	return err;
}

enum rg_err store_video_get(struct store *st, const char *id, struct json_object **out)
{
	return kv_get_json(st, st->videos, id, out);
}

static int update_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct json_object *rec = arg;
	const char *id = rec_str(rec, "id");
	struct json_object *old = NULL;
	if (id == NULL)
		return EINVAL;
	int rc = env_get(st, txn, st->videos, id, &old);
	if (rc != 0)
		return rc;
	rc = kv_index_video(st, txn, old, 0);
	if (rc == 0 && rec_i64(rec, "expired") && !rec_i64(old, "expired")) {
		/* an expiry: the bucket's objects go with the same commit */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		rc = kv_objects_add(st, txn, old,
				    (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
	}
	if (rc == 0)
		rc = kv_put_video(st, txn, id, rec);
	if (rc == 0)
		rc = kv_index_video(st, txn, rec, 1);
	if (rc == 0)
		rc = kv_events_add(st, txn, rec_str(old, "status"), rec);
	if (rc == 0)
		rc = kv_usage_changed(st, txn, rec_str(old, "status"), rec);
	json_object_put(old);
	return rc;
}

enum rg_err store_video_update(struct store *st, struct json_object *rec)
{
	return env_write(st, update_txn, rec);
}

struct modify_args {
	char (*ids)[ID_MAX];
	size_t n;
	store_modify_fn fn;
	void *arg;
	int *gone;
};

static int modify_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct modify_args *a = arg;
	for (size_t i = 0; i < a->n; i++) {
		struct json_object *rec = NULL;
		int rc = env_get(st, txn, st->videos, a->ids[i], &rec);
		a->gone[i] = rc == MDB_NOTFOUND;
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc == 0)
			rc = kv_index_video(st, txn, rec, 0);
		char was[16] = "";
		snprintf(was, sizeof(was), "%s",
			 rec_str(rec, "status") ? rec_str(rec, "status") : "");
		if (rc == 0) {
			a->fn(rec, i, a->arg);
			rc = kv_put_video(st, txn, a->ids[i], rec);
		}
		if (rc == 0)
			rc = kv_index_video(st, txn, rec, 1);
		if (rc == 0)
			rc = kv_events_add(st, txn, was, rec);
		if (rc == 0)
			rc = kv_usage_changed(st, txn, was, rec);
		json_object_put(rec);
		if (rc != 0)
			return rc;
	}
	return 0;
}

enum rg_err store_videos_modify(struct store *st, char (*ids)[ID_MAX], size_t n, store_modify_fn fn,
				void *arg, int *gone)
{
	struct modify_args a = { ids, n, fn, arg, gone };
	return n == 0 ? RG_OK : env_write(st, modify_txn, &a);
}

struct delete_args {
	const char *id;
	struct json_object *old;
};

static int delete_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct delete_args *a = arg;
	json_object_put(a->old); /* from an earlier, retried attempt */
	a->old = NULL;
	int rc = env_get(st, txn, st->videos, a->id, &a->old);
	if (rc != 0)
		return rc;
	rc = kv_index_video(st, txn, a->old, 0);
	if (rc == 0) {
		MDB_val k = { strlen(a->id), (void *)a->id };
		rc = mdb_del(txn, st->videos, &k, NULL);
		if (rc == 0)
			rc = env_del(txn, st->pub, a->id, strlen(a->id));
		if (rc == 0)
			rc = env_del(txn, st->download, a->id, strlen(a->id));
	}
	if (rc == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		rc = kv_cancel_add(st, txn, a->old, now);
		if (rc == 0)
			rc = kv_objects_add(st, txn, a->old, now);
	}
	if (rc == 0)
		rc = kv_usage_deleted(st, txn, a->old);
	return rc;
}

enum rg_err store_video_delete(struct store *st, const char *id, struct json_object **old)
{
	struct delete_args a = { id, NULL };
	enum rg_err err = env_write(st, delete_txn, &a);
	if (err == RG_OK && old != NULL)
		*old = a.old;
	else
		json_object_put(a.old);
	return err;
}

/* seek_owner positions cur on the first by_owner key to visit. */
static int seek_owner(MDB_cursor *cur, const char *prefix, size_t plen, const char *after, int desc,
		      MDB_val *k)
{
	char start[OWNER_MAX + ID_MAX + 2];
	MDB_val d;
	int rc;
	if (!desc) {
		size_t slen = plen;
		memcpy(start, prefix, plen);
		if (after != NULL) {
			size_t alen = strlen(after);
			memcpy(start + plen, after, alen);
			slen += alen;
		}
		k->mv_data = start;
		k->mv_size = slen;
		rc = mdb_cursor_get(cur, k, &d, MDB_SET_RANGE);
		/* SET_RANGE lands on `after` itself when it still exists. */
		if (rc == 0 && after != NULL && k->mv_size == slen &&
		    memcmp(k->mv_data, start, slen) == 0)
			rc = mdb_cursor_get(cur, k, &d, MDB_NEXT);
		return rc;
	}
	/* Descending: go to the first key >= the bound, then step back. */
	memcpy(start, prefix, plen);
	size_t slen = plen;
	if (after != NULL) {
		size_t alen = strlen(after);
		memcpy(start + plen, after, alen);
		slen += alen;
	} else {
		start[plen - 1] = '\x01'; /* just past every owner \0 ... key */
	}
	k->mv_data = start;
	k->mv_size = slen;
	rc = mdb_cursor_get(cur, k, &d, MDB_SET_RANGE);
	if (rc == 0)
		return mdb_cursor_get(cur, k, &d, MDB_PREV);
	if (rc == MDB_NOTFOUND)
		return mdb_cursor_get(cur, k, &d, MDB_LAST);
	return rc;
}

/* A list visitor reads id inside txn: 0 (setting *verdict: STORE_NEXT,
 * STORE_SKIP or STORE_STOP), MDB_NOTFOUND (gone: not counted) or an error. */
typedef int (*visit_fn)(struct store *st, MDB_txn *txn, const char *id, void *arg, int *verdict);

/* list_owner visits owner's videos in order until limit of them were
 * counted (not skipped) or max_examined (0: no bound) were visited. */
static enum rg_err list_owner(struct store *st, const char *owner, const char *after, size_t limit,
			      size_t max_examined, int desc, visit_fn visit, void *arg,
			      int *has_more)
{
	char prefix[OWNER_MAX + 1];
	size_t plen = kv_pair_key(prefix, sizeof(prefix), owner, NULL);
	*has_more = 0;
	if (plen == 0 || (after != NULL && strlen(after) >= ID_MAX))
		return RG_EINVAL;
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = env_cursor_begin(st, st->by_owner, &txn, &cur);
	if (rc != 0)
		return env_error(rc);
	MDB_val k, d;
	size_t seen = 0, examined = 0;
	enum rg_err err = RG_OK;
	rc = seek_owner(cur, prefix, plen, after, desc, &k);
	while (rc == 0) {
		if (k.mv_size <= plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if (seen == limit || (max_examined > 0 && examined == max_examined)) {
			*has_more = 1;
			break;
		}
		examined++;
		char id[ID_MAX];
		size_t ilen = k.mv_size - plen;
		if (ilen >= ID_MAX) {
			err = RG_ECORRUPT;
			break;
		}
		memcpy(id, (char *)k.mv_data + plen, ilen);
		id[ilen] = '\0';
		int verdict = STORE_NEXT;
		int grc = visit(st, txn, id, arg, &verdict);
		if (grc == 0 && verdict != STORE_SKIP) {
			seen++;
			if (verdict != STORE_NEXT)
				break;
		} else if (grc != 0 && grc != MDB_NOTFOUND) {
			err = env_error(grc);
			break;
		}
		rc = mdb_cursor_get(cur, &k, &d, desc ? MDB_PREV : MDB_NEXT);
	}
	if (err == RG_OK && rc != 0 && rc != MDB_NOTFOUND)
		err = env_error(rc);
	env_cursor_end(st, txn, cur);
	return err;
}

struct visit_args {
	store_video_fn rec_fn;
	store_public_fn pub_fn;
	void *arg;
	int list;	     /* a list: ids come in order, and a cursor finds */
	MDB_cursor *pub_cur; /* the next one on the page it is on already */
};

static int visit_record(struct store *st, MDB_txn *txn, const char *id, void *arg, int *verdict)
{
	struct visit_args *a = arg;
	struct json_object *rec = NULL;
	int rc = env_get(st, txn, st->videos, id, &rec);
	if (rc == 0)
		*verdict = a->rec_fn(rec, a->arg) ? STORE_STOP : STORE_NEXT;
	json_object_put(rec);
	return rc;
}

/* pub_in hands fn the cached public object of id.  A record without one
 * (written by an older reelgate since this one filled them in) gets it
 * rendered on the spot, so a missing entry is slow, never wrong. */
static int pub_in(struct store *st, MDB_txn *txn, const char *id, void *arg, int *verdict)
{
	struct visit_args *a = arg;
	MDB_val k = { strlen(id), (void *)id }, v;
	int rc = 0;
	if (a->list && a->pub_cur == NULL)
		rc = mdb_cursor_open(txn, st->pub, &a->pub_cur);
	if (rc == 0)
		rc = a->pub_cur != NULL ? mdb_cursor_get(a->pub_cur, &k, &v, MDB_SET_KEY)
					: mdb_get(txn, st->pub, &k, &v);
	if (rc == 0) {
		/* The record must exist too: they are only ever written together. */
		*verdict = a->pub_fn(id, v.mv_data, v.mv_size, a->arg);
		return 0;
	}
	if (rc != MDB_NOTFOUND)
		return rc;
	struct json_object *rec = NULL;
	rc = env_get(st, txn, st->videos, id, &rec);
	if (rc != 0)
		return rc;
	struct buf b;
	buf_init(&b, PUB_MAX);
	rc = video_cache_build(rec, &b) < 0 ? MDB_CORRUPTED : 0;
	if (rc == 0)
		*verdict = a->pub_fn(id, b.data, b.len, a->arg);
	buf_deinit(&b);
	json_object_put(rec);
	return rc;
}

enum rg_err store_video_list(struct store *st, const char *owner, const char *after, size_t limit,
			     int desc, store_video_fn fn, void *arg, int *has_more)
{
	struct visit_args a = { fn, NULL, arg, 0, NULL };
	return list_owner(st, owner, after, limit, 0, desc, visit_record, &a, has_more);
}

enum rg_err store_video_list_public(struct store *st, const char *owner, const char *after,
				    size_t limit, size_t max_examined, int desc, store_public_fn fn,
				    void *arg, int *has_more)
{
	struct visit_args a = { NULL, fn, arg, 1, NULL };
	enum rg_err err =
		list_owner(st, owner, after, limit, max_examined, desc, pub_in, &a, has_more);
	if (a.pub_cur != NULL)
		mdb_cursor_close(a.pub_cur); /* LMDB allows it after the txn ended */
	return err;
}

enum rg_err store_video_public(struct store *st, const char *id, store_public_fn fn, void *arg)
{
	MDB_txn *txn;
	int rc = env_read_begin(st, &txn);
	if (rc != 0)
		return env_error(rc);
	struct visit_args a = { NULL, fn, arg, 0, NULL };
	int verdict = 0;
	rc = pub_in(st, txn, id, &a, &verdict);
	env_read_end(st, txn);
	return env_error(rc);
}

enum rg_err store_video_download(struct store *st, const char *id, store_bytes_fn fn, void *arg)
{
	MDB_txn *txn;
	int rc = env_read_begin(st, &txn);
	if (rc != 0)
		return env_error(rc);
	MDB_val k = { strlen(id), (void *)id }, v;
	rc = mdb_get(txn, st->download, &k, &v);
	if (rc == 0) {
		fn(v.mv_data, v.mv_size, arg);
	} else if (rc == MDB_NOTFOUND) {
		/* Written by an older reelgate since this one filled them in:
		 * built on the spot, so a missing entry is slow, never wrong. */
		struct json_object *rec = NULL;
		rc = env_get(st, txn, st->videos, id, &rec);
		struct buf b;
		buf_init(&b, PUB_MAX);
		if (rc == 0)
			rc = download_build(rec, &b) < 0 ? MDB_CORRUPTED : 0;
		if (rc == 0)
			fn(b.data, b.len, arg);
		buf_deinit(&b);
		json_object_put(rec);
	}
	env_read_end(st, txn);
	return env_error(rc);
}

enum rg_err store_due_scan(struct store *st, uint64_t now_ms, size_t limit, store_due_fn fn,
			   void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = env_read_begin(st, &txn);
	if (rc != 0)
		return env_error(rc);
	rc = mdb_cursor_open(txn, st->due, &cur);
	if (rc != 0) {
		env_read_end(st, txn);
		return env_error(rc);
	}
	MDB_val k, d;
	size_t n = 0;
	rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
	while (rc == 0 && n < limit) {
		if (k.mv_size <= 8 || k.mv_size >= 8 + ID_MAX)
			break;
		const uint8_t *p = k.mv_data;
		uint64_t at = 0;
		for (int i = 0; i < 8; i++)
			at = (at << 8) | p[i];
		if (at > now_ms)
			break;
		char id[ID_MAX];
		memcpy(id, p + 8, k.mv_size - 8);
		id[k.mv_size - 8] = '\0';
		n++;
		if (fn(id, at, arg))
			break;
		rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	env_read_end(st, txn);
	return (rc == 0 || rc == MDB_NOTFOUND) ? RG_OK : env_error(rc);
}

enum rg_err store_upstream_holder(struct store *st, const char *backend, const char *upstream_id,
				  char holder[ID_MAX])
{
	char uk[512];
	size_t uklen = kv_pair_key(uk, sizeof(uk), backend, upstream_id);
	if (uklen == 0)
		return RG_EINVAL;
	MDB_txn *txn;
	int rc = env_read_begin(st, &txn);
	if (rc != 0)
		return env_error(rc);
	MDB_val k = { uklen, uk }, v;
	rc = mdb_get(txn, st->upstream, &k, &v);
	if (rc == 0) {
		size_t n = v.mv_size < ID_MAX - 1 ? v.mv_size : ID_MAX - 1;
		memcpy(holder, v.mv_data, n);
		holder[n] = '\0';
	}
	env_read_end(st, txn);
	return env_error(rc);
}
