/* The native job runner: one protocol job document in (argv[1]), JSON-lines events out (stdout).
 *
 *     ./ld-linux-aarch64.so.1 --library-path . ./runner JOB.json     (the phone bundle, over adb shell)
 *     LD_LIBRARY_PATH=<dir of libLiteRt.so> ./runner JOB.json         (a native build on this computer)
 *
 * Behaves like the reference runner (harness/host_runner.py; duties in device_apps/protocol/README.md)
 * on LiteRT's C API (CompiledModel, CPU accelerator). Times are CLOCK_BOOTTIME nanoseconds, the clock
 * Android's elapsedRealtimeNanos and the on-phone sampler (/proc/uptime) use.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "json.h"
#include "litert_c.h"
#include "npz.h"
#include "sha256.h"

#ifndef RUNNER_VERSION
#define RUNNER_VERSION "0.0.0"
#endif
#define MAX_TENSORS 32
#define FLUSH_EVERY_NS 50000000LL /* one flush per 50 ms, never inside a timed region */
#define EVAL_CHUNK 64

/* ------------------------------------------------------------------ events */

static const char *g_job_id = "unknown";
static int64_t g_last_flush;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_BOOTTIME, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void event_begin(const char *kind) {
  fputs("{\"event\": ", stdout);
  json_write_string(stdout, kind);
  fputs(", \"job_id\": ", stdout);
  json_write_string(stdout, g_job_id);
}

static void event_end(int flush) {
  fputs("}\n", stdout);
  int64_t now = now_ns();
  if (flush || now - g_last_flush > FLUSH_EVERY_NS) {
    fflush(stdout);
    g_last_flush = now;
  }
}

static void put_number(const char *key, double v) {
  if (isnan(v)) printf(", \"%s\": NaN", key);
  else if (isinf(v)) printf(", \"%s\": %sInfinity", key, v < 0 ? "-" : "");
  else printf(", \"%s\": %.17g", key, v);
}

/* ------------------------------------------------------------------ failures */

static const char *g_code;
static char g_message[1024];

static int fail(const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_message, sizeof g_message, fmt, ap);
  va_end(ap);
  g_code = code;
  return -1;
}

/* LiteRT status codes (litert_common.h) by name; the library exports no name lookup. */
static const char *status_text(LiteRtStatus s) {
  static char other[32];
  switch (s) {
    case 1: return "invalid argument";
    case 2: return "memory allocation failure";
    case 3: return "runtime failure";
    case 4: return "missing input tensor";
    case 5: return "unsupported";
    case 6: return "not found";
    case 500: return "file I/O error";
    case 501: return "invalid flatbuffer";
    case 504: return "compilation failure";
    default: snprintf(other, sizeof other, "LiteRT status %d", s); return other;
  }
}

/* ------------------------------------------------------------------ job validation (job.schema.json) */

static int is_int(const json *v) { return v && v->kind == J_NUMBER && v->number == floor(v->number) && fabs(v->number) < 9e15; }
static int is_hex64(const json *v) {
  if (!v || v->kind != J_STRING || strlen(v->string) != 64) return 0;
  for (const char *p = v->string; *p; p++)
    if (!isdigit((unsigned char)*p) && !(*p >= 'a' && *p <= 'f')) return 0;
  return 1;
}
static int nonempty(const json *v) { return v && v->kind == J_STRING && v->string[0]; }

static int only_keys(const json *object, const char *where, const char *const *allowed) {
  for (json *m = object->child; m; m = m->next) {
    int ok = 0;
    for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(*a, m->key) == 0;
    if (!ok) return fail("bad_job", "%s: additional property '%s' is not allowed", where, m->key);
  }
  return 0;
}

static int one_of(const json *v, const char *const *names) {
  for (; v && v->kind == J_STRING && *names; names++)
    if (strcmp(v->string, *names) == 0) return 1;
  return 0;
}

static int validate_input(const json *in) {
  static const char *const synthetic[] = {"kind", "seed", "ranges", NULL}, *const npz[] = {"kind", "path", "sha256", NULL};
  const json *kind = json_get(in, "kind");
  if (!in || in->kind != J_OBJECT || !kind || kind->kind != J_STRING) return fail("bad_job", "input: must be an object with a kind");
  if (strcmp(kind->string, "synthetic") == 0) {
    const json *seed = json_get(in, "seed"), *ranges = json_get(in, "ranges");
    if (only_keys(in, "input", synthetic)) return -1;
    if (!is_int(seed) || seed->number < 0) return fail("bad_job", "input/seed: must be an integer >= 0");
    if (ranges && ranges->kind != J_OBJECT) return fail("bad_job", "input/ranges: must be an object");
    for (json *r = ranges ? ranges->child : NULL; r; r = r->next)
      if (r->kind != J_ARRAY || json_length(r) != 2 || json_at(r, 0)->kind != J_NUMBER || json_at(r, 1)->kind != J_NUMBER)
        return fail("bad_job", "input/ranges/%s: must be [low, high]", r->key);
    return 0;
  }
  if (strcmp(kind->string, "npz") == 0) {
    if (only_keys(in, "input", npz)) return -1;
    if (!nonempty(json_get(in, "path"))) return fail("bad_job", "input/path: must be a non-empty string");
    if (json_get(in, "sha256") && !is_hex64(json_get(in, "sha256"))) return fail("bad_job", "input/sha256: not a sha256");
    return 0;
  }
  return fail("bad_job", "input/kind: must be synthetic or npz");
}

