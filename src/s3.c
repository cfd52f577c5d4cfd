/*
 * s3: SigV4 signing, presigned URLs, object keys and URLs, and the XML
 * answers reelgate reads (s3.h).  Pure: no I/O, no clock but the one
 * passed in.
 */
#include "s3.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* Canonical texts are small; the limit only guards against a runaway. */
#define CANON_MAX (64 * 1024)

static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

void s3_amz_date(time_t t, char out[17])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	int y = tm.tm_year + 1900;
	put2(out, y / 100);
	put2(out + 2, y % 100);
	put2(out + 4, tm.tm_mon + 1);
	put2(out + 6, tm.tm_mday);
	out[8] = 'T';
	put2(out + 9, tm.tm_hour);
	put2(out + 11, tm.tm_min);
	put2(out + 13, tm.tm_sec);
	out[15] = 'Z';
	out[16] = '\0';
}

/* An encoded query parameter, for sorting by encoded name then value:
 * offsets into one buffer holding them all, NUL-terminated. */
struct enc_param {
	size_t name, value;
	const char *base;
};

static int cmp_param(const void *a, const void *b)
{
	const struct enc_param *x = a, *y = b;
	int c = strcmp(x->base + x->name, y->base + y->name);
	return c ? c : strcmp(x->base + x->value, y->base + y->value);
}

#define QUERY_MAX_PARAMS 32

/* canonical_query appends q sorted by encoded name, each name=value. */
static int canonical_query(const struct s3_param *q, size_t n, struct buf *out)
{
	if (n == 0)
		return 0;
	if (n > QUERY_MAX_PARAMS)
		return -1;
	struct enc_param e[QUERY_MAX_PARAMS];
	struct buf enc;
	buf_init(&enc, CANON_MAX);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		e[i].name = enc.len;
		rc = buf_pct_encode(&enc, q[i].name, 0) | buf_putc(&enc, '\0');
		e[i].value = enc.len;
		rc |= buf_pct_encode(&enc, q[i].value ? q[i].value : "", 0) | buf_putc(&enc, '\0');
	}
	for (size_t i = 0; rc == 0 && i < n; i++)
		e[i].base = enc.data;
	if (rc == 0)
		qsort(e, n, sizeof(*e), cmp_param);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = (i ? buf_putc(out, '&') : 0) | buf_puts(out, enc.data + e[i].name) |
		     buf_putc(out, '=') | buf_puts(out, enc.data + e[i].value);
	buf_deinit(&enc);
	return rc;
}

/* A header to sign: its name and its value trimmed. */
struct hdr {
	const char *name;
	const char *value;
};

static int cmp_hdr(const void *a, const void *b)
{
	return strcmp(((const struct hdr *)a)->name, ((const struct hdr *)b)->name);
}

#define HDR_MAX 16

/* sorted_headers: host and r's headers, sorted by name; -1 when too many. */
static int sorted_headers(const struct s3_req *r, struct hdr *h, size_t *n)
{
	if (r->nheaders + 1 > HDR_MAX)
		return -1;
	h[0] = (struct hdr){ "host", r->host };
	for (size_t i = 0; i < r->nheaders; i++)
		h[i + 1] = (struct hdr){ r->headers[i].name, r->headers[i].value };
	*n = r->nheaders + 1;
	qsort(h, *n, sizeof(*h), cmp_hdr);
	return 0;
}

static int signed_headers(const struct hdr *h, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++)
		if ((i && buf_putc(out, ';') < 0) || buf_puts(out, h[i].name) < 0)
			return -1;
	return 0;
}

/* put_trimmed appends v without leading and trailing blanks, inner runs
 * of blanks as one space (SigV4's Trimall). */
static int put_trimmed(struct buf *b, const char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	int space = 0;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = 1;
			continue;
		}
		if ((space && buf_putc(b, ' ') < 0) || buf_putc(b, *v) < 0)
			return -1;
		space = 0;
	}
	return 0;
}

/* canonical_request appends r's canonical request; cquery: its canonical
 * query when already made, else NULL. */
