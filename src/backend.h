/*
 * backend: the contract between reelgate's core and a backend module, and
 * the registry of modules.
 *
 * A module (src/backend_<name>.c) is one `struct backend_type`: its config
 * type name, its kind (a local program, or an HTTP upstream), what it can
 * do (capabilities, never tested by name), the config keys it adds to the
 * common ones and how to check them, the keys of a task record's `remote`
 * object it owns, and the functions that translate: a task into a request
 * or a program's input, an answer into a verdict.  The core (config.c, the
 * dispatcher) owns files, processes, sockets, timers, retries, deadlines
 * and every write to LMDB, and knows no module by name: it finds a module
 * by its type name in the registry (backend.c) and calls it through this
 * table.  Helpers the modules share are in backend_util.h.
 *
 * Adding a provider: one new src/backend_<name>.c defining
 * `const struct backend_type backend_<name>`, one line in backend.c's
 * registry, one line in Makefile.am, plus its fake, fuzz target, tests
 * and docs (docs/backends.md, "Writing an adapter").
 */
#ifndef REELGATE_BACKEND_H
#define REELGATE_BACKEND_H

#include <stddef.h>
#include <json-c/json.h>

#include "buf.h"
#include "config.h"
#include "confcheck.h"
#include "transfer.h"
#include "validate.h"

enum backend_kind {
	BACKEND_LOCAL, /* a program on this machine (the dispatcher runs it) */
	BACKEND_HTTP,  /* an upstream spoken to with HTTP requests */
};

/* What a module can do; the core asks these, never the module's name. */
enum backend_cap {
	/* The input image must be a file on this machine: an image URL is
	 * downloaded by the dispatcher before the task starts. */
	BCAP_IMAGE_FILE = 1 << 0,
	/* The image is handed to the upstream in its own request
	 * (PHASE_UPLOAD) before the submit. */
	BCAP_UPLOAD = 1 << 1,
	/* The upstream makes a thumbnail, fetched after the video
	 * (PHASE_FETCH_THUMB); without it ffmpeg makes one. */
	BCAP_THUMBNAIL = 1 << 2,
	/* build/parse PHASE_CANCEL: the upstream job of a task deleted while
	 * queued or in progress is cancelled (rec.remote.upstream_id is set). */
	BCAP_CANCEL = 1 << 3,
	/* build/parse PHASE_RECONCILE: after a submit whose outcome is unknown
	 * the module can find the job (or prove there is none).  Without it
	 * such a task fails with upstream_unknown_outcome, unless the backend
	 * sets "resubmit_unknown": true (then the submit is sent again). */
	BCAP_RECONCILE = 1 << 4,
};

/* The requests of a remote task's life.  The core decides which comes
 * next (remote_step.c); the module builds each and reads its answer. */
enum remote_phase {
	PHASE_NONE,
	PHASE_UPLOAD,	   /* hand the input image to the upstream (BCAP_UPLOAD) */
	PHASE_SUBMIT,	   /* create the upstream job */
	PHASE_RECONCILE,   /* after a crash or an unknown outcome: does it exist? */
	PHASE_RECONCILE2,  /* a second look, when the upstream needs two */
	PHASE_POLL,	   /* how is the job doing? */
	PHASE_POLL2,	   /* a second look (a second endpoint, a file lookup) */
	PHASE_FETCH_VIDEO, /* download the result */
	PHASE_FETCH_THUMB, /* download the upstream's thumbnail (BCAP_THUMBNAIL) */
	PHASE_CANCEL,	   /* stop the upstream job of a deleted task (BCAP_CANCEL) */
	/* Only ever parsed: the answer to a request build marked req->auth
	 * (a token fetched over HTTP), read into the module's state; the
	 * phase's own request is then built again. */
	PHASE_AUTH,
};

/* The operations beyond create and remix a backend may run (ops.h's
 * edits and extensions, and characters used as reference inputs), as its
 * `ops` answers them per model entry. */
