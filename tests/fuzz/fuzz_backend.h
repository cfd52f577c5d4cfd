/*
 * fuzz_backend.h: the body of the three backend response targets
 * (fuzz_kling.c, fuzz_openai.c, fuzz_comfyui.c).  Each defines
 *   FUZZ_BACKEND   the backend type ("kling", "openai", "comfyui")
 *   FUZZ_RAW       the backend's config entry as JSON text (base_url, ...)
 *   FUZZ_WORKFLOW  the ComfyUI workflow template as JSON text, or NULL
 *   FUZZ_UPSTREAM  the upstream job id a running task holds
 * then includes this file.
 *
 * An input is an answer of the upstream to one request of a task's life,
 * given to the module's parse (backend_parse), as run_remote.c does; the
 * backend is configured and set up through the module's check and init:
 *   byte 0   the phase, mod 6: SUBMIT, RECONCILE, RECONCILE2, POLL, POLL2,
 *            UPLOAD
 *   byte 1   the HTTP status: below 0xF0, statuses[byte % 16] (0 = no
 *            answer at all, 200, 201, 202, 204, 400, 401, 403, 404, 408,
 *            409, 422, 429, 500, 502, 503); from 0xF0, the status is
 *            (byte - 0xF0) * 256 + byte 2, any number 0..4095, and byte 2
 *            is used up
 *   next     the task record's shape: bit 0 remote.upstream_id set, bit 1
 *            an image URL, bit 2 an uploaded image file (both bits: file),
 *            bit 3 a seed and metadata.negative_prompt, bit 4 remote
 *            present but without intent_at, bit 5 the body is passed as a
 *            NULL pointer when it is empty, bit 6 the task is an extension
 *            (rec.op "extend", params.source made by this backend: its
 *            remote with an upstream id and a video_id)
 *   rest     the answer body (exactly its bytes, not NUL-terminated)
 * Checked, besides memory safety and leaks (each a hard property):
 *   - verdict, state and next are values of their enums; next is only
 *     asked for with RV_OK; 0..8 candidates, each non-empty;
 *   - every string of the answer is NUL-terminated;
 *   - a usage signal is none, or a unit of [a-z_] and a finite amount >= 0;
 *   - RV_FAIL has a code and a message;
 *   - maybe_created only for SUBMIT; no answer (status 0, empty body) is a
 *     retry;
 *   - a success of Kling or ComfyUI carries the video URL (ComfyUI's on
 *     its base_url);
 *   - no "(null)" in the answer that the body did not contain: that is
 *     printf("%s", NULL), undefined behaviour (glibc happens to print
 *     "(null)"), from a JSON null where a string was expected;
 *   - the record stays a JSON object;
 *   - strict (REELGATE_FUZZ_STRICT=1): code and message are valid UTF-8
 *     (they become the video's error object), progress is -1..100, an
 *     accepted upload names the image and an accepted submit names the
 *     upstream job.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "backend.h"
#include "config.h"
#include "fuzz.h"

#include <math.h>
#include <unistd.h>

#include <json-c/json.h>

/* (the first byte picks the phase: 0..5 as before PHASE_CANCEL and
 * PHASE_AUTH were added, so the corpora keep their meaning) */
static const enum remote_phase phases[8] = { PHASE_SUBMIT, PHASE_RECONCILE, PHASE_RECONCILE2,
					     PHASE_POLL,   PHASE_POLL2,	    PHASE_UPLOAD,
					     PHASE_CANCEL, PHASE_AUTH };
static const long statuses[16] = { 0,	200, 201, 202, 204, 400, 401, 403,
				   404, 408, 409, 422, 429, 500, 502, 503 };

#define FUZZ_ID "video_0190d5f2a3b4c5d6e7f8091a2b3c"

