/* test_dlpack.c — section 13 of aphelion.h on the CPU device.
 *
 * Export (aph_tensor_to_dlpack, _unversioned): version 1.1, flags 0 (READ_ONLY for read-only
 * tensors), data + byte_offset is the tensor's own memory (zero copy), kDLCPU device 0, the
 * dtype codes of every aph dtype, shape and strides equal to the tensor's (strided views, zero
 * size, 0 dimensions; empty views export NULL data and no offset), and the export keeps the
 * tensor's memory alive until the consumer calls the deleter (on any thread).
 *
 * Import (aph_tensor_from_dlpack, _unversioned): structs built here over our own buffers with
 * counting deleters: zero copy, shape/strides (NULL strides = row-major), byte_offset, every
 * dtype, kDLCUDAHost as CPU; the deleter runs exactly once, on the thread that drops the last
 * reference (views included), and never on failure; every rejection (version, lanes, dtypes,
 * devices, negative strides, ndim, shape, NULL arguments) with the right code and the caller
 * keeping ownership; any stride on a size-1 dimension; the READ_ONLY flag; NULL deleters.
 *
 * Round trips with libaphelion on both sides: pointer identity and exactly-once deletion. */
#define _DEFAULT_SOURCE /* pthread */
#include "test_util.h"

#include <aphelion_dlpack.h>
#include <stdatomic.h>

#define SENTINEL_TENSOR ((aph_tensor*)(uintptr_t)0x5E17)
#define SENTINEL_PTR ((void*)(uintptr_t)0x5E18)

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

static aph_device* g_cpu;

static int setup(void** state) {
    (void)state;
    return aph_device_open(APH_DEVICE_CPU, 0, &g_cpu) == APH_OK ? 0 : -1;
}

static int teardown(void** state) {
    (void)state;
    aph_device_release(g_cpu);
    g_cpu = NULL;
    return 0;
}

static const struct {
    aph_dtype dtype;
    uint8_t code;
    uint8_t bits;
} DTYPES[] = {
    {APH_DTYPE_F32, kDLFloat, 32},
    {APH_DTYPE_F16, kDLFloat, 16},
    {APH_DTYPE_BF16, kDLBfloat, 16},
    {APH_DTYPE_F64, kDLFloat, 64},
    {APH_DTYPE_U8, kDLUInt, 8},
    {APH_DTYPE_U32, kDLUInt, 32},
    {APH_DTYPE_I8, kDLInt, 8},
    {APH_DTYPE_I16, kDLInt, 16},
    {APH_DTYPE_I32, kDLInt, 32},
    {APH_DTYPE_I64, kDLInt, 64},
    {APH_DTYPE_BOOL, kDLBool, 8},
    {APH_DTYPE_F8E4M3, kDLFloat8_e4m3fn, 8},
    {APH_DTYPE_F8E5M2, kDLFloat8_e5m2, 8},
};
#define N_DTYPES (sizeof DTYPES / sizeof DTYPES[0])

static void assert_dl_dtype(DLDataType got, aph_dtype dt) {
    for (size_t i = 0; i < N_DTYPES; ++i) {
        if (DTYPES[i].dtype != dt) continue;
        if (got.code != DTYPES[i].code || got.bits != DTYPES[i].bits || got.lanes != 1) {
            print_error("%s exported as code %u bits %u lanes %u, expected %u/%u/1\n", aph_dtype_name(dt), got.code,
                        got.bits, got.lanes, DTYPES[i].code, DTYPES[i].bits);
            fail();
        }
        return;
    }
    fail_msg("no DLPack dtype for %s", aph_dtype_name(dt));
}

/* Copies the elements a DLTensor describes, in row-major order, into out. */
static void dl_gather(const DLTensor* dl, size_t elem, void* out) {
    int64_t idx[32] = {0};
    int64_t numel = 1;
    for (int32_t i = 0; i < dl->ndim; ++i) numel *= dl->shape[i];
    const char* base = (const char*)dl->data + dl->byte_offset;
    for (int64_t n = 0; n < numel; ++n) {
        int64_t off = 0;
        for (int32_t i = 0; i < dl->ndim; ++i) off += idx[i] * dl->strides[i];
        memcpy((char*)out + (size_t)n * elem, base + off * (int64_t)elem, elem);
        for (int32_t i = dl->ndim - 1; i >= 0; --i) {
            if (++idx[i] < dl->shape[i]) break;
            idx[i] = 0;
        }
    }
}

/* Everything an export must say about tensor t. */
static void assert_describes(const DLTensor* dl, const aph_tensor* t) {
    assert_int_equal(dl->device.device_type, kDLCPU);
    assert_int_equal(dl->device.device_id, 0);
    assert_int_equal(dl->ndim, (int32_t)aph_tensor_ndim(t));
    assert_dl_dtype(dl->dtype, aph_tensor_dtype(t));
    const size_t ndim = aph_tensor_ndim(t);
    if (ndim > 0) {
        assert_non_null(dl->shape);
        assert_non_null(dl->strides); /* always filled */
        /* The export's own arrays, equal to the tensor's. */
        assert_memory_equal(dl->shape, aph_tensor_shape(t), ndim * sizeof(int64_t));
        assert_memory_equal(dl->strides, aph_tensor_strides(t), ndim * sizeof(int64_t));
    }
    if (aph_tensor_numel(t) == 0) {
        /* DLPack: a zero-size tensor's data is NULL, with no offset (whatever the view's). */
        assert_null(dl->data);
        assert_int_equal(dl->byte_offset, 0);
    } else {
        assert_int_equal(dl->byte_offset, aph_tensor_byte_offset(t));
    }
    if (aph_tensor_numel(t) > 0) {
        /* Zero copy: the exported address of the first element is the tensor's. */
        assert_ptr_equal((char*)dl->data + dl->byte_offset, aph_tensor_data(t));
        const size_t nbytes = (size_t)aph_tensor_nbytes(t);
        void* want = malloc(nbytes);
        void* got = malloc(nbytes);
        assert_non_null(want);
        assert_non_null(got);
        APH_ASSERT_OK(aph_tensor_to_host(t, want, nbytes));
        if (ndim == 0) {
            memcpy(got, (char*)dl->data + dl->byte_offset, nbytes);
        } else {
            dl_gather(dl, aph_dtype_size(aph_tensor_dtype(t)), got);
        }
        assert_memory_equal(got, want, nbytes);
        free(want);
        free(got);
    }
}

static aph_tensor* f32_tensor(const int64_t* shape, size_t ndim) {
    int64_t numel = 1;
    for (size_t i = 0; i < ndim; ++i) numel *= shape[i];
    float* host = malloc((size_t)(numel > 0 ? numel : 1) * sizeof(float));
    assert_non_null(host);
    for (int64_t i = 0; i < numel; ++i) host[i] = (float)i * 0.75f - 5.0f;
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_host(g_cpu, APH_DTYPE_F32, shape, ndim, host, (size_t)numel * sizeof(float), &t));
    free(host);
    return t;
}

/* A deleter for aph_tensor_from_blob that counts its calls. */
typedef struct {
    atomic_int calls;
    void* data;
} blob_owner;

static void blob_deleter(void* user_data, void* data) {
    blob_owner* o = (blob_owner*)user_data;
    o->data = data;
    atomic_fetch_add(&o->calls, 1);
}

static aph_tensor* blob_tensor(float* data, const int64_t* shape, size_t ndim, blob_owner* o) {
    atomic_init(&o->calls, 0);
    o->data = NULL;
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_blob(g_cpu, APH_DTYPE_F32, shape, NULL, ndim, data, blob_deleter, o, &t));
    return t;
}

/* A DLPack producer of our own: a versioned and an unversioned managed tensor over a buffer we
 * keep, with deleters that count calls and remember who called and with what. */
typedef struct producer {
    DLManagedTensorVersioned m;
    DLManagedTensor u;
    int64_t shape[24];
    int64_t strides[24];
    atomic_int deleted;
    void* last_self;
    pthread_t last_thread;
} producer;

