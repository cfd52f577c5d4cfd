/*
 * Unit tests for codec.c: base64 both ways, hex, UTF-8 validation.
 */
#include "codec.h"

#include <check.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* decode returns the decoded length of s (or -1) and leaves the bytes in
 * out, after checking the output stays inside decoded_max. */
static long decode(const char *s, uint8_t *out)
{
	size_t len = strlen(s);
	size_t max = codec_base64_decoded_max(len);
	uint8_t guard[64];
	memset(guard, 0xAA, sizeof(guard));
	ck_assert_uint_lt(max, sizeof(guard) - 1);
	long n = codec_base64_decode(s, len, guard);
	ck_assert_uint_eq(guard[max], 0xAA);
	if (n >= 0) {
		ck_assert_int_le(n, (long)max);
		memcpy(out, guard, (size_t)n);
	}
	return n;
}

/* RFC 4648 section 10, lengths 0..6. */
static const struct {
	const char *plain, *padded, *bare;
} vectors[] = {
	{ "", "", "" },
	{ "f", "Zg==", "Zg" },
	{ "fo", "Zm8=", "Zm8" },
	{ "foo", "Zm9v", "Zm9v" },
	{ "foob", "Zm9vYg==", "Zm9vYg" },
	{ "fooba", "Zm9vYmE=", "Zm9vYmE" },
	{ "foobar", "Zm9vYmFy", "Zm9vYmFy" },
};

START_TEST(b64_vectors)
{
	uint8_t out[64];
	size_t len = strlen(vectors[_i].plain);
	ck_assert_int_eq(decode(vectors[_i].padded, out), (long)len);
	ck_assert_mem_eq(out, vectors[_i].plain, len);
	ck_assert_int_eq(decode(vectors[_i].bare, out), (long)len);
	ck_assert_mem_eq(out, vectors[_i].plain, len);

	char enc[64];
	ck_assert_uint_eq(codec_base64_encode((const uint8_t *)vectors[_i].plain, len, enc),
			  strlen(vectors[_i].padded));
	ck_assert_str_eq(enc, vectors[_i].padded);
	ck_assert_uint_eq(codec_base64url_encode((const uint8_t *)vectors[_i].plain, len, enc),
			  strlen(vectors[_i].bare));
	ck_assert_str_eq(enc, vectors[_i].bare);
}
END_TEST

START_TEST(b64_alphabets)
{
	static const uint8_t bytes[] = { 0xfb, 0xff, 0xbf, 0xfe };
	char enc[16];
	codec_base64_encode(bytes, 4, enc);
	ck_assert_str_eq(enc, "+/+//g==");
	codec_base64url_encode(bytes, 4, enc);
	ck_assert_str_eq(enc, "-_-__g");

	uint8_t out[16];
	ck_assert_int_eq(decode("+/+//g==", out), 4);
	ck_assert_mem_eq(out, bytes, 4);
	ck_assert_int_eq(decode("-_-__g", out), 4);
	ck_assert_mem_eq(out, bytes, 4);
	ck_assert_int_eq(decode("-_-__g==", out), 4);
	/* one alphabet per input */
	ck_assert_int_eq(decode("+_-__g", out), -1);
	ck_assert_int_eq(decode("-/+//g", out), -1);
}
END_TEST

static const char *const b64_bad[] = {
	"Z",			       /* a lone sextet cannot hold a byte */
	"Zm9vY",    "Zg=",	       /* padding must complete the quantum */
	"Zg===",    "Zm8==",  "Zm9v=", /* padding on a complete quantum */
	"Zm9v====", "=",      "==",	  "====", "Zg==Zg==", /* padding in the middle */
	"Z=g=",	    "Zh==",				      /* non-zero unused bits */
	"Zm9=",	    "Zm9vYh", "Zm 9v",			      /* whitespace is not skipped */
	"Zm9v\n",   " Zm9v",  "Zm9v\r\n", "Zm*v", "Zm.v",     "Zm9v\x80", "Zm\0v",
};

