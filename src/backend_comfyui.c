/*
 * backend_comfyui: a self-hosted ComfyUI.  Per model, an API-format
 * workflow file and a map of which node input receives each value (prompt,
 * negative_prompt, seed, width, height, frames, fps, seconds, image).  Values
 * are set with json-c on a copy of the workflow, never by text substitution.
 * An input image is uploaded first (/upload/image) and the name ComfyUI
 * returns is used.  Our video id is the prompt_id, so /history and /queue
 * find a job whose submit outcome is unknown.
 */
#include "backend_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "id.h"

struct comfy_state {
	struct json_object *workflow; /* the template (owned) */
};

static const char *const comfy_keys[] = { "workflow", "inputs", "workflow_path", NULL };
/* the name ComfyUI gave the uploaded image */
static const char *const comfy_record_keys[] = { "image_name", NULL };
static const char *const input_names[] = { "prompt", "negative_prompt", "seed",
					   "width",  "height",		"frames",
					   "fps",    "seconds",		"image",
					   NULL };

/* check_input: one entry of the input map, ["NODE_ID", "INPUT"] naming a
 * node of the workflow doc. */
static int check_input(struct confcheck *c, struct json_object *doc, const char *k2,
		       const char *name, struct json_object *pair)
{
	int known = 0;
	for (const char *const *nm = input_names; *nm; nm++)
		known |= strcmp(*nm, name) == 0;
	if (!known)
		return cc_fail(
			c, k2,
			"unknown value (known: prompt, negative_prompt, seed, width, height, frames, fps, seconds, image)");
	struct json_object *node, *node_inputs;
	if (!json_object_is_type(pair, json_type_array) || json_object_array_length(pair) != 2 ||
	    !json_object_is_type(json_object_array_get_idx(pair, 0), json_type_string) ||
	    !json_object_is_type(json_object_array_get_idx(pair, 1), json_type_string) ||
	    !json_object_object_get_ex(
		    doc, json_object_get_string(json_object_array_get_idx(pair, 0)), &node) ||
	    !json_object_object_get_ex(node, "inputs", &node_inputs))
		return cc_fail(c, k2,
			       "must be [\"NODE_ID\", \"INPUT\"] naming a node of the workflow");
	return 0;
}

static int check_inputs(struct confcheck *c, struct json_object *o, const char *key,
			struct json_object *doc)
{
	char k2[320];
	struct json_object *inputs;
	snprintf(k2, sizeof(k2), "%s.inputs", key);
	if (!json_object_object_get_ex(o, "inputs", &inputs) ||
	    !json_object_is_type(inputs, json_type_object))
		return cc_fail(
			c, k2,
			"missing: which node input receives each value, e.g. {\"prompt\": [\"6\", \"text\"]}");
	json_object_object_foreach(inputs, name, pair) {
		snprintf(k2, sizeof(k2), "%s.inputs.%s", key, name);
		if (check_input(c, doc, k2, name, pair) < 0)
			return -1;
	}
	if (!json_object_object_get_ex(inputs, "prompt", NULL)) {
		snprintf(k2, sizeof(k2), "%s.inputs.prompt", key);
		return cc_fail(c, k2, "missing: the node input that receives the prompt");
	}
	return 0;
}

/* comfy_check: the workflow file (an API-format export) is read, and its
 * absolute path kept in the entry as workflow_path for init; every entry of
 * the input map names a node of it. */
static int comfy_check(struct confcheck *c, struct json_object *o, const char *key)
{
	char k2[320];
	char *wf = NULL;
	snprintf(k2, sizeof(k2), "%s.workflow", key);
	if (cc_string(c, o, "workflow", k2, &wf) < 0)
		return -1;
	if (wf == NULL)
		return cc_fail(c, k2,
			       "missing: the API-format workflow file (Export (API) in ComfyUI)");
	char *abs = cc_resolve(c, wf);
	free(wf);
	struct json_object *doc = abs ? backend_load_json(abs) : NULL;
	if (doc == NULL) {
		cc_fail(c, k2, "cannot read %s as a JSON workflow object",
			abs ? abs : "the workflow");
		free(abs);
		return -1;
	}
	json_object_object_add(o, "workflow_path", json_object_new_string(abs));
	free(abs);
	int rc = check_inputs(c, o, key, doc);
	json_object_put(doc);
	return rc;
}

