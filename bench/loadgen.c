/*
 * A closed-loop HTTP/1.1 load generator for the overload scenario, where wrk is not enough: wrk
 * reports one latency distribution for every response, but under overload the latency that
 * matters is that of the admitted requests, apart from the fast 429/503s a gateway sheds.
 *
 *   loadgen [-c CONNECTIONS] [-d SECONDS] [-p PATH] [-H "NAME: VALUE"] [-r RATE] [-i SECONDS] [-o FILE] HOST:PORT
 *
 * Each connection sends GET PATH, waits for the whole response, and sends the next one on the
 * same connection (a new one when the server closes it). Prints one line of key=value pairs:
 * requests, ok (2xx), shed (429 and 503), other statuses, errors (connection failures and
 * resets), seconds, and p50/p99 in ms of the ok and the shed responses.
 *
 * With -r, the load is open: RATE requests a second are sent at even intervals, whatever the
 * answers, each on an idle connection (a closed loop against a gateway that sheds in a
 * millisecond offers whatever the CPU allows, not a chosen load); an arrival that finds every
 * connection busy is not sent and counted as `unsent`. With -i, one line per interval comes first:
 * `series t=END ok=N shed=N ok_p50_ms=X ok_p99_ms=X` (responses that ended in the interval).
 * -H adds a request header (up to 8). -o FILE writes one line per response: when it ended (ms from
 * the start), its latency (us) and its class (o: 2xx, s: 429/503, x: other).
 *
 * At the end of the run no new request is sent, and loadgen waits (up to DRAIN_SECONDS) for
 * the answers to those in flight before it closes its connections: hanging up on them would
 * make the gateway free their slots while the backend is still working on them, and a test
 * counting the backend's requests in flight would see more than the limit. Those late answers
 * are not counted: they fall outside the measured window.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "gw_phr.h"

#define BUF_SIZE (64 * 1024)
#define MAX_HEADERS 64
#define DRAIN_SECONDS 10

typedef struct {
    uint32_t *us;
    uint32_t *at_ms; /* when it ended, from the start */
    size_t len, cap;
} samples_t;

typedef struct st_conn_t {
    int fd;
    int connected;
    int waiting;                             /* a request was sent and its response is not complete yet */
    struct st_conn_t *idle_prev, *idle_next; /* -r: in the list of connections free for an arrival */
    char buf[BUF_SIZE];
    size_t len;
    uint64_t sent_at_ns;
} conn_t;

static struct sockaddr_in target;
static char request[1024];
static size_t request_len;
static int epfd;
static samples_t ok_samples, shed_samples;
static uint64_t n_requests, n_other, n_errors;
static int stopping; /* the measured window is over: finish what is in flight, send nothing new */
static int n_waiting;
static double rate;       /* -r: requests per second, open loop; 0: closed loop */
static uint64_t n_unsent; /* -r: arrivals that found no idle connection */
static uint64_t start_ns;
static FILE *out_file; /* -o */
static conn_t idle_list = {.idle_prev = &idle_list, .idle_next = &idle_list};

static void idle_remove(conn_t *c)
{
    if (c->idle_next != NULL) {
        c->idle_prev->idle_next = c->idle_next;
        c->idle_next->idle_prev = c->idle_prev;
        c->idle_prev = c->idle_next = NULL;
    }
}

