/* POST /api/v1/token and /api/v2/authn/basic/login: a password for a bearer
 * token; DELETE /api/v2/authn/basic/logout ends one. */
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
