/* A per-process cache of bearer tokens already verified against the database,
 * so that most calls cost neither an HMAC nor a user query.  An entry holds for
 * `ttl` and while the shared epoch stays put: every user change on this host
 * moves the epoch, so revocation is immediate here and within ttl elsewhere. */
#ifndef PAI_AUTHCACHE_H
#define PAI_AUTHCACHE_H

#include <apr_pools.h>
#include "account.h"


/* epoch: a counter shared by every process of this host (shared memory). */
pai_auth_cache *pai_auth_cache_create(apr_pool_t *p, volatile apr_uint32_t *epoch,
                                      apr_int64_t ttl_ms);
/* 1 and *who filled (username in p) when token is known and fresh. */
int pai_auth_cache_get(pai_auth_cache *c, apr_pool_t *p, const char *token, apr_int64_t now_ms,
                       pai_identity *who);
/* Records a token verified at `epoch` (read before the verification began). */
void pai_auth_cache_put(pai_auth_cache *c, const char *token, const pai_identity *who,
                        apr_int64_t exp_sec, apr_uint32_t epoch, apr_int64_t now_ms);
apr_uint32_t pai_auth_cache_epoch(const pai_auth_cache *c);
/* After a change to a user: every cached token is checked again. */
void pai_auth_cache_bump(pai_auth_cache *c);

#endif
