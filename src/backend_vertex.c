/*
 * backend_vertex: Veo on Vertex AI.  A task is one predictLongRunning call
 * (text-to-video, or image-to-video with the image inline as base64); the
 * operation it names is polled with fetchPredictOperation.  The result
 * comes back inline as base64 in the operation (handed to the core as a
 * span of the answer, which is kept in a file), or, when the backend has a
 * storage_uri, as a gs:// object downloaded through the Cloud Storage JSON
 * API with the same bearer token, sent to that host only.
 *
 * Auth is an OAuth2 access token: minted here from a service-account JSON
 * file (the RFC 7523 JWT-bearer grant, the JWT signed RS256 with the
 * file's private key, fetched through the core's PHASE_AUTH hook and
 * cached until shortly before it expires), or a token managed outside
 * (access_token / access_token_env).
 *
 * Vertex offers no correlation for a submit whose answer was lost (no
 * idempotency key, no client reference echoed, publisher-model operations
 * cannot be listed) and no cancel of Veo operations: neither
 * BCAP_RECONCILE nor BCAP_CANCEL (docs/backends.md, "vertex").
 */
#include "backend_util.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"

#define VERTEX_SCOPE "https://www.googleapis.com/auth/cloud-platform"
#define VERTEX_GRANT "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
#define VERTEX_TOKEN_URI "https://oauth2.googleapis.com/token"
#define VERTEX_STORAGE "https://storage.googleapis.com/storage/v1"
#define VERTEX_MODEL "veo-3.0-generate-001"
/* the largest inline image: Vertex caps a request near 20 MB [unverified] */
#define VERTEX_IMAGE_MAX (15u << 20)
/* the largest poll answer: a video inline as base64 */
#define VERTEX_INLINE_MAX ((size_t)512 << 20)

struct vertex_state {
	int minting;	  /* 1: tokens minted from the service account */
	EVP_PKEY *key;	  /* the service account's private key */
	char email[256];  /* its client_email (iss) */
	char key_id[128]; /* its private_key_id (kid) */
	char token_uri[1024];
	char token[4096];	  /* the bearer token, minted or configured */
	long long token_renew_at; /* mint again from then on (0: never) */
	int refused;		  /* 401s since the last success */
	char storage_base[1024];  /* the Cloud Storage JSON API, no '/' at the end */
};

static const char *const vertex_keys[] = { "project",	       "location",
					   "credentials_file", "credentials_path",
					   "access_token",     "access_token_env",
					   "storage_base_url", "storage_uri",
					   "generate_audio",   NULL };

/* ---- configuration ------------------------------------------------------------ */

/* name_ok: a path segment of a Google resource name (project, location,
 * model): letters, digits and ._:- only, so that it cannot change a URL. */
static int name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == ':';
}

static int name_ok(const char *s)
{
	if (s == NULL || s[0] == '\0' || strlen(s) > 128)
		return 0;
	for (; *s; s++)
		if (!name_char(*s))
			return 0;
	return 1;
}

static int http_url(const char *s)
{
	return s && (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0);
}

/* check_credentials reads the service-account file enough to refuse a wrong
 * one here (every process); the key itself is loaded by init alone. */
static int check_credentials(struct confcheck *c, struct json_object *o, const char *key)
{
	char k2[320];
	char *file = NULL;
	snprintf(k2, sizeof(k2), "%s.credentials_file", key);
	if (cc_string(c, o, "credentials_file", k2, &file) < 0)
		return -1;
	char *abs = cc_resolve(c, file);
	free(file);
	struct json_object *sa = abs ? backend_load_json(abs) : NULL;
	if (sa == NULL) {
		cc_fail(c, k2, "cannot read %s as a JSON service-account key file",
			abs ? abs : "the file");
		free(abs);
		return -1;
	}
	const char *type = rec_str(sa, "type"), *uri = rec_str(sa, "token_uri");
	int rc = 0;
	if (type && strcmp(type, "service_account") != 0)
		rc = cc_fail(c, k2, "is a \"%.40s\" credential, not a service_account key", type);
	else if (rec_str(sa, "client_email") == NULL || rec_str(sa, "private_key") == NULL)
		rc = cc_fail(c, k2, "has no client_email or private_key");
	else if (uri && !http_url(uri))
		rc = cc_fail(c, k2, "token_uri is not an http(s) URL");
	json_object_put(sa);
	if (rc == 0)
		json_object_object_add(o, "credentials_path", json_object_new_string(abs));
	free(abs);
	return rc;
}

