/* The store and account rules against a real SQLite file through apr_dbd. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include <apr_strings.h>
#include <apr_dbd.h>
#include "tests.h"
#include "core/account.h"
#include "core/changes.h"

static pai_db db;
static char dbpath[] = "/tmp/pairest-unit-XXXXXX";

static void db_open(void)
{
    ut_db_open(&db, dbpath, NULL);
}

static void db_close(void)
{
    ut_db_close(&db, dbpath, "/tmp/pairest-unit-XXXXXX");
}

static const pai_secret SECRET = {(const unsigned char *)"0123456789abcdef0123456789abcdef", 32};
static const pai_login_limits NO_LIMITS = {0, 1, 0, 1};

START_TEST(bootstrap_is_idempotent)
{
    pai_user *u;
    ck_assert_ptr_null(pai_account_bootstrap(&db, ut_pool, NULL, "root_admin", "otherpass", 4));
    ck_assert_ptr_null(pai_store_user_get(&db, ut_pool, "root_admin", &u));
    ck_assert_ptr_nonnull(u);
    ck_assert(u->admin);
    ck_assert(pai_password_check("rootpass", u->password_hash));   /* not reset */
}
END_TEST

START_TEST(login_and_revocation)
{
    pai_identity admin = {"root_admin", 1, 0, NULL}, who;
    pai_user_change c = {"bob", "bobpass1", -1, 0};
    const char *tok, *tok2;
    int created, isadmin;
    pai_error *e;

    ck_assert_ptr_null(pai_account_put(&db, NULL, ut_pool, &admin, &c, 4, &created));
    ck_assert(created);
    e = pai_account_put(&db, NULL, ut_pool, &admin, &c, 4, &created);
    ck_assert_int_eq(e->code, PAI_ERR_CONFLICT_USER);
    e = pai_account_login(&db, ut_pool, &SECRET, &NO_LIMITS, "10.0.0.1", "bob", "wrongpw", 60, 1000, &tok, &isadmin);
    ck_assert_int_eq(e->code, PAI_ERR_AUTH_FAILED);
    e = pai_account_login(&db, ut_pool, &SECRET, &NO_LIMITS, "10.0.0.1", "nobody", "bobpass1", 60, 1000, &tok, &isadmin);
    ck_assert_int_eq(e->code, PAI_ERR_AUTH_FAILED);
    ck_assert_ptr_null(pai_account_login(&db, ut_pool, &SECRET, &NO_LIMITS, "10.0.0.1", "bob", "bobpass1", 60,
                                         apr_time_sec(apr_time_now()), &tok, &isadmin));
    ck_assert(!isadmin);
    ck_assert_ptr_null(pai_account_authenticate(&db, NULL, ut_pool, &SECRET, tok,
                                                apr_time_sec(apr_time_now()), &who));
    ck_assert_str_eq(who.username, "bob");

    /* bob changes his own password: the old token dies, a new one works */
    c.modify = 1;
    c.password = "bobpass2";
    ck_assert_ptr_null(pai_account_put(&db, NULL, ut_pool, &who, &c, 4, &created));
    e = pai_account_authenticate(&db, NULL, ut_pool, &SECRET, tok, apr_time_sec(apr_time_now()), &who);
    ck_assert_int_eq(e->code, PAI_ERR_UNAUTHORIZED);
    ck_assert_ptr_null(pai_account_login(&db, ut_pool, &SECRET, &NO_LIMITS, "10.0.0.1", "bob", "bobpass2", 60,
                                         apr_time_sec(apr_time_now()), &tok2, &isadmin));

    /* deleted and made again under the same name: the old token stays dead */
    ck_assert_ptr_null(pai_account_remove(&db, NULL, ut_pool, "bob"));
    c.modify = 0;
    ck_assert_ptr_null(pai_account_put(&db, NULL, ut_pool, &admin, &c, 4, &created));
    e = pai_account_authenticate(&db, NULL, ut_pool, &SECRET, tok2, apr_time_sec(apr_time_now()), &who);
    ck_assert_ptr_nonnull(e);
}
END_TEST

START_TEST(logout_ends_that_token_alone)
{
    pai_identity admin = {"root_admin", 1, 0, NULL}, who;
    pai_user_change c = {"carol", "carolpass1", -1, 0};
    apr_int64_t now = apr_time_sec(apr_time_now());
    const char *tok, *tok2;
    int created, isadmin;
    pai_error *e;

    ck_assert_ptr_null(pai_account_put(&db, NULL, ut_pool, &admin, &c, 4, &created));
    ck_assert_ptr_null(pai_account_login(&db, ut_pool, &SECRET, &NO_LIMITS, "10.0.0.1", "carol",
                                         "carolpass1", 60, now, &tok, &isadmin));
    ck_assert_ptr_null(pai_account_login(&db, ut_pool, &SECRET, &NO_LIMITS, "10.0.0.1", "carol",
                                         "carolpass1", 120, now, &tok2, &isadmin));
    ck_assert_ptr_null(pai_account_logout(&db, NULL, ut_pool, &SECRET, tok, now));
    /* twice is harmless */
    ck_assert_ptr_null(pai_account_logout(&db, NULL, ut_pool, &SECRET, tok, now));
    e = pai_account_authenticate(&db, NULL, ut_pool, &SECRET, tok, now, &who);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->code, PAI_ERR_UNAUTHORIZED);
    ck_assert_msg(strstr(e->message, "logged out"), "%s", e->message);
    ck_assert_ptr_null(pai_account_authenticate(&db, NULL, ut_pool, &SECRET, tok2, now, &who));
    /* kept until it would have expired (60 s), then forgotten */
    ck_assert_ptr_null(pai_store_tokens_expire(&db, ut_pool, now + 59));
    ck_assert_ptr_null(pai_store_token_revoked(&db, ut_pool, pai_token_hash(ut_pool, tok),
                                               &created));
    ck_assert(created);
    ck_assert_ptr_null(pai_store_tokens_expire(&db, ut_pool, now + 61));
    ck_assert_ptr_null(pai_store_token_revoked(&db, ut_pool, pai_token_hash(ut_pool, tok),
                                               &created));
    ck_assert(!created);
    /* a forged token is no logout */
    e = pai_account_logout(&db, NULL, ut_pool, &SECRET, "a.b.c", now);
    ck_assert_ptr_nonnull(e);
}
END_TEST

