/*
 * video: records and the public video object.
 */
#include "video.h"

#include <stdio.h>
#include <string.h>

#include "id.h"
#include "record.h"

int video_owned_by(struct json_object *rec, const char *owner)
{
	const char *o = rec_str(rec, "owner");
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
	case IMAGE_NONE: json_object_put(img); return NULL;
	}
	json_object_object_add(img, "param", json_object_new_string(s->image_param));
	return img;
}

struct json_object *video_record_new(const struct video_spec *s, const char *id, const char *owner,
				     int64_t now_ms, char *const *ids, int n,
				     const char *image_file, const char *remixed_from)
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
			       s->metadata
				       ? json_tokener_parse(json_object_to_json_string(s->metadata))
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
	if (s->source != NULL)
		json_object_object_add(p, "source", json_object_get(s->source));
	if (s->segment_seconds > 0)
		json_object_object_add(p, "segment_seconds",
				       json_object_new_int(s->segment_seconds));
	if (s->callback_url != NULL)
		json_object_object_add(p, "callback_url", json_object_new_string(s->callback_url));
	if (s->references != NULL)
		json_object_object_add(p, "references", json_object_get(s->references));
	json_object_object_add(r, "params", p);
	if (s->op != NULL)
		json_object_object_add(r, "op", json_object_new_string(s->op));
	if (n > 1) {
		struct json_object *a = json_object_new_array();
		for (int i = 0; i < n; i++)
			json_object_array_add(a, json_object_new_string(ids[i]));
		json_object_object_add(r, "video_ids", a);
	}
	json_object_object_add(r, "due_at", json_object_new_int64(now_ms));
	json_object_object_add(
		r, "deadline_at",
		json_object_new_int64(now_ms + (int64_t)s->model->deadline_seconds * 1000));
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
		static const char *const mirrored[] = {
			"fps", "seed", "user", "n", "response_format", NULL
		};
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
	const char *status = rec_str(rec, "status");
	const char *id = rec_str(rec, "id");
	if (status && strcmp(status, "completed") == 0 && id && base_url) {
		char url[1024];
		snprintf(url, sizeof(url), "%s/v1/videos/%s/content", base_url, id);
		/* Always the last key (the cached form splits the text there). */
		json_object_object_del(out, "url");
		json_object_object_add(out, "url", json_object_new_string(url));
	}
	return out;
}

