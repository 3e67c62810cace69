/*
 * The hash library shim: SHA-1 and base64 for the WebSocket handshake come
 * from nettle, and this is the only file that includes it, so swapping it
 * for libcrypto touches nothing else.
 */
#include <stdint.h>
#include <string.h>

#include <nettle/base64.h>
#include <nettle/sha1.h>

#include "hn.h"

/* RFC 6455 §1.3: the GUID every server appends to the client's key. */
#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_Static_assert(BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) == HN_WS_ACCEPT_LEN,
    "Sec-WebSocket-Accept is the base64 of a SHA-1 digest");

void
hn_ws_accept_key(const char *key, char out[HN_WS_ACCEPT_LEN + 1])
{
	struct sha1_ctx	 ctx;
	uint8_t		 digest[SHA1_DIGEST_SIZE];

	sha1_init(&ctx);
	sha1_update(&ctx, strlen(key), (const uint8_t *)key);
	sha1_update(&ctx, sizeof(WS_GUID) - 1, (const uint8_t *)WS_GUID);
	sha1_digest(&ctx, sizeof(digest), digest);
	base64_encode_raw(out, sizeof(digest), digest);
	out[HN_WS_ACCEPT_LEN] = '\0';
}

/*
 * NOTES
 * - nettle's decoder is lenient on purpose: it skips white space and
 *   stops at the padding.  A key must be the canonical form (RFC 4648 §3.5:
 *   exact length, padding only at the end, zero pad bits), so every group
 *   of four characters is decoded and encoded back, and must come out the
 *   same.  That also needs no buffer the size of n.
 */
int
hn_base64_valid(const char *s, size_t n)
{
	struct base64_decode_ctx ctx;
	uint8_t			 bin[BASE64_BINARY_BLOCK_SIZE];
	char			 back[BASE64_TEXT_BLOCK_SIZE];
	size_t			 want, off, got, total = 0;

	if (s == NULL || n > SIZE_MAX / 2)
		return 0;
	want = BASE64_ENCODE_RAW_LENGTH(n);
	if (strnlen(s, want + 1) != want)
		return 0;

	base64_decode_init(&ctx);
	for (off = 0; off < want; off += BASE64_TEXT_BLOCK_SIZE) {
		got = 0;
		if (!base64_decode_update(&ctx, &got, bin,
		    BASE64_TEXT_BLOCK_SIZE, s + off))
			return 0;
		/* Only the last group may carry fewer than three bytes. */
		if (got == 0 || got > BASE64_BINARY_BLOCK_SIZE ||
		    (got < BASE64_BINARY_BLOCK_SIZE &&
		    off + BASE64_TEXT_BLOCK_SIZE < want))
			return 0;
		base64_encode_raw(back, got, bin);
		if (memcmp(back, s + off, BASE64_TEXT_BLOCK_SIZE) != 0)
			return 0;
		total += got;
	}
	return base64_decode_final(&ctx) && total == n;
}