static int vertex_check(struct confcheck *c, struct json_object *o, const char *key)
{
	char k2[320];
	static const char *const names[] = { "project", "location" };
	for (size_t i = 0; i < 2; i++) {
		char *v = NULL;
		snprintf(k2, sizeof(k2), "%s.%s", key, names[i]);
		if (cc_string(c, o, names[i], k2, &v) < 0)
			return -1;
		int ok = name_ok(v);
		free(v);
		if (!ok)
			return cc_fail(c, k2, "missing, or not a Google %s id (letters, digits, -)",
				       names[i]);
	}
	json_object_object_del(o, "credentials_path"); /* ours, never the file's */
	int has_file = json_object_object_get_ex(o, "credentials_file", NULL);
	int has_token = json_object_object_get_ex(o, "access_token", NULL) ||
			json_object_object_get_ex(o, "access_token_env", NULL);
	snprintf(k2, sizeof(k2), "%s.credentials_file", key);
	if (has_file == has_token)
		return cc_fail(
			c, k2,
			"give either credentials_file (a service-account key) or access_token / access_token_env");
	if (has_file ? check_credentials(c, o, key) < 0 : cc_secret(c, o, key, "access_token") < 0)
		return -1;
	char *v = NULL;
	snprintf(k2, sizeof(k2), "%s.storage_base_url", key);
	if (cc_string(c, o, "storage_base_url", k2, &v) < 0)
		return -1;
	int bad = v && !http_url(v);
	free(v);
	if (bad)
		return cc_fail(c, k2, "not an http(s) URL");
	v = NULL;
	snprintf(k2, sizeof(k2), "%s.storage_uri", key);
	if (cc_string(c, o, "storage_uri", k2, &v) < 0)
		return -1;
	bad = v && (strncmp(v, "gs://", 5) != 0 || strlen(v) < 6 || strlen(v) > 900);
	free(v);
	if (bad)
		return cc_fail(c, k2, "must be a gs://bucket/prefix URI");
	int audio = 0;
	snprintf(k2, sizeof(k2), "%s.generate_audio", key);
	return cc_bool(c, o, "generate_audio", k2, &audio);
}

/* load_key reads the service account (checked by vertex_check) into st;
 * the PEM text is wiped from memory once parsed. */
static int load_key(struct vertex_state *st, const char *path)
{
	struct json_object *sa = backend_load_json(path);
	if (sa == NULL)
		return -1;
	struct json_object *pk;
	const char *email = rec_str(sa, "client_email"), *kid = rec_str(sa, "private_key_id");
	const char *uri = rec_str(sa, "token_uri");
	int rc = -1;
	if (json_object_object_get_ex(sa, "private_key", &pk) &&
	    json_object_is_type(pk, json_type_string) && email &&
	    strlen(email) < sizeof(st->email)) {
		char *pem = (char *)json_object_get_string(pk);
		BIO *bio = BIO_new_mem_buf(pem, -1);
		st->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
		OPENSSL_cleanse(pem, strlen(pem));
		if (st->key && EVP_PKEY_base_id(st->key) == EVP_PKEY_RSA)
			rc = 0;
		snprintf(st->email, sizeof(st->email), "%s", email);
		snprintf(st->key_id, sizeof(st->key_id), "%s", kid && name_ok(kid) ? kid : "");
		snprintf(st->token_uri, sizeof(st->token_uri), "%s", uri ? uri : VERTEX_TOKEN_URI);
	}
	json_object_put(sa);
	return rc;
}

static int vertex_init(struct backend *bc, char *err, size_t errlen)
{
	struct vertex_state *st = bc->state;
	const char *base = rec_str(bc->cfg->raw, "storage_base_url");
	snprintf(st->storage_base, sizeof(st->storage_base), "%s", base ? base : VERTEX_STORAGE);
	size_t n = strlen(st->storage_base);
	while (n > 0 && st->storage_base[n - 1] == '/')
		st->storage_base[--n] = '\0';
	const char *path = rec_str(bc->cfg->raw, "credentials_path");
	if (path) {
		st->minting = 1;
		if (load_key(st, path) < 0) {
			snprintf(
				err, errlen,
				"backend %s: credentials_file holds no usable RSA private_key and client_email",
				bc->cfg->name);
			return -1;
		}
		return 0;
	}
	if (backend_secret(bc->cfg, "access_token", st->token, sizeof(st->token)) < 0) {
		snprintf(
			err, errlen,
			"backend %s: access_token is empty (give it in the config or through access_token_env)",
			bc->cfg->name);
		return -1;
	}
	return 0;
}

