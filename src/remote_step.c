/*
 * remote_step: what follows an exchange of a remote task (remote_step.h).
 */
#include "remote_step.h"

#include <stdio.h>
#include <string.h>

static const char *const phase_names[] = { "none",	  "uploading",	 "submitting",
					   "reconciling", "reconciling", "polling",
					   "polling",	  "fetching",	 "fetching" };

const char *remote_phase_name(enum remote_phase ph)
{
	return ph <= PHASE_FETCH_THUMB ? phase_names[ph] : "none";
}

enum remote_phase remote_phase_of(const char *name)
{
	static const enum remote_phase first[] = { PHASE_UPLOAD, PHASE_SUBMIT, PHASE_RECONCILE,
						   PHASE_POLL, PHASE_FETCH_VIDEO };
	for (size_t i = 0; name && i < sizeof(first) / sizeof(*first); i++)
		if (strcmp(phase_names[first[i]], name) == 0)
			return first[i];
	return PHASE_NONE;
}

long remote_backoff_ms(int tries, long hint_ms, unsigned jitter)
{
	long base = 1000L << (tries < 6 ? (tries < 0 ? 0 : tries) : 6);
	if (base > STEP_BACKOFF_MAX_MS)
		base = STEP_BACKOFF_MAX_MS;
	long jittered = base / 2 + (base / 2) * (long)(jitter & 255) / 255; /* 50..100 % */
	if (hint_ms > jittered)
		return hint_ms < STEP_RETRY_AFTER_MAX_MS ? hint_ms : STEP_RETRY_AFTER_MAX_MS;
	return jittered;
}

static void send_next(struct remote_step *out, enum remote_phase ph, long delay_ms)
{
	out->act = STEP_SEND;
	out->phase = ph;
	out->delay_ms = delay_ms;
}

static void fail(struct remote_step *out, const char *code, const char *msg)
{
	out->act = STEP_FAIL;
	out->phase = PHASE_NONE;
	out->code = code;
	snprintf(out->message, sizeof(out->message), "%s", msg);
}

/* record asks for the answer's kept values (and name = value) to be
 * written before the next request. */
static void record(struct remote_step *out, const char *name, const char *value)
{
	out->record = 1;
	out->name = name;
	out->value = value;
}

/* retry: the same request again after a backoff, or the end of the task
 * once it has failed too often (polls never give up: the deadline ends
 * them). */
static void retry(const struct step_view *v, long hint_ms, const char *why, struct remote_step *out)
{
	out->tries = v->tries + 1;
	int fetch = v->phase == PHASE_FETCH_VIDEO;
	int limit = fetch ? STEP_FETCH_RETRIES : v->max_retries;
	if (v->phase != PHASE_POLL && v->phase != PHASE_POLL2 && out->tries > limit) {
		char msg[600];
		snprintf(msg, sizeof(msg),
			 "The backend kept failing (%.400s); gave up after %d attempts.",
			 why ? why : "no reason", out->tries);
		fail(out, fetch ? "download_failed" : "upstream_unavailable", msg);
		return;
	}
	send_next(out, v->phase, remote_backoff_ms(out->tries, hint_ms, v->jitter));
	out->event = "remote_retry";
	out->detail = why;
}

static void after_transient(const struct step_view *v, const struct step_exchange *x,
			    const struct remote_answer *ans, struct remote_step *out)
{
	if (v->phase == PHASE_SUBMIT && ans->maybe_created && !v->can_reconcile) {
		if (!v->resubmit_unknown) {
			/* Nothing can tell whether the job exists: sending it
			 * again may make (and bill) it twice. */
			char msg[600];
			snprintf(
				msg, sizeof(msg),
				"The submit's outcome is unknown (%.300s) and this backend cannot "
				"look the job up; it was not sent again, to avoid a second charge.",
				x->why ? x->why : "no answer");
			fail(out, "upstream_unknown_outcome", msg);
			return;
		}
		retry(v, ans->retry_after_ms ? ans->retry_after_ms : x->retry_after_ms, x->why,
		      out);
		out->event = "remote_resubmit_unknown";
		return;
	}
	if (v->phase == PHASE_SUBMIT && ans->maybe_created) {
		/* find it before sending it again */
		send_next(out, PHASE_RECONCILE, remote_backoff_ms(0, 0, v->jitter));
		out->event = "remote_submit_unknown";
		out->detail = x->why;
		return;
	}
	out->failover = v->phase == PHASE_SUBMIT;
	retry(v, ans->retry_after_ms ? ans->retry_after_ms : x->retry_after_ms, x->why, out);
}

