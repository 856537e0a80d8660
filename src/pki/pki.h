/*
 * pki/pki.h - m2msec-pki's commands beyond the generator (pki/main.c): the
 * "serve" and "connect" diagnostics of pki/check.c.
 *
 * Layer: program. Each returns the process exit status (0 done, 1 failed or
 * refused, 2 usage error).
 */
#ifndef M2MSEC_PKI_PKI_H
#define M2MSEC_PKI_PKI_H

int m2msec_pki_cmd_serve(int argc, char **argv);
int m2msec_pki_cmd_connect(int argc, char **argv);

#endif
