/*
 * buf: a growable byte buffer with a hard size limit.
 *
 * Every text reelgate builds (responses, keys, log lines) goes through one of
 * these instead of fixed arrays and sprintf.  Appends past the limit fail and
 * leave the buffer unchanged, so a caller can turn the failure into a 413 or a
 * 400 instead of truncating silently.  The data is always NUL-terminated.
 */
#ifndef REELGATE_BUF_H
#define REELGATE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;   /* owned; NUL-terminated; NULL until the first append */
	size_t len;   /* bytes used, not counting the NUL */
	size_t cap;   /* bytes allocated */
	size_t limit; /* most bytes len may reach */
};

/* buf_init starts an empty buffer that may grow to limit bytes. */
void buf_init(struct buf *b, size_t limit);
/* buf_deinit frees the data; the buffer may be reused after buf_init. */
void buf_deinit(struct buf *b);
/* buf_truncate undoes appends: len (at most the length) bytes are kept. */
void buf_truncate(struct buf *b, size_t len);
/* buf_reset empties the buffer and keeps its memory. */
void buf_reset(struct buf *b);

/* buf_reserve makes room for extra more bytes (and the NUL) at once:
 * 0, or -1 past the limit or out of memory. */
int buf_reserve(struct buf *b, size_t extra);
/* The appenders return 0, or -1 when the limit or memory would be exceeded. */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* buf_json_string appends s (len bytes) as a quoted, escaped JSON string;
 * buf_json_escaped appends the escaped text without the quotes. */
int buf_json_string(struct buf *b, const char *s, size_t len);
int buf_json_escaped(struct buf *b, const char *s, size_t len);

/* buf_pct_encode appends s percent-encoded (RFC 3986): every byte but the
 * unreserved A-Z a-z 0-9 - _ . ~ (and '/' when keep_slash) as %XX with
 * upper-case hex, as SigV4 and URL query values want it.
 * buf_pct_encode_to writes the same into out (n bytes, NUL-terminated):
 * -1 when it did not fit, out then holds the part that did. */
int buf_pct_encode(struct buf *b, const char *s, int keep_slash);
int buf_pct_encode_to(const char *s, char *out, size_t n);

/* buf_take hands the data to the caller (who frees it) and empties b. */
char *buf_take(struct buf *b);

/* str_join writes the k strings of parts one after the other into out (n
 * bytes), NUL-terminated: 0, or -1 and out "" when they do not fit.  For
 * the paths and headers made on every request, where snprintf() cost
 * more than the rest of the work. */
int str_join(char *out, size_t n, const char *const *parts, size_t k);

#endif
