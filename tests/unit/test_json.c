/* Body parsing and field readers: wrong shapes become 400s naming the field. */
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "core/json.h"

/* The writer's sink for tests: appends to a pool string; fails once
 * fail_after bytes were taken (0: never). */
typedef struct { char *buf; apr_size_t len, cap, fail_after; int calls; } sink_buf;

static int sink_append(void *ctx, const char *b, apr_size_t n)
{
    sink_buf *s = ctx;
    s->calls++;
    if (s->fail_after && s->len >= s->fail_after)
        return -1;
    if (s->len + n + 1 > s->cap) {
        char *nb;
        s->cap = (s->len + n + 1) * 2;
        nb = apr_palloc(ut_pool, s->cap);
        if (s->len)
            memcpy(nb, s->buf, s->len);
        s->buf = nb;
    }
    memcpy(s->buf + s->len, b, n);
    s->len += n;
    s->buf[s->len] = 0;
    return 0;
}

/* Everything the writer made: what the sink took, then what is pending. */
static const char *writer_text(pai_jsonw *w, sink_buf *s)
{
    ck_assert_int_eq(pai_jsonw_flush(w), 0);
    return s->buf ? s->buf : "";
}

/* The same value written with the writer, field by field, and as a jansson
 * tree dumped: the bytes must be the same (clients see no change). */
START_TEST(writer_matches_jansson)
{
    static const char *const strs[] = {
        "", "plain", "quote\" and \\ backslash", "/slash/", "tab\tnl\ncr\rbs\bff\f",
        "\x01\x1f\x7f ctl", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 utf-8",
        "\xe2\x80\xa8 line sep", "<script>&amp;</script>", "\u00e9 literal",
    };
    const json_int_t nums[] = {0, -1, 42, 2147483648LL, -9223372036854775807LL - 1,
                               9223372036854775807LL};
    size_t i, k;

    for (i = 0; i < sizeof(strs) / sizeof(*strs); i++) {
        sink_buf s = {0};
        pai_jsonw *w = pai_jsonw_make(ut_pool, sink_append, &s);
        json_t *tree = json_pack("[s,{s:s,s:[],s:{},s:n,s:[s,s]}]", strs[i], strs[i], strs[i],
                                 "e", "o", "n", "l", strs[i], "x");
        pai_jsonw_open(w, '[');
        pai_jsonw_str(w, strs[i]);
        pai_jsonw_open(w, '{');
        pai_jsonw_key(w, strs[i]);
        pai_jsonw_str(w, strs[i]);
        pai_jsonw_key(w, "e");
        pai_jsonw_open(w, '[');
        pai_jsonw_close(w, ']');
        pai_jsonw_key(w, "o");
        pai_jsonw_open(w, '{');
        pai_jsonw_close(w, '}');
        pai_jsonw_key(w, "n");
        pai_jsonw_str(w, NULL);
        pai_jsonw_key(w, "l");
        pai_jsonw_value(w, json_pack("[s,s]", strs[i], "x"));
        pai_jsonw_close(w, '}');
        pai_jsonw_close(w, ']');
        ck_assert_ptr_nonnull(tree);
        ck_assert_str_eq(writer_text(w, &s), pai_json_dump(ut_pool, tree));
        json_decref(tree);
    }
    for (k = 0; k < sizeof(nums) / sizeof(*nums); k++) {
        sink_buf s = {0};
        pai_jsonw *w = pai_jsonw_make(ut_pool, sink_append, &s);
        json_t *tree = json_pack("{s:I}", "n", nums[k]);
        pai_json_field f[] = {PAI_JF_INT("n", nums[k])};
        pai_jsonw_open(w, '{');
        pai_jsonw_fields(w, f, 1);
        pai_jsonw_close(w, '}');
        ck_assert_str_eq(writer_text(w, &s), pai_json_dump(ut_pool, tree));
        json_decref(tree);
    }
    /* Bytes that are not UTF-8 (never stored) still make valid JSON. */
    {
        static const char *const bad[] = {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80",
                                          "\xf4\x90\x80\x80", "\xe2\x82"};
        for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
            sink_buf s = {0};
            pai_jsonw *w = pai_jsonw_make(ut_pool, sink_append, &s);
            pai_error *e;
            const char *text;
            pai_jsonw_str(w, bad[i]);
            text = writer_text(w, &s);
            ck_assert_msg(pai_json_parse(ut_pool, text, strlen(text), &e) != NULL, "bad %zu: %s",
                          i, text);
            ck_assert_ptr_nonnull(strstr(text, "\\uFFFD"));
        }
    }
}
END_TEST

