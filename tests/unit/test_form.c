/*
 * Unit tests for form.c: urlencoded pairs, streaming multipart, limits,
 * error messages and temporary file ownership.
 */
#include "form.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CT "multipart/form-data; boundary=XyZ"

static char tmp_dir[64];
static struct form_limits lim;
static struct form form;

static void setup(void)
{
	strcpy(tmp_dir, "/tmp/test_form.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
	lim.max_fields = 16;
	lim.max_name = 32;
	lim.max_value = 64;
	lim.max_file = 256;
	lim.tmp_dir = tmp_dir;
	form_init(&form);
}

/* files_in counts the entries of the temporary directory. */
static int files_in(const char *dir)
{
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void teardown(void)
{
	form_deinit(&form);
	ck_assert_int_eq(files_in(tmp_dir), 0);
	rmdir(tmp_dir);
}

/* read_all returns the contents of path (caller frees) and its size. */
static char *read_all(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	ck_assert_ptr_nonnull(fp);
	char *data = malloc(65536);
	ck_assert_ptr_nonnull(data);
	*len = fread(data, 1, 65536, fp);
	fclose(fp);
	return data;
}

/* mp_parse feeds body to a new parser in chunks of chunk bytes (0: whole)
 * and finishes it. */
static enum form_err mp_parse_ct(struct form *f, const char *ct, const char *body, size_t len,
				 size_t chunk)
{
	struct multipart *mp;
	enum form_err err = multipart_new(&mp, f, ct, &lim);
	if (err != FORM_OK)
		return err;
	if (chunk == 0)
		chunk = len ? len : 1;
	for (size_t i = 0; i < len && err == FORM_OK; i += chunk) {
		size_t n = len - i < chunk ? len - i : chunk;
		err = multipart_feed(mp, body + i, n);
	}
	if (err == FORM_OK)
		err = multipart_finish(mp);
	multipart_free(mp);
	return err;
}

static enum form_err mp_parse(struct form *f, const char *body, size_t chunk)
{
	return mp_parse_ct(f, CT, body, strlen(body), chunk);
}

static enum form_err url(const char *s)
{
	return form_parse_urlencoded(&form, s, strlen(s), &lim);
}

/* same_form says whether two parses gave the same fields, file contents
 * included, and the same error text. */
static void assert_same_form(const struct form *a, const struct form *b)
{
	ck_assert_str_eq(a->err_msg, b->err_msg);
	ck_assert_str_eq(a->err_field, b->err_field);
	ck_assert_uint_eq(a->count, b->count);
	for (size_t i = 0; i < a->count; i++) {
		const struct form_field *x = &a->fields[i], *y = &b->fields[i];
		ck_assert_str_eq(x->name, y->name);
		ck_assert_int_eq(x->value == NULL, y->value == NULL);
		if (x->value != NULL) {
			ck_assert_uint_eq(x->value_len, y->value_len);
			ck_assert_mem_eq(x->value, y->value, x->value_len);
		}
		ck_assert_pstr_eq(x->filename, y->filename);
		ck_assert_pstr_eq(x->content_type, y->content_type);
		ck_assert_int_eq(x->path == NULL, y->path == NULL);
		if (x->path != NULL) {
			size_t lx, ly;
			char *dx = read_all(x->path, &lx);
			char *dy = read_all(y->path, &ly);
			ck_assert_uint_eq(lx, x->file_size);
			ck_assert_uint_eq(ly, y->file_size);
			ck_assert_uint_eq(lx, ly);
			ck_assert_mem_eq(dx, dy, lx);
			free(dx);
			free(dy);
		}
	}
}

/* ---- urlencoded -------------------------------------------------------- */

START_TEST(url_basic)
{
	ck_assert_int_eq(url("prompt=a+cat%2C+running&seconds=4&n="), FORM_OK);
	ck_assert_uint_eq(form.count, 3);
	ck_assert_str_eq(form.fields[0].name, "prompt");
	ck_assert_str_eq(form.fields[0].value, "a cat, running");
	ck_assert_uint_eq(form.fields[0].value_len, 14);
	ck_assert_str_eq(form_get(&form, "seconds")->value, "4");
	ck_assert_str_eq(form_get(&form, "n")->value, "");
	ck_assert_ptr_null(form_get(&form, "size"));
	ck_assert_ptr_null(form.fields[0].path);
	ck_assert_ptr_null(form.fields[0].filename);
	ck_assert_ptr_null(form.fields[0].content_type);
}
END_TEST

START_TEST(url_plus_and_escapes)
{
	ck_assert_int_eq(url("a%20b+c=%e2%82%AC+%2B%26%3d"), FORM_OK);
	ck_assert_str_eq(form.fields[0].name, "a b c");
	ck_assert_str_eq(form.fields[0].value, "\xe2\x82\xac +&=");
}
END_TEST

START_TEST(url_empty_pairs_skipped)
{
	ck_assert_int_eq(url(""), FORM_OK);
	ck_assert_uint_eq(form.count, 0);
	ck_assert_int_eq(url("&&a=1&&&b&"), FORM_OK);
	ck_assert_uint_eq(form.count, 2);
	ck_assert_str_eq(form.fields[1].name, "b");
	ck_assert_str_eq(form.fields[1].value, "");
	ck_assert_uint_eq(form.fields[1].value_len, 0);
}
END_TEST

START_TEST(url_value_keeps_equals_and_nul)
{
	ck_assert_int_eq(url("k=a=b%00c"), FORM_OK);
	ck_assert_uint_eq(form.fields[0].value_len, 5);
	ck_assert_mem_eq(form.fields[0].value, "a=b\0c", 6);
}
END_TEST

START_TEST(url_duplicates_in_order)
{
	ck_assert_int_eq(url("tag=a&x=1&tag=b&tag=c"), FORM_OK);
	ck_assert_uint_eq(form_count(&form, "tag"), 3);
	ck_assert_uint_eq(form_count(&form, "x"), 1);
	ck_assert_uint_eq(form_count(&form, "y"), 0);
	ck_assert_str_eq(form_get(&form, "tag")->value, "a");
	ck_assert_str_eq(form.fields[2].value, "b");
	ck_assert_str_eq(form.fields[3].value, "c");
}
END_TEST

static const char *const bad_escapes[] = {
	"k=%", "k=%4", "k=%G1", "k=%1G", "k=abc%", "k=%%41", "k=%+1",
};

START_TEST(url_bad_escape)
{
	ck_assert_int_eq(url(bad_escapes[_i]), FORM_SYNTAX);
	ck_assert_str_eq(form.err_field, "k");
	ck_assert_ptr_nonnull(strstr(form.err_msg, "\"k\""));
	ck_assert_ptr_nonnull(strstr(form.err_msg, "two hex digits"));
}
END_TEST

START_TEST(url_bad_escape_in_name)
{
	ck_assert_int_eq(url("ok=1&na%zme=1"), FORM_SYNTAX);
	ck_assert_str_eq(form.err_field, "na%zme");
	ck_assert_uint_eq(form.count, 1);
}
END_TEST

START_TEST(url_empty_name)
{
	ck_assert_int_eq(url("=value"), FORM_SYNTAX);
	ck_assert_str_eq(form.err_field, "");
	ck_assert_ptr_nonnull(strstr(form.err_msg, "empty name"));
}
END_TEST

START_TEST(url_nul_in_name)
{
	ck_assert_int_eq(url("a%00b=1"), FORM_SYNTAX);
	ck_assert_str_eq(form.err_field, "a?b");
}
END_TEST

START_TEST(url_limits)
{
	char big[256];
	memset(big, 'n', 33);
	strcpy(big + 33, "=1");
	ck_assert_int_eq(url(big), FORM_NAME_TOO_LONG);
	ck_assert_ptr_nonnull(strstr(form.err_msg, "32 bytes"));
	form_deinit(&form);

	/* 32 bytes of name after decoding is fine, however long escaped */
	char esc[200] = "";
	for (int i = 0; i < 32; i++)
		strcat(esc, "%41");
	strcat(esc, "=1");
	ck_assert_int_eq(url(esc), FORM_OK);
	form_deinit(&form);

	memset(big, 'v', 64);
	memcpy(big, "k=", 2);
	big[66] = '\0';
	memset(big + 2, 'v', 64);
	ck_assert_int_eq(url(big), FORM_OK);
	form_deinit(&form);
	strcat(big, "v");
	ck_assert_int_eq(url(big), FORM_VALUE_TOO_LONG);
	ck_assert_str_eq(form.err_field, "k");
	ck_assert_str_eq(form.err_msg, "field \"k\" is longer than 64 bytes");
}
END_TEST

START_TEST(url_too_many)
{
	char s[256] = "";
	for (int i = 0; i < 16; i++)
		strcat(s, "a=1&");
	ck_assert_int_eq(url(s), FORM_OK);
	form_deinit(&form);
	strcat(s, "b=2");
	ck_assert_int_eq(url(s), FORM_TOO_MANY);
	ck_assert_str_eq(form.err_field, "b");
	ck_assert_ptr_nonnull(strstr(form.err_msg, "16"));
}
END_TEST

START_TEST(url_err_field_sanitized)
{
	ck_assert_int_eq(url("%01\xff\xc3\xa9%zz=1"), FORM_SYNTAX);
	/* raw name: "%01" is kept as typed, 0xff is not UTF-8 */
	ck_assert_str_eq(form.err_field, "%01?\xc3\xa9%zz");

	char big[400];
	memset(big, 'x', 300);
	strcpy(big + 300, "%=1");
	form_deinit(&form);
	ck_assert_int_eq(url(big), FORM_SYNTAX);
	ck_assert_uint_eq(strlen(form.err_field), 127);
}
END_TEST

/* ---- multipart: boundary ----------------------------------------------- */

static enum form_err try_ct(const char *ct)
{
	struct multipart *mp = NULL;
	enum form_err err = multipart_new(&mp, &form, ct, &lim);
	ck_assert_int_eq(mp == NULL, err != FORM_OK);
	multipart_free(mp);
	return err;
}

START_TEST(boundary_ok)
{
	ck_assert_int_eq(try_ct(CT), FORM_OK);
	ck_assert_int_eq(try_ct("Multipart/Form-Data;BOUNDARY=\"a b'()+_,-./:=?\""), FORM_OK);
	ck_assert_int_eq(try_ct("multipart/form-data; charset=utf-8; "
				"boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW"),
			 FORM_OK);
	ck_assert_int_eq(try_ct(" multipart/form-data ; boundary = x ;"), FORM_OK);
	char ct[128] = "multipart/form-data; boundary=";
	memset(ct + strlen(ct), '7', 70);
	ck_assert_int_eq(try_ct(ct), FORM_OK);
}
END_TEST

static const char *const bad_cts[] = {
	"multipart/form-data",
	"multipart/form-data;",
	"multipart/form-data; boundary=",
	"multipart/form-data; boundary=\"\"",
	"multipart/form-data; boundary=\"ends with space \"",
	"multipart/form-data; boundary=a<b",
	"multipart/form-data; boundary=a; boundary=b",
	"multipart/form-data; boundary=\"unterminated",
	"multipart/form-data boundary=x",
	"multipart/mixed; boundary=x",
	"application/x-www-form-urlencoded",
	"",
	("multipart/form-data; boundary=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), /* 71 */
};

START_TEST(boundary_bad)
{
	ck_assert_int_eq(try_ct(bad_cts[_i]), FORM_BOUNDARY);
	ck_assert_str_eq(form.err_field, "");
	ck_assert_str_ne(form.err_msg, "");
}
END_TEST

/* ---- multipart: parsing ------------------------------------------------ */

static const char simple[] = "--XyZ\r\n"
			     "Content-Disposition: form-data; name=\"prompt\"\r\n"
			     "\r\n"
			     "a cat\r\non a mat\r\n"
			     "--XyZ\r\n"
			     "content-disposition: form-data; name=\"input_reference\"; "
			     "filename=\"cat.png\"\r\n"
			     "CONTENT-TYPE: image/png\r\n"
			     "\r\n"
			     "\x89PNG\r\n\x1a\n\0\0"
			     "\r\n"
			     "--XyZ--\r\n";

START_TEST(mp_simple)
{
	ck_assert_int_eq(mp_parse_ct(&form, CT, simple, sizeof(simple) - 1, 0), FORM_OK);
	ck_assert_uint_eq(form.count, 2);
	const struct form_field *p = form_get(&form, "prompt");
	ck_assert_str_eq(p->value, "a cat\r\non a mat");
	ck_assert(!FORM_FIELD_IS_FILE(p));
	ck_assert_ptr_null(p->content_type);
	ck_assert_ptr_null(p->filename);

	const struct form_field *img = form_get(&form, "input_reference");
	ck_assert(FORM_FIELD_IS_FILE(img));
	ck_assert_ptr_null(img->value);
	ck_assert_str_eq(img->filename, "cat.png");
	ck_assert_str_eq(img->content_type, "image/png");
	ck_assert_uint_eq(img->file_size, 10);
	ck_assert(strncmp(img->path, tmp_dir, strlen(tmp_dir)) == 0);
	size_t n;
	char *data = read_all(img->path, &n);
	ck_assert_uint_eq(n, 10);
	ck_assert_mem_eq(data, "\x89PNG\r\n\x1a\n\0\0", 10);
	free(data);
	ck_assert_int_eq(files_in(tmp_dir), 1);
}
END_TEST

/* Every way of cutting the body in two, and one byte at a time, must give
 * what feeding it whole gives. */
START_TEST(mp_any_split_same_result)
{
	struct form whole;
	form_init(&whole);
	size_t len = sizeof(simple) - 1;
	ck_assert_int_eq(mp_parse_ct(&whole, CT, simple, len, 0), FORM_OK);
	for (size_t cut = 0; cut <= len; cut++) {
		struct form part;
		form_init(&part);
		struct multipart *mp;
		ck_assert_int_eq(multipart_new(&mp, &part, CT, &lim), FORM_OK);
		ck_assert_int_eq(multipart_feed(mp, simple, cut), FORM_OK);
		ck_assert_int_eq(multipart_feed(mp, simple + cut, len - cut), FORM_OK);
		ck_assert_int_eq(multipart_finish(mp), FORM_OK);
		multipart_free(mp);
		assert_same_form(&whole, &part);
		form_deinit(&part);
	}
	for (size_t chunk = 1; chunk < 12; chunk++) {
		struct form part;
		form_init(&part);
		ck_assert_int_eq(mp_parse_ct(&part, CT, simple, len, chunk), FORM_OK);
		assert_same_form(&whole, &part);
		form_deinit(&part);
	}
	form_deinit(&whole);
}
END_TEST

/* Errors, too, do not depend on how the body is cut. */
static const char *const split_bodies[] = {
	("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n"
	 "0123456789012345678901234567890123456789012345678901234567890123456789"
	 "\r\n--XyZ--"),
	"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--XyZ",
	"--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--",
	"--XyZ\r\nContent-Disposition: form-data; name=a\n\r\nx\r\n--XyZ--",
	("--XyZ  \t\r\nContent-Disposition: form-data; name=a\r\n\r\n"
	 "\r\n--XyZa\r\n--XyZ-\r\n--X\r\r\n--XyZ  x"),
	"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ\nz",
};

START_TEST(mp_errors_split_same)
{
	const char *body = split_bodies[_i];
	struct form whole;
	form_init(&whole);
	enum form_err want = mp_parse(&whole, body, 0);
	ck_assert_int_ne(want, FORM_OK);
	for (size_t chunk = 1; chunk < 9; chunk++) {
		struct form part;
		form_init(&part);
		ck_assert_int_eq(mp_parse(&part, body, chunk), want);
		assert_same_form(&whole, &part);
		form_deinit(&part);
	}
	form_deinit(&whole);
}
END_TEST

START_TEST(mp_boundary_like_content)
{
	static const char body[] = "--XyZ\r\n"
				   "Content-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n"
				   "\r\n"
				   "--XyZ\r\n--XyZa\r\n--XyZ-x\r\n--Xy\r\r\n\r--XyZ\n--XyZ"
				   "\r\n--XyZ--\r\n";
	static const char want[] = "--XyZ\r\n--XyZa\r\n--XyZ-x\r\n--Xy\r\r\n\r--XyZ\n--XyZ";
	for (size_t chunk = 0; chunk < 4; chunk++) {
		form_deinit(&form);
		ck_assert_int_eq(mp_parse(&form, body, chunk), FORM_OK);
		ck_assert_uint_eq(form.count, 1);
		size_t n;
		char *data = read_all(form.fields[0].path, &n);
		ck_assert_uint_eq(n, sizeof(want) - 1);
		ck_assert_mem_eq(data, want, n);
		free(data);
	}
}
END_TEST

START_TEST(mp_empty_parts)
{
	static const char body[] = "--XyZ\r\n"
				   "Content-Disposition: form-data; name=\"input_reference\"; "
				   "filename=\"\"\r\n"
				   "Content-Type: application/octet-stream\r\n"
				   "\r\n"
				   "\r\n--XyZ\r\n"
				   "Content-Disposition: form-data; name=\"text\"\r\n"
				   "\r\n"
				   "\r\n--XyZ--";
	ck_assert_int_eq(mp_parse(&form, body, 0), FORM_OK);
	ck_assert_uint_eq(form.count, 2);
	const struct form_field *f = &form.fields[0];
	ck_assert(FORM_FIELD_IS_FILE(f));
	ck_assert_str_eq(f->filename, "");
	ck_assert_uint_eq(f->file_size, 0);
	struct stat st;
	ck_assert_int_eq(stat(f->path, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	ck_assert_str_eq(form.fields[1].value, "");
	ck_assert_uint_eq(form.fields[1].value_len, 0);
}
END_TEST

START_TEST(mp_no_parts)
{
	ck_assert_int_eq(mp_parse(&form, "--XyZ--\r\n", 0), FORM_OK);
	ck_assert_uint_eq(form.count, 0);
}
END_TEST

START_TEST(mp_preamble_epilogue_padding)
{
	static const char body[] = "This is a preamble --XyZ in it\r\n"
				   "\r\n--XyZ \t \r\n"
				   "Content-Disposition: form-data; name=a\r\n"
				   "\r\n"
				   "1\r\n--XyZ--  trailing junk\r\n--XyZ\r\nmore junk";
	ck_assert_int_eq(mp_parse(&form, body, 0), FORM_OK);
	ck_assert_uint_eq(form.count, 1);
	ck_assert_str_eq(form.fields[0].value, "1");
}
END_TEST

START_TEST(mp_disposition_params)
{
	static const char body[] =
		"--XyZ\r\n"
		"X-Other: ignored\r\n"
		"Content-Disposition:form-data ;NAME=\"a\\\"b;c\" ; "
		"Filename=\"C:\\dir\\x\\\\y.png\"; size=3\r\n"
		"Content-Type:  image/png; q=1  \r\n"
		"\r\n"
		"abc\r\n"
		"--XyZ\r\n"
		"Content-Disposition: form-data; name=plain; "
		"filename*=UTF-8''%e2%82%ac%20rates.txt; filename=\"fallback\"\r\n"
		"\r\n"
		"\r\n"
		"--XyZ\r\n"
		"Content-Disposition: form-data;\r\n"
		" name=\"folded\"\r\n"
		"\r\n"
		"v\r\n"
		"--XyZ--";
	ck_assert_int_eq(mp_parse(&form, body, 0), FORM_OK);
	ck_assert_uint_eq(form.count, 3);
	ck_assert_str_eq(form.fields[0].name, "a\"b;c");
	ck_assert_str_eq(form.fields[0].filename, "C:\\dir\\x\\y.png");
	ck_assert_str_eq(form.fields[0].content_type, "image/png; q=1");
	ck_assert_str_eq(form.fields[1].name, "plain");
	ck_assert_str_eq(form.fields[1].filename, "\xe2\x82\xac rates.txt");
	ck_assert_str_eq(form.fields[2].name, "folded");
	ck_assert_str_eq(form.fields[2].value, "v");
}
END_TEST

START_TEST(mp_duplicates_in_order)
{
	static const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=t\r\n\r\n1\r\n"
				   "--XyZ\r\nContent-Disposition: form-data; name=u\r\n\r\n2\r\n"
				   "--XyZ\r\nContent-Disposition: form-data; name=t\r\n\r\n3\r\n"
				   "--XyZ--";
	ck_assert_int_eq(mp_parse(&form, body, 1), FORM_OK);
	ck_assert_uint_eq(form_count(&form, "t"), 2);
	ck_assert_str_eq(form_get(&form, "t")->value, "1");
	ck_assert_str_eq(form.fields[1].value, "2");
	ck_assert_str_eq(form.fields[2].value, "3");
}
END_TEST

struct bad_body {
	const char *body;
	enum form_err err;
	const char *field;
	const char *msg_part;
};

#define CD "Content-Disposition: form-data; "
static const struct bad_body bad_bodies[] = {
	{ "--XyZ\r\n" CD "filename=\"a\"\r\n\r\nx\r\n--XyZ--", FORM_SYNTAX, "", "no name" },
	{ "--XyZ\r\n" CD "name=\"\"\r\n\r\nx\r\n--XyZ--", FORM_SYNTAX, "", "empty name" },
	{ "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--", FORM_SYNTAX, "",
	  "no Content-Disposition" },
	{ "--XyZ\r\n\r\nx\r\n--XyZ--", FORM_SYNTAX, "", "no Content-Disposition" },
	{ "--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\n--XyZ--", FORM_SYNTAX, "",
	  "must be form-data" },
	{ "--XyZ\r\n" CD "name=\"a\r\n\r\nx\r\n--XyZ--", FORM_SYNTAX, "", "malformed" },
	{ "--XyZ\r\n" CD "name=a b\r\n\r\nx\r\n--XyZ--", FORM_SYNTAX, "", "malformed" },
	{ "--XyZ\r\n" CD "name=a; name=b\r\n\r\nx\r\n--XyZ--", FORM_SYNTAX, "", "two name" },
	{ "--XyZ\r\n" CD "name=a\r\n" CD "name=b\r\n\r\nx\r\n--XyZ--", FORM_SYNTAX, "",
	  "two Content-Disposition" },
	{ "--XyZ\r\n" CD "name=a\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	  "eA==\r\n--XyZ--",
	  FORM_SYNTAX, "", "Content-Transfer-Encoding" },
	{ "--XyZ\r\n" CD "name=a\nContent-Type: x\n\n1\r\n--XyZ--", FORM_SYNTAX, "", "CRLF" },
	{ "--XyZ\n" CD "name=a\r\n\r\n1\r\n--XyZ--", FORM_SYNTAX, "", "CRLF" },
	{ "--XyZ  x\r\n" CD "name=a\r\n\r\n1\r\n--XyZ--", FORM_SYNTAX, "", "after the boundary" },
	{ "--XyZ\r\n" CD "name=a\r\nBad header\r\n\r\n1\r\n--XyZ--", FORM_SYNTAX, "",
	  "Name: value" },
	{ "--XyZ\r\n" CD "name=a\rb\r\n\r\n1\r\n--XyZ--", FORM_SYNTAX, "", "control character" },
	{ "--XyZ\r\n" CD "name=a; filename*=latin1''x\r\n\r\n1\r\n--XyZ--", FORM_SYNTAX, "",
	  "filename*" },
	{ "--XyZ\r\n" CD "name=\"0123456789abcdef0123456789abcdefX\"\r\n\r\n"
	  "1\r\n--XyZ--",
	  FORM_NAME_TOO_LONG, "0123456789abcdef0123456789abcdefX", "32 bytes" },
	{ "--XyZ\r\n" CD "name=\"v\"\r\n\r\n"
	  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefX"
	  "\r\n--XyZ--",
	  FORM_VALUE_TOO_LONG, "v", "field \"v\" is longer than 64 bytes" },
	{ "", FORM_TRUNCATED, "", "no boundary line --XyZ" },
	{ "just text", FORM_TRUNCATED, "", "no boundary line --XyZ" },
	{ "--XyZ\r\n" CD "name=\"prompt\"\r\n\r\nhello", FORM_TRUNCATED, "prompt",
	  "multipart body ended before the closing boundary --XyZ--" },
	{ "--XyZ\r\n" CD "name=\"prompt\"\r\n", FORM_TRUNCATED, "", "closing boundary --XyZ--" },
	{ "--XyZ\r\n" CD "name=\"prompt\"\r\n\r\nhello\r\n--XyZ", FORM_TRUNCATED, "prompt",
	  "closing boundary --XyZ--" },
	{ "--XyZ\r\n" CD "name=\"prompt\"\r\n\r\nhello\r\n--XyZ\r\n", FORM_TRUNCATED, "",
	  "closing boundary --XyZ--" },
	{ "--XyZ\r\n" CD "name=\"prompt\"\r\n\r\nhello\r\n--XyZ-", FORM_TRUNCATED, "prompt",
	  "closing boundary --XyZ--" },
};

START_TEST(mp_bad_bodies)
{
	const struct bad_body *b = &bad_bodies[_i];
	for (size_t chunk = 0; chunk < 3; chunk++) {
		form_deinit(&form);
		ck_assert_int_eq(mp_parse(&form, b->body, chunk), b->err);
		ck_assert_str_eq(form.err_field, b->field);
		if (strstr(form.err_msg, b->msg_part) == NULL)
			ck_abort_msg("message \"%s\" lacks \"%s\"", form.err_msg, b->msg_part);
	}
}
END_TEST

START_TEST(mp_header_block_limit)
{
	struct multipart *mp;
	ck_assert_int_eq(multipart_new(&mp, &form, CT, &lim), FORM_OK);
	const char *start = "--XyZ\r\n" CD "name=a\r\n";
	ck_assert_int_eq(multipart_feed(mp, start, strlen(start)), FORM_OK);
	char line[100];
	memset(line, 'x', sizeof(line));
	memcpy(line, "X-Pad: ", 7);
	memcpy(line + 98, "\r\n", 2);
	enum form_err err = FORM_OK;
	for (int i = 0; i < 100 && err == FORM_OK; i++)
		err = multipart_feed(mp, line, sizeof(line));
	ck_assert_int_eq(err, FORM_SYNTAX);
	ck_assert_ptr_nonnull(strstr(form.err_msg, "8192"));
	/* the error sticks */
	ck_assert_int_eq(multipart_feed(mp, "\r\n", 2), FORM_SYNTAX);
	ck_assert_int_eq(multipart_finish(mp), FORM_SYNTAX);
	multipart_free(mp);
}
END_TEST

START_TEST(mp_too_many_parts)
{
	char body[4096] = "";
	for (int i = 0; i < 17; i++)
		strcat(body, "--XyZ\r\n" CD "name=\"f\"; filename=\"x\"\r\n\r\n"
			     "data\r\n");
	strcat(body, "--XyZ--\r\n");
	ck_assert_int_eq(mp_parse(&form, body, 0), FORM_TOO_MANY);
	ck_assert_uint_eq(form.count, 16);
	ck_assert_str_eq(form.err_field, "f");
	ck_assert_ptr_nonnull(strstr(form.err_msg, "more than 16"));
	ck_assert_int_eq(files_in(tmp_dir), 16);
	form_deinit(&form);
	ck_assert_int_eq(files_in(tmp_dir), 0);
}
END_TEST

START_TEST(mp_file_limit)
{
	char body[1024];
	char data[300];
	memset(data, 'd', sizeof(data));
	for (int size = 255; size <= 257; size++) {
		int n = snprintf(body, sizeof(body),
				 "--XyZ\r\n" CD "name=\"img\"; filename=\"a.png\"\r\n\r\n"
				 "%.*s\r\n--XyZ--",
				 size, data);
		ck_assert_int_lt(n, (int)sizeof(body));
		for (size_t chunk = 0; chunk < 2; chunk++) {
			form_deinit(&form);
			enum form_err err = mp_parse(&form, body, chunk);
			if (size <= 256) {
				ck_assert_int_eq(err, FORM_OK);
				ck_assert_uint_eq(form.fields[0].file_size, (size_t)size);
				continue;
			}
			ck_assert_int_eq(err, FORM_FILE_TOO_LARGE);
			ck_assert_str_eq(form.err_field, "img");
			ck_assert_str_eq(form.err_msg, "file \"img\" is larger "
						       "than 256 bytes");
			/* the half-written file went with multipart_free */
			ck_assert_int_eq(files_in(tmp_dir), 0);
		}
	}
}
END_TEST

START_TEST(mp_truncated_file_removed)
{
	struct multipart *mp;
	ck_assert_int_eq(multipart_new(&mp, &form, CT, &lim), FORM_OK);
	const char *body = "--XyZ\r\n" CD "name=\"img\"; filename=\"a\"\r\n\r\n"
			   "partial";
	ck_assert_int_eq(multipart_feed(mp, body, strlen(body)), FORM_OK);
	ck_assert_int_eq(files_in(tmp_dir), 1);
	ck_assert_int_eq(multipart_finish(mp), FORM_TRUNCATED);
	ck_assert_str_eq(form.err_field, "img");
	multipart_free(mp);
	ck_assert_int_eq(files_in(tmp_dir), 0);
	ck_assert_uint_eq(form.count, 0);
}
END_TEST

START_TEST(mp_claim_file)
{
	ck_assert_int_eq(mp_parse_ct(&form, CT, simple, sizeof(simple) - 1, 0), FORM_OK);
	struct form_field *img = &form.fields[1];
	char *path = form_claim_file(&form, img);
	ck_assert_ptr_nonnull(path);
	ck_assert_str_eq(path, img->path);
	ck_assert(FORM_FIELD_IS_FILE(img));
	/* only once; text fields have nothing to claim */
	ck_assert_ptr_null(form_claim_file(&form, img));
	ck_assert_ptr_null(form_claim_file(&form, &form.fields[0]));
	form_deinit(&form);
	ck_assert_int_eq(access(path, F_OK), 0);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(mp_tmp_dir_missing)
{
	lim.tmp_dir = "/nonexistent/reelgate-test";
	ck_assert_int_eq(mp_parse_ct(&form, CT, simple, sizeof(simple) - 1, 0), FORM_IO);
	ck_assert_str_eq(form.err_field, "input_reference");
	ck_assert_uint_eq(form.count, 1);
}
END_TEST

START_TEST(mp_feed_after_end_ignored)
{
	struct multipart *mp;
	ck_assert_int_eq(multipart_new(&mp, &form, CT, &lim), FORM_OK);
	const char *body = "--XyZ--\r\n";
	ck_assert_int_eq(multipart_feed(mp, body, strlen(body)), FORM_OK);
	ck_assert_int_eq(multipart_feed(mp, "--XyZ\r\n", 7), FORM_OK);
	ck_assert_int_eq(multipart_finish(mp), FORM_OK);
	ck_assert_int_eq(multipart_feed(mp, NULL, 0), FORM_OK);
	multipart_free(mp);
	multipart_free(NULL);
}
END_TEST

START_TEST(strerror_all)
{
	for (int e = FORM_OK; e <= FORM_IO; e++) {
		ck_assert_ptr_nonnull(form_strerror((enum form_err)e));
		ck_assert_str_ne(form_strerror((enum form_err)e), "unknown form error");
	}
	ck_assert_str_eq(form_strerror((enum form_err)99), "unknown form error");
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *form_suite(void)
{
	Suite *s = suite_create("form");
	TCase *tc = tcase_create("urlencoded");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, url_basic);
	tcase_add_test(tc, url_plus_and_escapes);
	tcase_add_test(tc, url_empty_pairs_skipped);
	tcase_add_test(tc, url_value_keeps_equals_and_nul);
	tcase_add_test(tc, url_duplicates_in_order);
	tcase_add_loop_test(tc, url_bad_escape, 0, N(bad_escapes));
	tcase_add_test(tc, url_bad_escape_in_name);
	tcase_add_test(tc, url_empty_name);
	tcase_add_test(tc, url_nul_in_name);
	tcase_add_test(tc, url_limits);
	tcase_add_test(tc, url_too_many);
	tcase_add_test(tc, url_err_field_sanitized);
	suite_add_tcase(s, tc);

	tc = tcase_create("multipart");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, boundary_ok);
	tcase_add_loop_test(tc, boundary_bad, 0, N(bad_cts));
	tcase_add_test(tc, mp_simple);
	tcase_add_test(tc, mp_any_split_same_result);
	tcase_add_loop_test(tc, mp_errors_split_same, 0, N(split_bodies));
	tcase_add_test(tc, mp_boundary_like_content);
	tcase_add_test(tc, mp_empty_parts);
	tcase_add_test(tc, mp_no_parts);
	tcase_add_test(tc, mp_preamble_epilogue_padding);
	tcase_add_test(tc, mp_disposition_params);
	tcase_add_test(tc, mp_duplicates_in_order);
	tcase_add_loop_test(tc, mp_bad_bodies, 0, N(bad_bodies));
	tcase_add_test(tc, mp_header_block_limit);
	tcase_add_test(tc, mp_too_many_parts);
	tcase_add_test(tc, mp_file_limit);
	tcase_add_test(tc, mp_truncated_file_removed);
	tcase_add_test(tc, mp_claim_file);
	tcase_add_test(tc, mp_tmp_dir_missing);
	tcase_add_test(tc, mp_feed_after_end_ignored);
	tcase_add_test(tc, strerror_all);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(form_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
