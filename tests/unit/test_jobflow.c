/* Admission and the sync (core/admit.c, core/sync.c) against a fake launcher
 * and a real SQLite store: queue order, borrowing between VCs, a sync lease
 * lost in the middle of a cycle, and a launcher that fails. */
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <apr_strings.h>
#include <apr_dbd.h>
#include <apr_thread_mutex.h>
#include "tests.h"
#include "core/exitspec.h"
#include "core/jobs.h"
#include "core/sync.h"
#include "core/vc.h"
#include "core/sshkey.h"

/* ---- the fake launcher ---------------------------------------------------- */

#define FAKE_MAX 32

typedef struct fake_launcher {
    pai_launch_status jobs[FAKE_MAX];
    int n;
    int submits;                  /* calls that reached submit */
    pai_errcode fail_submit;      /* how the next fail_times submits fail */
    int fail_times;
    pai_errcode fail_list;
    /* Run once, inside the next list call: another server's work that
     * happens while this cycle is under way. */
    void (*during_list)(struct fake_launcher *f);
    int lists;                    /* calls that reached list */
    int cancels;                  /* calls that reached cancel */
    /* Run once, inside the next cancel call (after it took effect): the sync
     * or another server writing the job while a STOP is under way. */
    void (*during_cancel)(struct fake_launcher *f, apr_int64_t id);
} fake_launcher;

static fake_launcher fake;

static pai_error *fake_submit(void *ctx, apr_pool_t *p, const pai_launch *l, apr_int64_t *id)
{
    fake_launcher *f = ctx;
    pai_launch_status *s;

    f->submits++;
    if (f->fail_times > 0 && f->fail_times--)
        return pai_error_make(p, f->fail_submit, "the fake launcher refuses");
    ck_assert_int_lt(f->n, FAKE_MAX);
    s = &f->jobs[f->n++];
    memset(s, 0, sizeof(*s));
    s->id = 100 + f->n;
    s->job_name = apr_pstrdup(ut_pool, l->spec->job_name);
    s->attempt = l->attempt;
    s->tag = apr_pstrdup(ut_pool, l->tag);
    s->state = "WAITING";
    s->sub_state = "PENDING";
    s->active = 1;
    s->host = s->hosts = s->diagnostics = "";
    s->user = "paijob";
    *id = s->id;
    return NULL;
}

static pai_launch_status *fake_find(apr_int64_t id)
{
    int i;
    for (i = 0; i < fake.n; i++)
        if (fake.jobs[i].id == id)
            return &fake.jobs[i];
    return NULL;
}

static void fake_end(apr_int64_t id, const char *state)
{
    pai_launch_status *s = fake_find(id);
    ck_assert_ptr_nonnull(s);
    s->state = state;
    s->sub_state = state;
    s->active = 0;
    s->has_exit = 1;
    s->exit_code = strcmp(state, "SUCCEEDED") ? 1 : 0;
}

static pai_error *fake_cancel(void *ctx, apr_pool_t *p, apr_int64_t id, const char *account)
{
    fake_launcher *f = ctx;
    pai_launch_status *s = fake_find(id);
    (void)p; (void)account;
    f->cancels++;
    if (s && s->active) {
        s->state = "STOPPED";
        s->sub_state = "CANCELLED";
        s->active = 0;
    }
    if (f->during_cancel) {
        void (*during)(fake_launcher *, apr_int64_t) = f->during_cancel;
        f->during_cancel = NULL;
        during(f, id);
    }
    return NULL;
}

static pai_error *fake_list(void *ctx, apr_pool_t *p, apr_int64_t since, int *unchanged,
                            apr_array_header_t **out)
{
    fake_launcher *f = ctx;
    int i;

    (void)since;
    f->lists++;
    if (f->during_list) {
        void (*during)(fake_launcher *) = f->during_list;
        f->during_list = NULL;
        during(f);
    }
    if (f->fail_list != PAI_ERR__COUNT)
        return pai_error_make(p, f->fail_list, "the fake launcher is down");
    *unchanged = 0;
    *out = apr_array_make(p, f->n, sizeof(pai_launch_status));
    for (i = 0; i < f->n; i++)
        APR_ARRAY_PUSH(*out, pai_launch_status) = f->jobs[i];
    return NULL;
}

/* One node of 8 CPUs, 16 GB, no GPU. */
static pai_error *fake_capacity(void *ctx, apr_pool_t *p, pai_capacity *c)
{
    pai_shape node = {8, 16384, 0, ""};
    (void)ctx; (void)p;
    memset(c, 0, sizeof(*c));
    c->nodes = 1;
    c->cpus = 8;
    c->memory_mb = 16384;
    pai_node_shapes_add(&c->shapes, &node);
    return NULL;
}

/* A PAI user whose Unix account went away. */
static const char *gone_user;

static pai_error *fake_account(void *ctx, apr_pool_t *p, const char *user, const char **account)
{
    (void)ctx;
    *account = "paijob";
    if (gone_user && !strcmp(user, gone_user))
        return pai_error_make(p, PAI_ERR_FORBIDDEN, "user %s has no Unix account", user);
    return NULL;
}

static const pai_launcher_ops fake_ops = {"fake", fake_submit, fake_cancel, fake_list,
                                          fake_capacity, NULL, fake_account};
static pai_launcher fake_launcher_handle = {&fake_ops, &fake};

/* The same launcher, asked for its jobs one by one as Slurm's is. */
static pai_error *fake_status(void *ctx, apr_pool_t *p, apr_int64_t id, pai_launch_status *out,
                              int *known)
{
    pai_launch_status *s = fake_find(id);
    (void)ctx; (void)p;
    *known = s != NULL;
    if (s)
        *out = *s;
    return NULL;
}

static const pai_launcher_ops fake_polled_ops = {"fake", fake_submit, fake_cancel, fake_list,
                                                 fake_capacity, fake_status, fake_account};
