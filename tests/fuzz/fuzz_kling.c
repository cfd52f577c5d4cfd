/*
 * fuzz_kling: libFuzzer target for the answers of Kling (backend_kling.c):
 * backend_ops_for("kling")->parse for every phase and HTTP status.  The
 * input format and the properties checked are in fuzz_backend.h.
 */
#define FUZZ_BACKEND "kling"
#define FUZZ_RAW                                                                                   \
	"{\"type\": \"kling\", \"base_url\": \"https://api.klingai.example\", "                    \
	"\"access_key\": \"ak-fuzz\", \"secret_key\": \"sk-fuzz\", \"poll_seconds\": 5}"
#define FUZZ_WORKFLOW NULL
#define FUZZ_UPSTREAM "CjmB5mZl7aQAAAAAAAAAAA"

#include "fuzz_backend.h"
