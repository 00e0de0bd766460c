/* Shared set-up for the libFuzzer targets: APR once, and one pool per input
 * (fuzz_pool), cleared when the target returns through FUZZ_DONE so that the
 * leak check at exit sees what the code under test really leaked. */
#ifndef PAI_FUZZ_H
#define PAI_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>

static apr_pool_t *fuzz_pool(void)
{
    static apr_pool_t *root;
    static apr_pool_t *p;
    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
        apr_pool_create(&p, root);
    }
    return p;
}

#define FUZZ_DONE(p) do { apr_pool_clear(p); return 0; } while (0)

/* The input as a NUL-terminated string (what httpd hands the module). */
static char *fuzz_cstr(apr_pool_t *p, const uint8_t *data, size_t size)
{
    char *s = apr_palloc(p, size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
