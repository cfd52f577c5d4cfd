/*
 * worker: the accept loop.
 *
 * The worker accepts connections itself, with a blocking accept() on the
 * shared listen socket (the kernel wakes one waiting worker per
 * connection), and hands each to libfcgi, which reads the request from it
 * (FCGX_Request.ipcFd set, and marked kept, before FCGX_Accept_r: libfcgi
 * accepts only when it has no connection, and it is given no listen socket,
 * so it never does).
 * That is one system call per connection where libfcgi's own accept adds a
 * poll() (a workaround for Linux 2.0) and a wait on the socket before it.
 *
 * Stopping: the stop signals (SIGTERM, SIGINT, SIGQUIT) are never blocked;
 * their handler only sets a flag, and is installed with SA_RESTART, so a
 * stop arriving while a request is read, handled or answered interrupts
 * nothing: every system call there is resumed (those that never are, such
 * as poll(), are retried by their callers), and the flag is looked at once
 * the request is answered.  The listen socket has a receive timeout
 * (SO_RCVTIMEO, ACCEPT_TICK_MS), and an accept() on a socket with one is
 * never resumed after a signal: a stop ends the wait at once.  The timeout
 * also makes an idle worker wake every ACCEPT_TICK_MS, to let go of the
 * database pages it has read and (with no master of ours) to see that a
 * dispatcher runs; and it bounds the one race, a stop arriving between the
 * look at the flag and the accept(), to one tick.  A kept-alive connection
 * (fastcgi_keep_conn) is waited on with poll() and the same tick.
 *
 * Connections over TCP inherit the listen socket's timeout: it is cleared
 * on each (a web server may take its time to send a body), and, as libfcgi
 * does, Nagle is turned off and the peer checked against
 * FCGI_WEB_SERVER_ADDRS when that is set (IPv4 addresses, comma-separated).
 *
 * Between requests the worker also lets go of the database pages it has read
 * (every RELEASE_PAGES_EVERY requests, and once idle), and, when no master of
 * ours runs (spawn-fcgi, a web server's process manager), sees to it that a
 * dispatcher runs.
 */
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "dispatcher.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

enum { ACCEPT_TICK_MS = 1000 };

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void setup_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGQUIT);
	sigprocmask(SIG_UNBLOCK, &stop, NULL); /* whatever the parent blocked */
}

/* The listen socket and what its connections need. */
struct listener {
	int fd;
	int tcp;	    /* AF_INET or AF_INET6 */
	in_addr_t *allowed; /* FCGI_WEB_SERVER_ADDRS, as libfcgi reads it */
	int nallowed;	    /* -1: no such list, every peer is let in */
};

/* listener_open readies fd for blocking accepts with the tick (see the
 * top of this file): -1 after logging why not. */
static int listener_open(struct listener *l, int fd)
{
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->nallowed = -1;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		l->tcp = ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
	/* O_NONBLOCK belongs to the socket, shared by every worker: all of
	 * them clear it (an older reelgate set it). */
	int fl = fcntl(fd, F_GETFL);
	struct timeval tick = { ACCEPT_TICK_MS / 1000, (ACCEPT_TICK_MS % 1000) * 1000 };
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick)) < 0) {
		log_error("worker_start_failed", "reason=\"the listen socket (fd %d): %s\"", fd,
			  strerror(errno));
		return -1;
	}
	const char *list = getenv("FCGI_WEB_SERVER_ADDRS");
	if (list == NULL || *list == '\0')
		return 0;
	size_t most = 1;
	for (const char *p = list; *p; p++)
		most += *p == ',';
	l->allowed = calloc(most, sizeof(*l->allowed));
	if (l->allowed == NULL) {
		log_error("worker_start_failed", "reason=\"out of memory\"");
		return -1;
	}
	l->nallowed = 0;
	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, ",");
		char one[64];
		struct in_addr a;
		if (n < sizeof(one)) {
			memcpy(one, p, n);
			one[n] = '\0';
		}
		if (n < sizeof(one) && inet_aton(one, &a))
			l->allowed[l->nallowed++] = a.s_addr;
		else /* as libfcgi: it lets no peer in */
			log_warn("fcgi_web_server_addrs_entry_ignored",
				 "entry=\"%.*s\" reason=\"not an IPv4 address\"",
				 (int)(n > 64 ? 64 : n), p);
		p += n + (p[n] == ',');
	}
	return 0;
}

/* listener_accept waits for the next connection (at most a tick): its fd;
 * -1 when there is none this time (the tick passed, a signal came, a peer
 * FCGI_WEB_SERVER_ADDRS does not name was closed, a connection failed
 * before it was accepted); -2 after logging an error the worker cannot
 * go on after (out of descriptors, a listen socket that is none). */
