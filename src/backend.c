/*
 * backend: the registry of backend modules (a line each), and what the
 * core does through a module's table: set a configured backend up and
 * down, list what it cannot honour, read an answer.
 */
#include "backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

extern const struct backend_type backend_command;
extern const struct backend_type backend_openai;
extern const struct backend_type backend_kling;
extern const struct backend_type backend_comfyui;
extern const struct backend_type backend_minimax;
extern const struct backend_type backend_wan;
extern const struct backend_type backend_veo;
extern const struct backend_type backend_seedance;
extern const struct backend_type backend_vertex;
extern const struct backend_type backend_luma;
extern const struct backend_type backend_vidu;
extern const struct backend_type backend_runway;

/* The registry: a line per module (kept so by hand, not by clang-format). */
/* clang-format off */
static const struct backend_type *const registry[] = {
	&backend_command,
	&backend_openai,
	&backend_kling,
	&backend_comfyui,
	&backend_minimax,
	&backend_wan,
	&backend_veo,
	&backend_seedance,
	&backend_vertex,
	&backend_luma,
	&backend_vidu,
	&backend_runway,
	NULL,
};
/* clang-format on */

const struct backend_type *backend_type_find(const char *name)
{
	for (const struct backend_type *const *t = registry; name && *t; t++)
		if (strcmp((*t)->name, name) == 0)
			return *t;
	return NULL;
}

const struct backend_type *backend_type_at(size_t i)
{
	return i < sizeof(registry) / sizeof(*registry) - 1 ? registry[i] : NULL;
}

void backend_type_names(char *out, size_t n)
{
	size_t at = 0;
	out[0] = '\0';
	for (const struct backend_type *const *t = registry; *t && at < n; t++) {
		int w = snprintf(out + at, n - at, "%s%s", t == registry ? "" : ", ", (*t)->name);
		if (w < 0)
			break;
		at += (size_t)w;
	}
}

int backend_init(struct backend *b, const struct backend_cfg *cfg, const char *data_dir, char *err,
		 size_t errlen)
{
	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	b->type = cfg->module;
	b->data_dir = data_dir;
	if (b->type == NULL) {
		snprintf(err, errlen, "backend %s: unknown type", cfg->name);
		return -1;
	}
	if (b->type->state_size > 0 && (b->state = calloc(1, b->type->state_size)) == NULL) {
		snprintf(err, errlen, "backend %s: out of memory", cfg->name);
		return -1;
	}
	if (b->type->init && b->type->init(b, err, errlen) < 0) {
		backend_deinit(b);
		return -1;
	}
	return 0;
}

void backend_deinit(struct backend *b)
{
	if (b->type && b->type->deinit && b->state)
		b->type->deinit(b);
	if (b->state) {
		/* secrets and tokens do not outlive the backend */
		volatile unsigned char *p = b->state;
		for (size_t i = 0; i < b->type->state_size; i++)
			p[i] = 0;
		free(b->state);
	}
	b->state = NULL;
}

void backend_ignored(const struct backend_cfg *b, const struct model_backend *mb,
		     const struct video_spec *s, const char **out)
{
	out[0] = NULL;
	if (b && b->module && b->module->unsupported)
		b->module->unsupported(b, mb, s, out);
}

unsigned backend_ops(const struct backend_cfg *b, const struct model_backend *mb)
{
	return b && b->module && b->module->ops ? b->module->ops(b, mb) : 0;
}

void backend_parse(struct backend *b, struct json_object *rec, enum remote_phase ph, long status,
		   const char *body, size_t len, struct remote_answer *ans)
{
	b->type->parse(b, rec, ph, status, body, len, ans);
	ans->code[sizeof(ans->code) - 1] = '\0';
	ans->message[sizeof(ans->message) - 1] = '\0';
	codec_utf8_scrub(ans->code);
	codec_utf8_scrub(ans->message);
	if (ans->nkeep < 0 || ans->nkeep > ANSWER_KEEPS)
		ans->nkeep = 0;
	for (int i = 0; i < ans->nkeep; i++) {
		ans->keep[i].name[sizeof(ans->keep[i].name) - 1] = '\0';
		ans->keep[i].value[sizeof(ans->keep[i].value) - 1] = '\0';
	}
	/* a usage signal is a unit word and a finite amount, or none */
	ans->usage_unit[sizeof(ans->usage_unit) - 1] = '\0';
	size_t n = strlen(ans->usage_unit);
	if (n == 0 || strspn(ans->usage_unit, "abcdefghijklmnopqrstuvwxyz_") != n ||
	    !isfinite(ans->usage_amount) || ans->usage_amount < 0) {
		ans->usage_unit[0] = '\0';
		ans->usage_amount = 0;
	}
}

void local_job_init(struct local_job *job)
{
	memset(job, 0, sizeof(*job));
	buf_init(&job->input, 1 << 20);
}

void local_job_free_env(struct local_job *job)
{
	for (char **e = job->env; e && *e; e++)
		free(*e);
	free(job->env);
	job->env = NULL;
}

void local_job_deinit(struct local_job *job)
{
	local_job_free_env(job);
	buf_deinit(&job->input);
}
