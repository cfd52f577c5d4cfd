/*
 * backend_vidu: Vidu (Shengshu) ent/v2 (POST {base_url}/text2video,
 * img2video, start-end2video or reference2video, chosen by the images the
 * task carries; GET {base_url}/tasks/{id}/creations).  The key is sent as
 * "Authorization: Token <key>".  Every create carries our video id in
 * Vidu's `payload` passthrough, which Vidu echoes on query and in its task
 * list: a create of unknown outcome is found again by listing the tasks
 * created around our intent (GET {base_url}/tasks) and taking the one whose
 * payload is our id.  The result is a 24 h URL downloaded without
 * credentials; a task is cancelled with POST {base_url}/tasks/{id}/cancel,
 * which Vidu refuses in some states.  Characters (params.references) go
 * to reference2video as more images, their first frames as data: URLs, on
 * the models that take it (viduq2, viduq1: 7 images; vidu2.0: 3).
 */
#include "backend_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct vidu_state {
	char api_key[512];
};

static const char *const vidu_keys[] = { "api_key", "api_key_env", NULL };
/* the credits Vidu charged for the task */
static const char *const vidu_record_keys[] = { "credits", NULL };

/* A reconcile lists one page of tasks created within this margin of the
 * intent (the two clocks may differ) and the request timeout. */
#define LIST_PAGE 100
#define CLOCK_MARGIN_S 300
/* Vidu takes an HTTP body of at most 20 MB: an image sent as a data: URL
 * (4/3 of it) must stay well under that. */
#define IMAGE_MAX (10u << 20)
#define BODY_MAX (20u << 20)

static int vidu_check(struct confcheck *c, struct json_object *o, const char *key)
{
	return cc_secret(c, o, key, "api_key");
}

static int vidu_init(struct backend *b, char *err, size_t errlen)
{
	struct vidu_state *st = b->state;
	return backend_need_secret(b->cfg, "api_key", st->api_key, sizeof(st->api_key), err,
				   errlen);
}

static void auth(struct backend *b, struct http_req *req)
{
	char v[600];
	/* Vidu's scheme is "Token", not "Bearer" */
	snprintf(v, sizeof(v), "Token %s", ((struct vidu_state *)b->state)->api_key);
	http_req_secret_header(req, "Authorization", v);
}

/* ---- the task, as Vidu takes it ---- */

static const struct {
	const char *name;
	int w, h;
} ratios[] = {
	{ "16:9", 16, 9 }, { "9:16", 9, 16 }, { "1:1", 1, 1 }, { "4:3", 4, 3 }, { "3:4", 3, 4 }
};

static size_t nearest_ratio(int w, int h)
{
	size_t best = 0;
	double want = log((double)w / h), gap = 1e9;
	for (size_t i = 0; i < sizeof(ratios) / sizeof(*ratios); i++) {
		double d = fabs(log((double)ratios[i].w / ratios[i].h) - want);
		if (d < gap) {
			gap = d;
			best = i;
		}
	}
	return best;
}

/* resolution: Vidu's tier for a size, by its short side. */
static const char *resolution(int w, int h)
{
	int s = w < h ? w : h;
	return s <= 540 ? "540p" : s <= 720 ? "720p" : "1080p";
}

static int size_exact(int w, int h)
{
	size_t r = nearest_ratio(w, h);
	int s = w < h ? w : h;
	return w * ratios[r].h == h * ratios[r].w && (s == 540 || s == 720 || s == 1080);
}

enum vidu_mode { M_TEXT, M_IMAGE, M_START_END, M_REFERENCE };

static const char *const mode_path[] = { "text2video", "img2video", "start-end2video",
					 "reference2video" };

static struct json_object *meta(struct json_object *rec, const char *name)
{
	struct json_object *md, *v;
	if (json_object_object_get_ex(rec, "metadata", &md) &&
	    json_object_is_type(md, json_type_object) && json_object_object_get_ex(md, name, &v))
		return v;
	return NULL;
}

/* reference_images: the URLs of metadata.reference_images, a string of
 * 1..7 URLs separated by white space (metadata values are scalars), as a
 * new array (caller puts it); NULL when there is none or too many. */