static int canonical_request(const struct s3_req *r, const char *cquery, struct buf *out)
{
	struct hdr h[HDR_MAX];
	size_t nh;
	if (sorted_headers(r, h, &nh) < 0 || buf_puts(out, r->method) < 0 ||
	    buf_putc(out, '\n') < 0 || buf_puts(out, r->path[0] ? r->path : "/") < 0 ||
	    buf_putc(out, '\n') < 0 ||
	    (cquery ? buf_puts(out, cquery) : canonical_query(r->query, r->nquery, out)) < 0 ||
	    buf_putc(out, '\n') < 0)
		return -1;
	for (size_t i = 0; i < nh; i++)
		if (buf_puts(out, h[i].name) < 0 || buf_putc(out, ':') < 0 ||
		    put_trimmed(out, h[i].value) < 0 || buf_putc(out, '\n') < 0)
			return -1;
	if (buf_putc(out, '\n') < 0 || signed_headers(h, nh, out) < 0 || buf_putc(out, '\n') < 0 ||
	    buf_puts(out, r->payload_hash) < 0)
		return -1;
	return 0;
}

int s3_canonical_request(const struct s3_req *r, struct buf *out)
{
	return canonical_request(r, NULL, out);
}

/* SHA-256 fetched once, and one digest context reused: EVP_sha256()'s
 * lookup, EVP_Digest()'s context and HMAC()'s MAC fetch cost a presigned
 * URL more than its hashing. */
static EVP_MD *sha256_md;
static EVP_MD_CTX *md_ctx;

static int digest_ready(void)
{
	if (sha256_md == NULL)
		sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (md_ctx == NULL)
		md_ctx = EVP_MD_CTX_new();
	return sha256_md != NULL && md_ctx != NULL ? 0 : -1;
}

static int sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	if (digest_ready() < 0 || EVP_DigestInit_ex(md_ctx, sha256_md, NULL) != 1 ||
	    EVP_DigestUpdate(md_ctx, data, len) != 1 || EVP_DigestFinal_ex(md_ctx, md, NULL) != 1)
		return -1;
	codec_hex(md, 32, out);
	return 0;
}

static int hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int n = 32;
	return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out,
		    &n) != NULL
		       ? 0
		       : -1;
}

/* The signing key (kSecret -> kDate -> kRegion -> kService -> kSigning)
 * depends only on the secret, the UTC day and the region: four HMACs that
 * a worker answering presigned redirects would otherwise repeat for each
 * one.  One key is kept per process (workers and the dispatcher are single
 * threaded), with the secret and region it was made for, as the two
 * SHA-256 contexts of HMAC with it (after the key's inner and outer
 * blocks); a new day, secret or region derives it again. */
static struct {
	int valid;
	char day[9];
	char *region, *secret;
	EVP_MD_CTX *inner, *outer;
} key_cache;
static unsigned long key_derivations;

static void url_slots_clear(void);

void s3_signing_cache_clear(void)
{
	url_slots_clear();
	if (key_cache.secret != NULL)
		OPENSSL_cleanse(key_cache.secret, strlen(key_cache.secret));
	free(key_cache.secret);
	free(key_cache.region);
	EVP_MD_CTX_free(key_cache.inner);
	EVP_MD_CTX_free(key_cache.outer);
	memset(&key_cache, 0, sizeof(key_cache));
}

unsigned long s3_signing_key_derivations(void)
{
	return key_derivations;
}

/* hmac_ctx starts *c on key padded to SHA-256's block, XORed with pad. */
static int hmac_ctx(EVP_MD_CTX **c, const unsigned char key[32], unsigned char pad)
{
	unsigned char block[64];
	memset(block, pad, sizeof(block));
	for (int i = 0; i < 32; i++)
		block[i] ^= key[i];
	*c = EVP_MD_CTX_new();
	int ok = *c != NULL && EVP_DigestInit_ex(*c, sha256_md, NULL) == 1 &&
		 EVP_DigestUpdate(*c, block, sizeof(block)) == 1;
	OPENSSL_cleanse(block, sizeof(block));
	return ok ? 0 : -1;
}

