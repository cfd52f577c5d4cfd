/*
 * s3_upload: the dispatcher's part that moves finished results into the
 * bucket (content.store "s3"), and removes objects of deleted and expired
 * videos.
 *
 * A run that finishes with store s3 leaves its task in_progress at
 * progress 100 with an "upload" object in its record (task.c): for each
 * variant its file, size, object key and state.  This part drives those
 * uploads on the dispatcher's curl multi handle (S3_UPLOADS_MAX tasks at
 * once), writing each step to the record before the next request:
 *   pending   -> "put" written, then PUT (size <= part_bytes)
 *   pending   -> "initiating" written, then POST ?uploads, then
 *                "multipart" with the UploadId, then each part (its ETag
 *                written as it is acknowledged), then the complete POST
 *   done      when the store acknowledged the object.
 * A dispatcher that finds an upload under way (after a crash) checks
 * before sending: "put" by HEAD (the object there at the file's size is
 * done), "initiating" by ListMultipartUploads (an upload of the key open
 * there is carried on), "multipart" continues after the parts recorded
 * and those ListParts shows.  When every
 * object is stored the task is completed with "objects" and the local
 * files go.  A failed request is retried with backoff for as long as it
 * takes (the store down leaves the task in_progress, nothing lost).
 *
 * Object deletes (a deleted or expired video) are entries of the store's
 * object queue (store_objects.c), written in the delete's or the expiry's
 * own transaction; this part sends them and removes each entry once the
 * store answered 204/404, retrying the others with backoff.  An object
 * whose upload was under way when its video was deleted is deleted a
 * second time content.s3.delete_recheck_seconds later: a PUT or a complete
 * the store had received may create it after the first delete.
 */
#ifndef REELGATE_S3_UPLOAD_H
#define REELGATE_S3_UPLOAD_H

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdint.h>

#include "config.h"
#include "id.h"
#include "store.h"
#include "transfer.h"

#define S3_UPLOADS_MAX 4
#define S3_DELETES_MAX 8

struct s3_up {
	char id[ID_MAX]; /* "" when free */
	struct transfer *xfer;
	char variant[16]; /* the object being sent */
	int kind;	  /* what xfer is (s3_upload.c) */
	int part;	  /* multipart: the part in flight, from 1 */
	char *body;	  /* the bytes being sent (owned), at most part_bytes */
	size_t body_len, body_off;
	int tries;
	int64_t next_at; /* ms, monotonic: the next request, after a failure */
	int listed;	 /* multipart: the store's parts listed (ListParts) */
};

struct s3_del {
	char key[1100]; /* "" when free */
	struct transfer *xfer;
	int abort;   /* the entry aborts a multipart upload */
	int recheck; /* the entry's object is deleted a second time, later */
};

struct s3_uploads {
	const struct config *cfg; /* borrowed */
	struct store *st;	  /* borrowed */
	CURLM *multi;		  /* borrowed: the dispatcher's */
	struct s3_up up[S3_UPLOADS_MAX];
	struct s3_del del[S3_DELETES_MAX];
	int64_t next_delete_scan; /* ms, monotonic */
	int del_tries;
};

void s3_uploads_init(struct s3_uploads *u, const struct config *cfg, struct store *st,
		     CURLM *multi);
/* deinit drops the requests in flight; the records and the queue say
 * where each one was. */
void s3_uploads_deinit(struct s3_uploads *u);
/* take: the task of rec (in_progress, with "upload") is due: this part
 * starts its upload when a slot is free, or renews its lease when the
 * upload is already one of its own. */
void s3_uploads_take(struct s3_uploads *u, struct json_object *rec);
/* tick sends what is due (called every loop turn). */
void s3_uploads_tick(struct s3_uploads *u, int64_t now_ms);
/* due_at: when tick has something to send (INT64_MAX: nothing). */
int64_t s3_uploads_due_at(const struct s3_uploads *u);
/* done finishes t when it is one of u's (transfer_done was called): frees
 * t and returns 1; 0 when t is not u's. */
int s3_uploads_done(struct s3_uploads *u, struct transfer *t);
/* forget drops task id's upload in flight (the task was deleted). */
void s3_uploads_forget(struct s3_uploads *u, const char *id);

#endif
