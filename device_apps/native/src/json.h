/* A small JSON reader (a tree of nodes) and the string escaping the event writer needs. */
#ifndef PHONEBENCH_JSON_H
#define PHONEBENCH_JSON_H

#include <stddef.h>
#include <stdio.h>

typedef enum { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT } json_kind;

typedef struct json {
  json_kind kind;
  int integer;        /* J_NUMBER written without fraction or exponent */
  int boolean;
  double number;
  char *string;       /* J_STRING: decoded, NUL-terminated */
  char *key;          /* set on members of an object */
  struct json *child; /* first element or member */
  struct json *next;  /* next sibling */
} json;

/* Parse `text` (NUL-terminated); NULL on a syntax error, with `error` set to a short reason. */
json *json_parse(const char *text, const char **error);
void json_free(json *node);
json *json_get(const json *object, const char *key); /* NULL if absent or not an object */
size_t json_length(const json *array);
json *json_at(const json *array, size_t index);
void json_write_string(FILE *out, const char *s); /* quoted and escaped */

#endif
