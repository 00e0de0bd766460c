/* The batch script of an attempt, run by bash with a stand-in srun: a step
 * that could not start is tried again; a task that ran keeps its exit status;
 * the job folder must be the account's own; no value reaches a command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include "tests.h"
#include "core/jobspec.h"
#include "core/json.h"
#include "core/launcher.h"

/* Fails the first FAKE_FAILS calls of each task the way srun does while
 * slurmctld is away (before the task starts), then runs the task. */
static const char fake_srun[] =
    "#!/bin/bash\n"
    "for a; do case $a in --job-name=*) task=${a#--job-name=};; esac; done\n"
    "tries=\"$FAKE_DIR/$task.tries\"\n"
    "n=$(cat \"$tries\" 2>/dev/null || echo 0); echo $((n + 1)) > \"$tries\"\n"
    "printf '%s\\n' \"$*\" >> \"$FAKE_DIR/argv\"\n"
    "if [ \"$n\" -lt \"${FAKE_SILENT:-0}\" ]; then exit 0; fi\n"
    "if [ \"$n\" -lt \"$FAKE_FAILS\" ]; then\n"
    "  echo 'srun: error: Unable to confirm allocation for job 1: Unable to contact"
    " slurm controller (connect failure)' >&2\n"
    "  exit 1\n"
    "fi\n"
    "while [ \"${1#--}\" != \"$1\" ]; do shift; done\n"
    "exec \"$@\"\n";

