/*
 * master: the supervisor process.
 *
 * Signals are blocked and taken synchronously with sigtimedwait(), so there
 * are no asynchronous handlers at all in the master: the loop sees SIGCHLD,
 * SIGTERM, SIGINT, SIGQUIT and SIGHUP as plain events, and its timeout
 * drives delayed respawns and the shutdown deadline.
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dispatcher.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "worker.h"

#define MAX_WORKERS 256
#define SHUTDOWN_GRACE_MS 30000
#define RESPAWN_MAX_DELAY_MS 10000
#define QUICK_EXIT_MS 2000

struct slot {
	pid_t pid;	    /* 0: empty */
	int generation;	    /* workers of an older generation are retiring */
	int64_t started;    /* ms */
	int64_t respawn_at; /* ms; 0: not waiting */
	int failures;	    /* quick exits in a row */
};

struct master {
	const char *config_path;
	struct config *cfg;
	int listen_fd;
	int owns_socket; /* we bound it (and unlink a unix socket at exit) */
	char unix_path[108];
	int generation;
	struct slot slots[MAX_WORKERS * 2];
	int pid_fd;
	char pid_path[4096];
	struct slot disp; /* the dispatcher */
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int is_listening_socket(int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);
	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v;
}

static int bind_unix(struct master *m, const char *path, int mode)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct stat stt;
	/* A socket left by a previous run (we hold the pid lock) is stale. */
	if (lstat(path, &stt) == 0 && S_ISSOCK(stt.st_mode))
		unlink(path);
	mode_t old = umask(0777 & ~mode);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || chmod(path, (mode_t)mode) < 0 || listen(fd, 1024) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	snprintf(m->unix_path, sizeof(m->unix_path), "%s", path);
	return fd;
}

static int bind_tcp(const char *listen_addr)
{
	char host[256];
	const char *colon = strrchr(listen_addr, ':');
	size_t hlen = (size_t)(colon - listen_addr);
	if (hlen >= sizeof(host))
		return -1;
	memcpy(host, listen_addr, hlen);
	host[hlen] = '\0';
	char *h = host;
	if (h[0] == '[' && hlen > 2 && h[hlen - 1] == ']') {
		h[hlen - 1] = '\0';
		h++;
	}
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	int gai = getaddrinfo(h[0] ? h : NULL, colon + 1, &hints, &res);
	if (gai != 0) {
		errno = EADDRNOTAVAIL;
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		int saved = errno;
		close(fd);
		errno = saved;
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* open_listener takes the systemd socket, or binds the configured one. */
static int open_listener(struct master *m)
{
	const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID");
	if (fds && pid && atoi(fds) >= 1 && (pid_t)atol(pid) == getpid() &&
	    is_listening_socket(3)) {
		m->listen_fd = 3;
		m->owns_socket = 0;
		fcntl(3, F_SETFD, FD_CLOEXEC);
		/* Not for our children: a renderer is no socket-activated service. */
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDNAMES");
		log_info("listen", "source=systemd fd=3");
		return 0;
	}
	const char *l = m->cfg->listen;
	m->listen_fd = strncmp(l, "unix:", 5) == 0 ? bind_unix(m, l + 5, m->cfg->listen_mode)
						   : bind_tcp(l);
	if (m->listen_fd < 0) {
		fprintf(stderr, "reelgate: cannot listen on %s: %s\n", l, strerror(errno));
		return -1;
	}
	m->owns_socket = 1;
	log_info("listen", "address=%s", l);
	return 0;
}

/* check_database opens (and closes: never across a fork) the database,
 * so a data_dir the workers cannot use is refused at start, with the reason,
 * instead of as a respawn loop. */
static int check_database(const struct config *cfg)
{
	struct store *st;
	struct store_options so = { cfg->map_bytes, cfg->max_map_bytes, cfg->durable };
	enum rg_err err = store_open(&st, cfg->data_dir, &so);
	if (err != RG_OK) {
		fprintf(stderr,
			"reelgate: cannot open the database in %s/db: %s (is it owned by another user? run reelgate as the user that owns data_dir)\n",
			cfg->data_dir, rg_strerror(err));
		return -1;
	}
	store_close(st);
	return 0;
}

/* lock_pid_file makes sure one master runs per data_dir. */
static int lock_pid_file(struct master *m)
{
	snprintf(m->pid_path, sizeof(m->pid_path), "%s/reelgate.pid", m->cfg->data_dir);
	m->pid_fd = open(m->pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (m->pid_fd < 0) {
		fprintf(stderr, "reelgate: cannot open %s: %s\n", m->pid_path, strerror(errno));
		return -1;
	}
	if (flock(m->pid_fd, LOCK_EX | LOCK_NB) < 0) {
		char other[32] = "";
		ssize_t n = pread(m->pid_fd, other, sizeof(other) - 1, 0);
		other[n > 0 ? n : 0] = '\0';
		other[strcspn(other, "\n")] = '\0';
		fprintf(stderr, "reelgate: already running for %s (pid %s)\n", m->cfg->data_dir,
			other[0] ? other : "?");
		return -1;
	}
	return 0;
}

static void write_pid(struct master *m)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(m->pid_fd, 0) == 0 && pwrite(m->pid_fd, buf, (size_t)n, 0) == n)
		fsync(m->pid_fd);
}

static int daemonize(struct master *m)
{
	int logfd = open(m->cfg->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (logfd < 0) {
		fprintf(stderr, "reelgate: cannot open log file %s: %s\n", m->cfg->log_file,
			strerror(errno));
		return -1;
	}
	int pfd[2];
	if (pipe(pfd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		/* The parent waits until the daemon says it is serving. */
		close(pfd[1]);
		char ok = 0;
		ssize_t n = read(pfd[0], &ok, 1);
		_exit(n == 1 && ok == 'y' ? 0 : 1);
	}
	close(pfd[0]);
	setsid();
	int devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		close(devnull);
	}
	dup2(logfd, STDERR_FILENO);
	close(logfd);
	return pfd[1];
}

static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGQUIT);
	sigaddset(set, SIGHUP);
	sigprocmask(SIG_BLOCK, set, NULL);
}

