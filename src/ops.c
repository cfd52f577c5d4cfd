/*
 * ops: edits, extensions and characters (ops.h).  An edit or an extension
 * is validated in full — fields, the source video (the caller's, and
 * completed) — before the model's capability is asked; no backend runs
 * either yet, so a valid one is answered with a 400 unsupported_operation
 * that names the model and the operation.  A character is a short clip and
 * a name, stored under uploads/ and in the store's "characters".
 */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "body.h"
#include "codec.h"
#include "log.h"
#include "record.h"
#include "store.h"
#include "video.h"

#define OPS_PROMPT_MAX 32000
#define CHARACTER_NAME_MAX 80

static const char *const op_names[OP_COUNT] = { "create", "remix", "edit", "extend" };
/* How a message names an operation: "does not support video edits". */
static const char *const op_nouns[OP_COUNT] = { "video creation", "video remixes", "video edits",
						"video extensions" };

const char *video_op_name(enum video_op op)
{
	return op < OP_COUNT ? op_names[op] : "unknown";
}

int model_supports(const struct config *cfg, const struct model_cfg *model, enum video_op op)
{
	(void)cfg;
	if (model == NULL || model->nbackends == 0)
		return 0;
	switch (op) {
	case OP_CREATE:
	case OP_REMIX: return 1;
	case OP_EDIT:
	case OP_EXTEND:
	case OP_COUNT: break;
	}
	return 0;
}

struct json_object *model_operations_json(const struct config *cfg, const struct model_cfg *model)
{
	struct json_object *a = json_object_new_array();
	for (int op = 0; a != NULL && op < OP_COUNT; op++)
		if (model_supports(cfg, model, (enum video_op)op))
			json_object_array_add(a, json_object_new_string(op_names[op]));
	return a;
}

/* ---- reading a request ---------------------------------------------------------- */

/* read_body reads the body with 'video' allowed as a file (up to the body
 * limit: a clip, not an image) or as an object. */
static int read_body(struct app *app, struct http_request *req, struct body *b, struct api_error *e)
{
	const struct config *cfg = app->cfg;
	struct body_limits lim = { 0 }; /* file_field NULL: the video part */
	lim.max_body = cfg->max_body_bytes;
	lim.max_file = cfg->max_body_bytes;
	lim.max_value = cfg->max_body_bytes;
	body_text_limits(&lim,
			 cfg->max_prompt_chars > OPS_PROMPT_MAX ? cfg->max_prompt_chars
								: OPS_PROMPT_MAX,
			 cfg->max_metadata_bytes);
	lim.max_fields = cfg->max_fields;
	lim.tmp_dir = app->tmp_dir;
	b->video_input = 1;
	return body_read(b, req, &lim, e);
}

/* only_fields refuses a field other than those in allowed (NULL-ended). */
static int only_fields(struct json_object *fields, const char *const *allowed, const char *what,
		       struct api_error *e)
{
	json_object_object_foreach(fields, k, v) {
		(void)v;
		size_t i = 0;
		while (allowed[i] && strcmp(allowed[i], k) != 0)
			i++;
		if (allowed[i] == NULL) {
			api_error_set(e, 400, "unknown_parameter", k,
				      "Unknown parameter: '%.100s'. %s", k, what);
			return -1;
		}
	}
	return 0;
}

static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

/* read_text reads the required string field name of lo..hi characters. */
static int read_text(struct json_object *fields, const char *name, size_t lo, size_t hi,
		     const char *hint, const char **out, struct api_error *e)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(fields, name, &v) || v == NULL) {
		api_error_set(e, 400, "missing_required_parameter", name,
			      "Missing required parameter: '%s'. %s", name, hint);
		return -1;
	}
	if (!json_object_is_type(v, json_type_string)) {
		api_error_set(e, 400, "invalid_value", name, "'%s' must be a string. %s", name,
			      hint);
		return -1;
	}
	const char *p = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v);
	if (!codec_utf8_valid(p, len) || memchr(p, '\0', len) != NULL) {
		api_error_set(e, 400, "invalid_value", name, "'%s' must be valid UTF-8 text.",
			      name);
		return -1;
	}
	size_t chars = utf8_chars(p, len);
	if (chars < lo || chars > hi) {
		api_error_set(e, 400, "invalid_value", name,
			      "'%s' must be %zu to %zu characters long; it is %zu. %s", name, lo,
			      hi, chars, hint);
		return -1;
	}
	*out = p;
	return 0;
}

