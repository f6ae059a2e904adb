/* Devices: counting, opening, identity and reference counting, properties, memory info,
 * forced-CPU selection (no warning), error paths. The fallback warning has its own tests
 * (test_warn_once*.c) because it fires once per process. */
#include "test_util.h"

#include <unistd.h>

static void count(void** state) {
    (void)state;
    int32_t n = -1;
    APH_ASSERT_OK(aph_device_count(APH_DEVICE_CPU, &n));
    assert_int_equal(n, 1);
    int32_t cuda = -1;
    APH_ASSERT_OK(aph_device_count(APH_DEVICE_CUDA, &cuda));
    assert_true(cuda >= 0);
    aph_cuda_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    APH_ASSERT_OK(aph_cuda_get_info(&info));
    assert_int_equal(cuda, info.device_count);

    int32_t untouched = 1234;
    APH_ASSERT_ERR(aph_device_count((aph_device_kind)2, &untouched), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: kind is 2, not a valid aph_device_kind");
    APH_ASSERT_ERR(aph_device_count((aph_device_kind)-1, &untouched), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: kind is -1, not a valid aph_device_kind");
    assert_int_equal(untouched, 1234);
    APH_ASSERT_ERR(aph_device_count(APH_DEVICE_CPU, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
}

static void cpu_properties(void** state) {
    (void)state;
    aph_device* d = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &d));
    assert_non_null(d);
    assert_int_equal(aph_device_get_kind(d), APH_DEVICE_CPU);
    assert_int_equal(aph_device_ordinal(d), 0);
    assert_string_equal(aph_device_label(d), "cpu");
    assert_true(strlen(aph_device_name(d)) > 0);
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    assert_true(aph_device_logical_cores(d) >= 1);
    assert_true(aph_device_logical_cores(d) <= online);
    assert_int_equal(aph_device_multiprocessor_count(d), 0);

    uint64_t free_bytes = 0, total_bytes = 0;
    APH_ASSERT_OK(aph_device_memory_info(d, &free_bytes, &total_bytes));
    assert_true(total_bytes > 0);
    assert_true(free_bytes > 0);
    assert_true(free_bytes <= total_bytes);
    /* The total cannot change while we run; the one measured at open agrees. */
    assert_int_equal(aph_device_total_memory(d), total_bytes);
    /* Either output may be NULL. */
    uint64_t t2 = 0;
    APH_ASSERT_OK(aph_device_memory_info(d, NULL, &t2));
    assert_int_equal(t2, total_bytes);
    APH_ASSERT_OK(aph_device_memory_info(d, NULL, NULL));

    int32_t major = -7, minor = -7;
    APH_ASSERT_ERR(aph_device_compute_capability(d, &major, &minor), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: device is cpu; compute capability is only defined for CUDA devices");
    assert_int_equal(major, -7);
    assert_int_equal(minor, -7);
    aph_device_release(d);
}

static void identity_and_refcount(void** state) {
    (void)state;
    aph_device* a = NULL;
    aph_device* b = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &a));
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &b));
    assert_ptr_equal(a, b); /* one handle per device while it is alive */
    aph_device_retain(a);
    aph_device_release(a);
    aph_device_release(a);
    /* b's reference keeps the handle alive and usable. */
    assert_string_equal(aph_device_label(b), "cpu");
    aph_device* c = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &c));
    assert_ptr_equal(b, c);
    aph_device_release(c);
    aph_device_release(b);
    aph_device_release(NULL);
    aph_device_retain(NULL);
    /* After the last release a new open still works. */
    aph_device* d = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &d));
    assert_string_equal(aph_device_label(d), "cpu");
    aph_device_release(d);
}

