/*
 * backend_runway: the Runway API v1 (POST {base_url}/text_to_video or
 * /image_to_video, GET and DELETE {base_url}/tasks/{id}, every request with
 * a Bearer key and X-Runway-Version: 2024-11-06).  The create body is a
 * union keyed on the model: each model takes its own ratios ("W:H" in
 * pixels), durations and optional fields (seed, negativePrompt), so a size
 * maps to the model's exact ratio or its nearest, and seconds to the
 * model's nearest duration, both reported as ignored when not exact.  The
 * input image goes as a data: URI (at most 5 MB) or the caller's https URL.
 * The result is a signed URL downloaded without credentials.  Runway
 * echoes no client reference and lists no tasks, so a submit of unknown
 * outcome cannot be found again (no BCAP_RECONCILE); DELETE cancels a
 * pending, throttled or running task.  Edits go to POST
 * {base_url}/video_to_video with the source clip as a data: URI (at most
 * 16 MB), on the models that take one (aleph2, gemini_omni_flash: videoUri;
 * seedance2*: promptVideo); characters go as `references` (image data:
 * URIs) on seedance2's text to video.
 */
#include "backend_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct runway_state {
	char api_key[512];
};

static const char *const runway_keys[] = { "api_key", "api_key_env", NULL };

#define RUNWAY_VERSION "2024-11-06"
/* A data: URI is at most 5 MB: the image, base64, and its prefix. */
#define DATA_URI_MAX (5u << 20)
#define IMAGE_MAX ((DATA_URI_MAX - 64) / 4 * 3)
/* A video as a data: URI is at most 16 MB: a clip of about 12 MB. */
#define VIDEO_URI_MAX (16u << 20)
#define VIDEO_MAX ((VIDEO_URI_MAX - 64) / 4 * 3)
/* seedance2's references: up to 9 images */
#define REFERENCES_MAX 9

static int runway_check(struct confcheck *c, struct json_object *o, const char *key)
{
	return cc_secret(c, o, key, "api_key");
}

static int runway_init(struct backend *b, char *err, size_t errlen)
{
	struct runway_state *st = b->state;
	return backend_need_secret(b->cfg, "api_key", st->api_key, sizeof(st->api_key), err,
				   errlen);
}

static void auth(struct backend *b, struct http_req *req)
{
	char v[600];
	snprintf(v, sizeof(v), "Bearer %s", ((struct runway_state *)b->state)->api_key);
	http_req_secret_header(req, "Authorization", v);
	http_req_header(req, "X-Runway-Version", RUNWAY_VERSION);
}

/* ---- the models, as runwayml/sdk-python's create params describe them ---- */

enum {
	F_SEED = 1 << 0,	/* takes seed */
	F_NEGATIVE = 1 << 1,	/* takes negativePrompt */
	F_AUDIO = 1 << 2,	/* takes audio */
	F_MODERATION = 1 << 3,	/* takes contentModeration */
	F_NO_TEXT = 1 << 4,	/* image to video only */
	F_NO_CREATE = 1 << 5,	/* video to video only (edits) */
	F_EDIT_URI = 1 << 6,	/* video_to_video, the source as videoUri */
	F_EDIT_PROMPT = 1 << 7, /* video_to_video, the source as promptVideo */
	F_REFERENCES = 1 << 8,	/* text_to_video takes references[{uri}] */
};

static const char *const ratios_gen_t2v[] = { "1280:720", "720:1280", NULL };
static const char *const ratios_gen_i2v[] = { "1280:720", "720:1280", "1104:832", "960:960",
					      "832:1104", "1584:672", NULL };
static const char *const ratios_veo[] = { "1280:720", "720:1280", "1080:1920", "1920:1080", NULL };
static const char *const ratios_seedance2[] = {
	"992:432",   "864:496",	  "752:560",   "640:640",   "560:752",	 "496:864",   "1470:630",
	"1280:720",  "1112:834",  "960:960",   "834:1112",  "720:1280",	 "2206:946",  "1920:1080",
	"1664:1248", "1440:1440", "1248:1664", "1080:1920", "3840:1646", "3840:2160", "3840:2880",
	"3840:3840", "2880:3840", "2160:3840", NULL
};
/* seedance2_fast and seedance2_mini: 480p and 720p only, the first 12 */
static const char *const ratios_seedance2_720[] = { "992:432",	"864:496", "752:560",  "640:640",
						    "560:752",	"496:864", "1470:630", "1280:720",
						    "1112:834", "960:960", "834:1112", "720:1280",
						    NULL };
