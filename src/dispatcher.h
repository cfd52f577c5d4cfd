/*
 * dispatcher: the one process per data_dir that drives tasks through their
 * backends.  One event loop (curl_multi_poll, with child-process pipes,
 * signals and the wake socket as extra descriptors); every state change is
 * one LMDB write made before the next step.  Exactly one runs per data_dir,
 * guaranteed by an flock on data_dir/dispatcher.lock.
 */
#ifndef REELGATE_DISPATCHER_H
#define REELGATE_DISPATCHER_H

#include <sys/types.h>

#include "config.h"

/* dispatcher_lock takes data_dir/dispatcher.lock without waiting; returns
 * the locked descriptor, or -1 when another dispatcher holds it. */
int dispatcher_lock(const char *data_dir);
/* dispatcher_run runs the loop until SIGTERM/SIGINT; lock_fd is a held
 * lock from dispatcher_lock.  Returns the exit status. */
int dispatcher_run(const struct config *cfg, int lock_fd, int supervised);
/* dispatcher_ensure is for processes with no master of ours (spawn-fcgi,
 * mod_fcgid): if no dispatcher holds the lock, start one, detached. */
void dispatcher_ensure(const struct config *cfg);

#endif
