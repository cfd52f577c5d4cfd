/*
 * api: request handlers.  Flow of a create: body.c decodes, validate.c
 * checks, this file stores the image and the records (store.c), then answers
 * with the video object (video.c).
 */
#include "api.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "usage.h"
#include "usage_api.h"
#include "backend.h"
#include "body.h"
#include "download.h"
#include "files.h"
#include "s3.h"
#include "form.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "record.h"
#include "notify.h"
#include "ops.h"
#include "router.h"
#include "validate.h"
#include "video.h"

/* The most videos one GET /v1/videos looks at: a filtered list that finds
 * fewer than limit matches among them ends there, with has_more and the
 * last id looked at as last_id, to be continued with after. */
#define LIST_EXAMINED_MAX 10000
#define IDEM_MAX 255
#define IMAGE_REL_MAX 64

static int mkdir_p(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

int app_dirs(struct app *app, const struct config *cfg)
{
	app->cfg = cfg;
	snprintf(app->tmp_dir, sizeof(app->tmp_dir), "%s/tmp", cfg->data_dir);
	snprintf(app->uploads_dir, sizeof(app->uploads_dir), "%s/uploads", cfg->data_dir);
	snprintf(app->content_dir, sizeof(app->content_dir), "%s/content", cfg->data_dir);
	snprintf(app->files_dir, sizeof(app->files_dir), "%s/files", cfg->data_dir);
	if (mkdir_p(cfg->data_dir) < 0 || mkdir_p(app->tmp_dir) < 0 ||
	    mkdir_p(app->uploads_dir) < 0 || mkdir_p(app->content_dir) < 0 ||
	    mkdir_p(app->files_dir) < 0)
		return -1;
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void respond_video(struct http_response *res, struct json_object *rec, const char *base_url)
{
	res->status = 200;
	buf_reset(&res->body);
	if (video_json(rec, base_url, &res->body) < 0) {
		struct api_error e;
		api_error_from_rg(&e, RG_ENOMEM);
		http_error(res, &e);
	}
}

static void not_found(struct api_error *e, const char *id)
{
	api_error_video_not_found(e, id);
}

/* store_failed answers a store error about video id: a 404 for one that
 * is not there (or, with hidden, not the caller's), else what err says. */
static void store_failed(struct http_response *res, enum rg_err err, int hidden, const char *id)
{
	struct api_error e;
	if (err == RG_ENOENT || hidden)
		not_found(&e, id);
	else
		api_error_from_rg(&e, err);
	http_error(res, &e);
}

static void bad_id(struct api_error *e)
{
	api_error_video_not_found(e, NULL);
}

/* load_owned reads id's record if caller owns it; another key's video is
 * answered exactly like a missing one. */
static struct json_object *load_owned(struct app *app, const struct route_match *m,
				      const char *owner, struct api_error *e)
{
	if (!m->id_valid) {
		bad_id(e);
		return NULL;
	}
	struct json_object *rec = NULL;
	enum rg_err err = store_video_get(app->st, m->id, &rec);
	if (err == RG_ENOENT || (err == RG_OK && !video_owned_by(rec, owner))) {
		json_object_put(rec);
		not_found(e, m->id);
		return NULL;
	}
	if (err != RG_OK) {
		api_error_from_rg(e, err);
		return NULL;
	}
	return rec;
}

/* ---- create ----------------------------------------------------------------- */

/* drop_cached lets the kernel reuse the page cache of an upload once it is
 * on disk: it is read again only when its task runs, and keeping every
 * upload cached makes each new one land on pages never used before (on a
 * virtual machine, the slowest there are: a third of a core per 1 MB/ms). */
static void drop_cached(int fd)
{
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

static int write_file_synced(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			unlink(path);
			return -1;
		}
		off += (size_t)w;
	}
	if (fdatasync(fd) < 0) {
		close(fd);
		unlink(path);
		return -1;
	}
	drop_cached(fd);
	return close(fd);
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fdatasync(fd); /* the data and its size; the name is the directory's */
	if (rc == 0)
		drop_cached(fd);
	close(fd);
	return rc;
}

/* store_images puts the request's image under uploads/ once per task
 * (hard links of one file, named by a random token since task ids are only
 * given out when the records are committed), synced before the commit.
 * rel[i] receives each path relative to data_dir. */
static int store_images(struct app *app, struct video_spec *s, struct body *b, int n,
			char rel[][IMAGE_REL_MAX])
{
	char token[40], first[4096 + IMAGE_REL_MAX];
	int made = 0;
	if (id_prefixed_new(token, sizeof(token), "img_", 12) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		char path[4096 + IMAGE_REL_MAX];
		if (i == 0)
			snprintf(rel[i], IMAGE_REL_MAX, "uploads/%s.%s", token, s->image_ext);
		else
			snprintf(rel[i], IMAGE_REL_MAX, "uploads/%s_%d.%s", token, i, s->image_ext);
		snprintf(path, sizeof(path), "%s/%s", app->cfg->data_dir, rel[i]);
		int rc;
		if (i > 0) {
			rc = link(first, path);
		} else if (s->image_src != NULL) {
			/* a Files API file: a name of its own, so deleting the
			 * file later leaves the task's image in place */
			rc = link(s->image_src, path);
		} else if (s->image == IMAGE_BYTES) {
			rc = write_file_synced(path, s->image_bytes, s->image_len);
		} else {
			char *tmp = form_claim_file(&b->form, b->file);
			rc = tmp ? fsync_path(tmp) : -1;
			if (rc == 0)
				rc = rename(tmp, path);
			if (rc < 0 && tmp)
				unlink(tmp);
			free(tmp);
		}
		if (rc < 0)
			goto fail;
		if (i == 0)
			snprintf(first, sizeof(first), "%s", path);
		made++;
	}
	if (fsync_dir(app->uploads_dir) < 0)
		goto fail;
	return 0;
fail:
	log_error("upload_store_failed", "errno=%d", errno);
	for (int i = 0; i < made; i++) {
		char path[4096 + IMAGE_REL_MAX];
		snprintf(path, sizeof(path), "%s/%s", app->cfg->data_dir, rel[i]);
		unlink(path);
	}
	return -1;
}

static void unlink_images(struct app *app, char rel[][IMAGE_REL_MAX], int n)
{
	for (int i = 0; i < n; i++) {
		char path[4096 + IMAGE_REL_MAX];
		snprintf(path, sizeof(path), "%s/%s", app->cfg->data_dir, rel[i]);
		unlink(path);
	}
}

static int idem_key_ok(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > IDEM_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e)
			return 0;
	return 1;
}

