/*
 * store_group: durable creates from concurrent processes written in one
 * commit.  Owns db/group.shm, the receipts (the "group" sub-database,
 * opened with the others by store_env.c) and the protocol below; what a
 * create writes is store_kv.c's (kv_insert), the transactions and
 * their errors store_env.c's.
 *
 * A durable commit syncs its pages while it holds LMDB's writer lock, so
 * creates that commit one by one go no faster than the disk's syncs, one
 * after another.  Grouped, the creates posted meanwhile share one commit
 * and one sync.
 *
 * THE FILE.  db/group.shm, beside data.mdb, is mapped MAP_SHARED by every
 * durable store of the data_dir.  It is struct group_shm, in native byte
 * order, 656,696 bytes (a change of layout changes GROUP_MAGIC):
 *
 *   magic        u32  GROUP_MAGIC ("rgG3"), stored last when it is set up
 *   done_seq     u32  a futex word: bumped, and every waiter woken, when a
 *                     leader hands its slots back
 *   boot_id      40 B the boot the pids in the slots are of
 *   pid_ns       u64  the pid namespace (inode of /proc/self/ns/pid) they
 *                     are of
 *   slots[32], each (struct group_slot):
 *     word       u64  state (bits 0-7: FREE 0, FILLING 1, POSTED 2, TAKEN 3,
 *                     SYNCING 4, DONE 5) and a pid (bits 8-39), only ever
 *                     changed together, by compare-and-swap
 *     owner      i32  the poster's pid
 *     len        u32  bytes of op
 *     token      u64  random, new for each posting; its receipt holds it too
 *     txnid      u64  the transaction that wrote the create
 *     err        i32  the answer (enum rg_err), once done
 *     retry_after i32 seconds, when err is RG_ELIMIT
 *     ids   64 x 64 B the new ids (RG_OK), or in ids[0] the earlier
 *                     video's id (RG_EEXIST), or why the create was
 *                     refused, as text (RG_ELIMIT, RG_EQUOTA)
 *     op     16 KiB   the create: u32 n, u32 per_minute, u32 length and the
 *                     owner, u32 length (0xffffffff: none) and the
 *                     idempotency key, then n times u32 length and a
 *                     record's JSON, built with placeholder ids
 *                     (video_00...0i) that the leader replaces ("id", and
 *                     "video_ids" when n > 1)
 *
 * THE SLOTS.  The pid in word is the poster's (p), but the leader's (l)
 * while the slot is TAKEN.  Who moves a slot from which state to which:
 *
 *   FREE -> FILLING(p)        p claims it (claim_slot).  A slot whose
 *                             processes are all dead (the pid in word; when
 *                             TAKEN, both the leader and owner) is
 *                             abandoned and is claimed from any state.
 *   FILLING(p) -> POSTED(p)   p, once op, len and token are written.
 *   POSTED(p) -> TAKEN(l)     a leader l, holding the writer lock.
 *   POSTED(p) -> FILLING(p)   p withdraws its create when it cannot begin a
 *                             write transaction; it answers that error and
 *                             frees the slot.
 *   TAKEN(l) -> DONE(p)       l, once its commit is synced or has failed,
 *                             err, ids, retry_after and txnid written first.
 *   TAKEN(l) -> SYNCING(p)    l, after a commit whose meta page it leaves
 *                             to the next group to sync (DURABILITY).
 *   TAKEN(l) -> POSTED(p)     p, holding the writer lock, l dead and no
 *                             receipt of its create (A LEADER'S DEATH).
 *   SYNCING(p) -> DONE(p)     a later leader whose commit covered txnid
 *                             (cover_synced), or p after a sync of its own.
 *   DONE(p) -> FREE           p, having read the answer; so too a slot that
 *                             p withdrew (FILLING) or settled by a receipt
 *                             (TAKEN by a dead leader).
 *
 * THE LEADER.  Whoever gets LMDB's writer lock (begins a write
 * transaction) while its own create is still POSTED leads: it takes every
 * POSTED slot, writes each create in a nested transaction of its own (an
 * idempotency hit, a rate limit or an op that does not decode refuses that
 * create alone; a full map is grown and the whole group written again),
 * giving out the real ids (after the last id stored, as a create of its own
 * would, so id order stays commit order), commits once and hands the slots
 * back.  A poster whose slot is TAKEN by a live leader waits on done_seq
 * (GROUP_WAIT_MS at a time); one that gets the lock and finds its slot no
 * longer POSTED lets the lock go and looks again.  Alive means kill(pid, 0)
 * does not fail with ESRCH.
 *
 * RECEIPTS.  With each create that succeeds, in its nested transaction, the
 * leader writes a receipt to the "group" sub-database: key the slot's index
 * (one byte), value the slot's token (8 bytes) and the n new ids (n x 64
 * bytes).  It is committed exactly when the create is, and overwritten by
 * the slot's next create.
 *
 * A LEADER'S DEATH.  A poster that finds its slot TAKEN by a dead leader
 * takes the writer lock (LMDB has rolled back whatever the leader had not
 * committed) and reads the receipt of its slot.  If its token and length
 * match, the create was committed: the answer is RG_OK with the receipt's
 * ids, after an mdb_env_sync of its own (the leader may have died before
 * its sync).  If not, the poster posts the create again (TAKEN -> POSTED)
 * and leads it.  A refused create has no receipt either: it is run again.
 * A poster's death leaves its slot to be claimed.
 *
 * BOOT ID AND PID NAMESPACE.  The file outlives its processes, and its pids
 * mean something only in the boot and the pid namespace they are of.
 * group_open holds flock(LOCK_EX) on the file while it looks: when magic
 * is not GROUP_MAGIC or boot_id is not this boot's
 * (/proc/sys/kernel/random/boot_id; "" where there is none), it clears
 * every slot (all but op) and done_seq and records this boot and its own
 * pid namespace.  Slots of an earlier boot are cleared, never reclaimed.
 * A process of another pid namespace than the file's (a container sharing
 * the data_dir) cannot tell whether the posters are alive: it does not use
 * the file, and its creates commit on their own.
 *
 * FULL DISK.  Every block of the file is allocated (posix_fallocate)
 * before it is mapped: a page of a sparse file that the full disk cannot
 * give would be a SIGBUS at its first write, not an error.  A store whose
 * file cannot be allocated has no group.  A group's commit that fails on a
 * full disk answers each of its creates RG_ESPACE (env_write_error).
 *
 * DURABILITY.  The environment is open with MDB_NOMETASYNC: a commit syncs
 * its data pages while it holds the writer lock, but not the meta page
 * that makes it current.  A leader syncs (mdb_env_sync) before it hands the
 * slots back DONE, unless it wrote something and more creates are posted
 * already: then it hands them back SYNCING and leaves that sync to the next
 * group, whose commit syncs its own pages under the lock and with them
 * every meta page written before; that group's leader marks the slots of
 * earlier transactions DONE (cover_synced).  A poster still SYNCING after
 * waiting once, up to GROUP_SYNC_WAIT_US, syncs on its own.  No create is
 * answered before its commit is on disk, meta page and all, as with LMDB's
 * default.
 *
 * A create too large for a slot (op over GROUP_OP_MAX) or of more than 64
 * records, one that finds no slot free, and every create of a store that is
 * not durable commit on their own (group_create returns -1).
 */
