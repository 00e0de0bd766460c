/* Webhooks: what a registration may name (a public http(s) URL, the events),
 * the signature receivers check, the backoff between attempts, and the
 * sender's cycle (changes fanned out to each hook's deliveries, those due
 * POSTed to an address checked again and pinned for the call). */
#ifndef PAI_WEBHOOK_H
#define PAI_WEBHOOK_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_network_io.h>
#include "json.h"
#include "store.h"

#define PAI_WEBHOOKS_PER_USER 20
#define PAI_WEBHOOK_URL_MAX 2048
#define PAI_WEBHOOK_SECRET_MIN 16
#define PAI_WEBHOOK_SECRET_MAX 256
#define PAI_WEBHOOK_EVENTS_MAX 16
#define PAI_WEBHOOK_ATTEMPTS 12          /* then the delivery is "failed" */
#define PAI_WEBHOOK_BACKOFF_MAX_S 3600
#define PAI_WEBHOOK_TIMEOUT_MS 5000      /* one POST, connection included */
#define PAI_WEBHOOK_SEND_BATCH 50        /* deliveries one cycle sends at most */
#define PAI_WEBHOOK_CYCLE_BUDGET_MS 20000 /* no new POST starts after this */
#define PAI_WEBHOOK_FANOUT_BATCH 500     /* changes one hook takes per cycle */
#define PAI_WEBHOOK_KEEP_DAYS 7          /* finished deliveries are kept this long */

/* PaiWebhookAllow: adds a CIDR ("10.0.0.0/8", "127.0.0.1", "fd00::/8") to
 * allow; returns why it is not one, or NULL. */
const char *pai_webhook_allow_add(apr_pool_t *p, apr_array_header_t **allow, const char *cidr);
/* 1 when a hook may be sent to sa: an address an admin allowed, or one
 * outside loopback, private, link-local, shared, documentation, multicast
 * and reserved ranges (IPv4-mapped IPv6 judged as its IPv4). */
int pai_webhook_address_ok(const apr_sockaddr_t *sa, const apr_array_header_t *allow);

/* Where a hook goes: the URL checked (http or https, a host, no user
 * information, at most PAI_WEBHOOK_URL_MAX) and its host resolved, every
 * address it has allowed.  *pin ("host:port:addr,addr", for CURLOPT_RESOLVE;
 * NULL for an IP literal) makes the POST go to those addresses only, so a
 * name that resolves elsewhere a moment later cannot redirect it. */
pai_error *pai_webhook_target(apr_pool_t *p, const char *url, const apr_array_header_t *allow,
                              const char **pin);

/* The events a hook asks for: a non-empty array of job states (WAITING,
 * RUNNING, SUCCEEDED, FAILED, STOPPED), DELETED, or "*" for all; kept as a
 * comma list. */
pai_error *pai_webhook_events_parse(apr_pool_t *p, const json_t *events, const char **csv);
/* The event a change is (its state, or DELETED), and whether csv wants it. */
const char *pai_webhook_change_event(const pai_change *c);
int pai_webhook_event_wanted(const char *csv, const char *event);

/* The X-PAI-Signature header's value: "t=<unix seconds>,v1=<hex of
 * HMAC-SHA256(secret, "<t>.<body>")>". */
const char *pai_webhook_signature(apr_pool_t *p, const char *secret, apr_int64_t t,
                                  const char *body);
/* How long to wait after the n-th failed attempt: 2^(n-1) seconds, at most
 * PAI_WEBHOOK_BACKOFF_MAX_S. */
apr_int64_t pai_webhook_backoff_ms(int failed_attempts);

/* One POST of a delivery: 1 when the receiver answered 2xx.  *status is
 * the HTTP status (0: none), *why a short reason on failure.  Redirects are
 * not followed, proxies not used, the address checked and pinned. */
int pai_webhook_post(apr_pool_t *p, const pai_webhook_row *hook, const pai_webhook_delivery *d,
                     const apr_array_header_t *allow, apr_int64_t now_ms, long timeout_ms,
                     int *status, const char **why);

/* Registers a hook of username's: url, events and secret checked (the
 * secret PAI_WEBHOOK_SECRET_MIN..MAX printable characters), at most
 * PAI_WEBHOOKS_PER_USER a user; it hears of changes made from now on. */
pai_error *pai_webhook_create(pai_db *db, apr_pool_t *p, const apr_array_header_t *allow,
                              const char *username, const char *url, const json_t *events,
                              const char *secret, apr_int64_t now_ms, pai_webhook_row **out);

typedef struct pai_webhook_report {
    int queued;                   /* deliveries made from changes */
    int delivered, retrying, failed;
    int skipped;                  /* hooks that missed changes: let go before they read them */
} pai_webhook_report;

/* The sender's cycle (the lease holder only) over every hook there is
 * (pai_store_webhook_list of all, pai_webhook_row *): each hook's new changes
 * it may see (its owner's jobs; every job for an admin's) become deliveries,
 * its cursor moved on in the same transaction; then due deliveries are sent,
 * oldest first, within PAI_WEBHOOK_CYCLE_BUDGET_MS. */
pai_error *pai_webhook_cycle(pai_db *db, apr_pool_t *p, const apr_array_header_t *hooks,
                             const apr_array_header_t *allow, long timeout_ms,
                             apr_int64_t now_ms, pai_webhook_report *rep);

#endif
