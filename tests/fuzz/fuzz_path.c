/*
 * fuzz_path: libFuzzer target for request routing (router_match in
 * router.c) and the video id check it relies on (id_video_valid in id.c).
 *
 * Input: the first byte picks the method, its value mod 7:
 *   0 GET  1 POST  2 DELETE  3 HEAD  4 PUT  5 PATCH
 *   6 junk: the method is the input up to the first space (at most 32
 *     bytes), the path what follows
 * and the rest is the path (REQUEST_URI before '?', undecoded; a NUL ends
 * it early).  Checked, besides memory safety:
 *   - 0 means a route, no Allow list, and a route the method may use;
 *   - -1 means 404 (no Allow) or 405 (an Allow list), ROUTE_NONE, an error
 *     code and a message;
 *   - the prefix is what the path holds before its /v1 and is shorter than
 *     the buffer; the id is NUL-terminated;
 *   - id_valid ids pass id_video_valid and appear in the path as the
 *     segment after /videos/ (character ids: id_character_valid, after
 *     /videos/characters/); an id that is not valid is left empty, and a
 *     route on one video with an invalid id is what api.c answers with 404;
 *   - file ids (/v1/files/{id}) pass id_file_valid and appear after
 *     /files/;
 *   - edits, extensions and characters are never read as video ids;
 *   - a slow reference router (split on '/', compare) agrees on the route,
 *     the id and the prefix.
 */
#include "fuzz.h"
#include "id.h"
#include "router.h"

static const char *const methods[] = { "GET", "POST", "DELETE", "HEAD", "PUT", "PATCH" };