struct json_object *video_public(struct json_object *rec, const char *base_url)
{
	static const char *const fields[] = { "id",	      "object",	    "model",
					      "status",	      "progress",   "created_at",
					      "completed_at", "expires_at", "prompt",
					      "size",	      "seconds",    "remixed_from_video_id",
					      "error",	      NULL };
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
	const char *s = json_object_to_json_string_length(
		pub, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	int rc = s ? buf_append(out, s, len) : -1;
	json_object_put(pub);
	return rc;
}

/* ---- the cached public object ------------------------------------------------
 *
 * Layout: 'P', flags (CACHE_PENDING), owner length (1 byte), url_at
 * (4 bytes, big-endian), the owner, then the object's JSON text rendered
 * with an empty base URL.  url_at is where the base URL goes in that text,
 * just inside the quotes of metadata.url; 0 when there is no url (the text
 * starts with '{', so 0 is never a real position).
 */

#define CACHE_MAGIC 'P'
#define CACHE_HEAD 7
#define CACHE_PENDING 1

static int is_pending(const char *status)
{
	return status && (strcmp(status, "queued") == 0 || strcmp(status, "in_progress") == 0);
}

/* url_position finds where the base URL goes in text rendered with an
 * empty one: metadata.url is the last key of the last field, so the text
 * ends with "/v1/videos/ID/content"}}. */
static int url_position(const char *text, size_t len, const char *id, size_t *at)
{
	char tail[ID_MAX + 32];
	int n = snprintf(tail, sizeof(tail), "/v1/videos/%s/content\"}}", id);
	if (n < 0 || (size_t)n >= sizeof(tail) || (size_t)n + 1 > len ||
	    memcmp(text + len - (size_t)n, tail, (size_t)n) != 0 ||
	    text[len - (size_t)n - 1] != '"')
		return -1;
	*at = len - (size_t)n;
	return 0;
}

int video_cache_build(struct json_object *rec, struct buf *out)
{
	const char *owner = rec_str(rec, "owner");
	const char *id = rec_str(rec, "id");
	const char *status = rec_str(rec, "status");
	size_t olen = owner ? strlen(owner) : 0;
	if (owner == NULL || id == NULL || olen > 255 || strlen(id) >= ID_MAX)
		return -1;
	struct json_object *pub = video_public(rec, "");
	size_t len;
	const char *text = json_object_to_json_string_length(
		pub, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	size_t at = 0;
	int rc = text == NULL || len > UINT32_MAX ? -1 : 0;
	if (rc == 0 && status && strcmp(status, "completed") == 0)
		rc = url_position(text, len, id, &at);
	if (rc == 0) {
		uint8_t head[CACHE_HEAD] = {
			CACHE_MAGIC,	     is_pending(status) ? CACHE_PENDING : 0,
			(uint8_t)olen,	     (uint8_t)(at >> 24),
			(uint8_t)(at >> 16), (uint8_t)(at >> 8),
			(uint8_t)at
		};
		size_t start = out->len;
		rc = buf_append(out, head, sizeof(head)) < 0 || buf_append(out, owner, olen) < 0 ||
				     buf_append(out, text, len) < 0
			     ? -1
			     : 0;
		if (rc < 0)
			buf_truncate(out, start);
	}
	json_object_put(pub);
	return rc;
}

int video_cache_read(const void *data, size_t len, struct video_cached *c)
{
	const uint8_t *p = data;
	if (len < CACHE_HEAD || p[0] != CACHE_MAGIC || len - CACHE_HEAD < (size_t)p[2] + 2)
		return -1;
	size_t at = ((size_t)p[3] << 24) | ((size_t)p[4] << 16) | ((size_t)p[5] << 8) | p[6];
	c->pending = (p[1] & CACHE_PENDING) != 0;
	c->owner = (const char *)p + CACHE_HEAD;
	c->owner_len = p[2];
	c->json = c->owner + c->owner_len;
	c->json_len = len - CACHE_HEAD - c->owner_len;
	c->url_at = at;
	if (c->json[0] != '{' || at >= c->json_len)
		return -1;
	return 0;
}

int video_cache_owned_by(const struct video_cached *c, const char *owner)
{
	return strlen(owner) == c->owner_len && memcmp(c->owner, owner, c->owner_len) == 0;
}

int video_cache_json(const struct video_cached *c, const char *base_url, struct buf *out)
{
	size_t start = out->len;
	size_t head = c->url_at ? c->url_at : c->json_len;
	int rc = buf_append(out, c->json, head);
	if (rc == 0 && c->url_at) {
		rc = buf_json_escaped(out, base_url, strlen(base_url));
		if (rc == 0)
			rc = buf_append(out, c->json + head, c->json_len - head);
	}
	if (rc < 0)
		buf_truncate(out, start);
	return rc;
}

/* json_skip: the end of the JSON value (or member name) that starts at p,
 * or NULL when the text ends first.  The text is json-c's, so well formed:
 * only strings and nesting need reading. */
static const char *json_skip(const char *p, const char *end)
{
	int depth = 0;
	while (p < end) {
		char ch = *p++;
		if (ch == '"') {
			while (p < end && *p != '"')
				p += *p == '\\' ? 2 : 1;
			if (p >= end)
				return NULL;
			p++;
		} else if (ch == '{' || ch == '[') {
			depth++;
		} else if (ch == '}' || ch == ']') {
			depth--;
		}
		if (depth < 0)
			return NULL;
		if (depth == 0 && (p >= end || *p == ',' || *p == '}' || *p == ']' || *p == ':'))
			return p;
	}
	return NULL;
}

int video_cache_member(const struct video_cached *c, const char *key, const char **val, size_t *len)
{
	const char *p = c->json, *end = c->json + c->json_len;
	size_t klen = strlen(key);
	if (p >= end || *p++ != '{')
		return -1;
	while (p < end && *p == '"') {
		const char *name = p, *name_end = json_skip(p, end);
		if (name_end == NULL || name_end >= end || *name_end != ':')
			return -1;
		const char *v = name_end + 1, *v_end = json_skip(v, end);
		if (v_end == NULL)
			return -1;
		if ((size_t)(name_end - name) == klen + 2 && memcmp(name + 1, key, klen) == 0) {
			*val = v;
			*len = (size_t)(v_end - v);
			return 0;
		}
		p = v_end < end && *v_end == ',' ? v_end + 1 : end;
	}
	return -1;
}
