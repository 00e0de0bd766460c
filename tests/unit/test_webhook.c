/* Webhooks: which addresses a hook may reach, what a registration may say,
 * the signature and backoff receivers see, and the sender's fan-out: each
 * hook hears of the jobs its owner may see, once, and retries on failure. */
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "core/webhook.h"
#include "core/store.h"

static int addr_ok(const char *ip, const apr_array_header_t *allow)
{
    apr_sockaddr_t *sa;
    ck_assert_int_eq(apr_sockaddr_info_get(&sa, ip, APR_UNSPEC, 80, 0, ut_pool), APR_SUCCESS);
    return pai_webhook_address_ok(sa, allow);
}

START_TEST(private_and_reserved_addresses_are_refused)
{
    static const char *const refused[] = {
        "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
        "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255",
        "198.18.0.1", "::1", "::", "fd00::1", "fe80::1", "ff02::1", "::ffff:10.0.0.1",
        "::ffff:127.0.0.1", "64:ff9b::a00:1", "2002:a00:1::1", NULL};
    static const char *const public_[] = {"8.8.8.8", "1.1.1.1", "172.32.0.1", "192.169.0.1",
                                          "2001:4860:4860::8888", "::ffff:8.8.8.8", NULL};
    apr_array_header_t *allow = NULL;
    int i;

    for (i = 0; refused[i]; i++)
        ck_assert_msg(!addr_ok(refused[i], NULL), "%s allowed", refused[i]);
    for (i = 0; public_[i]; i++)
        ck_assert_msg(addr_ok(public_[i], NULL), "%s refused", public_[i]);
    /* what an admin allows, and only that */
    ck_assert_ptr_null(pai_webhook_allow_add(ut_pool, &allow, "127.0.0.1/32"));
    ck_assert_ptr_null(pai_webhook_allow_add(ut_pool, &allow, "fd00::/8"));
    ck_assert_ptr_null(pai_webhook_allow_add(ut_pool, &allow, "10.20.0.0/16"));
    ck_assert(addr_ok("127.0.0.1", allow));
    ck_assert(!addr_ok("127.0.0.2", allow));
    ck_assert(addr_ok("fd12::1", allow));
    ck_assert(addr_ok("10.20.3.4", allow));
    ck_assert(!addr_ok("10.21.3.4", allow));
    ck_assert(addr_ok("8.8.8.8", allow));
}
END_TEST

START_TEST(allow_takes_addresses_and_cidrs_only)
{
    static const char *const bad[] = {"10", "10.0", "abc", "10.0.0.0/", "10.0.0.0/x",
                                      "10.0.0.0/33", "", "/8", "example.com", "10.0.0.0/8/8",
                                      NULL};
    apr_array_header_t *allow = NULL;
    int i;

    for (i = 0; bad[i]; i++)
        ck_assert_msg(pai_webhook_allow_add(ut_pool, &allow, bad[i]) != NULL, "%s taken", bad[i]);
    ck_assert_ptr_null(allow);
    ck_assert_ptr_null(pai_webhook_allow_add(ut_pool, &allow, "192.168.0.0/16"));
    ck_assert_ptr_null(pai_webhook_allow_add(ut_pool, &allow, "::1"));
    ck_assert_int_eq(allow->nelts, 2);
}
END_TEST

