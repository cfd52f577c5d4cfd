/* Unit tests for store.c on real LMDB files in a temporary directory. */
#include <check.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "record.h"
#include "store.h"
#include "store_fixture.h"
#include "testutil.h"
#include "video.h"

static struct json_object *rec(const char *id, const char *owner, int64_t due)
{
	struct json_object *r = json_object_new_object();
	json_object_object_add(r, "id", json_object_new_string(id));
	json_object_object_add(r, "owner", json_object_new_string(owner));
	json_object_object_add(r, "status", json_object_new_string("queued"));
	if (due)
		json_object_object_add(r, "due_at", json_object_new_int64(due));
	return r;
}

static void put(const char *id, const char *owner)
{
	struct json_object *r = rec(id, owner, 1000);
	char existing[ID_MAX];
	ck_assert_int_eq(store_videos_insert(st, &r, 1, NULL, existing), RG_OK);
	json_object_put(r);
}

struct collected {
	char ids[64][ID_MAX];
	int n;
};

static int collect(struct json_object *r, void *arg)
{
	struct collected *c = arg;
	struct json_object *v;
	json_object_object_get_ex(r, "id", &v);
	snprintf(c->ids[c->n++], ID_MAX, "%s", json_object_get_string(v));
	return 0;
}

static struct collected list(const char *owner, const char *after, size_t limit, int desc,
			     int *more)
{
	struct collected c;
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(store_video_list(st, owner, after, limit, desc, collect, &c, more), RG_OK);
	return c;
}

START_TEST(insert_get_delete)
{
	put("video_a1", "key_1");
	struct json_object *r;
	ck_assert_int_eq(store_video_get(st, "video_a1", &r), RG_OK);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(r, "owner")), "key_1");
	json_object_put(r);
	struct json_object *old = NULL;
	ck_assert_int_eq(store_video_delete(st, "video_a1", &old), RG_OK);
	ck_assert_ptr_nonnull(old);
	json_object_put(old);
	ck_assert_int_eq(store_video_get(st, "video_a1", &r), RG_ENOENT);
	ck_assert_int_eq(store_video_delete(st, "video_a1", NULL), RG_ENOENT);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
}
END_TEST

START_TEST(list_empty)
{
	int more = 1;
	struct collected c = list("key_1", NULL, 20, 1, &more);
	ck_assert_int_eq(c.n, 0);
	ck_assert_int_eq(more, 0);
	c = list("key_1", NULL, 20, 0, &more);
	ck_assert_int_eq(c.n, 0);
}
END_TEST

START_TEST(list_exactly_one_page)
{
	put("video_a1", "key_1");
	put("video_a2", "key_1");
	put("video_a3", "key_1");
	int more = 1;
	struct collected c = list("key_1", NULL, 3, 1, &more);
	ck_assert_int_eq(c.n, 3);
	ck_assert_int_eq(more, 0);
	ck_assert_str_eq(c.ids[0], "video_a3");
	ck_assert_str_eq(c.ids[2], "video_a1");
	c = list("key_1", NULL, 2, 1, &more);
	ck_assert_int_eq(c.n, 2);
	ck_assert_int_eq(more, 1);
	c = list("key_1", NULL, 0, 1, &more);
	ck_assert_int_eq(c.n, 0);
	ck_assert_int_eq(more, 1);
}
END_TEST

START_TEST(list_pages_both_orders)
{
	const char *ids[] = { "video_a1", "video_a2", "video_a3", "video_a4", "video_a5" };
	for (int i = 0; i < 5; i++)
		put(ids[i], "key_1");
	int more;
	struct collected c = list("key_1", NULL, 2, 0, &more);
	ck_assert_str_eq(c.ids[0], "video_a1");
	ck_assert_str_eq(c.ids[1], "video_a2");
	ck_assert(more);
	c = list("key_1", "video_a2", 2, 0, &more);
	ck_assert_str_eq(c.ids[0], "video_a3");
	ck_assert_str_eq(c.ids[1], "video_a4");
	ck_assert(more);
	c = list("key_1", "video_a4", 2, 0, &more);
	ck_assert_int_eq(c.n, 1);
	ck_assert_str_eq(c.ids[0], "video_a5");
	ck_assert(!more);
	c = list("key_1", "video_a4", 2, 1, &more);
	ck_assert_str_eq(c.ids[0], "video_a3");
	ck_assert_str_eq(c.ids[1], "video_a2");
	ck_assert(more);
	c = list("key_1", "video_a2", 2, 1, &more);
	ck_assert_int_eq(c.n, 1);
	ck_assert_str_eq(c.ids[0], "video_a1");
	ck_assert(!more);
}
END_TEST

