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

/* ---- the streaming writer ---------------------------------------------- */

#define JSONW_BUF 32768
#define JSONW_DEPTH 32

struct pai_jsonw {
    pai_jsonw_sink sink;
    void *ctx;
    int failed;
    int depth;
    int after_key;                  /* the next value follows a key: no comma */
    unsigned char count[JSONW_DEPTH]; /* per level: 0 before its first item */
    apr_size_t sent, len;
    char buf[JSONW_BUF];
};

pai_jsonw *pai_jsonw_make(apr_pool_t *p, pai_jsonw_sink sink, void *ctx)
{
    pai_jsonw *w = apr_palloc(p, sizeof(*w));
    w->sink = sink;
    w->ctx = ctx;
    w->failed = w->depth = w->after_key = 0;
    w->sent = w->len = 0;
    return w;
}

int pai_jsonw_flush(pai_jsonw *w)
{
    if (!w->failed && w->len) {
        w->failed = w->sink(w->ctx, w->buf, w->len) != 0;
        w->sent += w->len;
    }
    w->len = 0;
    return w->failed ? -1 : 0;
}

apr_size_t pai_jsonw_sent(const pai_jsonw *w)
{
    return w->sent;
}

const char *pai_jsonw_pending(const pai_jsonw *w, apr_size_t *len)
{
    *len = w->len;
    return w->buf;
}

static void jsonw_put(pai_jsonw *w, const char *s, apr_size_t n)
{
    while (n) {
        apr_size_t room = JSONW_BUF - w->len, k = n < room ? n : room;
        memcpy(w->buf + w->len, s, k);
        w->len += k;
        s += k;
        n -= k;
        if (w->len == JSONW_BUF)
            pai_jsonw_flush(w);
    }
}

/* The comma before an item that is not its container's first. */
static void jsonw_item(pai_jsonw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0 && w->depth <= JSONW_DEPTH) {
        if (w->count[w->depth - 1])
            jsonw_put(w, ",", 1);
        w->count[w->depth - 1] = 1;
    }
}

void pai_jsonw_open(pai_jsonw *w, char bracket)
{
    jsonw_item(w);
    jsonw_put(w, &bracket, 1);
    if (w->depth < JSONW_DEPTH)
        w->count[w->depth] = 0;
    w->depth++;
}

void pai_jsonw_close(pai_jsonw *w, char bracket)
{
    jsonw_put(w, &bracket, 1);
    w->depth--;
}

/* The continuation bytes of an n-byte UTF-8 sequence at s, and no overlong
 * form, surrogate or code point past U+10FFFF. */
static int jsonw_utf8_ok(const unsigned char *s, apr_size_t n)
{
    apr_uint32_t cp = s[0] & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
    apr_size_t i;

    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    return !(n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) &&
           !(n == 4 && (cp < 0x10000 || cp > 0x10FFFF));
}

/* 1: a byte written as it is, needing no look (printable ASCII but '"' and
 * '\\'); NUL, control characters, quotes and UTF-8 lead bytes are 0. */
static const unsigned char jsonw_plain[256] = {
    [0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1,   /* all but '"', '\\' */
};

/* A string as jansson writes it: '"', '\\' and control characters escaped
 * (\uXXXX in upper case where no short form exists), UTF-8 as it is; a byte
 * that is not UTF-8 (never stored: input is parsed as UTF-8) as U+FFFD. */
static void jsonw_string(pai_jsonw *w, const char *str)
{
    const unsigned char *s = (const unsigned char *)str, *run = s;
    char seq[8];

    jsonw_put(w, "\"", 1);
    while (*s) {
        unsigned char c;
        const char *esc = NULL;
        apr_size_t n = 1;
        /* Most bytes are plain ASCII: skip them in a tight loop. */
        while (jsonw_plain[*s])
            s++;
        if (!(c = *s))
            break;
        if (c >= 0x80) {
            n = (c & 0xE0) == 0xC0 && c >= 0xC2 ? 2 : (c & 0xF0) == 0xE0 ? 3
                : (c & 0xF8) == 0xF0 && c <= 0xF4 ? 4 : 0;
            if (n && !jsonw_utf8_ok(s, n))
                n = 0;
            if (n) {
                s += n;
                continue;
            }
            esc = "\\uFFFD";
        } else if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\b') esc = "\\b";
        else if (c == '\f') esc = "\\f";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c < 0x20) {
            apr_snprintf(seq, sizeof(seq), "\\u%04X", c);
            esc = seq;
        }
        if (!esc) {
            s++;
            continue;
        }
        jsonw_put(w, (const char *)run, (apr_size_t)(s - run));
        jsonw_put(w, esc, strlen(esc));
        s++;
        run = s;
    }
    jsonw_put(w, (const char *)run, (apr_size_t)(s - run));
    jsonw_put(w, "\"", 1);
}

