/*
 * ops: edits, extensions and characters (ops.h).  An edit or an extension
 * is validated in full — fields, the source (the caller's completed
 * video, a clip uploaded with the request, or a Files API file) — then
 * the model's backends are asked whether they run the operation and can
 * start from that source; a job is made like a create's, its record
 * carrying rec.op, params.source (the source clip, hard-linked under
 * uploads/ so that deleting the source later leaves the job its input)
 * and, for an extension, params.segment_seconds.  A character is a short
 * clip and a name, stored under uploads/ with its first frame as a PNG
 * and in the store's "characters"; a create names characters in
 * metadata.character_ids, which become params.references.
 */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "body.h"
#include "codec.h"
#include "files.h"
#include "id.h"
#include "log.h"
#include "media.h"
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

int model_runs(const struct config *cfg, const struct model_cfg *model, unsigned want)
{
	if (model == NULL || model->nbackends == 0)
		return 0;
	for (size_t i = 0; i < model->nbackends; i++) {
		const struct backend_cfg *b = config_backend(cfg, model->backends[i].backend);
		if ((backend_ops(b, &model->backends[i]) & want) != want)
			return 0;
	}
	return 1;
}

unsigned ops_wanted(struct json_object *rec)
{
	const char *op = rec_str(rec, "op");
	unsigned want = 0;
	if (op != NULL)
		want |= strcmp(op, "edit") == 0	    ? BOP_EDIT
			: strcmp(op, "extend") == 0 ? BOP_EXTEND
						    : ~0u;
	if (rec_obj(rec, "params") &&
	    json_object_object_get_ex(rec_obj(rec, "params"), "references", NULL))
		want |= BOP_REFERENCES;
	return want;
}

static unsigned op_bit(enum video_op op)
{
	return op == OP_EDIT ? BOP_EDIT : op == OP_EXTEND ? BOP_EXTEND : 0;
}

int model_supports(const struct config *cfg, const struct model_cfg *model, enum video_op op)
{
	if (model == NULL || model->nbackends == 0)
		return 0;
	if (op == OP_CREATE || op == OP_REMIX)
		return 1;
	return op_bit(op) != 0 && model_runs(cfg, model, op_bit(op));
}

