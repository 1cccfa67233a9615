#include "gw_procstats.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The next space-separated field of [*p, end) as an unsigned integer; -1 when there is none. */
static int next_u64(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p;
    while (s != end && *s == ' ')
        ++s;
    if (s == end || *s < '0' || *s > '9')
        return -1;
    uint64_t n = 0;
    for (; s != end && *s >= '0' && *s <= '9'; ++s)
        n = n * 10 + (uint64_t)(*s - '0');
    *p = s;
    *v = n;
    return 0;
}

/* Skips one space-separated field of any content; -1 when there is none. */
static int skip_field(const char **p, const char *end)
{
    const char *s = *p;
    while (s != end && *s == ' ')
        ++s;
    if (s == end)
        return -1;
    while (s != end && *s != ' ')
        ++s;
    *p = s;
    return 0;
}

int gw_procstats_parse_stat(const char *text, size_t len, const gw_procstats_units_t *units, gw_procstats_t *out)
{
    const char *end = text + len, *p = NULL;
    for (const char *s = text; s != end; ++s)
        if (*s == ')')
            p = s + 1;
    if (p == NULL || units->ticks_per_second == 0)
        return -1;
    /* fields from 3 (state) on, numbered as proc(5) does */
    uint64_t utime, stime, starttime, vsize, rss;
    int field = 3;
    if (skip_field(&p, end) != 0) /* state: a letter */
        return -1;
    for (++field; field != 14; ++field)
        if (skip_field(&p, end) != 0)
            return -1;
    if (next_u64(&p, end, &utime) != 0 || next_u64(&p, end, &stime) != 0)
        return -1;
    for (field = 16; field != 22; ++field)
        if (skip_field(&p, end) != 0) /* cutime .. itrealvalue: some may be negative */
            return -1;
    if (next_u64(&p, end, &starttime) != 0 || next_u64(&p, end, &vsize) != 0 || next_u64(&p, end, &rss) != 0)
        return -1;
    double hz = (double)units->ticks_per_second;
    out->cpu_seconds = (double)(utime + stime) / hz;
    out->start_time_seconds = (double)units->boot_time + (double)starttime / hz;
    out->virtual_bytes = vsize;
    out->resident_bytes = rss * units->page_size;
    return 0;
}

int gw_procstats_parse_boot_time(const char *text, size_t len, uint64_t *boot_time)
{
    static const char key[] = "btime ";
    const char *end = text + len;
    for (const char *line = text; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *line_end = nl != NULL ? nl : end;
        if ((size_t)(line_end - line) > sizeof(key) - 1 && memcmp(line, key, sizeof(key) - 1) == 0) {
            const char *p = line + sizeof(key) - 1;
            return next_u64(&p, line_end, boot_time);
        }
        line = line_end + 1;
    }
    return -1;
}

/* The whole of a small /proc file into buf (NUL-terminated); its length, or -1. */
static ssize_t read_small_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0) {
            close(fd);
            if (n < 0)
                return -1;
            break;
        }
        len += (size_t)n;
        if (len == cap - 1) {
            close(fd);
            break;
        }
    }
    buf[len] = '\0';
    return (ssize_t)len;
}

/* The entries of /proc/self/fd, less the one this listing holds open. */
static uint64_t count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 0;
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            ++n;
    closedir(d);
    return n != 0 ? n - 1 : 0;
}

/* btime of /proc/stat, read line by line: the `intr` line before it can be many KiB long. */
static uint64_t read_boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    if (f == NULL)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t boot_time = 0;
    while ((len = getline(&line, &cap, f)) > 0)
        if (gw_procstats_parse_boot_time(line, (size_t)len, &boot_time) == 0)
            break;
    free(line);
    fclose(f);
    return boot_time;
}

int gw_procstats_read(gw_procstats_t *out)
{
    memset(out, 0, sizeof(*out));
    gw_procstats_units_t units = {(uint64_t)sysconf(_SC_CLK_TCK), (uint64_t)sysconf(_SC_PAGESIZE), read_boot_time()};
    char stat[1024];
    ssize_t len = read_small_file("/proc/self/stat", stat, sizeof(stat));
    if (len <= 0 || gw_procstats_parse_stat(stat, (size_t)len, &units, out) != 0) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    out->open_fds = count_open_fds();
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        out->max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    return 0;
}
