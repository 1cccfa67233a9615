/*
 * picohttpparser, as exported by libh2o-evloop (Debian ships the symbols but not the header).
 * These declarations follow picohttpparser's public, stable ABI.
 */
#ifndef SLUICE_GW_PHR_H
#define SLUICE_GW_PHR_H

#include <stddef.h>
#include <sys/types.h>

struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* Returns the number of bytes of the response head, -1 on a parse error, -2 if incomplete. */
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status, const char **msg, size_t *msg_len,
                       struct phr_header *headers, size_t *num_headers, size_t last_len);

struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char _hex_count;
    char _state;
};

/* Decodes chunked data in place: *bufsz in = bytes given, out = decoded bytes now at buf.
 * Returns -2 when more is needed, -1 on error, else the number of undecoded bytes left after the
 * terminating chunk (they follow the decoded bytes). */
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

#endif