static const int durations_veo31[] = { 4, 6, 8, 0 };
static const int durations_veo3[] = { 8, 0 };

struct runway_model {
	const char *name;
	const char *const *t2v_ratios, *const *i2v_ratios;
	int min_s, max_s;     /* a range of seconds, when durations is NULL */
	const int *durations; /* the only durations, 0-terminated */
	unsigned flags;
};

static const struct runway_model models[] = {
	{ "gen4.5", ratios_gen_t2v, ratios_gen_i2v, 2, 10, NULL, F_SEED | F_MODERATION },
	{ "gen4_turbo", NULL, ratios_gen_i2v, 2, 10, NULL, F_SEED | F_MODERATION | F_NO_TEXT },
	{ "veo3.1", ratios_veo, ratios_veo, 0, 0, durations_veo31, F_NEGATIVE | F_AUDIO },
	{ "veo3.1_fast", ratios_veo, ratios_veo, 0, 0, durations_veo31, F_NEGATIVE | F_AUDIO },
	{ "veo3", ratios_veo, ratios_veo, 0, 0, durations_veo3, F_NEGATIVE },
	{ "seedance2", ratios_seedance2, ratios_seedance2, 4, 15, NULL,
	  F_AUDIO | F_EDIT_PROMPT | F_REFERENCES },
	{ "seedance2_fast", ratios_seedance2_720, ratios_seedance2_720, 4, 15, NULL,
	  F_AUDIO | F_EDIT_PROMPT | F_REFERENCES },
	{ "seedance2_mini", ratios_seedance2_720, ratios_seedance2_720, 4, 15, NULL,
	  F_AUDIO | F_EDIT_PROMPT | F_REFERENCES },
	{ "gemini_omni_flash", ratios_gen_t2v, ratios_gen_t2v, 3, 10, NULL, F_EDIT_URI },
	{ "aleph2", ratios_gen_t2v, ratios_gen_t2v, 2, 10, NULL,
	  F_SEED | F_MODERATION | F_NO_CREATE | F_EDIT_URI },
};

/* A model not in the table (happyhorse_1_0...) is sent the common shape:
 * promptText, ratio 1280:720 or 720:1280, duration. */
static const struct runway_model generic = { "", ratios_gen_t2v, ratios_gen_t2v, 2, 15, NULL, 0 };

static const struct runway_model *model_of(const char *name)
{
	for (size_t i = 0; name && i < sizeof(models) / sizeof(*models); i++)
		if (strcmp(models[i].name, name) == 0)
			return &models[i];
	return &generic;
}

static const char *model_name(const struct model_backend *mb, struct json_object *rec)
{
	const char *m = mb && mb->model ? mb->model : rec_str(rec, "model");
	return m ? m : "";
}

/* pick_ratio: the model's ratio nearest to w x h (by aspect, then by
 * area); *exact when it is w x h itself. */
static const char *pick_ratio(const char *const *list, int w, int h, int *exact)
{
	const char *best = list[0];
	double want = log((double)w / h), gap = 1e18;
	*exact = 0;
	for (size_t i = 0; list[i]; i++) {
		int rw = atoi(list[i]), rh = atoi(strchr(list[i], ':') + 1);
		double d = fabs(log((double)rw / rh) - want) * 1e9 +
			   fabs((double)rw * rh - (double)w * h);
		if (rw == w && rh == h) {
			*exact = 1;
			return list[i];
		}
		if (d < gap) {
			gap = d;
			best = list[i];
		}
	}
	return best;
}

/* pick_duration: the model's duration nearest to s; *exact when s. */
static int pick_duration(const struct runway_model *m, int s, int *exact)
{
	int best = s;
	if (m->durations == NULL) {
		best = s < m->min_s ? m->min_s : s > m->max_s ? m->max_s : s;
	} else {
		best = m->durations[0];
		for (size_t i = 0; m->durations[i]; i++)
			if (abs(m->durations[i] - s) < abs(best - s))
				best = m->durations[i];
	}
	*exact = best == s;
	return best;
}

static const char *const *ratio_list(const struct runway_model *m, int image)
{
	return image || m->t2v_ratios == NULL ? m->i2v_ratios : m->t2v_ratios;
}

