/*
 * mafd/main.c - entry point and subcommand dispatch.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mafd.h"

static void
usage(FILE *f)
{
    fputs("usage: mafd <command> [options]\n"
          "\n"
          "M2M Authentication Function (oneM2M TS-0003 8.8): registers MAF clients over\n"
          "TLS 1.2 PSK. A client's first handshake uses its KeID: mafd fetches Km from the\n"
          "MEF named in the KeID (fetchCredentials, SUID 21) and assigns a KmID.\n"
          "\n"
          "commands:\n"
          "  init -d DIR --fqdn MAF-FQDN [--listen ADDR:PORT] --mef-ca FILE\n"
          "        --cert FILE --key FILE [--mef MEF-FQDN=HOST:PORT]...\n"
          "        [--mef-psk-id ID --mef-psk-file HEXFILE]\n"
          "        create DIR with mafd.conf, mefs.conf, a key-encryption key and the\n"
          "        store; cert/key: the MAF's FQDN certificate (client of the MEF);\n"
          "        mef-ca: trust anchors for the MEFs' target listeners; mef-psk-*:\n"
          "        fetch from those MEFs with TLS-PSK instead of the certificate\n"
          "  serve -d DIR [--listen ADDR:PORT]\n"
          "        run the service in the foreground (SIGTERM/SIGINT: graceful stop)\n"
          "  client list -d DIR [--json]\n"
          "        clients with a live Km: KmID, KeID, SUID (21 remotely provisioned, 11\n"
          "        pre-provisioned), client id, expiry, key check value, allowed targets\n"
          "  client add -d DIR --kmid REL_OR_FULL (--km-file F | --km HEX) --client-id ID\n"
          "        [--expiry SECONDS] [--target ID[,ID...]]...\n"
          "        a client with a pre-provisioned Km (TS-0003 8.8.3.1): it connects with\n"
          "        psk_identity = <rel>@<MAF-FQDN> (rel: 32 hex digits) and Km (32 bytes,\n"
          "        hex); --expiry 0 or absent: no expiry; --target limits the targetIDs its\n"
          "        Key Registrations may name (absent: any). Safe while serve runs\n"
          "  client remove -d DIR --kmid REL_OR_FULL\n"
          "        erase a client with its registrations and key registrations\n"
          "  sweep -d DIR     erase expired clients and registrations now\n"
          "  help | --help    this text\n",
          f);
}

int
mafd_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("mafd: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "init") == 0) {
        return mafd_cmd_init(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "serve") == 0) {
        return mafd_cmd_serve(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "client") == 0) {
        return mafd_cmd_client(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "sweep") == 0) {
        return mafd_cmd_sweep(argc - 1, argv + 1);
    }
    fprintf(stderr, "mafd: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
