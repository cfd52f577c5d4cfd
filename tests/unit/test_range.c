/* Unit tests for the Range header parser (http.c). */
#include <check.h>

#include "http.h"
#include "testutil.h"

static int rng(const char *h, long long size, long long *a, long long *b)
{
	*a = *b = -7;
	return http_parse_range(h, size, a, b);
}

START_TEST(ranges)
{
	long long a, b;
	ck_assert_int_eq(rng(NULL, 1000, &a, &b), 0);
	ck_assert_int_eq(rng("bytes=0-99", 1000, &a, &b), 1);
	ck_assert(a == 0 && b == 99);
	ck_assert_int_eq(rng("bytes=100-", 1000, &a, &b), 1);
	ck_assert(a == 100 && b == 999);
	ck_assert_int_eq(rng("bytes=-50", 1000, &a, &b), 1);
	ck_assert(a == 950 && b == 999);
	ck_assert_int_eq(rng("bytes=-5000", 1000, &a, &b), 1);
	ck_assert(a == 0 && b == 999);
	ck_assert_int_eq(rng("bytes=990-5000", 1000, &a, &b), 1);
	ck_assert(a == 990 && b == 999);
	ck_assert_int_eq(rng("bytes=999-999", 1000, &a, &b), 1);
	ck_assert(a == 999 && b == 999);
	ck_assert_int_eq(rng("bytes=1000-", 1000, &a, &b), -1);
	ck_assert_int_eq(rng("bytes=-0", 1000, &a, &b), -1);
	ck_assert_int_eq(rng("bytes=0-", 0, &a, &b), -1);
	/* ignored: not understood, so the whole file is sent */
	ck_assert_int_eq(rng("bytes=5-1", 1000, &a, &b), 0);
	ck_assert_int_eq(rng("bytes=0-1,5-6", 1000, &a, &b), 0);
	ck_assert_int_eq(rng("items=0-1", 1000, &a, &b), 0);
	ck_assert_int_eq(rng("bytes=-", 1000, &a, &b), 0);
	ck_assert_int_eq(rng("bytes=a-b", 1000, &a, &b), 0);
	ck_assert_int_eq(rng("bytes=0-99x", 1000, &a, &b), 0);
	ck_assert_int_eq(rng("bytes=99999999999999999999-", 1000, &a, &b), 0);
}
END_TEST

static Suite *range_suite(void)
{
	Suite *s = suite_create("range");
	TCase *tc = tcase_create("range");
	tcase_add_test(tc, ranges);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(range_suite)