START_TEST(user_rules)
{
    pai_identity admin = {"root_admin", 1, 0, NULL}, carol = {"carol", 0, 0, NULL};
    pai_user_change c = {"carol", "carolpw", -1, 0};
    int created;
    pai_error *e;

    ck_assert_ptr_null(pai_account_put(&db, NULL, ut_pool, &admin, &c, 4, &created));
    /* a user may not create users, change others, or make themselves admin */
    c.username = "dave";
    e = pai_account_put(&db, NULL, ut_pool, &carol, &c, 4, &created);
    ck_assert_int_eq(e->code, PAI_ERR_FORBIDDEN);
    c.username = "carol"; c.modify = 1; c.admin = 1;
    e = pai_account_put(&db, NULL, ut_pool, &carol, &c, 4, &created);
    ck_assert_int_eq(e->code, PAI_ERR_FORBIDDEN);
    c.username = "root_admin"; c.admin = -1;
    e = pai_account_put(&db, NULL, ut_pool, &carol, &c, 4, &created);
    ck_assert_int_eq(e->code, PAI_ERR_FORBIDDEN);
    /* validation */
    c.username = "bad name"; c.modify = 0;
    e = pai_account_put(&db, NULL, ut_pool, &admin, &c, 4, &created);
    ck_assert_int_eq(e->code, PAI_ERR_INVALID);
    c.username = "erin"; c.password = "short";
    e = pai_account_put(&db, NULL, ut_pool, &admin, &c, 4, &created);
    ck_assert_int_eq(e->code, PAI_ERR_INVALID);
    c.password = NULL;
    e = pai_account_put(&db, NULL, ut_pool, &admin, &c, 4, &created);
    ck_assert_int_eq(e->code, PAI_ERR_INVALID);
    /* update of an absent user; removal rules */
    c.password = "erinpass"; c.modify = 1;
    e = pai_account_put(&db, NULL, ut_pool, &admin, &c, 4, &created);
    ck_assert_int_eq(e->code, PAI_ERR_NO_USER);
    ck_assert_int_eq(pai_account_remove(&db, NULL, ut_pool, "root_admin")->code, PAI_ERR_REMOVE_ADMIN);
    ck_assert_int_eq(pai_account_remove(&db, NULL, ut_pool, "nobody")->code, PAI_ERR_NO_USER);
}
END_TEST

START_TEST(grants)
{
    pai_identity admin = {"root_admin", 1, 0, NULL}, frank = {"frank", 0, 0, NULL};
    pai_user_change c = {"frank", "frankpw", -1, 0};
    apr_array_header_t *g;
    int created;

    ck_assert_ptr_null(pai_account_put(&db, NULL, ut_pool, &admin, &c, 4, &created));
    ck_assert_int_eq(pai_account_set_vcs(&db, ut_pool, "frank", "nosuch")->code, PAI_ERR_NO_VC);
    ck_assert_int_eq(pai_account_set_vcs(&db, ut_pool, "frank", "a;b")->code, PAI_ERR_INVALID);
    ck_assert_int_eq(pai_account_set_vcs(&db, ut_pool, "ghost", "default")->code, PAI_ERR_NO_USER);
    ck_assert_ptr_null(pai_account_set_vcs(&db, ut_pool, "frank", "default,,default"));
    ck_assert_ptr_null(pai_store_grants_get(&db, ut_pool, "frank", &g));
    ck_assert_int_eq(g->nelts, 1);
    ck_assert_ptr_null(pai_account_set_vcs(&db, ut_pool, "frank", ""));
    ck_assert_ptr_null(pai_store_grants_get(&db, ut_pool, "frank", &g));
    ck_assert_int_eq(g->nelts, 0);
    ck_assert_ptr_null(pai_account_may_use_vc(&db, ut_pool, &frank, "default"));
    ck_assert_int_eq(pai_account_may_use_vc(&db, ut_pool, &frank, "nosuch")->code,
                     PAI_ERR_NO_VC_SUBMIT);
}
END_TEST

START_TEST(vcs_follow_the_configuration)
{
    apr_array_header_t *want = apr_array_make(ut_pool, 3, sizeof(pai_vc)), *have;
    pai_identity admin = {"root_admin", 1, 0, NULL}, gina = {"gina", 0, 0, NULL};
    pai_user_change c = {"gina", "ginapass", -1, 0};
    pai_vc vc1 = {"vc1", 30, 60}, dflt = {"default", 70, 100};
    int created;

    APR_ARRAY_PUSH(want, pai_vc) = vc1;
    APR_ARRAY_PUSH(want, pai_vc) = dflt;
    ck_assert_ptr_null(pai_account_bootstrap(&db, ut_pool, want, NULL, NULL, 4));
    ck_assert_ptr_null(pai_store_vc_list(&db, ut_pool, &have));
    ck_assert_int_eq(have->nelts, 2);
    ck_assert_int_eq(APR_ARRAY_IDX(have, 1, pai_vc).max_capacity, 60);
    ck_assert_ptr_null(pai_account_put(&db, NULL, ut_pool, &admin, &c, 4, &created));
    ck_assert_int_eq(pai_account_may_use_vc(&db, ut_pool, &gina, "vc1")->code, PAI_ERR_FORBIDDEN);
    ck_assert_ptr_null(pai_account_set_vcs(&db, ut_pool, "gina", "vc1"));
    ck_assert_ptr_null(pai_account_may_use_vc(&db, ut_pool, &gina, "vc1"));
    /* vc1 leaves the configuration: the grant stops working, with a clear error */
    apr_array_clear(want);
    APR_ARRAY_PUSH(want, pai_vc) = dflt;
    ck_assert_ptr_null(pai_account_bootstrap(&db, ut_pool, want, NULL, NULL, 4));
    ck_assert_int_eq(pai_account_may_use_vc(&db, ut_pool, &gina, "vc1")->code, PAI_ERR_NO_VC_SUBMIT);
    ck_assert_ptr_null(pai_account_may_use_vc(&db, ut_pool, &admin, "default"));
}
END_TEST

