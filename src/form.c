/*
 * form: urlencoded and multipart/form-data bodies into a flat field list.
 *
 * Owns the wire formats and their limits.  Leaves to validate.c what the
 * fields mean, to the request reader how many bytes a body may have, and to
 * the caller where a claimed upload finally lives.
 *
 * The multipart parser is a byte-level state machine, so feeding a body in
 * one piece or one byte at a time gives the same fields and the same error:
 * nothing it decides depends on where a chunk ends.  The delimiter
 * "\r\n--boundary" has its only CR in the first byte (RFC 2046 boundaries
 * cannot hold CR or LF), so a partial match that fails can always be handed
 * on as data whole, without KMP-style backtracking.
 */
#include "form.h"

#include "buf.h"
#include "codec.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define BOUNDARY_MAX 70	      /* RFC 2046 */
#define PART_HEADERS_MAX 8192 /* one part's whole header block */
#define TEMP_NAME "reelgate-form-XXXXXX"

/* ---- errors ------------------------------------------------------------ */

const char *form_strerror(enum form_err err)
{
	static const char *const names[] = {
		[FORM_OK] = "ok",
		[FORM_ENOMEM] = "out of memory",
		[FORM_TOO_MANY] = "too many fields",
		[FORM_NAME_TOO_LONG] = "field name too long",
		[FORM_VALUE_TOO_LONG] = "field value too long",
		[FORM_FILE_TOO_LARGE] = "file part too large",
		[FORM_SYNTAX] = "malformed form body",
		[FORM_BOUNDARY] = "unusable multipart boundary",
		[FORM_TRUNCATED] = "multipart body truncated",
		[FORM_IO] = "temporary file write failed",
	};
	if ((size_t)err >= sizeof(names) / sizeof(names[0]) || names[err] == NULL)
		return "unknown form error";
	return names[err];
}

/* set_err_field copies a field name from the request into err_field, fit to
 * echo back: control bytes and broken UTF-8 become '?', and a long name is
 * cut on a character boundary. */
static void set_err_field(struct form *f, const char *s, size_t len)
{
	size_t o = 0;
	size_t i = 0;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
		int ok = n <= len - i && codec_utf8_valid(s + i, n) && c >= 0x20 && c != 0x7f;
		if (!ok)
			n = 1;
		if (o + n >= sizeof(f->err_field))
			break;
		if (ok)
			memcpy(f->err_field + o, s + i, n);
		else
			f->err_field[o] = '?';
		o += n;
		i += n;
	}
	f->err_field[o] = '\0';
}

/* form_fail records the message for err and returns err.  The caller sets
 * err_field first, so the message may quote it. */
__attribute__((format(printf, 3, 4))) static enum form_err form_fail(struct form *f,
								     enum form_err err,
								     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->err_msg, sizeof(f->err_msg), fmt, ap);
	va_end(ap);
	return err;
}

static enum form_err fail_nomem(struct form *f)
{
	return form_fail(f, FORM_ENOMEM,
			 "the server ran out of memory "
			 "reading the form; try again");
}

/* ---- the field list ---------------------------------------------------- */

/*
 * A file part's path is allocated with one hidden byte after its NUL that
 * says whether form_claim_file handed the file over.  That keeps field->path
 * valid, and FORM_FIELD_IS_FILE true, after a claim without adding a member
 * to the public struct.
 */
static char *temp_path_new(const char *dir)
{
	size_t dlen = strlen(dir);
	size_t n = dlen + 1 + sizeof(TEMP_NAME) + 1;
	char *p = malloc(n);
	if (p == NULL)
		return NULL;
	memcpy(p, dir, dlen);
	p[dlen] = '/';
	memcpy(p + dlen + 1, TEMP_NAME, sizeof(TEMP_NAME));
	p[n - 1] = 0; /* not claimed */
	return p;
}

static char *claimed_flag(char *path)
{
	return path + strlen(path) + 1;
}

static void field_free(struct form_field *fld)
{
	if (fld->path != NULL && !*claimed_flag(fld->path))
		unlink(fld->path);
	free(fld->name);
	if (!fld->value_borrowed)
		free(fld->value);
	free(fld->filename);
	free(fld->content_type);
	free(fld->path);
	memset(fld, 0, sizeof(*fld));
}

void form_init(struct form *f)
{
	memset(f, 0, sizeof(*f));
}

void form_deinit(struct form *f)
{
	for (size_t i = 0; i < f->count; i++)
		field_free(&f->fields[i]);
	free(f->fields);
	form_init(f);
}

