/*
 * backend_veo: Veo on the Gemini API (generativelanguage.googleapis.com).
 * A task is one long-running operation: predictLongRunning on the model
 * makes it, a GET of its name polls it, and the result is a file URI
 * downloaded with the key (sent only to the API's own origin, so a redirect
 * to a CDN never carries it) or base64 inside the operation.
 *
 * Veo 3.1 also extends a video it made (instances[0].video = {uri}, the
 * source's result file: 7 new seconds per extension) and takes up to 3
 * reference images (characters' first frames, referenceType "asset").
 *
 * The Gemini API offers no client id, no idempotency key, no way to list
 * or cancel video operations: this module has neither BCAP_RECONCILE nor
 * BCAP_CANCEL (docs/backends.md, "## veo").  Vertex AI's Veo is another
 * module with another protocol.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, strcasestr */
#endif
#include "backend_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

#define VEO_IMAGE_MAX (20u << 20) /* raw bytes: a 20 MB request is the API's limit */
#define VEO_POLL_MAX (96u << 20)  /* a poll may carry the video inline */
#define VEO_DEFAULT_MODEL "veo-3.1-generate-preview"
#define VEO_REFS_MAX 3		  /* reference images a request takes */
#define VEO_REF_MAX (20u << 20)	  /* a reference image's raw bytes */
#define VEO_EXTEND_ASKED 8	  /* the extension's durationSeconds ... */
#define VEO_EXTEND_ADDS 7	  /* ... of which the first continues the source */
#define VEO_EXTEND_SOURCE_MAX 141 /* seconds: the longest video Veo extends */

struct veo_state {
	char api_key[512];
};

static const char *const veo_keys[] = { "api_key", "api_key_env", NULL };
static const char *const veo_record_keys[] = { NULL };

/* Parameters a caller may set through metadata, as Google spells them
 * (new-api passes them through the same way); they win over the mapped
 * fields.  The model is never among them: it is the backend entry's. */
static const char *const veo_native[] = {
	"aspectRatio",	    "resolution", "durationSeconds", "negativePrompt", "enhancePrompt",
	"personGeneration", NULL
};

static int veo_check(struct confcheck *c, struct json_object *o, const char *key)
{
	return cc_secret(c, o, key, "api_key");
}

static int veo_init(struct backend *b, char *err, size_t errlen)
{
	struct veo_state *st = b->state;
	return backend_need_secret(b->cfg, "api_key", st->api_key, sizeof(st->api_key), err,
				   errlen);
}

/* ---- what Veo can make ---------------------------------------------------------- */

static int is_veo2(const struct model_backend *mb)
{
	return mb->model && strncmp(mb->model, "veo-2", 5) == 0;
}

/* veo_seconds: the duration Veo is asked for, the nearest it takes (Veo 3:
 * 4, 6 or 8 s; Veo 2: 5..8 s). */
static int veo_seconds(int veo2, int s)
{
	if (veo2)
		return s < 5 ? 5 : s > 8 ? 8 : s;
	return s <= 4 ? 4 : s <= 6 ? 6 : 8;
}

/* veo_resolution: "720p", "1080p" or "4k" by the short side, and whether
 * w x h is exactly that resolution in 16:9 or 9:16. */
static const char *veo_resolution(int w, int h, int *exact)
{
	int s = w < h ? w : h, l = w < h ? h : w;
	const char *r = s <= 720 ? "720p" : s <= 1080 ? "1080p" : "4k";
	int want = s <= 720 ? 720 : s <= 1080 ? 1080 : 2160;
	*exact = s == want && l * 9 == want * 16;
	return r;
}

