/* Arrays of an uncompressed .npz (what numpy.savez writes): a ZIP of stored .npy members. */
#ifndef PHONEBENCH_NPZ_H
#define PHONEBENCH_NPZ_H

#include <stddef.h>
#include <stdint.h>

typedef enum { NPY_F4, NPY_F8, NPY_I4, NPY_I8, NPY_U1, NPY_I1, NPY_B1 } npy_dtype;

typedef struct {
  npy_dtype dtype;
  int rank;
  int64_t shape[8];
  size_t count;       /* elements */
  const void *data;   /* little-endian, C order; points into the file's bytes */
} npy_array;

typedef struct {
  unsigned char *bytes; /* the whole file */
  size_t size;
} npz_file;

/* 0 ok; else -1 with `error` (a static or `why` buffer message). */
int npz_open(const char *path, npz_file *f, char *why, size_t why_size);
/* Member `name` (without ".npy"); 0 ok, -1 with a message in `why`. */
int npz_array(const npz_file *f, const char *name, npy_array *out, char *why, size_t why_size);
void npz_close(npz_file *f);
size_t npy_itemsize(npy_dtype dtype);
double npy_get(const npy_array *a, size_t index); /* one element as a double */

#endif
