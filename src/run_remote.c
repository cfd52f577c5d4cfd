/*
 * run_remote: tasks on HTTP backends, as the dispatcher drives them.
 *
 * A remote task is a chain of requests (upload, submit, poll..., fetch),
 * each built and read by the backend's adapter and sent here through the
 * dispatcher's curl multi handle.  What must survive a crash is written
 * before the request that depends on it: the intent to submit (so that a
 * dispatcher that dies mid-submit is followed by a reconcile, never by a
 * second submit), the upstream's id, the result URL.  Transient failures
 * back off exponentially with jitter; a submit that fails transiently moves
 * on to the model's next backend.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "dispatcher_int.h"
#include "id.h"
#include "log.h"
#include "metrics.h"
#include "record.h"
#include "remote_step.h"
#include "task.h"
#include "video.h"

static long retry_after_ms(const struct transfer *t)
{
	if (t == NULL || t->retry_after[0] == '\0')
		return 0;
	char *end;
	long s = strtol(t->retry_after, &end, 10);
	return *end == '\0' && s > 0 ? s * 1000 : 0;
}

/* bind_backend points r at the model's backend number index. */
static int bind_backend(struct dispatcher *d, struct run *r, const struct model_cfg *m, int index)
{
	const struct backend_cfg *b = config_backend(d->cfg, m->backends[index].backend);
	if (b == NULL || b->module->kind != BACKEND_HTTP)
		return -1;
	size_t bi = (size_t)(b - d->cfg->backends);
	if (!d->be_ok[bi])
		return -1;
	disp_set_backend(d, r, b);
	r->be = &d->be[bi];
	r->mb = &m->backends[index];
	r->index = index;
	return 0;
}

static void finish_failed(struct dispatcher *d, struct run *r, const char *code, const char *msg)
{
	log_warn("remote_failed", "video=%s backend=%s code=%s", r->id, r->backend->name, code);
	disp_remove_partial_files(r);
	disp_fail_run(d, r, code, msg);
}

/* answer_file: an unlinked file next to r's video for a big answer. */
static int answer_file(struct run *r)
{
	char path[PATH_MAXLEN + 16];
	snprintf(path, sizeof(path), "%s.answer", r->video);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0)
		unlink(path);
	return fd;
}

/* issue builds and sends the request of r's phase.  The record it read
 * stays with the run (r->rec) until the answer is read: one parse per
 * exchange, not two. */