static void veo_unsupported(const struct backend_cfg *b, const struct model_backend *mb,
			    const struct video_spec *s, const char **out)
{
	(void)b;
	size_t n = remote_no_seed_fps(s, out);
	int exact = 1, veo2 = is_veo2(mb);
	const char *res = veo_resolution(s->width, s->height, &exact);
	int secs = veo_seconds(veo2, s->seconds);
	if ((strcmp(res, "720p") != 0 && !veo2) || s->references != NULL)
		secs = 8; /* 1080p, 4k and reference images are made 8 s long only */
	if (s->seconds_given && secs != s->seconds)
		out[n++] = "seconds";
	if (s->size_given && (!exact || (veo2 && strcmp(res, "720p") != 0)))
		out[n++] = "size";
	out[n] = NULL;
}

/* is_veo31: the model entry is Veo 3.1 or 3.1 Fast, the models that
 * extend videos and take reference images (not Lite, not 3.0 or 2). */
static int is_veo31(const struct model_backend *mb)
{
	const char *m = mb->model ? mb->model : VEO_DEFAULT_MODEL;
	return strncmp(m, "veo-3.1-generate", 16) == 0 ||
	       strncmp(m, "veo-3.1-fast-generate", 21) == 0;
}

static unsigned veo_ops(const struct backend_cfg *b, const struct model_backend *mb)
{
	(void)b;
	return is_veo31(mb) ? BOP_EXTEND | BOP_REFERENCES : 0;
}

/* veo_source_ok: the Gemini API extends only a video Veo made, by the URI
 * of its result file (kept as the source's remote.video_url), 720p, up to
 * 141 s: so a video this backend made and got back as a file. */
static int veo_source_ok(const struct backend_cfg *b, const struct model_backend *mb, unsigned op,
			 struct json_object *src, char *why, size_t n)
{
	(void)mb;
	struct json_object *remote = rec_obj(src, "remote"), *p = rec_obj(src, "params");
	const char *made_by = rec_str(remote, "backend"), *uri = rec_str(remote, "video_url");
	int w = (int)rec_i64(p, "width"), h = (int)rec_i64(p, "height");
	if (op != BOP_EXTEND)
		snprintf(why, n, "Veo on the Gemini API does not edit videos.");
	else if (src == NULL)
		snprintf(
			why, n,
			"Veo extends only videos it made itself, not an uploaded clip: extend a completed video of this model instead.");
	else if (made_by == NULL || strcmp(made_by, b->name) != 0)
		snprintf(
			why, n,
			"Veo extends only videos it made itself, and this one was not made by this model's Veo backend.");
	else if (uri == NULL ||
		 (strncmp(uri, "https://", 8) != 0 && strncmp(uri, "http://", 7) != 0))
		snprintf(
			why, n,
			"Veo sent this video back inline, without the file reference an extension needs; extend a video Veo returned as a file.");
	else if (!((w == 1280 && h == 720) || (w == 720 && h == 1280)))
		snprintf(why, n,
			 "Veo extends 720p videos only (1280x720 or 720x1280); this one is %dx%d.",
			 w, h);
	else if (rec_i64(p, "seconds") > VEO_EXTEND_SOURCE_MAX)
		snprintf(why, n,
			 "Veo extends videos of at most %d seconds; this one is %lld s long.",
			 VEO_EXTEND_SOURCE_MAX, (long long)rec_i64(p, "seconds"));
	else
		return 0;
	return -1;
}

/* veo_fits: an extension is one 8-second clip whose first second continues
 * the source, so it adds 7 s: asked for 8, it is made 7 long (the record
 * says so); any other length is refused.  Reference images: at most 3,
 * and not with a first-frame image. */
