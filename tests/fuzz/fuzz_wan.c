/*
 * fuzz_wan: libFuzzer target for the answers of DashScope's Wan API
 * (backend_wan.c): the module's parse for every phase and HTTP status.
 * The input format and the properties checked are in fuzz_backend.h.
 */
#define FUZZ_BACKEND "wan"
#define FUZZ_RAW                                                                                   \
	"{\"type\": \"wan\", \"base_url\": \"https://dashscope-intl.example/api/v1\", "            \
	"\"api_key\": \"sk-fuzz\", \"poll_seconds\": 5}"
#define FUZZ_WORKFLOW NULL
#define FUZZ_UPSTREAM "0385dc79-5ff8-4d82-bcb6-xxxxxx"

#include "fuzz_backend.h"
