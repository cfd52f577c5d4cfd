/*
 * dispatcher_int: what the dispatcher's files share (dispatcher.c: the loop,
 * the scan, local program runs and previews; run_remote.c: tasks on HTTP
 * backends).  Not for the rest of reelgate.
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
#include "store.h"

#define SCAN_INTERVAL_MS 1000
#define SCAN_LIMIT 10000
#define PROGRESS_WRITE_MS 1000
#define STDERR_LINE_MAX 400
/* data_dir is at most 512 bytes (config.c), so every path the dispatcher
 * makes fits in this; a run holds four of them. */
#define PATH_MAXLEN 700

/* STAGE_REMOTE: the requests of an HTTP backend; STAGE_RENDER: a local
 * program; then ffmpeg makes the thumbnail and the spritesheet. */
enum stage { STAGE_RENDER, STAGE_REMOTE, STAGE_THUMBNAIL, STAGE_SPRITESHEET };

/* One task this dispatcher is working on, and the child doing the work. */
struct run {
	struct run *next;
	char id[ID_MAX];
	const struct backend_cfg *backend;
	enum stage stage;
	pid_t pid;              /* process group leader; 0 once reaped */
	int status;             /* wait status once reaped */
	int in_fd, out_fd, err_fd; /* -1 once closed */
	struct buf stdin_doc;
	size_t stdin_off;
	char line[256];         /* partial stdout line */
	size_t line_len;
	int line_overflow;
	char err_cur[STDERR_LINE_MAX];
	size_t err_len;
	char err_last[STDERR_LINE_MAX];
	int progress;           /* last progress read */
	int progress_written;
	int64_t last_write;     /* ms, monotonic */
	int64_t kill_at;        /* ms, monotonic: the run's own time limit */
	int64_t deadline_at;    /* ms, wall clock: the task's deadline, 0: none */
	int seconds;            /* video length, for the previews */
	int fps;
	char video[PATH_MAXLEN], thumb[PATH_MAXLEN], sprite[PATH_MAXLEN];
	char scratch[PATH_MAXLEN]; /* data_dir/tmp/run-<id>: the program's output and TMPDIR */
	int has_thumb, has_sprite;
	/* HTTP backends */
	const struct backend_ops *ops;
	struct backend_ctx *bc;
	const struct model_backend *mb;
	int index;              /* which of the model's backends */
	enum remote_phase phase;
	struct transfer *xfer;  /* the request in flight, or NULL */
	int64_t next_at;        /* ms, monotonic: when to send the next request */
	int tries;              /* transient failures in a row */
	int fetch_fd;           /* download sink, or -1 */
	int adopted;            /* taken over from a dispatcher that died */
};

struct dispatcher {
	const struct config *cfg;
	struct store *st;
	CURLM *multi;
	int wake_fd, sig_fd;
	struct run *runs;
	int stop;
	int scan_now;
	int64_t next_scan;      /* ms, monotonic */
	int64_t next_sweep;     /* ms, monotonic: the next clean-up of data_dir/tmp */
	char content_dir[PATH_MAXLEN];
	char tmp_dir[PATH_MAXLEN];
	struct backend_ctx *ctx; /* one per configured backend (HTTP ones set up) */
	int *ctx_ok;
};


int64_t disp_mono_ms(void);
int64_t disp_wall_ms(void);
int disp_running_on(struct dispatcher *d, const struct backend_cfg *b);
struct run *disp_find_run(struct dispatcher *d, const char *id);
struct run *disp_new_run(struct dispatcher *d, const char *id, const struct backend_cfg *b);
void disp_kill_child(struct run *r);
void disp_remove_partial_files(struct run *r);
/* disp_rmtree removes a directory and everything under it. */
void disp_rmtree(const char *path);
void disp_free_run(struct dispatcher *d, struct run *r);
void disp_cancel_run(struct dispatcher *d, struct run *r, const char *why);
struct json_object *disp_load(struct dispatcher *d, const char *id);
int disp_save(struct dispatcher *d, struct json_object *rec);
void disp_fail_task(struct dispatcher *d, const char *id, const char *code, const char *msg);
void disp_start_preview(struct dispatcher *d, struct run *r);
void disp_complete_task(struct dispatcher *d, struct run *r);

/* run_remote.c */
int remote_setup(struct dispatcher *d);
void remote_teardown(struct dispatcher *d);
/* remote_start starts a queued task on an HTTP backend (0), or leaves it
 * queued when every backend of its model is busy (-1). */
int remote_start(struct dispatcher *d, struct json_object *rec, const struct model_cfg *m);
/* remote_adopt resumes an in_progress task whose dispatcher is gone. */
void remote_adopt(struct dispatcher *d, struct json_object *rec);
void remote_transfers_done(struct dispatcher *d);
void remote_issue_due(struct dispatcher *d);
int64_t remote_next_at(struct dispatcher *d, int64_t next);
void remote_abort(struct dispatcher *d, struct run *r);
/* remote_is_remote: does the model's first backend speak HTTP? */
int remote_backend_is_remote(const struct config *cfg, const char *backend);

#endif
