/*
 * backend_kling: Kling's official API.  Tasks go to text2video, or to
 * image2video when there is an image; our video id is Kling's
 * external_task_id, which is how a submit of unknown outcome is found again.
 * An extension goes to video-extend, which continues a video Kling made
 * (its video id, kept from the result's query) by one step of 4-5 s; it
 * takes no external_task_id, so a lost extension cannot be looked up.
 * Auth is a JWT (HS256) minted from the access key and secret key and
 * re-minted a minute before it expires.
 */
#include "backend_util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"

struct kling_state {
	char access_key[512];
	char secret_key[512];
	char token[1024];    /* the current JWT */
	long long token_exp; /* its exp claim */
};

static const char *const kling_keys[] = { "access_key", "access_key_env", "secret_key",
					  "secret_key_env", NULL };
/* the endpoint a task was submitted to, kept for its polls; the Kling
 * video id of its result, which video-extend takes */
static const char *const kling_record_keys[] = { "endpoint", "video_id", NULL };

/* What video-extend makes: one step of 4-5 s ("单次可延长4~5s"), to at
 * most 3 minutes in all.  An extension of 4 seconds is that step. */
#define KLING_SEGMENT 4
#define KLING_STEP_MAX 5
#define KLING_TOTAL_MAX 180

static int kling_check(struct confcheck *c, struct json_object *o, const char *key)
{
	if (cc_secret(c, o, key, "access_key") < 0 || cc_secret(c, o, key, "secret_key") < 0)
		return -1;
	return 0;
}

static int kling_init(struct backend *bc, char *err, size_t errlen)
{
	struct kling_state *st = bc->state;
	if (backend_secret(bc->cfg, "access_key", st->access_key, sizeof(st->access_key)) < 0 ||
	    backend_secret(bc->cfg, "secret_key", st->secret_key, sizeof(st->secret_key)) < 0) {
		snprintf(
			err, errlen,
			"backend %s: access_key and secret_key are needed (in the config or through access_key_env / secret_key_env)",
			bc->cfg->name);
		return -1;
	}
	return 0;
}

/* kling_jwt mints (or reuses) the bearer token. */
static const char *kling_jwt(struct kling_state *st)
{
	long long now = (long long)time(NULL);
	if (st->token[0] && st->token_exp - now > 60)
		return st->token;
	char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char payload[700];
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "iss", json_object_new_string(st->access_key));
	json_object_object_add(p, "exp", json_object_new_int64(now + 1800));
	json_object_object_add(p, "nbf", json_object_new_int64(now - 5));
	snprintf(payload, sizeof(payload), "%s",
		 json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN));
	json_object_put(p);
	char h64[64], p64[1000];
	codec_base64url_encode((const uint8_t *)header, strlen(header), h64);
	codec_base64url_encode((const uint8_t *)payload, strlen(payload), p64);
	char signing[1100];
	snprintf(signing, sizeof(signing), "%s.%s", h64, p64);
	uint8_t mac[32];
	unsigned int maclen = sizeof(mac);
	HMAC(EVP_sha256(), st->secret_key, (int)strlen(st->secret_key), (const uint8_t *)signing,
	     strlen(signing), mac, &maclen);
	char s64[64];
	codec_base64url_encode(mac, maclen, s64);
	snprintf(st->token, sizeof(st->token), "%s.%s", signing, s64);
	st->token_exp = now + 1800;
	return st->token;
}

static void auth(struct backend *bc, struct http_req *req)
{
	char value[1100];
	snprintf(value, sizeof(value), "Bearer %s", kling_jwt(bc->state));
	http_req_secret_header(req, "Authorization", value);
}

static const char *aspect_ratio(int w, int h)
{
	double r = (double)w / h;
	return r >= 1.3 ? "16:9" : r <= 0.77 ? "9:16" : "1:1";
}

