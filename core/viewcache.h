/* A per-process cache of rendered JSON views keyed by what they show and the
 * version of the row they were made from: a job polled by dashboards is read
 * from the database but rendered once per change. */
#ifndef PAI_VIEWCACHE_H
#define PAI_VIEWCACHE_H

#include <apr_pools.h>

typedef struct pai_view_cache pai_view_cache;

/* Keeps up to max entries; then starts over (bounded memory). */
pai_view_cache *pai_view_cache_create(apr_pool_t *p, unsigned int max);
/* The text made for key at version, copied into p; NULL when none. */
const char *pai_view_cache_get(pai_view_cache *c, apr_pool_t *p, const char *key,
                               apr_int64_t version);
void pai_view_cache_put(pai_view_cache *c, const char *key, apr_int64_t version,
                        const char *text);

#endif
