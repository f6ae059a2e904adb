/* The bad-input sweep's hand-written half: fixtures (a valid handle of every type, buffers,
 * files, callbacks) and the checks each generated case makes. The cases themselves are
 * generated from include/aphelion.h by tests/sweep/gen_sweep.py (see there). */
#ifndef APH_SWEEP_SUPPORT_H
#define APH_SWEEP_SUPPORT_H

#include <aphelion.h>
#include <aphelion_dlpack.h>

#include <stddef.h>
#include <stdint.h>

/* What out parameters hold before a call: a call that fails must leave them so. */
#define SW_SENTINEL_PTR ((void*)(uintptr_t)0x5e5e5e5e5e5e5e5eull)
#define SW_SENTINEL_BYTE 0x5e
#define SW_ARRAY 128 /* elements of out arrays (capacity arguments say so) */

/* The fixture model's configuration (config.json of fx.model_dir): its vocabulary is
 * rf_tokenizer_json's (17 tokens). */
#define SW_MODEL_VOCAB 17
#define SW_MODEL_HIDDEN 8
#define SW_MODEL_INTERMEDIATE 16
#define SW_MODEL_MAX_POSITIONS 32

/* Fresh for each function swept (sw_setup / sw_teardown). */
typedef struct sw_fixtures {
    /* A valid handle of each type of the header (named after the type, without aph_). */
    aph_device* device; /* the CPU */
    aph_tensor* tensor; /* f32 [2, 3], contiguous, on the CPU */
    aph_stream* stream; /* a CPU stream */
    aph_event* event;
    aph_tracker* tracker; /* no limit */
    aph_device_config* device_config;
    aph_model_config* model_config; /* "sweep" 1.0.0: lr 0.5, n 3, flag true, s "x" */
    aph_graph* graph;               /* rf_graph_json: input x [2, 4], output y */
    aph_trace_sink* trace_sink;     /* in memory, one event and one span recorded */
    aph_build_context* build_context;
    aph_pipeline* pipeline;       /* the "standard" preset */
    aph_executor* executor;       /* of graph, inputs and weights bound, run once */
    aph_executor* sym_executor;   /* of rf_sym_graph_json (symbol "batch"), weights and x [2, 4] bound */
    aph_safetensors* safetensors; /* weights file: w1 [3, 4], b1 [3], w2 [2, 3], ids [3] */
    aph_tokenizer* tokenizer;     /* rf_tokenizer_json */
    aph_model* model;             /* model_dir: BERT, hidden 8, 1 layer, 2 heads, mean pooling, normalised */
    /* Tensors of particular shapes for the operations (f32 unless said). */
    aph_tensor *t22, *t23b, *t32, *t24, *t3, *t2, *t4, *i64_2, *i64_3, *i32_2, *i8_23, *u8_21, *scale1, *t1223, *pos2;
    aph_tensor *t1223b, *t21, *t21b, *t33, *t31; /* attention's out; a GRU cell of hidden size 1 */
    aph_tensor* read_only;                       /* a CPU tensor of the safetensors file (read-only) */
    aph_tensor* read_only22;                     /* f32 [2, 2], read-only (a DLPack import so flagged) */
    /* Token tensors for the model (i64): ids [1, 4] within the vocabulary and its mask; ids
     * [1, 4] with one outside it; zeros [1, 33] (one more than max_position_embeddings). */
    aph_tensor *ids14, *mask14, *ids14_oov, *ids133;
    /* Inputs of the usual kinds. */
    int64_t shape[2];    /* {2, 3} */
    int64_t shape17[17]; /* 17 ones: one more dimension than allowed */
    int64_t dims[2];     /* {1, 0} */
    float data[6];       /* 6 values: a [2, 3] f32 tensor's bytes */
    float scratch[64];
    const char* names[1];         /* {"t"} */
    const aph_tensor* tensors[1]; /* {tensor} */
    aph_trace_sink* sinks[1];     /* {trace_sink} */
    const char* texts[2];         /* two texts */
    size_t text_lengths[2];
    char graph_path[256], weights_path[256], tokenizer_path[256], out_path[256];
    char model_dir[256];         /* a tiny BERT directory (sw_setup writes it; sw_teardown removes it) */
    aph_trace_event trace_event; /* valid, with struct_size set */
    aph_trace_span trace_span;
    aph_executor_options executor_options;
    aph_tokenizer_encode_options encode_options;
    aph_model_options model_options;  /* struct_size set, the rest 0 (the directory's settings) */
    aph_custom_op custom_op;          /* "sweep_op": one operand, same dtype and shape */
    DLManagedTensorVersioned* dlpack; /* from tensor (consumed by imports) */
    DLManagedTensor* dlpack_unversioned;
    void* raw;        /* 64 bytes from aph_device_allocate */
    char* lib_string; /* a string the library allocated (aph_string_free's) */
} sw_fixtures;

