/* Unit tests for backend_command.c: the stdin document, the environment,
 * progress lines, and the edits and extensions a command backend declares. */
#include <check.h>
#include <string.h>

#include "backend_command.h"
#include "config.h"
#include "testutil.h"

START_TEST(progress_lines)
{
	ck_assert_int_eq(command_progress("progress 0", 10), 0);
	ck_assert_int_eq(command_progress("progress 42", 11), 42);
	ck_assert_int_eq(command_progress("progress 100", 12), 100);
	ck_assert_int_eq(command_progress("progress 42.5", 13), 42);
	ck_assert_int_eq(command_progress("progress 42%", 12), 42);
	ck_assert_int_eq(command_progress("progress 42\r", 12), 42);
	ck_assert_int_eq(command_progress("progress 101", 12), -1);
	ck_assert_int_eq(command_progress("progress -1", 11), -1);
	ck_assert_int_eq(command_progress("progress", 8), -1);
	ck_assert_int_eq(command_progress("progress x", 10), -1);
	ck_assert_int_eq(command_progress("progress 4 2", 12), -1);
	ck_assert_int_eq(command_progress("frame=42", 8), -1);
	ck_assert_int_eq(command_progress("progress 99999", 14), -1);
}
END_TEST

static struct json_object *record(void)
{
	return json_tokener_parse(
		"{\"id\":\"video_x\",\"prompt\":\"a \\\"cat\\\"\\n\",\"params\":{\"width\":640,"
		"\"height\":360,\"seconds\":3,\"fps\":12,\"seed\":7,\"image\":{\"kind\":\"file\","
		"\"path\":\"uploads/img_1.png\"}},\"metadata\":{\"style\":\"film\"}}");
}

START_TEST(job_and_stdin)
{
	struct json_object *rec = record();
	struct model_backend mb = { "local", "up-model" };
	struct command_job job;
	char image[4096];
	ck_assert_int_eq(
		command_job_from_record(&job, rec, &mb, "/data", image, "/data/content/o.mp4"), 0);
	ck_assert_str_eq(job.image_path, "/data/uploads/img_1.png");
	ck_assert_int_eq(job.width, 640);
	ck_assert(job.has_seed);
	struct buf b;
	buf_init(&b, 1 << 16);
	ck_assert_int_eq(command_stdin(&job, &b), 0);
	struct json_object *doc = json_tokener_parse(b.data);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(doc, "prompt")),
			 "a \"cat\"\n");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(doc, "size")), "640x360");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(doc, "output")),
			 "/data/content/o.mp4");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(doc, "model")), "up-model");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(doc, "seed")), 7);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(
				 json_object_object_get(doc, "metadata"), "style")),
			 "film");
	json_object_put(doc);
	buf_deinit(&b);
	char **env = command_env(&job);
	ck_assert_ptr_nonnull(env);
	int seen = 0;
	for (char **e = env; *e; e++) {
		if (strcmp(*e, "REELGATE_WIDTH=640") == 0 || strcmp(*e, "REELGATE_SEED=7") == 0 ||
		    strcmp(*e, "REELGATE_PROMPT=a \"cat\"\n") == 0 ||
		    strcmp(*e, "REELGATE_IMAGE=/data/uploads/img_1.png") == 0)
			seen++;
	}
	ck_assert_int_eq(seen, 4);
	command_env_free(env);
	json_object_put(rec);
}
END_TEST

START_TEST(incomplete_record_refused)
{
	struct json_object *rec = json_tokener_parse("{\"id\":\"video_x\",\"prompt\":\"p\"}");
	struct command_job job;
	char image[4096];
	ck_assert_int_eq(command_job_from_record(&job, rec, NULL, "/d", image, "/o"), -1);
	json_object_put(rec);
	rec = json_tokener_parse(
		"{\"id\":\"video_x\",\"prompt\":\"p\",\"params\":{\"width\":2,"
		"\"height\":2,\"seconds\":1,\"fps\":1,\"image\":{\"path\":\"../etc/passwd\"}}}");
	ck_assert_int_eq(command_job_from_record(&job, rec, NULL, "/d", image, "/o"), 0);
	ck_assert_ptr_null(job.image_path);
	json_object_put(rec);
}
END_TEST

