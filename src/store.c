/*
 * store: the LMDB task and key store.
 *
 * Write transactions go through env_write(), which retries after growing the
 * map on MDB_MAP_FULL and adopts a map another process grew
 * (MDB_MAP_RESIZED); read transactions go through env_read_begin(), which also
 * clears stale readers left by killed processes.  A video record is written
 * only by kv_put_video(), which writes its cached public object with it.
 */
#include "store.h"

#include "buf.h"
#include "record.h"
#include "video.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct store {
	MDB_env *env;
	MDB_dbi videos, by_owner, due, idem, keys, key_hash, rate, upstream, pub;
	MDB_dbi group_dbi; /* receipts of grouped creates, by slot */
	struct group_shm *group; /* db/group.shm, or NULL: creates commit alone */
	size_t max_map;
	MDB_txn *rtxn; /* a reset read transaction, renewed for the next read */
	char path[4096]; /* data_dir/db */
	int durable;
	/* where data.mdb is mapped, as store_release_pages last found it
	 * (for a map of map_seen bytes) */
	void *map_addr;
	size_t map_len, map_seen;
};

#define OWNER_MAX 128
#define IDEM_MAX 256
/* The key in pub that says every record has its cached public object
 * (records written before the cache existed get one at the next open). */
#define PUB_COMPLETE "#complete"
#define PUB_MAX (64u << 20)

static enum rg_err env_error(int rc)
{
	switch (rc) {
	case MDB_SUCCESS: return RG_OK;
	case MDB_NOTFOUND: return RG_ENOENT;
	case MDB_KEYEXIST: return RG_EEXIST;
	case MDB_MAP_FULL:
	case ENOSPC:
	case EDQUOT: return RG_ESPACE;
	case ENOMEM: return RG_ENOMEM;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID: return RG_ECORRUPT;
	default: return RG_EIO;
	}
}

/* ---- record helpers --------------------------------------------------- */

/* kv_due_at: when the dispatcher looks at rec next (ms), 0: never. */
static uint64_t kv_due_at(struct json_object *rec)
{
	int64_t n = rec_i64(rec, "due_at");
	return n > 0 ? (uint64_t)n : 0;
}

static struct json_object *kv_parse(const MDB_val *v)
{
	struct json_tokener *tok = json_tokener_new();
	if (tok == NULL)
		return NULL;
	struct json_object *o = json_tokener_parse_ex(tok, v->mv_data, (int)v->mv_size);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* owner_key builds owner \0 id (or owner \0 for a prefix) into out. */
static size_t kv_pair_key(char *out, size_t cap, const char *a, const char *b)
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

static size_t kv_due_key(uint8_t *out, size_t cap, uint64_t at, const char *id)
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

/* ---- environment -------------------------------------------------------- */

static int env_grow_map(struct store *st)
{
	MDB_envinfo info;
	mdb_env_info(st->env, &info);
	size_t cur = info.me_mapsize;
	if (cur >= st->max_map)
		return -1;
	size_t next = cur < st->max_map / 2 ? cur * 2 : st->max_map;
	return mdb_env_set_mapsize(st->env, next) == 0 ? 0 : -1;
}

static int env_txn_begin(struct store *st, unsigned flags, MDB_txn **txn)
{
	for (int tries = 0;; tries++) {
		int rc = mdb_txn_begin(st->env, NULL, flags, txn);
		if (rc == MDB_MAP_RESIZED && tries < 3) {
			mdb_env_set_mapsize(st->env, 0);
			continue;
		}
		if (rc == MDB_READERS_FULL && tries < 3) {
			int dead = 0;
			mdb_reader_check(st->env, &dead);
			continue;
		}
		return rc;
	}
}

/* env_read_begin starts a read transaction, reusing the reset one: renewing
 * keeps the reader slot and saves a lock-table search on every request. */
static int env_read_begin(struct store *st, MDB_txn **txn)
{
	if (st->rtxn != NULL) {
		MDB_txn *t = st->rtxn;
		st->rtxn = NULL;
		int rc = mdb_txn_renew(t);
		if (rc == 0) {
			*txn = t;
			return 0;
		}
		mdb_txn_abort(t);
	}
	return env_txn_begin(st, MDB_RDONLY, txn);
}

static void env_read_end(struct store *st, MDB_txn *txn)
{
	if (st->rtxn == NULL) {
		mdb_txn_reset(txn);
		st->rtxn = txn;
	} else {
		mdb_txn_abort(txn);
	}
}

typedef int (*env_write_fn)(struct store *st, MDB_txn *txn, void *arg);

/* An env_write_fn returns TXN_EXISTS to roll back on purpose: RG_EEXIST. */
#define TXN_EXISTS 1
/* ... and TXN_LIMITED when a rate limit refuses the write: RG_ELIMIT. */
#define TXN_LIMITED 2

/* env_write runs fn in a write transaction and commits, growing the map and
 * retrying when it is full.  fn returns 0, an MDB code or an errno.
 *
 * Durable commits are grouped across processes: the environment is open
 * with MDB_NOMETASYNC, so a commit syncs its data pages while it holds the
 * writer lock, and the meta page is synced by mdb_env_sync after the lock
 * is released.  Nothing returns before both are on disk (the same
 * durability as LMDB's default), but the second sync of one process
 * overlaps the next process's transaction and one sync covers every commit
 * written before it.  LMDB keeps the database consistent either way. */
/* env_write_error: what a write transaction that ended with rc (0, an MDB
 * code or an errno) answers, the map being as large as it may grow. */
static enum rg_err env_write_error(struct store *st, int rc)
{
	if (rc == MDB_MAP_FULL)
		return RG_ESPACE;
	/* LMDB reports a short write on a full disk as EIO. */
	if (rc == EIO && disk_nearly_full(st->path))
		return RG_ESPACE;
	return env_error(rc);
}

static enum rg_err env_write(struct store *st, env_write_fn fn, void *arg)
{
	for (int tries = 0; tries < 32; tries++) {
		MDB_txn *txn;
		int rc = env_txn_begin(st, 0, &txn);
		if (rc != 0)
			return env_error(rc);
		rc = fn(st, txn, arg);
		if (rc == 0) {
			rc = mdb_txn_commit(txn);
			if (rc == 0 && st->durable)
				rc = mdb_env_sync(st->env, 1);
		} else {
			mdb_txn_abort(txn);
			if (rc == TXN_EXISTS)
				return RG_EEXIST;
			if (rc == TXN_LIMITED)
				return RG_ELIMIT;
		}
		if (rc == MDB_MAP_FULL && env_grow_map(st) == 0)
			continue;
		return env_write_error(st, rc);
	}
	return RG_ESPACE;
}

int disk_nearly_full(const char *path)
{
	struct statvfs sv;
	if (statvfs(path, &sv) < 0)
		return 0;
	return (unsigned long long)sv.f_bavail * sv.f_frsize < (1ULL << 20);
}

static int open_dbis(struct store *st)
{
	MDB_txn *txn;
	int rc = env_txn_begin(st, 0, &txn);
	if (rc != 0)
		return rc;
	if ((rc = mdb_dbi_open(txn, "videos", MDB_CREATE, &st->videos)) ||
	    (rc = mdb_dbi_open(txn, "by_owner", MDB_CREATE, &st->by_owner)) ||
	    (rc = mdb_dbi_open(txn, "due", MDB_CREATE, &st->due)) ||
	    (rc = mdb_dbi_open(txn, "idem", MDB_CREATE, &st->idem)) ||
	    (rc = mdb_dbi_open(txn, "keys", MDB_CREATE, &st->keys)) ||
	    (rc = mdb_dbi_open(txn, "key_hash", MDB_CREATE, &st->key_hash)) ||
	    (rc = mdb_dbi_open(txn, "rate", MDB_CREATE, &st->rate)) ||
	    (rc = mdb_dbi_open(txn, "upstream", MDB_CREATE, &st->upstream)) ||
	    (rc = mdb_dbi_open(txn, "public", MDB_CREATE, &st->pub)) ||
	    (rc = mdb_dbi_open(txn, "group", MDB_CREATE, &st->group_dbi))) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

static int kv_put_pub(struct store *st, MDB_txn *txn, const char *id, struct json_object *rec);
static void group_open(struct store *st);
static void group_close(struct store *st);

/* Records given their cached public object per write transaction while
 * filling: a large database is filled in many bounded commits. */
#define FILL_BATCH 1000

struct fill_args {
	char start[ID_MAX]; /* the first id of this batch; "" at the start */
	char next[ID_MAX];  /* out: the first id of the next batch */
	int done;           /* out: every record has its object */
};

static int fill_pub_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct fill_args *a = arg;
	MDB_val mk = { sizeof(PUB_COMPLETE) - 1, (void *)PUB_COMPLETE }, k, v;
	a->done = mdb_get(txn, st->pub, &mk, &v) == 0; /* another process finished it */
	if (a->done)
		return 0;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, st->videos, &cur);
	if (rc != 0)
		return rc;
	k.mv_data = a->start;
	k.mv_size = strlen(a->start);
	rc = k.mv_size ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
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
		struct json_object *rec = kv_parse(&v);
		const char *id = rec ? rec_str(rec, "id") : NULL;
		/* An unreadable record stays without (db check reports it). */
		if (id != NULL && strlen(id) == k.mv_size && memcmp(id, k.mv_data, k.mv_size) == 0)
			rc = kv_put_pub(st, txn, id, rec);
		json_object_put(rec);
		if (rc == EINVAL)
			rc = 0; /* cannot be rendered: db check reports it */
		if (rc == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND) {
		MDB_val e = { 0, (void *)"" };
		rc = mdb_put(txn, st->pub, &mk, &e, 0);
		a->done = rc == 0;
	}
	return rc;
}

