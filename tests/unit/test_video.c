/* Unit tests for video.c: the cached public object says what video_json
 * says, whatever the record and the request's base URL. */
#include <check.h>
#include <string.h>

#include "testutil.h"
#include "video.h"

static struct json_object *record(const char *status)
{
	const char *text =
		"{\"id\":\"video_abc123\",\"object\":\"video\",\"owner\":\"key_0011\","
		"\"model\":\"m\",\"status\":\"queued\",\"progress\":0,\"created_at\":1,"
		"\"completed_at\":null,\"expires_at\":null,\"prompt\":\"a \\\"cat\\\" / \\u00e9 \\u0001\","
		"\"size\":\"64x64\",\"seconds\":\"1\",\"remixed_from_video_id\":null,\"error\":null,"
		"\"metadata\":{\"style\":\"film\",\"x\":1.5},\"params\":{\"fps\":24,\"n\":1,"
		"\"response_format\":\"url\",\"image\":{\"kind\":\"url\",\"url\":\"https://e.x/i.png\"}},"
		"\"due_at\":5}";
	struct json_object *r = json_tokener_parse(text);
	ck_assert_ptr_nonnull(r);
	json_object_object_add(r, "status", json_object_new_string(status));
	return r;
}

/* same checks that the cached form, given base, reads as video_json's. */
static void same(struct json_object *rec, const char *base)
{
	struct buf cache, got, want;
	struct video_cached c;
	buf_init(&cache, 1 << 20);
	buf_init(&got, 1 << 20);
	buf_init(&want, 1 << 20);
	ck_assert_int_eq(video_cache_build(rec, &cache), 0);
	ck_assert_int_eq(video_cache_read(cache.data, cache.len, &c), 0);
	ck_assert_int_eq(video_cache_json(&c, base, &got), 0);
	ck_assert_int_eq(video_json(rec, base, &want), 0);
	ck_assert_str_eq(got.data, want.data);
	ck_assert(video_cache_owned_by(&c, "key_0011"));
	ck_assert(!video_cache_owned_by(&c, "key_001"));
	ck_assert(!video_cache_owned_by(&c, "key_00111"));
	buf_deinit(&cache);
	buf_deinit(&got);
	buf_deinit(&want);
}

START_TEST(cache_reads_as_video_json)
{
	static const char *const statuses[] = { "queued", "in_progress", "completed", "failed" };
	static const char *const bases[] = {
		"http://h",	      "https://a.example:8443/prefix", "", "http://q\"uote\\back",
		"http://ctl\x01\x1f", "http://\xc3\xa9t\xc3\xa9"
	};
	for (size_t i = 0; i < 4; i++) {
		struct json_object *r = record(statuses[i]);
		for (size_t j = 0; j < sizeof(bases) / sizeof(bases[0]); j++)
			same(r, bases[j]);
		struct buf b;
		struct video_cached c;
		buf_init(&b, 1 << 20);
		ck_assert_int_eq(video_cache_build(r, &b), 0);
		ck_assert_int_eq(video_cache_read(b.data, b.len, &c), 0);
		ck_assert_int_eq(c.pending, i < 2);
		ck_assert_int_eq(c.url_at != 0, i == 2);
		buf_deinit(&b);
		json_object_put(r);
	}
}
END_TEST

START_TEST(cache_read_refuses_junk)
{
	struct video_cached c;
	ck_assert_int_eq(video_cache_read("", 0, &c), -1);
	ck_assert_int_eq(video_cache_read("junk!", 5, &c), -1);
	/* url_at past the end of the text */
	const char bad[] = { 'P', 0, 1, 0, 0, 0, 9, 'k', '{', '}' };
	ck_assert_int_eq(video_cache_read(bad, sizeof(bad), &c), -1);
	/* an owner longer than what follows */
	const char bad2[] = { 'P', 0, 9, 0, 0, 0, 0, 'k', '{', '}' };
	ck_assert_int_eq(video_cache_read(bad2, sizeof(bad2), &c), -1);
	const char good[] = { 'P', 0, 1, 0, 0, 0, 0, 'k', '{', '}' };
	ck_assert_int_eq(video_cache_read(good, sizeof(good), &c), 0);
	ck_assert_uint_eq(c.json_len, 2);
}
END_TEST

