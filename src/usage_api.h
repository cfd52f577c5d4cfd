/*
 * usage_api: GET /v1/usage/videos, a key's own usage from the ledger
 * (store_usage.c), in the bucketed page shape of OpenAI's usage API.
 */
#ifndef REELGATE_USAGE_API_H
#define REELGATE_USAGE_API_H

#include "api.h"

void usage_api_videos(struct app *app, struct http_request *req, struct http_response *res,
		      const char *owner);

#endif