static int validate_job(const json *job) {
  static const char *const top[] = {"protocol", "job_id", "artifact", "signature", "input", "warmup", "iterations",
                                    "min_duration_s", "train", "eval", "threads", "delegate", "cpus", NULL};
  static const char *const required[] = {"protocol", "job_id", "artifact", "signature", "input", "warmup", "threads",
                                         "delegate", NULL};
  static const char *const signatures[] = {"infer", "train", NULL};
  static const char *const delegates[] = {"cpu", "xnnpack", "nnapi", "gpu", "coreml-ane", "coreml-cpu", NULL};
  static const char *const artifact_keys[] = {"path", "sha256", NULL}, *const train_keys[] = {"steps", "batch_size", NULL};
  if (!job || job->kind != J_OBJECT) return fail("bad_job", "(top level): the job must be a JSON object");
  for (const char *const *r = required; *r; r++)
    if (!json_get(job, *r)) return fail("bad_job", "(top level): '%s' is a required property", *r);
  if (only_keys(job, "(top level)", top)) return -1;
  const json *protocol = json_get(job, "protocol"), *id = json_get(job, "job_id"), *art = json_get(job, "artifact");
  if (!is_int(protocol) || protocol->number != 1) return fail("bad_job", "protocol: 1 was expected (this runner speaks protocol 1)");
  int id_ok = id->kind == J_STRING && strlen(id->string) >= 1 && strlen(id->string) <= 64;
  for (const char *p = id_ok ? id->string : ""; *p; p++)
    id_ok &= isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-';
  if (!id_ok) return fail("bad_job", "job_id: must match ^[A-Za-z0-9._-]{1,64}$");
  if (art->kind != J_OBJECT || only_keys(art, "artifact", artifact_keys)) return g_code ? -1 : fail("bad_job", "artifact: must be an object");
  if (!nonempty(json_get(art, "path"))) return fail("bad_job", "artifact/path: must be a non-empty string");
  if (!is_hex64(json_get(art, "sha256"))) return fail("bad_job", "artifact/sha256: must be 64 lowercase hex digits");
  if (!one_of(json_get(job, "signature"), signatures)) return fail("bad_job", "signature: must be infer or train");
  if (validate_input(json_get(job, "input"))) return -1;
  const json *warmup = json_get(job, "warmup"), *threads = json_get(job, "threads"), *it = json_get(job, "iterations");
  if (!is_int(warmup) || warmup->number < 0) return fail("bad_job", "warmup: must be an integer >= 0");
  if (it && it->kind != J_NULL && (!is_int(it) || it->number < 1)) return fail("bad_job", "iterations: must be an integer >= 1 or null");
  const json *md = json_get(job, "min_duration_s");
  if (md && (md->kind != J_NUMBER || md->number < 0)) return fail("bad_job", "min_duration_s: must be a number >= 0");
  if (!is_int(threads) || threads->number < 1 || threads->number > 64) return fail("bad_job", "threads: must be an integer 1..64");
  if (!one_of(json_get(job, "delegate"), delegates)) return fail("bad_job", "delegate: not a protocol delegate");
  const json *cpus = json_get(job, "cpus");
  if (cpus) {
    int ok = cpus->kind == J_ARRAY && json_length(cpus) >= 1;
    for (size_t i = 0; ok && i < json_length(cpus); i++)
      ok = is_int(json_at(cpus, i)) && json_at(cpus, i)->number >= 0 && json_at(cpus, i)->number <= 1023;
    if (!ok) return fail("bad_job", "cpus: must be a non-empty list of CPU ids 0..1023");
  }
  const json *train = json_get(job, "train"), *eval = json_get(job, "eval");
  if (train) {
    if (train->kind != J_OBJECT || only_keys(train, "train", train_keys)) return g_code ? -1 : fail("bad_job", "train: must be an object");
    const json *steps = json_get(train, "steps"), *batch = json_get(train, "batch_size");
    if (!is_int(steps) || steps->number < 1) return fail("bad_job", "train/steps: must be an integer >= 1");
    if (!is_int(batch) || batch->number < 1) return fail("bad_job", "train/batch_size: must be an integer >= 1");
  }
  if (eval) {
    static const char *const eval_keys[] = {"path", "sha256", NULL};
    if (eval->kind != J_OBJECT || only_keys(eval, "eval", eval_keys)) return g_code ? -1 : fail("bad_job", "eval: must be an object");
    if (!nonempty(json_get(eval, "path"))) return fail("bad_job", "eval/path: must be a non-empty string");
    if (json_get(eval, "sha256") && !is_hex64(json_get(eval, "sha256"))) return fail("bad_job", "eval/sha256: not a sha256");
  }
  int is_train = strcmp(json_get(job, "signature")->string, "train") == 0;
  if (is_train && !train) return fail("bad_job", "(top level): 'train' is a required property");
  if (!is_train && !it) return fail("bad_job", "(top level): 'iterations' is a required property");
  if (!is_train && eval) return fail("bad_job", "(top level): an infer job takes no 'eval'");
  return 0;
}

/* ------------------------------------------------------------------ tensors and signatures */

typedef struct {
  const char *name;
  LiteRtRankedTensorType declared; /* as the model declares it (negative dims are dynamic) */
  LiteRtRankedTensorType concrete; /* as last prepared */
  size_t elsize, packed;           /* bytes per element; bytes of the concrete tensor */
  void *data;
  LiteRtTensorBuffer buffer;
} tensor;

typedef struct {
  LiteRtParamIndex index;
  const char *key;
  size_t n_in, n_out;
  tensor in[MAX_TENSORS], out[MAX_TENSORS];
  int prepared;
} signature;

typedef struct {
  LiteRtEnvironment env;
  LiteRtModel model;
  LiteRtCompiledModel compiled;
  signature sigs[4]; /* infer, train, get_weights (looked up on demand) */
  size_t n_sigs;
  double load_ms; /* environment, model and compiled model made (the checksum not included) */
} runtime;

