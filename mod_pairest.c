/* mod_pairest: OpenPAI's REST API v1 as an httpd module.  This file is the
 * glue: directives, hooks, the routing table and the one responder. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_script.h>
#include <ap_mpm.h>
#include <unixd.h>
#include <ap_listen.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_shm.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include <mod_watchdog.h>
#include <curl/curl.h>

#include "core/route.h"
#include "core/audit.h"
#include "core/authcache.h"
#include "core/viewcache.h"
#include "mod_pairest.h"

#define PAI_HANDLER "pairest"

module AP_MODULE_DECLARE_DATA pairest_module __attribute__((visibility("default")));
APLOG_USE_MODULE(pairest);

/* ---- configuration ---------------------------------------------------- */


/* Defaults in one place; applied in post_config over what is unset. */
#define PAI_DEF_TOKEN_LIFETIME     86400
#define PAI_DEF_TOKEN_MAX_LIFETIME 604800
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
#define PAI_DEF_LOGIN_USER_MAX     10
#define PAI_DEF_LOGIN_USER_WINDOW  300
#define PAI_DEF_LOGIN_ADDR_MAX     100
#define PAI_DEF_LOGIN_ADDR_WINDOW  300
#define PAI_DEF_MAX_WAITING        1000
#define PAI_DEF_MAX_ACTIVE         5000
#define PAI_DEF_AUDIT_RETENTION    365
/* Anonymous refusals of one kind from one address fold into one audit row
 * per this many ms. */
#define PAI_AUDIT_ANON_WINDOW_MS   60000

static void *pai_create_server_conf(apr_pool_t *p, server_rec *s)
{
    pai_server_conf *c = apr_pcalloc(p, sizeof(*c));
    (void)s;
    c->s.token_lifetime = PAI_UNSET;
    c->s.token_max_lifetime = PAI_UNSET;
    c->s.bcrypt_cost = PAI_UNSET;
    c->body_limit = PAI_UNSET;
    c->s.port_lo = c->s.port_hi = PAI_UNSET;
    c->launcher_timeout = PAI_UNSET;
    c->sync_interval = PAI_UNSET;
    c->auth_cache_ttl = PAI_UNSET;
    c->s.login_limits.user_max = c->s.login_limits.addr_max = PAI_UNSET;
    c->slurm.policy.min_uid = PAI_UNSET;
    c->s.max_waiting = c->s.max_active = PAI_UNSET;
    c->audit_retention = PAI_UNSET;
    return c;
}

#define PAI_MERGE(f) (add->f != PAI_UNSET ? add->f : base->f)
#define PAI_MERGE_PTR(f) (add->f ? add->f : base->f)

static void *pai_merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    pai_server_conf *base = basev, *add = addv, *c = apr_pcalloc(p, sizeof(*c));
    c->s.token_lifetime = PAI_MERGE(s.token_lifetime);
    c->s.token_max_lifetime = PAI_MERGE(s.token_max_lifetime);
    c->s.bcrypt_cost = PAI_MERGE(s.bcrypt_cost);
    c->body_limit = PAI_MERGE(body_limit);
    c->secret_file = PAI_MERGE_PTR(secret_file);
    c->admin_user = PAI_MERGE_PTR(admin_user);
    c->admin_password_file = PAI_MERGE_PTR(admin_password_file);
    c->s.port_lo = PAI_MERGE(s.port_lo);
    c->s.port_hi = PAI_MERGE(s.port_hi);
    c->s.job_log_dir = PAI_MERGE_PTR(s.job_log_dir);
    c->launcher_timeout = PAI_MERGE(launcher_timeout);
    c->sync_interval = PAI_MERGE(sync_interval);
    c->auth_cache_ttl = PAI_MERGE(auth_cache_ttl);
    c->slurm.url = PAI_MERGE_PTR(slurm.url);
    c->slurm.job_user = PAI_MERGE_PTR(slurm.job_user);
    c->slurm.per_user = add->slurm.per_user || base->slurm.per_user;
    c->slurm.partition = PAI_MERGE_PTR(slurm.partition);
    c->slurm_key_file = PAI_MERGE_PTR(slurm_key_file);
    c->vcs = PAI_MERGE_PTR(vcs);
    c->s.report_base = PAI_MERGE_PTR(s.report_base);
    c->s.public_url = PAI_MERGE_PTR(s.public_url);
    c->slurm.policy.min_uid = PAI_MERGE(slurm.policy.min_uid);
    c->deny = PAI_MERGE_PTR(deny);
    c->s.max_waiting = PAI_MERGE(s.max_waiting);
    c->s.max_active = PAI_MERGE(s.max_active);
    c->s.container_runtime = PAI_MERGE_PTR(s.container_runtime);
    c->s.image_allow = PAI_MERGE_PTR(s.image_allow);
    c->audit_retention = PAI_MERGE(audit_retention);
    c->s.login_limits = add->s.login_limits.user_max != PAI_UNSET ? add->s.login_limits
                                                                  : base->s.login_limits;
    if (add->s.login_limits.addr_max != PAI_UNSET) {
        c->s.login_limits.addr_max = add->s.login_limits.addr_max;
        c->s.login_limits.addr_window = add->s.login_limits.addr_window;
    }
    return c;
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

