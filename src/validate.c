/*
 * validate: field checks and equivalences for create and remix.
 *
 * Each field has one reader; each reader either stores a checked value in the
 * spec or fills the error and returns -1.  The order of the readers is the
 * order errors are reported in.
 */
#include "validate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define USER_MAX 256
#define URL_MAX 2048

static const char *const known_fields[] = {
	"prompt",	"model",  "seconds",	     "duration", "size",
	"width",	"height", "input_reference", "image",	 "fps",
	"seed",		"n",	  "response_format", "user",	 "metadata",
	"callback_url", NULL
};

/* Metadata keys reelgate writes itself; a caller may not set them. */
static const char *const reserved_meta[] = { "url", "video_ids", "image_url", "ignored_params",
					     NULL };
/* Metadata keys that mirror a request field (see docs/api.md). */
static const char *const mirrored_meta[] = { "fps", "seed", "user", "n", "response_format", NULL };

void video_spec_init(struct video_spec *s)
{
	memset(s, 0, sizeof(*s));
}

void video_spec_deinit(struct video_spec *s)
{
	free(s->prompt);
	free(s->user);
	free(s->image_url);
	free(s->image_file_id);
	free(s->image_src);
	if (!s->image_borrowed)
		free(s->image_bytes);
	json_object_put(s->metadata);
	free(s->callback_url);
	json_object_put(s->source);
	json_object_put(s->references);
	memset(s, 0, sizeof(*s));
}

/* get returns the field or NULL when absent or JSON null. */
static struct json_object *get(struct json_object *fields, const char *name)
{
	struct json_object *v;
	if (!json_object_object_get_ex(fields, name, &v) || v == NULL)
		return NULL;
	return v;
}

static int invalid(struct api_error *e, const char *param, const char *msg)
{
	api_error_set(e, 400, "invalid_value", param, "%s", msg);
	return -1;
}

/* describe writes a short quoted rendering of v for messages. */
static const char *describe(struct json_object *v, char *out, size_t n)
{
	const char *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
	snprintf(out, n, "%.40s%s", s ? s : "?", s && strlen(s) > 40 ? "..." : "");
	return out;
}

/* to_int reads a whole number from a JSON number or a decimal string. */
static int to_int(struct json_object *v, long long *out)
{
	switch (json_object_get_type(v)) {
	case json_type_int:
		errno = 0;
		*out = json_object_get_int64(v);
		if (*out == INT64_MAX || *out == INT64_MIN)
			return -1; /* saturated: beyond any range we accept */
		return 0;
	case json_type_double: {
		double d = json_object_get_double(v);
		if (!isfinite(d) || d != floor(d) || fabs(d) > 1e15)
			return -1;
		*out = (long long)d;
		return 0;
	}
	case json_type_string: {
		const char *s = json_object_get_string(v);
		size_t len = (size_t)json_object_get_string_len(v);
		if (len == 0 || len > 20)
			return -1;
		size_t i = s[0] == '-' ? 1 : 0;
		if (i == len)
			return -1;
		long long n = 0;
		for (; i < len; i++) {
			if (s[i] < '0' || s[i] > '9' || n > 100000000000000LL)
				return -1;
			n = n * 10 + (s[i] - '0');
		}
		*out = s[0] == '-' ? -n : n;
		return 0;
	}
	default: return -1;
	}
}

/* read_int reads an optional integer field in [lo, hi]. */
static int read_int(struct json_object *fields, const char *name, long long lo, long long hi,
		    const char *what, int *present, long long *out, struct api_error *e)
{
	struct json_object *v = get(fields, name);
	*present = v != NULL;
	if (v == NULL)
		return 0;
	char shown[64];
	if (to_int(v, out) < 0) {
		api_error_set(e, 400, "invalid_value", name, "'%s' must be %s; got %s.", name, what,
			      describe(v, shown, sizeof(shown)));
		return -1;
	}
	if (*out < lo || *out > hi) {
		api_error_set(e, 400, "invalid_value", name,
			      "'%s' must be between %lld and %lld; got %lld.", name, lo, hi, *out);
		return -1;
	}
	return 0;
}