static void producer_deleter(DLManagedTensorVersioned* self) {
    producer* p = (producer*)self->manager_ctx;
    p->last_self = self;
    p->last_thread = pthread_self();
    atomic_fetch_add(&p->deleted, 1);
}

static void producer_deleter_u(DLManagedTensor* self) {
    producer* p = (producer*)self->manager_ctx;
    p->last_self = self;
    p->last_thread = pthread_self();
    atomic_fetch_add(&p->deleted, 1);
}

static void producer_init(producer* p, void* data, uint8_t code, uint8_t bits, const int64_t* shape, int32_t ndim,
                          const int64_t* strides, uint64_t byte_offset) {
    memset(p, 0, sizeof *p);
    atomic_init(&p->deleted, 0);
    DLTensor dl;
    memset(&dl, 0, sizeof dl);
    dl.data = data;
    dl.device.device_type = kDLCPU;
    dl.device.device_id = 0;
    dl.ndim = ndim;
    dl.dtype.code = code;
    dl.dtype.bits = bits;
    dl.dtype.lanes = 1;
    for (int32_t i = 0; i < ndim && i < 24; ++i) p->shape[i] = shape[i];
    for (int32_t i = 0; strides && i < ndim && i < 24; ++i) p->strides[i] = strides[i];
    dl.shape = ndim > 0 ? p->shape : NULL;
    dl.strides = strides ? p->strides : NULL;
    dl.byte_offset = byte_offset;

    p->m.version.major = 1;
    p->m.version.minor = 1;
    p->m.manager_ctx = p;
    p->m.deleter = producer_deleter;
    p->m.flags = 0;
    p->m.dl_tensor = dl;

    p->u.dl_tensor = dl;
    p->u.manager_ctx = p;
    p->u.deleter = producer_deleter_u;
}

static void producer_f32(producer* p, float* buf, const int64_t* shape, int32_t ndim) {
    producer_init(p, buf, kDLFloat, 32, shape, ndim, NULL, 0);
}

static void fill_buf(float* buf, size_t n) {
    for (size_t i = 0; i < n; ++i) buf[i] = (float)i * 1.25f + 0.5f;
}

static void assert_shape(const aph_tensor* t, const int64_t* shape, size_t ndim) {
    assert_int_equal(aph_tensor_ndim(t), ndim);
    for (size_t i = 0; i < ndim; ++i) assert_int_equal(aph_tensor_shape(t)[i], shape[i]);
}

static void assert_strides(const aph_tensor* t, const int64_t* strides, size_t ndim) {
    for (size_t i = 0; i < ndim; ++i) assert_int_equal(aph_tensor_strides(t)[i], strides[i]);
}

/* ---------------------------------------------------------------------------------------------
 * Export
 * ------------------------------------------------------------------------------------------- */

static void test_export_versioned_basic(void** state) {
    (void)state;
    const int64_t shape[] = {2, 3, 4};
    aph_tensor* t = f32_tensor(shape, 3);
    struct DLManagedTensorVersioned* m = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack(t, &m));
    assert_non_null(m);
    assert_int_equal(m->version.major, 1);
    assert_int_equal(m->version.minor, 1);
    assert_int_equal(m->flags, 0);
    assert_non_null(m->deleter);
    assert_describes(&m->dl_tensor, t);
    const int64_t strides[] = {12, 4, 1};
    assert_memory_equal(m->dl_tensor.strides, strides, sizeof strides);
    assert_memory_equal(m->dl_tensor.shape, shape, sizeof shape);
    assert_int_equal(m->dl_tensor.byte_offset, 0);
    assert_ptr_equal(m->dl_tensor.data, aph_tensor_data(t));

    /* Writes through the export are the tensor's (same memory). */
    ((float*)m->dl_tensor.data)[5] = 1234.5f;
    float back[24];
    APH_ASSERT_OK(aph_tensor_to_host(t, back, sizeof back));
    assert_true(back[5] == 1234.5f);

    /* Two exports are independent: each has its own deleter call. */
    struct DLManagedTensorVersioned* m2 = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack(t, &m2));
    assert_ptr_not_equal(m2, m);
    assert_ptr_equal(m2->dl_tensor.data, m->dl_tensor.data);
    m->deleter(m);
    assert_true(((float*)m2->dl_tensor.data)[5] == 1234.5f);
    m2->deleter(m2);
    aph_tensor_release(t);
}

static void test_export_dtypes(void** state) {
    (void)state;
    for (size_t i = 0; i < N_DTYPES; ++i) {
        const int64_t shape[] = {3, 2};
        aph_tensor* t = NULL;
        APH_ASSERT_OK(aph_tensor_zeros(g_cpu, DTYPES[i].dtype, shape, 2, &t));
        struct DLManagedTensorVersioned* m = NULL;
        APH_ASSERT_OK(aph_tensor_to_dlpack(t, &m));
        assert_int_equal(m->dl_tensor.dtype.code, DTYPES[i].code);
        assert_int_equal(m->dl_tensor.dtype.bits, DTYPES[i].bits);
        assert_int_equal(m->dl_tensor.dtype.lanes, 1);
        assert_describes(&m->dl_tensor, t);

        struct DLManagedTensor* u = NULL;
        APH_ASSERT_OK(aph_tensor_to_dlpack_unversioned(t, &u));
        assert_int_equal(u->dl_tensor.dtype.code, DTYPES[i].code);
        assert_int_equal(u->dl_tensor.dtype.bits, DTYPES[i].bits);
        assert_int_equal(u->dl_tensor.dtype.lanes, 1);
        assert_describes(&u->dl_tensor, t);

        /* And back: the dtype survives the round trip. */
        aph_tensor* back = NULL;
        APH_ASSERT_OK(aph_tensor_from_dlpack(m, &back));
        assert_int_equal(aph_tensor_dtype(back), DTYPES[i].dtype);
        assert_ptr_equal(aph_tensor_data(back), aph_tensor_data(t));
        aph_tensor* back_u = NULL;
        APH_ASSERT_OK(aph_tensor_from_dlpack_unversioned(u, &back_u));
        assert_int_equal(aph_tensor_dtype(back_u), DTYPES[i].dtype);
        assert_ptr_equal(aph_tensor_data(back_u), aph_tensor_data(t));
        aph_tensor_release(back);
        aph_tensor_release(back_u);
        aph_tensor_release(t);
    }
}

static void export_and_check(aph_tensor* view, const int64_t* want_strides, uint64_t want_offset) {
    struct DLManagedTensorVersioned* m = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack(view, &m));
    assert_describes(&m->dl_tensor, view);
    const size_t ndim = aph_tensor_ndim(view);
    assert_memory_equal(m->dl_tensor.strides, want_strides, ndim * sizeof(int64_t));
    assert_int_equal(m->dl_tensor.byte_offset, want_offset);
    m->deleter(m);

    struct DLManagedTensor* u = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack_unversioned(view, &u));
    assert_describes(&u->dl_tensor, view);
    assert_memory_equal(u->dl_tensor.strides, want_strides, ndim * sizeof(int64_t));
    assert_int_equal(u->dl_tensor.byte_offset, want_offset);
    u->deleter(u);
}

