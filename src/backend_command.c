/*
 * backend_command: the task <-> local program translation.
 */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *rec_str(struct json_object *o, const char *name)
{
	struct json_object *v;
	if (o == NULL || !json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int rec_int(struct json_object *o, const char *name, int64_t *out)
{
	struct json_object *v;
	if (o == NULL || !json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, json_type_int))
		return 0;
	*out = json_object_get_int64(v);
	return 1;
}

int command_job_from_record(struct command_job *job, struct json_object *rec,
			    const struct model_backend *mb, const char *data_dir,
			    char *image_abs, const char *output_path)
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
	if (job->id == NULL || job->prompt == NULL || job->seconds <= 0 ||
	    job->width <= 0 || job->height <= 0 || job->fps <= 0)
		return -1;
	return 0;
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
	json_object_object_add(o, "seed", job->has_seed ? json_object_new_int64((int64_t)job->seed) : NULL);
	json_object_object_add(o, "image", job->image_path ? json_object_new_string(job->image_path) : NULL);
	json_object_object_add(o, "metadata", job->metadata ? json_object_get(job->metadata)
							    : json_object_new_object());
	json_object_object_add(o, "output", json_object_new_string(job->output_path));
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE, &len);
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

char **command_env(const struct command_job *job)
{
	char **env = calloc(24, sizeof(char *));
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
	for (size_t i = 0; env && i < 24; i++)
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
