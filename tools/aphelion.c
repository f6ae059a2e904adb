/*
 * aphelion — the libaphelion command.
 *
 *   aphelion info       version, how the library was built, devices, environment in effect
 *   aphelion run GRAPH  run an executable graph (tools/aphelion_graph.c)
 *   aphelion embed DIR  sentence embeddings with a Hugging Face model (tools/aphelion_embed.c)
 *   aphelion hash|dot|validate GRAPH
 *   aphelion --version
 *   aphelion --help
 *
 * Exit codes: 0 success, 1 a libaphelion call failed, 2 usage error.
 * Written against the public C API only.
 */
#include "aphelion_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_LIBRARY_ERROR = CLI_EXIT_LIBRARY_ERROR, EXIT_USAGE = CLI_EXIT_USAGE };

static const char* const kEnvVars[] = {
    "APHELION_LOG",          "APHELION_FORCE_CPU",   "RUST_AI_FORCE_CPU",    "AXOLOTL_FORCE_CPU",
    "VSA_OPTIM_FORCE_CPU",   "APHELION_CUDA_DEVICE", "RUST_AI_CUDA_DEVICE",  "AXOLOTL_CUDA_DEVICE",
    "VSA_OPTIM_CUDA_DEVICE", "APHELION_CUDA_MODULE", "CUDA_VISIBLE_DEVICES",
};

static void usage(FILE* f) {
    fputs("usage: aphelion <command> [options]\n"
          "\n"
          "commands:\n"
          "  info        print the version, how libaphelion was built, its devices and the\n"
          "              environment variables in effect\n"
          "  run GRAPH.json [--device cpu|cuda[:N]] [--weights FILE.safetensors] [--budget 2GiB]\n"
          "              [--trace trace.json] [--check-numerics] [--iterations N] [--seed N]\n"
          "              [--dim NAME=SIZE]... [--save OUT.safetensors|OUT.npy]\n"
          "              [--precision f32|bf16|int8]\n"
          "              run an executable graph: progress per stage, the memory plan, per-node\n"
          "              timings, output shapes and checksums, the graph hash. Input nodes take\n"
          "              the weights file's tensor of their name, else normal values from --seed\n"
          "              (zeros for integers), sized by --dim for symbolic dimensions. --save\n"
          "              writes the outputs: every one, by name, to .safetensors; the only one\n"
          "              to .npy. --precision: the linear layers' arithmetic on the CPU\n"
          "              (aph_matmul_precision; bf16 and int8 need AVX512_BF16 / AVX512_VNNI)\n"
          "  embed MODEL_DIR [--device cpu|cuda[:N]] [--batch N] [--max-length N]\n"
          "              [--precision f32|bf16|int8]\n"
          "              (TEXT... | --file F) [--output F.npy|F.safetensors]\n"
          "              embed texts with a Hugging Face sentence encoder (BERT family, such as\n"
          "              all-MiniLM-L6-v2's directory): print their cosine-similarity matrix, or\n"
          "              write the embeddings [count, dim] f32 (.safetensors: 'embeddings').\n"
          "              --file reads one text per line ('-': standard input); progress on\n"
          "              stderr for long inputs\n"
          "  hash GRAPH.json      print the graph's stable hash (aphelion-core's)\n"
          "  dot GRAPH.json       print the graph in GraphViz form\n"
          "  validate GRAPH.json [--executable]\n"
          "              validate every node's configuration and the graph; say whether\n"
          "              libaphelion can execute it (required with --executable)\n"
          "\n"
          "options:\n"
          "  -h, --help     show this help\n"
          "  -V, --version  print the version\n"
          "\n"
          "exit codes: 0 success, 1 a libaphelion call failed, 2 usage error\n",
          f);
}

static int fail(const char* what, aph_status st) {
    fprintf(stderr, "aphelion: %s failed: %s: %s\n", what, aph_status_name(st), aph_last_error());
    return EXIT_LIBRARY_ERROR;
}

static void print_bytes(const char* label, uint64_t bytes) {
    printf("%s %.1f GiB", label, (double)bytes / (1024.0 * 1024.0 * 1024.0));
}

static void print_version_number(int32_t v) {
    if (v <= 0) {
        printf("none");
    } else {
        printf("%d.%d", v / 1000, (v % 1000) / 10);
    }
}

