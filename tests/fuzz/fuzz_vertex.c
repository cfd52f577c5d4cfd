/*
 * fuzz_vertex: libFuzzer target for the answers of Veo on Vertex AI
 * (backend_vertex.c): the module's parse for every phase and HTTP status.
 * The input format and the properties checked are in fuzz_backend.h.  The
 * backend is configured with a token managed outside (access_token), so no
 * service-account file is needed; the token answers (PHASE_AUTH) have their
 * own seeds, replayed as the phase byte maps them.
 */
#define FUZZ_BACKEND "vertex"
#define FUZZ_RAW                                                                                   \
	"{\"type\": \"vertex\", \"base_url\": \"https://us-central1-aiplatform.example/v1\", "     \
	"\"project\": \"fuzz-project\", \"location\": \"us-central1\", "                           \
	"\"access_token\": \"ya29.fuzz-token\", \"poll_seconds\": 5}"
#define FUZZ_WORKFLOW NULL
#define FUZZ_UPSTREAM                                                                              \
	"projects/fuzz-project/locations/us-central1/publishers/google/models/"                    \
	"veo-3.0-generate-001/operations/5f0c9a1e-2b7d-4c1e-9a0f-1d2e3f4a5b6c"

#include "fuzz_backend.h"
