/*
 * dispatcher: the task engine.
 *
 * Life of a task here: the due index says it needs attention; task.c says
 * what (start, renew, timeout, orphaned, expire); this file does it.  A
 * started task becomes a `struct run`: a child process (the command
 * backend's program, then ffmpeg for the thumbnail and the spritesheet)
 * whose pipes are watched by the one poll of the loop.  Nothing here
 * sleeps: every wait is a timeout of that poll.
 */
#include "dispatcher.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "log.h"
#include "record.h"
#include "notify.h"
#include "store.h"
#include "task.h"
#include "video.h"
#include "dispatcher_int.h"

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

/* ---- lock ------------------------------------------------------------------- */

int dispatcher_lock(const char *data_dir)
{
	char path[PATH_MAXLEN];
	snprintf(path, sizeof(path), "%s/dispatcher.lock", data_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- runs: lists, the id hash, the timer heap ------------------------------- */

/* Nothing here walks every run: with thousands of tasks in flight a turn
 * of the loop touches only the runs whose timer is due, whose transfer
 * ended or whose child spoke. */

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

static size_t id_hash(const char *id)
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
			size_t b = id_hash(r->id) & (cap - 1);
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
	struct run **pp = &d->hash[id_hash(r->id) & (d->hash_cap - 1)];
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

/* run_wake_at: the earliest of r's timers (its next request, its time
 * limit, its deadline); INT64_MAX when it has none. */
static int64_t run_wake_at(const struct run *r)
{
	if (r->w_complete || r->w_start || r->w_code[0])
		return INT64_MAX;
	int64_t at = remote_wake_at(r);
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
	for (struct run *r = d->hash[id_hash(id) & (d->hash_cap - 1)]; r; r = r->hnext)
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
		size_t b = id_hash(r->id) & (d->hash_cap - 1);
		r->hnext = d->hash[b];
		d->hash[b] = r;
	}
	disp_list_push(d, RL_ALL, r);
	disp_schedule(d, r);
}

static void close_fd(int *fd)
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
	close_fd(&r->in_fd);
	close_fd(&r->out_fd);
	close_fd(&r->err_fd);
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
	remote_abort(d, r);
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

static void free_graves(struct dispatcher *d)
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

struct spawn_args {
	char *const *argv, *const *envp;
	int in, out, err;
};

/* spawn_child runs in the child, which shares the dispatcher's memory
 * until it execs (CLONE_VM | CLONE_VFORK): it writes nothing of ours and
 * calls nothing that allocates. */
static int spawn_child(void *arg)
{
	const struct spawn_args *a = arg;
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigset_t none;
	sigemptyset(&none);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	dup2(a->in, 0);
	dup2(a->out, 1);
	dup2(a->err, 2);
	if (a->envp)
		execve(a->argv[0], a->argv, a->envp);
	else
		execvp(a->argv[0], a->argv);
	static const char msg[] = "cannot run ";
	if (write(2, msg, sizeof(msg) - 1) > 0 && write(2, a->argv[0], strlen(a->argv[0])) > 0)
		(void)!write(2, "\n", 1);
	_exit(127);
}

/* spawn starts argv with envp (NULL: inherit) in its own process group,
 * stdin/stdout/stderr on pipes, and puts r on the process list.  The
 * child is made with CLONE_VM | CLONE_VFORK, not fork: copying the page
 * tables of a dispatcher that holds thousands of runs (and write-protecting
 * every page of it) would cost more than the child itself.  Returns 0 or
 * -1. */
static int spawn(struct dispatcher *d, struct run *r, char *const argv[], char *const envp[])
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		goto fail;
	struct spawn_args a = { argv, envp, in[0], out[1], err[1] };
	pid_t pid = clone(spawn_child, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
	if (pid < 0)
		goto fail;
	setpgid(pid, pid);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(err[0], F_SETFL, O_NONBLOCK);
	r->pid = pid;
	r->in_fd = in[1];
	r->out_fd = out[0];
	r->err_fd = err[0];
	r->line_len = r->err_len = 0;
	r->err_last[0] = '\0';
	r->stdin_off = 0;
	if (r->job.input.len == 0)
		close_fd(&r->in_fd);
	disp_list_push(d, RL_PROCS, r);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	return -1;
}

/* ---- record writes --------------------------------------------------------------- */

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
	task_fail(rec, disp_wall_ms(), code, msg);
	if (disp_save(d, rec) == 0)
		log_info("video_failed", "video=%s code=%s", id, code);
	json_object_put(rec);
}

/* ---- starting a task ------------------------------------------------------------------ */

