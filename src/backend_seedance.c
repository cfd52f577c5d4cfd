/*
 * backend_seedance: ByteDance Seedance on Volcengine Ark or BytePlus
 * ModelArk (POST/GET/DELETE {base_url}/contents/generations/tasks).  A
 * task is a content[] list (the prompt, and the input image as a data: URL
 * or the caller's URL) with JSON fields for duration, ratio, resolution and
 * seed; the result is a signed 24 h URL downloaded without credentials.
 * Ark echoes no client reference, so every submit carries a seed (the
 * caller's, or one derived from our video id) and a submit of unknown
 * outcome is found again by listing the model's tasks: same seed, duration,
 * ratio and resolution, created around our intent.  A queued task is
 * cancelled with DELETE; Ark refuses that for a running one.  Characters
 * (params.references) become content[] items of role reference_image, their
 * first frames as data: URLs, on the models that take reference images
 * (Seedance 2.0: 1-9; 1.0 lite i2v: 1-4).
 */
#include "backend_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct seedance_state {
	char api_key[512];
};

static const char *const seedance_keys[] = { "api_key", "api_key_env", "watermark",
					     "generate_audio", NULL };
/* the tokens Ark billed for the video (usage.total_tokens) */
static const char *const seedance_record_keys[] = { "total_tokens", NULL };

/* A reconcile lists one page of the model's tasks; a lost submit's task is
 * looked for among those created within this margin of the intent (the
 * two clocks may differ) and the request timeout. */
#define LIST_PAGE 100
#define CLOCK_MARGIN_S 300
/* Ark's input image limit (30 MB); a data: URL is 4/3 of it. */
#define IMAGE_MAX (30u << 20)

static int seedance_check(struct confcheck *c, struct json_object *o, const char *key)
{
	char k2[320];
	int v = 0;
	if (cc_secret(c, o, key, "api_key") < 0)
		return -1;
	snprintf(k2, sizeof(k2), "%s.watermark", key);
	if (cc_bool(c, o, "watermark", k2, &v) < 0)
		return -1;
	snprintf(k2, sizeof(k2), "%s.generate_audio", key);
	return cc_bool(c, o, "generate_audio", k2, &v);
}

static int seedance_init(struct backend *b, char *err, size_t errlen)
{
	struct seedance_state *st = b->state;
	return backend_need_secret(b->cfg, "api_key", st->api_key, sizeof(st->api_key), err,
				   errlen);
}

static void auth(struct backend *b, struct http_req *req)
{
	char v[600];
	snprintf(v, sizeof(v), "Bearer %s", ((struct seedance_state *)b->state)->api_key);
	http_req_secret_header(req, "Authorization", v);
}

/* ---- the task, as Ark takes it ---- */

static const struct {
	const char *name;
	int w, h;
} ratios[] = { { "16:9", 16, 9 }, { "4:3", 4, 3 },   { "1:1", 1, 1 },
	       { "3:4", 3, 4 },	  { "9:16", 9, 16 }, { "21:9", 21, 9 } };

/* nearest_ratio: the index of Ark's ratio closest to w:h (by log). */
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

/* resolution: Ark's tier for a size, by its short side. */
static const char *resolution(int w, int h)
{
	int s = w < h ? w : h;
	return s <= 480 ? "480p" : s <= 720 ? "720p" : "1080p";
}

/* size_exact: w x h is one of Ark's ratios at one of its tiers. */
static int size_exact(int w, int h)
{
	size_t r = nearest_ratio(w, h);
	int s = w < h ? w : h;
	return w * ratios[r].h == h * ratios[r].w && (s == 480 || s == 720 || s == 1080);
}

/* derived_seed: a seed for a task the caller gave none, fixed by its id
 * (FNV-1a), so that the reconcile can recognise the task. */
static long long derived_seed(const char *id)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)id; p && *p; p++)
		h = (h ^ *p) * 16777619u;
	return (long long)(h & 0x7fffffff);
}

/* Provider-native fields a caller may set through metadata, with their
 * JSON type (new-api merges metadata into the body the same way).  model,
 * content, seed and duration have fields of their own; callback_url is
 * not for callers: reelgate polls. */
