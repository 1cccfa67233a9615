/* Unit tests of client address selection with trusted proxies (gateway/gw_clientip.c). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "cfg_units.h"
#include "check.h"
#include "gw_clientip.h"

static cfg_cidr_t cidr(const char *net, unsigned prefix)
{
    cfg_cidr_t c = {0};
    c.family = strchr(net, ':') ? AF_INET6 : AF_INET;
    inet_pton(c.family, net, c.addr);
    c.prefix_len = prefix;
    return c;
}

static const char *client(const char *peer, const char *xff, const cfg_cidr_t *trusted, size_t n)
{
    static char out[64];
    /* the header in a buffer of exactly its length: a sanitizer build sees a read past it */
    size_t len = xff ? strlen(xff) : 0;
    char *copy = xff ? malloc(len ? len : 1) : NULL;
    if (xff != NULL)
        memcpy(copy, xff, len);
    gw_client_ip(peer, copy, len, trusted, n, out, sizeof(out));
    free(copy);
    return out;
}

static void test_ipv4_text_is_inet_ntop(void)
{
    static const uint8_t samples[][4] = {{0, 0, 0, 0}, {127, 0, 0, 1}, {10, 9, 99, 100}, {255, 255, 255, 255}, {1, 20, 200, 7}};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char got[16], want[INET_ADDRSTRLEN];
        gw_ipv4_text(samples[i], got);
        inet_ntop(AF_INET, samples[i], want, sizeof(want));
        CHECK_STR(got, want);
    }
    for (unsigned v = 0; v < 256; v++) { /* every octet value, in every position */
        uint8_t addr[4] = {(uint8_t)v, (uint8_t)(255 - v), (uint8_t)(v / 2), (uint8_t)(v * 7)};
        char got[16], want[INET_ADDRSTRLEN];
        gw_ipv4_text(addr, got);
        inet_ntop(AF_INET, addr, want, sizeof(want));
        CHECK_STR(got, want);
    }
}

/* Every prefix length, on both sides of its boundary: flipping any bit inside the prefix leaves
 * the network, flipping a host bit does not (a /20 must not behave as a /19 or a /21). */
static void test_every_prefix_length(void)
{
    static const uint8_t base4[4] = {172, 29, 200, 77};
    static const uint8_t base6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78,
                                      0x9a, 0xbc, 0xde, 0xf0, 0x0f, 0x1e, 0x2d, 0x3c};
    for (int v6 = 0; v6 != 2; ++v6) {
        int family = v6 ? AF_INET6 : AF_INET;
        unsigned bits = v6 ? 128 : 32;
        const uint8_t *base = v6 ? base6 : base4;
        for (unsigned prefix = 0; prefix <= bits; ++prefix) {
            char net[INET6_ADDRSTRLEN], text[80];
            inet_ntop(family, base, net, sizeof(net));
            snprintf(text, sizeof(text), "%s/%u", net, prefix);
            cfg_cidr_t c;
            const char *why;
            CHECK(cfg_parse_cidr(text, &c, &why) == 0);
            CHECK(gw_ip_in_cidrs(net, &c, 1));
            for (unsigned bit = 0; bit != bits; ++bit) {
                uint8_t addr[16];
                memcpy(addr, base, bits / 8);
                addr[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
                char ip[INET6_ADDRSTRLEN];
                inet_ntop(family, addr, ip, sizeof(ip));
                int inside = bit >= prefix;
                if (gw_ip_in_cidrs(ip, &c, 1) != inside) {
                    fprintf(stderr, "%s in %s: expected %d\n", ip, text, inside);
                    CHECK(0);
                }
            }
        }
    }
    /* an IPv4 address never matches an IPv6 network and the reverse, even ::/0 and 0.0.0.0/0 */
    cfg_cidr_t any4 = cidr("0.0.0.0", 0), any6 = cidr("::", 0);
    CHECK(gw_ip_in_cidrs("1.2.3.4", &any4, 1));
    CHECK(!gw_ip_in_cidrs("1.2.3.4", &any6, 1));
    CHECK(gw_ip_in_cidrs("2001:db8::1", &any6, 1));
    CHECK(!gw_ip_in_cidrs("2001:db8::1", &any4, 1));
}

