/* Unit tests for backend_command.c: the stdin document, the environment and
 * progress lines. */
#include <check.h>
#include <string.h>

#include "backend_command.h"
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

static Suite *command_suite(void)
{
	Suite *s = suite_create("backend_command");
	TCase *tc = tcase_create("command");
	tcase_add_test(tc, progress_lines);
	tcase_add_test(tc, job_and_stdin);
	tcase_add_test(tc, incomplete_record_refused);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(command_suite)