static int comfy_init(struct backend *b, char *err, size_t errlen)
{
	struct comfy_state *st = b->state;
	const char *wf = rec_str(b->cfg->raw, "workflow_path");
	st->workflow = wf ? backend_load_json(wf) : NULL;
	if (st->workflow == NULL) {
		snprintf(err, errlen, "backend %s: cannot read the workflow %s as a JSON object",
			 b->cfg->name, wf ? wf : "(none)");
		return -1;
	}
	return 0;
}

static void comfy_deinit(struct backend *b)
{
	struct comfy_state *st = b->state;
	json_object_put(st->workflow);
	st->workflow = NULL;
}

/* target finds the node input that receives name; NULL when unmapped. */
static struct json_object *target(const struct backend *bc, struct json_object *wf,
				  const char *name, const char **input)
{
	struct json_object *inputs, *pair, *node, *node_inputs;
	if (!json_object_object_get_ex(bc->cfg->raw, "inputs", &inputs) ||
	    !json_object_object_get_ex(inputs, name, &pair) || json_object_array_length(pair) != 2)
		return NULL;
	const char *node_id = json_object_get_string(json_object_array_get_idx(pair, 0));
	*input = json_object_get_string(json_object_array_get_idx(pair, 1));
	if (!json_object_object_get_ex(wf, node_id, &node) ||
	    !json_object_object_get_ex(node, "inputs", &node_inputs))
		return NULL;
	return node_inputs;
}

static void set_value(const struct backend *bc, struct json_object *wf, const char *name,
		      struct json_object *value)
{
	const char *input;
	struct json_object *t = target(bc, wf, name, &input);
	if (t)
		json_object_object_add(t, input, value);
	else
		json_object_put(value);
}

/* seed_for gives the task's seed, or one derived from its id. */
static uint64_t seed_for(struct json_object *rec)
{
	unsigned long s;
	if (remote_has_seed(rec, &s))
		return s;
	const char *id = json_object_get_string(json_object_object_get(rec, "id"));
	uint64_t h = 1469598103934665603ULL;
	for (; id && *id; id++)
		h = (h ^ (uint8_t)*id) * 1099511628211ULL;
	return h >> 1;
}

/* drop_image_node removes the node mapped as "image", and every input
 * linked to it, from a task without an image: its optional image inputs
 * left unlinked, the same graph makes video from text alone. */
static void drop_image_node(const struct backend *bc, struct json_object *wf)
{
	struct json_object *inputs, *pair;
	if (!json_object_object_get_ex(bc->cfg->raw, "inputs", &inputs) ||
	    !json_object_object_get_ex(inputs, "image", &pair))
		return;
	const char *node_id = json_object_get_string(json_object_array_get_idx(pair, 0));
	if (node_id == NULL)
		return;
	json_object_object_foreach(wf, id, node) {
		(void)id;
		struct json_object *ni;
		if (!json_object_object_get_ex(node, "inputs", &ni) ||
		    !json_object_is_type(ni, json_type_object))
			continue;
		const char *linked[32];
		size_t n = 0;
		json_object_object_foreach(ni, name, val) {
			const char *to =
				json_object_is_type(val, json_type_array) &&
						json_object_array_length(val) == 2
					? json_object_get_string(json_object_array_get_idx(val, 0))
					: NULL;
			if (to != NULL && strcmp(to, node_id) == 0 && n < 32)
				linked[n++] = name;
		}
		for (size_t i = 0; i < n; i++)
			json_object_object_del(ni, linked[i]);
	}
	json_object_object_del(wf, node_id);
}