static const struct {
	const char *name;
	json_type type;
} native[] = { { "generate_audio", json_type_boolean },
	       { "watermark", json_type_boolean },
	       { "camera_fixed", json_type_boolean },
	       { "return_last_frame", json_type_boolean },
	       { "draft", json_type_boolean },
	       { "service_tier", json_type_string },
	       { "execution_expires_after", json_type_int },
	       { "priority", json_type_int },
	       { "frames", json_type_int },
	       { "resolution", json_type_string },
	       { "ratio", json_type_string },
	       { "safety_identifier", json_type_string },
	       { "tools", json_type_array } };

static void add_config_bool(struct json_object *body, const struct backend *b, const char *name)
{
	struct json_object *v;
	if (json_object_object_get_ex(b->cfg->raw, name, &v) &&
	    json_object_is_type(v, json_type_boolean))
		json_object_object_add(body, name,
				       json_object_new_boolean(json_object_get_boolean(v)));
}

/* task_fields builds the body without content[]: what submit sends and
 * what a reconcile compares. */
static struct json_object *task_fields(const struct backend *b, const struct model_backend *mb,
				       struct json_object *rec)
{
	struct json_object *o = json_object_new_object(), *md, *v;
	const char *model = mb && mb->model ? mb->model : rec_str(rec, "model");
	json_object_object_add(o, "model", json_object_new_string(model ? model : ""));
	int w = remote_param_int(rec, "width", 1280), h = remote_param_int(rec, "height", 720);
	if (w <= 0 || h <= 0)
		w = 1280, h = 720;
	/* with an image, the video follows the image's shape */
	json_object_object_add(o, "ratio",
			       json_object_new_string(remote_has_image(rec)
							      ? "adaptive"
							      : ratios[nearest_ratio(w, h)].name));
	json_object_object_add(o, "resolution", json_object_new_string(resolution(w, h)));
	json_object_object_add(o, "duration",
			       json_object_new_int(remote_param_int(rec, "seconds", 5)));
	unsigned long seed;
	const char *id = rec_str(rec, "id");
	json_object_object_add(o, "seed",
			       json_object_new_int64(remote_has_seed(rec, &seed)
							     ? (long long)seed
							     : derived_seed(id)));
	add_config_bool(o, b, "watermark");
	add_config_bool(o, b, "generate_audio");
	if (json_object_object_get_ex(rec, "metadata", &md) &&
	    json_object_is_type(md, json_type_object))
		for (size_t i = 0; i < sizeof(native) / sizeof(*native); i++)
			if (json_object_object_get_ex(md, native[i].name, &v) &&
			    json_object_is_type(v, native[i].type))
				json_object_object_add(o, native[i].name, json_object_get(v));
	return o;
}

/* image_item: the input image as a content[] item, or NULL (ans set) when
 * the stored image cannot be read or is over Ark's limit. */