void pai_jsonw_key(pai_jsonw *w, const char *key)
{
    jsonw_item(w);
    jsonw_string(w, key);
    jsonw_put(w, ":", 1);
    w->after_key = 1;
}

void pai_jsonw_str(pai_jsonw *w, const char *s)
{
    if (!s) {
        pai_jsonw_null(w);
        return;
    }
    jsonw_item(w);
    jsonw_string(w, s);
}

void pai_jsonw_int(pai_jsonw *w, json_int_t v)
{
    /* Digits from the end; the most negative value has no positive twin. */
    char num[24], *d = num + sizeof(num);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

    do {
        *--d = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--d = '-';
    jsonw_item(w);
    jsonw_put(w, d, (apr_size_t)(num + sizeof(num) - d));
}

void pai_jsonw_null(pai_jsonw *w)
{
    jsonw_item(w);
    jsonw_put(w, "null", 4);
}

static int jsonw_dump_part(const char *buf, size_t len, void *data)
{
    jsonw_put(data, buf, len);
    return 0;
}

void pai_jsonw_value(pai_jsonw *w, const json_t *j)
{
    jsonw_item(w);
    if (!j || json_dump_callback(j, jsonw_dump_part, w, JSON_COMPACT | JSON_ENCODE_ANY))
        jsonw_put(w, "null", 4);
}

void pai_json_fields_set(json_t *o, const pai_json_field *f, int n)
{
    int i;
    for (i = 0; i < n; i++)
        json_object_set_new(o, f[i].key, f[i].is_null ? json_null()
                            : f[i].str ? json_string(f[i].str) : json_integer(f[i].num));
}

void pai_jsonw_fields(pai_jsonw *w, const pai_json_field *f, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        pai_jsonw_key(w, f[i].key);
        if (f[i].is_null)
            pai_jsonw_null(w);
        else if (f[i].str)
            pai_jsonw_str(w, f[i].str);
        else
            pai_jsonw_int(w, f[i].num);
    }
}

/* ---- the array splitter ---------------------------------------------- */

typedef struct split_buf {
    char *data;
    apr_size_t len, cap, max;
} split_buf;

struct pai_json_split {
    const char *key;
    pai_json_split_fn fn;
    void *ctx;
    split_buf elem, rest;
    int depth;                   /* open containers before the current byte */
    int in_string, escape;
    int in_array;                /* inside key's array (depth 2) */
    int in_elem;                 /* inside one of its objects */
    int failed;
    char last[64];               /* the last string at depth 1, if short */
    int last_len;                /* -1: longer than last holds */
    int after_colon;             /* a ':' followed that string at depth 1 */
};

static apr_status_t split_free(void *data)
{
    pai_json_split *s = data;
    free(s->elem.data);
    free(s->rest.data);
    return APR_SUCCESS;
}

pai_json_split *pai_json_split_make(apr_pool_t *p, const char *key, apr_size_t max_elem,
                                    apr_size_t max_rest, pai_json_split_fn fn, void *ctx)
{
    pai_json_split *s = apr_pcalloc(p, sizeof(*s));

    s->key = apr_pstrdup(p, key);
    s->fn = fn;
    s->ctx = ctx;
    s->elem.max = max_elem;
    s->rest.max = max_rest;
    apr_pool_cleanup_register(p, s, split_free, apr_pool_cleanup_null);
    return s;
}

/* One buffer reused for every object (malloc'd: a pool would keep each
 * outgrown copy until it is cleared). */