static void vertex_deinit(struct backend *bc)
{
	struct vertex_state *st = bc->state;
	EVP_PKEY_free(st->key);
	st->key = NULL;
	OPENSSL_cleanse(st->token, sizeof(st->token));
}

/* ---- the token ------------------------------------------------------------------ */

static int token_usable(const struct vertex_state *st)
{
	if (!st->minting)
		return 1;
	return st->token[0] && (long long)time(NULL) < st->token_renew_at;
}

/* b64url_json appends base64url(JSON text of o) to out. */
static void b64url_json(struct json_object *o, struct buf *out)
{
	const char *text = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(text);
	char *enc = malloc(len / 3 * 4 + 8);
	if (enc == NULL)
		return;
	codec_base64url_encode((const uint8_t *)text, len, enc);
	buf_puts(out, enc);
	free(enc);
}

/* token_request builds the JWT-bearer grant (RFC 7523) for a new token:
 * the assertion is signed RS256 with the service account's key. */
static int token_request(struct vertex_state *st, struct http_req *req, struct remote_answer *ans)
{
	long long now = (long long)time(NULL);
	struct json_object *h = json_object_new_object(), *p = json_object_new_object();
	json_object_object_add(h, "alg", json_object_new_string("RS256"));
	json_object_object_add(h, "typ", json_object_new_string("JWT"));
	if (st->key_id[0])
		json_object_object_add(h, "kid", json_object_new_string(st->key_id));
	json_object_object_add(p, "iss", json_object_new_string(st->email));
	json_object_object_add(p, "scope", json_object_new_string(VERTEX_SCOPE));
	json_object_object_add(p, "aud", json_object_new_string(st->token_uri));
	json_object_object_add(p, "iat", json_object_new_int64(now));
	json_object_object_add(p, "exp", json_object_new_int64(now + 3600));
	struct buf jwt;
	buf_init(&jwt, 16384);
	b64url_json(h, &jwt);
	buf_puts(&jwt, ".");
	b64url_json(p, &jwt);
	json_object_put(h);
	json_object_put(p);
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && jwt.data && EVP_PKEY_size(st->key) <= (int)sizeof(sig) &&
		 EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, st->key) == 1 &&
		 EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)jwt.data, jwt.len) == 1;
	EVP_MD_CTX_free(ctx);
	char enc[1400];
	if (ok) {
		codec_base64url_encode(sig, siglen, enc);
		ok = buf_puts(&jwt, ".") == 0 && buf_puts(&jwt, enc) == 0;
	}
	if (ok) {
		snprintf(req->method, sizeof(req->method), "POST");
		snprintf(req->url, sizeof(req->url), "%s", st->token_uri);
		http_req_header(req, "Content-Type", "application/x-www-form-urlencoded");
		ok = buf_puts(&req->body, "grant_type=" VERTEX_GRANT "&assertion=") == 0 &&
		     buf_append(&req->body, jwt.data, jwt.len) == 0;
		req->auth = 1;
	}
	if (jwt.data)
		OPENSSL_cleanse(jwt.data, jwt.len);
	buf_deinit(&jwt);
	if (!ok) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_auth_failed");
		snprintf(ans->message, sizeof(ans->message),
			 "reelgate could not sign a token request with the backend's "
			 "service-account key.");
		return -1;
	}
	return 0;
}

