/*
 * store_usage: what the store counts about the videos it holds, written in
 * the same transactions as the changes they reflect (the "usage"
 * sub-database):
 *
 *   "l" owner \0 day \0 model \0 tier -> ledger entry: i64[10] created,
 *         completed, failed, cancelled, seconds_ms and frames made,
 *         unmeasured, cost_micros, reserved_ms, reserved_cost_micros,
 *         then provider_usage's JSON text {unit: amount} when there is one
 *   "d" owner \0 day                  -> i64[2] video ms and cost micros
 *   "m" owner \0 month                -> i64[2]   used (made) or reserved
 *   "f" owner                         -> i64 tasks queued or in progress
 *   "s" model \0 status               -> i64 tasks held (the gauges)
 *   "#v2"                             -> the counts cover every record
 *
 * A task counts on the UTC day (and month) it was created: its create
 * reserves what it asks for (seconds x n, and its price's cost); a failure
 * or a delete before it finishes gives the reservation back; a completion
 * replaces it with what was made (usage.c's counts).  Budgets (the key
 * record's limits) are checked against "d", "m" and "f" in the create's
 * own transaction, so concurrent creates from any process cannot pass
 * them together.
 */
#include "store_int.h"

#include "buf.h"
#include "record.h"
#include "usage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_MAX 512
#define MARK "#v2" /* and the ledger entries are binary */

/* ukey builds tag a \0 b \0 c \0 d (NULL ends the list) into out. */
static size_t ukey(char *out, char tag, const char *a, const char *b, const char *c, const char *d)
{
	const char *part[4] = { a, b, c, d };
	size_t len = 1;
	out[0] = tag;
	for (int i = 0; i < 4 && part[i]; i++) {
		size_t l = strlen(part[i]);
		if (len + l + 1 > KEY_MAX)
			return 0;
		if (i > 0)
			out[len++] = '\0';
		memcpy(out + len, part[i], l);
		len += l;
	}
	return len;
}

static int add_i64s(MDB_txn *txn, MDB_dbi dbi, const char *key, size_t klen, const int64_t *d,
		    size_t n)
{
	int64_t v[4] = { 0 };
	MDB_val k = { klen, (void *)key }, cur;
	if (klen == 0)
		return EINVAL;
	int rc = mdb_get(txn, dbi, &k, &cur);
	if (rc == 0 && cur.mv_size == n * sizeof(int64_t))
		memcpy(v, cur.mv_data, cur.mv_size);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	int zero = 1;
	for (size_t i = 0; i < n; i++) {
		v[i] += d[i];
		zero &= v[i] == 0;
	}
	if (zero)
		return env_del(txn, dbi, key, klen);
	MDB_val nv = { n * sizeof(int64_t), v };
	return mdb_put(txn, dbi, &k, &nv, 0);
}

