/* The Go binding's callback trampolines (hand-written; see callbacks.h). */
#include "callbacks.h"
#include "_cgo_export.h"

static void deleter_tramp(void* user_data, void* data) { goAphDeleter((uintptr_t)user_data, data); }
static void destroy_tramp(void* user_data) { goAphDestroy((uintptr_t)user_data); }

aph_status go_tensor_from_blob(aph_device* device, aph_dtype dtype, const int64_t* shape, const int64_t* strides,
                               size_t ndim, void* data, uintptr_t handle, aph_tensor** out, char** err) {
    return go_aph_tensor_from_blob(device, dtype, shape, strides, ndim, data, handle ? deleter_tramp : NULL,
                                   (void*)handle, out, err);
}

static void log_tramp(void* user_data, aph_log_level level, const char* target, const char* message) {
    (void)user_data;
    goAphLog(level, (char*)target, (char*)message);
}

aph_status go_log_set_callback(int enable, char** err) {
    return go_aph_log_set_callback(enable ? log_tramp : NULL, NULL, err);
}

static void trace_event_tramp(void* user_data, const aph_trace_event* e) {
    goAphTraceEvent((uintptr_t)user_data, (aph_trace_event*)e);
}
static void trace_span_tramp(void* user_data, const aph_trace_span* s) {
    goAphTraceSpan((uintptr_t)user_data, (aph_trace_span*)s);
}

aph_status go_trace_sink_callback(uintptr_t handle, aph_trace_sink** out, char** err) {
    return go_aph_trace_sink_callback(trace_event_tramp, trace_span_tramp, (void*)handle, destroy_tramp, out, err);
}

static aph_status stage_tramp(void* user_data, aph_build_context* ctx, aph_graph* graph) {
    return goAphStage((uintptr_t)user_data, ctx, graph);
}
static aph_status hook_tramp(void* user_data, aph_build_context* ctx, const aph_graph* graph) {
    return goAphStage((uintptr_t)user_data, ctx, (aph_graph*)graph);
}
static void progress_tramp(void* user_data, const char* stage, size_t index, size_t total) {
    goAphProgress((uintptr_t)user_data, (char*)stage, index, total);
}

aph_status go_pipeline_add_stage(aph_pipeline* pipeline, const char* name, uintptr_t handle, char** err) {
    return go_aph_pipeline_add_stage(pipeline, name, stage_tramp, (void*)handle, destroy_tramp, err);
}

aph_status go_pipeline_add_hook(aph_pipeline* pipeline, int post, uintptr_t handle, char** err) {
    return post ? go_aph_pipeline_add_post_hook(pipeline, hook_tramp, (void*)handle, destroy_tramp, err)
                : go_aph_pipeline_add_pre_hook(pipeline, hook_tramp, (void*)handle, destroy_tramp, err);
}

aph_status go_pipeline_set_progress(aph_pipeline* pipeline, uintptr_t handle, char** err) {
    return go_aph_pipeline_set_progress(pipeline, handle ? progress_tramp : NULL, (void*)handle, err);
}

static aph_status infer_tramp(void* user_data, const char* params_json, size_t n_inputs, const aph_dtype* input_dtypes,
                              const int64_t* const* input_shapes, const size_t* input_ndims, aph_dtype* out_dtype,
                              int64_t* out_shape, size_t out_shape_capacity, size_t* out_ndim) {
    return goAphCustomInfer((uintptr_t)user_data, (char*)params_json, n_inputs, (aph_dtype*)input_dtypes,
                            (int64_t**)input_shapes, (size_t*)input_ndims, out_dtype, out_shape, out_shape_capacity,
                            out_ndim);
}
static aph_status cpu_tramp(void* user_data, const char* params_json, size_t n_inputs, const aph_tensor* const* inputs,
                            aph_tensor* out) {
    return goAphCustomCPU((uintptr_t)user_data, (char*)params_json, n_inputs, (aph_tensor**)inputs, out);
}

aph_status go_custom_op_register(const char* name, uintptr_t handle, char** err) {
    aph_custom_op op = {0};
    op.struct_size = sizeof op;
    op.name = name;
    op.infer = infer_tramp;
    op.cpu = cpu_tramp;
    op.cuda = NULL;
    op.user_data = (void*)handle;
    op.destroy = destroy_tramp;
    return go_aph_custom_op_register(&op, err);
}

void go_set_last_error(aph_status status, const char* message) { aph_set_last_error(status, message); }
