/* Accounts: login, token checks against the store, user changes and grants. */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "account.h"
#include "sshkey.h"
#include "authcache.h"

/* A valid bcrypt hash of a random string, checked when the user does not
 * exist, so that a failed login takes as long either way. */
static const char *const account_dummy_hash =
    "$2y$10$9u/213/s1XadM1gfaVkc8emXWmbvOHgFm9rCM4gk8hmwMKTLQVk9u";

pai_error *pai_account_bootstrap(pai_db *db, apr_pool_t *p, const apr_array_header_t *vcs,
                                 const char *admin_user, const char *admin_password,
                                 int bcrypt_cost)
{
    pai_error *err;
    pai_user *u;
    const char *hash;

    if ((err = pai_store_init(db, p)) ||
        (vcs && (err = pai_store_vcs_sync(db, p, vcs))))
        return err;
    if (!admin_user || !admin_password)
        return NULL;
    if ((err = pai_store_user_get(db, p, admin_user, &u)))
        return err;
    if (u)
        return NULL;
    if ((err = pai_password_hash(p, admin_password, bcrypt_cost, &hash)))
        return err;
    err = pai_store_user_create(db, p, admin_user, hash, 1);
    /* Another process made it first: that is the same outcome. */
    return (err && err->code == PAI_ERR_CONFLICT_USER) ? NULL : err;
}

/* Counts one more attempt under key first (atomically, in the database, so
 * concurrent attempts of every process and server are each counted), then
 * decides: 429 when that made more than max in the key's window.  An attempt
 * is a failure until the password proves otherwise (account_limit_undo):
 * counting after bcrypt let 40 concurrent guesses all pass a check made
 * before any of them was counted. */
static pai_error *account_limit_count(pai_db *db, apr_pool_t *p, const char *key, int max,
                                      apr_int64_t window, apr_int64_t now, const char *who)
{
    apr_int64_t start;
    int failures;
    pai_error *err;

    if (!key || max <= 0)
        return NULL;
    if ((err = pai_store_login_failure_add(db, p, key, now, window)) ||
        (err = pai_store_login_failures(db, p, key, &start, &failures)))
        return err;
    if (failures <= max || start + window <= now)
        return NULL;
    err = pai_error_make(p, PAI_ERR_TOO_MANY, "too many failed logins %s; try again in %"
                         APR_INT64_T_FMT " seconds", who, start + window - now);
    err->retry_after = (long)(start + window - now);
    return err;
}

/* How often a token's last use is written: a busy script would otherwise
 * write at every cache miss. */
#define ACCOUNT_TOKEN_USED_GRAIN 60

/* Signs a token for u with an id of its own and records it (its hash), so
 * that its owner can list and revoke it: a token that cannot be recorded is
 * not handed out. */
static pai_error *account_token_issue(pai_db *db, apr_pool_t *p, const pai_secret *secret,
                                      const pai_user *u, apr_int64_t lifetime,
                                      apr_int64_t now, int application, const char **token,
                                      pai_token_row *row)
{
    const char *id;
    pai_claims c;
    pai_error *err;

    if ((err = pai_random_hex_n(p, PAI_TOKEN_ID_LEN / 2, &id)))
        return err;
    memset(&c, 0, sizeof(c));
    c.username = u->username;
    c.admin = u->admin;
    c.generation = u->generation;
    c.iat = now;
    c.exp = now + lifetime;
    c.jti = id;
    c.application = application;
    if ((err = pai_token_issue(p, secret->key, secret->len, &c, token)))
        return err;
    memset(row, 0, sizeof(*row));
    row->id = id;
    row->username = u->username;
    row->hash = pai_token_hash(p, *token);
    row->created = now;
    row->expires = c.exp;
    row->last_used = 0;
    row->application = application;
    return pai_store_token_add(db, p, row);
}