START_TEST(targets_are_checked_and_pinned)
{
    apr_array_header_t *allow = NULL;
    const char *pin = NULL;
    pai_error *e;

    e = pai_webhook_target(ut_pool, "http://10.1.2.3/hook", NULL, &pin);
    ck_assert_int_eq(e->code, PAI_ERR_FORBIDDEN);
    ck_assert_ptr_nonnull(strstr(e->message, "10.1.2.3"));
    ck_assert_int_eq(pai_webhook_target(ut_pool, "http://[::1]:8080/", NULL, &pin)->code,
                     PAI_ERR_FORBIDDEN);
    ck_assert_int_eq(pai_webhook_target(ut_pool, "http://localhost/", NULL, &pin)->code,
                     PAI_ERR_FORBIDDEN);
    ck_assert_int_eq(pai_webhook_target(ut_pool, "ftp://8.8.8.8/", NULL, &pin)->code,
                     PAI_ERR_INVALID);
    ck_assert_int_eq(pai_webhook_target(ut_pool, "file:///etc/passwd", NULL, &pin)->code,
                     PAI_ERR_INVALID);
    ck_assert_int_eq(pai_webhook_target(ut_pool, "gopher://8.8.8.8/", NULL, &pin)->code,
                     PAI_ERR_INVALID);
    ck_assert_int_eq(pai_webhook_target(ut_pool, "http://u:p@8.8.8.8/", NULL, &pin)->code,
                     PAI_ERR_INVALID);
    ck_assert_int_eq(pai_webhook_target(ut_pool, "http:///x", NULL, &pin)->code,
                     PAI_ERR_INVALID);
    ck_assert_int_eq(pai_webhook_target(ut_pool, "http://8.8.8.8/a b", NULL, &pin)->code,
                     PAI_ERR_INVALID);
    ck_assert_int_eq(pai_webhook_target(ut_pool, "http://8.8.8.8:0/", NULL, &pin)->code,
                     PAI_ERR_INVALID);
    ck_assert_int_eq(pai_webhook_target(ut_pool, apr_pstrcat(ut_pool, "http://8.8.8.8/",
                     apr_psprintf(ut_pool, "%0*d", PAI_WEBHOOK_URL_MAX, 0), NULL), NULL,
                     &pin)->code, PAI_ERR_INVALID);
    ck_assert_ptr_null(pai_webhook_target(ut_pool, "https://8.8.8.8:8443/x?y=1", NULL, &pin));
    ck_assert_str_eq(pin, "8.8.8.8:8443:8.8.8.8");
    ck_assert_ptr_null(pai_webhook_target(ut_pool, "http://[2001:4860:4860::8888]/", NULL, &pin));
    ck_assert_ptr_null(pin);
    ck_assert_ptr_null(pai_webhook_allow_add(ut_pool, &allow, "127.0.0.1/32"));
    ck_assert_ptr_null(pai_webhook_target(ut_pool, "http://127.0.0.1:9/", allow, &pin));
    ck_assert_str_eq(pin, "127.0.0.1:9:127.0.0.1");
}
END_TEST

START_TEST(events_are_states_deleted_or_all)
{
    const char *csv = NULL;
    json_t *e;

    e = pai_json_pool(ut_pool, json_pack("[s, s, s]", "RUNNING", "FAILED", "RUNNING"));
    ck_assert_ptr_null(pai_webhook_events_parse(ut_pool, e, &csv));
    ck_assert_str_eq(csv, "RUNNING,FAILED");
    ck_assert(pai_webhook_event_wanted(csv, "FAILED"));
    ck_assert(!pai_webhook_event_wanted(csv, "FAIL"));
    ck_assert(!pai_webhook_event_wanted(csv, "SUCCEEDED"));
    e = pai_json_pool(ut_pool, json_pack("[s]", "*"));
    ck_assert_ptr_null(pai_webhook_events_parse(ut_pool, e, &csv));
    ck_assert(pai_webhook_event_wanted(csv, "DELETED"));
    ck_assert_int_eq(pai_webhook_events_parse(ut_pool, pai_json_pool(ut_pool, json_array()),
                                              &csv)->code, PAI_ERR_INVALID);
    ck_assert_int_eq(pai_webhook_events_parse(ut_pool, NULL, &csv)->code, PAI_ERR_INVALID);
    ck_assert_int_eq(pai_webhook_events_parse(ut_pool, pai_json_pool(ut_pool,
                     json_pack("[s]", "running")), &csv)->code, PAI_ERR_INVALID);
    ck_assert_int_eq(pai_webhook_events_parse(ut_pool, pai_json_pool(ut_pool,
                     json_pack("[i]", 1)), &csv)->code, PAI_ERR_INVALID);
    e = pai_json_pool(ut_pool, json_array());
    while (json_array_size(e) <= PAI_WEBHOOK_EVENTS_MAX)
        json_array_append_new(e, json_string("RUNNING"));
    ck_assert_int_eq(pai_webhook_events_parse(ut_pool, e, &csv)->code, PAI_ERR_INVALID);
}
END_TEST

START_TEST(signature_and_backoff)
{
    /* python3: hmac.new(b"0123456789abcdef", b'1700000000.{"a":1}', "sha256").hexdigest() */
    ck_assert_str_eq(pai_webhook_signature(ut_pool, "0123456789abcdef", 1700000000, "{\"a\":1}"),
                     "t=1700000000,v1=9eb18f493f8ec135d9eb2dad817c369bb4e9cbfa818657897a7437c1cd8c3a23");
    ck_assert_int_eq(pai_webhook_backoff_ms(1), 1000);
    ck_assert_int_eq(pai_webhook_backoff_ms(2), 2000);
    ck_assert_int_eq(pai_webhook_backoff_ms(3), 4000);
    ck_assert_int_eq(pai_webhook_backoff_ms(12), 2048000);
    ck_assert_int_eq(pai_webhook_backoff_ms(13), 3600000);
    ck_assert_int_eq(pai_webhook_backoff_ms(1000), 3600000);
}
END_TEST