static int submit_body(struct backend *bc, struct json_object *rec, struct http_req *req)
{
	struct json_object *wf = NULL;
	if (json_object_deep_copy(((struct comfy_state *)bc->state)->workflow, &wf, NULL) != 0)
		return -1;
	int seconds = remote_param_int(rec, "seconds", 4), fps = remote_param_int(rec, "fps", 16);
	set_value(bc, wf, "prompt", json_object_get(json_object_object_get(rec, "prompt")));
	const char *neg = remote_meta_str(rec, "negative_prompt");
	if (neg)
		set_value(bc, wf, "negative_prompt", json_object_new_string(neg));
	set_value(bc, wf, "seed", json_object_new_uint64(seed_for(rec)));
	set_value(bc, wf, "width", json_object_new_int(remote_param_int(rec, "width", 832)));
	set_value(bc, wf, "height", json_object_new_int(remote_param_int(rec, "height", 480)));
	/* Wan-style latents hold 4k+1 frames; +1 makes seconds x fps exact. */
	set_value(bc, wf, "frames", json_object_new_int(seconds * fps + 1));
	set_value(bc, wf, "fps", json_object_new_int(fps));
	set_value(bc, wf, "seconds", json_object_new_int(seconds));
	const char *image = remote_get(rec, "image_name");
	if (image)
		set_value(bc, wf, "image", json_object_new_string(image));
	else
		drop_image_node(bc, wf);
	struct json_object *b = json_object_new_object();
	json_object_object_add(b, "prompt", wf);
	json_object_object_add(b, "client_id", json_object_new_string("reelgate"));
	json_object_object_add(b, "prompt_id", json_object_get(json_object_object_get(rec, "id")));
	int rc = buf_puts(&req->body,
			  json_object_to_json_string_ext(
				  b, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(b);
	return rc;
}

static int upload_body(struct backend *bc, struct json_object *rec, struct http_req *req)
{
	char path[4200], boundary[48], ctype[96];
	if (remote_image_path(bc->data_dir, rec, path, sizeof(path)) == NULL ||
	    id_prefixed_new(boundary, sizeof(boundary), "reelgate-", 12) < 0)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	const char *ext = strrchr(path, '.');
	const char *id = json_object_get_string(json_object_object_get(rec, "id"));
	buf_printf(&req->body,
		   "--%s\r\nContent-Disposition: form-data; name=\"image\"; filename=\"%s%s\"\r\n"
		   "Content-Type: application/octet-stream\r\n\r\n",
		   boundary, id, ext ? ext : "");
	char chunk[65536];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(&req->body, chunk, (size_t)n);
	close(fd);
	buf_printf(
		&req->body,
		"\r\n--%s\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\ninput\r\n"
		"--%s\r\nContent-Disposition: form-data; name=\"overwrite\"\r\n\r\ntrue\r\n--%s--\r\n",
		boundary, boundary, boundary);
	snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%s", boundary);
	http_req_header(req, "Content-Type", ctype);
	return n < 0 ? -1 : 0;
}

static int comfy_build(struct backend *bc, const struct model_backend *mb, struct json_object *rec,
		       enum remote_phase ph, struct http_req *req, struct remote_answer *ans)
{
	(void)mb;
	const char *base = bc->cfg->base_url;
	const char *pid = remote_get(rec, "upstream_id");
	if (pid == NULL)
		pid = json_object_get_string(json_object_object_get(rec, "id"));
	switch (ph) {
	case PHASE_UPLOAD:
		snprintf(req->method, sizeof(req->method), "POST");
		snprintf(req->url, sizeof(req->url), "%s/upload/image", base);
		if (upload_body(bc, rec, req) < 0) {
			ans->verdict = RV_FAIL;
			snprintf(ans->code, sizeof(ans->code), "invalid_image");
			snprintf(ans->message, sizeof(ans->message),
				 "The stored input image cannot be read.");
			return -1;
		}
		return 0;
	case PHASE_SUBMIT:
		snprintf(req->method, sizeof(req->method), "POST");
		snprintf(req->url, sizeof(req->url), "%s/prompt", base);
		http_req_header(req, "Content-Type", "application/json");
		return submit_body(bc, rec, req);
	case PHASE_RECONCILE:
	case PHASE_POLL: snprintf(req->url, sizeof(req->url), "%s/history/%s", base, pid); return 0;
	case PHASE_RECONCILE2:
	case PHASE_POLL2: snprintf(req->url, sizeof(req->url), "%s/queue", base); return 0;
	case PHASE_FETCH_VIDEO:
		snprintf(req->url, sizeof(req->url), "%s",
			 remote_get(rec, "video_url") ? remote_get(rec, "video_url") : "");
		return req->url[0] ? 0 : -1;
	default: return -1;
	}
}

/* in_queue says whether prompt id is listed in /queue's list name. */
static int in_queue(struct json_object *q, const char *list, const char *pid)
{
	struct json_object *a;
	if (!json_object_object_get_ex(q, list, &a) || !json_object_is_type(a, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *p = remote_idx(json_object_array_get_idx(a, i), 1);
		if (p && json_object_is_type(p, json_type_string) &&
		    strcmp(json_object_get_string(p), pid) == 0)
			return 1;
	}
	return 0;
}

static int is_video_name(const char *f)
{
	const char *ext = f ? strrchr(f, '.') : NULL;
	return ext && (strcmp(ext, ".mp4") == 0 || strcmp(ext, ".webm") == 0 ||
		       strcmp(ext, ".mov") == 0 || strcmp(ext, ".mkv") == 0);
}

/* find_video scans every output node's images, gifs and videos (core
 * SaveVideo and VideoHelperSuite shapes) for a video file. */
static int find_video(const struct backend *bc, struct json_object *outputs, char *url, size_t n)
{
	static const char *const kinds[] = { "gifs", "videos", "images", NULL };
	if (!json_object_is_type(outputs, json_type_object))
		return 0;
	json_object_object_foreach(outputs, node, out) {
		(void)node;
		for (const char *const *k = kinds; *k; k++) {
			struct json_object *list;
			if (!json_object_object_get_ex(out, *k, &list) ||
			    !json_object_is_type(list, json_type_array))
				continue;
			for (size_t i = 0; i < json_object_array_length(list); i++) {
				struct json_object *f = json_object_array_get_idx(list, i), *v;
				const char *fn = json_object_object_get_ex(f, "filename", &v)
							 ? json_object_get_string(v)
							 : NULL;
				if (!is_video_name(fn))
					continue;
				const char *sub = json_object_object_get_ex(f, "subfolder", &v)
							  ? json_object_get_string(v)
							  : "";
				const char *type = json_object_object_get_ex(f, "type", &v)
							   ? json_object_get_string(v)
							   : "output";
				char efn[1024], esub[1024], etype[64];
				buf_pct_encode_to(fn, efn, sizeof(efn));
				buf_pct_encode_to(sub ? sub : "", esub, sizeof(esub));
				buf_pct_encode_to(type ? type : "output", etype, sizeof(etype));
				snprintf(url, n, "%s/view?filename=%s&subfolder=%s&type=%s",
					 bc->cfg->base_url, efn, esub, etype);
				return 1;
			}
		}
	}
	return 0;
}

static void history_answer(const struct backend *bc, struct json_object *entry,
			   struct remote_answer *ans)
{
	struct json_object *status, *v, *outputs;
	const char *st = json_object_object_get_ex(entry, "status", &status) &&
					 json_object_object_get_ex(status, "status_str", &v) &&
					 json_object_is_type(v, json_type_string)
				 ? json_object_get_string(v)
				 : "";
	ans->verdict = RV_OK;
	if (strcmp(st, "error") == 0) {
		ans->state = RS_FAILED;
		snprintf(ans->code, sizeof(ans->code), "generation_failed");
		const char *why = "the workflow failed";
		struct json_object *msgs;
		if (json_object_object_get_ex(status, "messages", &msgs) &&
		    json_object_is_type(msgs, json_type_array)) {
			for (size_t i = 0; i < json_object_array_length(msgs); i++) {
				struct json_object *m = json_object_array_get_idx(msgs, i);
				struct json_object *name = remote_idx(m, 0);
				struct json_object *data = remote_idx(m, 1), *e;
				if (name && json_object_is_type(name, json_type_string) &&
				    strcmp(json_object_get_string(name), "execution_error") == 0 &&
				    json_object_object_get_ex(data, "exception_message", &e) &&
				    json_object_is_type(e, json_type_string))
					why = json_object_get_string(e);
			}
		}
		snprintf(ans->message, sizeof(ans->message),
			 "ComfyUI could not make the video: %.400s", why);
		return;
	}
	if (!json_object_object_get_ex(entry, "outputs", &outputs) ||
	    !find_video(bc, outputs, ans->video_url, sizeof(ans->video_url))) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "generation_failed");
		snprintf(
			ans->message, sizeof(ans->message),
			"The ComfyUI workflow finished without a video output (SaveVideo or VHS_VideoCombine).");
		return;
	}
	ans->state = RS_SUCCEEDED;
}

/* error_detail reads what a refusal says: error.message, then the first
 * node error of a workflow that failed validation (node_errors). */
static void error_detail(struct json_object *o, char *detail, size_t n)
{
	struct json_object *err = NULL, *m = NULL, *ne = NULL;
	detail[0] = '\0';
	if (o)
		json_object_object_get_ex(o, "error", &err);
	if (err)
		json_object_object_get_ex(err, "message", &m);
	snprintf(detail, n, "%s",
		 m && json_object_is_type(m, json_type_string) ? json_object_get_string(m) : "");
	if (o == NULL || !json_object_object_get_ex(o, "node_errors", &ne) ||
	    !json_object_is_type(ne, json_type_object))
		return;
	json_object_object_foreach(ne, node, info) {
		struct json_object *errs, *first, *msg, *det;
		if (json_object_object_get_ex(info, "errors", &errs) &&
		    (first = remote_idx(errs, 0)) != NULL &&
		    json_object_object_get_ex(first, "message", &msg) &&
		    json_object_is_type(msg, json_type_string)) {
			const char *d = json_object_object_get_ex(first, "details", &det) &&
							json_object_is_type(det, json_type_string)
						? json_object_get_string(det)
						: "";
			size_t used = strlen(detail);
			snprintf(detail + used, n - used, "; node %s: %s%s%s", node,
				 json_object_get_string(msg), d && d[0] ? ": " : "", d ? d : "");
			return;
		}
	}
}

/* upload_answer keeps the name ComfyUI gave the image (with its subfolder). */
static void upload_answer(struct json_object *o, struct remote_answer *ans)
{
	struct json_object *v;
	const char *name =
		json_object_object_get_ex(o, "name", &v) && json_object_is_type(v, json_type_string)
			? json_object_get_string(v)
			: NULL;
	const char *sub = json_object_object_get_ex(o, "subfolder", &v) &&
					  json_object_is_type(v, json_type_string)
				  ? json_object_get_string(v)
				  : "";
	if (name == NULL || name[0] == '\0') {
		ans->verdict = RV_RETRY; /* an upload that names no file */
		return;
	}
	char value[sizeof(ans->keep[0].value)];
	if (sub && sub[0])
		snprintf(value, sizeof(value), "%s/%s", sub, name);
	else
		snprintf(value, sizeof(value), "%s", name);
	ans->verdict = answer_keep(ans, "image_name", value) == 0 ? RV_OK : RV_RETRY;
}

static void submit_answer(struct json_object *o, struct remote_answer *ans)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, "prompt_id", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    json_object_get_string(v)[0] == '\0') { /* none, or "" or "\u0000..." */
		ans->verdict = RV_RETRY;
		ans->maybe_created = 1;
		return;
	}
	ans->verdict = RV_OK;
	ans->state = RS_QUEUED;
	snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", json_object_get_string(v));
}

