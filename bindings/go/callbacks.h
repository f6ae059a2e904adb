/* The Go binding's C side of callbacks (hand-written): each registration passes a C trampoline
 * that calls an exported Go function with the runtime/cgo.Handle carried in user_data. Each
 * function below makes ONE cgo call do the registration and copy the error message (see
 * calls_generated.h). */
#ifndef APHELION_GO_CALLBACKS_H
#define APHELION_GO_CALLBACKS_H
#include <stdint.h>
#include "calls_generated.h"

aph_status go_tensor_from_blob(aph_device* device, aph_dtype dtype, const int64_t* shape, const int64_t* strides,
                               size_t ndim, void* data, uintptr_t handle, aph_tensor** out, char** err);
aph_status go_log_set_callback(int enable, char** err);
aph_status go_trace_sink_callback(uintptr_t handle, aph_trace_sink** out, char** err);
aph_status go_pipeline_add_stage(aph_pipeline* pipeline, const char* name, uintptr_t handle, char** err);
aph_status go_pipeline_add_hook(aph_pipeline* pipeline, int post, uintptr_t handle, char** err);
aph_status go_pipeline_set_progress(aph_pipeline* pipeline, uintptr_t handle, char** err);
aph_status go_custom_op_register(const char* name, uintptr_t handle, char** err);
/* Sets the thread's last error from a Go callback (the callback's own thread). */
void go_set_last_error(aph_status status, const char* message);
#endif