static pai_db db;
static char dbpath[] = "/tmp/pairest-hook-XXXXXX";

static void db_open(void)
{
    ut_db_open(&db, dbpath, NULL);
}

static void db_close(void)
{
    ut_db_close(&db, dbpath, "/tmp/pairest-hook-XXXXXX");
}

static void job_insert(const char *name, const char *user)
{
    pai_job_row j;
    memset(&j, 0, sizeof(j));
    j.name = name; j.username = user; j.vc = "default"; j.state = "WAITING";
    j.sub_state = "SUBMITTING"; j.execution_type = "START"; j.host = ""; j.diagnostics = "";
    j.config = "{}";
    ck_assert_ptr_null(pai_store_job_insert(&db, ut_pool, &j));
}

static apr_array_header_t *deliveries(const pai_webhook_row *h)
{
    apr_array_header_t *out;
    ck_assert_ptr_null(pai_store_webhook_deliveries(&db, ut_pool, h->id, 100, &out));
    return out;
}

/* One cycle of the sender over every hook in the store, as the glue runs it. */
static pai_error *cycle(const apr_array_header_t *allow, long timeout_ms, apr_int64_t now,
                        pai_webhook_report *rep)
{
    apr_array_header_t *hooks;
    pai_error *e = pai_store_webhook_list(&db, ut_pool, NULL, &hooks);
    return e ? e : pai_webhook_cycle(&db, ut_pool, hooks, allow, timeout_ms, now, rep);
}

START_TEST(each_hook_hears_what_its_owner_may_see_once)
{
    apr_array_header_t *allow = NULL, *list;
    pai_webhook_row *alice, *bob, *admin, *all_alice;
    pai_webhook_report rep;
    json_t *ev = pai_json_pool(ut_pool, json_pack("[s]", "WAITING"));
    const pai_webhook_delivery *d;
    apr_int64_t now = apr_time_as_msec(apr_time_now());
    pai_error *e;
    int i;

    ck_assert_ptr_null(pai_webhook_allow_add(ut_pool, &allow, "127.0.0.1/32"));
    job_insert("before", "alice");      /* before the hooks: not their news */
    /* port 1: nothing listens, every attempt fails at once */
    ck_assert_ptr_null(pai_webhook_create(&db, ut_pool, allow, "alice", "http://127.0.0.1:1/h",
                                          ev, "0123456789abcdef", now, &alice));
    ck_assert_ptr_null(pai_webhook_create(&db, ut_pool, allow, "bob", "http://127.0.0.1:1/h",
                                          ev, "0123456789abcdef", now, &bob));
    ck_assert_ptr_null(pai_webhook_create(&db, ut_pool, allow, "root_admin",
                                          "http://127.0.0.1:1/h", ev, "0123456789abcdef", now,
                                          &admin));
    ck_assert_ptr_null(pai_webhook_create(&db, ut_pool, allow, "alice", "http://127.0.0.1:1/h",
                                          pai_json_pool(ut_pool, json_pack("[s]", "RUNNING")),
                                          "0123456789abcdef", now, &all_alice));
    /* a private target without the allow list, a short secret */
    e = pai_webhook_create(&db, ut_pool, NULL, "alice", "http://127.0.0.1:1/h", ev,
                           "0123456789abcdef", now, &bob);
    ck_assert_int_eq(e->code, PAI_ERR_FORBIDDEN);
    e = pai_webhook_create(&db, ut_pool, allow, "alice", "http://127.0.0.1:1/h", ev, "short",
                           now, &bob);
    ck_assert_int_eq(e->code, PAI_ERR_INVALID);
    ck_assert_ptr_null(pai_store_webhook_get(&db, ut_pool, admin->id, &bob));
    ck_assert_ptr_null(pai_store_webhook_list(&db, ut_pool, "bob", &list));
    bob = APR_ARRAY_IDX(list, 0, pai_webhook_row *);

    job_insert("a1", "alice");
    job_insert("b1", "bob");
    ck_assert_ptr_null(cycle(allow, 2000, now, &rep));
    ck_assert_int_eq(rep.queued, 4);    /* alice 1, bob 1, the admin 2; RUNNING none */
    ck_assert_int_eq(rep.retrying, 4);
    ck_assert_int_eq(rep.delivered, 0);
    ck_assert_int_eq(deliveries(alice)->nelts, 1);
    ck_assert_int_eq(deliveries(bob)->nelts, 1);
    ck_assert_int_eq(deliveries(admin)->nelts, 2);
    ck_assert_int_eq(deliveries(all_alice)->nelts, 0);
    d = APR_ARRAY_IDX(deliveries(alice), 0, const pai_webhook_delivery *);
    ck_assert_str_eq(d->status, "pending");
    ck_assert_int_eq(d->attempts, 1);
    ck_assert_int_eq(d->last_status, 0);
    ck_assert_int_gt(strlen(d->last_error), 0);
    ck_assert_int_eq(d->next_at - d->last_at, 1000);
    ck_assert_str_eq(d->id, apr_psprintf(ut_pool, "%s-%" APR_INT64_T_FMT, alice->id,
                                         d->change_id));
    /* nothing new, nothing due yet */
    ck_assert_ptr_null(cycle(allow, 2000, now, &rep));
    ck_assert_int_eq(rep.queued + rep.retrying, 0);
    /* each try later, until the attempts run out: then failed, not retried */
    for (i = 2; i <= PAI_WEBHOOK_ATTEMPTS; i++) {
        now += 4000000;
        ck_assert_ptr_null(cycle(allow, 2000, now, &rep));
        ck_assert_int_eq(rep.queued, 0);
    }
    ck_assert_int_eq(rep.failed, 4);
    d = APR_ARRAY_IDX(deliveries(alice), 0, const pai_webhook_delivery *);
    ck_assert_str_eq(d->status, "failed");
    ck_assert_int_eq(d->attempts, PAI_WEBHOOK_ATTEMPTS);
    ck_assert_ptr_null(cycle(allow, 2000, now + 9999999, &rep));
    ck_assert_int_eq(rep.retrying + rep.failed, 0);
    /* finished deliveries expire; a deleted hook takes its own along */
    ck_assert_ptr_null(pai_store_webhook_deliveries_expire(&db, ut_pool, d->last_at + 1));
    ck_assert_int_eq(deliveries(alice)->nelts, 0);
    ck_assert_ptr_null(pai_store_webhook_delete(&db, ut_pool, admin->id));
    ck_assert_int_eq(pai_store_webhook_delete(&db, ut_pool, admin->id)->code, PAI_ERR_NOT_FOUND);
    /* a user's hooks go with the user */
    ck_assert_ptr_null(pai_store_user_create(&db, ut_pool, "carol", "x", 0));
    ck_assert_ptr_null(pai_webhook_create(&db, ut_pool, allow, "carol", "http://127.0.0.1:1/h",
                                          ev, "0123456789abcdef", now, &bob));
    ck_assert_ptr_null(pai_store_user_delete(&db, ut_pool, "carol"));
    ck_assert_ptr_null(pai_store_webhook_get(&db, ut_pool, bob->id, &bob));
    ck_assert_ptr_null(bob);
}
END_TEST

