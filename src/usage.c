/*
 * usage: tiers, prices, charges and counts (see usage.h).
 */
#include "usage.h"

#include "record.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const usage_tier_names[USAGE_TIERS] = { "480p",  "720p",  "1080p",
						    "1440p", "2160p", "4320p" };
static const int tier_edge[USAGE_TIERS] = { 480, 720, 1080, 1440, 2160, 4320 };

int usage_tier(int width, int height)
{
	int edge = width < height ? width : height;
	for (int i = 0; i < USAGE_TIERS; i++)
		if (edge <= tier_edge[i])
			return i;
	return USAGE_TIERS - 1;
}

int usage_tier_index(const char *name)
{
	for (int i = 0; name && i < USAGE_TIERS; i++)
		if (strcmp(name, usage_tier_names[i]) == 0)
			return i;
	return -1;
}

#define MONEY_MAX 1000000000000LL /* a trillion units of any currency */

int usage_money_parse_text(const char *s, int64_t *micros)
{
	int64_t whole = 0, frac = 0;
	int digits = 0, fd = 0;
	const char *p = s;
	for (; isdigit((unsigned char)*p); p++, digits++) {
		whole = whole * 10 + (*p - '0');
		if (whole > MONEY_MAX)
			return -1;
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, fd++) {
			if (fd == 6)
				return -1; /* finer than a micro-unit */
			frac = frac * 10 + (*p - '0');
		}
		if (fd == 0)
			return -1;
	}
	if (*p != '\0' || digits == 0)
		return -1;
	for (; fd < 6; fd++)
		frac *= 10;
	*micros = whole * 1000000 + frac;
	return 0;
}

int usage_money_parse(struct json_object *v, int64_t *micros)
{
	if (json_object_is_type(v, json_type_int)) {
		int64_t i = json_object_get_int64(v);
		if (i < 0 || i > MONEY_MAX)
			return -1;
		*micros = i * 1000000;
		return 0;
	}
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);
		if (!(d >= 0) || d > (double)MONEY_MAX)
			return -1;
		double m = d * 1e6;
		if (fabs(m - llround(m)) > 1e-6 * (m > 1 ? m : 1))
			return -1; /* finer than a micro-unit */
		*micros = llround(m);
		return 0;
	}
	if (json_object_is_type(v, json_type_string))
		return usage_money_parse_text(json_object_get_string(v), micros);
	return -1;
}

void usage_money_text(int64_t micros, char *out, size_t n)
{
	const char *sign = micros < 0 ? "-" : "";
	uint64_t m = micros < 0 ? (uint64_t)(-(micros + 1)) + 1 : (uint64_t)micros;
	char frac[8];
	snprintf(frac, sizeof(frac), "%06llu", (unsigned long long)(m % 1000000));
	size_t k = strlen(frac);
	while (k > 2 && frac[k - 1] == '0')
		frac[--k] = '\0';
	snprintf(out, n, "%s%llu.%s", sign, (unsigned long long)(m / 1000000), frac);
}

void usage_seconds_text(int64_t ms, char *out, size_t n)
{
	usage_money_text(ms * 1000, out, n);
	char *dot = strchr(out, '.');
	if (dot == NULL)
		return;
	size_t k = strlen(out);
	while (out[k - 1] == '0')
		out[--k] = '\0';
	if (out[k - 1] == '.')
		out[k - 1] = '\0';
}

