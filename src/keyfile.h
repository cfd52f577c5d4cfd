/*
 * keyfile: the keys file, how API keys move between the nodes of a cluster
 * (`reelgate keys export` and `import`, docs/cluster.md): each key's record
 * (name, id, created, revoked, limits and budgets; its secret only as the
 * stored SHA-256) with its webhook endpoints (their signing secrets
 * included: every node signs the key's events).  Owns the file's format
 * and its checks; the store writes an import in one transaction.
 */
#ifndef REELGATE_KEYFILE_H
#define REELGATE_KEYFILE_H

#include <stddef.h>
#include <json-c/json.h>

#include "error.h"
#include "store.h"

#define KEYFILE_FORMAT "reelgate-keys"
#define KEYFILE_VERSION 1

/* keyfile_export makes the document of the keys ids[0..n) (n 0: every
 * key), each with its webhook endpoints; NULL with why filled (no such
 * key, the store failed).  The caller frees it. */
struct json_object *keyfile_export(struct store *st, const char *const *ids, size_t n, char *why,
				   size_t whylen);

/* keyfile_import checks every member of doc and, when all is right, writes
 * it in one transaction (store_keys_import): RG_EINVAL for a malformed
 * document (out->why says what and where), RG_EEXIST for a conflict with
 * this node's keys, else the store's answer; nothing is written unless
 * RG_OK. */
enum rg_err keyfile_import(struct store *st, struct json_object *doc, int replace,
			   struct store_import *out);

#endif
