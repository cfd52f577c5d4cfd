/*
 * backend_luma: Luma Dream Machine (POST {base_url}/generations/video, GET
 * and DELETE {base_url}/generations/{id}, GET {base_url}/generations).  A
 * task is a prompt with duration ("5s"/"9s"), aspect_ratio and resolution;
 * an input image goes in keyframes.frame0 by URL (Luma takes image URLs
 * only, so an uploaded image cannot be sent).  The result (assets.video)
 * is a CDN URL downloaded without credentials.  Luma echoes no client
 * reference, so a submit of unknown outcome is found again by listing the
 * newest generations: same model, prompt, duration, ratio and resolution,
 * created around our intent.  A deleted video's generation is DELETEd.
 *
 * An extension is a new generation whose keyframes.frame0 is the source's
 * Luma generation ({"type": "generation", "id"}), 5 or 9 s more; an edit
 * is Luma's modify (POST {base_url}/generations/video/modify) of the
 * source's video by its Luma URL.  Both start only from a video this
 * backend made: Luma takes neither bytes nor another account's ids.
 */
#include "backend_util.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct luma_state {
	char api_key[512];
};

static const char *const luma_keys[] = { "api_key", "api_key_env", NULL };
/* the upstream model a submit named, for a reconcile to compare (parse
 * has no model entry) */
static const char *const luma_record_keys[] = { "luma_model", NULL };

/* A reconcile lists one page of the newest generations; a lost submit's
 * generation is looked for among those created within this margin of the
 * intent (the two clocks may differ) and the request timeout. */
#define LIST_PAGE 100
#define CLOCK_MARGIN_S 300

/* Luma's modify takes a source of at most 10 s (docs.lumalabs.ai, "Modify
 * Video"); its mode is how far the result may stray from the source:
 * flex keeps the shapes, characters and motion and changes what the prompt
 * says, which is what an edit asks (adhere barely restyles, reimagine
 * replaces the world). */
#define MODIFY_SOURCE_MAX 10
#define MODIFY_MODE "flex_1"

static int luma_check(struct confcheck *c, struct json_object *o, const char *key)
{
	return cc_secret(c, o, key, "api_key");
}

static int luma_init(struct backend *b, char *err, size_t errlen)
{
	struct luma_state *st = b->state;
	return backend_need_secret(b->cfg, "api_key", st->api_key, sizeof(st->api_key), err,
				   errlen);
}

static void auth(struct backend *b, struct http_req *req)
{
	char v[600];
	snprintf(v, sizeof(v), "Bearer %s", ((struct luma_state *)b->state)->api_key);
	http_req_secret_header(req, "Authorization", v);
}

/* ---- the generation, as Luma takes it ---- */

static const struct {
	const char *name;
	int w, h;
} ratios[] = { { "16:9", 16, 9 }, { "9:16", 9, 16 }, { "1:1", 1, 1 },  { "4:3", 4, 3 },
	       { "3:4", 3, 4 },	  { "21:9", 21, 9 }, { "9:21", 9, 21 } };

/* nearest_ratio: the index of Luma's ratio closest to w:h (by log). */
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

/* resolution: Luma's tier for a size, by its short side. */
static const char *resolution(int w, int h)
{
	int s = w < h ? w : h;
	return s <= 540 ? "540p" : s <= 720 ? "720p" : s <= 1080 ? "1080p" : "4k";
}

/* size_exact: w x h is one of Luma's ratios at one of its tiers. */
static int size_exact(int w, int h)
{
	size_t r = nearest_ratio(w, h);
	int s = w < h ? w : h;
	return w * ratios[r].h == h * ratios[r].w &&
	       (s == 540 || s == 720 || s == 1080 || s == 2160);
}

/* Provider-native fields a caller may set through metadata, with their
 * JSON type (new-api merges metadata into the body the same way; our
 * metadata holds only scalars, so concepts and keyframes cannot come this
 * way).  model and prompt have fields of their own; callback_url is not
 * for callers: reelgate polls. */
static const struct {
	const char *name;
	json_type type;
} native[] = { { "loop", json_type_boolean },
	       { "resolution", json_type_string },
	       { "aspect_ratio", json_type_string },
	       { "duration", json_type_string } };

