/*
 * http: one FastCGI request as the handlers see it, and the response they
 * build.  Owns copying what is kept from the FastCGI environment (which dies
 * at the next accept), reading the body within its limit, and writing the
 * status line, headers and body back.
 */
#ifndef REELGATE_HTTP_H
#define REELGATE_HTTP_H

#include <fcgiapp.h>
#include <json-c/json.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

struct http_request {
	FCGX_Request *fcgx;    /* borrowed; NULL in tests */
	char *strings;	       /* owned: the one block the strings below are copied into */
	char *method;	       /* copies of the parameters (in strings) */
	char *path;	       /* REQUEST_URI up to '?', not decoded */
	char *query;	       /* after '?', or "" */
	char *content_type;    /* or NULL */
	char *authorization;   /* or NULL */
	char *idempotency_key; /* or NULL */
	char *base_url;	       /* scheme://host[:port] the client used */
	char *range;	       /* Range header, or NULL */
	int behind_apache;     /* SERVER_SOFTWARE says Apache */
	char request_id[40];
	long long content_length; /* -1 when absent */
	int bad_length;		  /* CONTENT_LENGTH present but not a number */
	size_t body_read;	  /* body bytes consumed so far */
};

struct http_response {
	int status;
	const char *content_type; /* static; default application/json */
	struct buf headers;	  /* extra header lines, each ending \r\n */
	struct buf body;
	const char *file_path; /* when set, the body is this file (worker streams it) */
	char file_buf[4200];   /* storage for file_path */
	long long file_offset; /* first byte to send */
	long long file_length; /* bytes to send */
	int delegated;	       /* the web server sends the body (X-Accel-Redirect, X-Sendfile) */
};

/* http_request_from_fcgx copies what the handlers need out of req's env. */
int http_request_from_fcgx(struct http_request *r, FCGX_Request *req, const char *public_url);
void http_request_deinit(struct http_request *r);

/* http_read reads up to n body bytes (never past CONTENT_LENGTH); returns
 * the count, 0 at the end of the body, -1 when the stream failed. */
long http_read(struct http_request *r, char *out, size_t n);
/* http_read_all reads the whole body into out, refusing (413) a body over
 * limit and (400) one shorter than its CONTENT_LENGTH. */
int http_read_all(struct http_request *r, struct buf *out, size_t limit, struct api_error *e);
/* http_drain discards what is left of the body, up to max bytes, so the web
 * server is never cut off in the middle of sending it. */
void http_drain(struct http_request *r, size_t max);
/* http_input_ended: 1 when the web server's input has been read to its end
 * (the body's Content-Length bytes, then the empty stdin record that ends
 * it), so nothing it sent is left unread; 0 otherwise.  It may wait for that
 * record: call it once the answer is out. */
int http_input_ended(struct http_request *r);

void http_response_init(struct http_response *res);
void http_response_deinit(struct http_response *res);
/* http_error sets res to the JSON envelope of e. */
void http_error(struct http_response *res, const struct api_error *e);
/* http_header adds a header line "name: value". */
int http_header(struct http_response *res, const char *name, const char *value);
/* http_json answers 200 with o as compact JSON (an out-of-memory error
 * envelope when o is NULL or cannot be written). */
void http_json(struct http_response *res, struct json_object *o);
/* http_send writes res to the FastCGI output stream. */
int http_send(FCGX_Request *req, struct http_response *res, const char *request_id);

/* http_parse_range reads a Range header for a file of size bytes:
 * 0: no usable range, send it all; 1: *start..*end (inclusive) only;
 * -1: unsatisfiable (416).  Only single byte ranges are honoured; anything
 * else is ignored, as RFC 9110 allows. */
int http_parse_range(const char *header, long long size, long long *start, long long *end);

/* http_reason: "OK", "Not Found"... */
const char *http_reason(int status);
/* http_content_type_is: compares a media type, ignoring parameters and case. */
int http_content_type_is(const char *header, const char *type);

#endif
