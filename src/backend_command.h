/*
 * backend_command: the module of local programs (type "command").  What
 * the module's table does is built from these, exposed for its unit tests
 * and the fuzz targets; the core uses the table (backend.h).
 */
#ifndef REELGATE_BACKEND_COMMAND_H
#define REELGATE_BACKEND_COMMAND_H

#include "backend.h"

/* The task as a command backend receives it. */
struct command_job {
	const char *id;
	const char *prompt;
	const char *model; /* the backend's name for the model, or "" */
	int seconds, width, height, fps;
	int has_seed;
	unsigned long seed;
	const char *image_path;	      /* absolute, or NULL */
	const char *output_path;      /* absolute */
	struct json_object *metadata; /* borrowed; may be NULL */
	/* An edit or an extension (rec.op): op is "edit" or "extend", NULL
	 * on a create or a remix; the source clip (absolute, in source_buf),
	 * its length, and the new segment's length (extensions). */
	const char *op;
	unsigned op_bit; /* BOP_EDIT, BOP_EXTEND, or 0 */
	const char *source_path;
	int source_seconds, segment_seconds;
	char source_buf[4096];
};

/* command_job_from_record fills job from a task record (borrowing its
 * strings) for the model entry mb; image_abs must hold 4096 bytes.  -1
 * when the record lacks what the program needs, or is an operation it
 * does not know or whose source is not under data_dir. */
int command_job_from_record(struct command_job *job, struct json_object *rec,
			    const struct model_backend *mb, const char *data_dir, char *image_abs,
			    const char *output_path);
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
/* command_argv: the program and its arguments of a configured command
 * backend, as its check resolved them (NULL-terminated; free with
 * command_env_free's sibling command_argv_free). */
char **command_argv(const struct backend_cfg *b);
void command_argv_free(char **argv);
/* command_ops: the BOP_* bits of a command backend's "operations". */
unsigned command_ops(const struct backend_cfg *b);

#endif
