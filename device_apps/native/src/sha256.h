/* SHA-256 (FIPS 180-4), streaming. */
#ifndef PHONEBENCH_SHA256_H
#define PHONEBENCH_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t h[8];
  uint64_t length; /* bytes so far */
  unsigned char block[64];
  size_t used;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t size);
void sha256_hex(sha256_ctx *c, char out[65]); /* finishes the digest */
int sha256_file(const char *path, char out[65]); /* 0 ok, -1 unreadable */

#endif
