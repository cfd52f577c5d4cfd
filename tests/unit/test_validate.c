/* Unit tests for body.c and validate.c: field meanings, equivalences and the
 * error each bad field gets. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"
#include "buf.h"
#include "codec.h"
#include "config.h"
#include "testutil.h"
#include "validate.h"

static struct config *cfg;

static const char cfg_text[] =
	"{ \"listen\": \"127.0.0.1:9000\", \"data_dir\": \"/tmp/x\",\n"
	"  \"limits\": { \"max_n\": 4, \"max_metadata_bytes\": 100, \"max_prompt_chars\": 50 },\n"
	"  \"default_model\": \"local\",\n"
	"  \"models\": {\n"
	"    \"local\": { \"backends\": [{\"backend\": \"cmd\"}], \"seconds\": {\"min\": 1, \"max\": 20},\n"
	"                 \"sizes\": {\"max_width\": 1920, \"max_height\": 1920} },\n"
	"    \"sora-2\": { \"backends\": [{\"backend\": \"cmd\"}], \"seconds\": [4, 8, 12],\n"
	"                 \"sizes\": [\"720x1280\", \"1280x720\"] } },\n"
	"  \"backends\": { \"cmd\": { \"type\": \"command\", \"command\": [\"/bin/true\"] } } }";

static void setup(void)
{
	char err[512];
	cfg = config_parse(cfg_text, "test.json", "/tmp", err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
}

static void teardown(void)
{
	config_free(cfg);
}

/* run_json validates a JSON body; returns 0 or the HTTP status. */
static int run_json(const char *json, struct video_spec *s, struct api_error *e)
{
	struct body b;
	body_init(&b);
	video_spec_init(s);
	memset(e, 0, sizeof(*e));
	struct body_limits lim = { 1 << 24, 1 << 20, 1 << 24, 0, 0, 0, 64, "/tmp", NULL };
	body_text_limits(&lim, cfg->max_prompt_chars, cfg->max_metadata_bytes);
	char *text = strdup(json);
	int rc = body_parse_json(&b, text, strlen(text), &lim, e);
	if (rc == 0) {
		struct validate_input in = { b.fields,	 NULL,	       NULL,
					     b.image.at, b.image.data, b.image.len };
		rc = validate_create(cfg, &in, s, e);
	}
	body_deinit(&b);
	free(text);
	return rc == 0 ? 0 : e->status;
}

static int run_form(const char *form, struct video_spec *s, struct api_error *e)
{
	struct body b;
	body_init(&b);
	video_spec_init(s);
	memset(e, 0, sizeof(*e));
	struct form_limits fl = { 64, 256, 1 << 20, 0, "/tmp" };
	struct body_limits lim = { 1 << 24, 1 << 20, 1 << 24, 0, 0, 0, 64, "/tmp", NULL };
	body_text_limits(&lim, cfg->max_prompt_chars, cfg->max_metadata_bytes);
	int rc = form_parse_urlencoded(&b.form, form, strlen(form), &fl) == FORM_OK ? 0 : -1;
	if (rc == 0)
		rc = body_from_form(&b, &lim, e);
	if (rc == 0) {
		struct validate_input in = { b.fields,	 NULL,	       NULL,
					     b.image.at, b.image.data, b.image.len };
		rc = validate_create(cfg, &in, s, e);
	}
	body_deinit(&b);
	return rc == 0 ? 0 : (e->status ? e->status : 400);
}

/* expect_400 checks a body fails with 400 naming param. */
static void expect_400(const char *json, const char *param)
{
	struct video_spec s;
	struct api_error e;
	int st = run_json(json, &s, &e);
	ck_assert_msg(st == 400, "%s: status %d (%s)", json, st, e.message);
	ck_assert_msg(strcmp(e.param, param) == 0, "%s: param '%s', wanted '%s' (%s)", json,
		      e.param, param, e.message);
	ck_assert(strlen(e.message) > 10);
	video_spec_deinit(&s);
}

