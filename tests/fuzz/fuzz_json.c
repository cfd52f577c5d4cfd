/*
 * fuzz_json: libFuzzer target for create and remix request bodies, from the
 * bytes to a task: body_parse_json (or, for form bodies,
 * form_parse_urlencoded + body_from_form), then validate_remix and
 * validate_create against a configuration, then what api.c does with a
 * valid request: the ignored-parameter list (backend_ignored), the task
 * record (video_record_new), the public video object (video_json), and for
 * a command backend the job, its stdin document and its environment.
 *
 * Input: the first byte picks the mode, its value mod 4 (so the ASCII
 * digits '0'..'3' at the start of a corpus file name it):
 *   0  JSON body, configuration A          1  form body, configuration A
 *   2  JSON body, configuration B          3  form body, configuration B
 * Configuration A has a model with listed durations and sizes (sora-2, on
 * an OpenAI-compatible backend), one with listed values on Kling (whose
 * backend has strict_params), and one with ranges (wan-range, on a command
 * backend); small limits so every limit is reachable.  Configuration B
 * names no model, so the embedded default (reelgate-local) is used.
 *
 * Checked, besides memory safety and leaks:
 *   - a refusal is a 400 with a code, a terminated message and param, and
 *     its envelope (api_error_json) is a JSON object;
 *   - an accepted request satisfies the model's rules and the limits (the
 *     prompt's length, allowed duration and size, fps, n, seed, image
 *     size and type, metadata size and shape);
 *   - the record and its public object are JSON objects with the fields
 *     the API promises, and the public object is valid UTF-8;
 *   - a command backend gets a job from the record, and its stdin document
 *     parses back with the same prompt;
 *   - an accepted JSON body held no string with a NUL (\u0000) or a raw
 *     control character, no single-quoted key (json-c takes them), and no
 *     integer json-c would not keep as sent (beyond int64/uint64, -0,
 *     leading zeros): an oracle walks the bytes on its own;
 *   - no string value of the accepted fields holds a NUL (its C length is
 *     its JSON length), whatever the encoding;
 *   - strict (REELGATE_FUZZ_STRICT=1): the error envelope is valid UTF-8.
 */
#include <errno.h>

#include "backend_command.h"
#include "body.h"
#include "config.h"
#include "fuzz.h"
#include "validate.h"
#include "video.h"

#include <json-c/json.h>

static const char config_a[] =
	"{ \"listen\": \"127.0.0.1:9000\", \"data_dir\": \"/tmp/reelgate-fuzz-json\",\n"
	"  \"limits\": { \"max_n\": 4, \"max_metadata_bytes\": 512, \"max_prompt_chars\": 300,\n"
	"              \"max_image_bytes\": 4096, \"max_fields\": 16, \"max_body_bytes\": 65536 },\n"
	"  \"default_model\": \"sora-2\",\n"
	"  \"models\": {\n"
	"    \"sora-2\": { \"backends\": [{\"backend\": \"openai\", \"model\": \"sora-2\"}],\n"
	"                \"seconds\": [4, 8, 12],\n"
	"                \"sizes\": [\"720x1280\", \"1280x720\", \"1024x1792\", \"1792x1024\"] },\n"
	"    \"kling-v2\": { \"backends\": [{\"backend\": \"kling\", \"model\": \"kling-v2-master\"}],\n"
	"                  \"seconds\": [5, 10], \"sizes\": [\"1280x720\", \"720x1280\", \"1024x1024\"],\n"
	"                  \"max_fps\": 30, \"default_fps\": 24 },\n"
	"    \"wan-range\": { \"backends\": [{\"backend\": \"cmd\", \"model\": \"wan-2.1\"},\n"
	"                                  {\"backend\": \"openai\"}],\n"
	"                   \"seconds\": {\"min\": 2, \"max\": 10},\n"
	"                   \"sizes\": {\"max_width\": 1280, \"max_height\": 1280},\n"
	"                   \"default_size\": \"832x480\", \"default_seconds\": 5,\n"
	"                   \"default_fps\": 16, \"max_fps\": 30, \"deadline_seconds\": 600 } },\n"
	"  \"backends\": {\n"
	"    \"cmd\": { \"type\": \"command\", \"command\": [\"/bin/true\", \"--fuzz\"] },\n"
	"    \"openai\": { \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:1/v1/\",\n"
	"                \"api_key\": \"sk-fuzz\" },\n"
	"    \"kling\": { \"type\": \"kling\", \"base_url\": \"https://127.0.0.1:1\",\n"
	"               \"access_key\": \"ak-fuzz\", \"secret_key\": \"sk-fuzz\",\n"
	"               \"strict_params\": true } } }";

