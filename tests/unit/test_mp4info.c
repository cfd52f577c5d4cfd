/* Unit tests for mp4info.c: files the real ffmpeg makes at test time
 * (faststart and not, fragmented two ways, with and without sound), read
 * with mp4_probe_file and compared with ffprobe's own numbers; the same
 * files made strange (a 64-bit largesize moov, a moov of size 0, cut
 * short, too big) and boxes built here by hand (version 1 times, stz2,
 * trun durations and defaults, garbage). */
#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mp4info.h"
#include "testutil.h"

static char dir[] = "/tmp/reelgate-mp4info-XXXXXX";

static void make_dir(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
	if (strstr(dir, "XXXXXX") == NULL)
		test_rmrf(dir);
}

static const char *at(const char *name)
{
	static char path[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(path[i], sizeof(path[i]), "%s/%s", dir, name);
	return path[i];
}

/* make runs ffmpeg: a testsrc of w x h at fps for secs (and a sine when
 * audio), encoded with libx264 (keyframe every gop frames), extra options
 * (movflags), into dir/name. */
static const char *make(const char *name, int w, int h, int fps, const char *secs, int audio,
			int gop, const char *extra)
{
	const char *path = at(name);
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
		 "ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=%dx%d:rate=%d:duration=%s "
		 "%s -c:v libx264 -preset ultrafast -g %d -pix_fmt yuv420p %s %s '%s'",
		 w, h, fps, secs, audio ? "-f lavfi -i sine=frequency=440:duration=1.5" : "", gop,
		 audio ? "-c:a aac -shortest" : "", extra, path);
	ck_assert_msg(system(cmd) == 0, "ffmpeg failed: %s", cmd);
	return path;
}

struct probe {
	int64_t frames;
	int width, height;
	double seconds;
	int audio;
};

/* ffprobe_of reads ffprobe's numbers for path: the first video stream's
 * packets (counted), size, the format's duration, an audio stream. */
static int ffprobe_of(const char *path, struct probe *p)
{
	char cmd[1024], line[256];
	snprintf(cmd, sizeof(cmd),
		 "ffprobe -v error -count_packets -show_entries "
		 "stream=codec_type,nb_read_packets,width,height:format=duration -of "
		 "default=nw=1 '%s'",
		 path);
	FILE *f = popen(cmd, "r");
	if (f == NULL)
		return -1;
	memset(p, 0, sizeof(*p));
	int video = 0, in_video = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "codec_type=", 11) == 0) {
			in_video = strncmp(line + 11, "video", 5) == 0 && !video;
			video |= in_video;
			p->audio |= strncmp(line + 11, "audio", 5) == 0;
		} else if (in_video && sscanf(line, "width=%d", &p->width) == 1) {
		} else if (in_video && sscanf(line, "height=%d", &p->height) == 1) {
		} else if (in_video && sscanf(line, "nb_read_packets=%" SCNd64, &p->frames) == 1) {
		} else if (sscanf(line, "duration=%lf", &p->seconds) == 1) {
		}
	}
	return pclose(f) == 0 && video ? 0 : -1;
}

/* same_as_ffprobe: our numbers are ffprobe's (the length within one
 * frame of video and the audio's last packet). */
static void same_as_ffprobe(const char *path, const struct mp4_info *mi, int fps)
{
	struct probe p;
	ck_assert_int_eq(ffprobe_of(path, &p), 0);
	ck_assert_int_eq(mi->frames, p.frames);
	ck_assert_int_eq(mi->width, p.width);
	ck_assert_int_eq(mi->height, p.height);
	ck_assert_int_eq(mi->has_audio, p.audio);
	double slack = 1000.0 / fps + 25;
	ck_assert_msg(mi->duration_ms > p.seconds * 1000 - slack &&
			      mi->duration_ms < p.seconds * 1000 + slack,
		      "%s: %lld ms, ffprobe %.3f s", path, (long long)mi->duration_ms, p.seconds);
}