/* A list longer than the writer's buffer goes to the sink in pieces, each
 * at most the buffer, and the pieces make the whole; nothing is sent before
 * the buffer fills (a short answer can still be replaced by an error). */
START_TEST(writer_streams_in_chunks)
{
    sink_buf s = {0};
    pai_jsonw *w = pai_jsonw_make(ut_pool, sink_append, &s);
    json_t *tree = json_array();
    char *big = apr_palloc(ut_pool, 40001);
    apr_size_t len;
    int i;

    memset(big, 'x', 40000);
    big[40000] = 0;
    pai_jsonw_open(w, '[');
    for (i = 0; i < 5000; i++) {
        const char *name = apr_psprintf(ut_pool, "job_%d", i);
        pai_json_field f[] = {PAI_JF_STR("name", name), PAI_JF_INT("i", i), PAI_JF_MS("t", 0)};
        pai_jsonw_open(w, '{');
        pai_jsonw_fields(w, f, 3);
        pai_jsonw_close(w, '}');
        json_array_append_new(tree, json_pack("{s:s,s:i,s:n}", "name", name, "i", i, "t"));
        if (i == 10) {
            ck_assert_int_eq(pai_jsonw_sent(w), 0);
            ck_assert_ptr_nonnull(pai_jsonw_pending(w, &len));
            ck_assert_int_gt(len, 0);
        }
    }
    pai_jsonw_str(w, big);                  /* one string longer than the buffer */
    json_array_append_new(tree, json_string(big));
    pai_jsonw_close(w, ']');
    ck_assert_int_gt(pai_jsonw_sent(w), 0);
    ck_assert_str_eq(writer_text(w, &s), pai_json_dump(ut_pool, tree));
    ck_assert_int_gt(s.calls, 5);
    json_decref(tree);
    /* A sink that fails (the client left): the writer stops calling it. */
    {
        sink_buf f = {0};
        int calls;
        f.fail_after = 1;
        w = pai_jsonw_make(ut_pool, sink_append, &f);
        pai_jsonw_open(w, '[');
        for (i = 0; i < 20000; i++)
            pai_jsonw_int(w, i);
        pai_jsonw_close(w, ']');
        ck_assert_int_ne(pai_jsonw_flush(w), 0);
        calls = f.calls;
        ck_assert_int_le(calls, 2);
        pai_jsonw_int(w, 1);
        ck_assert_int_ne(pai_jsonw_flush(w), 0);
        ck_assert_int_eq(f.calls, calls);
    }
}
END_TEST

START_TEST(parse_table)
{
    struct { const char *body; int ok; } t[] = {
        {"{\"a\":1}", 1}, {"[]", 1}, {"{\"a\":1,\"a\":2}", 0}, {"{", 0}, {"", 0},
        {"{\"a\":\"\\u0000\"}", 0}, {"{\"a\":\"\xff\"}", 0}, {"{} x", 0},
    };
    size_t i;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        pai_error *e;
        json_t *j = pai_json_parse(ut_pool, t[i].body, strlen(t[i].body), &e);
        ck_assert_msg((j != NULL) == t[i].ok, "body %zu", i);
        if (!t[i].ok)
            ck_assert_int_eq(e->code, PAI_ERR_INVALID);
    }
}
END_TEST

START_TEST(parse_deep_nesting)
{
    size_t n = 10000, i;
    char *b = apr_palloc(ut_pool, 2 * n + 1);
    pai_error *e;
    for (i = 0; i < n; i++) { b[i] = '['; b[n + i] = ']'; }
    b[2 * n] = 0;
    ck_assert_ptr_null(pai_json_parse(ut_pool, b, 2 * n, &e));
}
END_TEST

START_TEST(form_table)
{
    pai_error *e;
    const char *ok = "username=admin&password=a%2Bb+c&expiration=60&&empty=";
    json_t *f = pai_form_parse(ut_pool, ok, strlen(ok), &e);
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq(pai_json_str(f, "username"), "admin");
    ck_assert_str_eq(pai_json_str(f, "password"), "a+b c");
    ck_assert_str_eq(pai_json_str(f, "empty"), "");
    ck_assert_ptr_null(pai_form_parse(ut_pool, "a=1&a=2", 7, &e));
    ck_assert_ptr_null(pai_form_parse(ut_pool, "a=%00", 5, &e));
    ck_assert_ptr_null(pai_form_parse(ut_pool, "a=%zz", 5, &e));
    ck_assert_ptr_null(pai_form_parse(ut_pool, "a=%4", 4, &e));
    ck_assert_ptr_null(pai_form_parse(ut_pool, "a=%ff", 5, &e));  /* not UTF-8 */
}
END_TEST

