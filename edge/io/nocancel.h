// The hot-path socket calls without glibc's cancellation-point wrappers. The edge never
// cancels a thread, and in a multi-threaded process each wrapped call costs two atomic
// read-modify-writes on the thread's cancel state (about 1.5% of the edge's CPU on keep-alive
// traffic, measured with perf); read() adds the VFS layer on top of recvfrom().
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace berth::edge
{

inline ssize_t recv_nocancel(int fd, void *buf, size_t len) noexcept
{
    return syscall(SYS_recvfrom, fd, buf, len, 0, nullptr, nullptr);
}

inline ssize_t sendmsg_nocancel(int fd, const msghdr *msg, int flags) noexcept
{
    return syscall(SYS_sendmsg, fd, msg, flags);
}

inline int epoll_wait_nocancel(int epfd, epoll_event *events, int max, int timeout_ms) noexcept
{
    return int(syscall(SYS_epoll_pwait, epfd, events, max, timeout_ms, nullptr, 0));
}

} // namespace berth::edge