static void after_reconcile(const struct step_view *v, const struct remote_answer *ans,
			    struct remote_step *out)
{
	out->event = "remote_reconciled";
	if (ans->state == RS_NOT_FOUND) {
		/* "Not found" proves nothing while the lost request may still
		 * be in the upstream's hands: trusted once the intent is older
		 * than a request may take. */
		if (v->unsettled_ms > 0) {
			long wait = v->unsettled_ms < STEP_RECONCILE_WAIT_MAX_MS
					    ? v->unsettled_ms
					    : STEP_RECONCILE_WAIT_MAX_MS;
			send_next(out, PHASE_RECONCILE, wait);
			out->detail = "found=not-yet";
			return;
		}
		send_next(out, PHASE_SUBMIT, 0); /* it never arrived: send it (same intent) */
		out->detail = "found=no";
		return;
	}
	if (ans->ncandidates > 0 && v->candidates_taken) {
		send_next(out, PHASE_SUBMIT, 0);
		out->detail = "found=no (candidates held by other tasks)";
		return;
	}
	send_next(out, PHASE_POLL, 0);
	record(out, ans->upstream_id[0] ? "upstream_id" : NULL, ans->upstream_id);
	out->detail = "found=yes";
}

static void after_poll(const struct step_view *v, const struct remote_answer *ans,
		       struct remote_step *out)
{
	if (ans->state == RS_FAILED) {
		fail(out, ans->code[0] ? ans->code : "generation_failed",
		     ans->message[0] ? ans->message : "The backend could not make the video.");
		return;
	}
	if (ans->state == RS_SUCCEEDED) {
		send_next(out, PHASE_FETCH_VIDEO, 0);
		record(out, ans->video_url[0] ? "video_url" : NULL, ans->video_url);
		return;
	}
	if (ans->progress >= 0 && ans->progress > v->progress)
		out->progress = ans->progress < 99 ? ans->progress : 99;
	send_next(out, PHASE_POLL, v->poll_ms);
}

static void after_ok(const struct step_view *v, const struct remote_answer *ans,
		     struct remote_step *out)
{
	out->tries = 0;
	if (ans->next != PHASE_NONE) {
		send_next(out, ans->next, 0);
		if (ans->nkeep > 0)
			record(out, NULL, NULL);
		return;
	}
	switch (v->phase) {
	case PHASE_UPLOAD:
		send_next(out, PHASE_SUBMIT, 0);
		record(out, NULL, NULL);
		return;
	case PHASE_SUBMIT:
		send_next(out, PHASE_POLL, v->poll_ms);
		record(out, "upstream_id", ans->upstream_id);
		out->event = "remote_submitted";
		return;
	case PHASE_RECONCILE:
	case PHASE_RECONCILE2: after_reconcile(v, ans, out); return;
	case PHASE_POLL:
	case PHASE_POLL2: after_poll(v, ans, out); return;
	default: send_next(out, v->phase, v->poll_ms);
	}
}

void remote_step(const struct step_view *v, const struct step_exchange *x,
		 const struct remote_answer *ans, struct remote_step *out)
{
	memset(out, 0, sizeof(*out));
	out->progress = -1;
	out->tries = v->tries;
	if (x->blocked) {
		fail(out, "upstream_forbidden",
		     "The backend's address is refused by the SSRF guard; list it in the backend's allow_addresses.");
		return;
	}
	if (ans->verdict == RV_FAIL) {
		fail(out, ans->code[0] ? ans->code : "upstream_rejected",
		     ans->message[0] ? ans->message : "The backend refused the task.");
		return;
	}
	if (ans->verdict == RV_RETRY) {
		after_transient(v, x, ans, out);
		return;
	}
	after_ok(v, ans, out);
}

void remote_step_fetch(const struct step_view *v, const struct step_exchange *x, long status,
		       int permanent, struct remote_step *out)
{
	memset(out, 0, sizeof(*out));
	out->progress = -1;
	out->tries = v->tries;
	if (permanent || x->blocked || (status >= 400 && status < 500 && status != 429)) {
		char msg[600];
		snprintf(msg, sizeof(msg), "The result could not be downloaded: %.400s.",
			 x->why ? x->why : "no reason");
		fail(out, "download_failed", msg);
		return;
	}
	retry(v, x->retry_after_ms, x->why, out);
}
