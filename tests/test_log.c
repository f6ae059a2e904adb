/* test_log.c — section 3 of aphelion.h: the logger. Default level (warn, with APHELION_LOG set
 * to ""), set/get level and names, the callback (level, target, message; filtering; NULL
 * target; replacement; no re-entry from inside it; the guarantee that a replaced callback is
 * never called again), the default stderr sink's layout, presets, rust-ai-core's
 * training-step and memory helpers with their exact formats, exact message counts from several
 * threads, and the debug-level message every failing call logs on target "aphelion::error". */
#define _DEFAULT_SOURCE /* timegm, dup, dup2 */
#include "test_util.h"

#include <regex.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

static aph_capture g_cap; /* large: static, not on the stack */

/* Ascending severity: k_levels[i] == i. */
static const aph_log_level k_levels[] = {APH_LOG_TRACE, APH_LOG_DEBUG, APH_LOG_INFO, APH_LOG_WARN, APH_LOG_ERROR};

/* Asserts the i-th captured message exactly. */
static void assert_captured(int i, aph_log_level level, const char* target, const char* message) {
    assert_true(i < g_cap.count);
    assert_int_equal(g_cap.levels[i], level);
    assert_string_equal(g_cap.targets[i], target);
    assert_string_equal(g_cap.messages[i], message);
}

/* ---------------------------------------------------------------------------------------------
 * Levels
 * ------------------------------------------------------------------------------------------- */

/* Must run first: nothing has set the level yet. */
static void test_default_level_is_warn(void** state) {
    (void)state;
    const char* env = getenv("APHELION_LOG");
    assert_true(env == NULL || env[0] == '\0');
    assert_int_equal(aph_log_get_level(), APH_LOG_WARN);

    /* warn passes, info does not. */
    aph_capture_start(&g_cap);
    APH_ASSERT_OK(aph_log_write(APH_LOG_INFO, "test", "dropped"));
    APH_ASSERT_OK(aph_log_write(APH_LOG_WARN, "test", "kept"));
    APH_ASSERT_OK(aph_log_write(APH_LOG_ERROR, "test", "kept too"));
    assert_int_equal(g_cap.count, 2);
    assert_captured(0, APH_LOG_WARN, "test", "kept");
    assert_captured(1, APH_LOG_ERROR, "test", "kept too");
    aph_capture_stop(&g_cap);
}

static void test_level_values_and_names(void** state) {
    (void)state;
    /* Ascending severity, with the numbers of aph_trace_level for the same names. */
    assert_int_equal(APH_LOG_TRACE, 0);
    assert_int_equal(APH_LOG_DEBUG, 1);
    assert_int_equal(APH_LOG_INFO, 2);
    assert_int_equal(APH_LOG_WARN, 3);
    assert_int_equal(APH_LOG_ERROR, 4);
    assert_int_equal(APH_LOG_DEBUG, APH_TRACE_DEBUG);
    assert_int_equal(APH_LOG_INFO, APH_TRACE_INFO);
    assert_int_equal(APH_LOG_WARN, APH_TRACE_WARN);
    assert_int_equal(APH_LOG_ERROR, APH_TRACE_ERROR);
    assert_string_equal(aph_log_level_name(APH_LOG_ERROR), "error");
    assert_string_equal(aph_log_level_name(APH_LOG_WARN), "warn");
    assert_string_equal(aph_log_level_name(APH_LOG_INFO), "info");
    assert_string_equal(aph_log_level_name(APH_LOG_DEBUG), "debug");
    assert_string_equal(aph_log_level_name(APH_LOG_TRACE), "trace");
    const int bad[] = {-1, 5, 6, 100, -100};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        const char* name = aph_log_level_name((aph_log_level)bad[i]);
        assert_non_null(name);
        assert_string_equal(name, "invalid");
    }
}

