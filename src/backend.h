/*
 * backend: what an adapter translates.  The dispatcher owns processes,
 * sockets, timers, retries and LMDB writes; an adapter turns a task into
 * what its generator needs and the generator's answers into a status.
 *
 * The `command` adapter (backend_command.c) is for local programs: it makes
 * the stdin document and the environment for the program and reads its
 * progress lines.  HTTP adapters come with their own ops.
 */
#ifndef REELGATE_BACKEND_H
#define REELGATE_BACKEND_H

#include <stddef.h>
#include <json-c/json.h>

#include "buf.h"
#include "config.h"
#include "transfer.h"
#include "validate.h"

/* The task as a command backend receives it. */
struct command_job {
	const char *id;
	const char *prompt;
	const char *model;      /* the backend's name for the model, or "" */
	int seconds, width, height, fps;
	int has_seed;
	unsigned long seed;
	const char *image_path; /* absolute, or NULL */
	const char *output_path;/* absolute */
	struct json_object *metadata; /* borrowed; may be NULL */
};

/* command_job_from_record fills job from a task record (borrowing its
 * strings) for the model entry mb; image_abs must hold 4096 bytes. */
int command_job_from_record(struct command_job *job, struct json_object *rec,
			    const struct model_backend *mb, const char *data_dir,
			    char *image_abs, const char *output_path);
/* command_stdin writes the JSON document the program reads on stdin. */
int command_stdin(const struct command_job *job, struct buf *out);
/* command_env builds "NAME=value" strings for the program's environment:
 * the REELGATE_* variables plus PATH, HOME, LANG and TMPDIR from ours.
 * Returns a NULL-terminated array to free with command_env_free. */
char **command_env(const struct command_job *job);
void command_env_free(char **env);
/* command_progress reads one stdout line: "progress N" gives N (0..100);
 * any other line gives -1. */
int command_progress(const char *line, size_t len);


/* ---- remote (HTTP) adapters ---------------------------------------------- */

/* The requests of a remote task's life.  The dispatcher decides which comes
 * next; the adapter builds each and reads its answer. */
enum remote_phase {
	PHASE_NONE,
	PHASE_UPLOAD,      /* hand the input image to the upstream (ComfyUI) */
	PHASE_SUBMIT,      /* create the upstream job */
	PHASE_RECONCILE,   /* after a crash or an unknown outcome: does it exist? */
	PHASE_RECONCILE2,  /* a second look, when the upstream needs two */
	PHASE_POLL,        /* how is the job doing? */
	PHASE_POLL2,       /* a second look (ComfyUI: /queue after /history) */
	PHASE_FETCH_VIDEO, /* download the result */
	PHASE_FETCH_THUMB, /* download the upstream's thumbnail, if it has one */
};

enum remote_verdict {
	RV_OK,    /* understood: see state and the fields */
	RV_RETRY, /* transient: the same request again, later */
	RV_FAIL,  /* the task fails: code and message say why */
};

enum remote_state {
	RS_UNKNOWN,
	RS_QUEUED,
	RS_RUNNING,
	RS_SUCCEEDED,
	RS_FAILED,
	RS_NOT_FOUND, /* reconcile: the upstream has no such job */
};

struct remote_answer {
	enum remote_verdict verdict;
	enum remote_state state;
	enum remote_phase next;   /* ask for this request at once (PHASE_NONE: no) */
	int progress;             /* 0..100, or -1 when the upstream does not say */
	int maybe_created;        /* submit outcome unknown: reconcile before resending */
	long retry_after_ms;      /* the upstream's hint, 0 when none */
	char upstream_id[256];
	/* reconcile: every upstream job that may be ours, best first */
	char candidates[8][256];
	int ncandidates;
	char value[512];          /* upload: the name the upstream gave the image */
	char video_url[4096];     /* where the result is, when not at a fixed path */
	char code[64];            /* RV_FAIL: error.code for the video object */
	char message[512];        /* RV_FAIL: error.message (never a secret) */
};