START_TEST(defaults)
{
	struct video_spec s;
	struct api_error e;
	ck_assert_int_eq(run_json("{\"prompt\":\"a cat\"}", &s, &e), 0);
	ck_assert_str_eq(s.model->name, "local");
	ck_assert_int_eq(s.seconds, 4);
	ck_assert_int_eq(s.width, 1280);
	ck_assert_int_eq(s.height, 720);
	ck_assert_int_eq(s.fps, 24);
	ck_assert_int_eq(s.n, 1);
	ck_assert_int_eq(s.has_seed, 0);
	ck_assert_int_eq(s.image, IMAGE_NONE);
	video_spec_deinit(&s);
}
END_TEST

START_TEST(seed_fields)
{
	struct video_spec s;
	struct api_error e;
	ck_assert_int_eq(
		run_json("{\"prompt\":\"x\",\"model\":\"local\",\"duration\":5,"
			 "\"width\":640,\"height\":360,\"fps\":30,\"seed\":20231234,\"n\":2,"
			 "\"response_format\":\"url\",\"user\":\"user-1234\","
			 "\"metadata\":{\"negative_prompt\":\"blur\",\"style\":\"film\"},"
			 "\"image\":\"https://example.com/image.jpg\"}",
			 &s, &e),
		0);
	ck_assert_int_eq(s.seconds, 5);
	ck_assert_int_eq(s.width, 640);
	ck_assert_int_eq(s.height, 360);
	ck_assert_int_eq(s.fps, 30);
	ck_assert(s.has_seed);
	ck_assert_uint_eq(s.seed, 20231234);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.user, "user-1234");
	ck_assert_int_eq(s.image, IMAGE_URL);
	ck_assert_str_eq(s.image_url, "https://example.com/image.jpg");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(s.metadata, "style")),
			 "film");
	video_spec_deinit(&s);
}
END_TEST

START_TEST(openai_fields)
{
	struct video_spec s;
	struct api_error e;
	ck_assert_int_eq(
		run_json(
			"{\"prompt\":\"x\",\"model\":\"sora-2\",\"seconds\":\"8\","
			"\"size\":\"720x1280\",\"input_reference\":{\"image_url\":\"https://a.b/c.png\"}}",
			&s, &e),
		0);
	ck_assert_int_eq(s.seconds, 8);
	ck_assert_int_eq(s.width, 720);
	ck_assert_int_eq(s.height, 1280);
	ck_assert_int_eq(s.image, IMAGE_URL);
	video_spec_deinit(&s);
	/* both spellings that agree are fine */
	ck_assert_int_eq(run_json("{\"prompt\":\"x\",\"seconds\":\"6\",\"duration\":6,"
				  "\"size\":\"640x480\",\"width\":640,\"height\":480}",
				  &s, &e),
			 0);
	video_spec_deinit(&s);
}
END_TEST

START_TEST(form_brackets_and_json_text)
{
	struct video_spec s;
	struct api_error e;
	ck_assert_int_eq(
		run_form("prompt=a+cat&metadata%5Bstyle%5D=film&metadata%5Bq%5D=hi"
			 "&input_reference%5Bimage_url%5D=https%3A%2F%2Fx.y%2Fz.png&seconds=5",
			 &s, &e),
		0);
	ck_assert_str_eq(s.prompt, "a cat");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(s.metadata, "style")),
			 "film");
	ck_assert_int_eq(s.image, IMAGE_URL);
	ck_assert_int_eq(s.seconds, 5);
	video_spec_deinit(&s);
	ck_assert_int_eq(run_form("prompt=x&metadata=%7B%22style%22%3A%22film%22%7D", &s, &e), 0);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(s.metadata, "style")),
			 "film");
	video_spec_deinit(&s);
	ck_assert_int_eq(run_form("prompt=x&prompt=y", &s, &e), 400);
	ck_assert_str_eq(e.param, "prompt");
	video_spec_deinit(&s);
	ck_assert_int_eq(run_form("prompt=x&metadata=%7B%7D&metadata%5Ba%5D=b", &s, &e), 400);
	video_spec_deinit(&s);
	ck_assert_int_eq(run_form("prompt=x&metadata%5Ba%5D%5Bb%5D=c", &s, &e), 400);
	video_spec_deinit(&s);
	ck_assert_int_eq(run_form("prompt=x&metadata=notjson", &s, &e), 400);
	ck_assert_str_eq(e.param, "metadata");
	video_spec_deinit(&s);
}
END_TEST

