/*
 * scrub: filesystem names out of a client's message (see scrub.h).  The
 * message is read word by word; where a word starts, what follows is
 * checked for a mention of the data directory anywhere in the word, then
 * for a path beginning there, and either is replaced up to the path's end.
 */
#include "scrub.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec.h"

/* The data directory's own subdirectories (api.c and dispatcher.c make
 * them; store.c keeps db): a relative path into one names the layout. */
static const char *const subdirs[] = { "uploads/", "content/", "tmp/", "db/", NULL };

/* The data directory as it may be written: whole, and without its leading
 * '/' when that still leaves a path of two parts or more ("srv/rg", never
 * a lone word such as "data"). */
struct place {
	const char *full, *rel;
	size_t full_n, rel_n;
};

static void place_init(struct place *pl, const char *data_dir)
{
	memset(pl, 0, sizeof(*pl));
	if (data_dir == NULL)
		return;
	size_t n = strlen(data_dir);
	while (n > 0 && data_dir[n - 1] == '/')
		n--; /* "/" alone: every path at a word's start goes anyway */
	pl->full = data_dir;
	pl->full_n = n;
	size_t skip = 0;
	while (skip < n && data_dir[skip] == '/')
		skip++;
	if (skip > 0 && memchr(data_dir + skip, '/', n - skip) != NULL) {
		pl->rel = data_dir + skip;
		pl->rel_n = n - skip;
	}
}

static int is_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static int is_quote(unsigned char c)
{
	return c == '\'' || c == '"' || c == '`';
}

/* starts_word: may a path begin right after c? */
static int starts_word(unsigned char c)
{
	return c < 0x20 || c == 0x7f || is_space(c) || is_quote(c) ||
	       memchr("([{<=,;:|", c, 9) != NULL;
}

/* ends_path: does an unquoted path stop before c? */
static int ends_path(unsigned char c)
{
	return c < 0x20 || c == 0x7f || is_space(c) || is_quote(c) ||
	       memchr(")]}>,;|", c, 7) != NULL;
}

/* path_end: where a path that goes on at s[i] ends.  A quoted one at its
 * closing quote (spaces and all); else before a space, a quote, a closing
 * bracket, ',' ';' or '|', less the punctuation that ends a sentence or
 * leads to the reason ("/x.png: no such file", "at /x."). */
static size_t path_end(const char *s, size_t len, size_t i, char quote)
{
	if (quote) {
		const char *q = memchr(s + i, quote, len - i);
		if (q != NULL)
			return (size_t)(q - s);
	}
	size_t e = i;
	while (e < len && !ends_path((unsigned char)s[e]))
		e++;
	while (e > i && memchr(".:!?", s[e - 1], 4) != NULL)
		e--;
	return e;
}

/* dir_at: the length of the mention of dir (n bytes) at s, where each '/'
 * of dir stands for one or more; 0 when there is none. */
static size_t dir_at(const char *s, size_t len, const char *dir, size_t n)
{
	size_t i = 0, j = 0;
	while (j < n) {
		if (i == len)
			return 0;
		if (dir[j] == '/') {
			if (s[i] != '/')
				return 0;
			while (i < len && s[i] == '/')
				i++;
			while (j < n && dir[j] == '/')
				j++;
		} else if (s[i++] != dir[j++]) {
			return 0;
		}
	}
	return i;
}

static size_t data_dir_at(const struct place *pl, const char *s, size_t len)
{
	size_t m = pl->full_n ? dir_at(s, len, pl->full, pl->full_n) : 0;
	if (m == 0 && pl->rel_n)
		m = dir_at(s, len, pl->rel, pl->rel_n);
	return m;
}

