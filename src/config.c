/*
 * config: parsing and checking of the JSON configuration file.
 *
 * Each section has a reader that takes the section object and a key path for
 * messages; every reader refuses keys it does not know, so typos fail loudly.
 */
#include "config.h"
#include "backend.h"
#include "confcheck.h"
#include "ssrf.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef REELGATE_SYSCONFDIR
#define REELGATE_SYSCONFDIR "/etc"
#endif

#define CONFIG_MAX_BYTES (1 << 20)

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int parse_size_text(const char *s, int *w, int *h)
{
	char *end;
	errno = 0;
	long a = strtol(s, &end, 10);
	if (end == s || (*end != 'x' && *end != 'X') || errno)
		return -1;
	const char *p = end + 1;
	long b = strtol(p, &end, 10);
	if (end == p || *end != '\0' || errno)
		return -1;
	if (a < 16 || b < 16 || a > 7680 || b > 7680)
		return -1;
	*w = (int)a;
	*h = (int)b;
	return 0;
}

static int read_limits(struct confcheck *c, struct json_object *root, struct config *cfg)
{
	static const char *const keys[] = { "max_body_bytes",	"max_image_bytes",
					    "max_prompt_chars", "max_metadata_bytes",
					    "max_fields",	"max_n",
					    "max_output_bytes", NULL };
	struct json_object *o;
	if (cc_object(c, root, "limits", "limits", &o) < 0)
		return -1;
	if (o == NULL)
		return 0;
	if (cc_keys(c, o, "limits", keys, NULL) < 0)
		return -1;
	long long v;
	v = (long long)cfg->max_body_bytes;
	if (cc_int(c, o, "max_body_bytes", "limits.max_body_bytes", 1024, 1LL << 32, &v) < 0)
		return -1;
	cfg->max_body_bytes = (size_t)v;
	v = (long long)cfg->max_image_bytes;
	if (cc_int(c, o, "max_image_bytes", "limits.max_image_bytes", 1024, 1LL << 32, &v) < 0)
		return -1;
	cfg->max_image_bytes = (size_t)v;
	v = (long long)cfg->max_prompt_chars;
	if (cc_int(c, o, "max_prompt_chars", "limits.max_prompt_chars", 1, 1 << 20, &v) < 0)
		return -1;
	cfg->max_prompt_chars = (size_t)v;
	v = (long long)cfg->max_metadata_bytes;
	if (cc_int(c, o, "max_metadata_bytes", "limits.max_metadata_bytes", 2, 1 << 20, &v) < 0)
		return -1;
	cfg->max_metadata_bytes = (size_t)v;
	v = (long long)cfg->max_fields;
	if (cc_int(c, o, "max_fields", "limits.max_fields", 4, 10000, &v) < 0)
		return -1;
	cfg->max_fields = (size_t)v;
	v = cfg->max_n;
	if (cc_int(c, o, "max_n", "limits.max_n", 1, 64, &v) < 0)
		return -1;
	cfg->max_n = (int)v;
	v = (long long)cfg->max_output_bytes;
	if (cc_int(c, o, "max_output_bytes", "limits.max_output_bytes", 1024, 1LL << 40, &v) < 0)
		return -1;
	cfg->max_output_bytes = (size_t)v;
	return 0;
}

static int read_db(struct confcheck *c, struct json_object *root, struct config *cfg)
{
	static const char *const keys[] = { "map_mb", "max_map_mb", "durable", NULL };
	struct json_object *o;
	if (cc_object(c, root, "db", "db", &o) < 0)
		return -1;
	if (o == NULL)
		return 0;
	if (cc_keys(c, o, "db", keys, NULL) < 0)
		return -1;
	long long map = (long long)(cfg->map_bytes >> 20);
	long long max = (long long)(cfg->max_map_bytes >> 20);
	if (cc_int(c, o, "map_mb", "db.map_mb", 1, 1 << 24, &map) < 0 ||
	    cc_int(c, o, "max_map_mb", "db.max_map_mb", 1, 1 << 24, &max) < 0 ||
	    cc_bool(c, o, "durable", "db.durable", &cfg->durable) < 0)
		return -1;
	if (max < map)
		return cc_fail(c, "db.max_map_mb", "must be at least db.map_mb (%lld)", map);
	cfg->map_bytes = (size_t)map << 20;
	cfg->max_map_bytes = (size_t)max << 20;
	return 0;
}

static int read_allow(struct confcheck *c, struct json_object *o, const char *key,
		      struct ssrf_policy *p);

/* read_s3_secret reads content.s3's access_key or secret_key: inline, or
 * from the environment variable named by NAME_env (read now, at load). */
static int read_s3_secret(struct confcheck *c, struct json_object *o, const char *name, char **out)
{
	char key[64], env_name[64], env_key[80];
	snprintf(key, sizeof(key), "content.s3.%s", name);
	snprintf(env_name, sizeof(env_name), "%s_env", name);
	snprintf(env_key, sizeof(env_key), "content.s3.%s", env_name);
	char *env = NULL;
	if (cc_string(c, o, name, key, out) < 0 || cc_string(c, o, env_name, env_key, &env) < 0) {
		free(env);
		return -1;
	}
	if (*out != NULL && env != NULL) {
		free(env);
		return cc_fail(c, key, "give \"%s\" or \"%s\", not both", name, env_name);
	}
	if (env != NULL) {
		/* read now; unset here (a `reelgate keys` run without the
		 * server's environment) leaves the key out: the server that
		 * starts without it logs s3_unusable and uploads nothing */
		const char *v = getenv(env);
		*out = xstrdup(v && v[0] ? v : "");
		free(env);
		return 0;
	}
	if (*out == NULL)
		return cc_fail(c, key, "is required with content.store \"s3\" (or %s)", env_name);
	return 0;
}

