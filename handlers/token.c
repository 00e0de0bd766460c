/* POST /api/v1/token: a password for a bearer token. */
#include "handlers.h"

pai_error *pai_token_post(pai_req *rq)
{
    static const char *const fields[] = {"username", "password", "expiration", NULL};
    const char *username, *password, *token;
    json_int_t expiration = rq->cfg->token_lifetime;
    pai_error *err;
    int admin;

    if ((err = pai_field_only(rq->pool, rq->body, NULL, fields)) ||
        (err = pai_field_str(rq->pool, rq->body, NULL, "username", 1, &username)) ||
        (err = pai_field_str(rq->pool, rq->body, NULL, "password", 1, &password)) ||
        (err = pai_field_int(rq->pool, rq->body, NULL, "expiration", 0, 1, &expiration, NULL)))
        return err;
    if (expiration < 60 || expiration > rq->cfg->token_max_lifetime)
        return pai_error_make(rq->pool, PAI_ERR_INVALID,
                              "field 'expiration' must be between 60 and %" APR_INT64_T_FMT
                              " seconds", rq->cfg->token_max_lifetime);
    if ((err = pai_account_login(rq->db, rq->pool, &rq->cfg->secret, &rq->cfg->login_limits,
                                 rq->client_ip, username, password, expiration, rq->now,
                                 &token, &admin)))
        return err;
    pai_reply(rq, 200, json_pack("{s:s, s:s, s:b}", "token", token, "user", username,
                                 "admin", admin));
    return NULL;
}
