// WebSocket echo benchmark tools (#14), one binary with two modes:
//
//   ws_bench server PORT
//       an echo upstream on 127.0.0.1:PORT: answers the Upgrade handshake (RFC 6455 accept
//       key), then sends every message back unmasked.
//   ws_bench client PORT HOST CONNECTIONS SECONDS SIZE
//       opens CONNECTIONS WebSockets through 127.0.0.1:PORT with Host: HOST, keeps one masked
//       SIZE-byte message in flight on each, and prints "messages N errors E" after SECONDS.
//
// Single-threaded epoll on both sides, so the load generator and the upstream cost little next
// to the proxy being measured. Frames up to 64 KiB; no fragmentation, no control frames.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_net.h"

enum { kBuf = 70000 };

struct conn {
    int fd;
    int upgraded;
    size_t have; // bytes in buf
    char buf[kBuf];
};

// Length of the complete frame at the start of buf (0: not all here yet); *payload and
// *payload_len describe its payload, *mask its masking key or NULL.
static size_t frame_at(const unsigned char *buf, size_t have, size_t *payload, size_t *payload_len,
                       const unsigned char **mask)
{
    if (have < 2) return 0;
    size_t len = buf[1] & 0x7f, head = 2;
    if (len == 126) {
        if (have < 4) return 0;
        len = ((size_t)buf[2] << 8) | buf[3];
        head = 4;
    } else if (len == 127) {
        if (have < 10) return 0;
        len = 0;
        for (int i = 0; i < 8; ++i)
            len = (len << 8) | buf[2 + i];
        head = 10;
    }
    *mask = (buf[1] & 0x80) ? buf + head : NULL;
    if (*mask) head += 4;
    if (have < head + len) return 0;
    *payload = head;
    *payload_len = len;
    return head + len;
}

// Writes a frame header for a binary message of len bytes; returns its size.
static size_t frame_head(unsigned char *out, size_t len, int masked)
{
    size_t n = 0;
    out[n++] = 0x82;
    unsigned char m = masked ? 0x80 : 0;
    if (len < 126) {
        out[n++] = m | (unsigned char)len;
    } else {
        out[n++] = m | 126;
        out[n++] = (unsigned char)(len >> 8);
        out[n++] = (unsigned char)len;
    }
    return n;
}

static void accept_key(const char *key, size_t key_len, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char joined[128];
    unsigned char digest[SHA_DIGEST_LENGTH];
    memcpy(joined, key, key_len);
    memcpy(joined + key_len, guid, sizeof guid - 1);
    SHA1((unsigned char *)joined, key_len + sizeof guid - 1, digest);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
}

