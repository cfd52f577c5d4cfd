/*
 * runs: the table of the dispatcher's runs, what every kind of run shares.
 *
 * A started task is a `struct run` (dispatcher_int.h), on lists (all runs,
 * those with progress to write, with a child, waiting for a preview slot,
 * for a request slot, for a write, for their program's start), in a hash
 * by id and in a heap by the time it must be looked at.  This file owns
 * those, a run's life (made, freed at the end of the turn, cancelled), the
 * task's record read and written, and the batched write that puts every
 * run's step of a turn on disk in one commit.  It calls nothing above it:
 * run_local.c (processes), run_remote.c (requests) and dispatcher.c (the
 * loop) call it.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dispatcher_int.h"
#include "log.h"
#include "record.h"
#include "remote_step.h"
#include "s3.h"
#include "task.h"

int64_t disp_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t disp_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct run_list *list_of(struct dispatcher *d, enum run_list_id l, const struct run *r)
{
	if (l == RL_READY)
		return &d->ready[r->backend - d->cfg->backends];
	return &d->lists[l];
}

void disp_list_push(struct dispatcher *d, enum run_list_id l, struct run *r)
{
	struct run_list *L = list_of(d, l, r);
	if (r->on[l])
		disp_list_remove(d, l, r);
	r->prev[l] = L->tail;
	r->next[l] = NULL;
	if (L->tail)
		L->tail->next[l] = r;
	else
		L->head = r;
	L->tail = r;
	L->n++;
	r->on[l] = 1;
}

void disp_list_remove(struct dispatcher *d, enum run_list_id l, struct run *r)
{
	if (!r->on[l])
		return;
	struct run_list *L = list_of(d, l, r);
	if (r->prev[l])
		r->prev[l]->next[l] = r->next[l];
	else
		L->head = r->next[l];
	if (r->next[l])
		r->next[l]->prev[l] = r->prev[l];
	else
		L->tail = r->prev[l];
	r->prev[l] = r->next[l] = NULL;
	r->on[l] = 0;
	L->n--;
}

size_t disp_id_hash(const char *id)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ULL;
	return (size_t)h;
}

/* hash_grow doubles the table when it is as full as it is long (chains
 * stay about one run long); on allocation failure chains just get longer. */
static void hash_grow(struct dispatcher *d)
{
	size_t cap = d->hash_cap ? d->hash_cap * 2 : 1024;
	struct run **t = calloc(cap, sizeof(*t));
	if (t == NULL)
		return;
	for (size_t i = 0; i < d->hash_cap; i++) {
		for (struct run *r = d->hash[i], *next; r; r = next) {
			next = r->hnext;
			size_t b = disp_id_hash(r->id) & (cap - 1);
			r->hnext = t[b];
			t[b] = r;
		}
	}
	free(d->hash);
	d->hash = t;
	d->hash_cap = cap;
}

static void hash_remove(struct dispatcher *d, struct run *r)
{
	if (d->hash_cap == 0)
		return;
	struct run **pp = &d->hash[disp_id_hash(r->id) & (d->hash_cap - 1)];
	while (*pp && *pp != r)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = r->hnext;
	r->hnext = NULL;
}

/* The heap holds each key beside its run, so sifting compares without
 * touching the runs (thousands of them, scattered in memory). */
static void heap_set(struct dispatcher *d, size_t i, struct heap_ent e)
{
	d->heap[i] = e;
	e.r->heap_i = i + 1;
}

static void heap_up(struct dispatcher *d, size_t i)
{
	struct heap_ent e = d->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (d->heap[parent].at <= e.at)
			break;
		heap_set(d, i, d->heap[parent]);
		i = parent;
	}
	heap_set(d, i, e);
}