static char *write_file(const char *dir, const char *name, const char *text)
{
    char *path = apr_pstrcat(ut_pool, dir, "/", name, NULL);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* The text of dir/name, or "" when there is no such file. */
static char *read_in(const char *dir, const char *name)
{
    const char *path = apr_pstrcat(ut_pool, dir, "/", name, NULL);
    char *text = NULL;
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n;

    if (apr_file_open(&f, path, APR_FOPEN_READ, 0, ut_pool) != APR_SUCCESS)
        return "";
    apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    n = (apr_size_t)fi.size;
    text = apr_pcalloc(ut_pool, n + 1);
    apr_file_read_full(f, text, n, &n);
    apr_file_close(f);
    return text;
}

/* Runs the batch script of `config` with the stand-in srun; its exit status.
 * The first `fails` calls of each task fail; the first `silent` ones exit 0
 * without running the task (as srun does when slurmd fails the launch). */
static int run_batch_full(const char *dir, const char *config, int fails, int silent,
                          int dir_mode)
{
    pai_jobspec *spec;
    pai_error *e;
    pai_slurm_conf conf = {.log_dir = dir, .job_user = "unit"};
    pai_launch l = {.username = "alice", .port_base = 20000};
    const char *acct = apr_pstrcat(ut_pool, dir, "/unit", NULL);
    json_t *j = pai_json_parse(ut_pool, config, strlen(config), &e);
    char *script, *cmd;
    int rc;

    ck_assert_ptr_nonnull(j);
    ck_assert_ptr_null(pai_jobspec_parse(ut_pool, j, &spec));
    l.spec = spec;
    /* The account's folder, as Slurm's prolog makes it. */
    ck_assert_int_eq(mkdir(acct, 0700), 0);
    ck_assert_int_eq(chmod(acct, (mode_t)dir_mode), 0);
    script = write_file(dir, "batch.sh", pai_slurm_batch_script(ut_pool, &conf, &l));
    mkdir(apr_pstrcat(ut_pool, dir, "/bin", NULL), 0700);
    chmod(write_file(dir, "bin/srun", fake_srun), 0700);
    cmd = apr_psprintf(ut_pool, "PATH=%s/bin:$PATH FAKE_DIR=%s FAKE_FAILS=%d FAKE_SILENT=%d "
                       "bash %s", dir, dir, fails, silent, script);
    rc = system(cmd);
    ck_assert(WIFEXITED(rc));
    return WEXITSTATUS(rc);
}

static int run_batch_mode(const char *dir, const char *config, int fails, int dir_mode)
{
    return run_batch_full(dir, config, fails, 0, dir_mode);
}

static int run_batch(const char *dir, const char *config, int fails)
{
    return run_batch_mode(dir, config, fails, 0700);
}

static char *temp_dir(void)
{
    char *dir = apr_pstrdup(ut_pool, "/tmp/pai-unit-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

static void remove_dir(const char *dir)
{
    ck_assert_int_eq(system(apr_pstrcat(ut_pool, "rm -rf ", dir, NULL)), 0);
}

START_TEST(step_that_did_not_start_is_tried_again)
{
    char *dir = temp_dir();
    int rc = run_batch(dir, "{\"jobName\":\"j1\",\"image\":\"i\",\"taskRoles\":[{\"name\":\"a\",\"taskNumber\":2,"
                       "\"command\":\"echo ran-$PAI_TASK_INDEX >> $FAKE_DIR/ran\"}]}", 1);
    char *log = read_in(dir, "unit/j1/attempt-0/batch.log");

    ck_assert_int_eq(rc, 0);
    ck_assert_msg(strstr(log, "the step of task a-0 did not start (srun exit 1)"), "%s", log);
    ck_assert_msg(strstr(log, "verdict succeeded"), "%s", log);
    ck_assert_str_eq(read_in(dir, "a-0.tries"), "2\n");
    ck_assert_str_eq(read_in(dir, "a-1.tries"), "2\n");
    /* each task ran once */
    ck_assert_int_eq(strlen(read_in(dir, "ran")), strlen("ran-0\nran-1\n"));
    remove_dir(dir);
}
END_TEST

/* slurmd can fail a launch and srun still exit 0: a task that never ran has
 * not succeeded; its step is made again. */
START_TEST(step_whose_task_never_starts_is_made_again)
{
    char *dir = temp_dir();
    int rc = run_batch_full(dir, "{\"jobName\":\"j5\",\"image\":\"i\",\"taskRoles\":[{\"name\":"
                            "\"a\",\"command\":\"echo ran >> $FAKE_DIR/ran\"}]}", 0, 1, 0700);
    char *log = read_in(dir, "unit/j5/attempt-0/batch.log");

    ck_assert_int_eq(rc, 0);
    ck_assert_msg(strstr(log, "the step of task a-0 did not start (srun exit 0)"), "%s", log);
    ck_assert_msg(strstr(log, "verdict succeeded"), "%s", log);
    ck_assert_str_eq(read_in(dir, "a-0.tries"), "2\n");
    ck_assert_str_eq(read_in(dir, "ran"), "ran\n");
    remove_dir(dir);
}
END_TEST

START_TEST(task_that_ran_keeps_its_failure)
{
    char *dir = temp_dir();
    int rc = run_batch(dir, "{\"jobName\":\"j2\",\"image\":\"i\",\"taskRoles\":[{\"name\":\"a\","
                       "\"command\":\"exit 3\"}]}", 0);
    char *log = read_in(dir, "unit/j2/attempt-0/batch.log");

    ck_assert_int_eq(rc, 3);
    ck_assert_msg(!strstr(log, "did not start"), "%s", log);
    ck_assert_msg(strstr(log, "verdict failed, first failure code 3"), "%s", log);
    ck_assert_str_eq(read_in(dir, "a-0.tries"), "1\n");
    remove_dir(dir);
}
END_TEST

/* A folder others may write (or that is not the account's) is refused
 * before anything runs: whoever controls it could swap what the tasks run. */
START_TEST(folder_open_to_others_is_refused)
{
    char *dir = temp_dir();
    int rc = run_batch_mode(dir, "{\"jobName\":\"j3\",\"image\":\"i\",\"taskRoles\":[{\"name\":\"a\","
                            "\"command\":\"echo ran >> $FAKE_DIR/ran\"}]}", 0, 0777);

    ck_assert_int_eq(rc, 70);
    ck_assert_str_eq(read_in(dir, "ran"), "");
    ck_assert_str_eq(read_in(dir, "a-0.tries"), "");
    remove_dir(dir);
}
END_TEST

/* jobEnvs values and the PAI_* set reach the task through its environment,
 * never srun's command line (which every local account can read). */
START_TEST(values_never_on_a_command_line)
{
    char *dir = temp_dir();
    int rc = run_batch(dir, "{\"jobName\":\"j4\",\"image\":\"i\",\"jobEnvs\":{\"TOKEN\":"
                       "\"v-4711-secret\"},\"taskRoles\":[{\"name\":\"a\",\"taskNumber\":2,"
                       "\"command\":\"echo $TOKEN $PAI_TASK_INDEX $PAI_JOB_NAME >> $FAKE_DIR/ran\"}]}", 0);
    char *argv = read_in(dir, "argv"), *ran = read_in(dir, "ran");

    ck_assert_int_eq(rc, 0);
    ck_assert_msg(strstr(ran, "v-4711-secret 0 j4") && strstr(ran, "v-4711-secret 1 j4"), "%s", ran);
    ck_assert_msg(*argv && !strstr(argv, "v-4711-secret") && !strstr(argv, "PAI_JOB_NAME=") &&
                  !strstr(argv, "TOKEN="), "%s", argv);
    remove_dir(dir);
}
END_TEST

/* With containers the script names the canonical image and the folders the
 * containers bind (the job folder root, then plain absolute dataDir etc.),
 * and carries the container runtime; without, it names none. */
START_TEST(container_data_in_the_script)
{
    const char *config = "{\"jobName\":\"j5\",\"image\":\"ubuntu:22.04\","
        "\"dataDir\":\"/data/set\",\"outputDir\":\"hdfs://nn/out\",\"codeDir\":\"/a;b\","
        "\"taskRoles\":[{\"name\":\"a\",\"command\":\"true\"}]}";
    pai_jobspec *spec;
    pai_error *e;
    pai_slurm_conf conf = {.log_dir = "/srv/jobs", .job_user = "unit", .containers = 1};
    pai_launch l = {.username = "alice", .port_base = 20000};
    json_t *j = pai_json_parse(ut_pool, config, strlen(config), &e);
    const char *script;

    ck_assert_ptr_null(pai_jobspec_parse(ut_pool, j, &spec));
    l.spec = spec;
    script = pai_slurm_batch_script(ut_pool, &conf, &l);
    ck_assert_ptr_nonnull(strstr(script, "\npai_image='docker.io/library/ubuntu:22.04'\n"));
    ck_assert_ptr_nonnull(strstr(script, "\npai_ctr_mounts=( '/srv/jobs' '/data/set' )\n"));
    ck_assert_ptr_nonnull(strstr(script, "pai_write_container_runtime() {"));
    ck_assert_ptr_nonnull(strstr(script, ";image=docker.io/library/ubuntu:22.04;"
                                         "mounts=/srv/jobs,/data/set'"));
    conf.containers = 0;
    script = pai_slurm_batch_script(ut_pool, &conf, &l);
    ck_assert_ptr_nonnull(strstr(script, "\npai_image=''\n"));
    ck_assert_ptr_null(strstr(script, "pai_write_container_runtime() {"));
    ck_assert_ptr_null(strstr(script, ";image="));
}
END_TEST

Suite *suite_launcher(void)
{
    Suite *s = suite_create("launcher");
    TCase *tc = tcase_create("batch script");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, step_that_did_not_start_is_tried_again);
    tcase_add_test(tc, task_that_ran_keeps_its_failure);
    tcase_add_test(tc, step_whose_task_never_starts_is_made_again);
    tcase_add_test(tc, folder_open_to_others_is_refused);
    tcase_add_test(tc, values_never_on_a_command_line);
    tcase_add_test(tc, container_data_in_the_script);
    suite_add_tcase(s, tc);
    return s;
}