/* What an adapter needs besides the task. */
struct backend_ctx {
	const struct backend_cfg *cfg;
	const char *data_dir;
	char api_key[512];        /* openai: the key; kling: the access key */
	char secret[512];         /* kling: the secret key */
	char token[1024];         /* kling: the current JWT */
	long long token_exp;      /* its exp claim */
	struct json_object *workflow; /* comfyui: the template (owned) */
	struct ssrf_policy policy;
	long poll_ms;             /* how often a job is polled */
	int max_retries;
};

struct backend_ops {
	const char *type;
	/* build the request of phase for rec; -1 (with ans->code/message) when
	 * the task cannot be expressed for this upstream. rec may be annotated
	 * (rec.remote) and is written before the request is sent. */
	int (*build)(struct backend_ctx *bc, const struct model_backend *mb,
		     struct json_object *rec, enum remote_phase ph, struct http_req *req,
		     struct remote_answer *ans);
	/* parse the answer to phase (status 0: no HTTP answer at all). */
	void (*parse)(struct backend_ctx *bc, struct json_object *rec, enum remote_phase ph,
		      long status, const char *body, size_t len, struct remote_answer *ans);
	/* names the request fields this upstream cannot honour (NULL-terminated
	 * into out, at most 16). */
	void (*unsupported)(const struct backend_cfg *b, const struct model_backend *mb,
			    const struct video_spec *s, const char **out);
	/* whether the task's image must be a local file (uploaded by us) */
	int needs_image_file;
};

/* backend_ops_for: the adapter of a backend type, or NULL ("command"). */
const struct backend_ops *backend_ops_for(const char *type);
/* backend_ctx_init resolves secrets (config value or environment variable)
 * and loads what the adapter needs; -1 with a message in err. */
int backend_ctx_init(struct backend_ctx *bc, const struct backend_cfg *cfg,
		     const char *data_dir, char *err, size_t errlen);
void backend_ctx_deinit(struct backend_ctx *bc);
/* backend_ignored lists what the model's first backend cannot honour of s. */
void backend_ignored(const struct config *cfg, const struct model_cfg *m,
		     const struct video_spec *s, const char **out);

/* Helpers shared by the adapters. */
struct json_object *remote_obj(struct json_object *rec); /* rec.remote, made if missing */
const char *remote_get(struct json_object *rec, const char *name);
void remote_set(struct json_object *rec, const char *name, const char *value);
/* classify_status fills a verdict for an HTTP status that is not a success:
 * 408, 429 and 5xx retry, the rest fail with a message naming the upstream. */
/* backend_parse runs ops->parse and makes the answer fit for a video
 * object: code and message valid UTF-8 (upstreams send any bytes, and a
 * truncated copy may cut a character). */
void backend_parse(const struct backend_ops *ops, struct backend_ctx *bc, struct json_object *rec,
		   enum remote_phase ph, long status, const char *body, size_t len,
		   struct remote_answer *ans);
void remote_http_error(struct remote_answer *ans, const char *upstream, long status,
		       const char *detail);
/* remote_parse_object parses an answer body that must be one JSON object;
 * NULL when it is not (caller puts the result). */
struct json_object *remote_parse_object(const char *body, size_t len);
/* remote_no_seed_fps lists seed and fps when the caller sent them, for the
 * upstreams that take neither (Kling, OpenAI); returns how many it wrote. */
size_t remote_no_seed_fps(const struct video_spec *s, const char **out);
/* remote_idx is json_object_array_get_idx that accepts anything: NULL when
 * a is not an array or too short (json-c asserts on a non-array). */
struct json_object *remote_idx(struct json_object *a, size_t i);
/* read_file_b64 reads a stored upload as base64 (caller frees). */
char *remote_image_b64(const char *data_dir, struct json_object *rec, size_t max);
const char *remote_image_path(const char *data_dir, struct json_object *rec, char *out, size_t n);
const char *remote_image_url(struct json_object *rec);
int remote_param_int(struct json_object *rec, const char *name, int def);
int remote_has_seed(struct json_object *rec, unsigned long *seed);
const char *remote_meta_str(struct json_object *rec, const char *name);

#endif