/* clip_type tells a video file by its first bytes: "mp4", "mov", "webm" or
 * NULL. */
static const char *clip_type(const char *path)
{
	unsigned char h[12];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, h, sizeof(h));
	close(fd);
	if (n >= 4 && h[0] == 0x1A && h[1] == 0x45 && h[2] == 0xDF && h[3] == 0xA3)
		return "webm";
	if (n < 12)
		return NULL;
	if (memcmp(h + 4, "ftyp", 4) == 0)
		return memcmp(h + 8, "qt  ", 4) == 0 ? "mov" : "mp4";
	if (memcmp(h + 4, "moov", 4) == 0 || memcmp(h + 4, "mdat", 4) == 0 ||
	    memcmp(h + 4, "wide", 4) == 0 || memcmp(h + 4, "free", 4) == 0)
		return "mov";
	return NULL;
}

static int not_a_clip(struct api_error *e)
{
	api_error_set(e, 400, "invalid_value", "video",
		      "The uploaded 'video' is not a video file: send an MP4, MOV or WebM file.");
	return -1;
}

/* The source of an edit or an extension: a stored video or an upload. */
struct source {
	const char *id;		 /* borrowed from the fields, or NULL */
	const char *clip_ext;	 /* the upload's type, or NULL */
	struct json_object *rec; /* the stored video (owned), or NULL */
};

static int read_video_ref(struct body *b, struct source *src, const char *hint, struct api_error *e)
{
	struct json_object *v = NULL;
	json_object_object_get_ex(b->fields, "video", &v);
	if (b->file != NULL) {
		src->clip_ext = clip_type(b->file->path);
		return src->clip_ext ? 0 : not_a_clip(e);
	}
	if (v == NULL) {
		api_error_set(e, 400, "missing_required_parameter", "video",
			      "Missing required parameter: 'video'. %s", hint);
		return -1;
	}
	struct json_object *id = v;
	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, k, x) {
			(void)x;
			if (strcmp(k, "id") != 0) {
				api_error_set(e, 400, "unknown_parameter", "video",
					      "Unknown parameter: 'video.%.100s'. %s", k, hint);
				return -1;
			}
		}
		if (!json_object_object_get_ex(v, "id", &id)) {
			api_error_set(e, 400, "missing_required_parameter", "video",
				      "'video' has no 'id'. %s", hint);
			return -1;
		}
	}
	if (!json_object_is_type(id, json_type_string) || json_object_get_string_len(id) == 0) {
		api_error_set(e, 400, "invalid_value", "video",
			      "'video.id' must be a video id string. %s", hint);
		return -1;
	}
	src->id = json_object_get_string(id);
	return 0;
}

static const char *const seconds_allowed[] = { "4", "8", "12", "16", "20", NULL };

static int read_segment_seconds(struct json_object *fields, struct api_error *e)
{
	struct json_object *v = NULL;
	const char *hint = "Give the length of the new segment: 4, 8, 12, 16 or 20.";
	if (!json_object_object_get_ex(fields, "seconds", &v) || v == NULL) {
		api_error_set(e, 400, "missing_required_parameter", "seconds",
			      "Missing required parameter: 'seconds'. %s", hint);
		return -1;
	}
	char text[24] = "";
	if (json_object_is_type(v, json_type_int))
		snprintf(text, sizeof(text), "%lld", (long long)json_object_get_int64(v));
	else if (json_object_is_type(v, json_type_string) &&
		 json_object_get_string_len(v) < (int)sizeof(text))
		snprintf(text, sizeof(text), "%s", json_object_get_string(v));
	for (size_t i = 0; seconds_allowed[i]; i++)
		if (strcmp(text, seconds_allowed[i]) == 0)
			return atoi(text);
	api_error_set(e, 400, "invalid_value", "seconds", "'seconds' is not allowed here. %s",
		      hint);
	return -1;
}

/* load_source reads the caller's completed video src->id; another key's
 * video is answered exactly like a missing one (GET's 404). */
