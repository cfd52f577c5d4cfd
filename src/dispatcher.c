/*
 * dispatcher: the task engine's loop.
 *
 * Life of a task here: the due index says it needs attention; task.c says
 * what (start, renew, timeout, orphaned, expire); this file decides, and
 * hands a start to run_local.c (a program) or run_remote.c (an HTTP
 * backend), which keep the started task as a `struct run` of the run
 * table (runs.c).  The one loop polls the wake socket, the signals, the
 * children's pipes and curl's sockets; nothing here sleeps: every wait is
 * a timeout of that poll.  Also here: the lock that makes one dispatcher
 * per data_dir, the scan of due tasks, recovery at start, and the queue of
 * tasks waiting for a backend slot.
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
#include "metrics.h"
#include "record.h"
#include "notify.h"
#include "ops.h"
#include "store.h"
#include "task.h"
#include "video.h"
#include "dispatcher_int.h"

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

static const struct model_backend *model_backend_of(const struct config *cfg,
						    struct json_object *rec,
						    const struct backend_cfg **b)
{
	const struct model_cfg *m =
		config_model(cfg, rec_str(rec, "model") ? rec_str(rec, "model") : "");
	*b = NULL;
	if (m == NULL || m->nbackends == 0)
		return NULL;
	*b = config_backend(cfg, m->backends[0].backend);
	return *b ? &m->backends[0] : NULL;
}

static struct waiter **waiter_slot(struct dispatcher *d, const char *id)
{
	struct waiter **w = &d->waiting[disp_id_hash(id) & (WAITING_BUCKETS - 1)];
	while (*w && strcmp((*w)->id, id) != 0)
		w = &(*w)->next;
	return w;
}

/* wait_for_slot notes that the queued task id waits for a slot on b. */
static void wait_for_slot(struct dispatcher *d, const char *id, const struct backend_cfg *b,
			  int64_t deadline_at)
{
	if (d->waiting == NULL &&
	    (d->waiting = calloc(WAITING_BUCKETS, sizeof(*d->waiting))) == NULL)
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
		d->held[w->backend - d->cfg->backends]++;
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
	const struct model_cfg *m =
		config_model(d->cfg, rec_str(rec, "model") ? rec_str(rec, "model") : "");
	unsigned want = ops_wanted(rec);
	if (m && want && !model_runs(d->cfg, m, want)) {
		/* the configuration changed since the task was accepted: never
		 * run an edit or an extension as a plain create */
		disp_fail_task(
			d, id, "unsupported_operation",
			"The task's model no longer runs its operation on this server (the configuration changed after it was accepted).");
		return;
	}
	if (m && m->nbackends > 0 && config_backend_is_http(d->cfg, m->backends[0].backend)) {
		if (remote_start(d, rec, m) < 0) /* every backend busy: stays queued */
			d->held[config_backend(d->cfg, m->backends[0].backend) -
				d->cfg->backends]++;
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
		d->held[b - d->cfg->backends]++;
		return;
	}
	if (image_fetch_needed(b, rec)) {
		/* The program reads a file: the task starts once it is stored. */
		image_fetch_start(&d->fetches, rec);
		return;
	}
	local_start(d, rec, b, mb);
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
		disp_unschedule(d, r);
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
			disp_fail_run(
				d, r, "generation_timeout",
				over_run
					? "The generator did not finish within the backend's time limit."
					: "The video was not finished before its deadline.");
			continue;
		}
		if (disp_request_at(r) <= now)
			remote_issue(d, r);
		disp_schedule(d, r);
	}
}

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