static int is_user_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* path_body: where the rest of a path beginning at s[i] (a word's start)
 * is, past its leading "/", "~user/", "./", "file:" or "uploads/"; 0 when
 * no path begins there. */
static size_t path_body(const char *s, size_t len, size_t i)
{
	size_t j = i;
	if (s[i] == '/') {
		if (i > 0 && s[i - 1] == ':' && i + 1 < len && s[i + 1] == '/')
			return 0; /* scheme://host: a URL (file:// is a path, found at "file:") */
		while (j < len && s[j] == '/')
			j++;
		return j;
	}
	if (s[i] == '~') {
		for (j++; j < len && is_user_char((unsigned char)s[j]); j++)
			;
		return j < len && s[j] == '/' ? j + 1 : 0;
	}
	if (s[i] == '.') {
		j += i + 1 < len && s[i + 1] == '.' ? 2 : 1;
		return j < len && s[j] == '/' ? j + 1 : 0;
	}
	if (len - i > 5 && strncasecmp(s + i, "file:", 5) == 0 &&
	    (s[i + 5] == '/' || s[i + 5] == '~' || is_user_char((unsigned char)s[i + 5])))
		return i + 5; /* "file:/x", "file:x", not "file: no such" nor "file:<file>" */
	for (const char *const *d = subdirs; *d; d++)
		if (strncmp(s + i, *d, strlen(*d)) == 0)
			return i + strlen(*d);
	return 0;
}

/* mention_at: the end of what must go from the word starting at s[i]
 * (quote: the quote just before it, or 0), or 0 when nothing must. */
static size_t mention_at(const struct place *pl, const char *s, size_t len, size_t i, char quote)
{
	for (size_t p = i; p < len && (p == i || !starts_word((unsigned char)s[p - 1])); p++) {
		size_t m = data_dir_at(pl, s + p, len - p);
		if (m > 0)
			return path_end(s, len, p + m, quote);
	}
	size_t body = path_body(s, len, i);
	if (body == 0 || body == len || ends_path((unsigned char)s[body]))
		return 0; /* nothing after the "/": "a / b", "~/" alone */
	return path_end(s, len, body, quote);
}

/* seq_len: how many bytes a character whose first byte is c takes, in
 * valid UTF-8. */
static size_t seq_len(unsigned char c)
{
	return c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
}

/* clean_copy: msg as the client will read it, each control character a
 * space and each byte that starts no valid UTF-8 character a '?' (the
 * same length), so that what is searched is what is shown: a tab inside
 * "/srv/my\tdata" must not make data_dir appear after the search.  NULL
 * when out of memory. */
static char *clean_copy(const char *msg, size_t len)
{
	char *s = malloc(len + 1);
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)msg[i];
		size_t n = seq_len(c);
		if (c < 0x20 || c == 0x7f || n > len - i || !codec_utf8_valid(msg + i, n)) {
			s[i++] = c < 0x20 || c == 0x7f ? ' ' : '?';
			continue;
		}
		memcpy(s + i, msg + i, n);
		i += n;
	}
	s[len] = '\0';
	return s;
}

void scrub_message(struct buf *out, const char *message, const char *data_dir)
{
	struct place pl;
	place_init(&pl, data_dir);
	size_t len = strlen(message), i = 0;
	char *msg = clean_copy(message, len);
	if (msg == NULL)
		return;
	int at_word = 1;
	while (i < len) {
		unsigned char c = (unsigned char)msg[i];
		if (at_word && is_quote(c)) {
			/* a quoted path goes with its quotes: 'x' <file> y, not '<file>' */
			size_t end = mention_at(&pl, msg, len, i + 1, (char)c);
			if (end > i + 1 && end < len && msg[end] == (char)c) {
				if (buf_puts(out, SCRUB_WORD) < 0)
					break;
				i = end + 1;
				continue;
			}
		} else if (at_word) {
			char quote = i > 0 && is_quote((unsigned char)msg[i - 1]) ? msg[i - 1] : 0;
			size_t end = mention_at(&pl, msg, len, i, quote);
			if (end > i) {
				if (buf_puts(out, SCRUB_WORD) < 0)
					break;
				i = end;
				continue;
			}
		}
		size_t n = seq_len(c);
		if (buf_append(out, msg + i, n) < 0)
			break;
		at_word = starts_word(c);
		i += n;
	}
	free(msg);
}