static void watch(int ep, struct conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void drop(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

// Server: the handshake, then echo every complete frame.
static void server_readable(int ep, struct conn *c)
{
    ssize_t n = recv(c->fd, c->buf + c->have, kBuf - 1 - c->have, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) return drop(ep, c);
    c->have += (size_t)n;
    if (!c->upgraded) {
        c->buf[c->have] = '\0';
        char *end = strstr(c->buf, "\r\n\r\n");
        if (!end) return;
        // Proxies may send header names in lower case (HAProxy does).
        char *key = strcasestr(c->buf, "\r\nSec-WebSocket-Key: ");
        if (!key || key > end) return drop(ep, c);
        key += 2;
        key += 19;
        char *eol = memchr(key, '\r', (size_t)(end + 2 - key));
        char accept[29], reply[256];
        accept_key(key, (size_t)(eol - key), accept);
        int len = snprintf(reply, sizeof reply,
                           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                           accept);
        if (send_all(c->fd, reply, (size_t)len)) return drop(ep, c);
        c->upgraded = 1;
        size_t used = (size_t)(end + 4 - c->buf);
        memmove(c->buf, c->buf + used, c->have - used);
        c->have -= used;
    }
    size_t at = 0, payload, len, size;
    const unsigned char *mask;
    unsigned char *b = (unsigned char *)c->buf;
    static unsigned char out[kBuf];
    while ((size = frame_at(b + at, c->have - at, &payload, &len, &mask)) > 0) {
        size_t head = frame_head(out, len, 0);
        for (size_t i = 0; i < len; ++i)
            out[head + i] = b[at + payload + i] ^ (mask ? mask[i & 3] : 0);
        if (send_all(c->fd, out, head + len)) return drop(ep, c);
        at += size;
    }
    memmove(c->buf, c->buf + at, c->have - at);
    c->have -= at;
}

static int run_server(int port)
{
    int one = 1, lfd;
    int ep = listen_loopback(port, &lfd);
    if (ep < 0) return 1;
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; ++i) {
            struct conn *c = events[i].data.ptr;
            if (c) {
                server_readable(ep, c);
                continue;
            }
            int fd;
            while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                c = calloc(1, sizeof *c);
                c->fd = fd;
                watch(ep, c);
            }
        }
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t g_size;
static unsigned char g_frame[kBuf];
static size_t g_frame_len;

static int send_message(struct conn *c)
{
    return send_all(c->fd, g_frame, g_frame_len);
}

// Client: after the 101, every complete echo counts and sends the next message.
static void client_readable(int ep, struct conn *c, long *messages, long *errors)
{
    ssize_t n = recv(c->fd, c->buf + c->have, kBuf - c->have, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        ++*errors;
        return drop(ep, c);
    }
    c->have += (size_t)n;
    if (!c->upgraded) {
        char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
        if (!end) return;
        if (strncmp(c->buf, "HTTP/1.1 101", 12) != 0) {
            ++*errors;
            return drop(ep, c);
        }
        c->upgraded = 1;
        size_t used = (size_t)(end + 4 - c->buf);
        memmove(c->buf, c->buf + used, c->have - used);
        c->have -= used;
        if (send_message(c)) return drop(ep, c);
    }
    size_t at = 0, payload, len, size;
    const unsigned char *mask;
    while ((size = frame_at((unsigned char *)c->buf + at, c->have - at, &payload, &len, &mask)) >
           0) {
        if (len != g_size) ++*errors;
        ++*messages;
        at += size;
        if (send_message(c)) return drop(ep, c);
    }
    memmove(c->buf, c->buf + at, c->have - at);
    c->have -= at;
}

static int run_client(int port, const char *host, int conns, double seconds, size_t size)
{
    if (size > 65535) size = 65535;
    g_size = size;
    g_frame_len = frame_head(g_frame, size, 1);
    static const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(g_frame + g_frame_len, mask, 4);
    g_frame_len += 4;
    for (size_t i = 0; i < size; ++i)
        g_frame[g_frame_len + i] = (unsigned char)('a' + i % 26) ^ mask[i & 3];
    g_frame_len += size;

    struct sockaddr_in addr = loopback(port);
    int ep = epoll_create1(0), one = 1;
    for (int i = 0; i < conns; ++i) {
        struct conn *c = calloc(1, sizeof *c);
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr)) {
            perror("ws_bench client: connect");
            return 1;
        }
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char req[512];
        int len = snprintf(req, sizeof req,
                           "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n",
                           host);
        send_all(c->fd, req, (size_t)len);
        watch(ep, c);
    }
    long messages = 0, errors = 0;
    double end = now_s() + seconds;
    struct epoll_event events[256];
    while (now_s() < end) {
        int n = epoll_wait(ep, events, 256, 100);
        for (int i = 0; i < n; ++i)
            client_readable(ep, events[i].data.ptr, &messages, &errors);
    }
    printf("messages %ld errors %ld\n", messages, errors);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "server") == 0) return run_server(atoi(argv[2]));
    if (argc == 7 && strcmp(argv[1], "client") == 0)
        return run_client(atoi(argv[2]), argv[3], atoi(argv[4]), atof(argv[5]),
                          (size_t)atol(argv[6]));
    fprintf(stderr, "usage: ws_bench server PORT | ws_bench client PORT HOST CONNS SECONDS SIZE\n");
    return 2;
}