static void heap_down(struct dispatcher *d, size_t i)
{
	struct heap_ent e = d->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= d->heap_n)
			break;
		if (c + 1 < d->heap_n && d->heap[c + 1].at < d->heap[c].at)
			c++;
		if (d->heap[c].at >= e.at)
			break;
		heap_set(d, i, d->heap[c]);
		i = c;
	}
	heap_set(d, i, e);
}

static void heap_remove(struct dispatcher *d, struct run *r)
{
	if (r->heap_i == 0)
		return;
	size_t i = r->heap_i - 1;
	r->heap_i = 0;
	struct heap_ent last = d->heap[--d->heap_n];
	if (last.r == r)
		return;
	heap_set(d, i, last);
	heap_up(d, i);
	heap_down(d, last.r->heap_i - 1);
}

/* disp_request_at: when a remote run's next request is due (INT64_MAX:
 * none now: one is in flight, or it waits for a slot or a write). */
int64_t disp_request_at(const struct run *r)
{
	if (r->stage == STAGE_REMOTE && r->xfer == NULL && r->phase != PHASE_NONE &&
	    !r->on[RL_READY] && !r->on[RL_WRITE])
		return r->next_at;
	return INT64_MAX;
}

/* disp_unschedule takes r out of the timer heap. */
void disp_unschedule(struct dispatcher *d, struct run *r)
{
	heap_remove(d, r);
}

/* run_wake_at: the earliest of r's timers (its next request, its time
 * limit, its deadline); INT64_MAX when it has none. */
static int64_t run_wake_at(const struct run *r)
{
	if (r->w_complete || r->w_start || r->w_code[0])
		return INT64_MAX;
	int64_t at = disp_request_at(r);
	if (r->kill_at && r->kill_at < at)
		at = r->kill_at;
	if (r->deadline_at) {
		int64_t dl = disp_mono_ms() + (r->deadline_at - disp_wall_ms());
		if (dl < at)
			at = dl;
	}
	return at;
}

/* disp_schedule puts r in the heap at its wake time, or out of it when it
 * has no timer (a request in flight, a write or a preview slot to wait
 * for). */
void disp_schedule(struct dispatcher *d, struct run *r)
{
	if (r->dead)
		return;
	int64_t at = run_wake_at(r);
	if (at == INT64_MAX) {
		heap_remove(d, r);
		return;
	}
	if (r->heap_i) {
		size_t i = r->heap_i - 1;
		d->heap[i].at = at;
		heap_up(d, i);
		heap_down(d, r->heap_i - 1);
		return;
	}
	if (d->heap_n == d->heap_cap) {
		size_t cap = d->heap_cap ? d->heap_cap * 2 : 1024;
		struct heap_ent *h = realloc(d->heap, cap * sizeof(*h));
		if (h == NULL) {
			log_error("out_of_memory", "what=timer_heap runs=%zu", d->heap_n);
			return;
		}
		d->heap = h;
		d->heap_cap = cap;
	}
	d->heap[d->heap_n++] = (struct heap_ent){ at, r };
	heap_up(d, d->heap_n - 1);
}

void disp_progress(struct dispatcher *d, struct run *r, int progress)
{
	if (progress == r->progress)
		return;
	r->progress = progress;
	if (progress == r->progress_written) {
		disp_list_remove(d, RL_DIRTY, r);
		return;
	}
	if (!r->on[RL_DIRTY]) {
		if (d->lists[RL_DIRTY].n == 0)
			d->dirty_since = disp_mono_ms();
		disp_list_push(d, RL_DIRTY, r);
	}
}

void disp_set_backend(struct dispatcher *d, struct run *r, const struct backend_cfg *b)
{
	disp_list_remove(d, RL_READY, r); /* that list is the backend's */
	if (r->backend)
		d->running[r->backend - d->cfg->backends]--;
	r->backend = b;
	if (b)
		d->running[b - d->cfg->backends]++;
}

int disp_running_on(struct dispatcher *d, const struct backend_cfg *b)
{
	return d->running[b - d->cfg->backends];
}

