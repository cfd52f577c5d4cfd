/*
 * metrics_http: the /metrics handler.  Not public by default: without
 * metrics.token (or metrics.token_env) in the configuration it answers
 * 403, and with one only a request bearing it gets the figures.
 */
#include "metrics_http.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics.h"
#include "store.h"

/* The scrape's text, at most; every series is bounded (64 backends,
 * fixed routes, statuses, phases and buckets; tasks by model). */
#define METRICS_TEXT_MAX (8u << 20)
#define TASK_COUNTS_MAX 4096

/* same_secret compares two strings in time that depends on neither: their
 * SHA-256 digests are compared with CRYPTO_memcmp. */
static int same_secret(const char *a, size_t alen, const char *b)
{
	unsigned char da[EVP_MAX_MD_SIZE], db[EVP_MAX_MD_SIZE];
	unsigned int na = 0, nb = 0;
	if (EVP_Digest(a, alen, da, &na, EVP_sha256(), NULL) != 1 ||
	    EVP_Digest(b, strlen(b), db, &nb, EVP_sha256(), NULL) != 1 || na != nb)
		return 0;
	return CRYPTO_memcmp(da, db, na) == 0;
}

/* allowed checks the request's bearer; fills e when it is refused. */
static int allowed(const struct config *cfg, const struct http_request *req, struct api_error *e)
{
	const char *want = cfg->metrics_token;
	if (want == NULL && cfg->metrics_token_env != NULL)
		want = getenv(cfg->metrics_token_env);
	if (want == NULL || want[0] == '\0') {
		api_error_set(
			e, 403, "metrics_not_configured", NULL,
			"The metrics endpoint is off: set \"metrics\": {\"token\": \"...\"} (or \"token_env\") in reelgate's configuration, restart it, and scrape with 'Authorization: Bearer <token>'.");
		return 0;
	}
	const char *h = req->authorization;
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
		api_error_set(
			e, 401, "invalid_metrics_token", NULL,
			"Send the metrics token of reelgate's configuration (metrics.token) as 'Authorization: Bearer <token>'.");
		return 0;
	}
	h += 7;
	while (*h == ' ')
		h++;
	if (!same_secret(h, strlen(h), want)) {
		api_error_set(e, 401, "invalid_metrics_token", NULL,
			      "Incorrect metrics token provided (see metrics.token).");
		return 0;
	}
	return 1;
}

struct counts {
	struct metrics_task_count *t;
	size_t n;
	struct buf strings; /* copies of the model and status strings */
};

/* keep_count copies one (model, status, count): the store lends its
 * strings for the call only. */
static int keep_count(const char *model, const char *status, uint64_t count, void *arg)
{
	struct counts *c = arg;
	if (c->n == TASK_COUNTS_MAX)
		return 1;
	size_t off = c->strings.len;
	if (buf_append(&c->strings, model, strlen(model) + 1) < 0 ||
	    buf_append(&c->strings, status, strlen(status) + 1) < 0)
		return 1;
	/* offsets now, pointers once the buffer stops moving */
	c->t[c->n].model = (const char *)(uintptr_t)off;
	c->t[c->n].status = (const char *)(uintptr_t)(off + strlen(model) + 1);
	c->t[c->n].count = count;
	c->n++;
	return 0;
}

/* add_zeros gives every configured model a series for each status, so
 * that a gauge at 0 reads 0 rather than vanishing. */
static void add_zeros(const struct config *cfg, struct counts *c)
{
	static const char *const statuses[] = { "queued", "in_progress", "completed", "failed" };
	for (size_t m = 0; m < cfg->nmodels; m++) {
		for (size_t k = 0; k < 4 && c->n < TASK_COUNTS_MAX; k++) {
			int found = 0;
			for (size_t i = 0; i < c->n && !found; i++)
				found = strcmp(c->t[i].model, cfg->models[m].name) == 0 &&
					strcmp(c->t[i].status, statuses[k]) == 0;
			if (!found)
				c->t[c->n++] = (struct metrics_task_count){ cfg->models[m].name,
									    statuses[k], 0 };
		}
	}
}

void metrics_serve(struct app *app, struct http_request *req, struct http_response *res)
{
	struct api_error e;
	if (!allowed(app->cfg, req, &e)) {
		http_error(res, &e);
		return;
	}
	struct metrics_scrape s;
	memset(&s, 0, sizeof(s));
	struct counts c;
	memset(&c, 0, sizeof(c));
	buf_init(&c.strings, 1u << 20);
	c.t = calloc(TASK_COUNTS_MAX, sizeof(*c.t));
	if (c.t != NULL && store_task_counts(app->st, keep_count, &c) == RG_OK) {
		for (size_t i = 0; i < c.n; i++) {
			c.t[i].model = c.strings.data + (uintptr_t)c.t[i].model;
			c.t[i].status = c.strings.data + (uintptr_t)c.t[i].status;
		}
		add_zeros(app->cfg, &c);
		s.tasks = c.t;
		s.ntasks = c.n;
	}
	s.have_map = store_env_stats(app->st, &s.map_bytes, &s.map_used_bytes) == RG_OK;
	buf_reset(&res->body);
	if (metrics_render(&res->body, &s) < 0) {
		api_error_from_rg(&e, RG_ENOMEM);
		http_error(res, &e);
	} else {
		res->status = 200;
		res->content_type = "text/plain; version=0.0.4; charset=utf-8";
	}
	free(c.t);
	buf_deinit(&c.strings);
}
