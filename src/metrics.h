/*
 * metrics: the counters, histograms and dispatcher gauges behind GET
 * /metrics, kept in data_dir/db/metrics.shm, a file every process of the
 * data_dir maps MAP_SHARED (the master, the workers, the dispatcher).
 * Every update is one relaxed atomic add (or store, for a gauge) on that
 * mapping, so the figures are the sum over all processes by construction
 * and survive the death of any of them (kill -9 included).  Owns the file's
 * layout, the slots of backend names, and the Prometheus text exposition;
 * the gauges read from the database at scrape time (tasks, the LMDB map)
 * are handed in by the caller (metrics_http.c).
 *
 * Until metrics_open succeeds (or with metrics.enabled false) every
 * metrics_xxx call does nothing.
 */
#ifndef REELGATE_METRICS_H
#define REELGATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "router.h"

/* Backends with a slot of their own; further names count under "other". */
#define METRICS_BACKENDS 64
#define METRICS_NAME_MAX 64

struct transfer;

/* metrics_open maps data_dir/db/metrics.shm (created, or recreated when its
 * magic or size is not this build's), once per process: a child forked
 * after it shares the parent's mapping.  -1 when it cannot (the calls then
 * do nothing); enabled 0 leaves metrics off. */
int metrics_open(const char *data_dir, int enabled);
/* metrics_close unmaps the file (tests; processes just exit). */
void metrics_close(void);
/* metrics_on: is the file mapped in this process? */
int metrics_on(void);

/* metrics_clock: now on the monotonic clock in ns (0 when metrics are off,
 * so that a worker with metrics off does not even read the clock). */
uint64_t metrics_clock(void);
/* A request a worker answered: its route, its status, and when it began
 * (metrics_clock). */
void metrics_request(enum route route, int status, uint64_t start_ns);
/* An upstream exchange of a run on backend ended: t's phase (enum
 * remote_phase), its outcome (HTTP status class, no answer, or refused by
 * the SSRF guard) and curl's total time. */
void metrics_upstream(const char *backend, const struct transfer *t);
/* A transient failure in phase (enum remote_phase) that the dispatcher
 * will retry. */
void metrics_retry(const char *backend, int phase);
/* A create refused for a limit: reason is one of rate_limit,
 * seconds_per_day, seconds_per_month, cost_per_month, max_in_flight
 * (another counts as "other"). */
void metrics_refusal(const char *reason);
/* A webhook delivery's attempt ended: outcome delivered, failed, disabled
 * (final) or retried. */
void metrics_webhook(const char *outcome);
/* The master started a worker (process "worker") or the dispatcher again
 * after it exited. */
void metrics_restart(const char *process);
/* The dispatcher's gauges of backend: runs started and waiting for a slot
 * (queued), runs holding a slot (running), requests out (in_flight). */
void metrics_backend_gauges(const char *backend, int64_t queued, int64_t running,
			    int64_t in_flight);
/* The dispatcher's loop finished a turn whose work began at woke
 * (metrics_clock, read when its wait ended). */
void metrics_loop_turn(uint64_t woke);

/* What a scrape reads from the database (metrics_http.c fills it). */
struct metrics_task_count {
	const char *model;
	const char *status;
	uint64_t count;
};
struct metrics_scrape {
	const struct metrics_task_count *tasks; /* borrowed */
	size_t ntasks;
	int have_map; /* the two below are known */
	uint64_t map_bytes, map_used_bytes;
};

/* metrics_render appends the Prometheus text exposition (format 0.0.4) of
 * every metric to out.  -1 when out is full. */
int metrics_render(struct buf *out, const struct metrics_scrape *s);

/* metrics_route_label: "retrieve", "create"... of a route. */
const char *metrics_route_label(enum route route);

#endif
