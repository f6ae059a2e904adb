/* test_errors.c — section 1 and 2 of aphelion.h: status names and their fixed numeric values,
 * the thread-local last-error message (empty at first, exact text after a failure, kept across
 * successes, private to each thread), and the version numbers and string. */
#include "test_util.h"

/* A call that always fails with a known message (a NULL tracker). */
#define NULL_TRACKER_MSG "invalid argument: tracker must not be NULL"

/* Must run first: nothing has failed on the main thread yet. */
static void test_last_error_empty_before_any_failure(void** state) {
    (void)state;
    const char* msg = aph_last_error();
    assert_non_null(msg);
    assert_string_equal(msg, "");
    /* Successful calls leave it empty. */
    aph_tracker* t = NULL;
    APH_ASSERT_OK(aph_tracker_create(0, &t));
    APH_ASSERT_OK(aph_tracker_allocate(t, 10));
    aph_tracker_release(t);
    assert_string_equal(aph_last_error(), "");
}

static void test_status_values_are_fixed(void** state) {
    (void)state;
    assert_int_equal(APH_OK, 0);
    assert_int_equal(APH_ERR_INVALID_ARGUMENT, 1);
    assert_int_equal(APH_ERR_INVALID_CONFIG, 2);
    assert_int_equal(APH_ERR_SHAPE_MISMATCH, 3);
    assert_int_equal(APH_ERR_DIMENSION_MISMATCH, 4);
    assert_int_equal(APH_ERR_DEVICE_NOT_AVAILABLE, 5);
    assert_int_equal(APH_ERR_DEVICE_MISMATCH, 6);
    assert_int_equal(APH_ERR_OUT_OF_MEMORY, 7);
    assert_int_equal(APH_ERR_KERNEL, 8);
    assert_int_equal(APH_ERR_NOT_IMPLEMENTED, 9);
    assert_int_equal(APH_ERR_IO, 10);
    assert_int_equal(APH_ERR_BACKEND, 11);
    assert_int_equal(APH_ERR_GRAPH, 12);
    assert_int_equal(APH_ERR_VALIDATION, 13);
    assert_int_equal(APH_ERR_SERIALIZATION, 14);
    assert_int_equal(APH_ERR_BUILD, 15);
    assert_int_equal(APH_ERR_INTERNAL, 16);
    assert_int_equal(APH_ERR_NOT_FOUND, 17);
    assert_int_equal(APH_ERR_INVALID_STATE, 18);
}

static void test_status_names(void** state) {
    (void)state;
    static const struct {
        aph_status code;
        const char* name;
    } expected[] = {
        {APH_OK, "APH_OK"},
        {APH_ERR_INVALID_ARGUMENT, "APH_ERR_INVALID_ARGUMENT"},
        {APH_ERR_INVALID_CONFIG, "APH_ERR_INVALID_CONFIG"},
        {APH_ERR_SHAPE_MISMATCH, "APH_ERR_SHAPE_MISMATCH"},
        {APH_ERR_DIMENSION_MISMATCH, "APH_ERR_DIMENSION_MISMATCH"},
        {APH_ERR_DEVICE_NOT_AVAILABLE, "APH_ERR_DEVICE_NOT_AVAILABLE"},
        {APH_ERR_DEVICE_MISMATCH, "APH_ERR_DEVICE_MISMATCH"},
        {APH_ERR_OUT_OF_MEMORY, "APH_ERR_OUT_OF_MEMORY"},
        {APH_ERR_KERNEL, "APH_ERR_KERNEL"},
        {APH_ERR_NOT_IMPLEMENTED, "APH_ERR_NOT_IMPLEMENTED"},
        {APH_ERR_IO, "APH_ERR_IO"},
        {APH_ERR_BACKEND, "APH_ERR_BACKEND"},
        {APH_ERR_GRAPH, "APH_ERR_GRAPH"},
        {APH_ERR_VALIDATION, "APH_ERR_VALIDATION"},
        {APH_ERR_SERIALIZATION, "APH_ERR_SERIALIZATION"},
        {APH_ERR_BUILD, "APH_ERR_BUILD"},
        {APH_ERR_INTERNAL, "APH_ERR_INTERNAL"},
        {APH_ERR_NOT_FOUND, "APH_ERR_NOT_FOUND"},
        {APH_ERR_INVALID_STATE, "APH_ERR_INVALID_STATE"},
    };
    const size_t n = sizeof expected / sizeof expected[0];
    assert_int_equal(n, 19); /* one entry per code, 0..18 */
    for (size_t i = 0; i < n; ++i) {
        assert_int_equal(expected[i].code, (int)i);
        const char* name = aph_status_name(expected[i].code);
        assert_non_null(name);
        assert_string_equal(name, expected[i].name);
    }
}

