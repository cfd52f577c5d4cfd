/*
 * backend_util: helpers the backend modules share (backend_util.c).  The
 * core does not use them: it speaks to modules through backend.h.
 */
#ifndef REELGATE_BACKEND_UTIL_H
#define REELGATE_BACKEND_UTIL_H

#include "backend.h"
#include "record.h"

/* cc_secret checks a secret of a module's entry: NAME inline, or NAME_env
 * naming an environment variable (read at init, so that the variable may
 * be set only for the dispatcher). */
int cc_secret(struct confcheck *c, struct json_object *o, const char *key, const char *name);
/* backend_secret reads NAME from the config, or the variable named by
 * NAME_env, into out; -1 when neither gives a non-empty value that fits. */
int backend_secret(const struct backend_cfg *b, const char *name, char *out, size_t n);
/* backend_need_secret is backend_secret for a module's init: -1 with the
 * message "backend B: no NAME (set NAME or the variable named by
 * NAME_env)" in err. */
int backend_need_secret(const struct backend_cfg *b, const char *name, char *out, size_t n,
			char *err, size_t errlen);
/* backend_load_json reads a file holding one JSON object (NULL if not). */
struct json_object *backend_load_json(const char *path);

/* answer_keep asks the core to keep name = value in the record's remote
 * object before the next request (-1 when the answer holds too many or the
 * value is too long). */
int answer_keep(struct remote_answer *ans, const char *name, const char *value);
/* answer_usage reports the provider's usage signal of the job (struct
 * remote_answer's usage_unit and usage_amount) from the answer's value v:
 * a JSON number, or a string holding a decimal number (Kling sends its
 * deduction as "1.5").  -1, and nothing reported, when v is absent or not
 * a finite number >= 0. */
int answer_usage(struct remote_answer *ans, const char *unit, struct json_object *v);
/* url_append_escaped appends s to the URL in out (of n bytes)
 * percent-encoded: all but RFC 3986's unreserved characters. */
void url_append_escaped(char *out, size_t n, const char *s);
/* remote_http_error fills a verdict for an HTTP status that is not a
 * success: no answer, 408, 409, 425, 429 and 5xx retry, the rest fail with
 * a message naming the upstream (401/403 without the upstream's words,
 * which may quote the key). */
void remote_http_error(struct remote_answer *ans, const char *upstream, long status,
		       const char *detail);
/* remote_parse_object parses an answer body that must be one JSON object;
 * NULL when it is not (caller puts the result). */
struct json_object *remote_parse_object(const char *body, size_t len);
/* remote_no_seed_fps lists seed and fps when the caller sent them, for the
 * upstreams that take neither; returns how many it wrote. */
size_t remote_no_seed_fps(const struct video_spec *s, const char **out);
/* remote_idx is json_object_array_get_idx that accepts anything: NULL when
 * a is not an array or too short (json-c asserts on a non-array). */
struct json_object *remote_idx(struct json_object *a, size_t i);

/* The task's fields, as modules read them. */
/* remote_image_b64 reads a stored upload as base64 (caller frees). */
char *remote_image_b64(const char *data_dir, struct json_object *rec, size_t max);
/* remote_file_b64 reads rel, a file under uploads/ (a path relative to
 * data_dir, as records hold them: a character's image), as base64 of at
 * most max raw bytes; NULL when it cannot (caller frees). */
char *remote_file_b64(const char *data_dir, const char *rel, size_t max);
const char *remote_image_path(const char *data_dir, struct json_object *rec, char *out, size_t n);
const char *remote_image_url(struct json_object *rec);
int remote_has_image(struct json_object *rec);
int remote_param_int(struct json_object *rec, const char *name, int def);
int remote_has_seed(struct json_object *rec, unsigned long *seed);
const char *remote_meta_str(struct json_object *rec, const char *name);

/* remote_cancel_status reads the HTTP status of a cancel's answer the way
 * most upstreams mean it: 2xx cancelled (RV_OK), 404 gone (RV_OK,
 * RS_NOT_FOUND): CANCEL_DECIDED; 400, 409 or 422 the upstream will not
 * (RV_FAIL, code upstream_rejected; the module writes the message with
 * its reason): CANCEL_REFUSED; anything else CANCEL_OTHER, for the
 * module's own error mapping. */
enum cancel_status { CANCEL_OTHER, CANCEL_DECIDED, CANCEL_REFUSED };
enum cancel_status remote_cancel_status(long status, struct remote_answer *ans);

/* remote_data_uri reads rel (a file under uploads/, as remote_file_b64)
 * as a data: URI of type mime ("data:video/mp4;base64,..."), the file at
 * most max raw bytes; NULL when it cannot (caller frees).  For upstreams
 * that take a source clip or a character's image inline. */
char *remote_data_uri(const char *data_dir, const char *rel, const char *mime, size_t max);

#endif