static pai_launcher fake_polled_handle = {&fake_polled_ops, &fake};

/* ---- the store and the environment ----------------------------------------- */

static pai_db db;
static pai_jobs_env env;
static char dbpath[] = "/tmp/pairest-jobflow-XXXXXX";
static const pai_identity ADMIN = {"root_admin", 1, 0, NULL};
static apr_int64_t clock_ms;

static void flow_open(void)
{
    static const char key[] = "0123456789abcdef0123456789abcdef";
    apr_array_header_t *vcs = apr_array_make(ut_pool, 2, sizeof(pai_vc));
    pai_vc *vc;

    /* lend: 25% guaranteed (2 CPUs), may borrow up to all; keep: 75% (6
     * CPUs), never more; `default` gets nothing. */
    vc = apr_array_push(vcs);
    vc->name = "lend"; vc->capacity = 25; vc->max_capacity = 100;
    vc = apr_array_push(vcs);
    vc->name = "keep"; vc->capacity = 75; vc->max_capacity = 75;
    ck_assert_ptr_null(pai_vc_complete(ut_pool, &vcs));
    ut_db_open(&db, dbpath, vcs);

    memset(&fake, 0, sizeof(fake));
    fake.fail_list = PAI_ERR__COUNT;
    gone_user = NULL;
    memset(&env, 0, sizeof(env));
    env.db = &db;
    env.launcher = &fake_launcher_handle;
    env.port_lo = 20000;
    env.port_hi = 29999;
    env.log_dir = "/tmp";
    env.job_user = "paijob";
    env.tag_key = (const unsigned char *)key;
    env.tag_key_len = 32;
    clock_ms = apr_time_as_msec(apr_time_now());
}

static void flow_close(void)
{
    ut_db_close(&db, dbpath, "/tmp/pairest-jobflow-XXXXXX");
}

/* ---- helpers ------------------------------------------------------------- */

static pai_error *submit_as(const pai_identity *who, const char *name, const char *vc, int cpus)
{
    json_t *config = json_pack("{s:s, s:s, s:s, s:[{s:s, s:i, s:i, s:i, s:s}]}",
                               "jobName", name, "image", "x", "virtualCluster", vc,
                               "taskRoles", "name", "w", "taskNumber", 1, "cpuNumber", cpus,
                               "memoryMB", 512, "command", "true");
    const char *out = NULL;
    pai_error *e;

    clock_ms += 10;     /* every submission later than the one before */
    e = pai_job_submit(&env, ut_pool, who, config, NULL, clock_ms, &out);
    json_decref(config);
    return e;
}

static pai_job_row *row(const char *name)
{
    pai_job_row *j = NULL;
    ck_assert_ptr_null(pai_store_job_get(&db, ut_pool, name, &j));
    return j;
}

static void cycle(pai_sync_state *st, pai_sync_report *rep)
{
    pai_error *e;
    clock_ms += 1000;
    e = pai_sync_cycle(&env, ut_pool, st, clock_ms, rep);
    ck_assert_msg(e == NULL, "sync: %s", e ? e->message : "");
}

/* How many launcher jobs carry this name (every attempt counted). */
static int launched(const char *name)
{
    int i, n = 0;
    for (i = 0; i < fake.n; i++)
        n += !strcmp(fake.jobs[i].job_name, name);
    return n;
}

/* ---- the tests ------------------------------------------------------------- */

/* A list as long as Slurm's with thousands of ended jobs in it. */
static void slow_list(fake_launcher *f)
{
    (void)f;
    apr_sleep(apr_time_from_msec(600));
}

START_TEST(a_slow_list_comes_less_often_while_jobs_are_polled)
{
    pai_sync_state st = {0};
    pai_sync_report rep;

    env.launcher = &fake_polled_handle;
    ck_assert_ptr_null(submit_as(&ADMIN, "polled", "lend", 1));
    ck_assert_int_eq(launched("polled"), 1);
    cycle(&st, &rep);                     /* the first cycle lists */
    ck_assert_int_eq(fake.lists, 1);
    clock_ms += 9000;                     /* 10 s later: listed again, slowly */
    fake.during_list = slow_list;
    cycle(&st, &rep);
    ck_assert_int_eq(fake.lists, 2);
    ck_assert_int_ge(st.list_ms, 600);
    /* 10 s after a list of 0.6 s: not yet (20 times its length), but the
     * job's end is seen by asking for it alone. */
    fake_end(fake.jobs[0].id, "SUCCEEDED");
    clock_ms += 9000;
    cycle(&st, &rep);
    ck_assert_int_eq(fake.lists, 2);
    ck_assert_int_eq(rep.polled, 1);
    ck_assert_str_eq(row("polled")->state, "SUCCEEDED");
    /* 13 s after it: listed. */
    clock_ms += 2000;
    cycle(&st, &rep);
    ck_assert_int_eq(fake.lists, 3);
}
END_TEST

static apr_int64_t expected_of(const char *name)
{
    apr_int64_t ms = -1;
    ck_assert_ptr_null(pai_store_job_wait_get(&db, ut_pool, name, row(name)->created, &ms));
    return ms;
}

/* A pending job's expected start is written when Slurm's changes, not read
 * back every cycle (a query per pending job per cycle); a server that takes
 * the loop over reads it again, as another server may have written it. */
