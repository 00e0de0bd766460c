/* libcurl behind pai_http: one pool of easy handles per process, reused so that
 * connections are kept and no socket is left in TIME_WAIT per call. */
#include <string.h>
#include <curl/curl.h>
#include <apr_strings.h>
#include <apr_reslist.h>
#include "http.h"

struct pai_http {
    const char *socket_path;     /* NULL for TCP */
    const char *base;            /* URL prefix */
    long timeout_ms;
    apr_reslist_t *handles;
};

static apr_status_t handle_make(void **res, void *params, apr_pool_t *p)
{
    CURL *c = curl_easy_init();
    (void)params; (void)p;
    *res = c;
    return c ? APR_SUCCESS : APR_ENOMEM;
}

static apr_status_t handle_free(void *res, void *params, apr_pool_t *p)
{
    (void)params; (void)p;
    curl_easy_cleanup((CURL *)res);
    return APR_SUCCESS;
}

pai_error *pai_http_create(apr_pool_t *p, const char *target, long timeout_ms, pai_http **out)
{
    pai_http *h = apr_pcalloc(p, sizeof(*h));

    if (!strncmp(target, "unix:", 5)) {
        h->socket_path = apr_pstrdup(p, target + 5);
        h->base = "http://localhost";
    }
    else if (!strncmp(target, "http://", 7) || !strncmp(target, "https://", 8)) {
        apr_size_t n = strlen(target);
        h->base = apr_pstrndup(p, target, target[n - 1] == '/' ? n - 1 : n);
    }
    else {
        return pai_error_make(p, PAI_ERR_INTERNAL, "launcher URL must be unix:/path or http(s)://...");
    }
    h->timeout_ms = timeout_ms;
    if (apr_reslist_create(&h->handles, 0, 4, 64, apr_time_from_sec(60), handle_make,
                           handle_free, NULL, p) != APR_SUCCESS)
        return pai_error_make(p, PAI_ERR_INTERNAL, "cannot create the HTTP handle pool");
    apr_reslist_cleanup_order_set(h->handles, APR_RESLIST_CLEANUP_FIRST);
    *out = h;
    return NULL;
}

typedef struct sink {
    apr_pool_t *p;
    char *buf;
    apr_size_t len, cap;
    pai_http_body_fn each;       /* set: pieces go to it, none is kept */
    void *each_ctx;
} sink;

static size_t sink_write(char *data, size_t size, size_t n, void *userdata)
{
    sink *s = userdata;
    apr_size_t add = size * n;

    if (s->each) {
        s->len += add;
        return s->each(s->each_ctx, data, add) ? 0 : add;
    }
    if (s->len + add + 1 > s->cap) {
        apr_size_t cap = s->cap ? s->cap : 4096;
        char *nb;
        while (cap < s->len + add + 1)
            cap *= 2;
        if (cap > 256 * 1024 * 1024)
            return 0;            /* a launcher reply past 256 MiB is refused */
        nb = apr_palloc(s->p, cap);
        if (s->len)
            memcpy(nb, s->buf, s->len);
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, add);
    s->len += add;
    return add;
}

static pai_error *http_call(pai_http *h, apr_pool_t *p, const char *method, const char *path,
                           const apr_array_header_t *headers, const char *body,
                           pai_http_body_fn each, void *each_ctx, pai_http_response *resp)
{
    struct curl_slist *hl = NULL;
    sink s = {p, NULL, 0, 0, each, each_ctx};
    pai_error *err = NULL;
    CURLcode rc;
    CURL *c;
    void *res;
    int i;

    if (apr_reslist_acquire(h->handles, &res) != APR_SUCCESS)
        return pai_error_make(p, PAI_ERR_LAUNCHER_DOWN, "no HTTP handle available");
    c = res;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, apr_pstrcat(p, h->base, path, NULL));
    if (h->socket_path)
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, h->socket_path);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms < 5000 ? h->timeout_ms : 5000L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    for (i = 0; headers && i < headers->nelts; i++)
        hl = curl_slist_append(hl, APR_ARRAY_IDX(headers, i, const char *));
    if (body) {
        hl = curl_slist_append(hl, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);

    rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->body = s.buf ? (s.buf[s.len] = '\0', s.buf) : "";
        resp->len = s.len;
    }
    else if (rc == CURLE_WRITE_ERROR && each) {
        err = pai_error_make(p, PAI_ERR_LAUNCHER_BAD, "the launcher's reply was refused by "
                             "its reader after %" APR_SIZE_T_FMT " bytes", s.len);
    }
    else if (rc == CURLE_OPERATION_TIMEDOUT) {
        err = pai_error_make(p, PAI_ERR_LAUNCHER_TIMEOUT, "the launcher did not answer within %ld ms",
                             h->timeout_ms);
    }
    else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
             rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING) {
        err = pai_error_make(p, PAI_ERR_LAUNCHER_DOWN, "the launcher is unreachable: %s",
                             curl_easy_strerror(rc));
    }
    else {
        err = pai_error_make(p, PAI_ERR_LAUNCHER_BAD, "launcher call failed: %s",
                             curl_easy_strerror(rc));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    /* A handle whose call failed may hold a broken connection: do not reuse it. */
    if (err)
        apr_reslist_invalidate(h->handles, c);
    else
        apr_reslist_release(h->handles, c);
    return err;
}

pai_error *pai_http_call(pai_http *h, apr_pool_t *p, const char *method, const char *path,
                         const apr_array_header_t *headers, const char *body,
                         pai_http_response *resp)
{
    return http_call(h, p, method, path, headers, body, NULL, NULL, resp);
}

pai_error *pai_http_call_each(pai_http *h, apr_pool_t *p, const char *method, const char *path,
                              const apr_array_header_t *headers, const char *body,
                              pai_http_body_fn each, void *ctx, pai_http_response *resp)
{
    return http_call(h, p, method, path, headers, body, each, ctx, resp);
}
