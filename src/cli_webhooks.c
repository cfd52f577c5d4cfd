/*
 * cli_webhooks: `reelgate webhooks`, the endpoints of each API key and the
 * deliveries of their events (store_webhooks.c, webhook.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "id.h"
#include "record.h"
#include "store.h"
#include "webhook.h"

#define ROTATION_OVERLAP_MS (24LL * 3600 * 1000)

static const char usage[] =
	"Usage: reelgate webhooks add KEY_ID URL [--events TYPE,TYPE] [-c FILE]\n"
	"       reelgate webhooks list [KEY_ID] [-c FILE]\n"
	"       reelgate webhooks remove ENDPOINT_ID [-c FILE]\n"
	"       reelgate webhooks rotate ENDPOINT_ID [-c FILE]\n"
	"       reelgate webhooks enable ENDPOINT_ID [-c FILE]\n"
	"       reelgate webhooks deliveries ENDPOINT_ID [-c FILE]\n"
	"       reelgate webhooks redeliver DELIVERY_ID [-c FILE]\n"
	"\n"
	"An endpoint receives the events of one API key's videos (video.completed,\n"
	"video.failed; --events chooses), signed the Standard Webhooks way with its\n"
	"whsec_ secret.  add prints the endpoint's id, then its secret, once.\n"
	"rotate prints a new secret; the old one keeps signing too for 24 hours.\n"
	"An endpoint that answers 410 is disabled; enable turns it back on.\n"
	"remove deletes an endpoint; its pending deliveries fail.\n"
	"deliveries lists an endpoint's deliveries of the last 30 days, one per\n"
	"line: delivery id, event id, type, video id, state (pending, delivered,\n"
	"failed, disabled), attempts, last HTTP status, next try or when it ended\n"
	"(UTC), and the last error.  redeliver sends one again (same webhook-id).\n";

static const char *const event_types[] = { "video.completed", "video.failed", NULL };

static void iso(int64_t ms, char *out, size_t n)
{
	if (ms <= 0) {
		snprintf(out, n, "-");
		return;
	}
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* events_json parses "a,b" into an array of known types; NULL (said why)
 * when one is unknown. */
static struct json_object *events_json(const char *list)
{
	struct json_object *a = json_object_new_array();
	char copy[256], *save = NULL;
	snprintf(copy, sizeof(copy), "%s", list);
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		size_t i = 0;
		while (event_types[i] && strcmp(event_types[i], t) != 0)
			i++;
		if (event_types[i] == NULL) {
			fprintf(stderr,
				"reelgate: unknown event type '%s' (known: video.completed, video.failed)\n",
				t);
			json_object_put(a);
			return NULL;
		}
		json_object_array_add(a, json_object_new_string(t));
	}
	if (json_object_array_length(a) == 0) {
		fprintf(stderr, "reelgate: --events names no event type\n");
		json_object_put(a);
		return NULL;
	}
	return a;
}

static int add(struct store *st, const char *key_id, const char *url, const char *events)
{
	struct json_object *key = NULL;
	if (store_key_get(st, key_id, &key) != RG_OK) {
		fprintf(stderr, "reelgate: no API key %s (see reelgate keys list)\n", key_id);
		return 1;
	}
	json_object_put(key);
	struct json_object *ev = events ? events_json(events) : NULL;
	if (events && ev == NULL)
		return 2;
	char id[ID_MAX], secret[128];
	if (id_prefixed_new(id, sizeof(id), "we_", 12) < 0 ||
	    webhook_secret_new(secret, sizeof(secret)) < 0) {
		fprintf(stderr, "reelgate: no random bytes\n");
		json_object_put(ev);
		return 1;
	}
	struct json_object *ep = json_object_new_object();
	json_object_object_add(ep, "id", json_object_new_string(id));
	json_object_object_add(ep, "key_id", json_object_new_string(key_id));
	json_object_object_add(ep, "url", json_object_new_string(url));
	if (ev)
		json_object_object_add(ep, "events", ev);
	json_object_object_add(ep, "secret", json_object_new_string(secret));
	json_object_object_add(ep, "created_at_ms", json_object_new_int64(wall_ms()));
	json_object_object_add(ep, "state", json_object_new_string("enabled"));
	enum rg_err err = store_webhook_put(st, ep);
	json_object_put(ep);
	if (err != RG_OK) {
		fprintf(stderr, "reelgate: cannot add the endpoint: %s\n", rg_strerror(err));
		return 1;
	}
	printf("%s\n%s\n", id, secret);
	fprintf(stderr, "reelgate: endpoint %s for key %s; the secret is not shown again\n", id,
		key_id);
	return 0;
}

