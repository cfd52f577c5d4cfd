/*
 * usage_api: GET /v1/usage/videos.  Reads the caller's own ledger entries
 * (never another key's: the scan is by owner), sums them into UTC-day
 * buckets and the groups asked for, and answers OpenAI's usage page:
 *
 *   {"object":"page","data":[{"object":"bucket","start_time","end_time",
 *     "results":[{"object":"organization.usage.videos.result", ...}]}],
 *    "has_more","next_page"}
 *
 * Query: start_time (unix s, required; rounded down to its UTC day: the
 * ledger counts by day), end_time (exclusive, default now), bucket_width
 * (1d, the only width a daily ledger has), group_by (model, size_tier,
 * api_key_id; repeated, group_by[]=, or comma-separated), limit (buckets,
 * 1..31, default 7), page (the next_page of an earlier answer).
 *
 * Every answer also has "budgets": the key's budgets (`reelgate keys
 * limit`) with what is used of them and what remains, now.
 */
#include "usage_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "form.h"
#include "http.h"
#include "record.h"
#include "store.h"
#include "usage.h"

#define BUCKETS_DEFAULT 7
#define BUCKETS_MAX 31
#define GROUPS_MAX 4096
#define DAY 86400

enum group_by { BY_MODEL = 1, BY_TIER = 2, BY_KEY = 4 };

struct group {
	int bucket;
	char model[129];
	char tier[8];
	struct usage_sum sum;
};

struct usage_query {
	int64_t start, end; /* bucket-aligned start, exclusive end */
	int nbuckets;	    /* in this page */
	int groups;	    /* enum group_by bits */
	int has_more;
	int64_t next;
};

struct acc {
	const struct usage_query *q;
	struct group *g;
	size_t n, cap;
	int full;
};

static int whole_number(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno)
		return -1;
	*out = v;
	return 0;
}