struct run *disp_find_run(struct dispatcher *d, const char *id)
{
	if (d->hash_cap == 0)
		return NULL;
	for (struct run *r = d->hash[disp_id_hash(id) & (d->hash_cap - 1)]; r; r = r->hnext)
		if (strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

/* add_run makes a new run one of the dispatcher's: listed, findable by
 * id, and scheduled. */
void disp_add_run(struct dispatcher *d, struct run *r)
{
	if (d->lists[RL_ALL].n >= d->hash_cap)
		hash_grow(d);
	if (d->hash_cap) {
		size_t b = disp_id_hash(r->id) & (d->hash_cap - 1);
		r->hnext = d->hash[b];
		d->hash[b] = r;
	}
	disp_list_push(d, RL_ALL, r);
	disp_schedule(d, r);
}

void disp_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* kill_child stops a run's process group and waits for it. */
void disp_kill_child(struct run *r)
{
	if (r->pid > 0) {
		kill(-r->pid, SIGKILL);
		kill(r->pid, SIGKILL);
		int status;
		while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR)
			;
		r->pid = 0;
	}
	disp_close_fd(&r->in_fd);
	disp_close_fd(&r->out_fd);
	disp_close_fd(&r->err_fd);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void disp_rmtree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void disp_remove_partial_files(struct run *r)
{
	char part[PATH_MAXLEN + 16];
	static const char *const exts[] = { "mp4", "webp", "jpg" };
	const char *finals[] = { r->video, r->thumb, r->sprite };
	for (int i = 0; i < 3; i++) {
		snprintf(part, sizeof(part), "%s.part.%s", finals[i], exts[i]);
		unlink(part);
		unlink(finals[i]);
	}
	if (r->scratch[0])
		disp_rmtree(r->scratch);
}

/* disp_abort_transfer drops r's request in flight, if any, and its
 * download's descriptor. */
void disp_abort_transfer(struct dispatcher *d, struct run *r)
{
	if (r->xfer) {
		curl_multi_remove_handle(d->multi, r->xfer->easy);
		transfer_free(r->xfer);
		r->xfer = NULL;
		d->inflight[r->backend - d->cfg->backends]--;
	}
	if (r->fetch_fd >= 0) {
		close(r->fetch_fd);
		r->fetch_fd = -1;
	}
	json_object_put(r->rec);
	r->rec = NULL;
}

/* disp_free_run takes r out of everything at once; its memory goes at the
 * end of the loop turn (free_graves), so code that still holds r after a
 * call that may end it can look at r->dead. */
void disp_free_run(struct dispatcher *d, struct run *r)
{
	if (r->dead)
		return;
	for (int l = 0; l < RL_COUNT; l++)
		disp_list_remove(d, (enum run_list_id)l, r);
	hash_remove(d, r);
	heap_remove(d, r);
	if (r->previewing) {
		r->previewing = 0;
		d->previews--;
	}
	disp_abort_transfer(d, r);
	disp_kill_child(r);
	disp_set_backend(d, r, NULL);
	local_job_deinit(&r->job);
	json_object_put(r->rec);
	r->rec = NULL;
	json_object_put(r->w_keep);
	r->w_keep = NULL;
	free(r->w_msg);
	r->w_msg = NULL;
	r->dead = 1;
	r->grave_next = d->grave;
	d->grave = r;
	d->scan_now = 1; /* a backend slot is free */
}

void disp_free_graves(struct dispatcher *d)
{
	while (d->grave) {
		struct run *r = d->grave;
		d->grave = r->grave_next;
		free(r->video);
		free(r);
	}
}

/* cancel_run stops a run and removes everything it made. */
void disp_cancel_run(struct dispatcher *d, struct run *r, const char *why)
{
	log_info("run_cancelled", "video=%s reason=%s", r->id, why);
	disp_kill_child(r);
	disp_remove_partial_files(r);
	disp_free_run(d, r);
}

/* load reads a task; NULL when it is gone (deleted). */
struct json_object *disp_load(struct dispatcher *d, const char *id)
{
	struct json_object *rec = NULL;
	enum rg_err err = store_video_get(d->st, id, &rec);
	if (err != RG_OK && err != RG_ENOENT)
		log_error("store_read_failed", "video=%s err=\"%s\"", id, rg_strerror(err));
	return err == RG_OK ? rec : NULL;
}

/* save writes rec; returns -1 when the task was deleted meanwhile. */
int disp_save(struct dispatcher *d, struct json_object *rec)
{
	enum rg_err err = store_video_update(d->st, rec);
	if (err == RG_OK)
		return 0;
	if (err != RG_ENOENT)
		log_error("store_write_failed", "video=%s err=\"%s\"", rec_str(rec, "id"),
			  rg_strerror(err));
	return -1;
}

void disp_fail_task(struct dispatcher *d, const char *id, const char *code, const char *msg)
{
	struct json_object *rec = disp_load(d, id);
	if (rec == NULL)
		return;
	task_fail(rec, disp_wall_ms(), code, msg, d->cfg->data_dir);
	if (disp_save(d, rec) == 0)
		log_info("video_failed", "video=%s code=%s", id, code);
	json_object_put(rec);
}

struct run *disp_new_run(struct dispatcher *d, const char *id, const struct backend_cfg *b)
{
	struct run *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	/* The four paths, in one block: a run is small when thousands wait. */
	size_t each = strlen(d->content_dir) + strlen(d->tmp_dir) + strlen(id) + 16;
	char *p = malloc(4 * each);
	if (p == NULL) {
		free(r);
		return NULL;
	}
	r->video = p;
	r->thumb = p + each;
	r->sprite = p + 2 * each;
	r->scratch = p + 3 * each;
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->video, each, "%s/%s.mp4", d->content_dir, id);
	snprintf(r->thumb, each, "%s/%s.webp", d->content_dir, id);
	snprintf(r->sprite, each, "%s/%s.jpg", d->content_dir, id);
	snprintf(r->scratch, each, "%s/run-%s", d->tmp_dir, id);
	disp_set_backend(d, r, b);
	r->in_fd = r->out_fd = r->err_fd = r->fetch_fd = -1;
	r->progress_written = -1;
	local_job_init(&r->job);
	return r;
}

/* set_process records the program's process group in the task, so that a
 * dispatcher that takes over after a crash can stop what is left of it. */
static void set_process(struct json_object *rec, const struct run *r)
{
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "pgid", json_object_new_int(r->pid));
	json_object_object_add(p, "start", json_object_new_int64(r->pstart));
	json_object_object_add(rec, "process", p);
}

