/*
 * fuzz.h: what the libFuzzer targets share.
 *
 * CHECK(cond) states a property every input must keep; a broken one calls
 * abort(), which libFuzzer (and replay.c under `make check`) reports as a
 * crash.  SOFT_CHECK(cond) states a property that is known to be broken
 * today or is a matter of policy rather than memory safety (an error
 * message cut in the middle of a UTF-8 sequence, say): it is only enforced
 * when REELGATE_FUZZ_STRICT=1 is in the environment, so a long run is not
 * stopped again and again by the same known finding.  Run a target with
 * REELGATE_FUZZ_STRICT=1 to hunt for those.
 */
#ifndef REELGATE_FUZZ_H
#define REELGATE_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "codec.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,        \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* fuzz_strict: whether REELGATE_FUZZ_STRICT=1 (read once). */
static inline int fuzz_strict(void)
{
	static int strict = -1;
	if (strict < 0) {
		const char *v = getenv("REELGATE_FUZZ_STRICT");
		strict = v != NULL && strcmp(v, "1") == 0;
	}
	return strict;
}

#define SOFT_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (fuzz_strict() && !(cond)) {                                                    \
			fprintf(stderr, "%s:%d: strict property failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* NUL_TERMINATED: a char array holds a NUL somewhere. */
#define NUL_TERMINATED(arr) (memchr((arr), '\0', sizeof(arr)) != NULL)

/* fuzz_cstr copies len bytes into a new NUL-terminated string (a NUL inside
 * the input ends the string early, as it would in a C API). */
static inline char *fuzz_cstr(const uint8_t *data, size_t len)
{
	char *s = malloc(len + 1);
	CHECK(s != NULL);
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* utf8_ok: a NUL-terminated string is valid UTF-8. */
static inline int utf8_ok(const char *s)
{
	return codec_utf8_valid(s, strlen(s));
}

/* fuzz_check_refusal: e is a 400 whose envelope (what http_error sends)
 * is a JSON object, and in strict mode valid UTF-8 (a key of 100+ bytes
 * cut inside a UTF-8 sequence would not be). */
static inline void fuzz_check_refusal(const struct api_error *e)
{
	CHECK(e->status == 400 && e->code != NULL && e->message[0] != '\0');
	CHECK(NUL_TERMINATED(e->param) && NUL_TERMINATED(e->message));
	struct buf out;
	buf_init(&out, 1 << 20);
	CHECK(api_error_json(e, &out) == 0);
	struct json_object *o = json_tokener_parse(out.data);
	CHECK(o != NULL && json_object_is_type(o, json_type_object));
	json_object_put(o);
	SOFT_CHECK(codec_utf8_valid(out.data, out.len));
	buf_deinit(&out);
}

#endif
