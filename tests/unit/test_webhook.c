/* Unit tests for webhook.c (Standard Webhooks signing, secrets, the retry
 * schedule) and store_webhooks.c (events written with the state they
 * announce, the per-endpoint queue) on real LMDB files. */
#include <check.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "record.h"
#include "store.h"
#include "store_fixture.h"
#include "testutil.h"
#include "webhook.h"

START_TEST(signs_the_spec_test_vector)
{
	/* standard-webhooks' own test vector (libraries/python/tests) */
	const char *body = "{\"test\": 2432232314}";
	char sig[WEBHOOK_SIG_MAX];
	ck_assert_int_eq(webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
				      "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
				      strlen(body), sig),
			 0);
	ck_assert_str_eq(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
	/* one byte of the body, the id or the time changes it */
	char other[WEBHOOK_SIG_MAX];
	webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		     1614265331, body, strlen(body), other);
	ck_assert_str_ne(sig, other);
	ck_assert_int_eq(webhook_sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", 1, "x", 1, other),
			 -1);
	ck_assert_int_eq(webhook_sign("whsec_", "m", 1, "x", 1, other), -1);
}
END_TEST

START_TEST(new_secrets_are_32_random_bytes)
{
	char a[128], b[128];
	ck_assert_int_eq(webhook_secret_new(a, sizeof(a)), 0);
	ck_assert_int_eq(webhook_secret_new(b, sizeof(b)), 0);
	ck_assert_str_ne(a, b);
	ck_assert(strncmp(a, "whsec_", 6) == 0);
	uint8_t raw[64];
	ck_assert_int_eq(codec_base64_decode(a + 6, strlen(a + 6), raw), 32);
	char sig[WEBHOOK_SIG_MAX];
	ck_assert_int_eq(webhook_sign(a, "evt_1", 1, "{}", 2, sig), 0);
}
END_TEST

START_TEST(retry_schedule)
{
	ck_assert_int_eq(webhook_retry_delay_ms(2, 0), 5000);
	ck_assert_int_eq(webhook_retry_delay_ms(3, 0), 300000);
	ck_assert_int_eq(webhook_retry_delay_ms(10, 0), 86400000);
	ck_assert_int_eq(webhook_retry_delay_ms(11, 0), 86400000);
	ck_assert_int_eq(webhook_retry_delay_ms(2, 255), 5500); /* jitter: at most 10 % */
	long total = 0;
	for (int i = 2; i <= WEBHOOK_ATTEMPTS; i++)
		total += webhook_retry_delay_ms(i, 0);
	ck_assert_int_eq(total, (75 * 3600 + 35 * 60 + 5) * 1000L); /* the spec's 75:35:05 */
}
END_TEST

