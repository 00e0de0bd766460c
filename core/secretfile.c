/* Small secret files: read bounded, made once at random, mode 0600. */
#include <string.h>

#include <apr_file_io.h>
#include <apr_general.h>
#include <apr_strings.h>

#include "secretfile.h"

apr_status_t pai_secretfile_read(apr_pool_t *p, const char *path, char **out)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n;
    apr_status_t rv;
    char *buf;

    if ((rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, p)) != APR_SUCCESS)
        return rv;
    if ((rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f)) != APR_SUCCESS || fi.size > 4096) {
        apr_file_close(f);
        return rv ? rv : APR_EINVAL;
    }
    n = (apr_size_t)fi.size;
    buf = apr_palloc(p, n + 1);
    rv = apr_file_read_full(f, buf, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF)
        return rv;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    *out = buf;
    return APR_SUCCESS;
}

apr_status_t pai_secretfile_make(apr_pool_t *p, const char *path)
{
    unsigned char raw[32];
    char hex[sizeof(raw) * 2 + 2];
    apr_file_t *f;
    apr_status_t rv;
    apr_size_t i;

    if ((rv = apr_generate_random_bytes(raw, sizeof(raw))) != APR_SUCCESS)
        return rv;
    for (i = 0; i < sizeof(raw); i++)
        apr_snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[2 * sizeof(raw)] = '\n';
    hex[2 * sizeof(raw) + 1] = '\0';
    /* EXCL: two starting servers never overwrite each other's secret. */
    rv = apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_EXCL,
                       APR_FPROT_UREAD | APR_FPROT_UWRITE, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_write_full(f, hex, strlen(hex), NULL);
        apr_file_close(f);
    }
    return APR_STATUS_IS_EEXIST(rv) ? APR_SUCCESS : rv;
}
