/* The few LiteRT C API functions and types this runner uses, declared by hand.
 *
 * ai-edge-litert's wheel ships libLiteRt.so (the C API) but no headers. These declarations follow
 * LiteRT's public API documentation (litert/c/litert_*.h, Apache-2.0) for the library in the pinned
 * wheel, ai-edge-litert 2.3.0, and were checked against it: argument counts from the exported
 * functions, struct layouts from what the library writes (see device_apps/native/README.md).
 * Only what runner.c calls is here.
 */
#ifndef PHONEBENCH_LITERT_C_H
#define PHONEBENCH_LITERT_C_H

#include <stddef.h>
#include <stdint.h>

typedef int LiteRtStatus; /* 0 = ok */
#define LRT_OK 0

typedef struct LrtEnvironment *LiteRtEnvironment;
typedef struct LrtModel *LiteRtModel;
typedef struct LrtSignature *LiteRtSignature;
typedef struct LrtSubgraph *LiteRtSubgraph;
typedef struct LrtTensor *LiteRtTensor;
typedef struct LrtOptions *LiteRtOptions;
typedef struct LrtOpaqueOptions *LiteRtOpaqueOptions;
typedef struct LrtCompiledModel *LiteRtCompiledModel;
typedef struct LrtTensorBuffer *LiteRtTensorBuffer;
typedef struct LrtTensorBufferRequirements *LiteRtTensorBufferRequirements;
typedef size_t LiteRtParamIndex;

/* Element types share TFLite's numbering. */
enum {
  LRT_FLOAT32 = 1, LRT_INT32 = 2, LRT_UINT8 = 3, LRT_INT64 = 4, LRT_BOOL = 6,
  LRT_INT16 = 7, LRT_INT8 = 9, LRT_FLOAT64 = 11,
};

#define LRT_MAX_RANK 8

/* A tensor shape, 68 bytes: the first word packs the rank (low 7 bits) and a has-strides flag (bit 7). */
typedef struct {
  uint32_t rank_bits;
  int32_t dims[LRT_MAX_RANK]; /* negative: dynamic */
  uint32_t strides[LRT_MAX_RANK];
} LiteRtLayout;

/* A ranked tensor type: 72 bytes, the shape at offset 4. Fields are flattened so code reads t->dims. */
typedef struct {
  int32_t element_type;
  uint32_t rank_bits;
  int32_t dims[LRT_MAX_RANK];
  uint32_t strides[LRT_MAX_RANK];
} LiteRtRankedTensorType;

#define LRT_RANK(t) ((int)((t)->rank_bits & 0x7f))

enum { LRT_ACCELERATOR_CPU = 1 };
enum { LRT_RANKED_TENSOR = 0 };

LiteRtStatus LiteRtCreateEnvironment(int num_options, const void *options, LiteRtEnvironment *env);
void LiteRtDestroyEnvironment(LiteRtEnvironment env);

LiteRtStatus LiteRtCreateModelFromFile(LiteRtEnvironment env, const char *path, LiteRtModel *model);
void LiteRtDestroyModel(LiteRtModel model);
LiteRtStatus LiteRtGetNumModelSignatures(LiteRtModel model, LiteRtParamIndex *count);
LiteRtStatus LiteRtGetModelSignature(LiteRtModel model, LiteRtParamIndex index, LiteRtSignature *sig);
LiteRtStatus LiteRtGetSignatureKey(LiteRtSignature sig, const char **key);
LiteRtStatus LiteRtGetNumSignatureInputs(LiteRtSignature sig, LiteRtParamIndex *count);
LiteRtStatus LiteRtGetSignatureInputName(LiteRtSignature sig, LiteRtParamIndex index, const char **name);
LiteRtStatus LiteRtGetSignatureInputTensorByIndex(LiteRtSignature sig, LiteRtParamIndex index, LiteRtTensor *t);
LiteRtStatus LiteRtGetNumSignatureOutputs(LiteRtSignature sig, LiteRtParamIndex *count);
LiteRtStatus LiteRtGetSignatureOutputName(LiteRtSignature sig, LiteRtParamIndex index, const char **name);
LiteRtStatus LiteRtGetSignatureOutputTensorByIndex(LiteRtSignature sig, LiteRtParamIndex index, LiteRtTensor *t);
LiteRtStatus LiteRtGetSignatureSubgraph(LiteRtSignature sig, LiteRtSubgraph *subgraph);
LiteRtStatus LiteRtGetNumSubgraphOps(LiteRtSubgraph subgraph, LiteRtParamIndex *count);
LiteRtStatus LiteRtGetTensorTypeId(LiteRtTensor t, int *type_id);
LiteRtStatus LiteRtGetRankedTensorType(LiteRtTensor t, LiteRtRankedTensorType *type);

