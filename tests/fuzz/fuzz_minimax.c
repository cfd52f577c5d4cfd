/*
 * fuzz_minimax: libFuzzer target for the answers of MiniMax Hailuo
 * (backend_minimax.c): its parse for every phase and HTTP status.  The
 * input format and the properties checked are in fuzz_backend.h.
 */
#define FUZZ_BACKEND "minimax"
#define FUZZ_RAW                                                                                   \
	"{\"type\": \"minimax\", \"base_url\": \"https://api.minimax.example/v1\", "               \
	"\"api_key\": \"sk-fuzz\", \"poll_seconds\": 5}"
#define FUZZ_WORKFLOW NULL
#define FUZZ_UPSTREAM "106916112212032"

#include "fuzz_backend.h"