static void open_errors(void** state) {
    (void)state;
    aph_device* d = (aph_device*)0x1;
    APH_ASSERT_ERR(aph_device_open(APH_DEVICE_CPU, 1, &d), APH_ERR_DEVICE_NOT_AVAILABLE, "device not available: cpu:1");
    int32_t n = 0;
    APH_ASSERT_OK(aph_device_count(APH_DEVICE_CUDA, &n));
    char expect[64];
    snprintf(expect, sizeof expect, "device not available: cuda:%d", n);
    APH_ASSERT_ERR(aph_device_open(APH_DEVICE_CUDA, n, &d), APH_ERR_DEVICE_NOT_AVAILABLE, expect);
    snprintf(expect, sizeof expect, "device not available: cuda:%d", n + 3);
    APH_ASSERT_ERR(aph_device_open(APH_DEVICE_CUDA, n + 3, &d), APH_ERR_DEVICE_NOT_AVAILABLE, expect);
    APH_ASSERT_ERR(aph_device_open(APH_DEVICE_CPU, -1, &d), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: ordinal must be >= 0, got -1");
    APH_ASSERT_ERR(aph_device_open((aph_device_kind)5, 0, &d), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: kind is 5, not a valid aph_device_kind");
    APH_ASSERT_ERR(aph_device_open(APH_DEVICE_CPU, 0, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    assert_ptr_equal(d, (aph_device*)0x1); /* never written on failure */
}

static void null_device(void** state) {
    (void)state;
    assert_int_equal(aph_device_get_kind(NULL), APH_DEVICE_CPU);
    assert_int_equal(aph_device_ordinal(NULL), -1);
    assert_string_equal(aph_device_label(NULL), "");
    assert_string_equal(aph_device_name(NULL), "");
    assert_int_equal(aph_device_total_memory(NULL), 0);
    assert_int_equal(aph_device_multiprocessor_count(NULL), 0);
    assert_int_equal(aph_device_logical_cores(NULL), 0);
    uint64_t f = 5, t = 5;
    APH_ASSERT_ERR(aph_device_memory_info(NULL, &f, &t), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: device must not be NULL");
    assert_int_equal(f, 5);
    assert_int_equal(t, 5);
    APH_ASSERT_ERR(aph_device_compute_capability(NULL, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: device must not be NULL");
    APH_ASSERT_ERR(aph_device_select(NULL, NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: out must not be NULL");
    aph_warn_if_cpu(NULL, "x"); /* no-op */
}

/* Forcing the CPU selects it with an info message and without the fallback warning. */
static void select_forced(void** state) {
    (void)state;
    aph_capture cap;
    aph_capture_start(&cap);
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_INFO));

    aph_device_config* cfg = NULL;
    APH_ASSERT_OK(aph_device_config_create(&cfg));
    APH_ASSERT_OK(aph_device_config_set_force_cpu(cfg, 1));
    APH_ASSERT_OK(aph_device_config_set_component(cfg, "forced-test"));
    aph_device* d = NULL;
    APH_ASSERT_OK(aph_device_select(cfg, &d));
    assert_int_equal(aph_device_get_kind(d), APH_DEVICE_CPU);
    aph_device_release(d);
    aph_device_config_release(cfg);
    assert_int_equal(aph_capture_find(&cap, APH_LOG_INFO, "forced-test: CPU device selected (forced)"), 1);

    /* The same through the environment and a NULL config. */
    setenv("AXOLOTL_FORCE_CPU", "True", 1);
    APH_ASSERT_OK(aph_device_select(NULL, &d));
    unsetenv("AXOLOTL_FORCE_CPU");
    assert_int_equal(aph_device_get_kind(d), APH_DEVICE_CPU);
    aph_device_release(d);
    assert_int_equal(aph_capture_find(&cap, APH_LOG_INFO, "aphelion: CPU device selected (forced)"), 1);

    assert_int_equal(aph_capture_find(&cap, APH_LOG_WARN, "CPU device in use"), 0);
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_WARN));
    aph_capture_stop(&cap);
}

/* Many threads opening and releasing the same device always share one live handle. */
typedef struct open_job {
    aph_device* expected;
    int mismatches;
    int failures;
} open_job;

static void* open_worker(void* arg) {
    open_job* job = (open_job*)arg;
    for (int i = 0; i < 20000; ++i) {
        aph_device* d = NULL;
        if (aph_device_open(APH_DEVICE_CPU, 0, &d) != APH_OK) {
            job->failures++;
            continue;
        }
        if (d != job->expected) job->mismatches++;
        aph_device_retain(d);
        aph_device_release(d);
        aph_device_release(d);
    }
    return NULL;
}

/* Threads that race the last release against new opens: every handle they get is usable. */
static void* churn_worker(void* arg) {
    int* bad = (int*)arg;
    for (int i = 0; i < 20000; ++i) {
        aph_device* d = NULL;
        if (aph_device_open(APH_DEVICE_CPU, 0, &d) != APH_OK || strcmp(aph_device_label(d), "cpu") != 0) {
            (*bad)++;
        }
        aph_device_release(d);
    }
    return NULL;
}

static void concurrent_open_release(void** state) {
    (void)state;
    aph_device* held = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &held));
    enum { N = 4 };
    pthread_t threads[N];
    open_job jobs[N];
    for (int i = 0; i < N; ++i) {
        jobs[i].expected = held;
        jobs[i].mismatches = 0;
        jobs[i].failures = 0;
        assert_int_equal(pthread_create(&threads[i], NULL, open_worker, &jobs[i]), 0);
    }
    for (int i = 0; i < N; ++i) {
        pthread_join(threads[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
        assert_int_equal(jobs[i].mismatches, 0);
    }
    aph_device_release(held);

    int bad[N] = {0};
    for (int i = 0; i < N; ++i) assert_int_equal(pthread_create(&threads[i], NULL, churn_worker, &bad[i]), 0);
    for (int i = 0; i < N; ++i) {
        pthread_join(threads[i], NULL);
        assert_int_equal(bad[i], 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(count),
        cmocka_unit_test(cpu_properties),
        cmocka_unit_test(identity_and_refcount),
        cmocka_unit_test(open_errors),
        cmocka_unit_test(null_device),
        cmocka_unit_test(select_forced),
        cmocka_unit_test(concurrent_open_release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