static int veo_fits(const struct backend_cfg *b, const struct model_backend *mb,
		    const struct video_spec *s, int *segment, char *why, size_t n)
{
	(void)b;
	(void)mb;
	size_t refs = s->references ? json_object_array_length(s->references) : 0;
	if (segment != NULL && *segment != VEO_EXTEND_ASKED) {
		snprintf(
			why, n,
			"Veo extends a video by one %d-second clip whose first second continues it, adding %d seconds: send seconds %d.",
			VEO_EXTEND_ASKED, VEO_EXTEND_ADDS, VEO_EXTEND_ASKED);
		return -1;
	}
	if (segment != NULL)
		*segment = VEO_EXTEND_ADDS;
	if (refs > VEO_REFS_MAX) {
		snprintf(
			why, n,
			"Veo takes at most %d reference images and %zu characters were named; name at most %d.",
			VEO_REFS_MAX, refs, VEO_REFS_MAX);
		return -1;
	}
	if (refs > 0 && s->image != IMAGE_NONE) {
		snprintf(
			why, n,
			"Veo takes either reference images (characters) or a first frame (input_reference), not both; leave one out.");
		return -1;
	}
	return 0;
}

/* ---- requests --------------------------------------------------------------------- */

/* safe_name: a model or operation name that can go into a URL path as is. */
static int safe_name(const char *s, int slashes)
{
	if (s == NULL || s[0] == '\0' || strstr(s, ".."))
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' ||
		      (slashes && *p == '/')))
			return 0;
	return 1;
}

static void auth(struct backend *b, struct http_req *req)
{
	const struct veo_state *st = b->state;
	http_req_secret_header(req, "x-goog-api-key", st->api_key);
}

/* same_origin: url is on base's scheme://host[:port]. */
static int same_origin(const char *url, const char *base)
{
	const char *hs = strstr(base, "://");
	if (hs == NULL)
		return 0;
	size_t n = strcspn(hs + 3, "/?#") + (size_t)(hs + 3 - base);
	return strncmp(url, base, n) == 0 && strchr("/?#", url[n]) != NULL;
}

static const char *image_mime(struct json_object *rec)
{
	struct json_object *p = rec_obj(rec, "params");
	const char *ext = rec_str(rec_obj(p, "image"), "ext");
	if (ext && strcmp(ext, "png") == 0)
		return "image/png";
	if (ext && strcmp(ext, "webp") == 0)
		return "image/webp";
	return "image/jpeg";
}

static int fail_build(struct remote_answer *ans, const char *code, const char *msg)
{
	ans->verdict = RV_FAIL;
	snprintf(ans->code, sizeof(ans->code), "%s", code);
	snprintf(ans->message, sizeof(ans->message), "%s", msg);
	return -1;
}

static void add_native(struct json_object *rec, struct json_object *params)
{
	struct json_object *meta = rec_obj(rec, "metadata"), *v;
	for (const char *const *k = veo_native; meta && *k; k++)
		if (json_object_object_get_ex(meta, *k, &v))
			json_object_object_add(params, *k, json_object_get(v));
}

/* image_json: {bytesBase64Encoded, mimeType}, the only image form the
 * Gemini API takes (b64 is consumed). */
static struct json_object *image_json(char *b64, const char *mime)
{
	struct json_object *img = json_object_new_object();
	json_object_object_add(img, "bytesBase64Encoded", json_object_new_string(b64));
	json_object_object_add(img, "mimeType", json_object_new_string(mime));
	free(b64);
	return img;
}

/* add_references puts the characters' first frames (PNGs under uploads/)
 * into inst.referenceImages as assets; -1 when one cannot be read. */
static int add_references(struct backend *b, struct json_object *refs, struct json_object *inst)
{
	struct json_object *arr = json_object_new_array(), *r;
	json_object_object_add(inst, "referenceImages", arr);
	for (size_t i = 0; (r = remote_idx(refs, i)) != NULL; i++) {
		char *b64 = remote_file_b64(b->data_dir, rec_str(r, "image"), VEO_REF_MAX);
		if (b64 == NULL)
			return -1;
		struct json_object *ref = json_object_new_object();
		json_object_object_add(ref, "image", image_json(b64, "image/png"));
		json_object_object_add(ref, "referenceType", json_object_new_string("asset"));
		json_object_array_add(arr, ref);
	}
	return 0;
}

