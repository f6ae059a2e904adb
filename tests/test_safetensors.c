/* test_safetensors.c — section 21 of aphelion.h: safetensors files on the CPU device.
 *
 *  - Round trips of every dtype (0-dimensional, zero-size and strided tensors included), with
 *    metadata; the tensors read back are read-only views of the mapped file that outlive the file
 *    handle (and the file's name); misaligned data is copied instead.
 *  - The writer's bytes equal the reference implementation's own test vectors (safetensors'
 *    Rust tests test_serialization, test_empty, test_serialization_forced_alignement), and its
 *    tensor order is the reference's (dtype alignment descending, then name).
 *  - Malformed files: a table of hand-written headers, each with its exact message; every
 *    truncation of a valid file; every header byte overwritten with a set of values; huge and
 *    zero header lengths. Each gives APH_ERR_SERIALIZATION (or I/O) with a message, never a
 *    crash (run under ASan/UBSan in CI).
 *  - Argument errors, I/O errors, failed saves leaving the destination untouched, and several
 *    threads reading one file.
 *
 * Inputs are fresh random values (seeded from the clock; APH_TEST_SEED=n replays a run). */
#define _DEFAULT_SOURCE /* mkdtemp, clock_gettime */
#include "test_util.h"

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t g_rng;
static char g_dir[256]; /* a fresh temporary directory */
static aph_device* g_cpu;

static const char* SUPPORTED = "(supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, U32, BOOL, F8_E4M3, F8_E5M2)";

static void path_in_dir(char* out, size_t cap, const char* name) { snprintf(out, cap, "%s/%s", g_dir, name); }

