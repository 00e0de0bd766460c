/* Per-job SSH key pairs (ed25519, OpenSSH formats) and per-job report secrets. */
#ifndef PAI_SSHKEY_H
#define PAI_SSHKEY_H

#include <apr_pools.h>
#include "err.h"

/* A fresh ed25519 pair in OpenSSH format; nothing is left on disk. */
pai_error *pai_ssh_keygen(apr_pool_t *p, const char *comment, const char **private_key,
                          const char **public_key);
/* 32 random bytes as hex. */
pai_error *pai_random_hex(apr_pool_t *p, const char **out);
/* n random bytes as hex (2n characters). */
pai_error *pai_random_hex_n(apr_pool_t *p, apr_size_t n, const char **out);
/* n bytes as lower-case hex, in p. */
char *pai_hex(apr_pool_t *p, const unsigned char *b, apr_size_t n);
/* Compares without leaking where two secrets differ. */
int pai_secret_equal(const char *a, const char *b);

/* An attempt's launch tag: a random part and an HMAC-SHA256 of job, attempt,
 * account and that part under `key` (32 hex characters in all).  The launcher
 * keeps it with the job, so the sync can tell a job it launched from one that
 * anybody else submitted with a look-alike label. */
pai_error *pai_launch_tag_make(apr_pool_t *p, const unsigned char *key, apr_size_t key_len,
                               const char *job, int attempt, const char *account,
                               const char **tag);
/* 1 when tag was made by pai_launch_tag_make with these values. */
int pai_launch_tag_valid(apr_pool_t *p, const unsigned char *key, apr_size_t key_len,
                         const char *job, int attempt, const char *account, const char *tag);

/* "ssh-ed25519 AAAA..." (type and base64 blob) checked, and its OpenSSH
 * fingerprint "SHA256:..." (base64 of the blob's SHA-256, unpadded); NULL
 * when the key is not of that shape. */
const char *pai_ssh_host_key_fingerprint(apr_pool_t *p, const char *host_key);

#endif
