/* The model's progress trampoline (see model_callbacks.h). */
#include "model_callbacks.h"
#include "_cgo_export.h"

static void model_progress_tramp(void* user_data, size_t done, size_t total) {
    goAphModelProgress((uintptr_t)user_data, done, total);
}

aph_status go_model_load(const char* dir, aph_model_options* options, uintptr_t handle, aph_model** out, char** err) {
    options->progress = handle ? model_progress_tramp : NULL;
    options->progress_user_data = (void*)handle;
    return go_aph_model_load(dir, options, out, err);
}
