/*
 * store_objects: the queue of S3 objects to delete (store.h).
 *
 * A video whose results are in the bucket (an "objects" map when
 * completed, or an "upload" under way) leaves, in the very transaction
 * that deletes or expires it, one entry per object: "o:<object key>" ->
 * {"key", "video", "queued_at", "upload_id" (a multipart upload to abort
 * first, when one was under way), "recheck" (true: the object's upload was
 * under way, so a request the store received before the delete may still
 * create the object after it: deleted a second time, later), "not_before"
 * (ms since the epoch: not sent before)}.  The dispatcher (s3_upload.c) sends the
 * deletes and removes an entry once the store has answered; one that
 * fails stays, and is tried again.  Nothing is forgotten between the
 * delete and the store's answer: the entry is on disk before either.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "record.h"
#include "store_int.h"

#define OBJ_KEY_MAX 480 /* below LMDB's 511-byte key limit */

/* entry_key writes the queue's key of object key into k: -1 when the
 * object key is empty or too long for one. */
static int entry_key(char k[OBJ_KEY_MAX + 3], const char *key)
{
	if (key == NULL || key[0] == '\0' || strlen(key) > OBJ_KEY_MAX)
		return -1;
	snprintf(k, OBJ_KEY_MAX + 3, "o:%s", key);
	return 0;
}

static int add_one(MDB_txn *txn, MDB_dbi dbi, const char *id, const char *key,
		   const char *upload_id, int recheck, uint64_t now_ms)
{
	char k[OBJ_KEY_MAX + 3];
	if (entry_key(k, key) < 0)
		return 0; /* none, or not one reelgate could have written */
	struct json_object *e = json_object_new_object();
	if (e == NULL)
		return ENOMEM;
	json_object_object_add(e, "key", json_object_new_string(key));
	json_object_object_add(e, "video", json_object_new_string(id));
	json_object_object_add(e, "queued_at", json_object_new_int64((int64_t)now_ms));
	if (upload_id && upload_id[0])
		json_object_object_add(e, "upload_id", json_object_new_string(upload_id));
	if (recheck)
		json_object_object_add(e, "recheck", json_object_new_boolean(1));
	int rc = kv_put_json(txn, dbi, k, e);
	json_object_put(e);
	return rc;
}

int kv_objects_add(struct store *st, MDB_txn *txn, struct json_object *rec, uint64_t now_ms)
{
	const char *id = rec_str(rec, "id");
	if (id == NULL)
		return 0;
	int rc = 0;
	struct json_object *objs = rec_obj(rec, "objects");
	if (objs) {
		json_object_object_foreach(objs, variant, key) {
			(void)variant;
			if (rc == 0 && json_object_is_type(key, json_type_string))
				rc = add_one(txn, st->objects, id, json_object_get_string(key),
					     NULL, 0, now_ms);
		}
	}
	struct json_object *up = rec_obj(rec_obj(rec, "upload"), "objects");
	if (up && rc == 0 && rec_obj(rec, "objects") == NULL) {
		json_object_object_foreach(up, variant, o) {
			(void)variant;
			const char *state = rec_str(o, "state");
			/* "pending": nothing sent yet; every other state may have
			 * left an object or an upload in the store, and all but
			 * "done" a request that may still land */
			if (rc == 0 && state && strcmp(state, "pending") != 0)
				rc = add_one(txn, st->objects, id, rec_str(o, "key"),
					     rec_str(o, "upload_id"), strcmp(state, "done") != 0,
					     now_ms);
		}
	}
	return rc;
}

enum rg_err store_objects_pending(struct store *st, store_object_fn fn, void *arg)
{
	return kv_scan_json(st, st->objects, "o:", 2, fn, arg);
}

static int done_txn(struct store *st, MDB_txn *txn, void *arg)
{
	char k[OBJ_KEY_MAX + 3];
	if (entry_key(k, arg) < 0)
		return EINVAL;
	return env_del(txn, st->objects, k, strlen(k));
}

enum rg_err store_objects_done(struct store *st, const char *key)
{
	return env_write(st, done_txn, (void *)key);
}

static int queue_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct json_object *rec = arg;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return kv_objects_add(st, txn, rec,
			      (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

enum rg_err store_objects_queue(struct store *st, struct json_object *rec)
{
	return env_write(st, queue_txn, rec);
}

struct edit {
	const char *key;
	int64_t not_before;
};

static int edit_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct edit *ed = arg;
	char k[OBJ_KEY_MAX + 3];
	if (entry_key(k, ed->key) < 0)
		return EINVAL;
	struct json_object *e = NULL;
	int rc = env_get(st, txn, st->objects, k, &e);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? 0 : rc; /* done meanwhile */
	if (ed->not_before > 0) {
		json_object_object_del(e, "recheck");
		json_object_object_add(e, "not_before", json_object_new_int64(ed->not_before));
	} else {
		json_object_object_del(e, "upload_id");
	}
	rc = kv_put_json(txn, st->objects, k, e);
	json_object_put(e);
	return rc;
}

enum rg_err store_objects_edit(struct store *st, const char *key, int64_t not_before_ms)
{
	struct edit ed = { key, not_before_ms };
	return env_write(st, edit_txn, &ed);
}
