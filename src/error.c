/*
 * error: the error table and the envelope writer.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *rg_strerror(enum rg_err err)
{
	switch (err) {
	case RG_OK: return "ok";
	case RG_ENOMEM: return "out of memory";
	case RG_ENOENT: return "not found";
	case RG_EEXIST: return "already exists";
	case RG_ESPACE: return "storage full";
	case RG_EIO: return "storage i/o error";
	case RG_EINVAL: return "invalid argument";
	case RG_ECONFIG: return "invalid configuration";
	case RG_ECORRUPT: return "corrupt record";
	case RG_ELIMIT: return "limit reached";
	case RG_EQUOTA: return "budget spent";
	}
	return "unknown error";
}

/* trim_utf8 cuts a string truncated by snprintf back to a character
 * boundary (the JSON writer would otherwise show the cut as U+FFFD). */
static void trim_utf8(char *s)
{
	size_t n = strlen(s), i = n;
	while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0 || (unsigned char)s[i - 1] < 0xC0)
		return;
	unsigned char lead = (unsigned char)s[i - 1];
	size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
	if (n - (i - 1) < want)
		s[i - 1] = '\0';
}

void api_error_set(struct api_error *e, int status, const char *code, const char *param,
		   const char *fmt, ...)
{
	e->status = status;
	e->code = code;
	snprintf(e->param, sizeof(e->param), "%s", param ? param : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	trim_utf8(e->param);
	trim_utf8(e->message);
}

void api_error_video_not_found(struct api_error *e, const char *id)
{
	if (id == NULL)
		api_error_set(
			e, 404, "not_found", "video_id",
			"No video found with that id: ids look like video_ followed by letters and digits.");
	else
		api_error_set(e, 404, "not_found", "video_id", "No video found with id '%s'.", id);
}

void api_error_from_rg(struct api_error *e, enum rg_err err)
{
	if (err == RG_ESPACE)
		api_error_set(e, 507, "storage_full", NULL,
			      "The server's storage is full; retry later.");
	else
		api_error_set(e, 500, "internal_error", NULL,
			      "The server failed to process the request (%s); retry later.",
			      rg_strerror(err));
}

const char *api_error_type(int status)
{
	if (status == 429)
		return "requests";
	if (status >= 500)
		return "server_error";
	return "invalid_request_error";
}

int api_error_json(const struct api_error *e, struct buf *out)
{
	int rc = buf_puts(out, "{\"error\":{\"message\":");
	rc |= buf_json_string(out, e->message, strlen(e->message));
	rc |= buf_puts(out, ",\"type\":");
	/* OpenAI answers a spent quota with type and code insufficient_quota */
	const char *type = e->code && strcmp(e->code, "insufficient_quota") == 0
				   ? "insufficient_quota"
				   : api_error_type(e->status);
	rc |= buf_json_string(out, type, strlen(type));
	rc |= buf_puts(out, ",\"param\":");
	if (e->param[0] != '\0')
		rc |= buf_json_string(out, e->param, strlen(e->param));
	else
		rc |= buf_puts(out, "null");
	rc |= buf_puts(out, ",\"code\":");
	if (e->code != NULL)
		rc |= buf_json_string(out, e->code, strlen(e->code));
	else
		rc |= buf_puts(out, "null");
	rc |= buf_puts(out, "}}");
	return rc ? -1 : 0;
}
