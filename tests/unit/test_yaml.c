/* core/yaml.c: the job protocol's YAML, its types, and the limits that keep a
 * hostile document cheap. */
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "core/yaml.h"

static const pai_yaml_limits lim = {32, 10000};

static json_t *parse(const char *s, pai_error **e)
{
    return pai_yaml_parse(ut_pool, s, strlen(s), &lim, e);
}

START_TEST(a_protocol_document_reads_with_its_types)
{
    pai_error *e;
    json_t *v = parse("protocolVersion: 2\n"
                      "name: job-1\n"
                      "type: job\n"
                      "jobRetryCount: 0\n"
                      "prerequisites:\n"
                      "  - name: img\n"
                      "    type: dockerimage\n"
                      "    uri: 'ubuntu:22.04'\n"
                      "taskRoles:\n"
                      "  worker:\n"
                      "    instances: 2\n"
                      "    resourcePerInstance: {cpu: 1, memoryMB: 512, gpu: 0}\n"
                      "    commands:\n"
                      "      - echo hi\n"
                      "      - \"true\"\n"
                      "flags: [true, false, null, ~, 1.5, -3, '7', 99999999999999999999]\n",
                      &e);
    ck_assert_msg(v != NULL, "%s", e ? e->message : "");
    ck_assert_int_eq(json_integer_value(json_object_get(v, "protocolVersion")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(v, "name")), "job-1");
    json_t *w = json_object_get(json_object_get(v, "taskRoles"), "worker");
    ck_assert_int_eq(json_integer_value(json_object_get(w, "instances")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(w, "resourcePerInstance"),
                                                        "memoryMB")), 512);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(w, "commands"), 1)), "true");
    json_t *f = json_object_get(v, "flags");
    ck_assert(json_is_true(json_array_get(f, 0)));
    ck_assert(json_is_false(json_array_get(f, 1)));
    ck_assert(json_is_null(json_array_get(f, 2)));
    ck_assert(json_is_null(json_array_get(f, 3)));
    ck_assert(json_is_real(json_array_get(f, 4)));
    ck_assert_int_eq(json_integer_value(json_array_get(f, 5)), -3);
    ck_assert_str_eq(json_string_value(json_array_get(f, 6)), "7");
    ck_assert_str_eq(json_string_value(json_array_get(f, 7)), "99999999999999999999");
    /* JSON is YAML too. */
    v = parse("{\"a\": [1, \"b\"]}", &e);
    ck_assert_msg(v != NULL, "%s", e ? e->message : "");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(v, "a"), 1)), "b");
}
END_TEST

START_TEST(bad_documents_say_what_and_where)
{
    static const struct { const char *doc, *says; } bad[] = {
        {"a: 1\na: 2\n", "key 'a' given twice at line 2"},
        {"a: [1, 2\n", "line"},
        {"? [1]\n: x\n", "a mapping key must be text"},
        {"a: 1\n---\nb: 2\n", "more than one document"},
        {"", "an empty document"},
        {"a: *nothing\n", "an alias to no anchor"},
        {"a: \"\\0\"\n", "a NUL character"},
    };
    size_t i;
    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        pai_error *e = NULL;
        ck_assert_msg(parse(bad[i].doc, &e) == NULL, "accepted: %s", bad[i].doc);
        ck_assert_int_eq(e->code, PAI_ERR_INVALID);
        ck_assert_msg(strstr(e->message, bad[i].says), "%s: %s", bad[i].doc, e->message);
    }
}
END_TEST

START_TEST(an_alias_bomb_is_refused_fast)
{
    /* Nine levels of ten aliases each would be a billion nodes. */
    const char *bomb =
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
        "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    pai_error *e = NULL;
    apr_time_t t0 = apr_time_now();
    ck_assert_ptr_null(parse(bomb, &e));
    ck_assert_msg(strstr(e->message, "more than 10000 nodes"), "%s", e->message);
    ck_assert_int_lt(apr_time_now() - t0, apr_time_from_msec(500));
    /* A few aliases are fine. */
    json_t *v = parse("base: &b {cpu: 1}\none: *b\ntwo: *b\n", &e);
    ck_assert_msg(v != NULL, "%s", e ? e->message : "");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(v, "two"), "cpu")), 1);
    /* An anchored key read back through its alias. */
    v = parse("&k key: 1\nother: *k\n", &e);
    ck_assert_msg(v != NULL, "%s", e ? e->message : "");
    ck_assert_str_eq(json_string_value(json_object_get(v, "other")), "key");
}
END_TEST

START_TEST(deep_nesting_is_refused)
{
    char *doc = apr_pstrcat(ut_pool, "a: ", NULL);
    int i;
    pai_error *e = NULL;
    for (i = 0; i < 40; i++)
        doc = apr_pstrcat(ut_pool, doc, "[", NULL);
    for (i = 0; i < 40; i++)
        doc = apr_pstrcat(ut_pool, doc, "]", NULL);
    ck_assert_ptr_null(parse(doc, &e));
    ck_assert_msg(strstr(e->message, "nesting deeper than 32"), "%s", e->message);
}
END_TEST

START_TEST(a_dump_reads_back_the_same)
{
    pai_error *e = NULL;
    json_t *v = json_pack("{s:i, s:s, s:s, s:s, s:[s, b, n, f], s:{s:s}}", "protocolVersion", 2,
                          "name", "j", "looksTrue", "true", "number", "12",
                          "list", "a: b", 1, 0.5, "deep", "k", "multi\nline");
    const char *text = pai_yaml_dump(ut_pool, v);
    json_t *back;
    ck_assert_ptr_nonnull(text);
    back = parse(text, &e);
    ck_assert_msg(back != NULL, "%s: %s", text, e ? e->message : "");
    ck_assert_msg(json_equal(v, back), "%s", text);
    json_decref(v);
}
END_TEST

Suite *suite_yaml(void)
{
    Suite *s = suite_create("yaml");
    TCase *t = tcase_create("read and write");
    tcase_add_test(t, a_protocol_document_reads_with_its_types);
    tcase_add_test(t, bad_documents_say_what_and_where);
    tcase_add_test(t, an_alias_bomb_is_refused_fast);
    tcase_add_test(t, deep_nesting_is_refused);
    tcase_add_test(t, a_dump_reads_back_the_same);
    suite_add_tcase(s, t);
    return s;
}
