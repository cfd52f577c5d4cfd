/*
 * http: FastCGI request parameters in, HTTP response out.
 */
#include "http.h"

#include "id.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define BASE_MAX 300 /* scheme://host rebuilt from the request */

/* The parameters a request is read from, found in one pass over the
 * environment: FCGX_GetParam scans all of it for each name asked. */
enum param {
	P_METHOD,
	P_REQUEST_URI,
	P_DOCUMENT_URI,
	P_SCRIPT_NAME,
	P_PATH_INFO,
	P_QUERY_STRING,
	P_CONTENT_TYPE,
	P_CONTENT_LENGTH,
	P_AUTHORIZATION,
	P_IDEMPOTENCY_KEY,
	P_RANGE,
	P_SERVER_SOFTWARE,
	P_HTTPS,
	P_REQUEST_SCHEME,
	P_HOST,
	P_SERVER_NAME,
	P_SERVER_PORT,
	P_REQUEST_ID,
	P_UNIQUE_ID,
	P_COUNT
};

#define NAME(s)                                                                                    \
	{                                                                                          \
		s, sizeof(s) - 1                                                                   \
	}
static const struct {
	const char *name;
	size_t len;
} param_names[P_COUNT] = {
	NAME("REQUEST_METHOD"),
	NAME("REQUEST_URI"),
	NAME("DOCUMENT_URI"),
	NAME("SCRIPT_NAME"),
	NAME("PATH_INFO"),
	NAME("QUERY_STRING"),
	NAME("CONTENT_TYPE"),
	NAME("CONTENT_LENGTH"),
	NAME("HTTP_AUTHORIZATION"),
	NAME("HTTP_IDEMPOTENCY_KEY"),
	NAME("HTTP_RANGE"),
	NAME("SERVER_SOFTWARE"),
	NAME("HTTPS"),
	NAME("REQUEST_SCHEME"),
	NAME("HTTP_HOST"),
	NAME("SERVER_NAME"),
	NAME("SERVER_PORT"),
	NAME("REQUEST_ID"),
	NAME("UNIQUE_ID"),
};
#undef NAME

/* read_params points v[i] at the value of each wanted parameter (the first
 * one, as FCGX_GetParam does), or NULL; the values live until the next
 * accept.  A web server sends some thirty parameters: each is compared
 * only with the wanted names of its length (by_len: a bit per name). */
enum { NAME_LEN_MAX = 32 };
_Static_assert(P_COUNT <= 32, "by_len holds a bit per wanted name");
static void read_params(FCGX_ParamArray envp, const char *v[P_COUNT])
{
	static uint32_t by_len[NAME_LEN_MAX + 1];
	static int ready;
	if (!ready) {
		for (int i = 0; i < P_COUNT; i++)
			if (param_names[i].len <= NAME_LEN_MAX) /* all are */
				by_len[param_names[i].len] |= 1u << i;
		ready = 1;
	}
	for (int i = 0; i < P_COUNT; i++)
		v[i] = NULL;
	for (char **p = envp; p != NULL && *p != NULL; p++) {
		const char *eq = strchr(*p, '=');
		if (eq == NULL || eq - *p > NAME_LEN_MAX)
			continue;
		size_t n = (size_t)(eq - *p);
		for (uint32_t m = by_len[n]; m != 0; m &= m - 1) {
			int i = __builtin_ctz(m);
			if (v[i] == NULL && memcmp(param_names[i].name, *p, n) == 0) {
				v[i] = eq + 1;
				break;
			}
		}
	}
}

static long long parse_length(const char *s, int *bad)
{
	*bad = 0;
	if (s == NULL || s[0] == '\0')
		return -1;
	long long n = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || n > (1LL << 50)) {
			*bad = 1;
			return -1;
		}
		n = n * 10 + (*p - '0');
	}
	return n;
}

