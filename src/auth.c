/*
 * auth: key hashing, creation, revocation and request authentication.
 */
#include "auth.h"

#include "record.h"

#include "codec.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SECRET_PREFIX "sk-rg-"

void auth_hash(const char *secret, size_t len, uint8_t out[32])
{
	unsigned int n = 32;
	EVP_Digest(secret, len, out, &n, EVP_sha256(), NULL);
}

static void hash_fresh(struct auth_cache *c, const char *secret, size_t len, uint8_t out[32])
{
	if (c != NULL && c->sha256 == NULL)
		c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (c == NULL || c->sha256 == NULL) {
		auth_hash(secret, len, out);
		return;
	}
	unsigned int n = 32;
	EVP_Digest(secret, len, out, &n, c->sha256, NULL);
}

/* hash_secret is auth_hash with the cache's fetched algorithm, or the
 * hash remembered for this very secret (compared in constant time: how
 * long a comparison takes tells nothing of a remembered secret). */
static void hash_secret(struct auth_cache *c, const char *secret, size_t len, uint8_t out[32])
{
	if (c != NULL && len <= AUTH_SECRET_MAX) {
		for (size_t i = 0; i < AUTH_MEMO_SLOTS; i++) {
			struct auth_memo *m = &c->memo[i];
			if (m->len == len && CRYPTO_memcmp(m->secret, secret, len) == 0) {
				memcpy(out, m->hash, 32);
				return;
			}
		}
	}
	hash_fresh(c, secret, len, out);
	if (c != NULL && len > 0 && len <= AUTH_SECRET_MAX) {
		struct auth_memo *m = &c->memo[c->memo_next++ % AUTH_MEMO_SLOTS];
		OPENSSL_cleanse(m->secret, sizeof(m->secret));
		memcpy(m->secret, secret, len);
		m->len = len;
		memcpy(m->hash, out, 32);
	}
}

void auth_cache_deinit(struct auth_cache *c)
{
	EVP_MD_free(c->sha256);
	OPENSSL_cleanse(c->memo, sizeof(c->memo));
	memset(c, 0, sizeof(*c));
}