static const char record_text[] =
	"{\"id\":\"" FUZZ_ID "\",\"object\":\"video\",\"owner\":\"key_fuzz\","
	"\"model\":\"fuzz-model\",\"status\":\"in_progress\",\"progress\":10,"
	"\"created_at\":1700000000,\"completed_at\":null,\"expires_at\":null,"
	"\"prompt\":\"A red fox running through fresh snow at dawn\",\"size\":\"1280x720\","
	"\"seconds\":\"8\",\"remixed_from_video_id\":null,\"error\":null,\"metadata\":{},"
	"\"params\":{\"width\":1280,\"height\":720,\"seconds\":8,\"fps\":24,\"n\":1,"
	"\"response_format\":\"url\"},"
	"\"due_at\":1700000000123,\"deadline_at\":1700001800123,\"attempts\":1}";

static struct json_object *raw_cfg;
static struct config *cfg;
static struct backend be;
static const struct backend_type *module;
static const char *workflow_text = FUZZ_WORKFLOW; /* not const: NULL for some */

/* setup configures the backend as reelgate would: FUZZ_RAW is the entry
 * "fuzz" of a config checked by config_parse (the module's check), then
 * set up by backend_init (the module's init).  The workflow, when there is
 * one, is written to a file of its own. */
static void setup(void)
{
	raw_cfg = json_tokener_parse(FUZZ_RAW);
	CHECK(raw_cfg != NULL && json_object_is_type(raw_cfg, json_type_object));
	if (workflow_text != NULL) {
		char path[] = "/tmp/reelgate-fuzz-workflow-XXXXXX";
		int fd = mkstemp(path);
		CHECK(fd >= 0);
		CHECK(write(fd, workflow_text, strlen(workflow_text)) ==
		      (ssize_t)strlen(workflow_text));
		close(fd);
		json_object_object_add(raw_cfg, "workflow", json_object_new_string(path));
		json_object_object_del(raw_cfg, "workflow_path");
	}
	struct json_object *root = json_object_new_object(), *backends = json_object_new_object();
	json_object_object_add(root, "data_dir",
			       json_object_new_string("/tmp/reelgate-fuzz-backend"));
	json_object_object_add(backends, "fuzz", json_object_get(raw_cfg));
	json_object_object_add(root, "backends", backends);
	char err[512];
	cfg = config_parse(json_object_to_json_string(root), "fuzz.json", "/tmp", err, sizeof(err));
	if (cfg == NULL)
		fprintf(stderr, "fuzz_backend: config: %s\n", err);
	CHECK(cfg != NULL);
	json_object_put(root);
	const struct backend_cfg *bcfg = config_backend(cfg, "fuzz");
	CHECK(bcfg != NULL && bcfg->module == backend_type_find(FUZZ_BACKEND));
	module = bcfg->module;
	CHECK(module->kind == BACKEND_HTTP && module->parse != NULL && module->build != NULL);
	if (backend_init(&be, bcfg, "/tmp/reelgate-fuzz-backend", err, sizeof(err)) < 0)
		fprintf(stderr, "fuzz_backend: init: %s\n", err);
	CHECK(be.type == module);
	json_object_put(raw_cfg);
	raw_cfg = bcfg->raw;
}

