/* CUDA devices on a machine that has them (label gpu). Exits 77 (skipped) where there is none. */
#include "test_util.h"

static int32_t g_count = 0;

static void cuda_properties(void** state) {
    (void)state;
    for (int32_t i = 0; i < g_count; ++i) {
        aph_device* d = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CUDA, i, &d));
        assert_int_equal(aph_device_get_kind(d), APH_DEVICE_CUDA);
        assert_int_equal(aph_device_ordinal(d), i);
        char label[32];
        snprintf(label, sizeof label, "cuda:%d", i);
        assert_string_equal(aph_device_label(d), label);
        assert_true(strlen(aph_device_name(d)) > 0);
        int32_t major = 0, minor = -1;
        APH_ASSERT_OK(aph_device_compute_capability(d, &major, &minor));
        assert_true(major >= 7);
        assert_true(minor >= 0);
        assert_true(aph_device_multiprocessor_count(d) > 0);
        assert_int_equal(aph_device_logical_cores(d), 0);
        uint64_t free_bytes = 0, total_bytes = 0;
        APH_ASSERT_OK(aph_device_memory_info(d, &free_bytes, &total_bytes));
        assert_true(total_bytes > 0);
        assert_true(free_bytes > 0 && free_bytes <= total_bytes);
        assert_int_equal(total_bytes, aph_device_total_memory(d));
        aph_device* again = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CUDA, i, &again));
        assert_ptr_equal(d, again);
        aph_device_release(again);
        aph_device_release(d);
    }
    aph_device* d = NULL;
    char expect[64];
    snprintf(expect, sizeof expect, "device not available: cuda:%d", g_count);
    APH_ASSERT_ERR(aph_device_open(APH_DEVICE_CUDA, g_count, &d), APH_ERR_DEVICE_NOT_AVAILABLE, expect);
}

/* With a GPU, default selection picks CUDA device 0 and logs no warning. */
static void select_prefers_cuda(void** state) {
    (void)state;
    aph_capture cap;
    aph_capture_start(&cap);
    aph_device* d = NULL;
    APH_ASSERT_OK(aph_device_select(NULL, &d));
    assert_int_equal(aph_device_get_kind(d), APH_DEVICE_CUDA);
    assert_int_equal(aph_device_ordinal(d), 0);
    aph_device_release(d);
    setenv("APHELION_CUDA_DEVICE", "0", 1);
    setenv("RUST_AI_CUDA_DEVICE", "9999", 1);
    APH_ASSERT_OK(aph_device_select(NULL, &d));
    assert_int_equal(aph_device_get_kind(d), APH_DEVICE_CUDA);
    aph_device_release(d);
    unsetenv("APHELION_CUDA_DEVICE");
    unsetenv("RUST_AI_CUDA_DEVICE");
    assert_int_equal(aph_capture_find(&cap, APH_LOG_WARN, "CPU device in use"), 0);
    aph_capture_stop(&cap);
}

int main(void) {
    if (aph_device_count(APH_DEVICE_CUDA, &g_count) != APH_OK || g_count == 0) {
        aph_cuda_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        aph_cuda_get_info(&info);
        printf("skipped: no CUDA device (%s)\n", info.reason ? info.reason : "");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cuda_properties),
        cmocka_unit_test(select_prefers_cuda),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