static int64_t get_i64s(MDB_txn *txn, MDB_dbi dbi, const char *key, size_t klen, int64_t *v,
			size_t n)
{
	MDB_val k = { klen, (void *)key }, cur;
	memset(v, 0, n * sizeof(*v));
	int rc = mdb_get(txn, dbi, &k, &cur);
	if (rc == 0 && cur.mv_size == n * sizeof(int64_t))
		memcpy(v, cur.mv_data, cur.mv_size);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* A ledger entry is LEDGER_N int64 counters in native order (the fields
 * below, in ledger_names' order), then, when a provider reported usage,
 * the JSON text of provider_usage: a create's write parses nothing. */
enum {
	L_CREATED,
	L_COMPLETED,
	L_FAILED,
	L_CANCELLED,
	L_SECONDS_MS,
	L_FRAMES,
	L_UNMEASURED,
	L_COST,
	L_RESERVED_MS,
	L_RESERVED_COST,
	LEDGER_N
};
static const char *const ledger_names[LEDGER_N] = {
	"created", "completed",	 "failed",	"cancelled",   "seconds_ms",
	"frames",  "unmeasured", "cost_micros", "reserved_ms", "reserved_cost_micros"
};
#define LEDGER_BYTES (LEDGER_N * sizeof(int64_t))

/* What one change adds to a ledger entry. */
struct delta {
	int64_t v[LEDGER_N];
	struct json_object *provider; /* borrowed */
};

/* provider_merge adds d's provider usage to the JSON text old (len bytes,
 * possibly none) into out: 0, or ENOMEM. */
static int provider_merge(const char *old, size_t len, struct json_object *add, struct buf *out)
{
	struct json_object *acc = NULL;
	if (len > 0) {
		MDB_val v = { len, (void *)old };
		acc = env_parse(&v);
	}
	if (acc == NULL)
		acc = json_object_new_object();
	usage_provider_add(acc, add);
	int rc = buf_puts(out, json_object_to_json_string_ext(acc, JSON_C_TO_STRING_PLAIN)) < 0
			 ? ENOMEM
			 : 0;
	json_object_put(acc);
	return rc;
}

static int ledger_add(struct store *st, MDB_txn *txn, struct json_object *rec, int tier,
		      const struct delta *d)
{
	char key[KEY_MAX], day[11];
	const char *owner = rec_str(rec, "owner"), *model = rec_str(rec, "model");
	if (owner == NULL || model == NULL)
		return 0; /* not a task the ledger can place */
	usage_day(rec_i64(rec, "created_at"), day);
	size_t klen = ukey(key, 'l', owner, day, model, usage_tier_names[tier]);
	if (klen == 0)
		return EINVAL;
	MDB_val k = { klen, key }, v = { 0, NULL };
	int64_t n[LEDGER_N] = { 0 };
	int rc = mdb_get(txn, st->usage, &k, &v);
	if (rc == 0 && v.mv_size >= LEDGER_BYTES)
		memcpy(n, v.mv_data, LEDGER_BYTES);
	else if (rc == 0 || rc != MDB_NOTFOUND)
		return rc == 0 ? MDB_CORRUPTED : rc;
	for (int i = 0; i < LEDGER_N; i++)
		n[i] += d->v[i];
	const char *tail = v.mv_size > LEDGER_BYTES ? (const char *)v.mv_data + LEDGER_BYTES : "";
	size_t tlen = v.mv_size > LEDGER_BYTES ? v.mv_size - LEDGER_BYTES : 0;
	struct buf out;
	buf_init(&out, 1 << 16);
	rc = buf_append(&out, n, LEDGER_BYTES) < 0 ? ENOMEM : 0;
	if (rc == 0 && d->provider != NULL)
		rc = provider_merge(tail, tlen, d->provider, &out);
	else if (rc == 0 && tlen > 0 && buf_append(&out, tail, tlen) < 0)
		rc = ENOMEM;
	if (rc == 0) {
		MDB_val nv = { out.len, out.data };
		rc = mdb_put(txn, st->usage, &k, &nv, 0);
	}
	buf_deinit(&out);
	return rc;
}

/* entry_json: a ledger entry as the JSON object usage_sum_add reads. */
static struct json_object *entry_json(const MDB_val *v)
{
	if (v->mv_size < LEDGER_BYTES)
		return NULL;
	int64_t n[LEDGER_N];
	memcpy(n, v->mv_data, LEDGER_BYTES);
	struct json_object *e = json_object_new_object();
	for (int i = 0; i < LEDGER_N; i++)
		json_object_object_add(e, ledger_names[i], json_object_new_int64(n[i]));
	if (v->mv_size > LEDGER_BYTES) {
		MDB_val t = { v->mv_size - LEDGER_BYTES, (char *)v->mv_data + LEDGER_BYTES };
		struct json_object *p = env_parse(&t);
		if (p == NULL) {
			json_object_put(e);
			return NULL;
		}
		json_object_object_add(e, "provider_usage", p);
	}
	return e;
}

/* budget_add moves owner's day and month use of rec's creation by ms and
 * cost, and its tasks in flight by live. */
static int budget_add(struct store *st, MDB_txn *txn, struct json_object *rec, int64_t ms,
		      int64_t cost, int64_t live)
{
	const char *owner = rec_str(rec, "owner");
	if (owner == NULL)
		return 0;
	int64_t t = rec_i64(rec, "created_at"), d[2] = { ms, cost };
	char key[KEY_MAX], day[11], month[8];
	usage_day(t, day);
	usage_month(t, month);
	int rc = 0;
	if (ms != 0 || cost != 0) {
		rc = add_i64s(txn, st->usage, key, ukey(key, 'd', owner, day, NULL, NULL), d, 2);
		if (rc == 0)
			rc = add_i64s(txn, st->usage, key, ukey(key, 'm', owner, month, NULL, NULL),
				      d, 2);
	}
	if (rc == 0 && live != 0)
		rc = add_i64s(txn, st->usage, key, ukey(key, 'f', owner, NULL, NULL, NULL), &live,
			      1);
	return rc;
}

static int count_status(struct store *st, MDB_txn *txn, struct json_object *rec, const char *status,
			int64_t d)
{
	char key[KEY_MAX];
	const char *model = rec_str(rec, "model");
	if (model == NULL || status == NULL || status[0] == '\0')
		return 0;
	return add_i64s(txn, st->usage, key, ukey(key, 's', model, status, NULL, NULL), &d, 1);
}

static int terminal(const char *status)
{
	return status && (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0);
}

/* reserve: a new task's create, counted as queued. */
static int reserve(struct store *st, MDB_txn *txn, struct json_object *rec)
{
	struct usage_counts c;
	usage_counts_of(rec, &c);
	struct delta d = { { 0 }, NULL };
	d.v[L_CREATED] = 1;
	d.v[L_RESERVED_MS] = c.reserve_ms;
	d.v[L_RESERVED_COST] = c.reserve_cost;
	int rc = count_status(st, txn, rec, "queued", 1);
	if (rc == 0)
		rc = ledger_add(st, txn, rec, c.tier, &d);
	if (rc == 0)
		rc = budget_add(st, txn, rec, c.reserve_ms, c.reserve_cost, 1);
	return rc;
}

/* settle: a live task ends as status ("completed", "failed", or
 * "cancelled": deleted before it finished). */
static int settle(struct store *st, MDB_txn *txn, struct json_object *rec, const char *status)
{
	struct usage_counts c;
	usage_counts_of(rec, &c);
	struct delta d = { { 0 }, NULL };
	d.v[L_RESERVED_MS] = -c.reserve_ms;
	d.v[L_RESERVED_COST] = -c.reserve_cost;
	int64_t ms = -c.reserve_ms, cost = -c.reserve_cost;
	if (strcmp(status, "completed") == 0) {
		d.v[L_COMPLETED] = 1;
		d.v[L_SECONDS_MS] = c.made_ms;
		d.v[L_FRAMES] = c.frames;
		d.v[L_UNMEASURED] = !c.measured;
		d.v[L_COST] = c.made_cost;
		d.provider = c.provider;
		ms += c.made_ms;
		cost += c.made_cost;
	} else if (strcmp(status, "failed") == 0) {
		d.v[L_FAILED] = 1;
	} else {
		d.v[L_CANCELLED] = 1;
	}
	int rc = ledger_add(st, txn, rec, c.tier, &d);
	if (rc == 0)
		rc = budget_add(st, txn, rec, ms, cost, -1);
	return rc;
}

/* moved: the status counts and the ledger of rec going from old to now. */
static int moved(struct store *st, MDB_txn *txn, struct json_object *rec, const char *old,
		 const char *now)
{
	if (old == NULL || now == NULL || strcmp(old, now) == 0)
		return 0;
	int rc = count_status(st, txn, rec, old, -1);
	if (rc == 0)
		rc = count_status(st, txn, rec, now, 1);
	if (rc == 0 && !terminal(old) && terminal(now))
		rc = settle(st, txn, rec, now);
	else if (rc == 0 && terminal(old) && !terminal(now))
		rc = budget_add(st, txn, rec, 0, 0, 1); /* run again: live once more */
	return rc;
}

int kv_usage_created(struct store *st, MDB_txn *txn, struct json_object *rec)
{
	int rc = reserve(st, txn, rec);
	if (rc == 0)
		rc = moved(st, txn, rec, "queued", rec_str(rec, "status"));
	return rc;
}

int kv_usage_changed(struct store *st, MDB_txn *txn, const char *old_status,
		     struct json_object *rec)
{
	return moved(st, txn, rec, old_status, rec_str(rec, "status"));
}

int kv_usage_deleted(struct store *st, MDB_txn *txn, struct json_object *old)
{
	const char *status = rec_str(old, "status");
	int rc = count_status(st, txn, old, status, -1);
	if (rc == 0 && status != NULL && !terminal(status))
		rc = settle(st, txn, old, "cancelled");
	return rc;
}

/* ---- budgets ------------------------------------------------------------ */

static void refuse(struct store_refusal *why, const char *which, int64_t limit, int64_t used,
		   int64_t asked, int64_t reset_at)
{
	snprintf(why->which, sizeof(why->which), "%s", which);
	why->limit = limit;
	why->used = used;
	why->asked = asked;
	why->reset_at = reset_at;
}

/* budget_limits reads owner's budgets from its key record into b (all 0:
 * none, also for a store without keys). */
static int budget_limits(struct store *st, MDB_txn *txn, const char *owner, struct store_budget *b)
{
	struct json_object *key, *lim;
	MDB_val kk = { strlen(owner), (void *)owner }, raw;
	int rc = mdb_get(txn, st->keys, &kk, &raw);
	if (rc == MDB_NOTFOUND)
		return 0; /* a store without keys (tests, imports) */
	if (rc != 0)
		return rc;
	/* most keys have no budget: their record is not parsed */
	static const char *const names[] = { "\"seconds_per_day\"", "\"seconds_per_month\"",
					     "\"cost_per_month_micros\"", "\"max_in_flight\"" };
	int any = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !any; i++)
		any = memmem(raw.mv_data, raw.mv_size, names[i], strlen(names[i])) != NULL;
	if (!any)
		return 0;
	if ((key = env_parse(&raw)) == NULL)
		return MDB_CORRUPTED;
	lim = rec_obj(key, "limits");
	b->max_in_flight = rec_i64(lim, "max_in_flight");
	b->seconds_per_day = rec_i64(lim, "seconds_per_day");
	b->seconds_per_month = rec_i64(lim, "seconds_per_month");
	b->cost_per_month_micros = rec_i64(lim, "cost_per_month_micros");
	json_object_put(key);
	return 0;
}

/* budget_used reads what owner has used of its budgets at unix time now
 * into b: the "f", "d" and "m" counts. */
static int budget_used(struct store *st, MDB_txn *txn, const char *owner, int64_t now,
		       struct store_budget *b)
{
	char k[KEY_MAX], day[11], month[8];
	int64_t d[2], m[2];
	int rc;
	usage_day(now, day);
	usage_month(now, month);
	if ((rc = get_i64s(txn, st->usage, k, ukey(k, 'f', owner, NULL, NULL, NULL), &b->in_flight,
			   1)) ||
	    (rc = get_i64s(txn, st->usage, k, ukey(k, 'd', owner, day, NULL, NULL), d, 2)) ||
	    (rc = get_i64s(txn, st->usage, k, ukey(k, 'm', owner, month, NULL, NULL), m, 2)))
		return rc;
	b->day_ms = d[0];
	b->month_ms = m[0];
	b->month_cost = m[1];
	return 0;
}

int kv_budget_check(struct store *st, MDB_txn *txn, const char *owner, struct json_object **recs,
		    size_t n, struct store_refusal *why)
{
	struct store_budget b;
	memset(&b, 0, sizeof(b));
	int rc = budget_limits(st, txn, owner, &b);
	if (rc != 0 || (b.max_in_flight <= 0 && b.seconds_per_day <= 0 &&
			b.seconds_per_month <= 0 && b.cost_per_month_micros <= 0))
		return rc;
	int64_t ms = 0, cost = 0, now = rec_i64(recs[0], "created_at");
	for (size_t i = 0; i < n; i++) {
		struct usage_counts c;
		usage_counts_of(recs[i], &c);
		ms += c.reserve_ms;
		cost += c.reserve_cost;
	}
	if ((rc = budget_used(st, txn, owner, now, &b)) != 0)
		return rc;
	if (b.max_in_flight > 0 && b.in_flight + (int64_t)n > b.max_in_flight) {
		refuse(why, "max_in_flight", b.max_in_flight, b.in_flight, (int64_t)n, 0);
		return TXN_LIMITED;
	}
	if (b.seconds_per_day > 0 && b.day_ms + ms > b.seconds_per_day * 1000) {
		refuse(why, "seconds_per_day", b.seconds_per_day * 1000, b.day_ms, ms,
		       usage_next_day(now));
		return TXN_BUDGET;
	}
	if (b.seconds_per_month > 0 && b.month_ms + ms > b.seconds_per_month * 1000) {
		refuse(why, "seconds_per_month", b.seconds_per_month * 1000, b.month_ms, ms,
		       usage_next_month(now));
		return TXN_BUDGET;
	}
	if (b.cost_per_month_micros > 0 && b.month_cost + cost > b.cost_per_month_micros) {
		refuse(why, "cost_per_month", b.cost_per_month_micros, b.month_cost, cost,
		       usage_next_month(now));
		return TXN_BUDGET;
	}
	return 0;
}

/* ---- the counts of records written before them ------------------------- */

static int backfill_txn(struct store *st, MDB_txn *txn, void *arg)
{
	(void)arg;
	MDB_val mk = { strlen(MARK), MARK }, v, k;
	if (mdb_get(txn, st->usage, &mk, &v) == 0)
		return 0; /* another process did it */
	int rc = mdb_drop(txn, st->usage, 0);
	MDB_cursor *cur;
	if (rc == 0)
		rc = mdb_cursor_open(txn, st->videos, &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct json_object *rec = env_parse(&v);
		if (rec == NULL)
			continue; /* store_check reports it */
		int e = kv_usage_created(st, txn, rec);
		json_object_put(rec);
		if (e != 0) {
			mdb_cursor_close(cur);
			return e;
		}
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return rc;
	MDB_val mv = { 1, "1" };
	return mdb_put(txn, st->usage, &mk, &mv, 0);
}

enum rg_err usage_backfill(struct store *st)
{
	MDB_txn *txn;
	MDB_val mk = { strlen(MARK), MARK }, v;
	int rc = env_read_begin(st, &txn);
	if (rc != 0)
		return env_error(rc);
	rc = mdb_get(txn, st->usage, &mk, &v);
	env_read_end(st, txn);
	if (rc == 0)
		return RG_OK;
	return env_write(st, backfill_txn, NULL);
}

/* ---- the check ---------------------------------------------------------- */

/* A table of the counts the records make: key (as in the usage
 * sub-database) -> count, open addressing. */
struct tally {
	char **key;
	size_t *klen;
	int64_t *n;
	size_t cap, used;
};

static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211ULL;
	return h;
}

static int tally_grow(struct tally *t);

static int tally_add(struct tally *t, const char *key, size_t klen, int64_t d)
{
	if (klen == 0)
		return 0;
	if ((t->used + 1) * 2 > t->cap && tally_grow(t) < 0)
		return -1;
	size_t i = hash_bytes(key, klen) & (t->cap - 1);
	while (t->key[i] != NULL) {
		if (t->klen[i] == klen && memcmp(t->key[i], key, klen) == 0) {
			t->n[i] += d;
			return 0;
		}
		i = (i + 1) & (t->cap - 1);
	}
	if ((t->key[i] = malloc(klen)) == NULL)
		return -1;
	memcpy(t->key[i], key, klen);
	t->klen[i] = klen;
	t->n[i] = d;
	t->used++;
	return 0;
}

static int tally_grow(struct tally *t)
{
	struct tally b = { NULL, NULL, NULL, t->cap ? t->cap * 2 : 256, 0 };
	b.key = calloc(b.cap, sizeof(*b.key));
	b.klen = calloc(b.cap, sizeof(*b.klen));
	b.n = calloc(b.cap, sizeof(*b.n));
	if (b.key == NULL || b.klen == NULL || b.n == NULL) {
		free(b.key), free(b.klen), free(b.n);
		return -1;
	}
	for (size_t i = 0; i < t->cap; i++)
		if (t->key[i] != NULL) {
			size_t j = hash_bytes(t->key[i], t->klen[i]) & (b.cap - 1);
			while (b.key[j] != NULL)
				j = (j + 1) & (b.cap - 1);
			b.key[j] = t->key[i], b.klen[j] = t->klen[i], b.n[j] = t->n[i];
			b.used++;
		}
	free(t->key), free(t->klen), free(t->n);
	*t = b;
	return 0;
}

static int64_t *tally_find(struct tally *t, const char *key, size_t klen)
{
	if (t->cap == 0)
		return NULL;
	size_t i = hash_bytes(key, klen) & (t->cap - 1);
	while (t->key[i] != NULL) {
		if (t->klen[i] == klen && memcmp(t->key[i], key, klen) == 0)
			return &t->n[i];
		i = (i + 1) & (t->cap - 1);
	}
	return NULL;
}

static void tally_free(struct tally *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(t->key[i]);
	free(t->key), free(t->klen), free(t->n);
}

/* shown: a usage key as text (its \0 separators as '/'). */
static void shown(const char *key, size_t klen, char *out, size_t n)
{
	size_t i = 0;
	for (; i < klen && i + 1 < n; i++)
		out[i] = key[i] ? key[i] : '/';
	out[i] = '\0';
}

int usage_check(struct store *st, MDB_txn *txn, void (*report)(const char *line, void *arg),
		void *arg)
{
	struct tally t = { NULL, NULL, NULL, 0, 0 };
	MDB_cursor *cur;
	MDB_val k, v;
	char key[KEY_MAX], line[KEY_MAX + 128];
	int bad = 0;
	if (mdb_cursor_open(txn, st->videos, &cur) != 0)
		return 0;
	while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
		struct json_object *rec = env_parse(&v);
		const char *model = rec_str(rec, "model"), *status = rec_str(rec, "status"),
			   *owner = rec_str(rec, "owner");
		if (model && status && status[0] &&
		    tally_add(&t, key, ukey(key, 's', model, status, NULL, NULL), 1) < 0)
			bad = -1;
		if (owner && status && !terminal(status) &&
		    tally_add(&t, key, ukey(key, 'f', owner, NULL, NULL, NULL), 1) < 0)
			bad = -1;
		json_object_put(rec);
	}
	mdb_cursor_close(cur);
	if (mdb_cursor_open(txn, st->usage, &cur) != 0 || bad < 0) {
		tally_free(&t);
		return 0;
	}
	/* every stored count is what the records make ... */
	while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
		const char *p = k.mv_data;
		int64_t n;
		if ((p[0] != 's' && p[0] != 'f') || v.mv_size != sizeof(n))
			continue;
		memcpy(&n, v.mv_data, sizeof(n));
		int64_t *want = tally_find(&t, p, k.mv_size);
		if (want == NULL || *want != n) {
			shown(p, k.mv_size, key, sizeof(key));
			snprintf(line, sizeof(line), "usage %s: counts %lld, the records make %lld",
				 key, (long long)n, (long long)(want ? *want : 0));
			report(line, arg);
			bad++;
		}
		if (want)
			*want = INT64_MIN; /* seen */
	}
	mdb_cursor_close(cur);
	/* ... and every count the records make is stored */
	for (size_t i = 0; i < t.cap; i++)
		if (t.key[i] != NULL && t.n[i] != INT64_MIN && t.n[i] != 0) {
			shown(t.key[i], t.klen[i], key, sizeof(key));
			snprintf(line, sizeof(line), "usage %s: missing, the records make %lld",
				 key, (long long)t.n[i]);
			report(line, arg);
			bad++;
		}
	tally_free(&t);
	return bad;
}

