// The proxy benchmark's floor (#14): the least a keep-alive HTTP relay can do. Each client
// connection gets its own upstream connection; bytes are copied both ways with no parsing, no
// header rewriting and no pooling. What remains is the unavoidable work per request: a read
// and a write on each side plus the epoll wakeups. Not a proxy (it would break on pipelining
// across upstream reconnects and knows nothing of HTTP): only a yardstick.
//
// usage: relay_floor LISTEN_PORT UPSTREAM_PORT   (both on 127.0.0.1)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_net.h"

// One end of a relayed pair; `peer` is the other end's descriptor.
struct end {
    int fd;
    int peer;
};

static void close_pair(int ep, struct end *e)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, e->fd, NULL);
    epoll_ctl(ep, EPOLL_CTL_DEL, e->peer, NULL);
    close(e->fd);
    close(e->peer);
}

static void watch(int ep, int fd, int peer)
{
    struct end *e = malloc(sizeof *e);
    e->fd = fd;
    e->peer = peer;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = e};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: relay_floor LISTEN_PORT UPSTREAM_PORT\n");
        return 2;
    }
    struct sockaddr_in upstream = loopback(atoi(argv[2]));
    int one = 1, lfd;
    int ep = listen_loopback(atoi(argv[1]), &lfd);
    if (ep < 0) return 1;
    static char buf[65536];
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; ++i) {
            struct end *e = events[i].data.ptr;
            if (!e) {
                int cfd;
                while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    int ufd = socket(AF_INET, SOCK_STREAM, 0); // blocking connect: loopback
                    if (connect(ufd, (struct sockaddr *)&upstream, sizeof upstream)) {
                        close(ufd);
                        close(cfd);
                        continue;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    watch(ep, cfd, ufd);
                    watch(ep, ufd, cfd);
                }
                continue;
            }
            ssize_t got = recv(e->fd, buf, sizeof buf, 0);
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (got <= 0 || send_all(e->peer, buf, (size_t)got)) close_pair(ep, e);
        }
    }
}
