/*
 * cli_keys: `reelgate keys export` and `reelgate keys import`, the keys
 * file that provisions the nodes of a cluster (keyfile.h, docs/cluster.md).
 * The other `keys` subcommands are cli.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "keyfile.h"
#include "store.h"

/* A keys file larger than this is not one reelgate wrote. */
#define KEYFILE_MAX_BYTES (256u << 20)

struct file_opts {
	const char *config, *output;
	int replace;
	const char **args; /* the positional arguments after the subcommand */
	int nargs;
};

/* parse: argv[0] is "export" or "import"; -1 after saying what is wrong,
 * 1 for --help. */
static int parse(int argc, char **argv, struct file_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->config = config_default_path();
	o->args = calloc((size_t)argc, sizeof(*o->args));
	if (o->args == NULL)
		return -1;
	int import = strcmp(argv[0], "import") == 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return 1;
		if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
			o->config = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			o->config = a + 9;
		} else if (!import && (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) &&
			   i + 1 < argc) {
			o->output = argv[++i];
		} else if (!import && strncmp(a, "--output=", 9) == 0) {
			o->output = a + 9;
		} else if (import && strcmp(a, "--replace") == 0) {
			o->replace = 1;
		} else if (a[0] == '-' && strcmp(a, "-") != 0) {
			fprintf(stderr, "reelgate: keys %s: unexpected option '%s'\n", argv[0], a);
			return -1;
		} else {
			o->args[o->nargs++] = a;
		}
	}
	if (import && o->nargs != 1) {
		fprintf(stderr, "reelgate: keys import needs one FILE (or - for stdin)\n");
		return -1;
	}
	return 0;
}

/* write_doc writes text to path (mode 0600: the file holds the endpoints'
 * signing secrets), whole or not at all. */
