/*
 * fuzz_vidu: libFuzzer target for the answers of Vidu ent/v2
 * (backend_vidu.c): its parse for every phase and HTTP status.  The input
 * format and the properties checked are in fuzz_backend.h.
 */
#define FUZZ_BACKEND "vidu"
#define FUZZ_RAW                                                                                   \
	"{\"type\": \"vidu\", \"base_url\": \"https://api.vidu.example/ent/v2\", "                 \
	"\"api_key\": \"vidu-fuzz\", \"poll_seconds\": 5}"
#define FUZZ_WORKFLOW NULL
#define FUZZ_UPSTREAM "855713440395427840"

#include "fuzz_backend.h"
