/* Unit tests for keyfile.c and store_keys_import: keys moved from one
 * node's store to another's (docs/cluster.md). */
#include <check.h>
#include <string.h>

#include "auth.h"
#include "keyfile.h"
#include "testutil.h"
#include "webhook.h"

static char *dir1, *dir2;
static struct store *one, *two;

static void setup(void)
{
	struct store_options so = { 1 << 20, 64 << 20, 1 };
	dir1 = test_tmpdir();
	dir2 = test_tmpdir();
	ck_assert_int_eq(store_open(&one, dir1, &so), RG_OK);
	ck_assert_int_eq(store_open(&two, dir2, &so), RG_OK);
}

static void teardown(void)
{
	store_close(one);
	store_close(two);
	test_rmrf(dir1);
	test_rmrf(dir2);
	free(dir1);
	free(dir2);
}

/* authenticates: the owner of secret on st, or "" when refused. */
static const char *owner_of(struct store *st, const char *secret, struct key_limits *lim)
{
	static char owner[ID_MAX];
	char h[256];
	struct api_error e;
	snprintf(h, sizeof(h), "Bearer %s", secret);
	memset(&e, 0, sizeof(e));
	if (auth_check(st, NULL, h, owner, lim, &e) < 0)
		owner[0] = '\0';
	return owner;
}

static void add_endpoint(struct store *st, const char *key_id, const char *id, char *secret)
{
	ck_assert_int_eq(webhook_secret_new(secret, 128), 0);
	struct json_object *ep = json_object_new_object();
	json_object_object_add(ep, "id", json_object_new_string(id));
	json_object_object_add(ep, "key_id", json_object_new_string(key_id));
	json_object_object_add(ep, "url", json_object_new_string("https://example.com/hook"));
	json_object_object_add(ep, "secret", json_object_new_string(secret));
	json_object_object_add(ep, "created_at_ms", json_object_new_int64(1700000000000));
	json_object_object_add(ep, "state", json_object_new_string("enabled"));
	ck_assert_int_eq(store_webhook_put(st, ep), RG_OK);
	json_object_put(ep);
}

static struct json_object *export_all(struct store *st)
{
	char why[512];
	struct json_object *doc = keyfile_export(st, NULL, 0, why, sizeof(why));
	ck_assert_msg(doc != NULL, "%s", why);
	return doc;
}

/* reparse: doc as the text a file would hold, read back. */
static struct json_object *reparse(struct json_object *doc)
{
	return json_tokener_parse(json_object_to_json_string(doc));
}

START_TEST(round_trip_authenticates_with_the_same_limits)
{
	char s1[AUTH_SECRET_MAX], s2[AUTH_SECRET_MAX], i1[ID_MAX], i2[ID_MAX], wsec[128];
	ck_assert_int_eq(auth_key_create(one, "alice", s1, i1), RG_OK);
	ck_assert_int_eq(auth_key_create(one, "bob", s2, i2), RG_OK);
	struct key_limits lim = { 7, 600, 9000, 2500000, 3 }, got;
	ck_assert_int_eq(auth_key_set_limits(one, i1, &lim), RG_OK);
	ck_assert_int_eq(auth_key_revoke(one, i2), RG_OK);
	add_endpoint(one, i1, "we_0123456789ab", wsec);

	struct json_object *doc = export_all(one), *text = reparse(doc);
	/* no secret of a key in the file, only its hash */
	ck_assert_ptr_null(strstr(json_object_to_json_string(doc), s1));
	struct store_import r;
	ck_assert_int_eq(keyfile_import(two, text, 0, &r), RG_OK);
	ck_assert_uint_eq(r.keys_added, 2);
	ck_assert_uint_eq(r.endpoints_added, 1);

	memset(&got, 0, sizeof(got));
	ck_assert_str_eq(owner_of(two, s1, &got), i1);
	ck_assert_int_eq(got.creates_per_minute, 7);
	ck_assert_int_eq(got.seconds_per_day, 600);
	ck_assert_int_eq(got.seconds_per_month, 9000);
	ck_assert_int_eq(got.cost_per_month_micros, 2500000);
	ck_assert_int_eq(got.max_in_flight, 3);
	ck_assert_str_eq(owner_of(two, s2, NULL), ""); /* revoked there too */
	struct json_object *ep = NULL;
	ck_assert_int_eq(store_webhook_get(two, "we_0123456789ab", &ep), RG_OK);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(ep, "secret")), wsec);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(ep, "key_id")), i1);
	json_object_put(ep);

	/* the same file again, and the second node's own export: no change */
	ck_assert_int_eq(keyfile_import(two, text, 0, &r), RG_OK);
	ck_assert_uint_eq(r.keys_unchanged, 2);
	ck_assert_uint_eq(r.endpoints_unchanged, 1);
	ck_assert_uint_eq(r.keys_added + r.keys_updated + r.keys_replaced + r.endpoints_added +
				  r.endpoints_updated,
			  0);
	struct json_object *back = export_all(two);
	json_object_object_del(back, "exported_at");
	json_object_object_del(doc, "exported_at");
	ck_assert(json_object_equal(back, doc));
	ck_assert_int_eq(keyfile_import(one, back, 0, &r), RG_OK);
	ck_assert_uint_eq(r.keys_unchanged, 2);
	json_object_put(back);
	json_object_put(doc);
	json_object_put(text);
}
END_TEST

