/* Device configuration: defaults, setters and getters, NULL handling, and the environment
 * priority matrix of docs/compat.md section 2 (force-CPU and CUDA-ordinal variables). */
#include "test_util.h"

static const char* const kForce[4] = {"APHELION_FORCE_CPU", "RUST_AI_FORCE_CPU", "AXOLOTL_FORCE_CPU",
                                      "VSA_OPTIM_FORCE_CPU"};
static const char* const kDevice[4] = {"APHELION_CUDA_DEVICE", "RUST_AI_CUDA_DEVICE", "AXOLOTL_CUDA_DEVICE",
                                       "VSA_OPTIM_CUDA_DEVICE"};

static void clear_env(void) {
    for (int i = 0; i < 4; ++i) {
        unsetenv(kForce[i]);
        unsetenv(kDevice[i]);
    }
}

static void defaults(void** state) {
    (void)state;
    clear_env();
    setenv("APHELION_FORCE_CPU", "1", 1);
    setenv("APHELION_CUDA_DEVICE", "5", 1);
    aph_device_config* c = NULL;
    APH_ASSERT_OK(aph_device_config_create(&c)); /* reads no environment */
    assert_non_null(c);
    assert_int_equal(aph_device_config_cuda_device(c), 0);
    assert_int_equal(aph_device_config_force_cpu(c), 0);
    assert_string_equal(aph_device_config_component(c), "aphelion");
    aph_device_config_release(c);
    clear_env();
}