static int print_device(aph_device* dev) {
    uint64_t free_bytes = 0, total_bytes = 0;
    aph_status st = aph_device_memory_info(dev, &free_bytes, &total_bytes);
    printf("  %-8s %s\n", aph_device_label(dev), aph_device_name(dev));
    if (aph_device_get_kind(dev) == APH_DEVICE_CUDA) {
        int32_t major = 0, minor = 0;
        aph_device_compute_capability(dev, &major, &minor);
        printf("           compute capability %d.%d, %d multiprocessors,", major, minor,
               aph_device_multiprocessor_count(dev));
    } else {
        printf("           %d logical cores,", aph_device_logical_cores(dev));
    }
    if (st == APH_OK) {
        print_bytes("", total_bytes);
        print_bytes(" total,", free_bytes);
        printf(" free\n");
    } else {
        printf(" memory unknown (%s)\n", aph_last_error());
    }
    return 0;
}

static int cmd_info(void) {
    int major = 0, minor = 0, patch = 0;
    aph_version(&major, &minor, &patch);
    printf("libaphelion %s (header %d.%d.%d)\n\n", aph_version_string(), APH_VERSION_MAJOR, APH_VERSION_MINOR,
           APH_VERSION_PATCH);

    aph_cuda_info ci;
    memset(&ci, 0, sizeof ci);
    ci.struct_size = sizeof ci;
    aph_status st = aph_cuda_get_info(&ci);
    if (st != APH_OK) return fail("aph_cuda_get_info", st);
    printf("build\n");
    printf("  CUDA module built:  %s\n", ci.module_built ? "yes" : "no");
    printf("  CUDA module found:  %s (%s)\n", ci.module_loaded ? "yes" : "no", ci.module_path);
    printf("  CUDA runtime:       ");
    print_version_number(ci.runtime_version);
    printf("\n  NVIDIA driver:      %s", ci.driver_present ? "present, CUDA " : "not present");
    if (ci.driver_present) print_version_number(ci.driver_version);
    printf("\n  CUDA devices:       %d", ci.device_count);
    if (ci.device_count == 0) printf(" (%s)", ci.reason);
    printf("\n\ndevices\n");

    aph_device* cpu = NULL;
    st = aph_device_open(APH_DEVICE_CPU, 0, &cpu);
    if (st != APH_OK) return fail("aph_device_open(cpu)", st);
    print_device(cpu);
    aph_device_release(cpu);
    for (int32_t i = 0; i < ci.device_count; ++i) {
        aph_device* gpu = NULL;
        st = aph_device_open(APH_DEVICE_CUDA, i, &gpu);
        if (st != APH_OK) return fail("aph_device_open(cuda)", st);
        print_device(gpu);
        aph_device_release(gpu);
    }

    aph_device_config* cfg = NULL;
    st = aph_device_config_from_env(&cfg);
    if (st != APH_OK) return fail("aph_device_config_from_env", st);
    printf("\nselection (from the environment)\n");
    printf("  force_cpu=%d cuda_device=%d\n", aph_device_config_force_cpu(cfg), aph_device_config_cuda_device(cfg));
    aph_device* selected = NULL;
    st = aph_device_select(cfg, &selected);
    aph_device_config_release(cfg);
    if (st != APH_OK) return fail("aph_device_select", st);
    printf("  selected: %s\n", aph_device_label(selected));
    aph_device_release(selected);

    printf("\nenvironment\n");
    for (size_t i = 0; i < sizeof kEnvVars / sizeof kEnvVars[0]; ++i) {
        const char* v = getenv(kEnvVars[i]);
        printf("  %-22s %s\n", kEnvVars[i], v ? v : "(unset)");
    }
    printf("  log level:             %s\n", aph_log_level_name(aph_log_get_level()));
    return 0;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char* cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("aphelion %s\n", aph_version_string());
        return 0;
    }
    if (strcmp(cmd, "info") == 0) {
        if (argc > 2) {
            fprintf(stderr, "aphelion: info takes no arguments (got '%s')\n", argv[2]);
            return EXIT_USAGE;
        }
        return cmd_info();
    }
    if (strcmp(cmd, "run") == 0) return cli_run(argc - 2, argv + 2);
    if (strcmp(cmd, "embed") == 0) return cli_embed(argc - 2, argv + 2);
    if (strcmp(cmd, "hash") == 0) return cli_hash(argc - 2, argv + 2);
    if (strcmp(cmd, "dot") == 0) return cli_dot(argc - 2, argv + 2);
    if (strcmp(cmd, "validate") == 0) return cli_validate(argc - 2, argv + 2);
    fprintf(stderr, "aphelion: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
