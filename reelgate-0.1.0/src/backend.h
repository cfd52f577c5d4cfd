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

#endif
