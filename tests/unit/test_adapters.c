/* The conformance suite of the backend modules (backend.h): one table of
 * requests and answers run against every HTTP module in the registry, the
 * way Knot runs one set of database tests against each implementation;
 * then each module's own cases.
 *
 * Every module is configured as reelgate would configure it (config_parse:
 * the module's check; backend_init: its init) from a sample entry, and
 * must, for every phase it can be asked:
 *   - build a request whose URL is on its base_url (credentials go only to
 *     the provider's own host), or refuse with a code and a message;
 *   - map every answer class to a verdict without crashing: no answer,
 *     5xx, 429, 401/403, 200 with garbage, empty, huge, non-UTF-8, a JSON
 *     null, array or empty object;
 *   - keep the invariants: no answer and 5xx/429 retry; 401/403 never
 *     succeed; a failure has a code and a message, valid UTF-8, without
 *     the module's secrets; a submit answered with anything it cannot read
 *     is an unknown outcome (maybe_created: reconciled, never resent
 *     blind); an accepted submit names the upstream job; a success carries
 *     what the download needs.
 * A module added to the registry without a sample here fails the suite. */
#include <check.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "codec.h"
#include "config.h"
#include "record.h"
#include "testutil.h"

#define SECRET_A "sk-conformance-secret-a"
#define SECRET_B "sk-conformance-secret-b"

/* A sample entry per HTTP module: @WF@ is replaced by a workflow file. */
struct sample {
	const char *type;
	const char *entry;
};

static const struct sample samples[] = {
	{ "openai",
	  "{\"type\":\"openai\",\"base_url\":\"https://up.example/v1\",\"api_key\":\"" SECRET_A
	  "\"}" },
	{ "kling",
	  "{\"type\":\"kling\",\"base_url\":\"https://up.example\",\"access_key\":\"" SECRET_A
	  "\",\"secret_key\":\"" SECRET_B "\"}" },
	{ "wan",
	  "{\"type\":\"wan\",\"base_url\":\"https://up.example/api/v1\",\"api_key\":\"" SECRET_A
	  "\"}" },
	{ "comfyui",
	  "{\"type\":\"comfyui\",\"base_url\":\"https://up.example\",\"workflow\":\"@WF@\","
	  "\"inputs\":{\"prompt\":[\"6\",\"text\"],\"image\":[\"52\",\"image\"],"
	  "\"seed\":[\"3\",\"seed\"]}}" },
	{ "minimax",
	  "{\"type\":\"minimax\",\"base_url\":\"https://up.example/v1\",\"api_key\":\"" SECRET_A
	  "\"}" },
	{ "veo",
	  "{\"type\":\"veo\",\"base_url\":\"https://up.example/v1beta\",\"api_key\":\"" SECRET_A
	  "\"}" },
	{ "seedance",
	  "{\"type\":\"seedance\",\"base_url\":\"https://up.example/api/v3\",\"api_key\":\"" SECRET_A
	  "\"}" },
	{ "vertex",
	  "{\"type\":\"vertex\",\"base_url\":\"https://up.example/v1\",\"project\":\"p-1\","
	  "\"location\":\"us-central1\",\"access_token\":\"" SECRET_A "\"}" },
	{ "luma",
	  "{\"type\":\"luma\",\"base_url\":\"https://up.example/dream-machine/v1\",\"api_key\":\"" SECRET_A
	  "\"}" },
	{ "vidu",
	  "{\"type\":\"vidu\",\"base_url\":\"https://up.example/ent/v2\",\"api_key\":\"" SECRET_A
	  "\"}" },
	{ "runway",
	  "{\"type\":\"runway\",\"base_url\":\"https://up.example/v1\",\"api_key\":\"" SECRET_A
	  "\"}" },
	{ NULL, NULL },
};

static const char workflow[] =
	"{\"3\":{\"class_type\":\"KSampler\",\"inputs\":{\"seed\":1}},"
	"\"6\":{\"class_type\":\"CLIPTextEncode\",\"inputs\":{\"text\":\"\"}},"
	"\"52\":{\"class_type\":\"LoadImage\",\"inputs\":{\"image\":\"x.png\"}}}";

static const char record_text[] =
	"{\"id\":\"video_0190d5f2a3b4c5d6e7f8091a2b3c\",\"object\":\"video\",\"owner\":\"key_t\","
	"\"model\":\"m\",\"status\":\"in_progress\",\"progress\":0,\"created_at\":1700000000,"
	"\"prompt\":\"a fox in the snow\",\"size\":\"1280x720\",\"seconds\":\"5\",\"metadata\":{},"
	"\"params\":{\"width\":1280,\"height\":720,\"seconds\":5,\"fps\":24,\"n\":1},"
	"\"remote\":{\"backend\":\"b\",\"intent_at\":\"1700000000456\",\"upstream_id\":\"up-1\","
	"\"video_url\":\"https://cdn.example/v.mp4\"}}";

static char *tmp;
static struct config *cfg;
static struct backend be;

static const struct sample *sample_of(const char *type)
{
	for (const struct sample *s = samples; s->type; s++)
		if (strcmp(s->type, type) == 0)
			return s;
	return NULL;
}

