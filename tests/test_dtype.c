/* test_dtype.c — section 4 of aphelion.h: the fixed dtype values, sizes, the classification
 * predicates and accumulator of every dtype and of values outside the enum, canonical names and
 * the parser (every alias, exact rejection message, NULL arguments, out untouched on failure,
 * fresh random garbage names), and the precision modes. */
#include "test_util.h"

#include <time.h>

#define N_DTYPES 13

/* The header's table, one row per dtype in enum order. */
typedef struct {
    aph_dtype dtype;
    int value;
    const char* name;
    size_t size;
    int floating, half, training, integer;
    aph_dtype accumulator;
} dtype_row;

static const dtype_row k_rows[N_DTYPES] = {
    /* dtype            val  name      size  fp half train int  accumulator */
    {APH_DTYPE_F32, 0, "f32", 4, 1, 0, 1, 0, APH_DTYPE_F32},
    {APH_DTYPE_F16, 1, "f16", 2, 1, 1, 1, 0, APH_DTYPE_F32},
    {APH_DTYPE_BF16, 2, "bf16", 2, 1, 1, 1, 0, APH_DTYPE_F32},
    {APH_DTYPE_F64, 3, "f64", 8, 1, 0, 0, 0, APH_DTYPE_F64},
    {APH_DTYPE_U8, 4, "u8", 1, 0, 0, 0, 1, APH_DTYPE_I64},
    {APH_DTYPE_U32, 5, "u32", 4, 0, 0, 0, 1, APH_DTYPE_I64},
    {APH_DTYPE_I8, 6, "i8", 1, 0, 0, 0, 1, APH_DTYPE_I64},
    {APH_DTYPE_I16, 7, "i16", 2, 0, 0, 0, 1, APH_DTYPE_I64},
    {APH_DTYPE_I32, 8, "i32", 4, 0, 0, 0, 1, APH_DTYPE_I64},
    {APH_DTYPE_I64, 9, "i64", 8, 0, 0, 0, 1, APH_DTYPE_I64},
    {APH_DTYPE_BOOL, 10, "bool", 1, 0, 0, 0, 0, APH_DTYPE_I64},
    {APH_DTYPE_F8E4M3, 11, "f8e4m3", 1, 1, 0, 0, 0, APH_DTYPE_F32},
    {APH_DTYPE_F8E5M2, 12, "f8e5m2", 1, 1, 0, 0, 0, APH_DTYPE_F32},
};

/* Values outside the enum (APH_DTYPE_INVALID included: it is never a valid argument). */
static const int k_invalid[] = {-1, -2, 13, 14, 999, -1000, 0x7fffffff, (int)0x80000000u};
#define N_INVALID (sizeof k_invalid / sizeof k_invalid[0])

/* A value no call is allowed to write, to check out parameters are left alone. */
#define SENTINEL ((aph_dtype)77)

static void test_dtype_values_are_fixed(void** state) {
    (void)state;
    assert_int_equal(APH_DTYPE_INVALID, -1);
    for (int i = 0; i < N_DTYPES; ++i) {
        assert_int_equal(k_rows[i].dtype, k_rows[i].value);
        assert_int_equal(k_rows[i].dtype, i);
    }
}

static void test_dtype_sizes(void** state) {
    (void)state;
    for (int i = 0; i < N_DTYPES; ++i) {
        if (aph_dtype_size(k_rows[i].dtype) != k_rows[i].size) {
            print_error("size of %s\n", k_rows[i].name);
        }
        assert_int_equal(aph_dtype_size(k_rows[i].dtype), k_rows[i].size);
    }
    for (size_t i = 0; i < N_INVALID; ++i) {
        assert_int_equal(aph_dtype_size((aph_dtype)k_invalid[i]), 0);
    }
}

static void test_dtype_predicates(void** state) {
    (void)state;
    for (int i = 0; i < N_DTYPES; ++i) {
        const dtype_row* r = &k_rows[i];
        if (aph_dtype_is_floating_point(r->dtype) != r->floating || aph_dtype_is_half_precision(r->dtype) != r->half ||
            aph_dtype_is_training(r->dtype) != r->training || aph_dtype_is_integer(r->dtype) != r->integer) {
            print_error("wrong classification of %s\n", r->name);
        }
        assert_int_equal(aph_dtype_is_floating_point(r->dtype), r->floating);
        assert_int_equal(aph_dtype_is_half_precision(r->dtype), r->half);
        assert_int_equal(aph_dtype_is_training(r->dtype), r->training);
        assert_int_equal(aph_dtype_is_integer(r->dtype), r->integer);
    }
    for (size_t i = 0; i < N_INVALID; ++i) {
        const aph_dtype d = (aph_dtype)k_invalid[i];
        assert_int_equal(aph_dtype_is_floating_point(d), 0);
        assert_int_equal(aph_dtype_is_half_precision(d), 0);
        assert_int_equal(aph_dtype_is_training(d), 0);
        assert_int_equal(aph_dtype_is_integer(d), 0);
    }
}

