/* Unit tests for config.c: defaults, comments, and errors that name the file
 * and the key. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>

#include "backend_command.h"
#include "config.h"
#include "testutil.h"

static char err[1024];

static struct config *parse(const char *text)
{
	err[0] = '\0';
	return config_parse(text, "/etc/rg.json", "/etc", err, sizeof(err));
}

static void expect_error(const char *text, const char *key)
{
	struct config *c = parse(text);
	ck_assert_msg(c == NULL, "accepted: %s", text);
	ck_assert_msg(strstr(err, "/etc/rg.json") != NULL, "no file in: %s", err);
	ck_assert_msg(strstr(err, key) != NULL, "no key %s in: %s", key, err);
}

START_TEST(minimal_uses_embedded_default)
{
	struct config *c = parse("{ \"data_dir\": \"data\" }");
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->data_dir, "/etc/data");
	ck_assert_str_eq(c->default_model, "reelgate-local");
	ck_assert_uint_eq(c->nmodels, 1);
	ck_assert_str_eq(c->backends[0].type, "command");
	ck_assert_int_eq(c->workers, 4);
	ck_assert_int_eq(c->durable, 1);
	ck_assert_int_eq(c->max_n, 4);
	config_free(c);
}
END_TEST

START_TEST(comments_and_full)
{
	struct config *c = parse(
		"/* header */ {\n"
		"  // line comment\n"
		"  \"listen\": \"unix:/run/rg.sock\", \"listen_mode\": \"0666\", \"workers\": 3,\n"
		"  \"data_dir\": \"/var/lib/rg\", \"public_url\": \"https://v.example.com/\",\n"
		"  \"limits\": { \"max_body_bytes\": 1048576, \"max_n\": 2 },\n"
		"  \"db\": { \"map_mb\": 8, \"max_map_mb\": 64, \"durable\": false },\n"
		"  \"content\": { \"delivery\": \"x-accel-redirect\" },\n"
		"  \"models\": { \"m\": { \"backends\": [{\"backend\": \"b\", \"model\": \"up\"}],\n"
		"      \"seconds\": [4, 8], \"sizes\": [\"1280x720\"] } },\n"
		"  \"backends\": { \"b\": { \"type\": \"command\", \"command\": [\"./gen.sh\", \"-x\"], \"concurrency\": 3 } }\n"
		"}\n");
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->listen, "unix:/run/rg.sock");
	ck_assert_int_eq(c->listen_mode, 0666);
	ck_assert_str_eq(c->public_url, "https://v.example.com");
	ck_assert_uint_eq(c->max_body_bytes, 1048576);
	ck_assert_int_eq(c->durable, 0);
	ck_assert_int_eq(c->delivery, DELIVERY_X_ACCEL);
	const struct model_cfg *m = config_model(c, "m");
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->default_seconds, 4);
	ck_assert_int_eq(m->default_width, 1280);
	ck_assert(config_model_allows_seconds(m, 8));
	ck_assert(!config_model_allows_seconds(m, 5));
	ck_assert(!config_model_allows_size(m, 720, 1280));
	char **argv = command_argv(&c->backends[0]);
	ck_assert_ptr_nonnull(argv);
	ck_assert_str_eq(argv[0], "/etc/./gen.sh");
	ck_assert_str_eq(argv[1], "-x");
	ck_assert_ptr_null(argv[2]);
	command_argv_free(argv);
	ck_assert_ptr_eq(c->backends[0].module, backend_type_find("command"));
	config_free(c);
}
END_TEST

