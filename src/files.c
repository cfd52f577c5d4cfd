/*
 * files: the handlers of /v1/files (files.h).  An upload is stored like an
 * input image of a create: the spooled part is synced, renamed into
 * data_dir/files, the directory synced, and only then is the record
 * written, so a record never names bytes that are not on disk.  Deleting a
 * file never breaks a task made from it: a create links the file into
 * uploads/ (api.c), and the task keeps that name.
 */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "body.h"
#include "codec.h"
#include "form.h"
#include "log.h"
#include "record.h"
#include "validate.h"

#define FILES_LIST_MAX 10000
#define FILENAME_MAX_BYTES 255

static const char *const purposes[] = { "vision", "user_data", "assistants", "video", NULL };

static void not_found(struct http_response *res, const char *id)
{
	struct api_error e;
	if (id == NULL)
		api_error_set(
			&e, 404, "not_found", "file_id",
			"No file found with that id: ids look like file- followed by letters and digits.");
	else
		api_error_set(&e, 404, "not_found", "file_id", "No file found with id '%s'.", id);
	http_error(res, &e);
}

/* file_json is the public file object of a record (a new object). */
static struct json_object *file_json(struct json_object *rec)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(rec_str(rec, "id")));
	json_object_object_add(o, "object", json_object_new_string("file"));
	json_object_object_add(o, "bytes", json_object_new_int64(rec_i64(rec, "bytes")));
	json_object_object_add(o, "created_at", json_object_new_int64(rec_i64(rec, "created_at")));
	json_object_object_add(o, "filename", json_object_new_string(rec_str(rec, "filename")));
	json_object_object_add(o, "purpose", json_object_new_string(rec_str(rec, "purpose")));
	json_object_object_add(o, "status", json_object_new_string("processed"));
	/* No expires_at: a file lasts until deleted, and OpenAI's schema
	 * (OpenAIFile) has it an integer when present, never null. */
	return o;
}

/* file_path: where rec's bytes are; -1 when its path is not one of ours. */
static int file_path(struct app *app, struct json_object *rec, char *out, size_t cap)
{
	const char *rel = rec_str(rec, "path");
	if (rel == NULL || strncmp(rel, "files/", 6) != 0 || strstr(rel, "..") != NULL)
		return -1;
	return snprintf(out, cap, "%s/%s", app->cfg->data_dir, rel) < (int)cap ? 0 : -1;
}

/* load answers the 404 itself when the id is malformed, unknown or not
 * owner's (one answer for the three). */
static struct json_object *load(struct app *app, struct http_response *res,
				const struct route_match *m, const char *owner)
{
	struct json_object *rec = NULL;
	if (!m->id_valid) {
		not_found(res, NULL);
		return NULL;
	}
	enum rg_err err = store_file_get(app->st, owner, m->id, &rec);
	if (err == RG_ENOENT) {
		not_found(res, m->id);
		return NULL;
	}
	if (err != RG_OK) {
		struct api_error e;
		api_error_from_rg(&e, err);
		http_error(res, &e);
		return NULL;
	}
	return rec;
}

/* ---- upload ----------------------------------------------------------------- */

static int read_purpose(struct json_object *fields, const char **out, struct api_error *e)
{
	json_object_object_foreach(fields, k, v) {
		(void)v;
		if (strcmp(k, "purpose") != 0) {
			api_error_set(e, 400, "unknown_parameter", k,
				      "Unknown parameter: '%.100s'. An upload takes 'file' and "
				      "'purpose'.",
				      k);
			return -1;
		}
	}
	struct json_object *p = NULL;
	json_object_object_get_ex(fields, "purpose", &p);
	const char *s = json_object_is_type(p, json_type_string) ? json_object_get_string(p) : NULL;
	for (size_t i = 0; s && purposes[i]; i++)
		if (strcmp(s, purposes[i]) == 0) {
			*out = purposes[i];
			return 0;
		}
	api_error_set(
		e, 400, "invalid_value", "purpose",
		"'purpose' must be one of \"vision\", \"user_data\", \"assistants\" or \"video\" (use \"vision\" for an input_reference image).");
	return -1;
}

static const char *upload_name(const struct form_field *f, struct api_error *e)
{
	const char *name = f->filename && f->filename[0] ? f->filename : "upload";
	size_t n = strlen(name);
	if (n > FILENAME_MAX_BYTES || !codec_utf8_valid(name, n)) {
		api_error_set(e, 400, "invalid_value", "file",
			      "The file's name must be valid UTF-8 of at most %d bytes.",
			      FILENAME_MAX_BYTES);
		return NULL;
	}
	return name;
}

