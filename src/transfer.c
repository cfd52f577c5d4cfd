/*
 * transfer: libcurl easy handles with reelgate's limits.
 */
#include "transfer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void http_req_init(struct http_req *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->method, sizeof(r->method), "GET");
	buf_init(&r->body, (size_t)64 << 20);
}

void http_req_deinit(struct http_req *r)
{
	curl_slist_free_all(r->headers);
	curl_slist_free_all(r->host_headers);
	r->headers = NULL;
	r->host_headers = NULL;
	buf_deinit(&r->body);
}

static int add_header(struct curl_slist **list, const char *name, const char *value)
{
	char line[8192];
	if (snprintf(line, sizeof(line), "%s: %s", name, value) >= (int)sizeof(line))
		return -1;
	struct curl_slist *l = curl_slist_append(*list, line);
	if (l == NULL)
		return -1;
	*list = l;
	return 0;
}

int http_req_header(struct http_req *r, const char *name, const char *value)
{
	return add_header(&r->headers, name, value);
}

int http_req_secret_header(struct http_req *r, const char *name, const char *value)
{
	return add_header(&r->host_headers, name, value);
}

/* join_headers: what is sent at the origin, the headers and the
 * credentials (t->sent, owned). */
static int join_headers(struct transfer *t)
{
	const struct curl_slist *from[2] = { t->req.headers, t->req.host_headers };
	for (int i = 0; i < 2; i++)
		for (const struct curl_slist *l = from[i]; l; l = l->next) {
			struct curl_slist *n = curl_slist_append(t->sent, l->data);
			if (n == NULL)
				return -1;
			t->sent = n;
		}
	return 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n;
	if (t->got + len > t->max_bytes) {
		t->too_big = 1;
		return 0; /* aborts with CURLE_WRITE_ERROR */
	}
	t->got += len;
	if (t->to_fd < 0)
		return buf_append(&t->resp, p, len) == 0 ? len : 0;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(t->to_fd, p + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 0;
		off += (size_t)w;
	}
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n;
	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		size_t i = 12;
		while (i < len && p[i] == ' ')
			i++;
		size_t j = 0;
		while (i < len && p[i] != '\r' && p[i] != '\n' && j < sizeof(t->retry_after) - 1)
			t->retry_after[j++] = p[i++];
		t->retry_after[j] = '\0';
	}
	return len;
}

/* on_open is the SSRF guard: every socket curl opens passes here with the
 * address it will connect to. */
static curl_socket_t on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct transfer *t = arg;
	const char *why;
	(void)purpose;
	if (ssrf_blocked(&a->addr, t->policy, &why)) {
		t->blocked = 1;
		t->blocked_why = why;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

struct transfer *transfer_new(struct http_req *req, const struct transfer_limits *lim, int to_fd)
{
	struct transfer *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->req = *req;
	http_req_init(req); /* moved */
	buf_init(&t->resp, lim->max_bytes + 1);
	t->to_fd = to_fd;
	t->max_bytes = lim->max_bytes;
	t->policy = lim->policy;
	t->easy = curl_easy_init();
	if (t->easy == NULL) {
		transfer_free(t);
		return NULL;
	}
	CURL *e = t->easy;
	curl_easy_setopt(e, CURLOPT_URL, t->req.url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	if (t->req.host_headers) {
		/* followed by transfer_follow, which drops the credentials
		 * when a redirect leaves their origin */
		char origin[512];
		if (transfer_origin(t->req.url, origin, sizeof(origin)) < 0 ||
		    (t->origin = strdup(origin)) == NULL || join_headers(t) < 0) {
			transfer_free(t);
			return NULL;
		}
		t->follow_left = lim->max_redirects;
		t->follows = lim->max_redirects > 0;
		curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	} else {
		curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, lim->max_redirects > 0 ? 1L : 0L);
		curl_easy_setopt(e, CURLOPT_MAXREDIRS, lim->max_redirects);
	}
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, lim->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, lim->timeout_ms);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)lim->max_bytes);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "reelgate/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	if (t->sent)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->sent);
	else if (t->req.headers)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->req.headers);
	if (strcmp(t->req.method, "POST") == 0) {
		/* A POST is never sent on a kept-alive connection: when such a
		 * connection dies unanswered, libcurl resends the request itself,
		 * and a create sent twice is a job made (and paid) twice. */
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->req.body.data ? t->req.body.data : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->req.body.len);
	} else if (strcmp(t->req.method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->req.method);
	}
	return t;
}

