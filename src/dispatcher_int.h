/*
 * dispatcher_int: what the dispatcher's files share.  Layered, each file
 * calling only those below it:
 *   dispatcher.c  the loop, the scan, recovery, the lock, waiting tasks
 *   run_remote.c  tasks on HTTP backends (remote_step.c decides each step)
 *   run_local.c   child processes: local programs and every task's previews
 *   runs.c        the run table, a run's life, record reads and the batch write
 * Not for the rest of reelgate.
 */
#ifndef REELGATE_DISPATCHER_INT_H
#define REELGATE_DISPATCHER_INT_H

#include <curl/curl.h>
#include <stdint.h>
#include <sys/types.h>
#include <json-c/json.h>

#include "backend.h"
#include "buf.h"
#include "config.h"
#include "id.h"
#include "image_fetch.h"
#include "mp4info.h"
#include "s3_upload.h"
#include "upstream_cancel.h"
#include "webhook.h"
#include "store.h"

#define SCAN_INTERVAL_MS 1000
#define SCAN_LIMIT 10000
#define PROGRESS_WRITE_MS 1000
/* Lease renewals due within this window are written together, so that
 * thousands of runs cost about one commit a second, not one per run. */
#define LEASE_COALESCE_MS 1000
/* Preview processes (ffmpeg) at once; the other runs wait their turn. */
#define PREVIEWS_MAX 4
/* Requests out at once per backend (curl queues those past its connection
 * limit; each holds an easy handle and buffers, and its time limit runs
 * while it waits). */
#define INFLIGHT_MAX 256
/* Records rewritten in one batch transaction, at most. */
#define WRITE_BATCH_MAX 4096
#define STDERR_LINE_MAX 400
/* data_dir is at most 512 bytes (config.c), so every path the dispatcher
 * makes fits in this (a run's own four are allocated to their length). */
#define PATH_MAXLEN 700

/* STAGE_REMOTE: the requests of an HTTP backend; STAGE_RENDER: a local
 * program; then ffmpeg makes the thumbnail and the spritesheet. */
enum stage { STAGE_RENDER, STAGE_REMOTE, STAGE_THUMBNAIL, STAGE_SPRITESHEET };

/* The lists a run can be on (struct run's links are indexed by these):
 * RL_ALL every run, oldest lease write first (a write moves a run to the
 * tail, so the head is the next lease to renew); RL_DIRTY runs whose
 * progress is not written yet; RL_PROCS runs with a child process or its
 * pipes open; RL_PREVIEW runs waiting for a preview slot; RL_READY runs
 * whose request is due while their backend has INFLIGHT_MAX requests out
 * (one such list per backend, d->ready); RL_WRITE runs whose next step
 * waits for a write of their record (w_record, w_complete, w_start,
 * w_process, w_code), made with the other writes of the turn in one
 * transaction; RL_START local runs written in_progress whose program
 * starts next (run_local.c). */
enum run_list_id { RL_ALL, RL_DIRTY, RL_PROCS, RL_PREVIEW, RL_READY, RL_WRITE, RL_START, RL_COUNT };

struct run_list {
	struct run *head, *tail;
	size_t n;
};

/* One task this dispatcher is working on, and the child doing the work. */
struct run {
	struct run *prev[RL_COUNT], *next[RL_COUNT];
	unsigned char on[RL_COUNT]; /* is it on list i */
	struct run *hnext;	    /* the id hash chain */
	size_t heap_i;		    /* 1 + its place in the timer heap; 0: not there */
	int in_batch;		    /* in the write batch being made */
	int previewing;		    /* its child is a preview (holds a slot) */
	int dead; /* freed: unlinked from everything, memory goes at the end of the turn */
	struct run *grave_next;
	char id[ID_MAX];
	const struct backend_cfg *backend;
	enum stage stage;
	pid_t pid;		   /* process group leader; 0 once reaped */
	int status;		   /* wait status once reaped */
	int in_fd, out_fd, err_fd; /* -1 once closed */
	struct local_job job;	   /* local: the program's argv, environment and stdin */
	size_t stdin_off;
	char line[256]; /* partial stdout line */
	size_t line_len;
	int line_overflow;
	char err_cur[STDERR_LINE_MAX];
	size_t err_len;
	char err_last[STDERR_LINE_MAX];
	int progress; /* last progress read */
	int progress_written;
	int64_t last_write;  /* ms, monotonic */
	int64_t kill_at;     /* ms, monotonic: the run's own time limit */
	int64_t deadline_at; /* ms, wall clock: the task's deadline, 0: none */
	int seconds;	     /* video length, for the previews */
	int fps;
	/* the run's files, in one allocation (paths): */
	char *video, *thumb, *sprite;
	char *scratch; /* data_dir/tmp/run-<id>: the program's output and TMPDIR */
	int has_thumb, has_sprite;
	/* HTTP backends */
	struct backend *be; /* the configured backend and its module */
	const struct model_backend *mb;
	int index; /* which of the model's backends */
	enum remote_phase phase;
	struct transfer *xfer; /* the request in flight, or NULL */
	int64_t next_at;       /* ms, monotonic: when to send the next request */
	int tries;	       /* transient failures in a row */
	int fetch_fd;	       /* download sink, or -1 */
	int adopted;	       /* taken over from a dispatcher that died */
	struct json_object
		*rec; /* the record as issue() read it, kept while its request is in flight */
	/* a write waiting for the turn's batch (on RL_WRITE): */
	int w_record;		    /* remote: the values of w_keep, the phase, the lease */
	struct json_object *w_keep; /* owned: name -> string, kept in rec.remote; or NULL */
	int w_complete;		    /* the task is completed with the run's files */
	int w_start;	  /* local: the task is written in_progress, then its program starts */
	int w_process;	  /* local: the program's process group is written */
	char w_code[64];  /* not "": the task is failed with this code and w_msg, then the run ends
			   */
	char *w_msg;	  /* owned */
	int w_stale;	  /* the start found the task no longer queued */
	long long pstart; /* local: the program's start time (proc_start_time) */
	/* what the completed task's record says it made (runs.c) */
	struct mp4_info output; /* the stored video, probed at completion */
	int output_measured;
	char usage_unit[16]; /* remote: the provider's last usage signal, "" none */
	double usage_amount;
};