START_TEST(faststart_and_not)
{
	make_dir();
	struct mp4_info mi;
	const char *fast = make("fast.mp4", 320, 240, 24, "2", 0, 12, "-movflags +faststart");
	ck_assert_int_eq(mp4_probe_file(fast, &mi), 0);
	ck_assert_int_eq(mi.frames, 48);
	ck_assert_int_eq(mi.width, 320);
	ck_assert_int_eq(mi.height, 240);
	ck_assert_int_eq(mi.duration_ms, 2000);
	ck_assert_int_eq(mi.has_audio, 0);
	same_as_ffprobe(fast, &mi, 24);

	const char *last = make("last.mp4", 176, 144, 25, "1.6", 0, 250, "");
	ck_assert_int_eq(mp4_probe_file(last, &mi), 0);
	ck_assert_int_eq(mi.frames, 40);
	ck_assert_int_eq(mi.width, 176);
	ck_assert_int_eq(mi.height, 144);
	ck_assert_int_eq(mi.duration_ms, 1600);
	same_as_ffprobe(last, &mi, 25);
}
END_TEST

START_TEST(with_audio)
{
	make_dir();
	struct mp4_info mi;
	/* 3 s of picture, 1.5 s of sound, cut to the shortest: the video
	 * frames are the picture's, not the audio's packets */
	const char *av = make("av.mp4", 256, 144, 30, "3", 1, 30, "-movflags +faststart");
	ck_assert_int_eq(mp4_probe_file(av, &mi), 0);
	ck_assert_int_eq(mi.has_audio, 1);
	ck_assert_int_eq(mi.width, 256);
	ck_assert_int_eq(mi.height, 144);
	ck_assert(mi.frames >= 44 && mi.frames <= 50); /* -shortest cuts near 1.5 s */
	same_as_ffprobe(av, &mi, 30);

	/* the sound track first: the frames are still the picture's */
	const char *first = make("sound-first.mp4", 256, 144, 30, "3", 1, 30,
				 "-map 1:a -map 0:v -movflags +faststart");
	ck_assert_int_eq(mp4_probe_file(first, &mi), 0);
	ck_assert_int_eq(mi.has_audio, 1);
	ck_assert_int_eq(mi.width, 256);
	same_as_ffprobe(first, &mi, 30);
}
END_TEST

START_TEST(fragmented)
{
	make_dir();
	struct mp4_info mi;
	/* empty moov: every sample in the fragments (4 of them) */
	const char *frag = make("frag.mp4", 320, 180, 24, "2", 0, 12,
				"-movflags frag_keyframe+empty_moov+default_base_moof");
	ck_assert_int_eq(mp4_probe_file(frag, &mi), 0);
	ck_assert_int_eq(mi.frames, 48);
	ck_assert_int_eq(mi.width, 320);
	ck_assert_int_eq(mi.height, 180);
	ck_assert_int_eq(mi.duration_ms, 2000);
	same_as_ffprobe(frag, &mi, 24);

	/* the first fragment in the moov, the rest in moofs, with sound */
	const char *frag2 = make("frag2.mp4", 160, 120, 25, "2", 1, 10, "-movflags frag_keyframe");
	ck_assert_int_eq(mp4_probe_file(frag2, &mi), 0);
	ck_assert_int_eq(mi.has_audio, 1);
	same_as_ffprobe(frag2, &mi, 25);
}
END_TEST

/* read_all / write_all: a file's bytes, and a file of bytes. */
static uint8_t *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)n + 16);
	ck_assert_int_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static const char *write_all(const char *name, const uint8_t *b, size_t len)
{
	const char *path = at(name);
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fwrite(b, 1, len, f), len);
	fclose(f);
	return path;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* find_top: the offset of the top-level box of type t (32-bit sizes). */
static size_t find_top(const uint8_t *b, size_t len, const char *t)
{
	for (size_t off = 0; off + 8 <= len;) {
		uint32_t size = be32(b + off);
		if (memcmp(b + off + 4, t, 4) == 0)
			return off;
		ck_assert_uint_ge(size, 8);
		off += size;
	}
	ck_abort_msg("no %s box", t);
	return 0;
}

