/* paiconf: reads the rest-server section of OpenPAI's services-configuration.yaml
 * (libyaml) and prints it as shell assignments for scripts/run.sh to eval.
 *   paiconf FILE  ->  PAI_YAML_SERVER_PORT='9186' ...   exit 2 on a bad file */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static const struct { const char *key; const char *var; } known[] = {
    {"server-port", "PAI_YAML_SERVER_PORT"},
    {"jwt-secret", "PAI_YAML_JWT_SECRET"},
    {"default-pai-admin-username", "PAI_YAML_ADMIN_USERNAME"},
    {"default-pai-admin-password", "PAI_YAML_ADMIN_PASSWORD"},
};

static void print_quoted(const char *var, const char *v)
{
    printf("%s='", var);
    for (; *v; v++) {
        if (*v == '\'')
            fputs("'\\''", stdout);
        else
            putchar(*v);
    }
    puts("'");
}

static int fail(const char *file, yaml_node_t *n, const char *msg)
{
    if (n)
        fprintf(stderr, "%s:%lu:%lu: %s\n", file, (unsigned long)n->start_mark.line + 1,
                (unsigned long)n->start_mark.column + 1, msg);
    else
        fprintf(stderr, "%s: %s\n", file, msg);
    return 2;
}

int main(int argc, char **argv)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root;
    yaml_node_pair_t *pair;
    FILE *f;
    int rc = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: paiconf services-configuration.yaml\n");
        return 2;
    }
    if (!(f = fopen(argv[1], "rb"))) {
        perror(argv[1]);
        return 2;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        fprintf(stderr, "%s:%lu:%lu: malformed YAML: %s\n", argv[1],
                (unsigned long)parser.problem_mark.line + 1,
                (unsigned long)parser.problem_mark.column + 1,
                parser.problem ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        fclose(f);
        return 2;
    }
    root = yaml_document_get_root_node(&doc);
    if (root && root->type != YAML_MAPPING_NODE) {
        rc = fail(argv[1], root, "the top level must be a mapping");
        goto done;
    }
    for (pair = root ? root->data.mapping.pairs.start : NULL;
         root && pair < root->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(&doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(&doc, pair->value);
        yaml_node_pair_t *p2;
        if (k->type != YAML_SCALAR_NODE || strcmp((char *)k->data.scalar.value, "rest-server"))
            continue;
        if (v->type != YAML_MAPPING_NODE) {
            rc = fail(argv[1], v, "rest-server must be a mapping");
            goto done;
        }
        for (p2 = v->data.mapping.pairs.start; p2 < v->data.mapping.pairs.top; p2++) {
            yaml_node_t *k2 = yaml_document_get_node(&doc, p2->key);
            yaml_node_t *v2 = yaml_document_get_node(&doc, p2->value);
            size_t i;
            if (k2->type != YAML_SCALAR_NODE)
                continue;
            for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
                const char *val;
                if (strcmp((char *)k2->data.scalar.value, known[i].key))
                    continue;
                if (v2->type != YAML_SCALAR_NODE) {
                    char msg[128];
                    snprintf(msg, sizeof(msg), "rest-server.%s must be a scalar", known[i].key);
                    rc = fail(argv[1], v2, msg);
                    goto done;
                }
                val = (const char *)v2->data.scalar.value;
                if (!strcmp(known[i].key, "server-port")) {
                    char *end;
                    long port = strtol(val, &end, 10);
                    if (!*val || *end || port < 1 || port > 65535) {
                        rc = fail(argv[1], v2, "rest-server.server-port must be a port number");
                        goto done;
                    }
                }
                print_quoted(known[i].var, val);
            }
        }
    }
done:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}
