/*
 * notify: the best-effort line from workers to the dispatcher, a unix
 * datagram socket at data_dir/dispatcher.sock.  "wake" after a create (so a
 * new task starts at once rather than at the next scan), and "cancel <id>"
 * before a delete, which the dispatcher acknowledges once the task's
 * backend work is stopped.  Losing a message only delays: the dispatcher
 * scans LMDB on a timer and notices deleted tasks itself.
 */
#ifndef REELGATE_NOTIFY_H
#define REELGATE_NOTIFY_H

#include <sys/socket.h>
#include <sys/un.h>

/* notify_bind makes the dispatcher's socket (non-blocking); -1 on error. */
int notify_bind(const char *data_dir);
/* notify_wake sends "wake" (never blocks, errors ignored). */
void notify_wake(const char *data_dir);
/* notify_cancel sends "cancel <id>" and waits up to timeout_ms for the
 * acknowledgement; 0 when acknowledged, -1 when nobody answered. */
int notify_cancel(const char *data_dir, const char *id, int timeout_ms);

/* A received message; from (the sender's address) lets the dispatcher answer
 * it with notify_reply. */
struct notify_msg {
	char text[128];
	struct sockaddr_un from;
	socklen_t fromlen;
};
/* notify_recv reads one message; 0, or -1 when there is none. */
int notify_recv(int fd, struct notify_msg *m);
void notify_reply(int fd, const struct notify_msg *m, const char *text);

#endif
