/*
 * fuzz_luma: libFuzzer target for the answers of Luma Dream Machine
 * (backend_luma.c): its parse for every phase and HTTP status.  The input
 * format and the properties checked are in fuzz_backend.h.
 */
#define FUZZ_BACKEND "luma"
#define FUZZ_RAW                                                                                   \
	"{\"type\": \"luma\", \"base_url\": \"https://api.lumalabs.example/dream-machine/v1\", "   \
	"\"api_key\": \"luma-fuzz\", \"poll_seconds\": 5}"
#define FUZZ_WORKFLOW NULL
#define FUZZ_UPSTREAM "0f3ea1c4-8a4b-4a3c-9d2e-5b6f7a8b9c0d"

#include "fuzz_backend.h"