static int submit_body(struct backend *bc, const struct model_backend *mb, struct json_object *rec,
		       const char *endpoint, struct http_req *req, struct remote_answer *ans)
{
	struct json_object *b = json_object_new_object();
	struct json_object *v;
	json_object_object_get_ex(rec, "prompt", &v);
	json_object_object_add(b, "model_name",
			       json_object_new_string(mb->model ? mb->model : "kling-v1"));
	json_object_object_add(b, "prompt", json_object_get(v));
	const char *neg = remote_meta_str(rec, "negative_prompt");
	if (neg)
		json_object_object_add(b, "negative_prompt", json_object_new_string(neg));
	const char *mode = remote_meta_str(rec, "mode");
	const char *quality = remote_meta_str(rec, "quality_level");
	if (mode == NULL && quality &&
	    (strcmp(quality, "high") == 0 || strcmp(quality, "pro") == 0))
		mode = "pro";
	if (mode)
		json_object_object_add(b, "mode", json_object_new_string(mode));
	int seconds = remote_param_int(rec, "seconds", 5);
	json_object_object_add(b, "duration", json_object_new_string(seconds > 7 ? "10" : "5"));
	if (strcmp(endpoint, "text2video") == 0) {
		json_object_object_add(
			b, "aspect_ratio",
			json_object_new_string(aspect_ratio(remote_param_int(rec, "width", 16),
							    remote_param_int(rec, "height", 9))));
	} else {
		const char *url = remote_image_url(rec);
		char *b64 = url ? NULL : remote_image_b64(bc->data_dir, rec, 10u << 20);
		if (url == NULL && b64 == NULL) {
			json_object_put(b);
			ans->verdict = RV_FAIL;
			snprintf(ans->code, sizeof(ans->code), "invalid_image");
			snprintf(
				ans->message, sizeof(ans->message),
				"The input image cannot be sent to Kling (it must be a file of at most 10 MB).");
			return -1;
		}
		json_object_object_add(b, "image", json_object_new_string(url ? url : b64));
		free(b64);
	}
	json_object_object_get_ex(rec, "id", &v);
	json_object_object_add(b, "external_task_id", json_object_get(v));
	const char *text = json_object_to_json_string_ext(
		b, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc = buf_puts(&req->body, text);
	json_object_put(b);
	return rc;
}

static int is_extend(struct json_object *rec)
{
	const char *op = rec_str(rec, "op");
	return op != NULL && strcmp(op, "extend") == 0;
}

/* extend_body: video-extend's {video_id, prompt}.  The model and mode are
 * the source's (Kling takes neither), and there is no external_task_id. */
static int extend_body(struct json_object *rec, struct http_req *req, struct remote_answer *ans)
{
	struct json_object *source = rec_obj(rec_obj(rec, "params"), "source");
	const char *video = rec_str(rec_obj(source, "remote"), "video_id");
	const char *prompt = rec_str(rec, "prompt");
	if (video == NULL || video[0] == '\0' || prompt == NULL) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "invalid_task");
		snprintf(ans->message, sizeof(ans->message),
			 "The source video has no Kling video id to extend.");
		return -1;
	}
	struct json_object *b = json_object_new_object();
	json_object_object_add(b, "video_id", json_object_new_string(video));
	json_object_object_add(b, "prompt", json_object_new_string(prompt));
	int rc = buf_puts(&req->body,
			  json_object_to_json_string_ext(
				  b, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(b);
	return rc;
}

/* lost_extension: a video-extend whose submit's outcome is unknown.  Kling
 * has no client id for it, so the job cannot be looked up: as for a module
 * without BCAP_RECONCILE, the task fails, or under resubmit_unknown the
 * "reconcile" sends the extension again and its answer names the job. */
static int lost_extension(struct backend *bc, struct json_object *rec, struct http_req *req,
			  struct remote_answer *ans)
{
	if (!bc->cfg->resubmit_unknown) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_unknown_outcome");
		snprintf(
			ans->message, sizeof(ans->message),
			"The extension's submit got no clear answer and Kling's video-extend takes no "
			"id to look the job up by; it was not sent again, to avoid a second charge.");
		return -1;
	}
	snprintf(req->method, sizeof(req->method), "POST");
	snprintf(req->url, sizeof(req->url), "%s/v1/videos/video-extend", bc->cfg->base_url);
	http_req_header(req, "Content-Type", "application/json");
	auth(bc, req);
	return extend_body(rec, req, ans);
}