static void issue(struct dispatcher *d, struct run *r)
{
	json_object_put(r->rec);
	r->rec = NULL;
	struct json_object *rec = disp_load(d, r->id);
	if (rec == NULL) {
		disp_cancel_run(d, r, "deleted");
		return;
	}
	struct http_req req;
	struct remote_answer ans;
	http_req_init(&req);
	memset(&ans, 0, sizeof(ans));
	if (r->be->type->build(r->be, r->mb, rec, r->phase, &req, &ans) < 0) {
		http_req_deinit(&req);
		json_object_put(rec);
		finish_failed(d, r, ans.code[0] ? ans.code : "invalid_task",
			      ans.message[0] ? ans.message
					     : "The task cannot be sent to this backend.");
		return;
	}
	int auth = req.auth;
	if (!auth && (r->phase == PHASE_SUBMIT || r->phase == PHASE_UPLOAD)) {
		/* The intent is on disk before the request leaves. */
		char at[32];
		snprintf(at, sizeof(at), "%lld", (long long)disp_wall_ms());
		disp_set_phase(rec, r);
		if (r->phase == PHASE_SUBMIT && remote_get(rec, "intent_at") == NULL)
			remote_set(rec, "intent_at", at);
		task_renew(rec, disp_wall_ms());
		if (disp_save(d, rec) < 0) {
			http_req_deinit(&req);
			json_object_put(rec);
			disp_cancel_run(d, r, "deleted");
			return;
		}
	}
	struct transfer_limits lim = {
		.connect_timeout_ms = 10000,
		.timeout_ms = r->backend->request_timeout_ms,
		.max_bytes = 8u << 20,
		.max_redirects = 0,
		.policy = &r->backend->policy,
	};
	int to_fd = -1;
	if (r->phase == PHASE_FETCH_VIDEO || r->phase == PHASE_FETCH_THUMB) {
		char part[PATH_MAXLEN + 16];
		snprintf(part, sizeof(part), "%s.part.%s",
			 r->phase == PHASE_FETCH_VIDEO ? r->video : r->thumb,
			 r->phase == PHASE_FETCH_VIDEO ? "mp4" : "webp");
		to_fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (to_fd < 0) {
			http_req_deinit(&req);
			json_object_put(rec);
			finish_failed(d, r, "storage_error",
				      "The server could not store the result.");
			return;
		}
		r->fetch_fd = to_fd;
		lim.max_bytes = d->cfg->max_output_bytes;
		lim.max_redirects = 3;
		lim.timeout_ms = r->backend->download_timeout_ms;
	} else if (req.max_bytes > lim.max_bytes) {
		/* A big answer (a result inline in a poll): on disk, not in
		 * the dispatcher's memory; read mapped by answered(). */
		lim.max_bytes = req.max_bytes;
		lim.timeout_ms = r->backend->download_timeout_ms;
		to_fd = answer_file(r);
		if (to_fd < 0) {
			http_req_deinit(&req);
			json_object_put(rec);
			finish_failed(d, r, "storage_error",
				      "The server could not store the backend's answer.");
			return;
		}
		r->fetch_fd = to_fd;
	}
	struct transfer *t = transfer_new(&req, &lim, to_fd);
	http_req_deinit(&req);
	if (t == NULL) {
		json_object_put(rec);
		r->next_at = disp_mono_ms() + 1000;
		return;
	}
	r->rec = rec;
	t->owner = r;
	t->phase = auth ? PHASE_AUTH : r->phase;
	r->xfer = t;
	d->inflight[r->backend - d->cfg->backends]++;
	curl_multi_add_handle(d->multi, t->easy);
	log_debug("remote_request", "video=%s backend=%s phase=%s", r->id, r->backend->name,
		  remote_phase_name(r->phase));
}

/* first_phase: a task with an image starts with its upload on a backend
 * that uploads images (BCAP_UPLOAD), else with its submit. */
static enum remote_phase first_phase(const struct run *r, struct json_object *rec)
{
	struct json_object *p = rec_obj(rec, "params");
	int has_image = p && json_object_object_get_ex(p, "image", NULL);
	return (r->be->type->caps & BCAP_UPLOAD) && has_image ? PHASE_UPLOAD : PHASE_SUBMIT;
}

/* failover moves a submit to the model's next backend that can take it. */
static int failover(struct dispatcher *d, struct run *r)
{
	struct json_object *rec = disp_load(d, r->id);
	if (rec == NULL)
		return -1;
	const struct model_cfg *m =
		config_model(d->cfg, rec_str(rec, "model") ? rec_str(rec, "model") : "");
	int moved = -1;
	for (int i = r->index + 1; m && i < (int)m->nbackends; i++) {
		const struct backend_cfg *b = config_backend(d->cfg, m->backends[i].backend);
		if (b == NULL || disp_running_on(d, b) >= b->concurrency)
			continue;
		const struct backend_cfg *old = r->backend;
		if (bind_backend(d, r, m, i) < 0)
			continue;
		log_warn("remote_failover", "video=%s from=%s to=%s", r->id, old->name,
			 r->backend->name);
		json_object_object_del(remote_obj(rec), "intent_at");
		for (const char *const *k = old->module->record_keys; k && *k; k++)
			json_object_object_del(remote_obj(rec), *k);
		r->phase = first_phase(r, rec);
		disp_set_phase(rec, r);
		disp_save(d, rec);
		r->tries = 0;
		r->usage_unit[0] = '\0'; /* a usage signal was the old upstream's job's */
		r->next_at = disp_mono_ms();
		moved = 0;
		break;
	}
	json_object_put(rec);
	return moved;
}

