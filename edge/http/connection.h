// Parse step: one client connection. Reads through its transport into a buffer, parses with
// llhttp, answers each request in order through the handler its route names, and writes
// through the OutputQueue. Keep-alive, pipelining, timeouts (header, idle, send stall),
// lingering close and streamed exchanges live here. An idle connection keeps only this
// object and its transport: the buffers, parser and output go back to the worker's pool.
#pragma once

#include <cstdint>
#include <memory>
#include <sys/socket.h>

#include "edge/http/busy_state.h"
#include "edge/http/connection_context.h"
#include "edge/http/exchange.h"
#include "edge/io/wake_list.h"
#include "edge/transport/transport.h"
#include "edge/write/page_cache.h"
#include "shared/base/intrusive_list.h"

namespace berth::edge
{

class Connection final : public shared::IntrusiveHook<Connection>,
                         public TransportUser,
                         public Waiter,
                         public WarmTicket::Waiter,
                         public ExchangeStream
{
public:
    // The transport stays the connection's for its whole life (the owner recycles it after
    // the connection is destroyed).
    Connection(ConnectionContext &ctx, Transport &transport, const sockaddr_storage &peer);
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;
    ~Connection();

    // request_waiting: the request came with the connection (deferred accept): read it now.
    // Otherwise join the loop and wait for it.
    void start(bool request_waiting);
    // Timer sweep from the worker: enforces the deadline of the current state.
    void on_tick(uint64_t now_ms);
    // Graceful stop: close when idle, otherwise after the response in progress.
    void drain();
    // Immediate close; the owner deletes the object after the current loop round.
    void close();

    Transport &transport() noexcept { return *transport_; }
    bool closed() const noexcept { return state_ == State::kClosing; }
    // Holds buffers from the pool (false for an idle keep-alive connection).
    bool busy() const noexcept { return busy_ != nullptr; }

    void on_ready(uint8_t readiness) override;
    // The round's batched send of our output went (bytes or -errno).
    void on_sent(ssize_t result) override;
    // What the current request waited for (a file load) is done: answer it now.
    void on_wake() override;
    // The file window the output waited for is in the page cache now.
    void on_warm() override;
    void resume_output() override;
    void resume_body() override;
    void upgrade() override;
    // The worker's call for a connection that deferred its pump (ConnectionOwner::defer).
    void pump_deferred();

private:
    enum class State : uint8_t { kOpen, kLingering, kClosing };
    enum class Deadline : uint8_t { kNone, kHeader, kIdle, kSend, kLinger };

    void on_readable();
    void on_writable();
    // Stop reading for now (output backed up, a wait, a task holding body bytes).
    bool reads_paused() const noexcept;
    // The client closed while a streamed answer is on its way and has nothing left to ask.
    bool task_abandoned() const noexcept;
    void take_busy();
    // parser_clean: released between keep-alive messages (not at a close).
    void release_busy(bool parser_clean = false) noexcept;
    void process();
    // Answers the request; false when it waits (nothing written).
    bool respond(const shared::http::RequestHead &head);
    void dispatch(Exchange &ex);
    // The client's country (GeoIP) and whether the peer is a trusted proxy, for `ex`.
    void identify_client(Exchange &ex);
    // The request body limit for a head (the route's, else [limits] max_body_bytes).
    static uint64_t body_limit(void *self, const shared::http::RequestHead &head) noexcept;
    // A tunnel (after upgrade()): the client's bytes go to the task as they are.
    void feed_tunnel();
    void log_answer(const Exchange &ex, bool streaming);
    // The current message is answered and read to its end: ready for the next one.
    void next_message();
    void fail(int status, std::string_view reason);
    void pump();
    void pull_task();
    void end_task(bool completed);
    void after_io();
    // Sends what the output holds: false when it cannot go on now (the connection closed, or
    // the output waits for the page cache or for the round's send batch).
    bool flush();
    void note_sent(uint64_t bytes);
    // Has the next file window read in on the threadpool; false if that cannot be queued.
    bool start_warm();
    void compact();
    void grow_input();
    void begin_linger();
    // Closing after the response needs no lingering (nothing unread, no error mid-request).
    bool clean_close() const noexcept;
    void watch();
    void rearm();
    bool idle() const noexcept;
    uint64_t now_us() const noexcept;

    ConnectionContext &ctx_;
    Transport *transport_;
    BusyState *busy_ = nullptr; // from ctx_.busy while there is work in hand
    State state_ = State::kOpen;
    sockaddr_storage peer_;
    bool secure_; // over TLS: HSTS on answers, no HTTP→HTTPS redirect

    bool responded_ = false; // current message answered at head-complete
    bool close_after_flush_ = false;
    // The connection closes once the streamed exchange ends (Connection: close, HTTP/1.0):
    // not sooner, since the task still reads the request body from it.
    bool close_after_task_ = false;
    bool read_eof_ = false;
    bool draining_ = false;
    bool input_pending_ = false; // the socket may hold unread bytes no new event will announce
    bool peer_shut_ = false;     // the client's FIN has arrived: read on to the EOF
    bool linger_needed_ = false; // an error response: drain the client before closing
    bool warming_ = false;       // output waits for file bytes to reach the page cache
    bool pumping_ = false;
    bool answer_completes_message_ = false; // the waiting request was read whole before it waited
    bool tunnel_ = false;            // the exchange switched protocols: bytes go to the task raw
    bool tunnel_eof_ = false;        // the client's end of stream was handed to the tunnel
    int8_t peer_trusted_ = -1;       // -1: not looked at yet
    bool country_known_ = false;     // country_ holds the peer's lookup
    Country country_;                // the TCP peer's country (looked up once per connection)
    char forwarded_country_[2] = {}; // a trusted proxy's client: looked up per request
    std::shared_ptr<WarmTicket> warm_ticket_;
    // What the current request waits for. Meanwhile nothing is parsed or read (the head's
    // views point into the input buffer), and output already queued keeps going.
    WakeRef waiting_;
    uint64_t exchange_start_us_ = 0; // when the waiting or streaming exchange's head was parsed

    // A streamed exchange (ExchangeTask) and the request body bytes it has not taken yet.
    ExchangeTask *task_ = nullptr;
    bool task_reads_body_ = false;
    bool task_waiting_ = false; // pull() said kWait
    bool body_fed_ = false;     // a body piece went to the task: feed once more (process())
    uint32_t held_at_ = 0;      // offset of the held body bytes in the input buffer
    uint32_t held_len_ = 0;

    Deadline deadline_kind_ = Deadline::kNone;
    uint64_t deadline_ms_ = 0;

    static constexpr int kPumpRounds = 64; // per turn: other connections of the loop go on
    DeferredPump pump_later_{this};
};

} // namespace berth::edge