static struct json_object *reference_images(struct json_object *rec)
{
	const char *r = remote_meta_str(rec, "reference_images");
	if (r == NULL)
		return NULL;
	struct json_object *a = json_object_new_array();
	while (*r) {
		size_t skip = strspn(r, " \t\r\n"), len;
		r += skip;
		if ((len = strcspn(r, " \t\r\n")) == 0)
			break;
		json_object_array_add(a, json_object_new_string_len(r, (int)len));
		r += len;
	}
	size_t n = json_object_array_length(a);
	if (n == 0 || n > 7) {
		json_object_put(a);
		return NULL;
	}
	return a;
}

static int has_references(struct json_object *rec)
{
	struct json_object *a = reference_images(rec);
	json_object_put(a);
	return a != NULL;
}

/* characters: params.references (the characters named by the create), or
 * NULL. */
static struct json_object *characters(struct json_object *rec)
{
	struct json_object *a = NULL;
	json_object_object_get_ex(rec_obj(rec, "params"), "references", &a);
	return json_object_is_type(a, json_type_array) && json_object_array_length(a) > 0 ? a
											  : NULL;
}

/* reference_max: how many images the model's reference2video takes, 0
 * when it has none (viduq2 and viduq1 1-7, vidu2.0 1-3; the -pro and
 * -turbo variants and q3 none). */
static size_t reference_max(const char *model)
{
	if (model && (strcmp(model, "viduq2") == 0 || strcmp(model, "viduq1") == 0))
		return 7;
	return model && strcmp(model, "vidu2.0") == 0 ? 3 : 0;
}

/* task_mode: which endpoint the task's images call for. */
static enum vidu_mode task_mode(struct json_object *rec)
{
	const char *m = remote_meta_str(rec, "vidu_mode");
	if (characters(rec) || has_references(rec) ||
	    (m && strcmp(m, "reference") == 0 && remote_has_image(rec)))
		return M_REFERENCE;
	if (!remote_has_image(rec))
		return M_TEXT;
	const char *last = remote_meta_str(rec, "last_frame_url");
	return last && last[0] ? M_START_END : M_IMAGE;
}

/* Vidu's own fields a caller may set through metadata, with their JSON
 * type and the endpoints that take them (new-api merges metadata into the
 * body the same way).  model, images, prompt and payload are ours;
 * callback_url is not for callers: reelgate polls. */
#define ALL_MODES 0xf
#define MODE_BIT(m) (1u << (m))
static const struct {
	const char *name;
	json_type type;
	unsigned modes;
} native[] = {
	{ "movement_amplitude", json_type_string, ALL_MODES },
	{ "bgm", json_type_boolean, ALL_MODES },
	{ "off_peak", json_type_boolean, ALL_MODES },
	{ "resolution", json_type_string, ALL_MODES },
	{ "watermark", json_type_boolean, ALL_MODES },
	{ "wm_position", json_type_int, ALL_MODES },
	{ "wm_url", json_type_string, ALL_MODES },
	{ "meta_data", json_type_string, ALL_MODES },
	{ "style", json_type_string, MODE_BIT(M_TEXT) },
	{ "aspect_ratio", json_type_string, MODE_BIT(M_TEXT) | MODE_BIT(M_REFERENCE) },
	{ "is_rec", json_type_boolean, MODE_BIT(M_IMAGE) | MODE_BIT(M_START_END) },
	{ "audio", json_type_boolean, MODE_BIT(M_IMAGE) | MODE_BIT(M_REFERENCE) },
	{ "voice_id", json_type_string, MODE_BIT(M_IMAGE) },
};

