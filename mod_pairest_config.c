/* mod_pairest_config: the module's directives, their defaults and the
 * checks that make the settings whole at start-up.  Module-wide settings are
 * the main server's only (refused inside <VirtualHost>); PaiReadAccess and
 * PaiBodyLimit are per location, read through getters. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <unixd.h>
#include <ap_listen.h>
#include <apr_strings.h>

#include "core/secretfile.h"
#include "core/vc.h"
#include "core/image.h"
#include "core/webhook.h"
#include "mod_pairest.h"

APLOG_USE_MODULE(pairest);

/* Defaults in one place; applied in post_config over what is unset. */
#define PAI_DEF_TOKEN_LIFETIME     86400
#define PAI_DEF_TOKEN_MAX_LIFETIME 604800
#define PAI_DEF_APP_TOKEN_MAX_LIFETIME (86400 * 365)
#define PAI_DEF_SECRET_FILE        "pairest-jwt.secret"
#define PAI_DEF_BCRYPT_COST        10
#define PAI_DEF_BODY_LIMIT         (1024 * 1024)
#define PAI_DEF_SLURM_URL          "unix:slurm/rest/slurmrestd.sock"
#define PAI_DEF_SLURM_KEY_FILE     "slurm/jwt_hs256.key"
#define PAI_DEF_JOB_USER           "paijob"
#define PAI_DEF_CONTAINER_RUNTIME  "runc"
#define PAI_DEF_PARTITION          "pai"
#define PAI_DEF_LAUNCHER_TIMEOUT   10
#define PAI_DEF_JOB_LOG_DIR        "jobs"
#define PAI_DEF_PORT_LO            20000
#define PAI_DEF_PORT_HI            29999
#define PAI_DEF_SYNC_INTERVAL      1000
#define PAI_DEF_REPORT_URL         "http://127.0.0.1:9186"
#define PAI_DEF_AUTH_CACHE_TTL     1000
#define PAI_DEF_ANSWER_CACHE_TTL   1000
#define PAI_DEF_LOGIN_USER_MAX     10
#define PAI_DEF_LOGIN_USER_WINDOW  300
#define PAI_DEF_LOGIN_ADDR_MAX     100
#define PAI_DEF_LOGIN_ADDR_WINDOW  300
#define PAI_DEF_MAX_WAITING        1000
#define PAI_DEF_MAX_ACTIVE         5000
#define PAI_DEF_AUDIT_RETENTION    365
#define PAI_DEF_LOG_RETENTION      30
#define PAI_DEF_LOG_FOLLOW         600
#define PAI_DEF_STREAM_SECONDS     900
#define PAI_DEF_STREAM_RETENTION   24

void *pai_config_create_server(apr_pool_t *p, server_rec *s)
{
    pai_server_conf *c = apr_pcalloc(p, sizeof(*c));
    (void)s;
    c->s.token_lifetime = PAI_UNSET;
    c->s.token_max_lifetime = PAI_UNSET;
    c->s.app_token_max_lifetime = PAI_UNSET;
    c->s.bcrypt_cost = PAI_UNSET;
    c->s.port_lo = c->s.port_hi = PAI_UNSET;
    c->launcher_timeout = PAI_UNSET;
    c->sync_interval = PAI_UNSET;
    c->auth_cache_ttl = PAI_UNSET;
    c->answer_cache_ttl = PAI_UNSET;
    c->s.login_limits.user_max = c->s.login_limits.addr_max = PAI_UNSET;
    c->slurm.policy.min_uid = PAI_UNSET;
    c->s.max_waiting = c->s.max_active = PAI_UNSET;
    c->audit_retention = PAI_UNSET;
    c->s.log_retention_days = c->s.log_follow_seconds = PAI_UNSET;
    c->s.stream_seconds = c->s.stream_max = c->s.stream_retention_hours = PAI_UNSET;
    return c;
}

/* Module-wide settings are the main server's (a vhost may set none: see
 * pai_sconf), so every vhost shares that one record: no copy to keep in step,
 * and defaults filled in once at start-up are what every request reads. */
void *pai_config_merge_server(apr_pool_t *p, void *basev, void *addv)
{
    (void)p;
    (void)addv;
    return basev;
}

static const char *pai_parse_int(cmd_parms *cmd, const char *arg, apr_int64_t lo,
                                 apr_int64_t hi, apr_int64_t *out)
{
    char *end;
    apr_int64_t v = apr_strtoi64(arg, &end, 10);
    if (!*arg || *end || v < lo || v > hi)
        return apr_psprintf(cmd->pool, "%s: '%s' is not an integer in %" APR_INT64_T_FMT
                            "..%" APR_INT64_T_FMT, cmd->cmd->name, arg, lo, hi);
    *out = v;
    return NULL;
}

/* Per location: PaiReadAccess and PaiBodyLimit, merged per directory and
 * read through the getters below (which know the defaults). */
