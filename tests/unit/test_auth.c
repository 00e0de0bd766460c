/* Tokens and passwords: every way a token can be wrong is refused. */
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <stdint.h>
#include <apr_thread_proc.h>
#include <jwt.h>
#include <apr_strings.h>
#include <apr_base64.h>
#include "tests.h"
#include "core/viewcache.h"
#include "core/auth.h"
#include "core/authcache.h"
#include "core/sshkey.h"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef-unit";
#define KEYLEN (sizeof(KEY) - 1)
static const apr_int64_t NOW = 1800000000;

static const char *issue(apr_int64_t exp)
{
    pai_claims c = {"alice", 0, 42, NOW - 10, exp, NULL, 0};
    const char *tok = NULL;
    ck_assert_ptr_null(pai_token_issue(ut_pool, KEY, KEYLEN, &c, &tok));
    return tok;
}

/* Signs arbitrary grants with libjwt directly, to forge tokens. */
static const char *forge(jwt_alg_t alg, const unsigned char *key, int keylen, int with_exp)
{
    jwt_t *j;
    char *s;
    const char *out;
    jwt_new(&j);
    jwt_add_grant(j, "username", "alice");
    jwt_add_grant_int(j, "gen", 42);
    if (with_exp)
        jwt_add_grant_int(j, "exp", (long)(NOW + 3600));
    jwt_set_alg(j, alg, key, keylen);
    s = jwt_encode_str(j);
    out = apr_pstrdup(ut_pool, s);
    free(s);
    jwt_free(j);
    return out;
}

static char *b64url(const char *s)
{
    char *b = apr_palloc(ut_pool, apr_base64_encode_len(strlen(s)));
    char *p;
    apr_base64_encode(b, s, strlen(s));
    for (p = b; *p; p++) {
        if (*p == '+') *p = '-';
        else if (*p == '/') *p = '_';
        else if (*p == '=') { *p = '\0'; break; }
    }
    return b;
}

START_TEST(token_roundtrip)
{
    pai_claims out;
    ck_assert_ptr_null(pai_token_verify(ut_pool, KEY, KEYLEN, issue(NOW + 60), NOW, &out));
    ck_assert_str_eq(out.username, "alice");
    ck_assert_int_eq(out.generation, 42);
    ck_assert_int_eq(out.exp, NOW + 60);
    ck_assert_ptr_null(out.jti);
    ck_assert_int_eq(out.application, 0);
}
END_TEST

/* A token's id and application flag survive the round trip; an id that is
 * not 32 hex characters is not taken as one. */
START_TEST(token_id_and_application)
{
    pai_claims c = {"alice", 0, 1, NOW, NOW + 60, "0123456789abcdef0123456789abcdef", 1}, out;
    const char *tok;

    ck_assert_ptr_null(pai_token_issue(ut_pool, KEY, KEYLEN, &c, &tok));
    ck_assert_ptr_null(pai_token_verify(ut_pool, KEY, KEYLEN, tok, NOW, &out));
    ck_assert_str_eq(out.jti, c.jti);
    ck_assert_int_eq(out.application, 1);
    c.jti = "../etc/passwd";
    c.application = 0;
    ck_assert_ptr_null(pai_token_issue(ut_pool, KEY, KEYLEN, &c, &tok));
    ck_assert_ptr_null(pai_token_verify(ut_pool, KEY, KEYLEN, tok, NOW, &out));
    ck_assert_ptr_null(out.jti);
    ck_assert_int_eq(out.application, 0);
}
END_TEST

