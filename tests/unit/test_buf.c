/*
 * Unit tests for buf.c: the limit is hard, failures leave the buffer as it
 * was, and the data is always NUL-terminated.
 */
#include "buf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(starts_empty)
{
	struct buf b;
	buf_init(&b, 10);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.limit, 10);
	buf_reset(&b); /* harmless before the first append */
	char *s = buf_take(&b);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "");
	free(s);
	buf_deinit(&b);
	buf_deinit(&b); /* twice is harmless */
}
END_TEST

START_TEST(append_and_terminate)
{
	struct buf b;
	buf_init(&b, 100);
	ck_assert_int_eq(buf_append(&b, "ab", 2), 0);
	ck_assert_int_eq(buf_putc(&b, 'c'), 0);
	ck_assert_int_eq(buf_puts(&b, "def"), 0);
	ck_assert_int_eq(buf_append(&b, "", 0), 0);
	ck_assert_int_eq(buf_append(&b, "\0z", 2), 0);
	ck_assert_uint_eq(b.len, 8);
	ck_assert_mem_eq(b.data, "abcdef\0z", 9);
	buf_deinit(&b);
}
END_TEST

START_TEST(limit_is_hard)
{
	struct buf b;
	buf_init(&b, 5);
	ck_assert_int_eq(buf_puts(&b, "abc"), 0);
	ck_assert_int_eq(buf_puts(&b, "def"), -1);
	ck_assert_str_eq(b.data, "abc");
	ck_assert_uint_eq(b.len, 3);
	ck_assert_int_eq(buf_puts(&b, "de"), 0); /* exactly the limit */
	ck_assert_str_eq(b.data, "abcde");
	ck_assert_int_eq(buf_putc(&b, 'f'), -1);
	ck_assert_int_eq(buf_append(&b, "", 0), 0);
	ck_assert_int_eq(buf_append(&b, "x", (size_t)-1), -1);
	ck_assert_str_eq(b.data, "abcde");
	buf_deinit(&b);

	buf_init(&b, 0);
	ck_assert_int_eq(buf_putc(&b, 'a'), -1);
	ck_assert_int_eq(buf_append(&b, "", 0), 0);
	ck_assert_str_eq(b.data, "");
	buf_deinit(&b);
}
END_TEST

START_TEST(grows_past_first_allocation)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	char chunk[1000];
	memset(chunk, 'q', sizeof(chunk));
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(buf_append(&b, chunk, sizeof(chunk)), 0);
	ck_assert_uint_eq(b.len, 100000);
	ck_assert_uint_gt(b.cap, b.len);
	ck_assert_int_eq(b.data[99999], 'q');
	ck_assert_int_eq(b.data[100000], '\0');
	buf_deinit(&b);
}
END_TEST

START_TEST(reset_keeps_memory)
{
	struct buf b;
	buf_init(&b, 100);
	ck_assert_int_eq(buf_puts(&b, "hello"), 0);
	char *p = b.data;
	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.data, "");
	ck_assert_ptr_eq(b.data, p);
	ck_assert_int_eq(buf_puts(&b, "x"), 0);
	ck_assert_str_eq(b.data, "x");
	buf_deinit(&b);
}
END_TEST

START_TEST(printf_within_limit)
{
	struct buf b;
	buf_init(&b, 12);
	ck_assert_int_eq(buf_printf(&b, "%s=%d", "n", 42), 0);
	ck_assert_str_eq(b.data, "n=42");
	ck_assert_int_eq(buf_printf(&b, "%s", ""), 0);
	ck_assert_int_eq(buf_printf(&b, ";%06u", 7u), 0);
	ck_assert_str_eq(b.data, "n=42;000007");
	ck_assert_int_eq(buf_printf(&b, "%c", 'x'), 0);
	ck_assert_uint_eq(b.len, 12);
	ck_assert_int_eq(buf_printf(&b, "%c", 'y'), -1);
	ck_assert_str_eq(b.data, "n=42;000007x");
	buf_deinit(&b);
}
END_TEST

START_TEST(printf_long_output)
{
	struct buf b;
	buf_init(&b, 4096);
	ck_assert_int_eq(buf_printf(&b, "%1000d|%-1000s|", 1, "a"), 0);
	ck_assert_uint_eq(b.len, 2002);
	ck_assert_uint_eq(strlen(b.data), 2002);
	buf_deinit(&b);
}
END_TEST