typedef struct pai_dir_conf {
    int read_access;                 /* pai_read_access, or PAI_UNSET */
    apr_off_t body_limit;            /* bytes, or PAI_UNSET */
} pai_dir_conf;

void *pai_config_create_dir(apr_pool_t *p, char *dir)
{
    pai_dir_conf *c = apr_pcalloc(p, sizeof(*c));
    (void)dir;
    c->read_access = PAI_UNSET;
    c->body_limit = PAI_UNSET;
    return c;
}

void *pai_config_merge_dir(apr_pool_t *p, void *basev, void *addv)
{
    pai_dir_conf *base = basev, *add = addv, *c = apr_pcalloc(p, sizeof(*c));
    c->read_access = add->read_access != PAI_UNSET ? add->read_access : base->read_access;
    c->body_limit = add->body_limit != PAI_UNSET ? add->body_limit : base->body_limit;
    return c;
}

pai_read_access pai_dir_read_access(request_rec *r)
{
    const pai_dir_conf *d = ap_get_module_config(r->per_dir_config, &pairest_module);
    return d && d->read_access != PAI_UNSET ? (pai_read_access)d->read_access : PAI_READ_PUBLIC;
}

apr_off_t pai_dir_body_limit(request_rec *r)
{
    const pai_dir_conf *d = ap_get_module_config(r->per_dir_config, &pairest_module);
    return d && d->body_limit != PAI_UNSET ? d->body_limit : PAI_DEF_BODY_LIMIT;
}

static const char *pai_set_read_access(cmd_parms *cmd, void *d, const char *arg)
{
    pai_dir_conf *c = d;
    (void)cmd;
    if (!strcmp(arg, "public"))
        c->read_access = PAI_READ_PUBLIC;
    else if (!strcmp(arg, "users"))
        c->read_access = PAI_READ_USERS;
    else if (!strcmp(arg, "owner"))
        c->read_access = PAI_READ_OWNER;
    else
        return "PaiReadAccess: public (OpenPAI's anonymous reads), users (a token for every "
               "read) or owner (also: a job's config and SSH info to its owner and admins, "
               "each user's job list to their own jobs)";
    return NULL;
}

/* The module's directives met inside <VirtualHost>: every setting here is
 * module-wide (one database, launcher, sync and set of VCs per server), so a
 * vhost's copy would be half-ignored; startup stops naming them. */
static apr_array_header_t *pai_misplaced;

static apr_status_t pai_misplaced_reset(void *data)
{
    (void)data;
    pai_misplaced = NULL;
    return APR_SUCCESS;
}

static pai_server_conf *pai_sconf(cmd_parms *cmd)
{
    if (cmd->server->is_virtual) {
        if (!pai_misplaced) {
            pai_misplaced = apr_array_make(cmd->pool, 4, sizeof(const char *));
            apr_pool_cleanup_register(cmd->pool, NULL, pai_misplaced_reset,
                                      apr_pool_cleanup_null);
        }
        APR_ARRAY_PUSH(pai_misplaced, const char *) =
            apr_psprintf(cmd->pool, "%s (%s:%d)", cmd->cmd->name,
                         cmd->directive ? cmd->directive->filename : "?",
                         cmd->directive ? cmd->directive->line_num : 0);
        /* Written and dropped: the error comes at post_config. */
        return pai_config_create_server(cmd->pool, cmd->server);
    }
    return ap_get_module_config(cmd->server->module_config, &pairest_module);
}

static const char *pai_set_token_lifetime(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return pai_parse_int(cmd, arg, 60, 604800 * 52, &pai_sconf(cmd)->s.token_lifetime);
}

static const char *pai_set_app_token_max_lifetime(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return pai_parse_int(cmd, arg, 60, 86400 * 3650, &pai_sconf(cmd)->s.app_token_max_lifetime);
}

static const char *pai_set_token_max_lifetime(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return pai_parse_int(cmd, arg, 60, 604800 * 52, &pai_sconf(cmd)->s.token_max_lifetime);
}

static const char *pai_set_bcrypt_cost(cmd_parms *cmd, void *d, const char *arg)
{
    apr_int64_t v = 0;
    const char *err = pai_parse_int(cmd, arg, 4, 31, &v);
    (void)d;
    if (!err)
        pai_sconf(cmd)->s.bcrypt_cost = (int)v;
    return err;
}

/* Per location: a site may allow larger bodies on one path only. */
static const char *pai_set_body_limit(cmd_parms *cmd, void *d, const char *arg)
{
    apr_int64_t v = 0;
    const char *err = pai_parse_int(cmd, arg, 1024, APR_INT64_C(1) << 30, &v);
    if (!err)
        ((pai_dir_conf *)d)->body_limit = (apr_off_t)v;
    return err;
}

static const char *pai_set_secret_file(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    pai_sconf(cmd)->secret_file = ap_server_root_relative(cmd->pool, arg);
    return pai_sconf(cmd)->secret_file ? NULL : "PaiTokenSecretFile: bad path";
}