/* fill_pub gives the records written before the cached public objects
 * existed theirs, once per database.  Writers running meanwhile keep their
 * own records' objects, so the batches need not be one transaction. */
static void fill_pub(struct store *st)
{
	MDB_txn *txn;
	MDB_val mk = { sizeof(PUB_COMPLETE) - 1, (void *)PUB_COMPLETE }, v;
	if (env_read_begin(st, &txn) != 0)
		return;
	int done = mdb_get(txn, st->pub, &mk, &v) == 0;
	env_read_end(st, txn);
	/* On failure (a full disk) reads still work: they render a missing
	 * entry on the spot, and the next open tries again. */
	struct fill_args a = { "", "", done };
	while (!a.done && env_write(st, fill_pub_txn, &a) == RG_OK)
		memcpy(a.start, a.next, sizeof(a.start)); /* committed: go on */
}

enum rg_err store_open(struct store **out, const char *data_dir,
		       const struct store_options *opt)
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
	int rc = mdb_env_create(&st->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(st->env, 10);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(st->env, 512);
	if (rc == 0)
		rc = mdb_env_open(st->env, path, opt->durable ? MDB_NOMETASYNC : MDB_NOSYNC, 0600);
	if (rc == 0) {
		/* Adopt the size on disk when it is larger than asked. */
		MDB_envinfo info;
		mdb_env_info(st->env, &info);
		if (info.me_mapsize < opt->map_bytes)
			rc = mdb_env_set_mapsize(st->env, opt->map_bytes);
	}
	if (rc == 0) {
		int dead = 0;
		mdb_reader_check(st->env, &dead);
		rc = open_dbis(st);
		if (rc == 0 && st->durable)
			rc = mdb_env_sync(st->env, 1);
	}
	if (rc == 0)
		fill_pub(st);
	if (rc == 0 && st->durable)
		group_open(st);
	if (rc != 0) {
		if (st->env)
			mdb_env_close(st->env);
		free(st);
		return env_error(rc);
	}
	*out = st;
	return RG_OK;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->rtxn)
		mdb_txn_abort(st->rtxn);
	group_close(st);
	mdb_env_close(st->env);
	free(st);
}

/* find_map looks up where data.mdb is mapped: LMDB does not say (its
 * me_mapaddr is only set with MDB_FIXEDMAP), the kernel does, by inode. */
static void find_map(struct store *st)
{
	char path[4200], line[4400];
	struct stat sb;
	st->map_addr = NULL;
	snprintf(path, sizeof(path), "%s/data.mdb", st->path);
	FILE *f = stat(path, &sb) == 0 ? fopen("/proc/self/maps", "re") : NULL;
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, ino;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu", &lo, &hi, &ino) == 3 &&
		    ino == (unsigned long)sb.st_ino && ino != 0) {
			st->map_addr = (void *)lo;
			st->map_len = hi - lo;
			break;
		}
	}
	fclose(f);
}

void store_release_pages(struct store *st)
{
	/* The map moves only when it is resized: look it up again then. */
	size_t size = store_map_size(st);
	if (size != st->map_seen) {
		find_map(st);
		st->map_seen = size;
	}
	/* read-only and shared (no MDB_WRITEMAP): dropping its pages loses
	 * nothing */
	if (st->map_addr != NULL)
		madvise(st->map_addr, st->map_len, MADV_DONTNEED);
}

size_t store_map_size(struct store *st)
{
	MDB_envinfo info;
	mdb_env_info(st->env, &info);
	return info.me_mapsize;
}

/* ---- videos --------------------------------------------------------------- */

static int kv_put_json(MDB_txn *txn, MDB_dbi dbi, const char *key,
		    struct json_object *rec)
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
static int kv_put_pub(struct store *st, MDB_txn *txn, const char *id, struct json_object *rec)
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

/* kv_put_video is the one way a video record is written: the record and its
 * cached public object change together, so the cache is never stale. */
static int kv_put_video(struct store *st, MDB_txn *txn, const char *id, struct json_object *rec)
{
	int rc = kv_put_json(txn, st->videos, id, rec);
	return rc != 0 ? rc : kv_put_pub(st, txn, id, rec);
}

static int put_index(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen)
{
	MDB_val k = { klen, (void *)key }, v = { 0, (void *)"" };
	return mdb_put(txn, dbi, &k, &v, 0);
}