static const char config_b[] =
	"{ \"listen\": \"127.0.0.1:9000\", \"data_dir\": \"/tmp/reelgate-fuzz-json\" }";

static struct config *cfgs[2];

static struct config *load(const char *text)
{
	char err[512];
	struct config *c = config_parse(text, "fuzz.json", "/tmp", err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "fuzz_json: config: %s\n", err);
		abort();
	}
	return c;
}

/* check_refusal: what http_error would send for e. */
static void check_refusal(const struct api_error *e)
{
	fuzz_check_refusal(e);
	CHECK(e->code[0] != '\0');
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* check_spec: an accepted request keeps the model's rules and the limits. */
static void check_spec(const struct config *cfg, const struct video_spec *s)
{
	const struct model_cfg *m = s->model;
	CHECK(m != NULL && config_model(cfg, m->name) == m);
	CHECK(s->prompt != NULL && s->prompt[0] != '\0');
	CHECK(strspn(s->prompt, " \t\r\n") < strlen(s->prompt));
	CHECK(utf8_ok(s->prompt));
	CHECK(utf8_chars(s->prompt) <= cfg->max_prompt_chars);
	CHECK(config_model_allows_seconds(m, s->seconds));
	CHECK(s->seconds >= 1 && s->seconds <= 3600);
	CHECK(config_model_allows_size(m, s->width, s->height));
	CHECK(s->fps >= 1 && s->fps <= m->max_fps);
	CHECK(s->n >= 1 && s->n <= cfg->max_n);
	if (!s->has_seed)
		CHECK(s->seed == 0);
	if (s->user != NULL)
		CHECK(strlen(s->user) <= 256 && utf8_ok(s->user));
	switch (s->image) {
	case IMAGE_NONE: CHECK(s->image_url == NULL && s->image_bytes == NULL); break;
	case IMAGE_URL:
		CHECK(s->image_url != NULL);
		CHECK(strncmp(s->image_url, "http://", 7) == 0 ||
		      strncmp(s->image_url, "https://", 8) == 0);
		CHECK(s->image_param != NULL);
		break;
	case IMAGE_BYTES:
		CHECK(s->image_bytes != NULL && s->image_len > 0);
		CHECK(s->image_len <= cfg->max_image_bytes);
		CHECK(s->image_ext != NULL);
		CHECK(validate_image_type(s->image_bytes, s->image_len) == s->image_ext);
		CHECK(s->image_param != NULL);
		break;
	case IMAGE_FILE: CHECK(0); /* no files in this target */
	}
	if (s->metadata != NULL) {
		CHECK(json_object_is_type(s->metadata, json_type_object));
		size_t len;
		const char *t = json_object_to_json_string_length(s->metadata,
								  JSON_C_TO_STRING_PLAIN, &len);
		CHECK(t != NULL && len <= cfg->max_metadata_bytes);
		CHECK(codec_utf8_valid(t, len));
		json_object_object_foreach(s->metadata, k, v) {
			CHECK(k[0] != '\0' && strlen(k) <= 64);
			CHECK(strcmp(k, "url") != 0 && strcmp(k, "video_ids") != 0 &&
			      strcmp(k, "image_url") != 0);
			CHECK(v == NULL || (!json_object_is_type(v, json_type_object) &&
					    !json_object_is_type(v, json_type_array)));
		}
	}
}

static struct json_object *field(struct json_object *o, const char *name)
{
	struct json_object *v = NULL;
	CHECK(json_object_object_get_ex(o, name, &v));
	return v;
}

/* check_task: the record, the public object and (command backends) the job. */
static void check_task(const struct config *cfg, struct video_spec *s)
{
	/* what api.c's check_ignored does */
	const char *ignored[17];
	backend_ignored(config_backend(cfg, s->model->backends[0].backend), &s->model->backends[0],
			s, ignored);
	size_t nign = 0;
	while (ignored[nign] != NULL) {
		CHECK(nign < 16);
		nign++;
	}
	const struct backend_cfg *b = config_backend(cfg, s->model->backends[0].backend);
	CHECK(b != NULL);
	if (nign > 0 && b->strict_params)
		return; /* refused with a 400 naming ignored[0] */
	if (nign > 0) {
		if (s->metadata == NULL)
			s->metadata = json_object_new_object();
		struct json_object *list = json_object_new_array();
		for (size_t i = 0; i < nign; i++)
			json_object_array_add(list, json_object_new_string(ignored[i]));
		json_object_object_add(s->metadata, "ignored_params", list);
	}

	static char *const ids[4] = { "video_0190d5f2a3b4c5d6e7f8091a2b3c",
				      "video_0190d5f2a3b4c5d6e7f8091a2b3d",
				      "video_0190d5f2a3b4c5d6e7f8091a2b3e",
				      "video_0190d5f2a3b4c5d6e7f8091a2b3f" };
	const char *image =
		s->image == IMAGE_BYTES ? "uploads/video_0190d5f2a3b4c5d6e7f8091a2b3c.png" : NULL;
	struct json_object *rec =
		video_record_new(s, ids[0], "key_fuzz", 1700000000123LL, ids, s->n, image, NULL);
	CHECK(rec != NULL && json_object_is_type(rec, json_type_object));
	CHECK(strcmp(json_object_get_string(field(rec, "prompt")), s->prompt) == 0);
	CHECK(strcmp(json_object_get_string(field(rec, "status")), "queued") == 0);
	struct json_object *params = field(rec, "params");
	CHECK(json_object_get_int(field(params, "seconds")) == s->seconds);
	CHECK(json_object_get_int(field(params, "width")) == s->width);
	CHECK(json_object_get_int(field(params, "height")) == s->height);
	if (s->n > 1)
		CHECK((int)json_object_array_length(field(rec, "video_ids")) == s->n);

	/* the record as stored and read back */
	const char *stored = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN);
	struct json_object *back = json_tokener_parse(stored);
	CHECK(back != NULL && json_object_is_type(back, json_type_object));

	struct buf out;
	buf_init(&out, 1 << 22);
	CHECK(video_json(back, "https://api.example.com/mnt", &out) == 0);
	CHECK(codec_utf8_valid(out.data, out.len));
	struct json_object *pub = json_tokener_parse(out.data);
	CHECK(pub != NULL && json_object_is_type(pub, json_type_object));
	static const char *const fields[] = { "id",	      "object",	    "model",
					      "status",	      "progress",   "created_at",
					      "completed_at", "expires_at", "prompt",
					      "size",	      "seconds",    "remixed_from_video_id",
					      "error",	      "metadata",   NULL };
	for (const char *const *f = fields; *f; f++)
		field(pub, *f);
	CHECK(strcmp(json_object_get_string(field(pub, "id")), ids[0]) == 0);
	CHECK(strcmp(json_object_get_string(field(pub, "prompt")), s->prompt) == 0);
	CHECK(json_object_object_get_ex(pub, "owner", NULL) == 0);
	CHECK(json_object_object_get_ex(pub, "params", NULL) == 0);
	json_object_put(pub);
	buf_deinit(&out);

	/* a command backend's job */
	if (b->type != NULL && strcmp(b->type, "command") == 0) {
		struct command_job job;
		char image_abs[4096];
		CHECK(command_job_from_record(&job, back, &s->model->backends[0], cfg->data_dir,
					      image_abs, "/tmp/reelgate-fuzz-json/out.mp4") == 0);
		struct buf in;
		buf_init(&in, 1 << 22);
		CHECK(command_stdin(&job, &in) == 0);
		CHECK(in.len > 0 && in.data[in.len - 1] == '\n');
		struct json_object *doc = json_tokener_parse(in.data);
		CHECK(doc != NULL);
		CHECK(strcmp(json_object_get_string(field(doc, "prompt")), s->prompt) == 0);
		json_object_put(doc);
		buf_deinit(&in);
		char **env = command_env(&job);
		CHECK(env != NULL);
		command_env_free(env);
	}
	json_object_put(back);
	json_object_put(rec);
}

