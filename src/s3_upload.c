/*
 * s3_upload: finished results into the bucket, and deleted ones out of it
 * (s3_upload.h says how, and what is written when).
 */
#include "s3_upload.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "log.h"
#include "record.h"
#include "s3.h"
#include "task.h"

/* What a slot's request is. */
enum { K_NONE, K_HEAD, K_PUT, K_INIT, K_PART, K_COMPLETE, K_DELETE, K_ABORT, K_LIST, K_UPLOADS };

/* The order variants are sent in (the video first: the largest, and the
 * one a client waits for). */
static const char *const variants[] = { "video", "thumbnail", "spritesheet" };

#define ANSWER_MAX (1u << 20)
#define BACKOFF_MAX_MS 60000
#define PARTS_MAX 10000

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t backoff_ms(int tries)
{
	int64_t ms = 500;
	for (int i = 1; i < tries && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

void s3_uploads_init(struct s3_uploads *u, const struct config *cfg, struct store *st, CURLM *multi)
{
	memset(u, 0, sizeof(*u));
	u->cfg = cfg;
	u->st = st;
	u->multi = multi;
	if (cfg->store == STORE_S3 && cfg->s3.secret_key[0] == '\0')
		log_error("s3_unusable", "reason=\"content.s3.secret_key_env names a variable "
					 "unset in the server's environment\"");
}

static void drop_xfer(struct s3_uploads *u, struct transfer **t)
{
	if (*t) {
		curl_multi_remove_handle(u->multi, (*t)->easy);
		transfer_free(*t);
		*t = NULL;
	}
}

static void free_slot(struct s3_uploads *u, struct s3_up *s)
{
	drop_xfer(u, &s->xfer);
	free(s->body);
	memset(s, 0, sizeof(*s));
}

void s3_uploads_deinit(struct s3_uploads *u)
{
	for (int i = 0; i < S3_UPLOADS_MAX; i++)
		if (u->up[i].id[0]) {
			/* due at once for the next dispatcher */
			struct json_object *rec = NULL;
			if (store_video_get(u->st, u->up[i].id, &rec) == RG_OK) {
				json_object_object_add(rec, "due_at",
						       json_object_new_int64(wall_ms()));
				store_video_update(u->st, rec);
				json_object_put(rec);
			}
			free_slot(u, &u->up[i]);
		}
	for (int i = 0; i < S3_DELETES_MAX; i++)
		drop_xfer(u, &u->del[i].xfer);
}

static struct s3_up *slot_of(struct s3_uploads *u, const char *id)
{
	for (int i = 0; i < S3_UPLOADS_MAX; i++)
		if (u->up[i].id[0] && strcmp(u->up[i].id, id) == 0)
			return &u->up[i];
	return NULL;
}

void s3_uploads_forget(struct s3_uploads *u, const char *id)
{
	struct s3_up *s = slot_of(u, id);
	if (s)
		free_slot(u, s);
}

/* load reads the task of s with its upload: NULL when the task is gone
 * (deleted) or no longer uploading. */
static struct json_object *load(struct s3_uploads *u, const char *id)
{
	struct json_object *rec = NULL;
	enum rg_err err = store_video_get(u->st, id, &rec);
	if (err != RG_OK) {
		if (err != RG_ENOENT)
			log_error("store_read_failed", "video=%s err=\"%s\"", id, rg_strerror(err));
		return NULL;
	}
	if (!task_is_uploading(rec)) {
		json_object_put(rec);
		return NULL;
	}
	return rec;
}

/* save writes rec with a fresh lease: 0, or -1 (the task was deleted, or
 * the write failed: either way the step is not taken now). */
static int save(struct s3_uploads *u, struct json_object *rec)
{
	json_object_object_add(rec, "due_at", json_object_new_int64(wall_ms() + TASK_LEASE_MS));
	enum rg_err err = store_video_update(u->st, rec);
	if (err != RG_OK && err != RG_ENOENT)
		log_error("store_write_failed", "video=%s err=\"%s\"", rec_str(rec, "id"),
			  rg_strerror(err));
	return err == RG_OK ? 0 : -1;
}

static struct json_object *obj_of(struct json_object *rec, const char *variant)
{
	return rec_obj(rec_obj(rec_obj(rec, "upload"), "objects"), variant);
}

static void set_state(struct json_object *o, const char *state)
{
	json_object_object_add(o, "state", json_object_new_string(state));
}

/* ---- requests ------------------------------------------------------------ */

/* build signs a request to key (NULL: the bucket) into req. */
static int build(const struct s3_config *c, const char *method, const char *key,
		 const struct s3_param *q, size_t nq, const char *payload_hash,
		 struct http_req *req)
{
	struct s3_loc *loc = malloc(sizeof(*loc));
	if (loc == NULL || s3_locate(c, key, loc) < 0) {
		free(loc);
		return -1;
	}
	char date[17], auth[1024];
	time_t now = time(NULL);
	s3_amz_date(now, date);
	const struct s3_param h[] = { { "x-amz-content-sha256", payload_hash },
				      { "x-amz-date", date } };
	struct s3_req r = { .method = method,
			    .host = loc->host,
			    .path = loc->path,
			    .query = q,
			    .nquery = nq,
			    .headers = h,
			    .nheaders = 2,
			    .payload_hash = payload_hash,
			    .region = c->region,
			    .access_key = c->access_key,
			    .secret_key = c->secret_key,
			    .now = now };
	struct buf qs;
	buf_init(&qs, S3_URL_MAX);
	int rc = s3_authorization(&r, auth, sizeof(auth));
	for (size_t i = 0; rc == 0 && i < nq; i++) {
		rc = buf_puts(&qs, i ? "&" : "?") < 0 || buf_pct_encode(&qs, q[i].name, 0) < 0 ||
				     buf_putc(&qs, '=') < 0 ||
				     buf_pct_encode(&qs, q[i].value, 0) < 0
			     ? -1
			     : 0;
	}
	if (rc == 0) {
		http_req_init(req);
		snprintf(req->method, sizeof(req->method), "%s", method);
		int w = snprintf(req->url, sizeof(req->url), "%s%s", loc->url,
				 qs.data ? qs.data : "");
		if (w < 0 || (size_t)w >= sizeof(req->url) ||
		    http_req_header(req, "x-amz-date", date) < 0 ||
		    http_req_header(req, "x-amz-content-sha256", payload_hash) < 0 ||
		    http_req_header(req, "Expect", "") < 0 ||
		    http_req_secret_header(req, "Authorization", auth) < 0) {
			http_req_deinit(req);
			rc = -1;
		}
	}
	OPENSSL_cleanse(auth, sizeof(auth));
	buf_deinit(&qs);
	free(loc);
	return rc;
}

static size_t on_read(char *out, size_t size, size_t n, void *arg)
{
	struct s3_up *s = arg;
	size_t want = size * n, left = s->body_len - s->body_off;
	if (want > left)
		want = left;
	memcpy(out, s->body + s->body_off, want);
	s->body_off += want;
	return want;
}

/* send_req adds req to the multi handle as s's request of kind k (body:
 * s->body for PUT). */
static int send_req(struct s3_uploads *u, struct s3_up *s, int k, struct http_req *req)
{
	struct transfer_limits lim = { 10000, 600000, ANSWER_MAX, 0, &u->cfg->s3.policy };
	struct transfer *t = transfer_new(req, &lim, -1);
	http_req_deinit(req);
	if (t == NULL)
		return -1;
	if (k == K_HEAD)
		curl_easy_setopt(t->easy, CURLOPT_NOBODY, 1L);
	if (k == K_PUT || k == K_PART) {
		s->body_off = 0;
		curl_easy_setopt(t->easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(t->easy, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(t->easy, CURLOPT_READDATA, s);
		curl_easy_setopt(t->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->body_len);
	}
	t->owner = s;
	t->phase = k;
	if (curl_multi_add_handle(u->multi, t->easy) != CURLM_OK) {
		transfer_free(t);
		return -1;
	}
	s->xfer = t;
	s->kind = k;
	return 0;
}

/* read_body reads len bytes at off of the variant's file into s->body
 * and hashes them into sha (hex). */
static int read_body(struct s3_uploads *u, struct s3_up *s, const char *rel, off_t off, size_t len,
		     char sha[65])
{
	char path[1200];
	snprintf(path, sizeof(path), "%s/%s", u->cfg->data_dir, rel);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	free(s->body);
	s->body = malloc(len ? len : 1);
	size_t got = 0;
	while (s->body && got < len) {
		ssize_t n = pread(fd, s->body + got, len - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (s->body == NULL || got != len)
		return -1;
	s->body_len = len;
	unsigned char md[32];
	unsigned int mdl = 0;
	EVP_Digest(s->body, len, md, &mdl, EVP_sha256(), NULL);
	codec_hex(md, 32, sha);
	return 0;
}

static void fail_slot(struct s3_up *s, const char *what)
{
	s->tries++;
	s->next_at = mono_ms() + backoff_ms(s->tries);
	log_warn("s3_upload_retry", "video=%s variant=%s what=\"%s\" tries=%d in_ms=%lld", s->id,
		 s->variant, what, s->tries, (long long)backoff_ms(s->tries));
}

/* finish completes the task: every object stored. */
static void finish(struct s3_uploads *u, struct s3_up *s, struct json_object *rec)
{
	struct json_object *objs = json_object_new_object(), *files = NULL;
	struct json_object *up = rec_obj(rec_obj(rec, "upload"), "objects");
	char *paths[3] = { 0 };
	int np = 0;
	json_object_object_foreach(up, variant, o) {
		json_object_object_add(objs, variant, json_object_new_string(rec_str(o, "key")));
		const char *rel = rec_str(o, "file");
		if (rel && np < 3 && asprintf(&paths[np], "%s/%s", u->cfg->data_dir, rel) > 0)
			np++;
	}
	json_object_object_del(rec, "upload");
	task_complete(rec, wall_ms(), u->cfg->retention_seconds, files);
	json_object_object_add(rec, "objects", objs);
	if (store_video_update(u->st, rec) == RG_OK) {
		for (int i = 0; i < np; i++)
			unlink(paths[i]);
		log_info("video_completed", "video=%s store=s3", s->id);
	}
	for (int i = 0; i < np; i++)
		free(paths[i]);
	free_slot(u, s);
}

static const char *content_type(const char *variant)
{
	return strcmp(variant, "thumbnail") == 0     ? "image/webp"
	       : strcmp(variant, "spritesheet") == 0 ? "image/jpeg"
						     : "video/mp4";
}

/* step sends the next request of s's upload, reading its record. */
static void step(struct s3_uploads *u, struct s3_up *s)
{
	struct json_object *rec = load(u, s->id);
	if (rec == NULL) {
		free_slot(u, s); /* deleted: its delete queued what was sent */
		return;
	}
	const struct s3_config *c = &u->cfg->s3;
	struct json_object *o = NULL;
	for (size_t i = 0; i < 3; i++) {
		struct json_object *x = obj_of(rec, variants[i]);
		const char *st = rec_str(x, "state");
		if (x && (st == NULL || strcmp(st, "done") != 0)) {
			o = x;
			snprintf(s->variant, sizeof(s->variant), "%s", variants[i]);
			break;
		}
	}
	if (o == NULL) {
		finish(u, s, rec);
		json_object_put(rec);
		return;
	}
	const char *state = rec_str(o, "state") ? rec_str(o, "state") : "pending";
	const char *key = rec_str(o, "key"), *rel = rec_str(o, "file");
	int64_t size = rec_i64(o, "size");
	struct http_req req;
	char sha[65];
	int rc = -1;
	if (key == NULL || rel == NULL || size < 0) {
		log_error("s3_upload_bad_record", "video=%s variant=%s", s->id, s->variant);
		json_object_put(rec);
		fail_slot(s, "bad record");
		return;
	}
	if (strcmp(state, "put") == 0) {
		/* a PUT whose answer was lost: is the object there? */
		rc = build(c, "HEAD", key, NULL, 0, S3_EMPTY_SHA256, &req);
		if (rc == 0)
			rc = send_req(u, s, K_HEAD, &req);
	} else if (strcmp(state, "pending") == 0 && (size_t)size <= c->part_bytes) {
		set_state(o, "put");
		if (read_body(u, s, rel, 0, (size_t)size, sha) < 0) {
			log_error("s3_upload_unreadable", "video=%s variant=%s", s->id, s->variant);
			json_object_put(rec);
			fail_slot(s, "file unreadable");
			return;
		}
		if (save(u, rec) == 0 && build(c, "PUT", key, NULL, 0, sha, &req) == 0 &&
		    http_req_header(&req, "Content-Type", content_type(s->variant)) == 0)
			rc = send_req(u, s, K_PUT, &req);
	} else if (strcmp(state, "initiating") == 0 && !s->listed) {
		/* A POST ?uploads whose answer was lost (a crash, a cut
		 * connection) may have opened an upload: the store's open
		 * uploads of this key are asked for first
		 * (ListMultipartUploads), and one found is carried on rather
		 * than left open beside a new one. */
		const struct s3_param q[] = { { "prefix", key }, { "uploads", "" } };
		if (build(c, "GET", NULL, q, 2, S3_EMPTY_SHA256, &req) == 0)
			rc = send_req(u, s, K_UPLOADS, &req);
	} else if (strcmp(state, "pending") == 0 || strcmp(state, "initiating") == 0) {
		set_state(o, "initiating");
		const struct s3_param q[] = { { "uploads", "" } };
		if (save(u, rec) == 0 && build(c, "POST", key, q, 1, S3_EMPTY_SHA256, &req) == 0 &&
		    http_req_header(&req, "Content-Type", content_type(s->variant)) == 0)
			rc = send_req(u, s, K_INIT, &req);
	} else if (strcmp(state, "multipart") == 0) {
		struct json_object *etags = NULL;
		json_object_object_get_ex(o, "etags", &etags);
		size_t done = json_object_is_type(etags, json_type_array)
				      ? json_object_array_length(etags)
				      : 0;
		const char *uid = rec_str(o, "upload_id");
		size_t nparts = ((size_t)size + c->part_bytes - 1) / c->part_bytes;
		if (uid == NULL || nparts > PARTS_MAX) {
			set_state(o, "pending"); /* begin again */
			json_object_object_del(o, "upload_id");
			json_object_object_del(o, "etags");
			save(u, rec);
			rc = -1;
		} else if (done < nparts && !s->listed) {
			/* resumed (a new dispatcher, or the slot taken again):
			 * which parts does the store have beyond those recorded? */
			char marker[16];
			snprintf(marker, sizeof(marker), "%zu", done);
			const struct s3_param q[] = { { "part-number-marker", marker },
						      { "uploadId", uid } };
			if (build(c, "GET", key, q, 2, S3_EMPTY_SHA256, &req) == 0)
				rc = send_req(u, s, K_LIST, &req);
		} else if (done < nparts) {
			off_t off = (off_t)(done * c->part_bytes);
			size_t len = (size_t)size - (size_t)off < c->part_bytes
					     ? (size_t)size - (size_t)off
					     : c->part_bytes;
			char pn[16];
			snprintf(pn, sizeof(pn), "%zu", done + 1);
			const struct s3_param q[] = { { "partNumber", pn }, { "uploadId", uid } };
			s->part = (int)done + 1;
			if (read_body(u, s, rel, off, len, sha) == 0 &&
			    build(c, "PUT", key, q, 2, sha, &req) == 0)
				rc = send_req(u, s, K_PART, &req);
		} else {
			struct buf xml;
			buf_init(&xml, 64 + nparts * 128);
			int ok = buf_puts(&xml, "<CompleteMultipartUpload>") == 0;
			for (size_t i = 0; ok && i < nparts; i++)
				ok = buf_printf(
					     &xml,
					     "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>",
					     i + 1,
					     json_object_get_string(
						     json_object_array_get_idx(etags, i))) == 0;
			ok = ok && buf_puts(&xml, "</CompleteMultipartUpload>") == 0;
			const struct s3_param q[] = { { "uploadId", uid } };
			unsigned char md[32];
			unsigned int mdl = 0;
			if (ok) {
				EVP_Digest(xml.data, xml.len, md, &mdl, EVP_sha256(), NULL);
				codec_hex(md, 32, sha);
			}
			if (ok && build(c, "POST", key, q, 1, sha, &req) == 0) {
				buf_deinit(&req.body);
				req.body = xml;
				buf_init(&xml, 0);
				rc = send_req(u, s, K_COMPLETE, &req);
			}
			buf_deinit(&xml);
		}
	}
	json_object_put(rec);
	if (rc < 0 && s->xfer == NULL)
		fail_slot(s, "request not sent");
}

/* ---- answers ------------------------------------------------------------- */

/* adopt_parts appends to etags the parts a ListParts answer lists right
 * after those recorded, each at its expected size: parts whose answer was
 * lost (a crash, a cut connection) but which the store has.  The store
 * kept a part only if its body matched the SHA-256 we signed, so a part
 * listed at its size holds our bytes.  Returns how many were adopted. */
static size_t adopt_parts(const char *xml, size_t len, struct json_object *etags, size_t nparts,
			  size_t part_bytes, int64_t size)
{
	size_t adopted = 0;
	for (int more = 1; more;) {
		more = 0;
		size_t want = json_object_array_length(etags) + 1;
		if (want > nparts)
			break;
		size_t expect = want < nparts ? part_bytes : (size_t)size - (want - 1) * part_bytes;
		char pn[16], sz[24], etag[256];
		for (size_t i = 0; s3_xml_text(xml, len, "PartNumber", i, pn, sizeof(pn)) == 1;
		     i++) {
			if (strtoull(pn, NULL, 10) != want)
				continue;
			if (s3_xml_text(xml, len, "Size", i, sz, sizeof(sz)) == 1 &&
			    strtoull(sz, NULL, 10) == expect &&
			    s3_xml_text(xml, len, "ETag", i, etag, sizeof(etag)) == 1 && etag[0]) {
				json_object_array_add(etags, json_object_new_string(etag));
				adopted++;
				more = 1;
			}
			break;
		}
	}
	return adopted;
}

static int header_value(struct transfer *t, const char *name, char *out, size_t n)
{
	struct curl_header *h = NULL;
	if (curl_easy_header(t->easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || h == NULL)
		return -1;
	return snprintf(out, n, "%s", h->value) < (int)n ? 0 : -1;
}

static void describe(struct transfer *t, char *out, size_t n)
{
	char code[64], msg[160];
	if (t->result != CURLE_OK || t->status == 0) {
		transfer_describe(t, out, n);
		return;
	}
	s3_xml_error(t->resp.data, t->resp.len, code, sizeof(code), msg, sizeof(msg));
	snprintf(out, n, "HTTP %ld %s %s", t->status, code, msg);
}

/* upload_gone: the store no longer knows the multipart upload
 * (NoSuchUpload): the object starts over, as recorded in rec. */
static void upload_gone(struct s3_uploads *u, struct s3_up *s, struct json_object *o,
			struct json_object *rec)
{
	set_state(o, "pending");
	json_object_object_del(o, "upload_id");
	json_object_object_del(o, "etags");
	save(u, rec);
	fail_slot(s, "multipart upload gone");
}

static void answered(struct s3_uploads *u, struct s3_up *s, struct transfer *t)
{
	struct json_object *rec = load(u, s->id);
	if (rec == NULL) {
		free_slot(u, s);
		return;
	}
	struct json_object *o = obj_of(rec, s->variant);
	char why[320];
	int ok = t->result == CURLE_OK && t->status >= 200 && t->status < 300;
	if (o == NULL) {
		json_object_put(rec);
		return;
	}
	switch (s->kind) {
	case K_HEAD: {
		curl_off_t len = -1;
		curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
		if (ok && len == (curl_off_t)rec_i64(o, "size")) {
			set_state(o, "done");
			log_info("s3_upload_found", "video=%s variant=%s", s->id, s->variant);
		} else if (t->result == CURLE_OK && (t->status == 404 || ok)) {
			set_state(o, "pending"); /* not there (whole): sent again */
		} else {
			describe(t, why, sizeof(why));
			fail_slot(s, why);
			break;
		}
		if (save(u, rec) == 0)
			s->tries = 0;
		break;
	}
	case K_PUT:
	case K_COMPLETE: {
		char code[64] = "", msg[8];
		if (ok && s->kind == K_COMPLETE) /* S3 may answer 200 with an error */
			s3_xml_error(t->resp.data, t->resp.len, code, sizeof(code), msg,
				     sizeof(msg));
		if (ok && code[0] == '\0') {
			set_state(o, "done");
			json_object_object_del(o, "etags");
			if (save(u, rec) == 0) {
				s->tries = 0;
				log_info("s3_uploaded", "video=%s variant=%s bytes=%lld", s->id,
					 s->variant, (long long)rec_i64(o, "size"));
			}
		} else if (s->kind == K_COMPLETE && t->status == 404) {
			upload_gone(u, s, o, rec);
		} else {
			describe(t, why, sizeof(why));
			fail_slot(s, why);
		}
		break;
	}
	case K_LIST: {
		struct json_object *etags = NULL;
		json_object_object_get_ex(o, "etags", &etags);
		const struct s3_config *c = &u->cfg->s3;
		int64_t size = rec_i64(o, "size");
		if (ok && json_object_is_type(etags, json_type_array) && size > 0) {
			size_t nparts = ((size_t)size + c->part_bytes - 1) / c->part_bytes;
			size_t n = adopt_parts(t->resp.data, t->resp.len, etags, nparts,
					       c->part_bytes, size);
			log_info("s3_upload_resumed",
				 "video=%s variant=%s parts_recorded=%zu "
				 "parts_found=%zu of=%zu",
				 s->id, s->variant, json_object_array_length(etags) - n, n, nparts);
			s->listed = 1;
			if (n == 0 || save(u, rec) == 0)
				s->tries = 0;
		} else if (t->result == CURLE_OK && t->status == 404) {
			upload_gone(u, s, o, rec);
		} else if (t->result == CURLE_OK && t->status >= 400 && t->status < 500) {
			s->listed = 1; /* a store without ListParts: parts sent again */
		} else {
			describe(t, why, sizeof(why));
			fail_slot(s, why);
		}
		break;
	}
	case K_INIT: {
		char uid[1024];
		if (ok &&
		    s3_xml_text(t->resp.data, t->resp.len, "UploadId", 0, uid, sizeof(uid)) == 1 &&
		    uid[0]) {
			set_state(o, "multipart");
			json_object_object_add(o, "upload_id", json_object_new_string(uid));
			json_object_object_add(o, "etags", json_object_new_array());
			s->listed = 1; /* new: no part to look for */
			if (save(u, rec) == 0)
				s->tries = 0;
		} else {
			describe(t, why, sizeof(why));
			fail_slot(s, why);
		}
		break;
	}
	case K_UPLOADS: {
		const char *key = rec_str(o, "key");
		char k[1100], uid[1024];
		int found = 0;
		for (size_t i = 0;
		     ok && key && !found &&
		     s3_xml_text(t->resp.data, t->resp.len, "Key", i, k, sizeof(k)) == 1;
		     i++)
			found = strcmp(k, key) == 0 &&
				s3_xml_text(t->resp.data, t->resp.len, "UploadId", i, uid,
					    sizeof(uid)) == 1 &&
				uid[0];
		if (found) {
			set_state(o, "multipart");
			json_object_object_add(o, "upload_id", json_object_new_string(uid));
			json_object_object_add(o, "etags", json_object_new_array());
			s->listed = 1; /* no part was sent to an upload we did not know */
			log_info("s3_upload_found_open", "video=%s variant=%s", s->id, s->variant);
			if (save(u, rec) == 0)
				s->tries = 0;
		} else if (ok || (t->result == CURLE_OK && t->status >= 400 && t->status < 500)) {
			s->listed = 1; /* none open (or a store without the call): a new one */
			s->tries = 0;
		} else {
			describe(t, why, sizeof(why));
			fail_slot(s, why);
		}
		break;
	}
	case K_PART: {
		char etag[256];
		struct json_object *etags = NULL;
		json_object_object_get_ex(o, "etags", &etags);
		if (ok && header_value(t, "ETag", etag, sizeof(etag)) == 0 &&
		    json_object_is_type(etags, json_type_array) &&
		    json_object_array_length(etags) == (size_t)s->part - 1) {
			json_object_array_add(etags, json_object_new_string(etag));
			if (save(u, rec) == 0)
				s->tries = 0;
		} else if (t->status == 404) {
			upload_gone(u, s, o, rec);
		} else {
			describe(t, why, sizeof(why));
			fail_slot(s, why);
		}
		break;
	}
	}
	json_object_put(rec);
	free(s->body);
	s->body = NULL;
	s->body_len = 0;
}

/* ---- deletes ------------------------------------------------------------- */

struct pick {
	struct s3_uploads *u;
	int sent;
};

static int busy_key(struct s3_uploads *u, const char *key)
{
	for (int i = 0; i < S3_DELETES_MAX; i++)
		if (u->del[i].key[0] && strcmp(u->del[i].key, key) == 0)
			return 1;
	return 0;
}

static int send_delete(struct json_object *e, void *arg)
{
	struct pick *p = arg;
	struct s3_uploads *u = p->u;
	const char *key = rec_str(e, "key"), *uid = rec_str(e, "upload_id");
	if (key == NULL || strlen(key) >= sizeof(u->del[0].key) || busy_key(u, key) ||
	    rec_i64(e, "not_before") > wall_ms())
		return 0;
	struct s3_del *d = NULL;
	for (int i = 0; i < S3_DELETES_MAX && d == NULL; i++)
		if (u->del[i].key[0] == '\0')
			d = &u->del[i];
	if (d == NULL)
		return 1;
	if (slot_of(u, rec_str(e, "video") ? rec_str(e, "video") : ""))
		s3_uploads_forget(u, rec_str(e, "video"));
	struct http_req req;
	const struct s3_param q[] = { { "uploadId", uid ? uid : "" } };
	if (build(&u->cfg->s3, "DELETE", key, q, uid ? 1 : 0, S3_EMPTY_SHA256, &req) < 0)
		return 0;
	struct transfer_limits lim = { 10000, 60000, ANSWER_MAX, 0, &u->cfg->s3.policy };
	struct transfer *t = transfer_new(&req, &lim, -1);
	http_req_deinit(&req);
	if (t == NULL)
		return 1;
	t->owner = d;
	t->phase = uid ? K_ABORT : K_DELETE;
	if (curl_multi_add_handle(u->multi, t->easy) != CURLM_OK) {
		transfer_free(t);
		return 1;
	}
	snprintf(d->key, sizeof(d->key), "%s", key);
	d->xfer = t;
	d->abort = uid != NULL;
	struct json_object *recheck = NULL;
	d->recheck = json_object_object_get_ex(e, "recheck", &recheck) &&
		     json_object_get_boolean(recheck);
	p->sent++;
	return 0;
}

static void delete_answered(struct s3_uploads *u, struct s3_del *d, struct transfer *t)
{
	int gone = t->result == CURLE_OK &&
		   ((t->status >= 200 && t->status < 300) || t->status == 404);
	/* an abort a store does not know (405/501) is no reason to keep the
	 * object: the bucket's lifecycle rule reclaims what is left */
	int unsupported = d->abort && t->result == CURLE_OK &&
			  (t->status == 405 || t->status == 501 || t->status == 400);
	if (gone || unsupported) {
		long again = u->cfg->s3.delete_recheck_seconds;
		if (d->abort) {
			/* the upload aborted: the object's delete next */
			store_objects_edit(u->st, d->key, 0);
			u->next_delete_scan = 0;
		} else if (d->recheck && again > 0) {
			/* Its upload was under way: a PUT (or a complete) the
			 * store received before this delete may still create the
			 * object after it.  Deleted again later. */
			if (store_objects_edit(u->st, d->key, wall_ms() + again * 1000) == RG_OK)
				log_info("s3_deleted", "key=\"%s\" again_in=%lds", d->key, again);
		} else if (store_objects_done(u->st, d->key) == RG_OK) {
			log_info("s3_deleted", "key=\"%s\"", d->key);
		}
		u->del_tries = 0;
	} else {
		char why[320];
		describe(t, why, sizeof(why));
		u->del_tries++;
		u->next_delete_scan = mono_ms() + backoff_ms(u->del_tries);
		log_warn("s3_delete_retry", "key=\"%s\" what=\"%s\" tries=%d", d->key, why,
			 u->del_tries);
	}
	d->key[0] = '\0';
}

/* ---- the loop's calls ---------------------------------------------------- */

void s3_uploads_take(struct s3_uploads *u, struct json_object *rec)
{
	const char *id = rec_str(rec, "id");
	if (id == NULL || strlen(id) >= ID_MAX)
		return;
	struct s3_up *s = slot_of(u, id);
	if (s == NULL) {
		for (int i = 0; i < S3_UPLOADS_MAX && s == NULL; i++)
			if (u->up[i].id[0] == '\0')
				s = &u->up[i];
		if (s == NULL)
			return; /* every slot busy: due again at the next scan */
		snprintf(s->id, sizeof(s->id), "%s", id);
		s->next_at = 0;
	}
	/* the lease: the scan passes over it while it is this part's */
	json_object_object_add(rec, "due_at", json_object_new_int64(wall_ms() + TASK_LEASE_MS));
	store_video_update(u->st, rec);
}

void s3_uploads_tick(struct s3_uploads *u, int64_t now_ms)
{
	if (u->cfg->store != STORE_S3 || u->cfg->s3.secret_key[0] == '\0')
		return;
	for (int i = 0; i < S3_UPLOADS_MAX; i++) {
		struct s3_up *s = &u->up[i];
		if (s->id[0] && s->xfer == NULL && now_ms >= s->next_at)
			step(u, s);
	}
	if (now_ms >= u->next_delete_scan) {
		struct pick p = { u, 0 };
		store_objects_pending(u->st, send_delete, &p);
		u->next_delete_scan = now_ms + 1000;
	}
}

int64_t s3_uploads_due_at(const struct s3_uploads *u)
{
	if (u->cfg == NULL || u->cfg->store != STORE_S3 || u->cfg->s3.secret_key[0] == '\0')
		return INT64_MAX;
	int64_t at = u->next_delete_scan;
	for (int i = 0; i < S3_UPLOADS_MAX; i++) {
		const struct s3_up *s = &u->up[i];
		if (s->id[0] && s->xfer == NULL && s->next_at < at)
			at = s->next_at;
	}
	return at;
}

int s3_uploads_done(struct s3_uploads *u, struct transfer *t)
{
	for (int i = 0; i < S3_UPLOADS_MAX; i++) {
		struct s3_up *s = &u->up[i];
		if (s->xfer == t) {
			s->xfer = NULL;
			answered(u, s, t);
			transfer_free(t);
			return 1;
		}
	}
	for (int i = 0; i < S3_DELETES_MAX; i++) {
		struct s3_del *d = &u->del[i];
		if (d->xfer == t) {
			d->xfer = NULL;
			delete_answered(u, d, t);
			transfer_free(t);
			return 1;
		}
	}
	return 0;
}