/* read_s3: content.s3, the bucket results go to with store "s3". */
static int read_s3(struct confcheck *c, struct json_object *content, struct config *cfg)
{
	static const char *const keys[] = { "endpoint",
					    "region",
					    "bucket",
					    "prefix",
					    "access_key",
					    "secret_key",
					    "access_key_env",
					    "secret_key_env",
					    "path_style",
					    "presign_seconds",
					    "presign_reuse_seconds",
					    "part_bytes",
					    "delete_recheck_seconds",
					    "allow_addresses",
					    NULL };
	struct s3_config *s = &cfg->s3;
	struct json_object *o;
	if (cc_object(c, content, "s3", "content.s3", &o) < 0)
		return -1;
	if (o == NULL)
		return cc_fail(c, "content.s3", "is required with content.store \"s3\"");
	if (cc_keys(c, o, "content.s3", keys, NULL) < 0 ||
	    cc_string(c, o, "endpoint", "content.s3.endpoint", &s->endpoint) < 0 ||
	    cc_string(c, o, "region", "content.s3.region", &s->region) < 0 ||
	    cc_string(c, o, "bucket", "content.s3.bucket", &s->bucket) < 0)
		return -1;
	if (s->endpoint == NULL)
		return cc_fail(c, "content.s3.endpoint",
			       "is required (e.g. \"https://s3.eu-west-1.amazonaws.com\")");
	if (strncmp(s->endpoint, "http://", 7) != 0 && strncmp(s->endpoint, "https://", 8) != 0)
		return cc_fail(c, "content.s3.endpoint", "must start with http:// or https://");
	const char *host = strstr(s->endpoint, "://") + 3;
	if (*host == '\0' || *host == '/' || strpbrk(s->endpoint, "?#@ ") != NULL ||
	    strlen(s->endpoint) > 300)
		return cc_fail(
			c, "content.s3.endpoint",
			"must be scheme://host[:port][/path] (no user, query or fragment; at "
			"most 300 characters)");
	size_t el = strlen(s->endpoint);
	while (el > 0 && s->endpoint[el - 1] == '/')
		s->endpoint[--el] = '\0';
	if (s->region == NULL)
		s->region = xstrdup("us-east-1");
	for (const char *p = s->region; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return cc_fail(c, "content.s3.region",
				       "must be a region name such as \"us-east-1\"");
	if (s->bucket == NULL)
		return cc_fail(c, "content.s3.bucket", "is required");
	size_t bl = strlen(s->bucket);
	int bucket_ok = bl >= 3 && bl <= 63;
	for (const char *p = s->bucket; *p && bucket_ok; p++)
		bucket_ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
			    *p == '.';
	if (!bucket_ok)
		return cc_fail(c, "content.s3.bucket",
			       "must be 3 to 63 characters of a-z, 0-9, '-' and '.'");
	if (cc_string(c, o, "prefix", "content.s3.prefix", &s->prefix) < 0)
		return -1;
	if (s->prefix == NULL)
		s->prefix = xstrdup("");
	for (const char *p = s->prefix; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || strchr("-_./", *p)))
			return cc_fail(c, "content.s3.prefix",
				       "may hold only A-Z a-z 0-9 - _ . and /");
	if (strlen(s->prefix) > 200 || s->prefix[0] == '/' || strstr(s->prefix, "..") != NULL)
		return cc_fail(c, "content.s3.prefix",
			       "must be at most 200 characters, not start with / nor hold ..");
	if (read_s3_secret(c, o, "access_key", &s->access_key) < 0 ||
	    read_s3_secret(c, o, "secret_key", &s->secret_key) < 0)
		return -1;
	if (strlen(s->access_key) > 128 || strpbrk(s->access_key, "/ \t\r\n") != NULL)
		return cc_fail(c, "content.s3.access_key",
			       "must be at most 128 characters, without '/' or blanks");
	long long presign = s->presign_seconds, part = (long long)(s->part_bytes), reuse = -1;
	long long recheck = s->delete_recheck_seconds;
	if (cc_bool(c, o, "path_style", "content.s3.path_style", &s->path_style) < 0 ||
	    cc_int(c, o, "presign_seconds", "content.s3.presign_seconds", 1, S3_PRESIGN_MAX,
		   &presign) < 0 ||
	    cc_int(c, o, "presign_reuse_seconds", "content.s3.presign_reuse_seconds", 0, 3600,
		   &reuse) < 0 ||
	    cc_int(c, o, "part_bytes", "content.s3.part_bytes", 5LL << 20, 512LL << 20, &part) <
		    0 ||
	    cc_int(c, o, "delete_recheck_seconds", "content.s3.delete_recheck_seconds", 0, 86400,
		   &recheck) < 0)
		return -1;
	s->delete_recheck_seconds = (long)recheck;
	/* A link lives presign_seconds + presign_reuse_seconds at most, and S3
	 * takes a week at most: the default reuse (60) shortens to fit. */
	if (reuse < 0)
		reuse = presign + 60 <= S3_PRESIGN_MAX ? 60 : S3_PRESIGN_MAX - presign;
	else if (presign + reuse > S3_PRESIGN_MAX)
		return cc_fail(c, "content.s3.presign_reuse_seconds",
			       "plus presign_seconds must be at most 604800 (S3's week): lower "
			       "one of them");
	s->presign_seconds = (long)presign;
	s->presign_reuse_seconds = (long)reuse;
	s->part_bytes = (size_t)part;
	return read_allow(c, o, "content.s3", &s->policy);
}

static int read_content(struct confcheck *c, struct json_object *root, struct config *cfg)
{
	static const char *const keys[] = { "delivery", "accel_prefix", "retention_seconds",
					    "store",	"s3",		"proxy_prefix",
					    NULL };
	struct json_object *o;
	if (cc_object(c, root, "content", "content", &o) < 0)
		return -1;
	if (o == NULL)
		return 0;
	if (cc_keys(c, o, "content", keys, NULL) < 0)
		return -1;
	static const char *const stores[] = { "local", "s3", NULL };
	const char *store = "local";
	if (cc_choice(c, o, "store", "content.store", stores, "must be \"local\" or \"s3\"",
		      &store) < 0)
		return -1;
	cfg->store = strcmp(store, "s3") == 0 ? STORE_S3 : STORE_LOCAL;
	char *d = NULL;
	if (cc_string(c, o, "delivery", "content.delivery", &d) < 0)
		return -1;
	if (d != NULL && cfg->store == STORE_S3) {
		if (strcmp(d, "redirect") == 0)
			cfg->s3.delivery = S3_REDIRECT;
		else if (strcmp(d, "proxy") == 0)
			cfg->s3.delivery = S3_PROXY;
		else {
			free(d);
			return cc_fail(
				c, "content.delivery",
				"must be \"redirect\" or \"proxy\" with content.store \"s3\"");
		}
		free(d);
	} else if (d != NULL) {
		if (strcmp(d, "none") == 0)
			cfg->delivery = DELIVERY_NONE;
		else if (strcmp(d, "x-accel-redirect") == 0)
			cfg->delivery = DELIVERY_X_ACCEL;
		else if (strcmp(d, "x-sendfile") == 0)
			cfg->delivery = DELIVERY_X_SENDFILE;
		else {
			free(d);
			return cc_fail(c, "content.delivery",
				       "must be \"none\", \"x-accel-redirect\" or \"x-sendfile\"");
		}
		free(d);
	}
	if (cc_string(c, o, "accel_prefix", "content.accel_prefix", &cfg->accel_prefix) < 0 ||
	    cc_string(c, o, "proxy_prefix", "content.proxy_prefix", &cfg->s3.proxy_prefix) < 0)
		return -1;
	long long keep = cfg->retention_seconds;
	if (cc_int(c, o, "retention_seconds", "content.retention_seconds", 1, 10LL * 365 * 86400,
		   &keep) < 0)
		return -1;
	cfg->retention_seconds = (long)keep;
	if (cfg->accel_prefix[0] != '/')
		return cc_fail(c, "content.accel_prefix", "must start with /");
	if (cfg->s3.proxy_prefix[0] != '/' ||
	    cfg->s3.proxy_prefix[strlen(cfg->s3.proxy_prefix) - 1] != '/')
		return cc_fail(c, "content.proxy_prefix", "must start and end with /");
	if (cfg->store != STORE_S3) {
		if (json_object_object_get_ex(o, "s3", NULL))
			return cc_fail(c, "content.s3", "is read only with content.store \"s3\"");
		return 0;
	}
	return read_s3(c, o, cfg);
}