static void noop(int sig)
{
	(void)sig;
}

static pid_t spawn_worker(struct master *m, struct slot *s)
{
	pid_t pid = fork();
	if (pid < 0) {
		log_error("fork_failed", "errno=%d", errno);
		s->respawn_at = mono_ms() + 1000;
		return -1;
	}
	if (pid == 0) {
		close(m->pid_fd); /* the pid lock is the master's alone */
		int rc = worker_run(m->cfg, m->listen_fd, 1);
		_exit(rc);
	}
	s->pid = pid;
	s->generation = m->generation;
	s->started = mono_ms();
	s->respawn_at = 0;
	log_info("worker_spawned", "worker_pid=%d generation=%d", (int)pid, m->generation);
	return pid;
}

static void spawn_dispatcher(struct master *m)
{
	struct slot *s = &m->disp;
	pid_t pid = fork();
	if (pid < 0) {
		s->respawn_at = mono_ms() + 1000;
		return;
	}
	if (pid == 0) {
		close(m->pid_fd);
		close(m->listen_fd);
		int lock = dispatcher_lock(m->cfg->data_dir);
		if (lock < 0) {
			log_warn("dispatcher_locked",
				 "reason=\"another dispatcher holds %s/dispatcher.lock\"",
				 m->cfg->data_dir);
			_exit(3);
		}
		_exit(dispatcher_run(m->cfg, lock, 1));
	}
	s->pid = pid;
	s->started = mono_ms();
	s->respawn_at = 0;
	log_info("dispatcher_spawned", "dispatcher_pid=%d", (int)pid);
}

/* throttle schedules a respawn, backing off after quick deaths of the
 * process's own making (an exit status, a crash).  A SIGKILL comes from
 * outside (an operator, the OOM killer): the replacement starts at once,
 * so a pool under such kills keeps serving. */