static const struct model_backend *model_backend_of(const struct config *cfg,
						    struct json_object *rec,
						    const struct backend_cfg **b)
{
	const struct model_cfg *m = config_model(cfg, rec_str(rec, "model") ? rec_str(rec, "model") : "");
	*b = NULL;
	if (m == NULL || m->nbackends == 0)
		return NULL;
	*b = config_backend(cfg, m->backends[0].backend);
	return *b ? &m->backends[0] : NULL;
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

/* proc_start_time reads a process's start time (clock ticks since boot),
 * so a recorded process group is never confused with a later one that
 * reuses the number; 0 when there is no such process. */
static long long proc_start_time(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (p == NULL)
		return 0;
	long long v = 0;
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p)
		v = atoll(p + 1);
	return v;
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

/* stop_lost_process kills the process group a dead dispatcher left
 * running for rec (ffmpeg outlives the script it was started by), and
 * removes its scratch directory. */
static void stop_lost_process(struct dispatcher *d, struct json_object *rec)
{
	struct json_object *p, *v;
	if (json_object_object_get_ex(rec, "process", &p)) {
		pid_t pgid = json_object_object_get_ex(p, "pgid", &v) ? (pid_t)json_object_get_int(v) : 0;
		long long start = json_object_object_get_ex(p, "start", &v) ? json_object_get_int64(v) : 0;
		if (pgid > 1 && start != 0 && proc_start_time(pgid) == start) {
			kill(-pgid, SIGKILL);
			log_warn("lost_process_killed", "video=%s pgid=%d", rec_str(rec, "id"), (int)pgid);
		}
		json_object_object_del(rec, "process");
	}
	char scratch[PATH_MAXLEN + ID_MAX];
	snprintf(scratch, sizeof(scratch), "%s/run-%s", d->tmp_dir, rec_str(rec, "id"));
	disp_rmtree(scratch);
}

static void fail_task_later(struct dispatcher *d, const char *id)
{
	disp_fail_task(d, id, "storage_error", "The server could not prepare a working directory for the task.");
}

/* start_task prepares the run of a queued task: on a local backend its
 * program starts once the turn's batch has written the task in_progress
 * (start_program); an HTTP backend's first request goes out as before. */
/* ---- tasks waiting for a slot ---------------------------------------------------------------- */

static struct waiter **waiter_slot(struct dispatcher *d, const char *id)
{
	struct waiter **w = &d->waiting[id_hash(id) & (WAITING_BUCKETS - 1)];
	while (*w && strcmp((*w)->id, id) != 0)
		w = &(*w)->next;
	return w;
}

/* wait_for_slot notes that the queued task id waits for a slot on b. */
static void wait_for_slot(struct dispatcher *d, const char *id, const struct backend_cfg *b,
			  int64_t deadline_at)
{
	if (d->waiting == NULL && (d->waiting = calloc(WAITING_BUCKETS, sizeof(*d->waiting))) == NULL)
		return; /* it is read again on every scan instead */
	struct waiter **slot = waiter_slot(d, id);
	if (*slot != NULL)
		return;
	struct waiter *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return;
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->backend = b;
	w->deadline_at = deadline_at;
	w->seen = d->scan_gen;
	*slot = w;
}

/* still_waiting says whether the scan can pass over id: it waits for a
 * slot, its backend is still full and its deadline has not passed. */
static int still_waiting(struct dispatcher *d, const char *id, int64_t wall)
{
	if (d->waiting == NULL)
		return 0;
	struct waiter **slot = waiter_slot(d, id), *w = *slot;
	if (w == NULL)
		return 0;
	if (disp_running_on(d, w->backend) >= w->backend->concurrency &&
	    (w->deadline_at == 0 || wall < w->deadline_at)) {
		w->seen = d->scan_gen;
		return 1;
	}
	*slot = w->next;
	free(w);
	return 0;
}

/* forget_waiters drops the waiters a whole scan did not meet (deleted
 * tasks), or all of them. */
static void forget_waiters(struct dispatcher *d, int all)
{
	for (size_t i = 0; d->waiting && i < WAITING_BUCKETS; i++) {
		struct waiter **w = &d->waiting[i];
		while (*w) {
			if (all || (*w)->seen != d->scan_gen) {
				struct waiter *gone = *w;
				*w = gone->next;
				free(gone);
			} else {
				w = &(*w)->next;
			}
		}
	}
}

static void start_task(struct dispatcher *d, struct json_object *rec)
{
	const char *id = rec_str(rec, "id");
	const struct model_cfg *m = config_model(d->cfg, rec_str(rec, "model") ? rec_str(rec, "model") : "");
	if (m && m->nbackends > 0 && backend_is_http(d->cfg, m->backends[0].backend)) {
		remote_start(d, rec, m);
		return;
	}
	const struct backend_cfg *b;
	const struct model_backend *mb = model_backend_of(d->cfg, rec, &b);
	if (mb == NULL) {
		disp_fail_task(d, id, "model_unavailable",
			  "The task's model is no longer configured on this server.");
		return;
	}
	if (disp_running_on(d, b) >= b->concurrency) {
		/* stays queued; read again once b has a free slot */
		wait_for_slot(d, id, b, task_deadline(rec));
		return;
	}
	if (image_fetch_needed(b, rec)) {
		/* The program reads a file: the task starts once it is stored. */
		image_fetch_start(&d->fetches, rec);
		return;
	}
	struct run *r = disp_new_run(d, id, b);
	if (r == NULL)
		return;
	char part[PATH_MAXLEN + 16];
	/* The program writes into a scratch directory of its own (also its
	 * TMPDIR), so whatever it leaves behind goes with the directory. */
	disp_rmtree(r->scratch);
	if (mkdir(r->scratch, 0700) < 0) {
		disp_free_run(d, r);
		fail_task_later(d, id);
		return;
	}
	snprintf(part, sizeof(part), "%s/out.mp4", r->scratch);
	r->be = &d->be[b - d->cfg->backends];
	if (!d->be_ok[b - d->cfg->backends]) {
		disp_free_run(d, r);
		disp_fail_task(d, id, "upstream_unavailable",
			       "The model's backend is not usable on this server (see the server log).");
		return;
	}
	if (r->be->type->prepare(r->be, mb, rec, part, &r->job) < 0) {
		disp_free_run(d, r);
		disp_fail_task(d, id, "invalid_task", "The task record is incomplete and cannot be run.");
		return;
	}
	r->seconds = r->job.seconds;
	r->fps = r->job.fps;
	r->deadline_at = task_deadline(rec);
	r->w_start = 1;
	r->last_write = disp_mono_ms();
	disp_add_run(d, r);
	disp_list_push(d, RL_WRITE, r);
}

/* start_program runs r's program, the task being in_progress on disk. */
static void start_program(struct dispatcher *d, struct run *r)
{
	int rc = spawn(d, r, r->job.argv, r->job.env);
	local_job_free_env(&r->job);
	if (rc < 0) {
		disp_fail_run(d, r, "generation_failed", "The generator program could not be started.");
		return;
	}
	r->pstart = proc_start_time(r->pid);
	r->w_process = 1;
	disp_list_push(d, RL_WRITE, r);
	long timeout = r->backend->timeout_ms;
	r->kill_at = timeout > 0 ? disp_mono_ms() + timeout : 0;
	disp_schedule(d, r);
	log_info("run_started", "video=%s backend=%s pid=%d", r->id, r->backend->name, (int)r->pid);
}

/* ---- finishing a task -------------------------------------------------------------------- */


static void proc_done(struct dispatcher *d, struct run *r);

void disp_fail_run(struct dispatcher *d, struct run *r, const char *code, const char *msg)
{
	remote_abort(d, r);
	if (r->on[RL_PROCS])
		proc_done(d, r);
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

/* render_failure describes why the program failed, from its stderr. */
static void render_failure(struct run *r, char *msg, size_t n)
{
	const char *last = r->err_last[0] ? r->err_last : NULL;
	if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0)
		snprintf(msg, n, "The generator finished without writing a video.");
	else if (WIFEXITED(r->status))
		snprintf(msg, n, "The generator failed (exit status %d)%s%s", WEXITSTATUS(r->status),
			 last ? ": " : ".", last ? last : "");
	else
		snprintf(msg, n, "The generator was killed by signal %d%s%s", WTERMSIG(r->status),
			 last ? ": " : ".", last ? last : "");
}

static void finish_render(struct dispatcher *d, struct run *r)
{
	char part[PATH_MAXLEN + 16];
	snprintf(part, sizeof(part), "%s/out.mp4", r->scratch);
	struct stat st;
	int ok = WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0 &&
		 stat(part, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
	if (ok && (size_t)st.st_size > d->cfg->max_output_bytes) {
		unlink(part);
		disp_rmtree(r->scratch);
		disp_fail_run(d, r, "generation_failed", "The generator wrote a video larger than the configured limit.");
		return;
	}
	if (!ok || rename(part, r->video) < 0) {
		char msg[STDERR_LINE_MAX + 100];
		render_failure(r, msg, sizeof(msg));
		disp_rmtree(r->scratch);
		log_warn("run_failed", "video=%s", r->id);
		disp_fail_run(d, r, "generation_failed", msg);
		return;
	}
	disp_rmtree(r->scratch);
	r->stage = STAGE_THUMBNAIL;
	disp_start_preview(d, r);
}

/* start_preview runs ffmpeg for the thumbnail or the spritesheet, or
 * queues r when PREVIEWS_MAX of them are running: when thousands of tasks
 * finish at once, thousands of ffmpegs would only fight for the cores and
 * the descriptors. */
void disp_start_preview(struct dispatcher *d, struct run *r)
{
	char out[PATH_MAXLEN + 16], seek[32], vf[128];
	const char *ff = d->cfg->ffmpeg;
	if (d->previews >= PREVIEWS_MAX) {
		disp_list_push(d, RL_PREVIEW, r);
		return;
	}
	disp_list_remove(d, RL_PREVIEW, r);
	buf_reset(&r->job.input);
	if (r->stage == STAGE_THUMBNAIL) {
		snprintf(out, sizeof(out), "%s.part.webp", r->thumb);
		/* The middle frame, by number: seeking by time past the
		 * last frame of a short, low-fps video finds nothing. */
		int frames = r->seconds * (r->fps > 0 ? r->fps : 1);
		snprintf(seek, sizeof(seek), "%.3f", (double)(frames / 2) / (r->fps > 0 ? r->fps : 1));
		char *argv[] = { (char *)ff, "-nostdin", "-v", "error", "-y", "-ss", seek,
				 "-i", r->video, "-frames:v", "1", "-vf",
				 "scale='min(640,iw)':-2", out, NULL };
		if (spawn(d, r, argv, NULL) == 0) {
			r->previewing = 1;
			d->previews++;
			return;
		}
	} else {
		snprintf(out, sizeof(out), "%s.part.jpg", r->sprite);
		snprintf(vf, sizeof(vf), "fps=%.4f,scale=160:-2,tile=5x5",
			 25.0 / (r->seconds > 0 ? r->seconds : 1));
		char *argv[] = { (char *)ff, "-nostdin", "-v", "error", "-y", "-i", r->video,
				 "-vf", vf, "-frames:v", "1", "-q:v", "4", out, NULL };
		if (spawn(d, r, argv, NULL) == 0) {
			r->previewing = 1;
			d->previews++;
			return;
		}
	}
	log_warn("preview_failed", "video=%s reason=\"cannot run %s\"", r->id, ff);
	disp_complete_task(d, r);
}

/* start_previews gives free preview slots to the runs waiting, in order. */
static void start_previews(struct dispatcher *d)
{
	while (d->previews < PREVIEWS_MAX && d->lists[RL_PREVIEW].head)
		disp_start_preview(d, d->lists[RL_PREVIEW].head);
}

static void finish_preview(struct dispatcher *d, struct run *r)
{
	int ok = WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
	char part[PATH_MAXLEN + 16];
	const char *final = r->stage == STAGE_THUMBNAIL ? r->thumb : r->sprite;
	snprintf(part, sizeof(part), "%s.part.%s", final, r->stage == STAGE_THUMBNAIL ? "webp" : "jpg");
	struct stat st;
	if (ok && stat(part, &st) == 0 && st.st_size > 0 && rename(part, final) == 0) {
		if (r->stage == STAGE_THUMBNAIL)
			r->has_thumb = 1;
		else
			r->has_sprite = 1;
	} else {
		unlink(part);
		log_warn("preview_failed", "video=%s stage=%s error=\"%s\"", r->id,
			 r->stage == STAGE_THUMBNAIL ? "thumbnail" : "spritesheet", r->err_last);
	}
	if (r->stage == STAGE_THUMBNAIL) {
		r->stage = STAGE_SPRITESHEET;
		disp_start_preview(d, r);
	} else {
		disp_complete_task(d, r);
	}
}

/* ---- reading children ------------------------------------------------------------------------ */

/* Record writes of every run are made together, in one transaction (one
 * fsync however many tasks are in flight): the writes a run's next step
 * waits for (RL_WRITE) at the end of the turn they were asked in; when
 * the oldest lease is half gone, every lease within LEASE_COALESCE_MS of
 * that; changed progress within PROGRESS_WRITE_MS.  A step that waits for
 * its write is taken after the commit, so crash safety is as with a
 * commit of its own. */

static int64_t writes_due_at(const struct dispatcher *d)
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

static void apply_write(struct json_object *rec, size_t i, void *arg)
{
	struct write_batch *b = arg;
	struct run *r = b->runs[i];
	if (r->w_code[0]) {
		task_fail(rec, b->wall, r->w_code, r->w_msg ? r->w_msg : "The generation failed.");
		return;
	}
	if (r->w_complete) {
		task_complete(rec, b->wall, b->retention_s, run_files(r));
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
		remote_apply_write(r, rec);
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
		char (*ids)[ID_MAX] = realloc(b->ids, cap * sizeof(*ids));
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

static void flush_writes(struct dispatcher *d)
{
	int64_t now = disp_mono_ms();
	if (now < writes_due_at(d))
		return;
	struct write_batch *b = &d->batch;
	b->n = 0;
	for (struct run *r = d->lists[RL_WRITE].head; r && b->n < WRITE_BATCH_MAX; r = r->next[RL_WRITE])
		if (batch_add(b, r) < 0)
			break;
	for (struct run *r = d->lists[RL_DIRTY].head; r && b->n < WRITE_BATCH_MAX; r = r->next[RL_DIRTY])
		if (!r->in_batch && batch_add(b, r) < 0)
			break;
	for (struct run *r = d->lists[RL_ALL].head; r && b->n < WRITE_BATCH_MAX; r = r->next[RL_ALL]) {
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
	enum rg_err err = store_videos_modify(d->st, b->ids, b->n, apply_write, b, b->gone);
	if (err != RG_OK) {
		log_error("store_write_failed", "what=batch tasks=%zu err=\"%s\"", b->n, rg_strerror(err));
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
			start_program(d, r);
	}
	if (d->lists[RL_DIRTY].n)
		d->dirty_since = now;
}

static void stdout_line(struct dispatcher *d, struct run *r)
{
	if (r->stage != STAGE_RENDER || r->line_overflow)
		return;
	int p = r->be->type->progress ? r->be->type->progress(r->line, r->line_len) : -1;
	if (p >= 0 && p >= r->progress)
		disp_progress(d, r, p);
}

static void read_stdout(struct dispatcher *d, struct run *r)
{
	char chunk[4096];
	for (;;) {
		ssize_t n = read(r->out_fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close_fd(&r->out_fd);
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (chunk[i] == '\n') {
				stdout_line(d, r);
				r->line_len = 0;
				r->line_overflow = 0;
			} else if (r->line_len < sizeof(r->line)) {
				r->line[r->line_len++] = chunk[i];
			} else {
				r->line_overflow = 1;
			}
		}
	}
}

/* read_stderr keeps only the last non-empty line, bounded. */
static void read_stderr(struct run *r)
{
	char chunk[4096];
	for (;;) {
		ssize_t n = read(r->err_fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			if (r->err_len > 0) {
				memcpy(r->err_last, r->err_cur, r->err_len);
				r->err_last[r->err_len] = '\0';
				r->err_len = 0;
			}
			close_fd(&r->err_fd);
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)chunk[i];
			if (c == '\n') {
				if (r->err_len > 0) {
					memcpy(r->err_last, r->err_cur, r->err_len);
					r->err_last[r->err_len] = '\0';
				}
				r->err_len = 0;
			} else if (r->err_len < sizeof(r->err_cur) - 1 && c >= 0x20 && c != 0x7f) {
				r->err_cur[r->err_len++] = (char)c;
			}
		}
	}
}

static void write_stdin(struct run *r)
{
	while (r->stdin_off < r->job.input.len) {
		ssize_t n = write(r->in_fd, r->job.input.data + r->stdin_off,
				  r->job.input.len - r->stdin_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			break; /* the program closed its stdin: its business */
		r->stdin_off += (size_t)n;
	}
	close_fd(&r->in_fd);
}

/* reap_children collects exit statuses (the pipes may close before or after). */
static void reap_children(struct dispatcher *d)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (struct run *r = d->lists[RL_PROCS].head; r; r = r->next[RL_PROCS]) {
			if (r->pid == pid) {
				r->pid = 0;
				r->status = status;
			}
		}
	}
}

/* proc_done takes r off the process list once its child is gone. */
static void proc_done(struct dispatcher *d, struct run *r)
{
	disp_list_remove(d, RL_PROCS, r);
	if (r->previewing) {
		r->previewing = 0;
		d->previews--;
	}
}

/* advance moves runs whose child is done (exited, pipes drained). */
static void advance(struct dispatcher *d)
{
	struct run *r = d->lists[RL_PROCS].head, *next;
	for (; r; r = next) {
		next = r->next[RL_PROCS];
		if (r->pid != 0 || r->out_fd >= 0 || r->err_fd >= 0)
			continue;
		close_fd(&r->in_fd);
		proc_done(d, r);
		if (r->stage == STAGE_RENDER)
			finish_render(d, r);
		else
			finish_preview(d, r);
	}
}

/* run_timers handles the runs whose timer is due: a request to send, a
 * time limit or a deadline passed.  They are taken off the heap first, so
 * a run that is due again at once waits for the next turn. */
static void run_timers(struct dispatcher *d)
{
	int64_t now = disp_mono_ms(), wall = disp_wall_ms();
	size_t n = 0;
	while (d->heap_n > 0 && d->heap[0].at <= now) {
		if (n == d->due_cap) {
			size_t cap = d->due_cap ? d->due_cap * 2 : 256;
			struct run **due = realloc(d->due, cap * sizeof(*due));
			if (due == NULL)
				break;
			d->due = due;
			d->due_cap = cap;
		}
		struct run *r = d->heap[0].r;
		heap_remove(d, r);
		d->due[n++] = r;
	}
	for (size_t i = 0; i < n; i++) {
		struct run *r = d->due[i];
		if (r->dead || r->w_code[0])
			continue;
		int over_run = r->kill_at != 0 && now >= r->kill_at;
		int over_deadline = r->deadline_at != 0 && wall >= r->deadline_at;
		if (over_run || over_deadline) {
			log_warn("run_timeout", "video=%s", r->id);
			disp_kill_child(r);
			disp_remove_partial_files(r);
			disp_fail_run(d, r, "generation_timeout",
				      over_run ? "The generator did not finish within the backend's time limit."
					       : "The video was not finished before its deadline.");
			continue;
		}
		if (remote_wake_at(r) <= now)
			remote_issue(d, r);
		disp_schedule(d, r);
	}
}

/* ---- the due scan ------------------------------------------------------------------------------- */

struct due_list {
	char (*ids)[ID_MAX];
	size_t n, cap;
};

static int collect_due(const char *id, uint64_t at, void *arg)
{
	(void)at;
	struct due_list *l = arg;
	if (l->n == l->cap)
		return 1;
	snprintf(l->ids[l->n++], ID_MAX, "%s", id);
	return 0;
}

static void expire_files(struct dispatcher *d, struct json_object *rec)
{
	struct json_object *files;
	if (!json_object_object_get_ex(rec, "files", &files) ||
	    !json_object_is_type(files, json_type_object))
		return;
	json_object_object_foreach(files, k, v) {
		(void)k;
		const char *rel = json_object_get_string(v);
		if (rel && strncmp(rel, "content/", 8) == 0 && strstr(rel, "..") == NULL) {
			char path[PATH_MAXLEN + 64];
			snprintf(path, sizeof(path), "%s/%s", d->cfg->data_dir, rel);
			unlink(path);
		}
	}
}

static void handle_due(struct dispatcher *d, const char *id)
{
	struct json_object *rec = disp_load(d, id);
	if (rec == NULL)
		return;
	struct run *r = disp_find_run(d, id);
	int64_t now = disp_wall_ms();
	switch (task_next(rec, now, r != NULL)) {
	case TASK_ACT_START:
		if (r == NULL) /* else its start waits for the turn's write */
			start_task(d, rec);
		break;
	case TASK_ACT_RENEW:
		task_renew(rec, now);
		if (disp_save(d, rec) < 0 && r)
			disp_cancel_run(d, r, "deleted");
		break;
	case TASK_ACT_ORPHANED:
		if (remote_get(rec, "backend") && backend_is_http(d->cfg, remote_get(rec, "backend"))) {
			remote_adopt(d, rec); /* resumed where it was: never sent twice */
			break;
		}
		stop_lost_process(d, rec);
		task_orphaned(rec, now);
		if (disp_save(d, rec) == 0)
			log_warn("video_orphaned", "video=%s status=%s", id,
				 task_status_name(task_status(rec)));
		break;
	case TASK_ACT_TIMEOUT:
		if (r == NULL)
			stop_lost_process(d, rec);
		if (r) {
			disp_kill_child(r);
			disp_remove_partial_files(r);
			disp_free_run(d, r);
		}
		task_fail(rec, now, "generation_timeout", "The video was not finished before its deadline.");
		if (disp_save(d, rec) == 0)
			log_info("video_failed", "video=%s code=generation_timeout", id);
		break;
	case TASK_ACT_EXPIRE:
		expire_files(d, rec);
		task_expire(rec);
		if (disp_save(d, rec) == 0)
			log_info("video_expired", "video=%s", id);
		break;
	case TASK_ACT_CLEAR:
		json_object_object_del(rec, "due_at");
		disp_save(d, rec);
		break;
	case TASK_ACT_NONE:
		break;
	}
	json_object_put(rec);
}

/* recover runs once at start: holding the lock, this dispatcher knows that
 * every in_progress task is nobody's, so it stops what a dead predecessor
 * left running and resumes them now instead of when their leases lapse. */
static void recover(struct dispatcher *d)
{
	static char ids[SCAN_LIMIT][ID_MAX];
	struct due_list l = { ids, 0, SCAN_LIMIT };
	store_due_scan(d->st, UINT64_MAX, SCAN_LIMIT, collect_due, &l);
	size_t n = 0;
	for (size_t i = 0; i < l.n; i++) {
		struct json_object *rec = disp_load(d, ids[i]);
		if (rec == NULL)
			continue;
		if (task_status(rec) == TASK_IN_PROGRESS) {
			const char *b = remote_get(rec, "backend");
			if (b && backend_is_http(d->cfg, b)) {
				remote_adopt(d, rec);
			} else {
				stop_lost_process(d, rec);
				task_orphaned(rec, disp_wall_ms());
				disp_save(d, rec);
			}
			n++;
		}
		json_object_put(rec);
	}
	if (n > 0)
		log_info("recovered", "tasks=%zu", n);
}

/* sweep_tmp removes uploads that a killed worker left half-received in
 * data_dir/tmp, and image downloads a killed dispatcher left there for
 * tasks deleted since (a finished one is renamed out of it at once). */
static void sweep_tmp(struct dispatcher *d)
{
	DIR *dir = opendir(d->tmp_dir);
	if (dir == NULL)
		return;
	time_t old = time(NULL) - 3600;
	struct dirent *e;
	int n = 0;
	while ((e = readdir(dir)) != NULL) {
		if (strncmp(e->d_name, "reelgate-form-", 14) != 0 && strncmp(e->d_name, "image-", 6) != 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && st.st_mtime < old && unlinkat(dirfd(dir), e->d_name, 0) == 0)
			n++;
	}
	closedir(dir);
	if (n > 0)
		log_info("tmp_swept", "files=%d", n);
}

static void scan(struct dispatcher *d)
{
	if (disp_mono_ms() >= d->next_sweep) {
		sweep_tmp(d);
		d->next_sweep = disp_mono_ms() + 600000;
	}
	static char ids[SCAN_LIMIT][ID_MAX];
	struct due_list l = { ids, 0, SCAN_LIMIT };
	int64_t wall = disp_wall_ms();
	enum rg_err err = store_due_scan(d->st, (uint64_t)wall, SCAN_LIMIT, collect_due, &l);
	if (err != RG_OK)
		log_error("scan_failed", "err=\"%s\"", rg_strerror(err));
	d->scan_gen++;
	for (size_t i = 0; i < l.n && !d->stop; i++)
		if (!still_waiting(d, ids[i], wall))
			handle_due(d, ids[i]);
	if (err == RG_OK && l.n < SCAN_LIMIT && !d->stop)
		forget_waiters(d, 0);
	if (disp_mono_ms() - d->last_scan >= SCAN_INTERVAL_MS)
		store_release_pages(d->st); /* at most once a second */
	d->last_scan = disp_mono_ms();
	d->next_scan = d->last_scan + SCAN_INTERVAL_MS;
	d->scan_now = 0;
}

/* ---- messages and signals ------------------------------------------------------------------------ */

static void read_messages(struct dispatcher *d)
{
	struct notify_msg m;
	while (notify_recv(d->wake_fd, &m) == 0) {
		if (strcmp(m.text, "wake") == 0) {
			d->scan_now = 1;
		} else if (strncmp(m.text, "cancel ", 7) == 0) {
			const char *id = m.text + 7;
			struct run *r = disp_find_run(d, id);
			if (r)
				disp_cancel_run(d, r, "delete requested");
			image_fetch_cancel(&d->fetches, id);
			char reply[128];
			snprintf(reply, sizeof(reply), "ok %s", id);
			notify_reply(d->wake_fd, &m, reply);
		}
	}
}

static void read_signals(struct dispatcher *d)
{
	struct signalfd_siginfo si;
	while (read(d->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			reap_children(d);
		else
			d->stop = 1;
	}
}

/* ---- the loop -------------------------------------------------------------------------------------- */

/* scan_due_at: when the next scan is due (a wake asks for one soon, but
 * not more often than WAKE_SCAN_MIN_MS: a burst of creates is one scan). */
static int64_t scan_due_at(struct dispatcher *d)
{
	int64_t soon = d->last_scan + WAKE_SCAN_MIN_MS;
	return d->scan_now && soon < d->next_scan ? soon : d->next_scan;
}

static int poll_timeout(struct dispatcher *d)
{
	int64_t now = disp_mono_ms(), next = scan_due_at(d);
	if (d->heap_n > 0 && d->heap[0].at < next)
		next = d->heap[0].at;
	int64_t writes = writes_due_at(d);
	if (writes < next)
		next = writes;
	int64_t wait = next - now;
	return wait < 0 ? 0 : wait > 60000 ? 60000 : (int)wait;
}

static void loop_once(struct dispatcher *d)
{
	struct curl_waitfd fds[1024];
	struct run *owner[1024];
	int kind[1024];
	unsigned n = 0;
	fds[n] = (struct curl_waitfd){ d->wake_fd, CURL_WAIT_POLLIN, 0 };
	owner[n] = NULL;
	kind[n++] = 0;
	fds[n] = (struct curl_waitfd){ d->sig_fd, CURL_WAIT_POLLIN, 0 };
	owner[n] = NULL;
	kind[n++] = 0;
	/* Only runs with a child have descriptors: local renders (each
	 * backend's concurrency) and previews (PREVIEWS_MAX). */
	for (struct run *r = d->lists[RL_PROCS].head; r && n < 1021; r = r->next[RL_PROCS]) {
		if (r->out_fd >= 0) {
			fds[n] = (struct curl_waitfd){ r->out_fd, CURL_WAIT_POLLIN, 0 };
			owner[n] = r;
			kind[n++] = 1;
		}
		if (r->err_fd >= 0) {
			fds[n] = (struct curl_waitfd){ r->err_fd, CURL_WAIT_POLLIN, 0 };
			owner[n] = r;
			kind[n++] = 2;
		}
		if (r->in_fd >= 0) {
			fds[n] = (struct curl_waitfd){ r->in_fd, CURL_WAIT_POLLOUT, 0 };
			owner[n] = r;
			kind[n++] = 3;
		}
	}
	curl_multi_poll(d->multi, fds, n, poll_timeout(d), NULL);
	int running;
	curl_multi_perform(d->multi, &running);
	remote_transfers_done(d);
	if (fds[1].revents)
		read_signals(d);
	for (unsigned i = 2; i < n; i++) {
		if (!fds[i].revents)
			continue;
		struct run *r = owner[i]; /* may be freed: its descriptors are -1 then */
		if (kind[i] == 1 && r->out_fd >= 0)
			read_stdout(d, r);
		else if (kind[i] == 2 && r->err_fd >= 0)
			read_stderr(r);
		else if (kind[i] == 3 && r->in_fd >= 0)
			write_stdin(r);
	}
	reap_children(d); /* in case SIGCHLD was coalesced with another signal */
	advance(d);
	if (fds[0].revents)
		read_messages(d);
	run_timers(d);
	remote_issue_ready(d);
	if (disp_mono_ms() >= scan_due_at(d))
		scan(d);
	flush_writes(d); /* the turn's steps and the scan's starts, one commit */
	start_previews(d);
	free_graves(d);
}

/* requeue_all hands running tasks on at a clean stop: local programs back
 * to the queue (the next dispatcher starts them again without counting an
 * attempt); remote tasks stay in_progress, due at once, so the next
 * dispatcher adopts them where they were. */
static void requeue_all(struct dispatcher *d)
{
	for (struct run *r = d->lists[RL_WRITE].head, *next; r; r = next) {
		next = r->next[RL_WRITE];
		if (r->w_start)
			disp_free_run(d, r); /* not started: the task is still queued */
	}
	flush_writes(d); /* steps already taken, completions first */
	while (d->lists[RL_ALL].head) {
		struct run *r = d->lists[RL_ALL].head;
		int remote = r->stage == STAGE_REMOTE;
		remote_abort(d, r);
		disp_kill_child(r);
		if (!remote)
			disp_remove_partial_files(r);
		struct json_object *rec = disp_load(d, r->id);
		if (rec) {
			if (remote)
				json_object_object_add(rec, "due_at", json_object_new_int64(disp_wall_ms()));
			else
				task_requeue(rec, disp_wall_ms(), 0, 0);
			disp_save(d, rec);
			json_object_put(rec);
		}
		disp_free_run(d, r);
	}
	free_graves(d);
}

/* setup_backends sets every configured backend up with its module; one
 * that fails (a missing secret, an unreadable file) is logged, and its
 * tasks fail with upstream_unavailable when they start. */
static int setup_backends(struct dispatcher *d)
{
	size_t n = d->cfg->nbackends;
	d->be = calloc(n ? n : 1, sizeof(*d->be));
	d->be_ok = calloc(n ? n : 1, sizeof(int));
	if (d->be == NULL || d->be_ok == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct backend_cfg *b = &d->cfg->backends[i];
		char err[512];
		if (backend_init(&d->be[i], b, d->cfg->data_dir, err, sizeof(err)) == 0)
			d->be_ok[i] = 1;
		else
			log_error("backend_unusable", "backend=%s reason=\"%s\"", b->name, err);
	}
	return 0;
}

static void teardown_backends(struct dispatcher *d)
{
	for (size_t i = 0; d->be && i < d->cfg->nbackends; i++)
		if (d->be_ok[i])
			backend_deinit(&d->be[i]);
	free(d->be);
	free(d->be_ok);
}

static int setup(struct dispatcher *d, const struct config *cfg)
{
	d->cfg = cfg;
	snprintf(d->content_dir, sizeof(d->content_dir), "%s/content", cfg->data_dir);
	snprintf(d->tmp_dir, sizeof(d->tmp_dir), "%s/tmp", cfg->data_dir);
	mkdir(d->content_dir, 0755);
	mkdir(d->tmp_dir, 0755);
	struct store_options so = { cfg->map_bytes, cfg->max_map_bytes, cfg->durable };
	enum rg_err err = store_open(&d->st, cfg->data_dir, &so);
	if (err != RG_OK) {
		log_error("dispatcher_start_failed", "reason=\"database: %s\"", rg_strerror(err));
		return -1;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	d->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	d->wake_fd = notify_bind(cfg->data_dir);
	if (d->sig_fd < 0 || d->wake_fd < 0) {
		log_error("dispatcher_start_failed", "reason=\"signalfd or wake socket: %s\"",
			  strerror(errno));
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	size_t nb = cfg->nbackends ? cfg->nbackends : 1;
	d->running = calloc(nb, sizeof(*d->running));
	d->inflight = calloc(nb, sizeof(*d->inflight));
	d->ready = calloc(nb, sizeof(*d->ready));
	if (d->running == NULL || d->inflight == NULL || d->ready == NULL)
		return -1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	d->multi = curl_multi_init();
	if (d->multi == NULL || setup_backends(d) < 0)
		return -1;
	image_fetch_init(&d->fetches, cfg, d->st, d->multi);
	curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
	return 0;
}

/* teardown frees what setup and the loop allocated (the runs are gone). */
static void teardown(struct dispatcher *d)
{
	forget_waiters(d, 1);
	free(d->waiting);
	free(d->heap);
	free(d->due);
	free(d->hash);
	free(d->running);
	free(d->inflight);
	free(d->ready);
	free(d->batch.runs);
	free(d->batch.progress);
	free(d->batch.ids);
	free(d->batch.gone);
}

int dispatcher_run(const struct config *cfg, int lock_fd, int supervised)
{
	log_set_role("dispatcher");
	if (supervised)
		prctl(PR_SET_PDEATHSIG, SIGTERM);
	struct dispatcher d;
	memset(&d, 0, sizeof(d));
	d.wake_fd = d.sig_fd = -1;
	if (setup(&d, cfg) < 0)
		return 1;
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(lock_fd, 0) == 0 && pwrite(lock_fd, pid, (size_t)n, 0) == n)
		log_info("dispatcher_started", "data_dir=%s", cfg->data_dir);
	recover(&d);
	d.scan_now = 1;
	while (!d.stop)
		loop_once(&d);
	requeue_all(&d);
	image_fetch_deinit(&d.fetches); /* their tasks are still queued */
	teardown_backends(&d);
	teardown(&d);
	curl_multi_cleanup(d.multi);
	close(d.wake_fd);
	close(d.sig_fd);
	store_close(d.st);
	log_info("dispatcher_stopped", "runs=0");
	return 0;
}

void dispatcher_ensure(const struct config *cfg)
{
	int fd = dispatcher_lock(cfg->data_dir);
	if (fd < 0)
		return; /* one is running */
	pid_t pid = fork();
	if (pid < 0) {
		close(fd);
		return;
	}
	if (pid == 0) {
		/* Detach twice so the dispatcher outlives this worker and is
		 * nobody's zombie. */
		setsid();
		pid_t again = fork();
		if (again != 0)
			_exit(again < 0 ? 1 : 0);
		/* Nothing of the worker's may stay open here: not its listen
		 * socket on fd 0 (spawn-fcgi could not bind again, nginx would
		 * queue connections nobody reads), not the web server's pipes. */
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDOUT_FILENO);
			close(devnull);
		}
		if (fd > 3)
			close_range(3, (unsigned)fd - 1, 0);
		close_range((unsigned)fd + 1, ~0U, 0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		_exit(dispatcher_run(cfg, fd, 0));
	}
	close(fd);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}