/* token_answer reads the token service's answer into the state. */
static void token_answer(struct vertex_state *st, long status, struct json_object *o,
			 struct remote_answer *ans)
{
	const char *tok = rec_str(o, "access_token");
	struct json_object *v;
	long long expires = o && json_object_object_get_ex(o, "expires_in", &v) &&
					    json_object_is_type(v, json_type_int)
				    ? json_object_get_int64(v)
				    : 3600;
	if (status == 200 && tok && tok[0] && strlen(tok) < sizeof(st->token) && expires > 0) {
		snprintf(st->token, sizeof(st->token), "%s", tok);
		/* renewed a minute early, or a quarter of a short life */
		long long margin = expires >= 240 ? 60 : expires / 4;
		st->token_renew_at = (long long)time(NULL) + expires - margin;
		ans->verdict = RV_OK;
		return;
	}
	if (status == 200 || status == 0 || status == 408 || status == 429 || status >= 500) {
		ans->verdict = RV_RETRY;
		return;
	}
	/* OAuth's {"error": "invalid_grant", "error_description": ...}: the
	 * code is a fixed word, the description is not repeated. */
	const char *err = rec_str(o, "error");
	int word = err && err[0] && strlen(err) < 40 &&
		   strspn(err, "abcdefghijklmnopqrstuvwxyz_") == strlen(err);
	ans->verdict = RV_FAIL;
	snprintf(ans->code, sizeof(ans->code), "upstream_auth_failed");
	snprintf(ans->message, sizeof(ans->message),
		 "Google's token service refused the backend's service account (HTTP %ld%s%s); "
		 "the operator must check credentials_file (a deleted key, or a clock far off).",
		 status, word ? " " : "", word ? err : "");
}

static void bearer(struct vertex_state *st, struct http_req *req)
{
	char value[4200];
	snprintf(value, sizeof(value), "Bearer %s", st->token);
	http_req_secret_header(req, "Authorization", value);
	OPENSSL_cleanse(value, sizeof(value));
}

/* ---- the submit ----------------------------------------------------------------- */

static int is_veo2(const char *model)
{
	return strncmp(model, "veo-2", 5) == 0;
}

/* veo_seconds: the duration Veo makes for a request of s seconds (Veo 2:
 * 5..8; Veo 3: 4, 6 or 8). */
static int veo_seconds(const char *model, int s)
{
	if (is_veo2(model))
		return s < 5 ? 5 : s > 8 ? 8 : s;
	return s <= 5 ? 4 : s <= 7 ? 6 : 8;
}

static const char *aspect_of(int w, int h)
{
	return w >= h ? "16:9" : "9:16";
}

static const char *resolution_of(int w, int h)
{
	int shorter = w < h ? w : h;
	return shorter <= 720 ? "720p" : shorter <= 1080 ? "1080p" : "4k";
}

/* size_exact: is w x h exactly what an aspectRatio and resolution make? */
static int size_exact(int w, int h)
{
	int shorter = w < h ? w : h;
	return (w * 9 == h * 16 || w * 16 == h * 9) &&
	       (shorter == 720 || shorter == 1080 || shorter == 2160);
}

static const char *model_of(const struct model_backend *mb)
{
	return mb && mb->model ? mb->model : VERTEX_MODEL;
}

/* Provider-native settings a caller may give in metadata, passed into
 * parameters as given (Vertex judges the values).  Both spellings. */
static const char *const passthrough[][2] = {
	{ "generateAudio", "generate_audio" }, { "personGeneration", "person_generation" },
	{ "resolution", "resolution" },	       { "aspectRatio", "aspect_ratio" },
	{ "enhancePrompt", "enhance_prompt" }, { "compressionQuality", "compression_quality" },
	{ "resizeMode", "resize_mode" },
};

/* meta_value: the metadata value for a Vertex parameter (a copy; "true"
 * and "false" as booleans), or NULL. */
static struct json_object *meta_value(struct json_object *rec, const char *camel, const char *snake)
{
	struct json_object *m, *v = NULL;
	if (!json_object_object_get_ex(rec, "metadata", &m) ||
	    !json_object_is_type(m, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(m, camel, &v))
		json_object_object_get_ex(m, snake, &v);
	if (v == NULL || json_object_is_type(v, json_type_null))
		return NULL;
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)
			return json_object_new_boolean(s[0] == 't');
	}
	return json_object_get(v);
}

static const char *image_mime(struct json_object *rec)
{
	struct json_object *p = rec_obj(rec, "params");
	const char *ext = rec_str(rec_obj(p, "image"), "ext");
	if (ext && strcmp(ext, "webp") == 0)
		return "image/webp";
	if (ext && (strcmp(ext, "jpg") == 0 || strcmp(ext, "jpeg") == 0))
		return "image/jpeg";
	return "image/png";
}