/* The keys every backend of a kind takes; a module adds its own. */
static const char *const local_keys[] = { "type", "concurrency", "timeout_seconds", NULL };
static const char *const http_keys[] = { "type",
					 "base_url",
					 "concurrency",
					 "poll_seconds",
					 "request_timeout_seconds",
					 "download_timeout_seconds",
					 "max_retries",
					 "allow_addresses",
					 "strict_params",
					 "resubmit_unknown",
					 NULL };

/* read_base_url: an http(s) URL, kept without its trailing slashes. */
static int read_base_url(struct confcheck *c, struct json_object *o, const char *key,
			 struct backend_cfg *b)
{
	char k2[320];
	snprintf(k2, sizeof(k2), "%s.base_url", key);
	if (cc_string(c, o, "base_url", k2, &b->base_url) < 0)
		return -1;
	const char *url = b->base_url;
	if (url == NULL || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return cc_fail(c, k2, "missing or not an http(s) URL");
	size_t len = strlen(b->base_url);
	while (len > 0 && b->base_url[len - 1] == '/')
		b->base_url[--len] = '\0';
	json_object_object_add(o, "base_url", json_object_new_string(b->base_url));
	return 0;
}

/* read_allow reads o's optional allow_addresses (addresses or networks the
 * SSRF guard lets through) into p; key is o's key path. */
static int read_allow(struct confcheck *c, struct json_object *o, const char *key,
		      struct ssrf_policy *p)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, "allow_addresses", &v))
		return 0;
	char k2[320];
	snprintf(k2, sizeof(k2), "%s.allow_addresses", key);
	if (!json_object_is_type(v, json_type_array))
		return cc_fail(
			c, k2,
			"must be a list of addresses or networks such as \"127.0.0.1\" or \"10.0.0.0/8\"");
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		if (!json_object_is_type(e, json_type_string) ||
		    ssrf_policy_add(p, json_object_get_string(e)) < 0)
			return cc_fail(
				c, k2,
				"element %zu is not an address or network (at most %d entries)", i,
				SSRF_MAX_ALLOW);
	}
	return 0;
}

/* read_image_urls: how the dispatcher downloads an input image given as a
 * URL for a backend that needs a file.  Its own allow list, not a
 * backend's: the URL is the caller's, so a private address allowed for a
 * backend (an upstream on 127.0.0.1) is not thereby open to every caller. */
static int read_image_urls(struct confcheck *c, struct json_object *root, struct config *cfg)
{
	static const char *const keys[] = { "allow_addresses", "timeout_seconds", NULL };
	struct json_object *o;
	if (cc_object(c, root, "image_urls", "image_urls", &o) < 0)
		return -1;
	if (o == NULL)
		return 0;
	if (cc_keys(c, o, "image_urls", keys, NULL) < 0)
		return -1;
	long long t = cfg->image_url_timeout_ms / 1000;
	if (cc_int(c, o, "timeout_seconds", "image_urls.timeout_seconds", 1, 600, &t) < 0)
		return -1;
	cfg->image_url_timeout_ms = (long)t * 1000;
	return read_allow(c, o, "image_urls", &cfg->image_url_policy);
}

/* read_webhooks: how the dispatcher delivers webhook events.  Its own
 * allow list: an endpoint's URL is a key holder's, so a private address
 * is reached only when the operator lists it here. */
static int read_webhooks(struct confcheck *c, struct json_object *root, struct config *cfg)
{
	static const char *const keys[] = { "allow_addresses", "timeout_seconds", "in_flight",
					    "per_endpoint", NULL };
	struct json_object *o;
	if (cc_object(c, root, "webhooks", "webhooks", &o) < 0)
		return -1;
	if (o == NULL)
		return 0;
	if (cc_keys(c, o, "webhooks", keys, NULL) < 0)
		return -1;
	long long t = cfg->webhook_timeout_ms / 1000, n = cfg->webhook_in_flight,
		  per = cfg->webhook_per_endpoint;
	if (cc_int(c, o, "timeout_seconds", "webhooks.timeout_seconds", 1, 120, &t) < 0 ||
	    cc_int(c, o, "in_flight", "webhooks.in_flight", 1, 256, &n) < 0 ||
	    cc_int(c, o, "per_endpoint", "webhooks.per_endpoint", 1, 64, &per) < 0)
		return -1;
	cfg->webhook_timeout_ms = (long)t * 1000;
	cfg->webhook_in_flight = (int)n;
	cfg->webhook_per_endpoint = (int)per;
	return read_allow(c, o, "webhooks", &cfg->webhook_policy);
}

/* read_metrics: GET /metrics.  The token is a secret: it is kept, never
 * logged or echoed; token_env names the environment variable that holds
 * it instead (read when a scrape comes, by metrics_http.c). */
static int read_metrics(struct confcheck *c, struct json_object *root, struct config *cfg)
{
	static const char *const keys[] = { "enabled", "token", "token_env", NULL };
	struct json_object *o;
	if (cc_object(c, root, "metrics", "metrics", &o) < 0)
		return -1;
	if (o == NULL)
		return 0;
	if (cc_keys(c, o, "metrics", keys, NULL) < 0 ||
	    cc_bool(c, o, "enabled", "metrics.enabled", &cfg->metrics_enabled) < 0 ||
	    cc_string(c, o, "token", "metrics.token", &cfg->metrics_token) < 0 ||
	    cc_string(c, o, "token_env", "metrics.token_env", &cfg->metrics_token_env) < 0)
		return -1;
	if (cfg->metrics_token != NULL && cfg->metrics_token_env != NULL)
		return cc_fail(c, "metrics", "give \"token\" or \"token_env\", not both");
	if (cfg->metrics_token != NULL && strlen(cfg->metrics_token) < 16)
		return cc_fail(
			c, "metrics.token",
			"must be at least 16 characters (a random string: it guards the metrics)");
	return 0;
}

