/* Key pairs by running ssh-keygen in a private temporary folder. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_thread_proc.h>
#include <apr_general.h>
#include "sshkey.h"

static pai_error *read_all(apr_pool_t *p, const char *path, const char **out)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n;
    char *buf;

    if (apr_file_open(&f, path, APR_FOPEN_READ, 0, p) != APR_SUCCESS)
        return pai_error_make(p, PAI_ERR_INTERNAL, "ssh-keygen wrote no %s", path);
    apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    n = (apr_size_t)fi.size;
    buf = apr_palloc(p, n + 1);
    apr_file_read_full(f, buf, n, &n);
    apr_file_close(f);
    buf[n] = '\0';
    *out = buf;
    return NULL;
}

pai_error *pai_ssh_keygen(apr_pool_t *p, const char *comment, const char **private_key,
                          const char **public_key)
{
    const char *tmp, *dir, *key, *args[12];
    apr_procattr_t *attr;
    apr_proc_t proc;
    apr_exit_why_e why;
    pai_error *e = NULL;
    char *templ;
    int code = -1;

    if (apr_temp_dir_get(&tmp, p) != APR_SUCCESS)
        tmp = "/tmp";
    templ = apr_pstrcat(p, tmp, "/pairest-key-XXXXXX", NULL);
    if (!(dir = mkdtemp(templ)))
        return pai_error_make(p, PAI_ERR_INTERNAL, "cannot make a folder for a job key");
    key = apr_pstrcat(p, dir, "/key", NULL);
    args[0] = "ssh-keygen"; args[1] = "-q"; args[2] = "-t"; args[3] = "ed25519";
    args[4] = "-N"; args[5] = ""; args[6] = "-C"; args[7] = comment; args[8] = "-f";
    args[9] = key; args[10] = NULL;
    if (apr_procattr_create(&attr, p) != APR_SUCCESS ||
        apr_procattr_cmdtype_set(attr, APR_PROGRAM_PATH) != APR_SUCCESS ||
        apr_procattr_io_set(attr, APR_NO_PIPE, APR_NO_PIPE, APR_NO_PIPE) != APR_SUCCESS ||
        apr_proc_create(&proc, "ssh-keygen", args, NULL, attr, p) != APR_SUCCESS ||
        apr_proc_wait(&proc, &code, &why, APR_WAIT) != APR_CHILD_DONE || why != APR_PROC_EXIT ||
        code != 0)
        e = pai_error_make(p, PAI_ERR_INTERNAL, "ssh-keygen failed (is openssh-client installed?)");
    if (!e && !(e = read_all(p, key, private_key)))
        e = read_all(p, apr_pstrcat(p, key, ".pub", NULL), public_key);
    apr_file_remove(key, p);
    apr_file_remove(apr_pstrcat(p, key, ".pub", NULL), p);
    apr_dir_remove(dir, p);
    return e;
}

pai_error *pai_random_hex(apr_pool_t *p, const char **out)
{
    unsigned char raw[32];
    char *hex = apr_palloc(p, sizeof(raw) * 2 + 1);
    apr_size_t i;

    if (apr_generate_random_bytes(raw, sizeof(raw)) != APR_SUCCESS)
        return pai_error_make(p, PAI_ERR_INTERNAL, "no randomness");
    for (i = 0; i < sizeof(raw); i++)
        apr_snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    *out = hex;
    return NULL;
}

int pai_secret_equal(const char *a, const char *b)
{
    apr_size_t n = strlen(a), m = strlen(b), i;
    unsigned char d = (unsigned char)(n != m);
    for (i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i < m ? i : 0]);
    return d == 0 && m > 0;
}
