/*
 * backend_command: local programs (type "command").  The program is given
 * the task as a JSON document on stdin and as REELGATE_* variables, writes
 * the MP4 to the path it is given, and may print "progress N" lines; the
 * dispatcher runs it, enforces its time limit and reads its output.  The
 * embedded default (render-ffmpeg) is one of these.  A program runs the
 * edits and extensions its entry lists in "operations", and is then given
 * the operation and the source clip as well.
 */
#include "backend_command.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

static unsigned op_bit(const char *name)
{
	return strcmp(name, "edit") == 0 ? BOP_EDIT : strcmp(name, "extend") == 0 ? BOP_EXTEND : 0;
}

/* job_source reads an edit's or an extension's source from the record's
 * params p: the clip (the task's own copy under uploads/), its length and,
 * for an extension, the new segment's, which must add up to the task's. */
static int job_source(struct command_job *job, struct json_object *p, const char *data_dir)
{
	struct json_object *src = rec_obj(p, "source");
	const char *rel = rec_str(src, "path");
	int64_t v;
	job->op_bit = op_bit(job->op);
	if (job->op_bit == 0 || rel == NULL || strncmp(rel, "uploads/", 8) != 0 ||
	    strstr(rel, "..") != NULL)
		return -1;
	snprintf(job->source_buf, sizeof(job->source_buf), "%s/%s", data_dir, rel);
	job->source_path = job->source_buf;
	job->source_seconds = rec_int(src, "seconds", &v) && v > 0 && v <= 86400 ? (int)v : 0;
	job->segment_seconds =
		rec_int(p, "segment_seconds", &v) && v > 0 && v <= 86400 ? (int)v : 0;
	if (job->source_seconds == 0)
		return -1;
	if (job->op_bit == BOP_EDIT)
		return job->seconds == job->source_seconds ? 0 : -1;
	return job->segment_seconds > 0 &&
			       job->seconds == job->source_seconds + job->segment_seconds
		       ? 0
		       : -1;
}

int command_job_from_record(struct command_job *job, struct json_object *rec,
			    const struct model_backend *mb, const char *data_dir, char *image_abs,
			    const char *output_path)
{
	memset(job, 0, sizeof(*job));
	struct json_object *p = NULL, *img = NULL, *meta = NULL;
	json_object_object_get_ex(rec, "params", &p);
	json_object_object_get_ex(p, "image", &img);
	json_object_object_get_ex(rec, "metadata", &meta);
	job->id = rec_str(rec, "id");
	job->prompt = rec_str(rec, "prompt");
	job->model = mb && mb->model ? mb->model : "";
	int64_t v;
	job->seconds = rec_int(p, "seconds", &v) ? (int)v : 0;
	job->width = rec_int(p, "width", &v) ? (int)v : 0;
	job->height = rec_int(p, "height", &v) ? (int)v : 0;
	job->fps = rec_int(p, "fps", &v) ? (int)v : 0;
	job->has_seed = rec_int(p, "seed", &v);
	job->seed = job->has_seed ? (unsigned long)v : 0;
	job->metadata = meta;
	job->output_path = output_path;
	const char *rel = rec_str(img, "path");
	if (rel != NULL && strstr(rel, "..") == NULL) {
		snprintf(image_abs, 4096, "%s/%s", data_dir, rel);
		job->image_path = image_abs;
	}
	if (job->id == NULL || job->prompt == NULL || job->seconds <= 0 || job->width <= 0 ||
	    job->height <= 0 || job->fps <= 0)
		return -1;
	job->op = rec_str(rec, "op");
	return job->op ? job_source(job, p, data_dir) : 0;
}

