/*
 * upstream_cancel: the upstream job of a task deleted while queued or in
 * progress is cancelled (backends whose module has BCAP_CANCEL).
 *
 * The delete left an entry in the store (store_cancels.c: the record as it
 * was, "pending"), so nothing is lost to a crash: each scan this part
 * sends the module's PHASE_CANCEL request for the pending entries that are
 * due (at most UPSTREAM_CANCEL_MAX at once, on the dispatcher's curl multi
 * handle, with the backend's SSRF policy and request timeout), retries a
 * transient failure with backoff up to the backend's max_retries, and
 * finishes the entry with its outcome: cancelled, gone (no such job, or it
 * had ended), refused (the upstream would not, and why), failed,
 * not_submitted (nothing had reached the upstream), unknown (a submit was
 * in flight and its job could not be identified) or unsupported (the
 * module cannot cancel).  Every outcome is logged (upstream_cancel).
 */
#ifndef REELGATE_UPSTREAM_CANCEL_H
#define REELGATE_UPSTREAM_CANCEL_H

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdint.h>

#include "backend.h"
#include "config.h"
#include "id.h"
#include "store.h"
#include "transfer.h"

#define UPSTREAM_CANCEL_MAX 8

struct upstream_cancel {
	char id[ID_MAX];       /* the deleted video; "" when free */
	struct transfer *xfer; /* owned */
	struct json_object *e; /* the entry, as read when it was sent */
	int auth;	       /* the request was the module's token request */
	/* a submit that was in flight when its task was deleted: its answer,
	 * kept until the entry it belongs to can be given the job's id */
	int submit;
	long status;
	char *answer;
	size_t answer_len;
	char known[256]; /* or the job's id itself, read but not yet recorded */
	int waits;
};

struct upstream_cancels {
	const struct config *cfg; /* borrowed */
	struct store *st;	  /* borrowed */
	CURLM *multi;		  /* borrowed: the dispatcher's */
	struct backend *be;	  /* borrowed: one per configured backend */
	const int *be_ok;
	int64_t next_purge_ms;
	struct upstream_cancel slot[UPSTREAM_CANCEL_MAX];
};

void upstream_cancel_init(struct upstream_cancels *c, const struct config *cfg, struct store *st,
			  CURLM *multi, struct backend *be, const int *be_ok);
/* deinit drops the requests in flight; their entries stay pending. */
void upstream_cancel_deinit(struct upstream_cancels *c);
/* tick sends the due pending cancels (called on every scan). */
void upstream_cancel_tick(struct upstream_cancels *c, int64_t now_ms);
/* done finishes t when it is one of c's (transfer_done was called): frees
 * t and returns 1; 0 when t is not c's. */
int upstream_cancel_done(struct upstream_cancels *c, struct transfer *t);
/* adopt takes over t, the submit in flight of task id being deleted: it
 * is not cut off (the upstream may make the job all the same); when it is
 * answered the module reads the job's id from it and the pending entry
 * gets it, so the job is cancelled rather than left running.  -1 when no
 * slot is free (t is not taken). */
int upstream_cancel_adopt(struct upstream_cancels *c, const char *id, struct transfer *t);
/* known: task id was deleted after its submit was answered but before the
 * job's id (upstream_id) was committed to its record: the pending entry
 * gets it the same way.  -1 when no slot is free. */
int upstream_cancel_known(struct upstream_cancels *c, const char *id, const char *upstream_id);

#endif