START_TEST(token_refusals)
{
    const char *good = issue(NOW + 60);
    char *tampered = apr_pstrdup(ut_pool, good);
    char *dot = strchr(tampered, '.');
    const unsigned char other[] = "another-key-another-key-another-key!!";
    struct { const char *what; const char *token; } bad[] = {
        {"expired", issue(NOW - 1)},
        {"expires now", issue(NOW)},
        {"tampered payload", NULL},
        {"HS512 with the same key", forge(JWT_ALG_HS512, KEY, KEYLEN, 1)},
        {"HS384 with the same key", forge(JWT_ALG_HS384, KEY, KEYLEN, 1)},
        {"other key", forge(JWT_ALG_HS256, other, sizeof(other) - 1, 1)},
        {"no exp", forge(JWT_ALG_HS256, KEY, KEYLEN, 0)},
        {"alg none", apr_pstrcat(ut_pool, b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}"), ".",
                                 b64url("{\"username\":\"alice\",\"gen\":42,\"exp\":1900000000}"),
                                 ".", NULL)},
        {"alg none, no dot", apr_pstrcat(ut_pool, b64url("{\"alg\":\"none\"}"), ".",
                                         b64url("{\"username\":\"alice\",\"exp\":1900000000}"), NULL)},
        {"empty", ""},
        {"garbage", "not.a.token"},
        {"two parts", "abc.def"},
    };
    size_t i;

    /* flip one character of the payload */
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    bad[2].token = tampered;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pai_claims out;
        pai_error *e = pai_token_verify(ut_pool, KEY, KEYLEN, bad[i].token, NOW, &out);
        ck_assert_msg(e != NULL, "accepted a bad token: %s", bad[i].what);
        ck_assert_int_eq(e->code, PAI_ERR_UNAUTHORIZED);
    }
}
END_TEST

START_TEST(token_short_secret_refused)
{
    pai_claims c = {"alice", 0, 1, NOW, NOW + 60, NULL, 0}, out;
    const char *tok;
    ck_assert_ptr_nonnull(pai_token_issue(ut_pool, (const unsigned char *)"", 0, &c, &tok));
    ck_assert_ptr_nonnull(pai_token_verify(ut_pool, (const unsigned char *)"", 0,
                                           issue(NOW + 60), NOW, &out));
}
END_TEST

START_TEST(password_hash_and_check)
{
    const char *h1, *h2;
    ck_assert_ptr_null(pai_password_hash(ut_pool, "s3cret!", 4, &h1));
    ck_assert_ptr_null(pai_password_hash(ut_pool, "s3cret!", 4, &h2));
    ck_assert(strncmp(h1, "$2y$04$", 7) == 0);
    ck_assert_str_ne(h1, h2);                   /* random salt */
    ck_assert(pai_password_check("s3cret!", h1));
    ck_assert(!pai_password_check("s3cret?", h1));
    ck_assert(!pai_password_check("s3cret!", "s3cret!"));    /* plain text never matches */
    ck_assert(!pai_password_check("s3cret!", "{SHA}x"));
    ck_assert(!pai_password_check(NULL, h1));
    ck_assert_ptr_nonnull(pai_password_hash(ut_pool, "x", 3, &h1));
}
END_TEST

/* The password queue: with width 1, four checks at once run one after the
 * other (their ends are a hash apart); without it two CPUs end them in pairs. */
#define GATE_THREADS 4
static const char *gate_hash;
static apr_time_t gate_ends[GATE_THREADS];

