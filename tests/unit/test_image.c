/* Image references as docker reads them (Docker Hub's short names, registries
 * with ports, tags, digests), the errors that name what is wrong, the allow
 * rules, and the host paths containers may bind. */
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "core/image.h"

static const char *canonical(const char *s)
{
    pai_image_ref ref;
    return pai_image_ref_parse(ut_pool, s, &ref) ? NULL : ref.canonical;
}

static const char *refusal(const char *s)
{
    pai_image_ref ref;
    pai_error *e = pai_image_ref_parse(ut_pool, s, &ref);
    return e ? e->message : NULL;
}

START_TEST(references_normalize_as_docker_pulls_them)
{
    const char *digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    ck_assert_str_eq(canonical("ubuntu"), "docker.io/library/ubuntu:latest");
    ck_assert_str_eq(canonical("ubuntu:22.04"), "docker.io/library/ubuntu:22.04");
    ck_assert_str_eq(canonical("pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime"),
                     "docker.io/pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime");
    ck_assert_str_eq(canonical("index.docker.io/library/debian:12"), "docker.io/library/debian:12");
    ck_assert_str_eq(canonical("127.0.0.1:5000/pai/test:1"), "127.0.0.1:5000/pai/test:1");
    ck_assert_str_eq(canonical("localhost/pai/test"), "localhost/pai/test:latest");
    ck_assert_str_eq(canonical("registry.example.com/a/b/c__d-e.f:V1_x"),
                     "registry.example.com/a/b/c__d-e.f:V1_x");
    ck_assert_str_eq(canonical(apr_pstrcat(ut_pool, "ubuntu@", digest, NULL)),
                     apr_pstrcat(ut_pool, "docker.io/library/ubuntu@", digest, NULL));
    /* A tag and a digest: the digest is what is pulled. */
    ck_assert_str_eq(canonical(apr_pstrcat(ut_pool, "r.io:443/x:1@", digest, NULL)),
                     apr_pstrcat(ut_pool, "r.io:443/x@", digest, NULL));
}
END_TEST

START_TEST(bad_references_say_what_is_wrong)
{
    ck_assert_ptr_nonnull(strstr(refusal(""), "must not be empty"));
    ck_assert_ptr_nonnull(strstr(refusal("Ubuntu:22.04"), "'Ubuntu' must be lowercase"));
    ck_assert_ptr_nonnull(strstr(refusal("ubuntu:bad tag"), "the tag 'bad tag'"));
    ck_assert_ptr_nonnull(strstr(refusal("ubuntu:-x"), "the tag"));
    ck_assert_ptr_nonnull(strstr(refusal("ubuntu@sha256:12"), "digest"));
    ck_assert_ptr_nonnull(strstr(refusal("ubuntu@md5:0123"), "digest"));
    ck_assert_ptr_nonnull(strstr(refusal("r.io:99999999/x:1"), "not a registry"));
    ck_assert_ptr_nonnull(strstr(refusal("r..io/x:1"), "not a registry"));
    ck_assert_ptr_nonnull(strstr(refusal("r.io//x:1"), "empty name"));
    ck_assert_ptr_nonnull(strstr(refusal("r.io/x/:1"), "empty name"));
    ck_assert_ptr_nonnull(strstr(refusal("-x"), "must be lowercase"));
    ck_assert_ptr_nonnull(strstr(refusal("a..b"), "must be lowercase"));
    ck_assert_ptr_nonnull(strstr(refusal("a;rm -rf x"), "must be lowercase"));
    ck_assert_ptr_nonnull(refusal("a;rm -rf /"));
    ck_assert_ptr_nonnull(strstr(refusal(apr_psprintf(ut_pool, "%0600d", 0)), "longer than"));
}
END_TEST

START_TEST(allow_rules_match_the_registry_and_name)
{
    apr_array_header_t *rules = apr_array_make(ut_pool, 2, sizeof(const char *));
    pai_image_ref a, b, c;
    ck_assert_ptr_null(pai_image_ref_parse(ut_pool, "registry.example.com/team/x:1", &a));
    ck_assert_ptr_null(pai_image_ref_parse(ut_pool, "ubuntu:22.04", &b));
    ck_assert_ptr_null(pai_image_ref_parse(ut_pool, "evil.example.com/registry.example.com/x", &c));
    ck_assert_int_eq(pai_image_allowed(&a, NULL), 1);
    ck_assert_int_eq(pai_image_allowed(&a, rules), 1);
    APR_ARRAY_PUSH(rules, const char *) = "registry.example.com/*";
    ck_assert_int_eq(pai_image_allowed(&a, rules), 1);
    ck_assert_int_eq(pai_image_allowed(&b, rules), 0);
    ck_assert_int_eq(pai_image_allowed(&c, rules), 0);
    APR_ARRAY_PUSH(rules, const char *) = "docker.io/library/*";
    ck_assert_int_eq(pai_image_allowed(&b, rules), 1);
}
END_TEST

START_TEST(only_plain_absolute_paths_are_bound)
{
    ck_assert_int_eq(pai_image_mount_path_ok("/data/set-1/v2.0"), 1);
    ck_assert_int_eq(pai_image_mount_path_ok("/"), 0);
    ck_assert_int_eq(pai_image_mount_path_ok("data"), 0);
    ck_assert_int_eq(pai_image_mount_path_ok("hdfs://nn:9000/data"), 0);
    ck_assert_int_eq(pai_image_mount_path_ok("/data/../etc"), 0);
    ck_assert_int_eq(pai_image_mount_path_ok("/data/./x"), 0);
    ck_assert_int_eq(pai_image_mount_path_ok("/data;x"), 0);
    ck_assert_int_eq(pai_image_mount_path_ok("/data,x"), 0);
    ck_assert_int_eq(pai_image_mount_path_ok("/a b"), 0);
    ck_assert_int_eq(pai_image_mount_path_ok(""), 0);
}
END_TEST

Suite *suite_image(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("image");
    tcase_add_test(tc, references_normalize_as_docker_pulls_them);
    tcase_add_test(tc, bad_references_say_what_is_wrong);
    tcase_add_test(tc, allow_rules_match_the_registry_and_name);
    tcase_add_test(tc, only_plain_absolute_paths_are_bound);
    suite_add_tcase(s, tc);
    return s;
}
