/* Unit tests for download.c and the store's download entries: an entry
 * says what the record says (owner, status, expired, each variant's
 * file), follows every write of the record, is filled in for a database
 * from before, is checked by store_check, and its reader refuses every
 * byte string download_build cannot make. */
#include <check.h>
#include <lmdb.h>
#include <string.h>

#include "download.h"
#include "store_fixture.h"
#include "task.h"

static struct json_object *record(const char *id, const char *owner, const char *status)
{
	struct json_object *r = json_object_new_object();
	json_object_object_add(r, "id", json_object_new_string(id));
	json_object_object_add(r, "owner", json_object_new_string(owner));
	json_object_object_add(r, "status", json_object_new_string(status));
	return r;
}

static struct json_object *completed(const char *id, const char *owner)
{
	struct json_object *r = record(id, owner, "completed");
	struct json_object *f = json_object_new_object();
	json_object_object_add(f, "video", json_object_new_string("content/v1.mp4"));
	json_object_object_add(f, "thumbnail", json_object_new_string("content/v1.webp"));
	json_object_object_add(f, "spritesheet", json_object_new_string("content/v1.jpg"));
	json_object_object_add(r, "files", f);
	return r;
}

/* entry builds rec's entry into b and reads it into d. */
static void entry(struct json_object *rec, struct buf *b, struct download *d)
{
	buf_init(b, 1 << 20);
	ck_assert_int_eq(download_build(rec, b), 0);
	ck_assert_int_eq(download_read(b->data, b->len, d), 0);
}

/* ref_is: d's reference of variant is a file at path (NULL: it has none). */
static void ref_is(const struct download *d, const char *variant, const char *path)
{
	struct download_ref r;
	if (path == NULL) {
		ck_assert_int_eq(download_ref(d, variant, &r), -1);
		return;
	}
	ck_assert_int_eq(download_ref(d, variant, &r), 0);
	ck_assert_int_eq(r.kind, DOWNLOAD_FILE);
	ck_assert_uint_eq(r.ref_len, strlen(path));
	ck_assert(memcmp(r.ref, path, r.ref_len) == 0);
	ck_assert_uint_eq(r.name_len, strlen(variant));
}

START_TEST(completed_entry_says_what_the_record_says)
{
	struct json_object *r = completed("video_1", "key_0011");
	struct buf b;
	struct download d;
	entry(r, &b, &d);
	ck_assert(download_owned_by(&d, "key_0011"));
	ck_assert(!download_owned_by(&d, "key_001"));
	ck_assert(!download_owned_by(&d, "key_00111"));
	ck_assert(download_status_is(&d, "completed"));
	ck_assert(!download_status_is(&d, "complete"));
	ck_assert(!download_status_is(&d, "completed "));
	ck_assert(!d.expired);
	ck_assert_uint_eq(d.nrefs, 3);
	ref_is(&d, "video", "content/v1.mp4");
	ref_is(&d, "thumbnail", "content/v1.webp");
	ref_is(&d, "spritesheet", "content/v1.jpg");
	ref_is(&d, "vide", NULL);
	ref_is(&d, "videos", NULL);
	ref_is(&d, "", NULL);
	buf_deinit(&b);

	/* Expired: the flag set, the files gone (task_expire). */
	task_expire(r);
	entry(r, &b, &d);
	ck_assert(d.expired);
	ck_assert(download_status_is(&d, "completed"));
	ck_assert_uint_eq(d.nrefs, 0);
	ref_is(&d, "video", NULL);
	buf_deinit(&b);
	json_object_put(r);
}
END_TEST

