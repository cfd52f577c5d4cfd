/*
 * confcheck: typed, checked reads of configuration entries.
 */
#include "confcheck.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cc_fail(struct confcheck *c, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s: %s: %s", c->path, key, msg);
	return -1;
}

char *cc_resolve(const struct confcheck *c, const char *p)
{
	if (p[0] == '/')
		return strdup(p);
	size_t n = strlen(c->base_dir) + strlen(p) + 2;
	char *out = malloc(n);
	if (out != NULL)
		snprintf(out, n, "%s/%s", c->base_dir, p);
	return out;
}

static int listed(const char *const *list, const char *k)
{
	for (const char *const *a = list; a && *a; a++)
		if (strcmp(*a, k) == 0)
			return 1;
	return 0;
}

int cc_keys(struct confcheck *c, struct json_object *obj, const char *where,
	    const char *const *allowed, const char *const *more)
{
	json_object_object_foreach(obj, k, v) {
		(void)v;
		if (listed(allowed, k) || listed(more, k))
			continue;
		char key[256];
		snprintf(key, sizeof(key), "%s%s%s", where, where[0] ? "." : "", k);
		return cc_fail(c, key, "unknown key (check the spelling; see etc/reelgate.json)");
	}
	return 0;
}

int cc_object(struct confcheck *c, struct json_object *parent, const char *name, const char *key,
	      struct json_object **out)
{
	*out = NULL;
	struct json_object *v;
	if (!json_object_object_get_ex(parent, name, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return cc_fail(c, key, "must be an object");
	*out = v;
	return 0;
}

int cc_int(struct confcheck *c, struct json_object *parent, const char *name, const char *key,
	   long long lo, long long hi, long long *out)
{
	struct json_object *v;
	if (!json_object_object_get_ex(parent, name, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return cc_fail(c, key, "must be a whole number");
	errno = 0;
	long long n = json_object_get_int64(v);
	if (errno != 0 || n < lo || n > hi)
		return cc_fail(c, key, "must be between %lld and %lld (got %lld)", lo, hi, n);
	*out = n;
	return 0;
}

int cc_string(struct confcheck *c, struct json_object *parent, const char *name, const char *key,
	      char **out)
{
	struct json_object *v;
	if (!json_object_object_get_ex(parent, name, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return cc_fail(c, key, "must be a string");
	if (json_object_get_string_len(v) == 0)
		return cc_fail(c, key, "must not be empty");
	if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return cc_fail(c, key, "must not contain a NUL character");
	free(*out);
	*out = strdup(json_object_get_string(v));
	return *out ? 0 : cc_fail(c, key, "out of memory");
}

int cc_bool(struct confcheck *c, struct json_object *parent, const char *name, const char *key,
	    int *out)
{
	struct json_object *v;
	if (!json_object_object_get_ex(parent, name, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return cc_fail(c, key, "must be true or false");
	*out = json_object_get_boolean(v);
	return 0;
}

int cc_choice(struct confcheck *c, struct json_object *parent, const char *name, const char *key,
	      const char *const *choices, const char *what, const char **out)
{
	char *s = NULL;
	if (cc_string(c, parent, name, key, &s) < 0)
		return -1;
	if (s == NULL)
		return 0;
	for (const char *const *a = choices; *a; a++) {
		if (strcmp(*a, s) == 0) {
			*out = *a;
			free(s);
			return 0;
		}
	}
	free(s);
	return cc_fail(c, key, "%s", what);
}
