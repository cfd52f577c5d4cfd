/*
 * fuzz_s3xml: libFuzzer target for the XML reader of S3 answers
 * (s3_xml_text and s3_xml_error in s3.c), which reads what an S3 server
 * (or anything answering at its address) sends back: an UploadId, the
 * parts of an upload, an error's Code and Message.
 *
 * Input: the first byte picks the tag (of those reelgate reads) and the
 * element's index (0..3), the second the output size (1..256); the rest is
 * the answer.  Checked, besides memory safety:
 *   - the answer is -1, 0 or 1, and out is NUL-terminated within its size;
 *   - 0 and -1 leave out empty; 1 gives text that fits (a '<' in it
 *     only from an entity: &lt; or &#60;);
 *   - the reader keeps no state: a second call answers the same;
 *   - an element found at index k+1 means one is found at index k.
 */
#include "fuzz.h"
#include "s3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tags[] = { "UploadId", "ETag",	   "PartNumber",  "Size",
					    "Code",	"Message", "IsTruncated", "Key" };
	if (size < 2)
		return 0;
	const char *tag = tags[data[0] & 7];
	size_t nth = (data[0] >> 3) & 3;
	size_t n = (size_t)data[1] + 1;
	const char *xml = (const char *)data + 2;
	size_t len = size - 2;
	char out[257], again[257];
	memset(out, 'x', sizeof(out));
	int rc = s3_xml_text(xml, len, tag, nth, out, n);
	CHECK(rc >= -1 && rc <= 1);
	CHECK(memchr(out, '\0', n) != NULL);
	if (rc != 1)
		CHECK(out[0] == '\0');
	else
		CHECK(strlen(out) < n);
	CHECK(s3_xml_text(xml, len, tag, nth, again, n) == rc);
	CHECK(strcmp(out, again) == 0);
	if (rc == 1 && nth > 0)
		CHECK(s3_xml_text(xml, len, tag, nth - 1, again, sizeof(again)) != 0);
	char code[64], msg[128];
	s3_xml_error(xml, len, code, sizeof(code), msg, sizeof(msg));
	CHECK(NUL_TERMINATED(code) && NUL_TERMINATED(msg));
	return 0;
}
