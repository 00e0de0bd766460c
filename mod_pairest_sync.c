/* mod_pairest_sync: the job sync and admission loop on mod_watchdog.  One
 * server of all runs it at a time (a lease in the database); the others
 * stand by and take over once the holder stops renewing. */
#include <string.h>
#include <unistd.h>

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_strings.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include <mod_watchdog.h>

#include "core/sync.h"
#include "mod_pairest.h"

APLOG_USE_MODULE(pairest);


static pai_sync_state pai_sync_st;
/* This process's name in the sync lease: host, pid and a random part. */
static const char *pai_lease_holder;
static int pai_lease_held;
/* The sync runs on mod_watchdog's thread, which is joined only when the process
 * exits, after the child's pool (launcher, caches, mod_dbd's connections) is
 * gone.  An ending child closes this gate first: it waits for a running cycle,
 * and no cycle starts after.  Made in the process pool, which outlives the thread. */
static apr_thread_mutex_t *pai_sync_gate;
static int pai_sync_closed;

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
    dbd = pai_dbd_open(pool, s);
    if (!(e = pai_db_from_dbd(c, dbd, pool, &db)) &&
        !(e = pai_store_lease_take(&db, pool, "sync", pai_lease_holder,
                                   apr_time_as_msec(apr_time_now()),
                                   pai_sync_lease_ttl_ms(c->sync_interval), &held)) &&
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
        /* Login-failure windows that ended, and logged-out tokens that
         * expired, are forgotten once a minute. */
        if (!e && apr_time_now() - last_expiry > apr_time_from_sec(60)) {
            const pai_login_limits *l = &c->s.login_limits;
            apr_int64_t keep = l->user_window > l->addr_window ? l->user_window : l->addr_window;
            /* A failure keeps stale rows one more minute: harmless, since a
             * window past its span counts from 1 again when next hit. */
            (void)pai_store_login_failures_expire(&db, pool, apr_time_sec(apr_time_now()) - keep);
            /* Logged-out tokens past their expiry could not be used anyway. */
            (void)pai_store_tokens_expire(&db, pool, apr_time_sec(apr_time_now()));
            /* Changes past PaiStreamRetention: a watcher that comes back
             * later hears it must read the jobs again. */
            (void)pai_store_changes_expire(&db, pool, apr_time_as_msec(apr_time_now()) -
                                           c->s.stream_retention_hours * 3600 * APR_INT64_C(1000));
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
        pai_dbd_close(s, dbd);
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
    if ((dbd = pai_dbd_open(p, s))) {
        if (!pai_db_from_dbd(c, dbd, p, &db) &&
            !pai_store_lease_release(&db, p, "sync", pai_lease_holder))
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                         "PAI0206: this child ends; it gave up the sync lease (%s)",
                         pai_lease_holder);
        pai_dbd_close(s, dbd);
    }
    apr_pool_destroy(p);
    return APR_SUCCESS;
}


int pai_sync_post_config(apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    pai_server_conf *c = ap_get_module_config(s->module_config, &pairest_module);
    ap_watchdog_t *wd;

    if (!get_instance || !register_callback) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "PAI0008: mod_watchdog is missing; job states would never be synced");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (get_instance(&wd, "pairest-sync", 0, 1, pconf) != APR_SUCCESS ||
        register_callback(wd, apr_time_from_msec(c->sync_interval), s,
                          pai_sync_watchdog) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "PAI0007: cannot register the job sync with mod_watchdog");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

void pai_sync_child_init(apr_pool_t *pchild, server_rec *s)
{
    char host[APRMAXHOSTLEN + 1] = "";
    apr_uint32_t r = 0;

    apr_gethostname(host, sizeof(host), pchild);
    apr_generate_random_bytes((unsigned char *)&r, sizeof(r));
    pai_lease_holder = apr_psprintf(pchild, "%.100s/%" APR_PID_T_FMT "/%08x", host,
                                    getpid(), r);
    /* A pre-cleanup runs before any of pchild's subpools or cleanups go. */
    if (apr_thread_mutex_create(&pai_sync_gate, APR_THREAD_MUTEX_DEFAULT, s->process->pool)
            == APR_SUCCESS)
        apr_pool_pre_cleanup_register(pchild, s, pai_sync_close);
    else
        pai_sync_gate = NULL;
}
