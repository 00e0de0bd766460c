/* The change stream's sending (GET /api/v2/events/stream): one reader thread
 * per process fills its window of changes (core/changes.c) from the store
 * while anyone watches; each watcher's worker thread sleeps on the window
 * and sends what its filter matches.  httpd 2.4's event MPM cannot hand a
 * suspended request back to a worker (no resume in 2.4), so a watcher holds
 * its thread; PaiStreamMax keeps streams from taking all of a process's. */
#include <errno.h>
#include <sys/socket.h>
#include <httpd.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <ap_mpm.h>
#include <util_filter.h>
#include <apr_atomic.h>
#include <apr_buckets.h>
#include <apr_portable.h>
#include <apr_strings.h>
#include "mod_pairest.h"

/* A comment line this often: proxies keep the stream, and a client gone is
 * seen (its write fails). */
#define PAI_STREAM_KEEPALIVE_SEC 15
#define PAI_STREAM_FRAMES_MAX 256   /* frames sent in one write */
/* How long a watcher sleeps without news: its keepalive, its end and the
 * process's stop are looked at so often. */
#define PAI_STREAM_NAP_MS 5000

static pai_change_hub *pai_stream_hub;
static volatile apr_uint32_t pai_stream_open;
static apr_uint32_t pai_stream_cap;
static apr_thread_t *pai_stream_reader;
static apr_pool_t *pai_stream_reader_pool;   /* not pchild's: its end joins the reader */
static volatile int pai_stream_closing;

typedef struct pai_stream_poll_args {
    apr_int64_t now_ms;
    int more;
} pai_stream_poll_args;

static pai_error *pai_stream_poll(pai_db *db, apr_pool_t *p, void *baton)
{
    pai_stream_poll_args *a = baton;
    return pai_change_hub_poll(pai_stream_hub, db, p, a->now_ms, &a->more);
}

/* The process's reader: every PAI_CHANGE_POLL_MS while a stream is open. */
static void *APR_THREAD_FUNC pai_stream_read(apr_thread_t *t, void *data)
{
    server_rec *s = data;
    apr_pool_t *p;
    int failing = 0;

    apr_pool_create(&p, NULL);
    apr_pool_tag(p, "pai_stream_reader");
    while (!pai_stream_closing) {
        pai_stream_poll_args a = {apr_time_as_msec(apr_time_now()), 0};
        pai_error *e = NULL;

        if (apr_atomic_read32(&pai_stream_open) > 0)
            e = pai_with_db(s, p, pai_stream_poll, &a);
        if (e && !failing++)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "PAI0402: change stream: %s "
                         "(retrying)", e->message);
        else if (!e)
            failing = 0;
        apr_pool_clear(p);
        if (!a.more)
            apr_sleep(apr_time_from_msec(e ? 1000 : PAI_CHANGE_POLL_MS));
    }
    apr_pool_destroy(p);
    (void)t;
    return NULL;
}

static apr_status_t pai_stream_child_exit(void *data)
{
    apr_status_t rv;
    (void)data;
    pai_stream_closing = 1;
    if (pai_stream_reader)
        apr_thread_join(&rv, pai_stream_reader);
    pai_stream_reader = NULL;
    if (pai_stream_reader_pool)
        apr_pool_destroy(pai_stream_reader_pool);
    pai_stream_reader_pool = NULL;
    return APR_SUCCESS;
}

void pai_stream_child_init(apr_pool_t *pchild, server_rec *s, int stream_max)
{
    int threads = 0;
    pai_error *e = pai_change_hub_create(pchild, PAI_CHANGE_WINDOW, &pai_stream_hub);

    if (!e && (apr_pool_create(&pai_stream_reader_pool, NULL) ||
               apr_thread_create(&pai_stream_reader, NULL, pai_stream_read, s,
                                 pai_stream_reader_pool)))
        e = pai_error_make(pchild, PAI_ERR_INTERNAL, "no thread to read changes");
    if (e) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "PAI0401: no change stream in this process: %s",
                     e->message);
        pai_stream_hub = NULL;
        return;
    }
    /* Before anything of the process goes (mod_dbd's connections, the
     * hub): the reader uses them. */
    apr_pool_pre_cleanup_register(pchild, NULL, pai_stream_child_exit);
    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS || threads < 2)
        threads = 2;
    pai_stream_cap = (apr_uint32_t)(stream_max > 0 ? stream_max : threads / 2);
}

typedef struct pai_stream_catch {
    pai_change_watch *w;
    apr_int64_t until;
    apr_array_header_t *frames;
    int more;
} pai_stream_catch;

static pai_error *pai_stream_catch_up(pai_db *db, apr_pool_t *p, void *baton)
{
    pai_stream_catch *k = baton;
    return pai_change_catch_up(db, p, &k->w->cursor, k->until, &k->w->filter, k->frames,
                               &k->more);
}

