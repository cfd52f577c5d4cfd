/*
 * ceiling: the fastest FastCGI responder there can be, for bench/run.
 *
 * It binds the same kind of socket reelgate's config names ("unix:/path" or
 * "host:port", backlog 1024 like reelgate's master), pre-forks the same
 * number of workers, and each worker loops on FCGX_Accept_r: reads and
 * discards the request body (nginx would otherwise see a broken pipe on
 * POSTs) and answers a fixed ~600-byte JSON video object, with the headers
 * reelgate sends (Content-Type, X-Request-Id).  No parsing, no database, no
 * allocation per request: whatever reelgate costs above this is reelgate.
 * A GET of /v1/videos/ID/content is answered, as reelgate answers it, with
 * an X-Accel-Redirect to /_reelgate_content/ID.mp4 and reelgate's headers
 * (Content-Type, Content-Disposition): what the FastCGI round trip alone
 * costs a download.  Given a LOCATION, such a GET is answered
 * instead as reelgate answers it with content.delivery "redirect": a 302 to
 * LOCATION (bench/run passes a presigned URL reelgate gave, so the answer
 * is the same size), with the same headers.
 *
 * It closes each connection as libfcgi does (shutting its side down, then
 * waiting for the web server's close).  With CEILING_CLOSE=direct in its
 * environment it closes the connection at once instead, once the request's
 * input was read to its end, as reelgate does (bench/cpu --responder-close
 * direct): what reelgate's own work costs beside that.
 *
 *   ceiling LISTEN WORKERS [LOCATION]
 *
 * Runs in the foreground; SIGTERM/SIGINT stop the workers too.
 */
#include <errno.h>
#include <fcgiapp.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* A video object as reelgate answers it (597 bytes). */
static const char BODY[] =
	"{\"id\":\"video_6f1c2a9d0b7e4c3f8a5d2e1b0c9f8e7d\",\"object\":\"video\","
	"\"model\":\"reelgate-local\",\"status\":\"completed\",\"progress\":100,"
	"\"created_at\":1767225600,\"completed_at\":1767225612,\"expires_at\":1767830412,"
	"\"prompt\":\"A calico cat walking along a sunlit windowsill, slow dolly shot\","
	"\"size\":\"640x360\",\"seconds\":\"4\",\"remixed_from_video_id\":null,\"error\":null,"
	"\"metadata\":{\"url\":\"http://127.0.0.1:8080/v1/videos/video_6f1c2a9d0b7e4c3f8a5d2e1b0c9f8e7d\","
	"\"fps\":24,\"width\":640,\"height\":360,\"seed\":null,\"backend\":\"local\","
	"\"files\":[\"video\",\"thumbnail\",\"spritesheet\"],\"user\":null}}\n";

/* With a LOCATION: the 302's head around the request id, made once. */
static const char REDIRECT_HEAD[] =
	"Status: 302 Found\r\nContent-Type: application/json\r\nX-Request-Id: ";
static char *redirect_tail;
static int redirect_tail_len;