static void throttle(struct slot *s, const char *what, int status)
{
	int64_t now = mono_ms();
	int killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	if (killed)
		s->failures = 0;
	else
		s->failures = now - s->started < QUICK_EXIT_MS ? s->failures + 1 : 0;
	int64_t delay = 0;
	if (s->failures > 0) {
		delay = 100LL << (s->failures < 7 ? s->failures : 7);
		if (delay > RESPAWN_MAX_DELAY_MS)
			delay = RESPAWN_MAX_DELAY_MS;
		log_warn("respawn_throttled", "process=%s delay_ms=%lld failures=%d", what,
			 (long long)delay, s->failures);
	}
	s->respawn_at = now + delay;
}

static void start_generation(struct master *m)
{
	m->generation++;
	int want = m->cfg->workers;
	for (int i = 0; i < MAX_WORKERS * 2 && want > 0; i++) {
		struct slot *s = &m->slots[i];
		if (s->pid != 0 || s->respawn_at != 0)
			continue;
		memset(s, 0, sizeof(*s));
		spawn_worker(m, s);
		want--;
	}
}

static int live_workers(struct master *m)
{
	int n = m->disp.pid != 0;
	for (int i = 0; i < MAX_WORKERS * 2; i++)
		n += m->slots[i].pid != 0;
	return n;
}

static void signal_workers(struct master *m, int sig, int below_generation)
{
	for (int i = 0; i < MAX_WORKERS * 2; i++) {
		struct slot *s = &m->slots[i];
		if (s->pid != 0 && s->generation < below_generation)
			kill(s->pid, sig);
		if (s->generation < below_generation)
			s->respawn_at = 0;
	}
}

/* reap collects exited workers and schedules respawns for current ones. */
static void reap(struct master *m, int stopping)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == m->disp.pid) {
			log_info("dispatcher_exited", "dispatcher_pid=%d status=%d", (int)pid,
				 status);
			m->disp.pid = 0;
			if (!stopping) {
				throttle(&m->disp, "dispatcher", status);
				metrics_restart("dispatcher");
			}
			continue;
		}
		struct slot *s = NULL;
		for (int i = 0; i < MAX_WORKERS * 2; i++)
			if (m->slots[i].pid == pid)
				s = &m->slots[i];
		if (s == NULL)
			continue;
		if (WIFSIGNALED(status))
			log_warn("worker_exited", "worker_pid=%d signal=%d", (int)pid,
				 WTERMSIG(status));
		else
			log_info("worker_exited", "worker_pid=%d status=%d", (int)pid,
				 WEXITSTATUS(status));
		s->pid = 0;
		if (stopping || s->generation != m->generation) {
			memset(s, 0, sizeof(*s));
			continue;
		}
		throttle(s, "worker", status);
		metrics_restart("worker");
	}
}

static int64_t respawn_due(struct master *m)
{
	int64_t next = 0, now = mono_ms();
	if (m->disp.pid == 0 && m->disp.respawn_at != 0) {
		if (m->disp.respawn_at <= now)
			spawn_dispatcher(m);
		else
			next = m->disp.respawn_at;
	}
	for (int i = 0; i < MAX_WORKERS * 2; i++) {
		struct slot *s = &m->slots[i];
		if (s->pid != 0 || s->respawn_at == 0)
			continue;
		if (s->respawn_at <= now)
			spawn_worker(m, s);
		else if (next == 0 || s->respawn_at < next)
			next = s->respawn_at;
	}
	return next;
}

static void reload(struct master *m)
{
	char err[1024];
	struct config *fresh = config_load(m->config_path, err, sizeof(err));
	if (fresh == NULL) {
		char q[1100];
		log_error("reload_failed", "reason=%s", log_quote(err, q, sizeof(q)));
		return;
	}
	if (strcmp(fresh->listen, m->cfg->listen) != 0)
		log_warn("reload_listen_unchanged",
			 "reason=\"a new listen address needs a restart\"");
	if (strcmp(fresh->data_dir, m->cfg->data_dir) != 0) {
		log_error("reload_failed",
			  "reason=\"data_dir cannot change on reload; restart instead\"");
		config_free(fresh);
		return;
	}
	config_free(m->cfg);
	m->cfg = fresh;
	int old = m->generation;
	start_generation(m);
	signal_workers(m, SIGTERM, old + 1);
	if (m->disp.pid != 0)
		kill(m->disp.pid, SIGTERM); /* respawned with the new config */
	log_info("reloaded", "generation=%d workers=%d", m->generation, m->cfg->workers);
}

