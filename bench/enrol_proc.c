/*
 * bench/enrol_proc.c - child processes, files, temp dirs and machine context for bench-enrol.
 *
 * Layer: bench (program). Children are started with fork + execv while the
 * bench has no other thread running, so the child's copy of the address space
 * holds no lock another thread was in the middle of.
 */
#define _GNU_SOURCE /* nftw, FTW_PHYS, statfs */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "enrol.h"
#include "util/encoding.h"

/* Filesystem magic numbers (linux/magic.h) of the filesystems worth naming. */
#define FS_TMPFS   0x01021994L
#define FS_RAMFS   0x858458f6L
#define FS_EXT4    0xEF53L
#define FS_XFS     0x58465342L
#define FS_BTRFS   0x9123683EL
#define FS_OVERLAY 0x794c7630L
#define FS_NFS     0x6969L
#define FS_ZFS     0x2fc12fc1L

uint64_t
bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
bench_cpu_ns(pid_t pid)
{
    char path[64], buf[1024];
    uint64_t ut = 0, st = 0;
    size_t len;
    long tck = sysconf(_SC_CLK_TCK);
    struct timespec ts;
    const char *p;
    ssize_t n;
    int fd, field;

    if (pid == 0) {
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    /* /proc/PID/stat: fields 14 and 15 are utime and stime in clock ticks; field 2
     * (the command) is in parentheses and may hold spaces, so count after the last ')'. */
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0 || tck <= 0) {
        return 0;
    }
    buf[n] = '\0';
    p = strrchr(buf, ')');
    /* After k spaces past ')' we stand before field 2 + k: twelve to reach utime. */
    for (field = 2; p != NULL && field < 14; field++) {
        p = strchr(p + 1, ' ');
    }
    if (p == NULL) {
        return 0;
    }
    p++;
    len = strspn(p, "0123456789");
    if (m2msec_parse_u64(p, len, UINT64_MAX, &ut) == -1 || p[len] != ' ') {
        return 0;
    }
    p += len + 1;
    len = strspn(p, "0123456789");
    if (m2msec_parse_u64(p, len, UINT64_MAX, &st) == -1) {
        return 0;
    }
    return (ut + st) * (1000000000u / (uint64_t)tck);
}

pid_t
bench_spawn(const char *const argv[], int out_fd, int err_fd, struct m2msec_error *err)
{
    /* execv wants char *const[]: copy the pointers (not the strings) before fork. */
    char *v[BENCH_ARGV_MAX + 1];
    size_t n = 0;
    pid_t pid;

    while (argv[n] != NULL) {
        if (n == BENCH_ARGV_MAX) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "too many arguments for %s",
                              argv[0]);
            return -1;
        }
        memcpy(&v[n], &argv[n], sizeof(v[n]));
        n++;
    }
    v[n] = NULL;
    pid = fork();
    if (pid < 0) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "fork for %s", argv[0]);
        return -1;
    }
    if (pid == 0) {
        if ((out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0) ||
            (err_fd >= 0 && dup2(err_fd, STDERR_FILENO) < 0)) {
            _exit(126);
        }
        execv(v[0], v);
        /* Only async-signal-safe calls between fork and exec. */
        if (write(STDERR_FILENO, "bench-enrol: exec failed\n", 25) < 0) {
            _exit(127);
        }
        _exit(127);
    }
    return pid;
}

int
bench_wait(pid_t pid, unsigned timeout_ms, int *status)
{
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
    const struct timespec slice = { 0, 10 * 1000 * 1000 };

    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);

        if (r == pid) {
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        if (bench_now_ns() >= deadline) {
            return -1;
        }
        nanosleep(&slice, NULL);
    }
}

int
bench_run_cmd(const char *const argv[], const char *log_path, struct m2msec_error *err)
{
    int fd = -1, status = 0, rv = -1;
    pid_t pid;

    fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "%s", log_path);
        goto out;
    }
    pid = bench_spawn(argv, fd, fd, err);
    if (pid < 0) {
        goto out;
    }
    if (bench_wait(pid, 60000, &status) == -1) {
        m2msec_error_setx(err, M2MSEC_ERR_TIMEOUT, "%s %s did not finish within 60 s", argv[0],
                          argv[1]);
        kill(pid, SIGKILL);
        (void)bench_wait(pid, 5000, &status);
        goto out;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_IO, "%s %s: exit status %d (output in %s)", argv[0],
                          argv[1], WIFEXITED(status) ? WEXITSTATUS(status) : -1, log_path);
        goto out;
    }
    rv = 0;
out:
    if (fd >= 0) {
        close(fd);
    }
    return rv;
}

void
bench_dump_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024];

    if (f == NULL) {
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        fprintf(stderr, "  | %s", line);
        if (strchr(line, '\n') == NULL) {
            fputc('\n', stderr);
        }
    }
    fclose(f);
}

static int
rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP) {
        return rmdir(path) == 0 ? 0 : -1;
    }
    return unlink(path) == 0 ? 0 : -1;
}

int
bench_rm_tree(const char *dir)
{
    return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void
bench_fs_kind(const char *path, char *name, size_t namesz, const char **kind)
{
    static const struct {
        long magic;
        const char *name;
        const char *kind;
    } fs[] = {
        { FS_TMPFS, "tmpfs", "tmpfs" },
        { FS_RAMFS, "ramfs", "tmpfs" },
        { FS_EXT4, "ext2/3/4", "disk" },
        { FS_XFS, "xfs", "disk" },
        { FS_BTRFS, "btrfs", "disk" },
        { FS_ZFS, "zfs", "disk" },
        { FS_OVERLAY, "overlayfs", "disk (overlay)" },
        { FS_NFS, "nfs", "network" },
    };
    struct statfs sf;
    size_t i;

    *kind = "unknown";
    snprintf(name, namesz, "?");
    if (statfs(path, &sf) != 0) {
        return;
    }
    snprintf(name, namesz, "fs magic 0x%lx", (long)sf.f_type);
    *kind = "other";
    for (i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
        if ((long)sf.f_type == fs[i].magic) {
            snprintf(name, namesz, "%s", fs[i].name);
            *kind = fs[i].kind;
            return;
        }
    }
}

int
bench_write_file(const char *path, const char *data, size_t len, struct m2msec_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    size_t off = 0;
    int rv = -1;

    if (fd < 0) {
        return m2msec_error_set(err, M2MSEC_ERR_IO, "%s", path);
    }
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            m2msec_error_set(err, M2MSEC_ERR_IO, "write %s", path);
            goto out;
        }
        off += (size_t)w;
    }
    rv = 0;
out:
    close(fd);
    return rv;
}