static void add_i64(struct json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

struct json_object *usage_charge(const struct price_cfg *p, const char *currency, int width,
				 int height, int64_t reserve_ms, int *unpriced)
{
	int tier = usage_tier(width, height);
	*unpriced = 0;
	struct json_object *c = json_object_new_object();
	json_object_object_add(c, "tier", json_object_new_string(usage_tier_names[tier]));
	add_i64(c, "reserve_ms", reserve_ms);
	if (p == NULL || !p->set)
		return c;
	const char *per;
	int64_t price, cost;
	if (p->tier_set[tier] || p->per_second) {
		per = "second";
		price = p->tier_set[tier] ? p->tier_per_second[tier] : p->per_second;
		cost = (price * reserve_ms + 999) / 1000;
	} else if (p->per_video) {
		per = "video";
		price = cost = p->per_video;
	} else {
		json_object_put(c);
		*unpriced = 1;
		return NULL;
	}
	json_object_object_add(c, "per", json_object_new_string(per));
	add_i64(c, "price_micros", price);
	json_object_object_add(c, "currency", json_object_new_string(currency ? currency : "USD"));
	add_i64(c, "reserve_cost_micros", cost);
	return c;
}

/* source_ms: an extension's source length (what it did not make). */
static int64_t source_ms(struct json_object *rec)
{
	const char *op = rec_str(rec, "op");
	if (op == NULL || strcmp(op, "extend") != 0)
		return 0;
	struct json_object *src = rec_obj(rec_obj(rec, "params"), "source"), *v;
	if (src == NULL || !json_object_object_get_ex(src, "seconds", &v))
		return 0;
	return (int64_t)llround(json_object_get_double(v) * 1000);
}

void usage_counts_of(struct json_object *rec, struct usage_counts *c)
{
	memset(c, 0, sizeof(*c));
	struct json_object *ch = rec_obj(rec, "charge"), *out = rec_obj(rec, "output"), *v;
	if (ch != NULL) {
		c->tier = usage_tier_index(rec_str(ch, "tier"));
		c->reserve_ms = rec_i64(ch, "reserve_ms");
		c->reserve_cost = rec_i64(ch, "reserve_cost_micros");
	} else {
		/* a task from before the ledger: what it asked for */
		const char *size = rec_str(rec, "size"), *secs = rec_str(rec, "seconds");
		int w = 0, h = 0;
		if (size == NULL || sscanf(size, "%dx%d", &w, &h) != 2)
			w = h = 720;
		c->tier = usage_tier(w, h);
		c->reserve_ms = secs ? (int64_t)atoi(secs) * 1000 : 0;
	}
	if (c->tier < 0)
		c->tier = 0;
	c->made_ms = c->reserve_ms;
	c->made_cost = c->reserve_cost;
	if (out != NULL && json_object_object_get_ex(out, "seconds", &v) &&
	    (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int))) {
		int64_t ms = (int64_t)llround(json_object_get_double(v) * 1000) - source_ms(rec);
		c->made_ms = ms > 0 ? ms : 0;
		c->frames = rec_i64(out, "frames");
		c->measured = 1;
		const char *per = ch ? rec_str(ch, "per") : NULL;
		if (per && strcmp(per, "second") == 0)
			c->made_cost = (rec_i64(ch, "price_micros") * c->made_ms + 999) / 1000;
	}
	c->provider = rec_obj(rec, "provider_usage");
}

/* civil: the UTC date of unix time t (Howard Hinnant's days-to-civil; no
 * gmtime_r and strftime in the create's transaction, which calls this a few
 * times per task). */
