/*
 * metrics: data_dir/db/metrics.shm and the Prometheus text of /metrics.
 *
 * THE FILE.  struct metrics_shm, native byte order, every byte allocated
 * (posix_fallocate: a sparse page the full disk cannot give would be a
 * SIGBUS at its first write).  It holds 64-bit counters only, each updated
 * with one relaxed atomic add; histograms are counters per bucket (not
 * cumulative: the scrape adds them up) and a sum in microseconds.  Nothing
 * in it is a pid or a pointer, so it outlives every process and every boot:
 * counters only ever grow, as Prometheus expects of them (a restart of
 * reelgate is no counter reset).
 *
 * A file whose magic or size is not this build's is replaced, never
 * rewritten in place: metrics_open, holding flock(LOCK_EX) on it, unlinks
 * it and makes a new one, so a process still mapping the old layout keeps
 * its own (unlinked) copy and is never handed a page that shrank under it.
 *
 * BACKEND SLOTS.  Names are an open set (the configuration's), so each
 * backend gets a slot the first time a process counts for it: slot i is
 * FREE (0), WRITING (1) or READY (2); a claimer CASes FREE -> WRITING,
 * writes the name, stores READY.  Slots fill in order and every claimer
 * scans in order, waiting a moment at a WRITING slot, so two processes
 * naming the same new backend end on the same slot.  The last slot is
 * "_other": the names past the table count there, never a crash.  A
 * process keeps the slot of each name it has used (by the config
 * string's address), so the hot paths do not compare strings.
 *
 * Gauges the dispatcher sets (per backend; the loop) are plain stores: one
 * dispatcher runs per data_dir.
 */
#include "metrics.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "transfer.h"

#define METRICS_MAGIC 0x72674d31u /* "rgM1" */

/* Statuses 100..599 each have a counter; anything else counts as "other". */
#define STATUS_MIN 100
#define STATUS_SLOTS 501
#define STATUS_OTHER 500

/* Buckets (seconds): requests a worker serves, exchanges with upstreams. */
static const double req_le[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				 0.1,	 0.25,	0.5,	1,     2.5,  5,	    10 };
static const double up_le[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300 };
#define REQ_BUCKETS (sizeof(req_le) / sizeof(req_le[0]))
#define UP_BUCKETS (sizeof(up_le) / sizeof(up_le[0]))

enum phase {
	P_UPLOAD,
	P_SUBMIT,
	P_RECONCILE,
	P_POLL,
	P_DOWNLOAD,
	P_THUMBNAIL,
	P_AUTH,
	P_OTHER,
	P_COUNT
};
static const char *const phase_names[P_COUNT] = { "upload",   "submit",	   "reconcile", "poll",
						  "download", "thumbnail", "auth",	"other" };

enum outcome {
	O_OK,
	O_CLIENT_ERROR,
	O_RATE_LIMITED,
	O_SERVER_ERROR,
	O_NETWORK_ERROR,
	O_REFUSED,
	O_COUNT
};
static const char *const outcome_names[O_COUNT] = { "ok",	    "client_error",  "rate_limited",
						    "server_error", "network_error", "refused" };

static const char *const refusal_names[] = { "rate_limit",	  "seconds_per_day",
					     "seconds_per_month", "cost_per_month",
					     "max_in_flight",	  "other" };
#define REFUSALS (sizeof(refusal_names) / sizeof(refusal_names[0]))
static const char *const webhook_names[] = { "delivered", "failed", "disabled", "retried",
					     "other" };
#define WEBHOOK_OUTCOMES (sizeof(webhook_names) / sizeof(webhook_names[0]))
static const char *const process_names[] = { "worker", "dispatcher", "other" };
#define PROCESSES (sizeof(process_names) / sizeof(process_names[0]))

struct req_hist {
	uint64_t bucket[REQ_BUCKETS + 1]; /* the last: above every le */
	uint64_t sum_us;
};