/* record writes what an answer taught us (the values it asked to keep,
 * name = value when name is not NULL, and the phase it leads to) in the
 * turn's batch; r's next request waits for that commit. */
static int record(struct dispatcher *d, struct run *r, const struct remote_answer *ans,
		  const char *name, const char *value)
{
	json_object_put(r->w_keep);
	r->w_keep = NULL;
	if (name || (ans && ans->nkeep > 0)) {
		r->w_keep = json_object_new_object();
		for (int i = 0; r->w_keep && ans && i < ans->nkeep; i++)
			json_object_object_add(r->w_keep, ans->keep[i].name,
					       json_object_new_string(ans->keep[i].value));
		if (r->w_keep && name)
			json_object_object_add(r->w_keep, name, json_object_new_string(value));
		if (r->w_keep == NULL) {
			disp_cancel_run(d, r, "out of memory");
			return -1;
		}
	}
	r->w_record = 1;
	disp_list_push(d, RL_WRITE, r);
	return 0;
}

/* exchange_of: how the exchange t ended, for remote_step. */
static struct step_exchange exchange_of(const struct transfer *t, const char *why)
{
	struct step_exchange x = {
		.blocked = t->blocked,
		.answered = t->result == CURLE_OK && t->status != 0,
		.connect_failed = t->result == CURLE_COULDNT_CONNECT ||
				  t->result == CURLE_COULDNT_RESOLVE_HOST,
		.retry_after_ms = retry_after_ms(t),
		.why = why,
	};
	return x;
}

/* view_of: what remote_step knows of r. */
static void view_of(const struct run *r, struct step_view *v)
{
	uint8_t j;
	memset(v, 0, sizeof(*v));
	v->phase = r->phase;
	v->tries = r->tries;
	v->max_retries = r->backend->max_retries;
	v->poll_ms = r->backend->poll_ms;
	v->progress = r->progress;
	v->jitter = id_random(&j, 1) < 0 ? 128 : j;
	v->can_reconcile = (r->be->type->caps & BCAP_RECONCILE) != 0;
	v->resubmit_unknown = r->backend->resubmit_unknown;
}

static long intent_unsettled_ms(struct dispatcher *d, struct run *r);
static int pick_candidate(struct dispatcher *d, struct run *r, struct remote_answer *ans);

/* look_up adds to v what a reconcile's answer needs from the store: how
 * long a lost submit may still arrive, and whether every candidate job is
 * another task's (else the free one becomes ans->upstream_id). */
static void look_up(struct dispatcher *d, struct run *r, struct remote_answer *ans,
		    struct step_view *v)
{
	if ((r->phase != PHASE_RECONCILE && r->phase != PHASE_RECONCILE2) || ans->verdict != RV_OK)
		return;
	if (ans->state == RS_NOT_FOUND)
		v->unsettled_ms = intent_unsettled_ms(d, r);
	else if (ans->ncandidates > 0)
		v->candidates_taken = pick_candidate(d, r, ans) < 0;
}

/* follow carries out what remote_step decided for r. */
static void follow(struct dispatcher *d, struct run *r, const struct remote_answer *ans,
		   const struct remote_step *st)
{
	if (st->failover && failover(d, r) == 0)
		return;
	if (st->act == STEP_FAIL) {
		finish_failed(d, r, st->code, st->message);
		return;
	}
	if (st->event)
		log_info(st->event,
			 "video=%s backend=%s phase=%s tries=%d upstream_id=%s detail=\"%s\"",
			 r->id, r->backend->name, remote_phase_name(r->phase), st->tries,
			 ans && ans->upstream_id[0] ? ans->upstream_id : "-",
			 st->detail ? st->detail : "");
	if (st->tries > r->tries)
		metrics_retry(r->backend->name, r->phase);
	r->tries = st->tries;
	if (st->progress >= 0)
		disp_progress(d, r, st->progress);
	r->phase = st->phase;
	if (st->record && record(d, r, ans, st->name, st->value) < 0)
		return;
	r->next_at = disp_mono_ms() + st->delay_ms;
}

