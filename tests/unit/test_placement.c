/* Placement of a job's tasks on the cluster's nodes, and Slurm's node lists:
 * the fewest nodes, spread evenly; a task no node holds is refused naming its
 * role and the largest node; a cluster with too few nodes is refused. */
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "core/jobspec.h"
#include "core/json.h"
#include "core/placement.h"
#include "core/launcher.h"
#include "core/vc.h"

static pai_jobspec *spec_of(const char *roles)
{
    const char *text = apr_pstrcat(ut_pool, "{\"jobName\":\"j\",\"image\":\"i\",\"taskRoles\":[",
                                   roles, "]}", NULL);
    pai_error *e;
    pai_jobspec *s;
    json_t *j = pai_json_parse(ut_pool, text, strlen(text), &e);
    ck_assert_ptr_nonnull(j);
    ck_assert_ptr_null(pai_jobspec_parse(ut_pool, j, &s));
    return s;
}

static pai_node_shapes nodes_of(int n, int cpus, int mem, int gpus)
{
    pai_node_shapes ns;
    pai_shape s = {cpus, mem, gpus, ""};
    memset(&ns, 0, sizeof(ns));
    while (n-- > 0)
        pai_node_shapes_add(&ns, &s);
    return ns;
}

#define PS_AND_WORKERS(gpus) \
    "{\"name\":\"ps\",\"cpuNumber\":1,\"memoryMB\":200,\"command\":\"x\"}," \
    "{\"name\":\"worker\",\"taskNumber\":3,\"cpuNumber\":1,\"memoryMB\":300," \
    "\"gpuNumber\":" #gpus ",\"command\":\"x\"}"

START_TEST(ps_and_workers_spread_over_two_nodes)
{
    pai_node_shapes ns = nodes_of(3, 4, 4096, 4);
    pai_placement *pl;
    int k, on[2] = {0, 0};

    ck_assert_ptr_null(pai_place(ut_pool, spec_of(PS_AND_WORKERS(2)), &ns, &pl));
    ck_assert_int_eq(pl->nodes, 2);
    ck_assert_int_eq(pl->tasks, 4);
    /* 3 workers x 2 GPUs need 2 four-GPU nodes; the ps goes beside the lone worker */
    for (k = 1; k < 4; k++)
        on[pl->slot[k]]++;
    ck_assert(on[0] >= 1 && on[1] >= 1);
    ck_assert_int_ne(pl->slot[0], on[0] == 2 ? 0 : 1);
    ck_assert_int_eq(pl->per_node.gpus, 4);
    ck_assert_int_eq(pl->per_node.cpus, 2);
    ck_assert_int_eq(pl->per_node.memory_mb, 600);
    ck_assert_str_eq(pai_placement_slots(ut_pool, pl),
                     apr_psprintf(ut_pool, "%d,%d,%d,%d", pl->slot[0], pl->slot[1], pl->slot[2],
                                  pl->slot[3]));
}
END_TEST

START_TEST(a_job_that_fits_one_node_stays_on_it)
{
    pai_node_shapes ns = nodes_of(3, 8, 8192, 8);
    pai_placement *pl;
    int k;

    ck_assert_ptr_null(pai_place(ut_pool, spec_of(PS_AND_WORKERS(2)), &ns, &pl));
    ck_assert_int_eq(pl->nodes, 1);
    for (k = 0; k < 4; k++)
        ck_assert_int_eq(pl->slot[k], 0);
    ck_assert_int_eq(pl->per_node.cpus, 4);
    ck_assert_int_eq(pl->per_node.gpus, 6);
    ck_assert_int_eq(pl->per_node.memory_mb, 1100);
}
END_TEST

START_TEST(a_task_no_node_holds_is_refused)
{
    pai_node_shapes ns = nodes_of(3, 4, 4096, 4);
    pai_placement *pl;
    pai_error *e = pai_place(ut_pool, spec_of(PS_AND_WORKERS(6)), &ns, &pl);

    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->code, PAI_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(e->message, "task role worker"));
    ck_assert_ptr_nonnull(strstr(e->message, "6 GPUs per task"));
    ck_assert_ptr_nonnull(strstr(e->message, "largest node has 4 CPUs, 4096 MB and 4 GPUs"));
}
END_TEST

START_TEST(too_few_nodes_is_refused)
{
    pai_node_shapes ns = nodes_of(3, 4, 4096, 4);
    pai_placement *pl;
    pai_error *e = pai_place(ut_pool, spec_of(
        "{\"name\":\"w\",\"taskNumber\":5,\"gpuNumber\":4,\"command\":\"x\"}"), &ns, &pl);

    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->code, PAI_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(e->message, "need 5 nodes"));
    ck_assert_ptr_nonnull(strstr(e->message, "the cluster has 3"));
}
END_TEST

START_TEST(mixed_nodes_use_the_kind_that_needs_fewest)
{
    pai_node_shapes ns = nodes_of(4, 4, 4096, 0);
    pai_shape big = {16, 65536, 8, ""};
    pai_placement *pl;

    pai_node_shapes_add(&ns, &big);
    pai_node_shapes_add(&ns, &big);
    ck_assert_ptr_null(pai_place(ut_pool, spec_of(PS_AND_WORKERS(2)), &ns, &pl));
    ck_assert_int_eq(pl->nodes, 1);
    ck_assert_int_eq(pl->per_node.gpus, 6);
    /* round trip of what the store keeps */
    {
        pai_node_shapes back;
        ck_assert(pai_node_shapes_parse(pai_node_shapes_format(ut_pool, &ns), &back));
        ck_assert_int_eq(back.n, 2);
        ck_assert_int_eq(back.count[0], 4);
        ck_assert_int_eq(back.count[1], 2);
        ck_assert_int_eq(back.shape[1].gpus, 8);
        ck_assert(pai_node_shapes_parse("", &back) && back.n == 0);
        ck_assert(!pai_node_shapes_parse("4/100/0*x", &back));
        ck_assert(!pai_node_shapes_parse("4/100/0*1;junk", &back));
    }
}
END_TEST

