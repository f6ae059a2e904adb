// C API, sections 1 and 2: versions, status codes, the last error.
#include "../core/error.hpp"

extern "C" {

APH_API const char* aph_version_string(void) { return APHELION_VERSION_STRING; }

APH_API void aph_version(int* major, int* minor, int* patch) {
    if (major) *major = APH_VERSION_MAJOR;
    if (minor) *minor = APH_VERSION_MINOR;
    if (patch) *patch = APH_VERSION_PATCH;
}

APH_API const char* aph_status_name(aph_status status) { return aph::status_name_of(status); }

APH_API const char* aph_last_error(void) { return aph::last_error(); }

}  // extern "C"
