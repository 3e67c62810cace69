/*
 * Client addresses (pure): which address a request comes from, for
 * max_streams_per_addr.  REMOTE_ADDR, unless it is one of trusted_proxies:
 * then the nearest address of X-Forwarded-For that is not a trusted proxy.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "hn.h"

/* One parsed address: family and the 4 or 16 bytes. */
struct addr {
	int		 af;
	unsigned char	 b[16];
};

/* Parses len bytes of s as an IPv4 or IPv6 address.  0 or HN_EINVAL. */
static int
addr_parse(const char *s, size_t len, struct addr *a)
{
	char	 buf[INET6_ADDRSTRLEN + 1];

	if (len == 0 || len >= sizeof(buf))
		return HN_EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, a->b) == 1) {
		a->af = AF_INET;
		return HN_OK;
	}
	if (inet_pton(AF_INET6, buf, a->b) == 1) {
		a->af = AF_INET6;
		/* An IPv4 client seen through an IPv6 socket is that client. */
		if (memcmp(a->b, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
			memmove(a->b, a->b + 12, 4);
			a->af = AF_INET;
		}
		return HN_OK;
	}
	return HN_EINVAL;
}

/* Parses "ADDR" or "ADDR/BITS" into a and its prefix length. */
static int
net_parse(const char *s, size_t len, struct addr *a, unsigned *bits)
{
	const char	*slash = memchr(s, '/', len);
	size_t		 alen = slash != NULL ? (size_t)(slash - s) : len;
	unsigned	 max, v = 0;
	size_t		 i;

	if (addr_parse(s, alen, a) < 0)
		return HN_EINVAL;
	max = a->af == AF_INET ? 32 : 128;
	if (slash == NULL) {
		*bits = max;
		return HN_OK;
	}
	if (alen + 1 == len || len - alen - 1 > 3)
		return HN_EINVAL;
	for (i = alen + 1; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return HN_EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	/* "::ffff:10.0.0.0/104" was turned into 10.0.0.0: so are its bits. */
	if (a->af == AF_INET && memchr(s, ':', alen) != NULL) {
		if (v < 96)
			return HN_EINVAL;
		v -= 96;
	}
	if (v > max)
		return HN_EINVAL;
	*bits = v;
	return HN_OK;
}

static bool
net_contains(const struct addr *net, unsigned bits, const struct addr *a)
{
	unsigned	 full = bits / 8, rest = bits % 8;
	unsigned char	 mask;

	if (net->af != a->af)
		return false;
	if (memcmp(net->b, a->b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (unsigned char)(0xff << (8 - rest));
	return (net->b[full] & mask) == (a->b[full] & mask);
}

const char *
hn_addr_list_check(const char *s, size_t len)
{
	struct addr	 a;
	unsigned	 bits;
	size_t		 i = 0, start;

	while (i < len) {
		if (s[i] == ' ' || s[i] == '\t') {
			i++;
			continue;
		}
		start = i;
		while (i < len && s[i] != ' ' && s[i] != '\t')
			i++;
		if (net_parse(s + start, i - start, &a, &bits) < 0)
			return "each entry must be an IPv4 or IPv6 address or "
			    "network (e.g. 127.0.0.1 10.0.0.0/8 ::1)";
	}
	return NULL;
}

/* Whether the address of len bytes at s is within one of list's entries. */
static bool
addr_listed(const char *list, const char *s, size_t len)
{
	struct addr	 a, net;
	unsigned	 bits;
	size_t		 n;

	if (addr_parse(s, len, &a) < 0)
		return false;
	while (*list != '\0') {
		list += strspn(list, " \t");
		n = strcspn(list, " \t");
		if (n > 0 && net_parse(list, n, &net, &bits) == 0 &&
		    net_contains(&net, bits, &a))
			return true;
		list += n;
	}
	return false;
}

/*
 * The key a client's streams are counted under: an IPv4 address as text,
 * an IPv6 address as its /64 (one subscriber gets a whole /64, so a limit
 * per single IPv6 address would limit nothing).
 */
static int
addr_key(const char *s, size_t len, char *out, size_t outsz)
{
	struct addr	 a;
	char		 buf[INET6_ADDRSTRLEN];
	int		 n;

	if (addr_parse(s, len, &a) < 0)
		return HN_EINVAL;
	if (a.af == AF_INET6)
		memset(a.b + 8, 0, 8);
	if (inet_ntop(a.af, a.b, buf, sizeof(buf)) == NULL)
		return HN_EINVAL;
	n = snprintf(out, outsz, "%s%s", buf, a.af == AF_INET6 ? "/64" : "");
	return n > 0 && (size_t)n < outsz ? HN_OK : HN_ETOOBIG;
}

int
hn_addr_client(const char *remote, const char *forwarded,
    const char *trusted, char *out, size_t outsz)
{
	const char	*end, *p, *seg;
	size_t		 n;

	if (outsz == 0)
		return HN_ETOOBIG;
	out[0] = '\0';
	if (remote == NULL || remote[0] == '\0')
		return HN_EINVAL;
	if (forwarded != NULL && trusted != NULL && trusted[0] != '\0' &&
	    addr_listed(trusted, remote, strlen(remote))) {
		/*
		 * Right to left: each trusted proxy appended the address it
		 * saw, so the first one none of ours added is the client.
		 * An entry that is no address ends the walk (whoever wrote
		 * it is not believed): the last trusted hop is the client.
		 */
		end = forwarded + strlen(forwarded);
		for (;;) {
			for (p = end; p > forwarded && p[-1] != ','; p--)
				;
			seg = p;
			n = (size_t)(end - p);
			while (n > 0 && (*seg == ' ' || *seg == '\t')) {
				seg++;
				n--;
			}
			while (n > 0 && (seg[n - 1] == ' ' ||
			    seg[n - 1] == '\t'))
				n--;
			/* (addr_key writes nothing for a non-address.) */
			if (addr_key(seg, n, out, outsz) < 0) {
				if (out[0] != '\0')
					return HN_OK;
				break;
			}
			if (!addr_listed(trusted, seg, n) || p == forwarded)
				return HN_OK;
			/* A trusted proxy: the client is further left. */
			end = p - 1;
		}
	}
	if (addr_key(remote, strlen(remote), out, outsz) == 0)
		return HN_OK;
	/* Not an address (a unix socket's peer): counted as it is. */
	if (strlen(remote) >= outsz)
		return HN_ETOOBIG;
	snprintf(out, outsz, "%s", remote);
	return HN_OK;
}