/* ---- reading ------------------------------------------------------------ */

enum rg_err store_task_counts(struct store *st, store_count_fn fn, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = env_cursor_begin(st, st->usage, &txn, &cur);
	if (rc != 0)
		return env_error(rc);
	MDB_val k = { 1, "s" }, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *p = k.mv_data;
		if (k.mv_size < 4 || p[0] != 's' || k.mv_size >= KEY_MAX)
			break;
		char key[KEY_MAX];
		memcpy(key, p, k.mv_size);
		key[k.mv_size] = '\0';
		const char *model = key + 1, *status = model + strlen(model) + 1;
		int64_t n;
		if (status >= key + k.mv_size || v.mv_size != sizeof(n))
			continue;
		memcpy(&n, v.mv_data, sizeof(n));
		if (n > 0 && fn(model, status, (uint64_t)n, arg))
			break;
	}
	env_cursor_end(st, txn, cur);
	return RG_OK;
}

/* split_ledger_key reads "l" owner \0 day \0 model \0 tier into parts. */
static int split_ledger_key(const MDB_val *k, char *buf, const char *part[4])
{
	if (k->mv_size < 2 || k->mv_size >= KEY_MAX || ((const char *)k->mv_data)[0] != 'l')
		return -1;
	memcpy(buf, (const char *)k->mv_data + 1, k->mv_size - 1);
	buf[k->mv_size - 1] = '\0';
	const char *p = buf, *end = buf + k->mv_size - 1;
	for (int i = 0; i < 4; i++) {
		if (p > end)
			return -1;
		part[i] = p;
		p += strlen(p) + 1;
	}
	return 0;
}

