/*
 * codec: small, strict encoders and decoders shared by the parsers.
 */
#ifndef REELGATE_CODEC_H
#define REELGATE_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* codec_base64_decode decodes standard base64 (RFC 4648, '+' '/', padding
 * optional; also accepts the URL-safe '-' '_' alphabet) into out, which must
 * hold at least codec_base64_decoded_max(len) bytes; out may be in itself
 * (decoding in place).  Whitespace is not allowed.  Returns the decoded
 * length, or -1 on any invalid input. */
long codec_base64_decode(const char *in, size_t len, uint8_t *out);
size_t codec_base64_decoded_max(size_t len);

/* codec_base64url_encode writes unpadded base64url of in into out (which
 * must hold 4 * ceil(len / 3) + 1 bytes) and NUL-terminates it. */
size_t codec_base64url_encode(const uint8_t *in, size_t len, char *out);
/* codec_base64_encode: standard alphabet with padding, NUL-terminated. */
size_t codec_base64_encode(const uint8_t *in, size_t len, char *out);

/* codec_hex writes 2 * len lowercase hex digits and a NUL into out. */
void codec_hex(const uint8_t *in, size_t len, char *out);

/* codec_utf8_valid says whether s[0..len) is well-formed UTF-8 (no
 * overlongs, no surrogates, nothing above U+10FFFF). */
int codec_utf8_valid(const char *s, size_t len);

/* codec_utf8_scrub makes the NUL-terminated s valid UTF-8 in place: each
 * byte that does not start a well-formed sequence (a stray byte, or a
 * character cut short by truncation) becomes '?'. */
void codec_utf8_scrub(char *s);

/* codec_json_unescape decodes the text between a JSON string's quotes in
 * place (the result is never longer) and NUL-terminates it (s[len], the
 * closing quote, must be writable).  Returns the
 * decoded length, or -1 for a bad escape, a lone surrogate or a raw control
 * character. */
long codec_json_unescape(char *s, size_t len);

#endif