/* make_base_url rebuilds scheme://host from the request into out. */
static void make_base_url(const char *const v[P_COUNT], char out[BASE_MAX])
{
	const char *https = v[P_HTTPS];
	const char *scheme = v[P_REQUEST_SCHEME];
	int tls = (https && https[0] && strcasecmp(https, "off") != 0) ||
		  (scheme && strcmp(scheme, "https") == 0);
	const char *host = v[P_HOST];
	char hostbuf[300];
	if (host == NULL || host[0] == '\0' || strlen(host) > 255 ||
	    strpbrk(host, "/\\ \"<>@?#") != NULL) {
		const char *name = v[P_SERVER_NAME];
		const char *port = v[P_SERVER_PORT];
		snprintf(hostbuf, sizeof(hostbuf), "%s%s%s",
			 name && strlen(name) < 200 ? name : "localhost", port ? ":" : "",
			 port && strlen(port) < 8 ? port : "");
		host = hostbuf;
	}
	const char *sch = tls ? "https://" : "http://";
	size_t ls = strlen(sch), lh = strlen(host); /* ls + lh < BASE_MAX */
	memcpy(out, sch, ls);
	memcpy(out + ls, host, lh + 1);
}

static int request_id_ok(const char *rid, size_t len)
{
	if (len == 0 || len > 32)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = rid[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '@' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* keep_strings copies the n strings (NULL ones stay NULL) into one block
 * that r owns: one allocation per request instead of one per string. */
struct kept {
	const char *s; /* or NULL */
	size_t len;
	char **field;
};

static int keep_strings(struct http_request *r, struct kept *k, size_t n)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		if (k[i].s != NULL)
			total += k[i].len + 1;
	char *p = malloc(total ? total : 1);
	if (p == NULL)
		return -1;
	r->strings = p;
	for (size_t i = 0; i < n; i++) {
		if (k[i].s == NULL)
			continue;
		memcpy(p, k[i].s, k[i].len);
		p[k[i].len] = '\0';
		*k[i].field = p;
		p += k[i].len + 1;
	}
	return 0;
}

#define KEEP(str, fld)                                                                             \
	{                                                                                          \
		(str), (str) ? strlen(str) : 0, &r->fld                                            \
	}

int http_request_from_fcgx(struct http_request *r, FCGX_Request *req, const char *public_url)
{
	const char *v[P_COUNT];
	read_params(req->envp, v);
	memset(r, 0, sizeof(*r));
	r->fcgx = req;
	/* The web server's request id (nginx $request_id, Apache's
	 * mod_unique_id), so its log lines and ours match. */
	const char *rid = v[P_REQUEST_ID];
	if (rid == NULL)
		rid = v[P_UNIQUE_ID];
	size_t rlen = rid ? strlen(rid) : 0;
	if (request_id_ok(rid, rlen)) {
		memcpy(r->request_id, "req_", 4);
		memcpy(r->request_id + 4, rid, rlen + 1);
	} else if (id_prefixed_new(r->request_id, sizeof(r->request_id), "req_", 16) < 0) {
		snprintf(r->request_id, sizeof(r->request_id), "req_unknown");
	}
	const char *uri = v[P_REQUEST_URI];
	char joined[4096];
	if (uri == NULL)
		uri = v[P_DOCUMENT_URI];
	if (uri == NULL) {
		/* A server without REQUEST_URI: the path is SCRIPT_NAME followed
		 * by PATH_INFO (mod_fcgid puts only the mount point in the first). */
		const char *sn = v[P_SCRIPT_NAME];
		const char *pi = v[P_PATH_INFO];
		snprintf(joined, sizeof(joined), "%s%s", sn ? sn : "", pi ? pi : "");
		uri = joined[0] ? joined : "/";
	}
	const char *q = strchr(uri, '?');
	const char *query = "";
	if (q != NULL)
		query = q + 1;
	else if (v[P_QUERY_STRING] != NULL && v[P_REQUEST_URI] == NULL)
		query = v[P_QUERY_STRING];
	char base[BASE_MAX];
	const char *base_url = public_url;
	if (base_url == NULL) {
		make_base_url(v, base);
		base_url = base;
	}
	const char *method = v[P_METHOD] ? v[P_METHOD] : "GET";
	struct kept k[] = {
		{ method, strlen(method), &r->method },
		{ uri, q ? (size_t)(q - uri) : strlen(uri), &r->path },
		{ query, strlen(query), &r->query },
		KEEP(v[P_CONTENT_TYPE], content_type),
		KEEP(v[P_AUTHORIZATION], authorization),
		KEEP(v[P_IDEMPOTENCY_KEY], idempotency_key),
		KEEP(v[P_RANGE], range),
		{ base_url, strlen(base_url), &r->base_url },
	};
	if (keep_strings(r, k, sizeof(k) / sizeof(k[0])) < 0)
		return -1;
	const char *software = v[P_SERVER_SOFTWARE];
	r->behind_apache = software != NULL && strstr(software, "Apache") != NULL;
	r->content_length = parse_length(v[P_CONTENT_LENGTH], &r->bad_length);
	return 0;
}

#undef KEEP

void http_request_deinit(struct http_request *r)
{
	free(r->strings);
	memset(r, 0, sizeof(*r));
}

long http_read(struct http_request *r, char *out, size_t n)
{
	if (r->fcgx == NULL || r->content_length <= 0)
		return 0;
	size_t left = (size_t)r->content_length - r->body_read;
	if (n > left)
		n = left;
	if (n == 0)
		return 0;
	if (n > (1u << 30))
		n = 1u << 30;
	int got = FCGX_GetStr(out, (int)n, r->fcgx->in);
	if (got < 0)
		return -1;
	r->body_read += (size_t)got;
	return got;
}

int http_read_all(struct http_request *r, struct buf *out, size_t limit, struct api_error *e)
{
	if (r->content_length > (long long)limit) {
		api_error_set(e, 413, "request_too_large", NULL,
			      "Request body too large: %lld bytes, the limit is %zu bytes.",
			      r->content_length, limit);
		return -1;
	}
	char chunk[16384];
	for (;;) {
		long n = http_read(r, chunk, sizeof(chunk));
		if (n < 0) {
			api_error_set(e, 400, "invalid_body", NULL,
				      "The request body could not be read.");
			return -1;
		}
		if (n == 0)
			break;
		if (buf_append(out, chunk, (size_t)n) < 0) {
			api_error_set(e, 413, "request_too_large", NULL,
				      "Request body too large: the limit is %zu bytes.", limit);
			return -1;
		}
	}
	if (r->content_length > 0 && r->body_read < (size_t)r->content_length) {
		api_error_set(
			e, 400, "invalid_body", NULL,
			"The request body ended after %zu of the %lld bytes its Content-Length announced.",
			r->body_read, r->content_length);
		return -1;
	}
	return 0;
}

void http_drain(struct http_request *r, size_t max)
{
	char chunk[16384];
	size_t drained = 0;
	while (drained < max) {
		long n = http_read(r, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		drained += (size_t)n;
	}
}

int http_input_ended(struct http_request *r)
{
	if (r->fcgx == NULL)
		return 0;
	if (r->content_length > 0 && r->body_read < (size_t)r->content_length)
		return 0;
	char c;
	return FCGX_GetStr(&c, 1, r->fcgx->in) == 0 && FCGX_HasSeenEOF(r->fcgx->in) == EOF;
}

void http_response_init(struct http_response *res)
{
	res->status = 200;
	res->content_type = "application/json";
	buf_init(&res->headers, 8192);
	buf_init(&res->body, (size_t)64 << 20);
	res->file_path = NULL;
	res->file_offset = 0;
	res->file_length = 0;
	res->delegated = 0;
}

void http_response_deinit(struct http_response *res)
{
	buf_deinit(&res->headers);
	buf_deinit(&res->body);
}

void http_error(struct http_response *res, const struct api_error *e)
{
	res->status = e->status;
	res->content_type = "application/json";
	res->file_path = NULL;
	buf_reset(&res->body);
	if (api_error_json(e, &res->body) < 0) {
		buf_reset(&res->body);
		buf_puts(
			&res->body,
			"{\"error\":{\"message\":\"error\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
	}
}

int http_header(struct http_response *res, const char *name, const char *value)
{
	/* Header values never carry CR or LF: that would split the response. */
	if (strpbrk(value, "\r\n") != NULL || strpbrk(name, "\r\n: ") != NULL)
		return -1;
	/* Without printf, as http_send: a download sets three of these, one a
	 * presigned URL of a few hundred bytes: room for them all at once
	 * (512 bytes: a larger first block costs malloc a consolidation of
	 * its small free chunks on every request). */
	struct buf *h = &res->headers;
	size_t at = h->len;
	if (h->cap == 0 && buf_reserve(h, 500) < 0)
		return -1;
	if (buf_puts(h, name) < 0 || buf_append(h, ": ", 2) < 0 || buf_puts(h, value) < 0 ||
	    buf_append(h, "\r\n", 2) < 0) {
		buf_truncate(h, at); /* all or nothing, as buf_printf */
		return -1;
	}
	return 0;
}

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 507: return "Insufficient Storage";
	}
	return "Unknown";
}

/* send_file streams file_length bytes of file_path from file_offset. */
static int send_file(FCGX_Stream *out, struct http_response *res)
{
	int fd = open(res->file_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (lseek(fd, (off_t)res->file_offset, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	char chunk[65536];
	long long left = res->file_length;
	while (left > 0) {
		ssize_t n = read(fd, chunk,
				 left < (long long)sizeof(chunk) ? (size_t)left : sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (FCGX_PutStr(chunk, (int)n, out) != n)
			break;
		left -= n;
	}
	close(fd);
	return left == 0 ? 0 : -1;
}

/* put_decimal writes n in decimal to out. */
static void put_decimal(FCGX_Stream *out, unsigned long long n)
{
	char d[24];
	size_t i = sizeof(d);
	do {
		d[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n > 0);
	FCGX_PutStr(d + i, (int)(sizeof(d) - i), out);
}

static void put_str(FCGX_Stream *out, const char *s)
{
	FCGX_PutStr(s, (int)strlen(s), out);
}

int http_send(FCGX_Request *req, struct http_response *res, const char *request_id)
{
	/* The head goes piece by piece into libfcgi's output buffer, which
	 * sends nothing before it is full or the request ends: no printf
	 * (libfcgi's own knows no %zu), no allocation, for every request. */
	FCGX_Stream *out = req->out;
	put_str(out, "Status: ");
	put_decimal(out, (unsigned long long)res->status);
	FCGX_PutChar(' ', out);
	put_str(out, http_reason(res->status));
	put_str(out, "\r\nContent-Type: ");
	put_str(out, res->content_type);
	put_str(out, "\r\nX-Request-Id: ");
	put_str(out, request_id);
	put_str(out, "\r\n");
	if (res->headers.len > 0)
		FCGX_PutStr(res->headers.data, (int)res->headers.len, out);
	if (!res->delegated) { /* else the web server knows the file's length */
		unsigned long long len = res->file_path == NULL
						 ? res->body.len
						 : (unsigned long long)res->file_length;
		put_str(out, "Content-Length: ");
		put_decimal(out, len);
		put_str(out, "\r\n");
	}
	put_str(out, "\r\n");
	int rc = 0;
	if (res->file_path == NULL && res->body.len > 0)
		FCGX_PutStr(res->body.data, (int)res->body.len, out);
	if (res->file_path != NULL)
		rc = send_file(out, res);
	return rc == 0 && FCGX_GetError(out) == 0 ? 0 : -1;
}

int http_parse_range(const char *h, long long size, long long *start, long long *end)
{
	if (h == NULL || strncmp(h, "bytes=", 6) != 0 || size < 0)
		return 0;
	const char *p = h + 6;
	while (*p == ' ')
		p++;
	if (strchr(p, ',') != NULL)
		return 0; /* several ranges: send the whole file */
	long long a = -1, b = -1;
	if (*p >= '0' && *p <= '9') {
		a = 0;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (a > (1LL << 53))
				return 0;
			a = a * 10 + (*p - '0');
		}
	}
	if (*p != '-')
		return 0;
	p++;
	if (*p >= '0' && *p <= '9') {
		b = 0;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (b > (1LL << 53))
				return 0;
			b = b * 10 + (*p - '0');
		}
	}
	while (*p == ' ')
		p++;
	if (*p != '\0' || (a < 0 && b < 0))
		return 0;
	if (a < 0) { /* suffix: the last b bytes */
		if (b == 0 || size == 0)
			return -1;
		*start = b >= size ? 0 : size - b;
		*end = size - 1;
		return 1;
	}
	if (b >= 0 && b < a)
		return 0; /* invalid: ignored */
	if (a >= size)
		return -1;
	*start = a;
	*end = b < 0 || b >= size ? size - 1 : b;
	return 1;
}

int http_content_type_is(const char *header, const char *type)
{
	if (header == NULL)
		return 0;
	while (*header == ' ')
		header++;
	size_t n = strlen(type);
	if (strncasecmp(header, type, n) != 0)
		return 0;
	char c = header[n];
	return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

void http_json(struct http_response *res, struct json_object *o)
{
	size_t len = 0;
	const char *s =
		o ? json_object_to_json_string_length(
			    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len)
		  : NULL;
	res->status = 200;
	buf_reset(&res->body);
	if (s == NULL || buf_append(&res->body, s, len) < 0) {
		struct api_error e;
		api_error_from_rg(&e, RG_ENOMEM);
		http_error(res, &e);
	}
}
