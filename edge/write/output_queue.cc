// Output flushing: gather memory segments into one sendmsg, sendfile for file segments.
#include "edge/write/output_queue.h"

#include <algorithm>
#include <cerrno>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "edge/core/nocancel.h"
#include "edge/write/page_cache.h"

namespace berth::edge
{

OutputQueue::Segment &OutputQueue::push() noexcept
{
    Segment &s = segments_[(head_ + count_) % kMaxSegments];
    ++count_;
    return s;
}

void OutputQueue::pop() noexcept
{
    Segment &s = segments_[head_];
    s.keep.reset();
    head_ = (head_ + 1) % kMaxSegments;
    --count_;
}

void OutputQueue::commit_buffer() noexcept
{
    if (committed_ == buf_.size()) return;
    // Extend the previous buffer segment when it ends where this one starts.
    if (count_ > 0) {
        Segment &last = segments_[(head_ + count_ - 1) % kMaxSegments];
        if (last.kind == Segment::Kind::kBuffer && last.offset + last.length == committed_) {
            last.length += buf_.size() - committed_;
            committed_ = buf_.size();
            return;
        }
    }
    Segment &s = push();
    s.kind = Segment::Kind::kBuffer;
    s.offset = committed_;
    s.length = buf_.size() - committed_;
    committed_ = buf_.size();
}

void OutputQueue::push_memory(const char *data, size_t len, FileEntryRef keep) noexcept
{
    commit_buffer();
    if (len == 0) return;
    Segment &s = push();
    s.kind = Segment::Kind::kMemory;
    s.data = data;
    s.offset = 0;
    s.length = len;
    s.keep = std::move(keep);
}

void OutputQueue::push_file(const FileBody &body, uint64_t offset, uint64_t len,
                            FileEntryRef keep) noexcept
{
    commit_buffer();
    if (len == 0) return;
    Segment &s = push();
    s.kind = Segment::Kind::kFile;
    s.fd = body.fd;
    s.body = &body;
    s.offset = offset;
    s.length = len;
    s.warm_end = offset;
    s.keep = std::move(keep);
}

OutputQueue::ColdWindow OutputQueue::cold_window() const noexcept
{
    const Segment &s = segments_[head_];
    return {s.fd, s.offset, std::min(s.length, kWindow), s.keep};
}

void OutputQueue::mark_warm() noexcept
{
    Segment &s = segments_[head_];
    if (count_ > 0 && s.kind == Segment::Kind::kFile)
        s.warm_end = s.offset + std::min(s.length, kWindow);
}

void OutputQueue::clear() noexcept
{
    while (count_)
        pop();
    buf_.clear();
    committed_ = 0;
    head_ = 0;
}

bool OutputQueue::window_resident(Segment &s, uint64_t now_ms) noexcept
{
    uint64_t window = std::min(s.length, kWindow);
    const FileBody &body = *s.body;
    if (body.size <= kWindow) { // the whole file at once, at most once a second
        if (body.resident_checked_ms == 0 || now_ms - body.resident_checked_ms >= 1000) {
            if (!pages_resident(s.fd, 0, body.size)) return false;
            body.resident_checked_ms = now_ms == 0 ? 1 : now_ms;
        }
    } else if (!pages_resident(s.fd, s.offset, window)) {
        return false;
    }
    s.warm_end = s.offset + window;
    return true;
}

bool OutputQueue::memory_first() noexcept
{
    commit_buffer();
    return count_ > 0 && segments_[head_].kind != Segment::Kind::kFile;
}

OutputQueue::Gathered OutputQueue::gather(iovec *iov, bool closing) noexcept
{
    // Consecutive memory segments, up to the first file segment.
    Gathered g;
    bool file_follows = false;
    for (size_t i = 0; i < count_ && g.bytes < kMaxSendBytes; ++i) {
        const Segment &s = segments_[(head_ + i) % kMaxSegments];
        if (s.kind == Segment::Kind::kFile) {
            file_follows = true;
            break;
        }
        const char *base = s.kind == Segment::Kind::kBuffer ? buf_.data() + s.offset : s.data;
        size_t len = std::min(size_t(s.length), kMaxSendBytes - g.bytes);
        iov[g.n_iov++] = {const_cast<char *>(base), len};
        g.bytes += len;
    }
    // MSG_MORE lets the kernel put a head and the start of a sendfile body in one packet.
    g.flags = file_follows || closing ? MSG_MORE : 0;
    return g;
}

void OutputQueue::consume(size_t n) noexcept
{
    while (n > 0 && count_ > 0) {
        Segment &s = segments_[head_];
        if (s.length <= n) {
            n -= size_t(s.length);
            pop();
        } else {
            if (s.kind == Segment::Kind::kBuffer)
                s.offset += n;
            else
                s.data += n;
            s.length -= n;
            n = 0;
        }
    }
    if (count_ == 0 && committed_ == buf_.size()) { // all sent: the head buffer starts over
        buf_.clear();
        committed_ = 0;
        head_ = 0;
    }
}

OutputQueue::Flush OutputQueue::flush(int fd, uint64_t &bytes_written, bool closing,
                                      uint64_t now_ms) noexcept
{
    commit_buffer();
    while (count_ > 0) {
        Segment &first = segments_[head_];
        if (first.kind == Segment::Kind::kFile) {
            if (first.offset >= first.warm_end && !window_resident(first, now_ms))
                return Flush::kCold;
            off_t off = off_t(first.offset);
            size_t want = size_t(std::min(first.length, first.warm_end - first.offset));
            ssize_t n = sendfile(fd, first.fd, &off, want);
            if (n < 0) {
                if (errno == EINTR) continue;
                return errno == EAGAIN ? Flush::kBlocked : Flush::kError;
            }
            if (n == 0) return Flush::kError; // file shorter than promised
            bytes_written += uint64_t(n);
            first.offset += uint64_t(n);
            first.length -= uint64_t(n);
            if (first.length == 0) pop();
            continue;
        }
        struct iovec iov[kMaxSegments];
        Gathered g = gather(iov, closing);
        struct msghdr msg {
        };
        msg.msg_iov = iov;
        msg.msg_iovlen = g.n_iov;
        ssize_t n = sendmsg_nocancel(fd, &msg, MSG_NOSIGNAL | g.flags);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN ? Flush::kBlocked : Flush::kError;
        }
        bytes_written += uint64_t(n);
        consume(size_t(n));
        if (size_t(n) < g.bytes) return Flush::kBlocked; // the socket is full
    }
    buf_.clear();
    committed_ = 0;
    head_ = 0;
    return Flush::kDone;
}

} // namespace berth::edge