static void test_dtype_accumulator(void** state) {
    (void)state;
    for (int i = 0; i < N_DTYPES; ++i) {
        assert_int_equal(aph_dtype_accumulator(k_rows[i].dtype), k_rows[i].accumulator);
    }
    for (size_t i = 0; i < N_INVALID; ++i) {
        assert_int_equal(aph_dtype_accumulator((aph_dtype)k_invalid[i]), APH_DTYPE_INVALID);
    }
}

static void test_dtype_names(void** state) {
    (void)state;
    for (int i = 0; i < N_DTYPES; ++i) {
        const char* name = aph_dtype_name(k_rows[i].dtype);
        assert_non_null(name);
        assert_string_equal(name, k_rows[i].name);
        /* Static storage: the same pointer every time. */
        assert_ptr_equal(aph_dtype_name(k_rows[i].dtype), name);
    }
    for (size_t i = 0; i < N_INVALID; ++i) {
        const char* name = aph_dtype_name((aph_dtype)k_invalid[i]);
        assert_non_null(name);
        assert_string_equal(name, "invalid");
    }
}

static void test_from_name_canonical_round_trip(void** state) {
    (void)state;
    for (int i = 0; i < N_DTYPES; ++i) {
        aph_dtype d = SENTINEL;
        APH_ASSERT_OK(aph_dtype_from_name(aph_dtype_name(k_rows[i].dtype), &d));
        assert_int_equal(d, k_rows[i].dtype);
        /* From a copy too: the parser must compare contents, not pointers. */
        char copy[32];
        snprintf(copy, sizeof copy, "%s", k_rows[i].name);
        d = SENTINEL;
        APH_ASSERT_OK(aph_dtype_from_name(copy, &d));
        assert_int_equal(d, k_rows[i].dtype);
    }
}

static const struct {
    const char* alias;
    aph_dtype dtype;
} k_aliases[] = {
    {"float16", APH_DTYPE_F16},        {"bfloat16", APH_DTYPE_BF16}, {"float32", APH_DTYPE_F32},
    {"float", APH_DTYPE_F32},          {"float64", APH_DTYPE_F64},   {"double", APH_DTYPE_F64},
    {"uint8", APH_DTYPE_U8},           {"uint32", APH_DTYPE_U32},    {"int16", APH_DTYPE_I16},
    {"int32", APH_DTYPE_I32},          {"int", APH_DTYPE_I32},       {"int64", APH_DTYPE_I64},
    {"long", APH_DTYPE_I64},           {"int8", APH_DTYPE_I8},       {"float8_e4m3fn", APH_DTYPE_F8E4M3},
    {"float8_e5m2", APH_DTYPE_F8E5M2},
};
#define N_ALIASES (sizeof k_aliases / sizeof k_aliases[0])

static void test_from_name_aliases(void** state) {
    (void)state;
    for (size_t i = 0; i < N_ALIASES; ++i) {
        aph_dtype d = SENTINEL;
        if (aph_dtype_from_name(k_aliases[i].alias, &d) != APH_OK) {
            print_error("alias '%s' rejected: %s\n", k_aliases[i].alias, aph_last_error());
            fail();
        }
        assert_int_equal(d, k_aliases[i].dtype);
    }
}

/* Asserts that name is rejected with exactly "Unknown dtype: {name}" and out is untouched. */
static void assert_rejected(const char* name) {
    aph_dtype d = SENTINEL;
    char expected[1100];
    snprintf(expected, sizeof expected, "Unknown dtype: %s", name);
    APH_ASSERT_ERR(aph_dtype_from_name(name, &d), APH_ERR_INVALID_ARGUMENT, expected);
    assert_int_equal(d, SENTINEL);
}

static void test_from_name_rejects_unknown(void** state) {
    (void)state;
    static const char* bad[] = {
        "", /* empty */
        /* Case variants: the parser is case-sensitive, as rust-ai-core's. */
        "F32",
        "F16",
        "BF16",
        "Bf16",
        "Float",
        "FLOAT32",
        "Double",
        "INT",
        "Long",
        "Bool",
        "F8E4M3",
        "Float8_e4m3fn",
        /* Near misses. */
        " f32",
        "f32 ",
        "f32\n",
        "f 32",
        "f3",
        "f322",
        "fp32",
        "fp16",
        "half",
        "bfloat",
        "float8_e4m3",
        "float8_e5m2fn",
        "f8",
        "e4m3",
        "uint16",
        "u16",
        "u64",
        "uint64",
        "int128",
        "complex64",
        "boolean",
        "char",
        "invalid",
        "f32\t",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) assert_rejected(bad[i]);

    /* A long name comes back whole in the message. */
    char longname[1000];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_rejected(longname);
}

