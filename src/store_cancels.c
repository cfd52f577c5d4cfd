/*
 * store_cancels: upstream jobs to cancel (store.h).
 *
 * A remote task deleted while queued or in progress may have a job at its
 * upstream that is still running (and billing).  The delete's own
 * transaction leaves an entry, "p:<video id>", holding the record as it
 * was and "state": "pending"; the dispatcher sends the module's cancel and
 * finishes the entry, which moves to "d:<video id>" with the outcome, kept
 * for a week.  An entry is never lost between the delete and the cancel:
 * a dispatcher that dies meanwhile leaves it pending for the next one.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "record.h"
#include "store_int.h"

#define CANCEL_KEY_MAX (ID_MAX + 3)

static size_t cancel_key(char out[CANCEL_KEY_MAX], char kind, const char *id)
{
	return (size_t)snprintf(out, CANCEL_KEY_MAX, "%c:%s", kind, id);
}

int store_cancel_wanted(struct json_object *rec)
{
	const char *status = rec_str(rec, "status");
	return status && (strcmp(status, "queued") == 0 || strcmp(status, "in_progress") == 0) &&
	       remote_get(rec, "backend") != NULL;
}

int kv_cancel_add(struct store *st, MDB_txn *txn, struct json_object *old, uint64_t now_ms)
{
	const char *id = rec_str(old, "id");
	if (id == NULL || strlen(id) >= ID_MAX || !store_cancel_wanted(old))
		return 0;
	struct json_object *e = json_object_new_object();
	if (e == NULL)
		return ENOMEM;
	json_object_object_add(e, "id", json_object_new_string(id));
	json_object_object_add(e, "state", json_object_new_string("pending"));
	json_object_object_add(e, "deleted_at", json_object_new_int64((int64_t)now_ms));
	json_object_object_add(e, "video", json_object_get(old));
	char key[CANCEL_KEY_MAX];
	cancel_key(key, 'p', id);
	int rc = kv_put_json(txn, st->cancels, key, e);
	json_object_put(e);
	return rc;
}

static enum rg_err scan_kind(struct store *st, char kind, store_cancel_fn fn, void *arg)
{
	char prefix[2] = { kind, ':' };
	return kv_scan_json(st, st->cancels, prefix, 2, fn, arg);
}

enum rg_err store_cancel_pending(struct store *st, store_cancel_fn fn, void *arg)
{
	return scan_kind(st, 'p', fn, arg);
}

enum rg_err store_cancel_list(struct store *st, store_cancel_fn fn, void *arg)
{
	enum rg_err err = scan_kind(st, 'p', fn, arg);
	return err == RG_OK ? scan_kind(st, 'd', fn, arg) : err;
}

enum rg_err store_cancel_get(struct store *st, const char *id, struct json_object **out)
{
	char key[CANCEL_KEY_MAX];
	if (strlen(id) >= ID_MAX)
		return RG_ENOENT;
	cancel_key(key, 'p', id);
	enum rg_err err = kv_get_json(st, st->cancels, key, out);
	if (err != RG_ENOENT)
		return err;
	cancel_key(key, 'd', id);
	return kv_get_json(st, st->cancels, key, out);
}

struct write_args {
	struct json_object *e;
	int finish;
};

static int write_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct write_args *a = arg;
	const char *id = rec_str(a->e, "id");
	char key[CANCEL_KEY_MAX];
	if (id == NULL || strlen(id) >= ID_MAX)
		return EINVAL;
	cancel_key(key, 'p', id);
	MDB_val k = { strlen(key), key }, v;
	int rc = mdb_get(txn, st->cancels, &k, &v); /* still pending? */
	if (rc != 0)
		return rc;
	if (!a->finish)
		return kv_put_json(txn, st->cancels, key, a->e);
	if ((rc = mdb_del(txn, st->cancels, &k, NULL)) != 0)
		return rc;
	cancel_key(key, 'd', id);
	return kv_put_json(txn, st->cancels, key, a->e);
}

enum rg_err store_cancel_update(struct store *st, struct json_object *e)
{
	struct write_args a = { e, 0 };
	return env_write(st, write_txn, &a);
}

enum rg_err store_cancel_finish(struct store *st, struct json_object *e)
{
	struct write_args a = { e, 1 };
	return env_write(st, write_txn, &a);
}

/* done_before: an entry finished before *arg (ms). */
static int done_before(struct json_object *e, void *arg)
{
	return (uint64_t)rec_i64(e, "done_at") < *(const uint64_t *)arg;
}

enum rg_err store_cancel_purge(struct store *st, uint64_t before_ms, size_t *removed)
{
	return kv_purge_json(st, st->cancels, "d:", 2, done_before, &before_ms, removed);
}
