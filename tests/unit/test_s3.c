/* Unit tests for the S3 client's pure parts (s3.c): SigV4 against AWS's
 * published examples (the S3 API reference, "Examples: Signature
 * Calculations", and its presigned URL example) and against botocore's
 * signer for requests of the shapes reelgate sends (a part of a multipart
 * upload on a path-style endpoint with a port, a presigned GET there);
 * object keys, URLs, and the XML answers. */
#include <check.h>
#include <string.h>

#include "config.h"
#include "s3.h"
#include "testutil.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define T20130524 ((time_t)1369353600) /* 2013-05-24T00:00:00Z */

/* AWS's SigV4 examples: GET /test.txt of examplebucket, 2013-05-24. */
static const struct s3_param aws_get_headers[] = { { "range", "bytes=0-9" },
						   { "x-amz-content-sha256", S3_EMPTY_SHA256 },
						   { "x-amz-date", "20130524T000000Z" } };

/* aws_example: the request of AWS's presigned example (no headers,
 * unsigned payload); its GET Object example adds aws_get_headers and the
 * empty payload's hash. */
static struct s3_req aws_example(int get_object)
{
	struct s3_req r = { .method = "GET",
			    .host = "examplebucket.s3.amazonaws.com",
			    .path = "/test.txt",
			    .payload_hash = S3_UNSIGNED,
			    .region = "us-east-1",
			    .access_key = AK,
			    .secret_key = SK,
			    .now = T20130524 };
	if (get_object) {
		r.headers = aws_get_headers;
		r.nheaders = 3;
		r.payload_hash = S3_EMPTY_SHA256;
	}
	return r;
}