int api_idempotency_check(const struct http_request *req, struct api_error *e)
{
	if (req->idempotency_key == NULL || idem_key_ok(req->idempotency_key))
		return 0;
	api_error_set(e, 400, "invalid_value", "Idempotency-Key",
		      "The Idempotency-Key header must be 1..%d printable ASCII characters.",
		      IDEM_MAX);
	return -1;
}

/* Retry-After of a create refused for too many tasks in flight: when one
 * ends cannot be known, so a short wait. */
#define IN_FLIGHT_RETRY_S 10

/* What build_record needs to make each of the n records. */
struct build_ctx {
	const struct video_spec *s;
	const char *owner;
	int64_t now;
	char (*rel)[IMAGE_REL_MAX]; /* NULL without an image */
	const char *remixed_from;
	struct json_object *charge; /* what each task reserves (usage.h) */
};

static struct json_object *build_record(char (*ids)[ID_MAX], size_t n, size_t i, void *arg)
{
	struct build_ctx *c = arg;
	char *idp[64];
	for (size_t j = 0; j < n; j++)
		idp[j] = ids[j];
	struct json_object *rec = video_record_new(c->s, ids[i], c->owner, c->now, idp, (int)n,
						   c->rel ? c->rel[i] : NULL, c->remixed_from);
	struct json_object *charge = NULL;
	if (rec != NULL && json_object_deep_copy(c->charge, &charge, NULL) == 0)
		json_object_object_add(rec, "charge", charge);
	return rec;
}

/* charge_of: what each task of s reserves (its charge, usage.h); NULL
 * with e filled when the model's price has nothing for its size. */
static struct json_object *charge_of(const struct config *cfg, const struct video_spec *s,
				     struct api_error *e)
{
	int unpriced;
	int64_t secs = s->op && strcmp(s->op, "extend") == 0 && s->segment_seconds > 0
			       ? s->segment_seconds
			       : s->seconds;
	struct json_object *c = usage_charge(&s->model->price, cfg->currency, s->width, s->height,
					     secs * 1000, &unpriced);
	if (c == NULL)
		api_error_set(
			e, 400, "unsupported_value", "size",
			"Model '%s' has no price for a %dx%d video (tier %s): choose a size of a priced tier, or ask the operator to price it.",
			s->model->name, s->width, s->height,
			usage_tier_names[usage_tier(s->width, s->height)]);
	return c;
}

/* refusal_text says which limit refused a create, its size, what is used,
 * and when it resets. */