static void setters(void** state) {
    (void)state;
    aph_device_config* c = NULL;
    APH_ASSERT_OK(aph_device_config_create(&c));
    APH_ASSERT_OK(aph_device_config_set_cuda_device(c, 3));
    assert_int_equal(aph_device_config_cuda_device(c), 3);
    APH_ASSERT_OK(aph_device_config_set_force_cpu(c, 7)); /* any non-zero is 1 */
    assert_int_equal(aph_device_config_force_cpu(c), 1);
    APH_ASSERT_OK(aph_device_config_set_force_cpu(c, 0));
    assert_int_equal(aph_device_config_force_cpu(c), 0);
    char name[32] = "my-crate";
    APH_ASSERT_OK(aph_device_config_set_component(c, name));
    name[0] = 'X'; /* the config keeps its own copy */
    assert_string_equal(aph_device_config_component(c), "my-crate");

    APH_ASSERT_ERR(aph_device_config_set_cuda_device(c, -1), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: ordinal must be >= 0, got -1");
    assert_int_equal(aph_device_config_cuda_device(c), 3); /* unchanged */
    APH_ASSERT_ERR(aph_device_config_set_component(c, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: name must not be NULL");
    APH_ASSERT_ERR(aph_device_config_set_component(c, ""), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: name must not be empty");
    assert_string_equal(aph_device_config_component(c), "my-crate");
    aph_device_config_release(c);
}

static void null_arguments(void** state) {
    (void)state;
    const char* msg_config = "invalid argument: config must not be NULL";
    APH_ASSERT_ERR(aph_device_config_create(NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_device_config_from_env(NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_device_config_set_cuda_device(NULL, 0), APH_ERR_INVALID_ARGUMENT, msg_config);
    APH_ASSERT_ERR(aph_device_config_set_force_cpu(NULL, 1), APH_ERR_INVALID_ARGUMENT, msg_config);
    APH_ASSERT_ERR(aph_device_config_set_component(NULL, "x"), APH_ERR_INVALID_ARGUMENT, msg_config);
    assert_int_equal(aph_device_config_cuda_device(NULL), -1);
    assert_int_equal(aph_device_config_force_cpu(NULL), 0);
    assert_string_equal(aph_device_config_component(NULL), "");
    aph_device_config_release(NULL); /* no-op */
}

/* One row of the matrix: values for the four force-CPU and four ordinal variables
 * (NULL: unset), and what aph_device_config_from_env must make of them. */
typedef struct env_case {
    const char* force[4];
    const char* device[4];
    int expect_force;
    int32_t expect_device;
} env_case;

static const env_case kCases[] = {
    {{NULL, NULL, NULL, NULL}, {NULL, NULL, NULL, NULL}, 0, 0},
    /* truthy values: exactly "1" or "true" in any case */
    {{"1", NULL, NULL, NULL}, {NULL, NULL, NULL, NULL}, 1, 0},
    {{"true", NULL, NULL, NULL}, {NULL, NULL, NULL, NULL}, 1, 0},
    {{"TRUE", NULL, NULL, NULL}, {NULL, NULL, NULL, NULL}, 1, 0},
    {{"tRuE", NULL, NULL, NULL}, {NULL, NULL, NULL, NULL}, 1, 0},
    /* anything else does not force (and is not read as false either) */
    {{"0", NULL, NULL, NULL}, {NULL, NULL, NULL, NULL}, 0, 0},
    {{"false", NULL, NULL, NULL}, {NULL, NULL, NULL, NULL}, 0, 0},
    {{"yes", NULL, NULL, NULL}, {NULL, NULL, NULL, NULL}, 0, 0},
    {{"", NULL, NULL, NULL}, {NULL, NULL, NULL, NULL}, 0, 0},
    {{" 1", NULL, NULL, NULL}, {NULL, NULL, NULL, NULL}, 0, 0},
    {{"11", NULL, NULL, NULL}, {NULL, NULL, NULL, NULL}, 0, 0},
    /* each legacy name works alone */
    {{NULL, "1", NULL, NULL}, {NULL, NULL, NULL, NULL}, 1, 0},
    {{NULL, NULL, "true", NULL}, {NULL, NULL, NULL, NULL}, 1, 0},
    {{NULL, NULL, NULL, "1"}, {NULL, NULL, NULL, NULL}, 1, 0},
    /* a skipped value does not stop the search */
    {{NULL, "0", "1", NULL}, {NULL, NULL, NULL, NULL}, 1, 0},
    {{"no", "false", "off", "TRUE"}, {NULL, NULL, NULL, NULL}, 1, 0},
    {{"0", "0", "0", "0"}, {NULL, NULL, NULL, NULL}, 0, 0},
    /* ordinals: first parsable wins */
    {{NULL, NULL, NULL, NULL}, {"2", NULL, NULL, NULL}, 0, 2},
    {{NULL, NULL, NULL, NULL}, {"1", "3", NULL, NULL}, 0, 1},
    {{NULL, NULL, NULL, NULL}, {"abc", "3", NULL, NULL}, 0, 3},
    {{NULL, NULL, NULL, NULL}, {"-1", "", "x7", "6"}, 0, 6},
    {{NULL, NULL, NULL, NULL}, {NULL, NULL, "4", "5"}, 0, 4},
    {{NULL, NULL, NULL, NULL}, {NULL, NULL, NULL, "7"}, 0, 7},
    {{NULL, NULL, NULL, NULL}, {"+4", NULL, NULL, NULL}, 0, 4},
    {{NULL, NULL, NULL, NULL}, {" 5", "5 ", "0x1", "1.0"}, 0, 0},
    {{NULL, NULL, NULL, NULL}, {"2147483648", "2147483647", NULL, NULL}, 0, 2147483647},
    {{NULL, NULL, NULL, NULL}, {"99999999999999999999", "0", NULL, NULL}, 0, 0},
    {{NULL, NULL, NULL, NULL}, {"+", "-0", "08", NULL}, 0, 8},
    /* both at once */
    {{NULL, NULL, "1", NULL}, {NULL, "2", NULL, NULL}, 1, 2},
};

static void env_matrix(void** state) {
    (void)state;
    for (size_t k = 0; k < sizeof kCases / sizeof kCases[0]; ++k) {
        const env_case* c = &kCases[k];
        clear_env();
        for (int i = 0; i < 4; ++i) {
            if (c->force[i]) setenv(kForce[i], c->force[i], 1);
            if (c->device[i]) setenv(kDevice[i], c->device[i], 1);
        }
        aph_device_config* cfg = NULL;
        APH_ASSERT_OK(aph_device_config_from_env(&cfg));
        if (aph_device_config_force_cpu(cfg) != c->expect_force ||
            aph_device_config_cuda_device(cfg) != c->expect_device) {
            print_error("case %zu: force_cpu=%d cuda_device=%d, expected %d and %d\n", k,
                        aph_device_config_force_cpu(cfg), aph_device_config_cuda_device(cfg), c->expect_force,
                        c->expect_device);
            fail();
        }
        assert_string_equal(aph_device_config_component(cfg), "aphelion");
        aph_device_config_release(cfg);
    }
    clear_env();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(setters),
        cmocka_unit_test(null_arguments),
        cmocka_unit_test(env_matrix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