static struct json_object *parameters(struct backend *bc, const char *model,
				      struct json_object *rec)
{
	struct json_object *p = json_object_new_object();
	int w = remote_param_int(rec, "width", 1280), h = remote_param_int(rec, "height", 720);
	json_object_object_add(p, "sampleCount", json_object_new_int(1));
	json_object_object_add(
		p, "durationSeconds",
		json_object_new_int(veo_seconds(model, remote_param_int(rec, "seconds", 8))));
	json_object_object_add(p, "aspectRatio", json_object_new_string(aspect_of(w, h)));
	if (!is_veo2(model))
		json_object_object_add(p, "resolution",
				       json_object_new_string(resolution_of(w, h)));
	unsigned long seed;
	if (remote_has_seed(rec, &seed))
		json_object_object_add(p, "seed",
				       json_object_new_int64((int64_t)(seed & 0xffffffffUL)));
	if (remote_param_int(rec, "fps", 0) == 24)
		json_object_object_add(p, "fps", json_object_new_int(24));
	const char *neg = remote_meta_str(rec, "negative_prompt");
	if (neg)
		json_object_object_add(p, "negativePrompt", json_object_new_string(neg));
	struct json_object *audio;
	if (!is_veo2(model) && json_object_object_get_ex(bc->cfg->raw, "generate_audio", &audio))
		json_object_object_add(p, "generateAudio",
				       json_object_new_boolean(json_object_get_boolean(audio)));
	const char *uri = rec_str(bc->cfg->raw, "storage_uri");
	if (uri)
		json_object_object_add(p, "storageUri", json_object_new_string(uri));
	for (size_t i = 0; i < sizeof(passthrough) / sizeof(*passthrough); i++) {
		struct json_object *v = meta_value(rec, passthrough[i][0], passthrough[i][1]);
		if (v)
			json_object_object_add(p, passthrough[i][0], v);
	}
	return p;
}

