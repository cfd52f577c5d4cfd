/* Unit tests for scrub.c: filesystem names out of client messages, and the
 * words that must stay. */
#include <check.h>
#include <string.h>

#include "buf.h"
#include "codec.h"
#include "scrub.h"
#include "testutil.h"

#define DATA_DIR "/srv/reelgate/data"

/* scrubbed: msg scrubbed with DATA_DIR into a buffer of limit bytes (a
 * static copy, good until the next call). */
static const char *scrubbed_to(const char *msg, const char *data_dir, size_t limit)
{
	static char copy[4096];
	struct buf b;
	buf_init(&b, limit);
	scrub_message(&b, msg, data_dir);
	ck_assert(b.len < sizeof(copy));
	memcpy(copy, b.data ? b.data : "", b.len + 1);
	buf_deinit(&b);
	ck_assert(codec_utf8_valid(copy, strlen(copy)));
	return copy;
}

static const char *scrubbed(const char *msg)
{
	return scrubbed_to(msg, DATA_DIR, 4096);
}

START_TEST(issue_example)
{
	ck_assert_str_eq(
		scrubbed(
			"render-ffmpeg: cannot read input image "
			"'/srv/reelgate/data/uploads/img_0d3c.png': not a decodable PNG/JPEG/WebP"),
		"render-ffmpeg: cannot read input image <file>: not a decodable PNG/JPEG/WebP");
	ck_assert_str_eq(
		scrubbed("The generator failed (exit status 1): render-ffmpeg: cannot read "
			 "input image '/tmp/reelgate-it-x/data/uploads/img_1.png': bad"),
		"The generator failed (exit status 1): render-ffmpeg: cannot read "
		"input image <file>: bad");
}
END_TEST

START_TEST(path_at_the_start)
{
	ck_assert_str_eq(scrubbed("/etc/reelgate.json: Permission denied"),
			 "<file>: Permission denied");
	ck_assert_str_eq(scrubbed("/usr/bin/ffmpeg"), "<file>");
	ck_assert_str_eq(scrubbed("//server/share/x is gone"), "<file> is gone");
	ck_assert_str_eq(scrubbed("at /opt/models/x.bin."), "at <file>.");
}
END_TEST

START_TEST(path_in_quotes)
{
	ck_assert_str_eq(scrubbed("open \"/var/tmp/my file.png\" failed"), "open <file> failed");
	ck_assert_str_eq(scrubbed("open '/a/b' and `/c/d`"), "open <file> and <file>");
	/* an unclosed quote: the path ends where an unquoted one would */
	ck_assert_str_eq(scrubbed("open '/a/b c"), "open '<file> c");
	ck_assert_str_eq(scrubbed("(/home/op/x.log)"), "(<file>)");
	ck_assert_str_eq(scrubbed("[/a/b]"), "[<file>]");
}
END_TEST

START_TEST(path_after_equals_and_colon)
{
	ck_assert_str_eq(scrubbed("TMPDIR=/var/tmp/run-1, retrying"), "TMPDIR=<file>, retrying");
	ck_assert_str_eq(scrubbed("--output=/x/out.mp4"), "--output=<file>");
	ck_assert_str_eq(scrubbed("path:/x/y;next"), "path:<file>;next");
	ck_assert_str_eq(scrubbed("a,/b/c"), "a,<file>");
}
END_TEST

START_TEST(several_paths)
{
	ck_assert_str_eq(scrubbed("cp /a/b /c/d: /e/f exists; see /var/log/x.log, ~/y and ./z"),
			 "cp <file> <file>: <file> exists; see <file>, <file> and <file>");
	ck_assert_str_eq(scrubbed("'/a''/b'"), "<file><file>");
}
END_TEST

START_TEST(home_relative_and_file_urls)
{
	ck_assert_str_eq(scrubbed("cache ~/.cache/rg and ~root/.ssh/id"),
			 "cache <file> and <file>");
	ck_assert_str_eq(scrubbed("run ../bin/x or ./x"), "run <file> or <file>");
	ck_assert_str_eq(scrubbed("log file:///var/log/x.log"), "log <file>");
	ck_assert_str_eq(scrubbed("FILE://host/share/x"), "<file>");
	ck_assert_str_eq(scrubbed("ffmpeg file:input"), "ffmpeg <file>");
	ck_assert_str_eq(scrubbed("bad uploads/img_1.png and tmp/run-x/out.mp4"),
			 "bad <file> and <file>");
}
END_TEST