START_TEST(expected_starts_are_written_on_change_and_read_again_after_a_takeover)
{
    pai_sync_state st = {0};
    pai_sync_report rep;
    apr_int64_t created;

    ck_assert_ptr_null(submit_as(&ADMIN, "pend", "lend", 1));
    created = row("pend")->created;
    fake.jobs[0].wait_reason = "Resources";
    fake.jobs[0].expected_start_ms = 5000000;
    cycle(&st, &rep);
    ck_assert_int_eq(expected_of("pend"), 5000000);
    /* Another server's write, which this one does not look for while it
     * holds the loop and Slurm says the same as before. */
    ck_assert_ptr_null(pai_store_job_wait_set(&db, ut_pool, "pend", created, 7000000));
    cycle(&st, &rep);
    ck_assert_int_eq(expected_of("pend"), 7000000);
    fake.jobs[0].expected_start_ms = 6000000;
    cycle(&st, &rep);
    ck_assert_int_eq(expected_of("pend"), 6000000);
    /* Taken over again: read, found different, written. */
    ck_assert_ptr_null(pai_store_job_wait_set(&db, ut_pool, "pend", created, 7000000));
    pai_sync_state_forget(&st);
    cycle(&st, &rep);
    ck_assert_int_eq(expected_of("pend"), 6000000);
    ck_assert_int_eq(fake.lists, 4);
    pai_sync_state_forget(&st);
}
END_TEST

START_TEST(queued_jobs_go_in_order_and_none_overtakes)
{
    pai_sync_state st = {0};
    pai_sync_report rep;

    /* keep: 6 CPUs.  a (4) runs; b (4) waits; c (2) would fit beside a,
     * but goes behind b: first come, first served. */
    ck_assert_ptr_null(submit_as(&ADMIN, "a", "keep", 4));
    ck_assert_ptr_null(submit_as(&ADMIN, "b", "keep", 4));
    ck_assert_ptr_null(submit_as(&ADMIN, "c", "keep", 2));
    ck_assert_str_eq(row("a")->sub_state, "PENDING");
    ck_assert_str_eq(row("b")->sub_state, "QUEUED");
    ck_assert_str_eq(row("c")->sub_state, "QUEUED");
    ck_assert_int_eq(fake.n, 1);

    /* Nothing changed: the queue stays as it is. */
    cycle(&st, &rep);
    ck_assert_int_eq(rep.admitted, 0);
    ck_assert_str_eq(row("c")->sub_state, "QUEUED");

    /* a ends: b, then c, go to the launcher in that order, in one pass. */
    fake_end(row("a")->launcher_id, "SUCCEEDED");
    cycle(&st, &rep);
    ck_assert_str_eq(row("a")->state, "SUCCEEDED");
    ck_assert_int_eq(rep.admitted, 2);
    ck_assert_int_eq(fake.n, 3);
    ck_assert_str_eq(fake.jobs[1].job_name, "b");
    ck_assert_str_eq(fake.jobs[2].job_name, "c");
    ck_assert_int_eq(row("b")->launcher_id, fake.jobs[1].id);
    ck_assert_int_eq(row("c")->launcher_id, fake.jobs[2].id);
}
END_TEST

START_TEST(a_vc_borrows_idle_room_only_while_nobody_is_owed_it)
{
    pai_sync_state st = {0};
    pai_sync_report rep;

    /* lend is guaranteed 2 CPUs; keep is idle, so lend borrows: 4 go. */
    ck_assert_ptr_null(submit_as(&ADMIN, "x", "lend", 4));
    ck_assert_str_eq(row("x")->sub_state, "PENDING");
    /* keep's 6 are its guarantee: always handed on (the launcher makes it
     * wait for the borrowed room to come back). */
    ck_assert_ptr_null(submit_as(&ADMIN, "y", "keep", 6));
    ck_assert_str_eq(row("y")->sub_state, "PENDING");
    /* lend asks for 2 more beyond its guarantee: no idle room is left. */
    ck_assert_ptr_null(submit_as(&ADMIN, "z", "lend", 2));
    ck_assert_str_eq(row("z")->sub_state, "QUEUED");
    cycle(&st, &rep);
    ck_assert_int_eq(rep.admitted, 0);
    ck_assert_str_eq(row("z")->sub_state, "QUEUED");

    /* x ends: lend is back inside its guarantee, and z goes. */
    fake_end(row("x")->launcher_id, "SUCCEEDED");
    cycle(&st, &rep);
    ck_assert_int_eq(rep.admitted, 1);
    ck_assert_str_eq(row("z")->sub_state, "PENDING");
    /* keep may never use more than its maxCapacity, idle cluster or not. */
    ck_assert_int_eq(submit_as(&ADMIN, "w", "keep", 7)->code, PAI_ERR_INVALID);
    ck_assert_ptr_null(row("w"));
}
END_TEST

/* Another server, which took the lease over, runs a whole cycle while ours
 * is between its reads and its writes. */
static pai_sync_state other_st;
static void other_server_cycles(fake_launcher *f)
{
    pai_sync_report rep;
    pai_error *e;
    (void)f;
    e = pai_sync_cycle(&env, ut_pool, &other_st, clock_ms + 500, &rep);
    ck_assert_msg(e == NULL, "other server's sync: %s", e ? e->message : "");
}

START_TEST(a_lease_lost_mid_cycle_launches_nothing_twice)
{
    pai_sync_state st = {0};
    pai_sync_report rep;
    int held = 0;

    ck_assert_ptr_null(pai_store_lease_take(&db, ut_pool, "sync", "one", clock_ms, 3000, &held));
    ck_assert(held);
    ck_assert_ptr_null(submit_as(&ADMIN, "p", "keep", 6));
    ck_assert_ptr_null(submit_as(&ADMIN, "q", "keep", 6));
    ck_assert_str_eq(row("q")->sub_state, "QUEUED");
    fake_end(row("p")->launcher_id, "FAILED");

    /* Our cycle has read the active jobs; the lease runs out and "two"
     * takes it, syncs p's end and hands q over; then ours goes on. */
    ck_assert_ptr_null(pai_store_lease_take(&db, ut_pool, "sync", "two", clock_ms + 1000, 3000,
                                            &held));
    ck_assert(!held);
    ck_assert_ptr_null(pai_store_lease_take(&db, ut_pool, "sync", "two", clock_ms + 5000, 3000,
                                            &held));
    ck_assert(held);
    fake.during_list = other_server_cycles;
    cycle(&st, &rep);

    /* q went to the launcher once, p's end was recorded once. */
    ck_assert_int_eq(launched("q"), 1);
    ck_assert_int_eq(launched("p"), 1);
    ck_assert_str_eq(row("p")->state, "FAILED");
    ck_assert_str_eq(row("q")->sub_state, "PENDING");
    ck_assert_int_eq(row("q")->launcher_id, fake.jobs[1].id);
    /* ...and our cycle, with its rows read before, did not cancel it. */
    ck_assert_msg(fake.jobs[1].active, "q was cancelled: %s", fake.jobs[1].sub_state);
    /* Our next renewal finds the lease gone. */
    ck_assert_ptr_null(pai_store_lease_take(&db, ut_pool, "sync", "one", clock_ms, 3000, &held));
    ck_assert(!held);
}
END_TEST

