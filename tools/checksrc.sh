#!/bin/sh
# Source checks the compiler does not make (after curl's checksrc):
# - banned functions (strcpy strcat sprintf vsprintf gets strtok atoi atol atof
#   rand random srand alloca tmpnam system popen strncpy)
# - no printf family writing to stdout/stderr inside src/lib
# - only src/lib/tls includes GnuTLS; only src/lib/store includes sqlite3.h
set -eu
cd "$(dirname "$0")/.."
rc=0
files=$(git ls-files 'src/*.c' 'src/*.h' 'include/*.h' 2>/dev/null || find src include -name '*.[ch]')
for f in $files; do
    [ -f "$f" ] || continue
    if grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|atof|rand|random|srand|alloca|tmpnam|system|popen|strncpy)[[:space:]]*\(' "$f" \
        | grep -vE '^\s*[0-9]+:\s*(/\*|\*)' | grep -v 'checksrc:allow'; then
        echo "checksrc: banned function in $f" >&2
        rc=1
    fi
    case "$f" in
    src/lib/*)
        if grep -nE '\b(printf|fprintf|perror|puts|exit|abort)[[:space:]]*\(' "$f" | grep -v 'checksrc:allow'; then
            echo "checksrc: output/exit call in library file $f" >&2
            rc=1
        fi
        ;;
    esac
    case "$f" in
    src/lib/tls/*) ;;
    *)
        if grep -n '#include <gnutls/' "$f"; then
            echo "checksrc: GnuTLS included outside src/lib/tls: $f" >&2
            rc=1
        fi
        ;;
    esac
    case "$f" in
    src/lib/tls/*) ;;
    src/lib/* | src/cli/*)
        # Layering: only tls/ touches sockets (docs/ARCHITECTURE.md).
        if grep -nE '(^|[^A-Za-z0-9_])(poll|recv|send|socket|accept4?|connect|setsockopt|getpeername)\(' "$f" |
            grep -vE '^[0-9]+: *(/?\*|//)'; then
            echo "checksrc: socket call outside src/lib/tls: $f" >&2
            rc=1
        fi
        ;;
    esac
    case "$f" in
    src/lib/store/*) ;;
    *)
        if grep -n '#include <sqlite3.h>' "$f"; then
            echo "checksrc: sqlite3.h included outside src/lib/store: $f" >&2
            rc=1
        fi
        ;;
    esac
done
exit $rc