static void test_set_get_level(void** state) {
    (void)state;
    for (size_t i = 0; i < 5; ++i) {
        APH_ASSERT_OK(aph_log_set_level(k_levels[i]));
        assert_int_equal(aph_log_get_level(), k_levels[i]);
    }
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_INFO));
    const int bad[] = {-1, 5, 42, -1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        char expected[96];
        snprintf(expected, sizeof expected, "invalid argument: level is %d, not a valid aph_log_level", bad[i]);
        APH_ASSERT_ERR(aph_log_set_level((aph_log_level)bad[i]), APH_ERR_INVALID_ARGUMENT, expected);
        assert_int_equal(aph_log_get_level(), APH_LOG_INFO); /* unchanged */
    }
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_WARN));
}

/* ---------------------------------------------------------------------------------------------
 * The callback
 * ------------------------------------------------------------------------------------------- */

static void test_callback_receives_messages(void** state) {
    (void)state;
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_TRACE));
    aph_capture_start(&g_cap);
    for (size_t i = 0; i < 5; ++i) {
        char msg[64];
        snprintf(msg, sizeof msg, "message %zu at %s", i, aph_log_level_name(k_levels[i]));
        APH_ASSERT_OK(aph_log_write(k_levels[i], "myapp::module", msg));
    }
    assert_int_equal(g_cap.count, 5);
    assert_captured(0, APH_LOG_TRACE, "myapp::module", "message 0 at trace");
    assert_captured(1, APH_LOG_DEBUG, "myapp::module", "message 1 at debug");
    assert_captured(2, APH_LOG_INFO, "myapp::module", "message 2 at info");
    assert_captured(3, APH_LOG_WARN, "myapp::module", "message 3 at warn");
    assert_captured(4, APH_LOG_ERROR, "myapp::module", "message 4 at error");

    /* NULL target means "aphelion"; an empty message is a message. */
    APH_ASSERT_OK(aph_log_write(APH_LOG_WARN, NULL, "no target"));
    assert_captured(5, APH_LOG_WARN, "aphelion", "no target");
    APH_ASSERT_OK(aph_log_write(APH_LOG_ERROR, "t", ""));
    assert_captured(6, APH_LOG_ERROR, "t", "");
    /* The message is passed through verbatim (no printf interpretation). */
    APH_ASSERT_OK(aph_log_write(APH_LOG_INFO, "t", "100% %s %d %n"));
    assert_captured(7, APH_LOG_INFO, "t", "100% %s %d %n");
    assert_int_equal(g_cap.count, 8);

    /* Rejected: NULL message, invalid level. Nothing reaches the sink. Level warn so that the
     * debug message of the failure itself is not captured. */
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_WARN));
    APH_ASSERT_ERR(aph_log_write(APH_LOG_ERROR, "t", NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: message must not be NULL");
    APH_ASSERT_ERR(aph_log_write(APH_LOG_ERROR, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: message must not be NULL");
    APH_ASSERT_ERR(aph_log_write((aph_log_level)5, "t", "x"), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: level is 5, not a valid aph_log_level");
    APH_ASSERT_ERR(aph_log_write((aph_log_level)-1, "t", "x"), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: level is -1, not a valid aph_log_level");
    assert_int_equal(g_cap.count, 8);
    aph_capture_stop(&g_cap);
}

static void test_level_filter(void** state) {
    (void)state;
    uint64_t rng = (uint64_t)time(NULL) | 1;
    aph_capture_start(&g_cap);
    for (size_t l = 0; l < 5; ++l) {
        APH_ASSERT_OK(aph_log_set_level(k_levels[l]));
        for (size_t m = 0; m < 5; ++m) {
            const int before = g_cap.count;
            char msg[64];
            snprintf(msg, sizeof msg, "random %llu", (unsigned long long)aph_test_rand(&rng));
            APH_ASSERT_OK(aph_log_write(k_levels[m], "filter", msg));
            if (m >= l) { /* at or above the filter's level: kept */
                assert_int_equal(g_cap.count, before + 1);
                assert_captured(before, k_levels[m], "filter", msg);
            } else {
                assert_int_equal(g_cap.count, before); /* below the level: dropped */
            }
        }
    }
    assert_int_equal(g_cap.count, 1 + 2 + 3 + 4 + 5);
    aph_capture_stop(&g_cap);
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_WARN));
}

typedef struct {
    int calls;
    char last[64];
} counter;

static void counting_cb(void* ud, aph_log_level level, const char* target, const char* message) {
    (void)level;
    (void)target;
    counter* c = (counter*)ud;
    c->calls++;
    snprintf(c->last, sizeof c->last, "%s", message);
}

static void test_callback_replacement_and_default(void** state) {
    (void)state;
    counter a = {0, ""}, b = {0, ""};
    APH_ASSERT_OK(aph_log_set_callback(counting_cb, &a));
    APH_ASSERT_OK(aph_log_write(APH_LOG_WARN, "t", "to a"));
    APH_ASSERT_OK(aph_log_set_callback(counting_cb, &b)); /* same function, other user_data */
    APH_ASSERT_OK(aph_log_write(APH_LOG_WARN, "t", "to b"));
    assert_int_equal(a.calls, 1);
    assert_string_equal(a.last, "to a");
    assert_int_equal(b.calls, 1);
    assert_string_equal(b.last, "to b");

    /* NULL restores the default stderr sink: the callback no longer sees anything. */
    APH_ASSERT_OK(aph_log_set_callback(NULL, NULL));
    APH_ASSERT_OK(aph_log_set_callback(NULL, &a)); /* twice is fine; user_data ignored */
    APH_ASSERT_OK(aph_log_write(APH_LOG_WARN, "test_log", "this line on stderr is expected (default sink restored)"));
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
}

/* Calls made from inside the callback. */
typedef struct {
    int calls;
    int depth, max_depth;
    aph_status set_status;
    char set_message[160];
    aph_status write_status;
    aph_status preset_status;
    char preset_message[160];
} reentry;

static void reentrant_cb(void* ud, aph_log_level level, const char* target, const char* message) {
    (void)level;
    (void)target;
    reentry* r = (reentry*)ud;
    r->calls++;
    if (++r->depth > r->max_depth) r->max_depth = r->depth;
    if (strcmp(message, "try set_callback") == 0) {
        r->set_status = aph_log_set_callback(counting_cb, NULL);
        snprintf(r->set_message, sizeof r->set_message, "%s", aph_last_error());
    } else if (strcmp(message, "try preset") == 0) {
        r->preset_status = aph_log_apply_preset(APH_LOG_PRESET_TESTING);
        snprintf(r->preset_message, sizeof r->preset_message, "%s", aph_last_error());
    } else if (strcmp(message, "try write") == 0) {
        /* Goes to stderr, not back into this callback. */
        r->write_status = aph_log_write(APH_LOG_WARN, "test_log",
                                        "this line on stderr is expected (written from inside the callback)");
    }
    r->depth--;
}

static void test_set_callback_from_inside_callback_fails(void** state) {
    (void)state;
    reentry r;
    memset(&r, 0, sizeof r);
    r.set_status = APH_OK;
    r.write_status = APH_ERR_INTERNAL;
    /* Debug, so that the failure's own debug message is logged while inside the callback: it
     * must go to stderr, not recurse. */
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_DEBUG));
    APH_ASSERT_OK(aph_log_set_callback(reentrant_cb, &r));
    APH_ASSERT_OK(aph_log_write(APH_LOG_WARN, "t", "try set_callback"));
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.max_depth, 1);
    assert_int_equal(r.set_status, APH_ERR_INVALID_ARGUMENT);
    assert_string_equal(r.set_message, "invalid argument: aph_log_set_callback cannot be called from inside the "
                                       "log callback");
    /* The failed call changed nothing: the callback is still installed. */
    APH_ASSERT_OK(aph_log_write(APH_LOG_WARN, "t", "still here"));
    assert_int_equal(r.calls, 2);

    r.preset_status = APH_OK;
    APH_ASSERT_OK(aph_log_write(APH_LOG_WARN, "t", "try preset"));
    assert_int_equal(r.preset_status, APH_ERR_INVALID_ARGUMENT);
    assert_string_equal(r.preset_message, "invalid argument: aph_log_apply_preset cannot be called from inside the "
                                          "log callback");
    assert_int_equal(aph_log_get_level(), APH_LOG_DEBUG); /* the preset changed nothing */
    assert_int_equal(r.calls, 3);

    APH_ASSERT_OK(aph_log_write(APH_LOG_WARN, "t", "try write"));
    assert_int_equal(r.calls, 4);
    assert_int_equal(r.max_depth, 1);
    assert_int_equal(r.write_status, APH_OK);

    /* Outside the callback, set_callback works again on this thread. */
    APH_ASSERT_OK(aph_log_set_callback(NULL, NULL));
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_WARN));
}