static int kv_del_index(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen)
{
	MDB_val k = { klen, (void *)key };
	int rc = mdb_del(txn, dbi, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* kv_index_video adds (add != 0) or removes the index entries of rec. */
static int kv_index_video(struct store *st, MDB_txn *txn, struct json_object *rec, int add)
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
		     : kv_del_index(txn, st->by_owner, ok, oklen);
	if (rc != 0)
		return rc;
	uint64_t due = kv_due_at(rec);
	if (due != 0) {
		uint8_t dk[8 + ID_MAX];
		size_t dklen = kv_due_key(dk, sizeof(dk), due, id);
		if (dklen == 0)
			return EINVAL;
		rc = add ? put_index(txn, st->due, dk, dklen) : kv_del_index(txn, st->due, dk, dklen);
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
		size_t uklen = kv_pair_key(uk, sizeof(uk), json_object_get_string(b), json_object_get_string(u));
		if (uklen == 0)
			return EINVAL;
		if (add) {
			MDB_val k = { uklen, uk }, v = { strlen(id), (void *)id };
			rc = mdb_put(txn, st->upstream, &k, &v, 0);
		} else {
			rc = kv_del_index(txn, st->upstream, uk, uklen);
		}
	}
	return rc;
}

struct insert_args {
	struct json_object **recs;
	size_t n;
	const char *idem;
	char *existing_id;
	const char *owner;       /* for create: the owner of the new records */
	store_build_fn build;    /* for create: makes records once ids exist */
	void *build_arg;
	char (*ids)[ID_MAX];
	int per_minute;          /* rate limit, 0: none */
	int retry_after;         /* out: seconds until the window ends */
};

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
			count = ((uint32_t)p[8] << 24) | ((uint32_t)p[9] << 16) | ((uint32_t)p[10] << 8) | p[11];
	}
	if (count + a->n > (uint64_t)a->per_minute) {
		a->retry_after = (int)(start + 60 - now);
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

static int kv_insert(struct store *st, MDB_txn *txn, void *arg)
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
	for (size_t i = 0; i < a->n; i++) {
		const char *id = rec_str(a->recs[i], "id");
		if (id == NULL)
			return EINVAL;
		int rc = kv_put_video(st, txn, id, a->recs[i]);
		if (rc == 0)
			rc = kv_index_video(st, txn, a->recs[i], 1);
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

/* ---- grouped creates -------------------------------------------------------
 *
 * A durable commit syncs its pages while it holds LMDB's writer lock, so
 * creates that commit one by one go no faster than the disk's syncs, one
 * after another.  Creates are grouped instead: each is posted in a slot of a
 * small file that every process of this data_dir maps (db/group.shm), and
 * the process that gets the writer lock with its own create still posted
 * writes every posted create in its transaction, each in a nested
 * transaction of its own (an idempotency hit or a rate limit refuses that
 * create alone), commits and syncs once, and marks them done.  The others
 * find theirs done when they get the lock, or wait for the mark.
 *
 * The environment is open with MDB_NOMETASYNC: a commit syncs its pages
 * while it holds the writer lock, but not the meta page that makes it
 * current.  When more creates are already posted, a leader leaves that
 * sync to the next group: its commit's sync, made holding the lock, covers
 * the meta pages written before it, and it marks the creates of earlier
 * transactions done (SLOT_SYNCING -> SLOT_DONE).  A create left waiting
 * longer than GROUP_SYNC_WAIT_US syncs itself.
 *
 * A create travels as its records' JSON with placeholder ids; the leader
 * gives out the real ids (after the last stored one, as a create of its own
 * would) and writes a receipt per slot in the same transaction, which a
 * process whose leader died reads to learn whether its create was
 * committed.  A create too large for a slot, or finding no slot free,
 * commits on its own. */

#define GROUP_MAGIC 0x72674733u /* "rgG3" */
#define GROUP_SLOTS 32
#define GROUP_OP_MAX (16u << 10)
#define GROUP_WAIT_MS 20
/* How long a committed create waits for the next group's sync to cover
 * it before it syncs on its own. */
#define GROUP_SYNC_WAIT_US 2000

/* A slot's state and the process it belongs to in that state (the poster;
 * for SLOT_TAKEN the leader), changed together with one compare-and-swap. */
enum { SLOT_FREE, SLOT_FILLING, SLOT_POSTED, SLOT_TAKEN, SLOT_SYNCING, SLOT_DONE };
#define WORD(state, pid) (((uint64_t)(uint32_t)(pid) << 8) | (state))
#define WORD_STATE(w) ((unsigned)((w) & 0xff))
#define WORD_PID(w) ((int32_t)((w) >> 8))

struct group_slot {
	uint64_t word;
	int32_t owner;          /* the poster, set while filling */
	uint32_t len;           /* bytes of op */
	uint64_t token;         /* this posting; also in its receipt */
	uint64_t txnid;         /* the transaction that wrote it (SLOT_SYNCING) */
	int32_t err;            /* enum rg_err, once done */
	int32_t retry_after;
	char ids[64][ID_MAX];   /* the new ids (RG_OK), or in [0] the earlier one (RG_EEXIST) */
	char op[GROUP_OP_MAX];
};

struct group_shm {
	uint32_t magic;
	uint32_t done_seq;      /* a futex word: bumped whenever slots are done */
	char boot_id[40];       /* the boot that wrote the slots (pids are of it) */
	uint64_t pid_ns;        /* ... and the pid namespace the pids are of */
	struct group_slot slots[GROUP_SLOTS];
};

static uint64_t load64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static int cas64(uint64_t *p, uint64_t from, uint64_t to)
{
	return __atomic_compare_exchange_n(p, &from, to, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static int pid_alive(int32_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

/* read_boot_id: this boot's id (the kernel's), or "" where there is none. */
static void read_boot_id(char *out, size_t cap)
{
	memset(out, 0, cap);
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (f == NULL)
		return;
	if (fgets(out, (int)cap, f) != NULL)
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

/* map_group maps the file open on fd, every block of it allocated first: a
 * page of a sparse file that the full disk cannot give would be a SIGBUS at
 * its first write, not an error. */
static struct group_shm *map_group(int fd)
{
	struct group_shm *g;
	struct stat sb;
	if (fstat(fd, &sb) != 0 ||
	    ((size_t)sb.st_size != sizeof(*g) && ftruncate(fd, sizeof(*g)) != 0) ||
	    posix_fallocate(fd, 0, sizeof(*g)) != 0)
		return NULL;
	void *map = mmap(NULL, sizeof(*g), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return map == MAP_FAILED ? NULL : map;
}

/* join_group, with the file's flock held, clears a file that is new or was
 * written in an earlier boot: the pids in its slots may be alive again as
 * other processes, so its slots are cleared, not reclaimed.  It says
 * whether this process may take part: one of another pid namespace (a
 * container sharing the data_dir) cannot tell whether the posters are
 * alive, and its creates commit on their own. */
static int join_group(struct group_shm *g)
{
	char boot[sizeof(g->boot_id)];
	struct stat nsb;
	read_boot_id(boot, sizeof(boot));
	uint64_t ns = stat("/proc/self/ns/pid", &nsb) == 0 ? (uint64_t)nsb.st_ino : 0;
	if (__atomic_load_n(&g->magic, __ATOMIC_ACQUIRE) != GROUP_MAGIC ||
	    memcmp(g->boot_id, boot, sizeof(boot)) != 0) {
		__atomic_store_n(&g->magic, 0, __ATOMIC_RELEASE);
		g->done_seq = 0;
		for (int i = 0; i < GROUP_SLOTS; i++)
			memset(&g->slots[i], 0, offsetof(struct group_slot, op));
		memcpy(g->boot_id, boot, sizeof(boot));
		g->pid_ns = ns;
		__atomic_store_n(&g->magic, GROUP_MAGIC, __ATOMIC_RELEASE);
	}
	return g->pid_ns == ns;
}

static void group_open(struct store *st)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/group.shm", st->path);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	struct group_shm *g = NULL;
	if (flock(fd, LOCK_EX) == 0) {
		g = map_group(fd);
		if (g != NULL && !join_group(g)) {
			munmap(g, sizeof(*g));
			g = NULL;
		}
		flock(fd, LOCK_UN);
	}
	close(fd);
	st->group = g;
}

static void group_close(struct store *st)
{
	if (st->group)
		munmap(st->group, sizeof(*st->group));
	st->group = NULL;
}

static void group_wake(struct group_shm *g)
{
	__atomic_add_fetch(&g->done_seq, 1, __ATOMIC_ACQ_REL);
	syscall(SYS_futex, &g->done_seq, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/* abandoned: is every process slot s (in word w) belongs to gone?  Its
 * poster, and while it is taken, its leader too. */
static int abandoned(const struct group_slot *s, uint64_t w)
{
	if (WORD_STATE(w) != SLOT_TAKEN)
		return !pid_alive(WORD_PID(w));
	return !pid_alive(s->owner) && !pid_alive(WORD_PID(w));
}

/* claim_slot takes a free slot, or an abandoned one. */
static struct group_slot *claim_slot(struct group_shm *g, int32_t me)
{
	for (int i = 0; i < GROUP_SLOTS; i++) {
		struct group_slot *s = &g->slots[(unsigned)(i + me) % GROUP_SLOTS];
		uint64_t w = load64(&s->word);
		if ((w == WORD(SLOT_FREE, 0) || abandoned(s, w)) && cas64(&s->word, w, WORD(SLOT_FILLING, me))) {
			s->owner = me;
			return s;
		}
	}
	return NULL;
}

static int put_u32(struct buf *b, uint32_t v)
{
	return buf_append(b, &v, sizeof(v));
}

/* op_encode writes a create as the slot carries it: n, per_minute, owner,
 * idem (length 0xffffffff: none) and each record's JSON. */
static int op_encode(struct buf *b, const struct insert_args *a, char (*ph)[ID_MAX])
{
	int bad = put_u32(b, (uint32_t)a->n) < 0;
	bad |= put_u32(b, (uint32_t)a->per_minute) < 0;
	bad |= put_u32(b, (uint32_t)strlen(a->owner)) < 0;
	bad |= buf_append(b, a->owner, strlen(a->owner)) < 0;
	bad |= put_u32(b, a->idem ? (uint32_t)strlen(a->idem) : UINT32_MAX) < 0;
	if (a->idem)
		bad |= buf_append(b, a->idem, strlen(a->idem)) < 0;
	for (size_t i = 0; i < a->n && !bad; i++) {
		struct json_object *rec = a->build(ph, a->n, i, a->build_arg);
		size_t len;
		const char *text = rec ? json_object_to_json_string_length(rec, JSON_C_TO_STRING_PLAIN, &len) : NULL;
		if (text == NULL) {
			json_object_put(rec);
			return -1;
		}
		bad |= put_u32(b, (uint32_t)len) < 0;
		bad |= buf_append(b, text, len) < 0;
		json_object_put(rec);
	}
	return bad ? -1 : 0;
}

/* A create read back from its slot. */
struct op {
	char owner[OWNER_MAX + 1];
	char idem[IDEM_MAX + 1];
	int has_idem;
	uint32_t n, per_minute;
	const char *text[64];
	uint32_t text_len[64];
};

static int get_u32(const char **p, const char *end, uint32_t *v)
{
	if ((size_t)(end - *p) < sizeof(*v))
		return -1;
	memcpy(v, *p, sizeof(*v));
	*p += sizeof(*v);
	return 0;
}

static int get_str(const char **p, const char *end, char *out, size_t cap, int *present)
{
	uint32_t len;
	if (get_u32(p, end, &len) < 0)
		return -1;
	*present = len != UINT32_MAX;
	if (!*present)
		return 0;
	if (len >= cap || (size_t)(end - *p) < len)
		return -1;
	memcpy(out, *p, len);
	out[len] = '\0';
	*p += len;
	return 0;
}

static int op_decode(const struct group_slot *s, struct op *op)
{
	const char *p = s->op, *end = s->op + (s->len <= GROUP_OP_MAX ? s->len : 0);
	int present;
	if (get_u32(&p, end, &op->n) < 0 || op->n == 0 || op->n > 64 ||
	    get_u32(&p, end, &op->per_minute) < 0 ||
	    get_str(&p, end, op->owner, sizeof(op->owner), &present) < 0 || !present ||
	    get_str(&p, end, op->idem, sizeof(op->idem), &op->has_idem) < 0)
		return -1;
	for (uint32_t i = 0; i < op->n; i++) {
		if (get_u32(&p, end, &op->text_len[i]) < 0 || (size_t)(end - p) < op->text_len[i])
			return -1;
		op->text[i] = p;
		p += op->text_len[i];
	}
	return 0;
}

/* from_template is the build function of a create run by a leader: the
 * poster's record with the ids given out now. */
static struct json_object *from_template(char (*ids)[ID_MAX], size_t n, size_t i, void *arg)
{
	const struct op *op = arg;
	MDB_val v = { op->text_len[i], (void *)op->text[i] };
	struct json_object *rec = kv_parse(&v);
	if (rec == NULL)
		return NULL;
	json_object_object_add(rec, "id", json_object_new_string(ids[i]));
	if (n > 1) {
		struct json_object *a = json_object_new_array();
		for (size_t j = 0; j < n; j++)
			json_object_array_add(a, json_object_new_string(ids[j]));
		json_object_object_add(rec, "video_ids", a);
	}
	return rec;
}

/* run_op writes one posted create in a nested transaction of txn: 0 and
 * the slot's result set, or MDB_MAP_FULL (the whole group is retried). */
static int run_op(struct store *st, MDB_txn *txn, struct group_slot *s, int index)
{
	struct op op;
	struct json_object *recs[64] = { NULL };
	MDB_txn *child;
	s->retry_after = 0;
	if (op_decode(s, &op) < 0) {
		s->err = RG_EINVAL;
		return 0;
	}
	int rc = mdb_txn_begin(st->env, txn, 0, &child);
	if (rc == 0) {
		/* an idempotency hit writes the earlier id where no new one
		 * is given out: s->ids[0] */
		struct insert_args a = { recs, op.n, op.has_idem ? op.idem : NULL, s->ids[0], op.owner,
					 from_template, &op, s->ids, (int)op.per_minute, 0 };
		rc = kv_insert(st, child, &a);
		s->retry_after = a.retry_after;
		if (rc == 0) {
			uint8_t key = (uint8_t)index;
			char val[sizeof(uint64_t) + sizeof(s->ids)];
			memcpy(val, &s->token, sizeof(s->token));
			memcpy(val + sizeof(s->token), s->ids, op.n * ID_MAX);
			MDB_val k = { 1, &key }, v = { sizeof(s->token) + op.n * ID_MAX, val };
			rc = mdb_put(child, st->group_dbi, &k, &v, 0);
		}
		if (rc == 0)
			rc = mdb_txn_commit(child);
		else
			mdb_txn_abort(child);
	}
	for (uint32_t i = 0; i < op.n; i++)
		json_object_put(recs[i]);
	if (rc == MDB_MAP_FULL)
		return rc;
	s->err = rc == 0 ? RG_OK : rc == TXN_EXISTS ? RG_EEXIST : rc == TXN_LIMITED ? RG_ELIMIT : env_error(rc);
	return 0;
}

/* others_posted: will another group commit soon? */
static int others_posted(struct group_shm *g)
{
	for (int i = 0; i < GROUP_SLOTS; i++)
		if (WORD_STATE(load64(&g->slots[i].word)) == SLOT_POSTED)
			return 1;
	return 0;
}

/* cover_synced marks done the creates of transactions before txnid, whose
 * meta pages the commit of txnid (just made, with pages) has synced. */
static void cover_synced(struct group_shm *g, uint64_t txnid)
{
	for (int i = 0; i < GROUP_SLOTS; i++) {
		struct group_slot *s = &g->slots[i];
		uint64_t w = load64(&s->word);
		if (WORD_STATE(w) == SLOT_SYNCING && s->txnid < txnid)
			cas64(&s->word, w, WORD(SLOT_DONE, WORD_PID(w)));
	}
}

/* What a leader took and how its commit went. */
struct group_batch {
	int taken[GROUP_SLOTS]; /* the slots taken, by index */
	int n;
	uint64_t txnid;         /* the transaction that wrote them */
	int syncing;            /* committed, the meta page left to the next group */
	enum rg_err failed;     /* the commit failed: every create's answer */
};

/* take_posted moves every posted slot to SLOT_TAKEN by me. */
static void take_posted(struct group_shm *g, int32_t me, struct group_batch *b)
{
	b->n = 0;
	for (int i = 0; i < GROUP_SLOTS; i++) {
		struct group_slot *s = &g->slots[i];
		uint64_t w = load64(&s->word);
		if (WORD_STATE(w) == SLOT_POSTED && cas64(&s->word, w, WORD(SLOT_TAKEN, me)))
			b->taken[b->n++] = i;
	}
}

/* commit_batch writes the taken creates in txn (held), each in a nested
 * transaction, and commits; the sync is left to the next group when more
 * creates are posted already.  A full map is grown and the batch written
 * again in a new transaction. */
static void commit_batch(struct store *st, MDB_txn *txn, struct group_batch *b)
{
	struct group_shm *g = st->group;
	for (int tries = 0;; tries++) {
		int rc = 0, wrote = 0;
		b->txnid = mdb_txn_id(txn);
		for (int i = 0; i < b->n && rc == 0; i++) {
			rc = run_op(st, txn, &g->slots[b->taken[i]], b->taken[i]);
			wrote |= rc == 0 && g->slots[b->taken[i]].err == RG_OK;
		}
		if (rc == 0) {
			rc = mdb_txn_commit(txn);
			if (rc == 0 && wrote)
				cover_synced(g, b->txnid);
			if (rc == 0 && wrote && others_posted(g))
				b->syncing = 1;
			else if (rc == 0)
				rc = mdb_env_sync(st->env, 1);
		} else {
			mdb_txn_abort(txn);
		}
		txn = NULL;
		if (rc == MDB_MAP_FULL && tries < 32 && env_grow_map(st) == 0 && env_txn_begin(st, 0, &txn) == 0)
			continue;
		b->failed = env_write_error(st, rc);
		return;
	}
}

/* hand_back gives each taken slot back to its poster, done or (committed,
 * not yet synced) syncing, and wakes the waiters. */
static void hand_back(struct group_shm *g, int32_t me, const struct group_batch *b)
{
	for (int i = 0; i < b->n; i++) {
		struct group_slot *s = &g->slots[b->taken[i]];
		if (b->failed != RG_OK)
			s->err = b->failed;
		s->txnid = b->txnid;
		cas64(&s->word, WORD(SLOT_TAKEN, me),
		      WORD(b->syncing && b->failed == RG_OK ? SLOT_SYNCING : SLOT_DONE, s->owner));
	}
	group_wake(g);
}

/* lead writes every posted create in txn (held), commits, has the commit
 * synced and marks them done. */
static void lead(struct store *st, MDB_txn *txn, int32_t me)
{
	struct group_batch b = { .syncing = 0, .failed = RG_OK };
	take_posted(st->group, me, &b);
	commit_batch(st, txn, &b);
	hand_back(st->group, me, &b);
}

/* committed_before: our leader died holding our create of n records;
 * with the writer lock held (txn), the receipt says whether it was
 * committed, and with which ids. */
static int committed_before(struct store *st, MDB_txn *txn, struct group_slot *s, int index, size_t n)
{
	uint8_t key = (uint8_t)index;
	MDB_val k = { 1, &key }, v;
	if (mdb_get(txn, st->group_dbi, &k, &v) != 0 || v.mv_size != sizeof(s->token) + n * ID_MAX ||
	    memcmp(v.mv_data, &s->token, sizeof(s->token)) != 0)
		return 0;
	memcpy(s->ids, (char *)v.mv_data + sizeof(s->token), n * ID_MAX);
	s->err = RG_OK;
	return 1;
}

/* wait_done waits up to ns nanoseconds for done_seq to move on from seq. */
static void wait_done(struct group_shm *g, uint32_t seq, long ns)
{
	struct timespec ts = { 0, ns };
	syscall(SYS_futex, &g->done_seq, FUTEX_WAIT, seq, &ts, NULL, 0);
}

/* post puts the create a, its records built with placeholder ids, in a
 * slot of its own (SLOT_FREE -> SLOT_FILLING -> SLOT_POSTED); NULL when it
 * is too large for a slot or no slot is free. */
static struct group_slot *post(struct group_shm *g, const struct insert_args *a, int32_t me)
{
	char ph[64][ID_MAX];
	for (size_t i = 0; i < a->n; i++)
		snprintf(ph[i], sizeof(ph[i]), "video_%026zu", i);
	struct buf b;
	buf_init(&b, GROUP_OP_MAX);
	struct group_slot *s = NULL;
	if (op_encode(&b, a, ph) == 0)
		s = claim_slot(g, me);
	if (s == NULL) {
		buf_deinit(&b);
		return NULL;
	}
	memcpy(s->op, b.data, b.len);
	s->len = (uint32_t)b.len;
	buf_deinit(&b);
	if (id_random((uint8_t *)&s->token, sizeof(s->token)) < 0)
		s->token = ((uint64_t)me << 32) ^ (uint64_t)time(NULL);
	__atomic_store_n(&s->word, WORD(SLOT_POSTED, me), __ATOMIC_RELEASE);
	return s;
}

/* await_sync: our create is committed, its meta page not yet synced
 * (SLOT_SYNCING, in word w).  The first time, wait up to
 * GROUP_SYNC_WAIT_US for the next group's commit to cover it; after that,
 * sync and mark it done ourselves. */
static void await_sync(struct store *st, struct group_slot *s, uint64_t w, int32_t me,
		       int *waited)
{
	uint32_t seq = __atomic_load_n(&st->group->done_seq, __ATOMIC_ACQUIRE);
	if (load64(&s->word) != w)
		return;
	if (*waited) {
		if (mdb_env_sync(st->env, 1) != 0)
			s->err = RG_EIO;
		cas64(&s->word, w, WORD(SLOT_DONE, me));
		return;
	}
	wait_done(st->group, seq, GROUP_SYNC_WAIT_US * 1000L);
	*waited = WORD_STATE(load64(&s->word)) == SLOT_SYNCING;
}

/* await_leader: a live leader holds our create (SLOT_TAKEN, in word w);
 * wait up to GROUP_WAIT_MS for it to be done. */
static void await_leader(struct group_shm *g, struct group_slot *s, uint64_t w)
{
	uint32_t seq = __atomic_load_n(&g->done_seq, __ATOMIC_ACQUIRE);
	if (load64(&s->word) != w)
		return;
	wait_done(g, seq, GROUP_WAIT_MS * 1000000L);
}

enum step { STEP_AGAIN, STEP_DONE, STEP_WITHDRAWN };

/* try_lead takes the writer lock for our posted create.  A leader that
 * died holding it (SLOT_TAKEN) is settled by the receipt: committed (the
 * result is in s: STEP_DONE), or posted again.  A posted create is then
 * led with every other posted one.  If the lock cannot be had, the create
 * is withdrawn unless a leader has it now (STEP_WITHDRAWN, *err set, the
 * slot SLOT_FILLING). */
static enum step try_lead(struct store *st, struct group_slot *s, size_t n, int32_t me,
			  enum rg_err *err)
{
	MDB_txn *txn;
	int rc = env_txn_begin(st, 0, &txn);
	if (rc != 0) {
		if (!cas64(&s->word, WORD(SLOT_POSTED, me), WORD(SLOT_FILLING, me)))
			return STEP_AGAIN;
		*err = env_error(rc);
		return STEP_WITHDRAWN;
	}
	uint64_t w = load64(&s->word);
	if (WORD_STATE(w) == SLOT_TAKEN && !pid_alive(WORD_PID(w))) {
		if (committed_before(st, txn, s, (int)(s - st->group->slots), n)) {
			mdb_txn_abort(txn);
			if (mdb_env_sync(st->env, 1) != 0)
				s->err = RG_EIO;
			return STEP_DONE;
		}
		cas64(&s->word, w, WORD(SLOT_POSTED, me));
		w = load64(&s->word);
	}
	if (WORD_STATE(w) != SLOT_POSTED) {
		mdb_txn_abort(txn);
		return STEP_AGAIN;
	}
	lead(st, txn, me);
	return STEP_AGAIN;
}

/* await_result follows our posted create of n records until its result
 * is in the slot (STEP_DONE) or it is withdrawn (STEP_WITHDRAWN). */
static enum step await_result(struct store *st, struct group_slot *s, size_t n, int32_t me,
			      enum rg_err *err)
{
	int waited = 0;
	for (;;) {
		uint64_t w = load64(&s->word);
		enum step step = STEP_AGAIN;
		if (WORD_STATE(w) == SLOT_DONE)
			step = STEP_DONE;
		else if (WORD_STATE(w) == SLOT_SYNCING)
			await_sync(st, s, w, me, &waited);
		else if (WORD_STATE(w) == SLOT_TAKEN && pid_alive(WORD_PID(w)))
			await_leader(st->group, s, w);
		else
			step = try_lead(st, s, n, me, err);
		if (step != STEP_AGAIN)
			return step;
	}
}

/* group_create: -1 when the create must commit on its own; else 0 with
 * *err, and as a write of its own would leave them, the new ids in a->ids
 * (RG_OK) or the earlier one in a->existing_id (RG_EEXIST). */
static int group_create(struct store *st, struct insert_args *a, enum rg_err *err)
{
	a->retry_after = 0;
	if (st->group == NULL || a->n > 64)
		return -1;
	int32_t me = (int32_t)getpid();
	struct group_slot *s = post(st->group, a, me);
	if (s == NULL)
		return -1;
	if (await_result(st, s, a->n, me, err) == STEP_DONE) {
		*err = (enum rg_err)s->err;
		a->retry_after = s->retry_after;
		if (*err == RG_OK)
			memcpy(a->ids, s->ids, a->n * ID_MAX);
		else if (*err == RG_EEXIST)
			snprintf(a->existing_id, ID_MAX, "%s", s->ids[0]);
	}
	__atomic_store_n(&s->word, WORD(SLOT_FREE, 0), __ATOMIC_RELEASE);
	return 0;
}

enum rg_err store_videos_insert(struct store *st, struct json_object *const *recs,
				size_t n, const char *idem, char existing_id[ID_MAX])
{
	if (n == 0 || (idem != NULL && strlen(idem) > IDEM_MAX))
		return RG_EINVAL;
	struct insert_args a = { (struct json_object **)recs, n, idem, existing_id,
				 NULL, NULL, NULL, NULL, 0, 0 };
	return env_write(st, kv_insert, &a);
}

enum rg_err store_videos_create(struct store *st, size_t n, const char *owner,
				const char *idem, store_build_fn build, void *arg,
				struct json_object **first)
{
	int unused;
	return store_videos_create_limited(st, n, owner, idem, 0, &unused, build, arg, first);
}

enum rg_err store_videos_create_limited(struct store *st, size_t n, const char *owner,
					const char *idem, int per_minute, int *retry_after_s,
					store_build_fn build, void *arg,
					struct json_object **first)
{
	*first = NULL;
	*retry_after_s = 0;
	if (n == 0 || n > 64 || (idem != NULL && strlen(idem) > IDEM_MAX))
		return RG_EINVAL;
	struct json_object *recs[64] = { NULL };
	char ids[64][ID_MAX];
	char existing[ID_MAX];
	struct insert_args a = { recs, n, idem, existing, owner, build, arg, ids, per_minute, 0 };
	enum rg_err err;
	if (!st->durable || group_create(st, &a, &err) < 0)
		err = env_write(st, kv_insert, &a);
	else if (err == RG_OK && (recs[0] = build(ids, n, 0, arg)) == NULL)
		err = RG_ENOMEM; /* committed: the answer alone is missing */
	*retry_after_s = a.retry_after;
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

static int kv_get(struct store *st, MDB_txn *txn, MDB_dbi dbi, const char *key,
		  struct json_object **out)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	int rc = mdb_get(txn, dbi, &k, &v);
	if (rc != 0)
		return rc;
	*out = kv_parse(&v);
	return *out ? 0 : MDB_CORRUPTED;
}

static enum rg_err kv_get_json(struct store *st, MDB_dbi dbi, const char *key,
			    struct json_object **out)
{
	MDB_txn *txn;
	*out = NULL;
	int rc = env_read_begin(st, &txn);
	if (rc != 0)
		return env_error(rc);
	rc = kv_get(st, txn, dbi, key, out);
	env_read_end(st, txn);
	return env_error(rc);
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
	int rc = kv_get(st, txn, st->videos, id, &old);
	if (rc != 0)
		return rc;
	rc = kv_index_video(st, txn, old, 0);
	json_object_put(old);
	if (rc == 0)
		rc = kv_put_video(st, txn, id, rec);
	if (rc == 0)
		rc = kv_index_video(st, txn, rec, 1);
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
		int rc = kv_get(st, txn, st->videos, a->ids[i], &rec);
		a->gone[i] = rc == MDB_NOTFOUND;
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc == 0)
			rc = kv_index_video(st, txn, rec, 0);
		if (rc == 0) {
			a->fn(rec, i, a->arg);
			rc = kv_put_video(st, txn, a->ids[i], rec);
		}
		if (rc == 0)
			rc = kv_index_video(st, txn, rec, 1);
		json_object_put(rec);
		if (rc != 0)
			return rc;
	}
	return 0;
}

enum rg_err store_videos_modify(struct store *st, char (*ids)[ID_MAX], size_t n,
				store_modify_fn fn, void *arg, int *gone)
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
	int rc = kv_get(st, txn, st->videos, a->id, &a->old);
	if (rc != 0)
		return rc;
	rc = kv_index_video(st, txn, a->old, 0);
	if (rc == 0) {
		MDB_val k = { strlen(a->id), (void *)a->id };
		rc = mdb_del(txn, st->videos, &k, NULL);
		if (rc == 0)
			rc = kv_del_index(txn, st->pub, a->id, strlen(a->id));
	}
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
static int seek_owner(MDB_cursor *cur, const char *prefix, size_t plen,
		      const char *after, int desc, MDB_val *k)
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

/* A list visitor reads id inside txn: 0 (setting *stop to end the list),
 * MDB_NOTFOUND (gone: not counted) or an error. */
typedef int (*visit_fn)(struct store *st, MDB_txn *txn, const char *id, void *arg, int *stop);

static enum rg_err list_owner(struct store *st, const char *owner, const char *after,
			      size_t limit, int desc, visit_fn visit, void *arg, int *has_more)
{
	char prefix[OWNER_MAX + 1];
	size_t plen = kv_pair_key(prefix, sizeof(prefix), owner, NULL);
	*has_more = 0;
	if (plen == 0 || (after != NULL && strlen(after) >= ID_MAX))
		return RG_EINVAL;
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = env_read_begin(st, &txn);
	if (rc != 0)
		return env_error(rc);
	rc = mdb_cursor_open(txn, st->by_owner, &cur);
	if (rc != 0) {
		env_read_end(st, txn);
		return env_error(rc);
	}
	MDB_val k, d;
	size_t seen = 0;
	enum rg_err err = RG_OK;
	rc = seek_owner(cur, prefix, plen, after, desc, &k);
	while (rc == 0) {
		if (k.mv_size <= plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if (seen == limit) {
			*has_more = 1;
			break;
		}
		char id[ID_MAX];
		size_t ilen = k.mv_size - plen;
		if (ilen >= ID_MAX) {
			err = RG_ECORRUPT;
			break;
		}
		memcpy(id, (char *)k.mv_data + plen, ilen);
		id[ilen] = '\0';
		int stop = 0;
		int grc = visit(st, txn, id, arg, &stop);
		if (grc == 0) {
			seen++;
			if (stop)
				break;
		} else if (grc != MDB_NOTFOUND) {
			err = env_error(grc);
			break;
		}
		rc = mdb_cursor_get(cur, &k, &d, desc ? MDB_PREV : MDB_NEXT);
	}
	if (err == RG_OK && rc != 0 && rc != MDB_NOTFOUND)
		err = env_error(rc);
	mdb_cursor_close(cur);
	env_read_end(st, txn);
	return err;
}

struct visit_args {
	store_video_fn rec_fn;
	store_public_fn pub_fn;
	void *arg;
	int list;            /* a list: ids come in order, and a cursor finds */
	MDB_cursor *pub_cur; /* the next one on the page it is on already */
};

static int visit_record(struct store *st, MDB_txn *txn, const char *id, void *arg, int *stop)
{
	struct visit_args *a = arg;
	struct json_object *rec = NULL;
	int rc = kv_get(st, txn, st->videos, id, &rec);
	if (rc == 0)
		*stop = a->rec_fn(rec, a->arg);
	json_object_put(rec);
	return rc;
}

/* pub_in hands fn the cached public object of id.  A record without one
 * (written by an older reelgate since this one filled them in) gets it
 * rendered on the spot, so a missing entry is slow, never wrong. */
static int pub_in(struct store *st, MDB_txn *txn, const char *id, void *arg, int *stop)
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
		*stop = a->pub_fn(id, v.mv_data, v.mv_size, a->arg);
		return 0;
	}
	if (rc != MDB_NOTFOUND)
		return rc;
	struct json_object *rec = NULL;
	rc = kv_get(st, txn, st->videos, id, &rec);
	if (rc != 0)
		return rc;
	struct buf b;
	buf_init(&b, PUB_MAX);
	rc = video_cache_build(rec, &b) < 0 ? MDB_CORRUPTED : 0;
	if (rc == 0)
		*stop = a->pub_fn(id, b.data, b.len, a->arg);
	buf_deinit(&b);
	json_object_put(rec);
	return rc;
}

enum rg_err store_video_list(struct store *st, const char *owner, const char *after,
			     size_t limit, int desc, store_video_fn fn, void *arg,
			     int *has_more)
{
	struct visit_args a = { fn, NULL, arg, 0, NULL };
	return list_owner(st, owner, after, limit, desc, visit_record, &a, has_more);
}

enum rg_err store_video_list_public(struct store *st, const char *owner, const char *after,
				    size_t limit, int desc, store_public_fn fn, void *arg,
				    int *has_more)
{
	struct visit_args a = { NULL, fn, arg, 1, NULL };
	enum rg_err err = list_owner(st, owner, after, limit, desc, pub_in, &a, has_more);
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
	int stop = 0;
	rc = pub_in(st, txn, id, &a, &stop);
	env_read_end(st, txn);
	return env_error(rc);
}

enum rg_err store_due_scan(struct store *st, uint64_t now_ms, size_t limit,
			   store_due_fn fn, void *arg)
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

/* ---- keys ------------------------------------------------------------------ */

struct key_insert_args {
	struct json_object *rec;
	const uint8_t *hash;
};

static int key_insert_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct key_insert_args *a = arg;
	const char *id = rec_str(a->rec, "id");
	if (id == NULL)
		return EINVAL;
	MDB_val hk = { 32, (void *)a->hash }, iv = { strlen(id), (void *)id };
	int rc = mdb_put(txn, st->key_hash, &hk, &iv, MDB_NOOVERWRITE);
	if (rc == 0)
		rc = kv_put_json(txn, st->keys, id, a->rec);
	return rc;
}

enum rg_err store_key_insert(struct store *st, struct json_object *rec, const uint8_t hash[32])
{
	struct key_insert_args a = { rec, hash };
	return env_write(st, key_insert_txn, &a);
}

/* key_in_hash finds the key record of hash: its bytes into *v. */
static int key_in_hash(struct store *st, MDB_txn *txn, const uint8_t hash[32], MDB_val *v)
{
	MDB_val hk = { 32, (void *)hash }, iv;
	int rc = mdb_get(txn, st->key_hash, &hk, &iv);
	if (rc != 0)
		return rc;
	if (iv.mv_size == 0 || iv.mv_size >= ID_MAX)
		return MDB_CORRUPTED;
	return mdb_get(txn, st->keys, &iv, v);
}

enum rg_err store_key_by_hash(struct store *st, const uint8_t hash[32],
				  store_bytes_fn fn, void *arg)
{
	MDB_txn *txn;
	MDB_val v;
	int rc = env_read_begin(st, &txn);
	if (rc != 0)
		return env_error(rc);
	rc = key_in_hash(st, txn, hash, &v);
	if (rc == 0)
		fn(v.mv_data, v.mv_size, arg);
	env_read_end(st, txn);
	return env_error(rc);
}

enum rg_err store_key_get(struct store *st, const char *key_id, struct json_object **out)
{
	return kv_get_json(st, st->keys, key_id, out);
}

static int key_put_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct json_object *rec = arg;
	const char *id = rec_str(rec, "id");
	MDB_val k = { id ? strlen(id) : 0, (void *)id }, v;
	if (id == NULL)
		return EINVAL;
	int rc = mdb_get(txn, st->keys, &k, &v);
	if (rc != 0)
		return rc;
	return kv_put_json(txn, st->keys, id, rec);
}

enum rg_err store_key_put(struct store *st, struct json_object *rec)
{
	return env_write(st, key_put_txn, rec);
}

static enum rg_err scan_all(struct store *st, MDB_dbi dbi, store_key_fn fn, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = env_read_begin(st, &txn);
	if (rc != 0)
		return env_error(rc);
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0) {
		env_read_end(st, txn);
		return env_error(rc);
	}
	MDB_val k, v;
	enum rg_err err = RG_OK;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		struct json_object *rec = kv_parse(&v);
		if (rec == NULL) {
			err = RG_ECORRUPT;
			break;
		}
		int stop = fn(rec, arg);
		json_object_put(rec);
		if (stop)
			break;
	}
	mdb_cursor_close(cur);
	env_read_end(st, txn);
	return err;
}

enum rg_err store_key_list(struct store *st, store_key_fn fn, void *arg)
{
	return scan_all(st, st->keys, fn, arg);
}

/* ---- consistency check ------------------------------------------------------ */

struct check_ctx {
	struct store *st;
	MDB_txn *txn;
	store_report_fn fn;
	void *arg;
	int bad;
};

__attribute__((format(printf, 2, 3)))
static void report(struct check_ctx *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->bad++;
	if (c->fn != NULL)
		c->fn(line, c->arg);
}

static int has_key(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len)
{
	MDB_val k = { len, (void *)key }, v;
	return mdb_get(txn, dbi, &k, &v) == 0;
}

/* check_pub: the cached public object is what the record makes now. */
static void check_pub(struct check_ctx *c, const char *id, struct json_object *rec)
{
	struct buf want;
	buf_init(&want, PUB_MAX);
	MDB_val k = { strlen(id), (void *)id }, v;
	if (video_cache_build(rec, &want) < 0)
		report(c, "record %s: its public object cannot be rendered", id);
	else if (mdb_get(c->txn, c->st->pub, &k, &v) != 0)
		report(c, "record %s: missing from public", id);
	else if (v.mv_size != want.len || memcmp(v.mv_data, want.data, want.len) != 0)
		report(c, "record %s: its cached public object differs from the record", id);
	buf_deinit(&want);
}

/* check_records: every record parses and has its index entries. */
static void check_records(struct check_ctx *c)
{
	MDB_cursor *cur;
	MDB_val k, v;
	if (mdb_cursor_open(c->txn, c->st->videos, &cur) != 0)
		return;
	while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
		struct json_object *rec = kv_parse(&v);
		const char *id = rec ? rec_str(rec, "id") : NULL;
		const char *owner = rec ? rec_str(rec, "owner") : NULL;
		if (id == NULL || owner == NULL ||
		    strlen(id) != k.mv_size || memcmp(id, k.mv_data, k.mv_size) != 0) {
			report(c, "record %.*s: unreadable or without id/owner",
			       (int)(k.mv_size < 64 ? k.mv_size : 64), (char *)k.mv_data);
			json_object_put(rec);
			continue;
		}
		char ok[OWNER_MAX + ID_MAX + 2];
		size_t oklen = kv_pair_key(ok, sizeof(ok), owner, id);
		if (oklen == 0 || !has_key(c->txn, c->st->by_owner, ok, oklen))
			report(c, "record %s: missing from by_owner", id);
		uint64_t due = kv_due_at(rec);
		if (due != 0) {
			uint8_t dk[8 + ID_MAX];
			size_t dklen = kv_due_key(dk, sizeof(dk), due, id);
			if (dklen == 0 || !has_key(c->txn, c->st->due, dk, dklen))
				report(c, "record %s: missing from due", id);
		}
		check_pub(c, id, rec);
		json_object_put(rec);
	}
	mdb_cursor_close(cur);
}

