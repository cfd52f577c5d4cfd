/*
 * upstream_cancel: cancelling the upstream jobs of deleted tasks
 * (upstream_cancel.h).
 */
#include "upstream_cancel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "id.h"
#include "log.h"
#include "record.h"
#include "remote_step.h"

#define PURGE_EVERY_MS (3600 * 1000)
#define KEEP_FINISHED_MS (7LL * 24 * 3600 * 1000)

void upstream_cancel_init(struct upstream_cancels *c, const struct config *cfg, struct store *st,
			  CURLM *multi, struct backend *be, const int *be_ok)
{
	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->st = st;
	c->multi = multi;
	c->be = be;
	c->be_ok = be_ok;
}

static void free_slot(struct upstream_cancels *c, struct upstream_cancel *s)
{
	if (s->xfer) {
		curl_multi_remove_handle(c->multi, s->xfer->easy);
		transfer_free(s->xfer);
	}
	json_object_put(s->e);
	free(s->answer);
	memset(s, 0, sizeof(*s));
}

void upstream_cancel_deinit(struct upstream_cancels *c)
{
	for (int i = 0; i < UPSTREAM_CANCEL_MAX; i++)
		if (c->slot[i].id[0])
			free_slot(c, &c->slot[i]);
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* finish records the outcome of entry e (which it puts). */
static void finish(struct upstream_cancels *c, struct json_object *e, const char *state,
		   const char *message)
{
	struct json_object *video = rec_obj(e, "video");
	const char *id = rec_str(e, "id");
	json_object_object_add(e, "state", json_object_new_string(state));
	json_object_object_add(e, "done_at", json_object_new_int64(wall_ms()));
	if (message)
		json_object_object_add(e, "message", json_object_new_string(message));
	enum rg_err err = store_cancel_finish(c->st, e);
	const char *backend = video ? remote_get(video, "backend") : NULL;
	const char *up = video ? remote_get(video, "upstream_id") : NULL;
	if (err != RG_OK && err != RG_ENOENT)
		log_error("upstream_cancel_unrecorded", "video=%s err=\"%s\"", id ? id : "-",
			  rg_strerror(err));
	log_info("upstream_cancel", "video=%s backend=%s upstream_id=%s result=%s", id ? id : "-",
		 backend ? backend : "-", up ? up : "-", state);
	json_object_put(e);
}

/* later keeps e pending, to be tried again after a backoff (or finished
 * as failed once the backend's max_retries are spent). */
static void later(struct upstream_cancels *c, struct json_object *e, const struct backend_cfg *b,
		  long hint_ms, const char *why)
{
	int tries = (int)rec_i64(e, "tries") + 1;
	if (tries > b->max_retries) {
		char msg[600];
		snprintf(msg, sizeof(msg),
			 "The backend kept failing (%.400s); gave up after %d attempts.",
			 why ? why : "no reason", tries);
		finish(c, e, "failed", msg);
		return;
	}
	uint8_t j;
	long wait = remote_backoff_ms(tries - 1, hint_ms, id_random(&j, 1) < 0 ? 128 : j);
	json_object_object_add(e, "tries", json_object_new_int(tries));
	json_object_object_add(e, "next_at", json_object_new_int64(wall_ms() + wait));
	store_cancel_update(c->st, e);
	json_object_put(e);
}

/* backend_of: the configured backend (and its index) that ran video. */
static const struct backend_cfg *backend_of(struct upstream_cancels *c, struct json_object *video,
					    size_t *index)
{
	const char *name = video ? remote_get(video, "backend") : NULL;
	const struct backend_cfg *b = name ? config_backend(c->cfg, name) : NULL;
	if (b)
		*index = (size_t)(b - c->cfg->backends);
	return b;
}

/* model_entry: the model's entry for backend b (what build reads). */
static const struct model_backend *model_entry(struct upstream_cancels *c,
					       struct json_object *video,
					       const struct backend_cfg *b)
{
	const char *model = rec_str(video, "model");
	const struct model_cfg *m = model ? config_model(c->cfg, model) : NULL;
	for (size_t i = 0; m && i < m->nbackends; i++)
		if (strcmp(m->backends[i].backend, b->name) == 0)
			return &m->backends[i];
	return NULL;
}

/* send_cancel issues the cancel of entry e (taken) in slot s; the entry is
 * finished at once when there is nothing to send. */
static void send_cancel(struct upstream_cancels *c, struct upstream_cancel *s,
			struct json_object *e)
{
	struct json_object *video = rec_obj(e, "video");
	size_t bi = 0;
	const struct backend_cfg *b = backend_of(c, video, &bi);
	if (b == NULL || !c->be_ok[bi]) {
		finish(c, e, "failed", "The task's backend is no longer configured or usable.");
		return;
	}
	if (!(b->module->caps & BCAP_CANCEL)) {
		finish(c, e, "unsupported", "This backend's upstream has no way to cancel a job.");
		return;
	}
	if (remote_get(video, "upstream_id") == NULL) {
		if (remote_get(video, "intent_at") == NULL)
			finish(c, e, "not_submitted", "Nothing had reached the upstream.");
		else
			finish(c, e, "unknown",
			       "A submit was in flight when the video was deleted; its job, if the "
			       "upstream made one, could not be identified.");
		return;
	}
	const struct model_backend *mb = model_entry(c, video, b);
	if (mb == NULL) {
		finish(c, e, "failed", "The task's model no longer lists its backend.");
		return;
	}
	struct http_req req;
	struct remote_answer ans;
	http_req_init(&req);
	memset(&ans, 0, sizeof(ans));
	if (b->module->build(&c->be[bi], mb, video, PHASE_CANCEL, &req, &ans) < 0) {
		http_req_deinit(&req);
		finish(c, e, "failed",
		       ans.message[0] ? ans.message : "The cancel could not be expressed.");
		return;
	}
	struct transfer_limits lim = {
		.connect_timeout_ms = 10000,
		.timeout_ms = b->request_timeout_ms,
		.max_bytes = 1u << 20,
		.max_redirects = 0,
		.policy = &b->policy,
	};
	int auth = req.auth;
	struct transfer *t = transfer_new(&req, &lim, -1);
	http_req_deinit(&req);
	if (t == NULL) {
		later(c, e, b, 0, "out of memory");
		return;
	}
	snprintf(s->id, sizeof(s->id), "%s", rec_str(e, "id"));
	s->xfer = t;
	s->e = e;
	s->auth = auth;
	t->owner = s;
	t->phase = auth ? PHASE_AUTH : PHASE_CANCEL;
	curl_multi_add_handle(c->multi, t->easy);
	log_debug("upstream_cancel_sent", "video=%s backend=%s", s->id, b->name);
}

static struct upstream_cancel *slot_of(struct upstream_cancels *c, const char *id)
{
	for (int i = 0; i < UPSTREAM_CANCEL_MAX; i++)
		if (c->slot[i].id[0] && strcmp(c->slot[i].id, id) == 0)
			return &c->slot[i];
	return NULL;
}

static struct upstream_cancel *free_one(struct upstream_cancels *c)
{
	for (int i = 0; i < UPSTREAM_CANCEL_MAX; i++)
		if (c->slot[i].id[0] == '\0')
			return &c->slot[i];
	return NULL;
}

static int learned(struct upstream_cancels *c, struct upstream_cancel *s);

struct due {
	struct upstream_cancels *c;
	int64_t now;
	struct json_object *picked[UPSTREAM_CANCEL_MAX];
	int n;
};

static int collect(struct json_object *e, void *arg)
{
	struct due *d = arg;
	const char *id = rec_str(e, "id");
	if (id == NULL || slot_of(d->c, id) || rec_i64(e, "next_at") > d->now)
		return 0;
	d->picked[d->n++] = json_object_get(e);
	return d->n == UPSTREAM_CANCEL_MAX;
}

void upstream_cancel_tick(struct upstream_cancels *c, int64_t now_ms)
{
	(void)now_ms;
	int64_t wall = wall_ms();
	for (int i = 0; i < UPSTREAM_CANCEL_MAX; i++) /* adopted submits, answered */
		if (c->slot[i].submit && c->slot[i].xfer == NULL && learned(c, &c->slot[i]) == 0)
			free_slot(c, &c->slot[i]);
	struct due d = { c, wall, { 0 }, 0 };
	enum rg_err err = store_cancel_pending(c->st, collect, &d);
	if (err != RG_OK)
		log_error("upstream_cancel_scan_failed", "err=\"%s\"", rg_strerror(err));
	for (int i = 0; i < d.n; i++) {
		struct upstream_cancel *s = free_one(c);
		if (s == NULL) {
			json_object_put(d.picked[i]);
			continue;
		}
		send_cancel(c, s, d.picked[i]);
	}
	if (now_ms >= c->next_purge_ms) {
		size_t removed = 0;
		store_cancel_purge(c->st, (uint64_t)(wall - KEEP_FINISHED_MS), &removed);
		if (removed)
			log_info("upstream_cancels_purged", "entries=%zu", removed);
		c->next_purge_ms = now_ms + PURGE_EVERY_MS;
	}
}

int upstream_cancel_done(struct upstream_cancels *c, struct transfer *t)
{
	struct upstream_cancel *s = NULL;
	for (int i = 0; i < UPSTREAM_CANCEL_MAX && s == NULL; i++)
		if (c->slot[i].id[0] && c->slot[i].xfer == t)
			s = &c->slot[i];
	if (s == NULL)
		return 0;
	if (s->submit) {
		s->status = t->result == CURLE_OK ? t->status : 0;
		s->answer_len = t->resp.len;
		s->answer = malloc(t->resp.len + 1);
		if (s->answer) {
			memcpy(s->answer, t->resp.data ? t->resp.data : "", t->resp.len);
			s->answer[t->resp.len] = '\0';
		}
		curl_multi_remove_handle(c->multi, t->easy);
		transfer_free(t);
		s->xfer = NULL;
		if (learned(c, s) == 0)
			free_slot(c, s);
		return 1;
	}
	struct json_object *e = s->e, *video = rec_obj(e, "video");
	s->e = NULL;
	size_t bi = 0;
	const struct backend_cfg *b = backend_of(c, video, &bi);
	long status = t->result == CURLE_OK ? t->status : 0;
	char why[300];
	transfer_describe(t, why, sizeof(why));
	long hint = t->retry_after[0] ? atol(t->retry_after) * 1000 : 0;
	struct remote_answer ans;
	memset(&ans, 0, sizeof(ans));
	ans.progress = -1;
	enum remote_phase ph = s->auth ? PHASE_AUTH : PHASE_CANCEL;
	if (b && !t->blocked)
		backend_parse(&c->be[bi], video, ph, status, t->resp.data, t->resp.len, &ans);
	free_slot(c, s); /* frees t */
	if (b == NULL) {
		finish(c, e, "failed", "The task's backend is no longer configured.");
	} else if (ans.verdict == RV_FAIL) {
		finish(c, e, ph == PHASE_AUTH ? "failed" : "refused",
		       ans.message[0] ? ans.message : "The upstream refused to cancel the job.");
	} else if (ans.verdict == RV_RETRY || status == 0) {
		later(c, e, b, ans.retry_after_ms ? ans.retry_after_ms : hint, why);
	} else if (ph == PHASE_AUTH) {
		json_object_object_del(e, "next_at"); /* the cancel itself, next scan */
		store_cancel_update(c->st, e);
		json_object_put(e);
	} else {
		finish(c, e, ans.state == RS_NOT_FOUND ? "gone" : "cancelled", NULL);
	}
	return 1;
}

/* learned gives the pending entry of slot s (an adopted submit, answered)
 * the job's id, when the module reads one from the answer; 0 when done
 * with the slot, -1 while the entry is not there yet (the delete's
 * transaction may commit after the answer came). */
static int learned(struct upstream_cancels *c, struct upstream_cancel *s)
{
	struct json_object *e = NULL;
	enum rg_err err = store_cancel_get(c->st, s->id, &e);
	if (err == RG_ENOENT)
		return ++s->waits < 30 ? -1 : 0;
	const char *state = e ? rec_str(e, "state") : NULL;
	if (err != RG_OK || state == NULL || strcmp(state, "pending") != 0) {
		json_object_put(e);
		return 0;
	}
	struct json_object *video = rec_obj(e, "video");
	size_t bi = 0;
	const struct backend_cfg *b = backend_of(c, video, &bi);
	struct remote_answer ans;
	memset(&ans, 0, sizeof(ans));
	ans.progress = -1;
	if (s->known[0]) {
		ans.verdict = RV_OK;
		snprintf(ans.upstream_id, sizeof(ans.upstream_id), "%s", s->known);
	} else if (b && c->be_ok[bi]) {
		backend_parse(&c->be[bi], video, PHASE_SUBMIT, s->status,
			      s->answer ? s->answer : "", s->answer_len, &ans);
	}
	if (b && ans.verdict == RV_OK && ans.upstream_id[0]) {
		remote_set(video, "upstream_id", ans.upstream_id);
		json_object_object_del(e, "next_at");
		store_cancel_update(c->st, e);
		log_info("upstream_cancel_learned", "video=%s backend=%s upstream_id=%s", s->id,
			 b->name, ans.upstream_id);
	}
	json_object_put(e);
	return 0;
}

int upstream_cancel_known(struct upstream_cancels *c, const char *id, const char *upstream_id)
{
	struct upstream_cancel *s = free_one(c);
	if (s == NULL)
		return -1;
	snprintf(s->id, sizeof(s->id), "%s", id);
	snprintf(s->known, sizeof(s->known), "%s", upstream_id);
	s->submit = 1; /* answered: learned() on the next tick */
	return 0;
}

int upstream_cancel_adopt(struct upstream_cancels *c, const char *id, struct transfer *t)
{
	struct upstream_cancel *s = free_one(c);
	if (s == NULL)
		return -1;
	snprintf(s->id, sizeof(s->id), "%s", id);
	s->xfer = t;
	s->submit = 1;
	t->owner = s;
	log_info("upstream_cancel_adopted", "video=%s reason=\"a submit was in flight\"", id);
	return 0;
}