static void test_export_strided_views(void** state) {
    (void)state;
    const int64_t shape[] = {2, 3, 4};
    aph_tensor* t = f32_tensor(shape, 3);
    const void* base = aph_tensor_data(t);

    /* permute (2, 0, 1): shape [4, 2, 3], strides [1, 12, 4], no offset. */
    const int64_t perm[] = {2, 0, 1};
    aph_tensor* p = NULL;
    APH_ASSERT_OK(aph_tensor_permute(t, perm, 3, &p));
    const int64_t p_strides[] = {1, 12, 4};
    export_and_check(p, p_strides, 0);

    /* slice dim 1 [1, 3): shape [2, 2, 4], strides [12, 4, 1], offset 4 elements. */
    aph_tensor* s = NULL;
    APH_ASSERT_OK(aph_tensor_slice(t, 1, 1, 3, 1, &s));
    const int64_t s_strides[] = {12, 4, 1};
    export_and_check(s, s_strides, 16);
    struct DLManagedTensorVersioned* ms = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack(s, &ms));
    assert_ptr_equal(ms->dl_tensor.data, base); /* data is the storage base */
    ms->deleter(ms);

    /* slice dim 2 from 1 with step 2: strides [12, 4, 2], offset 1 element. */
    aph_tensor* s2 = NULL;
    APH_ASSERT_OK(aph_tensor_slice(t, 2, 1, 4, 2, &s2));
    const int64_t s2_strides[] = {12, 4, 2};
    export_and_check(s2, s2_strides, 4);

    /* a slice of a permutation: [4, 2, 3] narrowed on dim 0 from 2: offset 2 elements. */
    aph_tensor* ps = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(p, 0, 2, 2, &ps));
    export_and_check(ps, p_strides, 8);

    /* select index 1 on dim 0: [3, 4], strides [4, 1], offset 12 elements. */
    aph_tensor* sel = NULL;
    APH_ASSERT_OK(aph_tensor_select(t, 0, 1, &sel));
    const int64_t sel_strides[] = {4, 1};
    export_and_check(sel, sel_strides, 48);

    /* transpose of the selection: strides [1, 4]. */
    aph_tensor* tr = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(sel, 0, 1, &tr));
    const int64_t tr_strides[] = {1, 4};
    export_and_check(tr, tr_strides, 48);

    /* expand a [3, 1] column to [3, 5]: the broadcast dimension has stride 0. */
    const int64_t col_shape[] = {3, 1};
    aph_tensor* col = f32_tensor(col_shape, 2);
    const int64_t wide[] = {3, 5};
    aph_tensor* ex = NULL;
    APH_ASSERT_OK(aph_tensor_expand(col, wide, 2, &ex));
    const int64_t ex_strides[] = {1, 0};
    export_and_check(ex, ex_strides, 0);

    aph_tensor_release(ex);
    aph_tensor_release(col);
    aph_tensor_release(tr);
    aph_tensor_release(sel);
    aph_tensor_release(ps);
    aph_tensor_release(s2);
    aph_tensor_release(s);
    aph_tensor_release(p);
    aph_tensor_release(t);
}

static void test_export_zero_size_and_scalar(void** state) {
    (void)state;
    /* Zero-size: shape and strides still described. */
    const int64_t shape[] = {2, 0, 3};
    aph_tensor* z = NULL;
    APH_ASSERT_OK(aph_tensor_zeros(g_cpu, APH_DTYPE_I16, shape, 3, &z));
    assert_null(aph_tensor_data(z));
    struct DLManagedTensorVersioned* m = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack(z, &m));
    assert_int_equal(m->version.major, 1);
    assert_int_equal(m->dl_tensor.ndim, 3);
    assert_memory_equal(m->dl_tensor.shape, shape, sizeof shape);
    assert_non_null(m->dl_tensor.strides);
    assert_describes(&m->dl_tensor, z);
    /* ... and importable again. */
    aph_tensor* z2 = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack(m, &z2));
    assert_shape(z2, shape, 3);
    assert_int_equal(aph_tensor_numel(z2), 0);
    assert_null(aph_tensor_data(z2));
    aph_tensor_release(z2);
    struct DLManagedTensor* u = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack_unversioned(z, &u));
    assert_describes(&u->dl_tensor, z);
    u->deleter(u);
    aph_tensor_release(z);

    /* Empty views of tensors that have memory: still NULL data and no offset, though each view
     * has a storage with memory and (the second and third) a byte offset of their own. */
    const int64_t four[] = {4};
    aph_tensor* t4 = f32_tensor(four, 1);
    aph_tensor* tail = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(t4, 0, 1, 3, &tail));
    const int64_t s34[] = {3, 4};
    aph_tensor* t34 = f32_tensor(s34, 2);
    aph_tensor* empties[3] = {NULL, NULL, NULL};
    APH_ASSERT_OK(aph_tensor_slice(t4, 0, 2, 2, 1, &empties[0]));
    APH_ASSERT_OK(aph_tensor_slice(tail, 0, 1, 1, 1, &empties[1]));
    aph_tensor* rows = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(t34, 0, 1, 2, &rows));        /* [2, 4] at element 4 */
    APH_ASSERT_OK(aph_tensor_narrow(rows, 1, 2, 0, &empties[2])); /* [2, 0] */
    assert_int_equal(aph_tensor_byte_offset(empties[1]), 4);
    assert_int_equal(aph_tensor_byte_offset(empties[2]), 16);
    for (size_t i = 0; i < 3; ++i) {
        aph_tensor* e = empties[i];
        assert_int_equal(aph_tensor_numel(e), 0);
        APH_ASSERT_OK(aph_tensor_to_dlpack(e, &m));
        assert_null(m->dl_tensor.data);
        assert_int_equal(m->dl_tensor.byte_offset, 0);
        assert_int_equal(m->dl_tensor.ndim, (int32_t)aph_tensor_ndim(e));
        assert_memory_equal(m->dl_tensor.shape, aph_tensor_shape(e), aph_tensor_ndim(e) * sizeof(int64_t));
        assert_describes(&m->dl_tensor, e);
        m->deleter(m);
        APH_ASSERT_OK(aph_tensor_to_dlpack_unversioned(e, &u));
        assert_null(u->dl_tensor.data);
        assert_int_equal(u->dl_tensor.byte_offset, 0);
        assert_describes(&u->dl_tensor, e);
        u->deleter(u);
        aph_tensor_release(e);
    }
    aph_tensor_release(rows);
    aph_tensor_release(t34);
    aph_tensor_release(tail);
    aph_tensor_release(t4);

    /* 0-dimensional: one element, ndim 0. */
    const double v = -2.625;
    aph_tensor* sc = NULL;
    APH_ASSERT_OK(aph_tensor_from_host(g_cpu, APH_DTYPE_F64, NULL, 0, &v, sizeof v, &sc));
    APH_ASSERT_OK(aph_tensor_to_dlpack(sc, &m));
    assert_int_equal(m->dl_tensor.ndim, 0);
    assert_describes(&m->dl_tensor, sc);
    double got = 0;
    memcpy(&got, (char*)m->dl_tensor.data + m->dl_tensor.byte_offset, sizeof got);
    assert_true(got == v);
    aph_tensor_release(sc);
    memcpy(&got, (char*)m->dl_tensor.data + m->dl_tensor.byte_offset, sizeof got);
    assert_true(got == v); /* still alive through the export */
    m->deleter(m);

    APH_ASSERT_OK(aph_tensor_from_host(g_cpu, APH_DTYPE_F64, NULL, 0, &v, sizeof v, &sc));
    APH_ASSERT_OK(aph_tensor_to_dlpack_unversioned(sc, &u));
    assert_int_equal(u->dl_tensor.ndim, 0);
    assert_describes(&u->dl_tensor, sc);
    u->deleter(u);
    aph_tensor_release(sc);
}

typedef struct {
    struct DLManagedTensorVersioned* m;
    struct DLManagedTensor* u;
} deleter_job;

static void* call_deleter(void* p) {
    deleter_job* j = (deleter_job*)p;
    if (j->m) j->m->deleter(j->m);
    if (j->u) j->u->deleter(j->u);
    return NULL;
}