START_TEST(status_as_the_record_has_it)
{
	static const char *const statuses[] = { "queued", "in_progress", "failed" };
	struct buf b;
	struct download d;
	for (size_t i = 0; i < 3; i++) {
		struct json_object *r = record("video_1", "key_1", statuses[i]);
		entry(r, &b, &d);
		ck_assert(d.status != NULL);
		ck_assert_uint_eq(d.status_len, strlen(statuses[i]));
		ck_assert(memcmp(d.status, statuses[i], d.status_len) == 0);
		ck_assert(!download_status_is(&d, "completed"));
		ck_assert_uint_eq(d.nrefs, 0);
		buf_deinit(&b);
		json_object_put(r);
	}
	/* A status that is not a string is none (rec_str's NULL), unlike "". */
	struct json_object *r = record("video_1", "key_1", "x");
	json_object_object_add(r, "status", json_object_new_int(3));
	entry(r, &b, &d);
	ck_assert_ptr_null(d.status);
	ck_assert(!download_status_is(&d, ""));
	buf_deinit(&b);
	json_object_object_add(r, "status", json_object_new_string(""));
	entry(r, &b, &d);
	ck_assert_ptr_nonnull(d.status);
	ck_assert(download_status_is(&d, ""));
	buf_deinit(&b);
	/* No owner: an entry nobody owns (every caller has a key id). */
	json_object_object_del(r, "owner");
	entry(r, &b, &d);
	ck_assert_uint_eq(d.owner_len, 0);
	ck_assert(!download_owned_by(&d, "key_1"));
	buf_deinit(&b);
	json_object_put(r);
}
END_TEST

/* Files the handler would not serve stay out or read as the record's
 * readers read them: non-strings, text after a NUL, names and paths too
 * long for the format. */
START_TEST(refs_as_rec_str_reads_them)
{
	struct json_object *r = completed("video_1", "key_1");
	struct json_object *f = NULL;
	json_object_object_get_ex(r, "files", &f);
	json_object_object_add(f, "thumbnail", json_object_new_int(5));
	json_object_object_add(f, "spritesheet",
			       json_object_new_string_len("content/a.jpg\0.tail", 19));
	static char longname[300], longpath[70000];
	memset(longname, 'n', sizeof(longname) - 1);
	memset(longpath, 'p', sizeof(longpath) - 1);
	json_object_object_add(f, longname, json_object_new_string("content/x"));
	json_object_object_add(f, "long", json_object_new_string(longpath));
	struct buf b;
	struct download d;
	entry(r, &b, &d);
	ck_assert_uint_eq(d.nrefs, 2);
	ref_is(&d, "video", "content/v1.mp4");
	ref_is(&d, "thumbnail", NULL);
	ref_is(&d, "spritesheet", "content/a.jpg");
	ref_is(&d, "long", NULL);
	buf_deinit(&b);
	/* An owner or status longer than the format holds: no entry. */
	json_object_object_add(r, "status", json_object_new_string(longname));
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(download_build(r, &b), -1);
	ck_assert_uint_eq(b.len, 0);
	buf_deinit(&b);
	json_object_put(r);
}
END_TEST

START_TEST(object_keys_beside_files)
{
	/* content.store "s3": each variant's object key, a reference of its
	 * own kind after the stored files (a video uploaded keeps both until
	 * its files are removed). */
	struct json_object *r = completed("video_1", "key_0011");
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "video", json_object_new_string("p/video_1/video.mp4"));
	json_object_object_add(o, "thumbnail", json_object_new_string("p/video_1/thumbnail.webp"));
	json_object_object_add(r, "objects", o);
	struct buf b;
	struct download d;
	entry(r, &b, &d);
	ck_assert_uint_eq(d.nrefs, 5);
	ref_is(&d, "video", "content/v1.mp4"); /* the first of the variant: its file */
	size_t pos = 0;
	struct download_ref ref;
	int objects = 0;
	while (download_next(&d, &pos, &ref) == 0) {
		if (ref.kind != DOWNLOAD_OBJECT)
			continue;
		objects++;
		if (ref.name_len == 5 && memcmp(ref.name, "video", 5) == 0)
			ck_assert(ref.ref_len == 19 &&
				  memcmp(ref.ref, "p/video_1/video.mp4", 19) == 0);
		else
			ck_assert(ref.name_len == 9 && memcmp(ref.name, "thumbnail", 9) == 0);
	}
	ck_assert_int_eq(objects, 2);
	buf_deinit(&b);
	json_object_put(r);
}
END_TEST

