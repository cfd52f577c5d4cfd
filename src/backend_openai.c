/*
 * backend_openai: any OpenAI-compatible /v1/videos upstream (OpenAI, an
 * Azure-style deployment whose base_url carries the path prefix, another
 * gateway, another reelgate).  Create is sent as multipart (what the
 * OpenAI SDKs send) or JSON per config, with our video id as the
 * Idempotency-Key; a remix of a video made on the same upstream goes to its
 * remix endpoint.  Edits and extensions go to the upstream's own
 * /videos/edits and /videos/extensions: a source this upstream made (and
 * still holds) is named by its id, any other is uploaded as the clip.  A
 * submit of unknown outcome is looked for in the upstream's list (same
 * prompt, created after our intent).
 */
#include "backend_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "id.h"

struct openai_state {
	char api_key[512];
};

static const char *const openai_keys[] = { "api_key", "api_key_env", "auth", "encoding", NULL };

static int openai_check(struct confcheck *c, struct json_object *o, const char *key)
{
	static const char *const auths[] = { "bearer", "api-key", NULL };
	static const char *const encodings[] = { "multipart", "json", NULL };
	char k2[320];
	const char *v = NULL;
	if (cc_secret(c, o, key, "api_key") < 0)
		return -1;
	snprintf(k2, sizeof(k2), "%s.auth", key);
	if (cc_choice(c, o, "auth", k2, auths,
		      "must be \"bearer\" (Authorization: Bearer) or \"api-key\" (Azure)", &v) < 0)
		return -1;
	snprintf(k2, sizeof(k2), "%s.encoding", key);
	return cc_choice(c, o, "encoding", k2, encodings, "must be \"multipart\" or \"json\"", &v);
}

static int openai_init(struct backend *b, char *err, size_t errlen)
{
	struct openai_state *st = b->state;
	return backend_need_secret(b->cfg, "api_key", st->api_key, sizeof(st->api_key), err,
				   errlen);
}

static const char *cfg_str(const struct backend *b, const char *name, const char *def)
{
	const char *v = rec_str(b->cfg->raw, name);
	return v ? v : def;
}

static void auth(const struct backend *b, struct http_req *req)
{
	const struct openai_state *st = b->state;
	if (strcmp(cfg_str(b, "auth", "bearer"), "api-key") == 0) {
		http_req_secret_header(req, "api-key", st->api_key);
	} else {
		char v[600];
		snprintf(v, sizeof(v), "Bearer %s", st->api_key);
		http_req_secret_header(req, "Authorization", v);
	}
}

/* part appends one multipart text field. */
static void part(struct buf *b, const char *boundary, const char *name, const char *value)
{
	buf_printf(b, "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n", boundary,
		   name);
	buf_puts(b, value);
	buf_puts(b, "\r\n");
}

/* file_part appends the file at path as the multipart file part field,
 * named filename and typed type. */
static int file_part(struct buf *b, const char *boundary, const char *field, const char *path,
		     const char *filename, const char *type)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	buf_printf(b,
		   "--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
		   "filename=\"%s\"\r\nContent-Type: %s\r\n\r\n",
		   boundary, field, filename, type);
	char chunk[65536];
	ssize_t n;
	int rc = 0;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(b, chunk, (size_t)n) < 0)
			rc = -1;
	close(fd);
	buf_puts(b, "\r\n");
	return n < 0 ? -1 : rc;
}

static int image_part(struct buf *b, const char *boundary, const char *path)
{
	const char *ext = strrchr(path, '.');
	const char *type = ext && strcmp(ext, ".png") == 0    ? "image/png"
			   : ext && strcmp(ext, ".webp") == 0 ? "image/webp"
							      : "image/jpeg";
	char filename[32];
	snprintf(filename, sizeof(filename), "input%.8s", ext ? ext : "");
	return file_part(b, boundary, "input_reference", path, filename, type);
}

/* multipart_start makes a boundary and sets the Content-Type; -1 when no
 * random boundary could be made. */
static int multipart_start(struct http_req *req, char *boundary, size_t n)
{
	char ctype[96];
	if (id_prefixed_new(boundary, n, "reelgate-", 12) < 0)
		return -1;
	snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%s", boundary);
	http_req_header(req, "Content-Type", ctype);
	return 0;
}