START_TEST(metadata_mirrors)
{
	struct video_spec s;
	struct api_error e;
	ck_assert_int_eq(run_json("{\"prompt\":\"x\",\"metadata\":{\"seed\":7}}", &s, &e), 0);
	ck_assert(s.has_seed);
	ck_assert_uint_eq(s.seed, 7);
	video_spec_deinit(&s);
	ck_assert_int_eq(
		run_json("{\"prompt\":\"x\",\"seed\":7,\"metadata\":{\"seed\":\"7\"}}", &s, &e), 0);
	video_spec_deinit(&s);
	expect_400("{\"prompt\":\"x\",\"seed\":7,\"metadata\":{\"seed\":8}}", "metadata.seed");
	expect_400("{\"prompt\":\"x\",\"metadata\":{\"url\":\"x\"}}", "metadata.url");
	expect_400("{\"prompt\":\"x\",\"metadata\":{\"video_ids\":[]}}", "metadata.video_ids");
}
END_TEST

START_TEST(images)
{
	struct video_spec s;
	struct api_error e;
	/* 1x1 PNG */
	const char *png =
		"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
	char body[1024];
	snprintf(body, sizeof(body), "{\"prompt\":\"x\",\"image\":\"%s\"}", png);
	ck_assert_int_eq(run_json(body, &s, &e), 0);
	ck_assert_int_eq(s.image, IMAGE_BYTES);
	ck_assert_str_eq(s.image_ext, "png");
	video_spec_deinit(&s);
	snprintf(body, sizeof(body), "{\"prompt\":\"x\",\"image\":\"data:image/png;base64,%s\"}",
		 png);
	ck_assert_int_eq(run_json(body, &s, &e), 0);
	ck_assert_int_eq(s.image, IMAGE_BYTES);
	video_spec_deinit(&s);
	snprintf(
		body, sizeof(body),
		"{\"prompt\":\"x\",\"input_reference\":{\"image_url\":\"data:image/png;base64,%s\"}}",
		png);
	ck_assert_int_eq(run_json(body, &s, &e), 0);
	ck_assert_int_eq(s.image, IMAGE_BYTES);
	video_spec_deinit(&s);
	expect_400("{\"prompt\":\"x\",\"image\":\"aGVsbG8gd29ybGQ=\"}", "image"); /* not an image */
	expect_400("{\"prompt\":\"x\",\"image\":\"!!!\"}", "image");
	expect_400("{\"prompt\":\"x\",\"image\":\"ftp://a/b.png\"}", "image");
	expect_400("{\"prompt\":\"x\",\"image\":\"http://\"}", "image");
	expect_400("{\"prompt\":\"x\",\"image\":5}", "image");
	/* a file id is api.c's to resolve (it needs the store and the key) */
	ck_assert_int_eq(
		run_json("{\"prompt\":\"x\",\"input_reference\":{\"file_id\":\"file-1\"}}", &s, &e),
		0);
	ck_assert_str_eq(s.image_file_id, "file-1");
	video_spec_deinit(&s);
	expect_400("{\"prompt\":\"x\",\"input_reference\":{\"file_id\":5}}",
		   "input_reference.file_id");
	expect_400(
		"{\"prompt\":\"x\",\"input_reference\":{\"file_id\":\"file-1\",\"image_url\":\"https://a/b.png\"}}",
		"input_reference");
	expect_400("{\"prompt\":\"x\",\"input_reference\":{\"foo\":1}}", "input_reference");
	expect_400(
		"{\"prompt\":\"x\",\"image\":\"https://a/b.png\",\"input_reference\":{\"image_url\":\"https://a/b.png\"}}",
		"input_reference");
	expect_400("{\"prompt\":\"x\",\"image\":\"data:text/plain,abc\"}", "image");
}
END_TEST

