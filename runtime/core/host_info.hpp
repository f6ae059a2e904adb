// Facts about the host the CPU device reports.
#pragma once

#include <cstdint>
#include <string>

namespace aph::host {

// The CPU model ("model name" in /proc/cpuinfo), or "cpu" when the system gives none.
std::string cpu_model_name();

// Logical cores in this process's affinity mask (falls back to the online count).
int32_t logical_cores() noexcept;

struct Memory {
    uint64_t free_bytes;
    uint64_t total_bytes;
};
// Memory available to this process: MemTotal / MemAvailable, narrowed by a cgroup v2 limit.
// Throws APH_ERR_IO if neither /proc/meminfo nor sysinfo() answers.
Memory memory();

}  // namespace aph::host
