/*
 * fuzz_download: libFuzzer target for the reader of the download entries
 * (download_read in download.c), the bytes a download of a video's content
 * is authorised from.  The store writes them, but they are read from a
 * file on disk: a corrupt or hand-edited database must never make a worker
 * read outside them.
 *
 * Input: the entry's bytes.  Checked, besides memory safety:
 *   - a read entry's owner, status and every reference (download_next)
 *     lie inside the input, and the references fill it to its end;
 *   - download_ref finds, for each name, the first reference of that name;
 *   - download_owned_by and download_status_is agree with the bytes;
 *   - when the entry could have been made by download_build (file
 *     references only, each name once, no NUL anywhere), building it again
 *     from the record it describes gives the very same bytes.
 */
#include "fuzz.h"
#include "download.h"

static int inside(const uint8_t *data, size_t size, const char *p, size_t len)
{
	return (const uint8_t *)p >= data && len <= size &&
	       (size_t)((const uint8_t *)p - data) <= size - len;
}

static char *text(const char *p, size_t len)
{
	return fuzz_cstr((const uint8_t *)p, len);
}

/* rebuilt: the record the entry says, built into an entry again, equals
 * the input. */
static void rebuilt(const uint8_t *data, size_t size, const struct download *d)
{
	struct json_object *rec = json_object_new_object(), *files = json_object_new_object();
	char *owner = text(d->owner, d->owner_len);
	json_object_object_add(rec, "owner", json_object_new_string(owner));
	if (d->status) {
		char *st = text(d->status, d->status_len);
		json_object_object_add(rec, "status", json_object_new_string(st));
		free(st);
	}
	if (d->expired)
		json_object_object_add(rec, "expired", json_object_new_int(1));
	struct download_ref r;
	size_t pos = 0;
	while (download_next(d, &pos, &r) == 0) {
		char *name = text(r.name, r.name_len), *ref = text(r.ref, r.ref_len);
		json_object_object_add(files, name, json_object_new_string(ref));
		free(name);
		free(ref);
	}
	json_object_object_add(rec, "files", files);
	struct buf b;
	buf_init(&b, 1 << 20);
	CHECK(download_build(rec, &b) == 0);
	CHECK(b.len == size && memcmp(b.data, data, size) == 0);
	buf_deinit(&b);
	free(owner);
	json_object_put(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct download d;
	if (download_read(data, size, &d) < 0)
		return 0;
	CHECK(inside(data, size, d.owner, d.owner_len));
	CHECK(d.status == NULL || inside(data, size, d.status, d.status_len));
	CHECK(inside(data, size, (const char *)d.refs, d.refs_len));
	CHECK(d.refs + d.refs_len == data + size);
	int canonical = memchr(d.owner, '\0', d.owner_len) == NULL &&
			(d.status == NULL || memchr(d.status, '\0', d.status_len) == NULL);
	/* The owner as a C string: owned_by says yes exactly when it has no
	 * NUL (a caller's owner never has one). */
	char *owner = text(d.owner, d.owner_len);
	CHECK(download_owned_by(&d, owner) == (strlen(owner) == d.owner_len));
	free(owner);
	if (d.status != NULL) {
		char *st = text(d.status, d.status_len);
		CHECK(download_status_is(&d, st) == (strlen(st) == d.status_len));
		free(st);
	} else {
		CHECK(!download_status_is(&d, ""));
	}

	struct download_ref r, first;
	size_t pos = 0, last = 0;
	unsigned n = 0;
	while (download_next(&d, &pos, &r) == 0) {
		CHECK(pos > last && pos <= d.refs_len);
		last = pos;
		CHECK(inside(data, size, r.name, r.name_len));
		CHECK(inside(data, size, r.ref, r.ref_len));
		n++;
		char *name = text(r.name, r.name_len);
		if (strlen(name) == r.name_len) {
			CHECK(download_ref(&d, name, &first) == 0);
			CHECK(first.name_len == r.name_len &&
			      memcmp(first.name, r.name, r.name_len) == 0);
			CHECK(first.ref <= r.ref);
			if (first.ref != r.ref)
				canonical = 0; /* a name twice */
		} else {
			canonical = 0;
		}
		free(name);
		if (r.kind != DOWNLOAD_FILE || memchr(r.ref, '\0', r.ref_len) != NULL)
			canonical = 0;
	}
	CHECK(n == d.nrefs);
	CHECK(pos == d.refs_len);
	if (canonical)
		rebuilt(data, size, &d);
	return 0;
}
