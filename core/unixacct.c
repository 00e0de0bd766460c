/* The Unix account rule for jobs: the system's user database decides, never
 * the name alone. */
#include <pwd.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <apr_strings.h>
#include "unixacct.h"

const char *const pai_account_always_denied[] = {
    "root", "daemon", "bin", "sys", "sync", "nobody", "nogroup", "www-data", "slurm", "munge",
    "mysql", "mariadb", "postgres", "sshd", "messagebus", "systemd-network", NULL
};

static int all_digits(const char *s)
{
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* getpwnam_r into the pool; NULL when there is no such account. */
static struct passwd *account_lookup(apr_pool_t *p, const char *name)
{
    struct passwd *pw = apr_palloc(p, sizeof(*pw)), *res = NULL;
    long n = sysconf(_SC_GETPW_R_SIZE_MAX);
    apr_size_t len = n > 0 ? (apr_size_t)n : 16384;
    char *buf = apr_palloc(p, len);

    if (getpwnam_r(name, pw, buf, len, &res) != 0 || !res)
        return NULL;
    return res;
}

static const char *account_basic_refusal(apr_pool_t *p, const char *name, struct passwd **pw)
{
    if (!name || !*name)
        return "no account name";
    if (all_digits(name))
        return apr_psprintf(p, "'%s' is numeric, which Slurm would read as a uid", name);
    if (!(*pw = account_lookup(p, name)))
        return apr_psprintf(p, "there is no Unix account named %s", name);
    if ((*pw)->pw_uid == 0 || (*pw)->pw_gid == 0)
        return apr_psprintf(p, "the Unix account %s is root or in root's group", name);
    return NULL;
}

const char *pai_unix_account_refusal(apr_pool_t *p, const pai_account_policy *pol,
                                     const char *name)
{
    struct passwd *pw = NULL;
    const char *why = account_basic_refusal(p, name, &pw);
    int i;

    if (why)
        return why;
    for (i = 0; pai_account_always_denied[i]; i++)
        if (!strcmp(name, pai_account_always_denied[i]))
            return apr_psprintf(p, "%s is a service account of the system", name);
    for (i = 0; pol->deny && i < pol->deny->nelts; i++)
        if (!strcmp(name, APR_ARRAY_IDX(pol->deny, i, const char *)))
            return apr_psprintf(p, "%s is a service account (PaiSlurmUserDeny)", name);
    if ((long)pw->pw_uid < (long)pol->min_uid)
        return apr_psprintf(p, "%s is a system account (uid %ld, below PaiSlurmUserMinUid %d)",
                            name, (long)pw->pw_uid, pol->min_uid);
    return NULL;
}

const char *pai_unix_service_account_refusal(apr_pool_t *p, const char *name)
{
    struct passwd *pw = NULL;
    return account_basic_refusal(p, name, &pw);
}