START_TEST(read_refuses_junk)
{
	struct download d;
	ck_assert_int_eq(download_read("", 0, &d), -1);
	ck_assert_int_eq(download_read("junk!", 5, &d), -1);
	/* 'D', flags, owner 1, status 0, refs 0, "k" */
	const char good[] = { 'D', 0, 1, 0, 0, 'k' };
	ck_assert_int_eq(download_read(good, sizeof(good), &d), 0);
	ck_assert_ptr_null(d.status);
	const char flags[] = { 'D', 4, 1, 0, 0, 'k' }; /* an unknown flag */
	ck_assert_int_eq(download_read(flags, sizeof(flags), &d), -1);
	const char status[] = { 'D', 0, 1, 1, 0, 'k', 's' }; /* a status, not flagged */
	ck_assert_int_eq(download_read(status, sizeof(status), &d), -1);
	const char owner[] = { 'D', 0, 9, 0, 0, 'k' }; /* owner past the end */
	ck_assert_int_eq(download_read(owner, sizeof(owner), &d), -1);
	const char trailing[] = { 'D', 0, 1, 0, 0, 'k', 'x' };
	ck_assert_int_eq(download_read(trailing, sizeof(trailing), &d), -1);
	const char refs[] = { 'D', 0, 1, 0, 2, 'k', 1, 'v', 'f', 0, 1, 'p' }; /* 2 said, 1 there */
	ck_assert_int_eq(download_read(refs, sizeof(refs), &d), -1);
	const char ref[] = { 'D', 0, 1, 0, 1, 'k', 1, 'v', 'f', 0, 2, 'p' }; /* ref past the end */
	ck_assert_int_eq(download_read(ref, sizeof(ref), &d), -1);
	const char one[] = { 'D', 0, 1, 0, 1, 'k', 1, 'v', 'f', 0, 1, 'p' };
	ck_assert_int_eq(download_read(one, sizeof(one), &d), 0);
	ref_is(&d, "v", "p");

	/* No proper prefix of a real entry reads, nor the entry with a byte
	 * more. */
	struct json_object *r = completed("video_1", "key_1");
	struct buf b;
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(download_build(r, &b), 0);
	for (size_t n = 0; n < b.len; n++)
		ck_assert_int_eq(download_read(b.data, n, &d), -1);
	ck_assert_int_eq(buf_putc(&b, 0), 0);
	ck_assert_int_eq(download_read(b.data, b.len, &d), -1);
	buf_deinit(&b);
	json_object_put(r);
}
END_TEST

/* ---- the store's download entries ------------------------------------------ */

struct seen {
	char owner[64], status[64], video[256];
	int found, expired, has_status, has_video;
};

static int take(const void *data, size_t len, void *arg)
{
	struct seen *s = arg;
	struct download d;
	struct download_ref r;
	ck_assert_int_eq(download_read(data, len, &d), 0);
	ck_assert_uint_lt(d.owner_len, sizeof(s->owner));
	memcpy(s->owner, d.owner, d.owner_len);
	s->has_status = d.status != NULL;
	if (d.status) {
		ck_assert_uint_lt(d.status_len, sizeof(s->status));
		memcpy(s->status, d.status, d.status_len);
	}
	s->expired = d.expired;
	s->has_video = download_ref(&d, "video", &r) == 0;
	if (s->has_video) {
		ck_assert_uint_lt(r.ref_len, sizeof(s->video));
		memcpy(s->video, r.ref, r.ref_len);
	}
	s->found++;
	return 0;
}

static struct seen look(const char *id)
{
	struct seen s;
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(store_video_download(st, id, take, &s), RG_OK);
	ck_assert_int_eq(s.found, 1);
	return s;
}