/* Only ::ffff:a.b.c.d is an IPv4 address in IPv6 clothing; its neighbours are IPv6 addresses. */
static void test_v4_mapped_only(void)
{
    cfg_cidr_t net10 = cidr("10.0.0.0", 8), mapped6 = cidr("::ff00:0:0", 96), compat6 = cidr("::", 96);
    CHECK(gw_ip_in_cidrs("::ffff:10.1.2.3", &net10, 1));
    CHECK(!gw_ip_in_cidrs("::ff00:a01:203", &net10, 1));
    CHECK(gw_ip_in_cidrs("::ff00:a01:203", &mapped6, 1));
    CHECK(!gw_ip_in_cidrs("::a01:203", &net10, 1));
    CHECK(gw_ip_in_cidrs("::a01:203", &compat6, 1));
    CHECK(!gw_ip_in_cidrs("1::ffff:10.1.2.3", &net10, 1));
    /* the mapped address's own octets decide, all four of them */
    cfg_cidr_t host = cidr("10.1.2.3", 32);
    CHECK(gw_ip_in_cidrs("::ffff:10.1.2.3", &host, 1));
    CHECK(!gw_ip_in_cidrs("::ffff:10.1.2.4", &host, 1));
    CHECK(!gw_ip_in_cidrs("::ffff:11.1.2.3", &host, 1));
    /* and the client chosen for a mapped peer is written as the peer sent it */
    cfg_cidr_t trusted = cidr("10.0.0.0", 8);
    CHECK_STR(client("::ffff:10.0.0.9", "1.2.3.4", &trusted, 1), "1.2.3.4");
    CHECK_STR(client("::ffff:11.0.0.9", "1.2.3.4", &trusted, 1), "::ffff:11.0.0.9");
}

/* X-Forwarded-For as proxies really write it: blanks (spaces, tabs) on either side of each
 * element and of each comma, IPv6 hops, several header lines joined with ", ". */
static void test_xff_blanks_and_hops(void)
{
    cfg_cidr_t trusted[] = {cidr("10.0.0.0", 8), cidr("fd00::", 8)};
    size_t n = 2;
    CHECK_STR(client("10.0.0.1", "1.2.3.4 , 10.0.0.7", trusted, n), "1.2.3.4");
    CHECK_STR(client("10.0.0.1", "1.2.3.4\t,\t10.0.0.7\t", trusted, n), "1.2.3.4");
    CHECK_STR(client("10.0.0.1", "  1.2.3.4  ", trusted, n), "1.2.3.4");
    CHECK_STR(client("10.0.0.1", "5.6.7.8 ,1.2.3.4 ", trusted, n), "1.2.3.4");
    CHECK_STR(client("10.0.0.1", "2001:db8::7, fd00::1", trusted, n), "2001:db8::7");
    CHECK_STR(client("fd00::2", "9.9.9.9,10.1.1.1 ,fd00::1", trusted, n), "9.9.9.9");
    /* an empty element or a blank one stops the walk at the last trusted hop */
    CHECK_STR(client("10.0.0.1", "1.2.3.4,,10.0.0.7", trusted, n), "10.0.0.7");
    CHECK_STR(client("10.0.0.1", "1.2.3.4, \t ,10.0.0.7", trusted, n), "10.0.0.7");
    CHECK_STR(client("10.0.0.1", "1.2.3.4,", trusted, n), "10.0.0.1");
    CHECK_STR(client("10.0.0.1", ",1.2.3.4", trusted, n), "1.2.3.4");
    CHECK_STR(client("10.0.0.1", ",10.0.0.8", trusted, n), "10.0.0.8");
    /* an element too long to be an address (64 bytes and more) stops it too */
    char xff[200];
    snprintf(xff, sizeof(xff), "1.2.3.4, %064d", 7);
    CHECK_STR(client("10.0.0.1", xff, trusted, n), "10.0.0.1");
    snprintf(xff, sizeof(xff), "1.2.3.4,%0100d", 7);
    CHECK_STR(client("10.0.0.1", xff, trusted, n), "10.0.0.1");
    snprintf(xff, sizeof(xff), "1.2.3.4,  ");
    CHECK_STR(client("10.0.0.1", xff, trusted, n), "10.0.0.1");
    snprintf(xff, sizeof(xff), "1.2.3.4,%46s10.0.0.7", "");
    CHECK_STR(client("10.0.0.1", xff, trusted, n), "1.2.3.4");
    /* only xff_len bytes are read */
    const char *header = "1.2.3.4, 10.0.0.7, 5.5.5.5";
    char out[64];
    gw_client_ip("10.0.0.1", header, 17, trusted, n, out, sizeof(out)); /* "1.2.3.4, 10.0.0.7" */
    CHECK_STR(out, "1.2.3.4");
    gw_client_ip("10.0.0.1", header, 16, trusted, n, out, sizeof(out)); /* ends in "10.0.0." */
    CHECK_STR(out, "10.0.0.1");
    gw_client_ip("10.0.0.1", header, 18, trusted, n, out, sizeof(out)); /* ends in an empty element */
    CHECK_STR(out, "10.0.0.1");
}

