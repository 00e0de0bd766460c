/* YAML to JSON and back with libyaml's event API; see yaml.h for the limits. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <yaml.h>
#include "json.h"
#include "yaml.h"

#define YAML_MAX_ANCHORS 256

typedef struct yaml_reader {
    apr_pool_t *p;
    const pai_yaml_limits *lim;
    json_t *stack[128];          /* open mappings and sequences */
    const char *key[128];        /* per open mapping: the key waiting for its value */
    const char *anchor[128];     /* per open node: its anchor, if any */
    int depth;
    long nodes;
    json_t *root;
    struct { const char *name; json_t *value; } anchors[YAML_MAX_ANCHORS];
    int n_anchors;
} yaml_reader;

static pai_error *yaml_fail(yaml_reader *y, const yaml_event_t *ev, const char *what)
{
    return pai_error_make(y->p, PAI_ERR_INVALID, "YAML: %s at line %lu, column %lu", what,
                          (unsigned long)ev->start_mark.line + 1,
                          (unsigned long)ev->start_mark.column + 1);
}

static long yaml_count(const json_t *v)
{
    long n = 1;
    size_t i;
    const char *k;
    json_t *x;

    if (json_is_array(v))
        json_array_foreach(v, i, x)
            n += yaml_count(x);
    else if (json_is_object(v))
        json_object_foreach((json_t *)v, k, x)
            n += yaml_count(x);
    return n;
}

/* YAML 1.1's types of a plain scalar, as the job protocol's writers (js-yaml,
 * PyYAML) mean them. */
static json_t *yaml_plain(const char *s, size_t len)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    static const char *const trues[] = {"true", "True", "TRUE"};
    static const char *const falses[] = {"false", "False", "FALSE"};
    char *end;
    size_t i;

    for (i = 0; i < sizeof(nulls) / sizeof(*nulls); i++)
        if (!strcmp(s, nulls[i]))
            return json_null();
    for (i = 0; i < sizeof(trues) / sizeof(*trues); i++)
        if (!strcmp(s, trues[i]))
            return json_true();
    for (i = 0; i < sizeof(falses) / sizeof(*falses); i++)
        if (!strcmp(s, falses[i]))
            return json_false();
    {
        size_t sign = (*s == '-' || *s == '+'), digits = strspn(s + sign, "0123456789");
        if (digits > 0 && sign + digits == len) {
            long long v;
            errno = 0;
            v = strtoll(s, &end, 10);
            /* too large for an integer: kept as written */
            return !errno && !*end ? json_integer(v) : json_string(s);
        }
    }
    if (len > 0 && strspn(s, "0123456789.-+eE") == len && strchr("0123456789.-+", *s)) {
        double d;
        errno = 0;
        d = strtod(s, &end);
        if (!errno && !*end && end != s)
            return json_real(d);
    }
    return json_string(s);
}

/* Puts v (a new reference) where the document is: the root, a sequence's next
 * item, or the value of the key an open mapping waits with. */
static pai_error *yaml_place(yaml_reader *y, const yaml_event_t *ev, json_t *v)
{
    json_t *top = y->depth ? y->stack[y->depth - 1] : NULL;

    if (!top) {
        if (y->root) {
            json_decref(v);
            return yaml_fail(y, ev, "more than one document");
        }
        y->root = v;
        return NULL;
    }
    if (json_is_array(top)) {
        json_array_append_new(top, v);
        return NULL;
    }
    if (!y->key[y->depth - 1]) {
        /* A key: only text, once each. */
        if (!json_is_string(v)) {
            json_decref(v);
            return yaml_fail(y, ev, "a mapping key must be text");
        }
        if (json_object_get(top, json_string_value(v))) {
            pai_error *e = yaml_fail(y, ev, apr_psprintf(y->p, "key '%.64s' given twice",
                                                         json_string_value(v)));
            json_decref(v);
            return e;
        }
        y->key[y->depth - 1] = apr_pstrdup(y->p, json_string_value(v));
        json_decref(v);
        return NULL;
    }
    json_object_set_new(top, y->key[y->depth - 1], v);
    y->key[y->depth - 1] = NULL;
    return NULL;
}

