/*
 * worker: the accept loop.
 *
 * The stop signals (SIGTERM, SIGINT, SIGQUIT) are blocked all the time except
 * inside epoll_pwait() or ppoll(), where the worker waits for the listen
 * socket (or the web server's kept-alive connection) to have something;
 * their handler only sets a flag.  So a stop is seen at once even while idle, and never interrupts
 * a request half-way: a request is always read, handled and answered before the flag is looked at.
 *
 * Idle workers wait for the shared listen socket with an epoll set of their
 * own holding it EPOLLEXCLUSIVE: a connection wakes one of them, as a
 * blocking accept() would, not all (a plain poll() wakes every idle worker,
 * and all but one find nothing to accept: at a few thousand downloads a
 * second that herd cost a tenth of the rate).  Where the kernel refuses
 * EPOLLEXCLUSIVE (before Linux 4.5) they fall back to ppoll().
 *
 * Between requests the worker also lets go of the database pages it has read
 * (every RELEASE_PAGES_EVERY requests, and once idle), and, when no master of
 * ours runs (spawn-fcgi, a web server's process manager), sees to it that a
 * dispatcher runs.
 */
#include "worker.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "dispatcher.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

static volatile sig_atomic_t stop_requested;
static sigset_t wait_mask; /* the mask while waiting: stop signals let in */

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* The stop signals are blocked all the time except inside ppoll(), so they
 * can never interrupt libfcgi half-way through accepting or reading a
 * request (its accept path uses a select() that no SA_RESTART restarts, and
 * an interrupted one drops the connection). */
static int setup_signals(void)
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
	sigemptyset(&wait_mask);
	sigprocmask(SIG_SETMASK, &stop, NULL);
	return 0;
}

/* wait_readable waits until fd has something or a stop is requested;
 * returns 1 when fd is readable.  epfd >= 0: an epoll set that holds fd
 * (and nothing else), waited on instead of fd itself. */
static int wait_readable(int fd, int epfd, int timeout_ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };
	for (;;) {
		if (stop_requested)
			return 0;
		int n;
		if (epfd >= 0) {
			struct epoll_event ev;
			n = epoll_pwait(epfd, &ev, 1, timeout_ms, &wait_mask);
		} else {
			n = ppoll(&p, 1, timeout_ms < 0 ? NULL : &ts, &wait_mask);
		}
		if (n == 0)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 0;
		return 1;
	}
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void serve_one(struct app *app, FCGX_Request *req)
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
	metrics_request(route, res.status, began);
	if (res.status >= 500)
		log_warn("request_failed", "req=%s method=%s status=%d", hr.request_id,
			 hr.method ? hr.method : "-", res.status);
	else
		log_debug("request", "req=%s method=%s status=%d", hr.request_id,
			  hr.method ? hr.method : "-", res.status);
	http_response_deinit(&res);
	http_request_deinit(&hr);
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
	int fl = fcntl(listen_fd, F_GETFL);
	if (fl >= 0)
		fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK);
	/* the listen socket, waited on so that a connection wakes one idle
	 * worker (see the top of this file); -1: ppoll() */
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
		ev.data.fd = listen_fd;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0) {
			close(epfd);
			epfd = -1;
		}
	}
	FCGX_Init();
	FCGX_Request req;
	FCGX_InitRequest(&req, listen_fd, 0);
	log_info("worker_started", "fd=%d exclusive_wakeup=%s", listen_fd,
		 epfd >= 0 ? "yes" : "no");
	unsigned long served = 0, unreleased = 0;
	/* Every so often, and whenever the worker has been idle a while, it
	 * lets go of the database pages read so far: its RSS stays its own
	 * few MB however large the database grows (the pages stay cached for
	 * everyone). */
	enum { RELEASE_PAGES_EVERY = 250, RELEASE_IDLE_MS = 1000 };
	/* With no master of ours, workers see to it that a dispatcher runs. */
	int64_t next_ensure = 0;
	while (!stop_requested) {
		if (!supervised && mono_ms() >= next_ensure) {
			dispatcher_ensure(cfg);
			next_ensure = mono_ms() + 2000;
		}
		/* a kept-alive connection is this worker's own: ppoll() it */
		int kept = req.ipcFd >= 0;
		int timeout = unreleased > 0 ? RELEASE_IDLE_MS : supervised ? -1 : 2000;
		if (!wait_readable(kept ? req.ipcFd : listen_fd, kept ? -1 : epfd, timeout)) {
			if (unreleased > 0) {
				store_release_pages(app.st);
				unreleased = 0;
			}
			continue;
		}
		int rc = FCGX_Accept_r(&req);
		if (rc == -EAGAIN || rc == -EWOULDBLOCK || rc == -EINTR)
			continue;
		if (rc < 0) {
			if (rc == -ECONNABORTED || rc == -EPROTO)
				continue;
			log_error("accept_failed", "rc=%d", rc);
			break;
		}
		serve_one(&app, &req);
		FCGX_Finish_r(&req);
		served++;
		if (++unreleased == RELEASE_PAGES_EVERY) {
			store_release_pages(app.st);
			unreleased = 0;
		}
	}
	FCGX_Free(&req, 1);
	if (epfd >= 0)
		close(epfd);
	auth_cache_deinit(&app.auth);
	store_close(app.st);
	log_info("worker_stopped", "served=%lu", served);
	return 0;
}
