/*
 * backend_minimax: MiniMax Hailuo's video API (v1).  A task is one
 * POST video_generation (text to video, or image to video with
 * first_frame_image); its query gives a file_id once it succeeded, which a
 * second lookup (files/retrieve, PHASE_POLL2) turns into the download URL.
 * The key goes to base_url's origin only; the download URL is a signed CDN
 * URL and gets no credential.
 *
 * MiniMax has no idempotency key, no client reference and no task list in
 * v1: a submit whose outcome is unknown cannot be looked up, so this module
 * has no BCAP_RECONCILE (the core fails such a task with
 * upstream_unknown_outcome unless the backend sets resubmit_unknown).  v1
 * has no cancel endpoint either: no BCAP_CANCEL.
 */
#include "backend_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct minimax_state {
	char api_key[512];
};

static const char *const minimax_keys[] = { "api_key", "api_key_env", NULL };
/* the file id of a finished task, from its query to files/retrieve */
static const char *const minimax_record_keys[] = { "file_id", NULL };

#define DEFAULT_MODEL "MiniMax-Hailuo-02"
#define MAX_IMAGE_BYTES (20u << 20) /* MiniMax's limit for first_frame_image */

/* What a model takes (new-api's hailuo/models.go and MiniMax's pages).  The
 * 01 series makes 6 s at 720P and is sent neither field. */
struct model_caps {
	const char *prefix;
	int long_ok;		 /* 10 s besides 6 s */
	int heights[3];		 /* resolutions, by their short side, 0-ended */
	int long_max_height;	 /* the largest resolution 10 s may have */
	int sends_duration_size; /* duration and resolution are sent */
};

static const struct model_caps model_table[] = {
	{ "MiniMax-Hailuo-02", 1, { 512, 768, 1080 }, 768, 1 },
	{ "MiniMax-Hailuo-2.3", 1, { 768, 1080, 0 }, 768, 1 }, /* and 2.3-Fast */
	{ "T2V-01", 0, { 720, 0, 0 }, 0, 0 },
	{ "I2V-01", 0, { 720, 0, 0 }, 0, 0 },
	{ "S2V-01", 0, { 720, 0, 0 }, 0, 0 },
};
/* a model not in the table: taken for a newer Hailuo (as 2.3) */
static const struct model_caps newer_model = { "", 1, { 768, 1080, 0 }, 768, 1 };

/* Metadata keys that are MiniMax's own request fields, passed through as
 * given (as new-api does); `model`, `prompt` and `first_frame_image` come
 * from the request itself and are never taken from metadata. */
static const char *const native_keys[] = { "prompt_optimizer", "fast_pretreatment",
					   "aigc_watermark",   "last_frame_image",
					   "callback_url",     "duration",
					   "resolution",       NULL };

static const struct model_caps *caps_of(const char *model)
{
	for (size_t i = 0; i < sizeof(model_table) / sizeof(*model_table); i++)
		if (strncmp(model, model_table[i].prefix, strlen(model_table[i].prefix)) == 0)
			return &model_table[i];
	return &newer_model;
}

static const char *model_of(const struct model_backend *mb)
{
	return mb && mb->model ? mb->model : DEFAULT_MODEL;
}

static int minimax_check(struct confcheck *c, struct json_object *o, const char *key)
{
	return cc_secret(c, o, key, "api_key");
}

static int minimax_init(struct backend *b, char *err, size_t errlen)
{
	struct minimax_state *st = b->state;
	return backend_need_secret(b->cfg, "api_key", st->api_key, sizeof(st->api_key), err,
				   errlen);
}

static void auth(const struct backend *b, struct http_req *req)
{
	const struct minimax_state *st = b->state;
	char v[600];
	snprintf(v, sizeof(v), "Bearer %s", st->api_key);
	http_req_secret_header(req, "Authorization", v);
}

/* ---- the mapping of a task ---------------------------------------------------- */

/* duration_for: 6 or 10, the nearest the model makes. */
static int duration_for(const struct model_caps *m, int seconds)
{
	return m->long_ok && seconds > 8 ? 10 : 6;
}

/* height_for: the resolution (short side) nearest the asked size's short
 * side, among those the model makes at that duration. */
static int height_for(const struct model_caps *m, int width, int height, int duration)
{
	int want = width < height ? width : height, best = 0;
	for (int i = 0; i < 3 && m->heights[i]; i++) {
		int h = m->heights[i];
		if (duration == 10 && h > m->long_max_height)
			continue;
		if (best == 0 || abs(h - want) < abs(best - want))
			best = h;
	}
	return best;
}