START_TEST(job_saves_are_checked)
{
    pai_job_row j, *a, *b;
    int saved = 0;

    memset(&j, 0, sizeof(j));
    j.name = "race"; j.username = "u"; j.vc = "default"; j.state = "RUNNING";
    j.sub_state = "RUNNING"; j.execution_type = "START"; j.host = ""; j.diagnostics = "";
    j.config = "{}";
    ck_assert_ptr_null(pai_store_job_insert(&db, ut_pool, &j));
    ck_assert_int_eq(pai_store_job_insert(&db, ut_pool, &j)->code, PAI_ERR_JOB_DUPLICATE);
    ck_assert_ptr_null(pai_store_job_get(&db, ut_pool, "race", &a));   /* the sync reads */
    ck_assert_ptr_null(pai_store_job_get(&db, ut_pool, "race", &b));   /* a STOP reads */
    b->state = "STOPPED";
    ck_assert_ptr_null(pai_store_job_save(&db, ut_pool, b, 0, &saved));
    ck_assert_int_eq(saved, 1);
    a->sub_state = "COMPLETING";                                         /* stale: refused */
    ck_assert_ptr_null(pai_store_job_save(&db, ut_pool, a, 0, &saved));
    ck_assert_int_eq(saved, 0);
    ck_assert_ptr_null(pai_store_job_get(&db, ut_pool, "race", &a));
    ck_assert_str_eq(a->state, "STOPPED");
    ck_assert_ptr_null(pai_store_job_save(&db, ut_pool, b, 1, &saved));  /* wrong attempt */
    ck_assert_int_eq(saved, 0);
}
END_TEST

/* pai_active_totals against the active jobs summed from their rows, as a
 * "vc/queued/waiting:jobs,cpus,memory,gpus;" text in a stable order. */
static const char *totals_text(apr_array_header_t *rows)
{
    static const char *const keys[] = {"a/0/0", "a/0/1", "a/1/1", "b/0/0", "b/0/1", "b/1/1",
                                       "default/1/1"};
    const char *out = "";
    int k, i;

    for (k = 0; k < 7; k++) {
        apr_int64_t jobs = 0, cpus = 0, mem = 0, gpus = 0;
        for (i = 0; i < rows->nelts; i++) {
            const pai_active_total *t = &APR_ARRAY_IDX(rows, i, pai_active_total);
            if (strcmp(apr_psprintf(ut_pool, "%s/%d/%d", t->vc, t->queued, t->waiting), keys[k]))
                continue;
            jobs += t->jobs; cpus += t->cpus; mem += t->memory_mb; gpus += t->gpus;
        }
        if (jobs || cpus || mem || gpus)
            out = apr_psprintf(ut_pool, "%s%s:%" APR_INT64_T_FMT ",%" APR_INT64_T_FMT ",%"
                               APR_INT64_T_FMT ",%" APR_INT64_T_FMT ";", out, keys[k], jobs,
                               cpus, mem, gpus);
    }
    return out;
}

static const char *totals_now(void)
{
    apr_array_header_t *rows;
    ck_assert_ptr_null(pai_store_active_totals(&db, ut_pool, &rows));
    return totals_text(rows);
}

static void totals_job(const char *name, const char *vc, const char *state,
                       const char *sub_state, int cpus)
{
    pai_job_row j;
    memset(&j, 0, sizeof(j));
    j.name = name; j.username = "u"; j.vc = vc; j.state = state; j.sub_state = sub_state;
    j.execution_type = "START"; j.host = ""; j.diagnostics = ""; j.config = "{}";
    j.cpus = cpus; j.memory_mb = cpus * 1000; j.gpus = cpus % 2;
    ck_assert_ptr_null(pai_store_job_insert(&db, ut_pool, &j));
}

static void totals_move(const char *name, const char *state, const char *sub_state)
{
    pai_job_row *j;
    int saved = 0;
    ck_assert_ptr_null(pai_store_job_get(&db, ut_pool, name, &j));
    j->state = state;
    j->sub_state = sub_state;
    ck_assert_ptr_null(pai_store_job_save(&db, ut_pool, j, j->retries, &saved));
    ck_assert_int_eq(saved, 1);
}

/* Admission's sums follow every kind of job write: a submission queued or
 * not, a hand-over, a start, an end, a deletion, and a write that changes
 * nothing they count; a database whose sums were lost gets them again. */
