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

int id_video_valid(const char *s, size_t len)
{
	if (len <= 6 || len > 62 || memcmp(s, "video_", 6) != 0)
		return 0;
	for (size_t i = 6; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9')))
			return 0;
	}
	return 1;
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
