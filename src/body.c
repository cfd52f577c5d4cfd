/*
 * body: request body decoding into one field object.
 */
#include "body.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "store.h"

void body_init(struct body *b)
{
	b->fields = NULL;
	form_init(&b->form);
	b->file = NULL;
	b->file_param = NULL;
	b->video_input = 0;
	buf_init(&b->raw, 0);
	memset(&b->image, 0, sizeof(b->image));
}

void body_deinit(struct body *b)
{
	json_object_put(b->fields);
	b->fields = NULL;
	form_deinit(&b->form);
	b->file = NULL;
	buf_deinit(&b->raw);
	memset(&b->image, 0, sizeof(b->image));
}

/* What stands in the field object for the long image text. */
#define PLACEHOLDER "(image)"

char *body_long_text(const struct body_text *t, struct json_object *v, size_t *len)
{
	if (t->at == NULL || v != t->at)
		return NULL;
	*len = t->len;
	return t->data;
}

void body_text_limits(struct body_limits *lim, size_t max_prompt_chars, size_t max_metadata_bytes)
{
	/* The longest legitimate text is a prompt with every character escaped
	 * as a surrogate pair (12 bytes), or metadata sent whole as JSON text
	 * in a form field. */
	size_t prompt = max_prompt_chars * 12, meta = max_metadata_bytes * 6;
	lim->max_text = (prompt > meta ? prompt : meta) + 4096;
	lim->max_text_total = 2 * lim->max_text;
	lim->max_prompt_chars = max_prompt_chars;
}

static int bad(struct api_error *e, const char *code, const char *param, const char *msg)
{
	api_error_set(e, 400, code, param, "%s", msg);
	return -1;
}

/* Where a value may be the long image text: image or input_reference at
 * the top, or input_reference.image_url. */
static int image_path(int depth, const char *k1, const char *k2)
{
	if (depth == 1)
		return strcmp(k1, "image") == 0 || strcmp(k1, "input_reference") == 0;
	return depth == 2 && strcmp(k1, "input_reference") == 0 && strcmp(k2, "image_url") == 0;
}

/* too_long refuses a text value over the limit of one, naming it. */
static int too_long(struct api_error *e, const struct body_limits *lim, const char *param,
		    size_t len)
{
	if (strcmp(param, "prompt") == 0)
		api_error_set(e, 400, "invalid_value", "prompt",
			      "'prompt' is too long (%zu bytes); the limit is %zu characters.", len,
			      lim->max_prompt_chars);
	else
		api_error_set(
			e, 400, "invalid_value", param,
			"'%.100s' is too long (%zu bytes, the limit is %zu); only an image (image, input_reference) may be longer.",
			param, len, lim->max_text);
	return -1;
}

static int too_much_text(struct api_error *e, const struct body_limits *lim, size_t total)
{
	api_error_set(
		e, 400, "invalid_value", NULL,
		"The request's text fields are %zu bytes in all; the limit is %zu, only an image (image, input_reference) may be longer.",
		total, lim->max_text_total);
	return -1;
}

/* The long image string scan_json found: the offsets of its quotes. */
struct json_scan {
	size_t open, close; /* 0, 0: none */
	int depth;
	char k1[32], k2[32];
};

/* Where scan_json is: the member's key at depths 1 and 2, and what the
 * text is (a whole body, or a form field's JSON text: prefix "metadata"). */
struct scan_state {
	const char *p;
	size_t len;
	const char *prefix; /* NULL: a body */
	int depth;
	char keys[3][32];
	int failed;
	size_t total;
};

/* scan_param names the value at the scan's depth: "k1", "k1.k2", with the
 * field's name in front for a form field's JSON text. */
static void scan_param(const struct scan_state *st, char *out, size_t n)
{
	const char *k1 = st->depth >= 1 ? st->keys[1] : "";
	const char *pre = st->prefix ? st->prefix : "", *dot = st->prefix && k1[0] ? "." : "";
	if (st->depth >= 2 && st->keys[2][0])
		snprintf(out, n, "%s%s%s.%s", pre, dot, k1, st->keys[2]);
	else
		snprintf(out, n, "%s%s%s", pre, dot, k1);
}

