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
	/* Credentials: sent only to url's own origin (scheme, host, port),
	 * never after a redirect to another one (http_req_secret_header). */
	struct curl_slist *host_headers;
	struct buf body; /* request body (POST) */
	/* The answer's size cap for this request; 0: the phase's default
	 * (8 MiB for API answers).  An answer allowed over 8 MiB is kept in a
	 * file, not in memory, and handed to parse mapped. */
	size_t max_bytes;
	/* Set by build: this request fetches a credential (a token); its
	 * answer is parsed as PHASE_AUTH and the phase's request is built
	 * again. */
	int auth;
};

void http_req_init(struct http_req *r);
void http_req_deinit(struct http_req *r);
/* http_req_header adds "Name: value". */
int http_req_header(struct http_req *r, const char *name, const char *value);
/* http_req_secret_header adds "Name: value" to the headers sent only to
 * the URL's own origin. */
int http_req_secret_header(struct http_req *r, const char *name, const char *value);

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
	/* Redirects of a request with host_headers are followed here, not
	 * by curl, so that the credentials stay with their origin. */
	struct curl_slist *sent; /* headers + host_headers, while at the origin */
	long follow_left;
	int follows;  /* redirects are followed at all */
	char *origin; /* "scheme://host:port" of the first URL */
	char *location;
};

/* transfer_new takes req (moved in; req is left empty) and sets the handle
 * up; to_fd >= 0 streams the answer into that descriptor. */
struct transfer *transfer_new(struct http_req *req, const struct transfer_limits *lim, int to_fd);
void transfer_free(struct transfer *t);
/* transfer_done reads the outcome after CURLMSG_DONE. */
void transfer_done(struct transfer *t, CURLcode result);
/* transfer_follow: when t ended on a redirect this module follows itself
 * (a request with host_headers), it points t at the new location (the
 * credentials dropped when it leaves their origin), empties the answer
 * so far and returns 1: the caller adds t->easy to its multi handle again.
 * 0 when t is done. */
int transfer_follow(struct transfer *t);
/* transfer_origin writes "scheme://host:port" of url; -1 if it has none. */
int transfer_origin(const char *url, char *out, size_t n);
/* transfer_describe writes a one-line description of a failed exchange
 * (never the URL's query or any header: they may hold secrets). */
void transfer_describe(const struct transfer *t, char *out, size_t n);

#endif
