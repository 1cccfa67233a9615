#include "gw_clientip.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

static int in_cidr(int family, const uint8_t *addr, const cfg_cidr_t *cidr)
{
    if (family != cidr->family)
        return 0;
    unsigned full = cidr->prefix_len / 8, rest = cidr->prefix_len % 8;
    if (memcmp(addr, cidr->addr, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (addr[full] & mask) == (cidr->addr[full] & mask);
}

/* Parses an address; an IPv4-mapped IPv6 address is treated as the IPv4 one. */
static int parse_ip(const char *ip, int *family, uint8_t addr[16])
{
    if (inet_pton(AF_INET, ip, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, ip, addr) == 1) {
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(addr, v4mapped, 12) == 0) {
            memmove(addr, addr + 12, 4);
            *family = AF_INET;
        } else {
            *family = AF_INET6;
        }
        return 0;
    }
    return -1;
}

int gw_ip_in_cidrs(const char *ip, const cfg_cidr_t *cidrs, size_t num_cidrs)
{
    int family;
    uint8_t addr[16];
    if (num_cidrs == 0 || parse_ip(ip, &family, addr) != 0)
        return 0;
    for (size_t i = 0; i != num_cidrs; ++i)
        if (in_cidr(family, addr, &cidrs[i]))
            return 1;
    return 0;
}

static void copy_out(char *out, size_t out_size, const char *s, size_t len)
{
    if (len >= out_size)
        len = out_size - 1;
    memcpy(out, s, len);
    out[len] = '\0';
}

void gw_client_ip(const char *peer, const char *xff, size_t xff_len, const cfg_cidr_t *trusted, size_t num_trusted, char *out,
                  size_t out_size)
{
    copy_out(out, out_size, peer, strlen(peer));
    if (xff == NULL || !gw_ip_in_cidrs(peer, trusted, num_trusted))
        return;
    /* walk right to left: each hop that is a trusted proxy tells us who talked to it */
    size_t end = xff_len;
    while (end != 0) {
        size_t start = end;
        while (start != 0 && xff[start - 1] != ',')
            --start;
        size_t a = start, b = end;
        while (a < b && (xff[a] == ' ' || xff[a] == '\t'))
            ++a;
        while (b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t'))
            --b;
        char ip[64];
        int family;
        uint8_t addr[16];
        if (b - a == 0 || b - a >= sizeof(ip))
            return;
        memcpy(ip, xff + a, b - a);
        ip[b - a] = '\0';
        if (parse_ip(ip, &family, addr) != 0)
            return;
        copy_out(out, out_size, ip, b - a);
        if (!gw_ip_in_cidrs(ip, trusted, num_trusted))
            return;
        end = start != 0 ? start - 1 : 0;
    }
}

void gw_ipv4_text(const uint8_t addr[4], char out[16])
{
    char *d = out;
    for (int i = 0; i < 4; i++) {
        unsigned v = addr[i];
        if (v >= 100)
            *d++ = (char)('0' + v / 100);
        if (v >= 10)
            *d++ = (char)('0' + v / 10 % 10);
        *d++ = (char)('0' + v % 10);
        *d++ = i < 3 ? '.' : '\0';
    }
}

void gw_sockaddr_text(const struct sockaddr *sa, socklen_t len, char *out)
{
    if (len != 0 && sa->sa_family == AF_INET)
        gw_ipv4_text((const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr, out);
    else if (len == 0 || sa->sa_family != AF_INET6 ||
             inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, INET6_ADDRSTRLEN) == NULL)
        strcpy(out, len != 0 && sa->sa_family == AF_UNIX ? "unix" : "unknown");
}
