/* The CUDA module is found and loaded at run time, and its absence is never an error:
 *   APH_TEST_MODULE unset    the build's own module (beside libaphelion.so)
 *   APH_TEST_MODULE=missing  APHELION_CUDA_MODULE names a file that does not exist
 *   APH_TEST_MODULE=wrong    APHELION_CUDA_MODULE names a library that is not a module
 * In every case the reason is logged at info level and reported by aph_cuda_get_info. */
#include "test_util.h"

#include <stddef.h>

#ifndef APH_TEST_CUDA_BUILT
#define APH_TEST_CUDA_BUILT 0
#endif

static aph_capture g_cap;

static int ends_with(const char* s, const char* suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void module_state(void** state) {
    (void)state;
    const char* mode = getenv("APH_TEST_MODULE");
    aph_cuda_info info;
    memset(&info, 0xAB, sizeof info);
    info.struct_size = sizeof info;
    APH_ASSERT_OK(aph_cuda_get_info(&info));
    assert_int_equal(info.struct_size, sizeof info);
    assert_int_equal(info.module_built, APH_TEST_CUDA_BUILT);
    assert_non_null(info.module_path);
    assert_non_null(info.reason);

    int32_t count = -1;
    APH_ASSERT_OK(aph_device_count(APH_DEVICE_CUDA, &count));
    assert_int_equal(count, info.device_count);

    if (mode != NULL && strcmp(mode, "missing") == 0) {
        assert_int_equal(info.module_loaded, 0);
        assert_int_equal(info.device_count, 0);
        assert_string_equal(info.module_path, "/nonexistent/libaphelion-cuda.so.0");
        assert_non_null(strstr(info.reason, "CUDA module not loaded"));
        assert_non_null(strstr(info.reason, "/nonexistent/libaphelion-cuda.so.0"));
        assert_int_equal(aph_capture_find(&g_cap, APH_LOG_INFO, "no CUDA devices: CUDA module not loaded"), 1);
    } else if (mode != NULL && strcmp(mode, "wrong") == 0) {
        assert_int_equal(info.module_loaded, 0);
        assert_int_equal(info.device_count, 0);
        assert_non_null(strstr(info.reason, "is not a libaphelion CUDA module (no aph_cuda_module_entry)"));
        assert_int_equal(aph_capture_find(&g_cap, APH_LOG_INFO, "is not a libaphelion CUDA module"), 1);
    } else if (APH_TEST_CUDA_BUILT) {
        assert_int_equal(info.module_loaded, 1);
        assert_true(ends_with(info.module_path, "/libaphelion-cuda.so.0"));
        assert_true(info.runtime_version >= 12000);
        if (!info.driver_present) {
            /* This machine: the module loads, finds no driver, and says so. */
            assert_int_equal(info.device_count, 0);
            assert_int_equal(info.driver_version, 0);
            assert_non_null(strstr(info.reason, "NVIDIA driver not found"));
            assert_int_equal(aph_capture_find(&g_cap, APH_LOG_INFO, "no CUDA devices: NVIDIA driver not found"), 1);
        } else if (info.device_count > 0) {
            assert_true(info.driver_version >= 12000);
            assert_string_equal(info.reason, "");
        }
    } else {
        assert_int_equal(info.module_loaded, 0);
        assert_non_null(strstr(info.reason, "no CUDA support"));
    }

    /* Asking again loads nothing new and logs nothing new. */
    const int before = g_cap.count;
    aph_cuda_info again;
    memset(&again, 0, sizeof again);
    again.struct_size = sizeof again;
    APH_ASSERT_OK(aph_cuda_get_info(&again));
    assert_int_equal(again.device_count, info.device_count);
    assert_ptr_equal(again.reason, info.reason);
    assert_int_equal(g_cap.count, before);

    /* With no CUDA device, opening one is "device not available", never a crash. */
    if (info.device_count == 0) {
        aph_device* d = NULL;
        APH_ASSERT_ERR(aph_device_open(APH_DEVICE_CUDA, 0, &d), APH_ERR_DEVICE_NOT_AVAILABLE,
                       "device not available: cuda:0");
        assert_null(d);
        /* ... and selection falls back to the CPU. */
        APH_ASSERT_OK(aph_device_select(NULL, &d));
        assert_int_equal(aph_device_get_kind(d), APH_DEVICE_CPU);
        aph_device_release(d);
    }
}

/* A caller built against an older, smaller aph_cuda_info gets only the fields it has. */
static void struct_size_contract(void** state) {
    (void)state;
    aph_cuda_info info;
    memset(&info, 0xAB, sizeof info);
    info.struct_size = offsetof(aph_cuda_info, module_built) + sizeof info.module_built;
    APH_ASSERT_OK(aph_cuda_get_info(&info));
    assert_int_equal(info.module_built, APH_TEST_CUDA_BUILT);
    unsigned char sentinel[sizeof info.module_loaded];
    memset(sentinel, 0xAB, sizeof sentinel);
    assert_memory_equal(&info.module_loaded, sentinel, sizeof sentinel);

    memset(&info, 0, sizeof info);
    info.struct_size = 4;
    APH_ASSERT_ERR_CONTAINS(aph_cuda_get_info(&info), APH_ERR_INVALID_ARGUMENT,
                            "invalid argument: info->struct_size is 4; set it to sizeof(aph_cuda_info)");
    APH_ASSERT_ERR(aph_cuda_get_info(NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: info must not be NULL");
}

int main(void) {
    /* Capture before anything asks a CUDA question: the module is probed on first use. */
    memset(&g_cap, 0, sizeof g_cap);
    pthread_mutex_init(&g_cap.mutex, NULL);
    aph_log_set_callback(aph_capture_cb, &g_cap);
    aph_log_set_level(APH_LOG_INFO);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(module_state),
        cmocka_unit_test(struct_size_contract),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