static const char *pai_set_admin(cmd_parms *cmd, void *d, const char *user, const char *file)
{
    (void)d;
    if (!pai_username_valid(user))
        return "PaiAdminBootstrap: the user name must match [_A-Za-z0-9]+";
    pai_sconf(cmd)->admin_user = user;
    pai_sconf(cmd)->admin_password_file = ap_server_root_relative(cmd->pool, file);
    return NULL;
}

static const char *pai_set_slurm_url(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    if (!strncmp(arg, "unix:", 5))
        arg = apr_pstrcat(cmd->pool, "unix:", ap_server_root_relative(cmd->pool, arg + 5), NULL);
    else if (strncmp(arg, "http://", 7) && strncmp(arg, "https://", 8))
        return "PaiSlurmRestURL: unix:/path/to/slurmrestd.sock or http(s)://host:port";
    pai_sconf(cmd)->slurm.url = arg;
    return NULL;
}

static const char *pai_set_slurm_key_file(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    pai_sconf(cmd)->slurm_key_file = ap_server_root_relative(cmd->pool, arg);
    return NULL;
}

/* "none" (the default): the sync lists through slurmrestd. */
static const char *pai_set_slurm_ctl_conf(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    pai_sconf(cmd)->slurm.ctl_conf = strcmp(arg, "none")
        ? ap_server_root_relative(cmd->pool, arg) : NULL;
    return NULL;
}

static const char *pai_set_name(cmd_parms *cmd, const char *arg, const char **out)
{
    if (!pai_username_valid(arg))
        return apr_psprintf(cmd->pool, "%s: '%s' must match [_A-Za-z0-9]+", cmd->cmd->name, arg);
    *out = arg;
    return NULL;
}

static const char *pai_set_job_user(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    if (!strcmp(arg, "root"))
        return "PaiSlurmUser: jobs never run as root";
    return pai_set_name(cmd, arg, &pai_sconf(cmd)->slurm.job_user);
}

static const char *pai_set_min_uid(cmd_parms *cmd, void *d, const char *arg)
{
    apr_int64_t v = 0;
    const char *err = pai_parse_int(cmd, arg, 1, 2147483647, &v);
    (void)d;
    if (!err)
        pai_sconf(cmd)->slurm.policy.min_uid = (int)v;
    return err;
}

static const char *pai_add_deny(cmd_parms *cmd, void *d, const char *arg)
{
    pai_server_conf *c = pai_sconf(cmd);
    (void)d;
    if (!c->deny)
        c->deny = apr_array_make(cmd->pool, 8, sizeof(const char *));
    APR_ARRAY_PUSH(c->deny, const char *) = arg;
    return NULL;
}

static const char *pai_set_user_job_limit(cmd_parms *cmd, void *d, const char *arg)
{
    apr_int64_t v = 0;
    const char *err = pai_parse_int(cmd, arg, 0, 1000000, &v);
    (void)d;
    if (!err)
        *(cmd->info ? &pai_sconf(cmd)->s.max_active : &pai_sconf(cmd)->s.max_waiting) = (int)v;
    return err;
}

static const char *pai_set_audit_retention(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return pai_parse_int(cmd, arg, 0, 36500, &pai_sconf(cmd)->audit_retention);
}

/* An http(s) URL of this server, without its trailing slash, into *out; 0
 * when arg is not one or holds a character of `reject`. */
static int pai_parse_base_url(cmd_parms *cmd, const char *arg, const char *reject,
                              const char **out)
{
    apr_size_t n = strlen(arg);
    if ((strncmp(arg, "http://", 7) && strncmp(arg, "https://", 8)) ||
        (reject && strpbrk(arg, reject)))
        return 0;
    *out = apr_pstrndup(cmd->pool, arg, arg[n - 1] == '/' ? n - 1 : n);
    return 1;
}

static const char *pai_set_public_url(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return pai_parse_base_url(cmd, arg, " \"<>?#", &pai_sconf(cmd)->s.public_url) ? NULL
        : "PaiPublicURL: an http(s)://host[:port] URL of this server, as clients reach it";
}

static const char *pai_set_user_mapping(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    if (!strcmp(arg, "same-name"))
        pai_sconf(cmd)->slurm.per_user = 1;
    else if (!strcmp(arg, "service"))
        pai_sconf(cmd)->slurm.per_user = 0;
    else
        return "PaiSlurmUserMapping: service (every job as PaiSlurmUser) or same-name";
    return NULL;
}

static const char *pai_set_container_runtime(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    if (strcmp(arg, "runc") && strcmp(arg, "none"))
        return "PaiContainerRuntime: runc (each task in its job's image, rootless) or none "
               "(tasks on the node itself)";
    pai_sconf(cmd)->s.container_runtime = arg;
    return NULL;
}

