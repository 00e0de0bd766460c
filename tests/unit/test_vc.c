/* VC admission: guarantee, ceiling, borrowing only idle room owed to no one. */
#include <string.h>
#include "tests.h"
#include "core/vc.h"

static apr_array_header_t *vcs_of(void)
{
    apr_array_header_t *a = apr_array_make(ut_pool, 3, sizeof(pai_vc));
    pai_vc v1 = {"vc1", 50, 100}, v2 = {"vc2", 50, 50}, d = {"default", 0, 100};
    APR_ARRAY_PUSH(a, pai_vc) = v1;
    APR_ARRAY_PUSH(a, pai_vc) = v2;
    APR_ARRAY_PUSH(a, pai_vc) = d;
    return a;
}

static apr_hash_t *usage_of(int v1_cpus, int v2_cpus, int v2_waiting)
{
    apr_hash_t *h = apr_hash_make(ut_pool);
    pai_vc_usage *u1 = apr_pcalloc(ut_pool, sizeof(*u1)), *u2 = apr_pcalloc(ut_pool, sizeof(*u2));
    u1->admitted.cpus = v1_cpus;
    u1->n_admitted = v1_cpus;
    u2->admitted.cpus = v2_cpus;
    u2->n_admitted = v2_cpus;
    u2->n_waiting = v2_waiting;
    apr_hash_set(h, "vc1", APR_HASH_KEY_STRING, u1);
    apr_hash_set(h, "vc2", APR_HASH_KEY_STRING, u2);
    return h;
}

START_TEST(admission_table)
{
    pai_capacity c = {1, 8, 64000, 4, {0}};
    struct { int v1, v2, v2_waiting; const char *vc; int cpus, gpus; int ok; } t[] = {
        {0, 0, 0, "vc1", 4, 0, 1},   /* inside its guarantee */
        {4, 0, 0, "vc1", 1, 0, 1},   /* borrowing idle room */
        {7, 0, 0, "vc1", 1, 0, 1},   /* up to the whole cluster (max 100) */
        {8, 0, 0, "vc1", 1, 0, 0},   /* the cluster is full */
        {4, 0, 1, "vc1", 1, 0, 0},   /* vc2 waits: its 4 CPUs are owed */
        {4, 3, 1, "vc1", 1, 0, 0},   /* vc2 waits and is owed 1 more: 4+3+1+1 > 8 */
        {3, 3, 1, "vc1", 1, 0, 1},   /* inside vc1's guarantee: always */
        {0, 4, 0, "vc2", 1, 0, 0},   /* vc2 at its max */
        {0, 3, 0, "vc2", 1, 0, 1},
        {0, 0, 0, "vc2", 0, 3, 0},   /* GPUs count: 3 of 4 > 50% */
        {0, 0, 0, "vc2", 0, 2, 1},
        {0, 0, 0, "nosuch", 1, 0, 0},
    };
    size_t i;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        pai_demand d = {t[i].cpus, 100, t[i].gpus};
        int ok = pai_vc_admissible(&c, vcs_of(), usage_of(t[i].v1, t[i].v2, t[i].v2_waiting),
                                   t[i].vc, &d);
        ck_assert_msg(ok == t[i].ok, "case %zu", i);
    }
}
END_TEST

START_TEST(fits_and_view)
{
    pai_capacity c = {1, 4, 1000, 4, {0}};
    pai_vc v2 = {"vc2", 50, 50};
    pai_demand small = {2, 500, 2}, big = {3, 10, 0};
    pai_vc_usage u;
    json_t *v;

    ck_assert_ptr_null(pai_vc_check_fits(ut_pool, &c, &v2, &small));
    ck_assert_ptr_nonnull(pai_vc_check_fits(ut_pool, &c, &v2, &big));
    memset(&u, 0, sizeof(u));
    u.admitted.cpus = 1;
    u.admitted.memory_mb = 100;
    u.admitted.gpus = 2;
    u.n_admitted = 1;
    u.n_queued = 2;
    v = pai_json_pool(ut_pool, pai_vc_view(&c, &v2, &u));
    ck_assert(json_real_value(json_object_get(v, "usedCapacity")) == 50.0);  /* GPUs dominate */
    ck_assert_int_eq(json_integer_value(json_object_get(v, "numJobs")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "numPendingJobs")), 2);
}
END_TEST

Suite *suite_vc(void)
{
    Suite *s = suite_create("vc");
    TCase *tc = tcase_create("vc");
    tcase_add_test(tc, admission_table);
    tcase_add_test(tc, fits_and_view);
    suite_add_tcase(s, tc);
    return s;
}
