/*
 * cli: argument parsing and the operator subcommands (keys, check-config,
 * db check).  `serve` hands over to master.c.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "auth.h"
#include "buf.h"
#include "config.h"
#include "master.h"
#include "record.h"
#include "store.h"
#include "usage.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.0.0"
#endif

/* The main usage, around the lines of the `keys` subcommands (printed from
 * keys_cmds); the config path goes in the last part's %s. */
static const char usage_main_head[] =
	"Usage: reelgate COMMAND [OPTIONS]\n"
	"\n"
	"An OpenAI-compatible video generation gateway (FastCGI).\n"
	"\n"
	"Commands:\n"
	"  serve          run the FastCGI server (master and workers)\n";

static const char usage_main_tail[] =
	"  check-config   check a configuration file\n"
	"  db check       check that the database's indexes agree with its records\n"
	"  webhooks       manage the keys' webhook endpoints and their deliveries\n"
	"  usage          what each key made and spent: the usage ledger\n"
	"\n"
	"Options for every command:\n"
	"  -c, --config FILE   configuration file (default: $REELGATE_CONFIG, else %s)\n"
	"  -h, --help          help for a command\n"
	"  -V, --version       print the version\n";

static const char usage_serve[] =
	"Usage: reelgate serve [-c FILE] [--foreground]\n"
	"\n"
	"Runs the FastCGI server.  Binds the configured socket and forks the workers;\n"
	"when started with a listening socket on fd 0 (spawn-fcgi, mod_fcgid,\n"
	"lighttpd bin-path) it serves on it as a single worker instead.\n"
	"SIGTERM/SIGINT: finish requests in hand and exit.  SIGHUP: reload the\n"
	"configuration and replace the workers.\n"
	"\n"
	"  -f, --foreground   stay in the foreground and log to stderr\n";

/* What `reelgate keys --help` says after the usage lines of keys_cmds. */
static const char usage_keys_notes[] =
	"\n"
	"create prints the new secret alone on stdout; it is not shown again.\n"
	"list prints one key per line: id, name, created (UTC), revoked or active,\n"
	"and its limits.  limit changes only the limits it is given; 0 removes one:\n"
	"  --creates-per-minute N  at most N videos created per minute (over it:\n"
	"                          429 rate_limit_exceeded)\n"
	"  --seconds-per-day N     at most N seconds of video a UTC day, reserved at\n"
	"                          create (seconds x n), given back when a task fails\n"
	"                          or is deleted, settled at what was made (over it:\n"
	"                          429 insufficient_quota)\n"
	"  --seconds-per-month N   the same for a UTC month\n"
	"  --cost-per-month X      at most X (in usage.currency) a UTC month at the\n"
	"                          models' prices (models.NAME.price)\n"
	"  --max-in-flight N       at most N tasks queued or in progress at once\n"
	"                          (over it: 429 rate_limit_exceeded)\n"
	"export writes the keys named (default: every key) as JSON, each with its\n"
	"secret's SHA-256 (never the secret), limits and webhook endpoints (with their\n"
	"signing secrets: keep the file secret), to stdout or -o FILE (mode 0600).\n"
	"import adds the file's keys and endpoints to this node in one transaction:\n"
	"a malformed file or a conflict writes nothing; the same file twice changes\n"
	"nothing; a key id that is here with another secret is refused unless\n"
	"--replace.  See docs/cluster.md.\n";

static const char usage_check[] =
	"Usage: reelgate check-config [-c FILE]\n"
	"\n"
	"Checks the configuration file and prints what is wrong, with the key.\n";

static const char usage_db[] =
	"Usage: reelgate db check [-c FILE]\n"
	"       reelgate db cancels [-c FILE]\n"
	"\n"
	"check verifies that every index entry points at a record, every record is\n"
	"indexed, and every record's cached video object (what GET answers) is\n"
	"what the record says.  Exit status 0 when consistent, 1 otherwise.\n"
	"\n"
	"cancels lists the upstream jobs of videos deleted while queued or in\n"
	"progress, one per line: video id, state (pending, cancelled, gone,\n"
	"refused, failed, not_submitted, unknown, unsupported), backend, upstream\n"
	"job id, deleted at, and what the upstream said.  Kept for a week.\n";

struct opts {
	const char *config;
	const char *name;
	int creates_per_minute; /* -1: not given */
	/* budgets (-1: not given) */
	int64_t seconds_per_day, seconds_per_month, cost_per_month, max_in_flight;
	int foreground;
	int help;
	int version;
	int argi; /* first positional argument after options */
};