/* form_push moves *fld into the form; on failure *fld is left to the caller. */
static enum form_err form_push(struct form *f, struct form_field *fld)
{
	if (f->count == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		if (cap > SIZE_MAX / sizeof(*f->fields))
			return fail_nomem(f);
		struct form_field *p = realloc(f->fields, cap * sizeof(*p));
		if (p == NULL)
			return fail_nomem(f);
		f->fields = p;
		f->cap = cap;
	}
	f->fields[f->count++] = *fld;
	memset(fld, 0, sizeof(*fld));
	return FORM_OK;
}

const struct form_field *form_get(const struct form *f, const char *name)
{
	for (size_t i = 0; i < f->count; i++)
		if (strcmp(f->fields[i].name, name) == 0)
			return &f->fields[i];
	return NULL;
}

size_t form_count(const struct form *f, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < f->count; i++)
		if (strcmp(f->fields[i].name, name) == 0)
			n++;
	return n;
}

char *form_claim_file(struct form *f, struct form_field *field)
{
	if (field < f->fields || field >= f->fields + f->count || field->path == NULL ||
	    *claimed_flag(field->path))
		return NULL;
	char *copy = strdup(field->path);
	if (copy != NULL)
		*claimed_flag(field->path) = 1;
	return copy;
}

/* check_count refuses one field more than the limits allow. */
static enum form_err check_count(struct form *f, const struct form_limits *lim)
{
	if (f->count < lim->max_fields)
		return FORM_OK;
	return form_fail(f, FORM_TOO_MANY, "the form has more than %zu fields", lim->max_fields);
}

/* check_name applies the rules every field name obeys, in either encoding. */
static enum form_err check_name(struct form *f, const char *name, size_t len,
				const struct form_limits *lim)
{
	set_err_field(f, name, len);
	if (len == 0)
		return form_fail(f, FORM_SYNTAX,
				 "a form field has an empty "
				 "name; every field needs one");
	if (len > lim->max_name)
		return form_fail(f, FORM_NAME_TOO_LONG,
				 "a form field name is "
				 "longer than %zu bytes",
				 lim->max_name);
	if (memchr(name, '\0', len) != NULL)
		return form_fail(f, FORM_SYNTAX,
				 "a form field name contains "
				 "a NUL byte");
	return FORM_OK;
}

/* ---- application/x-www-form-urlencoded -------------------------------- */

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* pct_decode decodes in[0..len) into out (len + 1 bytes) and NUL-terminates
 * it.  plus_space says whether '+' means a space (forms) or itself (RFC 5987
 * values).  Returns the decoded length, or (size_t)-1 on a bad escape. */
