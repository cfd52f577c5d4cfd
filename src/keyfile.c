/*
 * keyfile: the keys file's format, its export and its checks (keyfile.h).
 */
#include "keyfile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "record.h"
#include "webhook.h"

/* ---- export --------------------------------------------------------------------- */

/* The members of a key record and of an endpoint record that the file
 * carries: every one of them (the endpoint's key_id is implied by where
 * it is in the file). */
static const char *const key_fields[] = { "id",		"name",	  "hash", "created_at",
					  "revoked_at", "limits", NULL };
static const char *const endpoint_fields[] = {
	"id",	     "url",	      "events", "secret",	   "old_secret",
	"old_until", "created_at_ms", "state",	"disabled_reason", NULL
};
static const char *const limit_fields[] = { "creates_per_minute", "seconds_per_day",
					    "seconds_per_month",  "cost_per_month_micros",
					    "max_in_flight",	  NULL };

/* copy_fields adds to dst a deep copy of each of src's members named in
 * fields. */
static void copy_fields(struct json_object *dst, struct json_object *src, const char *const *fields)
{
	for (size_t i = 0; fields[i]; i++) {
		struct json_object *v = NULL, *c = NULL;
		if (!json_object_object_get_ex(src, fields[i], &v))
			continue;
		if (v != NULL && json_object_deep_copy(v, &c, NULL) != 0)
			continue;
		json_object_object_add(dst, fields[i], c);
	}
}

struct export_ctx {
	struct json_object *keys; /* the file's "keys" */
	const char *const *ids;	  /* or NULL: every key */
	size_t n;
	struct json_object *endpoints; /* every endpoint, by key id: arrays */
};

static int wanted(const struct export_ctx *c, const char *id)
{
	if (c->n == 0)
		return 1;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->ids[i], id) == 0)
			return 1;
	return 0;
}

static int keep_endpoint(struct json_object *ep, void *arg)
{
	struct export_ctx *c = arg;
	const char *key = rec_str(ep, "key_id");
	struct json_object *list = NULL;
	if (key == NULL || !wanted(c, key))
		return 0;
	if (!json_object_object_get_ex(c->endpoints, key, &list)) {
		list = json_object_new_array();
		json_object_object_add(c->endpoints, key, list);
	}
	struct json_object *e = json_object_new_object();
	copy_fields(e, ep, endpoint_fields);
	json_object_array_add(list, e);
	return 0;
}

static int keep_key(struct json_object *rec, void *arg)
{
	struct export_ctx *c = arg;
	const char *id = rec_str(rec, "id");
	if (id == NULL || !wanted(c, id))
		return 0;
	struct json_object *k = json_object_new_object(), *eps = NULL;
	copy_fields(k, rec, key_fields);
	if (json_object_object_get_ex(c->endpoints, id, &eps))
		json_object_object_add(k, "webhook_endpoints", json_object_get(eps));
	else
		json_object_object_add(k, "webhook_endpoints", json_object_new_array());
	json_object_array_add(c->keys, k);
	return 0;
}