/* count_arg reads a whole number 0..1e9 given to option name. */
static int count_arg(const char *name, const char *arg, int64_t *out)
{
	char *end;
	long long v = strtoll(arg, &end, 10);
	if (*end != '\0' || arg[0] == '\0' || v < 0 || v > 1000000000) {
		fprintf(stderr, "reelgate: %s takes a whole number from 0 to 1000000000\n", name);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "name", required_argument, NULL, 'n' },
		{ "creates-per-minute", required_argument, NULL, 'r' },
		{ "seconds-per-day", required_argument, NULL, 'D' },
		{ "seconds-per-month", required_argument, NULL, 'M' },
		{ "cost-per-month", required_argument, NULL, 'C' },
		{ "max-in-flight", required_argument, NULL, 'F' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	memset(o, 0, sizeof(*o));
	o->config = config_default_path();
	o->creates_per_minute = -1;
	o->seconds_per_day = o->seconds_per_month = o->cost_per_month = o->max_in_flight = -1;
	optind = 1;
	opterr = 1;
	int ch;
	while ((ch = getopt_long(argc, argv, "c:n:fhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 'n': o->name = optarg; break;
		case 'r': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end != '\0' || optarg[0] == '\0' || v < 0 || v > 1000000) {
				fprintf(stderr,
					"reelgate: --creates-per-minute takes a number from 0 to 1000000\n");
				return -1;
			}
			o->creates_per_minute = (int)v;
			break;
		}
		case 'D':
			if (count_arg("--seconds-per-day", optarg, &o->seconds_per_day) < 0)
				return -1;
			break;
		case 'M':
			if (count_arg("--seconds-per-month", optarg, &o->seconds_per_month) < 0)
				return -1;
			break;
		case 'F':
			if (count_arg("--max-in-flight", optarg, &o->max_in_flight) < 0)
				return -1;
			break;
		case 'C':
			if (usage_money_parse_text(optarg, &o->cost_per_month) < 0) {
				fprintf(stderr,
					"reelgate: --cost-per-month takes an amount >= 0 with at most 6 decimals (e.g. 250 or 12.50)\n");
				return -1;
			}
			break;
		case 'f': o->foreground = 1; break;
		case 'h': o->help = 1; break;
		case 'V': o->version = 1; break;
		default: return -1;
		}
	}
	o->argi = optind;
	return 0;
}

struct config *cli_load_config(const char *path)
{
	char err[1024];
	struct config *cfg = config_load(path, err, sizeof(err));
	if (cfg == NULL)
		fprintf(stderr, "reelgate: %s\n", err);
	return cfg;
}

struct store *cli_open_store(const struct config *cfg)
{
	struct store *st;
	struct store_options so = { cfg->map_bytes, cfg->max_map_bytes, cfg->durable };
	mkdir(cfg->data_dir, 0755);
	enum rg_err err = store_open(&st, cfg->data_dir, &so);
	if (err != RG_OK) {
		fprintf(stderr, "reelgate: cannot open the database in %s/db: %s\n", cfg->data_dir,
			rg_strerror(err));
		return NULL;
	}
	return st;
}

int cli_with_store(const char *path, cli_store_fn fn, void *arg)
{
	struct config *cfg = cli_load_config(path);
	if (cfg == NULL)
		return 2;
	struct store *st = cli_open_store(cfg);
	int rc = st != NULL ? fn(st, cfg, arg) : 1;
	store_close(st);
	config_free(cfg);
	return rc;
}

/* limits_text: a key's limits as `keys list` shows them. */
static void limits_text(struct json_object *l, char *out, size_t n)
{
	struct buf b;
	char money[40];
	buf_init(&b, n - 1);
	int64_t v;
	if ((v = rec_i64(l, "creates_per_minute")) > 0)
		buf_printf(&b, "%s%lld creates/min", b.len ? ", " : "", (long long)v);
	if ((v = rec_i64(l, "seconds_per_day")) > 0)
		buf_printf(&b, "%s%lld s/day", b.len ? ", " : "", (long long)v);
	if ((v = rec_i64(l, "seconds_per_month")) > 0)
		buf_printf(&b, "%s%lld s/month", b.len ? ", " : "", (long long)v);
	if ((v = rec_i64(l, "cost_per_month_micros")) > 0) {
		usage_money_text(v, money, sizeof(money));
		buf_printf(&b, "%s%s/month", b.len ? ", " : "", money);
	}
	if ((v = rec_i64(l, "max_in_flight")) > 0)
		buf_printf(&b, "%s%lld in flight", b.len ? ", " : "", (long long)v);
	snprintf(out, n, "%s", b.len ? b.data : "no limit");
	buf_deinit(&b);
}

