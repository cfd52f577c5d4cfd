/*
 * s3: the pure parts of an S3 client: AWS Signature Version 4 (a request's
 * Authorization header, and presigned GET URLs), object keys and URLs, and
 * the few XML answers reelgate reads (an upload's UploadId, the parts of a
 * multipart upload, an error's Code and Message).  No I/O here: the
 * dispatcher (s3_upload.c) sends what this builds, the workers (api.c)
 * answer with the presigned URLs.
 *
 * One signer signs both the requests and the presigned URLs, so the two
 * cannot disagree on canonicalisation (libcurl's CURLOPT_AWS_SIGV4 cannot
 * presign, and in 7.88 it signs the query as given rather than sorted).
 */
#ifndef REELGATE_S3_H
#define REELGATE_S3_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "config.h"

#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_UNSIGNED "UNSIGNED-PAYLOAD"
/* An object key is at most 1024 bytes (S3's own limit). */
#define S3_KEY_MAX 1024
#define S3_URL_MAX 4096

struct s3_param {
	const char *name;
	const char *value; /* "" for a name alone ("uploads") */
};

/* One request to sign.  path is already encoded (s3_locate); query and
 * header values are as they are sent, unencoded; header names lowercase,
 * "host" is implied. */
struct s3_req {
	const char *method;
	const char *host; /* the Host header: "host" or "host:port" */
	const char *path;
	const struct s3_param *query;
	size_t nquery;
	const struct s3_param *headers;
	size_t nheaders;
	const char *payload_hash; /* hex SHA-256 of the body, or S3_UNSIGNED */
	const char *region;
	const char *access_key, *secret_key; /* borrowed secrets */
	time_t now;
};

/* s3_canonical_request appends the canonical request of r (for tests and
 * for a server's error message to be compared with). */
int s3_canonical_request(const struct s3_req *r, struct buf *out);
/* s3_signature writes r's signature, 64 hex digits and a NUL. */
int s3_signature(const struct s3_req *r, char sig[65]);
/* s3_authorization writes the Authorization header's value for r
 * (r->headers must hold x-amz-date and x-amz-content-sha256). */
int s3_authorization(const struct s3_req *r, char *out, size_t n);
/* s3_presign_query appends the query string of a presigned r (r's own
 * query, then the X-Amz-* parameters, expires seconds, UNSIGNED-PAYLOAD,
 * only host signed), signature last. */
int s3_presign_query(const struct s3_req *r, long expires, struct buf *out);
/* The signing key of a secret, UTC day and region is derived once and kept
 * (one per process) until one of the three changes.
 * s3_signing_cache_clear forgets it (wiped); s3_signing_key_derivations
 * counts the derivations made (for tests). */
void s3_signing_cache_clear(void);
unsigned long s3_signing_key_derivations(void);
/* s3_amz_date writes t as 20130524T000000Z. */
void s3_amz_date(time_t t, char out[17]);

/* s3_object_key writes prefix + id + "/" + variant + "." + ext: -1 when it
 * does not fit S3_KEY_MAX or id / variant hold anything but [A-Za-z0-9_-]. */
int s3_object_key(const char *prefix, const char *id, const char *variant, const char *ext,
		  char *out, size_t n);

/* Where an object is: the URL to send to, its Host header and the encoded
 * path that is signed. */
struct s3_loc {
	char url[S3_URL_MAX]; /* without a query */
	char host[512];
	char path[S3_URL_MAX];
};
/* s3_locate places key (may be NULL: the bucket itself) for c: path style
 * (endpoint/bucket/key) or virtual-hosted (bucket.host/key). */
int s3_locate(const struct s3_config *c, const char *key, struct s3_loc *out);
/* s3_presign_get writes the presigned GET URL of key, valid for
 * c->presign_seconds from now at least.  With c->presign_reuse_seconds
 * W > 0 it is signed at the start of now's W-second window (epoch
 * multiples of W, the same for every process and node) with X-Amz-Expires
 * presign_seconds + W, and kept: a key asked for again in that window gets
 * the same URL without signing.  s3_presign_signings counts the URLs this
 * process signed (tests); s3_signing_cache_clear forgets the kept ones. */
int s3_presign_get(const struct s3_config *c, const char *key, time_t now, char *out, size_t n);
unsigned long s3_presign_signings(void);

/* s3_xml_text finds the nth (from 0) element <tag> of xml (len bytes, not
 * NUL-terminated) and writes its text with the XML entities decoded: 1,
 * 0 when there is no such element, -1 when its text is malformed or does
 * not fit n (out is then ""). */
int s3_xml_text(const char *xml, size_t len, const char *tag, size_t nth, char *out, size_t n);
/* s3_xml_error reads an <Error>'s Code and Message (each "" if absent). */
void s3_xml_error(const char *xml, size_t len, char *code, size_t ncode, char *msg, size_t nmsg);

#endif