/* extension_body: the source by the URI of the file Veo made (its record's
 * remote.video_url, checked by veo_source_ok), one 8-second clip. */
static int extension_body(struct json_object *rec, struct json_object *inst,
			  struct json_object *params, struct remote_answer *ans)
{
	struct json_object *src = rec_obj(rec_obj(rec, "params"), "source");
	const char *uri = rec_str(rec_obj(src, "remote"), "video_url");
	if (uri == NULL)
		return fail_build(ans, "invalid_task",
				  "The extension's source has no Veo file to extend.");
	struct json_object *video = json_object_new_object();
	json_object_object_add(video, "uri", json_object_new_string(uri));
	json_object_object_add(inst, "video", video);
	json_object_object_add(params, "durationSeconds", json_object_new_int(VEO_EXTEND_ASKED));
	return 0;
}

/* create_body: text, a first frame or reference images to video. */
static int create_body(struct backend *b, const struct model_backend *mb, struct json_object *rec,
		       struct json_object *inst, struct json_object *params,
		       struct remote_answer *ans)
{
	struct json_object *refs = NULL;
	json_object_object_get_ex(rec_obj(rec, "params"), "references", &refs);
	if (remote_has_image(rec)) {
		char *b64 = remote_image_b64(b->data_dir, rec, VEO_IMAGE_MAX);
		if (b64 == NULL)
			return fail_build(
				ans, "invalid_image",
				"The input image cannot be sent to Veo (it must be a file of at most 20 MB).");
		json_object_object_add(inst, "image", image_json(b64, image_mime(rec)));
	}
	if (refs != NULL && add_references(b, refs, inst) < 0)
		return fail_build(
			ans, "invalid_image",
			"A character's reference image cannot be sent to Veo (it must be a readable PNG of at most 20 MB); create the character again.");

	int w = remote_param_int(rec, "width", 1280), h = remote_param_int(rec, "height", 720);
	int exact, veo2 = is_veo2(mb);
	const char *res = veo_resolution(w, h, &exact);
	int secs = veo_seconds(veo2, remote_param_int(rec, "seconds", 8));
	if ((strcmp(res, "720p") != 0 && !veo2) || refs != NULL)
		secs = 8;
	json_object_object_add(params, "durationSeconds", json_object_new_int(secs));
	json_object_object_add(params, "aspectRatio",
			       json_object_new_string(h > w ? "9:16" : "16:9"));
	if (strcmp(res, "720p") != 0 && !veo2)
		json_object_object_add(params, "resolution", json_object_new_string(res));
	const char *neg = remote_meta_str(rec, "negative_prompt");
	if (neg)
		json_object_object_add(params, "negativePrompt", json_object_new_string(neg));
	if (remote_has_image(rec) || refs != NULL) /* the only value these take */
		json_object_object_add(params, "personGeneration",
				       json_object_new_string("allow_adult"));
	add_native(rec, params);
	return 0;
}