/* make_record builds the task record of the shape flags asks for. */
static struct json_object *make_record(unsigned flags)
{
	struct json_object *rec = json_tokener_parse(record_text);
	CHECK(rec != NULL);
	struct json_object *params = json_object_object_get(rec, "params");
	if ((flags & 6) == 2) {
		struct json_object *img = json_object_new_object();
		json_object_object_add(img, "kind", json_object_new_string("url"));
		json_object_object_add(img, "url",
				       json_object_new_string("https://img.example.com/fox.png"));
		json_object_object_add(img, "param", json_object_new_string("input_reference"));
		json_object_object_add(params, "image", img);
	} else if (flags & 4) {
		struct json_object *img = json_object_new_object();
		json_object_object_add(img, "kind", json_object_new_string("file"));
		json_object_object_add(img, "path",
				       json_object_new_string("uploads/" FUZZ_ID ".png"));
		json_object_object_add(img, "ext", json_object_new_string("png"));
		json_object_object_add(img, "param", json_object_new_string("input_reference"));
		json_object_object_add(params, "image", img);
	}
	if (flags & 8) {
		json_object_object_add(params, "seed", json_object_new_int64(4242));
		json_object_object_add(json_object_object_get(rec, "metadata"), "negative_prompt",
				       json_object_new_string("blurry, low quality"));
	}
	if (flags & 64) {
		struct json_object *src = json_object_new_object(), *sr = json_object_new_object();
		json_object_object_add(sr, "backend", json_object_new_string("fuzz"));
		json_object_object_add(sr, "upstream_id", json_object_new_string(FUZZ_UPSTREAM));
		json_object_object_add(sr, "video_id", json_object_new_string("v-" FUZZ_UPSTREAM));
		json_object_object_add(src, "path", json_object_new_string("uploads/src_fuzz.mp4"));
		json_object_object_add(src, "ext", json_object_new_string("mp4"));
		json_object_object_add(src, "seconds", json_object_new_int(4));
		json_object_object_add(src, "remote", sr);
		json_object_object_add(params, "source", src);
		json_object_object_add(params, "segment_seconds", json_object_new_int(4));
		json_object_object_add(rec, "op", json_object_new_string("extend"));
	}
	struct json_object *remote = json_object_new_object();
	json_object_object_add(remote, "backend", json_object_new_string("fuzz"));
	if (!(flags & 16))
		json_object_object_add(remote, "intent_at",
				       json_object_new_string("1700000000456"));
	if (flags & 1)
		json_object_object_add(remote, "upstream_id",
				       json_object_new_string(FUZZ_UPSTREAM));
	if (flags & 2)
		json_object_object_add(remote, "image_name", json_object_new_string("fox.png"));
	json_object_object_add(rec, "remote", remote);
	return rec;
}

/* no_new_null: "(null)" (a NULL string printed) in s only when the body
 * had such text itself (body_has_null). */
static int no_new_null(const char *s, int body_has_null)
{
	return body_has_null || strstr(s, "(null)") == NULL;
}

