/*
 * backend_util: what the backend modules share: their secrets (inline in
 * the config or named environment variables), files they load, the
 * record's `remote` object they annotate, the fields of a task they read,
 * and the verdict for an upstream's HTTP error.  Only modules use it.
 */
#include "backend_util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "record.h"

/* ---- secrets and files ------------------------------------------------------ */

int cc_secret(struct confcheck *c, struct json_object *o, const char *key, const char *name)
{
	char k2[320], envname[64];
	struct json_object *inl, *env;
	snprintf(envname, sizeof(envname), "%s_env", name);
	int has_inline = json_object_object_get_ex(o, name, &inl);
	int has_env = json_object_object_get_ex(o, envname, &env);
	snprintf(k2, sizeof(k2), "%s.%s", key, name);
	if (!has_inline && !has_env)
		return cc_fail(c, k2, "missing: give %s, or %s naming an environment variable",
			       name, envname);
	if ((has_inline && !json_object_is_type(inl, json_type_string)) ||
	    (has_env && !json_object_is_type(env, json_type_string)))
		return cc_fail(c, k2, "must be a string");
	return 0;
}

int backend_secret(const struct backend_cfg *b, const char *name, char *out, size_t n)
{
	char envname[64];
	const char *v = rec_str(b->raw, name);
	snprintf(envname, sizeof(envname), "%s_env", name);
	const char *env = rec_str(b->raw, envname);
	if (v == NULL && env != NULL)
		v = getenv(env);
	if (v == NULL || v[0] == '\0' || strlen(v) >= n)
		return -1;
	snprintf(out, n, "%s", v);
	return 0;
}

struct json_object *backend_load_json(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct buf b;
	buf_init(&b, 4 << 20);
	char chunk[8192];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(&b, chunk, (size_t)n) < 0)
			break;
	close(fd);
	struct json_object *o = b.data ? json_tokener_parse(b.data) : NULL;
	buf_deinit(&b);
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* ---- answers ---------------------------------------------------------------- */

int answer_keep(struct remote_answer *ans, const char *name, const char *value)
{
	if (ans->nkeep >= ANSWER_KEEPS || strlen(name) >= sizeof(ans->keep[0].name) ||
	    strlen(value) >= sizeof(ans->keep[0].value))
		return -1;
	snprintf(ans->keep[ans->nkeep].name, sizeof(ans->keep[0].name), "%s", name);
	snprintf(ans->keep[ans->nkeep].value, sizeof(ans->keep[0].value), "%s", value);
	ans->nkeep++;
	return 0;
}

int answer_usage(struct remote_answer *ans, const char *unit, struct json_object *v)
{
	double x;
	if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
		x = json_object_get_double(v);
	} else if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		char *end;
		errno = 0;
		x = strtod(s, &end);
		/* a plain decimal only: no hex, inf, nan, spaces or units */
		if (end == s || *end != '\0' || errno != 0 || strspn(s, "0123456789.") != strlen(s))
			return -1;
	} else {
		return -1;
	}
	if (!isfinite(x) || x < 0 || strlen(unit) >= sizeof(ans->usage_unit))
		return -1;
	snprintf(ans->usage_unit, sizeof(ans->usage_unit), "%s", unit);
	ans->usage_amount = x;
	return 0;
}

/* ---- record helpers ---------------------------------------------------------- */
/* ---- record helpers ---------------------------------------------------------- */

void remote_http_error(struct remote_answer *ans, const char *upstream, long status,
		       const char *detail)
{
	if (status == 0 || status == 408 || status == 409 || status == 425 || status == 429 ||
	    status >= 500) {
		ans->verdict = RV_RETRY;
		return;
	}
	ans->verdict = RV_FAIL;
	if (status == 401 || status == 403) {
		/* The upstream's words may quote part of the key: not repeated. */
		snprintf(ans->code, sizeof(ans->code), "upstream_auth_failed");
		snprintf(
			ans->message, sizeof(ans->message),
			"%s refused reelgate's credentials (HTTP %ld); the operator must check the backend's key.",
			upstream, status);
		return;
	}
	snprintf(ans->code, sizeof(ans->code), "upstream_rejected");
	snprintf(ans->message, sizeof(ans->message), "%s answered HTTP %ld%s%s", upstream, status,
		 detail && detail[0] ? ": " : ".", detail ? detail : "");
}

