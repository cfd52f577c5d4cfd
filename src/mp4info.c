/*
 * mp4info: reads what a finished MP4 is (mp4info.h) from its boxes.
 *
 * The boxes read (ISO/IEC 14496-12): moov > mvhd (the movie's timescale
 * and length), trak > tkhd (id, size), trak > mdia > mdhd (the track's
 * timescale and length), hdlr (vide, soun), minf > stbl > stsd (the
 * visual sample entry's size), stsz / stz2 (the sample count); moov >
 * mvex > mehd (a fragmented movie's length), trex (default sample
 * durations); moof > traf > tfhd (track, defaults), trun (samples and
 * their durations).  Each container level has its own function, so the
 * depth is fixed by the code; every field is read through get_be, which
 * checks the box is long enough.  Nothing here knows the dispatcher: it
 * takes bytes or a path and answers a struct.
 */
#include "mp4info.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FOURCC(a, b, c, d)                                                                         \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* The most top-level boxes a file may have (a probe walks them with one
 * pread each), and the most trex entries kept. */
#define TOP_BOXES_MAX (1u << 20)
#define TREX_MAX 16

struct box {
	uint32_t type;
	const uint8_t *body;
	size_t len;
};

struct track {
	uint32_t id;
	uint32_t handler;
	uint32_t timescale;
	uint64_t duration; /* mdhd, in timescale */
	uint64_t samples;
	int have_samples;
	int width, height;	       /* tkhd */
	int entry_width, entry_height; /* the first sample entry */
};

struct mp4_state {
	int have_moov;
	uint32_t timescale; /* mvhd */
	uint64_t duration;  /* mvhd; UINT64_MAX when unknown */
	uint64_t mehd;	    /* a fragmented movie's length, movie timescale; 0: none */
	int have_mvex;
	struct track video;
	int have_video;
	int has_audio;
	uint32_t trex_id[TREX_MAX], trex_duration[TREX_MAX];
	int ntrex;
	uint64_t frag_samples; /* the video's samples in moofs */
	uint64_t frag_ticks;   /* and their durations, in the video's timescale */
	int frag_ticks_known;  /* every video trun's durations were known */
};

/* get_be reads n (1..8) big-endian bytes at off of b; -1 past its end. */
static int get_be(const struct box *b, size_t off, unsigned n, uint64_t *v)
{
	if (off > b->len || b->len - off < n)
		return -1;
	uint64_t x = 0;
	for (unsigned i = 0; i < n; i++)
		x = x << 8 | b->body[off + i];
	*v = x;
	return 0;
}

