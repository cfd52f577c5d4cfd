/* Unit tests for media.c: ffprobe and ffmpeg run on real clips, on bytes
 * that are no clip, on a missing program and on one that never ends. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "media.h"
#include "testutil.h"

static char dir[] = "/tmp/reelgate-media-XXXXXX";

static void make_dir(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* remove_dir: the teardown, in each test's own process */
static void remove_dir(void)
{
	char cmd[600];
	if (strstr(dir, "XXXXXX") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
}

/* clip makes a 2 s 320x240 (or w x h) test clip at dir/name. */
static const char *clip(const char *name, int w, int h)
{
	static char path[512];
	char cmd[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(cmd, sizeof(cmd),
		 "ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=%dx%d:rate=24:duration=2 "
		 "-pix_fmt yuv420p '%s'",
		 w, h, path);
	ck_assert_int_eq(system(cmd), 0);
	return path;
}

START_TEST(probe_reads_size_and_length)
{
	make_dir();
	struct media_info mi;
	char why[200] = "";
	ck_assert_int_eq(media_probe("ffmpeg", clip("a.mp4", 320, 240), &mi, why, sizeof(why)), 0);
	ck_assert_int_eq(mi.width, 320);
	ck_assert_int_eq(mi.height, 240);
	ck_assert(mi.seconds > 1.9 && mi.seconds < 2.1);
	ck_assert_int_eq(media_probe("ffmpeg", clip("b.webm", 162, 98), &mi, why, sizeof(why)), 0);
	ck_assert_int_eq(mi.width, 162);
	ck_assert_int_eq(mi.height, 98);
}
END_TEST

START_TEST(probe_refuses_what_is_no_clip)
{
	make_dir();
	char path[512], why[200] = "";
	snprintf(path, sizeof(path), "%s/fake.mp4", dir);
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	/* an MP4's first bytes, then garbage */
	fwrite("\0\0\0\x18"
	       "ftypisom\0\0\0\0isomgarbagegarbage",
	       1, 36, f);
	fclose(f);
	struct media_info mi;
	ck_assert_int_eq(media_probe("ffmpeg", path, &mi, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "the clip could not be decoded as a video");
	ck_assert_ptr_null(strstr(why, dir)); /* no path in the message */
	/* an image: decodable, but no length */
	char cmd[1024];
	snprintf(
		cmd, sizeof(cmd),
		"ffmpeg -nostdin -v error -y -f lavfi -i color=red:size=64x64 -frames:v 1 '%s/x.png'",
		dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/x.png", dir);
	ck_assert_int_eq(media_probe("ffmpeg", path, &mi, why, sizeof(why)), -1);
}
END_TEST

START_TEST(probe_without_the_program)
{
	make_dir();
	struct media_info mi;
	char why[200] = "";
	ck_assert_int_eq(media_probe("/nonexistent/bin/ffmpeg", clip("c.mp4", 64, 64), &mi, why,
				     sizeof(why)),
			 -1);
}
END_TEST

START_TEST(still_is_the_first_frame_as_png)
{
	make_dir();
	char out[512];
	snprintf(out, sizeof(out), "%s/still.png", dir);
	ck_assert_int_eq(media_still("ffmpeg", clip("d.mp4", 128, 96), out), 0);
	unsigned char sig[8];
	FILE *f = fopen(out, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(sig, 1, 8, f), 8);
	fclose(f);
	ck_assert_mem_eq(sig, "\x89PNG\r\n\x1a\n", 8);
	struct media_info mi;
	char why[200];
	/* ffprobe reads a PNG's size; its length is what fails above */
	media_probe("ffmpeg", out, &mi, why, sizeof(why));
	ck_assert_int_eq(mi.width, 128);
	ck_assert_int_eq(mi.height, 96);
	/* a failed still leaves no file behind */
	snprintf(out, sizeof(out), "%s/none.png", dir);
	ck_assert_int_eq(media_still("ffmpeg", "/nonexistent.mp4", out), -1);
	ck_assert_int_eq(access(out, F_OK), -1);
}
END_TEST

START_TEST(a_program_that_hangs_is_killed)
{
	make_dir();
	/* an "ffmpeg" whose ffprobe sibling never answers */
	char bin[512], probe[600], cmd[1400];
	snprintf(bin, sizeof(bin), "%s/bin", dir);
	ck_assert_int_eq(mkdir(bin, 0700), 0);
	snprintf(probe, sizeof(probe), "%s/ffprobe", bin);
	FILE *f = fopen(probe, "w");
	ck_assert_ptr_nonnull(f);
	fputs("#!/bin/sh\nexec sleep 30\n", f);
	fclose(f);
	ck_assert_int_eq(chmod(probe, 0700), 0);
	snprintf(cmd, sizeof(cmd), "%s/ffmpeg", bin);
	media_set_timeout_ms(300);
	struct media_info mi;
	char why[200];
	time_t t0 = time(NULL);
	ck_assert_int_eq(media_probe(cmd, clip("e.mp4", 64, 64), &mi, why, sizeof(why)), -1);
	ck_assert(time(NULL) - t0 < 10);
	media_set_timeout_ms(0);
}
END_TEST

static Suite *media_suite(void)
{
	Suite *s = suite_create("media");
	TCase *tc = tcase_create("media");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, NULL, remove_dir);
	tcase_add_test(tc, probe_reads_size_and_length);
	tcase_add_test(tc, probe_refuses_what_is_no_clip);
	tcase_add_test(tc, probe_without_the_program);
	tcase_add_test(tc, still_is_the_first_frame_as_png);
	tcase_add_test(tc, a_program_that_hangs_is_killed);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(media_suite)