enum backend_op {
	BOP_EDIT = 1 << 0,	 /* rec.op "edit": params.source re-made with the prompt */
	BOP_EXTEND = 1 << 1,	 /* rec.op "extend": params.source + a new segment */
	BOP_REFERENCES = 1 << 2, /* params.references: characters as reference inputs */
};

enum remote_verdict {
	RV_OK,	  /* understood: see state and the fields */
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

/* Values an answer asks the core to keep in the record's `remote` object
 * (written before the next request goes out), for a later request to read
 * with remote_get: an uploaded image's name, a file id to look up... */
#define ANSWER_KEEPS 4
struct answer_keep {
	char name[32];
	char value[1024];
};

struct remote_answer {
	enum remote_verdict verdict;
	enum remote_state state;
	enum remote_phase next; /* ask for this request at once (PHASE_NONE: no) */
	int progress;		/* 0..100, or -1 when the upstream does not say */
	int maybe_created;	/* submit outcome unknown: reconcile before resending */
	long retry_after_ms;	/* the upstream's hint, 0 when none */
	char upstream_id[256];
	/* reconcile: every upstream job that may be ours, best first */
	char candidates[8][256];
	int ncandidates;
	struct answer_keep keep[ANSWER_KEEPS];
	int nkeep;
	char video_url[4096]; /* where the result is, when not at a fixed path */
	/* poll: the result is in the answer itself, base64 (a span of the body
	 * given to parse, which the core decodes into the video file in place
	 * of a PHASE_FETCH_VIDEO); NULL when not. */
	const char *inline_video;
	size_t inline_video_len;
	/* The provider's own usage signal for the job, when its answer gives
	 * one (what it billed: Seedance's usage.total_tokens as "tokens",
	 * Vidu's credits as "credits"): a unit ([a-z_], at most 15
	 * characters; "" when the answer says none) and its amount (finite,
	 * not negative).  backend_parse drops a signal that is not so.  The
	 * core keeps the last one a run's answers gave and writes it into
	 * the record of the completed task as provider_usage {unit: amount}
	 * (for the usage ledger); the module keeps nothing for it. */
	char usage_unit[16];
	double usage_amount;
	char code[64];	   /* RV_FAIL: error.code for the video object */
	char message[512]; /* RV_FAIL: error.message (never a secret) */
};

/* One configured backend, as the dispatcher uses it: the config entry
 * (typed common settings, and the raw entry for the module's own keys),
 * its module, and the module's private state (secrets, tokens, templates:
 * type->state_size bytes, zeroed at init and wiped by backend_deinit). */
struct backend {
	const struct backend_cfg *cfg;
	const struct backend_type *type;
	const char *data_dir;
	void *state;
};

/* What a local program gets: made by a LOCAL module's prepare. */
struct local_job {
	char *const *argv; /* borrowed from the module's state */
	char **env;	   /* owned: "NAME=value", NULL-terminated (local_job_deinit) */
	struct buf input;  /* what the program reads on stdin */
	int seconds, fps;  /* the video's, for the previews */
};

struct backend_type {
	const char *name; /* the config's "type" */
	enum backend_kind kind;
	unsigned caps;			/* enum backend_cap bits */
	const char *const *keys;	/* config keys beyond the common ones (NULL-terminated) */
	const char *const *record_keys; /* rec.remote keys it writes; dropped on failover */
	size_t state_size;		/* bytes of its private state per backend */

	/* check refuses a wrong entry o (key: "backends.NAME"), with cc_fail.
	 * It may normalise o in place (absolute paths). */
	int (*check)(struct confcheck *c, struct json_object *o, const char *key);
	/* init loads what the module needs (secrets, files) into b->state;
	 * -1 with a message in err.  deinit frees what init took. */
	int (*init)(struct backend *b, char *err, size_t errlen);
	void (*deinit)(struct backend *b);
	/* unsupported names the request fields this backend cannot honour
	 * (NULL-terminated into out, at most 16). */
	void (*unsupported)(const struct backend_cfg *b, const struct model_backend *mb,
			    const struct video_spec *s, const char **out);