/* task_fields builds the body without images. */
static struct json_object *task_fields(const struct model_backend *mb, struct json_object *rec)
{
	struct json_object *o = json_object_new_object(), *v;
	const char *model = mb && mb->model ? mb->model : rec_str(rec, "model");
	const char *prompt = rec_str(rec, "prompt"), *id = rec_str(rec, "id");
	enum vidu_mode mode = task_mode(rec);
	json_object_object_add(o, "model", json_object_new_string(model ? model : ""));
	json_object_object_add(o, "prompt", json_object_new_string(prompt ? prompt : ""));
	json_object_object_add(o, "duration",
			       json_object_new_int(remote_param_int(rec, "seconds", 5)));
	int w = remote_param_int(rec, "width", 1280), h = remote_param_int(rec, "height", 720);
	if (w <= 0 || h <= 0)
		w = 1280, h = 720;
	/* with a first frame, the video follows the image's shape */
	if (mode == M_TEXT || mode == M_REFERENCE)
		json_object_object_add(o, "aspect_ratio",
				       json_object_new_string(ratios[nearest_ratio(w, h)].name));
	json_object_object_add(o, "resolution", json_object_new_string(resolution(w, h)));
	unsigned long seed;
	if (remote_has_seed(rec, &seed))
		json_object_object_add(o, "seed", json_object_new_int64((long long)seed));
	/* the correlation: Vidu echoes it on query and in its task list */
	json_object_object_add(o, "payload", json_object_new_string(id ? id : ""));
	for (size_t i = 0; i < sizeof(native) / sizeof(*native); i++)
		if ((native[i].modes & MODE_BIT(mode)) && (v = meta(rec, native[i].name)) &&
		    json_object_is_type(v, native[i].type))
			json_object_object_add(o, native[i].name, json_object_get(v));
	return o;
}

/* first_image: the stored input image as a data: URL, or the caller's URL;
 * NULL (ans set) when it cannot be read or is over the limit. */
static struct json_object *first_image(const struct backend *b, struct json_object *rec,
				       struct remote_answer *ans)
{
	const char *url = remote_image_url(rec);
	if (url)
		return json_object_new_string(url);
	char *b64 = remote_image_b64(b->data_dir, rec, IMAGE_MAX);
	const char *ext = rec_str(rec_obj(rec_obj(rec, "params"), "image"), "ext");
	const char *mime = ext && strcmp(ext, "jpg") == 0    ? "jpeg"
			   : ext && strcmp(ext, "webp") == 0 ? "webp"
							     : "png";
	struct buf data;
	buf_init(&data, (size_t)IMAGE_MAX / 3 * 4 + 64);
	if (b64 == NULL || buf_printf(&data, "data:image/%s;base64,", mime) < 0 ||
	    buf_puts(&data, b64) < 0) {
		free(b64);
		buf_deinit(&data);
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "invalid_image");
		snprintf(ans->message, sizeof(ans->message),
			 "The input image cannot be sent to Vidu (it must be a file of at most "
			 "10 MB).");
		return NULL;
	}
	free(b64);
	struct json_object *s = json_object_new_string(data.data);
	buf_deinit(&data);
	return s;
}

/* add_characters appends the characters' first frames (PNGs under
 * uploads/) to images as data: URLs; -1 (ans set) when one cannot be
 * read or is over Vidu's 10 MB per image. */
static int add_characters(const struct backend *b, struct json_object *rec,
			  struct json_object *images, struct remote_answer *ans)
{
	struct json_object *refs = characters(rec);
	for (size_t i = 0; refs && i < json_object_array_length(refs); i++) {
		const char *img = rec_str(json_object_array_get_idx(refs, i), "image");
		char *uri = remote_data_uri(b->data_dir, img, "image/png", IMAGE_MAX);
		if (uri == NULL) {
			ans->verdict = RV_FAIL;
			snprintf(ans->code, sizeof(ans->code), "invalid_image");
			snprintf(
				ans->message, sizeof(ans->message),
				"A character's reference image cannot be sent to Vidu (missing, or "
				"over 10 MB); create the character from a smaller clip.");
			return -1;
		}
		json_object_array_add(images, json_object_new_string(uri));
		free(uri);
	}
	return 0;
}