static void test_status_name_out_of_range(void** state) {
    (void)state;
    const int bad[] = {19, 20, 100, 65536, -1, -17, 0x7fffffff, (int)0x80000000u};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        const char* name = aph_status_name((aph_status)bad[i]);
        assert_non_null(name);
        assert_string_equal(name, "APH_ERR_UNKNOWN");
    }
}

/* The message prefixes of the two 0.2 codes, as aph_set_last_error builds them. */
static void test_new_status_prefixes(void** state) {
    (void)state;
    aph_set_last_error(APH_ERR_NOT_FOUND, "no input named 'x'");
    assert_string_equal(aph_last_error(), "not found: no input named 'x'");
    aph_set_last_error(APH_ERR_INVALID_STATE, "not run yet");
    assert_string_equal(aph_last_error(), "invalid state: not run yet");
}

static void test_last_error_exact_message(void** state) {
    (void)state;
    APH_ASSERT_ERR(aph_tracker_allocate(NULL, 1), APH_ERR_INVALID_ARGUMENT, NULL_TRACKER_MSG);

    /* A different failure replaces it. */
    aph_tracker* t = NULL;
    APH_ASSERT_OK(aph_tracker_create(100, &t));
    APH_ASSERT_ERR(aph_tracker_allocate(t, 101), APH_ERR_OUT_OF_MEMORY,
                   "out of memory: allocation of 101 bytes would exceed limit of 100 bytes "
                   "(current: 0 bytes)");
    APH_ASSERT_ERR(aph_dtype_from_name("nope", &(aph_dtype){APH_DTYPE_F32}), APH_ERR_INVALID_ARGUMENT,
                   "Unknown dtype: nope");
    aph_tracker_release(t);
}

static void test_last_error_not_cleared_by_success(void** state) {
    (void)state;
    aph_dtype d = APH_DTYPE_F32;
    APH_ASSERT_ERR(aph_dtype_from_name("complex64", &d), APH_ERR_INVALID_ARGUMENT, "Unknown dtype: complex64");
    const char* before = aph_last_error();

    /* A series of successful calls of different kinds. */
    APH_ASSERT_OK(aph_dtype_from_name("bf16", &d));
    assert_int_equal(d, APH_DTYPE_BF16);
    uint64_t bytes = 0;
    const int64_t shape[] = {2, 3};
    APH_ASSERT_OK(aph_estimate_tensor_bytes(shape, 2, APH_DTYPE_F32, &bytes));
    assert_int_equal(bytes, 24);
    aph_tracker* t = NULL;
    APH_ASSERT_OK(aph_tracker_create(0, &t));
    APH_ASSERT_OK(aph_tracker_allocate(t, 5));
    APH_ASSERT_OK(aph_tracker_deallocate(t, 5));
    aph_tracker_release(t);

    assert_string_equal(aph_last_error(), "Unknown dtype: complex64");
    /* The pointer stays valid (and unchanged) until the next failure on this thread. */
    assert_ptr_equal(aph_last_error(), before);
    assert_string_equal(before, "Unknown dtype: complex64");
}