static void test_export_keeps_tensor_alive(void** state) {
    (void)state;
    /* Borrowed memory: the owner's deleter runs only once the export is deleted. */
    float data[12];
    fill_buf(data, 12);
    const int64_t shape[] = {3, 4};
    blob_owner o;
    aph_tensor* t = blob_tensor(data, shape, 2, &o);
    struct DLManagedTensorVersioned* m = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack(t, &m));
    struct DLManagedTensor* u = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack_unversioned(t, &u));
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&o.calls), 0);
    assert_ptr_equal(m->dl_tensor.data, data);
    assert_memory_equal(m->dl_tensor.shape, shape, sizeof shape);
    assert_int_equal(m->dl_tensor.strides[0], 4);
    assert_true(((float*)m->dl_tensor.data)[11] == data[11]);
    /* The deleters may run on any thread. */
    deleter_job job = {m, NULL};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, call_deleter, &job), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(atomic_load(&o.calls), 0); /* the unversioned export still holds it */
    assert_ptr_equal(u->dl_tensor.data, data);
    deleter_job job2 = {NULL, u};
    assert_int_equal(pthread_create(&th, NULL, call_deleter, &job2), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(atomic_load(&o.calls), 1);
    assert_ptr_equal(o.data, data);

    /* Library memory: it goes back to the allocator only when the export is deleted. */
    aph_memory_stats s0, s1, s2, s3;
    memset(&s0, 0, sizeof s0);
    s0.struct_size = s1.struct_size = s2.struct_size = s3.struct_size = sizeof s0;
    APH_ASSERT_OK(aph_device_memory_stats(g_cpu, &s0));
    const int64_t big[] = {256};
    aph_tensor* lt = f32_tensor(big, 1);
    APH_ASSERT_OK(aph_device_memory_stats(g_cpu, &s1));
    assert_int_equal(s1.allocated_bytes - s0.allocated_bytes, 1024);
    APH_ASSERT_OK(aph_tensor_to_dlpack(lt, &m));
    aph_tensor_release(lt);
    APH_ASSERT_OK(aph_device_memory_stats(g_cpu, &s2));
    assert_int_equal(s2.allocated_bytes, s1.allocated_bytes);
    for (int i = 0; i < 256; ++i) {
        assert_true(((float*)m->dl_tensor.data)[i] == (float)i * 0.75f - 5.0f);
    }
    m->deleter(m);
    APH_ASSERT_OK(aph_device_memory_stats(g_cpu, &s3));
    assert_int_equal(s3.allocated_bytes, s0.allocated_bytes);
}

static void test_export_errors(void** state) {
    (void)state;
    const int64_t shape[] = {2};
    aph_tensor* t = f32_tensor(shape, 1);
    struct DLManagedTensorVersioned* m = (struct DLManagedTensorVersioned*)(uintptr_t)0x77;
    APH_ASSERT_ERR(aph_tensor_to_dlpack(NULL, &m), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: tensor must not be NULL");
    assert_ptr_equal(m, (void*)(uintptr_t)0x77);
    APH_ASSERT_ERR(aph_tensor_to_dlpack(t, NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: out must not be NULL");
    struct DLManagedTensor* u = (struct DLManagedTensor*)(uintptr_t)0x77;
    APH_ASSERT_ERR(aph_tensor_to_dlpack_unversioned(NULL, &u), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: tensor must not be NULL");
    assert_ptr_equal(u, (void*)(uintptr_t)0x77);
    APH_ASSERT_ERR(aph_tensor_to_dlpack_unversioned(t, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    aph_tensor_release(t);
}

/* ---------------------------------------------------------------------------------------------
 * Import
 * ------------------------------------------------------------------------------------------- */

static void test_import_versioned_basic(void** state) {
    (void)state;
    float* buf = malloc(64 * sizeof(float));
    assert_non_null(buf);
    fill_buf(buf, 64);
    const int64_t shape[] = {3, 4};
    producer p;
    producer_init(&p, buf, kDLFloat, 32, shape, 2, NULL, 2 * sizeof(float));
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
    assert_non_null(t);
    assert_int_equal(atomic_load(&p.deleted), 0);
    assert_ptr_equal(aph_tensor_data(t), buf + 2); /* data + byte_offset, no copy */
    assert_int_equal(aph_tensor_dtype(t), APH_DTYPE_F32);
    assert_shape(t, shape, 2);
    const int64_t strides[] = {4, 1};
    assert_strides(t, strides, 2); /* NULL strides: row-major */
    assert_int_equal(aph_tensor_is_contiguous(t), 1);
    assert_int_equal(aph_tensor_is_read_only(t), 0);
    assert_int_equal(aph_tensor_numel(t), 12);
    assert_int_equal(aph_tensor_nbytes(t), 48);
    assert_int_equal(aph_device_get_kind(aph_tensor_device(t)), APH_DEVICE_CPU);
    assert_ptr_equal(aph_tensor_device(t), g_cpu);

    float back[12];
    APH_ASSERT_OK(aph_tensor_to_host(t, back, sizeof back));
    assert_memory_equal(back, buf + 2, sizeof back);

    /* Writes go to the producer's memory. */
    float w[12];
    for (int i = 0; i < 12; ++i) w[i] = -(float)i;
    APH_ASSERT_OK(aph_tensor_copy_from_host(t, w, sizeof w));
    assert_memory_equal(buf + 2, w, sizeof w);
    assert_true(buf[1] == 1.25f * 1 + 0.5f);   /* before the first element: untouched */
    assert_true(buf[14] == 1.25f * 14 + 0.5f); /* after the last: untouched */

    aph_tensor_retain(t);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 0);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 1);
    assert_ptr_equal(p.last_self, &p.m);
    free(buf);
}

static void test_import_strided(void** state) {
    (void)state;
    float buf[64];
    fill_buf(buf, 64);
    /* Column-major [3, 4] starting 2 elements in: (i, j) is buf[2 + i + 3 j]. */
    const int64_t shape[] = {3, 4};
    const int64_t strides[] = {1, 3};
    producer p;
    producer_init(&p, buf, kDLFloat, 32, shape, 2, strides, 8);
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
    assert_ptr_equal(aph_tensor_data(t), buf + 2);
    assert_shape(t, shape, 2);
    assert_strides(t, strides, 2);
    assert_int_equal(aph_tensor_is_contiguous(t), 0);
    float back[12], want[12];
    for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 4; ++j) want[i * 4 + j] = buf[2 + i + 3 * j];
    }
    APH_ASSERT_OK(aph_tensor_to_host(t, back, sizeof back));
    assert_memory_equal(back, want, sizeof want);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 1);

    /* A broadcast (stride 0) dimension: every row is the same memory. */
    const int64_t bshape[] = {2, 3};
    const int64_t bstrides[] = {0, 1};
    producer_init(&p, buf, kDLFloat, 32, bshape, 2, bstrides, 0);
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
    assert_strides(t, bstrides, 2);
    float b6[6];
    APH_ASSERT_OK(aph_tensor_to_host(t, b6, sizeof b6));
    for (int j = 0; j < 3; ++j) {
        assert_true(b6[j] == buf[j]);
        assert_true(b6[3 + j] == buf[j]);
    }
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 1);

    /* A size-1 dimension may have any stride, even INT64_MAX: it never moves the address. */
    const int64_t one[] = {1, 3};
    const int64_t one_strides[] = {INT64_MAX, 1};
    producer_init(&p, buf, kDLFloat, 32, one, 2, one_strides, 4);
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
    assert_strides(t, one_strides, 2);
    assert_ptr_equal(aph_tensor_data(t), buf + 1);
    assert_int_equal(aph_tensor_is_contiguous(t), 1);
    float b3[3];
    APH_ASSERT_OK(aph_tensor_to_host(t, b3, sizeof b3));
    assert_memory_equal(b3, buf + 1, sizeof b3);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 1);
    const int64_t one_d[] = {1};
    const int64_t max_stride[] = {INT64_MAX};
    producer_init(&p, buf, kDLFloat, 32, one_d, 1, max_stride, 0);
    aph_tensor* tu = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack_unversioned(&p.u, &tu));
    assert_strides(tu, max_stride, 1);
    assert_ptr_equal(aph_tensor_data(tu), buf);
    aph_tensor_release(tu);
    assert_int_equal(atomic_load(&p.deleted), 1);

    /* Explicit row-major strides are the same as NULL. */
    const int64_t rm[] = {4, 1};
    producer_init(&p, buf, kDLFloat, 32, shape, 2, rm, 0);
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
    assert_int_equal(aph_tensor_is_contiguous(t), 1);
    APH_ASSERT_OK(aph_tensor_to_host(t, back, sizeof back));
    assert_memory_equal(back, buf, sizeof back);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 1);
}