/* env_has: whether env holds the exact "NAME=value" string want. */
static int env_has(char **env, const char *want)
{
	for (char **e = env; e && *e; e++)
		if (strcmp(*e, want) == 0)
			return 1;
	return 0;
}

static struct json_object *op_record(const char *op, int seconds, const char *source,
				     int source_seconds, int segment)
{
	char text[1024];
	snprintf(text, sizeof(text),
		 "{\"id\":\"video_x\",\"prompt\":\"later\",\"op\":\"%s\",\"params\":{\"width\":320,"
		 "\"height\":180,\"seconds\":%d,\"fps\":12,\"source\":{\"path\":\"%s\","
		 "\"seconds\":%d,\"width\":320,\"height\":180,\"ext\":\"mp4\"}%s%.0d}}",
		 op, seconds, source, source_seconds, segment ? ",\"segment_seconds\":" : "",
		 segment);
	struct json_object *rec = json_tokener_parse(text);
	ck_assert_msg(rec != NULL, "%s", text);
	return rec;
}

START_TEST(create_says_so)
{
	struct json_object *rec = record();
	struct command_job job;
	char image[4096];
	ck_assert_int_eq(command_job_from_record(&job, rec, NULL, "/data", image, "/o.mp4"), 0);
	ck_assert_ptr_null(job.op);
	ck_assert_uint_eq(job.op_bit, 0);
	struct buf b;
	buf_init(&b, 1 << 16);
	ck_assert_int_eq(command_stdin(&job, &b), 0);
	struct json_object *doc = json_tokener_parse(b.data);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(doc, "op")), "create");
	ck_assert(!json_object_object_get_ex(doc, "source", NULL));
	ck_assert(!json_object_object_get_ex(doc, "segment_seconds", NULL));
	json_object_put(doc);
	buf_deinit(&b);
	char **env = command_env(&job);
	ck_assert(env_has(env, "REELGATE_OP=create"));
	ck_assert(env_has(env, "REELGATE_SOURCE="));
	ck_assert(env_has(env, "REELGATE_SOURCE_SECONDS="));
	ck_assert(env_has(env, "REELGATE_SEGMENT_SECONDS="));
	command_env_free(env);
	json_object_put(rec);
}
END_TEST

START_TEST(extension_job)
{
	struct json_object *rec = op_record("extend", 12, "uploads/src_a.mp4", 4, 8);
	struct command_job job;
	char image[4096];
	ck_assert_int_eq(command_job_from_record(&job, rec, NULL, "/data", image, "/o.mp4"), 0);
	ck_assert_str_eq(job.op, "extend");
	ck_assert_uint_eq(job.op_bit, BOP_EXTEND);
	ck_assert_str_eq(job.source_path, "/data/uploads/src_a.mp4");
	struct buf b;
	buf_init(&b, 1 << 16);
	ck_assert_int_eq(command_stdin(&job, &b), 0);
	struct json_object *doc = json_tokener_parse(b.data), *src = NULL;
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(doc, "op")), "extend");
	ck_assert(json_object_object_get_ex(doc, "source", &src));
	ck_assert_str_eq(json_object_get_string(json_object_object_get(src, "path")),
			 "/data/uploads/src_a.mp4");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(src, "seconds")), 4);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(doc, "segment_seconds")), 8);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(doc, "seconds")), 12);
	json_object_put(doc);
	buf_deinit(&b);
	char **env = command_env(&job);
	ck_assert(env_has(env, "REELGATE_OP=extend"));
	ck_assert(env_has(env, "REELGATE_SOURCE=/data/uploads/src_a.mp4"));
	ck_assert(env_has(env, "REELGATE_SOURCE_SECONDS=4"));
	ck_assert(env_has(env, "REELGATE_SEGMENT_SECONDS=8"));
	ck_assert(env_has(env, "REELGATE_SECONDS=12"));
	command_env_free(env);
	json_object_put(rec);
}
END_TEST