/* task_fields builds the body without keyframes: what submit sends and
 * what a reconcile compares. */
static struct json_object *task_fields(const struct model_backend *mb, struct json_object *rec)
{
	struct json_object *o = json_object_new_object(), *md, *v;
	const char *model = mb && mb->model		    ? mb->model
			    : remote_get(rec, "luma_model") ? remote_get(rec, "luma_model")
							    : rec_str(rec, "model");
	const char *prompt = rec_str(rec, "prompt");
	json_object_object_add(o, "model", json_object_new_string(model ? model : ""));
	json_object_object_add(o, "prompt", json_object_new_string(prompt ? prompt : ""));
	int w = remote_param_int(rec, "width", 1280), h = remote_param_int(rec, "height", 720);
	if (w <= 0 || h <= 0)
		w = 1280, h = 720;
	json_object_object_add(o, "aspect_ratio",
			       json_object_new_string(ratios[nearest_ratio(w, h)].name));
	json_object_object_add(o, "resolution", json_object_new_string(resolution(w, h)));
	/* an extension's duration is its new segment's */
	int secs = remote_param_int(rec, "segment_seconds", remote_param_int(rec, "seconds", 5));
	json_object_object_add(o, "duration", json_object_new_string(secs <= 7 ? "5s" : "9s"));
	if (json_object_object_get_ex(rec, "metadata", &md) &&
	    json_object_is_type(md, json_type_object))
		for (size_t i = 0; i < sizeof(native) / sizeof(*native); i++)
			if (json_object_object_get_ex(md, native[i].name, &v) &&
			    json_object_is_type(v, native[i].type))
				json_object_object_add(o, native[i].name, json_object_get(v));
	return o;
}

/* source_remote: the remote object of an edit's or an extension's source
 * (the generation this backend made), NULL on a create. */
static struct json_object *source_remote(struct json_object *rec)
{
	return rec_obj(rec_obj(rec_obj(rec, "params"), "source"), "remote");
}

static const char *op_of(struct json_object *rec)
{
	const char *op = rec_str(rec, "op");
	return op ? op : "";
}

/* modify_body: Luma's modify of the source's video, by its URL. */
static struct json_object *modify_body(const struct model_backend *mb, struct json_object *rec)
{
	struct json_object *o = json_object_new_object(), *media = json_object_new_object();
	const char *model = mb && mb->model ? mb->model : remote_get(rec, "luma_model");
	const char *url = rec_str(source_remote(rec), "video_url"),
		   *prompt = rec_str(rec, "prompt");
	json_object_object_add(o, "generation_type", json_object_new_string("modify_video"));
	json_object_object_add(media, "url", json_object_new_string(url ? url : ""));
	json_object_object_add(o, "media", media);
	json_object_object_add(o, "mode", json_object_new_string(MODIFY_MODE));
	json_object_object_add(o, "model", json_object_new_string(model ? model : ""));
	json_object_object_add(o, "prompt", json_object_new_string(prompt ? prompt : ""));
	return o;
}

/* submit_fields: the body of a submit, what a reconcile compares with. */
static struct json_object *submit_fields(const struct model_backend *mb, struct json_object *rec)
{
	if (strcmp(op_of(rec), "edit") == 0)
		return modify_body(mb, rec);
	struct json_object *body = task_fields(mb, rec);
	if (strcmp(op_of(rec), "extend") == 0) {
		const char *id = rec_str(source_remote(rec), "upstream_id");
		struct json_object *kf = json_object_new_object(), *f0 = json_object_new_object();
		json_object_object_add(f0, "type", json_object_new_string("generation"));
		json_object_object_add(f0, "id", json_object_new_string(id ? id : ""));
		json_object_object_add(kf, "frame0", f0);
		json_object_object_add(body, "keyframes", kf);
	}
	return body;
}