static apr_status_t pai_stream_send(request_rec *r, apr_bucket_brigade *bb,
                                    const apr_array_header_t *frames, const char *extra)
{
    int i;
    apr_status_t rv;

    for (i = 0; i < frames->nelts; i++)
        apr_brigade_puts(bb, NULL, NULL, APR_ARRAY_IDX(frames, i, const char *));
    if (extra)
        apr_brigade_puts(bb, NULL, NULL, extra);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(r->connection->bucket_alloc));
    rv = ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
    return rv != APR_SUCCESS || r->connection->aborted ? APR_EGENERAL : APR_SUCCESS;
}

/* Whether the client closed its end: a watcher that left frees its thread
 * within a nap, not at the next write that fails (two keepalives later). */
static int pai_stream_client_gone(conn_rec *c)
{
    apr_socket_t *sock = ap_get_conn_socket(c);
    apr_os_sock_t fd;
    char b;
    ssize_t n;

    if (c->aborted)
        return 1;
    if (!sock || apr_os_sock_get(&fd, sock) != APR_SUCCESS)
        return 0;
    n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static int pai_stream_stopping(void)
{
    int state = 0;
    return ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS &&
           state == AP_MPMQ_STOPPING;
}

/* Sends until the client leaves, the process stops, or seconds pass (an
 * EventSource then reconnects with its Last-Event-ID and misses nothing). */
static void pai_stream_loop(request_rec *r, pai_change_watch *w, int seconds)
{
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_time_t until = apr_time_now() + apr_time_from_sec(seconds), quiet_since = apr_time_now();
    /* Up to it the store is read first (0: the window will do). */
    apr_int64_t read_until = w->cursor < w->until ? w->until : 0;
    apr_pool_t *scratch;
    int failing = 0;

    apr_pool_create(&scratch, r->pool);
    apr_pool_tag(scratch, "pai_stream");
    if (pai_stream_send(r, bb, apr_array_make(scratch, 1, sizeof(char *)),
                        apr_pstrcat(scratch, "retry: 2000\n\n", w->reset
                                    ? "event: reset\ndata: {\"reason\":\"changes after your "
                                      "Last-Event-ID are no longer kept; read the jobs "
                                      "again\"}\n\n" : "", NULL)))
        return;
    while (apr_time_now() < until && !pai_stream_stopping() && !pai_stream_closing &&
           !pai_stream_client_gone(r->connection)) {
        apr_array_header_t *frames = apr_array_make(scratch, 16, sizeof(const char *));
        pai_error *e = NULL;

        /* Changes the window no longer (or not yet) holds: from the store. */
        if (w->cursor < read_until ||
            pai_change_hub_read(pai_stream_hub, scratch, &w->cursor, &w->filter,
                                PAI_STREAM_FRAMES_MAX, frames)) {
            pai_stream_catch k = {w, read_until, frames, 0};
            if (k.until <= w->cursor)
                k.until = pai_change_hub_floor(pai_stream_hub);
            e = pai_with_db(r->server, scratch, pai_stream_catch_up, &k);
            if (!e && !k.more)
                read_until = 0;
        }
        if (e && !failing++)
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "PAI0403: change stream catch-up: "
                          "%s (retrying)", e->message);
        else if (!e)
            failing = 0;
        if (frames->nelts ||
            apr_time_now() - quiet_since >= apr_time_from_sec(PAI_STREAM_KEEPALIVE_SEC)) {
            if (pai_stream_send(r, bb, frames, frames->nelts ? NULL : ": keepalive\n\n"))
                break;
            quiet_since = apr_time_now();
        }
        apr_pool_clear(scratch);
        if (e)
            apr_sleep(apr_time_from_sec(1));
        else if (!frames->nelts && !read_until)
            pai_change_hub_wait(pai_stream_hub, w->cursor, apr_time_from_msec(PAI_STREAM_NAP_MS));
    }
}

pai_error *pai_stream_claim(request_rec *r)
{
    pai_error *e;

    if (!pai_stream_hub)
        return pai_error_make(r->pool, PAI_ERR_INTERNAL, "this process has no change stream");
    if (apr_atomic_inc32(&pai_stream_open) < pai_stream_cap)
        return NULL;
    apr_atomic_dec32(&pai_stream_open);
    e = pai_error_make(r->pool, PAI_ERR_TOO_MANY, "this server holds as many change streams "
                       "as it may (PaiStreamMax); try again");
    e->retry_after = 5;
    return e;
}

int pai_render_stream(request_rec *r, pai_req *rq, int seconds)
{
    /* The request's database connection goes back now: a watcher may wait
     * for hours, and catches up through connections of its own. */
    pai_request_db_release(r);
    r->status = 200;
    ap_set_content_type(r, "text/event-stream; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Accel-Buffering", "no");
    pai_stream_loop(r, rq->watch, seconds);
    apr_atomic_dec32(&pai_stream_open);
    return OK;
}