static int check_unknown(struct json_object *fields, struct api_error *e)
{
	json_object_object_foreach(fields, k, v) {
		(void)v;
		int ok = 0;
		for (const char *const *f = known_fields; *f; f++)
			if (strcmp(*f, k) == 0)
				ok = 1;
		if (!ok) {
			api_error_set(e, 400, "unknown_parameter", k,
				      "Unknown parameter: '%.100s'. Extra settings go in metadata.",
				      k);
			return -1;
		}
	}
	return 0;
}

/* utf8_chars counts code points of valid UTF-8. */
static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

static int read_prompt(const struct config *cfg, struct json_object *fields, struct video_spec *s,
		       struct api_error *e)
{
	struct json_object *v = get(fields, "prompt");
	if (v == NULL) {
		api_error_set(e, 400, "missing_required_parameter", "prompt",
			      "Missing required parameter: 'prompt'. Describe the video to make.");
		return -1;
	}
	if (!json_object_is_type(v, json_type_string))
		return invalid(e, "prompt", "'prompt' must be a string.");
	const char *p = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v);
	size_t blank = strspn(p, " \t\r\n");
	if (len == 0 || blank == len)
		return invalid(e, "prompt",
			       "'prompt' must not be empty: describe the video to make.");
	if (!codec_utf8_valid(p, len) || memchr(p, '\0', len) != NULL)
		return invalid(e, "prompt", "'prompt' must be valid UTF-8 text.");
	size_t chars = utf8_chars(p, len);
	if (chars > cfg->max_prompt_chars) {
		api_error_set(e, 400, "invalid_value", "prompt",
			      "'prompt' is too long: %zu characters, the limit is %zu.", chars,
			      cfg->max_prompt_chars);
		return -1;
	}
	s->prompt = strdup(p);
	return s->prompt ? 0 : -1;
}

static int read_model(const struct config *cfg, struct json_object *fields, struct video_spec *s,
		      struct api_error *e)
{
	struct json_object *v = get(fields, "model");
	const char *name = cfg->default_model;
	if (v != NULL) {
		if (!json_object_is_type(v, json_type_string))
			return invalid(e, "model", "'model' must be a string naming a model.");
		name = json_object_get_string(v);
	}
	s->model = config_model(cfg, name);
	if (s->model == NULL) {
		char names[512];
		config_model_names(cfg, names, sizeof(names));
		api_error_set(e, 400, "model_not_found", "model",
			      "The model '%.100s' does not exist. Available models: %s.", name,
			      names);
		return -1;
	}
	return 0;
}

static int read_seconds(struct json_object *fields, struct video_spec *s, struct api_error *e)
{
	long long sec = 0, dur = 0;
	int has_sec, has_dur;
	/* Any whole number parses here; what the model allows is said below. */
	if (read_int(fields, "seconds", -1000000000LL, 1000000000LL,
		     "a whole number of seconds such as \"4\"", &has_sec, &sec, e) < 0 ||
	    read_int(fields, "duration", -1000000000LL, 1000000000LL,
		     "a whole number of seconds such as 5", &has_dur, &dur, e) < 0)
		return -1;
	if (has_sec && has_dur && sec != dur) {
		api_error_set(e, 400, "conflicting_parameters", "duration",
			      "'duration' (%lld) and 'seconds' (%lld) disagree; send one of them.",
			      dur, sec);
		return -1;
	}
	const char *param = has_sec ? "seconds" : "duration";
	long long want = has_sec ? sec : dur;
	s->seconds_given = has_sec || has_dur;
	s->seconds = s->model->default_seconds;
	if (!s->seconds_given)
		return 0;
	if (want < 1 || want > 3600 || !config_model_allows_seconds(s->model, (int)want)) {
		char allowed[256];
		config_model_describe_seconds(s->model, allowed, sizeof(allowed));
		api_error_set(e, 400, want < 1 ? "invalid_value" : "unsupported_value", param,
			      "Model '%s' cannot make a %lld-second video; allowed '%s': %s.",
			      s->model->name, want, param, allowed);
		return -1;
	}
	s->seconds = (int)want;
	return 0;
}

