/* The rules behind the per-user mode: launch tags, host key fingerprints and
 * which Unix accounts may run jobs. */
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <apr_strings.h>
#include "tests.h"
#include "core/sshkey.h"
#include "core/unixacct.h"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef";

START_TEST(launch_tags_bind_job_attempt_and_account)
{
    const char *tag;

    ck_assert_ptr_null(pai_launch_tag_make(ut_pool, KEY, 32, "job1", 2, "alice", &tag));
    ck_assert_int_eq(strlen(tag), 32);
    ck_assert(pai_launch_tag_valid(ut_pool, KEY, 32, "job1", 2, "alice", tag));
    /* any other job, attempt, account or key: not ours */
    ck_assert(!pai_launch_tag_valid(ut_pool, KEY, 32, "job2", 2, "alice", tag));
    ck_assert(!pai_launch_tag_valid(ut_pool, KEY, 32, "job1", 3, "alice", tag));
    ck_assert(!pai_launch_tag_valid(ut_pool, KEY, 32, "job1", 2, "mallory", tag));
    ck_assert(!pai_launch_tag_valid(ut_pool, (const unsigned char *)"another key, 32 bytes long....", 30,
                                    "job1", 2, "alice", tag));
    ck_assert(!pai_launch_tag_valid(ut_pool, KEY, 32, "job1", 2, "alice", ""));
    ck_assert(!pai_launch_tag_valid(ut_pool, KEY, 32, "job1", 2, "alice", NULL));
    ck_assert(!pai_launch_tag_valid(ut_pool, KEY, 32, "job1", 2, "alice",
                                    "00000000000000000000000000000000"));
}
END_TEST

/* The fingerprint is OpenSSH's: checked against ssh-keygen -l on a fresh key. */
START_TEST(host_key_fingerprint_matches_ssh_keygen)
{
    char line[1024] = "", fp[256] = "", type[64], b64[512];
    FILE *f;

    ck_assert_int_eq(system("rm -f /tmp/pai-unit-hk /tmp/pai-unit-hk.pub && "
                            "ssh-keygen -q -t ed25519 -N '' -f /tmp/pai-unit-hk"), 0);
    f = popen("ssh-keygen -l -E sha256 -f /tmp/pai-unit-hk.pub | cut -d ' ' -f 2", "r");
    ck_assert_ptr_nonnull(fgets(fp, sizeof(fp), f));
    pclose(f);
    fp[strcspn(fp, "\n")] = '\0';
    f = fopen("/tmp/pai-unit-hk.pub", "r");
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    fclose(f);
    ck_assert_int_eq(sscanf(line, "%63s %511s", type, b64), 2);
    ck_assert_str_eq(pai_ssh_host_key_fingerprint(ut_pool, apr_pstrcat(ut_pool, type, " ", b64, NULL)),
                     fp);
    ck_assert_ptr_null(pai_ssh_host_key_fingerprint(ut_pool, "ssh-ed25519 not*base64"));
    ck_assert_ptr_null(pai_ssh_host_key_fingerprint(ut_pool, "ssh-dss AAAA"));
    ck_assert_ptr_null(pai_ssh_host_key_fingerprint(ut_pool, ""));
    unlink("/tmp/pai-unit-hk");
    unlink("/tmp/pai-unit-hk.pub");
}
END_TEST

START_TEST(accounts_that_may_not_run_jobs)
{
    apr_array_header_t *deny = apr_array_make(ut_pool, 1, sizeof(const char *));
    pai_account_policy pol = {1000, deny};
    const char *why;

    APR_ARRAY_PUSH(deny, const char *) = "games";
    /* numeric: Slurm reads it as a uid */
    ck_assert_ptr_nonnull(strstr(pai_unix_account_refusal(ut_pool, &pol, "0"), "numeric"));
    ck_assert_ptr_nonnull(strstr(pai_unix_account_refusal(ut_pool, &pol, "1000"), "numeric"));
    ck_assert_ptr_nonnull(strstr(pai_unix_account_refusal(ut_pool, &pol, "root"), "root"));
    ck_assert_ptr_nonnull(strstr(pai_unix_account_refusal(ut_pool, &pol, "no_such_user_xyz"),
                                 "no Unix account"));
    ck_assert_ptr_nonnull(strstr(pai_unix_account_refusal(ut_pool, &pol, "daemon"), "service"));
    ck_assert_ptr_nonnull(strstr(pai_unix_account_refusal(ut_pool, &pol, "games"),
                                 "PaiSlurmUserDeny"));
    /* below the minimum uid (a system account that is on no list) */
    why = pai_unix_account_refusal(ut_pool, &pol, "lp");
    ck_assert_msg(why && strstr(why, "system account"), "%s", why ? why : "(allowed)");
    /* the service account rule: exists, not numeric, no root-equivalent */
    ck_assert_ptr_null(pai_unix_service_account_refusal(ut_pool, "daemon"));
    ck_assert_ptr_nonnull(pai_unix_service_account_refusal(ut_pool, "root"));
    ck_assert_ptr_nonnull(pai_unix_service_account_refusal(ut_pool, "0"));
    ck_assert_ptr_nonnull(pai_unix_service_account_refusal(ut_pool, "no_such_user_xyz"));
}
END_TEST

Suite *suite_security(void)
{
    Suite *s = suite_create("security");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, launch_tags_bind_job_attempt_and_account);
    tcase_add_test(tc, host_key_fingerprint_matches_ssh_keygen);
    tcase_add_test(tc, accounts_that_may_not_run_jobs);
    suite_add_tcase(s, tc);
    return s;
}