/* The dtype an accepted spelling stands for, or APH_DTYPE_INVALID. */
static aph_dtype expected_parse(const char* s) {
    for (int i = 0; i < N_DTYPES; ++i) {
        if (strcmp(s, k_rows[i].name) == 0) return k_rows[i].dtype;
    }
    for (size_t i = 0; i < N_ALIASES; ++i) {
        if (strcmp(s, k_aliases[i].alias) == 0) return k_aliases[i].dtype;
    }
    return APH_DTYPE_INVALID;
}

static void test_from_name_random_garbage(void** state) {
    (void)state;
    uint64_t seed = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)clock();
    if (seed == 0) seed = 1;
    const uint64_t seed0 = seed;
    /* Characters the real names use, so some draws come close to them. */
    static const char alphabet[] = "fbuiltnoade0123456784_FIB";
    int rejected = 0;
    for (int iter = 0; iter < 2000; ++iter) {
        char name[16];
        const int len = 1 + (int)(aph_test_rand(&seed) % 8);
        for (int k = 0; k < len; ++k) {
            name[k] = alphabet[aph_test_rand(&seed) % (sizeof alphabet - 1)];
        }
        name[len] = '\0';
        aph_dtype d = SENTINEL;
        const aph_status st = aph_dtype_from_name(name, &d);
        const aph_dtype want = expected_parse(name);
        if (want != APH_DTYPE_INVALID) {
            if (st != APH_OK) print_error("seed %llu: '%s'\n", (unsigned long long)seed0, name);
            assert_int_equal(st, APH_OK);
            assert_int_equal(d, want);
        } else {
            char expected[64];
            snprintf(expected, sizeof expected, "Unknown dtype: %s", name);
            if (st != APH_ERR_INVALID_ARGUMENT || strcmp(aph_last_error(), expected) != 0 || d != SENTINEL) {
                print_error("seed %llu: '%s' gave %s '%s'\n", (unsigned long long)seed0, name, aph_status_name(st),
                            aph_last_error());
                fail();
            }
            ++rejected;
        }
    }
    assert_true(rejected > 0);
}

static void test_from_name_null_arguments(void** state) {
    (void)state;
    aph_dtype d = SENTINEL;
    APH_ASSERT_ERR(aph_dtype_from_name(NULL, &d), APH_ERR_INVALID_ARGUMENT, "invalid argument: name must not be NULL");
    assert_int_equal(d, SENTINEL);
    APH_ASSERT_ERR(aph_dtype_from_name("f32", NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    /* An unknown name with a NULL out: out is the problem reported. */
    APH_ASSERT_ERR(aph_dtype_from_name("nope", NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    /* Both NULL: the first argument is reported. */
    APH_ASSERT_ERR(aph_dtype_from_name(NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: name must not be NULL");
}

static void test_precision_modes(void** state) {
    (void)state;
    assert_int_equal(APH_PRECISION_FULL, 0);
    assert_int_equal(APH_PRECISION_BF16, 1);
    assert_int_equal(APH_PRECISION_FP16, 2);

    assert_int_equal(aph_precision_compute_dtype(APH_PRECISION_FULL), APH_DTYPE_F32);
    assert_int_equal(aph_precision_compute_dtype(APH_PRECISION_BF16), APH_DTYPE_BF16);
    assert_int_equal(aph_precision_compute_dtype(APH_PRECISION_FP16), APH_DTYPE_F16);

    assert_int_equal(aph_precision_master_weight_dtype(APH_PRECISION_FULL), APH_DTYPE_F32);
    assert_int_equal(aph_precision_master_weight_dtype(APH_PRECISION_BF16), APH_DTYPE_F32);
    assert_int_equal(aph_precision_master_weight_dtype(APH_PRECISION_FP16), APH_DTYPE_F32);

    assert_int_equal(aph_precision_requires_loss_scaling(APH_PRECISION_FULL), 0);
    assert_int_equal(aph_precision_requires_loss_scaling(APH_PRECISION_BF16), 0);
    assert_int_equal(aph_precision_requires_loss_scaling(APH_PRECISION_FP16), 1);

    const int bad[] = {-1, 3, 4, 100, -100, 0x7fffffff};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        const aph_precision_mode m = (aph_precision_mode)bad[i];
        assert_int_equal(aph_precision_compute_dtype(m), APH_DTYPE_INVALID);
        assert_int_equal(aph_precision_master_weight_dtype(m), APH_DTYPE_INVALID);
        assert_int_equal(aph_precision_requires_loss_scaling(m), 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_values_are_fixed),
        cmocka_unit_test(test_dtype_sizes),
        cmocka_unit_test(test_dtype_predicates),
        cmocka_unit_test(test_dtype_accumulator),
        cmocka_unit_test(test_dtype_names),
        cmocka_unit_test(test_from_name_canonical_round_trip),
        cmocka_unit_test(test_from_name_aliases),
        cmocka_unit_test(test_from_name_rejects_unknown),
        cmocka_unit_test(test_from_name_random_garbage),
        cmocka_unit_test(test_from_name_null_arguments),
        cmocka_unit_test(test_precision_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
