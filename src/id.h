/*
 * id: identifiers.  Video ids are "video_" + 12 hex digits of milliseconds
 * since the epoch + 20 random hex digits from getrandom(), so sorting ids
 * sorts by creation time and ids are unguessable.
 */
#ifndef REELGATE_ID_H
#define REELGATE_ID_H

#include <stddef.h>
#include <stdint.h>

#define ID_VIDEO_LEN 38 /* strlen("video_") + 32 */
#define ID_MAX 64	/* room for any id reelgate makes, with its NUL */

/* id_random fills out with len bytes from getrandom(); 0 or -1. */
int id_random(void *out, size_t len);
/* id_video_new writes a new video id (ID_VIDEO_LEN + NUL bytes). */
int id_video_new(char out[ID_MAX]);
/* id_video_at writes the id for time ms and random bytes rnd[10] (tests). */
void id_video_at(char out[ID_MAX], uint64_t ms, const uint8_t rnd[10]);
/* id_video_next writes an id for now_ms that sorts after last (the greatest
 * id so far, or NULL): when the clock has not moved past last's time part,
 * it keeps that time and adds 1 + rnd's first four bytes to the random part.
 * This is how ids follow commit order across processes. */
void id_video_next(char out[ID_MAX], const char *last, uint64_t now_ms, const uint8_t rnd[10]);
/* id_video_valid: "video_" followed by 1..56 letters or digits. */
int id_video_valid(const char *s, size_t len);
/* id_character_valid: "char_" followed by 1..56 letters or digits. */
int id_character_valid(const char *s, size_t len);
/* id_prefixed_new writes prefix + 2*nbytes random hex digits. */
int id_prefixed_new(char *out, size_t outlen, const char *prefix, size_t nbytes);

/* id_file_new writes a new Files API id: "file-" + the 32 hex digits a
 * video id has, so file ids sort by creation time too. */
int id_file_new(char out[ID_MAX]);
/* id_file_valid: "file-" followed by 1..56 letters or digits. */
int id_file_valid(const char *s, size_t len);

#endif