/* Files API records: found only through their owner (another owner's is
 * RG_ENOENT, like a missing one), listed oldest first per owner, deleted
 * once. */
static struct json_object *file_rec(const char *id, const char *owner)
{
	struct json_object *r = json_object_new_object();
	json_object_object_add(r, "id", json_object_new_string(id));
	json_object_object_add(r, "owner", json_object_new_string(owner));
	json_object_object_add(r, "path", json_object_new_string("files/x"));
	return r;
}

static int count_file(struct json_object *rec, void *arg)
{
	(void)rec;
	(*(int *)arg)++;
	return 0;
}

START_TEST(files_by_owner)
{
	const char *ids[] = { "file-01", "file-02", "file-03" };
	for (int i = 0; i < 3; i++) {
		struct json_object *r = file_rec(ids[i], i < 2 ? "key_a" : "key_b");
		ck_assert_int_eq(store_file_put(st, r), RG_OK);
		json_object_put(r);
	}
	struct json_object *got = NULL;
	ck_assert_int_eq(store_file_get(st, "key_a", "file-01", &got), RG_OK);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(got, "id")), "file-01");
	json_object_put(got);
	ck_assert_int_eq(store_file_get(st, "key_b", "file-01", &got), RG_ENOENT);
	ck_assert_int_eq(store_file_get(st, "key_a", "file-09", &got), RG_ENOENT);
	ck_assert_int_eq(store_file_delete(st, "key_b", "file-01", NULL), RG_ENOENT);
	int n = 0;
	ck_assert_int_eq(store_file_list(st, "key_a", count_file, &n), RG_OK);
	ck_assert_int_eq(n, 2);
	n = 0;
	ck_assert_int_eq(store_file_list(st, "key_", count_file, &n), RG_OK); /* no prefix leak */
	ck_assert_int_eq(n, 0);
	struct json_object *old = NULL;
	ck_assert_int_eq(store_file_delete(st, "key_a", "file-01", &old), RG_OK);
	ck_assert_ptr_nonnull(old);
	json_object_put(old);
	ck_assert_int_eq(store_file_delete(st, "key_a", "file-01", NULL), RG_ENOENT);
	n = 0;
	ck_assert_int_eq(store_file_list(st, "key_a", count_file, &n), RG_OK);
	ck_assert_int_eq(n, 1);
}
END_TEST

/* A live remote task's delete leaves, in the same transaction, the entry
 * of its upstream job to cancel; a local or finished one leaves none.  An
 * entry is finished once, and purged a week after. */
