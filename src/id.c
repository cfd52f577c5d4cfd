/*
 * id: making and checking identifiers.
 */
#include "id.h"

#include "codec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int id_random(void *out, size_t len)
{
	uint8_t *p = out;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void id_video_at(char out[ID_MAX], uint64_t ms, const uint8_t rnd[10])
{
	uint8_t t[6];
	for (int i = 5; i >= 0; i--) {
		t[i] = (uint8_t)(ms & 0xff);
		ms >>= 8;
	}
	memcpy(out, "video_", 6);
	codec_hex(t, sizeof(t), out + 6);
	codec_hex(rnd, 10, out + 18);
}

/* parse_hex reads n hex digits; -1 when one is not lowercase hex. */
static int parse_hex(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return 0;
}

void id_video_next(char out[ID_MAX], const char *last, uint64_t now_ms, const uint8_t rnd[10])
{
	uint8_t t[6], r[10];
	if (last == NULL || strlen(last) != ID_VIDEO_LEN || strncmp(last, "video_", 6) != 0 ||
	    parse_hex(last + 6, 12, t) < 0 || parse_hex(last + 18, 20, r) < 0) {
		id_video_at(out, now_ms, rnd);
		return;
	}
	uint64_t last_ms = 0;
	for (int i = 0; i < 6; i++)
		last_ms = (last_ms << 8) | t[i];
	if (now_ms > last_ms) {
		id_video_at(out, now_ms, rnd);
		return;
	}
	/* Same (or earlier) millisecond: step the random part forward by
	 * 1 + a random 32-bit amount, carrying into the time part. */
	uint64_t add = 1 + (((uint64_t)rnd[0] << 24) | ((uint64_t)rnd[1] << 16) |
			    ((uint64_t)rnd[2] << 8) | rnd[3]);
	for (int i = 9; i >= 0 && add; i--) {
		uint64_t v = r[i] + (add & 0xff);
		r[i] = (uint8_t)v;
		add = (add >> 8) + (v >> 8);
	}
	if (add)
		last_ms++;
	id_video_at(out, last_ms, r);
}

int id_video_new(char out[ID_MAX])
{
	uint8_t rnd[10];
	struct timespec ts;
	if (id_random(rnd, sizeof(rnd)) < 0)
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	id_video_at(out, ms, rnd);
	return 0;
}

/* prefixed_valid: prefix followed by 1..56 letters or digits. */
static int prefixed_valid(const char *s, size_t len, const char *prefix)
{
	size_t plen = strlen(prefix);
	if (len <= plen || len > plen + 56 || memcmp(s, prefix, plen) != 0)
		return 0;
	for (size_t i = plen; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return 0;
	}
	return 1;
}

int id_video_valid(const char *s, size_t len)
{
	return prefixed_valid(s, len, "video_");
}

int id_character_valid(const char *s, size_t len)
{
	return prefixed_valid(s, len, "char_");
}

int id_prefixed_new(char *out, size_t outlen, const char *prefix, size_t nbytes)
{
	uint8_t rnd[64];
	size_t plen = strlen(prefix);
	if (nbytes > sizeof(rnd) || plen + 2 * nbytes + 1 > outlen)
		return -1;
	if (id_random(rnd, nbytes) < 0)
		return -1;
	memcpy(out, prefix, plen);
	codec_hex(rnd, nbytes, out + plen);
	return 0;
}

int id_file_new(char out[ID_MAX])
{
	char v[ID_MAX];
	if (id_video_new(v) < 0)
		return -1;
	snprintf(out, ID_MAX, "file-%s", v + 6);
	return 0;
}

int id_file_valid(const char *s, size_t len)
{
	if (len <= 5 || len > 61 || memcmp(s, "file-", 5) != 0)
		return 0;
	for (size_t i = 5; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return 0;
	}
	return 1;
}
