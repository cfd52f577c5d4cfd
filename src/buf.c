/*
 * buf: growable, bounded byte buffers.  Owns allocation policy only; what the
 * bytes mean is the caller's business.
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t limit)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->limit = limit;
}

void buf_deinit(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_truncate(struct buf *b, size_t len)
{
	b->len = len;
	if (b->data != NULL)
		b->data[len] = '\0';
}

void buf_reset(struct buf *b)
{
	buf_truncate(b, 0);
}

/* reserve makes room for extra more bytes plus the NUL. */
static int reserve(struct buf *b, size_t extra)
{
	if (extra > b->limit || b->len > b->limit - extra)
		return -1;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
	char *p = realloc(b->data, cap);
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int buf_reserve(struct buf *b, size_t extra)
{
	return reserve(b, extra);
}

int buf_append(struct buf *b, const void *data, size_t len)
{
	if (reserve(b, len) < 0)
		return -1;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_putc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	/* Format straight into the room left when it fits (one pass); measure
	 * and grow only when it does not. */
	size_t room = b->data != NULL ? b->cap - b->len : 0;
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap2);
	va_end(ap2);
	if (n >= 0 && (size_t)n < room) {
		if ((size_t)n > b->limit - b->len) { /* past the limit: undo */
			b->data[b->len] = '\0';
			return -1;
		}
		b->len += (size_t)n;
		return 0;
	}
	if (n < 0 || reserve(b, (size_t)n) < 0) {
		if (b->data != NULL)
			b->data[b->len] = '\0';
		return -1;
	}
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

/* utf8_seq returns the length of the well-formed UTF-8 sequence at p
 * (at most n bytes available), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t need;
	unsigned lo = 0x80, hi = 0xBF;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		if (c == 0xE0)
			lo = 0xA0;
		if (c == 0xED)
			hi = 0x9F; /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		if (c == 0xF0)
			lo = 0x90;
		if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	if (n < need || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return need;
}

/* buf_json_escaped writes valid JSON whatever the bytes: a byte that does
 * not start a well-formed UTF-8 sequence becomes U+FFFD, so an error that
 * quotes hostile input is still JSON.  Other escapes are json-c's (with
 * JSON_C_TO_STRING_NOSLASHESCAPE), so text spliced into json-c's output
 * reads as if json-c had written it. */
int buf_json_escaped(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = b->len;
	for (size_t i = 0; i < len; i++) {
		/* A run of bytes that need no escape goes in whole. */
		size_t run = 0;
		while (i + run < len && (unsigned char)s[i + run] >= 0x20 &&
		       (unsigned char)s[i + run] < 0x80 && s[i + run] != '"' && s[i + run] != '\\')
			run++;
		if (run > 0) {
			if (buf_append(b, s + i, run) < 0)
				goto fail;
			i += run - 1;
			continue;
		}
		unsigned char c = (unsigned char)s[i];
		char esc[7] = { '\\', 0, 0, 0, 0, 0, 0 };
		size_t n = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			if (c >= 0x80) {
				size_t seq = utf8_seq((const unsigned char *)s + i, len - i);
				if (seq == 0) {
					if (buf_puts(b, "\\ufffd") < 0)
						goto fail;
					continue;
				}
				if (buf_append(b, s + i, seq) < 0)
					goto fail;
				i += seq - 1;
				continue;
			}
			esc[1] = 'u'; /* a control character */
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		if (buf_append(b, esc, n) < 0)
			goto fail;
	}
	return 0;
fail:
	buf_truncate(b, start);
	return -1;
}

int buf_json_string(struct buf *b, const char *s, size_t len)
{
	size_t start = b->len;
	if (buf_putc(b, '"') < 0 || buf_json_escaped(b, s, len) < 0 || buf_putc(b, '"') < 0) {
		buf_truncate(b, start);
		return -1;
	}
	return 0;
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

int buf_pct_encode(struct buf *b, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		/* the run of bytes kept as they are, in one append */
		const unsigned char *run = p;
		while (*p && (unreserved(*p) || (keep_slash && *p == '/')))
			p++;
		if (p > run && buf_append(b, run, (size_t)(p - run)) < 0)
			return -1;
		if (*p) {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			if (buf_append(b, e, 3) < 0)
				return -1;
			p++;
		}
	}
	return 0;
}

int buf_pct_encode_to(const char *s, char *out, size_t n)
{
	if (n == 0)
		return -1;
	struct buf b;
	buf_init(&b, n - 1);
	int rc = buf_pct_encode(&b, s, 0);
	memcpy(out, b.data ? b.data : "", b.len + 1);
	buf_deinit(&b);
	return rc;
}

char *buf_take(struct buf *b)
{
	char *p = b->data;
	if (p == NULL)
		p = calloc(1, 1);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

int str_join(char *out, size_t n, const char *const *parts, size_t k)
{
	size_t at = 0;
	for (size_t i = 0; i < k; i++) {
		size_t l = strlen(parts[i]);
		if (l >= n - at) {
			if (n)
				out[0] = '\0';
			return -1;
		}
		memcpy(out + at, parts[i], l);
		at += l;
	}
	if (n == 0)
		return -1;
	out[at] = '\0';
	return 0;
}