static int submit_body(struct backend *b, const struct model_backend *mb, struct json_object *rec,
		       struct http_req *req, struct remote_answer *ans)
{
	struct json_object *body = json_object_new_object(), *inst = json_object_new_object();
	struct json_object *params = json_object_new_object(), *arr = json_object_new_array();
	const char *op = rec_str(rec, "op");
	json_object_array_add(arr, inst);
	json_object_object_add(body, "instances", arr);
	json_object_object_add(body, "parameters", params);
	json_object_object_add(
		inst, "prompt",
		json_object_new_string(rec_str(rec, "prompt") ? rec_str(rec, "prompt") : ""));
	int rc = op && strcmp(op, "extend") == 0 ? extension_body(rec, inst, params, ans)
		 : op				 ? fail_build(ans, "unsupported_value",
							      "Veo on the Gemini API does not edit videos.")
						 : create_body(b, mb, rec, inst, params, ans);
	if (rc == 0)
		rc = buf_puts(&req->body, json_object_to_json_string_ext(
						  body, JSON_C_TO_STRING_PLAIN |
								JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(body);
	return rc;
}

static int veo_build(struct backend *b, const struct model_backend *mb, struct json_object *rec,
		     enum remote_phase ph, struct http_req *req, struct remote_answer *ans)
{
	const char *base = b->cfg->base_url;
	switch (ph) {
	case PHASE_SUBMIT: {
		const char *model = mb->model ? mb->model : VEO_DEFAULT_MODEL;
		if (!safe_name(model, 0))
			return fail_build(ans, "upstream_unavailable",
					  "The backend's Veo model name is not a valid model id.");
		snprintf(req->method, sizeof(req->method), "POST");
		snprintf(req->url, sizeof(req->url), "%s/models/%s:predictLongRunning", base,
			 model);
		http_req_header(req, "Content-Type", "application/json");
		auth(b, req);
		return submit_body(b, mb, rec, req, ans);
	}
	case PHASE_POLL: {
		const char *op = remote_get(rec, "upstream_id");
		if (!safe_name(op, 1) || strncmp(op, "models/", 7) != 0 ||
		    strstr(op, "/operations/") == NULL)
			return -1;
		snprintf(req->method, sizeof(req->method), "GET");
		snprintf(req->url, sizeof(req->url), "%s/%s", base, op);
		req->max_bytes = VEO_POLL_MAX;
		auth(b, req);
		return 0;
	}
	case PHASE_FETCH_VIDEO: {
		const char *url = remote_get(rec, "video_url");
		if (url == NULL || url[0] == '\0')
			return -1;
		snprintf(req->method, sizeof(req->method), "GET");
		snprintf(req->url, sizeof(req->url), "%s", url);
		/* The key goes only to the API's own origin: a URI elsewhere is
		 * fetched without it, and the core drops it on a redirect. */
		if (same_origin(url, base))
			auth(b, req);
		return 0;
	}
	default: return -1;
	}
}

/* ---- answers ---------------------------------------------------------------------- */

/* google.rpc.Status: {"error": {"code", "message", "status", "details"}}. */
struct rpc_status {
	int code;
	const char *message, *status, *reason;
	long retry_ms;
};

static long duration_ms(const char *d)
{
	/* protobuf Duration as JSON: "30s", "1.5s" */
	char *end;
	double s = d ? strtod(d, &end) : 0;
	if (d == NULL || end == d || *end != 's' || s <= 0 || s > 3600)
		return 0;
	return (long)(s * 1000);
}

static void rpc_read(struct json_object *err, struct rpc_status *st)
{
	memset(st, 0, sizeof(*st));
	struct json_object *v;
	if (err == NULL || !json_object_is_type(err, json_type_object)) {
		st->message = err && json_object_is_type(err, json_type_string)
				      ? json_object_get_string(err)
				      : NULL;
		return;
	}
	if (json_object_object_get_ex(err, "code", &v) && json_object_is_type(v, json_type_int))
		st->code = json_object_get_int(v);
	st->message = rec_str(err, "message");
	st->status = rec_str(err, "status");
	struct json_object *details = NULL, *d;
	json_object_object_get_ex(err, "details", &details);
	for (size_t i = 0; (d = remote_idx(details, i)) != NULL; i++) {
		if (rec_str(d, "reason") && st->reason == NULL)
			st->reason = rec_str(d, "reason");
		if (rec_str(d, "retryDelay"))
			st->retry_ms = duration_ms(rec_str(d, "retryDelay"));
	}
}

static int mentions(const char *s, const char *const *words)
{
	for (; s && *words; words++)
		if (strcasestr(s, *words))
			return 1;
	return 0;
}

/* Google's refusals of a prompt or image for its content (assumed wording,
 * docs/backends.md "## veo"). */
static int is_policy(const struct rpc_status *st)
{
	static const char *const words[] = { "usage guidelines", "safety", "sensitive",
					     "responsible ai",	 "policy", NULL };
	return mentions(st->message, words) || mentions(st->reason, words);
}

static void set_fail(struct remote_answer *ans, const char *code)
{
	ans->verdict = RV_FAIL;
	snprintf(ans->code, sizeof(ans->code), "%s", code);
}

/* veo_http_error maps an answer that is not a success. */
static void veo_http_error(struct remote_answer *ans, long status, const struct rpc_status *st)
{
	const char *s = st->status ? st->status : "";
	const char *msg = st->message ? st->message : "";
	ans->retry_after_ms = st->retry_ms;
	if (status == 429 || strcmp(s, "RESOURCE_EXHAUSTED") == 0 ||
	    strcmp(s, "UNAVAILABLE") == 0 || strcmp(s, "INTERNAL") == 0 ||
	    strcmp(s, "DEADLINE_EXCEEDED") == 0) {
		ans->verdict = RV_RETRY;
		return;
	}
	if ((st->reason && strstr(st->reason, "API_KEY")) || strcmp(s, "UNAUTHENTICATED") == 0 ||
	    strcmp(s, "PERMISSION_DENIED") == 0) {
		set_fail(ans, "upstream_auth_failed");
		/* Google's words may quote the key: not repeated. */
		snprintf(
			ans->message, sizeof(ans->message),
			"Veo refused reelgate's credentials (HTTP %ld %s%s%s); the operator must check the backend's API key.",
			status, s, st->reason ? " " : "", st->reason ? st->reason : "");
		return;
	}
	if (strcmp(s, "FAILED_PRECONDITION") == 0) {
		set_fail(ans, "upstream_quota_exhausted");
		snprintf(
			ans->message, sizeof(ans->message),
			"The Gemini API project cannot run Veo (FAILED_PRECONDITION: billing or region): %.300s",
			msg);
		return;
	}
	if (status == 400 && is_policy(st)) {
		set_fail(ans, "content_policy_violation");
		snprintf(ans->message, sizeof(ans->message),
			 "Veo refused the request under its content rules: %.400s", msg);
		return;
	}
	char detail[420];
	snprintf(detail, sizeof(detail), "%s %.400s", s, msg);
	remote_http_error(ans, "Veo", status, st->status || st->message ? detail : NULL);
}

/* op_error: the operation finished with an error (google.rpc.Status, or a
 * bare string). */
static void op_error(struct remote_answer *ans, struct json_object *err)
{
	struct rpc_status st;
	rpc_read(err, &st);
	ans->verdict = RV_OK;
	ans->state = RS_FAILED;
	const char *msg = st.message && st.message[0] ? st.message : "no reason given";
	if (is_policy(&st)) {
		snprintf(ans->code, sizeof(ans->code), "content_policy_violation");
		snprintf(ans->message, sizeof(ans->message),
			 "Veo refused the video under its content rules: %.400s", msg);
		return;
	}
	snprintf(ans->code, sizeof(ans->code), "generation_failed");
	snprintf(ans->message, sizeof(ans->message),
		 "Veo could not make the video (code %d%s%s): %.400s", st.code,
		 st.status ? " " : "", st.status ? st.status : "", msg);
}

/* inline_span finds the raw base64 text of s inside body (the core decodes
 * it there); NULL when the answer escaped it. */
static const char *inline_span(const char *body, size_t len, const char *s, size_t n)
{
	if (n == 0 || n > len)
		return NULL;
	return memmem(body, len, s, n);
}

/* finished reads the response of an operation that is done. */
static void finished(struct json_object *resp, const char *body, size_t len,
		     struct remote_answer *ans)
{
	struct json_object *gvr = rec_obj(resp, "generateVideoResponse"), *samples = NULL, *v;
	json_object_object_get_ex(gvr, "generatedSamples", &samples);
	struct json_object *video = rec_obj(remote_idx(samples, 0), "video");
	const char *uri = rec_str(video, "uri");
	const char *enc = rec_str(video, "encodedVideo");
	ans->verdict = RV_OK;
	if (uri && (strncmp(uri, "https://", 8) == 0 || strncmp(uri, "http://", 7) == 0)) {
		ans->state = RS_SUCCEEDED;
		snprintf(ans->video_url, sizeof(ans->video_url), "%s", uri);
		return;
	}
	if (enc && enc[0]) {
		size_t n = strlen(enc);
		ans->inline_video = inline_span(body, len, enc, n);
		ans->inline_video_len = n;
		if (ans->inline_video) {
			ans->state = RS_SUCCEEDED;
			return;
		}
	}
	int filtered = 0;
	if (json_object_object_get_ex(gvr, "raiMediaFilteredCount", &v))
		filtered = json_object_get_int(v);
	ans->state = RS_FAILED;
	if (filtered > 0) {
		struct json_object *reasons = NULL;
		json_object_object_get_ex(gvr, "raiMediaFilteredReasons", &reasons);
		struct json_object *r0 = remote_idx(reasons, 0);
		const char *why = r0 && json_object_is_type(r0, json_type_string)
					  ? json_object_get_string(r0)
					  : "no reason given";
		snprintf(ans->code, sizeof(ans->code), "content_policy_violation");
		snprintf(ans->message, sizeof(ans->message),
			 "Veo filtered the video out under its content rules (%d filtered): %.400s",
			 filtered, why);
		return;
	}
	ans->inline_video = NULL;
	ans->inline_video_len = 0;
	snprintf(ans->code, sizeof(ans->code), "upstream_invalid_answer");
	snprintf(ans->message, sizeof(ans->message),
		 "Veo reported the operation done without a video%s.",
		 enc ? " it could read (the inline video was escaped)" : "");
}

static void veo_parse(struct backend *b, struct json_object *rec, enum remote_phase ph, long status,
		      const char *body, size_t len, struct remote_answer *ans)
{
	(void)b;
	(void)rec;
	struct json_object *o = remote_parse_object(body, len), *v;
	const char *name = rec_str(o, "name");
	if (status != 200) {
		struct rpc_status st;
		rpc_read(o ? rec_obj(o, "error") : NULL, &st);
		veo_http_error(ans, status, &st);
	} else if (ph == PHASE_SUBMIT) {
		if (name && safe_name(name, 1) && strncmp(name, "models/", 7) == 0 &&
		    strstr(name, "/operations/") && strlen(name) < sizeof(ans->upstream_id)) {
			ans->verdict = RV_OK;
			ans->state = RS_QUEUED;
			snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", name);
		} else {
			/* accepted or not, we cannot tell: the operation may exist */
			ans->verdict = RV_RETRY;
			ans->maybe_created = 1;
		}
	} else if (ph != PHASE_POLL || o == NULL || name == NULL) {
		ans->verdict = RV_RETRY; /* 200 with a body we cannot read */
	} else if (!json_object_object_get_ex(o, "done", &v) ||
		   !json_object_is_type(v, json_type_boolean) || !json_object_get_boolean(v)) {
		ans->verdict = RV_OK;
		ans->state = RS_RUNNING;
		ans->progress = -1;
	} else if (json_object_object_get_ex(o, "error", &v)) {
		op_error(ans, v);
	} else {
		finished(rec_obj(o, "response"), body, len, ans);
	}
	json_object_put(o);
}

const struct backend_type backend_veo = {
	.name = "veo",
	.kind = BACKEND_HTTP,
	.caps = BCAP_IMAGE_FILE,
	.keys = veo_keys,
	.record_keys = veo_record_keys,
	.state_size = sizeof(struct veo_state),
	.check = veo_check,
	.init = veo_init,
	.unsupported = veo_unsupported,
	.ops = veo_ops,
	.source_ok = veo_source_ok,
	.fits = veo_fits,
	.build = veo_build,
	.parse = veo_parse,
};
