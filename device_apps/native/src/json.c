/* A recursive-descent JSON reader: enough for one job document (RFC 8259, UTF-8). */
#include "json.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *p;
  const char *error;
  int depth;
} reader;

static json *parse_value(reader *r);

static void skip_space(reader *r) {
  while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r') r->p++;
}

static json *node(json_kind kind) {
  json *n = calloc(1, sizeof *n);
  if (n) n->kind = kind;
  return n;
}

static json *fail(reader *r, const char *why) {
  if (!r->error) r->error = why;
  return NULL;
}

static void put_utf8(char **out, unsigned code) {
  char *o = *out;
  if (code < 0x80) {
    *o++ = (char)code;
  } else if (code < 0x800) {
    *o++ = (char)(0xC0 | (code >> 6));
    *o++ = (char)(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    *o++ = (char)(0xE0 | (code >> 12));
    *o++ = (char)(0x80 | ((code >> 6) & 0x3F));
    *o++ = (char)(0x80 | (code & 0x3F));
  } else {
    *o++ = (char)(0xF0 | (code >> 18));
    *o++ = (char)(0x80 | ((code >> 12) & 0x3F));
    *o++ = (char)(0x80 | ((code >> 6) & 0x3F));
    *o++ = (char)(0x80 | (code & 0x3F));
  }
  *out = o;
}

static int hex4(const char *p, unsigned *value) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return 0;
  }
  *value = v;
  return 1;
}

/* A quoted string at r->p, decoded into a new buffer (never longer than the escaped text). */
static char *parse_string_raw(reader *r) {
  const char *start = ++r->p;
  size_t cap = 0;
  while (start[cap] && start[cap] != '"') cap += start[cap] == '\\' && start[cap + 1] ? 2 : 1;
  char *buf = malloc(cap + 1), *o = buf;
  if (!buf) return (char *)fail(r, "out of memory");
  while (*r->p != '"') {
    unsigned char c = (unsigned char)*r->p;
    if (c == 0 || c < 0x20) { free(buf); return (char *)fail(r, "unterminated string"); }
    if (c != '\\') { *o++ = (char)c; r->p++; continue; }
    char e = r->p[1];
    r->p += 2;
    switch (e) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '/': *o++ = '/'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'n': *o++ = '\n'; break;
      case 'r': *o++ = '\r'; break;
      case 't': *o++ = '\t'; break;
      case 'u': {
        unsigned code, low;
        if (!hex4(r->p, &code)) { free(buf); return (char *)fail(r, "bad \\u escape"); }
        r->p += 4;
        if (code >= 0xD800 && code < 0xDC00 && r->p[0] == '\\' && r->p[1] == 'u' && hex4(r->p + 2, &low) &&
            low >= 0xDC00 && low < 0xE000) {
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          r->p += 6;
        }
        put_utf8(&o, code);
        break;
      }
      default: free(buf); return (char *)fail(r, "bad escape");
    }
  }
  r->p++;
  *o = 0;
  return buf;
}

static json *parse_number(reader *r) {
  const char *start = r->p;
  int integer = 1;
  if (*r->p == '-') r->p++;
  if (*r->p < '0' || *r->p > '9') return fail(r, "bad number");
  while (*r->p >= '0' && *r->p <= '9') r->p++;
  if (*r->p == '.' || *r->p == 'e' || *r->p == 'E') {
    integer = 0;
    if (*r->p == '.') {
      r->p++;
      if (*r->p < '0' || *r->p > '9') return fail(r, "bad number");
      while (*r->p >= '0' && *r->p <= '9') r->p++;
    }
    if (*r->p == 'e' || *r->p == 'E') {
      r->p++;
      if (*r->p == '+' || *r->p == '-') r->p++;
      if (*r->p < '0' || *r->p > '9') return fail(r, "bad number");
      while (*r->p >= '0' && *r->p <= '9') r->p++;
    }
  }
  json *n = node(J_NUMBER);
  if (!n) return fail(r, "out of memory");
  n->number = strtod(start, NULL);
  n->integer = integer;
  return n;
}

static json *parse_container(reader *r, int object) {
  json *n = node(object ? J_OBJECT : J_ARRAY), **tail;
  if (!n) return fail(r, "out of memory");
  if (++r->depth > 64) { json_free(n); return fail(r, "nested too deeply"); }
  tail = &n->child;
  r->p++;
  skip_space(r);
  if (*r->p == (object ? '}' : ']')) { r->p++; r->depth--; return n; }
  for (;;) {
    char *key = NULL;
    skip_space(r);
    if (object) {
      if (*r->p != '"') { json_free(n); return fail(r, "expected a member name"); }
      if (!(key = parse_string_raw(r))) { json_free(n); return NULL; }
      skip_space(r);
      if (*r->p != ':') { free(key); json_free(n); return fail(r, "expected ':'"); }
      r->p++;
    }
    json *v = parse_value(r);
    if (!v) { free(key); json_free(n); return NULL; }
    v->key = key;
    *tail = v;
    tail = &v->next;
    skip_space(r);
    if (*r->p == ',') { r->p++; continue; }
    if (*r->p == (object ? '}' : ']')) { r->p++; r->depth--; return n; }
    json_free(n);
    return fail(r, object ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static json *parse_value(reader *r) {
  skip_space(r);
  switch (*r->p) {
    case '{': return parse_container(r, 1);
    case '[': return parse_container(r, 0);
    case '"': {
      char *s = parse_string_raw(r);
      json *n = s ? node(J_STRING) : NULL;
      if (!n) { free(s); return fail(r, "out of memory"); }
      n->string = s;
      return n;
    }
    case 't': case 'f': case 'n': {
      static const char *words[] = {"true", "false", "null"};
      for (int i = 0; i < 3; i++) {
        size_t len = strlen(words[i]);
        if (strncmp(r->p, words[i], len) == 0) {
          json *n = node(i == 2 ? J_NULL : J_BOOL);
          if (!n) return fail(r, "out of memory");
          n->boolean = i == 0;
          r->p += len;
          return n;
        }
      }
      return fail(r, "unexpected word");
    }
    default: return parse_number(r);
  }
}

json *json_parse(const char *text, const char **error) {
  reader r = {text, NULL, 0};
  json *n = parse_value(&r);
  if (n) {
    skip_space(&r);
    if (*r.p) { json_free(n); n = fail(&r, "trailing characters"); }
  }
  if (error) *error = r.error;
  return n;
}

void json_free(json *n) {
  while (n) {
    json *next = n->next;
    json_free(n->child);
    free(n->string);
    free(n->key);
    free(n);
    n = next;
  }
}

json *json_get(const json *object, const char *key) {
  if (!object || object->kind != J_OBJECT) return NULL;
  for (json *m = object->child; m; m = m->next)
    if (strcmp(m->key, key) == 0) return m;
  return NULL;
}

size_t json_length(const json *array) {
  size_t n = 0;
  for (json *e = array ? array->child : NULL; e; e = e->next) n++;
  return n;
}

json *json_at(const json *array, size_t index) {
  json *e = array ? array->child : NULL;
  while (e && index--) e = e->next;
  return e;
}

void json_write_string(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
    else if (*p == '\n') fputs("\\n", out);
    else if (*p == '\t') fputs("\\t", out);
    else if (*p < 0x20) fprintf(out, "\\u%04x", *p);
    else fputc(*p, out);
  }
  fputc('"', out);
}