START_TEST(delete_leaves_upstream_cancel)
{
	struct json_object *r = rec("video_r1", "key_1", 1000), *remote = json_object_new_object();
	json_object_object_add(remote, "backend", json_object_new_string("sd"));
	json_object_object_add(remote, "upstream_id", json_object_new_string("cgt-1"));
	json_object_object_add(r, "remote", remote);
	char existing[ID_MAX];
	ck_assert_int_eq(store_videos_insert(st, &r, 1, NULL, existing), RG_OK);
	json_object_put(r);
	put("video_l1", "key_1"); /* local: no remote */
	ck_assert_int_eq(store_video_delete(st, "video_r1", NULL), RG_OK);
	ck_assert_int_eq(store_video_delete(st, "video_l1", NULL), RG_OK);
	struct collected c;
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(store_cancel_pending(st, collect, &c), RG_OK);
	ck_assert_int_eq(c.n, 1);
	ck_assert_str_eq(c.ids[0], "video_r1");
	struct json_object *e;
	ck_assert_int_eq(store_cancel_get(st, "video_r1", &e), RG_OK);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(e, "state")), "pending");
	struct json_object *v = json_object_object_get(e, "video");
	ck_assert_str_eq(remote_get(v, "upstream_id"), "cgt-1");
	ck_assert_int_eq(store_cancel_get(st, "video_l1", &r), RG_ENOENT);
	/* finished: no longer pending, kept with its outcome */
	json_object_object_add(e, "state", json_object_new_string("cancelled"));
	json_object_object_add(e, "done_at", json_object_new_int64(5000));
	ck_assert_int_eq(store_cancel_finish(st, e), RG_OK);
	ck_assert_int_eq(store_cancel_finish(st, e), RG_ENOENT); /* once */
	ck_assert_int_eq(store_cancel_update(st, e), RG_ENOENT);
	json_object_put(e);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(store_cancel_pending(st, collect, &c), RG_OK);
	ck_assert_int_eq(c.n, 0);
	ck_assert_int_eq(store_cancel_get(st, "video_r1", &e), RG_OK);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(e, "state")), "cancelled");
	json_object_put(e);
	size_t removed = 9;
	ck_assert_int_eq(store_cancel_purge(st, 4000, &removed), RG_OK);
	ck_assert_int_eq(removed, 0);
	ck_assert_int_eq(store_cancel_purge(st, 6000, &removed), RG_OK);
	ck_assert_int_eq(removed, 1);
	ck_assert_int_eq(store_cancel_get(st, "video_r1", &e), RG_ENOENT);
	/* a completed remote task leaves nothing to cancel */
	r = rec("video_r2", "key_1", 1000);
	json_object_object_add(r, "status", json_object_new_string("completed"));
	remote = json_object_new_object();
	json_object_object_add(remote, "backend", json_object_new_string("sd"));
	json_object_object_add(r, "remote", remote);
	ck_assert_int_eq(store_videos_insert(st, &r, 1, NULL, existing), RG_OK);
	json_object_put(r);
	ck_assert_int_eq(store_video_delete(st, "video_r2", NULL), RG_OK);
	ck_assert_int_eq(store_cancel_get(st, "video_r2", &e), RG_ENOENT);
}
END_TEST

START_TEST(list_after_deleted_id)
{
	put("video_a1", "key_1");
	put("video_a2", "key_1");
	put("video_a3", "key_1");
	ck_assert_int_eq(store_video_delete(st, "video_a2", NULL), RG_OK);
	int more;
	struct collected c = list("key_1", "video_a2", 10, 0, &more);
	ck_assert_int_eq(c.n, 1);
	ck_assert_str_eq(c.ids[0], "video_a3");
	c = list("key_1", "video_a2", 10, 1, &more);
	ck_assert_int_eq(c.n, 1);
	ck_assert_str_eq(c.ids[0], "video_a1");
	/* after an id past the end (or before the start) */
	c = list("key_1", "video_z", 10, 0, &more);
	ck_assert_int_eq(c.n, 0);
	c = list("key_1", "video_0", 10, 1, &more);
	ck_assert_int_eq(c.n, 0);
}
END_TEST

START_TEST(list_isolated_by_owner)
{
	/* key_1 is a prefix of key_10: the separator keeps them apart. */
	put("video_a1", "key_1");
	put("video_a2", "key_10");
	put("video_a3", "key_0");
	int more;
	struct collected c = list("key_1", NULL, 10, 1, &more);
	ck_assert_int_eq(c.n, 1);
	ck_assert_str_eq(c.ids[0], "video_a1");
	c = list("key_1", NULL, 10, 0, &more);
	ck_assert_int_eq(c.n, 1);
	c = list("key_10", NULL, 10, 1, &more);
	ck_assert_int_eq(c.n, 1);
	ck_assert_str_eq(c.ids[0], "video_a2");
	c = list("key_2", NULL, 10, 1, &more);
	ck_assert_int_eq(c.n, 0);
}
END_TEST

START_TEST(idempotency)
{
	struct json_object *a = rec("video_a1", "key_1", 1), *b = rec("video_b1", "key_1", 1);
	struct json_object *c = rec("video_c1", "key_2", 1);
	char existing[ID_MAX] = "";
	ck_assert_int_eq(store_videos_insert(st, &a, 1, "k1", existing), RG_OK);
	ck_assert_int_eq(store_videos_insert(st, &b, 1, "k1", existing), RG_EEXIST);
	ck_assert_str_eq(existing, "video_a1");
	/* another owner's identical key is independent */
	ck_assert_int_eq(store_videos_insert(st, &c, 1, "k1", existing), RG_OK);
	/* once the video is deleted the key may be used again */
	ck_assert_int_eq(store_video_delete(st, "video_a1", NULL), RG_OK);
	ck_assert_int_eq(store_videos_insert(st, &b, 1, "k1", existing), RG_OK);
	json_object_put(a);
	json_object_put(b);
	json_object_put(c);
}
END_TEST

