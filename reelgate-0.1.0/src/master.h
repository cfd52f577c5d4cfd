/*
 * master: `reelgate serve`.  Binds the FastCGI socket (or takes the one on
 * fd 0 / from systemd), forks the workers, reaps and respawns them with
 * throttling, reloads on SIGHUP and stops gracefully on SIGTERM/SIGINT.
 */
#ifndef REELGATE_MASTER_H
#define REELGATE_MASTER_H

/* master_serve runs `reelgate serve`; returns the exit status. */
int master_serve(const char *config_path, int foreground);

#endif
