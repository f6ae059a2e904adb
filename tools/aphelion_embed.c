/*
 * aphelion embed: sentence embeddings with a Hugging Face model directory (header section 23).
 * Prints the cosine-similarity matrix of the texts, or writes the embeddings (--output).
 * Written against the public C API only.
 */
#include "aphelion_cli.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int lib_fail(const char* what, aph_status st) {
    fprintf(stderr, "aphelion: %s failed: %s: %s\n", what, aph_status_name(st), aph_last_error());
    return CLI_EXIT_LIBRARY_ERROR;
}

static int usage_fail(const char* fmt, const char* arg) {
    fprintf(stderr, "aphelion: embed: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see aphelion --help)\n");
    return CLI_EXIT_USAGE;
}

static int ends_with(const char* s, const char* suffix) {
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int parse_size(const char* s, size_t* out) {
    char* end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || s[0] == '-' || v == 0 || v > 1000000000ull) return 0;
    *out = (size_t)v;
    return 1;
}

/* The texts: one per line of path (a trailing \r removed; empty lines kept as empty texts, but
 * not a final empty line). */
static int read_lines(const char* path, char*** out_texts, size_t* out_count) {
    FILE* f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "aphelion: embed: cannot read %s: %s\n", path, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    size_t cap = 64, n = 0, len = 0, lcap = 256;
    char** texts = malloc(cap * sizeof(char*));
    char* line = malloc(lcap);
    int c, any = 0;
    if (texts == NULL || line == NULL) goto oom;
    while ((c = fgetc(f)) != EOF || any) {
        if (c == EOF || c == '\n') {
            if (len > 0 && line[len - 1] == '\r') --len;
            line[len] = '\0';
            if (n == cap) {
                char** grown = realloc(texts, (cap *= 2) * sizeof(char*));
                if (grown == NULL) goto oom;
                texts = grown;
            }
            texts[n] = malloc(len + 1);
            if (texts[n] == NULL) goto oom;
            memcpy(texts[n++], line, len + 1);
            len = 0;
            any = 0;
            if (c == EOF) break;
            continue;
        }
        any = 1;
        if (len + 2 > lcap) {
            char* grown = realloc(line, lcap *= 2);
            if (grown == NULL) goto oom;
            line = grown;
        }
        line[len++] = (char)c;
    }
    if (f != stdin) fclose(f);
    free(line);
    *out_texts = texts;
    *out_count = n;
    return 0;
oom:
    fprintf(stderr, "aphelion: embed: out of memory reading %s\n", path);
    if (f != stdin) fclose(f);
    free(line);
    if (texts)
        for (size_t i = 0; i < n; ++i) free(texts[i]);
    free(texts);
    return CLI_EXIT_LIBRARY_ERROR;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    double start;
} progress_state;