int command_stdin(const struct command_job *job, struct buf *out)
{
	struct json_object *o = json_object_new_object();
	char size[32];
	snprintf(size, sizeof(size), "%dx%d", job->width, job->height);
	json_object_object_add(o, "id", json_object_new_string(job->id));
	json_object_object_add(o, "prompt", json_object_new_string(job->prompt));
	json_object_object_add(o, "model", json_object_new_string(job->model));
	json_object_object_add(o, "seconds", json_object_new_int(job->seconds));
	json_object_object_add(o, "size", json_object_new_string(size));
	json_object_object_add(o, "width", json_object_new_int(job->width));
	json_object_object_add(o, "height", json_object_new_int(job->height));
	json_object_object_add(o, "fps", json_object_new_int(job->fps));
	json_object_object_add(o, "seed",
			       job->has_seed ? json_object_new_int64((int64_t)job->seed) : NULL);
	json_object_object_add(o, "image",
			       job->image_path ? json_object_new_string(job->image_path) : NULL);
	json_object_object_add(o, "metadata",
			       job->metadata ? json_object_get(job->metadata)
					     : json_object_new_object());
	json_object_object_add(o, "output", json_object_new_string(job->output_path));
	json_object_object_add(o, "op", json_object_new_string(job->op ? job->op : "create"));
	if (job->op != NULL) {
		struct json_object *src = json_object_new_object();
		json_object_object_add(src, "path", json_object_new_string(job->source_path));
		json_object_object_add(src, "seconds", json_object_new_int(job->source_seconds));
		json_object_object_add(o, "source", src);
	}
	if (job->segment_seconds > 0)
		json_object_object_add(o, "segment_seconds",
				       json_object_new_int(job->segment_seconds));
	size_t len;
	const char *s = json_object_to_json_string_length(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	int rc = s ? buf_append(out, s, len) : -1;
	rc |= buf_putc(out, '\n');
	json_object_put(o);
	return rc;
}

static char *env_pair(const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s=%s", name, value);
	return s;
}

/* Room for every variable command_env sets, and the terminating NULL. */
#define ENV_MAX 24

char **command_env(const struct command_job *job)
{
	char **env = calloc(ENV_MAX, sizeof(char *));
	if (env == NULL)
		return NULL;
	size_t n = 0;
	char num[32];
	static const char *const passed[] = { "PATH", "HOME", "LANG", "LC_ALL", NULL };
	for (const char *const *p = passed; *p; p++) {
		const char *v = getenv(*p);
		if (v != NULL)
			env[n++] = env_pair(*p, v);
	}
	if (getenv("PATH") == NULL)
		env[n++] = env_pair("PATH", "/usr/local/bin:/usr/bin:/bin");
	env[n++] = env_pair("REELGATE_ID", job->id);
	env[n++] = env_pair("REELGATE_PROMPT", job->prompt);
	env[n++] = env_pair("REELGATE_MODEL", job->model);
	snprintf(num, sizeof(num), "%d", job->seconds);
	env[n++] = env_pair("REELGATE_SECONDS", num);
	snprintf(num, sizeof(num), "%d", job->width);
	env[n++] = env_pair("REELGATE_WIDTH", num);
	snprintf(num, sizeof(num), "%d", job->height);
	env[n++] = env_pair("REELGATE_HEIGHT", num);
	snprintf(num, sizeof(num), "%d", job->fps);
	env[n++] = env_pair("REELGATE_FPS", num);
	if (job->has_seed)
		snprintf(num, sizeof(num), "%lu", job->seed);
	else
		num[0] = '\0';
	env[n++] = env_pair("REELGATE_SEED", num);
	env[n++] = env_pair("REELGATE_IMAGE", job->image_path ? job->image_path : "");
	env[n++] = env_pair("REELGATE_OUTPUT", job->output_path);
	env[n++] = env_pair("REELGATE_OP", job->op ? job->op : "create");
	env[n++] = env_pair("REELGATE_SOURCE", job->source_path ? job->source_path : "");
	if (job->source_seconds > 0)
		snprintf(num, sizeof(num), "%d", job->source_seconds);
	else
		num[0] = '\0';
	env[n++] = env_pair("REELGATE_SOURCE_SECONDS", num);
	if (job->segment_seconds > 0)
		snprintf(num, sizeof(num), "%d", job->segment_seconds);
	else
		num[0] = '\0';
	env[n++] = env_pair("REELGATE_SEGMENT_SECONDS", num);
	/* Temporary files go next to the output: the run's own directory,
	 * removed with everything in it when the run ends. */
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", job->output_path);
	char *slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		env[n++] = env_pair("TMPDIR", dir);
	}
	for (size_t i = 0; i < n; i++) {
		if (env[i] == NULL) {
			command_env_free(env);
			return NULL;
		}
	}
	return env;
}

void command_env_free(char **env)
{
	for (size_t i = 0; env && i < ENV_MAX; i++)
		free(env[i]);
	free(env);
}

int command_progress(const char *line, size_t len)
{
	if (len < 10 || memcmp(line, "progress ", 9) != 0)
		return -1;
	int n = 0;
	size_t i = 9;
	while (i < len && line[i] == ' ')
		i++;
	size_t start = i;
	for (; i < len && line[i] >= '0' && line[i] <= '9' && i - start < 4; i++)
		n = n * 10 + (line[i] - '0');
	if (i == start)
		return -1;
	if (i < len && line[i] == '.') /* "progress 42.5" */
		for (i++; i < len && line[i] >= '0' && line[i] <= '9'; i++)
			;
	while (i < len && (line[i] == ' ' || line[i] == '%' || line[i] == '\r'))
		i++;
	if (i != len || n > 100)
		return -1;
	return n;
}

/* ---- the module ---------------------------------------------------------- */

#ifndef REELGATE_PKGDATADIR
#define REELGATE_PKGDATADIR "/usr/share/reelgate"
#endif

static const char *const command_keys[] = { "command", "operations", NULL };

/* resolve_program: a bare name is one of ours, shipped in pkgdatadir; a
 * relative path is taken from the config file's directory. */
static char *resolve_program(struct confcheck *c, const char *s)
{
	if (strchr(s, '/') != NULL)
		return cc_resolve(c, s);
	size_t len = strlen(REELGATE_PKGDATADIR) + strlen(s) + 2;
	char *p = malloc(len);
	if (p != NULL)
		snprintf(p, len, "%s/%s", REELGATE_PKGDATADIR, s);
	return p;
}

/* check_operations: "operations" (optional) lists the edits and
 * extensions the program runs, each at most once. */
