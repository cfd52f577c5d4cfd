/*
 * config: the configuration file, parsed and checked once into a read-only
 * snapshot.  A process holds one snapshot (SIGHUP makes a new one in the
 * master; workers are replaced rather than reloaded).  Owns defaults and the
 * validation that refuses a wrong file with the file, the key and the fault.
 */
#ifndef REELGATE_CONFIG_H
#define REELGATE_CONFIG_H

#include <stddef.h>
#include <json-c/json.h>

#include "ssrf.h"
#include "usage.h"

struct backend_type;

enum delivery { DELIVERY_NONE, DELIVERY_X_ACCEL, DELIVERY_X_SENDFILE };

/* Where finished results are kept: data_dir/content, or an S3 bucket. */
enum content_store { STORE_LOCAL, STORE_S3 };
/* How /content answers with store s3: a 302 to a presigned GET, or an
 * X-Accel-Redirect to an internal nginx location that fetches it. */
enum s3_delivery { S3_REDIRECT, S3_PROXY };

/* S3's longest X-Amz-Expires: a week */
#define S3_PRESIGN_MAX 604800

/* content.s3: the bucket (s3.h, s3_upload.h). */
struct s3_config {
	char *endpoint; /* "http(s)://host[:port][/path]", no trailing '/' */
	char *region;
	char *bucket;
	char *prefix;		       /* "" or e.g. "reelgate/" */
	char *access_key, *secret_key; /* secrets: never logged */
	int path_style;		       /* endpoint/bucket/key, else bucket.host/key */
	long presign_seconds;	       /* life of a presigned GET, 300 */
	long presign_reuse_seconds;    /* a presigned GET's window of reuse, 60 */
	long delete_recheck_seconds;   /* a second delete of objects whose upload was
					* under way, this long after the first: 600 */
	size_t part_bytes;	       /* multipart above this, 8 MiB (min 5 MiB) */
	struct ssrf_policy policy;     /* allow_addresses */
	enum s3_delivery delivery;
	char *proxy_prefix; /* "/_reelgate_s3/" */
};

struct model_backend {
	char *backend; /* name of an entry in config.backends */
	char *model;   /* the model name that backend knows; may be NULL */
};

struct model_cfg {
	char *name;
	struct model_backend *backends;
	size_t nbackends;
	/* Allowed durations: a list (nseconds > 0) or the range min..max. */
	int *seconds;
	size_t nseconds;
	int seconds_min, seconds_max;
	/* Allowed sizes: a list (nsizes > 0) or any even size up to the max. */
	int *sizes; /* pairs: w0, h0, w1, h1, ... */
	size_t nsizes;
	int max_width, max_height;
	int default_seconds;
	int default_width, default_height;
	int default_fps, max_fps;
	int deadline_seconds;
	struct price_cfg price; /* what a video of it costs (usage.h), optional */
};

/* A configured backend: the settings every backend of its kind has, read
 * and checked once here; the keys its module adds stay in raw, checked by
 * the module (backend.h) and read by it alone. */
struct backend_cfg {
	char *name;
	char *type; /* the module's type name */
	const struct backend_type *module;
	int concurrency;
	/* HTTP backends */
	char *base_url; /* without a trailing '/' */
	long poll_ms;
	long request_timeout_ms;
	long download_timeout_ms;
	int max_retries;
	int strict_params;
	/* A submit whose outcome is unknown, on a module that cannot look
	 * for the job (no BCAP_RECONCILE): sent again (1) or failed with
	 * upstream_unknown_outcome (0, the default). */
	int resubmit_unknown;
	struct ssrf_policy policy; /* allow_addresses */
	/* local backends */
	long timeout_ms;	 /* the program's time limit, 0: none */
	struct json_object *raw; /* the entry as written, borrowed from root */
};

struct config {
	char *path;   /* the file read */
	char *listen; /* "host:port" or "unix:/path" */
	int listen_mode;
	int workers;
	char *data_dir;	  /* absolute */
	char *log_file;	  /* absolute; data_dir/reelgate.log by default */
	char *public_url; /* NULL: from the request's Host */
	size_t max_body_bytes, max_image_bytes, max_prompt_chars;
	size_t max_metadata_bytes, max_fields;
	int max_n;
	size_t map_bytes, max_map_bytes;
	int durable;
	char *default_model;
	struct model_cfg *models;
	size_t nmodels;
	struct backend_cfg *backends;
	size_t nbackends;
	size_t max_output_bytes; /* largest video a backend may hand back */
	char *ffmpeg;		 /* the ffmpeg used for thumbnails and spritesheets */
	long retention_seconds;	 /* finished files are kept this long */
	/* image_urls: fetching an input image given as a URL */
	struct ssrf_policy image_url_policy; /* private addresses allowed */
	long image_url_timeout_ms;
	/* webhooks: delivering events to the keys' endpoints */
	struct ssrf_policy webhook_policy; /* private addresses allowed */
	long webhook_timeout_ms;	   /* one attempt, 15 s by default */
	int webhook_in_flight;		   /* deliveries at once, 32 */
	int webhook_per_endpoint;	   /* of them to one endpoint, 4 */
	char *currency;			   /* usage.currency: what prices are in, "USD" */
	enum delivery delivery;
	char *accel_prefix;
	enum content_store store;
	struct s3_config s3; /* with store s3 */
	/* metrics: GET /metrics (metrics_http.c) */
	int metrics_enabled;	  /* count at all (1 by default) */
	char *metrics_token;	  /* the scrapers' bearer token (a secret), or NULL */
	char *metrics_token_env;  /* or the environment variable holding it */
	struct json_object *root; /* owned */
};

/* config_load reads and checks path.  On failure returns NULL and writes
 * "FILE: KEY: what is wrong" into err. */
struct config *config_load(const char *path, char *err, size_t errlen);
/* config_parse checks an in-memory text (base_dir resolves relative paths);
 * path names the text in messages. */
struct config *config_parse(const char *text, const char *path, const char *base_dir, char *err,
			    size_t errlen);
void config_free(struct config *cfg);

const struct model_cfg *config_model(const struct config *cfg, const char *name);
const struct backend_cfg *config_backend(const struct config *cfg, const char *name);
/* config_backend_is_http: is the backend called name an HTTP one? */
int config_backend_is_http(const struct config *cfg, const char *name);
/* config_model_names writes "a, b, c" (for error messages) into out. */
void config_model_names(const struct config *cfg, char *out, size_t n);

/* Whether a model accepts a duration / a size, and both rules in words for
 * error messages ("4, 8, 12" or "1 to 20"). */
int config_model_allows_seconds(const struct model_cfg *m, int seconds);
int config_model_allows_size(const struct model_cfg *m, int w, int h);
void config_model_describe_seconds(const struct model_cfg *m, char *out, size_t n);
void config_model_describe_sizes(const struct model_cfg *m, char *out, size_t n);

/* config_default_path: $REELGATE_CONFIG, else SYSCONFDIR/reelgate.json. */
const char *config_default_path(void);

#endif
