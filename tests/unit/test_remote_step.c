/* Unit tests of the remote state machine (remote_step.c), under a fake
 * clock: a task's life is played as a sequence of answers, the clock
 * advancing by each step's delay, as the dispatcher would wait. */
#include <check.h>
#include <string.h>

#include "remote_step.h"
#include "testutil.h"

/* A run as the dispatcher holds it, and the clock. */
struct sim {
	struct step_view v;
	long now_ms;
	long intent_settles_at;	   /* when a lost submit can no longer arrive */
	int sends[PHASE_AUTH + 1]; /* requests sent per phase */
	int failovers_possible;
	char kept[8][64];
	int nkept;
	struct remote_step last;
};

static void sim_init(struct sim *s, enum remote_phase first)
{
	memset(s, 0, sizeof(*s));
	s->v.phase = first;
	s->v.max_retries = 6;
	s->v.poll_ms = 5000;
	s->v.progress = 0;
	s->v.jitter = 255;
	s->v.can_reconcile = 1;
	s->sends[first] = 1;
}

static struct remote_answer answer(enum remote_verdict verdict, enum remote_state state)
{
	struct remote_answer a;
	memset(&a, 0, sizeof(a));
	a.verdict = verdict;
	a.state = state;
	a.progress = -1;
	return a;
}

/* feed applies one exchange's outcome as run_remote.c does, and moves the
 * clock to the next request.  Returns the step's act. */
static enum step_act feed(struct sim *s, const struct step_exchange *x,
			  const struct remote_answer *a)
{
	if ((s->v.phase == PHASE_RECONCILE || s->v.phase == PHASE_RECONCILE2) &&
	    a->state == RS_NOT_FOUND)
		s->v.unsettled_ms =
			s->intent_settles_at > s->now_ms ? s->intent_settles_at - s->now_ms : 0;
	remote_step(&s->v, x, a, &s->last);
	struct remote_step *st = &s->last;
	if (st->failover && s->failovers_possible > 0) {
		s->failovers_possible--;
		s->v.tries = 0;
		s->sends[PHASE_SUBMIT]++;
		return STEP_SEND;
	}
	if (st->record && st->name && s->nkept < 8)
		snprintf(s->kept[s->nkept++], sizeof(s->kept[0]), "%s=%s", st->name, st->value);
	if (st->progress >= 0)
		s->v.progress = st->progress;
	s->v.tries = st->tries;
	if (st->act == STEP_SEND) {
		s->now_ms += st->delay_ms;
		s->v.phase = st->phase;
		s->sends[st->phase]++;
	}
	return st->act;
}

static const struct step_exchange answered = { 0, 1, 0, 0, "HTTP 200" };
static const struct step_exchange no_answer = { 0, 0, 0, 0, "timed out" };

START_TEST(a_task_from_submit_to_download)
{
	struct sim s;
	sim_init(&s, PHASE_SUBMIT);
	struct remote_answer a = answer(RV_OK, RS_QUEUED);
	snprintf(a.upstream_id, sizeof(a.upstream_id), "job-1");
	ck_assert_int_eq(feed(&s, &answered, &a), STEP_SEND);
	ck_assert_int_eq(s.v.phase, PHASE_POLL);
	ck_assert_int_eq(s.now_ms, 5000); /* the first poll after poll_ms */
	ck_assert_str_eq(s.kept[0], "upstream_id=job-1");
	ck_assert_str_eq(s.last.event, "remote_submitted");
	a = answer(RV_OK, RS_RUNNING);
	a.progress = 40;
	feed(&s, &answered, &a);
	ck_assert_int_eq(s.v.progress, 40);
	a.progress = 30; /* progress never goes back */
	feed(&s, &answered, &a);
	ck_assert_int_eq(s.v.progress, 40);
	a.progress = 100; /* 100 is for the stored video */
	feed(&s, &answered, &a);
	ck_assert_int_eq(s.v.progress, 99);
	ck_assert_int_eq(s.now_ms, 20000);
	a = answer(RV_OK, RS_SUCCEEDED);
	snprintf(a.video_url, sizeof(a.video_url), "https://cdn.example/v.mp4");
	feed(&s, &answered, &a);
	ck_assert_int_eq(s.v.phase, PHASE_FETCH_VIDEO);
	ck_assert_str_eq(s.kept[1], "video_url=https://cdn.example/v.mp4");
	ck_assert_int_eq(s.sends[PHASE_SUBMIT], 1);
}
END_TEST