static int is_16_9(int w, int h)
{
	long d = (long)w * 9 - (long)h * 16;
	return w > h && labs(d) * 100 <= (long)h * 16; /* within 1 % (1366x768) */
}

static void minimax_unsupported(const struct backend_cfg *b, const struct model_backend *mb,
				const struct video_spec *s, const char **out)
{
	(void)b;
	const struct model_caps *m = caps_of(model_of(mb));
	size_t n = remote_no_seed_fps(s, out);
	struct json_object *v;
	if (s->metadata && json_object_object_get_ex(s->metadata, "negative_prompt", &v))
		out[n++] = "metadata.negative_prompt";
	int duration = duration_for(m, s->seconds);
	if (s->seconds_given && s->seconds != duration)
		out[n++] = "seconds";
	if (s->size_given) {
		/* MiniMax picks the shape: 16:9 for text, the image's for an
		 * image; only the short side is ours to choose. */
		int short_side = s->width < s->height ? s->width : s->height;
		if (s->image != IMAGE_NONE || !is_16_9(s->width, s->height) ||
		    height_for(m, s->width, s->height, duration) != short_side)
			out[n++] = "size";
	}
	out[n] = NULL;
}

static const char *mime_of(struct json_object *rec)
{
	struct json_object *p, *img;
	const char *ext = NULL;
	if (json_object_object_get_ex(rec, "params", &p) &&
	    json_object_object_get_ex(p, "image", &img))
		ext = rec_str(img, "ext");
	if (ext && strcmp(ext, "png") == 0)
		return "image/png";
	if (ext && strcmp(ext, "webp") == 0)
		return "image/webp";
	return "image/jpeg";
}

/* add_image puts first_frame_image: the caller's URL as given, or the
 * stored image as a data: URL. */
static int add_image(struct backend *bc, struct json_object *rec, struct json_object *body,
		     struct remote_answer *ans)
{
	const char *url = remote_image_url(rec);
	if (url) {
		json_object_object_add(body, "first_frame_image", json_object_new_string(url));
		return 0;
	}
	char *b64 = remote_image_b64(bc->data_dir, rec, MAX_IMAGE_BYTES);
	if (b64 == NULL) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "invalid_image");
		snprintf(
			ans->message, sizeof(ans->message),
			"The input image cannot be sent to MiniMax (it must be a file of at most 20 MB).");
		return -1;
	}
	struct buf d;
	buf_init(&d, 64 + (size_t)MAX_IMAGE_BYTES / 3 * 4 + 4);
	int rc = buf_printf(&d, "data:%s;base64,%s", mime_of(rec), b64);
	free(b64);
	if (rc == 0)
		json_object_object_add(body, "first_frame_image",
				       json_object_new_string_len(d.data, (int)d.len));
	buf_deinit(&d);
	return rc;
}

/* add_native passes the metadata keys that are MiniMax's own fields. */
static void add_native(struct json_object *rec, struct json_object *body)
{
	struct json_object *meta, *v;
	if (!json_object_object_get_ex(rec, "metadata", &meta))
		return;
	for (const char *const *k = native_keys; *k; k++)
		if (json_object_object_get_ex(meta, *k, &v) && v != NULL)
			json_object_object_add(body, *k, json_object_get(v));
}

static int submit_body(struct backend *bc, const struct model_backend *mb, struct json_object *rec,
		       struct http_req *req, struct remote_answer *ans)
{
	const char *model = model_of(mb);
	const struct model_caps *m = caps_of(model);
	struct json_object *b = json_object_new_object(), *v;
	json_object_object_add(b, "model", json_object_new_string(model));
	if (json_object_object_get_ex(rec, "prompt", &v))
		json_object_object_add(b, "prompt", json_object_get(v));
	if (m->sends_duration_size) {
		int d = duration_for(m, remote_param_int(rec, "seconds", 6));
		int h = height_for(m, remote_param_int(rec, "width", 1280),
				   remote_param_int(rec, "height", 720), d);
		char res[16];
		snprintf(res, sizeof(res), "%dP", h);
		json_object_object_add(b, "duration", json_object_new_int(d));
		json_object_object_add(b, "resolution", json_object_new_string(res));
	}
	if (remote_has_image(rec) && add_image(bc, rec, b, ans) < 0) {
		json_object_put(b);
		return -1;
	}
	add_native(rec, b);
	const char *text = json_object_to_json_string_ext(
		b, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc = buf_puts(&req->body, text);
	json_object_put(b);
	return rc;
}

/* id_ok: an id we put in a query string: MiniMax's are digits. */
static int id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(id[i] >= '0' && id[i] <= '9') && !(id[i] >= 'a' && id[i] <= 'z') &&
		    !(id[i] >= 'A' && id[i] <= 'Z') && id[i] != '-' && id[i] != '_')
			return 0;
	return 1;
}