START_TEST(batch_insert_is_atomic)
{
	struct json_object *recs[3] = { rec("video_a1", "key_1", 5), rec("video_a2", "key_1", 5),
					NULL };
	recs[2] = json_object_new_object(); /* no id: the whole batch must fail */
	char existing[ID_MAX];
	ck_assert_int_ne(store_videos_insert(st, recs, 3, NULL, existing), RG_OK);
	struct json_object *r;
	ck_assert_int_eq(store_video_get(st, "video_a1", &r), RG_ENOENT);
	ck_assert_int_eq(store_videos_insert(st, recs, 2, NULL, existing), RG_OK);
	for (int i = 0; i < 3; i++)
		json_object_put(recs[i]);
}
END_TEST

static int count_due(const char *id, uint64_t at, void *arg)
{
	(void)id;
	(void)at;
	(*(int *)arg)++;
	return 0;
}

START_TEST(update_moves_due_entry)
{
	struct json_object *r = rec("video_a1", "key_1", 100);
	char existing[ID_MAX];
	ck_assert_int_eq(store_videos_insert(st, &r, 1, NULL, existing), RG_OK);
	int n = 0;
	ck_assert_int_eq(store_due_scan(st, 150, 10, count_due, &n), RG_OK);
	ck_assert_int_eq(n, 1);
	json_object_object_add(r, "due_at", json_object_new_int64(200));
	ck_assert_int_eq(store_video_update(st, r), RG_OK);
	n = 0;
	store_due_scan(st, 150, 10, count_due, &n);
	ck_assert_int_eq(n, 0);
	store_due_scan(st, 250, 10, count_due, &n);
	ck_assert_int_eq(n, 1);
	json_object_object_del(r, "due_at");
	ck_assert_int_eq(store_video_update(st, r), RG_OK);
	n = 0;
	store_due_scan(st, 1000, 10, count_due, &n);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
	json_object_put(r);
}
END_TEST

START_TEST(map_grows_when_full)
{
	size_t before = store_map_size(st);
	char big[8192];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int i = 0; i < 400; i++) {
		char id[ID_MAX];
		snprintf(id, sizeof(id), "video_%05d", i);
		struct json_object *r = rec(id, "key_1", 1);
		json_object_object_add(r, "blob", json_object_new_string(big));
		char existing[ID_MAX];
		ck_assert_int_eq(store_videos_insert(st, &r, 1, NULL, existing), RG_OK);
		json_object_put(r);
	}
	ck_assert_uint_gt(store_map_size(st), before);
	struct json_object *r;
	ck_assert_int_eq(store_video_get(st, "video_00399", &r), RG_OK);
	json_object_put(r);
}
END_TEST

