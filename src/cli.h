/*
 * cli: the command line of the `reelgate` binary: subcommands, options,
 * --help and --version.  Each subcommand is a small function here; the work
 * is done by the modules it calls.
 */
#ifndef REELGATE_CLI_H
#define REELGATE_CLI_H

int cli_main(int argc, char **argv);

struct config;
struct store;
/* cli_load_config loads path, saying on stderr what is wrong (NULL). */
struct config *cli_load_config(const char *path);
/* cli_open_store opens cfg's database, saying on stderr why not (NULL). */
struct store *cli_open_store(const struct config *cfg);
/* cli_webhooks: `reelgate webhooks ...` (cli_webhooks.c). */
int cli_webhooks(int argc, char **argv);
/* cli_usage: `reelgate usage ...` (cli_usage.c). */
int cli_usage(int argc, char **argv);

#endif