START_TEST(a_user_has_a_bounded_number_of_hooks)
{
    apr_array_header_t *allow = NULL;
    json_t *ev = pai_json_pool(ut_pool, json_pack("[s]", "*"));
    pai_webhook_row *h;
    int i;

    ck_assert_ptr_null(pai_webhook_allow_add(ut_pool, &allow, "127.0.0.1/32"));
    for (i = 0; i < PAI_WEBHOOKS_PER_USER; i++)
        ck_assert_ptr_null(pai_webhook_create(&db, ut_pool, allow, "alice",
                                              "http://127.0.0.1:1/h", ev, "0123456789abcdef",
                                              1, &h));
    ck_assert_int_eq(pai_webhook_create(&db, ut_pool, allow, "alice", "http://127.0.0.1:1/h", ev,
                                        "0123456789abcdef", 1, &h)->code, PAI_ERR_INVALID);
}
END_TEST

Suite *suite_webhook(void)
{
    Suite *s = suite_create("webhook");
    TCase *tc = tcase_create("rules");
    TCase *st = tcase_create("sender");

    tcase_add_test(tc, private_and_reserved_addresses_are_refused);
    tcase_add_test(tc, allow_takes_addresses_and_cidrs_only);
    tcase_add_test(tc, targets_are_checked_and_pinned);
    tcase_add_test(tc, events_are_states_deleted_or_all);
    tcase_add_test(tc, signature_and_backoff);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(st, db_open, db_close);
    tcase_set_timeout(st, 60);
    tcase_add_test(st, each_hook_hears_what_its_owner_may_see_once);
    tcase_add_test(st, a_user_has_a_bounded_number_of_hooks);
    suite_add_tcase(s, st);
    return s;
}
