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

Suite *suite_route(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("route");
    tcase_add_test(tc, route_table);
    suite_add_tcase(s, tc);
    return s;
}
