/* A per-process cache of rendered JSON texts keyed by what they show and a
 * version they were made at: a job polled by dashboards is rendered once per
 * change of its row, and a whole answer (a list, a status) once per write on
 * this host (mod_pairest.c's answer cache). */
#ifndef PAI_VIEWCACHE_H
#define PAI_VIEWCACHE_H

#include <apr_pools.h>

typedef struct pai_view_cache pai_view_cache;

/* Keeps up to max entries and max_bytes of keys and texts, then starts over
 * (bounded memory); a key and text over a quarter of max_bytes is not kept. */
pai_view_cache *pai_view_cache_create(apr_pool_t *p, unsigned int max, apr_size_t max_bytes);
/* The text made for key at version and no earlier than made_since (ms; 0:
 * any age), with its length in *len (len may be NULL); NULL when none.  The
 * text is the cache's own, not a copy: it stays whole while p lives, even
 * once replaced or dropped from the cache. */
const char *pai_view_cache_get(pai_view_cache *c, apr_pool_t *p, const char *key,
                               apr_int64_t version, apr_int64_t made_since, apr_size_t *len);
/* Keeps a copy of text (len bytes) for key, made at version at time made_ms. */
void pai_view_cache_put(pai_view_cache *c, const char *key, apr_int64_t version,
                        apr_int64_t made_ms, const char *text, apr_size_t len);

#endif