static void write_bytes(const char* path, const void* bytes, size_t n) {
    FILE* f = fopen(path, "wb");
    assert_non_null(f);
    if (n > 0) assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Reads a whole file into a malloc'd buffer. */
static unsigned char* read_bytes(const char* path, size_t* n) {
    FILE* f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    unsigned char* buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return buf;
}

/* A file: 8-byte length of header (unpadded), header, data_len bytes of data (i & 0xff). */
static size_t make_file(unsigned char* out, size_t cap, const char* header, size_t header_len, size_t data_len) {
    size_t n = 8 + header_len + data_len;
    assert_true(n <= cap);
    for (int i = 0; i < 8; ++i) out[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    memcpy(out + 8, header, header_len);
    for (size_t i = 0; i < data_len; ++i) out[8 + header_len + i] = (unsigned char)(i * 7 + 1);
    return n;
}

static aph_status open_bytes(const unsigned char* bytes, size_t n, aph_safetensors** out) {
    char path[512];
    path_in_dir(path, sizeof path, "probe.safetensors");
    write_bytes(path, bytes, n);
    return aph_safetensors_open(path, out);
}

/* Opens bytes that must be rejected: APH_ERR_SERIALIZATION with a message that starts with
 * "serialization error: {path}: " and, when problem is not NULL, continues with exactly it. */
static void expect_malformed(const unsigned char* bytes, size_t n, const char* problem) {
    char path[512];
    path_in_dir(path, sizeof path, "probe.safetensors");
    write_bytes(path, bytes, n);
    aph_safetensors* f = (aph_safetensors*)(uintptr_t)0x5E47;
    aph_status st = aph_safetensors_open(path, &f);
    if (st != APH_ERR_SERIALIZATION) {
        print_error("%zu bytes: expected APH_ERR_SERIALIZATION, got %s (%s)\n", n, aph_status_name(st),
                    st == APH_OK ? "" : aph_last_error());
        if (st == APH_OK) aph_safetensors_release(f);
        fail();
    }
    assert_ptr_equal(f, (aph_safetensors*)(uintptr_t)0x5E47); /* untouched */
    char prefix[600];
    snprintf(prefix, sizeof prefix, "serialization error: %s: ", path);
    const char* msg = aph_last_error();
    if (strncmp(msg, prefix, strlen(prefix)) != 0) {
        print_error("message '%s' lacks the prefix '%s'\n", msg, prefix);
        fail();
    }
    if (problem != NULL) assert_string_equal(msg + strlen(prefix), problem);
}

static void expect_header_error(const char* header, size_t data_len, const char* problem) {
    static unsigned char buf[1 << 16];
    size_t n = make_file(buf, sizeof buf, header, strlen(header), data_len);
    expect_malformed(buf, n, problem);
}

static aph_tensor* random_tensor(aph_dtype dtype, const int64_t* shape, size_t ndim) {
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create(g_cpu, dtype, shape, ndim, &t));
    unsigned char* p = aph_test_data_mut(t);
    uint64_t n = aph_tensor_nbytes(t);
    for (uint64_t i = 0; i < n; ++i) {
        uint64_t r = aph_test_rand(&g_rng);
        p[i] = dtype == APH_DTYPE_BOOL ? (unsigned char)(r & 1) : (unsigned char)(r >> 56);
    }
    return t;
}

static void assert_same_contents(const aph_tensor* a, const aph_tensor* b) {
    assert_int_equal(aph_tensor_dtype(a), aph_tensor_dtype(b));
    assert_int_equal(aph_tensor_ndim(a), aph_tensor_ndim(b));
    for (size_t d = 0; d < aph_tensor_ndim(a); ++d) {
        assert_int_equal(aph_tensor_shape(a)[d], aph_tensor_shape(b)[d]);
    }
    size_t n = (size_t)aph_tensor_nbytes(a);
    assert_int_equal(n, (size_t)aph_tensor_nbytes(b));
    unsigned char* x = malloc(n + 1);
    unsigned char* y = malloc(n + 1);
    APH_ASSERT_OK(aph_tensor_to_host(a, x, n));
    APH_ASSERT_OK(aph_tensor_to_host(b, y, n));
    assert_memory_equal(x, y, n);
    free(x);
    free(y);
}

/* ------------------------------------------------------------------------------------------ */

static void test_round_trip_every_dtype(void** state) {
    (void)state;
    /* One tensor per dtype, names chosen so that the reference order (dtype alignment
     * descending, then name) differs from both the given order and name order. */
    static const struct {
        const char* name;
        aph_dtype dtype;
    } specs[] = {
        {"a.bool", APH_DTYPE_BOOL},     {"b.u8", APH_DTYPE_U8},         {"c.i8", APH_DTYPE_I8},
        {"d.f8e5m2", APH_DTYPE_F8E5M2}, {"e.f8e4m3", APH_DTYPE_F8E4M3}, {"f.i16", APH_DTYPE_I16},
        {"g.f16", APH_DTYPE_F16},       {"h.bf16", APH_DTYPE_BF16},     {"i.i32", APH_DTYPE_I32},
        {"j.u32", APH_DTYPE_U32},       {"k.f32", APH_DTYPE_F32},       {"l.f64", APH_DTYPE_F64},
        {"m.i64", APH_DTYPE_I64},
    };
    enum { N = sizeof specs / sizeof specs[0] + 3 };
    const char* names[N];
    aph_tensor* tensors[N];
    size_t k = 0;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; ++i) {
        int64_t shape[3] = {1 + (int64_t)(aph_test_rand(&g_rng) % 5), 3, 1 + (int64_t)(aph_test_rand(&g_rng) % 7)};
        names[k] = specs[i].name;
        tensors[k++] = random_tensor(specs[i].dtype, shape, 3);
    }
    /* A 0-dimensional f32, a zero-size f32 and a transposed (non-contiguous) f32 view. */
    names[k] = "scalar";
    tensors[k++] = random_tensor(APH_DTYPE_F32, NULL, 0);
    int64_t zshape[2] = {0, 4};
    names[k] = "empty";
    tensors[k++] = random_tensor(APH_DTYPE_F32, zshape, 2);
    int64_t tshape[2] = {3, 5};
    aph_tensor* base = random_tensor(APH_DTYPE_F32, tshape, 2);
    names[k] = "transposed";
    APH_ASSERT_OK(aph_tensor_transpose(base, 0, 1, &tensors[k++]));
    aph_tensor_release(base);
    assert_int_equal(k, N);
    assert_false(aph_tensor_is_contiguous(tensors[N - 1]));

    char path[512];
    path_in_dir(path, sizeof path, "every_dtype.safetensors");
    APH_ASSERT_OK(aph_safetensors_save(path, names, (const aph_tensor* const*)tensors, N,
                                       "{\"z\":\"last\",\"format\":\"pt\",\"\xc3\xa9t\xc3\xa9\":\"\\n\"}"));

    aph_safetensors* f = NULL;
    APH_ASSERT_OK(aph_safetensors_open(path, &f));
    assert_int_equal(aph_safetensors_count(f), N);
    /* Data order: I64 F64 F32 U32 I32 BF16 F16 I16 F8_E4M3 F8_E5M2 I8 U8 BOOL, then names; the
     * zero-size f32 "empty" has the same offset as the next f32 and sorts first. */
    static const char* expected_order[N] = {"m.i64",    "l.f64", "empty",  "k.f32", "scalar", "transposed",
                                            "j.u32",    "i.i32", "h.bf16", "g.f16", "f.i16",  "e.f8e4m3",
                                            "d.f8e5m2", "c.i8",  "b.u8",   "a.bool"};
    for (size_t i = 0; i < N; ++i) assert_string_equal(aph_safetensors_name(f, i), expected_order[i]);
    assert_null(aph_safetensors_name(f, N));

    char* meta = NULL;
    APH_ASSERT_OK(aph_safetensors_metadata(f, &meta));
    assert_string_equal(meta, "{\"format\":\"pt\",\"z\":\"last\",\"\xc3\xa9t\xc3\xa9\":\"\\n\"}");
    aph_string_free(meta);

    for (size_t i = 0; i < N; ++i) {
        aph_dtype dt = APH_DTYPE_INVALID;
        int64_t shape[APH_TENSOR_MAX_DIMS];
        size_t ndim = 99;
        APH_ASSERT_OK(aph_safetensors_info(f, names[i], &dt, shape, APH_TENSOR_MAX_DIMS, &ndim));
        assert_int_equal(dt, aph_tensor_dtype(tensors[i]));
        assert_int_equal(ndim, aph_tensor_ndim(tensors[i]));
        for (size_t d = 0; d < ndim; ++d) assert_int_equal(shape[d], aph_tensor_shape(tensors[i])[d]);

        aph_tensor* t = NULL;
        APH_ASSERT_OK(aph_safetensors_tensor(f, names[i], g_cpu, &t));
        assert_same_contents(t, tensors[i]);
        assert_true(aph_tensor_is_contiguous(t));
        assert_int_equal(aph_tensor_is_read_only(t), 1); /* a view of the mapping */
        if (aph_tensor_nbytes(t) > 0) {
            assert_int_equal((uintptr_t)aph_tensor_data(t) % aph_dtype_size(dt), 0);
            /* Writing into it is refused. */
            void* junk = calloc(1, (size_t)aph_tensor_nbytes(t));
            APH_ASSERT_ERR_CONTAINS(aph_tensor_copy_from_host(t, junk, (size_t)aph_tensor_nbytes(t)),
                                    APH_ERR_INVALID_ARGUMENT, "read-only");
            free(junk);
            /* No writable pointer to the read-only pages. */
            void* wp = (void*)(uintptr_t)0x77;
            APH_ASSERT_ERR(aph_tensor_data_mut(t, &wp), APH_ERR_INVALID_ARGUMENT,
                           "invalid argument: tensor is read-only (memory-mapped weights or a read-only DLPack "
                           "import); copy it to write");
            assert_ptr_equal(wp, (void*)(uintptr_t)0x77);
        } else {
            assert_null(aph_tensor_data(t));
        }
        /* Zero copy: a second tensor of the same name views the same memory. */
        aph_tensor* t2 = NULL;
        APH_ASSERT_OK(aph_safetensors_tensor(f, names[i], g_cpu, &t2));
        assert_ptr_equal(aph_tensor_data(t2), aph_tensor_data(t));
        aph_tensor_release(t2);
        aph_tensor_release(t);
    }
    /* The info getters accept NULL outs (capacity is then ignored). */
    APH_ASSERT_OK(aph_safetensors_info(f, "k.f32", NULL, NULL, 0, NULL));
    aph_safetensors_release(f);
    for (size_t i = 0; i < N; ++i) aph_tensor_release(tensors[i]);
}

