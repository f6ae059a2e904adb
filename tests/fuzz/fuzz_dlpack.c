/* Fuzz target: DLPack import of arbitrary descriptors (aph_tensor_from_dlpack and
 * aph_tensor_from_dlpack_unversioned): versions, flags, devices, dtypes, lanes, ndim, shapes,
 * strides (or none), byte offsets, and data pointing into a real 4 KiB buffer or NULL.
 *
 * The promises checked: on failure the caller keeps the tensor (its deleter is not called); on
 * success the deleter runs exactly once, when the last reference goes; the tensor describes
 * exactly the producer's layout (shape, strides, data + byte_offset, read-only flag); when the
 * layout lies inside the buffer, the elements read back are the ones the strides select; and
 * exporting it again gives the same description.
 *
 * Input layout (little-endian; missing bytes read as 0): mode (bit 0 unversioned, bit 1 data
 * NULL, bit 2 strides NULL), version major/minor (u32 each), flags (u64), device type (u8:
 * index into a list, or the value itself), device id (u8, signed), ndim (small), dtype code,
 * bits (u8 each), lanes (u16), byte_offset (small: mostly < 16, sometimes any u64), data
 * offset into the buffer (u8), then ndim shape entries and ndim strides (small numbers).
 * Seeds: tests/fuzz/dlpack/. */
#include "fuzz_common.h"

#include <aphelion_dlpack.h>

static aph_device* g_cpu;
static unsigned char g_buf[4096] __attribute__((aligned(64)));
static int g_deleted;

static void init(void) {
    if (g_cpu) return;
    aph_log_set_level(APH_LOG_ERROR);
    if (aph_device_open(APH_DEVICE_CPU, 0, &g_cpu) != APH_OK) FZ_FAIL("cpu: %s", aph_last_error());
    for (size_t i = 0; i < sizeof g_buf; ++i) g_buf[i] = (unsigned char)(i * 131u + 7u);
}

static void deleter_v(DLManagedTensorVersioned* self) {
    (void)self;
    g_deleted++;
}
static void deleter_u(DLManagedTensor* self) {
    (void)self;
    g_deleted++;
}

static const int32_t kDevices[] = {kDLCPU, kDLCUDA, kDLCUDAHost, kDLCUDAManaged, kDLOpenCL, kDLROCM, 0, -1};

/* The byte span [lo, hi) the layout reaches from data (overflow: 0). */
static int span(const int64_t* shape, const int64_t* strides, int ndim, uint64_t esize, uint64_t offset, uint64_t* hi) {
    __int128 top = (__int128)offset, bottom = (__int128)offset;
    for (int i = 0; i < ndim; ++i) {
        if (shape[i] == 0) {
            *hi = 0;
            return 1; /* empty: reaches nothing */
        }
        const __int128 reach = (__int128)(shape[i] - 1) * strides[i] * (__int128)esize;
        if (reach > 0) top += reach;
        else
            bottom += reach;
        if (top > ((__int128)1 << 62) || bottom < 0) return 0;
    }
    *hi = (uint64_t)(top + (__int128)esize);
    return 1;
}

