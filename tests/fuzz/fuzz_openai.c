/*
 * fuzz_openai: libFuzzer target for the answers of an OpenAI-compatible upstream
 * (backend_openai.c): backend_ops_for("openai")->parse for every phase and HTTP status.  The input
 * format and the properties checked are in fuzz_backend.h.
 */
#define FUZZ_BACKEND "openai"
#define FUZZ_RAW                                                                                   \
	"{\"type\": \"openai\", \"base_url\": \"https://api.openai.example/v1\", "                 \
	"\"api_key\": \"sk-fuzz\", \"encoding\": \"multipart\"}"
#define FUZZ_WORKFLOW NULL
#define FUZZ_UPSTREAM "video_68d7512d07848190b3e45da0ecbebcde"

#include "fuzz_backend.h"
