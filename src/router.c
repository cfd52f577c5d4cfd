/*
 * router: the URL space of /v1.
 */
#include "router.h"

#include <stdio.h>
#include <string.h>

enum shape {
	SHAPE_NONE,
	SHAPE_VIDEOS,
	SHAPE_VIDEO,
	SHAPE_CONTENT,
	SHAPE_REMIX,
	SHAPE_MODELS,
	SHAPE_MODEL,
	SHAPE_FILES,
	SHAPE_FILE,
	SHAPE_FILE_CONTENT,
	SHAPE_EDITS,
	SHAPE_EXTENSIONS,
	SHAPE_CHARACTERS,
	SHAPE_CHARACTER,
	SHAPE_USAGE_VIDEOS
};

/* seg_eq: does the segment [s, s+n) equal lit? */
static int seg_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static enum shape parse_shape(const char *p, struct route_match *m)
{
	const char *seg[4];
	size_t len[4];
	size_t count = 0;
	while (*p == '/') {
		p++;
		if (*p == '\0')
			break; /* one trailing slash is tolerated */
		if (count == 4)
			return SHAPE_NONE;
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == 0)
			return SHAPE_NONE;
		seg[count] = p;
		len[count] = n;
		count++;
		p += n;
	}
	if (*p != '\0' || count == 0)
		return SHAPE_NONE;
	if (seg_eq(seg[0], len[0], "models")) {
		if (count == 1)
			return SHAPE_MODELS;
		if (count == 2 && len[1] < sizeof(m->id)) {
			memcpy(m->id, seg[1], len[1]);
			m->id[len[1]] = '\0';
			return SHAPE_MODEL;
		}
		return SHAPE_NONE;
	}
	if (seg_eq(seg[0], len[0], "usage"))
		return count == 2 && seg_eq(seg[1], len[1], "videos") ? SHAPE_USAGE_VIDEOS
								      : SHAPE_NONE;
	if (seg_eq(seg[0], len[0], "files")) {
		if (count == 1)
			return SHAPE_FILES;
		m->id_valid = id_file_valid(seg[1], len[1]);
		if (m->id_valid) {
			memcpy(m->id, seg[1], len[1]);
			m->id[len[1]] = '\0';
		}
		if (count == 2)
			return SHAPE_FILE;
		if (count == 3 && seg_eq(seg[2], len[2], "content"))
			return SHAPE_FILE_CONTENT;
		return SHAPE_NONE;
	}
	if (!seg_eq(seg[0], len[0], "videos"))
		return SHAPE_NONE;
	if (count == 1)
		return SHAPE_VIDEOS;
	/* Operations named where a video id would stand: never read as ids. */
	if (seg_eq(seg[1], len[1], "edits"))
		return count == 2 ? SHAPE_EDITS : SHAPE_NONE;
	if (seg_eq(seg[1], len[1], "extensions"))
		return count == 2 ? SHAPE_EXTENSIONS : SHAPE_NONE;
	if (seg_eq(seg[1], len[1], "characters")) {
		if (count == 2)
			return SHAPE_CHARACTERS;
		if (count != 3)
			return SHAPE_NONE;
		m->id_valid = id_character_valid(seg[2], len[2]);
		if (m->id_valid) {
			memcpy(m->id, seg[2], len[2]);
			m->id[len[2]] = '\0';
		}
		return SHAPE_CHARACTER;
	}
	m->id_valid = id_video_valid(seg[1], len[1]);
	if (m->id_valid) {
		memcpy(m->id, seg[1], len[1]);
		m->id[len[1]] = '\0';
	}
	if (count == 2)
		return SHAPE_VIDEO;
	if (count == 3 && seg_eq(seg[2], len[2], "content"))
		return SHAPE_CONTENT;
	if (count == 3 && seg_eq(seg[2], len[2], "remix"))
		return SHAPE_REMIX;
	return SHAPE_NONE;
}

static int not_allowed(struct api_error *e, const char **allow, const char *methods,
		       const char *method, const char *what)
{
	*allow = methods;
	/* the method is the client's bytes: quote it as printable ASCII */
	char shown[17];
	size_t i = 0;
	for (; i < sizeof(shown) - 1 && method[i]; i++)
		shown[i] = method[i] > ' ' && method[i] < 127 ? method[i] : '?';
	shown[i] = '\0';
	api_error_set(e, 405, "method_not_allowed", NULL, "Method %s is not allowed on %s; use %s.",
		      shown, what, methods);
	return -1;
}