/* Per location: PaiReadAccess. */
typedef struct pai_dir_conf {
    int read_access;                 /* pai_read_access, or PAI_UNSET */
} pai_dir_conf;

static void *pai_create_dir_conf(apr_pool_t *p, char *dir)
{
    pai_dir_conf *c = apr_pcalloc(p, sizeof(*c));
    (void)dir;
    c->read_access = PAI_UNSET;
    return c;
}

static void *pai_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    pai_dir_conf *base = basev, *add = addv, *c = apr_pcalloc(p, sizeof(*c));
    c->read_access = add->read_access != PAI_UNSET ? add->read_access : base->read_access;
    return c;
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
        return pai_create_server_conf(cmd->pool, cmd->server);
    }
    return ap_get_module_config(cmd->server->module_config, &pairest_module);
}

static const char *pai_set_token_lifetime(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return pai_parse_int(cmd, arg, 60, 604800 * 52, &pai_sconf(cmd)->s.token_lifetime);
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

static const char *pai_set_body_limit(cmd_parms *cmd, void *d, const char *arg)
{
    apr_int64_t v = 0;
    const char *err = pai_parse_int(cmd, arg, 1024, APR_INT64_C(1) << 30, &v);
    (void)d;
    if (!err)
        pai_sconf(cmd)->body_limit = (apr_off_t)v;
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

static const char *pai_set_report_url(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    return pai_parse_base_url(cmd, arg, NULL, &pai_sconf(cmd)->s.report_base) ? NULL
        : "PaiSSHReportURL: an http(s):// URL of this server, as the nodes reach it";
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

/* `default` always exists and gets what the others leave; the sum is <= 100. */
static const char *pai_check_vcs(apr_pool_t *p, pai_server_conf *c)
{
    int i, sum = 0, has_default = 0;
    pai_vc *vc;

    if (!c->vcs)
        c->vcs = apr_array_make(p, 1, sizeof(pai_vc));
    for (i = 0; i < c->vcs->nelts; i++) {
        vc = &APR_ARRAY_IDX(c->vcs, i, pai_vc);
        sum += vc->capacity;
        has_default |= !strcmp(vc->name, "default");
    }
    if (sum > 100)
        return apr_psprintf(p, "PaiVirtualCluster: capacities sum to %d%%, more than 100%%", sum);
    if (!has_default) {
        vc = apr_array_push(c->vcs);
        vc->name = "default";
        vc->capacity = 100 - sum;
        vc->max_capacity = 100;
    }
    return NULL;
}

static const command_rec pai_cmds[] = {
    AP_INIT_TAKE1("PaiTokenLifetime", pai_set_token_lifetime, NULL, RSRC_CONF,
                  "seconds a token lives when the client does not say (default 86400)"),
    AP_INIT_TAKE1("PaiTokenMaxLifetime", pai_set_token_max_lifetime, NULL, RSRC_CONF,
                  "the longest expiration a client may ask for, seconds (default 604800)"),
    AP_INIT_TAKE1("PaiTokenSecretFile", pai_set_secret_file, NULL, RSRC_CONF,
                  "file holding the HS256 secret; made with 32 random bytes when missing"),
    AP_INIT_TAKE2("PaiAdminBootstrap", pai_set_admin, NULL, RSRC_CONF,
                  "user name and password file of the first admin, made when absent"),
    AP_INIT_TAKE1("PaiBcryptCost", pai_set_bcrypt_cost, NULL, RSRC_CONF,
                  "bcrypt cost for new password hashes, 4..31 (default 10)"),
    AP_INIT_TAKE1("PaiBodyLimit", pai_set_body_limit, NULL, RSRC_CONF,
                  "largest request body in bytes (default 1048576)"),
    AP_INIT_TAKE1("PaiSlurmRestURL", pai_set_slurm_url, NULL, RSRC_CONF,
                  "slurmrestd: unix:/path/to/socket or http(s)://host:port"),
    AP_INIT_TAKE1("PaiSlurmJWTKeyFile", pai_set_slurm_key_file, NULL, RSRC_CONF,
                  "Slurm's auth/jwt key, read as root at start (mints the launcher's tokens)"),
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
    AP_INIT_TAKE2("PaiTaskPortRange", pai_set_port_range, NULL, RSRC_CONF,
                  "the ports tasks get for their portList (default 20000 29999)"),
    AP_INIT_TAKE23("PaiVirtualCluster", pai_add_vc, NULL, RSRC_CONF,
                   "a virtual cluster: name, capacity and maxCapacity in percent of the cluster"),
    AP_INIT_TAKE1("PaiSSHReportURL", pai_set_report_url, NULL, RSRC_CONF,
                  "this server's URL as tasks reach it, to report their sshd (default "
                  "http://127.0.0.1:9186)"),
    AP_INIT_TAKE1("PaiSyncInterval", pai_set_sync_interval, NULL, RSRC_CONF,
                  "milliseconds between two syncs with the launcher, 100..60000 (default 1000)"),
    AP_INIT_TAKE1("PaiAuthCacheTTL", pai_set_auth_cache_ttl, NULL, RSRC_CONF,
                  "milliseconds a verified token is trusted without asking the database, "
                  "0..60000 (default 1000); user changes on this host end it at once"),
    AP_INIT_TAKE2("PaiLoginLimitUser", pai_set_login_limit, NULL, RSRC_CONF,
                  "failed logins of one user from one address allowed per window: COUNT "
                  "SECONDS (default 10 300; 0 disables)"),
    AP_INIT_TAKE2("PaiLoginLimitAddress", pai_set_login_limit, (void *)1, RSRC_CONF,
                  "failed logins from one client address allowed per window: COUNT SECONDS "
                  "(default 100 300; 0 disables)"),
    {NULL}
};

/* ---- start-up --------------------------------------------------------- */

static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *pai_dbd_acquire;
static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *pai_dbd_open_fn;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *pai_dbd_close_fn;
static APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *pai_wd_get_instance;
static APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *pai_wd_register_callback;

/* This process's launcher, made in child_init (its HTTP handles are per process). */
static pai_launcher *pai_proc_launcher;
/* Verified tokens of this process, and the host-wide epoch that user changes
 * move (shared memory made before the children fork). */
static pai_auth_cache *pai_proc_auth_cache;
static pai_view_cache *pai_proc_views;
static apr_shm_t *pai_epoch_shm;
/* This process's name in the sync lease: host, pid and a random part. */
static const char *pai_lease_holder;
static int pai_lease_held;
/* SQLite's writers of this process, one at a time (see store.c). */
static apr_thread_mutex_t *pai_proc_write_lock;
/* The sync runs on mod_watchdog's thread, which is joined only when the process
 * exits, after the child's pool (launcher, caches, mod_dbd's connections) is
 * gone.  An ending child closes this gate first: it waits for a running cycle,
 * and no cycle starts after.  Made in the process pool, which outlives the thread. */
static apr_thread_mutex_t *pai_sync_gate;
static int pai_sync_closed;
static apr_status_t pai_sync_watchdog(int state, void *data, apr_pool_t *pool);
static apr_status_t pai_sync_close(void *data);

/* Reads a small secret file, trailing white space dropped. */
static apr_status_t pai_read_small_file(apr_pool_t *p, const char *path, char **out)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n;
    apr_status_t rv;
    char *buf;

    if ((rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, p)) != APR_SUCCESS)
        return rv;
    if ((rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f)) != APR_SUCCESS || fi.size > 4096) {
        apr_file_close(f);
        return rv ? rv : APR_EINVAL;
    }
    n = (apr_size_t)fi.size;
    buf = apr_palloc(p, n + 1);
    rv = apr_file_read_full(f, buf, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF)
        return rv;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    *out = buf;
    return APR_SUCCESS;
}