/* -r: c waits for the next arrival (closed loop: it sends at once instead). */
static void idle_add(conn_t *c)
{
    c->idle_prev = idle_list.idle_prev;
    c->idle_next = &idle_list;
    idle_list.idle_prev->idle_next = c;
    idle_list.idle_prev = c;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void record(samples_t *s, uint64_t ns, uint64_t now)
{
    if (s->len == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 65536;
        s->us = realloc(s->us, s->cap * sizeof(*s->us));
        s->at_ms = realloc(s->at_ms, s->cap * sizeof(*s->at_ms));
        if (s->us == NULL || s->at_ms == NULL) {
            perror("realloc");
            exit(1);
        }
    }
    s->at_ms[s->len] = (uint32_t)((now - start_ns) / 1000000u);
    s->us[s->len++] = (uint32_t)(ns / 1000);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void sort_samples(samples_t *s)
{
    if (s->len != 0) /* no array at all when nothing was recorded */
        qsort(s->us, s->len, sizeof(*s->us), cmp_u32);
}

static double percentile_of(const uint32_t *us, size_t len, double p)
{
    if (len == 0)
        return 0;
    size_t i = (size_t)(p * (double)(len - 1) + 0.5);
    return us[i] / 1000.0;
}

static double percentile_ms(samples_t *s, double p)
{
    return percentile_of(s->us, s->len, p);
}

/* -i: the ok and shed responses that ended in each interval, ok latencies sorted per interval. */
static void print_series(double interval, double elapsed)
{
    size_t n = (size_t)(elapsed / interval + 0.5); /* the run's last few ms go to the last interval */
    uint32_t *lat = malloc((ok_samples.len + 1) * sizeof(*lat));
    if (lat == NULL) {
        perror("malloc");
        exit(1);
    }
    for (size_t k = 0; k != n; ++k) {
        uint32_t lo = (uint32_t)(k * interval * 1000), hi = k + 1 == n ? UINT32_MAX : (uint32_t)((k + 1) * interval * 1000);
        size_t ok = 0, shed = 0;
        for (size_t i = 0; i != ok_samples.len; ++i)
            if (ok_samples.at_ms[i] >= lo && ok_samples.at_ms[i] < hi)
                lat[ok++] = ok_samples.us[i];
        for (size_t i = 0; i != shed_samples.len; ++i)
            shed += shed_samples.at_ms[i] >= lo && shed_samples.at_ms[i] < hi;
        if (ok != 0)
            qsort(lat, ok, sizeof(*lat), cmp_u32);
        printf("series t=%.3f ok=%zu shed=%zu ok_p50_ms=%.3f ok_p99_ms=%.3f\n", (k + 1) * interval, ok, shed,
               percentile_of(lat, ok, 0.5), percentile_of(lat, ok, 0.99));
    }
    free(lat);
}

static void send_request(conn_t *c)
{
    idle_remove(c);
    c->len = 0;
    c->sent_at_ns = now_ns();
    c->waiting = 1;
    n_waiting++;
    ssize_t n = send(c->fd, request, request_len, MSG_NOSIGNAL);
    /* A 200-byte request fits any fresh socket buffer; a short write means the peer is gone,
     * which the next read reports. */
    (void)n;
}

static void open_conn(conn_t *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        perror("socket");
        exit(1);
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->connected = 0;
    c->len = 0;
    if (connect(c->fd, (struct sockaddr *)&target, sizeof(target)) != 0 && errno != EINPROGRESS) {
        perror("connect");
        exit(1);
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void stop_waiting(conn_t *c)
{
    if (c->waiting) {
        c->waiting = 0;
        n_waiting--;
    }
}

static void close_conn(conn_t *c)
{
    stop_waiting(c);
    idle_remove(c);
    close(c->fd);
    c->fd = -1;
}

static void reopen_conn(conn_t *c)
{
    close_conn(c);
    if (!stopping)
        open_conn(c);
}

/* c is free for another request: closed loop, it sends at once; open loop, it waits for an arrival. */
static void next_request(conn_t *c)
{
    if (rate > 0)
        idle_add(c);
    else
        send_request(c);
}

/* -r: the arrivals due by `now`, each on an idle connection, or counted unsent. */
static void send_arrivals(uint64_t now, uint64_t *next_arrival)
{
    uint64_t gap = (uint64_t)(1e9 / rate);
    for (; *next_arrival <= now; *next_arrival += gap) {
        if (idle_list.idle_next != &idle_list)
            send_request(idle_list.idle_next);
        else
            n_unsent++;
    }
}

static int header_is(const struct phr_header *h, const char *name)
{
    return h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

/* Returns 1 when c->buf holds a whole response (and sets *status, *keep_alive), 0 if more is
 * needed, -1 if it cannot be parsed. */
static int parse_response(conn_t *c, int *status, int *keep_alive)
{
    int minor;
    const char *msg;
    size_t msg_len, num_headers = MAX_HEADERS;
    struct phr_header headers[MAX_HEADERS];
    int head = phr_parse_response(c->buf, c->len, &minor, status, &msg, &msg_len, headers, &num_headers, 0);
    if (head == -2)
        return 0;
    if (head < 0)
        return -1;
    long content_length = -1;
    int chunked = 0;
    *keep_alive = minor >= 1;
    for (size_t i = 0; i < num_headers; i++) {
        if (header_is(&headers[i], "content-length"))
            content_length = strtol(headers[i].value, NULL, 10);
        else if (header_is(&headers[i], "transfer-encoding"))
            chunked = 1;
        else if (header_is(&headers[i], "connection"))
            *keep_alive = headers[i].value_len == 10 && strncasecmp(headers[i].value, "keep-alive", 10) == 0;
    }
    if (chunked) {
        /* Decoding is destructive, so decode a copy: the buffer may still be incomplete. */
        static char copy[BUF_SIZE];
        size_t size = c->len - (size_t)head;
        memcpy(copy, c->buf + head, size);
        struct phr_chunked_decoder decoder = {0};
        ssize_t r = phr_decode_chunked(&decoder, copy, &size);
        return r == -2 ? 0 : r == -1 ? -1 : 1;
    }
    if (content_length < 0)
        return -1; /* a body delimited by close: not produced by any contender */
    return c->len >= (size_t)head + (size_t)content_length ? 1 : 0;
}

static void on_readable(conn_t *c)
{
    for (;;) {
        if (c->len == sizeof(c->buf)) {
            n_errors++;
            reopen_conn(c);
            return;
        }
        ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            n_errors++;
            reopen_conn(c);
            return;
        }
        c->len += (size_t)n;
        int status, keep_alive;
        int done = parse_response(c, &status, &keep_alive);
        if (done < 0) {
            n_errors++;
            reopen_conn(c);
            return;
        }
        if (done == 0)
            continue;
        stop_waiting(c);
        if (stopping) {
            close_conn(c);
            return;
        }
        uint64_t now = now_ns(), latency = now - c->sent_at_ns;
        n_requests++;
        char class = 'x';
        if (status >= 200 && status < 300)
            record(&ok_samples, latency, now), class = 'o';
        else if (status == 429 || status == 503)
            record(&shed_samples, latency, now), class = 's';
        else
            n_other++;
        if (out_file != NULL)
            fprintf(out_file, "%llu %llu %c\n", (unsigned long long)((now - start_ns) / 1000000u),
                    (unsigned long long)(latency / 1000u), class);
        if (!keep_alive) {
            reopen_conn(c);
            return;
        }
        next_request(c);
    }
}

int main(int argc, char **argv)
{
    int connections = 64;
    double seconds = 10;
    const char *path = "/";
    const char *headers[8];
    size_t num_headers = 0;
    double interval = 0;
    int opt;
    while ((opt = getopt(argc, argv, "c:d:p:H:r:i:o:")) != -1) {
        switch (opt) {
        case 'c':
            connections = atoi(optarg);
            break;
        case 'd':
            seconds = atof(optarg);
            break;
        case 'p':
            path = optarg;
            break;
        case 'H':
            if (num_headers == sizeof(headers) / sizeof(headers[0]) || strchr(optarg, ':') == NULL || strpbrk(optarg, "\r\n")) {
                fprintf(stderr, "usage: -H 'NAME: VALUE', at most 8\n");
                return 2;
            }
            headers[num_headers++] = optarg;
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 'i':
            interval = atof(optarg);
            break;
        case 'o':
            out_file = fopen(optarg, "w");
            if (out_file == NULL) {
                perror(optarg);
                return 2;
            }
            break;
        default:
            fprintf(stderr, "usage: loadgen [-c CONNECTIONS] [-d SECONDS] [-p PATH] [-H 'NAME: VALUE'] [-r RATE] [-i SECONDS] "
                            "[-o FILE] HOST:PORT\n");
            return 2;
        }
    }
    char host[64];
    int port;
    if (optind != argc - 1 || connections < 1 || seconds <= 0 || rate < 0 || interval < 0 ||
        sscanf(argv[optind], "%63[^:]:%d", host, &port) != 2 || inet_pton(AF_INET, host, &target.sin_addr) != 1 || port < 1 ||
        port > 65535) {
        fprintf(stderr, "usage: loadgen [-c CONNECTIONS] [-d SECONDS] [-p PATH] HOST:PORT (an IPv4 address)\n");
        return 2;
    }
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)port);
    int len = snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: loadgen\r\n", path, host, port);
    for (size_t i = 0; i != num_headers && len > 0 && (size_t)len < sizeof(request); ++i)
        len += snprintf(request + len, sizeof(request) - (size_t)len, "%s\r\n", headers[i]);
    if (len > 0 && (size_t)len < sizeof(request))
        len += snprintf(request + len, sizeof(request) - (size_t)len, "\r\n");
    if (len < 0 || (size_t)len >= sizeof(request)) {
        fprintf(stderr, "loadgen: the path and headers are too long (at most about 900 bytes)\n");
        return 2;
    }
    request_len = (size_t)len;

    epfd = epoll_create1(0);
    conn_t *conns = calloc((size_t)connections, sizeof(*conns));
    if (conns == NULL) {
        perror("calloc");
        return 1;
    }
    for (int i = 0; i < connections; i++)
        open_conn(&conns[i]);

    uint64_t start = start_ns = now_ns(), end = start + (uint64_t)(seconds * 1e9), next_arrival = start;
    uint64_t drain_end = end + (uint64_t)DRAIN_SECONDS * 1000000000u;
    double elapsed = 0;
    struct epoll_event events[256];
    for (;;) {
        uint64_t now = now_ns();
        if (!stopping && now >= end) {
            stopping = 1;
            elapsed = (double)(now - start) / 1e9;
            for (int i = 0; i < connections; i++)
                if (conns[i].fd >= 0 && !conns[i].waiting)
                    close_conn(&conns[i]); /* idle or still connecting: nothing to wait for */
        }
        if (stopping && (n_waiting == 0 || now >= drain_end))
            break;
        if (rate > 0 && !stopping)
            send_arrivals(now, &next_arrival);
        /* -r: sleep until the next arrival to the microsecond (a 1 ms epoll_wait sent arrivals in
         * bunches a little over 1 ms apart, which a burst-1 limit at 1000/s sees as a slower rate) */
        uint64_t wait_ns = 100000000u;
        if (rate > 0 && !stopping)
            wait_ns = next_arrival > now ? next_arrival - now : 0;
        struct timespec wait = {.tv_sec = (time_t)(wait_ns / 1000000000u), .tv_nsec = (long)(wait_ns % 1000000000u)};
        int n = epoll_pwait2(epfd, events, 256, &wait, NULL);
        if (n < 0 && errno == ENOSYS) /* a kernel before 5.11: to the millisecond, rounded up */
            n = epoll_wait(epfd, events, 256, (int)((wait_ns + 999999u) / 1000000u));
        for (int i = 0; i < n; i++) {
            conn_t *c = events[i].data.ptr;
            if (c->fd < 0)
                continue; /* closed earlier in this batch */
            if (!c->connected && (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                int err = 0;
                socklen_t len = sizeof(err);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0) {
                    n_errors++;
                    reopen_conn(c);
                    continue;
                }
                c->connected = 1;
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
                next_request(c);
                continue;
            }
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(c);
        }
    }
    if (interval > 0)
        print_series(interval, elapsed);
    if (out_file != NULL)
        fclose(out_file);
    sort_samples(&ok_samples);
    sort_samples(&shed_samples);
    printf("requests=%llu ok=%zu shed=%zu other=%llu errors=%llu seconds=%.3f ok_p50_ms=%.3f ok_p99_ms=%.3f "
           "shed_p50_ms=%.3f shed_p99_ms=%.3f",
           (unsigned long long)n_requests, ok_samples.len, shed_samples.len, (unsigned long long)n_other,
           (unsigned long long)n_errors, elapsed, percentile_ms(&ok_samples, 0.5), percentile_ms(&ok_samples, 0.99),
           percentile_ms(&shed_samples, 0.5), percentile_ms(&shed_samples, 0.99));
    if (rate > 0)
        printf(" unsent=%llu", (unsigned long long)n_unsent);
    printf("\n");
    for (int i = 0; i < connections; i++)
        if (conns[i].fd >= 0)
            close_conn(&conns[i]); /* still waiting after DRAIN_SECONDS */
    free(conns);
    free(ok_samples.us);
    free(ok_samples.at_ms);
    free(shed_samples.us);
    free(shed_samples.at_ms);
    return 0;
}