/* signing_key makes the kept key the one of secret, day and region. */
static int signing_key(const char *secret, const char *day, const char *region)
{
	if (key_cache.valid && strcmp(key_cache.day, day) == 0 &&
	    strcmp(key_cache.region, region) == 0 && strcmp(key_cache.secret, secret) == 0)
		return 0;
	s3_signing_cache_clear();
	size_t slen = strlen(secret);
	unsigned char *k = malloc(slen + 4), key[32];
	if (k == NULL || digest_ready() < 0) {
		free(k);
		return -1;
	}
	memcpy(k, "AWS4", 4);
	memcpy(k + 4, secret, slen);
	int rc = hmac(k, slen + 4, day, key) | hmac(key, 32, region, key) |
		 hmac(key, 32, "s3", key) | hmac(key, 32, "aws4_request", key);
	OPENSSL_cleanse(k, slen + 4);
	free(k);
	key_derivations++;
	if (rc == 0) {
		memcpy(key_cache.day, day, 9);
		key_cache.region = strdup(region);
		key_cache.secret = strdup(secret);
		rc = key_cache.region && key_cache.secret ? 0 : -1;
	}
	if (rc == 0)
		rc = hmac_ctx(&key_cache.inner, key, 0x36) | hmac_ctx(&key_cache.outer, key, 0x5c);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc < 0) {
		s3_signing_cache_clear();
		return -1;
	}
	key_cache.valid = 1;
	return 0;
}

/* hmac_kept: HMAC-SHA256 of msg with the kept signing key. */
static int hmac_kept(const char *msg, size_t len, unsigned char out[32])
{
	unsigned char in[32];
	return EVP_MD_CTX_copy_ex(md_ctx, key_cache.inner) == 1 &&
			       EVP_DigestUpdate(md_ctx, msg, len) == 1 &&
			       EVP_DigestFinal_ex(md_ctx, in, NULL) == 1 &&
			       EVP_MD_CTX_copy_ex(md_ctx, key_cache.outer) == 1 &&
			       EVP_DigestUpdate(md_ctx, in, sizeof(in)) == 1 &&
			       EVP_DigestFinal_ex(md_ctx, out, NULL) == 1
		       ? 0
		       : -1;
}

/* signature: s3_signature, with r's canonical query when already made. */
static int signature(const struct s3_req *r, const char *cquery, char sig[65])
{
	char date[17], day[9], hash[65];
	s3_amz_date(r->now, date);
	memcpy(day, date, 8);
	day[8] = '\0';
	struct buf canon, sts;
	buf_init(&canon, CANON_MAX);
	buf_init(&sts, CANON_MAX);
	int rc = canonical_request(r, cquery, &canon);
	if (rc == 0)
		rc = sha256_hex(canon.data, canon.len, hash);
	if (rc == 0)
		rc = buf_puts(&sts, "AWS4-HMAC-SHA256\n") | buf_puts(&sts, date) |
		     buf_putc(&sts, '\n') | buf_puts(&sts, day) | buf_putc(&sts, '/') |
		     buf_puts(&sts, r->region) | buf_puts(&sts, "/s3/aws4_request\n") |
		     buf_puts(&sts, hash);
	unsigned char mac[32];
	if (rc == 0)
		rc = signing_key(r->secret_key, day, r->region);
	if (rc == 0)
		rc = hmac_kept(sts.data, sts.len, mac);
	if (rc == 0)
		codec_hex(mac, 32, sig);
	buf_deinit(&canon);
	buf_deinit(&sts);
	return rc;
}

int s3_signature(const struct s3_req *r, char sig[65])
{
	return signature(r, NULL, sig);
}

int s3_authorization(const struct s3_req *r, char *out, size_t n)
{
	char sig[65], date[17];
	struct hdr h[HDR_MAX];
	size_t nh;
	struct buf sh;
	buf_init(&sh, CANON_MAX);
	s3_amz_date(r->now, date);
	int rc = -1;
	if (sorted_headers(r, h, &nh) == 0 && signed_headers(h, nh, &sh) == 0 &&
	    s3_signature(r, sig) == 0) {
		int w = snprintf(out, n,
				 "AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/s3/aws4_request, "
				 "SignedHeaders=%s, Signature=%s",
				 r->access_key, date, r->region, sh.data, sig);
		rc = w > 0 && (size_t)w < n ? 0 : -1;
	}
	buf_deinit(&sh);
	return rc;
}

#define PRESIGN_MAX_PARAMS 16

