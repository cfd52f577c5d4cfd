/*
 * form: turns untrusted request bytes into a flat list of named fields.
 *
 * Owns the three wire encodings reelgate accepts besides JSON: query strings /
 * application/x-www-form-urlencoded, and multipart/form-data (streamed: the
 * caller feeds it chunks as they arrive, file parts go straight to a temporary
 * file, never whole into memory).  It knows nothing about videos: which
 * fields exist and what they mean is validate.c's job.
 *
 * Every length is checked against struct form_limits before it is used.
 */
#ifndef REELGATE_FORM_H
#define REELGATE_FORM_H

#include <stddef.h>

enum form_err {
	FORM_OK = 0,
	FORM_ENOMEM,	     /* out of memory */
	FORM_TOO_MANY,	     /* more fields / parts than max_fields */
	FORM_NAME_TOO_LONG,  /* a field name over max_name */
	FORM_VALUE_TOO_LONG, /* a text value over max_value */
	FORM_FILE_TOO_LARGE, /* a file part over max_file */
	FORM_SYNTAX,	     /* malformed encoding (bad %xx, bad part headers...) */
	FORM_BOUNDARY,	     /* multipart Content-Type without a usable boundary */
	FORM_TRUNCATED,	     /* body ended before the closing boundary */
	FORM_IO,	     /* writing a temporary file failed */
};

struct form_limits {
	size_t max_fields;   /* fields (urlencoded pairs or multipart parts) */
	size_t max_name;     /* bytes in one field name */
	size_t max_value;    /* bytes in one text value */
	size_t max_file;     /* bytes in one file part */
	const char *tmp_dir; /* where file parts are written (must exist) */
};

struct form_field {
	char *name;	    /* decoded, NUL-terminated */
	char *value;	    /* text fields: decoded bytes + NUL; NULL for files */
	size_t value_len;   /* bytes in value, not counting the NUL */
	char *filename;	    /* file parts: the filename= given, else NULL */
	char *content_type; /* multipart parts: the part's Content-Type, else NULL */
	char *path;	    /* file parts: temporary file holding the bytes */
	size_t file_size;   /* file parts: bytes in the temporary file */
	int value_borrowed; /* value points into the caller's body, not owned */
};

/* A multipart part is a file part when it carries filename=; text otherwise. */
#define FORM_FIELD_IS_FILE(f) ((f)->path != NULL)

struct form {
	struct form_field *fields; /* owned */
	size_t count;
	size_t cap;
	/* On failure: which field was being read (may be empty) and a message
	 * that says what is wrong, fit to show to the client. */
	char err_field[128];
	char err_msg[256];
};

void form_init(struct form *f);
/* form_deinit frees every field and unlinks every temporary file that has not
 * been claimed with form_claim_file. */
void form_deinit(struct form *f);

/* form_get returns the first field named name, or NULL. */
const struct form_field *form_get(const struct form *f, const char *name);
/* form_count returns how many fields are named name. */
size_t form_count(const struct form *f, const char *name);
/* form_claim_file takes ownership of a file part's temporary file: form_deinit
 * will no longer unlink it.  Returns the path, owned by the caller. */
char *form_claim_file(struct form *f, struct form_field *field);

/* Parses application/x-www-form-urlencoded bytes (also used for query
 * strings): '&'-separated name=value pairs, '+' is a space, %XX decoded.  A
 * pair without '=' has an empty value; empty pairs are skipped. */
enum form_err form_parse_urlencoded(struct form *f, const char *data, size_t len,
				    const struct form_limits *lim);
/* form_parse_urlencoded_inplace is the same for a body the caller keeps:
 * values are decoded within data (which must have a writable byte at
 * data[len] and outlive f) instead of copied, so a large body is never held
 * twice. */
enum form_err form_parse_urlencoded_inplace(struct form *f, char *data, size_t len,
					    const struct form_limits *lim);

/* Streaming multipart/form-data.  content_type is the whole request header
 * value (boundary parameter quoted or not, case-insensitive names). */
struct multipart;
enum form_err multipart_new(struct multipart **out, struct form *f, const char *content_type,
			    const struct form_limits *lim);
/* multipart_feed consumes the next len bytes of the body; chunks may split
 * anywhere, including inside a boundary or a header line. */
enum form_err multipart_feed(struct multipart *mp, const char *data, size_t len);
/* multipart_finish checks the body ended with the closing boundary. */
enum form_err multipart_finish(struct multipart *mp);
void multipart_free(struct multipart *mp);

/* form_strerror names an error for logs. */
const char *form_strerror(enum form_err err);

#endif