static size_t pct_decode(const char *in, size_t len, char *out, int plus_space)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '%') {
			if (len - i < 3)
				return (size_t)-1;
			int hi = hex_value((unsigned char)in[i + 1]);
			int lo = hex_value((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0)
				return (size_t)-1;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return o;
}

/* urlencoded_pair adds one name=value pair; with inplace the value is
 * decoded where it is (pair is then writable up to pair[len]). */
static enum form_err urlencoded_pair(struct form *f, const char *pair, size_t len,
				     const struct form_limits *lim, int inplace)
{
	const char *eq = memchr(pair, '=', len);
	size_t raw_name_len = eq ? (size_t)(eq - pair) : len;
	const char *raw_value = eq ? eq + 1 : pair + len;
	size_t raw_value_len = (size_t)(pair + len - raw_value);
	struct form_field fld = { 0 };
	enum form_err err;

	set_err_field(f, pair, raw_name_len);
	if ((err = check_count(f, lim)) != FORM_OK)
		return err;
	fld.name = malloc(raw_name_len + 1);
	fld.value = inplace ? (char *)raw_value : malloc(raw_value_len + 1);
	fld.value_borrowed = inplace;
	if (fld.name == NULL || fld.value == NULL) {
		err = fail_nomem(f);
		goto out;
	}
	size_t name_len = pct_decode(pair, raw_name_len, fld.name, 1);
	if (name_len == (size_t)-1) {
		err = form_fail(f, FORM_SYNTAX,
				"a form field name has a bad "
				"escape: '%%' must be followed by two hex "
				"digits");
		goto out;
	}
	if ((err = check_name(f, fld.name, name_len, lim)) != FORM_OK)
		goto out;
	fld.value_len = pct_decode(raw_value, raw_value_len, fld.value, 1);
	if (fld.value_len == (size_t)-1) {
		err = form_fail(f, FORM_SYNTAX,
				"field \"%s\" has a bad "
				"escape: '%%' must be followed by two hex "
				"digits",
				f->err_field);
		goto out;
	}
	if (fld.value_len > lim->max_value) {
		err = form_fail(f, FORM_VALUE_TOO_LONG,
				"field \"%s\" is "
				"longer than %zu bytes",
				f->err_field, lim->max_value);
		goto out;
	}
	err = form_push(f, &fld);
out:
	field_free(&fld);
	return err;
}

static enum form_err parse_urlencoded(struct form *f, const char *data, size_t len,
				      const struct form_limits *lim, int inplace)
{
	size_t i = 0;
	while (i < len) {
		const char *amp = memchr(data + i, '&', len - i);
		size_t end = amp ? (size_t)(amp - data) : len;
		if (end > i) {
			enum form_err err = urlencoded_pair(f, data + i, end - i, lim, inplace);
			if (err != FORM_OK)
				return err;
		}
		i = end + 1;
	}
	return FORM_OK;
}

enum form_err form_parse_urlencoded(struct form *f, const char *data, size_t len,
				    const struct form_limits *lim)
{
	return parse_urlencoded(f, data, len, lim, 0);
}

enum form_err form_parse_urlencoded_inplace(struct form *f, char *data, size_t len,
					    const struct form_limits *lim)
{
	return parse_urlencoded(f, data, len, lim, 1);
}

/* ---- header parameters (Content-Type, Content-Disposition) ------------- */

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static const char *skip_ows(const char *s)
{
	while (is_ows(*s))
		s++;
	return s;
}

static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* token_len returns how many tchars start s. */
static size_t token_len(const char *s)
{
	size_t n = 0;
	while (is_tchar((unsigned char)s[n]))
		n++;
	return n;
}

static int token_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

struct param {
	const char *name; /* points into the header value */
	size_t name_len;
	char *value; /* unquoted, NUL-terminated; in the caller's scratch */
	size_t value_len;
};

/*
 * next_param reads one `; name=value` from *sp (value a token or a quoted
 * string; backslash escapes only '"' and '\\', because browsers send
 * Windows paths with raw backslashes).  The value is written to scratch,
 * which holds strlen(*sp) + 1 bytes.  Returns 1 with *p filled, 0 at the end
 * of the header, -1 on a syntax error.
 */
static int next_param(const char **sp, struct param *p, char *scratch)
{
	const char *s = skip_ows(*sp);
	if (*s == '\0')
		return 0;
	if (*s != ';')
		return -1;
	s = skip_ows(s + 1);
	if (*s == '\0') { /* a trailing ';' is harmless */
		*sp = s;
		return 0;
	}
	p->name = s;
	p->name_len = token_len(s);
	if (p->name_len == 0)
		return -1;
	s = skip_ows(s + p->name_len);
	if (*s != '=')
		return -1;
	s = skip_ows(s + 1);

	size_t o = 0;
	if (*s == '"') {
		for (s++; *s != '"'; s++) {
			if (*s == '\0')
				return -1;
			if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
				s++;
			scratch[o++] = *s;
		}
		s++;
	} else {
		while (*s != '\0' && *s != ';' && *s != '"' && !is_ows(*s))
			scratch[o++] = *s++;
		if (o == 0)
			return -1;
	}
	scratch[o] = '\0';
	p->value = scratch;
	p->value_len = o;
	*sp = s;
	return 1;
}

/* ---- multipart/form-data ----------------------------------------------- */

enum mp_state {
	MP_PREAMBLE,	/* before the first delimiter: discarded */
	MP_DELIM_AFTER, /* a whole delimiter matched; what follows decides */
	MP_DELIM_DASH,	/* delimiter and one '-': maybe the closing one */
	MP_DELIM_PAD,	/* transport padding (spaces) after a delimiter */
	MP_DELIM_CR,	/* CR after a delimiter; LF must follow */
	MP_HEADERS,	/* a part's header block */
	MP_BODY,	/* a part's content */
	MP_EPILOGUE,	/* after the closing delimiter: discarded */
	MP_FAILED,	/* an error was returned; it is returned again */
};

struct multipart {
	struct form *form;		  /* borrowed: receives the finished parts */
	struct form_limits lim;		  /* tmp_dir borrowed */
	char delim[4 + BOUNDARY_MAX + 1]; /* "\r\n--" boundary */
	size_t delim_len;
	size_t matched; /* bytes of delim matched so far */
	enum mp_state state;
	enum form_err err;	/* when state == MP_FAILED */
	int in_part;		/* the current part's body is being read */
	int seen_delim;		/* some delimiter line was found */
	struct buf head;	/* the current part's header block */
	struct form_field part; /* owned until pushed into form */
	struct buf text;	/* a text part's value */
	FILE *file;		/* a file part's temporary file */
	char file_buf[1 << 16]; /* its stdio buffer: 64 KiB writes */
};

static enum form_err bad_boundary(struct form *f, const char *msg)
{
	set_err_field(f, "", 0);
	return form_fail(f, FORM_BOUNDARY, "%s", msg);
}

static int is_bchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("'()+_,-./:=? ", c) != NULL);
}