static struct json_object *build_one(char (*ids)[ID_MAX], size_t n, size_t i, void *arg)
{
	(void)n;
	(void)i;
	return record(ids[0], (const char *)arg, "queued");
}

/* create_one creates one queued video of key_1 and writes its id. */
static void create_one(char id[ID_MAX])
{
	struct json_object *first = NULL;
	ck_assert_int_eq(store_videos_create(st, 1, "key_1", NULL, build_one, "key_1", &first),
			 RG_OK);
	snprintf(id, ID_MAX, "%s", json_object_get_string(json_object_object_get(first, "id")));
	json_object_put(first);
}

START_TEST(entry_follows_every_write)
{
	char id[ID_MAX];
	create_one(id);
	struct seen s = look(id);
	ck_assert_str_eq(s.owner, "key_1");
	ck_assert_str_eq(s.status, "queued");
	ck_assert(!s.has_video);

	/* Completion (an update of the whole record). */
	struct json_object *r = completed(id, "key_1");
	ck_assert_int_eq(store_video_update(st, r), RG_OK);
	s = look(id);
	ck_assert_str_eq(s.status, "completed");
	ck_assert(s.has_video);
	ck_assert_str_eq(s.video, "content/v1.mp4");
	ck_assert(!s.expired);

	/* Expiry (the dispatcher's retention: task_expire, then a write). */
	task_expire(r);
	ck_assert_int_eq(store_video_update(st, r), RG_OK);
	s = look(id);
	ck_assert(s.expired);
	ck_assert(!s.has_video);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);

	/* Delete: the entry goes with the record. */
	ck_assert_int_eq(store_video_delete(st, id, NULL), RG_OK);
	struct seen none;
	memset(&none, 0, sizeof(none));
	ck_assert_int_eq(store_video_download(st, id, take, &none), RG_ENOENT);
	ck_assert_int_eq(none.found, 0);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
	json_object_put(r);
}
END_TEST

/* store_read_hold: the reads between it and store_read_release share one
 * transaction (what a download does: the key, then the entry); after the
 * release a write is seen; held and released again and again, nothing
 * leaks (a reader slot per hold would run out after 126). */
START_TEST(read_hold_then_release)
{
	char id[ID_MAX];
	create_one(id);
	struct json_object *r = completed(id, "key_1");
	for (int i = 0; i < 1000; i++) {
		store_read_hold(st);
		struct seen a = look(id), b = look(id);
		store_read_release(st);
		ck_assert_str_eq(a.status, b.status);
		ck_assert_str_eq(a.status, i == 0 ? "queued" : "completed");
		if (i == 0)
			ck_assert_int_eq(store_video_update(st, r), RG_OK);
	}
	store_read_release(st); /* released twice: nothing happens */
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
	json_object_put(r);
}
END_TEST

static void set_done(struct json_object *rec, size_t i, void *arg)
{
	(void)i;
	(void)arg;
	json_object_object_add(rec, "status", json_object_new_string("in_progress"));
}

START_TEST(entry_follows_modify)
{
	struct json_object *r = record("video_m1", "key_1", "queued");
	char existing[ID_MAX];
	ck_assert_int_eq(store_videos_insert(st, &r, 1, NULL, existing), RG_OK);
	json_object_put(r);
	char ids[1][ID_MAX] = { "video_m1" };
	int gone = 0;
	ck_assert_int_eq(store_videos_modify(st, ids, 1, set_done, NULL, &gone), RG_OK);
	struct seen s = look("video_m1");
	ck_assert_str_eq(s.status, "in_progress");
}
END_TEST

/* raw_download edits the download dbi behind the store's back (the store
 * must be closed): deletes del (NULL: none; "*": everything), sets
 * junk_id to the entry of another record. */
