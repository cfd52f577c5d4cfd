/* Unit tests for metrics.c: counters in data_dir/db/metrics.shm summed over
 * processes, backend slots and their overflow, the text exposition's
 * format, and a file of another layout (or a broken one) made anew. */
#include <check.h>
#include <fcntl.h>
#include <regex.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"
#include "metrics.h"
#include "testutil.h"
#include "transfer.h"

static char *dir;

static void setup(void)
{
	dir = test_tmpdir();
	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(metrics_open(dir, 1), 0);
}

static void teardown(void)
{
	metrics_close();
	test_rmrf(dir);
	free(dir);
}

/* scrape renders everything (no database figures) into a new string. */
static char *scrape(void)
{
	struct buf b;
	buf_init(&b, 8u << 20);
	ck_assert_int_eq(metrics_render(&b, NULL), 0);
	char *s = buf_take(&b);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* value_of: the value of the sample line starting with series + " ", or -1. */
static double value_of(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return atof(p + n + 1);
	return -1;
}

static void shm_path(char *out, size_t n)
{
	snprintf(out, n, "%s/db/metrics.shm", dir);
}

START_TEST(counts_requests_by_route_and_status)
{
	for (int i = 0; i < 3; i++)
		metrics_request(ROUTE_VIDEO_GET, 200, metrics_clock());
	metrics_request(ROUTE_VIDEO_GET, 404, metrics_clock());
	metrics_request(ROUTE_NONE, 405, metrics_clock());
	metrics_request(ROUTE_METRICS, 999, metrics_clock());
	char *t = scrape();
	ck_assert_double_eq(
		value_of(t, "reelgate_http_requests_total{route=\"retrieve\",status=\"200\"}"), 3);
	ck_assert_double_eq(
		value_of(t, "reelgate_http_requests_total{route=\"retrieve\",status=\"404\"}"), 1);
	ck_assert_double_eq(
		value_of(t, "reelgate_http_requests_total{route=\"other\",status=\"405\"}"), 1);
	ck_assert_double_eq(
		value_of(t, "reelgate_http_requests_total{route=\"metrics\",status=\"other\"}"), 1);
	ck_assert_double_eq(
		value_of(t, "reelgate_http_request_duration_seconds_count{route=\"retrieve\"}"), 4);
	ck_assert_double_eq(
		value_of(
			t,
			"reelgate_http_request_duration_seconds_bucket{route=\"retrieve\",le=\"+Inf\"}"),
		4);
	/* a route never used has no series */
	ck_assert_ptr_null(strstr(t, "route=\"remix\""));
	free(t);
}
END_TEST

START_TEST(duration_lands_in_its_bucket)
{
	/* began 30 ms ago: above 0.025, within 0.05 */
	metrics_request(ROUTE_VIDEOS_CREATE, 200, metrics_clock() - 30000000u);
	char *t = scrape();
	ck_assert_double_eq(
		value_of(
			t,
			"reelgate_http_request_duration_seconds_bucket{route=\"create\",le=\"0.025\"}"),
		0);
	ck_assert_double_eq(
		value_of(
			t,
			"reelgate_http_request_duration_seconds_bucket{route=\"create\",le=\"0.05\"}"),
		1);
	double sum = value_of(t, "reelgate_http_request_duration_seconds_sum{route=\"create\"}");
	ck_assert(sum >= 0.030 && sum < 0.050);
	free(t);
}
END_TEST

START_TEST(upstream_outcomes_and_retries)
{
	struct transfer tr;
	memset(&tr, 0, sizeof(tr));
	tr.phase = PHASE_SUBMIT;
	tr.result = CURLE_OK;
	tr.status = 200;
	metrics_upstream("kling", &tr);
	tr.status = 429;
	metrics_upstream("kling", &tr);
	tr.phase = PHASE_POLL2;
	tr.status = 503;
	metrics_upstream("kling", &tr);
	tr.phase = PHASE_FETCH_VIDEO;
	tr.result = CURLE_COULDNT_CONNECT;
	metrics_upstream("kling", &tr);
	tr.blocked = 1;
	metrics_upstream("kling", &tr);
	metrics_retry("kling", PHASE_POLL);
	metrics_retry("kling", PHASE_POLL);
	char *t = scrape();
	const char *k = "reelgate_upstream_requests_total{backend=\"kling\",";
	char s[256];
	snprintf(s, sizeof(s), "%sphase=\"submit\",outcome=\"ok\"}", k);
	ck_assert_double_eq(value_of(t, s), 1);
	snprintf(s, sizeof(s), "%sphase=\"submit\",outcome=\"rate_limited\"}", k);
	ck_assert_double_eq(value_of(t, s), 1);
	snprintf(s, sizeof(s), "%sphase=\"poll\",outcome=\"server_error\"}", k);
	ck_assert_double_eq(value_of(t, s), 1);
	snprintf(s, sizeof(s), "%sphase=\"download\",outcome=\"network_error\"}", k);
	ck_assert_double_eq(value_of(t, s), 1);
	snprintf(s, sizeof(s), "%sphase=\"download\",outcome=\"refused\"}", k);
	ck_assert_double_eq(value_of(t, s), 1);
	ck_assert_double_eq(
		value_of(t, "reelgate_upstream_retries_total{backend=\"kling\",phase=\"poll\"}"),
		2);
	ck_assert_double_eq(
		value_of(
			t,
			"reelgate_upstream_request_duration_seconds_count{backend=\"kling\",phase=\"submit\"}"),
		2);
	free(t);
}
END_TEST

START_TEST(refusals_webhooks_restarts_have_every_label)
{
	metrics_refusal("rate_limit");
	metrics_refusal("cost_per_month");
	metrics_refusal("nonsense");
	metrics_webhook("delivered");
	metrics_webhook("retried");
	metrics_restart("worker");
	metrics_restart("worker");
	char *t = scrape();
	ck_assert_double_eq(value_of(t, "reelgate_refusals_total{reason=\"rate_limit\"}"), 1);
	ck_assert_double_eq(value_of(t, "reelgate_refusals_total{reason=\"cost_per_month\"}"), 1);
	ck_assert_double_eq(value_of(t, "reelgate_refusals_total{reason=\"other\"}"), 1);
	ck_assert_double_eq(value_of(t, "reelgate_refusals_total{reason=\"max_in_flight\"}"), 0);
	ck_assert_double_eq(value_of(t, "reelgate_refusals_total{reason=\"seconds_per_day\"}"), 0);
	ck_assert_double_eq(value_of(t, "reelgate_webhook_deliveries_total{outcome=\"delivered\"}"),
			    1);
	ck_assert_double_eq(value_of(t, "reelgate_webhook_deliveries_total{outcome=\"retried\"}"),
			    1);
	ck_assert_double_eq(value_of(t, "reelgate_webhook_deliveries_total{outcome=\"failed\"}"),
			    0);
	ck_assert_double_eq(value_of(t, "reelgate_process_restarts_total{process=\"worker\"}"), 2);
	free(t);
}
END_TEST

/* Children that open the file themselves (as spawn-fcgi's workers do) and
 * children that inherit the parent's mapping all add to the same counters. */
START_TEST(counters_sum_over_processes)
{
	enum { KIDS = 4, EACH = 5000 };
	pid_t kids[KIDS];
	for (int k = 0; k < KIDS; k++) {
		kids[k] = fork();
		ck_assert_int_ge(kids[k], 0);
		if (kids[k] == 0) {
			if (k % 2 == 0) { /* a mapping of its own */
				metrics_close();
				if (metrics_open(dir, 1) != 0)
					_exit(2);
			}
			for (int i = 0; i < EACH; i++) {
				metrics_refusal("max_in_flight");
				metrics_request(ROUTE_VIDEOS_LIST, 200, metrics_clock());
			}
			_exit(0);
		}
	}
	for (int k = 0; k < KIDS; k++) {
		int st;
		ck_assert_int_eq(waitpid(kids[k], &st, 0), kids[k]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	char *t = scrape();
	ck_assert_double_eq(value_of(t, "reelgate_refusals_total{reason=\"max_in_flight\"}"),
			    KIDS * EACH);
	ck_assert_double_eq(
		value_of(t, "reelgate_http_requests_total{route=\"list\",status=\"200\"}"),
		KIDS * EACH);
	free(t);
}
END_TEST

START_TEST(counters_survive_reopening)
{
	metrics_webhook("failed");
	metrics_close();
	ck_assert_int_eq(metrics_open(dir, 1), 0);
	metrics_webhook("failed");
	char *t = scrape();
	ck_assert_double_eq(value_of(t, "reelgate_webhook_deliveries_total{outcome=\"failed\"}"),
			    2);
	free(t);
}
END_TEST

START_TEST(backend_slots_overflow_into_other)
{
	static char names[80][16];
	for (int i = 0; i < 80; i++) {
		snprintf(names[i], sizeof(names[i]), "b%d", i);
		metrics_backend_gauges(names[i], i, 1, 2);
	}
	/* the same name at another address is the same slot */
	char again[16] = "b5";
	metrics_backend_gauges(again, 500, 1, 2);
	char *t = scrape();
	ck_assert_double_eq(value_of(t, "reelgate_backend_queued_tasks{backend=\"b0\"}"), 0);
	ck_assert_double_eq(value_of(t, "reelgate_backend_queued_tasks{backend=\"b5\"}"), 500);
	ck_assert_double_eq(value_of(t, "reelgate_backend_queued_tasks{backend=\"b62\"}"), 62);
	ck_assert_ptr_null(strstr(t, "backend=\"b63\""));
	ck_assert_ptr_null(strstr(t, "backend=\"b79\""));
	/* one series per name */
	const char *first = strstr(t, "reelgate_backend_queued_tasks{backend=\"b5\"}");
	ck_assert_ptr_nonnull(first);
	ck_assert_ptr_null(strstr(first + 1, "reelgate_backend_queued_tasks{backend=\"b5\"}"));
	/* counters past the table count under _other */
	metrics_retry(names[70], PHASE_SUBMIT);
	metrics_retry(names[75], PHASE_SUBMIT);
	free(t);
	t = scrape();
	ck_assert_double_eq(
		value_of(t, "reelgate_upstream_retries_total{backend=\"_other\",phase=\"submit\"}"),
		2);
	free(t);
}
END_TEST

/* Processes naming the same new backend at once end on one slot. */
START_TEST(concurrent_claims_share_a_slot)
{
	enum { KIDS = 6 };
	pid_t kids[KIDS];
	for (int k = 0; k < KIDS; k++) {
		kids[k] = fork();
		ck_assert_int_ge(kids[k], 0);
		if (kids[k] == 0) {
			metrics_close();
			if (metrics_open(dir, 1) != 0)
				_exit(2);
			char name[32];
			for (int i = 0; i < 20; i++) {
				snprintf(name, sizeof(name), "shared%d", i);
				metrics_retry(strdup(name), PHASE_POLL);
			}
			_exit(0);
		}
	}
	for (int k = 0; k < KIDS; k++) {
		int st;
		ck_assert_int_eq(waitpid(kids[k], &st, 0), kids[k]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	char *t = scrape();
	for (int i = 0; i < 20; i++) {
		char s[128];
		snprintf(s, sizeof(s),
			 "reelgate_upstream_retries_total{backend=\"shared%d\",phase=\"poll\"}", i);
		ck_assert_double_eq(value_of(t, s), KIDS);
	}
	free(t);
}
END_TEST

START_TEST(long_names_keep_one_slot)
{
	char name[200];
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	for (int i = 0; i < 5; i++) {
		char *copy = strdup(name); /* a new address each time */
		metrics_retry(copy, PHASE_POLL);
	}
	char *t = scrape();
	char want[300];
	snprintf(want, sizeof(want),
		 "reelgate_upstream_retries_total{backend=\"%.63s\",phase=\"poll\"}", name);
	ck_assert_double_eq(value_of(t, want), 5);
	free(t);
}
END_TEST

START_TEST(label_values_are_escaped)
{
	metrics_retry("we\"ird\\na\nme", PHASE_SUBMIT);
	char *t = scrape();
	ck_assert_ptr_nonnull(strstr(t, "backend=\"we\\\"ird\\\\na\\nme\""));
	free(t);
}
END_TEST

/* Every line is a HELP, a TYPE or a sample of the family whose TYPE came
 * last; counters end in _total; histogram buckets only grow, end at +Inf,
 * and +Inf equals _count. */
START_TEST(exposition_format)
{
	metrics_request(ROUTE_VIDEO_GET, 200, metrics_clock());
	metrics_request(ROUTE_VIDEO_GET, 200, metrics_clock() - 2000000000u);
	struct transfer tr;
	memset(&tr, 0, sizeof(tr));
	tr.phase = PHASE_POLL;
	tr.status = 200;
	metrics_upstream("veo", &tr);
	metrics_backend_gauges("veo", 1, 2, 3);
	metrics_loop_turn(metrics_clock());
	struct metrics_task_count tc[] = { { "sora-2", "queued", 4 }, { "sora-2", "failed", 0 } };
	struct metrics_scrape sc = { tc, 2, 1, 1 << 20, 65536 };
	struct buf b;
	buf_init(&b, 8u << 20);
	ck_assert_int_eq(metrics_render(&b, &sc), 0);
	char *t = buf_take(&b);
	ck_assert_double_eq(value_of(t, "reelgate_tasks{model=\"sora-2\",status=\"queued\"}"), 4);
	ck_assert_double_eq(value_of(t, "reelgate_lmdb_map_size_bytes"), 1 << 20);
	ck_assert_double_eq(value_of(t, "reelgate_lmdb_map_used_bytes"), 65536);
	ck_assert_double_eq(value_of(t, "reelgate_backend_in_flight_requests{backend=\"veo\"}"), 3);
	regex_t help, type, sample;
	ck_assert_int_eq(regcomp(&help, "^# HELP (reelgate_[a-z_]+) [^\n]+$", REG_EXTENDED), 0);
	ck_assert_int_eq(regcomp(&type, "^# TYPE (reelgate_[a-z_]+) (counter|gauge|histogram)$",
				 REG_EXTENDED),
			 0);
	ck_assert_int_eq(regcomp(&sample,
				 "^(reelgate_[a-z_]+)(\\{[a-z_]+=\"([^\"\\\\]|\\\\.)*\""
				 "(,[a-z_]+=\"([^\"\\\\]|\\\\.)*\")*\\})? -?[0-9.e+]+$",
				 REG_EXTENDED),
			 0);
	char fam[128] = "", ftype[16] = "";
	double last_bucket = -1;
	int lines = 0, families = 0;
	char *save = NULL;
	for (char *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		regmatch_t m[3];
		lines++;
		if (regexec(&help, line, 3, m, 0) == 0)
			continue;
		if (regexec(&type, line, 3, m, 0) == 0) {
			snprintf(fam, sizeof(fam), "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
				 line + m[1].rm_so);
			snprintf(ftype, sizeof(ftype), "%.*s", (int)(m[2].rm_eo - m[2].rm_so),
				 line + m[2].rm_so);
			int total = strlen(fam) > 6 && strcmp(fam + strlen(fam) - 6, "_total") == 0;
			ck_assert_msg(total == (strcmp(ftype, "counter") == 0),
				      "%s is a %s: only counters end in _total, and all do", fam,
				      ftype);
			families++;
			last_bucket = -1;
			continue;
		}
		ck_assert_msg(regexec(&sample, line, 3, m, 0) == 0, "not a sample line: %s", line);
		char name[128];
		snprintf(name, sizeof(name), "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line);
		if (strcmp(ftype, "histogram") == 0) {
			size_t fl = strlen(fam);
			ck_assert_msg(strncmp(name, fam, fl) == 0 &&
					      (strcmp(name + fl, "_bucket") == 0 ||
					       strcmp(name + fl, "_sum") == 0 ||
					       strcmp(name + fl, "_count") == 0),
				      "%s in histogram %s", name, fam);
			double v = atof(strrchr(line, ' ') + 1);
			if (strcmp(name + fl, "_bucket") == 0) {
				ck_assert_msg(v >= last_bucket, "buckets fall: %s", line);
				last_bucket = v;
			} else if (strcmp(name + fl, "_count") == 0) {
				ck_assert_msg(v == last_bucket, "+Inf != _count: %s", line);
				last_bucket = -1; /* a series ends with its _count */
			}
		} else {
			ck_assert_msg(strcmp(name, fam) == 0, "%s under the TYPE of %s", name, fam);
		}
	}
	ck_assert_int_ge(families, 15);
	ck_assert_int_gt(lines, 60);
	regfree(&help);
	regfree(&type);
	regfree(&sample);
	free(t);
}
END_TEST

START_TEST(bad_magic_makes_a_new_file)
{
	metrics_refusal("rate_limit");
	metrics_close();
	char path[4300];
	shm_path(path, sizeof(path));
	int fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	uint32_t bad = 0xdeadbeef;
	ck_assert_int_eq(pwrite(fd, &bad, sizeof(bad), 0), (ssize_t)sizeof(bad));
	struct stat before;
	fstat(fd, &before);
	close(fd);
	ck_assert_int_eq(metrics_open(dir, 1), 0);
	char *t = scrape();
	ck_assert_double_eq(value_of(t, "reelgate_refusals_total{reason=\"rate_limit\"}"), 0);
	free(t);
	struct stat after;
	ck_assert_int_eq(stat(path, &after), 0);
	ck_assert_int_eq(after.st_size, before.st_size);
	uint32_t magic = 0;
	fd = open(path, O_RDONLY);
	ck_assert_int_eq(pread(fd, &magic, sizeof(magic), 0), (ssize_t)sizeof(magic));
	close(fd);
	ck_assert_uint_eq(magic, 0x72674d31u);
}
END_TEST

START_TEST(short_file_makes_a_new_file)
{
	metrics_close();
	char path[4300];
	shm_path(path, sizeof(path));
	ck_assert_int_eq(truncate(path, 100), 0);
	ck_assert_int_eq(metrics_open(dir, 1), 0);
	metrics_refusal("rate_limit");
	char *t = scrape();
	ck_assert_double_eq(value_of(t, "reelgate_refusals_total{reason=\"rate_limit\"}"), 1);
	free(t);
	struct stat sb;
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_gt(sb.st_size, 100);
}
END_TEST

START_TEST(off_counts_nothing)
{
	metrics_close();
	ck_assert_int_eq(metrics_open(dir, 0), -1);
	ck_assert(!metrics_on());
	ck_assert_uint_eq(metrics_clock(), 0);
	metrics_refusal("rate_limit"); /* no crash, nothing kept */
	ck_assert_int_eq(metrics_open(dir, 1), 0);
	char *t = scrape();
	ck_assert_double_eq(value_of(t, "reelgate_refusals_total{reason=\"rate_limit\"}"), 0);
	free(t);
}
END_TEST

START_TEST(config_section)
{
	char err[512];
#define BASE "{\"data_dir\": \"/tmp/x\", \"metrics\": %s}"
	char text[512];
	snprintf(text, sizeof(text), BASE,
		 "{\"token\": \"0123456789abcdef0\", \"enabled\": false}");
	struct config *cfg = config_parse(text, "t.json", "/tmp", err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->metrics_token, "0123456789abcdef0");
	ck_assert_int_eq(cfg->metrics_enabled, 0);
	config_free(cfg);
	snprintf(text, sizeof(text), BASE, "{}");
	cfg = config_parse(text, "t.json", "/tmp", err, sizeof(err));
	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(cfg->metrics_enabled, 1);
	ck_assert_ptr_null(cfg->metrics_token);
	config_free(cfg);
	static const char *const bad[][2] = {
		{ "{\"token\": \"0123456789abcdef0\", \"token_env\": \"T\"}", "not both" },
		{ "{\"token\": \"short\"}", "metrics.token: must be at least 16" },
		{ "{\"tokn\": \"0123456789abcdef0\"}", "tokn" },
		{ "{\"enabled\": 1}", "metrics.enabled" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), BASE, bad[i][0]);
		cfg = config_parse(text, "t.json", "/tmp", err, sizeof(err));
		ck_assert_ptr_null(cfg);
		ck_assert_msg(strstr(err, bad[i][1]) != NULL, "%s: %s", bad[i][0], err);
		/* the token is never echoed */
		ck_assert_ptr_null(strstr(err, "0123456789abcdef0"));
	}
#undef BASE
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, counts_requests_by_route_and_status);
	tcase_add_test(tc, duration_lands_in_its_bucket);
	tcase_add_test(tc, upstream_outcomes_and_retries);
	tcase_add_test(tc, refusals_webhooks_restarts_have_every_label);
	tcase_add_test(tc, counters_sum_over_processes);
	tcase_add_test(tc, counters_survive_reopening);
	tcase_add_test(tc, backend_slots_overflow_into_other);
	tcase_add_test(tc, concurrent_claims_share_a_slot);
	tcase_add_test(tc, label_values_are_escaped);
	tcase_add_test(tc, long_names_keep_one_slot);
	tcase_add_test(tc, exposition_format);
	tcase_add_test(tc, bad_magic_makes_a_new_file);
	tcase_add_test(tc, short_file_makes_a_new_file);
	tcase_add_test(tc, off_counts_nothing);
	tcase_add_test(tc, config_section);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(metrics_suite)