START_TEST(export_of_named_keys)
{
	char s1[AUTH_SECRET_MAX], s2[AUTH_SECRET_MAX], i1[ID_MAX], i2[ID_MAX], why[512];
	ck_assert_int_eq(auth_key_create(one, "alice", s1, i1), RG_OK);
	ck_assert_int_eq(auth_key_create(one, "bob", s2, i2), RG_OK);
	const char *ids[] = { i2 };
	struct json_object *doc = keyfile_export(one, ids, 1, why, sizeof(why));
	ck_assert_ptr_nonnull(doc);
	struct json_object *keys = json_object_object_get(doc, "keys");
	ck_assert_uint_eq(json_object_array_length(keys), 1);
	ck_assert_str_eq(json_object_get_string(
				 json_object_object_get(json_object_array_get_idx(keys, 0), "id")),
			 i2);
	json_object_put(doc);
	const char *none[] = { "key_nosuchkey" };
	ck_assert_ptr_null(keyfile_export(one, none, 1, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "key_nosuchkey"));
}
END_TEST

/* A file with one good key then a wrong member: refused, and the good key
 * is not written either. */
static void refused_whole(const char *member, const char *json_value, const char *says)
{
	char s1[AUTH_SECRET_MAX], i1[ID_MAX], s2[AUTH_SECRET_MAX], i2[ID_MAX];
	ck_assert_int_eq(auth_key_create(one, "good", s1, i1), RG_OK);
	ck_assert_int_eq(auth_key_create(one, "bad", s2, i2), RG_OK);
	struct json_object *doc = export_all(one);
	struct json_object *keys = json_object_object_get(doc, "keys");
	struct json_object *k = json_object_array_get_idx(keys, 1);
	if (json_value == NULL)
		json_object_object_del(k, member);
	else
		json_object_object_add(k, member, json_tokener_parse(json_value));
	struct store_import r;
	ck_assert_int_eq(keyfile_import(two, doc, 0, &r), RG_EINVAL);
	ck_assert_msg(strstr(r.why, says) != NULL, "%s: why is '%s'", member, r.why);
	ck_assert_msg(strncmp(r.why, "keys[1].", 8) == 0, "why is '%s'", r.why);
	ck_assert_str_eq(owner_of(two, s1, NULL), "");
	ck_assert_str_eq(owner_of(two, s2, NULL), "");
	json_object_put(doc);
}

START_TEST(malformed_files_write_nothing)
{
	refused_whole("hash", "\"ABC\"", "64 lowercase hex");
	teardown();
	setup();
	refused_whole("secret", "\"sk-rg-plain\"", "unknown member");
	teardown();
	setup();
	refused_whole("revoked_at", NULL, "revoked_at: missing");
	teardown();
	setup();
	refused_whole("limits", "{\"max_in_flight\": -1}", "limits.max_in_flight");
	teardown();
	setup();
	refused_whole("webhook_endpoints",
		      "[{\"id\":\"we_1\",\"url\":\"ftp://x\",\"secret\":\"whsec_AAAA\","
		      "\"created_at_ms\":1,\"state\":\"enabled\"}]",
		      "webhook_endpoints[0].url");
	teardown();
	setup();
	refused_whole("id", "\"key_\"", "id: must be");
}
END_TEST

