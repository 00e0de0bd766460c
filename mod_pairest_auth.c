/* mod_pairest_auth: PAI tokens in httpd's own auth phases, so that any
 * location of the server can be protected with them and composed with
 * httpd's rules:
 *   AuthType pai-bearer              the bearer token authenticates (r->user,
 *                                    PAI_USER and PAI_ADMIN in subprocess_env)
 *   Require pai-user [name ...]      any PAI user, or one of those named
 *   Require pai-admin                a PAI admin
 *   Require pai-job-owner            the owner of the job in the URL
 *                                    (the segment after its first "/jobs/"),
 *                                    or an admin */
#include <string.h>
#include <strings.h>

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_request.h>
#include <mod_auth.h>
#include <apr_strings.h>

#include "core/jobspec.h"
#include "core/route.h"
#include "mod_pairest.h"

APLOG_USE_MODULE(pairest);

#define PAI_AUTH_TYPE "pai-bearer"

/* 401 for the client, with the challenge RFC 6750 asks of a bearer realm. */
static int pai_auth_challenge(request_rec *r, const char *error)
{
    apr_table_setn(r->err_headers_out, "WWW-Authenticate",
                   error ? apr_psprintf(r->pool, "Bearer realm=\"pai\", error=\"%s\"", error)
                         : "Bearer realm=\"pai\"");
    return HTTP_UNAUTHORIZED;
}

/* Whether this location says AuthType pai-bearer. */
static int pai_auth_type_is_ours(request_rec *r)
{
    const char *type = ap_auth_type(r);
    return type && !strcasecmp(type, PAI_AUTH_TYPE);
}

/* Where AuthType pai-bearer is set, a request's bearer token is checked in
 * the access phase, whatever the Require rules: r->user and the identity are
 * set for the phases and handler after it (and for the access log).  A bad
 * token is only noted here: a Require that needs a user refuses it in
 * check_authn below, and the API's handler answers it in JSON (and audits
 * it) as a route's own rule says.  DECLINED always: mod_authz_core decides. */
static int pai_check_access(request_rec *r)
{
    const char *token;
    const pai_identity *who;

    if (pai_auth_type_is_ours(r) && (token = pai_bearer(r)) && *token)
        (void)pai_request_identity(r, NULL, token, &who);
    return DECLINED;
}

/* check_authn for AuthType pai-bearer: runs where a Require needs a user. */
static int pai_check_authn(request_rec *r)
{
    const char *token;
    const pai_identity *who;
    pai_error *err;

    if (!pai_auth_type_is_ours(r))
        return DECLINED;
    r->ap_auth_type = (char *)PAI_AUTH_TYPE;
    if (!(token = pai_bearer(r)) || !*token)
        return pai_auth_challenge(r, NULL);
    if ((err = pai_request_identity(r, NULL, token, &who)) && err->code == PAI_ERR_DB) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PAI0015: cannot check a token for %s: %s",
                      r->uri, err->message);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (err) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "PAI0016: token refused for %s: %s",
                      r->uri, err->message);
        return pai_auth_challenge(r, "invalid_token");
    }
    return OK;
}

/* The identity check_authn proved for this request (kept by the request),
 * or NULL.  An application token proves nothing outside the job routes. */
static const pai_identity *pai_authz_identity(request_rec *r)
{
    const char *token = pai_bearer(r), *params[PAI_ROUTE_MAX_PARAMS], *allow;
    const pai_identity *who;

    if (!r->user || !token || pai_request_identity(r, NULL, token, &who))
        return NULL;
    if (who->application &&
        !pai_route_for_applications(pai_route_find(r->pool, r->method, r->uri, params, &allow)))
        return NULL;
    return who;
}

/* Require pai-user [name ...] */
static authz_status pai_authz_user(request_rec *r, const char *line, const void *parsed)
{
    const pai_identity *who = pai_authz_identity(r);
    const char *t = line, *w;

    (void)parsed;
    if (!who)
        return AUTHZ_DENIED_NO_USER;
    if (!*line)
        return AUTHZ_GRANTED;
    while (*(w = ap_getword_conf(r->pool, &t)))
        if (!strcmp(w, who->username))
            return AUTHZ_GRANTED;
    return AUTHZ_DENIED;
}

/* Require pai-admin */
static authz_status pai_authz_admin(request_rec *r, const char *line, const void *parsed)
{
    const pai_identity *who = pai_authz_identity(r);

    (void)line;
    (void)parsed;
    if (!who)
        return AUTHZ_DENIED_NO_USER;
    return who->admin ? AUTHZ_GRANTED : AUTHZ_DENIED;
}

/* The job named in the URL: the segment after the first "/jobs/" of the
 * decoded, normalized path (what aliases and locations map too: a later
 * "/jobs/" an attacker appends names nothing). */
static const char *pai_authz_job_name(request_rec *r)
{
    const char *at = r->uri ? strstr(r->uri, "/jobs/") : NULL;
    char *name;

    if (!at)
        return NULL;
    at += 6;
    name = apr_pstrndup(r->pool, at, strcspn(at, "/"));
    return pai_job_name_valid(name) ? name : NULL;
}

/* Require pai-job-owner */
static authz_status pai_authz_job_owner(request_rec *r, const char *line, const void *parsed)
{
    const pai_server_conf *c = ap_get_module_config(r->server->module_config, &pairest_module);
    const pai_identity *who = pai_authz_identity(r);
    const char *name;
    pai_jobs_env env;
    pai_db db;

    (void)line;
    (void)parsed;
    if (!who)
        return AUTHZ_DENIED_NO_USER;
    if (who->admin)
        return AUTHZ_GRANTED;
    /* The jobs layer's own owner rule, as PaiReadAccess owner uses it. */
    if (!(name = pai_authz_job_name(r)) || pai_request_db(r, &db))
        return AUTHZ_DENIED;
    pai_jobs_env_init(&env, &c->s, &db, NULL);
    return pai_job_owner_check(&env, r->pool, who, name) ? AUTHZ_DENIED : AUTHZ_GRANTED;
}

static const authz_provider pai_authz_user_provider = {&pai_authz_user, NULL};
static const authz_provider pai_authz_admin_provider = {&pai_authz_admin, NULL};
static const authz_provider pai_authz_job_owner_provider = {&pai_authz_job_owner, NULL};

void pai_auth_register_hooks(apr_pool_t *p)
{
    ap_hook_check_access_ex(pai_check_access, NULL, NULL, APR_HOOK_FIRST,
                            AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authn(pai_check_authn, NULL, NULL, APR_HOOK_MIDDLE, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "pai-user", AUTHZ_PROVIDER_VERSION,
                              &pai_authz_user_provider, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "pai-admin", AUTHZ_PROVIDER_VERSION,
                              &pai_authz_admin_provider, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "pai-job-owner", AUTHZ_PROVIDER_VERSION,
                              &pai_authz_job_owner_provider, AP_AUTH_INTERNAL_PER_CONF);
}
