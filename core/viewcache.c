/* The rendered-view cache: a hash under a mutex in a pool of its own, its
 * texts shared with the requests that read them. */
#include <stdlib.h>
#include <string.h>
#include <apr_atomic.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include "err.h"
#include "viewcache.h"

/* A text, malloc'd: the cache holds one reference, each request that reads
 * it another (a pool cleanup), and the last frees it.  Not copied into the
 * request's pool: httpd keeps each connection's freed pool memory for reuse
 * (MaxMemFree), so a copy of a big answer stayed with every connection that
 * ever asked for one. */
typedef struct view_text {
    apr_uint32_t refs;
    apr_size_t len;
    char text[];
} view_text;

typedef struct view_entry {
    apr_int64_t version;
    apr_int64_t made_ms;
    view_text *t;
} view_entry;

struct pai_view_cache {
    apr_pool_t *pool;
    apr_hash_t *entries;         /* key -> view_entry */
    apr_thread_mutex_t *lock;
    unsigned int max;
    apr_size_t max_bytes;
    apr_size_t bytes;            /* text held, to bound a few huge views too */
};

static apr_status_t view_text_release(void *data)
{
    view_text *t = data;
    if (apr_atomic_dec32(&t->refs) == 0)
        free(t);
    return APR_SUCCESS;
}

/* The cache's references go when its pool is cleared (a start-over) or
 * destroyed (the process ends). */
static apr_status_t view_cache_drop(void *data)
{
    pai_view_cache *c = data;
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(NULL, c->entries); hi; hi = apr_hash_next(hi))
        view_text_release(((view_entry *)apr_hash_this_val(hi))->t);
    c->entries = NULL;
    c->bytes = 0;
    return APR_SUCCESS;
}

static void view_cache_start(pai_view_cache *c)
{
    c->entries = apr_hash_make(c->pool);
    c->bytes = 0;
    apr_pool_cleanup_register(c->pool, c, view_cache_drop, apr_pool_cleanup_null);
}

pai_view_cache *pai_view_cache_create(apr_pool_t *p, unsigned int max, apr_size_t max_bytes)
{
    pai_view_cache *c = apr_pcalloc(p, sizeof(*c));

    if (pai_pool_private(p, &c->pool) != APR_SUCCESS ||
        apr_thread_mutex_create(&c->lock, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS)
        return NULL;
    c->max = max;
    c->max_bytes = max_bytes;
    view_cache_start(c);
    return c;
}

const char *pai_view_cache_get(pai_view_cache *c, apr_pool_t *p, const char *key,
                               apr_int64_t version, apr_int64_t made_since, apr_size_t *len)
{
    view_text *t = NULL;
    view_entry *e;

    if (!c)
        return NULL;
    apr_thread_mutex_lock(c->lock);
    e = apr_hash_get(c->entries, key, APR_HASH_KEY_STRING);
    if (e && e->version == version && e->made_ms >= made_since) {
        t = e->t;
        apr_atomic_inc32(&t->refs);
    }
    apr_thread_mutex_unlock(c->lock);
    if (!t)
        return NULL;
    apr_pool_cleanup_register(p, t, view_text_release, apr_pool_cleanup_null);
    if (len)
        *len = t->len;
    return t->text;
}

void pai_view_cache_put(pai_view_cache *c, const char *key, apr_int64_t version,
                        apr_int64_t made_ms, const char *text, apr_size_t len)
{
    apr_size_t key_len = strlen(key);
    view_text *t;
    view_entry *e;

    /* The key counts too: a URL can be kilobytes long. */
    if (!c || len + key_len > c->max_bytes / 4 || !(t = malloc(sizeof(*t) + len + 1)))
        return;
    t->refs = 1;
    t->len = len;
    memcpy(t->text, text, len);
    t->text[len] = '\0';
    apr_thread_mutex_lock(c->lock);
    if (apr_hash_count(c->entries) >= c->max || c->bytes + len + key_len > c->max_bytes) {
        apr_pool_clear(c->pool);
        view_cache_start(c);
    }
    e = apr_hash_get(c->entries, key, APR_HASH_KEY_STRING);
    if (!e) {
        e = apr_palloc(c->pool, sizeof(*e));
        apr_hash_set(c->entries, apr_pstrmemdup(c->pool, key, key_len), APR_HASH_KEY_STRING, e);
        c->bytes += key_len;
    }
    else {
        c->bytes -= e->t->len;
        view_text_release(e->t);
    }
    e->version = version;
    e->made_ms = made_ms;
    e->t = t;
    c->bytes += len;
    apr_thread_mutex_unlock(c->lock);
}
