/*
 * run_local: the dispatcher's child processes: a local backend's program
 * (its module makes the argv, environment and stdin; this file runs it in
 * its own process group, feeds its stdin, reads its progress lines and its
 * last stderr line, and takes its video), and the ffmpeg previews
 * (thumbnail, spritesheet) of every finished task, local or remote, at
 * most PREVIEWS_MAX at once.  Children are made with CLONE_VM|CLONE_VFORK
 * and reaped by the loop; the pipes are watched by the loop's one poll.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dispatcher_int.h"
#include "log.h"
#include "record.h"
#include "task.h"

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
		disp_close_fd(&r->in_fd);
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

/* stop_lost_process kills the process group a dead dispatcher left
 * running for rec (ffmpeg outlives the script it was started by), and
 * removes its scratch directory. */
void local_stop_lost(struct dispatcher *d, struct json_object *rec)
{
	struct json_object *p, *v;
	if (json_object_object_get_ex(rec, "process", &p)) {
		pid_t pgid = json_object_object_get_ex(p, "pgid", &v)
				     ? (pid_t)json_object_get_int(v)
				     : 0;
		long long start =
			json_object_object_get_ex(p, "start", &v) ? json_object_get_int64(v) : 0;
		if (pgid > 1 && start != 0 && proc_start_time(pgid) == start) {
			kill(-pgid, SIGKILL);
			log_warn("lost_process_killed", "video=%s pgid=%d", rec_str(rec, "id"),
				 (int)pgid);
		}
		json_object_object_del(rec, "process");
	}
	char scratch[PATH_MAXLEN + ID_MAX];
	snprintf(scratch, sizeof(scratch), "%s/run-%s", d->tmp_dir, rec_str(rec, "id"));
	disp_rmtree(scratch);
}

static void fail_task_later(struct dispatcher *d, const char *id)
{
	disp_fail_task(d, id, "storage_error",
		       "The server could not prepare a working directory for the task.");
}

/* local_start prepares the run of a queued task on the local backend b:
 * the module makes the program's input; the program starts once the
 * turn's batch has written the task in_progress (local_start_programs). */
void local_start(struct dispatcher *d, struct json_object *rec, const struct backend_cfg *b,
		 const struct model_backend *mb)
{
	const char *id = rec_str(rec, "id");
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
		disp_fail_task(
			d, id, "upstream_unavailable",
			"The model's backend is not usable on this server (see the server log).");
		return;
	}
	if (r->be->type->prepare(r->be, mb, rec, part, &r->job) < 0) {
		disp_free_run(d, r);
		disp_fail_task(d, id, "invalid_task",
			       "The task record is incomplete and cannot be run.");
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
		disp_fail_run(d, r, "generation_failed",
			      "The generator program could not be started.");
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

/* local_start_programs starts the programs whose tasks the turn's batch
 * wrote in_progress. */
void local_start_programs(struct dispatcher *d)
{
	while (d->lists[RL_START].head) {
		struct run *r = d->lists[RL_START].head;
		disp_list_remove(d, RL_START, r);
		start_program(d, r);
	}
}

/* render_failure describes why the program failed, from its stderr. */
static void render_failure(struct run *r, char *msg, size_t n)
{
	const char *last = r->err_last[0] ? r->err_last : NULL;
	if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0)
		snprintf(msg, n, "The generator finished without writing a video.");
	else if (WIFEXITED(r->status))
		snprintf(msg, n, "The generator failed (exit status %d)%s%s",
			 WEXITSTATUS(r->status), last ? ": " : ".", last ? last : "");
	else
		snprintf(msg, n, "The generator was killed by signal %d%s%s", WTERMSIG(r->status),
			 last ? ": " : ".", last ? last : "");
}

