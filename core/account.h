/* Users, tokens and grants: the rules of who may do what, over the store. */
#ifndef PAI_ACCOUNT_H
#define PAI_ACCOUNT_H

#include "store.h"
#include "auth.h"

/* Who is calling, as the store (not the token) says. */
typedef struct pai_identity {
    const char *username;
    int admin;
    int application;         /* by an application token: job routes only */
    const char *token_id;    /* the token's id (NULL: an older token, or none) */
} pai_identity;

typedef struct pai_auth_cache pai_auth_cache;   /* authcache.h; NULL: none */

typedef struct pai_secret {
    const unsigned char *key;
    apr_size_t len;
} pai_secret;

/* Makes the schema, the configured VCs (pai_vc; NULL: just `default`) and,
 * when given, the first admin (left alone if present). */
pai_error *pai_account_bootstrap(pai_db *db, apr_pool_t *p, const apr_array_header_t *vcs,
                                 const char *admin_user, const char *admin_password,
                                 int bcrypt_cost);

/* Failed logins allowed per window of seconds: per username from one client
 * address, and per client address whatever the name (max 0: no limit). */
typedef struct pai_login_limits {
    int user_max;
    apr_int64_t user_window;
    int addr_max;
    apr_int64_t addr_window;
} pai_login_limits;

/* Checks the password and signs a token valid for `lifetime` seconds.  Over
 * a limit it answers 429 with retry_after, before looking at the password. */
pai_error *pai_account_login(pai_db *db, apr_pool_t *p, const pai_secret *secret,
                             const pai_login_limits *limits, const char *address,
                             const char *username, const char *password,
                             apr_int64_t lifetime, apr_int64_t now,
                             const char **token, int *admin);

/* Verifies a bearer token and that it still belongs to a live account whose
 * password has not changed since it was issued. */
pai_error *pai_account_authenticate(pai_db *db, pai_auth_cache *cache, apr_pool_t *p,
                                    const pai_secret *secret, const char *token,
                                    apr_int64_t now, pai_identity *who);
/* Ends token (a valid one, which the route checked is the caller's) until it
 * would have expired: DELETE /api/v2/authn/basic/logout. */
pai_error *pai_account_logout(pai_db *db, pai_auth_cache *cache, apr_pool_t *p,
                              const pai_secret *secret, const char *token, apr_int64_t now);

/* POST /api/v2/tokens/application: a token for scripts, for lifetime seconds
 * (the route bounds it), usable on job routes only; not by an application
 * token.  Like every token of the user it ends when the password changes. */
pai_error *pai_account_token_application(pai_db *db, apr_pool_t *p, const pai_secret *secret,
                                        const pai_identity *who, apr_int64_t lifetime,
                                        apr_int64_t now, const char **token,
                                        pai_token_row *row);
/* DELETE /api/v2/tokens/:id: the caller's token (an admin's: anyone's) by its
 * id or, as OpenPAI's SDK sends it, the token itself; revoked on every server
 * within PaiAuthCacheTTL. */
pai_error *pai_account_token_revoke(pai_db *db, pai_auth_cache *cache, apr_pool_t *p,
                                    const pai_secret *secret, const pai_identity *who,
                                    const char *id, apr_int64_t now);

typedef struct pai_user_change {
    const char *username;
    const char *password;   /* NULL: unchanged (update only) */
    int admin;              /* -1: not given */
    int modify;             /* 0: create, 1: update */
} pai_user_change;

/* PUT /user.  *created says which it was. */
pai_error *pai_account_put(pai_db *db, pai_auth_cache *cache, apr_pool_t *p, const pai_identity *who,
                           const pai_user_change *c, int bcrypt_cost, int *created);
/* DELETE /user (the caller is an admin). */
pai_error *pai_account_remove(pai_db *db, pai_auth_cache *cache, apr_pool_t *p, const char *username);
/* PUT /user/:username/virtualClusters with OpenPAI's comma list. */
pai_error *pai_account_set_vcs(pai_db *db, apr_pool_t *p, const char *username,
                               const char *list);
/* Whether the identity may use the VC: default for all, admins every VC. */
pai_error *pai_account_may_use_vc(pai_db *db, apr_pool_t *p, const pai_identity *who,
                                  const char *vc);

#endif
