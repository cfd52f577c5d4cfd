/*
 * codec: strict base64 / base64url, hex and UTF-8 validation.  Owns the byte
 * level only; deciding what a decoded image or a prompt may contain is the
 * caller's job.
 *
 * "Strict" means one text per byte string: no whitespace, padding either
 * complete or absent, one alphabet per input, and the unused bits of the last
 * character must be zero (RFC 4648 section 3.5), so that "Zh==" is refused
 * rather than read as "f".
 */
#include "codec.h"

#include <limits.h>
#include <string.h>

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

enum { ALPHA_EITHER = 0, ALPHA_STD = 1, ALPHA_URL = 2 };

/* b64_value returns the 6-bit value of c, or -1; *alpha records which
 * alphabet the character belongs to when only one has it. */
static int b64_value(unsigned char c, int *alpha)
{
	*alpha = ALPHA_EITHER;
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	switch (c) {
	case '+': *alpha = ALPHA_STD; return 62;
	case '/': *alpha = ALPHA_STD; return 63;
	case '-': *alpha = ALPHA_URL; return 62;
	case '_': *alpha = ALPHA_URL; return 63;
	default: return -1;
	}
}

size_t codec_base64_decoded_max(size_t len)
{
	size_t tail = len % 4;
	return len / 4 * 3 + (tail > 1 ? tail - 1 : 0);
}

/* strip_padding returns the length of in without its '=' padding, or
 * (size_t)-1 when the padding is malformed. */
static size_t strip_padding(const char *in, size_t len)
{
	size_t pad = 0;
	while (pad < len && pad < 3 && in[len - 1 - pad] == '=')
		pad++;
	if (pad == 0)
		return len;
	/* Padded input comes in whole quanta and pads only a partial one. */
	if (pad > 2 || len % 4 != 0 || (len - pad) % 4 + pad != 4)
		return (size_t)-1;
	return len - pad;
}

long codec_base64_decode(const char *in, size_t len, uint8_t *out)
{
	if (len > LONG_MAX)
		return -1;
	len = strip_padding(in, len);
	if (len == (size_t)-1 || len % 4 == 1)
		return -1;

	int alpha = ALPHA_EITHER;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		int a;
		int v = b64_value((unsigned char)in[i], &a);
		if (v < 0)
			return -1;
		if (a != ALPHA_EITHER) {
			if (alpha != ALPHA_EITHER && alpha != a)
				return -1;
			alpha = a;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits (2 or 4) must be zero in the canonical encoding. */
	if (acc != 0)
		return -1;
	return (long)o;
}

static size_t b64_encode(const uint8_t *in, size_t len, char *out, const char *alphabet, int pad)
{
	size_t o = 0;
	size_t i = 0;
	for (; len - i >= 3; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

size_t codec_base64url_encode(const uint8_t *in, size_t len, char *out)
{
	return b64_encode(in, len, out, b64_url, 0);
}

size_t codec_base64_encode(const uint8_t *in, size_t len, char *out)
{
	return b64_encode(in, len, out, b64_std, 1);
}

void codec_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/* utf8_seq_len returns the length of the well-formed sequence at s (at most
 * n bytes available), or 0.  The ranges are Unicode's Table 3-7: the second
 * byte's range after E0, ED, F0 and F4 is what rules out overlongs,
 * surrogates and code points above U+10FFFF. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	if (c < 0xe0)
		return n >= 2 && is_cont(s[1]) ? 2 : 0;

	unsigned char lo = 0x80, hi = 0xbf;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < 2 || s[1] < lo || s[1] > hi)
		return 0;
	if (c < 0xf0)
		return n >= 3 && is_cont(s[2]) ? 3 : 0;
	return n >= 4 && is_cont(s[2]) && is_cont(s[3]) ? 4 : 0;
}

int codec_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		size_t n = utf8_seq_len(p + i, len - i);
		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

void codec_utf8_scrub(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t len = strlen(s), i = 0;
	while (i < len) {
		size_t n = utf8_seq_len(p + i, len - i);
		if (n == 0) {
			p[i] = '?';
			n = 1;
		}
		i += n;
	}
}

static int hex4(const char *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* In place: every escape is at least as long as what it decodes to (\uXXXX,
 * 6 bytes, gives at most 3; a surrogate pair, 12 bytes, gives 4), so the
 * write position never passes the read position. */
long codec_json_unescape(char *s, size_t len)
{
	size_t o = 0;
	if (len > LONG_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20)
			return -1;
		if (c != '\\') {
			s[o++] = (char)c;
			continue;
		}
		if (++i == len)
			return -1;
		switch (s[i]) {
		case '"':
		case '\\':
		case '/': s[o++] = s[i]; break;
		case 'b': s[o++] = '\b'; break;
		case 'f': s[o++] = '\f'; break;
		case 'n': s[o++] = '\n'; break;
		case 'r': s[o++] = '\r'; break;
		case 't': s[o++] = '\t'; break;
		case 'u': {
			int hi = len - i > 4 ? hex4(s + i + 1) : -1;
			if (hi < 0)
				return -1;
			i += 4;
			uint32_t cp = (uint32_t)hi;
			if (hi >= 0xDC00 && hi <= 0xDFFF)
				return -1;
			if (hi >= 0xD800 && hi <= 0xDBFF) {
				int lo = len - i > 6 && s[i + 1] == '\\' && s[i + 2] == 'u'
						 ? hex4(s + i + 3)
						 : -1;
				if (lo < 0xDC00 || lo > 0xDFFF)
					return -1;
				i += 6;
				cp = 0x10000 + (((uint32_t)hi - 0xD800) << 10) +
				     ((uint32_t)lo - 0xDC00);
			}
			o += put_utf8(s + o, cp);
			break;
		}
		default: return -1;
		}
	}
	s[o] = '\0';
	return (long)o;
}
