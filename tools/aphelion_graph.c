/*
 * The graph commands of aphelion: run, hash, dot, validate. Written against the public C API
 * only (what any C program could do).
 */
#include "aphelion_cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int lib_fail(const char* what, aph_status st) {
    fprintf(stderr, "aphelion: %s failed: %s: %s\n", what, aph_status_name(st), aph_last_error());
    return CLI_EXIT_LIBRARY_ERROR;
}

static int usage_fail(const char* fmt, const char* arg) {
    fprintf(stderr, "aphelion: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see aphelion --help)\n");
    return CLI_EXIT_USAGE;
}

static aph_status load(const char* path, aph_graph** g) {
    aph_status st = aph_graph_load(path, g);
    if (st != APH_OK) lib_fail("loading the graph", st);
    return st;
}

int cli_hash(int argc, char** argv) {
    if (argc != 1) return usage_fail("hash takes one graph file%s", "");
    aph_graph* g = NULL;
    if (load(argv[0], &g) != APH_OK) return CLI_EXIT_LIBRARY_ERROR;
    char hex[65];
    aph_status st = aph_graph_stable_hash(g, hex, sizeof hex);
    aph_graph_release(g);
    if (st != APH_OK) return lib_fail("aph_graph_stable_hash", st);
    printf("%s\n", hex);
    return 0;
}

int cli_dot(int argc, char** argv) {
    if (argc != 1) return usage_fail("dot takes one graph file%s", "");
    aph_graph* g = NULL;
    if (load(argv[0], &g) != APH_OK) return CLI_EXIT_LIBRARY_ERROR;
    char* dot = NULL;
    aph_status st = aph_graph_to_dot(g, &dot);
    aph_graph_release(g);
    if (st != APH_OK) return lib_fail("aph_graph_to_dot", st);
    fputs(dot, stdout);
    aph_string_free(dot);
    return 0;
}

/* validate: every node's configuration (aphelion-core's composite validator), a non-empty,
 * acyclic graph; then whether libaphelion can execute it (reported, not required, unless
 * --executable). */
int cli_validate(int argc, char** argv) {
    const char* path = NULL;
    int require_exec = 0;
    for (int i = 0; i < argc; ++i) {
        if (strcmp(argv[i], "--executable") == 0) {
            require_exec = 1;
        } else if (argv[i][0] == '-') {
            return usage_fail("validate: unknown option '%s'", argv[i]);
        } else if (path == NULL) {
            path = argv[i];
        } else {
            return usage_fail("validate takes one graph file (got '%s' too)", argv[i]);
        }
    }
    if (path == NULL) return usage_fail("validate needs a graph file%s", "");
    aph_graph* g = NULL;
    if (load(path, &g) != APH_OK) return CLI_EXIT_LIBRARY_ERROR;
    int problems = 0;
    const size_t n = aph_graph_node_count(g);
    if (n == 0) {
        printf("invalid: graph must contain at least one node\n");
        ++problems;
    }
    for (uint64_t id = 1; id <= n; ++id) {
        const char* name = NULL;
        const aph_model_config* cfg = NULL;
        if (aph_graph_node(g, id, &name, &cfg) != APH_OK) continue;
        char* errors = NULL;
        if (aph_model_config_validation_errors(cfg, &errors) != APH_OK) {
            printf("invalid: node %llu '%s': %s\n", (unsigned long long)id, name, aph_last_error());
            ++problems;
        } else if (errors != NULL && *errors != '\0') {
            /* one "{field}: {message}" per line */
            char* line = errors;
            while (line && *line) {
                char* nl = strchr(line, '\n');
                if (nl) *nl = '\0';
                printf("invalid: node %llu '%s': %s\n", (unsigned long long)id, name, line);
                ++problems;
                line = nl ? nl + 1 : NULL;
            }
        }
        aph_string_free(errors);
    }
    if (aph_graph_has_cycle(g)) {
        printf("invalid: the graph has a cycle\n");
        ++problems;
    }
    char hex[65] = "";
    aph_graph_stable_hash(g, hex, sizeof hex);
    /* Executable? The check stage alone, on the CPU (nothing is allocated). */
    aph_device* cpu = NULL;
    aph_build_context* ctx = NULL;
    aph_pipeline* p = NULL;
    int executable = 0;
    char reason[1024] = "the check could not be set up";
    if (aph_device_open(APH_DEVICE_CPU, 0, &cpu) == APH_OK &&
        aph_build_context_create(cpu, NULL, NULL, &ctx) == APH_OK && aph_pipeline_create(&p) == APH_OK &&
        aph_pipeline_add_builtin(p, "check") == APH_OK) {
        aph_status st = aph_pipeline_run(p, ctx, g);
        executable = st == APH_OK;
        if (!executable) snprintf(reason, sizeof reason, "%s", aph_last_error());
    } else {
        snprintf(reason, sizeof reason, "the check could not be set up: %s", aph_last_error());
    }
    aph_pipeline_release(p);
    aph_build_context_release(ctx);
    aph_device_release(cpu);
    printf("%s: %zu nodes, %zu edges, hash %s\n", problems ? "invalid" : "valid", n, aph_graph_edge_count(g), hex);
    printf("executable by libaphelion: %s%s%s\n", executable ? "yes" : "no", executable ? "" : ": ",
           executable ? "" : reason);
    aph_graph_release(g);
    if (problems) return CLI_EXIT_LIBRARY_ERROR;
    return require_exec && !executable ? CLI_EXIT_LIBRARY_ERROR : 0;
}

