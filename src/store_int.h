/*
 * store_int: what the store's files share (store.h is the store's interface
 * to the rest of reelgate; this header is not for the rest of reelgate).
 *
 * The files are layered; each calls only the files below it, never one
 * beside or above it:
 *
 *   store.c         open and close; the videos (store.h)
 *   store_keys.c    the API keys (store.h), and their import with their
 *                   webhook endpoints (store_webhooks.c)
 *   store_files.c   the Files API records (store.h)
 *   store_check.c   the consistency check, `reelgate db check` (store.h)
 *   store_group.c   creates grouped into shared commits (db/group.shm)
 *   store_kv.c      keys and values: records and their index entries,
 *                   written and read inside a transaction
 *   store_usage.c   the ledger, budgets and status counts kept with them
 *   store_env.c     the LMDB environment: transactions, the map, errors
 */
#ifndef REELGATE_STORE_INT_H
#define REELGATE_STORE_INT_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "error.h"
#include "id.h"
#include "store.h"

struct group_shm;

struct store {
	MDB_env *env;
	MDB_dbi videos, by_owner, due, idem, keys, key_hash, rate, upstream, pub;
	MDB_dbi group_dbi;	 /* receipts of grouped creates, by slot */
	MDB_dbi cancels;	 /* upstream jobs to cancel (store_cancels.c) */
	MDB_dbi files;		 /* Files API records (store_files.c) */
	MDB_dbi characters;	 /* characters, by id (store_characters.c) */
	MDB_dbi webhooks;	 /* endpoints and deliveries (store_webhooks.c) */
	MDB_dbi usage;		 /* ledger, budgets, status counts (store_usage.c) */
	MDB_dbi objects;	 /* S3 objects to delete (store_objects.c) */
	MDB_dbi download;	 /* id -> download entry (download.h), beside pub */
	struct group_shm *group; /* db/group.shm, or NULL: creates commit alone */
	size_t max_map;
	MDB_txn *rtxn;	 /* a reset read transaction, renewed for the next read */
	MDB_txn *held;	 /* store_read_hold's: every read uses it until released */
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
/* ... and the same key in download for the download entries. */
#define DOWNLOAD_COMPLETE PUB_COMPLETE
#define PUB_MAX (64u << 20)

/* ---- store_env.c --------------------------------------------------------- */

/* env_open opens the environment of st->path (st->max_map and st->durable
 * set) with a map of at least map_bytes, and its sub-databases: 0, an MDB
 * code or an errno.  env_close undoes it, also a failed env_open. */
int env_open(struct store *st, size_t map_bytes);
void env_close(struct store *st);
/* env_error: the rg_err of an MDB code or an errno (0: RG_OK). */
enum rg_err env_error(int rc);
/* env_grow_map doubles the map, up to st->max_map: 0, or -1 when it may not
 * grow. */
int env_grow_map(struct store *st);
/* env_txn_begin begins a transaction (flags as mdb_txn_begin's), adopting a
 * map another process grew and clearing stale readers. */
int env_txn_begin(struct store *st, unsigned flags, MDB_txn **txn);
/* env_read_begin and env_read_end: a read transaction, the reset one of the
 * process reused. */
int env_read_begin(struct store *st, MDB_txn **txn);
void env_read_end(struct store *st, MDB_txn *txn);
/* env_cursor_begin: a read transaction of the process and a cursor on dbi
 * in it (0, or an MDB code: then neither); env_cursor_end ends both. */
int env_cursor_begin(struct store *st, MDB_dbi dbi, MDB_txn **txn, MDB_cursor **cur);
void env_cursor_end(struct store *st, MDB_txn *txn, MDB_cursor *cur);

typedef int (*env_write_fn)(struct store *st, MDB_txn *txn, void *arg);

/* An env_write_fn returns TXN_EXISTS to roll back on purpose: RG_EEXIST. */
#define TXN_EXISTS 1
/* ... and TXN_LIMITED when a rate limit refuses the write: RG_ELIMIT. */
#define TXN_LIMITED 2
/* ... and TXN_BUDGET when a budget refuses it: RG_EQUOTA. */
#define TXN_BUDGET 3

/* env_write runs fn in a write transaction and commits (durably when the
 * store is), growing the map and running fn again when it is full. */
enum rg_err env_write(struct store *st, env_write_fn fn, void *arg);
/* env_write_error: what a write transaction that ended with rc (0, an MDB
 * code or an errno) answers, the map being as large as it may grow. */
enum rg_err env_write_error(struct store *st, int rc);

/* env_parse parses stored JSON text (NULL: not JSON). */
struct json_object *env_parse(const MDB_val *v);
/* env_del deletes an index entry; one that is not there is no
 * error. */
int env_del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen);
/* env_get parses the record under key in dbi into *out. */
int env_get(struct store *st, MDB_txn *txn, MDB_dbi dbi, const char *key, struct json_object **out);

/* ---- store_kv.c ---------------------------------------------------------- */

/* kv_due_at: when the dispatcher looks at rec next (its due_at, ms), 0:
 * never (none, or not a positive integer). */
uint64_t kv_due_at(struct json_object *rec);
/* kv_cancel_add leaves the entry of an upstream job to cancel when old (a
 * record being deleted) is a live remote task (store_cancels.c). */
int kv_cancel_add(struct store *st, MDB_txn *txn, struct json_object *old, uint64_t now_ms);
/* kv_objects_add queues the deletes of rec's S3 objects (its "objects",
 * or those of an "upload" under way) (store_objects.c). */
int kv_objects_add(struct store *st, MDB_txn *txn, struct json_object *rec, uint64_t now_ms);
/* kv_events_add writes the deliveries of rec's event when this write
 * moves it to a terminal state (from old_status, NULL for a new record):
 * to each of its key's endpoints that takes the event, and to
 * params.callback_url (store_webhooks.c).  0 or an MDB code / errno. */
