/* The job-config validator: defaults, demand, ports, and refusals naming fields. */
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "core/jobspec.h"
#include "core/launcher.h"

static json_t *parse(const char *s)
{
    pai_error *e;
    json_t *j = pai_json_parse(ut_pool, s, strlen(s), &e);
    ck_assert_ptr_nonnull(j);
    return j;
}

START_TEST(defaults_and_demand)
{
    pai_jobspec *s;
    pai_task_role *r;
    ck_assert_ptr_null(pai_jobspec_parse(ut_pool, parse(
        "{\"jobName\":\"j1\",\"image\":\"i\",\"taskRoles\":["
        "{\"name\":\"a\",\"taskNumber\":2,\"cpuNumber\":3,\"memoryMB\":1000,\"gpuNumber\":1,"
        " \"command\":\"x\",\"portList\":[{\"label\":\"p\",\"portNumber\":2}]},"
        "{\"name\":\"b\",\"command\":\"y\",\"minFailedTaskCount\":null}]}"), &s));
    ck_assert_str_eq(s->virtual_cluster, "default");
    ck_assert_int_eq(s->retry_count, 0);
    ck_assert_int_eq(s->total_tasks, 3);
    ck_assert_int_eq(s->total_cpus, 7);
    ck_assert_int_eq(s->total_memory_mb, 2100);
    ck_assert_int_eq(s->total_gpus, 2);
    r = &APR_ARRAY_IDX(s->roles, 1, pai_task_role);
    ck_assert_int_eq(r->memory_mb, 100);
    ck_assert_int_eq(r->shm_mb, 64);
    ck_assert_int_eq(r->min_failed, 0);
    ck_assert_int_eq(r->min_succeeded, 0);
    ck_assert(json_is_null(json_object_get(json_array_get(
        json_object_get(s->normalized, "taskRoles"), 1), "minFailedTaskCount")));
    /* ports: distinct per task, inside the span; the last slot is sshd's */
    ck_assert_int_eq(pai_job_port_span(s), 9);
    ck_assert_int_eq(pai_task_port(s, 20000, 0, 0, 0, 0), 20000);
    ck_assert_int_eq(pai_task_port(s, 20000, 0, 0, 0, 1), 20001);
    ck_assert_int_eq(pai_task_ssh_port(s, 20000, 0, 0), 20002);
    ck_assert_int_eq(pai_task_port(s, 20000, 0, 1, 0, 0), 20003);
    ck_assert_int_eq(pai_task_ssh_port(s, 20000, 1, 0), 20008);
}
END_TEST

START_TEST(refusals)
{
    struct { const char *body; const char *field; } t[] = {
        {"[]", "object"},
        {"{\"image\":\"i\",\"taskRoles\":[{\"name\":\"a\",\"command\":\"x\"}]}", "jobName"},
        {"{\"jobName\":\".\",\"image\":\"i\",\"taskRoles\":[{\"name\":\"a\",\"command\":\"x\"}]}", "jobName"},
        {"{\"jobName\":\"a/b\",\"image\":\"i\",\"taskRoles\":[{\"name\":\"a\",\"command\":\"x\"}]}", "jobName"},
        {"{\"jobName\":\"j\",\"taskRoles\":[{\"name\":\"a\",\"command\":\"x\"}]}", "image"},
        {"{\"jobName\":\"j\",\"image\":\"i\"}", "taskRoles"},
        {"{\"jobName\":\"j\",\"image\":\"i\",\"taskRoles\":{}}", "taskRoles"},
        {"{\"jobName\":\"j\",\"image\":\"i\",\"x\":1,\"taskRoles\":[{\"name\":\"a\",\"command\":\"x\"}]}", "'x'"},
        {"{\"jobName\":\"j\",\"image\":\"i\",\"taskRoles\":[{\"name\":\"a\",\"command\":\"x\",\"taskNumber\":1001}]}", "taskRoles[0].taskNumber' must be between 1 and 1000"},
        {"{\"jobName\":\"j\",\"image\":\"i\",\"taskRoles\":[{\"name\":\"a\",\"command\":\"x\",\"cpuNumber\":true}]}", "taskRoles[0].cpuNumber"},
        {"{\"jobName\":\"j\",\"image\":\"i\",\"taskRoles\":[{\"name\":\"a\",\"command\":\"x\",\"memoryMB\":10,\"shmMB\":11}]}", "shmMB"},
        {"{\"jobName\":\"j\",\"image\":\"i\",\"taskRoles\":[{\"name\":\"a\",\"command\":\"x\",\"portList\":[{\"label\":\"p\",\"beginAt\":65535,\"portNumber\":2}]}]}", "65535"},
        {"{\"jobName\":\"j\",\"image\":\"i\",\"jobEnvs\":{\"A=B\":\"x\"},\"taskRoles\":[{\"name\":\"a\",\"command\":\"x\"}]}", "jobEnvs"},
        {"{\"jobName\":\"j\",\"image\":\"i\",\"taskRoles\":[{\"name\":\"a\",\"command\":\"x\"},{\"name\":\"a\",\"command\":\"x\"}]}", "given twice"},
    };
    size_t i;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        pai_jobspec *s;
        pai_error *e = pai_jobspec_parse(ut_pool, parse(t[i].body), &s);
        ck_assert_msg(e != NULL, "accepted case %zu", i);
        ck_assert_int_eq(e->code, PAI_ERR_INVALID);
        ck_assert_msg(strstr(e->message, t[i].field) != NULL, "case %zu: %s", i, e->message);
    }
}
END_TEST

/* Every task gets every task's address and ports: 1000 tasks with 32 port
 * labels would need megabytes of environment, more than a program may start
 * with; refused at submission.  The same tasks with 2 labels fit. */
START_TEST(environment_that_could_not_start_is_refused)
{
    const char *labels = "", *text;
    pai_jobspec *s;
    pai_error *e;
    int i;

    for (i = 0; i < 32; i++)
        labels = apr_psprintf(ut_pool, "%s%s{\"label\":\"port%d\",\"portNumber\":3}",
                              labels, i ? "," : "", i);
    text = apr_psprintf(ut_pool, "{\"jobName\":\"j\",\"image\":\"i\",\"taskRoles\":[{"
                        "\"name\":\"worker\",\"taskNumber\":1000,\"command\":\"x\","
                        "\"portList\":[%s]}]}", labels);
    e = pai_jobspec_parse(ut_pool, parse(text), &s);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->code, PAI_ERR_INVALID);
    ck_assert_msg(strstr(e->message, "environment") && strstr(e->message, "1000 tasks"), "%s",
                  e->message);
    text = apr_psprintf(ut_pool, "{\"jobName\":\"j\",\"image\":\"i\",\"taskRoles\":[{"
                        "\"name\":\"worker\",\"taskNumber\":1000,\"command\":\"x\","
                        "\"portList\":[{\"label\":\"a\"},{\"label\":\"b\"}]}]}");
    ck_assert_ptr_null(pai_jobspec_parse(ut_pool, parse(text), &s));
}
END_TEST

Suite *suite_jobspec(void)
{
    Suite *s = suite_create("jobspec");
    TCase *tc = tcase_create("jobspec");
    tcase_add_test(tc, defaults_and_demand);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, environment_that_could_not_start_is_refused);
    suite_add_tcase(s, tc);
    return s;
}
