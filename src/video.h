/*
 * video: the task record and the one place that turns it into OpenAI's video
 * object.  A record is the JSON stored in LMDB: the 13 public fields, the
 * caller's metadata, and internal fields (owner, params, due_at, ...) that
 * never leave the server.
 */
#ifndef REELGATE_VIDEO_H
#define REELGATE_VIDEO_H

#include <stdint.h>
#include <json-c/json.h>

#include "buf.h"
#include "validate.h"

/* video_record_new builds the record of a new queued task.  ids lists the
 * ids of every task made by the same request (n of them); image_file is the
 * stored image's path relative to data_dir, or NULL. */
struct json_object *video_record_new(const struct video_spec *s, const char *id, const char *owner,
				     int64_t now_ms, char *const *ids, int n,
				     const char *image_file, const char *remixed_from);

/* video_json appends the public video object for rec to out.  base_url is
 * scheme://host[/prefix] for metadata.url. */
int video_json(struct json_object *rec, const char *base_url, struct buf *out);
/* video_public returns the public object as json-c (caller puts it). */
struct json_object *video_public(struct json_object *rec, const char *base_url);

/* The cached public object.  store.c keeps, beside every record, what GET
 * answers for it (built by video_cache_build in the same write transaction
 * as the record), so reads copy bytes instead of parsing the record and
 * rebuilding the object.  The request's base URL of metadata.url is the one
 * part left out; video_cache_json puts it in. */
struct video_cached {
	const char *owner; /* not NUL-terminated; borrowed from the bytes read */
	size_t owner_len;
	int pending;	  /* queued or in_progress: clients should poll */
	const char *json; /* the object, without the base URL */
	size_t json_len;
	size_t url_at; /* where the base URL goes in json; 0: no url */
};

/* video_cache_build appends the cached form of rec to out. */
int video_cache_build(struct json_object *rec, struct buf *out);
/* video_cache_read reads len bytes made by video_cache_build into c (which
 * borrows them); -1 when they are not such bytes. */
int video_cache_read(const void *data, size_t len, struct video_cached *c);
int video_cache_owned_by(const struct video_cached *c, const char *owner);
/* video_cache_json appends the public object, the same text as video_json
 * with that base_url. */
int video_cache_json(const struct video_cached *c, const char *base_url, struct buf *out);

/* video_cache_member points *val at the JSON text of the top-level member
 * key of the cached object (a string with its quotes, as stored): 0, or -1
 * when it has none.  key must need no escaping. */
int video_cache_member(const struct video_cached *c, const char *key, const char **val,
		       size_t *len);

/* video_owned_by says whether owner made rec. */
int video_owned_by(struct json_object *rec, const char *owner);

#endif
