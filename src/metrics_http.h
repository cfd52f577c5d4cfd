/*
 * metrics_http: GET /metrics, the Prometheus scrape.  Owns its bearer
 * check (metrics.token, compared in constant time) and what a scrape reads
 * from the database (tasks by model and status, the LMDB map); the
 * counters and the text are metrics.c's.
 */
#ifndef REELGATE_METRICS_HTTP_H
#define REELGATE_METRICS_HTTP_H

#include "api.h"
#include "http.h"

/* metrics_serve answers GET /metrics: 200 with the text exposition, or
 * OpenAI's error envelope (403 when no token is configured, 401 for a
 * missing or wrong one). */
void metrics_serve(struct app *app, struct http_request *req, struct http_response *res);

#endif