START_TEST(b64_invalid)
{
	uint8_t out[64];
	const char *s = b64_bad[_i];
	/* the NUL case is four bytes long */
	size_t len = _i == N(b64_bad) - 1 ? 4 : strlen(s);
	ck_assert_int_eq(codec_base64_decode(s, len, out), -1);
}
END_TEST

START_TEST(b64_decoded_max)
{
	ck_assert_uint_eq(codec_base64_decoded_max(0), 0);
	ck_assert_uint_eq(codec_base64_decoded_max(1), 0);
	ck_assert_uint_eq(codec_base64_decoded_max(2), 1);
	ck_assert_uint_eq(codec_base64_decoded_max(3), 2);
	ck_assert_uint_eq(codec_base64_decoded_max(4), 3);
	ck_assert_uint_eq(codec_base64_decoded_max(8), 6);
	ck_assert_uint_eq(codec_base64_decoded_max(10), 7);
	ck_assert_uint_ge(codec_base64_decoded_max((size_t)-1), (size_t)-1 / 4 * 3);
}
END_TEST

/* Every byte string of length 0..48 survives both encoders and the
 * decoder, and the output buffers are exactly as large as promised. */
START_TEST(b64_round_trip)
{
	uint8_t in[48];
	srand(7);
	for (size_t len = 0; len <= sizeof(in); len++) {
		for (size_t i = 0; i < len; i++)
			in[i] = (uint8_t)rand();
		size_t cap = 4 * ((len + 2) / 3) + 1;
		char *enc = malloc(cap);
		uint8_t *dec = malloc(codec_base64_decoded_max(cap) + 1);
		ck_assert_uint_eq(codec_base64_encode(in, len, enc), cap - 1);
		ck_assert_uint_eq(strlen(enc), cap - 1);
		ck_assert_int_eq(codec_base64_decode(enc, cap - 1, dec), (long)len);
		ck_assert_mem_eq(dec, in, len);
		size_t n = codec_base64url_encode(in, len, enc);
		ck_assert_uint_eq(n, (len * 4 + 2) / 3);
		ck_assert_uint_eq(codec_base64_decoded_max(n), len);
		ck_assert_int_eq(codec_base64_decode(enc, n, dec), (long)len);
		ck_assert_mem_eq(dec, in, len);
		free(enc);
		free(dec);
	}
}
END_TEST

START_TEST(hex)
{
	static const uint8_t in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	char out[13];
	memset(out, 'X', sizeof(out));
	codec_hex(in, sizeof(in), out);
	ck_assert_str_eq(out, "00017f80abff");
	codec_hex(in, 0, out);
	ck_assert_str_eq(out, "");
}
END_TEST

struct utf8_case {
	const char *s;
	size_t len;
	int valid;
};

#define U(lit, ok)                                                                                 \
	{                                                                                          \
		lit, sizeof(lit) - 1, ok                                                           \
	}
static const struct utf8_case utf8_cases[] = {
	U("", 1),
	U("plain ascii ~\x7f", 1),
	U("\0nul", 1),
	U("\xc2\x80", 1),	  /* U+0080 */
	U("\xdf\xbf", 1),	  /* U+07FF */
	U("\xe0\xa0\x80", 1),	  /* U+0800 */
	U("\xef\xbf\xbf", 1),	  /* U+FFFF */
	U("\xed\x9f\xbf", 1),	  /* U+D7FF */
	U("\xee\x80\x80", 1),	  /* U+E000 */
	U("\xf0\x90\x80\x80", 1), /* U+10000 */
	U("\xf0\x9f\x8e\xac", 1), /* U+1F3AC clapper board */
	U("\xf4\x8f\xbf\xbf", 1), /* U+10FFFF */
	U("caf\xc3\xa9 \xe2\x82\xac", 1),
	/* overlongs */
	U("\xc0\x80", 0),
	U("\xc1\xbf", 0),
	U("\xe0\x80\x80", 0),
	U("\xe0\x9f\xbf", 0),
	U("\xf0\x80\x80\x80", 0),
	U("\xf0\x8f\xbf\xbf", 0),
	/* surrogates */
	U("\xed\xa0\x80", 0),
	U("\xed\xbf\xbf", 0),
	U("\xed\xa0\xbd\xed\xb2\xa9", 0), /* a CESU-8 pair */
	/* above U+10FFFF and bytes that never occur */
	U("\xf4\x90\x80\x80", 0),
	U("\xf5\x80\x80\x80", 0),
	U("\xf8\x88\x80\x80\x80", 0),
	U("\xfe", 0),
	U("\xff", 0),
	/* broken sequences */
	U("\x80", 0),
	U("a\xbf", 0),
	U("\xc3", 0),
	U("\xc3(", 0),
	U("\xe2\x82", 0),
	U("\xe2\x82(", 0),
	U("\xe2(\xac", 0),
	U("\xf0\x9f\x8e", 0),
	U("\xf0\x9f\x8e(", 0),
	U("\xf0\x9f(\xac", 0),
	U("\xc3\xa9\xc3", 0),
};

