/*
 * backend: the adapter registry, what every remote adapter shares (secrets,
 * the SSRF allow list, record helpers), and the list of request fields a
 * backend cannot honour.
 */
#include "backend.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"

extern const struct backend_ops backend_openai_ops;
extern const struct backend_ops backend_kling_ops;
extern const struct backend_ops backend_comfyui_ops;

const struct backend_ops *backend_ops_for(const char *type)
{
	if (type == NULL)
		return NULL;
	if (strcmp(type, "openai") == 0)
		return &backend_openai_ops;
	if (strcmp(type, "kling") == 0)
		return &backend_kling_ops;
	if (strcmp(type, "comfyui") == 0)
		return &backend_comfyui_ops;
	return NULL;
}

static const char *raw_str(const struct backend_cfg *b, const char *name)
{
	struct json_object *v;
	if (b->raw == NULL || !json_object_object_get_ex(b->raw, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static long raw_int(const struct backend_cfg *b, const char *name, long def)
{
	struct json_object *v;
	if (b->raw == NULL || !json_object_object_get_ex(b->raw, name, &v) ||
	    !json_object_is_type(v, json_type_int))
		return def;
	return (long)json_object_get_int64(v);
}

/* secret reads NAME from the config, or the variable named by NAME_env. */
static int secret(const struct backend_cfg *b, const char *name, char *out, size_t n)
{
	char envkey[64];
	const char *v = raw_str(b, name);
	snprintf(envkey, sizeof(envkey), "%s_env", name);
	const char *env = raw_str(b, envkey);
	if (v == NULL && env != NULL)
		v = getenv(env);
	if (v == NULL || v[0] == '\0' || strlen(v) >= n)
		return -1;
	snprintf(out, n, "%s", v);
	return 0;
}

static struct json_object *load_json_file(const char *path)
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
	return o;
}

int backend_ctx_init(struct backend_ctx *bc, const struct backend_cfg *cfg,
		     const char *data_dir, char *err, size_t errlen)
{
	memset(bc, 0, sizeof(*bc));
	bc->cfg = cfg;
	bc->data_dir = data_dir;
	bc->poll_ms = raw_int(cfg, "poll_seconds", 5) * 1000;
	bc->max_retries = (int)raw_int(cfg, "max_retries", 6);
	struct json_object *allow;
	if (cfg->raw && json_object_object_get_ex(cfg->raw, "allow_addresses", &allow)) {
		for (size_t i = 0; i < json_object_array_length(allow); i++)
			if (ssrf_policy_add(&bc->policy,
					    json_object_get_string(json_object_array_get_idx(allow, i))) < 0) {
				snprintf(err, errlen, "backend %s: bad allow_addresses entry", cfg->name);
				return -1;
			}
	}
	if (strcmp(cfg->type, "openai") == 0) {
		if (secret(cfg, "api_key", bc->api_key, sizeof(bc->api_key)) < 0) {
			snprintf(err, errlen, "backend %s: no api_key (set api_key or the variable named by api_key_env)",
				 cfg->name);
			return -1;
		}
	} else if (strcmp(cfg->type, "kling") == 0) {
		if (secret(cfg, "access_key", bc->api_key, sizeof(bc->api_key)) < 0 ||
		    secret(cfg, "secret_key", bc->secret, sizeof(bc->secret)) < 0) {
			snprintf(err, errlen, "backend %s: access_key and secret_key are needed (in the config or through access_key_env / secret_key_env)",
				 cfg->name);
			return -1;
		}
	} else if (strcmp(cfg->type, "comfyui") == 0) {
		const char *wf = raw_str(cfg, "workflow_path");
		bc->workflow = wf ? load_json_file(wf) : NULL;
		if (bc->workflow == NULL || !json_object_is_type(bc->workflow, json_type_object)) {
			snprintf(err, errlen, "backend %s: cannot read the workflow %s as a JSON object",
				 cfg->name, wf ? wf : "(none)");
			return -1;
		}
	}
	return 0;
}

void backend_ctx_deinit(struct backend_ctx *bc)
{
	json_object_put(bc->workflow);
	memset(bc->api_key, 0, sizeof(bc->api_key));
	memset(bc->secret, 0, sizeof(bc->secret));
	bc->workflow = NULL;
}

void backend_ignored(const struct config *cfg, const struct model_cfg *m,
		     const struct video_spec *s, const char **out)
{
	out[0] = NULL;
	if (m->nbackends == 0)
		return;
	const struct backend_cfg *b = config_backend(cfg, m->backends[0].backend);
	const struct backend_ops *ops = b ? backend_ops_for(b->type) : NULL;
	if (ops && ops->unsupported)
		ops->unsupported(b, &m->backends[0], s, out);
}

/* ---- record helpers ---------------------------------------------------------- */

struct json_object *remote_obj(struct json_object *rec)
{
	struct json_object *r;
	if (json_object_object_get_ex(rec, "remote", &r) && json_object_is_type(r, json_type_object))
		return r;
	r = json_object_new_object();
	json_object_object_add(rec, "remote", r);
	return r;
}

const char *remote_get(struct json_object *rec, const char *name)
{
	struct json_object *r, *v;
	if (!json_object_object_get_ex(rec, "remote", &r) || !json_object_object_get_ex(r, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

void remote_set(struct json_object *rec, const char *name, const char *value)
{
	struct json_object *r = remote_obj(rec);
	if (value)
		json_object_object_add(r, name, json_object_new_string(value));
	else
		json_object_object_del(r, name);
}

void backend_parse(const struct backend_ops *ops, struct backend_ctx *bc, struct json_object *rec,
		   enum remote_phase ph, long status, const char *body, size_t len,
		   struct remote_answer *ans)
{
	ops->parse(bc, rec, ph, status, body, len, ans);
	codec_utf8_scrub(ans->code);
	codec_utf8_scrub(ans->message);
}

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
		snprintf(ans->message, sizeof(ans->message),
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
	if (json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(o, json_type_object)) {
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
	if (a == NULL || !json_object_is_type(a, json_type_array) || i >= json_object_array_length(a))
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
	if (p == NULL || !json_object_object_get_ex(p, name, &v) || !json_object_is_type(v, json_type_int))
		return def;
	return (int)json_object_get_int64(v);
}

int remote_has_seed(struct json_object *rec, unsigned long *seed)
{
	struct json_object *v;
	struct json_object *p = params_of(rec);
	if (p == NULL || !json_object_object_get_ex(p, "seed", &v) || !json_object_is_type(v, json_type_int))
		return 0;
	*seed = (unsigned long)json_object_get_int64(v);
	return 1;
}

const char *remote_meta_str(struct json_object *rec, const char *name)
{
	struct json_object *m, *v;
	if (!json_object_object_get_ex(rec, "metadata", &m) || !json_object_object_get_ex(m, name, &v) ||
	    !json_object_is_type(v, json_type_string))
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

char *remote_image_b64(const char *data_dir, struct json_object *rec, size_t max)
{
	char path[4200];
	if (remote_image_path(data_dir, rec, path, sizeof(path)) == NULL)
		return NULL;
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