/* One pattern per argument; the list is the union of every line. */
static const char *pai_add_image_allow(cmd_parms *cmd, void *d, const char *arg)
{
    pai_server_conf *c = pai_sconf(cmd);
    apr_array_header_t *a;
    (void)d;
    if (!*arg || strlen(arg) > 256 || strpbrk(arg, " \t\"'"))
        return "PaiImageAllow: patterns of registry/repository, e.g. registry.example.com/* "
               "or docker.io/library/*";
    a = c->s.image_allow ? (apr_array_header_t *)c->s.image_allow
                         : apr_array_make(cmd->pool, 4, sizeof(const char *));
    APR_ARRAY_PUSH(a, const char *) = arg;
    c->s.image_allow = a;
    return NULL;
}

/* One address or CIDR per argument; the list is the union of every line. */
static const char *pai_add_webhook_allow(cmd_parms *cmd, void *d, const char *arg)
{
    pai_server_conf *c = pai_sconf(cmd);
    apr_array_header_t *a = (apr_array_header_t *)c->s.webhook_allow;
    const char *why = pai_webhook_allow_add(cmd->pool, &a, arg);
    (void)d;
    c->s.webhook_allow = a;
    return why ? apr_pstrcat(cmd->pool, "PaiWebhookAllow: ", why, NULL) : NULL;
}

static const char *pai_set_partition(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return pai_set_name(cmd, arg, &pai_sconf(cmd)->slurm.partition);
}

static const char *pai_set_launcher_timeout(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return pai_parse_int(cmd, arg, 1, 300, &pai_sconf(cmd)->launcher_timeout);
}

static const char *pai_set_sync_interval(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return pai_parse_int(cmd, arg, 100, 60000, &pai_sconf(cmd)->sync_interval);
}

static const char *pai_set_job_log_dir(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    pai_sconf(cmd)->s.job_log_dir = ap_server_root_relative(cmd->pool, arg);
    return NULL;
}

/* A whole number of the settings in [lo, hi]: the directive's cmd->info. */
typedef struct pai_int_setting {
    size_t offset;                   /* of the int in pai_settings */
    apr_int64_t lo, hi;
} pai_int_setting;

#define PAI_INT_SETTING(field, lo, hi) \
    (&(pai_int_setting){offsetof(pai_settings, field), lo, hi})

static const char *pai_set_int_setting(cmd_parms *cmd, void *d, const char *arg)
{
    const pai_int_setting *is = cmd->info;
    apr_int64_t v = 0;
    const char *e = pai_parse_int(cmd, arg, is->lo, is->hi, &v);
    (void)d;
    if (!e)
        *(int *)((char *)&pai_sconf(cmd)->s + is->offset) = (int)v;
    return e;
}

static const char *pai_set_report_url(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return pai_parse_base_url(cmd, arg, NULL, &pai_sconf(cmd)->s.report_base) ? NULL
        : "PaiSSHReportURL: an http(s):// URL of this server, as the nodes reach it";
}

/* A file on the nodes, named in the tasks' environment: a plain absolute path. */
static const char *pai_set_report_ca(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    if (!pai_image_mount_path_ok(arg))
        return "PaiSSHReportCAFile: an absolute path on the nodes, of letters, digits and . _ - /";
    pai_sconf(cmd)->slurm.report_ca = arg;
    return NULL;
}

static const char *pai_set_port_range(cmd_parms *cmd, void *d, const char *lo, const char *hi)
{
    apr_int64_t l = 0, h = 0;
    const char *err;
    (void)d;
    if ((err = pai_parse_int(cmd, lo, 1024, 65535, &l)) ||
        (err = pai_parse_int(cmd, hi, 1024, 65535, &h)))
        return err;
    if (h - l < 100)
        return "PaiTaskPortRange: the range must hold at least 100 ports";
    pai_sconf(cmd)->s.port_lo = (int)l;
    pai_sconf(cmd)->s.port_hi = (int)h;
    return NULL;
}

static const char *pai_set_auth_cache_ttl(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return pai_parse_int(cmd, arg, 0, 60000, &pai_sconf(cmd)->auth_cache_ttl);
}

static const char *pai_set_answer_cache_ttl(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return pai_parse_int(cmd, arg, 0, 60000, &pai_sconf(cmd)->answer_cache_ttl);
}

/* PaiLoginLimitUser / PaiLoginLimitAddress COUNT SECONDS (COUNT 0: no limit). */
static const char *pai_set_login_limit(cmd_parms *cmd, void *d, const char *count,
                                       const char *secs)
{
    pai_login_limits *l = &pai_sconf(cmd)->s.login_limits;
    apr_int64_t n = 0, w = 0;
    const char *err;
    (void)d;
    if ((err = pai_parse_int(cmd, count, 0, 1000000, &n)) ||
        (err = pai_parse_int(cmd, secs, 1, 86400, &w)))
        return err;
    if (cmd->info) {
        l->addr_max = (int)n;
        l->addr_window = w;
    }
    else {
        l->user_max = (int)n;
        l->user_window = w;
    }
    return NULL;
}

