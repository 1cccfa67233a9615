/*
 * A growing text buffer for the admin API's documents (/metrics, /limits). Not for the request
 * path: it formats with printf.
 */
#ifndef SLUICE_GW_TEXTBUF_H
#define SLUICE_GW_TEXTBUF_H

#include <stddef.h>

typedef struct st_gw_textbuf_t {
    char *p; /* malloc'd; the caller takes it when done */
    size_t len, cap;
} gw_textbuf_t;

/* An empty buffer with `cap` bytes reserved. */
gw_textbuf_t gw_textbuf_init(size_t cap);
/* Appends formatted text, growing the buffer; out of memory aborts. */
void gw_textbuf_printf(gw_textbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
