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
struct json_object *video_record_new(const struct video_spec *s, const char *id,
				     const char *owner, int64_t now_ms,
				     char *const *ids, int n,
				     const char *image_file,
				     const char *remixed_from);

/* video_json appends the public video object for rec to out.  base_url is
 * scheme://host[/prefix] for metadata.url. */
int video_json(struct json_object *rec, const char *base_url, struct buf *out);
/* video_public returns the public object as json-c (caller puts it). */
struct json_object *video_public(struct json_object *rec, const char *base_url);

/* Record accessors: a missing field reads as NULL / 0. */
const char *video_str(struct json_object *rec, const char *name);
int64_t video_int(struct json_object *rec, const char *name);
/* video_owned_by says whether owner made rec. */
int video_owned_by(struct json_object *rec, const char *owner);

#endif