/* Provider-native fields a caller may set through metadata, with their
 * JSON type and the model flag that allows them (0: every model). model,
 * promptText, promptImage, seed and duration have fields of their own;
 * metadata values are scalars, so contentModeration.publicFigureThreshold
 * comes as metadata.publicFigureThreshold. */
static const struct {
	const char *name;
	json_type type;
	unsigned flag;
} native[] = { { "ratio", json_type_string, 0 }, { "audio", json_type_boolean, F_AUDIO } };

static void add_natives(struct json_object *body, const struct runway_model *m,
			struct json_object *rec)
{
	struct json_object *md, *v;
	if (!json_object_object_get_ex(rec, "metadata", &md) ||
	    !json_object_is_type(md, json_type_object))
		return;
	for (size_t i = 0; i < sizeof(native) / sizeof(*native); i++)
		if ((native[i].flag == 0 || (m->flags & native[i].flag)) &&
		    json_object_object_get_ex(md, native[i].name, &v) &&
		    json_object_is_type(v, native[i].type))
			json_object_object_add(body, native[i].name, json_object_get(v));
	if ((m->flags & F_MODERATION) &&
	    json_object_object_get_ex(md, "publicFigureThreshold", &v) &&
	    json_object_is_type(v, json_type_string)) {
		struct json_object *cm = json_object_new_object();
		json_object_object_add(cm, "publicFigureThreshold", json_object_get(v));
		json_object_object_add(body, "contentModeration", cm);
	}
}

/* prompt_image: the input image as Runway takes it (the caller's https URL,
 * or the stored file as a data: URI), or NULL with ans set. */
static struct json_object *prompt_image(const struct backend *b, struct json_object *rec,
					struct remote_answer *ans)
{
	const char *url = remote_image_url(rec);
	if (url != NULL && strncmp(url, "https://", 8) == 0)
		return json_object_new_string(url);
	char *b64 = url ? NULL : remote_image_b64(b->data_dir, rec, IMAGE_MAX);
	if (b64 == NULL) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "invalid_image");
		snprintf(ans->message, sizeof(ans->message),
			 "The input image cannot be sent to Runway (an https URL, or a file of at "
			 "most 3.7 MB: Runway takes data URIs up to 5 MB).");
		return NULL;
	}
	const char *ext = rec_str(rec_obj(rec_obj(rec, "params"), "image"), "ext");
	const char *mime = ext && strcmp(ext, "jpg") == 0    ? "jpeg"
			   : ext && strcmp(ext, "webp") == 0 ? "webp"
							     : "png";
	struct buf data;
	buf_init(&data, DATA_URI_MAX + 64);
	struct json_object *o = NULL;
	if (buf_printf(&data, "data:image/%s;base64,", mime) == 0 && buf_puts(&data, b64) == 0)
		o = json_object_new_string(data.data);
	free(b64);
	buf_deinit(&data);
	if (o == NULL) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "invalid_image");
		snprintf(ans->message, sizeof(ans->message),
			 "The input image is over Runway's 5 MB data URI limit.");
	}
	return o;
}