static int submit_body(struct backend *b, const struct model_backend *mb, struct json_object *rec,
		       struct http_req *req, struct remote_answer *ans)
{
	struct json_object *body = task_fields(mb, rec), *images = NULL, *refs;
	enum vidu_mode mode = task_mode(rec);
	if (mode != M_TEXT) {
		images = json_object_new_array();
		json_object_object_add(body, "images", images);
	}
	if (mode != M_TEXT && remote_has_image(rec)) {
		struct json_object *img = first_image(b, rec, ans);
		if (img == NULL) {
			json_object_put(body);
			return -1;
		}
		json_object_array_add(images, img);
	}
	if (mode == M_START_END)
		json_object_array_add(
			images, json_object_new_string(remote_meta_str(rec, "last_frame_url")));
	if (mode == M_REFERENCE && add_characters(b, rec, images, ans) < 0) {
		json_object_put(body);
		return -1;
	}
	if (mode == M_REFERENCE && (refs = reference_images(rec))) {
		for (size_t i = 0;
		     i < json_object_array_length(refs) && json_object_array_length(images) < 7;
		     i++)
			json_object_array_add(images,
					      json_object_get(json_object_array_get_idx(refs, i)));
		json_object_put(refs);
	}
	int rc = buf_puts(&req->body,
			  json_object_to_json_string_ext(
				  body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(body);
	if (rc == 0 && req->body.len > BODY_MAX) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "invalid_image");
		snprintf(ans->message, sizeof(ans->message),
			 "The images of this task are over Vidu's 20 MB request limit; use fewer "
			 "or smaller images.");
		return -1;
	}
	return rc;
}

/* iso_time writes epoch seconds t as Vidu's RFC 3339 UTC time. */
static void iso_time(char *out, size_t n, long long t)
{
	time_t tt = (time_t)(t < 0 ? 0 : t);
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void list_url(const struct backend *b, struct json_object *rec, char *url, size_t n)
{
	const char *intent = remote_get(rec, "intent_at");
	long long at = intent ? atoll(intent) / 1000 : (long long)time(NULL);
	char from[32], to[32];
	iso_time(from, sizeof(from), at - CLOCK_MARGIN_S);
	iso_time(to, sizeof(to), at + b->cfg->request_timeout_ms / 1000 + CLOCK_MARGIN_S);
	snprintf(url, n, "%s/tasks?pager.pagesz=%d&created_at.from=", b->cfg->base_url, LIST_PAGE);
	url_append_escaped(url, n, from);
	snprintf(url + strlen(url), n - strlen(url), "&created_at.to=");
	url_append_escaped(url, n, to);
}

static int vidu_build(struct backend *b, const struct model_backend *mb, struct json_object *rec,
		      enum remote_phase ph, struct http_req *req, struct remote_answer *ans)
{
	const char *base = b->cfg->base_url, *up = remote_get(rec, "upstream_id");
	switch (ph) {
	case PHASE_SUBMIT:
		snprintf(req->method, sizeof(req->method), "POST");
		snprintf(req->url, sizeof(req->url), "%s/%s", base, mode_path[task_mode(rec)]);
		http_req_header(req, "Content-Type", "application/json");
		auth(b, req);
		return submit_body(b, mb, rec, req, ans);
	case PHASE_RECONCILE: list_url(b, rec, req->url, sizeof(req->url)); break;
	case PHASE_POLL:
	case PHASE_CANCEL:
		if (up == NULL || up[0] == '\0')
			return -1;
		snprintf(req->url, sizeof(req->url), "%s/tasks/", base);
		url_append_escaped(req->url, sizeof(req->url), up);
		if (ph == PHASE_POLL) {
			snprintf(req->url + strlen(req->url), sizeof(req->url) - strlen(req->url),
				 "/creations");
			break;
		}
		snprintf(req->url + strlen(req->url), sizeof(req->url) - strlen(req->url),
			 "/cancel");
		snprintf(req->method, sizeof(req->method), "POST");
		http_req_header(req, "Content-Type", "application/json");
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_string(up));
		int rc = buf_puts(&req->body,
				  json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		if (rc < 0)
			return -1;
		break;
	case PHASE_FETCH_VIDEO:
		/* a signed CDN URL: Vidu's key is never sent with it */
		snprintf(req->url, sizeof(req->url), "%s",
			 remote_get(rec, "video_url") ? remote_get(rec, "video_url") : "");
		return req->url[0] ? 0 : -1;
	default: return -1;
	}
	auth(b, req);
	return 0;
}

/* ---- answers ---- */

static int is_policy(const char *code)
{
	return code && (strcmp(code, "AuditSubmitIllegal") == 0 ||
			strcmp(code, "CreationPolicyViolation") == 0);
}

/* vidu_error reads Vidu's {"code","reason","message"} and decides. */
static void vidu_error(struct remote_answer *ans, long status, struct json_object *o)
{
	const char *reason = rec_str(o, "reason"), *msg = rec_str(o, "message");
	if (reason == NULL)
		reason = "";
	if (msg == NULL)
		msg = "";
	if (is_policy(reason)) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "content_policy_violation");
		snprintf(ans->message, sizeof(ans->message),
			 "Vidu refused the request under its content rules (%.80s): %.300s", reason,
			 msg);
		return;
	}
	if (strcmp(reason, "CreditInsufficient") == 0) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_quota_exhausted");
		snprintf(ans->message, sizeof(ans->message),
			 "The Vidu account has too few credits for this task (%.80s).", reason);
		return;
	}
	if (status == 400 || status == 404 || status == 422) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_rejected");
		snprintf(ans->message, sizeof(ans->message),
			 "Vidu refused the request (HTTP %ld, %.80s): %.300s", status,
			 reason[0] ? reason : "no code", msg[0] ? msg : "no reason given");
		return;
	}
	/* 429 (QuotaExceeded: the concurrency limit; TooManyRequests), 409,
	 * 5xx and no answer wait; 401/403 fail without Vidu's words */
	char detail[420];
	snprintf(detail, sizeof(detail), "%.80s %.300s", reason, msg);
	remote_http_error(ans, "Vidu", status, reason[0] ? detail : NULL);
}