static void raw_download(const char *del, const char *junk_id)
{
	const char other[] = { 'D', 2,	 5,   6,   0,	'k', 'e', 'y',
			       '_', '9', 'q', 'u', 'e', 'u', 'e', 'd' };
	fixture_raw_edit("download", del, junk_id, NULL, other, sizeof(other));
}

static void count_line(const char *line, void *arg)
{
	(void)line;
	(*(int *)arg)++;
}

/* The S3 delete queue (store_objects.c) is checked by store_check too:
 * an entry stored under another object's name is reported. */
START_TEST(object_queue_checked)
{
	struct json_object *r = completed("video_o1", "key_1");
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "video", json_object_new_string("p/video_o1/video.mp4"));
	json_object_object_add(r, "objects", o);
	ck_assert_int_eq(store_objects_queue(st, r), RG_OK);
	json_object_put(r);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
	store_close(st);
	/* Its value copied under another key, behind the store's back. */
	fixture_raw_edit("objects", NULL, "o:p/video_o1/other.mp4", "o:p/video_o1/video.mp4", NULL,
			 0);
	st = fixture_open();
	ck_assert_ptr_nonnull(st);
	int n = 0;
	ck_assert_int_eq(store_check(st, count_line, &n), RG_ECORRUPT);
	ck_assert_int_eq(n, 1);
}
END_TEST

static void up_object(struct json_object *objs, const char *variant, const char *state,
		      const char *upload_id)
{
	struct json_object *o = json_object_new_object();
	char key[64];
	snprintf(key, sizeof(key), "p/video_u1/%s", variant);
	json_object_object_add(o, "key", json_object_new_string(key));
	json_object_object_add(o, "state", json_object_new_string(state));
	if (upload_id)
		json_object_object_add(o, "upload_id", json_object_new_string(upload_id));
	json_object_object_add(objs, variant, o);
}

static int keep_entry(struct json_object *e, void *arg)
{
	struct json_object *all = arg;
	json_object_object_add(all, json_object_get_string(json_object_object_get(e, "key")),
			       json_object_get(e));
	return 0;
}

/* entries: the queue's entries by object key (owned). */
static struct json_object *entries(void)
{
	struct json_object *all = json_object_new_object();
	ck_assert_int_eq(store_objects_pending(st, keep_entry, all), RG_OK);
	return all;
}

static const char *field(struct json_object *all, const char *key, const char *name)
{
	struct json_object *e = json_object_object_get(all, key), *v = NULL;
	ck_assert_ptr_nonnull(e);
	return json_object_object_get_ex(e, name, &v) ? json_object_to_json_string(v) : NULL;
}

/* A video deleted while uploading: an entry for each object sent or being
 * sent; those whose request may still land ("put", "multipart") marked for
 * a second delete, a "done" one not, a "pending" one has none.  edit drops
 * an aborted upload's id (keeping the mark), then turns the mark into
 * not_before; an entry gone meanwhile is no error. */