static int close_direct; /* CEILING_CLOSE=direct */
static volatile sig_atomic_t stop;
static pid_t *kids;
static int nkids;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static int bind_listen(const char *addr)
{
	int fd;
	if (strncmp(addr, "unix:", 5) == 0) {
		struct sockaddr_un sa;
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		if (strlen(addr + 5) >= sizeof(sa.sun_path)) {
			fprintf(stderr, "ceiling: socket path too long\n");
			return -1;
		}
		strcpy(sa.sun_path, addr + 5);
		unlink(sa.sun_path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    chmod(sa.sun_path, 0660) < 0 || listen(fd, 1024) < 0) {
			perror("ceiling: unix socket");
			return -1;
		}
		return fd;
	}
	char host[256];
	const char *colon = strrchr(addr, ':');
	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host)) {
		fprintf(stderr, "ceiling: listen must be unix:/path or host:port\n");
		return -1;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	struct addrinfo hints, *ai;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
		fprintf(stderr, "ceiling: cannot resolve %s\n", addr);
		return -1;
	}
	fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
		perror("ceiling: tcp socket");
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static void worker(int listen_fd)
{
	FCGX_Request req;
	char sink[65536];
	char head[512];
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	FCGX_Init();
	FCGX_InitRequest(&req, listen_fd, 0);
	while (FCGX_Accept_r(&req) >= 0) {
		while (FCGX_GetStr(sink, sizeof(sink), req.in) > 0)
			;
		const char *rid = FCGX_GetParam("REQUEST_ID", req.envp);
		const char *uri = FCGX_GetParam("DOCUMENT_URI", req.envp);
		size_t ulen = uri ? strlen(uri) : 0;
		if (redirect_tail != NULL && ulen > 11 + 8 &&
		    strncmp(uri, "/v1/videos/", 11) == 0 &&
		    strcmp(uri + ulen - 8, "/content") == 0) {
			const char *r = rid ? rid : "req_ceiling";
			FCGX_PutStr(REDIRECT_HEAD, (int)sizeof(REDIRECT_HEAD) - 1, req.out);
			FCGX_PutStr(r, (int)strlen(r), req.out);
			FCGX_PutStr(redirect_tail, redirect_tail_len, req.out);
		} else if (ulen > 11 + 8 && strncmp(uri, "/v1/videos/", 11) == 0 &&
			   strcmp(uri + ulen - 8, "/content") == 0) {
			/* reelgate's answer, header for header */
			int idl = (int)(ulen - 11 - 8);
			int n = snprintf(head, sizeof(head),
					 "Status: 200 OK\r\nContent-Type: video/mp4\r\n"
					 "X-Request-Id: %s\r\n"
					 "Content-Disposition: inline; filename=\"%.*s.mp4\"\r\n"
					 "X-Accel-Redirect: /_reelgate_content/%.*s.mp4\r\n\r\n",
					 rid ? rid : "req_ceiling", idl, uri + 11, idl, uri + 11);
			FCGX_PutStr(head, n, req.out);
		} else {
			int n = snprintf(head, sizeof(head),
					 "Status: 200 OK\r\nContent-Type: application/json\r\n"
					 "X-Request-Id: %s\r\n\r\n",
					 rid ? rid : "req_ceiling");
			FCGX_PutStr(head, n, req.out);
			FCGX_PutStr(BODY, (int)sizeof(BODY) - 1, req.out);
		}
		if (close_direct && FCGX_HasSeenEOF(req.in) == EOF && !req.keepConnection)
			FCGX_Detach(&req);
		FCGX_Finish_r(&req);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: ceiling LISTEN WORKERS [LOCATION]\n");
		return 2;
	}
	if (argc == 4) {
		size_t len = strlen(argv[3]) + 128;
		redirect_tail = malloc(len);
		if (redirect_tail == NULL)
			return 1;
		redirect_tail_len = snprintf(redirect_tail, len,
					     "\r\nCache-Control: no-store\r\nLocation: %s\r\n"
					     "Content-Length: 0\r\n\r\n",
					     argv[3]);
	}
	const char *how = getenv("CEILING_CLOSE");
	close_direct = how != NULL && strcmp(how, "direct") == 0;
	int n = atoi(argv[2]);
	if (n < 1 || n > 256) {
		fprintf(stderr, "ceiling: WORKERS must be 1..256\n");
		return 2;
	}
	int fd = bind_listen(argv[1]);
	if (fd < 0)
		return 1;
	kids = calloc((size_t)n, sizeof(*kids));
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (int i = 0; i < n; i++) {
		pid_t p = fork();
		if (p < 0) {
			perror("ceiling: fork");
			stop = 1;
			break;
		}
		if (p == 0)
			worker(fd);
		kids[nkids++] = p;
	}
	fprintf(stderr, "ceiling: listening on %s with %d workers\n", argv[1], nkids);
	while (!stop) {
		int status;
		pid_t p = waitpid(-1, &status, 0);
		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0)
			break;
		fprintf(stderr, "ceiling: worker %d exited (status %d)\n", (int)p, status);
		stop = 1; /* a dead worker makes the measurement void */
	}
	for (int i = 0; i < nkids; i++)
		kill(kids[i], SIGTERM);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	if (strncmp(argv[1], "unix:", 5) == 0)
		unlink(argv[1] + 5);
	return 0;
}