static enum remote_state task_state(const char *st)
{
	static const struct {
		const char *name;
		enum remote_state state;
	} map[] = { { "created", RS_QUEUED },	 { "queueing", RS_QUEUED },
		    { "scheduled", RS_QUEUED },	 { "processing", RS_RUNNING },
		    { "success", RS_SUCCEEDED }, { "failed", RS_FAILED } };
	for (size_t i = 0; st && i < sizeof(map) / sizeof(*map); i++)
		if (strcmp(map[i].name, st) == 0)
			return map[i].state;
	return RS_UNKNOWN;
}

static void keep_credits(struct json_object *t, struct remote_answer *ans)
{
	struct json_object *c;
	if (json_object_object_get_ex(t, "credits", &c) && json_object_is_type(c, json_type_int)) {
		char v[32];
		snprintf(v, sizeof(v), "%lld", (long long)json_object_get_int64(c));
		answer_keep(ans, "credits", v);
		answer_usage(ans, "credits", c); /* what Vidu charged */
	}
}

/* task_answer reads GET /tasks/{id}/creations. */
static void task_answer(struct json_object *rec, struct json_object *t, struct remote_answer *ans)
{
	const char *st = rec_str(t, "state"), *up = remote_get(rec, "upstream_id");
	if (st == NULL) {
		ans->verdict = RV_RETRY;
		return;
	}
	snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", up ? up : "");
	ans->verdict = RV_OK;
	ans->progress = -1;
	ans->state = task_state(st);
	if (ans->state == RS_FAILED) {
		const char *code = rec_str(t, "err_code");
		keep_credits(t, ans);
		snprintf(ans->code, sizeof(ans->code), "%s",
			 is_policy(code) ? "content_policy_violation" : "generation_failed");
		if (code && strcmp(code, "UserCancelled") == 0)
			snprintf(ans->message, sizeof(ans->message),
				 "The Vidu task was cancelled upstream.");
		else
			snprintf(ans->message, sizeof(ans->message),
				 "Vidu could not make the video (%.80s).",
				 code && code[0] ? code : "no code");
		return;
	}
	if (ans->state != RS_SUCCEEDED)
		return;
	struct json_object *creations = NULL;
	json_object_object_get_ex(t, "creations", &creations);
	const char *url = rec_str(remote_idx(creations, 0), "url");
	if (url == NULL || url[0] == '\0' || strlen(url) >= sizeof(ans->video_url)) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_invalid_answer");
		snprintf(ans->message, sizeof(ans->message),
			 "Vidu reported success without a usable video URL.");
		return;
	}
	snprintf(ans->video_url, sizeof(ans->video_url), "%s", url);
	keep_credits(t, ans);
}

