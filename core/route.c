/* Matching request paths against the routing table's patterns. */
#include <string.h>
#include <apr_strings.h>
#include "route.h"

int pai_route_match(apr_pool_t *p, const char *pattern, const char *path,
                    const char *params[PAI_ROUTE_MAX_PARAMS])
{
    const char *pt = pattern, *pa = path;
    int n = 0;

    while (*pt && *pa) {
        if (*pt == ':') {
            const char *seg_end = strchr(pa, '/');
            apr_size_t len = seg_end ? (apr_size_t)(seg_end - pa) : strlen(pa);
            if (len == 0 || n >= PAI_ROUTE_MAX_PARAMS)
                return 0;
            params[n++] = apr_pstrmemdup(p, pa, len);
            pa += len;
            while (*pt && *pt != '/')
                pt++;
        }
        else if (*pt++ != *pa++) {
            return 0;
        }
    }
    if (*pt)
        return 0;
    return *pa == '\0' || (pa[0] == '/' && pa[1] == '\0');
}