enum rg_err auth_key_create(struct store *st, const char *name, char secret[AUTH_SECRET_MAX],
			    char key_id[ID_MAX])
{
	uint8_t rnd[32], hash[32];
	char hex[65];
	if (id_random(rnd, sizeof(rnd)) < 0 || id_prefixed_new(key_id, ID_MAX, "key_", 8) < 0)
		return RG_EIO;
	memcpy(secret, SECRET_PREFIX, sizeof(SECRET_PREFIX) - 1);
	codec_base64url_encode(rnd, sizeof(rnd), secret + sizeof(SECRET_PREFIX) - 1);
	auth_hash(secret, strlen(secret), hash);
	codec_hex(hash, sizeof(hash), hex);
	struct json_object *rec = json_object_new_object();
	if (rec == NULL)
		return RG_ENOMEM;
	json_object_object_add(rec, "id", json_object_new_string(key_id));
	json_object_object_add(rec, "name", json_object_new_string(name));
	json_object_object_add(rec, "hash", json_object_new_string(hex));
	json_object_object_add(rec, "created_at", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(rec, "revoked_at", NULL);
	enum rg_err err = store_key_insert(st, rec, hash);
	json_object_put(rec);
	OPENSSL_cleanse(rnd, sizeof(rnd));
	return err;
}

enum rg_err auth_key_revoke(struct store *st, const char *key_id)
{
	struct json_object *rec;
	enum rg_err err = store_key_get(st, key_id, &rec);
	if (err != RG_OK)
		return err;
	struct json_object *rv;
	if (!json_object_object_get_ex(rec, "revoked_at", &rv) || rv == NULL) {
		json_object_object_add(rec, "revoked_at",
				       json_object_new_int64((int64_t)time(NULL)));
		err = store_key_put(st, rec);
	}
	json_object_put(rec);
	return err;
}

static int unauthorized(struct api_error *e, const char *code, const char *msg)
{
	api_error_set(e, 401, code, NULL, "%s", msg);
	return -1;
}

static void read_limits(struct json_object *rec, struct key_limits *lim)
{
	struct json_object *l = rec_obj(rec, "limits");
	memset(lim, 0, sizeof(*lim));
	lim->creates_per_minute = (int)rec_i64(l, "creates_per_minute");
	lim->seconds_per_day = rec_i64(l, "seconds_per_day");
	lim->seconds_per_month = rec_i64(l, "seconds_per_month");
	lim->cost_per_month_micros = rec_i64(l, "cost_per_month_micros");
	lim->max_in_flight = rec_i64(l, "max_in_flight");
}

enum rg_err auth_key_limits(struct store *st, const char *key_id, struct key_limits *lim)
{
	struct json_object *rec;
	enum rg_err err = store_key_get(st, key_id, &rec);
	if (err != RG_OK)
		return err;
	read_limits(rec, lim);
	json_object_put(rec);
	return RG_OK;
}

static void put_limit(struct json_object *l, const char *name, int64_t v)
{
	if (v > 0)
		json_object_object_add(l, name, json_object_new_int64(v));
}

enum rg_err auth_key_set_limits(struct store *st, const char *key_id, const struct key_limits *lim)
{
	struct json_object *rec;
	enum rg_err err = store_key_get(st, key_id, &rec);
	if (err != RG_OK)
		return err;
	struct json_object *l = json_object_new_object();
	json_object_object_add(l, "creates_per_minute",
			       json_object_new_int(lim->creates_per_minute));
	put_limit(l, "seconds_per_day", lim->seconds_per_day);
	put_limit(l, "seconds_per_month", lim->seconds_per_month);
	put_limit(l, "cost_per_month_micros", lim->cost_per_month_micros);
	put_limit(l, "max_in_flight", lim->max_in_flight);
	json_object_object_add(rec, "limits", l);
	err = store_key_put(st, rec);
	json_object_put(rec);
	return err;
}

/* What a key record says about a secret of the right hash. */
enum { AUTH_OK, AUTH_WRONG, AUTH_REVOKED, AUTH_CORRUPT };

struct judged {
	int verdict;
	char owner[ID_MAX];
	struct key_limits lim;
};

static void judge_record(struct json_object *rec, const uint8_t hash[32], struct judged *j)
{
	struct json_object *v;
	const char *hex =
		json_object_object_get_ex(rec, "hash", &v) ? json_object_get_string(v) : NULL;
	char want[65];
	codec_hex(hash, 32, want);
	int match = hex != NULL && strlen(hex) == 64 && CRYPTO_memcmp(hex, want, 64) == 0;
	int revoked = json_object_object_get_ex(rec, "revoked_at", &v) && v != NULL;
	const char *id =
		json_object_object_get_ex(rec, "id", &v) ? json_object_get_string(v) : NULL;
	memset(j, 0, sizeof(*j));
	if (!match || id == NULL || strlen(id) >= ID_MAX) {
		j->verdict = AUTH_WRONG;
	} else if (revoked) {
		j->verdict = AUTH_REVOKED;
	} else {
		j->verdict = AUTH_OK;
		snprintf(j->owner, sizeof(j->owner), "%s", id);
		read_limits(rec, &j->lim);
	}
}

struct judge_args {
	struct auth_cache *cache; /* or NULL */
	const uint8_t *hash;
	struct judged *out;
};

static struct auth_cache_slot *cache_find(struct auth_cache *c, const uint8_t hash[32],
					  const void *rec, size_t len)
{
	for (size_t i = 0; c != NULL && i < AUTH_CACHE_SLOTS; i++) {
		struct auth_cache_slot *s = &c->slot[i];
		if (s->rec_len == len && memcmp(s->hash, hash, 32) == 0 &&
		    memcmp(s->rec, rec, len) == 0)
			return s;
	}
	return NULL;
}

static void cache_keep(struct auth_cache *c, const uint8_t hash[32], const void *rec, size_t len,
		       const struct judged *j)
{
	if (c == NULL || len == 0 || len > AUTH_CACHE_REC_MAX)
		return;
	struct auth_cache_slot *s = &c->slot[c->next++ % AUTH_CACHE_SLOTS];
	memcpy(s->hash, hash, 32);
	memcpy(s->rec, rec, len);
	s->rec_len = len;
	s->verdict = j->verdict;
	memcpy(s->owner, j->owner, sizeof(s->owner));
	s->lim = j->lim;
}

/* judge_bytes reads the key record found for the hash, from the cache when
 * these very bytes were judged before. */
static int judge_bytes(const void *rec, size_t len, void *arg)
{
	struct judge_args *a = arg;
	struct auth_cache_slot *s = cache_find(a->cache, a->hash, rec, len);
	if (s != NULL) {
		a->out->verdict = s->verdict;
		memcpy(a->out->owner, s->owner, sizeof(s->owner));
		a->out->lim = s->lim;
		return 0;
	}
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = tok ? json_tokener_parse_ex(tok, rec, (int)len) : NULL;
	int ok = tok != NULL && json_tokener_get_error(tok) == json_tokener_success &&
		 json_object_is_type(o, json_type_object);
	if (tok != NULL)
		json_tokener_free(tok);
	if (!ok) {
		json_object_put(o);
		a->out->verdict = AUTH_CORRUPT;
		return 0;
	}
	judge_record(o, a->hash, a->out);
	json_object_put(o);
	cache_keep(a->cache, a->hash, rec, len, a->out);
	return 0;
}

int auth_check(struct store *st, struct auth_cache *cache, const char *header, char owner[ID_MAX],
	       struct key_limits *lim, struct api_error *e)
{
	if (header == NULL || header[0] == '\0')
		return unauthorized(
			e, NULL,
			"You didn't provide an API key. Send it in the Authorization header as 'Authorization: Bearer YOUR_KEY'.");
	if (strncasecmp(header, "Bearer ", 7) != 0)
		return unauthorized(e, "invalid_api_key",
				    "The Authorization header must be 'Bearer YOUR_KEY'.");
	const char *secret = header + 7;
	while (*secret == ' ')
		secret++;
	size_t len = strlen(secret);
	while (len > 0 && secret[len - 1] == ' ')
		len--;
	if (len == 0 || len > AUTH_SECRET_MAX)
		return unauthorized(e, "invalid_api_key", "Incorrect API key provided.");
	uint8_t hash[32];
	hash_secret(cache, secret, len, hash);
	struct judged j = { .verdict = AUTH_CORRUPT }; /* if the store never calls back */
	struct judge_args a = { cache, hash, &j };
	enum rg_err err = store_key_by_hash(st, hash, judge_bytes, &a);
	if (err == RG_ENOENT)
		return unauthorized(e, "invalid_api_key", "Incorrect API key provided.");
	if (err == RG_OK && j.verdict == AUTH_CORRUPT)
		err = RG_ECORRUPT;
	if (err != RG_OK) {
		api_error_from_rg(e, err);
		return -1;
	}
	if (j.verdict == AUTH_WRONG)
		return unauthorized(e, "invalid_api_key", "Incorrect API key provided.");
	if (j.verdict == AUTH_REVOKED)
		return unauthorized(e, "invalid_api_key", "This API key has been revoked.");
	memcpy(owner, j.owner, ID_MAX);
	if (lim != NULL)
		*lim = j.lim;
	return 0;
}