/* string_flaw finds what no string of a request may hold, in the string
 * between the quotes at open and close: an unescaped control character
 * (RFC 8259 says U+0000..U+001F are escaped; json-c's tokener would take
 * them) or an escaped NUL, which json-c would keep but every C string
 * reading of the value or key would cut short: "prompt\u0000x" would be
 * the key "prompt" and smuggle a second prompt past the duplicate check.
 * Returns 0, 'c' (control character, its offset in *at) or 'n' (NUL). */
static int string_flaw(const char *p, size_t open, size_t close, size_t *at)
{
	for (size_t i = open + 1; i < close; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20) {
			*at = i;
			return 'c';
		}
		if (c != '\\')
			continue;
		if (p[++i] == 'u' && close - i > 4 && memcmp(p + i + 1, "0000", 4) == 0)
			return 'n';
	}
	return 0;
}

static void refuse_flaw(struct scan_state *st, int flaw, size_t at, size_t open, size_t n,
			int is_key, struct api_error *e)
{
	char param[100];
	scan_param(st, param, sizeof(param));
	if (flaw == 'c') {
		api_error_set(
			e, 400, "invalid_json", param[0] ? param : NULL,
			"The request body is not valid JSON: a string holds an unescaped control character (byte %zu); escape it, e.g. as \\n or \\u0001.",
			at);
	} else if (is_key) {
		api_error_set(
			e, 400, "invalid_value", param[0] ? param : NULL,
			"The key \"%.*s\" contains a NUL character (\\u0000); keys may not contain NUL.",
			(int)(n < 60 ? n : 60), st->p + open + 1);
	} else {
		api_error_set(
			e, 400, "invalid_value", param[0] ? param : NULL,
			"'%s' contains a NUL character (\\u0000); text values may not contain NUL.",
			param[0] ? param : "a value");
	}
	st->failed = 1;
}

/* integer_kept: json-c keeps an integer within int64 or uint64 as sent and
 * turns any other into the nearest bound (99999999999999999999 would be
 * echoed as 18446744073709551615), -0 into 0 and -00 or 007 (not JSON, but
 * json-c takes some) into 0 and 7.  A number with a fraction or an
 * exponent is kept as its text. */
static int integer_kept(const char *t, size_t n)
{
	char num[32];
	if (n >= sizeof(num))
		return 0;
	memcpy(num, t, n);
	num[n] = '\0';
	const char *digits = num[0] == '-' ? num + 1 : num;
	if (digits[0] < '0' || digits[0] > '9' ||
	    (digits[0] == '0' && (digits[1] != '\0' || num[0] == '-')))
		return 0;
	errno = 0;
	if (num[0] == '-')
		(void)strtoll(num, NULL, 10);
	else
		(void)strtoull(num, NULL, 10);
	return errno != ERANGE;
}

/* scan_number looks at the number at st->p[i] and returns its length. */
static size_t scan_number(struct scan_state *st, size_t i, struct api_error *e)
{
	size_t n = 0;
	int integer = 1;
	while (i + n < st->len && strchr("+-0123456789.eE", st->p[i + n]) != NULL && st->p[i + n]) {
		if (strchr(".eE", st->p[i + n]))
			integer = 0;
		n++;
	}
	if (!integer || st->failed || st->depth == 0 || integer_kept(st->p + i, n))
		return n;
	char param[100];
	scan_param(st, param, sizeof(param));
	api_error_set(
		e, 400, "invalid_value", param[0] ? param : NULL,
		"'%s' is the integer %.*s, which cannot be kept exactly: integers must be between -9223372036854775808 and 18446744073709551615, without leading zeros or -0. Send it as a string.",
		param, (int)(n < 40 ? n : 40), st->p + i);
	st->failed = 1;
	return n;
}

