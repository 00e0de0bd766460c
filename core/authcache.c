/* The verified-token cache: a hash under a mutex, emptied when it grows large. */
#include <string.h>
#include <apr_atomic.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include "authcache.h"

#define AUTHCACHE_MAX 10000

typedef struct authcache_entry {
    const char *username;
    const char *token_id;
    int admin, application;
    apr_int64_t exp_ms;          /* the token's own expiry */
    apr_int64_t fresh_until_ms;
    apr_uint32_t epoch;
} authcache_entry;

struct pai_auth_cache {
    apr_pool_t *pool;            /* entries live here; cleared with the hash */
    apr_hash_t *entries;         /* token -> authcache_entry */
    apr_thread_mutex_t *lock;
    volatile apr_uint32_t *epoch;
    apr_int64_t ttl_ms;
};

pai_auth_cache *pai_auth_cache_create(apr_pool_t *p, volatile apr_uint32_t *epoch,
                                      apr_int64_t ttl_ms)
{
    pai_auth_cache *c = apr_pcalloc(p, sizeof(*c));

    if (pai_pool_private(p, &c->pool) != APR_SUCCESS ||
        apr_thread_mutex_create(&c->lock, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS)
        return NULL;
    c->entries = apr_hash_make(c->pool);
    c->epoch = epoch;
    c->ttl_ms = ttl_ms;
    return c;
}

apr_uint32_t pai_auth_cache_epoch(const pai_auth_cache *c)
{
    return apr_atomic_read32(c->epoch);
}

void pai_auth_cache_bump(pai_auth_cache *c)
{
    if (c)
        apr_atomic_inc32(c->epoch);
}

int pai_auth_cache_get(pai_auth_cache *c, apr_pool_t *p, const char *token, apr_int64_t now_ms,
                       pai_identity *who)
{
    authcache_entry *e;
    int hit = 0;

    if (!c || c->ttl_ms <= 0)
        return 0;
    apr_thread_mutex_lock(c->lock);
    e = apr_hash_get(c->entries, token, APR_HASH_KEY_STRING);
    if (e && e->epoch == apr_atomic_read32(c->epoch) && now_ms < e->fresh_until_ms &&
        now_ms < e->exp_ms) {
        who->username = apr_pstrdup(p, e->username);
        who->admin = e->admin;
        who->application = e->application;
        who->token_id = e->token_id ? apr_pstrdup(p, e->token_id) : NULL;
        hit = 1;
    }
    apr_thread_mutex_unlock(c->lock);
    return hit;
}

void pai_auth_cache_put(pai_auth_cache *c, const char *token, const pai_identity *who,
                        apr_int64_t exp_sec, apr_uint32_t epoch, apr_int64_t now_ms)
{
    authcache_entry *e;

    if (!c || c->ttl_ms <= 0)
        return;
    apr_thread_mutex_lock(c->lock);
    if (apr_hash_count(c->entries) >= AUTHCACHE_MAX) {
        /* Bounded memory: start over rather than evict one by one. */
        apr_pool_clear(c->pool);
        c->entries = apr_hash_make(c->pool);
    }
    e = apr_hash_get(c->entries, token, APR_HASH_KEY_STRING);
    if (!e) {
        e = apr_palloc(c->pool, sizeof(*e));
        e->username = apr_pstrdup(c->pool, who->username);
        e->token_id = who->token_id ? apr_pstrdup(c->pool, who->token_id) : NULL;
        apr_hash_set(c->entries, apr_pstrdup(c->pool, token), APR_HASH_KEY_STRING, e);
    }
    e->admin = who->admin;
    e->application = who->application;
    e->exp_ms = exp_sec * 1000;
    e->fresh_until_ms = now_ms + c->ttl_ms;
    e->epoch = epoch;
    apr_thread_mutex_unlock(c->lock);
}