/* A queued task that found its backend full: the scan passes over it
 * (without reading its record) until the backend has a free slot or the
 * task's deadline passes. */
struct waiter {
	struct waiter *next; /* hash chain */
	const struct backend_cfg *backend;
	int64_t deadline_at; /* ms, wall clock, 0: none */
	unsigned seen;	     /* the scan that last passed over it */
	char id[ID_MAX];
};
#define WAITING_BUCKETS 4096
/* Wakes from workers (a create) start a scan at most this often. */
#define WAKE_SCAN_MIN_MS 50

/* The records one batch write rewrites (flush_writes). */
struct write_batch {
	struct run **runs;
	int *progress;
	char (*ids)[ID_MAX];
	int *gone;
	size_t n, cap;
	int64_t wall;
	int64_t retention_s;
	const char *data_dir;	    /* the config's: scrubbed out of failure messages */
	const struct s3_config *s3; /* store s3: a completion starts the upload */
};

struct heap_ent {
	int64_t at; /* ms, monotonic: when r must be looked at */
	struct run *r;
};

struct dispatcher {
	const struct config *cfg;
	struct store *st;
	CURLM *multi;
	int wake_fd, sig_fd;
	struct run_list lists[RL_COUNT];
	struct heap_ent *heap; /* runs with a timer, a binary min-heap by time */
	size_t heap_n, heap_cap;
	struct run **due; /* the runs one turn's timers woke */
	size_t due_cap;
	struct run **hash; /* runs by id */
	size_t hash_cap;
	struct run *grave;	/* freed this turn */
	int *running;		/* runs per configured backend */
	int *inflight;		/* requests out per configured backend */
	int *held;		/* due tasks the last scan held back for want of a slot */
	struct run_list *ready; /* RL_READY per configured backend */
	int previews;		/* preview processes running */
	struct write_batch batch;
	int64_t dirty_since; /* ms, monotonic: when RL_DIRTY last became non-empty */
	int64_t write_hold;  /* ms, monotonic: no batch write before this (after a failed one) */
	int stop;
	int scan_now;
	int64_t next_scan;	 /* ms, monotonic */
	int64_t last_scan;	 /* ms, monotonic */
	struct waiter **waiting; /* WAITING_BUCKETS chains, or NULL */
	unsigned scan_gen;
	int64_t next_sweep; /* ms, monotonic: the next clean-up of data_dir/tmp */
	char content_dir[PATH_MAXLEN];
	char tmp_dir[PATH_MAXLEN];
	struct backend *be;		  /* one per configured backend (cfg->backends order) */
	int *be_ok;			  /* whether its module's init succeeded */
	struct image_fetches fetches;	  /* input images given as URLs, being downloaded */
	struct upstream_cancels ucancels; /* upstream jobs of deleted tasks */
	struct webhooks hooks;		  /* webhook deliveries */
	struct s3_uploads uploads;	  /* results to the bucket, deletes (store s3) */
};

/* ---- runs.c ---- */
int64_t disp_mono_ms(void);
int64_t disp_wall_ms(void);
/* Lists, the id hash and the timer heap (disp_schedule: r's wake time
 * changed, or may have; call it after changing next_at, xfer, phase,
 * stage, kill_at or deadline_at). */