/* ---------------------------------------------------------------------------------------------
 * The default stderr sink's layout
 * ------------------------------------------------------------------------------------------- */

/* Runs aph_log_write(level, target, message) with stderr redirected to a file and returns what
 * was written (at most size - 1 bytes). Asserts only after stderr is back. */
static void stderr_of_write(aph_log_level level, const char* target, const char* message, char* out, size_t size) {
    FILE* tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    const int saved = dup(2);
    assert_true(saved >= 0);
    const int redirected = dup2(fileno(tmp), 2);
    const aph_status st = aph_log_write(level, target, message);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_true(redirected == 2);
    assert_int_equal(st, APH_OK);
    rewind(tmp);
    const size_t n = fread(out, 1, size - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
}

/* Checks "YYYY-MM-DDTHH:MM:SS.ffffffZ " at the start of line, within a minute of now (UTC);
 * returns the length of the prefix (28), or fails. */
static size_t check_timestamp(const char* line) {
    regex_t re;
    assert_int_equal(
        regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z ", REG_EXTENDED | REG_NOSUB),
        0);
    const int match = regexec(&re, line, 0, NULL, 0);
    regfree(&re);
    if (match != 0) {
        print_error("no timestamp at the start of '%s'\n", line);
        fail();
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    assert_int_equal(sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                            &tm.tm_min, &tm.tm_sec),
                     6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const time_t stamped = timegm(&tm);
    const time_t now = time(NULL);
    assert_true(stamped <= now + 60 && stamped >= now - 60);
    return 28;
}

/* Before any preset: timestamp, level padded to five characters, target, message. */
static void test_default_sink_layout(void** state) {
    (void)state;
    char out[512];
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_TRACE));
    stderr_of_write(APH_LOG_WARN, "aphelion::device", "message one", out, sizeof out);
    size_t ts = check_timestamp(out);
    assert_string_equal(out + ts, " WARN aphelion::device: message one\n");
    stderr_of_write(APH_LOG_ERROR, NULL, "message two", out, sizeof out);
    ts = check_timestamp(out);
    assert_string_equal(out + ts, "ERROR aphelion: message two\n");
    stderr_of_write(APH_LOG_INFO, "x", "three", out, sizeof out);
    assert_string_equal(out + check_timestamp(out), " INFO x: three\n");
    stderr_of_write(APH_LOG_DEBUG, "x", "four", out, sizeof out);
    assert_string_equal(out + check_timestamp(out), "DEBUG x: four\n");
    stderr_of_write(APH_LOG_TRACE, "x", "five", out, sizeof out);
    assert_string_equal(out + check_timestamp(out), "TRACE x: five\n");
    /* Filtered messages print nothing. */
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_WARN));
    stderr_of_write(APH_LOG_INFO, "x", "dropped", out, sizeof out);
    assert_string_equal(out, "");
}