/* listed_is_ours: a listed task is ours when its payload is our video id.
 * A list whose items do not carry payload at all (Vidu's list page does
 * not name it; see docs/backends.md) falls back to the prompt and the
 * duration, in the time window the list was asked for. */
static int listed_is_ours(struct json_object *rec, struct json_object *t, const char *ours)
{
	struct json_object *p, *d;
	if (json_object_object_get_ex(t, "payload", &p)) {
		const char *payload =
			json_object_is_type(p, json_type_string) ? json_object_get_string(p) : NULL;
		return payload && strcmp(payload, ours) == 0;
	}
	const char *prompt = rec_str(t, "prompt"), *mine = rec_str(rec, "prompt");
	if (prompt == NULL || mine == NULL || strcmp(prompt, mine) != 0)
		return 0;
	return !json_object_object_get_ex(t, "duration", &d) ||
	       !json_object_is_type(d, json_type_int) ||
	       json_object_get_int(d) == remote_param_int(rec, "seconds", 5);
}

/* reconcile_match: the listed tasks that are ours (listed_is_ours); the
 * dispatcher skips those another task already holds. */
static void reconcile_match(struct json_object *rec, struct json_object *list,
			    struct remote_answer *ans)
{
	struct json_object *tasks;
	const char *ours = rec_str(rec, "id"), *more = rec_str(list, "next_page_token");
	if (!json_object_object_get_ex(list, "tasks", &tasks) ||
	    !json_object_is_type(tasks, json_type_array) || ours == NULL) {
		ans->verdict = RV_RETRY; /* not a list: ask again */
		return;
	}
	ans->verdict = RV_OK;
	ans->state = RS_NOT_FOUND;
	size_t n = json_object_array_length(tasks);
	for (size_t i = 0; i < n && ans->ncandidates < 8; i++) {
		struct json_object *t = json_object_array_get_idx(tasks, i);
		const char *id = rec_str(t, "id");
		if (id == NULL || id[0] == '\0' || strlen(id) >= sizeof(ans->candidates[0]) ||
		    !listed_is_ours(rec, t, ours))
			continue;
		snprintf(ans->candidates[ans->ncandidates++], sizeof(ans->candidates[0]), "%s", id);
	}
	if (ans->ncandidates > 0) {
		ans->state = RS_QUEUED;
	} else if (n >= LIST_PAGE || (more && more[0])) {
		/* ours may be on a later page */
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_unknown_outcome");
		snprintf(ans->message, sizeof(ans->message),
			 "The submit's outcome is unknown and more than %d Vidu tasks were created "
			 "around it; it was not sent again, to avoid a second charge.",
			 LIST_PAGE);
	}
}

static void cancel_answer(long status, struct json_object *o, struct remote_answer *ans)
{
	enum cancel_status cs = remote_cancel_status(status, ans);
	if (cs == CANCEL_DECIDED)
		return;
	if (cs == CANCEL_REFUSED) {
		const char *reason = rec_str(o, "reason"), *msg = rec_str(o, "message");
		snprintf(ans->message, sizeof(ans->message),
			 "Vidu would not cancel the task (%.80s): %.300s",
			 reason ? reason : "no code", msg && msg[0] ? msg : "no reason given");
		return;
	}
	vidu_error(ans, status, o);
}

