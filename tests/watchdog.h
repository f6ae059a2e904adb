/* A watchdog for tests whose failure mode is a deadlock: arm it before the scenario, disarm it
 * after (as a cmocka teardown, so a failed assertion disarms it too). If the scenario does not
 * finish in time, the watchdog thread says what hung and ends the process at once with exit
 * status 1: the test fails in seconds instead of stalling the run until ctest's TIMEOUT, and no
 * static destructor or atexit handler can block on a lock the hung threads hold. */
#ifndef APH_TEST_WATCHDOG_H
#define APH_TEST_WATCHDOG_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

typedef struct aph_watchdog {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int armed;
    int seconds;
    const char* what;
    pthread_t thread;
} aph_watchdog;

static aph_watchdog g_aph_watchdog = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL, 0};

static inline void* aph_watchdog_main(void* arg) {
    aph_watchdog* w = (aph_watchdog*)arg;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    pthread_mutex_lock(&w->mutex);
    deadline.tv_sec += w->seconds;
    while (w->armed) {
        if (pthread_cond_timedwait(&w->cond, &w->mutex, &deadline) == ETIMEDOUT && w->armed) {
            fprintf(stderr, "watchdog: %s did not finish within %d s: a deadlock\n", w->what, w->seconds);
            fflush(stderr);
            _exit(1);
        }
    }
    pthread_mutex_unlock(&w->mutex);
    return NULL;
}

/* Starts the watchdog for one scenario (what names it in the message). */
static inline void aph_watchdog_arm(int seconds, const char* what) {
    aph_watchdog* w = &g_aph_watchdog;
    pthread_mutex_lock(&w->mutex);
    w->armed = 1;
    w->seconds = seconds;
    w->what = what;
    pthread_mutex_unlock(&w->mutex);
    if (pthread_create(&w->thread, NULL, aph_watchdog_main, w) != 0) {
        fprintf(stderr, "watchdog: could not start its thread\n");
        _exit(1);
    }
}

/* Stops it (no-op when not armed). Usable as a cmocka teardown. */
static inline int aph_watchdog_disarm(void** state) {
    (void)state;
    aph_watchdog* w = &g_aph_watchdog;
    pthread_mutex_lock(&w->mutex);
    const int was = w->armed;
    w->armed = 0;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mutex);
    if (was) pthread_join(w->thread, NULL);
    return 0;
}

#endif
