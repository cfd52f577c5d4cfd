/*
 * body: the one place that reads a request body.  Whatever the encoding
 * (application/json, application/x-www-form-urlencoded, multipart/form-data)
 * the result is one JSON object of fields, with bracket notation
 * (metadata[style]=film) and JSON text (metadata={"style":"film"}) folded into
 * nested objects, plus at most one uploaded image file.  Validation of what
 * the fields mean is validate.c's.
 */
#ifndef REELGATE_BODY_H
#define REELGATE_BODY_H

#include <json-c/json.h>

#include "error.h"
#include "form.h"
#include "http.h"

#define BODY_JSON_DEPTH 16
#define BODY_JSON_VALUES 10000

struct body_limits {
	size_t max_body;     /* bytes of body */
	size_t max_file;     /* bytes of one uploaded file */
	size_t max_value;    /* bytes of one text field */
	size_t max_fields;   /* fields or parts */
	const char *tmp_dir; /* where uploads are spooled */
};

struct body {
	struct json_object *fields;  /* owned; an object */
	struct form form;            /* owns uploaded files until claimed */
	struct form_field *file;     /* the uploaded image, or NULL */
	const char *file_param;      /* "input_reference" or "image" */
};

void body_init(struct body *b);
void body_deinit(struct body *b);

/* body_read reads and decodes r's body into b.  On failure fills e
 * (400, 413 or 415) and leaves nothing behind on disk. */
int body_read(struct body *b, struct http_request *r,
	      const struct body_limits *lim, struct api_error *e);

/* The decoders body_read uses, exposed for tests and fuzz targets. */
int body_parse_json(struct body *b, const char *data, size_t len,
		    struct api_error *e);
int body_from_form(struct body *b, struct api_error *e);

#endif