/* parse_size reads "WxH" strictly: digits, 'x', digits. */
static int parse_size(const char *p, size_t len, int *w, int *h)
{
	long long a = 0, b = 0;
	size_t i = 0, da = 0, db = 0;
	for (; i < len && p[i] >= '0' && p[i] <= '9' && da < 6; i++, da++)
		a = a * 10 + (p[i] - '0');
	if (da == 0 || i >= len || (p[i] != 'x' && p[i] != 'X'))
		return -1;
	for (i++; i < len && p[i] >= '0' && p[i] <= '9' && db < 6; i++, db++)
		b = b * 10 + (p[i] - '0');
	if (db == 0 || i != len)
		return -1;
	*w = (int)a;
	*h = (int)b;
	return 0;
}

static int read_size(struct json_object *fields, struct video_spec *s, struct api_error *e)
{
	struct json_object *v = get(fields, "size");
	int sw = 0, sh = 0;
	if (v != NULL) {
		if (!json_object_is_type(v, json_type_string) ||
		    parse_size(json_object_get_string(v), (size_t)json_object_get_string_len(v),
			       &sw, &sh) < 0) {
			char shown[64];
			api_error_set(
				e, 400, "invalid_value", "size",
				"'size' must be \"WIDTHxHEIGHT\" such as \"1280x720\"; got %s.",
				describe(v, shown, sizeof(shown)));
			return -1;
		}
	}
	long long w = 0, h = 0;
	int has_w, has_h;
	if (read_int(fields, "width", 1, 100000, "a whole number of pixels", &has_w, &w, e) < 0 ||
	    read_int(fields, "height", 1, 100000, "a whole number of pixels", &has_h, &h, e) < 0)
		return -1;
	if (has_w != has_h) {
		const char *missing = has_w ? "height" : "width";
		api_error_set(e, 400, "missing_required_parameter", missing,
			      "'width' and 'height' go together: '%s' is missing.", missing);
		return -1;
	}
	if (v != NULL && has_w && (sw != w || sh != h)) {
		api_error_set(
			e, 400, "conflicting_parameters", "size",
			"'size' (%dx%d) and 'width'/'height' (%lldx%lld) disagree; send one of them.",
			sw, sh, w, h);
		return -1;
	}
	const char *param = v != NULL ? "size" : "width";
	s->size_given = v != NULL || has_w;
	if (v != NULL) {
		s->width = sw;
		s->height = sh;
	} else if (has_w) {
		s->width = (int)w;
		s->height = (int)h;
	} else {
		s->width = s->model->default_width;
		s->height = s->model->default_height;
		return 0;
	}
	if (!config_model_allows_size(s->model, s->width, s->height)) {
		char allowed[512];
		config_model_describe_sizes(s->model, allowed, sizeof(allowed));
		api_error_set(e, 400, "unsupported_value", param,
			      "Model '%s' cannot make a %dx%d video; allowed sizes: %s.",
			      s->model->name, s->width, s->height, allowed);
		return -1;
	}
	return 0;
}

/* check_metadata_entry refuses a key reelgate sets itself, a value that is
 * an object or a list, and a key that is empty, too long or not UTF-8. */
