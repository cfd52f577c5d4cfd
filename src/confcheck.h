/*
 * confcheck: the reading and checking of configuration entries, shared by
 * config.c (the core's keys) and the backend modules (their own keys).
 * Every reader names the key it reads in its message, so a wrong file is
 * refused with the file, the key and the fault.
 */
#ifndef REELGATE_CONFCHECK_H
#define REELGATE_CONFCHECK_H

#include <stddef.h>
#include <json-c/json.h>

struct confcheck {
	const char *path;     /* the file, for messages */
	const char *base_dir; /* relative paths are resolved against it */
	char *err;	      /* "FILE: KEY: what is wrong" */
	size_t errlen;
};

/* cc_fail writes the message for key and returns -1. */
__attribute__((format(printf, 3, 4))) int cc_fail(struct confcheck *c, const char *key,
						  const char *fmt, ...);
/* cc_resolve makes p absolute against the config file's directory
 * (caller frees; NULL when out of memory). */
char *cc_resolve(const struct confcheck *c, const char *p);
/* cc_keys refuses any key of obj in neither allowed nor more (both
 * NULL-terminated; more may be NULL).  where: obj's key path. */
int cc_keys(struct confcheck *c, struct json_object *obj, const char *where,
	    const char *const *allowed, const char *const *more);

/* Optional members: absent (or null) leaves *out alone and returns 0; the
 * wrong type or range fails naming key. */
int cc_object(struct confcheck *c, struct json_object *parent, const char *name, const char *key,
	      struct json_object **out);
/* cc_int reads an integer in [lo, hi]. */
int cc_int(struct confcheck *c, struct json_object *parent, const char *name, const char *key,
	   long long lo, long long hi, long long *out);
/* cc_string reads a non-empty string into *out (freed first; caller frees). */
int cc_string(struct confcheck *c, struct json_object *parent, const char *name, const char *key,
	      char **out);
int cc_bool(struct confcheck *c, struct json_object *parent, const char *name, const char *key,
	    int *out);
/* cc_choice reads a string that must be one of choices (NULL-terminated);
 * *out points into choices.  what: the message when it is not. */
int cc_choice(struct confcheck *c, struct json_object *parent, const char *name, const char *key,
	      const char *const *choices, const char *what, const char **out);

#endif