/* The answer always fits `out`, NUL included, however long the peer text (an exactly sized
 * buffer: a sanitizer build sees a write past it). */
static void test_output_is_bounded(void)
{
    cfg_cidr_t trusted = cidr("10.0.0.0", 8);
    const char *peer = "2001:db8:1234:5678:9abc:def0:1234:5678";
    size_t len = strlen(peer);
    for (size_t size = 1; size <= len + 1; ++size) {
        char *out = malloc(size);
        gw_client_ip(peer, NULL, 0, &trusted, 1, out, size);
        CHECK_EQ_U64(strlen(out), size - 1);
        CHECK(strncmp(out, peer, size - 1) == 0);
        free(out);
    }
    char *out = malloc(8);
    gw_client_ip("10.0.0.1", "203.0.113.77", 12, &trusted, 1, out, 8);
    CHECK_STR(out, "203.0.1");
    free(out);
    /* an element far into the header, into a roomy buffer: exactly the address is copied */
    char xff[100], big[256];
    snprintf(xff, sizeof(xff), "%80s203.0.113.77", "");
    gw_client_ip("10.0.0.1", xff, strlen(xff), &trusted, 1, big, sizeof(big));
    CHECK_STR(big, "203.0.113.77");
}

int main(void)
{
    test_ipv4_text_is_inet_ntop();
    cfg_cidr_t trusted[] = {cidr("10.0.0.0", 8), cidr("192.168.1.0", 24), cidr("fd00::", 8)};
    size_t n = sizeof(trusted) / sizeof(trusted[0]);

    CHECK(gw_ip_in_cidrs("10.1.2.3", trusted, n));
    CHECK(gw_ip_in_cidrs("192.168.1.77", trusted, n));
    CHECK(!gw_ip_in_cidrs("192.168.2.1", trusted, n));
    CHECK(gw_ip_in_cidrs("fd12::1", trusted, n));
    CHECK(!gw_ip_in_cidrs("fe80::1", trusted, n));
    CHECK(gw_ip_in_cidrs("::ffff:10.9.9.9", trusted, n));
    CHECK(!gw_ip_in_cidrs("not-an-ip", trusted, n));
    CHECK(!gw_ip_in_cidrs("10.1.2.3", trusted, 0));

    /* an untrusted peer's header is ignored: spoofing changes nothing */
    CHECK_STR(client("203.0.113.9", "1.2.3.4", trusted, n), "203.0.113.9");
    /* a trusted peer: the rightmost untrusted hop is the client */
    CHECK_STR(client("10.0.0.1", "1.2.3.4", trusted, n), "1.2.3.4");
    CHECK_STR(client("10.0.0.1", "6.6.6.6, 1.2.3.4, 192.168.1.5", trusted, n), "1.2.3.4");
    /* a client-supplied leftmost entry cannot override what the trusted chain saw */
    CHECK_STR(client("10.0.0.1", "127.0.0.1,5.6.7.8", trusted, n), "5.6.7.8");
    /* every hop trusted: the leftmost one */
    CHECK_STR(client("10.0.0.1", "10.0.0.7, 192.168.1.5", trusted, n), "10.0.0.7");
    /* garbage stops the walk at the last trusted hop */
    CHECK_STR(client("10.0.0.1", "1.2.3.4, garbage", trusted, n), "10.0.0.1");
    CHECK_STR(client("10.0.0.1", "", trusted, n), "10.0.0.1");
    CHECK_STR(client("10.0.0.1", NULL, trusted, n), "10.0.0.1");
    test_every_prefix_length();
    test_v4_mapped_only();
    test_xff_blanks_and_hops();
    test_output_is_bounded();
    return CHECK_SUMMARY();
}
