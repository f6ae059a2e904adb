/* Fuzz target: the safetensors reader. The input is a whole file, handed to aph_safetensors_open
 * through a memfd (its /proc/self/fd path), as a file on disk would be. What opens is read in
 * full (names, infos, metadata, every tensor copied to the host) and written back with
 * aph_safetensors_save; the copy must open with the same tensors, bytes and metadata.
 * Seeds: tests/fuzz/safetensors/. */
#define _GNU_SOURCE
#include "fuzz_common.h"

#include <sys/mman.h>
#include <unistd.h>

static aph_device* g_cpu;
static char g_copy_path[256];

static void init(void) {
    if (g_cpu) return;
    aph_log_set_level(APH_LOG_ERROR);
    if (aph_device_open(APH_DEVICE_CPU, 0, &g_cpu) != APH_OK) FZ_FAIL("cpu: %s", aph_last_error());
    snprintf(g_copy_path, sizeof g_copy_path, "%s/aph_fuzz_safetensors_%d.safetensors",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
}

enum { MAX_TENSORS = 64, MAX_BYTES = 1 << 20 };

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    init();
    const int fd = memfd_create("aph_fuzz", MFD_CLOEXEC);
    FZ_CHECK(fd >= 0, "memfd_create failed");
    FZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size, "write failed");
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    aph_safetensors* f = NULL;
    aph_status st = fz_status(aph_safetensors_open(path, &f), "aph_safetensors_open");
    close(fd); /* the mapping lives on without it */
    if (st != APH_OK) return 0;

    const size_t n = aph_safetensors_count(f);
    FZ_CHECK(aph_safetensors_name(f, n) == NULL, "a name past the count");
    char* meta = NULL;
    FZ_CHECK(aph_safetensors_metadata(f, &meta) == APH_OK, "metadata: %s", aph_last_error());
    const char* names[MAX_TENSORS];
    aph_tensor* tensors[MAX_TENSORS];
    size_t kept = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; ++i) {
        const char* name = aph_safetensors_name(f, i);
        FZ_CHECK(name != NULL, "tensor %zu has no name", i);
        aph_dtype dt = APH_DTYPE_INVALID;
        size_t ndim = 0;
        int64_t shape[APH_TENSOR_MAX_DIMS];
        FZ_CHECK(aph_safetensors_info(f, name, &dt, NULL, 0, &ndim) == APH_OK, "info: %s", aph_last_error());
        FZ_CHECK(ndim <= APH_TENSOR_MAX_DIMS, "ndim %zu", ndim);
        FZ_CHECK(aph_safetensors_info(f, name, &dt, shape, ndim, &ndim) == APH_OK, "info: %s", aph_last_error());
        aph_tensor* t = NULL;
        st = fz_status(aph_safetensors_tensor(f, name, g_cpu, &t), "aph_safetensors_tensor");
        if (st != APH_OK) continue; /* e.g. out of memory for a huge tensor */
        FZ_CHECK(aph_tensor_dtype(t) == dt && aph_tensor_ndim(t) == ndim, "tensor '%s' differs from its info", name);
        const uint64_t nb = aph_tensor_nbytes(t);
        if (nb <= MAX_BYTES) {
            void* buf = malloc(nb ? nb : 1);
            FZ_CHECK(aph_tensor_to_host(t, buf, nb) == APH_OK, "to_host: %s", aph_last_error());
            free(buf);
        }
        if (kept < MAX_TENSORS && total + nb <= MAX_BYTES) {
            names[kept] = name;
            tensors[kept++] = t;
            total += nb;
        } else {
            aph_tensor_release(t);
        }
    }
    /* Written back and read again: the same tensors and metadata. */
    const char* md = strcmp(meta, "{}") == 0 ? NULL : meta;
    if (kept == n && fz_status(aph_safetensors_save(g_copy_path, names, (const aph_tensor* const*)tensors, kept, md),
                               "aph_safetensors_save") == APH_OK) {
        aph_safetensors* c = NULL;
        FZ_CHECK(aph_safetensors_open(g_copy_path, &c) == APH_OK, "reopening the copy: %s", aph_last_error());
        FZ_CHECK(aph_safetensors_count(c) == n, "the copy has %zu tensors, not %zu", aph_safetensors_count(c), n);
        char* meta2 = NULL;
        FZ_CHECK(aph_safetensors_metadata(c, &meta2) == APH_OK, "metadata: %s", aph_last_error());
        FZ_CHECK(strcmp(meta, meta2) == 0, "metadata %s became %s", meta, meta2);
        aph_string_free(meta2);
        for (size_t i = 0; i < kept; ++i) {
            aph_tensor* t2 = NULL;
            FZ_CHECK(aph_safetensors_tensor(c, names[i], g_cpu, &t2) == APH_OK, "copy's '%s': %s", names[i],
                     aph_last_error());
            const uint64_t nb = aph_tensor_nbytes(tensors[i]);
            FZ_CHECK(aph_tensor_nbytes(t2) == nb && aph_tensor_dtype(t2) == aph_tensor_dtype(tensors[i]),
                     "copy's '%s' differs", names[i]);
            unsigned char* a = malloc(nb ? nb : 1);
            unsigned char* b = malloc(nb ? nb : 1);
            FZ_CHECK(aph_tensor_to_host(tensors[i], a, nb) == APH_OK && aph_tensor_to_host(t2, b, nb) == APH_OK,
                     "to_host: %s", aph_last_error());
            FZ_CHECK(memcmp(a, b, nb) == 0, "copy's '%s' has other bytes", names[i]);
            free(a);
            free(b);
            aph_tensor_release(t2);
        }
        aph_safetensors_release(c);
        unlink(g_copy_path);
    }
    for (size_t i = 0; i < kept; ++i) aph_tensor_release(tensors[i]);
    aph_string_free(meta);
    aph_safetensors_release(f);
    return 0;
}
