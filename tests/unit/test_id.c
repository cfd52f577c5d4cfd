/* Unit tests for id.c: shape, ordering and uniqueness of ids. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "id.h"
#include "testutil.h"

START_TEST(video_id_shape)
{
	char id[ID_MAX];
	ck_assert_int_eq(id_video_new(id), 0);
	ck_assert_uint_eq(strlen(id), ID_VIDEO_LEN);
	ck_assert(strncmp(id, "video_", 6) == 0);
	ck_assert(strspn(id + 6, "0123456789abcdef") == 32);
	ck_assert(id_video_valid(id, strlen(id)));
}
END_TEST

START_TEST(video_ids_sort_by_time)
{
	uint8_t hi[10], lo[10];
	memset(hi, 0xff, sizeof(hi));
	memset(lo, 0x00, sizeof(lo));
	char a[ID_MAX], b[ID_MAX];
	id_video_at(a, 1000, hi); /* earlier time, largest random part */
	id_video_at(b, 1001, lo); /* later time, smallest random part */
	ck_assert(strcmp(a, b) < 0);
	id_video_at(a, 0x0000ffffffffffULL, hi);
	id_video_at(b, 0x000100000000000ULL, lo);
	ck_assert(strcmp(a, b) < 0);
}
END_TEST

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

START_TEST(video_ids_unique)
{
	/* sorted, then neighbours compared: 2,000 checks, not the 2 million
	 * of every pair (which ran past Check's timeout on a loaded machine) */
	static char ids[2000][ID_MAX];
	for (int i = 0; i < 2000; i++)
		ck_assert_int_eq(id_video_new(ids[i]), 0);
	qsort(ids, 2000, ID_MAX, cmp_id);
	for (int i = 1; i < 2000; i++)
		ck_assert_msg(strcmp(ids[i - 1], ids[i]) != 0, "id %s given twice", ids[i]);
}
END_TEST

START_TEST(video_id_validation)
{
	static const char *bad[] = { "",	   "video_",	  "video",     "vid_123",
				     "video_../x", "video_%00",	  "video_a b", "video_a/b",
				     "VIDEO_abc",  "video_abc\n", NULL };
	for (const char **p = bad; *p; p++)
		ck_assert_msg(!id_video_valid(*p, strlen(*p)), "accepted %s", *p);
	char longid[200];
	memset(longid, 'a', sizeof(longid));
	memcpy(longid, "video_", 6);
	ck_assert(!id_video_valid(longid, sizeof(longid)));
	ck_assert(id_video_valid("video_123", 9));
}
END_TEST

START_TEST(next_id_follows_last)
{
	uint8_t rnd[10], ff[10];
	memset(rnd, 0x11, sizeof(rnd));
	memset(ff, 0xff, sizeof(ff));
	char last[ID_MAX], next[ID_MAX];
	/* no last id: plain id for now */
	id_video_next(next, NULL, 5000, rnd);
	id_video_at(last, 5000, rnd);
	ck_assert_str_eq(next, last);
	/* the clock moved on: the new time wins */
	id_video_at(last, 4000, ff);
	id_video_next(next, last, 5000, rnd);
	ck_assert(strcmp(next, last) > 0);
	ck_assert(strncmp(next, "video_000000001388", 18) == 0);
	/* same millisecond, larger random part in last: still sorts after */
	id_video_at(last, 5000, ff);
	id_video_next(next, last, 5000, rnd);
	ck_assert(strcmp(next, last) > 0);
	ck_assert(id_video_valid(next, strlen(next)));
	/* clock behind last (another process, or a step back) */
	id_video_at(last, 9000, rnd);
	id_video_next(next, last, 5000, rnd);
	ck_assert(strcmp(next, last) > 0);
	/* a chain of 1000 in the same millisecond stays strictly increasing */
	id_video_at(last, 7000, rnd);
	for (int i = 0; i < 1000; i++) {
		uint8_t r[10];
		ck_assert_int_eq(id_random(r, sizeof(r)), 0);
		id_video_next(next, last, 7000, r);
		ck_assert(strcmp(next, last) > 0);
		ck_assert_uint_eq(strlen(next), ID_VIDEO_LEN);
		memcpy(last, next, ID_MAX);
	}
	/* foreign ids in the table are ignored */
	id_video_next(next, "video_a1", 5000, rnd);
	id_video_at(last, 5000, rnd);
	ck_assert_str_eq(next, last);
}
END_TEST

START_TEST(character_id_validation)
{
	char id[ID_MAX];
	ck_assert_int_eq(id_prefixed_new(id, sizeof(id), "char_", 16), 0);
	ck_assert(id_character_valid(id, strlen(id)));
	ck_assert(id_character_valid("char_1", 6));
	const char *bad[] = {
		"char_", "char", "video_123", "char_a-b", "char_a/b", "Char_1", NULL
	};
	for (const char **p = bad; *p; p++)
		ck_assert_msg(!id_character_valid(*p, strlen(*p)), "accepted %s", *p);
	char longid[5 + 57];
	memcpy(longid, "char_", 5);
	memset(longid + 5, 'a', 57);
	ck_assert(!id_character_valid(longid, sizeof(longid)));
	ck_assert(id_character_valid(longid, sizeof(longid) - 1));
	ck_assert(!id_video_valid(id, strlen(id)));
}
END_TEST

START_TEST(prefixed_ids)
{
	char out[32];
	ck_assert_int_eq(id_prefixed_new(out, sizeof(out), "key_", 8), 0);
	ck_assert_uint_eq(strlen(out), 20);
	ck_assert_int_eq(id_prefixed_new(out, 10, "key_", 8), -1);
}
END_TEST

static Suite *id_suite(void)
{
	Suite *s = suite_create("id");
	TCase *tc = tcase_create("id");
	tcase_add_test(tc, video_id_shape);
	tcase_add_test(tc, video_ids_sort_by_time);
	tcase_add_test(tc, video_ids_unique);
	tcase_add_test(tc, video_id_validation);
	tcase_add_test(tc, next_id_follows_last);
	tcase_add_test(tc, prefixed_ids);
	tcase_add_test(tc, character_id_validation);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(id_suite)
