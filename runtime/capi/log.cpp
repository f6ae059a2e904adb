// C API, section 3: logging.
#include "../core/error.hpp"
#include "../core/log.hpp"

namespace {

void check_level(aph_log_level level, const char* arg) {
    if (static_cast<int>(level) < APH_LOG_TRACE || static_cast<int>(level) > APH_LOG_ERROR) {
        throw aph::invalid_argument(
            aph::strprintf("%s is %d, not a valid aph_log_level", arg, static_cast<int>(level)));
    }
}

}  // namespace

extern "C" {

APH_API aph_status aph_log_set_callback(aph_log_callback cb, void* user_data) {
    return aph::guard([&] {
        if (!aph::log::set_callback(cb, user_data)) {
            throw aph::invalid_argument("aph_log_set_callback cannot be called from inside the log callback");
        }
    });
}

APH_API aph_status aph_log_set_level(aph_log_level level) {
    return aph::guard([&] {
        check_level(level, "level");
        aph::log::set_level(level);
    });
}

APH_API aph_log_level aph_log_get_level(void) { return aph::log::level(); }

APH_API const char* aph_log_level_name(aph_log_level level) { return aph::log::level_name(level); }

APH_API aph_status aph_log_write(aph_log_level level, const char* target, const char* message) {
    return aph::guard([&] {
        check_level(level, "level");
        aph::require_arg(message, "message");
        aph::log::write(level, target ? target : "aphelion", message);
    });
}

APH_API aph_status aph_log_apply_preset(aph_log_preset preset) {
    return aph::guard([&] {
        if (static_cast<int>(preset) < APH_LOG_PRESET_DEVELOPMENT ||
            static_cast<int>(preset) > APH_LOG_PRESET_TESTING) {
            throw aph::invalid_argument(
                aph::strprintf("preset is %d, not a valid aph_log_preset", static_cast<int>(preset)));
        }
        if (!aph::log::apply_preset(preset)) {
            throw aph::invalid_argument("aph_log_apply_preset cannot be called from inside the log callback");
        }
    });
}

APH_API aph_status aph_log_training_step(uint64_t step, uint64_t total_steps, double loss, double lr) {
    return aph::guard([&] {
        if (total_steps == 0) throw aph::invalid_argument("total_steps must be > 0");
        if (!aph::log::enabled(APH_LOG_INFO)) return;
        const double pct = static_cast<double>(step) / static_cast<double>(total_steps) * 100.0;
        const std::string msg = aph::strprintf(
            "training step step=%llu total_steps=%llu progress_pct=%s loss=%s lr=%s",
            static_cast<unsigned long long>(step), static_cast<unsigned long long>(total_steps),
            aph::log::rust_fixed(pct, 1).c_str(), aph::log::rust_fixed(loss, 6).c_str(),
            aph::log::rust_exp(lr, 2).c_str());
        aph::log::write(APH_LOG_INFO, "rust_ai::training", msg);
    });
}

APH_API aph_status aph_log_memory_usage(uint64_t allocated_bytes, uint64_t peak_bytes, const char* context) {
    return aph::guard([&] {
        if (!aph::log::enabled(APH_LOG_INFO)) return;
        constexpr double mb = 1024.0 * 1024.0;
        std::string msg = aph::strprintf("memory usage allocated_mb=%s peak_mb=%s",
                                         aph::log::rust_fixed(static_cast<double>(allocated_bytes) / mb, 2).c_str(),
                                         aph::log::rust_fixed(static_cast<double>(peak_bytes) / mb, 2).c_str());
        if (context != nullptr) {
            msg += " context=";
            msg += context;
        }
        aph::log::write(APH_LOG_INFO, "rust_ai::memory", msg);
    });
}

}  // extern "C"
