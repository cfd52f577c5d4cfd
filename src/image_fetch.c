/*
 * image_fetch: input images given as a URL, downloaded and stored as an
 * upload for the backends that need a file (see image_fetch.h).
 */
#include "image_fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "log.h"
#include "record.h"
#include "task.h"
#include "validate.h"

#define FETCH_PATH_MAX 700 /* data_dir is at most 512 bytes (config.c) */

static const char *const try_instead =
	"Give a URL this server can reach that serves the image itself, or send the image as a file or base64.";

static struct json_object *image_of(struct json_object *rec)
{
	return rec_obj(rec_obj(rec, "params"), "image");
}

/* url_without_file: rec's image is a URL not yet stored. */
static int url_without_file(struct json_object *rec)
{
	struct json_object *img = image_of(rec);
	return img != NULL && rec_str(img, "url") != NULL && rec_str(img, "path") == NULL;
}

int image_fetch_needed(const struct backend_cfg *b, struct json_object *rec)
{
	return b != NULL && b->module != NULL && (b->module->caps & BCAP_IMAGE_FILE) &&
	       url_without_file(rec);
}

static void part_path(const struct image_fetches *f, const char *id, char *out, size_t n)
{
	snprintf(out, n, "%s/tmp/image-%s.part", f->cfg->data_dir, id);
}

void image_fetch_init(struct image_fetches *f, const struct config *cfg, struct store *st,
		      CURLM *multi)
{
	memset(f, 0, sizeof(*f));
	f->cfg = cfg;
	f->st = st;
	f->multi = multi;
	for (int i = 0; i < IMAGE_FETCH_MAX; i++)
		f->slot[i].fd = -1;
	char dir[FETCH_PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/uploads", cfg->data_dir);
	mkdir(dir, 0755); /* the workers make it too; whoever comes first */
}

/* discard_part closes and removes a slot's download file.  A failure is
 * recorded only after this: whoever sees the task failed finds nothing of
 * it left in data_dir. */
static void discard_part(struct image_fetches *f, struct image_fetch *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	char part[FETCH_PATH_MAX];
	part_path(f, s->id, part, sizeof(part));
	unlink(part);
}

/* release ends a slot's download and frees the slot (its task is left as
 * it is on record). */
static void release(struct image_fetches *f, struct image_fetch *s)
{
	if (s->xfer) {
		curl_multi_remove_handle(f->multi, s->xfer->easy);
		transfer_free(s->xfer);
		s->xfer = NULL;
	}
	discard_part(f, s);
	s->id[0] = '\0';
}

void image_fetch_deinit(struct image_fetches *f)
{
	for (int i = 0; i < IMAGE_FETCH_MAX; i++)
		if (f->slot[i].id[0])
			release(f, &f->slot[i]);
}

void image_fetch_cancel(struct image_fetches *f, const char *id)
{
	for (int i = 0; i < IMAGE_FETCH_MAX; i++)
		if (strcmp(f->slot[i].id, id) == 0) {
			log_info("image_fetch_cancelled", "video=%s", id);
			release(f, &f->slot[i]);
		}
}

/* ---- the record ------------------------------------------------------------ */

/* What one record change is to be: the stored file, or a failure. */
struct change {
	const char *rel, *ext;	/* the file, relative to data_dir */
	const char *code, *msg; /* or the failure */
	const char *data_dir;	/* what task_fail scrubs out of msg */
	int applied;		/* the task was queued and is changed */
};

static void apply_change(struct json_object *rec, size_t i, void *arg)
{
	struct change *c = arg;
	(void)i;
	if (task_status(rec) != TASK_QUEUED || !url_without_file(rec))
		return; /* failed (deadline) meanwhile, or started by another */
	if (c->code) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		task_fail(rec, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, c->code, c->msg,
			  c->data_dir);
	} else {
		struct json_object *img = image_of(rec);
		json_object_object_add(img, "path", json_object_new_string(c->rel));
		json_object_object_add(img, "ext", json_object_new_string(c->ext));
	}
	c->applied = 1;
}