START_TEST(unknown_nodes_put_everything_on_one)
{
    pai_node_shapes ns;
    pai_placement *pl;

    memset(&ns, 0, sizeof(ns));
    ck_assert_ptr_null(pai_place(ut_pool, spec_of(PS_AND_WORKERS(2)), &ns, &pl));
    ck_assert_int_eq(pl->nodes, 1);
    ck_assert_int_eq(pl->per_node.gpus, 6);
}
END_TEST

START_TEST(slots_parse_checks_every_entry)
{
    int *s = pai_placement_slots_parse(ut_pool, "0,1,1,2", 4);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s[3], 2);
    ck_assert_ptr_null(pai_placement_slots_parse(ut_pool, "0,1,1", 4));
    ck_assert_ptr_null(pai_placement_slots_parse(ut_pool, "0,1,1,2,3", 4));
    ck_assert_ptr_null(pai_placement_slots_parse(ut_pool, "0,-1,1,2", 4));
    ck_assert_ptr_null(pai_placement_slots_parse(ut_pool, "0,a,1,2", 4));
    ck_assert_ptr_null(pai_placement_slots_parse(ut_pool, "", 4));
}
END_TEST

static const char *expand(const char *list, int max)
{
    apr_array_header_t *a;
    return pai_slurm_hostlist_expand(ut_pool, list, max, &a) ? apr_array_pstrcat(ut_pool, a, ' ')
                                                             : NULL;
}

START_TEST(slurm_node_lists_expand_in_order)
{
    ck_assert_str_eq(expand("pai-n[1-3,5]", 100), "pai-n1 pai-n2 pai-n3 pai-n5");
    ck_assert_str_eq(expand("login,gpu[08-10]x,a[1-2]b[1-2]", 100),
                     "login gpu08x gpu09x gpu10x a1b1 a1b2 a2b1 a2b2");
    ck_assert_str_eq(expand("localhost", 100), "localhost");
    ck_assert_str_eq(expand("", 100), "");
    ck_assert_ptr_null(expand("n[1-", 100));
    ck_assert_ptr_null(expand("n[3-1]", 100));
    ck_assert_ptr_null(expand("n[1-x]", 100));
    ck_assert_ptr_null(expand("n[[1]]", 100));
    ck_assert_ptr_null(expand("n,,m", 100));
    ck_assert_ptr_null(expand("n[1-2000000000]", 1000));
    ck_assert_ptr_null(expand("n[1-4]", 3));
}
END_TEST

START_TEST(gpu_types_make_sku_types)
{
    pai_node_shapes ns, back;
    pai_capacity c;
    pai_shape a100 = {64, 512000, 8, "a100"}, plain = {16, 64000, 4, ""},
              small_a100 = {32, 256000, 8, "a100"}, cpu = {8, 16000, 0, ""};
    json_t *sku;

    memset(&ns, 0, sizeof(ns));
    pai_node_shapes_add(&ns, &a100);
    pai_node_shapes_add(&ns, &a100);
    pai_node_shapes_add(&ns, &plain);
    pai_node_shapes_add(&ns, &small_a100);
    pai_node_shapes_add(&ns, &cpu);
    ck_assert_int_eq(ns.n, 4);
    ck_assert_str_eq(pai_node_shapes_format(ut_pool, &ns),
                     "64/512000/8:a100*2;16/64000/4*1;32/256000/8:a100*1;8/16000/0*1");
    ck_assert(pai_node_shapes_parse(pai_node_shapes_format(ut_pool, &ns), &back));
    ck_assert(!memcmp(&back, &ns, sizeof(ns)));
    ck_assert(!pai_node_shapes_parse("4/100/1:bad type*1", &back));
    ck_assert(!pai_node_shapes_parse("4/100/1:*1", &back));
    memset(&c, 0, sizeof(c));
    c.shapes = ns;
    sku = pai_vc_sku_types(&c);
    /* per GPU: the smaller a100 node gives 4 CPUs and 32000 MB a GPU */
    ck_assert_str_eq(pai_json_dump(ut_pool, sku), "{\"a100\":{\"cpu\":4,\"memory\":32000,"
                     "\"gpu\":1},\"gpu\":{\"cpu\":4,\"memory\":16000,\"gpu\":1},"
                     "\"cpu\":{\"cpu\":1,\"memory\":2000,\"gpu\":0}}");
    json_decref(sku);
}
END_TEST

Suite *suite_placement(void)
{
    Suite *s = suite_create("placement");
    TCase *tc = tcase_create("placement");
    tcase_add_test(tc, ps_and_workers_spread_over_two_nodes);
    tcase_add_test(tc, a_job_that_fits_one_node_stays_on_it);
    tcase_add_test(tc, a_task_no_node_holds_is_refused);
    tcase_add_test(tc, too_few_nodes_is_refused);
    tcase_add_test(tc, mixed_nodes_use_the_kind_that_needs_fewest);
    tcase_add_test(tc, unknown_nodes_put_everything_on_one);
    tcase_add_test(tc, slots_parse_checks_every_entry);
    tcase_add_test(tc, slurm_node_lists_expand_in_order);
    tcase_add_test(tc, gpu_types_make_sku_types);
    suite_add_tcase(s, tc);
    return s;
}