static int kling_build(struct backend *bc, const struct model_backend *mb, struct json_object *rec,
		       enum remote_phase ph, struct http_req *req, struct remote_answer *ans)
{
	const char *endpoint = remote_get(rec, "endpoint");
	if (endpoint == NULL) {
		endpoint = is_extend(rec)	   ? "video-extend"
			   : remote_has_image(rec) ? "image2video"
						   : "text2video";
		remote_set(rec, "endpoint", endpoint);
	}
	int extend = strcmp(endpoint, "video-extend") == 0;
	const char *id = NULL;
	switch (ph) {
	case PHASE_SUBMIT:
		snprintf(req->method, sizeof(req->method), "POST");
		snprintf(req->url, sizeof(req->url), "%s/v1/videos/%s", bc->cfg->base_url,
			 endpoint);
		http_req_header(req, "Content-Type", "application/json");
		auth(bc, req);
		return extend ? extend_body(rec, req, ans)
			      : submit_body(bc, mb, rec, endpoint, req, ans);
	case PHASE_RECONCILE:
		if (extend)
			return lost_extension(bc, rec, req, ans);
		/* Kling accepts our external_task_id where its task_id goes. */
		id = json_object_get_string(json_object_object_get(rec, "id"));
		break;
	case PHASE_POLL: id = remote_get(rec, "upstream_id"); break;
	case PHASE_FETCH_VIDEO:
		snprintf(req->url, sizeof(req->url), "%s",
			 remote_get(rec, "video_url") ? remote_get(rec, "video_url") : "");
		return req->url[0] ? 0 : -1;
	default: return -1;
	}
	if (id == NULL || id[0] == '\0')
		return -1;
	snprintf(req->url, sizeof(req->url), "%s/v1/videos/%s/%s", bc->cfg->base_url, endpoint, id);
	auth(bc, req);
	return 0;
}

/* kling_error reads Kling's {code, message} and decides. */
static void kling_error(struct remote_answer *ans, long status, struct json_object *o)
{
	struct json_object *v;
	int code = o && json_object_object_get_ex(o, "code", &v) ? json_object_get_int(v) : 0;
	const char *msg = o && json_object_object_get_ex(o, "message", &v) &&
					  json_object_is_type(v, json_type_string)
				  ? json_object_get_string(v)
				  : "";
	switch (code) {
	case 1302: /* rate limit */
	case 1303: /* concurrency over the resource pack's limit */
	case 5000:
	case 5001:
	case 5002: ans->verdict = RV_RETRY; return;
	case 1301:
	case 1300:
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "content_policy_violation");
		snprintf(ans->message, sizeof(ans->message),
			 "Kling refused the request under its content rules (code %d): %.300s",
			 code, msg);
		return;
	case 1101:
	case 1102:
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_quota_exhausted");
		snprintf(ans->message, sizeof(ans->message),
			 "The Kling account cannot pay for this task (code %d).", code);
		return;
	case 1000:
	case 1001:
	case 1002:
	case 1003:
	case 1004:
		/* A token problem; a fresh token may fix a clock edge. */
		ans->verdict = code == 1003 || code == 1004 ? RV_RETRY : RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_auth_failed");
		snprintf(
			ans->message, sizeof(ans->message),
			"Kling refused reelgate's credentials (code %d); check the backend's keys.",
			code);
		return;
	}
	char detail[400];
	snprintf(detail, sizeof(detail), "code %d %.300s", code, msg);
	remote_http_error(ans, "Kling", status, code ? detail : NULL);
}

