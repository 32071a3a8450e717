/* zerorl-sandbox: the sandbox launcher as a program (see sandbox.h and `zerorl-sandbox --help`). */
#include "reward/sandbox.h"

int main(int argc, char **argv) { return zr_sandbox_cli(argc, argv, "zerorl-sandbox"); }