static struct json_object *image_item(const struct backend *b, struct json_object *rec,
				      struct remote_answer *ans)
{
	const char *url = remote_image_url(rec);
	struct buf data;
	buf_init(&data, (size_t)IMAGE_MAX / 3 * 4 + 64);
	if (url == NULL) {
		char *b64 = remote_image_b64(b->data_dir, rec, IMAGE_MAX);
		const char *ext = rec_str(rec_obj(rec_obj(rec, "params"), "image"), "ext");
		const char *mime = ext && strcmp(ext, "jpg") == 0    ? "jpeg"
				   : ext && strcmp(ext, "webp") == 0 ? "webp"
								     : "png";
		if (b64 == NULL || buf_printf(&data, "data:image/%s;base64,", mime) < 0 ||
		    buf_puts(&data, b64) < 0) {
			free(b64);
			buf_deinit(&data);
			ans->verdict = RV_FAIL;
			snprintf(ans->code, sizeof(ans->code), "invalid_image");
			snprintf(ans->message, sizeof(ans->message),
				 "The input image cannot be sent to Seedance (it must be a file "
				 "of at most 30 MB).");
			return NULL;
		}
		free(b64);
		url = data.data;
	}
	const char *role = remote_meta_str(rec, "image_role");
	struct json_object *item = json_object_new_object(), *iu = json_object_new_object();
	json_object_object_add(iu, "url", json_object_new_string(url));
	json_object_object_add(item, "type", json_object_new_string("image_url"));
	json_object_object_add(item, "image_url", iu);
	json_object_object_add(item, "role",
			       json_object_new_string(role && strcmp(role, "reference_image") == 0
							      ? "reference_image"
							      : "first_frame"));
	buf_deinit(&data);
	return item;
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

/* reference_max: how many reference images Ark's model takes, by its id
 * (Seedance 2.0 and 2.0 fast 9, 1.0 lite i2v 4); 0 for the others and for
 * an endpoint id, whose model reelgate cannot see. */
static size_t reference_max(const char *model)
{
	if (model && strstr(model, "seedance-2-0"))
		return 9;
	return model && strstr(model, "seedance-1-0-lite-i2v") ? 4 : 0;
}

/* add_characters appends a reference_image item per character (its first
 * frame, a PNG under uploads/, as a data: URL); -1 (ans set) when one
 * cannot be read or is over Ark's 30 MB. */
static int add_characters(const struct backend *b, struct json_object *rec,
			  struct json_object *content, struct remote_answer *ans)
{
	struct json_object *refs = characters(rec);
	for (size_t i = 0; refs && i < json_object_array_length(refs); i++) {
		const char *img = rec_str(json_object_array_get_idx(refs, i), "image");
		char *uri = remote_data_uri(b->data_dir, img, "image/png", IMAGE_MAX);
		if (uri == NULL) {
			ans->verdict = RV_FAIL;
			snprintf(ans->code, sizeof(ans->code), "invalid_image");
			snprintf(ans->message, sizeof(ans->message),
				 "A character's reference image cannot be sent to Seedance "
				 "(missing, or over 30 MB); create the character from a smaller "
				 "clip.");
			return -1;
		}
		struct json_object *item = json_object_new_object(), *iu = json_object_new_object();
		json_object_object_add(iu, "url", json_object_new_string(uri));
		free(uri);
		json_object_object_add(item, "type", json_object_new_string("image_url"));
		json_object_object_add(item, "image_url", iu);
		json_object_object_add(item, "role", json_object_new_string("reference_image"));
		json_object_array_add(content, item);
	}
	return 0;
}

static int submit_body(struct backend *b, const struct model_backend *mb, struct json_object *rec,
		       struct http_req *req, struct remote_answer *ans)
{
	struct json_object *body = task_fields(b, mb, rec);
	struct json_object *content = json_object_new_array(), *text = json_object_new_object();
	const char *prompt = rec_str(rec, "prompt");
	json_object_object_add(text, "type", json_object_new_string("text"));
	json_object_object_add(text, "text", json_object_new_string(prompt ? prompt : ""));
	json_object_array_add(content, text);
	json_object_object_add(body, "content", content);
	if (remote_has_image(rec)) {
		struct json_object *img = image_item(b, rec, ans);
		if (img == NULL) {
			json_object_put(body);
			return -1;
		}
		json_object_array_add(content, img);
	}
	if (add_characters(b, rec, content, ans) < 0) {
		json_object_put(body);
		return -1;
	}
	int rc = buf_puts(&req->body,
			  json_object_to_json_string_ext(
				  body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(body);
	return rc;
}

static int seedance_build(struct backend *b, const struct model_backend *mb,
			  struct json_object *rec, enum remote_phase ph, struct http_req *req,
			  struct remote_answer *ans)
{
	const char *base = b->cfg->base_url, *up = remote_get(rec, "upstream_id");
	switch (ph) {
	case PHASE_SUBMIT:
		snprintf(req->method, sizeof(req->method), "POST");
		snprintf(req->url, sizeof(req->url), "%s/contents/generations/tasks", base);
		http_req_header(req, "Content-Type", "application/json");
		auth(b, req);
		return submit_body(b, mb, rec, req, ans);
	case PHASE_RECONCILE: {
		struct json_object *f = task_fields(b, mb, rec);
		snprintf(req->url, sizeof(req->url),
			 "%s/contents/generations/tasks?page_num=1&page_size=%d&filter.model=",
			 base, LIST_PAGE);
		url_append_escaped(req->url, sizeof(req->url), rec_str(f, "model"));
		json_object_put(f);
		break;
	}
	case PHASE_POLL:
	case PHASE_CANCEL:
		if (up == NULL || up[0] == '\0')
			return -1;
		snprintf(req->url, sizeof(req->url), "%s/contents/generations/tasks/", base);
		url_append_escaped(req->url, sizeof(req->url), up);
		if (ph == PHASE_CANCEL)
			snprintf(req->method, sizeof(req->method), "DELETE");
		break;
	case PHASE_FETCH_VIDEO:
		/* a signed object-store URL: it carries its own credential,
		 * and Ark's key is never sent with it */
		snprintf(req->url, sizeof(req->url), "%s",
			 remote_get(rec, "video_url") ? remote_get(rec, "video_url") : "");
		return req->url[0] ? 0 : -1;
	default: return -1;
	}
	auth(b, req);
	return 0;
}

/* ---- answers ---- */

/* seedance_error reads Ark's {"error":{"code","message"}} and decides. */
static void seedance_error(struct remote_answer *ans, long status, struct json_object *o)
{
	struct json_object *err = rec_obj(o, "error");
	const char *code = rec_str(err, "code"), *msg = rec_str(err, "message");
	if (code == NULL)
		code = "";
	if (msg == NULL)
		msg = "";
	if (strstr(code, "SensitiveContent")) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "content_policy_violation");
		snprintf(ans->message, sizeof(ans->message),
			 "Seedance refused the request under its content rules (%.80s): %.300s",
			 code, msg);
		return;
	}
	if (strncmp(code, "QuotaExceeded", 13) == 0 || strcmp(code, "AccountOverdueError") == 0) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_quota_exhausted");
		snprintf(ans->message, sizeof(ans->message),
			 "The Seedance account cannot pay for this task (%.80s).", code);
		return;
	}
	if (status == 400 || status == 404 || status == 422) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_rejected");
		snprintf(ans->message, sizeof(ans->message),
			 "Seedance refused the request (HTTP %ld, %.80s): %.300s", status,
			 code[0] ? code : "no code", msg[0] ? msg : "no reason given");
		return;
	}
	/* rate limits (RateLimitExceeded.*), ServerOverloaded, 5xx and no
	 * answer wait; 401/403 fail without Ark's words */
	char detail[420];
	snprintf(detail, sizeof(detail), "%.80s %.300s", code, msg);
	remote_http_error(ans, "Seedance", status, code[0] ? detail : NULL);
}

