/*
 * ssrf: which addresses reelgate may connect to when it fetches a URL
 * (upstream APIs, result files, input images).  Loopback, private,
 * link-local (cloud metadata lives there), carrier-grade NAT, multicast and
 * unspecified addresses are refused unless an allow list names them.  The
 * check is made on the address actually connected to, after DNS and after
 * every redirect, so neither a DNS name nor a redirect can get around it.
 */
#ifndef REELGATE_SSRF_H
#define REELGATE_SSRF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SSRF_MAX_ALLOW 16

struct ssrf_net {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	int prefix; /* bits */
};

struct ssrf_policy {
	struct ssrf_net allow[SSRF_MAX_ALLOW];
	size_t nallow;
};

/* ssrf_policy_add parses "10.0.0.0/8", "127.0.0.1", "::1" or "fd00::/8";
 * -1 when malformed or the list is full. */
int ssrf_policy_add(struct ssrf_policy *p, const char *text);
/* ssrf_blocked says whether connecting to sa is refused under p (NULL: no
 * allow list).  Writes why into reason (may be NULL). */
int ssrf_blocked(const struct sockaddr *sa, const struct ssrf_policy *p, const char **reason);

#endif