START_TEST(largesize_and_size_zero)
{
	make_dir();
	struct mp4_info mi, want;
	const char *last = make("last.mp4", 176, 144, 25, "1.6", 0, 250, "");
	ck_assert_int_eq(mp4_probe_file(last, &want), 0);
	size_t len;
	uint8_t *b = read_all(last, &len);
	size_t moov = find_top(b, len, "moov");
	uint32_t moov_size = be32(b + moov);
	ck_assert_uint_eq(moov + moov_size, len); /* the moov is last: no offsets move */

	/* the moov with a 64-bit largesize header (16 bytes) */
	uint8_t *big = malloc(len + 8);
	memcpy(big, b, moov);
	put32(big + moov, 1);
	memcpy(big + moov + 4, "moov", 4);
	put32(big + moov + 8, 0);
	put32(big + moov + 12, moov_size + 8);
	memcpy(big + moov + 16, b + moov + 8, moov_size - 8);
	ck_assert_int_eq(mp4_probe_file(write_all("large.mp4", big, len + 8), &mi), 0);
	ck_assert_mem_eq(&mi, &want, sizeof(mi));
	same_as_ffprobe(at("large.mp4"), &mi, 25);
	ck_assert_int_eq(mp4_parse(big + moov, moov_size + 8, &mi), 0);
	ck_assert_mem_eq(&mi, &want, sizeof(mi));
	/* a largesize one byte longer than the file */
	put32(big + moov + 12, moov_size + 9);
	ck_assert_int_eq(mp4_probe_file(write_all("large-bad.mp4", big, len + 8), &mi), -1);
	ck_assert_int_eq(mp4_parse(big, len + 8, &mi), -1);
	/* a largesize smaller than its own header */
	put32(big + moov + 12, 12);
	ck_assert_int_eq(mp4_probe_file(write_all("large-small.mp4", big, len + 8), &mi), -1);
	free(big);

	/* size 0: the moov runs to the end of the file */
	put32(b + moov, 0);
	ck_assert_int_eq(mp4_probe_file(write_all("zero.mp4", b, len), &mi), 0);
	ck_assert_mem_eq(&mi, &want, sizeof(mi));
	free(b);
}
END_TEST

START_TEST(truncated_and_garbage)
{
	make_dir();
	struct mp4_info mi;
	size_t len;
	const char *fast = make("fast.mp4", 320, 240, 24, "2", 0, 12, "-movflags +faststart");
	uint8_t *b = read_all(fast, &len);
	/* cut in the mdat (the moov is whole, first) */
	ck_assert_int_eq(mp4_probe_file(write_all("cut1.mp4", b, len - 100), &mi), -1);
	/* cut in the moov */
	size_t moov = find_top(b, len, "moov");
	ck_assert_int_eq(mp4_probe_file(write_all("cut2.mp4", b, moov + 200), &mi), -1);
	ck_assert_int_eq(mp4_parse(b + moov, 200, &mi), -1);
	/* cut inside a box header */
	ck_assert_int_eq(mp4_probe_file(write_all("cut3.mp4", b, 5), &mi), -1);
	ck_assert_int_eq(mp4_probe_file(write_all("empty.mp4", b, 0), &mi), -1);
	/* every cut of the moov alone is refused or read, never overrun */
	uint32_t moov_size = be32(b + moov);
	for (uint32_t n = 0; n < moov_size; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		memcpy(copy, b + moov, n);
		ck_assert_int_eq(mp4_parse(copy, n, &mi), -1);
		free(copy);
	}
	/* a box inside the moov longer than the moov */
	uint8_t *bad = malloc(moov_size);
	memcpy(bad, b + moov, moov_size);
	put32(bad + 8, moov_size);
	ck_assert_int_eq(mp4_parse(bad, moov_size, &mi), -1);
	free(bad);
	/* no such file, a directory, noise */
	ck_assert_int_eq(mp4_probe_file(at("missing.mp4"), &mi), -1);
	ck_assert_int_eq(mp4_probe_file(dir, &mi), -1);
	srand(7);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)rand();
	ck_assert_int_eq(mp4_probe_file(write_all("noise.mp4", b, len), &mi), -1);
	ck_assert_int_eq(mp4_parse(NULL, 0, &mi), -1);
	free(b);
	/* sound only: no video track */
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "ffmpeg -nostdin -v error -y -f lavfi -i sine=duration=1 -c:a aac '%s'",
		 at("sound.mp4"));
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(mp4_probe_file(at("sound.mp4"), &mi), -1);
}
END_TEST