/* proc_done takes r off the process list once its child is gone. */
void disp_proc_done(struct dispatcher *d, struct run *r)
{
	disp_list_remove(d, RL_PROCS, r);
	if (r->previewing) {
		r->previewing = 0;
		d->previews--;
	}
}

void disp_fail_run(struct dispatcher *d, struct run *r, const char *code, const char *msg)
{
	disp_abort_transfer(d, r);
	if (r->on[RL_PROCS])
		disp_proc_done(d, r);
	disp_list_remove(d, RL_DIRTY, r);
	disp_list_remove(d, RL_PREVIEW, r);
	disp_list_remove(d, RL_READY, r);
	free(r->w_msg);
	r->w_msg = strdup(msg);
	snprintf(r->w_code, sizeof(r->w_code), "%s", code);
	disp_schedule(d, r); /* no timer: it only waits for the write */
	disp_list_push(d, RL_WRITE, r);
}

void disp_complete_task(struct dispatcher *d, struct run *r)
{
	/* Every completion, local or remote, passes here: what was made is
	 * measured now, outside the write's transaction, and never fails the
	 * task. */
	r->output_measured = mp4_probe_file(r->video, &r->output) == 0;
	if (!r->output_measured)
		log_warn("output_unmeasured", "video=%s reason=\"not a readable MP4\"", r->id);
	r->w_complete = 1;
	disp_schedule(d, r); /* no timer may end it while the write waits */
	disp_list_push(d, RL_WRITE, r);
}

