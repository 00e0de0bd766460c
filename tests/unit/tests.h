/* The unit test suites of core/, one per area, run by test_main.c. */
#ifndef PAI_UNIT_TESTS_H
#define PAI_UNIT_TESTS_H
#include <check.h>
#include <apr_pools.h>

extern apr_pool_t *ut_pool;   /* cleared before each test */

Suite *suite_auth(void);
Suite *suite_json(void);
Suite *suite_route(void);
Suite *suite_store(void);
Suite *suite_jobspec(void);
Suite *suite_vc(void);
Suite *suite_launcher(void);
Suite *suite_security(void);
Suite *suite_placement(void);
Suite *suite_image(void);
Suite *suite_jobflow(void);
#endif
