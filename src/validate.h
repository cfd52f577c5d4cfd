/*
 * validate: what the fields of a create (or remix) request mean.  Takes the
 * field object body.c made and the config snapshot, and either produces a
 * complete struct video_spec or one 400 that names the field and says what
 * to fix.  Knows the OpenAI spellings and the seed's, and their equivalences.
 */
#ifndef REELGATE_VALIDATE_H
#define REELGATE_VALIDATE_H

#include <stdint.h>
#include <json-c/json.h>

#include "config.h"
#include "error.h"

enum image_kind { IMAGE_NONE, IMAGE_FILE, IMAGE_URL, IMAGE_BYTES };

struct video_spec {
	char *prompt;		       /* owned */
	const struct model_cfg *model; /* borrowed from the config */
	int seconds;
	int width, height;
	int fps;
	int has_seed;
	uint32_t seed;
	int n;
	char *user;		      /* owned or NULL */
	struct json_object *metadata; /* owned: the caller's metadata, or NULL */
	enum image_kind image;
	char *image_url;      /* IMAGE_URL: owned */
	uint8_t *image_bytes; /* IMAGE_BYTES: decoded; owned unless borrowed */
	int image_borrowed;   /* image_bytes lies in the request body */
	size_t image_len;
	const char *image_ext;	 /* "png", "jpg" or "webp" (static) */
	const char *image_param; /* field the image came in */
	char *image_file_id;	 /* input_reference.file_id: owned; api.c resolves it */
	char *image_src;	 /* IMAGE_FILE from a stored file: its path, owned */
	int seconds_given, size_given, fps_given; /* asked for, not defaulted */
	/* Edits and extensions (ops.c) and characters (ops_references): */
	const char *op;			/* "edit", "extend" (static), or NULL */
	struct json_object *source;	/* owned: the record's params.source, or NULL */
	int segment_seconds;		/* extend: the new segment's length */
	struct json_object *references; /* owned: params.references, or NULL */
	char *callback_url;		/* owned: where this video's events also go, or NULL */
};

struct validate_input {
	struct json_object *fields; /* from body.c */
	const char *file_path;	    /* uploaded image file, or NULL */
	const char *file_param;	    /* its field name */
	/* body.c's long image text: the placeholder in fields and the text it
	 * stands for, decoded in place (so image_bytes may point into it). */
	struct json_object *long_at;
	char *long_text;
	size_t long_len;
};

void video_spec_init(struct video_spec *s);
void video_spec_deinit(struct video_spec *s);

/* validate_create fills s from in; on failure fills e with a 400. */
int validate_create(const struct config *cfg, const struct validate_input *in, struct video_spec *s,
		    struct api_error *e);
/* validate_remix reads {prompt} into s->prompt. */
int validate_remix(const struct config *cfg, struct json_object *fields, struct video_spec *s,
		   struct api_error *e);

/* validate_callback_url reads the optional 'callback_url' (an http(s)
 * URL) into s->callback_url; the caller checks the key can sign for it. */
int validate_callback_url(struct json_object *fields, struct video_spec *s, struct api_error *e);

/* validate_image_type tells an image type by its first bytes: "png", "jpg",
 * "webp" or NULL. */
const char *validate_image_type(const uint8_t *p, size_t len);

#endif