/* expire_files removes the stored files a record's "files" named. */
static void expire_files(struct dispatcher *d, struct json_object *files)
{
	if (!json_object_is_type(files, json_type_object))
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
		if (remote_get(rec, "backend") &&
		    config_backend_is_http(d->cfg, remote_get(rec, "backend"))) {
			remote_adopt(d, rec); /* resumed where it was: never sent twice */
			break;
		}
		local_stop_lost(d, rec);
		task_orphaned(rec, now);
		if (disp_save(d, rec) == 0)
			log_warn("video_orphaned", "video=%s status=%s", id,
				 task_status_name(task_status(rec)));
		break;
	case TASK_ACT_TIMEOUT:
		if (r == NULL)
			local_stop_lost(d, rec);
		if (r) {
			disp_kill_child(r);
			disp_remove_partial_files(r);
			disp_free_run(d, r);
		}
		task_fail(rec, now, "generation_timeout",
			  "The video was not finished before its deadline.", d->cfg->data_dir);
		if (disp_save(d, rec) == 0)
			log_info("video_failed", "video=%s code=generation_timeout", id);
		break;
	case TASK_ACT_EXPIRE: {
		/* Recorded expired first, then the files go: a read in between
		 * answers video_expired, never "no stored video". */
		struct json_object *files = NULL;
		json_object_object_get_ex(rec, "files", &files);
		json_object_get(files);
		task_expire(rec);
		if (disp_save(d, rec) == 0) {
			expire_files(d, files);
			log_info("video_expired", "video=%s", id);
		}
		json_object_put(files);
		break;
	}
	case TASK_ACT_UPLOAD: s3_uploads_take(&d->uploads, rec); break;
	case TASK_ACT_CLEAR:
		json_object_object_del(rec, "due_at");
		disp_save(d, rec);
		break;
	case TASK_ACT_NONE: break;
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
		if (task_status(rec) == TASK_IN_PROGRESS && task_is_uploading(rec)) {
			s3_uploads_take(&d->uploads, rec); /* checked before anything is sent */
			n++;
		} else if (task_status(rec) == TASK_IN_PROGRESS) {
			const char *b = remote_get(rec, "backend");
			if (b && config_backend_is_http(d->cfg, b)) {
				remote_adopt(d, rec);
			} else {
				local_stop_lost(d, rec);
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
		if (strncmp(e->d_name, "reelgate-form-", 14) != 0 &&
		    strncmp(e->d_name, "image-", 6) != 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && st.st_mtime < old &&
		    unlinkat(dirfd(dir), e->d_name, 0) == 0)
			n++;
	}
	closedir(dir);
	if (n > 0)
		log_info("tmp_swept", "files=%d", n);
}

/* publish_gauges: each backend's queue (tasks held back by the scan, and
 * requests waiting for one of INFLIGHT_MAX), runs and requests out. */
static void publish_gauges(struct dispatcher *d)
{
	for (size_t i = 0; metrics_on() && i < d->cfg->nbackends; i++)
		metrics_backend_gauges(d->cfg->backends[i].name,
				       d->held[i] + (int64_t)d->ready[i].n, d->running[i],
				       d->inflight[i]);
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
	memset(d->held, 0, (d->cfg->nbackends ? d->cfg->nbackends : 1) * sizeof(*d->held));
	for (size_t i = 0; i < l.n && !d->stop; i++)
		if (!still_waiting(d, ids[i], wall))
			handle_due(d, ids[i]);
	if (err == RG_OK && l.n < SCAN_LIMIT && !d->stop)
		forget_waiters(d, 0);
	if (!d->stop)
		upstream_cancel_tick(&d->ucancels, disp_mono_ms());
	if (!d->stop)
		webhooks_tick(&d->hooks);
	if (disp_mono_ms() - d->last_scan >= SCAN_INTERVAL_MS)
		store_release_pages(d->st); /* at most once a second */
	d->last_scan = disp_mono_ms();
	d->next_scan = d->last_scan + SCAN_INTERVAL_MS;
	d->scan_now = 0;
	publish_gauges(d);
}

static void read_messages(struct dispatcher *d)
{
	struct notify_msg m;
	while (notify_recv(d->wake_fd, &m) == 0) {
		if (strcmp(m.text, "wake") == 0) {
			d->scan_now = 1;
		} else if (strncmp(m.text, "cancel ", 7) == 0) {
			const char *id = m.text + 7;
			struct run *r = disp_find_run(d, id);
			struct json_object *up;
			if (r && r->xfer && r->xfer->phase == PHASE_SUBMIT &&
			    upstream_cancel_adopt(&d->ucancels, id, r->xfer) == 0) {
				/* the submit runs on: its job, if made, is to be
				 * cancelled, not left running unknown */
				d->inflight[r->backend - d->cfg->backends]--;
				r->xfer = NULL;
			} else if (r && r->w_keep &&
				   json_object_object_get_ex(r->w_keep, "upstream_id", &up)) {
				/* answered, its job's id not yet committed */
				upstream_cancel_known(&d->ucancels, id, json_object_get_string(up));
			}
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
			local_reap(d);
		else
			d->stop = 1;
	}
}

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
	int64_t writes = disp_writes_due_at(d);
	if (writes < next)
		next = writes;
	if (webhooks_flush_due_at(&d->hooks) < next)
		next = webhooks_flush_due_at(&d->hooks);
	if (s3_uploads_due_at(&d->uploads) < next)
		next = s3_uploads_due_at(&d->uploads);
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
	uint64_t woke = metrics_clock();
	int running;
	curl_multi_perform(d->multi, &running);
	remote_transfers_done(d);
	/* deliveries answered: the next due ones out at once rather than at
	 * the next scan; their outcomes written together (webhook.h) */
	if (webhooks_answered(&d->hooks) && !d->stop)
		webhooks_tick(&d->hooks);
	webhooks_flush(&d->hooks, 0);
	if (fds[1].revents)
		read_signals(d);
	for (unsigned i = 2; i < n; i++) {
		if (!fds[i].revents)
			continue;
		struct run *r = owner[i]; /* may be freed: its descriptors are -1 then */
		if (kind[i] == 1 && r->out_fd >= 0)
			local_read_stdout(d, r);
		else if (kind[i] == 2 && r->err_fd >= 0)
			local_read_stderr(r);
		else if (kind[i] == 3 && r->in_fd >= 0)
			local_write_stdin(r);
	}
	local_reap(d); /* in case SIGCHLD was coalesced with another signal */
	local_advance(d);
	if (fds[0].revents)
		read_messages(d);
	run_timers(d);
	remote_issue_ready(d);
	if (!d->stop)
		s3_uploads_tick(&d->uploads, disp_mono_ms());
	if (disp_mono_ms() >= scan_due_at(d))
		scan(d);
	disp_flush_writes(d); /* the turn's steps and the scan's starts, one commit */
	local_start_programs(d);
	local_start_previews(d);
	disp_free_graves(d);
	metrics_loop_turn(woke);
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
	disp_flush_writes(d); /* steps already taken, completions first */
	while (d->lists[RL_ALL].head) {
		struct run *r = d->lists[RL_ALL].head;
		int remote = r->stage == STAGE_REMOTE;
		disp_abort_transfer(d, r);
		disp_kill_child(r);
		if (!remote)
			disp_remove_partial_files(r);
		struct json_object *rec = disp_load(d, r->id);
		if (rec) {
			if (remote)
				json_object_object_add(rec, "due_at",
						       json_object_new_int64(disp_wall_ms()));
			else
				task_requeue(rec, disp_wall_ms(), 0, 0);
			disp_save(d, rec);
			json_object_put(rec);
		}
		disp_free_run(d, r);
	}
	disp_free_graves(d);
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
	d->held = calloc(nb, sizeof(*d->held));
	d->ready = calloc(nb, sizeof(*d->ready));
	if (d->running == NULL || d->inflight == NULL || d->held == NULL || d->ready == NULL)
		return -1;
	metrics_open(cfg->data_dir, cfg->metrics_enabled); /* done when the master did */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	d->multi = curl_multi_init();
	if (d->multi == NULL || setup_backends(d) < 0)
		return -1;
	image_fetch_init(&d->fetches, cfg, d->st, d->multi);
	upstream_cancel_init(&d->ucancels, cfg, d->st, d->multi, d->be, d->be_ok);
	s3_uploads_init(&d->uploads, cfg, d->st, d->multi);
	if (webhooks_init(&d->hooks, cfg, d->st, d->multi) < 0)
		return -1;
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
	free(d->held);
	free(d->ready);
	free(d->batch.runs);
	free(d->batch.progress);
	free(d->batch.ids);
	free(d->batch.gone);
}

int dispatcher_run(const struct config *cfg, int lock_fd, int supervised)
{
	log_set_role("dispatcher");
	prctl(PR_SET_NAME, "reelgate-disp"); /* what ps and top show */
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
	image_fetch_deinit(&d.fetches);	     /* their tasks are still queued */
	upstream_cancel_deinit(&d.ucancels); /* their entries stay pending */
	s3_uploads_deinit(&d.uploads);	     /* the records say where each was */
	webhooks_deinit(&d.hooks);	     /* their deliveries stay pending */
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