int router_match(const char *method, const char *path, struct route_match *m, struct api_error *e,
		 const char **allow)
{
	memset(m, 0, sizeof(*m));
	*allow = NULL;
	/* The API lives under /v1, possibly below a mount point. */
	const char *v1 = strstr(path, "/v1/");
	if (v1 == NULL && strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/v1") == 0)
		v1 = path + strlen(path) - 3;
	enum shape shape = SHAPE_NONE;
	if (v1 != NULL && (size_t)(v1 - path) < sizeof(m->prefix)) {
		memcpy(m->prefix, path, (size_t)(v1 - path));
		m->prefix[v1 - path] = '\0';
		shape = parse_shape(v1 + 3, m);
	}
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	if (strcmp(path, "/metrics") == 0) { /* Prometheus's default path, outside /v1 */
		m->route = get ? ROUTE_METRICS : ROUTE_NONE;
		return get ? 0 : not_allowed(e, allow, "GET", method, "/metrics");
	}
	int post = strcmp(method, "POST") == 0;
	int del = strcmp(method, "DELETE") == 0;
	switch (shape) {
	case SHAPE_VIDEOS:
		m->route = get ? ROUTE_VIDEOS_LIST : post ? ROUTE_VIDEOS_CREATE : ROUTE_NONE;
		if (m->route == ROUTE_NONE)
			return not_allowed(e, allow, "GET, POST", method, "/v1/videos");
		return 0;
	case SHAPE_VIDEO:
		m->route = get ? ROUTE_VIDEO_GET : del ? ROUTE_VIDEO_DELETE : ROUTE_NONE;
		if (m->route == ROUTE_NONE)
			return not_allowed(e, allow, "GET, DELETE", method,
					   "/v1/videos/{video_id}");
		return 0;
	case SHAPE_CONTENT:
		m->route = get ? ROUTE_VIDEO_CONTENT : ROUTE_NONE;
		if (m->route == ROUTE_NONE)
			return not_allowed(e, allow, "GET", method,
					   "/v1/videos/{video_id}/content");
		return 0;
	case SHAPE_REMIX:
		m->route = post ? ROUTE_VIDEO_REMIX : ROUTE_NONE;
		if (m->route == ROUTE_NONE)
			return not_allowed(e, allow, "POST", method, "/v1/videos/{video_id}/remix");
		return 0;
	case SHAPE_MODELS:
		m->route = get ? ROUTE_MODELS_LIST : ROUTE_NONE;
		if (m->route == ROUTE_NONE)
			return not_allowed(e, allow, "GET", method, "/v1/models");
		return 0;
	case SHAPE_MODEL:
		m->route = get ? ROUTE_MODEL_GET : ROUTE_NONE;
		if (m->route == ROUTE_NONE)
			return not_allowed(e, allow, "GET", method, "/v1/models/{model}");
		return 0;
	case SHAPE_FILES:
		m->route = get ? ROUTE_FILES_LIST : post ? ROUTE_FILES_CREATE : ROUTE_NONE;
		if (m->route == ROUTE_NONE)
			return not_allowed(e, allow, "GET, POST", method, "/v1/files");
		return 0;
	case SHAPE_FILE:
		m->route = get ? ROUTE_FILE_GET : del ? ROUTE_FILE_DELETE : ROUTE_NONE;
		if (m->route == ROUTE_NONE)
			return not_allowed(e, allow, "GET, DELETE", method, "/v1/files/{file_id}");
		return 0;
	case SHAPE_FILE_CONTENT:
		m->route = get ? ROUTE_FILE_CONTENT : ROUTE_NONE;
		if (m->route == ROUTE_NONE)
			return not_allowed(e, allow, "GET", method, "/v1/files/{file_id}/content");
		return 0;
	case SHAPE_EDITS:
		m->route = post ? ROUTE_VIDEO_EDIT : ROUTE_NONE;
		if (m->route == ROUTE_NONE)
			return not_allowed(e, allow, "POST", method, "/v1/videos/edits");
		return 0;
	case SHAPE_EXTENSIONS:
		m->route = post ? ROUTE_VIDEO_EXTEND : ROUTE_NONE;
		if (m->route == ROUTE_NONE)
			return not_allowed(e, allow, "POST", method, "/v1/videos/extensions");
		return 0;
	case SHAPE_CHARACTERS:
		m->route = post ? ROUTE_CHARACTER_CREATE : ROUTE_NONE;
		if (m->route == ROUTE_NONE)
			return not_allowed(e, allow, "POST", method, "/v1/videos/characters");
		return 0;
	case SHAPE_CHARACTER:
		m->route = get ? ROUTE_CHARACTER_GET : ROUTE_NONE;
		if (m->route == ROUTE_NONE)
			return not_allowed(e, allow, "GET", method,
					   "/v1/videos/characters/{character_id}");
		return 0;
	case SHAPE_USAGE_VIDEOS:
		m->route = get ? ROUTE_USAGE_VIDEOS : ROUTE_NONE;
		if (m->route == ROUTE_NONE)
			return not_allowed(e, allow, "GET", method, "/v1/usage/videos");
		return 0;
	case SHAPE_NONE: break;
	}
	api_error_set(
		e, 404, "not_found", NULL,
		"Unknown path. The API serves /v1/videos, /v1/videos/{video_id}, /v1/videos/{video_id}/content, /v1/videos/{video_id}/remix, /v1/videos/edits, /v1/videos/extensions, /v1/videos/characters, /v1/videos/characters/{character_id}, /v1/files, /v1/files/{file_id}, /v1/files/{file_id}/content, /v1/models and /v1/usage/videos.");
	return -1;
}
