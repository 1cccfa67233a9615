/*
 * The client address that per-client limits are keyed on (DESIGN.md, "Keys"): the peer
 * address, or, when the peer is a trusted proxy, the rightmost X-Forwarded-For address that is
 * not itself trusted. A header from an untrusted peer is never believed.
 */
#ifndef SLUICE_GW_CLIENTIP_H
#define SLUICE_GW_CLIENTIP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "cfg_config.h"

/* Writes the dotted-quad text of an IPv4 address (network byte order, as in struct in_addr)
 * and a NUL into out (at least 16 bytes). What inet_ntop gives, without its sprintf per octet:
 * this runs once per request. */
void gw_ipv4_text(const uint8_t addr[4], char out[16]);

/* Writes the text of a peer address into out (INET6_ADDRSTRLEN bytes): an IPv4 or IPv6 address,
 * "unix" for a unix-socket peer, "unknown" when len is 0 or the family is another. */
void gw_sockaddr_text(const struct sockaddr *sa, socklen_t len, char *out);

/* 1 if the textual IPv4/IPv6 address `ip` (NUL-terminated) lies in one of the CIDRs. */
int gw_ip_in_cidrs(const char *ip, const cfg_cidr_t *cidrs, size_t num_cidrs);

/* Writes the client address into out (size out_size, NUL-terminated) from the peer address and
 * the X-Forwarded-For value (xff may be NULL). Malformed XFF entries stop the walk: the last
 * trusted hop is the client then. */
void gw_client_ip(const char *peer, const char *xff, size_t xff_len, const cfg_cidr_t *trusted, size_t num_trusted, char *out,
                  size_t out_size);

#endif