/* scan_string checks the string between the quotes at open and close; a
 * member's key is remembered for naming what follows. */
static void scan_string(struct scan_state *st, const struct body_limits *lim, size_t open,
			size_t close, int in_object, struct json_scan *sc, struct api_error *e)
{
	const char *p = st->p;
	size_t n = close - open - 1, k = close + 1, at = 0;
	while (k < st->len && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r' || p[k] == '\n'))
		k++;
	int is_key = k < st->len && p[k] == ':' && st->depth > 0 && in_object;
	if (is_key && st->depth <= 2)
		snprintf(st->keys[st->depth], sizeof(st->keys[0]), "%.*s", (int)(n < 31 ? n : 31),
			 p + open + 1);
	int flaw = string_flaw(p, open, close, &at);
	if (flaw) {
		refuse_flaw(st, flaw, at, open, n, is_key, e);
		return;
	}
	if (n <= lim->max_text) {
		if ((st->total += n) > lim->max_text_total)
			st->failed = too_much_text(e, lim, st->total) < 0;
		return;
	}
	if (!is_key && st->prefix == NULL && image_path(st->depth, st->keys[1], st->keys[2])) {
		if (sc->close != 0) {
			api_error_set(
				e, 400, "conflicting_parameters", "input_reference",
				"Send one image per task: either 'input_reference' or 'image', not both.");
			st->failed = 1;
			return;
		}
		sc->open = open;
		sc->close = close;
		sc->depth = st->depth;
		memcpy(sc->k1, st->keys[1], sizeof(sc->k1));
		memcpy(sc->k2, st->keys[2], sizeof(sc->k2));
		return;
	}
	char param[100];
	scan_param(st, param, sizeof(param));
	if (st->depth == 0)
		bad(e, "invalid_json", NULL,
		    "The JSON body must be an object such as {\"prompt\": \"...\"}.");
	else if (is_key)
		bad(e, "invalid_json", NULL, "A key of the JSON body is too long.");
	else
		too_long(e, lim, param, n);
	st->failed = 1;
}

/* scan_json walks a JSON text (which json-c has not seen yet) once: it
 * refuses more than BODY_JSON_VALUES values (before json-c builds an object
 * for each, ten times their size in memory), a text value or key over
 * max_text and text over max_text_total in all, a NUL or a raw control
 * character in any string, an integer json-c would not keep as sent, and
 * finds the long image string (only in a body: prefix NULL).  Too many
 * values is said first, as it is what costs json-c most; structural errors
 * are left to json-c. */
static int scan_json(const char *p, size_t len, const char *prefix, const struct body_limits *lim,
		     struct json_scan *sc, struct api_error *e)
{
	struct scan_state st = { p, len, prefix, 0, { "", "", "" }, 0, 0 };
	int in_object[BODY_JSON_DEPTH + 2];
	int blind = 0; /* too deep for json-c, only counted */
	size_t values = 1;
	memset(sc, 0, sizeof(*sc));
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (c == ',') {
			values++;
		} else if (c == '{' || c == '[') {
			values++;
			if (blind || ++st.depth > BODY_JSON_DEPTH + 1) {
				blind = 1;
				continue;
			}
			in_object[st.depth] = c == '{';
			if (st.depth <= 2)
				st.keys[st.depth][0] = '\0';
		} else if (c == '}' || c == ']') {
			if (!blind && st.depth > 0)
				st.depth--;
		} else if (c == '\'' && !st.failed) {
			/* json-c takes a key in single quotes, which JSON has not
			 * (RFC 8259), and which this scan would not read as a
			 * string: a NUL or control character could hide in it. */
			api_error_set(
				e, 400, "invalid_json", NULL,
				"The request body is not valid JSON: a single quote at byte %zu; keys and strings are written in double quotes.",
				i);
			st.failed = 1;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			size_t n = blind ? 1 : scan_number(&st, i, e);
			i += n > 0 ? n - 1 : 0;
		} else if (c == '"') {
			size_t open = i++;
			while (i < len && p[i] != '"')
				i += p[i] == '\\' ? 2 : 1;
			if (i >= len)
				break; /* unterminated: json-c says so */
			if (!blind && !st.failed)
				scan_string(&st, lim, open, i, st.depth > 0 && in_object[st.depth],
					    sc, e);
		}
	}
	if (values > BODY_JSON_VALUES) {
		api_error_set(
			e, 400, "invalid_json", NULL,
			"The JSON %s has more than %d values; a video request needs a few dozen.",
			prefix ? "text" : "body", BODY_JSON_VALUES);
		return -1;
	}
	return st.failed ? -1 : 0;
}

