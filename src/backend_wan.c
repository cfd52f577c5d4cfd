/*
 * backend_wan: Alibaba Wan on DashScope / Model Studio (the async
 * video-synthesis API).  A task is one create with X-DashScope-Async, then
 * GET /tasks/{id} until it ends; the result is a signed OSS URL fetched
 * without credentials.  DashScope takes no client id, so a submit of
 * unknown outcome is found again through its task list (same model,
 * created after our intent).  A PENDING task can be cancelled.
 *
 * Model families (by name): wan2.7 takes resolution + ratio and its image
 * in input.media; kf2v models take first_frame_url / last_frame_url on
 * their own path; the others take size "W*H" (text) or img_url +
 * resolution (image).
 */
#include "backend_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAN_DEFAULT_MODEL "wan2.2-t2v-plus"
#define WAN_MAX_IMAGE (10u << 20) /* DashScope's image size limit */
#define WAN_SEED_MAX 2147483647UL
#define WAN_LIST_PAGE 100

struct wan_state {
	char api_key[512];
};

static const char *const wan_keys[] = { "api_key", "api_key_env", "image_model", "workspace",
					NULL };
/* the model a task was sent to (for the reconcile's list) and its usage */
static const char *const wan_record_keys[] = { "wan_model", "usage", NULL };

/* The sizes DashScope's size parameter takes, with their tier. */
static const struct wan_size {
	int w, h;
	const char *tier;
} wan_sizes[] = {
	{ 832, 480, "480P" },	 { 480, 832, "480P" },	  { 624, 624, "480P" },
	{ 1280, 720, "720P" },	 { 720, 1280, "720P" },	  { 960, 960, "720P" },
	{ 1088, 832, "720P" },	 { 832, 1088, "720P" },	  { 1920, 1080, "1080P" },
	{ 1080, 1920, "1080P" }, { 1440, 1440, "1080P" }, { 1632, 1248, "1080P" },
	{ 1248, 1632, "1080P" },
};

static int wan_check(struct confcheck *c, struct json_object *o, const char *key)
{
	char k2[320];
	char *s = NULL;
	if (cc_secret(c, o, key, "api_key") < 0)
		return -1;
	snprintf(k2, sizeof(k2), "%s.image_model", key);
	if (cc_string(c, o, "image_model", k2, &s) < 0)
		return -1;
	free(s);
	s = NULL;
	snprintf(k2, sizeof(k2), "%s.workspace", key);
	if (cc_string(c, o, "workspace", k2, &s) < 0)
		return -1;
	free(s);
	return 0;
}

static int wan_init(struct backend *b, char *err, size_t errlen)
{
	struct wan_state *st = b->state;
	return backend_need_secret(b->cfg, "api_key", st->api_key, sizeof(st->api_key), err,
				   errlen);
}

/* ---- what a model takes -------------------------------------------------- */

static int is_wan27(const char *model)
{
	return strncmp(model, "wan2.7", 6) == 0;
}

static int is_kf2v(const char *model)
{
	return strstr(model, "kf2v") != NULL;
}

/* allowed_seconds: the duration the model takes nearest to s. */
static int allowed_seconds(const char *model, int s)
{
	if (strncmp(model, "wan2.5", 6) == 0)
		return s <= 7 ? 5 : 10;
	if (strncmp(model, "wan2.6", 6) == 0 || is_wan27(model))
		return s < 2 ? 2 : s > 15 ? 15 : s;
	if (strncmp(model, "wan2.", 5) == 0 || strncmp(model, "wanx2.", 6) == 0)
		return 5; /* wan2.1 / wan2.2: 5 s only */
	return s;	  /* a model we do not know: as asked */
}

static const struct wan_size *exact_size(int w, int h)
{
	for (size_t i = 0; i < sizeof(wan_sizes) / sizeof(*wan_sizes); i++)
		if (wan_sizes[i].w == w && wan_sizes[i].h == h)
			return &wan_sizes[i];
	return NULL;
}

/* nearest_size: the DashScope size closest in shape, then in area. */
static const struct wan_size *nearest_size(int w, int h)
{
	const struct wan_size *best = &wan_sizes[3];
	double bestd = 1e18, r = (double)w / (h > 0 ? h : 1), area = (double)w * h;
	for (size_t i = 0; i < sizeof(wan_sizes) / sizeof(*wan_sizes); i++) {
		const struct wan_size *z = &wan_sizes[i];
		double dr = (double)z->w / z->h - r, da = ((double)z->w * z->h - area) / 1e6;
		double d = dr * dr * 100 + da * da;
		if (d < bestd) {
			bestd = d;
			best = z;
		}
	}
	return best;
}

