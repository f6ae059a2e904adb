/* The aphelion command's parts (tools/aphelion.c: main and info; tools/aphelion_graph.c: the
 * graph commands). */
#ifndef APHELION_CLI_H
#define APHELION_CLI_H

#include <aphelion.h>

enum { CLI_EXIT_LIBRARY_ERROR = 1, CLI_EXIT_USAGE = 2 };

/* Each takes the arguments after the command name. */
int cli_run(int argc, char** argv);
int cli_hash(int argc, char** argv);
int cli_dot(int argc, char** argv);
int cli_validate(int argc, char** argv);

#endif