START_TEST(edit_job)
{
	struct json_object *rec = op_record("edit", 4, "uploads/src_b.webm", 4, 0);
	struct command_job job;
	char image[4096];
	ck_assert_int_eq(command_job_from_record(&job, rec, NULL, "/d", image, "/o.mp4"), 0);
	ck_assert_uint_eq(job.op_bit, BOP_EDIT);
	ck_assert_int_eq(job.segment_seconds, 0);
	char **env = command_env(&job);
	ck_assert(env_has(env, "REELGATE_OP=edit"));
	ck_assert(env_has(env, "REELGATE_SOURCE=/d/uploads/src_b.webm"));
	ck_assert(env_has(env, "REELGATE_SOURCE_SECONDS=4"));
	ck_assert(env_has(env, "REELGATE_SEGMENT_SECONDS="));
	command_env_free(env);
	json_object_put(rec);
}
END_TEST

/* A record the program could not honour is refused before it runs: an
 * operation it does not know, a source outside uploads/, lengths that do
 * not add up. */
START_TEST(bad_operation_records_refused)
{
	static const struct {
		const char *op, *path;
		int seconds, source, segment;
	} bad[] = {
		{ "remix", "uploads/src_a.mp4", 4, 4, 0 },
		{ "extend2", "uploads/src_a.mp4", 8, 4, 4 },
		{ "extend", "uploads/../db/data.mdb", 8, 4, 4 },
		{ "extend", "content/video_a.mp4", 8, 4, 4 },
		{ "extend", "/etc/passwd", 8, 4, 4 },
		{ "extend", "uploads/src_a.mp4", 8, 4, 0 },
		{ "extend", "uploads/src_a.mp4", 9, 4, 4 },
		{ "extend", "uploads/src_a.mp4", 4, 0, 4 },
		{ "edit", "uploads/src_a.mp4", 5, 4, 0 },
		{ "edit", "uploads/src_a.mp4", 4, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *rec = op_record(bad[i].op, bad[i].seconds, bad[i].path,
						    bad[i].source, bad[i].segment);
		struct command_job job;
		char image[4096];
		ck_assert_msg(command_job_from_record(&job, rec, NULL, "/d", image, "/o") == -1,
			      "case %zu accepted", i);
		json_object_put(rec);
	}
	struct json_object *rec = json_tokener_parse(
		"{\"id\":\"video_x\",\"prompt\":\"p\",\"op\":\"edit\",\"params\":{\"width\":2,"
		"\"height\":2,\"seconds\":1,\"fps\":1}}");
	struct command_job job;
	char image[4096];
	ck_assert_int_eq(command_job_from_record(&job, rec, NULL, "/d", image, "/o"), -1);
	json_object_put(rec);
}
END_TEST

static char cfg_err[1024];

static struct config *parse(const char *backends)
{
	char text[2048];
	snprintf(text, sizeof(text), "{ \"data_dir\": \"/tmp/d\", \"backends\": { %s } }",
		 backends);
	cfg_err[0] = '\0';
	return config_parse(text, "/etc/rg.json", "/etc", cfg_err, sizeof(cfg_err));
}

START_TEST(operations_declared)
{
	struct config *c = parse(
		"\"a\": { \"type\": \"command\", \"command\": [\"/bin/true\"],"
		" \"operations\": [\"extend\", \"edit\"] },"
		"\"b\": { \"type\": \"command\", \"command\": [\"/bin/true\"] },"
		"\"c\": { \"type\": \"command\", \"command\": [\"/bin/true\"], \"operations\": [\"extend\"] },"
		"\"d\": { \"type\": \"command\", \"command\": [\"/bin/true\"], \"operations\": [] }");
	ck_assert_msg(c != NULL, "%s", cfg_err);
	static const struct {
		const char *name;
		unsigned bits;
	} want[] = { { "a", BOP_EDIT | BOP_EXTEND },
		     { "b", 0 },
		     { "c", BOP_EXTEND },
		     { "d", 0 },
		     { "local", BOP_EDIT | BOP_EXTEND } }; /* the embedded default */
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct backend_cfg *b = config_backend(c, want[i].name);
		ck_assert_ptr_nonnull(b);
		ck_assert_uint_eq(command_ops(b), want[i].bits);
		ck_assert_uint_eq(backend_ops(b, NULL), want[i].bits);
	}
	config_free(c);
}
END_TEST

