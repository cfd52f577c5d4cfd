/*
 * transfer: one HTTP exchange between the dispatcher and the outside world,
 * as a libcurl easy handle with every limit set: http/https only, bounded
 * redirects, connect and total timeouts, a low-speed cut-off, a size cap on
 * the answer (in memory or into a file) and the SSRF guard on every address
 * connected to.  The dispatcher adds it to its multi handle and reads the
 * outcome when curl says it is done.
 */
#ifndef REELGATE_TRANSFER_H
#define REELGATE_TRANSFER_H

#include <curl/curl.h>

#include "buf.h"
#include "ssrf.h"

/* What an adapter asks to be sent. */
struct http_req {
	char method[8]; /* "GET", "POST", "DELETE" */
	char url[4096];
	struct curl_slist *headers; /* owned */
	struct buf body;	    /* request body (POST) */
};

void http_req_init(struct http_req *r);
void http_req_deinit(struct http_req *r);
/* http_req_header adds "Name: value". */
int http_req_header(struct http_req *r, const char *name, const char *value);

struct transfer_limits {
	long connect_timeout_ms;
	long timeout_ms;    /* the whole exchange */
	size_t max_bytes;   /* answer body cap */
	long max_redirects; /* 0: redirects are not followed */
	const struct ssrf_policy *policy;
};

struct transfer {
	CURL *easy;
	struct http_req req;
	struct buf resp; /* the answer body, unless to_fd >= 0 */
	int to_fd;	 /* download sink, or -1 */
	size_t got;
	size_t max_bytes;
	int too_big;
	int blocked; /* the SSRF guard refused an address */
	const char *blocked_why;
	const struct ssrf_policy *policy;
	long status; /* HTTP status, 0 when none */
	CURLcode result;
	char error[CURL_ERROR_SIZE];
	char retry_after[32]; /* Retry-After header value */
	void *owner;	      /* the dispatcher's */
	int phase;	      /* the dispatcher's */
};

/* transfer_new takes req (moved in; req is left empty) and sets the handle
 * up; to_fd >= 0 streams the answer into that descriptor. */
struct transfer *transfer_new(struct http_req *req, const struct transfer_limits *lim, int to_fd);
void transfer_free(struct transfer *t);
/* transfer_done reads the outcome after CURLMSG_DONE. */
void transfer_done(struct transfer *t, CURLcode result);
/* transfer_describe writes a one-line description of a failed exchange
 * (never the URL's query or any header: they may hold secrets). */
void transfer_describe(const struct transfer *t, char *out, size_t n);

#endif
