/* The value syntaxes of the policy language (lua-free-config/cfg_units.c), called directly: every
 * boundary on both sides, the exact -1 and message of each refusal, and fields a parser must
 * set whatever the struct held before. The loader's use of them is in test_config.c. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "cfg_units.h"
#include "check.h"

/* A heap copy of exactly strlen(s) + 1 bytes: a sanitizer build sees any read past the end. */
static char *exact(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    memcpy(p, s, n);
    return p;
}

/* Fills the stack below the caller with junk, so that a parser reading a buffer it forgot to
 * terminate reads junk rather than the zeros of a fresh stack. */
static void __attribute__((noinline)) dirty_stack(void)
{
    volatile char junk[8192];
    for (size_t i = 0; i != sizeof(junk); ++i)
        junk[i] = 'x';
}

#define CHECK_FAILS(call, message)                                                                                                 \
    do {                                                                                                                           \
        const char *why = NULL;                                                                                                    \
        CHECK_EQ_U64((call), (uint64_t)-1);                                                                                        \
        CHECK_STR(why, message);                                                                                                   \
    } while (0)

static void test_uint(void)
{
    uint64_t v = 7;
    const char *why = NULL;
    CHECK_EQ_U64(cfg_parse_uint("0", 10, &v, &why), 0);
    CHECK_EQ_U64(v, 0);
    CHECK_EQ_U64(cfg_parse_uint("18446744073709551615", UINT64_MAX, &v, &why), 0);
    CHECK_EQ_U64(v, UINT64_MAX);
    CHECK_EQ_U64(cfg_parse_uint("1844674407370955161", UINT64_MAX, &v, &why), 0);
    CHECK_EQ_U64(v, 1844674407370955161ull);
    CHECK_EQ_U64(cfg_parse_uint("18446744073709551614", UINT64_MAX, &v, &why), 0);
    CHECK_EQ_U64(v, UINT64_MAX - 1);
    CHECK_EQ_U64(cfg_parse_uint("65535", 65535, &v, &why), 0);
    CHECK_EQ_U64(v, 65535);
    static const char *const not_numbers[] = {"",
                                              "-1",
                                              "+1",
                                              " 1",
                                              "1 ",
                                              "12a",
                                              "0x10",
                                              "18446744073709551616",
                                              "18446744073709551619",
                                              "18446744073709551620",
                                              "99999999999999999999",
                                              "184467440737095516150"};
    for (size_t i = 0; i != sizeof(not_numbers) / sizeof(not_numbers[0]); ++i)
        CHECK_FAILS(cfg_parse_uint(not_numbers[i], UINT64_MAX, &v, &why), "expected a non-negative integer");
    CHECK_FAILS(cfg_parse_uint("65536", 65535, &v, &why), "integer out of range");
    CHECK_FAILS(cfg_parse_uint("1", 0, &v, &why), "integer out of range");
}

static void test_durations_and_sizes(void)
{
    uint64_t v;
    const char *why;
    static const struct {
        const char *text;
        uint64_t value;
    } good[] = {{"0ms", 0},
                {"1ms", 1},
                {"250ms", 250},
                {"5s", 5000},
                {"2m", 120000},
                {"1h", 3600000},
                /* the largest of each unit: a million times below UINT64_MAX, so ms convert to ns */
                {"18446744073709ms", 18446744073709ull},
                {"18446744073s", 18446744073000ull},
                {"307445734m", 307445734ull * 60000},
                {"5124095h", 5124095ull * 3600000}};
    for (size_t i = 0; i != sizeof(good) / sizeof(good[0]); ++i) {
        v = 1;
        CHECK_EQ_U64(cfg_parse_duration(good[i].text, &v, &why), 0);
        CHECK_EQ_U64(v, good[i].value);
    }
    static const char *const too_long[] = {"18446744073710ms", "18446744074s", "307445735m", "5124096h", "99999999999999999h"};
    for (size_t i = 0; i != sizeof(too_long) / sizeof(too_long[0]); ++i)
        CHECK_FAILS(cfg_parse_duration(too_long[i], &v, &why), "duration too large");
    static const char *const not_durations[] = {"", "ms", "5", "5 s", "5S", "5sec", "1d", "-1s", "1.5s"};
    for (size_t i = 0; i != sizeof(not_durations) / sizeof(not_durations[0]); ++i)
        CHECK_FAILS(cfg_parse_duration(not_durations[i], &v, &why),
                    "expected a duration: an integer and a unit (ms, s, m, h), e.g. 250ms or 5s");

    static const struct {
        const char *text;
        uint64_t value;
    } sizes[] = {{"0", 0},
                 {"7", 7},
                 {"7B", 7},
                 {"2KiB", 2048},
                 {"3MiB", 3 << 20},
                 {"4GiB", 4ull << 30},
                 /* the largest of each unit: 1024 times below UINT64_MAX */
                 {"18014398509481983", 18014398509481983ull},
                 {"18014398509481983B", 18014398509481983ull},
                 {"17592186044415KiB", 17592186044415ull << 10},
                 {"17179869183MiB", 17179869183ull << 20},
                 {"16777215GiB", 16777215ull << 30}};
    for (size_t i = 0; i != sizeof(sizes) / sizeof(sizes[0]); ++i) {
        v = 1;
        CHECK_EQ_U64(cfg_parse_size(sizes[i].text, &v, &why), 0);
        CHECK_EQ_U64(v, sizes[i].value);
    }
    static const char *const too_big[] = {"18014398509481984", "18014398509481984B", "17592186044416KiB", "17179869184MiB",
                                          "16777216GiB"};
    for (size_t i = 0; i != sizeof(too_big) / sizeof(too_big[0]); ++i)
        CHECK_FAILS(cfg_parse_size(too_big[i], &v, &why), "size too large");
    static const char *const not_sizes[] = {"", "KiB", "1 KiB", "1kib", "1KB", "1.5MiB", "1TiB"};
    for (size_t i = 0; i != sizeof(not_sizes) / sizeof(not_sizes[0]); ++i)
        CHECK_FAILS(cfg_parse_size(not_sizes[i], &v, &why),
                    "expected a size: an integer and a unit (B, KiB, MiB, GiB), e.g. 512KiB or 10MiB");
}