/* setup_module configures the module's sample as backend "b". */
static void setup_module(const struct backend_type *t)
{
	const struct sample *s = sample_of(t->name);
	ck_assert_msg(s != NULL, "module %s has no sample in the conformance suite", t->name);
	char wf[512], text[4096], err[512];
	snprintf(wf, sizeof(wf), "%s/wf.json", tmp);
	FILE *f = fopen(wf, "w");
	ck_assert_ptr_nonnull(f);
	fputs(workflow, f);
	fclose(f);
	const char *at = strstr(s->entry, "@WF@");
	char entry[2048];
	if (at)
		snprintf(entry, sizeof(entry), "%.*s%s%s", (int)(at - s->entry), s->entry, wf,
			 at + 4);
	else
		snprintf(entry, sizeof(entry), "%s", s->entry);
	snprintf(
		text, sizeof(text),
		"{\"data_dir\":\"%s\",\"models\":{\"m\":{\"backends\":[{\"backend\":\"b\",\"model\":\"up-model\"}]}},"
		"\"backends\":{\"b\":%s}}",
		tmp, entry);
	cfg = config_parse(text, "conformance.json", tmp, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s: %s", t->name, err);
	const struct backend_cfg *b = config_backend(cfg, "b");
	ck_assert_ptr_eq(b->module, t);
	ck_assert_msg(backend_init(&be, b, tmp, err, sizeof(err)) == 0, "%s: %s", t->name, err);
}

static void teardown_module(void)
{
	backend_deinit(&be);
	config_free(cfg);
	cfg = NULL;
}

static void check_strings(const struct remote_answer *a)
{
	ck_assert(memchr(a->code, 0, sizeof(a->code)) && memchr(a->message, 0, sizeof(a->message)));
	ck_assert(memchr(a->upstream_id, 0, sizeof(a->upstream_id)));
	ck_assert(memchr(a->video_url, 0, sizeof(a->video_url)));
	ck_assert(a->nkeep >= 0 && a->nkeep <= ANSWER_KEEPS);
	ck_assert(codec_utf8_valid(a->code, strlen(a->code)));
	ck_assert(codec_utf8_valid(a->message, strlen(a->message)));
	ck_assert(a->progress >= -1 && a->progress <= 100);
	ck_assert_msg(strstr(a->message, SECRET_A) == NULL && strstr(a->message, SECRET_B) == NULL,
		      "a secret in the message: %s", a->message);
}

static struct remote_answer parse(enum remote_phase ph, long status, const char *body, size_t len)
{
	struct json_object *rec = json_tokener_parse(record_text);
	struct remote_answer a;
	memset(&a, 0, sizeof(a));
	a.progress = -1;
	backend_parse(&be, rec, ph, status, body, len, &a);
	json_object_put(rec);
	check_strings(&a);
	if (a.verdict == RV_FAIL)
		ck_assert_msg(a.code[0] && a.message[0], "%s: a failure without code or message",
			      be.type->name);
	if (a.maybe_created)
		ck_assert(ph == PHASE_SUBMIT);
	return a;
}

static const enum remote_phase phases[] = { PHASE_UPLOAD,      PHASE_SUBMIT,	  PHASE_RECONCILE,
					    PHASE_RECONCILE2,  PHASE_POLL,	  PHASE_POLL2,
					    PHASE_FETCH_VIDEO, PHASE_FETCH_THUMB, PHASE_CANCEL };

/* headers_hold_secret: a configured secret in one of list's headers. */
static int headers_hold_secret(const struct curl_slist *list)
{
	for (; list; list = list->next)
		if (strstr(list->data, SECRET_A) || strstr(list->data, SECRET_B))
			return 1;
	return 0;
}

/* Answers no module may take for a success. */
static const char *const garbage[] = {
	"",   "not json at all", "null",	 "[]",
	"{}", "{\"data\":null}", "\"a string\"", "{\"error\":{\"message\":\"\\u00e9\\ud800\"}}",
	NULL
};

START_TEST(every_answer_class_has_a_verdict)
{
	const struct backend_type *t = backend_type_at((size_t)_i);
	if (t == NULL || t->kind != BACKEND_HTTP)
		return;
	setup_module(t);
	char *huge = malloc(1 << 20);
	memset(huge, 'a', 1 << 20);
	static const char bad_utf8[] =
		"{\"error\":{\"message\":\"\xff\xfe\xc3\"},\"code\":\"\xe2\x82\"}";
	for (size_t p = 0; p < sizeof(phases) / sizeof(*phases); p++) {
		enum remote_phase ph = phases[p];
		struct remote_answer a = parse(ph, 0, "", 0);
		ck_assert_msg(a.verdict == RV_RETRY, "%s phase %d: no answer must be retried",
			      t->name, ph);
		static const long transient[] = { 429, 500, 502, 503 };
		for (size_t i = 0; i < 4; i++) {
			a = parse(ph, transient[i], "upstream trouble", 16);
			ck_assert_msg(a.verdict == RV_RETRY,
				      "%s phase %d: HTTP %ld must be retried", t->name, ph,
				      transient[i]);
		}
		a = parse(ph, 401, "{\"error\":{\"message\":\"bad key " SECRET_A "\"}}", 40);
		ck_assert_msg(a.verdict != RV_OK, "%s phase %d: a 401 taken as a success", t->name,
			      ph);
		a = parse(ph, 403, "", 0);
		ck_assert_msg(a.verdict != RV_OK, "%s phase %d: a 403 taken as a success", t->name,
			      ph);
		for (const char *const *g = garbage; *g; g++) {
			a = parse(ph, 200, *g, strlen(*g));
			ck_assert_msg(!(a.verdict == RV_OK && a.state == RS_SUCCEEDED),
				      "%s phase %d: '%s' taken as a finished job", t->name, ph, *g);
			if (ph == PHASE_SUBMIT)
				ck_assert_msg(
					a.verdict == RV_RETRY && a.maybe_created,
					"%s: a submit answered '%s' must be reconciled, not resent or failed",
					t->name, *g);
		}
		a = parse(ph, 200, huge, 1 << 20);
		if (ph == PHASE_SUBMIT)
			ck_assert(a.verdict == RV_RETRY && a.maybe_created);
		a = parse(ph, 400, bad_utf8, sizeof(bad_utf8) - 1);
		a = parse(ph, 200, bad_utf8, sizeof(bad_utf8) - 1);
		ck_assert(!(a.verdict == RV_OK && a.state == RS_SUCCEEDED));
	}
	free(huge);
	teardown_module();
}
END_TEST

START_TEST(every_request_goes_to_its_base_url)
{
	const struct backend_type *t = backend_type_at((size_t)_i);
	if (t == NULL || t->kind != BACKEND_HTTP)
		return;
	setup_module(t);
	for (size_t p = 0; p < sizeof(phases) / sizeof(*phases); p++) {
		enum remote_phase ph = phases[p];
		struct json_object *rec = json_tokener_parse(record_text);
		struct http_req req;
		struct remote_answer a;
		http_req_init(&req);
		memset(&a, 0, sizeof(a));
		int rc = t->build(&be, &config_model(cfg, "m")->backends[0], rec, ph, &req, &a);
		/* A download may be redirected anywhere: its credentials are
		 * only ever host headers (dropped off their origin). */
		if (rc == 0 && (ph == PHASE_FETCH_VIDEO || ph == PHASE_FETCH_THUMB))
			ck_assert_msg(!headers_hold_secret(req.headers),
				      "%s phase %d: a credential in a download's plain headers",
				      t->name, ph);
		/* (a token request goes where the credentials say) */
		if (rc == 0 && ph != PHASE_FETCH_VIDEO && !req.auth)
			ck_assert_msg(
				strncmp(req.url, be.cfg->base_url, strlen(be.cfg->base_url)) == 0,
				"%s phase %d: a request to %s, off its base_url", t->name, ph,
				req.url);
		if (rc == 0 && ph == PHASE_FETCH_VIDEO)
			ck_assert(req.url[0] != '\0');
		if (rc < 0 && a.code[0])
			ck_assert(a.message[0] != '\0');
		for (const char *const *k = t->record_keys; k && *k; k++)
			ck_assert(strlen(*k) > 0);
		http_req_deinit(&req);
		json_object_put(rec);
	}
	teardown_module();
}
END_TEST

START_TEST(every_module_is_registered_once)
{
	size_t n = 0;
	for (const struct backend_type *t; (t = backend_type_at(n)) != NULL; n++) {
		ck_assert_ptr_eq(backend_type_find(t->name), t);
		ck_assert(t->kind == BACKEND_HTTP ? t->build && t->parse
						  : t->prepare && t->progress);
		if (t->kind == BACKEND_HTTP)
			ck_assert_msg(sample_of(t->name) != NULL, "%s has no sample", t->name);
	}
	ck_assert_uint_ge(n, 4);
	ck_assert_ptr_null(backend_type_find("nosuchmodule"));
}
END_TEST

/* ---- each module's own cases ------------------------------------------------ */

/* result_url_in_answer: the module's success answer says where the result
 * is (else it is at a path of the module's own). */
static int result_url_in_answer(const char *type)
{
	static const char *const with_url[] = { "kling", "minimax", "wan",    "veo",
						"luma",	 "vidu",    "runway", NULL };
	for (const char *const *t = with_url; *t; t++)
		if (strcmp(*t, type) == 0)
			return 1;
	return 0;
}

struct own_case {
	const char *type;
	enum remote_phase ph;
	long status;
	const char *body;
	enum remote_verdict verdict;
	enum remote_state state;
	const char *upstream_id; /* NULL: not checked */
	const char *keep;	 /* "name=value" kept, or NULL */
};

static const struct own_case own[] = {
	{ "openai", PHASE_SUBMIT, 200,
	  "{\"id\":\"video_up\",\"object\":\"video\",\"status\":\"queued\"}", RV_OK, RS_QUEUED,
	  "video_up", NULL },
	{ "openai", PHASE_POLL, 200,
	  "{\"id\":\"video_up\",\"status\":\"completed\",\"progress\":100}", RV_OK, RS_SUCCEEDED,
	  "video_up", NULL },
	{ "openai", PHASE_POLL, 200,
	  "{\"id\":\"video_up\",\"status\":\"failed\",\"error\":{\"code\":\"moderation_blocked\"}}",
	  RV_OK, RS_FAILED, NULL, NULL },
	{ "openai", PHASE_SUBMIT, 400, "{\"error\":{\"message\":\"bad size\"}}", RV_FAIL,
	  RS_UNKNOWN, NULL, NULL },
	{ "kling", PHASE_SUBMIT, 200,
	  "{\"code\":0,\"data\":{\"task_id\":\"t1\",\"task_status\":\"submitted\"}}", RV_OK,
	  RS_QUEUED, "t1", NULL },
	{ "kling", PHASE_POLL, 200,
	  "{\"code\":0,\"data\":{\"task_id\":\"t1\",\"task_status\":\"succeed\","
	  "\"task_result\":{\"videos\":[{\"url\":\"https://cdn.example/k.mp4\"}]}}}",
	  RV_OK, RS_SUCCEEDED, "t1", NULL },
	{ "kling", PHASE_RECONCILE, 404, "", RV_OK, RS_NOT_FOUND, NULL, NULL },
	{ "kling", PHASE_POLL, 200,
	  "{\"code\":0,\"data\":{\"task_id\":\"t1\",\"task_status\":\"failed\","
	  "\"task_status_msg\":\"risk control\"}}",
	  RV_OK, RS_FAILED, NULL, NULL },
	{ "comfyui", PHASE_UPLOAD, 200,
	  "{\"name\":\"fox.png\",\"subfolder\":\"in\",\"type\":\"input\"}", RV_OK, RS_UNKNOWN, NULL,
	  "image_name=in/fox.png" },
	{ "comfyui", PHASE_SUBMIT, 200, "{\"prompt_id\":\"p1\",\"number\":3}", RV_OK, RS_QUEUED,
	  "p1", NULL },
	{ "comfyui", PHASE_POLL2, 200, "{\"queue_running\":[[0,\"up-1\"]],\"queue_pending\":[]}",
	  RV_OK, RS_RUNNING, "up-1", NULL },
	{ "minimax", PHASE_SUBMIT, 200,
	  "{\"task_id\":\"106916112212032\",\"base_resp\":{\"status_code\":0,"
	  "\"status_msg\":\"success\"}}",
	  RV_OK, RS_QUEUED, "106916112212032", NULL },
	{ "minimax", PHASE_POLL, 200,
	  "{\"task_id\":\"106916112212032\",\"status\":\"Queueing\",\"file_id\":\"\","
	  "\"base_resp\":{\"status_code\":0,\"status_msg\":\"success\"}}",
	  RV_OK, RS_QUEUED, NULL, NULL },
	{ "minimax", PHASE_POLL, 200,
	  "{\"task_id\":\"106916112212032\",\"status\":\"Processing\",\"file_id\":\"\","
	  "\"base_resp\":{\"status_code\":0,\"status_msg\":\"success\"}}",
	  RV_OK, RS_RUNNING, NULL, NULL },
	/* Success names a file; its URL is one lookup (PHASE_POLL2) away */
	{ "minimax", PHASE_POLL, 200,
	  "{\"task_id\":\"106916112212032\",\"status\":\"Success\","
	  "\"file_id\":\"205258526306433\",\"video_width\":1366,\"video_height\":768,"
	  "\"base_resp\":{\"status_code\":0,\"status_msg\":\"success\"}}",
	  RV_OK, RS_RUNNING, NULL, "file_id=205258526306433" },
	{ "minimax", PHASE_POLL, 200,
	  "{\"task_id\":\"106916112212032\",\"status\":\"Fail\",\"file_id\":\"\","
	  "\"base_resp\":{\"status_code\":0,\"status_msg\":\"success\"}}",
	  RV_OK, RS_FAILED, NULL, NULL },
	{ "minimax", PHASE_POLL2, 200,
	  "{\"file\":{\"file_id\":205258526306433,\"bytes\":5896337,\"created_at\":1700000000,"
	  "\"filename\":\"output_aigc.mp4\",\"purpose\":\"video_generation\","
	  "\"download_url\":\"https://cdn.example/m.mp4\"},"
	  "\"base_resp\":{\"status_code\":0,\"status_msg\":\"success\"}}",
	  RV_OK, RS_SUCCEEDED, NULL, NULL },
	/* rate limit: a wait; auth, quota, content policy, bad params: failures */
	{ "minimax", PHASE_SUBMIT, 200,
	  "{\"task_id\":\"\",\"base_resp\":{\"status_code\":1002,\"status_msg\":\"rate limit\"}}",
	  RV_RETRY, RS_UNKNOWN, NULL, NULL },
	{ "minimax", PHASE_SUBMIT, 200,
	  "{\"base_resp\":{\"status_code\":2049,\"status_msg\":\"invalid api key " SECRET_A "\"}}",
	  RV_FAIL, RS_UNKNOWN, NULL, NULL },
	{ "minimax", PHASE_SUBMIT, 200,
	  "{\"base_resp\":{\"status_code\":1026,\"status_msg\":\"input new_sensitive\"}}", RV_FAIL,
	  RS_UNKNOWN, NULL, NULL },
	{ "minimax", PHASE_POLL, 200,
	  "{\"task_id\":\"1\",\"status\":\"Fail\",\"base_resp\":{\"status_code\":1027,"
	  "\"status_msg\":\"output video sensitive\"}}",
	  RV_FAIL, RS_UNKNOWN, NULL, NULL },
	{ "wan", PHASE_SUBMIT, 200,
	  "{\"request_id\":\"r1\",\"output\":{\"task_id\":\"w1\",\"task_status\":\"PENDING\"}}",
	  RV_OK, RS_QUEUED, "w1", NULL },
	{ "wan", PHASE_POLL, 200,
	  "{\"request_id\":\"r2\",\"output\":{\"task_id\":\"w1\",\"task_status\":\"RUNNING\"}}",
	  RV_OK, RS_RUNNING, "w1", NULL },
	{ "wan", PHASE_POLL, 200,
	  "{\"request_id\":\"r3\",\"output\":{\"task_id\":\"w1\",\"task_status\":\"SUCCEEDED\","
	  "\"video_url\":\"https://oss.example/w.mp4?Expires=1\"},"
	  "\"usage\":{\"video_duration\":5,\"video_count\":1}}",
	  RV_OK, RS_SUCCEEDED, "w1", "usage={\"video_duration\":5,\"video_count\":1}" },
	{ "wan", PHASE_POLL, 200,
	  "{\"output\":{\"task_id\":\"w1\",\"task_status\":\"FAILED\",\"code\":"
	  "\"DataInspectionFailed\",\"message\":\"output video may contain inappropriate content\"}}",
	  RV_OK, RS_FAILED, "w1", NULL },
	{ "wan", PHASE_SUBMIT, 429,
	  "{\"request_id\":\"r4\",\"code\":\"Throttling.RateQuota\",\"message\":\"Requests rate "
	  "limit exceeded\"}",
	  RV_RETRY, RS_UNKNOWN, NULL, NULL },
	{ "wan", PHASE_SUBMIT, 400,
	  "{\"code\":\"Arrearage\",\"message\":\"Access denied, please make sure your account is "
	  "in good standing.\"}",
	  RV_FAIL, RS_UNKNOWN, NULL, NULL },
	{ "wan", PHASE_SUBMIT, 400,
	  "{\"code\":\"DataInspectionFailed\",\"message\":\"Input data may contain inappropriate "
	  "content.\"}",
	  RV_FAIL, RS_UNKNOWN, NULL, NULL },
	{ "wan", PHASE_RECONCILE, 200,
	  "{\"request_id\":\"r5\",\"data\":[{\"task_id\":\"old\",\"gmt_create\":1700000000000},"
	  "{\"task_id\":\"w9\",\"gmt_create\":1700000001000}],\"total\":2,\"page_no\":1}",
	  RV_OK, RS_QUEUED, NULL, NULL },
	{ "wan", PHASE_RECONCILE, 200, "{\"data\":[],\"total\":0,\"page_no\":1}", RV_OK,
	  RS_NOT_FOUND, NULL, NULL },
	{ "wan", PHASE_CANCEL, 200, "{\"request_id\":\"r6\"}", RV_OK, RS_UNKNOWN, NULL, NULL },
	{ "wan", PHASE_CANCEL, 400,
	  "{\"code\":\"UnsupportedOperation\",\"message\":\"Failed to cancel the task, please "
	  "confirm if the task is in PENDING status.\"}",
	  RV_FAIL, RS_UNKNOWN, NULL, NULL },
	{ "veo", PHASE_SUBMIT, 200, "{\"name\":\"models/veo-3.1-generate-preview/operations/op1\"}",
	  RV_OK, RS_QUEUED, "models/veo-3.1-generate-preview/operations/op1", NULL },
	{ "veo", PHASE_POLL, 200,
	  "{\"name\":\"models/veo-3.1-generate-preview/operations/op1\",\"done\":false}", RV_OK,
	  RS_RUNNING, NULL, NULL },
	{ "veo", PHASE_POLL, 200,
	  "{\"name\":\"models/v/operations/op1\",\"done\":true,\"response\":{"
	  "\"generateVideoResponse\":{\"generatedSamples\":[{\"video\":{\"uri\":"
	  "\"https://up.example/v1beta/files/f1:download?alt=media\"}}]}}}",
	  RV_OK, RS_SUCCEEDED, NULL, NULL },
	{ "veo", PHASE_POLL, 200,
	  "{\"name\":\"models/v/operations/op1\",\"done\":true,\"response\":{"
	  "\"generateVideoResponse\":{\"raiMediaFilteredCount\":1,"
	  "\"raiMediaFilteredReasons\":[\"celebrity\"]}}}",
	  RV_OK, RS_FAILED, NULL, NULL },
	{ "veo", PHASE_POLL, 200,
	  "{\"name\":\"models/v/operations/op1\",\"done\":true,\"error\":{\"code\":13,"
	  "\"message\":\"internal\",\"status\":\"INTERNAL\"}}",
	  RV_OK, RS_FAILED, NULL, NULL },
	{ "veo", PHASE_SUBMIT, 429,
	  "{\"error\":{\"code\":429,\"message\":\"quota\",\"status\":\"RESOURCE_EXHAUSTED\"}}",
	  RV_RETRY, RS_UNKNOWN, NULL, NULL },
	{ "seedance", PHASE_SUBMIT, 200, "{\"id\":\"cgt-20260405024433-sbj8r\"}", RV_OK, RS_QUEUED,
	  "cgt-20260405024433-sbj8r", NULL },
	{ "seedance", PHASE_POLL, 200,
	  "{\"id\":\"cgt-1\",\"model\":\"doubao-seedance-2-0-260128\",\"status\":\"running\"}",
	  RV_OK, RS_RUNNING, "cgt-1", NULL },
	{ "seedance", PHASE_POLL, 200,
	  "{\"id\":\"cgt-1\",\"status\":\"succeeded\",\"content\":{\"video_url\":"
	  "\"https://ark-content.tos.example/v.mp4?X-Tos-Expires=86400\"},\"usage\":"
	  "{\"completion_tokens\":108900,\"total_tokens\":108900},\"seed\":78674}",
	  RV_OK, RS_SUCCEEDED, "cgt-1", "total_tokens=108900" },
	{ "seedance", PHASE_POLL, 200,
	  "{\"id\":\"cgt-1\",\"status\":\"failed\",\"error\":{\"code\":"
	  "\"OutputVideoSensitiveContentDetected\",\"message\":\"risk\"}}",
	  RV_OK, RS_FAILED, NULL, NULL },
	{ "seedance", PHASE_POLL, 200, "{\"id\":\"cgt-1\",\"status\":\"expired\"}", RV_OK,
	  RS_FAILED, NULL, NULL },
	{ "seedance", PHASE_SUBMIT, 400,
	  "{\"error\":{\"code\":\"InputTextSensitiveContentDetected\",\"message\":\"no\"}}",
	  RV_FAIL, RS_UNKNOWN, NULL, NULL },
	{ "seedance", PHASE_SUBMIT, 429,
	  "{\"error\":{\"code\":\"RateLimitExceeded.EndpointRPMExceeded\",\"message\":\"x\"}}",
	  RV_RETRY, RS_UNKNOWN, NULL, NULL },
	{ "seedance", PHASE_RECONCILE, 200, "{\"total\":0,\"items\":[]}", RV_OK, RS_NOT_FOUND, NULL,
	  NULL },
	{ "seedance", PHASE_CANCEL, 200, "{}", RV_OK, RS_UNKNOWN, NULL, NULL },
	{ "seedance", PHASE_CANCEL, 404, "{\"error\":{\"code\":\"ResourceNotFound\"}}", RV_OK,
	  RS_NOT_FOUND, NULL, NULL },
	{ "seedance", PHASE_CANCEL, 400,
	  "{\"error\":{\"code\":\"InvalidParameter\",\"message\":\"running tasks cannot be "
	  "cancelled\"}}",
	  RV_FAIL, RS_UNKNOWN, NULL, NULL },
	{ "luma", PHASE_SUBMIT, 201,
	  "{\"id\":\"0f3ea1c4-8a4b-4a3c-9d2e-5b6f7a8b9c0d\",\"generation_type\":\"video\","
	  "\"state\":\"queued\",\"created_at\":\"2026-12-06T13:15:51.123Z\",\"model\":\"ray-2\"}",
	  RV_OK, RS_QUEUED, "0f3ea1c4-8a4b-4a3c-9d2e-5b6f7a8b9c0d", NULL },
	{ "luma", PHASE_POLL, 200, "{\"id\":\"g-1\",\"state\":\"dreaming\",\"assets\":null}", RV_OK,
	  RS_RUNNING, "g-1", NULL },
	{ "luma", PHASE_POLL, 200,
	  "{\"id\":\"g-1\",\"state\":\"completed\",\"assets\":{\"video\":"
	  "\"https://storage.cdn-luma.example/dream_machine/g-1/video.mp4\"}}",
	  RV_OK, RS_SUCCEEDED, "g-1", NULL },
	{ "luma", PHASE_POLL, 200,
	  "{\"id\":\"g-1\",\"state\":\"failed\",\"failure_reason\":\"Output failed moderation\"}",
	  RV_OK, RS_FAILED, NULL, NULL },
	{ "luma", PHASE_SUBMIT, 400,
	  "{\"detail\":\"Prompt not allowed because advanced moderation failed\"}", RV_FAIL,
	  RS_UNKNOWN, NULL, NULL },
	{ "luma", PHASE_SUBMIT, 429, "{\"detail\":\"Too many requests\"}", RV_RETRY, RS_UNKNOWN,
	  NULL, NULL },
	{ "luma", PHASE_RECONCILE, 200, "{\"generations\":[],\"count\":0,\"has_more\":false}",
	  RV_OK, RS_NOT_FOUND, NULL, NULL },
	{ "luma", PHASE_CANCEL, 204, "", RV_OK, RS_UNKNOWN, NULL, NULL },
	{ "luma", PHASE_CANCEL, 404, "{\"detail\":\"Generation not found\"}", RV_OK, RS_NOT_FOUND,
	  NULL, NULL },
	/* an edit's modify answers a Generation like a create; a source Luma
	 * will not take is a refusal */
	{ "luma", PHASE_SUBMIT, 201,
	  "{\"id\":\"g-2\",\"generation_type\":\"video\",\"state\":\"queued\",\"request\":"
	  "{\"generation_type\":\"modify_video\",\"media\":{\"url\":\"https://cdn.example/v.mp4\"},"
	  "\"mode\":\"flex_1\",\"model\":\"ray-2\"}}",
	  RV_OK, RS_QUEUED, "g-2", NULL },
	{ "luma", PHASE_SUBMIT, 400,
	  "{\"detail\":\"keyframes.frame0: generation g-1 not found or not completed\"}", RV_FAIL,
	  RS_UNKNOWN, NULL, NULL },
	{ "veo", PHASE_SUBMIT, 400,
	  "{\"error\":{\"code\":400,\"message\":\"The input video must be a video generated by "
	  "Veo.\",\"status\":\"INVALID_ARGUMENT\"}}",
	  RV_FAIL, RS_UNKNOWN, NULL, NULL },
	{ "vidu", PHASE_SUBMIT, 200,
	  "{\"task_id\":\"855713440395427840\",\"state\":\"created\",\"model\":\"viduq2\","
	  "\"payload\":\"video_0190d5f2a3b4c5d6e7f8091a2b3c\",\"credits\":10}",
	  RV_OK, RS_QUEUED, "855713440395427840", NULL },
	{ "vidu", PHASE_POLL, 200, "{\"state\":\"queueing\",\"err_code\":\"\",\"creations\":[]}",
	  RV_OK, RS_QUEUED, NULL, NULL },
	{ "vidu", PHASE_POLL, 200, "{\"state\":\"processing\",\"err_code\":\"\"}", RV_OK,
	  RS_RUNNING, NULL, NULL },
	{ "vidu", PHASE_POLL, 200,
	  "{\"state\":\"success\",\"err_code\":\"\",\"credits\":4,\"payload\":\"x\","
	  "\"creations\":[{\"id\":\"c1\",\"url\":\"https://cdn.vidu.example/v.mp4?sig=1\","
	  "\"cover_url\":\"https://cdn.vidu.example/c.jpg\"}]}",
	  RV_OK, RS_SUCCEEDED, NULL, "credits=4" },
	{ "vidu", PHASE_POLL, 200,
	  "{\"state\":\"failed\",\"err_code\":\"CreationPolicyViolation\",\"creations\":[]}", RV_OK,
	  RS_FAILED, NULL, NULL },
	{ "vidu", PHASE_SUBMIT, 400,
	  "{\"code\":400,\"reason\":\"CreditInsufficient\",\"message\":\"credit "
	  "insufficient\"}",
	  RV_FAIL, RS_UNKNOWN, NULL, NULL },
	{ "vidu", PHASE_SUBMIT, 429,
	  "{\"code\":429,\"reason\":\"QuotaExceeded\",\"message\":\"concurrency\"}", RV_RETRY,
	  RS_UNKNOWN, NULL, NULL },
	{ "vidu", PHASE_RECONCILE, 200,
	  "{\"next_page_token\":\"\",\"tasks\":[{\"id\":\"other\",\"payload\":\"video_x\"},"
	  "{\"id\":\"ours\",\"payload\":\"video_0190d5f2a3b4c5d6e7f8091a2b3c\"}]}",
	  RV_OK, RS_QUEUED, NULL, NULL },
	{ "vidu", PHASE_RECONCILE, 200, "{\"next_page_token\":\"\",\"tasks\":[]}", RV_OK,
	  RS_NOT_FOUND, NULL, NULL },
	{ "vidu", PHASE_CANCEL, 200, "{}", RV_OK, RS_UNKNOWN, NULL, NULL },
	{ "vidu", PHASE_CANCEL, 404, "{\"code\":404,\"reason\":\"TaskNotFound\"}", RV_OK,
	  RS_NOT_FOUND, NULL, NULL },
	{ "vidu", PHASE_CANCEL, 400,
	  "{\"code\":400,\"reason\":\"BadRequest\",\"message\":\"task state is scheduled, "
	  "can not cancel\"}",
	  RV_FAIL, RS_UNKNOWN, NULL, NULL },
	{ "vertex", PHASE_SUBMIT, 200,
	  "{\"name\":\"projects/p-1/locations/us-central1/publishers/google/models/veo-3.0-"
	  "generate-001/operations/op-1\"}",
	  RV_OK, RS_QUEUED,
	  "projects/p-1/locations/us-central1/publishers/google/models/veo-3.0-generate-001/"
	  "operations/op-1",
	  NULL },
	{ "vertex", PHASE_POLL, 200, "{\"name\":\"projects/p-1/x/operations/op-1\",\"done\":false}",
	  RV_OK, RS_RUNNING, NULL, NULL },
	{ "vertex", PHASE_POLL, 200,
	  "{\"name\":\"op\",\"done\":true,\"response\":{\"@type\":\"type.googleapis.com/"
	  "cloud.ai.large_models.vision.GenerateVideoResponse\",\"raiMediaFilteredCount\":0,"
	  "\"videos\":[{\"gcsUri\":\"gs://bkt/out/1/sample_0.mp4\",\"mimeType\":\"video/mp4\"}]}}",
	  RV_OK, RS_SUCCEEDED, NULL, NULL },
	{ "vertex", PHASE_POLL, 200,
	  "{\"name\":\"op\",\"done\":true,\"response\":{\"raiMediaFilteredCount\":0,"
	  "\"videos\":[{\"bytesBase64Encoded\": \"AAAAIGZ0eXBpc29t\",\"mimeType\":\"video/mp4\"}]}}",
	  RV_OK, RS_SUCCEEDED, NULL, NULL },
	{ "vertex", PHASE_POLL, 200,
	  "{\"name\":\"op\",\"done\":true,\"response\":{\"raiMediaFilteredCount\":1,"
	  "\"raiMediaFilteredReasons\":[\"filtered\"]}}",
	  RV_OK, RS_FAILED, NULL, NULL },
	{ "vertex", PHASE_POLL, 200,
	  "{\"name\":\"op\",\"done\":true,\"error\":{\"code\":13,\"message\":\"internal\"}}", RV_OK,
	  RS_FAILED, NULL, NULL },
	{ "vertex", PHASE_SUBMIT, 400,
	  "{\"error\":{\"code\":400,\"message\":\"bad\",\"status\":\"INVALID_ARGUMENT\"}}", RV_FAIL,
	  RS_UNKNOWN, NULL, NULL },
	{ "vertex", PHASE_AUTH, 200,
	  "{\"access_token\":\"ya29.t\",\"expires_in\":3599,\"token_type\":\"Bearer\"}", RV_OK,
	  RS_UNKNOWN, NULL, NULL },
	{ "runway", PHASE_SUBMIT, 200, "{\"id\":\"17f20503-6c24\"}", RV_OK, RS_QUEUED,
	  "17f20503-6c24", NULL },
	{ "runway", PHASE_POLL, 200, "{\"id\":\"t-1\",\"status\":\"THROTTLED\"}", RV_OK, RS_QUEUED,
	  "t-1", NULL },
	{ "runway", PHASE_POLL, 200, "{\"id\":\"t-1\",\"status\":\"RUNNING\",\"progress\":0.5}",
	  RV_OK, RS_RUNNING, "t-1", NULL },
	{ "runway", PHASE_POLL, 200,
	  "{\"id\":\"t-1\",\"status\":\"SUCCEEDED\",\"output\":[\"https://cdn.example/v.mp4\"]}",
	  RV_OK, RS_SUCCEEDED, "t-1", NULL },
	{ "runway", PHASE_POLL, 200,
	  "{\"id\":\"t-1\",\"status\":\"FAILED\",\"failureCode\":\"SAFETY.INPUT.TEXT\"}", RV_OK,
	  RS_FAILED, "t-1", NULL },
	{ "runway", PHASE_POLL, 200, "{\"id\":\"t-1\",\"status\":\"CANCELLED\"}", RV_OK, RS_FAILED,
	  "t-1", NULL },
	{ "runway", PHASE_SUBMIT, 400, "{\"error\":\"Validation of body failed\",\"issues\":[]}",
	  RV_FAIL, RS_UNKNOWN, NULL, NULL },
	{ "runway", PHASE_SUBMIT, 429, "{\"error\":\"rate limit\"}", RV_RETRY, RS_UNKNOWN, NULL,
	  NULL },
	{ "runway", PHASE_CANCEL, 204, "", RV_OK, RS_UNKNOWN, NULL, NULL },
	{ "runway", PHASE_CANCEL, 404, "{\"error\":\"Task not found\"}", RV_OK, RS_NOT_FOUND, NULL,
	  NULL },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

START_TEST(own_cases)
{
	for (const struct own_case *c = own; c->type; c++) {
		const struct backend_type *t = backend_type_find(c->type);
		ck_assert_ptr_nonnull(t);
		setup_module(t);
		struct remote_answer a = parse(c->ph, c->status, c->body, strlen(c->body));
		ck_assert_msg(a.verdict == c->verdict && a.state == c->state,
			      "%s phase %d '%s': verdict %d state %d", c->type, c->ph, c->body,
			      a.verdict, a.state);
		if (c->upstream_id)
			ck_assert_str_eq(a.upstream_id, c->upstream_id);
		if (c->state == RS_SUCCEEDED && result_url_in_answer(c->type))
			ck_assert(a.video_url[0] != '\0');
		if (c->keep && strcmp(c->type, "minimax") == 0)
			ck_assert_int_eq(a.next, PHASE_POLL2);
		if (c->state == RS_SUCCEEDED && strcmp(c->type, "vertex") == 0) {
			/* a download URL, or the base64 span inside the body */
			ck_assert((a.video_url[0] != '\0') != (a.inline_video != NULL));
			if (a.inline_video)
				ck_assert(a.inline_video > c->body &&
					  a.inline_video + a.inline_video_len <
						  c->body + strlen(c->body) &&
					  memcmp(a.inline_video, "AAAAIGZ0eXBpc29t", 16) == 0);
			else
				ck_assert_str_eq(
					a.video_url,
					"https://storage.googleapis.com/storage/v1/b/bkt/o/"
					"out%2F1%2Fsample_0.mp4?alt=media");
		}
		if (c->keep) {
			char want[256];
			ck_assert_int_ge(a.nkeep, 1);
			snprintf(want, sizeof(want), "%s=%s", a.keep[0].name, a.keep[0].value);
			ck_assert_str_eq(want, c->keep);
		}
		teardown_module();
	}
}
END_TEST

/* ---- veo: what the table above cannot say ----------------------------------- */

static int slist_has(const struct curl_slist *l, const char *needle)
{
	for (; l; l = l->next)
		if (strstr(l->data, needle))
			return 1;
	return 0;
}

static struct remote_answer veo_parse(enum remote_phase ph, long status, const char *body)
{
	return parse(ph, status, body, strlen(body));
}

START_TEST(veo_specifics)
{
	setup_module(backend_type_find("veo"));
	const struct model_backend *mb = &config_model(cfg, "m")->backends[0];
	/* the submit: path, key header kept to the origin, the body's fields */
	struct json_object *rec = json_tokener_parse(record_text);
	struct http_req req;
	struct remote_answer a;
	http_req_init(&req);
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(be.type->build(&be, mb, rec, PHASE_SUBMIT, &req, &a), 0);
	ck_assert_str_eq(req.url, "https://up.example/v1beta/models/up-model:predictLongRunning");
	ck_assert(slist_has(req.host_headers, "x-goog-api-key: " SECRET_A));
	ck_assert(!slist_has(req.headers, SECRET_A));
	struct json_object *body = json_tokener_parse(req.body.data);
	ck_assert_str_eq(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN),
			 "{\"instances\":[{\"prompt\":\"a fox in the snow\"}],"
			 "\"parameters\":{\"durationSeconds\":6,\"aspectRatio\":\"16:9\"}}");
	json_object_put(body);
	http_req_deinit(&req);
	/* a result on the API's origin is fetched with the key, elsewhere without */
	const char *urls[] = { "https://up.example/v1beta/files/f1:download?alt=media",
			       "https://cdn.example/v.mp4", "https://up.example.evil/x" };
	for (int i = 0; i < 3; i++) {
		remote_set(rec, "video_url", urls[i]);
		http_req_init(&req);
		ck_assert_int_eq(be.type->build(&be, mb, rec, PHASE_FETCH_VIDEO, &req, &a), 0);
		ck_assert_str_eq(req.url, urls[i]);
		ck_assert_int_eq(slist_has(req.host_headers, SECRET_A), i == 0);
		ck_assert(!slist_has(req.headers, SECRET_A));
		http_req_deinit(&req);
	}
	/* no reconcile, no cancel: the Gemini API has neither */
	ck_assert(!(be.type->caps & (BCAP_RECONCILE | BCAP_CANCEL)));
	http_req_init(&req);
	ck_assert_int_lt(be.type->build(&be, mb, rec, PHASE_CANCEL, &req, &a), 0);
	http_req_deinit(&req);
	json_object_put(rec);

	/* errors: our codes, the provider's reason, never the key */
	a = veo_parse(
		PHASE_SUBMIT, 400,
		"{\"error\":{\"code\":400,\"message\":\"API key not valid " SECRET_A "\","
		"\"status\":\"INVALID_ARGUMENT\",\"details\":[{\"@type\":"
		"\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"API_KEY_INVALID\"}]}}");
	ck_assert(a.verdict == RV_FAIL);
	ck_assert_str_eq(a.code, "upstream_auth_failed");
	a = veo_parse(
		PHASE_SUBMIT, 429,
		"{\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\",\"details\":[{"
		"\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"7s\"}]}}");
	ck_assert(a.verdict == RV_RETRY && a.retry_after_ms == 7000);
	a = veo_parse(PHASE_SUBMIT, 400,
		      "{\"error\":{\"code\":400,\"message\":\"durationSeconds must be 4, 6 or 8\","
		      "\"status\":\"INVALID_ARGUMENT\"}}");
	ck_assert(a.verdict == RV_FAIL && strstr(a.message, "durationSeconds"));
	ck_assert_str_eq(a.code, "upstream_rejected");
	a = veo_parse(PHASE_SUBMIT, 400,
		      "{\"error\":{\"code\":400,\"message\":\"The prompt violates our usage "
		      "guidelines\",\"status\":\"INVALID_ARGUMENT\"}}");
	ck_assert_str_eq(a.code, "content_policy_violation");
	a = veo_parse(PHASE_SUBMIT, 403,
		      "{\"error\":{\"code\":403,\"status\":\"PERMISSION_DENIED\"}}");
	ck_assert_str_eq(a.code, "upstream_auth_failed");
	a = veo_parse(PHASE_SUBMIT, 400,
		      "{\"error\":{\"code\":400,\"status\":\"FAILED_PRECONDITION\"}}");
	ck_assert_str_eq(a.code, "upstream_quota_exhausted");
	a = veo_parse(PHASE_POLL, 200,
		      "{\"name\":\"models/v/operations/o\",\"done\":true,\"response\":{"
		      "\"generateVideoResponse\":{\"raiMediaFilteredCount\":1,"
		      "\"raiMediaFilteredReasons\":[\"The video contains a celebrity\"]}}}");
	ck_assert_str_eq(a.code, "content_policy_violation");
	ck_assert(strstr(a.message, "celebrity") != NULL);
	/* an inline result points into the answer itself */
	static const char inl[] =
		"{\"name\":\"models/v/operations/o\",\"done\":true,\"response\":{"
		"\"generateVideoResponse\":{\"generatedSamples\":[{\"video\":{"
		"\"encodedVideo\":\"AAAAIGZ0eXBpc29t\",\"encoding\":\"video/mp4\"}}]}}}";
	a = veo_parse(PHASE_POLL, 200, inl);
	ck_assert(a.verdict == RV_OK && a.state == RS_SUCCEEDED);
	ck_assert_int_eq(a.inline_video_len, 16);
	ck_assert(strncmp(a.inline_video, "AAAAIGZ0eXBpc29t", 16) == 0);
	/* done without anything: a clear failure, not a stuck task */
	a = veo_parse(PHASE_POLL, 200, "{\"name\":\"models/v/operations/o\",\"done\":true}");
	ck_assert(a.verdict == RV_OK && a.state == RS_FAILED);
	ck_assert_str_eq(a.code, "upstream_invalid_answer");
	teardown_module();
}
END_TEST

/* luma: the body Luma gets (and the model it keeps for a reconcile), the
 * list a reconcile asks for and the generation it picks (our model and
 * prompt, created around the intent), the cancel, an upload refused. */
START_TEST(luma_requests)
{
	setup_module(backend_type_find("luma"));
	const struct model_backend *mb = &config_model(cfg, "m")->backends[0];
	struct json_object *rec = json_tokener_parse(record_text);
	struct http_req req;
	struct remote_answer a;
	http_req_init(&req);
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(be.type->build(&be, mb, rec, PHASE_SUBMIT, &req, &a), 0);
	ck_assert_str_eq(req.url, "https://up.example/dream-machine/v1/generations/video");
	struct json_object *body = json_tokener_parse(req.body.data);
	ck_assert_str_eq(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN),
			 "{\"model\":\"up-model\",\"prompt\":\"a fox in the snow\","
			 "\"aspect_ratio\":\"16:9\",\"resolution\":\"720p\",\"duration\":\"5s\"}");
	json_object_put(body);
	ck_assert_str_eq(remote_get(rec, "luma_model"), "up-model");
	http_req_deinit(&req);
	http_req_init(&req);
	ck_assert_int_eq(be.type->build(&be, mb, rec, PHASE_RECONCILE, &req, &a), 0);
	ck_assert_str_eq(req.url,
			 "https://up.example/dream-machine/v1/generations?limit=100&offset=0");
	http_req_deinit(&req);
	http_req_init(&req);
	ck_assert_int_eq(be.type->build(&be, mb, rec, PHASE_CANCEL, &req, &a), 0);
	ck_assert_str_eq(req.method, "DELETE");
	ck_assert_str_eq(req.url, "https://up.example/dream-machine/v1/generations/up-1");
	http_req_deinit(&req);
	static const char list[] =
		"{\"generations\":["
		"{\"id\":\"g-other-prompt\",\"model\":\"up-model\",\"created_at\":"
		"\"2023-11-14T22:13:21.000Z\",\"request\":{\"prompt\":\"a cat\"}},"
		"{\"id\":\"g-other-model\",\"model\":\"ray-1-6\",\"created_at\":"
		"\"2023-11-14T22:13:21.000Z\",\"request\":{\"prompt\":\"a fox in the snow\"}},"
		"{\"id\":\"g-ours\",\"model\":\"up-model\",\"generation_type\":\"video\","
		"\"created_at\":\"2023-11-14T22:13:21.500Z\",\"request\":{\"prompt\":"
		"\"a fox in the snow\",\"aspect_ratio\":\"16:9\",\"resolution\":\"720p\","
		"\"duration\":\"5s\"}},"
		"{\"id\":\"g-too-old\",\"model\":\"up-model\",\"created_at\":"
		"\"2023-11-14T19:00:00Z\",\"request\":{\"prompt\":\"a fox in the snow\"}}],"
		"\"count\":4,\"has_more\":false,\"limit\":100,\"offset\":0}";
	memset(&a, 0, sizeof(a)); /* on rec, which the submit annotated */
	backend_parse(&be, rec, PHASE_RECONCILE, 200, list, strlen(list), &a);
	ck_assert_int_eq(a.verdict, RV_OK);
	ck_assert_int_eq(a.state, RS_QUEUED);
	ck_assert_int_eq(a.ncandidates, 1);
	ck_assert_str_eq(a.candidates[0], "g-ours");
	json_object_put(rec);
	rec = json_tokener_parse(record_text);
	json_object_object_add(json_object_object_get(rec, "params"), "image",
			       json_tokener_parse("{\"path\":\"uploads/x.png\",\"ext\":\"png\"}"));
	http_req_init(&req);
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(be.type->build(&be, mb, rec, PHASE_SUBMIT, &req, &a), -1);
	ck_assert_str_eq(a.code, "unsupported_value");
	http_req_deinit(&req);
	json_object_put(rec);
	teardown_module();
}
END_TEST