static enum remote_state task_state(const char *st)
{
	static const struct {
		const char *name;
		enum remote_state state;
	} map[] = { { "queued", RS_QUEUED },	   { "pending", RS_QUEUED },
		    { "running", RS_RUNNING },	   { "processing", RS_RUNNING },
		    { "succeeded", RS_SUCCEEDED }, { "failed", RS_FAILED },
		    { "cancelled", RS_FAILED },	   { "expired", RS_FAILED } };
	for (size_t i = 0; st && i < sizeof(map) / sizeof(*map); i++)
		if (strcmp(map[i].name, st) == 0)
			return map[i].state;
	return RS_UNKNOWN;
}

static void task_failed(struct json_object *t, const char *st, struct remote_answer *ans)
{
	struct json_object *err = rec_obj(t, "error");
	const char *code = rec_str(err, "code"), *msg = rec_str(err, "message");
	snprintf(ans->code, sizeof(ans->code), "%s",
		 code && strstr(code, "SensitiveContent") ? "content_policy_violation"
							  : "generation_failed");
	if (strcmp(st, "cancelled") == 0)
		snprintf(ans->message, sizeof(ans->message),
			 "The Seedance task was cancelled upstream.");
	else if (strcmp(st, "expired") == 0)
		snprintf(ans->message, sizeof(ans->message),
			 "The Seedance task expired before it ran (execution_expires_after).");
	else
		snprintf(ans->message, sizeof(ans->message),
			 "Seedance could not make the video (%.80s): %.400s",
			 code && code[0] ? code : "no code",
			 msg && msg[0] ? msg : "no reason given");
}

/* task_answer reads a task object (a poll's answer). */
static void task_answer(struct json_object *t, struct remote_answer *ans)
{
	const char *id = rec_str(t, "id"), *st = rec_str(t, "status");
	if (id == NULL || id[0] == '\0' || st == NULL) {
		ans->verdict = RV_RETRY;
		return;
	}
	snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", id);
	ans->verdict = RV_OK;
	ans->progress = -1;
	ans->state = task_state(st);
	if (ans->state == RS_FAILED)
		task_failed(t, st, ans);
	if (ans->state != RS_SUCCEEDED)
		return;
	const char *url = rec_str(rec_obj(t, "content"), "video_url");
	snprintf(ans->video_url, sizeof(ans->video_url), "%s", url ? url : "");
	if (ans->video_url[0] == '\0' || (url && strlen(url) >= sizeof(ans->video_url))) {
		ans->video_url[0] = '\0';
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_invalid_answer");
		snprintf(ans->message, sizeof(ans->message),
			 "Seedance reported success without a usable video URL.");
		return;
	}
	struct json_object *tokens;
	if (json_object_object_get_ex(rec_obj(t, "usage"), "total_tokens", &tokens) &&
	    json_object_is_type(tokens, json_type_int)) {
		char v[32];
		snprintf(v, sizeof(v), "%lld", (long long)json_object_get_int64(tokens));
		answer_keep(ans, "total_tokens", v);
		answer_usage(ans, "tokens", tokens); /* what Ark bills */
	}
}

