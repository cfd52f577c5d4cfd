/*
 * cli: the command line of the `reelgate` binary: subcommands, options,
 * --help and --version.  Each subcommand is a small function here; the work
 * is done by the modules it calls.
 */
#ifndef REELGATE_CLI_H
#define REELGATE_CLI_H

#include <stdio.h>

int cli_main(int argc, char **argv);

struct config;
struct store;
/* cli_load_config loads path, saying on stderr what is wrong (NULL). */
struct config *cli_load_config(const char *path);
/* cli_open_store opens cfg's database, saying on stderr why not (NULL). */
struct store *cli_open_store(const struct config *cfg);
/* cli_with_store loads the config at path, opens its store and returns
 * fn's exit status (2: the config is wrong, 1: no store). */
typedef int (*cli_store_fn)(struct store *st, const struct config *cfg, void *arg);
int cli_with_store(const char *path, cli_store_fn fn, void *arg);
/* cli_webhooks: `reelgate webhooks ...` (cli_webhooks.c). */
int cli_webhooks(int argc, char **argv);
/* cli_keys_file: `reelgate keys export|import ...` (cli_keys.c), argv[0]
 * the subcommand; cli_keys_usage prints the usage of `reelgate keys`. */
int cli_keys_file(int argc, char **argv);
void cli_keys_usage(FILE *f);
/* cli_usage: `reelgate usage ...` (cli_usage.c). */
int cli_usage(int argc, char **argv);

#endif