/* The crash-safe submission rule: a submit of unknown outcome is looked
 * for; "not found" is believed only once the lost request cannot arrive;
 * only then is it sent again, once. */
START_TEST(an_unknown_submit_is_reconciled_never_resent_blind)
{
	struct sim s;
	sim_init(&s, PHASE_SUBMIT);
	s.intent_settles_at = 62000; /* request timeout 60 s + 2 s */
	struct remote_answer a = answer(RV_RETRY, RS_UNKNOWN);
	a.maybe_created = 1;
	ck_assert_int_eq(feed(&s, &no_answer, &a), STEP_SEND);
	ck_assert_int_eq(s.v.phase, PHASE_RECONCILE);
	ck_assert_str_eq(s.last.event, "remote_submit_unknown");
	ck_assert(s.now_ms >= 500 && s.now_ms <= 1000);
	a = answer(RV_OK, RS_NOT_FOUND);
	int looks = 0;
	while (s.v.phase == PHASE_RECONCILE && looks < 100) {
		ck_assert_int_eq(s.sends[PHASE_SUBMIT], 1); /* never resent meanwhile */
		feed(&s, &answered, &a);
		ck_assert(s.last.delay_ms <= STEP_RECONCILE_WAIT_MAX_MS);
		looks++;
	}
	ck_assert_int_eq(s.v.phase, PHASE_SUBMIT);
	ck_assert(s.now_ms >= 62000);
	ck_assert_int_eq(s.sends[PHASE_SUBMIT], 2);
	ck_assert_str_eq(s.last.detail, "found=no");
}
END_TEST

/* A module that cannot look a job up: an unknown outcome fails the task
 * (never a blind second submit), unless the backend asks for resubmits;
 * a submit that never reached the upstream is an ordinary retry. */
START_TEST(an_unknown_submit_without_reconcile_fails_or_is_resent_by_choice)
{
	struct sim s;
	sim_init(&s, PHASE_SUBMIT);
	s.v.can_reconcile = 0;
	struct remote_answer a = answer(RV_RETRY, RS_UNKNOWN);
	a.maybe_created = 1;
	ck_assert_int_eq(feed(&s, &no_answer, &a), STEP_FAIL);
	ck_assert_str_eq(s.last.code, "upstream_unknown_outcome");
	ck_assert(strstr(s.last.message, "not sent again") != NULL);
	ck_assert_int_eq(s.sends[PHASE_SUBMIT], 1);

	sim_init(&s, PHASE_SUBMIT);
	s.v.can_reconcile = 0;
	s.v.resubmit_unknown = 1;
	ck_assert_int_eq(feed(&s, &no_answer, &a), STEP_SEND);
	ck_assert_int_eq(s.v.phase, PHASE_SUBMIT);
	ck_assert_str_eq(s.last.event, "remote_resubmit_unknown");
	ck_assert_int_eq(s.sends[PHASE_SUBMIT], 2);

	sim_init(&s, PHASE_SUBMIT);
	s.v.can_reconcile = 0;
	a.maybe_created = 0; /* refused before it was made */
	ck_assert_int_eq(feed(&s, &no_answer, &a), STEP_SEND);
	ck_assert_int_eq(s.v.phase, PHASE_SUBMIT);
}
END_TEST

START_TEST(a_found_submit_is_polled_not_resent)
{
	struct sim s;
	sim_init(&s, PHASE_RECONCILE);
	struct remote_answer a = answer(RV_OK, RS_RUNNING);
	snprintf(a.upstream_id, sizeof(a.upstream_id), "job-9");
	feed(&s, &answered, &a);
	ck_assert_int_eq(s.v.phase, PHASE_POLL);
	ck_assert_int_eq(s.now_ms, 0);
	ck_assert_str_eq(s.kept[0], "upstream_id=job-9");
	ck_assert_int_eq(s.sends[PHASE_SUBMIT], 0);
	/* every candidate held by another task: ours never arrived */
	sim_init(&s, PHASE_RECONCILE);
	a = answer(RV_OK, RS_QUEUED);
	a.ncandidates = 2;
	s.v.candidates_taken = 1;
	feed(&s, &answered, &a);
	ck_assert_int_eq(s.v.phase, PHASE_SUBMIT);
}
END_TEST