static int print_endpoint(struct json_object *ep, void *arg)
{
	(void)arg;
	struct json_object *ev = NULL;
	char events[128] = "all", created[32];
	if (json_object_object_get_ex(ep, "events", &ev) &&
	    json_object_is_type(ev, json_type_array)) {
		size_t at = 0;
		for (size_t i = 0; i < json_object_array_length(ev) && at < sizeof(events); i++)
			at += (size_t)snprintf(
				events + at, sizeof(events) - at, "%s%s", i ? "," : "",
				json_object_get_string(json_object_array_get_idx(ev, i)));
	}
	iso(rec_i64(ep, "created_at_ms"), created, sizeof(created));
	const char *reason = rec_str(ep, "disabled_reason");
	printf("%s\t%s\t%s\t%s\t%s\t%s%s%s\n", rec_str(ep, "id"), rec_str(ep, "key_id"),
	       rec_str(ep, "url"), events, created, rec_str(ep, "state"),
	       reason && strcmp(rec_str(ep, "state"), "enabled") != 0 ? ": " : "",
	       reason && strcmp(rec_str(ep, "state"), "enabled") != 0 ? reason : "");
	return 0;
}

/* load_endpoint reads id, saying why not. */
static struct json_object *load_endpoint(struct store *st, const char *id)
{
	struct json_object *ep = NULL;
	enum rg_err err = store_webhook_get(st, id, &ep);
	if (err != RG_OK)
		fprintf(stderr, "reelgate: no webhook endpoint %s (see reelgate webhooks list)\n",
			id);
	return err == RG_OK ? ep : NULL;
}

static int rotate(struct store *st, const char *id)
{
	struct json_object *ep = load_endpoint(st, id);
	char secret[128];
	if (ep == NULL)
		return 1;
	if (webhook_secret_new(secret, sizeof(secret)) < 0) {
		json_object_put(ep);
		return 1;
	}
	json_object_object_add(ep, "old_secret", json_object_new_string(rec_str(ep, "secret")));
	json_object_object_add(ep, "old_until",
			       json_object_new_int64(wall_ms() + ROTATION_OVERLAP_MS));
	json_object_object_add(ep, "secret", json_object_new_string(secret));
	enum rg_err err = store_webhook_put(st, ep);
	json_object_put(ep);
	if (err != RG_OK) {
		fprintf(stderr, "reelgate: cannot rotate: %s\n", rg_strerror(err));
		return 1;
	}
	printf("%s\n", secret);
	fprintf(stderr, "reelgate: endpoint %s: new secret; the old one also signs for 24 hours\n",
		id);
	return 0;
}

static int enable(struct store *st, const char *id)
{
	struct json_object *ep = load_endpoint(st, id);
	if (ep == NULL)
		return 1;
	json_object_object_add(ep, "state", json_object_new_string("enabled"));
	json_object_object_del(ep, "disabled_reason");
	enum rg_err err = store_webhook_put(st, ep);
	json_object_put(ep);
	if (err != RG_OK) {
		fprintf(stderr, "reelgate: cannot enable: %s\n", rg_strerror(err));
		return 1;
	}
	fprintf(stderr, "reelgate: endpoint %s enabled\n", id);
	return 0;
}

static int print_delivery(struct json_object *d, void *arg)
{
	const char *ep = rec_str(d, "endpoint_id");
	if (ep == NULL || strcmp(ep, arg) != 0)
		return 0;
	const char *state = rec_str(d, "state"), *err = rec_str(d, "last_error");
	char when[32];
	int pending = state && strcmp(state, "pending") == 0;
	iso(rec_i64(d, pending ? "next_at" : "done_at"), when, sizeof(when));
	struct json_object *st = NULL;
	char status[16] = "-";
	if (json_object_object_get_ex(d, "last_status", &st) && st)
		snprintf(status, sizeof(status), "%lld", (long long)json_object_get_int64(st));
	printf("%s\t%s\t%s\t%s\t%s\t%lld\t%s\t%s\t%s%s\n", rec_str(d, "id"), rec_str(d, "event_id"),
	       rec_str(d, "type"), rec_str(d, "video_id"), state ? state : "-",
	       (long long)rec_i64(d, "attempts"), status, when, err ? err : "",
	       rec_str(d, "url") && json_object_object_get_ex(d, "callback", NULL)
		       ? " (callback_url)"
		       : "");
	return 0;
}