/* task_state maps Kling's task_status. */
static enum remote_state task_state(const char *st)
{
	if (strcmp(st, "submitted") == 0)
		return RS_QUEUED;
	if (strcmp(st, "processing") == 0)
		return RS_RUNNING;
	if (strcmp(st, "succeed") == 0)
		return RS_SUCCEEDED;
	if (strcmp(st, "failed") == 0)
		return RS_FAILED;
	return RS_UNKNOWN;
}

/* task_answer reads a task's data object (a submit's or a query's). */
static void task_answer(struct json_object *data, enum remote_phase ph, struct remote_answer *ans)
{
	const char *task_id = rec_str(data, "task_id"), *st = rec_str(data, "task_status");
	if (ph == PHASE_SUBMIT && (task_id == NULL || task_id[0] == '\0')) {
		/* accepted without a task_id: reconciling by our
		 * external_task_id finds the task, if one was made */
		ans->verdict = RV_RETRY;
		ans->maybe_created = 1;
		return;
	}
	if (task_id)
		snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", task_id);
	ans->verdict = RV_OK;
	ans->progress = -1;
	ans->state = task_state(st ? st : "");
	if (ans->state == RS_SUCCEEDED) {
		struct json_object *res, *videos, *first = NULL;
		const char *url = NULL;
		if (json_object_object_get_ex(data, "task_result", &res) &&
		    json_object_object_get_ex(res, "videos", &videos) &&
		    (first = remote_idx(videos, 0)) != NULL)
			url = rec_str(first, "url");
		snprintf(ans->video_url, sizeof(ans->video_url), "%s", url ? url : "");
		/* what Kling deducted for the task, its units as a decimal string */
		struct json_object *units;
		if (json_object_object_get_ex(data, "final_unit_deduction", &units))
			answer_usage(ans, "units", units);
		/* the id video-extend takes to continue this video */
		const char *video = rec_str(first, "id");
		if (video != NULL && video[0] != '\0')
			answer_keep(ans, "video_id", video);
		if (ans->video_url[0] == '\0') {
			ans->verdict = RV_FAIL;
			snprintf(ans->code, sizeof(ans->code), "upstream_invalid_answer");
			snprintf(ans->message, sizeof(ans->message),
				 "Kling reported success without a video URL.");
		}
	}
	if (ans->state == RS_FAILED) {
		const char *msg = rec_str(data, "task_status_msg");
		snprintf(ans->code, sizeof(ans->code), "generation_failed");
		snprintf(ans->message, sizeof(ans->message),
			 "Kling could not make the video: %.400s",
			 msg && msg[0] ? msg : "no reason given");
	}
}

static void kling_parse(struct backend *bc, struct json_object *rec, enum remote_phase ph,
			long status, const char *body, size_t len, struct remote_answer *ans)
{
	struct json_object *o = remote_parse_object(body, len);
	if (status == 401)
		((struct kling_state *)bc->state)->token[0] = '\0';
	struct json_object *data = NULL, *v;
	int code = o && json_object_object_get_ex(o, "code", &v) ? json_object_get_int(v) : -1;
	if (status == 200 && code == 0)
		json_object_object_get_ex(o, "data", &data);
	/* (an extension's "reconcile" is its submit sent again: its answer
	 * is a submit's, never a lookup's "not found") */
	if (ph == PHASE_RECONCILE && !is_extend(rec) &&
	    (status == 404 || code == 1203 || (status == 400 && code == 1201))) {
		ans->verdict = RV_OK;
		ans->state = RS_NOT_FOUND;
	} else if (data != NULL) {
		task_answer(data, ph, ans);
	} else if (status == 200) {
		ans->verdict = RV_RETRY; /* 200 with a body we cannot read */
		ans->maybe_created = ph == PHASE_SUBMIT;
	} else if (ph == PHASE_SUBMIT && status == 400 && code == 1201 && body &&
		   memmem(body, len, "external_task_id", 16)) {
		/* Kling already has a task with our id: it was created. */
		ans->verdict = RV_RETRY;
		ans->maybe_created = 1;
	} else {
		kling_error(ans, status, o);
	}
	json_object_put(o);
}