static const char *pai_add_vc(cmd_parms *cmd, void *d, const char *name, const char *cap,
                              const char *maxcap)
{
    pai_server_conf *c = pai_sconf(cmd);
    apr_int64_t capacity = 0, max_capacity = 100;
    const char *err;
    pai_vc *vc;
    int i;
    (void)d;

    if (!pai_username_valid(name))
        return apr_psprintf(cmd->pool, "PaiVirtualCluster: name '%s' must match [A-Za-z0-9_]+", name);
    if ((err = pai_parse_int(cmd, cap, 0, 100, &capacity)) ||
        (maxcap && (err = pai_parse_int(cmd, maxcap, 0, 100, &max_capacity))))
        return err;
    if (max_capacity < capacity)
        return apr_psprintf(cmd->pool, "PaiVirtualCluster %s: maxCapacity %s is below capacity %s",
                            name, maxcap, cap);
    if (!c->vcs)
        c->vcs = apr_array_make(cmd->pool, 4, sizeof(pai_vc));
    for (i = 0; i < c->vcs->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(c->vcs, i, pai_vc).name, name))
            return apr_psprintf(cmd->pool, "PaiVirtualCluster %s is declared twice", name);
    vc = apr_array_push(c->vcs);
    vc->name = name;
    vc->capacity = (int)capacity;
    vc->max_capacity = (int)max_capacity;
    return NULL;
}