START_TEST(aws_get_object_example)
{
	struct s3_req r = aws_example(1);
	struct buf b;
	buf_init(&b, 4096);
	ck_assert_int_eq(s3_canonical_request(&r, &b), 0);
	ck_assert_str_eq(b.data, "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
				 "range:bytes=0-9\nx-amz-content-sha256:" S3_EMPTY_SHA256 "\n"
				 "x-amz-date:20130524T000000Z\n\n"
				 "host;range;x-amz-content-sha256;x-amz-date\n" S3_EMPTY_SHA256);
	buf_deinit(&b);
	char sig[65], auth[512];
	ck_assert_int_eq(s3_signature(&r, sig), 0);
	ck_assert_str_eq(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	ck_assert_int_eq(s3_authorization(&r, auth, sizeof(auth)), 0);
	ck_assert_str_eq(auth, "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/"
			       "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;"
			       "x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170a"
			       "ba48dd91039c6036bdb41");
	ck_assert_int_eq(s3_authorization(&r, auth, 40), -1); /* does not fit */
}
END_TEST

START_TEST(aws_presigned_example)
{
	struct s3_req r = aws_example(0);
	struct buf q;
	buf_init(&q, 4096);
	ck_assert_int_eq(s3_presign_query(&r, 86400, &q), 0);
	ck_assert_str_eq(q.data,
			 "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" AK
			 "%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&"
			 "X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature="
			 "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	buf_reset(&q);
	ck_assert_int_eq(s3_presign_query(&r, 0, &q), -1);
	ck_assert_int_eq(s3_presign_query(&r, 604801, &q), -1);
	buf_deinit(&q);
}
END_TEST

/* botocore 1.x S3SigV4Auth / S3SigV4QueryAuth at 2013-05-24T00:00:00Z */
START_TEST(botocore_part_upload)
{
	const struct s3_param q[] = { { "uploadId", "a/b=" }, { "partNumber", "2" } };
	const struct s3_param h[] = { { "x-amz-date", "20130524T000000Z" },
				      { "x-amz-content-sha256", S3_EMPTY_SHA256 } };
	struct s3_req r = { .method = "PUT",
			    .host = "127.0.0.1:9000",
			    .path = "/my-bucket/re%20el/video_01/video.mp4",
			    .query = q,
			    .nquery = 2,
			    .headers = h,
			    .nheaders = 2,
			    .payload_hash = S3_EMPTY_SHA256, /* botocore: an empty body's */
			    .region = "eu-west-3",
			    .access_key = AK,
			    .secret_key = SK,
			    .now = T20130524 };
	char sig[65];
	ck_assert_int_eq(s3_signature(&r, sig), 0);
	ck_assert_str_eq(sig, "382c78b10a79774378bcef6919fda50ae6dfdf2ef94d0dc64ff91260ecf58c72");
}
END_TEST

static void test_cfg(struct s3_config *c, int path_style)
{
	memset(c, 0, sizeof(*c));
	c->endpoint = path_style ? "http://127.0.0.1:9000" : "https://s3.eu-west-3.amazonaws.com";
	c->region = "eu-west-3";
	c->bucket = "my-bucket";
	c->prefix = "p/";
	c->access_key = AK;
	c->secret_key = SK;
	c->path_style = path_style;
	c->presign_seconds = 300;
}

START_TEST(presign_get_path_style)
{
	struct s3_config c;
	test_cfg(&c, 1);
	char key[S3_KEY_MAX + 1], url[S3_URL_MAX];
	ck_assert_int_eq(s3_object_key(c.prefix, "video_01", "thumbnail", "webp", key, sizeof(key)),
			 0);
	ck_assert_str_eq(key, "p/video_01/thumbnail.webp");
	ck_assert_int_eq(s3_presign_get(&c, key, T20130524, url, sizeof(url)), 0);
	ck_assert_str_eq(url, "http://127.0.0.1:9000/my-bucket/p/video_01/thumbnail.webp?"
			      "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" AK
			      "%2F20130524%2Feu-west-3%2Fs3%2Faws4_request&X-Amz-Date="
			      "20130524T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&"
			      "X-Amz-Signature=76a209a8717f736d0e9e5190d795b9b1b5b017981cb04031"
			      "c5cb879a0d494dab");
	ck_assert_int_eq(s3_presign_get(&c, key, T20130524, url, 100), -1);
}
END_TEST

/* With presign_reuse_seconds W: a URL is signed at the start of its
 * W-second window (epoch multiples) for presign_seconds + W, exactly the
 * URL a fresh signing at that instant for that long gives; asked again in
 * the window it is the same URL, unsigned again; a new window, another
 * key or another configuration signs anew. */
START_TEST(presign_reuse)
{
	struct s3_config c, fresh;
	test_cfg(&c, 1);
	c.presign_reuse_seconds = 60;
	fresh = c;
	fresh.presign_seconds = 360;
	fresh.presign_reuse_seconds = 0;
	s3_signing_cache_clear();
	char url[S3_URL_MAX], again[S3_URL_MAX], want[S3_URL_MAX];
	const char *key = "p/video_01/video.mp4";
	time_t t = T20130524 + 17; /* T20130524 is a multiple of 60 */
	unsigned long n0 = s3_presign_signings();
	ck_assert_int_eq(s3_presign_get(&c, key, t, url, sizeof(url)), 0);
	ck_assert_ptr_nonnull(strstr(url, "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=360&"));
	ck_assert_int_eq(s3_presign_get(&fresh, key, T20130524, want, sizeof(want)), 0);
	ck_assert_str_eq(url, want);
	ck_assert_uint_eq(s3_presign_signings(), n0 + 2);
	/* the rest of the window: the same URL, no signing */
	ck_assert_int_eq(s3_presign_get(&c, key, T20130524 + 59, again, sizeof(again)), 0);
	ck_assert_str_eq(again, url);
	ck_assert_uint_eq(s3_presign_signings(), n0 + 2);
	/* too small a buffer for the kept URL: refused, as a signing would be */
	ck_assert_int_eq(s3_presign_get(&c, key, t, again, 100), -1);
	/* the next window */
	ck_assert_int_eq(s3_presign_get(&c, key, T20130524 + 60, again, sizeof(again)), 0);
	ck_assert_ptr_nonnull(strstr(again, "&X-Amz-Date=20130524T000100Z&X-Amz-Expires=360&"));
	ck_assert_uint_eq(s3_presign_signings(), n0 + 3);
	/* another key, then another secret: signed anew */
	ck_assert_int_eq(
		s3_presign_get(&c, "p/video_02/video.mp4", T20130524 + 61, again, sizeof(again)),
		0);
	ck_assert_ptr_nonnull(strstr(again, "/p/video_02/video.mp4?"));
	ck_assert_uint_eq(s3_presign_signings(), n0 + 4);
	c.secret_key = "another/secret";
	ck_assert_int_eq(s3_presign_get(&c, key, T20130524 + 62, again, sizeof(again)), 0);
	ck_assert_uint_eq(s3_presign_signings(), n0 + 5);
	ck_assert_str_ne(again, url);
	/* without reuse: signed at the very second, for presign_seconds */
	c.presign_reuse_seconds = 0;
	ck_assert_int_eq(s3_presign_get(&c, key, t, again, sizeof(again)), 0);
	ck_assert_ptr_nonnull(strstr(again, "&X-Amz-Date=20130524T000017Z&X-Amz-Expires=300&"));
	ck_assert_uint_eq(s3_presign_signings(), n0 + 6);
	s3_signing_cache_clear();
}
END_TEST

/* The signing key kept from one presigned URL to the next gives the URLs
 * a fresh derivation gives: within a day, across midnight (UTC), and when
 * the secret or the region changes; it is derived once per day. */
START_TEST(signing_key_cache)
{
	struct s3_config c;
	test_cfg(&c, 1);
	const char *key = "p/video_01/video.mp4";
	const time_t before_midnight = T20130524 + 86400 - 10; /* 2013-05-24T23:59:50Z */
	char kept[S3_URL_MAX], fresh[S3_URL_MAX];

	s3_signing_cache_clear();
	unsigned long d0 = s3_signing_key_derivations();
	ck_assert_int_eq(s3_presign_get(&c, key, before_midnight, kept, sizeof(kept)), 0);
	ck_assert_uint_eq(s3_signing_key_derivations(), d0 + 1);
	ck_assert_int_eq(s3_presign_get(&c, key, before_midnight + 5, kept, sizeof(kept)), 0);
	ck_assert_uint_eq(s3_signing_key_derivations(), d0 + 1); /* kept */
	s3_signing_cache_clear();
	ck_assert_int_eq(s3_presign_get(&c, key, before_midnight + 5, fresh, sizeof(fresh)), 0);
	ck_assert_uint_eq(s3_signing_key_derivations(), d0 + 2);
	ck_assert_str_eq(kept, fresh);

	/* 2013-05-25T00:00:05Z: a new day, a new key */
	ck_assert_int_eq(s3_presign_get(&c, key, before_midnight + 15, kept, sizeof(kept)), 0);
	ck_assert_uint_eq(s3_signing_key_derivations(), d0 + 3);
	ck_assert_ptr_nonnull(strstr(kept, "%2F20130525%2F"));
	s3_signing_cache_clear();
	ck_assert_int_eq(s3_presign_get(&c, key, before_midnight + 15, fresh, sizeof(fresh)), 0);
	ck_assert_str_eq(kept, fresh);

	/* another secret, then another region: derived again, as fresh */
	c.secret_key = "another/secret";
	ck_assert_int_eq(s3_presign_get(&c, key, before_midnight + 15, kept, sizeof(kept)), 0);
	ck_assert_str_ne(kept, fresh);
	s3_signing_cache_clear();
	ck_assert_int_eq(s3_presign_get(&c, key, before_midnight + 15, fresh, sizeof(fresh)), 0);
	ck_assert_str_eq(kept, fresh);
	c.secret_key = SK;
	c.region = "us-east-1";
	ck_assert_int_eq(s3_presign_get(&c, key, before_midnight + 15, kept, sizeof(kept)), 0);
	s3_signing_cache_clear();
	ck_assert_int_eq(s3_presign_get(&c, key, before_midnight + 15, fresh, sizeof(fresh)), 0);
	ck_assert_str_eq(kept, fresh);
	ck_assert_ptr_nonnull(strstr(kept, "%2Fus-east-1%2F"));

	/* a key kept from another day and region does not leak into AWS's
	 * example */
	char sig[65];
	struct s3_req r = aws_example(1);
	for (int i = 0; i < 2; i++) { /* derived, then kept */
		ck_assert_int_eq(s3_signature(&r, sig), 0);
		ck_assert_str_eq(
			sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	}
}
END_TEST

START_TEST(locate)
{
	struct s3_config c;
	struct s3_loc l;
	test_cfg(&c, 0);
	ck_assert_int_eq(s3_locate(&c, "p/a b+c/v.mp4", &l), 0);
	ck_assert_str_eq(l.host, "my-bucket.s3.eu-west-3.amazonaws.com");
	ck_assert_str_eq(l.path, "/p/a%20b%2Bc/v.mp4");
	ck_assert_str_eq(l.url, "https://my-bucket.s3.eu-west-3.amazonaws.com/p/a%20b%2Bc/v.mp4");
	ck_assert_int_eq(s3_locate(&c, NULL, &l), 0);
	ck_assert_str_eq(l.path, "/");
	test_cfg(&c, 1);
	c.endpoint = "http://minio.local:9000/base";
	ck_assert_int_eq(s3_locate(&c, "k", &l), 0);
	ck_assert_str_eq(l.url, "http://minio.local:9000/base/my-bucket/k");
	ck_assert_str_eq(l.host, "minio.local:9000");
	c.endpoint = "minio.local";
	ck_assert_int_eq(s3_locate(&c, "k", &l), -1);
}
END_TEST

START_TEST(object_keys)
{
	char k[S3_KEY_MAX + 1];
	ck_assert_int_eq(s3_object_key("", "video_x", "video", "mp4", k, sizeof(k)), 0);
	ck_assert_str_eq(k, "video_x/video.mp4");
	ck_assert_int_eq(s3_object_key("a/", "../x", "video", "mp4", k, sizeof(k)), -1);
	ck_assert_int_eq(s3_object_key("a/", "x", "vid/eo", "mp4", k, sizeof(k)), -1);
	ck_assert_int_eq(s3_object_key("a/", "", "video", "mp4", k, sizeof(k)), -1);
	ck_assert_int_eq(s3_object_key("a/", "video_x", "video", "mp4", k, 8), -1);
	ck_assert_str_eq(k, "");
	char longp[1100];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	char big[2048];
	ck_assert_int_eq(s3_object_key(longp, "x", "video", "mp4", big, sizeof(big)), -1);
}
END_TEST

START_TEST(uri_encoding)
{
	struct buf b;
	buf_init(&b, 64);
	ck_assert_int_eq(buf_pct_encode(&b, "a-_.~/ Z\xc3\xa9", 1), 0);
	ck_assert_str_eq(b.data, "a-_.~/%20Z%C3%A9");
	buf_reset(&b);
	ck_assert_int_eq(buf_pct_encode(&b, "a/b=", 0), 0);
	ck_assert_str_eq(b.data, "a%2Fb%3D");
	buf_reset(&b);
	b.limit = 4;
	ck_assert_int_eq(buf_pct_encode(&b, "////", 0), -1);
	buf_deinit(&b);
}
END_TEST

START_TEST(xml_answers)
{
	const char *init = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			   "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/"
			   "2006-03-01/\"><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE"
			   "&amp;x&#x41;&#66;</UploadId></InitiateMultipartUploadResult>";
	char out[64];
	ck_assert_int_eq(s3_xml_text(init, strlen(init), "UploadId", 0, out, sizeof(out)), 1);
	ck_assert_str_eq(out, "VXBsb2FkIElE&xAB");
	ck_assert_int_eq(s3_xml_text(init, strlen(init), "UploadId", 1, out, sizeof(out)), 0);
	ck_assert_int_eq(s3_xml_text(init, strlen(init), "Upload", 0, out, sizeof(out)), 0);
	ck_assert_int_eq(s3_xml_text(init, strlen(init), "UploadId", 0, out, 8), -1);
	ck_assert_str_eq(out, "");
	/* cut in the middle: no closing tag */
	ck_assert_int_eq(s3_xml_text(init, strstr(init, "</UploadId>") - init + 3, "UploadId", 0,
				     out, sizeof(out)),
			 -1);
	const char *parts = "<ListPartsResult><Part><PartNumber>1</PartNumber><ETag>&quot;"
			    "aa&quot;</ETag><Size>5242880</Size></Part><Part><PartNumber>2"
			    "</PartNumber><ETag>\"bb\"</ETag><Size>12</Size></Part>"
			    "<IsTruncated>false</IsTruncated></ListPartsResult>";
	size_t pl = strlen(parts);
	ck_assert_int_eq(s3_xml_text(parts, pl, "ETag", 0, out, sizeof(out)), 1);
	ck_assert_str_eq(out, "\"aa\"");
	ck_assert_int_eq(s3_xml_text(parts, pl, "ETag", 1, out, sizeof(out)), 1);
	ck_assert_str_eq(out, "\"bb\"");
	ck_assert_int_eq(s3_xml_text(parts, pl, "PartNumber", 1, out, sizeof(out)), 1);
	ck_assert_str_eq(out, "2");
	ck_assert_int_eq(s3_xml_text(parts, pl, "Part", 0, out, sizeof(out)), -1); /* nested */
	const char *bad = "<Code>a&bogus;</Code><Empty/><Message>x</Message>";
	ck_assert_int_eq(s3_xml_text(bad, strlen(bad), "Code", 0, out, sizeof(out)), -1);
	ck_assert_int_eq(s3_xml_text(bad, strlen(bad), "Empty", 0, out, sizeof(out)), 0);
	const char *err = "<Error><Code>SignatureDoesNotMatch</Code><Message>The request "
			  "signature we calculated does not match</Message></Error>";
	char code[64], msg[128];
	s3_xml_error(err, strlen(err), code, sizeof(code), msg, sizeof(msg));
	ck_assert_str_eq(code, "SignatureDoesNotMatch");
	ck_assert_str_eq(msg, "The request signature we calculated does not match");
	s3_xml_error("", 0, code, sizeof(code), msg, sizeof(msg));
	ck_assert_str_eq(code, "");
	ck_assert_str_eq(msg, "");
}
END_TEST

static Suite *s3_suite(void)
{
	Suite *s = suite_create("s3");
	TCase *tc = tcase_create("s3");
	tcase_add_test(tc, aws_get_object_example);
	tcase_add_test(tc, aws_presigned_example);
	tcase_add_test(tc, botocore_part_upload);
	tcase_add_test(tc, presign_get_path_style);
	tcase_add_test(tc, signing_key_cache);
	tcase_add_test(tc, presign_reuse);
	tcase_add_test(tc, locate);
	tcase_add_test(tc, object_keys);
	tcase_add_test(tc, uri_encoding);
	tcase_add_test(tc, xml_answers);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(s3_suite)