pai_error *pai_account_login(pai_db *db, apr_pool_t *p, const pai_secret *secret,
                             const pai_login_limits *limits, const char *address,
                             const char *username, const char *password,
                             apr_int64_t lifetime, apr_int64_t now,
                             const char **token, int *admin)
{
    pai_token_row row;
    pai_user *u = NULL;
    pai_error *err;
    int valid = pai_username_valid(username);
    /* One name from one address: an attacker elsewhere cannot lock the user out. */
    const char *ukey = valid && limits->user_max > 0
        ? apr_pstrcat(p, "u:", username, "@", address, NULL) : NULL;
    const char *akey = limits->addr_max > 0 ? apr_pstrcat(p, "a:", address, NULL) : NULL;

    /* Fail closed: an attempt that cannot be counted is not tried. */
    if ((err = account_limit_count(db, p, akey, limits->addr_max, limits->addr_window, now,
                                   apr_pstrcat(p, "from ", address, NULL))) ||
        (err = account_limit_count(db, p, ukey, limits->user_max, limits->user_window, now,
                                   apr_pstrcat(p, "for ", username, " from ", address, NULL))))
        return err;
    if (valid && (err = pai_store_user_get(db, p, username, &u)))
        return err;
    if (!pai_password_check(password, u ? u->password_hash : account_dummy_hash) || !u)
        return pai_error_make(p, PAI_ERR_AUTH_FAILED, "authentication failed");
    /* It was no failure: the address gets its attempt back, the user starts over. */
    if ((akey && (err = pai_store_login_failure_undo(db, p, akey))) ||
        (ukey && (err = pai_store_login_failures_clear(db, p, ukey))))
        return err;
    *admin = u->admin;
    return account_token_issue(db, p, secret, u, lifetime, now, 0, token, &row);
}

pai_error *pai_account_authenticate(pai_db *db, pai_auth_cache *cache, apr_pool_t *p,
                                    const pai_secret *secret, const char *token,
                                    apr_int64_t now, pai_identity *who)
{
    apr_int64_t now_ms = apr_time_as_msec(apr_time_now());
    apr_uint32_t epoch;
    pai_claims c;
    pai_user *u;
    pai_error *err;
    int revoked;

    if (pai_auth_cache_get(cache, p, token, now_ms, who))
        return NULL;
    /* Read before the database: a change committed meanwhile moves it on. */
    epoch = cache ? pai_auth_cache_epoch(cache) : 0;
    if ((err = pai_token_verify(p, secret->key, secret->len, token, now, &c)))
        return err;
    if ((err = pai_store_user_get(db, p, c.username, &u)))
        return err;
    if (!u)
        return pai_error_make(p, PAI_ERR_UNAUTHORIZED, "user %s no longer exists", c.username);
    if (u->generation != c.generation)
        return pai_error_make(p, PAI_ERR_UNAUTHORIZED,
                              "token revoked: the password has changed since it was issued");
    if ((err = pai_store_token_revoked(db, p, pai_token_hash(p, token), &revoked)))
        return err;
    if (revoked)
        return pai_error_make(p, PAI_ERR_UNAUTHORIZED, "token revoked: it was logged out");
    if (c.jti) {
        pai_token_row *t;
        if ((err = pai_store_token_get(db, p, c.jti, &t)))
            return err;
        /* Its row goes when it is revoked (the hash stays in the revoked list). */
        if (!t || strcmp(t->username, u->username) != 0)
            return pai_error_make(p, PAI_ERR_UNAUTHORIZED, "token revoked");
        if (now - t->last_used >= ACCOUNT_TOKEN_USED_GRAIN)
            (void)pai_store_token_used(db, p, c.jti, now);
    }
    who->username = u->username;
    who->admin = u->admin;
    who->application = c.application;
    who->token_id = c.jti;
    pai_auth_cache_put(cache, token, who, c.exp, epoch, now_ms);
    return NULL;
}

