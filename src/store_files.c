/*
 * store_files: the records of the Files API (store.h).
 *
 * One dbi, "files", keyed "f:" owner \x1f file id -> record.  The owner is
 * part of the key because a file is only ever reached through its owner's
 * key: a lookup with another owner finds nothing, so another key's file
 * is indistinguishable from a missing one by construction, and a listing
 * is one prefix scan.  File ids sort by creation time (id.h), so key order
 * is creation order within an owner.  The bytes live in data_dir/files;
 * this file keeps only the records.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "record.h"
#include "store_int.h"

#define FILE_KEY_MAX (2 + OWNER_MAX + 1 + ID_MAX)

/* file_key: 0 when owner or id cannot be part of a key. */
static size_t file_key(char out[FILE_KEY_MAX], const char *owner, const char *id)
{
	if (strlen(owner) >= OWNER_MAX || strchr(owner, '\x1f') != NULL || strlen(id) >= ID_MAX ||
	    strchr(id, '\x1f') != NULL)
		return 0;
	return (size_t)snprintf(out, FILE_KEY_MAX, "f:%s\x1f%s", owner, id);
}

static int put_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct json_object *rec = arg;
	char key[FILE_KEY_MAX];
	const char *owner = rec_str(rec, "owner"), *id = rec_str(rec, "id");
	if (owner == NULL || id == NULL || file_key(key, owner, id) == 0)
		return EINVAL;
	return kv_put_json(txn, st->files, key, rec);
}

enum rg_err store_file_put(struct store *st, struct json_object *rec)
{
	return env_write(st, put_txn, rec);
}

enum rg_err store_file_get(struct store *st, const char *owner, const char *id,
			   struct json_object **out)
{
	char key[FILE_KEY_MAX];
	*out = NULL;
	if (file_key(key, owner, id) == 0)
		return RG_ENOENT;
	return kv_get_json(st, st->files, key, out);
}

struct del_args {
	const char *key;
	struct json_object *old;
};

static int del_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct del_args *a = arg;
	json_object_put(a->old); /* from a try the map was too small for */
	a->old = NULL;
	int rc = env_get(st, txn, st->files, a->key, &a->old);
	if (rc != 0)
		return rc;
	MDB_val k = { strlen(a->key), (void *)a->key };
	return mdb_del(txn, st->files, &k, NULL);
}

enum rg_err store_file_delete(struct store *st, const char *owner, const char *id,
			      struct json_object **old)
{
	char key[FILE_KEY_MAX];
	if (file_key(key, owner, id) == 0)
		return RG_ENOENT;
	struct del_args a = { key, NULL };
	enum rg_err err = env_write(st, del_txn, &a);
	if (err == RG_OK && old != NULL)
		*old = a.old;
	else
		json_object_put(a.old);
	return err;
}

enum rg_err store_file_list(struct store *st, const char *owner, store_file_fn fn, void *arg)
{
	char prefix[FILE_KEY_MAX];
	if (file_key(prefix, owner, "") == 0)
		return RG_OK;
	return kv_scan_json(st, st->files, prefix, strlen(prefix), fn, arg);
}
