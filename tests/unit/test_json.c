/* Body parsing and field readers: wrong shapes become 400s naming the field. */
#include <string.h>
#include "tests.h"
#include "core/json.h"

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

Suite *suite_json(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, parse_table);
    tcase_add_test(tc, parse_deep_nesting);
    tcase_add_test(tc, form_table);
    tcase_add_test(tc, fields);
    suite_add_tcase(s, tc);
    return s;
}