/* The reference implementation's own test vectors (safetensors/src/tensor.rs). */
static void test_bytes_match_reference(void** state) {
    (void)state;
    static const unsigned char serialization[] = {
        64,  0,  0,   0,  0,   0,  0,   0,   123, 34,  97,  116, 116, 110, 46,  48, 34, 58, 123, 34, 100, 116, 121, 112,
        101, 34, 58,  34, 70,  51, 50,  34,  44,  34,  115, 104, 97,  112, 101, 34, 58, 91, 49,  44, 50,  44,  51,  93,
        44,  34, 100, 97, 116, 97, 95,  111, 102, 102, 115, 101, 116, 115, 34,  58, 91, 48, 44,  50, 52,  93,  125, 125,
        0,   0,  0,   0,  0,   0,  128, 63,  0,   0,   0,   64,  0,   0,   64,  64, 0,  0,  128, 64, 0,   0,   160, 64};
    static const unsigned char forced_alignment[] = {
        72,  0,   0,   0,  0,  0,  0,  0,  123, 34,  97, 116, 116, 110, 48,  34,  58,  123, 34,  100, 116,
        121, 112, 101, 34, 58, 34, 70, 51, 50,  34,  44, 34,  115, 104, 97,  112, 101, 34,  58,  91,  49,
        44,  49,  44,  50, 44, 51, 93, 44, 34,  100, 97, 116, 97,  95,  111, 102, 102, 115, 101, 116, 115,
        34,  58,  91,  48, 44, 50, 52, 93, 125, 125, 32, 32,  32,  32,  32,  32,  32,  0,   0,   0,   0,
        0,   0,   128, 63, 0,  0,  0,  64, 0,   0,   64, 64,  0,   0,   128, 64,  0,   0,   160, 64};
    static const unsigned char empty[] = {8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32};
    static const unsigned char empty_meta[] = {
        40,  0,  0,   0,   0,  0,   0,   0,   123, 34,  95,  95, 109, 101, 116, 97,  100, 97,  116, 97, 95, 95, 34, 58,
        123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58,  34,  112, 116, 34,  125, 125, 32, 32, 32, 32, 32};
    const float values[6] = {0, 1, 2, 3, 4, 5};
    char path[512];
    path_in_dir(path, sizeof path, "reference.safetensors");
    size_t n = 0;
    unsigned char* got;

    int64_t shape3[3] = {1, 2, 3};
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_host(g_cpu, APH_DTYPE_F32, shape3, 3, values, sizeof values, &t));
    const char* name = "attn.0";
    APH_ASSERT_OK(aph_safetensors_save(path, &name, (const aph_tensor* const*)&t, 1, NULL));
    got = read_bytes(path, &n);
    assert_int_equal(n, sizeof serialization);
    assert_memory_equal(got, serialization, n);
    free(got);
    aph_tensor_release(t);

    int64_t shape4[4] = {1, 1, 2, 3};
    APH_ASSERT_OK(aph_tensor_from_host(g_cpu, APH_DTYPE_F32, shape4, 4, values, sizeof values, &t));
    name = "attn0";
    APH_ASSERT_OK(aph_safetensors_save(path, &name, (const aph_tensor* const*)&t, 1, NULL));
    got = read_bytes(path, &n);
    assert_int_equal(n, sizeof forced_alignment);
    assert_memory_equal(got, forced_alignment, n);
    free(got);
    aph_tensor_release(t);

    APH_ASSERT_OK(aph_safetensors_save(path, NULL, NULL, 0, NULL));
    got = read_bytes(path, &n);
    assert_int_equal(n, sizeof empty);
    assert_memory_equal(got, empty, n);
    free(got);

    APH_ASSERT_OK(aph_safetensors_save(path, NULL, NULL, 0, "{\"framework\":\"pt\"}"));
    got = read_bytes(path, &n);
    assert_int_equal(n, sizeof empty_meta);
    assert_memory_equal(got, empty_meta, n);
    free(got);

    /* An empty metadata object is written as such (the reference writes Some({}) so). */
    APH_ASSERT_OK(aph_safetensors_save(path, NULL, NULL, 0, "{}"));
    got = read_bytes(path, &n);
    assert_int_equal(n, 8 + 24);
    assert_memory_equal(got + 8, "{\"__metadata__\":{}}     ", 24);
    free(got);

    /* Names are escaped as serde_json escapes them. */
    int64_t one = 1;
    APH_ASSERT_OK(aph_tensor_from_host(g_cpu, APH_DTYPE_U8, &one, 1, "x", 1, &t));
    name = "q\"b\\s\n\x01/\xe2\x82\xac";
    APH_ASSERT_OK(aph_safetensors_save(path, &name, (const aph_tensor* const*)&t, 1, NULL));
    got = read_bytes(path, &n);
    const char* expect_header =
        "{\"q\\\"b\\\\s\\n\\u0001/\xe2\x82\xac\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
    size_t hl = strlen(expect_header);
    size_t padded = (hl + 7) / 8 * 8;
    assert_int_equal(got[0], padded);
    assert_int_equal(n, 8 + padded + 1);
    assert_memory_equal(got + 8, expect_header, hl);
    for (size_t i = hl; i < padded; ++i) assert_int_equal(got[8 + i], ' ');
    assert_int_equal(got[8 + padded], 'x');
    free(got);
    aph_safetensors* f = NULL;
    APH_ASSERT_OK(aph_safetensors_open(path, &f));
    assert_string_equal(aph_safetensors_name(f, 0), name);
    aph_safetensors_release(f);
    aph_tensor_release(t);
}

static void test_tensor_outlives_file(void** state) {
    (void)state;
    int64_t shape[2] = {16, 9};
    aph_tensor* src = random_tensor(APH_DTYPE_F32, shape, 2);
    char path[512];
    path_in_dir(path, sizeof path, "outlives.safetensors");
    const char* name = "w";
    APH_ASSERT_OK(aph_safetensors_save(path, &name, (const aph_tensor* const*)&src, 1, NULL));
    aph_safetensors* f = NULL;
    APH_ASSERT_OK(aph_safetensors_open(path, &f));
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_safetensors_tensor(f, "w", g_cpu, &t));
    aph_tensor* view = NULL;
    APH_ASSERT_OK(aph_tensor_slice(t, 0, 2, 10, 3, &view));
    aph_safetensors_release(f);
    assert_int_equal(unlink(path), 0); /* the mapping outlives the name too */
    assert_same_contents(t, src);
    aph_tensor_release(t);
    /* The view alone still keeps the mapping. */
    float row[9];
    aph_tensor* row_view = NULL;
    APH_ASSERT_OK(aph_tensor_select(view, 0, 1, &row_view));
    APH_ASSERT_OK(aph_tensor_to_host(row_view, row, sizeof row));
    assert_memory_equal(row, (const float*)aph_tensor_data(src) + 5 * 9, sizeof row);
    aph_tensor_release(row_view);
    aph_tensor_release(view);
    aph_tensor_release(src);
}

/* Memory-mapped weights are read-only pages: the tensor and every view of it say so, no call
 * hands out a writable pointer to them, and every library call that writes refuses them, so
 * nothing can write into the pages and take the process down (0.1's aph_tensor_data gave a
 * void* that a binding exposed as a mutable buffer). A copy is writable. */