struct up_hist {
	uint64_t bucket[UP_BUCKETS + 1];
	uint64_t sum_us;
};

struct backend_slot {
	uint32_t state; /* FREE, WRITING, READY */
	char name[METRICS_NAME_MAX];
	uint64_t exchanges[P_COUNT][O_COUNT];
	struct up_hist latency[P_COUNT];
	uint64_t retries[P_COUNT];
	int64_t queued, running, in_flight; /* the dispatcher's gauges */
};

enum { SLOT_FREE, SLOT_WRITING, SLOT_READY };

struct metrics_shm {
	uint32_t magic; /* stored last when the file is set up */
	uint32_t size;	/* sizeof(struct metrics_shm) */
	uint64_t requests[ROUTE_COUNT][STATUS_SLOTS];
	struct req_hist duration[ROUTE_COUNT];
	uint64_t refusals[REFUSALS];
	uint64_t webhooks[WEBHOOK_OUTCOMES];
	uint64_t restarts[PROCESSES];
	uint64_t loop_lag_us;	    /* gauge: the dispatcher's last turn */
	uint64_t last_turn_unix_ms; /* gauge: when it ended */
	struct backend_slot backends[METRICS_BACKENDS];
};

/* The mapping of this process (and of the children it forks after). */
static struct metrics_shm *shm;

/* The slots this process has used, by the address of the name it gave. */
static struct {
	const char *name;
	int slot;
} seen[METRICS_BACKENDS];
static int nseen;

int metrics_on(void)
{
	return shm != NULL;
}

/* make_file sets up an empty file (under its flock) and maps it. */
static struct metrics_shm *map_file(int fd, int fresh)
{
	const size_t size = sizeof(struct metrics_shm);
	if (fresh && (ftruncate(fd, (off_t)size) != 0 || posix_fallocate(fd, 0, (off_t)size) != 0))
		return NULL;
	void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return NULL;
	struct metrics_shm *m = map;
	if (fresh) {
		m->size = (uint32_t)size;
		__atomic_store_n(&m->magic, METRICS_MAGIC, __ATOMIC_RELEASE);
	}
	return m;
}

/* open_locked opens path with its flock held, the file being the one the
 * path names (not one a concurrent opener just replaced); -1 with errno. */