static void a_user_submits(fake_launcher *f)
{
    (void)f;
    ck_assert_ptr_null(submit_as(&ADMIN, "meanwhile", "keep", 2));
}

START_TEST(a_job_submitted_during_a_cycle_is_not_taken_for_an_orphan)
{
    pai_sync_state st = {0};
    pai_sync_report rep;

    ck_assert_ptr_null(submit_as(&ADMIN, "before", "keep", 2));
    /* The cycle reads the active jobs, then the submission lands, then the
     * cycle lists the launcher, which has the new job. */
    fake.during_list = a_user_submits;
    cycle(&st, &rep);
    ck_assert_int_eq(launched("meanwhile"), 1);
    ck_assert_int_eq(rep.cancelled, 0);
    ck_assert_msg(fake.jobs[1].active, "the new job was cancelled");
    ck_assert_str_eq(row("meanwhile")->state, "WAITING");

    /* A launcher job with our tag but no row at all (its submission was
     * given up) is an orphan: cancelled. */
    {
        pai_launch_status *ghost = &fake.jobs[fake.n++];
        const char *tag;
        ck_assert_ptr_null(pai_launch_tag_make(ut_pool, env.tag_key, env.tag_key_len, "ghost", 0,
                                               "paijob", &tag));
        *ghost = fake.jobs[0];
        ghost->id = 999;
        ghost->job_name = "ghost";
        ghost->attempt = 0;
        ghost->tag = tag;
        ghost->active = 1;
    }
    cycle(&st, &rep);
    ck_assert_int_eq(rep.cancelled, 1);
    ck_assert(!fake_find(999)->active);
    ck_assert(fake.jobs[1].active);
}
END_TEST

START_TEST(launcher_errors_lose_nothing)
{
    pai_sync_state st = {0};
    pai_sync_report rep;
    pai_error *e;

    /* A submission the launcher cannot take is refused and not kept. */
    fake.fail_submit = PAI_ERR_LAUNCHER_DOWN;
    fake.fail_times = 1;
    e = submit_as(&ADMIN, "down", "keep", 2);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->code, PAI_ERR_LAUNCHER_DOWN);
    ck_assert_ptr_null(row("down"));

    /* A queued job the launcher cannot take now stays queued, in place. */
    ck_assert_ptr_null(submit_as(&ADMIN, "big", "keep", 6));
    ck_assert_ptr_null(submit_as(&ADMIN, "next", "keep", 2));
    ck_assert_str_eq(row("next")->sub_state, "QUEUED");
    fake_end(row("big")->launcher_id, "SUCCEEDED");
    fake.fail_submit = PAI_ERR_LAUNCHER_TIMEOUT;
    fake.fail_times = 1;
    cycle(&st, &rep);
    ck_assert_int_eq(rep.admitted, 0);
    ck_assert_str_eq(row("next")->state, "WAITING");
    ck_assert_str_eq(row("next")->sub_state, "QUEUED");

    /* A listing that fails is an error of the cycle; the store is as it was. */
    fake.fail_list = PAI_ERR_LAUNCHER_DOWN;
    clock_ms += 1000;
    e = pai_sync_cycle(&env, ut_pool, &st, clock_ms, &rep);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->code, PAI_ERR_LAUNCHER_DOWN);
    ck_assert_str_eq(row("next")->sub_state, "QUEUED");

    /* The launcher is back: the job goes. */
    fake.fail_list = PAI_ERR__COUNT;
    cycle(&st, &rep);
    ck_assert_int_eq(rep.admitted, 1);
    ck_assert_str_eq(row("next")->sub_state, "PENDING");

    /* A job the launcher refuses for good ends, saying why, and does not
     * hold back the ones behind it. */
    ck_assert_ptr_null(submit_as(&ADMIN, "full", "keep", 4));
    ck_assert_ptr_null(submit_as(&ADMIN, "bad", "keep", 2));
    ck_assert_ptr_null(submit_as(&ADMIN, "after", "keep", 2));
    ck_assert_str_eq(row("bad")->sub_state, "QUEUED");
    fake_end(row("next")->launcher_id, "SUCCEEDED");
    fake_end(row("full")->launcher_id, "SUCCEEDED");
    fake.fail_submit = PAI_ERR_JOB_REJECTED;
    fake.fail_times = 1;
    cycle(&st, &rep);
    ck_assert_str_eq(row("bad")->state, "FAILED");
    ck_assert_str_eq(row("bad")->sub_state, "REFUSED");
    ck_assert_ptr_nonnull(strstr(row("bad")->diagnostics, "refuses"));
    ck_assert_str_eq(row("after")->sub_state, "PENDING");
}
END_TEST