/* video_stored: r's video is in place; its thumbnail and previews next. */
static void video_stored(struct dispatcher *d, struct run *r)
{
	r->tries = 0;
	if (r->be->type->caps & BCAP_THUMBNAIL) {
		r->phase = PHASE_FETCH_THUMB;
		r->next_at = disp_mono_ms();
		return;
	}
	r->stage = STAGE_THUMBNAIL;
	r->phase = PHASE_NONE;
	local_start_preview(d, r);
}

/* store_inline decodes a result the answer carried (base64) into r's
 * video file, a slice at a time; -1 when it is not base64 or cannot be
 * written. */
static int store_inline(struct run *r, const char *b64, size_t len)
{
	char part[PATH_MAXLEN + 16];
	snprintf(part, sizeof(part), "%s.part.mp4", r->video);
	int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	enum { SLICE = 64 * 1024 }; /* a multiple of 4 */
	static uint8_t out[SLICE / 4 * 3];
	int ok = len > 0;
	for (size_t off = 0; ok && off < len; off += SLICE) {
		size_t n = len - off < SLICE ? len - off : SLICE;
		if (n % 4 != 0 && off + n < len) {
			ok = 0;
			break;
		}
		long got = codec_base64_decode(b64 + off, n, out);
		ok = got >= 0 && write(fd, out, (size_t)got) == got;
	}
	ok = close(fd) == 0 && ok;
	if (!ok || rename(part, r->video) < 0) {
		unlink(part);
		return -1;
	}
	return 0;
}

static void fetched(struct dispatcher *d, struct run *r, struct transfer *t)
{
	int is_video = t->phase == PHASE_FETCH_VIDEO;
	char part[PATH_MAXLEN + 16];
	snprintf(part, sizeof(part), "%s.part.%s", is_video ? r->video : r->thumb,
		 is_video ? "mp4" : "webp");
	close(r->fetch_fd);
	r->fetch_fd = -1;
	int ok = t->result == CURLE_OK && t->status == 200 && t->got > 0;
	if (is_video) {
		if (!ok || rename(part, r->video) < 0) {
			unlink(part);
			char why[300];
			transfer_describe(t, why, sizeof(why));
			struct step_view v;
			struct step_exchange x = exchange_of(t, why);
			struct remote_step st;
			view_of(r, &v);
			remote_step_fetch(&v, &x, t->status,
					  t->too_big || t->result == CURLE_UNSUPPORTED_PROTOCOL,
					  &st);
			follow(d, r, NULL, &st);
			return;
		}
		video_stored(d, r);
		return;
	} else {
		if (ok && rename(part, r->thumb) == 0)
			r->has_thumb = 1;
		else
			unlink(part);
		r->stage = r->has_thumb ? STAGE_SPRITESHEET : STAGE_THUMBNAIL;
	}
	r->phase = PHASE_NONE;
	local_start_preview(d, r);
}

/* intent_unsettled_ms: how long until a submit sent at the recorded intent
 * can no longer be in flight (request timeout + 2 s), 0 when it cannot. */
static long intent_unsettled_ms(struct dispatcher *d, struct run *r)
{
	/* Only a submit lost with a dead dispatcher can still be in the
	 * upstream's hands; an exchange this dispatcher saw end cannot. */
	if (!r->adopted)
		return 0;
	struct json_object *rec = disp_load(d, r->id);
	const char *at = rec ? remote_get(rec, "intent_at") : NULL;
	long long intent = at ? atoll(at) : 0;
	json_object_put(rec);
	if (intent <= 0)
		return 0;
	long timeout = r->backend->request_timeout_ms;
	long long settled = intent + timeout + 2000, now = disp_wall_ms();
	return settled > now ? (long)(settled - now) : 0;
}

