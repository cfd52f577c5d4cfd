/*
 * files: the handlers of /v1/files, OpenAI's Files API in the part the
 * Videos API refers to (input_reference.file_id).  The records are
 * store_files.c's; the bytes live in data_dir/files/<file id>.
 */
#ifndef REELGATE_FILES_H
#define REELGATE_FILES_H

#include "api.h"
#include "http.h"
#include "router.h"

void files_create(struct app *app, struct http_request *req, struct http_response *res,
		  const char *owner);
void files_list(struct app *app, struct http_request *req, struct http_response *res,
		const char *owner);
void files_get(struct app *app, struct http_response *res, const struct route_match *m,
	       const char *owner);
void files_delete(struct app *app, struct http_request *req, struct http_response *res,
		  const struct route_match *m, const char *owner);
void files_content(struct app *app, struct http_response *res, const struct route_match *m,
		   const char *owner);

/* files_path finds owner's file id (the what of param, for the message)
 * and writes its path into path (cap bytes).  Another key's file is
 * answered exactly like an unknown one: a 400 about param in e. */
int files_path(struct app *app, const char *owner, const char *id, const char *param,
	       const char *what, char *path, size_t cap, struct api_error *e);

/* files_image finds owner's file id for use as a task's input image: its
 * path into path (cap bytes) and its type ("png", "jpg", "webp") into
 * *ext.  Another key's file is answered exactly like an unknown one.  On
 * failure fills e with a 400 about param. */
int files_image(struct app *app, const char *owner, const char *id, const char *param, char *path,
		size_t cap, const char **ext, struct api_error *e);

#endif