/* read_http: the settings every HTTP backend has. */
static int read_http(struct confcheck *c, struct json_object *o, const char *key,
		     struct backend_cfg *b)
{
	if (read_base_url(c, o, key, b) < 0)
		return -1;
	static const char *const ints[] = { "poll_seconds", "request_timeout_seconds",
					    "download_timeout_seconds", "max_retries" };
	static const long long lo[] = { 1, 1, 1, 0 }, hi[] = { 3600, 3600, 86400, 100 };
	long long v[] = { 5, 60, 600, 6 };
	char k2[320];
	for (size_t i = 0; i < 4; i++) {
		snprintf(k2, sizeof(k2), "%s.%s", key, ints[i]);
		if (cc_int(c, o, ints[i], k2, lo[i], hi[i], &v[i]) < 0)
			return -1;
	}
	b->poll_ms = (long)v[0] * 1000;
	b->request_timeout_ms = (long)v[1] * 1000;
	b->download_timeout_ms = (long)v[2] * 1000;
	b->max_retries = (int)v[3];
	if (read_allow(c, o, key, &b->policy) < 0)
		return -1;
	snprintf(k2, sizeof(k2), "%s.resubmit_unknown", key);
	if (cc_bool(c, o, "resubmit_unknown", k2, &b->resubmit_unknown) < 0)
		return -1;
	snprintf(k2, sizeof(k2), "%s.strict_params", key);
	return cc_bool(c, o, "strict_params", k2, &b->strict_params);
}

/* read_local: the settings every local backend has. */
static int read_local(struct confcheck *c, struct json_object *o, const char *key,
		      struct backend_cfg *b)
{
	char k2[320];
	long long t = 0;
	snprintf(k2, sizeof(k2), "%s.timeout_seconds", key);
	if (cc_int(c, o, "timeout_seconds", k2, 0, 365LL * 86400, &t) < 0)
		return -1;
	b->timeout_ms = (long)t * 1000;
	return 0;
}

/* read_backend checks an entry of "backends": its type names a module
 * (backend.c's registry), it has only the keys of its kind and its module,
 * the common settings are read here and the module checks its own. */
static int read_backend(struct confcheck *c, const char *name, struct json_object *o,
			struct backend_cfg *b)
{
	char key[256], tkey[300], names[200];
	snprintf(key, sizeof(key), "backends.%s", name);
	b->name = strdup(name);
	b->raw = o;
	b->concurrency = 2;
	if (!json_object_is_type(o, json_type_object))
		return cc_fail(c, key, "must be an object");
	snprintf(tkey, sizeof(tkey), "%s.type", key);
	if (cc_string(c, o, "type", tkey, &b->type) < 0)
		return -1;
	backend_type_names(names, sizeof(names));
	if (b->type == NULL)
		return cc_fail(c, tkey, "missing (supported: %s)", names);
	b->module = backend_type_find(b->type);
	if (b->module == NULL)
		return cc_fail(c, tkey, "unknown backend type \"%s\" (supported: %s)", b->type,
			       names);
	int http = b->module->kind == BACKEND_HTTP;
	if (cc_keys(c, o, key, http ? http_keys : local_keys, b->module->keys) < 0)
		return -1;
	if ((http ? read_http(c, o, key, b) : read_local(c, o, key, b)) < 0)
		return -1;
	if (b->module->check && b->module->check(c, o, key) < 0)
		return -1;
	long long conc = b->concurrency;
	snprintf(tkey, sizeof(tkey), "%s.concurrency", key);
	if (cc_int(c, o, "concurrency", tkey, 1, 100000, &conc) < 0)
		return -1;
	b->concurrency = (int)conc;
	return 0;
}

static int read_backends(struct confcheck *c, struct json_object *root, struct config *cfg)
{
	struct json_object *o;
	if (cc_object(c, root, "backends", "backends", &o) < 0)
		return -1;
	if (o == NULL)
		return 0;
	/* Appended: the embedded defaults are read after the file's own
	 * backends when the file names no model. */
	size_t n = cfg->nbackends + (size_t)json_object_object_length(o);
	struct backend_cfg *grown = realloc(cfg->backends, (n ? n : 1) * sizeof(*cfg->backends));
	if (grown == NULL)
		return cc_fail(c, "backends", "out of memory");
	cfg->backends = grown;
	memset(cfg->backends + cfg->nbackends, 0, (n - cfg->nbackends) * sizeof(*cfg->backends));
	json_object_object_foreach(o, name, v) {
		if (read_backend(c, name, v, &cfg->backends[cfg->nbackends++]) < 0)
			return -1;
	}
	return 0;
}

static int read_seconds(struct confcheck *c, struct json_object *v, const char *key,
			struct model_cfg *m)
{
	if (json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);
		if (n == 0)
			return cc_fail(c, key, "must list at least one duration");
		m->seconds = calloc(n, sizeof(int));
		if (m->seconds == NULL)
			return cc_fail(c, key, "out of memory");
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			int64_t s = json_object_get_int64(e);
			if (!json_object_is_type(e, json_type_int) || s < 1 || s > 3600)
				return cc_fail(
					c, key,
					"element %zu must be a whole number of seconds 1..3600", i);
			m->seconds[m->nseconds++] = (int)s;
		}
		return 0;
	}
	if (json_object_is_type(v, json_type_object)) {
		static const char *const keys[] = { "min", "max", NULL };
		if (cc_keys(c, v, key, keys, NULL) < 0)
			return -1;
		long long lo = 1, hi = 20;
		char k2[300];
		snprintf(k2, sizeof(k2), "%s.min", key);
		if (cc_int(c, v, "min", k2, 1, 3600, &lo) < 0)
			return -1;
		snprintf(k2, sizeof(k2), "%s.max", key);
		if (cc_int(c, v, "max", k2, 1, 3600, &hi) < 0)
			return -1;
		if (hi < lo)
			return cc_fail(c, key, "max must be at least min");
		m->seconds_min = (int)lo;
		m->seconds_max = (int)hi;
		return 0;
	}
	return cc_fail(c, key, "must be a list of durations or {\"min\": a, \"max\": b}");
}

static int read_sizes(struct confcheck *c, struct json_object *v, const char *key,
		      struct model_cfg *m)
{
	if (json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);
		if (n == 0)
			return cc_fail(c, key, "must list at least one size");
		m->sizes = calloc(2 * n, sizeof(int));
		if (m->sizes == NULL)
			return cc_fail(c, key, "out of memory");
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			int w, h;
			if (!json_object_is_type(e, json_type_string) ||
			    parse_size_text(json_object_get_string(e), &w, &h) < 0)
				return cc_fail(
					c, key,
					"element %zu must be a \"WIDTHxHEIGHT\" string (16..7680)",
					i);
			m->sizes[2 * m->nsizes] = w;
			m->sizes[2 * m->nsizes + 1] = h;
			m->nsizes++;
		}
		return 0;
	}
	if (json_object_is_type(v, json_type_object)) {
		static const char *const keys[] = { "max_width", "max_height", NULL };
		if (cc_keys(c, v, key, keys, NULL) < 0)
			return -1;
		long long w = 1920, h = 1920;
		char k2[300];
		snprintf(k2, sizeof(k2), "%s.max_width", key);
		if (cc_int(c, v, "max_width", k2, 16, 7680, &w) < 0)
			return -1;
		snprintf(k2, sizeof(k2), "%s.max_height", key);
		if (cc_int(c, v, "max_height", k2, 16, 7680, &h) < 0)
			return -1;
		m->max_width = (int)w;
		m->max_height = (int)h;
		return 0;
	}
	return cc_fail(c, key,
		       "must be a list of \"WxH\" sizes or {\"max_width\": w, \"max_height\": h}");
}

