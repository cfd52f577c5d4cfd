/*
 * record: typed reads of JSON members.
 */
#include "record.h"

#include <string.h>

const char *rec_str(struct json_object *o, const char *name)
{
	struct json_object *v;
	if (o == NULL || !json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int rec_int(struct json_object *o, const char *name, int64_t *out)
{
	struct json_object *v;
	if (o == NULL || !json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, json_type_int))
		return 0;
	*out = json_object_get_int64(v);
	return 1;
}

int64_t rec_i64(struct json_object *o, const char *name)
{
	int64_t v = 0;
	return rec_int(o, name, &v) ? v : 0;
}

struct json_object *rec_obj(struct json_object *o, const char *name)
{
	struct json_object *v;
	if (o == NULL || !json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

/* ---- the task record's `remote` object ---------------------------------- */

struct json_object *remote_obj(struct json_object *rec)
{
	struct json_object *r;
	if (json_object_object_get_ex(rec, "remote", &r) &&
	    json_object_is_type(r, json_type_object))
		return r;
	r = json_object_new_object();
	json_object_object_add(rec, "remote", r);
	return r;
}

const char *remote_get(struct json_object *rec, const char *name)
{
	struct json_object *r, *v;
	if (!json_object_object_get_ex(rec, "remote", &r) ||
	    !json_object_object_get_ex(r, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

void remote_set(struct json_object *rec, const char *name, const char *value)
{
	struct json_object *r = remote_obj(rec);
	if (value)
		json_object_object_add(r, name, json_object_new_string(value));
	else
		json_object_object_del(r, name);
}