START_TEST(a_queued_job_whose_account_went_away_ends)
{
    pai_sync_state st = {0};
    pai_sync_report rep;
    pai_identity bob = {"bob", 1, 0, NULL};

    ck_assert_ptr_null(submit_as(&ADMIN, "hold", "keep", 6));
    ck_assert_ptr_null(submit_as(&bob, "bobs", "keep", 2));
    ck_assert_str_eq(row("bobs")->sub_state, "QUEUED");
    /* bob's account goes; his queued job must not wait (and hold its VC's
     * queue) for ever. */
    gone_user = "bob";
    ck_assert_int_eq(submit_as(&bob, "never", "keep", 2)->code, PAI_ERR_FORBIDDEN);
    ck_assert_ptr_null(row("never"));
    fake_end(row("hold")->launcher_id, "SUCCEEDED");
    cycle(&st, &rep);
    ck_assert_str_eq(row("bobs")->state, "FAILED");
    ck_assert_str_eq(row("bobs")->sub_state, "REFUSED");
    ck_assert_int_eq(launched("bobs"), 0);
}
END_TEST

/* Rows of the deleted jobs that carry this name. */
static int deleted_rows(const char *name)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *r = NULL;
    const char *sql = apr_psprintf(ut_pool, "SELECT COUNT(*) FROM pai_jobs_deleted WHERE name = '%s'",
                                   name);
    ck_assert_int_eq(apr_dbd_select(db.driver, ut_pool, db.handle, &res, sql, 0), 0);
    ck_assert_int_eq(apr_dbd_get_row(db.driver, ut_pool, res, &r, -1), 0);
    return atoi(apr_dbd_get_entry(db.driver, r, 0));
}

START_TEST(a_deleted_job_is_stopped_and_frees_its_name)
{
    pai_sync_state st = {0};
    pai_sync_report rep;
    pai_identity alice = {"alice", 0, 0, NULL}, bob = {"bob", 0, 0, NULL};
    apr_array_header_t *keep = apr_array_make(ut_pool, 1, sizeof(const char *));
    apr_int64_t old_id, new_id;

    APR_ARRAY_PUSH(keep, const char *) = "keep";
    ck_assert_ptr_null(pai_store_user_create(&db, ut_pool, "alice", "x", 0));
    ck_assert_ptr_null(pai_store_user_create(&db, ut_pool, "bob", "x", 0));
    ck_assert_ptr_null(pai_store_grants_set(&db, ut_pool, "alice", keep));
    ck_assert_ptr_null(pai_store_grants_set(&db, ut_pool, "bob", keep));
    ck_assert_ptr_null(submit_as(&alice, "d1", "keep", 2));
    old_id = row("d1")->launcher_id;
    ck_assert_int_eq(pai_job_remove(&env, ut_pool, &bob, "d1", clock_ms)->code, PAI_ERR_FORBIDDEN);
    ck_assert_int_eq(pai_job_remove(&env, ut_pool, &alice, "nope", clock_ms)->code,
                     PAI_ERR_JOB_NOT_FOUND);
    /* A running job is stopped first, then its name is free. */
    ck_assert_ptr_null(pai_job_remove(&env, ut_pool, &alice, "d1", clock_ms));
    ck_assert(!fake_find(old_id)->active);
    ck_assert_ptr_null(row("d1"));
    ck_assert_int_eq(deleted_rows("d1"), 1);
    /* Another user takes the name; the old launcher job is not taken for it. */
    ck_assert_ptr_null(submit_as(&bob, "d1", "keep", 2));
    new_id = row("d1")->launcher_id;
    ck_assert_int_ne(new_id, old_id);
    cycle(&st, &rep);
    ck_assert_str_eq(row("d1")->username, "bob");
    ck_assert_str_eq(row("d1")->state, "WAITING");
    ck_assert_int_eq(row("d1")->launcher_id, new_id);
    ck_assert(fake_find(new_id)->active);
    ck_assert_int_eq(rep.cancelled, 0);
    /* A finished job: deleted at once, by an admin too. */
    fake_end(row("d1")->launcher_id, "SUCCEEDED");
    cycle(&st, &rep);
    ck_assert_ptr_null(pai_job_remove(&env, ut_pool, &ADMIN, "d1", clock_ms));
    ck_assert_ptr_null(row("d1"));
    ck_assert_int_eq(deleted_rows("d1"), 2);
}
END_TEST

/* The job a STOP or DELETE races: its launcher job's name. */
static const char *raced_job;

/* Another writer saves the job while its cancel is under way (the sync
 * noting that Slurm now runs it): the STOP's read is stale. */
static void save_meanwhile(fake_launcher *f, apr_int64_t id)
{
    pai_job_row *j = row(raced_job);
    int saved = 0;
    (void)f; (void)id;
    j->state = "RUNNING";
    j->sub_state = "RUNNING";
    ck_assert_ptr_null(pai_store_job_save(&db, ut_pool, j, j->retries, &saved));
    ck_assert_int_eq(saved, 1);
}

/* The sync itself runs while the cancel is under way: it sees the launcher
 * job CANCELLED before the STOP is written. */
static void sync_meanwhile(fake_launcher *f, apr_int64_t id)
{
    pai_sync_state st = {0};
    pai_sync_report rep;
    (void)f; (void)id;
    cycle(&st, &rep);
}

