/*
 * store_usage: what the store counts about the videos it holds: tasks by
 * model and status (the gauges of /metrics).  The ledger of usage and the
 * budgets will live here too.
 */
#include "store_int.h"

#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct count_ent {
	char model[128];
	char status[16];
	uint64_t n;
};

struct count_acc {
	struct count_ent *e;
	size_t n, cap;
};

static int count_one(struct json_object *rec, void *arg)
{
	struct count_acc *a = arg;
	const char *model = rec_str(rec, "model"), *status = rec_str(rec, "status");
	if (model == NULL || status == NULL)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->e[i].model, model) == 0 && strcmp(a->e[i].status, status) == 0) {
			a->e[i].n++;
			return 0;
		}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct count_ent *e = realloc(a->e, cap * sizeof(*e));
		if (e == NULL)
			return 1;
		a->e = e;
		a->cap = cap;
	}
	struct count_ent *e = &a->e[a->n++];
	snprintf(e->model, sizeof(e->model), "%s", model);
	snprintf(e->status, sizeof(e->status), "%s", status);
	e->n = 1;
	return 0;
}

enum rg_err store_task_counts(struct store *st, store_count_fn fn, void *arg)
{
	struct count_acc a = { NULL, 0, 0 };
	enum rg_err err = kv_scan_json(st, st->videos, "", 0, count_one, &a);
	for (size_t i = 0; err == RG_OK && i < a.n; i++)
		if (fn(a.e[i].model, a.e[i].status, a.e[i].n, arg))
			break;
	free(a.e);
	return err;
}
