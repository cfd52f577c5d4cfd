/* Unit tests for usage.c (tiers, money, charges, counts) and the ledger and
 * budgets of store_usage.c on real LMDB files. */
#include <check.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "record.h"
#include "store.h"
#include "store_fixture.h"
#include "testutil.h"
#include "usage.h"

START_TEST(tiers_and_money)
{
	ck_assert_str_eq(usage_tier_names[usage_tier(160, 90)], "480p");
	ck_assert_str_eq(usage_tier_names[usage_tier(1280, 720)], "720p");
	ck_assert_str_eq(usage_tier_names[usage_tier(720, 1280)], "720p"); /* short edge */
	ck_assert_str_eq(usage_tier_names[usage_tier(1920, 1080)], "1080p");
	ck_assert_str_eq(usage_tier_names[usage_tier(1024, 1792)], "1080p");
	ck_assert_str_eq(usage_tier_names[usage_tier(3840, 2160)], "2160p");
	ck_assert_str_eq(usage_tier_names[usage_tier(9000, 9000)], "4320p");
	ck_assert_int_eq(usage_tier_index("1440p"), 3);
	ck_assert_int_eq(usage_tier_index("4k"), -1);
	int64_t m = 0;
	ck_assert_int_eq(usage_money_parse_text("0.25", &m), 0);
	ck_assert_int_eq(m, 250000);
	ck_assert_int_eq(usage_money_parse_text("12", &m), 0);
	ck_assert_int_eq(m, 12000000);
	ck_assert_int_eq(usage_money_parse_text("0.000001", &m), 0);
	ck_assert_int_eq(m, 1);
	const char *bad[] = { "", "-1", ".5", "5.", "1.1234567", "1e3", "1,5", "9999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(usage_money_parse_text(bad[i], &m) < 0, "'%s' accepted", bad[i]);
	struct json_object *d = json_object_new_double(0.1);
	ck_assert_int_eq(usage_money_parse(d, &m), 0);
	ck_assert_int_eq(m, 100000);
	json_object_put(d);
	d = json_object_new_double(0.0000001);
	ck_assert_int_lt(usage_money_parse(d, &m), 0);
	json_object_put(d);
	char t[32];
	usage_money_text(1500000, t, sizeof(t));
	ck_assert_str_eq(t, "1.50");
	usage_money_text(1, t, sizeof(t));
	ck_assert_str_eq(t, "0.000001");
	usage_seconds_text(2500, t, sizeof(t));
	ck_assert_str_eq(t, "2.5");
	usage_seconds_text(3000, t, sizeof(t));
	ck_assert_str_eq(t, "3");
	/* the day and month of a time, against gmtime_r, over 70 years */
	for (int64_t at = 0; at < 2200000000LL; at += 86400 * 13 + 4321) {
		char mine[11], month[8], want[16];
		time_t tt = (time_t)at;
		struct tm tm;
		gmtime_r(&tt, &tm);
		strftime(want, sizeof(want), "%Y-%m-%d", &tm);
		usage_day(at, mine);
		ck_assert_str_eq(mine, want);
		usage_month(at, month);
		ck_assert_int_eq(strncmp(month, want, 7), 0);
	}
	char last[11];
	usage_day(1798761599, last); /* the last second of 2026 */
	ck_assert_str_eq(last, "2026-12-31");
	int64_t day;
	ck_assert_int_eq(usage_day_parse("2026-12-06", &day), 0);
	ck_assert_int_eq(day, 1796515200);
	ck_assert_int_lt(usage_day_parse("2026-02-30", &day), 0);
	ck_assert_int_eq(usage_next_day(1796515200 + 5), 1796515200 + 86400);
	ck_assert_int_eq(usage_next_month(1796515200), 1798761600); /* 2027-01-01 */
}
END_TEST

START_TEST(charges)
{
	struct price_cfg p;
	memset(&p, 0, sizeof(p));
	int unpriced;
	/* no price: a tier and a reservation, no cost */
	struct json_object *c = usage_charge(&p, "USD", 1280, 720, 5000, &unpriced);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(rec_str(c, "tier"), "720p");
	ck_assert_int_eq(rec_i64(c, "reserve_ms"), 5000);
	ck_assert_ptr_null(rec_str(c, "per"));
	json_object_put(c);
	/* by tier, with a price for every other tier */
	p.set = 1;
	p.per_second = 100000;
	p.tier_per_second[2] = 300000;
	p.tier_set[2] = 1;
	c = usage_charge(&p, "EUR", 1920, 1080, 4000, &unpriced);
	ck_assert_int_eq(rec_i64(c, "price_micros"), 300000);
	ck_assert_int_eq(rec_i64(c, "reserve_cost_micros"), 1200000);
	ck_assert_str_eq(rec_str(c, "currency"), "EUR");
	json_object_put(c);
	c = usage_charge(&p, "EUR", 1280, 720, 4000, &unpriced);
	ck_assert_int_eq(rec_i64(c, "price_micros"), 100000);
	json_object_put(c);
	/* by tier only: another tier cannot be priced */
	p.per_second = 0;
	c = usage_charge(&p, "EUR", 1280, 720, 4000, &unpriced);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(unpriced, 1);
	/* per video */
	memset(&p, 0, sizeof(p));
	p.set = 1;
	p.per_video = 400000;
	c = usage_charge(&p, "USD", 1280, 720, 8000, &unpriced);
	ck_assert_str_eq(rec_str(c, "per"), "video");
	ck_assert_int_eq(rec_i64(c, "reserve_cost_micros"), 400000);
	json_object_put(c);
}
END_TEST

START_TEST(counts_settle_on_what_was_made)
{
	struct json_object *r = json_tokener_parse(
		"{\"charge\":{\"tier\":\"720p\",\"reserve_ms\":5000,\"per\":\"second\","
		"\"price_micros\":200000,\"reserve_cost_micros\":1000000},"
		"\"output\":{\"seconds\":5.04,\"frames\":121},\"provider_usage\":{\"tokens\":99}}");
	struct usage_counts c;
	usage_counts_of(r, &c);
	ck_assert_int_eq(c.tier, 1);
	ck_assert_int_eq(c.reserve_ms, 5000);
	ck_assert_int_eq(c.made_ms, 5040);
	ck_assert_int_eq(c.made_cost, 1008000);
	ck_assert_int_eq(c.frames, 121);
	ck_assert_int_eq(c.measured, 1);
	ck_assert_ptr_nonnull(c.provider);
	json_object_put(r);
	/* an extension made only what it added to its source */
	r = json_tokener_parse("{\"op\":\"extend\",\"params\":{\"source\":{\"seconds\":4}},"
			       "\"charge\":{\"tier\":\"480p\",\"reserve_ms\":4000},"
			       "\"output\":{\"seconds\":8.0,\"frames\":192}}");
	usage_counts_of(r, &c);
	ck_assert_int_eq(c.made_ms, 4000);
	json_object_put(r);
	/* unmeasured: the reservation stands for what was made */
	r = json_tokener_parse("{\"charge\":{\"tier\":\"480p\",\"reserve_ms\":3000},"
			       "\"output\":{\"measured\":false}}");
	usage_counts_of(r, &c);
	ck_assert_int_eq(c.made_ms, 3000);
	ck_assert_int_eq(c.measured, 0);
	json_object_put(r);
}
END_TEST

/* A record as api.c builds one: owner, model, now, and a charge of secs. */
struct mk {
	const char *owner, *model;
	int secs;
};

static struct json_object *build(char (*ids)[ID_MAX], size_t n, size_t i, void *arg)
{
	(void)n;
	const struct mk *m = arg;
	char text[512];
	snprintf(text, sizeof(text),
		 "{\"id\":\"%s\",\"owner\":\"%s\",\"model\":\"%s\",\"status\":\"queued\","
		 "\"created_at\":%lld,\"size\":\"160x90\",\"seconds\":\"%d\",\"due_at\":1,"
		 "\"charge\":{\"tier\":\"480p\",\"reserve_ms\":%d,\"per\":\"second\","
		 "\"price_micros\":100000,\"reserve_cost_micros\":%d}}",
		 ids[i], m->owner, m->model, (long long)time(NULL), m->secs, m->secs * 1000,
		 m->secs * 100000);
	return json_tokener_parse(text);
}

static enum rg_err create(struct store *s, const char *owner, const char *model, int secs, size_t n,
			  struct store_refusal *why, char id[ID_MAX])
{
	struct mk m = { owner, model, secs };
	struct json_object *first = NULL;
	struct store_refusal w;
	enum rg_err err = store_videos_create_checked(s, n, owner, NULL, 0, why ? why : &w, build,
						      &m, &first);
	if (first && id)
		snprintf(id, ID_MAX, "%s", rec_str(first, "id"));
	json_object_put(first);
	return err;
}

static void set_status(const char *id, const char *status, const char *output)
{
	struct json_object *r;
	ck_assert_int_eq(store_video_get(st, id, &r), RG_OK);
	json_object_object_add(r, "status", json_object_new_string(status));
	if (output)
		json_object_object_add(r, "output", json_tokener_parse(output));
	ck_assert_int_eq(store_video_update(st, r), RG_OK);
	json_object_put(r);
}

struct sum {
	struct usage_sum s;
	int entries;
};

static int add(const char *owner, const char *day, const char *model, const char *tier,
	       struct json_object *e, void *arg)
{
	(void)owner, (void)day, (void)model, (void)tier;
	struct sum *s = arg;
	usage_sum_add(&s->s, e);
	s->entries++;
	return 0;
}

static struct sum ledger(const char *owner)
{
	struct sum s;
	memset(&s, 0, sizeof(s));
	char day[11];
	usage_day(time(NULL), day);
	ck_assert_int_eq(store_usage_scan(st, owner, day, day, add, &s), RG_OK);
	return s;
}

static int count_of(const char *model, const char *status, uint64_t n, void *arg)
{
	const char **want = arg;
	if (strcmp(model, want[0]) == 0 && strcmp(status, want[1]) == 0)
		*(uint64_t *)(void *)want[2] = n;
	return 0;
}

static uint64_t tasks(const char *model, const char *status)
{
	uint64_t n = 0;
	const char *want[3] = { model, status, (const char *)(void *)&n };
	ck_assert_int_eq(store_task_counts(st, count_of, want), RG_OK);
	return n;
}

START_TEST(ledger_follows_every_change)
{
	char a[ID_MAX], b[ID_MAX], c[ID_MAX];
	ck_assert_int_eq(create(st, "key_1", "m", 5, 1, NULL, a), RG_OK);
	ck_assert_int_eq(create(st, "key_1", "m", 2, 1, NULL, b), RG_OK);
	ck_assert_int_eq(create(st, "key_1", "m", 3, 1, NULL, c), RG_OK);
	ck_assert_int_eq(create(st, "key_2", "m", 9, 2, NULL, NULL), RG_OK);
	struct sum s = ledger("key_1");
	ck_assert_int_eq(s.s.created, 3);
	ck_assert_int_eq(s.s.reserved_ms, 10000);
	ck_assert_int_eq(s.s.reserved_cost, 1000000);
	usage_sum_free(&s.s);
	ck_assert_uint_eq(tasks("m", "queued"), 5);
	set_status(a, "in_progress", NULL);
	struct json_object *r;
	ck_assert_int_eq(store_video_get(st, a, &r), RG_OK);
	json_object_object_add(r, "provider_usage", json_tokener_parse("{\"tokens\":1000}"));
	ck_assert_int_eq(store_video_update(st, r), RG_OK);
	json_object_put(r);
	set_status(a, "completed", "{\"seconds\":5.2,\"frames\":125}");
	set_status(b, "failed", NULL);
	struct json_object *old;
	ck_assert_int_eq(store_video_delete(st, c, &old), RG_OK);
	json_object_put(old);
	s = ledger("key_1");
	ck_assert_int_eq(s.s.completed, 1);
	ck_assert_int_eq(s.s.failed, 1);
	ck_assert_int_eq(s.s.cancelled, 1);
	ck_assert_int_eq(s.s.seconds_ms, 5200);
	ck_assert_int_eq(s.s.frames, 125);
	ck_assert_int_eq(s.s.cost, 520000);
	ck_assert_int_eq(s.s.reserved_ms, 0);
	ck_assert_int_eq(s.s.reserved_cost, 0);
	ck_assert_int_eq(rec_i64(s.s.provider, "tokens"), 1000);
	usage_sum_free(&s.s);
	ck_assert_uint_eq(tasks("m", "queued"), 2); /* key_2's */
	ck_assert_uint_eq(tasks("m", "completed"), 1);
	ck_assert_uint_eq(tasks("m", "failed"), 1);
	ck_assert_uint_eq(tasks("m", "in_progress"), 0);
	/* the budget's use: made + reserved; in flight */
	struct store_budget u;
	ck_assert_int_eq(store_budget_used(st, "key_1", time(NULL), &u), RG_OK);
	ck_assert_int_eq(u.day_ms, 5200);
	ck_assert_int_eq(u.month_cost, 520000);
	ck_assert_int_eq(u.in_flight, 0);
	ck_assert_int_eq(store_budget_used(st, "key_2", time(NULL), &u), RG_OK);
	ck_assert_int_eq(u.day_ms, 18000);
	ck_assert_int_eq(u.in_flight, 2);
	/* another key's entries are not in key_1's scan, all are in NULL's */
	s = ledger(NULL);
	ck_assert_int_eq(s.s.created, 5);
	usage_sum_free(&s.s);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
}
END_TEST

static void add_key(const char *id, const char *limits)
{
	char text[256];
	snprintf(text, sizeof(text), "{\"id\":\"%s\",\"name\":\"t\",\"limits\":%s}", id, limits);
	struct json_object *k = json_tokener_parse(text);
	uint8_t hash[32];
	memset(hash, 0, sizeof(hash));
	memcpy(hash, id, strlen(id) < 32 ? strlen(id) : 32);
	ck_assert_int_eq(store_key_insert(st, k, hash), RG_OK);
	json_object_put(k);
}

START_TEST(budgets_hold_in_the_create)
{
	add_key("key_b", "{\"seconds_per_day\":5,\"max_in_flight\":3}");
	char a[ID_MAX];
	struct store_refusal why;
	ck_assert_int_eq(create(st, "key_b", "m", 2, 1, &why, a), RG_OK);
	ck_assert_int_eq(create(st, "key_b", "m", 2, 1, &why, NULL), RG_OK);
	ck_assert_int_eq(create(st, "key_b", "m", 2, 1, &why, NULL), RG_EQUOTA);
	ck_assert_str_eq(why.which, "seconds_per_day");
	ck_assert_int_eq(why.limit, 5000);
	ck_assert_int_eq(why.used, 4000);
	ck_assert_int_eq(why.asked, 2000);
	ck_assert_int_eq(why.reset_at, usage_next_day(time(NULL)));
	/* what the API reads is what the refusal said */
	struct store_budget u;
	ck_assert_int_eq(store_budget_used(st, "key_b", time(NULL), &u), RG_OK);
	ck_assert_int_eq(u.seconds_per_day, 5);
	ck_assert_int_eq(u.max_in_flight, 3);
	ck_assert_int_eq(u.seconds_per_month + u.cost_per_month_micros, 0);
	ck_assert_int_eq(u.day_ms, why.used);
	ck_assert_int_eq(u.in_flight, 2);
	ck_assert_int_eq(create(st, "key_b", "m", 1, 1, &why, NULL), RG_OK);
	/* in flight: 3 of 3 */
	ck_assert_int_eq(create(st, "key_b", "m", 0, 1, &why, NULL), RG_ELIMIT);
	ck_assert_str_eq(why.which, "max_in_flight");
	ck_assert_int_eq(why.used, 3);
	ck_assert_int_eq(store_budget_used(st, "key_b", time(NULL), &u), RG_OK);
	ck_assert_int_eq(u.in_flight, why.used);
	/* a failure gives its 2 s and its place back */
	set_status(a, "failed", NULL);
	ck_assert_int_eq(create(st, "key_b", "m", 2, 1, &why, NULL), RG_OK);
	/* n counts each task */
	add_key("key_c", "{\"seconds_per_month\":7,\"cost_per_month_micros\":600000}");
	ck_assert_int_eq(create(st, "key_c", "m", 3, 2, &why, NULL), RG_OK); /* 6 s, 0.60 */
	ck_assert_int_eq(create(st, "key_c", "m", 1, 1, &why, NULL), RG_EQUOTA);
	ck_assert_str_eq(why.which, "cost_per_month");
	ck_assert_int_eq(why.used, 600000);
	ck_assert_int_eq(why.asked, 100000);
	ck_assert_int_eq(create(st, "key_c", "m", 2, 1, &why, NULL), RG_EQUOTA);
	ck_assert_str_eq(why.which, "seconds_per_month");
	ck_assert_int_eq(why.reset_at, usage_next_month(time(NULL)));
	ck_assert_int_eq(store_budget_used(st, "key_c", time(NULL), &u), RG_OK);
	ck_assert_int_eq(u.seconds_per_month, 7);
	ck_assert_int_eq(u.cost_per_month_micros, 600000);
	ck_assert_int_eq(u.month_ms, why.used);
	ck_assert_int_eq(u.month_cost, 600000);
	/* a key without budgets, and no key at all: no limits */
	add_key("key_d", "{\"creates_per_minute\":3}");
	ck_assert_int_eq(store_budget_used(st, "key_d", time(NULL), &u), RG_OK);
	ck_assert_int_eq(u.seconds_per_day + u.seconds_per_month + u.cost_per_month_micros +
				 u.max_in_flight,
			 0);
	ck_assert_int_eq(store_budget_used(st, "key_none", time(NULL), &u), RG_OK);
	ck_assert_int_eq(u.max_in_flight + u.in_flight, 0);
}
END_TEST

/* budget_race_across_processes: creates from several processes at once go
 * through the grouped commits of db/group.shm; the budget holds across all
 * of them, and each refusal says why. */
#define RACERS 8
#define TRIES 10
START_TEST(budget_race_across_processes)
{
	add_key("key_r", "{\"seconds_per_day\":20}");
	pid_t pids[RACERS];
	for (int k = 0; k < RACERS; k++) {
		pids[k] = fork();
		ck_assert_int_ge(pids[k], 0);
		if (pids[k] == 0) {
			struct store *cs = fixture_open();
			if (cs == NULL)
				_exit(255);
			int made = 0;
			for (int i = 0; i < TRIES; i++) {
				struct store_refusal why;
				enum rg_err err = create(cs, "key_r", "m", 1, 1, &why, NULL);
				if (err == RG_OK)
					made++;
				else if (err != RG_EQUOTA || strcmp(why.which, "seconds_per_day") ||
					 why.limit != 20000)
					_exit(254);
			}
			store_close(cs);
			_exit(made);
		}
	}
	int made = 0;
	for (int k = 0; k < RACERS; k++) {
		int status;
		ck_assert_int_eq(waitpid(pids[k], &status, 0), pids[k]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) <= TRIES);
		made += WEXITSTATUS(status);
	}
	ck_assert_int_eq(made, 20);
	struct sum s = ledger("key_r");
	ck_assert_int_eq(s.s.created, 20);
	usage_sum_free(&s.s);
}
END_TEST