static void test_import_views_last_reference(void** state) {
    (void)state;
    float buf[24];
    fill_buf(buf, 24);
    const int64_t shape[] = {4, 6};
    producer p;
    producer_f32(&p, buf, shape, 2);
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));

    aph_tensor* sl = NULL;
    APH_ASSERT_OK(aph_tensor_slice(t, 1, 1, 5, 2, &sl)); /* [4, 2], columns 1 and 3 */
    aph_tensor* tr = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(sl, 0, 1, &tr));
    const int64_t flat[] = {24};
    aph_tensor* rs = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(t, flat, 1, &rs));
    assert_ptr_equal(aph_tensor_data(sl), buf + 1);
    assert_ptr_equal(aph_tensor_data(tr), buf + 1);
    assert_ptr_equal(aph_tensor_data(rs), buf);
    assert_int_equal(aph_tensor_shares_storage(t, tr), 1);
    assert_int_equal(aph_tensor_shares_storage(rs, sl), 1);
    float two[8];
    APH_ASSERT_OK(aph_tensor_to_host(tr, two, sizeof two));
    for (int j = 0; j < 4; ++j) {
        assert_true(two[j] == buf[j * 6 + 1]);
        assert_true(two[4 + j] == buf[j * 6 + 3]);
    }

    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 0);
    aph_tensor_release(sl);
    assert_int_equal(atomic_load(&p.deleted), 0);
    aph_tensor_release(rs);
    assert_int_equal(atomic_load(&p.deleted), 0);
    /* The last view still reads the producer's memory. */
    APH_ASSERT_OK(aph_tensor_to_host(tr, two, sizeof two));
    assert_true(two[0] == buf[1]);
    aph_tensor_release(tr);
    assert_int_equal(atomic_load(&p.deleted), 1);
    assert_ptr_equal(p.last_self, &p.m);
    assert_true(pthread_equal(p.last_thread, pthread_self()));
}

static void* release_tensor(void* t) {
    aph_tensor_release((aph_tensor*)t);
    return NULL;
}

static void test_import_released_on_another_thread(void** state) {
    (void)state;
    float buf[8];
    fill_buf(buf, 8);
    const int64_t shape[] = {8};
    producer p;
    producer_f32(&p, buf, shape, 1);
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, release_tensor, t), 0);
    pthread_t worker = th;
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(atomic_load(&p.deleted), 1);
    /* Called from the thread that dropped the last reference. */
    assert_true(pthread_equal(p.last_thread, worker));
    assert_false(pthread_equal(p.last_thread, pthread_self()));
}

static void test_import_zero_size_and_scalar(void** state) {
    (void)state;
    float buf[4];
    fill_buf(buf, 4);
    const int64_t shape[] = {0, 5};
    producer p;
    producer_f32(&p, buf, shape, 2);
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
    assert_shape(t, shape, 2);
    assert_int_equal(aph_tensor_numel(t), 0);
    assert_int_equal(aph_tensor_nbytes(t), 0);
    assert_null(aph_tensor_data(t));
    assert_int_equal(aph_tensor_is_contiguous(t), 1);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 1);

    /* Zero-size with a NULL data pointer. */
    producer_init(&p, NULL, kDLFloat, 32, shape, 2, NULL, 0);
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
    assert_int_equal(aph_tensor_numel(t), 0);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 1);

    /* 0-dimensional: shape and strides NULL, one element. */
    int64_t v64[3] = {11, -42, 13};
    producer_init(&p, v64, kDLInt, 64, NULL, 0, NULL, sizeof(int64_t));
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
    assert_int_equal(aph_tensor_ndim(t), 0);
    assert_int_equal(aph_tensor_numel(t), 1);
    assert_int_equal(aph_tensor_dtype(t), APH_DTYPE_I64);
    assert_ptr_equal(aph_tensor_data(t), &v64[1]);
    int64_t got = 0;
    APH_ASSERT_OK(aph_tensor_to_host(t, &got, sizeof got));
    assert_int_equal(got, -42);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 1);
}

static void test_import_dtypes(void** state) {
    (void)state;
    unsigned char varied[64], bools[64];
    for (int i = 0; i < 64; ++i) {
        varied[i] = (unsigned char)(i * 37 + 5);
        bools[i] = (unsigned char)((i * 7 / 3) % 2); /* bool elements are 0 or 1 */
    }
    for (size_t i = 0; i < N_DTYPES; ++i) {
        unsigned char* bytes = DTYPES[i].dtype == APH_DTYPE_BOOL ? bools : varied;
        const int64_t shape[] = {4};
        producer p;
        producer_init(&p, bytes, DTYPES[i].code, DTYPES[i].bits, shape, 1, NULL, 0);
        aph_tensor* t = NULL;
        APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
        assert_int_equal(aph_tensor_dtype(t), DTYPES[i].dtype);
        assert_int_equal(aph_tensor_nbytes(t), 4 * aph_dtype_size(DTYPES[i].dtype));
        assert_ptr_equal(aph_tensor_data(t), bytes);
        unsigned char back[32];
        APH_ASSERT_OK(aph_tensor_to_host(t, back, (size_t)aph_tensor_nbytes(t)));
        assert_memory_equal(back, bytes, (size_t)aph_tensor_nbytes(t));
        aph_tensor_release(t);
        assert_int_equal(atomic_load(&p.deleted), 1);

        /* The unversioned struct too. */
        producer_init(&p, bytes, DTYPES[i].code, DTYPES[i].bits, shape, 1, NULL, 0);
        APH_ASSERT_OK(aph_tensor_from_dlpack_unversioned(&p.u, &t));
        assert_int_equal(aph_tensor_dtype(t), DTYPES[i].dtype);
        aph_tensor_release(t);
        assert_int_equal(atomic_load(&p.deleted), 1);
        assert_ptr_equal(p.last_self, &p.u);
    }
}

static void test_import_accepted_variants(void** state) {
    (void)state;
    float buf[16];
    fill_buf(buf, 16);
    const int64_t shape[] = {4, 4};
    producer p;
    aph_tensor* t = NULL;

    /* Any minor version of major 1. */
    const uint32_t minors[] = {0, 7};
    for (int i = 0; i < 2; ++i) {
        producer_f32(&p, buf, shape, 2);
        p.m.version.minor = minors[i];
        APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
        assert_ptr_equal(aph_tensor_data(t), buf);
        aph_tensor_release(t);
        assert_int_equal(atomic_load(&p.deleted), 1);
    }

    /* kDLCUDAHost memory is host memory: a CPU tensor. */
    producer_f32(&p, buf, shape, 2);
    p.m.dl_tensor.device.device_type = kDLCUDAHost;
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
    assert_int_equal(aph_device_get_kind(aph_tensor_device(t)), APH_DEVICE_CPU);
    assert_ptr_equal(aph_tensor_data(t), buf);
    float back[16];
    APH_ASSERT_OK(aph_tensor_to_host(t, back, sizeof back));
    assert_memory_equal(back, buf, sizeof back);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 1);

    /* Exactly APH_TENSOR_MAX_DIMS dimensions. */
    int64_t many[APH_TENSOR_MAX_DIMS];
    for (int i = 0; i < APH_TENSOR_MAX_DIMS; ++i) many[i] = 1;
    many[0] = 2;
    many[APH_TENSOR_MAX_DIMS - 1] = 8;
    producer_f32(&p, buf, many, APH_TENSOR_MAX_DIMS);
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
    assert_int_equal(aph_tensor_ndim(t), APH_TENSOR_MAX_DIMS);
    assert_int_equal(aph_tensor_numel(t), 16);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 1);

    /* Other flags (IS_COPIED) do not matter. */
    producer_f32(&p, buf, shape, 2);
    p.m.flags = DLPACK_FLAG_BITMASK_IS_COPIED;
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
    assert_int_equal(aph_tensor_is_read_only(t), 0);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 1);
}

