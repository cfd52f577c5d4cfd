/*
 * store: every durable byte of reelgate's state, in one LMDB environment
 * (data_dir/db).  Owns the sub-databases, their key encodings, map growth,
 * stale readers and the rule that a record and its indexes change in one
 * write transaction.  Records are JSON objects; the store reads only the
 * fields it indexes ("id", "owner", "due_at") and leaves meaning to callers,
 * except that it has video.c render each record's public object beside it.
 *
 *   videos    id -> record (JSON text)
 *   by_owner  owner \0 id -> empty            listing, cursor pagination
 *   due       be64(due_at ms) id -> empty     what the dispatcher does next
 *   idem      owner \0 idempotency-key -> id
 *   keys      key id -> key record (JSON text)
 *   key_hash  sha256(secret) -> key id
 *   rate      owner -> be64(window start, s) be32(count)
 *   upstream  backend \0 upstream id -> id    who holds an upstream job
 *   files     "f:" owner \x1f file id -> Files API record (store_files.c)
 *   public    id -> the video's cached public object (video.c's
 *             video_cache_build), written with the record in the same
 *             transaction by every writer, so reads copy it instead of
 *             parsing the record
 *   download  id -> the video's download entry (download.h's
 *             download_build: owner, status, expired, where each variant
 *             is), written like public, so a download is authorised and
 *             answered without parsing the record
 *
 * A struct store belongs to one process: open it after fork, never before.
 */
#ifndef REELGATE_STORE_H
#define REELGATE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "error.h"
#include "id.h"

struct store;

struct store_options {
	size_t map_bytes;     /* initial map size */
	size_t max_map_bytes; /* the map never grows past this */
	int durable;	      /* fsync every commit */
};

enum rg_err store_open(struct store **out, const char *data_dir, const struct store_options *opt);
void store_close(struct store *st);

/* store_videos_insert writes n new records and their indexes atomically.
 * With an idempotency key (idem != NULL), if owner already used it for a
 * video that still exists, nothing is written, RG_EEXIST is returned and
 * that video's id is copied into existing_id. */
enum rg_err store_videos_insert(struct store *st, struct json_object *const *recs, size_t n,
				const char *idem, char existing_id[ID_MAX]);
/* store_videos_create is the insert used for new tasks: it allocates n ids
 * inside the write transaction, each sorting after every id already stored
 * (so id order is commit order, across processes), and calls build(ids, n,
 * i, arg) for each record.  The first record is handed back in *first
 * (caller puts it); on an idempotency hit it is the earlier video's record
 * and RG_EEXIST is returned. */
typedef struct json_object *(*store_build_fn)(char (*ids)[ID_MAX], size_t n, size_t i, void *arg);
enum rg_err store_videos_create(struct store *st, size_t n, const char *owner, const char *idem,
				store_build_fn build, void *arg, struct json_object **first);
/* A rate limit checked and counted in the same transaction as the create:
 * at most per_minute tasks per owner in a fixed one-minute window.  When it
 * is reached store_videos_create_limited returns RG_ELIMIT and sets
 * *retry_after_s. */
enum rg_err store_videos_create_limited(struct store *st, size_t n, const char *owner,
					const char *idem, int per_minute, int *retry_after_s,
					store_build_fn build, void *arg,
					struct json_object **first);
/* Why a create was refused (RG_ELIMIT: "rate_limit" or "max_in_flight";
 * RG_EQUOTA: "seconds_per_day", "seconds_per_month" or "cost_per_month"):
 * the limit, what is used (or reserved) of it, what the create asked for
 * (ms of video, micros of currency, or tasks), and when its window ends
 * (unix s, 0: when tasks finish). */
struct store_refusal {
	char which[24];
	int64_t limit, used, asked, reset_at;
};
/* store_videos_create_checked is store_videos_create_limited that also
 * holds the owner's budgets (its key record's limits, store_usage.c) and
 * says why it refused, in *why. */
enum rg_err store_videos_create_checked(struct store *st, size_t n, const char *owner,
					const char *idem, int per_minute, struct store_refusal *why,
					store_build_fn build, void *arg,
					struct json_object **first);
/* store_video_get parses the record of id into *out (caller puts it). */
enum rg_err store_video_get(struct store *st, const char *id, struct json_object **out);
/* store_video_update replaces a record (same id) and moves its due entry. */
enum rg_err store_video_update(struct store *st, struct json_object *rec);
/* store_videos_modify loads each of n records in one write transaction,
 * lets fn change it (i is its index) and writes it back: one commit, one
 * fsync, for any number of small changes.  gone[i] says a record no longer
 * exists (fn was not called for it). */