static int submit_body(struct backend *bc, const char *model, struct json_object *rec,
		       struct http_req *req, struct remote_answer *ans)
{
	struct json_object *inst = json_object_new_object();
	json_object_object_add(
		inst, "prompt",
		json_object_new_string(rec_str(rec, "prompt") ? rec_str(rec, "prompt") : ""));
	if (remote_has_image(rec)) {
		char *b64 = remote_image_b64(bc->data_dir, rec, VERTEX_IMAGE_MAX);
		if (b64 == NULL) {
			json_object_put(inst);
			ans->verdict = RV_FAIL;
			snprintf(ans->code, sizeof(ans->code), "invalid_image");
			snprintf(
				ans->message, sizeof(ans->message),
				"The input image cannot be sent to Vertex AI (it must be a file of at most 15 MB).");
			return -1;
		}
		struct json_object *img = json_object_new_object();
		json_object_object_add(img, "bytesBase64Encoded", json_object_new_string(b64));
		json_object_object_add(img, "mimeType", json_object_new_string(image_mime(rec)));
		json_object_object_add(inst, "image", img);
		free(b64);
	}
	struct json_object *body = json_object_new_object(), *list = json_object_new_array();
	json_object_array_add(list, inst);
	json_object_object_add(body, "instances", list);
	json_object_object_add(body, "parameters", parameters(bc, model, rec));
	int rc = buf_puts(&req->body,
			  json_object_to_json_string_ext(
				  body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(body);
	return rc;
}

/* ---- requests ------------------------------------------------------------------- */

/* op_prefix: the resource an operation belongs to ("projects/.../models/M"
 * of "projects/.../models/M/operations/ID"), when it is a plain name. */
static int op_prefix(const char *name, char *out, size_t n)
{
	const char *at = name ? strstr(name, "/operations/") : NULL;
	if (at == NULL || strncmp(name, "projects/", 9) != 0 || (size_t)(at - name) >= n ||
	    strstr(name, ".."))
		return -1;
	for (const char *s = name; s < at; s++)
		if (!name_char(*s) && *s != '/')
			return -1;
	snprintf(out, n, "%.*s", (int)(at - name), name);
	return 0;
}

static int vertex_build(struct backend *bc, const struct model_backend *mb, struct json_object *rec,
			enum remote_phase ph, struct http_req *req, struct remote_answer *ans)
{
	struct vertex_state *st = bc->state;
	const char *model = model_of(mb);
	const char *project = rec_str(bc->cfg->raw, "project");
	const char *location = rec_str(bc->cfg->raw, "location");
	if (!name_ok(model)) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "unsupported_value");
		snprintf(ans->message, sizeof(ans->message),
			 "The backend entry's model is not a Vertex AI model id.");
		return -1;
	}
	if (ph != PHASE_SUBMIT && ph != PHASE_POLL && ph != PHASE_FETCH_VIDEO)
		return -1;
	const char *url = remote_get(rec, "video_url");
	if (ph == PHASE_FETCH_VIDEO && (url == NULL || url[0] == '\0'))
		return -1;
	int to_storage = ph == PHASE_FETCH_VIDEO &&
			 strncmp(url, st->storage_base, strlen(st->storage_base)) == 0 &&
			 url[strlen(st->storage_base)] == '/';
	if ((ph != PHASE_FETCH_VIDEO || to_storage) && !token_usable(st))
		return token_request(st, req, ans);
	if (ph == PHASE_FETCH_VIDEO) {
		snprintf(req->url, sizeof(req->url), "%s", url);
		if (to_storage) /* never to another host, nor after a redirect */
			bearer(st, req);
		return 0;
	}
	char resource[1024];
	snprintf(resource, sizeof(resource), "projects/%s/locations/%s/publishers/google/models/%s",
		 project, location, model);
	snprintf(req->method, sizeof(req->method), "POST");
	http_req_header(req, "Content-Type", "application/json");
	bearer(st, req);
	if (ph == PHASE_SUBMIT) {
		snprintf(req->url, sizeof(req->url), "%s/%s:predictLongRunning", bc->cfg->base_url,
			 resource);
		return submit_body(bc, model, rec, req, ans);
	}
	const char *op = remote_get(rec, "upstream_id");
	if (op == NULL || op[0] == '\0')
		return -1;
	char own[1024];
	snprintf(req->url, sizeof(req->url), "%s/%s:fetchPredictOperation", bc->cfg->base_url,
		 op_prefix(op, own, sizeof(own)) == 0 ? own : resource);
	if (!rec_str(bc->cfg->raw, "storage_uri"))
		req->max_bytes = VERTEX_INLINE_MAX; /* the video comes inline */
	struct json_object *b = json_object_new_object();
	json_object_object_add(b, "operationName", json_object_new_string(op));
	int rc = buf_puts(&req->body,
			  json_object_to_json_string_ext(
				  b, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(b);
	return rc;
}

/* ---- answers -------------------------------------------------------------------- */

/* policy_text: does a Vertex message say the prompt or image was refused
 * under Google's content rules? [the wording is unverified] */
static int policy_text(const char *m)
{
	static const char *const words[] = { "Responsible AI", "usage guidelines",
					     "sensitive words", "safety filter", NULL };
	for (const char *const *w = words; m && *w; w++)
		if (strstr(m, *w))
			return 1;
	return 0;
}

/* retry_delay_ms reads a google.rpc.RetryInfo detail ("30s"), or 0. */
static long retry_delay_ms(struct json_object *err)
{
	struct json_object *details, *d;
	if (!json_object_object_get_ex(err, "details", &details))
		return 0;
	for (size_t i = 0; (d = remote_idx(details, i)) != NULL; i++) {
		const char *type = rec_str(d, "@type"), *delay = rec_str(d, "retryDelay");
		if (type && strstr(type, "RetryInfo") && delay) {
			double s = atof(delay);
			return s > 0 && s < 3600 ? (long)(s * 1000) : 0;
		}
	}
	return 0;
}

/* google_error maps a google.rpc.Status answer ({"error": {code, message,
 * status, details}}) that is not a success. */
static void google_error(struct vertex_state *st, struct remote_answer *ans, long status,
			 struct json_object *o)
{
	struct json_object *err = rec_obj(o, "error");
	const char *msg = rec_str(err, "message"), *rpc = rec_str(err, "status");
	if (status == 401 && st->minting && st->refused++ == 0) {
		/* the token may have been revoked or expired early: one more
		 * try with a fresh one */
		st->token[0] = '\0';
		ans->verdict = RV_RETRY;
		return;
	}
	if (status == 429 || status == 503 || status == 504) {
		ans->verdict = RV_RETRY;
		ans->retry_after_ms = retry_delay_ms(err);
		return;
	}
	if (status == 403 && msg && strstr(msg, "billing")) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "upstream_quota_exhausted");
		snprintf(
			ans->message, sizeof(ans->message),
			"The Google Cloud project cannot pay for this task (billing is not enabled).");
		return;
	}
	if (status == 400 && policy_text(msg)) {
		ans->verdict = RV_FAIL;
		snprintf(ans->code, sizeof(ans->code), "content_policy_violation");
		snprintf(ans->message, sizeof(ans->message),
			 "Vertex AI refused the request under Google's content rules: %.400s", msg);
		return;
	}
	char detail[500];
	snprintf(detail, sizeof(detail), "%s%s%.400s", rpc && name_ok(rpc) ? rpc : "",
		 rpc && name_ok(rpc) && msg ? " " : "", msg ? msg : "");
	remote_http_error(ans, "Vertex AI", status, detail);
}

