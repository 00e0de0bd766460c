/* mod_pairest_sync: the job sync and admission loop, and the webhook sender,
 * on mod_watchdog.  One server of all runs each at a time (a lease in the
 * database); the others stand by and take over once the holder stops renewing.
 * Every child also gives its free heap back here, on a watchdog of its own. */
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_allocator.h>
#include <apr_strings.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include <mod_watchdog.h>

#include "core/sync.h"
#include "core/webhook.h"
#include "mod_pairest.h"

APLOG_USE_MODULE(pairest);


/* How often each child gives its free heap back (pai_heap_watchdog). */
#define PAI_HEAP_TRIM_SECS 2
/* Blocks from this size up are mapped apart from the heap (pai_heap_fix). */
#define PAI_HEAP_MMAP_BYTES (1024 * 1024)

static pai_sync_state pai_sync_st;
/* This process's name in the leases: host, pid and a random part. */
static const char *pai_lease_holder;

/* A loop one server of all runs at a time, on its own mod_watchdog thread:
 * the job sync, and the webhook sender (whose POSTs may take seconds, and
 * must not hold the sync back).  The watchdog's thread is joined only when
 * the process exits, after the child's pool (launcher, caches, mod_dbd's
 * connections) is gone: an ending child closes the gate first, waiting for a
 * running cycle, and no cycle starts after.  The gate is made in the process
 * pool, which outlives the thread. */
typedef struct pai_loop {
    const char *lease;               /* its name in pai_lease */
    const char *what;                /* for the log */
    apr_thread_mutex_t *gate;
    int closed;
    int held;
} pai_loop;

static pai_loop pai_sync_loop = {"sync", "the sync and admission loop", NULL, 0, 0};
static pai_loop pai_hook_loop = {"webhooks", "the webhook sender", NULL, 0, 0};

/* Takes or renews the loop's lease; logs when this server starts or stops
 * running it.  *held says whether it runs the loop now. */
static pai_error *pai_loop_lease(pai_loop *l, server_rec *s, pai_db *db, apr_pool_t *pool,
                                 apr_int64_t ttl_ms, int *held)
{
    pai_error *e = pai_store_lease_take(db, pool, l->lease, pai_lease_holder,
                                        apr_time_as_msec(apr_time_now()), ttl_ms, held);
    if (!e && *held != l->held) {
        /* One server of all runs the loop; the others stand by and take over
         * once the holder stops renewing. */
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, *held
                     ? "PAI0204: this server now runs %s (lease %s)"
                     : "PAI0205: another server runs %s now (was %s)", l->what,
                     pai_lease_holder);
        l->held = *held;
    }
    return e;
}

/* A pool with an allocator of its own, for one cycle: destroyed, it gives
 * its memory back.  The watchdog's pools share an allocator that keeps every
 * block it was ever given, so the biggest cycle (Slurm's list of thousands
 * of jobs, tens of MB of JSON) stayed in the process for good. */
static apr_pool_t *pai_cycle_pool(void)
{
    apr_allocator_t *a;
    apr_pool_t *p = NULL;

    if (apr_allocator_create(&a) != APR_SUCCESS)
        return NULL;
    if (apr_pool_create_ex(&p, NULL, NULL, a) != APR_SUCCESS) {
        apr_allocator_destroy(a);
        return NULL;
    }
    apr_allocator_owner_set(a, p);
    apr_pool_tag(p, "pai_sync_cycle");
    return p;
}

/* While the sync asks Slurm for a few jobs by their ids (cheap), a cycle
 * comes every quarter of PaiSyncInterval: a change just after a cycle no
 * longer waits a whole interval (bench (e): median 0.99-1.01 s from Slurm
 * to GET at 1 s).  Listing thousands keeps PaiSyncInterval.  The callback
 * runs at the quick cadence and skips until its cycle is due. */
static apr_int64_t pai_sync_quick_ms(apr_int64_t interval_ms)
{
    return interval_ms / 4 < 100 ? 100 : interval_ms / 4;
}