/* The elements at the layout's positions, row-major, into out (the reference for to_host). */
static void gather(const unsigned char* base, const int64_t* shape, const int64_t* strides, int ndim, size_t esize,
                   unsigned char* out) {
    int64_t idx[APH_TENSOR_MAX_DIMS] = {0};
    int64_t numel = 1;
    for (int i = 0; i < ndim; ++i) numel *= shape[i];
    for (int64_t k = 0; k < numel; ++k) {
        int64_t off = 0;
        for (int i = 0; i < ndim; ++i) off += idx[i] * strides[i];
        memcpy(out + (size_t)k * esize, base + off * (int64_t)esize, esize);
        for (int i = ndim - 1; i >= 0; --i) {
            if (++idx[i] < shape[i]) break;
            idx[i] = 0;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    init();
    fz_reader r = {data, size};
    const uint8_t mode = fz_u8(&r);
    const int unversioned = mode & 1, null_data = mode & 2, null_strides = mode & 4;
    DLManagedTensorVersioned v;
    DLManagedTensor u;
    memset(&v, 0, sizeof v);
    memset(&u, 0, sizeof u);
    v.version.major = fz_u32(&r);
    v.version.minor = fz_u32(&r);
    v.flags = fz_u64(&r);
    const uint8_t dev = fz_u8(&r);
    const int32_t device_type = dev < 8 * 16 ? kDevices[dev % 8] : (int32_t)dev;
    const int32_t device_id = (int8_t)fz_u8(&r);
    int64_t ndim64 = fz_small(&r);
    if (ndim64 > 32 || ndim64 < -8) ndim64 = ndim64 % 33;
    const int32_t ndim = (int32_t)ndim64;
    DLDataType dt;
    dt.code = fz_u8(&r);
    dt.bits = fz_u8(&r);
    dt.lanes = (uint16_t)(fz_u8(&r) | (fz_u8(&r) << 8));
    const int64_t bo = fz_small(&r);
    const uint64_t byte_offset = (uint64_t)bo;
    const uint8_t data_off = fz_u8(&r);
    int64_t shape[32] = {0}, strides[32] = {0};
    for (int i = 0; i < ndim && i < 32; ++i) shape[i] = fz_small(&r);
    for (int i = 0; i < ndim && i < 32; ++i) strides[i] = fz_small(&r);

    DLTensor* dl = unversioned ? &u.dl_tensor : &v.dl_tensor;
    dl->data = null_data ? NULL : g_buf + data_off;
    dl->device.device_type = (DLDeviceType)device_type;
    dl->device.device_id = device_id;
    dl->ndim = ndim;
    dl->dtype = dt;
    dl->shape = shape;
    dl->strides = null_strides ? NULL : strides;
    dl->byte_offset = byte_offset;
    v.deleter = deleter_v;
    u.deleter = deleter_u;

    g_deleted = 0;
    aph_tensor* t = NULL;
    aph_status st = unversioned ? aph_tensor_from_dlpack_unversioned(&u, &t) : aph_tensor_from_dlpack(&v, &t);
    fz_status(st, "aph_tensor_from_dlpack");
    FZ_CHECK(g_deleted == 0, "the import called the deleter (%s)", st == APH_OK ? "on success" : "on failure");
    if (st != APH_OK) {
        FZ_CHECK(t == NULL, "a failed import wrote its out parameter");
        return 0;
    }
    /* The tensor describes exactly the producer's layout. */
    FZ_CHECK(aph_tensor_ndim(t) == (size_t)ndim, "ndim %zu, not %d", aph_tensor_ndim(t), ndim);
    const int64_t* ts = aph_tensor_shape(t);
    const int64_t* tst = aph_tensor_strides(t);
    /* An accepted tensor's element count fits in int64 unless it is empty (a 0 in the shape,
     * however large the other sizes): products are only formed in the first case. */
    int empty = 0;
    for (int i = 0; i < ndim; ++i) empty |= shape[i] == 0;
    int64_t numel = 1, compact[32];
    if (empty) {
        numel = 0;
    } else {
        for (int i = ndim - 1; i >= 0; --i) {
            compact[i] = numel;
            numel *= shape[i];
        }
    }
    const int64_t* want_strides = null_strides ? compact : strides;
    for (int i = 0; i < ndim; ++i) {
        FZ_CHECK(ts[i] == shape[i], "shape[%d] %lld, not %lld", i, (long long)ts[i], (long long)shape[i]);
        /* Strides matter where they select elements: not for a size-1 dimension or an empty tensor. */
        FZ_CHECK(shape[i] == 1 || numel == 0 || tst[i] == want_strides[i], "strides[%d] %lld, not %lld", i,
                 (long long)tst[i], (long long)want_strides[i]);
    }
    FZ_CHECK(aph_tensor_numel(t) == numel, "numel %lld, not %lld", (long long)aph_tensor_numel(t), (long long)numel);
    const int ro = !unversioned && (v.flags & DLPACK_FLAG_BITMASK_READ_ONLY);
    FZ_CHECK(aph_tensor_is_read_only(t) == ro, "read-only %d, not %d", aph_tensor_is_read_only(t), ro);
    const size_t esize = aph_dtype_size(aph_tensor_dtype(t));
    FZ_CHECK(esize * 8 == dt.bits || (dt.code == kDLBool && esize == 1), "dtype size %zu for %u bits", esize, dt.bits);
    if (numel > 0) {
        FZ_CHECK(aph_tensor_data(t) == (const unsigned char*)dl->data + byte_offset, "data is not data + byte_offset");
        uint64_t hi = 0;
        if (dl->data && span(shape, want_strides, ndim, esize, byte_offset, &hi) && hi <= sizeof g_buf - data_off &&
            (uint64_t)numel * esize <= (1u << 20)) {
            unsigned char* got = malloc((size_t)numel * esize);
            unsigned char* want = malloc((size_t)numel * esize);
            FZ_CHECK(aph_tensor_to_host(t, got, (size_t)numel * esize) == APH_OK, "to_host: %s", aph_last_error());
            gather((const unsigned char*)dl->data + byte_offset, shape, want_strides, ndim, esize, want);
            FZ_CHECK(memcmp(got, want, (size_t)numel * esize) == 0,
                     "to_host read other elements than the strides select");
            free(got);
            free(want);
        }
    }
    /* Exported again: the same description (data + byte_offset, shape, strides, dtype). */
    DLManagedTensorVersioned* back = NULL;
    if (fz_status(aph_tensor_to_dlpack(t, &back), "aph_tensor_to_dlpack") == APH_OK) {
        FZ_CHECK(back->dl_tensor.ndim == ndim, "re-exported ndim %d", back->dl_tensor.ndim);
        FZ_CHECK(back->dl_tensor.dtype.code == dt.code && back->dl_tensor.dtype.bits == dt.bits,
                 "re-exported dtype differs");
        for (int i = 0; i < ndim; ++i) {
            FZ_CHECK(back->dl_tensor.shape[i] == shape[i], "re-exported shape[%d] differs", i);
        }
        if (numel > 0) {
            FZ_CHECK((const unsigned char*)back->dl_tensor.data + back->dl_tensor.byte_offset ==
                         (const unsigned char*)aph_tensor_data(t),
                     "re-exported data + byte_offset differs");
        }
        back->deleter(back);
    }
    aph_tensor_release(t);
    FZ_CHECK(g_deleted == 1, "the deleter ran %d times after the last release", g_deleted);
    return 0;
}