static void refusal_text(const struct store_refusal *w, const char *currency, struct api_error *e)
{
	char reset[40] = "", a[40], b[40], c[40];
	if (w->reset_at > 0) {
		time_t t = (time_t)w->reset_at;
		struct tm tm;
		strftime(reset, sizeof(reset), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	}
	if (strcmp(w->which, "cost_per_month") == 0) {
		usage_money_text(w->limit, a, sizeof(a));
		usage_money_text(w->used, b, sizeof(b));
		usage_money_text(w->asked, c, sizeof(c));
		api_error_set(
			e, 429, "insufficient_quota", NULL,
			"Budget reached: this API key may spend %s %s a month (UTC) at the models' prices; %s is used or reserved this month and this request would reserve %s more. It resets at %s.",
			a, currency, b, c, reset);
	} else if (strcmp(w->which, "seconds_per_day") == 0 ||
		   strcmp(w->which, "seconds_per_month") == 0) {
		int day = w->which[12] == 'd';
		usage_seconds_text(w->used, b, sizeof(b));
		usage_seconds_text(w->asked, c, sizeof(c));
		api_error_set(
			e, 429, "insufficient_quota", NULL,
			"Budget reached: this API key may make %lld seconds of video a %s (UTC); %s are used or reserved this %s and this request needs %s more (seconds x n). It resets at %s.",
			(long long)(w->limit / 1000), day ? "day" : "month", b,
			day ? "day" : "month", c, reset);
	} else if (strcmp(w->which, "max_in_flight") == 0) {
		api_error_set(
			e, 429, "rate_limit_exceeded", NULL,
			"Too many videos in flight: this API key may have %lld queued or in progress at once, and has %lld; this request adds %lld. Retry when some finish.",
			(long long)w->limit, (long long)w->used, (long long)w->asked);
	} else {
		api_error_set(
			e, 429, "rate_limit_exceeded", NULL,
			"Rate limit reached: this API key may create %lld videos per minute. Retry after %s.",
			(long long)w->limit, reset);
	}
}

static int enabled_endpoint(struct json_object *ep, void *arg)
{
	const char *state = rec_str(ep, "state");
	*(int *)arg = state && strcmp(state, "enabled") == 0;
	return *(int *)arg;
}

/* can_sign: owner has an enabled webhook endpoint (to sign a callback_url). */
static int can_sign(struct app *app, const char *owner)
{
	int found = 0;
	return store_webhook_list(app->st, owner, enabled_endpoint, &found) == RG_OK && found;
}

int api_insert_videos(struct app *app, struct http_request *req, struct http_response *res,
		      const char *owner, const struct key_limits *lim, struct video_spec *s,
		      struct body *b, const char *base_url, const char *remixed_from)
{
	struct api_error e;
	char rel[64][IMAGE_REL_MAX];
	int n = s->n;
	int has_image = s->image == IMAGE_FILE || s->image == IMAGE_BYTES;
	if (s->callback_url != NULL && !can_sign(app, owner)) {
		api_error_set(
			&e, 400, "invalid_value", "callback_url",
			"'callback_url' needs a webhook endpoint on this API key, whose secret signs the events: ask the operator to add one (reelgate webhooks add KEY_ID URL).");
		http_error(res, &e);
		return -1;
	}
	struct json_object *charge = charge_of(app->cfg, s, &e);
	if (charge == NULL) {
		http_error(res, &e);
		return -1;
	}
	if (has_image && store_images(app, s, b, n, rel) < 0) {
		json_object_put(charge);
		api_error_from_rg(&e, errno == ENOSPC || errno == EDQUOT ||
						      disk_nearly_full(app->uploads_dir)
					      ? RG_ESPACE
					      : RG_EIO);
		http_error(res, &e);
		return -1;
	}
	struct build_ctx ctx = { s, owner, now_ms(), has_image ? rel : NULL, remixed_from, charge };
	struct json_object *first = NULL;
	struct store_refusal why;
	enum rg_err err = store_videos_create_checked(app->st, (size_t)n, owner,
						      req->idempotency_key, lim->creates_per_minute,
						      &why, build_record, &ctx, &first);
	json_object_put(charge);
	if (err == RG_OK) {
		log_info("video_created", "req=%s video=%s owner=%s model=%s n=%d", req->request_id,
			 rec_str(first, "id"), owner, s->model->name, n);
		respond_video(res, first, base_url);
		notify_wake(app->cfg->data_dir);
		json_object_put(first);
		return 0;
	} else {
		if (has_image)
			unlink_images(app, rel, n);
		if (err == RG_EEXIST) {
			respond_video(res, first, base_url);
			http_header(res, "Idempotent-Replayed", "true");
		} else if (err == RG_ELIMIT || err == RG_EQUOTA) {
			metrics_refusal(why.which);
			char ra[16];
			int64_t wait = why.reset_at > 0 ? why.reset_at - (int64_t)time(NULL)
							: IN_FLIGHT_RETRY_S;
			snprintf(ra, sizeof(ra), "%lld", (long long)(wait > 0 ? wait : 1));
			refusal_text(&why, app->cfg->currency, &e);
			log_info("create_refused", "req=%s owner=%s limit=%s", req->request_id,
				 owner, why.which);
			http_error(res, &e);
			http_header(res, "Retry-After", ra);
		} else {
			log_error("store_failed", "req=%s err=\"%s\"", req->request_id,
				  rg_strerror(err));
			api_error_from_rg(&e, err);
			http_error(res, &e);
		}
	}
	json_object_put(first);
	return -1;
}

static void body_limits(const struct app *app, struct body_limits *lim)
{
	lim->max_body = app->cfg->max_body_bytes;
	lim->max_file = app->cfg->max_image_bytes;
	lim->max_value = app->cfg->max_body_bytes;
	body_text_limits(lim, app->cfg->max_prompt_chars, app->cfg->max_metadata_bytes);
	lim->max_fields = app->cfg->max_fields;
	lim->tmp_dir = app->tmp_dir;
	lim->file_field = NULL; /* input_reference or image */
}

/* check_ignored: a field the model's backend cannot honour is never dropped
 * silently.  It is listed in metadata.ignored_params, or, when the backend
 * is configured with strict_params, the request is refused. */
static int check_ignored(const struct config *cfg, struct video_spec *s, struct api_error *e)
{
	const char *ignored[17];
	backend_ignored(config_backend(cfg, s->model->backends[0].backend), &s->model->backends[0],
			s, ignored);
	if (ignored[0] == NULL)
		return 0;
	const struct backend_cfg *b = config_backend(cfg, s->model->backends[0].backend);
	if (b && b->strict_params) {
		api_error_set(
			e, 400, "unsupported_value", ignored[0],
			"Model '%s' cannot honour '%s'; leave it out or choose another model.",
			s->model->name, ignored[0]);
		return -1;
	}
	if (s->metadata == NULL)
		s->metadata = json_object_new_object();
	struct json_object *list = json_object_new_array();
	for (size_t i = 0; ignored[i]; i++)
		json_object_array_add(list, json_object_new_string(ignored[i]));
	json_object_object_add(s->metadata, "ignored_params", list);
	return 0;
}

/* read_request is the prologue create and remix share, so that a rule is
 * on both or on neither: the Idempotency-Key header, then the body. */
static int read_request(struct app *app, struct http_request *req, struct body *b,
			struct api_error *e)
{
	struct body_limits blim;
	body_limits(app, &blim);
	if (api_idempotency_check(req, e) < 0)
		return -1;
	return body_read(b, req, &blim, e);
}

/* image_from_file turns input_reference.file_id into the stored image the
 * task uses, exactly as if it had been uploaded with the create. */
static int image_from_file(struct app *app, const char *owner, struct video_spec *s,
			   struct api_error *e)
{
	if (s->image_file_id == NULL)
		return 0;
	char path[8192];
	if (files_image(app, owner, s->image_file_id, "input_reference.file_id", path, sizeof(path),
			&s->image_ext, e) < 0)
		return -1;
	s->image_src = strdup(path);
	if (s->image_src == NULL) {
		api_error_from_rg(e, RG_ENOMEM);
		return -1;
	}
	s->image = IMAGE_FILE;
	return 0;
}

static void handle_create(struct app *app, struct http_request *req, struct http_response *res,
			  const char *owner, const struct key_limits *lim, const char *base_url)
{
	struct api_error e;
	struct body b;
	struct video_spec s;
	body_init(&b);
	video_spec_init(&s);
	if (read_request(app, req, &b, &e) < 0) {
		http_error(res, &e);
		goto out;
	}
	struct validate_input in = { b.fields,	   b.file ? b.file->path : NULL,
				     b.file_param, b.image.at,
				     b.image.data, b.image.len };
	if (validate_create(app->cfg, &in, &s, &e) < 0 || image_from_file(app, owner, &s, &e) < 0 ||
	    ops_references(app, owner, &s, &e) < 0 || check_ignored(app->cfg, &s, &e) < 0) {
		http_error(res, &e);
		goto out;
	}
	api_insert_videos(app, req, res, owner, lim, &s, &b, base_url, NULL);
out:
	video_spec_deinit(&s);
	body_deinit(&b);
}

static void handle_remix(struct app *app, struct http_request *req, struct http_response *res,
			 const struct route_match *m, const char *owner,
			 const struct key_limits *lim, const char *base_url)
{
	struct api_error e;
	struct body b;
	struct video_spec s;
	body_init(&b);
	video_spec_init(&s);
	struct json_object *src = load_owned(app, m, owner, &e);
	if (src == NULL || read_request(app, req, &b, &e) < 0 ||
	    validate_remix(app->cfg, b.fields, &s, &e) < 0) {
		http_error(res, &e);
		goto out;
	}
	if (b.file != NULL) {
		api_error_set(
			&e, 400, "unknown_parameter", b.file_param,
			"A remix takes only 'prompt'; it remixes the source video, not an image.");
		http_error(res, &e);
		goto out;
	}
	const char *status = rec_str(src, "status");
	if (status == NULL || strcmp(status, "completed") != 0) {
		api_error_set(
			&e, 409, "video_not_ready", "video_id",
			"Video '%s' cannot be remixed yet: its status is %s. Remix it once it is completed.",
			m->id, status ? status : "unknown");
		http_error(res, &e);
		/* The SDKs retry a 409 unless told not to; waiting is the client's
		 * choice, after polling the source. */
		http_header(res, "x-should-retry", "false");
		goto out;
	}
	s.model = config_model(app->cfg, rec_str(src, "model") ? rec_str(src, "model") : "");
	if (s.model == NULL) {
		api_error_set(&e, 400, "model_not_found", "model",
			      "Video '%s' was made with a model that is no longer configured.",
			      m->id);
		http_error(res, &e);
		goto out;
	}
	struct json_object *p = NULL, *v;
	json_object_object_get_ex(src, "params", &p);
	s.width = (int)rec_i64(p, "width");
	s.height = (int)rec_i64(p, "height");
	s.seconds = (int)rec_i64(p, "seconds");
	s.fps = (int)rec_i64(p, "fps");
	s.has_seed = json_object_object_get_ex(p, "seed", &v);
	s.seed = s.has_seed ? (uint32_t)json_object_get_int64(v) : 0;
	s.n = 1;
	api_insert_videos(app, req, res, owner, lim, &s, &b, base_url, m->id);
out:
	json_object_put(src);
	video_spec_deinit(&s);
	body_deinit(&b);
}

/* ---- read, list, delete, content --------------------------------------------- */

/* Reads and lists answer from the cached public objects (video.h): bytes
 * copied into the answer, no record parsed, no object rebuilt.  A list's
 * filters compare the members of those same bytes. */
struct cached_ctx {
	const char *owner;
	const char *base_url;
	struct buf *out;
	size_t count;
	char first[ID_MAX], last[ID_MAX];
	int owned;	    /* the last object seen was owner's */
	int pending;	    /* ... and is queued or in progress */
	enum rg_err failed; /* unreadable bytes or no memory: 500 */
	/* A filtered list: the JSON text status and model must have (NULL:
	 * any), and the last video it looked at. */
	int filtered;
	const char *status, *model;
	size_t status_len, model_len;
	char examined[ID_MAX];
};

static int member_is(const struct video_cached *v, const char *key, const char *want, size_t len)
{
	const char *val;
	size_t vlen;
	return video_cache_member(v, key, &val, &vlen) == 0 && vlen == len &&
	       memcmp(val, want, len) == 0;
}

/* filtered_out: whether a filtered list leaves the video v out. */
static int filtered_out(struct cached_ctx *c, const char *id, const struct video_cached *v)
{
	size_t idlen = strlen(id);
	if (idlen < ID_MAX)
		memcpy(c->examined, id, idlen + 1);
	return (c->status != NULL && !member_is(v, "status", c->status, c->status_len)) ||
	       (c->model != NULL && !member_is(v, "model", c->model, c->model_len));
}

static int put_cached(const char *id, const void *data, size_t len, void *arg)
{
	struct cached_ctx *c = arg;
	struct video_cached v;
	if (video_cache_read(data, len, &v) < 0) {
		c->failed = RG_ECORRUPT;
		return STORE_STOP;
	}
	c->owned = video_cache_owned_by(&v, c->owner);
	if (!c->owned)
		return 0;
	if (c->filtered && filtered_out(c, id, &v))
		return STORE_SKIP;
	c->pending = v.pending;
	if ((c->count > 0 && buf_putc(c->out, ',') < 0) ||
	    video_cache_json(&v, c->base_url, c->out) < 0) {
		c->failed = RG_ENOMEM;
		return STORE_STOP;
	}
	size_t idlen = strlen(id); /* < ID_MAX: the store's ids are */
	if (idlen >= ID_MAX) {
		c->failed = RG_ECORRUPT;
		return STORE_STOP;
	}
	if (c->count++ == 0)
		memcpy(c->first, id, idlen + 1);
	memcpy(c->last, id, idlen + 1);
	return 0;
}

static int put_id_or_null(struct buf *out, const char *id)
{
	return id ? buf_json_string(out, id, strlen(id)) : buf_puts(out, "null");
}

int api_query_param(struct form *q, const char *name, const char **out, struct api_error *e)
{
	*out = NULL;
	if (form_count(q, name) > 1) {
		api_error_set(e, 400, "invalid_value", name, "'%s' is given more than once.", name);
		return -1;
	}
	const struct form_field *f = form_get(q, name);
	if (f != NULL && memchr(f->value, '\0', f->value_len) != NULL) {
		api_error_set(e, 400, "invalid_value", name, "'%s' contains a NUL byte (%%00).",
			      name);
		return -1;
	}
	if (f != NULL)
		*out = f->value;
	return 0;
}

int api_parse_query(struct http_request *req, struct form *q, struct api_error *e)
{
	struct form_limits fl = { 32, 64, 256, 0, NULL };
	enum form_err err = form_parse_urlencoded(q, req->query, strlen(req->query), &fl);
	if (err != FORM_OK) {
		api_error_set(e, 400, "invalid_value", q->err_field[0] ? q->err_field : NULL,
			      "The query string is malformed: %s",
			      q->err_msg[0] ? q->err_msg : form_strerror(err));
		return -1;
	}
	return 0;
}

static const char *const list_statuses[] = { "queued", "in_progress", "completed", "failed", NULL };

int api_list_query(struct form *q, struct api_list_query *lq, struct api_error *e)
{
	const char *limit_s, *order_s;
	lq->limit = API_LIST_DEFAULT;
	lq->desc = 1;
	if (api_query_param(q, "limit", &limit_s, e) < 0 ||
	    api_query_param(q, "order", &order_s, e) < 0 ||
	    api_query_param(q, "after", &lq->after, e) < 0 ||
	    api_query_param(q, "status", &lq->status, e) < 0 ||
	    api_query_param(q, "model", &lq->model, e) < 0)
		return -1;
	if (limit_s != NULL) {
		char *end;
		errno = 0;
		lq->limit = strtol(limit_s, &end, 10);
		if (limit_s[0] < '0' || limit_s[0] > '9' || *end != '\0' || errno ||
		    lq->limit > API_LIST_MAX) {
			api_error_set(e, 400, "invalid_value", "limit",
				      "'limit' must be a whole number from 0 to %d.", API_LIST_MAX);
			return -1;
		}
	}
	if (order_s != NULL) {
		if (strcmp(order_s, "asc") == 0)
			lq->desc = 0;
		else if (strcmp(order_s, "desc") != 0) {
			api_error_set(e, 400, "invalid_value", "order",
				      "'order' must be \"asc\" or \"desc\".");
			return -1;
		}
	}
	if (lq->after != NULL && lq->after[0] == '\0')
		lq->after = NULL;
	if (lq->after != NULL && !id_video_valid(lq->after, strlen(lq->after))) {
		api_error_set(e, 400, "invalid_value", "after",
			      "'after' must be a video id (the last_id of the previous page).");
		return -1;
	}
	if (lq->status != NULL) {
		const char *const *st = list_statuses;
		while (*st != NULL && strcmp(*st, lq->status) != 0)
			st++;
		if (*st == NULL) {
			api_error_set(
				e, 400, "invalid_value", "status",
				"'status' must be one of queued, in_progress, completed, failed.");
			return -1;
		}
	}
	if (lq->model != NULL && (lq->model[0] == '\0' || strlen(lq->model) > API_LIST_MODEL_MAX)) {
		api_error_set(e, 400, "invalid_value", "model",
			      "'model' must be a model name of 1 to %d bytes.", API_LIST_MODEL_MAX);
		return -1;
	}
	return 0;
}

/* list_filters sets c's filters from lq: the JSON text each member must
 * have, as the cached objects hold it (json-c's escaping, kept in *held,
 * which the caller puts). */
static int list_filters(const struct api_list_query *lq, struct cached_ctx *c, char status[16],
			struct json_object **held)
{
	*held = NULL;
	c->filtered = lq->status != NULL || lq->model != NULL;
	if (lq->status != NULL) {
		c->status_len = (size_t)snprintf(status, 16, "\"%s\"", lq->status);
		c->status = status;
	}
	if (lq->model != NULL) {
		*held = json_object_new_string(lq->model);
		c->model = *held ? json_object_to_json_string_length(
					   *held,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
					   &c->model_len)
				 : NULL;
		if (c->model == NULL)
			return -1;
	}
	return 0;
}

static void handle_list(struct app *app, struct http_request *req, struct http_response *res,
			const char *owner, const char *base_url)
{
	struct api_error e;
	struct form q;
	struct api_list_query lq;
	struct json_object *held = NULL;
	char status[16];
	form_init(&q);
	if (api_parse_query(req, &q, &e) < 0 || api_list_query(&q, &lq, &e) < 0)
		goto fail;
	/* The list envelope as json-c would print it, written directly. */
	struct cached_ctx c = { .owner = owner, .base_url = base_url, .out = &res->body };
	int has_more = 0;
	buf_reset(&res->body);
	enum rg_err err =
		list_filters(&lq, &c, status, &held) < 0 ||
				buf_puts(&res->body, "{\"object\":\"list\",\"data\":[") < 0
			? RG_ENOMEM
			: RG_OK;
	if (err == RG_OK)
		err = store_video_list_public(app->st, owner, lq.after, (size_t)lq.limit,
					      LIST_EXAMINED_MAX, lq.desc, put_cached, &c,
					      &has_more);
	if (err == RG_OK)
		err = c.failed;
	/* A filtered list that stopped early continues after the last video it
	 * looked at, a match or not. */
	const char *last = c.count ? c.last : NULL;
	if (c.filtered && has_more && c.examined[0] != '\0')
		last = c.examined;
	if (err == RG_OK &&
	    (buf_puts(&res->body, "],\"first_id\":") < 0 ||
	     put_id_or_null(&res->body, c.count ? c.first : NULL) < 0 ||
	     buf_puts(&res->body, ",\"last_id\":") < 0 || put_id_or_null(&res->body, last) < 0 ||
	     buf_puts(&res->body, has_more ? ",\"has_more\":true}" : ",\"has_more\":false}") < 0))
		err = RG_ENOMEM;
	if (err != RG_OK) {
		api_error_from_rg(&e, err);
		goto fail;
	}
	res->status = 200;
	json_object_put(held);
	form_deinit(&q);
	return;
fail:
	http_error(res, &e);
	json_object_put(held);
	form_deinit(&q);
}

static void handle_get(struct app *app, struct http_response *res, const struct route_match *m,
		       const char *owner, const char *base_url)
{
	struct api_error e;
	struct cached_ctx c = { .owner = owner, .base_url = base_url, .out = &res->body };
	if (!m->id_valid) {
		bad_id(&e);
		http_error(res, &e);
		return;
	}
	buf_reset(&res->body);
	enum rg_err err = store_video_public(app->st, m->id, put_cached, &c);
	if (err == RG_OK)
		err = c.failed;
	/* Another key's video is answered exactly like a missing one. */
	if (err != RG_OK || !c.owned) {
		store_failed(res, err, err == RG_OK, m->id);
		return;
	}
	res->status = 200;
	if (c.pending)
		http_header(res, "openai-poll-after-ms", "1000");
}

/* remove_files deletes what the record stored on disk: its input image,
 * the source clip of an edit or an extension, the results. */
static void remove_files(struct app *app, struct json_object *rec)
{
	static const char *const inputs[] = { "image", "source", NULL };
	struct json_object *p = rec_obj(rec, "params"), *files;
	char path[8192];
	for (const char *const *in = inputs; *in; in++) {
		const char *rel = rec_str(rec_obj(p, *in), "path");
		if (rel && strncmp(rel, "uploads/", 8) == 0 && !strstr(rel, "..")) {
			snprintf(path, sizeof(path), "%s/%s", app->cfg->data_dir, rel);
			unlink(path);
		}
	}
	if (json_object_object_get_ex(rec, "files", &files) &&
	    json_object_is_type(files, json_type_object)) {
		json_object_object_foreach(files, k, v) {
			(void)k;
			const char *rel = json_object_get_string(v);
			if (rel && strncmp(rel, "content/", 8) == 0 && !strstr(rel, "..")) {
				snprintf(path, sizeof(path), "%s/%s", app->cfg->data_dir, rel);
				unlink(path);
			}
		}
	}
	/* an upload to the bucket under way: its local copies (the objects
	 * already sent are in the store's delete queue) */
	struct json_object *up = rec_obj(rec_obj(rec, "upload"), "objects");
	if (up) {
		json_object_object_foreach(up, k, o) {
			(void)k;
			const char *rel = rec_str(o, "file");
			if (rel && strncmp(rel, "content/", 8) == 0 && !strstr(rel, "..")) {
				snprintf(path, sizeof(path), "%s/%s", app->cfg->data_dir, rel);
				unlink(path);
			}
		}
	}
}

static void handle_delete(struct app *app, struct http_request *req, struct http_response *res,
			  const struct route_match *m, const char *owner)
{
	struct api_error e;
	struct json_object *rec = load_owned(app, m, owner, &e);
	if (rec == NULL) {
		http_error(res, &e);
		return;
	}
	const char *status = rec_str(rec, "status");
	if (status && (strcmp(status, "queued") == 0 || strcmp(status, "in_progress") == 0) &&
	    notify_cancel(app->cfg->data_dir, m->id, 3000) < 0)
		log_warn("cancel_unacknowledged", "req=%s video=%s", req->request_id, m->id);
	json_object_put(rec);
	struct json_object *old = NULL;
	enum rg_err err = store_video_delete(app->st, m->id, &old);
	if (err != RG_OK) {
		store_failed(res, err, 0, m->id);
		return;
	}
	remove_files(app, old);
	if (store_cancel_wanted(old) || rec_obj(old, "objects") || rec_obj(old, "upload"))
		notify_wake(app->cfg->data_dir); /* an upstream job, or objects, to remove */
	json_object_put(old);
	log_info("video_deleted", "req=%s video=%s owner=%s", req->request_id, m->id, owner);
	struct json_object *out = json_object_new_object();
	json_object_object_add(out, "id", json_object_new_string(m->id));
	json_object_object_add(out, "object", json_object_new_string("video.deleted"));
	json_object_object_add(out, "deleted", json_object_new_boolean(1));
	http_json(res, out);
	json_object_put(out);
}

static const char *variant_type(const char *variant)
{
	if (strcmp(variant, "thumbnail") == 0)
		return "image/webp";
	if (strcmp(variant, "spritesheet") == 0)
		return "image/jpeg";
	return "video/mp4";
}

/* serve_object answers with the object of variant in the bucket: a 302
 * to a presigned GET of it, or (delivery "proxy") an X-Accel-Redirect to
 * the web server's location that fetches that URL.  The bytes never pass
 * through the worker. */
static int serve_object(struct app *app, struct http_response *res, const char *id,
			const char *variant, const char *key, struct api_error *e)
{
	const struct s3_config *c = &app->cfg->s3;
	char url[S3_URL_MAX + 64];
	if (key == NULL) {
		api_error_set(e, 404, "not_found", "variant", "Video '%s' has no stored %s.", id,
			      variant);
		return -1;
	}
	if (c->secret_key[0] == '\0' || s3_presign_get(c, key, time(NULL), url, sizeof(url)) < 0) {
		api_error_set(e, 500, "server_error", NULL,
			      "The link to the stored %s could not be made.", variant);
		return -1;
	}
	http_header(res, "Cache-Control", "no-store");
	if (c->delivery == S3_REDIRECT) {
		res->status = 302;
		http_header(res, "Location", url);
		return 0;
	}
	/* /_reelgate_s3/<scheme>/<host>/<path>?<query> */
	const char *sep = strstr(url, "://");
	char loc[S3_URL_MAX + 400];
	if (sep == NULL || snprintf(loc, sizeof(loc), "%s%.*s/%s", c->proxy_prefix,
				    (int)(sep - url), url, sep + 3) >= (int)sizeof(loc)) {
		api_error_set(e, 500, "server_error", NULL,
			      "The link to the stored %s could not be made.", variant);
		return -1;
	}
	res->status = 200;
	res->content_type = variant_type(variant);
	http_header(res, "X-Accel-Redirect", loc);
	res->delegated = 1;
	return 0;
}

/* serve_file answers with the stored file of variant, rel (rel_len
 * bytes, NULL: none) relative to data_dir: handed to the web server when
 * it can send files itself, else streamed, honouring Range. */
static int serve_file(struct app *app, struct http_request *req, struct http_response *res,
		      const char *id, const char *variant, const char *rel, size_t rel_len,
		      struct api_error *e)
{
	struct stat st;
	/* rel is NUL-terminated (download_ctx) */
	const char *path[] = { app->cfg->data_dir, "/", rel ? rel : "" };
	if (rel == NULL || rel_len < 8 || memcmp(rel, "content/", 8) != 0 ||
	    memmem(rel, rel_len, "..", 2) != NULL || rel_len > INT_MAX ||
	    str_join(res->file_buf, sizeof(res->file_buf), path, 3) < 0 ||
	    stat(res->file_buf, &st) < 0 || !S_ISREG(st.st_mode)) {
		api_error_set(e, 404, "not_found", "variant", "Video '%s' has no stored %s.", id,
			      variant);
		return -1;
	}
	res->status = 200;
	res->content_type = variant_type(variant);
	char disp[128];
	const char *ext = strcmp(variant, "video") == 0	      ? "mp4"
			  : strcmp(variant, "thumbnail") == 0 ? "webp"
							      : "jpg";
	const char *dp[] = { "inline; filename=\"", id, ".", ext, "\"" };
	if (str_join(disp, sizeof(disp), dp, 5) == 0)
		http_header(res, "Content-Disposition", disp);
	if (app->cfg->delivery == DELIVERY_X_ACCEL) {
		char loc[4300];
		const char *lp[] = { app->cfg->accel_prefix, rel + 8 };
		if (str_join(loc, sizeof(loc), lp, 2) < 0) {
			api_error_set(e, 404, "not_found", "variant",
				      "Video '%s' has no stored %s.", id, variant);
			return -1;
		}
		http_header(res, "X-Accel-Redirect", loc);
		res->delegated = 1;
		return 0;
	}
	if (app->cfg->delivery == DELIVERY_X_SENDFILE) {
		http_header(res, "X-Sendfile", res->file_buf);
		res->delegated = 1;
		return 0;
	}
	long long size = (long long)st.st_size, start = 0, end = size - 1;
	http_header(res, "Accept-Ranges", "bytes");
	int r = http_parse_range(req->range, size, &start, &end);
	if (r < 0) {
		char cr[64];
		snprintf(cr, sizeof(cr), "bytes */%lld", size);
		http_header(res, "Content-Range", cr);
		api_error_set(e, 416, "range_not_satisfiable", NULL,
			      "The requested range is outside the file (%lld bytes).", size);
		return -1;
	}
	if (r > 0) {
		char cr[96];
		snprintf(cr, sizeof(cr), "bytes %lld-%lld/%lld", start, end, size);
		http_header(res, "Content-Range", cr);
		res->status = 206;
	}
	res->file_path = res->file_buf;
	res->file_offset = start;
	res->file_length = size == 0 ? 0 : end - start + 1;
	return 0;
}

/* A download is authorised and answered from the video's download entry
 * (download.h), never its record: what the entry says is copied out while
 * the store's read transaction holds its bytes. */
struct download_ctx {
	const char *owner, *variant;
	enum { DL_UNREADABLE, DL_NOT_OWNED, DL_NOT_READY, DL_EXPIRED, DL_READY } state;
	char status[256]; /* DL_NOT_READY: the status, "unknown" when none */
	/* DL_READY: the variant's stored file and object key, where it has
	 * them (NUL-terminated copies) */
	int has_file, has_object;
	char file[4200], object[S3_KEY_MAX];
	size_t file_len;
};

/* copy_ref copies the reference r into out (size bytes) as a string: 1,
 * or 0 when it does not fit or holds a NUL (no path serve_file would take,
 * no key the store wrote: answered as none). */
static int copy_ref(const struct download_ref *r, char *out, size_t size)
{
	if (r->ref_len >= size || memchr(r->ref, '\0', r->ref_len) != NULL)
		return 0;
	memcpy(out, r->ref, r->ref_len);
	out[r->ref_len] = '\0';
	return 1;
}

static int take_download(const void *data, size_t len, void *arg)
{
	struct download_ctx *c = arg;
	struct download d;
	struct download_ref r;
	if (download_read(data, len, &d) < 0) {
		c->state = DL_UNREADABLE;
		return 0;
	}
	if (!download_owned_by(&d, c->owner)) {
		c->state = DL_NOT_OWNED;
	} else if (!download_status_is(&d, "completed")) {
		c->state = DL_NOT_READY;
		snprintf(c->status, sizeof(c->status), "%.*s", d.status ? (int)d.status_len : 7,
			 d.status ? d.status : "unknown");
	} else if (d.expired) {
		c->state = DL_EXPIRED;
	} else {
		c->state = DL_READY;
		size_t pos = 0;
		size_t vlen = strlen(c->variant);
		while (download_next(&d, &pos, &r) == 0) {
			if (r.name_len != vlen || memcmp(r.name, c->variant, vlen) != 0)
				continue;
			if (r.kind == DOWNLOAD_FILE && !c->has_file) {
				c->has_file = copy_ref(&r, c->file, sizeof(c->file));
				c->file_len = c->has_file ? r.ref_len : 0;
			} else if (r.kind == DOWNLOAD_OBJECT && !c->has_object) {
				c->has_object = copy_ref(&r, c->object, sizeof(c->object));
			}
		}
	}
	return 0;
}

static void handle_content(struct app *app, struct http_request *req, struct http_response *res,
			   const struct route_match *m, const char *owner)
{
	struct api_error e;
	struct form q;
	form_init(&q);
	const char *variant = NULL;
	if (api_parse_query(req, &q, &e) < 0 || api_query_param(&q, "variant", &variant, &e) < 0)
		goto fail;
	if (variant == NULL)
		variant = "video";
	if (strcmp(variant, "video") != 0 && strcmp(variant, "thumbnail") != 0 &&
	    strcmp(variant, "spritesheet") != 0) {
		api_error_set(&e, 400, "invalid_value", "variant",
			      "'variant' must be \"video\", \"thumbnail\" or \"spritesheet\".");
		goto fail;
	}
	if (!m->id_valid) {
		bad_id(&e);
		goto fail;
	}
	struct download_ctx c = { .owner = owner, .variant = variant };
	enum rg_err err = store_video_download(app->st, m->id, take_download, &c);
	if (err == RG_OK && c.state == DL_UNREADABLE)
		err = RG_ECORRUPT;
	/* Another key's video is answered exactly like a missing one. */
	if (err == RG_ENOENT || (err == RG_OK && c.state == DL_NOT_OWNED)) {
		not_found(&e, m->id);
		goto fail;
	}
	if (err != RG_OK) {
		api_error_from_rg(&e, err);
		goto fail;
	}
	if (c.state == DL_NOT_READY) {
		api_error_set(
			&e, 404, "video_not_ready", "video_id",
			"Video '%s' has no content yet: its status is %s. Download it once its status is completed.",
			m->id, c.status);
		goto fail;
	}
	if (c.state == DL_EXPIRED) {
		api_error_set(
			&e, 404, "video_expired", "video_id",
			"The content of video '%s' expired and was removed; create the video again.",
			m->id);
		goto fail;
	}
	if (app->cfg->store == STORE_S3 && c.has_object) {
		if (serve_object(app, res, m->id, variant, c.object, &e) < 0)
			goto fail;
	} else if (serve_file(app, req, res, m->id, variant, c.has_file ? c.file : NULL,
			      c.has_file ? c.file_len : 0, &e) < 0) {
		goto fail;
	}
	form_deinit(&q);
	return;
fail:
	http_error(res, &e);
	form_deinit(&q);
}

/* ---- models ------------------------------------------------------------------------ */

static struct json_object *size_json(int w, int h)
{
	char t[32];
	snprintf(t, sizeof(t), "%dx%d", w, h);
	return json_object_new_string(t);
}

static struct json_object *seconds_json(int s)
{
	char t[16];
	snprintf(t, sizeof(t), "%d", s);
	return json_object_new_string(t);
}

static void add_int(struct json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

/* add_seconds: the durations config_model_allows_seconds accepts: the
 * model's list, ascending, as strings (as a create sends `seconds`), or
 * null for a range; its bounds either way. */
static void add_seconds(struct json_object *o, const struct model_cfg *mc)
{
	int lo = mc->seconds_min, hi = mc->seconds_max;
	struct json_object *list = NULL;
	if (mc->nseconds > 0) {
		list = json_object_new_array();
		lo = 0;
		/* each next larger one: lists are short, and may repeat */
		for (int prev = 0;;) {
			int next = 0;
			for (size_t i = 0; i < mc->nseconds; i++)
				if (mc->seconds[i] > prev && (next == 0 || mc->seconds[i] < next))
					next = mc->seconds[i];
			if (next == 0)
				break;
			json_object_array_add(list, seconds_json(next));
			lo = lo ? lo : next;
			hi = prev = next;
		}
	}
	json_object_object_add(o, "seconds", list);
	add_int(o, "seconds_min", lo);
	add_int(o, "seconds_max", hi);
	json_object_object_add(o, "default_seconds", seconds_json(mc->default_seconds));
}

/* add_sizes: the sizes config_model_allows_size accepts: the model's list
 * in its order, or null for any even WxH from 16x16 to the maxima; the
 * bounds either way (a list's smallest and largest widths and heights). */
static void add_sizes(struct json_object *o, const struct model_cfg *mc)
{
	int minw = 16, minh = 16, maxw = mc->max_width, maxh = mc->max_height;
	struct json_object *list = NULL;
	if (mc->nsizes > 0) {
		list = json_object_new_array();
		minw = maxw = mc->sizes[0];
		minh = maxh = mc->sizes[1];
		for (size_t i = 0; i < mc->nsizes; i++) {
			int w = mc->sizes[2 * i], h = mc->sizes[2 * i + 1];
			json_object_array_add(list, size_json(w, h));
			minw = w < minw ? w : minw;
			maxw = w > maxw ? w : maxw;
			minh = h < minh ? h : minh;
			maxh = h > maxh ? h : maxh;
		}
	}
	json_object_object_add(o, "sizes", list);
	add_int(o, "min_width", minw);
	add_int(o, "min_height", minh);
	add_int(o, "max_width", maxw);
	add_int(o, "max_height", maxh);
	json_object_object_add(o, "default_size", size_json(mc->default_width, mc->default_height));
}

/* price_json: the model's price as usage_charge reads it (an amount of 0
 * is no price there, so it is left out here too), or NULL. */
static struct json_object *price_json(const struct price_cfg *p, const char *currency)
{
	if (!p->set)
		return NULL;
	struct json_object *o = json_object_new_object(), *tiers = NULL;
	json_object_object_add(o, "currency", json_object_new_string(currency ? currency : "USD"));
	if (p->per_second)
		json_object_object_add(o, "per_second", usage_money_json(p->per_second));
	for (int t = 0; t < USAGE_TIERS; t++) {
		if (!p->tier_set[t])
			continue;
		if (tiers == NULL)
			tiers = json_object_new_object();
		json_object_object_add(tiers, usage_tier_names[t],
				       usage_money_json(p->tier_per_second[t]));
	}
	if (tiers != NULL)
		json_object_object_add(o, "per_second_by_tier", tiers);
	if (p->per_video)
		json_object_object_add(o, "per_video", usage_money_json(p->per_video));
	return o;
}

/* capabilities_json: what a create with the model may ask for, as
 * validate.c checks it: durations, sizes, fps, n, the prompt's length, an
 * image's bytes; and what it costs. */
static struct json_object *capabilities_json(const struct config *cfg, const struct model_cfg *mc)
{
	struct json_object *o = json_object_new_object();
	add_seconds(o, mc);
	add_sizes(o, mc);
	add_int(o, "default_fps", mc->default_fps);
	add_int(o, "max_fps", mc->max_fps);
	add_int(o, "max_n", cfg->max_n);
	add_int(o, "max_prompt_chars", (int64_t)cfg->max_prompt_chars);
	add_int(o, "max_image_bytes", (int64_t)cfg->max_image_bytes);
	json_object_object_add(o, "price", price_json(&mc->price, cfg->currency));
	return o;
}

/* model_json: OpenAI's model object, plus the operations the model
 * supports (ops.h): "create", "remix", "edit", "extend", "characters";
 * and its capabilities. */
static struct json_object *model_json(const struct config *cfg, const struct model_cfg *mc)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(mc->name));
	json_object_object_add(o, "object", json_object_new_string("model"));
	json_object_object_add(o, "created", json_object_new_int64(0));
	json_object_object_add(o, "owned_by", json_object_new_string("reelgate"));
	json_object_object_add(o, "operations", model_operations_json(cfg, mc));
	json_object_object_add(o, "capabilities", capabilities_json(cfg, mc));
	return o;
}