const command_rec pai_cmds[] = {
    AP_INIT_TAKE1("PaiTokenLifetime", pai_set_token_lifetime, NULL, RSRC_CONF,
                  "seconds a token lives when the client does not say (default 86400)"),
    AP_INIT_TAKE1("PaiApplicationTokenMaxLifetime", pai_set_app_token_max_lifetime, NULL,
                  RSRC_CONF, "seconds an application token may live, 60.. (default 1 year)"),
    AP_INIT_TAKE1("PaiTokenMaxLifetime", pai_set_token_max_lifetime, NULL, RSRC_CONF,
                  "the longest expiration a client may ask for, seconds (default 604800)"),
    AP_INIT_TAKE1("PaiTokenSecretFile", pai_set_secret_file, NULL, RSRC_CONF,
                  "file holding the HS256 secret; made with 32 random bytes when missing"),
    AP_INIT_TAKE2("PaiAdminBootstrap", pai_set_admin, NULL, RSRC_CONF,
                  "user name and password file of the first admin, made when absent"),
    AP_INIT_TAKE1("PaiBcryptCost", pai_set_bcrypt_cost, NULL, RSRC_CONF,
                  "bcrypt cost for new password hashes, 4..31 (default 10)"),
    AP_INIT_TAKE1("PaiBodyLimit", pai_set_body_limit, NULL, RSRC_CONF | ACCESS_CONF,
                  "largest request body in bytes (default 1048576)"),
    AP_INIT_TAKE1("PaiSlurmRestURL", pai_set_slurm_url, NULL, RSRC_CONF,
                  "slurmrestd: unix:/path/to/socket or http(s)://host:port"),
    AP_INIT_TAKE1("PaiSlurmJWTKeyFile", pai_set_slurm_key_file, NULL, RSRC_CONF,
                  "Slurm's auth/jwt key, read as root at start (mints the launcher's tokens)"),
    AP_INIT_TAKE1("PaiSlurmConf", pai_set_slurm_ctl_conf, NULL, RSRC_CONF,
                  "the cluster's slurm.conf, when this server is a Slurm client (munge): "
                  "the sync reads Slurm's job list from slurmctld; none (default): "
                  "through slurmrestd"),
    AP_INIT_TAKE1("PaiSlurmUser", pai_set_job_user, NULL, RSRC_CONF,
                  "the Unix account jobs run as (default paijob; never root)"),
    AP_INIT_TAKE1("PaiSlurmUserMapping", pai_set_user_mapping, NULL, RSRC_CONF,
                  "service: every job runs as PaiSlurmUser (default); same-name: as the "
                  "Unix account named like its PAI user (never root)"),
    AP_INIT_TAKE1("PaiSlurmUserMinUid", pai_set_min_uid, NULL, RSRC_CONF,
                  "same-name: the lowest uid a job may run as (default 1000; below are the "
                  "system's accounts)"),
    AP_INIT_ITERATE("PaiSlurmUserDeny", pai_add_deny, NULL, RSRC_CONF,
                    "same-name: accounts jobs never run as, besides root, the system's service "
                    "accounts, httpd's User and PaiSlurmUser"),
    AP_INIT_TAKE1("PaiUserMaxWaitingJobs", pai_set_user_job_limit, NULL, RSRC_CONF,
                  "jobs one user may have waiting; more are refused with 429 (default 1000; "
                  "0: no limit)"),
    AP_INIT_TAKE1("PaiUserMaxActiveJobs", pai_set_user_job_limit, (void *)1, RSRC_CONF,
                  "jobs one user may have waiting or running; more are refused with 429 "
                  "(default 5000; 0: no limit)"),
    AP_INIT_TAKE1("PaiAuditRetention", pai_set_audit_retention, NULL, RSRC_CONF,
                  "days the audit log keeps a record (default 365; 0: for ever)"),
    AP_INIT_TAKE1("PaiPublicURL", pai_set_public_url, NULL, RSRC_CONF,
                  "this server's URL as clients reach it, for links in replies (default: "
                  "from ServerName and the port; never from a request's Host header)"),
    AP_INIT_TAKE1("PaiReadAccess", pai_set_read_access, NULL, RSRC_CONF | ACCESS_CONF,
                  "who may read jobs and VCs here: public (default), users or owner"),
    AP_INIT_TAKE1("PaiContainerRuntime", pai_set_container_runtime, NULL, RSRC_CONF,
                  "runc: each task runs in its job's image, rootless, under Slurm's limits "
                  "(default); none: tasks run on the node itself"),
    AP_INIT_ITERATE("PaiImageAllow", pai_add_image_allow, NULL, RSRC_CONF,
                    "registry/repository patterns a job's image must match (default: any); "
                    "e.g. registry.example.com/* docker.io/library/*"),
    AP_INIT_TAKE1("PaiSlurmPartition", pai_set_partition, NULL, RSRC_CONF,
                  "the Slurm partition jobs go to (default pai)"),
    AP_INIT_TAKE1("PaiLauncherTimeout", pai_set_launcher_timeout, NULL, RSRC_CONF,
                  "seconds a call to slurmrestd may take, 1..300 (default 10)"),
    AP_INIT_TAKE1("PaiJobLogDir", pai_set_job_log_dir, NULL, RSRC_CONF,
                  "folder on the nodes for task logs, writable by the job account"),
    AP_INIT_TAKE1("PaiLogRetention", pai_set_int_setting,
                  PAI_INT_SETTING(log_retention_days, 0, 36500), RSRC_CONF,
                  "days a task's logs are served after its job ends, 0: always (default 30)"),
    AP_INIT_TAKE1("PaiLogFollowSeconds", pai_set_int_setting,
                  PAI_INT_SETTING(log_follow_seconds, 1, 86400), RSRC_CONF,
                  "the longest a ?follow=true log read stays open, 1..86400 (default 600)"),
    AP_INIT_TAKE1("PaiStreamSeconds", pai_set_int_setting,
                  PAI_INT_SETTING(stream_seconds, 1, 86400), RSRC_CONF,
                  "the longest a change stream stays open before its client reconnects, "
                  "1..86400 (default 900)"),
    AP_INIT_TAKE1("PaiStreamMax", pai_set_int_setting,
                  PAI_INT_SETTING(stream_max, 1, 100000), RSRC_CONF,
                  "change streams a process holds at once, each a worker thread (default: "
                  "half its ThreadsPerChild)"),
    AP_INIT_TAKE1("PaiStreamRetention", pai_set_int_setting,
                  PAI_INT_SETTING(stream_retention_hours, 1, 8760), RSRC_CONF,
                  "hours changes are kept for a watcher to resume from, 1..8760 (default 24)"),
    AP_INIT_ITERATE("PaiWebhookAllow", pai_add_webhook_allow, NULL, RSRC_CONF,
                    "addresses or CIDRs webhooks may reach although loopback or private "
                    "(default: none), e.g. 10.20.0.0/16"),
    AP_INIT_TAKE2("PaiTaskPortRange", pai_set_port_range, NULL, RSRC_CONF,
                  "the ports tasks get for their portList (default 20000 29999)"),
    AP_INIT_TAKE23("PaiVirtualCluster", pai_add_vc, NULL, RSRC_CONF,
                   "a virtual cluster: name, capacity and maxCapacity in percent of the cluster"),
    AP_INIT_TAKE1("PaiSSHReportURL", pai_set_report_url, NULL, RSRC_CONF,
                  "this server's URL as tasks reach it, to report their sshd (default "
                  "http://127.0.0.1:9186)"),
    AP_INIT_TAKE1("PaiSSHReportCAFile", pai_set_report_ca, NULL, RSRC_CONF,
                  "the CA certificate (a file on every node) tasks verify an https "
                  "PaiSSHReportURL with (default: the nodes' trust store)"),
    AP_INIT_TAKE1("PaiSyncInterval", pai_set_sync_interval, NULL, RSRC_CONF,
                  "milliseconds between two syncs with the launcher, 100..60000 (default 1000)"),
    AP_INIT_TAKE1("PaiAuthCacheTTL", pai_set_auth_cache_ttl, NULL, RSRC_CONF,
                  "milliseconds a verified token is trusted without asking the database, "
                  "0..60000 (default 1000); user changes on this host end it at once"),
    AP_INIT_TAKE1("PaiAnswerCacheTTL", pai_set_answer_cache_ttl, NULL, RSRC_CONF,
                  "milliseconds a job list or status may be answered again without asking the "
                  "database, 0..60000 (default 1000; 0: never); any write on this host ends it "
                  "at once"),
    AP_INIT_TAKE2("PaiLoginLimitUser", pai_set_login_limit, NULL, RSRC_CONF,
                  "failed logins of one user from one address allowed per window: COUNT "
                  "SECONDS (default 10 300; 0 disables)"),
    AP_INIT_TAKE2("PaiLoginLimitAddress", pai_set_login_limit, (void *)1, RSRC_CONF,
                  "failed logins from one client address allowed per window: COUNT SECONDS "
                  "(default 100 300; 0 disables)"),
    {NULL}
};


