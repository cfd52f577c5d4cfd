/*
 * fuzz_mp4: libFuzzer target for the MP4 box reader (mp4info.c), what the
 * dispatcher runs on every finished video before its record says how long
 * it is and how many frames it has.
 *
 * Input: the bytes of a file's top-level boxes (the corpus: real files
 * ffmpeg made, faststart and not, fragmented, with sound, their mdat boxes
 * emptied).  Checked, besides memory safety and leaks:
 *   - mp4_parse on the bytes and mp4_probe_file on a file holding them
 *     (a memfd, read with pread as a stored video is) agree: both refuse,
 *     or both answer the same numbers;
 *   - an answer is sane: frames and milliseconds not negative, a size in
 *     16 bits, has_audio 0 or 1.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "mp4info.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mp4_info a, b;
	memset(&a, 0x5A, sizeof(a));
	int ra = mp4_parse(data, size, &a);
	CHECK(ra == 0 || ra == -1);
	if (ra == 0) {
		CHECK(a.frames >= 0);
		CHECK(a.duration_ms >= 0);
		CHECK(a.width >= 0 && a.width <= 65535);
		CHECK(a.height >= 0 && a.height <= 65535);
		CHECK(a.has_audio == 0 || a.has_audio == 1);
	}
	int fd = memfd_create("fuzz_mp4", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t done = 0;
	while (done < size) {
		ssize_t w = write(fd, data + done, size - done);
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	if (done == size) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		memset(&b, 0xA5, sizeof(b));
		int rb = mp4_probe_file(path, &b);
		CHECK(rb == ra);
		if (ra == 0)
			CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	}
	close(fd);
	return 0;
}