START_TEST(a_stop_or_delete_racing_another_writer_still_happens)
{
    pai_identity alice = {"alice", 0, 0, NULL};
    apr_array_header_t *keep = apr_array_make(ut_pool, 1, sizeof(const char *));
    apr_int64_t id;
    int i;

    APR_ARRAY_PUSH(keep, const char *) = "keep";
    ck_assert_ptr_null(pai_store_user_create(&db, ut_pool, "alice", "x", 0));
    ck_assert_ptr_null(pai_store_grants_set(&db, ut_pool, "alice", keep));

    /* STOP: the job changed between its read and its write; the STOP is
     * applied to what was written meanwhile, and Slurm is asked once. */
    ck_assert_ptr_null(submit_as(&alice, "r1", "keep", 2));
    id = row("r1")->launcher_id;
    raced_job = "r1";
    fake.during_cancel = save_meanwhile;
    fake.cancels = 0;
    ck_assert_ptr_null(pai_job_execute(&env, ut_pool, &alice, "r1", "STOP", clock_ms));
    ck_assert_int_eq(fake.cancels, 1);
    ck_assert(!fake_find(id)->active);
    ck_assert_str_eq(row("r1")->state, "STOPPED");
    ck_assert_str_eq(row("r1")->execution_type, "STOP");

    /* STOP while the sync runs and sees the cancelled launcher job first
     * (whatever it made of it, the job ends STOPPED with nothing running). */
    ck_assert_ptr_null(submit_as(&alice, "r2", "keep", 2));
    raced_job = "r2";
    fake.during_cancel = sync_meanwhile;
    ck_assert_ptr_null(pai_job_execute(&env, ut_pool, &alice, "r2", "STOP", clock_ms));
    ck_assert_str_eq(row("r2")->state, "STOPPED");
    ck_assert_str_eq(row("r2")->execution_type, "STOP");
    for (i = 0; i < fake.n; i++)
        ck_assert_msg(!fake.jobs[i].active || strcmp(fake.jobs[i].job_name, "r2"),
                      "an attempt of r2 still runs");

    /* DELETE of a running job, raced the same way: the name is free. */
    ck_assert_ptr_null(submit_as(&alice, "r3", "keep", 2));
    raced_job = "r3";
    fake.during_cancel = save_meanwhile;
    ck_assert_ptr_null(pai_job_remove(&env, ut_pool, &alice, "r3", clock_ms));
    ck_assert_ptr_null(row("r3"));
    ck_assert_int_eq(deleted_rows("r3"), 1);
}
END_TEST

static apr_array_header_t *strings(const char *a, const char *b)
{
    apr_array_header_t *l = apr_array_make(ut_pool, 2, sizeof(const char *));
    if (a)
        APR_ARRAY_PUSH(l, const char *) = a;
    if (b)
        APR_ARRAY_PUSH(l, const char *) = b;
    return l;
}

/* The names of a v2 query's page, in order, joined by spaces. */
static const char *page_names(const pai_job_query *q, apr_int64_t *total)
{
    apr_array_header_t *rows;
    const char *out = "";
    int i;
    pai_error *e = pai_store_job_query(&db, ut_pool, q, &rows, total);
    ck_assert_msg(e == NULL, "%s", e ? e->message : "");
    for (i = 0; i < rows->nelts; i++)
        out = apr_pstrcat(ut_pool, out, i ? " " : "", APR_ARRAY_IDX(rows, i, pai_job_row *)->name,
                          NULL);
    return out;
}

static int page_sink(void *ctx, const char *b, apr_size_t n)
{
    char **out = ctx;
    *out = apr_pstrcat(ut_pool, *out, apr_pstrmemdup(ut_pool, b, n), NULL);
    return 0;
}

/* A v2 page as a client reads it: written by the streaming writer, parsed. */
static json_t *page_json(pai_job_query *q, int with_total, int keyset)
{
    pai_job_page *pg;
    char *text = "";
    pai_jsonw *w = pai_jsonw_make(ut_pool, page_sink, &text);
    pai_error *e;
    json_t *j;

    ck_assert_ptr_null(pai_job_query_page(&env, ut_pool, q, with_total, keyset, &pg));
    pai_job_page_write(w, pg);
    ck_assert_int_eq(pai_jsonw_flush(w), 0);
    j = pai_json_parse(ut_pool, text, strlen(text), &e);
    ck_assert_msg(j != NULL, "%s", text);
    return j;
}

START_TEST(the_v2_list_filters_by_tags_keyword_and_orders)
{
    pai_identity alice = {"alice", 0, 0, NULL}, bob = {"bob", 0, 0, NULL};
    pai_job_query q;
    apr_array_header_t *rows;
    apr_int64_t total;

    ck_assert_ptr_null(submit_as(&ADMIN, "ta", "keep", 1));
    ck_assert_ptr_null(submit_as(&ADMIN, "tb", "keep", 1));
    ck_assert_ptr_null(submit_as(&ADMIN, "t_c", "keep", 1));
    ck_assert_ptr_null(pai_job_tag(&env, ut_pool, &ADMIN, "ta", "x", 1));
    ck_assert_ptr_null(pai_job_tag(&env, ut_pool, &ADMIN, "ta", "x", 1));     /* once */
    ck_assert_ptr_null(pai_job_tag(&env, ut_pool, &ADMIN, "tb", "x", 1));
    ck_assert_ptr_null(pai_job_tag(&env, ut_pool, &ADMIN, "tb", "y", 1));
    ck_assert_int_eq(pai_job_tag(&env, ut_pool, &alice, "tb", "z", 1)->code, PAI_ERR_FORBIDDEN);
    ck_assert_int_eq(pai_job_tag(&env, ut_pool, &ADMIN, "tb", "a,b", 1)->code, PAI_ERR_INVALID);
    (void)bob;

    memset(&q, 0, sizeof(q));
    q.limit = 10;
    q.descending = 1;
    ck_assert_str_eq(page_names(&q, &total), "t_c tb ta");
    ck_assert_int_eq(total, 3);
    q.tags_in = strings("x", NULL);
    ck_assert_str_eq(page_names(&q, NULL), "tb ta");
    q.tags_in = NULL;
    q.tags_out = strings("y", NULL);
    ck_assert_str_eq(page_names(&q, NULL), "t_c ta");
    q.tags_out = NULL;
    /* LIKE's wildcards in a keyword are plain characters */
    q.keyword = "_c";
    ck_assert_str_eq(page_names(&q, &total), "t_c");
    ck_assert_int_eq(total, 1);
    q.keyword = "t%c";
    ck_assert_str_eq(page_names(&q, &total), "");
    ck_assert_int_eq(total, 0);
    q.keyword = NULL;
    q.order = "name";
    q.descending = 0;
    q.limit = 2;
    q.offset = 1;
    ck_assert_str_eq(page_names(&q, &total), "ta tb");
    ck_assert_int_eq(total, 3);
    /* each row carries its tags */
    q.offset = 0;
    q.limit = 10;
    ck_assert_ptr_null(pai_store_job_query(&db, ut_pool, &q, &rows, NULL));
    ck_assert_int_eq(APR_ARRAY_IDX(rows, 2, pai_job_row *)->tags->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(APR_ARRAY_IDX(rows, 2, pai_job_row *)->tags, 1, const char *),
                     "y");
    ck_assert_int_eq(APR_ARRAY_IDX(rows, 2, pai_job_row *)->tasks, 1);
    /* tags go with their job */
    ck_assert_ptr_null(pai_job_tag(&env, ut_pool, &ADMIN, "tb", "x", 0));
    ck_assert_ptr_null(pai_job_remove(&env, ut_pool, &ADMIN, "tb", clock_ms));
    ck_assert_ptr_null(pai_store_job_tags(&db, ut_pool, "tb", &rows));
    ck_assert_int_eq(rows->nelts, 0);
}
END_TEST