/* pick_candidate takes the first upstream job no other task holds. */
static int pick_candidate(struct dispatcher *d, struct run *r, struct remote_answer *ans)
{
	for (int i = 0; i < ans->ncandidates; i++) {
		char holder[ID_MAX];
		enum rg_err err =
			store_upstream_holder(d->st, r->backend->name, ans->candidates[i], holder);
		if (err == RG_ENOENT || (err == RG_OK && strcmp(holder, r->id) == 0)) {
			snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s",
				 ans->candidates[i]);
			return 0;
		}
	}
	return -1;
}

/* after_auth: a token request ended (its answer is in the module's
 * state); the phase's own request is built again. */
static void after_auth(struct dispatcher *d, struct run *r, const struct step_exchange *x,
		       const struct remote_answer *ans)
{
	if (x->blocked || ans->verdict == RV_FAIL) {
		finish_failed(d, r,
			      x->blocked     ? "upstream_forbidden"
			      : ans->code[0] ? ans->code
					     : "upstream_auth_failed",
			      x->blocked
				      ? "The backend's token address is refused by the SSRF guard; "
					"list it in the backend's allow_addresses."
			      : ans->message[0] ? ans->message
						: "The backend's credentials were refused.");
		return;
	}
	if (ans->verdict == RV_RETRY) {
		uint8_t j;
		if (++r->tries > r->backend->max_retries) {
			char msg[600];
			snprintf(msg, sizeof(msg),
				 "The backend's token service kept failing (%.400s); gave up after "
				 "%d attempts.",
				 x->why ? x->why : "no reason", r->tries);
			finish_failed(d, r, "upstream_unavailable", msg);
			return;
		}
		long hint = ans->retry_after_ms ? ans->retry_after_ms : x->retry_after_ms;
		r->next_at = disp_mono_ms() +
			     remote_backoff_ms(r->tries, hint, id_random(&j, 1) < 0 ? 128 : j);
		metrics_retry(r->backend->name, PHASE_AUTH);
		log_info("remote_retry", "video=%s backend=%s phase=token tries=%d detail=\"%s\"",
			 r->id, r->backend->name, r->tries, x->why ? x->why : "");
		return;
	}
	r->tries = 0;
	r->next_at = disp_mono_ms();
}

static void answered(struct dispatcher *d, struct run *r, struct transfer *t)
{
	struct remote_answer ans;
	memset(&ans, 0, sizeof(ans));
	ans.progress = -1;
	long status = t->result == CURLE_OK ? t->status : 0;
	char why[300];
	transfer_describe(t, why, sizeof(why));
	struct step_exchange x = exchange_of(t, why);
	struct json_object *rec = r->rec ? r->rec : disp_load(d, r->id);
	r->rec = NULL;
	if (rec == NULL && !t->blocked) {
		disp_cancel_run(d, r, "deleted");
		return;
	}
	/* A big answer was written to a file: read it mapped. */
	const char *body = t->resp.data;
	size_t len = t->resp.len;
	void *map = MAP_FAILED;
	if (t->to_fd >= 0) {
		len = t->got;
		if (len > 0)
			map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, t->to_fd, 0);
		body = map == MAP_FAILED ? "" : map;
		if (map == MAP_FAILED)
			len = 0;
		if (r->fetch_fd == t->to_fd) { /* the mapping outlives it */
			close(r->fetch_fd);
			r->fetch_fd = -1;
		}
	}
	enum remote_phase ph = (enum remote_phase)t->phase;
	if (!t->blocked)
		backend_parse(r->be, rec, ph, status, body, len, &ans);
	json_object_put(rec);
	if (ans.usage_unit[0]) { /* the provider's word on what the job used */
		memcpy(r->usage_unit, ans.usage_unit, sizeof(r->usage_unit));
		r->usage_amount = ans.usage_amount;
	}
	if (ph == PHASE_AUTH) {
		after_auth(d, r, &x, &ans);
	} else if (ans.verdict == RV_OK && ans.state == RS_SUCCEEDED && ans.inline_video &&
		   (r->phase == PHASE_POLL || r->phase == PHASE_POLL2)) {
		/* the result came in the answer: stored at once */
		if (store_inline(r, ans.inline_video, ans.inline_video_len) < 0)
			finish_failed(
				d, r, "download_failed",
				"The backend's inline result is not a readable base64 video, or "
				"could not be stored.");
		else
			video_stored(d, r);
	} else {
		if (status == 0 &&
		    r->phase == PHASE_SUBMIT) /* did the request reach the upstream? */
			ans.maybe_created = !x.connect_failed;
		struct step_view v;
		struct remote_step st;
		view_of(r, &v);
		look_up(d, r, &ans, &v);
		remote_step(&v, &x, &ans, &st);
		follow(d, r, &ans, &st);
	}
	if (map != MAP_FAILED)
		munmap(map, len);
}