static int create_request(struct backend *bc, const struct model_backend *mb,
			  struct json_object *rec, struct http_req *req, struct remote_answer *ans)
{
	const char *base = bc->cfg->base_url;
	char seconds[16], size[32], image_path[4200];
	snprintf(seconds, sizeof(seconds), "%d", remote_param_int(rec, "seconds", 4));
	snprintf(size, sizeof(size), "%dx%d", remote_param_int(rec, "width", 720),
		 remote_param_int(rec, "height", 1280));
	const char *prompt = json_object_get_string(json_object_object_get(rec, "prompt"));
	const char *model = mb->model
				    ? mb->model
				    : json_object_get_string(json_object_object_get(rec, "model"));
	const char *url = remote_image_url(rec);
	const char *path = remote_image_path(bc->data_dir, rec, image_path, sizeof(image_path));
	snprintf(req->method, sizeof(req->method), "POST");
	snprintf(req->url, sizeof(req->url), "%s/videos", base);
	if (strcmp(cfg_str(bc, "encoding", "multipart"), "json") == 0) {
		struct json_object *b = json_object_new_object();
		json_object_object_add(b, "prompt", json_object_new_string(prompt));
		json_object_object_add(b, "model", json_object_new_string(model));
		json_object_object_add(b, "seconds", json_object_new_string(seconds));
		json_object_object_add(b, "size", json_object_new_string(size));
		if (url || path) {
			char *data = NULL;
			if (url == NULL) {
				char *b64 = remote_image_b64(bc->data_dir, rec, 20u << 20);
				const char *ext = strrchr(path, '.');
				size_t n = b64 ? strlen(b64) + 40 : 0;
				data = b64 ? malloc(n) : NULL;
				if (data)
					snprintf(data, n, "data:image/%s;base64,%s",
						 ext && strcmp(ext, ".jpg") == 0 ? "jpeg"
						 : ext				 ? ext + 1
										 : "png",
						 b64);
				free(b64);
			}
			struct json_object *ref = json_object_new_object();
			json_object_object_add(ref, "image_url",
					       json_object_new_string(url    ? url
								      : data ? data
									     : ""));
			json_object_object_add(b, "input_reference", ref);
			free(data);
		}
		buf_puts(&req->body,
			 json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(b);
		http_req_header(req, "Content-Type", "application/json");
	} else {
		char boundary[48];
		if (multipart_start(req, boundary, sizeof(boundary)) < 0)
			return -1;
		part(&req->body, boundary, "prompt", prompt);
		part(&req->body, boundary, "model", model);
		part(&req->body, boundary, "seconds", seconds);
		part(&req->body, boundary, "size", size);
		if (url)
			part(&req->body, boundary, "input_reference[image_url]", url);
		else if (path && image_part(&req->body, boundary, path) < 0) {
			ans->verdict = RV_FAIL;
			snprintf(ans->code, sizeof(ans->code), "invalid_image");
			snprintf(ans->message, sizeof(ans->message),
				 "The stored input image cannot be read.");
			return -1;
		}
		buf_printf(&req->body, "--%s--\r\n", boundary);
	}
	return 0;
}

/* fail fills a refusal of the task (build returns -1 with it). */
static int fail(struct remote_answer *ans, const char *code, const char *message)
{
	ans->verdict = RV_FAIL;
	snprintf(ans->code, sizeof(ans->code), "%s", code);
	snprintf(ans->message, sizeof(ans->message), "%s", message);
	return -1;
}

/* An upstream forgets a video at its expires_at (kept at completion as
 * upstream_expires_at); a source this close to it is uploaded instead. */
#define REF_MARGIN_S 60
/* Our requests are at most 64 MiB (http_req_init); the rest of the
 * multipart body fits in what is left. */
#define UPLOAD_MAX ((60u << 20))

/* source_ref: the upstream's id of an edit's or extension's source when
 * this backend made it and the upstream still holds it; NULL: upload it. */
static const char *source_ref(const struct backend *bc, struct json_object *source)
{
	struct json_object *remote = rec_obj(source, "remote");
	const char *made_by = rec_str(remote, "backend"), *id = rec_str(remote, "upstream_id");
	const char *exp = rec_str(remote, "upstream_expires_at");
	if (made_by == NULL || strcmp(made_by, bc->cfg->name) != 0 || id == NULL || id[0] == '\0')
		return NULL;
	if (exp != NULL && atoll(exp) - REF_MARGIN_S <= (long long)time(NULL))
		return NULL;
	return id;
}

/* clip_part appends the source clip (params.source.path) as the file part
 * "video". */
static int clip_part(struct backend *bc, struct json_object *source, const char *boundary,
		     struct http_req *req, struct remote_answer *ans)
{
	const char *rel = rec_str(source, "path"), *ext = rec_str(source, "ext");
	char path[4200], filename[32];
	struct stat st;
	if (rel == NULL || strncmp(rel, "uploads/", 8) != 0 || strstr(rel, "..") != NULL)
		return fail(ans, "invalid_task", "The task has no source clip to send.");
	if (ext == NULL || (strcmp(ext, "mov") != 0 && strcmp(ext, "webm") != 0))
		ext = "mp4";
	snprintf(path, sizeof(path), "%s/%s", bc->data_dir, rel);
	if (stat(path, &st) < 0)
		return fail(ans, "storage_error", "The stored source clip cannot be read.");
	if ((size_t)st.st_size > UPLOAD_MAX)
		return fail(
			ans, "unsupported_value",
			"The source clip is too large to upload to the upstream (over 60 MiB).");
	snprintf(filename, sizeof(filename), "source.%s", ext);
	if (file_part(&req->body, boundary, "video", path, filename,
		      strcmp(ext, "webm") == 0	? "video/webm"
		      : strcmp(ext, "mov") == 0 ? "video/quicktime"
						: "video/mp4") < 0)
		return fail(ans, "storage_error", "The stored source clip cannot be read.");
	return 0;
}

/* derived_request: an edit or an extension (rec.op), for the upstream's
 * POST /videos/edits or /videos/extensions.  They take no model and no
 * size: the upstream keeps the source's. */
static int derived_request(struct backend *bc, struct json_object *rec, int extend,
			   struct http_req *req, struct remote_answer *ans)
{
	struct json_object *params = rec_obj(rec, "params"), *source = rec_obj(params, "source");
	const char *prompt = rec_str(rec, "prompt"), *ref = source_ref(bc, source);
	int64_t segment = rec_i64(params, "segment_seconds");
	char seconds[24];
	if (prompt == NULL || source == NULL || (extend && segment <= 0))
		return fail(ans, "invalid_task", "The task record lacks its prompt or its source.");
	snprintf(seconds, sizeof(seconds), "%lld", (long long)segment);
	snprintf(req->method, sizeof(req->method), "POST");
	snprintf(req->url, sizeof(req->url), "%s/videos/%s", bc->cfg->base_url,
		 extend ? "extensions" : "edits");
	if (ref != NULL && strcmp(cfg_str(bc, "encoding", "multipart"), "json") == 0) {
		struct json_object *b = json_object_new_object(), *v = json_object_new_object();
		json_object_object_add(b, "prompt", json_object_new_string(prompt));
		json_object_object_add(v, "id", json_object_new_string(ref));
		json_object_object_add(b, "video", v);
		if (extend)
			json_object_object_add(b, "seconds", json_object_new_string(seconds));
		buf_puts(&req->body,
			 json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(b);
		http_req_header(req, "Content-Type", "application/json");
		return 0;
	}
	/* A clip cannot travel in JSON: an upload is multipart whatever the
	 * configured encoding. */
	char boundary[48];
	if (multipart_start(req, boundary, sizeof(boundary)) < 0)
		return -1;
	part(&req->body, boundary, "prompt", prompt);
	if (extend)
		part(&req->body, boundary, "seconds", seconds);
	if (ref != NULL)
		part(&req->body, boundary, "video[id]", ref); /* as the Node SDK sends it */
	else if (clip_part(bc, source, boundary, req, ans) < 0)
		return -1;
	buf_printf(&req->body, "--%s--\r\n", boundary);
	return 0;
}

static int openai_build(struct backend *bc, const struct model_backend *mb, struct json_object *rec,
			enum remote_phase ph, struct http_req *req, struct remote_answer *ans)
{
	const char *base = bc->cfg->base_url;
	const char *up = remote_get(rec, "upstream_id");
	const char *remix = remote_get(rec, "remix_upstream_id");
	const char *id = json_object_get_string(json_object_object_get(rec, "id"));
	const char *op = rec_str(rec, "op");
	switch (ph) {
	case PHASE_SUBMIT:
		http_req_header(req, "Idempotency-Key", id);
		if (op != NULL && (strcmp(op, "edit") == 0 || strcmp(op, "extend") == 0)) {
			if (derived_request(bc, rec, strcmp(op, "extend") == 0, req, ans) < 0)
				return -1;
		} else if (remix) {
			snprintf(req->method, sizeof(req->method), "POST");
			snprintf(req->url, sizeof(req->url), "%s/videos/%s/remix", base, remix);
			struct json_object *b = json_object_new_object();
			json_object_object_add(
				b, "prompt",
				json_object_get(json_object_object_get(rec, "prompt")));
			buf_puts(&req->body,
				 json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN));
			json_object_put(b);
			http_req_header(req, "Content-Type", "application/json");
		} else if (create_request(bc, mb, rec, req, ans) < 0) {
			return -1;
		}
		break;
	case PHASE_RECONCILE:
		snprintf(req->url, sizeof(req->url), "%s/videos?limit=100&order=desc", base);
		break;
	case PHASE_POLL:
		if (up == NULL)
			return -1;
		snprintf(req->url, sizeof(req->url), "%s/videos/%s", base, up);
		break;
	case PHASE_FETCH_VIDEO:
	case PHASE_FETCH_THUMB:
		if (up == NULL)
			return -1;
		snprintf(req->url, sizeof(req->url), "%s/videos/%s/content?variant=%s", base, up,
			 ph == PHASE_FETCH_VIDEO ? "video" : "thumbnail");
		http_req_header(req, "Accept", "application/binary");
		break;
	default: return -1;
	}
	auth(bc, req);
	return 0;
}

/* reconcile_match lists the upstream's jobs that may be ours: same prompt,
 * size and seconds, created no earlier than our intent (to the second).
 * The dispatcher skips those another task already holds. */
static void reconcile_match(struct json_object *rec, struct json_object *list,
			    struct remote_answer *ans)
{
	struct json_object *data;
	const char *prompt = json_object_get_string(json_object_object_get(rec, "prompt"));
	const char *intent = remote_get(rec, "intent_at");
	long long since = intent ? atoll(intent) / 1000 - 1 : 0;
	char size[32], seconds[16];
	snprintf(size, sizeof(size), "%dx%d", remote_param_int(rec, "width", 0),
		 remote_param_int(rec, "height", 0));
	snprintf(seconds, sizeof(seconds), "%d", remote_param_int(rec, "seconds", 0));
	ans->verdict = RV_OK;
	ans->state = RS_NOT_FOUND;
	if (!json_object_object_get_ex(list, "data", &data) ||
	    !json_object_is_type(data, json_type_array))
		return;
	/* The list is newest first; our job is the oldest that fits. */
	for (size_t i = json_object_array_length(data); i-- > 0 && ans->ncandidates < 8;) {
		struct json_object *v = json_object_array_get_idx(data, i), *c;
		const char *p = rec_str(v, "prompt"), *vid = rec_str(v, "id");
		const char *sz = rec_str(v, "size"), *sec = rec_str(v, "seconds");
		long long created = json_object_object_get_ex(v, "created_at", &c)
					    ? json_object_get_int64(c)
					    : 0;
		if (p && vid && vid[0] && prompt && strcmp(p, prompt) == 0 && created >= since &&
		    (sz == NULL || strcmp(sz, size) == 0) &&
		    (sec == NULL || strcmp(sec, seconds) == 0))
			snprintf(ans->candidates[ans->ncandidates++], sizeof(ans->candidates[0]),
				 "%s", vid);
	}
	if (ans->ncandidates > 0)
		ans->state = RS_QUEUED;
}

static void openai_parse(struct backend *bc, struct json_object *rec, enum remote_phase ph,
			 long status, const char *body, size_t len, struct remote_answer *ans)
{
	struct json_object *o = remote_parse_object(body, len);
	(void)bc;
	if (status < 200 || status > 299) {
		struct json_object *err = NULL;
		if (o)
			json_object_object_get_ex(o, "error", &err);
		const char *msg = rec_str(err, "message"), *code = rec_str(err, "code");
		remote_http_error(ans, "The upstream", status, msg);
		if (ans->verdict == RV_FAIL && code && strstr(code, "moderation"))
			snprintf(ans->code, sizeof(ans->code), "content_policy_violation");
		if (ph == PHASE_SUBMIT && status == 0)
			ans->maybe_created = 1;
		goto out;
	}
	if (o == NULL) {
		ans->verdict = RV_RETRY;
		ans->maybe_created = ph == PHASE_SUBMIT;
		goto out;
	}
	if (ph == PHASE_RECONCILE) {
		reconcile_match(rec, o, ans);
		goto out;
	}
	const char *vid = rec_str(o, "id"), *st = rec_str(o, "status");
	if (vid == NULL || vid[0] == '\0' || st == NULL) {
		/* an answer that names no job: at submit it may still have made
		 * one, which reconciling finds */
		ans->verdict = RV_RETRY;
		ans->maybe_created = ph == PHASE_SUBMIT;
		goto out;
	}
	snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", vid);
	ans->verdict = RV_OK;
	struct json_object *p;
	ans->progress = json_object_object_get_ex(o, "progress", &p) ? json_object_get_int(p) : -1;
	if (ans->progress < -1)
		ans->progress = -1;
	else if (ans->progress > 100)
		ans->progress = 100;
	if (strcmp(st, "queued") == 0)
		ans->state = RS_QUEUED;
	else if (strcmp(st, "in_progress") == 0)
		ans->state = RS_RUNNING;
	else if (strcmp(st, "completed") == 0)
		ans->state = RS_SUCCEEDED;
	else if (strcmp(st, "failed") == 0)
		ans->state = RS_FAILED;
	else
		ans->state = RS_UNKNOWN;
	if (ans->state == RS_SUCCEEDED && json_object_object_get_ex(o, "expires_at", &p) &&
	    json_object_is_type(p, json_type_int)) {
		/* until when the upstream can edit or extend it by its id */
		char at[24];
		snprintf(at, sizeof(at), "%lld", (long long)json_object_get_int64(p));
		answer_keep(ans, "upstream_expires_at", at);
	}
	if (ans->state == RS_FAILED) {
		struct json_object *err = NULL;
		json_object_object_get_ex(o, "error", &err);
		const char *code = rec_str(err, "code");
		snprintf(ans->code, sizeof(ans->code), "%s",
			 code && strstr(code, "moderation") ? "content_policy_violation"
							    : "generation_failed");
		snprintf(ans->message, sizeof(ans->message),
			 "The upstream could not make the video (%.60s): %.400s",
			 code ? code : "no code",
			 rec_str(err, "message") ? rec_str(err, "message") : "no reason given");
	}
out:
	json_object_put(o);
}

static void openai_unsupported(const struct backend_cfg *b, const struct model_backend *mb,
			       const struct video_spec *s, const char **out)
{
	(void)b;
	(void)mb;
	out[remote_no_seed_fps(s, out)] = NULL;
}

/* An OpenAI upstream runs every operation it is given: edits and
 * extensions go to its own endpoints.  It has no field that takes a
 * character (POST /videos/characters makes one, nothing consumes it), so
 * references are not claimed. */
static unsigned openai_ops(const struct backend_cfg *b, const struct model_backend *mb)
{
	(void)b;
	(void)mb;
	return BOP_EDIT | BOP_EXTEND;
}

/* the upstream's expiry of a finished video, for a later edit by its id */
static const char *const openai_record_keys[] = { "upstream_expires_at", NULL };

const struct backend_type backend_openai = {
	.name = "openai",
	.kind = BACKEND_HTTP,
	.caps = BCAP_THUMBNAIL | BCAP_RECONCILE,
	.keys = openai_keys,
	.record_keys = openai_record_keys,
	.state_size = sizeof(struct openai_state),
	.check = openai_check,
	.init = openai_init,
	.unsupported = openai_unsupported,
	.ops = openai_ops,
	.build = openai_build,
	.parse = openai_parse,
};
