/* Unit tests for task.c: every transition of the task state machine, with a
 * fake clock (plain numbers). */
#include <check.h>
#include <string.h>

#include "task.h"
#include "testutil.h"

static struct json_object *queued(int64_t now, int64_t deadline)
{
	struct json_object *r = json_object_new_object();
	json_object_object_add(r, "id", json_object_new_string("video_t"));
	json_object_object_add(r, "status", json_object_new_string("queued"));
	json_object_object_add(r, "progress", json_object_new_int(0));
	json_object_object_add(r, "due_at", json_object_new_int64(now));
	json_object_object_add(r, "deadline_at", json_object_new_int64(deadline));
	json_object_object_add(r, "attempts", json_object_new_int(0));
	return r;
}

static int64_t i64(struct json_object *r, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(r, k, &v) ? json_object_get_int64(v) : -1;
}

static const char *str(struct json_object *r, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(r, k, &v) ? json_object_get_string(v) : NULL;
}

START_TEST(queued_is_started_when_due)
{
	struct json_object *r = queued(1000, 100000);
	ck_assert_int_eq(task_next(r, 999, 0), TASK_ACT_NONE);
	ck_assert_int_eq(task_next(r, 1000, 0), TASK_ACT_START);
	task_start(r, 1000, "local");
	ck_assert_int_eq(task_status(r), TASK_IN_PROGRESS);
	ck_assert_str_eq(str(r, "backend"), "local");
	ck_assert_int_eq(i64(r, "due_at"), 1000 + TASK_LEASE_MS);
	json_object_put(r);
}
END_TEST

START_TEST(lease_renewed_while_running_here)
{
	struct json_object *r = queued(0, 1000000);
	task_start(r, 0, "local");
	ck_assert_int_eq(task_next(r, 1000, 1), TASK_ACT_NONE);
	ck_assert_int_eq(task_next(r, TASK_LEASE_MS / 2, 1), TASK_ACT_RENEW);
	task_renew(r, TASK_LEASE_MS / 2);
	ck_assert_int_eq(i64(r, "due_at"), TASK_LEASE_MS / 2 + TASK_LEASE_MS);
	task_set_progress(r, 40, 7000);
	ck_assert_int_eq(i64(r, "progress"), 40);
	ck_assert_int_eq(i64(r, "due_at"), 7000 + TASK_LEASE_MS);
	task_set_progress(r, 100, 7000); /* 100 is kept for completion */
	ck_assert_int_eq(i64(r, "progress"), 99);
	task_set_progress(r, -5, 7000);
	ck_assert_int_eq(i64(r, "progress"), 0);
	json_object_put(r);
}
END_TEST

START_TEST(lease_never_past_deadline)
{
	struct json_object *r = queued(0, 3000);
	task_start(r, 0, "local");
	ck_assert_int_eq(i64(r, "due_at"), 3000);
	json_object_put(r);
}
END_TEST

START_TEST(orphan_requeued_then_failed)
{
	struct json_object *r = queued(0, 10000000);
	task_start(r, 0, "local");
	/* lease not over: nobody runs it, but it is not orphaned yet */
	ck_assert_int_eq(task_next(r, TASK_LEASE_MS - 1, 0), TASK_ACT_NONE);
	ck_assert_int_eq(task_next(r, TASK_LEASE_MS, 0), TASK_ACT_ORPHANED);
	task_orphaned(r, TASK_LEASE_MS);
	ck_assert_int_eq(task_status(r), TASK_QUEUED);
	ck_assert_int_eq(i64(r, "attempts"), 1);
	ck_assert_int_eq(i64(r, "due_at"), TASK_LEASE_MS + 1000);
	task_start(r, 20000, "local");
	task_orphaned(r, 40000);
	ck_assert_int_eq(task_status(r), TASK_QUEUED);
	ck_assert_int_eq(i64(r, "attempts"), 2);
	ck_assert_int_eq(i64(r, "due_at"), 40000 + 2000); /* backoff doubles */
	task_start(r, 50000, "local");
	task_orphaned(r, 70000);
	ck_assert_int_eq(task_status(r), TASK_FAILED);
	struct json_object *err = json_object_object_get(r, "error");
	ck_assert_str_eq(str(err, "code"), "generation_interrupted");
	ck_assert_int_eq(i64(r, "due_at"), -1);
	ck_assert_int_eq(task_next(r, 80000, 0), TASK_ACT_NONE);
	json_object_put(r);
}
END_TEST

