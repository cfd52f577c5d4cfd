/*
 * mp4info: what a finished video really is (its length, frames, size,
 * whether it has sound), read from the ISO-BMFF boxes of the MP4 itself,
 * for the usage ledger ("seconds and frames of completed output").
 *
 * A small, strict reader, no child process (the dispatcher is an event
 * loop): every length is checked before it is used, version 0 and 1 boxes
 * are read, container depth is fixed by the code (no recursion), and
 * anything malformed is -1, never a read out of bounds.
 */
#ifndef REELGATE_MP4INFO_H
#define REELGATE_MP4INFO_H

#include <stddef.h>
#include <stdint.h>

/* The most of a moov box, and of all moof boxes together, a probe reads. */
#define MP4_MOOV_MAX (64u << 20)
#define MP4_FRAGMENTS_MAX (64u << 20)

struct mp4_info {
	int64_t duration_ms; /* the movie's length (mvhd; fragmented: the video's samples, or mehd)
			      */
	int64_t frames;	     /* the video track's samples (stsz/stz2, or the sum of its truns) */
	int width, height;   /* tkhd (16.16), or the visual sample entry when tkhd has none */
	int has_audio;	     /* a track with an 'soun' handler */
};

/* mp4_parse reads the top-level boxes in buf[0..len): one moov box,
 * optionally followed by moof boxes (a fragmented file's fragments); other
 * boxes (ftyp, free, mdat...) are skipped.  0 with out filled, or -1 when
 * the boxes are malformed or hold no video track. */
int mp4_parse(const uint8_t *buf, size_t len, struct mp4_info *out);

/* mp4_probe_file reads the file at path the same way, with pread: the
 * top-level boxes walked (moov first or last, 64-bit sizes, size 0 = to the
 * end of the file), the moov (at most MP4_MOOV_MAX bytes) and the moof boxes
 * (at most MP4_FRAGMENTS_MAX together).  0, or -1 (malformed, truncated, too
 * big, unreadable). */
int mp4_probe_file(const char *path, struct mp4_info *out);

#endif