/* feed gives json-c one more piece of the text; base is where the piece
 * starts in the body, so *end is a body offset. */
static struct json_object *feed(struct json_tokener *tok, const char *p, size_t n, size_t base,
				size_t *end)
{
	struct json_object *o = json_tokener_parse_ex(tok, p, (int)n);
	*end = base + json_tokener_get_parse_end(tok);
	return o;
}

/* tokenize gives the text to json-c, with a placeholder for the long
 * image string when there is one (sc); NULL (with e filled) when it is not
 * one JSON value followed by nothing but whitespace. */
static struct json_object *tokenize(char *data, size_t len, const struct json_scan *sc,
				    struct api_error *e)
{
	struct json_tokener *tok = json_tokener_new_ex(BODY_JSON_DEPTH);
	if (tok == NULL) {
		api_error_from_rg(e, RG_ENOMEM);
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	struct json_object *o;
	size_t end;
	if (sc->close == 0) {
		o = feed(tok, data, len, 0, &end);
	} else {
		/* json-c reads the text around the long string, and a
		 * placeholder in its place. */
		o = feed(tok, data, sc->open, 0, &end);
		if (o == NULL && json_tokener_get_error(tok) == json_tokener_continue)
			o = feed(tok, "\"" PLACEHOLDER "\"", sizeof(PLACEHOLDER) + 1, sc->open,
				 &end);
		if (o == NULL && json_tokener_get_error(tok) == json_tokener_continue)
			o = feed(tok, data + sc->close + 1, len - sc->close - 1, sc->close + 1,
				 &end);
	}
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (o == NULL || jerr != json_tokener_success) {
		json_object_put(o);
		if (jerr == json_tokener_error_depth)
			bad(e, "invalid_json", NULL,
			    "The JSON body is nested too deeply (at most 16 levels).");
		else
			api_error_set(e, 400, "invalid_json", NULL,
				      "The request body is not valid JSON (%s at byte %zu).",
				      jerr == json_tokener_continue ? "unexpected end"
								    : json_tokener_error_desc(jerr),
				      end);
		return NULL;
	}
	for (size_t i = end; i < len; i++) {
		char c = data[i];
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			json_object_put(o);
			api_error_set(
				e, 400, "invalid_json", NULL,
				"The request body has extra text after the JSON value (at byte %zu).",
				i);
			return NULL;
		}
	}
	return o;
}

/* point_at_image makes b->image the long image text, when the field that
 * held it still holds the placeholder (a later duplicate key may have
 * replaced it). */
static void point_at_image(struct body *b, char *data, const struct json_scan *sc, long image_len)
{
	struct json_object *v = NULL;
	json_object_object_get_ex(b->fields, sc->k1, &v);
	if (sc->depth == 2 && json_object_is_type(v, json_type_object))
		json_object_object_get_ex(v, sc->k2, &v);
	else if (sc->depth == 2)
		v = NULL;
	if (json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), PLACEHOLDER) == 0) {
		b->image.at = v;
		b->image.data = data + sc->open + 1;
		b->image.len = (size_t)image_len;
	}
}

