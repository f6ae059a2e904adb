/* test_stream.c — section 10 of aphelion.h on the CPU device: the default stream (borrowed, one
 * per device, no CUDA handle), created streams (reference counting, they keep their device
 * alive), synchronize/query (a CPU stream is always idle), events (record, query, synchronize,
 * wait; never-recorded events are complete), device synchronisation, argument errors naming
 * the argument, aph_stream_wrap_cuda refused on a CPU device, tensors allocated on a created
 * stream, record_stream, and the allocator's per-stream caching (a block freed on one stream
 * is reused only there; a released stream's cache goes to the default stream). */
#include "test_util.h"

#define MiB ((uint64_t)1024 * 1024)

static aph_device* open_cpu(void) {
    aph_device* d = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &d));
    assert_non_null(d);
    return d;
}

static aph_stream* make_stream(aph_device* d) {
    aph_stream* s = NULL;
    APH_ASSERT_OK(aph_stream_create(d, &s));
    assert_non_null(s);
    return s;
}

static aph_event* make_event(aph_device* d) {
    aph_event* e = NULL;
    APH_ASSERT_OK(aph_event_create(d, &e));
    assert_non_null(e);
    return e;
}

static aph_memory_stats stats_of(aph_device* d) {
    aph_memory_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    APH_ASSERT_OK(aph_device_memory_stats(d, &s));
    return s;
}

static void assert_idle(aph_stream* s) {
    int idle = -7;
    APH_ASSERT_OK(aph_stream_query(s, &idle));
    assert_int_equal(idle, 1);
}

static void assert_done(aph_event* e) {
    int done = -7;
    APH_ASSERT_OK(aph_event_query(e, &done));
    assert_int_equal(done, 1);
}

/* ---------------------------------------------------------------------------------------------
 * Default stream
 * ------------------------------------------------------------------------------------------- */

static void test_default_stream(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    aph_stream* s = aph_device_default_stream(d);
    assert_non_null(s);
    assert_ptr_equal(aph_device_default_stream(d), s); /* the same one every time */
    assert_ptr_equal(aph_stream_device(s), d);
    assert_null(aph_stream_cuda_handle(s));
    APH_ASSERT_OK(aph_stream_synchronize(s));
    assert_idle(s);

    /* Borrowed, but retain/release pairs are balanced and harmless. */
    aph_stream_retain(s);
    aph_stream_release(s);
    assert_ptr_equal(aph_device_default_stream(d), s);
    assert_ptr_equal(aph_stream_device(s), d);

    /* A second handle to the same device is the same handle, with the same default stream. */
    aph_device* d2 = open_cpu();
    assert_ptr_equal(d2, d);
    assert_ptr_equal(aph_device_default_stream(d2), s);
    aph_device_release(d2);

    /* NULL everywhere. */
    assert_null(aph_device_default_stream(NULL));
    assert_null(aph_stream_device(NULL));
    assert_null(aph_stream_cuda_handle(NULL));
    aph_stream_retain(NULL);
    aph_stream_release(NULL);
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Created streams
 * ------------------------------------------------------------------------------------------- */

static void test_create_retain_release(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    aph_stream* a = make_stream(d);
    aph_stream* b = make_stream(d);
    assert_ptr_not_equal(a, b);
    assert_ptr_not_equal(a, aph_device_default_stream(d));
    assert_ptr_not_equal(b, aph_device_default_stream(d));
    assert_ptr_equal(aph_stream_device(a), d);
    assert_ptr_equal(aph_stream_device(b), d);
    assert_null(aph_stream_cuda_handle(a));

    APH_ASSERT_OK(aph_stream_synchronize(a));
    assert_idle(a);
    assert_idle(b);

    /* An extra reference keeps it usable after the first is given back. */
    aph_stream_retain(a);
    aph_stream_release(a);
    APH_ASSERT_OK(aph_stream_synchronize(a));
    assert_idle(a);
    assert_ptr_equal(aph_stream_device(a), d);
    aph_stream_release(a);
    aph_stream_release(b);

    /* Many streams, created and released. */
    aph_stream* many[64];
    for (int i = 0; i < 64; ++i) many[i] = make_stream(d);
    for (int i = 0; i < 64; ++i) {
        for (int j = 0; j < i; ++j) assert_ptr_not_equal(many[i], many[j]);
    }
    for (int i = 0; i < 64; ++i) aph_stream_release(many[i]);
    aph_device_release(d);
}

static void test_stream_keeps_device_alive(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    aph_stream* s = make_stream(d);
    aph_device_release(d); /* our last reference; the stream holds another */

    aph_device* held = aph_stream_device(s);
    assert_non_null(held);
    assert_string_equal(aph_device_label(held), "cpu");
    assert_int_equal(aph_device_get_kind(held), APH_DEVICE_CPU);
    APH_ASSERT_OK(aph_stream_synchronize(s));
    APH_ASSERT_OK(aph_device_synchronize(held));
    assert_non_null(aph_device_default_stream(held));

    /* Still the live handle: opening the device again gives that same handle. */
    aph_device* again = open_cpu();
    assert_ptr_equal(again, held);
    aph_device_release(again);

    /* Memory can be allocated on it through the stream's device. */
    void* p = NULL;
    APH_ASSERT_OK(aph_device_allocate(held, 1000, s, &p));
    assert_non_null(p);
    memset(p, 1, 1000);
    APH_ASSERT_OK(aph_device_free(held, p));
    aph_stream_release(s);
}

static void test_synchronize(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    APH_ASSERT_OK(aph_device_synchronize(d));
    aph_stream* s = make_stream(d);
    /* Some work on the stream, then every kind of wait. */
    const int64_t shape[] = {16};
    float host[16];
    for (int i = 0; i < 16; ++i) host[i] = (float)i * 0.5f + 1.0f;
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(d, APH_DTYPE_F32, shape, 1, s, &t));
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, host, sizeof host, s));
    APH_ASSERT_OK(aph_stream_synchronize(s));
    assert_idle(s);
    APH_ASSERT_OK(aph_device_synchronize(d));
    assert_idle(aph_device_default_stream(d));
    float back[16];
    memset(back, 0, sizeof back);
    APH_ASSERT_OK(aph_tensor_to_host(t, back, sizeof back));
    assert_memory_equal(back, host, sizeof host);
    aph_tensor_release(t);
    aph_stream_release(s);
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------------------------- */

