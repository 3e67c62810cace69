/*
 * libFuzzer target for hn_config_parse: any bytes, fresh defaults each run.
 * Beyond "no crash" it checks the parser's promises: a refused text leaves
 * the config as it was and says why; every string field stays terminated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hn.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hn_config	c, before;
	char			err[256];
	int			rc;

	hn_config_defaults(&c);
	memcpy(&before, &c, sizeof(c));
	err[0] = '\0';
	rc = hn_config_parse(&c, (const char *)data, size, err, sizeof(err));
	if (rc != HN_OK) {
		if (rc != HN_EINVAL || err[0] == '\0' ||
		    memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		if (memcmp(&c, &before, sizeof(c)) != 0)
			abort();
		return 0;
	}
	if (memchr(c.db, '\0', sizeof(c.db)) == NULL ||
	    memchr(c.prefix, '\0', sizeof(c.prefix)) == NULL ||
	    memchr(c.origins, '\0', sizeof(c.origins)) == NULL ||
	    memchr(c.tunnel_listen, '\0', sizeof(c.tunnel_listen)) == NULL ||
	    memchr(c.admin_token, '\0', sizeof(c.admin_token)) == NULL)
		abort();
	if (c.db[0] == '\0' || c.prefix[0] != '/' ||
	    c.prefix[strlen(c.prefix) - 1] != '/')
		abort();
	if (c.max_streams == 0 || c.max_pages == 0 || c.heartbeat_ms < 0 ||
	    c.poll_interval_ms < 10)
		abort();
	(void)hn_config_check(&c, err, sizeof(err));
	return 0;
}
