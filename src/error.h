/*
 * error: reelgate's one internal error space (enum rg_err) and the client
 * error (struct api_error) that becomes OpenAI's envelope
 * {"error":{"message","type","param","code"}}.  The only place that decides
 * which HTTP status goes with which `type`.
 */
#ifndef REELGATE_ERROR_H
#define REELGATE_ERROR_H

#include "buf.h"

enum rg_err {
	RG_OK = 0,
	RG_ENOMEM,   /* out of memory */
	RG_ENOENT,   /* no such record */
	RG_EEXIST,   /* record already exists */
	RG_ESPACE,   /* storage full (map at its cap, or disk full) */
	RG_EIO,	     /* storage or file system failure */
	RG_EINVAL,   /* invalid argument */
	RG_ECONFIG,  /* bad configuration */
	RG_ECORRUPT, /* a stored record cannot be read */
	RG_ELIMIT,   /* a per-key limit is reached */
	RG_EQUOTA,   /* a per-key budget is spent */
};

const char *rg_strerror(enum rg_err err);

struct api_error {
	int status;	  /* HTTP status; 0 = no error */
	const char *code; /* static string or NULL */
	char param[128];  /* empty = null */
	char message[768];
};

/* api_error_set fills e; param may be NULL; the message is printf-style. */
void api_error_set(struct api_error *e, int status, const char *code, const char *param,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* api_error_from_rg maps a storage failure to a 5xx (507 when full). */
void api_error_from_rg(struct api_error *e, enum rg_err err);
/* api_error_video_not_found: the one 404 of a video that is not there or
 * not the caller's (the two must be byte-identical); with id NULL, the one
 * of an id that does not have the shape of a video id. */
void api_error_video_not_found(struct api_error *e, const char *id);
/* api_error_type: invalid_request_error, requests (429) or server_error. */
const char *api_error_type(int status);
/* api_error_json appends the envelope to out. */
int api_error_json(const struct api_error *e, struct buf *out);

#endif