pai_error *pai_account_logout(pai_db *db, pai_auth_cache *cache, apr_pool_t *p,
                              const pai_secret *secret, const char *token, apr_int64_t now)
{
    pai_claims c;
    pai_error *err;

    if ((err = pai_token_verify(p, secret->key, secret->len, token, now, &c)) ||
        (err = pai_store_token_revoke(db, p, pai_token_hash(p, token), c.exp)))
        return err;
    /* This server forgets it at once; the others within PaiAuthCacheTTL. */
    pai_auth_cache_bump(cache);
    return NULL;
}

pai_error *pai_account_token_application(pai_db *db, apr_pool_t *p, const pai_secret *secret,
                                        const pai_identity *who, apr_int64_t lifetime,
                                        apr_int64_t now, const char **token,
                                        pai_token_row *row)
{
    pai_user *u;
    pai_error *err;

    if (who->application)
        return pai_error_make(p, PAI_ERR_FORBIDDEN, "an application token cannot make tokens");
    if ((err = pai_store_user_get(db, p, who->username, &u)))
        return err;
    if (!u)
        return pai_error_make(p, PAI_ERR_UNAUTHORIZED, "user %s no longer exists",
                              who->username);
    return account_token_issue(db, p, secret, u, lifetime, now, 1, token, row);
}

pai_error *pai_account_token_revoke(pai_db *db, pai_auth_cache *cache, apr_pool_t *p,
                                    const pai_secret *secret, const pai_identity *who,
                                    const char *id, apr_int64_t now)
{
    pai_token_row *t = NULL;
    pai_claims c;
    pai_error *err;

    /* OpenPAI's SDK names the token itself; this server lists ids. */
    if (strchr(id, '.')) {
        if ((err = pai_token_verify(p, secret->key, secret->len, id, now, &c)))
            return pai_error_make(p, PAI_ERR_INVALID, "not a valid token of this server");
        if (!c.jti)
            return strcmp(c.username, who->username) && !who->admin
                ? pai_error_make(p, PAI_ERR_FORBIDDEN, "not your token")
                : pai_store_token_revoke(db, p, pai_token_hash(p, id), c.exp);
        id = c.jti;
    }
    if (strlen(id) == PAI_TOKEN_ID_LEN && strspn(id, "0123456789abcdef") == PAI_TOKEN_ID_LEN &&
        (err = pai_store_token_get(db, p, id, &t)))
        return err;
    /* Another user's token is "not found" to a user: ids are not disclosed. */
    if (!t || (strcmp(t->username, who->username) != 0 && !who->admin))
        return pai_error_make(p, PAI_ERR_NOT_FOUND, "no token %s", id);
    if ((err = pai_store_token_revoke(db, p, t->hash, t->expires)) ||
        (err = pai_store_token_delete(db, p, t->id)))
        return err;
    /* This server forgets it at once; the others within PaiAuthCacheTTL. */
    pai_auth_cache_bump(cache);
    return NULL;
}

pai_error *pai_account_put(pai_db *db, pai_auth_cache *cache, apr_pool_t *p, const pai_identity *who,
                           const pai_user_change *c, int bcrypt_cost, int *created)
{
    const char *hash = NULL;
    pai_error *err;

    *created = 0;
    if (!pai_username_valid(c->username))
        return pai_error_make(p, PAI_ERR_INVALID,
                              "field 'username' must match [_A-Za-z0-9]+ (at most %d characters)",
                              PAI_NAME_MAX);
    if (c->password && !pai_password_valid(c->password))
        return pai_error_make(p, PAI_ERR_INVALID,
                              "field 'password' must have %d to %d characters",
                              PAI_PASSWORD_MIN, PAI_PASSWORD_MAX);
    if (!who->admin) {
        if (!c->modify || strcmp(who->username, c->username) != 0)
            return pai_error_make(p, PAI_ERR_FORBIDDEN,
                                  "Non-admin user %s may only change their own password.",
                                  who->username);
        if (c->admin > 0)
            return pai_error_make(p, PAI_ERR_FORBIDDEN,
                                  "Non-admin user %s may not grant admin rights.", who->username);
    }
    if (!c->modify && !c->password)
        return pai_error_make(p, PAI_ERR_INVALID, "field 'password' is required");
    if (c->password && (err = pai_password_hash(p, c->password, bcrypt_cost, &hash)))
        return err;
    if (!c->modify) {
        if ((err = pai_store_user_create(db, p, c->username, hash, c->admin > 0)))
            return err;
        *created = 1;
        return NULL;
    }
    if (!(err = pai_store_user_update(db, p, c->username, hash, who->admin ? c->admin : -1)))
        pai_auth_cache_bump(cache);
    return err;
}

