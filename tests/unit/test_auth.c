/* Unit tests for auth.c: key creation, hashing, checking and revocation. */
#include <check.h>
#include <string.h>

#include "auth.h"
#include "codec.h"
#include "testutil.h"

static char *dir;
static struct store *st;

static void setup(void)
{
	dir = test_tmpdir();
	struct store_options so = { 1 << 20, 64 << 20, 1 };
	ck_assert_int_eq(store_open(&st, dir, &so), RG_OK);
}

static void teardown(void)
{
	store_close(st);
	test_rmrf(dir);
	free(dir);
}

static int check_header(const char *header, char owner[ID_MAX], struct api_error *e)
{
	memset(e, 0, sizeof(*e));
	return auth_check(st, NULL, header, owner, NULL, e);
}

START_TEST(sha256_known_answer)
{
	uint8_t h[32];
	char hex[65];
	auth_hash("abc", 3, h);
	codec_hex(h, 32, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(create_and_check)
{
	char secret[AUTH_SECRET_MAX], id[ID_MAX], owner[ID_MAX], hdr[256];
	ck_assert_int_eq(auth_key_create(st, "dev", secret, id), RG_OK);
	ck_assert(strncmp(secret, "sk-rg-", 6) == 0);
	ck_assert_uint_ge(strlen(secret), 40);
	struct api_error e;
	snprintf(hdr, sizeof(hdr), "Bearer %s", secret);
	ck_assert_int_eq(check_header(hdr, owner, &e), 0);
	ck_assert_str_eq(owner, id);
	snprintf(hdr, sizeof(hdr), "bearer   %s  ", secret);
	ck_assert_int_eq(check_header(hdr, owner, &e), 0);
}
END_TEST

START_TEST(rejections)
{
	char secret[AUTH_SECRET_MAX], id[ID_MAX], owner[ID_MAX], hdr[256];
	ck_assert_int_eq(auth_key_create(st, "dev", secret, id), RG_OK);
	struct api_error e;
	ck_assert_int_eq(check_header(NULL, owner, &e), -1);
	ck_assert_int_eq(e.status, 401);
	ck_assert_ptr_null(e.code);
	ck_assert_int_eq(check_header("", owner, &e), -1);
	ck_assert_int_eq(check_header("Basic abc", owner, &e), -1);
	ck_assert_str_eq(e.code, "invalid_api_key");
	ck_assert_int_eq(check_header("Bearer ", owner, &e), -1);
	snprintf(hdr, sizeof(hdr), "Bearer %sx", secret);
	ck_assert_int_eq(check_header(hdr, owner, &e), -1);
	ck_assert_str_eq(e.code, "invalid_api_key");
	hdr[strlen(hdr) - 2] ^= 1; /* one character off */
	hdr[strlen(hdr) - 1] = '\0';
	ck_assert_int_eq(check_header(hdr, owner, &e), -1);
}
END_TEST

START_TEST(revocation)
{
	char secret[AUTH_SECRET_MAX], id[ID_MAX], owner[ID_MAX], hdr[256];
	ck_assert_int_eq(auth_key_create(st, "dev", secret, id), RG_OK);
	snprintf(hdr, sizeof(hdr), "Bearer %s", secret);
	struct api_error e;
	ck_assert_int_eq(check_header(hdr, owner, &e), 0);
	ck_assert_int_eq(auth_key_revoke(st, id), RG_OK);
	ck_assert_int_eq(check_header(hdr, owner, &e), -1);
	ck_assert_int_eq(e.status, 401);
	ck_assert(strstr(e.message, "revoked") != NULL);
	ck_assert_int_eq(auth_key_revoke(st, "key_nope"), RG_ENOENT);
}
END_TEST

START_TEST(secret_never_stored)
{
	char secret[AUTH_SECRET_MAX], id[ID_MAX];
	ck_assert_int_eq(auth_key_create(st, "dev", secret, id), RG_OK);
	store_close(st);
	st = NULL;
	char path[512];
	snprintf(path, sizeof(path), "%s/db/data.mdb", dir);
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	static char data[8 << 20];
	size_t n = fread(data, 1, sizeof(data), f);
	fclose(f);
	ck_assert_ptr_null(memmem(data, n, secret, strlen(secret)));
	ck_assert_ptr_null(memmem(data, n, secret + 6, 20));
	struct store_options so = { 1 << 20, 64 << 20, 1 };
	ck_assert_int_eq(store_open(&st, dir, &so), RG_OK);
}
END_TEST

START_TEST(limits_round_trip)
{
	char secret[AUTH_SECRET_MAX], id[ID_MAX], owner[ID_MAX], hdr[256];
	ck_assert_int_eq(auth_key_create(st, "dev", secret, id), RG_OK);
	struct key_limits lim = { 7, 0, 0, 0, 0 }, got = { -1, 0, 0, 0, 0 };
	ck_assert_int_eq(auth_key_set_limits(st, id, &lim), RG_OK);
	snprintf(hdr, sizeof(hdr), "Bearer %s", secret);
	struct api_error e;
	ck_assert_int_eq(auth_check(st, NULL, hdr, owner, &got, &e), 0);
	ck_assert_int_eq(got.creates_per_minute, 7);
	ck_assert_int_eq(auth_key_set_limits(st, "key_none", &lim), RG_ENOENT);
}
END_TEST

/* The worker's cache never outlives a change to the key's record. */
START_TEST(cache_sees_revocation_and_limits)
{
	static struct auth_cache cache; /* zeroed: empty */
	char s1[AUTH_SECRET_MAX], s2[AUTH_SECRET_MAX], i1[ID_MAX], i2[ID_MAX], owner[ID_MAX];
	char h1[256], h2[256];
	struct api_error e;
	struct key_limits got;
	ck_assert_int_eq(auth_key_create(st, "a", s1, i1), RG_OK);
	ck_assert_int_eq(auth_key_create(st, "b", s2, i2), RG_OK);
	snprintf(h1, sizeof(h1), "Bearer %s", s1);
	snprintf(h2, sizeof(h2), "Bearer %s", s2);
	for (int round = 0; round < 3; round++) { /* the first fills, the others hit */
		ck_assert_int_eq(auth_check(st, &cache, h1, owner, &got, &e), 0);
		ck_assert_str_eq(owner, i1);
		ck_assert_int_eq(got.creates_per_minute, 0);
		ck_assert_int_eq(auth_check(st, &cache, h2, owner, &got, &e), 0);
		ck_assert_str_eq(owner, i2);
	}
	struct key_limits lim = { 3, 0, 0, 0, 0 };
	ck_assert_int_eq(auth_key_set_limits(st, i1, &lim), RG_OK);
	ck_assert_int_eq(auth_check(st, &cache, h1, owner, &got, &e), 0);
	ck_assert_int_eq(got.creates_per_minute, 3);
	ck_assert_int_eq(auth_key_revoke(st, i1), RG_OK);
	ck_assert_int_eq(auth_check(st, &cache, h1, owner, &got, &e), -1);
	ck_assert_int_eq(e.status, 401);
	ck_assert(strstr(e.message, "revoked") != NULL);
	ck_assert_int_eq(auth_check(st, &cache, h2, owner, &got, &e), 0);
	ck_assert_str_eq(owner, i2);
	/* A wrong secret is refused whatever the cache holds. */
	h2[strlen(h2) - 1] ^= 1;
	ck_assert_int_eq(auth_check(st, &cache, h2, owner, &got, &e), -1);
	ck_assert_int_eq(e.status, 401);
	/* More keys than the secrets' hashes kept, in turns: each is still its
	 * own owner, whichever hashes were replaced. */
	enum { N = AUTH_MEMO_SLOTS + 3 };
	char sec[N][AUTH_SECRET_MAX], ids[N][ID_MAX], hdr[N][256];
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(auth_key_create(st, "m", sec[i], ids[i]), RG_OK);
		snprintf(hdr[i], sizeof(hdr[i]), "Bearer %s", sec[i]);
	}
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < N; i++) {
			int k = round == 1 ? N - 1 - i : i;
			ck_assert_int_eq(auth_check(st, &cache, hdr[k], owner, &got, &e), 0);
			ck_assert_str_eq(owner, ids[k]);
		}
	/* the kept secrets are wiped with the cache */
	auth_cache_deinit(&cache);
	static const struct auth_memo none[AUTH_MEMO_SLOTS];
	ck_assert_int_eq(memcmp(cache.memo, none, sizeof(none)), 0);
}
END_TEST

START_TEST(two_keys_distinct_owners)
{
	char s1[AUTH_SECRET_MAX], s2[AUTH_SECRET_MAX], i1[ID_MAX], i2[ID_MAX], o[ID_MAX], h[256];
	ck_assert_int_eq(auth_key_create(st, "a", s1, i1), RG_OK);
	ck_assert_int_eq(auth_key_create(st, "b", s2, i2), RG_OK);
	ck_assert_str_ne(s1, s2);
	ck_assert_str_ne(i1, i2);
	struct api_error e;
	snprintf(h, sizeof(h), "Bearer %s", s2);
	ck_assert_int_eq(check_header(h, o, &e), 0);
	ck_assert_str_eq(o, i2);
}
END_TEST

static Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("auth");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, sha256_known_answer);
	tcase_add_test(tc, create_and_check);
	tcase_add_test(tc, rejections);
	tcase_add_test(tc, revocation);
	tcase_add_test(tc, secret_never_stored);
	tcase_add_test(tc, two_keys_distinct_owners);
	tcase_add_test(tc, cache_sees_revocation_and_limits);
	tcase_add_test(tc, limits_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(auth_suite)
