/* core/exitspec.c: each way an attempt ends gets its exit spec, platform
 * failures (and only they) are retried without counting. */
#include <string.h>
#include "tests.h"
#include "core/exitspec.h"

static const pai_exit_spec *classify(const char *state, const char *sub, int code,
                                     const char *why, int stop)
{
    return pai_exit_classify(state, sub, 1, code, why, stop);
}

START_TEST(each_outcome_has_its_spec)
{
    static const struct {
        const char *state, *sub, *why;
        int code, stop;
        const char *phrase, *type;
        int platform;
    } cases[] = {
        {"SUCCEEDED", "COMPLETED", "", 0, 0, "Succeeded", "USER_SUCCESS", 0},
        {"STOPPED", "CANCELLED", "stop", 0, 1, "StopFrameworkRequested", "USER_STOP", 0},
        {"STOPPED", "CANCELLED", "", 0, 0, "JobCancelledOutside", "USER_STOP", 0},
        {"STOPPED", "", "ended", 143, 0, "FrameworkAttemptCompletion", "USER_STOP", 0},
        {"FAILED", "NODE_FAIL", "", 0, 0, "NodeFailed", "PLATFORM_FAILURE", 1},
        /* Slurm's word on the job comes before the task's: a lost node
         * fails the task too. */
        {"FAILED", "NODE_FAIL", "exit143", 143, 0, "NodeFailed", "PLATFORM_FAILURE", 1},
        {"FAILED", "LOST", "", 0, 0, "JobLost", "PLATFORM_FAILURE", 1},
        {"FAILED", "FAILED", "nostart", 70, 0, "TaskNeverStarted", "PLATFORM_FAILURE", 1},
        {"FAILED", "FAILED", "image-missing", 71, 0, "ContainerCreationError",
         "PLATFORM_FAILURE", 1},
        {"FAILED", "FAILED", "image-unreachable", 71, 0, "ContainerImagePullFailed",
         "UNKNOWN_FAILURE", 0},
        {"FAILED", "FAILED", "image-notfound", 71, 0, "ContainerImageNotExists", "USER_FAILURE", 0},
        {"FAILED", "FAILED", "image-auth", 71, 0, "ContainerImageAuthFailed", "USER_FAILURE", 0},
        {"FAILED", "FAILED", "folder", 70, 0, "JobFolderRefused", "PLATFORM_FAILURE", 0},
        {"FAILED", "TIMEOUT", "", 0, 0, "JobTimeLimitExceeded", "USER_FAILURE", 0},
        {"FAILED", "OUT_OF_MEMORY", "", 0, 0, "UserContainerOOMKilled", "USER_FAILURE", 0},
        {"FAILED", "FAILED", "oom", 137, 0, "UserContainerOOMKilled", "USER_FAILURE", 0},
        {"FAILED", "FAILED", "exit3", 3, 0, "UserCommandExitWithError", "USER_FAILURE", 0},
        {"FAILED", "FAILED", "exit139", 139, 0, "ContainerSigSegvReceived", "USER_FAILURE", 0},
        {"FAILED", "REFUSED", "", 0, 0, "CreateFrameworkPermanentFailed", "USER_FAILURE", 0},
        {"FAILED", "FAILED", "", 0, 0, "UnknownFailure", "UNKNOWN_FAILURE", 0},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const pai_exit_spec *x = classify(cases[i].state, cases[i].sub, cases[i].code,
                                          cases[i].why, cases[i].stop);
        json_t *o = pai_exit_spec_json(x, cases[i].code);
        ck_assert_msg(x != NULL, "case %zu", i);
        ck_assert_msg(!strcmp(json_string_value(json_object_get(o, "phrase")), cases[i].phrase),
                      "case %zu: %s", i, json_string_value(json_object_get(o, "phrase")));
        ck_assert_str_eq(json_string_value(json_object_get(o, "type")), cases[i].type);
        ck_assert_int_eq(pai_exit_platform_transient(x), cases[i].platform);
        ck_assert(json_is_array(json_object_get(o, "repro")));
        json_decref(o);
    }
}
END_TEST

START_TEST(a_plain_exit_keeps_its_code_and_running_has_none)
{
    json_t *o = pai_exit_spec_json(classify("FAILED", "FAILED", 3, "exit3", 0), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "code")), 3);
    json_decref(o);
    o = pai_exit_spec_json(classify("STOPPED", "CANCELLED", 0, "stop", 1), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "code")), -210);
    json_decref(o);
    ck_assert_ptr_null(classify("RUNNING", "RUNNING", 0, "", 0));
    ck_assert_ptr_null(classify("WAITING", "QUEUED", 0, "", 0));
    o = pai_exit_spec_json(NULL, 0);
    ck_assert(json_is_null(o));
    json_decref(o);
}
END_TEST

START_TEST(words_read_as_sentences)
{
    ck_assert_str_eq(pai_exit_why_text(ut_pool, "oom", NULL),
                     "ran out of memory (killed past its memoryMB)");
    ck_assert_str_eq(pai_exit_why_text(ut_pool, "image-notfound", "busybox:nope"),
                     "could not start: image busybox:nope: the registry has no such image or tag");
    ck_assert_str_eq(pai_exit_why_text(ut_pool, "exit3", NULL), "exited with code 3");
    ck_assert_str_eq(pai_exit_why_text(ut_pool, "", NULL), "");
}
END_TEST

Suite *suite_exitspec(void)
{
    Suite *s = suite_create("exitspec");
    TCase *t = tcase_create("classify");
    tcase_add_test(t, each_outcome_has_its_spec);
    tcase_add_test(t, a_plain_exit_keeps_its_code_and_running_has_none);
    tcase_add_test(t, words_read_as_sentences);
    suite_add_tcase(s, t);
    return s;
}
