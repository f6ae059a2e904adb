/* Shared helpers for libaphelion's cmocka tests. Include after <cmocka.h>'s prerequisites. */
#ifndef APH_TEST_UTIL_H
#define APH_TEST_UTIL_H

#include <aphelion.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

/* Asserts that expr returns APH_OK, printing the library's message if it does not. */
#define APH_ASSERT_OK(expr)                                                                              \
    do {                                                                                                 \
        aph_status aph_test_st_ = (expr);                                                                \
        if (aph_test_st_ != APH_OK) {                                                                    \
            print_error("%s returned %s: %s\n", #expr, aph_status_name(aph_test_st_), aph_last_error()); \
        }                                                                                                \
        assert_int_equal(aph_test_st_, APH_OK);                                                          \
    } while (0)

/* Asserts that expr fails with status code and exactly the message msg. */
#define APH_ASSERT_ERR(expr, code, msg)                                            \
    do {                                                                           \
        aph_status aph_test_st_ = (expr);                                          \
        assert_string_equal(aph_status_name(aph_test_st_), aph_status_name(code)); \
        assert_string_equal(aph_last_error(), (msg));                              \
    } while (0)

/* Asserts that expr fails with status code and a message containing part. */
#define APH_ASSERT_ERR_CONTAINS(expr, code, part)                                  \
    do {                                                                           \
        aph_status aph_test_st_ = (expr);                                          \
        assert_string_equal(aph_status_name(aph_test_st_), aph_status_name(code)); \
        if (strstr(aph_last_error(), (part)) == NULL) {                            \
            print_error("message '%s' lacks '%s'\n", aph_last_error(), (part));    \
            fail();                                                                \
        }                                                                          \
    } while (0)

/* A log sink that records messages (thread-safe), for tests that check what was logged. */
#define APH_CAPTURE_MAX 256
typedef struct aph_capture {
    pthread_mutex_t mutex;
    int count;
    aph_log_level levels[APH_CAPTURE_MAX];
    char targets[APH_CAPTURE_MAX][64];
    char messages[APH_CAPTURE_MAX][512];
} aph_capture;

static void aph_capture_cb(void* ud, aph_log_level level, const char* target, const char* message) {
    aph_capture* c = (aph_capture*)ud;
    pthread_mutex_lock(&c->mutex);
    if (c->count < APH_CAPTURE_MAX) {
        c->levels[c->count] = level;
        snprintf(c->targets[c->count], sizeof c->targets[0], "%s", target);
        snprintf(c->messages[c->count], sizeof c->messages[0], "%s", message);
    }
    c->count++;
    pthread_mutex_unlock(&c->mutex);
}

static inline void aph_capture_start(aph_capture* c) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mutex, NULL);
    assert_int_equal(aph_log_set_callback(aph_capture_cb, c), APH_OK);
}

static inline void aph_capture_stop(aph_capture* c) {
    assert_int_equal(aph_log_set_callback(NULL, NULL), APH_OK);
    pthread_mutex_destroy(&c->mutex);
}

/* How many captured messages at `level` contain `part` (any level if level < 0). */
static inline int aph_capture_find(aph_capture* c, int level, const char* part) {
    int n = 0;
    int total = c->count < APH_CAPTURE_MAX ? c->count : APH_CAPTURE_MAX;
    for (int i = 0; i < total; ++i) {
        if ((level < 0 || (int)c->levels[i] == level) && strstr(c->messages[i], part) != NULL) ++n;
    }
    return n;
}

/* A writable pointer to t's first element (aph_tensor_data_mut), failing the test when t is
 * read-only. */
static inline void* aph_test_data_mut(aph_tensor* t) {
    void* p = NULL;
    APH_ASSERT_OK(aph_tensor_data_mut(t, &p));
    return p;
}

/* The tracker attached to d (aph_device_tracker), for comparing: the new reference is
 * released at once (the device keeps the tracker alive while it is attached). */
static inline aph_tracker* aph_test_device_tracker(const aph_device* d) {
    aph_tracker* t = (aph_tracker*)0x1;
    APH_ASSERT_OK(aph_device_tracker(d, &t));
    aph_tracker_release(t);
    return t;
}

/* xorshift64*: fresh pseudo-random values for tests (seeded from the clock by the caller). */
static inline uint64_t aph_test_rand(uint64_t* state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ULL;
}

#endif
