/*
 * fuzz_form: libFuzzer target for the request body parsers (form.c) and the
 * codecs they lean on (codec.c).
 *
 * The first input byte picks the parser (its value mod 4, so the ASCII
 * digits '0'..'3' in a hand-written corpus file name the mode):
 *   0  form_parse_urlencoded
 *   1  multipart, boundary "XyZ", fed whole, a byte at a time and in chunks
 *      whose size comes from the input; every feeding must give the same
 *      fields, file contents and error
 *   2  base64 decode (decode then encode must give the input back) and
 *      encode (encode then decode must give the bytes back)
 *   3  UTF-8 validation, checked against a slow reference decoder
 * A broken property calls abort(), which the fuzzer reports as a crash.
 */
#include "codec.h"
#include "form.h"
#include "fuzz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct form_limits limits = {
	.max_fields = 8,
	.max_name = 32,
	.max_value = 256,
	.max_file = 1024,
	.tmp_dir = "/tmp",
};

/* check_form asserts what every parse result promises. */
static void check_form(const struct form *f, enum form_err err)
{
	CHECK(f->count <= limits.max_fields);
	CHECK(memchr(f->err_field, '\0', sizeof(f->err_field)) != NULL);
	CHECK(memchr(f->err_msg, '\0', sizeof(f->err_msg)) != NULL);
	CHECK(codec_utf8_valid(f->err_field, strlen(f->err_field)));
	CHECK(codec_utf8_valid(f->err_msg, strlen(f->err_msg)));
	if (err != FORM_OK)
		CHECK(f->err_msg[0] != '\0');
	for (size_t i = 0; i < f->count; i++) {
		const struct form_field *fld = &f->fields[i];
		size_t name_len = strlen(fld->name);
		CHECK(name_len > 0 && name_len <= limits.max_name);
		CHECK((fld->value == NULL) == FORM_FIELD_IS_FILE(fld));
		if (fld->value != NULL) {
			CHECK(fld->value_len <= limits.max_value);
			CHECK(fld->value[fld->value_len] == '\0');
		} else {
			CHECK(fld->file_size <= limits.max_file);
			CHECK(fld->filename != NULL);
		}
	}
}

static void fuzz_urlencoded(const uint8_t *data, size_t size)
{
	struct form f;
	form_init(&f);
	enum form_err err = form_parse_urlencoded(&f, (const char *)data, size, &limits);
	check_form(&f, err);
	form_deinit(&f);
}

/* file_bytes reads a temporary file back (at most max_file + 1 bytes). */
static size_t file_bytes(const char *path, char *out)
{
	FILE *fp = fopen(path, "rb");
	CHECK(fp != NULL);
	size_t n = fread(out, 1, limits.max_file + 1, fp);
	fclose(fp);
	return n;
}

static enum form_err parse_chunked(struct form *f, const uint8_t *data, size_t size, size_t chunk)
{
	struct multipart *mp;
	form_init(f);
	enum form_err err = multipart_new(&mp, f, "multipart/form-data; boundary=XyZ", &limits);
	CHECK(err == FORM_OK);
	for (size_t i = 0; i < size && err == FORM_OK; i += chunk) {
		size_t n = size - i < chunk ? size - i : chunk;
		err = multipart_feed(mp, (const char *)data + i, n);
	}
	if (err == FORM_OK)
		err = multipart_finish(mp);
	multipart_free(mp);
	check_form(f, err);
	return err;
}