/* ---- start-up: the settings made whole ------------------------------------ */

/* Defaults over what is unset, secrets read (as root, so that their files
 * can stay mode 0600) and every cross-setting rule checked, once, on the
 * main server's record that every vhost shares.  OK, or the startup error
 * (logged). */
int pai_config_post(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    pai_server_conf *c = ap_get_module_config(s->module_config, &pairest_module);
    char *secret;
    apr_status_t rv;

    if (pai_misplaced && pai_misplaced->nelts) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "PAI0014: mod_pairest's directives are "
                     "module-wide: set them in the main server, not inside <VirtualHost>: %s",
                     apr_array_pstrcat(ptemp, pai_misplaced, ','));
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (c->s.token_lifetime == PAI_UNSET) c->s.token_lifetime = PAI_DEF_TOKEN_LIFETIME;
    if (c->s.token_max_lifetime == PAI_UNSET) c->s.token_max_lifetime = PAI_DEF_TOKEN_MAX_LIFETIME;
    if (c->s.app_token_max_lifetime == PAI_UNSET)
        c->s.app_token_max_lifetime = PAI_DEF_APP_TOKEN_MAX_LIFETIME;
    if (c->s.bcrypt_cost == PAI_UNSET) c->s.bcrypt_cost = PAI_DEF_BCRYPT_COST;
    if (!c->secret_file) c->secret_file = ap_server_root_relative(pconf, PAI_DEF_SECRET_FILE);
    {
        const char *verr = pai_vc_complete(pconf, &c->vcs);
        if (verr) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "PAI0010: %s", verr);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    if (c->s.token_lifetime > c->s.token_max_lifetime) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "PAI0012: PaiTokenLifetime exceeds PaiTokenMaxLifetime");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* Secrets are read here, as root, so that they can stay mode 0600. */
    if ((rv = pai_secretfile_make(pconf, c->secret_file)) != APR_SUCCESS ||
        (rv = pai_secretfile_read(pconf, c->secret_file, &secret)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "PAI0013: cannot make or read the token secret file %s", c->secret_file);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (strlen(secret) < PAI_SECRET_MIN) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "PAI0004: the token secret in %s is shorter than %d bytes",
                     c->secret_file, PAI_SECRET_MIN);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    c->s.secret.key = (const unsigned char *)secret;
    c->s.secret.len = strlen(secret);
    if (c->admin_password_file) {
        char *pw;
        rv = pai_secretfile_read(pconf, c->admin_password_file, &pw);
        if (rv != APR_SUCCESS || !pai_password_valid(pw)) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                         "PAI0005: PaiAdminBootstrap: cannot read a password of %d..%d "
                         "characters from %s", PAI_PASSWORD_MIN, PAI_PASSWORD_MAX,
                         c->admin_password_file);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        c->admin_password = pw;
    }
    if (!c->slurm.url) c->slurm.url = apr_pstrcat(pconf, "unix:",
                                       ap_server_root_relative(pconf, PAI_DEF_SLURM_URL + 5), NULL);
    if (!c->slurm_key_file) c->slurm_key_file = ap_server_root_relative(pconf, PAI_DEF_SLURM_KEY_FILE);
    if (!c->slurm.job_user) c->slurm.job_user = PAI_DEF_JOB_USER;
    if (!c->slurm.partition) c->slurm.partition = PAI_DEF_PARTITION;
    if (!c->s.job_log_dir) c->s.job_log_dir = ap_server_root_relative(pconf, PAI_DEF_JOB_LOG_DIR);
    if (c->s.port_lo == PAI_UNSET) { c->s.port_lo = PAI_DEF_PORT_LO; c->s.port_hi = PAI_DEF_PORT_HI; }
    if (c->launcher_timeout == PAI_UNSET) c->launcher_timeout = PAI_DEF_LAUNCHER_TIMEOUT;
    if (c->sync_interval == PAI_UNSET) c->sync_interval = PAI_DEF_SYNC_INTERVAL;
    if (c->auth_cache_ttl == PAI_UNSET) c->auth_cache_ttl = PAI_DEF_AUTH_CACHE_TTL;
    if (c->answer_cache_ttl == PAI_UNSET) c->answer_cache_ttl = PAI_DEF_ANSWER_CACHE_TTL;
    if (c->s.login_limits.user_max == PAI_UNSET) {
        c->s.login_limits.user_max = PAI_DEF_LOGIN_USER_MAX;
        c->s.login_limits.user_window = PAI_DEF_LOGIN_USER_WINDOW;
    }
    if (c->s.login_limits.addr_max == PAI_UNSET) {
        c->s.login_limits.addr_max = PAI_DEF_LOGIN_ADDR_MAX;
        c->s.login_limits.addr_window = PAI_DEF_LOGIN_ADDR_WINDOW;
    }
    if (!c->s.report_base) c->s.report_base = PAI_DEF_REPORT_URL;
    if (c->slurm.policy.min_uid == PAI_UNSET) c->slurm.policy.min_uid = PAI_DEF_MIN_UID;
    if (c->s.max_waiting == PAI_UNSET) c->s.max_waiting = PAI_DEF_MAX_WAITING;
    if (c->s.max_active == PAI_UNSET) c->s.max_active = PAI_DEF_MAX_ACTIVE;
    if (c->audit_retention == PAI_UNSET) c->audit_retention = PAI_DEF_AUDIT_RETENTION;
    if (c->s.log_retention_days == PAI_UNSET) c->s.log_retention_days = PAI_DEF_LOG_RETENTION;
    if (c->s.log_follow_seconds == PAI_UNSET) c->s.log_follow_seconds = PAI_DEF_LOG_FOLLOW;
    if (c->s.stream_seconds == PAI_UNSET) c->s.stream_seconds = PAI_DEF_STREAM_SECONDS;
    if (c->s.stream_retention_hours == PAI_UNSET)
        c->s.stream_retention_hours = PAI_DEF_STREAM_RETENTION;
    /* stream_max stays unset: each process takes half its threads. */
    if (!c->s.public_url) {
        /* From the configuration alone: ServerName and the server's port. */
        apr_port_t port = s->port ? s->port
                        : ap_listeners && ap_listeners->bind_addr ? ap_listeners->bind_addr->port
                        : 80;
        c->s.public_url = apr_psprintf(pconf, "http://%s%s", s->server_hostname ?
                                       s->server_hostname : "127.0.0.1",
                                       port && port != 80 ? apr_psprintf(pconf, ":%u", port)
                                                          : "");
    }
    {
        /* The one service account must exist and be no root-equivalent;
         * same-name never maps to it, to httpd's account or to the list. */
        const char *why = pai_unix_service_account_refusal(ptemp, c->slurm.job_user);
        apr_array_header_t *deny = apr_array_make(pconf, 8, sizeof(const char *));
        if (why) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "PAI0011: PaiSlurmUser %s cannot run "
                         "jobs: %s", c->slurm.job_user, why);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (c->deny)
            apr_array_cat(deny, c->deny);
        APR_ARRAY_PUSH(deny, const char *) = c->slurm.job_user;
        if (ap_unixd_config.user_name)
            APR_ARRAY_PUSH(deny, const char *) = ap_unixd_config.user_name;
        c->slurm.policy.deny = deny;
    }
    if (!c->s.container_runtime) c->s.container_runtime = PAI_DEF_CONTAINER_RUNTIME;
    c->s.containers = c->slurm.containers = strcmp(c->s.container_runtime, "none") != 0;
    c->s.job_user = c->slurm.job_user;
    c->s.per_user = c->slurm.per_user;
    c->slurm.timeout_ms = (long)c->launcher_timeout * 1000;
    c->slurm.log_dir = c->s.job_log_dir;
    if (c->slurm.ctl_conf) {
        /* libslurm ends the process on a slurm.conf it cannot read: refused
         * here instead, where the admin sees why. */
        apr_finfo_t fi;
        rv = apr_stat(&fi, c->slurm.ctl_conf, APR_FINFO_TYPE | APR_FINFO_PROT, ptemp);
        if (rv != APR_SUCCESS || fi.filetype != APR_REG || !(fi.protection & APR_FPROT_WREAD)) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "PAI0018: PaiSlurmConf %s is not a "
                         "file every account may read (slurm.conf)", c->slurm.ctl_conf);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    {
        /* Slurm's JWT key is root's equivalent: read here, as root, never later. */
        char *key;
        rv = pai_secretfile_read(pconf, c->slurm_key_file, &key);
        if (rv != APR_SUCCESS || strlen(key) < PAI_SECRET_MIN) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                         "PAI0006: cannot read a Slurm JWT key of at least %d bytes from %s "
                         "(PaiSlurmJWTKeyFile)", PAI_SECRET_MIN, c->slurm_key_file);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        c->slurm.jwt_key = (const unsigned char *)key;
        c->slurm.jwt_key_len = strlen(key);
    }
    return OK;
}