/* Asserts that importing p (versioned, and unversioned when also_u) fails with code, a
 * message starting with prefix and containing part, writes nothing and leaves p owned by us. */
static void expect_rejected(producer* p, int also_u, aph_status code, const char* prefix, const char* part) {
    aph_tensor* out = SENTINEL_TENSOR;
    APH_ASSERT_ERR_CONTAINS(aph_tensor_from_dlpack(&p->m, &out), code, part);
    if (strncmp(aph_last_error(), prefix, strlen(prefix)) != 0) {
        print_error("message '%s' does not start with '%s'\n", aph_last_error(), prefix);
        fail();
    }
    assert_ptr_equal(out, SENTINEL_TENSOR);
    assert_int_equal(atomic_load(&p->deleted), 0);
    if (also_u) {
        APH_ASSERT_ERR_CONTAINS(aph_tensor_from_dlpack_unversioned(&p->u, &out), code, part);
        if (strncmp(aph_last_error(), prefix, strlen(prefix)) != 0) {
            print_error("message '%s' does not start with '%s'\n", aph_last_error(), prefix);
            fail();
        }
        assert_ptr_equal(out, SENTINEL_TENSOR);
        assert_int_equal(atomic_load(&p->deleted), 0);
    }
}

#define NI "not implemented: "
#define IA "invalid argument: "

