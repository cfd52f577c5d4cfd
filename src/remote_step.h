/*
 * remote_step: the state machine of a task on an HTTP backend, as a pure
 * function.  Given where the task is (its phase, its failures in a row,
 * what the backend allows) and how the last exchange ended (the module's
 * parsed answer, or a transport failure), it says what comes next: the
 * request to send and when, what to write to the record before it leaves,
 * a progress figure, or the failure that ends the task.  No I/O, no
 * clock, no randomness (the jitter comes in): run_remote.c does the
 * exchanges and the writes, and tests/unit/test_remote_step.c drives this
 * under a fake clock.
 *
 * The rules it keeps:
 *   - a submit whose outcome is unknown is reconciled, never resent blind;
 *     "not found" is trusted only once a lost submit can no longer arrive;
 *   - a submit that fails transiently moves to the model's next backend
 *     when there is one with room;
 *   - transient failures back off exponentially with jitter (about 1-2 s,
 *     doubling to 60 s) or the upstream's Retry-After when longer (at most
 *     10 minutes), and give up after max_retries (downloads after
 *     STEP_FETCH_RETRIES); polls never give up (the task's deadline ends
 *     them);
 *   - an upload's, submit's, reconcile's or success's lesson is written
 *     before the request that depends on it.
 */
#ifndef REELGATE_REMOTE_STEP_H
#define REELGATE_REMOTE_STEP_H

#include "backend.h"

#define STEP_BACKOFF_MAX_MS 60000
#define STEP_RETRY_AFTER_MAX_MS 600000
#define STEP_FETCH_RETRIES 4
#define STEP_RECONCILE_WAIT_MAX_MS 5000

/* phase_name: the record's word for a phase ("submitting", ...). */
const char *remote_phase_name(enum remote_phase ph);
/* remote_phase_of reads the record's word back (PHASE_NONE if unknown). */
enum remote_phase remote_phase_of(const char *name);

/* What the step knows of the run. */
struct step_view {
	enum remote_phase phase; /* the exchange that just ended */
	int tries;		 /* transient failures in a row before it */
	int max_retries;	 /* the backend's */
	long poll_ms;		 /* the backend's */
	int progress;		 /* the last progress reported */
	/* reconcile, "not found": how long a submit sent at the recorded
	 * intent may still arrive (0: it cannot); every candidate is held by
	 * another task (the run looked them up) */
	long unsettled_ms;
	int candidates_taken;
	unsigned jitter; /* 0..255, random, for the backoff */
	/* a submit's unknown outcome: the module can look for the job
	 * (BCAP_RECONCILE); else the backend's resubmit_unknown says
	 * whether it is sent again or the task fails */
	int can_reconcile;
	int resubmit_unknown;
};

/* How the exchange ended, besides the module's answer. */
struct step_exchange {
	int blocked;	     /* the SSRF guard refused the address */
	int answered;	     /* an HTTP answer came (else: transport failure) */
	int connect_failed;  /* the request never reached the upstream */
	long retry_after_ms; /* the answer's Retry-After header, 0: none */
	const char *why;     /* a description, for messages and logs */
};

enum step_act {
	STEP_SEND, /* send `phase` in delay_ms */
	STEP_FAIL, /* the task fails with code and message */
};

struct remote_step {
	enum step_act act;
	enum remote_phase phase;
	long delay_ms;
	int tries;    /* the run's count from now on */
	int failover; /* try the model's next backend first; if none
		       * can take the task, do act */
	/* write before the next request: the answer's kept values, and
	 * name = value when name is not NULL (a pointer into the answer) */
	int record;
	const char *name;
	const char *value;
	int progress;	  /* >= 0: a new progress figure */
	const char *code; /* STEP_FAIL */
	char message[640];
	const char *event;  /* what to log (NULL: nothing) */
	const char *detail; /* with it */
};

/* remote_step decides after an exchange of any phase but the downloads.
 * ans is the module's answer (backend_parse), with maybe_created already
 * set for a submit that got no answer. */
void remote_step(const struct step_view *v, const struct step_exchange *x,
		 const struct remote_answer *ans, struct remote_step *out);

/* remote_step_fetch decides after a download that failed (the file is not
 * there): a permanent failure (SSRF refusal, too big, a protocol refused,
 * 4xx but 429) fails the task, anything else is retried. */
void remote_step_fetch(const struct step_view *v, const struct step_exchange *x, long status,
		       int permanent, struct remote_step *out);

/* remote_backoff_ms: the wait before try number tries (0 = the first
 * retry), jitter 0..255 making it 50..100 % of the base, or hint_ms when
 * that is longer (at most STEP_RETRY_AFTER_MAX_MS). */
long remote_backoff_ms(int tries, long hint_ms, unsigned jitter);

#endif