/* refuse fails the task at build with code and a message; -1. */
__attribute__((format(printf, 3, 4))) static int refuse(struct remote_answer *ans, const char *code,
							const char *fmt, ...)
{
	va_list ap;
	ans->verdict = RV_FAIL;
	snprintf(ans->code, sizeof(ans->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(ans->message, sizeof(ans->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* task_references: params.references, the characters, or NULL. */
static struct json_object *task_references(struct json_object *rec)
{
	struct json_object *a = NULL;
	json_object_object_get_ex(rec_obj(rec, "params"), "references", &a);
	return json_object_is_type(a, json_type_array) && json_object_array_length(a) > 0 ? a
											  : NULL;
}

/* references: the characters' first frames (PNGs under uploads/) as
 * Runway's [{"uri": "data:image/png;base64,..."}], or NULL (ans set) when
 * one cannot be read or is over the 5 MB data URI limit. */
static struct json_object *references(const struct backend *b, struct json_object *refs,
				      struct remote_answer *ans)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(refs); i++) {
		const char *img = rec_str(json_object_array_get_idx(refs, i), "image");
		char *uri = remote_data_uri(b->data_dir, img, "image/png", IMAGE_MAX);
		if (uri == NULL) {
			json_object_put(a);
			refuse(ans, "invalid_image",
			       "A character's reference image cannot be sent to Runway: it is "
			       "missing or over %s (Runway takes data URIs up to 5 MB); create the "
			       "character from a smaller clip.",
			       "3.7 MB");
			return NULL;
		}
		struct json_object *r = json_object_new_object();
		json_object_object_add(r, "uri", json_object_new_string(uri));
		free(uri);
		json_object_array_add(a, r);
	}
	return a;
}

static int put_body(struct http_req *req, struct json_object *body)
{
	int rc = buf_puts(&req->body,
			  json_object_to_json_string_ext(
				  body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(body);
	return rc;
}

static int is_edit(struct json_object *rec)
{
	const char *op = rec_str(rec, "op");
	return op != NULL && strcmp(op, "edit") == 0;
}

/* edit_body: POST /video_to_video, the source clip (params.source) as a
 * data: URI in the model's field, the prompt as promptText. */
static int edit_body(struct backend *b, const struct model_backend *mb, struct json_object *rec,
		     struct http_req *req, struct remote_answer *ans)
{
	const char *name = model_name(mb, rec);
	const struct runway_model *m = model_of(name);
	if (!(m->flags & (F_EDIT_URI | F_EDIT_PROMPT)))
		return refuse(ans, "unsupported_operation",
			      "Runway's %.60s does not edit videos (video to video).", name);
	struct json_object *src = rec_obj(rec_obj(rec, "params"), "source");
	const char *ext = rec_str(src, "ext");
	const char *mime = ext && strcmp(ext, "webm") == 0  ? "video/webm"
			   : ext && strcmp(ext, "mov") == 0 ? "video/quicktime"
							    : "video/mp4";
	char *uri = remote_data_uri(b->data_dir, rec_str(src, "path"), mime, VIDEO_MAX);
	if (uri == NULL)
		return refuse(ans, "unsupported_value",
			      "The source video cannot be sent to Runway's %.60s: it takes a video "
			      "inline as a data: URI of at most 16 MB (a clip of about 12 MB).",
			      name);
	struct json_object *body = json_object_new_object();
	json_object_object_add(body, "model", json_object_new_string(name));
	json_object_object_add(body, (m->flags & F_EDIT_PROMPT) ? "promptVideo" : "videoUri",
			       json_object_new_string(uri));
	free(uri);
	const char *prompt = rec_str(rec, "prompt");
	if (prompt && prompt[0])
		json_object_object_add(body, "promptText", json_object_new_string(prompt));
	unsigned long seed;
	if ((m->flags & F_SEED) && remote_has_seed(rec, &seed) && seed <= 4294967295ul)
		json_object_object_add(body, "seed", json_object_new_int64((long long)seed));
	add_natives(body, m, rec);
	return put_body(req, body);
}

static int submit_body(struct backend *b, const struct model_backend *mb, struct json_object *rec,
		       struct http_req *req, struct remote_answer *ans)
{
	const char *name = model_name(mb, rec);
	const struct runway_model *m = model_of(name);
	int image = remote_has_image(rec), exact;
	struct json_object *refs = task_references(rec);
	if (m->flags & F_NO_CREATE)
		return refuse(ans, "unsupported_value",
			      "Runway's %.60s only edits videos: use POST /v1/videos/edits.", name);
	if (refs && (image || !(m->flags & F_REFERENCES)))
		return refuse(ans, "unsupported_operation",
			      "Runway's %.60s takes characters only on text to video, without an "
			      "input image.",
			      name);
	if (!image && (m->flags & F_NO_TEXT)) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "unsupported_value");
		snprintf(ans->message, sizeof(ans->message),
			 "Runway's %.60s makes videos from an image only: give input_reference.",
			 name);
		return -1;
	}
	struct json_object *body = json_object_new_object();
	json_object_object_add(body, "model", json_object_new_string(name));
	const char *prompt = rec_str(rec, "prompt");
	if (prompt && prompt[0])
		json_object_object_add(body, "promptText", json_object_new_string(prompt));
	if (image) {
		struct json_object *img = prompt_image(b, rec, ans);
		if (img == NULL) {
			json_object_put(body);
			return -1;
		}
		json_object_object_add(body, "promptImage", img);
	}
	int w = remote_param_int(rec, "width", 1280), h = remote_param_int(rec, "height", 720);
	if (w <= 0 || h <= 0)
		w = 1280, h = 720;
	json_object_object_add(
		body, "ratio",
		json_object_new_string(pick_ratio(ratio_list(m, image), w, h, &exact)));
	json_object_object_add(
		body, "duration",
		json_object_new_int(pick_duration(m, remote_param_int(rec, "seconds", 5), &exact)));
	unsigned long seed;
	if ((m->flags & F_SEED) && remote_has_seed(rec, &seed) && seed <= 4294967295ul)
		json_object_object_add(body, "seed", json_object_new_int64((long long)seed));
	const char *neg = remote_meta_str(rec, "negative_prompt");
	if ((m->flags & F_NEGATIVE) && neg && neg[0])
		json_object_object_add(body, "negativePrompt", json_object_new_string(neg));
	add_natives(body, m, rec);
	if (refs) {
		struct json_object *a = references(b, refs, ans);
		if (a == NULL) {
			json_object_put(body);
			return -1;
		}
		json_object_object_add(body, "references", a);
	}
	return put_body(req, body);
}

/* task_url: {base}/tasks/{id}, the id percent-encoded. */
static int task_url(char *out, size_t n, const char *base, const char *id)
{
	if (id == NULL || id[0] == '\0')
		return -1;
	int at = snprintf(out, n, "%s/tasks/", base);
	for (const unsigned char *p = (const unsigned char *)id; *p && at > 0 && (size_t)at + 4 < n;
	     p++) {
		unsigned char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			out[at++] = (char)c;
		else
			at += snprintf(out + at, n - (size_t)at, "%%%02X", c);
	}
	if (at > 0 && (size_t)at < n)
		out[at] = '\0';
	return 0;
}

static int runway_build(struct backend *b, const struct model_backend *mb, struct json_object *rec,
			enum remote_phase ph, struct http_req *req, struct remote_answer *ans)
{
	const char *base = b->cfg->base_url;
	switch (ph) {
	case PHASE_SUBMIT:
		snprintf(req->method, sizeof(req->method), "POST");
		snprintf(req->url, sizeof(req->url), "%s/%s", base,
			 is_edit(rec)		 ? "video_to_video"
			 : remote_has_image(rec) ? "image_to_video"
						 : "text_to_video");
		http_req_header(req, "Content-Type", "application/json");
		auth(b, req);
		return is_edit(rec) ? edit_body(b, mb, rec, req, ans)
				    : submit_body(b, mb, rec, req, ans);
	case PHASE_POLL:
	case PHASE_CANCEL:
		if (task_url(req->url, sizeof(req->url), base, remote_get(rec, "upstream_id")) < 0)
			return -1;
		if (ph == PHASE_CANCEL)
			snprintf(req->method, sizeof(req->method), "DELETE");
		auth(b, req);
		return 0;
	case PHASE_FETCH_VIDEO:
		/* a signed URL on Runway's storage: it carries its own
		 * credential, and the key is never sent with it */
		snprintf(req->url, sizeof(req->url), "%s",
			 remote_get(rec, "video_url") ? remote_get(rec, "video_url") : "");
		return req->url[0] ? 0 : -1;
	default: return -1;
	}
}

/* ---- answers ---- */

/* runway_error reads Runway's {"error": "...", "issues": [...]} and decides. */
static void runway_error(struct remote_answer *ans, long status, struct json_object *o)
{
	const char *msg = rec_str(o, "error");
	struct json_object *issue = remote_idx(rec_obj(o, "issues"), 0);
	const char *imsg = rec_str(issue, "message");
	if (msg == NULL)
		msg = "";
	/* out of credits (400 [mem]) or over the daily cap (429 [2nd]) */
	if (status == 402 || ((status == 400 || status == 429) &&
			      (strstr(msg, "credits") || strstr(msg, "daily")))) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_quota_exhausted");
		snprintf(ans->message, sizeof(ans->message),
			 "The Runway account cannot pay for this task (HTTP %ld): %.300s", status,
			 msg[0] ? msg : "no reason given");
		return;
	}
	if (status == 400 || status == 404 || status == 422) {
		int safety = strstr(msg, "SAFETY") || (imsg && strstr(imsg, "SAFETY")) ||
			     strstr(msg, "content moderation");
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "%s",
			 safety ? "content_policy_violation" : "upstream_rejected");
		snprintf(ans->message, sizeof(ans->message),
			 "Runway refused the request (HTTP %ld): %.250s%s%.200s", status,
			 msg[0] ? msg : "no reason given", imsg ? ": " : "", imsg ? imsg : "");
		return;
	}
	/* 429 rate limits, 5xx and no answer wait; 401/403 fail without
	 * Runway's words */
	remote_http_error(ans, "Runway", status, msg[0] ? msg : NULL);
}

static enum remote_state task_state(const char *st)
{
	static const struct {
		const char *name;
		enum remote_state state;
	} map[] = { { "PENDING", RS_QUEUED },  { "THROTTLED", RS_QUEUED },
		    { "RUNNING", RS_RUNNING }, { "SUCCEEDED", RS_SUCCEEDED },
		    { "FAILED", RS_FAILED },   { "CANCELLED", RS_FAILED } };
	for (size_t i = 0; st && i < sizeof(map) / sizeof(*map); i++)
		if (strcmp(map[i].name, st) == 0)
			return map[i].state;
	return RS_UNKNOWN;
}

/* failure_code: our code for Runway's failureCode family. */
static const char *failure_code(const char *fc)
{
	if (fc == NULL)
		return "generation_failed";
	if (strncmp(fc, "SAFETY", 6) == 0)
		return "content_policy_violation";
	if (strncmp(fc, "ASSET", 5) == 0 || strncmp(fc, "INPUT", 5) == 0)
		return "upstream_rejected";
	return "generation_failed";
}

static void task_answer(struct json_object *t, struct remote_answer *ans)
{
	const char *id = rec_str(t, "id"), *st = rec_str(t, "status");
	enum remote_state s = task_state(st);
	if (id == NULL || id[0] == '\0' || strlen(id) >= sizeof(ans->upstream_id) ||
	    s == RS_UNKNOWN) {
		ans->verdict = RV_RETRY; /* not a task we can read: ask again */
		return;
	}
	snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", id);
	ans->verdict = RV_OK;
	ans->state = s;
	ans->progress = -1;
	struct json_object *p;
	if (s == RS_RUNNING && json_object_object_get_ex(t, "progress", &p) &&
	    (json_object_is_type(p, json_type_double) || json_object_is_type(p, json_type_int))) {
		double v = json_object_get_double(p);
		ans->progress = v < 0 ? 0 : v > 1 ? 100 : (int)(v * 100);
	}
	if (s == RS_FAILED) {
		const char *fc = rec_str(t, "failureCode"), *why = rec_str(t, "failure");
		int cancelled = strcmp(st, "CANCELLED") == 0;
		snprintf(ans->code, sizeof(ans->code), "%s",
			 cancelled ? "generation_failed" : failure_code(fc));
		if (cancelled)
			snprintf(ans->message, sizeof(ans->message),
				 "The Runway task was cancelled or deleted upstream.");
		else
			snprintf(ans->message, sizeof(ans->message),
				 "Runway could not make the video (%.80s): %.400s",
				 fc && fc[0] ? fc : "no code",
				 why && why[0] ? why : "no reason given");
		return;
	}
	if (s != RS_SUCCEEDED)
		return;
	struct json_object *out = NULL;
	json_object_object_get_ex(t, "output", &out);
	struct json_object *first = remote_idx(out, 0);
	const char *url =
		json_object_is_type(first, json_type_string) ? json_object_get_string(first) : NULL;
	if (url == NULL || url[0] == '\0' || strlen(url) >= sizeof(ans->video_url)) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_invalid_answer");
		snprintf(ans->message, sizeof(ans->message),
			 "Runway reported success without a usable video URL.");
		return;
	}
	snprintf(ans->video_url, sizeof(ans->video_url), "%s", url);
}