START_TEST(active_totals_follow_every_job_write)
{
    pai_job_row *j;
    int deleted = 0, n;

    ck_assert_str_eq(totals_now(), "");
    totals_job("t1", "a", "WAITING", "QUEUED", 2);
    totals_job("t2", "a", "WAITING", "QUEUED", 3);
    totals_job("t3", "a", "WAITING", "PENDING", 1);
    totals_job("t4", "b", "RUNNING", "RUNNING", 4);
    totals_job("t5", "b", "SUCCEEDED", "DONE", 8);                  /* not active */
    ck_assert_str_eq(totals_now(), "a/0/1:1,1,1000,1;a/1/1:2,5,5000,1;b/0/0:1,4,4000,0;");
    totals_move("t1", "WAITING", "SUBMITTING");                      /* admitted */
    ck_assert_str_eq(totals_now(), "a/0/1:2,3,3000,1;a/1/1:1,3,3000,1;b/0/0:1,4,4000,0;");
    ck_assert_ptr_null(pai_store_job_set_launched(&db, ut_pool, "t1", 0, 42, ""));
    totals_move("t1", "RUNNING", "RUNNING");
    totals_move("t3", "WAITING", "PENDING");                         /* nothing counted */
    ck_assert_str_eq(totals_now(),
                     "a/0/0:1,2,2000,0;a/0/1:1,1,1000,1;a/1/1:1,3,3000,1;b/0/0:1,4,4000,0;");
    totals_move("t4", "FAILED", "DONE");
    totals_move("t5", "RUNNING", "RUNNING");                         /* a retry */
    ck_assert_str_eq(totals_now(),
                     "a/0/0:1,2,2000,0;a/0/1:1,1,1000,1;a/1/1:1,3,3000,1;b/0/0:1,8,8000,0;");
    ck_assert_ptr_null(pai_store_job_get(&db, ut_pool, "t2", &j));
    ck_assert_ptr_null(pai_store_job_delete(&db, ut_pool, "t2", j->version, "admin", 1, &deleted));
    ck_assert_int_eq(deleted, 1);
    ck_assert_ptr_null(pai_store_job_delete_unsubmitted(&db, ut_pool, "t3"));
    ck_assert_str_eq(totals_now(), "a/0/0:1,2,2000,0;b/0/0:1,8,8000,0;");
    /* Sums lost (a database whose module kept none): made again once. */
    ck_assert_int_eq(apr_dbd_query(db.driver, db.handle, &n, "DELETE FROM pai_active_totals"), 0);
    ck_assert_str_eq(totals_now(), "");
    ck_assert_int_eq(apr_dbd_query(db.driver, db.handle, &n,
                                   "UPDATE pai_cluster SET totals_seeded = 0"), 0);
    ck_assert_ptr_null(pai_store_init(&db, ut_pool));
    ck_assert_str_eq(totals_now(), "a/0/0:1,2,2000,0;b/0/0:1,8,8000,0;");
    totals_move("t1", "STOPPED", "DONE");
    ck_assert_str_eq(totals_now(), "b/0/0:1,8,8000,0;");
}
END_TEST

/* A list read from SQLite's own handle (not apr_dbd's): the filters, the
 * order, LIMIT/OFFSET bound as numbers, every column as stored, a name that
 * needs quoting in SQL as data. */
START_TEST(job_pages_read_every_column)
{
    static const char *const users[] = {"pa", "pb", "pa", "pc", "pa"};
    apr_array_header_t *rows;
    pai_job_filter f;
    pai_job_row j, *r;
    char name[32];
    int i;

    for (i = 0; i < 5; i++) {
        memset(&j, 0, sizeof(j));
        snprintf(name, sizeof(name), "page_%d", i);
        j.name = apr_pstrdup(ut_pool, name);
        j.username = users[i]; j.vc = i % 2 ? "odd" : "even";
        j.state = i == 4 ? "FAILED" : "SUCCEEDED"; j.sub_state = "DONE";
        j.execution_type = "START"; j.host = ""; j.diagnostics = ""; j.config = "{}";
        j.created = 1000 + i; j.completed = i ? 2000 + i : 0; j.retries = i;
        j.has_exit = i % 2; j.exit_code = i == 1 ? -9 : 3;
        ck_assert_ptr_null(pai_store_job_insert(&db, ut_pool, &j));
    }
    memset(&f, 0, sizeof(f));
    f.username = "pa";
    ck_assert_ptr_null(pai_store_job_page(&db, ut_pool, &f, &rows));
    ck_assert_int_eq(rows->nelts, 3);
    r = APR_ARRAY_IDX(rows, 0, pai_job_row *);                  /* newest first */
    ck_assert_str_eq(r->name, "page_4");
    ck_assert_str_eq(r->state, "FAILED");
    ck_assert_int_eq(r->created, 1004);
    ck_assert_int_eq(r->completed, 2004);
    ck_assert_int_eq(r->retries, 4);
    ck_assert_int_eq(r->has_exit, 0);
    f.username = NULL;
    f.vc = "odd";
    ck_assert_ptr_null(pai_store_job_page(&db, ut_pool, &f, &rows));
    ck_assert_int_eq(rows->nelts, 2);
    r = APR_ARRAY_IDX(rows, 1, pai_job_row *);
    ck_assert_str_eq(r->name, "page_1");
    ck_assert_int_eq(r->has_exit, 1);
    ck_assert_int_eq(r->exit_code, -9);
    ck_assert_str_eq(r->vc, "odd");
    f.vc = NULL;
    f.limit = 2;
    f.offset = 1;
    ck_assert_ptr_null(pai_store_job_page(&db, ut_pool, &f, &rows));
    ck_assert_int_eq(rows->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(rows, 0, pai_job_row *)->name, "page_3");
    ck_assert_str_eq(APR_ARRAY_IDX(rows, 1, pai_job_row *)->name, "page_2");
    f.limit = 0;
    f.offset = 0;
    f.username = "x' OR '1'='1";
    ck_assert_ptr_null(pai_store_job_page(&db, ut_pool, &f, &rows));
    ck_assert_int_eq(rows->nelts, 0);
    f.username = NULL;
    f.state = "FAILED";
    ck_assert_ptr_null(pai_store_job_page(&db, ut_pool, &f, &rows));
    ck_assert_int_eq(rows->nelts, 1);
}
END_TEST

/* Each state a job takes is one change, in order; a save that changes no
 * state is none; a watcher behind the hub's window of 2 reads the store. */