static void endpoint(const char *id, const char *key, const char *events, int64_t created)
{
	struct json_object *ep = json_object_new_object();
	json_object_object_add(ep, "id", json_object_new_string(id));
	json_object_object_add(ep, "key_id", json_object_new_string(key));
	json_object_object_add(ep, "url", json_object_new_string("http://127.0.0.1:9/hook"));
	if (events) {
		struct json_object *a = json_object_new_array();
		json_object_array_add(a, json_object_new_string(events));
		json_object_object_add(ep, "events", a);
	}
	json_object_object_add(ep, "secret",
			       json_object_new_string("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
	json_object_object_add(ep, "created_at_ms", json_object_new_int64(created));
	json_object_object_add(ep, "state", json_object_new_string("enabled"));
	ck_assert_int_eq(store_webhook_put(st, ep), RG_OK);
	json_object_put(ep);
}

static void video(const char *id, const char *owner, const char *callback)
{
	struct json_object *r = json_object_new_object();
	json_object_object_add(r, "id", json_object_new_string(id));
	json_object_object_add(r, "owner", json_object_new_string(owner));
	json_object_object_add(r, "status", json_object_new_string("queued"));
	json_object_object_add(r, "due_at", json_object_new_int64(1000));
	if (callback) {
		struct json_object *p = json_object_new_object();
		json_object_object_add(p, "callback_url", json_object_new_string(callback));
		json_object_object_add(r, "params", p);
	}
	char existing[ID_MAX];
	ck_assert_int_eq(store_videos_insert(st, &r, 1, NULL, existing), RG_OK);
	json_object_put(r);
}

static void set_status(const char *id, const char *status)
{
	struct json_object *r = NULL;
	ck_assert_int_eq(store_video_get(st, id, &r), RG_OK);
	json_object_object_add(r, "status", json_object_new_string(status));
	json_object_object_add(r, "completed_at", json_object_new_int64(1766104315));
	ck_assert_int_eq(store_video_update(st, r), RG_OK);
	json_object_put(r);
}

struct seen {
	struct json_object *d[16];
	int n;
};

static int keep(struct json_object *d, void *arg)
{
	struct seen *s = arg;
	if (s->n < 16)
		s->d[s->n++] = json_object_get(d);
	return 0;
}

static void forget(struct seen *s)
{
	for (int i = 0; i < s->n; i++)
		json_object_put(s->d[i]);
	s->n = 0;
}

START_TEST(terminal_state_writes_its_event)
{
	endpoint("we_a", "key_1", NULL, 1);
	endpoint("we_b", "key_1", "video.failed", 2);
	endpoint("we_c", "key_2", NULL, 3);
	video("video_1", "key_1", NULL);
	struct seen s = { { 0 }, 0 };
	set_status("video_1", "in_progress");
	ck_assert_int_eq(store_delivery_list(st, keep, &s), RG_OK);
	ck_assert_int_eq(s.n, 0); /* not terminal: nothing */
	set_status("video_1", "completed");
	ck_assert_int_eq(store_delivery_list(st, keep, &s), RG_OK);
	ck_assert_int_eq(s.n, 1); /* we_a only: we_b takes failures, we_c is another key's */
	ck_assert_str_eq(rec_str(s.d[0], "endpoint_id"), "we_a");
	ck_assert_str_eq(rec_str(s.d[0], "type"), "video.completed");
	ck_assert_str_eq(rec_str(s.d[0], "state"), "pending");
	char want[256];
	snprintf(
		want, sizeof(want),
		"{\"id\":\"%s\",\"object\":\"event\",\"created_at\":1766104315,\"type\":\"video.completed\",\"data\":{\"id\":\"video_1\"}}",
		rec_str(s.d[0], "event_id"));
	ck_assert_str_eq(rec_str(s.d[0], "body"), want);
	ck_assert(strncmp(rec_str(s.d[0], "event_id"), "evt_", 4) == 0);
	forget(&s);
	/* written again as completed: no second event */
	set_status("video_1", "completed");
	ck_assert_int_eq(store_delivery_list(st, keep, &s), RG_OK);
	ck_assert_int_eq(s.n, 1);
	forget(&s);
	/* a failure goes to both of key_1's endpoints */
	video("video_2", "key_1", NULL);
	set_status("video_2", "failed");
	ck_assert_int_eq(store_delivery_due(st, "we_b", UINT64_MAX, 10, keep, &s), RG_OK);
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(rec_str(s.d[0], "type"), "video.failed");
	forget(&s);
	ck_assert_int_eq(store_delivery_due(st, "we_a", UINT64_MAX, 10, keep, &s), RG_OK);
	ck_assert_int_eq(s.n, 2);
	forget(&s);
	ck_assert_int_eq(store_delivery_due(st, "we_c", UINT64_MAX, 10, keep, &s), RG_OK);
	ck_assert_int_eq(s.n, 0);
}
END_TEST

START_TEST(callback_url_signed_by_the_first_endpoint)
{
	endpoint("we_late", "key_1", "video.failed", 20);
	endpoint("we_first", "key_1", "video.failed", 10);
	video("video_1", "key_1", "https://client.example/done");
	set_status("video_1", "completed");
	struct seen s = { { 0 }, 0 };
	ck_assert_int_eq(store_delivery_due(st, "we_first", UINT64_MAX, 10, keep, &s), RG_OK);
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(rec_str(s.d[0], "url"), "https://client.example/done");
	forget(&s);
	/* a key whose endpoints are gone: recorded as failed, never sent */
	video("video_2", "key_9", "https://client.example/done");
	set_status("video_2", "failed");
	ck_assert_int_eq(store_delivery_list(st, keep, &s), RG_OK);
	int failed = 0;
	for (int i = 0; i < s.n; i++)
		failed += strcmp(rec_str(s.d[i], "video_id"), "video_2") == 0 &&
			  strcmp(rec_str(s.d[i], "state"), "failed") == 0;
	ck_assert_int_eq(failed, 1);
	forget(&s);
}
END_TEST

START_TEST(queue_follows_next_at_and_state)
{
	endpoint("we_a", "key_1", NULL, 1);
	video("video_1", "key_1", NULL);
	set_status("video_1", "completed");
	struct seen s = { { 0 }, 0 };
	ck_assert_int_eq(store_delivery_due(st, "we_a", UINT64_MAX, 10, keep, &s), RG_OK);
	ck_assert_int_eq(s.n, 1);
	struct json_object *d = json_object_get(s.d[0]);
	forget(&s);
	json_object_object_add(d, "next_at", json_object_new_int64(5000));
	json_object_object_add(d, "attempts", json_object_new_int(1));
	ck_assert_int_eq(store_delivery_update(st, d), RG_OK);
	ck_assert_int_eq(store_delivery_due(st, "we_a", 4999, 10, keep, &s), RG_OK);
	ck_assert_int_eq(s.n, 0);
	ck_assert_int_eq(store_delivery_due(st, "we_a", 5000, 10, keep, &s), RG_OK);
	ck_assert_int_eq(s.n, 1);
	forget(&s);
	json_object_object_add(d, "state", json_object_new_string("delivered"));
	ck_assert_int_eq(store_delivery_update(st, d), RG_OK);
	ck_assert_int_eq(store_delivery_due(st, "we_a", UINT64_MAX, 10, keep, &s), RG_OK);
	ck_assert_int_eq(s.n, 0);
	/* no longer pending: a late outcome does not bring it back */
	json_object_object_add(d, "state", json_object_new_string("pending"));
	ck_assert_int_eq(store_delivery_update(st, d), RG_ENOENT);
	/* the CLI's redeliver does */
	ck_assert_int_eq(store_delivery_redeliver(st, d), RG_OK);
	ck_assert_int_eq(store_delivery_due(st, "we_a", UINT64_MAX, 10, keep, &s), RG_OK);
	ck_assert_int_eq(s.n, 1);
	forget(&s);
	json_object_put(d);
}
END_TEST

START_TEST(removing_an_endpoint_fails_its_pending)
{
	endpoint("we_a", "key_1", NULL, 1);
	for (int i = 0; i < 3; i++) {
		char id[32];
		snprintf(id, sizeof(id), "video_%d", i);
		video(id, "key_1", NULL);
		set_status(id, "completed");
	}
	ck_assert_int_eq(store_webhook_remove(st, "we_a"), RG_OK);
	ck_assert_int_eq(store_webhook_remove(st, "we_a"), RG_ENOENT);
	struct seen s = { { 0 }, 0 };
	ck_assert_int_eq(store_delivery_due(st, "we_a", UINT64_MAX, 10, keep, &s), RG_OK);
	ck_assert_int_eq(s.n, 0);
	ck_assert_int_eq(store_delivery_list(st, keep, &s), RG_OK);
	ck_assert_int_eq(s.n, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_str_eq(rec_str(s.d[i], "state"), "failed");
		ck_assert_str_eq(rec_str(s.d[i], "last_error"), "the endpoint was removed");
	}
	forget(&s);
	/* a purge keeps recent ones, removes old ones */
	size_t removed = 9;
	ck_assert_int_eq(store_delivery_purge(st, 1000, &removed), RG_OK);
	ck_assert_uint_eq(removed, 0);
	ck_assert_int_eq(store_delivery_purge(st, UINT64_MAX, &removed), RG_OK);
	ck_assert_uint_eq(removed, 3);
}
END_TEST

static Suite *webhook_suite(void)
{
	Suite *s = suite_create("webhook");
	TCase *tc = tcase_create("signing");
	tcase_add_test(tc, signs_the_spec_test_vector);
	tcase_add_test(tc, new_secrets_are_32_random_bytes);
	tcase_add_test(tc, retry_schedule);
	suite_add_tcase(s, tc);
	TCase *ts = tcase_create("store");
	tcase_add_checked_fixture(ts, setup, teardown);
	tcase_add_test(ts, terminal_state_writes_its_event);
	tcase_add_test(ts, callback_url_signed_by_the_first_endpoint);
	tcase_add_test(ts, queue_follows_next_at_and_state);
	tcase_add_test(ts, removing_an_endpoint_fails_its_pending);
	suite_add_tcase(s, ts);
	return s;
}

RUN_SUITE(webhook_suite)