static void finish_render(struct dispatcher *d, struct run *r)
{
	char part[PATH_MAXLEN + 16];
	snprintf(part, sizeof(part), "%s/out.mp4", r->scratch);
	struct stat st;
	int ok = WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0 && stat(part, &st) == 0 &&
		 S_ISREG(st.st_mode) && st.st_size > 0;
	if (ok && (size_t)st.st_size > d->cfg->max_output_bytes) {
		unlink(part);
		disp_rmtree(r->scratch);
		disp_fail_run(d, r, "generation_failed",
			      "The generator wrote a video larger than the configured limit.");
		return;
	}
	if (!ok || rename(part, r->video) < 0) {
		char msg[STDERR_LINE_MAX + 100];
		render_failure(r, msg, sizeof(msg));
		disp_rmtree(r->scratch);
		/* the client's error.message has the server's paths scrubbed
		 * out (task_fail); the operator's log keeps the line whole */
		char quoted[2 * STDERR_LINE_MAX + 3];
		log_warn("run_failed", "video=%s stderr=%s", r->id,
			 log_quote(r->err_last, quoted, sizeof(quoted)));
		disp_fail_run(d, r, "generation_failed", msg);
		return;
	}
	disp_rmtree(r->scratch);
	r->stage = STAGE_THUMBNAIL;
	local_start_preview(d, r);
}

/* local_start_preview runs ffmpeg for the thumbnail or the spritesheet, or
 * queues r when PREVIEWS_MAX of them are running: when thousands of tasks
 * finish at once, thousands of ffmpegs would only fight for the cores and
 * the descriptors. */
void local_start_preview(struct dispatcher *d, struct run *r)
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
		snprintf(seek, sizeof(seek), "%.3f",
			 (double)(frames / 2) / (r->fps > 0 ? r->fps : 1));
		char *argv[] = { (char *)ff,
				 "-nostdin",
				 "-v",
				 "error",
				 "-y",
				 "-ss",
				 seek,
				 "-i",
				 r->video,
				 "-frames:v",
				 "1",
				 "-vf",
				 "scale='min(640,iw)':-2",
				 out,
				 NULL };
		if (spawn(d, r, argv, NULL) == 0) {
			r->previewing = 1;
			d->previews++;
			return;
		}
	} else {
		snprintf(out, sizeof(out), "%s.part.jpg", r->sprite);
		snprintf(vf, sizeof(vf), "fps=%.4f,scale=160:-2,tile=5x5",
			 25.0 / (r->seconds > 0 ? r->seconds : 1));
		char *argv[] = { (char *)ff, "-nostdin", "-v",	"error", "-y",
				 "-i",	     r->video,	 "-vf", vf,	 "-frames:v",
				 "1",	     "-q:v",	 "4",	out,	 NULL };
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
void local_start_previews(struct dispatcher *d)
{
	while (d->previews < PREVIEWS_MAX && d->lists[RL_PREVIEW].head)
		local_start_preview(d, d->lists[RL_PREVIEW].head);
}

static void finish_preview(struct dispatcher *d, struct run *r)
{
	int ok = WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
	char part[PATH_MAXLEN + 16];
	const char *final = r->stage == STAGE_THUMBNAIL ? r->thumb : r->sprite;
	snprintf(part, sizeof(part), "%s.part.%s", final,
		 r->stage == STAGE_THUMBNAIL ? "webp" : "jpg");
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
		local_start_preview(d, r);
	} else {
		disp_complete_task(d, r);
	}
}

static void stdout_line(struct dispatcher *d, struct run *r)
{
	if (r->stage != STAGE_RENDER || r->line_overflow)
		return;
	int p = r->be->type->progress ? r->be->type->progress(r->line, r->line_len) : -1;
	if (p >= 0 && p >= r->progress)
		disp_progress(d, r, p);
}

void local_read_stdout(struct dispatcher *d, struct run *r)
{
	char chunk[4096];
	for (;;) {
		ssize_t n = read(r->out_fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			disp_close_fd(&r->out_fd);
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
void local_read_stderr(struct run *r)
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
			disp_close_fd(&r->err_fd);
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

void local_write_stdin(struct run *r)
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
	disp_close_fd(&r->in_fd);
}

/* reap_children collects exit statuses (the pipes may close before or after). */
void local_reap(struct dispatcher *d)
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

/* advance moves runs whose child is done (exited, pipes drained). */
void local_advance(struct dispatcher *d)
{
	struct run *r = d->lists[RL_PROCS].head, *next;
	for (; r; r = next) {
		next = r->next[RL_PROCS];
		if (r->pid != 0 || r->out_fd >= 0 || r->err_fd >= 0)
			continue;
		disp_close_fd(&r->in_fd);
		disp_proc_done(d, r);
		if (r->stage == STAGE_RENDER)
			finish_render(d, r);
		else
			finish_preview(d, r);
	}
}