struct json_object *keyfile_export(struct store *st, const char *const *ids, size_t n, char *why,
				   size_t whylen)
{
	for (size_t i = 0; i < n; i++) {
		struct json_object *rec = NULL;
		enum rg_err err = store_key_get(st, ids[i], &rec);
		json_object_put(rec);
		if (err != RG_OK) {
			snprintf(why, whylen, "%s: %s", ids[i],
				 err == RG_ENOENT ? "no such key (see reelgate keys list)"
						  : rg_strerror(err));
			return NULL;
		}
	}
	struct export_ctx c = { json_object_new_array(), ids, n, json_object_new_object() };
	enum rg_err err = store_webhook_list(st, NULL, keep_endpoint, &c);
	if (err == RG_OK)
		err = store_key_list(st, keep_key, &c);
	json_object_put(c.endpoints);
	if (err != RG_OK) {
		snprintf(why, whylen, "cannot read the keys: %s", rg_strerror(err));
		json_object_put(c.keys);
		return NULL;
	}
	struct json_object *doc = json_object_new_object();
	json_object_object_add(doc, "format", json_object_new_string(KEYFILE_FORMAT));
	json_object_object_add(doc, "version", json_object_new_int(KEYFILE_VERSION));
	json_object_object_add(doc, "exported_at", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(doc, "keys", c.keys);
	return doc;
}

/* ---- checks --------------------------------------------------------------------- */

/* A member's path in the file, for the messages: keys[3].webhook_endpoints[0]. */
struct where {
	char at[96];
	char *why;
	size_t whylen;
};

static int bad(struct where *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct where *w, const char *fmt, ...)
{
	char msg[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(w->why, w->whylen, "%s%s%s", w->at, w->at[0] ? "." : "", msg);
	return -1;
}

/* only_fields: every member of o is one of fields. */
static int only_fields(struct where *w, struct json_object *o, const char *const *fields,
		       const char *extra)
{
	json_object_object_foreach(o, name, v) {
		(void)v;
		size_t i = 0;
		while (fields[i] && strcmp(fields[i], name) != 0)
			i++;
		if (fields[i] == NULL && (extra == NULL || strcmp(extra, name) != 0))
			return bad(w,
				   "%s: unknown member (the file holds no secret in clear; "
				   "see docs/cluster.md for the format)",
				   name);
	}
	return 0;
}

/* id_ok: prefix then 1..56 letters or digits. */
static int id_ok(const char *s, const char *prefix)
{
	size_t p = strlen(prefix), n = s ? strlen(s) : 0;
	if (n <= p || n - p > 56 || strncmp(s, prefix, p) != 0)
		return 0;
	for (size_t i = p; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z')))
			return 0;
	return 1;
}

static int hex64_ok(const char *s)
{
	if (s == NULL || strlen(s) != 64)
		return 0;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* int_member: o.name is an integer in [lo, hi] (absent: ok when optional). */
static int int_member(struct where *w, struct json_object *o, const char *name, int64_t lo,
		      int64_t hi, int optional)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(o, name, &v))
		return optional ? 0 : bad(w, "%s: missing", name);
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < lo ||
	    json_object_get_int64(v) > hi)
		return bad(w, "%s: must be a whole number from %lld to %lld", name, (long long)lo,
			   (long long)hi);
	return 0;
}

/* str_member: o.name, a string of 1..max bytes, or NULL after saying why
 * (absent and optional: NULL, w untouched, *absent set). */
static const char *str_member(struct where *w, struct json_object *o, const char *name, size_t max,
			      int *absent)
{
	struct json_object *v = NULL;
	*absent = !json_object_object_get_ex(o, name, &v);
	if (*absent)
		return NULL;
	const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
	size_t n = s ? strlen(s) : 0;
	if (s == NULL || n == 0 || n > max || n != (size_t)json_object_get_string_len(v) ||
	    !codec_utf8_valid(s, n)) {
		bad(w, "%s: must be a string of 1 to %zu bytes", name, max);
		*absent = 0;
		return NULL;
	}
	return s;
}

static int required_str(struct where *w, struct json_object *o, const char *name, size_t max,
			const char **out)
{
	int absent;
	*out = str_member(w, o, name, max, &absent);
	if (*out == NULL && absent)
		bad(w, "%s: missing", name);
	return *out ? 0 : -1;
}

static int secret_ok(const char *s)
{
	uint8_t raw[128];
	size_t n = s ? strlen(s) : 0;
	if (n <= 6 || strncmp(s, "whsec_", 6) != 0 || codec_base64_decoded_max(n - 6) > sizeof(raw))
		return 0;
	return codec_base64_decode(s + 6, n - 6, raw) > 0;
}

static int check_limits(struct where *w, struct json_object *k)
{
	struct json_object *l = NULL;
	if (!json_object_object_get_ex(k, "limits", &l))
		return 0;
	if (!json_object_is_type(l, json_type_object))
		return bad(w, "limits: must be an object");
	size_t len = strlen(w->at);
	snprintf(w->at + len, sizeof(w->at) - len, ".limits");
	int rc = only_fields(w, l, limit_fields, NULL);
	if (rc == 0)
		rc = int_member(w, l, "creates_per_minute", 0, 1000000, 1);
	for (size_t i = 1; limit_fields[i] && rc == 0; i++)
		rc = int_member(w, l, limit_fields[i], 0,
				strcmp(limit_fields[i], "cost_per_month_micros") == 0
					? INT64_C(1000000000000000)
					: 1000000000,
				1);
	w->at[len] = '\0';
	return rc;
}

static int check_events(struct where *w, struct json_object *ep)
{
	struct json_object *ev = NULL;
	if (!json_object_object_get_ex(ep, "events", &ev))
		return 0;
	size_t n = json_object_is_type(ev, json_type_array) ? json_object_array_length(ev) : 0;
	for (size_t i = 0; i < n; i++) {
		const char *t = json_object_get_string(json_object_array_get_idx(ev, i));
		if (!json_object_is_type(json_object_array_get_idx(ev, i), json_type_string) ||
		    (strcmp(t, "video.completed") != 0 && strcmp(t, "video.failed") != 0))
			n = 0;
	}
	if (n == 0)
		return bad(w, "events: must be a non-empty array of \"video.completed\", "
			      "\"video.failed\" (absent: every event)");
	return 0;
}

static int check_endpoint(struct where *w, struct json_object *ep)
{
	const char *id, *url, *secret, *state, *old;
	int absent;
	if (!json_object_is_type(ep, json_type_object))
		return bad(w, "must be an object");
	if (only_fields(w, ep, endpoint_fields, NULL) < 0 || required_str(w, ep, "id", 63, &id) < 0)
		return -1;
	if (!id_ok(id, "we_"))
		return bad(w, "id: must be \"we_\" then 1 to 56 letters or digits");
	if (required_str(w, ep, "url", 2048, &url) < 0)
		return -1;
	if (!webhook_url_ok(url))
		return bad(w, "url: must be http:// or https:// with a host");
	if (check_events(w, ep) < 0 || required_str(w, ep, "secret", 200, &secret) < 0)
		return -1;
	if (!secret_ok(secret))
		return bad(w, "secret: must be \"whsec_\" then base64");
	old = str_member(w, ep, "old_secret", 200, &absent);
	if (!absent && (old == NULL || !secret_ok(old)))
		return bad(w, "old_secret: must be \"whsec_\" then base64");
	if (int_member(w, ep, "old_until", 0, INT64_MAX, 1) < 0 ||
	    int_member(w, ep, "created_at_ms", 0, INT64_MAX, 0) < 0 ||
	    required_str(w, ep, "state", 16, &state) < 0)
		return -1;
	if (strcmp(state, "enabled") != 0 && strcmp(state, "disabled") != 0)
		return bad(w, "state: must be \"enabled\" or \"disabled\"");
	if (str_member(w, ep, "disabled_reason", 512, &absent) == NULL && !absent)
		return -1;
	return 0;
}

static int check_key(struct where *w, struct json_object *k)
{
	const char *id, *name, *hash;
	struct json_object *v = NULL;
	if (!json_object_is_type(k, json_type_object))
		return bad(w, "must be an object");
	if (only_fields(w, k, key_fields, "webhook_endpoints") < 0 ||
	    required_str(w, k, "id", 63, &id) < 0)
		return -1;
	if (!id_ok(id, "key_"))
		return bad(w, "id: must be \"key_\" then 1 to 56 letters or digits");
	if (required_str(w, k, "name", 128, &name) < 0 || required_str(w, k, "hash", 64, &hash) < 0)
		return -1;
	if (!hex64_ok(hash))
		return bad(w, "hash: must be 64 lowercase hex digits, the SHA-256 of the secret");
	if (int_member(w, k, "created_at", 0, INT64_MAX, 0) < 0)
		return -1;
	if (!json_object_object_get_ex(k, "revoked_at", &v))
		return bad(w, "revoked_at: missing (null when the key is active)");
	if (v != NULL && int_member(w, k, "revoked_at", 0, INT64_MAX, 0) < 0)
		return -1;
	return check_limits(w, k);
}

/* ---- import --------------------------------------------------------------------- */

/* The records an import writes: the key records (the file's keys without
 * their endpoints) and the endpoint records (with their key_id). */
struct records {
	struct json_object **keys, **eps;
	size_t nkeys, neps, cap_eps;
	struct json_object *seen; /* every id of the file so far */
};

static void records_free(struct records *r)
{
	for (size_t i = 0; i < r->nkeys; i++)
		json_object_put(r->keys[i]);
	for (size_t i = 0; i < r->neps; i++)
		json_object_put(r->eps[i]);
	free(r->keys);
	free(r->eps);
	json_object_put(r->seen);
}

/* twice: was id seen before in the file (seen: a set of ids)?  Marks it. */
static int twice(struct json_object *seen, const char *id)
{
	if (json_object_object_get_ex(seen, id, NULL))
		return 1;
	json_object_object_add(seen, id, NULL);
	return 0;
}

/* Bounds of one file: far above any deployment's keys. */
#define KEYFILE_MAX_KEYS 100000
#define KEYFILE_MAX_ENDPOINTS 100000

static int add_endpoint(struct records *r, struct json_object *rec)
{
	if (r->neps == r->cap_eps) {
		size_t cap = r->cap_eps ? 2 * r->cap_eps : 16;
		struct json_object **p = realloc(r->eps, cap * sizeof(*p));
		if (p == NULL)
			return -1;
		r->eps = p;
		r->cap_eps = cap;
	}
	r->eps[r->neps++] = rec;
	return 0;
}

static int add_endpoints(struct where *w, struct json_object *k, const char *key_id,
			 struct records *r)
{
	struct json_object *list = NULL;
	if (!json_object_object_get_ex(k, "webhook_endpoints", &list))
		return 0;
	if (!json_object_is_type(list, json_type_array))
		return bad(w, "webhook_endpoints: must be an array");
	size_t len = strlen(w->at);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *ep = json_object_array_get_idx(list, i), *rec = NULL;
		snprintf(w->at + len, sizeof(w->at) - len, ".webhook_endpoints[%zu]", i);
		if (check_endpoint(w, ep) < 0)
			return -1;
		if (twice(r->seen, rec_str(ep, "id")))
			return bad(w, "id: %s is in the file twice", rec_str(ep, "id"));
		if (r->neps == KEYFILE_MAX_ENDPOINTS)
			return bad(w, "too many webhook endpoints: at most %d in one file",
				   KEYFILE_MAX_ENDPOINTS);
		if (json_object_deep_copy(ep, &rec, NULL) != 0)
			return bad(w, "out of memory");
		json_object_object_add(rec, "key_id", json_object_new_string(key_id));
		if (add_endpoint(r, rec) < 0) {
			json_object_put(rec);
			return bad(w, "out of memory");
		}
	}
	w->at[len] = '\0';
	return 0;
}

