/* A driver for the fuzz targets where libFuzzer is not linked (GCC builds, the TSan stage):
 * runs LLVMFuzzerTestOneInput once on each file named, or on each file of each directory named
 * (in name order), and says how many it ran. A crash or a failed check (abort) fails the run,
 * as it would fail libFuzzer's. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static int run_file(const char* path) {
    FILE* f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t* buf = malloc(n > 0 ? (size_t)n : 1);
    const size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    /* A copy of exactly the input's size, so reading past the end is caught by ASan. */
    uint8_t* exact = malloc(got ? got : 1);
    memcpy(exact, buf, got);
    free(buf);
    LLVMFuzzerTestOneInput(exact, got);
    free(exact);
    return 0;
}

static int by_name(const void* a, const void* b) { return strcmp(*(char* const*)a, *(char* const*)b); }

int main(int argc, char** argv) {
    int ran = 0, errors = 0;
    for (int i = 1; i < argc; ++i) {
        struct stat st;
        if (stat(argv[i], &st) != 0) continue; /* a directory that does not exist: no inputs */
        if (!S_ISDIR(st.st_mode)) {
            errors += run_file(argv[i]);
            ran++;
            continue;
        }
        DIR* d = opendir(argv[i]);
        if (!d) continue;
        char** names = NULL;
        size_t n = 0, cap = 0;
        for (struct dirent* e; (e = readdir(d)) != NULL;) {
            if (e->d_name[0] == '.') continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                names = realloc(names, cap * sizeof *names);
            }
            names[n] = malloc(strlen(argv[i]) + strlen(e->d_name) + 2);
            sprintf(names[n++], "%s/%s", argv[i], e->d_name);
        }
        closedir(d);
        qsort(names, n, sizeof *names, by_name);
        for (size_t k = 0; k < n; ++k) {
            errors += run_file(names[k]);
            ran++;
            free(names[k]);
        }
        free(names);
    }
    printf("ran %d inputs\n", ran);
    return errors ? 1 : 0;
}