static const char *tier_of(int w, int h)
{
	int shortest = w < h ? w : h;
	return shortest <= 560 ? "480P" : shortest <= 900 ? "720P" : "1080P";
}

static const char *ratio_of(int w, int h)
{
	double r = (double)w / (h > 0 ? h : 1);
	return r >= 1.55   ? "16:9"
	       : r >= 1.15 ? "4:3"
	       : r > 0.87  ? "1:1"
	       : r > 0.65  ? "3:4"
			   : "9:16";
}

/* model_for: the model a task goes to; with an image, image_model, else
 * the text model with t2v made i2v. */
static void model_for(const struct backend *b, const struct model_backend *mb, int image, char *out,
		      size_t n)
{
	const char *m = mb && mb->model ? mb->model : WAN_DEFAULT_MODEL;
	const char *im = rec_str(b->cfg->raw, "image_model");
	if (image && im) {
		snprintf(out, n, "%s", im);
		return;
	}
	snprintf(out, n, "%s", m);
	char *t = image ? strstr(out, "t2v") : NULL;
	if (t)
		t[0] = 'i';
}

static void wan_unsupported(const struct backend_cfg *b, const struct model_backend *mb,
			    const struct video_spec *s, const char **out)
{
	struct backend fake = { .cfg = b };
	char model[256];
	size_t n = 0;
	int image = s->image != IMAGE_NONE;
	model_for(&fake, mb, image, model, sizeof(model));
	if (s->fps_given)
		out[n++] = "fps"; /* DashScope has no frame rate */
	if (s->has_seed && s->seed > WAN_SEED_MAX)
		out[n++] = "seed";
	if (s->seconds_given && allowed_seconds(model, s->seconds) != s->seconds)
		out[n++] = "seconds";
	/* the image sets the shape; without one, only DashScope's sizes */
	if (s->size_given && (image || exact_size(s->width, s->height) == NULL))
		out[n++] = "size";
	out[n] = NULL;
}

/* ---- the create ---------------------------------------------------------- */

/* data_url makes the stored image a data: URL (caller frees). */
static char *data_url(const struct backend *b, struct json_object *rec)
{
	char *b64 = remote_image_b64(b->data_dir, rec, WAN_MAX_IMAGE);
	if (b64 == NULL)
		return NULL;
	const char *mime = strncmp(b64, "/9j/", 4) == 0	   ? "image/jpeg"
			   : strncmp(b64, "UklGR", 5) == 0 ? "image/webp"
							   : "image/png";
	size_t n = strlen(b64) + 40;
	char *out = malloc(n);
	if (out)
		snprintf(out, n, "data:%s;base64,%s", mime, b64);
	free(b64);
	return out;
}

/* Provider-native metadata: these flat keys go where DashScope reads them;
 * "input.X" / "parameters.X" go to input.X / parameters.X. */
static const char *const meta_params[] = { "prompt_extend", "watermark", "audio",
					   "resolution",    "ratio",	 "shot_type",
					   "audio_setting", NULL };
static const char *const meta_inputs[] = { "audio_url", "last_frame_url", "template", NULL };

static int listed(const char *const *l, const char *k)
{
	for (; *l; l++)
		if (strcmp(*l, k) == 0)
			return 1;
	return 0;
}

static void pass_metadata(struct json_object *rec, struct json_object *input,
			  struct json_object *params)
{
	struct json_object *m;
	if (!json_object_object_get_ex(rec, "metadata", &m) ||
	    !json_object_is_type(m, json_type_object))
		return;
	json_object_object_foreach(m, k, v) {
		struct json_object *to = NULL;
		const char *name = k;
		if (strncmp(k, "parameters.", 11) == 0 && k[11]) {
			to = params;
			name = k + 11;
		} else if (strncmp(k, "input.", 6) == 0 && k[6]) {
			to = input;
			name = k + 6;
		} else if (listed(meta_params, k)) {
			to = params;
		} else if (listed(meta_inputs, k)) {
			to = input;
		}
		/* the prompt and the model are the request's own */
		if (to == NULL || v == NULL || (to == input && strcmp(name, "prompt") == 0))
			continue;
		json_object_object_add(to, name, json_object_get(v));
	}
}

/* add_image puts the first frame where the model reads it; -1 when the
 * stored image cannot be sent. */