static int load_source(struct app *app, struct source *src, enum video_op op, const char *owner,
		       struct api_error *e)
{
	if (!id_video_valid(src->id, strlen(src->id))) {
		api_error_video_not_found(e, NULL);
		return -1;
	}
	enum rg_err err = store_video_get(app->st, src->id, &src->rec);
	if (err == RG_ENOENT || (err == RG_OK && !video_owned_by(src->rec, owner))) {
		api_error_video_not_found(e, src->id);
		return -1;
	}
	if (err != RG_OK) {
		api_error_from_rg(e, err);
		return -1;
	}
	const char *status = rec_str(src->rec, "status");
	if (status == NULL || strcmp(status, "completed") != 0) {
		api_error_set(
			e, 400, "invalid_value", "video",
			"Video '%s' must be completed before it can be %s; its status is %s. Poll it until it is completed.",
			src->id, op == OP_EDIT ? "edited" : "extended",
			status ? status : "unknown");
		return -1;
	}
	return 0;
}

/* derive is the flow edits and extensions share. */
static void derive(struct app *app, struct http_request *req, struct http_response *res,
		   const char *owner, enum video_op op)
{
	static const char *const edit_fields[] = { "prompt", "video", NULL };
	static const char *const extend_fields[] = { "prompt", "video", "seconds", NULL };
	const char *what =
		op == OP_EDIT
			? "A video edit takes 'prompt' and 'video' ({\"id\": \"video_...\"}, video[id] in a form, or a 'video' file part)."
			: "A video extension takes 'prompt', 'seconds' and 'video' ({\"id\": \"video_...\"}, video[id] in a form, or a 'video' file part).";
	struct api_error e;
	struct body b;
	struct source src = { NULL, NULL, NULL };
	const char *prompt;
	body_init(&b);
	if (read_body(app, req, &b, &e) < 0 ||
	    only_fields(b.fields, op == OP_EDIT ? edit_fields : extend_fields, what, &e) < 0 ||
	    read_text(b.fields, "prompt", 1, OPS_PROMPT_MAX, "Describe the change to make.",
		      &prompt, &e) < 0 ||
	    read_video_ref(&b, &src, what, &e) < 0 ||
	    (op == OP_EXTEND && read_segment_seconds(b.fields, &e) < 0) ||
	    (src.id != NULL && load_source(app, &src, op, owner, &e) < 0))
		goto fail;
	const char *name = src.rec ? rec_str(src.rec, "model") : app->cfg->default_model;
	const struct model_cfg *model = config_model(app->cfg, name ? name : "");
	if (model == NULL) {
		api_error_set(&e, 400, "model_not_found", "video",
			      "Video '%s' was made with a model that is no longer configured.",
			      src.id ? src.id : "(upload)");
		goto fail;
	}
	/* No backend runs these yet (model_supports says so for every one);
	 * the change that teaches one makes the job here. */
	api_error_set(&e, 400, "unsupported_operation", NULL, "The model '%s' does not support %s.",
		      model->name, op_nouns[op]);
	log_info("operation_unsupported", "req=%s owner=%s model=%s op=%s supported=%d",
		 req->request_id, owner, model->name, op_names[op],
		 model_supports(app->cfg, model, op));
fail:
	http_error(res, &e);
	json_object_put(src.rec);
	body_deinit(&b);
}

void ops_edit(struct app *app, struct http_request *req, struct http_response *res,
	      const char *owner)
{
	derive(app, req, res, owner, OP_EDIT);
}

void ops_extend(struct app *app, struct http_request *req, struct http_response *res,
		const char *owner)
{
	derive(app, req, res, owner, OP_EXTEND);
}

/* ---- characters ------------------------------------------------------------------- */

/* string_or_null: rec's string name as a new JSON value, or null. */
static struct json_object *string_or_null(struct json_object *rec, const char *name)
{
	const char *v = rec_str(rec, name);
	return v ? json_object_new_string(v) : NULL;
}

static void respond_character(struct http_response *res, struct json_object *rec)
{
	struct json_object *o = json_object_new_object();
	if (o != NULL) {
		json_object_object_add(o, "id", string_or_null(rec, "id"));
		json_object_object_add(o, "name", string_or_null(rec, "name"));
		json_object_object_add(o, "created_at",
				       json_object_new_int64(rec_i64(rec, "created_at")));
	}
	http_json(res, o);
	json_object_put(o);
}

/* keep_clip moves the uploaded clip to uploads/<id>.<ext>, synced, and
 * writes that path relative to data_dir into rel. */
