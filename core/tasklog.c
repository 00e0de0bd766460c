/* Opening a task's log for httpd without trusting the job's folders: each
 * step is an openat() that follows no link, checked against the account. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <apr_strings.h>
#include <apr_portable.h>
#include "tasklog.h"

const char *pai_tasklog_file(apr_pool_t *p, const char *task, const char *which)
{
    if (!strcmp(which, PAI_TASKLOG_STDOUT))
        return apr_pstrcat(p, task, ".out", NULL);
    if (!strcmp(which, PAI_TASKLOG_STDERR))
        return apr_pstrcat(p, task, ".err", NULL);
    if (!strcmp(which, PAI_TASKLOG_ALL))
        return apr_pstrcat(p, task, ".all", NULL);
    return NULL;
}

static apr_status_t tasklog_close_fd(void *data)
{
    close((int)(intptr_t)data);
    return APR_SUCCESS;
}

/* fd of name in dir, opened without following a link; its owner uid and its
 * type (S_IFDIR or S_IFREG) checked.  -1 with *why set otherwise. */
static int tasklog_openat(apr_pool_t *p, int dir, const char *name, int flags, mode_t type,
                          uid_t uid, const char **why, int *absent)
{
    struct stat st;
    int fd = openat(dir, name, flags | O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        *absent = errno == ENOENT;
        *why = errno == ENOENT ? apr_psprintf(p, "%s does not exist (yet)", name)
             : errno == ELOOP || errno == ENOTDIR
               ? apr_psprintf(p, "%s is a link or not a folder", name)
             : apr_psprintf(p, "%s cannot be opened (%s)", name, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || (st.st_mode & S_IFMT) != type || st.st_uid != uid) {
        close(fd);
        *why = apr_psprintf(p, "%s is not a %s of the job's account", name,
                            type == S_IFDIR ? "folder" : "regular file");
        return -1;
    }
    return fd;
}

pai_error *pai_tasklog_open(apr_pool_t *p, const pai_tasklog_where *w, apr_file_t **f,
                            apr_off_t *size, int *absent)
{
    const char *file = pai_tasklog_file(p, w->task, w->which), *why = NULL;
    const char *steps[3];
    struct passwd pw, *found = NULL;
    char buf[4096], created[40];
    struct stat st;
    int fd, next, i;
    ssize_t n;

    *absent = 0;
    if (!file)
        return pai_error_make(p, PAI_ERR_NO_TASK_LOG, "no log named %s: stdout, stderr or all",
                              w->which);
    if (getpwnam_r(w->account, &pw, buf, sizeof(buf), &found) != 0 || !found)
        return pai_error_make(p, PAI_ERR_NO_TASK_LOG, "the job's account %s is unknown here",
                              w->account);
    fd = open(w->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return pai_error_make(p, PAI_ERR_NO_TASK_LOG, "the job folders cannot be read (%s)",
                              strerror(errno));
    steps[0] = w->account;
    steps[1] = w->job;
    steps[2] = apr_psprintf(p, "attempt-%d", w->attempt);
    for (i = 0; i < 3; i++) {
        next = tasklog_openat(p, fd, steps[i], O_DIRECTORY, S_IFDIR, pw.pw_uid, &why,
                              absent);
        /* The job's folder may still be an earlier job's of the same name
         * (a new job's batch script moves it aside when it starts). */
        if (next >= 0 && i == 1) {
            int c = tasklog_openat(p, next, ".pai-created", 0, S_IFREG, pw.pw_uid, &why,
                                   absent);
            n = c >= 0 ? read(c, created, sizeof(created) - 1) : -1;
            if (c >= 0)
                close(c);
            created[n > 0 ? n : 0] = 0;
            if (apr_atoi64(created) != w->job_created) {
                close(next);
                next = -1;
                *absent = 1;
                why = apr_psprintf(p, "the folder of job %s is not this job's yet", w->job);
            }
        }
        close(fd);
        if (next < 0)
            return pai_error_make(p, PAI_ERR_NO_TASK_LOG, "no log of task %s: %s", w->task,
                                  why);
        fd = next;
    }
    next = tasklog_openat(p, fd, file, 0, S_IFREG, pw.pw_uid, &why, absent);
    close(fd);
    if (next < 0)
        return pai_error_make(p, PAI_ERR_NO_TASK_LOG, "no log of task %s: %s", w->task, why);
    /* A regular file: reads never block, but APR's reads want blocking mode. */
    fcntl(next, F_SETFL, fcntl(next, F_GETFL) & ~O_NONBLOCK);
    if (fstat(next, &st) != 0) {
        close(next);
        return pai_error_make(p, PAI_ERR_NO_TASK_LOG, "no log of task %s: %s", w->task,
                              strerror(errno));
    }
    apr_pool_cleanup_register(p, (void *)(intptr_t)next, tasklog_close_fd,
                              apr_pool_cleanup_null);
    apr_os_file_put(f, &next, APR_FOPEN_READ | APR_FOPEN_SENDFILE_ENABLED, p);
    *size = (apr_off_t)st.st_size;
    return NULL;
}

void pai_tasklog_span(apr_off_t size, apr_int64_t tail, int tail_mode, apr_off_t *offset,
                      apr_off_t *length)
{
    apr_off_t want = tail_mode ? PAI_TASKLOG_TAIL_BYTES : tail >= 0 ? (apr_off_t)tail : size;

    if (want > size)
        want = size;
    *offset = size - want;
    *length = want;
}