static void handle_models(struct app *app, struct http_response *res)
{
	struct json_object *out = json_object_new_object(), *data = json_object_new_array();
	for (size_t i = 0; i < app->cfg->nmodels; i++)
		json_object_array_add(data, model_json(app->cfg, &app->cfg->models[i]));
	json_object_object_add(out, "object", json_object_new_string("list"));
	json_object_object_add(out, "data", data);
	http_json(res, out);
	json_object_put(out);
}

static void handle_model(struct app *app, struct http_response *res, const struct route_match *m)
{
	const struct model_cfg *mc = config_model(app->cfg, m->id);
	if (mc == NULL) {
		struct api_error e;
		api_error_set(&e, 404, "model_not_found", "model",
			      "The model '%.100s' does not exist.", m->id);
		http_error(res, &e);
		return;
	}
	struct json_object *o = model_json(app->cfg, mc);
	http_json(res, o);
	json_object_put(o);
}

/* ---- dispatch ----------------------------------------------------------------------- */

enum route api_handle(struct app *app, struct http_request *req, struct http_response *res)
{
	struct api_error e;
	struct route_match m;
	const char *allow;
	char owner[ID_MAX];
	struct key_limits lim;
	if (router_match(req->method, req->path, &m, &e, &allow) < 0) {
		if (allow)
			http_header(res, "Allow", allow);
		http_error(res, &e);
		return m.route;
	}
	if (m.route == ROUTE_METRICS) { /* its own bearer token, not an API key */
		metrics_serve(app, req, res);
		return m.route;
	}
	/* A download only reads: the key and the download entry from one
	 * read transaction. */
	int hold = m.route == ROUTE_VIDEO_CONTENT;
	if (hold)
		store_read_hold(app->st);
	if (auth_check(app->st, &app->auth, req->authorization, owner, &lim, &e) < 0) {
		if (hold)
			store_read_release(app->st);
		if (req->authorization == NULL && req->behind_apache && e.code == NULL)
			snprintf(
				e.message + strlen(e.message),
				sizeof(e.message) - strlen(e.message),
				" (Behind Apache, set CGIPassAuth On so the header reaches reelgate.)");
		http_error(res, &e);
		return m.route;
	}
	char base_url[1024];
	const char *bp[] = { req->base_url, m.prefix };
	if (str_join(base_url, sizeof(base_url), bp, 2) < 0)
		base_url[0] = '\0'; /* cannot be: public_url <= 512, prefix < 256 */
	switch (m.route) {
	case ROUTE_VIDEOS_CREATE: handle_create(app, req, res, owner, &lim, base_url); break;
	case ROUTE_VIDEOS_LIST: handle_list(app, req, res, owner, base_url); break;
	case ROUTE_VIDEO_GET: handle_get(app, res, &m, owner, base_url); break;
	case ROUTE_VIDEO_DELETE: handle_delete(app, req, res, &m, owner); break;
	case ROUTE_VIDEO_CONTENT: handle_content(app, req, res, &m, owner); break;
	case ROUTE_VIDEO_REMIX: handle_remix(app, req, res, &m, owner, &lim, base_url); break;
	case ROUTE_MODELS_LIST: handle_models(app, res); break;
	case ROUTE_MODEL_GET: handle_model(app, res, &m); break;
	case ROUTE_FILES_CREATE: files_create(app, req, res, owner); break;
	case ROUTE_FILES_LIST: files_list(app, req, res, owner); break;
	case ROUTE_FILE_GET: files_get(app, res, &m, owner); break;
	case ROUTE_FILE_DELETE: files_delete(app, req, res, &m, owner); break;
	case ROUTE_FILE_CONTENT: files_content(app, res, &m, owner); break;
	case ROUTE_VIDEO_EDIT: ops_edit(app, req, res, owner, &lim, base_url); break;
	case ROUTE_VIDEO_EXTEND: ops_extend(app, req, res, owner, &lim, base_url); break;
	case ROUTE_CHARACTER_CREATE: ops_character_create(app, req, res, owner); break;
	case ROUTE_CHARACTER_GET: ops_character_get(app, res, &m, owner); break;
	case ROUTE_USAGE_VIDEOS: usage_api_videos(app, req, res, owner); break;
	case ROUTE_METRICS:
	case ROUTE_COUNT:
	case ROUTE_NONE: break;
	}
	if (hold)
		store_read_release(app->st);
	return m.route;
}