int body_parse_json(struct body *b, char *data, size_t len, const struct body_limits *lim,
		    struct api_error *e)
{
	if (len == 0)
		return bad(
			e, "invalid_json", NULL,
			"The request body is empty; send a JSON object such as {\"prompt\": \"...\"}.");
	if (len > INT_MAX)
		return bad(e, "invalid_json", NULL, "The request body is too large.");
	if (!codec_utf8_valid(data, len))
		return bad(e, "invalid_json", NULL, "The request body is not valid UTF-8.");
	struct json_scan sc;
	if (scan_json(data, len, NULL, lim, &sc, e) < 0)
		return -1;
	long image_len = 0;
	if (sc.close != 0) {
		image_len = codec_json_unescape(data + sc.open + 1, sc.close - sc.open - 1);
		if (image_len < 0) {
			api_error_set(
				e, 400, "invalid_json", NULL,
				"The request body is not valid JSON (a bad escape or control character in the string at byte %zu).",
				sc.open);
			return -1;
		}
	}
	struct json_object *o = tokenize(data, len, &sc, e);
	if (o == NULL)
		return -1;
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return bad(e, "invalid_json", NULL,
			   "The JSON body must be an object such as {\"prompt\": \"...\"}.");
	}
	b->fields = o;
	if (sc.close != 0)
		point_at_image(b, data, &sc, image_len);
	return 0;
}

/* Fields that may be objects, given as JSON text or in bracket notation. */
static int is_object_field(const struct body *b, const char *name)
{
	return strcmp(name, "metadata") == 0 || strcmp(name, "input_reference") == 0 ||
	       (b->video_input && strcmp(name, "video") == 0);
}

/* split_bracket splits "outer[inner]" into its two names; returns 0 when
 * name has that shape with both parts non-empty and no further brackets. */
static int split_bracket(const char *name, char *outer, size_t on, char *inner, size_t in)
{
	const char *lb = strchr(name, '[');
	if (lb == NULL)
		return -1;
	size_t len = strlen(name);
	if (len < 4 || name[len - 1] != ']' || lb == name)
		return -1;
	const char *ib = lb + 1;
	size_t ilen = (size_t)(name + len - 1 - ib);
	size_t olen = (size_t)(lb - name);
	if (ilen == 0 || memchr(ib, '[', ilen) || memchr(ib, ']', ilen) || olen >= on || ilen >= in)
		return -1;
	memcpy(outer, name, olen);
	outer[olen] = '\0';
	memcpy(inner, ib, ilen);
	inner[ilen] = '\0';
	return 0;
}

/* text_value parses the text of an object field given whole: JSON text for
 * metadata; JSON text or a plain URL for input_reference (a plain id for
 * video). */