START_TEST(bad_fields)
{
	expect_400("{}", "prompt");
	expect_400("{\"prompt\":\"\"}", "prompt");
	expect_400("{\"prompt\":\"   \"}", "prompt");
	expect_400("{\"prompt\":5}", "prompt");
	expect_400("{\"prompt\":[\"a\"]}", "prompt");
	expect_400("{\"prompt\":\"123456789012345678901234567890123456789012345678901\"}",
		   "prompt");
	expect_400("{\"prompt\":\"x\",\"model\":\"nope\"}", "model");
	expect_400("{\"prompt\":\"x\",\"model\":1}", "model");
	expect_400("{\"prompt\":\"x\",\"seconds\":\"abc\"}", "seconds");
	expect_400("{\"prompt\":\"x\",\"seconds\":0}", "seconds");
	expect_400("{\"prompt\":\"x\",\"seconds\":-1}", "seconds");
	expect_400("{\"prompt\":\"x\",\"seconds\":1e308}", "seconds");
	expect_400("{\"prompt\":\"x\",\"seconds\":18446744073709551616}", "seconds");
	expect_400("{\"prompt\":\"x\",\"seconds\":4.5}", "seconds");
	expect_400("{\"prompt\":\"x\",\"seconds\":true}", "seconds");
	expect_400("{\"prompt\":\"x\",\"seconds\":21}", "seconds");
	expect_400("{\"prompt\":\"x\",\"model\":\"sora-2\",\"seconds\":\"5\"}", "seconds");
	expect_400("{\"prompt\":\"x\",\"duration\":5,\"seconds\":\"4\"}", "duration");
	expect_400("{\"prompt\":\"x\",\"size\":\"big\"}", "size");
	expect_400("{\"prompt\":\"x\",\"size\":\"1280x\"}", "size");
	expect_400("{\"prompt\":\"x\",\"size\":\" 1280x720\"}", "size");
	expect_400("{\"prompt\":\"x\",\"size\":\"1281x720\"}", "size");
	expect_400("{\"prompt\":\"x\",\"model\":\"sora-2\",\"size\":\"640x480\"}", "size");
	expect_400("{\"prompt\":\"x\",\"width\":640}", "height");
	expect_400("{\"prompt\":\"x\",\"height\":640}", "width");
	expect_400("{\"prompt\":\"x\",\"size\":\"640x480\",\"width\":640,\"height\":360}", "size");
	expect_400("{\"prompt\":\"x\",\"width\":99999,\"height\":360}", "width");
	expect_400("{\"prompt\":\"x\",\"fps\":0}", "fps");
	expect_400("{\"prompt\":\"x\",\"fps\":1000}", "fps");
	expect_400("{\"prompt\":\"x\",\"seed\":-1}", "seed");
	expect_400("{\"prompt\":\"x\",\"seed\":4294967296}", "seed");
	expect_400("{\"prompt\":\"x\",\"n\":0}", "n");
	expect_400("{\"prompt\":\"x\",\"n\":5}", "n");
	expect_400("{\"prompt\":\"x\",\"n\":\"x\"}", "n");
	expect_400("{\"prompt\":\"x\",\"response_format\":\"b64_json\"}", "response_format");
	expect_400("{\"prompt\":\"x\",\"user\":5}", "user");
	expect_400("{\"prompt\":\"x\",\"metadata\":\"x\"}", "metadata");
	expect_400("{\"prompt\":\"x\",\"metadata\":[1]}", "metadata");
	expect_400(
		"{\"prompt\":\"x\",\"metadata\":{\"k\":\"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"}}",
		"metadata");
	expect_400("{\"prompt\":\"x\",\"quality\":\"hd\"}", "quality");
}
END_TEST

