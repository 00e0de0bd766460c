/* The unit test suites of core/, one per area, run by test_main.c. */
#ifndef PAI_UNIT_TESTS_H
#define PAI_UNIT_TESTS_H
#include <check.h>
#include <apr_pools.h>
#include <apr_tables.h>

extern apr_pool_t *ut_pool;   /* cleared before each test */

struct pai_db;
/* A fresh SQLite store in a temporary file, as httpd has it (writes nest
 * under one lock), bootstrapped with vcs (NULL: `default` only) and the
 * admin root_admin/rootpass.  path: a mkstemp template, kept for close. */
void ut_db_open(struct pai_db *db, char *path, const apr_array_header_t *vcs);
void ut_db_close(struct pai_db *db, char *path, const char *template_path);

Suite *suite_auth(void);
Suite *suite_json(void);
Suite *suite_route(void);
Suite *suite_store(void);
Suite *suite_jobspec(void);
Suite *suite_vc(void);
Suite *suite_launcher(void);
Suite *suite_security(void);
Suite *suite_placement(void);
Suite *suite_yaml(void);
Suite *suite_protocol(void);
Suite *suite_image(void);
Suite *suite_jobflow(void);
Suite *suite_exitspec(void);
Suite *suite_pending(void);
Suite *suite_webhook(void);
#endif