void remote_transfers_done(struct dispatcher *d)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct transfer *t = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		CURLcode result = msg->data.result;
		curl_multi_remove_handle(d->multi, msg->easy_handle);
		if (t == NULL)
			continue;
		transfer_done(t, result);
		if (transfer_follow(t)) {
			curl_multi_add_handle(d->multi, t->easy);
			continue;
		}
		if (upstream_cancel_done(&d->ucancels, t))
			continue;
		if (webhooks_done(&d->hooks, t))
			continue;
		if (s3_uploads_done(&d->uploads, t))
			continue;
		if (image_fetch_done(&d->fetches, t)) {
			d->scan_now = 1; /* its task can start, another download can */
			continue;
		}
		struct run *r = t->owner;
		r->xfer = NULL;
		d->inflight[r->backend - d->cfg->backends]--;
		metrics_upstream(r->backend->name, t);
		if (t->phase == PHASE_FETCH_VIDEO || t->phase == PHASE_FETCH_THUMB) {
			/* (a token fetched for a download is an answer) */
			json_object_put(r->rec);
			r->rec = NULL;
			fetched(d, r, t);
		} else {
			answered(d, r, t);
		}
		transfer_free(t);
		disp_schedule(d, r); /* its next request (nothing when it is gone) */
	}
}

static int backend_full(const struct dispatcher *d, const struct run *r)
{
	return d->inflight[r->backend - d->cfg->backends] >= INFLIGHT_MAX;
}

void remote_issue(struct dispatcher *d, struct run *r)
{
	if (backend_full(d, r)) {
		disp_list_push(d, RL_READY, r); /* its turn comes when a request ends */
		return;
	}
	issue(d, r);
}

void remote_issue_ready(struct dispatcher *d)
{
	for (size_t i = 0; i < d->cfg->nbackends; i++) {
		struct run_list *L = &d->ready[i];
		while (L->head && d->inflight[i] < INFLIGHT_MAX) {
			struct run *r = L->head;
			disp_list_remove(d, RL_READY, r);
			issue(d, r);
			disp_schedule(d, r);
		}
	}
}

/* new_remote_run makes the in-memory run of a remote task. */
static struct run *new_remote_run(struct dispatcher *d, struct json_object *rec,
				  const struct model_cfg *m, int index)
{
	const char *id = rec_str(rec, "id");
	struct run *r = disp_new_run(d, id, NULL);
	if (r == NULL)
		return NULL;
	if (bind_backend(d, r, m, index) < 0) {
		disp_free_run(d, r);
		return NULL;
	}
	r->stage = STAGE_REMOTE;
	int64_t v;
	struct json_object *params = rec_obj(rec, "params");
	r->seconds = rec_int(params, "seconds", &v) ? (int)v : 4;
	r->fps = rec_int(params, "fps", &v) ? (int)v : 24;
	r->deadline_at = task_deadline(rec);
	r->last_write = disp_mono_ms();
	r->next_at = disp_mono_ms();
	disp_add_run(d, r);
	return r;
}

/* remix_source notes the upstream id of a remix's source when it was made
 * on the same backend, so the upstream's own remix is used. */
