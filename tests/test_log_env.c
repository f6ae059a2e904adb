/* test_log_env.c — the logger's initial level comes from APHELION_LOG (case-insensitive), read
 * once at the logger's first use. CMakeLists registers this program several times with a
 * different APHELION_LOG each; APH_TEST_EXPECT_LEVEL names the level it must produce, and
 * APH_TEST_EXPECT_REJECTED=1 says the value is not a level, so the library must have reported
 * it, once, at warn level. The capture sink is installed before the first call that reads the
 * level (aph_log_set_callback does not read it), so that report is seen. */
#define _DEFAULT_SOURCE /* setenv */
#include "test_util.h"

#define REJECTED_MESSAGE "ignoring APHELION_LOG=verbose: expected one of trace, debug, info, warn, error"

static aph_capture g_cap;

static aph_log_level expected_level(void) {
    const char* want = getenv("APH_TEST_EXPECT_LEVEL");
    if (want == NULL) {
        print_error("APH_TEST_EXPECT_LEVEL is not set\n");
        fail();
    }
    static const aph_log_level all[] = {APH_LOG_ERROR, APH_LOG_WARN, APH_LOG_INFO, APH_LOG_DEBUG, APH_LOG_TRACE};
    for (size_t i = 0; i < 5; ++i) {
        if (strcmp(want, aph_log_level_name(all[i])) == 0) return all[i];
    }
    print_error("APH_TEST_EXPECT_LEVEL=%s is not a level name\n", want);
    fail();
    return APH_LOG_WARN; /* not reached */
}

static int expect_rejected(void) {
    const char* r = getenv("APH_TEST_EXPECT_REJECTED");
    return r != NULL && strcmp(r, "1") == 0;
}

/* Must run first: the first read of the level happens here. */
static void test_initial_level_from_env(void** state) {
    (void)state;
    const aph_log_level want = expected_level(); /* aph_log_level_name reads no level */
    aph_capture_start(&g_cap);                   /* reads no level either */

    const aph_log_level got = aph_log_get_level(); /* the first use: APHELION_LOG is read now */
    if (got != want) {
        const char* env = getenv("APHELION_LOG");
        print_error("APHELION_LOG=%s: level %s, expected %s\n", env ? env : "(unset)", aph_log_level_name(got),
                    aph_log_level_name(want));
    }
    assert_int_equal(got, want);

    if (expect_rejected()) {
        assert_int_equal(g_cap.count, 1);
        assert_int_equal(g_cap.levels[0], APH_LOG_WARN);
        assert_string_equal(g_cap.targets[0], "aphelion::log");
        assert_string_equal(g_cap.messages[0], REJECTED_MESSAGE);
    } else {
        assert_int_equal(g_cap.count, 0);
    }
}

/* Read once: later uses neither re-read the variable nor report it again. */
static void test_read_once(void** state) {
    (void)state;
    const aph_log_level want = expected_level();
    const int reports = expect_rejected() ? 1 : 0;

    assert_int_equal(aph_log_get_level(), want);
    assert_int_equal(aph_capture_find(&g_cap, APH_LOG_WARN, "ignoring APHELION_LOG"), reports);

    /* Changing the variable now has no effect. */
    assert_int_equal(setenv("APHELION_LOG", want == APH_LOG_TRACE ? "error" : "trace", 1), 0);
    assert_int_equal(aph_log_get_level(), want);
    APH_ASSERT_OK(aph_log_write(APH_LOG_ERROR, "test", "after setenv"));
    assert_int_equal(aph_log_get_level(), want);

    /* An explicit level wins over the environment, and stays. */
    const aph_log_level other = want == APH_LOG_ERROR ? APH_LOG_INFO : APH_LOG_ERROR;
    APH_ASSERT_OK(aph_log_set_level(other));
    assert_int_equal(aph_log_get_level(), other);
    APH_ASSERT_OK(aph_log_write(APH_LOG_ERROR, "test", "after set_level"));
    assert_int_equal(aph_log_get_level(), other);

    assert_int_equal(aph_capture_find(&g_cap, APH_LOG_WARN, "ignoring APHELION_LOG"), reports);
    assert_int_equal(aph_capture_find(&g_cap, -1, "ignoring APHELION_LOG"), reports);
    aph_capture_stop(&g_cap);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initial_level_from_env),
        cmocka_unit_test(test_read_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