static int print_key(struct json_object *rec, void *arg)
{
	(void)arg;
	struct json_object *v;
	const char *id = json_object_object_get_ex(rec, "id", &v) ? json_object_get_string(v) : "?";
	const char *name =
		json_object_object_get_ex(rec, "name", &v) ? json_object_get_string(v) : "";
	time_t created = json_object_object_get_ex(rec, "created_at", &v)
				 ? (time_t)json_object_get_int64(v)
				 : 0;
	int revoked = json_object_object_get_ex(rec, "revoked_at", &v) && v != NULL;
	char when[32];
	struct tm tm;
	gmtime_r(&created, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	char limit[256];
	limits_text(rec_obj(rec, "limits"), limit, sizeof(limit));
	printf("%s\t%s\t%s\t%s\t%s\n", id, name, when, revoked ? "revoked" : "active", limit);
	return 0;
}

/* ---- reelgate keys ------------------------------------------------------ */

/* key_error says why a change to an existing key failed. */
static const char *key_error(enum rg_err err)
{
	return err == RG_ENOENT ? "no such key" : rg_strerror(err);
}

static int check_create(const struct opts *o)
{
	if (o->name == NULL || o->name[0] == '\0' || strlen(o->name) > 128) {
		fprintf(stderr, "reelgate: keys create needs --name NAME (1..128 characters)\n");
		return -1;
	}
	return 0;
}

/* limits_given: does o set any limit? */
static int limits_given(const struct opts *o)
{
	return o->creates_per_minute >= 0 || o->seconds_per_day >= 0 || o->seconds_per_month >= 0 ||
	       o->cost_per_month >= 0 || o->max_in_flight >= 0;
}

static int check_limit(const struct opts *o)
{
	if (!limits_given(o)) {
		fprintf(stderr,
			"reelgate: keys limit needs at least one of --creates-per-minute N, --seconds-per-day N, --seconds-per-month N, --cost-per-month X, --max-in-flight N\n");
		return -1;
	}
	return 0;
}

/* apply_limits changes the limits o gives, leaving the others. */
static void apply_limits(const struct opts *o, struct key_limits *lim)
{
	if (o->creates_per_minute >= 0)
		lim->creates_per_minute = o->creates_per_minute;
	if (o->seconds_per_day >= 0)
		lim->seconds_per_day = o->seconds_per_day;
	if (o->seconds_per_month >= 0)
		lim->seconds_per_month = o->seconds_per_month;
	if (o->cost_per_month >= 0)
		lim->cost_per_month_micros = o->cost_per_month;
	if (o->max_in_flight >= 0)
		lim->max_in_flight = o->max_in_flight;
}

static int keys_create(struct store *st, const struct opts *o, const char *key_id)
{
	(void)key_id;
	char secret[AUTH_SECRET_MAX], id[ID_MAX];
	enum rg_err err = auth_key_create(st, o->name, secret, id);
	if (err == RG_OK && limits_given(o)) {
		struct key_limits lim;
		memset(&lim, 0, sizeof(lim));
		apply_limits(o, &lim);
		err = auth_key_set_limits(st, id, &lim);
	}
	if (err != RG_OK) {
		fprintf(stderr, "reelgate: cannot create key: %s\n", rg_strerror(err));
		return 1;
	}
	printf("%s\n", secret);
	fprintf(stderr, "reelgate: created key %s (%s); the secret above is not shown again\n", id,
		o->name);
	return 0;
}

static int keys_list(struct store *st, const struct opts *o, const char *key_id)
{
	(void)o;
	(void)key_id;
	return store_key_list(st, print_key, NULL) == RG_OK ? 0 : 1;
}

static int keys_revoke(struct store *st, const struct opts *o, const char *key_id)
{
	(void)o;
	enum rg_err err = auth_key_revoke(st, key_id);
	if (err != RG_OK) {
		fprintf(stderr, "reelgate: cannot revoke %s: %s\n", key_id, key_error(err));
		return 1;
	}
	fprintf(stderr, "reelgate: revoked key %s\n", key_id);
	return 0;
}

static int keys_limit(struct store *st, const struct opts *o, const char *key_id)
{
	struct key_limits lim;
	enum rg_err err = auth_key_limits(st, key_id, &lim);
	if (err == RG_OK) {
		apply_limits(o, &lim);
		err = auth_key_set_limits(st, key_id, &lim);
	}
	struct json_object *rec = NULL;
	if (err == RG_OK)
		err = store_key_get(st, key_id, &rec);
	if (err != RG_OK) {
		fprintf(stderr, "reelgate: cannot change %s: %s\n", key_id, key_error(err));
		return 1;
	}
	char text[256];
	limits_text(rec_obj(rec, "limits"), text, sizeof(text));
	json_object_put(rec);
	fprintf(stderr, "reelgate: key %s: %s\n", key_id, text);
	return 0;
}

/* A `reelgate keys` subcommand.  Its arguments are checked (a mistake exits
 * 2) before the config is read; run does the work on the open store and
 * returns the exit status. */
struct keys_cmd {
	const char *name;
	const char *args;		    /* what follows "reelgate keys NAME" in the usage */
	const char *summary;		    /* its line in `reelgate --help` */
	int takes_key_id;		    /* needs a KEY_ID argument */
	int (*check)(const struct opts *o); /* -1 after saying what is missing; may be NULL */
	int (*run)(struct store *st, const struct opts *o, const char *key_id);
};

static const struct keys_cmd keys_cmds[] = {
	{ "create", "--name NAME [--creates-per-minute N]",
	  "create an API key; prints its secret once", 0, check_create, keys_create },
	{ "list", "", "list API keys", 0, NULL, keys_list },
	{ "revoke", "KEY_ID", "revoke an API key", 1, NULL, keys_revoke },
	{ "limit",
	  "KEY_ID [--creates-per-minute N] [--seconds-per-day N] [--seconds-per-month N]\n"
	  "                  [--cost-per-month X] [--max-in-flight N]",
	  "set an API key's limits and budgets", 1, check_limit, keys_limit },
	/* cli_keys.c's (run NULL) */
	{ "export", "[KEY_ID ...] [-o FILE]",
	  "write keys and their webhook endpoints to a file (docs/cluster.md)", 0, NULL, NULL },
	{ "import", "FILE|- [--replace]", "add or update the keys of an exported file", 0, NULL,
	  NULL },
};

#define KEYS_CMDS_COUNT (sizeof(keys_cmds) / sizeof(keys_cmds[0]))

static const struct keys_cmd *keys_cmd_find(const char *name)
{
	for (size_t i = 0; i < KEYS_CMDS_COUNT; i++)
		if (strcmp(keys_cmds[i].name, name) == 0)
			return &keys_cmds[i];
	return NULL;
}

void cli_keys_usage(FILE *f)
{
	for (size_t i = 0; i < KEYS_CMDS_COUNT; i++) {
		const struct keys_cmd *c = &keys_cmds[i];
		fprintf(f, "%s reelgate keys %s%s%s [-c FILE]\n", i == 0 ? "Usage:" : "      ",
			c->name, c->args[0] ? " " : "", c->args);
	}
	fputs(usage_keys_notes, f);
}

/* One `reelgate keys` subcommand to run once the store is open. */
struct keys_job {
	const struct keys_cmd *c;
	const struct opts *o;
	const char *key_id;
};

static int run_keys_cmd(struct store *st, const struct config *cfg, void *arg)
{
	(void)cfg;
	const struct keys_job *j = arg;
	return j->c->run(st, j->o, j->key_id);
}

static int cmd_keys(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cli_keys_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const struct keys_cmd *named = keys_cmd_find(argv[1]);
	if (named != NULL && named->run == NULL)
		return cli_keys_file(argc - 1, argv + 1);
	struct opts o;
	if (parse_opts(argc - 1, argv + 1, &o) < 0) {
		cli_keys_usage(stderr);
		return 2;
	}
	if (o.help) {
		cli_keys_usage(stdout);
		return 0;
	}
	const struct keys_cmd *c = keys_cmd_find(argv[1]);
	if (c == NULL) {
		fprintf(stderr, "reelgate: unknown keys command '%s'\n", argv[1]);
		cli_keys_usage(stderr);
		return 2;
	}
	const char *key_id = o.argi < argc - 1 ? argv[1 + o.argi] : NULL;
	if (c->takes_key_id && key_id == NULL) {
		fprintf(stderr, "reelgate: keys %s needs a KEY_ID (see reelgate keys list)\n",
			c->name);
		return 2;
	}
	if (c->check != NULL && c->check(&o) < 0)
		return 2;
	struct keys_job job = { c, &o, key_id };
	return cli_with_store(o.config, run_keys_cmd, &job);
}

static void print_line(const char *line, void *arg)
{
	(void)arg;
	printf("%s\n", line);
}

static int print_cancel(struct json_object *e, void *arg)
{
	(void)arg;
	struct json_object *video = rec_obj(e, "video");
	const char *backend = video ? remote_get(video, "backend") : NULL;
	const char *up = video ? remote_get(video, "upstream_id") : NULL;
	const char *id = rec_str(e, "id"), *state = rec_str(e, "state"),
		   *msg = rec_str(e, "message");
	char when[32];
	time_t t = (time_t)(rec_i64(e, "deleted_at") / 1000);
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	printf("%s\t%s\t%s\t%s\t%s\t%s\n", id ? id : "-", state ? state : "-",
	       backend ? backend : "-", up ? up : "-", when, msg ? msg : "");
	return 0;
}

static int cmd_db(int argc, char **argv)
{
	struct opts o;
	int cancels = argc >= 2 && strcmp(argv[1], "cancels") == 0;
	if (argc < 2 || (strcmp(argv[1], "check") != 0 && !cancels)) {
		int help =
			argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
		fputs(usage_db, help ? stdout : stderr);
		return help ? 0 : 2;
	}
	if (parse_opts(argc - 1, argv + 1, &o) < 0)
		return 2;
	if (o.help) {
		fputs(usage_db, stdout);
		return 0;
	}
	struct config *cfg = cli_load_config(o.config);
	if (cfg == NULL)
		return 2;
	struct store *st = cli_open_store(cfg);
	int rc = 1;
	if (st != NULL && cancels) {
		enum rg_err err = store_cancel_list(st, print_cancel, NULL);
		if (err == RG_OK)
			rc = 0;
		else
			fprintf(stderr, "reelgate: db cancels failed: %s\n", rg_strerror(err));
		store_close(st);
	} else if (st != NULL) {
		enum rg_err err = store_check(st, print_line, NULL);
		if (err == RG_OK) {
			printf("ok: indexes and cached video objects agree with records\n");
			rc = 0;
		} else if (err != RG_ECORRUPT) {
			fprintf(stderr, "reelgate: db check failed: %s\n", rg_strerror(err));
		}
		store_close(st);
	}
	config_free(cfg);
	return rc;
}

static int cmd_check_config(int argc, char **argv)
{
	struct opts o;
	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	if (o.help) {
		fputs(usage_check, stdout);
		return 0;
	}
	struct config *cfg = cli_load_config(o.config);
	if (cfg == NULL)
		return 1;
	printf("%s: ok (%zu model%s, %zu backend%s, listen %s, data_dir %s)\n", cfg->path,
	       cfg->nmodels, cfg->nmodels == 1 ? "" : "s", cfg->nbackends,
	       cfg->nbackends == 1 ? "" : "s", cfg->listen, cfg->data_dir);
	config_free(cfg);
	return 0;
}

static int cmd_serve(int argc, char **argv)
{
	struct opts o;
	if (parse_opts(argc, argv, &o) < 0) {
		fputs(usage_serve, stderr);
		return 2;
	}
	if (o.help) {
		fputs(usage_serve, stdout);
		return 0;
	}
	return master_serve(o.config, o.foreground);
}

static void print_usage_main(FILE *f)
{
	fputs(usage_main_head, f);
	for (size_t i = 0; i < KEYS_CMDS_COUNT; i++)
		fprintf(f, "  keys %-10s%s\n", keys_cmds[i].name, keys_cmds[i].summary);
	fprintf(f, usage_main_tail, config_default_path());
}

int cli_main(int argc, char **argv)
{
	if (argc < 2) {
		print_usage_main(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 ||
	    strcmp(cmd, "version") == 0) {
		printf("reelgate %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		print_usage_main(stdout);
		return 0;
	}
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(cmd, "keys") == 0)
		return cmd_keys(argc - 1, argv + 1);
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check_config(argc - 1, argv + 1);
	if (strcmp(cmd, "db") == 0)
		return cmd_db(argc - 1, argv + 1);
	if (strcmp(cmd, "webhooks") == 0)
		return cli_webhooks(argc - 1, argv + 1);
	if (strcmp(cmd, "usage") == 0)
		return cli_usage(argc - 1, argv + 1);
	fprintf(stderr, "reelgate: unknown command '%s'\n", cmd);
	print_usage_main(stderr);
	return 2;
}
