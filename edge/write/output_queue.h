// Per-connection output: response heads in one reusable buffer, bodies by reference, in order.
//
// Heads and small cached bodies leave in one sendmsg() (writev); large files go by sendfile()
// from the cached descriptor, so their bytes never cross user space. Segments keep the cache
// entry that owns their bytes alive until they are written. A file goes out one window at a
// time, each checked to be in the page cache first (page_cache.h): sendfile() must not wait
// on the disk on the loop thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/uio.h>

#include "edge/static/file_cache.h"

namespace berth::edge
{

class OutputQueue
{
public:
    static constexpr size_t kMaxSegments = 32;

    // kCold: the next file window is not in the page cache; warm cold_window() and call
    // mark_warm() before flushing again.
    enum class Flush : uint8_t { kDone, kBlocked, kError, kCold };
    static constexpr uint64_t kWindow = 1 << 20;

    struct ColdWindow {
        int fd;
        uint64_t offset;
        uint64_t length;
        FileEntryRef keep;
    };

    OutputQueue() = default; // the head buffer grows on first use and keeps its capacity
    // Starts with a buffer some earlier queue grew (Worker::take_head_buffer).
    explicit OutputQueue(std::string buffer) noexcept : buf_(std::move(buffer)) { buf_.clear(); }

    // Bytes copied into the head buffer (status line, headers, generated bodies).
    std::string &buffer() noexcept { return buf_; }
    // Marks buffer bytes appended since the last mark as the next segment.
    void commit_buffer() noexcept;
    // A body owned by a cache entry.
    void push_memory(const char *data, size_t len, FileEntryRef keep) noexcept;
    void push_file(const FileBody &body, uint64_t offset, uint64_t len, FileEntryRef keep) noexcept;

    // Writes as much as the socket takes. kBlocked: wait for POLLOUT and call again.
    // closing: the socket is closed right after this flush, so the last bytes are held back
    // (MSG_MORE) and leave together with the FIN that close() adds: one packet, not two.
    // now_ms: a file found in the page cache less than a second ago is not checked again.
    Flush flush(int fd, uint64_t &bytes_written, bool closing, uint64_t now_ms) noexcept;

    // One sendmsg takes at most this much: the kernel builds a send from 32 KiB page
    // fragments, and larger sends cost more than their size (a 100 KiB body sent whole: 23k
    // requests per CPU second; in 32 KiB pieces: 38k, #2).
    static constexpr size_t kMaxSendBytes = 32 * 1024;

    struct Gathered {
        size_t n_iov = 0;
        size_t bytes = 0;
        int flags = 0; // MSG_MORE when a file segment follows or `closing` (see flush())
    };
    // The next bytes to send are in memory (not a file segment): sendable with gather().
    bool memory_first() noexcept;
    // The iovecs of the memory segments at the front, up to kMaxSegments and kMaxSendBytes.
    Gathered gather(iovec *iov, bool closing) noexcept;
    // n bytes from the front have been sent.
    void consume(size_t n) noexcept;

    bool empty() const noexcept { return count_ == 0 && committed_ == buf_.size(); }
    // Room for one more response (head + body segment)?
    bool has_room() const noexcept
    {
        return count_ + 3 <= kMaxSegments && buf_.size() < 256 * 1024;
    }
    void clear() noexcept;
    // Drops what is queued and hands the head buffer, capacity and all, to the next owner.
    std::string release_buffer() noexcept
    {
        clear();
        return std::move(buf_);
    }

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
        uint64_t warm_end = 0; // kFile: bytes before this offset were found in the page cache
        const FileBody *body = nullptr; // kFile; kept alive by `keep`
        FileEntryRef keep;
    };
    Segment &push() noexcept;
    // The page-cache check before sending the file segment's next window.
    bool window_resident(Segment &s, uint64_t now_ms) noexcept;
    void pop() noexcept;

    std::string buf_;
    size_t committed_ = 0; // buf_ bytes already described by segments
    Segment segments_[kMaxSegments];
    size_t head_ = 0;
    size_t count_ = 0;
};

} // namespace berth::edge
