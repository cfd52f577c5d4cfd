/*
 * task: state transitions of task records.
 */
#include "task.h"

#include <string.h>

#include "buf.h"
#include "scrub.h"

static const char *const names[] = { "queued", "in_progress", "completed", "failed" };

static int64_t get_i64(struct json_object *rec, const char *name)
{
	struct json_object *v;
	if (!json_object_object_get_ex(rec, name, &v) || !json_object_is_type(v, json_type_int))
		return 0;
	return json_object_get_int64(v);
}

static void set_i64(struct json_object *rec, const char *name, int64_t v)
{
	json_object_object_add(rec, name, json_object_new_int64(v));
}

static void set_str(struct json_object *rec, const char *name, const char *v)
{
	json_object_object_add(rec, name, json_object_new_string(v));
}

enum task_status task_status(struct json_object *rec)
{
	struct json_object *v;
	if (!json_object_object_get_ex(rec, "status", &v))
		return TASK_UNKNOWN;
	const char *s = json_object_get_string(v);
	for (int i = 0; i < 4; i++)
		if (s && strcmp(s, names[i]) == 0)
			return (enum task_status)i;
	return TASK_UNKNOWN;
}

const char *task_status_name(enum task_status s)
{
	return s < TASK_UNKNOWN ? names[s] : "unknown";
}

int64_t task_deadline(struct json_object *rec)
{
	return get_i64(rec, "deadline_at");
}

enum task_action task_next(struct json_object *rec, int64_t now_ms, int running_here)
{
	enum task_status st = task_status(rec);
	int64_t due = get_i64(rec, "due_at");
	int64_t deadline = task_deadline(rec);
	if (st == TASK_IN_PROGRESS && task_is_uploading(rec)) {
		/* No deadline: the video is made (and paid for); only the
		 * store's answer is missing, and it is waited for. */
		return due == 0 || now_ms >= due ? TASK_ACT_UPLOAD : TASK_ACT_NONE;
	}
	if (st == TASK_QUEUED || st == TASK_IN_PROGRESS) {
		if (deadline != 0 && now_ms >= deadline)
			return TASK_ACT_TIMEOUT;
		if (st == TASK_QUEUED)
			return due != 0 && now_ms >= due ? TASK_ACT_START : TASK_ACT_NONE;
		if (running_here)
			return due == 0 || now_ms + TASK_LEASE_MS / 2 >= due ? TASK_ACT_RENEW
									     : TASK_ACT_NONE;
		return due == 0 || now_ms >= due ? TASK_ACT_ORPHANED : TASK_ACT_NONE;
	}
	if (st == TASK_COMPLETED) {
		int64_t expires = get_i64(rec, "expires_at") * 1000;
		if (expires != 0 && now_ms >= expires && !get_i64(rec, "expired"))
			return TASK_ACT_EXPIRE;
	}
	return due != 0 && now_ms >= due ? TASK_ACT_CLEAR : TASK_ACT_NONE;
}

/* lease_until is when a running task's lease ends: never past the deadline. */
static int64_t lease_until(struct json_object *rec, int64_t now_ms)
{
	int64_t until = now_ms + TASK_LEASE_MS, deadline = task_deadline(rec);
	return deadline != 0 && deadline < until ? deadline : until;
}

void task_start(struct json_object *rec, int64_t now_ms, const char *backend)
{
	set_str(rec, "status", "in_progress");
	set_str(rec, "backend", backend);
	json_object_object_add(rec, "progress", json_object_new_int(0));
	set_i64(rec, "started_at", now_ms);
	set_i64(rec, "due_at", lease_until(rec, now_ms));
}

void task_set_progress(struct json_object *rec, int progress, int64_t now_ms)
{
	if (progress < 0)
		progress = 0;
	if (progress > 99)
		progress = 99; /* 100 means completed */
	json_object_object_add(rec, "progress", json_object_new_int(progress));
	set_i64(rec, "due_at", lease_until(rec, now_ms));
}

void task_renew(struct json_object *rec, int64_t now_ms)
{
	set_i64(rec, "due_at", lease_until(rec, now_ms));
}

void task_complete(struct json_object *rec, int64_t now_ms, int64_t retention_s,
		   struct json_object *files)
{
	int64_t now_s = now_ms / 1000;
	set_str(rec, "status", "completed");
	json_object_object_add(rec, "progress", json_object_new_int(100));
	set_i64(rec, "completed_at", now_s);
	set_i64(rec, "expires_at", now_s + retention_s);
	set_i64(rec, "due_at", (now_s + retention_s) * 1000);
	json_object_object_add(rec, "error", NULL);
	json_object_object_add(rec, "files", files);
}

void task_uploading(struct json_object *rec, int64_t now_ms, struct json_object *upload)
{
	json_object_object_add(rec, "progress", json_object_new_int(100));
	json_object_object_add(rec, "upload", upload);
	set_i64(rec, "due_at", now_ms);
}

int task_is_uploading(struct json_object *rec)
{
	struct json_object *u;
	return json_object_object_get_ex(rec, "upload", &u) &&
	       json_object_is_type(u, json_type_object);
}

void task_fail(struct json_object *rec, int64_t now_ms, const char *code, const char *message,
	       const char *data_dir)
{
	/* Every failure reaches its record here, whoever wrote the words (a
	 * local program's stderr, an upstream, the dispatcher): one scrub
	 * keeps the server's paths out of all of them. */
	struct buf msg;
	buf_init(&msg, TASK_MESSAGE_MAX);
	scrub_message(&msg, message ? message : "", data_dir);
	const char *shown = msg.len ? msg.data : "The generation failed.";
	struct json_object *err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_string(code));
	json_object_object_add(err, "message", json_object_new_string(shown));
	buf_deinit(&msg);
	set_str(rec, "status", "failed");
	json_object_object_add(rec, "error", err);
	set_i64(rec, "failed_at", now_ms / 1000);
	json_object_object_del(rec, "due_at");
}

void task_requeue(struct json_object *rec, int64_t now_ms, int64_t delay_ms, int count_attempt)
{
	set_str(rec, "status", "queued");
	json_object_object_add(rec, "progress", json_object_new_int(0));
	if (count_attempt)
		set_i64(rec, "attempts", get_i64(rec, "attempts") + 1);
	set_i64(rec, "due_at", now_ms + delay_ms);
}

void task_orphaned(struct json_object *rec, int64_t now_ms)
{
	if (get_i64(rec, "attempts") + 1 >= TASK_MAX_ATTEMPTS) {
		task_fail(
			rec, now_ms, "generation_interrupted",
			"The generation was interrupted too many times (the dispatcher stopped while running it).",
			NULL);
		return;
	}
	int64_t backoff = 1000LL << get_i64(rec, "attempts");
	task_requeue(rec, now_ms, backoff, 1);
}

void task_expire(struct json_object *rec)
{
	set_i64(rec, "expired", 1);
	json_object_object_del(rec, "files");
	json_object_object_del(rec, "objects");
	json_object_object_del(rec, "due_at");
}