static int write_doc(const char *path, const char *text)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		fprintf(stderr, "reelgate: %s: path too long\n", path);
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	int ok = f != NULL && fputs(text, f) >= 0 && fputc('\n', f) != EOF && fflush(f) == 0 &&
		 fsync(fileno(f)) == 0;
	if (f != NULL)
		ok = fclose(f) == 0 && ok;
	else if (fd >= 0)
		close(fd);
	if (!ok || rename(tmp, path) != 0) {
		fprintf(stderr, "reelgate: cannot write %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static size_t endpoints_in(struct json_object *doc)
{
	struct json_object *keys = NULL, *eps = NULL;
	size_t n = 0;
	json_object_object_get_ex(doc, "keys", &keys);
	for (size_t i = 0; i < json_object_array_length(keys); i++)
		if (json_object_object_get_ex(json_object_array_get_idx(keys, i),
					      "webhook_endpoints", &eps))
			n += json_object_array_length(eps);
	return n;
}

static int run_export(struct store *st, const struct config *cfg, void *arg)
{
	(void)cfg;
	const struct file_opts *o = arg;
	char why[512];
	struct json_object *doc = keyfile_export(st, o->args, (size_t)o->nargs, why, sizeof(why));
	if (doc == NULL) {
		fprintf(stderr, "reelgate: keys export: %s\n", why);
		return 1;
	}
	const char *text = json_object_to_json_string_ext(
		doc,
		JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc = 0;
	if (o->output != NULL)
		rc = write_doc(o->output, text) < 0;
	else
		rc = printf("%s\n", text) < 0 || fflush(stdout) != 0;
	if (rc == 0) {
		struct json_object *keys = NULL;
		json_object_object_get_ex(doc, "keys", &keys);
		size_t neps = endpoints_in(doc);
		fprintf(stderr, "reelgate: exported %zu key%s and %zu webhook endpoint%s%s%s%s\n",
			json_object_array_length(keys),
			json_object_array_length(keys) == 1 ? "" : "s", neps, neps == 1 ? "" : "s",
			o->output ? " to " : "", o->output ? o->output : "",
			neps ? "; the file holds the endpoints' signing secrets: keep it as "
			       "secret as they are"
			     : "");
	}
	json_object_put(doc);
	return rc;
}

/* read_all reads path ("-": stdin) whole, NUL-terminated, into *out. */
static int read_all(const char *path, char **out, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "reelgate: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	while (buf != NULL) {
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0 || n < cap)
			break;
		if (cap >= KEYFILE_MAX_BYTES) {
			fprintf(stderr, "reelgate: %s is larger than %u MiB: not a keys file\n",
				path, KEYFILE_MAX_BYTES >> 20);
			free(buf);
			buf = NULL;
			break;
		}
		char *p = realloc(buf, 2 * cap + 1);
		if (p == NULL) {
			free(buf);
			buf = NULL;
		}
		buf = p;
		cap *= 2;
	}
	int err = ferror(f);
	if (f != stdin)
		fclose(f);
	if (buf == NULL || err) {
		if (err)
			fprintf(stderr, "reelgate: cannot read %s\n", path);
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* parse_doc: the JSON value of text, nothing but white space after it. */
static struct json_object *parse_doc(const char *path, const char *text, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(64);
	struct json_object *doc = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
	enum json_tokener_error e = tok ? json_tokener_get_error(tok) : json_tokener_error_depth;
	size_t end = tok ? json_tokener_get_parse_end(tok) : 0;
	if (tok)
		json_tokener_free(tok);
	while (end < len && strchr(" \t\r\n", text[end]) != NULL)
		end++;
	if (doc == NULL || e != json_tokener_success || end != len) {
		const char *what = e == json_tokener_continue  ? "it ends early"
				   : e != json_tokener_success ? json_tokener_error_desc(e)
							       : "text after it";
		fprintf(stderr,
			"reelgate: %s is not a keys file: not JSON (%s, byte %zu); nothing was "
			"imported\n",
			strcmp(path, "-") == 0 ? "stdin" : path, what, end);
		json_object_put(doc);
		return NULL;
	}
	return doc;
}

struct import_job {
	const struct file_opts *o;
	struct json_object *doc;
};

static int run_import(struct store *st, const struct config *cfg, void *arg)
{
	(void)cfg;
	const struct import_job *j = arg;
	const char *path = j->o->args[0];
	struct store_import r;
	enum rg_err err = keyfile_import(st, j->doc, j->o->replace, &r);
	if (err != RG_OK) {
		fprintf(stderr, "reelgate: %s: %s; nothing was imported\n", path, r.why);
		return 1;
	}
	size_t changed = r.keys_added + r.keys_updated + r.keys_replaced + r.endpoints_added +
			 r.endpoints_updated;
	if (changed == 0) {
		fprintf(stderr,
			"reelgate: nothing to change: the %zu keys and %zu webhook endpoints of %s "
			"are on this node already\n",
			r.keys_unchanged, r.endpoints_unchanged, path);
		return 0;
	}
	fprintf(stderr,
		"reelgate: imported %s: keys %zu added, %zu updated, %zu replaced, %zu unchanged; "
		"webhook endpoints %zu added, %zu updated, %zu unchanged\n",
		path, r.keys_added, r.keys_updated, r.keys_replaced, r.keys_unchanged,
		r.endpoints_added, r.endpoints_updated, r.endpoints_unchanged);
	return 0;
}

int cli_keys_file(int argc, char **argv)
{
	struct file_opts o;
	int p = parse(argc, argv, &o);
	if (p != 0) {
		cli_keys_usage(p > 0 ? stdout : stderr);
		free(o.args);
		return p > 0 ? 0 : 2;
	}
	int rc;
	if (strcmp(argv[0], "export") == 0) {
		rc = cli_with_store(o.config, run_export, &o);
	} else {
		char *text = NULL;
		size_t len = 0;
		struct import_job j = { &o, NULL };
		rc = 1;
		if (read_all(o.args[0], &text, &len) == 0 &&
		    (j.doc = parse_doc(o.args[0], text, len)) != NULL)
			rc = cli_with_store(o.config, run_import, &j);
		json_object_put(j.doc);
		free(text);
	}
	free(o.args);
	return rc;
}