START_TEST(moov_too_big)
{
	make_dir();
	struct mp4_info mi;
	/* a sparse file whose moov says 64 MiB + 1 and is all there */
	const char *path = at("huge.mp4");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	uint8_t head[8];
	put32(head, MP4_MOOV_MAX + 9);
	memcpy(head + 4, "moov", 4);
	ck_assert_int_eq(write(fd, head, 8), 8);
	ck_assert_int_eq(ftruncate(fd, MP4_MOOV_MAX + 9), 0);
	close(fd);
	ck_assert_int_eq(mp4_probe_file(path, &mi), -1);
}
END_TEST

/* ---- boxes built by hand ------------------------------------------------ */

struct bb {
	uint8_t b[4096];
	size_t len;
	size_t open[8];
	int depth;
};

static void u8(struct bb *b, unsigned v)
{
	ck_assert_uint_lt(b->len, sizeof(b->b));
	b->b[b->len++] = (uint8_t)v;
}

static void u16(struct bb *b, unsigned v)
{
	u8(b, v >> 8);
	u8(b, v);
}

static void u32(struct bb *b, uint32_t v)
{
	u16(b, v >> 16);
	u16(b, v & 0xFFFF);
}

static void u64(struct bb *b, uint64_t v)
{
	u32(b, (uint32_t)(v >> 32));
	u32(b, (uint32_t)v);
}

static void zeros(struct bb *b, size_t n)
{
	while (n--)
		u8(b, 0);
}

static void open_box(struct bb *b, const char *type)
{
	b->open[b->depth++] = b->len;
	u32(b, 0);
	for (int i = 0; i < 4; i++)
		u8(b, (uint8_t)type[i]);
}

static void full(struct bb *b, const char *type, unsigned version, uint32_t flags)
{
	open_box(b, type);
	u32(b, version << 24 | flags);
}

static void close_box(struct bb *b)
{
	size_t start = b->open[--b->depth];
	put32(b->b + start, (uint32_t)(b->len - start));
}

/* mvhd / mdhd with version 0 or 1 times */
static void timed(struct bb *b, const char *type, unsigned v, uint32_t ts, uint64_t dur)
{
	full(b, type, v, 0);
	zeros(b, v ? 16 : 8);
	u32(b, ts);
	if (v)
		u64(b, dur);
	else
		u32(b, (uint32_t)dur);
	zeros(b, type[1] == 'v' ? 80 : 4); /* the rest of mvhd, or language */
	close_box(b);
}

static void tkhd(struct bb *b, unsigned v, uint32_t id, unsigned w, unsigned h)
{
	full(b, "tkhd", v, 7);
	zeros(b, v ? 16 : 8);
	u32(b, id);
	zeros(b, 4);
	zeros(b, v ? 8 : 4);
	zeros(b, 8 + 8 + 36);
	u32(b, w << 16);
	u32(b, h << 16);
	close_box(b);
}

static void hdlr(struct bb *b, const char *handler)
{
	full(b, "hdlr", 0, 0);
	u32(b, 0);
	for (int i = 0; i < 4; i++)
		u8(b, (uint8_t)handler[i]);
	zeros(b, 13);
	close_box(b);
}

/* track: trak > tkhd, mdia > mdhd, hdlr, minf > stbl > stsd (one visual
 * entry of ew x eh), then a sample table of count (stz2 when stz2). */