START_TEST(changes_feed_the_stream_in_order)
{
    pai_change_filter all = {NULL, NULL, NULL}, other = {"someone_else", NULL, NULL};
    apr_array_header_t *frames = apr_array_make(ut_pool, 8, sizeof(const char *));
    pai_change_hub *hub;
    apr_int64_t first, last, cursor = 0, start;
    pai_job_row j, *row;
    int saved = 0, more = 0, i;
    static const char *const states[] = {"PENDING", "RUNNING", "RUNNING", "SUCCEEDED"};

    memset(&j, 0, sizeof(j));
    j.name = "watched"; j.username = "u"; j.vc = "default"; j.state = "WAITING";
    j.sub_state = "SUBMITTING"; j.execution_type = "START"; j.host = ""; j.diagnostics = "";
    j.config = "{}";
    ck_assert_ptr_null(pai_change_hub_create(ut_pool, 2, &hub));
    ck_assert_ptr_null(pai_store_changes_bounds(&db, ut_pool, &first, &start));
    /* the hub starts at the store's last change */
    ck_assert_ptr_null(pai_change_hub_poll(hub, &db, ut_pool, 1000, &more));
    ck_assert_ptr_null(pai_store_job_insert(&db, ut_pool, &j));
    for (i = 0; i < 4; i++) {
        ck_assert_ptr_null(pai_store_job_get(&db, ut_pool, "watched", &row));
        row->state = states[i];
        row->sub_state = states[i];
        if (i == 2)
            row->host = "node1";       /* no state change: no event */
        ck_assert_ptr_null(pai_store_job_save(&db, ut_pool, row, 0, &saved));
        ck_assert_int_eq(saved, 1);
    }
    ck_assert_ptr_null(pai_store_changes_bounds(&db, ut_pool, &first, &last));
    ck_assert_int_eq(last - start, 4);  /* SUBMITTING, PENDING, RUNNING, SUCCEEDED */
    ck_assert_ptr_null(pai_change_hub_poll(hub, &db, ut_pool, 1100, &more));
    ck_assert_int_eq(more, 0);
    /* the window holds the last two: a watcher at the start is behind it */
    cursor = start;
    ck_assert_int_eq(pai_change_hub_read(hub, ut_pool, &cursor, &all, 10, frames), 1);
    ck_assert_int_eq(pai_change_hub_floor(hub), last - 2);
    ck_assert_ptr_null(pai_change_catch_up(&db, ut_pool, &cursor, last - 2, &all, frames, &more));
    ck_assert_int_eq(more, 0);
    ck_assert_int_eq(cursor, last - 2);
    ck_assert_int_eq(pai_change_hub_read(hub, ut_pool, &cursor, &all, 10, frames), 0);
    ck_assert_int_eq(cursor, last);
    ck_assert_int_eq(frames->nelts, 4);
    ck_assert_ptr_nonnull(strstr(APR_ARRAY_IDX(frames, 0, const char *), "\"subState\":\"SUBMITTING\""));
    ck_assert_ptr_nonnull(strstr(APR_ARRAY_IDX(frames, 3, const char *), "\"state\":\"SUCCEEDED\""));
    ck_assert_ptr_nonnull(strstr(APR_ARRAY_IDX(frames, 3, const char *),
                                 apr_psprintf(ut_pool, "id: %" APR_INT64_T_FMT "\nevent: job\n",
                                              last)));
    ck_assert_ptr_nonnull(strstr(APR_ARRAY_IDX(frames, 3, const char *), "\"frameworkName\":\"u~watched\""));
    /* another user's filter: nothing, but the cursor moves on */
    apr_array_clear(frames);
    cursor = last - 1;
    ck_assert_int_eq(pai_change_hub_read(hub, ut_pool, &cursor, &other, 10, frames), 0);
    ck_assert_int_eq(frames->nelts, 0);
    ck_assert_int_eq(cursor, last);
    /* expiry keeps the last change (it tells an id ahead of all from one let go) */
    ck_assert_ptr_null(pai_store_changes_expire(&db, ut_pool, apr_time_as_msec(apr_time_now()) + 1000));
    ck_assert_ptr_null(pai_store_changes_bounds(&db, ut_pool, &first, &cursor));
    ck_assert_int_eq(first, last);
    ck_assert_int_eq(cursor, last);
}
END_TEST

/* An id missing between two (a transaction elsewhere not yet committed) holds
 * the window back for PAI_CHANGE_GAP_MS, then is given up. */
