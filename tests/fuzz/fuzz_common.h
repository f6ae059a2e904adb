/* Shared by the fuzz targets (tests/fuzz/fuzz_*.c): checks that turn a broken promise of the
 * header into a crash libFuzzer reports (and the regression runs fail on), and an input reader.
 *
 * Each target is built twice: with libFuzzer (-fsanitize=fuzzer, APHELION_FUZZ=ON: CI's ASan
 * stage fuzzes each for a fixed time) and, everywhere else, with standalone_main.c, which runs
 * the committed seeds and regression inputs once as an ordinary test. */
#ifndef APH_FUZZ_COMMON_H
#define APH_FUZZ_COMMON_H

#include <aphelion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ends the process at once (a "crash" libFuzzer records with the input) saying why. */
#define FZ_FAIL(...)                                                         \
    do {                                                                     \
        fprintf(stderr, "fuzz check failed at %s:%d: ", __FILE__, __LINE__); \
        fprintf(stderr, __VA_ARGS__);                                        \
        fputc('\n', stderr);                                                 \
        abort();                                                             \
    } while (0)

#define FZ_CHECK(cond, ...)                \
    do {                                   \
        if (!(cond)) FZ_FAIL(__VA_ARGS__); \
    } while (0)

/* The message prefix of each failing status (header section 2's formats). */
static inline const char* fz_prefix(aph_status st) {
    switch (st) {
        case APH_ERR_INVALID_ARGUMENT: return "invalid argument: ";
        case APH_ERR_INVALID_CONFIG: return "invalid configuration: ";
        case APH_ERR_SHAPE_MISMATCH: return "shape mismatch: ";
        case APH_ERR_DIMENSION_MISMATCH: return "dimension mismatch: ";
        case APH_ERR_DEVICE_NOT_AVAILABLE: return "device not available: ";
        case APH_ERR_DEVICE_MISMATCH: return "device mismatch: ";
        case APH_ERR_OUT_OF_MEMORY: return "out of memory: ";
        case APH_ERR_KERNEL: return "kernel error: ";
        case APH_ERR_NOT_IMPLEMENTED: return "not implemented: ";
        case APH_ERR_IO: return "I/O error: ";
        case APH_ERR_BACKEND: return "backend error: ";
        case APH_ERR_GRAPH: return "graph error: ";
        case APH_ERR_VALIDATION: return "validation error: ";
        case APH_ERR_SERIALIZATION: return "serialization error: ";
        case APH_ERR_BUILD: return "build error: ";
        case APH_ERR_INTERNAL: return "internal error: ";
        case APH_ERR_NOT_FOUND: return "not found: ";
        case APH_ERR_INVALID_STATE: return "invalid state: ";
        default: return NULL;
    }
}

/* A call's status: APH_OK, or a failure that is not an internal error and left a message
 * beginning with its status's prefix. Returns st. `what` names the call. Hostile input may be
 * any documented error; APH_ERR_INTERNAL ("a bug in libaphelion") and an unknown status are
 * failures of the library. (The compat page's raw "Unknown dtype: x" is allowed.) */
static inline aph_status fz_status(aph_status st, const char* what) {
    if (st == APH_OK) return st;
    const char* msg = aph_last_error();
    const char* prefix = fz_prefix(st);
    FZ_CHECK(prefix != NULL, "%s returned an unknown status %d: %s", what, (int)st, msg);
    FZ_CHECK(st != APH_ERR_INTERNAL, "%s: internal error: %s", what, msg);
    FZ_CHECK(msg[0] != '\0', "%s returned %s with an empty message", what, aph_status_name(st));
    FZ_CHECK(strncmp(msg, prefix, strlen(prefix)) == 0 || strncmp(msg, "Unknown dtype: ", 15) == 0,
             "%s returned %s with the message '%s'", what, aph_status_name(st), msg);
    return st;
}

/* Reads the input front to back: bytes, integers, and the rest. Past the end: zeros. */
typedef struct fz_reader {
    const uint8_t* p;
    size_t n;
} fz_reader;

static inline uint8_t fz_u8(fz_reader* r) {
    if (r->n == 0) return 0;
    r->n--;
    return *r->p++;
}
static inline uint32_t fz_u32(fz_reader* r) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= (uint32_t)fz_u8(r) << (8 * i);
    return v;
}
static inline uint64_t fz_u64(fz_reader* r) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= (uint64_t)fz_u8(r) << (8 * i);
    return v;
}
/* A small signed number, mostly in [-4, 11], sometimes anything (for sizes and indices). */
static inline int64_t fz_small(fz_reader* r) {
    const uint8_t b = fz_u8(r);
    if (b < 240) return (int64_t)(b % 16) - 4;
    return (int64_t)fz_u64(r);
}

#endif
