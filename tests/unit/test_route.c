/* Route patterns. */
#include "tests.h"
#include "core/route.h"

START_TEST(route_table)
{
    struct { const char *pat, *path; int ok; const char *p0; } t[] = {
        {"/api/v1/token", "/api/v1/token", 1, NULL},
        {"/api/v1/token", "/api/v1/token/", 1, NULL},
        {"/api/v1/token", "/api/v1/token//", 0, NULL},
        {"/api/v1/token", "/api/v1/tokens", 0, NULL},
        {"/api/v1/token", "/api/v1/tok", 0, NULL},
        {"/api/v1/jobs/:name", "/api/v1/jobs/abc", 1, "abc"},
        {"/api/v1/jobs/:name", "/api/v1/jobs/", 0, NULL},
        {"/api/v1/jobs/:name", "/api/v1/jobs/a/b", 0, NULL},
        {"/api/v1/jobs/:name/ssh", "/api/v1/jobs/x.y/ssh", 1, "x.y"},
        {"/api/v1/user/:u/virtualClusters", "/api/v1/user/bob/virtualClusters", 1, "bob"},
        {"/api/v1/user/:u/virtualClusters", "/api/v1/user//virtualClusters", 0, NULL},
    };
    size_t i;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        const char *params[PAI_ROUTE_MAX_PARAMS] = {0};
        int ok = pai_route_match(ut_pool, t[i].pat, t[i].path, params);
        ck_assert_msg(ok == t[i].ok, "%s vs %s", t[i].pat, t[i].path);
        if (ok && t[i].p0)
            ck_assert_str_eq(params[0], t[i].p0);
    }
}
END_TEST

/* The answer cache's routes are reads that change nothing (not audited). */
START_TEST(route_cached_are_reads)
{
    int i, n = 0;
    for (i = 0; i < PAI_R_COUNT; i++)
        if (pai_routes[i].cache) {
            ck_assert_msg(!strcmp(pai_routes[i].method, "GET") && !pai_routes[i].audit.action,
                          "%s %s", pai_routes[i].method, pai_routes[i].pattern);
            n++;
        }
    ck_assert_int_eq(n, 9);
}
END_TEST

/* Application tokens: the job routes and /tokens/check, nothing else. */
START_TEST(route_for_applications)
{
    ck_assert(pai_route_for_applications(PAI_R_JOBS_POST));
    ck_assert(pai_route_for_applications(PAI_R_V2_JOB_TASK_LOG_GET));
    ck_assert(pai_route_for_applications(PAI_R_USER_JOB_CONFIG_GET));
    ck_assert(pai_route_for_applications(PAI_R_V2_TOKEN_CHECK_GET));
    ck_assert(!pai_route_for_applications(PAI_R_V2_TOKENS_GET));
    ck_assert(!pai_route_for_applications(PAI_R_V2_TOKEN_APPLICATION_POST));
    ck_assert(!pai_route_for_applications(PAI_R_USER_PUT));
    ck_assert(!pai_route_for_applications(PAI_R_VCS_GET));
    ck_assert(!pai_route_for_applications(-1));
    ck_assert(!pai_route_for_applications(PAI_R_COUNT));
}
END_TEST

