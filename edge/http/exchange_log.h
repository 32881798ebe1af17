// The access-log lines of one connection's answered exchanges, written when each answer has
// left (its last byte handed to the socket), with the body bytes that really went and the
// time it took — not when the answer was queued. A request's head lives in the connection's
// input buffer, which is reused before its answer has left, so the strings the line needs are
// copied here when the exchange is answered.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/socket.h>

#include "edge/log/access_log.h"
#include "edge/transport/transport.h"
#include "shared/http/request_head.h"

namespace berth::edge
{

class ExchangeLog
{
public:
    static constexpr size_t kMaxOpen = 32;
    // The end of an answer still being streamed.
    static constexpr uint64_t kStreaming = UINT64_MAX;

    bool full() const noexcept { return count_ == kMaxOpen; }
    bool empty() const noexcept { return count_ == 0; }

    // An answered exchange: its head ends at head_end and the whole answer at end, as
    // offsets in the output stream (OutputQueue::queued_total()); end is kStreaming while a
    // task produces it. start_us: when its head was parsed.
    void add(const shared::http::RequestHead &req, std::string_view host, int status,
             uint64_t head_end, uint64_t end, uint64_t start_us, TlsInfo tls = {},
             const ExchangeNotes &notes = {});
    // The streamed answer (the newest exchange) ended at `end`; its head at head_end. Notes
    // known only at the end (the upstream, its time) replace the ones given to add().
    void set_end(uint64_t end, int status, uint64_t head_end, const ExchangeNotes *notes = nullptr);
    // The output stream reached `sent` bytes: writes the lines of the answers that are out.
    void advance(uint64_t sent, uint64_t now_us, AccessLog &log, const sockaddr_storage *peer);
    // The connection is closing: writes every line left, with what reached the socket.
    void finish_all(uint64_t sent, uint64_t now_us, AccessLog &log, const sockaddr_storage *peer);
    void clear() noexcept;

private:
    static constexpr size_t kTexts = 9;
    struct Entry {
        uint64_t head_end = 0;
        uint64_t end = 0;
        uint64_t start_us = 0;
        int status = 0;
        bool http10 = false;
        TlsInfo tls;
        int64_t upstream_us = -1;
        // host, method, target, referer, user agent, then the notes' upstream, error,
        // request id and country, one after another
        uint32_t text_at = 0;
        uint32_t len[kTexts] = {};
    };
    void write(const Entry &e, uint64_t sent, uint64_t now_us, AccessLog &log,
               const sockaddr_storage *peer) const;
    void pop() noexcept;
    void store_notes(Entry &e, const ExchangeNotes &notes);

    Entry ring_[kMaxOpen];
    size_t head_ = 0;
    size_t count_ = 0;
    std::string text_; // capacity kept: no allocation per exchange once warm
};

} // namespace berth::edge