enum rg_err store_usage_scan(struct store *st, const char *owner, const char *from_day,
			     const char *to_day, store_usage_fn fn, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	char start[KEY_MAX];
	size_t slen = owner ? ukey(start, 'l', owner, from_day, NULL, NULL) : 1, plen;
	start[0] = 'l';
	if (slen == 0)
		return RG_EINVAL;
	plen = owner ? 2 + strlen(owner) : 1; /* "l" owner \0 */
	int rc = env_cursor_begin(st, st->usage, &txn, &cur);
	if (rc != 0)
		return env_error(rc);
	enum rg_err err = RG_OK;
	MDB_val k = { slen, start }, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, start, plen) != 0)
			break;
		char buf[KEY_MAX];
		const char *part[4];
		if (split_ledger_key(&k, buf, part) < 0)
			continue;
		if (strcmp(part[1], from_day) < 0)
			continue;
		if (strcmp(part[1], to_day) > 0) {
			if (owner)
				break;
			continue;
		}
		struct json_object *e = entry_json(&v);
		if (e == NULL) {
			err = RG_ECORRUPT;
			break;
		}
		int stop = fn(part[0], part[1], part[2], part[3], e, arg);
		json_object_put(e);
		if (stop)
			break;
	}
	env_cursor_end(st, txn, cur);
	return err;
}

enum rg_err store_budget_used(struct store *st, const char *owner, int64_t now,
			      struct store_budget *out)
{
	MDB_txn *txn;
	memset(out, 0, sizeof(*out));
	int rc = env_read_begin(st, &txn);
	if (rc != 0)
		return env_error(rc);
	rc = budget_limits(st, txn, owner, out);
	if (rc == 0)
		rc = budget_used(st, txn, owner, now, out);
	env_read_end(st, txn);
	return env_error(rc);
}
