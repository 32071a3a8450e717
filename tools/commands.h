/* commands.h: the zerorl tool's subcommands. Each is implemented in tools/cmd_NAME.c as
 * `int zr_cmd_NAME(int argc, char **argv)` (argv[0] is the subcommand's name; returns the exit
 * status: 0 success, 1 failure, 2 usage error) and listed in the table in zerorl.c. */
#ifndef ZR_TOOLS_COMMANDS_H
#define ZR_TOOLS_COMMANDS_H

int zr_cmd_version(int argc, char **argv);
int zr_cmd_config(int argc, char **argv);
int zr_cmd_tokenize(int argc, char **argv);
int zr_cmd_detokenize(int argc, char **argv);
int zr_cmd_verify(int argc, char **argv);
int zr_cmd_sandbox(int argc, char **argv);
int zr_cmd_data(int argc, char **argv);
int zr_cmd_model(int argc, char **argv);
int zr_cmd_generate(int argc, char **argv);
int zr_cmd_status(int argc, char **argv);
int zr_cmd_plot(int argc, char **argv);
int zr_cmd_run(int argc, char **argv);
int zr_cmd_eval(int argc, char **argv);
int zr_cmd_keygen(int argc, char **argv);

/* 1 if --help or -h is among argv[1..argc). */
int zr_cmd_wants_help(int argc, char **argv);

#endif
