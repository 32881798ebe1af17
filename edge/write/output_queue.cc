// Output flushing: memory segments gathered into one send, file windows sent once resident.
#include "edge/write/output_queue.h"

#include <algorithm>
#include <cerrno>

#include "edge/io/resident_pages.h"
#include "shared/base/assert.h"

namespace berth::edge
{

OutputQueue::Segment &OutputQueue::push() noexcept
{
    BERTH_ASSERT(count_ < kMaxSegments); // callers check has_room() before answering
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
    size_t added = buf_.size() - committed_;
    pushed_ += added;
    // Extend the previous buffer segment when it ends where this one starts.
    if (count_ > 0) {
        Segment &last = segments_[(head_ + count_ - 1) % kMaxSegments];
        if (last.kind == Segment::Kind::kBuffer && last.offset + last.length == committed_) {
            last.length += added;
            committed_ = buf_.size();
            return;
        }
    }
    Segment &s = push();
    s.kind = Segment::Kind::kBuffer;
    s.offset = committed_;
    s.length = added;
    committed_ = buf_.size();
}

void OutputQueue::push_memory(const char *data, size_t len, Keep keep) noexcept
{
    commit_buffer();
    if (len == 0) return;
    Segment &s = push();
    s.kind = Segment::Kind::kMemory;
    s.data = data;
    s.offset = 0;
    s.length = len;
    s.keep = std::move(keep);
    pushed_ += len;
}

void OutputQueue::push_file(const FileSource &file, uint64_t offset, uint64_t len,
                            Keep keep) noexcept
{
    commit_buffer();
    if (len == 0) return;
    Segment &s = push();
    s.kind = Segment::Kind::kFile;
    s.fd = file.fd;
    s.file_size = file.size;
    s.resident_ms = file.resident_checked_ms;
    s.offset = offset;
    s.length = len;
    s.warm_end = offset;
    s.keep = std::move(keep);
    pushed_ += len;
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
    sent_ = pushed_ += buf_.size() - committed_; // dropped bytes count as gone
    buf_.clear();
    committed_ = 0;
    head_ = 0;
    in_flight_ = 0;
}

bool OutputQueue::window_resident(Segment &s, uint64_t now_ms) noexcept
{
    uint64_t window = std::min(s.length, kWindow);
    if (s.file_size <= kWindow && s.resident_ms) { // the whole file, at most once a second
        uint64_t &checked = *s.resident_ms;
        if (checked == 0 || now_ms - checked >= 1000) {
            if (!pages_resident(s.fd, 0, s.file_size)) return false;
            checked = now_ms == 0 ? 1 : now_ms;
        }
    } else if (!pages_resident(s.fd, s.offset, window)) {
        return false;
    }
    s.warm_end = s.offset + window;
    return true;
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
    // Held back, the kernel puts a head and the start of a file body in one packet.
    g.more = file_follows || closing;
    return g;
}

void OutputQueue::consume(size_t n) noexcept
{
    sent_ += n;
    while (n > 0 && count_ > 0) {
        Segment &s = segments_[head_];
        if (s.length <= n) {
            n -= size_t(s.length);
            pop();
        } else {
            if (s.kind == Segment::Kind::kMemory)
                s.data += n;
            else
                s.offset += n;
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

OutputQueue::Flush OutputQueue::sent(ssize_t result, uint64_t &bytes_written) noexcept
{
    size_t asked = in_flight_;
    in_flight_ = 0;
    if (result == -EAGAIN || result == -EINTR) return Flush::kBlocked;
    if (result < 0) return Flush::kError;
    bytes_written += uint64_t(result);
    consume(size_t(result));
    return size_t(result) < asked ? Flush::kBlocked : Flush::kDone;
}

OutputQueue::Flush OutputQueue::flush(Transport &t, uint64_t &bytes_written, bool closing,
                                      uint64_t now_ms) noexcept
{
    BERTH_ASSERT(in_flight_ == 0); // the batch points into our buffers until sent()
    commit_buffer();
    while (count_ > 0) {
        Segment &first = segments_[head_];
        if (first.kind == Segment::Kind::kFile) {
            if (first.offset >= first.warm_end && !window_resident(first, now_ms))
                return Flush::kCold;
            size_t want = size_t(std::min(first.length, first.warm_end - first.offset));
            ssize_t n = t.send_file(first.fd, first.offset, want);
            if (n < 0) return n == -EAGAIN ? Flush::kBlocked : Flush::kError;
            bytes_written += uint64_t(n);
            sent_ += uint64_t(n);
            first.offset += uint64_t(n);
            first.length -= uint64_t(n);
            if (first.length == 0) pop();
            continue;
        }
        iovec iov[kMaxSegments];
        Gathered g = gather(iov, closing);
        ssize_t n = t.send(iov, g.n_iov, g.bytes, g.more);
        if (n == Transport::kQueued) {
            in_flight_ = g.bytes;
            return Flush::kQueued;
        }
        if (n < 0) return n == -EAGAIN ? Flush::kBlocked : Flush::kError;
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
