/* Runs every unit suite of core/ (Check). */
#include <stdlib.h>
#include <apr_general.h>
#include <apu.h>
#include <apr_dbd.h>
#include <string.h>
#include <unistd.h>
#include <apr_hash.h>
#include <apr_thread_mutex.h>
#include "tests.h"
#include "core/account.h"

apr_pool_t *ut_pool;

void ut_db_open(pai_db *db, char *path, const apr_array_header_t *vcs)
{
    const char *err = NULL;
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(apr_dbd_get_driver(ut_pool, "sqlite3", &db->driver), APR_SUCCESS);
    ck_assert_int_eq(apr_dbd_open_ex(db->driver, ut_pool, path, &db->handle, &err), APR_SUCCESS);
    db->prepared = apr_hash_make(ut_pool);
    db->conn_pool = ut_pool;
    db->in_tx = 0;
    db->deadlocked = 0;
    /* as httpd has it for SQLite: writes, transactions included, nest */
    ck_assert_int_eq(apr_thread_mutex_create(&db->write_lock, APR_THREAD_MUTEX_NESTED, ut_pool),
                     APR_SUCCESS);
    ck_assert_ptr_null(pai_account_bootstrap(db, ut_pool, vcs, "root_admin", "rootpass", 4));
}

void ut_db_close(pai_db *db, char *path, const char *template_path)
{
    apr_dbd_close(db->driver, db->handle);
    unlink(path);
    strcpy(path, template_path);
}

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
    srunner_add_suite(sr, suite_yaml());
    srunner_add_suite(sr, suite_exitspec());
    srunner_add_suite(sr, suite_pending());
    srunner_add_suite(sr, suite_webhook());
    srunner_add_suite(sr, suite_protocol());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
