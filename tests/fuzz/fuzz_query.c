/*
 * fuzz_query: libFuzzer target for query strings, read the way api.c's
 * list and content handlers read them: form_parse_urlencoded with the
 * limits {32 fields, 64-byte names, 256-byte values, no files}, then
 * form_count / form_get for each parameter; for the list, api.c's own
 * api_list_query (limit, order, after, status, model); for content, the
 * check of variant.
 *
 * Input: the whole query string (what follows '?'; a NUL ends it early, as
 * it would in the FastCGI environment).  Checked, besides memory safety:
 *   - the parse keeps its limits and its error fields are terminated;
 *   - every field's value is NUL-terminated at value_len, and form_get /
 *     form_count agree with a scan of the fields;
 *   - an accepted list query has limit 0..100, order asc or desc, after a
 *     valid id, status one of the four, model 1..64 bytes, and each value
 *     it hands on is the whole value given (no NUL inside);
 *   - the error the handler would send renders as a JSON envelope;
 *   - strict (REELGATE_FUZZ_STRICT=1): a variant the handler accepts holds
 *     no NUL byte (%00 in a value is cut off by the C string compare, so
 *     "variant=video%00junk" is taken as "video"), and error text is UTF-8.
 */
#include "api.h"
#include "error.h"
#include "form.h"
#include "fuzz.h"
#include "id.h"

#include <json-c/json.h>

static const struct form_limits limits = { 32, 64, 256, 0, NULL };

/* form_agrees: form_count and form_get say what a scan of the fields says
 * about name; returns its first field, or NULL. */
static const struct form_field *form_agrees(struct form *q, const char *name)
{
	size_t count = form_count(q, name), scan = 0;
	const struct form_field *first = NULL;
	for (size_t i = 0; i < q->count; i++)
		if (strcmp(q->fields[i].name, name) == 0) {
			if (first == NULL)
				first = &q->fields[i];
			scan++;
		}
	CHECK(count == scan);
	CHECK(form_get(q, name) == first);
	return first;
}

static int query_param(struct form *q, const char *name, const char **out, struct api_error *e)
{
	*out = NULL;
	const struct form_field *first = form_agrees(q, name);
	if (form_count(q, name) > 1) {
		api_error_set(e, 400, "invalid_value", name, "'%s' is given more than once.", name);
		return -1;
	}
	if (first != NULL && memchr(first->value, '\0', first->value_len) != NULL) {
		api_error_set(e, 400, "invalid_value", name, "'%s' contains a NUL byte (%%00).",
			      name);
		return -1;
	}
	if (first != NULL) {
		*out = first->value;
		/* what the handler then compares as a C string */
		SOFT_CHECK(strlen(first->value) == first->value_len);
	}
	return 0;
}

static int parse_query(const char *query, struct form *q, struct api_error *e)
{
	enum form_err err = form_parse_urlencoded(q, query, strlen(query), &limits);
	CHECK(q->count <= limits.max_fields);
	CHECK(NUL_TERMINATED(q->err_field) && NUL_TERMINATED(q->err_msg));
	for (size_t i = 0; i < q->count; i++) {
		const struct form_field *f = &q->fields[i];
		CHECK(f->name != NULL && strlen(f->name) <= limits.max_name);
		CHECK(f->value != NULL && f->value_len <= limits.max_value);
		CHECK(f->value[f->value_len] == '\0');
		CHECK(f->path == NULL && f->filename == NULL);
	}
	if (err != FORM_OK) {
		CHECK(err != FORM_IO && err != FORM_FILE_TOO_LARGE && err != FORM_BOUNDARY);
		api_error_set(e, 400, "invalid_value", q->err_field[0] ? q->err_field : NULL,
			      "The query string is malformed: %s",
			      q->err_msg[0] ? q->err_msg : form_strerror(err));
		return -1;
	}
	return 0;
}

/* handed_on: an accepted value of name is the whole of the one value
 * given. */
static void handed_on(struct form *q, const char *name, const char *value)
{
	const struct form_field *f = form_get(q, name);
	if (value == NULL)
		return;
	CHECK(f != NULL && value == f->value && strlen(value) == f->value_len);
}

/* list: handle_list's reading, api_list_query itself. */
static int list(const char *query, struct api_error *e)
{
	static const char *const params[] = { "limit", "order", "after", "status", "model", NULL };
	static const char *const statuses[] = { "queued", "in_progress", "completed", "failed",
						NULL };
	struct form q;
	struct api_list_query lq;
	int rc = -1;
	form_init(&q);
	if (parse_query(query, &q, e) < 0)
		goto out;
	for (const char *const *p = params; *p; p++)
		(void)form_agrees(&q, *p);
	if (api_list_query(&q, &lq, e) < 0)
		goto out;
	/* what store_video_list_public and the filters would be given */
	CHECK(lq.limit >= 0 && lq.limit <= API_LIST_MAX);
	CHECK(lq.desc == 0 || lq.desc == 1);
	if (lq.after != NULL) {
		handed_on(&q, "after", lq.after);
		CHECK(strlen(lq.after) <= ID_MAX - 1);
		CHECK(strncmp(lq.after, "video_", 6) == 0);
		CHECK(id_video_valid(lq.after, strlen(lq.after)));
	}
	if (lq.status != NULL) {
		handed_on(&q, "status", lq.status);
		const char *const *st = statuses;
		while (*st != NULL && strcmp(*st, lq.status) != 0)
			st++;
		CHECK(*st != NULL);
	}
	if (lq.model != NULL) {
		handed_on(&q, "model", lq.model);
		CHECK(lq.model[0] != '\0' && strlen(lq.model) <= API_LIST_MODEL_MAX);
	}
	rc = 0;
out:
	form_deinit(&q);
	return rc;
}

/* content: handle_content's reading of variant. */
static int content(const char *query, struct api_error *e)
{
	struct form q;
	form_init(&q);
	const char *variant = NULL;
	int rc = -1;
	if (parse_query(query, &q, e) < 0 || query_param(&q, "variant", &variant, e) < 0)
		goto out;
	if (variant == NULL)
		variant = "video";
	if (strcmp(variant, "video") != 0 && strcmp(variant, "thumbnail") != 0 &&
	    strcmp(variant, "spritesheet") != 0) {
		api_error_set(e, 400, "invalid_value", "variant",
			      "'variant' must be \"video\", \"thumbnail\" or \"spritesheet\".");
		goto out;
	}
	rc = 0;
out:
	form_deinit(&q);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *query = fuzz_cstr(data, size);
	struct api_error e;
	memset(&e, 0, sizeof(e));
	if (list(query, &e) < 0)
		fuzz_check_refusal(&e);
	memset(&e, 0, sizeof(e));
	if (content(query, &e) < 0)
		fuzz_check_refusal(&e);
	free(query);
	return 0;
}