/* queue_answer reads /queue: running, pending, or (reconciling) unknown. */
static void queue_answer(struct json_object *o, enum remote_phase ph, const char *pid,
			 struct remote_answer *ans)
{
	ans->verdict = RV_OK;
	snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", pid);
	if (in_queue(o, "queue_running", pid))
		ans->state = RS_RUNNING;
	else if (in_queue(o, "queue_pending", pid))
		ans->state = RS_QUEUED;
	else if (ph == PHASE_RECONCILE2)
		ans->state = RS_NOT_FOUND;
	else
		ans->state = RS_UNKNOWN; /* finished between the two looks: poll again */
}

static void comfy_parse(struct backend *bc, struct json_object *rec, enum remote_phase ph,
			long status, const char *body, size_t len, struct remote_answer *ans)
{
	struct json_object *o = remote_parse_object(body, len), *entry;
	const char *pid = remote_get(rec, "upstream_id");
	if (pid == NULL)
		pid = json_object_get_string(json_object_object_get(rec, "id"));
	ans->progress = -1;
	if (status < 200 || status > 299) {
		char detail[400];
		error_detail(o, detail, sizeof(detail));
		remote_http_error(ans, "ComfyUI", status, detail);
		if (ph == PHASE_SUBMIT && status == 0)
			ans->maybe_created = 1;
	} else if (o == NULL) {
		ans->verdict = RV_RETRY;
		ans->maybe_created = ph == PHASE_SUBMIT;
	} else if (ph == PHASE_UPLOAD) {
		upload_answer(o, ans);
	} else if (ph == PHASE_SUBMIT) {
		submit_answer(o, ans);
	} else if ((ph == PHASE_RECONCILE || ph == PHASE_POLL) &&
		   json_object_object_get_ex(o, pid, &entry)) {
		snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", pid);
		history_answer(bc, entry, ans);
	} else if (ph == PHASE_RECONCILE || ph == PHASE_POLL) {
		/* Not finished (or unknown): /queue says which. */
		ans->verdict = RV_OK;
		ans->state = RS_UNKNOWN;
		ans->next = ph == PHASE_POLL ? PHASE_POLL2 : PHASE_RECONCILE2;
	} else if (ph == PHASE_RECONCILE2 || ph == PHASE_POLL2) {
		queue_answer(o, ph, pid, ans);
	} else {
		ans->verdict = RV_RETRY;
	}
	json_object_put(o);
}

