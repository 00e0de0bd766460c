/* POST /api/v1/token and /api/v2/authn/basic/login: a password for a bearer
 * token; DELETE /api/v2/authn/basic/logout ends one; /api/v2/tokens: one's
 * tokens listed, an application token made, a token revoked or checked. */
#include <string.h>
#include "handlers.h"

static pai_error *token_issue(pai_req *rq, const char **username, const char **token,
                              int *admin)
{
    static const char *const fields[] = {"username", "password", "expiration", NULL};
    const char *password;
    json_int_t expiration = rq->cfg->token_lifetime;
    pai_error *err;

    if ((err = pai_field_only(rq->pool, rq->body, NULL, fields)) ||
        (err = pai_field_str(rq->pool, rq->body, NULL, "username", 1, username)) ||
        (err = pai_field_str(rq->pool, rq->body, NULL, "password", 1, &password)) ||
        (err = pai_field_int(rq->pool, rq->body, NULL, "expiration", 0, 1, &expiration, NULL)))
        return err;
    if (expiration < 60 || expiration > rq->cfg->token_max_lifetime)
        return pai_error_make(rq->pool, PAI_ERR_INVALID,
                              "field 'expiration' must be between 60 and %" APR_INT64_T_FMT
                              " seconds", rq->cfg->token_max_lifetime);
    return pai_account_login(rq->db, rq->pool, &rq->cfg->secret, &rq->cfg->login_limits,
                             rq->client_ip, *username, password, expiration, rq->now, token,
                             admin);
}

pai_error *pai_token_post(pai_req *rq)
{
    const char *username, *token;
    pai_error *err;
    int admin;

    if ((err = token_issue(rq, &username, &token, &admin)))
        return err;
    pai_reply(rq, 200, json_pack("{s:s, s:s, s:b}", "token", token, "user", username,
                                 "admin", admin));
    return NULL;
}

/* v1.8's answer.  A wrong name or password is one 401 AuthenticationFailed,
 * as on /api/v1 (v1.8 said which of the two was wrong, naming who exists). */
pai_error *pai_v2_login_post(pai_req *rq)
{
    const char *username, *token;
    pai_error *err;
    int admin;

    if ((err = token_issue(rq, &username, &token, &admin)))
        return err;
    pai_reply(rq, 200, json_pack("{s:s, s:s, s:b, s:b}", "user", username, "token", token,
                                 "admin", admin, "hasGitHubPAT", 0));
    return NULL;
}

/* The caller's own token, by which it authenticated, ends now. */
pai_error *pai_v2_logout_delete(pai_req *rq)
{
    pai_error *err;

    if ((err = pai_account_logout(rq->db, rq->auth_cache, rq->pool, &rq->cfg->secret, rq->token,
                                  rq->now)))
        return err;
    pai_reply_message(rq, 200, "Logout successfully");
    return NULL;
}

/* The caller's unexpired tokens: ids and times, never a token. */
pai_error *pai_v2_tokens_get(pai_req *rq)
{
    apr_array_header_t *rows;
    pai_error *err;
    json_t *list;
    int i;

    if ((err = pai_store_token_list(rq->db, rq->pool, rq->who.username, rq->now, &rows)))
        return err;
    list = json_array();
    for (i = 0; i < rows->nelts; i++) {
        const pai_token_row *t = APR_ARRAY_IDX(rows, i, const pai_token_row *);
        json_array_append_new(list, json_pack(
            "{s:s, s:I, s:I, s:o, s:b, s:b}", "id", t->id,
            "createdTime", (json_int_t)t->created * 1000,
            "expiresTime", (json_int_t)t->expires * 1000,
            "lastUsedTime", t->last_used ? json_integer((json_int_t)t->last_used * 1000)
                                         : json_null(),
            "application", t->application,
            "current", rq->who.token_id && !strcmp(rq->who.token_id, t->id)));
    }
    pai_reply(rq, 200, json_pack("{s:o}", "tokens", list));
    return NULL;
}

/* Whose the caller's token is (401 for none). */
pai_error *pai_v2_token_check_get(pai_req *rq)
{
    pai_reply(rq, 200, json_pack("{s:s, s:b, s:b, s:o}", "username", rq->who.username,
                                 "admin", rq->who.admin, "application", rq->who.application,
                                 "id", rq->who.token_id ? json_string(rq->who.token_id)
                                                        : json_null()));
    return NULL;
}

/* A long-lived token for scripts: job routes only; expiration (seconds) at
 * most PaiApplicationTokenMaxLifetime, which is also the default. */
pai_error *pai_v2_token_application_post(pai_req *rq)
{
    static const char *const fields[] = {"expiration", NULL};
    json_int_t expiration = rq->cfg->app_token_max_lifetime;
    const char *token;
    pai_token_row row;
    pai_error *err;

    if (rq->body && ((err = pai_field_only(rq->pool, rq->body, NULL, fields)) ||
                     (err = pai_field_int(rq->pool, rq->body, NULL, "expiration", 0, 1,
                                          &expiration, NULL))))
        return err;
    if (expiration < 60 || expiration > rq->cfg->app_token_max_lifetime)
        return pai_error_make(rq->pool, PAI_ERR_INVALID,
                              "field 'expiration' must be between 60 and %" APR_INT64_T_FMT
                              " seconds", rq->cfg->app_token_max_lifetime);
    if ((err = pai_account_token_application(rq->db, rq->pool, &rq->cfg->secret, &rq->who,
                                             expiration, rq->now, &token, &row)))
        return err;
    pai_reply(rq, 200, json_pack("{s:s, s:s, s:b, s:I}", "token", token, "id", row.id,
                                 "application", 1, "expiresTime",
                                 (json_int_t)row.expires * 1000));
    return NULL;
}

pai_error *pai_v2_token_delete(pai_req *rq)
{
    pai_error *err;

    if ((err = pai_account_token_revoke(rq->db, rq->auth_cache, rq->pool, &rq->cfg->secret,
                                        &rq->who, rq->params[0], rq->now)))
        return err;
    pai_reply_message(rq, 200, "revoke successfully");
    return NULL;
}
