/* Fuzzes the request-body parsers: strict JSON and form-urlencoded, then the
 * field readers handlers use on what they return. */
#include "fuzz.h"
#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    char *buf = fuzz_cstr(p, data, size);
    pai_error *err = NULL;
    json_t *j = pai_json_parse(p, buf, size, &err);
    json_t *f;
    const char *s;
    json_int_t n;
    int b, present;

    if (!j && !err)
        abort();    /* a refusal must say why */
    err = NULL;
    f = pai_form_parse(p, buf, size, &err);
    if (!f && !err)
        abort();
    if (j) {
        pai_field_str(p, j, "body", "username", 1, &s);
        pai_field_int(p, j, "body", "expiration", 0, 1, &n, &present);
        pai_field_bool(p, j, "body", "admin", 1, &b, &present);
        pai_json_dump(p, j);
    }
    if (f) {
        pai_field_str(p, f, "form", "username", 1, &s);
        pai_field_int(p, f, "form", "expiration", 0, 1, &n, &present);
        pai_field_bool(p, f, "form", "admin", 1, &b, &present);
        pai_json_dump(p, f);
    }
    FUZZ_DONE(p);
}
