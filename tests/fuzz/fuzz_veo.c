/*
 * fuzz_veo: libFuzzer target for the answers of Veo on the Gemini API
 * (backend_veo.c): backend_type_find("veo")->parse for every phase and
 * HTTP status.  The input format and the properties checked are in
 * fuzz_backend.h.
 */
#define FUZZ_BACKEND "veo"
#define FUZZ_RAW                                                                                   \
	"{\"type\": \"veo\", \"base_url\": \"https://generativelanguage.example/v1beta\", "        \
	"\"api_key\": \"AIza-fuzz\", \"poll_seconds\": 5}"
#define FUZZ_WORKFLOW NULL
#define FUZZ_UPSTREAM "models/veo-3.1-generate-preview/operations/fuzzop123"

#include "fuzz_backend.h"