static enum form_err check_boundary(struct form *f, const char *b, size_t len)
{
	if (len < 1 || len > BOUNDARY_MAX)
		return bad_boundary(f, "the multipart boundary must be 1 to "
				       "70 characters long");
	for (size_t i = 0; i < len; i++)
		if (!is_bchar((unsigned char)b[i]))
			return bad_boundary(f, "the multipart boundary may "
					       "only hold letters, digits, "
					       "spaces and '()+_,-./:=?");
	if (b[len - 1] == ' ')
		return bad_boundary(f, "the multipart boundary must not end "
				       "with a space");
	return FORM_OK;
}

/* find_boundary reads the boundary parameter of content_type into
 * mp->delim. */
static enum form_err find_boundary(struct multipart *mp, const char *ct)
{
	struct form *f = mp->form;
	const char *s = skip_ows(ct);
	size_t type_len = token_len(s);
	if (type_len == 0 || s[type_len] != '/' || !token_is(s, type_len, "multipart") ||
	    !token_is(s + type_len + 1, token_len(s + type_len + 1), "form-data"))
		return bad_boundary(f, "the Content-Type is not "
				       "multipart/form-data");
	s += type_len + 1 + token_len(s + type_len + 1);

	char *scratch = malloc(strlen(s) + 1);
	if (scratch == NULL)
		return fail_nomem(f);
	enum form_err err = FORM_OK;
	int found = 0;
	struct param p;
	int rc;
	while ((rc = next_param(&s, &p, scratch)) > 0) {
		if (!token_is(p.name, p.name_len, "boundary"))
			continue;
		if (found) {
			err = bad_boundary(f, "the Content-Type has two "
					      "boundary parameters");
			break;
		}
		if ((err = check_boundary(f, p.value, p.value_len)) != FORM_OK)
			break;
		memcpy(mp->delim, "\r\n--", 4);
		memcpy(mp->delim + 4, p.value, p.value_len);
		mp->delim_len = 4 + p.value_len;
		mp->delim[mp->delim_len] = '\0';
		found = 1;
	}
	free(scratch);
	if (err != FORM_OK)
		return err;
	if (rc < 0)
		return bad_boundary(f, "the Content-Type parameters are "
				       "malformed; send boundary=... after a ';'");
	if (!found)
		return bad_boundary(f, "the multipart/form-data Content-Type "
				       "has no boundary parameter");
	return FORM_OK;
}

enum form_err multipart_new(struct multipart **out, struct form *f, const char *content_type,
			    const struct form_limits *lim)
{
	*out = NULL;
	struct multipart *mp = calloc(1, sizeof(*mp));
	if (mp == NULL)
		return fail_nomem(f);
	mp->form = f;
	mp->lim = *lim;
	if (mp->lim.tmp_dir == NULL)
		mp->lim.tmp_dir = "/tmp";
	enum form_err err = find_boundary(mp, content_type);
	if (err != FORM_OK) {
		free(mp);
		return err;
	}
	/* The body's first delimiter may open it without a CRLF before it:
	 * start as if that CRLF had been read. */
	mp->matched = 2;
	mp->state = MP_PREAMBLE;
	buf_init(&mp->head, PART_HEADERS_MAX);
	buf_init(&mp->text, 0);
	*out = mp;
	return FORM_OK;
}

/* part_drop throws away a part that was not pushed into the form. */
static void part_drop(struct multipart *mp)
{
	if (mp->file != NULL) {
		fclose(mp->file);
		mp->file = NULL;
	}
	field_free(&mp->part);
	buf_deinit(&mp->text);
	mp->in_part = 0;
}

void multipart_free(struct multipart *mp)
{
	if (mp == NULL)
		return;
	part_drop(mp);
	buf_deinit(&mp->head);
	free(mp);
}