/* same_int / same_str: the listed task's field matches ours, or it does
 * not say. */
static int same_int(struct json_object *item, struct json_object *ours, const char *name)
{
	struct json_object *a, *b;
	if (!json_object_object_get_ex(item, name, &a) || !json_object_is_type(a, json_type_int))
		return 1;
	return json_object_object_get_ex(ours, name, &b) &&
	       json_object_get_int64(a) == json_object_get_int64(b);
}

static int same_str(struct json_object *item, struct json_object *ours, const char *name)
{
	const char *a = rec_str(item, name), *b = rec_str(ours, name);
	return a == NULL || b == NULL || strcmp(b, "adaptive") == 0 || strcmp(a, b) == 0;
}

/* reconcile_match: the listed tasks that may be our lost submit's: our
 * seed, duration, ratio and resolution, created around our intent.  The
 * dispatcher skips those another task already holds. */
static void reconcile_match(struct backend *b, struct json_object *rec, struct json_object *list,
			    struct remote_answer *ans)
{
	struct json_object *items, *seed, *ours = task_fields(b, NULL, rec);
	const char *intent = remote_get(rec, "intent_at");
	long long at = intent ? atoll(intent) / 1000 : 0;
	long long lo = at - CLOCK_MARGIN_S,
		  hi = at + b->cfg->request_timeout_ms / 1000 + CLOCK_MARGIN_S;
	ans->verdict = RV_OK;
	ans->state = RS_NOT_FOUND;
	if (!json_object_object_get_ex(list, "items", &items) ||
	    !json_object_is_type(items, json_type_array)) {
		ans->verdict = RV_RETRY; /* not a list: ask again */
		json_object_put(ours);
		return;
	}
	size_t n = json_object_array_length(items);
	long long oldest = -1;
	json_object_object_get_ex(ours, "seed", &seed);
	/* our task is the oldest that fits: scan oldest first */
	for (size_t i = n; i-- > 0 && ans->ncandidates < 8;) {
		struct json_object *t = json_object_array_get_idx(items, i), *c, *s;
		const char *id = rec_str(t, "id");
		long long created = json_object_object_get_ex(t, "created_at", &c) &&
						    json_object_is_type(c, json_type_int)
					    ? json_object_get_int64(c)
					    : -1;
		if (created >= 0 && (oldest < 0 || created < oldest))
			oldest = created;
		if (id == NULL || id[0] == '\0' || strlen(id) >= sizeof(ans->candidates[0]) ||
		    created < lo || created > hi || !json_object_object_get_ex(t, "seed", &s) ||
		    !json_object_is_type(s, json_type_int) ||
		    json_object_get_int64(s) != json_object_get_int64(seed) ||
		    !same_int(t, ours, "duration") || !same_str(t, ours, "ratio") ||
		    !same_str(t, ours, "resolution"))
			continue;
		snprintf(ans->candidates[ans->ncandidates++], sizeof(ans->candidates[0]), "%s", id);
	}
	json_object_put(ours);
	if (ans->ncandidates > 0) {
		ans->state = RS_QUEUED;
	} else if (n >= LIST_PAGE && oldest >= lo) {
		/* the page ends inside the window: ours may be on the next */
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_unknown_outcome");
		snprintf(ans->message, sizeof(ans->message),
			 "The submit's outcome is unknown and more than %d Seedance tasks of this "
			 "model were created around it; it was not sent again, to avoid a second "
			 "charge.",
			 LIST_PAGE);
	}
}

/* cancel_answer: DELETE cancels a queued task (and deletes the record of
 * an ended one); Ark refuses it for a running task. */