/* behind_the_store closes the store, changes its usage sub-database with
 * plain LMDB (fn, in one write transaction), and opens the store again. */
static void behind_the_store(void (*fn)(MDB_txn *txn, MDB_dbi dbi))
{
	store_close(st);
	st = NULL;
	char path[4096];
	snprintf(path, sizeof(path), "%s/db", dir);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 32), 0);
	ck_assert_int_eq(mdb_env_open(env, path, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "usage", 0, &dbi), 0);
	fn(txn, dbi);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	st = fixture_open();
	ck_assert_ptr_nonnull(st);
}

static void drop_all(MDB_txn *txn, MDB_dbi dbi)
{
	ck_assert_int_eq(mdb_drop(txn, dbi, 0), 0);
}

/* backfill_counts_old_records: a database from before the ledger (its
 * usage sub-database empty) is counted once at the next open. */
START_TEST(backfill_counts_old_records)
{
	char a[ID_MAX];
	ck_assert_int_eq(create(st, "key_o", "m", 2, 1, NULL, a), RG_OK);
	ck_assert_int_eq(create(st, "key_o", "m", 3, 2, NULL, NULL), RG_OK);
	set_status(a, "completed", "{\"seconds\":2,\"frames\":48}");
	behind_the_store(drop_all);
	struct sum s = ledger("key_o");
	ck_assert_int_eq(s.s.created, 3);
	ck_assert_int_eq(s.s.completed, 1);
	ck_assert_int_eq(s.s.frames, 48);
	ck_assert_int_eq(s.s.reserved_ms, 6000);
	usage_sum_free(&s.s);
	ck_assert_uint_eq(tasks("m", "queued"), 2);
	ck_assert_uint_eq(tasks("m", "completed"), 1);
	struct store_budget u;
	ck_assert_int_eq(store_budget_used(st, "key_o", time(NULL), &u), RG_OK);
	ck_assert_int_eq(u.in_flight, 2);
	ck_assert_int_eq(u.day_ms, 8000);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
}
END_TEST

