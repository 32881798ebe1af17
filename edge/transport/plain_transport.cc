#include "edge/transport/plain_transport.h"

#include <cerrno>
#include <cstring>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edge/io/nocancel.h"

namespace berth::edge
{

PlainTransport::~PlainTransport()
{
    close();
}

ReadResult PlainTransport::read(char *buf, size_t len) noexcept
{
    while (true) {
        ssize_t n = recv_nocancel(fd_, buf, len);
        if (n >= 0) return {n, n > 0 && size_t(n) == len}; // a short read emptied the socket
        if (errno != EINTR) return {-errno, false};
    }
}

ssize_t PlainTransport::send(const iovec *iov, size_t n_iov, size_t, bool more) noexcept
{
    if (SendBatch::Slot *slot = io_.sends().reserve(this, fd_)) {
        std::memcpy(slot->iov, iov, n_iov * sizeof(iovec));
        slot->n_iov = n_iov;
        slot->flags = more ? MSG_MORE : 0;
        queued_ = true;
        return kQueued;
    }
    msghdr msg{};
    msg.msg_iov = const_cast<iovec *>(iov);
    msg.msg_iovlen = n_iov;
    while (true) {
        ssize_t n =
            sendmsg_nocancel(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT | (more ? MSG_MORE : 0));
        if (n >= 0) return n;
        if (errno != EINTR) return -errno;
    }
}

ssize_t PlainTransport::send_file(int fd, uint64_t offset, size_t len) noexcept
{
    off_t off = off_t(offset);
    while (true) {
        ssize_t n = sendfile(fd_, fd, &off, len);
        if (n > 0) return n;
        if (n == 0) return -EIO; // the file is shorter than promised
        if (errno != EINTR) return -errno;
    }
}

bool PlainTransport::watch() noexcept
{
    if (watched_) return true;
    if (fd_ < 0 || !io_.watch(fd_, this)) return false;
    watched_ = true;
    return true;
}

void PlainTransport::shutdown_write() noexcept
{
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void PlainTransport::close() noexcept
{
    if (fd_ < 0) return;
    if (queued_) io_.sends().cancel(this); // before the descriptor number can be reused
    queued_ = false;
    ::close(fd_); // also takes it out of the epoll set
    fd_ = -1;
}

void PlainTransport::on_io(uint32_t events)
{
    uint8_t ready = 0;
    if (events & EPOLLIN) ready |= kReadable;
    if (events & EPOLLOUT) ready |= kWritable;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ready |= kHangup | kReadable;
    user_->on_ready(ready);
}

void PlainTransport::on_sent(ssize_t result)
{
    queued_ = false;
    user_->on_sent(result);
}

} // namespace berth::edge