	/* ops says which operations of enum backend_op this backend runs for
	 * the model entry mb (BOP_* bits); NULL: none.  A model offers an
	 * operation when every one of its backends runs it. */
	unsigned (*ops)(const struct backend_cfg *b, const struct model_backend *mb);
	/* source_ok says whether an edit or an extension (op: BOP_EDIT or
	 * BOP_EXTEND) can start from src, the source video's stored record
	 * (NULL: a clip the caller uploaded); 0, or -1 with why (a sentence
	 * for the caller: what to send instead).  NULL: any source. */
	int (*source_ok)(const struct backend_cfg *b, const struct model_backend *mb, unsigned op,
			 struct json_object *src, char *why, size_t n);
	/* fits says whether the job s runs on this backend as asked: an edit
	 * or an extension once its source and segment are known (s->op,
	 * s->source, s->segment_seconds), or a create naming characters
	 * (s->references).  0, or -1 with why (a sentence for the caller:
	 * what to send instead), answered as a 400 naming the model.  For an
	 * extension segment points at the length asked, which fits may set
	 * to the length the upstream adds instead (the record then says
	 * that one, and metadata.ignored_params names "seconds"; a 400 under
	 * strict_params); NULL otherwise.  NULL: every job runs as asked. */
	int (*fits)(const struct backend_cfg *b, const struct model_backend *mb,
		    const struct video_spec *s, int *segment, char *why, size_t n);

	/* HTTP modules.  build makes the request of phase ph for rec; -1
	 * (with ans->code/message) when the task cannot be expressed for this
	 * upstream.  rec may be annotated (rec.remote, keys of record_keys)
	 * and is written before a submit or an upload is sent. */
	int (*build)(struct backend *b, const struct model_backend *mb, struct json_object *rec,
		     enum remote_phase ph, struct http_req *req, struct remote_answer *ans);
	/* parse reads the answer to ph (status 0: no HTTP answer at all).
	 * PHASE_CANCEL: RV_OK when the upstream cancelled the job (state
	 * RS_NOT_FOUND when it had no such job or it had already ended),
	 * RV_FAIL when it refuses (message: why), RV_RETRY to try later. */
	void (*parse)(struct backend *b, struct json_object *rec, enum remote_phase ph, long status,
		      const char *body, size_t len, struct remote_answer *ans);

	/* LOCAL modules.  prepare makes the program's input for rec, the
	 * video to be written at output_path; -1 when the record cannot be run. */
	int (*prepare)(struct backend *b, const struct model_backend *mb, struct json_object *rec,
		       const char *output_path, struct local_job *job);
	/* progress reads one stdout line: 0..100, or -1 when it is not one. */
	int (*progress)(const char *line, size_t len);
};

/* backend_type_find: the module of a config type name, or NULL. */
const struct backend_type *backend_type_find(const char *name);
/* backend_type_at: the i-th registered module, NULL past the last. */
const struct backend_type *backend_type_at(size_t i);
/* backend_type_names writes "a, b, c" (every registered type) into out. */
void backend_type_names(char *out, size_t n);

/* backend_ops: the BOP_* bits backend b runs for the model entry mb. */
unsigned backend_ops(const struct backend_cfg *b, const struct model_backend *mb);

/* backend_init sets b up for cfg (the module's init); -1 with a message. */
int backend_init(struct backend *b, const struct backend_cfg *cfg, const char *data_dir, char *err,
		 size_t errlen);
void backend_deinit(struct backend *b);

/* backend_ignored lists what backend b (for the model's entry mb) cannot
 * honour of s. */
void backend_ignored(const struct backend_cfg *b, const struct model_backend *mb,
		     const struct video_spec *s, const char **out);

/* backend_parse runs the module's parse and makes the answer fit for a
 * video object and the record: code and message valid UTF-8 (upstreams
 * send any bytes, and a truncated copy may cut a character), keeps named
 * and terminated. */
void backend_parse(struct backend *b, struct json_object *rec, enum remote_phase ph, long status,
		   const char *body, size_t len, struct remote_answer *ans);

void local_job_init(struct local_job *job);
void local_job_deinit(struct local_job *job);
/* local_job_free_env drops the environment once the program has it. */
void local_job_free_env(struct local_job *job);

#endif
