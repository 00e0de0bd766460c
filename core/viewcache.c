/* The rendered-view cache: a hash under a mutex in a pool of its own. */
#include <string.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include "err.h"
#include "viewcache.h"

typedef struct view_entry {
    apr_int64_t version;
    apr_int64_t made_ms;
    char *text;
    apr_size_t len;
} view_entry;

struct pai_view_cache {
    apr_pool_t *pool;
    apr_hash_t *entries;         /* key -> view_entry */
    apr_thread_mutex_t *lock;
    unsigned int max;
    apr_size_t max_bytes;
    apr_size_t bytes;            /* text held, to bound a few huge views too */
};

pai_view_cache *pai_view_cache_create(apr_pool_t *p, unsigned int max, apr_size_t max_bytes)
{
    pai_view_cache *c = apr_pcalloc(p, sizeof(*c));

    if (pai_pool_private(p, &c->pool) != APR_SUCCESS ||
        apr_thread_mutex_create(&c->lock, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS)
        return NULL;
    c->entries = apr_hash_make(c->pool);
    c->max = max;
    c->max_bytes = max_bytes;
    return c;
}

const char *pai_view_cache_get(pai_view_cache *c, apr_pool_t *p, const char *key,
                               apr_int64_t version, apr_int64_t made_since, apr_size_t *len)
{
    const char *out = NULL;
    view_entry *e;

    if (!c)
        return NULL;
    apr_thread_mutex_lock(c->lock);
    e = apr_hash_get(c->entries, key, APR_HASH_KEY_STRING);
    if (e && e->version == version && e->made_ms >= made_since) {
        out = apr_pstrmemdup(p, e->text, e->len);
        if (len)
            *len = e->len;
    }
    apr_thread_mutex_unlock(c->lock);
    return out;
}

void pai_view_cache_put_parts(pai_view_cache *c, const char *key, apr_int64_t version,
                              apr_int64_t made_ms, const struct iovec *parts, int n)
{
    apr_size_t len = 0, at = 0, key_len = strlen(key);
    view_entry *e;
    int i;

    for (i = 0; i < n; i++)
        len += parts[i].iov_len;
    /* The key counts too: a URL can be kilobytes long. */
    if (!c || len + key_len > c->max_bytes / 4)
        return;
    apr_thread_mutex_lock(c->lock);
    if (apr_hash_count(c->entries) >= c->max || c->bytes + len + key_len > c->max_bytes) {
        apr_pool_clear(c->pool);
        c->entries = apr_hash_make(c->pool);
        c->bytes = 0;
    }
    e = apr_hash_get(c->entries, key, APR_HASH_KEY_STRING);
    if (!e) {
        e = apr_palloc(c->pool, sizeof(*e));
        apr_hash_set(c->entries, apr_pstrmemdup(c->pool, key, key_len), APR_HASH_KEY_STRING, e);
        c->bytes += key_len;
    }
    /* A replaced text stays in the pool until the next start-over. */
    e->version = version;
    e->made_ms = made_ms;
    e->text = apr_palloc(c->pool, len + 1);
    for (i = 0; i < n; i++) {
        memcpy(e->text + at, parts[i].iov_base, parts[i].iov_len);
        at += parts[i].iov_len;
    }
    e->text[len] = '\0';
    e->len = len;
    c->bytes += len;
    apr_thread_mutex_unlock(c->lock);
}

void pai_view_cache_put(pai_view_cache *c, const char *key, apr_int64_t version,
                        apr_int64_t made_ms, const char *text, apr_size_t len)
{
    struct iovec part = {(void *)text, len};
    pai_view_cache_put_parts(c, key, version, made_ms, &part, 1);
}
