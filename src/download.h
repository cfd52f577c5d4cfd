/*
 * download: what a download of a video's content (GET
 * /v1/videos/{id}/content) is authorised and answered from.  store.c keeps
 * it beside every record (the "download" entries, built here and written
 * in the same write transaction as the record, like the cached public
 * object), so a download reads a few bytes instead of parsing the record:
 * the owner, the status, whether the content expired, and where each
 * stored variant is.  Answering the request is api.c's.
 */
#ifndef REELGATE_DOWNLOAD_H
#define REELGATE_DOWNLOAD_H

#include <stddef.h>
#include <json-c/json.h>

#include "buf.h"

/* Where a variant is stored: the kind of reference and its text. */
enum download_kind {
	/* a path relative to data_dir (the record's "files" member):
	 * content.store "local" */
	DOWNLOAD_FILE = 'f',
	/* an object key in the bucket (the record's "objects" member):
	 * content.store "s3".  Readers skip kinds they do not know. */
	DOWNLOAD_OBJECT = 'o',
};

struct download_ref {
	const char *name; /* the variant: "video", "thumbnail", "spritesheet" */
	size_t name_len;
	int kind; /* enum download_kind, or one this build does not know */
	const char *ref;
	size_t ref_len;
};

/* A download entry as download_read finds it; every pointer borrows the
 * bytes read (none is NUL-terminated). */
struct download {
	const char *owner;
	size_t owner_len;
	const char *status; /* NULL: the record's status is not a string */
	size_t status_len;
	int expired;		   /* the content expired and was removed */
	const unsigned char *refs; /* the variants' references, download_ref's */
	size_t refs_len;
	unsigned nrefs;
};

/* download_build appends the download entry of rec to out: -1 (out as it
 * was) when a part is too long for the format or memory runs out. */
int download_build(struct json_object *rec, struct buf *out);
/* download_read reads len bytes made by download_build into d (which
 * borrows them); -1 when they are not such bytes.  Every reference is
 * checked here, so download_ref need not. */
int download_read(const void *data, size_t len, struct download *d);
int download_owned_by(const struct download *d, const char *owner);
/* download_status_is says whether the status is exactly status. */
int download_status_is(const struct download *d, const char *status);
/* download_next reads the reference at *pos (0: the first) into *r and
 * moves *pos past it: 0, or -1 after the last one. */
int download_next(const struct download *d, size_t *pos, struct download_ref *r);
/* download_ref finds the first reference of variant: 0 with *r set, or -1
 * when the record stores none. */
int download_ref(const struct download *d, const char *variant, struct download_ref *r);

#endif