/* cancel_answer: DELETE answers 204 for a cancelled (or deleted) task. */
static void cancel_answer(long status, struct json_object *o, struct remote_answer *ans)
{
	enum cancel_status cs = remote_cancel_status(status, ans);
	if (cs == CANCEL_REFUSED) {
		const char *msg = rec_str(o, "error");
		snprintf(ans->message, sizeof(ans->message),
			 "Runway would not cancel the task: %.300s",
			 msg && msg[0] ? msg : "no reason given");
	} else if (cs == CANCEL_OTHER) {
		runway_error(ans, status, o);
	}
}

static void runway_parse(struct backend *b, struct json_object *rec, enum remote_phase ph,
			 long status, const char *body, size_t len, struct remote_answer *ans)
{
	(void)b;
	(void)rec;
	struct json_object *o = remote_parse_object(body, len);
	if (ph == PHASE_CANCEL) {
		cancel_answer(status, o, ans);
	} else if (status < 200 || status > 299) {
		runway_error(ans, status, o);
	} else if (o == NULL) {
		ans->verdict = RV_RETRY; /* a success we cannot read */
		ans->maybe_created = ph == PHASE_SUBMIT;
	} else if (ph == PHASE_SUBMIT) {
		const char *id = rec_str(o, "id");
		if (id == NULL || id[0] == '\0' || strlen(id) >= sizeof(ans->upstream_id)) {
			ans->verdict = RV_RETRY; /* made, maybe */
			ans->maybe_created = 1;
		} else {
			ans->verdict = RV_OK;
			ans->state = RS_QUEUED;
			snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", id);
		}
	} else if (ph == PHASE_POLL) {
		task_answer(o, ans);
	} else {
		ans->verdict = RV_RETRY; /* a phase this module never asks */
	}
	json_object_put(o);
}