static int add_image(const struct backend *b, struct json_object *rec, const char *model,
		     struct json_object *input, struct remote_answer *ans)
{
	const char *url = remote_image_url(rec);
	char *own = url ? NULL : data_url(b, rec);
	if (url == NULL && own == NULL) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "invalid_image");
		snprintf(ans->message, sizeof(ans->message),
			 "The input image cannot be sent to DashScope (it must be a file of at "
			 "most 10 MB).");
		return -1;
	}
	const char *img = url ? url : own;
	if (is_wan27(model)) {
		struct json_object *media = json_object_new_array(), *f = json_object_new_object();
		json_object_object_add(f, "type", json_object_new_string("first_frame"));
		json_object_object_add(f, "url", json_object_new_string(img));
		json_object_array_add(media, f);
		const char *last = remote_meta_str(rec, "last_frame_url");
		if (last) {
			struct json_object *l = json_object_new_object();
			json_object_object_add(l, "type", json_object_new_string("last_frame"));
			json_object_object_add(l, "url", json_object_new_string(last));
			json_object_array_add(media, l);
		}
		json_object_object_add(input, "media", media);
	} else {
		json_object_object_add(input, is_kf2v(model) ? "first_frame_url" : "img_url",
				       json_object_new_string(img));
	}
	free(own);
	return 0;
}

static void add_shape(struct json_object *rec, const char *model, int image,
		      struct json_object *params)
{
	int w = remote_param_int(rec, "width", 1280), h = remote_param_int(rec, "height", 720);
	const struct wan_size *z = exact_size(w, h);
	if (z == NULL)
		z = nearest_size(w, h);
	if (is_wan27(model)) {
		json_object_object_add(params, "resolution", json_object_new_string(z->tier));
		if (!image)
			json_object_object_add(params, "ratio",
					       json_object_new_string(ratio_of(z->w, z->h)));
	} else if (image) {
		json_object_object_add(params, "resolution", json_object_new_string(tier_of(w, h)));
	} else {
		char size[32];
		snprintf(size, sizeof(size), "%d*%d", z->w, z->h);
		json_object_object_add(params, "size", json_object_new_string(size));
	}
}

static int submit_body(struct backend *b, struct json_object *rec, const char *model,
		       struct http_req *req, struct remote_answer *ans)
{
	struct json_object *body = json_object_new_object(), *input = json_object_new_object();
	struct json_object *params = json_object_new_object(), *v;
	int image = remote_has_image(rec);
	json_object_object_get_ex(rec, "prompt", &v);
	json_object_object_add(input, "prompt", json_object_get(v));
	const char *neg = remote_meta_str(rec, "negative_prompt");
	if (neg)
		json_object_object_add(input, "negative_prompt", json_object_new_string(neg));
	if (image && add_image(b, rec, model, input, ans) < 0) {
		json_object_put(body);
		json_object_put(input);
		json_object_put(params);
		return -1;
	}
	add_shape(rec, model, image, params);
	json_object_object_add(
		params, "duration",
		json_object_new_int(allowed_seconds(model, remote_param_int(rec, "seconds", 5))));
	unsigned long seed;
	if (remote_has_seed(rec, &seed) && seed <= WAN_SEED_MAX)
		json_object_object_add(params, "seed", json_object_new_int64((int64_t)seed));
	pass_metadata(rec, input, params);
	if (is_wan27(model) && image)
		json_object_object_del(input, "last_frame_url"); /* it is in media */
	json_object_object_add(body, "model", json_object_new_string(model));
	json_object_object_add(body, "input", input);
	json_object_object_add(body, "parameters", params);
	const char *text = json_object_to_json_string_ext(
		body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc = buf_puts(&req->body, text);
	json_object_put(body);
	return rc;
}

/* ---- requests ------------------------------------------------------------ */

static void auth(struct backend *b, struct http_req *req)
{
	struct wan_state *st = b->state;
	char value[600];
	snprintf(value, sizeof(value), "Bearer %s", st->api_key);
	http_req_secret_header(req, "Authorization", value);
	const char *ws = rec_str(b->cfg->raw, "workspace");
	if (ws)
		http_req_header(req, "X-DashScope-WorkSpace", ws);
}

/* list_time formats t (UTC) as the task list wants it: YYYYMMDDhhmmss. */
static void list_time(long long t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, n, "%Y%m%d%H%M%S", &tm);
}

