/*
 * cli_usage: `reelgate usage`, the operator's view of the usage ledger
 * (store_usage.c): what every key (or one) made, by day, model or key, as
 * a table, JSON or CSV.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cli.h"
#include "config.h"
#include "record.h"
#include "store.h"
#include "usage.h"

static const char usage[] =
	"Usage: reelgate usage [--key KEY_ID] [--from DATE] [--to DATE]\n"
	"                      [--by day|model|key] [--format table|json|csv] [-c FILE]\n"
	"\n"
	"Sums the usage ledger: per group (UTC day, public model, or API key), the\n"
	"videos created, completed, failed, cancelled and still in progress, the\n"
	"seconds and frames of video made, the cost at the models' prices (in\n"
	"usage.currency), what running tasks reserve, and the providers' own usage\n"
	"(tokens, credits).  A task counts on the UTC day it was created.\n"
	"DATE is YYYY-MM-DD (UTC); --from defaults to the first of this month,\n"
	"--to to today, both included.  --by defaults to day, --format to table.\n";

enum by { BY_DAY, BY_MODEL, BY_KEY };

struct row {
	char name[160];
	struct usage_sum sum;
};

struct rows {
	enum by by;
	const char *key;
	struct row *r;
	size_t n, cap;
	struct usage_sum total;
	int oom;
};

static int add_row(const char *owner, const char *day, const char *model, const char *tier,
		   struct json_object *entry, void *arg)
{
	(void)tier;
	struct rows *rs = arg;
	if (rs->key != NULL && strcmp(owner, rs->key) != 0)
		return 0;
	const char *name = rs->by == BY_DAY ? day : rs->by == BY_MODEL ? model : owner;
	usage_sum_add(&rs->total, entry);
	for (size_t i = 0; i < rs->n; i++)
		if (strcmp(rs->r[i].name, name) == 0) {
			usage_sum_add(&rs->r[i].sum, entry);
			return 0;
		}
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 32;
		struct row *r = realloc(rs->r, cap * sizeof(*r));
		if (r == NULL) {
			rs->oom = 1;
			return 1;
		}
		rs->r = r;
		rs->cap = cap;
	}
	struct row *r = &rs->r[rs->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	usage_sum_add(&r->sum, entry);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->name, ((const struct row *)b)->name);
}

/* fields: the sum as the API shows it (usage_sum_fields). */
static struct json_object *fields(const struct usage_sum *s, const char *currency)
{
	struct json_object *o = json_object_new_object();
	usage_sum_fields(s, currency, o);
	return o;
}

static const char *const columns[] = { "videos",    "completed",   "failed",
				       "cancelled", "in_progress", "seconds",
				       "frames",    "cost",	   "reserved_seconds" };
#define NCOLUMNS (sizeof(columns) / sizeof(columns[0]))

/* width: of column i in the table. */
static int width(size_t i)
{
	int n = (int)strlen(columns[i]);
	return n > 10 ? n : 10;
}

/* cell: column c of o as text. */
static void cell(struct json_object *o, const char *c, char *out, size_t n)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, c, &v)) {
		snprintf(out, n, "-");
		return;
	}
	if (json_object_is_type(v, json_type_object))
		json_object_object_get_ex(v, "value", &v);
	snprintf(out, n, "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
}