START_TEST(utf8)
{
	const struct utf8_case *c = &utf8_cases[_i];
	ck_assert_int_eq(codec_utf8_valid(c->s, c->len), c->valid);
}
END_TEST

/* A truncated valid sequence is invalid at every cut. */
START_TEST(utf8_every_cut)
{
	static const char s[] = "\xf0\x9f\x8e\xac";
	for (size_t n = 1; n < 4; n++)
		ck_assert_int_eq(codec_utf8_valid(s, n), 0);
	ck_assert_int_eq(codec_utf8_valid(s, 4), 1);
	ck_assert_int_eq(codec_utf8_valid(NULL, 0), 1);
}
END_TEST

START_TEST(json_unescape)
{
	const char *ok[][2] = {
		{ "plain", "plain" },
		{ "a\\\"b\\\\c\\/d", "a\"b\\c/d" },
		{ "\\b\\f\\n\\r\\t", "\b\f\n\r\t" },
		{ "\\u00e9\\u20AC", "\xc3\xa9\xe2\x82\xac" },
		{ "\\ud83c\\udfac!", "\xf0\x9f\x8e\xac!" },
		{ "", "" },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char s[64];
		snprintf(s, sizeof(s), "%s\"", ok[i][0]); /* the closing quote */
		long n = codec_json_unescape(s, strlen(ok[i][0]));
		ck_assert_int_eq(n, (long)strlen(ok[i][1]));
		ck_assert_str_eq(s, ok[i][1]);
	}
	const char *bad[] = { "\\",	  "\\x",     "\\u12",	       "\\u12g4", "\\ud83c",
			      "\\ud83cx", "\\udfac", "\\ud83c\\u0041", "a\tb" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char s[64];
		snprintf(s, sizeof(s), "%s\"", bad[i]);
		ck_assert_msg(codec_json_unescape(s, strlen(bad[i])) == -1, "%s", bad[i]);
	}
}
END_TEST

START_TEST(utf8_scrub)
{
	const char *cases[][2] = {
		{ "plain", "plain" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
		{ "a\xff"
		  "b",
		  "a?b" },
		{ "cut \xe2\x82", "cut ??" },
		{ "\xc0\xaf", "??" },
		{ "\xed\xa0\x80", "???" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char s[32];
		snprintf(s, sizeof(s), "%s", cases[i][0]);
		codec_utf8_scrub(s);
		ck_assert_str_eq(s, cases[i][1]);
		ck_assert(codec_utf8_valid(s, strlen(s)));
	}
}
END_TEST

static Suite *codec_suite(void)
{
	Suite *s = suite_create("codec");
	TCase *tc = tcase_create("base64");
	tcase_add_loop_test(tc, b64_vectors, 0, N(vectors));
	tcase_add_test(tc, b64_alphabets);
	tcase_add_loop_test(tc, b64_invalid, 0, N(b64_bad));
	tcase_add_test(tc, json_unescape);
	tcase_add_test(tc, utf8_scrub);
	tcase_add_test(tc, b64_decoded_max);
	tcase_add_test(tc, b64_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("hex");
	tcase_add_test(tc, hex);
	suite_add_tcase(s, tc);

	tc = tcase_create("utf8");
	tcase_add_loop_test(tc, utf8, 0, N(utf8_cases));
	tcase_add_test(tc, utf8_every_cut);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(codec_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