/* blame_part names the current part (if its name is known yet) as the
 * field at fault. */
static void blame_part(struct multipart *mp)
{
	const char *name = mp->part.name ? mp->part.name : "";
	set_err_field(mp->form, name, strlen(name));
}

static enum form_err part_fail_io(struct multipart *mp)
{
	blame_part(mp);
	return form_fail(mp->form, FORM_IO,
			 "the server could not store the "
			 "uploaded file \"%s\"; try again later",
			 mp->form->err_field);
}

/* start_writeback has the kernel start writing an upload out every
 * WRITEBACK_EVERY bytes while the rest is still arriving, so the fsync that
 * makes it durable (api.c, before the 200) finds little left to do. */
#define WRITEBACK_EVERY (256 * 1024)
static void start_writeback(struct multipart *mp, size_t added)
{
#ifdef SYNC_FILE_RANGE_WRITE
	if (mp->part.file_size / WRITEBACK_EVERY == (mp->part.file_size - added) / WRITEBACK_EVERY)
		return;
	if (fflush(mp->file) == 0)
		(void)sync_file_range(fileno(mp->file), 0, 0, SYNC_FILE_RANGE_WRITE);
#else
	(void)mp;
	(void)added;
#endif
}

/* emit hands n bytes of content to the current part, or drops them when
 * they are preamble or epilogue. */
static enum form_err emit(struct multipart *mp, const char *p, size_t n)
{
	struct form *f = mp->form;
	if (!mp->in_part || n == 0)
		return FORM_OK;
	if (mp->file != NULL) {
		if (n > mp->lim.max_file - mp->part.file_size) {
			blame_part(mp);
			return form_fail(f, FORM_FILE_TOO_LARGE,
					 "file \"%s\" "
					 "is larger than %zu bytes",
					 f->err_field, mp->lim.max_file);
		}
		if (fwrite(p, 1, n, mp->file) != n)
			return part_fail_io(mp);
		mp->part.file_size += n;
		start_writeback(mp, n);
		return FORM_OK;
	}
	if (n > mp->text.limit - mp->text.len) {
		blame_part(mp);
		return form_fail(f, FORM_VALUE_TOO_LONG,
				 "field \"%s\" is "
				 "longer than %zu bytes",
				 f->err_field, mp->lim.max_value);
	}
	if (buf_append(&mp->text, p, n) < 0)
		return fail_nomem(f);
	return FORM_OK;
}

/* scan_content looks for the delimiter in preamble or part content,
 * handing everything else to emit.  Returns the bytes consumed; stops after
 * a whole delimiter (state MP_DELIM_AFTER) or an error. */
static size_t scan_content(struct multipart *mp, const char *p, size_t n, enum form_err *err)
{
	size_t i = 0;
	while (i < n) {
		if (mp->matched == 0) {
			/* A whole delimiter in the buffer, or the start of
			 * one at its end: everything before it is content,
			 * handed on in one piece (the delimiter begins with
			 * the only CR it holds, so matches cannot overlap). */
			const char *hit = memmem(p + i, n - i, mp->delim, mp->delim_len);
			size_t run, held = 0;
			if (hit != NULL) {
				run = (size_t)(hit - (p + i));
				held = mp->delim_len;
			} else {
				run = n - i;
				size_t from = n - i >= mp->delim_len ? n - mp->delim_len + 1 : i;
				const char *cr = memchr(p + from, '\r', n - from);
				while (cr != NULL &&
				       memcmp(cr, mp->delim, (size_t)(p + n - cr)) != 0)
					cr = memchr(cr + 1, '\r', (size_t)(p + n - cr - 1));
				if (cr != NULL) {
					held = (size_t)(p + n - cr);
					run = (size_t)(cr - (p + i));
				}
			}
			if ((*err = emit(mp, p + i, run)) != FORM_OK)
				return i;
			i += run + held;
			mp->matched = held;
			if (held == mp->delim_len) {
				mp->state = MP_DELIM_AFTER;
				break;
			}
			if (held == 0 && hit == NULL)
				break;
		} else if (p[i] == mp->delim[mp->matched]) {
			i++;
			if (++mp->matched == mp->delim_len) {
				mp->state = MP_DELIM_AFTER;
				break;
			}
		} else {
			/* Not a delimiter after all: the bytes held were
			 * content, and p[i] is looked at afresh. */
			size_t held = mp->matched;
			mp->matched = 0;
			if ((*err = emit(mp, mp->delim, held)) != FORM_OK)
				return i;
		}
	}
	return i;
}

