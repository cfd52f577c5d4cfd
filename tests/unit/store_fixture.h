/* store_fixture: the store the unit tests of the store's users share: real
 * LMDB files in a fresh temporary directory for each test (dir, st), opened
 * durable with a 1 MiB map that may grow to 256 MiB.  Include it once, in a
 * test file that uses setup and teardown as its checked fixture. */
#ifndef REELGATE_STORE_FIXTURE_H
#define REELGATE_STORE_FIXTURE_H

#include <check.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "testutil.h"

static char *dir;
static struct store *st;

/* fixture_open opens (another handle on) the fixture's store. */
static inline struct store *fixture_open(void)
{
	struct store *s = NULL;
	struct store_options so = { 1 << 20, 256 << 20, 1 };
	return store_open(&s, dir, &so) == RG_OK ? s : NULL;
}

/* fixture_raw_edit changes the sub-database dbname behind the store's
 * back (the store must be closed), as an older or damaged database would
 * have it: deletes del (NULL: none; "*": every entry), then, unless key is
 * NULL, copies the value of copy_of there when it is given, else puts the
 * len bytes of value. */
static inline void fixture_raw_edit(const char *dbname, const char *del, const char *key,
				    const char *copy_of, const void *value, size_t len)
{
	char path[512];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	snprintf(path, sizeof(path), "%s/db", dir);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 32);
	ck_assert_int_eq(mdb_env_open(env, path, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, dbname, 0, &dbi), 0);
	if (del != NULL && strcmp(del, "*") == 0) {
		ck_assert_int_eq(mdb_drop(txn, dbi, 0), 0);
	} else if (del != NULL) {
		MDB_val k = { strlen(del), (void *)del };
		ck_assert_int_eq(mdb_del(txn, dbi, &k, NULL), 0);
	}
	if (key != NULL) {
		MDB_val k = { strlen(key), (void *)key }, v = { len, (void *)value };
		if (copy_of != NULL) {
			MDB_val from = { strlen(copy_of), (void *)copy_of };
			ck_assert_int_eq(mdb_get(txn, dbi, &from, &v), 0);
		}
		ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	}
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void setup(void)
{
	dir = test_tmpdir();
	ck_assert_ptr_nonnull(dir);
	st = fixture_open();
	ck_assert_ptr_nonnull(st);
}

static void teardown(void)
{
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

#endif
