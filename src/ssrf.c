/*
 * ssrf: address classification and allow lists.
 */
#include "ssrf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int in_net(const uint8_t *a, const uint8_t *net, int prefix)
{
	int full = prefix / 8, rest = prefix % 8;
	if (memcmp(a, net, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (net[full] & mask);
}

int ssrf_policy_add(struct ssrf_policy *p, const char *text)
{
	if (p->nallow >= SSRF_MAX_ALLOW || strlen(text) >= 64)
		return -1;
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", text);
	char *slash = strchr(buf, '/');
	int prefix = -1;
	if (slash) {
		*slash = '\0';
		char *end;
		long v = strtol(slash + 1, &end, 10);
		if (*end != '\0' || slash[1] == '\0' || v < 0)
			return -1;
		prefix = (int)v;
	}
	struct ssrf_net *n = &p->allow[p->nallow];
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, buf, n->addr) == 1) {
		n->family = AF_INET;
		if (prefix < 0)
			prefix = 32;
		if (prefix > 32)
			return -1;
	} else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
		n->family = AF_INET6;
		if (prefix < 0)
			prefix = 128;
		if (prefix > 128)
			return -1;
	} else {
		return -1;
	}
	n->prefix = prefix;
	p->nallow++;
	return 0;
}

/* v4_special names the reserved range a v4 address is in, or NULL. */
static const char *v4_special(const uint8_t *a)
{
	if (a[0] == 127)
		return "loopback";
	if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168))
		return "private";
	if (a[0] == 169 && a[1] == 254)
		return "link-local (cloud metadata)";
	if (a[0] == 100 && (a[1] & 0xc0) == 64)
		return "carrier-grade NAT";
	if (a[0] == 0)
		return "unspecified";
	if (a[0] >= 224)
		return "multicast or reserved";
	if (a[0] == 192 && a[1] == 0 && a[2] == 0)
		return "IETF protocol assignments";
	if (a[0] == 198 && (a[1] & 0xfe) == 18)
		return "benchmarking";
	return NULL;
}

static const char *v6_special(const uint8_t *a)
{
	static const uint8_t loop[16] = { [15] = 1 }, zero[16] = { 0 };
	if (memcmp(a, loop, 16) == 0)
		return "loopback";
	if (memcmp(a, zero, 16) == 0)
		return "unspecified";
	if ((a[0] & 0xfe) == 0xfc)
		return "private (unique local)";
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return "link-local";
	if (a[0] == 0xff)
		return "multicast";
	return NULL;
}

static int allowed(const struct ssrf_policy *p, int family, const uint8_t *a)
{
	for (size_t i = 0; p && i < p->nallow; i++)
		if (p->allow[i].family == family && in_net(a, p->allow[i].addr, p->allow[i].prefix))
			return 1;
	return 0;
}

int ssrf_blocked(const struct sockaddr *sa, const struct ssrf_policy *p, const char **reason)
{
	const char *why = NULL;
	if (sa->sa_family == AF_INET) {
		const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		why = v4_special(a);
		if (why && allowed(p, AF_INET, a))
			why = NULL;
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };
		if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0) {
			why = v4_special(a + 12);
			if (why && allowed(p, AF_INET, a + 12))
				why = NULL;
		} else {
			why = v6_special(a);
			if (why && allowed(p, AF_INET6, a))
				why = NULL;
		}
	} else {
		why = "not an internet address";
	}
	if (reason)
		*reason = why;
	return why != NULL;
}
