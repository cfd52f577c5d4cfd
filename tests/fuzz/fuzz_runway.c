/*
 * fuzz_runway: libFuzzer target for the answers of the Runway API v1
 * (backend_runway.c): its parse for every phase and HTTP status.  The
 * input format and the properties checked are in fuzz_backend.h.
 */
#define FUZZ_BACKEND "runway"
#define FUZZ_RAW                                                                                   \
	"{\"type\": \"runway\", \"base_url\": \"https://api.dev.runwayml.example/v1\", "           \
	"\"api_key\": \"key_fuzz\", \"poll_seconds\": 5}"
#define FUZZ_WORKFLOW NULL
#define FUZZ_UPSTREAM "17f20503-6c24-4c16-946b-35dbbce2af2f"

#include "fuzz_backend.h"
