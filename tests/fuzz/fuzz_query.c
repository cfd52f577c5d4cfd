/*
 * fuzz_query: libFuzzer target for query strings, read the way api.c's
 * list and content handlers read them: form_parse_urlencoded with the
 * limits {32 fields, 64-byte names, 256-byte values, no files}, then
 * form_count / form_get for each parameter, then the checks of limit,
 * order, after (id_video_valid) and variant.
 *
 * Input: the whole query string (what follows '?'; a NUL ends it early, as
 * it would in the FastCGI environment).  Checked, besides memory safety:
 *   - the parse keeps its limits and its error fields are terminated;
 *   - every field's value is NUL-terminated at value_len, and form_get /
 *     form_count agree with a scan of the fields;
 *   - an accepted limit is 0..100, order asc or desc, after a valid id;
 *   - the error the handler would send renders as a JSON envelope;
 *   - strict (REELGATE_FUZZ_STRICT=1): a value the handler accepts holds no
 *     NUL byte (%00 in a value is cut off by the C string compare, so
 *     "order=asc%00junk" is taken as "asc"), and error text is UTF-8.
 */
#include "error.h"
#include "form.h"
#include "fuzz.h"
#include "id.h"

#include <errno.h>
#include <json-c/json.h>

#define LIST_DEFAULT 20 /* as api.c */
#define LIST_MAX 100

static const struct form_limits limits = { 32, 64, 256, 0, NULL };

static int query_param(struct form *q, const char *name, const char **out, struct api_error *e)
{
	*out = NULL;
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
	if (count > 1) {
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

/* list: handle_list's reading of limit, order and after. */
static int list(const char *query, struct api_error *e)
{
	struct form q;
	form_init(&q);
	const char *limit_s, *order_s, *after;
	long limit = LIST_DEFAULT;
	int desc = 1, rc = -1;
	if (parse_query(query, &q, e) < 0 || query_param(&q, "limit", &limit_s, e) < 0 ||
	    query_param(&q, "order", &order_s, e) < 0 || query_param(&q, "after", &after, e) < 0)
		goto out;
	if (limit_s != NULL) {
		char *end;
		errno = 0;
		limit = strtol(limit_s, &end, 10);
		if (limit_s[0] < '0' || limit_s[0] > '9' || *end != '\0' || errno ||
		    limit > LIST_MAX) {
			api_error_set(e, 400, "invalid_value", "limit",
				      "'limit' must be a whole number from 0 to %d.", LIST_MAX);
			goto out;
		}
	}
	if (order_s != NULL) {
		if (strcmp(order_s, "asc") == 0)
			desc = 0;
		else if (strcmp(order_s, "desc") != 0) {
			api_error_set(e, 400, "invalid_value", "order",
				      "'order' must be \"asc\" or \"desc\".");
			goto out;
		}
	}
	if (after != NULL && after[0] == '\0')
		after = NULL;
	if (after != NULL && !id_video_valid(after, strlen(after))) {
		api_error_set(e, 400, "invalid_value", "after",
			      "'after' must be a video id (the last_id of the previous page).");
		goto out;
	}
	/* what store_video_list would be given */
	CHECK(limit >= 0 && limit <= LIST_MAX);
	CHECK(desc == 0 || desc == 1);
	if (after != NULL) {
		CHECK(strlen(after) <= ID_MAX - 1);
		CHECK(strncmp(after, "video_", 6) == 0);
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