typedef void (*store_modify_fn)(struct json_object *rec, size_t i, void *arg);
enum rg_err store_videos_modify(struct store *st, char (*ids)[ID_MAX], size_t n, store_modify_fn fn,
				void *arg, int *gone);
/* store_video_delete removes id and its index entries; the old record is
 * handed to *old when old != NULL (caller puts it).  When the record was a
 * live remote task (store_cancel_wanted) the same transaction leaves the
 * entry of its upstream job to cancel. */
enum rg_err store_video_delete(struct store *st, const char *id, struct json_object **old);

/* Upstream jobs to cancel (store_cancels.c).  An entry: {"id", "state",
 * "deleted_at", "video": the record as deleted, and once finished
 * "done_at", "message"}; state "pending" until the dispatcher finishes it
 * (store_cancel_finish) as "cancelled", "gone" (the upstream had no such
 * job, or it had ended), "refused", "failed", "not_submitted" or
 * "unsupported".  Finished entries are purged after a week. */
int store_cancel_wanted(struct json_object *rec);
typedef int (*store_cancel_fn)(struct json_object *e, void *arg); /* borrows e; 1 stops */
enum rg_err store_cancel_pending(struct store *st, store_cancel_fn fn, void *arg);
enum rg_err store_cancel_list(struct store *st, store_cancel_fn fn, void *arg);
enum rg_err store_cancel_get(struct store *st, const char *id, struct json_object **out);
/* update rewrites a pending entry; finish moves it to the finished ones.
 * RG_ENOENT when it is not pending (any more). */
enum rg_err store_cancel_update(struct store *st, struct json_object *e);
enum rg_err store_cancel_finish(struct store *st, struct json_object *e);
enum rg_err store_cancel_purge(struct store *st, uint64_t before_ms, size_t *removed);

/* S3 objects to delete (store_objects.c): one entry per object of a
 * deleted or expired video, {"key", "video", "queued_at", "upload_id"
 * (a multipart upload to abort first), "recheck" (its upload was under
 * way: deleted a second time, later), "not_before"}, written in the
 * delete's or the expiry's own transaction; done removes an entry once the
 * store has answered.  queue writes the entries of rec alone.  edit
 * rewrites the entry of key: not_before_ms 0 drops its upload_id (the
 * upload aborted), else sets not_before and drops recheck (the first
 * delete done); an entry gone meanwhile is no error. */
typedef int (*store_object_fn)(struct json_object *e, void *arg); /* borrows e; 1 stops */
enum rg_err store_objects_pending(struct store *st, store_object_fn fn, void *arg);
enum rg_err store_objects_done(struct store *st, const char *key);
enum rg_err store_objects_queue(struct store *st, struct json_object *rec);
enum rg_err store_objects_edit(struct store *st, const char *key, int64_t not_before_ms);

/* Files API records (store_files.c): {"id", "owner", "bytes", "created_at",
 * "filename", "purpose", "path" (relative to data_dir)}.  Every call names
 * the owner: another owner's file is RG_ENOENT, like a missing one.  put
 * writes rec (new or replaced); delete hands the old record to *old when
 * old != NULL (caller puts it); list calls fn for each of owner's files,
 * oldest first, until fn returns non-zero (fn borrows rec). */
enum rg_err store_file_put(struct store *st, struct json_object *rec);
enum rg_err store_file_get(struct store *st, const char *owner, const char *id,
			   struct json_object **out);
enum rg_err store_file_delete(struct store *st, const char *owner, const char *id,
			      struct json_object **old);
typedef int (*store_file_fn)(struct json_object *rec, void *arg);
enum rg_err store_file_list(struct store *st, const char *owner, store_file_fn fn, void *arg);

/* store_upstream_holder says which task holds an upstream job (RG_ENOENT:
 * none); the index is kept from the records' remote.backend and
 * remote.upstream_id. */
enum rg_err store_upstream_holder(struct store *st, const char *backend, const char *upstream_id,
				  char holder[ID_MAX]);

/* store_video_list calls fn for up to limit of owner's videos, newest first
 * when desc, starting after the id `after` (which need not exist any more).
 * *has_more says whether more remain.  fn borrows rec. */
typedef int (*store_video_fn)(struct json_object *rec, void *arg);
enum rg_err store_video_list(struct store *st, const char *owner, const char *after, size_t limit,
			     int desc, store_video_fn fn, void *arg, int *has_more);

/* store_video_public hands fn the cached public object of id (see
 * video_cache_read); store_video_list_public does so for a page of owner's
 * videos, like store_video_list.  fn borrows id and the bytes for the call
 * and answers STORE_NEXT (the video is on the page), STORE_SKIP (it is
 * not: a filter left it out; it does not count towards limit) or
 * STORE_STOP.  A list examines at most max_examined videos (0: no bound);
 * when that bound ends it, *has_more is set as when limit does. */