static void test_import_rejections(void** state) {
    (void)state;
    float buf[16];
    fill_buf(buf, 16);
    const int64_t shape[] = {3, 4};
    producer p;

    producer_f32(&p, buf, shape, 2);
    p.m.dl_tensor.dtype.lanes = 2;
    p.u.dl_tensor.dtype.lanes = 2;
    expect_rejected(&p, 1, APH_ERR_NOT_IMPLEMENTED, NI, "lanes");

    /* Valid DLPack dtypes libaphelion has no dtype for. */
    const struct {
        uint8_t code, bits;
    } unsupported[] = {
        {kDLComplex, 64},    {kDLComplex, 128},       {kDLUInt, 16},         {kDLUInt, 64},
        {kDLFloat8_e4m3, 8}, {kDLFloat8_e5m2fnuz, 8}, {kDLFloat4_e2m1fn, 4},
    };
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; ++i) {
        producer_init(&p, buf, unsupported[i].code, unsupported[i].bits, shape, 2, NULL, 0);
        expect_rejected(&p, 1, APH_ERR_NOT_IMPLEMENTED, NI, "dtype");
    }

    /* Devices libaphelion does not drive. */
    const DLDeviceType others[] = {kDLVulkan, kDLROCM, kDLMetal, kDLOpenCL};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; ++i) {
        producer_f32(&p, buf, shape, 2);
        p.m.dl_tensor.device.device_type = others[i];
        p.u.dl_tensor.device.device_type = others[i];
        expect_rejected(&p, 1, APH_ERR_NOT_IMPLEMENTED, NI, "device");
    }

    /* CUDA devices that are not there. */
    int32_t cuda = 0;
    APH_ASSERT_OK(aph_device_count(APH_DEVICE_CUDA, &cuda));
    if (cuda == 0) {
        producer_f32(&p, buf, shape, 2);
        p.m.dl_tensor.device.device_type = kDLCUDA;
        p.u.dl_tensor.device.device_type = kDLCUDA;
        expect_rejected(&p, 1, APH_ERR_DEVICE_NOT_AVAILABLE, "device not available: cuda:0", "cuda:0");
        assert_string_equal(aph_last_error(), "device not available: cuda:0");
        producer_f32(&p, buf, shape, 2);
        p.m.dl_tensor.device.device_type = kDLCUDAManaged;
        p.u.dl_tensor.device.device_type = kDLCUDAManaged;
        expect_rejected(&p, 1, APH_ERR_DEVICE_NOT_AVAILABLE, "device not available: cuda:0", "cuda:0");
    }
    producer_f32(&p, buf, shape, 2);
    p.m.dl_tensor.device.device_type = kDLCUDA;
    p.m.dl_tensor.device.device_id = 5 + cuda;
    expect_rejected(&p, 0, APH_ERR_DEVICE_NOT_AVAILABLE, "device not available: cuda:", "cuda:");

    /* Malformed structs. */
    int64_t seventeen[APH_TENSOR_MAX_DIMS + 1];
    for (int i = 0; i <= APH_TENSOR_MAX_DIMS; ++i) seventeen[i] = 1;
    producer_f32(&p, buf, seventeen, APH_TENSOR_MAX_DIMS + 1);
    expect_rejected(&p, 1, APH_ERR_INVALID_ARGUMENT, IA, "ndim");

    producer_f32(&p, buf, shape, 2);
    p.m.dl_tensor.ndim = -1;
    p.u.dl_tensor.ndim = -1;
    expect_rejected(&p, 1, APH_ERR_INVALID_ARGUMENT, IA, "ndim");

    producer_f32(&p, buf, shape, 2);
    p.m.dl_tensor.shape = NULL;
    p.u.dl_tensor.shape = NULL;
    expect_rejected(&p, 1, APH_ERR_INVALID_ARGUMENT, IA, "shape");

    const int64_t negative[] = {3, -4};
    producer_f32(&p, buf, negative, 2);
    expect_rejected(&p, 1, APH_ERR_INVALID_ARGUMENT, IA, "shape");

    /* NULL data for a tensor that has elements. */
    producer_init(&p, NULL, kDLFloat, 32, shape, 2, NULL, 0);
    expect_rejected(&p, 1, APH_ERR_INVALID_ARGUMENT, IA, "data");

    /* Negative strides are valid DLPack that libaphelion does not support: the header makes
     * them APH_ERR_NOT_IMPLEMENTED, naming the strides. -1 too (numpy's reversed views). */
    const int64_t neg_strides[] = {-4, 1};
    producer_init(&p, buf + 8, kDLFloat, 32, shape, 2, neg_strides, 0);
    expect_rejected(&p, 1, APH_ERR_NOT_IMPLEMENTED, NI, "strides");
    const int64_t neg_inner[] = {4, -1};
    producer_init(&p, buf + 3, kDLFloat, 32, shape, 2, neg_inner, 0);
    expect_rejected(&p, 1, APH_ERR_NOT_IMPLEMENTED, NI, "strides");
    const int64_t five[] = {5};
    const int64_t minus_one[] = {-1};
    producer_init(&p, buf + 4, kDLFloat, 32, five, 1, minus_one, 0);
    expect_rejected(&p, 1, APH_ERR_NOT_IMPLEMENTED, NI, "strides");
    /* Strides whose span does not fit a signed 64-bit byte offset are malformed. */
    const int64_t three[] = {3};
    const int64_t too_far[] = {INT64_MAX};
    producer_init(&p, buf, kDLUInt, 8, three, 1, too_far, 0);
    expect_rejected(&p, 1, APH_ERR_INVALID_ARGUMENT, IA, "strides");
    aph_tensor* out = SENTINEL_TENSOR;

    /* NULL arguments. */
    APH_ASSERT_ERR(aph_tensor_from_dlpack(NULL, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: src must not be NULL");
    APH_ASSERT_ERR(aph_tensor_from_dlpack_unversioned(NULL, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: src must not be NULL");
    assert_ptr_equal(out, SENTINEL_TENSOR);
    producer_f32(&p, buf, shape, 2);
    APH_ASSERT_ERR(aph_tensor_from_dlpack(&p.m, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_tensor_from_dlpack_unversioned(&p.u, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    assert_int_equal(atomic_load(&p.deleted), 0);

    /* After all that, the same producer is still ours and still importable, exactly once. */
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 1);
}

/* A DLPack major version libaphelion does not read: a valid struct of an unsupported version,
 * like the unsupported dtypes and devices: APH_ERR_NOT_IMPLEMENTED naming the version. */
static void test_import_rejects_major_version_2(void** state) {
    (void)state;
    float buf[16];
    fill_buf(buf, 16);
    const int64_t shape[] = {3, 4};
    producer p;
    producer_f32(&p, buf, shape, 2);
    p.m.version.major = 2;
    p.m.version.minor = 0;
    expect_rejected(&p, 0, APH_ERR_NOT_IMPLEMENTED, NI, "version");
    /* Major 0 is no DLPack 1.x struct either. */
    producer_f32(&p, buf, shape, 2);
    p.m.version.major = 0;
    aph_tensor* out = SENTINEL_TENSOR;
    assert_int_not_equal(aph_tensor_from_dlpack(&p.m, &out), APH_OK);
    assert_ptr_equal(out, SENTINEL_TENSOR);
    assert_int_equal(atomic_load(&p.deleted), 0);
}

/* A [2, 3] f32 tensor imported with DLPack's READ_ONLY flag over buf (random; orig keeps a
 * copy), produced by p. */
static aph_tensor* import_read_only(producer* p, float buf[6], float orig[6]) {
    fill_buf(buf, 6);
    memcpy(orig, buf, 6 * sizeof(float));
    static const int64_t shape[] = {2, 3};
    producer_f32(p, buf, shape, 2);
    p->m.flags = DLPACK_FLAG_BITMASK_READ_ONLY;
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p->m, &t));
    assert_int_equal(aph_tensor_is_read_only(t), 1);
    return t;
}

static void test_import_read_only(void** state) {
    (void)state;
    float buf[6], orig[6];
    producer p;
    aph_tensor* t = import_read_only(&p, buf, orig);
    const int64_t shape[] = {2, 3};
    assert_ptr_equal(aph_tensor_data(t), buf);

    /* Reading is fine. */
    float back[6];
    APH_ASSERT_OK(aph_tensor_to_host(t, back, sizeof back));
    assert_memory_equal(back, orig, sizeof orig);

    /* Writing is refused, and the memory is untouched. */
    const float w[6] = {9, 9, 9, 9, 9, 9};
    assert_int_not_equal(aph_tensor_copy_from_host(t, w, sizeof w), APH_OK);
    assert_true(strlen(aph_last_error()) > 0);
    assert_int_not_equal(aph_tensor_copy_from_host_async(t, w, sizeof w, NULL), APH_OK);
    aph_tensor* src = NULL;
    APH_ASSERT_OK(aph_tensor_from_host(g_cpu, APH_DTYPE_F32, shape, 2, w, sizeof w, &src));
    assert_int_not_equal(aph_tensor_copy(t, src), APH_OK);
    assert_memory_equal(buf, orig, sizeof orig);
    /* As a source it is fine. */
    APH_ASSERT_OK(aph_tensor_copy(src, t));
    APH_ASSERT_OK(aph_tensor_to_host(src, back, sizeof back));
    assert_memory_equal(back, orig, sizeof orig);

    /* No writable pointer to it. */
    void* wp = SENTINEL_PTR;
    APH_ASSERT_ERR(aph_tensor_data_mut(t, &wp), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: tensor is read-only (memory-mapped weights or a read-only DLPack import); "
                   "copy it to write");
    assert_ptr_equal(wp, SENTINEL_PTR);

    /* Views of it are read-only too. */
    aph_tensor* v = NULL;
    APH_ASSERT_OK(aph_tensor_select(t, 0, 1, &v));
    assert_int_equal(aph_tensor_is_read_only(v), 1);
    assert_int_not_equal(aph_tensor_data_mut(v, &wp), APH_OK);
    assert_ptr_equal(wp, SENTINEL_PTR);
    assert_int_not_equal(aph_tensor_copy_from_host(v, w, 3 * sizeof(float)), APH_OK);
    assert_memory_equal(buf, orig, sizeof orig);
    aph_tensor_release(v);

    /* Exported again, it says so. */
    struct DLManagedTensorVersioned* m = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack(t, &m));
    assert_true((m->flags & DLPACK_FLAG_BITMASK_READ_ONLY) != 0);
    assert_ptr_equal((char*)m->dl_tensor.data + m->dl_tensor.byte_offset, buf);
    aph_tensor_release(t);
    aph_tensor_release(src);
    assert_int_equal(atomic_load(&p.deleted), 0); /* the export holds it */
    /* Imported back, still read-only. */
    aph_tensor* again = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack(m, &again));
    assert_int_equal(aph_tensor_is_read_only(again), 1);
    aph_tensor_release(again);
    assert_int_equal(atomic_load(&p.deleted), 1);

    /* Without the flag: writable. */
    producer_f32(&p, buf, shape, 2);
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
    assert_int_equal(aph_tensor_is_read_only(t), 0);
    APH_ASSERT_OK(aph_tensor_copy_from_host(t, w, sizeof w));
    assert_memory_equal(buf, w, sizeof w);
    assert_ptr_equal(aph_test_data_mut(t), buf); /* the writable pointer is the memory itself */
    aph_tensor_release(t);
    assert_int_equal(aph_tensor_is_read_only(NULL), 0);
    APH_ASSERT_ERR(aph_tensor_data_mut(NULL, &wp), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: tensor must not be NULL");
    assert_ptr_equal(wp, SENTINEL_PTR);
}

static void test_import_unversioned(void** state) {
    (void)state;
    float buf[12];
    fill_buf(buf, 12);
    const int64_t shape[] = {4, 3};
    producer p;
    producer_f32(&p, buf, shape, 2);
    p.u.dl_tensor.byte_offset = sizeof(float);
    const int64_t three[] = {3, 3};
    p.u.dl_tensor.shape[0] = 3;
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack_unversioned(&p.u, &t));
    assert_ptr_equal(aph_tensor_data(t), buf + 1);
    assert_shape(t, three, 2);
    const int64_t strides[] = {3, 1};
    assert_strides(t, strides, 2);
    assert_int_equal(aph_tensor_is_read_only(t), 0);
    float back[9];
    APH_ASSERT_OK(aph_tensor_to_host(t, back, sizeof back));
    assert_memory_equal(back, buf + 1, sizeof back);

    aph_tensor* col = NULL;
    APH_ASSERT_OK(aph_tensor_select(t, 1, 2, &col));
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 0);
    aph_tensor_release(col);
    assert_int_equal(atomic_load(&p.deleted), 1);
    assert_ptr_equal(p.last_self, &p.u);

    /* A NULL deleter is allowed: nothing to call. */
    producer_f32(&p, buf, shape, 2);
    p.u.deleter = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack_unversioned(&p.u, &t));
    float back12[12];
    APH_ASSERT_OK(aph_tensor_to_host(t, back12, sizeof back12));
    assert_memory_equal(back12, buf, sizeof back12);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 0);
}

static void test_import_versioned_null_deleter(void** state) {
    (void)state;
    float buf[4];
    fill_buf(buf, 4);
    const int64_t shape[] = {4};
    producer p;
    producer_f32(&p, buf, shape, 1);
    p.m.deleter = NULL;
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
    assert_ptr_equal(aph_tensor_data(t), buf);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 0);
}

/* ---------------------------------------------------------------------------------------------
 * Round trips
 * ------------------------------------------------------------------------------------------- */

