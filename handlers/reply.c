/* Success results for the responder: the only way a handler answers. */
#include <apr_strings.h>
#include "handlers.h"

void pai_reply(pai_req *rq, int status, json_t *body)
{
    rq->status = status;
    rq->result = pai_json_pool(rq->pool, body);
}

void pai_reply_message(pai_req *rq, int status, const char *fmt, ...)
{
    va_list ap;
    const char *msg;

    va_start(ap, fmt);
    msg = apr_pvsprintf(rq->pool, fmt, ap);
    va_end(ap);
    pai_reply(rq, status, json_pack("{s:s}", "message", msg));
}
