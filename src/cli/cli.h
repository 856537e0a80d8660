/*
 * cli/cli.h - entry points of the m2msec command groups kept in their own files.
 *
 * Layer: CLI (public API only). main.c dispatches argv[1] to them.
 */
#ifndef M2MSEC_CLI_CLI_H
#define M2MSEC_CLI_CLI_H

/* `m2msec connect` (Entity A) and `m2msec cse` (reference Entity B); cli/sa.c. */
int cli_sa_main(int argc, char **argv);
/* `m2msec ibc listen|connect|show|refresh` (IBC-SIGMA between two devices); cli/ibc.c. */
int cli_ibc_main(int argc, char **argv);

#endif
