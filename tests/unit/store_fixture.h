/* store_fixture: the store the unit tests of the store's users share: real
 * LMDB files in a fresh temporary directory for each test (dir, st), opened
 * durable with a 1 MiB map that may grow to 256 MiB.  Include it once, in a
 * test file that uses setup and teardown as its checked fixture. */
#ifndef REELGATE_STORE_FIXTURE_H
#define REELGATE_STORE_FIXTURE_H

#include <check.h>
#include <stdlib.h>

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
