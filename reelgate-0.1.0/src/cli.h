/*
 * cli: the command line of the `reelgate` binary: subcommands, options,
 * --help and --version.  Each subcommand is a small function here; the work
 * is done by the modules it calls.
 */
#ifndef REELGATE_CLI_H
#define REELGATE_CLI_H

int cli_main(int argc, char **argv);

#endif
