/* Why a job waits: Slurm's reason table, the pending objects' shapes, and a
 * VC's headroom agreeing with admission. */
#include <string.h>
#include "tests.h"
#include "core/pending.h"

START_TEST(slurm_reasons_in_plain_words)
{
    static const char *const known[] = {"Resources", "Priority", "ReqNodeNotAvail",
                                        "PartitionNodeLimit", "JobHeldUser", "Dependency",
                                        "BeginTime", "None", NULL};
    const pai_slurm_reason *r;
    int i;

    for (i = 0; known[i]; i++) {
        r = pai_pending_slurm_reason(ut_pool, known[i]);
        ck_assert_str_eq(r->code, known[i]);
        /* a sentence, not the code again */
        ck_assert_ptr_null(strstr(r->why, known[i]));
        ck_assert_int_gt(strlen(r->release), 5);
    }
    ck_assert_ptr_nonnull(strstr(pai_pending_slurm_reason(ut_pool, "Resources")->why, "busy"));
    ck_assert_ptr_nonnull(strstr(pai_pending_slurm_reason(ut_pool, "JobHeldUser")->release,
                                 "release"));
    /* an unknown code is named, not lost */
    r = pai_pending_slurm_reason(ut_pool, "SomethingNew");
    ck_assert_str_eq(r->code, "SomethingNew");
    ck_assert_ptr_nonnull(strstr(r->why, "SomethingNew"));
    ck_assert_str_eq(pai_pending_slurm_reason(ut_pool, NULL)->code, "None");
}
END_TEST

START_TEST(pending_shapes)
{
    pai_demand need = {4, 8192, 1}, room = {2, 4096, 0};
    json_t *o = pai_pending_vc(ut_pool, "vc2", 3, &need, &room);

    ck_assert_str_eq(json_string_value(json_object_get(o, "source")), "vc");
    ck_assert_str_eq(json_string_value(json_object_get(o, "reason")), "VirtualClusterQueue");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "queuePosition")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o, "vcHeadroom"), "cpu")),
                     2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o, "vcHeadroom"),
                                                        "memory")), 4096);
    ck_assert(json_is_null(json_object_get(o, "estimatedStartTime")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(o, "message")),
                                 "behind 2 older jobs"));
    json_decref(o);
    o = pai_pending_vc(ut_pool, "vc2", 1, &need, &room);
    ck_assert_str_eq(json_string_value(json_object_get(o, "reason")), "VirtualClusterFull");
    json_decref(o);

    o = pai_pending_slurm(ut_pool, "Resources", 1800000000000LL);
    ck_assert_str_eq(json_string_value(json_object_get(o, "source")), "slurm");
    ck_assert_str_eq(json_string_value(json_object_get(o, "reason")), "Resources");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "estimatedStartTime")),
                     1800000000000LL);
    ck_assert(json_is_null(json_object_get(o, "queuePosition")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(o, "message")), "busy"));
    json_decref(o);
    o = pai_pending_slurm(ut_pool, "Priority", 0);
    ck_assert(json_is_null(json_object_get(o, "estimatedStartTime")));
    json_decref(o);
}
END_TEST

/* The headroom is what admission would take: one more unit does not fit. */
START_TEST(headroom_matches_admission)
{
    pai_capacity c = {1, 8, 64000, 4, {0}};
    apr_array_header_t *vcs = apr_array_make(ut_pool, 3, sizeof(pai_vc));
    pai_vc v1 = {"vc1", 50, 100}, v2 = {"vc2", 25, 50}, d = {"default", 25, 100};
    apr_hash_t *usage = apr_hash_make(ut_pool);
    pai_vc_usage *u1 = apr_pcalloc(ut_pool, sizeof(*u1)), *u2 = apr_pcalloc(ut_pool, sizeof(*u2));
    pai_demand room, d1;

    APR_ARRAY_PUSH(vcs, pai_vc) = v1;
    APR_ARRAY_PUSH(vcs, pai_vc) = v2;
    APR_ARRAY_PUSH(vcs, pai_vc) = d;
    u1->admitted.cpus = 5;
    u2->admitted.cpus = 1;
    u2->n_waiting = 1;
    apr_hash_set(usage, "vc1", APR_HASH_KEY_STRING, u1);
    apr_hash_set(usage, "vc2", APR_HASH_KEY_STRING, u2);
    /* vc2 is owed 1 CPU of its 2: vc1 may borrow 8 - 6 - 1 = 1 */
    pai_vc_headroom(&c, vcs, usage, "vc1", &room);
    ck_assert_int_eq(room.cpus, 1);
    d1.cpus = room.cpus; d1.memory_mb = 0; d1.gpus = 0;
    ck_assert(pai_vc_admissible(&c, vcs, usage, "vc1", &d1));
    d1.cpus++;
    ck_assert(!pai_vc_admissible(&c, vcs, usage, "vc1", &d1));
    /* vc2: its guarantee's rest (1), its ceiling (4 - 1 = 3) */
    pai_vc_headroom(&c, vcs, usage, "vc2", &room);
    ck_assert_int_eq(room.cpus, 2);
    ck_assert_int_eq(room.gpus, 2);
    pai_vc_headroom(&c, vcs, usage, "nope", &room);
    ck_assert_int_eq(room.cpus, 0);
}
END_TEST

Suite *suite_pending(void)
{
    Suite *s = suite_create("pending");
    TCase *tc = tcase_create("pending");
    tcase_add_test(tc, slurm_reasons_in_plain_words);
    tcase_add_test(tc, pending_shapes);
    tcase_add_test(tc, headroom_matches_admission);
    suite_add_tcase(s, tc);
    return s;
}