static void test_mapped_tensors_are_read_only(void** state) {
    (void)state;
    int64_t shape[2] = {4, 6};
    aph_tensor* src = random_tensor(APH_DTYPE_F32, shape, 2);
    char path[512];
    path_in_dir(path, sizeof path, "readonly.safetensors");
    const char* name = "w";
    APH_ASSERT_OK(aph_safetensors_save(path, &name, (const aph_tensor* const*)&src, 1, NULL));
    aph_safetensors* f = NULL;
    APH_ASSERT_OK(aph_safetensors_open(path, &f));
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_safetensors_tensor(f, "w", g_cpu, &t));
    aph_safetensors_release(f);
    assert_int_equal(aph_tensor_is_read_only(t), 1);

    /* Views of it: read-only too. */
    aph_tensor *tr = NULL, *sl = NULL, *rs = NULL, *ex = NULL, *row = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(t, 0, 1, &tr));
    APH_ASSERT_OK(aph_tensor_slice(t, 1, 0, 6, 2, &sl));
    const int64_t flat[1] = {24};
    APH_ASSERT_OK(aph_tensor_reshape(t, flat, 1, &rs));
    APH_ASSERT_OK(aph_tensor_select(t, 0, 2, &row));
    const int64_t big[3] = {3, 4, 6};
    APH_ASSERT_OK(aph_tensor_expand(t, big, 3, &ex));
    aph_tensor* views[5] = {tr, sl, rs, row, ex};
    const char* ro_msg =
        "invalid argument: tensor is read-only (memory-mapped weights or a read-only DLPack import); copy it to write";
    for (int i = 0; i < 5; ++i) {
        assert_int_equal(aph_tensor_is_read_only(views[i]), 1);
        void* wp = (void*)(uintptr_t)0x99;
        APH_ASSERT_ERR(aph_tensor_data_mut(views[i], &wp), APH_ERR_INVALID_ARGUMENT, ro_msg);
        assert_ptr_equal(wp, (void*)(uintptr_t)0x99);
        assert_non_null(aph_tensor_data(views[i])); /* reading is fine */
    }

    /* Every write path refuses it (and the pages keep their bytes). */
    aph_tensor* other = random_tensor(APH_DTYPE_F32, shape, 2);
    APH_ASSERT_ERR(aph_tensor_copy(t, other), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: the destination tensor is read-only (memory-mapped weights or a read-only "
                   "DLPack import)");
    aph_tensor* other_flat = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(other, flat, 1, &other_flat));
    APH_ASSERT_ERR_CONTAINS(aph_tensor_copy_async(rs, other_flat, NULL), APH_ERR_INVALID_ARGUMENT, "read-only");
    aph_tensor_release(other_flat);
    float host[24] = {0};
    APH_ASSERT_ERR_CONTAINS(aph_tensor_copy_from_host(t, host, sizeof host), APH_ERR_INVALID_ARGUMENT, "read-only");
    APH_ASSERT_ERR(aph_op_unary(APH_UNARY_RELU, other, t, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out is read-only (memory-mapped weights or a read-only DLPack import)");
    APH_ASSERT_ERR_CONTAINS(aph_op_unary(APH_UNARY_NEG, t, t, NULL), APH_ERR_INVALID_ARGUMENT, "read-only");
    APH_ASSERT_ERR_CONTAINS(aph_op_binary(APH_BINARY_ADD, other, other, t, NULL), APH_ERR_INVALID_ARGUMENT,
                            "read-only");
    assert_same_contents(t, src);

    /* A copy is writable, and writing it leaves the mapping alone. */
    aph_tensor* copy = NULL;
    APH_ASSERT_OK(aph_tensor_to_device(t, g_cpu, &copy));
    assert_int_equal(aph_tensor_is_read_only(copy), 0);
    float* w = aph_test_data_mut(copy);
    w[0] = 12345.0f;
    APH_ASSERT_OK(aph_tensor_copy(copy, other));
    assert_same_contents(t, src);

    for (int i = 0; i < 5; ++i) aph_tensor_release(views[i]);
    aph_tensor_release(copy);
    aph_tensor_release(other);
    aph_tensor_release(t);
    aph_tensor_release(src);
    unlink(path);
}

/* A file another writer laid out without alignment: the f32 starts at an odd address, so the
 * tensor is a copy (writable), while the u8 before it is still a view. */
static void test_misaligned_data_is_copied(void** state) {
    (void)state;
    const char* header = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]}}";
    unsigned char buf[256];
    size_t hl = strlen(header);
    char padded[256];
    memcpy(padded, header, hl);
    while (hl % 8) padded[hl++] = ' ';
    size_t n = make_file(buf, sizeof buf, padded, hl, 9);
    aph_safetensors* f = NULL;
    APH_ASSERT_OK(open_bytes(buf, n, &f));
    aph_tensor* a = NULL;
    aph_tensor* b = NULL;
    APH_ASSERT_OK(aph_safetensors_tensor(f, "a", g_cpu, &a));
    APH_ASSERT_OK(aph_safetensors_tensor(f, "b", g_cpu, &b));
    assert_int_equal(aph_tensor_is_read_only(a), 1);
    assert_int_equal(aph_tensor_is_read_only(b), 0);
    assert_int_equal((uintptr_t)aph_tensor_data(b) % 4, 0);
    assert_memory_equal(aph_tensor_data(b), buf + 8 + hl + 1, 8);
    assert_int_equal(*(unsigned char*)aph_tensor_data(a), buf[8 + hl]);
    aph_tensor_release(a);
    aph_tensor_release(b);
    aph_safetensors_release(f);
}

/* Files the reference accepts: whitespace around the header, null metadata, unknown fields,
 * zero-size tensors sharing an offset, a 0-dimensional tensor, no tensors at all. */
static void test_accepted_variants(void** state) {
    (void)state;
    unsigned char buf[1024];
    static const struct {
        const char* header;
        size_t data_len;
        size_t count;
        const char* first;
        const char* meta;
    } cases[] = {
        {"  {}  ", 0, 0, NULL, "{}"},
        {"{\"__metadata__\":null}", 0, 0, NULL, "{}"},
        {"{\"__metadata__\":{}}", 0, 0, NULL, "{}"},
        {"{\"__metadata__\":{\"b\":\"2\",\"a\":\"1\"},\"x\":{\"dtype\":\"F32\",\"shape\":[],"
         "\"data_offsets\":[0,4],\"extra\":[1,{\"k\":null}]}}",
         4, 1, "x", "{\"a\":\"1\",\"b\":\"2\"}"},
        {"{\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
         "\"y\":{\"dtype\":\"I64\",\"shape\":[2,0,5],\"data_offsets\":[0,0]},"
         "\"w\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
         "\"v\":{\"dtype\":\"BOOL\",\"shape\":[0],\"data_offsets\":[3,3]}}",
         3, 4, "y", "{}"},
        {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,2],\"dtype\":\"I8\"}}", 2, 1, "a", "{}"},
        /* -0 is a JSON integer zero. */
        {"{\"a\":{\"dtype\":\"I8\",\"shape\":[-0],\"data_offsets\":[0,-0]}}", 0, 1, "a", "{}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        size_t n = make_file(buf, sizeof buf, cases[i].header, strlen(cases[i].header), cases[i].data_len);
        aph_safetensors* f = NULL;
        APH_ASSERT_OK(open_bytes(buf, n, &f));
        assert_int_equal(aph_safetensors_count(f), cases[i].count);
        if (cases[i].first) assert_string_equal(aph_safetensors_name(f, 0), cases[i].first);
        char* meta = NULL;
        APH_ASSERT_OK(aph_safetensors_metadata(f, &meta));
        assert_string_equal(meta, cases[i].meta);
        aph_string_free(meta);
        for (size_t k = 0; k < aph_safetensors_count(f); ++k) {
            aph_tensor* t = NULL;
            APH_ASSERT_OK(aph_safetensors_tensor(f, aph_safetensors_name(f, k), g_cpu, &t));
            aph_tensor_release(t);
        }
        aph_safetensors_release(f);
    }
    /* The zero-size tensors sort by offset, then end, then name. */
    size_t n = make_file(buf, sizeof buf, cases[4].header, strlen(cases[4].header), 3);
    aph_safetensors* f = NULL;
    APH_ASSERT_OK(open_bytes(buf, n, &f));
    assert_string_equal(aph_safetensors_name(f, 0), "y");
    assert_string_equal(aph_safetensors_name(f, 1), "z");
    assert_string_equal(aph_safetensors_name(f, 2), "w");
    assert_string_equal(aph_safetensors_name(f, 3), "v");
    aph_safetensors_release(f);
}