/* Every page of a keyset walk (pages of 3) joined: the same as one offset page. */
START_TEST(keyset_pages_walk_what_offset_pages_show)
{
    static const char *const orders[] = {NULL, "name", "username", "state", "retries"};
    pai_identity u[2] = {{"kuser_a", 1, 0, NULL}, {"kuser_b", 1, 0, NULL}};
    size_t o;
    int i, d;
    char name[16];

    for (i = 0; i < 10; i++) {
        /* names a user name could not be: the cursor keeps them as they are */
        snprintf(name, sizeof(name), "k-%02d.x", (i * 7) % 10);
        ck_assert_ptr_null(submit_as(&u[i % 2], name, "keep", 1));
    }
    for (o = 0; o < sizeof(orders) / sizeof(*orders); o++)
        for (d = 0; d < 2; d++) {
            pai_job_query q;
            const char *all, *walked = "";
            json_t *page;
            int pages = 0;
            memset(&q, 0, sizeof(q));
            q.order = orders[o];
            q.descending = d;
            q.limit = 100;
            all = page_names(&q, NULL);
            q.limit = 3;
            for (;;) {
                json_t *next, *it;
                size_t k;
                page = page_json(&q, 0, 1);
                json_array_foreach(json_object_get(page, "data"), k, it)
                    walked = apr_pstrcat(ut_pool, walked, *walked ? " " : "",
                                         json_string_value(json_object_get(it, "name")), NULL);
                pages++;
                next = json_object_get(page, "next");
                if (json_is_null(next))
                    break;
                ck_assert_ptr_null(pai_job_cursor_read(ut_pool, json_string_value(next), &q));
            }
            ck_assert_msg(!strcmp(all, walked), "order %s %d: %s / %s", orders[o] ? orders[o] : "-",
                          d, all, walked);
            ck_assert_int_eq(pages, 4);     /* 3 + 3 + 3 + 1 */
        }
    {
        pai_job_query q, other;
        json_t *page;
        memset(&q, 0, sizeof(q));
        q.limit = 2;
        q.descending = 1;
        page = page_json(&q, 1, 1);
        ck_assert_int_eq(json_integer_value(json_object_get(page, "totalCount")), 10);
        other = q;
        other.order = "name";
        ck_assert_int_eq(pai_job_cursor_read(ut_pool, json_string_value(json_object_get(page,
                         "next")), &other)->code, PAI_ERR_INVALID);
        ck_assert_ptr_nonnull(pai_job_cursor_read(ut_pool, "bm90IGEgY3Vyc29y", &q));
        ck_assert_ptr_nonnull(pai_job_cursor_read(ut_pool, "a/b", &q));
        ck_assert_ptr_nonnull(pai_job_cursor_read(ut_pool, "azF8Y3JlYXRlZHxkfDF8Li4", &q));
    }
}
END_TEST

START_TEST(every_attempt_keeps_its_record)
{
    pai_sync_state st = {0};
    pai_sync_report rep;
    apr_array_header_t *att;
    apr_int64_t created;

    ck_assert_ptr_null(submit_as(&ADMIN, "h", "keep", 1));
    created = row("h")->created;
    fake_end(row("h")->launcher_id, "SUCCEEDED");
    cycle(&st, &rep);
    ck_assert_ptr_null(pai_job_execute(&env, ut_pool, &ADMIN, "h", "START", clock_ms));
    fake_end(row("h")->launcher_id, "FAILED");
    cycle(&st, &rep);
    ck_assert_str_eq(row("h")->state, "FAILED");
    ck_assert_ptr_null(pai_store_job_attempts(&db, ut_pool, "h", created, &att));
    ck_assert_int_eq(att->nelts, 2);
    ck_assert_int_eq(APR_ARRAY_IDX(att, 0, pai_job_row *)->retries, 0);
    ck_assert_str_eq(APR_ARRAY_IDX(att, 0, pai_job_row *)->state, "SUCCEEDED");
    ck_assert_int_eq(APR_ARRAY_IDX(att, 1, pai_job_row *)->retries, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(att, 1, pai_job_row *)->state, "FAILED");
    ck_assert_int_ne(APR_ARRAY_IDX(att, 0, pai_job_row *)->launcher_id,
                     APR_ARRAY_IDX(att, 1, pai_job_row *)->launcher_id);
    /* Deleted, and the name taken again: the old attempts stay apart. */
    ck_assert_ptr_null(pai_job_remove(&env, ut_pool, &ADMIN, "h", clock_ms));
    ck_assert_ptr_null(submit_as(&ADMIN, "h", "keep", 1));
    ck_assert_ptr_null(pai_store_job_attempts(&db, ut_pool, "h", row("h")->created, &att));
    ck_assert_int_eq(att->nelts, 1);
    ck_assert_ptr_null(pai_store_job_attempts(&db, ut_pool, "h", created, &att));
    ck_assert_int_eq(att->nelts, 2);
}
END_TEST

