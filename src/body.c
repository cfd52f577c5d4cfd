/*
 * body: request body decoding into one field object.
 */
#include "body.h"

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
}

void body_deinit(struct body *b)
{
	json_object_put(b->fields);
	b->fields = NULL;
	form_deinit(&b->form);
	b->file = NULL;
}

static int bad(struct api_error *e, const char *code, const char *param,
	       const char *msg)
{
	api_error_set(e, 400, code, param, "%s", msg);
	return -1;
}

/* count_values counts the JSON values of a text (the separators and
 * openers outside strings), so a body of a million tiny values is refused
 * before json-c builds an object for each (ten times its size in memory). */
static size_t count_values(const char *p, size_t len)
{
	size_t n = 1;
	int in_string = 0;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == ',' || c == '[' || c == '{') {
			n++;
		}
	}
	return n;
}

int body_parse_json(struct body *b, const char *data, size_t len,
		    struct api_error *e)
{
	if (len == 0)
		return bad(e, "invalid_json", NULL,
			   "The request body is empty; send a JSON object such as {\"prompt\": \"...\"}.");
	if (!codec_utf8_valid(data, len))
		return bad(e, "invalid_json", NULL, "The request body is not valid UTF-8.");
	if (count_values(data, len) > BODY_JSON_VALUES) {
		api_error_set(e, 400, "invalid_json", NULL,
			      "The JSON body has more than %d values; a video request needs a few dozen.",
			      BODY_JSON_VALUES);
		return -1;
	}
	struct json_tokener *tok = json_tokener_new_ex(BODY_JSON_DEPTH);
	if (tok == NULL) {
		api_error_from_rg(e, RG_ENOMEM);
		return -1;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	struct json_object *o = json_tokener_parse_ex(tok, data, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (o == NULL || jerr != json_tokener_success) {
		json_object_put(o);
		if (jerr == json_tokener_error_depth)
			return bad(e, "invalid_json", NULL,
				   "The JSON body is nested too deeply (at most 16 levels).");
		api_error_set(e, 400, "invalid_json", NULL,
			      "The request body is not valid JSON (%s at byte %zu).",
			      jerr == json_tokener_continue ? "unexpected end"
							    : json_tokener_error_desc(jerr),
			      end);
		return -1;
	}
	for (size_t i = end; i < len; i++) {
		char c = data[i];
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			json_object_put(o);
			api_error_set(e, 400, "invalid_json", NULL,
				      "The request body has extra text after the JSON value (at byte %zu).", i);
			return -1;
		}
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return bad(e, "invalid_json", NULL,
			   "The JSON body must be an object such as {\"prompt\": \"...\"}.");
	}
	b->fields = o;
	return 0;
}

/* Fields that may be objects, given as JSON text or in bracket notation. */
static int is_object_field(const char *name)
{
	return strcmp(name, "metadata") == 0 || strcmp(name, "input_reference") == 0;
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
	if (ilen == 0 || memchr(ib, '[', ilen) || memchr(ib, ']', ilen) ||
	    olen >= on || ilen >= in)
		return -1;
	memcpy(outer, name, olen);
	outer[olen] = '\0';
	memcpy(inner, ib, ilen);
	inner[ilen] = '\0';
	return 0;
}

/* text_value parses the text of an object field given whole: JSON text for
 * metadata; JSON text or a plain URL for input_reference. */
static struct json_object *text_value(const struct form_field *f, struct api_error *e)
{
	if (strcmp(f->name, "input_reference") == 0 && f->value_len > 0 && f->value[0] != '{')
		return json_object_new_string_len(f->value, (int)f->value_len);
	if (count_values(f->value, f->value_len) > BODY_JSON_VALUES) {
		api_error_set(e, 400, "invalid_value", f->name,
			      "'%s' has more than %d JSON values.", f->name, BODY_JSON_VALUES);
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new_ex(BODY_JSON_DEPTH);
	struct json_object *o = tok ? json_tokener_parse_ex(tok, f->value, (int)f->value_len) : NULL;
	int ok = tok && json_tokener_get_error(tok) == json_tokener_success &&
		 json_tokener_get_parse_end(tok) == f->value_len &&
		 json_object_is_type(o, json_type_object);
	if (tok)
		json_tokener_free(tok);
	if (!ok) {
		json_object_put(o);
		api_error_set(e, 400, "invalid_value", f->name,
			      "'%s' must be a JSON object (e.g. {\"key\": \"value\"}) or sent in bracket form as %s[key]=value.",
			      f->name, f->name);
		return NULL;
	}
	return o;
}

static int add_file(struct body *b, struct form_field *f, struct api_error *e)
{
	if (strcmp(f->name, "input_reference") != 0 && strcmp(f->name, "image") != 0) {
		api_error_set(e, 400, "invalid_value", f->name,
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

static int add_bracket(struct body *b, const struct form_field *f, struct api_error *e)
{
	char outer[64], inner[128];
	int shape = split_bracket(f->name, outer, sizeof(outer), inner, sizeof(inner));
	if (shape < 0 && strncmp(f->name, "metadata[", 9) == 0) {
		/* metadata[a][b]=... or metadata[tags][]=...: a nested value */
		char key[80];
		size_t klen = strcspn(f->name + 9, "]");
		snprintf(key, sizeof(key), "metadata.%.*s", (int)(klen < 64 ? klen : 64), f->name + 9);
		api_error_set(e, 400, "invalid_value", key,
			      "metadata values must be strings, numbers, booleans or null, not nested objects or lists ('%.100s').",
			      f->name);
		return -1;
	}
	if (shape < 0 || !is_object_field(outer)) {
		api_error_set(e, 400, "unknown_parameter", f->name,
			      "Unknown parameter: '%.100s'.", f->name);
		return -1;
	}
	struct json_object *obj;
	if (json_object_object_get_ex(b->fields, outer, &obj)) {
		if (form_count(&b->form, outer) > 0 || !json_object_is_type(obj, json_type_object) ||
		    json_object_object_get_ex(obj, inner, NULL)) {
			api_error_set(e, 400, "conflicting_parameters", f->name,
				      "'%.100s' is given more than once.", f->name);
			return -1;
		}
	} else {
		obj = json_object_new_object();
		json_object_object_add(b->fields, outer, obj);
	}
	json_object_object_add(obj, inner, json_object_new_string_len(f->value, (int)f->value_len));
	return 0;
}

int body_from_form(struct body *b, struct api_error *e)
{
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
			if (add_file(b, f, e) < 0)
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
		if (strchr(f->name, '[') != NULL) {
			if (add_bracket(b, f, e) < 0)
				return -1;
			continue;
		}
		if (json_object_object_get_ex(b->fields, f->name, NULL)) {
			/* given twice, or whole after bracket parts */
			api_error_set(e, 400, "conflicting_parameters", f->name,
				      "'%.100s' is given more than once; send each field once.", f->name);
			return -1;
		}
		struct json_object *v;
		if (is_object_field(f->name)) {
			v = text_value(f, e);
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
			      "The uploaded file is too large: the limit is %zu bytes.", lim->max_file);
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
	default:
		api_error_set(e, 400, "invalid_body", param, "%s", msg);
	}
	return -1;
}

static int read_multipart(struct body *b, struct http_request *r,
			  const struct body_limits *lim, struct api_error *e)
{
	struct form_limits fl = { lim->max_fields, 256, lim->max_value, lim->max_file, lim->tmp_dir };
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
				      "Request body too large: the limit is %zu bytes.", lim->max_body);
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
		api_error_set(e, 400, "invalid_body", NULL,
			      "The request body ended after %zu of the %lld bytes its Content-Length announced.",
			      r->body_read, r->content_length);
		return -1;
	}
	err = multipart_finish(mp);
	multipart_free(mp);
	if (err != FORM_OK)
		return form_failed(b, err, lim, e);
	return body_from_form(b, e);
}

int body_read(struct body *b, struct http_request *r,
	      const struct body_limits *lim, struct api_error *e)
{
	if (r->bad_length) {
		api_error_set(e, 400, "invalid_body", NULL, "The Content-Length header is not a number.");
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
		api_error_set(e, 415, "unsupported_media_type", NULL,
			      "Missing Content-Type: send application/json, multipart/form-data or application/x-www-form-urlencoded.");
		return -1;
	}
	if (http_content_type_is(ct, "multipart/form-data"))
		return read_multipart(b, r, lim, e);
	int is_json = http_content_type_is(ct, "application/json");
	int is_form = http_content_type_is(ct, "application/x-www-form-urlencoded");
	if (!is_json && !is_form) {
		api_error_set(e, 415, "unsupported_media_type", NULL,
			      "Unsupported Content-Type '%.80s': send application/json, multipart/form-data or application/x-www-form-urlencoded.",
			      ct);
		return -1;
	}
	struct buf raw;
	buf_init(&raw, lim->max_body);
	int rc = http_read_all(r, &raw, lim->max_body, e);
	if (rc == 0 && is_json) {
		rc = body_parse_json(b, raw.data ? raw.data : "", raw.len, e);
	} else if (rc == 0) {
		struct form_limits fl = { lim->max_fields, 256, lim->max_value, 0, lim->tmp_dir };
		enum form_err err = form_parse_urlencoded(&b->form, raw.data ? raw.data : "", raw.len, &fl);
		rc = err == FORM_OK ? body_from_form(b, e) : form_failed(b, err, lim, e);
	}
	buf_deinit(&raw);
	return rc;
}