START_TEST(bad_json_bodies)
{
	struct video_spec s;
	struct api_error e;
	ck_assert_int_eq(run_json("", &s, &e), 400);
	ck_assert_int_eq(run_json("{", &s, &e), 400);
	ck_assert_int_eq(run_json("[1,2]", &s, &e), 400);
	ck_assert_int_eq(run_json("\"prompt\"", &s, &e), 400);
	ck_assert_int_eq(run_json("{\"prompt\":\"x\"} trailing", &s, &e), 400);
	ck_assert_int_eq(run_json("{\"prompt\":\"\xff\"}", &s, &e), 400);
	ck_assert_int_eq(run_json("{'prompt':'x'}", &s, &e), 400);
	char deep[200];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 99);
	deep[199] = '\0';
	char body[300];
	snprintf(body, sizeof(body), "{\"prompt\":\"x\",\"metadata\":{\"a\":%s}}", deep);
	ck_assert_int_eq(run_json(body, &s, &e), 400);
	ck_assert(strstr(e.message, "nested") != NULL);
	/* a million tiny values are refused before json-c allocates them */
	size_t n = 2 * 1000000 + 2;
	char *many = malloc(n + 1);
	many[0] = '[';
	for (size_t i = 1; i < n - 1; i += 2) {
		many[i] = '0';
		many[i + 1] = ',';
	}
	many[n - 2] = '0';
	many[n - 1] = ']';
	many[n] = '\0';
	ck_assert_int_eq(run_json(many, &s, &e), 400);
	ck_assert(strstr(e.message, "values") != NULL);
	free(many);
}
END_TEST

START_TEST(remix_fields)
{
	struct video_spec s;
	struct api_error e;
	struct json_object *f = json_tokener_parse("{\"prompt\":\"again\"}");
	video_spec_init(&s);
	ck_assert_int_eq(validate_remix(cfg, f, &s, &e), 0);
	ck_assert_str_eq(s.prompt, "again");
	video_spec_deinit(&s);
	json_object_put(f);
	f = json_tokener_parse("{\"prompt\":\"again\",\"seconds\":\"4\"}");
	ck_assert_int_eq(validate_remix(cfg, f, &s, &e), -1);
	ck_assert_str_eq(e.param, "seconds");
	video_spec_deinit(&s);
	json_object_put(f);
}
END_TEST

/* long_image_body builds {"prompt":"x",<before>"<prefix><base64 of a PNG
 * of n bytes><after>} with every '/' of the base64 escaped as JSON allows. */
static char *long_image_body(const char *before, const char *prefix, const char *after, size_t n,
			     uint8_t **png)
{
	*png = malloc(n);
	for (size_t i = 0; i < n; i++)
		(*png)[i] = (uint8_t)(i * 7 + 3);
	memcpy(*png, "\x89PNG\r\n\x1a\n", 8);
	(*png)[8] = 0xff; /* base64 "/" ahead, escaped below */
	char *b64 = malloc(n / 3 * 4 + 8);
	codec_base64_encode(*png, n, b64);
	struct buf out;
	buf_init(&out, 1 << 24);
	buf_printf(&out, "{\"prompt\":\"x\",%s\"%s", before, prefix);
	for (const char *c = b64; *c; c++)
		buf_puts(&out, *c == '/' ? "\\/" : (char[]){ *c, 0 });
	buf_printf(&out, "\"%s}", after);
	free(b64);
	return buf_take(&out);
}

/* run_long parses and validates text with the limits the config gives. */
static int run_long(struct body *b, char *text, struct video_spec *s, struct api_error *e)
{
	struct body_limits lim = { 1 << 24, 1 << 20, 1 << 24, 0, 0, 0, 64, "/tmp", NULL };
	body_text_limits(&lim, cfg->max_prompt_chars, cfg->max_metadata_bytes);
	body_init(b);
	video_spec_init(s);
	memset(e, 0, sizeof(*e));
	int rc = body_parse_json(b, text, strlen(text), &lim, e);
	if (rc == 0) {
		struct validate_input in = { b->fields,	  NULL,		 NULL,
					     b->image.at, b->image.data, b->image.len };
		rc = validate_create(cfg, &in, s, e);
	}
	return rc;
}

