/*
 * store_keys: the API keys in the store: the keys sub-database (key id ->
 * key record, JSON text) and key_hash (SHA-256 of the secret -> key id),
 * written together.  What a key record holds and how a secret is judged is
 * auth.c's.
 */
#include "store_int.h"

#include "record.h"

#include <errno.h>
#include <stdio.h>
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

/* ---- import: keys moved from another node, with their endpoints ---------------- */

struct import_args {
	struct json_object **keys, **eps;
	size_t nkeys, neps;
	int replace;
	struct store_import *out;
};

static int hash_of_hex(const char *hex, uint8_t out[32])
{
	if (hex == NULL || strlen(hex) != 64)
		return -1;
	for (int i = 0; i < 32; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char c = hex[2 * i + j];
			unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
				     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
							    : 16;
			if (d == 16)
				return -1;
			v = v << 4 | d;
		}
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* import_hash checks that hash is id's or no key's, and makes it id's. */
static int import_hash(struct store *st, MDB_txn *txn, const char *id, const uint8_t hash[32],
		       struct store_import *out)
{
	MDB_val hk = { 32, (void *)hash }, hv, iv = { strlen(id), (void *)id };
	int rc = mdb_get(txn, st->key_hash, &hk, &hv);
	if (rc == 0 && (hv.mv_size != iv.mv_size || memcmp(hv.mv_data, id, iv.mv_size) != 0)) {
		snprintf(
			out->why, sizeof(out->why),
			"key %s: its hash is already the hash of key %.*s on this node (one secret "
			"cannot be two keys); leave one of them out of the file",
			id, (int)(hv.mv_size < ID_MAX ? hv.mv_size : ID_MAX),
			(const char *)hv.mv_data);
		return TXN_EXISTS;
	}
	if (rc == MDB_NOTFOUND)
		rc = mdb_put(txn, st->key_hash, &hk, &iv, 0);
	return rc;
}

static int import_key(struct store *st, MDB_txn *txn, struct json_object *rec, int replace,
		      struct store_import *out)
{
	const char *id = rec_str(rec, "id"), *hex = rec_str(rec, "hash");
	uint8_t hash[32], old_hash[32];
	if (id == NULL || strlen(id) >= ID_MAX || hash_of_hex(hex, hash) < 0)
		return EINVAL;
	struct json_object *old = NULL;
	int rc = env_get(st, txn, st->keys, id, &old);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	size_t *count = &out->keys_added;
	if (rc == 0) {
		const char *old_hex = rec_str(old, "hash");
		int same_hash = old_hex != NULL && strcmp(old_hex, hex) == 0;
		if (!same_hash && !replace) {
			snprintf(out->why, sizeof(out->why),
				 "key %s is on this node with another secret (another hash): "
				 "--replace makes the file's secret the key's (the old one then "
				 "stops working)",
				 id);
			json_object_put(old);
			return TXN_EXISTS;
		}
		count = !same_hash		      ? &out->keys_replaced
			: json_object_equal(old, rec) ? &out->keys_unchanged
						      : &out->keys_updated;
		if (!same_hash && hash_of_hex(old_hex, old_hash) == 0 &&
		    (rc = env_del(txn, st->key_hash, old_hash, 32)) != 0) {
			json_object_put(old);
			return rc;
		}
		json_object_put(old);
	}
	(*count)++;
	if ((rc = import_hash(st, txn, id, hash, out)) != 0)
		return rc;
	return count == &out->keys_unchanged ? 0 : kv_put_json(txn, st->keys, id, rec);
}

static int import_endpoint(struct store *st, MDB_txn *txn, struct json_object *ep,
			   struct store_import *out)
{
	const char *id = rec_str(ep, "id"), *key = rec_str(ep, "key_id");
	struct json_object *old = NULL;
	if (id == NULL || key == NULL)
		return EINVAL;
	int rc = kv_webhook_get(st, txn, id, &old);
	if (rc == MDB_NOTFOUND) {
		out->endpoints_added++;
		return kv_webhook_put(st, txn, ep);
	}
	if (rc != 0)
		return rc;
	const char *old_key = rec_str(old, "key_id");
	if (old_key == NULL || strcmp(old_key, key) != 0) {
		snprintf(out->why, sizeof(out->why),
			 "webhook endpoint %s is key %s's on this node, key %s's in the file", id,
			 old_key ? old_key : "(none)", key);
		json_object_put(old);
		return TXN_EXISTS;
	}
	int same = json_object_equal(old, ep);
	json_object_put(old);
	if (same) {
		out->endpoints_unchanged++;
		return 0;
	}
	out->endpoints_updated++;
	return kv_webhook_put(st, txn, ep);
}

static int import_txn(struct store *st, MDB_txn *txn, void *arg)
{
	struct import_args *a = arg;
	/* a full map runs this again: count from zero */
	memset(a->out, 0, sizeof(*a->out));
	int rc = 0;
	for (size_t i = 0; i < a->nkeys && rc == 0; i++)
		rc = import_key(st, txn, a->keys[i], a->replace, a->out);
	for (size_t i = 0; i < a->neps && rc == 0; i++)
		rc = import_endpoint(st, txn, a->eps[i], a->out);
	return rc;
}

enum rg_err store_keys_import(struct store *st, struct json_object **keys, size_t nkeys,
			      struct json_object **eps, size_t neps, int replace,
			      struct store_import *out)
{
	struct import_args a = { keys, eps, nkeys, neps, replace, out };
	enum rg_err err = env_write(st, import_txn, &a);
	if (err != RG_OK && err != RG_EEXIST)
		snprintf(out->why, sizeof(out->why), "%s", rg_strerror(err));
	return err;
}
