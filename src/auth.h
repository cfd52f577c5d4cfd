/*
 * auth: API keys.  A key is a random secret shown once; the store keeps only
 * its SHA-256.  A request's key is found by that hash and compared again in
 * constant time.  Owns key creation, listing, revocation and the check of an
 * Authorization header; the owner of a video is the id of the key that made
 * it.
 */
#ifndef REELGATE_AUTH_H
#define REELGATE_AUTH_H

#include <stdint.h>

#include "error.h"
#include "id.h"
#include "store.h"

#define AUTH_SECRET_MAX 128

/* auth_key_create makes a key named name; the secret goes to secret (shown
 * to the operator once) and the key id to key_id. */
enum rg_err auth_key_create(struct store *st, const char *name, char secret[AUTH_SECRET_MAX],
			    char key_id[ID_MAX]);

/* auth_key_revoke marks key_id revoked (RG_ENOENT if there is no such key). */
enum rg_err auth_key_revoke(struct store *st, const char *key_id);

/* What a key may do; 0 means no limit. */
struct key_limits {
	int creates_per_minute; /* POST /v1/videos and remix, each task counted */
	/* Budgets, held by the store in the create's transaction
	 * (store_usage.c); 0: none. */
	int64_t seconds_per_day, seconds_per_month; /* of video, reserved or made */
	int64_t cost_per_month_micros;		    /* at the models' prices */
	int64_t max_in_flight;			    /* tasks queued or in progress */
};

/* What a worker remembers of the last few keys it checked: for a secret's
 * hash and the exact bytes of the key's stored record, what that record
 * says.  Every check still reads the record; only parsing it again is
 * saved.  Revoking a key or changing its limits changes the record's bytes,
 * so the very next request sees the change.  All zeros is an empty cache;
 * auth_cache_deinit frees what it fetched. */
#define AUTH_CACHE_SLOTS 8
#define AUTH_CACHE_REC_MAX 1024 /* larger records are parsed every time */

struct auth_cache_slot {
	uint8_t hash[32];
	size_t rec_len; /* 0: empty slot */
	char rec[AUTH_CACHE_REC_MAX];
	int verdict; /* an auth.c AUTH_* code */
	char owner[ID_MAX];
	struct key_limits lim;
};

struct evp_md_st;

/* The hashes of the last few secrets seen: a client sends the same key
 * request after request, and its SHA-256 cost more than the rest of a
 * download's authorisation.  Wiped by auth_cache_deinit. */
#define AUTH_MEMO_SLOTS 4
struct auth_memo {
	size_t len; /* 0: empty */
	char secret[AUTH_SECRET_MAX];
	uint8_t hash[32];
};

struct auth_cache {
	struct auth_cache_slot slot[AUTH_CACHE_SLOTS];
	struct auth_memo memo[AUTH_MEMO_SLOTS];
	unsigned memo_next;	  /* the memo to replace next */
	unsigned next;		  /* the slot to replace next */
	struct evp_md_st *sha256; /* EVP_MD fetched once: EVP_sha256() looks
				     the algorithm up again on every use */
};

void auth_cache_deinit(struct auth_cache *c);

/* auth_check reads an Authorization header value (may be NULL) and writes
 * the owning key id into owner and its limits into lim (may be NULL), or
 * fills e with the 401 to send.  cache may be NULL. */
int auth_check(struct store *st, struct auth_cache *cache, const char *header, char owner[ID_MAX],
	       struct key_limits *lim, struct api_error *e);
/* auth_key_limits reads a key's limits; auth_key_set_limits changes them. */
enum rg_err auth_key_limits(struct store *st, const char *key_id, struct key_limits *lim);
enum rg_err auth_key_set_limits(struct store *st, const char *key_id, const struct key_limits *lim);

/* auth_hash: SHA-256 of a secret. */
void auth_hash(const char *secret, size_t len, uint8_t out[32]);

#endif
