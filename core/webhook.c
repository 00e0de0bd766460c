/* Webhooks: registration rules, signatures, backoff, the address check and
 * pinned POST, and the sender's cycle over the store (see webhook.h). */
#include <string.h>
#include <stdlib.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <apr_strings.h>
#include <apr_uri.h>
#include <apr_hash.h>
#include <apr_atomic.h>

#include "webhook.h"
#include "changes.h"
#include "sshkey.h"

/* Where no hook goes unless an admin allows it: what is not the public
 * internet (RFC 6890's special-purpose ranges), and IPv6 forms that carry an
 * IPv4 address (NAT64, 6to4, IPv4-compatible) lest they smuggle one in. */
static const char *const hook_refused[] = {
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/96", "::1/128", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "64:ff9b::/96",
    "64:ff9b:1::/48", "2001:db8::/32", "2002::/16", "100::/64",
    NULL
};

const char *pai_webhook_allow_add(apr_pool_t *p, apr_array_header_t **allow, const char *cidr)
{
    const char *slash = strchr(cidr, '/');
    char *ip = slash ? apr_pstrmemdup(p, cidr, (apr_size_t)(slash - cidr)) : apr_pstrdup(p, cidr);
    apr_ipsubnet_t *sub;

    /* An address in full (APR would also take "10" for 10.0.0.0/8: too loose
     * to read back in a config). */
    if (!*ip || strspn(ip, "0123456789abcdefABCDEF.:") != strlen(ip) ||
        (!strchr(ip, ':') && strchr(ip, '.') == strrchr(ip, '.')) ||
        (slash && (!slash[1] || strspn(slash + 1, "0123456789") != strlen(slash + 1))) ||
        apr_ipsubnet_create(&sub, ip, slash ? slash + 1 : NULL, p) != APR_SUCCESS)
        return apr_psprintf(p, "'%s' is not an address or CIDR (e.g. 10.0.0.0/8, fd00::/8)",
                            cidr);
    if (!*allow)
        *allow = apr_array_make(p, 4, sizeof(apr_ipsubnet_t *));
    APR_ARRAY_PUSH(*allow, apr_ipsubnet_t *) = sub;
    return NULL;
}

static int hook_in(const apr_sockaddr_t *sa, const apr_array_header_t *nets)
{
    int i;
    for (i = 0; nets && i < nets->nelts; i++)
        if (apr_ipsubnet_test(APR_ARRAY_IDX(nets, i, apr_ipsubnet_t *), (apr_sockaddr_t *)sa))
            return 1;
    return 0;
}

/* The refused ranges, made on first use and kept for the process: built
 * whole, then published at once (two threads may race to build it; one's
 * copy wins, the other's goes). */
static apr_array_header_t *hook_refused_nets(void)
{
    static volatile void *nets;
    apr_array_header_t *built = NULL;
    const char *const *r;
    apr_pool_t *pool;

    if (nets)
        return (apr_array_header_t *)nets;
    if (apr_pool_create(&pool, NULL) != APR_SUCCESS)
        return NULL;
    for (r = hook_refused; *r; r++)
        if (pai_webhook_allow_add(pool, &built, *r))
            abort();           /* the table above is wrong: a bug, not input */
    if (apr_atomic_casptr(&nets, built, NULL) != NULL)
        apr_pool_destroy(pool);
    return (apr_array_header_t *)nets;
}

int pai_webhook_address_ok(const apr_sockaddr_t *sa, const apr_array_header_t *allow)
{
    const apr_array_header_t *refused = hook_refused_nets();
    if (hook_in(sa, allow))
        return 1;
    return refused && !hook_in(sa, refused);
}