/* seedance: the body Ark gets, the list a reconcile asks for and the task
 * it picks (our derived seed, created after the intent), the cancel. */
START_TEST(seedance_requests)
{
	setup_module(backend_type_find("seedance"));
	const struct model_backend *mb = &config_model(cfg, "m")->backends[0];
	struct json_object *rec = json_tokener_parse(record_text);
	struct http_req req;
	struct remote_answer a;
	http_req_init(&req);
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(be.type->build(&be, mb, rec, PHASE_SUBMIT, &req, &a), 0);
	ck_assert_str_eq(req.url, "https://up.example/api/v3/contents/generations/tasks");
	struct json_object *body = json_tokener_parse(req.body.data);
	ck_assert_str_eq(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN),
			 "{\"model\":\"up-model\",\"ratio\":\"16:9\",\"resolution\":\"720p\","
			 "\"duration\":5,\"seed\":1922782029,\"content\":[{\"type\":\"text\","
			 "\"text\":\"a fox in the snow\"}]}");
	json_object_put(body);
	http_req_deinit(&req);
	http_req_init(&req);
	ck_assert_int_eq(be.type->build(&be, mb, rec, PHASE_RECONCILE, &req, &a), 0);
	ck_assert_str_eq(req.url, "https://up.example/api/v3/contents/generations/tasks"
				  "?page_num=1&page_size=100&filter.model=up-model");
	http_req_deinit(&req);
	http_req_init(&req);
	ck_assert_int_eq(be.type->build(&be, mb, rec, PHASE_CANCEL, &req, &a), 0);
	ck_assert_str_eq(req.method, "DELETE");
	ck_assert_str_eq(req.url, "https://up.example/api/v3/contents/generations/tasks/up-1");
	http_req_deinit(&req);
	json_object_put(rec);
	static const char list[] =
		"{\"total\":3,\"items\":["
		"{\"id\":\"cgt-other-seed\",\"seed\":7,\"duration\":5,\"created_at\":1700000001},"
		"{\"id\":\"cgt-ours\",\"seed\":1922782029,\"duration\":5,\"ratio\":\"16:9\","
		"\"resolution\":\"720p\",\"created_at\":1700000001},"
		"{\"id\":\"cgt-too-old\",\"seed\":1922782029,\"created_at\":1699990000}]}";
	a = parse(PHASE_RECONCILE, 200, list, strlen(list));
	ck_assert_int_eq(a.verdict, RV_OK);
	ck_assert_int_eq(a.state, RS_QUEUED);
	ck_assert_int_eq(a.ncandidates, 1);
	ck_assert_str_eq(a.candidates[0], "cgt-ours");
	teardown_module();
}
END_TEST