START_TEST(fields)
{
    pai_error *e;
    const char *body = "{\"s\":\"x\",\"i\":5,\"t\":\"7\",\"b\":true,\"f\":1.5,\"n\":null,\"big\":99999999999999999999}";
    json_t *o = pai_json_parse(ut_pool, body, strlen(body), &e);
    const char *s;
    json_int_t i;
    int b, present;
    static const char *const allowed[] = {"s", "i", NULL};

    ck_assert_ptr_null(o);   /* the overflowing integer is refused by the parser */
    body = "{\"s\":\"x\",\"i\":5,\"t\":\"7\",\"b\":true,\"f\":1.5,\"n\":null}";
    o = pai_json_parse(ut_pool, body, strlen(body), &e);
    ck_assert_ptr_nonnull(o);
    ck_assert_ptr_null(pai_field_str(ut_pool, o, NULL, "s", 1, &s));
    ck_assert_str_eq(s, "x");
    e = pai_field_str(ut_pool, o, "job", "i", 1, &s);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->message, "field 'job.i' must be a string");
    ck_assert_ptr_nonnull(pai_field_str(ut_pool, o, NULL, "missing", 1, &s));
    ck_assert_ptr_null(pai_field_str(ut_pool, o, NULL, "n", 0, &s));
    ck_assert_ptr_null(s);
    ck_assert_ptr_null(pai_field_int(ut_pool, o, NULL, "i", 1, 0, &i, &present));
    ck_assert_int_eq(i, 5);
    ck_assert_ptr_nonnull(pai_field_int(ut_pool, o, NULL, "t", 1, 0, &i, &present));
    ck_assert_ptr_null(pai_field_int(ut_pool, o, NULL, "t", 1, 1, &i, &present));
    ck_assert_int_eq(i, 7);
    ck_assert_ptr_nonnull(pai_field_int(ut_pool, o, NULL, "f", 1, 1, &i, &present));
    ck_assert_ptr_nonnull(pai_field_int(ut_pool, o, NULL, "b", 1, 1, &i, &present));
    ck_assert_ptr_null(pai_field_bool(ut_pool, o, NULL, "b", 0, &b, &present));
    ck_assert(b && present);
    ck_assert_ptr_nonnull(pai_field_bool(ut_pool, o, NULL, "s", 0, &b, &present));
    e = pai_field_only(ut_pool, o, NULL, allowed);
    ck_assert_ptr_nonnull(e);
    ck_assert(strstr(e->message, "unknown field") != NULL);
}
END_TEST

/* The splitter's callback for tests: keeps a copy of each object. */
typedef struct { json_t *got; int stop_at; } split_seen;

static int split_keep(void *ctx, json_t *elem)
{
    split_seen *k = ctx;
    json_array_append(k->got, elem);
    return k->stop_at && (int)json_array_size(k->got) >= k->stop_at;
}

/* Feeds doc in pieces of `step` bytes (0: two pieces cut at `cut`). */
static json_t *split_run(const char *doc, const char *key, apr_size_t cut, apr_size_t step,
                         apr_size_t max_elem, split_seen *k, int *fed)
{
    pai_json_split *sp = pai_json_split_make(ut_pool, key, max_elem, 4096, split_keep, k);
    apr_size_t n = strlen(doc), at = 0;

    *fed = 0;
    if (!step) {
        *fed |= pai_json_split_feed(sp, doc, cut);
        *fed |= pai_json_split_feed(sp, doc + cut, n - cut);
    }
    else {
        for (at = 0; at < n; at += step)
            *fed |= pai_json_split_feed(sp, doc + at, n - at < step ? n - at : step);
    }
    return pai_json_split_rest(sp, ut_pool);
}

/* Slurm's job list read in pieces cut anywhere (inside strings, escapes,
 * between objects): the same objects, in order, and the same rest as a
 * tree of the whole would give; what is not an array of objects under the
 * key, too big, cut short, or stopped by the callback is refused. */