START_TEST(map_cap_gives_espace)
{
	store_close(st);
	struct store_options so = { 1 << 20, 1 << 20, 1 };
	char sub[512];
	snprintf(sub, sizeof(sub), "%s/capped", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_int_eq(store_open(&st, sub, &so), RG_OK);
	char big[8192];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	enum rg_err err = RG_OK;
	for (int i = 0; i < 400 && err == RG_OK; i++) {
		char id[ID_MAX];
		snprintf(id, sizeof(id), "video_%05d", i);
		struct json_object *r = rec(id, "key_1", 1);
		json_object_object_add(r, "blob", json_object_new_string(big));
		char existing[ID_MAX];
		err = store_videos_insert(st, &r, 1, NULL, existing);
		json_object_put(r);
	}
	ck_assert_int_eq(err, RG_ESPACE);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
}
END_TEST

static struct json_object *build_one(char (*ids)[ID_MAX], size_t n, size_t i, void *arg)
{
	(void)n;
	return rec(ids[i], (const char *)arg, 1);
}

START_TEST(rate_limit_counts_in_the_create)
{
	struct json_object *first = NULL;
	int retry = -1;
	ck_assert_int_eq(store_videos_create_limited(st, 2, "key_1", NULL, 3, &retry, build_one,
						     "key_1", &first),
			 RG_OK);
	json_object_put(first);
	ck_assert_int_eq(store_videos_create_limited(st, 2, "key_1", NULL, 3, &retry, build_one,
						     "key_1", &first),
			 RG_ELIMIT);
	ck_assert_ptr_null(first);
	ck_assert(retry >= 1 && retry <= 60);
	ck_assert_int_eq(store_videos_create_limited(st, 1, "key_1", NULL, 3, &retry, build_one,
						     "key_1", &first),
			 RG_OK);
	json_object_put(first);
	/* another owner has its own window; no limit means no counting */
	ck_assert_int_eq(store_videos_create_limited(st, 3, "key_2", NULL, 3, &retry, build_one,
						     "key_2", &first),
			 RG_OK);
	json_object_put(first);
	ck_assert_int_eq(store_videos_create(st, 4, "key_1", NULL, build_one, "key_1", &first),
			 RG_OK);
	json_object_put(first);
	int more;
	struct collected c = list("key_1", NULL, 64, 0, &more);
	ck_assert_int_eq(c.n, 7); /* the refused create wrote nothing */
}
END_TEST

static struct json_object *build_big(char (*ids)[ID_MAX], size_t n, size_t i, void *arg)
{
	(void)n;
	struct json_object *r = rec(ids[i], "key_big", 1);
	json_object_object_add(r, "prompt", json_object_new_string(arg));
	return r;
}

/* A create larger than a slot of db/group.shm (its records' JSON over
 * 16 KiB) commits on its own, whole. */
START_TEST(create_too_large_for_a_slot)
{
	static char prompt[24 * 1024];
	memset(prompt, 'p', sizeof(prompt) - 1);
	struct json_object *first = NULL;
	int retry;
	ck_assert_int_eq(store_videos_create_limited(st, 3, "key_big", NULL, 0, &retry, build_big,
						     prompt, &first),
			 RG_OK);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(first, "prompt")), prompt);
	json_object_put(first);
	int more;
	struct collected c = list("key_big", NULL, 64, 0, &more);
	ck_assert_int_eq(c.n, 3);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
}
END_TEST

/* creates_from_many_processes: creates from several processes at once are
 * grouped into shared commits (db/group.shm); each gets its own records,
 * ids stay unique and increasing in commit order, one idempotency key
 * makes one record however many race for it, and a process killed in the
 * middle of its creates holds up nobody. */
#define PROCS 6
#define EACH 150
static void child_creates(int k)
{
	struct store *cs;
	struct store_options so = { 1 << 20, 256 << 20, 1 };
	if (store_open(&cs, dir, &so) != RG_OK)
		_exit(2);
	char owner[32];
	snprintf(owner, sizeof(owner), "key_p%d", k);
	for (int i = 0; i < EACH; i++) {
		struct json_object *first = NULL;
		char idem[32];
		snprintf(idem, sizeof(idem), "same-%d", i % 10);
		int retry;
		/* the shared owner races the others for ten idempotency keys */
		int shared = i % 3 == 0;
		enum rg_err err = store_videos_create_limited(
			cs, 1 + (size_t)(i % 2), shared ? "key_shared" : owner,
			shared ? idem : NULL, 0, &retry, build_one,
			shared ? (void *)"key_shared" : owner, &first);
		if ((err != RG_OK && err != RG_EEXIST) || first == NULL)
			_exit(3);
		const char *id = json_object_get_string(json_object_object_get(first, "id"));
		if (id == NULL || strncmp(id, "video_", 6) != 0)
			_exit(4);
		json_object_put(first);
	}
	store_close(cs);
	_exit(0);
}

struct order {
	int n, bad;
	char last[ID_MAX];
};

static int in_order(struct json_object *r, void *arg)
{
	struct order *o = arg;
	const char *id = json_object_get_string(json_object_object_get(r, "id"));
	if (id == NULL || (o->n > 0 && strcmp(o->last, id) >= 0))
		o->bad++;
	snprintf(o->last, sizeof(o->last), "%s", id ? id : "");
	o->n++;
	return 0;
}

/* count_owned lists all of owner's videos, oldest first, in pages. */
static struct order count_owned(const char *owner)
{
	struct order o;
	memset(&o, 0, sizeof(o));
	int more = 1;
	while (more) {
		char after[ID_MAX];
		snprintf(after, sizeof(after), "%s", o.last);
		ck_assert_int_eq(
			store_video_list(st, owner, o.n ? after : NULL, 50, 0, in_order, &o, &more),
			RG_OK);
	}
	return o;
}

