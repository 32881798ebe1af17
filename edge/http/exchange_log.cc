#include "edge/http/exchange_log.h"

#include <algorithm>

#include "shared/base/assert.h"

namespace berth::edge
{

using shared::http::HeaderToken;

void ExchangeLog::add(const shared::http::RequestHead &req, std::string_view host, int status,
                      uint64_t head_end, uint64_t end, uint64_t start_us, TlsInfo tls,
                      const ExchangeNotes &notes)
{
    BERTH_ASSERT(count_ < kMaxOpen); // the connection answers no more while full()
    Entry &e = ring_[(head_ + count_) % kMaxOpen];
    ++count_;
    e.head_end = head_end;
    e.end = end;
    e.start_us = start_us;
    e.status = status;
    e.http10 = req.is_http10();
    e.tls = tls;
    e.text_at = uint32_t(text_.size());
    std::string_view parts[5] = {host, req.method_name, req.target, req.get(HeaderToken::kReferer),
                                 req.get(HeaderToken::kUserAgent)};
    for (size_t i = 0; i < 5; ++i) {
        e.len[i] = uint32_t(parts[i].size());
        text_.append(parts[i]);
    }
    store_notes(e, notes);
}

void ExchangeLog::store_notes(Entry &e, const ExchangeNotes &notes)
{
    // Only the newest entry's text may be replaced: it is the last one in text_.
    size_t keep = e.text_at;
    for (size_t i = 0; i < 5; ++i)
        keep += e.len[i];
    text_.resize(keep);
    std::string_view parts[4] = {notes.upstream, notes.error, notes.request_id, notes.country};
    for (size_t i = 0; i < 4; ++i) {
        e.len[5 + i] = uint32_t(parts[i].size());
        text_.append(parts[i]);
    }
    e.upstream_us = notes.upstream_us;
}

void ExchangeLog::set_end(uint64_t end, int status, uint64_t head_end, const ExchangeNotes *notes)
{
    if (count_ == 0) return;
    Entry &e = ring_[(head_ + count_ - 1) % kMaxOpen];
    if (notes) store_notes(e, *notes);
    e.end = end;
    if (status) e.status = status;
    e.head_end = head_end ? head_end : end;
}

void ExchangeLog::write(const Entry &e, uint64_t sent, uint64_t now_us, AccessLog &log,
                        const sockaddr_storage *peer) const
{
    std::string_view parts[kTexts];
    size_t at = e.text_at;
    for (size_t i = 0; i < kTexts; ++i) {
        parts[i] = std::string_view(text_).substr(at, e.len[i]);
        at += e.len[i];
    }
    AccessRecord r;
    r.peer = peer;
    r.host = parts[0];
    r.method = parts[1];
    r.target = parts[2];
    r.referer = parts[3];
    r.user_agent = parts[4];
    r.http10 = e.http10;
    r.tls_version = e.tls.version ? std::string_view(e.tls.version) : std::string_view();
    r.tls_resumed = e.tls.resumed;
    r.status = e.status;
    r.notes = {parts[5], parts[6], parts[7], parts[8], e.upstream_us};
    uint64_t body_end = std::min(sent, e.end);
    r.bytes = body_end > e.head_end ? body_end - e.head_end : 0;
    r.duration_us = now_us > e.start_us ? now_us - e.start_us : 0;
    log.log(r);
}

void ExchangeLog::pop() noexcept
{
    head_ = (head_ + 1) % kMaxOpen;
    if (--count_ == 0) {
        head_ = 0;
        text_.clear();
    }
}

void ExchangeLog::advance(uint64_t sent, uint64_t now_us, AccessLog &log,
                          const sockaddr_storage *peer)
{
    while (count_ > 0 && ring_[head_].end <= sent) {
        write(ring_[head_], sent, now_us, log, peer);
        pop();
    }
}

void ExchangeLog::finish_all(uint64_t sent, uint64_t now_us, AccessLog &log,
                             const sockaddr_storage *peer)
{
    while (count_ > 0) {
        write(ring_[head_], sent, now_us, log, peer);
        pop();
    }
}

void ExchangeLog::clear() noexcept
{
    head_ = count_ = 0;
    text_.clear();
}

} // namespace berth::edge
