/*
 * download: the download entry kept beside each record (download.h).
 *
 * Layout: 'D', flags (DL_EXPIRED, DL_STATUS), the owner's length (1 byte),
 * the status's length (1 byte), the number of references (1 byte), the
 * owner, the status, then each reference: its variant's name length (1
 * byte), the name, its kind (1 byte), the reference's length (2 bytes,
 * big-endian), the reference.  Nothing follows the last one.
 *
 * The strings are what the record's readers saw: rec_str's, so up to the
 * first NUL of a JSON string.
 */
#include "download.h"

#include <stdint.h>
#include <string.h>

#include "record.h"

#define DL_MAGIC 'D'
#define DL_HEAD 5
#define DL_EXPIRED 1
#define DL_STATUS 2 /* the status is a string (else the record's is not) */
#define DL_REFS_MAX 255
#define DL_REF_MAX 0xffff

/* add_refs appends a reference of kind for each string member of the
 * object rec.member, counting them in *n.  One too long for the format
 * (a name past 255 bytes, a reference past 65535) is left out: no such
 * variant is asked for, and no such path fits the answer's buffer, so a
 * download answers it as missing either way. */
static int add_refs(struct buf *out, struct json_object *rec, const char *member, int kind,
		    unsigned *n)
{
	struct json_object *refs = rec_obj(rec, member);
	if (refs == NULL)
		return 0;
	json_object_object_foreach(refs, name, v) {
		if (!json_object_is_type(v, json_type_string))
			continue; /* rec_str reads none either */
		const char *ref = json_object_get_string(v);
		size_t nlen = strlen(name), rlen = strlen(ref);
		if (nlen > 255 || rlen > DL_REF_MAX || *n == DL_REFS_MAX)
			continue;
		uint8_t nl = (uint8_t)nlen,
			mid[3] = { (uint8_t)kind, (uint8_t)(rlen >> 8), (uint8_t)rlen };
		if (buf_append(out, &nl, 1) < 0 || buf_append(out, name, nlen) < 0 ||
		    buf_append(out, mid, sizeof(mid)) < 0 || buf_append(out, ref, rlen) < 0)
			return -1;
		++*n;
	}
	return 0;
}

int download_build(struct json_object *rec, struct buf *out)
{
	const char *owner = rec_str(rec, "owner");
	const char *status = rec_str(rec, "status");
	size_t olen = owner ? strlen(owner) : 0, slen = status ? strlen(status) : 0;
	if (olen > 255 || slen > 255)
		return -1;
	size_t start = out->len;
	uint8_t head[DL_HEAD] = { DL_MAGIC,
				  (uint8_t)((rec_i64(rec, "expired") ? DL_EXPIRED : 0) |
					    (status ? DL_STATUS : 0)),
				  (uint8_t)olen, (uint8_t)slen, 0 };
	unsigned n = 0;
	int rc = buf_append(out, head, sizeof(head)) < 0 || buf_append(out, owner, olen) < 0 ||
				 buf_append(out, status, slen) < 0
			 ? -1
			 : 0;
	/* Each store's references: the stored files, and the object keys
	 * of content.store "s3". */
	if (rc == 0)
		rc = add_refs(out, rec, "files", DOWNLOAD_FILE, &n);
	if (rc == 0)
		rc = add_refs(out, rec, "objects", DOWNLOAD_OBJECT, &n);
	if (rc < 0) {
		buf_truncate(out, start);
		return -1;
	}
	out->data[start + 4] = (char)n;
	return 0;
}

int download_read(const void *data, size_t len, struct download *d)
{
	const uint8_t *p = data, *end = p + len;
	if (len < DL_HEAD || p[0] != DL_MAGIC || (p[1] & ~(DL_EXPIRED | DL_STATUS)) != 0 ||
	    (!(p[1] & DL_STATUS) && p[3] != 0) || len - DL_HEAD < (size_t)p[2] + p[3])
		return -1;
	d->expired = (p[1] & DL_EXPIRED) != 0;
	d->owner = (const char *)p + DL_HEAD;
	d->owner_len = p[2];
	d->status = p[1] & DL_STATUS ? d->owner + d->owner_len : NULL;
	d->status_len = p[3];
	d->nrefs = p[4];
	d->refs = p + DL_HEAD + p[2] + p[3];
	d->refs_len = (size_t)(end - d->refs);
	const uint8_t *q = d->refs;
	for (unsigned i = 0; i < d->nrefs; i++) {
		if (end - q < 1 || (size_t)(end - q) < 1u + q[0] + 3u)
			return -1;
		q += 1 + q[0];
		size_t rlen = ((size_t)q[1] << 8) | q[2];
		if ((size_t)(end - q) < 3 + rlen)
			return -1;
		q += 3 + rlen;
	}
	return q == end ? 0 : -1;
}

int download_owned_by(const struct download *d, const char *owner)
{
	return strlen(owner) == d->owner_len && memcmp(d->owner, owner, d->owner_len) == 0;
}

int download_status_is(const struct download *d, const char *status)
{
	return d->status != NULL && strlen(status) == d->status_len &&
	       memcmp(d->status, status, d->status_len) == 0;
}

int download_next(const struct download *d, size_t *pos, struct download_ref *r)
{
	if (*pos >= d->refs_len)
		return -1;
	const uint8_t *q = d->refs + *pos, *mid = q + 1 + q[0];
	r->name = (const char *)q + 1;
	r->name_len = q[0];
	r->kind = mid[0];
	r->ref = (const char *)mid + 3;
	r->ref_len = ((size_t)mid[1] << 8) | mid[2];
	*pos = (size_t)((const uint8_t *)r->ref + r->ref_len - d->refs);
	return 0;
}

int download_ref(const struct download *d, const char *variant, struct download_ref *r)
{
	size_t vlen = strlen(variant), pos = 0;
	while (download_next(d, &pos, r) == 0)
		if (r->name_len == vlen && memcmp(r->name, variant, vlen) == 0)
			return 0;
	return -1;
}