/* not_a_delimiter resumes content after a delimiter match that the next
 * bytes showed to be content ("--XyZabc"); extra is the '-' already read. */
static enum form_err not_a_delimiter(struct multipart *mp, const char *extra)
{
	mp->matched = 0;
	mp->state = mp->in_part ? MP_BODY : MP_PREAMBLE;
	enum form_err err = emit(mp, mp->delim, mp->delim_len);
	if (err == FORM_OK)
		err = emit(mp, extra, strlen(extra));
	return err;
}

/* part_end moves the finished part into the form. */
static enum form_err part_end(struct multipart *mp)
{
	struct form *f = mp->form;
	mp->seen_delim = 1;
	if (!mp->in_part)
		return FORM_OK;
	if (mp->file != NULL) {
		int rc = fclose(mp->file);
		mp->file = NULL;
		if (rc != 0)
			return part_fail_io(mp);
	} else {
		mp->part.value_len = mp->text.len;
		mp->part.value = buf_take(&mp->text);
		if (mp->part.value == NULL)
			return fail_nomem(f);
	}
	enum form_err err = form_push(f, &mp->part);
	if (err != FORM_OK)
		return err;
	part_drop(mp);
	return FORM_OK;
}

static enum form_err syntax(struct multipart *mp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* syntax fails with a message about the body's structure; no one field is
 * to blame, so err_field is empty. */
static enum form_err syntax(struct multipart *mp, const char *fmt, ...)
{
	struct form *f = mp->form;
	va_list ap;
	set_err_field(f, "", 0);
	va_start(ap, fmt);
	vsnprintf(f->err_msg, sizeof(f->err_msg), fmt, ap);
	va_end(ap);
	return FORM_SYNTAX;
}

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* ext_filename decodes an RFC 5987 filename* value (UTF-8''percent%20coded)
 * in place.  Returns its length, or (size_t)-1. */
static size_t ext_filename(char *v, size_t len)
{
	char *q1 = memchr(v, '\'', len);
	char *q2 = q1 ? memchr(q1 + 1, '\'', (size_t)(v + len - q1 - 1)) : NULL;
	if (q2 == NULL || !token_is(v, (size_t)(q1 - v), "utf-8"))
		return (size_t)-1;
	size_t n = pct_decode(q2 + 1, (size_t)(v + len - q2 - 1), v, 0);
	if (n == (size_t)-1 || memchr(v, '\0', n) != NULL || !codec_utf8_valid(v, n))
		return (size_t)-1;
	return n;
}

/* disposition reads `form-data; name="..."; filename="..."` into the part. */
static enum form_err disposition(struct multipart *mp, const char *value)
{
	struct form *f = mp->form;
	const char *s = value;
	size_t type_len = token_len(s);
	if (!token_is(s, type_len, "form-data"))
		return syntax(mp,
			      "a part's Content-Disposition must be "
			      "form-data, not \"%.*s\"",
			      (int)(type_len < 40 ? type_len : 40), s);
	s += type_len;

	char *scratch = malloc(strlen(s) + 1);
	if (scratch == NULL)
		return fail_nomem(f);
	enum form_err err = FORM_OK;
	char *ext = NULL;
	struct param p;
	int rc;
	while ((rc = next_param(&s, &p, scratch)) > 0) {
		char **dst;
		if (token_is(p.name, p.name_len, "name"))
			dst = &mp->part.name;
		else if (token_is(p.name, p.name_len, "filename"))
			dst = &mp->part.filename;
		else if (token_is(p.name, p.name_len, "filename*"))
			dst = &ext;
		else
			continue;
		if (*dst != NULL) {
			err = syntax(mp,
				     "a part's Content-Disposition has "
				     "two %.*s parameters",
				     (int)p.name_len, p.name);
			break;
		}
		if ((*dst = dup_n(p.value, p.value_len)) == NULL) {
			err = fail_nomem(f);
			break;
		}
	}
	free(scratch);
	if (err == FORM_OK && rc < 0)
		err = syntax(mp, "a part's Content-Disposition is malformed; "
				 "expected form-data; name=\"...\"");
	if (err == FORM_OK && ext != NULL) {
		size_t n = ext_filename(ext, strlen(ext));
		if (n == (size_t)-1) {
			err = syntax(mp, "a part's filename* is not "
					 "UTF-8''percent-encoded UTF-8");
		} else {
			free(mp->part.filename);
			mp->part.filename = ext;
			ext = NULL;
		}
	}
	free(ext);
	return err;
}

static enum form_err transfer_encoding(struct multipart *mp, const char *v)
{
	if (strcasecmp(v, "binary") == 0 || strcasecmp(v, "8bit") == 0 ||
	    strcasecmp(v, "7bit") == 0)
		return FORM_OK;
	return syntax(mp, "a part's Content-Transfer-Encoding is not "
			  "supported; send the raw bytes without one");
}

/* header_line handles one unfolded "Name: value" line of a part. */
static enum form_err header_line(struct multipart *mp, char *line, int *seen)
{
	size_t name_len = token_len(line);
	if (name_len == 0 || line[name_len] != ':')
		return syntax(mp, "a part header line is not \"Name: "
				  "value\"");
	char *value = (char *)skip_ows(line + name_len + 1);
	size_t vlen = strlen(value);
	while (vlen > 0 && is_ows(value[vlen - 1]))
		value[--vlen] = '\0';

	if (token_is(line, name_len, "Content-Disposition")) {
		if (seen[0]++)
			return syntax(mp, "a part has two Content-Disposition "
					  "headers");
		return disposition(mp, value);
	}
	if (token_is(line, name_len, "Content-Type")) {
		if (seen[1]++)
			return syntax(mp, "a part has two Content-Type "
					  "headers");
		if (vlen == 0)
			return FORM_OK;
		mp->part.content_type = dup_n(value, vlen);
		return mp->part.content_type ? FORM_OK : fail_nomem(mp->form);
	}
	if (token_is(line, name_len, "Content-Transfer-Encoding"))
		return transfer_encoding(mp, value);
	return FORM_OK;
}

/* parse_headers reads the whole header block in mp->head (lines ending in
 * CRLF, the last one empty). */
static enum form_err parse_headers(struct multipart *mp)
{
	char *h = mp->head.data;
	size_t len = mp->head.len;
	set_err_field(mp->form, "", 0);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)h[i];
		if (c == '\r' && h[i + 1] == '\n')
			i++;
		else if ((c < 0x20 && c != '\t') || c == 0x7f)
			return syntax(mp, "a part header holds a control "
					  "character");
	}
	/* Unfold continuation lines (RFC 5322 obs-fold). */
	for (size_t i = 0; i + 2 < len; i++)
		if (h[i] == '\r' && h[i + 1] == '\n' && is_ows(h[i + 2]))
			h[i] = h[i + 1] = ' ';

	int seen[2] = { 0, 0 };
	char *line = h;
	for (;;) {
		char *cr = strstr(line, "\r\n");
		if (cr == line)
			break;
		*cr = '\0';
		enum form_err err = header_line(mp, line, seen);
		if (err != FORM_OK)
			return err;
		line = cr + 2;
	}
	if (!seen[0])
		return syntax(mp, "a part has no Content-Disposition header; "
				  "send Content-Disposition: form-data; "
				  "name=\"...\"");
	if (mp->part.name == NULL)
		return syntax(mp, "a part has no name; its "
				  "Content-Disposition needs name=\"...\"");
	return FORM_OK;
}

