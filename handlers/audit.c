/* GET /api/v1/audit: the audit log for admins, newest first, paged. */
#include "handlers.h"
#include "../core/audit.h"

static void audit_emit(pai_jsonw *w, const void *rows)
{
    pai_audit_write(w, rows);
}

pai_error *pai_audit_get(pai_req *rq)
{
    pai_audit_filter f = {NULL, NULL, 0, 100};
    apr_array_header_t *rows;
    pai_error *err;

    if (rq->query) {
        f.actor = apr_table_get(rq->query, "username");
        f.action = apr_table_get(rq->query, "action");
    }
    if (f.actor && *f.actor && !pai_username_valid(f.actor))
        return pai_error_make(rq->pool, PAI_ERR_INVALID,
                              "parameter 'username' must match [_A-Za-z0-9]+");
    if ((err = pai_query_int(rq, "limit", 1, 1000, &f.limit)) ||
        (err = pai_query_int(rq, "offset", 0, 1000000000, &f.offset)) ||
        (err = pai_store_audit_page(rq->db, rq->pool, &f, &rows)))
        return err;
    pai_reply_stream(rq, audit_emit, rows);
    return NULL;
}
