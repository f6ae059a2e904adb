/* aph_warn_if_cpu: silent for NULL and for forced selection, warns once for a CPU device
 * (component NULL means "aphelion"), and the guard it consumed also silences a later
 * fallback in aph_device_select. Runs in a process of its own. */
#include "test_util.h"

static void explicit_warning_shares_guard(void** state) {
    (void)state;
    aph_capture cap;
    aph_capture_start(&cap);

    aph_warn_if_cpu(NULL, "nobody");
    /* Forcing the CPU does not consume the guard. */
    aph_device_config* cfg = NULL;
    APH_ASSERT_OK(aph_device_config_create(&cfg));
    APH_ASSERT_OK(aph_device_config_set_force_cpu(cfg, 1));
    aph_device* d = NULL;
    APH_ASSERT_OK(aph_device_select(cfg, &d));
    aph_device_release(d);
    assert_int_equal(aph_capture_find(&cap, APH_LOG_WARN, "CPU device in use"), 0);

    aph_device* cpu = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
    aph_warn_if_cpu(cpu, NULL);
    aph_warn_if_cpu(cpu, "again");
    assert_int_equal(aph_capture_find(&cap, APH_LOG_WARN, "CPU device in use"), 1);
    assert_int_equal(aph_capture_find(&cap, APH_LOG_WARN,
                                      "aphelion: CPU device in use. CUDA is the intended default; CPU mode exists "
                                      "only as a compatibility fallback. Set APHELION_FORCE_CPU=1 to silence this "
                                      "warning."),
                     1);

    /* A fallback after that is silent. */
    APH_ASSERT_OK(aph_device_config_set_force_cpu(cfg, 0));
    APH_ASSERT_OK(aph_device_config_set_cuda_device(cfg, 4096));
    APH_ASSERT_OK(aph_device_select(cfg, &d));
    assert_int_equal(aph_device_get_kind(d), APH_DEVICE_CPU);
    aph_device_release(d);
    assert_int_equal(aph_capture_find(&cap, APH_LOG_WARN, "CPU device in use"), 1);

    aph_device_release(cpu);
    aph_device_config_release(cfg);
    aph_capture_stop(&cap);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(explicit_warning_shares_guard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