START_TEST(a_gap_in_change_ids_is_waited_for)
{
    pai_change_filter all = {NULL, NULL, NULL};
    apr_array_header_t *frames = apr_array_make(ut_pool, 8, sizeof(const char *));
    pai_change_hub *hub;
    apr_int64_t cursor, first, last;
    int more, n;
    const char *add = "INSERT INTO pai_changes (id, at, name, created, username, vc, state,"
                      " sub_state, retries, has_exit, exit_code, kind) VALUES (%d, 1, 'g', 1, 'u',"
                      " 'default', 'WAITING', 'QUEUED', 0, 0, 0, 'job')";

    ck_assert_int_eq(apr_dbd_query(db.driver, db.handle, &n, apr_psprintf(ut_pool, add, 1)), 0);
    ck_assert_ptr_null(pai_change_hub_create(ut_pool, 16, &hub));
    ck_assert_ptr_null(pai_change_hub_poll(hub, &db, ut_pool, 1000, &more));
    ck_assert_int_eq(apr_dbd_query(db.driver, db.handle, &n, apr_psprintf(ut_pool, add, 3)), 0);
    ck_assert_ptr_null(pai_change_hub_poll(hub, &db, ut_pool, 2000, &more));
    cursor = 1;
    ck_assert_int_eq(pai_change_hub_read(hub, ut_pool, &cursor, &all, 10, frames), 0);
    ck_assert_int_eq(frames->nelts, 0);                 /* 2 may yet come */
    ck_assert_int_eq(apr_dbd_query(db.driver, db.handle, &n, apr_psprintf(ut_pool, add, 2)), 0);
    ck_assert_ptr_null(pai_change_hub_poll(hub, &db, ut_pool, 2100, &more));
    ck_assert_int_eq(pai_change_hub_read(hub, ut_pool, &cursor, &all, 10, frames), 0);
    ck_assert_int_eq(frames->nelts, 2);                 /* 2 then 3 */
    ck_assert_int_eq(cursor, 3);
    /* 4 never comes: 5 goes out after the wait */
    ck_assert_int_eq(apr_dbd_query(db.driver, db.handle, &n, apr_psprintf(ut_pool, add, 5)), 0);
    ck_assert_ptr_null(pai_change_hub_poll(hub, &db, ut_pool, 3000, &more));
    apr_array_clear(frames);
    ck_assert_int_eq(pai_change_hub_read(hub, ut_pool, &cursor, &all, 10, frames), 0);
    ck_assert_int_eq(frames->nelts, 0);
    ck_assert_ptr_null(pai_change_hub_poll(hub, &db, ut_pool, 3000 + PAI_CHANGE_GAP_MS, &more));
    ck_assert_int_eq(pai_change_hub_read(hub, ut_pool, &cursor, &all, 10, frames), 0);
    ck_assert_int_eq(frames->nelts, 1);
    ck_assert_int_eq(cursor, 5);
    ck_assert_ptr_null(pai_store_changes_bounds(&db, ut_pool, &first, &last));
    ck_assert_int_eq(last, 5);
}
END_TEST

/* httpd's children each make the schema on first use, and on a new file they
 * may do it at the same moment: every one of them must start (CI once saw a
 * child answer 503 "database schema has changed" to its first login). */
START_TEST(processes_make_a_new_schema_together)
{
    enum { PROCS = 6, ROUNDS = 12 };
    int round, i;

    for (round = 0; round < ROUNDS; round++) {
        char path[] = "/tmp/pairest-race-XXXXXX";
        int fd = mkstemp(path), gate[2];
        pid_t kids[PROCS];

        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(pipe(gate), 0);
        for (i = 0; i < PROCS; i++) {
            kids[i] = fork();
            ck_assert_int_ge(kids[i], 0);
            if (kids[i] == 0) {
                apr_pool_t *p;
                pai_db d = {0};
                const char *open_err = NULL;
                char c;
                int n;

                close(gate[1]);
                apr_pool_create(&p, NULL);
                d.driver = db.driver;
                if (apr_dbd_open_ex(d.driver, p, path, &d.handle, &open_err))
                    _exit(2);
                /* as httpd's DBDInitSQL has it */
                (void)apr_dbd_query(d.driver, d.handle, &n, "PRAGMA busy_timeout=5000");
                d.prepared = apr_hash_make(p);
                d.conn_pool = p;
                apr_thread_mutex_create(&d.write_lock, APR_THREAD_MUTEX_NESTED, p);
                (void)!read(gate[0], &c, 1);    /* all start at once */
                {
                    pai_error *e = pai_store_init(&d, p);
                    if (e)
                        fprintf(stderr, "schema race: %s\n", e->message);
                    _exit(e ? 1 : 0);
                }
            }
        }
        close(gate[0]);
        close(gate[1]);
        for (i = 0; i < PROCS; i++) {
            int status = 0;
            ck_assert_int_eq(waitpid(kids[i], &status, 0), kids[i]);
            ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                          "round %d: process %d could not make the schema (status %d)",
                          round, i, status);
        }
        unlink(path);
        unlink(apr_pstrcat(ut_pool, path, "-wal", NULL));
        unlink(apr_pstrcat(ut_pool, path, "-shm", NULL));
    }
}
END_TEST

/* A database made by an older module (no launch tag, placement, node
 * addresses or node shapes yet) gets the new columns at start and keeps its
 * jobs. */
START_TEST(older_database_gains_the_new_columns)
{
    static const char *const old[] = {
        "DROP TABLE pai_jobs", "DROP TABLE pai_cluster",
        "CREATE TABLE pai_jobs (name VARCHAR(128) NOT NULL PRIMARY KEY,"
        " username VARCHAR(64) NOT NULL, vc VARCHAR(64) NOT NULL, state VARCHAR(16) NOT NULL,"
        " sub_state VARCHAR(32) NOT NULL, execution_type VARCHAR(8) NOT NULL,"
        " retries INTEGER NOT NULL, run_retries INTEGER NOT NULL, launcher_id BIGINT NOT NULL,"
        " port_base INTEGER NOT NULL, host VARCHAR(255) NOT NULL, created BIGINT NOT NULL,"
        " launched BIGINT NOT NULL, completed BIGINT NOT NULL, has_exit INTEGER NOT NULL,"
        " exit_code INTEGER NOT NULL, diagnostics VARCHAR(1024) NOT NULL, cpus BIGINT NOT NULL,"
        " memory_mb BIGINT NOT NULL, gpus BIGINT NOT NULL, submitted BIGINT NOT NULL,"
        " config MEDIUMTEXT NOT NULL, version BIGINT NOT NULL DEFAULT 0)",
        "INSERT INTO pai_jobs VALUES ('old', 'u', 'default', 'WAITING', 'QUEUED', 'START', 0, 0,"
        " 0, 20000, '', 1, 0, 0, 0, 0, '', 1, 100, 0, 1, '{}', 0)",
        "CREATE TABLE pai_cluster (id INTEGER NOT NULL PRIMARY KEY, cpus BIGINT NOT NULL,"
        " memory_mb BIGINT NOT NULL, gpus BIGINT NOT NULL, nodes INTEGER NOT NULL,"
        " updated BIGINT NOT NULL, version BIGINT NOT NULL)",
        NULL};
    pai_cluster_size cs = {8, 8192, 2, 1, 3, "4/4096/1*2"}, back;
    pai_job_row *j;
    int i, n;

    for (i = 0; old[i]; i++)
        ck_assert_int_eq(apr_dbd_query(db.driver, db.handle, &n, old[i]), 0);
    /* As a new process would: statements prepared on the dropped tables go
     * (one that fails inside a transaction fails the transaction). */
    apr_hash_clear(db.prepared);
    ck_assert_ptr_null(pai_store_init(&db, ut_pool));
    ck_assert_ptr_null(pai_store_job_get(&db, ut_pool, "old", &j));
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(totals_now(), "default/1/1:1,1,100,0;");        /* summed once */
    ck_assert_str_eq(j->placement, "");
    ck_assert_str_eq(j->hosts, "");
    ck_assert_ptr_null(pai_store_job_set_launched(&db, ut_pool, "old", 0, 7, "0,1"));
    ck_assert_ptr_null(pai_store_job_get(&db, ut_pool, "old", &j));
    ck_assert_str_eq(j->placement, "0,1");
    ck_assert_ptr_null(pai_store_cluster_get(&db, ut_pool, &back));   /* makes the row */
    ck_assert_ptr_null(pai_store_cluster_set(&db, ut_pool, &cs));
    ck_assert_ptr_null(pai_store_cluster_get(&db, ut_pool, &back));
    ck_assert_str_eq(back.shapes, "4/4096/1*2");
}
END_TEST