static void test_rates(void)
{
    uint64_t count = 0, period = 0;
    const char *why;
    CHECK_EQ_U64(cfg_parse_rate("100/s", &count, &period, &why), 0);
    CHECK_EQ_U64(count, 100);
    CHECK_EQ_U64(period, 1000);
    CHECK_EQ_U64(cfg_parse_rate("1/m", &count, &period, &why), 0);
    CHECK_EQ_U64(count, 1);
    CHECK_EQ_U64(period, 60000);
    CHECK_EQ_U64(cfg_parse_rate("1000000000/h", &count, &period, &why), 0);
    CHECK_EQ_U64(count, 1000000000);
    CHECK_EQ_U64(period, 3600000);
    static const char *const not_rates[] = {"", "/s", "5", "5/", "5//", "5/d", "5/ss", "5/S", "5 /s", "1.5/s", "x/s"};
    for (size_t i = 0; i != sizeof(not_rates) / sizeof(not_rates[0]); ++i) {
        char *s = exact(not_rates[i]);
        CHECK_FAILS(cfg_parse_rate(s, &count, &period, &why), "expected a rate: COUNT/s, COUNT/m or COUNT/h, e.g. 100/s");
        free(s);
    }
    CHECK_FAILS(cfg_parse_rate("0/s", &count, &period, &why), "rate count must be between 1 and 1000000000");
    CHECK_FAILS(cfg_parse_rate("1000000001/s", &count, &period, &why), "rate count must be between 1 and 1000000000");
}