START_TEST(object_queue_recheck)
{
	struct json_object *r = record("video_u1", "key_1", "in_progress");
	struct json_object *up = json_object_new_object(), *objs = json_object_new_object();
	up_object(objs, "video", "multipart", "upl-1");
	up_object(objs, "thumbnail", "done", NULL);
	up_object(objs, "spritesheet", "pending", NULL);
	up_object(objs, "extra", "put", NULL);
	json_object_object_add(up, "objects", objs);
	json_object_object_add(r, "upload", up);
	ck_assert_int_eq(store_objects_queue(st, r), RG_OK);
	json_object_put(r);
	struct json_object *all = entries();
	ck_assert_int_eq(json_object_object_length(all), 3);
	ck_assert_ptr_null(json_object_object_get(all, "p/video_u1/spritesheet"));
	ck_assert_str_eq(field(all, "p/video_u1/video", "recheck"), "true");
	ck_assert_str_eq(field(all, "p/video_u1/video", "upload_id"), "\"upl-1\"");
	ck_assert_str_eq(field(all, "p/video_u1/extra", "recheck"), "true");
	ck_assert_ptr_null(field(all, "p/video_u1/thumbnail", "recheck"));
	json_object_put(all);

	ck_assert_int_eq(store_objects_edit(st, "p/video_u1/video", 0), RG_OK);
	all = entries();
	ck_assert_ptr_null(field(all, "p/video_u1/video", "upload_id"));
	ck_assert_str_eq(field(all, "p/video_u1/video", "recheck"), "true");
	ck_assert_str_eq(field(all, "p/video_u1/video", "video"), "\"video_u1\"");
	json_object_put(all);

	ck_assert_int_eq(store_objects_edit(st, "p/video_u1/video", 1234567), RG_OK);
	all = entries();
	ck_assert_ptr_null(field(all, "p/video_u1/video", "recheck"));
	ck_assert_str_eq(field(all, "p/video_u1/video", "not_before"), "1234567");
	json_object_put(all);

	ck_assert_int_eq(store_objects_done(st, "p/video_u1/video"), RG_OK);
	ck_assert_int_eq(store_objects_edit(st, "p/video_u1/video", 1), RG_OK);
	all = entries();
	ck_assert_int_eq(json_object_object_length(all), 2);
	json_object_put(all);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
}
END_TEST

START_TEST(entries_checked_built_and_filled)
{
	struct json_object *recs[2] = { completed("video_a1", "key_1"),
					completed("video_a2", "key_1") };
	char existing[ID_MAX];
	ck_assert_int_eq(store_videos_insert(st, recs, 2, NULL, existing), RG_OK);
	json_object_put(recs[0]);
	json_object_put(recs[1]);
	store_close(st);
	raw_download("video_a1", "video_a2"); /* one missing, one stale */
	st = fixture_open();
	ck_assert_ptr_nonnull(st);
	int bad = 0;
	ck_assert_int_eq(store_check(st, count_line, &bad), RG_ECORRUPT);
	ck_assert_int_eq(bad, 2);
	/* A missing entry is built on the spot from the record. */
	struct seen s = look("video_a1");
	ck_assert_str_eq(s.owner, "key_1");
	ck_assert_str_eq(s.video, "content/v1.mp4");
	/* An entry with no record is reported too. */
	store_close(st);
	raw_download(NULL, "video_zz");
	st = fixture_open();
	bad = 0;
	ck_assert_int_eq(store_check(st, count_line, &bad), RG_ECORRUPT);
	ck_assert_int_eq(bad, 3);

	/* A database from before the entries (none, no completion mark) is
	 * filled in at the next open. */
	store_close(st);
	raw_download("*", NULL);
	st = fixture_open();
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
	s = look("video_a2");
	ck_assert_str_eq(s.owner, "key_1");
	ck_assert_str_eq(s.status, "completed");
	ck_assert_str_eq(s.video, "content/v1.mp4");
}
END_TEST

static Suite *download_suite(void)
{
	Suite *s = suite_create("download");
	TCase *tc = tcase_create("entry");
	tcase_add_test(tc, completed_entry_says_what_the_record_says);
	tcase_add_test(tc, status_as_the_record_has_it);
	tcase_add_test(tc, refs_as_rec_str_reads_them);
	tcase_add_test(tc, read_refuses_junk);
	tcase_add_test(tc, object_keys_beside_files);
	suite_add_tcase(s, tc);
	TCase *ts = tcase_create("store");
	tcase_add_checked_fixture(ts, setup, teardown);
	tcase_set_timeout(ts, 60);
	tcase_add_test(ts, entry_follows_every_write);
	tcase_add_test(ts, read_hold_then_release);
	tcase_add_test(ts, entry_follows_modify);
	tcase_add_test(ts, entries_checked_built_and_filled);
	tcase_add_test(ts, object_queue_checked);
	tcase_add_test(ts, object_queue_recheck);
	suite_add_tcase(s, ts);
	return s;
}

RUN_SUITE(download_suite)
