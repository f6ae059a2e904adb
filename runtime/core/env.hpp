// Environment variables read by device selection (docs/compat.md section 2).
#pragma once

#include <cstdint>
#include <optional>

namespace aph::env {

// In priority order: libaphelion's own first, then rust-ai-core's current and legacy names.
inline constexpr const char* kForceCpuVars[] = {"APHELION_FORCE_CPU", "RUST_AI_FORCE_CPU", "AXOLOTL_FORCE_CPU",
                                                "VSA_OPTIM_FORCE_CPU"};
inline constexpr const char* kCudaDeviceVars[] = {"APHELION_CUDA_DEVICE", "RUST_AI_CUDA_DEVICE", "AXOLOTL_CUDA_DEVICE",
                                                  "VSA_OPTIM_CUDA_DEVICE"};

// "1" or "true" in any case.
bool is_truthy(const char* value) noexcept;

// A non-negative decimal integer that fits in int32 ("+3" allowed, nothing else around it).
std::optional<int32_t> parse_ordinal(const char* value) noexcept;

// The first force-CPU variable that is truthy, or nullptr.
const char* forcing_cpu_variable() noexcept;

struct Ordinal {
    int32_t value;
    const char* variable;
};
// The first CUDA-device variable that parses, if any.
std::optional<Ordinal> cuda_device() noexcept;

}  // namespace aph::env