int config_model_allows_seconds(const struct model_cfg *m, int s)
{
	if (m->nseconds == 0)
		return s >= m->seconds_min && s <= m->seconds_max;
	for (size_t i = 0; i < m->nseconds; i++)
		if (m->seconds[i] == s)
			return 1;
	return 0;
}

int config_model_allows_size(const struct model_cfg *m, int w, int h)
{
	if (m->nsizes == 0)
		return w >= 16 && h >= 16 && w <= m->max_width && h <= m->max_height &&
		       w % 2 == 0 && h % 2 == 0;
	for (size_t i = 0; i < m->nsizes; i++)
		if (m->sizes[2 * i] == w && m->sizes[2 * i + 1] == h)
			return 1;
	return 0;
}

static int read_model_backends(struct confcheck *c, struct json_object *v, const char *key,
			       struct model_cfg *m)
{
	if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0)
		return cc_fail(
			c, key,
			"must be a non-empty list of {\"backend\": NAME, \"model\": UPSTREAM_MODEL}");
	size_t n = json_object_array_length(v);
	m->backends = calloc(n, sizeof(*m->backends));
	if (m->backends == NULL)
		return cc_fail(c, key, "out of memory");
	for (size_t i = 0; i < n; i++) {
		static const char *const keys[] = { "backend", "model", NULL };
		struct json_object *e = json_object_array_get_idx(v, i);
		char k2[300];
		snprintf(k2, sizeof(k2), "%s[%zu]", key, i);
		if (!json_object_is_type(e, json_type_object))
			return cc_fail(
				c, k2,
				"must be an object {\"backend\": NAME, \"model\": UPSTREAM_MODEL}");
		if (cc_keys(c, e, k2, keys, NULL) < 0)
			return -1;
		struct model_backend *mb = &m->backends[m->nbackends++];
		char k3[320];
		snprintf(k3, sizeof(k3), "%s.backend", k2);
		if (cc_string(c, e, "backend", k3, &mb->backend) < 0)
			return -1;
		if (mb->backend == NULL)
			return cc_fail(c, k3,
				       "missing: name one of the entries under \"backends\"");
		snprintf(k3, sizeof(k3), "%s.model", k2);
		if (cc_string(c, e, "model", k3, &mb->model) < 0)
			return -1;
	}
	return 0;
}

/* read_model_defaults: the duration, size and fps a request gets when it
 * names none (each one the model allows), the fps ceiling, the deadline. */
static int read_model_defaults(struct confcheck *c, struct json_object *o, const char *key,
			       struct model_cfg *m)
{
	char k2[300];
	long long n;
	snprintf(k2, sizeof(k2), "%s.default_seconds", key);
	n = m->nseconds ? m->seconds[0] : m->default_seconds;
	if (cc_int(c, o, "default_seconds", k2, 1, 3600, &n) < 0)
		return -1;
	m->default_seconds = (int)n;
	if (!config_model_allows_seconds(m, m->default_seconds))
		return cc_fail(c, k2, "%d is not one of the model's allowed durations",
			       m->default_seconds);
	snprintf(k2, sizeof(k2), "%s.default_size", key);
	if (m->nsizes > 0) {
		m->default_width = m->sizes[0];
		m->default_height = m->sizes[1];
	}
	char *ds = NULL;
	if (cc_string(c, o, "default_size", k2, &ds) < 0)
		return -1;
	if (ds != NULL) {
		int bad = parse_size_text(ds, &m->default_width, &m->default_height);
		free(ds);
		if (bad)
			return cc_fail(c, k2, "must be a \"WIDTHxHEIGHT\" string");
	}
	if (!config_model_allows_size(m, m->default_width, m->default_height))
		return cc_fail(c, k2, "%dx%d is not one of the model's allowed sizes",
			       m->default_width, m->default_height);
	snprintf(k2, sizeof(k2), "%s.max_fps", key);
	n = m->max_fps;
	if (cc_int(c, o, "max_fps", k2, 1, 240, &n) < 0)
		return -1;
	m->max_fps = (int)n;
	snprintf(k2, sizeof(k2), "%s.default_fps", key);
	n = m->default_fps < m->max_fps ? m->default_fps : m->max_fps;
	if (cc_int(c, o, "default_fps", k2, 1, m->max_fps, &n) < 0)
		return -1;
	m->default_fps = (int)n;
	snprintf(k2, sizeof(k2), "%s.deadline_seconds", key);
	n = m->deadline_seconds;
	if (cc_int(c, o, "deadline_seconds", k2, 10, 7 * 86400, &n) < 0)
		return -1;
	m->deadline_seconds = (int)n;
	return 0;
}

static int read_amount(struct confcheck *c, struct json_object *v, const char *key, int64_t *micros)
{
	if (usage_money_parse(v, micros) < 0)
		return cc_fail(c, key,
			       "must be an amount of money: a number >= 0 with at most 6 decimals");
	return 0;
}

/* read_price: {"per_second": X, "per_second_by_tier": {"720p": X, ...}} or
 * {"per_video": X}, in the currency of usage.currency. */