/* The secret is made at first start: 32 random bytes, hex, mode 0600. */
static apr_status_t pai_make_secret_file(apr_pool_t *p, const char *path)
{
    unsigned char raw[32];
    char hex[sizeof(raw) * 2 + 2];
    apr_file_t *f;
    apr_status_t rv;
    apr_size_t i;

    if ((rv = apr_generate_random_bytes(raw, sizeof(raw))) != APR_SUCCESS)
        return rv;
    for (i = 0; i < sizeof(raw); i++)
        apr_snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[2 * sizeof(raw)] = '\n';
    hex[2 * sizeof(raw) + 1] = '\0';
    rv = apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_EXCL,
                       APR_FPROT_UREAD | APR_FPROT_UWRITE, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_write_full(f, hex, strlen(hex), NULL);
        apr_file_close(f);
    }
    return APR_STATUS_IS_EEXIST(rv) ? APR_SUCCESS : rv;
}

/* Bound to the routing table further down. */
static const pai_handler_fn pai_route_fns[PAI_R_COUNT];

static int pai_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s)
{
    (void)plog; (void)ptemp;
    /* Retrieved here: the optional_fn_retrieve hook runs after post_config. */
    pai_dbd_acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    pai_dbd_open_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    pai_dbd_close_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    pai_wd_get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    pai_wd_register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (pai_misplaced && pai_misplaced->nelts) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "PAI0014: mod_pairest's directives are "
                     "module-wide: set them in the main server, not inside <VirtualHost>: %s",
                     apr_array_pstrcat(ptemp, pai_misplaced, ','));
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!pai_dbd_acquire) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "PAI0001: mod_dbd is not loaded; mod_pairest stores everything through it");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    {
        int i;
        for (i = 0; i < PAI_R_COUNT; i++)
            if (!pai_route_fns[i]) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "PAI0002: no handler for %s %s",
                             pai_routes[i].method, pai_routes[i].pattern);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
    }
    /* Anonymous shared memory: inherited by every child of this generation. */
    if (apr_shm_create(&pai_epoch_shm, sizeof(apr_uint32_t), NULL, pconf) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "PAI0003: no shared memory for the token cache; every call asks the database");
        pai_epoch_shm = NULL;
    }
    else {
        *(apr_uint32_t *)apr_shm_baseaddr_get(pai_epoch_shm) = 0;
    }
    for (; s; s = s->next) {
        pai_server_conf *c = ap_get_module_config(s->module_config, &pairest_module);
        char *secret;
        apr_status_t rv;

        if (c->s.token_lifetime == PAI_UNSET) c->s.token_lifetime = PAI_DEF_TOKEN_LIFETIME;
        if (c->s.token_max_lifetime == PAI_UNSET) c->s.token_max_lifetime = PAI_DEF_TOKEN_MAX_LIFETIME;
        if (c->s.bcrypt_cost == PAI_UNSET) c->s.bcrypt_cost = PAI_DEF_BCRYPT_COST;
        if (c->body_limit == PAI_UNSET) c->body_limit = PAI_DEF_BODY_LIMIT;
        if (!c->secret_file) c->secret_file = ap_server_root_relative(pconf, PAI_DEF_SECRET_FILE);
        {
            const char *verr = pai_check_vcs(pconf, c);
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
        if ((rv = pai_make_secret_file(pconf, c->secret_file)) != APR_SUCCESS ||
            (rv = pai_read_small_file(pconf, c->secret_file, &secret)) != APR_SUCCESS) {
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
            rv = pai_read_small_file(pconf, c->admin_password_file, &pw);
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
        {
            /* Slurm's JWT key is root's equivalent: read here, as root, never later. */
            char *key;
            rv = pai_read_small_file(pconf, c->slurm_key_file, &key);
            if (rv != APR_SUCCESS || strlen(key) < PAI_SECRET_MIN) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                             "PAI0006: cannot read a Slurm JWT key of at least %d bytes from %s "
                             "(PaiSlurmJWTKeyFile)", PAI_SECRET_MIN, c->slurm_key_file);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            c->slurm.jwt_key = (const unsigned char *)key;
            c->slurm.jwt_key_len = strlen(key);
        }
    }
    /* The first of httpd's two configuration passes only checks. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (pai_wd_get_instance && pai_wd_register_callback) {
        pai_server_conf *c = ap_get_module_config(ap_server_conf->module_config, &pairest_module);
        ap_watchdog_t *wd;
        if (pai_wd_get_instance(&wd, "pairest-sync", 0, 1, pconf) != APR_SUCCESS ||
            pai_wd_register_callback(wd, apr_time_from_msec(c->sync_interval), ap_server_conf,
                                     pai_sync_watchdog) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, ap_server_conf,
                         "PAI0007: cannot register the job sync with mod_watchdog");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, ap_server_conf,
                     "PAI0008: mod_watchdog is missing; job states would never be synced");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static void pai_child_init(apr_pool_t *pchild, server_rec *s)
{
    pai_server_conf *c = ap_get_module_config(s->module_config, &pairest_module);
    pai_error *e = pai_launcher_slurm_create(pchild, &c->slurm, &pai_proc_launcher);
    if (e)
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "PAI0009: no launcher in this process: %s",
                     e->message);
    {
        char host[APRMAXHOSTLEN + 1] = "";
        apr_uint32_t r = 0;
        apr_gethostname(host, sizeof(host), pchild);
        apr_generate_random_bytes((unsigned char *)&r, sizeof(r));
        pai_lease_holder = apr_psprintf(pchild, "%.100s/%" APR_PID_T_FMT "/%08x", host,
                                        getpid(), r);
    }
    pai_proc_views = pai_view_cache_create(pchild, 4096);
    if (apr_thread_mutex_create(&pai_proc_write_lock, APR_THREAD_MUTEX_NESTED, pchild)
            != APR_SUCCESS)
        pai_proc_write_lock = NULL;
    if (pai_epoch_shm)
        pai_proc_auth_cache = pai_auth_cache_create(pchild, apr_shm_baseaddr_get(pai_epoch_shm),
                                                    c->auth_cache_ttl);
    /* A pre-cleanup runs before any of pchild's subpools or cleanups go. */
    if (apr_thread_mutex_create(&pai_sync_gate, APR_THREAD_MUTEX_DEFAULT, s->process->pool)
            == APR_SUCCESS)
        apr_pool_pre_cleanup_register(pchild, s, pai_sync_close);
    else
        pai_sync_gate = NULL;
}