struct json_object *remote_parse_object(const char *body, size_t len)
{
	if (body == NULL || len == 0 || len > INT32_MAX)
		return NULL;
	struct json_tokener *tok = json_tokener_new_ex(32);
	if (tok == NULL)
		return NULL;
	struct json_object *o = json_tokener_parse_ex(tok, body, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

size_t remote_no_seed_fps(const struct video_spec *s, const char **out)
{
	size_t n = 0;
	if (s->has_seed)
		out[n++] = "seed";
	if (s->fps_given)
		out[n++] = "fps";
	return n;
}

struct json_object *remote_idx(struct json_object *a, size_t i)
{
	if (a == NULL || !json_object_is_type(a, json_type_array) ||
	    i >= json_object_array_length(a))
		return NULL;
	return json_object_array_get_idx(a, i);
}

static struct json_object *params_of(struct json_object *rec)
{
	struct json_object *p = NULL;
	json_object_object_get_ex(rec, "params", &p);
	return p;
}

static struct json_object *image_of(struct json_object *rec)
{
	struct json_object *img = NULL;
	json_object_object_get_ex(params_of(rec), "image", &img);
	return img;
}

int remote_param_int(struct json_object *rec, const char *name, int def)
{
	struct json_object *v;
	struct json_object *p = params_of(rec);
	if (p == NULL || !json_object_object_get_ex(p, name, &v) ||
	    !json_object_is_type(v, json_type_int))
		return def;
	return (int)json_object_get_int64(v);
}

int remote_has_seed(struct json_object *rec, unsigned long *seed)
{
	struct json_object *v;
	struct json_object *p = params_of(rec);
	if (p == NULL || !json_object_object_get_ex(p, "seed", &v) ||
	    !json_object_is_type(v, json_type_int))
		return 0;
	*seed = (unsigned long)json_object_get_int64(v);
	return 1;
}

const char *remote_meta_str(struct json_object *rec, const char *name)
{
	struct json_object *m, *v;
	if (!json_object_object_get_ex(rec, "metadata", &m) ||
	    !json_object_object_get_ex(m, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

const char *remote_image_url(struct json_object *rec)
{
	struct json_object *v;
	struct json_object *img = image_of(rec);
	if (img == NULL || !json_object_object_get_ex(img, "url", &v))
		return NULL;
	return json_object_get_string(v);
}

const char *remote_image_path(const char *data_dir, struct json_object *rec, char *out, size_t n)
{
	struct json_object *v;
	struct json_object *img = image_of(rec);
	if (img == NULL || !json_object_object_get_ex(img, "path", &v))
		return NULL;
	const char *rel = json_object_get_string(v);
	if (rel == NULL || strncmp(rel, "uploads/", 8) != 0 || strstr(rel, ".."))
		return NULL;
	snprintf(out, n, "%s/%s", data_dir, rel);
	return out;
}

/* file_b64 reads a file of at most max bytes as base64 (caller frees). */
static char *file_b64(const char *path, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size > max) {
		close(fd);
		return NULL;
	}
	uint8_t *raw = malloc((size_t)st.st_size + 1);
	char *out = malloc(((size_t)st.st_size + 2) / 3 * 4 + 1);
	ssize_t got = raw ? read(fd, raw, (size_t)st.st_size) : -1;
	close(fd);
	if (raw == NULL || out == NULL || got != st.st_size) {
		free(raw);
		free(out);
		return NULL;
	}
	codec_base64_encode(raw, (size_t)got, out);
	free(raw);
	return out;
}

char *remote_image_b64(const char *data_dir, struct json_object *rec, size_t max)
{
	char path[4200];
	if (remote_image_path(data_dir, rec, path, sizeof(path)) == NULL)
		return NULL;
	return file_b64(path, max);
}

char *remote_file_b64(const char *data_dir, const char *rel, size_t max)
{
	char path[4200];
	if (rel == NULL || strncmp(rel, "uploads/", 8) != 0 || strstr(rel, ".."))
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", data_dir, rel);
	return file_b64(path, max);
}

int remote_has_image(struct json_object *rec)
{
	return image_of(rec) != NULL;
}

int backend_need_secret(const struct backend_cfg *b, const char *name, char *out, size_t n,
			char *err, size_t errlen)
{
	if (backend_secret(b, name, out, n) == 0)
		return 0;
	snprintf(err, errlen, "backend %s: no %s (set %s or the variable named by %s_env)", b->name,
		 name, name, name);
	return -1;
}

enum cancel_status remote_cancel_status(long status, struct remote_answer *ans)
{
	if ((status >= 200 && status <= 299) || status == 404) {
		ans->verdict = RV_OK;
		if (status == 404)
			ans->state = RS_NOT_FOUND;
		return CANCEL_DECIDED;
	}
	if (status == 400 || status == 409 || status == 422) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_rejected");
		return CANCEL_REFUSED;
	}
	return CANCEL_OTHER;
}

char *remote_data_uri(const char *data_dir, const char *rel, const char *mime, size_t max)
{
	char *b64 = remote_file_b64(data_dir, rel, max);
	if (b64 == NULL)
		return NULL;
	size_t n = strlen("data:;base64,") + strlen(mime) + strlen(b64) + 1;
	char *out = malloc(n);
	if (out != NULL)
		snprintf(out, n, "data:%s;base64,%s", mime, b64);
	free(b64);
	return out;
}

void url_append_escaped(char *out, size_t n, const char *s)
{
	size_t at = strlen(out);
	for (; s && *s && at + 4 < n; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			out[at++] = (char)c;
		else
			at += (size_t)snprintf(out + at, n - at, "%%%02X", c);
	}
	out[at] = '\0';
}