static int submit_body(const struct model_backend *mb, struct json_object *rec,
		       struct http_req *req, struct remote_answer *ans)
{
	if (remote_has_image(rec) && remote_image_url(rec) == NULL) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "unsupported_value");
		snprintf(ans->message, sizeof(ans->message),
			 "Luma takes input images by URL only: an uploaded image cannot be sent "
			 "(give input_reference.image_url instead).");
		return -1;
	}
	struct json_object *body = submit_fields(mb, rec);
	remote_set(rec, "luma_model", rec_str(body, "model"));
	if (remote_has_image(rec)) {
		struct json_object *kf = json_object_new_object(), *f0 = json_object_new_object();
		json_object_object_add(f0, "type", json_object_new_string("image"));
		json_object_object_add(f0, "url", json_object_new_string(remote_image_url(rec)));
		json_object_object_add(kf, "frame0", f0);
		json_object_object_add(body, "keyframes", kf); /* replaces metadata's */
	}
	int rc = buf_puts(&req->body,
			  json_object_to_json_string_ext(
				  body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(body);
	return rc;
}

static int luma_build(struct backend *b, const struct model_backend *mb, struct json_object *rec,
		      enum remote_phase ph, struct http_req *req, struct remote_answer *ans)
{
	const char *base = b->cfg->base_url, *up = remote_get(rec, "upstream_id");
	switch (ph) {
	case PHASE_SUBMIT:
		snprintf(req->method, sizeof(req->method), "POST");
		snprintf(req->url, sizeof(req->url), "%s/generations/video%s", base,
			 strcmp(op_of(rec), "edit") == 0 ? "/modify" : "");
		http_req_header(req, "Content-Type", "application/json");
		http_req_header(req, "Accept", "application/json");
		auth(b, req);
		return submit_body(mb, rec, req, ans);
	case PHASE_RECONCILE:
		snprintf(req->url, sizeof(req->url), "%s/generations?limit=%d&offset=0", base,
			 LIST_PAGE);
		break;
	case PHASE_POLL:
	case PHASE_CANCEL:
		if (up == NULL || up[0] == '\0')
			return -1;
		snprintf(req->url, sizeof(req->url), "%s/generations/", base);
		url_append_escaped(req->url, sizeof(req->url), up);
		if (ph == PHASE_CANCEL)
			snprintf(req->method, sizeof(req->method), "DELETE");
		break;
	case PHASE_FETCH_VIDEO:
		/* Luma's CDN URL needs no credential: the key is never sent */
		snprintf(req->url, sizeof(req->url), "%s",
			 remote_get(rec, "video_url") ? remote_get(rec, "video_url") : "");
		return req->url[0] ? 0 : -1;
	default: return -1;
	}
	auth(b, req);
	return 0;
}

/* ---- answers ---- */

/* ci_has: s contains word, ignoring case. */
static int ci_has(const char *s, const char *word)
{
	size_t n = strlen(word);
	for (; s && *s; s++)
		if (strncasecmp(s, word, n) == 0)
			return 1;
	return 0;
}

/* moderated: Luma's words say its moderation refused the prompt, image or
 * result. */
static int moderated(const char *s)
{
	static const char *const words[] = { "moderation", "not allowed",   "safety",
					     "nsfw",	   "inappropriate", "blocked" };
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		if (ci_has(s, words[i]))
			return 1;
	return 0;
}

/* detail_of: Luma's reason: {"detail": "..."}, or a validation error's
 * {"detail": [{"loc": [...], "msg": "..."}]} (first item), into out. */
static const char *detail_of(struct json_object *o, char *out, size_t n)
{
	struct json_object *d;
	out[0] = '\0';
	if (!json_object_object_get_ex(o, "detail", &d))
		return out;
	if (json_object_is_type(d, json_type_string)) {
		snprintf(out, n, "%s", json_object_get_string(d));
	} else if (json_object_is_type(d, json_type_array)) {
		struct json_object *first = remote_idx(d, 0), *loc;
		const char *msg = rec_str(first, "msg");
		const char *at = json_object_object_get_ex(first, "loc", &loc) &&
						 json_object_is_type(loc, json_type_array)
					 ? json_object_get_string(remote_idx(
						   loc, json_object_array_length(loc) - 1))
					 : NULL;
		snprintf(out, n, "%s%s%s", at ? at : "", at ? ": " : "", msg ? msg : "invalid");
	}
	return out;
}

/* luma_error reads Luma's error answer and decides. */
static void luma_error(struct remote_answer *ans, long status, struct json_object *o)
{
	char detail[400];
	detail_of(o, detail, sizeof(detail));
	if ((status == 400 || status == 422) && moderated(detail)) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "content_policy_violation");
		snprintf(ans->message, sizeof(ans->message),
			 "Luma refused the request under its content rules: %.400s", detail);
		return;
	}
	if (status == 402 || ((status == 400 || status == 403) && ci_has(detail, "credit"))) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_quota_exhausted");
		snprintf(ans->message, sizeof(ans->message),
			 "The Luma account cannot pay for this generation: %.300s",
			 detail[0] ? detail : "no reason given");
		return;
	}
	if (status == 400 || status == 404 || status == 422) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_rejected");
		snprintf(ans->message, sizeof(ans->message),
			 "Luma refused the request (HTTP %ld): %.400s", status,
			 detail[0] ? detail : "no reason given");
		return;
	}
	/* 429, 5xx and no answer wait; 401/403 fail without Luma's words */
	remote_http_error(ans, "Luma", status, detail[0] ? detail : NULL);
}