static void test_addresses(void)
{
    const char *why;
    cfg_address_t a;
    memset(&a, 0x55, sizeof(a));
    CHECK_EQ_U64(cfg_parse_address("unix:/run/s.sock", &a, &why), 0);
    CHECK(a.kind == CFG_ADDR_UNIX);
    CHECK_STR(a.host, "/run/s.sock");
    CHECK_EQ_U64(a.port, 0);
    free(a.host);

    /* a unix socket path holds at most 107 bytes (sun_path is 108 with its NUL) */
    char path[200] = "unix:/";
    memset(path + 6, 'p', 106);
    path[112] = '\0';
    CHECK_EQ_U64(strlen(path + 5), 107);
    CHECK_EQ_U64(cfg_parse_address(path, &a, &why), 0);
    CHECK_EQ_U64(strlen(a.host), 107);
    free(a.host);
    path[112] = 'p';
    path[113] = '\0';
    CHECK_FAILS(cfg_parse_address(path, &a, &why), "unix socket path too long (at most 107 bytes)");
    CHECK_FAILS(cfg_parse_address("unix:run/s.sock", &a, &why), "expected unix:/absolute/path");
    CHECK_FAILS(cfg_parse_address("unix:", &a, &why), "expected unix:/absolute/path");
    /* "unix" without its colon is a host name like any other */
    memset(&a, 0x55, sizeof(a));
    CHECK_EQ_U64(cfg_parse_address("unixhost:80", &a, &why), 0);
    CHECK(a.kind == CFG_ADDR_TCP);
    CHECK_STR(a.host, "unixhost");
    CHECK_EQ_U64(a.port, 80);
    free(a.host);

    memset(&a, 0x55, sizeof(a));
    a.kind = CFG_ADDR_UNIX;
    dirty_stack();
    CHECK_EQ_U64(cfg_parse_address("[2001:db8::1]:65535", &a, &why), 0);
    CHECK(a.kind == CFG_ADDR_TCP);
    CHECK_STR(a.host, "2001:db8::1");
    CHECK_EQ_U64(a.port, 65535);
    free(a.host);
    dirty_stack();
    CHECK_EQ_U64(cfg_parse_address("[::ffff:255.255.255.255]:1", &a, &why), 0);
    CHECK_STR(a.host, "::ffff:255.255.255.255");
    CHECK_EQ_U64(a.port, 1);
    free(a.host);
    a.kind = CFG_ADDR_UNIX;
    CHECK_EQ_U64(cfg_parse_address("my-host_1.example:8080", &a, &why), 0);
    CHECK(a.kind == CFG_ADDR_TCP);
    CHECK_STR(a.host, "my-host_1.example");
    free(a.host);

    CHECK_FAILS(cfg_parse_address("[::1]80", &a, &why), "expected [IPv6]:port");
    CHECK_FAILS(cfg_parse_address("[::1", &a, &why), "expected [IPv6]:port");
    CHECK_FAILS(cfg_parse_address("[]:80", &a, &why), "bad IPv6 address");
    CHECK_FAILS(cfg_parse_address("[zz]:80", &a, &why), "bad IPv6 address");
    CHECK_FAILS(cfg_parse_address("[1.2.3.4]:80", &a, &why), "bad IPv6 address");
    /* an IPv6 literal of 63 and 64 characters (none is valid): refused without overflowing */
    char v6[100] = "[";
    memset(v6 + 1, '1', 64);
    strcpy(v6 + 65, "]:80");
    CHECK_FAILS(cfg_parse_address(v6, &a, &why), "bad IPv6 address");
    strcpy(v6 + 64, "]:80");
    CHECK_FAILS(cfg_parse_address(v6, &a, &why), "bad IPv6 address");
    CHECK_FAILS(cfg_parse_address("localhost", &a, &why), "expected host:port, [IPv6]:port or unix:/path");
    CHECK_FAILS(cfg_parse_address(":80", &a, &why), "missing host (write 0.0.0.0:PORT or [::]:PORT for every interface)");
    CHECK_FAILS(cfg_parse_address("::1:80", &a, &why), "expected host:port (write IPv6 addresses as [addr]:port)");
    static const char *const bad_hosts[] = {"!host:80", "ho st:80", "host!:80", "h/x:80", "h@x:80"};
    for (size_t i = 0; i != sizeof(bad_hosts) / sizeof(bad_hosts[0]); ++i)
        CHECK_FAILS(cfg_parse_address(bad_hosts[i], &a, &why), "bad host name");
    static const char *const bad_ports[] = {"h:0", "h:65536", "h:", "h:x", "h:-1", "[::1]:0", "[::1]:99999"};
    for (size_t i = 0; i != sizeof(bad_ports) / sizeof(bad_ports[0]); ++i)
        CHECK_FAILS(cfg_parse_address(bad_ports[i], &a, &why), "port must be an integer from 1 to 65535");
}

static void test_cidrs(void)
{
    const char *why;
    cfg_cidr_t c;
    memset(&c, 0x55, sizeof(c));
    CHECK_EQ_U64(cfg_parse_cidr("10.1.2.3", &c, &why), 0);
    CHECK_EQ_U64(c.family, AF_INET);
    CHECK_EQ_U64(c.prefix_len, 32);
    static const uint8_t ten[16] = {10, 1, 2, 3};
    CHECK(memcmp(c.addr, ten, 16) == 0); /* the 12 bytes an IPv4 address does not use are zero */
    /* every prefix length clears exactly the host bits */
    for (int v6 = 0; v6 != 2; ++v6) {
        unsigned bits = v6 ? 128 : 32;
        for (unsigned prefix = 0; prefix <= bits; ++prefix) {
            char text[80];
            snprintf(text, sizeof(text), "%s/%u", v6 ? "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" : "255.255.255.255", prefix);
            memset(&c, 0x55, sizeof(c));
            CHECK_EQ_U64(cfg_parse_cidr(text, &c, &why), 0);
            CHECK_EQ_U64(c.family, v6 ? AF_INET6 : AF_INET);
            CHECK_EQ_U64(c.prefix_len, prefix);
            for (unsigned byte = 0; byte != 16; ++byte) {
                unsigned ones = byte * 8 >= prefix ? 0 : prefix - byte * 8 >= 8 ? 8 : prefix - byte * 8;
                uint8_t want = byte * 8 < bits ? (uint8_t)(0xff00 >> ones) : 0;
                if (c.addr[byte] != want) {
                    fprintf(stderr, "%s: byte %u is %#x, want %#x\n", text, byte, c.addr[byte], want);
                    CHECK(0);
                }
            }
        }
    }
    CHECK_FAILS(cfg_parse_cidr("10.0.0.0/33", &c, &why), "CIDR prefix length must be 0..32");
    CHECK_FAILS(cfg_parse_cidr("fd00::/129", &c, &why), "CIDR prefix length must be 0..128");
    CHECK_FAILS(cfg_parse_cidr("10.0.0.0/", &c, &why), "CIDR prefix length must be 0..32");
    CHECK_FAILS(cfg_parse_cidr("fd00::/x", &c, &why), "CIDR prefix length must be 0..128");
    static const char *const not_cidrs[] = {"", "/8", "10.0.0/8", "host/8", "10.0.0.0.0/8"};
    for (size_t i = 0; i != sizeof(not_cidrs) / sizeof(not_cidrs[0]); ++i)
        CHECK_FAILS(cfg_parse_cidr(not_cidrs[i], &c, &why), "expected a CIDR such as 10.0.0.0/8 or fd00::/8");
    /* an address part of 63, 64 and 100 characters: refused without overflowing */
    char longer[120];
    for (size_t len = 63; len <= 100; len += len == 64 ? 36 : 1) {
        memset(longer, '1', len);
        strcpy(longer + len, "/8");
        CHECK_FAILS(cfg_parse_cidr(longer, &c, &why), "expected a CIDR such as 10.0.0.0/8 or fd00::/8");
    }
}