static void provider_text(struct json_object *o, char *out, size_t n)
{
	struct json_object *p;
	struct buf b;
	buf_init(&b, n - 1);
	if (json_object_object_get_ex(o, "provider_usage", &p)) {
		json_object_object_foreach(p, unit, v) {
			buf_printf(&b, "%s%s=%s", b.len ? " " : "", unit,
				   json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		}
	}
	snprintf(out, n, "%s", b.len ? b.data : "-");
	buf_deinit(&b);
}

static void print_line(const char *name, struct json_object *o, int csv)
{
	char c[64], p[256];
	printf(csv ? "%s" : "%-36s", name);
	for (size_t i = 0; i < NCOLUMNS; i++) {
		cell(o, columns[i], c, sizeof(c));
		printf(csv ? ",%.*s" : " %*s", csv ? 64 : width(i), c);
	}
	provider_text(o, p, sizeof(p));
	printf(csv ? ",\"%s\"\n" : "  %s\n", p);
}

static void print_rows(struct rows *rs, const char *from, const char *to, const char *format,
		       const char *currency)
{
	static const char *const by_names[] = { "day", "model", "key" };
	qsort(rs->r, rs->n, sizeof(*rs->r), by_name);
	if (strcmp(format, "json") == 0) {
		struct json_object *out = json_object_new_object(), *arr = json_object_new_array();
		json_object_object_add(out, "from", json_object_new_string(from));
		json_object_object_add(out, "to", json_object_new_string(to));
		json_object_object_add(out, "by", json_object_new_string(by_names[rs->by]));
		json_object_object_add(out, "currency", json_object_new_string(currency));
		for (size_t i = 0; i < rs->n; i++) {
			struct json_object *o = fields(&rs->r[i].sum, currency);
			json_object_object_add(o, by_names[rs->by],
					       json_object_new_string(rs->r[i].name));
			json_object_array_add(arr, o);
		}
		json_object_object_add(out, "rows", arr);
		json_object_object_add(out, "total", fields(&rs->total, currency));
		printf("%s\n", json_object_to_json_string_ext(
				       out, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
		json_object_put(out);
		return;
	}
	int csv = strcmp(format, "csv") == 0;
	printf(csv ? "%s" : "%-36s", by_names[rs->by]);
	for (size_t i = 0; i < NCOLUMNS; i++)
		printf(csv ? ",%.*s" : " %*s", csv ? 64 : width(i), columns[i]);
	printf(csv ? ",provider_usage\n" : "  provider_usage\n");
	for (size_t i = 0; i < rs->n; i++) {
		struct json_object *o = fields(&rs->r[i].sum, currency);
		print_line(rs->r[i].name, o, csv);
		json_object_put(o);
	}
	if (!csv) {
		struct json_object *o = fields(&rs->total, currency);
		print_line("total", o, 0);
		json_object_put(o);
		printf("(%s to %s, UTC; cost in %s)\n", from, to, currency);
	}
}

/* What `reelgate usage` asked for. */
struct report {
	struct rows *rs;
	const char *from, *to, *format;
};

static int report_usage(struct store *st, const struct config *cfg, void *arg)
{
	struct report *r = arg;
	enum rg_err err = store_usage_scan(st, r->rs->key, r->from, r->to, add_row, r->rs);
	if (err != RG_OK || r->rs->oom) {
		fprintf(stderr, "reelgate: cannot read the usage ledger: %s\n",
			rg_strerror(err != RG_OK ? err : RG_ENOMEM));
		return 1;
	}
	print_rows(r->rs, r->from, r->to, r->format, cfg->currency);
	return 0;
}

/* opt_value: the value of --name VALUE or --name=VALUE at argv[*i]. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

int cli_usage(int argc, char **argv)
{
	const char *config = config_default_path(), *key = NULL, *from = NULL, *to = NULL,
		   *by = "day", *format = "table", *v;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		}
		if ((v = opt_value(argc, argv, &i, "--config")) ||
		    (v = opt_value(argc, argv, &i, "-c")))
			config = v;
		else if ((v = opt_value(argc, argv, &i, "--key")))
			key = v;
		else if ((v = opt_value(argc, argv, &i, "--from")))
			from = v;
		else if ((v = opt_value(argc, argv, &i, "--to")))
			to = v;
		else if ((v = opt_value(argc, argv, &i, "--by")))
			by = v;
		else if ((v = opt_value(argc, argv, &i, "--format")))
			format = v;
		else {
			fprintf(stderr, "reelgate: usage: unexpected argument '%s'\n", argv[i]);
			fputs(usage, stderr);
			return 2;
		}
	}
	struct rows rs = { BY_DAY, key, NULL, 0, 0, { 0 }, 0 };
	if (strcmp(by, "model") == 0)
		rs.by = BY_MODEL;
	else if (strcmp(by, "key") == 0)
		rs.by = BY_KEY;
	else if (strcmp(by, "day") != 0) {
		fprintf(stderr, "reelgate: --by takes day, model or key\n");
		return 2;
	}
	if (strcmp(format, "table") != 0 && strcmp(format, "json") != 0 &&
	    strcmp(format, "csv") != 0) {
		fprintf(stderr, "reelgate: --format takes table, json or csv\n");
		return 2;
	}
	int64_t now = (int64_t)time(NULL), t;
	char from_d[11], to_d[11];
	usage_day(now, to_d);
	memcpy(from_d, to_d, 8);
	memcpy(from_d + 8, "01", 3); /* the first of this month */
	if ((from && usage_day_parse(from, &t) < 0) || (to && usage_day_parse(to, &t) < 0)) {
		fprintf(stderr, "reelgate: --from and --to take a date YYYY-MM-DD\n");
		return 2;
	}
	if (from)
		snprintf(from_d, sizeof(from_d), "%s", from);
	if (to)
		snprintf(to_d, sizeof(to_d), "%s", to);
	if (strcmp(from_d, to_d) > 0) {
		fprintf(stderr, "reelgate: --from %s is after --to %s\n", from_d, to_d);
		return 2;
	}
	struct report rep = { &rs, from_d, to_d, format };
	int rc = cli_with_store(config, report_usage, &rep);
	for (size_t i = 0; i < rs.n; i++)
		usage_sum_free(&rs.r[i].sum);
	usage_sum_free(&rs.total);
	free(rs.r);
	return rc;
}