static int is_get(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

/* ref_route is a second, slower router written from the URL space in
 * docs/api.md: returns the route (ROUTE_NONE for 404/405), and *shape_ok
 * says whether the path has a known shape (405 rather than 404). */
static enum route ref_route(const char *method, const char *path, char *prefix, char *id,
			    int *id_valid, int *shape_ok)
{
	*shape_ok = 0;
	*id_valid = 0;
	prefix[0] = id[0] = '\0';
	if (strcmp(path, "/metrics") == 0) { /* outside /v1: the Prometheus scrape */
		*shape_ok = 1;
		return is_get(method) ? ROUTE_METRICS : ROUTE_NONE;
	}
	const char *v1 = strstr(path, "/v1/");
	size_t plen = strlen(path);
	if (v1 == NULL && plen >= 3 && strcmp(path + plen - 3, "/v1") == 0)
		v1 = path + plen - 3;
	if (v1 == NULL || (size_t)(v1 - path) >= 256)
		return ROUTE_NONE;
	memcpy(prefix, path, (size_t)(v1 - path));
	prefix[v1 - path] = '\0';
	const char *rest = v1 + 3; /* "/..." or "" */
	/* split into segments; a trailing '/' is allowed once */
	char copy[4096];
	size_t rlen = strlen(rest);
	if (rlen == 0 || rlen >= sizeof(copy))
		return ROUTE_NONE;
	memcpy(copy, rest, rlen + 1);
	if (rlen >= 2 && copy[rlen - 1] == '/')
		copy[--rlen] = '\0';
	if (copy[0] != '/')
		return ROUTE_NONE;
	char *seg[8];
	size_t nseg = 0;
	char *p = copy + 1;
	for (;;) {
		char *slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (*p == '\0' || nseg == 4)
			return ROUTE_NONE; /* empty segment, or too many */
		seg[nseg++] = p;
		if (!slash)
			break;
		p = slash + 1;
	}
	int get = is_get(method), post = strcmp(method, "POST") == 0,
	    del = strcmp(method, "DELETE") == 0;
	if (strcmp(seg[0], "models") == 0) {
		if (nseg == 1) {
			*shape_ok = 1;
			return get ? ROUTE_MODELS_LIST : ROUTE_NONE;
		}
		if (nseg == 2 && strlen(seg[1]) < ID_MAX) {
			*shape_ok = 1;
			strcpy(id, seg[1]);
			return get ? ROUTE_MODEL_GET : ROUTE_NONE;
		}
		return ROUTE_NONE;
	}
	if (strcmp(seg[0], "usage") == 0) {
		if (nseg == 2 && strcmp(seg[1], "videos") == 0) {
			*shape_ok = 1;
			return get ? ROUTE_USAGE_VIDEOS : ROUTE_NONE;
		}
		return ROUTE_NONE;
	}
	if (strcmp(seg[0], "files") == 0) {
		if (nseg == 1) {
			*shape_ok = 1;
			return get ? ROUTE_FILES_LIST : post ? ROUTE_FILES_CREATE : ROUTE_NONE;
		}
		size_t flen = strlen(seg[1]);
		int fvalid = flen > 5 && flen <= 61 && strncmp(seg[1], "file-", 5) == 0;
		for (size_t i = 5; fvalid && i < flen; i++) {
			char c = seg[1][i];
			fvalid = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				 (c >= '0' && c <= '9');
		}
		*id_valid = fvalid;
		if (fvalid)
			strcpy(id, seg[1]);
		if (nseg == 2) {
			*shape_ok = 1;
			return get ? ROUTE_FILE_GET : del ? ROUTE_FILE_DELETE : ROUTE_NONE;
		}
		if (nseg == 3 && strcmp(seg[2], "content") == 0) {
			*shape_ok = 1;
			return get ? ROUTE_FILE_CONTENT : ROUTE_NONE;
		}
		return ROUTE_NONE;
	}
	if (strcmp(seg[0], "videos") != 0)
		return ROUTE_NONE;
	if (nseg == 1) {
		*shape_ok = 1;
		return get ? ROUTE_VIDEOS_LIST : post ? ROUTE_VIDEOS_CREATE : ROUTE_NONE;
	}
	if (strcmp(seg[1], "edits") == 0 || strcmp(seg[1], "extensions") == 0) {
		if (nseg != 2)
			return ROUTE_NONE;
		*shape_ok = 1;
		return !post		  ? ROUTE_NONE
		       : seg[1][1] == 'd' ? ROUTE_VIDEO_EDIT
					  : ROUTE_VIDEO_EXTEND;
	}
	if (strcmp(seg[1], "characters") == 0) {
		if (nseg > 3)
			return ROUTE_NONE;
		*shape_ok = 1;
		if (nseg == 2)
			return post ? ROUTE_CHARACTER_CREATE : ROUTE_NONE;
		size_t clen = strlen(seg[2]);
		int cvalid = clen > 5 && clen <= 61 && strncmp(seg[2], "char_", 5) == 0;
		for (size_t i = 5; cvalid && i < clen; i++) {
			char c = seg[2][i];
			cvalid = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				 (c >= '0' && c <= '9');
		}
		*id_valid = cvalid;
		if (cvalid)
			strcpy(id, seg[2]);
		return get ? ROUTE_CHARACTER_GET : ROUTE_NONE;
	}
	/* a video id: "video_" and 1..56 letters or digits */
	size_t idlen = strlen(seg[1]);
	int valid = idlen > 6 && idlen <= 62 && strncmp(seg[1], "video_", 6) == 0;
	for (size_t i = 6; valid && i < idlen; i++) {
		char c = seg[1][i];
		valid = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
	}
	*id_valid = valid;
	if (valid)
		strcpy(id, seg[1]);
	if (nseg == 2) {
		*shape_ok = 1;
		return get ? ROUTE_VIDEO_GET : del ? ROUTE_VIDEO_DELETE : ROUTE_NONE;
	}
	if (nseg == 3 && strcmp(seg[2], "content") == 0) {
		*shape_ok = 1;
		return get ? ROUTE_VIDEO_CONTENT : ROUTE_NONE;
	}
	if (nseg == 3 && strcmp(seg[2], "remix") == 0) {
		*shape_ok = 1;
		return post ? ROUTE_VIDEO_REMIX : ROUTE_NONE;
	}
	return ROUTE_NONE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	int pick = data[0] % 7;
	data++;
	size--;
	char method[33];
	if (pick < 6) {
		strcpy(method, methods[pick]);
	} else {
		size_t n = 0;
		while (n < size && n < 32 && data[n] != ' ')
			n++;
		memcpy(method, data, n);
		method[n] = '\0';
		if (n < size && data[n] == ' ')
			n++;
		data += n;
		size -= n;
	}
	char *path = fuzz_cstr(data, size);

	struct route_match m;
	struct api_error e;
	const char *allow = (const char *)1;
	memset(&e, 0, sizeof(e));
	int rc = router_match(method, path, &m, &e, &allow);

	CHECK(rc == 0 || rc == -1);
	CHECK(NUL_TERMINATED(m.id) && NUL_TERMINATED(m.prefix));
	CHECK(strncmp(path, m.prefix, strlen(m.prefix)) == 0);
	if (rc == 0) {
		CHECK(m.route != ROUTE_NONE);
		CHECK(allow == NULL);
		int get = is_get(method);
		switch (m.route) {
		case ROUTE_VIDEOS_LIST:
		case ROUTE_VIDEO_GET:
		case ROUTE_VIDEO_CONTENT:
		case ROUTE_MODELS_LIST:
		case ROUTE_MODEL_GET:
		case ROUTE_FILES_LIST:
		case ROUTE_FILE_GET:
		case ROUTE_FILE_CONTENT:
		case ROUTE_USAGE_VIDEOS:
		case ROUTE_CHARACTER_GET:
		case ROUTE_METRICS: CHECK(get); break;
		case ROUTE_FILES_CREATE:
		case ROUTE_VIDEOS_CREATE:
		case ROUTE_VIDEO_REMIX:
		case ROUTE_VIDEO_EDIT:
		case ROUTE_VIDEO_EXTEND:
		case ROUTE_CHARACTER_CREATE: CHECK(strcmp(method, "POST") == 0); break;
		case ROUTE_VIDEO_DELETE:
		case ROUTE_FILE_DELETE: CHECK(strcmp(method, "DELETE") == 0); break;
		default: CHECK(0);
		}
		switch (m.route) {
		case ROUTE_VIDEO_GET:
		case ROUTE_VIDEO_DELETE:
		case ROUTE_VIDEO_CONTENT:
		case ROUTE_VIDEO_REMIX:
			if (m.id_valid) {
				CHECK(id_video_valid(m.id, strlen(m.id)));
				char seg[ID_MAX + 16];
				snprintf(seg, sizeof(seg), "/videos/%s", m.id);
				CHECK(strstr(path, seg) != NULL);
			} else {
				CHECK(m.id[0] == '\0');
			}
			break;
		case ROUTE_MODEL_GET:
			CHECK(m.id[0] != '\0' && strchr(m.id, '/') == NULL);
			CHECK(!m.id_valid);
			break;
		case ROUTE_CHARACTER_GET:
			if (m.id_valid) {
				CHECK(id_character_valid(m.id, strlen(m.id)));
				char seg[ID_MAX + 32];
				snprintf(seg, sizeof(seg), "/videos/characters/%s", m.id);
				CHECK(strstr(path, seg) != NULL);
			} else {
				CHECK(m.id[0] == '\0');
			}
			break;
		case ROUTE_FILE_GET:
		case ROUTE_FILE_DELETE:
		case ROUTE_FILE_CONTENT:
			if (m.id_valid) {
				CHECK(id_file_valid(m.id, strlen(m.id)));
				char seg[ID_MAX + 16];
				snprintf(seg, sizeof(seg), "/files/%s", m.id);
				CHECK(strstr(path, seg) != NULL);
			} else {
				CHECK(m.id[0] == '\0');
			}
			break;
		default: CHECK(m.id[0] == '\0' && !m.id_valid);
		}
	} else {
		CHECK(m.route == ROUTE_NONE);
		CHECK(e.status == 404 || e.status == 405);
		CHECK((e.status == 405) == (allow != NULL));
		CHECK(e.code != NULL && e.message[0] != '\0');
		CHECK(NUL_TERMINATED(e.message) && NUL_TERMINATED(e.param));
		/* the method is quoted in a 405 message, cut to 16 bytes */
		SOFT_CHECK(utf8_ok(e.message));
	}
	if (m.id_valid)
		CHECK(id_video_valid(m.id, strlen(m.id)) ||
		      id_character_valid(m.id, strlen(m.id)) || id_file_valid(m.id, strlen(m.id)));

	char rprefix[256], rid[ID_MAX + 4096];
	int rvalid, shape_ok;
	enum route rr = ref_route(method, path, rprefix, rid, &rvalid, &shape_ok);
	if (strlen(path) < 4000) {
		CHECK(rr == m.route);
		if (rc == -1)
			CHECK((e.status == 405) == shape_ok);
		if (rc == 0 || shape_ok) {
			CHECK(strcmp(rprefix, m.prefix) == 0);
			CHECK(rvalid == m.id_valid);
			if (m.route == ROUTE_MODEL_GET || rvalid)
				CHECK(strcmp(rid, m.id) == 0);
		}
	}
	free(path);
	return 0;
}