/* write_change makes c in the task's record in one write; 0 when applied. */
static int write_change(struct image_fetches *f, const char *id, struct change *c)
{
	char ids[1][ID_MAX];
	int gone = 0;
	snprintf(ids[0], ID_MAX, "%s", id);
	enum rg_err err = store_videos_modify(f->st, ids, 1, apply_change, c, &gone);
	if (err != RG_OK)
		log_error("store_write_failed", "video=%s what=image err=\"%s\"", id,
			  rg_strerror(err));
	return err == RG_OK && !gone && c->applied ? 0 : -1;
}

static void fail_task(struct image_fetches *f, const char *id, const char *code, const char *msg)
{
	struct change c = { .code = code, .msg = msg, .data_dir = f->cfg->data_dir };
	if (write_change(f, id, &c) == 0)
		log_info("video_failed", "video=%s code=%s", id, code);
}

/* ---- starting ------------------------------------------------------------------ */

static struct image_fetch *free_slot(struct image_fetches *f)
{
	for (int i = 0; i < IMAGE_FETCH_MAX; i++)
		if (f->slot[i].id[0] == '\0')
			return &f->slot[i];
	return NULL;
}

static int fetching(const struct image_fetches *f, const char *id)
{
	for (int i = 0; i < IMAGE_FETCH_MAX; i++)
		if (strcmp(f->slot[i].id, id) == 0)
			return 1;
	return 0;
}

static struct transfer *new_transfer(const struct image_fetches *f, const char *url, int fd)
{
	struct http_req req;
	http_req_init(&req);
	snprintf(req.url, sizeof(req.url), "%s", url); /* validate.c: at most 2048 bytes */
	long timeout = f->cfg->image_url_timeout_ms;
	struct transfer_limits lim = {
		.connect_timeout_ms =
			timeout < IMAGE_FETCH_CONNECT_MS ? timeout : IMAGE_FETCH_CONNECT_MS,
		.timeout_ms = timeout,
		.max_bytes = f->cfg->max_image_bytes,
		.max_redirects = IMAGE_FETCH_REDIRECTS,
		.policy = &f->cfg->image_url_policy,
	};
	struct transfer *t = transfer_new(&req, &lim, fd);
	http_req_deinit(&req);
	return t;
}

int image_fetch_start(struct image_fetches *f, struct json_object *rec)
{
	const char *id = rec_str(rec, "id");
	struct json_object *img = image_of(rec);
	const char *url = rec_str(img, "url"), *param = rec_str(img, "param");
	if (id == NULL || url == NULL || fetching(f, id))
		return 0;
	struct image_fetch *s = free_slot(f);
	if (s == NULL)
		return -1;
	char part[FETCH_PATH_MAX];
	part_path(f, id, part, sizeof(part));
	int fd = open(part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_error("image_fetch_failed", "video=%s errno=%d", id, errno);
		fail_task(f, id, "storage_error", "The server could not store the input image.");
		return 0;
	}
	struct transfer *t = new_transfer(f, url, fd);
	if (t == NULL) {
		close(fd);
		unlink(part);
		return -1;
	}
	snprintf(s->id, sizeof(s->id), "%s", id);
	snprintf(s->param, sizeof(s->param), "%s", param ? param : "input_reference");
	s->xfer = t;
	s->fd = fd;
	t->owner = s;
	curl_multi_add_handle(f->multi, t->easy);
	log_info("image_fetch_started", "video=%s", id);
	return 0;
}

/* ---- finishing --------------------------------------------------------------------- */

/* why_failed says, in words for the caller, why the download failed; 0
 * when it did not.  Nothing of the server's is named: no path, no address
 * the caller did not send. */
static int why_failed(const struct image_fetches *f, const struct transfer *t, char *out, size_t n)
{
	if (t->blocked)
		snprintf(out, n,
			 "its host is on a private, loopback or link-local network, "
			 "which this server does not fetch from");
	else if (t->result == CURLE_UNSUPPORTED_PROTOCOL)
		snprintf(out, n, "it redirects to a URL that is not http or https");
	else if (t->result == CURLE_TOO_MANY_REDIRECTS)
		snprintf(out, n, "it redirects more than %d times", IMAGE_FETCH_REDIRECTS);
	else if (t->status >= 400)
		snprintf(out, n, "HTTP %ld", t->status);
	else if (t->too_big)
		snprintf(out, n, "the image is larger than the limit of %zu bytes",
			 f->cfg->max_image_bytes);
	else if (t->result == CURLE_OPERATION_TIMEDOUT)
		snprintf(out, n, "no complete answer within %ld seconds",
			 f->cfg->image_url_timeout_ms / 1000);
	else if (t->result == CURLE_COULDNT_RESOLVE_HOST)
		snprintf(out, n, "its host name could not be resolved");
	else if (t->result == CURLE_COULDNT_CONNECT)
		snprintf(out, n, "its host refused the connection or could not be reached");
	else if (t->result != CURLE_OK)
		snprintf(out, n, "%s", curl_easy_strerror(t->result));
	else if (t->status != 200)
		snprintf(out, n, "HTTP %ld", t->status);
	else
		return 0;
	return 1;
}