/* integer_ok: an integer literal json-c keeps as sent. */
static int integer_ok(const uint8_t *p, size_t n)
{
	char t[64];
	if (n >= sizeof(t))
		return 0;
	memcpy(t, p, n);
	t[n] = '\0';
	const char *d = t[0] == '-' ? t + 1 : t;
	if (d[0] == '0' && d[1] != '\0')
		return 0; /* leading zeros: json-c's 007 is 7 */
	errno = 0;
	if (t[0] == '-') {
		long long v = strtoll(t, NULL, 10);
		return errno == 0 && v != 0;
	}
	(void)strtoull(t, NULL, 10);
	return errno == 0;
}

/* json_text_clean: the oracle for an accepted JSON text, walking it on its
 * own: no string holds a raw byte below 0x20 or the escape \u0000, and
 * every integer is one json-c keeps as sent. */
static int json_text_clean(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"') {
			for (i++; i < n && p[i] != '"'; i++) {
				if (p[i] < 0x20)
					return 0;
				if (p[i] == '\\' && ++i < n && p[i] == 'u' && i + 4 < n &&
				    memcmp(p + i + 1, "0000", 4) == 0)
					return 0;
			}
			continue;
		}
		if (p[i] == '\'')
			return 0; /* a single-quoted key: not JSON, and opaque to a scan */
		if (p[i] != '-' && (p[i] < '0' || p[i] > '9'))
			continue;
		size_t j = i;
		int integer = 1;
		while (j < n && memchr("+-0123456789.eE", p[j], 15) != NULL) {
			integer &= p[j] != '.' && p[j] != 'e' && p[j] != 'E';
			j++;
		}
		if (integer && !integer_ok(p + i, j - i))
			return 0;
		i = j - 1;
	}
	return 1;
}

