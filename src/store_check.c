/*
 * store_check: the consistency check (`reelgate db check`): every video
 * record parses, has its index entries (by_owner, due), a cached public
 * object and a download entry equal to what the record makes now, every
 * entry of by_owner, due, public and download points at a record, the
 * usage counts (tasks by model and status, each key's tasks in flight) are
 * what the records make, and every entry of the S3 delete queue names its
 * object.  It reads only, in one read transaction, and reports each
 * disagreement as a line; repairing is nobody's (the store's writers keep
 * them in step).
 */
#include "store_int.h"

#include "buf.h"
#include "download.h"
#include "record.h"
#include "video.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct check_ctx {
	struct store *st;
	MDB_txn *txn;
	store_report_fn fn;
	void *arg;
	int bad;
};

__attribute__((format(printf, 2, 3))) static void report(struct check_ctx *c, const char *fmt, ...)
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

/* check_download: the download entry is what the record makes now. */
static void check_download(struct check_ctx *c, const char *id, struct json_object *rec)
{
	struct buf want;
	buf_init(&want, PUB_MAX);
	MDB_val k = { strlen(id), (void *)id }, v;
	if (download_build(rec, &want) < 0)
		report(c, "record %s: its download entry cannot be built", id);
	else if (mdb_get(c->txn, c->st->download, &k, &v) != 0)
		report(c, "record %s: missing from download", id);
	else if (v.mv_size != want.len || memcmp(v.mv_data, want.data, want.len) != 0)
		report(c, "record %s: its download entry differs from the record", id);
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
		struct json_object *rec = env_parse(&v);
		const char *id = rec ? rec_str(rec, "id") : NULL;
		const char *owner = rec ? rec_str(rec, "owner") : NULL;
		if (id == NULL || owner == NULL || strlen(id) != k.mv_size ||
		    memcmp(id, k.mv_data, k.mv_size) != 0) {
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
		check_download(c, id, rec);
		json_object_put(rec);
	}
	mdb_cursor_close(cur);
}

/* check_objects: every entry of the S3 delete queue (store_objects.c) is
 * "o:<key>" holding that key; and an uploading record's objects have a
 * key and a known state. */
static void check_objects(struct check_ctx *c)
{
	MDB_cursor *cur;
	MDB_val k, v;
	if (mdb_cursor_open(c->txn, c->st->objects, &cur) != 0)
		return;
	while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
		struct json_object *e = env_parse(&v);
		const char *key = e ? rec_str(e, "key") : NULL;
		if (key == NULL || k.mv_size != strlen(key) + 2 ||
		    memcmp(k.mv_data, "o:", 2) != 0 ||
		    memcmp((char *)k.mv_data + 2, key, strlen(key)) != 0)
			report(c, "object delete %.*s: unreadable or not its key",
			       (int)(k.mv_size < 64 ? k.mv_size : 64), (char *)k.mv_data);
		json_object_put(e);
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

static void usage_line(const char *line, void *arg)
{
	struct check_ctx *c = arg;
	if (c->fn != NULL)
		c->fn(line, c->arg);
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
	check_objects(&c);
	check_index(&c, st->download, "download", INDEX_ID);
	c.bad += usage_check(st, c.txn, usage_line, &c);
	env_read_end(st, c.txn);
	return c.bad ? RG_ECORRUPT : RG_OK;
}