/* run_files: the files object of a completed task. */
static struct json_object *run_files(const struct run *r)
{
	struct json_object *files = json_object_new_object();
	char rel[ID_MAX + 32];
	snprintf(rel, sizeof(rel), "content/%s.mp4", r->id);
	json_object_object_add(files, "video", json_object_new_string(rel));
	if (r->has_thumb) {
		snprintf(rel, sizeof(rel), "content/%s.webp", r->id);
		json_object_object_add(files, "thumbnail", json_object_new_string(rel));
	}
	if (r->has_sprite) {
		snprintf(rel, sizeof(rel), "content/%s.jpg", r->id);
		json_object_object_add(files, "spritesheet", json_object_new_string(rel));
	}
	return files;
}

/* run_upload: the "upload" object of a run whose files go to the bucket
 * (content.store "s3"): per variant its file, size, object key and state. */
static struct json_object *run_upload(const struct run *r, const struct s3_config *c)
{
	struct json_object *up = json_object_new_object(), *objs = json_object_new_object();
	static const char *const names[] = { "video", "thumbnail", "spritesheet" };
	static const char *const exts[] = { "mp4", "webp", "jpg" };
	const char *paths[] = { r->video, r->thumb, r->sprite };
	int have[] = { 1, r->has_thumb, r->has_sprite };
	for (int i = 0; i < 3; i++) {
		struct stat st;
		char key[S3_KEY_MAX + 1], rel[ID_MAX + 32];
		if (!have[i] || stat(paths[i], &st) != 0 ||
		    s3_object_key(c->prefix, r->id, names[i], exts[i], key, sizeof(key)) < 0)
			continue;
		snprintf(rel, sizeof(rel), "content/%s.%s", r->id, exts[i]);
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "file", json_object_new_string(rel));
		json_object_object_add(o, "size", json_object_new_int64((int64_t)st.st_size));
		json_object_object_add(o, "key", json_object_new_string(key));
		json_object_object_add(o, "state", json_object_new_string("pending"));
		json_object_object_add(objs, names[i], o);
	}
	json_object_object_add(up, "objects", objs);
	return up;
}

/* decimal: v as JSON text with at most places decimals, trailing zeros
 * dropped (1.6, 2.0, 1.023), so the record reads as it was measured. */
static struct json_object *decimal(double v, int places)
{
	char s[64];
	snprintf(s, sizeof(s), "%.*f", places, v);
	char *dot = strchr(s, '.');
	if (dot) {
		char *end = s + strlen(s) - 1;
		while (end > dot + 1 && *end == '0')
			*end-- = '\0';
	}
	return json_object_new_double_s(v, s);
}

/* add_settlement writes into a completed task's record what it made (the
 * probed video: "output") and what the provider says it used
 * ("provider_usage"), for the usage ledger. */
static void add_settlement(struct json_object *rec, const struct run *r)
{
	struct json_object *out = json_object_new_object();
	if (r->output_measured) {
		const struct mp4_info *m = &r->output;
		json_object_object_add(out, "seconds", decimal((double)m->duration_ms / 1000, 3));
		json_object_object_add(out, "frames", json_object_new_int64(m->frames));
		json_object_object_add(out, "width", json_object_new_int(m->width));
		json_object_object_add(out, "height", json_object_new_int(m->height));
		json_object_object_add(out, "has_audio", json_object_new_boolean(m->has_audio));
	} else {
		json_object_object_add(out, "measured", json_object_new_boolean(0));
	}
	json_object_object_add(rec, "output", out);
	json_object_object_del(rec, "provider_usage");
	if (r->usage_unit[0]) {
		struct json_object *u = json_object_new_object();
		double a = r->usage_amount; /* finite, >= 0 (backend_parse) */
		struct json_object *v;
		if (a < 9007199254740992.0 && a == (double)(int64_t)a)
			v = json_object_new_int64((int64_t)a); /* whole tokens, credits */
		else if (a < 1e15)
			v = decimal(a, 6);
		else
			v = json_object_new_double(a);
		json_object_object_add(u, r->usage_unit, v);
		json_object_object_add(rec, "provider_usage", u);
	}
}