START_TEST(creates_from_many_processes)
{
	pid_t pids[PROCS], victim = fork();
	ck_assert_int_ge(victim, 0);
	if (victim == 0) {
		for (;;)
			child_creates(99); /* killed below, in the middle of it */
	}
	for (int k = 0; k < PROCS; k++) {
		pids[k] = fork();
		ck_assert_int_ge(pids[k], 0);
		if (pids[k] == 0)
			child_creates(k);
	}
	struct timespec pause = { 0, 30 * 1000 * 1000 };
	nanosleep(&pause, NULL);
	kill(victim, SIGKILL);
	waitpid(victim, NULL, 0);
	for (int k = 0; k < PROCS; k++) {
		int status;
		ck_assert_int_eq(waitpid(pids[k], &status, 0), pids[k]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %d",
			      k, status);
	}
	for (int k = 0; k < PROCS; k++) {
		char owner[32];
		snprintf(owner, sizeof(owner), "key_p%d", k);
		struct order o = count_owned(owner);
		int want = 0;
		for (int i = 0; i < EACH; i++)
			if (i % 3 != 0)
				want += 1 + i % 2;
		ck_assert_int_eq(o.n, want);
		ck_assert_int_eq(o.bad, 0);
	}
	/* ten keys, each created once by whichever process came first
	 * (n = 1 or 2 records); the killed process may have made some */
	struct order o = count_owned("key_shared");
	ck_assert_msg(o.n >= 10 && o.n <= 20, "%d shared records", o.n);
	ck_assert_int_eq(o.bad, 0);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
}
END_TEST

static void bump(struct json_object *r, size_t i, void *arg)
{
	(void)arg;
	json_object_object_add(r, "progress", json_object_new_int((int)i + 10));
	json_object_object_add(r, "due_at", json_object_new_int64(5000 + (int64_t)i));
}

START_TEST(modify_many_in_one_commit)
{
	put("video_a1", "key_1");
	put("video_a2", "key_1");
	char ids[3][ID_MAX] = { "video_a1", "video_gone", "video_a2" };
	int gone[3];
	ck_assert_int_eq(store_videos_modify(st, ids, 3, bump, NULL, gone), RG_OK);
	ck_assert(!gone[0] && gone[1] && !gone[2]);
	struct json_object *r;
	ck_assert_int_eq(store_video_get(st, "video_a2", &r), RG_OK);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(r, "progress")), 12);
	json_object_put(r);
	int n = 0;
	store_due_scan(st, 4999, 10, count_due, &n);
	ck_assert_int_eq(n, 0); /* the old due entries moved */
	store_due_scan(st, 5002, 10, count_due, &n);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
}
END_TEST

START_TEST(persists_across_reopen)
{
	put("video_a1", "key_1");
	store_close(st);
	struct store_options so = { 1 << 20, 256 << 20, 1 };
	ck_assert_int_eq(store_open(&st, dir, &so), RG_OK);
	struct json_object *r;
	ck_assert_int_eq(store_video_get(st, "video_a1", &r), RG_OK);
	json_object_put(r);
}
END_TEST

/* ---- the cached public objects ---------------------------------------------- */

struct pub_seen {
	char text[4096];
	int pending;
	int found;
	char owner[ID_MAX];
};

static int take_pub(const char *id, const void *data, size_t len, void *arg)
{
	struct pub_seen *p = arg;
	struct video_cached c;
	struct buf b;
	(void)id;
	ck_assert_int_eq(video_cache_read(data, len, &c), 0);
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(video_cache_json(&c, "http://h.example", &b), 0);
	ck_assert_uint_lt(b.len, sizeof(p->text));
	memcpy(p->text, b.data, b.len + 1);
	buf_deinit(&b);
	ck_assert_uint_lt(c.owner_len, ID_MAX);
	memcpy(p->owner, c.owner, c.owner_len);
	p->owner[c.owner_len] = '\0';
	p->pending = c.pending;
	p->found++;
	return 0;
}

/* expect_pub: what GET answers from the cache is what video_json makes of
 * the stored record. */