static void on_progress(void* user_data, size_t done, size_t total) {
    const progress_state* p = user_data;
    const double t = now_s() - p->start;
    fprintf(stderr, "\rembedding: %zu/%zu texts, %.1f s, %.0f texts/s", done, total, t, t > 0 ? (double)done / t : 0.0);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

/* Terminal columns of code point c: 2 for East Asian wide and fullwidth characters and most
 * emoji, else 1 (an approximation of wcwidth that needs no locale). */
static int columns(uint32_t c) {
    return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF) || (c >= 0xAC00 && c <= 0xD7A3) ||
                   (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
                   (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1FAFF) || c >= 0x20000
               ? 2
               : 1;
}

/* The code point at *s (UTF-8; a stray byte as itself), advancing *s. */
static uint32_t next_code_point(const unsigned char** s) {
    const unsigned char* p = *s;
    uint32_t c = *p++;
    int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (more) c &= 0x3Fu >> more;
    for (; more > 0 && (*p & 0xC0) == 0x80; --more) c = (c << 6) | (*p++ & 0x3F);
    *s = p;
    return c;
}

/* A label width terminal columns wide: the text with control characters as spaces, cut with
 * "..." when it is wider, padded with spaces. */
static void label(char* out, size_t size, const char* text, int width) {
    int total = 0;
    for (const unsigned char* r = (const unsigned char*)text; *r;) total += columns(next_code_point(&r));
    const int room = total <= width ? width : width - 3;
    size_t n = 0;
    int cols = 0;
    const unsigned char* s = (const unsigned char*)text;
    while (*s && n + 8 < size) {
        const unsigned char* at = s;
        const uint32_t c = next_code_point(&s);
        if (cols + columns(c) > room) break;
        cols += columns(c);
        if (c < 0x20 || c == 0x7F) {
            out[n++] = ' ';
        } else {
            while (at < s) out[n++] = (char)*at++;
        }
    }
    if (total > width) {
        memcpy(out + n, "...", 3);
        n += 3;
        cols += 3;
    }
    for (; cols < width && n + 1 < size; ++cols) out[n++] = ' ';
    out[n] = '\0';
}

static void print_similarities(const float* e, size_t count, size_t dim, char* const* texts) {
    enum { WIDTH = 32 };
    char buf[WIDTH * 4 + 8];
    printf("cosine similarity (%zu texts, %zu dimensions)\n", count, dim);
    printf("%*s", WIDTH + 5, "");
    for (size_t j = 0; j < count; ++j) printf(" %6zu", j);
    printf("\n");
    for (size_t i = 0; i < count; ++i) {
        label(buf, sizeof buf, texts[i], WIDTH);
        printf("%3zu  %s", i, buf);
        for (size_t j = 0; j < count; ++j) {
            double dot = 0, ni = 0, nj = 0;
            for (size_t k = 0; k < dim; ++k) {
                dot += (double)e[i * dim + k] * e[j * dim + k];
                ni += (double)e[i * dim + k] * e[i * dim + k];
                nj += (double)e[j * dim + k] * e[j * dim + k];
            }
            const double c = ni > 0 && nj > 0 ? dot / sqrt(ni * nj) : 0.0;
            printf(" %6.3f", c);
        }
        printf("\n");
    }
}

int cli_embed(int argc, char** argv) {
    const char *dir = NULL, *device = NULL, *file = NULL, *output = NULL;
    size_t batch = 0, max_length = 0;
    aph_matmul_precision precision = APH_MATMUL_PRECISION_F32;
    char** texts = NULL;
    size_t count = 0, owned = 0;
    int rc = 0;
    char** args = malloc(sizeof(char*) * (size_t)(argc > 0 ? argc : 1));
    if (args == NULL) return CLI_EXIT_LIBRARY_ERROR;
    for (int i = 0; i < argc; ++i) {
        const char* a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = strcmp(a, "--device") == 0 || strcmp(a, "--batch") == 0 || strcmp(a, "--max-length") == 0 ||
                    strcmp(a, "--file") == 0 || strcmp(a, "--output") == 0 || strcmp(a, "--precision") == 0;
        if (takes && v == NULL) {
            rc = usage_fail("%s needs a value", a);
            goto done;
        }
        if (strcmp(a, "--device") == 0) {
            device = v;
        } else if (strcmp(a, "--batch") == 0) {
            if (!parse_size(v, &batch)) {
                rc = usage_fail("--batch: '%s' is not a positive integer", v);
                goto done;
            }
        } else if (strcmp(a, "--max-length") == 0) {
            if (!parse_size(v, &max_length)) {
                rc = usage_fail("--max-length: '%s' is not a positive integer", v);
                goto done;
            }
        } else if (strcmp(a, "--precision") == 0) {
            if (cli_parse_precision(v, &precision) != 0) {
                rc = CLI_EXIT_USAGE;
                goto done;
            }
        } else if (strcmp(a, "--file") == 0) {
            file = v;
        } else if (strcmp(a, "--output") == 0) {
            if (!ends_with(v, ".npy") && !ends_with(v, ".safetensors")) {
                rc = usage_fail("--output: '%s' names neither a .npy nor a .safetensors file", v);
                goto done;
            }
            output = v;
        } else if (strcmp(a, "--") == 0) {
            for (++i; i < argc; ++i) args[count++] = argv[i];
            break;
        } else if (a[0] == '-' && a[1] == '-') {
            rc = usage_fail("unknown option '%s'", a);
            goto done;
        } else if (dir == NULL) {
            dir = a;
            continue;
        } else {
            args[count++] = argv[i];
            continue;
        }
        ++i;
    }
    if (dir == NULL) {
        rc = usage_fail("%s", "needs a model directory (aphelion embed MODEL_DIR TEXT... | --file F)");
        goto done;
    }
    if (file != NULL && count > 0) {
        rc = usage_fail("%s", "takes texts or --file, not both");
        goto done;
    }
    if (file != NULL) {
        if ((rc = read_lines(file, &texts, &count)) != 0) goto done;
        owned = count;
    } else {
        texts = args;
    }
    if (count == 0) {
        rc = usage_fail("%s", "no texts to embed (give TEXT... or --file F)");
        goto done;
    }

    aph_device* dev = NULL;
    if ((rc = cli_open_device(device, &dev)) != 0) goto done;
    progress_state progress = {now_s()};
    aph_model_options o = {0};
    o.struct_size = sizeof o;
    o.device = dev;
    o.max_length = max_length;
    o.batch_size = batch;
    o.matmul_precision = precision;
    size_t per_batch = batch ? batch : 32;
    /* Progress for long inputs: more than four batches. */
    if (count > 4 * per_batch) {
        o.progress = on_progress;
        o.progress_user_data = &progress;
    }
    aph_model* model = NULL;
    aph_status st = aph_model_load(dir, &o, &model);
    aph_device_release(dev);
    if (st != APH_OK) {
        rc = lib_fail("loading the model", st);
        goto done;
    }
    aph_tensor* emb = NULL;
    progress.start = now_s();
    st = aph_model_embed(model, (const char* const*)texts, NULL, count, &emb);
    if (st != APH_OK) {
        rc = lib_fail("aph_model_embed", st);
    } else if (output != NULL) {
        if (ends_with(output, ".npy")) {
            rc = cli_write_npy("--output", output, emb);
        } else {
            const char* names[1] = {"embeddings"};
            st = aph_safetensors_save(output, names, (const aph_tensor* const*)&emb, 1, NULL);
            if (st != APH_OK) rc = lib_fail("aph_safetensors_save", st);
        }
        if (rc == 0)
            fprintf(stderr, "aphelion: wrote %s: %zu embeddings of %zu dimensions\n", output, count,
                    aph_model_embedding_dim(model));
    } else {
        print_similarities(aph_tensor_data(emb), count, aph_model_embedding_dim(model), texts);
    }
    aph_tensor_release(emb);
    aph_model_release(model);
done:
    for (size_t i = 0; i < owned; ++i) free(texts[i]);
    if (texts != args) free(texts);
    free(args);
    return rc;
}