START_TEST(long_texts)
{
	struct body b;
	struct video_spec s;
	struct api_error e;
	uint8_t *png;
	/* The test config allows 50 prompt characters: texts over 4,696
	 * bytes are long.  A long image is decoded where it lies in the body. */
	const char *shapes[][3] = {
		{ "\"image\":", "", "" },
		{ "\"image\":", "data:image/png;base64,", "" },
		{ "\"input_reference\":{\"image_url\":", "data:image/png;base64,", "}" },
		{ "\"input_reference\":", "", "" },
		{ "\"image\":\"y\",\"image\":", "", "" },
	};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		char *text = long_image_body(shapes[i][0], shapes[i][1], shapes[i][2], 30000, &png);
		ck_assert_msg(run_long(&b, text, &s, &e) == 0, "%zu: %s", i, e.message);
		ck_assert_ptr_nonnull(b.image.at);
		ck_assert_int_eq(s.image, IMAGE_BYTES);
		ck_assert_int_eq(s.image_borrowed, 1);
		ck_assert_uint_eq(s.image_len, 30000);
		ck_assert_msg(memcmp(s.image_bytes, png, 30000) == 0, "%zu: bytes differ", i);
		ck_assert((char *)s.image_bytes >= text &&
			  (char *)s.image_bytes < text + strlen(text) + 1);
		video_spec_deinit(&s);
		body_deinit(&b);
		free(text);
		free(png);
	}
	/* a later duplicate key wins, as json-c has it */
	char *text =
		long_image_body("\"image\":", "", ",\"image\":\"https://a/b.png\"", 30000, &png);
	ck_assert_int_eq(run_long(&b, text, &s, &e), 0);
	ck_assert_ptr_null(b.image.at);
	ck_assert_int_eq(s.image, IMAGE_URL);
	video_spec_deinit(&s);
	body_deinit(&b);
	free(text);
	free(png);
	/* two long images, a long image where no image goes, a long remix */
	struct buf t;
	buf_init(&t, 1 << 24);
	buf_puts(&t, "{\"prompt\":\"x\",\"image\":\"");
	for (int k = 0; k < 6000; k++)
		buf_putc(&t, 'A');
	buf_puts(&t, "\",\"input_reference\":\"");
	for (int k = 0; k < 6000; k++)
		buf_putc(&t, 'A');
	buf_puts(&t, "\"}");
	ck_assert_int_eq(run_long(&b, t.data, &s, &e), -1);
	ck_assert_str_eq(e.code, "conflicting_parameters");
	video_spec_deinit(&s);
	body_deinit(&b);
	/* long texts that are not images are refused before json-c copies them */
	const char *named[][3] = {
		{ "{\"prompt\":\"", "\"}", "prompt" },
		{ "{\"prompt\":\"x\",\"metadata\":{\"k\":\"", "\"}}", "metadata.k" },
		{ "{\"prompt\":\"x\",\"style\":\"", "\"}", "style" },
		{ "{\"prompt\":\"x\",\"image\":[\"", "\"]}", "image" },
	};
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		buf_reset(&t);
		char *big = malloc(6001);
		memset(big, 'a', 6000);
		big[6000] = '\0';
		buf_puts(&t, named[i][0]);
		buf_puts(&t, big);
		buf_puts(&t, named[i][1]);
		free(big);
		ck_assert_int_eq(run_long(&b, t.data, &s, &e), -1);
		ck_assert_int_eq(e.status, 400);
		ck_assert_str_eq(e.param, named[i][2]);
		video_spec_deinit(&s);
		body_deinit(&b);
	}
	/* many shorter texts: their total is bounded too */
	buf_reset(&t);
	buf_puts(&t, "{\"prompt\":\"x\",\"metadata\":{");
	for (int k = 0; k < 4; k++) {
		buf_printf(&t, "%s\"k%d\":\"", k ? "," : "", k);
		for (int j = 0; j < 4000; j++)
			buf_putc(&t, 'b');
		buf_putc(&t, '"');
	}
	buf_puts(&t, "}}");
	ck_assert_int_eq(run_long(&b, t.data, &s, &e), -1);
	ck_assert_str_eq(e.code, "invalid_value");
	ck_assert_msg(strstr(e.message, "in all") != NULL, "%s", e.message);
	video_spec_deinit(&s);
	body_deinit(&b);
	buf_deinit(&t);
}
END_TEST

