/*
 * fuzz_comfyui: libFuzzer target for the answers of ComfyUI (backend_comfyui.c):
 * backend_ops_for("comfyui")->parse for every phase and HTTP status.  The
 * input format and the properties checked are in fuzz_backend.h.
 */
#define FUZZ_BACKEND "comfyui"
#define FUZZ_RAW                                                                                   \
	"{\"type\": \"comfyui\", \"base_url\": \"http://127.0.0.1:8188\", "                        \
	"\"workflow\": \"wan.json\", \"workflow_path\": \"/nonexistent/wan.json\", "               \
	"\"inputs\": {\"prompt\": [\"6\", \"text\"], \"negative_prompt\": [\"7\", \"text\"], "     \
	"\"seed\": [\"3\", \"seed\"], \"width\": [\"40\", \"width\"], "                            \
	"\"height\": [\"40\", \"height\"], \"frames\": [\"40\", \"length\"], "                     \
	"\"fps\": [\"47\", \"fps\"], \"image\": [\"52\", \"image\"]}}"
#define FUZZ_WORKFLOW                                                                                        \
	"{\"3\": {\"class_type\": \"KSampler\", \"inputs\": {\"seed\": 1, \"steps\": 20, "                   \
	"\"model\": [\"4\", 0], \"positive\": [\"6\", 0], \"negative\": [\"7\", 0], "                        \
	"\"latent_image\": [\"40\", 0]}}, "                                                                  \
	"\"6\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"\", \"clip\": [\"38\", 0]}}, " \
	"\"7\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"\", \"clip\": [\"38\", 0]}}, " \
	"\"40\": {\"class_type\": \"WanImageToVideo\", \"inputs\": {\"width\": 832, \"height\": 480, "       \
	"\"length\": 33, \"start_image\": [\"52\", 0]}}, "                                                   \
	"\"47\": {\"class_type\": \"SaveWEBM\", \"inputs\": {\"fps\": 16, \"images\": [\"8\", 0]}}, "        \
	"\"52\": {\"class_type\": \"LoadImage\", \"inputs\": {\"image\": \"example.png\"}}}"
#define FUZZ_UPSTREAM FUZZ_ID

#include "fuzz_backend.h"
