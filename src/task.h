/*
 * task: the life of a task record, as pure functions of the record and the
 * clock.  queued -> in_progress -> completed | failed, with leases, retries,
 * the deadline and expiry.  The dispatcher decides when to call these and
 * writes the result to LMDB; nothing here does I/O, so every transition is
 * unit-tested with a fake clock.
 *
 * Scheduling is one field: due_at (ms).  A queued task is due at once; a
 * running one is due when its lease runs out (the dispatcher renews it while
 * it works, so a task whose dispatcher died comes due and is resumed); a
 * completed one is due when its files expire.  Terminal tasks with nothing
 * left to do have no due_at.
 */
#ifndef REELGATE_TASK_H
#define REELGATE_TASK_H

#include <stdint.h>
#include <json-c/json.h>

#define TASK_LEASE_MS 10000   /* a running task's lease */
#define TASK_MAX_ATTEMPTS 3   /* runs lost to dispatcher deaths */
#define TASK_MESSAGE_MAX 1024 /* bytes of a failed task's error.message */

enum task_status { TASK_QUEUED, TASK_IN_PROGRESS, TASK_COMPLETED, TASK_FAILED, TASK_UNKNOWN };

enum task_status task_status(struct json_object *rec);
const char *task_status_name(enum task_status s);

/* What a due task needs, given whether this dispatcher is running it. */
enum task_action {
	TASK_ACT_NONE,	   /* nothing (not due, or terminal) */
	TASK_ACT_START,	   /* queued: start it when the backend has room */
	TASK_ACT_RENEW,	   /* running here: extend the lease */
	TASK_ACT_ORPHANED, /* in_progress but nobody runs it: retry or fail */
	TASK_ACT_TIMEOUT,  /* past its deadline: fail it */
	TASK_ACT_EXPIRE,   /* completed and past expires_at: remove files */
	TASK_ACT_UPLOAD,   /* rendered, its objects going to the bucket (s3_upload.c) */
	TASK_ACT_CLEAR,	   /* terminal but still indexed: drop due_at */
};

enum task_action task_next(struct json_object *rec, int64_t now_ms, int running_here);

/* Transitions.  Each edits rec in place. */
void task_start(struct json_object *rec, int64_t now_ms, const char *backend);
void task_set_progress(struct json_object *rec, int progress, int64_t now_ms);
void task_renew(struct json_object *rec, int64_t now_ms);
void task_complete(struct json_object *rec, int64_t now_ms, int64_t retention_s,
		   struct json_object *files /* taken */);
/* task_fail: message is what a client reads as error.message, so it goes
 * through scrub_message (scrub.h) first: no path of the server's, nor
 * data_dir (may be NULL) written any way, valid UTF-8, at most
 * TASK_MESSAGE_MAX bytes. */
/* task_uploading: the run is done and its results go to the bucket: the
 * task stays in_progress at progress 100 with "upload" (each variant's
 * file, size, key, state "pending"), due now. */
void task_uploading(struct json_object *rec, int64_t now_ms, struct json_object *upload);
/* task_is_uploading: rec is in that state. */
int task_is_uploading(struct json_object *rec);
void task_fail(struct json_object *rec, int64_t now_ms, const char *code, const char *message,
	       const char *data_dir);
/* task_requeue puts a task back in the queue after delay_ms; count_attempt
 * says whether the lost run counts against TASK_MAX_ATTEMPTS. */
void task_requeue(struct json_object *rec, int64_t now_ms, int64_t delay_ms, int count_attempt);
/* task_orphaned: requeue (counting the attempt) or fail when out of tries. */
void task_orphaned(struct json_object *rec, int64_t now_ms);
void task_expire(struct json_object *rec);

/* task_deadline reads deadline_at (ms), 0 when none. */
int64_t task_deadline(struct json_object *rec);

#endif
