/* test_graph_config.c — section 16 of aphelion.h: model configurations (create, presets, JSON in
 * and out byte-exact with serde_json, typed getters and setters with their exact errors, keys in
 * bytewise order, failed calls changing nothing, NULL handles) and the validators (each message,
 * Unicode alphanumerics, Rust's u32 parsing of version parts, the composite list). Float text is
 * checked against a table computed outside libaphelion (tests/data/graphs/make_vectors.py). */
#include "test_util.h"

#include <math.h>

static aph_model_config* make(const char* name, const char* version) {
    aph_model_config* c = NULL;
    APH_ASSERT_OK(aph_model_config_create(name, version, &c));
    assert_non_null(c);
    return c;
}

/* Asserts config's compact JSON. */
static void assert_json(const aph_model_config* c, const char* expected) {
    char* s = NULL;
    APH_ASSERT_OK(aph_model_config_to_json(c, &s));
    assert_string_equal(s, expected);
    aph_string_free(s);
}

/* Asserts the compact JSON of parameter key. */
static void assert_param_json(const aph_model_config* c, const char* key, const char* expected) {
    char* s = NULL;
    APH_ASSERT_OK(aph_model_config_get_json(c, key, &s));
    assert_string_equal(s, expected);
    aph_string_free(s);
}