static int open_locked(const char *path)
{
	for (int tries = 0; tries < 20; tries++) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return -1;
		struct stat a, b;
		if (flock(fd, LOCK_EX) == 0 && fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
	errno = EAGAIN;
	return -1;
}

int metrics_open(const char *data_dir, int enabled)
{
	if (shm != NULL || !enabled)
		return shm != NULL ? 0 : -1;
	char dir[4200], path[4300];
	snprintf(dir, sizeof(dir), "%s/db", data_dir);
	mkdir(data_dir, 0755);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/metrics.shm", dir);
	for (int tries = 0; tries < 3; tries++) {
		int fd = open_locked(path);
		if (fd < 0)
			return -1;
		struct stat sb;
		struct metrics_shm *m = NULL;
		int replace = 0;
		if (fstat(fd, &sb) != 0) {
			close(fd);
			return -1;
		}
		if (sb.st_size == 0) {
			m = map_file(fd, 1);
		} else if ((size_t)sb.st_size == sizeof(struct metrics_shm)) {
			m = map_file(fd, 0);
			if (m != NULL &&
			    (__atomic_load_n(&m->magic, __ATOMIC_ACQUIRE) != METRICS_MAGIC ||
			     m->size != sizeof(struct metrics_shm))) {
				munmap(m, sizeof(*m));
				m = NULL;
				replace = 1;
			}
		} else {
			replace = 1;
		}
		if (replace)
			unlink(path); /* the next try makes it anew */
		flock(fd, LOCK_UN);   /* explicitly: the mapping keeps the file open */
		close(fd);
		if (m != NULL) {
			shm = m;
			nseen = 0;
			return 0;
		}
		if (!replace)
			return -1;
	}
	return -1;
}

void metrics_close(void)
{
	if (shm != NULL)
		munmap(shm, sizeof(*shm));
	shm = NULL;
	nseen = 0;
}

static void add(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static uint64_t micros(double seconds)
{
	return seconds <= 0 ? 0 : (uint64_t)(seconds * 1e6 + 0.5);
}

/* claim returns the slot of name, claiming a free one for a new name. */
static int claim(const char *name)
{
	for (int i = 0; i < METRICS_BACKENDS - 1; i++) {
		struct backend_slot *s = &shm->backends[i];
		uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		for (int spins = 0; st == SLOT_WRITING && spins < 1000; spins++) {
			sched_yield();
			st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		}
		if (st == SLOT_READY) {
			/* names past 63 bytes are kept cut, and compared so */
			if (strncmp(s->name, name, sizeof(s->name) - 1) == 0)
				return i;
			continue;
		}
		if (st == SLOT_WRITING)
			continue; /* its writer died half-way: the slot is lost */
		uint32_t want = SLOT_FREE;
		if (__atomic_compare_exchange_n(&s->state, &want, SLOT_WRITING, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			snprintf(s->name, sizeof(s->name), "%s", name);
			__atomic_store_n(&s->state, SLOT_READY, __ATOMIC_RELEASE);
			return i;
		}
		i--; /* taken meanwhile: look at it again */
	}
	return METRICS_BACKENDS - 1;
}

/* slot_of: the slot of backend name (the last one, "_other", when the
 * table is full); a name is known by its address after the first time. */
static struct backend_slot *slot_of(const char *name)
{
	for (int i = 0; i < nseen; i++)
		if (seen[i].name == name)
			return &shm->backends[seen[i].slot];
	int slot = claim(name);
	if (nseen < METRICS_BACKENDS) {
		seen[nseen].name = name;
		seen[nseen].slot = slot;
		nseen++;
	}
	return &shm->backends[slot];
}

static enum phase phase_of(int remote_phase)
{
	switch ((enum remote_phase)remote_phase) {
	case PHASE_UPLOAD: return P_UPLOAD;
	case PHASE_SUBMIT: return P_SUBMIT;
	case PHASE_RECONCILE:
	case PHASE_RECONCILE2: return P_RECONCILE;
	case PHASE_POLL:
	case PHASE_POLL2: return P_POLL;
	case PHASE_FETCH_VIDEO: return P_DOWNLOAD;
	case PHASE_FETCH_THUMB: return P_THUMBNAIL;
	case PHASE_AUTH: return P_AUTH;
	case PHASE_NONE:
	case PHASE_CANCEL: break;
	}
	return P_OTHER;
}

static size_t index_of(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (name != NULL && strcmp(names[i], name) == 0)
			return i;
	return n - 1; /* "other" */
}

uint64_t metrics_clock(void)
{
	if (shm == NULL)
		return 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void metrics_request(enum route route, int status, uint64_t start_ns)
{
	if (shm == NULL)
		return;
	uint64_t now = metrics_clock();
	double seconds = now > start_ns ? (double)(now - start_ns) / 1e9 : 0;
	if ((unsigned)route >= ROUTE_COUNT)
		route = ROUTE_NONE;
	int si = status >= STATUS_MIN && status < STATUS_MIN + STATUS_OTHER ? status - STATUS_MIN
									    : STATUS_OTHER;
	add(&shm->requests[route][si], 1);
	struct req_hist *h = &shm->duration[route];
	size_t b = 0;
	while (b < REQ_BUCKETS && seconds > req_le[b])
		b++;
	add(&h->bucket[b], 1);
	add(&h->sum_us, micros(seconds));
}

void metrics_upstream(const char *backend, const struct transfer *t)
{
	if (shm == NULL || backend == NULL || t == NULL)
		return;
	long status = t->result == CURLE_OK ? t->status : 0;
	enum outcome o = t->blocked			 ? O_REFUSED
			 : status == 0			 ? O_NETWORK_ERROR
			 : status >= 200 && status < 300 ? O_OK
			 : status == 429		 ? O_RATE_LIMITED
			 : status >= 400 && status < 500 ? O_CLIENT_ERROR
							 : O_SERVER_ERROR;
	curl_off_t us = 0;
	if (t->easy == NULL || curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &us) != CURLE_OK)
		us = 0;
	struct backend_slot *s = slot_of(backend);
	enum phase p = phase_of(t->phase);
	add(&s->exchanges[p][o], 1);
	double seconds = (double)us / 1e6;
	size_t b = 0;
	while (b < UP_BUCKETS && seconds > up_le[b])
		b++;
	add(&s->latency[p].bucket[b], 1);
	add(&s->latency[p].sum_us, (uint64_t)(us > 0 ? us : 0));
}

void metrics_retry(const char *backend, int phase)
{
	if (shm == NULL || backend == NULL)
		return;
	add(&slot_of(backend)->retries[phase_of(phase)], 1);
}

void metrics_refusal(const char *reason)
{
	if (shm != NULL)
		add(&shm->refusals[index_of(refusal_names, REFUSALS, reason)], 1);
}

void metrics_webhook(const char *outcome)
{
	if (shm != NULL)
		add(&shm->webhooks[index_of(webhook_names, WEBHOOK_OUTCOMES, outcome)], 1);
}

void metrics_restart(const char *process)
{
	if (shm != NULL)
		add(&shm->restarts[index_of(process_names, PROCESSES, process)], 1);
}

void metrics_backend_gauges(const char *backend, int64_t queued, int64_t running, int64_t in_flight)
{
	if (shm == NULL || backend == NULL)
		return;
	struct backend_slot *s = slot_of(backend);
	__atomic_store_n(&s->queued, queued, __ATOMIC_RELAXED);
	__atomic_store_n(&s->running, running, __ATOMIC_RELAXED);
	__atomic_store_n(&s->in_flight, in_flight, __ATOMIC_RELAXED);
}

void metrics_loop_turn(uint64_t woke)
{
	if (shm == NULL)
		return;
	uint64_t now = metrics_clock();
	double seconds = now > woke ? (double)(now - woke) / 1e9 : 0;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	__atomic_store_n(&shm->loop_lag_us, micros(seconds), __ATOMIC_RELAXED);
	__atomic_store_n(&shm->last_turn_unix_ms,
			 (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000,
			 __ATOMIC_RELAXED);
}

const char *metrics_route_label(enum route route)
{
	switch (route) {
	case ROUTE_NONE: return "other";
	case ROUTE_VIDEOS_CREATE: return "create";
	case ROUTE_VIDEOS_LIST: return "list";
	case ROUTE_VIDEO_GET: return "retrieve";
	case ROUTE_VIDEO_DELETE: return "delete";
	case ROUTE_VIDEO_CONTENT: return "content";
	case ROUTE_VIDEO_REMIX: return "remix";
	case ROUTE_MODELS_LIST: return "models_list";
	case ROUTE_MODEL_GET: return "models_retrieve";
	case ROUTE_FILES_CREATE: return "files_create";
	case ROUTE_FILES_LIST: return "files_list";
	case ROUTE_FILE_GET: return "files_retrieve";
	case ROUTE_FILE_DELETE: return "files_delete";
	case ROUTE_FILE_CONTENT: return "files_content";
	case ROUTE_VIDEO_EDIT: return "edits";
	case ROUTE_VIDEO_EXTEND: return "extensions";
	case ROUTE_CHARACTER_CREATE: return "characters_create";
	case ROUTE_CHARACTER_GET: return "characters_retrieve";
	case ROUTE_USAGE_VIDEOS: return "usage";
	case ROUTE_METRICS: return "metrics";
	case ROUTE_COUNT: break;
	}
	return "other";
}

/* ---- exposition ------------------------------------------------------------------- */

/* put_label_value writes v escaped as the text format wants (\\, \", \n). */
static int put_label_value(struct buf *out, const char *v)
{
	int rc = 0;
	for (; *v && rc == 0; v++) {
		if (*v == '\\')
			rc = buf_puts(out, "\\\\");
		else if (*v == '"')
			rc = buf_puts(out, "\\\"");
		else if (*v == '\n')
			rc = buf_puts(out, "\\n");
		else
			rc = buf_putc(out, *v);
	}
	return rc;
}

static int family(struct buf *out, const char *name, const char *type, const char *help)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Samples are written as NAME{LABELS} VALUE, LABELS made by the caller
 * with label(): k="v" pairs joined by commas. */
static int label(struct buf *out, int first, const char *k, const char *v)
{
	if (buf_printf(out, "%s%s=\"", first ? "{" : ",", k) < 0 || put_label_value(out, v) < 0)
		return -1;
	return buf_putc(out, '"');
}

static int sample_u(struct buf *out, uint64_t v)
{
	return buf_printf(out, "} %llu\n", (unsigned long long)v);
}

/* hist writes the _bucket, _sum and _count samples of one histogram whose
 * labels (without braces) are in labels. */
static int hist(struct buf *out, const char *name, const char *labels, const double *le, size_t nle,
		const uint64_t *bucket, uint64_t sum_us)
{
	uint64_t cum = 0;
	int rc = 0;
	for (size_t b = 0; b <= nle && rc == 0; b++) {
		cum += get(&bucket[b]);
		if (b < nle)
			rc = buf_printf(out, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, le[b],
					(unsigned long long)cum);
		else
			rc = buf_printf(out, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels,
					(unsigned long long)cum);
	}
	if (rc == 0)
		rc = buf_printf(out, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels,
				(double)get(&sum_us) / 1e6, name, labels, (unsigned long long)cum);
	return rc;
}

static int render_requests(struct buf *out)
{
	int rc = family(out, "reelgate_http_requests_total", "counter",
			"Requests answered by the workers, by route and HTTP status.");
	for (int r = 0; r < ROUTE_COUNT && rc == 0; r++) {
		for (int s = 0; s < STATUS_SLOTS && rc == 0; s++) {
			uint64_t v = get(&shm->requests[r][s]);
			if (v == 0)
				continue;
			char st[8];
			if (s == STATUS_OTHER)
				snprintf(st, sizeof(st), "other");
			else
				snprintf(st, sizeof(st), "%d", s + STATUS_MIN);
			rc = buf_printf(out, "reelgate_http_requests_total") < 0 ||
					     label(out, 1, "route",
						   metrics_route_label((enum route)r)) < 0 ||
					     label(out, 0, "status", st) < 0 || sample_u(out, v) < 0
				     ? -1
				     : 0;
		}
	}
	if (rc == 0)
		rc = family(out, "reelgate_http_request_duration_seconds", "histogram",
			    "Time a worker took to answer a request, by route.");
	for (int r = 0; r < ROUTE_COUNT && rc == 0; r++) {
		const struct req_hist *h = &shm->duration[r];
		uint64_t n = 0;
		for (size_t b = 0; b <= REQ_BUCKETS; b++)
			n += get(&h->bucket[b]);
		if (n == 0)
			continue;
		char labels[64];
		snprintf(labels, sizeof(labels), "route=\"%s\"",
			 metrics_route_label((enum route)r));
		rc = hist(out, "reelgate_http_request_duration_seconds", labels, req_le,
			  REQ_BUCKETS, h->bucket, h->sum_us);
	}
	return rc;
}

static int render_tasks(struct buf *out, const struct metrics_scrape *s)
{
	int rc = family(out, "reelgate_tasks", "gauge",
			"Videos in the database, by model and status (read at scrape time).");
	for (size_t i = 0; s && i < s->ntasks && rc == 0; i++) {
		const struct metrics_task_count *t = &s->tasks[i];
		rc = buf_puts(out, "reelgate_tasks") < 0 || label(out, 1, "model", t->model) < 0 ||
				     label(out, 0, "status", t->status) < 0 ||
				     sample_u(out, t->count) < 0
			     ? -1
			     : 0;
	}
	if (rc == 0 && s && s->have_map)
		rc = buf_printf(
			out,
			"# HELP reelgate_lmdb_map_size_bytes Size of the LMDB map (data.mdb's address space).\n"
			"# TYPE reelgate_lmdb_map_size_bytes gauge\n"
			"reelgate_lmdb_map_size_bytes %llu\n"
			"# HELP reelgate_lmdb_map_used_bytes Bytes of the LMDB map in use (pages up to the last one written).\n"
			"# TYPE reelgate_lmdb_map_used_bytes gauge\n"
			"reelgate_lmdb_map_used_bytes %llu\n",
			(unsigned long long)s->map_bytes, (unsigned long long)s->map_used_bytes);
	return rc;
}

/* backend_name: the label of slot i, or NULL when it is unused. */
static const char *backend_name(int i)
{
	if (i == METRICS_BACKENDS - 1)
		return "_other";
	const struct backend_slot *b = &shm->backends[i];
	return __atomic_load_n(&b->state, __ATOMIC_ACQUIRE) == SLOT_READY ? b->name : NULL;
}

static int render_upstream(struct buf *out)
{
	int rc = family(out, "reelgate_upstream_requests_total", "counter",
			"Requests to provider backends, by backend, phase and outcome.");
	for (int i = 0; i < METRICS_BACKENDS && rc == 0; i++) {
		const char *name = backend_name(i);
		for (int p = 0; name && p < P_COUNT && rc == 0; p++) {
			for (int o = 0; o < O_COUNT && rc == 0; o++) {
				uint64_t v = get(&shm->backends[i].exchanges[p][o]);
				if (v == 0)
					continue;
				rc = buf_puts(out, "reelgate_upstream_requests_total") < 0 ||
						     label(out, 1, "backend", name) < 0 ||
						     label(out, 0, "phase", phase_names[p]) < 0 ||
						     label(out, 0, "outcome", outcome_names[o]) <
							     0 ||
						     sample_u(out, v) < 0
					     ? -1
					     : 0;
			}
		}
	}
	if (rc == 0)
		rc = family(out, "reelgate_upstream_request_duration_seconds", "histogram",
			    "Time of a request to a provider backend, by backend and phase.");
	for (int i = 0; i < METRICS_BACKENDS && rc == 0; i++) {
		const char *name = backend_name(i);
		for (int p = 0; name && p < P_COUNT && rc == 0; p++) {
			const struct up_hist *h = &shm->backends[i].latency[p];
			uint64_t n = 0;
			for (size_t b = 0; b <= UP_BUCKETS; b++)
				n += get(&h->bucket[b]);
			if (n == 0)
				continue;
			struct buf labels;
			buf_init(&labels, 512);
			rc = label(&labels, 1, "backend", name) < 0 ||
					     label(&labels, 0, "phase", phase_names[p]) < 0
				     ? -1
				     : hist(out, "reelgate_upstream_request_duration_seconds",
					    labels.data + 1, up_le, UP_BUCKETS, h->bucket,
					    h->sum_us);
			buf_deinit(&labels);
		}
	}
	if (rc == 0)
		rc = family(out, "reelgate_upstream_retries_total", "counter",
			    "Transient failures the dispatcher retried, by backend and phase.");
	for (int i = 0; i < METRICS_BACKENDS && rc == 0; i++) {
		const char *name = backend_name(i);
		for (int p = 0; name && p < P_COUNT && rc == 0; p++) {
			uint64_t v = get(&shm->backends[i].retries[p]);
			if (v == 0)
				continue;
			rc = buf_puts(out, "reelgate_upstream_retries_total") < 0 ||
					     label(out, 1, "backend", name) < 0 ||
					     label(out, 0, "phase", phase_names[p]) < 0 ||
					     sample_u(out, v) < 0
				     ? -1
				     : 0;
		}
	}
	return rc;
}

static int render_backend_gauges(struct buf *out)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} g[] = {
		{ "reelgate_backend_queued_tasks",
		  "Tasks the dispatcher holds back until the backend has a free slot.",
		  offsetof(struct backend_slot, queued) },
		{ "reelgate_backend_running_tasks", "Tasks running on the backend.",
		  offsetof(struct backend_slot, running) },
		{ "reelgate_backend_in_flight_requests",
		  "Requests to the backend out at this moment.",
		  offsetof(struct backend_slot, in_flight) },
	};
	int rc = 0;
	for (size_t k = 0; k < sizeof(g) / sizeof(g[0]) && rc == 0; k++) {
		rc = family(out, g[k].name, "gauge", g[k].help);
		for (int i = 0; i < METRICS_BACKENDS - 1 && rc == 0; i++) {
			const char *name = backend_name(i);
			if (name == NULL)
				continue;
			const int64_t *v =
				(const int64_t *)((const char *)&shm->backends[i] + g[k].off);
			rc = buf_puts(out, g[k].name) < 0 || label(out, 1, "backend", name) < 0 ||
					     buf_printf(out, "} %lld\n",
							(long long)__atomic_load_n(
								v, __ATOMIC_RELAXED)) < 0
				     ? -1
				     : 0;
		}
	}
	return rc;
}

static int render_labelled(struct buf *out, const char *name, const char *help, const char *key,
			   const char *const *names, size_t n, const uint64_t *v)
{
	int rc = family(out, name, "counter", help);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = buf_puts(out, name) < 0 || label(out, 1, key, names[i]) < 0 ||
				     sample_u(out, get(&v[i])) < 0
			     ? -1
			     : 0;
	return rc;
}

static int render_misc(struct buf *out)
{
	int rc = render_labelled(out, "reelgate_refusals_total",
				 "Creates refused for a limit (429), by reason.", "reason",
				 refusal_names, REFUSALS, shm->refusals);
	if (rc == 0)
		rc = render_labelled(out, "reelgate_webhook_deliveries_total",
				     "Webhook delivery attempts that ended, by outcome.", "outcome",
				     webhook_names, WEBHOOK_OUTCOMES, shm->webhooks);
	if (rc == 0)
		rc = render_labelled(out, "reelgate_process_restarts_total",
				     "Processes the master started again after they exited.",
				     "process", process_names, PROCESSES, shm->restarts);
	if (rc == 0)
		rc = buf_printf(
			out,
			"# HELP reelgate_dispatcher_loop_lag_seconds Time the dispatcher's last turn worked between two waits (how long a new event could wait).\n"
			"# TYPE reelgate_dispatcher_loop_lag_seconds gauge\n"
			"reelgate_dispatcher_loop_lag_seconds %.6f\n"
			"# HELP reelgate_dispatcher_last_turn_timestamp_seconds When the dispatcher's loop last finished a turn (Unix time; a stuck loop stops it).\n"
			"# TYPE reelgate_dispatcher_last_turn_timestamp_seconds gauge\n"
			"reelgate_dispatcher_last_turn_timestamp_seconds %.3f\n",
			(double)get(&shm->loop_lag_us) / 1e6,
			(double)get(&shm->last_turn_unix_ms) / 1e3);
	return rc;
}

int metrics_render(struct buf *out, const struct metrics_scrape *s)
{
	int rc = render_tasks(out, s);
	if (shm == NULL || rc < 0)
		return rc;
	if (render_requests(out) < 0 || render_upstream(out) < 0 ||
	    render_backend_gauges(out) < 0 || render_misc(out) < 0)
		return -1;
	return 0;
}