static int read_group_by(struct form *f, int *groups, struct api_error *e)
{
	for (size_t i = 0; i < f->count; i++) {
		const struct form_field *fl = &f->fields[i];
		if (strcmp(fl->name, "group_by") != 0 && strcmp(fl->name, "group_by[]") != 0)
			continue;
		char v[256];
		snprintf(v, sizeof(v), "%.*s", (int)(fl->value_len < 255 ? fl->value_len : 255),
			 fl->value);
		char *save = NULL;
		for (char *t = strtok_r(v, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (strcmp(t, "model") == 0)
				*groups |= BY_MODEL;
			else if (strcmp(t, "size_tier") == 0)
				*groups |= BY_TIER;
			else if (strcmp(t, "api_key_id") == 0)
				*groups |= BY_KEY;
			else {
				api_error_set(
					e, 400, "invalid_value", "group_by",
					"'group_by' takes model, size_tier and api_key_id (video usage is not counted by project or user).");
				return -1;
			}
		}
	}
	return 0;
}

static int read_query(struct http_request *req, struct usage_query *q, struct api_error *e)
{
	struct form f;
	form_init(&f);
	const char *start_s, *end_s, *width, *limit_s, *page;
	int rc = -1;
	int64_t now = (int64_t)time(NULL), start, end = now, limit = BUCKETS_DEFAULT;
	memset(q, 0, sizeof(*q));
	if (api_parse_query(req, &f, e) < 0 || api_query_param(&f, "start_time", &start_s, e) < 0 ||
	    api_query_param(&f, "end_time", &end_s, e) < 0 ||
	    api_query_param(&f, "bucket_width", &width, e) < 0 ||
	    api_query_param(&f, "limit", &limit_s, e) < 0 ||
	    api_query_param(&f, "page", &page, e) < 0 || read_group_by(&f, &q->groups, e) < 0)
		goto out;
	if (start_s == NULL || whole_number(start_s, &start) < 0 || start > 253402300799LL) {
		api_error_set(e, 400, start_s ? "invalid_value" : "missing_required_parameter",
			      "start_time",
			      "'start_time' is required: the start of the period, in Unix seconds "
			      "(it is rounded down to its UTC day).");
		goto out;
	}
	if (end_s != NULL &&
	    (whole_number(end_s, &end) < 0 || end <= start || end > 253402300799LL)) {
		api_error_set(
			e, 400, "invalid_value", "end_time",
			"'end_time' must be Unix seconds after start_time (it is exclusive).");
		goto out;
	}
	if (width != NULL && strcmp(width, "1d") != 0) {
		api_error_set(e, 400, "invalid_value", "bucket_width",
			      "'bucket_width' must be 1d: reelgate counts video usage by UTC day.");
		goto out;
	}
	if (limit_s != NULL &&
	    (whole_number(limit_s, &limit) < 0 || limit < 1 || limit > BUCKETS_MAX)) {
		api_error_set(e, 400, "invalid_value", "limit",
			      "'limit' is the number of daily buckets: 1 to %d.", BUCKETS_MAX);
		goto out;
	}
	q->start = start - start % DAY;
	q->end = end;
	if (page != NULL) {
		int64_t p;
		if (strncmp(page, "day_", 4) != 0 || whole_number(page + 4, &p) < 0 ||
		    p % DAY != 0 || p <= q->start || p >= end) {
			api_error_set(
				e, 400, "invalid_value", "page",
				"'page' must be the next_page of an earlier answer for the same start_time and end_time.");
			goto out;
		}
		q->start = p;
	}
	int64_t days = (q->end - q->start + DAY - 1) / DAY;
	q->nbuckets = (int)(days < limit ? days : limit);
	q->has_more = days > limit;
	q->next = q->start + (int64_t)q->nbuckets * DAY;
	rc = 0;
out:
	form_deinit(&f);
	return rc;
}

static int add_entry(const char *owner, const char *day, const char *model, const char *tier,
		     struct json_object *entry, void *arg)
{
	(void)owner;
	struct acc *a = arg;
	int64_t t;
	if (usage_day_parse(day, &t) < 0)
		return 0;
	int bucket = (int)((t - a->q->start) / DAY);
	if (bucket < 0 || bucket >= a->q->nbuckets)
		return 0;
	const char *m = a->q->groups & BY_MODEL ? model : "";
	const char *tr = a->q->groups & BY_TIER ? tier : "";
	for (size_t i = 0; i < a->n; i++)
		if (a->g[i].bucket == bucket && strcmp(a->g[i].model, m) == 0 &&
		    strcmp(a->g[i].tier, tr) == 0) {
			usage_sum_add(&a->g[i].sum, entry);
			return 0;
		}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct group *g = cap <= GROUPS_MAX ? realloc(a->g, cap * sizeof(*g)) : NULL;
		if (g == NULL) {
			a->full = 1;
			return 1;
		}
		a->g = g;
		a->cap = cap;
	}
	struct group *g = &a->g[a->n++];
	memset(g, 0, sizeof(*g));
	g->bucket = bucket;
	snprintf(g->model, sizeof(g->model), "%s", m);
	snprintf(g->tier, sizeof(g->tier), "%s", tr);
	usage_sum_add(&g->sum, entry);
	return 0;
}

static struct json_object *result(const struct group *g, const struct usage_query *q,
				  const char *owner, const char *currency)
{
	struct json_object *r = json_object_new_object();
	json_object_object_add(r, "object",
			       json_object_new_string("organization.usage.videos.result"));
	usage_sum_fields(&g->sum, currency, r);
	json_object_object_add(r, "model",
			       q->groups & BY_MODEL ? json_object_new_string(g->model) : NULL);
	json_object_object_add(r, "size_tier",
			       q->groups & BY_TIER ? json_object_new_string(g->tier) : NULL);
	json_object_object_add(r, "api_key_id",
			       q->groups & BY_KEY ? json_object_new_string(owner) : NULL);
	return r;
}

/* budget: a member of budgets, each amount a new JSON value. */
static struct json_object *budget(struct json_object *limit, struct json_object *used,
				  struct json_object *remaining)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "limit", limit);
	json_object_object_add(o, "used", used);
	json_object_object_add(o, "remaining", remaining);
	return o;
}