static int read_price(struct confcheck *c, struct json_object *o, const char *key,
		      struct price_cfg *p)
{
	static const char *const keys[] = { "per_second", "per_second_by_tier", "per_video", NULL };
	char k2[400];
	struct json_object *v;
	if (!json_object_is_type(o, json_type_object))
		return cc_fail(c, key,
			       "must be an object: per_second, per_second_by_tier or per_video");
	if (cc_keys(c, o, key, keys, NULL) < 0)
		return -1;
	memset(p, 0, sizeof(*p));
	int by_second = json_object_object_get_ex(o, "per_second", NULL) ||
			json_object_object_get_ex(o, "per_second_by_tier", NULL);
	if (by_second && json_object_object_get_ex(o, "per_video", NULL))
		return cc_fail(c, key, "give per_video or per_second(_by_tier), not both");
	snprintf(k2, sizeof(k2), "%s.per_second", key);
	if (json_object_object_get_ex(o, "per_second", &v) &&
	    read_amount(c, v, k2, &p->per_second) < 0)
		return -1;
	snprintf(k2, sizeof(k2), "%s.per_video", key);
	if (json_object_object_get_ex(o, "per_video", &v) &&
	    read_amount(c, v, k2, &p->per_video) < 0)
		return -1;
	if (json_object_object_get_ex(o, "per_second_by_tier", &v)) {
		snprintf(k2, sizeof(k2), "%s.per_second_by_tier", key);
		if (!json_object_is_type(v, json_type_object) || json_object_object_length(v) == 0)
			return cc_fail(
				c, k2,
				"must be an object of tiers (480p, 720p, 1080p, 1440p, 2160p, 4320p) and prices");
		json_object_object_foreach(v, tier, amount) {
			int t = usage_tier_index(tier);
			snprintf(k2, sizeof(k2), "%s.per_second_by_tier.%s", key, tier);
			if (t < 0)
				return cc_fail(
					c, k2,
					"unknown tier: the tiers are 480p, 720p, 1080p, 1440p, 2160p and 4320p (by the short edge of the output)");
			if (read_amount(c, amount, k2, &p->tier_per_second[t]) < 0)
				return -1;
			p->tier_set[t] = 1;
		}
	}
	if (!by_second && !json_object_object_get_ex(o, "per_video", NULL))
		return cc_fail(c, key, "must give per_second, per_second_by_tier or per_video");
	p->set = 1;
	return 0;
}