static void expect_pub(const char *id)
{
	struct pub_seen p;
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(store_video_public(st, id, take_pub, &p), RG_OK);
	ck_assert_int_eq(p.found, 1);
	struct json_object *r;
	ck_assert_int_eq(store_video_get(st, id, &r), RG_OK);
	struct buf want;
	buf_init(&want, 1 << 20);
	ck_assert_int_eq(video_json(r, "http://h.example", &want), 0);
	ck_assert_str_eq(p.text, want.data);
	ck_assert_str_eq(p.owner, json_object_get_string(json_object_object_get(r, "owner")));
	const char *status = json_object_get_string(json_object_object_get(r, "status"));
	ck_assert_int_eq(p.pending,
			 strcmp(status, "queued") == 0 || strcmp(status, "in_progress") == 0);
	buf_deinit(&want);
	json_object_put(r);
}

START_TEST(public_follows_every_write)
{
	put("video_a1", "key_1");
	put("video_a2", "key_1");
	expect_pub("video_a1");
	struct json_object *r;
	ck_assert_int_eq(store_video_get(st, "video_a1", &r), RG_OK);
	json_object_object_add(r, "status", json_object_new_string("completed"));
	json_object_object_add(r, "progress", json_object_new_int(100));
	json_object_object_add(r, "prompt",
			       json_object_new_string("a \"quoted\" / prompt \xc3\xa9"));
	ck_assert_int_eq(store_video_update(st, r), RG_OK);
	json_object_put(r);
	expect_pub("video_a1"); /* completed: metadata.url spliced in */
	struct pub_seen p;
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(store_video_public(st, "video_a1", take_pub, &p), RG_OK);
	ck_assert_ptr_nonnull(
		strstr(p.text, "\"url\":\"http://h.example/v1/videos/video_a1/content\"}}"));
	ck_assert_int_eq(p.pending, 0);
	char ids[2][ID_MAX] = { "video_a1", "video_a2" };
	int gone[2];
	ck_assert_int_eq(store_videos_modify(st, ids, 2, bump, NULL, gone), RG_OK);
	expect_pub("video_a1");
	expect_pub("video_a2");
	memset(&p, 0, sizeof(p));
	int more;
	ck_assert_int_eq(store_video_list_public(st, "key_1", NULL, 10, 0, 1, take_pub, &p, &more),
			 RG_OK);
	ck_assert_int_eq(p.found, 2);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
	ck_assert_int_eq(store_video_delete(st, "video_a1", NULL), RG_OK);
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(store_video_public(st, "video_a1", take_pub, &p), RG_ENOENT);
	ck_assert_int_eq(p.found, 0);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
}
END_TEST

/* skip_odd: a filter that leaves out every video whose id ends in an odd
 * digit, and remembers what it was shown. */
struct skipping {
	char shown[16][ID_MAX];
	int nshown, kept;
};

static int skip_odd(const char *id, const void *data, size_t len, void *arg)
{
	struct skipping *k = arg;
	(void)data;
	(void)len;
	ck_assert_int_lt(k->nshown, 16);
	snprintf(k->shown[k->nshown++], ID_MAX, "%s", id);
	if ((id[strlen(id) - 1] - '0') % 2)
		return STORE_SKIP;
	k->kept++;
	return STORE_NEXT;
}

static struct skipping list_skipping(const char *after, size_t limit, size_t max_examined,
				     int *more)
{
	struct skipping k;
	memset(&k, 0, sizeof(k));
	ck_assert_int_eq(store_video_list_public(st, "key_1", after, limit, max_examined, 0,
						 skip_odd, &k, more),
			 RG_OK);
	return k;
}

START_TEST(list_public_skips_and_bounds)
{
	char id[ID_MAX];
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "video_b%d", i);
		put(id, "key_1");
	}
	put("video_c0", "key_2");
	int more;
	/* skipped videos do not count towards limit */
	struct skipping k = list_skipping(NULL, 3, 0, &more);
	ck_assert_int_eq(k.kept, 3);
	ck_assert_int_eq(k.nshown, 5);
	ck_assert_str_eq(k.shown[4], "video_b4");
	ck_assert_int_eq(more, 1);
	/* the bound ends the list before limit, with has_more */
	k = list_skipping(NULL, 10, 4, &more);
	ck_assert_int_eq(k.nshown, 4);
	ck_assert_int_eq(k.kept, 2);
	ck_assert_int_eq(more, 1);
	/* continued after the last one examined */
	k = list_skipping(k.shown[3], 10, 4, &more);
	ck_assert_int_eq(k.nshown, 4);
	ck_assert_str_eq(k.shown[0], "video_b4");
	ck_assert_int_eq(more, 1);
	/* a bound reached on the owner's last video: nothing more */
	k = list_skipping(k.shown[3], 10, 2, &more);
	ck_assert_int_eq(k.nshown, 2);
	ck_assert_str_eq(k.shown[1], "video_b9");
	ck_assert_int_eq(more, 0);
	/* neither limit nor bound reached: all of the owner's, no more */
	k = list_skipping(NULL, 10, 100, &more);
	ck_assert_int_eq(k.nshown, 10);
	ck_assert_int_eq(k.kept, 5);
	ck_assert_int_eq(more, 0);
}
END_TEST