static void test_round_trip_export_import(void** state) {
    (void)state;
    float data[20];
    fill_buf(data, 20);
    const int64_t shape[] = {4, 5};
    blob_owner o;
    aph_tensor* t = blob_tensor(data, shape, 2, &o);

    /* Versioned. */
    struct DLManagedTensorVersioned* m = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack(t, &m));
    aph_tensor* t2 = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack(m, &t2));
    assert_ptr_equal(aph_tensor_data(t2), data);
    assert_shape(t2, shape, 2);
    const int64_t strides[] = {5, 1};
    assert_strides(t2, strides, 2);

    /* Unversioned, of a strided view. */
    aph_tensor* view = NULL;
    APH_ASSERT_OK(aph_tensor_slice(t, 1, 1, 5, 2, &view));
    struct DLManagedTensor* u = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack_unversioned(view, &u));
    aph_tensor* t3 = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack_unversioned(u, &t3));
    assert_ptr_equal(aph_tensor_data(t3), data + 1);
    assert_shape(t3, aph_tensor_shape(view), 2);
    assert_strides(t3, aph_tensor_strides(view), 2);
    float a[8], b[8];
    APH_ASSERT_OK(aph_tensor_to_host(view, a, sizeof a));
    APH_ASSERT_OK(aph_tensor_to_host(t3, b, sizeof b));
    assert_memory_equal(a, b, sizeof a);

    aph_tensor_release(view);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&o.calls), 0);
    /* Writes through one import reach the original memory. */
    float w[20];
    for (int i = 0; i < 20; ++i) w[i] = (float)(100 + i);
    APH_ASSERT_OK(aph_tensor_copy_from_host(t2, w, sizeof w));
    assert_memory_equal(data, w, sizeof w);
    aph_tensor_release(t2);
    assert_int_equal(atomic_load(&o.calls), 0); /* t3 still holds it through u */
    aph_tensor_release(t3);
    assert_int_equal(atomic_load(&o.calls), 1);
    assert_ptr_equal(o.data, data);
}

static void test_round_trip_import_export(void** state) {
    (void)state;
    float buf[10];
    fill_buf(buf, 10);
    const int64_t shape[] = {2, 4};
    producer p;
    producer_init(&p, buf, kDLFloat, 32, shape, 2, NULL, 2 * sizeof(float));
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));

    struct DLManagedTensorVersioned* m = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack(t, &m));
    assert_ptr_equal((char*)m->dl_tensor.data + m->dl_tensor.byte_offset, buf + 2);
    assert_describes(&m->dl_tensor, t);
    struct DLManagedTensor* u = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack_unversioned(t, &u));
    assert_ptr_equal((char*)u->dl_tensor.data + u->dl_tensor.byte_offset, buf + 2);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 0);

    /* Import the export again (libaphelion on both sides), then drop everything. */
    aph_tensor* t2 = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack(m, &t2));
    assert_ptr_equal(aph_tensor_data(t2), buf + 2);
    float back[8];
    APH_ASSERT_OK(aph_tensor_to_host(t2, back, sizeof back));
    assert_memory_equal(back, buf + 2, sizeof back);
    u->deleter(u);
    assert_int_equal(atomic_load(&p.deleted), 0);
    aph_tensor_release(t2);
    assert_int_equal(atomic_load(&p.deleted), 1);
    assert_ptr_equal(p.last_self, &p.m);
}

/* The unversioned struct has no flags, so it cannot say read-only: exporting a read-only tensor
 * through it handed out writable memory (any consumer, libaphelion itself included, imports a
 * DLManagedTensor as writable). It is refused, as numpy refuses; the versioned export works. */
static void test_export_read_only_unversioned(void** state) {
    (void)state;
    float buf[6], orig[6];
    producer p;
    aph_tensor* t = import_read_only(&p, buf, orig);
    aph_tensor* v = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(t, 0, 1, &v));

    aph_tensor* handles[] = {t, v};
    for (size_t h = 0; h < 2; ++h) {
        struct DLManagedTensor* u = (struct DLManagedTensor*)SENTINEL_TENSOR;
        APH_ASSERT_ERR_CONTAINS(aph_tensor_to_dlpack_unversioned(handles[h], &u), APH_ERR_INVALID_ARGUMENT,
                                "read-only");
        assert_ptr_equal(u, (struct DLManagedTensor*)SENTINEL_TENSOR);
    }
    /* The versioned export says READ_ONLY. */
    struct DLManagedTensorVersioned* m = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack(v, &m));
    assert_true((m->flags & DLPACK_FLAG_BITMASK_READ_ONLY) != 0);
    m->deleter(m);
    aph_tensor_release(v);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&p.deleted), 1);
    assert_memory_equal(buf, orig, sizeof orig);
}

/* Broadcast (stride 0) imports whose element or byte count does not fit 64 bits are refused
 * (never wrapped into a small nbytes), as are byte offsets that wrap; the caller keeps
 * ownership. */
static void test_import_size_and_offset_overflow(void** state) {
    (void)state;
    double buf[2] = {1.5, 2.5};
    producer p;
    const int64_t shape[] = {((int64_t)1 << 61) + 1};
    const int64_t strides[] = {0};
    producer_init(&p, buf, kDLFloat, 64, shape, 1, strides, 0);
    aph_tensor* out = SENTINEL_TENSOR;
    APH_ASSERT_ERR_CONTAINS(aph_tensor_from_dlpack(&p.m, &out), APH_ERR_INVALID_ARGUMENT, "shape");
    assert_ptr_equal(out, SENTINEL_TENSOR);
    /* Shapes whose product overflows int64_t (numel is computed before anything else). */
    const int64_t big[] = {(int64_t)1 << 62, (int64_t)1 << 62};
    const int64_t zeros[] = {0, 0};
    producer_init(&p, buf, kDLFloat, 64, big, 2, zeros, 0);
    assert_int_equal(aph_tensor_from_dlpack(&p.m, &out), APH_ERR_INVALID_ARGUMENT);
    assert_int_equal(aph_tensor_from_dlpack_unversioned(&p.u, &out), APH_ERR_INVALID_ARGUMENT);
    assert_ptr_equal(out, SENTINEL_TENSOR);
    assert_int_equal(atomic_load(&p.deleted), 0);

    /* A byte_offset that wraps the address space (here back to 8 bytes before data) is a
     * malformed struct, not a tensor in front of the producer's memory. */
    float fbuf[8] = {0};
    const int64_t two[] = {2};
    producer_init(&p, fbuf + 4, kDLFloat, 32, two, 1, NULL, (uint64_t)0 - 8);
    APH_ASSERT_ERR_CONTAINS(aph_tensor_from_dlpack(&p.m, &out), APH_ERR_INVALID_ARGUMENT, "byte_offset");
    APH_ASSERT_ERR_CONTAINS(aph_tensor_from_dlpack_unversioned(&p.u, &out), APH_ERR_INVALID_ARGUMENT, "byte_offset");
    assert_ptr_equal(out, SENTINEL_TENSOR);
    assert_int_equal(atomic_load(&p.deleted), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_versioned_basic),
        cmocka_unit_test(test_export_dtypes),
        cmocka_unit_test(test_export_strided_views),
        cmocka_unit_test(test_export_zero_size_and_scalar),
        cmocka_unit_test(test_export_keeps_tensor_alive),
        cmocka_unit_test(test_export_errors),
        cmocka_unit_test(test_import_versioned_basic),
        cmocka_unit_test(test_import_strided),
        cmocka_unit_test(test_import_views_last_reference),
        cmocka_unit_test(test_import_released_on_another_thread),
        cmocka_unit_test(test_import_zero_size_and_scalar),
        cmocka_unit_test(test_import_dtypes),
        cmocka_unit_test(test_import_accepted_variants),
        cmocka_unit_test(test_import_rejections),
        cmocka_unit_test(test_import_rejects_major_version_2),
        cmocka_unit_test(test_import_read_only),
        cmocka_unit_test(test_import_unversioned),
        cmocka_unit_test(test_import_versioned_null_deleter),
        cmocka_unit_test(test_round_trip_export_import),
        cmocka_unit_test(test_round_trip_import_export),
        cmocka_unit_test(test_export_read_only_unversioned),
        cmocka_unit_test(test_import_size_and_offset_overflow),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
