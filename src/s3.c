/*
 * s3: SigV4 signing, presigned URLs, object keys and URLs, and the XML
 * answers reelgate reads (s3.h).  Pure: no I/O, no clock but the one
 * passed in.
 */
#include "s3.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* Canonical texts are small; the limit only guards against a runaway. */
#define CANON_MAX (64 * 1024)

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

int s3_uri_encode(struct buf *b, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		/* the run of bytes kept as they are, in one append */
		const unsigned char *run = p;
		while (*p && (unreserved(*p) || (keep_slash && *p == '/')))
			p++;
		if (p > run && buf_append(b, run, (size_t)(p - run)) < 0)
			return -1;
		if (*p) {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			if (buf_append(b, e, 3) < 0)
				return -1;
			p++;
		}
	}
	return 0;
}

void s3_amz_date(time_t t, char out[17])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* An encoded query parameter, for sorting by encoded name then value. */
struct enc_param {
	char *name, *value;
};

static int cmp_param(const void *a, const void *b)
{
	const struct enc_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

static char *encoded(const char *s)
{
	struct buf b;
	buf_init(&b, CANON_MAX);
	if (s3_uri_encode(&b, s, 0) < 0 || buf_putc(&b, '\0') < 0) {
		buf_deinit(&b);
		return NULL;
	}
	b.len--;
	return buf_take(&b);
}

/* canonical_query appends q sorted by encoded name, each name=value. */
static int canonical_query(const struct s3_param *q, size_t n, struct buf *out)
{
	if (n == 0)
		return 0;
	struct enc_param *e = calloc(n, sizeof(*e));
	int rc = e ? 0 : -1;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		e[i].name = encoded(q[i].name);
		e[i].value = encoded(q[i].value ? q[i].value : "");
		if (e[i].name == NULL || e[i].value == NULL)
			rc = -1;
	}
	if (rc == 0)
		qsort(e, n, sizeof(*e), cmp_param);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = (i ? buf_putc(out, '&') : 0) | buf_puts(out, e[i].name) | buf_putc(out, '=') |
		     buf_puts(out, e[i].value);
	for (size_t i = 0; e && i < n; i++) {
		free(e[i].name);
		free(e[i].value);
	}
	free(e);
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

int s3_canonical_request(const struct s3_req *r, struct buf *out)
{
	struct hdr h[HDR_MAX];
	size_t nh;
	if (sorted_headers(r, h, &nh) < 0 || buf_puts(out, r->method) < 0 ||
	    buf_putc(out, '\n') < 0 || buf_puts(out, r->path[0] ? r->path : "/") < 0 ||
	    buf_putc(out, '\n') < 0 || canonical_query(r->query, r->nquery, out) < 0 ||
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

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	codec_hex(md, 32, out);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int n = 32;
	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n);
}

/* The signing key (kSecret -> kDate -> kRegion -> kService -> kSigning)
 * depends only on the secret, the UTC day and the region: four HMACs that
 * a worker answering presigned redirects would otherwise repeat for each
 * one.  One key is kept per process (workers and the dispatcher are single
 * threaded), with the secret and region it was made for; a new day, secret
 * or region derives it again.  Too long a secret or region is not cached. */
static struct {
	int valid;
	char day[9];
	char region[64];
	char secret[256];
	unsigned char key[32];
} key_cache;
static unsigned long key_derivations;

void s3_signing_cache_clear(void)
{
	OPENSSL_cleanse(&key_cache, sizeof(key_cache));
}

unsigned long s3_signing_key_derivations(void)
{
	return key_derivations;
}

static int signing_key(const char *secret, const char *day, const char *region,
		       unsigned char key[32])
{
	if (key_cache.valid && strcmp(key_cache.day, day) == 0 &&
	    strcmp(key_cache.region, region) == 0 && strcmp(key_cache.secret, secret) == 0) {
		memcpy(key, key_cache.key, 32);
		return 0;
	}
	size_t slen = strlen(secret);
	unsigned char *k = malloc(slen + 4);
	if (k == NULL)
		return -1;
	memcpy(k, "AWS4", 4);
	memcpy(k + 4, secret, slen);
	hmac(k, slen + 4, day, key);
	OPENSSL_cleanse(k, slen + 4);
	free(k);
	hmac(key, 32, region, key);
	hmac(key, 32, "s3", key);
	hmac(key, 32, "aws4_request", key);
	key_derivations++;
	s3_signing_cache_clear();
	if (slen < sizeof(key_cache.secret) && strlen(region) < sizeof(key_cache.region)) {
		memcpy(key_cache.day, day, 9);
		memcpy(key_cache.region, region, strlen(region) + 1);
		memcpy(key_cache.secret, secret, slen + 1);
		memcpy(key_cache.key, key, 32);
		key_cache.valid = 1;
	}
	return 0;
}

int s3_signature(const struct s3_req *r, char sig[65])
{
	char date[17], day[9], hash[65];
	s3_amz_date(r->now, date);
	memcpy(day, date, 8);
	day[8] = '\0';
	struct buf canon, sts;
	buf_init(&canon, CANON_MAX);
	buf_init(&sts, CANON_MAX);
	int rc = s3_canonical_request(r, &canon);
	if (rc == 0) {
		sha256_hex(canon.data, canon.len, hash);
		rc = buf_puts(&sts, "AWS4-HMAC-SHA256\n") | buf_puts(&sts, date) |
		     buf_putc(&sts, '\n') | buf_puts(&sts, day) | buf_putc(&sts, '/') |
		     buf_puts(&sts, r->region) | buf_puts(&sts, "/s3/aws4_request\n") |
		     buf_puts(&sts, hash);
	}
	if (rc == 0) {
		unsigned char key[32], mac[32];
		rc = signing_key(r->secret_key, day, r->region, key);
		if (rc == 0) {
			hmac(key, 32, sts.data, mac);
			OPENSSL_cleanse(key, sizeof(key));
			codec_hex(mac, 32, sig);
		}
	}
	buf_deinit(&canon);
	buf_deinit(&sts);
	return rc;
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
	char date[17], cred[512], exp[24], sig[65];
	s3_amz_date(r->now, date);
	if (snprintf(cred, sizeof(cred), "%s/%.8s/%s/s3/aws4_request", r->access_key, date,
		     r->region) >= (int)sizeof(cred))
		return -1;
	snprintf(exp, sizeof(exp), "%ld", expires);
	struct s3_param q[PRESIGN_MAX_PARAMS];
	size_t n = 0;
	for (size_t i = 0; i < r->nquery; i++)
		q[n++] = r->query[i];
	q[n++] = (struct s3_param){ "X-Amz-Algorithm", "AWS4-HMAC-SHA256" };
	q[n++] = (struct s3_param){ "X-Amz-Credential", cred };
	q[n++] = (struct s3_param){ "X-Amz-Date", date };
	q[n++] = (struct s3_param){ "X-Amz-Expires", exp };
	q[n++] = (struct s3_param){ "X-Amz-SignedHeaders", "host" };
	struct s3_req p = *r;
	p.query = q;
	p.nquery = n;
	p.headers = NULL;
	p.nheaders = 0;
	p.payload_hash = S3_UNSIGNED;
	if (s3_signature(&p, sig) < 0 || canonical_query(q, n, out) < 0 ||
	    buf_printf(out, "&X-Amz-Signature=%s", sig) < 0)
		return -1;
	return 0;
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
		rc = buf_putc(&p, '/') < 0 || s3_uri_encode(&p, c->bucket, 0) < 0 ? -1 : 0;
	if (rc == 0 && (key || !c->path_style))
		rc = buf_putc(&p, '/');
	if (rc == 0 && key)
		rc = s3_uri_encode(&p, key, 1);
	if (rc == 0) {
		int w1 = c->path_style
				 ? snprintf(out->host, sizeof(out->host), "%s", auth)
				 : snprintf(out->host, sizeof(out->host), "%s.%s", c->bucket, auth);
		int w2 = snprintf(out->path, sizeof(out->path), "%s", p.data ? p.data : "/");
		int w3 = snprintf(out->url, sizeof(out->url), "%s://%s%s", scheme, out->host,
				  out->path);
		if (w1 < 0 || (size_t)w1 >= sizeof(out->host) || w2 < 0 ||
		    (size_t)w2 >= sizeof(out->path) || w3 < 0 || (size_t)w3 >= sizeof(out->url))
			rc = -1;
	}
	buf_deinit(&p);
	return rc;
}

int s3_presign_get(const struct s3_config *c, const char *key, time_t now, char *out, size_t n)
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
	int rc = s3_presign_query(&r, c->presign_seconds, &q);
	if (rc == 0) {
		int w = snprintf(out, n, "%s?%s", loc->url, q.data);
		rc = w > 0 && (size_t)w < n ? 0 : -1;
	}
	buf_deinit(&q);
	free(loc);
	return rc;
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
