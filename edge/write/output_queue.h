// Write step: per-connection output — response heads in one reusable buffer, bodies by
// reference, in order — sent through the connection's transport.
//
// Heads and small bodies leave in one gathered send; file ranges go by Transport::send_file
// (sendfile on a plain socket), so their bytes never cross user space. A segment holds a
// reference to whatever owns its bytes (a cache entry) until they are written. A file goes
// out one window at a time, each checked to be in the page cache first (page_cache.h): a send
// must not wait on the disk on the loop thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <sys/uio.h>

#include "edge/transport/transport.h"

namespace berth::edge
{

// Keeps the bytes (or the descriptor) of a queued segment alive until it is written.
using Keep = std::shared_ptr<const void>;

// An open file a response body is sent from.
struct FileSource {
    int fd = -1;
    uint64_t size = 0; // the whole file's size
    // When a file of up to one window was last found whole in the page cache (loop thread
    // only); a file found less than a second ago is not checked again.
    uint64_t *resident_checked_ms = nullptr;
};

class OutputQueue
{
public:
    static constexpr size_t kMaxSegments = Transport::kMaxIov;

    // kCold: the next file window is not in the page cache; warm cold_window() and call
    // mark_warm() before flushing again. kQueued: the transport holds the front bytes for the
    // round's batch; nothing may change until sent() reports the result.
    enum class Flush : uint8_t { kDone, kBlocked, kError, kCold, kQueued };
    static constexpr uint64_t kWindow = 1 << 20;

    struct ColdWindow {
        int fd;
        uint64_t offset;
        uint64_t length;
        Keep keep;
    };

    OutputQueue() = default; // the head buffer grows on first use and keeps its capacity

    // Bytes copied into the head buffer (status line, headers, generated bodies).
    std::string &buffer() noexcept { return buf_; }
    // Marks buffer bytes appended since the last mark as the next segment.
    void commit_buffer() noexcept;
    // A body owned by someone else, alive as long as `keep`.
    void push_memory(const char *data, size_t len, Keep keep) noexcept;
    void push_file(const FileSource &file, uint64_t offset, uint64_t len, Keep keep) noexcept;

    // Sends as much as the transport takes. kBlocked: wait for kWritable and call again.
    // closing: the transport is closed right after this flush, so the last bytes are held
    // back and leave together with the FIN: one packet, not two.
    Flush flush(Transport &t, uint64_t &bytes_written, bool closing, uint64_t now_ms) noexcept;
    // The result of a send flush() left queued (kQueued): bytes taken or -errno. kDone: go on
    // flushing; kBlocked: the socket is full; kError: broken.
    Flush sent(ssize_t result, uint64_t &bytes_written) noexcept;
    bool in_flight() const noexcept { return in_flight_ > 0; }

    // One send takes at most this much: the kernel builds a send from 32 KiB page fragments,
    // and larger sends cost more than their size (a 100 KiB body sent whole: 23k requests per
    // CPU second; in 32 KiB pieces: 38k, #2).
    static constexpr size_t kMaxSendBytes = 32 * 1024;

    bool empty() const noexcept { return count_ == 0 && committed_ == buf_.size(); }
    // Room for one more response (head + body segment)?
    bool has_room() const noexcept
    {
        return count_ + 3 <= kMaxSegments && buf_.size() < 256 * 1024;
    }
    // Every byte ever queued (sent or not): marks where a response ends in the stream.
    uint64_t queued_total() const noexcept { return pushed_ + (buf_.size() - committed_); }
    // Every byte ever handed to the transport.
    uint64_t sent_total() const noexcept { return sent_; }
    // Bytes queued and not sent yet.
    uint64_t unsent() const noexcept { return queued_total() - sent_; }
    void clear() noexcept;

    // After kCold: the window to read in, and the word that it now is.
    ColdWindow cold_window() const noexcept;
    void mark_warm() noexcept;

private:
    struct Segment {
        enum class Kind : uint8_t { kBuffer, kMemory, kFile };
        Kind kind = Kind::kBuffer;
        int fd = -1;
        const char *data = nullptr; // kMemory
        uint64_t offset = 0;        // kBuffer: into buf_; kFile: file offset
        uint64_t length = 0;
        uint64_t warm_end = 0;           // kFile: bytes before this offset are in the page cache
        uint64_t file_size = 0;          // kFile
        uint64_t *resident_ms = nullptr; // kFile: FileSource::resident_checked_ms
        Keep keep;
    };
    struct Gathered {
        size_t n_iov = 0;
        size_t bytes = 0;
        bool more = false; // a file segment follows, or `closing`
    };
    Segment &push() noexcept;
    void pop() noexcept;
    // The iovecs of the memory segments at the front, up to kMaxSegments and kMaxSendBytes.
    Gathered gather(iovec *iov, bool closing) noexcept;
    // n bytes from the front have been sent.
    void consume(size_t n) noexcept;
    // The page-cache check before sending the file segment's next window.
    bool window_resident(Segment &s, uint64_t now_ms) noexcept;

    std::string buf_;
    size_t committed_ = 0; // buf_ bytes already described by segments
    uint64_t pushed_ = 0;  // bytes described by segments so far (queued_total)
    uint64_t sent_ = 0;    // bytes handed to the transport so far
    size_t in_flight_ = 0; // bytes of the send the transport queued (kQueued)
    Segment segments_[kMaxSegments];
    size_t head_ = 0;
    size_t count_ = 0;
};

} // namespace berth::edge