void disp_list_push(struct dispatcher *d, enum run_list_id l, struct run *r);
void disp_list_remove(struct dispatcher *d, enum run_list_id l, struct run *r);
void disp_schedule(struct dispatcher *d, struct run *r);
void disp_unschedule(struct dispatcher *d, struct run *r);
/* disp_request_at: when a remote run's next request is due (INT64_MAX:
 * not now). */
int64_t disp_request_at(const struct run *r);
/* disp_progress notes a new progress figure, written in the next batch. */
void disp_progress(struct dispatcher *d, struct run *r, int progress);
/* disp_set_backend moves r to backend b, keeping the per-backend counts. */
void disp_set_backend(struct dispatcher *d, struct run *r, const struct backend_cfg *b);
int disp_running_on(struct dispatcher *d, const struct backend_cfg *b);
struct run *disp_find_run(struct dispatcher *d, const char *id);
/* disp_id_hash: the hash of a video id (runs by id, waiting tasks). */
size_t disp_id_hash(const char *id);
/* disp_new_run makes a run (not yet the dispatcher's: disp_add_run makes
 * it so, disp_free_run drops it either way). */
struct run *disp_new_run(struct dispatcher *d, const char *id, const struct backend_cfg *b);
void disp_add_run(struct dispatcher *d, struct run *r);
void disp_close_fd(int *fd);
/* disp_kill_child stops a run's process group and waits for it. */
void disp_kill_child(struct run *r);
/* disp_proc_done takes r off the process list once its child is gone. */
void disp_proc_done(struct dispatcher *d, struct run *r);
/* disp_abort_transfer drops r's request in flight and its download. */
void disp_abort_transfer(struct dispatcher *d, struct run *r);
void disp_remove_partial_files(struct run *r);
/* disp_rmtree removes a directory and everything under it. */
void disp_rmtree(const char *path);
void disp_free_run(struct dispatcher *d, struct run *r);
/* disp_free_graves frees the memory of the runs freed this turn. */
void disp_free_graves(struct dispatcher *d);
void disp_cancel_run(struct dispatcher *d, struct run *r, const char *why);
struct json_object *disp_load(struct dispatcher *d, const char *id);
int disp_save(struct dispatcher *d, struct json_object *rec);
void disp_fail_task(struct dispatcher *d, const char *id, const char *code, const char *msg);
/* disp_complete_task completes the task with r's files in the turn's
 * batch write, and ends r once that is on disk. */
void disp_complete_task(struct dispatcher *d, struct run *r);
/* disp_fail_run fails the task of r (code and msg are copied) in
 * the turn's batch write, and ends r once that is on disk; r does nothing
 * more meanwhile. */
void disp_fail_run(struct dispatcher *d, struct run *r, const char *code, const char *msg);
/* disp_set_phase writes where a remote run is (backend, index, phase)
 * into its record. */
void disp_set_phase(struct json_object *rec, const struct run *r);
/* The batch write: when it is due, and the write (at most once a turn). */
int64_t disp_writes_due_at(const struct dispatcher *d);
void disp_flush_writes(struct dispatcher *d);

/* ---- run_local.c ---- */
/* local_start prepares a queued task's run on the local backend b; its
 * program starts after the turn's write (local_start_programs). */
void local_start(struct dispatcher *d, struct json_object *rec, const struct backend_cfg *b,
		 const struct model_backend *mb);
void local_start_programs(struct dispatcher *d);
/* local_start_preview runs the next preview of r (or queues r for a
 * slot); local_start_previews gives free slots to the runs waiting. */
void local_start_preview(struct dispatcher *d, struct run *r);
void local_start_previews(struct dispatcher *d);
/* The children's pipes and exits, as the loop sees them. */
void local_read_stdout(struct dispatcher *d, struct run *r);
void local_read_stderr(struct run *r);
void local_write_stdin(struct run *r);
void local_reap(struct dispatcher *d);
/* local_advance moves the runs whose child is done (exited, pipes drained). */
void local_advance(struct dispatcher *d);
/* local_stop_lost kills what a dead dispatcher left running for rec. */
void local_stop_lost(struct dispatcher *d, struct json_object *rec);

/* ---- run_remote.c ---- */
/* remote_start starts a queued task on an HTTP backend (0), or leaves it
 * queued when every backend of its model is busy (-1). */
int remote_start(struct dispatcher *d, struct json_object *rec, const struct model_cfg *m);
/* remote_adopt resumes an in_progress task whose dispatcher is gone. */
void remote_adopt(struct dispatcher *d, struct json_object *rec);
void remote_transfers_done(struct dispatcher *d);
/* remote_issue sends r's next request; r may be freed (r->dead). */
void remote_issue(struct dispatcher *d, struct run *r);
/* remote_issue_ready sends the requests that waited for a free slot. */
void remote_issue_ready(struct dispatcher *d);

#endif
