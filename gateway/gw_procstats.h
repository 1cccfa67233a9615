/*
 * The process's own figures for the standard Prometheus `process_*` metrics (memory, CPU, file
 * descriptors, start time), read from /proc/self when /metrics is scraped: nothing is counted
 * on the request path. Linux only, as sluice is.
 */
#ifndef SLUICE_GW_PROCSTATS_H
#define SLUICE_GW_PROCSTATS_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_gw_procstats_t {
    double cpu_seconds;        /* user + system */
    uint64_t resident_bytes;   /* RSS now */
    uint64_t virtual_bytes;    /* the address space's size */
    double start_time_seconds; /* since the Unix epoch */
    uint64_t open_fds;
    uint64_t max_fds; /* the soft RLIMIT_NOFILE */
} gw_procstats_t;

/* The system's constants that turn /proc/self/stat's units into bytes and seconds. */
typedef struct st_gw_procstats_units_t {
    uint64_t ticks_per_second; /* sysconf(_SC_CLK_TCK) */
    uint64_t page_size;
    uint64_t boot_time; /* the `btime` line of /proc/stat: seconds since the epoch */
} gw_procstats_units_t;

/* Reads the fields of a /proc/PID/stat line (`text`, `len` bytes, not necessarily NUL-terminated)
 * into cpu_seconds, resident_bytes, virtual_bytes and start_time_seconds of *out (the other
 * fields are left alone). The command name may hold spaces and parentheses: fields are counted
 * from its last ')'. 0, or -1 when the line is not one (*out is then untouched). */
int gw_procstats_parse_stat(const char *text, size_t len, const gw_procstats_units_t *units, gw_procstats_t *out);

/* Reads the `btime` value of /proc/stat text; 0, or -1 when there is none. */
int gw_procstats_parse_boot_time(const char *text, size_t len, uint64_t *boot_time);

/* Fills *out for this process (/proc/self/stat, /proc/stat, /proc/self/fd, getrlimit); 0, or
 * -1 when /proc cannot be read (*out is then zeroed). */
int gw_procstats_read(gw_procstats_t *out);

#endif
