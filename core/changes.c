/* The change stream's window of recent changes, shared by a process's
 * watchers, and the events it sends (see changes.h). */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>
#include "changes.h"
#include "events.h"
#include "json.h"

typedef struct change_slot {
    apr_int64_t id;
    char *mem;                     /* one malloc: username, vc, name, frame */
    const char *username, *vc, *name, *frame;
} change_slot;

struct pai_change_hub {
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *changed;
    change_slot *ring;
    int window, head, count;       /* the oldest slot is ring[head] */
    int started;
    apr_int64_t floor;             /* every change after it is in the ring */
    apr_int64_t last;              /* the newest change taken */
    apr_int64_t gap_since_ms;
};

int pai_change_match(const pai_change_filter *f, const char *username, const char *vc,
                     const char *name)
{
    return (!f->username || !strcmp(f->username, username)) && (!f->vc || !strcmp(f->vc, vc)) &&
           (!f->job || !strcmp(f->job, name));
}

json_t *pai_change_data(apr_pool_t *p, const pai_change *c)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:b}",
                          "id", (json_int_t)c->id, "time", pai_event_iso(p, c->at_ms),
                          "frameworkName", apr_pstrcat(p, c->username, "~", c->name, NULL),
                          "username", c->username, "jobName", c->name,
                          "virtualCluster", c->vc, "state", c->state, "subState", c->sub_state,
                          "retries", c->retries,
                          "exitCode", c->has_exit ? json_integer(c->exit_code) : json_null(),
                          "deleted", c->deleted);
}

const char *pai_change_frame(apr_pool_t *p, const pai_change *c)
{
    json_t *o = pai_change_data(p, c);
    char *data = json_dumps(o, JSON_COMPACT);
    const char *frame = apr_psprintf(p, "id: %" APR_INT64_T_FMT "\nevent: job\ndata: %s\n\n",
                                     c->id, data ? data : "{}");
    free(data);
    json_decref(o);
    return frame;
}

static apr_status_t hub_free(void *data)
{
    pai_change_hub *h = data;
    int i;
    for (i = 0; i < h->window; i++)
        free(h->ring[i].mem);
    free(h->ring);
    return APR_SUCCESS;
}

pai_error *pai_change_hub_create(apr_pool_t *pool, int window, pai_change_hub **out)
{
    pai_change_hub *h = apr_pcalloc(pool, sizeof(*h));

    if (apr_thread_mutex_create(&h->lock, APR_THREAD_MUTEX_DEFAULT, pool) ||
        apr_thread_cond_create(&h->changed, pool) ||
        !(h->ring = calloc((size_t)window, sizeof(change_slot))))
        return pai_error_make(pool, PAI_ERR_INTERNAL, "no memory for the change stream");
    h->window = window;
    apr_pool_cleanup_register(pool, h, hub_free, apr_pool_cleanup_null);
    *out = h;
    return NULL;
}

/* Under the lock: c goes to the ring, the oldest out when it is full. */
static void hub_push(pai_change_hub *h, apr_pool_t *p, const pai_change *c)
{
    const char *frame = pai_change_frame(p, c);
    size_t lu = strlen(c->username) + 1, lv = strlen(c->vc) + 1, ln = strlen(c->name) + 1,
           lf = strlen(frame) + 1;
    change_slot *s;
    char *mem = malloc(lu + lv + ln + lf);

    if (!mem)
        return;
    if (h->count == h->window) {
        s = &h->ring[h->head];
        h->floor = s->id;
        free(s->mem);
        h->head = (h->head + 1) % h->window;
        h->count--;
    }
    s = &h->ring[(h->head + h->count) % h->window];
    s->id = c->id;
    s->mem = mem;
    s->username = memcpy(mem, c->username, lu);
    s->vc = memcpy(mem + lu, c->vc, lv);
    s->name = memcpy(mem + lu + lv, c->name, ln);
    s->frame = memcpy(mem + lu + lv + ln, frame, lf);
    h->count++;
}

