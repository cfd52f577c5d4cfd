/*
 * fuzz_seedance: libFuzzer target for the answers of Seedance on Ark
 * (backend_seedance.c): its parse for every phase and HTTP status.  The
 * input format and the properties checked are in fuzz_backend.h.
 */
#define FUZZ_BACKEND "seedance"
#define FUZZ_RAW                                                                                    \
	"{\"type\": \"seedance\", \"base_url\": \"https://ark.cn-beijing.volces.example/api/v3\", " \
	"\"api_key\": \"ark-fuzz\", \"poll_seconds\": 5}"
#define FUZZ_WORKFLOW NULL
#define FUZZ_UPSTREAM "cgt-20260405024433-sbj8r"

#include "fuzz_backend.h"
