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

#include "buf.h"
#include "error.h"
#include "form.h"
#include "http.h"

#define BODY_JSON_DEPTH 16
#define BODY_JSON_VALUES 10000

/*
 * Bounded memory: a request never costs much more than its body.  Every text
 * value but one is short (max_text, and max_text_total for all of them
 * together) and is copied into the field object; the one long value a
 * request may carry, an image as base64 or a data: URL in image,
 * input_reference or input_reference.image_url, stays where it was read (the
 * body buffer or its multipart field) and is decoded there.  The field
 * object holds a short placeholder for it: validate.c asks for the text with
 * body_long_text.
 */
struct body_limits {
	size_t max_body;	 /* bytes of body */
	size_t max_file;	 /* bytes of one uploaded file */
	size_t max_value;	 /* bytes of one multipart text part */
	size_t max_text;	 /* bytes of one text value other than an image */
	size_t max_text_total;	 /* bytes of all of them together */
	size_t max_prompt_chars; /* for the message when the prompt is too long */
	size_t max_fields;	 /* fields or parts */
	const char *tmp_dir;	 /* where uploads are spooled */
	const char *file_field;	 /* the one file part accepted; NULL: input_reference or image */
};

/* The long image text of a request: in place, decodable in place. */
struct body_text {
	struct json_object *at; /* the placeholder in fields, or NULL */
	char *data;		/* NUL-terminated, inside the body's memory */
	size_t len;
};

struct body {
	struct json_object *fields; /* owned; an object */
	struct form form;	    /* owns uploaded files until claimed */
	struct form_field *file;    /* the uploaded image, or NULL */
	const char *file_param;	    /* "input_reference", "image" or "video" */
	struct buf raw;		    /* the body as read (JSON, urlencoded) */
	struct body_text image;	    /* the long image text, if any */
	/* Set by the caller before body_read for the operations on a video
	 * (edits, extensions, characters): 'video' may then be the one file
	 * part, or an object ({"id": ...}, video[id]=...). */
	int video_input;
};

void body_init(struct body *b);
void body_deinit(struct body *b);

/* body_read reads and decodes r's body into b.  On failure fills e
 * (400, 413 or 415) and leaves nothing behind on disk. */
int body_read(struct body *b, struct http_request *r, const struct body_limits *lim,
	      struct api_error *e);

/* body_long_text returns the text v stands for when it is the placeholder
 * of b's long image text (with its length in *len), else NULL. */
char *body_long_text(const struct body_text *t, struct json_object *v, size_t *len);

/* body_text_limits fills the text limits of lim from the config's. */
void body_text_limits(struct body_limits *lim, size_t max_prompt_chars, size_t max_metadata_bytes);

/* The decoders body_read uses, exposed for tests and fuzz targets.  data is
 * decoded in place and must outlive b, with a writable byte at data[len]. */
int body_parse_json(struct body *b, char *data, size_t len, const struct body_limits *lim,
		    struct api_error *e);
int body_from_form(struct body *b, const struct body_limits *lim, struct api_error *e);

#endif