LiteRtStatus LiteRtCreateOptions(LiteRtOptions *options);
void LiteRtDestroyOptions(LiteRtOptions options);
LiteRtStatus LiteRtSetOptionsHardwareAccelerators(LiteRtOptions options, int accelerators);
LiteRtStatus LiteRtAddOpaqueOptions(LiteRtOptions options, LiteRtOpaqueOptions opaque);
/* CPU options travel as an opaque payload named "xnnpack": a TOML text such as `num_threads = 2`. */
LiteRtStatus LiteRtCreateOpaqueOptions(const char *identifier, void *payload, void (*destroy)(void *),
                                       LiteRtOpaqueOptions *options);

LiteRtStatus LiteRtCreateCompiledModel(LiteRtEnvironment env, LiteRtModel model, LiteRtOptions options,
                                       LiteRtCompiledModel *compiled);
void LiteRtDestroyCompiledModel(LiteRtCompiledModel compiled);
LiteRtStatus LiteRtCompiledModelResizeInputTensor(LiteRtCompiledModel compiled, LiteRtParamIndex signature,
                                                  LiteRtParamIndex input, const int *dims, size_t rank);
LiteRtStatus LiteRtGetCompiledModelInputBufferRequirements(LiteRtCompiledModel compiled, LiteRtParamIndex signature,
                                                           LiteRtParamIndex input,
                                                           LiteRtTensorBufferRequirements *req);
LiteRtStatus LiteRtGetCompiledModelOutputBufferRequirements(LiteRtCompiledModel compiled, LiteRtParamIndex signature,
                                                            LiteRtParamIndex output,
                                                            LiteRtTensorBufferRequirements *req);
LiteRtStatus LiteRtGetTensorBufferRequirementsBufferSize(LiteRtTensorBufferRequirements req, size_t *size);
/* The output shapes after input resizes; with `update_allocation` the model re-plans its tensors first. */
LiteRtStatus LiteRtGetCompiledModelOutputTensorLayouts(LiteRtCompiledModel compiled, LiteRtParamIndex signature,
                                                       size_t num_layouts, LiteRtLayout *layouts,
                                                       _Bool update_allocation);
/* True when every operator went to the selected accelerator(s); it does not say how many did otherwise. */
LiteRtStatus LiteRtCompiledModelIsFullyAccelerated(LiteRtCompiledModel compiled, _Bool *fully);
LiteRtStatus LiteRtRunCompiledModel(LiteRtCompiledModel compiled, LiteRtParamIndex signature, size_t num_inputs,
                                    LiteRtTensorBuffer *inputs, size_t num_outputs, LiteRtTensorBuffer *outputs);

LiteRtStatus LiteRtCreateTensorBufferFromHostMemory(const LiteRtRankedTensorType *type, void *addr, size_t size,
                                                    void (*deallocator)(void *), LiteRtTensorBuffer *buffer);
void LiteRtDestroyTensorBuffer(LiteRtTensorBuffer buffer);

#endif
