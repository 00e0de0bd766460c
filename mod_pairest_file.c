/* Sending a part of a file a handler opened (a task's log): httpd sends it
 * from the file (sendfile, no copy in memory), answers Range requests itself
 * (the byterange filter), and with follow keeps sending what the file gains. */
#include <httpd.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_filter.h>
#include <apr_buckets.h>
#include "mod_pairest.h"

static apr_status_t pai_file_send(request_rec *r, apr_bucket_brigade *bb, apr_file_t *f,
                                  apr_off_t offset, apr_off_t length, int flush, int eos)
{
    conn_rec *c = r->connection;
    apr_status_t rv;

    if (length > 0)
        apr_brigade_insert_file(bb, f, offset, length, r->pool);
    if (flush)
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(c->bucket_alloc));
    if (eos)
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(c->bucket_alloc));
    rv = ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
    return rv;
}

typedef struct pai_file_live_args {
    pai_req *rq;
    int live;
} pai_file_live_args;

static pai_error *pai_file_live_on(pai_db *db, apr_pool_t *p, void *baton)
{
    pai_file_live_args *a = baton;
    /* The handler's follow context reads the database through rq->db. */
    *a->rq->db = *db;
    a->live = a->rq->follow_live(a->rq, p);
    return NULL;
}

/* Whether the file's writer may still write it: asked at most every
 * PAI_FOLLOW_LIVE_MS (*next_check; 1 between looks), on a database
 * connection of its own for the moment: the request gave its own back (a
 * follower may stay PaiLogFollowSeconds; a process has DBDMax for all).
 * Unknown (no database) counts as live: the follow's bound ends it. */
static int pai_file_live(request_rec *r, pai_req *rq, apr_pool_t *scratch,
                         apr_time_t *next_check)
{
    pai_file_live_args a = {rq, 1};

    if (apr_time_now() < *next_check)
        return 1;
    (void)pai_with_db(r->server, scratch, pai_file_live_on, &a);
    apr_pool_clear(scratch);
    *next_check = apr_time_now() + apr_time_from_msec(PAI_FOLLOW_LIVE_MS);
    return a.live;
}

pai_error *pai_file_await(request_rec *r, pai_req *rq, int follow_seconds)
{
    int secs = follow_seconds < PAI_FOLLOW_AWAIT_SECS ? follow_seconds : PAI_FOLLOW_AWAIT_SECS;
    apr_time_t until = apr_time_now() + apr_time_from_sec(secs);
    apr_time_t next_check = apr_time_now() + apr_time_from_msec(PAI_FOLLOW_LIVE_MS);
    apr_pool_t *scratch;
    pai_error *err;
    int absent = 1;

    apr_pool_create(&scratch, r->pool);
    for (;;) {
        apr_sleep(apr_time_from_msec(PAI_FOLLOW_POLL_MS));
        err = rq->follow_open(rq, &absent);
        if (!err || !absent || apr_time_now() >= until)
            break;
        /* One more look after the writer ended: it may have made the file
         * last thing. */
        if (!pai_file_live(r, rq, scratch, &next_check)) {
            err = rq->follow_open(rq, &absent);
            break;
        }
    }
    apr_pool_destroy(scratch);
    return err;
}

/* What the file holds past *sent, sent as it comes, until the writer is done
 * (then once more, for its last words), the client leaves, or the bound. */
static void pai_file_follow(request_rec *r, pai_req *rq, apr_bucket_brigade *bb,
                            apr_off_t sent, int seconds)
{
    apr_time_t until = apr_time_now() + apr_time_from_sec(seconds);
    apr_time_t next_check = 0;
    apr_pool_t *scratch;
    apr_finfo_t fi;
    int live = 1, last = 0;

    apr_pool_create(&scratch, r->pool);

    for (;;) {
        if (apr_file_info_get(&fi, APR_FINFO_SIZE, rq->file) != APR_SUCCESS)
            break;
        /* A file cut short (truncated) is read again from its new end. */
        if (fi.size < sent)
            sent = fi.size;
        if (fi.size > sent || !live) {
            if (pai_file_send(r, bb, rq->file, sent, fi.size - sent, 1, 0) != APR_SUCCESS ||
                r->connection->aborted)
                return;
            sent = fi.size;
        }
        if (last || apr_time_now() >= until)
            break;
        /* One more look after the writer ended: what it wrote last. */
        if (!(live = pai_file_live(r, rq, scratch, &next_check))) {
            last = 1;
            continue;
        }
        apr_sleep(apr_time_from_msec(PAI_FOLLOW_POLL_MS));
    }
    pai_file_send(r, bb, rq->file, 0, 0, 0, 1);
}

int pai_render_file(request_rec *r, pai_req *rq, int follow_seconds)
{
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);

    r->status = rq->status;
    ap_set_content_type(r, rq->text_type ? rq->text_type : "text/plain; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    if (r->header_only)
        return OK;
    if (!rq->follow) {
        /* A known length and one brigade with its end: Range is httpd's. */
        apr_table_setn(r->headers_out, "Accept-Ranges", "bytes");
        ap_set_content_length(r, rq->file_length);
        if (pai_file_send(r, bb, rq->file, rq->file_offset, rq->file_length, 0, 1)
            != APR_SUCCESS)
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "PAI0301: the client left during %s",
                          r->uri);
        return OK;
    }
    /* Followed: no length (chunked), no ranges. */
    apr_table_unset(r->headers_in, "Range");
    if (pai_file_send(r, bb, rq->file, rq->file_offset, rq->file_length, 1, 0) != APR_SUCCESS)
        return OK;
    pai_file_follow(r, rq, bb, rq->file_offset + rq->file_length, follow_seconds);
    return OK;
}