static int reconcile_url(struct backend *b, struct json_object *rec, const char *model,
			 struct http_req *req)
{
	const char *intent = remote_get(rec, "intent_at");
	long long at = intent ? atoll(intent) / 1000 : (long long)time(NULL);
	char from[32], to[32], name[800];
	if (buf_pct_encode_to(model, name, sizeof(name)) < 0)
		return -1;
	/* The list's time zone is not documented: the window reaches an hour
	 * before the intent and nine after now, so that UTC or UTC+8 both
	 * cover it; the creation time (epoch ms) of each task decides. */
	list_time(at - 3600, from, sizeof(from));
	list_time((long long)time(NULL) + 9 * 3600, to, sizeof(to));
	int w = snprintf(req->url, sizeof(req->url),
			 "%s/tasks?start_time=%s&end_time=%s&model_name=%s&page_no=1&page_size=%d",
			 b->cfg->base_url, from, to, name, WAN_LIST_PAGE);
	return w > 0 && (size_t)w < sizeof(req->url) ? 0 : -1;
}

static int wan_build(struct backend *b, const struct model_backend *mb, struct json_object *rec,
		     enum remote_phase ph, struct http_req *req, struct remote_answer *ans)
{
	const char *model = remote_get(rec, "wan_model");
	char m[256];
	if (model == NULL) {
		model_for(b, mb, remote_has_image(rec), m, sizeof(m));
		remote_set(rec, "wan_model", m);
		model = m;
	}
	const char *up = remote_get(rec, "upstream_id");
	switch (ph) {
	case PHASE_SUBMIT:
		snprintf(req->method, sizeof(req->method), "POST");
		snprintf(req->url, sizeof(req->url), "%s/services/aigc/%s/video-synthesis",
			 b->cfg->base_url, is_kf2v(model) ? "image2video" : "video-generation");
		http_req_header(req, "Content-Type", "application/json");
		http_req_header(req, "X-DashScope-Async", "enable");
		auth(b, req);
		return submit_body(b, rec, model, req, ans);
	case PHASE_RECONCILE:
		if (reconcile_url(b, rec, model, req) < 0)
			return -1;
		break;
	case PHASE_POLL:
	case PHASE_CANCEL:
		if (up == NULL || up[0] == '\0' || strchr(up, '/') || strchr(up, '?'))
			return -1;
		snprintf(req->url, sizeof(req->url), "%s/tasks/%s%s", b->cfg->base_url, up,
			 ph == PHASE_CANCEL ? "/cancel" : "");
		if (ph == PHASE_CANCEL)
			snprintf(req->method, sizeof(req->method), "POST");
		break;
	case PHASE_FETCH_VIDEO:
		/* a signed OSS URL: no credentials go with it */
		snprintf(req->url, sizeof(req->url), "%s",
			 remote_get(rec, "video_url") ? remote_get(rec, "video_url") : "");
		return req->url[0] ? 0 : -1;
	default: return -1;
	}
	auth(b, req);
	return 0;
}

/* ---- answers ------------------------------------------------------------- */

static int prefixed(const char *code, const char *prefix)
{
	return code && strncmp(code, prefix, strlen(prefix)) == 0;
}

static int content_code(const char *code)
{
	return prefixed(code, "DataInspection") || prefixed(code, "IPInfringement") ||
	       prefixed(code, "InappropriateContent");
}

/* wan_error reads DashScope's {request_id, code, message} and decides. */
static void wan_error(struct remote_answer *ans, long status, struct json_object *o)
{
	const char *code = rec_str(o, "code"), *msg = rec_str(o, "message");
	if (msg == NULL)
		msg = "";
	if (status == 401 || status == 403 || prefixed(code, "InvalidApiKey") ||
	    prefixed(code, "AccessDenied")) {
		/* DashScope's words may quote the key: ours only */
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_auth_failed");
		snprintf(ans->message, sizeof(ans->message),
			 "DashScope refused reelgate's credentials (HTTP %ld%s%.40s); the operator "
			 "must check the backend's api_key (and that its region matches base_url).",
			 status, code ? ", " : "", code ? code : "");
		return;
	}
	if (prefixed(code, "Throttling") || status == 429 || status >= 500 || status == 0) {
		ans->verdict = RV_RETRY;
		return;
	}
	if (content_code(code)) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "content_policy_violation");
		snprintf(ans->message, sizeof(ans->message),
			 "DashScope refused the request under its content rules (%.60s): %.300s",
			 code, msg);
		return;
	}
	if (prefixed(code, "Arrearage")) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_quota_exhausted");
		snprintf(ans->message, sizeof(ans->message),
			 "The DashScope account cannot pay for this task (Arrearage): %.300s", msg);
		return;
	}
	char detail[420];
	snprintf(detail, sizeof(detail), "%.60s %.300s", code ? code : "", msg);
	remote_http_error(ans, "DashScope", status, code || msg[0] ? detail : NULL);
}

