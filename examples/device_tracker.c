/*
 * device_tracker.c — pick a device and budget memory for a model's activations.
 *
 * Build against an installed libaphelion:
 *   cc device_tracker.c $(pkg-config --cflags --libs aphelion) -o device_tracker
 * or with CMake: find_package(aphelion 0.2 REQUIRED) + target_link_libraries(... aphelion::aphelion)
 */
#include <aphelion.h>

#include <stdio.h>

#define CHECK(call)                                                                         \
    do {                                                                                    \
        aph_status st_ = (call);                                                            \
        if (st_ != APH_OK) {                                                                \
            fprintf(stderr, "%s: %s: %s\n", #call, aph_status_name(st_), aph_last_error()); \
            return 1;                                                                       \
        }                                                                                   \
    } while (0)

int main(void) {
    /* Device: CUDA first, CPU fallback; the environment can force the CPU. */
    aph_device_config* config = NULL;
    CHECK(aph_device_config_from_env(&config));
    CHECK(aph_device_config_set_component(config, "example"));
    aph_device* device = NULL;
    CHECK(aph_device_select(config, &device));
    aph_device_config_release(config);

    uint64_t free_bytes = 0, total_bytes = 0;
    CHECK(aph_device_memory_info(device, &free_bytes, &total_bytes));
    printf("device: %s (%s), %.1f of %.1f GiB free\n", aph_device_label(device), aph_device_name(device),
           free_bytes / 1073741824.0, total_bytes / 1073741824.0);

    /* Budget: a quarter of the free memory. */
    aph_tracker* tracker = NULL;
    CHECK(aph_tracker_create(free_bytes / 4, &tracker));

    /* Attention activations of one transformer layer, bf16, batch 8, 32 heads, seq 2048. */
    uint64_t attention = 0;
    CHECK(aph_estimate_attention_bytes(8, 32, 2048, 128, APH_DTYPE_BF16, &attention));
    const int64_t hidden_shape[3] = {8, 2048, 4096};
    uint64_t hidden = 0;
    CHECK(aph_tracker_estimate_with_overhead(tracker, hidden_shape, 3, APH_DTYPE_BF16, &hidden));

    int layers = 0;
    for (;;) {
        if (aph_tracker_allocate(tracker, attention + hidden) != APH_OK) {
            /* The budget is exhausted: the message says by how much. */
            printf("stopped: %s\n", aph_last_error());
            break;
        }
        if (++layers == 64) break;
    }
    printf("layers that fit: %d, peak %llu bytes of %llu\n", layers,
           (unsigned long long)aph_tracker_peak_bytes(tracker), (unsigned long long)aph_tracker_limit_bytes(tracker));
    if (aph_tracker_peak_bytes(tracker) > aph_tracker_limit_bytes(tracker)) return 1;

    aph_tracker_release(tracker);
    aph_device_release(device);
    printf("example: ok\n");
    return 0;
}