/* Record writes of every run are made together, in one transaction (one
 * fsync however many tasks are in flight): the writes a run's next step
 * waits for (RL_WRITE) at the end of the turn they were asked in; when
 * the oldest lease is half gone, every lease within LEASE_COALESCE_MS of
 * that; changed progress within PROGRESS_WRITE_MS.  A step that waits for
 * its write is taken after the commit, so crash safety is as with a
 * commit of its own. */

int64_t disp_writes_due_at(const struct dispatcher *d)
{
	int64_t at = INT64_MAX;
	if (d->lists[RL_WRITE].n)
		at = 0;
	if (d->lists[RL_ALL].head && d->lists[RL_ALL].head->last_write + TASK_LEASE_MS / 2 < at)
		at = d->lists[RL_ALL].head->last_write + TASK_LEASE_MS / 2;
	if (d->lists[RL_DIRTY].n && d->dirty_since + PROGRESS_WRITE_MS < at)
		at = d->dirty_since + PROGRESS_WRITE_MS;
	return at < d->write_hold ? d->write_hold : at;
}

/* disp_set_phase writes where a remote run is into its record: the
 * backend, which of the model's backends, and the phase's word. */
void disp_set_phase(struct json_object *rec, const struct run *r)
{
	struct json_object *rem = remote_obj(rec);
	json_object_object_add(rem, "backend", json_object_new_string(r->backend->name));
	json_object_object_add(rem, "index", json_object_new_int(r->index));
	json_object_object_add(rem, "phase", json_object_new_string(remote_phase_name(r->phase)));
}

/* apply_remote puts a remote run's pending write into rec: the values its
 * answer asked to keep, and its phase. */
static void apply_remote(struct run *r, struct json_object *rec)
{
	if (r->w_keep) {
		json_object_object_foreach(r->w_keep, k, v)
			remote_set(rec, k, json_object_get_string(v));
	}
	disp_set_phase(rec, r);
}

static void apply_write(struct json_object *rec, size_t i, void *arg)
{
	struct write_batch *b = arg;
	struct run *r = b->runs[i];
	if (r->w_code[0]) {
		task_fail(rec, b->wall, r->w_code, r->w_msg ? r->w_msg : "The generation failed.",
			  b->data_dir);
		return;
	}
	if (r->w_complete && b->s3) {
		task_uploading(rec, b->wall, run_upload(r, b->s3));
		add_settlement(rec, r);
		return;
	}
	if (r->w_complete) {
		task_complete(rec, b->wall, b->retention_s, run_files(r));
		add_settlement(rec, r);
		return;
	}
	if (r->w_start) {
		if (task_status(rec) == TASK_QUEUED)
			task_start(rec, b->wall, r->backend->name);
		else
			r->w_stale = 1; /* the record is written back as it was */
		return;
	}
	task_set_progress(rec, b->progress[i], b->wall);
	if (r->w_process)
		set_process(rec, r);
	if (r->w_record)
		apply_remote(r, rec);
}

