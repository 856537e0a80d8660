/*
 * mefd/main.c - entry point and subcommand dispatch.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mefd.h"

static void
usage(FILE *f)
{
    fputs("usage: mefd <command> [options]\n"
          "\n"
          "M2M Enrolment Function (oneM2M TS-0003): enrols devices over TLS 1.2 PSK,\n"
          "derives Ke/KeID with the RFC 5705 exporter and runs the Enrolment Exchange;\n"
          "serves keys derived from Ke to Enrolment Targets over certificate TLS.\n"
          "\n"
          "commands:\n"
          "  init -d DIR --fqdn FQDN [--listen ADDR:PORT] [--dev-pki]\n"
          "        [--target-listen ADDR:PORT]\n"
          "        create DIR with mefd.conf, a new key-encryption key and the store;\n"
          "        --dev-pki: a development CA in DIR/pki and DIR/mef.pem for FQDN;\n"
          "        --target-listen: serve Enrolment Targets (fetchCredentials) there\n"
          "  serve -d DIR [--listen ADDR:PORT]\n"
          "        run the service(s) in the foreground (SIGTERM/SIGINT: graceful stop)\n"
          "  enrolee add -d DIR --kpm-id ID (--kpm-file F | --kpm HEX) --enrolee-id ID\n"
          "        [--target ID]... --expiry SECONDS [--instruct-maf URI]...\n"
          "        [--instruct-cert URI] [--instruct-rm URI]\n"
          "  enrolee list -d DIR [--json]\n"
          "  enrolee show -d DIR --kpm-id ID [--json]\n"
          "  enrolee remove -d DIR --kpm-id ID\n"
          "  target add -d DIR --id ID (--cert-fqdn FQDN | --psk-id PSKID --psk-file F)\n"
          "        --suid N[,N]... [--legacy] [--lifetime SECONDS]\n"
          "        an Enrolment Target: a MAF (id = its FQDN, SUID 21) or an Enrolee B\n"
          "        (id = CSE-ID or AE-ID, SUIDs 22..25), authenticated by its certificate\n"
          "        or by TLS-PSK with the hex key in F (stored sealed)\n"
          "  target list -d DIR [--json]\n"
          "  target show -d DIR --id ID [--json]\n"
          "  target remove -d DIR --id ID\n"
          "  bootclass add -d DIR --name NAME --cert-flavour device|node-id\n"
          "        (--id-prefix P | --cert-id ID) --cert-ca FILE... [--crl FILE]...\n"
          "        --purpose maf:MAF-FQDN|cse:CSE-ID --lifetime SECONDS\n"
          "        a node class of the PKI bootstrap (seed 002): certificates of that\n"
          "        flavour and identity under those anchors get a root credential for the\n"
          "        purpose (POST /mef/bootstrap); no class, nothing issued\n"
          "  bootclass list -d DIR [--json]\n"
          "  bootclass remove -d DIR --name NAME   (erases the class's root credentials)\n"
          "  pkg init -d DIR [--key-period S] [--key-period-offset S] [--mpk-lifetime S]\n"
          "        the PKG of IBC credentials (seed 000): a sealed KSAK and MPK (KPAK)\n"
          "        version 1; Enrolees indicating IBC enrolment then get (ID2, SSK, PVT)\n"
          "  pkg show -d DIR [--json]   versions, KPAKs, validity, the current one\n"
          "  pkg rotate -d DIR          a new current MPK; the old one stays valid until\n"
          "        the last credential issued under it expires\n"
          "  pki issue -d DIR --fqdn FQDN --cert OUT --key OUT [--days N]\n"
          "        certificate (server and client use) from the --dev-pki CA\n"
          "  sweep -d DIR     erase expired keys and registrations now\n"
          "  help | --help    this text\n"
          "\n"
          "See mefd(8) and README.md.\n",
          f);
}

int
mefd_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("mefd: ", stderr);
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
        return mefd_cmd_init(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "serve") == 0) {
        return mefd_cmd_serve(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "enrolee") == 0) {
        return mefd_cmd_enrolee(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "target") == 0) {
        return mefd_cmd_target(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "bootclass") == 0) {
        return mefd_cmd_bootclass(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "pkg") == 0) {
        return mefd_cmd_pkg(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "pki") == 0) {
        return mefd_cmd_pki(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "sweep") == 0) {
        return mefd_cmd_sweep(argc - 1, argv + 1);
    }
    fprintf(stderr, "mefd: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