static int get32(const struct box *b, size_t off, uint32_t *v)
{
	uint64_t x;
	if (get_be(b, off, 4, &x) < 0)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

/* box_head reads a box header from p (left bytes): its size (the whole
 * box; 0 means "to the end", given as left), its type and its header
 * length.  -1 when it is short or its size is impossible. */
static int box_head(const uint8_t *p, size_t avail, uint64_t left, uint64_t *size, uint32_t *type,
		    size_t *head)
{
	if (avail < 8)
		return -1;
	uint64_t s = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
	*type = FOURCC(p[4], p[5], p[6], p[7]);
	*head = 8;
	if (s == 1) {
		if (avail < 16)
			return -1;
		s = 0;
		for (int i = 8; i < 16; i++)
			s = s << 8 | p[i];
		*head = 16;
	} else if (s == 0) {
		s = left;
	}
	if (s < *head || s > left)
		return -1;
	*size = s;
	return 0;
}

/* next_box takes the next box of [*p, *p + *left): 1, 0 at the end, -1
 * when malformed. */
static int next_box(const uint8_t **p, size_t *left, struct box *b)
{
	if (*left == 0)
		return 0;
	uint64_t size;
	size_t head;
	if (box_head(*p, *left, *left, &size, &b->type, &head) < 0)
		return -1;
	b->body = *p + head;
	b->len = (size_t)size - head;
	*p += size;
	*left -= (size_t)size;
	return 1;
}

/* full_version: a full box's version (0 or 1), or -1. */
static int full_version(const struct box *b)
{
	if (b->len < 4 || b->body[0] > 1)
		return -1;
	return b->body[0];
}

/* timed reads the timescale and duration of an mvhd or mdhd; an
 * all-ones duration is unknown (UINT64_MAX). */
static int timed(const struct box *b, uint32_t *timescale, uint64_t *duration)
{
	int v = full_version(b);
	if (v < 0)
		return -1;
	uint64_t d;
	if (get32(b, v ? 20 : 12, timescale) < 0 || get_be(b, v ? 24 : 16, v ? 8 : 4, &d) < 0)
		return -1;
	if ((v == 0 && d == 0xFFFFFFFFu) || (v == 1 && d == UINT64_MAX))
		d = UINT64_MAX;
	*duration = d;
	return *timescale == 0 ? -1 : 0;
}

static int parse_tkhd(const struct box *b, struct track *t)
{
	int v = full_version(b);
	uint32_t w, h;
	if (v < 0 || get32(b, v ? 20 : 12, &t->id) < 0 || get32(b, v ? 88 : 76, &w) < 0 ||
	    get32(b, v ? 92 : 80, &h) < 0)
		return -1;
	t->width = (int)(w >> 16);
	t->height = (int)(h >> 16);
	return 0;
}

/* parse_stsd reads the first sample entry's width and height (a visual
 * sample entry: 8 bytes of SampleEntry, 16 of pre-defined and reserved,
 * then width and height as 16 bits each). */
static int parse_stsd(const struct box *b, struct track *t)
{
	uint32_t n;
	if (full_version(b) < 0 || get32(b, 4, &n) < 0)
		return -1;
	if (n == 0)
		return 0;
	const uint8_t *p = b->body + 8;
	size_t left = b->len - 8;
	struct box e;
	if (next_box(&p, &left, &e) != 1)
		return -1;
	uint64_t w, h;
	if (get_be(&e, 24, 2, &w) == 0 && get_be(&e, 26, 2, &h) == 0) {
		t->entry_width = (int)w;
		t->entry_height = (int)h;
	}
	return 0;
}

/* parse_sizes reads stsz or stz2: the sample count, with the table it
 * announces all there. */
static int parse_sizes(const struct box *b, struct track *t)
{
	uint32_t fixed, count;
	if (full_version(b) < 0 || get32(b, 4, &fixed) < 0 || get32(b, 8, &count) < 0)
		return -1;
	uint64_t bits;
	if (b->type == FOURCC('s', 't', 's', 'z')) {
		bits = fixed == 0 ? (uint64_t)count * 32 : 0;
	} else {
		unsigned field = fixed & 0xFF;
		if (field != 4 && field != 8 && field != 16)
			return -1;
		bits = (uint64_t)count * field;
	}
	if ((bits + 7) / 8 > b->len - 12)
		return -1;
	if (t->have_samples)
		return -1; /* two sample size tables */
	t->samples = count;
	t->have_samples = 1;
	return 0;
}

static int parse_stbl(const struct box *b, struct track *t)
{
	const uint8_t *p = b->body;
	size_t left = b->len;
	struct box c;
	int rc;
	while ((rc = next_box(&p, &left, &c)) == 1) {
		if (c.type == FOURCC('s', 't', 's', 'd') && parse_stsd(&c, t) < 0)
			return -1;
		if ((c.type == FOURCC('s', 't', 's', 'z') ||
		     c.type == FOURCC('s', 't', 'z', '2')) &&
		    parse_sizes(&c, t) < 0)
			return -1;
	}
	return rc;
}

static int parse_minf(const struct box *b, struct track *t)
{
	const uint8_t *p = b->body;
	size_t left = b->len;
	struct box c;
	int rc;
	while ((rc = next_box(&p, &left, &c)) == 1)
		if (c.type == FOURCC('s', 't', 'b', 'l') && parse_stbl(&c, t) < 0)
			return -1;
	return rc;
}

static int parse_mdia(const struct box *b, struct track *t)
{
	const uint8_t *p = b->body;
	size_t left = b->len;
	struct box c;
	int rc;
	while ((rc = next_box(&p, &left, &c)) == 1) {
		if (c.type == FOURCC('m', 'd', 'h', 'd') &&
		    timed(&c, &t->timescale, &t->duration) < 0)
			return -1;
		if (c.type == FOURCC('h', 'd', 'l', 'r') &&
		    (full_version(&c) < 0 || get32(&c, 8, &t->handler) < 0))
			return -1;
		if (c.type == FOURCC('m', 'i', 'n', 'f') && parse_minf(&c, t) < 0)
			return -1;
	}
	return rc;
}

static int parse_trak(struct mp4_state *st, const struct box *b)
{
	struct track t;
	memset(&t, 0, sizeof(t));
	const uint8_t *p = b->body;
	size_t left = b->len;
	struct box c;
	int rc;
	while ((rc = next_box(&p, &left, &c)) == 1) {
		if (c.type == FOURCC('t', 'k', 'h', 'd') && parse_tkhd(&c, &t) < 0)
			return -1;
		if (c.type == FOURCC('m', 'd', 'i', 'a') && parse_mdia(&c, &t) < 0)
			return -1;
	}
	if (rc < 0)
		return -1;
	if (t.handler == FOURCC('s', 'o', 'u', 'n'))
		st->has_audio = 1;
	if (t.handler == FOURCC('v', 'i', 'd', 'e') && !st->have_video) {
		if (t.timescale == 0 || !t.have_samples)
			return -1; /* a video track without its clock or its table */
		st->video = t;
		st->have_video = 1;
	}
	return 0;
}

static int parse_mvex(struct mp4_state *st, const struct box *b)
{
	const uint8_t *p = b->body;
	size_t left = b->len;
	struct box c;
	int rc;
	st->have_mvex = 1;
	while ((rc = next_box(&p, &left, &c)) == 1) {
		if (c.type == FOURCC('m', 'e', 'h', 'd')) {
			int v = full_version(&c);
			if (v < 0 || get_be(&c, 4, v ? 8 : 4, &st->mehd) < 0)
				return -1;
		}
		if (c.type == FOURCC('t', 'r', 'e', 'x')) {
			uint32_t id, dur;
			if (full_version(&c) < 0 || get32(&c, 4, &id) < 0 ||
			    get32(&c, 12, &dur) < 0)
				return -1;
			if (st->ntrex < TREX_MAX) {
				st->trex_id[st->ntrex] = id;
				st->trex_duration[st->ntrex++] = dur;
			}
		}
	}
	return rc;
}

static int parse_moov(struct mp4_state *st, const struct box *b)
{
	if (st->have_moov)
		return -1; /* one movie per file */
	st->have_moov = 1;
	int have_mvhd = 0;
	const uint8_t *p = b->body;
	size_t left = b->len;
	struct box c;
	int rc;
	while ((rc = next_box(&p, &left, &c)) == 1) {
		if (c.type == FOURCC('m', 'v', 'h', 'd')) {
			if (have_mvhd || timed(&c, &st->timescale, &st->duration) < 0)
				return -1;
			have_mvhd = 1;
		}
		if (c.type == FOURCC('t', 'r', 'a', 'k') && parse_trak(st, &c) < 0)
			return -1;
		if (c.type == FOURCC('m', 'v', 'e', 'x') && parse_mvex(st, &c) < 0)
			return -1;
	}
	return rc < 0 || !have_mvhd ? -1 : 0;
}

/* parse_trun adds a video trun's samples, and their durations when known
 * (each sample's, else the fragment's or the track's default: dflt, 0 when
 * there is none). */
static int parse_trun(struct mp4_state *st, const struct box *b, uint32_t dflt)
{
	uint32_t vf, count;
	if (full_version(b) < 0 || get32(b, 0, &vf) < 0 || get32(b, 4, &count) < 0)
		return -1;
	size_t off = 8 + (vf & 0x1 ? 4 : 0) + (vf & 0x4 ? 4 : 0);
	size_t per =
		4u * (size_t)(!!(vf & 0x100) + !!(vf & 0x200) + !!(vf & 0x400) + !!(vf & 0x800));
	if (off > b->len || (per > 0 && count > (b->len - off) / per))
		return -1;
	uint64_t ticks = 0;
	if (vf & 0x100) {
		for (uint32_t i = 0; i < count; i++) {
			uint32_t d;
			if (get32(b, off + (size_t)i * per, &d) < 0)
				return -1;
			ticks += d; /* count < 2^32 values < 2^32: no overflow */
		}
	} else if (dflt != 0) {
		ticks = (uint64_t)count * dflt;
	} else {
		st->frag_ticks_known = 0;
	}
	if (__builtin_add_overflow(st->frag_ticks, ticks, &st->frag_ticks) ||
	    __builtin_add_overflow(st->frag_samples, count, &st->frag_samples))
		return -1;
	return 0;
}

static uint32_t trex_default(const struct mp4_state *st, uint32_t id)
{
	for (int i = 0; i < st->ntrex; i++)
		if (st->trex_id[i] == id)
			return st->trex_duration[i];
	return 0;
}

static int parse_traf(struct mp4_state *st, const struct box *b)
{
	const uint8_t *p = b->body;
	size_t left = b->len;
	struct box c;
	int rc, have_tfhd = 0, ours = 0;
	uint32_t dflt = 0;
	while ((rc = next_box(&p, &left, &c)) == 1) {
		if (c.type == FOURCC('t', 'f', 'h', 'd')) {
			uint32_t vf, id;
			if (have_tfhd || full_version(&c) < 0 || get32(&c, 0, &vf) < 0 ||
			    get32(&c, 4, &id) < 0)
				return -1;
			have_tfhd = 1;
			ours = id == st->video.id;
			dflt = trex_default(st, id);
			size_t off = 8 + (vf & 0x1 ? 8 : 0) + (vf & 0x2 ? 4 : 0);
			if ((vf & 0x8) && get32(&c, off, &dflt) < 0)
				return -1;
		}
		if (c.type == FOURCC('t', 'r', 'u', 'n')) {
			if (!have_tfhd)
				return -1; /* a run of no track */
			if (ours && parse_trun(st, &c, dflt) < 0)
				return -1;
		}
	}
	return rc;
}

static int parse_moof(struct mp4_state *st, const struct box *b)
{
	const uint8_t *p = b->body;
	size_t left = b->len;
	struct box c;
	int rc;
	while ((rc = next_box(&p, &left, &c)) == 1)
		if (c.type == FOURCC('t', 'r', 'a', 'f') && parse_traf(st, &c) < 0)
			return -1;
	return rc;
}

/* to_ms turns d ticks of timescale ts into milliseconds, rounded; -1 when
 * that is beyond int64. */
static int to_ms(uint64_t d, uint32_t ts, int64_t *ms)
{
	uint64_t whole = d / ts, rest = d % ts;
	if (whole > (uint64_t)INT64_MAX / 1000 - 1)
		return -1;
	*ms = (int64_t)(whole * 1000 + (rest * 1000 + ts / 2) / ts);
	return 0;
}

static void state_init(struct mp4_state *st)
{
	memset(st, 0, sizeof(*st));
	st->frag_ticks_known = 1;
}

/* finish: the answer, once the moov and the moofs are read.  A movie with
 * fragments lasts as long as its video's samples (the moov's, mdhd, then
 * the fragments'); without known durations, mehd says; else mvhd. */
static int finish(const struct mp4_state *st, struct mp4_info *out)
{
	if (!st->have_moov || !st->have_video)
		return -1;
	const struct track *v = &st->video;
	memset(out, 0, sizeof(*out));
	uint64_t frames, ticks;
	if (__builtin_add_overflow(v->samples, st->frag_samples, &frames) ||
	    frames > (uint64_t)INT64_MAX)
		return -1;
	out->frames = (int64_t)frames;
	out->width = v->width ? v->width : v->entry_width;
	out->height = v->height ? v->height : v->entry_height;
	out->has_audio = st->has_audio;
	int fragmented = st->have_mvex || st->frag_samples > 0;
	uint64_t moov_part = v->duration == UINT64_MAX ? 0 : v->duration;
	if (fragmented && st->frag_ticks_known && st->frag_samples > 0 &&
	    !__builtin_add_overflow(moov_part, st->frag_ticks, &ticks))
		return to_ms(ticks, v->timescale, &out->duration_ms);
	if (fragmented && st->mehd > 0)
		return to_ms(st->mehd, st->timescale, &out->duration_ms);
	if (st->duration != UINT64_MAX && st->duration > 0)
		return to_ms(st->duration, st->timescale, &out->duration_ms);
	return to_ms(moov_part, v->timescale, &out->duration_ms);
}

/* scan hands the top-level boxes of type want in buf to parse. */
static int scan(const uint8_t *buf, size_t len, uint32_t want, struct mp4_state *st,
		int (*parse)(struct mp4_state *, const struct box *))
{
	const uint8_t *p = buf;
	size_t left = len;
	struct box b;
	int rc;
	while ((rc = next_box(&p, &left, &b)) == 1)
		if (b.type == want && parse(st, &b) < 0)
			return -1;
	return rc;
}

int mp4_parse(const uint8_t *buf, size_t len, struct mp4_info *out)
{
	struct mp4_state st;
	state_init(&st);
	if (buf == NULL)
		len = 0;
	/* As a probe reads a file: the movie wherever it is, then its
	 * fragments (only a movie with mvex has any). */
	if (scan(buf, len, FOURCC('m', 'o', 'o', 'v'), &st, parse_moov) < 0)
		return -1;
	if (st.have_moov && st.have_mvex &&
	    scan(buf, len, FOURCC('m', 'o', 'o', 'f'), &st, parse_moof) < 0)
		return -1;
	return finish(&st, out);
}

/* ---- files ------------------------------------------------------------- */

static int read_at(int fd, uint8_t *to, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, to + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* walk visits the top-level boxes of fd (size bytes long) and reads those
 * of type want (whole, into *buf, grown as needed) into parse; the bytes
 * of boxes of type want together at most max.  -1 when a box is
 * malformed, overruns the file, or the limits are passed. */
static int walk(int fd, uint64_t size, uint32_t want, size_t max, uint8_t **buf, size_t *cap,
		struct mp4_state *st, int (*parse)(struct mp4_state *, const struct box *))
{
	uint64_t off = 0, total = 0;
	for (unsigned n = 0; off < size; n++) {
		uint8_t h[16];
		uint64_t left = size - off, bsize;
		size_t avail = left < 16 ? (size_t)left : 16, head;
		uint32_t type;
		if (n >= TOP_BOXES_MAX || read_at(fd, h, avail, off) < 0 ||
		    box_head(h, avail, left, &bsize, &type, &head) < 0)
			return -1;
		if (type == want) {
			total += bsize - head;
			if (total > max)
				return -1;
			size_t len = (size_t)(bsize - head);
			if (len > *cap) {
				uint8_t *nb = realloc(*buf, len);
				if (nb == NULL)
					return -1;
				*buf = nb;
				*cap = len;
			}
			struct box b = { type, *buf, len };
			if (read_at(fd, *buf, len, off + head) < 0 || parse(st, &b) < 0)
				return -1;
		}
		off += bsize;
	}
	return 0;
}

int mp4_probe_file(const char *path, struct mp4_info *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat sb;
	struct mp4_state st;
	state_init(&st);
	uint8_t *buf = NULL;
	size_t cap = 0;
	int rc = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? 0 : -1;
	uint64_t size = rc == 0 ? (uint64_t)sb.st_size : 0;
	/* The movie first, wherever it is; then its fragments. */
	if (rc == 0)
		rc = walk(fd, size, FOURCC('m', 'o', 'o', 'v'), MP4_MOOV_MAX, &buf, &cap, &st,
			  parse_moov);
	if (rc == 0 && st.have_moov && st.have_mvex)
		rc = walk(fd, size, FOURCC('m', 'o', 'o', 'f'), MP4_FRAGMENTS_MAX, &buf, &cap, &st,
			  parse_moof);
	free(buf);
	close(fd);
	return rc < 0 ? -1 : finish(&st, out);
}