static int redeliver(struct store *st, const char *id)
{
	struct json_object *d = NULL;
	if (store_delivery_get(st, id, &d) != RG_OK) {
		fprintf(stderr, "reelgate: no delivery %s (see reelgate webhooks deliveries)\n",
			id);
		return 1;
	}
	if (rec_str(d, "endpoint_id") == NULL) {
		fprintf(stderr, "reelgate: delivery %s has no endpoint to sign it\n", id);
		json_object_put(d);
		return 1;
	}
	json_object_object_add(d, "state", json_object_new_string("pending"));
	json_object_object_add(d, "attempts", json_object_new_int(0));
	json_object_object_add(d, "next_at", json_object_new_int64(wall_ms()));
	json_object_object_del(d, "done_at");
	enum rg_err err = store_delivery_redeliver(st, d);
	json_object_put(d);
	if (err != RG_OK) {
		fprintf(stderr, "reelgate: cannot redeliver: %s\n", rg_strerror(err));
		return 1;
	}
	fprintf(stderr, "reelgate: delivery %s is pending again\n", id);
	return 0;
}

int cli_webhooks(int argc, char **argv)
{
	const char *config = config_default_path(), *events = NULL, *pos[3] = { NULL };
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
			config = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			config = a + 9;
		} else if (strcmp(a, "--events") == 0 && i + 1 < argc) {
			events = argv[++i];
		} else if (strncmp(a, "--events=", 9) == 0) {
			events = a + 9;
		} else if (a[0] == '-' || npos == 3) {
			fprintf(stderr, "reelgate: webhooks: unexpected argument '%s'\n", a);
			fputs(usage, stderr);
			return 2;
		} else {
			pos[npos++] = a;
		}
	}
	static const struct {
		const char *name;
		int min, max;
	} cmds[] = { { "add", 3, 3 },	   { "list", 1, 2 },   { "remove", 2, 2 },
		     { "rotate", 2, 2 },   { "enable", 2, 2 }, { "deliveries", 2, 2 },
		     { "redeliver", 2, 2 } };
	size_t c = 0;
	while (npos > 0 && c < sizeof(cmds) / sizeof(cmds[0]) && strcmp(cmds[c].name, pos[0]) != 0)
		c++;
	if (npos == 0 || c == sizeof(cmds) / sizeof(cmds[0]) || npos < cmds[c].min ||
	    npos > cmds[c].max) {
		if (npos > 0 && c == sizeof(cmds) / sizeof(cmds[0]))
			fprintf(stderr, "reelgate: unknown webhooks command '%s'\n", pos[0]);
		fputs(usage, stderr);
		return 2;
	}
	if (events && strcmp(pos[0], "add") != 0) {
		fprintf(stderr, "reelgate: --events goes with webhooks add\n");
		return 2;
	}
	if (c == 0 && !webhook_url_ok(pos[2])) {
		fprintf(stderr,
			"reelgate: the URL must be http:// or https:// with a host (at most "
			"2048 printable characters)\n");
		return 2;
	}
	struct config *cfg = cli_load_config(config);
	if (cfg == NULL)
		return 2;
	struct store *st = cli_open_store(cfg);
	int rc = 1;
	if (st != NULL) {
		enum rg_err err = RG_OK;
		switch (c) {
		case 0: rc = add(st, pos[1], pos[2], events); break;
		case 1:
			err = store_webhook_list(st, pos[1], print_endpoint, NULL);
			rc = err == RG_OK ? 0 : 1;
			break;
		case 2:
			err = store_webhook_remove(st, pos[1]);
			if (err == RG_ENOENT)
				fprintf(stderr, "reelgate: no webhook endpoint %s\n", pos[1]);
			else if (err == RG_OK)
				fprintf(stderr, "reelgate: endpoint %s removed\n", pos[1]);
			rc = err == RG_OK ? 0 : 1;
			err = RG_OK;
			break;
		case 3: rc = rotate(st, pos[1]); break;
		case 4: rc = enable(st, pos[1]); break;
		case 5: {
			struct json_object *ep = load_endpoint(st, pos[1]);
			if (ep != NULL) {
				json_object_put(ep);
				err = store_delivery_list(st, print_delivery, (void *)pos[1]);
				rc = err == RG_OK ? 0 : 1;
			}
			break;
		}
		default: rc = redeliver(st, pos[1]); break;
		}
		if (err != RG_OK)
			fprintf(stderr, "reelgate: webhooks %s failed: %s\n", pos[0],
				rg_strerror(err));
		store_close(st);
	}
	config_free(cfg);
	return rc;
}