/* read_usage: {"currency": "USD"}, what the prices are in. */
static int read_usage(struct confcheck *c, struct json_object *root, struct config *cfg)
{
	static const char *const keys[] = { "currency", NULL };
	struct json_object *o;
	if (cc_object(c, root, "usage", "usage", &o) < 0)
		return -1;
	if (o == NULL)
		return 0;
	if (cc_keys(c, o, "usage", keys, NULL) < 0)
		return -1;
	char *cur = NULL;
	if (cc_string(c, o, "currency", "usage.currency", &cur) < 0) {
		free(cur);
		return -1;
	}
	if (cur == NULL)
		return 0;
	int ok = strlen(cur) >= 1 && strlen(cur) <= 8;
	for (const char *q = cur; ok && *q; q++)
		ok = (*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z');
	if (!ok) {
		free(cur);
		return cc_fail(c, "usage.currency",
			       "must be a currency code of 1..8 letters (USD, EUR, CNY, credits)");
	}
	free(cfg->currency);
	cfg->currency = cur;
	return 0;
}

static int read_model(struct confcheck *c, const char *name, struct json_object *o,
		      struct model_cfg *m)
{
	static const char *const keys[] = { "backends",	    "seconds",
					    "sizes",	    "default_seconds",
					    "default_size", "default_fps",
					    "max_fps",	    "deadline_seconds",
					    "price",	    NULL };
	char key[256];
	snprintf(key, sizeof(key), "models.%s", name);
	m->name = strdup(name);
	m->seconds_min = 1;
	m->seconds_max = 20;
	m->max_width = 1920;
	m->max_height = 1920;
	m->default_seconds = 4;
	m->default_width = 1280;
	m->default_height = 720;
	m->default_fps = 24;
	m->max_fps = 60;
	m->deadline_seconds = 1800;
	if (m->name == NULL)
		return cc_fail(c, key, "out of memory");
	if (strlen(name) == 0 || strlen(name) > 128)
		return cc_fail(c, key, "a model name must be 1..128 characters");
	if (!json_object_is_type(o, json_type_object))
		return cc_fail(c, key, "must be an object");
	if (cc_keys(c, o, key, keys, NULL) < 0)
		return -1;
	char k2[300];
	struct json_object *v;
	snprintf(k2, sizeof(k2), "%s.backends", key);
	if (!json_object_object_get_ex(o, "backends", &v))
		return cc_fail(c, k2, "missing: list the backends that serve this model");
	if (read_model_backends(c, v, k2, m) < 0)
		return -1;
	snprintf(k2, sizeof(k2), "%s.seconds", key);
	if (json_object_object_get_ex(o, "seconds", &v) && read_seconds(c, v, k2, m) < 0)
		return -1;
	snprintf(k2, sizeof(k2), "%s.sizes", key);
	if (json_object_object_get_ex(o, "sizes", &v) && read_sizes(c, v, k2, m) < 0)
		return -1;
	snprintf(k2, sizeof(k2), "%s.price", key);
	if (json_object_object_get_ex(o, "price", &v) && read_price(c, v, k2, &m->price) < 0)
		return -1;
	return read_model_defaults(c, o, key, m);
}

static int read_models(struct confcheck *c, struct json_object *root, struct config *cfg)
{
	struct json_object *o;
	if (cc_object(c, root, "models", "models", &o) < 0)
		return -1;
	if (o == NULL)
		return 0;
	size_t n = (size_t)json_object_object_length(o);
	if (n == 0)
		return cc_fail(c, "models", "must name at least one model");
	cfg->models = calloc(n, sizeof(*cfg->models));
	if (cfg->models == NULL)
		return cc_fail(c, "models", "out of memory");
	json_object_object_foreach(o, name, v) {
		if (read_model(c, name, v, &cfg->models[cfg->nmodels++]) < 0)
			return -1;
	}
	return 0;
}

/* The embedded default: the local ffmpeg renderer, no key, no network. */
static const char default_models[] =
	"{\"models\":{\"reelgate-local\":{\"backends\":[{\"backend\":\"local\","
	"\"model\":\"ffmpeg-render\"}],\"seconds\":{\"min\":1,\"max\":20},"
	"\"sizes\":{\"max_width\":1920,\"max_height\":1920}}},"
	"\"backends\":{\"local\":{\"type\":\"command\",\"command\":[\"render-ffmpeg\"],"
	"\"operations\":[\"edit\",\"extend\"],\"concurrency\":2}}}";

static int add_default_models(struct confcheck *c, struct config *cfg)
{
	struct json_object *d = json_tokener_parse(default_models);
	if (d == NULL)
		return cc_fail(c, "models", "out of memory");
	/* The parsed defaults are kept alive by attaching them to root. */
	json_object_object_add(cfg->root, "__defaults", d);
	int rc = read_backends(c, d, cfg);
	if (rc == 0)
		rc = read_models(c, d, cfg);
	return rc;
}

static int check_references(struct confcheck *c, struct config *cfg)
{
	for (size_t i = 0; i < cfg->nmodels; i++) {
		const struct model_cfg *m = &cfg->models[i];
		for (size_t j = 0; j < m->nbackends; j++) {
			if (config_backend(cfg, m->backends[j].backend) == NULL) {
				char key[300];
				snprintf(key, sizeof(key), "models.%s.backends[%zu].backend",
					 m->name, j);
				return cc_fail(c, key, "\"%s\" is not defined under \"backends\"",
					       m->backends[j].backend);
			}
		}
	}
	if (cfg->default_model == NULL) {
		cfg->default_model = strdup(cfg->models[0].name);
		if (cfg->default_model == NULL)
			return cc_fail(c, "default_model", "out of memory");
	} else if (config_model(cfg, cfg->default_model) == NULL) {
		char names[512];
		config_model_names(cfg, names, sizeof(names));
		return cc_fail(c, "default_model", "\"%s\" is not a configured model (models: %s)",
			       cfg->default_model, names);
	}
	return 0;
}

/* read_listen: the FastCGI socket ("HOST:PORT" or "unix:/path", a relative
 * unix path made absolute) and the unix socket's mode. */
static int read_listen(struct confcheck *c, struct json_object *root, struct config *cfg)
{
	if (cc_string(c, root, "listen", "listen", &cfg->listen) < 0)
		return -1;
	if (strncmp(cfg->listen, "unix:", 5) == 0) {
		if (cfg->listen[5] == '\0')
			return cc_fail(c, "listen", "\"unix:\" needs a socket path");
		if (cfg->listen[5] != '/') {
			char *abs = cc_resolve(c, cfg->listen + 5);
			size_t n = abs ? strlen(abs) + 6 : 0;
			char *p = abs ? malloc(n) : NULL;
			if (p == NULL) {
				free(abs);
				return cc_fail(c, "listen", "out of memory");
			}
			snprintf(p, n, "unix:%s", abs);
			free(abs);
			free(cfg->listen);
			cfg->listen = p;
		}
		if (strlen(cfg->listen) - 5 >= 108)
			return cc_fail(c, "listen", "unix socket path too long (max 107 bytes)");
	} else {
		const char *colon = strrchr(cfg->listen, ':');
		char *end;
		long port = colon ? strtol(colon + 1, &end, 10) : -1;
		if (colon == NULL || colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535)
			return cc_fail(c, "listen",
				       "must be \"HOST:PORT\" or \"unix:/path\" (got \"%s\")",
				       cfg->listen);
	}
	char *mode = NULL;
	if (cc_string(c, root, "listen_mode", "listen_mode", &mode) < 0)
		return -1;
	if (mode != NULL) {
		char *end;
		long m = strtol(mode, &end, 8);
		int bad = *end != '\0' || m < 0 || m > 0777;
		free(mode);
		if (bad)
			return cc_fail(c, "listen_mode",
				       "must be an octal mode string such as \"0660\"");
		cfg->listen_mode = (int)m;
	}
	return 0;
}

/* read_paths: data_dir (required), the log file (data_dir/reelgate.log by
 * default), ffmpeg, and public_url without its trailing slashes. */
static int read_paths(struct confcheck *c, struct json_object *root, struct config *cfg)
{
	char *dd = NULL;
	if (cc_string(c, root, "data_dir", "data_dir", &dd) < 0)
		return -1;
	if (dd == NULL)
		return cc_fail(c, "data_dir",
			       "missing: where reelgate keeps its database and files");
	cfg->data_dir = cc_resolve(c, dd);
	free(dd);
	if (cfg->data_dir == NULL || strlen(cfg->data_dir) > 512)
		return cc_fail(c, "data_dir", "must be a path of at most 512 bytes");
	struct json_object *lf;
	if (json_object_object_get_ex(root, "log_file", &lf) && lf != NULL) {
		char *l = NULL;
		if (cc_string(c, root, "log_file", "log_file", &l) < 0)
			return -1;
		cfg->log_file = cc_resolve(c, l);
		free(l);
	} else {
		size_t n = strlen(cfg->data_dir) + 16;
		cfg->log_file = malloc(n);
		if (cfg->log_file)
			snprintf(cfg->log_file, n, "%s/reelgate.log", cfg->data_dir);
	}
	if (cc_string(c, root, "ffmpeg", "ffmpeg", &cfg->ffmpeg) < 0)
		return -1;
	if (cc_string(c, root, "public_url", "public_url", &cfg->public_url) < 0)
		return -1;
	if (cfg->public_url != NULL) {
		if (strncmp(cfg->public_url, "http://", 7) != 0 &&
		    strncmp(cfg->public_url, "https://", 8) != 0)
			return cc_fail(c, "public_url", "must start with http:// or https://");
		size_t n = strlen(cfg->public_url);
		if (n > 512) /* the API's base URL: it and a mount point fit 1 KB */
			return cc_fail(c, "public_url", "must be at most 512 characters");
		while (n > 0 && cfg->public_url[n - 1] == '/')
			cfg->public_url[--n] = '\0';
	}
	return 0;
}

static int read_root(struct confcheck *c, struct json_object *root, struct config *cfg)
{
	static const char *const keys[] = {
		"listen", "listen_mode", "workers",	  "data_dir", "log_file", "public_url",
		"limits", "db",		 "default_model", "models",   "backends", "content",
		"ffmpeg", "image_urls",	 "webhooks",	  "usage",    NULL
	};
	static const char *const sections[] = { "metrics", NULL };
	if (cc_keys(c, root, "", keys, sections) < 0 || read_listen(c, root, cfg) < 0)
		return -1;
	long long w = cfg->workers;
	if (cc_int(c, root, "workers", "workers", 1, 256, &w) < 0)
		return -1;
	cfg->workers = (int)w;
	if (read_paths(c, root, cfg) < 0)
		return -1;
	if (read_limits(c, root, cfg) < 0 || read_db(c, root, cfg) < 0 ||
	    read_content(c, root, cfg) < 0 || read_image_urls(c, root, cfg) < 0 ||
	    read_webhooks(c, root, cfg) < 0 || read_usage(c, root, cfg) < 0 ||
	    read_metrics(c, root, cfg) < 0 || read_backends(c, root, cfg) < 0 ||
	    read_models(c, root, cfg) < 0)
		return -1;
	if (cfg->nmodels == 0 && add_default_models(c, cfg) < 0)
		return -1;
	if (cfg->delivery == DELIVERY_X_SENDFILE && strchr(cfg->data_dir, '%') != NULL)
		return cc_fail(
			c, "data_dir",
			"must not contain %% with \"x-sendfile\" delivery (lighttpd decodes the path)");
	if (cc_string(c, root, "default_model", "default_model", &cfg->default_model) < 0)
		return -1;
	return check_references(c, cfg);
}

static void set_defaults(struct config *cfg)
{
	cfg->listen = xstrdup("127.0.0.1:9000");
	cfg->listen_mode = 0660;
	cfg->workers = 4;
	cfg->max_body_bytes = 25u << 20;
	cfg->max_image_bytes = 20u << 20;
	cfg->max_prompt_chars = 32000;
	cfg->max_metadata_bytes = 16384;
	cfg->max_fields = 64;
	cfg->max_n = 4;
	cfg->map_bytes = (size_t)64 << 20;
	cfg->max_map_bytes = (size_t)65536 << 20;
	cfg->durable = 1;
	cfg->delivery = DELIVERY_NONE;
	cfg->accel_prefix = xstrdup("/_reelgate_content/");
	cfg->s3.proxy_prefix = xstrdup("/_reelgate_s3/");
	cfg->s3.presign_seconds = 300;
	cfg->s3.presign_reuse_seconds = 60;
	cfg->s3.delete_recheck_seconds = 600;
	cfg->s3.part_bytes = 8u << 20;
	cfg->max_output_bytes = (size_t)4 << 30;
	cfg->ffmpeg = xstrdup("ffmpeg");
	cfg->retention_seconds = 7L * 86400;
	cfg->image_url_timeout_ms = 60000;
	cfg->webhook_timeout_ms = 15000;
	cfg->webhook_in_flight = 32;
	cfg->webhook_per_endpoint = 4;
	cfg->metrics_enabled = 1;
	cfg->currency = xstrdup("USD");
}

/* line_of turns a byte offset into a 1-based line number for messages. */
static int line_of(const char *text, size_t off)
{
	int line = 1;
	for (size_t i = 0; i < off && text[i]; i++)
		if (text[i] == '\n')
			line++;
	return line;
}

struct config *config_parse(const char *text, const char *path, const char *base_dir, char *err,
			    size_t errlen)
{
	struct confcheck c = { path, base_dir, err, errlen };
	struct config *cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	set_defaults(cfg);
	cfg->path = strdup(path);
	struct json_tokener *tok = json_tokener_new_ex(64);
	if (tok == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		config_free(cfg);
		return NULL;
	}
	size_t len = strlen(text);
	cfg->root = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (cfg->root == NULL || jerr != json_tokener_success) {
		snprintf(err, errlen, "%s: line %d: not valid JSON: %s", path, line_of(text, end),
			 jerr == json_tokener_continue ? "unexpected end of file"
						       : json_tokener_error_desc(jerr));
		config_free(cfg);
		return NULL;
	}
	for (size_t i = end; i < len; i++) {
		if (text[i] != ' ' && text[i] != '\n' && text[i] != '\t' && text[i] != '\r') {
			snprintf(err, errlen, "%s: line %d: unexpected text after the closing }",
				 path, line_of(text, i));
			config_free(cfg);
			return NULL;
		}
	}
	if (!json_object_is_type(cfg->root, json_type_object)) {
		cc_fail(&c, "(top level)", "must be a JSON object");
		config_free(cfg);
		return NULL;
	}
	if (read_root(&c, cfg->root, cfg) < 0) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct config *config_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	char *text = malloc(CONFIG_MAX_BYTES + 1);
	size_t n = text ? fread(text, 1, CONFIG_MAX_BYTES + 1, f) : 0;
	int rerr = ferror(f);
	fclose(f);
	if (text == NULL || rerr || n > CONFIG_MAX_BYTES) {
		snprintf(err, errlen, "%s: %s", path,
			 text == NULL ? "out of memory"
			 : rerr	      ? "read error"
				      : "larger than 1 MiB");
		free(text);
		return NULL;
	}
	text[n] = '\0';
	char abs[PATH_MAX];
	if (realpath(path, abs) == NULL)
		snprintf(abs, sizeof(abs), "%s", path);
	char *slash = strrchr(abs, '/');
	char dir[PATH_MAX];
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == abs)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - abs), abs);
	struct config *cfg = config_parse(text, abs, dir, err, errlen);
	free(text);
	return cfg;
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->nmodels; i++) {
		struct model_cfg *m = &cfg->models[i];
		for (size_t j = 0; j < m->nbackends; j++) {
			free(m->backends[j].backend);
			free(m->backends[j].model);
		}
		free(m->backends);
		free(m->seconds);
		free(m->sizes);
		free(m->name);
	}
	free(cfg->models);
	for (size_t i = 0; i < cfg->nbackends; i++) {
		struct backend_cfg *b = &cfg->backends[i];
		free(b->name);
		free(b->type);
		free(b->base_url);
	}
	free(cfg->backends);
	free(cfg->path);
	free(cfg->listen);
	free(cfg->data_dir);
	free(cfg->log_file);
	free(cfg->public_url);
	free(cfg->default_model);
	free(cfg->accel_prefix);
	free(cfg->s3.endpoint);
	free(cfg->s3.region);
	free(cfg->s3.bucket);
	free(cfg->s3.prefix);
	free(cfg->s3.access_key);
	if (cfg->s3.secret_key)
		OPENSSL_cleanse(cfg->s3.secret_key, strlen(cfg->s3.secret_key));
	free(cfg->s3.secret_key);
	free(cfg->s3.proxy_prefix);
	free(cfg->ffmpeg);
	free(cfg->metrics_token);
	free(cfg->metrics_token_env);
	free(cfg->currency);
	json_object_put(cfg->root);
	free(cfg);
}