START_TEST(transient_failures_back_off_and_give_up)
{
	struct sim s;
	sim_init(&s, PHASE_UPLOAD);
	struct remote_answer a = answer(RV_RETRY, RS_UNKNOWN);
	long waits[8];
	int n = 0;
	while (feed(&s, &no_answer, &a) == STEP_SEND && n < 8)
		waits[n++] = s.last.delay_ms;
	ck_assert_int_eq(n, 6); /* max_retries */
	ck_assert_int_eq(s.last.act, STEP_FAIL);
	ck_assert_str_eq(s.last.code, "upstream_unavailable");
	ck_assert(strstr(s.last.message, "gave up after 7 attempts") != NULL);
	for (int i = 1; i < n; i++)
		ck_assert(waits[i] >= waits[i - 1]);
	ck_assert_int_eq(waits[0], 2000);  /* jitter 255: the whole base */
	ck_assert_int_eq(waits[5], 60000); /* capped */
	/* Retry-After is taken when longer, at most 10 minutes */
	sim_init(&s, PHASE_UPLOAD);
	struct step_exchange x = { 0, 1, 0, 30000, "HTTP 429" };
	feed(&s, &x, &a);
	ck_assert_int_eq(s.last.delay_ms, 30000);
	x.retry_after_ms = 86400000;
	feed(&s, &x, &a);
	ck_assert_int_eq(s.last.delay_ms, STEP_RETRY_AFTER_MAX_MS);
	/* a success resets the count */
	struct remote_answer ok = answer(RV_OK, RS_UNKNOWN);
	feed(&s, &answered, &ok);
	ck_assert_int_eq(s.v.tries, 0);
}
END_TEST

START_TEST(polls_never_give_up)
{
	struct sim s;
	sim_init(&s, PHASE_POLL);
	struct remote_answer a = answer(RV_RETRY, RS_UNKNOWN);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(feed(&s, &no_answer, &a), STEP_SEND);
	ck_assert_int_eq(s.v.phase, PHASE_POLL);
	ck_assert(s.last.delay_ms <= STEP_BACKOFF_MAX_MS);
}
END_TEST

START_TEST(a_failed_submit_fails_over_first)
{
	struct sim s;
	sim_init(&s, PHASE_SUBMIT);
	s.failovers_possible = 1;
	struct remote_answer a = answer(RV_RETRY, RS_UNKNOWN); /* a 503: nothing made */
	ck_assert_int_eq(feed(&s, &answered, &a), STEP_SEND);
	ck_assert_int_eq(s.last.failover, 1);
	ck_assert_int_eq(s.sends[PHASE_SUBMIT], 2);
	ck_assert_int_eq(s.now_ms, 0);
	/* no backend left: the same one, after a backoff */
	feed(&s, &answered, &a);
	ck_assert_int_eq(s.last.failover, 1);
	ck_assert_int_eq(s.v.phase, PHASE_SUBMIT);
	ck_assert(s.now_ms > 0);
	/* a poll never fails over */
	sim_init(&s, PHASE_POLL);
	s.failovers_possible = 1;
	feed(&s, &answered, &a);
	ck_assert_int_eq(s.last.failover, 0);
}
END_TEST

START_TEST(failures_end_the_task)
{
	struct step_view v = { PHASE_POLL, 0, 6, 5000, 10, 0, 0, 0, 1, 0 };
	struct remote_step st;
	struct remote_answer a = answer(RV_OK, RS_FAILED);
	remote_step(&v, &answered, &a, &st);
	ck_assert_int_eq(st.act, STEP_FAIL);
	ck_assert_str_eq(st.code, "generation_failed");
	ck_assert(st.message[0] != '\0');
	snprintf(a.code, sizeof(a.code), "content_policy_violation");
	snprintf(a.message, sizeof(a.message), "refused");
	remote_step(&v, &answered, &a, &st);
	ck_assert_str_eq(st.code, "content_policy_violation");
	ck_assert_str_eq(st.message, "refused");
	a = answer(RV_FAIL, RS_UNKNOWN);
	remote_step(&v, &answered, &a, &st);
	ck_assert_str_eq(st.code, "upstream_rejected");
	struct step_exchange blocked = { 1, 0, 0, 0, "refused" };
	a = answer(RV_OK, RS_RUNNING);
	remote_step(&v, &blocked, &a, &st);
	ck_assert_str_eq(st.code, "upstream_forbidden");
}
END_TEST