static int sync_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fdatasync(fd);
	close(fd);
	return rc;
}

/* put_bytes moves the spooled upload to rel (relative to data_dir), synced
 * with its directory. */
static int put_bytes(struct app *app, struct body *b, const char *rel)
{
	char path[8192];
	snprintf(path, sizeof(path), "%s/%s", app->cfg->data_dir, rel);
	char *tmp = form_claim_file(&b->form, b->file);
	int rc = tmp ? sync_file(tmp) : -1;
	if (rc == 0)
		rc = rename(tmp, path);
	if (rc < 0 && tmp)
		unlink(tmp);
	free(tmp);
	if (rc == 0 && (rc = fsync_dir(app->files_dir)) < 0)
		unlink(path);
	return rc;
}

static struct json_object *new_record(const char *id, const char *owner, size_t bytes,
				      const char *filename, const char *purpose, const char *rel)
{
	struct json_object *rec = json_object_new_object();
	json_object_object_add(rec, "id", json_object_new_string(id));
	json_object_object_add(rec, "owner", json_object_new_string(owner));
	json_object_object_add(rec, "bytes", json_object_new_int64((int64_t)bytes));
	json_object_object_add(rec, "created_at", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(rec, "filename", json_object_new_string(filename));
	json_object_object_add(rec, "purpose", json_object_new_string(purpose));
	json_object_object_add(rec, "path", json_object_new_string(rel));
	return rec;
}

void files_create(struct app *app, struct http_request *req, struct http_response *res,
		  const char *owner)
{
	struct api_error e;
	struct body b;
	struct body_limits lim = { 0 };
	const char *purpose = NULL, *filename = NULL;
	struct json_object *rec = NULL;
	body_init(&b);
	lim.max_body = app->cfg->max_body_bytes;
	lim.max_file = app->cfg->max_body_bytes;
	lim.max_value = app->cfg->max_body_bytes;
	body_text_limits(&lim, app->cfg->max_prompt_chars, app->cfg->max_metadata_bytes);
	lim.max_fields = app->cfg->max_fields;
	lim.tmp_dir = app->tmp_dir;
	lim.file_field = "file";
	if (body_read(&b, req, &lim, &e) < 0)
		goto fail;
	if (b.file == NULL) {
		api_error_set(
			&e, 400, "missing_required_parameter", "file",
			"Send the file as a multipart/form-data part named 'file' (with a filename), beside a 'purpose' field.");
		goto fail;
	}
	if (read_purpose(b.fields, &purpose, &e) < 0 ||
	    (filename = upload_name(b.file, &e)) == NULL)
		goto fail;
	char id[ID_MAX], rel[ID_MAX + 8];
	if (id_file_new(id) < 0) {
		api_error_from_rg(&e, RG_EIO);
		goto fail;
	}
	snprintf(rel, sizeof(rel), "files/%s", id);
	size_t bytes = b.file->file_size;
	if (put_bytes(app, &b, rel) < 0) {
		log_error("file_store_failed", "req=%s errno=%d", req->request_id, errno);
		api_error_from_rg(&e, errno == ENOSPC || errno == EDQUOT ||
						      disk_nearly_full(app->files_dir)
					      ? RG_ESPACE
					      : RG_EIO);
		goto fail;
	}
	rec = new_record(id, owner, bytes, filename, purpose, rel);
	enum rg_err err = rec ? store_file_put(app->st, rec) : RG_ENOMEM;
	if (err != RG_OK) {
		char path[8192];
		snprintf(path, sizeof(path), "%s/%s", app->cfg->data_dir, rel);
		unlink(path);
		api_error_from_rg(&e, err);
		goto fail;
	}
	log_info("file_created", "req=%s file=%s owner=%s bytes=%zu", req->request_id, id, owner,
		 bytes);
	struct json_object *o = file_json(rec);
	http_json(res, o);
	json_object_put(o);
	json_object_put(rec);
	body_deinit(&b);
	return;
fail:
	http_error(res, &e);
	json_object_put(rec);
	body_deinit(&b);
}

/* ---- list ------------------------------------------------------------------- */

static int query_param(struct form *q, const char *name, const char **out, struct api_error *e)
{
	*out = NULL;
	const struct form_field *f = form_get(q, name);
	if (form_count(q, name) > 1 || (f && memchr(f->value, '\0', f->value_len) != NULL)) {
		api_error_set(e, 400, "invalid_value", name,
			      "'%s' must be given at most once, without NUL bytes.", name);
		return -1;
	}
	if (f != NULL && f->value_len > 0)
		*out = f->value;
	return 0;
}

struct list_ctx {
	struct json_object *all; /* owner's records, oldest first */
	const char *purpose;	 /* only these, or NULL */
};

static int collect(struct json_object *rec, void *arg)
{
	struct list_ctx *c = arg;
	const char *p = rec_str(rec, "purpose");
	if (c->purpose == NULL || (p && strcmp(p, c->purpose) == 0))
		json_object_array_add(c->all, json_object_get(rec));
	return 0;
}

static int list_args(struct http_request *req, struct form *q, long *limit, int *desc,
		     const char **after, const char **purpose, struct api_error *e)
{
	struct form_limits fl = { 32, 64, 256, 0, NULL };
	const char *limit_s, *order_s;
	if (form_parse_urlencoded(q, req->query, strlen(req->query), &fl) != FORM_OK) {
		api_error_set(e, 400, "invalid_value", NULL,
			      "The query string is malformed: use limit, after, order, purpose.");
		return -1;
	}
	if (query_param(q, "limit", &limit_s, e) < 0 || query_param(q, "order", &order_s, e) < 0 ||
	    query_param(q, "after", after, e) < 0 || query_param(q, "purpose", purpose, e) < 0)
		return -1;
	if (limit_s != NULL) {
		char *end;
		errno = 0;
		*limit = strtol(limit_s, &end, 10);
		if (limit_s[0] < '0' || limit_s[0] > '9' || *end != '\0' || errno || *limit < 1 ||
		    *limit > FILES_LIST_MAX) {
			api_error_set(e, 400, "invalid_value", "limit",
				      "'limit' must be a whole number from 1 to %d.",
				      FILES_LIST_MAX);
			return -1;
		}
	}
	if (order_s != NULL && strcmp(order_s, "asc") != 0 && strcmp(order_s, "desc") != 0) {
		api_error_set(e, 400, "invalid_value", "order",
			      "'order' must be \"asc\" or \"desc\".");
		return -1;
	}
	*desc = order_s == NULL || strcmp(order_s, "desc") == 0;
	if (*after != NULL && !id_file_valid(*after, strlen(*after))) {
		api_error_set(e, 400, "invalid_value", "after",
			      "'after' must be a file id (the last_id of the previous page).");
		return -1;
	}
	return 0;
}

void files_list(struct app *app, struct http_request *req, struct http_response *res,
		const char *owner)
{
	struct api_error e;
	struct form q;
	long limit = FILES_LIST_MAX;
	int desc = 1;
	const char *after = NULL;
	struct list_ctx c = { json_object_new_array(), NULL };
	form_init(&q);
	if (list_args(req, &q, &limit, &desc, &after, &c.purpose, &e) < 0)
		goto fail;
	enum rg_err err = store_file_list(app->st, owner, collect, &c);
	if (err != RG_OK) {
		api_error_from_rg(&e, err);
		goto fail;
	}
	struct json_object *out = json_object_new_object(), *data = json_object_new_array();
	size_t n = json_object_array_length(c.all);
	int more = 0;
	for (size_t k = 0; k < n; k++) {
		struct json_object *rec = json_object_array_get_idx(c.all, desc ? n - 1 - k : k);
		const char *id = rec_str(rec, "id");
		if (after && id && (desc ? strcmp(id, after) >= 0 : strcmp(id, after) <= 0))
			continue;
		if ((long)json_object_array_length(data) == limit) {
			more = 1;
			break;
		}
		json_object_array_add(data, file_json(rec));
	}
	size_t got = json_object_array_length(data);
	json_object_object_add(out, "object", json_object_new_string("list"));
	json_object_object_add(out, "data", data);
	json_object_object_add(out, "first_id",
			       got ? json_object_get(json_object_object_get(
					     json_object_array_get_idx(data, 0), "id"))
				   : NULL);
	json_object_object_add(out, "last_id",
			       got ? json_object_get(json_object_object_get(
					     json_object_array_get_idx(data, got - 1), "id"))
				   : NULL);
	json_object_object_add(out, "has_more", json_object_new_boolean(more));
	http_json(res, out);
	json_object_put(out);
	json_object_put(c.all);
	form_deinit(&q);
	return;
fail:
	http_error(res, &e);
	json_object_put(c.all);
	form_deinit(&q);
}

/* ---- retrieve, content, delete ------------------------------------------------ */

void files_get(struct app *app, struct http_response *res, const struct route_match *m,
	       const char *owner)
{
	struct json_object *rec = load(app, res, m, owner);
	if (rec == NULL)
		return;
	struct json_object *o = file_json(rec);
	http_json(res, o);
	json_object_put(o);
	json_object_put(rec);
}

/* The bytes are streamed by the worker, not handed to the web server: the
 * X-Accel-Redirect location of the deployments maps content/ only. */
void files_content(struct app *app, struct http_response *res, const struct route_match *m,
		   const char *owner)
{
	struct stat st;
	struct json_object *rec = load(app, res, m, owner);
	if (rec == NULL)
		return;
	if (file_path(app, rec, res->file_buf, sizeof(res->file_buf)) < 0 ||
	    stat(res->file_buf, &st) < 0 || !S_ISREG(st.st_mode)) {
		struct api_error e;
		api_error_set(
			&e, 404, "not_found", "file_id",
			"The bytes of file '%s' are missing from the server; upload it again.",
			m->id);
		http_error(res, &e);
		json_object_put(rec);
		return;
	}
	res->status = 200;
	res->content_type = "application/octet-stream";
	res->file_path = res->file_buf;
	res->file_offset = 0;
	res->file_length = (long long)st.st_size;
	json_object_put(rec);
}

void files_delete(struct app *app, struct http_request *req, struct http_response *res,
		  const struct route_match *m, const char *owner)
{
	if (!m->id_valid) {
		not_found(res, NULL);
		return;
	}
	struct json_object *old = NULL;
	enum rg_err err = store_file_delete(app->st, owner, m->id, &old);
	if (err != RG_OK) {
		struct api_error e;
		if (err == RG_ENOENT) {
			not_found(res, m->id);
			return;
		}
		api_error_from_rg(&e, err);
		http_error(res, &e);
		return;
	}
	char path[8192];
	if (file_path(app, old, path, sizeof(path)) == 0)
		unlink(path);
	json_object_put(old);
	log_info("file_deleted", "req=%s file=%s owner=%s", req->request_id, m->id, owner);
	struct json_object *out = json_object_new_object();
	json_object_object_add(out, "id", json_object_new_string(m->id));
	json_object_object_add(out, "object", json_object_new_string("file"));
	json_object_object_add(out, "deleted", json_object_new_boolean(1));
	http_json(res, out);
	json_object_put(out);
}

/* ---- use by a create ---------------------------------------------------------- */

int files_path(struct app *app, const char *owner, const char *id, const char *param,
	       const char *what, char *path, size_t cap, struct api_error *e)
{
	struct json_object *rec = NULL;
	enum rg_err err = id_file_valid(id, strlen(id)) ? store_file_get(app->st, owner, id, &rec)
							: RG_ENOENT;
	if (err == RG_ENOENT) {
		api_error_set(
			e, 400, "invalid_value", param,
			"No file found with id '%.64s'. Upload the %s with POST /v1/files and pass the id it returns.",
			id, what);
		return -1;
	}
	if (err != RG_OK) {
		api_error_from_rg(e, err);
		return -1;
	}
	int rc = file_path(app, rec, path, cap);
	json_object_put(rec);
	if (rc < 0)
		api_error_from_rg(e, RG_EIO);
	return rc;
}

int files_image(struct app *app, const char *owner, const char *id, const char *param, char *path,
		size_t cap, const char **ext, struct api_error *e)
{
	if (files_path(app, owner, id, param, "image (purpose \"vision\")", path, cap, e) < 0)
		return -1;
	uint8_t head[16];
	size_t n = 0;
	struct stat st;
	int ok = stat(path, &st) == 0;
	FILE *f = ok ? fopen(path, "rb") : NULL;
	if (f) {
		n = fread(head, 1, sizeof(head), f);
		fclose(f);
	}
	*ext = n > 0 ? validate_image_type(head, n) : NULL;
	if (*ext == NULL) {
		api_error_set(
			e, 400, "invalid_image", param,
			"File '%.64s' is not a PNG, JPEG or WebP image; upload one of those and pass its id.",
			id);
		return -1;
	}
	if ((size_t)st.st_size > app->cfg->max_image_bytes) {
		api_error_set(
			e, 400, "invalid_image", param,
			"File '%.64s' is %lld bytes; an input image may be at most %zu bytes. Upload a smaller image.",
			id, (long long)st.st_size, app->cfg->max_image_bytes);
		return -1;
	}
	return 0;
}