static void *APR_THREAD_FUNC gate_check(apr_thread_t *t, void *arg)
{
    int i = (int)(intptr_t)arg;
    pai_password_gate_enter();
    ck_assert(pai_password_check("gated!", gate_hash));
    pai_password_gate_leave();
    gate_ends[i] = apr_time_now();
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

static int gate_time_cmp(const void *a, const void *b)
{
    apr_time_t x = *(const apr_time_t *)a, y = *(const apr_time_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(password_gate_runs_them_in_turn)
{
    apr_thread_t *threads[GATE_THREADS];
    apr_time_t solo = 0, t0;
    apr_status_t rv;
    int i;

    ck_assert_ptr_null(pai_password_hash(ut_pool, "gated!", 9, &gate_hash));
    for (i = 0; i < 3; i++) {
        t0 = apr_time_now();
        ck_assert(pai_password_check("gated!", gate_hash));
        if (!solo || apr_time_now() - t0 < solo)
            solo = apr_time_now() - t0;
    }
    pai_password_gate_init(ut_pool, 1);
    for (i = 0; i < GATE_THREADS; i++)
        ck_assert_int_eq(apr_thread_create(&threads[i], NULL, gate_check, (void *)(intptr_t)i,
                                           ut_pool), APR_SUCCESS);
    for (i = 0; i < GATE_THREADS; i++)
        apr_thread_join(&rv, threads[i]);
    pai_password_gate_init(ut_pool, 0);
    qsort(gate_ends, GATE_THREADS, sizeof(gate_ends[0]), gate_time_cmp);
    for (i = 1; i < GATE_THREADS; i++)
        ck_assert_msg(gate_ends[i] - gate_ends[i - 1] >= solo / 2,
                      "checks %d and %d ended %" APR_TIME_T_FMT " us apart (one takes %"
                      APR_TIME_T_FMT ")", i - 1, i, gate_ends[i] - gate_ends[i - 1], solo);
}
END_TEST

START_TEST(names)
{
    struct { const char *s; int ok; } u[] = {
        {"admin", 1}, {"A_b_9", 1}, {"_", 1}, {"", 0}, {"a b", 0}, {"a-b", 0}, {"a.b", 0},
        {"../x", 0}, {"a'b", 0}, {"\xc3\xa9", 0},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0},
    };
    size_t i;
    for (i = 0; i < sizeof(u) / sizeof(u[0]); i++)
        ck_assert_msg(pai_username_valid(u[i].s) == u[i].ok, "username '%s'", u[i].s);
    ck_assert(!pai_username_valid(NULL));
    ck_assert(!pai_password_valid("12345"));
    ck_assert(pai_password_valid("123456"));
    ck_assert(!pai_password_valid(NULL));
}
END_TEST

/* Cached tokens: fresh for the TTL, never past their exp, gone on a bump. */
START_TEST(auth_cache_rules)
{
    static apr_uint32_t epoch;
    pai_auth_cache *c = pai_auth_cache_create(ut_pool, &epoch, 1000);
    pai_identity who = {"alice", 1, 0, NULL}, got;
    apr_uint32_t e0 = pai_auth_cache_epoch(c);

    ck_assert(!pai_auth_cache_get(c, ut_pool, "tok", 10000, &got));
    pai_auth_cache_put(c, "tok", &who, 20, e0, 10000);       /* exp at 20 s */
    ck_assert(pai_auth_cache_get(c, ut_pool, "tok", 10500, &got));
    ck_assert_str_eq(got.username, "alice");
    ck_assert(got.admin);
    ck_assert(!pai_auth_cache_get(c, ut_pool, "tok", 11000, &got));     /* TTL over */
    pai_auth_cache_put(c, "tok", &who, 20, e0, 19500);
    ck_assert(!pai_auth_cache_get(c, ut_pool, "tok", 20000, &got));     /* token expired */
    pai_auth_cache_put(c, "tok", &who, 30, e0, 21000);
    pai_auth_cache_bump(c);
    ck_assert(!pai_auth_cache_get(c, ut_pool, "tok", 21001, &got));     /* a user changed */
    /* verified at the old epoch, stored after the change: still not trusted */
    pai_auth_cache_put(c, "tok", &who, 30, e0, 21002);
    ck_assert(!pai_auth_cache_get(c, ut_pool, "tok", 21003, &got));
}
END_TEST

/* Cached texts: given for their version only, no older than asked, copied
 * whole (NULs and all); a key and text over a quarter of the bytes not kept; when full the
 * cache starts over. */
START_TEST(view_cache_rules)
{
    pai_view_cache *c = pai_view_cache_create(ut_pool, 3, 4000);
    char big[1001];
    apr_size_t len = 0;
    const char *t;

    ck_assert_ptr_null(pai_view_cache_get(c, ut_pool, "k", 1, 0, &len));
    pai_view_cache_put(c, "k", 1, 5000, "a\0b", 3);
    t = pai_view_cache_get(c, ut_pool, "k", 1, 4000, &len);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(len, 3);
    ck_assert(!memcmp(t, "a\0b", 3));
    ck_assert_ptr_null(pai_view_cache_get(c, ut_pool, "k", 2, 0, &len));    /* written since */
    ck_assert_ptr_null(pai_view_cache_get(c, ut_pool, "k", 1, 5001, &len)); /* too old */
    ck_assert_ptr_nonnull(pai_view_cache_get(c, ut_pool, "k", 1, 5000, NULL));
    pai_view_cache_put(c, "k", 2, 6000, "new", 3);                          /* replaced */
    ck_assert_str_eq(pai_view_cache_get(c, ut_pool, "k", 2, 0, NULL), "new");
    memset(big, 'x', sizeof(big) - 1);
    big[1000] = '\0';
    pai_view_cache_put(c, "big", 1, 6000, big, 998);          /* with its key > 4000 / 4 */
    ck_assert_ptr_null(pai_view_cache_get(c, ut_pool, "big", 1, 0, NULL));
    pai_view_cache_put(c, "big", 1, 6000, big, 997);
    ck_assert_ptr_nonnull(pai_view_cache_get(c, ut_pool, "big", 1, 0, NULL));
    pai_view_cache_put(c, "k3", 1, 6000, "3", 1);                           /* 3 entries */
    pai_view_cache_put(c, "k4", 1, 6000, "4", 1);                           /* starts over */
    ck_assert_ptr_null(pai_view_cache_get(c, ut_pool, "k", 2, 0, NULL));
    ck_assert_ptr_null(pai_view_cache_get(c, ut_pool, "big", 1, 0, NULL));
    ck_assert_str_eq(pai_view_cache_get(c, ut_pool, "k4", 1, 0, NULL), "4");
    {
        /* A text read is the cache's own, not a copy: it stays whole while
         * its reader's pool lives, through a replacement and a start-over
         * (ASan in `make test SAN=1` sees it freed too early). */
        apr_pool_t *reader;
        const char *held;

        apr_pool_create(&reader, ut_pool);
        pai_view_cache_put(c, "held", 1, 6000, "kept text", 9);
        held = pai_view_cache_get(c, reader, "held", 1, 0, &len);
        ck_assert_uint_eq(len, 9);
        pai_view_cache_put(c, "held", 2, 6000, "next text", 9);             /* replaced */
        pai_view_cache_put(c, "h2", 1, 6000, "2", 1);
        pai_view_cache_put(c, "h3", 1, 6000, "3", 1);                       /* starts over */
        ck_assert_str_eq(held, "kept text");
        ck_assert_str_eq(pai_view_cache_get(c, reader, "h3", 1, 0, NULL), "3");
        apr_pool_destroy(reader);
    }
    /* No cache (none could be made): nothing kept, nothing found. */
    pai_view_cache_put(NULL, "k", 1, 0, "x", 1);
    ck_assert_ptr_null(pai_view_cache_get(NULL, ut_pool, "k", 1, 0, NULL));
}
END_TEST

/* The in-process key pair is one OpenSSH itself reads: ssh-keygen -y derives
 * the same public key from the private file. */
START_TEST(ssh_key_pair_is_openssh)
{
    const char *priv, *pub;
    char path[] = "/tmp/pairest-unit-key-XXXXXX", line[512] = "";
    FILE *f;
    int fd;

    ck_assert_ptr_null(pai_ssh_keygen(ut_pool, "pai-job-unit", &priv, &pub));
    ck_assert(!strncmp(priv, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 36));
    ck_assert(!strncmp(pub, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 37));
    ck_assert(strstr(pub, " pai-job-unit\n"));
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, priv, strlen(priv)), (int)strlen(priv));
    close(fd);
    f = popen(apr_psprintf(ut_pool, "ssh-keygen -y -f %s", path), "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    pclose(f);
    unlink(path);
    /* ssh-keygen -y prints "type base64 comment" */
    ck_assert(!strncmp(line, pub, strlen("ssh-ed25519 ") + 68));
}
END_TEST

Suite *suite_auth(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("auth");
    tcase_add_test(tc, token_roundtrip);
    tcase_add_test(tc, token_id_and_application);
    tcase_add_test(tc, auth_cache_rules);
    tcase_add_test(tc, view_cache_rules);
    tcase_add_test(tc, ssh_key_pair_is_openssh);
    tcase_add_test(tc, token_refusals);
    tcase_add_test(tc, token_short_secret_refused);
    tcase_add_test(tc, password_hash_and_check);
    tcase_add_test(tc, password_gate_runs_them_in_turn);
    tcase_add_test(tc, names);
    suite_add_tcase(s, tc);
    return s;
}