#include "store_int.h"

#include "buf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define GROUP_MAGIC 0x72674733u /* "rgG3" */
#define GROUP_SLOTS 32
#define GROUP_OP_MAX (16u << 10)
#define GROUP_WAIT_MS 20
/* How long a committed create waits for the next group's sync to cover
 * it before it syncs on its own. */
#define GROUP_SYNC_WAIT_US 2000

/* A slot's state and the process it belongs to in that state (the poster;
 * for SLOT_TAKEN the leader), changed together with one compare-and-swap. */
enum { SLOT_FREE, SLOT_FILLING, SLOT_POSTED, SLOT_TAKEN, SLOT_SYNCING, SLOT_DONE };
#define WORD(state, pid) (((uint64_t)(uint32_t)(pid) << 8) | (state))
#define WORD_STATE(w) ((unsigned)((w)&0xff))
#define WORD_PID(w) ((int32_t)((w) >> 8))

struct group_slot {
	uint64_t word;
	int32_t owner;	/* the poster, set while filling */
	uint32_t len;	/* bytes of op */
	uint64_t token; /* this posting; also in its receipt */
	uint64_t txnid; /* the transaction that wrote it (SLOT_SYNCING) */
	int32_t err;	/* enum rg_err, once done */
	int32_t retry_after;
	char ids[64][ID_MAX]; /* the new ids (RG_OK), or in [0] the earlier one (RG_EEXIST) */
	char op[GROUP_OP_MAX];
};

