/*
 * fuzz/replay.c - run a libFuzzer target over corpus files without libFuzzer.
 *
 * Linked with one fuzz_<target>.c, this gives a plain executable that gcc can
 * build and CTest can run under ASan/UBSan (label fuzz-replay), SQLite
 * fuzzcheck style. Arguments are directories (every regular file in them, in
 * name order) or single files. Exit status 0 when every input ran; a crash,
 * sanitizer report or abort() in the target is the failure.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs larger than this are not corpus entries (libFuzzer's default -max_len is far lower). */
#define REPLAY_MAX_INPUT (1024 * 1024)

static int
replay_file(const char *path)
{
    struct stat st;
    uint8_t *buf = NULL;
    FILE *f = NULL;
    size_t n;
    int rv = -1;

    if (stat(path, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size > REPLAY_MAX_INPUT) {
        fprintf(stderr, "replay: %s: not a regular file of at most %d bytes\n", path,
                REPLAY_MAX_INPUT);
        goto out;
    }
    f = fopen(path, "rb");
    /* One spare byte so an empty file still gets a valid pointer. */
    buf = malloc((size_t)st.st_size + 1);
    if (f == NULL || buf == NULL) {
        fprintf(stderr, "replay: %s: cannot read\n", path);
        goto out;
    }
    n = fread(buf, 1, (size_t)st.st_size, f);
    if (n != (size_t)st.st_size) {
        fprintf(stderr, "replay: %s: short read\n", path);
        goto out;
    }
    (void)LLVMFuzzerTestOneInput(buf, n);
    rv = 0;
out:
    if (f != NULL) {
        fclose(f);
    }
    free(buf);
    return rv;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir, sorted by name so runs are reproducible. */
static int
replay_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;
    size_t cap = 0;
    size_t i;
    int rv = -1;

    if (d == NULL) {
        fprintf(stderr, "replay: %s: cannot open directory\n", dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        if (n == cap) {
            char **nn = realloc(names, (cap ? cap * 2 : 64) * sizeof(*names));

            if (nn == NULL) {
                goto out;
            }
            names = nn;
            cap = cap ? cap * 2 : 64;
        }
        names[n] = malloc(strlen(dir) + 1 + strlen(e->d_name) + 1);
        if (names[n] == NULL) {
            goto out;
        }
        snprintf(names[n], strlen(dir) + 1 + strlen(e->d_name) + 1, "%s/%s", dir, e->d_name);
        n++;
    }
    if (n > 0) {
        qsort(names, n, sizeof(*names), name_cmp);
    }
    for (i = 0; i < n; i++) {
        struct stat st;

        if (stat(names[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            continue;
        }
        if (replay_file(names[i]) == -1) {
            goto out;
        }
        (*count)++;
    }
    rv = 0;
out:
    for (i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    closedir(d);
    return rv;
}

int
main(int argc, char **argv)
{
    size_t count = 0;
    int i;

    if (argc < 2) {
        fprintf(stderr, "usage: %s <corpus dir or file>...\n", argv[0]);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        struct stat st;

        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            if (replay_dir(argv[i], &count) == -1) {
                return 1;
            }
        } else {
            if (replay_file(argv[i]) == -1) {
                return 1;
            }
            count++;
        }
    }
    if (count == 0) {
        /* An empty corpus would make the test pass without testing anything. */
        fprintf(stderr, "replay: no inputs\n");
        return 1;
    }
    printf("replay: %zu inputs ok\n", count);
    return 0;
}