/* ---- the responder ---------------------------------------------------- */

static int pai_render(request_rec *r, int status, const json_t *body)
{
    char *text = pai_json_dump(r->pool, body);

    r->status = status;
    ap_set_content_type(r, "application/json; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t)strlen(text));
    ap_rputs(text, r);
    return OK;
}

/* Every error leaves here: {"error","message"} with its status, logged once. */
static int pai_render_error(request_rec *r, const pai_error *e)
{
    int status = pai_error_status(e->code);
    json_t *body = pai_json_pool(r->pool, json_pack("{s:s, s:s}", "error",
                                                     pai_error_name(e->code),
                                                     "message", e->message));

    ap_log_rerror(APLOG_MARK, status >= 500 ? APLOG_ERR : APLOG_INFO, 0, r,
                  "PAI0100: %s %s -> %d %s: %s", r->method, r->uri, status,
                  pai_error_name(e->code), e->message);
    if (status == HTTP_UNAUTHORIZED)
        apr_table_setn(r->err_headers_out, "WWW-Authenticate", "Bearer");
    if (e->retry_after > 0)
        apr_table_setn(r->err_headers_out, "Retry-After",
                       apr_ltoa(r->pool, e->retry_after));
    /* A client that sent more than we read cannot reuse the connection. */
    if (status == HTTP_REQUEST_ENTITY_TOO_LARGE)
        r->connection->keepalive = AP_CONN_CLOSE;
    return pai_render(r, status, body);
}

/* ---- the routing table ------------------------------------------------ */

/* The table itself (paths, methods, auth, body) is core/route.c's. */
static const pai_handler_fn pai_route_fns[PAI_R_COUNT] = {
    [PAI_R_TOKEN_POST] = pai_token_post,
    [PAI_R_USER_PUT] = pai_user_put,
    [PAI_R_USER_DELETE] = pai_user_delete,
    [PAI_R_USER_VCS_PUT] = pai_user_vcs_put,
    [PAI_R_JOBS_GET] = pai_jobs_get,
    [PAI_R_JOBS_POST] = pai_jobs_post,
    [PAI_R_JOB_GET] = pai_job_get,
    [PAI_R_JOB_CONFIG_GET] = pai_job_config_get,
    [PAI_R_JOB_EXECUTION_PUT] = pai_job_execution_put,
    [PAI_R_JOB_SSH_GET] = pai_job_ssh_get,
    [PAI_R_JOB_SSH_KEY_GET] = pai_job_ssh_key_get,
    [PAI_R_JOB_SSH_REPORT_POST] = pai_job_ssh_report_post,
    [PAI_R_VCS_GET] = pai_vcs_get,
    [PAI_R_VC_GET] = pai_vc_get,
    [PAI_R_AUDIT_GET] = pai_audit_get,
};

/* ---- request steps ---------------------------------------------------- */

static pai_error *pai_read_body(request_rec *r, apr_off_t limit, char **buf, apr_size_t *len)
{
    apr_size_t cap = 8192, n = 0;
    char *b;
    int rc;

    *buf = NULL;
    *len = 0;
    if ((rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK)
        return pai_error_make(r->pool, PAI_ERR_INVALID, "cannot read the request body");
    if (r->remaining > limit)
        return pai_error_make(r->pool, PAI_ERR_TOO_LARGE,
                              "request body over the limit of %" APR_OFF_T_FMT " bytes", limit);
    if (!ap_should_client_block(r))
        return NULL;
    b = apr_palloc(r->pool, cap + 1);
    for (;;) {
        long got;
        if (n == cap) {
            char *nb;
            cap *= 2;
            nb = apr_palloc(r->pool, cap + 1);
            memcpy(nb, b, n);
            b = nb;
        }
        got = ap_get_client_block(r, b + n, cap - n);
        if (got < 0)
            return pai_error_make(r->pool, PAI_ERR_INVALID, "cannot read the request body");
        if (got == 0)
            break;
        n += (apr_size_t)got;
        if ((apr_off_t)n > limit)
            return pai_error_make(r->pool, PAI_ERR_TOO_LARGE,
                                  "request body over the limit of %" APR_OFF_T_FMT " bytes",
                                  limit);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return NULL;
}

static pai_error *pai_parse_body(request_rec *r, const pai_route *rt, apr_off_t limit,
                                 json_t **body)
{
    const char *ctype = apr_table_get(r->headers_in, "Content-Type");
    pai_error *err;
    apr_size_t len;
    char *buf;

    *body = NULL;
    if ((err = pai_read_body(r, limit, &buf, &len)))
        return err;
    if (rt->body == PAI_BODY_NONE)
        return NULL;
    if (!buf || len == 0)
        return pai_error_make(r->pool, PAI_ERR_INVALID, "a request body is required");
    if (rt->body == PAI_BODY_JSON_OR_FORM && ctype &&
        !strncasecmp(ctype, "application/x-www-form-urlencoded", 33))
        *body = pai_form_parse(r->pool, buf, len, &err);
    else
        /* Any other type is read as JSON: curl -d without -H says "form". */
        *body = pai_json_parse(r->pool, buf, len, &err);
    if (err)
        return err;
    if (!json_is_object(*body))
        return pai_error_make(r->pool, PAI_ERR_INVALID, "the request body must be a JSON object");
    return NULL;
}

const char *pai_bearer(request_rec *r)
{
    const char *h = apr_table_get(r->headers_in, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return h;
}

/* What a request's token proved, kept for the request's later phases. */
typedef struct pai_request_note {
    const char *token;
    pai_identity who;
} pai_request_note;

pai_error *pai_request_identity(request_rec *r, pai_db *db, const char *token,
                                const pai_identity **who)
{
    const pai_server_conf *c = ap_get_module_config(r->server->module_config, &pairest_module);
    pai_request_note *n = ap_get_module_config(r->request_config, &pairest_module);
    pai_db own;
    pai_error *err;

    if (n && !strcmp(n->token, token)) {
        *who = &n->who;
        return NULL;
    }
    if (!db && (err = pai_request_db(r, db = &own)))
        return err;
    n = apr_pcalloc(r->pool, sizeof(*n));
    if ((err = pai_account_authenticate(db, pai_proc_auth_cache, r->pool, &c->s.secret, token,
                                        (apr_int64_t)apr_time_sec(r->request_time), &n->who)))
        return err;
    n->token = apr_pstrdup(r->pool, token);
    ap_set_module_config(r->request_config, &pairest_module, n);
    r->user = apr_pstrdup(r->pool, n->who.username);
    *who = &n->who;
    return NULL;
}

static pai_error *pai_authenticate(request_rec *r, pai_req *rq, pai_auth level)
{
    const char *token = pai_bearer(r);
    const pai_identity *who;
    pai_error *err;

    if (level == PAI_AUTH_NONE)
        return NULL;
    /* PaiReadAccess users/owner: no anonymous reads. */
    if (level == PAI_AUTH_OPTIONAL && rq->read_access != PAI_READ_PUBLIC)
        level = PAI_AUTH_USER;
    if (!token) {
        if (apr_table_get(r->headers_in, "Authorization") || level >= PAI_AUTH_USER)
            return pai_error_make(r->pool, PAI_ERR_UNAUTHORIZED,
                                  "Guest is not allowed to do this operation.");
        return NULL;
    }
    if ((err = pai_request_identity(r, rq->db, token, &who)))
        return err;
    rq->who = *who;
    if (level == PAI_AUTH_ADMIN && !rq->who.admin)
        return pai_error_make(r->pool, PAI_ERR_NOT_AUTHORIZED, "not authorized");
    return NULL;
}

/* Schema, VCs and first admin, once per process; cheap to repeat if racing. */
static volatile int pai_bootstrapped;

/* A pai_db over mod_dbd's connection, bootstrapped; for requests and the sync. */
static pai_error *pai_db_ready(const pai_server_conf *c, ap_dbd_t *dbd, apr_pool_t *p,
                               pai_db *db)
{
    pai_error *err;

    if (!dbd)
        return pai_error_make(p, PAI_ERR_DB, "the database is not reachable");
    db->driver = dbd->driver;
    db->handle = dbd->handle;
    db->prepared = dbd->prepared;
    db->conn_pool = dbd->pool;
    db->write_lock = strcmp(apr_dbd_name(dbd->driver), "sqlite3") ? NULL : pai_proc_write_lock;
    if (!pai_bootstrapped) {
        if ((err = pai_account_bootstrap(db, p, c->vcs, c->admin_user, c->admin_password,
                                         c->s.bcrypt_cost)))
            return err;
        pai_bootstrapped = 1;
    }
    return NULL;
}

pai_error *pai_request_db(request_rec *r, pai_db *db)
{
    return pai_db_ready(ap_get_module_config(r->server->module_config, &pairest_module),
                        pai_dbd_acquire(r), r->pool, db);
}

/* Body, database, caller, then the endpoint's handler: the first error wins. */
static pai_error *pai_dispatch(request_rec *r, const pai_server_conf *c, pai_req *rq, int id,
                               int *db_ok)
{
    const pai_route *rt = &pai_routes[id];
    pai_error *err;

    if ((err = pai_parse_body(r, rt, c->body_limit, &rq->body)) ||
        (err = pai_request_db(r, rq->db)))
        return err;
    *db_ok = 1;
    if ((err = pai_authenticate(r, rq, rt->auth)))
        return err;
    ap_args_to_table(r, &rq->query);
    if ((err = pai_route_fns[id](rq)))
        return err;
    if (!rq->text && !rq->json_text && !rq->result)
        return pai_error_make(r->pool, PAI_ERR_INTERNAL, "handler gave no answer");
    return NULL;
}

static int pai_render_text(request_rec *r, int status, const char *type, const char *text)
{
    r->status = status;
    ap_set_content_type(r, type);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t)strlen(text));
    ap_rputs(text, r);
    return OK;
}

/* The audit row goes to the database; when it cannot, to the error log, so
 * that no state-changing call goes unrecorded. */
static void pai_audit_record(request_rec *r, const pai_server_conf *c, const pai_req *rq,
                             const pai_route *rt, pai_db *db, const pai_error *err)
{
    pai_db fresh;
    int status = err ? pai_error_status(err->code) : rq->status;
    pai_audit_row *a = pai_audit_describe(r->pool, rt, rq->params, rq->body,
                                          rq->who.username, rq->client_ip, status,
                                          err ? pai_error_name(err->code) : NULL,
                                          err ? err->message : NULL,
                                          (apr_int64_t)apr_time_as_msec(apr_time_now()));
    pai_error *e = NULL;

    /* A call refused before it reached the database (a bad body) still counts. */
    if (!db && !(e = pai_db_ready(c, pai_dbd_acquire(r), r->pool, &fresh)))
        db = &fresh;
    if (db)
        e = !rq->who.username && status >= 400
            ? pai_store_audit_add_anonymous(db, r->pool, a, a->at_ms - PAI_AUDIT_ANON_WINDOW_MS)
            : pai_store_audit_add(db, r->pool, a);

    if (e)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "PAI0110: audit record not stored (%s): %s %s by '%s' from %s -> %d %s",
                      e->message, a->action, a->target, a->actor, a->address, a->outcome,
                      a->detail);
}

/* The API's prefix: its URLs name no file. */
#define PAI_API_PREFIX "/api/v1"
/* Where httpd's own errors are sent (ErrorDocument) to be answered in JSON. */
#define PAI_ERROR_URI PAI_API_PREFIX "/_error"

/* The API's URLs map to no file: claiming them here (as mod_proxy claims its
 * own) spares httpd a file-system walk per request and keeps paths that are
 * no file name (an 8 KiB job name) from becoming httpd's HTML 403. */
static int pai_map_to_storage(request_rec *r)
{
    apr_size_t n = sizeof(PAI_API_PREFIX) - 1;
    if (r->uri && !strncmp(r->uri, PAI_API_PREFIX, n) && (r->uri[n] == '\0' || r->uri[n] == '/'))
        return OK;
    return DECLINED;
}

/* An error httpd raised before the module ran (a header over its limits, a
 * %00 in the path), internally redirected here by ErrorDocument: the same
 * {"error","message"} body as every other error. */
static int pai_render_httpd_error(request_rec *r)
{
    static const struct { int status; pai_errcode code; const char *what; } known[] = {
        {400, PAI_ERR_INVALID, "the request is malformed or a header is over httpd's limits"},
        {401, PAI_ERR_UNAUTHORIZED, "authentication is required"},
        {403, PAI_ERR_FORBIDDEN, "access is denied"},
        {404, PAI_ERR_NOT_FOUND, "no such resource"},
        {405, PAI_ERR_METHOD, "the method is not allowed here"},
        {408, PAI_ERR_INVALID, "the request took too long to arrive"},
        {413, PAI_ERR_TOO_LARGE, "the request is too large"},
        {414, PAI_ERR_INVALID, "the request's URL is too long"},
    };
    const char *st = apr_table_get(r->subprocess_env, "REDIRECT_STATUS");
    int status = st ? atoi(st) : HTTP_INTERNAL_SERVER_ERROR;
    pai_errcode code = status >= 500 ? PAI_ERR_INTERNAL : PAI_ERR_INVALID;
    const char *what = status >= 500 ? "the server failed" : "the request was refused";
    size_t i;

    if (status < 400 || status > 599)
        status = HTTP_INTERNAL_SERVER_ERROR;
    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (known[i].status == status) {
            code = known[i].code;
            what = known[i].what;
        }
    if (status == HTTP_REQUEST_ENTITY_TOO_LARGE || status == HTTP_BAD_REQUEST)
        r->connection->keepalive = AP_CONN_CLOSE;
    return pai_render(r, status, pai_json_pool(r->pool, json_pack("{s:s, s:s}",
                      "error", pai_error_name(code), "message",
                      apr_psprintf(r->pool, "HTTP %d: %s", status, what))));
}

static int pai_handler(request_rec *r)
{
    const pai_server_conf *c;
    pai_req rq;
    pai_db db;
    pai_error *err;
    const char *allow;
    int id, rc, db_ok = 0;

    if (!r->handler || strcmp(r->handler, PAI_HANDLER) != 0)
        return DECLINED;
    if (r->prev && !strcmp(r->uri, PAI_ERROR_URI))
        return pai_render_httpd_error(r);
    c = ap_get_module_config(r->server->module_config, &pairest_module);
    memset(&rq, 0, sizeof(rq));
    rq.pool = r->pool;
    rq.cfg = &c->s;
    rq.db = &db;
    rq.now = (apr_int64_t)apr_time_sec(r->request_time);
    rq.now_ms = (apr_int64_t)apr_time_as_msec(r->request_time);
    rq.launcher = pai_proc_launcher;
    rq.auth_cache = pai_proc_auth_cache;
    rq.views = pai_proc_views;
    rq.base_url = c->s.public_url;
    rq.job_secret = apr_table_get(r->headers_in, "X-PAI-Job-Secret");
    rq.client_ip = r->useragent_ip;
    {
        const pai_dir_conf *d = ap_get_module_config(r->per_dir_config, &pairest_module);
        rq.read_access = d && d->read_access != PAI_UNSET ? d->read_access : PAI_READ_PUBLIC;
    }

    id = pai_route_find(r->pool, r->method, r->uri, rq.params, &allow);
    if (id < 0) {
        if (allow) {
            apr_table_setn(r->headers_out, "Allow", allow);
            return pai_render_error(r, pai_error_make(r->pool, PAI_ERR_METHOD,
                                    "method %s is not allowed on %s", r->method, r->uri));
        }
        return pai_render_error(r, pai_error_make(r->pool, PAI_ERR_NOT_FOUND,
                                "no such endpoint: %s", r->uri));
    }
    err = pai_dispatch(r, c, &rq, id, &db_ok);
    rc = err ? pai_render_error(r, err)
       : rq.text ? pai_render_text(r, rq.status, "text/plain; charset=utf-8", rq.text)
       : rq.json_text ? pai_render_text(r, rq.status, "application/json; charset=utf-8",
                                        rq.json_text)
       : pai_render(r, rq.status, rq.result);
    if (pai_routes[id].audit.action)
        pai_audit_record(r, c, &rq, &pai_routes[id], db_ok ? &db : NULL, err);
    return rc;
}

/* ---- the background sync (one process of all, on mod_watchdog) ---------- */

static pai_sync_state pai_sync_st;

/* Long enough for a few missed renewals, short enough for a quick takeover. */
static apr_int64_t pai_lease_ttl(const pai_server_conf *c)
{
    return c->sync_interval * 5 > 3000 ? c->sync_interval * 5 : 3000;
}

static apr_status_t pai_sync_watchdog(int state, void *data, apr_pool_t *pool)
{
    static apr_time_t last_log, last_expiry, last_audit_expiry;
    static char last_msg[256];
    server_rec *s = data;
    pai_server_conf *c = ap_get_module_config(s->module_config, &pairest_module);
    pai_sync_report rep;
    pai_jobs_env env;
    pai_error *e = NULL;
    ap_dbd_t *dbd;
    pai_db db;
    int held = 0;

    /* Anything but APR_SUCCESS would stop the callback for good. */
    if (state != AP_WATCHDOG_STATE_RUNNING || !pai_sync_gate)
        return APR_SUCCESS;
    apr_thread_mutex_lock(pai_sync_gate);
    if (pai_sync_closed || !pai_proc_launcher) {
        apr_thread_mutex_unlock(pai_sync_gate);
        return APR_SUCCESS;
    }
    dbd = pai_dbd_open_fn(pool, s);
    if (!(e = pai_db_ready(c, dbd, pool, &db)) &&
        !(e = pai_store_lease_take(&db, pool, "sync", pai_lease_holder,
                                   apr_time_as_msec(apr_time_now()), pai_lease_ttl(c), &held)) &&
        held != pai_lease_held) {
        /* One server of all runs the loop; the others stand by and take over
         * once the holder stops renewing. */
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, held
                     ? "PAI0204: this server now runs the sync and admission loop (lease %s)"
                     : "PAI0205: another server runs the sync and admission loop now (was %s)",
                     pai_lease_holder);
        pai_lease_held = held;
    }
    if (!e && held) {
        pai_jobs_env_init(&env, &c->s, &db, pai_proc_launcher);
        e = pai_sync_cycle(&env, pool, &pai_sync_st, apr_time_as_msec(apr_time_now()), &rep);
        if (!e && (rep.adopted || rep.cancelled || rep.lost || rep.resubmitted))
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "PAI0200: sync: %d updated, %d adopted, "
                         "%d cancelled, %d retried, %d admitted, %d lost", rep.updated,
                         rep.adopted, rep.cancelled, rep.resubmitted, rep.admitted, rep.lost);
        /* Login-failure windows that ended are forgotten once a minute. */
        if (!e && apr_time_now() - last_expiry > apr_time_from_sec(60)) {
            const pai_login_limits *l = &c->s.login_limits;
            apr_int64_t keep = l->user_window > l->addr_window ? l->user_window : l->addr_window;
            pai_store_login_failures_expire(&db, pool, apr_time_sec(apr_time_now()) - keep);
            last_expiry = apr_time_now();
        }
        /* Audit records past PaiAuditRetention, once an hour. */
        if (!e && c->audit_retention > 0 &&
            apr_time_now() - last_audit_expiry > apr_time_from_sec(3600)) {
            pai_error *ae = pai_store_audit_expire(&db, pool, apr_time_as_msec(apr_time_now()) -
                                                   c->audit_retention * 86400 * APR_INT64_C(1000));
            if (ae)
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                             "PAI0207: old audit records not removed: %s", ae->message);
            last_audit_expiry = apr_time_now();
        }
    }
    if (dbd)
        pai_dbd_close_fn(s, dbd);
    apr_thread_mutex_unlock(pai_sync_gate);
    /* An outage is logged when it starts and once a minute while it lasts. */
    if (e && (strcmp(last_msg, e->message) || apr_time_now() - last_log > apr_time_from_sec(60))) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "PAI0201: sync failed: %s", e->message);
        apr_cpystrn(last_msg, e->message, sizeof(last_msg));
        last_log = apr_time_now();
    }
    else if (!e && last_msg[0]) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "PAI0202: sync works again");
        last_msg[0] = '\0';
    }
    return APR_SUCCESS;
}

