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
/* Compares without leaking where two secrets differ. */
int pai_secret_equal(const char *a, const char *b);

#endif