static int same_str(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void check_same(const struct form *a, enum form_err ea, const struct form *b,
		       enum form_err eb)
{
	static char da[2048], db[2048];
	CHECK(ea == eb);
	CHECK(strcmp(a->err_msg, b->err_msg) == 0);
	CHECK(strcmp(a->err_field, b->err_field) == 0);
	CHECK(a->count == b->count);
	for (size_t i = 0; i < a->count; i++) {
		const struct form_field *x = &a->fields[i], *y = &b->fields[i];
		CHECK(strcmp(x->name, y->name) == 0);
		CHECK(same_str(x->filename, y->filename));
		CHECK(same_str(x->content_type, y->content_type));
		CHECK((x->value == NULL) == (y->value == NULL));
		if (x->value != NULL) {
			CHECK(x->value_len == y->value_len);
			CHECK(memcmp(x->value, y->value, x->value_len) == 0);
			continue;
		}
		size_t nx = file_bytes(x->path, da);
		size_t ny = file_bytes(y->path, db);
		CHECK(nx == x->file_size && ny == y->file_size && nx == ny);
		CHECK(memcmp(da, db, nx) == 0);
	}
}

static void fuzz_multipart(const uint8_t *data, size_t size)
{
	struct form whole, other;
	enum form_err ew = parse_chunked(&whole, data, size, size ? size : 1);
	size_t chunks[] = { 1, 1 + (size ? data[size - 1] % 16 : 0) };
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		enum form_err eo = parse_chunked(&other, data, size, chunks[i]);
		check_same(&whole, ew, &other, eo);
		form_deinit(&other);
	}
	/* form_deinit removes the files it did not hand over. */
	char *paths[8] = { 0 };
	size_t n = 0;
	for (size_t i = 0; i < whole.count && n < 8; i++)
		if (FORM_FIELD_IS_FILE(&whole.fields[i]))
			paths[n++] = strdup(whole.fields[i].path);
	form_deinit(&whole);
	for (size_t i = 0; i < n; i++) {
		CHECK(paths[i] == NULL || access(paths[i], F_OK) != 0);
		free(paths[i]);
	}
}

/* normalize rewrites base64 text to the padded standard alphabet, the form
 * codec_base64_encode produces. */
static size_t normalize(const char *in, size_t len, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len && in[i] != '='; i++)
		out[o++] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	while (o % 4 != 0)
		out[o++] = '=';
	return o;
}

static void fuzz_base64(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	size_t max = codec_base64_decoded_max(size);
	uint8_t *dec = malloc(size + 1); /* >= max, and holds data again */
	char *enc = malloc(4 * (size / 3 + 1) + 1);
	char *norm = malloc(size + 4);
	CHECK(dec != NULL && enc != NULL && norm != NULL);

	long n = codec_base64_decode(text, size, dec);
	if (n >= 0) {
		CHECK((size_t)n <= max);
		size_t elen = codec_base64_encode(dec, (size_t)n, enc);
		size_t nlen = normalize(text, size, norm);
		CHECK(elen == nlen && memcmp(enc, norm, elen) == 0);
	}

	/* and the other way round, on the raw bytes */
	size_t elen = codec_base64_encode(data, size, enc);
	CHECK(elen == strlen(enc));
	CHECK(codec_base64_decode(enc, elen, dec) == (long)size);
	CHECK(size == 0 || memcmp(dec, data, size) == 0);
	elen = codec_base64url_encode(data, size, enc);
	CHECK(codec_base64_decode(enc, elen, dec) == (long)size);
	CHECK(size == 0 || memcmp(dec, data, size) == 0);
	free(dec);
	free(enc);
	free(norm);
}

/* utf8_reference decodes code points the slow way and re-encodes them;
 * valid UTF-8 is exactly what survives the trip unchanged. */
static int utf8_reference(const uint8_t *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint32_t cp;
		size_t n;
		if (s[i] < 0x80) {
			cp = s[i];
			n = 1;
		} else if ((s[i] & 0xe0) == 0xc0) {
			cp = s[i] & 0x1f;
			n = 2;
		} else if ((s[i] & 0xf0) == 0xe0) {
			cp = s[i] & 0x0f;
			n = 3;
		} else if ((s[i] & 0xf8) == 0xf0) {
			cp = s[i] & 0x07;
			n = 4;
		} else {
			return 0;
		}
		if (len - i < n)
			return 0;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		size_t want = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
		if (want != n || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n;
	}
	return 1;
}

static void fuzz_utf8(const uint8_t *data, size_t size)
{
	CHECK(codec_utf8_valid((const char *)data, size) == utf8_reference(data, size));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	int mode = data[0] % 4;
	data++;
	size--;
	switch (mode) {
	case 0: fuzz_urlencoded(data, size); break;
	case 1: fuzz_multipart(data, size); break;
	case 2: fuzz_base64(data, size); break;
	case 3: fuzz_utf8(data, size); break;
	}
	return 0;
}