static apr_status_t pai_sync_watchdog(int state, void *data, apr_pool_t *wdpool)
{
    static apr_time_t last_log, last_expiry, last_audit_expiry, next_due;
    static char last_msg[256];
    server_rec *s = data;
    pai_server_conf *c = ap_get_module_config(s->module_config, &pairest_module);
    pai_sync_report rep;
    pai_jobs_env env;
    pai_error *e = NULL;
    ap_dbd_t *dbd;
    pai_db db;
    apr_pool_t *pool;
    apr_time_t start = apr_time_now();
    int held = 0, was_held;

    (void)wdpool;
    /* Anything but APR_SUCCESS would stop the callback for good. */
    if (state != AP_WATCHDOG_STATE_RUNNING || !pai_sync_loop.gate || start < next_due)
        return APR_SUCCESS;
    memset(&rep, 0, sizeof(rep));
    apr_thread_mutex_lock(pai_sync_loop.gate);
    if (pai_sync_loop.closed || !pai_proc_launcher || !(pool = pai_cycle_pool())) {
        apr_thread_mutex_unlock(pai_sync_loop.gate);
        return APR_SUCCESS;
    }
    was_held = pai_sync_loop.held;
    dbd = pai_dbd_open(pool, s);
    if (!(e = pai_db_from_dbd(c, dbd, pool, &db)))
        e = pai_loop_lease(&pai_sync_loop, s, &db, pool, pai_sync_lease_ttl_ms(c->sync_interval),
                           &held);
    if (!e && held) {
        /* Taken over: another server may have written what this one remembers. */
        if (!was_held)
            pai_sync_state_forget(&pai_sync_st);
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
    apr_thread_mutex_unlock(pai_sync_loop.gate);
    /* Due again after the interval, or the quick one; half a quick tick
     * early, so that a tick a little early does not skip a whole tick. */
    next_due = start + apr_time_from_msec((!e && held && rep.polled
                                           ? pai_sync_quick_ms(c->sync_interval)
                                           : c->sync_interval)
                                          - pai_sync_quick_ms(c->sync_interval) / 2);
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
    apr_pool_destroy(pool);
    return APR_SUCCESS;
}

/* The webhook sender's cycle: one server of all (its own lease) turns job
 * changes into deliveries and POSTs those due. */
static apr_status_t pai_hook_watchdog(int state, void *data, apr_pool_t *wdpool)
{
    static apr_time_t last_log, last_expiry;
    static char last_msg[256];
    server_rec *s = data;
    pai_server_conf *c = ap_get_module_config(s->module_config, &pairest_module);
    pai_webhook_report rep;
    apr_array_header_t *hooks = NULL;
    pai_error *e = NULL;
    apr_pool_t *pool;
    ap_dbd_t *dbd;
    pai_db db;
    int held = 0;

    if (state != AP_WATCHDOG_STATE_RUNNING || !pai_hook_loop.gate ||
        apr_pool_create(&pool, wdpool) != APR_SUCCESS)
        return APR_SUCCESS;
    apr_thread_mutex_lock(pai_hook_loop.gate);
    if (pai_hook_loop.closed) {
        apr_thread_mutex_unlock(pai_hook_loop.gate);
        apr_pool_destroy(pool);
        return APR_SUCCESS;
    }
    dbd = pai_dbd_open(pool, s);
    /* No hook anywhere: nothing to do, and no lease written every second.
     * The lease outlives the longest cycle (its sends stop after a budget). */
    if (!(e = pai_db_from_dbd(c, dbd, pool, &db)) &&
        !(e = pai_store_webhook_list(&db, pool, NULL, &hooks)) && hooks->nelts)
        e = pai_loop_lease(&pai_hook_loop, s, &db, pool, PAI_WEBHOOK_CYCLE_BUDGET_MS +
                           2 * PAI_WEBHOOK_TIMEOUT_MS + 10000, &held);
    if (!e && held) {
        e = pai_webhook_cycle(&db, pool, hooks, c->s.webhook_allow, PAI_WEBHOOK_TIMEOUT_MS,
                              apr_time_as_msec(apr_time_now()), &rep);
        if (!e && (rep.failed || rep.skipped))
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "PAI0208: webhooks: %d deliveries "
                         "given up after %d attempts; %d hooks missed changes let go before "
                         "they were read (PaiStreamRetention)", rep.failed,
                         PAI_WEBHOOK_ATTEMPTS, rep.skipped);
        /* Finished deliveries past their days, once an hour. */
        if (!e && apr_time_now() - last_expiry > apr_time_from_sec(3600)) {
            (void)pai_store_webhook_deliveries_expire(&db, pool, apr_time_as_msec(apr_time_now())
                                                      - PAI_WEBHOOK_KEEP_DAYS * 86400 *
                                                      APR_INT64_C(1000));
            last_expiry = apr_time_now();
        }
    }
    if (dbd)
        pai_dbd_close(s, dbd);
    apr_thread_mutex_unlock(pai_hook_loop.gate);
    if (e && (strcmp(last_msg, e->message) || apr_time_now() - last_log > apr_time_from_sec(60))) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "PAI0209: webhook sender failed: %s",
                     e->message);
        apr_cpystrn(last_msg, e->message, sizeof(last_msg));
        last_log = apr_time_now();
    }
    else if (!e && last_msg[0]) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "PAI0210: webhook sender works again");
        last_msg[0] = '\0';
    }
    apr_pool_destroy(pool);
    return APR_SUCCESS;
}