static void civil(int64_t t, int *y, int *m, int *d)
{
	int64_t z = (t >= 0 ? t : t - 86399) / 86400 + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static void digits(char *out, int v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		out[i] = (char)('0' + v % 10);
}

void usage_day(int64_t t, char out[11])
{
	int y, m, d;
	civil(t, &y, &m, &d);
	digits(out, y % 10000, 4);
	out[4] = '-';
	digits(out + 5, m, 2);
	out[7] = '-';
	digits(out + 8, d, 2);
	out[10] = '\0';
}

void usage_month(int64_t t, char out[8])
{
	char day[11];
	usage_day(t, day);
	memcpy(out, day, 7);
	out[7] = '\0';
}

int usage_day_parse(const char *s, int64_t *t)
{
	int y, m, d;
	char tail;
	if (s == NULL || strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 ||
	    y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };
	time_t v = timegm(&tm);
	struct tm back;
	gmtime_r(&v, &back);
	if (back.tm_mday != d || back.tm_mon != m - 1)
		return -1; /* 2026-02-30 */
	*t = (int64_t)v;
	return 0;
}

int64_t usage_next_day(int64_t t)
{
	return (t / 86400 + 1) * 86400;
}

int64_t usage_next_month(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	struct tm n = { .tm_year = tm.tm_year + (tm.tm_mon == 11),
			.tm_mon = (tm.tm_mon + 1) % 12,
			.tm_mday = 1 };
	return (int64_t)timegm(&n);
}

void usage_provider_add(struct json_object *acc, struct json_object *p)
{
	struct json_object *old;
	if (p == NULL || !json_object_is_type(p, json_type_object))
		return;
	json_object_object_foreach(p, unit, v) {
		if (!json_object_is_type(v, json_type_int) &&
		    !json_object_is_type(v, json_type_double))
			continue;
		double sum = json_object_get_double(v);
		if (json_object_object_get_ex(acc, unit, &old))
			sum += json_object_get_double(old);
		if (sum == (double)(int64_t)sum && sum < 9e15 && sum > -9e15)
			json_object_object_add(acc, unit, json_object_new_int64((int64_t)sum));
		else
			json_object_object_add(acc, unit, json_object_new_double(sum));
	}
}

void usage_sum_add(struct usage_sum *s, struct json_object *e)
{
	s->created += rec_i64(e, "created");
	s->completed += rec_i64(e, "completed");
	s->failed += rec_i64(e, "failed");
	s->cancelled += rec_i64(e, "cancelled");
	s->seconds_ms += rec_i64(e, "seconds_ms");
	s->frames += rec_i64(e, "frames");
	s->unmeasured += rec_i64(e, "unmeasured");
	s->cost += rec_i64(e, "cost_micros");
	s->reserved_ms += rec_i64(e, "reserved_ms");
	s->reserved_cost += rec_i64(e, "reserved_cost_micros");
	struct json_object *p = rec_obj(e, "provider_usage");
	if (p == NULL)
		return;
	if (s->provider == NULL)
		s->provider = json_object_new_object();
	usage_provider_add(s->provider, p);
}

void usage_sum_free(struct usage_sum *s)
{
	json_object_put(s->provider);
	s->provider = NULL;
}

struct json_object *usage_money_json(int64_t micros)
{
	char text[48];
	usage_money_text(micros, text, sizeof(text));
	return json_object_new_double_s((double)micros / 1e6, text);
}

struct json_object *usage_seconds_json(int64_t ms)
{
	char text[48];
	usage_seconds_text(ms, text, sizeof(text));
	return json_object_new_double_s((double)ms / 1e3, text);
}

static struct json_object *money(int64_t micros, const char *currency)
{
	struct json_object *m = json_object_new_object();
	char cur[16];
	size_t i = 0;
	for (; currency[i] && i < sizeof(cur) - 1; i++)
		cur[i] = (char)tolower((unsigned char)currency[i]);
	cur[i] = '\0';
	json_object_object_add(m, "value", usage_money_json(micros));
	json_object_object_add(m, "currency", json_object_new_string(cur));
	return m;
}

void usage_sum_fields(const struct usage_sum *s, const char *currency, struct json_object *o)
{
	int64_t live = s->created - s->completed - s->failed - s->cancelled;
	add_i64(o, "videos", s->created);
	add_i64(o, "completed", s->completed);
	add_i64(o, "failed", s->failed);
	add_i64(o, "cancelled", s->cancelled);
	add_i64(o, "in_progress", live > 0 ? live : 0);
	json_object_object_add(o, "seconds", usage_seconds_json(s->seconds_ms));
	add_i64(o, "frames", s->frames);
	add_i64(o, "unmeasured", s->unmeasured);
	json_object_object_add(o, "cost", money(s->cost, currency));
	json_object_object_add(o, "reserved_seconds", usage_seconds_json(s->reserved_ms));
	json_object_object_add(o, "reserved_cost", money(s->reserved_cost, currency));
	struct json_object *p = NULL;
	if (s->provider != NULL)
		json_object_deep_copy(s->provider, &p, NULL);
	json_object_object_add(o, "provider_usage", p ? p : json_object_new_object());
}