static void test_tokens_and_keys(void)
{
    CHECK_EQ_U64(cfg_is_token("X-User_Id.1~!#$%&'*+^`|"), 1);
    CHECK_EQ_U64(cfg_is_token(""), 0);
    CHECK_EQ_U64(cfg_is_token("a b"), 0);
    CHECK_EQ_U64(cfg_is_token("a:b"), 0);
    CHECK_EQ_U64(cfg_is_token("\"q\""), 0);

    const char *why;
    cfg_key_t k;
    memset(&k, 0x55, sizeof(k));
    CHECK_EQ_U64(cfg_parse_key("client_ip", &k, &why), 0);
    CHECK(k.kind == CFG_KEY_CLIENT_IP);
    CHECK(k.name == NULL);
    CHECK_STR(k.text, "client_ip");
    free(k.text);
    memset(&k, 0x55, sizeof(k));
    CHECK_EQ_U64(cfg_parse_key("header:X-User-Id", &k, &why), 0);
    CHECK(k.kind == CFG_KEY_HEADER);
    CHECK_STR(k.name, "x-user-id");
    CHECK_STR(k.text, "header:X-User-Id");
    free(k.name);
    free(k.text);
    CHECK_EQ_U64(cfg_parse_key("query:Page", &k, &why), 0);
    CHECK(k.kind == CFG_KEY_QUERY);
    CHECK_STR(k.name, "Page"); /* only header names are case-insensitive */
    free(k.name);
    free(k.text);
    CHECK_EQ_U64(cfg_parse_key("cookie:Sid", &k, &why), 0);
    CHECK(k.kind == CFG_KEY_COOKIE);
    CHECK_STR(k.name, "Sid");
    free(k.name);
    free(k.text);
    CHECK_FAILS(cfg_parse_key("header:", &k, &why), "the key needs a name, e.g. header:X-User-Id");
    CHECK_FAILS(cfg_parse_key("cookie:", &k, &why), "the key needs a name, e.g. header:X-User-Id");
    CHECK_FAILS(cfg_parse_key("header:a b", &k, &why), "bad character in key name (it must be an HTTP token)");
    CHECK_FAILS(cfg_parse_key("query:a=b", &k, &why), "bad character in key name (it must be an HTTP token)");
    why = NULL;
    CHECK_EQ_U64(cfg_parse_key("ip", &k, &why), (uint64_t)-1);
    CHECK(why != NULL && strncmp(why, "expected client_ip, header:NAME", 31) == 0);
}

static void test_format_duration(void)
{
    static const struct {
        uint64_t ms;
        const char *text;
    } cases[] = {{0, "0ms"},
                 {1, "1ms"},
                 {999, "999ms"},
                 {1000, "1s"},
                 {1500, "1500ms"},
                 {59000, "59s"},
                 {60000, "1m"},
                 {61000, "61s"},
                 {3600000, "1h"},
                 {3660000, "61m"},
                 {999000, "999s"},
                 {59999ull * 60000, "59999m"},
                 {3600000ull * 3600000, "3600000h"}};
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        char buf[32];
        cfg_format_duration(cases[i].ms, buf, sizeof(buf));
        CHECK_STR(buf, cases[i].text);
    }
}

int main(void)
{
    test_uint();
    test_durations_and_sizes();
    test_rates();
    test_addresses();
    test_cidrs();
    test_tokens_and_keys();
    test_format_duration();
    return CHECK_SUMMARY();
}