static int check_operations(struct confcheck *c, struct json_object *o, const char *key)
{
	char k2[320];
	struct json_object *v;
	snprintf(k2, sizeof(k2), "%s.operations", key);
	if (!json_object_object_get_ex(o, "operations", &v))
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return cc_fail(
			c, k2,
			"must be an array of the operations the program runs: \"edit\", \"extend\"");
	unsigned seen = 0;
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		struct json_object *a = json_object_array_get_idx(v, i);
		const char *name =
			json_object_is_type(a, json_type_string) ? json_object_get_string(a) : NULL;
		unsigned bit = name ? op_bit(name) : 0;
		if (bit == 0)
			return cc_fail(
				c, k2,
				"element %zu must be \"edit\" or \"extend\" (the operations a command program can run)",
				i);
		if (seen & bit)
			return cc_fail(c, k2, "\"%s\" is listed twice", name);
		seen |= bit;
	}
	return 0;
}

/* command_check: "command" is the program and its arguments; the program
 * is written back resolved, so that the dispatcher runs what was checked. */
static int command_check(struct confcheck *c, struct json_object *o, const char *key)
{
	char k2[320];
	struct json_object *v;
	if (check_operations(c, o, key) < 0)
		return -1;
	snprintf(k2, sizeof(k2), "%s.command", key);
	if (!json_object_object_get_ex(o, "command", &v))
		return cc_fail(c, k2, "missing: the program to run and its arguments");
	if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0)
		return cc_fail(c, k2,
			       "must be a non-empty array of strings (program and arguments)");
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		struct json_object *a = json_object_array_get_idx(v, i);
		if (!json_object_is_type(a, json_type_string) ||
		    json_object_get_string_len(a) == 0 ||
		    strlen(json_object_get_string(a)) != (size_t)json_object_get_string_len(a))
			return cc_fail(c, k2, "element %zu must be a non-empty string", i);
	}
	char *prog = resolve_program(c, json_object_get_string(json_object_array_get_idx(v, 0)));
	if (prog == NULL)
		return cc_fail(c, k2, "out of memory");
	json_object_array_put_idx(v, 0, json_object_new_string(prog));
	free(prog);
	return 0;
}

char **command_argv(const struct backend_cfg *b)
{
	struct json_object *v;
	if (b->raw == NULL || !json_object_object_get_ex(b->raw, "command", &v) ||
	    !json_object_is_type(v, json_type_array))
		return NULL;
	size_t n = json_object_array_length(v);
	char **argv = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; argv && i < n; i++) {
		argv[i] = strdup(json_object_get_string(json_object_array_get_idx(v, i)));
		if (argv[i] == NULL) {
			command_argv_free(argv);
			return NULL;
		}
	}
	return argv;
}

void command_argv_free(char **argv)
{
	for (char **p = argv; p && *p; p++)
		free(*p);
	free(argv);
}

unsigned command_ops(const struct backend_cfg *b)
{
	struct json_object *v;
	unsigned bits = 0;
	if (b == NULL || b->raw == NULL || !json_object_object_get_ex(b->raw, "operations", &v) ||
	    !json_object_is_type(v, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		struct json_object *a = json_object_array_get_idx(v, i);
		if (json_object_is_type(a, json_type_string))
			bits |= op_bit(json_object_get_string(a));
	}
	return bits;
}

/* The program runs what its entry declares, whatever the model. */
static unsigned command_module_ops(const struct backend_cfg *b, const struct model_backend *mb)
{
	(void)mb;
	return command_ops(b);
}

struct command_state {
	char **argv;
};

static int command_init(struct backend *b, char *err, size_t errlen)
{
	struct command_state *st = b->state;
	st->argv = command_argv(b->cfg);
	if (st->argv == NULL) {
		snprintf(err, errlen, "backend %s: no program to run", b->cfg->name);
		return -1;
	}
	return 0;
}

static void command_deinit(struct backend *b)
{
	struct command_state *st = b->state;
	command_argv_free(st->argv);
	st->argv = NULL;
}

static int command_prepare(struct backend *b, const struct model_backend *mb,
			   struct json_object *rec, const char *output_path, struct local_job *job)
{
	struct command_state *st = b->state;
	struct command_job cj;
	char image[4096];
	/* An operation the entry no longer declares (the config changed since
	 * the task was made) is not run as if it were a create. */
	if (command_job_from_record(&cj, rec, mb, b->data_dir, image, output_path) < 0 ||
	    (cj.op_bit & ~command_ops(b->cfg)) != 0 || command_stdin(&cj, &job->input) < 0)
		return -1;
	job->argv = st->argv;
	job->seconds = cj.seconds;
	job->fps = cj.fps;
	job->env = command_env(&cj);
	return job->env ? 0 : -1;
}

const struct backend_type backend_command = {
	.name = "command",
	.kind = BACKEND_LOCAL,
	.caps = BCAP_IMAGE_FILE,
	.keys = command_keys,
	.record_keys = NULL,
	.state_size = sizeof(struct command_state),
	.check = command_check,
	.init = command_init,
	.deinit = command_deinit,
	.ops = command_module_ops,
	.prepare = command_prepare,
	.progress = command_progress,
};