START_TEST(errors_name_the_key)
{
	expect_error("{ \"data_dir\": \"d\", \"wokers\": 4 }", "wokers");
	expect_error("{ \"data_dir\": \"d\", \"workers\": 0 }", "workers");
	expect_error("{ \"data_dir\": \"d\", \"workers\": \"4\" }", "workers");
	expect_error("{ \"workers\": 4 }", "data_dir");
	expect_error("{ \"data_dir\": \"d\", \"listen\": \"nowhere\" }", "listen");
	expect_error("{ \"data_dir\": \"d\", \"listen\": \"127.0.0.1:99999\" }", "listen");
	expect_error("{ \"data_dir\": \"d\", \"limits\": { \"max_bodybytes\": 1 } }",
		     "limits.max_bodybytes");
	expect_error("{ \"data_dir\": \"d\", \"db\": { \"map_mb\": 64, \"max_map_mb\": 8 } }",
		     "db.max_map_mb");
	expect_error("{ \"data_dir\": \"d\", \"content\": { \"delivery\": \"sendfile\" } }",
		     "content.delivery");
	expect_error(
		"{ \"data_dir\": \"d\", \"models\": { \"m\": { \"backends\": [{\"backend\": \"x\"}] } } }",
		"models.m.backends[0].backend");
	expect_error("{ \"data_dir\": \"d\", \"models\": { \"m\": { \"backends\": [] } } }",
		     "models.m.backends");
	expect_error("{ \"data_dir\": \"d\", \"default_model\": \"zz\" }", "default_model");
	expect_error("{ \"data_dir\": \"d\", \"backends\": { \"b\": { \"type\": \"magic\" } } }",
		     "backends.b.type");
	expect_error("{ \"data_dir\": \"d\", \"backends\": { \"b\": { \"type\": \"command\" } } }",
		     "backends.b.command");
	expect_error(
		"{ \"data_dir\": \"d\", \"models\": { \"m\": { \"backends\": [{\"backend\": \"local\"}],"
		" \"seconds\": [4], \"default_seconds\": 5 } } }",
		"models.m.default_seconds");
}
END_TEST

/* Backends but no models: the embedded default model and its backend are
 * added after the file's backends (the array grew in place; it was
 * reallocated from scratch and written past its end). */
START_TEST(backends_without_models)
{
	struct config *c =
		parse("{ \"data_dir\": \"d\", \"backends\": {"
		      " \"a\": { \"type\": \"command\", \"command\": [\"/bin/true\"] },"
		      " \"b\": { \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:9/v1/\","
		      " \"api_key\": \"k\", \"poll_seconds\": 2 } } }");
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->nbackends, 3);
	ck_assert_str_eq(c->backends[0].name, "a");
	ck_assert_str_eq(c->backends[1].name, "b");
	ck_assert_str_eq(c->backends[1].base_url, "http://127.0.0.1:9/v1");
	ck_assert_int_eq(c->backends[1].poll_ms, 2000);
	ck_assert_int_eq(c->backends[1].request_timeout_ms, 60000);
	ck_assert_str_eq(c->backends[2].name, "local");
	ck_assert_ptr_nonnull(config_model(c, "reelgate-local"));
	ck_assert_ptr_nonnull(config_backend(c, "local"));
	config_free(c);
}
END_TEST

/* image_urls: the allow list and timeout of input images fetched by URL
 * (none allowed and 60 s by default). */
START_TEST(image_urls)
{
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	struct config *c = parse("{ \"data_dir\": \"d\" }");
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->image_url_timeout_ms, 60000);
	ck_assert(ssrf_blocked((struct sockaddr *)&lo, &c->image_url_policy, NULL));
	config_free(c);
	c = parse("{ \"data_dir\": \"d\", \"image_urls\": { \"allow_addresses\": [\"127.0.0.1\"],"
		  " \"timeout_seconds\": 5 } }");
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->image_url_timeout_ms, 5000);
	ck_assert(!ssrf_blocked((struct sockaddr *)&lo, &c->image_url_policy, NULL));
	config_free(c);
	expect_error("{ \"data_dir\": \"d\", \"image_urls\": { \"allow\": [] } }",
		     "image_urls.allow");
	expect_error(
		"{ \"data_dir\": \"d\", \"image_urls\": { \"allow_addresses\": [\"nowhere\"] } }",
		"image_urls.allow_addresses");
	expect_error("{ \"data_dir\": \"d\", \"image_urls\": { \"timeout_seconds\": 0 } }",
		     "image_urls.timeout_seconds");
	expect_error("{ \"data_dir\": \"d\", \"image_urls\": [] }", "image_urls");
}
END_TEST

START_TEST(syntax_errors_give_a_line)
{
	struct config *c = parse("{\n \"data_dir\": \"d\",\n \"workers\" 4\n}\n");
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err, "line") != NULL, "%s", err);
	c = parse("{ \"data_dir\": \"d\" } extra");
	ck_assert_ptr_null(c);
	c = parse("[1]");
	ck_assert_ptr_null(c);
}
END_TEST

