/*
 * api: the handlers of /v1.  Each takes a parsed request and fills a
 * response; none touches FastCGI or LMDB directly (http.c and store.c do).
 */
#ifndef REELGATE_API_H
#define REELGATE_API_H

#include "auth.h"
#include "config.h"
#include "http.h"
#include "router.h"
#include "store.h"

/* What a worker process holds while it serves. */
struct app {
	const struct config *cfg; /* borrowed */
	struct store *st;	  /* owned by the worker */
	struct auth_cache auth;	  /* what the worker's last keys' records said */
	char tmp_dir[4096];	  /* data_dir/tmp: uploads being received */
	char uploads_dir[4096];	  /* data_dir/uploads: input images */
	char content_dir[4096];	  /* data_dir/content: finished videos */
	char files_dir[4096];	  /* data_dir/files: Files API uploads */
};

/* app_dirs fills the directory names and creates the directories. */
int app_dirs(struct app *app, const struct config *cfg);

struct api_error;
struct body;
struct video_spec;

/* api_insert_videos writes the s->n records of a validated request (its
 * image stored under uploads/ first) and answers with the first video;
 * on an idempotency hit it answers with the earlier video instead.  0 when
 * new records were written, -1 when not (answered: an error or a replay). */
int api_insert_videos(struct app *app, struct http_request *req, struct http_response *res,
		      const char *owner, const struct key_limits *lim, struct video_spec *s,
		      struct body *b, const char *base_url, const char *remixed_from);

/* api_idempotency_check refuses a malformed Idempotency-Key header
 * (-1 with a 400 in e), for every route that creates videos. */
int api_idempotency_check(const struct http_request *req, struct api_error *e);

struct form;
/* api_parse_query parses the request's query string into q; api_query_param
 * reads the one value of name (NULL when absent).  -1 with a 400 in e. */
int api_parse_query(struct http_request *req, struct form *q, struct api_error *e);
int api_query_param(struct form *q, const char *name, const char **out, struct api_error *e);

/* GET /v1/videos: limit's default and maximum, the longest model filter. */
#define API_LIST_DEFAULT 20
#define API_LIST_MAX 100
#define API_LIST_MODEL_MAX 64

/* A GET /v1/videos query: limit, order, after (NULL: from the start), and
 * the filters status and model (NULL: any); the strings are q's. */
struct api_list_query {
	long limit;
	int desc;
	const char *after, *status, *model;
};
/* api_list_query reads q (api_parse_query's) into lq: 0, or -1 with the
 * 400 in e that names the parameter. */
int api_list_query(struct form *q, struct api_list_query *lq, struct api_error *e);

/* api_handle serves one request; returns its route (ROUTE_NONE for an
 * unknown path or method), which the worker's metrics count it under. */
enum route api_handle(struct app *app, struct http_request *req, struct http_response *res);

#endif
