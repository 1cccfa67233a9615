/* Unit tests of client address selection with trusted proxies (gateway/gw_clientip.c). */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
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
    gw_client_ip(peer, xff, xff ? strlen(xff) : 0, trusted, n, out, sizeof(out));
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
    return CHECK_SUMMARY();
}
