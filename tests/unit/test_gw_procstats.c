/* The process_* figures (gateway/gw_procstats.c): /proc/PID/stat and /proc/stat parsing, and a
 * read of this very process checked against what the kernel says elsewhere. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "gw_procstats.h"

/* proc(5): pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
 * utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss ... */
static const char stat_line[] = "4242 (sl uice) R 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 -3 7 20 0 1 0 12345 9396224 1087 "
                                "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

static void test_parse_stat(void)
{
    gw_procstats_units_t units = {100, 4096, 1700000000};
    gw_procstats_t s;
    memset(&s, 0xff, sizeof(s));
    CHECK(gw_procstats_parse_stat(stat_line, sizeof(stat_line) - 1, &units, &s) == 0);
    CHECK(s.cpu_seconds > 2.999 && s.cpu_seconds < 3.001); /* (250 + 50) ticks at 100 Hz */
    CHECK(s.start_time_seconds > 1700000123.449 && s.start_time_seconds < 1700000123.451);
    CHECK_EQ_U64(s.virtual_bytes, 9396224);
    CHECK_EQ_U64(s.resident_bytes, 1087 * 4096);
    CHECK_EQ_U64(s.open_fds, UINT64_MAX); /* left alone */
    CHECK_EQ_U64(s.max_fds, UINT64_MAX);

    /* a command name holding ") " and digits: fields count from its last ')' */
    static const char tricky[] = "7 (a) 1 2 (b)) S 1 7 7 0 -1 0 0 0 0 0 10 20 0 0 20 0 1 0 500 4096 3 0 0";
    CHECK(gw_procstats_parse_stat(tricky, sizeof(tricky) - 1, &units, &s) == 0);
    CHECK(s.cpu_seconds > 0.299 && s.cpu_seconds < 0.301);
    CHECK(s.start_time_seconds > 1700000004.999 && s.start_time_seconds < 1700000005.001);
    CHECK_EQ_U64(s.virtual_bytes, 4096);
    CHECK_EQ_U64(s.resident_bytes, 3 * 4096);
}

static void test_parse_stat_refuses_what_is_not_one(void)
{
    gw_procstats_units_t units = {100, 4096, 0};
    gw_procstats_t s = {.cpu_seconds = 9, .resident_bytes = 9};
    static const char *const bad[] = {"", "4242 sluice R 1", "4242 (sluice)", "4242 (sluice) R 1 2 3",
                                      /* cut before rss */
                                      "1 (x) R 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 4096",
                                      /* utime not a number */
                                      "1 (x) R 1 1 1 0 -1 0 0 0 0 0 x 1 0 0 20 0 1 0 5 4096 3"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i)
        CHECK(gw_procstats_parse_stat(bad[i], strlen(bad[i]), &units, &s) == -1);
    CHECK(s.cpu_seconds == 9 && s.resident_bytes == 9);
    /* a length that stops before the line's end is respected */
    CHECK(gw_procstats_parse_stat(stat_line, 60, &units, &s) == -1);
    gw_procstats_units_t no_hz = {0, 4096, 0};
    CHECK(gw_procstats_parse_stat(stat_line, sizeof(stat_line) - 1, &no_hz, &s) == -1);
}

static void test_parse_boot_time(void)
{
    static const char text[] = "cpu  1 2 3\ncpu0 1 2 3\nintr 5 0 0 0\nctxt 99\nbtime 1796185287\nprocesses 5\n";
    uint64_t bt = 0;
    CHECK(gw_procstats_parse_boot_time(text, sizeof(text) - 1, &bt) == 0);
    CHECK_EQ_U64(bt, 1796185287);
    CHECK(gw_procstats_parse_boot_time("btime 42", 8, &bt) == 0); /* one line, no newline */
    CHECK_EQ_U64(bt, 42);
    bt = 7;
    CHECK(gw_procstats_parse_boot_time("ctxt 5\nbtimex 3\n", 16, &bt) == -1);
    CHECK(gw_procstats_parse_boot_time("btime \n", 7, &bt) == -1);
    CHECK(gw_procstats_parse_boot_time("", 0, &bt) == -1);
    CHECK_EQ_U64(bt, 7);
}

/* VmRSS of /proc/self/status, in bytes. */
static uint64_t status_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb * 1024;
}

static void test_read_this_process(void)
{
    gw_procstats_t a, b;
    CHECK(gw_procstats_read(&a) == 0);
    uint64_t rss = status_rss();
    CHECK(a.resident_bytes > rss / 2 && a.resident_bytes < rss * 2);
    CHECK(a.virtual_bytes >= a.resident_bytes);
    double now = (double)time(NULL);
    CHECK(a.start_time_seconds > now - 120 && a.start_time_seconds <= now + 1);
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    CHECK_EQ_U64(a.max_fds, rl.rlim_cur);
    /* three more descriptors are three more */
    int fds[3];
    for (int i = 0; i != 3; ++i)
        fds[i] = open("/dev/null", O_RDONLY);
    CHECK(gw_procstats_read(&b) == 0);
    CHECK_EQ_U64(b.open_fds, a.open_fds + 3);
    for (int i = 0; i != 3; ++i)
        close(fds[i]);
    CHECK(a.open_fds >= 3); /* stdin, stdout, stderr at least */
    /* CPU time grows with work */
    volatile uint64_t x = 0;
    for (clock_t start = clock(); clock() - start < CLOCKS_PER_SEC / 20;)
        ++x;
    CHECK(gw_procstats_read(&b) == 0);
    CHECK(b.cpu_seconds > a.cpu_seconds);
}

int main(void)
{
    test_parse_stat();
    test_parse_stat_refuses_what_is_not_one();
    test_parse_boot_time();
    test_read_this_process();
    return CHECK_SUMMARY();
}