START_TEST(route_find)
{
    const char *params[PAI_ROUTE_MAX_PARAMS], *allow;

    ck_assert_int_eq(pai_route_find(ut_pool, "GET", "/api/v1/jobs/j1/ssh", params, &allow),
                     PAI_R_JOB_SSH_GET);
    ck_assert_str_eq(params[0], "j1");
    ck_assert_int_eq(pai_route_find(ut_pool, "HEAD", "/api/v1/jobs", params, &allow),
                     PAI_R_JOBS_GET);
    ck_assert_int_eq(pai_route_find(ut_pool, "PATCH", "/api/v1/user", params, &allow), -1);
    /* GET /api/v1/user lists users (admins), as v0.8 did */
    ck_assert_str_eq(allow, "PUT, DELETE, GET");
    /* v0.8's routes under a user: the user, then the job */
    ck_assert_int_eq(pai_route_find(ut_pool, "GET", "/api/v1/user/bob/jobs/j1/config", params,
                                    &allow), PAI_R_USER_JOB_CONFIG_GET);
    ck_assert_str_eq(params[0], "bob");
    ck_assert_str_eq(params[1], "j1");
    ck_assert_int_eq(pai_route_find(ut_pool, "GET", "/api/v1/user/bob/jobs", params, &allow),
                     PAI_R_USER_JOBS_GET);
    ck_assert_int_eq(pai_route_find(ut_pool, "DELETE", "/api/v1/jobs/j1", params, &allow),
                     PAI_R_JOB_DELETE);
    ck_assert_str_eq(params[0], "j1");
    ck_assert_int_eq(pai_route_find(ut_pool, "DELETE", "/api/v1/user/bob/jobs/j1", params,
                                    &allow), PAI_R_USER_JOB_DELETE);
    ck_assert_str_eq(params[1], "j1");
    ck_assert_int_eq(pai_route_find(ut_pool, "DELETE", "/api/v1/jobs", params, &allow), -1);
    ck_assert_str_eq(allow, "GET, POST");
    ck_assert_int_eq(pai_route_find(ut_pool, "GET", "/api/v2/users/bob", params, &allow),
                     PAI_R_V2_USER_GET);
    ck_assert_str_eq(params[0], "bob");
    /* the SDK lists users at "/api/v2/users/" */
    ck_assert_int_eq(pai_route_find(ut_pool, "GET", "/api/v2/users/", params, &allow),
                     PAI_R_V2_USERS_GET);
    ck_assert_ptr_nonnull(pai_route_unprovided("/api/v2/kubernetes/nodes"));
    ck_assert_ptr_nonnull(pai_route_unprovided("/api/v2/groups"));
    ck_assert_ptr_null(pai_route_unprovided("/api/v2/groupsx"));
    ck_assert_ptr_null(pai_route_unprovided("/api/v2/jobs"));
    ck_assert_int_eq(pai_route_api("/api/v1"), 1);
    ck_assert_int_eq(pai_route_api("/api/v1/jobs"), 1);
    ck_assert_int_eq(pai_route_api("/api/v2/info"), 2);
    ck_assert_int_eq(pai_route_api("/api/v2"), 2);
    ck_assert_int_eq(pai_route_api("/api/v20"), 0);
    ck_assert_int_eq(pai_route_api("/api/v3/x"), 0);
    ck_assert_int_eq(pai_route_api("/api/v"), 0);
    ck_assert_int_eq(pai_route_api("/"), 0);
    ck_assert_int_eq(pai_route_api(NULL), 0);
    ck_assert_int_eq(pai_route_find(ut_pool, "GET", "/api/v1", params, &allow), PAI_R_API_GET);
    /* the root is exact: "/api/v1/x/.." folded by httpd is not the root */
    ck_assert_int_eq(pai_route_find(ut_pool, "GET", "/api/v1/", params, &allow), -1);
    ck_assert_ptr_null(allow);
    ck_assert_int_eq(pai_route_find(ut_pool, "GET", "/api/v1/nothing", params, &allow), -1);
    ck_assert_ptr_null(allow);
    /* every state-changing route is audited, no read is */
    for (int i = 0; i < PAI_R_COUNT; i++)
        ck_assert_msg(!strcmp(pai_routes[i].method, "GET") == !pai_routes[i].audit.action,
                      "%s %s", pai_routes[i].method, pai_routes[i].pattern);
}
END_TEST

Suite *suite_route(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("route");
    tcase_add_test(tc, route_table);
    tcase_add_test(tc, route_find);
    tcase_add_test(tc, route_for_applications);
    tcase_add_test(tc, route_cached_are_reads);
    suite_add_tcase(s, tc);
    return s;
}
