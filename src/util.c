/*
 * Clocks and random ids: the only place that asks the kernel for either, so
 * everything else can be handed a time and tested with a fake one.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "hn.h"

int64_t
hn_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
hn_mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
hn_mono_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Random bytes come from getrandom() in blocks of RANDOM_POOL, kept per
 * thread: a busy process opens hundreds of streams a second, each wanting
 * a session id, and one system call per id was a measurable part of a
 * join (bench/, churn).  The bytes are used once each.  herenow never
 * forks after it starts, so no two processes share a pool.
 */
#define RANDOM_POOL	512

static __thread unsigned char	 random_pool[RANDOM_POOL];
static __thread size_t		 random_left;

static int
random_bytes(unsigned char *out, size_t n)
{
	size_t	 got = 0, take;
	ssize_t	 r;

	while (n > 0) {
		if (random_left == 0) {
			for (got = 0; got < RANDOM_POOL; got += (size_t)r) {
				r = getrandom(random_pool + got,
				    RANDOM_POOL - got, 0);
				if (r < 0 && errno == EINTR)
					r = 0;
				else if (r < 0)
					return HN_EIO;
			}
			random_left = RANDOM_POOL;
		}
		take = n < random_left ? n : random_left;
		memcpy(out, random_pool + RANDOM_POOL - random_left, take);
		/* Handed out: never again, not even by a later call. */
		memset(random_pool + RANDOM_POOL - random_left, 0, take);
		random_left -= take;
		out += take;
		n -= take;
	}
	return HN_OK;
}

int
hn_random_hex(char *out, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 raw[64];
	size_t			 i;

	if (n > 2 * sizeof(raw))
		return HN_ETOOBIG;
	if (random_bytes(raw, (n + 1) / 2) < 0)
		return HN_EIO;
	for (i = 0; i < n; i++)
		out[i] = hex[(raw[i / 2] >> ((i & 1) ? 0 : 4)) & 0xf];
	out[n] = '\0';
	return HN_OK;
}