/* vidu: the body Vidu gets (payload: our id), the list a reconcile asks
 * for, the cancel. */
START_TEST(vidu_requests)
{
	setup_module(backend_type_find("vidu"));
	const struct model_backend *mb = &config_model(cfg, "m")->backends[0];
	struct json_object *rec = json_tokener_parse(record_text);
	struct http_req req;
	struct remote_answer a;
	http_req_init(&req);
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(be.type->build(&be, mb, rec, PHASE_SUBMIT, &req, &a), 0);
	ck_assert_str_eq(req.url, "https://up.example/ent/v2/text2video");
	struct json_object *body = json_tokener_parse(req.body.data);
	ck_assert_str_eq(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN),
			 "{\"model\":\"up-model\",\"prompt\":\"a fox in the snow\",\"duration\":5,"
			 "\"aspect_ratio\":\"16:9\",\"resolution\":\"720p\","
			 "\"payload\":\"video_0190d5f2a3b4c5d6e7f8091a2b3c\"}");
	json_object_put(body);
	http_req_deinit(&req);
	http_req_init(&req);
	ck_assert_int_eq(be.type->build(&be, mb, rec, PHASE_RECONCILE, &req, &a), 0);
	ck_assert_str_eq(req.url, "https://up.example/ent/v2/tasks?pager.pagesz=100"
				  "&created_at.from=2023-11-14T22%3A08%3A20Z"
				  "&created_at.to=2023-11-14T22%3A19%3A20Z");
	http_req_deinit(&req);
	http_req_init(&req);
	ck_assert_int_eq(be.type->build(&be, mb, rec, PHASE_CANCEL, &req, &a), 0);
	ck_assert_str_eq(req.method, "POST");
	ck_assert_str_eq(req.url, "https://up.example/ent/v2/tasks/up-1/cancel");
	ck_assert_str_eq(req.body.data, "{\"id\":\"up-1\"}");
	http_req_deinit(&req);
	json_object_put(rec);
	/* by payload; without payload in the items, by prompt and duration */
	static const char by_payload[] =
		"{\"tasks\":[{\"id\":\"t1\",\"payload\":\"video_other\",\"prompt\":\"a fox in the snow\"},"
		"{\"id\":\"t2\",\"payload\":\"video_0190d5f2a3b4c5d6e7f8091a2b3c\"}]}";
	a = parse(PHASE_RECONCILE, 200, by_payload, strlen(by_payload));
	ck_assert(a.verdict == RV_OK && a.state == RS_QUEUED && a.ncandidates == 1);
	ck_assert_str_eq(a.candidates[0], "t2");
	static const char no_payload[] =
		"{\"tasks\":[{\"id\":\"t1\",\"prompt\":\"another\",\"duration\":5},"
		"{\"id\":\"t2\",\"prompt\":\"a fox in the snow\",\"duration\":8},"
		"{\"id\":\"t3\",\"prompt\":\"a fox in the snow\",\"duration\":5}],"
		"\"next_page_token\":\"\"}";
	a = parse(PHASE_RECONCILE, 200, no_payload, strlen(no_payload));
	ck_assert(a.verdict == RV_OK && a.state == RS_QUEUED && a.ncandidates == 1);
	ck_assert_str_eq(a.candidates[0], "t3");
	static const char more[] = "{\"tasks\":[],\"next_page_token\":\"2\"}";
	a = parse(PHASE_RECONCILE, 200, more, strlen(more));
	ck_assert_int_eq(a.verdict, RV_FAIL);
	ck_assert_str_eq(a.code, "upstream_unknown_outcome");
	teardown_module();
}
END_TEST

