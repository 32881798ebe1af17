// One proxied exchange (#14): sends the client's request to an upstream and relays the
// answer back, both bodies streamed with bounded buffers. The connection pulls the answer as
// its output drains (the upstream is read only then: a slow client slows the upstream, not
// the edge's memory) and hands the request body in pieces (taken only while the upstream
// send buffer has room). Retries, timeouts and the error answers (502/503/504) live here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edge/http/exchange.h"
#include "edge/proxy/proxy_headers.h"
#include "edge/proxy/upstream.h"
#include "shared/base/intrusive_list.h"
#include "shared/base/ip_text.h"
#include "shared/http/response_parser.h"

namespace berth::edge
{

class ProxyHandler;
struct RouteState;

class ProxyTask final : public ExchangeTask,
                        public UpstreamUser,
                        public shared::IntrusiveHook<ProxyTask>
{
public:
    static constexpr size_t kDownBuffer = 16 * 1024; // upstream bytes read, not yet relayed
    static constexpr size_t kMaxResponseHead = 12 * 1024;
    static constexpr size_t kUpBuffer = 64 * 1024; // request body bytes not yet sent upstream
    // A client that sent Expect: 100-continue hears 100 from the edge itself when the upstream
    // has said nothing this long (many apps never answer 100; curl waits 1 s, others longer).
    static constexpr uint64_t kContinueAfterMs = 1000;

    explicit ProxyTask(ProxyHandler &handler) noexcept;
    ProxyTask(const ProxyTask &) = delete;
    ProxyTask &operator=(const ProxyTask &) = delete;

    // Reused from request to request (its buffers keep their capacity): back to a fresh state.
    void reset() noexcept;

    // Takes the exchange: builds the upstream request and starts the first attempt. Returns
    // false when no upstream is available (nothing started; the caller answers 503).
    bool start(Exchange &ex, std::shared_ptr<RouteState> route, bool websocket);

    Pull pull(OutputQueue &out) override;
    size_t on_body(const char *data, size_t len) override;
    void on_body_end() override;
    int status() const noexcept override { return status_; }
    uint64_t head_end() const noexcept override { return head_end_; }
    ExchangeNotes notes() const noexcept override;
    void end(bool completed) override;

    void on_upstream_io(uint32_t events) override;
    void on_upstream_sent(ssize_t result) override;

    // The handler's timer sweep.
    void check_deadline(uint64_t now_ms);
    bool ended() const noexcept { return ended_; }

private:
    enum class Deadline : uint8_t { kNone, kConnect, kHeader, kIdle };

    // Begins an attempt on a picked upstream; false when no connection could be had.
    bool attempt(UpstreamTarget *same = nullptr);
    void attempt_failed(UpstreamFailure why);
    bool may_retry(UpstreamFailure why) const noexcept;
    // Nothing more can be relayed: the client gets an error page (before any byte of an
    // answer) or a cut connection (after).
    void give_up(int status, UpstreamFailure why);
    void flush_up();
    void after_sent(ssize_t result);
    void connected_now();
    // Pull helpers.
    Pull write_error(OutputQueue &out);
    Pull after_failure(OutputQueue &out);
    Pull pull_tunnel(OutputQueue &out);
    void make_room();
    Pull finish_response(OutputQueue &out);
    bool read_more(Pull &result); // false with result set when pull must return
    void finish_attempt(bool reusable);
    void wake_output();
    void set_deadline(Deadline d, uint32_t ms);
    bool request_sent() const noexcept;
    bool body_may_never_come() const noexcept;
    void release_body_hold();

    ProxyHandler &handler_;
    ExchangeStream *stream_ = nullptr;
    std::shared_ptr<RouteState> route_;
    UpstreamTarget *target_ = nullptr;
    UpstreamConn *conn_ = nullptr;
    std::vector<UpstreamTarget *> tried_;
    uint32_t attempts_ = 0;
    size_t address_tries_ = 0; // other addresses of the current upstream tried (a name's)
    uint64_t start_ms_ = 0;
    uint64_t start_us_ = 0;
    uint64_t attempt_start_us_ = 0;
    int64_t upstream_us_ = -1;

    // The request.
    std::string head_; // the request head for the upstream (kept for retries)
    size_t head_sent_ = 0;
    std::string body_; // framed body bytes not yet sent
    size_t body_sent_ = 0;
    bool body_any_sent_ = false; // a body byte left: the request cannot be replayed
    bool has_body_ = false;
    bool chunked_body_ = false;
    bool client_body_done_ = false;
    bool body_held_ = false; // on_body took less than offered: resume_body() owed
    bool idempotent_ = false;
    bool expect_continue_ = false;
    bool continue_relayed_ = false; // the client has its 100 Continue (the upstream's or ours)
    bool continue_owed_ = false;    // the upstream was silent for kContinueAfterMs: ours is due
    bool websocket_ = false;
    bool tunnel_ = false;
    bool tunnel_client_eof_ = false;
    bool in_on_body_ = false;
    bool stale_retry_used_ = false;
    bool in_flight_ = false; // counted in target_->in_flight
    uint32_t msg_start_ = 0; // where the current response message begins in down_
    char request_id_buf_[129] = {};
    size_t request_id_len_ = 0;
    char peer_ip_[shared::kIpTextMax] = {};

    // The answer.
    shared::http::ResponseParser parser_{kMaxResponseHead};
    ClientAnswer answer_;
    ClientFraming framing_ = ClientFraming::kNone;
    std::string path_; // for the route's header rules
    char country_[2] = {};
    size_t country_len_ = 0;
    int status_ = 0;
    uint64_t head_end_ = 0;
    uint32_t down_pos_ = 0;
    uint32_t down_len_ = 0;
    bool got_bytes_ = false;    // the upstream sent something in this attempt
    bool head_relayed_ = false; // the client has the answer's head
    bool response_done_ = false;
    bool pull_waiting_ = false; // pull() said kWait: wake the output on upstream news
    bool readable_ = false;     // the upstream may have bytes (an event came, no short read)
    bool peer_hup_ = false;     // the event said the upstream closed: read on to the end
    bool send_blocked_ = false; // the upstream's socket is full: wait for EPOLLOUT
    size_t sending_ = 0;        // bytes the send in progress was asked to take
    bool failed_ = false;
    int fail_status_ = 0;
    UpstreamFailure fail_why_ = UpstreamFailure::kCount;
    bool ended_ = false;

    Deadline deadline_ = Deadline::kNone;
    uint64_t deadline_ms_ = 0;

    char down_[kDownBuffer];
};

} // namespace berth::edge
