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
          "derives Ke/KeID with the RFC 5705 exporter and runs the Enrolment Exchange.\n"
          "\n"
          "commands:\n"
          "  init -d DIR --fqdn FQDN [--listen ADDR:PORT]\n"
          "        create DIR with mefd.conf, a new key-encryption key and the store\n"
          "  serve -d DIR [--listen ADDR:PORT]\n"
          "        run the service in the foreground (SIGTERM/SIGINT: graceful stop)\n"
          "  enrolee add -d DIR --kpm-id ID (--kpm-file F | --kpm HEX) --enrolee-id ID\n"
          "        [--target ID]... --expiry SECONDS [--instruct-maf URI]...\n"
          "        [--instruct-cert URI] [--instruct-rm URI]\n"
          "  enrolee list -d DIR [--json]\n"
          "  enrolee show -d DIR --kpm-id ID [--json]\n"
          "  enrolee remove -d DIR --kpm-id ID\n"
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
    if (strcmp(argv[1], "sweep") == 0) {
        return mefd_cmd_sweep(argc - 1, argv + 1);
    }
    fprintf(stderr, "mefd: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