static int check_metadata_entry(const char *k, struct json_object *val, struct api_error *e)
{
	for (const char *const *r = reserved_meta; *r; r++) {
		if (strcmp(*r, k) == 0) {
			char param[64];
			snprintf(param, sizeof(param), "metadata.%s", k);
			api_error_set(e, 400, "invalid_value", param,
				      "metadata key '%s' is reserved: reelgate sets it itself.", k);
			return -1;
		}
	}
	if (val != NULL && (json_object_is_type(val, json_type_object) ||
			    json_object_is_type(val, json_type_array))) {
		char param[80];
		snprintf(param, sizeof(param), "metadata.%.64s", k);
		api_error_set(
			e, 400, "invalid_value", param,
			"metadata values must be strings, numbers, booleans or null; '%.64s' is %s.",
			k, json_object_is_type(val, json_type_object) ? "an object" : "a list");
		return -1;
	}
	if (strlen(k) == 0 || strlen(k) > 64 || !codec_utf8_valid(k, strlen(k))) {
		api_error_set(e, 400, "invalid_value", "metadata",
			      "metadata keys must be 1..64 characters of UTF-8.");
		return -1;
	}
	return 0;
}

/* fold_mirrored_meta moves each mirrored key of s->metadata into fields when
 * that field was not given (a conflicting value is a 400), and drops it from
 * the metadata kept. */
static int fold_mirrored_meta(struct json_object *fields, struct video_spec *s, struct api_error *e)
{
	for (const char *const *m = mirrored_meta; *m; m++) {
		struct json_object *mv;
		if (!json_object_object_get_ex(s->metadata, *m, &mv))
			continue;
		if (mv == NULL) { /* metadata.seed: null means not given */
			json_object_object_del(s->metadata, *m);
			continue;
		}
		struct json_object *fv = get(fields, *m);
		if (fv == NULL) {
			json_object_object_add(fields, *m, json_object_get(mv));
		} else if (strcmp(json_object_get_string(fv) ? json_object_get_string(fv) : "",
				  json_object_get_string(mv) ? json_object_get_string(mv) : "") !=
			   0) {
			char param[64];
			snprintf(param, sizeof(param), "metadata.%s", *m);
			api_error_set(e, 400, "conflicting_parameters", param,
				      "metadata.%s and '%s' disagree; send one of them.", *m, *m);
			return -1;
		}
		/* The echo is written from the checked field, not the raw text. */
		json_object_object_del(s->metadata, *m);
	}
	return 0;
}

/* read_metadata copies the caller's metadata and folds mirrored keys into
 * fields that were not given (metadata.seed works like seed). */
static int read_metadata(const struct config *cfg, struct json_object *fields, struct video_spec *s,
			 struct api_error *e)
{
	struct json_object *v = get(fields, "metadata");
	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return invalid(e, "metadata",
			       "'metadata' must be an object such as {\"style\": \"film\"}.");
	size_t len;
	const char *text = json_object_to_json_string_length(v, JSON_C_TO_STRING_PLAIN, &len);
	if (text == NULL || len > cfg->max_metadata_bytes) {
		api_error_set(e, 400, "invalid_value", "metadata",
			      "'metadata' is too large: %zu bytes as JSON, the limit is %zu.",
			      text ? len : 0, cfg->max_metadata_bytes);
		return -1;
	}
	json_object_object_foreach(v, k, val) {
		if (check_metadata_entry(k, val, e) < 0)
			return -1;
	}
	/* Text inside must be valid UTF-8 (json-c accepts \u escapes of any
	 * kind) and hold no NUL, as in the form encodings. */
	if (memmem(text, len, "\\u0000", 6) != NULL)
		return invalid(e, "metadata", "metadata values must not contain NUL characters.");
	if (!codec_utf8_valid(text, len))
		return invalid(e, "metadata", "'metadata' must be valid UTF-8.");
	s->metadata = json_tokener_parse(text); /* a private deep copy */
	return fold_mirrored_meta(fields, s, e);
}