static int mapped(const struct backend_cfg *b, const char *name)
{
	struct json_object *inputs;
	return json_object_object_get_ex(b->raw, "inputs", &inputs) &&
	       json_object_object_get_ex(inputs, name, NULL);
}

/* What the workflow's input map has no place for cannot be honoured. */
static void comfy_unsupported(const struct backend_cfg *b, const struct model_backend *mb,
			      const struct video_spec *s, const char **out)
{
	size_t n = 0;
	(void)mb;
	if (s->has_seed && !mapped(b, "seed"))
		out[n++] = "seed";
	if (s->size_given && (!mapped(b, "width") || !mapped(b, "height")))
		out[n++] = "size";
	if (s->seconds_given && !mapped(b, "frames") && !mapped(b, "seconds"))
		out[n++] = "seconds";
	if (s->fps_given && !mapped(b, "fps") && !mapped(b, "frames"))
		out[n++] = "fps";
	if (s->image != IMAGE_NONE && !mapped(b, "image"))
		out[n++] = s->image_param ? s->image_param : "input_reference";
	out[n] = NULL;
}

const struct backend_type backend_comfyui = {
	.name = "comfyui",
	.kind = BACKEND_HTTP,
	.caps = BCAP_IMAGE_FILE | BCAP_UPLOAD | BCAP_RECONCILE,
	.keys = comfy_keys,
	.record_keys = comfy_record_keys,
	.state_size = sizeof(struct comfy_state),
	.check = comfy_check,
	.init = comfy_init,
	.deinit = comfy_deinit,
	.unsupported = comfy_unsupported,
	.build = comfy_build,
	.parse = comfy_parse,
};