static int split_put(split_buf *b, const char *data, apr_size_t n)
{
    if (b->len + n > b->max)
        return -1;
    if (b->len + n + 1 > b->cap) {
        apr_size_t cap = b->cap ? b->cap : 4096;
        char *nd;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (!(nd = realloc(b->data, cap)))
            return -1;
        b->data = nd;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* An object of the array is complete: parsed and handed over. */
static int split_elem_done(pai_json_split *s)
{
    json_t *j = json_loadb(s->elem.data, s->elem.len, 0, NULL);
    int rc = j ? s->fn(s->ctx, j) : -1;

    json_decref(j);
    s->elem.len = 0;
    return rc ? -1 : 0;
}

int pai_json_split_feed(pai_json_split *s, const char *data, apr_size_t len)
{
    apr_size_t i, from = 0;      /* data[from, i) goes where the byte before went */
    split_buf *to = &s->rest;

    if (s->failed)
        return -1;
    if (s->in_elem)
        to = &s->elem;
    for (i = 0; i < len; i++) {
        char c = data[i];
        split_buf *dest;
        int done = 0;
        if (s->in_string) {
            if (s->escape)
                s->escape = 0;
            else if (c == '\\')
                s->escape = 1;
            else if (c == '"')
                s->in_string = 0;
            else if (s->depth == 1 && s->last_len >= (int)sizeof(s->last))
                s->last_len = -1;
            else if (s->depth == 1 && s->last_len >= 0)
                s->last[s->last_len++] = c;
            continue;            /* a string's bytes go with what holds it */
        }
        dest = &s->rest;
        switch (c) {
        case '"':
            if (s->in_array && s->depth == 2)
                goto malformed;  /* a string as the array's item */
            s->in_string = 1;
            if (s->depth == 1) {
                s->last_len = 0;
                s->after_colon = 0;
            }
            break;
        case ':':
            if (s->depth == 1)
                s->after_colon = 1;
            break;
        case ',':
            if (s->depth == 1)
                s->after_colon = 0;
            break;
        case '{': case '[':
            if (s->in_array && s->depth == 2) {
                if (c != '{')
                    goto malformed;
                s->in_elem = 1;
            }
            else if (s->depth == 1 && c == '[' && s->after_colon && s->last_len >= 0 &&
                     (apr_size_t)s->last_len == strlen(s->key) &&
                     !memcmp(s->last, s->key, s->last_len))
                s->in_array = 1;
            if (++s->depth > 64)
                goto malformed;
            break;
        case '}': case ']':
            if (--s->depth < 0)
                goto malformed;
            if (s->in_elem && s->depth == 2) {
                s->in_elem = 0;
                done = 1;
            }
            else if (s->in_array && s->depth == 1)
                s->in_array = 0;
            break;
        case ' ': case '\t': case '\n': case '\r':
            break;
        default:
            /* A number or literal as the array's item: not an object. */
            if (s->in_array && s->depth == 2)
                goto malformed;
        }
        /* Where this byte goes: an object's to its buffer; the commas and
         * blanks between the array's objects nowhere; the rest kept. */
        if (s->in_elem || done)
            dest = &s->elem;
        else if (s->in_array && s->depth == 2 && c != '[')
            dest = NULL;
        if (dest != to) {
            if (to && i > from && split_put(to, data + from, i - from))
                goto malformed;
            to = dest;
            from = i;
        }
        if (done) {
            if (split_put(&s->elem, data + from, i + 1 - from) || split_elem_done(s))
                goto malformed;
            from = i + 1;
            to = &s->rest;
        }
    }
    if (to && i > from && split_put(to, data + from, i - from))
        goto malformed;
    return 0;
malformed:
    s->failed = 1;
    return -1;
}

json_t *pai_json_split_rest(pai_json_split *s, apr_pool_t *p)
{
    json_t *j;

    if (s->failed || s->depth || s->in_string || !s->rest.len)
        return NULL;
    j = pai_json_pool(p, json_loadb(s->rest.data, s->rest.len, 0, NULL));
    return json_is_object(j) ? j : NULL;
}