static int read_scalars(const struct config *cfg, struct json_object *fields, struct video_spec *s,
			struct api_error *e)
{
	long long v;
	int has;
	if (read_int(fields, "fps", 1, s->model->max_fps, "a whole number of frames per second",
		     &has, &v, e) < 0)
		return -1;
	s->fps = has ? (int)v : s->model->default_fps;
	s->fps_given = has;
	if (read_int(fields, "seed", 0, 4294967295LL, "a whole number", &has, &v, e) < 0)
		return -1;
	s->has_seed = has;
	s->seed = has ? (uint32_t)v : 0;
	if (read_int(fields, "n", 1, cfg->max_n, "a whole number of videos", &has, &v, e) < 0)
		return -1;
	s->n = has ? (int)v : 1;
	struct json_object *rf = get(fields, "response_format");
	if (rf != NULL && (!json_object_is_type(rf, json_type_string) ||
			   strcmp(json_object_get_string(rf), "url") != 0)) {
		char shown[64];
		api_error_set(
			e, 400, "unsupported_value", "response_format",
			"'response_format' must be \"url\" (the only format reelgate serves); got %s.",
			describe(rf, shown, sizeof(shown)));
		return -1;
	}
	struct json_object *u = get(fields, "user");
	if (u != NULL) {
		if (!json_object_is_type(u, json_type_string) ||
		    (size_t)json_object_get_string_len(u) > USER_MAX ||
		    !codec_utf8_valid(json_object_get_string(u),
				      (size_t)json_object_get_string_len(u))) {
			api_error_set(e, 400, "invalid_value", "user",
				      "'user' must be a string of at most %d bytes.", USER_MAX);
			return -1;
		}
		s->user = strdup(json_object_get_string(u));
	}
	return validate_callback_url(fields, s, e);
}