static enum form_err open_temp(struct multipart *mp)
{
	mp->part.path = temp_path_new(mp->lim.tmp_dir);
	if (mp->part.path == NULL)
		return fail_nomem(mp->form);
	int fd = mkstemp(mp->part.path);
	if (fd >= 0 && fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		close(fd);
		unlink(mp->part.path);
		fd = -1;
	}
	if (fd < 0) {
		free(mp->part.path);
		mp->part.path = NULL;
		return part_fail_io(mp);
	}
	mp->file = fdopen(fd, "wb");
	if (mp->file == NULL) {
		close(fd);
		return part_fail_io(mp); /* part_drop unlinks the path */
	}
	/* 64 KiB writes, not the block size's 4 KiB (glibc ignores the size
	 * unless it is given the buffer) */
	setvbuf(mp->file, mp->file_buf, _IOFBF, sizeof(mp->file_buf));
	return FORM_OK;
}

/* part_begin checks the headers just read and readies the part's sink. */
static enum form_err part_begin(struct multipart *mp)
{
	struct form *f = mp->form;
	enum form_err err = parse_headers(mp);
	if (err != FORM_OK)
		return err;
	const char *name = mp->part.name;
	if ((err = check_name(f, name, strlen(name), &mp->lim)) != FORM_OK)
		return err;
	if ((err = check_count(f, &mp->lim)) != FORM_OK)
		return err;
	mp->in_part = 1;
	if (mp->part.filename != NULL)
		return open_temp(mp);
	buf_init(&mp->text, mp->lim.max_value);
	return FORM_OK;
}