int s3_presign_query(const struct s3_req *r, long expires, struct buf *out)
{
	if (r->nquery + 5 > PRESIGN_MAX_PARAMS || expires < 1 || expires > 604800)
		return -1;
	char date[17], exp[24], sig[65];
	s3_amz_date(r->now, date);
	char *e = exp + sizeof(exp);
	*--e = '\0';
	for (long v = expires; v > 0; v /= 10)
		*--e = (char)('0' + v % 10);
	struct buf cred, cq;
	buf_init(&cred, 512);
	buf_init(&cq, CANON_MAX);
	int rc = buf_puts(&cred, r->access_key) | buf_putc(&cred, '/') |
		 buf_append(&cred, date, 8) | buf_putc(&cred, '/') | buf_puts(&cred, r->region) |
		 buf_puts(&cred, "/s3/aws4_request");
	struct s3_param q[PRESIGN_MAX_PARAMS];
	size_t n = 0;
	for (size_t i = 0; i < r->nquery; i++)
		q[n++] = r->query[i];
	q[n++] = (struct s3_param){ "X-Amz-Algorithm", "AWS4-HMAC-SHA256" };
	q[n++] = (struct s3_param){ "X-Amz-Credential", cred.data };
	q[n++] = (struct s3_param){ "X-Amz-Date", date };
	q[n++] = (struct s3_param){ "X-Amz-Expires", e };
	q[n++] = (struct s3_param){ "X-Amz-SignedHeaders", "host" };
	struct s3_req p = *r;
	p.query = q;
	p.nquery = n;
	p.headers = NULL;
	p.nheaders = 0;
	p.payload_hash = S3_UNSIGNED;
	/* The canonical query is the one sent: made once, for both. */
	if (rc == 0)
		rc = canonical_query(q, n, &cq);
	if (rc == 0)
		rc = signature(&p, cq.data, sig);
	if (rc == 0)
		rc = buf_append(out, cq.data, cq.len) | buf_puts(out, "&X-Amz-Signature=") |
		     buf_puts(out, sig);
	buf_deinit(&cred);
	buf_deinit(&cq);
	return rc;
}