static int listener_accept(const struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	if (fd < 0) {
		switch (errno) {
		case EAGAIN:
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
		case ECONNRESET:
		case ETIMEDOUT:
		case EHOSTUNREACH:
		case ENETUNREACH: return -1;
		default: log_error("accept_failed", "error=\"%s\"", strerror(errno)); return -2;
		}
	}
	if (!l->tcp)
		return fd;
	if (ss.ss_family == AF_INET && l->nallowed >= 0) {
		in_addr_t peer = ((struct sockaddr_in *)&ss)->sin_addr.s_addr;
		int ok = 0;
		for (int i = 0; i < l->nallowed && !ok; i++)
			ok = l->allowed[i] == peer;
		if (!ok) {
			close(fd);
			return -1;
		}
	}
	struct timeval none = { 0, 0 };
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* wait_kept waits (at most a tick) until the kept-alive connection fd has
 * something; 1 when it has. */
static int wait_kept(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	return !stop_requested && poll(&p, 1, ACCEPT_TICK_MS) > 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* serve_one answers one request; returns 1 when the web server's input was
 * read to its end (see worker_run), 0 otherwise. */
static int serve_one(struct app *app, FCGX_Request *req)
{
	uint64_t began = metrics_clock();
	enum route route = ROUTE_NONE;
	struct http_request hr;
	struct http_response res;
	http_response_init(&res);
	if (http_request_from_fcgx(&hr, req, app->cfg->public_url) < 0) {
		struct api_error e;
		api_error_from_rg(&e, RG_ENOMEM);
		http_error(&res, &e);
	} else {
		route = api_handle(app, &hr, &res);
	}
	/* Whatever the handler left unread is drained, so the web server is
	 * never cut off while still sending (bounded: a liar is cut off). */
	http_drain(&hr, app->cfg->max_body_bytes + (1u << 20));
	http_send(req, &res, hr.request_id[0] ? hr.request_id : "req_unknown");
	/* The answer goes out now, as FCGX_Finish_r would send it (the error
	 * stream closed first, so closing the output ends the request); then
	 * the rest of the input, normally already read with the parameters,
	 * is looked at without keeping the web server waiting. */
	FCGX_FClose(req->err);
	FCGX_FClose(req->out);
	int ended = http_input_ended(&hr);
	metrics_request(route, res.status, began);
	if (res.status >= 500)
		log_warn("request_failed", "req=%s method=%s status=%d", hr.request_id,
			 hr.method ? hr.method : "-", res.status);
	else
		log_debug("request", "req=%s method=%s status=%d", hr.request_id,
			  hr.method ? hr.method : "-", res.status);
	http_response_deinit(&res);
	http_request_deinit(&hr);
	return ended;
}

/* open_app readies what the handlers use: the directories under data_dir
 * and this process's own LMDB environment.  -1 after logging why not. */
static int open_app(struct app *app, const struct config *cfg)
{
	memset(app, 0, sizeof(*app));
	if (app_dirs(app, cfg) < 0) {
		log_error("worker_start_failed",
			  "reason=\"cannot create directories under data_dir: %s\"",
			  strerror(errno));
		return -1;
	}
	struct store_options so = { cfg->map_bytes, cfg->max_map_bytes, cfg->durable };
	enum rg_err err = store_open(&app->st, cfg->data_dir, &so);
	if (err != RG_OK) {
		log_error("worker_start_failed", "reason=\"cannot open the database: %s\"",
			  rg_strerror(err));
		return -1;
	}
	return 0;
}

int worker_run(const struct config *cfg, int listen_fd, int supervised)
{
	log_set_role("worker");
	prctl(PR_SET_NAME, "reelgate-worker"); /* what ps and top show */
	if (supervised)
		prctl(PR_SET_PDEATHSIG, SIGTERM);
	setup_signals();
	struct app app;
	if (open_app(&app, cfg) < 0)
		return 1;
	metrics_open(cfg->data_dir, cfg->metrics_enabled); /* done when the master did */
	struct listener lst;
	if (listener_open(&lst, listen_fd) < 0) {
		store_close(app.st);
		return 1;
	}
	FCGX_Init();
	FCGX_Request req;
	/* no listen socket: libfcgi never accepts (see the top of this file) */
	FCGX_InitRequest(&req, -1, 0);
	log_info("worker_started", "fd=%d", listen_fd);
	unsigned long served = 0, unreleased = 0;
	/* Every so often, and whenever the worker has been idle a tick, it
	 * lets go of the database pages read so far: its RSS stays its own
	 * few MB however large the database grows (the pages stay cached for
	 * everyone). */
	enum { RELEASE_PAGES_EVERY = 250 };
	/* With no master of ours, workers see to it that a dispatcher runs. */
	int64_t next_ensure = 0;
	while (!stop_requested) {
		if (!supervised && mono_ms() >= next_ensure) {
			dispatcher_ensure(cfg);
			next_ensure = mono_ms() + 2000;
		}
		int waited; /* 1: a connection has something to read */
		if (req.ipcFd >= 0) {
			waited = wait_kept(req.ipcFd);
		} else {
			int fd = listener_accept(&lst);
			if (fd == -2)
				break;
			if (fd >= 0) {
				/* FCGX_Accept_r first ends the request before,
				 * closing its connection unless it is kept: this
				 * one is (the web server's BEGIN_REQUEST then says
				 * whether it stays so) */
				req.ipcFd = fd;
				req.keepConnection = 1;
			}
			waited = fd >= 0;
		}
		if (!waited) {
			if (unreleased > 0) {
				store_release_pages(app.st);
				unreleased = 0;
			}
			continue;
		}
		/* < 0: the connection ended before a request was read in full
		 * (libfcgi closed it) */
		if (FCGX_Accept_r(&req) < 0)
			continue;
		/* libfcgi closes a connection by shutting down its side, then
		 * waiting (sleeping) until the web server closes its own, so that
		 * data it sent late is read rather than answered with a reset.
		 * When its input was read to the end there is no such data: the
		 * connection is just closed (FCGX_Detach skips that wait). */
		if (serve_one(&app, &req) && !req.keepConnection)
			FCGX_Detach(&req);
		FCGX_Finish_r(&req);
		served++;
		if (++unreleased == RELEASE_PAGES_EVERY) {
			store_release_pages(app.st);
			unreleased = 0;
		}
	}
	FCGX_Free(&req, 1);
	free(lst.allowed);
	auth_cache_deinit(&app.auth);
	store_close(app.st);
	log_info("worker_stopped", "served=%lu", served);
	return 0;
}