pai_error *pai_change_hub_poll(pai_change_hub *h, pai_db *db, apr_pool_t *p, apr_int64_t now_ms,
                               int *more)
{
    apr_array_header_t *rows = NULL;
    apr_int64_t after, first, last;
    pai_error *e = NULL;
    int started, i, took = 0;

    *more = 0;
    apr_thread_mutex_lock(h->lock);
    started = h->started;
    after = h->last;
    apr_thread_mutex_unlock(h->lock);
    /* The store's I/O runs outside the lock: watchers read the window meanwhile. */
    if (!started && !(e = pai_store_changes_bounds(db, p, &first, &last)))
        after = last;
    if (!e)
        e = pai_store_changes_after(db, p, after, PAI_CHANGE_BATCH, &rows);

    apr_thread_mutex_lock(h->lock);
    if (!e && !started) {
        h->started = 1;
        h->floor = h->last = after;
    }
    for (i = 0; !e && i < rows->nelts; i++) {
        const pai_change *c = APR_ARRAY_IDX(rows, i, const pai_change *);
        /* A gap: an id another writer holds may yet commit; waited for a
         * while, then given up (a write rolled back leaves one for good). */
        if (c->id != h->last + 1) {
            if (!h->gap_since_ms)
                h->gap_since_ms = now_ms;
            if (now_ms - h->gap_since_ms < PAI_CHANGE_GAP_MS)
                break;
        }
        h->gap_since_ms = 0;
        hub_push(h, p, c);
        h->last = c->id;
        took++;
    }
    /* A full batch: more is there. */
    *more = rows && rows->nelts == PAI_CHANGE_BATCH && took == rows->nelts;
    if (took || !started)
        apr_thread_cond_broadcast(h->changed);
    apr_thread_mutex_unlock(h->lock);
    return e;
}

int pai_change_hub_read(pai_change_hub *h, apr_pool_t *p, apr_int64_t *cursor,
                        const pai_change_filter *f, int max, apr_array_header_t *frames)
{
    int i, behind = 0;

    apr_thread_mutex_lock(h->lock);
    if (!h->started)
        ;
    else if (*cursor < h->floor)
        behind = 1;
    else
        for (i = 0; i < h->count && frames->nelts < max; i++) {
            const change_slot *s = &h->ring[(h->head + i) % h->window];
            if (s->id <= *cursor)
                continue;
            if (pai_change_match(f, s->username, s->vc, s->name))
                APR_ARRAY_PUSH(frames, const char *) = apr_pstrdup(p, s->frame);
            *cursor = s->id;
        }
    apr_thread_mutex_unlock(h->lock);
    return behind;
}

void pai_change_hub_wait(pai_change_hub *h, apr_int64_t cursor, apr_interval_time_t wait)
{
    apr_thread_mutex_lock(h->lock);
    if (!h->started || h->last <= cursor)
        (void)apr_thread_cond_timedwait(h->changed, h->lock, wait);
    apr_thread_mutex_unlock(h->lock);
}

apr_int64_t pai_change_hub_floor(pai_change_hub *h)
{
    apr_int64_t floor;
    apr_thread_mutex_lock(h->lock);
    floor = h->started ? h->floor : 0;
    apr_thread_mutex_unlock(h->lock);
    return floor;
}

pai_error *pai_change_catch_up(pai_db *db, apr_pool_t *p, apr_int64_t *cursor, apr_int64_t until,
                               const pai_change_filter *f, apr_array_header_t *frames, int *more)
{
    apr_array_header_t *rows;
    pai_error *e;
    int i;

    *more = 0;
    if (*cursor >= until)
        return NULL;
    if ((e = pai_store_changes_after(db, p, *cursor, PAI_CHANGE_BATCH, &rows)))
        return e;
    for (i = 0; i < rows->nelts; i++) {
        const pai_change *c = APR_ARRAY_IDX(rows, i, const pai_change *);
        if (c->id > until)
            break;
        if (pai_change_match(f, c->username, c->vc, c->name))
            APR_ARRAY_PUSH(frames, const char *) = pai_change_frame(p, c);
        *cursor = c->id;
    }
    *more = i == PAI_CHANGE_BATCH && *cursor < until;
    /* All there is up to until was read (ids missing there were rolled back). */
    if (!*more)
        *cursor = until;
    return NULL;
}