START_TEST(operations_refused)
{
	static const char *const bad[] = {
		"[\"resize\"]",	    "[\"edit\", \"edit\"]", "\"edit\"",		"[1]",
		"[\"characters\"]", "[\"Edit\"]",	    "{\"edit\": true}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char entry[256];
		snprintf(entry, sizeof(entry),
			 "\"b\": { \"type\": \"command\", \"command\": [\"/bin/true\"],"
			 " \"operations\": %s }",
			 bad[i]);
		struct config *c = parse(entry);
		ck_assert_msg(c == NULL, "accepted: %s", bad[i]);
		ck_assert_msg(strstr(cfg_err, "backends.b.operations") != NULL, "%s: %s", bad[i],
			      cfg_err);
	}
}
END_TEST

/* prepare runs only what the entry declares: a task made while the
 * backend listed the operation is not run as a create after the list
 * lost it. */
START_TEST(prepare_only_declared)
{
	struct config *c =
		parse("\"on\": { \"type\": \"command\", \"command\": [\"/bin/true\"],"
		      " \"operations\": [\"edit\", \"extend\"] },"
		      "\"off\": { \"type\": \"command\", \"command\": [\"/bin/true\"] }");
	ck_assert_msg(c != NULL, "%s", cfg_err);
	struct json_object *rec = op_record("extend", 8, "uploads/src_a.mp4", 4, 4);
	struct json_object *create = record();
	const char *names[] = { "on", "off" };
	for (int i = 0; i < 2; i++) {
		struct backend b;
		char e[256];
		ck_assert_int_eq(
			backend_init(&b, config_backend(c, names[i]), "/tmp/d", e, sizeof(e)), 0);
		struct local_job job;
		local_job_init(&job);
		ck_assert_int_eq(b.type->prepare(&b, NULL, rec, "/tmp/d/o.mp4", &job),
				 i == 0 ? 0 : -1);
		local_job_deinit(&job);
		local_job_init(&job);
		ck_assert_int_eq(b.type->prepare(&b, NULL, create, "/tmp/d/o.mp4", &job), 0);
		ck_assert_int_eq(job.seconds, 3);
		local_job_deinit(&job);
		backend_deinit(&b);
	}
	json_object_put(rec);
	json_object_put(create);
	config_free(c);
}
END_TEST

static Suite *command_suite(void)
{
	Suite *s = suite_create("backend_command");
	TCase *tc = tcase_create("command");
	tcase_add_test(tc, progress_lines);
	tcase_add_test(tc, job_and_stdin);
	tcase_add_test(tc, incomplete_record_refused);
	tcase_add_test(tc, create_says_so);
	tcase_add_test(tc, extension_job);
	tcase_add_test(tc, edit_job);
	tcase_add_test(tc, bad_operation_records_refused);
	tcase_add_test(tc, operations_declared);
	tcase_add_test(tc, operations_refused);
	tcase_add_test(tc, prepare_only_declared);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(command_suite)