static int check_doc(struct where *w, struct json_object *doc, struct records *r)
{
	static const char *const top[] = { "format", "version", "exported_at", "keys", NULL };
	struct json_object *keys = NULL;
	if (!json_object_is_type(doc, json_type_object))
		return bad(w, "the file must be a JSON object (a reelgate keys export)");
	if (strcmp(rec_str(doc, "format") ? rec_str(doc, "format") : "", KEYFILE_FORMAT) != 0)
		return bad(w, "format: must be \"%s\" (a file of reelgate keys export)",
			   KEYFILE_FORMAT);
	if (rec_i64(doc, "version") != KEYFILE_VERSION)
		return bad(w,
			   "version: this reelgate reads version %d; export the keys again "
			   "with a reelgate of the same version",
			   KEYFILE_VERSION);
	if (only_fields(w, doc, top, NULL) < 0 ||
	    int_member(w, doc, "exported_at", 0, INT64_MAX, 1) < 0)
		return -1;
	if (!json_object_object_get_ex(doc, "keys", &keys) ||
	    !json_object_is_type(keys, json_type_array))
		return bad(w, "keys: must be an array");
	size_t n = json_object_array_length(keys);
	if (n > KEYFILE_MAX_KEYS)
		return bad(w, "keys: at most %d in one file", KEYFILE_MAX_KEYS);
	r->keys = calloc(n ? n : 1, sizeof(*r->keys));
	r->seen = json_object_new_object();
	if (r->keys == NULL || r->seen == NULL)
		return bad(w, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *k = json_object_array_get_idx(keys, i), *rec = NULL;
		snprintf(w->at, sizeof(w->at), "keys[%zu]", i);
		if (check_key(w, k) < 0)
			return -1;
		const char *id = rec_str(k, "id");
		if (twice(r->seen, id))
			return bad(w, "id: %s is in the file twice", id);
		if (add_endpoints(w, k, id, r) < 0)
			return -1;
		if (json_object_deep_copy(k, &rec, NULL) != 0)
			return bad(w, "out of memory");
		json_object_object_del(rec, "webhook_endpoints");
		r->keys[r->nkeys++] = rec;
	}
	return 0;
}

enum rg_err keyfile_import(struct store *st, struct json_object *doc, int replace,
			   struct store_import *out)
{
	struct records r = { NULL, NULL, 0, 0, 0, NULL };
	struct where w = { "", out->why, sizeof(out->why) };
	memset(out, 0, sizeof(*out));
	enum rg_err err = RG_EINVAL;
	if (check_doc(&w, doc, &r) == 0)
		err = store_keys_import(st, r.keys, r.nkeys, r.eps, r.neps, replace, out);
	records_free(&r);
	return err;
}