enum { STORE_NEXT = 0, STORE_STOP = 1, STORE_SKIP = 2 };
typedef int (*store_public_fn)(const char *id, const void *cached, size_t len, void *arg);
enum rg_err store_video_public(struct store *st, const char *id, store_public_fn fn, void *arg);
enum rg_err store_video_list_public(struct store *st, const char *owner, const char *after,
				    size_t limit, size_t max_examined, int desc, store_public_fn fn,
				    void *arg, int *has_more);

/* store_video_download hands fn the download entry of id (see
 * download_read), borrowed for the call; fn's result is ignored.
 * RG_ENOENT when there is no such video. */
typedef int (*store_bytes_fn)(const void *data, size_t len, void *arg);
enum rg_err store_video_download(struct store *st, const char *id, store_bytes_fn fn, void *arg);

/* store_due_scan calls fn for each video whose due_at <= now_ms, oldest
 * first, up to limit; fn borrows id. */
typedef int (*store_due_fn)(const char *id, uint64_t due_at, void *arg);
enum rg_err store_due_scan(struct store *st, uint64_t now_ms, size_t limit, store_due_fn fn,
			   void *arg);

/* Keys.  hash is SHA-256 of the secret. */
enum rg_err store_key_insert(struct store *st, struct json_object *rec, const uint8_t hash[32]);
/* store_key_by_hash hands fn the stored JSON text of the key record of
 * hash, borrowed for the call (so a caller may skip parsing bytes it saw
 * before); fn's result is ignored. */
enum rg_err store_key_by_hash(struct store *st, const uint8_t hash[32], store_bytes_fn fn,
			      void *arg);
enum rg_err store_key_get(struct store *st, const char *key_id, struct json_object **out);
enum rg_err store_key_put(struct store *st, struct json_object *rec);
typedef int (*store_key_fn)(struct json_object *rec, void *arg);
enum rg_err store_key_list(struct store *st, store_key_fn fn, void *arg);

/* What store_keys_import did, or why it wrote nothing. */
struct store_import {
	size_t keys_added, keys_updated, keys_replaced, keys_unchanged;
	size_t endpoints_added, endpoints_updated, endpoints_unchanged;
	char why[512]; /* set when the import is refused */
};
/* store_keys_import writes, in one transaction, the key records keys (each
 * with "id" and "hash", 64 hex digits) and the webhook endpoint records eps
 * (each with "id" and "key_id"), as they are: a key that is there with the
 * same record is left, with the same hash is updated, with another hash is
 * refused (RG_EEXIST, why set, nothing written) unless replace (the new
 * hash then replaces the old one); a hash that is another key's, and an
 * endpoint that is another key's, are refused. */
enum rg_err store_keys_import(struct store *st, struct json_object **keys, size_t nkeys,
			      struct json_object **eps, size_t neps, int replace,
			      struct store_import *out);

/* store_check verifies that indexes and cached public objects agree with
 * records; writes a report of
 * each disagreement to fn (one line each).  Returns RG_ECORRUPT if any. */
typedef void (*store_report_fn)(const char *line, void *arg);
enum rg_err store_check(struct store *st, store_report_fn fn, void *arg);

/* Characters (store_characters.c): {"id", "name", "created_at" (s),
 * "owner", "path" (relative to data_dir)} under their id.  put writes a
 * new one (RG_EEXIST when the id is taken); get reads one (RG_ENOENT);
 * whose it is is the caller's to check. */
enum rg_err store_character_put(struct store *st, struct json_object *rec);
enum rg_err store_character_get(struct store *st, const char *id, struct json_object **out);

/* Webhooks (store_webhooks.c).  An endpoint: {"id" ("we_..."), "key_id",
 * "url", "events" (types, or absent: every one), "secret" ("whsec_..."),
 * "old_secret" and "old_until" (ms) during a rotation, "created_at_ms",
 * "state" ("enabled", "disabled"), "disabled_reason"}.  A delivery: {"id"
 * ("dlv_..."), "event_id", "type", "video_id", "key_id", "endpoint_id"
 * (whose secret signs it), "url", "callback" (true: a callback_url),
 * "body" (the event's exact bytes), "created_at" (ms), "attempts",
 * "state" ("pending", "delivered", "failed", "disabled"), "next_at" (ms),
 * "last_status", "last_error", "last_at", "done_at"}. */