struct json_object *model_operations_json(const struct config *cfg, const struct model_cfg *model)
{
	struct json_object *a = json_object_new_array();
	for (int op = 0; a != NULL && op < OP_COUNT; op++)
		if (model_supports(cfg, model, (enum video_op)op))
			json_object_array_add(a, json_object_new_string(op_names[op]));
	if (a != NULL && model_runs(cfg, model, BOP_REFERENCES))
		json_object_array_add(a, json_object_new_string("characters"));
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

/* The source of an edit or an extension: a stored video, an upload or a
 * Files API file. */
struct source {
	const char *id;		 /* video id, borrowed from the fields, or NULL */
	const char *file_id;	 /* Files API id, borrowed, or NULL */
	const char *clip_ext;	 /* an upload's or a file's type, or NULL */
	struct json_object *rec; /* the stored video (owned), or NULL */
	char path[8192];	 /* the clip a job links to */
};

static int read_video_ref(struct body *b, struct source *src, const char *hint, struct api_error *e)
{
	struct json_object *v = NULL;
	json_object_object_get_ex(b->fields, "video", &v);
	if (b->file != NULL) {
		if (v != NULL) {
			api_error_set(e, 400, "invalid_value", "video",
				      "Send 'video' once: a file part or a reference, not both. %s",
				      hint);
			return -1;
		}
		src->clip_ext = clip_type(b->file->path);
		return src->clip_ext ? 0 : not_a_clip(e);
	}
	if (v == NULL) {
		api_error_set(e, 400, "missing_required_parameter", "video",
			      "Missing required parameter: 'video'. %s", hint);
		return -1;
	}
	struct json_object *id = v;
	const char *key = "id";
	if (json_object_is_type(v, json_type_object)) {
		int n = 0;
		json_object_object_foreach(v, k, x) {
			(void)x;
			n++;
			if (strcmp(k, "id") != 0 && strcmp(k, "file_id") != 0) {
				api_error_set(e, 400, "unknown_parameter", "video",
					      "Unknown parameter: 'video.%.100s'. %s", k, hint);
				return -1;
			}
			key = k;
		}
		if (n != 1) {
			api_error_set(
				e, 400, n == 0 ? "missing_required_parameter" : "invalid_value",
				"video",
				"'video' takes exactly one of 'id' (a completed video) and 'file_id' (a Files API upload). %s",
				hint);
			return -1;
		}
		json_object_object_get_ex(v, key, &id);
	}
	if (!json_object_is_type(id, json_type_string) || json_object_get_string_len(id) == 0) {
		api_error_set(e, 400, "invalid_value", "video",
			      "'video.%s' must be an id string. %s", key, hint);
		return -1;
	}
	if (strcmp(key, "file_id") == 0)
		src->file_id = json_object_get_string(id);
	else
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
	const char *rel = rec_str(rec_obj(src->rec, "files"), "video");
	if (rel == NULL || strncmp(rel, "content/", 8) != 0 || strstr(rel, "..") != NULL) {
		/* completed but its content is gone (expired) */
		api_error_set(e, 400, "invalid_value", "video",
			      "Video '%s' has no stored content any more (it expired).", src->id);
		return -1;
	}
	snprintf(src->path, sizeof(src->path), "%s/%s", app->cfg->data_dir, rel);
	return 0;
}

/* unsupported names the models that can run op in the refusal. */
static void unsupported(const struct config *cfg, const struct model_cfg *model, enum video_op op,
			struct api_error *e)
{
	char list[512] = "";
	size_t at = 0;
	for (size_t i = 0; i < cfg->nmodels && at < sizeof(list) - 1; i++)
		if (model_supports(cfg, &cfg->models[i], op))
			at += (size_t)snprintf(list + at, sizeof(list) - at, "%s'%s'",
					       at ? ", " : "", cfg->models[i].name);
	if (at >= sizeof(list))
		at = sizeof(list) - 1;
	api_error_set(e, 400, "unsupported_operation", NULL,
		      "The model '%s' does not support %s. %s%s", model->name, op_nouns[op],
		      at ? "Models on this server that do: " : "No model on this server does.",
		      list);
}

/* source_refused asks each backend of model whether it can start op from
 * the source (a stored video's record, or NULL for a clip). */
static int source_refused(const struct config *cfg, const struct model_cfg *model, enum video_op op,
			  struct json_object *rec, struct api_error *e)
{
	for (size_t i = 0; i < model->nbackends; i++) {
		const struct backend_cfg *b = config_backend(cfg, model->backends[i].backend);
		char why[400] = "";
		if (b && b->module && b->module->source_ok &&
		    b->module->source_ok(b, &model->backends[i], op_bit(op), rec, why,
					 sizeof(why)) < 0) {
			api_error_set(e, 400, "invalid_value", "video",
				      "The model '%s' cannot %s this video: %s", model->name,
				      op == OP_EDIT ? "edit" : "extend", why);
			return -1;
		}
	}
	return 0;
}

/* job_refused asks each backend of model whether it runs the job s as
 * asked (backend_type.fits; param names the field a refusal is about).
 * An extension's segment may come back at the length the upstream makes:
 * the record then carries that length, and metadata.ignored_params says
 * "seconds" was not honoured as asked (a 400 under strict_params). */
static int job_refused(const struct config *cfg, const struct model_cfg *model,
		       struct video_spec *s, const char *param, struct api_error *e)
{
	int asked = s->segment_seconds, made = -1, strict = 0;
	for (size_t i = 0; i < model->nbackends; i++) {
		const struct backend_cfg *b = config_backend(cfg, model->backends[i].backend);
		char why[400] = "";
		int seg = asked;
		if (b == NULL || b->module == NULL || b->module->fits == NULL)
			continue;
		strict |= b->strict_params;
		if (b->module->fits(b, &model->backends[i], s, asked > 0 ? &seg : NULL, why,
				    sizeof(why)) < 0) {
			api_error_set(e, 400, "unsupported_value", param,
				      "The model '%s' cannot run this request: %s", model->name,
				      why);
			return -1;
		}
		if (made >= 0 && seg != made) {
			api_error_set(
				e, 400, "unsupported_value", param,
				"The model '%s' has backends that extend by different lengths (%d and %d seconds); it cannot promise one.",
				model->name, made, seg);
			return -1;
		}
		made = seg;
	}
	if (asked <= 0 || made < 0 || made == asked)
		return 0;
	if (strict) {
		api_error_set(
			e, 400, "unsupported_value", "seconds",
			"The model '%s' adds %d seconds per extension, not %d; send the length it makes or choose another model.",
			model->name, made, asked);
		return -1;
	}
	s->seconds += made - asked;
	s->segment_seconds = made;
	if (s->metadata == NULL)
		s->metadata = json_object_new_object();
	struct json_object *list = json_object_new_array();
	json_object_array_add(list, json_object_new_string("seconds"));
	json_object_object_add(s->metadata, "ignored_params", list);
	return 0;
}

/* segment_ignored: does a backend of model name the extension's length
 * (s->segment_seconds) among what it cannot honour? */
static int segment_ignored(const struct config *cfg, const struct model_cfg *model,
			   const struct video_spec *s)
{
	for (size_t i = 0; i < model->nbackends; i++) {
		const char *out[17];
		backend_ignored(config_backend(cfg, model->backends[i].backend),
				&model->backends[i], s, out);
		for (size_t j = 0; out[j]; j++)
			if (strcmp(out[j], "seconds") == 0)
				return 1;
	}
	return 0;
}

/* length_refused: an extension's length is never changed silently.  A
 * backend that can make only some lengths names the others with
 * `unsupported`; the caller is told which lengths the model makes. */
static int length_refused(const struct config *cfg, const struct model_cfg *model,
			  struct video_spec *s, struct api_error *e)
{
	int asked = s->segment_seconds;
	if (!segment_ignored(cfg, model, s))
		return 0;
	char made[64] = "";
	size_t at = 0;
	for (size_t i = 0; seconds_allowed[i] && at < sizeof(made); i++) {
		s->segment_seconds = atoi(seconds_allowed[i]);
		if (!segment_ignored(cfg, model, s))
			at += (size_t)snprintf(made + at, sizeof(made) - at, "%s%s", at ? ", " : "",
					       seconds_allowed[i]);
	}
	s->segment_seconds = asked;
	api_error_set(e, 400, "unsupported_value", "seconds",
		      "The model '%s' cannot make a video extension of %d seconds. %s%s",
		      model->name, asked,
		      at ? "Send 'seconds' as one of: " : "It makes no length that can be asked.",
		      made);
	return -1;
}

/* describe_source fills s (size, length, fps) and s->source from the
 * stored video or, for a clip, from ffprobe. */
static int describe_source(struct app *app, struct source *src, struct video_spec *s,
			   struct api_error *e)
{
	struct json_object *o = json_object_new_object();
	s->source = o;
	if (o == NULL) {
		api_error_from_rg(e, RG_ENOMEM);
		return -1;
	}
	if (src->rec != NULL) {
		struct json_object *p = rec_obj(src->rec, "params"), *v;
		s->width = (int)rec_i64(p, "width");
		s->height = (int)rec_i64(p, "height");
		s->seconds = (int)rec_i64(p, "seconds");
		s->fps = (int)rec_i64(p, "fps");
		json_object_object_add(o, "video_id", json_object_new_string(src->id));
		json_object_object_add(o, "ext", json_object_new_string("mp4"));
		if (rec_str(src->rec, "prompt"))
			json_object_object_add(o, "prompt",
					       json_object_new_string(rec_str(src->rec, "prompt")));
		if (json_object_object_get_ex(src->rec, "remote", &v) &&
		    json_object_is_type(v, json_type_object))
			json_object_object_add(o, "remote", json_object_get(v));
	} else {
		struct media_info mi;
		char why[200];
		if (media_probe(app->cfg->ffmpeg, src->path, &mi, why, sizeof(why)) < 0) {
			api_error_set(
				e, 400, "invalid_value", "video",
				"The uploaded 'video' cannot be used: %s. Send an MP4, MOV or WebM clip.",
				why);
			return -1;
		}
		/* even sizes (what H.264 encoders take), whole seconds */
		s->width = mi.width & ~1;
		s->height = mi.height & ~1;
		s->seconds = (int)(mi.seconds + 0.5);
		if (s->seconds < 1)
			s->seconds = 1;
		s->fps = 0; /* the model's default, set by derive */
		json_object_object_add(o, "ext", json_object_new_string(src->clip_ext));
		if (src->file_id)
			json_object_object_add(o, "file_id", json_object_new_string(src->file_id));
	}
	if (s->width <= 0 || s->height <= 0 || s->seconds <= 0) {
		api_error_set(e, 400, "invalid_value", "video",
			      "The source video's size or length is unknown.");
		return -1;
	}
	json_object_object_add(o, "seconds", json_object_new_int(s->seconds));
	json_object_object_add(o, "width", json_object_new_int(s->width));
	json_object_object_add(o, "height", json_object_new_int(s->height));
	return 0;
}

static int keep_clip(struct app *app, struct body *b, const char *id, const char *ext, char *rel,
		     size_t reln);

/* keep_source links (a stored video, a file) or moves (an upload) the
 * source clip to uploads/src_<token>.<ext>, synced, and notes its path
 * relative to data_dir in s->source.path; abs receives the full path. */
static int keep_source(struct app *app, struct body *b, struct source *src, struct video_spec *s,
		       char *abs, size_t absn, struct api_error *e)
{
	char token[40], rel[96];
	const char *ext = rec_str(s->source, "ext");
	int rc = id_prefixed_new(token, sizeof(token), "src_", 16);
	if (rc == 0 && b->file != NULL) {
		rc = keep_clip(app, b, token, ext, rel, sizeof(rel));
	} else if (rc == 0) {
		snprintf(rel, sizeof(rel), "uploads/%s.%s", token, ext ? ext : "mp4");
		snprintf(abs, absn, "%s/%s", app->cfg->data_dir, rel);
		rc = link(src->path, abs);
		if (rc == 0 && fsync_dir(app->uploads_dir) < 0) {
			unlink(abs);
			rc = -1;
		}
	}
	if (rc < 0) {
		log_error("source_store_failed", "errno=%d", errno);
		api_error_from_rg(e, errno == ENOSPC || errno == EDQUOT ||
						     disk_nearly_full(app->uploads_dir)
					     ? RG_ESPACE
					     : RG_EIO);
		abs[0] = '\0';
		return -1;
	}
	snprintf(abs, absn, "%s/%s", app->cfg->data_dir, rel);
	json_object_object_add(s->source, "path", json_object_new_string(rel));
	return 0;
}

/* derive is the flow edits and extensions share. */
static void derive(struct app *app, struct http_request *req, struct http_response *res,
		   const char *owner, const struct key_limits *lim, const char *base_url,
		   enum video_op op)
{
	static const char *const edit_fields[] = { "prompt", "video", "callback_url", NULL };
	static const char *const extend_fields[] = { "prompt", "video", "seconds", "callback_url",
						     NULL };
	const char *what =
		op == OP_EDIT
			? "A video edit takes 'prompt' and 'video' ({\"id\": \"video_...\"}, video[id] in a form, or a 'video' file part)."
			: "A video extension takes 'prompt', 'seconds' and 'video' ({\"id\": \"video_...\"}, video[id] in a form, or a 'video' file part).";
	struct api_error e;
	struct body b;
	struct video_spec s;
	struct source src;
	const char *prompt;
	char kept[8192] = "";
	int segment = 0;
	memset(&src, 0, sizeof(src));
	body_init(&b);
	video_spec_init(&s);
	if (api_idempotency_check(req, &e) < 0 || read_body(app, req, &b, &e) < 0 ||
	    only_fields(b.fields, op == OP_EDIT ? edit_fields : extend_fields, what, &e) < 0 ||
	    read_text(b.fields, "prompt", 1, OPS_PROMPT_MAX, "Describe the change to make.",
		      &prompt, &e) < 0 ||
	    read_video_ref(&b, &src, what, &e) < 0 ||
	    (op == OP_EXTEND && (segment = read_segment_seconds(b.fields, &e)) < 0) ||
	    validate_callback_url(b.fields, &s, &e) < 0 ||
	    (src.id != NULL && load_source(app, &src, op, owner, &e) < 0))
		goto fail;
	if (src.file_id != NULL) {
		if (files_path(app, owner, src.file_id, "video", "video", src.path,
			       sizeof(src.path), &e) < 0)
			goto fail;
		if ((src.clip_ext = clip_type(src.path)) == NULL) {
			api_error_set(
				&e, 400, "invalid_value", "video",
				"File '%.64s' is not a video file: upload an MP4, MOV or WebM clip.",
				src.file_id);
			goto fail;
		}
	} else if (b.file != NULL) {
		snprintf(src.path, sizeof(src.path), "%s", b.file->path);
	}
	const char *name = src.rec ? rec_str(src.rec, "model") : app->cfg->default_model;
	const struct model_cfg *model = config_model(app->cfg, name ? name : "");
	if (model == NULL) {
		api_error_set(&e, 400, "model_not_found", "video",
			      "Video '%s' was made with a model that is no longer configured.",
			      src.id ? src.id : "(upload)");
		goto fail;
	}
	if (!model_supports(app->cfg, model, op)) {
		unsupported(app->cfg, model, op, &e);
		log_info("operation_unsupported", "req=%s owner=%s model=%s op=%s", req->request_id,
			 owner, model->name, op_names[op]);
		goto fail;
	}
	if (source_refused(app->cfg, model, op, src.rec, &e) < 0 ||
	    describe_source(app, &src, &s, &e) < 0)
		goto fail;
	s.prompt = strdup(prompt);
	if (s.prompt == NULL) {
		api_error_from_rg(&e, RG_ENOMEM);
		goto fail;
	}
	s.model = model;
	if (s.fps <= 0)
		s.fps = model->default_fps > 0 ? model->default_fps : 24;
	s.n = 1;
	s.op = op_names[op];
	if (op == OP_EXTEND) {
		s.segment_seconds = segment;
		s.seconds += segment;
		if (length_refused(app->cfg, model, &s, &e) < 0)
			goto fail;
	}
	if (job_refused(app->cfg, model, &s, op == OP_EXTEND ? "seconds" : "video", &e) < 0)
		goto fail;
	if (keep_source(app, &b, &src, &s, kept, sizeof(kept), &e) < 0)
		goto fail;
	if (api_insert_videos(app, req, res, owner, lim, &s, &b, base_url, NULL) < 0)
		unlink(kept);
	goto out;
fail:
	http_error(res, &e);
out:
	json_object_put(src.rec);
	video_spec_deinit(&s);
	body_deinit(&b);
}

void ops_edit(struct app *app, struct http_request *req, struct http_response *res,
	      const char *owner, const struct key_limits *lim, const char *base_url)
{
	derive(app, req, res, owner, lim, base_url, OP_EDIT);
}

void ops_extend(struct app *app, struct http_request *req, struct http_response *res,
		const char *owner, const struct key_limits *lim, const char *base_url)
{
	derive(app, req, res, owner, lim, base_url, OP_EXTEND);
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
	struct media_info mi;
	char why[200];
	if (media_probe(app->cfg->ffmpeg, b.file->path, &mi, why, sizeof(why)) < 0) {
		api_error_set(&e, 400, "invalid_value", "video",
			      "The uploaded 'video' cannot be used: %s. %s", why, what);
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
	/* its first frame, for backends that take reference images */
	char clip[8192], still[8192], still_rel[128];
	snprintf(clip, sizeof(clip), "%s/%s", app->cfg->data_dir, rel);
	snprintf(still_rel, sizeof(still_rel), "uploads/%s.png", id);
	snprintf(still, sizeof(still), "%s/%s", app->cfg->data_dir, still_rel);
	if (media_still(app->cfg->ffmpeg, clip, still) < 0 || fsync_dir(app->uploads_dir) < 0) {
		unlink(clip);
		api_error_set(&e, 400, "invalid_value", "video",
			      "The uploaded 'video' has no frame that can be read. %s", what);
		goto fail;
	}
	rec = json_object_new_object();
	json_object_object_add(rec, "id", json_object_new_string(id));
	json_object_object_add(rec, "name", json_object_new_string(name));
	json_object_object_add(rec, "created_at", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(rec, "owner", json_object_new_string(owner));
	json_object_object_add(rec, "path", json_object_new_string(rel));
	json_object_object_add(rec, "image", json_object_new_string(still_rel));
	json_object_object_add(rec, "width", json_object_new_int(mi.width));
	json_object_object_add(rec, "height", json_object_new_int(mi.height));
	json_object_object_add(rec, "seconds", json_object_new_double(mi.seconds));
	enum rg_err err = store_character_put(app->st, rec);
	if (err != RG_OK) {
		unlink(clip);
		unlink(still);
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

/* ---- characters as reference inputs ----------------------------------------------- */

#define REFERENCES_MAX 4

/* refs_error fills e with a 400 about metadata.character_ids; -1. */
#define refs_error(e, code, ...)                                                                   \
	(api_error_set((e), 400, (code), "metadata.character_ids", __VA_ARGS__), -1)

int ops_references(struct app *app, const char *owner, struct video_spec *s, struct api_error *e)
{
	const char *hint =
		"Give up to 4 ids of your characters (POST /v1/videos/characters), separated by commas.";
	struct json_object *v = NULL;
	if (s->metadata == NULL || !json_object_object_get_ex(s->metadata, "character_ids", &v) ||
	    v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return refs_error(e, "invalid_value",
				  "'metadata.character_ids' must be a string. %s%s", hint, "");
	char list[512];
	if (json_object_get_string_len(v) >= (int)sizeof(list))
		return refs_error(e, "invalid_value", "'metadata.character_ids' is too long. %s%s",
				  hint, "");
	snprintf(list, sizeof(list), "%s", json_object_get_string(v));
	if (s->model == NULL || !model_runs(app->cfg, s->model, BOP_REFERENCES)) {
		char models[400] = "";
		size_t at = 0;
		for (size_t i = 0; i < app->cfg->nmodels && at < sizeof(models) - 1; i++)
			if (model_runs(app->cfg, &app->cfg->models[i], BOP_REFERENCES))
				at += (size_t)snprintf(models + at, sizeof(models) - at, "%s'%s'",
						       at ? ", " : "", app->cfg->models[i].name);
		return refs_error(e, "unsupported_operation",
				  "The model '%s' does not take characters as reference inputs. %s",
				  s->model ? s->model->name : "?",
				  at ? models : "No model on this server does.");
	}
	struct json_object *refs = json_object_new_array();
	if (refs == NULL) {
		api_error_from_rg(e, RG_ENOMEM);
		return -1;
	}
	int rc = 0;
	char *save = NULL;
	for (char *id = strtok_r(list, ", \t", &save); id && rc == 0;
	     id = strtok_r(NULL, ", \t", &save)) {
		if (json_object_array_length(refs) >= REFERENCES_MAX) {
			rc = refs_error(
				e, "invalid_value",
				"'metadata.character_ids' names more than 4 characters. %s%s", hint,
				"");
			break;
		}
		for (size_t i = 0; i < json_object_array_length(refs); i++)
			if (strcmp(rec_str(json_object_array_get_idx(refs, i), "id"), id) == 0)
				rc = refs_error(e, "invalid_value",
						"'metadata.character_ids' names '%.60s' twice.%s",
						id, "");
		struct json_object *c = NULL;
		enum rg_err err = rc < 0 ? RG_OK
				  : id_character_valid(id, strlen(id))
					  ? store_character_get(app->st, id, &c)
					  : RG_ENOENT;
		if (rc < 0)
			break;
		if (err == RG_ENOENT || (err == RG_OK && !video_owned_by(c, owner))) {
			rc = refs_error(e, "invalid_value",
					"No character found with id '%.60s'. %s", id, hint);
		} else if (err != RG_OK) {
			api_error_from_rg(e, err);
			rc = -1;
		} else if (rec_str(c, "image") == NULL) {
			rc = refs_error(
				e, "invalid_value",
				"Character '%.60s' has no reference image; create it again.%s", id,
				"");
		} else {
			struct json_object *r = json_object_new_object();
			json_object_object_add(r, "id", json_object_new_string(id));
			if (rec_str(c, "name"))
				json_object_object_add(r, "name",
						       json_object_new_string(rec_str(c, "name")));
			json_object_object_add(r, "video",
					       json_object_new_string(rec_str(c, "path")));
			json_object_object_add(r, "image",
					       json_object_new_string(rec_str(c, "image")));
			json_object_array_add(refs, r);
		}
		json_object_put(c);
	}
	if (rc == 0 && json_object_array_length(refs) == 0)
		rc = refs_error(e, "invalid_value",
				"'metadata.character_ids' names no character. %s%s", hint, "");
	if (rc < 0) {
		json_object_put(refs);
		return -1;
	}
	s->references = refs;
	return job_refused(app->cfg, s->model, s, "metadata.character_ids", e);
}