struct group_shm {
	uint32_t magic;
	uint32_t done_seq; /* a futex word: bumped whenever slots are done */
	char boot_id[40];  /* the boot that wrote the slots (pids are of it) */
	uint64_t pid_ns;   /* ... and the pid namespace the pids are of */
	struct group_slot slots[GROUP_SLOTS];
};
_Static_assert(sizeof(struct group_shm) == 656696,
	       "db/group.shm changed its layout: change GROUP_MAGIC too, then this size");

static uint64_t load64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static int cas64(uint64_t *p, uint64_t from, uint64_t to)
{
	return __atomic_compare_exchange_n(p, &from, to, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static int pid_alive(int32_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

/* read_boot_id: this boot's id (the kernel's), or "" where there is none. */
static void read_boot_id(char *out, size_t cap)
{
	memset(out, 0, cap);
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (f == NULL)
		return;
	if (fgets(out, (int)cap, f) != NULL)
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

/* map_group maps the file open on fd, every block of it allocated first: a
 * page of a sparse file that the full disk cannot give would be a SIGBUS at
 * its first write, not an error. */
static struct group_shm *map_group(int fd)
{
	const size_t size = sizeof(struct group_shm);
	struct stat sb;
	if (fstat(fd, &sb) != 0 || ((size_t)sb.st_size != size && ftruncate(fd, size) != 0) ||
	    posix_fallocate(fd, 0, size) != 0)
		return NULL;
	void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return map == MAP_FAILED ? NULL : map;
}

/* join_group, with the file's flock held, clears a file that is new or was
 * written in an earlier boot: the pids in its slots may be alive again as
 * other processes, so its slots are cleared, not reclaimed.  It says
 * whether this process may take part: one of another pid namespace (a
 * container sharing the data_dir) cannot tell whether the posters are
 * alive, and its creates commit on their own. */
static int join_group(struct group_shm *g)
{
	char boot[sizeof(g->boot_id)];
	struct stat nsb;
	read_boot_id(boot, sizeof(boot));
	uint64_t ns = stat("/proc/self/ns/pid", &nsb) == 0 ? (uint64_t)nsb.st_ino : 0;
	if (__atomic_load_n(&g->magic, __ATOMIC_ACQUIRE) != GROUP_MAGIC ||
	    memcmp(g->boot_id, boot, sizeof(boot)) != 0) {
		__atomic_store_n(&g->magic, 0, __ATOMIC_RELEASE);
		g->done_seq = 0;
		for (int i = 0; i < GROUP_SLOTS; i++)
			memset(&g->slots[i], 0, offsetof(struct group_slot, op));
		memcpy(g->boot_id, boot, sizeof(boot));
		g->pid_ns = ns;
		__atomic_store_n(&g->magic, GROUP_MAGIC, __ATOMIC_RELEASE);
	}
	return g->pid_ns == ns;
}

void group_open(struct store *st)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/group.shm", st->path);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	struct group_shm *g = NULL;
	if (flock(fd, LOCK_EX) == 0) {
		g = map_group(fd);
		if (g != NULL && !join_group(g)) {
			munmap(g, sizeof(*g));
			g = NULL;
		}
		flock(fd, LOCK_UN);
	}
	close(fd);
	st->group = g;
}

void group_close(struct store *st)
{
	if (st->group)
		munmap(st->group, sizeof(*st->group));
	st->group = NULL;
}

static void group_wake(struct group_shm *g)
{
	__atomic_add_fetch(&g->done_seq, 1, __ATOMIC_ACQ_REL);
	syscall(SYS_futex, &g->done_seq, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/* abandoned: is every process slot s (in word w) belongs to gone?  Its
 * poster, and while it is taken, its leader too. */
static int abandoned(const struct group_slot *s, uint64_t w)
{
	if (WORD_STATE(w) != SLOT_TAKEN)
		return !pid_alive(WORD_PID(w));
	return !pid_alive(s->owner) && !pid_alive(WORD_PID(w));
}

/* claim_slot takes a free slot, or an abandoned one. */
static struct group_slot *claim_slot(struct group_shm *g, int32_t me)
{
	for (int i = 0; i < GROUP_SLOTS; i++) {
		struct group_slot *s = &g->slots[(unsigned)(i + me) % GROUP_SLOTS];
		uint64_t w = load64(&s->word);
		if ((w == WORD(SLOT_FREE, 0) || abandoned(s, w)) &&
		    cas64(&s->word, w, WORD(SLOT_FILLING, me))) {
			s->owner = me;
			return s;
		}
	}
	return NULL;
}

static int put_u32(struct buf *b, uint32_t v)
{
	return buf_append(b, &v, sizeof(v));
}

/* op_encode writes a create as the slot carries it: n, per_minute, owner,
 * idem (length 0xffffffff: none) and each record's JSON. */
static int op_encode(struct buf *b, const struct insert_args *a, char (*ph)[ID_MAX])
{
	int bad = put_u32(b, (uint32_t)a->n) < 0;
	bad |= put_u32(b, (uint32_t)a->per_minute) < 0;
	bad |= put_u32(b, (uint32_t)strlen(a->owner)) < 0;
	bad |= buf_append(b, a->owner, strlen(a->owner)) < 0;
	bad |= put_u32(b, a->idem ? (uint32_t)strlen(a->idem) : UINT32_MAX) < 0;
	if (a->idem)
		bad |= buf_append(b, a->idem, strlen(a->idem)) < 0;
	for (size_t i = 0; i < a->n && !bad; i++) {
		struct json_object *rec = a->build(ph, a->n, i, a->build_arg);
		size_t len;
		const char *text =
			rec ? json_object_to_json_string_length(rec, JSON_C_TO_STRING_PLAIN, &len)
			    : NULL;
		if (text == NULL) {
			json_object_put(rec);
			return -1;
		}
		bad |= put_u32(b, (uint32_t)len) < 0;
		bad |= buf_append(b, text, len) < 0;
		json_object_put(rec);
	}
	return bad ? -1 : 0;
}

/* A create read back from its slot. */
struct op {
	char owner[OWNER_MAX + 1];
	char idem[IDEM_MAX + 1];
	int has_idem;
	uint32_t n, per_minute;
	const char *text[64];
	uint32_t text_len[64];
};

static int get_u32(const char **p, const char *end, uint32_t *v)
{
	if ((size_t)(end - *p) < sizeof(*v))
		return -1;
	memcpy(v, *p, sizeof(*v));
	*p += sizeof(*v);
	return 0;
}

static int get_str(const char **p, const char *end, char *out, size_t cap, int *present)
{
	uint32_t len;
	if (get_u32(p, end, &len) < 0)
		return -1;
	*present = len != UINT32_MAX;
	if (!*present)
		return 0;
	if (len >= cap || (size_t)(end - *p) < len)
		return -1;
	memcpy(out, *p, len);
	out[len] = '\0';
	*p += len;
	return 0;
}

static int op_decode(const struct group_slot *s, struct op *op)
{
	const char *p = s->op, *end = s->op + (s->len <= GROUP_OP_MAX ? s->len : 0);
	int present;
	if (get_u32(&p, end, &op->n) < 0 || op->n == 0 || op->n > 64 ||
	    get_u32(&p, end, &op->per_minute) < 0 ||
	    get_str(&p, end, op->owner, sizeof(op->owner), &present) < 0 || !present ||
	    get_str(&p, end, op->idem, sizeof(op->idem), &op->has_idem) < 0)
		return -1;
	for (uint32_t i = 0; i < op->n; i++) {
		if (get_u32(&p, end, &op->text_len[i]) < 0 || (size_t)(end - p) < op->text_len[i])
			return -1;
		op->text[i] = p;
		p += op->text_len[i];
	}
	return 0;
}

/* from_template is the build function of a create run by a leader: the
 * poster's record with the ids given out now. */
static struct json_object *from_template(char (*ids)[ID_MAX], size_t n, size_t i, void *arg)
{
	const struct op *op = arg;
	MDB_val v = { op->text_len[i], (void *)op->text[i] };
	struct json_object *rec = env_parse(&v);
	if (rec == NULL)
		return NULL;
	json_object_object_add(rec, "id", json_object_new_string(ids[i]));
	if (n > 1) {
		struct json_object *a = json_object_new_array();
		for (size_t j = 0; j < n; j++)
			json_object_array_add(a, json_object_new_string(ids[j]));
		json_object_object_add(rec, "video_ids", a);
	}
	return rec;
}

/* refusal_put and refusal_get carry why a create was refused in the
 * slot's ids, which a refused create does not use, as text. */
static void refusal_put(struct group_slot *s, const struct store_refusal *why)
{
	snprintf((char *)s->ids, sizeof(s->ids), "%s %lld %lld %lld %lld", why->which,
		 (long long)why->limit, (long long)why->used, (long long)why->asked,
		 (long long)why->reset_at);
}

static void refusal_get(const struct group_slot *s, struct store_refusal *why)
{
	char text[256];
	long long l = 0, u = 0, a = 0, r = 0;
	memcpy(text, s->ids, sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	memset(why, 0, sizeof(*why));
	if (sscanf(text, "%23s %lld %lld %lld %lld", why->which, &l, &u, &a, &r) == 5) {
		why->limit = l;
		why->used = u;
		why->asked = a;
		why->reset_at = r;
	}
}

/* run_op writes one posted create in a nested transaction of txn: 0 and
 * the slot's result set, or MDB_MAP_FULL (the whole group is retried). */
static int run_op(struct store *st, MDB_txn *txn, struct group_slot *s, int index)
{
	struct op op;
	struct json_object *recs[64] = { NULL };
	MDB_txn *child;
	s->retry_after = 0;
	if (op_decode(s, &op) < 0) {
		s->err = RG_EINVAL;
		return 0;
	}
	int rc = mdb_txn_begin(st->env, txn, 0, &child);
	if (rc == 0) {
		/* an idempotency hit writes the earlier id where no new one
		 * is given out: s->ids[0] */
		struct insert_args a = { recs,
					 op.n,
					 op.has_idem ? op.idem : NULL,
					 s->ids[0],
					 op.owner,
					 from_template,
					 &op,
					 s->ids,
					 (int)op.per_minute,
					 0,
					 { "", 0, 0, 0, 0 } };
		memset(&a.why, 0, sizeof(a.why));
		rc = kv_insert(st, child, &a);
		s->retry_after = a.retry_after;
		if (rc == TXN_LIMITED || rc == TXN_BUDGET)
			refusal_put(s, &a.why);
		if (rc == 0) {
			uint8_t key = (uint8_t)index;
			char val[sizeof(uint64_t) + sizeof(s->ids)];
			memcpy(val, &s->token, sizeof(s->token));
			memcpy(val + sizeof(s->token), s->ids, op.n * ID_MAX);
			MDB_val k = { 1, &key }, v = { sizeof(s->token) + op.n * ID_MAX, val };
			rc = mdb_put(child, st->group_dbi, &k, &v, 0);
		}
		if (rc == 0)
			rc = mdb_txn_commit(child);
		else
			mdb_txn_abort(child);
	}
	for (uint32_t i = 0; i < op.n; i++)
		json_object_put(recs[i]);
	if (rc == MDB_MAP_FULL)
		return rc;
	s->err = rc == 0	     ? RG_OK
		 : rc == TXN_EXISTS  ? RG_EEXIST
		 : rc == TXN_LIMITED ? RG_ELIMIT
		 : rc == TXN_BUDGET  ? RG_EQUOTA
				     : env_error(rc);
	return 0;
}

/* others_posted: will another group commit soon? */
static int others_posted(struct group_shm *g)
{
	for (int i = 0; i < GROUP_SLOTS; i++)
		if (WORD_STATE(load64(&g->slots[i].word)) == SLOT_POSTED)
			return 1;
	return 0;
}

/* cover_synced marks done the creates of transactions before txnid, whose
 * meta pages the commit of txnid (just made, with pages) has synced. */
static void cover_synced(struct group_shm *g, uint64_t txnid)
{
	for (int i = 0; i < GROUP_SLOTS; i++) {
		struct group_slot *s = &g->slots[i];
		uint64_t w = load64(&s->word);
		if (WORD_STATE(w) == SLOT_SYNCING && s->txnid < txnid)
			cas64(&s->word, w, WORD(SLOT_DONE, WORD_PID(w)));
	}
}

/* What a leader took and how its commit went. */
struct group_batch {
	int taken[GROUP_SLOTS]; /* the slots taken, by index */
	int n;
	uint64_t txnid;	    /* the transaction that wrote them */
	int syncing;	    /* committed, the meta page left to the next group */
	enum rg_err failed; /* the commit failed: every create's answer */
};

/* take_posted moves every posted slot to SLOT_TAKEN by me. */
static void take_posted(struct group_shm *g, int32_t me, struct group_batch *b)
{
	b->n = 0;
	for (int i = 0; i < GROUP_SLOTS; i++) {
		struct group_slot *s = &g->slots[i];
		uint64_t w = load64(&s->word);
		if (WORD_STATE(w) == SLOT_POSTED && cas64(&s->word, w, WORD(SLOT_TAKEN, me)))
			b->taken[b->n++] = i;
	}
}

/* commit_batch writes the taken creates in txn (held), each in a nested
 * transaction, and commits; the sync is left to the next group when more
 * creates are posted already.  A full map is grown and the batch written
 * again in a new transaction. */
static void commit_batch(struct store *st, MDB_txn *txn, struct group_batch *b)
{
	struct group_shm *g = st->group;
	for (int tries = 0;; tries++) {
		int rc = 0, wrote = 0;
		b->txnid = mdb_txn_id(txn);
		for (int i = 0; i < b->n && rc == 0; i++) {
			rc = run_op(st, txn, &g->slots[b->taken[i]], b->taken[i]);
			wrote |= rc == 0 && g->slots[b->taken[i]].err == RG_OK;
		}
		if (rc == 0) {
			rc = mdb_txn_commit(txn);
			if (rc == 0 && wrote)
				cover_synced(g, b->txnid);
			if (rc == 0 && wrote && others_posted(g))
				b->syncing = 1;
			else if (rc == 0)
				rc = mdb_env_sync(st->env, 1);
		} else {
			mdb_txn_abort(txn);
		}
		txn = NULL;
		if (rc == MDB_MAP_FULL && tries < 32 && env_grow_map(st) == 0 &&
		    env_txn_begin(st, 0, &txn) == 0)
			continue;
		b->failed = env_write_error(st, rc);
		return;
	}
}

/* hand_back gives each taken slot back to its poster, done or (committed,
 * not yet synced) syncing, and wakes the waiters. */
static void hand_back(struct group_shm *g, int32_t me, const struct group_batch *b)
{
	for (int i = 0; i < b->n; i++) {
		struct group_slot *s = &g->slots[b->taken[i]];
		if (b->failed != RG_OK)
			s->err = b->failed;
		s->txnid = b->txnid;
		cas64(&s->word, WORD(SLOT_TAKEN, me),
		      WORD(b->syncing && b->failed == RG_OK ? SLOT_SYNCING : SLOT_DONE, s->owner));
	}
	group_wake(g);
}

/* lead writes every posted create in txn (held), commits, has the commit
 * synced and marks them done. */
static void lead(struct store *st, MDB_txn *txn, int32_t me)
{
	struct group_batch b = { .syncing = 0, .failed = RG_OK };
	take_posted(st->group, me, &b);
	commit_batch(st, txn, &b);
	hand_back(st->group, me, &b);
}

/* committed_before: our leader died holding our create of n records;
 * with the writer lock held (txn), the receipt says whether it was
 * committed, and with which ids. */
static int committed_before(struct store *st, MDB_txn *txn, struct group_slot *s, int index,
			    size_t n)
{
	uint8_t key = (uint8_t)index;
	MDB_val k = { 1, &key }, v;
	if (mdb_get(txn, st->group_dbi, &k, &v) != 0 ||
	    v.mv_size != sizeof(s->token) + n * ID_MAX ||
	    memcmp(v.mv_data, &s->token, sizeof(s->token)) != 0)
		return 0;
	memcpy(s->ids, (char *)v.mv_data + sizeof(s->token), n * ID_MAX);
	s->err = RG_OK;
	return 1;
}

/* wait_done waits up to ns nanoseconds for done_seq to move on from seq. */
static void wait_done(struct group_shm *g, uint32_t seq, long ns)
{
	struct timespec ts = { 0, ns };
	syscall(SYS_futex, &g->done_seq, FUTEX_WAIT, seq, &ts, NULL, 0);
}

/* post puts the create a, its records built with placeholder ids, in a
 * slot of its own (SLOT_FREE -> SLOT_FILLING -> SLOT_POSTED); NULL when it
 * is too large for a slot or no slot is free. */
static struct group_slot *post(struct group_shm *g, const struct insert_args *a, int32_t me)
{
	char ph[64][ID_MAX];
	for (size_t i = 0; i < a->n; i++)
		snprintf(ph[i], sizeof(ph[i]), "video_%026zu", i);
	struct buf b;
	buf_init(&b, GROUP_OP_MAX);
	struct group_slot *s = NULL;
	if (op_encode(&b, a, ph) == 0)
		s = claim_slot(g, me);
	if (s == NULL) {
		buf_deinit(&b);
		return NULL;
	}
	memcpy(s->op, b.data, b.len);
	s->len = (uint32_t)b.len;
	buf_deinit(&b);
	if (id_random((uint8_t *)&s->token, sizeof(s->token)) < 0)
		s->token = ((uint64_t)me << 32) ^ (uint64_t)time(NULL);
	__atomic_store_n(&s->word, WORD(SLOT_POSTED, me), __ATOMIC_RELEASE);
	return s;
}

/* await_sync: our create is committed, its meta page not yet synced
 * (SLOT_SYNCING, in word w).  The first time, wait up to
 * GROUP_SYNC_WAIT_US for the next group's commit to cover it; after that,
 * sync and mark it done ourselves. */
static void await_sync(struct store *st, struct group_slot *s, uint64_t w, int32_t me, int *waited)
{
	uint32_t seq = __atomic_load_n(&st->group->done_seq, __ATOMIC_ACQUIRE);
	if (load64(&s->word) != w)
		return;
	if (*waited) {
		if (mdb_env_sync(st->env, 1) != 0)
			s->err = RG_EIO;
		cas64(&s->word, w, WORD(SLOT_DONE, me));
		return;
	}
	wait_done(st->group, seq, GROUP_SYNC_WAIT_US * 1000L);
	*waited = WORD_STATE(load64(&s->word)) == SLOT_SYNCING;
}

/* await_leader: a live leader holds our create (SLOT_TAKEN, in word w);
 * wait up to GROUP_WAIT_MS for it to be done. */
static void await_leader(struct group_shm *g, struct group_slot *s, uint64_t w)
{
	uint32_t seq = __atomic_load_n(&g->done_seq, __ATOMIC_ACQUIRE);
	if (load64(&s->word) != w)
		return;
	wait_done(g, seq, GROUP_WAIT_MS * 1000000L);
}

enum step { STEP_AGAIN, STEP_DONE, STEP_WITHDRAWN };

/* try_lead takes the writer lock for our posted create.  A leader that
 * died holding it (SLOT_TAKEN) is settled by the receipt: committed (the
 * result is in s: STEP_DONE), or posted again.  A posted create is then
 * led with every other posted one.  If the lock cannot be had, the create
 * is withdrawn unless a leader has it now (STEP_WITHDRAWN, *err set, the
 * slot SLOT_FILLING). */
static enum step try_lead(struct store *st, struct group_slot *s, size_t n, int32_t me,
			  enum rg_err *err)
{
	MDB_txn *txn;
	int rc = env_txn_begin(st, 0, &txn);
	if (rc != 0) {
		if (!cas64(&s->word, WORD(SLOT_POSTED, me), WORD(SLOT_FILLING, me)))
			return STEP_AGAIN;
		*err = env_error(rc);
		return STEP_WITHDRAWN;
	}
	uint64_t w = load64(&s->word);
	if (WORD_STATE(w) == SLOT_TAKEN && !pid_alive(WORD_PID(w))) {
		if (committed_before(st, txn, s, (int)(s - st->group->slots), n)) {
			mdb_txn_abort(txn);
			if (mdb_env_sync(st->env, 1) != 0)
				s->err = RG_EIO;
			return STEP_DONE;
		}
		cas64(&s->word, w, WORD(SLOT_POSTED, me));
		w = load64(&s->word);
	}
	if (WORD_STATE(w) != SLOT_POSTED) {
		mdb_txn_abort(txn);
		return STEP_AGAIN;
	}
	lead(st, txn, me);
	return STEP_AGAIN;
}

/* await_result follows our posted create of n records until its result
 * is in the slot (STEP_DONE) or it is withdrawn (STEP_WITHDRAWN). */
static enum step await_result(struct store *st, struct group_slot *s, size_t n, int32_t me,
			      enum rg_err *err)
{
	int waited = 0;
	for (;;) {
		uint64_t w = load64(&s->word);
		enum step step = STEP_AGAIN;
		if (WORD_STATE(w) == SLOT_DONE)
			step = STEP_DONE;
		else if (WORD_STATE(w) == SLOT_SYNCING)
			await_sync(st, s, w, me, &waited);
		else if (WORD_STATE(w) == SLOT_TAKEN && pid_alive(WORD_PID(w)))
			await_leader(st->group, s, w);
		else
			step = try_lead(st, s, n, me, err);
		if (step != STEP_AGAIN)
			return step;
	}
}

/* group_create: -1 when the create must commit on its own; else 0 with
 * *err, and as a write of its own would leave them, the new ids in a->ids
 * (RG_OK) or the earlier one in a->existing_id (RG_EEXIST). */
int group_create(struct store *st, struct insert_args *a, enum rg_err *err)
{
	a->retry_after = 0;
	if (st->group == NULL || a->n > 64)
		return -1;
	int32_t me = (int32_t)getpid();
	struct group_slot *s = post(st->group, a, me);
	if (s == NULL)
		return -1;
	if (await_result(st, s, a->n, me, err) == STEP_DONE) {
		*err = (enum rg_err)s->err;
		a->retry_after = s->retry_after;
		if (*err == RG_OK)
			memcpy(a->ids, s->ids, a->n * ID_MAX);
		else if (*err == RG_EEXIST)
			snprintf(a->existing_id, ID_MAX, "%s", s->ids[0]);
		else if (*err == RG_ELIMIT || *err == RG_EQUOTA)
			refusal_get(s, &a->why);
	}
	__atomic_store_n(&s->word, WORD(SLOT_FREE, 0), __ATOMIC_RELEASE);
	return 0;
}