static void check_answer(const struct remote_answer *a, enum remote_phase ph, long status,
			 size_t len, int body_has_null)
{
	CHECK(a->verdict == RV_OK || a->verdict == RV_RETRY || a->verdict == RV_FAIL);
	CHECK(a->state >= RS_UNKNOWN && a->state <= RS_NOT_FOUND);
	CHECK(a->next >= PHASE_NONE && a->next <= PHASE_FETCH_THUMB);
	if (a->next != PHASE_NONE)
		CHECK(a->verdict == RV_OK);
	CHECK(NUL_TERMINATED(a->upstream_id));
	/* a usage signal: none, or a unit word and a finite amount >= 0 */
	CHECK(NUL_TERMINATED(a->usage_unit));
	CHECK(strspn(a->usage_unit, "abcdefghijklmnopqrstuvwxyz_") == strlen(a->usage_unit));
	if (a->usage_unit[0])
		CHECK(isfinite(a->usage_amount) && a->usage_amount >= 0);
	CHECK(a->nkeep >= 0 && a->nkeep <= ANSWER_KEEPS);
	for (int i = 0; i < ANSWER_KEEPS; i++) {
		CHECK(NUL_TERMINATED(a->keep[i].name) && NUL_TERMINATED(a->keep[i].value));
		if (i < a->nkeep)
			CHECK(a->keep[i].name[0] != '\0');
		CHECK(no_new_null(a->keep[i].value, body_has_null));
	}
	CHECK(NUL_TERMINATED(a->video_url) && NUL_TERMINATED(a->code));
	CHECK(NUL_TERMINATED(a->message));
	CHECK(a->ncandidates >= 0 && a->ncandidates <= 8);
	for (int i = 0; i < 8; i++) {
		CHECK(NUL_TERMINATED(a->candidates[i]));
		if (i < a->ncandidates)
			CHECK(a->candidates[i][0] != '\0');
		CHECK(no_new_null(a->candidates[i], body_has_null));
	}
	if (a->verdict == RV_FAIL)
		CHECK(a->code[0] != '\0' && a->message[0] != '\0');
	if (a->maybe_created)
		CHECK(ph == PHASE_SUBMIT);
	if (status == 0 && len == 0)
		CHECK(a->verdict == RV_RETRY);
	CHECK(a->retry_after_ms >= 0);
	if (a->verdict == RV_OK && a->state == RS_SUCCEEDED &&
	    (strcmp(FUZZ_BACKEND, "kling") == 0 || strcmp(FUZZ_BACKEND, "comfyui") == 0)) {
		CHECK(a->video_url[0] != '\0');
		if (strcmp(FUZZ_BACKEND, "comfyui") == 0) {
			const char *base =
				json_object_get_string(json_object_object_get(raw_cfg, "base_url"));
			CHECK(strncmp(a->video_url, base, strlen(base)) == 0);
		}
	}
	CHECK(no_new_null(a->upstream_id, body_has_null));
	CHECK(no_new_null(a->video_url, body_has_null));
	CHECK(no_new_null(a->code, body_has_null));
	CHECK(no_new_null(a->message, body_has_null));

	SOFT_CHECK(utf8_ok(a->code) && utf8_ok(a->message));
	SOFT_CHECK(a->progress >= -1 && a->progress <= 100);
	/* an accepted upload keeps a non-empty name for the submit to use */
	if (ph == PHASE_UPLOAD && a->verdict == RV_OK && (module->caps & BCAP_UPLOAD))
		SOFT_CHECK(a->nkeep > 0 && a->keep[0].value[0] != '\0');
	/* run_remote.c records the upstream id of an accepted submit and polls
	 * it: an empty one polls the upstream's list endpoint until the deadline */
	if (ph == PHASE_SUBMIT && a->verdict == RV_OK)
		SOFT_CHECK(a->upstream_id[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (module == NULL)
		setup();
	if (size < 3)
		return 0;
	enum remote_phase ph = phases[data[0] % 8];
	long status;
	size_t used;
	if (data[1] < 0xF0) {
		status = statuses[data[1] % 16];
		used = 2;
	} else {
		status = (long)(data[1] - 0xF0) * 256 + data[2];
		used = 3;
	}
	if (size < used + 1)
		return 0;
	unsigned flags = data[used];
	used++;
	const uint8_t *body = data + used;
	size_t len = size - used;
	/* exactly the body's bytes, so a read past its end is caught */
	char *copy = len ? malloc(len) : NULL;
	if (len)
		memcpy(copy, body, len);
	const char *arg = copy;
	if (len == 0 && !(flags & 32))
		arg = "";
	/* Text "null" next to a parenthesis or inside a string may come back
	 * as "(null)" through a message's own parentheses (an error code
	 * ending in "(null", or a string "null)..." quoted in "(%s"); the
	 * JSON literal null never does. */
	int body_has_null =
		len >= 5 &&
		(memmem(body, len, "(null", 5) != NULL || memmem(body, len, "null)", 5) != NULL ||
		 memmem(body, len, "\"null", 5) != NULL || memmem(body, len, "null\"", 5) != NULL);

	struct json_object *rec = make_record(flags);
	struct remote_answer ans;
	memset(&ans, 0, sizeof(ans));
	backend_parse(&be, rec, ph, status, arg, len, &ans);
	check_answer(&ans, ph, status, len, body_has_null);
	CHECK(json_object_is_type(rec, json_type_object));
	CHECK(json_object_to_json_string(rec) != NULL);

	json_object_put(rec);
	free(copy);
	return 0;
}
