// C API, sections 1 and 2: versions, status codes, the last error.
#include "../core/error.hpp"

#include <cstdlib>
#include <string>

extern "C" {

APH_API const char* aph_version_string(void) { return APHELION_VERSION_STRING; }

APH_API void aph_version(int* major, int* minor, int* patch) {
    if (major) *major = APH_VERSION_MAJOR;
    if (minor) *minor = APH_VERSION_MINOR;
    if (patch) *patch = APH_VERSION_PATCH;
}

APH_API const char* aph_status_name(aph_status status) { return aph::status_name_of(status); }

APH_API const char* aph_last_error(void) { return aph::last_error(); }

APH_API void aph_string_free(char* str) { std::free(str); }

APH_API void aph_set_last_error(aph_status status, const char* message) {
    if (status == APH_OK) return;
    try {
        std::string m(aph::status_prefix(status));
        m += message ? message : "";
        aph::set_last_error(status, m.c_str());
    } catch (...) {
        aph::set_last_error(status, "out of memory: could not store the error message");
    }
}

}  // extern "C"