static void cancel_answer(long status, struct json_object *o, struct remote_answer *ans)
{
	enum cancel_status cs = remote_cancel_status(status, ans);
	if (cs == CANCEL_DECIDED)
		return;
	if (cs == CANCEL_REFUSED) {
		struct json_object *err = rec_obj(o, "error");
		const char *code = rec_str(err, "code"), *msg = rec_str(err, "message");
		snprintf(ans->message, sizeof(ans->message),
			 "Seedance would not cancel the task (%.80s): %.300s",
			 code ? code : "no code", msg && msg[0] ? msg : "no reason given");
		return;
	}
	seedance_error(ans, status, o);
}

static void seedance_parse(struct backend *b, struct json_object *rec, enum remote_phase ph,
			   long status, const char *body, size_t len, struct remote_answer *ans)
{
	struct json_object *o = remote_parse_object(body, len);
	if (ph == PHASE_CANCEL) {
		cancel_answer(status, o, ans);
	} else if (status < 200 || status > 299) {
		seedance_error(ans, status, o);
	} else if (o == NULL) {
		ans->verdict = RV_RETRY; /* a success we cannot read */
		ans->maybe_created = ph == PHASE_SUBMIT;
	} else if (ph == PHASE_SUBMIT) {
		const char *id = rec_str(o, "id");
		if (id == NULL || id[0] == '\0' || strlen(id) >= sizeof(ans->upstream_id)) {
			ans->verdict = RV_RETRY; /* made, maybe: reconciled */
			ans->maybe_created = 1;
		} else {
			ans->verdict = RV_OK;
			ans->state = RS_QUEUED;
			snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", id);
		}
	} else if (ph == PHASE_RECONCILE) {
		reconcile_match(b, rec, o, ans);
	} else if (ph == PHASE_POLL) {
		task_answer(o, ans);
	} else {
		ans->verdict = RV_RETRY; /* a phase this module never asks */
	}
	json_object_put(o);
}

static void seedance_unsupported(const struct backend_cfg *b, const struct model_backend *mb,
				 const struct video_spec *s, const char **out)
{
	(void)b;
	(void)mb;
	size_t n = 0;
	struct json_object *v;
	/* Ark renders 24 fps */
	if (s->fps_given && s->fps != 24)
		out[n++] = "fps";
	if (s->size_given && (s->image != IMAGE_NONE || !size_exact(s->width, s->height)))
		out[n++] = "size";
	if (s->metadata && json_object_object_get_ex(s->metadata, "negative_prompt", &v))
		out[n++] = "metadata.negative_prompt";
	out[n] = NULL;
}

/* seedance_ops: characters on the models that take reference images. */
static unsigned seedance_ops(const struct backend_cfg *b, const struct model_backend *mb)
{
	(void)b;
	return reference_max(mb ? mb->model : NULL) > 0 ? BOP_REFERENCES : 0;
}

/* seedance_fits: Ark does not mix a first frame with reference images, and
 * takes a bounded number of them. */
static int seedance_fits(const struct backend_cfg *b, const struct model_backend *mb,
			 const struct video_spec *s, int *segment, char *why, size_t n)
{
	(void)b;
	(void)segment;
	if (s->references == NULL)
		return 0;
	struct json_object *v = NULL;
	int image_ref = s->metadata && json_object_object_get_ex(s->metadata, "image_role", &v) &&
			json_object_is_type(v, json_type_string) &&
			strcmp(json_object_get_string(v), "reference_image") == 0;
	if (s->image != IMAGE_NONE && !image_ref) {
		snprintf(why, n,
			 "Seedance does not mix a first frame with reference images (characters): "
			 "set metadata.image_role to \"reference_image\" to send the image as one "
			 "more reference, or drop input_reference.");
		return -1;
	}
	size_t count = json_object_array_length(s->references) + (s->image != IMAGE_NONE);
	size_t max = reference_max(mb ? mb->model : NULL);
	if (count > max) {
		snprintf(why, n,
			 "Seedance's %.60s takes at most %zu reference images (the characters and "
			 "the input image together); this request has %zu.",
			 mb && mb->model ? mb->model : "model", max, count);
		return -1;
	}
	return 0;
}

const struct backend_type backend_seedance = {
	.name = "seedance",
	.kind = BACKEND_HTTP,
	.caps = BCAP_RECONCILE | BCAP_CANCEL,
	.keys = seedance_keys,
	.record_keys = seedance_record_keys,
	.state_size = sizeof(struct seedance_state),
	.check = seedance_check,
	.init = seedance_init,
	.unsupported = seedance_unsupported,
	.ops = seedance_ops,
	.fits = seedance_fits,
	.build = seedance_build,
	.parse = seedance_parse,
};
