/*
 * fuzz_range: libFuzzer target for the Range header parser
 * (http_parse_range in http.c), which decides what part of a stored video
 * GET /v1/videos/{id}/content sends.
 *
 * Input: the first 8 bytes are the file size (little-endian int64, so
 * negative and huge sizes are tried too; shorter inputs are padded with
 * zeros), the rest is the header value (a NUL ends it early, as it would in
 * the FastCGI environment).  Checked, besides memory safety:
 *   - the answer is -1, 0 or 1;
 *   - 1 gives 0 <= start <= end < size (so end - start + 1 cannot overflow
 *     and the worker never seeks outside the file);
 *   - -1 (416) only for a non-negative size and a header that starts with
 *     "bytes=";
 *   - the answer does not depend on what *start / *end held before, and a
 *     second call gives the same answer (the parser keeps no state);
 *   - a slow reference reading of the simple shapes ("bytes=a-b",
 *     "bytes=a-", "bytes=-n" with small numbers) agrees with it.
 */
#include "fuzz.h"
#include "http.h"

#include <limits.h>

/* small_num reads 1..15 digits at *p (no overflow possible). */
static int small_num(const char **p, long long *out)
{
	const char *s = *p;
	long long v = 0;
	size_t n = 0;
	while (*s >= '0' && *s <= '9') {
		if (++n > 15)
			return -1;
		v = v * 10 + (*s++ - '0');
	}
	if (n == 0)
		return 0;
	*p = s;
	*out = v;
	return 1;
}

/* reference answers for "bytes=" + optional spaces + a?-b? + spaces, with
 * numbers of at most 15 digits; returns -2 when the header is not of that
 * simple shape (then nothing is compared). */
static int reference(const char *h, long long size, long long *start, long long *end)
{
	if (strncmp(h, "bytes=", 6) != 0 || size < 0)
		return -2;
	const char *p = h + 6;
	while (*p == ' ')
		p++;
	long long a = -1, b = -1;
	int ra = small_num(&p, &a);
	if (ra < 0 || *p != '-')
		return -2;
	p++;
	int rb = small_num(&p, &b);
	if (rb < 0)
		return -2;
	while (*p == ' ')
		p++;
	if (*p != '\0')
		return -2;
	if (ra == 0 && rb == 0)
		return 0;
	if (ra == 0) { /* the last b bytes */
		if (b == 0 || size == 0)
			return -1;
		*start = b >= size ? 0 : size - b;
		*end = size - 1;
		return 1;
	}
	if (rb == 1 && b < a)
		return 0;
	if (a >= size)
		return -1;
	*start = a;
	*end = (rb == 0 || b >= size) ? size - 1 : b;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t head[8] = { 0 };
	size_t hn = size < 8 ? size : 8;
	memcpy(head, data, hn);
	uint64_t u = 0;
	for (int i = 7; i >= 0; i--)
		u = u << 8 | head[i];
	long long fsize = (long long)u;
	char *h = fuzz_cstr(data + hn, size - hn);

	long long s1 = LLONG_MIN, e1 = LLONG_MIN, s2 = 7, e2 = 7;
	int r1 = http_parse_range(h, fsize, &s1, &e1);
	int r2 = http_parse_range(h, fsize, &s2, &e2);
	CHECK(r1 == -1 || r1 == 0 || r1 == 1);
	CHECK(r1 == r2);
	if (r1 == 1) {
		CHECK(fsize > 0);
		CHECK(0 <= s1 && s1 <= e1 && e1 < fsize);
		CHECK(s1 == s2 && e1 == e2);
	}
	if (r1 == -1)
		CHECK(fsize >= 0 && strncmp(h, "bytes=", 6) == 0);
	if (fsize < 0)
		CHECK(r1 == 0);
	CHECK(http_parse_range(NULL, fsize, &s2, &e2) == 0);

	long long rs = -5, re = -5;
	int rr = reference(h, fsize, &rs, &re);
	if (rr != -2) {
		CHECK(rr == r1);
		if (rr == 1)
			CHECK(rs == s1 && re == e1);
	}
	free(h);
	return 0;
}