extern sw_fixtures fx;

int sw_setup(void** state);
int sw_teardown(void** state);

/* Callbacks with the header's signatures: they do nothing (and succeed). */
void sw_log_callback(void* user_data, aph_log_level level, const char* target, const char* message);
void sw_deleter(void* user_data, void* data);
void sw_trace_event_fn(void* user_data, const aph_trace_event* event);
void sw_trace_span_fn(void* user_data, const aph_trace_span* span);
aph_status sw_stage_fn(void* user_data, aph_build_context* ctx, aph_graph* graph);
aph_status sw_hook_fn(void* user_data, aph_build_context* ctx, const aph_graph* graph);
void sw_progress_fn(void* user_data, const char* stage, size_t index, size_t total);
void sw_destroy(void* user_data);

/* Before each call: the thread's last error set to a marker, so that a failing call's message
 * and a non-status function's silence can be told apart. */
void sw_mark(void);
/* Checks, each recording a failure (with function and case) rather than aborting, so one run
 * reports every problem:
 *  - sw_expect_status: the call returned want; for a failing want, aph_last_error() is a
 *    fresh message (not the marker) that begins with want's prefix (from the header's enum
 *    comments) and, when name is not NULL, names it;
 *  - sw_expect_ok_or_message: APH_OK, or a failure with a fresh message of its status;
 *  - sw_expect_quiet: the marker is still the last error (functions that return no status
 *    never touch it). */
void sw_expect_status(const char* fn, const char* what, aph_status got, aph_status want, const char* name);
void sw_expect_ok_or_message(const char* fn, const char* what, aph_status got);
void sw_expect_quiet(const char* fn, const char* what);
/* Fails the case: an out parameter changed on a failing call. */
void sw_expect_untouched(const char* fn, const char* what, const char* param, int untouched);
/* 1 when the n bytes at p all hold SW_SENTINEL_BYTE (from offset skip). */
int sw_all_sentinel(const void* p, size_t n, size_t skip);
/* Records a failure of the table itself (a name the header no longer has). */
void sw_table_problem(const char* message);

/* At the start of each function's test: its name, and whether the table has a row for it. */
void sw_begin_function(const char* fn, int has_row);
/* For a function without a row: its valid-arguments call, made first. A failure means the
 * defaults are not valid arguments for it; the function is then swept provisionally (printed as
 * a NOTE, not a failure): each later case is only checked for a proper message when it fails
 * (sw_expect_status accepts any status), untouched out parameters, quiet non-status functions
 * and, as everywhere, no crash. */
void sw_probe(const char* fn, aph_status got);
extern int sw_provisional;       /* the current function is swept provisionally */
extern int sw_provisional_count; /* functions swept provisionally so far */

/* Failures recorded so far; the prefix of each status (generated). */
extern int sw_failures;
const char* sw_status_prefix(aph_status status);
/* Functions swept, cases run (printed at the end). */
extern int sw_cases;

#endif