static int minimax_build(struct backend *bc, const struct model_backend *mb,
			 struct json_object *rec, enum remote_phase ph, struct http_req *req,
			 struct remote_answer *ans)
{
	const char *id;
	switch (ph) {
	case PHASE_SUBMIT:
		snprintf(req->method, sizeof(req->method), "POST");
		snprintf(req->url, sizeof(req->url), "%s/video_generation", bc->cfg->base_url);
		http_req_header(req, "Content-Type", "application/json");
		auth(bc, req);
		return submit_body(bc, mb, rec, req, ans);
	case PHASE_POLL:
		id = remote_get(rec, "upstream_id");
		if (!id_ok(id))
			return -1;
		snprintf(req->url, sizeof(req->url), "%s/query/video_generation?task_id=%s",
			 bc->cfg->base_url, id);
		auth(bc, req);
		return 0;
	case PHASE_POLL2:
		id = remote_get(rec, "file_id");
		if (!id_ok(id))
			return -1;
		snprintf(req->url, sizeof(req->url), "%s/files/retrieve?file_id=%s",
			 bc->cfg->base_url, id);
		auth(bc, req);
		return 0;
	case PHASE_FETCH_VIDEO:
		/* a signed CDN URL: no credential goes with it */
		snprintf(req->url, sizeof(req->url), "%s",
			 remote_get(rec, "video_url") ? remote_get(rec, "video_url") : "");
		return req->url[0] ? 0 : -1;
	default: return -1;
	}
}

/* ---- answers ------------------------------------------------------------------ */

