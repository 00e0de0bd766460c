/* Path patterns for the routing table: "/api/v1/jobs/:jobName" style. */
#ifndef PAI_ROUTE_H
#define PAI_ROUTE_H

#include <apr_pools.h>

#define PAI_ROUTE_MAX_PARAMS 4

/* 1 when path matches pattern (one trailing slash tolerated); the :params
 * are copied into params[] in order.  A :param matches one non-empty segment. */
int pai_route_match(apr_pool_t *p, const char *pattern, const char *path,
                    const char *params[PAI_ROUTE_MAX_PARAMS]);

#endif