/* Presets: development prints timestamps and targets, production timestamps only, testing
 * neither. */
static void test_preset_sink_layouts(void** state) {
    (void)state;
    char out[512];
    APH_ASSERT_OK(aph_log_apply_preset(APH_LOG_PRESET_PRODUCTION));
    stderr_of_write(APH_LOG_WARN, "app::x", "prod", out, sizeof out);
    assert_string_equal(out + check_timestamp(out), " WARN prod\n");

    APH_ASSERT_OK(aph_log_apply_preset(APH_LOG_PRESET_TESTING));
    stderr_of_write(APH_LOG_ERROR, "app::x", "test", out, sizeof out);
    assert_string_equal(out, "ERROR test\n");
    stderr_of_write(APH_LOG_WARN, "app::x", "test", out, sizeof out);
    assert_string_equal(out, " WARN test\n");

    APH_ASSERT_OK(aph_log_apply_preset(APH_LOG_PRESET_DEVELOPMENT));
    stderr_of_write(APH_LOG_DEBUG, "app::x", "dev", out, sizeof out);
    assert_string_equal(out + check_timestamp(out), "DEBUG app::x: dev\n");

    APH_ASSERT_OK(aph_log_set_level(APH_LOG_WARN));
}

/* ---------------------------------------------------------------------------------------------
 * Presets
 * ------------------------------------------------------------------------------------------- */