/* Every child, every few seconds: the heap's free pages go back to the
 * kernel.  glibc gives a thread an arena of its own and returns an arena's
 * memory only from its top, so a burst (a 10,000-job list, Slurm's list of
 * 9,000 jobs parsed by the sync) left one child holding 200 MB of free but
 * touched heap for good (bench (f): PSS after (d)). */
static apr_status_t pai_heap_watchdog(int state, void *data, apr_pool_t *wdpool)
{
    (void)data;
    (void)wdpool;
#ifdef __GLIBC__
    if (state == AP_WATCHDOG_STATE_RUNNING)
        malloc_trim(0);
#else
    (void)state;
#endif
    return APR_SUCCESS;
}

/* Closes a loop's gate; a lease this child holds is given up, so that a
 * graceful restart's new children take the loop over at once rather than
 * when the lease runs out. */
static void pai_loop_close(pai_loop *l, server_rec *s)
{
    pai_server_conf *c = ap_get_module_config(s->module_config, &pairest_module);
    apr_pool_t *p;
    ap_dbd_t *dbd;
    pai_db db;

    apr_thread_mutex_lock(l->gate);
    l->closed = 1;
    apr_thread_mutex_unlock(l->gate);
    if (!l->held || apr_pool_create(&p, s->process->pool) != APR_SUCCESS)
        return;
    if ((dbd = pai_dbd_open(p, s))) {
        if (!pai_db_from_dbd(c, dbd, p, &db) &&
            !pai_store_lease_release(&db, p, l->lease, pai_lease_holder))
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                         "PAI0206: this child ends; it gave up the lease of %s (%s)", l->what,
                         pai_lease_holder);
        pai_dbd_close(s, dbd);
    }
    apr_pool_destroy(p);
}

/* An ending child's pre-cleanup: no cycle of either loop runs after it. */
static apr_status_t pai_sync_close(void *data)
{
    pai_loop_close(&pai_sync_loop, data);
    pai_loop_close(&pai_hook_loop, data);
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
        register_callback(wd, apr_time_from_msec(pai_sync_quick_ms(c->sync_interval)), s,
                          pai_sync_watchdog) != APR_SUCCESS ||
        get_instance(&wd, "pairest-hooks", 0, 1, pconf) != APR_SUCCESS ||
        register_callback(wd, apr_time_from_sec(1), s, pai_hook_watchdog) != APR_SUCCESS ||
        get_instance(&wd, "pairest-heap", 0, 0, pconf) != APR_SUCCESS ||
        register_callback(wd, apr_time_from_sec(PAI_HEAP_TRIM_SECS), s,
                          pai_heap_watchdog) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "PAI0007: cannot register the job sync, webhook sender and heap trim "
                     "with mod_watchdog");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* glibc serves a block of 128 KB or more with a mapping of its own, but
 * the first such block freed raises that bar to its own size, and the bar
 * under which a thread's arena gives its top back to twice that.  The
 * sync's first list of 13,659 jobs from slurmctld (a 22 MB message) thus
 * left a 22 MB free top in its child's arena for good (malloc_trim leaves
 * an arena's top alone): bench (f) after (d), bench/README.md.  A fixed
 * bar keeps big blocks out of the arenas and their tops trimmed. */
static void pai_heap_fix(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, PAI_HEAP_MMAP_BYTES);
#endif
}

void pai_sync_child_init(apr_pool_t *pchild, server_rec *s)
{
    char host[APRMAXHOSTLEN + 1] = "";
    apr_uint32_t r = 0;

    pai_heap_fix();
    apr_gethostname(host, sizeof(host), pchild);
    apr_generate_random_bytes((unsigned char *)&r, sizeof(r));
    pai_lease_holder = apr_psprintf(pchild, "%.100s/%" APR_PID_T_FMT "/%08x", host,
                                    getpid(), r);
    /* A pre-cleanup runs before any of pchild's subpools or cleanups go. */
    if (apr_thread_mutex_create(&pai_sync_loop.gate, APR_THREAD_MUTEX_DEFAULT,
                                s->process->pool) == APR_SUCCESS &&
        apr_thread_mutex_create(&pai_hook_loop.gate, APR_THREAD_MUTEX_DEFAULT,
                                s->process->pool) == APR_SUCCESS)
        apr_pool_pre_cleanup_register(pchild, s, pai_sync_close);
    else
        pai_sync_loop.gate = pai_hook_loop.gate = NULL;
}