/* inline_span finds the base64 text of value in the body, where it lies
 * unescaped; the core decodes it from there. */
static const char *inline_span(const char *body, size_t len, const char *value, size_t vlen)
{
	static const char key[] = "\"bytesBase64Encoded\"";
	const char *at = body, *end = body + len;
	while (vlen > 0 && (at = memmem(at, (size_t)(end - at), key, sizeof(key) - 1)) != NULL) {
		const char *p = at + sizeof(key) - 1;
		while (p < end &&
		       (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ':'))
			p++;
		if (p < end && *p == '"' && (size_t)(end - p - 1) > vlen && p[1 + vlen] == '"' &&
		    memcmp(p + 1, value, vlen) == 0)
			return p + 1;
		at = p;
	}
	return NULL;
}

/* storage_url: the Cloud Storage JSON API download of gs://bucket/object. */
static int storage_url(const struct vertex_state *st, const char *gs, char *out, size_t n)
{
	if (strncmp(gs, "gs://", 5) != 0)
		return -1;
	const char *bucket = gs + 5, *slash = strchr(bucket, '/');
	if (slash == NULL || slash == bucket || slash[1] == '\0' || slash - bucket > 222)
		return -1;
	for (const char *s = bucket; s < slash; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_' || *s == '.'))
			return -1;
	size_t at = (size_t)snprintf(out, n, "%s/b/%.*s/o/", st->storage_base,
				     (int)(slash - bucket), bucket);
	for (const unsigned char *s = (const unsigned char *)slash + 1; *s && at + 4 < n; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' || *s == '_' || *s == '~')
			out[at++] = (char)*s;
		else
			at += (size_t)snprintf(out + at, n - at, "%%%02X", *s);
	}
	if (at + 11 >= n)
		return -1;
	snprintf(out + at, n - at, "?alt=media");
	return 0;
}

static void invalid_answer(struct remote_answer *ans, const char *why)
{
	ans->verdict = RV_FAIL;
	snprintf(ans->code, sizeof(ans->code), "upstream_invalid_answer");
	snprintf(ans->message, sizeof(ans->message), "Vertex AI reported success %s.", why);
}

/* finished reads the response of a done operation. */
static void finished(const struct vertex_state *st, struct json_object *resp, const char *body,
		     size_t len, struct remote_answer *ans)
{
	struct json_object *first = remote_idx(json_object_object_get(resp, "videos"), 0), *v;
	const char *gcs = rec_str(first, "gcsUri");
	ans->state = RS_SUCCEEDED;
	if (gcs) {
		if (storage_url(st, gcs, ans->video_url, sizeof(ans->video_url)) < 0)
			invalid_answer(ans, "with a result that is not a gs://bucket/object URI");
		return;
	}
	if (first && json_object_object_get_ex(first, "bytesBase64Encoded", &v) &&
	    json_object_is_type(v, json_type_string)) {
		size_t vlen = (size_t)json_object_get_string_len(v);
		ans->inline_video = inline_span(body, len, json_object_get_string(v), vlen);
		ans->inline_video_len = vlen;
		if (ans->inline_video == NULL)
			invalid_answer(ans, "with an inline video that is not plain base64");
		return;
	}
	long long filtered = json_object_object_get_ex(resp, "raiMediaFilteredCount", &v)
				     ? json_object_get_int64(v)
				     : 0;
	if (filtered > 0) {
		struct json_object *r0 =
			remote_idx(json_object_object_get(resp, "raiMediaFilteredReasons"), 0);
		const char *why = r0 && json_object_is_type(r0, json_type_string)
					  ? json_object_get_string(r0)
					  : NULL;
		ans->state = RS_FAILED;
		snprintf(ans->code, sizeof(ans->code), "content_policy_violation");
		snprintf(ans->message, sizeof(ans->message),
			 "Vertex AI filtered the video under Google's content rules: %.400s",
			 why && why[0] ? why : "no reason given");
		return;
	}
	invalid_answer(ans, "without a video");
}

static void operation(const struct vertex_state *st, struct json_object *o, const char *body,
		      size_t len, struct remote_answer *ans)
{
	struct json_object *v, *err = rec_obj(o, "error");
	const char *name = rec_str(o, "name");
	if (name && strlen(name) < sizeof(ans->upstream_id))
		snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", name);
	ans->verdict = RV_OK;
	ans->progress = -1;
	int done = json_object_object_get_ex(o, "done", &v) &&
		   json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
	if (!done) {
		ans->state = RS_RUNNING;
		return;
	}
	if (err) {
		const char *msg = rec_str(err, "message");
		ans->state = RS_FAILED;
		snprintf(ans->code, sizeof(ans->code), "%s",
			 policy_text(msg) ? "content_policy_violation" : "generation_failed");
		snprintf(ans->message, sizeof(ans->message),
			 "Vertex AI could not make the video: %.400s",
			 msg && msg[0] ? msg : "no reason given");
		return;
	}
	struct json_object *resp = rec_obj(o, "response");
	if (resp == NULL) {
		invalid_answer(ans, "without a response");
		return;
	}
	finished(st, resp, body, len, ans);
}

static void vertex_parse(struct backend *bc, struct json_object *rec, enum remote_phase ph,
			 long status, const char *body, size_t len, struct remote_answer *ans)
{
	(void)rec;
	struct vertex_state *st = bc->state;
	struct json_object *o = remote_parse_object(body, len);
	if (ph == PHASE_AUTH) {
		token_answer(st, status, o, ans);
	} else if (status == 200 && o && ph == PHASE_SUBMIT) {
		const char *name = rec_str(o, "name");
		if (name && name[0] && strlen(name) < sizeof(ans->upstream_id)) {
			snprintf(ans->upstream_id, sizeof(ans->upstream_id), "%s", name);
			ans->verdict = RV_OK;
			ans->state = RS_QUEUED;
			st->refused = 0;
		} else {
			ans->verdict = RV_RETRY; /* made or not: nothing tells */
			ans->maybe_created = 1;
		}
	} else if (status == 200 && o && ph == PHASE_POLL) {
		st->refused = 0;
		operation(st, o, body, len, ans);
	} else if (status == 200) {
		ans->verdict = RV_RETRY; /* a body we cannot read */
		ans->maybe_created = ph == PHASE_SUBMIT;
	} else {
		google_error(st, ans, status, o);
	}
	json_object_put(o);
}

static void vertex_unsupported(const struct backend_cfg *b, const struct model_backend *mb,
			       const struct video_spec *s, const char **out)
{
	(void)b;
	size_t n = 0;
	const char *model = model_of(mb);
	if (s->seconds_given && veo_seconds(model, s->seconds) != s->seconds)
		out[n++] = "seconds";
	if (s->size_given && !size_exact(s->width, s->height))
		out[n++] = "size";
	if (s->fps_given && s->fps != 24)
		out[n++] = "fps";
	out[n] = NULL;
}

const struct backend_type backend_vertex = {
	.name = "vertex",
	.kind = BACKEND_HTTP,
	.caps = BCAP_IMAGE_FILE,
	.keys = vertex_keys,
	.record_keys = NULL,
	.state_size = sizeof(struct vertex_state),
	.check = vertex_check,
	.init = vertex_init,
	.deinit = vertex_deinit,
	.unsupported = vertex_unsupported,
	.build = vertex_build,
	.parse = vertex_parse,
};