enum index_kind { INDEX_PAIR, INDEX_DUE, INDEX_ID };

/* check_index: every index entry points at a record that agrees. */
static void check_index(struct check_ctx *c, MDB_dbi dbi, const char *name, enum index_kind kind)
{
	MDB_cursor *cur;
	MDB_val k, v;
	if (mdb_cursor_open(c->txn, dbi, &cur) != 0)
		return;
	while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
		const char *p = k.mv_data;
		const char *id;
		size_t ilen;
		if (kind == INDEX_ID) {
			if (k.mv_size == sizeof(PUB_COMPLETE) - 1 &&
			    memcmp(p, PUB_COMPLETE, k.mv_size) == 0)
				continue;
			id = p;
			ilen = k.mv_size;
		} else if (kind == INDEX_DUE) {
			id = p + 8;
			ilen = k.mv_size > 8 ? k.mv_size - 8 : 0;
		} else {
			const char *z = memchr(p, '\0', k.mv_size);
			id = z ? z + 1 : p;
			ilen = z ? k.mv_size - (size_t)(z + 1 - p) : 0;
		}
		if (ilen == 0 || ilen >= ID_MAX || !has_key(c->txn, c->st->videos, id, ilen))
			report(c, "%s entry for %.*s: no such record", name,
			       (int)(ilen < ID_MAX ? ilen : ID_MAX), id);
	}
	mdb_cursor_close(cur);
}

enum rg_err store_check(struct store *st, store_report_fn fn, void *arg)
{
	struct check_ctx c = { st, NULL, fn, arg, 0 };
	int rc = env_read_begin(st, &c.txn);
	if (rc != 0)
		return env_error(rc);
	check_records(&c);
	check_index(&c, st->by_owner, "by_owner", INDEX_PAIR);
	check_index(&c, st->due, "due", INDEX_DUE);
	check_index(&c, st->pub, "public", INDEX_ID);
	env_read_end(st, c.txn);
	return c.bad ? RG_ECORRUPT : RG_OK;
}