static int batch_add(struct write_batch *b, struct run *r)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		struct run **runs = realloc(b->runs, cap * sizeof(*runs));
		if (runs)
			b->runs = runs;
		int *progress = realloc(b->progress, cap * sizeof(*progress));
		if (progress)
			b->progress = progress;
		int *gone = realloc(b->gone, cap * sizeof(*gone));
		if (gone)
			b->gone = gone;
		char(*ids)[ID_MAX] = realloc(b->ids, cap * sizeof(*ids));
		if (ids)
			b->ids = ids;
		if (!runs || !progress || !gone || !ids)
			return -1;
		b->cap = cap;
	}
	b->runs[b->n] = r;
	b->progress[b->n] = r->progress;
	memcpy(b->ids[b->n], r->id, ID_MAX);
	b->n++;
	r->in_batch = 1;
	return 0;
}

void disp_flush_writes(struct dispatcher *d)
{
	int64_t now = disp_mono_ms();
	if (now < disp_writes_due_at(d))
		return;
	struct write_batch *b = &d->batch;
	b->n = 0;
	for (struct run *r = d->lists[RL_WRITE].head; r && b->n < WRITE_BATCH_MAX;
	     r = r->next[RL_WRITE])
		if (batch_add(b, r) < 0)
			break;
	for (struct run *r = d->lists[RL_DIRTY].head; r && b->n < WRITE_BATCH_MAX;
	     r = r->next[RL_DIRTY])
		if (!r->in_batch && batch_add(b, r) < 0)
			break;
	for (struct run *r = d->lists[RL_ALL].head; r && b->n < WRITE_BATCH_MAX;
	     r = r->next[RL_ALL]) {
		if (r->last_write + TASK_LEASE_MS / 2 - LEASE_COALESCE_MS > now)
			break;
		if (!r->in_batch && batch_add(b, r) < 0)
			break;
	}
	for (size_t i = 0; i < b->n; i++)
		b->runs[i]->in_batch = 0;
	if (b->n == 0) {
		d->write_hold = now + 1000; /* out of memory: try again later */
		return;
	}
	b->wall = disp_wall_ms();
	b->retention_s = d->cfg->retention_seconds;
	b->data_dir = d->cfg->data_dir;
	b->s3 = d->cfg->store == STORE_S3 ? &d->cfg->s3 : NULL;
	enum rg_err err = store_videos_modify(d->st, b->ids, b->n, apply_write, b, b->gone);
	if (err != RG_OK) {
		log_error("store_write_failed", "what=batch tasks=%zu err=\"%s\"", b->n,
			  rg_strerror(err));
		d->write_hold = now + 1000;
		return;
	}
	for (size_t i = 0; i < b->n; i++) {
		struct run *r = b->runs[i];
		if (b->gone[i]) {
			disp_cancel_run(d, r, "deleted");
			continue;
		}
		if (r->w_code[0]) {
			log_info("video_failed", "video=%s code=%s", r->id, r->w_code);
			disp_free_run(d, r);
			continue;
		}
		if (r->w_stale) {
			log_warn("run_dropped", "video=%s reason=\"no longer queued\"", r->id);
			disp_free_run(d, r);
			continue;
		}
		if (r->w_complete && b->s3) {
			log_info("video_rendered", "video=%s next=upload", r->id);
			d->scan_now = 1; /* due now: the scan hands it to s3_upload.c */
			disp_free_run(d, r);
			continue;
		}
		if (r->w_complete) {
			log_info("video_completed", "video=%s", r->id);
			disp_free_run(d, r);
			continue;
		}
		r->progress_written = b->progress[i];
		r->last_write = now;
		disp_list_push(d, RL_ALL, r); /* to the tail: the newest lease */
		if (r->progress == r->progress_written)
			disp_list_remove(d, RL_DIRTY, r);
		int started = r->w_start;
		if (r->on[RL_WRITE]) {
			r->w_record = r->w_start = r->w_process = 0;
			json_object_put(r->w_keep);
			r->w_keep = NULL;
			disp_list_remove(d, RL_WRITE, r);
			disp_schedule(d, r); /* the step that waited */
		}
		if (started)
			disp_list_push(d, RL_START, r); /* run_local.c starts it */
	}
	if (d->lists[RL_DIRTY].n)
		d->dirty_since = now;
}