static void track(struct bb *b, unsigned v, uint32_t id, const char *handler, unsigned w,
		  unsigned h, unsigned ew, unsigned eh, uint32_t ts, uint64_t dur, uint32_t count,
		  int stz2)
{
	open_box(b, "trak");
	tkhd(b, v, id, w, h);
	open_box(b, "mdia");
	timed(b, "mdhd", v, ts, dur);
	hdlr(b, handler);
	open_box(b, "minf");
	open_box(b, "stbl");
	full(b, "stsd", 0, 0);
	u32(b, 1);
	open_box(b, "avc1");
	zeros(b, 24);
	u16(b, ew);
	u16(b, eh);
	zeros(b, 50);
	close_box(b);
	close_box(b);
	if (stz2) {
		full(b, "stz2", 0, 0);
		u32(b, 8);
		u32(b, count);
		zeros(b, count);
	} else {
		full(b, "stsz", 0, 0);
		u32(b, 1000); /* every sample this size: no table */
		u32(b, count);
	}
	close_box(b);
	close_box(b);
	close_box(b);
	close_box(b);
	close_box(b);
}

START_TEST(version1_stz2_and_audio)
{
	struct bb b = { .len = 0 };
	struct mp4_info mi;
	open_box(&b, "moov");
	timed(&b, "mvhd", 1, 1000, 2500);
	track(&b, 0, 2, "soun", 0, 0, 0, 0, 44100, 110250, 108, 0);
	track(&b, 1, 1, "vide", 640, 360, 640, 360, 12800, 32000, 60, 1);
	close_box(&b);
	ck_assert_int_eq(mp4_parse(b.b, b.len, &mi), 0);
	ck_assert_int_eq(mi.duration_ms, 2500);
	ck_assert_int_eq(mi.frames, 60); /* the video's, not the sound's 108 */
	ck_assert_int_eq(mi.width, 640);
	ck_assert_int_eq(mi.height, 360);
	ck_assert_int_eq(mi.has_audio, 1);

	/* the sample entry's size when tkhd has none */
	b.len = 0;
	open_box(&b, "moov");
	timed(&b, "mvhd", 0, 600, 3000);
	track(&b, 0, 1, "vide", 0, 0, 480, 270, 600, 3000, 125, 0);
	close_box(&b);
	ck_assert_int_eq(mp4_parse(b.b, b.len, &mi), 0);
	ck_assert_int_eq(mi.duration_ms, 5000);
	ck_assert_int_eq(mi.width, 480);
	ck_assert_int_eq(mi.height, 270);
	ck_assert_int_eq(mi.has_audio, 0);

	/* a version 2 mvhd is not one we know */
	b.b[8 + 8] = 2;
	ck_assert_int_eq(mp4_parse(b.b, b.len, &mi), -1);

	/* an stz2 whose table is not all there */
	b.len = 0;
	open_box(&b, "moov");
	timed(&b, "mvhd", 0, 600, 3000);
	track(&b, 0, 1, "vide", 2, 2, 0, 0, 600, 3000, 10, 1);
	close_box(&b);
	ck_assert_int_eq(mp4_parse(b.b, b.len, &mi), 0);
	b.b[b.len - 10 - 4] = 0xFF; /* sample_count's top byte */
	ck_assert_int_eq(mp4_parse(b.b, b.len, &mi), -1);

	/* no mvhd */
	b.len = 0;
	open_box(&b, "moov");
	track(&b, 0, 1, "vide", 2, 2, 0, 0, 600, 3000, 10, 0);
	close_box(&b);
	ck_assert_int_eq(mp4_parse(b.b, b.len, &mi), -1);
}
END_TEST

static void trun(struct bb *b, uint32_t flags, uint32_t count, uint32_t dur)
{
	full(b, "trun", 0, flags);
	u32(b, count);
	if (flags & 1)
		u32(b, 0);
	for (uint32_t i = 0; i < count && (flags & 0x300); i++) {
		if (flags & 0x100)
			u32(b, dur);
		if (flags & 0x200)
			u32(b, 100);
	}
	close_box(b);
}