int kv_events_add(struct store *st, MDB_txn *txn, const char *old_status, struct json_object *rec);
/* kv_scan_json calls fn for each record of dbi whose key starts with
 * prefix (plen 0: every one), in key order, until fn returns non-zero;
 * fn borrows rec.  RG_ECORRUPT for a value that is not JSON. */
enum rg_err kv_scan_json(struct store *st, MDB_dbi dbi, const char *prefix, size_t plen,
			 int (*fn)(struct json_object *rec, void *arg), void *arg);
/* kv_purge_json removes, in one write transaction, each record of dbi
 * whose key starts with prefix and for which old(rec, arg) is true; the
 * count into *removed. */
enum rg_err kv_purge_json(struct store *st, MDB_dbi dbi, const char *prefix, size_t plen,
			  int (*old)(struct json_object *rec, void *arg), void *arg,
			  size_t *removed);
/* kv_pair_key builds a \0 b (a \0 when b is NULL) into out: its length,
 * 0 when it does not fit. */
size_t kv_pair_key(char *out, size_t cap, const char *a, const char *b);
/* kv_due_key builds be64(at) id into out: its length, 0 when it does
 * not fit. */
size_t kv_due_key(uint8_t *out, size_t cap, uint64_t at, const char *id);

/* kv_put_json writes rec's JSON text under key in dbi. */
int kv_put_json(MDB_txn *txn, MDB_dbi dbi, const char *key, struct json_object *rec);
/* kv_put_pub writes the cached public object of rec; EINVAL when it
 * cannot be rendered. */
int kv_put_pub(struct store *st, MDB_txn *txn, const char *id, struct json_object *rec);
/* kv_put_download writes the download entry of rec; EINVAL when it cannot
 * be built. */
int kv_put_download(struct store *st, MDB_txn *txn, const char *id, struct json_object *rec);
/* kv_put_video is the one way a video record is written: with its
 * cached public object and its download entry.  Its index entries are kv_index_video's. */
int kv_put_video(struct store *st, MDB_txn *txn, const char *id, struct json_object *rec);
/* kv_index_video adds (add != 0) or removes the index entries of rec:
 * by_owner, due, upstream. */
int kv_index_video(struct store *st, MDB_txn *txn, struct json_object *rec, int add);
/* kv_get_json is env_get in a read transaction of its own. */
enum rg_err kv_get_json(struct store *st, MDB_dbi dbi, const char *key, struct json_object **out);

/* What kv_insert writes: n records (recs) with the idempotency key
 * idem, or, for a create (build != NULL), n records that build makes once
 * their ids are given out. */
struct insert_args {
	struct json_object **recs;
	size_t n;
	const char *idem;
	char *existing_id;
	const char *owner;    /* for create: the owner of the new records */
	store_build_fn build; /* for create: makes records once ids exist */
	void *build_arg;
	char (*ids)[ID_MAX];
	int per_minute;		  /* rate limit, 0: none */
	int retry_after;	  /* out: seconds until the window ends */
	struct store_refusal why; /* out: why a create was refused */
};

/* kv_insert (an env_write_fn, arg a struct insert_args) writes the
 * records and their index entries: TXN_EXISTS on an idempotency hit (the
 * earlier id in existing_id), TXN_LIMITED when the rate limit refuses them
 * (retry_after set). */
int kv_insert(struct store *st, MDB_txn *txn, void *arg);

/* ---- store_webhooks.c --------------------------------------------------- */

/* kv_webhook_put writes the endpoint ep (its "id" names it) in txn;
 * kv_webhook_get reads endpoint id (MDB_NOTFOUND when there is none). */
int kv_webhook_put(struct store *st, MDB_txn *txn, struct json_object *ep);
int kv_webhook_get(struct store *st, MDB_txn *txn, const char *id, struct json_object **out);

/* ---- store_usage.c ------------------------------------------------------ */

/* kv_usage_created, _changed and _deleted keep the ledger, the budgets'
 * use and the status counts with a record that is written new, moved
 * from old_status, or deleted: 0 or an MDB code / errno. */
int kv_usage_created(struct store *st, MDB_txn *txn, struct json_object *rec);
int kv_usage_changed(struct store *st, MDB_txn *txn, const char *old_status,
		     struct json_object *rec);
int kv_usage_deleted(struct store *st, MDB_txn *txn, struct json_object *old);
/* kv_budget_check: 0 when owner's limits let the n new records in; else
 * TXN_LIMITED or TXN_BUDGET with *why filled. */
int kv_budget_check(struct store *st, MDB_txn *txn, const char *owner, struct json_object **recs,
		    size_t n, struct store_refusal *why);
/* usage_check compares the status counts and each owner's tasks in flight
 * with what the records make, in txn; each difference is a line to report.
 * Returns how many. */
int usage_check(struct store *st, MDB_txn *txn, void (*report)(const char *line, void *arg),
		void *arg);
/* usage_backfill counts, once, the records written before the counts
 * existed (at open). */
enum rg_err usage_backfill(struct store *st);

/* ---- store_group.c ------------------------------------------------------- */

/* group_open maps db/group.shm into st->group (left NULL when it cannot:
 * every create then commits on its own); group_close unmaps it. */
void group_open(struct store *st);
void group_close(struct store *st);
/* group_create: -1 when the create a must commit on its own; else 0 with
 * *err, and as a write of its own would leave them, the new ids in a->ids
 * (RG_OK) or the earlier one in a->existing_id (RG_EEXIST). */
int group_create(struct store *st, struct insert_args *a, enum rg_err *err);

#endif
