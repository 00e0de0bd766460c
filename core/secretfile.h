/* Small secret files (the token secret, Slurm's JWT key, the first admin's
 * password): read with trailing white space dropped, or made once at random. */
#ifndef PAI_SECRETFILE_H
#define PAI_SECRETFILE_H

#include <apr_pools.h>
#include <apr_errno.h>

/* At most 4096 bytes; trailing newlines and blanks dropped.  APR_EINVAL when
 * the file is larger. */
apr_status_t pai_secretfile_read(apr_pool_t *p, const char *path, char **out);

/* 32 random bytes as hex, mode 0600, made only if the file does not exist
 * (an existing file is kept as it is: APR_SUCCESS). */
apr_status_t pai_secretfile_make(apr_pool_t *p, const char *path);

#endif