static void vidu_parse(struct backend *b, struct json_object *rec, enum remote_phase ph,
		       long status, const char *body, size_t len, struct remote_answer *ans)
{
	(void)b;
	struct json_object *o = remote_parse_object(body, len);
	if (ph == PHASE_CANCEL) {
		cancel_answer(status, o, ans);
	} else if (status < 200 || status > 299) {
		vidu_error(ans, status, o);
	} else if (o == NULL) {
		ans->verdict = RV_RETRY; /* a success we cannot read */
		ans->maybe_created = ph == PHASE_SUBMIT;
	} else if (ph == PHASE_SUBMIT) {
		const char *id = rec_str(o, "task_id");
		if (id == NULL || id[0] == '\0' || strlen(id) >= sizeof(ans->upstream_id)) {
			ans->verdict = RV_RETRY; /* made, maybe: reconciled */
			ans->maybe_created = 1;
		} else {
			ans->verdict = RV_OK;
			ans->state = RS_QUEUED;
			snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", id);
		}
	} else if (ph == PHASE_RECONCILE) {
		reconcile_match(rec, o, ans);
	} else if (ph == PHASE_POLL) {
		task_answer(rec, o, ans);
	} else {
		ans->verdict = RV_RETRY; /* a phase this module never asks */
	}
	json_object_put(o);
}

static void vidu_unsupported(const struct backend_cfg *b, const struct model_backend *mb,
			     const struct video_spec *s, const char **out)
{
	(void)b;
	(void)mb;
	size_t n = 0;
	struct json_object *v;
	/* Vidu renders 24 fps [assumed, see docs/backends.md] */
	if (s->fps_given && s->fps != 24)
		out[n++] = "fps";
	if (s->size_given && (s->image != IMAGE_NONE || !size_exact(s->width, s->height)))
		out[n++] = "size";
	if (s->metadata && json_object_object_get_ex(s->metadata, "negative_prompt", &v))
		out[n++] = "metadata.negative_prompt";
	/* a last frame needs a first one */
	if (s->image == IMAGE_NONE && s->metadata &&
	    json_object_object_get_ex(s->metadata, "last_frame_url", &v))
		out[n++] = "metadata.last_frame_url";
	out[n] = NULL;
}

/* vidu_ops: characters on the models whose reference2video exists. */
static unsigned vidu_ops(const struct backend_cfg *b, const struct model_backend *mb)
{
	(void)b;
	return reference_max(mb ? mb->model : NULL) > 0 ? BOP_REFERENCES : 0;
}

/* vidu_fits: characters go to reference2video, which takes no last frame
 * and a bounded number of images (the input image, the characters and
 * metadata.reference_images together). */
static int vidu_fits(const struct backend_cfg *b, const struct model_backend *mb,
		     const struct video_spec *s, int *segment, char *why, size_t n)
{
	(void)b;
	(void)segment;
	const char *model = mb && mb->model ? mb->model : "this model";
	struct json_object *v;
	if (s->references == NULL)
		return 0;
	if (s->metadata && json_object_object_get_ex(s->metadata, "last_frame_url", &v)) {
		snprintf(why, n,
			 "Vidu takes characters on reference2video, which has no last frame; drop "
			 "metadata.last_frame_url or the characters.");
		return -1;
	}
	size_t count = json_object_array_length(s->references) + (s->image != IMAGE_NONE);
	const char *r = NULL;
	if (s->metadata && json_object_object_get_ex(s->metadata, "reference_images", &v) &&
	    json_object_is_type(v, json_type_string))
		r = json_object_get_string(v);
	while (r && *r) {
		r += strspn(r, " \t\r\n");
		size_t len = strcspn(r, " \t\r\n");
		count += len > 0;
		r += len;
	}
	size_t max = reference_max(mb ? mb->model : NULL);
	if (count > max) {
		snprintf(
			why, n,
			"Vidu's %.40s takes at most %zu reference images (the input image, the "
			"characters and metadata.reference_images together); this request has %zu.",
			model, max, count);
		return -1;
	}
	return 0;
}

const struct backend_type backend_vidu = {
	.name = "vidu",
	.kind = BACKEND_HTTP,
	.caps = BCAP_RECONCILE | BCAP_CANCEL,
	.keys = vidu_keys,
	.record_keys = vidu_record_keys,
	.state_size = sizeof(struct vidu_state),
	.check = vidu_check,
	.init = vidu_init,
	.unsupported = vidu_unsupported,
	.ops = vidu_ops,
	.fits = vidu_fits,
	.build = vidu_build,
	.parse = vidu_parse,
};