static int keep_clip(struct app *app, struct body *b, const char *id, const char *ext, char *rel,
		     size_t reln)
{
	char path[8192];
	snprintf(rel, reln, "uploads/%s.%s", id, ext);
	snprintf(path, sizeof(path), "%s/%s", app->cfg->data_dir, rel);
	char *tmp = form_claim_file(&b->form, b->file);
	if (tmp == NULL)
		return -1;
	int rc = -1, fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fdatasync(fd);
		close(fd);
	}
	if (rc == 0)
		rc = rename(tmp, path);
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	if (rc == 0 && fsync_dir(app->uploads_dir) < 0) {
		unlink(path);
		rc = -1;
	}
	return rc;
}

void ops_character_create(struct app *app, struct http_request *req, struct http_response *res,
			  const char *owner)
{
	static const char *const fields[] = { "name", NULL };
	const char *what =
		"A character takes a 'video' file part (MP4, MOV or WebM) and a 'name' of 1 to 80 characters.";
	struct api_error e;
	struct body b;
	struct json_object *rec = NULL;
	const char *name, *ext;
	char id[ID_MAX], rel[128];
	body_init(&b);
	if (!http_content_type_is(req->content_type ? req->content_type : "",
				  "multipart/form-data")) {
		api_error_set(&e, 400, "invalid_body", NULL,
			      "POST /v1/videos/characters takes multipart/form-data only. %s",
			      what);
		goto fail;
	}
	if (read_body(app, req, &b, &e) < 0)
		goto fail;
	if (json_object_object_get_ex(b.fields, "video", NULL)) {
		api_error_set(&e, 400, "invalid_value", "video",
			      "'video' must be an uploaded file part, not a text field. %s", what);
		goto fail;
	}
	if (only_fields(b.fields, fields, what, &e) < 0 ||
	    read_text(b.fields, "name", 1, CHARACTER_NAME_MAX, what, &name, &e) < 0)
		goto fail;
	if (b.file == NULL) {
		api_error_set(&e, 400, "missing_required_parameter", "video",
			      "Missing required parameter: 'video'. %s", what);
		goto fail;
	}
	if ((ext = clip_type(b.file->path)) == NULL) {
		not_a_clip(&e);
		goto fail;
	}
	if (id_prefixed_new(id, sizeof(id), "char_", 16) < 0 ||
	    keep_clip(app, &b, id, ext, rel, sizeof(rel)) < 0) {
		log_error("character_store_failed", "req=%s errno=%d", req->request_id, errno);
		api_error_from_rg(&e, errno == ENOSPC || errno == EDQUOT ||
						      disk_nearly_full(app->uploads_dir)
					      ? RG_ESPACE
					      : RG_EIO);
		goto fail;
	}
	rec = json_object_new_object();
	json_object_object_add(rec, "id", json_object_new_string(id));
	json_object_object_add(rec, "name", json_object_new_string(name));
	json_object_object_add(rec, "created_at", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(rec, "owner", json_object_new_string(owner));
	json_object_object_add(rec, "path", json_object_new_string(rel));
	enum rg_err err = store_character_put(app->st, rec);
	if (err != RG_OK) {
		char path[8192];
		snprintf(path, sizeof(path), "%s/%s", app->cfg->data_dir, rel);
		unlink(path);
		log_error("store_failed", "req=%s err=\"%s\"", req->request_id, rg_strerror(err));
		api_error_from_rg(&e, err);
		goto fail;
	}
	log_info("character_created", "req=%s character=%s owner=%s", req->request_id, id, owner);
	respond_character(res, rec);
	json_object_put(rec);
	body_deinit(&b);
	return;
fail:
	http_error(res, &e);
	json_object_put(rec);
	body_deinit(&b);
}

void ops_character_get(struct app *app, struct http_response *res, const struct route_match *m,
		       const char *owner)
{
	struct api_error e;
	struct json_object *rec = NULL;
	if (!m->id_valid) {
		api_error_set(
			&e, 404, "not_found", "character_id",
			"No character found with that id: ids look like char_ followed by letters and digits.");
		http_error(res, &e);
		return;
	}
	enum rg_err err = store_character_get(app->st, m->id, &rec);
	/* Another key's character is answered exactly like a missing one. */
	if (err == RG_ENOENT || (err == RG_OK && !video_owned_by(rec, owner))) {
		api_error_set(&e, 404, "not_found", "character_id",
			      "No character found with id '%s'.", m->id);
		http_error(res, &e);
	} else if (err != RG_OK) {
		api_error_from_rg(&e, err);
		http_error(res, &e);
	} else {
		respond_character(res, rec);
	}
	json_object_put(rec);
}