pai_error *pai_webhook_target(apr_pool_t *p, const char *url, const apr_array_header_t *allow,
                              const char **pin)
{
    apr_uri_t u;
    apr_sockaddr_t *sa = NULL, *a;
    const char *addrs = NULL;
    apr_port_t port;

    *pin = NULL;
    if (strlen(url) > PAI_WEBHOOK_URL_MAX || strpbrk(url, " \t\r\n\"<>\\^`{|}") ||
        apr_uri_parse(p, url, &u) != APR_SUCCESS || !u.scheme || !u.hostname || !*u.hostname ||
        (strcasecmp(u.scheme, "http") && strcasecmp(u.scheme, "https")))
        return pai_error_make(p, PAI_ERR_INVALID, "field 'url' must be an http:// or https:// "
                              "URL of at most %d characters", PAI_WEBHOOK_URL_MAX);
    if (u.user || u.password)
        return pai_error_make(p, PAI_ERR_INVALID, "field 'url' must not carry a user or "
                              "password: the receiver checks the signature instead");
    if (u.fragment)
        return pai_error_make(p, PAI_ERR_INVALID, "field 'url' must not have a #fragment");
    port = u.port ? u.port : apr_uri_port_of_scheme(u.scheme);
    if (u.port_str && (!u.port || !*u.port_str))
        return pai_error_make(p, PAI_ERR_INVALID, "field 'url' has a bad port");
    if (apr_sockaddr_info_get(&sa, u.hostname, APR_UNSPEC, port, 0, p) != APR_SUCCESS || !sa)
        return pai_error_make(p, PAI_ERR_INVALID, "the webhook's host %s does not resolve",
                              u.hostname);
    /* Every address the name has must be allowed: one refused could be the
     * one the connection takes. */
    for (a = sa; a; a = a->next) {
        char *ip = NULL;
        apr_sockaddr_ip_get(&ip, a);
        if (!pai_webhook_address_ok(a, allow))
            return pai_error_make(p, PAI_ERR_FORBIDDEN, "webhooks may not go to %s (%s): "
                                  "a loopback, private or reserved address (an admin may "
                                  "allow it with PaiWebhookAllow)", u.hostname, ip ? ip : "?");
        if (ip)
            addrs = addrs ? apr_pstrcat(p, addrs, ",", a->family == APR_INET6 ? "[" : "", ip,
                                        a->family == APR_INET6 ? "]" : "", NULL)
                          : apr_pstrcat(p, a->family == APR_INET6 ? "[" : "", ip,
                                        a->family == APR_INET6 ? "]" : "", NULL);
    }
    /* An IP literal is not looked up by curl; a name is pinned. */
    if (addrs && !strchr(u.hostname, ':'))
        *pin = apr_psprintf(p, "%s:%u:%s", u.hostname, (unsigned)port, addrs);
    return NULL;
}

static const char *const hook_events[] = {
    "WAITING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED", "DELETED", "*", NULL
};

pai_error *pai_webhook_events_parse(apr_pool_t *p, const json_t *events, const char **csv)
{
    const char *out = NULL;
    size_t i, n = json_is_array(events) ? json_array_size(events) : 0;

    if (!n || n > PAI_WEBHOOK_EVENTS_MAX)
        return pai_error_make(p, PAI_ERR_INVALID, "field 'events' must be an array of 1 to %d "
                              "of WAITING, RUNNING, SUCCEEDED, FAILED, STOPPED, DELETED or "
                              "\"*\"", PAI_WEBHOOK_EVENTS_MAX);
    for (i = 0; i < n; i++) {
        const char *e = json_string_value(json_array_get(events, i));
        const char *const *k;
        for (k = hook_events; e && *k && strcmp(*k, e); k++)
            ;
        if (!e || !*k)
            return pai_error_make(p, PAI_ERR_INVALID, "field 'events[%d]' must be one of "
                                  "WAITING, RUNNING, SUCCEEDED, FAILED, STOPPED, DELETED or "
                                  "\"*\"", (int)i);
        if (!pai_webhook_event_wanted(out ? out : "", e) || !strcmp(e, "*"))
            out = out ? apr_pstrcat(p, out, ",", e, NULL) : e;
    }
    *csv = out;
    return NULL;
}

const char *pai_webhook_change_event(const pai_change *c)
{
    return c->deleted ? "DELETED" : c->state;
}

int pai_webhook_event_wanted(const char *csv, const char *event)
{
    size_t n = strlen(event);
    const char *s = csv;

    while (s && *s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if ((len == 1 && *s == '*') || (len == n && !strncmp(s, event, n)))
            return 1;
        s = end ? end + 1 : NULL;
    }
    return 0;
}

const char *pai_webhook_signature(apr_pool_t *p, const char *secret, apr_int64_t t,
                                  const char *body)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    const char *msg = apr_psprintf(p, "%" APR_INT64_T_FMT ".%s", t, body);

    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg,
              strlen(msg), mac, &len))
        return NULL;
    return apr_psprintf(p, "t=%" APR_INT64_T_FMT ",v1=%s", t, pai_hex(p, mac, len));
}

apr_int64_t pai_webhook_backoff_ms(int failed_attempts)
{
    apr_int64_t s = 1;
    int i;
    for (i = 1; i < failed_attempts && s < PAI_WEBHOOK_BACKOFF_MAX_S; i++)
        s *= 2;
    return (s < PAI_WEBHOOK_BACKOFF_MAX_S ? s : PAI_WEBHOOK_BACKOFF_MAX_S) * 1000;
}

