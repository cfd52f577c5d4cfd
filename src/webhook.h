/*
 * webhook: Standard Webhooks 1.0 (`v1`, HMAC-SHA256) signing, the secrets
 * reelgate issues, and the dispatcher's delivery of the events the store
 * wrote with each terminal state (store_webhooks.c).
 *
 * Delivery: each scan the due pending deliveries are sent (at most
 * webhooks.in_flight at once, webhooks.per_endpoint to one endpoint, on
 * the dispatcher's curl multi handle, through the SSRF guard of
 * webhooks.allow_addresses, no redirects, webhooks.timeout_seconds per
 * attempt), each with webhook-id (the event's id, the same on every
 * retry), webhook-timestamp (this attempt) and webhook-signature (v1 with
 * the endpoint's secret, and with its previous one during a rotation).
 * 2xx delivers; 410 disables the endpoint; any other answer, a timeout or
 * a refused address is a failure, retried on the Standard Webhooks
 * schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h, each
 * with up to 10 % jitter; Retry-After of a 429, 502, 503 or 504 honoured
 * when it is later) until the 10th attempt fails: then the delivery is
 * failed.  A delivery is rewritten only once its outcome is known (the
 * outcomes of up to 50 ms in one commit, the next deliveries sent
 * meanwhile), so one in flight or answered but not yet written when the
 * dispatcher dies is sent again (same webhook-id).
 */
#ifndef REELGATE_WEBHOOK_H
#define REELGATE_WEBHOOK_H

#include <curl/curl.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "id.h"
#include "store.h"
#include "transfer.h"

#define WEBHOOK_ATTEMPTS 10
/* Answered deliveries are written together: when this many wait, or the
 * oldest has waited this long (ms). */
#define WEBHOOK_FLUSH_MAX 256
#define WEBHOOK_FLUSH_MS 50
#define WEBHOOK_SIG_MAX 256

/* webhook_url_ok: an http(s) URL with a host, at most 2048 bytes,
 * printable (what an endpoint may be). */
int webhook_url_ok(const char *u);
/* webhook_secret_new writes a new "whsec_" + base64(32 random bytes). */
int webhook_secret_new(char *out, size_t n);

/* webhook_sign writes "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>"
 * into out (WEBHOOK_SIG_MAX), the key being the base64 after "whsec_" of
 * secret.  -1 when the secret is not one. */
int webhook_sign(const char *secret, const char *id, long long timestamp, const char *body,
		 size_t len, char *out);

/* webhook_retry_delay_ms: the wait before attempt number next (2..10)
 * after a failure, jitter from 0..255. */
long webhook_retry_delay_ms(int next, unsigned jitter);

struct webhook_slot {
	char id[ID_MAX];       /* the delivery's; "" when free */
	char endpoint[ID_MAX]; /* whose secret signs it */
	struct transfer *xfer; /* owned */
	struct json_object *d; /* the delivery as read when it was sent */
	int64_t sent_at;
};

struct webhooks {
	const struct config *cfg; /* borrowed */
	struct store *st;	  /* borrowed */
	CURLM *multi;		  /* borrowed: the dispatcher's */
	int64_t next_purge_ms;
	int nslots;
	struct webhook_slot *slot;     /* cfg->webhook_in_flight of them */
	struct json_object **outcomes; /* answered deliveries, not yet written */
	size_t noutcomes, outcomes_cap;
	int64_t first_outcome_ms; /* when the oldest of them was answered (monotonic) */
	int answered_now;	  /* an answer came since webhooks_answered */
	uint64_t delivered, failed_attempts;
	uint64_t rounds;
};

int webhooks_init(struct webhooks *w, const struct config *cfg, struct store *st, CURLM *multi);
/* deinit drops the deliveries in flight; they stay pending. */
void webhooks_deinit(struct webhooks *w);
/* tick sends the due pending deliveries (called on every scan). */
void webhooks_tick(struct webhooks *w);
/* done finishes t when it is one of w's (transfer_done was called):
 * records the outcome, frees t and returns 1; 0 when t is not w's. */
int webhooks_done(struct webhooks *w, struct transfer *t);
/* flush writes the outcomes webhooks_done read since the last flush, in
 * one transaction, when force, or WEBHOOK_FLUSH_MAX wait, or the oldest
 * waited WEBHOOK_FLUSH_MS; how many (0: none written).  Until then the
 * answered deliveries are not sent again (a dispatcher that dies first
 * sends them again: at least once). */
int webhooks_flush(struct webhooks *w, int force);
/* flush_due_at: when flush must write (monotonic ms; INT64_MAX: nothing). */
int64_t webhooks_flush_due_at(const struct webhooks *w);
/* answered: an answer came since the last call (then tick sends more). */
int webhooks_answered(struct webhooks *w);
/* busy: deliveries in flight. */
int webhooks_busy(const struct webhooks *w);

#endif