static void test_malformed_headers(void** state) {
    (void)state;
    char msg[512];
#define T(name, rest) "{\"" name "\":{" rest "}}"
#define F32_2(offs) "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" offs
    expect_header_error(T("a", F32_2("[8,16]")), 16,
                        "tensor 'a': data_offsets [8, 16] leave bytes [0, 8) of the data section to no "
                        "tensor (tensors must cover it without holes)");
    expect_header_error(T("a", F32_2("[0,8]")), 9,
                        "the data section is 9 bytes, but the tensors end at byte 8: bytes [8, 9) belong "
                        "to no tensor");
    expect_header_error("{}", 3,
                        "the data section is 3 bytes, but the tensors end at byte 0: bytes [0, 3) "
                        "belong to no tensor");
    expect_header_error("{\"a\":{" F32_2("[0,8]") "},\"b\":{" F32_2("[4,12]") "}}", 12,
                        "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
    expect_header_error("{\"a\":{" F32_2("[0,8]") "},\"b\":{" F32_2("[0,8]") "}}", 8,
                        "tensor 'b': data_offsets [0, 8] overlap tensor 'a' [0, 8]");
    expect_header_error(T("w1", "\"dtype\":\"F32\",\"shape\":[4,8],\"data_offsets\":[0,96]"), 96,
                        "tensor 'w1': data_offsets [0, 96] do not match dtype F32 and shape [4, 8] (128 bytes)");
    expect_header_error(T("a", "\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,8]"), 8,
                        "tensor 'a': data_offsets [0, 8] do not match dtype BF16 and shape [2] (4 bytes)");
    expect_header_error(T("a", F32_2("[8,0]")), 8, "tensor 'a': data_offsets [8, 0] end before they begin");
    expect_header_error(T("a", F32_2("[0,8]")), 4,
                        "tensor 'a': data_offsets [0, 8] run past the end of the data section (4 bytes)");
    expect_header_error(T("a", F32_2("[0,18446744073709551615]")), 4,
                        "tensor 'a': data_offsets [0, 18446744073709551615] run past the end of the data "
                        "section (4 bytes)");
    snprintf(msg, sizeof msg, "tensor 'a': unknown dtype 'f32' %s", SUPPORTED);
    expect_header_error(T("a", "\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]"), 8, msg);
    snprintf(msg, sizeof msg, "tensor 'a': dtype U16 is not supported by libaphelion %s", SUPPORTED);
    expect_header_error(T("a", "\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[0,4]"), 4, msg);
    expect_header_error(T("a", "\"dtype\":5,\"shape\":[2],\"data_offsets\":[0,8]"), 8,
                        "tensor 'a': dtype is an integer, expected a string");
    expect_header_error(T("a", "\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]"), 8,
                        "tensor 'a': shape[0] is -1, expected a non-negative integer");
    expect_header_error(T("a", "\"dtype\":\"F32\",\"shape\":[1,2.0],\"data_offsets\":[0,8]"), 8,
                        "tensor 'a': shape[1] is 2.0, expected a non-negative integer");
    expect_header_error(T("a", "\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]"), 8,
                        "tensor 'a': shape[0] is a string, expected a non-negative integer");
    expect_header_error(T("a", "\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,8]"), 8,
                        "tensor 'a': shape[0] is null, expected a non-negative integer");
    expect_header_error(T("a", "\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]"), 8,
                        "tensor 'a': shape is an integer, expected an array of non-negative integers");
    expect_header_error(T("a", "\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"
                               "\"data_offsets\":[0,4]"),
                        4, "tensor 'a': shape has 17 dimensions, more than libaphelion's 16");
    expect_header_error(T("a", "\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]"), 0,
                        "tensor 'a': shape [4294967296, 4294967296] with dtype F32 is over INT64_MAX bytes");
    expect_header_error(T("a", "\"dtype\":\"U8\",\"shape\":[0,18446744073709551615],\"data_offsets\":[0,0]"), 0,
                        "tensor 'a': shape [0, 18446744073709551615] with dtype U8 is over INT64_MAX bytes");
    expect_header_error(T("a", "\"dtype\":\"F64\",\"shape\":[2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2],"
                               "\"data_offsets\":[0,8]"),
                        8,
                        "tensor 'a': data_offsets [0, 8] do not match dtype F64 and shape "
                        "[2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2] (524288 bytes)");
    expect_header_error(T("a", "\"dtype\":\"F32\",\"shape\":[18446744073709551616],\"data_offsets\":[0,8]"), 8,
                        NULL); /* beyond u64: a float to the parser */
    expect_header_error(T("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]"), 8,
                        "tensor 'a': data_offsets must have 2 values ([begin, end]), not 1");
    expect_header_error(T("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]"), 8,
                        "tensor 'a': data_offsets must have 2 values ([begin, end]), not 3");
    expect_header_error(T("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,-8]"), 8,
                        "tensor 'a': data_offsets[1] is -8, expected a non-negative integer");
    expect_header_error(T("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.0,8]"), 8,
                        "tensor 'a': data_offsets[0] is 0.0, expected a non-negative integer");
    expect_header_error(T("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":\"0-8\""), 8,
                        "tensor 'a': data_offsets is a string, expected [begin, end]");
    expect_header_error(T("a", "\"dtype\":\"F32\",\"data_offsets\":[0,8]"), 8, "tensor 'a': missing field 'shape'");
    expect_header_error(T("a", "\"shape\":[2],\"data_offsets\":[0,8]"), 8, "tensor 'a': missing field 'dtype'");
    expect_header_error(T("a", "\"dtype\":\"F32\",\"shape\":[2]"), 8, "tensor 'a': missing field 'data_offsets'");
    expect_header_error("{\"a\":5}", 0,
                        "tensor 'a' is an integer, expected an object with dtype, shape and data_offsets");
    expect_header_error("{\"a\":[]}", 0,
                        "tensor 'a' is an array, expected an object with dtype, shape and data_offsets");
    expect_header_error("{\"a\\u0001\":null}", 0,
                        "tensor 'a\\x01' is null, expected an object with dtype, shape and data_offsets");
    expect_header_error("[]", 0, "the header is an array, expected a JSON object");
    expect_header_error("\"{}\"", 0, "the header is a string, expected a JSON object");
    expect_header_error("{\"a\":{" F32_2("[0,8]") "},\"a\":{" F32_2("[0,8]") "}}", 8,
                        "the header has the key 'a' twice");
    expect_header_error(T("a", "\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 8,
                        "tensor 'a' has the field 'dtype' twice");
    expect_header_error("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "__metadata__ has the key 'k' twice");
    expect_header_error("{\"__metadata__\":{\"x\":1}}", 0,
                        "__metadata__: the value of 'x' is an integer, expected a string");
    expect_header_error("{\"__metadata__\":\"x\"}", 0, "__metadata__ is a string, expected an object of strings");
    expect_header_error("{\"__metadata__\":[]}", 0, "__metadata__ is an array, expected an object of strings");
    /* Not JSON: the parser's message, positions included. */
    expect_header_error("{\"a\":1", 0, NULL);
    static unsigned char buf[256];
    size_t n = make_file(buf, sizeof buf, "{}\0\0\0\0\0\0", 8, 0);
    expect_malformed(buf, n, NULL);
    assert_non_null(strstr(aph_last_error(), ": the header is not valid JSON: it contains a NUL byte at offset 2"));
    n = make_file(buf, sizeof buf, "{\"\xff\":null}", 9, 0);
    expect_malformed(buf, n, NULL);
    assert_non_null(strstr(aph_last_error(), ": the header is not valid JSON: "));
    /* The message is printable ASCII even when the file is not. */
    for (const char* p = aph_last_error(); *p; ++p) assert_true(*p >= 0x20 && *p < 0x7f);
    n = make_file(buf, sizeof buf, "{\"a\":1", 6, 0);
    expect_malformed(buf, n, NULL);
    assert_non_null(strstr(aph_last_error(), ": the header is not valid JSON: parse error at line 1, column 7"));
#undef T
#undef F32_2
}

static void test_bad_lengths(void** state) {
    (void)state;
    unsigned char buf[64];
    memset(buf, 0, sizeof buf);
    for (size_t n = 0; n < 8; ++n) {
        char msg[128];
        snprintf(msg, sizeof msg, "the file is %zu bytes, too short for the 8-byte header length", n);
        expect_malformed(buf, n, msg);
    }
    expect_malformed(buf, 8, "the header length is 0 (the header must be a JSON object)");
    expect_malformed(buf, 20, "the header length is 0 (the header must be a JSON object)");
    /* Huge lengths. */
    static const uint64_t huge[] = {UINT64_MAX, (uint64_t)INT64_MAX + 1, 100000001};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; ++i) {
        for (int b = 0; b < 8; ++b) buf[b] = (unsigned char)(huge[i] >> (8 * b));
        char msg[200];
        snprintf(msg, sizeof msg,
                 "the header length %llu is over the limit of 100000000 bytes (the reference library's "
                 "MAX_HEADER_SIZE)",
                 (unsigned long long)huge[i]);
        expect_malformed(buf, 40, msg);
    }
    /* At the limit but past the end of the file. */
    for (int b = 0; b < 8; ++b) buf[b] = (unsigned char)((uint64_t)100000000 >> (8 * b));
    expect_malformed(buf, 40, "the header length 100000000 runs past the end of the file (32 bytes after the length)");
    for (int b = 0; b < 8; ++b) buf[b] = (unsigned char)((uint64_t)33 >> (8 * b));
    expect_malformed(buf, 40, "the header length 33 runs past the end of the file (32 bytes after the length)");
}

/* Every truncation of a valid file fails; every single-byte corruption of its header either
 * fails with a serialization error or gives a file whose tensors all read back. */
static void test_truncations_and_corruptions(void** state) {
    (void)state;
    const char* names[3] = {"w", "b", "ids"};
    int64_t ws[2] = {3, 4}, bs[1] = {4}, is[1] = {2};
    aph_tensor* ts[3] = {random_tensor(APH_DTYPE_F32, ws, 2), random_tensor(APH_DTYPE_BF16, bs, 1),
                         random_tensor(APH_DTYPE_I64, is, 1)};
    char path[512];
    path_in_dir(path, sizeof path, "valid.safetensors");
    APH_ASSERT_OK(aph_safetensors_save(path, names, (const aph_tensor* const*)ts, 3, "{\"k\":\"v\"}"));
    size_t n = 0;
    unsigned char* good = read_bytes(path, &n);
    for (size_t len = 0; len < n; ++len) expect_malformed(good, len, NULL);
    /* The whole file plus one byte: trailing data. */
    unsigned char* longer = malloc(n + 1);
    memcpy(longer, good, n);
    longer[n] = 0;
    expect_malformed(longer, n + 1, NULL);
    free(longer);

    size_t header_end = 8 + (size_t)good[0] + ((size_t)good[1] << 8);
    static const unsigned char values[] = {0x00, 0x01, 0x1f, ' ', '"', ',',  ':', '-',  '.',  '0',  '1', '9',
                                           'e',  '[',  ']',  '{', '}', '\\', 'F', 0x7f, 0x80, 0xc3, 0xff};
    unsigned char* bad = malloc(n);
    size_t ok = 0, rejected = 0;
    for (size_t pos = 0; pos < header_end; ++pos) {
        for (size_t v = 0; v < sizeof values; ++v) {
            if (good[pos] == values[v]) continue;
            memcpy(bad, good, n);
            bad[pos] = values[v];
            aph_safetensors* f = NULL;
            aph_status st = open_bytes(bad, n, &f);
            if (st == APH_OK) {
                ++ok;
                for (size_t k = 0; k < aph_safetensors_count(f); ++k) {
                    aph_tensor* t = NULL;
                    APH_ASSERT_OK(aph_safetensors_tensor(f, aph_safetensors_name(f, k), g_cpu, &t));
                    size_t nb = (size_t)aph_tensor_nbytes(t);
                    void* host = malloc(nb + 1);
                    APH_ASSERT_OK(aph_tensor_to_host(t, host, nb));
                    free(host);
                    aph_tensor_release(t);
                }
                char* meta = NULL;
                APH_ASSERT_OK(aph_safetensors_metadata(f, &meta));
                aph_string_free(meta);
                aph_safetensors_release(f);
            } else {
                ++rejected;
                if (st != APH_ERR_SERIALIZATION) {
                    print_error("byte %zu = 0x%02x: %s (%s)\n", pos, values[v], aph_status_name(st), aph_last_error());
                    fail();
                }
                assert_true(strlen(aph_last_error()) > strlen("serialization error: "));
            }
        }
    }
    /* Both outcomes occur: names and metadata tolerate most bytes, the structure does not. */
    assert_true(ok > 0);
    assert_true(rejected > ok);
    free(bad);
    free(good);
    for (int i = 0; i < 3; ++i) aph_tensor_release(ts[i]);
}

static void test_argument_and_io_errors(void** state) {
    (void)state;
    aph_safetensors* const sentinel = (aph_safetensors*)(uintptr_t)0x5E47;
    aph_safetensors* f = sentinel;
    APH_ASSERT_ERR(aph_safetensors_open(NULL, &f), APH_ERR_INVALID_ARGUMENT, "invalid argument: path must not be NULL");
    APH_ASSERT_ERR(aph_safetensors_open("x", NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: out must not be NULL");
    assert_ptr_equal(f, sentinel);

    char path[512], msg[700];
    path_in_dir(path, sizeof path, "does-not-exist.safetensors");
    snprintf(msg, sizeof msg, "I/O error: %s: No such file or directory", path);
    APH_ASSERT_ERR(aph_safetensors_open(path, &f), APH_ERR_IO, msg);
    snprintf(msg, sizeof msg, "I/O error: %s: Is a directory", g_dir);
    APH_ASSERT_ERR(aph_safetensors_open(g_dir, &f), APH_ERR_IO, msg);
    assert_ptr_equal(f, sentinel);

    /* NULL handles. */
    aph_safetensors_release(NULL);
    assert_int_equal(aph_safetensors_count(NULL), 0);
    assert_null(aph_safetensors_name(NULL, 0));
    char* s = (char*)"untouched";
    APH_ASSERT_ERR(aph_safetensors_metadata(NULL, &s), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: file must not be NULL");
    assert_string_equal(s, "untouched");

    int64_t shape[1] = {3};
    aph_tensor* t = random_tensor(APH_DTYPE_I32, shape, 1);
    const char* name = "t";
    path_in_dir(path, sizeof path, "args.safetensors");
    APH_ASSERT_OK(aph_safetensors_save(path, &name, (const aph_tensor* const*)&t, 1, NULL));
    APH_ASSERT_OK(aph_safetensors_open(path, &f));
    APH_ASSERT_ERR(aph_safetensors_metadata(f, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    aph_dtype dt = APH_DTYPE_INVALID;
    size_t ndim = 77;
    snprintf(msg, sizeof msg, "not found: %s: no tensor named 'missing'", path);
    APH_ASSERT_ERR(aph_safetensors_info(f, "missing", &dt, NULL, 0, &ndim), APH_ERR_NOT_FOUND, msg);
    assert_int_equal(dt, APH_DTYPE_INVALID);
    assert_int_equal(ndim, 77);
    APH_ASSERT_ERR(aph_safetensors_info(NULL, "t", &dt, NULL, 0, &ndim), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: file must not be NULL");
    APH_ASSERT_ERR(aph_safetensors_info(f, NULL, &dt, NULL, 0, &ndim), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: name must not be NULL");
    /* A shape buffer too small for the tensor: an error, and nothing written. */
    int64_t small_shape[1] = {-5};
    APH_ASSERT_ERR(aph_safetensors_info(f, "t", &dt, small_shape, 0, &ndim), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: capacity is 0, but tensor 't' has 1 dimensions");
    assert_int_equal(small_shape[0], -5);
    assert_int_equal(dt, APH_DTYPE_INVALID);
    assert_int_equal(ndim, 77);
    APH_ASSERT_OK(aph_safetensors_info(f, "t", &dt, small_shape, 1, &ndim));
    assert_int_equal(small_shape[0], 3);
    dt = APH_DTYPE_INVALID;
    ndim = 77;
    aph_tensor* out = (aph_tensor*)(uintptr_t)0x5E47;
    APH_ASSERT_ERR(aph_safetensors_tensor(f, "missing", g_cpu, &out), APH_ERR_NOT_FOUND, msg);
    APH_ASSERT_ERR(aph_safetensors_tensor(f, "t", NULL, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: device must not be NULL");
    APH_ASSERT_ERR(aph_safetensors_tensor(f, "t", g_cpu, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_safetensors_tensor(NULL, "t", g_cpu, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: file must not be NULL");
    APH_ASSERT_ERR(aph_safetensors_tensor(f, NULL, g_cpu, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: name must not be NULL");
    assert_ptr_equal(out, (aph_tensor*)(uintptr_t)0x5E47);
    APH_ASSERT_OK(aph_safetensors_info(f, "t", &dt, NULL, 0, &ndim));
    assert_int_equal(dt, APH_DTYPE_I32);
    assert_int_equal(ndim, 1);
    aph_safetensors_release(f);
    aph_tensor_release(t);
}

/* Counts the directory's entries whose names start with prefix. */
static int count_entries(const char* prefix) {
    DIR* d = opendir(g_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) ++n;
    }
    closedir(d);
    return n;
}

static void test_save_errors(void** state) {
    (void)state;
    int64_t shape[1] = {2};
    aph_tensor* a = random_tensor(APH_DTYPE_F32, shape, 1);
    aph_tensor* b = random_tensor(APH_DTYPE_I64, shape, 1);
    char path[512];
    path_in_dir(path, sizeof path, "keep.safetensors");
    const char* one = "one";
    APH_ASSERT_OK(aph_safetensors_save(path, &one, (const aph_tensor* const*)&a, 1, NULL));
    size_t n0 = 0;
    unsigned char* before = read_bytes(path, &n0);

    const aph_tensor* ab[2] = {a, b};
    const char* dup[2] = {"x", "x"};
    APH_ASSERT_ERR(aph_safetensors_save(path, dup, ab, 2, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: names[0] and names[1] are both 'x'");
    const char* with_null[2] = {"x", NULL};
    APH_ASSERT_ERR(aph_safetensors_save(path, with_null, ab, 2, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: names[1] must not be NULL");
    const char* with_empty[2] = {"", "y"};
    APH_ASSERT_ERR(aph_safetensors_save(path, with_empty, ab, 2, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: names[0] is empty");
    const char* reserved[2] = {"x", "__metadata__"};
    APH_ASSERT_ERR(aph_safetensors_save(path, reserved, ab, 2, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: names[1] is \"__metadata__\", the key of the file's metadata");
    const char* bad_utf8[2] = {"x", "\xc3("};
    APH_ASSERT_ERR(aph_safetensors_save(path, bad_utf8, ab, 2, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: names[1] is not valid UTF-8");
    const char* good[2] = {"x", "y"};
    const aph_tensor* null_t[2] = {a, NULL};
    APH_ASSERT_ERR(aph_safetensors_save(path, good, null_t, 2, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: tensors[1] must not be NULL");
    APH_ASSERT_ERR(aph_safetensors_save(NULL, good, ab, 2, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: path must not be NULL");
    APH_ASSERT_ERR(aph_safetensors_save(path, NULL, ab, 2, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: names must not be NULL");
    APH_ASSERT_ERR(aph_safetensors_save(path, good, NULL, 2, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: tensors must not be NULL");
    APH_ASSERT_ERR(aph_safetensors_save(path, good, ab, 2, "[1]"), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: metadata_json is an array, expected a JSON object of strings");
    APH_ASSERT_ERR(aph_safetensors_save(path, good, ab, 2, "{\"a\":\"1\",\"b\":2}"), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: metadata_json: the value of 'b' is an integer, expected a string");
    APH_ASSERT_ERR(aph_safetensors_save(path, good, ab, 2, "{\"a\":\"1\",\"a\":\"2\"}"), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: metadata_json has the key 'a' twice");
    APH_ASSERT_ERR_CONTAINS(aph_safetensors_save(path, good, ab, 2, "{\"a\":"), APH_ERR_SERIALIZATION,
                            "serialization error: metadata_json: parse error at line 1, column 6");

    /* A directory that does not exist: nothing is written anywhere. */
    char missing[600], msg[800];
    snprintf(missing, sizeof missing, "%s/no-such-dir/x.safetensors", g_dir);
    snprintf(msg, sizeof msg, "I/O error: %s: No such file or directory", missing);
    APH_ASSERT_ERR(aph_safetensors_save(missing, good, ab, 2, NULL), APH_ERR_IO, msg);
    /* Renaming over a directory fails after the temporary was written: it is removed. */
    char dirpath[600];
    snprintf(dirpath, sizeof dirpath, "%s/a-directory", g_dir);
    assert_int_equal(mkdir(dirpath, 0755), 0);
    snprintf(msg, sizeof msg, "I/O error: %s: Is a directory", dirpath);
    APH_ASSERT_ERR(aph_safetensors_save(dirpath, good, ab, 2, NULL), APH_ERR_IO, msg);
    assert_int_equal(count_entries("a-directory.tmp"), 0);
    assert_int_equal(rmdir(dirpath), 0);

    /* Every failure left the existing file as it was, and no temporaries behind. */
    size_t n1 = 0;
    unsigned char* after = read_bytes(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    assert_int_equal(count_entries("keep.safetensors.tmp"), 0);
    free(before);
    free(after);

    /* A successful save replaces it. */
    APH_ASSERT_OK(aph_safetensors_save(path, good, ab, 2, NULL));
    aph_safetensors* f = NULL;
    APH_ASSERT_OK(aph_safetensors_open(path, &f));
    assert_int_equal(aph_safetensors_count(f), 2);
    assert_string_equal(aph_safetensors_name(f, 0), "y"); /* I64 before F32 */
    assert_string_equal(aph_safetensors_name(f, 1), "x");
    aph_safetensors_release(f);
    assert_int_equal(count_entries("keep.safetensors.tmp"), 0);
    aph_tensor_release(a);
    aph_tensor_release(b);
}

typedef struct {
    aph_safetensors* file;
    const aph_tensor* expect;
    int failures;
} reader_arg;

static void* reader(void* p) {
    reader_arg* r = p;
    size_t nb = (size_t)aph_tensor_nbytes(r->expect);
    unsigned char* host = malloc(nb);
    for (int i = 0; i < 200; ++i) {
        aph_tensor* t = NULL;
        if (aph_safetensors_tensor(r->file, "w", g_cpu, &t) != APH_OK || aph_tensor_to_host(t, host, nb) != APH_OK ||
            memcmp(host, aph_tensor_data(r->expect), nb) != 0) {
            r->failures++;
        }
        aph_tensor_release(t);
        aph_dtype dt;
        if (aph_safetensors_info(r->file, "w", &dt, NULL, 0, NULL) != APH_OK || dt != APH_DTYPE_F16) r->failures++;
    }
    free(host);
    return NULL;
}

static void test_concurrent_readers(void** state) {
    (void)state;
    int64_t shape[2] = {64, 33};
    aph_tensor* w = random_tensor(APH_DTYPE_F16, shape, 2);
    char path[512];
    path_in_dir(path, sizeof path, "threads.safetensors");
    const char* name = "w";
    APH_ASSERT_OK(aph_safetensors_save(path, &name, (const aph_tensor* const*)&w, 1, NULL));
    aph_safetensors* f = NULL;
    APH_ASSERT_OK(aph_safetensors_open(path, &f));
    enum { T = 4 };
    pthread_t th[T];
    reader_arg args[T];
    for (int i = 0; i < T; ++i) {
        args[i] = (reader_arg){f, w, 0};
        assert_int_equal(pthread_create(&th[i], NULL, reader, &args[i]), 0);
    }
    for (int i = 0; i < T; ++i) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    aph_safetensors_release(f);
    aph_tensor_release(w);
}

static int setup(void** state) {
    (void)state;
    const char* tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/aph-safetensors-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(g_dir) == NULL) return -1;
    return aph_device_open(APH_DEVICE_CPU, 0, &g_cpu) == APH_OK ? 0 : -1;
}

static int teardown(void** state) {
    (void)state;
    aph_device_release(g_cpu);
    DIR* d = opendir(g_dir);
    if (d) {
        struct dirent* e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char p[600];
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(g_dir);
    return 0;
}

int main(void) {
    const char* env = getenv("APH_TEST_SEED");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    g_rng = env && *env ? strtoull(env, NULL, 10) | 1
                        : ((uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec) | 1;
    printf("test_safetensors: APH_TEST_SEED=%llu\n", (unsigned long long)g_rng);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_dtype),
        cmocka_unit_test(test_bytes_match_reference),
        cmocka_unit_test(test_tensor_outlives_file),
        cmocka_unit_test(test_mapped_tensors_are_read_only),
        cmocka_unit_test(test_misaligned_data_is_copied),
        cmocka_unit_test(test_accepted_variants),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_truncations_and_corruptions),
        cmocka_unit_test(test_argument_and_io_errors),
        cmocka_unit_test(test_save_errors),
        cmocka_unit_test(test_concurrent_readers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
