/* mod_pairest's glue shared by its files (mod_pairest.c: directives, hooks,
 * the responder, the sync; mod_pairest_auth.c: PAI tokens in httpd's auth
 * phases): the server configuration and the request's database and caller. */
#ifndef MOD_PAIREST_H
#define MOD_PAIREST_H

#include <httpd.h>
#include <http_config.h>
#include "handlers/handlers.h"

extern module AP_MODULE_DECLARE_DATA pairest_module;

/* ---- configuration ---------------------------------------------------- */

#define PAI_UNSET (-1)

typedef struct pai_server_conf {
    pai_settings s;
    const char *secret_file;
    const char *admin_user;
    const char *admin_password_file;
    const char *admin_password;
    apr_off_t body_limit;
    pai_slurm_conf slurm;
    const char *slurm_key_file;
    apr_int64_t launcher_timeout;    /* seconds */
    apr_int64_t sync_interval;       /* milliseconds */
    apr_int64_t auth_cache_ttl;      /* milliseconds; 0: every call asks the database */
    apr_array_header_t *vcs;         /* pai_vc as declared; `default` added at start */
    apr_array_header_t *deny;        /* PaiSlurmUserDeny, const char * */
    apr_int64_t audit_retention;     /* days; 0: kept for ever */
} pai_server_conf;

/* The request's database (mod_dbd's connection, bootstrapped once). */
pai_error *pai_request_db(request_rec *r, pai_db *db);

/* The caller of a request with a bearer token: verified once per request
 * (the auth phases and the handler share it); sets r->user.  db: the
 * request's database when the caller has it ready, else NULL (taken here
 * only if the token is new to this request). */
pai_error *pai_request_identity(request_rec *r, pai_db *db, const char *token,
                                const pai_identity **who);

/* The bearer token of a request, or NULL. */
const char *pai_bearer(request_rec *r);

/* AuthType pai-bearer and the Require providers (mod_pairest_auth.c). */
void pai_auth_register_hooks(apr_pool_t *p);

#endif
