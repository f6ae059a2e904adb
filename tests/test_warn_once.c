/* The CPU fallback warning fires exactly once per process, with docs/compat.md's exact text,
 * when selection falls back twice; aph_warn_if_cpu shares the same once-guard. Runs in a
 * process of its own. */
#include "test_util.h"

static const char* kWarning =
    "fallback-test: CPU device in use. CUDA is the intended default; CPU mode exists only as a "
    "compatibility fallback. Set APHELION_FORCE_CPU=1 to silence this warning.";

static void falls_back_twice_warns_once(void** state) {
    (void)state;
    aph_capture cap;
    aph_capture_start(&cap);

    aph_device_config* cfg = NULL;
    APH_ASSERT_OK(aph_device_config_create(&cfg));
    /* An ordinal no machine has, so selection falls back whether or not a GPU is present. */
    APH_ASSERT_OK(aph_device_config_set_cuda_device(cfg, 4096));
    APH_ASSERT_OK(aph_device_config_set_component(cfg, "fallback-test"));

    for (int i = 0; i < 2; ++i) {
        aph_device* d = NULL;
        APH_ASSERT_OK(aph_device_select(cfg, &d));
        assert_int_equal(aph_device_get_kind(d), APH_DEVICE_CPU);
        aph_device_release(d);
    }
    /* The shared guard: an explicit check afterwards stays silent too. */
    aph_device* cpu = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
    aph_warn_if_cpu(cpu, "other-component");
    aph_device_release(cpu);

    assert_int_equal(aph_capture_find(&cap, APH_LOG_WARN, "CPU device in use"), 1);
    assert_int_equal(aph_capture_find(&cap, APH_LOG_WARN, kWarning), 1);
    /* The exact message, not just a substring, on the device target. */
    int found = 0;
    for (int i = 0; i < cap.count && i < APH_CAPTURE_MAX; ++i) {
        if (cap.levels[i] == APH_LOG_WARN) {
            assert_string_equal(cap.messages[i], kWarning);
            assert_string_equal(cap.targets[i], "aphelion::device");
            found++;
        }
    }
    assert_int_equal(found, 1);
    aph_device_config_release(cfg);
    aph_capture_stop(&cap);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(falls_back_twice_warns_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