/* Limits count per user and address, answer 429 with Retry-After before the
 * password is looked at, spare other addresses, and reset on success. */
START_TEST(login_rate_limits)
{
    pai_identity admin = {"root_admin", 1, 0, NULL};
    pai_user_change c = {"carol", "carolpass", -1, 0};
    pai_login_limits lim = {3, 60, 5, 60};
    const char *tok;
    int created, isadmin, i;
    pai_error *e;

    ck_assert_ptr_null(pai_account_put(&db, NULL, ut_pool, &admin, &c, 4, &created));
    for (i = 0; i < 3; i++) {
        e = pai_account_login(&db, ut_pool, &SECRET, &lim, "10.0.0.7", "carol", "nope!!", 60,
                              5000 + i, &tok, &isadmin);
        ck_assert_int_eq(e->code, PAI_ERR_AUTH_FAILED);
    }
    /* even the right password is refused now, with the time left */
    e = pai_account_login(&db, ut_pool, &SECRET, &lim, "10.0.0.7", "carol", "carolpass", 60,
                          5010, &tok, &isadmin);
    ck_assert_int_eq(e->code, PAI_ERR_TOO_MANY);
    ck_assert_int_eq(e->retry_after, 50);
    /* the same user from elsewhere is not blocked */
    ck_assert_ptr_null(pai_account_login(&db, ut_pool, &SECRET, &lim, "10.0.0.8", "carol",
                                         "carolpass", 60, 5010, &tok, &isadmin));
    /* the window ends */
    ck_assert_ptr_null(pai_account_login(&db, ut_pool, &SECRET, &lim, "10.0.0.7", "carol",
                                         "carolpass", 60, 5060, &tok, &isadmin));
    /* per address: unknown names count too, then everyone from there waits */
    for (i = 0; i < 5; i++) {
        e = pai_account_login(&db, ut_pool, &SECRET, &lim, "10.0.0.9", apr_psprintf(ut_pool, "x%d", i),
                              "whatever", 60, 6000, &tok, &isadmin);
        ck_assert_int_eq(e->code, PAI_ERR_AUTH_FAILED);
    }
    e = pai_account_login(&db, ut_pool, &SECRET, &lim, "10.0.0.9", "carol", "carolpass", 60,
                          6001, &tok, &isadmin);
    ck_assert_int_eq(e->code, PAI_ERR_TOO_MANY);
    ck_assert_ptr_null(pai_store_login_failures_expire(&db, ut_pool, 7000));
    ck_assert_ptr_null(pai_account_login(&db, ut_pool, &SECRET, &lim, "10.0.0.9", "carol",
                                         "carolpass", 60, 6001, &tok, &isadmin));
}
END_TEST

START_TEST(audit_rows_page_newest_first)
{
    pai_audit_filter f = {NULL, NULL, 0, 2};
    apr_array_header_t *rows;
    int i;

    for (i = 0; i < 3; i++) {
        pai_audit_row a = {0, 1000 + i, i ? "alice" : "", "127.0.0.1", "job.submit",
                           apr_psprintf(ut_pool, "job%d", i), "vc1", 201, 1};
        ck_assert_ptr_null(pai_store_audit_add(&db, ut_pool, &a));
    }
    ck_assert_ptr_null(pai_store_audit_page(&db, ut_pool, &f, &rows));
    ck_assert_int_eq(rows->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(rows, 0, pai_audit_row).target, "job2");
    ck_assert_str_eq(APR_ARRAY_IDX(rows, 1, pai_audit_row).target, "job1");
    f.offset = 2;
    ck_assert_ptr_null(pai_store_audit_page(&db, ut_pool, &f, &rows));
    ck_assert_int_eq(rows->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(rows, 0, pai_audit_row).actor, "");
    f.offset = 0;
    f.actor = "alice";
    f.limit = 10;
    ck_assert_ptr_null(pai_store_audit_page(&db, ut_pool, &f, &rows));
    ck_assert_int_eq(rows->nelts, 2);
}
END_TEST

