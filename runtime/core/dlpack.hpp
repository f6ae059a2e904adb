// DLPack export and import (header section 13).
#pragma once

#include "aphelion.h"

struct DLManagedTensorVersioned;
struct DLManagedTensor;

namespace aph::dlpack {

DLManagedTensorVersioned* to_versioned(aph_tensor* t);
DLManagedTensor* to_unversioned(aph_tensor* t);
// Take ownership of src only when they return.
aph_tensor* from_versioned(DLManagedTensorVersioned* src);
aph_tensor* from_unversioned(DLManagedTensor* src);

}  // namespace aph::dlpack
