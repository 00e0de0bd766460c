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

#endif
