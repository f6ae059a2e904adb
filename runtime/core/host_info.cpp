#include "host_info.hpp"

#include "error.hpp"

#include <sched.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <string>

namespace aph::host {
namespace {

std::string trim(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return std::string();
    const size_t e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

// A value from /proc/meminfo in bytes ("MemTotal:  1234 kB").
std::optional<uint64_t> meminfo_field(const std::string& text, const char* key) {
    const std::string k = std::string("\n") + key + ":";
    const std::string hay = "\n" + text;
    const size_t pos = hay.find(k);
    if (pos == std::string::npos) return std::nullopt;
    const uint64_t kb = std::strtoull(hay.c_str() + pos + k.size(), nullptr, 10);
    return kb * 1024;
}

std::optional<uint64_t> read_u64_file(const std::string& path) {
    std::ifstream f(path);
    std::string s;
    if (!(f >> s) || s.empty() || s == "max") return std::nullopt;
    char* end = nullptr;
    const uint64_t v = std::strtoull(s.c_str(), &end, 10);
    if (end == s.c_str()) return std::nullopt;
    return v;
}

// The cgroup v2 directory of this process ("0::/path" in /proc/self/cgroup).
std::optional<std::string> cgroup_dir() {
    std::ifstream f("/proc/self/cgroup");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("0::", 0) == 0) return "/sys/fs/cgroup" + line.substr(3);
    }
    return std::nullopt;
}

}  // namespace

std::string cpu_model_name() {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("model name", 0) == 0) {
            const size_t colon = line.find(':');
            if (colon != std::string::npos) {
                std::string name = trim(line.substr(colon + 1));
                if (!name.empty()) return name;
            }
        }
    }
    return "cpu";
}

int32_t logical_cores() noexcept {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<int32_t>(n) : 1;
}

Memory memory() {
    Memory m{0, 0};
    std::ifstream f("/proc/meminfo");
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const auto total = meminfo_field(text, "MemTotal");
    const auto avail = meminfo_field(text, "MemAvailable");
    if (total && avail) {
        m.total_bytes = *total;
        m.free_bytes = *avail;
    } else {
        struct sysinfo si {};
        if (sysinfo(&si) != 0) {
            throw Error::kind(APH_ERR_IO, "cannot read the host's memory size (/proc/meminfo, sysinfo)");
        }
        m.total_bytes = static_cast<uint64_t>(si.totalram) * si.mem_unit;
        m.free_bytes = static_cast<uint64_t>(si.freeram) * si.mem_unit;
    }
    // A container's limit is what this process can really use.
    if (auto dir = cgroup_dir()) {
        if (auto limit = read_u64_file(*dir + "/memory.max"); limit && *limit < m.total_bytes) {
            const uint64_t used = read_u64_file(*dir + "/memory.current").value_or(0);
            m.total_bytes = *limit;
            m.free_bytes = std::min(m.free_bytes, used < *limit ? *limit - used : 0);
        }
    }
    return m;
}

}  // namespace aph::host
