/* zerorl sandbox: run a program in the code sandbox (see reward/sandbox.h):
 *   zerorl sandbox run --lang python3 [--stdin FILE] [--time-limit S] [--memory-mb M] FILE
 * prints the program's stdout on stdout and, on stderr, its stderr followed by one JSON line
 * with the run's status and the limits it hit. */
#include "reward/sandbox.h"
#include "tools/commands.h"

int zr_cmd_sandbox(int argc, char **argv) { return zr_sandbox_cli(argc, argv, "zerorl sandbox"); }