int validate_callback_url(struct json_object *fields, struct video_spec *s, struct api_error *e)
{
	struct json_object *u = get(fields, "callback_url");
	if (u == NULL)
		return 0;
	const char *p = json_object_is_type(u, json_type_string) ? json_object_get_string(u) : "";
	size_t n = json_object_is_type(u, json_type_string) ? (size_t)json_object_get_string_len(u)
							    : 0;
	const char *rest = strncmp(p, "https://", 8) == 0  ? p + 8
			   : strncmp(p, "http://", 7) == 0 ? p + 7
							   : NULL;
	int ok = rest != NULL && n <= URL_MAX && *rest && *rest != '/' && *rest != '?' &&
		 *rest != '#';
	for (size_t i = 0; ok && i < n; i++)
		ok = (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f;
	if (!ok) {
		api_error_set(
			e, 400, "invalid_value", "callback_url",
			"'callback_url' must be an http:// or https:// URL with a host, at most %d printable characters.",
			URL_MAX);
		return -1;
	}
	s->callback_url = strdup(p);
	if (s->callback_url == NULL) {
		api_error_from_rg(e, RG_ENOMEM);
		return -1;
	}
	return 0;
}

const char *validate_image_type(const uint8_t *p, size_t len)
{
	if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "png";
	if (len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
		return "jpg";
	if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
		return "webp";
	return NULL;
}

static int url_ok(const char *u, size_t len)
{
	size_t skip = strncmp(u, "https://", 8) == 0 ? 8 : strncmp(u, "http://", 7) == 0 ? 7 : 0;
	if (skip == 0 || len <= skip || len > URL_MAX)
		return 0;
	if (u[skip] == '/' || u[skip] == '?' || u[skip] == '#')
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7f || u[i] == '\\')
			return 0;
	return 1;
}

/* decode_image turns a data URI or bare base64 into checked bytes; in place
 * when inplace (text is then the body's). */
static int decode_image(const struct config *cfg, const char *param, const char *text, size_t len,
			int inplace, struct video_spec *s, struct api_error *e)
{
	if (strncmp(text, "data:", 5) == 0) {
		const char *comma = memchr(text, ',', len);
		if (comma == NULL || (size_t)(comma - text) > 100 || (size_t)(comma - text) < 12 ||
		    memcmp(comma - 7, ";base64", 7) != 0) {
			api_error_set(e, 400, "invalid_value", param,
				      "'%s' data URL must look like data:image/png;base64,....",
				      param);
			return -1;
		}
		len -= (size_t)(comma + 1 - text);
		text = comma + 1;
	}
	if (codec_base64_decoded_max(len) > cfg->max_image_bytes + 3) {
		api_error_set(e, 400, "invalid_value", param,
			      "'%s' image is too large: the limit is %zu bytes.", param,
			      cfg->max_image_bytes);
		return -1;
	}
	s->image_bytes = inplace ? (uint8_t *)text : malloc(codec_base64_decoded_max(len) + 1);
	s->image_borrowed = inplace;
	if (s->image_bytes == NULL) {
		api_error_from_rg(e, RG_ENOMEM);
		return -1;
	}
	long n = codec_base64_decode(text, len, s->image_bytes);
	if (n <= 0) {
		api_error_set(
			e, 400, "invalid_value", param,
			"'%s' must be an http(s) URL, a data: URL or base64 image bytes; it is none of these.",
			param);
		return -1;
	}
	if ((size_t)n > cfg->max_image_bytes) {
		api_error_set(e, 400, "invalid_value", param,
			      "'%s' image is too large: the limit is %zu bytes.", param,
			      cfg->max_image_bytes);
		return -1;
	}
	s->image_len = (size_t)n;
	s->image_ext = validate_image_type(s->image_bytes, s->image_len);
	if (s->image_ext == NULL) {
		api_error_set(e, 400, "invalid_value", param,
			      "'%s' must be a PNG, JPEG or WebP image.", param);
		return -1;
	}
	s->image = IMAGE_BYTES;
	return 0;
}

/* image_from_string: an http(s) URL, a data: URL or bare base64. */
static int image_from_string(const struct config *cfg, const struct validate_input *in,
			     const char *param, struct json_object *v, struct video_spec *s,
			     struct api_error *e)
{
	const char *t = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v);
	int in_body = in->long_at != NULL && v == in->long_at;
	if (in_body) {
		t = in->long_text;
		len = in->long_len;
	}
	if (strncmp(t, "http://", 7) == 0 || strncmp(t, "https://", 8) == 0) {
		if (!url_ok(t, len)) {
			api_error_set(e, 400, "invalid_value", param,
				      "'%s' URL is malformed or longer than %d bytes.", param,
				      URL_MAX);
			return -1;
		}
		s->image = IMAGE_URL;
		s->image_url = strdup(t);
		return 0;
	}
	if (strstr(t, "://") != NULL && strstr(t, "://") - t < 16) {
		api_error_set(e, 400, "invalid_value", param, "'%s' URL must use http or https.",
			      param);
		return -1;
	}
	return decode_image(cfg, param, t, len, in_body, s, e);
}

static int image_from_reference(const struct config *cfg, const struct validate_input *in,
				struct json_object *v, struct video_spec *s, struct api_error *e)
{
	if (json_object_is_type(v, json_type_string))
		return image_from_string(cfg, in, "input_reference", v, s, e);
	if (!json_object_is_type(v, json_type_object))
		return invalid(
			e, "input_reference",
			"'input_reference' must be a file or an object {\"image_url\": \"...\"}.");
	json_object_object_foreach(v, k, val) {
		(void)val;
		if (strcmp(k, "image_url") != 0 && strcmp(k, "file_id") != 0) {
			api_error_set(
				e, 400, "unknown_parameter", "input_reference",
				"Unknown parameter: 'input_reference.%.60s'; use image_url or file_id.",
				k);
			return -1;
		}
	}
	struct json_object *url = get(v, "image_url"), *fid = get(v, "file_id");
	if ((url == NULL) == (fid == NULL))
		return invalid(
			e, "input_reference",
			"'input_reference' takes exactly one of 'file_id' (a file from POST /v1/files) and 'image_url'.");
	if (fid != NULL) {
		if (!json_object_is_type(fid, json_type_string) ||
		    json_object_get_string_len(fid) == 0 || json_object_get_string_len(fid) > 64)
			return invalid(
				e, "input_reference.file_id",
				"'input_reference.file_id' must be a file id string (file-...).");
		s->image_file_id = strdup(json_object_get_string(fid));
		if (s->image_file_id == NULL) {
			api_error_from_rg(e, RG_ENOMEM);
			return -1;
		}
		return 0;
	}
	if (url == NULL || !json_object_is_type(url, json_type_string))
		return invalid(
			e, "input_reference.image_url",
			"'input_reference.image_url' must be a string: an http(s) URL or a data: URL.");
	return image_from_string(cfg, in, "input_reference.image_url", url, s, e);
}