const struct model_cfg *config_model(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nmodels; i++)
		if (strcmp(cfg->models[i].name, name) == 0)
			return &cfg->models[i];
	return NULL;
}

const struct backend_cfg *config_backend(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nbackends; i++)
		if (strcmp(cfg->backends[i].name, name) == 0)
			return &cfg->backends[i];
	return NULL;
}

int config_backend_is_http(const struct config *cfg, const char *name)
{
	const struct backend_cfg *b = config_backend(cfg, name);
	return b != NULL && b->module != NULL && b->module->kind == BACKEND_HTTP;
}

void config_model_names(const struct config *cfg, char *out, size_t n)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < cfg->nmodels && used < n; i++) {
		int w = snprintf(out + used, n - used, "%s%s", i ? ", " : "", cfg->models[i].name);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

const char *config_default_path(void)
{
	const char *e = getenv("REELGATE_CONFIG");
	if (e != NULL && e[0] != '\0')
		return e;
	return REELGATE_SYSCONFDIR "/reelgate.json";
}

void config_model_describe_seconds(const struct model_cfg *m, char *out, size_t n)
{
	if (m->nseconds == 0) {
		snprintf(out, n, "%d to %d", m->seconds_min, m->seconds_max);
		return;
	}
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < m->nseconds && used < n; i++) {
		int w = snprintf(out + used, n - used, "%s%d", i ? ", " : "", m->seconds[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

void config_model_describe_sizes(const struct model_cfg *m, char *out, size_t n)
{
	if (m->nsizes == 0) {
		snprintf(out, n, "any even WIDTHxHEIGHT from 16x16 up to %dx%d", m->max_width,
			 m->max_height);
		return;
	}
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < m->nsizes && used < n; i++) {
		int w = snprintf(out + used, n - used, "%s%dx%d", i ? ", " : "", m->sizes[2 * i],
				 m->sizes[2 * i + 1]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}
