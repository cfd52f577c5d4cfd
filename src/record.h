/*
 * record: reading members of a JSON object (a task record, a config entry,
 * an upstream's answer) that may be missing or of another type.  The one
 * place for "the string member, or NULL": every reader of records uses
 * these rather than a private copy.
 */
#ifndef REELGATE_RECORD_H
#define REELGATE_RECORD_H

#include <stdint.h>
#include <json-c/json.h>

/* rec_str: o.name when it is a string, else NULL (o may be NULL). */
const char *rec_str(struct json_object *o, const char *name);
/* rec_i64: o.name when it is an integer, else 0. */
int64_t rec_i64(struct json_object *o, const char *name);
/* rec_int reads o.name into *out when it is an integer (1), else 0. */
int rec_int(struct json_object *o, const char *name, int64_t *out);
/* rec_obj: o.name when it is an object, else NULL. */
struct json_object *rec_obj(struct json_object *o, const char *name);

/* The task record's `remote` object: what the dispatcher and a backend
 * module keep about the upstream job (phase, upstream id, intent, the
 * module's own keys).  remote_obj makes it when missing; remote_get reads
 * a string member (NULL when missing); remote_set writes one (NULL value:
 * removes it). */
struct json_object *remote_obj(struct json_object *rec);
const char *remote_get(struct json_object *rec, const char *name);
void remote_set(struct json_object *rec, const char *name, const char *value);

#endif