/* read_headers collects header bytes up to the blank line.  Returns the
 * bytes consumed. */
static size_t read_headers(struct multipart *mp, const char *p, size_t n, enum form_err *err)
{
	const char *lf = memchr(p, '\n', n);
	size_t run = lf ? (size_t)(lf - p) + 1 : n;
	struct buf *h = &mp->head;
	if (buf_append(h, p, run) < 0) {
		*err = h->len + run > h->limit
			       ? syntax(mp, "a part's headers are longer than %d bytes",
					PART_HEADERS_MAX)
			       : fail_nomem(mp->form);
		return run;
	}
	if (lf == NULL)
		return run;
	if (h->len < 2 || h->data[h->len - 2] != '\r') {
		*err = syntax(mp, "part header lines must end with CRLF, not "
				  "a bare LF");
		return run;
	}
	if (h->len == 2 || (h->len >= 4 && memcmp(h->data + h->len - 4, "\r\n\r\n", 4) == 0)) {
		*err = part_begin(mp);
		mp->state = MP_BODY;
		mp->matched = 0;
	}
	return run;
}

/* step consumes bytes at p for the current state; returns how many (0 only
 * after a state change that looks at the same byte again). */
static size_t step(struct multipart *mp, const char *p, size_t n, enum form_err *err)
{
	char c = p[0];
	switch (mp->state) {
	case MP_PREAMBLE:
	case MP_BODY: return scan_content(mp, p, n, err);
	case MP_DELIM_AFTER:
		if (c == '-') {
			mp->state = MP_DELIM_DASH;
			return 1;
		}
		if (c == '\n') {
			/* Content never holds the delimiter (RFC 2046), so
			 * this is a client ending lines with a bare LF. */
			*err = syntax(mp,
				      "the boundary line %s must end "
				      "with CRLF, not a bare LF",
				      mp->delim + 2);
			return 1;
		}
		if (c != '\r' && !is_ows(c)) {
			*err = not_a_delimiter(mp, "");
			return 0;
		}
		*err = part_end(mp);
		mp->state = c == '\r' ? MP_DELIM_CR : MP_DELIM_PAD;
		return 1;
	case MP_DELIM_DASH:
		if (c != '-') {
			*err = not_a_delimiter(mp, "-");
			return 0;
		}
		*err = part_end(mp);
		mp->state = MP_EPILOGUE;
		return 1;
	case MP_DELIM_PAD:
		if (c == '\r')
			mp->state = MP_DELIM_CR;
		else if (!is_ows(c))
			*err = syntax(mp,
				      "a boundary line has bytes after "
				      "the boundary %s",
				      mp->delim + 2);
		return 1;
	case MP_DELIM_CR:
		if (c != '\n') {
			*err = syntax(mp,
				      "the boundary line %s must end "
				      "with CRLF",
				      mp->delim + 2);
			return 1;
		}
		buf_reset(&mp->head);
		mp->state = MP_HEADERS;
		return 1;
	case MP_HEADERS: return read_headers(mp, p, n, err);
	case MP_EPILOGUE:
	case MP_FAILED: break;
	}
	return n;
}

enum form_err multipart_feed(struct multipart *mp, const char *data, size_t len)
{
	if (mp->state == MP_FAILED)
		return mp->err;
	enum form_err err = FORM_OK;
	size_t i = 0;
	while (i < len && err == FORM_OK)
		i += step(mp, data + i, len - i, &err);
	if (err != FORM_OK) {
		mp->state = MP_FAILED;
		mp->err = err;
	}
	return err;
}

enum form_err multipart_finish(struct multipart *mp)
{
	struct form *f = mp->form;
	if (mp->state == MP_FAILED)
		return mp->err;
	if (mp->state == MP_EPILOGUE)
		return FORM_OK;
	blame_part(mp);
	if (mp->seen_delim)
		form_fail(f, FORM_TRUNCATED,
			  "the multipart body ended before "
			  "the closing boundary %s--",
			  mp->delim + 2);
	else
		form_fail(f, FORM_TRUNCATED,
			  "the multipart body has no "
			  "boundary line %s (from the Content-Type)",
			  mp->delim + 2);
	mp->state = MP_FAILED;
	mp->err = FORM_TRUNCATED;
	return FORM_TRUNCATED;
}