/* raw_public changes the public database behind the store's back (the
 * store must be closed): deletes del (NULL: none; "*": everything), sets
 * junk_id to junk. */
static void raw_public(const char *del, const char *junk_id)
{
	fixture_raw_edit("public", del, junk_id, NULL, "junk!", 5);
}

static void count_line(const char *line, void *arg)
{
	(void)line;
	(*(int *)arg)++;
}

START_TEST(public_checked_and_filled_at_open)
{
	put("video_a1", "key_1");
	put("video_a2", "key_1");
	store_close(st);
	raw_public("video_a1", "video_a2"); /* one missing, one stale */
	struct store_options so = { 1 << 20, 256 << 20, 1 };
	ck_assert_int_eq(store_open(&st, dir, &so), RG_OK);
	int bad = 0;
	ck_assert_int_eq(store_check(st, count_line, &bad), RG_ECORRUPT);
	ck_assert_int_eq(bad, 2);
	expect_pub("video_a1"); /* a missing one is rendered on the spot */
	/* A database from before the cache (no completion mark) is filled in
	 * at the next open. */
	store_close(st);
	raw_public("#complete", NULL);
	ck_assert_int_eq(store_open(&st, dir, &so), RG_OK);
	ck_assert_int_eq(store_check(st, NULL, NULL), RG_OK);
	expect_pub("video_a1");
	expect_pub("video_a2");
}
END_TEST

/* A database from before the cache is filled in bounded batches. */
START_TEST(public_filled_in_batches)
{
	enum { N = 2345 };
	static struct json_object *recs[N];
	char id[ID_MAX], existing[ID_MAX];
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "video_%05d", i);
		recs[i] = rec(id, i % 2 ? "key_1" : "key_2", 0);
	}
	ck_assert_int_eq(store_videos_insert(st, recs, N, NULL, existing), RG_OK);
	for (int i = 0; i < N; i++)
		json_object_put(recs[i]);
	store_close(st);
	raw_public("*", NULL);
	struct store_options so = { 1 << 20, 256 << 20, 1 };
	ck_assert_int_eq(store_open(&st, dir, &so), RG_OK);
	int bad = 0;
	ck_assert_int_eq(store_check(st, count_line, &bad), RG_OK);
	ck_assert_int_eq(bad, 0);
	expect_pub("video_00000");
	expect_pub("video_01000");
	expect_pub("video_02344");
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, insert_get_delete);
	tcase_add_test(tc, list_empty);
	tcase_add_test(tc, list_exactly_one_page);
	tcase_add_test(tc, list_pages_both_orders);
	tcase_add_test(tc, list_after_deleted_id);
	tcase_add_test(tc, delete_leaves_upstream_cancel);
	tcase_add_test(tc, files_by_owner);
	tcase_add_test(tc, list_isolated_by_owner);
	tcase_add_test(tc, idempotency);
	tcase_add_test(tc, batch_insert_is_atomic);
	tcase_add_test(tc, update_moves_due_entry);
	tcase_add_test(tc, map_grows_when_full);
	tcase_add_test(tc, map_cap_gives_espace);
	tcase_add_test(tc, persists_across_reopen);
	tcase_add_test(tc, rate_limit_counts_in_the_create);
	tcase_add_test(tc, creates_from_many_processes);
	tcase_add_test(tc, create_too_large_for_a_slot);
	tcase_add_test(tc, modify_many_in_one_commit);
	tcase_add_test(tc, public_follows_every_write);
	tcase_add_test(tc, list_public_skips_and_bounds);
	tcase_add_test(tc, public_checked_and_filled_at_open);
	tcase_add_test(tc, public_filled_in_batches);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(store_suite)