/* runway: the body and endpoint Runway gets (a model outside the table:
 * the common shape, no seed), the version header beside the key, the
 * cancel; a download carries neither. */
START_TEST(runway_requests)
{
	setup_module(backend_type_find("runway"));
	const struct model_backend *mb = &config_model(cfg, "m")->backends[0];
	struct json_object *rec = json_tokener_parse(record_text);
	struct http_req req;
	struct remote_answer a;
	http_req_init(&req);
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(be.type->build(&be, mb, rec, PHASE_SUBMIT, &req, &a), 0);
	ck_assert_str_eq(req.method, "POST");
	ck_assert_str_eq(req.url, "https://up.example/v1/text_to_video");
	ck_assert_str_eq(req.body.data,
			 "{\"model\":\"up-model\",\"promptText\":\"a fox in the snow\","
			 "\"ratio\":\"1280:720\",\"duration\":5}");
	int version = 0;
	for (struct curl_slist *h = req.headers; h; h = h->next)
		version += strcmp(h->data, "X-Runway-Version: 2024-11-06") == 0;
	ck_assert_int_eq(version, 1);
	ck_assert_ptr_nonnull(req.host_headers);
	http_req_deinit(&req);
	http_req_init(&req);
	ck_assert_int_eq(be.type->build(&be, mb, rec, PHASE_CANCEL, &req, &a), 0);
	ck_assert_str_eq(req.method, "DELETE");
	ck_assert_str_eq(req.url, "https://up.example/v1/tasks/up-1");
	http_req_deinit(&req);
	static const char running[] = "{\"id\":\"up-1\",\"status\":\"RUNNING\",\"progress\":0.42}";
	a = parse(PHASE_POLL, 200, running, strlen(running));
	ck_assert_int_eq(a.progress, 42);
	json_object_put(rec);
	teardown_module();
}
END_TEST