static enum remote_state task_state(const char *st)
{
	static const struct {
		const char *name;
		enum remote_state state;
	} map[] = { { "PENDING", RS_QUEUED },	{ "RUNNING", RS_RUNNING },
		    { "SUSPENDED", RS_QUEUED }, { "SUCCEEDED", RS_SUCCEEDED },
		    { "FAILED", RS_FAILED },	{ "CANCELED", RS_FAILED },
		    { "UNKNOWN", RS_FAILED } };
	for (size_t i = 0; st && i < sizeof(map) / sizeof(*map); i++)
		if (strcmp(st, map[i].name) == 0)
			return map[i].state;
	return RS_UNKNOWN;
}

static void task_failed(struct remote_answer *ans, const char *st, struct json_object *out)
{
	const char *code = rec_str(out, "code"), *msg = rec_str(out, "message");
	if (strcmp(st, "CANCELED") == 0) {
		snprintf(ans->code, sizeof(ans->code), "generation_failed");
		snprintf(ans->message, sizeof(ans->message),
			 "The DashScope task was cancelled upstream.");
	} else if (strcmp(st, "UNKNOWN") == 0) {
		snprintf(ans->code, sizeof(ans->code), "generation_failed");
		snprintf(ans->message, sizeof(ans->message),
			 "DashScope no longer knows the task (it expired or never existed).");
	} else {
		snprintf(ans->code, sizeof(ans->code), "%s",
			 content_code(code) ? "content_policy_violation" : "generation_failed");
		snprintf(ans->message, sizeof(ans->message),
			 "DashScope could not make the video (%.60s): %.380s",
			 code ? code : "no code", msg && msg[0] ? msg : "no reason given");
	}
}

/* task_answer reads the output of a create or a query. */
static void task_answer(struct json_object *o, enum remote_phase ph, struct remote_answer *ans)
{
	struct json_object *out = rec_obj(o, "output");
	const char *id = rec_str(out, "task_id"), *st = rec_str(out, "task_status");
	enum remote_state state = task_state(st);
	if (id == NULL || id[0] == '\0' || state == RS_UNKNOWN) {
		/* an answer that names no task: at submit one may exist */
		ans->verdict = RV_RETRY;
		ans->maybe_created = ph == PHASE_SUBMIT;
		return;
	}
	snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", id);
	ans->verdict = RV_OK;
	ans->progress = -1;
	ans->state = state;
	if (state == RS_FAILED)
		task_failed(ans, st, out);
	if (state != RS_SUCCEEDED)
		return;
	const char *url = rec_str(out, "video_url");
	if (url == NULL)
		url = rec_str(rec_obj(out, "results"), "video_url");
	snprintf(ans->video_url, sizeof(ans->video_url), "%s", url ? url : "");
	if (ans->video_url[0] == '\0') {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_invalid_answer");
		snprintf(ans->message, sizeof(ans->message),
			 "DashScope reported success without a video URL.");
		return;
	}
	struct json_object *usage = rec_obj(o, "usage"), *secs;
	if (usage)
		answer_keep(ans, "usage",
			    json_object_to_json_string_ext(usage, JSON_C_TO_STRING_PLAIN));
	/* DashScope bills a video by its seconds: usage.video_duration is
	 * what it counted (an integer) */
	if (json_object_object_get_ex(usage, "video_duration", &secs) &&
	    json_object_is_type(secs, json_type_int))
		answer_usage(ans, "seconds", secs);
}

/* reconcile_match lists the tasks of the list that may be ours: created
 * no earlier than our intent (5 s of clock skew allowed), oldest first;
 * the core skips those another task holds.  A list that cannot be read
 * whole proves nothing. */