static int read_file_image(const struct config *cfg, const struct validate_input *in,
			   struct video_spec *s, struct api_error *e)
{
	uint8_t head[16];
	FILE *f = fopen(in->file_path, "rb");
	size_t n = f ? fread(head, 1, sizeof(head), f) : 0;
	if (f)
		fclose(f);
	s->image_param = in->file_param;
	s->image_ext = validate_image_type(head, n);
	if (s->image_ext == NULL) {
		api_error_set(e, 400, "invalid_value", in->file_param,
			      "The uploaded '%s' file must be a PNG, JPEG or WebP image.",
			      in->file_param);
		return -1;
	}
	(void)cfg;
	s->image = IMAGE_FILE;
	return 0;
}

static int read_image(const struct config *cfg, const struct validate_input *in,
		      struct video_spec *s, struct api_error *e)
{
	struct json_object *img = get(in->fields, "image");
	struct json_object *ref = get(in->fields, "input_reference");
	int given = (img != NULL) + (ref != NULL) + (in->file_path != NULL);
	if (given > 1) {
		api_error_set(
			e, 400, "conflicting_parameters", "input_reference",
			"Send one image per task: either 'input_reference' or 'image', not both.");
		return -1;
	}
	if (in->file_path != NULL)
		return read_file_image(cfg, in, s, e);
	if (ref != NULL) {
		s->image_param = "input_reference";
		return image_from_reference(cfg, in, ref, s, e);
	}
	if (img != NULL) {
		s->image_param = "image";
		if (!json_object_is_type(img, json_type_string))
			return invalid(
				e, "image",
				"'image' must be a string: an http(s) URL, a data: URL or base64.");
		return image_from_string(cfg, in, "image", img, s, e);
	}
	return 0;
}

int validate_create(const struct config *cfg, const struct validate_input *in, struct video_spec *s,
		    struct api_error *e)
{
	if (check_unknown(in->fields, e) < 0 || read_prompt(cfg, in->fields, s, e) < 0 ||
	    read_model(cfg, in->fields, s, e) < 0 || read_metadata(cfg, in->fields, s, e) < 0 ||
	    read_seconds(in->fields, s, e) < 0 || read_size(in->fields, s, e) < 0 ||
	    read_scalars(cfg, in->fields, s, e) < 0 || read_image(cfg, in, s, e) < 0)
		return -1;
	return 0;
}

int validate_remix(const struct config *cfg, struct json_object *fields, struct video_spec *s,
		   struct api_error *e)
{
	json_object_object_foreach(fields, k, v) {
		(void)v;
		if (strcmp(k, "prompt") != 0 && strcmp(k, "callback_url") != 0) {
			api_error_set(
				e, 400, "unknown_parameter", k,
				"Unknown parameter: '%.100s'. A remix takes only 'prompt' (and 'callback_url').",
				k);
			return -1;
		}
	}
	if (read_prompt(cfg, fields, s, e) < 0)
		return -1;
	return validate_callback_url(fields, s, e);
}