START_TEST(platform_failures_retry_without_counting)
{
    pai_sync_state st = {0};
    pai_sync_report rep;
    pai_launch_status *s;
    apr_array_header_t *att;
    json_t *detail, *js;
    int i;

    /* retryCount 0: a node lost is retried anyway, up to the bound. */
    ck_assert_ptr_null(submit_as(&ADMIN, "pf", "keep", 1));
    cycle(&st, &rep);
    for (i = 0; i < PAI_EXIT_PLATFORM_RETRIES_MAX; i++) {
        s = fake_find(row("pf")->launcher_id);
        fake_end(s->id, "FAILED");
        s->sub_state = "NODE_FAIL";
        cycle(&st, &rep);
        cycle(&st, &rep);
        ck_assert_int_eq(row("pf")->retries, i + 1);
        ck_assert_int_eq(row("pf")->platform_retries, i + 1);
        ck_assert_int_eq(row("pf")->run_retries, 0);
    }
    s = fake_find(row("pf")->launcher_id);
    fake_end(s->id, "FAILED");
    s->sub_state = "NODE_FAIL";
    cycle(&st, &rep);
    cycle(&st, &rep);
    ck_assert_str_eq(row("pf")->state, "FAILED");
    ck_assert_int_eq(row("pf")->retries, PAI_EXIT_PLATFORM_RETRIES_MAX);
    ck_assert_ptr_null(pai_job_detail_v2(&env, ut_pool, "pf", -1, &detail));
    js = json_object_get(detail, "jobStatus");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(js, "appExitSpec"),
                                                       "phrase")), "NodeFailed");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(js, "retryDetails"),
                                                        "platform")),
                     PAI_EXIT_PLATFORM_RETRIES_MAX);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(js, "retryDetails"),
                                                        "user")), 0);

    /* A task's own failure is the user's: retryCount 0 ends it, and the
     * history says which task failed first, and how. */
    ck_assert_ptr_null(submit_as(&ADMIN, "uf", "keep", 1));
    cycle(&st, &rep);
    s = fake_find(row("uf")->launcher_id);
    fake_end(s->id, "FAILED");
    s->exit_code = 3;
    s->exit_task = "w-0";
    s->exit_why = "exit3";
    cycle(&st, &rep);
    cycle(&st, &rep);
    ck_assert_str_eq(row("uf")->state, "FAILED");
    ck_assert_int_eq(row("uf")->retries, 0);
    ck_assert_ptr_null(pai_store_job_attempts(&db, ut_pool, "uf", row("uf")->created, &att));
    ck_assert_int_eq(att->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(att, 0, pai_job_row *)->exit_task, "w-0");
    ck_assert_str_eq(APR_ARRAY_IDX(att, 0, pai_job_row *)->exit_why, "exit3");
    ck_assert_ptr_null(pai_job_detail_v2(&env, ut_pool, "uf", -1, &detail));
    js = json_object_get(detail, "jobStatus");
    ck_assert_str_eq(json_string_value(json_object_get(js, "appExitTriggerTaskRoleName")), "w");
    ck_assert_int_eq(json_integer_value(json_object_get(js, "appExitTriggerTaskIndex")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(js, "appExitSpec"),
                                                        "code")), 3);
    /* A STOP then START: the stopped attempt says the user stopped it. */
    ck_assert_ptr_null(pai_job_execute(&env, ut_pool, &ADMIN, "uf", "START", clock_ms));
    cycle(&st, &rep);
    ck_assert_ptr_null(pai_job_execute(&env, ut_pool, &ADMIN, "uf", "STOP", clock_ms));
    cycle(&st, &rep);
    ck_assert_ptr_null(pai_job_attempts_view(&env, ut_pool, "uf", 1, &detail));
    ck_assert_str_eq(json_string_value(json_object_get(detail, "exitPhrase")),
                     "StopFrameworkRequested");
    ck_assert_ptr_null(pai_job_attempts_view(&env, ut_pool, "uf", 0, &detail));
    ck_assert_str_eq(json_string_value(json_object_get(detail, "exitType")), "USER_FAILURE");
}
END_TEST

Suite *suite_jobflow(void)
{
    Suite *s = suite_create("jobflow");
    TCase *t = tcase_create("admission and sync");
    tcase_add_checked_fixture(t, flow_open, flow_close);
    tcase_add_test(t, queued_jobs_go_in_order_and_none_overtakes);
    tcase_add_test(t, a_vc_borrows_idle_room_only_while_nobody_is_owed_it);
    tcase_add_test(t, a_lease_lost_mid_cycle_launches_nothing_twice);
    tcase_add_test(t, a_job_submitted_during_a_cycle_is_not_taken_for_an_orphan);
    tcase_add_test(t, launcher_errors_lose_nothing);
    tcase_add_test(t, a_queued_job_whose_account_went_away_ends);
    tcase_add_test(t, a_deleted_job_is_stopped_and_frees_its_name);
    tcase_add_test(t, a_stop_or_delete_racing_another_writer_still_happens);
    tcase_add_test(t, the_v2_list_filters_by_tags_keyword_and_orders);
    tcase_add_test(t, keyset_pages_walk_what_offset_pages_show);
    tcase_add_test(t, every_attempt_keeps_its_record);
    tcase_add_test(t, platform_failures_retry_without_counting);
    tcase_add_test(t, a_slow_list_comes_less_often_while_jobs_are_polled);
    tcase_add_test(t, expected_starts_are_written_on_change_and_read_again_after_a_takeover);
    suite_add_tcase(s, t);
    return s;
}