/* One holder at a time; the holder renews; another takes over once it expired. */
START_TEST(lease_one_holder)
{
    int held;

    ck_assert_ptr_null(pai_store_lease_take(&db, ut_pool, "sync", "A", 1000, 5000, &held));
    ck_assert_ptr_null(pai_store_lease_take(&db, ut_pool, "sync", "A", 1000, 5000, &held));
    ck_assert(held);
    ck_assert_ptr_null(pai_store_lease_take(&db, ut_pool, "sync", "B", 2000, 5000, &held));
    ck_assert(!held);
    ck_assert_ptr_null(pai_store_lease_take(&db, ut_pool, "sync", "A", 4000, 5000, &held));
    ck_assert(held);                                  /* renewed until 9000 */
    ck_assert_ptr_null(pai_store_lease_take(&db, ut_pool, "sync", "B", 8999, 5000, &held));
    ck_assert(!held);
    ck_assert_ptr_null(pai_store_lease_take(&db, ut_pool, "sync", "B", 9001, 5000, &held));
    ck_assert(held);                                  /* A stopped renewing */
    ck_assert_ptr_null(pai_store_lease_take(&db, ut_pool, "sync", "A", 9002, 5000, &held));
    ck_assert(!held);
    /* Released by one that does not hold it: nothing changes. */
    ck_assert_ptr_null(pai_store_lease_release(&db, ut_pool, "sync", "A"));
    ck_assert_ptr_null(pai_store_lease_take(&db, ut_pool, "sync", "A", 9003, 5000, &held));
    ck_assert(!held);
    /* Released by its holder: the next one takes it long before 14001. */
    ck_assert_ptr_null(pai_store_lease_release(&db, ut_pool, "sync", "B"));
    ck_assert_ptr_null(pai_store_lease_take(&db, ut_pool, "sync", "A", 9004, 5000, &held));
    ck_assert(held);
}
END_TEST

/* A task reports its sshd once per attempt: a second report (say, by the
 * task's own command) is refused; the first one stands. */
START_TEST(ssh_report_once_per_task)
{
    pai_ssh_endpoint ep = {"w", 0, "10.0.0.5", 2222, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA"};
    pai_ssh_endpoint forged = {"w", 0, "203.0.113.66", 2222, ""};
    apr_array_header_t *eps;
    pai_error *e;

    ck_assert_ptr_null(pai_store_ssh_endpoint_put(&db, ut_pool, "jx", 0, &ep));
    e = pai_store_ssh_endpoint_put(&db, ut_pool, "jx", 0, &forged);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->code, PAI_ERR_FORBIDDEN);
    /* the next attempt reports afresh */
    ck_assert_ptr_null(pai_store_ssh_endpoint_put(&db, ut_pool, "jx", 1, &forged));
    ck_assert_ptr_null(pai_store_ssh_endpoints(&db, ut_pool, "jx", 0, &eps));
    ck_assert_int_eq(eps->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(eps, 0, pai_ssh_endpoint).ip, "10.0.0.5");
    ck_assert_str_eq(APR_ARRAY_IDX(eps, 0, pai_ssh_endpoint).host_key, ep.host_key);
}
END_TEST

/* Anonymous refusals of one kind from one address fold into one row within
 * the window; retention removes old rows. */
START_TEST(audit_folds_anonymous_refusals)
{
    pai_audit_filter f = {NULL, NULL, 0, 100};
    apr_array_header_t *rows;
    int i;

    for (i = 0; i < 50; i++) {
        pai_audit_row a = {0, 10000 + i, "", "198.51.100.7", "job.submit", "jobs", "no token",
                           401, 1};
        ck_assert_ptr_null(pai_store_audit_add_anonymous(&db, ut_pool, &a, 10000 + i - 60000));
    }
    {   /* another address, and the same address after the window */
        pai_audit_row b = {0, 20000, "", "198.51.100.8", "job.submit", "jobs", "no token", 401, 1};
        pai_audit_row c = {0, 80000, "", "198.51.100.7", "job.submit", "jobs", "no token", 401, 1};
        ck_assert_ptr_null(pai_store_audit_add_anonymous(&db, ut_pool, &b, 20000 - 60000));
        ck_assert_ptr_null(pai_store_audit_add_anonymous(&db, ut_pool, &c, 80000 - 60000));
    }
    ck_assert_ptr_null(pai_store_audit_page(&db, ut_pool, &f, &rows));
    ck_assert_int_eq(rows->nelts, 3);
    ck_assert_int_eq(APR_ARRAY_IDX(rows, 2, pai_audit_row).repeats, 50);
    ck_assert_ptr_null(pai_store_audit_expire(&db, ut_pool, 50000));
    ck_assert_ptr_null(pai_store_audit_page(&db, ut_pool, &f, &rows));
    ck_assert_int_eq(rows->nelts, 1);
    ck_assert_int_eq((int)APR_ARRAY_IDX(rows, 0, pai_audit_row).at_ms, 80000);
}
END_TEST

Suite *suite_store(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, db_open, db_close);
    tcase_add_test(tc, bootstrap_is_idempotent);
    tcase_add_test(tc, login_and_revocation);
    tcase_add_test(tc, logout_ends_that_token_alone);
    tcase_add_test(tc, user_rules);
    tcase_add_test(tc, grants);
    tcase_add_test(tc, vcs_follow_the_configuration);
    tcase_add_test(tc, job_saves_are_checked);
    tcase_add_test(tc, changes_feed_the_stream_in_order);
    tcase_add_test(tc, a_gap_in_change_ids_is_waited_for);
    tcase_add_test(tc, older_database_gains_the_new_columns);
    tcase_add_test(tc, processes_make_a_new_schema_together);
    tcase_add_test(tc, login_rate_limits);
    tcase_add_test(tc, lease_one_holder);
    tcase_add_test(tc, audit_rows_page_newest_first);
    tcase_add_test(tc, ssh_report_once_per_task);
    tcase_add_test(tc, audit_folds_anonymous_refusals);
    tcase_add_test(tc, job_pages_read_every_column);
    tcase_add_test(tc, active_totals_follow_every_job_write);
    suite_add_tcase(s, tc);
    return s;
}
