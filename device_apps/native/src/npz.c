/* Reading numpy.savez files without zlib: the ZIP central directory (with ZIP64 fields, which numpy
 * always writes) locates each stored member; the .npy header gives dtype and shape. Compressed
 * members (numpy.savez_compressed) are refused with a message that says so. */
#include "npz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

int npz_open(const char *path, npz_file *f, char *why, size_t why_size) {
  FILE *fp = fopen(path, "rb");
  f->bytes = NULL;
  f->size = 0;
  if (!fp) {
    snprintf(why, why_size, "cannot open %s", path);
    return -1;
  }
  fseek(fp, 0, SEEK_END);
  long size = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  f->bytes = size > 0 ? malloc((size_t)size) : NULL;
  if (!f->bytes || fread(f->bytes, 1, (size_t)size, fp) != (size_t)size) {
    fclose(fp);
    free(f->bytes);
    f->bytes = NULL;
    snprintf(why, why_size, "cannot read %s", path);
    return -1;
  }
  fclose(fp);
  f->size = (size_t)size;
  return 0;
}

void npz_close(npz_file *f) {
  free(f->bytes);
  f->bytes = NULL;
}

/* The central directory: offset and entry count, from the (ZIP64) end record. */
static int central_directory(const npz_file *f, uint64_t *offset, uint64_t *entries) {
  const unsigned char *b = f->bytes;
  if (f->size < 22) return -1;
  size_t stop = f->size > 65557 ? f->size - 65557 : 0;
  for (size_t i = f->size - 22 + 1; i-- > stop;) {
    if (le(b + i, 4) != 0x06054b50) continue;
    *entries = le(b + i + 10, 2);
    *offset = le(b + i + 16, 4);
    if ((*entries == 0xFFFF || *offset == 0xFFFFFFFF) && i >= 20 && le(b + i - 20, 4) == 0x07064b50) {
      uint64_t z = le(b + i - 12, 8);
      if (z + 56 > f->size || le(b + z, 4) != 0x06064b50) return -1;
      *entries = le(b + z + 32, 8);
      *offset = le(b + z + 48, 8);
    }
    return *offset < f->size ? 0 : -1;
  }
  return -1;
}

/* Where member `wanted` (e.g. "x.npy") starts and how long it is; -2 compressed, -1 absent. */
static int find_member(const npz_file *f, const char *wanted, size_t *start, size_t *length) {
  uint64_t at, entries;
  const unsigned char *b = f->bytes;
  if (central_directory(f, &at, &entries) != 0) return -1;
  for (uint64_t e = 0; e < entries; e++) {
    if (at + 46 > f->size || le(b + at, 4) != 0x02014b50) return -1;
    unsigned method = (unsigned)le(b + at + 10, 2);
    uint64_t csize = le(b + at + 20, 4), usize = le(b + at + 24, 4), local = le(b + at + 42, 4);
    size_t nlen = (size_t)le(b + at + 28, 2), xlen = (size_t)le(b + at + 30, 2), clen = (size_t)le(b + at + 32, 2);
    const unsigned char *name = b + at + 46, *extra = name + nlen;
    if (at + 46 + nlen + xlen > f->size) return -1;
    for (size_t x = 0; x + 4 <= xlen;) { /* ZIP64 extra: the 32-bit fields that overflowed, in order */
      unsigned id = (unsigned)le(extra + x, 2), len = (unsigned)le(extra + x + 2, 2);
      const unsigned char *v = extra + x + 4;
      if (id == 1) {
        if (usize == 0xFFFFFFFF) { usize = le(v, 8); v += 8; }
        if (csize == 0xFFFFFFFF) { csize = le(v, 8); v += 8; }
        if (local == 0xFFFFFFFF) local = le(v, 8);
      }
      x += 4 + len;
    }
    if (strlen(wanted) == nlen && memcmp(name, wanted, nlen) == 0) {
      if (method != 0) return -2;
      if (local + 30 > f->size || le(b + local, 4) != 0x04034b50) return -1;
      size_t data = (size_t)(local + 30 + le(b + local + 26, 2) + le(b + local + 28, 2));
      if (data + csize > f->size) return -1;
      *start = data;
      *length = (size_t)csize;
      return 0;
    }
    at += 46 + nlen + xlen + clen;
  }
  return -1;
}

