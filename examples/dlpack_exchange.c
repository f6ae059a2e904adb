/*
 * dlpack_exchange.c — tensors, views and zero-copy DLPack exchange from C.
 *
 * 1. Makes a tensor from host data, takes views (transpose, slice) that share its memory.
 * 2. Exports a view with DLPack, as another framework (numpy, PyTorch, ...) would receive it,
 *    and reads it through the DLTensor description alone.
 * 3. Imports memory another library owns: the tensor uses the buffer in place and the owner's
 *    deleter runs exactly once, when the last libaphelion reference goes.
 * 4. Puts the device under a budget and shows the allocator's statistics.
 *
 * Build against an installed libaphelion:
 *   cc -std=c11 dlpack_exchange.c $(pkg-config --cflags --libs aphelion) -o dlpack_exchange
 */
#include <aphelion.h>
#include <aphelion_dlpack.h> /* or dlpack.h from your framework: same structs */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        aph_status st_ = (call);                                                                   \
        if (st_ != APH_OK) {                                                                       \
            fprintf(stderr, "%s failed: %s: %s\n", #call, aph_status_name(st_), aph_last_error()); \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* The "other library" of step 3: a malloc'd buffer described as a DLManagedTensorVersioned. */
typedef struct foreign {
    DLManagedTensorVersioned managed;
    int64_t shape[2];
    int* deleted; /* set when the deleter runs */
} foreign;

static void foreign_deleter(DLManagedTensorVersioned* self) {
    foreign* f = (foreign*)self->manager_ctx;
    *f->deleted += 1;
    free(self->dl_tensor.data);
    free(f);
}

int main(void) {
    aph_device* cpu = NULL;
    CHECK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));

    /* 1. A 3x4 tensor of 0..11 and two views of it. */
    float values[12];
    for (int i = 0; i < 12; ++i) values[i] = (float)i;
    const int64_t shape[2] = {3, 4};
    aph_tensor* a = NULL;
    CHECK(aph_tensor_from_host(cpu, APH_DTYPE_F32, shape, 2, values, sizeof values, &a));
    aph_tensor* at = NULL; /* 4x3, strides {1, 4} */
    CHECK(aph_tensor_transpose(a, 0, 1, &at));
    aph_tensor* cols = NULL; /* columns 1 and 3: 3x2, strides {4, 2} */
    CHECK(aph_tensor_slice(a, 1, 1, 4, 2, &cols));
    float out[6];
    CHECK(aph_tensor_to_host(cols, out, sizeof out)); /* logical order: 1 3 5 7 9 11 */
    printf("columns 1 and 3: %g %g %g %g %g %g (shares memory: %d)\n", out[0], out[1], out[2], out[3], out[4], out[5],
           aph_tensor_shares_storage(a, cols));

    /* 2. Export the transposed view. The consumer sees the same memory, with strides. */
    DLManagedTensorVersioned* dl = NULL;
    CHECK(aph_tensor_to_dlpack(at, &dl));
    const DLTensor* t = &dl->dl_tensor;
    const float* base = (const float*)((const char*)t->data + t->byte_offset);
    printf("DLPack %u.%u: ndim %d, shape [%lld, %lld], strides [%lld, %lld], zero-copy: %s\n", dl->version.major,
           dl->version.minor, t->ndim, (long long)t->shape[0], (long long)t->shape[1], (long long)t->strides[0],
           (long long)t->strides[1], (const void*)base == aph_tensor_data(at) ? "yes" : "no");
    printf("element [2][1] read through DLPack: %g\n", base[2 * t->strides[0] + 1 * t->strides[1]]);
    aph_tensor_release(at); /* the export keeps the memory alive on its own ... */
    dl->deleter(dl);        /* ... until the consumer is done with it */

    /* 3. Import a buffer another library owns. */
    int deleted = 0;
    foreign* f = calloc(1, sizeof *f);
    int32_t* data = malloc(6 * sizeof *data);
    if (f == NULL || data == NULL) return 1;
    for (int i = 0; i < 6; ++i) data[i] = 100 + i;
    f->shape[0] = 2;
    f->shape[1] = 3;
    f->deleted = &deleted;
    f->managed.version.major = DLPACK_MAJOR_VERSION;
    f->managed.version.minor = DLPACK_MINOR_VERSION;
    f->managed.manager_ctx = f;
    f->managed.deleter = foreign_deleter;
    f->managed.dl_tensor.data = data;
    f->managed.dl_tensor.device.device_type = kDLCPU;
    f->managed.dl_tensor.ndim = 2;
    f->managed.dl_tensor.dtype.code = kDLInt;
    f->managed.dl_tensor.dtype.bits = 32;
    f->managed.dl_tensor.dtype.lanes = 1;
    f->managed.dl_tensor.shape = f->shape;
    f->managed.dl_tensor.strides = NULL; /* compact row-major */
    aph_tensor* imported = NULL;
    CHECK(aph_tensor_from_dlpack(&f->managed, &imported));
    aph_tensor* row = NULL;
    CHECK(aph_tensor_select(imported, 0, 1, &row)); /* a view: [103, 104, 105] */
    int32_t r[3];
    CHECK(aph_tensor_to_host(row, r, sizeof r));
    printf("imported row 1: %d %d %d (in place: %s)\n", r[0], r[1], r[2],
           aph_tensor_data(imported) == (void*)data ? "yes" : "no");
    aph_tensor_release(imported);
    printf("deleter calls after releasing the tensor, view still alive: %d\n", deleted);
    aph_tensor_release(row);
    printf("deleter calls after releasing the view: %d\n", deleted);

    /* 4. A 1 MiB budget: allocations beyond it fail cleanly. */
    aph_tracker* budget = NULL;
    CHECK(aph_tracker_create(1 << 20, &budget));
    CHECK(aph_device_set_tracker(cpu, budget));
    const int64_t big[1] = {1 << 20}; /* 4 MiB of f32 */
    aph_tensor* too_big = NULL;
    aph_status st = aph_tensor_create(cpu, APH_DTYPE_F32, big, 1, &too_big);
    printf("4 MiB under a 1 MiB budget: %s: %s\n", aph_status_name(st), aph_last_error());
    CHECK(aph_device_set_tracker(cpu, NULL));
    aph_tracker_release(budget);

    aph_memory_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    CHECK(aph_device_memory_stats(cpu, &stats));
    printf("allocator: %llu allocations, %llu bytes allocated now, %llu reserved, peak %llu\n",
           (unsigned long long)stats.allocations, (unsigned long long)stats.allocated_bytes,
           (unsigned long long)stats.reserved_bytes, (unsigned long long)stats.allocated_bytes_peak);

    aph_tensor_release(cols);
    aph_tensor_release(a);
    aph_device_release(cpu);
    if (deleted != 1 || st != APH_ERR_OUT_OF_MEMORY) return 1;
    printf("example: ok\n");
    return 0;
}
