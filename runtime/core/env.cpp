#include "env.hpp"

#include <cctype>
#include <cstdlib>
#include <cstring>

namespace aph::env {

bool is_truthy(const char* v) noexcept {
    if (v == nullptr) return false;
    if (std::strcmp(v, "1") == 0) return true;
    return strcasecmp(v, "true") == 0;
}

std::optional<int32_t> parse_ordinal(const char* v) noexcept {
    if (v == nullptr) return std::nullopt;
    if (*v == '+') ++v;
    if (*v == '\0') return std::nullopt;
    int64_t n = 0;
    for (; *v; ++v) {
        if (!std::isdigit(static_cast<unsigned char>(*v))) return std::nullopt;
        n = n * 10 + (*v - '0');
        if (n > INT32_MAX) return std::nullopt;
    }
    return static_cast<int32_t>(n);
}

const char* forcing_cpu_variable() noexcept {
    for (const char* name : kForceCpuVars) {
        if (is_truthy(std::getenv(name))) return name;
    }
    return nullptr;
}

std::optional<Ordinal> cuda_device() noexcept {
    for (const char* name : kCudaDeviceVars) {
        if (auto n = parse_ordinal(std::getenv(name))) return Ordinal{*n, name};
    }
    return std::nullopt;
}

}  // namespace aph::env