static void kling_unsupported(const struct backend_cfg *b, const struct model_backend *mb,
			      const struct video_spec *s, const char **out)
{
	(void)b;
	(void)mb;
	if (s->op != NULL && strcmp(s->op, "extend") == 0) {
		/* an extension's one field is its length: one Kling step */
		size_t n = 0;
		if (s->segment_seconds != KLING_SEGMENT)
			out[n++] = "seconds";
		out[n] = NULL;
		return;
	}
	size_t n = remote_no_seed_fps(s, out);
	if (s->seconds_given && s->seconds != 5 && s->seconds != 10)
		out[n++] = "seconds";
	if (!s->size_given) {
		/* Kling's default: nothing asked, nothing ignored. */
	} else if (s->image == IMAGE_NONE) {
		/* Kling takes an aspect ratio and picks its own resolution. */
		if (!(s->width * 9 == s->height * 16 || s->width * 16 == s->height * 9 ||
		      s->width == s->height))
			out[n++] = "size";
	} else {
		out[n++] = "size";
	}
	out[n] = NULL;
}

/* Kling extends (video-extend), except what kling-v1-5 made ("暂不支持
 * 对V1.5模型生成的视频进行延长").  It has no edit of a given video on
 * these models (the O1 omni-video edits a video by URL: not mapped). */
static unsigned kling_ops(const struct backend_cfg *b, const struct model_backend *mb)
{
	(void)b;
	if (mb != NULL && mb->model != NULL && strcmp(mb->model, "kling-v1-5") == 0)
		return 0;
	return BOP_EXTEND;
}

/* Kling extends only a video it made for this backend (its video id is
 * in the source's remote), to at most 3 minutes. */
static int kling_source_ok(const struct backend_cfg *b, const struct model_backend *mb, unsigned op,
			   struct json_object *src, char *why, size_t n)
{
	(void)mb;
	if (op != BOP_EXTEND)
		return 0;
	struct json_object *remote = rec_obj(src, "remote");
	const char *made_by = rec_str(remote, "backend");
	if (src == NULL || made_by == NULL || strcmp(made_by, b->name) != 0) {
		snprintf(why, n,
			 "Kling extends only videos that Kling made for this model; %s. Extend a "
			 "video this model made ({\"id\": \"video_...\"}), or use a model whose "
			 "backend takes a clip.",
			 src == NULL ? "an uploaded clip cannot be extended"
				     : "this video was made elsewhere");
		return -1;
	}
	const char *video = rec_str(remote, "video_id");
	if (video == NULL || video[0] == '\0') {
		snprintf(why, n,
			 "Kling gave no video id for it that this server kept (it was made before "
			 "extensions were supported); make it again to extend it.");
		return -1;
	}
	int64_t seconds = rec_i64(rec_obj(src, "params"), "seconds");
	if (seconds + KLING_STEP_MAX > KLING_TOTAL_MAX) {
		snprintf(why, n,
			 "Kling extends a video to at most %d seconds in all; this one is %lld "
			 "seconds long already.",
			 KLING_TOTAL_MAX, (long long)seconds);
		return -1;
	}
	return 0;
}

const struct backend_type backend_kling = {
	.name = "kling",
	.kind = BACKEND_HTTP,
	.caps = BCAP_RECONCILE,
	.keys = kling_keys,
	.record_keys = kling_record_keys,
	.state_size = sizeof(struct kling_state),
	.check = kling_check,
	.init = kling_init,
	.unsupported = kling_unsupported,
	.ops = kling_ops,
	.source_ok = kling_source_ok,
	.build = kling_build,
	.parse = kling_parse,
};