/* check_no_nul: no string under o holds a NUL. */
static void check_no_nul(struct json_object *o)
{
	if (json_object_is_type(o, json_type_string)) {
		CHECK(strlen(json_object_get_string(o)) == (size_t)json_object_get_string_len(o));
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v) {
			(void)k;
			check_no_nul(v);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			check_no_nul(json_object_array_get_idx(o, i));
	}
}

/* parse_body turns the bytes into the field object, as body_read would:
 * kept in b->raw and decoded in place.  The second config has tiny text
 * limits, so short inputs reach the long-image path too. */
static int parse_body(struct body *b, int form, const uint8_t *data, size_t size,
		      const struct config *cfg, int tiny, struct api_error *e)
{
	struct body_limits lim = { cfg->max_body_bytes,
				   cfg->max_image_bytes,
				   cfg->max_body_bytes,
				   0,
				   0,
				   0,
				   cfg->max_fields,
				   "/tmp",
				   NULL };
	body_text_limits(&lim, cfg->max_prompt_chars, cfg->max_metadata_bytes);
	if (tiny) {
		lim.max_text = 48;
		lim.max_text_total = 160;
	}
	buf_init(&b->raw, size + 1);
	CHECK(buf_append(&b->raw, data, size) == 0);
	if (!form)
		return body_parse_json(b, b->raw.data, b->raw.len, &lim, e);
	struct form_limits fl = { cfg->max_fields, 256, cfg->max_body_bytes, 0, "/tmp" };
	enum form_err err = form_parse_urlencoded_inplace(&b->form, b->raw.data, b->raw.len, &fl);
	if (err != FORM_OK) {
		api_error_set(e, 400, "invalid_body", NULL, "%s",
			      b->form.err_msg[0] ? b->form.err_msg : form_strerror(err));
		return -1;
	}
	return body_from_form(b, &lim, e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (cfgs[0] == NULL) {
		cfgs[0] = load(config_a);
		cfgs[1] = load(config_b);
	}
	if (size == 0)
		return 0;
	int mode = data[0] % 4;
	const struct config *cfg = cfgs[mode / 2];
	int form = mode % 2;
	data++;
	size--;
	if (size > cfg->max_body_bytes)
		return 0; /* refused with 413 before it is parsed */

	struct body b;
	struct api_error e;
	body_init(&b);
	memset(&e, 0, sizeof(e));
	if (parse_body(&b, form, data, size, cfg, mode / 2, &e) < 0) {
		check_refusal(&e);
		body_deinit(&b);
		return 0;
	}
	CHECK(b.fields != NULL && json_object_is_type(b.fields, json_type_object));
	CHECK(b.file == NULL);
	if (!form)
		CHECK(json_text_clean(data, size));
	check_no_nul(b.fields);

	/* remix reads the same fields (and does not change them) */
	struct video_spec s;
	video_spec_init(&s);
	memset(&e, 0, sizeof(e));
	if (validate_remix(cfg, b.fields, &s, &e) < 0) {
		check_refusal(&e);
		CHECK(s.prompt == NULL);
	} else {
		CHECK(s.prompt != NULL && utf8_ok(s.prompt));
		CHECK(json_object_object_length(b.fields) == 1);
	}
	video_spec_deinit(&s);

	video_spec_init(&s);
	memset(&e, 0, sizeof(e));
	struct validate_input in = { b.fields, NULL, NULL, b.image.at, b.image.data, b.image.len };
	if (validate_create(cfg, &in, &s, &e) < 0) {
		check_refusal(&e);
	} else {
		check_spec(cfg, &s);
		check_task(cfg, &s);
	}
	video_spec_deinit(&s);
	body_deinit(&b);
	return 0;
}
