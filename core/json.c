/* Pool-bound jansson helpers and strict readers of client bodies. */
#include <string.h>
#include <stdlib.h>
#include <errno.h>
#include <apr_strings.h>
#include "json.h"

static apr_status_t json_cleanup(void *data)
{
    json_decref((json_t *)data);
    return APR_SUCCESS;
}

json_t *pai_json_pool(apr_pool_t *p, json_t *j)
{
    if (j)
        apr_pool_cleanup_register(p, j, json_cleanup, apr_pool_cleanup_null);
    return j;
}

json_t *pai_json_parse(apr_pool_t *p, const char *buf, apr_size_t len, pai_error **err)
{
    json_error_t je;
    json_t *j;

    *err = NULL;
    /* JSON_ALLOW_NUL is not given: a NUL inside a string is refused. */
    j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!j) {
        *err = pai_error_make(p, PAI_ERR_INVALID, "malformed JSON body at line %d column %d: %s",
                              je.line, je.column, je.text);
        return NULL;
    }
    return pai_json_pool(p, j);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes one form component; NUL bytes are refused. */
static char *form_decode(apr_pool_t *p, const char *s, apr_size_t n, int *ok)
{
    char *out = apr_palloc(p, n + 1), *o = out;
    apr_size_t i;

    *ok = 1;
    for (i = 0; i < n; i++) {
        if (s[i] == '+') {
            *o++ = ' ';
        }
        else if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= n) { *ok = 0; return NULL; }
            hi = hexval((unsigned char)s[i + 1]);
            lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) { *ok = 0; return NULL; }
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        }
        else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

json_t *pai_form_parse(apr_pool_t *p, const char *buf, apr_size_t len, pai_error **err)
{
    json_t *o = pai_json_pool(p, json_object());
    apr_size_t i = 0;

    *err = NULL;
    while (i < len) {
        apr_size_t end = i, eq;
        char *k, *v;
        int ok1, ok2;
        json_t *s;

        while (end < len && buf[end] != '&')
            end++;
        if (end == i) { i++; continue; }
        for (eq = i; eq < end && buf[eq] != '='; eq++)
            ;
        k = form_decode(p, buf + i, eq - i, &ok1);
        v = eq < end ? form_decode(p, buf + eq + 1, end - eq - 1, &ok2)
                     : (ok2 = 1, apr_pstrdup(p, ""));
        if (!ok1 || !ok2) {
            *err = pai_error_make(p, PAI_ERR_INVALID, "malformed form body: bad %%-escape");
            return NULL;
        }
        if (json_object_get(o, k)) {
            *err = pai_error_make(p, PAI_ERR_INVALID, "form field '%s' given twice", k);
            return NULL;
        }
        s = json_string(v);
        if (!s) {
            *err = pai_error_make(p, PAI_ERR_INVALID, "form field '%s' is not valid UTF-8", k);
            return NULL;
        }
        if (json_object_set_new(o, k, s) != 0) {
            *err = pai_error_make(p, PAI_ERR_INVALID, "form field name is not valid UTF-8");
            return NULL;
        }
        i = end + 1;
    }
    return o;
}

char *pai_json_dump(apr_pool_t *p, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    char *r;

    if (!s)
        return apr_pstrdup(p, "null");
    r = apr_pstrdup(p, s);
    free(s);
    return r;
}

const char *pai_json_str(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

json_t *pai_json_arr(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_array(v) ? v : NULL;
}

int pai_json_int(const json_t *o, const char *key, json_int_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return 0;
    *out = json_integer_value(v);
    return 1;
}

static const char *field_name(apr_pool_t *p, const char *where, const char *key)
{
    return (where && *where) ? apr_pstrcat(p, where, ".", key, NULL) : key;
}

pai_error *pai_field_str(apr_pool_t *p, const json_t *o, const char *where,
                         const char *key, int required, const char **out)
{
    json_t *v = json_object_get(o, key);

    *out = NULL;
    if (!v || json_is_null(v)) {
        return required ? pai_error_make(p, PAI_ERR_INVALID, "field '%s' is required",
                                         field_name(p, where, key))
                        : NULL;
    }
    if (!json_is_string(v))
        return pai_error_make(p, PAI_ERR_INVALID, "field '%s' must be a string",
                              field_name(p, where, key));
    if (strlen(json_string_value(v)) != json_string_length(v))
        return pai_error_make(p, PAI_ERR_INVALID, "field '%s' must not contain NUL bytes",
                              field_name(p, where, key));
    *out = json_string_value(v);
    return NULL;
}

pai_error *pai_field_int(apr_pool_t *p, const json_t *o, const char *where,
                         const char *key, int required, int allow_text,
                         json_int_t *out, int *present)
{
    json_t *v = json_object_get(o, key);

    if (present)
        *present = 0;
    if (!v || json_is_null(v)) {
        return required ? pai_error_make(p, PAI_ERR_INVALID, "field '%s' is required",
                                         field_name(p, where, key))
                        : NULL;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
    }
    else if (allow_text && json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        long long n;
        errno = 0;
        n = strtoll(s, &end, 10);
        if (!*s || *end || errno == ERANGE)
            return pai_error_make(p, PAI_ERR_INVALID, "field '%s' must be an integer",
                                  field_name(p, where, key));
        *out = n;
    }
    else {
        return pai_error_make(p, PAI_ERR_INVALID, "field '%s' must be an integer",
                              field_name(p, where, key));
    }
    if (present)
        *present = 1;
    return NULL;
}

pai_error *pai_field_bool(apr_pool_t *p, const json_t *o, const char *where,
                          const char *key, int allow_text, int *out, int *present)
{
    json_t *v = json_object_get(o, key);

    if (present)
        *present = 0;
    if (!v || json_is_null(v))
        return NULL;
    if (json_is_boolean(v))
        *out = json_is_true(v);
    else if (allow_text && json_is_string(v) && !strcmp(json_string_value(v), "true"))
        *out = 1;
    else if (allow_text && json_is_string(v) && !strcmp(json_string_value(v), "false"))
        *out = 0;
    else
        return pai_error_make(p, PAI_ERR_INVALID, "field '%s' must be true or false",
                              field_name(p, where, key));
    if (present)
        *present = 1;
    return NULL;
}

pai_error *pai_field_only(apr_pool_t *p, const json_t *o, const char *where,
                          const char *const *allowed)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)o, key, v) {
        const char *const *a;
        for (a = allowed; *a; a++)
            if (!strcmp(*a, key))
                break;
        if (!*a)
            return pai_error_make(p, PAI_ERR_INVALID, "unknown field '%s'",
                                  field_name(p, where, key));
    }
    return NULL;
}

void pai_json_set_str(json_t *o, const char *key, const char *val)
{
    json_object_set_new(o, key, val ? json_string(val) : json_null());
}

void pai_json_set_int(json_t *o, const char *key, json_int_t val)
{
    json_object_set_new(o, key, json_integer(val));
}