static size_t element_size(int type) {
  switch (type) {
    case LRT_FLOAT32: case LRT_INT32: return 4;
    case LRT_FLOAT64: case LRT_INT64: return 8;
    case LRT_INT16: return 2;
    case LRT_UINT8: case LRT_INT8: case LRT_BOOL: return 1;
    default: return 0;
  }
}

static int is_float(int type) { return type == LRT_FLOAT32 || type == LRT_FLOAT64; }

static void set_element(void *data, int type, size_t i, double v) {
  switch (type) {
    case LRT_FLOAT32: ((float *)data)[i] = (float)v; break;
    case LRT_FLOAT64: ((double *)data)[i] = v; break;
    case LRT_INT32: ((int32_t *)data)[i] = (int32_t)v; break;
    case LRT_INT64: ((int64_t *)data)[i] = (int64_t)v; break;
    case LRT_INT16: ((int16_t *)data)[i] = (int16_t)v; break;
    case LRT_UINT8: ((uint8_t *)data)[i] = (uint8_t)v; break;
    case LRT_INT8: ((int8_t *)data)[i] = (int8_t)v; break;
    default: ((uint8_t *)data)[i] = v != 0; break;
  }
}

static double get_element(const void *data, int type, size_t i) {
  switch (type) {
    case LRT_FLOAT32: return ((const float *)data)[i];
    case LRT_FLOAT64: return ((const double *)data)[i];
    case LRT_INT32: return ((const int32_t *)data)[i];
    case LRT_INT64: return (double)((const int64_t *)data)[i];
    case LRT_INT16: return ((const int16_t *)data)[i];
    case LRT_UINT8: return ((const uint8_t *)data)[i];
    case LRT_INT8: return ((const int8_t *)data)[i];
    default: return ((const uint8_t *)data)[i];
  }
}

static void shape_text(const LiteRtRankedTensorType *t, char *out, size_t size) {
  size_t used = (size_t)snprintf(out, size, "[");
  for (int d = 0; d < LRT_RANK(t) && used < size; d++)
    used += (size_t)snprintf(out + used, size - used, "%s%d", d ? ", " : "", t->dims[d]);
  if (used < size) snprintf(out + used, size - used, "]");
}

static int tensor_type(LiteRtTensor t, const char *sig, const char *name, tensor *out) {
  int id = -1;
  if (LiteRtGetTensorTypeId(t, &id) != LRT_OK || id != LRT_RANKED_TENSOR ||
      LiteRtGetRankedTensorType(t, &out->declared) != LRT_OK)
    return fail("input_mismatch", "%s/%s: not a ranked tensor", sig, name);
  out->elsize = element_size(out->declared.element_type);
  if (!out->elsize || LRT_RANK(&out->declared) > LRT_MAX_RANK)
    return fail("input_mismatch", "%s/%s: element type %d is not supported", sig, name, out->declared.element_type);
  out->name = name;
  if (getenv("RUNNER_DEBUG")) {
    char text[128];
    shape_text(&out->declared, text, sizeof text);
    fprintf(stderr, "%s/%s: type %d rank_bits %u shape %s\n", sig, name, out->declared.element_type, out->declared.rank_bits, text);
  }
  return 0;
}

/* The model's signature `key`, its inputs and outputs described (not yet allocated). */
static signature *find_signature(runtime *rt, const char *key) {
  for (size_t i = 0; i < rt->n_sigs; i++)
    if (strcmp(rt->sigs[i].key, key) == 0) return &rt->sigs[i];
  LiteRtParamIndex count = 0;
  LiteRtGetNumModelSignatures(rt->model, &count);
  for (LiteRtParamIndex i = 0; i < count && rt->n_sigs < 4; i++) {
    LiteRtSignature sig;
    const char *name;
    if (LiteRtGetModelSignature(rt->model, i, &sig) != LRT_OK || LiteRtGetSignatureKey(sig, &name) != LRT_OK ||
        strcmp(name, key) != 0)
      continue;
    signature *s = &rt->sigs[rt->n_sigs];
    memset(s, 0, sizeof *s);
    s->index = i;
    s->key = name;
    LiteRtGetNumSignatureInputs(sig, &s->n_in);
    LiteRtGetNumSignatureOutputs(sig, &s->n_out);
    if (s->n_in > MAX_TENSORS || s->n_out > MAX_TENSORS) {
      fail("input_mismatch", "signature %s has more than %d inputs or outputs", key, MAX_TENSORS);
      return NULL;
    }
    for (size_t j = 0; j < s->n_in; j++) {
      LiteRtTensor t;
      if (LiteRtGetSignatureInputName(sig, j, &name) != LRT_OK ||
          LiteRtGetSignatureInputTensorByIndex(sig, j, &t) != LRT_OK || tensor_type(t, key, name, &s->in[j]))
        return g_code ? NULL : (fail("model_load", "cannot read input %zu of %s", j, key), NULL);
    }
    for (size_t j = 0; j < s->n_out; j++) {
      LiteRtTensor t;
      if (LiteRtGetSignatureOutputName(sig, j, &name) != LRT_OK ||
          LiteRtGetSignatureOutputTensorByIndex(sig, j, &t) != LRT_OK || tensor_type(t, key, name, &s->out[j]))
        return g_code ? NULL : (fail("model_load", "cannot read output %zu of %s", j, key), NULL);
    }
    rt->n_sigs++;
    return s;
  }
  fail("signature_missing", "model has no '%s' signature", key);
  return NULL;
}

static tensor *input_named(signature *s, const char *name) {
  for (size_t i = 0; i < s->n_in; i++)
    if (strcmp(s->in[i].name, name) == 0) return &s->in[i];
  return NULL;
}

