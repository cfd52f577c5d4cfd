/*
 * auth: key hashing, creation, revocation and request authentication.
 */
#include "auth.h"

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

enum rg_err auth_key_create(struct store *st, const char *name,
			    char secret[AUTH_SECRET_MAX], char key_id[ID_MAX])
{
	uint8_t rnd[32], hash[32];
	char hex[65];
	if (id_random(rnd, sizeof(rnd)) < 0 ||
	    id_prefixed_new(key_id, ID_MAX, "key_", 8) < 0)
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
	struct json_object *l, *v;
	memset(lim, 0, sizeof(*lim));
	if (json_object_object_get_ex(rec, "limits", &l) &&
	    json_object_object_get_ex(l, "creates_per_minute", &v))
		lim->creates_per_minute = json_object_get_int(v);
}

enum rg_err auth_key_set_limits(struct store *st, const char *key_id, const struct key_limits *lim)
{
	struct json_object *rec;
	enum rg_err err = store_key_get(st, key_id, &rec);
	if (err != RG_OK)
		return err;
	struct json_object *l = json_object_new_object();
	json_object_object_add(l, "creates_per_minute", json_object_new_int(lim->creates_per_minute));
	json_object_object_add(rec, "limits", l);
	err = store_key_put(st, rec);
	json_object_put(rec);
	return err;
}

int auth_check(struct store *st, const char *header, char owner[ID_MAX],
	       struct key_limits *lim, struct api_error *e)
{
	if (header == NULL || header[0] == '\0')
		return unauthorized(e, NULL,
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
	auth_hash(secret, len, hash);
	struct json_object *rec = NULL;
	enum rg_err err = store_key_by_hash(st, hash, &rec);
	if (err == RG_ENOENT)
		return unauthorized(e, "invalid_api_key", "Incorrect API key provided.");
	if (err != RG_OK) {
		api_error_from_rg(e, err);
		return -1;
	}
	struct json_object *v;
	const char *hex = json_object_object_get_ex(rec, "hash", &v) ? json_object_get_string(v) : NULL;
	char want[65];
	codec_hex(hash, sizeof(hash), want);
	int match = hex != NULL && strlen(hex) == 64 && CRYPTO_memcmp(hex, want, 64) == 0;
	int revoked = json_object_object_get_ex(rec, "revoked_at", &v) && v != NULL;
	const char *id = json_object_object_get_ex(rec, "id", &v) ? json_object_get_string(v) : NULL;
	int rc = 0;
	if (!match || id == NULL || strlen(id) >= ID_MAX)
		rc = unauthorized(e, "invalid_api_key", "Incorrect API key provided.");
	else if (revoked)
		rc = unauthorized(e, "invalid_api_key", "This API key has been revoked.");
	else
		snprintf(owner, ID_MAX, "%s", id);
	if (rc == 0 && lim != NULL)
		read_limits(rec, lim);
	json_object_put(rec);
	return rc;
}