/* An extension of a video backend "b" made (edits: op "edit"). */
static const char derived_text[] =
	"{\"id\":\"video_0190d5f2a3b4c5d6e7f8091a2b3d\",\"object\":\"video\",\"owner\":\"key_t\","
	"\"model\":\"m\",\"status\":\"in_progress\",\"progress\":0,\"created_at\":1700000000,"
	"\"prompt\":\"and then\",\"size\":\"1280x720\",\"seconds\":\"9\",\"op\":\"extend\","
	"\"params\":{\"width\":1280,\"height\":720,\"seconds\":9,\"fps\":24,\"n\":1,"
	"\"segment_seconds\":4,\"source\":{\"path\":\"uploads/src_t.mp4\",\"ext\":\"mp4\","
	"\"seconds\":5,\"width\":1280,\"height\":720,\"video_id\":\"video_src\","
	"\"remote\":{\"backend\":\"b\",\"upstream_id\":\"up-src\",\"video_id\":\"kv-src\"}}},"
	"\"remote\":{\"backend\":\"b\",\"intent_at\":\"1700000000456\"}}";

static struct json_object *derived_record(const char *op, const char *made_by)
{
	struct json_object *rec = json_tokener_parse(derived_text);
	json_object_object_add(rec, "op", json_object_new_string(op));
	struct json_object *src = rec_obj(rec_obj(rec, "params"), "source");
	json_object_object_add(rec_obj(src, "remote"), "backend", json_object_new_string(made_by));
	return rec;
}

