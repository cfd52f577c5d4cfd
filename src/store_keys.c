/*
 * store_keys: the API keys in the store: the keys sub-database (key id ->
 * key record, JSON text) and key_hash (SHA-256 of the secret -> key id),
 * written together.  What a key record holds and how a secret is judged is
 * auth.c's.
 */
#include "store_int.h"

#include "record.h"

#include <errno.h>
#include <string.h>

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

enum rg_err store_key_by_hash(struct store *st, const uint8_t hash[32], store_bytes_fn fn,
			      void *arg)
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

enum rg_err store_key_list(struct store *st, store_key_fn fn, void *arg)
{
	return kv_scan_json(st, st->keys, "", 0, fn, arg);
}
