/*
 * image_fetch: an input image given as a URL, made a file for the backends
 * whose module takes the image only as a file on this machine
 * (BCAP_IMAGE_FILE: a program that reads a path, an upstream the file is
 * uploaded to).  Owns the download (one transfer on the dispatcher's curl
 * multi handle, with the SSRF guard and image_urls.allow_addresses,
 * limits.max_image_bytes, image_urls.timeout_seconds and at most
 * IMAGE_FETCH_REDIRECTS redirects), the check that the bytes are a PNG, JPEG
 * or WebP image, storing them under data_dir/uploads/ as an upload is stored
 * (the file synced, then the directory), and the one record write that adds
 * params.image.path and params.image.ext beside the url -- or that fails the
 * task with invalid_image, saying what was wrong and what to do.
 *
 * The task stays queued throughout, so a dispatcher that dies mid-download
 * leaves it due and the next one downloads it again.  When to download, and
 * starting the task once its file is on record, are the dispatcher's.
 */
#ifndef REELGATE_IMAGE_FETCH_H
#define REELGATE_IMAGE_FETCH_H

#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "id.h"
#include "store.h"
#include "transfer.h"

/* Downloads at once; a task past this stays queued until a later scan. */
#define IMAGE_FETCH_MAX 4
#define IMAGE_FETCH_REDIRECTS 3
#define IMAGE_FETCH_CONNECT_MS 10000

struct image_fetch {
	char id[ID_MAX];       /* the task; "" when the slot is free */
	char param[40];	       /* the request field the URL came in */
	struct transfer *xfer; /* owned */
	int fd;		       /* the download, data_dir/tmp/image-ID.part */
};

struct image_fetches {
	const struct config *cfg; /* borrowed */
	struct store *st;	  /* borrowed */
	CURLM *multi;		  /* borrowed: the dispatcher's */
	struct image_fetch slot[IMAGE_FETCH_MAX];
};

void image_fetch_init(struct image_fetches *f, const struct config *cfg, struct store *st,
		      CURLM *multi);
/* image_fetch_deinit drops the downloads in flight; their tasks stay
 * queued for the next dispatcher. */
void image_fetch_deinit(struct image_fetches *f);
/* image_fetch_needed: backend b takes the input image as a file only
 * (BCAP_IMAGE_FILE), and rec's is a URL with no stored file yet. */
int image_fetch_needed(const struct backend_cfg *b, struct json_object *rec);
/* image_fetch_start starts downloading rec's image; nothing when it is
 * being downloaded already.  -1 when IMAGE_FETCH_MAX are in flight (or
 * memory ran out): the task stays queued, to be started again later. */
int image_fetch_start(struct image_fetches *f, struct json_object *rec);
/* image_fetch_done finishes t (transfer_done was called) when it is one of
 * f's downloads: the image stored and recorded, or the task failed.  Frees
 * t and returns 1; returns 0 when t is not f's. */
int image_fetch_done(struct image_fetches *f, struct transfer *t);
/* image_fetch_cancel drops the download of task id, if any (a delete). */
void image_fetch_cancel(struct image_fetches *f, const char *id);

#endif
