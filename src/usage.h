/*
 * usage: what a video counts and costs, as pure functions of the config
 * and the task record: the size tier (by the short edge), the price of a
 * model, the `charge` a task carries from its create (what it reserves,
 * at which price), and what a finished task counts (the seconds and frames
 * it really made).  The ledger and the budgets that add these up are the
 * store's (store_usage.c); the API and the CLI only read them.
 *
 * Money is in micro-units of the config's currency (int64), so sums never
 * drift; video time in milliseconds.
 */
#ifndef REELGATE_USAGE_H
#define REELGATE_USAGE_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

/* The tiers, by the short edge of the output: up to 480, 720, 1080, 1440,
 * 2160 and 4320 pixels ("480p" ... "4320p"). */
#define USAGE_TIERS 6
extern const char *const usage_tier_names[USAGE_TIERS];
/* usage_tier: the index of the tier of a width x height output. */
int usage_tier(int width, int height);
/* usage_tier_index: the index of a tier name, -1 when it is none. */
int usage_tier_index(const char *name);

/* A model's price (config models.X.price): per second of output, by tier
 * or for every tier, or per video.  set == 0: the model has no price. */
struct price_cfg {
	int set;
	int64_t per_video;		      /* micros, 0: not per video */
	int64_t per_second;		      /* micros, every tier without its own */
	int64_t tier_per_second[USAGE_TIERS]; /* micros */
	unsigned char tier_set[USAGE_TIERS];
};

/* usage_money_parse reads a non-negative amount (a JSON number or a decimal
 * string, at most 6 decimals, at most 1e12) into micros: 0, or -1. */
int usage_money_parse(struct json_object *v, int64_t *micros);
int usage_money_parse_text(const char *s, int64_t *micros);
/* usage_money_text writes micros as a decimal ("1.25", "0.000001");
 * usage_seconds_text writes milliseconds as seconds ("3", "2.5"). */
void usage_money_text(int64_t micros, char *out, size_t n);
void usage_seconds_text(int64_t ms, char *out, size_t n);
/* usage_money_json / usage_seconds_json: the same as a JSON number that
 * prints exactly that text (a new object). */
struct json_object *usage_money_json(int64_t micros);
struct json_object *usage_seconds_json(int64_t ms);

/* usage_charge makes the `charge` object of a new task: its tier, the
 * milliseconds of video it reserves (reserve_ms), and, when the model has
 * a price, the price it is counted at and the cost it reserves.  NULL with
 * *unpriced set when the model has a price but none for this tier. */
struct json_object *usage_charge(const struct price_cfg *p, const char *currency, int width,
				 int height, int64_t reserve_ms, int *unpriced);

/* What a task counts in the ledger.  reserve_*: what its create reserved;
 * made_*: what it made, once completed (from the record's `output`, the
 * reservation when the file could not be measured). */
struct usage_counts {
	int tier;
	int64_t reserve_ms, reserve_cost;
	int64_t made_ms, made_cost, frames;
	int measured;
	struct json_object *provider; /* borrowed: the record's provider_usage, or NULL */
};
/* usage_counts_of reads rec (a task record) into c. */
void usage_counts_of(struct json_object *rec, struct usage_counts *c);

/* usage_day writes the UTC day of unix time t ("2026-12-06"); usage_month
 * its month ("2026-12"). */
void usage_day(int64_t t, char out[11]);
void usage_month(int64_t t, char out[8]);
/* usage_day_parse reads "YYYY-MM-DD" into the unix time of its midnight: 0,
 * or -1. */
int usage_day_parse(const char *s, int64_t *t);
/* usage_next_day / usage_next_month: the unix time the day or month of t
 * ends (the next UTC midnight, the first of the next month). */
int64_t usage_next_day(int64_t t);
int64_t usage_next_month(int64_t t);

/* A sum of ledger entries (store_usage.c's JSON), for the usage API and
 * `reelgate usage`. */
struct usage_sum {
	int64_t created, completed, failed, cancelled;
	int64_t seconds_ms, frames, unmeasured, cost;
	int64_t reserved_ms, reserved_cost;
	struct json_object *provider; /* owned: unit -> amount, or NULL */
};
void usage_sum_add(struct usage_sum *s, struct json_object *entry);
/* usage_provider_add adds p's numeric amounts, unit by unit, into acc
 * (whole sums stay JSON integers). */
void usage_provider_add(struct json_object *acc, struct json_object *p);
void usage_sum_free(struct usage_sum *s);
/* usage_sum_fields adds s to o: videos (created), completed, failed,
 * cancelled, in_progress, seconds, frames, unmeasured, cost {value,
 * currency}, reserved_seconds, reserved_cost, provider_usage. */
void usage_sum_fields(const struct usage_sum *s, const char *currency, struct json_object *o);

#endif