START_TEST(fragments_by_hand)
{
	struct bb b = { .len = 0 };
	struct mp4_info mi;
	open_box(&b, "moov");
	timed(&b, "mvhd", 0, 1000, 0);
	track(&b, 0, 1, "vide", 320, 240, 0, 0, 12800, 0, 0, 0);
	track(&b, 0, 2, "soun", 0, 0, 0, 0, 48000, 0, 0, 0);
	open_box(&b, "mvex");
	full(&b, "trex", 0, 0);
	u32(&b, 1);
	u32(&b, 1);
	u32(&b, 512); /* default sample duration of track 1 */
	u32(&b, 0);
	u32(&b, 0);
	close_box(&b);
	close_box(&b);
	close_box(&b);
	/* the trex default */
	open_box(&b, "moof");
	open_box(&b, "traf");
	full(&b, "tfhd", 0, 0x20000);
	u32(&b, 1);
	close_box(&b);
	trun(&b, 0x1, 10, 0);
	close_box(&b);
	close_box(&b);
	/* the sound's run counts for nothing */
	open_box(&b, "moof");
	open_box(&b, "traf");
	full(&b, "tfhd", 0, 0);
	u32(&b, 2);
	close_box(&b);
	trun(&b, 0x300, 7, 1024);
	close_box(&b);
	/* each sample's own duration, and the tfhd's default */
	open_box(&b, "traf");
	full(&b, "tfhd", 0, 0x8);
	u32(&b, 1);
	u32(&b, 1024);
	close_box(&b);
	trun(&b, 0x300, 5, 512);
	trun(&b, 0x0, 2, 0);
	close_box(&b);
	close_box(&b);
	ck_assert_int_eq(mp4_parse(b.b, b.len, &mi), 0);
	ck_assert_int_eq(mi.frames, 17);
	/* 10 x 512 + 5 x 512 + 2 x 1024 = 9728 ticks of 12800 */
	ck_assert_int_eq(mi.duration_ms, 760);
	ck_assert_int_eq(mi.has_audio, 1);

	/* a trun that says more samples than it holds */
	size_t last = b.len;
	uint8_t copy[4096];
	memcpy(copy, b.b, b.len);
	open_box(&b, "moof");
	open_box(&b, "traf");
	full(&b, "tfhd", 0, 0);
	u32(&b, 1);
	close_box(&b);
	trun(&b, 0x100, 3, 40);
	close_box(&b);
	close_box(&b);
	ck_assert_int_eq(mp4_parse(b.b, b.len, &mi), 0);
	ck_assert_int_eq(mi.frames, 20);
	put32(b.b + b.len - 12 - 4, 4); /* sample_count 4, 3 durations there */
	ck_assert_int_eq(mp4_parse(b.b, b.len, &mi), -1);
	put32(b.b + b.len - 12 - 4, 0xFFFFFFFFu);
	ck_assert_int_eq(mp4_parse(b.b, b.len, &mi), -1);
	ck_assert_int_eq(mp4_parse(copy, last, &mi), 0);
}
END_TEST

static Suite *mp4info_suite(void)
{
	Suite *s = suite_create("mp4info");
	TCase *tc = tcase_create("files");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, NULL, remove_dir);
	tcase_add_test(tc, faststart_and_not);
	tcase_add_test(tc, with_audio);
	tcase_add_test(tc, fragmented);
	tcase_add_test(tc, largesize_and_size_zero);
	tcase_add_test(tc, truncated_and_garbage);
	tcase_add_test(tc, moov_too_big);
	suite_add_tcase(s, tc);
	TCase *hand = tcase_create("boxes");
	tcase_add_test(hand, version1_stz2_and_audio);
	tcase_add_test(hand, fragments_by_hand);
	suite_add_tcase(s, hand);
	return s;
}

RUN_SUITE(mp4info_suite)
