/*
 * backend_openai: any OpenAI-compatible /v1/videos upstream (OpenAI, an
 * Azure-style deployment whose base_url carries the path prefix, another
 * gateway, another reelgate).  Create is sent as multipart (what the
 * OpenAI SDKs send) or JSON per config, with our video id as the
 * Idempotency-Key; a remix of a video made on the same upstream goes to its
 * remix endpoint.  A submit of unknown outcome is looked for in the
 * upstream's list (same prompt, created after our intent).
 */
#include "backend_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static int file_part(struct buf *b, const char *boundary, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	const char *ext = strrchr(path, '.');
	const char *type = ext && strcmp(ext, ".png") == 0    ? "image/png"
			   : ext && strcmp(ext, ".webp") == 0 ? "image/webp"
							      : "image/jpeg";
	buf_printf(b,
		   "--%s\r\nContent-Disposition: form-data; name=\"input_reference\"; "
		   "filename=\"input%s\"\r\nContent-Type: %s\r\n\r\n",
		   boundary, ext ? ext : "", type);
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
		char boundary[48], ctype[96];
		if (id_prefixed_new(boundary, sizeof(boundary), "reelgate-", 12) < 0)
			return -1;
		part(&req->body, boundary, "prompt", prompt);
		part(&req->body, boundary, "model", model);
		part(&req->body, boundary, "seconds", seconds);
		part(&req->body, boundary, "size", size);
		if (url)
			part(&req->body, boundary, "input_reference[image_url]", url);
		else if (path && file_part(&req->body, boundary, path) < 0) {
			ans->verdict = RV_FAIL;
			snprintf(ans->code, sizeof(ans->code), "invalid_image");
			snprintf(ans->message, sizeof(ans->message),
				 "The stored input image cannot be read.");
			return -1;
		}
		buf_printf(&req->body, "--%s--\r\n", boundary);
		snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%s", boundary);
		http_req_header(req, "Content-Type", ctype);
	}
	return 0;
}

static int openai_build(struct backend *bc, const struct model_backend *mb, struct json_object *rec,
			enum remote_phase ph, struct http_req *req, struct remote_answer *ans)
{
	const char *base = bc->cfg->base_url;
	const char *up = remote_get(rec, "upstream_id");
	const char *remix = remote_get(rec, "remix_upstream_id");
	const char *id = json_object_get_string(json_object_object_get(rec, "id"));
	switch (ph) {
	case PHASE_SUBMIT:
		http_req_header(req, "Idempotency-Key", id);
		if (remix) {
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

const struct backend_type backend_openai = {
	.name = "openai",
	.kind = BACKEND_HTTP,
	.caps = BCAP_THUMBNAIL | BCAP_RECONCILE,
	.keys = openai_keys,
	.record_keys = NULL,
	.state_size = sizeof(struct openai_state),
	.check = openai_check,
	.init = openai_init,
	.unsupported = openai_unsupported,
	.build = openai_build,
	.parse = openai_parse,
};