typedef int (*store_webhook_fn)(struct json_object *rec, void *arg); /* borrows; 1 stops */
enum rg_err store_webhook_put(struct store *st, struct json_object *ep);
enum rg_err store_webhook_get(struct store *st, const char *id, struct json_object **out);
/* remove: the endpoint goes, its pending deliveries fail. */
enum rg_err store_webhook_remove(struct store *st, const char *id);
/* list: key_id's endpoints (NULL: every key's). */
enum rg_err store_webhook_list(struct store *st, const char *key_id, store_webhook_fn fn,
			       void *arg);
enum rg_err store_delivery_get(struct store *st, const char *id, struct json_object **out);
/* due: up to limit pending deliveries signed by endpoint with next_at <=
 * now_ms, soonest first. */
enum rg_err store_delivery_due(struct store *st, const char *endpoint, uint64_t now_ms,
			       size_t limit, store_webhook_fn fn, void *arg);
/* due_skip: the same, passing over (without reading them) the deliveries
 * for which skip(id, arg) is true: those in flight or answered. */
enum rg_err store_delivery_due_skip(struct store *st, const char *endpoint, uint64_t now_ms,
				    size_t limit, int (*skip)(const char *id, void *arg),
				    store_webhook_fn fn, void *arg);
/* update rewrites a pending delivery (RG_ENOENT when it is no longer
 * pending); redeliver rewrites one in any state (the CLI's redeliver). */
enum rg_err store_delivery_update(struct store *st, struct json_object *d);
enum rg_err store_delivery_redeliver(struct store *st, struct json_object *d);
/* update_many: store_delivery_update of n deliveries in one transaction
 * (those no longer pending are skipped). */
enum rg_err store_deliveries_update(struct store *st, struct json_object **d, size_t n);
enum rg_err store_delivery_list(struct store *st, store_webhook_fn fn, void *arg);
/* purge removes the deliveries finished before before_ms. */
enum rg_err store_delivery_purge(struct store *st, uint64_t before_ms, size_t *removed);

/* store_task_counts calls fn once for each (model, status) that has
 * tasks in the store, with their number (the gauges of /metrics); fn
 * borrows the strings.  Its result stops the walk when non-zero. */
typedef int (*store_count_fn)(const char *model, const char *status, uint64_t count, void *arg);
enum rg_err store_task_counts(struct store *st, store_count_fn fn, void *arg);

/* The usage ledger (store_usage.c): each entry of owner's (NULL: every
 * key's) with from_day <= day <= to_day ("YYYY-MM-DD"), in key order
 * (owner, day, model, tier); fn borrows everything; non-zero stops. */
typedef int (*store_usage_fn)(const char *owner, const char *day, const char *model,
			      const char *tier, struct json_object *entry, void *arg);
enum rg_err store_usage_scan(struct store *st, const char *owner, const char *from_day,
			     const char *to_day, store_usage_fn fn, void *arg);
/* owner's budgets and what it has used of them at unix time now, read in
 * one transaction with the very code a create's check runs: the limits of
 * its key record (0: none; seconds, micros, tasks), the ms of video and
 * cost micros counted on that UTC day and month (made, or reserved by
 * tasks still running), and its tasks queued or in progress. */
struct store_budget {
	int64_t seconds_per_day, seconds_per_month, cost_per_month_micros, max_in_flight;
	int64_t day_ms, month_ms, month_cost, in_flight;
};
enum rg_err store_budget_used(struct store *st, const char *owner, int64_t now,
			      struct store_budget *out);

/* disk_nearly_full says whether the file system of path has less than
 * 1 MiB left (a failed write is then "storage full", not an I/O error). */
int disk_nearly_full(const char *path);
/* fsync_dir makes the entries of directory dir durable (a file made or
 * renamed in it); -1 with errno. */
int fsync_dir(const char *dir);

/* store_read_hold starts one read transaction that every read of this
 * store then uses (one snapshot, and one reader-slot renewal instead of
 * one per read) until store_read_release; nothing may be written between
 * the two.  Without it (it failed) each read has its own, as always. */
void store_read_hold(struct store *st);
void store_read_release(struct store *st);
/* store_map_size reports the current map size (for tests and logs). */
size_t store_map_size(struct store *st);
/* store_release_pages drops this process's mapping of the database pages it
 * has read (they stay in the page cache, and come back on the next read),
 * so a long-lived reader's RSS stays its own memory, not the file's.  Call
 * it with no transaction open. */
void store_release_pages(struct store *st);

/* store_env_stats reports the LMDB map's size and the bytes of it in use
 * (the pages up to the last one written), for /metrics. */
enum rg_err store_env_stats(struct store *st, uint64_t *map_bytes, uint64_t *used_bytes);

#endif
