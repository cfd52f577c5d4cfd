/*
 * notify: worker -> dispatcher datagrams.
 */
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int sock_addr(const char *data_dir, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/dispatcher.sock", data_dir);
	return n < 0 || (size_t)n >= sizeof(sa->sun_path) ? -1 : 0;
}

int notify_bind(const char *data_dir)
{
	struct sockaddr_un sa;
	if (sock_addr(data_dir, &sa) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	unlink(sa.sun_path); /* the caller holds the dispatcher lock */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	chmod(sa.sun_path, 0666);
	return fd;
}

void notify_wake(const char *data_dir)
{
	struct sockaddr_un sa;
	if (sock_addr(data_dir, &sa) < 0)
		return;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	ssize_t n = sendto(fd, "wake", 4, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof(sa));
	(void)n;
	close(fd);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int notify_cancel(const char *data_dir, const char *id, int timeout_ms)
{
	struct sockaddr_un sa;
	if (sock_addr(data_dir, &sa) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* Autobind to an abstract address so the dispatcher can answer. */
	sa_family_t fam = AF_UNIX;
	if (bind(fd, (struct sockaddr *)&fam, sizeof(fam)) < 0) {
		close(fd);
		return -1;
	}
	char msg[128], want[128];
	int len = snprintf(msg, sizeof(msg), "cancel %s", id);
	snprintf(want, sizeof(want), "ok %s", id);
	if (sendto(fd, msg, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof(sa)) != len) {
		close(fd);
		return -1;
	}
	int64_t end = mono_ms() + timeout_ms;
	int rc = -1;
	for (;;) {
		int64_t left = end - mono_ms();
		if (left <= 0)
			break;
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		char reply[128];
		ssize_t n = recv(fd, reply, sizeof(reply) - 1, MSG_DONTWAIT);
		if (n <= 0)
			continue;
		reply[n] = '\0';
		if (strcmp(reply, want) == 0) {
			rc = 0;
			break;
		}
	}
	close(fd);
	return rc;
}

int notify_recv(int fd, struct notify_msg *m)
{
	m->fromlen = sizeof(m->from);
	ssize_t n = recvfrom(fd, m->text, sizeof(m->text) - 1, MSG_DONTWAIT,
			     (struct sockaddr *)&m->from, &m->fromlen);
	if (n < 0)
		return -1;
	m->text[n] = '\0';
	return 0;
}

void notify_reply(int fd, const struct notify_msg *m, const char *text)
{
	if (m->fromlen <= sizeof(sa_family_t))
		return; /* an unbound sender cannot be answered */
	ssize_t n = sendto(fd, text, strlen(text), MSG_DONTWAIT, (const struct sockaddr *)&m->from,
			   m->fromlen);
	(void)n;
}
