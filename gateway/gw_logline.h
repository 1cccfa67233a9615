/*
 * Formats one access-log line (JSON) without printf: at 80k requests a second, vfprintf and its
 * floating-point conversion were 7% of sluice's CPU. Pure: no h2o, no clock.
 */
#ifndef SLUICE_GW_LOGLINE_H
#define SLUICE_GW_LOGLINE_H

#include <stddef.h>
#include <stdint.h>

#define GW_LOGLINE_MAX_PATH 2048 /* longer paths are cut to this many bytes */
#define GW_LOGLINE_MAX_METHOD 64
#define GW_LOGLINE_MAX_ID 128   /* request ids longer than this are cut */
#define GW_LOGLINE_MAX_NAME 128 /* route names, decisions, client addresses */
/* Room for the longest line: every escaped byte takes up to 6 characters. */
#define GW_LOGLINE_SIZE (6 * (GW_LOGLINE_MAX_PATH + GW_LOGLINE_MAX_METHOD) + 5 * GW_LOGLINE_MAX_NAME + GW_LOGLINE_MAX_ID + 512)

typedef struct {
    const char *second; /* "YYYY-MM-DDTHH:MM:SS" (UTC), formatted once a second by the caller */
    unsigned millisecond;
    const char *request_id;
    size_t request_id_len;
    const char *route; /* NULL: no route matched */
    const char *method;
    size_t method_len;
    const char *path;
    size_t path_len;
    int status;
    const char *decision;
    uint64_t queue_ns, upstream_ns, total_ns;
    const char *client_ip;
    uint64_t bytes;
    const char *cut; /* why the response was cut short after its head, or NULL (then no "cut" key) */
} gw_logline_t;

/* Writes the line, ending in '\n', to dst (at least GW_LOGLINE_SIZE bytes); returns its length.
 * Durations are printed in ms with 3 decimals, rounded to the nearest microsecond. */
size_t gw_logline_format(char *dst, const gw_logline_t *line);

#endif