static enum remote_state gen_state(const char *st)
{
	static const struct {
		const char *name;
		enum remote_state state;
	} map[] = { { "queued", RS_QUEUED },
		    { "dreaming", RS_RUNNING },
		    { "completed", RS_SUCCEEDED },
		    { "failed", RS_FAILED } };
	for (size_t i = 0; st && i < sizeof(map) / sizeof(*map); i++)
		if (strcmp(map[i].name, st) == 0)
			return map[i].state;
	return RS_UNKNOWN;
}

/* gen_answer reads a generation object (a poll's answer). */
static void gen_answer(struct json_object *g, struct remote_answer *ans)
{
	const char *id = rec_str(g, "id"), *st = rec_str(g, "state");
	if (id == NULL || id[0] == '\0' || st == NULL) {
		ans->verdict = RV_RETRY;
		return;
	}
	snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", id);
	ans->verdict = RV_OK;
	ans->progress = -1;
	ans->state = gen_state(st);
	if (ans->state == RS_FAILED) {
		const char *why = rec_str(g, "failure_reason");
		snprintf(ans->code, sizeof(ans->code), "%s",
			 moderated(why) ? "content_policy_violation" : "generation_failed");
		snprintf(ans->message, sizeof(ans->message),
			 "Luma could not make the video: %.400s",
			 why && why[0] ? why : "no reason given");
	}
	if (ans->state != RS_SUCCEEDED)
		return;
	const char *url = rec_str(rec_obj(g, "assets"), "video");
	if (url == NULL || url[0] == '\0' || strlen(url) >= sizeof(ans->video_url)) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_invalid_answer");
		snprintf(ans->message, sizeof(ans->message),
			 "Luma reported success without a usable video URL.");
		return;
	}
	snprintf(ans->video_url, sizeof(ans->video_url), "%s", url);
}

/* iso_time: seconds since the epoch of Luma's ISO-8601 UTC time
 * ("2026-12-06T13:15:51.123Z"), -1 when it is not one. */
static long long iso_time(const char *s)
{
	int y, mo, d, h, mi, se, used = 0;
	if (s == NULL ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &used) != 6 ||
	    used == 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return -1;
	/* days from civil (Howard Hinnant's algorithm) */
	y -= mo <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	long long yoe = y - era * 400;
	long long doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	long long days = era * 146097 + doe - 719468;
	return days * 86400 + h * 3600 + mi * 60 + se;
}

/* same_str: the listed generation's request field matches ours, or it
 * does not say. */
static int same_str(struct json_object *req, struct json_object *ours, const char *name)
{
	const char *a = rec_str(req, name), *b = rec_str(ours, name);
	return a == NULL || b == NULL || strcmp(a, b) == 0;
}

/* same_source: the listed request names the same source as ours (the
 * extended generation, the modified video), or neither names one. */
static int same_source(struct json_object *req, struct json_object *ours)
{
	const char *a = rec_str(rec_obj(rec_obj(req, "keyframes"), "frame0"), "id");
	const char *b = rec_str(rec_obj(rec_obj(ours, "keyframes"), "frame0"), "id");
	const char *c = rec_str(rec_obj(req, "media"), "url");
	const char *d = rec_str(rec_obj(ours, "media"), "url");
	return (a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0) &&
	       (c == NULL) == (d == NULL) && (c == NULL || strcmp(c, d) == 0);
}