static pai_error *yaml_count_node(yaml_reader *y, const yaml_event_t *ev, long n)
{
    y->nodes += n;
    return y->nodes > y->lim->max_nodes
        ? yaml_fail(y, ev, apr_psprintf(y->p, "more than %ld nodes (aliases count as what they "
                                        "repeat)", y->lim->max_nodes))
        : NULL;
}

static pai_error *yaml_anchor(yaml_reader *y, const yaml_event_t *ev, const char *name,
                              json_t *v)
{
    if (!name)
        return NULL;
    if (y->n_anchors >= YAML_MAX_ANCHORS)
        return yaml_fail(y, ev, apr_psprintf(y->p, "more than %d anchors", YAML_MAX_ANCHORS));
    y->anchors[y->n_anchors].name = apr_pstrdup(y->p, name);
    y->anchors[y->n_anchors].value = json_incref(v);   /* a key's text goes once read */
    y->n_anchors++;
    return NULL;
}

static pai_error *yaml_event(yaml_reader *y, const yaml_event_t *ev)
{
    pai_error *e;
    json_t *v;
    int i;

    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        const char *s = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        const char *tag = (const char *)ev->data.scalar.tag;
        if (memchr(s, '\0', len))
            return yaml_fail(y, ev, "a NUL character");
        if ((e = yaml_count_node(y, ev, 1)))
            return e;
        v = ev->data.scalar.plain_implicit && !tag ? yaml_plain(s, len) : json_stringn(s, len);
        if (!v)
            return yaml_fail(y, ev, "text that is not UTF-8");
        if ((e = yaml_anchor(y, ev, (const char *)ev->data.scalar.anchor, v)))
            return json_decref(v), e;
        return yaml_place(y, ev, v);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (y->depth >= y->lim->max_depth || y->depth >= (int)(sizeof(y->stack) / sizeof(*y->stack)))
            return yaml_fail(y, ev, apr_psprintf(y->p, "nesting deeper than %d",
                                                 y->lim->max_depth));
        if (y->depth && json_is_object(y->stack[y->depth - 1]) && !y->key[y->depth - 1])
            return yaml_fail(y, ev, "a mapping key must be text");
        if ((e = yaml_count_node(y, ev, 1)))
            return e;
        v = ev->type == YAML_MAPPING_START_EVENT ? json_object() : json_array();
        y->anchor[y->depth] = ev->type == YAML_MAPPING_START_EVENT
            ? (const char *)ev->data.mapping_start.anchor
            : (const char *)ev->data.sequence_start.anchor;
        if ((e = yaml_anchor(y, ev, y->anchor[y->depth], v)))
            return json_decref(v), e;
        json_incref(v);              /* the stack's reference, besides its place's */
        if ((e = yaml_place(y, ev, v))) {
            json_decref(v);
            return e;
        }
        y->stack[y->depth] = v;
        y->key[y->depth] = NULL;
        y->depth++;
        return NULL;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        y->depth--;
        json_decref(y->stack[y->depth]);
        return NULL;
    case YAML_ALIAS_EVENT:
        for (i = y->n_anchors - 1; i >= 0; i--)
            if (!strcmp(y->anchors[i].name, (const char *)ev->data.alias.anchor))
                break;
        if (i < 0)
            return yaml_fail(y, ev, "an alias to no anchor");
        if ((e = yaml_count_node(y, ev, yaml_count(y->anchors[i].value))))
            return e;
        return yaml_place(y, ev, json_deep_copy(y->anchors[i].value));
    default:
        return NULL;
    }
}