static int build_of(struct json_object *rec, enum remote_phase ph, struct http_req *req,
		    struct remote_answer *a)
{
	http_req_init(req);
	memset(a, 0, sizeof(*a));
	return be.type->build(&be, &config_model(cfg, "m")->backends[0], rec, ph, req, a);
}

/* kling: an extension goes to video-extend with the source's Kling video
 * id and the prompt, is polled there, cannot be looked up when lost; a
 * result's video id is kept; only Kling's own videos and its 4 s step. */
START_TEST(kling_extensions)
{
	setup_module(backend_type_find("kling"));
	const struct backend_cfg *b = config_backend(cfg, "b");
	struct model_backend v15 = { "b", "kling-v1-5" };
	struct json_object *rec = derived_record("extend", "b");
	struct http_req req;
	struct remote_answer a;
	ck_assert_int_eq(build_of(rec, PHASE_SUBMIT, &req, &a), 0);
	ck_assert_str_eq(req.url, "https://up.example/v1/videos/video-extend");
	ck_assert_str_eq(req.body.data, "{\"video_id\":\"kv-src\",\"prompt\":\"and then\"}");
	http_req_deinit(&req);
	remote_set(rec, "upstream_id", "t-1");
	ck_assert_int_eq(build_of(rec, PHASE_POLL, &req, &a), 0);
	ck_assert_str_eq(req.url, "https://up.example/v1/videos/video-extend/t-1");
	http_req_deinit(&req);
	ck_assert_int_eq(build_of(rec, PHASE_RECONCILE, &req, &a), -1);
	ck_assert_str_eq(a.code, "upstream_unknown_outcome");
	http_req_deinit(&req);
	/* a 1201 is a refusal of the resent extension, not "no such task" */
	static const char e1201[] = "{\"code\":1201,\"message\":\"Invalid parameters\"}";
	memset(&a, 0, sizeof(a));
	backend_parse(&be, rec, PHASE_RECONCILE, 400, e1201, strlen(e1201), &a);
	ck_assert_int_eq(a.verdict, RV_FAIL);
	a = parse(PHASE_RECONCILE, 400, e1201, strlen(e1201));
	ck_assert(a.verdict == RV_OK && a.state == RS_NOT_FOUND);
	static const char done[] =
		"{\"code\":0,\"data\":{\"task_id\":\"t-1\",\"task_status\":\"succeed\","
		"\"task_result\":{\"videos\":[{\"id\":\"kv-9\",\"url\":\"https://cdn.example/9.mp4\","
		"\"duration\":\"9.5\"}]}}}";
	a = parse(PHASE_POLL, 200, done, strlen(done));
	ck_assert(a.verdict == RV_OK && a.state == RS_SUCCEEDED && a.nkeep == 1);
	ck_assert_str_eq(a.keep[0].name, "video_id");
	ck_assert_str_eq(a.keep[0].value, "kv-9");
	/* what runs where */
	char why[400];
	ck_assert_uint_eq(be.type->ops(b, &config_model(cfg, "m")->backends[0]), BOP_EXTEND);
	ck_assert_uint_eq(be.type->ops(b, &v15), 0);
	struct json_object *src = json_tokener_parse(record_text); /* made by b, no video id */
	ck_assert_int_eq(be.type->source_ok(b, NULL, BOP_EXTEND, NULL, why, sizeof(why)), -1);
	ck_assert_int_eq(be.type->source_ok(b, NULL, BOP_EXTEND, src, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "video id"));
	remote_set(src, "video_id", "kv-1");
	ck_assert_int_eq(be.type->source_ok(b, NULL, BOP_EXTEND, src, why, sizeof(why)), 0);
	remote_set(src, "backend", "other");
	ck_assert_int_eq(be.type->source_ok(b, NULL, BOP_EXTEND, src, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "made elsewhere"));
	remote_set(src, "backend", "b");
	json_object_object_add(rec_obj(src, "params"), "seconds", json_object_new_int(176));
	ck_assert_int_eq(be.type->source_ok(b, NULL, BOP_EXTEND, src, why, sizeof(why)), -1);
	struct video_spec sp;
	const char *out[17];
	memset(&sp, 0, sizeof(sp));
	sp.op = "extend";
	sp.segment_seconds = 4;
	be.type->unsupported(b, NULL, &sp, out);
	ck_assert_ptr_null(out[0]);
	sp.segment_seconds = 8;
	be.type->unsupported(b, NULL, &sp, out);
	ck_assert_str_eq(out[0], "seconds");
	ck_assert_ptr_null(out[1]);
	json_object_put(src);
	json_object_put(rec);
	teardown_module();
}
END_TEST