/* run_loop is the master's life after start-up. */
static int run_loop(struct master *m, sigset_t *set)
{
	int stopping = 0;
	int64_t deadline = 0;
	for (;;) {
		int64_t next = stopping ? deadline : respawn_due(m);
		int64_t now = mono_ms();
		int64_t wait = next ? next - now : 60000;
		if (wait < 0)
			wait = 0;
		struct timespec ts = { (time_t)(wait / 1000), (long)(wait % 1000) * 1000000L };
		int sig = sigtimedwait(set, NULL, &ts);
		if (sig == SIGCHLD || sig < 0)
			reap(m, stopping);
		if ((sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) && !stopping) {
			stopping = 1;
			deadline = mono_ms() + SHUTDOWN_GRACE_MS;
			log_info("stopping", "signal=%d workers=%d", sig, live_workers(m));
			signal_workers(m, SIGTERM, m->generation + 1);
			if (m->disp.pid != 0)
				kill(m->disp.pid, SIGTERM);
			m->disp.respawn_at = 0;
		}
		if (sig == SIGHUP && !stopping)
			reload(m);
		if (stopping) {
			reap(m, 1);
			if (live_workers(m) == 0)
				return 0;
			if (mono_ms() >= deadline) {
				log_warn("shutdown_timeout", "workers=%d", live_workers(m));
				signal_workers(m, SIGKILL, m->generation + 1);
				if (m->disp.pid != 0)
					kill(m->disp.pid, SIGKILL);
				deadline = mono_ms() + 1000;
			}
		}
	}
}

/* serve_inherited: started by spawn-fcgi or a web server with the socket on
 * fd 0; no master of ours, this process is one worker. */
static int serve_inherited(struct config *cfg, int foreground)
{
	log_set_role("worker");
	if (!foreground) {
		/* spawn-fcgi and web servers leave stderr on /dev/null (or their
		 * own log); ours goes to log_file like a master's. */
		int fd = open(cfg->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
	}
	log_info("listen", "source=inherited fd=0");
	int rc = worker_run(cfg, 0, 0);
	config_free(cfg);
	return rc;
}

int master_serve(const char *config_path, int foreground)
{
	char err[1024];
	struct config *cfg = config_load(config_path, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "reelgate: %s\n", err);
		return 2;
	}
	if (is_listening_socket(0))
		return serve_inherited(cfg, foreground);
	struct master *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		config_free(cfg);
		return 1;
	}
	m->config_path = config_path;
	m->cfg = cfg;
	log_set_role("master");
	int ready_fd = -1;
	if (mkdir(cfg->data_dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "reelgate: cannot create data_dir %s: %s\n", cfg->data_dir,
			strerror(errno));
		goto fail;
	}
	if (lock_pid_file(m) < 0 || check_database(cfg) < 0 || open_listener(m) < 0)
		goto fail;
	if (!foreground && (ready_fd = daemonize(m)) < 0)
		goto fail;
	write_pid(m);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = noop; /* SIGCHLD must not be ignored, or children auto-reap */
	sigaction(SIGCHLD, &sa, NULL);
	sigset_t set;
	block_signals(&set);
	metrics_open(cfg->data_dir, cfg->metrics_enabled); /* the children share it */
	start_generation(m);
	spawn_dispatcher(m);
	log_info("started", "workers=%d config=%s", cfg->workers, cfg->path);
	if (ready_fd >= 0) {
		ssize_t w = write(ready_fd, "y", 1);
		(void)w;
		close(ready_fd);
	}
	int rc = run_loop(m, &set);
	if (m->owns_socket && m->unix_path[0])
		unlink(m->unix_path);
	close(m->listen_fd);
	unlink(m->pid_path);
	log_info("stopped", "status=%d", rc);
	config_free(m->cfg);
	free(m);
	return rc;
fail:
	config_free(m->cfg);
	free(m);
	return 1;
}