static void collect_line(const char *line, void *arg)
{
	strncat(arg, line, 1023 - strlen(arg));
	strncat(arg, "\n", 1023 - strlen(arg));
}

/* one_in_flight says key_w has 1 task in flight. */
static void one_in_flight(MDB_txn *txn, MDB_dbi dbi)
{
	int64_t one = 1;
	MDB_val k = { 6, "fkey_w" }, v = { sizeof(one), &one };
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
}

/* check_finds_wrong_counts: `db check` compares the counts with the
 * records: a count changed behind the store's back is reported. */
START_TEST(check_finds_wrong_counts)
{
	ck_assert_int_eq(create(st, "key_w", "m", 2, 2, NULL, NULL), RG_OK);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
	behind_the_store(one_in_flight);
	char lines[1024] = "";
	ck_assert_int_eq(store_check(st, collect_line, lines), RG_ECORRUPT);
	ck_assert_msg(strstr(lines, "usage fkey_w: counts 1, the records make 2") != NULL, "%s",
		      lines);
}
END_TEST

static Suite *usage_suite(void)
{
	Suite *s = suite_create("usage");
	TCase *pure = tcase_create("pure");
	tcase_add_test(pure, tiers_and_money);
	tcase_add_test(pure, charges);
	tcase_add_test(pure, counts_settle_on_what_was_made);
	suite_add_tcase(s, pure);
	TCase *store = tcase_create("store");
	tcase_add_checked_fixture(store, setup, teardown);
	tcase_set_timeout(store, 60);
	tcase_add_test(store, ledger_follows_every_change);
	tcase_add_test(store, budgets_hold_in_the_create);
	tcase_add_test(store, budget_race_across_processes);
	tcase_add_test(store, backfill_counts_old_records);
	tcase_add_test(store, check_finds_wrong_counts);
	suite_add_tcase(s, store);
	return s;
}

RUN_SUITE(usage_suite)