START_TEST(whole_file_checks)
{
	struct store_import r;
	const char *bad[][2] = {
		{ "[]", "JSON object" },
		{ "{\"format\":\"other\",\"version\":1,\"keys\":[]}", "format" },
		{ "{\"format\":\"reelgate-keys\",\"version\":2,\"keys\":[]}", "version 1" },
		{ "{\"format\":\"reelgate-keys\",\"version\":1}", "keys: must be an array" },
		{ "{\"format\":\"reelgate-keys\",\"version\":1,\"keys\":[],\"x\":1}",
		  "x: unknown" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *doc = json_tokener_parse(bad[i][0]);
		ck_assert_int_eq(keyfile_import(two, doc, 0, &r), RG_EINVAL);
		ck_assert_msg(strstr(r.why, bad[i][1]) != NULL, "%s: '%s'", bad[i][0], r.why);
		json_object_put(doc);
	}
	/* one key twice */
	char s1[AUTH_SECRET_MAX], i1[ID_MAX];
	ck_assert_int_eq(auth_key_create(one, "a", s1, i1), RG_OK);
	struct json_object *doc = export_all(one), *keys = json_object_object_get(doc, "keys");
	json_object_array_add(keys, json_object_get(json_object_array_get_idx(keys, 0)));
	ck_assert_int_eq(keyfile_import(two, doc, 0, &r), RG_EINVAL);
	ck_assert_ptr_nonnull(strstr(r.why, "twice"));
	ck_assert_str_eq(owner_of(two, s1, NULL), "");
	json_object_put(doc);
}
END_TEST

START_TEST(another_secret_needs_replace)
{
	char s1[AUTH_SECRET_MAX], i1[ID_MAX], s2[AUTH_SECRET_MAX], i2[ID_MAX], sx[AUTH_SECRET_MAX],
		ix[ID_MAX];
	ck_assert_int_eq(auth_key_create(one, "a", s1, i1), RG_OK);
	ck_assert_int_eq(auth_key_create(one, "new", s2, i2), RG_OK);
	struct json_object *doc = export_all(one);
	/* node two has key i1 with another secret: the same id, another hash */
	ck_assert_int_eq(auth_key_create(two, "a", sx, ix), RG_OK);
	struct json_object *rec = NULL;
	ck_assert_int_eq(store_key_get(two, ix, &rec), RG_OK);
	struct store_import r;
	struct json_object *theirs = json_object_new_object(), *tk = json_object_new_array();
	json_object_object_add(theirs, "format", json_object_new_string("reelgate-keys"));
	json_object_object_add(theirs, "version", json_object_new_int(1));
	json_object_object_add(rec, "id", json_object_new_string(i1));
	json_object_array_add(tk, rec);
	json_object_object_add(theirs, "keys", tk);
	/* (the hash of sx is ix's: refused whatever --replace says) */
	ck_assert_int_eq(keyfile_import(two, theirs, 1, &r), RG_EEXIST);
	ck_assert_ptr_nonnull(strstr(r.why, "already the hash of key"));
	ck_assert_int_eq(auth_key_revoke(two, ix), RG_OK);
	json_object_put(theirs);

	/* make i1 exist on two with sx's... a key of its own: create then
	 * import a file where i1 has the hash of a third secret */
	char s3[AUTH_SECRET_MAX], i3[ID_MAX];
	ck_assert_int_eq(auth_key_create(one, "third", s3, i3), RG_OK);
	struct json_object *third = export_all(one);
	/* put i1 on two as it is on one */
	ck_assert_int_eq(keyfile_import(two, doc, 0, &r), RG_OK);
	ck_assert_str_eq(owner_of(two, s1, NULL), i1);
	/* now a file where i1 has s3's hash (i3 left out) */
	struct json_object *k3 = NULL, *keys3 = json_object_object_get(third, "keys");
	for (size_t i = 0; i < json_object_array_length(keys3); i++) {
		struct json_object *k = json_object_array_get_idx(keys3, i);
		if (strcmp(json_object_get_string(json_object_object_get(k, "id")), i3) == 0)
			k3 = k;
	}
	ck_assert_ptr_nonnull(k3);
	json_object_object_add(k3, "id", json_object_new_string(i1));
	struct json_object *only = json_object_new_array();
	json_object_array_add(only, json_object_get(k3));
	json_object_object_add(third, "keys", only);
	ck_assert_int_eq(keyfile_import(two, third, 0, &r), RG_EEXIST);
	ck_assert_ptr_nonnull(strstr(r.why, "another secret"));
	ck_assert_str_eq(owner_of(two, s1, NULL), i1); /* nothing changed */
	ck_assert_str_eq(owner_of(two, s3, NULL), "");
	ck_assert_int_eq(keyfile_import(two, third, 1, &r), RG_OK);
	ck_assert_uint_eq(r.keys_replaced, 1);
	ck_assert_str_eq(owner_of(two, s3, NULL), i1);
	ck_assert_str_eq(owner_of(two, s1, NULL), ""); /* the old secret is gone */
	json_object_put(third);
	json_object_put(doc);
}
END_TEST

START_TEST(endpoint_of_another_key_is_refused)
{
	char s1[AUTH_SECRET_MAX], i1[ID_MAX], s2[AUTH_SECRET_MAX], i2[ID_MAX], w[128], w2[128];
	ck_assert_int_eq(auth_key_create(one, "a", s1, i1), RG_OK);
	add_endpoint(one, i1, "we_aaaaaaaaaaaa", w);
	struct json_object *doc = export_all(one);
	ck_assert_int_eq(auth_key_create(two, "b", s2, i2), RG_OK);
	add_endpoint(two, i2, "we_aaaaaaaaaaaa", w2);
	struct store_import r;
	ck_assert_int_eq(keyfile_import(two, doc, 1, &r), RG_EEXIST);
	ck_assert_ptr_nonnull(strstr(r.why, "we_aaaaaaaaaaaa"));
	ck_assert_str_eq(owner_of(two, s1, NULL), ""); /* the key was not written */
	json_object_put(doc);
}
END_TEST

static Suite *keyfile_suite(void)
{
	Suite *s = suite_create("keyfile");
	TCase *tc = tcase_create("keyfile");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, round_trip_authenticates_with_the_same_limits);
	tcase_add_test(tc, export_of_named_keys);
	tcase_add_test(tc, malformed_files_write_nothing);
	tcase_add_test(tc, whole_file_checks);
	tcase_add_test(tc, another_secret_needs_replace);
	tcase_add_test(tc, endpoint_of_another_key_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(keyfile_suite)