static void test_events(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    aph_stream* s = make_stream(d);

    /* Never recorded: complete, and synchronize returns at once. */
    aph_event* e = make_event(d);
    assert_done(e);
    APH_ASSERT_OK(aph_event_synchronize(e));

    /* Recorded on a created stream, on the default stream explicitly, and on NULL (the default
     * stream of the event's device). */
    APH_ASSERT_OK(aph_event_record(e, s));
    assert_done(e);
    APH_ASSERT_OK(aph_event_synchronize(e));
    APH_ASSERT_OK(aph_event_record(e, aph_device_default_stream(d)));
    assert_done(e);
    APH_ASSERT_OK(aph_event_record(e, NULL));
    assert_done(e);
    APH_ASSERT_OK(aph_event_synchronize(e));

    /* Waits: a created stream on the event, the default stream on the event. */
    APH_ASSERT_OK(aph_stream_wait_event(s, e));
    APH_ASSERT_OK(aph_stream_wait_event(aph_device_default_stream(d), e));
    assert_idle(s);

    /* A never-recorded event can be waited on too. */
    aph_event* fresh = make_event(d);
    APH_ASSERT_OK(aph_stream_wait_event(s, fresh));
    assert_idle(s);

    /* Reference counting. */
    aph_event_retain(e);
    aph_event_release(e);
    APH_ASSERT_OK(aph_event_record(e, s));
    assert_done(e);
    aph_event_release(e);
    aph_event_release(fresh);
    aph_event_retain(NULL);
    aph_event_release(NULL);

    /* An event outlives the stream it was recorded on. */
    aph_event* late = make_event(d);
    aph_stream* tmp = make_stream(d);
    APH_ASSERT_OK(aph_event_record(late, tmp));
    aph_stream_release(tmp);
    assert_done(late);
    APH_ASSERT_OK(aph_event_synchronize(late));
    aph_event_release(late);

    aph_stream_release(s);
    aph_device_release(d);
}

