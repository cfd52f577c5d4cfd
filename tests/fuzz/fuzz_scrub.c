/*
 * fuzz_scrub: libFuzzer target for scrub_message (scrub.c), which every
 * failed task's error.message goes through (task_fail): text from local
 * programs and upstreams, hostile as any input.
 *
 * Input: byte 0 picks the output limit (0: TASK_MESSAGE_MAX, else its
 * value, 1..255 bytes), byte 1 the data_dir (mod 5: "/srv/reelgate/data",
 * "/d", "/", none, "/srv/my data"), the rest is the message (a NUL ends it
 * early).  Checked, besides memory safety:
 *   - the output is valid UTF-8 without control characters, within the
 *     limit;
 *   - an output cut by the limit is a prefix of the whole one;
 *   - unless cut, it holds no mention of data_dir (with slash runs as one,
 *     nor without its leading '/' when that leaves two parts or more);
 *   - a message with no '/' nor "file:" in it that is valid UTF-8 without
 *     control characters comes out unchanged;
 *   - scrubbing the output again changes nothing.
 */
#include <strings.h>

#include "fuzz.h"
#include "scrub.h"
#include "task.h"

static const char *const dirs[] = { "/srv/reelgate/data", "/d", "/", NULL, "/srv/my data" };

static char *scrub_to(const char *msg, const char *dir, size_t limit)
{
	struct buf b;
	buf_init(&b, limit);
	scrub_message(&b, msg, dir);
	char *s = b.data ? buf_take(&b) : strdup("");
	CHECK(s != NULL);
	buf_deinit(&b);
	return s;
}

/* squeeze copies s with every run of '/' made one. */
static char *squeeze(const char *s)
{
	char *o = malloc(strlen(s) + 1);
	CHECK(o != NULL);
	size_t j = 0;
	for (size_t i = 0; s[i]; i++)
		if (s[i] != '/' || j == 0 || o[j - 1] != '/')
			o[j++] = s[i];
	o[j] = '\0';
	return o;
}

static int mentions_dir(const char *out, const char *dir)
{
	if (dir == NULL || strcmp(dir, "/") == 0)
		return 0;
	char *sq = squeeze(out);
	int found = strstr(sq, dir) != NULL;
	const char *rel = dir + 1;
	if (strchr(rel, '/') != NULL && strstr(sq, rel) != NULL)
		found = 1;
	free(sq);
	return found;
}

static int plain(const char *s)
{
	if (!utf8_ok(s) || strchr(s, '/') != NULL)
		return 0;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || strncasecmp(p, "file:", 5) == 0)
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t limit = data[0] ? data[0] : TASK_MESSAGE_MAX;
	const char *dir = dirs[data[1] % 5];
	char *msg = fuzz_cstr(data + 2, size - 2);

	char *out = scrub_to(msg, dir, limit);
	size_t len = strlen(out);
	CHECK(len <= limit);
	CHECK(utf8_ok(out));
	for (size_t i = 0; i < len; i++)
		CHECK((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);

	char *whole = scrub_to(msg, dir, 1 << 20);
	CHECK(strncmp(whole, out, len) == 0);
	CHECK(!mentions_dir(whole, dir));
	if (plain(msg))
		CHECK(strcmp(whole, msg) == 0);
	char *again = scrub_to(whole, dir, 1 << 20);
	CHECK(strcmp(again, whole) == 0);

	free(again);
	free(whole);
	free(out);
	free(msg);
	return 0;
}