static void runway_unsupported(const struct backend_cfg *b, const struct model_backend *mb,
			       const struct video_spec *s, const char **out)
{
	(void)b;
	size_t n = 0;
	struct json_object *v;
	const struct runway_model *m = model_of(mb ? mb->model : NULL);
	int exact;
	/* Runway renders 24 fps */
	if (s->fps_given && s->fps != 24)
		out[n++] = "fps";
	if (s->has_seed && !(m->flags & F_SEED))
		out[n++] = "seed";
	if (s->size_given) {
		pick_ratio(ratio_list(m, s->image != IMAGE_NONE), s->width, s->height, &exact);
		if (!exact)
			out[n++] = "size";
	}
	if (s->seconds_given) {
		pick_duration(m, s->seconds, &exact);
		if (!exact)
			out[n++] = "seconds";
	}
	if (!(m->flags & F_NEGATIVE) && s->metadata &&
	    json_object_object_get_ex(s->metadata, "negative_prompt", &v))
		out[n++] = "metadata.negative_prompt";
	out[n] = NULL;
}

/* runway_ops: edits on the models with a video_to_video shape, characters
 * on those whose text_to_video takes references. */
static unsigned runway_ops(const struct backend_cfg *b, const struct model_backend *mb)
{
	(void)b;
	const struct runway_model *m = model_of(mb ? mb->model : NULL);
	return ((m->flags & (F_EDIT_URI | F_EDIT_PROMPT)) ? BOP_EDIT : 0) |
	       ((m->flags & F_REFERENCES) ? BOP_REFERENCES : 0);
}