static void test_presets(void** state) {
    (void)state;
    assert_int_equal(APH_LOG_PRESET_DEVELOPMENT, 0);
    assert_int_equal(APH_LOG_PRESET_PRODUCTION, 1);
    assert_int_equal(APH_LOG_PRESET_TESTING, 2);

    APH_ASSERT_OK(aph_log_set_level(APH_LOG_ERROR));
    APH_ASSERT_OK(aph_log_apply_preset(APH_LOG_PRESET_DEVELOPMENT));
    assert_int_equal(aph_log_get_level(), APH_LOG_DEBUG);
    APH_ASSERT_OK(aph_log_apply_preset(APH_LOG_PRESET_PRODUCTION));
    assert_int_equal(aph_log_get_level(), APH_LOG_INFO);
    APH_ASSERT_OK(aph_log_apply_preset(APH_LOG_PRESET_TESTING));
    assert_int_equal(aph_log_get_level(), APH_LOG_WARN);
    APH_ASSERT_OK(aph_log_apply_preset(APH_LOG_PRESET_DEVELOPMENT));
    assert_int_equal(aph_log_get_level(), APH_LOG_DEBUG);

    aph_capture_start(&g_cap);
    const int bad[] = {-1, 3, 99};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        char expected[96];
        snprintf(expected, sizeof expected, "invalid argument: preset is %d, not a valid aph_log_preset", bad[i]);
        APH_ASSERT_ERR(aph_log_apply_preset((aph_log_preset)bad[i]), APH_ERR_INVALID_ARGUMENT, expected);
        assert_int_equal(aph_log_get_level(), APH_LOG_DEBUG); /* unchanged */
        /* (the failure itself is logged at debug, the level now in force) */
        assert_int_equal(aph_capture_find(&g_cap, APH_LOG_DEBUG, expected), 1);
    }
    assert_int_equal(g_cap.count, 3);

    /* A preset does not remove an installed callback. */
    APH_ASSERT_OK(aph_log_apply_preset(APH_LOG_PRESET_PRODUCTION));
    APH_ASSERT_OK(aph_log_write(APH_LOG_INFO, "t", "after preset"));
    assert_int_equal(g_cap.count, 4);
    assert_captured(3, APH_LOG_INFO, "t", "after preset");
    aph_capture_stop(&g_cap);

    APH_ASSERT_OK(aph_log_apply_preset(APH_LOG_PRESET_TESTING));
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_WARN));
}

/* ---------------------------------------------------------------------------------------------
 * rust-ai-core's helpers
 * ------------------------------------------------------------------------------------------- */

/* Logs one training step at info level and returns the captured message. */
static const char* training_message(uint64_t step, uint64_t total, double loss, double lr) {
    const int before = g_cap.count;
    APH_ASSERT_OK(aph_log_training_step(step, total, loss, lr));
    assert_int_equal(g_cap.count, before + 1);
    assert_int_equal(g_cap.levels[before], APH_LOG_INFO);
    assert_string_equal(g_cap.targets[before], "rust_ai::training");
    return g_cap.messages[before];
}