START_TEST(cache_needs_id_and_owner)
{
	struct json_object *r = json_tokener_parse("{\"id\":\"video_1\",\"status\":\"queued\"}");
	struct buf b;
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(video_cache_build(r, &b), -1);
	ck_assert_uint_eq(b.len, 0);
	buf_deinit(&b);
	json_object_put(r);
}
END_TEST

/* member_text: the text of the top-level member key of rec's cached
 * object, "" when it has none. */
static void member_text(struct json_object *rec, const char *key, char *out, size_t n)
{
	struct buf b;
	struct video_cached c;
	const char *v;
	size_t len;
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(video_cache_build(rec, &b), 0);
	ck_assert_int_eq(video_cache_read(b.data, b.len, &c), 0);
	out[0] = '\0';
	if (video_cache_member(&c, key, &v, &len) == 0) {
		ck_assert_uint_lt(len, n);
		memcpy(out, v, len);
		out[len] = '\0';
	}
	buf_deinit(&b);
}

START_TEST(cache_member_is_the_top_level_one)
{
	struct json_object *r = record("completed");
	char t[256];
	/* the caller's text holds look-alikes of the members, before and after */
	json_object_object_add(r, "prompt",
			       json_object_new_string("\"status\":\"failed\",\"model\":\"x\"}"));
	json_object_object_add(r, "metadata",
			       json_tokener_parse("{\"style\":\"film\",\"status\":\"failed\","
						  "\"model\":\"y\",\"n\":{\"a\":[1,\"]}\"]}}"));
	json_object_object_add(r, "error",
			       json_tokener_parse("{\"code\":\"x\",\"message\":\"}\"}"));
	json_object_object_add(r, "model", json_object_new_string("m \"q\" /\\ \x01"));
	member_text(r, "status", t, sizeof(t));
	ck_assert_str_eq(t, "\"completed\"");
	member_text(r, "model", t, sizeof(t));
	ck_assert_str_eq(t, "\"m \\\"q\\\" /\\\\ \\u0001\"");
	member_text(r, "progress", t, sizeof(t));
	ck_assert_str_eq(t, "0");
	member_text(r, "error", t, sizeof(t));
	ck_assert_str_eq(t, "{\"code\":\"x\",\"message\":\"}\"}");
	member_text(r, "code", t, sizeof(t)); /* a member of error, not of the object */
	ck_assert_str_eq(t, "");
	member_text(r, "metadata", t, sizeof(t));
	ck_assert_int_eq(t[0], '{');
	member_text(r, "style", t, sizeof(t)); /* a member of metadata, not of the object */
	ck_assert_str_eq(t, "");
	member_text(r, "owner", t, sizeof(t)); /* never in the public object */
	ck_assert_str_eq(t, "");
	json_object_put(r);
	struct video_cached c;
	const char *v;
	size_t len;
	const char junk[] = { 'P', 0, 1, 0, 0, 0, 0, 'k', '{', '"', 's', 't' };
	ck_assert_int_eq(video_cache_read(junk, sizeof(junk), &c), 0);
	ck_assert_int_eq(video_cache_member(&c, "st", &v, &len), -1);
}
END_TEST

static Suite *video_suite(void)
{
	Suite *s = suite_create("video");
	TCase *tc = tcase_create("video");
	tcase_add_test(tc, cache_reads_as_video_json);
	tcase_add_test(tc, cache_read_refuses_junk);
	tcase_add_test(tc, cache_needs_id_and_owner);
	tcase_add_test(tc, cache_member_is_the_top_level_one);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(video_suite)