/* Section 10: "Wherever a function takes an aph_stream*, NULL means the default stream of the
 * device concerned", here the event's device. */
static void test_wait_event_null_stream_is_default(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    aph_event* e = make_event(d);
    APH_ASSERT_OK(aph_event_record(e, NULL));
    const aph_status wait_on_null_stream = aph_stream_wait_event(NULL, e);
    aph_event_release(e);
    aph_device_release(d);
    APH_ASSERT_OK(wait_on_null_stream);
}

/* ---------------------------------------------------------------------------------------------
 * Argument errors
 * ------------------------------------------------------------------------------------------- */

static void test_null_arguments(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    aph_stream* s = make_stream(d);
    aph_event* e = make_event(d);

    aph_stream* out_s = (aph_stream*)&out_s;
    APH_ASSERT_ERR(aph_stream_create(NULL, &out_s), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: device must not be NULL");
    assert_ptr_equal(out_s, (aph_stream*)&out_s);
    APH_ASSERT_ERR(aph_stream_create(d, NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: out must not be NULL");

    int flag = -7;
    APH_ASSERT_ERR(aph_stream_query(s, NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: out_idle must not be NULL");
    APH_ASSERT_ERR(aph_device_synchronize(NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: device must not be NULL");

    aph_event* out_e = (aph_event*)&out_e;
    APH_ASSERT_ERR(aph_event_create(NULL, &out_e), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: device must not be NULL");
    assert_ptr_equal(out_e, (aph_event*)&out_e);
    APH_ASSERT_ERR(aph_event_create(d, NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_event_record(NULL, s), APH_ERR_INVALID_ARGUMENT, "invalid argument: event must not be NULL");
    APH_ASSERT_ERR(aph_event_synchronize(NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: event must not be NULL");
    APH_ASSERT_ERR(aph_event_query(NULL, &flag), APH_ERR_INVALID_ARGUMENT, "invalid argument: event must not be NULL");
    assert_int_equal(flag, -7);
    APH_ASSERT_ERR(aph_event_query(e, NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: out_done must not be NULL");
    APH_ASSERT_ERR(aph_stream_wait_event(s, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: event must not be NULL");

    APH_ASSERT_ERR(aph_stream_wrap_cuda(NULL, NULL, &out_s), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: device must not be NULL");

    /* Tensors on streams. */
    const int64_t shape[] = {4};
    aph_tensor* t = (aph_tensor*)&t;
    APH_ASSERT_ERR_CONTAINS(aph_tensor_create_on_stream(d, APH_DTYPE_F32, shape, 1, s, NULL), APH_ERR_INVALID_ARGUMENT,
                            "out");
    APH_ASSERT_ERR_CONTAINS(aph_tensor_create_on_stream(d, APH_DTYPE_F32, NULL, 1, s, &t), APH_ERR_INVALID_ARGUMENT,
                            "shape");
    APH_ASSERT_ERR_CONTAINS(aph_tensor_create_on_stream(d, (aph_dtype)99, shape, 1, s, &t), APH_ERR_INVALID_ARGUMENT,
                            "dtype");
    assert_ptr_equal(t, (aph_tensor*)&t);
    APH_ASSERT_ERR(aph_tensor_record_stream(NULL, s), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: tensor must not be NULL");

    /* The errors changed nothing: everything still works. */
    assert_idle(s);
    assert_done(e);
    aph_event_release(e);
    aph_stream_release(s);
    aph_device_release(d);
}

static void test_wrap_cuda_on_cpu(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    aph_stream* out = (aph_stream*)&out;
    APH_ASSERT_ERR_CONTAINS(aph_stream_wrap_cuda(d, NULL, &out), APH_ERR_INVALID_ARGUMENT, "invalid argument: ");
    assert_ptr_equal(out, (aph_stream*)&out);
    /* A non-NULL handle is refused the same way, without being touched. */
    APH_ASSERT_ERR_CONTAINS(aph_stream_wrap_cuda(d, (void*)(uintptr_t)0x1234, &out), APH_ERR_INVALID_ARGUMENT,
                            "invalid argument: ");
    assert_ptr_equal(out, (aph_stream*)&out);
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Tensors and memory on streams
 * ------------------------------------------------------------------------------------------- */

static void test_tensor_on_stream(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    aph_stream* s = make_stream(d);
    aph_stream* other = make_stream(d);

    const int64_t shape[] = {3, 5};
    int32_t host[15];
    for (int i = 0; i < 15; ++i) host[i] = 1000 - 7 * i;
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(d, APH_DTYPE_I32, shape, 2, s, &t));
    assert_non_null(t);
    assert_ptr_equal(aph_tensor_device(t), d);
    assert_int_equal(aph_tensor_dtype(t), APH_DTYPE_I32);
    assert_int_equal(aph_tensor_ndim(t), 2);
    assert_int_equal(aph_tensor_shape(t)[0], 3);
    assert_int_equal(aph_tensor_shape(t)[1], 5);
    assert_int_equal(aph_tensor_numel(t), 15);
    assert_int_equal(aph_tensor_nbytes(t), 60);
    assert_int_equal(aph_tensor_is_contiguous(t), 1);
    assert_non_null(aph_tensor_data(t));
    assert_int_equal((uintptr_t)aph_tensor_data(t) % 64, 0);

    APH_ASSERT_OK(aph_tensor_copy_from_host(t, host, sizeof host));
    int32_t back[15];
    memset(back, 0, sizeof back);
    APH_ASSERT_OK(aph_tensor_to_host_async(t, back, sizeof back, s));
    APH_ASSERT_OK(aph_stream_synchronize(s));
    assert_memory_equal(back, host, sizeof host);
    /* CPU tensors are plain memory. */
    assert_memory_equal(aph_tensor_data(t), host, sizeof host);

    /* Used on other streams: declared, and still correct. */
    APH_ASSERT_OK(aph_tensor_record_stream(t, other));
    APH_ASSERT_OK(aph_tensor_record_stream(t, aph_device_default_stream(d)));
    APH_ASSERT_OK(aph_tensor_record_stream(t, NULL));
    APH_ASSERT_OK(aph_tensor_record_stream(t, s)); /* its own stream: nothing to do */
    memset(back, 0, sizeof back);
    APH_ASSERT_OK(aph_tensor_to_host_async(t, back, sizeof back, other));
    APH_ASSERT_OK(aph_stream_synchronize(other));
    assert_memory_equal(back, host, sizeof host);

    /* A copy queued on another stream. */
    aph_tensor* u = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(d, APH_DTYPE_I32, shape, 2, other, &u));
    APH_ASSERT_OK(aph_tensor_copy_async(u, t, other));
    APH_ASSERT_OK(aph_stream_synchronize(other));
    memset(back, 0, sizeof back);
    APH_ASSERT_OK(aph_tensor_to_host(u, back, sizeof back));
    assert_memory_equal(back, host, sizeof host);

    /* The memory keeps its stream alive: release the stream first, the tensor still works. */
    aph_stream_release(s);
    int32_t again[15];
    for (int i = 0; i < 15; ++i) again[i] = i * i - 3;
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, again, sizeof again, NULL));
    memset(back, 0, sizeof back);
    APH_ASSERT_OK(aph_tensor_to_host(t, back, sizeof back));
    assert_memory_equal(back, again, sizeof again);

    /* Zero-size and 0-dimensional tensors on a stream. */
    const int64_t empty_shape[] = {4, 0};
    aph_tensor* z = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(d, APH_DTYPE_F32, empty_shape, 2, other, &z));
    assert_int_equal(aph_tensor_numel(z), 0);
    assert_null(aph_tensor_data(z));
    APH_ASSERT_OK(aph_tensor_record_stream(z, other));
    aph_tensor* scalar = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(d, APH_DTYPE_F64, NULL, 0, other, &scalar));
    assert_int_equal(aph_tensor_numel(scalar), 1);
    const double pi = 3.25;
    APH_ASSERT_OK(aph_tensor_copy_from_host(scalar, &pi, sizeof pi));
    double pb = 0;
    APH_ASSERT_OK(aph_tensor_to_host(scalar, &pb, sizeof pb));
    assert_true(pb == pi);

    /* record_stream on borrowed memory is a no-op. */
    float blob[8] = {0};
    const int64_t blob_shape[] = {8};
    aph_tensor* b = NULL;
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_F32, blob_shape, NULL, 1, blob, NULL, NULL, &b));
    APH_ASSERT_OK(aph_tensor_record_stream(b, other));
    aph_tensor_release(b);

    aph_tensor_release(z);
    aph_tensor_release(scalar);
    aph_tensor_release(u);
    aph_tensor_release(t);
    aph_stream_release(other);
    aph_device_release(d);
}

static void test_allocator_per_stream_cache(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    APH_ASSERT_OK(aph_device_empty_cache(d));
    const aph_memory_stats s0 = stats_of(d);
    assert_int_equal(s0.active_allocations, 0);
    assert_int_equal(s0.reserved_bytes, 0);
    aph_stream* s = make_stream(d);

    /* A block freed on s is reused on s ... */
    void* p = NULL;
    APH_ASSERT_OK(aph_device_allocate(d, 1000, s, &p));
    assert_non_null(p);
    APH_ASSERT_OK(aph_device_free(d, p));
    void* q = NULL;
    APH_ASSERT_OK(aph_device_allocate(d, 1000, s, &q));
    assert_ptr_equal(q, p);
    APH_ASSERT_OK(aph_device_free(d, q));
    aph_memory_stats st = stats_of(d);
    assert_int_equal(st.reserved_bytes, 2 * MiB);

    /* ... but not by the default stream, which needs a segment of its own. */
    void* r = NULL;
    APH_ASSERT_OK(aph_device_allocate(d, 1000, NULL, &r));
    assert_non_null(r);
    assert_ptr_not_equal(r, p);
    st = stats_of(d);
    assert_int_equal(st.reserved_bytes, 4 * MiB);
    assert_int_equal(st.segments, 2);
    APH_ASSERT_OK(aph_device_free(d, r));
    APH_ASSERT_OK(aph_device_empty_cache(d));
    st = stats_of(d);
    assert_int_equal(st.reserved_bytes, 0);

    /* Memory of s used on another stream: declared, freed, nothing leaks. */
    aph_stream* other = make_stream(d);
    void* x = NULL;
    APH_ASSERT_OK(aph_device_allocate(d, 5000, s, &x));
    APH_ASSERT_OK(aph_device_record_stream(d, x, other));
    APH_ASSERT_OK(aph_device_free(d, x));
    APH_ASSERT_OK(aph_stream_synchronize(other));
    aph_stream_release(other);

    /* When s goes, its cached memory is handed to the default stream: with only s's segment
     * cached, a default-stream request is served from it without a new segment. */
    APH_ASSERT_OK(aph_device_empty_cache(d));
    APH_ASSERT_OK(aph_device_allocate(d, 700, s, &x));
    APH_ASSERT_OK(aph_device_free(d, x));
    const aph_memory_stats before = stats_of(d);
    assert_int_equal(before.reserved_bytes, 2 * MiB);
    aph_stream_release(s);
    void* y = NULL;
    APH_ASSERT_OK(aph_device_allocate(d, 700, NULL, &y));
    const aph_memory_stats after = stats_of(d);
    assert_int_equal(after.reserved_bytes, 2 * MiB);
    assert_int_equal(after.cache_misses, before.cache_misses);
    assert_int_equal(after.segment_allocations, before.segment_allocations);
    APH_ASSERT_OK(aph_device_free(d, y));
    APH_ASSERT_OK(aph_device_empty_cache(d));
    st = stats_of(d);
    assert_int_equal(st.reserved_bytes, 0);
    assert_int_equal(st.active_allocations, 0);
    assert_int_equal(st.active_bytes, 0);
    aph_device_release(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_stream),
        cmocka_unit_test(test_create_retain_release),
        cmocka_unit_test(test_stream_keeps_device_alive),
        cmocka_unit_test(test_synchronize),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_wait_event_null_stream_is_default),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_wrap_cuda_on_cpu),
        cmocka_unit_test(test_tensor_on_stream),
        cmocka_unit_test(test_allocator_per_stream_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