static void test_training_step(void** state) {
    (void)state;
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_INFO));
    aph_capture_start(&g_cap);
    assert_string_equal(training_message(100, 1000, 0.1234567, 1e-4),
                        "training step step=100 total_steps=1000 progress_pct=10.0 loss=0.123457 "
                        "lr=1.00e-4");
    /* lr as Rust's {:.2e}: no '+', no leading zeros in the exponent. */
    assert_string_equal(training_message(100, 1000, 0.1234567, 3e-3),
                        "training step step=100 total_steps=1000 progress_pct=10.0 loss=0.123457 "
                        "lr=3.00e-3");
    assert_string_equal(training_message(100, 1000, 0.1234567, 12345.0),
                        "training step step=100 total_steps=1000 progress_pct=10.0 loss=0.123457 "
                        "lr=1.23e4");
    assert_string_equal(training_message(1, 3, 2.0, 1.0),
                        "training step step=1 total_steps=3 progress_pct=33.3 loss=2.000000 "
                        "lr=1.00e0");
    assert_string_equal(training_message(0, 7, 0.0, 0.0),
                        "training step step=0 total_steps=7 progress_pct=0.0 loss=0.000000 "
                        "lr=0.00e0");
    assert_string_equal(training_message(2000, 1000, -1.5, -2.5e-5),
                        "training step step=2000 total_steps=1000 progress_pct=200.0 "
                        "loss=-1.500000 lr=-2.50e-5");
    /* Rounding carries into the exponent: 9.999e-4 is 1.00e-3. */
    assert_string_equal(training_message(5, 10, 1e-7, 9.999e-4),
                        "training step step=5 total_steps=10 progress_pct=50.0 loss=0.000000 "
                        "lr=1.00e-3");
    assert_string_equal(training_message(5, 10, 1.0, 1e-10),
                        "training step step=5 total_steps=10 progress_pct=50.0 loss=1.000000 "
                        "lr=1.00e-10");
    assert_string_equal(training_message(5, 10, 1.0, 6.02e23),
                        "training step step=5 total_steps=10 progress_pct=50.0 loss=1.000000 "
                        "lr=6.02e23");
    const int count = g_cap.count;

    /* total_steps must be > 0; nothing is logged. */
    APH_ASSERT_ERR(aph_log_training_step(1, 0, 0.5, 1e-3), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: total_steps must be > 0");
    assert_int_equal(g_cap.count, count);

    /* Below info: not logged, still a success; the argument is still checked. */
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_WARN));
    APH_ASSERT_OK(aph_log_training_step(100, 1000, 0.1, 1e-4));
    assert_int_equal(g_cap.count, count);
    APH_ASSERT_ERR(aph_log_training_step(1, 0, 0.5, 1e-3), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: total_steps must be > 0");
    aph_capture_stop(&g_cap);
}

static void test_memory_usage(void** state) {
    (void)state;
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_INFO));
    aph_capture_start(&g_cap);
    const uint64_t mib = 1024 * 1024;
    APH_ASSERT_OK(aph_log_memory_usage(mib + mib / 2, 2 * mib, "forward"));
    APH_ASSERT_OK(aph_log_memory_usage(mib + mib / 2, 2 * mib, NULL));
    APH_ASSERT_OK(aph_log_memory_usage(0, 0, "idle"));
    APH_ASSERT_OK(aph_log_memory_usage(1000000, 3 * mib + 5243, "backward pass"));
    assert_int_equal(g_cap.count, 4);
    assert_captured(0, APH_LOG_INFO, "rust_ai::memory", "memory usage allocated_mb=1.50 peak_mb=2.00 context=forward");
    assert_captured(1, APH_LOG_INFO, "rust_ai::memory", "memory usage allocated_mb=1.50 peak_mb=2.00");
    assert_captured(2, APH_LOG_INFO, "rust_ai::memory", "memory usage allocated_mb=0.00 peak_mb=0.00 context=idle");
    /* 1000000 / 2^20 = 0.9537 -> 0.95; (3 MiB + 5243) / 2^20 = 3.005 -> 3.01. */
    assert_captured(3, APH_LOG_INFO, "rust_ai::memory",
                    "memory usage allocated_mb=0.95 peak_mb=3.01 context=backward pass");

    /* Below info: not logged. */
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_WARN));
    APH_ASSERT_OK(aph_log_memory_usage(mib, mib, "dropped"));
    assert_int_equal(g_cap.count, 4);
    aph_capture_stop(&g_cap);
}

/* ---------------------------------------------------------------------------------------------
 * Threads
 * ------------------------------------------------------------------------------------------- */