START_TEST(urls_unchanged)
{
	const char *const keep[] = {
		"see https://example.com/docs/errors?x=1#y for help",
		"http://127.0.0.1:8188/view?filename=a.mp4&type=output",
		"(https://api.example.com/v1/videos/abc)",
		"ftp://host/x, s3://bucket/key",
	};
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		ck_assert_str_eq(scrubbed(keep[i]), keep[i]);
}
END_TEST

START_TEST(words_with_a_slash_unchanged)
{
	const char *const keep[] = {
		"and/or",
		"HTTP/1.1 502",
		"image/png, image/jpeg",
		"not a decodable PNG/JPEG/WebP",
		"1/2 done",
		"km/h",
		"a / b",
		"~/",
		"the file: it is bad",
		"file:",
		"...",
		"~ x",
		"content-type",
		"my-uploads/x",
		"x/tmp/y",
		"w/o the data",
		"data",
	};
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		ck_assert_str_eq(scrubbed(keep[i]), keep[i]);
}
END_TEST

START_TEST(data_dir_inside_a_word)
{
	ck_assert_str_eq(scrubbed("cache x/srv/reelgate/data/tmp/out.mp4 gone"),
			 "cache <file> gone");
	ck_assert_str_eq(scrubbed("cache:x/srv/reelgate/data/tmp, again"), "cache:<file>, again");
	/* without its leading '/', with doubled slashes, with a trailing one */
	ck_assert_str_eq(scrubbed("in srv/reelgate/data/uploads/img.png"), "in <file>");
	ck_assert_str_eq(scrubbed("in a//srv//reelgate///data"), "in <file>");
	ck_assert_str_eq(scrubbed_to("x/srv/reelgate/data/y z", DATA_DIR "/", 4096), "<file> z");
	ck_assert_str_eq(scrubbed("'x/srv/reelgate/data/my file' z"), "<file> z");
	/* a data_dir with a space in it, not quoted */
	ck_assert_str_eq(scrubbed_to("at /srv/my data/x.png: bad", "/srv/my data", 4096),
			 "at <file>: bad");
	/* a one-part data_dir is not matched as a bare word */
	ck_assert_str_eq(scrubbed_to("invalid data in x/data/y", "/data", 4096),
			 "invalid data in <file>");
	ck_assert_str_eq(scrubbed_to("/x and y", "/", 4096), "<file> and y");
	ck_assert_str_eq(scrubbed_to("/x and a/b", NULL, 4096), "<file> and a/b");
}
END_TEST

START_TEST(bytes_and_bounds)
{
	/* control characters become spaces, broken UTF-8 '?' */
	ck_assert_str_eq(scrubbed("a\tb\x01"
				  "c\x7f"),
			 "a b c ");
	ck_assert_str_eq(scrubbed("caf\xc3\xa9 \xff\xc3(\xe2\x82"), "caf\xc3\xa9 ?"
								    "?(?"
								    "?");
	ck_assert_str_eq(scrubbed("\xc3\xa9/x"), "\xc3\xa9/x");
	ck_assert_str_eq(scrubbed("\t/x/y"), " <file>");
	/* what is searched is what is shown: a tab that becomes a space
	 * spells the data_dir */
	ck_assert_str_eq(scrubbed_to("a/srv/my\tdata/x b", "/srv/my data", 4096), "<file> b");
	/* the limit cuts between characters, never inside one or a <file> */
	ck_assert_str_eq(scrubbed_to("ab /x/y", NULL, 9), "ab <file>");
	ck_assert_str_eq(scrubbed_to("ab /x/y", NULL, 8), "ab ");
	ck_assert_str_eq(scrubbed_to("\xc3\xa9\xc3\xa9\xc3\xa9", NULL, 5), "\xc3\xa9\xc3\xa9");
	ck_assert_str_eq(scrubbed(""), "");
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_uint_eq(strlen(scrubbed_to(big, NULL, 1024)), 1024);
}
END_TEST

static Suite *scrub_suite(void)
{
	Suite *s = suite_create("scrub");
	TCase *tc = tcase_create("scrub");
	tcase_add_test(tc, issue_example);
	tcase_add_test(tc, path_at_the_start);
	tcase_add_test(tc, path_in_quotes);
	tcase_add_test(tc, path_after_equals_and_colon);
	tcase_add_test(tc, several_paths);
	tcase_add_test(tc, home_relative_and_file_urls);
	tcase_add_test(tc, urls_unchanged);
	tcase_add_test(tc, words_with_a_slash_unchanged);
	tcase_add_test(tc, data_dir_inside_a_word);
	tcase_add_test(tc, bytes_and_bounds);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(scrub_suite)
