/* The audit log's record of one call, built from its route's description so
 * the glue needs no per-endpoint knowledge; and its JSON view for admins. */
#ifndef PAI_AUDIT_H
#define PAI_AUDIT_H

#include "json.h"
#include "route.h"
#include "store.h"

/* error_name/message NULL on success.  Never reads a password. */
pai_audit_row *pai_audit_describe(apr_pool_t *p, const pai_route *rt,
                                  const char *const params[PAI_ROUTE_MAX_PARAMS],
                                  const json_t *body, const char *actor, const char *address,
                                  int status, const char *error_name, const char *message,
                                  apr_int64_t now_ms);
/* An array of pai_audit_row written as a JSON array. */
void pai_audit_write(pai_jsonw *w, const apr_array_header_t *rows);

#endif