static void test_create_and_accessors(void** state) {
    (void)state;
    aph_model_config* c = make("transformer", "1.0.0");
    assert_string_equal(aph_model_config_name(c), "transformer");
    assert_string_equal(aph_model_config_version(c), "1.0.0");
    assert_int_equal(aph_model_config_param_count(c), 0);
    assert_null(aph_model_config_param_key(c, 0));
    assert_int_equal(aph_model_config_has_param(c, "x"), 0);
    assert_json(c, "{\"name\":\"transformer\",\"version\":\"1.0.0\",\"params\":{}}");
    aph_model_config_release(c);

    /* Any bytes are accepted as name and version (validation is separate). */
    c = make("", "not a version");
    assert_string_equal(aph_model_config_name(c), "");
    assert_json(c, "{\"name\":\"\",\"version\":\"not a version\",\"params\":{}}");
    aph_model_config_release(c);

    /* NULL handles. */
    assert_string_equal(aph_model_config_name(NULL), "");
    assert_string_equal(aph_model_config_version(NULL), "");
    assert_int_equal(aph_model_config_param_count(NULL), 0);
    assert_null(aph_model_config_param_key(NULL, 0));
    assert_int_equal(aph_model_config_has_param(NULL, "x"), 0);
    aph_model_config_release(NULL);

    aph_model_config* out = (aph_model_config*)0x1;
    APH_ASSERT_ERR(aph_model_config_create(NULL, "1", &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: name must not be NULL");
    APH_ASSERT_ERR(aph_model_config_create("n", NULL, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: version must not be NULL");
    assert_ptr_equal(out, (aph_model_config*)0x1);
    APH_ASSERT_ERR(aph_model_config_create("n", "1", NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
}

static void test_setters_getters(void** state) {
    (void)state;
    aph_model_config* c = make("m", "1.0.0");
    APH_ASSERT_OK(aph_model_config_set_int(c, "layers", 12));
    APH_ASSERT_OK(aph_model_config_set_int(c, "neg", INT64_MIN));
    APH_ASSERT_OK(aph_model_config_set_float(c, "lr", 0.001));
    APH_ASSERT_OK(aph_model_config_set_float(c, "whole", 2.0));
    APH_ASSERT_OK(aph_model_config_set_bool(c, "tie", 1));
    APH_ASSERT_OK(aph_model_config_set_bool(c, "off", 0));
    APH_ASSERT_OK(aph_model_config_set_string(c, "act", "gelu"));
    APH_ASSERT_OK(aph_model_config_set_json(c, "shape", " [1, 2.0, {\"b\": null, \"a\": \"x\"}] "));

    int64_t i = 0;
    double d = 0;
    int b = -1;
    const char* s = NULL;
    APH_ASSERT_OK(aph_model_config_get_int(c, "layers", &i));
    assert_int_equal(i, 12);
    APH_ASSERT_OK(aph_model_config_get_int(c, "neg", &i));
    assert_true(i == INT64_MIN);
    APH_ASSERT_OK(aph_model_config_get_float(c, "lr", &d));
    assert_true(d == 0.001);
    APH_ASSERT_OK(aph_model_config_get_float(c, "layers", &d)); /* integers read as floats */
    assert_true(d == 12.0);
    APH_ASSERT_OK(aph_model_config_get_bool(c, "tie", &b));
    assert_int_equal(b, 1);
    APH_ASSERT_OK(aph_model_config_get_bool(c, "off", &b));
    assert_int_equal(b, 0);
    APH_ASSERT_OK(aph_model_config_get_string(c, "act", &s));
    assert_string_equal(s, "gelu");
    assert_param_json(c, "shape", "[1,2.0,{\"a\":\"x\",\"b\":null}]");
    assert_param_json(c, "whole", "2.0");
    assert_param_json(c, "neg", "-9223372036854775808");

    /* Keys in bytewise order. */
    assert_int_equal(aph_model_config_param_count(c), 8);
    const char* keys[] = {"act", "layers", "lr", "neg", "off", "shape", "tie", "whole"};
    for (size_t k = 0; k < 8; ++k) assert_string_equal(aph_model_config_param_key(c, k), keys[k]);
    assert_null(aph_model_config_param_key(c, 8));
    assert_int_equal(aph_model_config_has_param(c, "lr"), 1);
    assert_int_equal(aph_model_config_has_param(c, "LR"), 0);
    assert_int_equal(aph_model_config_has_param(c, NULL), 0);
    assert_json(c, "{\"name\":\"m\",\"version\":\"1.0.0\",\"params\":{\"act\":\"gelu\",\"layers\":12,"
                   "\"lr\":0.001,\"neg\":-9223372036854775808,\"off\":false,"
                   "\"shape\":[1,2.0,{\"a\":\"x\",\"b\":null}],\"tie\":true,\"whole\":2.0}}");

    /* Replacing changes the type. */
    APH_ASSERT_OK(aph_model_config_set_string(c, "layers", "many"));
    APH_ASSERT_OK(aph_model_config_get_string(c, "layers", &s));
    assert_string_equal(s, "many");
    assert_int_equal(aph_model_config_param_count(c), 8);

    /* Remove. */
    APH_ASSERT_OK(aph_model_config_remove(c, "layers"));
    assert_int_equal(aph_model_config_has_param(c, "layers"), 0);
    assert_int_equal(aph_model_config_param_count(c), 7);
    APH_ASSERT_ERR(aph_model_config_remove(c, "layers"), APH_ERR_INVALID_CONFIG,
                   "invalid configuration: missing parameter 'layers'");
    assert_int_equal(aph_model_config_param_count(c), 7);
    aph_model_config_release(c);
}

static void test_getter_errors(void** state) {
    (void)state;
    aph_model_config* c = make("m", "1.0.0");
    APH_ASSERT_OK(aph_model_config_set_json(c, "big", "18446744073709551615"));
    APH_ASSERT_OK(aph_model_config_set_json(c, "max", "9223372036854775807"));
    APH_ASSERT_OK(aph_model_config_set_float(c, "two", 2.0));
    APH_ASSERT_OK(aph_model_config_set_string(c, "lr", "fast"));
    APH_ASSERT_OK(aph_model_config_set_json(c, "nil", "null"));
    APH_ASSERT_OK(aph_model_config_set_json(c, "arr", "[]"));
    APH_ASSERT_OK(aph_model_config_set_json(c, "obj", "{}"));
    APH_ASSERT_OK(aph_model_config_set_bool(c, "flag", 1));
    APH_ASSERT_OK(aph_model_config_set_int(c, "n", 3));

    int64_t i = 77;
    double d = 7.5;
    int b = 5;
    const char* s = "untouched";
    char* js = (char*)"untouched";
    APH_ASSERT_ERR(aph_model_config_get_int(c, "missing", &i), APH_ERR_INVALID_CONFIG,
                   "invalid configuration: missing parameter 'missing'");
    APH_ASSERT_ERR(aph_model_config_get_float(c, "missing", &d), APH_ERR_INVALID_CONFIG,
                   "invalid configuration: missing parameter 'missing'");
    APH_ASSERT_ERR(aph_model_config_get_bool(c, "missing", &b), APH_ERR_INVALID_CONFIG,
                   "invalid configuration: missing parameter 'missing'");
    APH_ASSERT_ERR(aph_model_config_get_string(c, "missing", &s), APH_ERR_INVALID_CONFIG,
                   "invalid configuration: missing parameter 'missing'");
    APH_ASSERT_ERR(aph_model_config_get_json(c, "missing", &js), APH_ERR_INVALID_CONFIG,
                   "invalid configuration: missing parameter 'missing'");
    APH_ASSERT_ERR(aph_model_config_get_float(c, "lr", &d), APH_ERR_INVALID_CONFIG,
                   "invalid configuration: parameter 'lr' is a string, expected a number");
    APH_ASSERT_ERR(aph_model_config_get_int(c, "two", &i), APH_ERR_INVALID_CONFIG,
                   "invalid configuration: parameter 'two' is a number, expected an integer");
    APH_ASSERT_ERR(aph_model_config_get_int(c, "big", &i), APH_ERR_INVALID_CONFIG,
                   "invalid configuration: parameter 'big' is an integer out of the int64 range");
    APH_ASSERT_ERR(aph_model_config_get_int(c, "nil", &i), APH_ERR_INVALID_CONFIG,
                   "invalid configuration: parameter 'nil' is null, expected an integer");
    APH_ASSERT_ERR(aph_model_config_get_bool(c, "n", &b), APH_ERR_INVALID_CONFIG,
                   "invalid configuration: parameter 'n' is an integer, expected a bool");
    APH_ASSERT_ERR(aph_model_config_get_string(c, "arr", &s), APH_ERR_INVALID_CONFIG,
                   "invalid configuration: parameter 'arr' is an array, expected a string");
    APH_ASSERT_ERR(aph_model_config_get_float(c, "obj", &d), APH_ERR_INVALID_CONFIG,
                   "invalid configuration: parameter 'obj' is an object, expected a number");
    APH_ASSERT_ERR(aph_model_config_get_int(c, "flag", &i), APH_ERR_INVALID_CONFIG,
                   "invalid configuration: parameter 'flag' is a bool, expected an integer");
    /* Outputs untouched on failure. */
    assert_int_equal(i, 77);
    assert_true(d == 7.5);
    assert_int_equal(b, 5);
    assert_string_equal(s, "untouched");
    assert_string_equal(js, "untouched");

    /* The largest int64 and the big unsigned value as floats. */
    APH_ASSERT_OK(aph_model_config_get_int(c, "max", &i));
    assert_true(i == INT64_MAX);
    APH_ASSERT_OK(aph_model_config_get_float(c, "big", &d));
    assert_true(d == 18446744073709551615.0);
    assert_param_json(c, "big", "18446744073709551615");

    /* NULL arguments. */
    APH_ASSERT_ERR(aph_model_config_get_int(NULL, "n", &i), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: config must not be NULL");
    APH_ASSERT_ERR(aph_model_config_get_int(c, NULL, &i), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: key must not be NULL");
    APH_ASSERT_ERR(aph_model_config_get_int(c, "n", NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_model_config_get_json(c, "n", NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_model_config_to_json(NULL, &js), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: config must not be NULL");
    aph_model_config_release(c);
}

static void test_setter_errors(void** state) {
    (void)state;
    aph_model_config* c = make("m", "1.0.0");
    APH_ASSERT_OK(aph_model_config_set_float(c, "lr", 0.5));
    APH_ASSERT_ERR(aph_model_config_set_float(c, "lr", NAN), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: value for parameter 'lr' is not finite (JSON has no NaN or infinity)");
    APH_ASSERT_ERR(aph_model_config_set_float(c, "lr", INFINITY), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: value for parameter 'lr' is not finite (JSON has no NaN or infinity)");
    APH_ASSERT_ERR(aph_model_config_set_float(c, "x", -INFINITY), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: value for parameter 'x' is not finite (JSON has no NaN or infinity)");
    /* A boolean argument: any non-zero value is true, and the getter gives exactly 1. */
    APH_ASSERT_OK(aph_model_config_set_bool(c, "flag", 2));
    int flag = -5;
    APH_ASSERT_OK(aph_model_config_get_bool(c, "flag", &flag));
    assert_int_equal(flag, 1);
    APH_ASSERT_OK(aph_model_config_set_bool(c, "flag", -1));
    flag = -5;
    APH_ASSERT_OK(aph_model_config_get_bool(c, "flag", &flag));
    assert_int_equal(flag, 1);
    APH_ASSERT_OK(aph_model_config_set_bool(c, "flag", 0));
    APH_ASSERT_OK(aph_model_config_get_bool(c, "flag", &flag));
    assert_int_equal(flag, 0);
    APH_ASSERT_OK(aph_model_config_remove(c, "flag"));
    APH_ASSERT_ERR_CONTAINS(aph_model_config_set_json(c, "lr", "{\"a\":"), APH_ERR_SERIALIZATION,
                            "serialization error: parameter 'lr': parse error at byte 6: ");
    APH_ASSERT_ERR_CONTAINS(aph_model_config_set_json(c, "lr", "1 2"), APH_ERR_SERIALIZATION,
                            "serialization error: parameter 'lr': parse error at byte ");
    APH_ASSERT_ERR_CONTAINS(aph_model_config_set_json(c, "lr", "NaN"), APH_ERR_SERIALIZATION,
                            "serialization error: parameter 'lr': parse error at byte 1: ");
    APH_ASSERT_ERR_CONTAINS(aph_model_config_set_json(c, "lr", ""), APH_ERR_SERIALIZATION,
                            "serialization error: parameter 'lr': parse error at byte ");
    /* Invalid UTF-8 inside a JSON string is rejected. */
    APH_ASSERT_ERR_CONTAINS(aph_model_config_set_json(c, "lr", "\"\xff\""), APH_ERR_SERIALIZATION,
                            "serialization error: parameter 'lr': parse error at byte ");
    APH_ASSERT_ERR(aph_model_config_set_string(c, "lr", NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: value must not be NULL");
    APH_ASSERT_ERR(aph_model_config_set_int(c, NULL, 1), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: key must not be NULL");
    APH_ASSERT_ERR(aph_model_config_set_int(NULL, "k", 1), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: config must not be NULL");
    APH_ASSERT_ERR(aph_model_config_set_json(c, "k", NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: value_json must not be NULL");
    /* Nothing changed. */
    assert_json(c, "{\"name\":\"m\",\"version\":\"1.0.0\",\"params\":{\"lr\":0.5}}");

    /* Nesting: serde_json's limit of 128 levels (127 nested containers parse). */
    char deep[300];
    memset(deep, 0, sizeof deep);
    for (int k = 0; k < 127; ++k) deep[k] = '[';
    for (int k = 0; k < 127; ++k) deep[127 + k] = ']';
    APH_ASSERT_OK(aph_model_config_set_json(c, "deep", deep));
    memset(deep, 0, sizeof deep);
    for (int k = 0; k < 128; ++k) deep[k] = '[';
    for (int k = 0; k < 128; ++k) deep[128 + k] = ']';
    APH_ASSERT_ERR(aph_model_config_set_json(c, "deeper", deep), APH_ERR_SERIALIZATION,
                   "serialization error: parameter 'deeper': arrays and objects nested deeper than 127 levels");
    assert_int_equal(aph_model_config_has_param(c, "deeper"), 0);
    aph_model_config_release(c);
}

static const struct {
    uint64_t bits;
    const char* text;
} kFloats[] = {
#include "data/graphs/serde_floats.inc"
};

static void test_float_text(void** state) {
    (void)state;
    aph_model_config* c = make("m", "1.0.0");
    for (size_t k = 0; k < sizeof kFloats / sizeof kFloats[0]; ++k) {
        double v;
        memcpy(&v, &kFloats[k].bits, sizeof v);
        APH_ASSERT_OK(aph_model_config_set_float(c, "v", v));
        char* s = NULL;
        APH_ASSERT_OK(aph_model_config_get_json(c, "v", &s));
        if (strcmp(s, kFloats[k].text) != 0) {
            print_error("bits 0x%016llx: got %s, expected %s\n", (unsigned long long)kFloats[k].bits, s,
                        kFloats[k].text);
            fail();
        }
        /* The text reads back as the same double, and stays a float. */
        APH_ASSERT_OK(aph_model_config_set_json(c, "w", s));
        double back = 0;
        APH_ASSERT_OK(aph_model_config_get_float(c, "w", &back));
        assert_memory_equal(&back, &v, sizeof v);
        char* s2 = NULL;
        APH_ASSERT_OK(aph_model_config_get_json(c, "w", &s2));
        assert_string_equal(s2, s);
        aph_string_free(s2);
        aph_string_free(s);
    }
    aph_model_config_release(c);
}

static void test_number_kinds_kept(void** state) {
    (void)state;
    aph_model_config* c = make("m", "1.0.0");
    /* As serde_json: 1.0 stays a float, 1 an integer, exponents make floats, the integer -0 is
     * read as the float -0.0, integers past the 64-bit ranges become floats. */
    struct {
        const char* in;
        const char* out;
    } cases[] = {
        {"1.0", "1.0"},
        {"1", "1"},
        {"1e2", "100.0"},
        {"1E+2", "100.0"},
        {"-0", "-0.0"},
        {"-0.0", "-0.0"},
        {"0.10", "0.1"},
        {"-12", "-12"},
        {"1e400", NULL},
        {"18446744073709551616", "1.8446744073709552e+19"},
        {"-9223372036854775809", "-9.223372036854776e+18"},
        {"\"\\u00e9\\n\\/\"", "\"\xc3\xa9\\n/\""},
        {"[true,false,null]", "[true,false,null]"},
        {"[-0,-0.5,\"-0\",0,-0e1,{\"-0\":-0}]", "[-0.0,-0.5,\"-0\",0,-0.0,{\"-0\":-0.0}]"},
        {"\"a\\\"-0\"", "\"a\\\"-0\""},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
        if (cases[k].out == NULL) {
            /* nlohmann rejects a number out of double range, as serde_json does. */
            APH_ASSERT_ERR(aph_model_config_set_json(c, "v", cases[k].in), APH_ERR_SERIALIZATION,
                           "serialization error: parameter 'v': number overflow parsing '1e400'");
            continue;
        }
        APH_ASSERT_OK(aph_model_config_set_json(c, "v", cases[k].in));
        assert_param_json(c, "v", cases[k].out);
    }
    aph_model_config_release(c);
}

static void test_string_escapes(void** state) {
    (void)state;
    aph_model_config* c = make("q\"b\\", "1\n0");
    APH_ASSERT_OK(aph_model_config_set_string(c, "s",
                                              "a\x01"
                                              "b\tc\x7f\x08\x0c\r\x1f/\xc3\xa9\xe6\x97\xa5"));
    assert_json(c, "{\"name\":\"q\\\"b\\\\\",\"version\":\"1\\n0\",\"params\":{\"s\":"
                   "\"a\\u0001b\\tc\x7f\\b\\f\\r\\u001f/\xc3\xa9\xe6\x97\xa5\"}}");
    aph_model_config_release(c);
}

static void test_key_order_bytewise(void** state) {
    (void)state;
    aph_model_config* c = make("m", "1.0.0");
    APH_ASSERT_OK(aph_model_config_set_int(c, "\xc3\xa9", 1)); /* é */
    APH_ASSERT_OK(aph_model_config_set_int(c, "a", 2));
    APH_ASSERT_OK(aph_model_config_set_int(c, "B", 3));
    APH_ASSERT_OK(aph_model_config_set_int(c, "_", 4));
    APH_ASSERT_OK(aph_model_config_set_int(c, "aa", 5));
    assert_string_equal(aph_model_config_param_key(c, 0), "B");
    assert_string_equal(aph_model_config_param_key(c, 1), "_");
    assert_string_equal(aph_model_config_param_key(c, 2), "a");
    assert_string_equal(aph_model_config_param_key(c, 3), "aa");
    assert_string_equal(aph_model_config_param_key(c, 4), "\xc3\xa9");
    assert_json(c, "{\"name\":\"m\",\"version\":\"1.0.0\",\"params\":{\"B\":3,\"_\":4,\"a\":2,\"aa\":5,"
                   "\"\xc3\xa9\":1}}");
    aph_model_config_release(c);
}

static void test_from_json_and_clone(void** state) {
    (void)state;
    aph_model_config* c = NULL;
    APH_ASSERT_OK(aph_model_config_from_json(
        " {\"params\": {\"z\": 1, \"a\": [1.5, \"x\"]}, \"version\": \"2.0.0\", \"name\": \"enc\", \"extra\": 1}", &c));
    assert_json(c, "{\"name\":\"enc\",\"version\":\"2.0.0\",\"params\":{\"a\":[1.5,\"x\"],\"z\":1}}");

    aph_model_config* d = NULL;
    APH_ASSERT_OK(aph_model_config_clone(c, &d));
    APH_ASSERT_OK(aph_model_config_set_int(d, "z", 2));
    int64_t z = 0;
    APH_ASSERT_OK(aph_model_config_get_int(c, "z", &z));
    assert_int_equal(z, 1); /* the clone is independent */
    aph_model_config_release(c);
    APH_ASSERT_OK(aph_model_config_get_int(d, "z", &z));
    assert_int_equal(z, 2);
    aph_model_config_release(d);

    /* params may be absent. */
    APH_ASSERT_OK(aph_model_config_from_json("{\"name\":\"a\",\"version\":\"1\"}", &c));
    assert_int_equal(aph_model_config_param_count(c), 0);
    aph_model_config_release(c);

    aph_model_config* out = (aph_model_config*)0x1;
    APH_ASSERT_ERR(aph_model_config_from_json("{\"name\":\"a\"}", &out), APH_ERR_SERIALIZATION,
                   "serialization error: config.version: missing field");
    APH_ASSERT_ERR(aph_model_config_from_json("{\"name\":\"a\",\"version\":1}", &out), APH_ERR_SERIALIZATION,
                   "serialization error: config.version: expected a string");
    APH_ASSERT_ERR(aph_model_config_from_json("{\"name\":null,\"version\":\"1\"}", &out), APH_ERR_SERIALIZATION,
                   "serialization error: config.name: expected a string");
    APH_ASSERT_ERR(aph_model_config_from_json("{\"name\":\"a\",\"version\":\"1\",\"params\":[]}", &out),
                   APH_ERR_SERIALIZATION, "serialization error: config.params: expected an object");
    APH_ASSERT_ERR(aph_model_config_from_json("[]", &out), APH_ERR_SERIALIZATION,
                   "serialization error: config: expected an object");
    APH_ASSERT_ERR_CONTAINS(aph_model_config_from_json("{\"name\":\"a\",}", &out), APH_ERR_SERIALIZATION,
                            "serialization error: config JSON: parse error at byte 13: ");
    assert_ptr_equal(out, (aph_model_config*)0x1);
    APH_ASSERT_ERR(aph_model_config_from_json(NULL, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: json must not be NULL");
    APH_ASSERT_ERR(aph_model_config_clone(NULL, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: config must not be NULL");
}

static void test_presets(void** state) {
    (void)state;
    struct {
        const char* preset;
        const char* json;
    } cases[] = {
        {"small", "{\"name\":\"net\",\"version\":\"1.0.0\",\"params\":{\"activation\":\"relu\","
                  "\"dropout\":0.1,\"hidden_size\":256,\"num_layers\":2}}"},
        {"medium", "{\"name\":\"net\",\"version\":\"1.0.0\",\"params\":{\"activation\":\"relu\","
                   "\"dropout\":0.2,\"hidden_size\":512,\"num_layers\":4}}"},
        {"large", "{\"name\":\"net\",\"version\":\"1.0.0\",\"params\":{\"activation\":\"relu\","
                  "\"dropout\":0.3,\"hidden_size\":1024,\"num_layers\":8}}"},
    };
    for (size_t k = 0; k < 3; ++k) {
        aph_model_config* c = NULL;
        APH_ASSERT_OK(aph_model_config_preset(cases[k].preset, "net", &c));
        assert_json(c, cases[k].json);
        int64_t h = 0;
        APH_ASSERT_OK(aph_model_config_get_int(c, "hidden_size", &h));
        assert_int_equal(h, 256 << k);
        aph_model_config_release(c);
    }
    aph_model_config* out = (aph_model_config*)0x1;
    APH_ASSERT_ERR(aph_model_config_preset("huge", "net", &out), APH_ERR_NOT_FOUND,
                   "not found: unknown preset 'huge' (expected \"small\", \"medium\" or \"large\")");
    APH_ASSERT_ERR(aph_model_config_preset("Small", "net", &out), APH_ERR_NOT_FOUND,
                   "not found: unknown preset 'Small' (expected \"small\", \"medium\" or \"large\")");
    assert_ptr_equal(out, (aph_model_config*)0x1);
    APH_ASSERT_ERR(aph_model_config_preset(NULL, "net", &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: preset must not be NULL");
}

#define NAME_CHARS "validation error: Name must contain only alphanumeric characters, dashes, and underscores"
#define VERSION_PATTERN "validation error: Version must match semantic versioning pattern (e.g., 1.2.3)"

static void test_validate_name(void** state) {
    (void)state;
    const char* good[] = {"my-model_v1",
                          "valid-name_123",
                          "A",
                          "0",
                          "-",
                          "_",
                          "\xd0\xbc\xd0\xbe\xd0\xb4\xd0\xb5\xd0\xbb\xd1\x8c_1", /* модель_1 */
                          "\xe6\x97\xa5\xe6\x9c\xac",                           /* 日本 */
                          "caf\xc3\xa9",                                        /* café */
                          "\xd9\xa3",                                           /* ٣ ARABIC-INDIC DIGIT THREE (Nd) */
                          "\xc2\xbd",                                           /* ½ (No) */
                          "\xe2\x85\xa0",                                       /* Ⅰ ROMAN NUMERAL ONE (Nl) */
                          "\xc2\xaa",                                           /* ª (Lo) */
                          "\xf0\x9d\x90\x80",                                   /* 𝐀 MATHEMATICAL BOLD CAPITAL A */
                          "\xe0\xa4\xbe"}; /* ा DEVANAGARI VOWEL SIGN AA (Other_Alphabetic) */
    for (size_t k = 0; k < sizeof good / sizeof good[0]; ++k) {
        aph_status st = aph_validate_name(good[k]);
        if (st != APH_OK) print_error("'%s': %s\n", good[k], aph_last_error());
        assert_int_equal(st, APH_OK);
    }
    const char* bad[] = {"a b",          "a.b",
                         "invalid@name", "a/b",
                         "tab\t",        "x\xcc\x81",                      /* combining acute */
                         "\xe2\x80\x94", /* em dash */ "\xf0\x9f\x98\x80", /* emoji */
                         "\xff",         "\xc3",
                         "\xc0\xaf",     /* invalid UTF-8 */ "\xed\xa0\x80" /* surrogate */};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; ++k)
        APH_ASSERT_ERR(aph_validate_name(bad[k]), APH_ERR_VALIDATION, NAME_CHARS);
    APH_ASSERT_ERR(aph_validate_name(""), APH_ERR_VALIDATION, "validation error: Name cannot be empty");
    APH_ASSERT_ERR(aph_validate_name(NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: name must not be NULL");
}

static void test_validate_version(void** state) {
    (void)state;
    const char* good[] = {"1.2.3",  "0.0.0",          "1.0.0.4", "1.2.3.beta", "01.002.3",
                          "+1.2.3", "4294967295.0.0", "1.2.3.",  "1.2.3..x"};
    for (size_t k = 0; k < sizeof good / sizeof good[0]; ++k) {
        aph_status st = aph_validate_version(good[k]);
        if (st != APH_OK) print_error("'%s': %s\n", good[k], aph_last_error());
        assert_int_equal(st, APH_OK);
    }
    const char* bad[] = {"1.2",   "1",      "1.2.a", "4294967296.0.0", "-1.2.3", "1..2.3", "1.2.3-beta",  ".1.2",
                         "a.b.c", "1.2. 3", "+.1.2", "++1.2.3",        "1.2.+",  " 1.2.3", "\xd9\xa1.2.3"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; ++k) {
        aph_status st = aph_validate_version(bad[k]);
        if (st != APH_ERR_VALIDATION) print_error("'%s' accepted\n", bad[k]);
        APH_ASSERT_ERR(st, APH_ERR_VALIDATION, VERSION_PATTERN);
    }
    APH_ASSERT_ERR(aph_validate_version(""), APH_ERR_VALIDATION, "validation error: Version cannot be empty");
    APH_ASSERT_ERR(aph_validate_version(NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: version must not be NULL");
}

static void test_validate_config(void** state) {
    (void)state;
    aph_model_config* c = make("valid-model", "1.0.0");
    char* errors = NULL;
    APH_ASSERT_OK(aph_model_config_validate(c));
    APH_ASSERT_OK(aph_model_config_validation_errors(c, &errors));
    assert_string_equal(errors, "");
    aph_string_free(errors);
    aph_model_config_release(c);

    /* A failing validation writes no out parameter (0.1 wrote its error list through one):
     * the list is the successful result of aph_model_config_validation_errors. */
    c = make("", "");
    APH_ASSERT_ERR(aph_model_config_validate(c), APH_ERR_VALIDATION,
                   "validation error: name: Name cannot be empty; version: Version cannot be empty");
    errors = NULL;
    APH_ASSERT_OK(aph_model_config_validation_errors(c, &errors));
    assert_non_null(errors);
    assert_string_equal(errors, "name: Name cannot be empty\nversion: Version cannot be empty");
    aph_string_free(errors);
    aph_model_config_release(c);

    c = make("valid-model", "1.2");
    APH_ASSERT_ERR(aph_model_config_validate(c), APH_ERR_VALIDATION,
                   "validation error: version: Version must match semantic versioning pattern (e.g., 1.2.3)");
    errors = NULL;
    APH_ASSERT_OK(aph_model_config_validation_errors(c, &errors));
    assert_string_equal(errors, "version: Version must match semantic versioning pattern (e.g., 1.2.3)");
    aph_string_free(errors);
    aph_model_config_release(c);

    c = make("bad name", "1.2.3");
    APH_ASSERT_ERR(aph_model_config_validate(c), APH_ERR_VALIDATION,
                   "validation error: name: Name must contain only alphanumeric characters, dashes, and underscores");
    aph_model_config_release(c);

    APH_ASSERT_ERR(aph_model_config_validate(NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: config must not be NULL");
    char* untouched = (char*)"sentinel";
    APH_ASSERT_ERR(aph_model_config_validation_errors(NULL, &untouched), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: config must not be NULL");
    assert_string_equal(untouched, "sentinel");
    c = make("m", "1.0.0");
    APH_ASSERT_ERR(aph_model_config_validation_errors(c, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    aph_model_config_release(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_accessors), cmocka_unit_test(test_setters_getters),
        cmocka_unit_test(test_getter_errors),        cmocka_unit_test(test_setter_errors),
        cmocka_unit_test(test_float_text),           cmocka_unit_test(test_number_kinds_kept),
        cmocka_unit_test(test_string_escapes),       cmocka_unit_test(test_key_order_bytewise),
        cmocka_unit_test(test_from_json_and_clone),  cmocka_unit_test(test_presets),
        cmocka_unit_test(test_validate_name),        cmocka_unit_test(test_validate_version),
        cmocka_unit_test(test_validate_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