/* runway_fits: the source of an edit goes inline, so it must fit in a
 * 16 MB data: URI; characters go on text to video only. */
static int runway_fits(const struct backend_cfg *b, const struct model_backend *mb,
		       const struct video_spec *s, int *segment, char *why, size_t n)
{
	(void)b;
	(void)segment;
	const char *name = mb && mb->model ? mb->model : "this model";
	long long bytes = (long long)rec_i64(s->source, "bytes");
	if (s->op && strcmp(s->op, "edit") == 0 && bytes > (long long)VIDEO_MAX) {
		snprintf(why, n,
			 "Runway takes the video to edit inline, as a data: URI of at most 16 MB "
			 "(a file of at most %.1f MB), and this one is %.1f MB; send a shorter or "
			 "smaller clip.",
			 VIDEO_MAX / 1048576.0, bytes / 1048576.0);
		return -1;
	}
	if (s->references && s->image != IMAGE_NONE) {
		snprintf(why, n,
			 "Runway's %.60s takes characters (reference images) on text to video "
			 "only; send either input_reference or metadata.character_ids, not both.",
			 name);
		return -1;
	}
	if (s->references && json_object_array_length(s->references) > REFERENCES_MAX) {
		snprintf(why, n, "Runway's %.60s takes at most %d reference images.", name,
			 REFERENCES_MAX);
		return -1;
	}
	return 0;
}

const struct backend_type backend_runway = {
	.name = "runway",
	.kind = BACKEND_HTTP,
	.caps = BCAP_CANCEL,
	.keys = runway_keys,
	.record_keys = NULL,
	.state_size = sizeof(struct runway_state),
	.check = runway_check,
	.init = runway_init,
	.unsupported = runway_unsupported,
	.ops = runway_ops,
	.fits = runway_fits,
	.build = runway_build,
	.parse = runway_parse,
};