#define N_LOG_THREADS 4
#define N_LOG_MESSAGES 1000

typedef struct {
    atomic_int total;
    atomic_int bad;          /* malformed, out of order or on the wrong thread */
    int next[N_LOG_THREADS]; /* per thread: the next message index expected */
    pthread_t owner[N_LOG_THREADS];
} mt_state;

static void mt_cb(void* ud, aph_log_level level, const char* target, const char* message) {
    mt_state* s = (mt_state*)ud;
    int t = -1, i = -1;
    atomic_fetch_add(&s->total, 1);
    if (level != APH_LOG_WARN || sscanf(target, "thread::%d", &t) != 1 || t < 0 || t >= N_LOG_THREADS ||
        sscanf(message, "message %d", &i) != 1) {
        atomic_fetch_add(&s->bad, 1);
        return;
    }
    /* The callback runs on the logging thread, so each thread's messages arrive in order and
     * only that thread touches next[t]. */
    if (!pthread_equal(pthread_self(), s->owner[t]) || i != s->next[t]) atomic_fetch_add(&s->bad, 1);
    s->next[t] = i + 1;
}

typedef struct {
    int id;
    pthread_barrier_t* start;
    int failures;
} mt_arg;

static void* mt_worker(void* p) {
    mt_arg* a = (mt_arg*)p;
    char target[32], msg[32];
    snprintf(target, sizeof target, "thread::%d", a->id);
    pthread_barrier_wait(a->start);
    for (int i = 0; i < N_LOG_MESSAGES; ++i) {
        snprintf(msg, sizeof msg, "message %d", i);
        if (aph_log_write(APH_LOG_WARN, target, msg) != APH_OK) a->failures++;
        /* Dropped by the level: must not be counted. */
        if (aph_log_write(APH_LOG_DEBUG, target, msg) != APH_OK) a->failures++;
    }
    return NULL;
}

static void test_multithreaded_exact_count(void** state) {
    (void)state;
    static mt_state s;
    memset(&s, 0, sizeof s);
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_WARN));
    pthread_t th[N_LOG_THREADS];
    mt_arg args[N_LOG_THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N_LOG_THREADS + 1);
    APH_ASSERT_OK(aph_log_set_callback(mt_cb, &s));
    for (int i = 0; i < N_LOG_THREADS; ++i) {
        args[i] = (mt_arg){i, &start, 0};
        assert_int_equal(pthread_create(&th[i], NULL, mt_worker, &args[i]), 0);
        s.owner[i] = th[i];
    }
    pthread_barrier_wait(&start); /* owner[] is filled in before any thread logs */
    for (int i = 0; i < N_LOG_THREADS; ++i) assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);
    APH_ASSERT_OK(aph_log_set_callback(NULL, NULL));

    for (int i = 0; i < N_LOG_THREADS; ++i) {
        assert_int_equal(args[i].failures, 0);
        assert_int_equal(s.next[i], N_LOG_MESSAGES);
    }
    assert_int_equal(atomic_load(&s.bad), 0);
    assert_int_equal(atomic_load(&s.total), N_LOG_THREADS * N_LOG_MESSAGES);
}

/* "When aph_log_set_callback() returns, no call to the previous callback is in progress or will
 * start": threads log without pause while the main thread swaps the callback. */
typedef struct {
    atomic_int calls;
    atomic_int in_progress;
} swap_counter;

static void swap_cb(void* ud, aph_log_level level, const char* target, const char* message) {
    (void)level;
    (void)target;
    (void)message;
    swap_counter* c = (swap_counter*)ud;
    atomic_fetch_add(&c->in_progress, 1);
    atomic_fetch_add(&c->calls, 1);
    for (volatile int spin = 0; spin < 200; ++spin) {
    }
    atomic_fetch_sub(&c->in_progress, 1);
}

typedef struct {
    atomic_int* stop;
    pthread_barrier_t* start;
} swap_arg;

static void* swap_worker(void* p) {
    swap_arg* a = (swap_arg*)p;
    pthread_barrier_wait(a->start);
    while (!atomic_load(a->stop)) aph_log_write(APH_LOG_ERROR, "swap", "x");
    return NULL;
}