static void remix_source(struct dispatcher *d, struct json_object *rec, const struct run *r)
{
	const char *src = rec_str(rec, "remixed_from_video_id");
	if (src == NULL)
		return;
	struct json_object *s = disp_load(d, src);
	const char *b = s ? remote_get(s, "backend") : NULL;
	const char *up = s ? remote_get(s, "upstream_id") : NULL;
	if (b && up && strcmp(b, r->backend->name) == 0)
		remote_set(rec, "remix_upstream_id", up);
	json_object_put(s);
}

int remote_start(struct dispatcher *d, struct json_object *rec, const struct model_cfg *m)
{
	int chosen = -1;
	for (size_t i = 0; i < m->nbackends && chosen < 0; i++) {
		const struct backend_cfg *b = config_backend(d->cfg, m->backends[i].backend);
		if (b && disp_running_on(d, b) < b->concurrency)
			chosen = (int)i;
	}
	if (chosen < 0)
		return -1; /* every backend is busy: stays queued */
	if (image_fetch_needed(config_backend(d->cfg, m->backends[chosen].backend), rec)) {
		image_fetch_start(&d->fetches, rec); /* the task starts once it is stored */
		return 0;
	}
	struct run *r = new_remote_run(d, rec, m, chosen);
	if (r == NULL) {
		disp_fail_task(
			d, rec_str(rec, "id"), "upstream_unavailable",
			"The model's backend is not usable on this server (see the server log).");
		return 0;
	}
	r->phase = first_phase(r, rec);
	task_start(rec, disp_wall_ms(), r->backend->name);
	remix_source(d, rec, r);
	disp_set_phase(rec, r);
	if (disp_save(d, rec) < 0) {
		disp_free_run(d, r);
		return 0;
	}
	log_info("remote_started", "video=%s backend=%s", r->id, r->backend->name);
	remote_issue(d, r);
	disp_schedule(d, r);
	return 0;
}

void remote_adopt(struct dispatcher *d, struct json_object *rec)
{
	const struct model_cfg *m =
		config_model(d->cfg, rec_str(rec, "model") ? rec_str(rec, "model") : "");
	struct json_object *idx;
	int index = json_object_object_get_ex(remote_obj(rec), "index", &idx)
			    ? json_object_get_int(idx)
			    : 0;
	if (m == NULL || index < 0 || index >= (int)m->nbackends) {
		disp_fail_task(d, rec_str(rec, "id"), "model_unavailable",
			       "The task's model is no longer configured on this server.");
		return;
	}
	struct run *r = new_remote_run(d, rec, m, index);
	if (r == NULL) {
		disp_fail_task(
			d, rec_str(rec, "id"), "upstream_unavailable",
			"The task's backend is not usable on this server (see the server log).");
		return;
	}
	r->adopted = 1;
	const char *phase = remote_get(rec, "phase");
	if (phase && strcmp(phase, "uploading") == 0)
		r->phase = PHASE_UPLOAD;
	else if (phase && (strcmp(phase, "submitting") == 0 || strcmp(phase, "reconciling") == 0))
		r->phase = PHASE_RECONCILE;
	else if (remote_get(rec, "upstream_id"))
		r->phase = PHASE_POLL;
	else
		r->phase = PHASE_RECONCILE;
	if (r->phase == PHASE_RECONCILE && !(r->be->type->caps & BCAP_RECONCILE)) {
		/* The dispatcher died with a submit in flight and the module
		 * cannot look the job up. */
		if (!r->backend->resubmit_unknown) {
			disp_free_run(d, r);
			disp_fail_task(
				d, rec_str(rec, "id"), "upstream_unknown_outcome",
				"The server restarted while the submit was in flight and this "
				"backend cannot look the job up; it was not sent again, to "
				"avoid a second charge.");
			return;
		}
		r->phase = PHASE_SUBMIT;
	}
	struct json_object *p;
	if (json_object_object_get_ex(rec, "progress", &p))
		r->progress = r->progress_written = json_object_get_int(p);
	task_renew(rec, disp_wall_ms());
	disp_save(d, rec);
	disp_schedule(d, r);
	log_info("remote_adopted", "video=%s backend=%s phase=%s", r->id, r->backend->name,
		 remote_phase_name(r->phase));
}
