/*
 * router: maps a method and a path to a handler and the id in the path.
 * Knows the URL space and nothing else.
 */
#ifndef REELGATE_ROUTER_H
#define REELGATE_ROUTER_H

#include "error.h"
#include "id.h"

enum route {
	ROUTE_NONE,
	ROUTE_VIDEOS_CREATE,
	ROUTE_VIDEOS_LIST,
	ROUTE_VIDEO_GET,
	ROUTE_VIDEO_DELETE,
	ROUTE_VIDEO_CONTENT,
	ROUTE_VIDEO_REMIX,
	ROUTE_MODELS_LIST,
	ROUTE_MODEL_GET,
	ROUTE_FILES_CREATE,
	ROUTE_FILES_LIST,
	ROUTE_FILE_GET,
	ROUTE_FILE_DELETE,
	ROUTE_FILE_CONTENT,
	ROUTE_VIDEO_EDIT,
	ROUTE_VIDEO_EXTEND,
	ROUTE_CHARACTER_CREATE,
	ROUTE_CHARACTER_GET,
	ROUTE_USAGE_VIDEOS,
	ROUTE_METRICS, /* GET /metrics, outside /v1 (metrics_http.c) */
	ROUTE_COUNT    /* not a route: how many there are */
};

struct route_match {
	enum route route;
	char id[ID_MAX];  /* video id, file id, character id or model name from the path */
	int id_valid;	  /* the id segment has the shape of a video (file, character) id */
	char prefix[256]; /* what came before /v1 (a mount point), or "" */
};

/* router_match fills m, or fills e with the 404 / 405 (and sets allow to the
 * methods a 405's Allow header lists). */
int router_match(const char *method, const char *path, struct route_match *m, struct api_error *e,
		 const char **allow);

#endif