START_TEST(kept_values_are_written_before_the_next_request)
{
	struct sim s;
	sim_init(&s, PHASE_UPLOAD);
	struct remote_answer a = answer(RV_OK, RS_UNKNOWN);
	a.nkeep = 1;
	ck_assert_int_eq(feed(&s, &answered, &a), STEP_SEND);
	ck_assert_int_eq(s.v.phase, PHASE_SUBMIT);
	ck_assert_int_eq(s.last.record, 1);
	/* a module asking for a second look at once, keeping a value (a file
	 * id to resolve): recorded before that look */
	sim_init(&s, PHASE_POLL);
	a = answer(RV_OK, RS_RUNNING);
	a.next = PHASE_POLL2;
	a.nkeep = 1;
	feed(&s, &answered, &a);
	ck_assert_int_eq(s.v.phase, PHASE_POLL2);
	ck_assert_int_eq(s.last.record, 1);
	ck_assert_int_eq(s.now_ms, 0);
	a.nkeep = 0;
	feed(&s, &answered, &a);
	ck_assert_int_eq(s.last.record, 0);
}
END_TEST

START_TEST(downloads)
{
	struct step_view v = { PHASE_FETCH_VIDEO, 0, 6, 5000, 99, 0, 0, 0, 1, 0 };
	struct step_exchange x = { 0, 1, 0, 0, "HTTP 403" };
	struct remote_step st;
	remote_step_fetch(&v, &x, 403, 0, &st);
	ck_assert_int_eq(st.act, STEP_FAIL);
	ck_assert_str_eq(st.code, "download_failed");
	remote_step_fetch(&v, &x, 200, 1, &st); /* too big */
	ck_assert_int_eq(st.act, STEP_FAIL);
	int sends = 0;
	for (;;) {
		remote_step_fetch(&v, &x, 503, 0, &st);
		if (st.act != STEP_SEND)
			break;
		v.tries = st.tries;
		sends++;
	}
	ck_assert_int_eq(sends, STEP_FETCH_RETRIES);
	ck_assert_str_eq(st.code, "download_failed");
}
END_TEST

START_TEST(phase_names_round_trip)
{
	ck_assert_str_eq(remote_phase_name(PHASE_SUBMIT), "submitting");
	ck_assert_int_eq(remote_phase_of("uploading"), PHASE_UPLOAD);
	ck_assert_int_eq(remote_phase_of("reconciling"), PHASE_RECONCILE);
	ck_assert_int_eq(remote_phase_of("polling"), PHASE_POLL);
	ck_assert_int_eq(remote_phase_of("nonsense"), PHASE_NONE);
	ck_assert_int_eq(remote_phase_of(NULL), PHASE_NONE);
	ck_assert_int_eq(remote_backoff_ms(0, 0, 0), 500);
	ck_assert_int_eq(remote_backoff_ms(100, 0, 255), STEP_BACKOFF_MAX_MS);
	ck_assert_int_eq(remote_backoff_ms(-5, 0, 255), 1000);
}
END_TEST

static Suite *remote_step_suite(void)
{
	Suite *s = suite_create("remote_step");
	TCase *tc = tcase_create("machine");
	tcase_add_test(tc, a_task_from_submit_to_download);
	tcase_add_test(tc, an_unknown_submit_is_reconciled_never_resent_blind);
	tcase_add_test(tc, an_unknown_submit_without_reconcile_fails_or_is_resent_by_choice);
	tcase_add_test(tc, a_found_submit_is_polled_not_resent);
	tcase_add_test(tc, transient_failures_back_off_and_give_up);
	tcase_add_test(tc, polls_never_give_up);
	tcase_add_test(tc, a_failed_submit_fails_over_first);
	tcase_add_test(tc, failures_end_the_task);
	tcase_add_test(tc, kept_values_are_written_before_the_next_request);
	tcase_add_test(tc, downloads);
	tcase_add_test(tc, phase_names_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(remote_step_suite)
