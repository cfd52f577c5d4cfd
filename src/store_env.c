/*
 * store_env: the LMDB environment of a process's store (data_dir/db/data.mdb):
 * opening it and its sub-databases, the transactions every store file runs
 * in, the map (its growth, and the pages a process has read), and what an
 * LMDB code means to the rest of reelgate.  What is written in a
 * transaction is the other store files' concern.
 *
 * Write transactions go through env_write(), which retries after growing the
 * map on MDB_MAP_FULL and adopts a map another process grew
 * (MDB_MAP_RESIZED); read transactions go through env_read_begin(), which also
 * clears stale readers left by killed processes.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

enum rg_err env_error(int rc)
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

int env_grow_map(struct store *st)
{
	MDB_envinfo info;
	mdb_env_info(st->env, &info);
	size_t cur = info.me_mapsize;
	if (cur >= st->max_map)
		return -1;
	size_t next = cur < st->max_map / 2 ? cur * 2 : st->max_map;
	return mdb_env_set_mapsize(st->env, next) == 0 ? 0 : -1;
}

int env_txn_begin(struct store *st, unsigned flags, MDB_txn **txn)
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
int env_read_begin(struct store *st, MDB_txn **txn)
{
	if (st->held != NULL) {
		*txn = st->held;
		return 0;
	}
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

void env_read_end(struct store *st, MDB_txn *txn)
{
	if (txn == st->held)
		return; /* store_read_release ends it */
	if (st->rtxn == NULL) {
		mdb_txn_reset(txn);
		st->rtxn = txn;
	} else {
		mdb_txn_abort(txn);
	}
}

void store_read_hold(struct store *st)
{
	MDB_txn *t;
	if (st->held == NULL && env_read_begin(st, &t) == 0)
		st->held = t;
}

void store_read_release(struct store *st)
{
	MDB_txn *t = st->held;
	if (t != NULL) {
		st->held = NULL;
		env_read_end(st, t);
	}
}

/* env_write_error: what a write transaction that ended with rc (0, an MDB
 * code or an errno) answers, the map being as large as it may grow. */
enum rg_err env_write_error(struct store *st, int rc)
{
	if (rc == MDB_MAP_FULL)
		return RG_ESPACE;
	/* LMDB reports a short write on a full disk as EIO. */
	if (rc == EIO && disk_nearly_full(st->path))
		return RG_ESPACE;
	return env_error(rc);
}

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
enum rg_err env_write(struct store *st, env_write_fn fn, void *arg)
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
			if (rc == TXN_BUDGET)
				return RG_EQUOTA;
		}
		if (rc == MDB_MAP_FULL && env_grow_map(st) == 0)
			continue;
		return env_write_error(st, rc);
	}
	return RG_ESPACE;
}

int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
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
	    (rc = mdb_dbi_open(txn, "group", MDB_CREATE, &st->group_dbi)) ||
	    (rc = mdb_dbi_open(txn, "cancels", MDB_CREATE, &st->cancels)) ||
	    (rc = mdb_dbi_open(txn, "files", MDB_CREATE, &st->files)) ||
	    (rc = mdb_dbi_open(txn, "characters", MDB_CREATE, &st->characters)) ||
	    (rc = mdb_dbi_open(txn, "webhooks", MDB_CREATE, &st->webhooks)) ||
	    (rc = mdb_dbi_open(txn, "usage", MDB_CREATE, &st->usage)) ||
	    (rc = mdb_dbi_open(txn, "objects", MDB_CREATE, &st->objects)) ||
	    (rc = mdb_dbi_open(txn, "download", MDB_CREATE, &st->download))) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

int env_open(struct store *st, size_t map_bytes)
{
	int rc = mdb_env_create(&st->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(st->env, 32);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(st->env, 512);
	if (rc == 0)
		rc = mdb_env_open(st->env, st->path, st->durable ? MDB_NOMETASYNC : MDB_NOSYNC,
				  0600);
	if (rc == 0) {
		/* Adopt the size on disk when it is larger than asked. */
		MDB_envinfo info;
		mdb_env_info(st->env, &info);
		if (info.me_mapsize < map_bytes)
			rc = mdb_env_set_mapsize(st->env, map_bytes);
	}
	if (rc == 0) {
		int dead = 0;
		mdb_reader_check(st->env, &dead);
		rc = open_dbis(st);
		if (rc == 0 && st->durable)
			rc = mdb_env_sync(st->env, 1);
	}
	return rc;
}

void env_close(struct store *st)
{
	if (st->rtxn)
		mdb_txn_abort(st->rtxn);
	st->rtxn = NULL;
	if (st->env)
		mdb_env_close(st->env);
	st->env = NULL;
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

struct json_object *env_parse(const MDB_val *v)
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

int env_get(struct store *st, MDB_txn *txn, MDB_dbi dbi, const char *key, struct json_object **out)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	int rc = mdb_get(txn, dbi, &k, &v);
	if (rc != 0)
		return rc;
	*out = env_parse(&v);
	return *out ? 0 : MDB_CORRUPTED;
}

int env_del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen)
{
	MDB_val k = { klen, (void *)key };
	int rc = mdb_del(txn, dbi, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int env_cursor_begin(struct store *st, MDB_dbi dbi, MDB_txn **txn, MDB_cursor **cur)
{
	int rc = env_read_begin(st, txn);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_open(*txn, dbi, cur);
	if (rc != 0)
		env_read_end(st, *txn);
	return rc;
}

void env_cursor_end(struct store *st, MDB_txn *txn, MDB_cursor *cur)
{
	mdb_cursor_close(cur);
	env_read_end(st, txn);
}

enum rg_err store_env_stats(struct store *st, uint64_t *map_bytes, uint64_t *used_bytes)
{
	MDB_envinfo info;
	MDB_stat stat;
	int rc = mdb_env_info(st->env, &info);
	if (rc == 0)
		rc = mdb_env_stat(st->env, &stat);
	if (rc != 0)
		return env_error(rc);
	*map_bytes = info.me_mapsize;
	*used_bytes = ((uint64_t)info.me_last_pgno + 1) * stat.ms_psize;
	return RG_OK;
}