size_t npy_itemsize(npy_dtype d) {
  switch (d) {
    case NPY_F8: case NPY_I8: return 8;
    case NPY_F4: case NPY_I4: return 4;
    default: return 1;
  }
}

static int parse_header(const char *h, npy_array *a, char *why, size_t why_size) {
  static const struct { const char *descr; npy_dtype dtype; } types[] = {
    {"<f4", NPY_F4}, {"<f8", NPY_F8}, {"<i4", NPY_I4}, {"<i8", NPY_I8},
    {"|u1", NPY_U1}, {"|i1", NPY_I1}, {"|b1", NPY_B1},
  };
  const char *d = strstr(h, "'descr':"), *o = strstr(h, "'fortran_order':"), *s = strstr(h, "'shape':");
  if (!d || !o || !s) {
    snprintf(why, why_size, "not a .npy header");
    return -1;
  }
  d = strchr(d + 8, '\'');
  int found = 0;
  for (size_t i = 0; d && i < sizeof types / sizeof types[0]; i++)
    if (strncmp(d + 1, types[i].descr, 3) == 0 && d[4] == '\'') {
      a->dtype = types[i].dtype;
      found = 1;
    }
  if (!found) {
    snprintf(why, why_size, "dtype %.12s is not one of float32/64, int32/64, uint8, int8, bool", d ? d : "?");
    return -1;
  }
  o += 16;
  while (*o == ' ') o++;
  if (strncmp(o, "False", 5) != 0) {
    snprintf(why, why_size, "Fortran-ordered arrays are not supported");
    return -1;
  }
  s = strchr(s, '(');
  a->rank = 0;
  a->count = 1;
  for (s = s ? s + 1 : NULL; s && *s && *s != ')';) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s) { s++; continue; }
    if (a->rank == 8 || v < 0) {
      snprintf(why, why_size, "shape has more than 8 dimensions");
      return -1;
    }
    a->shape[a->rank++] = v;
    a->count *= (size_t)v;
    s = end;
  }
  return 0;
}

int npz_array(const npz_file *f, const char *name, npy_array *a, char *why, size_t why_size) {
  char member[256];
  size_t start, length;
  snprintf(member, sizeof member, "%s.npy", name);
  int found = find_member(f, member, &start, &length);
  if (found == -2) {
    snprintf(why, why_size, "array %s is compressed (numpy.savez_compressed); stage it with numpy.savez", name);
    return -1;
  }
  if (found != 0) {
    snprintf(why, why_size, "no array %s", name);
    return -1;
  }
  const unsigned char *p = f->bytes + start;
  if (length < 10 || memcmp(p, "\x93NUMPY", 6) != 0) {
    snprintf(why, why_size, "array %s is not a .npy member", name);
    return -1;
  }
  size_t hlen = p[6] == 1 ? (size_t)le(p + 8, 2) : (size_t)le(p + 8, 4), hstart = p[6] == 1 ? 10 : 12;
  if (hstart + hlen > length) {
    snprintf(why, why_size, "array %s has a truncated header", name);
    return -1;
  }
  char *header = malloc(hlen + 1);
  if (!header) return -1;
  memcpy(header, p + hstart, hlen);
  header[hlen] = 0;
  int bad = parse_header(header, a, why, why_size);
  free(header);
  if (bad) return -1;
  if (hstart + hlen + a->count * npy_itemsize(a->dtype) > length) {
    snprintf(why, why_size, "array %s is shorter than its shape", name);
    return -1;
  }
  a->data = p + hstart + hlen;
  return 0;
}

double npy_get(const npy_array *a, size_t i) {
  const unsigned char *p = (const unsigned char *)a->data + i * npy_itemsize(a->dtype);
  switch (a->dtype) {
    case NPY_F4: { float v; memcpy(&v, p, 4); return v; }
    case NPY_F8: { double v; memcpy(&v, p, 8); return v; }
    case NPY_I4: { int32_t v; memcpy(&v, p, 4); return v; }
    case NPY_I8: { int64_t v; memcpy(&v, p, 8); return (double)v; }
    case NPY_U1: return *p;
    case NPY_I1: return (int8_t)*p;
    default: return *p != 0;
  }
}
