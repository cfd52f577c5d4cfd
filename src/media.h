/*
 * media: what a worker asks ffprobe and ffmpeg about a clip a caller sent
 * (the source of an edit or an extension, a character's clip), each run a
 * child process with a time limit, its output read through a pipe.
 */
#ifndef REELGATE_MEDIA_H
#define REELGATE_MEDIA_H

#include <stddef.h>

struct media_info {
	int width, height;
	double seconds;
};

/* media_probe reads the first video stream's size and the clip's length
 * with ffprobe (ffmpeg names the ffmpeg program; ffprobe is found beside
 * it, or on PATH).  0, or -1 when the clip cannot be decoded (why: a
 * sentence without paths). */
int media_probe(const char *ffmpeg, const char *path, struct media_info *out, char *why, size_t n);

/* media_still writes the clip's first frame as a PNG to out_png (created
 * fresh, synced).  0, or -1. */
int media_still(const char *ffmpeg, const char *path, const char *out_png);

/* media_set_timeout_ms changes the time limit of each run (tests). */
void media_set_timeout_ms(int ms);

#endif