/* openai: edits and extensions go to the upstream's own endpoints, with
 * the upstream's id of a video this backend made and still holds, else
 * with the clip as the "video" file part. */
START_TEST(openai_edits_and_extensions)
{
	setup_module(backend_type_find("openai"));
	char path[600];
	snprintf(path, sizeof(path), "%s/uploads", tmp);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/uploads/src_t.mp4", tmp);
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	static const char clip[] = "\0\0\0\x18"
				   "ftypmp42-the-clip";
	ck_assert_uint_eq(fwrite(clip, 1, sizeof(clip) - 1, f), sizeof(clip) - 1);
	fclose(f);
	struct http_req req;
	struct remote_answer a;
	struct json_object *rec = derived_record("extend", "b");
	ck_assert_int_eq(build_of(rec, PHASE_SUBMIT, &req, &a), 0);
	ck_assert_str_eq(req.url, "https://up.example/v1/videos/extensions");
	ck_assert_ptr_nonnull(strstr(req.body.data, "name=\"video[id]\"\r\n\r\nup-src\r\n"));
	ck_assert_ptr_nonnull(strstr(req.body.data, "name=\"seconds\"\r\n\r\n4\r\n"));
	ck_assert_ptr_null(strstr(req.body.data, "filename="));
	ck_assert_ptr_null(strstr(req.body.data, "name=\"model\""));
	http_req_deinit(&req);
	/* past the upstream's expiry: the clip is sent */
	remote_set(rec_obj(rec_obj(rec, "params"), "source"), "upstream_expires_at", "1000");
	ck_assert_int_eq(build_of(rec, PHASE_SUBMIT, &req, &a), 0);
	ck_assert_ptr_nonnull(strstr(req.body.data, "name=\"video\"; filename=\"source.mp4\"\r\n"
						    "Content-Type: video/mp4\r\n\r\n"));
	ck_assert_ptr_nonnull(memmem(req.body.data, req.body.len, "ftypmp42-the-clip", 17));
	http_req_deinit(&req);
	json_object_put(rec);
	rec = derived_record("edit", "elsewhere");
	ck_assert_int_eq(build_of(rec, PHASE_SUBMIT, &req, &a), 0);
	ck_assert_str_eq(req.url, "https://up.example/v1/videos/edits");
	ck_assert_ptr_nonnull(strstr(req.body.data, "filename=\"source.mp4\""));
	ck_assert_ptr_null(strstr(req.body.data, "name=\"seconds\""));
	http_req_deinit(&req);
	unlink(path);
	ck_assert_int_eq(build_of(rec, PHASE_SUBMIT, &req, &a), -1);
	ck_assert_str_eq(a.code, "storage_error");
	http_req_deinit(&req);
	json_object_put(rec);
	static const char done[] = "{\"id\":\"up-1\",\"status\":\"completed\",\"progress\":100,"
				   "\"expires_at\":1758945185}";
	a = parse(PHASE_POLL, 200, done, strlen(done));
	ck_assert(a.state == RS_SUCCEEDED && a.nkeep == 1);
	ck_assert_str_eq(a.keep[0].name, "upstream_expires_at");
	ck_assert_str_eq(a.keep[0].value, "1758945185");
	ck_assert_uint_eq(be.type->ops(config_backend(cfg, "b"), NULL), BOP_EDIT | BOP_EXTEND);
	teardown_module();
}
END_TEST

static void make_tmp(void)
{
	tmp = test_tmpdir();
}

static void remove_tmp(void)
{
	test_rmrf(tmp);
	free(tmp);
}

/* The providers' own usage signals (remote_answer.usage_unit/amount) of a
 * succeeded job, as each sends it; a mistyped or impossible one is none. */
START_TEST(usage_signals)
{
	static const struct {
		const char *type, *body, *unit;
		double amount;
	} cases[] = {
		{ "seedance",
		  "{\"id\":\"up-1\",\"status\":\"succeeded\",\"content\":{\"video_url\":"
		  "\"https://tos.example/v.mp4\"},\"usage\":{\"completion_tokens\":7,"
		  "\"total_tokens\":108900}}",
		  "tokens", 108900 },
		{ "seedance",
		  "{\"id\":\"up-1\",\"status\":\"succeeded\",\"content\":{\"video_url\":"
		  "\"https://tos.example/v.mp4\"},\"usage\":{\"total_tokens\":\"108900\"}}",
		  "", 0 },
		{ "vidu",
		  "{\"id\":\"up-1\",\"state\":\"success\",\"credits\":20,\"creations\":[{\"url\":"
		  "\"https://s3.example/v.mp4\"}]}",
		  "credits", 20 },
		{ "vidu",
		  "{\"id\":\"up-1\",\"state\":\"success\",\"credits\":-3,\"creations\":[{\"url\":"
		  "\"https://s3.example/v.mp4\"}]}",
		  "", 0 },
		{ "kling",
		  "{\"code\":0,\"data\":{\"task_id\":\"t1\",\"task_status\":\"succeed\","
		  "\"final_unit_deduction\":\"3.5\",\"task_result\":{\"videos\":[{\"url\":"
		  "\"https://cdn.example/k.mp4\"}]}}}",
		  "units", 3.5 },
		{ "kling",
		  "{\"code\":0,\"data\":{\"task_id\":\"t1\",\"task_status\":\"succeed\","
		  "\"final_unit_deduction\":\"inf\",\"task_result\":{\"videos\":[{\"url\":"
		  "\"https://cdn.example/k.mp4\"}]}}}",
		  "", 0 },
		{ "wan",
		  "{\"request_id\":\"r\",\"output\":{\"task_id\":\"up-1\",\"task_status\":"
		  "\"SUCCEEDED\",\"video_url\":\"https://oss.example/v.mp4\"},\"usage\":"
		  "{\"video_duration\":5,\"video_ratio\":\"1280*720\",\"video_count\":1}}",
		  "seconds", 5 },
		{ "openai", "{\"id\":\"up-1\",\"status\":\"completed\",\"progress\":100}", "", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		setup_module(backend_type_find(cases[i].type));
		struct remote_answer a =
			parse(PHASE_POLL, 200, cases[i].body, strlen(cases[i].body));
		teardown_module();
		ck_assert_msg(a.verdict == RV_OK && a.state == RS_SUCCEEDED, "%s: %s",
			      cases[i].type, cases[i].body);
		ck_assert_msg(strcmp(a.usage_unit, cases[i].unit) == 0 &&
				      a.usage_amount == cases[i].amount,
			      "%s case %zu: usage %s %g, want %s %g", cases[i].type, i,
			      a.usage_unit, a.usage_amount, cases[i].unit, cases[i].amount);
	}
}
END_TEST

static Suite *adapters_suite(void)
{
	Suite *s = suite_create("adapters");
	TCase *tc = tcase_create("conformance");
	tcase_add_unchecked_fixture(tc, make_tmp, remove_tmp);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, every_answer_class_has_a_verdict, 0, 16);
	tcase_add_loop_test(tc, every_request_goes_to_its_base_url, 0, 16);
	tcase_add_test(tc, every_module_is_registered_once);
	tcase_add_test(tc, own_cases);
	tcase_add_test(tc, veo_specifics);
	tcase_add_test(tc, seedance_requests);
	tcase_add_test(tc, luma_requests);
	tcase_add_test(tc, vidu_requests);
	tcase_add_test(tc, runway_requests);
	tcase_add_test(tc, kling_extensions);
	tcase_add_test(tc, openai_edits_and_extensions);
	tcase_add_test(tc, usage_signals);
	suite_add_tcase(s, tc);
	return s;
}

RUN_SUITE(adapters_suite)
