/* Which Unix accounts may run jobs: the rule behind PaiSlurmUserMapping
 * same-name, read from the system's user database. */
#ifndef PAI_UNIXACCT_H
#define PAI_UNIXACCT_H

#include <apr_pools.h>
#include <apr_tables.h>

#define PAI_DEF_MIN_UID 1000

typedef struct pai_account_policy {
    int min_uid;                       /* accounts below it are the system's */
    const apr_array_header_t *deny;    /* const char *: accounts never used for jobs */
} pai_account_policy;

/* Service accounts that never run a user's job, whatever the deny list says:
 * root-equivalents (munge can forge any user to Slurm), the daemons of the
 * stack and the database, and the system's own. */
extern const char *const pai_account_always_denied[];

/* NULL when jobs may run as `name`; else a sentence saying why not.  Refused:
 * numeric names (Slurm reads them as uids), names without an account, uid or
 * gid 0, uids below min_uid, and denied names. */
const char *pai_unix_account_refusal(apr_pool_t *p, const pai_account_policy *pol,
                                     const char *name);
/* NULL when `name` may be the one service account of every job (mode
 * service): it exists, is not numeric and not root-equivalent. */
const char *pai_unix_service_account_refusal(apr_pool_t *p, const char *name);

#endif
