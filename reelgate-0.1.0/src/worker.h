/*
 * worker: one FastCGI accept loop.  Opens its own LMDB environment (after
 * any fork), serves requests until told to stop, and finishes the request in
 * hand before it exits.
 */
#ifndef REELGATE_WORKER_H
#define REELGATE_WORKER_H

#include "config.h"

/* worker_run serves on listen_fd until SIGTERM/SIGINT/SIGQUIT; returns the
 * process exit status.  supervised: a master of ours watches this process
 * (the worker then dies with it). */
int worker_run(const struct config *cfg, int listen_fd, int supervised);

#endif