/* The receiver's answer is not read: a byte count is all it gets. */
static size_t hook_discard(char *ptr, size_t size, size_t nmemb, void *data)
{
    (void)ptr;
    (void)data;
    return size * nmemb;
}

int pai_webhook_post(apr_pool_t *p, const pai_webhook_row *hook, const pai_webhook_delivery *d,
                     const apr_array_header_t *allow, apr_int64_t now_ms, long timeout_ms,
                     int *status, const char **why)
{
    const char *pin = NULL, *sig;
    struct curl_slist *headers = NULL, *resolve = NULL;
    pai_error *e;
    CURLcode rc;
    CURL *c;
    long code = 0;

    *status = 0;
    *why = "";
    /* Checked again at every attempt: the name may resolve elsewhere now. */
    if ((e = pai_webhook_target(p, hook->url, allow, &pin))) {
        *why = e->message;
        return 0;
    }
    sig = pai_webhook_signature(p, hook->secret, now_ms / 1000, d->body);
    if (!sig || !(c = curl_easy_init())) {
        *why = "cannot sign or make the request";
        return 0;
    }
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, apr_pstrcat(p, "X-PAI-Delivery: ", d->id, NULL));
    headers = curl_slist_append(headers, apr_pstrcat(p, "X-PAI-Event: ", d->event, NULL));
    headers = curl_slist_append(headers, apr_pstrcat(p, "X-PAI-Signature: ", sig, NULL));
    headers = curl_slist_append(headers, apr_psprintf(p, "X-PAI-Attempt: %d", d->attempts + 1));
    headers = curl_slist_append(headers, "Expect:");
    if (pin)
        resolve = curl_slist_append(NULL, pin);
    curl_easy_setopt(c, CURLOPT_URL, hook->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    /* A proxy from the environment would take the connection past the check. */
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mod_pairest-webhook/1");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, d->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(d->body));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hook_discard);
    if (resolve)
        curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    else
        *why = apr_pstrdup(p, curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    curl_slist_free_all(resolve);
    *status = (int)code;
    if (rc == CURLE_OK && (code < 200 || code > 299))
        *why = apr_psprintf(p, "the receiver answered %ld", code);
    return rc == CURLE_OK && code >= 200 && code <= 299;
}

/* What the receiver gets: the delivery's id, its event, and the change as
 * the change stream tells it. */
static const char *hook_body(apr_pool_t *p, const char *id, const char *event,
                             const pai_change *c, apr_int64_t now_ms)
{
    json_t *o = pai_json_pool(p, json_pack("{s:s, s:s, s:I, s:o}", "id", id, "event", event,
                                           "createdTime", (json_int_t)now_ms,
                                           "data", pai_change_data(p, c)));
    return pai_json_dump(p, o);
}

/* One hook's changes after its cursor become deliveries.  An id missing
 * between two seen ones may be another server's write still open: the walk
 * stops there until the change after it is PAI_CHANGE_GAP_MS old. */
static pai_error *hook_fanout(pai_db *db, apr_pool_t *p, const pai_webhook_row *h, int admin,
                              apr_int64_t first, apr_int64_t now_ms, pai_webhook_report *rep)
{
    apr_array_header_t *rows, *out = apr_array_make(p, 16, sizeof(pai_webhook_delivery *));
    apr_int64_t cursor = h->cursor;
    pai_error *e;
    int i;

    /* Changes let go (PaiStreamRetention) before this hook read them: the
     * sender was away that long. */
    if (cursor + 1 < first)
        rep->skipped++;
    if ((e = pai_store_changes_after(db, p, cursor, PAI_WEBHOOK_FANOUT_BATCH, &rows)))
        return e;
    for (i = 0; i < rows->nelts; i++) {
        const pai_change *c = APR_ARRAY_IDX(rows, i, const pai_change *);
        const char *event = pai_webhook_change_event(c);
        if (c->id != cursor + 1 && c->id > first && now_ms - c->at_ms < PAI_CHANGE_GAP_MS)
            break;
        if ((admin || !strcmp(c->username, h->username)) &&
            pai_webhook_event_wanted(h->events, event)) {
            pai_webhook_delivery *d = apr_pcalloc(p, sizeof(*d));
            d->id = apr_psprintf(p, "%s-%" APR_INT64_T_FMT, h->id, c->id);
            d->hook_id = h->id;
            d->change_id = c->id;
            d->event = event;
            d->body = hook_body(p, d->id, event, c, now_ms);
            d->created = d->next_at = now_ms;
            APR_ARRAY_PUSH(out, pai_webhook_delivery *) = d;
        }
        cursor = c->id;
    }
    if (cursor == h->cursor)
        return NULL;
    rep->queued += out->nelts;
    return pai_store_webhook_fanout(db, p, h->id, out, cursor);
}

pai_error *pai_webhook_cycle(pai_db *db, apr_pool_t *p, const apr_array_header_t *hooks,
                             const apr_array_header_t *allow, long timeout_ms,
                             apr_int64_t now_ms, pai_webhook_report *rep)
{
    apr_array_header_t *due;
    apr_hash_t *by_id = apr_hash_make(p);
    apr_int64_t first, last;
    apr_time_t start = apr_time_now();
    pai_error *e;
    int i;

    memset(rep, 0, sizeof(*rep));
    if (!hooks->nelts)
        return NULL;
    if ((e = pai_store_changes_bounds(db, p, &first, &last)))
        return e;
    for (i = 0; i < hooks->nelts; i++) {
        pai_webhook_row *h = APR_ARRAY_IDX(hooks, i, pai_webhook_row *);
        pai_user *u = NULL;
        apr_hash_set(by_id, h->id, APR_HASH_KEY_STRING, h);
        if (h->cursor >= last)
            continue;
        /* An admin's hook hears of every job; whether the owner is one is
         * read now, so that taking the flag away takes that away too. */
        if ((e = pai_store_user_get(db, p, h->username, &u)) ||
            (e = hook_fanout(db, p, h, u && u->admin, first, now_ms, rep)))
            return e;
    }
    if ((e = pai_store_webhook_due(db, p, now_ms, PAI_WEBHOOK_SEND_BATCH, &due)))
        return e;
    for (i = 0; i < due->nelts; i++) {
        pai_webhook_delivery *d = APR_ARRAY_IDX(due, i, pai_webhook_delivery *);
        const pai_webhook_row *h = apr_hash_get(by_id, d->hook_id, APR_HASH_KEY_STRING);
        apr_int64_t at;
        if (apr_time_now() - start > apr_time_from_msec(PAI_WEBHOOK_CYCLE_BUDGET_MS))
            break;
        if (!h)
            continue;          /* its hook went after the list was read */
        at = apr_time_as_msec(apr_time_now());
        if (pai_webhook_post(p, h, d, allow, at, timeout_ms, &d->last_status, &d->last_error)) {
            d->status = "delivered";
            rep->delivered++;
        }
        else if (d->attempts + 1 >= PAI_WEBHOOK_ATTEMPTS) {
            d->status = "failed";
            rep->failed++;
        }
        else {
            d->next_at = at + pai_webhook_backoff_ms(d->attempts + 1);
            rep->retrying++;
        }
        d->attempts++;
        d->last_at = at;
        if ((e = pai_store_webhook_attempt(db, p, d)))
            return e;
    }
    return NULL;
}

pai_error *pai_webhook_create(pai_db *db, apr_pool_t *p, const apr_array_header_t *allow,
                              const char *username, const char *url, const json_t *events,
                              const char *secret, apr_int64_t now_ms, pai_webhook_row **out)
{
    pai_webhook_row *h = apr_pcalloc(p, sizeof(*h));
    apr_int64_t first;
    const char *pin, *s;
    pai_error *e;

    if ((e = pai_webhook_events_parse(p, events, &h->events)))
        return e;
    for (s = secret; *s && *s > ' ' && *s < 127; s++)
        ;
    if (*s || strlen(secret) < PAI_WEBHOOK_SECRET_MIN || strlen(secret) > PAI_WEBHOOK_SECRET_MAX)
        return pai_error_make(p, PAI_ERR_INVALID, "field 'secret' must be %d to %d printable "
                              "characters without spaces", PAI_WEBHOOK_SECRET_MIN,
                              PAI_WEBHOOK_SECRET_MAX);
    if ((e = pai_webhook_target(p, url, allow, &pin)))
        return e;
    if ((e = pai_random_hex_n(p, 16, &h->id)))
        return e;
    h->username = username;
    h->url = url;
    h->secret = secret;
    h->created = now_ms;
    /* From now on: the changes before it are not this hook's news. */
    if ((e = pai_store_changes_bounds(db, p, &first, &h->cursor)) ||
        (e = pai_store_webhook_add(db, p, h, PAI_WEBHOOKS_PER_USER)))
        return e;
    *out = h;
    return NULL;
}