START_TEST(shipped_example_is_valid)
{
	const char *src = getenv("REELGATE_SRCDIR");
	char path[1024];
	snprintf(path, sizeof(path), "%s/etc/reelgate.json", src ? src : "..");
	struct config *c = config_load(path, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	config_free(c);
}
END_TEST

#define S3_HEAD "{ \"data_dir\": \"d\", \"content\": { \"store\": \"s3\", "
#define S3_OK                                                                                      \
	"\"endpoint\": \"http://127.0.0.1:9000/\", \"bucket\": \"vids\", \"access_key\": \"AK\", " \
	"\"secret_key\": \"SK\""

/* content.store "s3": its settings, defaults, and every bad value refused
 * naming its key. */
START_TEST(content_s3)
{
	struct config *c = parse("{ \"data_dir\": \"d\" }");
	ck_assert_int_eq(c->store, STORE_LOCAL);
	config_free(c);
	c = parse(S3_HEAD "\"s3\": {" S3_OK ", \"path_style\": true } } }");
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->store, STORE_S3);
	ck_assert_str_eq(c->s3.endpoint, "http://127.0.0.1:9000");
	ck_assert_str_eq(c->s3.region, "us-east-1");
	ck_assert_str_eq(c->s3.prefix, "");
	ck_assert_int_eq(c->s3.presign_seconds, 300);
	ck_assert_int_eq(c->s3.presign_reuse_seconds, 60);
	ck_assert_int_eq(c->s3.delete_recheck_seconds, 600);
	ck_assert_uint_eq(c->s3.part_bytes, 8u << 20);
	ck_assert_int_eq(c->s3.delivery, S3_REDIRECT);
	ck_assert_str_eq(c->s3.proxy_prefix, "/_reelgate_s3/");
	ck_assert_int_eq(c->s3.path_style, 1);
	config_free(c);
	setenv("RG_TEST_S3_SECRET", "from-env", 1);
	c = parse(S3_HEAD
		  "\"delivery\": \"proxy\", \"s3\": { \"endpoint\": \"https://s3.x\", "
		  "\"bucket\": \"vids\", \"access_key\": \"AK\", \"secret_key_env\": "
		  "\"RG_TEST_S3_SECRET\", \"part_bytes\": 5242880, \"prefix\": \"a/b-\" } } }");
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->s3.secret_key, "from-env");
	ck_assert_int_eq(c->s3.delivery, S3_PROXY);
	config_free(c);
	expect_error(S3_HEAD "\"s3\": { \"bucket\": \"vids\" } } }", "content.s3.endpoint");
	expect_error(S3_HEAD "\"s3\": { \"endpoint\": \"http://127.0.0.1:9000\", \"access_key\": "
			     "\"AK\", \"secret_key\": \"SK\" } } }",
		     "content.s3.bucket");
	expect_error("{ \"data_dir\": \"d\", \"content\": { \"store\": \"s4\" } }",
		     "content.store");
	expect_error(S3_HEAD "\"x\": 1 } }", "content.x");
	expect_error(S3_HEAD "\"delivery\": \"x-accel-redirect\", \"s3\": {" S3_OK "} } }",
		     "content.delivery");
	expect_error(S3_HEAD "\"proxy_prefix\": \"/a\", \"s3\": {" S3_OK "} } }",
		     "content.proxy_prefix");
	expect_error(S3_HEAD "\"s3\": {" S3_OK ", \"part_bytes\": 1000 } } }",
		     "content.s3.part_bytes");
	expect_error(S3_HEAD "\"s3\": {" S3_OK ", \"presign_seconds\": 0 } } }",
		     "content.s3.presign_seconds");
	/* a link lives presign_seconds + presign_reuse_seconds at most: a week
	 * at most; the default reuse (60) shortens to fit, a given one does
	 * not */
	c = parse(S3_HEAD "\"s3\": {" S3_OK ", \"presign_reuse_seconds\": 0 } } }");
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->s3.presign_reuse_seconds, 0);
	config_free(c);
	c = parse(S3_HEAD "\"s3\": {" S3_OK ", \"presign_seconds\": 604780 } } }");
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->s3.presign_reuse_seconds, 20);
	config_free(c);
	expect_error(S3_HEAD "\"s3\": {" S3_OK
			     ", \"presign_seconds\": 604780, \"presign_reuse_seconds\": 21 } } }",
		     "content.s3.presign_reuse_seconds");
	expect_error(S3_HEAD "\"s3\": {" S3_OK ", \"presign_reuse_seconds\": 3601 } } }",
		     "content.s3.presign_reuse_seconds");
	expect_error(S3_HEAD "\"s3\": {" S3_OK ", \"presign_reuse_seconds\": \"60\" } } }",
		     "content.s3.presign_reuse_seconds");
	c = parse(S3_HEAD "\"s3\": {" S3_OK ", \"delete_recheck_seconds\": 0 } } }");
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->s3.delete_recheck_seconds, 0);
	config_free(c);
	expect_error(S3_HEAD "\"s3\": {" S3_OK ", \"delete_recheck_seconds\": 86401 } } }",
		     "content.s3.delete_recheck_seconds");
	expect_error(S3_HEAD "\"s3\": {" S3_OK ", \"delete_recheck_seconds\": -1 } } }",
		     "content.s3.delete_recheck_seconds");
	expect_error(S3_HEAD "\"s3\": {" S3_OK ", \"delete_recheck_seconds\": true } } }",
		     "content.s3.delete_recheck_seconds");
	expect_error(S3_HEAD "\"s3\": {" S3_OK ", \"bucket\": \"A_B\" } } }", "content.s3.bucket");
	expect_error(S3_HEAD "\"s3\": {" S3_OK ", \"region\": \"EU WEST\" } } }",
		     "content.s3.region");
	expect_error(S3_HEAD "\"s3\": {" S3_OK ", \"prefix\": \"../x\" } } }", "content.s3.prefix");
	expect_error(S3_HEAD "\"s3\": {" S3_OK ", \"endpoint\": \"ftp://x\" } } }",
		     "content.s3.endpoint");
	expect_error(S3_HEAD "\"s3\": {" S3_OK ", \"endpoint\": \"http://u@x\" } } }",
		     "content.s3.endpoint");
	expect_error(S3_HEAD "\"s3\": {" S3_OK ", \"allow_addresses\": [\"nope\"] } } }",
		     "content.s3.allow_addresses");
	expect_error(S3_HEAD "\"s3\": {" S3_OK ", \"secret_key_env\": \"X\" } } }",
		     "content.s3.secret_key");
	/* a variable unset (a CLI run without the server's environment):
	 * loaded without the secret; the server logs s3_unusable */
	unsetenv("RG_TEST_UNSET_VAR");
	c = parse(S3_HEAD
		  "\"s3\": { \"endpoint\": \"http://x\", \"bucket\": \"vids\", "
		  "\"access_key\": \"AK\", \"secret_key_env\": \"RG_TEST_UNSET_VAR\" } } }");
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->s3.secret_key, "");
	config_free(c);
	expect_error(S3_HEAD "\"s3\": { \"endpoint\": \"http://x\", \"bucket\": \"vids\", "
			     "\"secret_key\": \"SK\" } } }",
		     "content.s3.access_key");
	expect_error(S3_HEAD "\"path_style\": 1 } }", "content.path_style");
	/* no secret in any message */
	expect_error(S3_HEAD "\"s3\": {" S3_OK ", \"part_bytes\": -1 } } }",
		     "content.s3.part_bytes");
	ck_assert_ptr_null(strstr(err, "SK\""));
	expect_error("{ \"data_dir\": \"d\", \"content\": { \"s3\": {" S3_OK "} } }", "content.s3");
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	tcase_add_test(tc, minimal_uses_embedded_default);
	tcase_add_test(tc, comments_and_full);
	tcase_add_test(tc, errors_name_the_key);
	tcase_add_test(tc, backends_without_models);
	tcase_add_test(tc, image_urls);
	tcase_add_test(tc, content_s3);
	tcase_add_test(tc, syntax_errors_give_a_line);
	tcase_add_test(tc, shipped_example_is_valid);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(config_suite)