/* base_resp reads base_resp.status_code (-1 when there is none) and msg. */
static long base_resp(struct json_object *o, const char **msg)
{
	struct json_object *br, *v;
	*msg = "";
	if (o == NULL || !json_object_object_get_ex(o, "base_resp", &br) ||
	    !json_object_object_get_ex(br, "status_code", &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	const char *m = rec_str(br, "status_msg");
	*msg = m ? m : "";
	return (long)json_object_get_int64(v);
}

/* fail: the task fails with code; the caller writes the message. */
static char *fail(struct remote_answer *ans, const char *code)
{
	ans->verdict = RV_FAIL;
	snprintf(ans->code, sizeof(ans->code), "%s", code);
	return ans->message;
}

/* minimax_error maps a non-zero status_code (MiniMax's error page; the
 * HTTP status is usually 200). */
static void minimax_error(struct remote_answer *ans, long status, long sc, const char *msg)
{
	switch (sc) {
	case 1000: /* unknown error */
	case 1001: /* request timeout */
	case 1002: /* rate limit */
	case 1024: /* internal error */
	case 1033: /* system error */
	case 1039: /* token (rate) limit */ ans->verdict = RV_RETRY; return;
	case 1004: /* not authorized, key expired */
	case 2049: /* invalid API key */
		/* MiniMax's words may quote the key: not repeated */
		snprintf(
			fail(ans, "upstream_auth_failed"), sizeof(ans->message),
			"MiniMax refused reelgate's credentials (code %ld); the operator must check the backend's api_key.",
			sc);
		return;
	case 1008: /* insufficient balance */
	case 1028: /* Token Plan quota */
	case 1030:
		snprintf(fail(ans, "upstream_quota_exhausted"), sizeof(ans->message),
			 "The MiniMax account cannot pay for this task (code %ld): %.300s", sc,
			 msg);
		return;
	case 1026: /* input sensitive */
	case 1027: /* output sensitive */
		snprintf(fail(ans, "content_policy_violation"), sizeof(ans->message),
			 "MiniMax refused the request under its content rules (code %ld): %.300s",
			 sc, msg);
		return;
	}
	if (status == 401 || status == 403 || status == 429 || status >= 500) {
		remote_http_error(ans, "MiniMax", status, NULL);
		return;
	}
	/* 2013 invalid params, 2038 verification, 2061 model not in plan... */
	snprintf(fail(ans, "upstream_rejected"), sizeof(ans->message),
		 "MiniMax refused the request (code %ld): %.300s", sc, msg);
}

/* id_of reads a task or file id, a string or a number (file_id is a string
 * in the query and a number in files/retrieve). */
static const char *id_of(struct json_object *o, const char *name, char *out, size_t n)
{
	struct json_object *v;
	out[0] = '\0';
	if (o == NULL || !json_object_object_get_ex(o, name, &v))
		return NULL;
	if (json_object_is_type(v, json_type_string))
		snprintf(out, n, "%s", json_object_get_string(v));
	else if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0)
		snprintf(out, n, "%lld", (long long)json_object_get_int64(v));
	return id_ok(out) ? out : NULL;
}

static void submit_answer(struct json_object *o, struct remote_answer *ans)
{
	char id[80];
	if (id_of(o, "task_id", id, sizeof(id)) == NULL) {
		/* accepted, but which task? nothing can look it up */
		ans->verdict = RV_RETRY;
		ans->maybe_created = 1;
		return;
	}
	snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", id);
	ans->verdict = RV_OK;
	ans->state = RS_QUEUED;
}

static void poll_answer(struct json_object *o, struct remote_answer *ans)
{
	const char *st = rec_str(o, "status");
	char id[80];
	ans->verdict = RV_OK;
	if (st == NULL) {
		ans->verdict = RV_RETRY; /* an answer without a status: ask again */
		return;
	}
	/* Compared without case: MiniMax's pages spell them both ways. */
	if (strcasecmp(st, "Preparing") == 0 || strcasecmp(st, "Queueing") == 0) {
		ans->state = RS_QUEUED;
	} else if (strcasecmp(st, "Processing") == 0) {
		ans->state = RS_RUNNING;
	} else if (strcasecmp(st, "Success") == 0) {
		if (id_of(o, "file_id", id, sizeof(id)) == NULL) {
			snprintf(fail(ans, "upstream_invalid_answer"), sizeof(ans->message),
				 "MiniMax reported success without a file_id.");
			return;
		}
		/* the download URL is one more lookup away */
		ans->state = RS_RUNNING;
		answer_keep(ans, "file_id", id);
		ans->next = PHASE_POLL2;
	} else if (strcasecmp(st, "Fail") == 0 || strcasecmp(st, "Failed") == 0) {
		ans->state = RS_FAILED;
		snprintf(ans->code, sizeof(ans->code), "generation_failed");
		snprintf(ans->message, sizeof(ans->message),
			 "MiniMax could not make the video (status %.40s).", st);
	} else {
		ans->state = RS_UNKNOWN; /* "Unknown" or new: polled again */
	}
}

static void retrieve_answer(struct json_object *o, struct remote_answer *ans)
{
	struct json_object *file;
	const char *url = NULL;
	if (json_object_object_get_ex(o, "file", &file))
		url = rec_str(file, "download_url");
	if (url == NULL || strncmp(url, "http", 4) != 0) {
		ans->verdict = RV_RETRY; /* no URL yet, or garbage: ask again */
		return;
	}
	ans->verdict = RV_OK;
	ans->state = RS_SUCCEEDED;
	snprintf(ans->video_url, sizeof(ans->video_url), "%s", url);
	if (strlen(url) >= sizeof(ans->video_url))
		snprintf(fail(ans, "upstream_invalid_answer"), sizeof(ans->message),
			 "MiniMax gave a download URL longer than %zu bytes.",
			 sizeof(ans->video_url) - 1);
}

static void minimax_parse(struct backend *bc, struct json_object *rec, enum remote_phase ph,
			  long status, const char *body, size_t len, struct remote_answer *ans)
{
	(void)bc;
	(void)rec;
	struct json_object *o = remote_parse_object(body, len);
	const char *msg;
	long sc = base_resp(o, &msg);
	if (sc > 0) {
		minimax_error(ans, status, sc, msg);
	} else if (status != 200) {
		remote_http_error(ans, "MiniMax", status, NULL);
	} else if (sc < 0) {
		/* 200 without MiniMax's envelope: nothing to trust */
		ans->verdict = RV_RETRY;
		ans->maybe_created = ph == PHASE_SUBMIT;
	} else if (ph == PHASE_SUBMIT) {
		submit_answer(o, ans);
	} else if (ph == PHASE_POLL) {
		poll_answer(o, ans);
	} else if (ph == PHASE_POLL2) {
		retrieve_answer(o, ans);
	} else {
		ans->verdict = RV_RETRY;
	}
	json_object_put(o);
}

const struct backend_type backend_minimax = {
	.name = "minimax",
	.kind = BACKEND_HTTP,
	.caps = 0,
	.keys = minimax_keys,
	.record_keys = minimax_record_keys,
	.state_size = sizeof(struct minimax_state),
	.check = minimax_check,
	.init = minimax_init,
	.unsupported = minimax_unsupported,
	.build = minimax_build,
	.parse = minimax_parse,
};