/* ---------------------------------------------------------------------------------------------
 * run
 * ------------------------------------------------------------------------------------------- */

#define MAX_DIMS_GIVEN 64

typedef struct run_args {
    const char* graph;
    const char* device;
    const char* weights;
    const char* trace;
    const char* save;
    uint64_t budget;
    int check_numerics;
    long iterations;
    unsigned long long seed;
    /* --dim NAME=SIZE: sizes of symbolic dimensions for the inputs drawn at random. */
    size_t n_dims;
    char dim_names[MAX_DIMS_GIVEN][64];
    int64_t dim_sizes[MAX_DIMS_GIVEN];
    aph_matmul_precision precision; /* --precision */
} run_args;

static int ends_with(const char* s, const char* suffix) {
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* "2GiB", "512MiB", "64KiB", "1GB", "1000" (bytes). 0 on a malformed value. */
static int parse_bytes(const char* s, uint64_t* out) {
    char* end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !(v > 0)) return 0;
    double mult = 1;
    if (*end == '\0' || strcmp(end, "B") == 0) mult = 1;
    else if (strcmp(end, "KiB") == 0)
        mult = 1024.0;
    else if (strcmp(end, "MiB") == 0)
        mult = 1024.0 * 1024;
    else if (strcmp(end, "GiB") == 0)
        mult = 1024.0 * 1024 * 1024;
    else if (strcmp(end, "TiB") == 0)
        mult = 1024.0 * 1024 * 1024 * 1024;
    else if (strcmp(end, "KB") == 0 || strcmp(end, "kB") == 0)
        mult = 1e3;
    else if (strcmp(end, "MB") == 0)
        mult = 1e6;
    else if (strcmp(end, "GB") == 0)
        mult = 1e9;
    else if (strcmp(end, "TB") == 0)
        mult = 1e12;
    else
        return 0;
    const double b = v * mult;
    if (b >= 1.8e19) return 0;
    *out = (uint64_t)b;
    return *out > 0;
}

static void human_bytes(char* buf, size_t n, uint64_t b) {
    if (b >= (1ull << 30)) snprintf(buf, n, "%.2f GiB", (double)b / (double)(1ull << 30));
    else if (b >= (1ull << 20))
        snprintf(buf, n, "%.2f MiB", (double)b / (double)(1ull << 20));
    else if (b >= (1ull << 10))
        snprintf(buf, n, "%.1f KiB", (double)b / 1024.0);
    else
        snprintf(buf, n, "%llu B", (unsigned long long)b);
}

int cli_parse_precision(const char* v, aph_matmul_precision* out) {
    static const char* const names[] = {"f32", "bf16", "int8"};
    for (int i = 0; i < 3; ++i)
        if (strcmp(v, names[i]) == 0) {
            *out = (aph_matmul_precision)i;
            return 0;
        }
    return usage_fail("--precision: '%s' is not f32, bf16 or int8", v);
}

int cli_open_device(const char* spec, aph_device** out) {
    aph_status st;
    if (spec == NULL) {
        aph_device_config* cfg = NULL;
        st = aph_device_config_from_env(&cfg);
        if (st != APH_OK) return lib_fail("aph_device_config_from_env", st);
        st = aph_device_select(cfg, out);
        aph_device_config_release(cfg);
        return st == APH_OK ? 0 : lib_fail("aph_device_select", st);
    }
    if (strcmp(spec, "cpu") == 0) {
        st = aph_device_open(APH_DEVICE_CPU, 0, out);
    } else if (strncmp(spec, "cuda", 4) == 0 && (spec[4] == '\0' || spec[4] == ':')) {
        long ordinal = 0;
        if (spec[4] == ':') {
            char* end = NULL;
            ordinal = strtol(spec + 5, &end, 10);
            if (end == spec + 5 || *end != '\0' || ordinal < 0 || ordinal > 1000000)
                return usage_fail("--device: '%s' is not cpu, cuda or cuda:N", spec);
        }
        st = aph_device_open(APH_DEVICE_CUDA, (int32_t)ordinal, out);
    } else {
        return usage_fail("--device: '%s' is not cpu, cuda or cuda:N", spec);
    }
    return st == APH_OK ? 0 : lib_fail("opening the device", st);
}