static struct json_object *text_value(const struct form_field *f, const struct body_limits *lim,
				      struct api_error *e)
{
	if ((strcmp(f->name, "input_reference") == 0 || strcmp(f->name, "video") == 0) &&
	    f->value_len > 0 && f->value[0] != '{')
		return json_object_new_string_len(f->value, (int)f->value_len);
	struct json_scan sc;
	if (scan_json(f->value, f->value_len, f->name, lim, &sc, e) < 0) {
		if (e->param[0] == '\0')
			snprintf(e->param, sizeof(e->param), "%s", f->name);
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new_ex(BODY_JSON_DEPTH);
	struct json_object *o =
		tok ? json_tokener_parse_ex(tok, f->value, (int)f->value_len) : NULL;
	int ok = tok && json_tokener_get_error(tok) == json_tokener_success &&
		 json_tokener_get_parse_end(tok) == f->value_len &&
		 json_object_is_type(o, json_type_object);
	if (tok)
		json_tokener_free(tok);
	if (!ok) {
		json_object_put(o);
		api_error_set(
			e, 400, "invalid_value", f->name,
			"'%s' must be a JSON object (e.g. {\"key\": \"value\"}) or sent in bracket form as %s[key]=value.",
			f->name, f->name);
		return NULL;
	}
	return o;
}

static int add_file(struct body *b, const struct body_limits *lim, struct form_field *f,
		    struct api_error *e)
{
	if (lim->file_field != NULL) {
		if (strcmp(f->name, lim->file_field) != 0 || b->file != NULL) {
			api_error_set(e, 400, "invalid_value", f->name,
				      "Send exactly one file, in the part named '%s'.",
				      lim->file_field);
			return -1;
		}
		b->file = f;
		b->file_param = lim->file_field;
		return 0;
	}
	if (b->video_input) {
		if (strcmp(f->name, "video") != 0) {
			api_error_set(
				e, 400, "invalid_value", f->name,
				"'%s' must be a text field, not a file; only 'video' may be a file.",
				f->name);
			return -1;
		}
		if (b->file != NULL) {
			api_error_set(e, 400, "conflicting_parameters", "video",
				      "Only one video file may be sent per request.");
			return -1;
		}
		b->file = f;
		b->file_param = "video";
		return 0;
	}
	if (strcmp(f->name, "input_reference") != 0 && strcmp(f->name, "image") != 0) {
		api_error_set(
			e, 400, "invalid_value", f->name,
			"'%s' must be a text field, not a file; only input_reference (or image) may be a file.",
			f->name);
		return -1;
	}
	if (b->file != NULL) {
		api_error_set(e, 400, "conflicting_parameters", f->name,
			      "Only one image file may be sent per request.");
		return -1;
	}
	b->file = f;
	b->file_param = strcmp(f->name, "image") == 0 ? "image" : "input_reference";
	return 0;
}

/* add_bracket adds outer[inner]=value; v is the value's object when the
 * caller made it (the image placeholder), else NULL. */
static int add_bracket(struct body *b, const struct form_field *f, struct json_object *v,
		       struct api_error *e)
{
	char outer[64], inner[128];
	int shape = split_bracket(f->name, outer, sizeof(outer), inner, sizeof(inner));
	if (shape < 0 && strncmp(f->name, "metadata[", 9) == 0) {
		/* metadata[a][b]=... or metadata[tags][]=...: a nested value */
		char key[80];
		size_t klen = strcspn(f->name + 9, "]");
		snprintf(key, sizeof(key), "metadata.%.*s", (int)(klen < 64 ? klen : 64),
			 f->name + 9);
		api_error_set(
			e, 400, "invalid_value", key,
			"metadata values must be strings, numbers, booleans or null, not nested objects or lists ('%.100s').",
			f->name);
		return -1;
	}
	if (shape < 0 || !is_object_field(b, outer)) {
		api_error_set(e, 400, "unknown_parameter", f->name, "Unknown parameter: '%.100s'.",
			      f->name);
		return -1;
	}
	struct json_object *obj;
	if (json_object_object_get_ex(b->fields, outer, &obj)) {
		if (form_count(&b->form, outer) > 0 ||
		    !json_object_is_type(obj, json_type_object) ||
		    json_object_object_get_ex(obj, inner, NULL)) {
			api_error_set(e, 400, "conflicting_parameters", f->name,
				      "'%.100s' is given more than once.", f->name);
			return -1;
		}
	} else {
		obj = json_object_new_object();
		json_object_object_add(b->fields, outer, obj);
	}
	json_object_object_add(obj, inner,
			       v ? v : json_object_new_string_len(f->value, (int)f->value_len));
	return 0;
}

/* long_image: a text field that may be the long image text. */
static int long_image(const struct form_field *f)
{
	return strcmp(f->name, "image") == 0 ||
	       strcmp(f->name, "input_reference[image_url]") == 0 ||
	       (strcmp(f->name, "input_reference") == 0 &&
		(f->value_len == 0 || f->value[0] != '{'));
}

/* take_image makes the placeholder for the long image text in f. */
static struct json_object *take_image(struct body *b, struct form_field *f, struct api_error *e)
{
	if (b->image.at != NULL) {
		api_error_set(
			e, 400, "conflicting_parameters", "input_reference",
			"Send one image per task: either 'input_reference' or 'image', not both.");
		return NULL;
	}
	b->image.at = json_object_new_string(PLACEHOLDER);
	if (b->image.at == NULL) {
		api_error_from_rg(e, RG_ENOMEM);
		return NULL;
	}
	b->image.data = f->value;
	b->image.len = f->value_len;
	return b->image.at;
}

int body_from_form(struct body *b, const struct body_limits *lim, struct api_error *e)
{
	size_t total = 0;
	b->fields = json_object_new_object();
	if (b->fields == NULL) {
		api_error_from_rg(e, RG_ENOMEM);
		return -1;
	}
	for (size_t i = 0; i < b->form.count; i++) {
		struct form_field *f = &b->form.fields[i];
		if (FORM_FIELD_IS_FILE(f)) {
			/* An empty file input: what browsers send when no file was
			 * chosen.  It means "no image". */
			if (f->file_size == 0 && (f->filename == NULL || f->filename[0] == '\0'))
				continue;
			if (add_file(b, lim, f, e) < 0)
				return -1;
			continue;
		}
		if (!codec_utf8_valid(f->value, f->value_len) ||
		    !codec_utf8_valid(f->name, strlen(f->name))) {
			api_error_set(e, 400, "invalid_value", f->name,
				      "'%.100s' is not valid UTF-8.", f->name);
			return -1;
		}
		if (memchr(f->value, '\0', f->value_len) != NULL) {
			api_error_set(e, 400, "invalid_value", f->name,
				      "'%.100s' contains a NUL byte.", f->name);
			return -1;
		}
		struct json_object *image = NULL;
		if (f->value_len > lim->max_text) {
			if (!long_image(f))
				return too_long(e, lim, f->name, f->value_len);
			if ((image = take_image(b, f, e)) == NULL)
				return -1;
		} else if ((total += f->value_len) > lim->max_text_total) {
			return too_much_text(e, lim, total);
		}
		if (strchr(f->name, '[') != NULL) {
			if (add_bracket(b, f, image, e) < 0) {
				json_object_put(image);
				return -1;
			}
			continue;
		}
		if (json_object_object_get_ex(b->fields, f->name, NULL)) {
			json_object_put(image);
			/* given twice, or whole after bracket parts */
			api_error_set(e, 400, "conflicting_parameters", f->name,
				      "'%.100s' is given more than once; send each field once.",
				      f->name);
			return -1;
		}
		struct json_object *v;
		if (image != NULL) {
			v = image;
		} else if (is_object_field(b, f->name)) {
			v = text_value(f, lim, e);
			if (v == NULL)
				return -1;
		} else {
			v = json_object_new_string_len(f->value, (int)f->value_len);
		}
		json_object_object_add(b->fields, f->name, v);
	}
	if (b->file != NULL && json_object_object_get_ex(b->fields, b->file_param, NULL)) {
		api_error_set(e, 400, "conflicting_parameters", b->file_param,
			      "'%s' is given both as a file and as a text field.", b->file_param);
		return -1;
	}
	return 0;
}

static int form_failed(struct body *b, enum form_err err, const struct body_limits *lim,
		       struct api_error *e)
{
	const char *param = b->form.err_field[0] ? b->form.err_field : NULL;
	const char *msg = b->form.err_msg[0] ? b->form.err_msg : form_strerror(err);
	switch (err) {
	case FORM_FILE_TOO_LARGE:
		api_error_set(e, 400, "invalid_value", param,
			      "The uploaded file is too large: the limit is %zu bytes.",
			      lim->max_file);
		break;
	case FORM_IO:
		if (disk_nearly_full(lim->tmp_dir)) {
			api_error_from_rg(e, RG_ESPACE);
			break;
		}
		/* fall through */
	case FORM_ENOMEM:
		api_error_set(e, 500, "internal_error", NULL,
			      "The server could not store the upload; retry later.");
		break;
	default: api_error_set(e, 400, "invalid_body", param, "%s", msg);
	}
	return -1;
}

static int read_multipart(struct body *b, struct http_request *r, const struct body_limits *lim,
			  struct api_error *e)
{
	struct form_limits fl = { lim->max_fields, 256, lim->max_value, lim->max_file,
				  lim->tmp_dir };
	struct multipart *mp;
	enum form_err err = multipart_new(&mp, &b->form, r->content_type, &fl);
	if (err != FORM_OK)
		return form_failed(b, err, lim, e);
	char chunk[65536];
	size_t total = 0;
	for (;;) {
		long n = http_read(r, chunk, sizeof(chunk));
		if (n < 0) {
			multipart_free(mp);
			return bad(e, "invalid_body", NULL, "The request body could not be read.");
		}
		if (n == 0)
			break;
		total += (size_t)n;
		if (total > lim->max_body) {
			multipart_free(mp);
			api_error_set(e, 413, "request_too_large", NULL,
				      "Request body too large: the limit is %zu bytes.",
				      lim->max_body);
			return -1;
		}
		err = multipart_feed(mp, chunk, (size_t)n);
		if (err != FORM_OK) {
			multipart_free(mp);
			return form_failed(b, err, lim, e);
		}
	}
	if (r->content_length > 0 && r->body_read < (size_t)r->content_length) {
		multipart_free(mp);
		api_error_set(
			e, 400, "invalid_body", NULL,
			"The request body ended after %zu of the %lld bytes its Content-Length announced.",
			r->body_read, r->content_length);
		return -1;
	}
	err = multipart_finish(mp);
	multipart_free(mp);
	if (err != FORM_OK)
		return form_failed(b, err, lim, e);
	return body_from_form(b, lim, e);
}

int body_read(struct body *b, struct http_request *r, const struct body_limits *lim,
	      struct api_error *e)
{
	if (r->bad_length) {
		api_error_set(e, 400, "invalid_body", NULL,
			      "The Content-Length header is not a number.");
		return -1;
	}
	if (r->content_length > (long long)lim->max_body) {
		api_error_set(e, 413, "request_too_large", NULL,
			      "Request body too large: %lld bytes, the limit is %zu bytes.",
			      r->content_length, lim->max_body);
		return -1;
	}
	const char *ct = r->content_type;
	if (ct == NULL || ct[0] == '\0') {
		api_error_set(
			e, 415, "unsupported_media_type", NULL,
			"Missing Content-Type: send application/json, multipart/form-data or application/x-www-form-urlencoded.");
		return -1;
	}
	if (http_content_type_is(ct, "multipart/form-data"))
		return read_multipart(b, r, lim, e);
	int is_json = http_content_type_is(ct, "application/json");
	int is_form = http_content_type_is(ct, "application/x-www-form-urlencoded");
	if (!is_json && !is_form) {
		api_error_set(
			e, 415, "unsupported_media_type", NULL,
			"Unsupported Content-Type '%.80s': send application/json, multipart/form-data or application/x-www-form-urlencoded.",
			ct);
		return -1;
	}
	/* The body is kept (in b->raw) and decoded in place: the long image
	 * text stays in it. */
	buf_init(&b->raw, lim->max_body);
	if (http_read_all(r, &b->raw, lim->max_body, e) < 0)
		return -1;
	if (b->raw.data == NULL && buf_append(&b->raw, "", 0) < 0) {
		api_error_from_rg(e, RG_ENOMEM);
		return -1;
	}
	if (is_json)
		return body_parse_json(b, b->raw.data, b->raw.len, lim, e);
	struct form_limits fl = { lim->max_fields, 256, lim->max_value, 0, lim->tmp_dir };
	enum form_err err = form_parse_urlencoded_inplace(&b->form, b->raw.data, b->raw.len, &fl);
	return err == FORM_OK ? body_from_form(b, lim, e) : form_failed(b, err, lim, e);
}
