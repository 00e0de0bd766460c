/* The one JSON layer over jansson: objects bound to an APR pool (so early
 * returns cannot leak), strict parsing of client input, and typed field
 * readers that turn a wrong shape into a 400 naming the field. */
#ifndef PAI_JSON_H
#define PAI_JSON_H

#include <apr_pools.h>
#include <jansson.h>
#include "err.h"

/* Ties j to p: json_decref(j) runs when p is cleared. Returns j (may be NULL). */
json_t *pai_json_pool(apr_pool_t *p, json_t *j);
/* Parses client input: one JSON value, duplicate keys refused, bound to p.
 * On failure returns NULL and sets *err to a 400 that says where. */
json_t *pai_json_parse(apr_pool_t *p, const char *buf, apr_size_t len, pai_error **err);
/* Parses application/x-www-form-urlencoded into an object of strings. */
json_t *pai_form_parse(apr_pool_t *p, const char *buf, apr_size_t len, pai_error **err);
/* Compact serialisation in p. */
char *pai_json_dump(apr_pool_t *p, const json_t *j);

/* Shape-checked readers: NULL or 0 on absence or a wrong type. */
const char *pai_json_str(const json_t *o, const char *key);
json_t *pai_json_arr(const json_t *o, const char *key);
int pai_json_int(const json_t *o, const char *key, json_int_t *out);

/* Field readers for validation: *present says whether the key was there.
 * A JSON null counts as absent.  Errors name the field as 'where.key'. */
pai_error *pai_field_str(apr_pool_t *p, const json_t *o, const char *where,
                         const char *key, int required, const char **out);
/* allow_text accepts a decimal string too (form bodies carry only strings). */
pai_error *pai_field_int(apr_pool_t *p, const json_t *o, const char *where,
                         const char *key, int required, int allow_text,
                         json_int_t *out, int *present);
pai_error *pai_field_bool(apr_pool_t *p, const json_t *o, const char *where,
                          const char *key, int allow_text, int *out, int *present);
/* Refuses a key not in the NULL-terminated list. */
pai_error *pai_field_only(apr_pool_t *p, const json_t *o, const char *where,
                          const char *const *allowed);

/* Object setters that take ownership of the new value (no refcount juggling). */
void pai_json_set_str(json_t *o, const char *key, const char *val);
void pai_json_set_int(json_t *o, const char *key, json_int_t val);

/* A streaming writer: JSON text made as it is written, without a tree, in
 * chunks handed to a sink, with the bytes pai_json_dump gives for the same
 * value (compact, keys in the order written, jansson's string escapes).
 * Lists of thousands of rows go out one row at a time through it. */
typedef int (*pai_jsonw_sink)(void *ctx, const char *buf, apr_size_t len); /* 0: written */
typedef struct pai_jsonw pai_jsonw;

pai_jsonw *pai_jsonw_make(apr_pool_t *p, pai_jsonw_sink sink, void *ctx);
/* Containers: '[' or '{' to open, ']' or '}' to close (at most 32 deep). */
void pai_jsonw_open(pai_jsonw *w, char bracket);
void pai_jsonw_close(pai_jsonw *w, char bracket);
/* An object's key; the next call writes its value. */
void pai_jsonw_key(pai_jsonw *w, const char *key);
/* Values; a NULL string is written as null. */
void pai_jsonw_str(pai_jsonw *w, const char *s);
void pai_jsonw_int(pai_jsonw *w, json_int_t v);
void pai_jsonw_null(pai_jsonw *w);
/* A small tree, written in place as pai_json_dump would. */
void pai_jsonw_value(pai_jsonw *w, const json_t *j);
/* Hands what is buffered to the sink: 0, or the sink's failure (after one,
 * nothing more is written). */
int pai_jsonw_flush(pai_jsonw *w);
/* What the sink has taken so far (0: the answer may still be replaced). */
apr_size_t pai_jsonw_sent(const pai_jsonw *w);
/* What is buffered and not yet sent. */
const char *pai_jsonw_pending(const pai_jsonw *w, apr_size_t *len);

/* A flat record's fields, for a view that is both a tree (one job's status)
 * and streamed (a list of them): one definition of its shape. */
typedef struct pai_json_field {
    const char *key;
    const char *str;                /* a string, or NULL for a number */
    json_int_t num;
    int is_null;                    /* null, whatever str and num say */
} pai_json_field;
#define PAI_JF_STR(k, v) {(k), (v), 0, (v) == NULL}
#define PAI_JF_INT(k, v) {(k), NULL, (json_int_t)(v), 0}
/* A time in ms, null when it has not happened (0). */
#define PAI_JF_MS(k, v) {(k), NULL, (json_int_t)(v), (v) <= 0}
void pai_json_fields_set(json_t *o, const pai_json_field *f, int n);
void pai_jsonw_fields(pai_jsonw *w, const pai_json_field *f, int n);

/* A reader for a big reply read in pieces: the objects of one array member
 * of the top-level object ("jobs" of Slurm's job list) are parsed and handed
 * over one at a time as their text completes, and the rest of the document
 * (its other members, that array left empty) is kept and parsed at the end.
 * It holds the largest object and the rest, never the whole text or a tree
 * of it: a list of 9,000 Slurm jobs made the sync hold 200 MB. */
typedef struct pai_json_split pai_json_split;
/* 0: go on; anything else stops the reading (feed then fails). */
typedef int (*pai_json_split_fn)(void *ctx, json_t *elem);

/* Buffers live until p is cleared; an object over max_elem bytes, or a rest
 * over max_rest, makes the document malformed. */
pai_json_split *pai_json_split_make(apr_pool_t *p, const char *key, apr_size_t max_elem,
                                    apr_size_t max_rest, pai_json_split_fn fn, void *ctx);
/* 0, or -1 once the text is malformed, too big, or fn stopped it. */
int pai_json_split_feed(pai_json_split *s, const char *data, apr_size_t len);
/* The rest parsed (bound to p), or NULL when the document was malformed,
 * incomplete, or not an object. */
json_t *pai_json_split_rest(pai_json_split *s, apr_pool_t *p);

#endif