static void test_replaced_callback_is_never_called_again(void** state) {
    (void)state;
    static swap_counter first, second;
    atomic_store(&first.calls, 0);
    atomic_store(&first.in_progress, 0);
    atomic_store(&second.calls, 0);
    atomic_store(&second.in_progress, 0);
    atomic_int stop = 0;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N_LOG_THREADS + 1);
    swap_arg arg = {&stop, &start};
    pthread_t th[N_LOG_THREADS];

    APH_ASSERT_OK(aph_log_set_callback(swap_cb, &first));
    for (int i = 0; i < N_LOG_THREADS; ++i) assert_int_equal(pthread_create(&th[i], NULL, swap_worker, &arg), 0);
    pthread_barrier_wait(&start);
    while (atomic_load(&first.calls) < 1000) {
    }
    APH_ASSERT_OK(aph_log_set_callback(swap_cb, &second));
    /* From here on, first must be quiet. */
    const int in_progress_after = atomic_load(&first.in_progress);
    const int first_calls = atomic_load(&first.calls);
    while (atomic_load(&second.calls) < 1000) {
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < N_LOG_THREADS; ++i) assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);
    APH_ASSERT_OK(aph_log_set_callback(NULL, NULL));

    assert_int_equal(in_progress_after, 0);
    assert_int_equal(atomic_load(&first.calls), first_calls);
    assert_true(atomic_load(&second.calls) >= 1000);
}

/* ---------------------------------------------------------------------------------------------
 * Failures are logged at debug level
 * ------------------------------------------------------------------------------------------- */

static void test_errors_logged_at_debug(void** state) {
    (void)state;
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_DEBUG));
    aph_capture_start(&g_cap);
    APH_ASSERT_ERR(aph_tracker_allocate(NULL, 1), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: tracker must not be NULL");
    assert_int_equal(g_cap.count, 1);
    assert_int_equal(g_cap.levels[0], APH_LOG_DEBUG);
    assert_string_equal(g_cap.targets[0], "aphelion::error");
    assert_non_null(strstr(g_cap.messages[0], "APH_ERR_INVALID_ARGUMENT"));
    assert_non_null(strstr(g_cap.messages[0], "invalid argument: tracker must not be NULL"));

    /* Another kind of failure names its own status. */
    aph_tracker* t = NULL;
    APH_ASSERT_OK(aph_tracker_create(10, &t));
    assert_int_equal(aph_tracker_allocate(t, 11), APH_ERR_OUT_OF_MEMORY);
    aph_tracker_release(t);
    assert_int_equal(g_cap.count, 2);
    assert_int_equal(g_cap.levels[1], APH_LOG_DEBUG);
    assert_string_equal(g_cap.targets[1], "aphelion::error");
    assert_non_null(strstr(g_cap.messages[1], "APH_ERR_OUT_OF_MEMORY"));
    assert_non_null(strstr(g_cap.messages[1], "allocation of 11 bytes"));

    /* At info level the same failure logs nothing. */
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_INFO));
    assert_int_equal(aph_tracker_allocate(NULL, 1), APH_ERR_INVALID_ARGUMENT);
    assert_int_equal(g_cap.count, 2);
    aph_capture_stop(&g_cap);
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_WARN));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        /* First: relies on the level not having been set yet. */
        cmocka_unit_test(test_default_level_is_warn),
        cmocka_unit_test(test_level_values_and_names),
        cmocka_unit_test(test_set_get_level),
        cmocka_unit_test(test_callback_receives_messages),
        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_callback_replacement_and_default),
        cmocka_unit_test(test_set_callback_from_inside_callback_fails),
        cmocka_unit_test(test_default_sink_layout), /* before any preset */
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_preset_sink_layouts),
        cmocka_unit_test(test_training_step),
        cmocka_unit_test(test_memory_usage),
        cmocka_unit_test(test_multithreaded_exact_count),
        cmocka_unit_test(test_replaced_callback_is_never_called_again),
        cmocka_unit_test(test_errors_logged_at_debug),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