/* splitmix64 and Box-Muller: the same inputs for the same seed on every machine. */
static uint64_t splitmix(uint64_t* s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double uniform01(uint64_t* s) { return ((double)(splitmix(s) >> 11) + 0.5) / 9007199254740992.0; }

/* The dtypes aph_op_cast converts from and to. */
static int castable(aph_dtype d) {
    return d == APH_DTYPE_F32 || d == APH_DTYPE_F16 || d == APH_DTYPE_BF16 || d == APH_DTYPE_F64 ||
           d == APH_DTYPE_I32 || d == APH_DTYPE_I64;
}

/* Value i of a host buffer of a dtype aph_op_cast cannot convert (integers and bool); fp8 NaN. */
static double raw_value(aph_dtype d, const unsigned char* p, int64_t i) {
    switch (d) {
        case APH_DTYPE_U8:
        case APH_DTYPE_BOOL: return (double)p[i];
        case APH_DTYPE_I8: return (double)(int8_t)p[i];
        case APH_DTYPE_I16: {
            int16_t v;
            memcpy(&v, p + 2 * i, 2);
            return (double)v;
        }
        case APH_DTYPE_U32: {
            uint32_t v;
            memcpy(&v, p + 4 * i, 4);
            return (double)v;
        }
        default: return NAN;
    }
}

typedef struct stage_state {
    const run_args* args;
    int tty;
} stage_state;

static void on_progress(void* user_data, const char* stage, size_t index, size_t total) {
    stage_state* ss = (stage_state*)user_data;
    (void)ss;
    printf("[%zu/%zu] %s\n", index, total, stage);
    fflush(stdout);
}

/* A custom stage between plan and execute: binds every input node that the context has no
 * tensor for, from the weights file when it holds one of that name, else with standard normal
 * values (integer inputs: 0) drawn from the seed. */
static aph_status bind_inputs_stage(void* user_data, aph_build_context* ctx, aph_graph* graph) {
    const run_args* a = ((stage_state*)user_data)->args;
    (void)graph;
    aph_executor* ex = NULL;
    aph_status st = aph_build_context_executor(ctx, &ex);
    if (st != APH_OK) return st;
    /* Every --dim names a symbolic dimension of the graph. */
    char symbols[512] = "";
    for (size_t k = 0; k < aph_executor_symbol_count(ex); ++k) {
        const char* name = NULL;
        if (aph_executor_symbol(ex, k, &name, NULL) == APH_OK)
            snprintf(symbols + strlen(symbols), sizeof symbols - strlen(symbols), "%s%s", k ? ", " : "", name);
    }
    for (size_t k = 0; k < a->n_dims; ++k) {
        int known = 0;
        for (size_t j = 0; j < aph_executor_symbol_count(ex) && !known; ++j) {
            const char* name = NULL;
            known = aph_executor_symbol(ex, j, &name, NULL) == APH_OK && strcmp(name, a->dim_names[k]) == 0;
        }
        if (!known) {
            char msg[768];
            snprintf(msg, sizeof msg, "--dim %s: the graph has no symbolic dimension '%s' (%s%s)", a->dim_names[k],
                     a->dim_names[k], symbols[0] ? "its symbols: " : "it has none", symbols);
            aph_set_last_error(APH_ERR_INVALID_ARGUMENT, msg);
            aph_executor_release(ex);
            return APH_ERR_INVALID_ARGUMENT;
        }
    }
    aph_safetensors* st_file = NULL;
    if (a->weights != NULL) {
        st = aph_safetensors_open(a->weights, &st_file);
        if (st != APH_OK) {
            aph_executor_release(ex);
            return st;
        }
    }
    uint64_t rng = a->seed;
    /* The executor's inputs, as its signature describes them. */
    for (size_t i = 0; i < aph_executor_input_count(ex) && st == APH_OK; ++i) {
        aph_value_info ns;
        memset(&ns, 0, sizeof ns);
        ns.struct_size = sizeof ns;
        st = aph_executor_input_info(ex, i, &ns);
        if (st != APH_OK) continue;
        aph_tensor* t = NULL;
        aph_dtype fdt;
        const int from_file = st_file != NULL && aph_safetensors_info(st_file, ns.name, &fdt, NULL, 0, NULL) == APH_OK;
        /* The shape: symbolic dimensions sized by --dim. */
        int64_t shape[APH_TENSOR_MAX_DIMS];
        for (size_t d = 0; d < ns.ndim && d < APH_TENSOR_MAX_DIMS && !from_file; ++d) {
            shape[d] = ns.shape[d];
            if (ns.dim_names == NULL || ns.dim_names[d] == NULL) continue;
            size_t k = 0;
            while (k < a->n_dims && strcmp(a->dim_names[k], ns.dim_names[d]) != 0) ++k;
            if (k == a->n_dims) {
                char msg[512];
                snprintf(msg, sizeof msg,
                         "input '%s' has the symbolic dimension '%s': give its size with --dim %s=N (or the input "
                         "itself in the --weights file)",
                         ns.name, ns.dim_names[d], ns.dim_names[d]);
                aph_set_last_error(APH_ERR_INVALID_ARGUMENT, msg);
                st = APH_ERR_INVALID_ARGUMENT;
                break;
            }
            shape[d] = a->dim_sizes[k];
        }
        if (st != APH_OK) break;
        ns.shape = shape;
        if (from_file) {
            st = aph_safetensors_tensor(st_file, ns.name, aph_build_context_device(ctx), &t);
            if (st == APH_OK) printf("      input %s: from %s\n", ns.name, a->weights);
        } else if (!castable(ns.dtype)) {
            /* u8, i8, i16, u32, bool, fp8: zeros (aph_op_cast does not write these dtypes) */
            st = aph_tensor_zeros(aph_build_context_device(ctx), ns.dtype, ns.shape, ns.ndim, &t);
            if (st == APH_OK) printf("      input %s: zeros (%s)\n", ns.name, aph_dtype_name(ns.dtype));
        } else {
            aph_device* cpu = NULL;
            st = aph_device_open(APH_DEVICE_CPU, 0, &cpu);
            int64_t numel = 1;
            for (size_t d = 0; d < ns.ndim; ++d) numel *= ns.shape[d];
            double* vals = (double*)calloc((size_t)(numel > 0 ? numel : 1), sizeof(double));
            aph_tensor* host = NULL;
            if (vals == NULL) {
                aph_set_last_error(APH_ERR_OUT_OF_MEMORY, "no host memory for an input");
                st = APH_ERR_OUT_OF_MEMORY;
            }
            const int is_int = !aph_dtype_is_floating_point(ns.dtype);
            for (int64_t k = 0; st == APH_OK && !is_int && k < numel; k += 2) {
                const double u1 = uniform01(&rng), u2 = uniform01(&rng);
                const double r = sqrt(-2.0 * log(u1));
                vals[k] = r * cos(6.283185307179586 * u2);
                if (k + 1 < numel) vals[k + 1] = r * sin(6.283185307179586 * u2);
            }
            if (st == APH_OK)
                st = aph_tensor_from_host(cpu, APH_DTYPE_F64, ns.shape, ns.ndim, vals, (size_t)numel * sizeof(double),
                                          &host);
            if (st == APH_OK) st = aph_tensor_create(aph_build_context_device(ctx), ns.dtype, ns.shape, ns.ndim, &t);
            if (st == APH_OK) {
                aph_tensor* conv = NULL;
                st = aph_tensor_create(cpu, ns.dtype, ns.shape, ns.ndim, &conv);
                if (st == APH_OK) st = aph_op_cast(host, conv, NULL);
                if (st == APH_OK) st = aph_tensor_copy(t, conv);
                aph_tensor_release(conv);
            }
            if (st == APH_OK) {
                printf("      input %s: %s values from seed %llu, [", ns.name, is_int ? "zero" : "standard normal",
                       a->seed);
                for (size_t d = 0; d < ns.ndim; ++d) printf("%s%lld", d ? ", " : "", (long long)ns.shape[d]);
                printf("]\n");
            }
            aph_tensor_release(host);
            free(vals);
            aph_device_release(cpu);
        }
        if (st == APH_OK) st = aph_build_context_set_input(ctx, ns.name, t);
        aph_tensor_release(t);
    }
    aph_safetensors_release(st_file);
    aph_executor_release(ex);
    return st;
}

static int print_outputs(aph_executor* ex) {
    printf("\noutputs\n");
    aph_device* cpu = NULL;
    aph_status st = aph_device_open(APH_DEVICE_CPU, 0, &cpu);
    if (st != APH_OK) return lib_fail("aph_device_open(cpu)", st);
    int rc = 0;
    for (size_t i = 0; i < aph_executor_output_count(ex) && rc == 0; ++i) {
        const char* name = aph_executor_output_name(ex, i);
        aph_tensor *out = NULL, *host = NULL, *f64 = NULL;
        st = aph_executor_output(ex, name, &out);
        if (st == APH_OK) st = aph_tensor_to_device(out, cpu, &host);
        const int conv = st == APH_OK && castable(aph_tensor_dtype(host));
        if (conv) st = aph_tensor_create(cpu, APH_DTYPE_F64, aph_tensor_shape(host), aph_tensor_ndim(host), &f64);
        if (conv && st == APH_OK) st = aph_op_cast(host, f64, NULL);
        if (st != APH_OK) {
            rc = lib_fail("reading an output", st);
        } else {
            const int64_t n = aph_tensor_numel(host);
            const double* v = conv ? (const double*)aph_tensor_data(f64) : NULL;
            const unsigned char* raw = (const unsigned char*)aph_tensor_data(host);
            double sum = 0, asum = 0;
            for (int64_t k = 0; k < n; ++k) {
                const double x = conv ? v[k] : raw_value(aph_tensor_dtype(host), raw, k);
                sum += x;
                asum += fabs(x);
            }
            printf("  %-12s %s [", name, aph_dtype_name(aph_tensor_dtype(out)));
            for (size_t d = 0; d < aph_tensor_ndim(out); ++d)
                printf("%s%lld", d ? ", " : "", (long long)aph_tensor_shape(out)[d]);
            printf("]  sum = %.4f, sum |y| = %.4f\n", sum, asum);
        }
        aph_tensor_release(f64);
        aph_tensor_release(host);
        aph_tensor_release(out);
    }
    aph_device_release(cpu);
    return rc;
}

/* The .npy type of a dtype (NULL: numpy has none, as for bf16 and fp8). */
static const char* npy_descr(aph_dtype d) {
    switch (d) {
        case APH_DTYPE_F64: return "<f8";
        case APH_DTYPE_F32: return "<f4";
        case APH_DTYPE_F16: return "<f2";
        case APH_DTYPE_I64: return "<i8";
        case APH_DTYPE_I32: return "<i4";
        case APH_DTYPE_I16: return "<i2";
        case APH_DTYPE_I8: return "|i1";
        case APH_DTYPE_U8: return "|u1";
        case APH_DTYPE_U32: return "<u4";
        case APH_DTYPE_BOOL: return "|b1";
        default: return NULL;
    }
}

/* Writes t as a .npy file (format 1.0: magic, header length, a dict padded to 64 bytes, then the
 * row-major little-endian data). */
int cli_write_npy(const char* option, const char* path, const aph_tensor* t) {
    const char* descr = npy_descr(aph_tensor_dtype(t));
    if (descr == NULL) {
        fprintf(stderr, "aphelion: %s %s: numpy has no dtype for %s; save to a .safetensors file instead\n", option,
                path, aph_dtype_name(aph_tensor_dtype(t)));
        return CLI_EXIT_LIBRARY_ERROR;
    }
    aph_device* cpu = NULL;
    aph_tensor *host = NULL, *flat = NULL;
    aph_status st = aph_device_open(APH_DEVICE_CPU, 0, &cpu);
    if (st == APH_OK) st = aph_tensor_to_device(t, cpu, &host);
    if (st == APH_OK) st = aph_tensor_contiguous(host, &flat);
    aph_device_release(cpu);
    aph_tensor_release(host);
    if (st != APH_OK) return lib_fail("reading an output", st);
    char header[1024];
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (size_t d = 0; d < aph_tensor_ndim(flat); ++d)
        n += snprintf(header + n, sizeof header - (size_t)n, "%lld,%s", (long long)aph_tensor_shape(flat)[d],
                      d + 1 < aph_tensor_ndim(flat) ? " " : "");
    n += snprintf(header + n, sizeof header - (size_t)n, "), }");
    /* Pad with spaces so that magic (6) + version (2) + length (2) + header ends at a multiple
     * of 64, the last byte a newline. */
    while ((10 + n + 1) % 64 != 0) header[n++] = ' ';
    header[n++] = '\n';
    const unsigned char preamble[10] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(n & 0xFF), (unsigned char)(n >> 8)};
    FILE* f = fopen(path, "wb");
    int bad = f == NULL;
    if (f != NULL) {
        const size_t bytes = (size_t)aph_tensor_nbytes(flat);
        bad = fwrite(preamble, 1, sizeof preamble, f) != sizeof preamble ||
              fwrite(header, 1, (size_t)n, f) != (size_t)n ||
              (bytes > 0 && fwrite(aph_tensor_data(flat), 1, bytes, f) != bytes);
        bad = (fclose(f) != 0) || bad;
    }
    aph_tensor_release(flat);
    if (bad) {
        fprintf(stderr, "aphelion: cannot write %s: %s\n", path, strerror(errno));
        return CLI_EXIT_LIBRARY_ERROR;
    }
    return 0;
}