json_t *pai_yaml_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                       const pai_yaml_limits *lim, pai_error **err)
{
    yaml_reader *y = apr_pcalloc(p, sizeof(*y));
    yaml_parser_t parser;
    yaml_event_t ev;
    int done = 0;

    *err = NULL;
    y->p = p;
    y->lim = lim;
    if (!yaml_parser_initialize(&parser)) {
        *err = pai_error_make(p, PAI_ERR_INTERNAL, "YAML: no parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    while (!done && !*err) {
        if (!yaml_parser_parse(&parser, &ev)) {
            *err = pai_error_make(p, PAI_ERR_INVALID, "YAML: %s at line %lu, column %lu",
                                  parser.problem ? parser.problem : "not YAML",
                                  (unsigned long)parser.problem_mark.line + 1,
                                  (unsigned long)parser.problem_mark.column + 1);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        *err = yaml_event(y, &ev);
        yaml_event_delete(&ev);
    }
    while (y->depth > 0)
        json_decref(y->stack[--y->depth]);
    while (y->n_anchors > 0)
        json_decref(y->anchors[--y->n_anchors].value);
    yaml_parser_delete(&parser);
    if (!*err && !y->root)
        *err = pai_error_make(p, PAI_ERR_INVALID, "YAML: an empty document");
    if (*err) {
        json_decref(y->root);
        return NULL;
    }
    return pai_json_pool(p, y->root);
}

/* ---- writing ---------------------------------------------------------------- */

static int yaml_emit_scalar(yaml_emitter_t *em, const char *s, int plain)
{
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), plain,
                                 !plain, plain ? YAML_ANY_SCALAR_STYLE
                                               : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    return yaml_emitter_emit(em, &ev);
}

static int yaml_emit_value(yaml_emitter_t *em, apr_pool_t *p, const json_t *v)
{
    yaml_event_t ev;
    const char *k;
    json_t *x;
    size_t i;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        if (!yaml_emitter_emit(em, &ev))
            return 0;
        json_object_foreach((json_t *)v, k, x)
            if (!yaml_emit_scalar(em, k, 0) || !yaml_emit_value(em, p, x))
                return 0;
        yaml_mapping_end_event_initialize(&ev);
        return yaml_emitter_emit(em, &ev);
    case JSON_ARRAY:
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        if (!yaml_emitter_emit(em, &ev))
            return 0;
        json_array_foreach(v, i, x)
            if (!yaml_emit_value(em, p, x))
                return 0;
        yaml_sequence_end_event_initialize(&ev);
        return yaml_emitter_emit(em, &ev);
    case JSON_STRING:
        /* Quoted: "true", "12" or "null" stay text when read back. */
        return yaml_emit_scalar(em, json_string_value(v), 0);
    case JSON_INTEGER:
        return yaml_emit_scalar(em, apr_psprintf(p, "%" APR_INT64_T_FMT,
                                                 (apr_int64_t)json_integer_value(v)), 1);
    case JSON_REAL:
        return yaml_emit_scalar(em, apr_psprintf(p, "%.17g", json_real_value(v)), 1);
    case JSON_TRUE:
        return yaml_emit_scalar(em, "true", 1);
    case JSON_FALSE:
        return yaml_emit_scalar(em, "false", 1);
    default:
        return yaml_emit_scalar(em, "null", 1);
    }
}

typedef struct yaml_out {
    apr_pool_t *p;
    char *buf;
    size_t len, cap;
} yaml_out;

static int yaml_write(void *data, unsigned char *buf, size_t size)
{
    yaml_out *o = data;
    if (o->len + size + 1 > o->cap) {
        size_t cap = (o->len + size + 1) * 2;
        char *n = apr_palloc(o->p, cap);
        if (o->len)
            memcpy(n, o->buf, o->len);
        o->buf = n;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, buf, size);
    o->len += size;
    o->buf[o->len] = '\0';
    return 1;
}

const char *pai_yaml_dump(apr_pool_t *p, const json_t *v)
{
    yaml_out out = {p, NULL, 0, 0};
    yaml_emitter_t em;
    yaml_event_t ev;
    int ok;

    if (!yaml_emitter_initialize(&em))
        return NULL;
    yaml_emitter_set_output(&em, yaml_write, &out);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    ok = yaml_emitter_emit(&em, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    ok = ok && yaml_emitter_emit(&em, &ev);
    ok = ok && yaml_emit_value(&em, p, v);
    yaml_document_end_event_initialize(&ev, 1);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_stream_end_event_initialize(&ev);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_emitter_delete(&em);
    return ok ? (out.buf ? out.buf : "") : NULL;
}
