/*
 * lmdb_commit: the raw durable LMDB commit rate, for bench/run.
 *
 * One write transaction per record, each a put of a ~1 KB value under a new
 * time-ordered 32-byte key (reelgate's records are JSON of about that size,
 * keyed by "video_" + time-ordered hex), committed with LMDB's default durability (no MDB_NOSYNC,
 * no MDB_NOMETASYNC: every commit is fsync'd), for SECONDS seconds.  This is
 * the one-commit-per-record ceiling a durable create cannot beat without
 * grouping commits across requests.
 *
 *   lmdb_commit DIR [SECONDS [RECORD_BYTES]]
 *
 * DIR is created (and must be on the disk being measured: put it next to
 * reelgate's data_dir).  Prints one line:
 *   commits=N seconds=S rate=R record_bytes=B
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define CHECK(call)                                                                                \
	do {                                                                                       \
		int rc_ = (call);                                                                  \
		if (rc_ != 0) {                                                                    \
			fprintf(stderr, "lmdb_commit: %s: %s\n", #call, mdb_strerror(rc_));        \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: lmdb_commit DIR [SECONDS [RECORD_BYTES]]\n");
		return 2;
	}
	const char *dir = argv[1];
	double seconds = argc > 2 ? atof(argv[2]) : 5.0;
	size_t rec_bytes = argc > 3 ? (size_t)atol(argv[3]) : 1024;
	if (seconds <= 0 || rec_bytes < 16 || rec_bytes > 65536) {
		fprintf(stderr, "lmdb_commit: bad SECONDS or RECORD_BYTES\n");
		return 2;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		perror("lmdb_commit: mkdir");
		return 1;
	}
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *txn;
	CHECK(mdb_env_create(&env));
	CHECK(mdb_env_set_mapsize(env, (size_t)1 << 30));
	CHECK(mdb_env_set_maxdbs(env, 8));
	CHECK(mdb_env_open(env, dir, 0, 0600)); /* 0: durable, like reelgate's db.durable */
	CHECK(mdb_txn_begin(env, NULL, 0, &txn));
	CHECK(mdb_dbi_open(txn, "videos", MDB_CREATE, &dbi));
	CHECK(mdb_txn_commit(txn));

	char *val = malloc(rec_bytes);
	if (val == NULL)
		return 1;
	/* JSON-looking filler: the content does not matter to LMDB. */
	memset(val, 'x', rec_bytes);
	memcpy(val, "{\"id\":\"video_", 13);
	val[rec_bytes - 1] = '}';

	unsigned long long base = (unsigned long long)time(NULL) << 20;
	unsigned long n = 0;
	double start = now_s(), end = start + seconds, t = start;
	while (t < end) {
		/* Time-ordered keys, like reelgate's video ids. */
		char key[33];
		snprintf(key, sizeof(key), "video_%016llx%010lu", base, n);
		MDB_val k = { 32, key }, v = { rec_bytes, val };
		CHECK(mdb_txn_begin(env, NULL, 0, &txn));
		CHECK(mdb_put(txn, dbi, &k, &v, MDB_NOOVERWRITE));
		CHECK(mdb_txn_commit(txn));
		n++;
		t = now_s();
	}
	double took = t - start;
	printf("commits=%lu seconds=%.3f rate=%.1f record_bytes=%zu\n", n, took, (double)n / took,
	       rec_bytes);
	free(val);
	mdb_env_close(env);
	return 0;
}