static void reconcile_match(struct json_object *rec, struct json_object *o,
			    struct remote_answer *ans)
{
	struct json_object *data = NULL, *c;
	const char *intent = remote_get(rec, "intent_at");
	long long since = (intent ? atoll(intent) : 0) - 5000;
	json_object_object_get_ex(o, "data", &data);
	if (data == NULL || !json_object_is_type(data, json_type_array)) {
		ans->verdict = RV_RETRY;
		return;
	}
	size_t n = json_object_array_length(data), unreadable = 0;
	long long total =
		json_object_object_get_ex(o, "total", &c) ? json_object_get_int64(c) : (long long)n;
	long long times[8] = { 0 };
	ans->verdict = RV_OK;
	for (size_t i = 0; i < n; i++) {
		struct json_object *t = json_object_array_get_idx(data, i);
		const char *id = rec_str(t, "task_id");
		struct json_object *g = NULL;
		if (id == NULL || id[0] == '\0' || strlen(id) >= sizeof(ans->candidates[0]) ||
		    !json_object_object_get_ex(t, "gmt_create", &g) ||
		    !json_object_is_type(g, json_type_int)) {
			unreadable++;
			continue;
		}
		long long at = json_object_get_int64(g);
		if (at < since)
			continue;
		/* insertion by creation time, keeping the 8 oldest */
		int k = ans->ncandidates < 8 ? ans->ncandidates : 8;
		while (k > 0 && times[k - 1] > at)
			k--;
		if (k >= 8)
			continue;
		int last = ans->ncandidates < 8 ? ans->ncandidates : 7;
		for (int j = last; j > k; j--) {
			times[j] = times[j - 1];
			memcpy(ans->candidates[j], ans->candidates[j - 1],
			       sizeof(ans->candidates[0]));
		}
		times[k] = at;
		snprintf(ans->candidates[k], sizeof(ans->candidates[0]), "%s", id);
		if (ans->ncandidates < 8)
			ans->ncandidates++;
	}
	if (ans->ncandidates > 0) {
		ans->state = RS_QUEUED;
		return;
	}
	if (unreadable > 0 || total > (long long)n) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_unknown_outcome");
		snprintf(ans->message, sizeof(ans->message),
			 "The submit's outcome is unknown and DashScope's task list could not "
			 "settle it (%zu unreadable entries, %lld tasks for a page of %zu); it was "
			 "not sent again, to avoid a second charge.",
			 unreadable, total, n);
		return;
	}
	ans->state = RS_NOT_FOUND;
}

static void cancel_answer(long status, struct json_object *o, struct remote_answer *ans)
{
	const char *code = rec_str(o, "code"), *msg = rec_str(o, "message");
	if (status == 200) {
		ans->verdict = RV_OK;
		return;
	}
	if (status == 404 || prefixed(code, "NotFound") || prefixed(code, "InvalidTask")) {
		ans->verdict = RV_OK;
		ans->state = RS_NOT_FOUND;
		return;
	}
	if (status == 400 && !prefixed(code, "InvalidApiKey")) {
		/* a task past PENDING: DashScope will not */
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_rejected");
		snprintf(ans->message, sizeof(ans->message),
			 "DashScope would not cancel the task (%.60s): %.300s",
			 code ? code : "no code",
			 msg && msg[0] ? msg : "only PENDING tasks can be");
		return;
	}
	wan_error(ans, status, o);
}

static void wan_parse(struct backend *b, struct json_object *rec, enum remote_phase ph, long status,
		      const char *body, size_t len, struct remote_answer *ans)
{
	(void)b;
	struct json_object *o = remote_parse_object(body, len);
	if (ph == PHASE_CANCEL && status != 0) {
		cancel_answer(status, o, ans);
	} else if (status != 200) {
		wan_error(ans, status, o);
		if (ph == PHASE_SUBMIT && status == 0)
			ans->maybe_created = 1;
	} else if (o == NULL) {
		ans->verdict = RV_RETRY; /* 200 with a body we cannot read */
		ans->maybe_created = ph == PHASE_SUBMIT;
	} else if (ph == PHASE_RECONCILE) {
		reconcile_match(rec, o, ans);
	} else if (ph == PHASE_SUBMIT || ph == PHASE_POLL) {
		task_answer(o, ph, ans);
	} else {
		ans->verdict = RV_RETRY; /* a phase this module never asks */
	}
	json_object_put(o);
}

const struct backend_type backend_wan = {
	.name = "wan",
	.kind = BACKEND_HTTP,
	.caps = BCAP_RECONCILE | BCAP_CANCEL,
	.keys = wan_keys,
	.record_keys = wan_record_keys,
	.state_size = sizeof(struct wan_state),
	.check = wan_check,
	.init = wan_init,
	.unsupported = wan_unsupported,
	.build = wan_build,
	.parse = wan_parse,
};