void transfer_free(struct transfer *t)
{
	if (t == NULL)
		return;
	if (t->easy)
		curl_easy_cleanup(t->easy);
	http_req_deinit(&t->req);
	curl_slist_free_all(t->sent);
	free(t->origin);
	free(t->location);
	buf_deinit(&t->resp);
	free(t);
}

void transfer_done(struct transfer *t, CURLcode result)
{
	t->result = result;
	if (result == CURLE_FILESIZE_EXCEEDED)
		t->too_big = 1; /* refused on its announced length */
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
	free(t->location);
	t->location = NULL;
	char *loc = NULL;
	if (t->origin && result == CURLE_OK && t->status >= 300 && t->status < 400 &&
	    curl_easy_getinfo(t->easy, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
		t->location = strdup(loc);
}

int transfer_origin(const char *url, char *out, size_t n)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	int rc = -1;
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		rc = snprintf(out, n, "%s://%s:%s", scheme, host, port) < (int)n ? 0 : -1;
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

int transfer_follow(struct transfer *t)
{
	if (t->location == NULL)
		return 0;
	if (!t->follows)
		return 0; /* redirects are answers here, as with curl's own */
	if (t->follow_left <= 0 || strcmp(t->req.method, "GET") != 0) {
		t->result = CURLE_TOO_MANY_REDIRECTS;
		return 0;
	}
	t->follow_left--;
	char origin[512];
	if (strncmp(t->location, "http://", 7) != 0 && strncmp(t->location, "https://", 8) != 0) {
		t->result = CURLE_UNSUPPORTED_PROTOCOL;
		return 0;
	}
	if (snprintf(t->req.url, sizeof(t->req.url), "%s", t->location) >=
		    (int)sizeof(t->req.url) ||
	    transfer_origin(t->req.url, origin, sizeof(origin)) < 0) {
		t->result = CURLE_URL_MALFORMAT;
		return 0;
	}
	if (strcmp(origin, t->origin) != 0) {
		/* left the credentials' origin: never back with them */
		curl_slist_free_all(t->sent);
		t->sent = NULL;
		curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->req.headers);
		free(t->origin);
		t->origin = strdup("-");
		if (t->origin == NULL)
			return 0;
	}
	curl_easy_setopt(t->easy, CURLOPT_URL, t->req.url);
	t->got = 0;
	t->too_big = 0;
	t->status = 0;
	t->retry_after[0] = '\0';
	t->resp.len = 0;
	if (t->to_fd >= 0 && (ftruncate(t->to_fd, 0) < 0 || lseek(t->to_fd, 0, SEEK_SET) < 0))
		return 0;
	return 1;
}

void transfer_describe(const struct transfer *t, char *out, size_t n)
{
	if (t->blocked)
		snprintf(out, n, "refused to connect to an address that is %s (SSRF guard)",
			 t->blocked_why ? t->blocked_why : "forbidden");
	else if (t->result == CURLE_UNSUPPORTED_PROTOCOL)
		snprintf(out, n, "refused a URL that is not http or https (SSRF guard)");
	else if (t->too_big)
		snprintf(out, n, "the answer exceeded the %zu-byte limit", t->max_bytes);
	else if (t->result != CURLE_OK)
		snprintf(out, n, "%s", curl_easy_strerror(t->result));
	else
		snprintf(out, n, "HTTP status %ld", t->status);
}