static struct json_object *seconds_budget(int64_t limit_s, int64_t used_ms, int64_t resets_at)
{
	int64_t left = limit_s * 1000 - used_ms;
	struct json_object *o = budget(json_object_new_int64(limit_s), usage_seconds_json(used_ms),
				       usage_seconds_json(left > 0 ? left : 0));
	json_object_object_add(o, "resets_at", json_object_new_int64(resets_at));
	return o;
}

/* budgets_json: the caller's budgets and what is used of them now, what a
 * create's check compares (store_budget_used); {} without any. */
static struct json_object *budgets_json(const struct store_budget *b, int64_t now,
					const char *currency)
{
	struct json_object *o = json_object_new_object();
	if (b->seconds_per_day > 0)
		json_object_object_add(
			o, "seconds_per_day",
			seconds_budget(b->seconds_per_day, b->day_ms, usage_next_day(now)));
	if (b->seconds_per_month > 0)
		json_object_object_add(
			o, "seconds_per_month",
			seconds_budget(b->seconds_per_month, b->month_ms, usage_next_month(now)));
	if (b->cost_per_month_micros > 0) {
		int64_t left = b->cost_per_month_micros - b->month_cost;
		struct json_object *c = budget(usage_money_json(b->cost_per_month_micros),
					       usage_money_json(b->month_cost),
					       usage_money_json(left > 0 ? left : 0));
		json_object_object_add(c, "currency",
				       json_object_new_string(currency ? currency : "USD"));
		json_object_object_add(c, "resets_at",
				       json_object_new_int64(usage_next_month(now)));
		json_object_object_add(o, "cost_per_month", c);
	}
	if (b->max_in_flight > 0) {
		int64_t left = b->max_in_flight - b->in_flight;
		json_object_object_add(o, "max_in_flight",
				       budget(json_object_new_int64(b->max_in_flight),
					      json_object_new_int64(b->in_flight),
					      json_object_new_int64(left > 0 ? left : 0)));
	}
	return o;
}

void usage_api_videos(struct app *app, struct http_request *req, struct http_response *res,
		      const char *owner)
{
	struct api_error e;
	struct usage_query q;
	if (read_query(req, &q, &e) < 0) {
		http_error(res, &e);
		return;
	}
	char from[11], to[11];
	usage_day(q.start, from);
	usage_day(q.next - 1, to);
	struct acc a = { &q, NULL, 0, 0, 0 };
	struct store_budget bud;
	int64_t now = (int64_t)time(NULL);
	enum rg_err err = store_usage_scan(app->st, owner, from, to, add_entry, &a);
	if (err == RG_OK)
		err = store_budget_used(app->st, owner, now, &bud);
	if (err != RG_OK || a.full) {
		api_error_from_rg(&e, err != RG_OK ? err : RG_ENOMEM);
		http_error(res, &e);
	} else {
		struct json_object *page = json_object_new_object(),
				   *data = json_object_new_array();
		json_object_object_add(page, "object", json_object_new_string("page"));
		for (int b = 0; b < q.nbuckets; b++) {
			struct json_object *bk = json_object_new_object(),
					   *results = json_object_new_array();
			json_object_object_add(bk, "object", json_object_new_string("bucket"));
			json_object_object_add(bk, "start_time",
					       json_object_new_int64(q.start + (int64_t)b * DAY));
			json_object_object_add(
				bk, "end_time",
				json_object_new_int64(q.start + (int64_t)(b + 1) * DAY));
			for (size_t i = 0; i < a.n; i++)
				if (a.g[i].bucket == b)
					json_object_array_add(results, result(&a.g[i], &q, owner,
									      app->cfg->currency));
			json_object_object_add(bk, "results", results);
			json_object_array_add(data, bk);
		}
		json_object_object_add(page, "data", data);
		json_object_object_add(page, "has_more", json_object_new_boolean(q.has_more));
		char next[32];
		snprintf(next, sizeof(next), "day_%lld", (long long)q.next);
		json_object_object_add(page, "next_page",
				       q.has_more ? json_object_new_string(next) : NULL);
		json_object_object_add(page, "budgets",
				       budgets_json(&bud, now, app->cfg->currency));
		http_json(res, page);
		json_object_put(page);
	}
	for (size_t i = 0; i < a.n; i++)
		usage_sum_free(&a.g[i].sum);
	free(a.g);
}