static void release(signature *s) {
  for (size_t i = 0; i < s->n_in + s->n_out; i++) {
    tensor *t = i < s->n_in ? &s->in[i] : &s->out[i - s->n_in];
    if (t->buffer) LiteRtDestroyTensorBuffer(t->buffer);
    free(t->data);
    t->buffer = NULL;
    t->data = NULL;
  }
  s->prepared = 0;
}

static int host_buffer(tensor *t, size_t size) {
  size_t rounded = (size + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  if (posix_memalign(&t->data, 64, rounded) != 0) return fail("internal", "out of memory for %s", t->name);
  memset(t->data, 0, rounded);
  LiteRtStatus st = LiteRtCreateTensorBufferFromHostMemory(&t->concrete, t->data, size ? size : 1, NULL, &t->buffer);
  if (st != LRT_OK) return fail("internal", "tensor buffer for %s: %s", t->name, status_text(st));
  return 0;
}

/* Allocate the signature's buffers; `batch` > 0 replaces dynamic (negative) input dims: the first with
 * `batch`, the rest with `dims` (or 1). The compiled model is resized first, as LiteRT requires, when
 * any input is dynamic. Outputs take the size the compiled model asks for. */
static int prepare(runtime *rt, signature *s, const int64_t *const *input_dims) {
  if (s->prepared) release(s);
  for (size_t i = 0; i < s->n_in; i++) {
    tensor *t = &s->in[i];
    int dynamic = 0, dims[LRT_MAX_RANK];
    t->concrete = t->declared;
    t->packed = t->elsize;
    for (int d = 0; d < LRT_RANK(&t->declared); d++) {
      if (t->declared.dims[d] < 0) {
        dynamic = 1;
        t->concrete.dims[d] = input_dims && input_dims[i] ? (int)input_dims[i][d] : 1;
      }
      dims[d] = t->concrete.dims[d];
      t->packed *= (size_t)t->concrete.dims[d];
    }
    if (dynamic) {
      LiteRtStatus st = LiteRtCompiledModelResizeInputTensor(rt->compiled, s->index, i, dims, (size_t)LRT_RANK(&t->declared));
      if (st != LRT_OK) return fail("input_mismatch", "%s/%s: cannot resize: %s", s->key, t->name, status_text(st));
    }
  }
  for (size_t i = 0; i < s->n_in; i++) {
    LiteRtTensorBufferRequirements req;
    size_t size = 0;
    LiteRtStatus st = LiteRtGetCompiledModelInputBufferRequirements(rt->compiled, s->index, i, &req);
    if (st == LRT_OK) st = LiteRtGetTensorBufferRequirementsBufferSize(req, &size);
    if (st != LRT_OK) return fail("internal", "%s/%s: buffer requirements: %s", s->key, s->in[i].name, status_text(st));
    if (size < s->in[i].packed) return fail("internal", "%s/%s: LiteRT wants %zu bytes, the shape needs %zu", s->key, s->in[i].name, size, s->in[i].packed);
    if (host_buffer(&s->in[i], size)) return -1;
  }
  /* Output requirements keep the declared shape after a resize; the layouts, re-planned, have the real one. */
  LiteRtLayout layouts[MAX_TENSORS];
  LiteRtStatus st = s->n_out ? LiteRtGetCompiledModelOutputTensorLayouts(rt->compiled, s->index, s->n_out, layouts, 1) : LRT_OK;
  if (st != LRT_OK) return fail("internal", "%s: output layouts: %s", s->key, status_text(st));
  for (size_t i = 0; i < s->n_out; i++) {
    tensor *t = &s->out[i];
    LiteRtTensorBufferRequirements req;
    size_t size = 0;
    st = LiteRtGetCompiledModelOutputBufferRequirements(rt->compiled, s->index, i, &req);
    if (st == LRT_OK) st = LiteRtGetTensorBufferRequirementsBufferSize(req, &size);
    if (st != LRT_OK) return fail("internal", "%s/%s: buffer requirements: %s", s->key, t->name, status_text(st));
    t->concrete = t->declared;
    t->packed = t->elsize;
    if ((int)(layouts[i].rank_bits & 0x7f) != LRT_RANK(&t->declared))
      return fail("internal", "%s/%s: output rank changed after resize", s->key, t->name);
    for (int d = 0; d < LRT_RANK(&t->declared); d++) {
      t->concrete.dims[d] = layouts[i].dims[d];
      if (layouts[i].dims[d] < 0) return fail("input_mismatch", "%s/%s: output shape is not known before invoke", s->key, t->name);
      t->packed *= (size_t)layouts[i].dims[d];
    }
    if (host_buffer(t, size > t->packed ? size : t->packed)) return -1;
  }
  s->prepared = 1;
  return 0;
}

static LiteRtStatus run(runtime *rt, signature *s) {
  LiteRtTensorBuffer in[MAX_TENSORS], out[MAX_TENSORS];
  for (size_t i = 0; i < s->n_in; i++) in[i] = s->in[i].buffer;
  for (size_t i = 0; i < s->n_out; i++) out[i] = s->out[i].buffer;
  return LiteRtRunCompiledModel(rt->compiled, s->index, s->n_in, in, s->n_out, out);
}

/* ------------------------------------------------------------------ loading */

static void free_payload(void *p) { free(p); }

static int load(const json *job, runtime *rt) {
  const json *art = json_get(job, "artifact");
  const char *path = json_get(art, "path")->string, *delegate = json_get(job, "delegate")->string;
  struct stat st;
  char digest[65];
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return fail("artifact_missing", "no model at %s", path);
  if (sha256_file(path, digest) != 0) return fail("artifact_missing", "cannot read %s", path);
  if (strcmp(digest, json_get(art, "sha256")->string) != 0)
    return fail("checksum_mismatch", "%s does not match sha256 %s", path, json_get(art, "sha256")->string);
  /* cpu: LiteRT's builtin kernels only; xnnpack: the CPU accelerator's default (XNNPACK). A glibc process
   * reaches no NNAPI or GPU driver: those are the companion app's (device_apps/android). */
  int builtin = strcmp(delegate, "cpu") == 0;
  if (!builtin && strcmp(delegate, "xnnpack") != 0)
    return fail("delegate_unavailable", "delegate '%s' does not exist in the native runner (cpu, xnnpack only)", delegate);
  int64_t start = now_ns();
  LiteRtStatus s = LiteRtCreateEnvironment(0, NULL, &rt->env);
  if (s != LRT_OK) return fail("internal", "LiteRT environment: %s", status_text(s));
  s = LiteRtCreateModelFromFile(rt->env, path, &rt->model);
  if (s != LRT_OK) return fail("model_load", "LiteRT could not load %s: %s", path, status_text(s));
  LiteRtOptions options;
  LiteRtOpaqueOptions cpu;
  char *payload = malloc(96);
  if (!payload) return fail("internal", "out of memory");
  snprintf(payload, 96, "num_threads = %d\n%s", (int)json_get(job, "threads")->number,
           builtin ? "kernel_mode = \"builtin\"\n" : "");
  if (LiteRtCreateOptions(&options) != LRT_OK || LiteRtSetOptionsHardwareAccelerators(options, LRT_ACCELERATOR_CPU) != LRT_OK ||
      LiteRtCreateOpaqueOptions("xnnpack", payload, free_payload, &cpu) != LRT_OK ||
      LiteRtAddOpaqueOptions(options, cpu) != LRT_OK)
    return fail("internal", "LiteRT compilation options could not be made");
  s = LiteRtCreateCompiledModel(rt->env, rt->model, options, &rt->compiled);
  LiteRtDestroyOptions(options);
  if (s != LRT_OK) return fail("model_load", "LiteRT could not compile %s: %s", path, status_text(s));
  rt->load_ms = (double)(now_ns() - start) / 1e6;
  return 0;
}

/* ------------------------------------------------------------------ inputs */

typedef struct { uint64_t state; } rng;

static uint64_t next_u64(rng *r) { /* splitmix64 */
  uint64_t z = (r->state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static double next_unit(rng *r) { return (double)(next_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

/* The number of classes: the last dim of `infer`'s first output (0 without an `infer` signature). */
static int num_classes(runtime *rt) {
  const char *saved_code = g_code;
  signature *s = find_signature(rt, "infer");
  if (!s) {
    g_code = saved_code;
    return 0;
  }
  return s->n_out ? s->out[0].declared.dims[LRT_RANK(&s->out[0].declared) - 1] : 0;
}

/* Protocol duty 7: each input drawn from the job's range for it, else floats in [-1, 1), integers over classes. */
static int fill_synthetic(signature *s, const json *source, rng *r, int classes) {
  const json *ranges = json_get(source, "ranges");
  for (size_t i = 0; i < s->n_in; i++) {
    tensor *t = &s->in[i];
    const json *range = json_get(ranges, t->name);
    int floating = is_float(t->concrete.element_type);
    double low = range ? json_at(range, 0)->number : floating ? -1.0 : 0.0;
    double high = range ? json_at(range, 1)->number : floating ? 1.0 : (double)classes;
    if (!(high > low))
      return fail(range ? "bad_job" : "input_mismatch", "input '%s': no values in range [%g, %g)", t->name, low, high);
    size_t n = t->packed / t->elsize;
    if (floating) {
      for (size_t k = 0; k < n; k++) set_element(t->data, t->concrete.element_type, k, low + (high - low) * next_unit(r));
    } else {
      double lo = ceil(low), hi = ceil(high);
      if (!(hi > lo)) return fail("bad_job", "input '%s': no integers in range [%g, %g)", t->name, low, high);
      uint64_t span = (uint64_t)(hi - lo);
      for (size_t k = 0; k < n; k++) set_element(t->data, t->concrete.element_type, k, lo + (double)(next_u64(r) % span));
    }
  }
  return 0;
}

static int open_npz(const json *source, npz_file *f) {
  const char *path = json_get(source, "path")->string;
  struct stat st;
  char why[512], digest[65];
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return fail("artifact_missing", "no input file at %s", path);
  const json *want = json_get(source, "sha256");
  if (want && (sha256_file(path, digest) != 0 || strcmp(digest, want->string) != 0))
    return fail("checksum_mismatch", "%s does not match sha256 %s", path, want->string);
  if (npz_open(path, f, why, sizeof why)) return fail("input_mismatch", "%s: %s", path, why);
  return 0;
}

static int npz_get(const npz_file *f, const char *path, const char *name, npy_array *a) {
  char why[512];
  if (npz_array(f, name, a, why, sizeof why)) return fail("input_mismatch", "%s: %s", path, why);
  return 0;
}

/* The array fits the signature input; with `rows`, only the per-example dims must match. */
static int check_shape(const tensor *t, const npy_array *a, int rows) {
  int rank = LRT_RANK(&t->declared), ok = rank == a->rank;
  for (int d = rows ? 1 : 0; ok && d < rank; d++) ok = t->declared.dims[d] < 0 || t->declared.dims[d] == a->shape[d];
  if (ok) return 0;
  char want[128], got[128] = "[";
  shape_text(&t->declared, want, sizeof want);
  for (int d = 0; d < a->rank; d++)
    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)a->shape[d]);
  strncat(got, "]", sizeof got - strlen(got) - 1);
  return fail("input_mismatch", "input '%s' has shape %s, the model expects %s", t->name, got, want);
}

static void copy_rows(tensor *t, const npy_array *a, size_t first, size_t rows, size_t total_rows) {
  size_t per_row = a->count / (total_rows ? total_rows : 1);
  for (size_t r = 0; r < rows; r++) {
    size_t src = (first + r) % total_rows;
    for (size_t k = 0; k < per_row; k++)
      set_element(t->data, t->concrete.element_type, r * per_row + k, npy_get(a, src * per_row + k));
  }
}

/* ------------------------------------------------------------------ infer */

static int run_infer(const json *job, runtime *rt, int64_t *measured_out) {
  signature *s = find_signature(rt, "infer");
  if (!s) return -1;
  const json *source = json_get(job, "input");
  if (strcmp(json_get(source, "kind")->string, "npz") == 0) {
    npz_file f;
    npy_array arrays[MAX_TENSORS];
    const int64_t *dims[MAX_TENSORS];
    const char *path = json_get(source, "path")->string;
    if (open_npz(source, &f)) return -1;
    for (size_t i = 0; i < s->n_in; i++) {
      if (npz_get(&f, path, s->in[i].name, &arrays[i]) || check_shape(&s->in[i], &arrays[i], 0)) { npz_close(&f); return -1; }
      dims[i] = arrays[i].shape;
    }
    int bad = prepare(rt, s, dims);
    for (size_t i = 0; !bad && i < s->n_in; i++) copy_rows(&s->in[i], &arrays[i], 0, (size_t)arrays[i].shape[0], (size_t)arrays[i].shape[0]);
    npz_close(&f);
    if (bad) return -1;
  } else {
    rng r = {(uint64_t)json_get(source, "seed")->number};
    int classes = num_classes(rt);
    if (prepare(rt, s, NULL) || fill_synthetic(s, source, &r, classes)) return -1;
  }
  const json *it = json_get(job, "iterations"), *md = json_get(job, "min_duration_s");
  int64_t iterations = it && it->kind == J_NUMBER ? (int64_t)it->number : 0;
  int64_t warmup = (int64_t)json_get(job, "warmup")->number, min_ns = md ? (int64_t)(md->number * 1e9) : 0;
  int64_t index = 0, measured = 0, first = -1, end = 0;
  for (;;) {
    int warm = index < warmup;
    if (!warm && measured >= iterations && (first < 0 || end - first >= min_ns)) break;
    int64_t start = now_ns();
    LiteRtStatus st = run(rt, s);
    end = now_ns();
    if (st != LRT_OK) return fail("invoke_failed", "invoke %lld: %s", (long long)index, status_text(st));
    if (!warm) {
      measured++;
      if (first < 0) first = start;
    }
    event_begin("invoke");
    printf(", \"index\": %lld, \"warmup\": %s, \"start_ns\": %lld, \"end_ns\": %lld, \"latency_ms\": %.6f",
           (long long)index, warm ? "true" : "false", (long long)start, (long long)end, (double)(end - start) / 1e6);
    event_end(0);
    index++;
  }
  *measured_out = measured;
  return 0;
}

/* ------------------------------------------------------------------ train */

typedef struct {
  int npz;
  npz_file file;
  npy_array arrays[MAX_TENSORS];
  size_t rows;
} batches;

/* Share of `eval` examples whose argmax of `infer` equals the label (chunks of EVAL_CHUNK, the last padded). */
static int accuracy(runtime *rt, const npy_array *x, const npy_array *y, double *out) {
  signature *s = find_signature(rt, "infer");
  if (!s) return -1;
  if (s->n_in != 1 || s->n_out < 1) return fail("input_mismatch", "infer must take one input to score eval examples");
  if (check_shape(&s->in[0], x, 1)) return -1;
  size_t n = (size_t)x->shape[0], chunk = n < EVAL_CHUNK ? n : EVAL_CHUNK, hits = 0;
  int64_t dims[LRT_MAX_RANK];
  const int64_t *dimp[1] = {dims};
  memcpy(dims, x->shape, sizeof dims);
  dims[0] = (int64_t)chunk;
  if (y->count != n) return fail("input_mismatch", "eval: %zu examples but %zu labels", n, y->count);
  if (prepare(rt, s, dimp)) return -1;
  tensor *in = &s->in[0], *logits = &s->out[0];
  int classes = logits->concrete.dims[LRT_RANK(&logits->concrete) - 1];
  for (size_t start = 0; start < n; start += chunk) {
    size_t rows = n - start < chunk ? n - start : chunk;
    memset(in->data, 0, in->packed);
    copy_rows(in, x, start, rows, n);
    LiteRtStatus st = run(rt, s);
    if (st != LRT_OK) return fail("invoke_failed", "eval invoke: %s", status_text(st));
    for (size_t r = 0; r < rows; r++) {
      int best = 0;
      for (int c = 1; c < classes; c++)
        if (get_element(logits->data, logits->concrete.element_type, r * (size_t)classes + (size_t)c) >
            get_element(logits->data, logits->concrete.element_type, r * (size_t)classes + (size_t)best))
          best = c;
      hits += best == (int)npy_get(y, start + r);
    }
  }
  *out = (double)hits / (double)n;
  return 0;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp((*(tensor *const *)a)->name, (*(tensor *const *)b)->name);
}

/* get_weights: bytes and sha256 over (name, raw bytes) in name order (protocol duty 5). */
static int delta(runtime *rt, int64_t *bytes, char digest[65]) {
  signature *s = find_signature(rt, "get_weights");
  if (!s || prepare(rt, s, NULL)) return -1;
  LiteRtStatus st = run(rt, s);
  if (st != LRT_OK) return fail("invoke_failed", "get_weights: %s", status_text(st));
  tensor *order[MAX_TENSORS];
  sha256_ctx c;
  sha256_init(&c);
  *bytes = 0;
  for (size_t i = 0; i < s->n_out; i++) order[i] = &s->out[i];
  qsort(order, s->n_out, sizeof order[0], cmp_names);
  for (size_t i = 0; i < s->n_out; i++) {
    sha256_update(&c, order[i]->name, strlen(order[i]->name));
    sha256_update(&c, order[i]->data, order[i]->packed);
    *bytes += (int64_t)order[i]->packed;
  }
  sha256_hex(&c, digest);
  return 0;
}

typedef struct {
  int64_t measured, delta_bytes, eval_examples;
  char delta_sha256[65];
  double accuracy_before, accuracy_after;
} train_result;

static int train_inputs(const json *job, signature *s, batches *b, int classes, size_t batch) {
  const json *source = json_get(job, "input");
  if (strcmp(json_get(source, "kind")->string, "npz") != 0) {
    rng r = {(uint64_t)json_get(source, "seed")->number};
    return fill_synthetic(s, source, &r, classes);
  }
  const char *path = json_get(source, "path")->string;
  if (open_npz(source, &b->file)) return -1;
  b->npz = 1;
  for (size_t i = 0; i < s->n_in; i++)
    if (npz_get(&b->file, path, s->in[i].name, &b->arrays[i]) || check_shape(&s->in[i], &b->arrays[i], 1)) return -1;
  b->rows = (size_t)b->arrays[0].shape[0];
  for (size_t i = 1; i < s->n_in; i++)
    if ((size_t)b->arrays[i].shape[0] != b->rows)
      return fail("input_mismatch", "%s: need at least %zu examples with labels, got %s %zu and %s %lld", path, batch,
                  s->in[0].name, b->rows, s->in[i].name, (long long)b->arrays[i].shape[0]);
  if (b->rows < batch) return fail("input_mismatch", "%s: need at least %zu examples with labels, got %zu", path, batch, b->rows);
  return 0;
}

static int run_train(const json *job, runtime *rt, train_result *res) {
  signature *s = find_signature(rt, "train");
  if (!s || prepare(rt, s, NULL)) return -1;
  tensor *x = input_named(s, "x");
  if (!x) return fail("input_mismatch", "the train signature has no input 'x'");
  size_t batch = (size_t)x->concrete.dims[0];
  const json *train = json_get(job, "train"), *eval = json_get(job, "eval");
  if ((size_t)json_get(train, "batch_size")->number != batch)
    return fail("input_mismatch", "batch_size %d but the train signature takes %zu", (int)json_get(train, "batch_size")->number, batch);
  batches b = {0};
  int classes = num_classes(rt);
  if (train_inputs(job, s, &b, classes, batch)) { if (b.npz) npz_close(&b.file); return -1; }
  npz_file ef = {0};
  npy_array ex, ey;
  int bad = 0;
  res->measured = (int64_t)json_get(train, "steps")->number;
  if (eval) {
    const char *path = json_get(eval, "path")->string;
    bad = open_npz(eval, &ef) || npz_get(&ef, path, "x", &ex) || npz_get(&ef, path, "y", &ey) ||
          accuracy(rt, &ex, &ey, &res->accuracy_before);
    res->eval_examples = bad ? 0 : ex.shape[0];
  }
  int64_t warmup = (int64_t)json_get(job, "warmup")->number;
  tensor *loss = NULL;
  for (size_t i = 0; i < s->n_out; i++)
    if (strcmp(s->out[i].name, "loss") == 0) loss = &s->out[i];
  if (!bad && !loss) bad = fail("input_mismatch", "the train signature has no output 'loss'");
  for (int64_t step = 0; !bad && step < warmup + res->measured; step++) {
    for (size_t i = 0; b.npz && i < s->n_in; i++) copy_rows(&s->in[i], &b.arrays[i], (size_t)step * batch, batch, b.rows);
    int64_t start = now_ns();
    LiteRtStatus st = run(rt, s);
    int64_t end = now_ns();
    if (st != LRT_OK) {
      bad = fail("invoke_failed", "train step %lld: %s", (long long)step, status_text(st));
      break;
    }
    event_begin("train_step");
    printf(", \"step\": %lld, \"warmup\": %s, \"start_ns\": %lld, \"end_ns\": %lld, \"latency_ms\": %.6f",
           (long long)step, step < warmup ? "true" : "false", (long long)start, (long long)end, (double)(end - start) / 1e6);
    put_number("loss", get_element(loss->data, loss->concrete.element_type, 0));
    event_end(0);
  }
  if (!bad && eval) bad = accuracy(rt, &ex, &ey, &res->accuracy_after);
  if (!bad) bad = delta(rt, &res->delta_bytes, res->delta_sha256);
  if (b.npz) npz_close(&b.file);
  if (ef.bytes) npz_close(&ef);
  return bad ? -1 : 0;
}

/* ------------------------------------------------------------------ main */

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, used = 0, n;
  char *text = malloc(cap);
  while (text && (n = fread(text + used, 1, cap - used - 1, f)) > 0) {
    used += n;
    if (cap - used < 2) {
      char *grown = realloc(text, cap *= 2);
      if (!grown) free(text);
      text = grown;
    }
  }
  fclose(f);
  if (text) text[used] = 0;
  return text;
}

static void emit_started(void) {
  event_begin("started");
  printf(", \"protocol\": 1, \"t_ns\": %lld, \"runner\": {\"name\": \"native-litert\", \"version\": \"%s\"}",
         (long long)now_ns(), RUNNER_VERSION);
  event_end(1);
}

/* Pin this process to the job's `cpus` (protocol duty 3), before anything is loaded. */
static int pin(const json *job) {
  const json *cpus = json_get(job, "cpus");
  if (!cpus) return 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  for (size_t i = 0; i < json_length(cpus); i++) CPU_SET((int)json_at(cpus, i)->number, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    return fail("placement_unavailable", "cannot pin the runner to the job's cpus: %s", strerror(errno));
  return 0;
}

/* Operators of signature `key` in the model (-1 when the C API cannot tell). */
static long long signature_ops(runtime *rt, const char *key) {
  LiteRtParamIndex count = 0, ops = 0;
  LiteRtGetNumModelSignatures(rt->model, &count);
  for (LiteRtParamIndex i = 0; i < count; i++) {
    LiteRtSignature sig;
    LiteRtSubgraph subgraph;
    const char *name;
    if (LiteRtGetModelSignature(rt->model, i, &sig) == LRT_OK && LiteRtGetSignatureKey(sig, &name) == LRT_OK &&
        strcmp(name, key) == 0 && LiteRtGetSignatureSubgraph(sig, &subgraph) == LRT_OK &&
        LiteRtGetNumSubgraphOps(subgraph, &ops) == LRT_OK)
      return (long long)ops;
  }
  return -1;
}

/* `loaded` (protocol duty 3): load time, the CPUs this process may use, and what LiteRT says of placement. */
static void emit_loaded(const json *job, runtime *rt) {
  const char *delegate = json_get(job, "delegate")->string;
  long long ops = signature_ops(rt, json_get(job, "signature")->string);
  event_begin("loaded");
  printf(", \"t_ns\": %lld", (long long)now_ns());
  put_number("load_ms", rt->load_ms);
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    fputs(", \"affinity\": [", stdout);
    for (int cpu = 0, first = 1; cpu < CPU_SETSIZE; cpu++)
      if (CPU_ISSET(cpu, &set)) printf(first ? "%d" : ", %d", cpu), first = 0;
    fputs("]", stdout);
  }
  if (ops >= 0) printf(", \"ops\": %lld", ops);
  _Bool fully = 0;
  if (strcmp(delegate, "cpu") == 0) {
    fputs(", \"placement_note\": \"no delegate asked: LiteRT's builtin kernels run every operator\"", stdout);
  } else if (LiteRtCompiledModelIsFullyAccelerated(rt->compiled, &fully) == LRT_OK) {
    printf(", \"fully_delegated\": %s", fully ? "true" : "false");
    if (fully && ops >= 0) printf(", \"delegated_ops\": %lld", ops);
    else fputs(", \"placement_note\": \"LiteRT's C API says only that not every operator of the model was "
               "accelerated, not how many were\"", stdout);
  }
  event_end(1);
}

/* Peak resident memory: VmHWM of /proc/self/status, which exec resets (getrusage's ru_maxrss survives exec, so
 * a runner started by a large process would report that process's size); ru_maxrss where there is no VmHWM. */
static long long peak_rss_bytes(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %lld kB", &kb) == 1) break;
  if (f) fclose(f);
  if (kb >= 0) return kb * 1024;
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return (long long)usage.ru_maxrss * 1024;
}

static int emit_error(void) {
  event_begin("error");
  fputs(", \"code\": ", stdout);
  json_write_string(stdout, g_code ? g_code : "internal");
  fputs(", \"message\": ", stdout);
  json_write_string(stdout, g_message);
  event_end(1);
  return 1;
}

int main(int argc, char **argv) {
  static char out_buffer[1 << 16];
  setvbuf(stdout, out_buffer, _IOFBF, sizeof out_buffer);
  g_last_flush = now_ns();
  if (argc != 2) {
    fprintf(stderr, "usage: %s JOB.json\n", argv[0]);
    return 2;
  }
  const char *why = NULL;
  char *text = read_file(argv[1]);
  int readable = text != NULL;
  json *job = text ? json_parse(text, &why) : NULL;
  free(text);
  const json *id = json_get(job, "job_id");
  if (id && id->kind == J_STRING) g_job_id = id->string;
  emit_started();
  if (!job) {
    fail("bad_job", "cannot read job %s: %s", argv[1], readable ? why : "unreadable");
    return emit_error();
  }
  runtime rt = {0};
  train_result tr = {0};
  int64_t measured = 0;
  int is_train = 0;
  if (validate_job(job) == 0 && pin(job) == 0 && load(job, &rt) == 0) {
    emit_loaded(job, &rt);
    is_train = strcmp(json_get(job, "signature")->string, "train") == 0;
    if (is_train ? run_train(job, &rt, &tr) : run_infer(job, &rt, &measured)) g_code = g_code ? g_code : "internal";
    else g_code = NULL;
  }
  if (g_code) return emit_error();
  event_begin("finished");
  printf(", \"t_ns\": %lld, \"measured\": %lld, \"peak_rss_bytes\": %lld", (long long)now_ns(),
         (long long)(is_train ? tr.measured : measured), peak_rss_bytes());
  if (is_train) {
    printf(", \"delta_bytes\": %lld, \"delta_sha256\": \"%s\"", (long long)tr.delta_bytes, tr.delta_sha256);
    if (json_get(job, "eval")) {
      printf(", \"eval_examples\": %lld", (long long)tr.eval_examples);
      put_number("accuracy_before", tr.accuracy_before);
      put_number("accuracy_after", tr.accuracy_after);
    }
  }
  event_end(1);
  /* Teardown is left to process exit: the job is over and its events are out. */
  return 0;
}
