/* The Go binding's C side of the model's progress callback (hand-written). */
#ifndef APHELION_GO_MODEL_CALLBACKS_H
#define APHELION_GO_MODEL_CALLBACKS_H
#include <stdint.h>
#include "calls_generated.h"

/* aph_model_load with options->progress set to a trampoline carrying handle (0: none). */
aph_status go_model_load(const char* dir, aph_model_options* options, uintptr_t handle, aph_model** out, char** err);
#endif
