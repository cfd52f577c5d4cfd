/*
 * scrub: takes out of a message meant for a client every name of a place in
 * the server's filesystem, so that what a program or an upstream said about
 * a failure can be shown without the server's layout.  Replaced by
 * SCRUB_WORD: a path at the start of a word (/x, ~/x, ~user/x, ./x, ../x,
 * "file:..." and "/x" after a colon, quoted ones with their spaces and
 * quotes), a word that contains the data directory in any spelling (with
 * or without its leading '/', with doubled slashes), and a relative path
 * into one of the data directory's own subdirectories (uploads/x, tmp/x,
 * ...).  A web URL, "HTTP/1.1" or "and/or" stay as they are.
 *
 * Pure text in, text out: which messages are a client's is the caller's
 * business (task_fail scrubs every failed task's error).
 */
#ifndef REELGATE_SCRUB_H
#define REELGATE_SCRUB_H

#include "buf.h"

#define SCRUB_WORD "<file>"

/* scrub_message appends msg to out, scrubbed, as valid UTF-8 without
 * control characters (an invalid byte becomes '?', a control character a
 * space; the search is made in that text).  data_dir may be NULL.  When
 * out's limit is reached the message is cut there, at a character or a
 * SCRUB_WORD, never inside one; out of memory, nothing is appended. */
void scrub_message(struct buf *out, const char *msg, const char *data_dir);

#endif