pai_error *pai_account_remove(pai_db *db, pai_auth_cache *cache, apr_pool_t *p, const char *username)
{
    pai_user *u;
    pai_error *err;

    if (!pai_username_valid(username))
        return pai_error_make(p, PAI_ERR_INVALID, "field 'username' must match [_A-Za-z0-9]+");
    if ((err = pai_store_user_get(db, p, username, &u)))
        return err;
    if (!u)
        return pai_error_make(p, PAI_ERR_NO_USER, "User %s not found.", username);
    if (u->admin)
        return pai_error_make(p, PAI_ERR_REMOVE_ADMIN, "Admin %s is not allowed to remove.",
                              username);
    if (!(err = pai_store_user_delete(db, p, username)))
        pai_auth_cache_bump(cache);
    return err;
}

pai_error *pai_account_set_vcs(pai_db *db, apr_pool_t *p, const char *username,
                               const char *list)
{
    apr_array_header_t *vcs = apr_array_make(p, 4, sizeof(const char *));
    char *copy, *tok, *last;
    const char *c;
    pai_user *u;
    pai_error *err;

    for (c = list; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '_' || *c == ','))
            return pai_error_make(p, PAI_ERR_INVALID,
                                  "field 'virtualClusters' must match [A-Za-z0-9_,]*");
    if (!pai_username_valid(username))
        return pai_error_make(p, PAI_ERR_INVALID, "user name must match [_A-Za-z0-9]+");
    if ((err = pai_store_user_get(db, p, username, &u)))
        return err;
    if (!u)
        return pai_error_make(p, PAI_ERR_NO_USER, "User %s not found.", username);
    copy = apr_pstrdup(p, list);
    for (tok = apr_strtok(copy, ",", &last); tok; tok = apr_strtok(NULL, ",", &last)) {
        pai_vc *vc;
        int i, dup = 0;
        if ((err = pai_store_vc_get(db, p, tok, &vc)))
            return err;
        if (!vc)
            return pai_error_make(p, PAI_ERR_NO_VC, "Virtual cluster %s not found.", tok);
        for (i = 0; i < vcs->nelts; i++)
            dup |= !strcmp(APR_ARRAY_IDX(vcs, i, const char *), tok);
        if (!dup)
            APR_ARRAY_PUSH(vcs, const char *) = tok;
    }
    return pai_store_grants_set(db, p, username, vcs);
}

pai_error *pai_account_may_use_vc(pai_db *db, apr_pool_t *p, const pai_identity *who,
                                  const char *vc)
{
    apr_array_header_t *grants;
    pai_vc *v;
    pai_error *err;
    int i;

    if ((err = pai_store_vc_get(db, p, vc, &v)))
        return err;
    if (!v)
        return pai_error_make(p, PAI_ERR_NO_VC_SUBMIT, "Virtual cluster %s not found.", vc);
    if (who->admin || !strcmp(vc, "default"))
        return NULL;
    if ((err = pai_store_grants_get(db, p, who->username, &grants)))
        return err;
    for (i = 0; i < grants->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(grants, i, const char *), vc))
            return NULL;
    return pai_error_make(p, PAI_ERR_FORBIDDEN, "User %s is not allowed to do operation in %s",
                          who->username, vc);
}