/* sniff tells the downloaded image's type by its first bytes (NULL: not a
 * PNG, JPEG or WebP image). */
static const char *sniff(int fd)
{
	uint8_t head[16];
	ssize_t n = pread(fd, head, sizeof(head), 0);
	return n > 0 ? validate_image_type(head, (size_t)n) : NULL;
}

/* store_upload moves the synced download to uploads/ID.EXT (rel receives
 * that, relative to data_dir); the name is the task's, so a download made
 * again after a crash replaces the file instead of leaving a second one. */
static int store_upload(struct image_fetches *f, struct image_fetch *s, const char *ext, char *rel,
			size_t reln)
{
	char part[FETCH_PATH_MAX], path[FETCH_PATH_MAX + ID_MAX], dir[FETCH_PATH_MAX];
	part_path(f, s->id, part, sizeof(part));
	snprintf(rel, reln, "uploads/%s.%s", s->id, ext);
	snprintf(path, sizeof(path), "%s/%s", f->cfg->data_dir, rel);
	snprintf(dir, sizeof(dir), "%s/uploads", f->cfg->data_dir);
	if (fdatasync(s->fd) < 0 || rename(part, path) < 0)
		return -1;
	if (fsync_dir(dir) < 0) {
		unlink(path);
		return -1;
	}
	return 0;
}

/* keep stores and records the image of a good download. */
static void keep(struct image_fetches *f, struct image_fetch *s, const char *ext)
{
	char rel[ID_MAX + 32];
	if (store_upload(f, s, ext, rel, sizeof(rel)) < 0) {
		log_error("image_store_failed", "video=%s errno=%d", s->id, errno);
		discard_part(f, s);
		fail_task(f, s->id, "storage_error", "The server could not store the input image.");
		return;
	}
	struct change c = { .rel = rel, .ext = ext };
	if (write_change(f, s->id, &c) < 0) {
		char path[FETCH_PATH_MAX + ID_MAX];
		snprintf(path, sizeof(path), "%s/%s", f->cfg->data_dir, rel);
		unlink(path); /* deleted, or no longer waiting for it */
		return;
	}
	log_info("image_fetched", "video=%s type=%s bytes=%zu", s->id, ext, s->xfer->got);
}

/* refuse fails the task of a download that gave no usable image. */
static void refuse(struct image_fetches *f, struct image_fetch *s, const char *why)
{
	char msg[700];
	if (why)
		snprintf(msg, sizeof(msg), "The image URL in '%s' could not be downloaded: %s. %s",
			 s->param, why, try_instead);
	else
		snprintf(msg, sizeof(msg),
			 "The image URL in '%s' did not give a PNG, JPEG or WebP image. %s",
			 s->param, try_instead);
	log_warn("image_fetch_refused", "video=%s result=%d status=%ld blocked=%d too_big=%d",
		 s->id, (int)s->xfer->result, s->xfer->status, s->xfer->blocked, s->xfer->too_big);
	discard_part(f, s);
	fail_task(f, s->id, "invalid_image", msg);
}

int image_fetch_done(struct image_fetches *f, struct transfer *t)
{
	struct image_fetch *s = NULL;
	for (int i = 0; i < IMAGE_FETCH_MAX && s == NULL; i++)
		if (f->slot[i].xfer == t)
			s = &f->slot[i];
	if (s == NULL)
		return 0;
	char why[300];
	const char *ext = NULL;
	if (why_failed(f, t, why, sizeof(why)))
		refuse(f, s, why);
	else if ((ext = sniff(s->fd)) == NULL)
		refuse(f, s, NULL);
	else
		keep(f, s, ext);
	release(f, s);
	return 1;
}