static const struct {
	const char *in;
	size_t len;
	const char *out;
} json_cases[] = {
	{ "", 0, "\"\"" },
	{ "plain", 5, "\"plain\"" },
	{ "q\"b\\s/", 6, "\"q\\\"b\\\\s/\"" },
	{ "\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"" },
	{ "\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"" },
	{ "a\0b", 3, "\"a\\u0000b\"" },
	{ "caf\xc3\xa9", 5, "\"caf\xc3\xa9\"" },
};

START_TEST(json_string)
{
	struct buf b;
	buf_init(&b, 100);
	ck_assert_int_eq(buf_json_string(&b, json_cases[_i].in, json_cases[_i].len), 0);
	ck_assert_str_eq(b.data, json_cases[_i].out);
	buf_deinit(&b);
}
END_TEST

START_TEST(json_string_all_or_nothing)
{
	struct buf b;
	buf_init(&b, 10);
	ck_assert_int_eq(buf_puts(&b, "x:"), 0);
	/* "\u0001" alone is 6 bytes: the whole string does not fit */
	ck_assert_int_eq(buf_json_string(&b, "ab\x01", 3), -1);
	ck_assert_str_eq(b.data, "x:");
	ck_assert_uint_eq(b.len, 2);
	ck_assert_int_eq(buf_json_string(&b, "abcdef", 6), 0);
	ck_assert_str_eq(b.data, "x:\"abcdef\"");
	buf_deinit(&b);
}
END_TEST

START_TEST(take_hands_over)
{
	struct buf b;
	buf_init(&b, 50);
	ck_assert_int_eq(buf_puts(&b, "keep me"), 0);
	char *s = buf_take(&b);
	ck_assert_str_eq(s, "keep me");
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
	ck_assert_uint_eq(b.limit, 50);
	ck_assert_int_eq(buf_puts(&b, "again"), 0);
	ck_assert_str_eq(b.data, "again");
	ck_assert_str_eq(s, "keep me");
	free(s);
	buf_deinit(&b);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

START_TEST(json_string_invalid_utf8)
{
	struct buf b;
	buf_init(&b, 1024);
	/* stray continuation, overlong, surrogate, truncated: each byte -> U+FFFD */
	const char in[] = "a\x80"
			  "b\xc0\xaf"
			  "c\xed\xa0\x80"
			  "d\xe2\x82";
	ck_assert_int_eq(buf_json_string(&b, in, sizeof(in) - 1), 0);
	ck_assert_str_eq(b.data, "\"a\\ufffd"
				 "b\\ufffd\\ufffd"
				 "c\\ufffd\\ufffd\\ufffd"
				 "d\\ufffd\\ufffd\"");
	buf_reset(&b);
	const char ok[] = "\xc3\xa9\xe5\xae\x87\xf0\x9f\x98\x80";
	ck_assert_int_eq(buf_json_string(&b, ok, sizeof(ok) - 1), 0);
	ck_assert_str_eq(b.data, "\"\xc3\xa9\xe5\xae\x87\xf0\x9f\x98\x80\"");
	buf_deinit(&b);
}
END_TEST

START_TEST(str_join_fits_or_empties)
{
	char out[8];
	const char *p[] = { "ab", "", "cde" };
	ck_assert_int_eq(str_join(out, sizeof(out), p, 3), 0);
	ck_assert_str_eq(out, "abcde");
	const char *q[] = { "abcd", "efg" }; /* 7 bytes and the NUL: fits */
	ck_assert_int_eq(str_join(out, sizeof(out), q, 2), 0);
	ck_assert_str_eq(out, "abcdefg");
	const char *r[] = { "abcd", "efgh" }; /* one too many */
	ck_assert_int_eq(str_join(out, sizeof(out), r, 2), -1);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(str_join(out, sizeof(out), r, 0), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(str_join(out, 0, p, 1), -1);
}
END_TEST

static Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("buf");
	tcase_add_test(tc, starts_empty);
	tcase_add_test(tc, append_and_terminate);
	tcase_add_test(tc, limit_is_hard);
	tcase_add_test(tc, grows_past_first_allocation);
	tcase_add_test(tc, reset_keeps_memory);
	tcase_add_test(tc, printf_within_limit);
	tcase_add_test(tc, printf_long_output);
	tcase_add_loop_test(tc, json_string, 0, N(json_cases));
	tcase_add_test(tc, json_string_all_or_nothing);
	tcase_add_test(tc, take_hands_over);
	tcase_add_test(tc, json_string_invalid_utf8);
	tcase_add_test(tc, str_join_fits_or_empties);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(buf_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
