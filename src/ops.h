/*
 * ops: OpenAI's Videos operations beyond create and remix — edits,
 * extensions and characters — and what each model can do (the operations
 * GET /v1/models lists).  Reads its bodies with body.c, the source video
 * with store.c; api.c routes here and knows nothing of these operations'
 * fields.
 */
#ifndef REELGATE_OPS_H
#define REELGATE_OPS_H

#include <json-c/json.h>

#include "api.h"
#include "config.h"
#include "http.h"
#include "router.h"

enum video_op { OP_CREATE, OP_REMIX, OP_EDIT, OP_EXTEND, OP_COUNT };

/* video_op_name: the name GET /v1/models lists ("create", "remix", "edit",
 * "extend"). */
const char *video_op_name(enum video_op op);

/* model_supports says whether model can run op: every backend runs
 * create and remix; an edit or an extension when every one of the model's
 * backends runs it (the module's ops, BOP_EDIT / BOP_EXTEND). */
int model_supports(const struct config *cfg, const struct model_cfg *model, enum video_op op);

/* model_runs: every backend of model runs the BOP_* bits of want. */
int model_runs(const struct config *cfg, const struct model_cfg *model, unsigned want);

/* ops_wanted: the BOP_* bits a task record asks of its backend (rec.op,
 * params.references); an unknown op asks for everything (never runs). */
unsigned ops_wanted(struct json_object *rec);

/* model_operations_json: a new array of the names of the operations model
 * supports (the caller owns it): create, remix, edit, extend, and
 * "characters" when it takes characters as reference inputs. */
struct json_object *model_operations_json(const struct config *cfg, const struct model_cfg *model);

/* ops_references resolves metadata.character_ids of a create (ids of the
 * caller's characters, separated by commas or spaces) into
 * s->references, refusing a model without reference inputs; 0 when there
 * are none.  -1 with a 400 in e. */
int ops_references(struct app *app, const char *owner, struct video_spec *s, struct api_error *e);

/* The handlers; owner is the caller's key. */
void ops_edit(struct app *app, struct http_request *req, struct http_response *res,
	      const char *owner, const struct key_limits *lim, const char *base_url);
void ops_extend(struct app *app, struct http_request *req, struct http_response *res,
		const char *owner, const struct key_limits *lim, const char *base_url);
void ops_character_create(struct app *app, struct http_request *req, struct http_response *res,
			  const char *owner);
void ops_character_get(struct app *app, struct http_response *res, const struct route_match *m,
		       const char *owner);

#endif
