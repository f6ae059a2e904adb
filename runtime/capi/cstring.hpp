// Strings handed to C callers: malloc'd copies they free with aph_string_free.
#pragma once

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

namespace aph {

// A NUL-terminated malloc'd copy of s; throws std::bad_alloc (the barrier turns it into
// APH_ERR_OUT_OF_MEMORY).
inline char* c_string_copy(const std::string& s) {
    char* p = static_cast<char*>(std::malloc(s.size() + 1));
    if (p == nullptr) throw std::bad_alloc();
    std::memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';
    return p;
}

}  // namespace aph