/* reconcile_match: the listed generations that may be our lost submit's:
 * our model, prompt, duration, ratio and resolution, created around our
 * intent.  The dispatcher skips those another task already holds. */
static void reconcile_match(struct backend *b, struct json_object *rec, struct json_object *list,
			    struct remote_answer *ans)
{
	struct json_object *items, *more, *ours = submit_fields(NULL, rec);
	const char *intent = remote_get(rec, "intent_at");
	long long at = intent ? atoll(intent) / 1000 : 0;
	long long lo = at - CLOCK_MARGIN_S,
		  hi = at + b->cfg->request_timeout_ms / 1000 + CLOCK_MARGIN_S;
	ans->verdict = RV_OK;
	ans->state = RS_NOT_FOUND;
	if (!json_object_object_get_ex(list, "generations", &items) ||
	    !json_object_is_type(items, json_type_array)) {
		ans->verdict = RV_RETRY; /* not a list: ask again */
		json_object_put(ours);
		return;
	}
	size_t n = json_object_array_length(items);
	long long oldest = -1;
	/* newest first: scan oldest first, ours is the oldest that fits */
	for (size_t i = n; i-- > 0 && ans->ncandidates < 8;) {
		struct json_object *g = json_object_array_get_idx(items, i);
		struct json_object *r = rec_obj(g, "request");
		const char *id = rec_str(g, "id"), *prompt = rec_str(r, "prompt");
		const char *model = rec_str(g, "model"), *type = rec_str(g, "generation_type");
		long long created = iso_time(rec_str(g, "created_at"));
		if (created >= 0 && (oldest < 0 || created < oldest))
			oldest = created;
		if (id == NULL || id[0] == '\0' || strlen(id) >= sizeof(ans->candidates[0]) ||
		    created < lo || created > hi || prompt == NULL ||
		    strcmp(prompt, rec_str(ours, "prompt")) != 0 ||
		    (type && strcmp(type, "video") != 0) ||
		    (model && strcmp(model, rec_str(ours, "model")) != 0) ||
		    !same_str(r, ours, "duration") || !same_str(r, ours, "aspect_ratio") ||
		    !same_str(r, ours, "resolution") || !same_source(r, ours))
			continue;
		snprintf(ans->candidates[ans->ncandidates++], sizeof(ans->candidates[0]), "%s", id);
	}
	json_object_put(ours);
	int has_more =
		json_object_object_get_ex(list, "has_more", &more) && json_object_get_boolean(more);
	if (ans->ncandidates > 0) {
		ans->state = RS_QUEUED;
	} else if ((has_more || n >= LIST_PAGE) && oldest >= lo) {
		/* the page ends inside the window: ours may be on the next */
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_unknown_outcome");
		snprintf(ans->message, sizeof(ans->message),
			 "The submit's outcome is unknown and more than %d Luma generations were "
			 "created around it; it was not sent again, to avoid a second charge.",
			 LIST_PAGE);
	}
}

/* cancel_answer: DELETE removes the generation (queued, dreaming or
 * ended); 404 when Luma has none by that id. */
static void cancel_answer(long status, struct json_object *o, struct remote_answer *ans)
{
	enum cancel_status cs = remote_cancel_status(status, ans);
	if (cs == CANCEL_DECIDED)
		return;
	if (cs == CANCEL_REFUSED) {
		char detail[400];
		snprintf(ans->message, sizeof(ans->message),
			 "Luma would not delete the generation: %.400s",
			 detail_of(o, detail, sizeof(detail))[0] ? detail : "no reason given");
		return;
	}
	luma_error(ans, status, o);
}

static void luma_parse(struct backend *b, struct json_object *rec, enum remote_phase ph,
		       long status, const char *body, size_t len, struct remote_answer *ans)
{
	struct json_object *o = remote_parse_object(body, len);
	if (ph == PHASE_CANCEL) {
		cancel_answer(status, o, ans);
	} else if (status < 200 || status > 299) {
		luma_error(ans, status, o);
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
		gen_answer(o, ans);
	} else {
		ans->verdict = RV_RETRY; /* a phase this module never asks */
	}
	json_object_put(o);
}