/* Thread-local messages. */
typedef struct {
    char before[256];  /* aph_last_error() when the thread starts */
    char after[256];   /* aph_last_error() after its own failure */
    aph_status status; /* the failing call's status */
    const char* name;  /* the dtype name the thread fails on */
} thread_result;

static void* failing_thread(void* arg) {
    thread_result* r = (thread_result*)arg;
    snprintf(r->before, sizeof r->before, "%s", aph_last_error());
    aph_dtype d = APH_DTYPE_F32;
    r->status = aph_dtype_from_name(r->name, &d);
    snprintf(r->after, sizeof r->after, "%s", aph_last_error());
    return NULL;
}

static void test_last_error_is_thread_local(void** state) {
    (void)state;
    APH_ASSERT_ERR(aph_tracker_allocate(NULL, 1), APH_ERR_INVALID_ARGUMENT, NULL_TRACKER_MSG);
    const char* mine = aph_last_error();

    enum { N = 4 };
    static const char* names[N] = {"thread-zero", "thread-one", "thread-two", "thread-three"};
    pthread_t th[N];
    thread_result res[N];
    memset(res, 0, sizeof res);
    for (int i = 0; i < N; ++i) {
        res[i].name = names[i];
        assert_int_equal(pthread_create(&th[i], NULL, failing_thread, &res[i]), 0);
    }
    for (int i = 0; i < N; ++i) assert_int_equal(pthread_join(th[i], NULL), 0);

    for (int i = 0; i < N; ++i) {
        /* A new thread starts with no message, whatever other threads did. */
        assert_string_equal(res[i].before, "");
        assert_int_equal(res[i].status, APH_ERR_INVALID_ARGUMENT);
        char expected[64];
        snprintf(expected, sizeof expected, "Unknown dtype: %s", names[i]);
        /* Each thread sees its own failure, not another thread's. */
        assert_string_equal(res[i].after, expected);
    }

    /* This thread's message is untouched by the other threads' failures. */
    assert_ptr_equal(aph_last_error(), mine);
    assert_string_equal(aph_last_error(), NULL_TRACKER_MSG);
}

static void test_version(void** state) {
    (void)state;
    int major = -1, minor = -1, patch = -1;
    aph_version(&major, &minor, &patch);
    assert_int_equal(major, APH_VERSION_MAJOR);
    assert_int_equal(minor, APH_VERSION_MINOR);
    assert_int_equal(patch, APH_VERSION_PATCH);

    const char* s = aph_version_string();
    assert_non_null(s);
    char expected[64];
    snprintf(expected, sizeof expected, "%d.%d.%d", APH_VERSION_MAJOR, APH_VERSION_MINOR, APH_VERSION_PATCH);
    assert_string_equal(s, expected);
    /* Static storage: the same string every time. */
    assert_ptr_equal(aph_version_string(), s);
}

static void test_version_null_pointers(void** state) {
    (void)state;
    aph_version(NULL, NULL, NULL); /* must not crash */

    int major = -1, minor = -1, patch = -1;
    aph_version(NULL, &minor, NULL);
    assert_int_equal(minor, APH_VERSION_MINOR);
    aph_version(&major, NULL, NULL);
    assert_int_equal(major, APH_VERSION_MAJOR);
    aph_version(NULL, NULL, &patch);
    assert_int_equal(patch, APH_VERSION_PATCH);

    major = minor = patch = -7;
    aph_version(&major, NULL, &patch);
    assert_int_equal(major, APH_VERSION_MAJOR);
    assert_int_equal(minor, -7); /* skipped, untouched */
    assert_int_equal(patch, APH_VERSION_PATCH);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        /* First: relies on no failure having happened on this thread yet. */
        cmocka_unit_test(test_last_error_empty_before_any_failure),
        cmocka_unit_test(test_status_values_are_fixed),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_status_name_out_of_range),
        cmocka_unit_test(test_new_status_prefixes),
        cmocka_unit_test(test_last_error_exact_message),
        cmocka_unit_test(test_last_error_not_cleared_by_success),
        cmocka_unit_test(test_last_error_is_thread_local),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_version_null_pointers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
