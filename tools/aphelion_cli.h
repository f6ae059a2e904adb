/* The aphelion command's parts (tools/aphelion.c: main and info; tools/aphelion_graph.c: the
 * graph commands; tools/aphelion_embed.c: embed). */
#ifndef APHELION_CLI_H
#define APHELION_CLI_H

#include <aphelion.h>

enum { CLI_EXIT_LIBRARY_ERROR = 1, CLI_EXIT_USAGE = 2 };

/* Each takes the arguments after the command name. */
int cli_run(int argc, char** argv);
int cli_hash(int argc, char** argv);
int cli_dot(int argc, char** argv);
int cli_validate(int argc, char** argv);
int cli_embed(int argc, char** argv);

/* Shared helpers (tools/aphelion_graph.c). A device from "cpu", "cuda" or "cuda:N" (NULL: the
 * environment's choice): 0, or the exit code after printing why. */
int cli_open_device(const char* spec, aph_device** out);
/* "f32", "bf16" or "int8" as an aph_matmul_precision (--precision): 0, or the usage exit code
 * after printing why. */
int cli_parse_precision(const char* v, aph_matmul_precision* out);
/* Writes t (any device) as a .npy file; option names the flag in messages. 0 or an exit code. */
int cli_write_npy(const char* option, const char* path, const aph_tensor* t);

#endif
