/*
 * How libaphelion's CUDA module treats the CUDA runtime's per-thread "last error". Private, like
 * module_abi.h: never installed. Shared by the real module (cuda/module.cu) and the simulated
 * one of the tests (tests/sim_cuda_module.c), which runs these same functions over a simulated
 * runtime that keeps the same per-thread error, so the test suite checks this policy on
 * machines without a GPU.
 *
 * The runtime records the code of every failing call as the calling thread's last error, where
 * it stays until cudaGetLastError returns and resets it (cudaPeekAtLastError only reads it); a
 * kernel launch reports its own failure only there. cudaStreamQuery and cudaEventQuery answer
 * "not done yet" with cudaErrorNotReady, which the runtime records like any failure. Left alone,
 * such an error makes the next launch on the thread look failed although it was queued (and
 * the core then does not record the launch's stream use). Hence two rules:
 *
 *  1. An error the module reports (in its message) or deliberately ignores is consumed at once:
 *     a query's NotReady, a failed cudaMalloc or cudaHostAlloc (out of memory or not), the
 *     cudaSetDevice that gives a thread its previous device back, every failure the module
 *     returns to the core.
 *  2. Before each kernel launch the module drops whatever an earlier call on the thread may have
 *     left (code outside libaphelion shares the thread and, in a process with one CUDA runtime,
 *     its error state), so the error read after the launch is the launch's own.
 *
 * PyTorch's CUDA caching allocator does the same (pytorch/pytorch#18584, #61554: clear
 * cudaErrorNotReady after event and stream queries; its CUDA check consumes what it reports).
 * Sticky errors (a kernel that faulted) cannot be cleared: every later call keeps failing with
 * them, and that is what the core reports.
 */
#ifndef APHELION_CUDA_LAST_ERROR_H
#define APHELION_CUDA_LAST_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* The runtime's side: its codes and calls as plain ints, so that C (the simulated module) and
 * CUDA C++ (the real one) can share the functions below. */
typedef struct aph_cuda_runtime {
    int success;                    /* cudaSuccess */
    int not_ready;                  /* cudaErrorNotReady */
    int (*get_last_error)(void);    /* cudaGetLastError: returns the thread's error and resets it */
    int (*get_device)(int* device); /* cudaGetDevice */
    int (*set_device)(int device);  /* cudaSetDevice */
} aph_cuda_runtime;

/* Rule 1: err, the result of a call, is reported or ignored by the caller: consume it (no-op
 * for success). Returns err. */
static inline int aph_cuda_consume(const aph_cuda_runtime* rt, int err) {
    if (err != rt->success) (void)rt->get_last_error();
    return err;
}

/* A query (cudaStreamQuery, cudaEventQuery) returned err. Success and NotReady set *done to 1
 * or 0 and return success; anything else is returned, to be reported. Consumed either way. */
static inline int aph_cuda_query(const aph_cuda_runtime* rt, int err, int* done) {
    aph_cuda_consume(rt, err);
    if (err == rt->success || err == rt->not_ready) {
        *done = err == rt->success;
        return rt->success;
    }
    return err;
}

/* Rule 2: immediately before a kernel launch. */
static inline void aph_cuda_before_launch(const aph_cuda_runtime* rt) { (void)rt->get_last_error(); }

/* Immediately after a kernel launch: the launch's error (consumed). */
static inline int aph_cuda_launch_result(const aph_cuda_runtime* rt) { return rt->get_last_error(); }

/* The device of one module call: the thread's device before the call, and whether the call
 * switched it. */
typedef struct aph_cuda_device_scope {
    int previous;
    int switched;
} aph_cuda_device_scope;

/* Makes ordinal the calling thread's device for one call. Returns success, or the error of the
 * failing call (consumed: it is reported) with *what naming it ("cudaGetDevice",
 * "cudaSetDevice"). scope is always initialised, so aph_cuda_device_leave may follow either
 * way. */
static inline int aph_cuda_device_enter(const aph_cuda_runtime* rt, int ordinal, aph_cuda_device_scope* scope,
                                        const char** what) {
    int err;
    scope->previous = 0;
    scope->switched = 0;
    err = rt->get_device(&scope->previous);
    if (err != rt->success) {
        *what = "cudaGetDevice";
        return aph_cuda_consume(rt, err);
    }
    if (scope->previous == ordinal) return rt->success;
    err = rt->set_device(ordinal);
    if (err != rt->success) {
        *what = "cudaSetDevice";
        return aph_cuda_consume(rt, err);
    }
    scope->switched = 1;
    return rt->success;
}

/* Gives the thread its previous device back. A failure here cannot be reported (the call's own
 * result stands) and is consumed: it must not fail the thread's next launch. */
static inline void aph_cuda_device_leave(const aph_cuda_runtime* rt, const aph_cuda_device_scope* scope) {
    if (scope->switched) aph_cuda_consume(rt, rt->set_device(scope->previous));
}

#ifdef __cplusplus
}
#endif

#endif
