/*
 * Clocks and random ids: the only place that asks the kernel for either, so
 * everything else can be handed a time and tested with a fake one.
 */
#include <errno.h>
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

int
hn_random_hex(char *out, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 raw[64];
	size_t			 i, got = 0;
	ssize_t			 r;

	if (n > 2 * sizeof(raw))
		return HN_ETOOBIG;
	while (got < (n + 1) / 2) {
		r = getrandom(raw + got, (n + 1) / 2 - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return HN_EIO;
		}
		got += (size_t)r;
	}
	for (i = 0; i < n; i++)
		out[i] = hex[(raw[i / 2] >> ((i & 1) ? 0 : 4)) & 0xf];
	out[n] = '\0';
	return HN_OK;
}