static void luma_unsupported(const struct backend_cfg *b, const struct model_backend *mb,
			     const struct video_spec *s, const char **out)
{
	(void)b;
	(void)mb;
	size_t n = 0;
	struct json_object *v;
	/* Luma has no seed and renders 24 fps */
	if (s->has_seed)
		out[n++] = "seed";
	if (s->fps_given && s->fps != 24)
		out[n++] = "fps";
	if (s->seconds_given && s->seconds != 5 && s->seconds != 9)
		out[n++] = "seconds";
	if (s->size_given && !size_exact(s->width, s->height))
		out[n++] = "size";
	if (s->metadata && json_object_object_get_ex(s->metadata, "negative_prompt", &v))
		out[n++] = "metadata.negative_prompt";
	out[n] = NULL;
}

/* luma_ops: every create model extends (keyframes take a generation);
 * modify takes ray-2 and ray-flash-2 only (the SDK's enum).  An entry
 * without `model` sends the public name, which says nothing: none. */
static unsigned luma_ops(const struct backend_cfg *b, const struct model_backend *mb)
{
	(void)b;
	const char *m = mb->model;
	if (m == NULL)
		return 0;
	if (strcmp(m, "ray-2") == 0 || strcmp(m, "ray-flash-2") == 0)
		return BOP_EDIT | BOP_EXTEND;
	return strcmp(m, "ray-1-6") == 0 ? BOP_EXTEND : 0;
}

/* luma_source_ok: Luma takes a source by URL (modify) or generation id
 * (extension), so only a video this backend made has one. */
static int luma_source_ok(const struct backend_cfg *b, const struct model_backend *mb, unsigned op,
			  struct json_object *src, char *why, size_t n)
{
	(void)mb;
	struct json_object *remote = rec_obj(src, "remote");
	const char *made_by = rec_str(remote, "backend"), *url = rec_str(remote, "video_url");
	const char *id = rec_str(remote, "upstream_id");
	long long secs = rec_i64(rec_obj(src, "params"), "seconds");
	const char *verb = op == BOP_EDIT ? "modifies" : "extends";
	if (src == NULL)
		snprintf(
			why, n,
			"Luma %s only videos it made, by their Luma URL or generation id, and cannot take an uploaded clip; use a completed video of this model instead.",
			verb);
	else if (made_by == NULL || strcmp(made_by, b->name) != 0)
		snprintf(
			why, n,
			"Luma %s only videos it made, and this one was not made by this model's Luma backend.",
			verb);
	else if (op == BOP_EXTEND && (id == NULL || id[0] == '\0'))
		snprintf(why, n, "this video has no Luma generation id to extend.");
	else if (op == BOP_EDIT && (url == NULL || strncmp(url, "http", 4) != 0))
		snprintf(why, n, "this video has no Luma video URL to modify.");
	else if (op == BOP_EDIT && secs > MODIFY_SOURCE_MAX)
		snprintf(why, n,
			 "Luma modifies videos of at most %d seconds; this one is %lld s long.",
			 MODIFY_SOURCE_MAX, secs);
	else
		return 0;
	return -1;
}

/* luma_fits: an extension is a new generation of 5 or 9 s, so a segment
 * of 4 is made 5 long and 8 is made 9 (the record says so); longer
 * segments are refused. */
static int luma_fits(const struct backend_cfg *b, const struct model_backend *mb,
		     const struct video_spec *s, int *segment, char *why, size_t n)
{
	(void)b;
	(void)mb;
	(void)s;
	if (segment == NULL)
		return 0;
	if (*segment == 4 || *segment == 8) {
		*segment += 1;
		return 0;
	}
	snprintf(
		why, n,
		"Luma extends a video by 5 or 9 seconds: send seconds 4 (made 5 s long) or 8 (made 9 s long).");
	return -1;
}

const struct backend_type backend_luma = {
	.name = "luma",
	.kind = BACKEND_HTTP,
	.caps = BCAP_RECONCILE | BCAP_CANCEL,
	.keys = luma_keys,
	.record_keys = luma_record_keys,
	.state_size = sizeof(struct luma_state),
	.check = luma_check,
	.init = luma_init,
	.unsupported = luma_unsupported,
	.ops = luma_ops,
	.source_ok = luma_source_ok,
	.fits = luma_fits,
	.build = luma_build,
	.parse = luma_parse,
};
