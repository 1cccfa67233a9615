/*
 * libh2o-evloop-dev installs h2o/http2_internal.h, which sluice needs for one thing (sending
 * GOAWAY to one abusive HTTP/2 connection: gw_h2guard.c), but not the klib khash.h it includes.
 * This stands in for it: the stream table stays an opaque pointer (the connection's layout does
 * not depend on it), and the one inline helper that would look into it aborts if ever called.
 * Only gw_h2guard.c sees this header.
 */
#ifndef SLUICE_COMPAT_KHASH_H
#define SLUICE_COMPAT_KHASH_H

#include <stdlib.h>

typedef unsigned khiter_t;
#define KHASH_MAP_INIT_INT64(name, khval_t) typedef struct kh_##name##_s kh_##name##_t;
#define khash_t(name) kh_##name##_t
#define kh_get(name, h, key) ((void)(h), (void)(key), abort(), (khiter_t)0)
#define kh_end(h) ((void)(h), (khiter_t)0)
#define kh_val(h, x) ((void)(h), (void)(x), (h2o_http2_stream_t *)NULL)

#endif