/* An ending child's pre-cleanup: no sync cycle runs after it, and a lease this
 * child holds is given up, so that a graceful restart's new children take the
 * loop over at once rather than when the lease runs out. */
static apr_status_t pai_sync_close(void *data)
{
    server_rec *s = data;
    pai_server_conf *c = ap_get_module_config(s->module_config, &pairest_module);
    apr_pool_t *p;
    ap_dbd_t *dbd;
    pai_db db;

    apr_thread_mutex_lock(pai_sync_gate);
    pai_sync_closed = 1;
    apr_thread_mutex_unlock(pai_sync_gate);
    if (!pai_lease_held || apr_pool_create(&p, s->process->pool) != APR_SUCCESS)
        return APR_SUCCESS;
    if ((dbd = pai_dbd_open_fn(p, s))) {
        if (!pai_db_ready(c, dbd, p, &db) &&
            !pai_store_lease_release(&db, p, "sync", pai_lease_holder))
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                         "PAI0206: this child ends; it gave up the sync lease (%s)",
                         pai_lease_holder);
        pai_dbd_close_fn(s, dbd);
    }
    apr_pool_destroy(p);
    return APR_SUCCESS;
}

static void pai_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_child_init(pai_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(pai_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(pai_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_map_to_storage(pai_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    pai_auth_register_hooks(p);
}

module AP_MODULE_DECLARE_DATA pairest_module = {
    STANDARD20_MODULE_STUFF,
    pai_create_dir_conf,
    pai_merge_dir_conf,
    pai_create_server_conf,
    pai_merge_server_conf,
    pai_cmds,
    pai_register_hooks,
    AP_MODULE_FLAG_NONE
};