/* --save: the outputs of the last run, every one by name to a .safetensors file, or the only
 * one to a .npy file. */
static int save_outputs(aph_executor* ex, const char* path) {
    const size_t n = aph_executor_output_count(ex);
    aph_tensor* tensors[256] = {NULL};
    const char* names[256] = {NULL};
    if (n > 256) {
        fprintf(stderr, "aphelion: --save %s: the graph has %zu outputs; at most 256 can be saved\n", path, n);
        return CLI_EXIT_LIBRARY_ERROR;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; ++i) {
        names[i] = aph_executor_output_name(ex, i);
        const aph_status st = aph_executor_output(ex, names[i], &tensors[i]);
        if (st != APH_OK) rc = lib_fail("aph_executor_output", st);
    }
    if (rc == 0 && ends_with(path, ".npy")) {
        rc = cli_write_npy("--save", path, tensors[0]);
    } else if (rc == 0) {
        const aph_status st = aph_safetensors_save(path, names, (const aph_tensor* const*)tensors, n, NULL);
        if (st != APH_OK) rc = lib_fail("aph_safetensors_save", st);
    }
    if (rc == 0) printf("\nsaved   %s (%zu output%s)\n", path, n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; ++i) aph_tensor_release(tensors[i]);
    return rc;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cli_run(int argc, char** argv) {
    run_args a;
    memset(&a, 0, sizeof a);
    a.iterations = 1;
    for (int i = 0; i < argc; ++i) {
        const char* o = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--check-numerics") == 0) {
            a.check_numerics = 1;
            continue;
        }
        if (o[0] != '-') {
            if (a.graph != NULL) return usage_fail("run takes one graph file (got '%s' too)", o);
            a.graph = o;
            continue;
        }
        if (v == NULL) return usage_fail("%s needs a value", o);
        ++i;
        if (strcmp(o, "--device") == 0) {
            a.device = v;
        } else if (strcmp(o, "--weights") == 0) {
            a.weights = v;
        } else if (strcmp(o, "--trace") == 0) {
            a.trace = v;
        } else if (strcmp(o, "--precision") == 0) {
            if (cli_parse_precision(v, &a.precision) != 0) return CLI_EXIT_USAGE;
        } else if (strcmp(o, "--budget") == 0) {
            if (!parse_bytes(v, &a.budget))
                return usage_fail("--budget: '%s' is not a size such as 2GiB, 512MiB or 1000000", v);
        } else if (strcmp(o, "--iterations") == 0) {
            char* end = NULL;
            a.iterations = strtol(v, &end, 10);
            if (end == v || *end != '\0' || a.iterations < 1 || a.iterations > 1000000)
                return usage_fail("--iterations: '%s' is not a count from 1 to 1000000", v);
        } else if (strcmp(o, "--save") == 0) {
            if (!ends_with(v, ".safetensors") && !ends_with(v, ".npy"))
                return usage_fail("--save: '%s' names neither a .safetensors nor a .npy file", v);
            a.save = v;
        } else if (strcmp(o, "--dim") == 0) {
            const char* eq = strchr(v, '=');
            char* end = NULL;
            errno = 0;
            const long long size = eq != NULL ? strtoll(eq + 1, &end, 10) : -1;
            if (eq == NULL || eq == v || (size_t)(eq - v) >= sizeof a.dim_names[0] || end == eq + 1 || *end != '\0' ||
                errno == ERANGE || size < 0)
                return usage_fail("--dim: '%s' is not NAME=SIZE (a symbolic dimension and a size from 0)", v);
            if (a.n_dims == MAX_DIMS_GIVEN) return usage_fail("--dim: too many (at most 64; '%s')", v);
            memcpy(a.dim_names[a.n_dims], v, (size_t)(eq - v));
            a.dim_names[a.n_dims][eq - v] = '\0';
            for (size_t k = 0; k < a.n_dims; ++k)
                if (strcmp(a.dim_names[k], a.dim_names[a.n_dims]) == 0)
                    return usage_fail("--dim: '%s' gives a size twice", v);
            a.dim_sizes[a.n_dims++] = (int64_t)size;
        } else if (strcmp(o, "--seed") == 0) {
            char* end = NULL;
            errno = 0;
            a.seed = strtoull(v, &end, 10);
            if (end == v || *end != '\0' || v[0] == '-' || errno == ERANGE)
                return usage_fail("--seed: '%s' is not an integer from 0 to 2^64-1", v);
        } else {
            return usage_fail("run: unknown option '%s'", o);
        }
    }
    if (a.graph == NULL) return usage_fail("run needs a graph file%s", "");

    int rc = 0;
    aph_graph* g = NULL;
    aph_device* dev = NULL;
    aph_tracker* tracker = NULL;
    aph_trace_sink* sink = NULL;
    aph_build_context* ctx = NULL;
    aph_pipeline* p = NULL;
    aph_executor* ex = NULL;
    aph_status st;
    stage_state ss = {&a, isatty(1)};

    if (load(a.graph, &g) != APH_OK) return CLI_EXIT_LIBRARY_ERROR;
    if (a.save != NULL && ends_with(a.save, ".npy")) {
        /* A .npy file holds one array: check before running. */
        size_t outputs = 0;
        for (uint64_t id = 1; id <= aph_graph_node_count(g); ++id) {
            const char* name = NULL;
            const aph_model_config* cfg = NULL;
            if (aph_graph_node(g, id, &name, &cfg) == APH_OK && strcmp(aph_model_config_name(cfg), "output") == 0)
                ++outputs;
        }
        if (outputs != 1) {
            aph_graph_release(g);
            fprintf(stderr,
                    "aphelion: --save %s: the graph has %zu outputs; a .npy file holds one (save to a "
                    ".safetensors file for several)\n(see aphelion --help)\n",
                    a.save, outputs);
            return CLI_EXIT_USAGE;
        }
    }
    if ((rc = cli_open_device(a.device, &dev)) != 0) goto done;
    if (a.budget > 0 && (st = aph_tracker_create(a.budget, &tracker)) != APH_OK) {
        rc = lib_fail("aph_tracker_create", st);
        goto done;
    }
    if (a.trace != NULL && (st = aph_trace_sink_memory(&sink)) != APH_OK) {
        rc = lib_fail("aph_trace_sink_memory", st);
        goto done;
    }
    if ((st = aph_build_context_create(dev, sink, tracker, &ctx)) != APH_OK) {
        rc = lib_fail("aph_build_context_create", st);
        goto done;
    }
    {
        aph_executor_options opt;
        memset(&opt, 0, sizeof opt);
        opt.struct_size = sizeof opt;
        opt.check_numerics = a.check_numerics;
        opt.profile = 1;
        opt.matmul_precision = a.precision;
        if ((st = aph_build_context_set_executor_options(ctx, &opt)) != APH_OK) {
            rc = lib_fail("aph_build_context_set_executor_options", st);
            goto done;
        }
    }
    if (a.weights != NULL && (st = aph_build_context_set_weights_file(ctx, a.weights)) != APH_OK) {
        rc = lib_fail("aph_build_context_set_weights_file", st);
        goto done;
    }
    printf("graph   %s (%zu nodes, %zu edges) on %s\n", a.graph, aph_graph_node_count(g), aph_graph_edge_count(g),
           aph_device_label(dev));
    if ((st = aph_pipeline_create(&p)) != APH_OK || (st = aph_pipeline_add_builtin(p, "validation")) != APH_OK ||
        (st = aph_pipeline_add_builtin(p, "check")) != APH_OK ||
        (st = aph_pipeline_add_builtin(p, "hashing")) != APH_OK ||
        (st = aph_pipeline_add_builtin(p, "plan")) != APH_OK ||
        (st = aph_pipeline_add_stage(p, "inputs", bind_inputs_stage, &ss, NULL)) != APH_OK ||
        (st = aph_pipeline_add_builtin(p, "execute")) != APH_OK ||
        (st = aph_pipeline_set_progress(p, on_progress, &ss)) != APH_OK) {
        rc = lib_fail("building the pipeline", st);
        goto done;
    }
    const double t0 = now_s();
    st = aph_pipeline_run(p, ctx, g);
    const double first_s = now_s() - t0;
    if (st != APH_OK) {
        rc = lib_fail("the pipeline", st);
        goto done;
    }
    if ((st = aph_build_context_executor(ctx, &ex)) != APH_OK) {
        rc = lib_fail("aph_build_context_executor", st);
        goto done;
    }
    double min_s = first_s, sum_s = 0;
    for (long it = 1; it < a.iterations; ++it) {
        const double s0 = now_s();
        if ((st = aph_executor_run(ex)) != APH_OK) {
            rc = lib_fail("aph_executor_run", st);
            goto done;
        }
        const double d = now_s() - s0;
        sum_s += d;
        if (d < min_s || it == 1) min_s = d;
    }

    char hex[65] = "";
    aph_graph_stable_hash(g, hex, sizeof hex);
    printf("\nhash    %s\n", hex);

    aph_plan_info pi;
    memset(&pi, 0, sizeof pi);
    pi.struct_size = sizeof pi;
    aph_executor_plan_info(ex, &pi);
    char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
    human_bytes(b1, sizeof b1, pi.total_bytes);
    human_bytes(b2, sizeof b2, pi.arena_bytes);
    human_bytes(b3, sizeof b3, pi.live_peak_bytes);
    human_bytes(b4, sizeof b4, pi.unshared_bytes);
    human_bytes(b5, sizeof b5, pi.output_bytes + pi.constant_bytes);
    if (pi.budget_bytes) human_bytes(b6, sizeof b6, pi.budget_bytes);
    else
        snprintf(b6, sizeof b6, "none");
    printf("\nmemory plan\n  peak %s (budget %s): arena %s for %zu values (live peak %s; %s without reuse),"
           " outputs and constants %s\n",
           b1, b6, b2, pi.buffers, b3, b4, b5);

    const uint64_t runs = aph_executor_run_count(ex);
    printf("\nnodes (mean over %llu run%s; the first run includes allocation)\n", (unsigned long long)runs,
           runs == 1 ? "" : "s");
    uint64_t total_ns = 0;
    for (size_t i = 0; i < aph_executor_node_count(ex); ++i) {
        aph_node_stats ns;
        memset(&ns, 0, sizeof ns);
        ns.struct_size = sizeof ns;
        aph_executor_node_stats(ex, i, &ns);
        if (ns.total_ns == 0 && ns.offset == UINT64_MAX) continue; /* ran nothing */
        char shape[160] = "";
        size_t off = 0;
        for (size_t d = 0; d < ns.ndim && off < sizeof shape - 24; ++d)
            off += (size_t)snprintf(shape + off, sizeof shape - off, "%s%lld", d ? ", " : "", (long long)ns.shape[d]);
        total_ns += ns.total_ns;
        printf("  %-14s %-16s %-5s [%s]  %9.3f ms\n", ns.name, ns.op, aph_dtype_name(ns.dtype), shape,
               (double)ns.total_ns / (double)runs / 1e6);
    }
    printf("  %-14s %-16s %-5s %s  %9.3f ms per run (node sum)\n", "total", "", "", "",
           (double)total_ns / (double)runs / 1e6);
    if (a.iterations > 1)
        printf("  wall time: first run %.3f ms (pipeline, allocation included), then min %.3f ms, mean %.3f ms\n",
               first_s * 1e3, min_s * 1e3, sum_s / (double)(a.iterations - 1) * 1e3);
    rc = print_outputs(ex);
    if (rc == 0 && a.save != NULL) rc = save_outputs(ex, a.save);

    if (rc == 0 && a.trace != NULL) {
        char* json = NULL;
        if ((st = aph_trace_export_chrome(sink, &json)) != APH_OK) {
            rc = lib_fail("aph_trace_export_chrome", st);
            goto done;
        }
        FILE* f = fopen(a.trace, "wb");
        int bad = f == NULL;
        if (f != NULL) {
            bad = fputs(json, f) < 0;
            bad = (fclose(f) != 0) || bad;
        }
        if (bad) {
            fprintf(stderr, "aphelion: cannot write %s: %s\n", a.trace, strerror(errno));
            rc = CLI_EXIT_LIBRARY_ERROR;
        } else {
            printf("\ntrace   %s (%zu spans; open it in https://ui.perfetto.dev or chrome://tracing)\n", a.trace,
                   aph_trace_sink_span_count(sink));
        }
        aph_string_free(json);
    }
done:
    aph_executor_release(ex);
    aph_pipeline_release(p);
    aph_build_context_release(ctx);
    aph_trace_sink_release(sink);
    aph_tracker_release(tracker);
    aph_device_release(dev);
    aph_graph_release(g);
    return rc;
}
