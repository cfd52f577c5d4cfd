/*
 * video: records and the public video object.
 */
#include "video.h"

#include <stdio.h>
#include <string.h>

const char *video_str(struct json_object *rec, const char *name)
{
	struct json_object *v;
	if (!json_object_object_get_ex(rec, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int64_t video_int(struct json_object *rec, const char *name)
{
	struct json_object *v;
	if (!json_object_object_get_ex(rec, name, &v) || !json_object_is_type(v, json_type_int))
		return 0;
	return json_object_get_int64(v);
}

int video_owned_by(struct json_object *rec, const char *owner)
{
	const char *o = video_str(rec, "owner");
	return o != NULL && strcmp(o, owner) == 0;
}

static struct json_object *image_json(const struct video_spec *s, const char *image_file)
{
	struct json_object *img = json_object_new_object();
	switch (s->image) {
	case IMAGE_URL:
		json_object_object_add(img, "kind", json_object_new_string("url"));
		json_object_object_add(img, "url", json_object_new_string(s->image_url));
		break;
	case IMAGE_FILE:
	case IMAGE_BYTES:
		json_object_object_add(img, "kind", json_object_new_string("file"));
		json_object_object_add(img, "path", json_object_new_string(image_file));
		json_object_object_add(img, "ext", json_object_new_string(s->image_ext));
		break;
	case IMAGE_NONE:
		json_object_put(img);
		return NULL;
	}
	json_object_object_add(img, "param", json_object_new_string(s->image_param));
	return img;
}

struct json_object *video_record_new(const struct video_spec *s, const char *id,
				     const char *owner, int64_t now_ms,
				     char *const *ids, int n,
				     const char *image_file,
				     const char *remixed_from)
{
	struct json_object *r = json_object_new_object();
	char size[32], secs[16];
	snprintf(size, sizeof(size), "%dx%d", s->width, s->height);
	snprintf(secs, sizeof(secs), "%d", s->seconds);
	json_object_object_add(r, "id", json_object_new_string(id));
	json_object_object_add(r, "object", json_object_new_string("video"));
	json_object_object_add(r, "owner", json_object_new_string(owner));
	json_object_object_add(r, "model", json_object_new_string(s->model->name));
	json_object_object_add(r, "status", json_object_new_string("queued"));
	json_object_object_add(r, "progress", json_object_new_int(0));
	json_object_object_add(r, "created_at", json_object_new_int64(now_ms / 1000));
	json_object_object_add(r, "completed_at", NULL);
	json_object_object_add(r, "expires_at", NULL);
	json_object_object_add(r, "prompt", json_object_new_string(s->prompt));
	json_object_object_add(r, "size", json_object_new_string(size));
	json_object_object_add(r, "seconds", json_object_new_string(secs));
	json_object_object_add(r, "remixed_from_video_id",
			       remixed_from ? json_object_new_string(remixed_from) : NULL);
	json_object_object_add(r, "error", NULL);
	json_object_object_add(r, "metadata",
			       s->metadata ? json_tokener_parse(json_object_to_json_string(s->metadata))
					   : json_object_new_object());

	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "width", json_object_new_int(s->width));
	json_object_object_add(p, "height", json_object_new_int(s->height));
	json_object_object_add(p, "seconds", json_object_new_int(s->seconds));
	json_object_object_add(p, "fps", json_object_new_int(s->fps));
	if (s->has_seed)
		json_object_object_add(p, "seed", json_object_new_int64(s->seed));
	json_object_object_add(p, "n", json_object_new_int(n));
	if (s->user)
		json_object_object_add(p, "user", json_object_new_string(s->user));
	json_object_object_add(p, "response_format", json_object_new_string("url"));
	struct json_object *img = image_json(s, image_file);
	if (img)
		json_object_object_add(p, "image", img);
	json_object_object_add(r, "params", p);
	if (n > 1) {
		struct json_object *a = json_object_new_array();
		for (int i = 0; i < n; i++)
			json_object_array_add(a, json_object_new_string(ids[i]));
		json_object_object_add(r, "video_ids", a);
	}
	json_object_object_add(r, "due_at", json_object_new_int64(now_ms));
	json_object_object_add(r, "attempts", json_object_new_int(0));
	return r;
}

/* copy_field adds rec's field name (or null) to out. */
static void copy_field(struct json_object *out, struct json_object *rec, const char *name)
{
	struct json_object *v = NULL;
	json_object_object_get_ex(rec, name, &v);
	json_object_object_add(out, name, json_object_get(v));
}

static struct json_object *public_metadata(struct json_object *rec, const char *base_url)
{
	struct json_object *meta = NULL, *params = NULL, *v;
	json_object_object_get_ex(rec, "metadata", &meta);
	json_object_object_get_ex(rec, "params", &params);
	struct json_object *out = json_object_new_object();
	if (meta && json_object_is_type(meta, json_type_object)) {
		json_object_object_foreach(meta, k, mv)
			json_object_object_add(out, k, json_object_get(mv));
	}
	if (params) {
		static const char *const mirrored[] = { "fps", "seed", "user", "n",
			"response_format", NULL };
		for (const char *const *m = mirrored; *m; m++)
			if (json_object_object_get_ex(params, *m, &v))
				json_object_object_add(out, *m, json_object_get(v));
		struct json_object *img;
		if (json_object_object_get_ex(params, "image", &img) &&
		    json_object_object_get_ex(img, "url", &v))
			json_object_object_add(out, "image_url", json_object_get(v));
	}
	if (json_object_object_get_ex(rec, "video_ids", &v))
		json_object_object_add(out, "video_ids", json_object_get(v));
	const char *status = video_str(rec, "status");
	const char *id = video_str(rec, "id");
	if (status && strcmp(status, "completed") == 0 && id && base_url) {
		char url[1024];
		snprintf(url, sizeof(url), "%s/v1/videos/%s/content", base_url, id);
		json_object_object_add(out, "url", json_object_new_string(url));
	}
	return out;
}

struct json_object *video_public(struct json_object *rec, const char *base_url)
{
	static const char *const fields[] = { "id", "object", "model", "status",
		"progress", "created_at", "completed_at", "expires_at", "prompt",
		"size", "seconds", "remixed_from_video_id", "error", NULL };
	struct json_object *out = json_object_new_object();
	for (const char *const *f = fields; *f; f++)
		copy_field(out, rec, *f);
	json_object_object_add(out, "metadata", public_metadata(rec, base_url));
	return out;
}

int video_json(struct json_object *rec, const char *base_url, struct buf *out)
{
	struct json_object *pub = video_public(rec, base_url);
	size_t len;
	const char *s = json_object_to_json_string_length(pub, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	int rc = s ? buf_append(out, s, len) : -1;
	json_object_put(pub);
	return rc;
}