START_TEST(deadline_fails_queued_and_running)
{
	struct json_object *r = queued(1, 5000);
	ck_assert_int_eq(task_next(r, 4999, 0), TASK_ACT_START);
	ck_assert_int_eq(task_next(r, 5000, 0), TASK_ACT_TIMEOUT);
	task_start(r, 100, "local");
	ck_assert_int_eq(task_next(r, 5000, 1), TASK_ACT_TIMEOUT);
	ck_assert_int_eq(task_next(r, 5000, 0), TASK_ACT_TIMEOUT);
	task_fail(r, 5000, "generation_timeout", "late", NULL);
	ck_assert_int_eq(task_status(r), TASK_FAILED);
	ck_assert_int_eq(task_next(r, 99999, 0), TASK_ACT_NONE);
	json_object_put(r);
}
END_TEST

/* error_message: the record's error.message. */
static const char *error_message(struct json_object *r)
{
	struct json_object *err, *m;
	if (!json_object_object_get_ex(r, "error", &err) ||
	    !json_object_object_get_ex(err, "message", &m))
		return NULL;
	return json_object_get_string(m);
}

START_TEST(fail_scrubs_the_message)
{
	/* whoever failed the task, its message reaches the record without
	 * the server's paths, bounded, valid UTF-8 */
	struct json_object *r = queued(1, 100000);
	task_fail(
		r, 5000, "generation_failed",
		"The generator failed (exit status 1): cannot read '/srv/rg/data/uploads/img_1.png' "
		"(cache x/srv/rg/data/tmp) \xff; see https://example.com/e",
		"/srv/rg/data");
	ck_assert_str_eq(
		error_message(r),
		"The generator failed (exit status 1): cannot read <file> (cache <file>) ?; "
		"see https://example.com/e");
	char big[3 * TASK_MESSAGE_MAX];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	task_fail(r, 5000, "generation_failed", big, NULL);
	ck_assert_uint_eq(strlen(error_message(r)), TASK_MESSAGE_MAX);
	task_fail(r, 5000, "generation_failed", "", NULL);
	ck_assert_str_eq(error_message(r), "The generation failed.");
	json_object_put(r);
}
END_TEST

START_TEST(complete_then_expire)
{
	struct json_object *r = queued(0, 100000);
	task_start(r, 0, "local");
	struct json_object *files = json_object_new_object();
	json_object_object_add(files, "video", json_object_new_string("content/x.mp4"));
	task_complete(r, 12345, 60, files);
	ck_assert_int_eq(task_status(r), TASK_COMPLETED);
	ck_assert_int_eq(i64(r, "progress"), 100);
	ck_assert_int_eq(i64(r, "completed_at"), 12);
	ck_assert_int_eq(i64(r, "expires_at"), 72);
	ck_assert_int_eq(i64(r, "due_at"), 72000);
	/* completion beats the deadline that passes later */
	ck_assert_int_eq(task_next(r, 71999, 0), TASK_ACT_NONE);
	ck_assert_int_eq(task_next(r, 72000, 0), TASK_ACT_EXPIRE);
	task_expire(r);
	ck_assert_int_eq(i64(r, "expired"), 1);
	ck_assert_ptr_null(json_object_object_get(r, "files"));
	ck_assert_int_eq(task_next(r, 999999, 0), TASK_ACT_NONE);
	json_object_put(r);
}
END_TEST

START_TEST(requeue_on_clean_stop_does_not_count)
{
	struct json_object *r = queued(0, 100000);
	task_start(r, 0, "local");
	task_requeue(r, 500, 0, 0);
	ck_assert_int_eq(task_status(r), TASK_QUEUED);
	ck_assert_int_eq(i64(r, "attempts"), 0);
	ck_assert_int_eq(task_next(r, 500, 0), TASK_ACT_START);
	json_object_put(r);
}
END_TEST

START_TEST(stale_due_on_terminal_is_cleared)
{
	struct json_object *r = queued(1, 100000);
	json_object_object_add(r, "status", json_object_new_string("failed"));
	ck_assert_int_eq(task_next(r, 10, 0), TASK_ACT_CLEAR);
	ck_assert_int_eq(task_status(r), TASK_FAILED);
	json_object_object_add(r, "status", json_object_new_string("bogus"));
	ck_assert_int_eq(task_status(r), TASK_UNKNOWN);
	ck_assert_str_eq(task_status_name(TASK_UNKNOWN), "unknown");
	json_object_put(r);
}
END_TEST

static Suite *task_suite(void)
{
	Suite *s = suite_create("task");
	TCase *tc = tcase_create("task");
	tcase_add_test(tc, queued_is_started_when_due);
	tcase_add_test(tc, lease_renewed_while_running_here);
	tcase_add_test(tc, lease_never_past_deadline);
	tcase_add_test(tc, orphan_requeued_then_failed);
	tcase_add_test(tc, deadline_fails_queued_and_running);
	tcase_add_test(tc, fail_scrubs_the_message);
	tcase_add_test(tc, complete_then_expire);
	tcase_add_test(tc, requeue_on_clean_stop_does_not_count);
	tcase_add_test(tc, stale_due_on_terminal_is_cleared);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(task_suite)