START_TEST(split_array_in_pieces)
{
    const char *doc = "{\"meta\":{\"x\":\"jobs\",\"jobs\":[1]},\"errors\":[{\"e\":\"a]}\\\"{\"}],"
                      "\"jobs\" : [ {\"id\":1,\"s\":\"}]\\\\\\\"[\"} ,\n{\"id\":2,\"n\":{\"a\":[1,"
                      "{\"b\":2}]}},{}],\"last\":5}";
    json_t *whole = pai_json_pool(ut_pool, json_loads(doc, 0, NULL)), *want_rest, *rest;
    apr_size_t cut, n = strlen(doc);
    split_seen k;
    int fed;

    ck_assert_ptr_nonnull(whole);
    want_rest = pai_json_pool(ut_pool, json_deep_copy(whole));
    json_object_set_new(want_rest, "jobs", json_array());
    for (cut = 0; cut <= n + 3; cut++) {
        k.got = pai_json_pool(ut_pool, json_array());
        k.stop_at = 0;
        rest = cut <= n ? split_run(doc, "jobs", cut, 0, 1024, &k, &fed)
                        : split_run(doc, "jobs", 0, cut - n, 1024, &k, &fed);
        ck_assert_int_eq(fed, 0);
        ck_assert_msg(rest && json_equal(rest, want_rest), "rest at cut %zu", cut);
        ck_assert_msg(json_equal(k.got, json_object_get(whole, "jobs")), "objects at cut %zu",
                      cut);
    }
    /* Another key: nothing split, the whole document is the rest. */
    k.got = pai_json_pool(ut_pool, json_array());
    rest = split_run(doc, "job", 10, 0, 1024, &k, &fed);
    ck_assert(!fed && rest && json_equal(rest, whole) && json_array_size(k.got) == 0);
    /* The callback stops it after the first object. */
    k.got = pai_json_pool(ut_pool, json_array());
    k.stop_at = 1;
    ck_assert_ptr_null(split_run(doc, "jobs", 7, 0, 1024, &k, &fed));
    ck_assert(fed && json_array_size(k.got) == 1);
    /* An object over the bound, whole or in pieces smaller than the buffer. */
    k.stop_at = 0;
    ck_assert_ptr_null(split_run(doc, "jobs", 7, 0, 20, &k, &fed));
    ck_assert_int_ne(fed, 0);
    ck_assert_ptr_null(split_run(doc, "jobs", 0, 3, 20, &k, &fed));
    ck_assert_int_ne(fed, 0);
    /* Not objects, cut short, closed too often, not an object at all. */
    ck_assert_ptr_null(split_run("{\"jobs\":[{},2]}", "jobs", 3, 0, 1024, &k, &fed));
    ck_assert_ptr_null(split_run("{\"jobs\":[\"a\"]}", "jobs", 3, 0, 1024, &k, &fed));
    ck_assert_ptr_null(split_run("{\"jobs\":[[]]}", "jobs", 3, 0, 1024, &k, &fed));
    ck_assert_ptr_null(split_run("{\"jobs\":[{\"a\":1}", "jobs", 3, 0, 1024, &k, &fed));
    ck_assert_ptr_null(split_run("{\"jobs\":[]}]}", "jobs", 3, 0, 1024, &k, &fed));
    ck_assert_ptr_null(split_run("[{\"jobs\":[]}]", "jobs", 3, 0, 1024, &k, &fed));
    ck_assert_ptr_null(split_run("", "jobs", 0, 0, 1024, &k, &fed));
    /* A rest over its bound (4096 bytes here). */
    {
        char *big = apr_psprintf(ut_pool, "{\"meta\":\"%0*d\",\"jobs\":[]}", 5000, 0);
        ck_assert_ptr_null(split_run(big, "jobs", 100, 0, 1024, &k, &fed));
        ck_assert_ptr_null(split_run(big, "jobs", 0, 7, 1024, &k, &fed));
    }
}
END_TEST

Suite *suite_json(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, parse_table);
    tcase_add_test(tc, writer_matches_jansson);
    tcase_add_test(tc, writer_streams_in_chunks);
    tcase_add_test(tc, parse_deep_nesting);
    tcase_add_test(tc, form_table);
    tcase_add_test(tc, fields);
    tcase_add_test(tc, split_array_in_pieces);
    suite_add_tcase(s, tc);
    return s;
}