static int id_chars(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

int s3_object_key(const char *prefix, const char *id, const char *variant, const char *ext,
		  char *out, size_t n)
{
	if (!id_chars(id) || !id_chars(variant) || !id_chars(ext))
		return -1;
	size_t cap = n < S3_KEY_MAX + 1 ? n : S3_KEY_MAX + 1;
	int w = snprintf(out, cap, "%s%s/%s.%s", prefix ? prefix : "", id, variant, ext);
	if (w < 0 || (size_t)w >= cap) {
		if (n)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

/* split_endpoint reads "scheme://host[:port][/path]" (config.c checked
 * it): the scheme and authority, and the path without a trailing '/'. */
static int split_endpoint(const char *ep, char *scheme, size_t ns, char *auth, size_t na,
			  const char **path)
{
	const char *s = strstr(ep, "://");
	if (s == NULL || (size_t)(s - ep) >= ns)
		return -1;
	memcpy(scheme, ep, (size_t)(s - ep));
	scheme[s - ep] = '\0';
	const char *h = s + 3, *slash = strchr(h, '/');
	size_t hl = slash ? (size_t)(slash - h) : strlen(h);
	if (hl == 0 || hl >= na)
		return -1;
	memcpy(auth, h, hl);
	auth[hl] = '\0';
	*path = slash ? slash : "";
	return 0;
}

int s3_locate(const struct s3_config *c, const char *key, struct s3_loc *out)
{
	char scheme[16], auth[400];
	const char *base;
	if (split_endpoint(c->endpoint, scheme, sizeof(scheme), auth, sizeof(auth), &base) < 0)
		return -1;
	size_t bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	struct buf p;
	buf_init(&p, sizeof(out->path) - 1);
	int rc = buf_append(&p, base, bl);
	if (rc == 0 && c->path_style)
		rc = buf_putc(&p, '/') < 0 || buf_pct_encode(&p, c->bucket, 0) < 0 ? -1 : 0;
	if (rc == 0 && (key || !c->path_style))
		rc = buf_putc(&p, '/');
	if (rc == 0 && key)
		rc = buf_pct_encode(&p, key, 1);
	if (rc == 0) {
		const char *host[] = { c->bucket, ".", auth };
		const char *path[] = { p.data ? p.data : "/" };
		rc = (c->path_style ? str_join(out->host, sizeof(out->host), host + 2, 1)
				    : str_join(out->host, sizeof(out->host), host, 3)) |
		     str_join(out->path, sizeof(out->path), path, 1);
	}
	if (rc == 0) {
		const char *url[] = { scheme, "://", out->host, out->path };
		rc = str_join(out->url, sizeof(out->url), url, 4);
	}
	buf_deinit(&p);
	return rc;
}

/* presign_at writes the presigned GET URL of key signed at now, valid for
 * expires seconds from then. */
static int presign_at(const struct s3_config *c, const char *key, time_t now, long expires,
		      char *out, size_t n)
{
	struct s3_loc *loc = malloc(sizeof(*loc));
	if (loc == NULL || s3_locate(c, key, loc) < 0) {
		free(loc);
		return -1;
	}
	struct s3_req r = { .method = "GET",
			    .host = loc->host,
			    .path = loc->path,
			    .payload_hash = S3_UNSIGNED,
			    .region = c->region,
			    .access_key = c->access_key,
			    .secret_key = c->secret_key,
			    .now = now };
	struct buf q;
	buf_init(&q, S3_URL_MAX);
	int rc = s3_presign_query(&r, expires, &q);
	if (rc == 0) {
		const char *url[] = { loc->url, "?", q.data };
		rc = str_join(out, n, url, 3);
	}
	buf_deinit(&q);
	free(loc);
	return rc;
}

/* Presigned GETs made in this process, kept while their window lasts
 * (content.s3.presign_reuse_seconds): a few objects asked for again and
 * again (a gallery's thumbnails, a video everyone plays) are signed once
 * a window, and their URLs stay the same, which browsers and CDNs cache.
 * A slot per object key's hash; a slot is reused by whichever key comes
 * next.  Each slot remembers the configuration it was signed under (a
 * hash of every field a URL depends on) as well as the key and window. */
enum { URL_SLOTS = 64 };
static struct url_slot {
	uint64_t conf;
	long long window;
	char *key, *url;
	size_t url_len;
} url_slots[URL_SLOTS];
static unsigned long url_signings;

static uint64_t fnv(uint64_t h, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
	/* the terminating NUL too: "ab","c" and "a","bc" differ */
	return fnv(h, s ? s : "", (s ? strlen(s) : 0) + 1);
}

static uint64_t conf_hash(const struct s3_config *c)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	h = fnv_str(h, c->endpoint);
	h = fnv_str(h, c->region);
	h = fnv_str(h, c->bucket);
	h = fnv_str(h, c->access_key);
	h = fnv_str(h, c->secret_key);
	long v[3] = { c->path_style, c->presign_seconds, c->presign_reuse_seconds };
	return fnv(h, (const char *)v, sizeof(v));
}

static void url_slots_clear(void)
{
	for (size_t i = 0; i < URL_SLOTS; i++) {
		free(url_slots[i].key);
		free(url_slots[i].url);
	}
	memset(url_slots, 0, sizeof(url_slots));
}

unsigned long s3_presign_signings(void)
{
	return url_signings;
}

int s3_presign_get(const struct s3_config *c, const char *key, time_t now, char *out, size_t n)
{
	long w = c->presign_reuse_seconds;
	if (w <= 0 || now < 0 || c->presign_seconds + w > S3_PRESIGN_MAX) {
		url_signings++;
		return presign_at(c, key, now, c->presign_seconds, out, n);
	}
	/* Signed at the start of the window now is in, and valid for the
	 * window's length longer: whenever in the window a URL is handed
	 * out, it lives presign_seconds at least. */
	long long window = (long long)now - (long long)now % w;
	uint64_t conf = conf_hash(c);
	struct url_slot *s = &url_slots[fnv_str(conf, key) % URL_SLOTS];
	if (s->key != NULL && s->conf == conf && s->window == window && strcmp(s->key, key) == 0) {
		if (s->url_len >= n) {
			if (n)
				out[0] = '\0';
			return -1;
		}
		memcpy(out, s->url, s->url_len + 1);
		return 0;
	}
	url_signings++;
	if (presign_at(c, key, (time_t)window, c->presign_seconds + w, out, n) < 0)
		return -1;
	char *k = strdup(key), *u = strdup(out);
	if (k == NULL || u == NULL) { /* answered all the same, not kept */
		free(k);
		free(u);
		return 0;
	}
	free(s->key);
	free(s->url);
	*s = (struct url_slot){ conf, window, k, u, strlen(u) };
	return 0;
}

/* ---- XML ----------------------------------------------------------------- */

/* find_open finds "<tag" followed by '>' or blank in [p, end): the first
 * byte of the element's text, or NULL. */
static const char *find_open(const char *p, const char *end, const char *tag, size_t tl)
{
	while (p + tl + 2 <= end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		if (lt == NULL || lt + tl + 2 > end)
			return NULL;
		if (memcmp(lt + 1, tag, tl) == 0) {
			const char *q = lt + 1 + tl;
			if (*q == '>')
				return q + 1;
			if (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n') {
				const char *gt = memchr(q, '>', (size_t)(end - q));
				if (gt == NULL)
					return NULL;
				if (gt[-1] != '/') /* <tag/>: empty, no text to read */
					return gt + 1;
			}
		}
		p = lt + 1;
	}
	return NULL;
}

/* put_entity decodes the entity at s (s[0] == '&', before end) into out:
 * its length in s, or 0 when it is not one reelgate knows. */
static size_t put_entity(const char *s, const char *end, struct buf *out, int *rc)
{
	static const struct {
		const char *name;
		char c;
	} named[] = { { "&amp;", '&' },
		      { "&lt;", '<' },
		      { "&gt;", '>' },
		      { "&quot;", '"' },
		      { "&apos;", '\'' } };
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		size_t l = strlen(named[i].name);
		if ((size_t)(end - s) >= l && memcmp(s, named[i].name, l) == 0) {
			*rc = buf_putc(out, named[i].c);
			return l;
		}
	}
	if ((size_t)(end - s) >= 4 && s[1] == '#') {
		/* &#NN; or &#xNN; of an ASCII character */
		const char *p = s + 2;
		int hex = *p == 'x';
		p += hex;
		unsigned v = 0, digits = 0;
		for (; p < end && *p != ';' && digits < 4; p++, digits++) {
			unsigned d;
			if (*p >= '0' && *p <= '9')
				d = (unsigned)(*p - '0');
			else if (hex && ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f'))
				d = (unsigned)((*p | 0x20) - 'a' + 10);
			else
				return 0;
			v = v * (hex ? 16 : 10) + d;
		}
		if (p < end && *p == ';' && digits > 0 && v > 0 && v < 128) {
			*rc = buf_putc(out, (char)v);
			return (size_t)(p + 1 - s);
		}
	}
	return 0;
}

int s3_xml_text(const char *xml, size_t len, const char *tag, size_t nth, char *out, size_t n)
{
	if (n == 0)
		return -1;
	out[0] = '\0';
	size_t tl = strlen(tag);
	if (xml == NULL || tl == 0 || tl > 64)
		return 0;
	const char *end = xml + len, *p = xml, *text = NULL;
	for (size_t i = 0; i <= nth; i++) {
		if ((text = find_open(p, end, tag, tl)) == NULL)
			return 0;
		p = text;
	}
	char close[72];
	snprintf(close, sizeof(close), "</%s>", tag);
	size_t cl = tl + 3;
	const char *stop = NULL;
	for (const char *q = text; q + cl <= end; q++)
		if (*q == '<') {
			if (memcmp(q, close, cl) == 0)
				stop = q;
			break; /* text only: a nested element is not read */
		}
	if (stop == NULL)
		return -1;
	struct buf b;
	buf_init(&b, n - 1);
	int rc = 0;
	for (const char *q = text; q < stop && rc == 0;) {
		if (*q == '&') {
			size_t used = put_entity(q, stop, &b, &rc);
			if (used == 0)
				rc = -1;
			q += used;
		} else {
			rc = buf_putc(&b, *q++);
		}
	}
	if (rc == 0)
		snprintf(out, n, "%s", b.data ? b.data : "");
	buf_deinit(&b);
	return rc == 0 ? 1 : -1;
}

void s3_xml_error(const char *xml, size_t len, char *code, size_t ncode, char *msg, size_t nmsg)
{
	if (s3_xml_text(xml, len, "Code", 0, code, ncode) != 1)
		code[0] = '\0';
	if (s3_xml_text(xml, len, "Message", 0, msg, nmsg) != 1)
		msg[0] = '\0';
}