START_TEST(long_form_image)
{
	/* urlencoded, decoded in place in the body, the image text kept there */
	uint8_t png[9000];
	for (size_t i = 0; i < sizeof(png); i++)
		png[i] = (uint8_t)(i * 13);
	memcpy(png, "\x89PNG\r\n\x1a\n", 8);
	char b64[12100];
	codec_base64_encode(png, sizeof(png), b64);
	struct buf raw;
	buf_init(&raw, 1 << 20);
	buf_puts(&raw,
		 "prompt=a+cat&input_reference%5Bimage_url%5D=data%3Aimage%2Fpng%3Bbase64%2C");
	for (const char *c = b64; *c; c++)
		buf_printf(&raw, *c == '+' || *c == '/' || *c == '=' ? "%%%02X" : "%c", *c);
	struct body b;
	struct video_spec s;
	struct api_error e;
	body_init(&b);
	video_spec_init(&s);
	struct body_limits lim = { 1 << 24, 1 << 20, 1 << 24, 0, 0, 0, 64, "/tmp", NULL };
	body_text_limits(&lim, cfg->max_prompt_chars, cfg->max_metadata_bytes);
	struct form_limits fl = { 64, 256, 1 << 20, 0, "/tmp" };
	ck_assert_int_eq(form_parse_urlencoded_inplace(&b.form, raw.data, raw.len, &fl), FORM_OK);
	ck_assert_int_eq(body_from_form(&b, &lim, &e), 0);
	ck_assert(b.image.data > raw.data && b.image.data < raw.data + raw.len);
	struct validate_input in = { b.fields, NULL, NULL, b.image.at, b.image.data, b.image.len };
	ck_assert_msg(validate_create(cfg, &in, &s, &e) == 0, "%s", e.message);
	ck_assert_str_eq(s.prompt, "a cat");
	ck_assert_int_eq(s.image_borrowed, 1);
	ck_assert_uint_eq(s.image_len, sizeof(png));
	ck_assert(memcmp(s.image_bytes, png, sizeof(png)) == 0);
	video_spec_deinit(&s);
	body_deinit(&b);
	/* a long value in a field that is no image */
	buf_reset(&raw);
	buf_puts(&raw, "prompt=");
	for (int k = 0; k < 5000; k++)
		buf_putc(&raw, 'z');
	body_init(&b);
	ck_assert_int_eq(form_parse_urlencoded_inplace(&b.form, raw.data, raw.len, &fl), FORM_OK);
	ck_assert_int_eq(body_from_form(&b, &lim, &e), -1);
	ck_assert_str_eq(e.param, "prompt");
	body_deinit(&b);
	buf_deinit(&raw);
}
END_TEST

static Suite *validate_suite(void)
{
	Suite *s = suite_create("validate");
	TCase *tc = tcase_create("validate");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, seed_fields);
	tcase_add_test(tc, openai_fields);
	tcase_add_test(tc, form_brackets_and_json_text);
	tcase_add_test(tc, metadata_mirrors);
	tcase_add_test(tc, images);
	tcase_add_test(tc, bad_fields);
	tcase_add_test(tc, bad_json_bodies);
	tcase_add_test(tc, remix_fields);
	tcase_add_test(tc, long_texts);
	tcase_add_test(tc, long_form_image);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(validate_suite)
