/*
 * store_characters: the characters of the Videos API (store.h), one JSON
 * record per id in the "characters" sub-database.  The clip itself is a
 * file under uploads/, written and synced by the caller before the record
 * that names it is committed; who may read a record is the caller's rule.
 */
#include <errno.h>
#include <string.h>

#include "record.h"
#include "store_int.h"

static int put_new(struct store *st, MDB_txn *txn, void *arg)
{
	struct json_object *rec = arg;
	const char *id = rec_str(rec, "id");
	size_t len;
	const char *text = json_object_to_json_string_length(rec, JSON_C_TO_STRING_PLAIN, &len);
	if (text == NULL)
		return ENOMEM;
	MDB_val k = { strlen(id), (void *)id };
	MDB_val v = { len, (void *)text };
	int rc = mdb_put(txn, st->characters, &k, &v, MDB_NOOVERWRITE);
	return rc == MDB_KEYEXIST ? TXN_EXISTS : rc;
}

enum rg_err store_character_put(struct store *st, struct json_object *rec)
{
	const char *id = rec_str(rec, "id");
	if (id == NULL || strlen(id) >= ID_MAX)
		return RG_EINVAL;
	return env_write(st, put_new, rec);
}

enum rg_err store_character_get(struct store *st, const char *id, struct json_object **out)
{
	*out = NULL;
	if (strlen(id) >= ID_MAX)
		return RG_ENOENT;
	return kv_get_json(st, st->characters, id, out);
}
