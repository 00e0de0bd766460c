/* Runs every unit suite of core/ (Check). */
#include <stdlib.h>
#include <apr_general.h>
#include <apu.h>
#include <apr_dbd.h>
#include "tests.h"

apr_pool_t *ut_pool;

int main(void)
{
    SRunner *sr;
    int failed;

    apr_initialize();
    apr_pool_create(&ut_pool, NULL);
    apr_dbd_init(ut_pool);
    sr = srunner_create(suite_auth());
    srunner_add_suite(sr, suite_json());
    srunner_add_suite(sr, suite_route());
    srunner_add_suite(sr, suite_store());
    srunner_add_suite(sr, suite_jobspec());
    srunner_add_suite(sr, suite_vc());
    srunner_add_suite(sr, suite_launcher());
    srunner_add_suite(sr, suite_security());
    srunner_add_suite(sr, suite_placement());
    srunner_add_suite(sr, suite_image());
    srunner_add_suite(sr, suite_jobflow());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
