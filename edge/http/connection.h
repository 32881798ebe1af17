// Parse step: one client connection. Reads into a fixed head buffer, parses with llhttp,
// answers each request in order, and writes through the OutputQueue. Keep-alive, pipelining,
// timeouts (header, idle, send stall) and lingering close live here.
#pragma once

#include <cstdint>
#include <memory>
#include <sys/socket.h>

#include "edge/core/io_loop.h"
#include "edge/write/output_queue.h"
#include "edge/write/page_cache.h"
#include "shared/base/intrusive_list.h"
#include "shared/http/request_parser.h"

namespace berth::edge
{

class Worker;
struct Exchange;

class Connection final : public shared::IntrusiveHook<Connection>,
                         public IoWatcher,
                         public SendBatch::Sender,
                         public WarmTicket::Waiter,
                         public FileLoad::Waiter
{
public:
    // Takes ownership of the accepted, non-blocking socket fd.
    Connection(Worker &worker, int fd, const sockaddr_storage &peer);
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;
    ~Connection();

    // Joins the worker's IoLoop to wait for the request (reads at once while accepts are deferred).
    void start();
    // Timer sweep from the worker: enforces the deadline of the current state.
    void on_tick(uint64_t now_ms);
    // Graceful stop: close when idle, otherwise after the response in progress.
    void drain();
    // Immediate close; the worker deletes the object after the current loop round.
    void close();
    void on_io(uint32_t events) override;
    // The file window the output waited for is in the page cache now.
    void on_warm() override;
    // The round's batched send of our output went (bytes or -errno).
    void on_sent(ssize_t result) override;
    // The file the current request waited for is in the cache: answer it now.
    void on_file_loaded() override;

private:
    enum class State : uint8_t { kOpen, kLingering, kClosing };
    enum class Deadline : uint8_t { kNone, kHeader, kIdle, kSend, kLinger };

    void on_readable();
    void on_writable();
    void process();
    // Answers the request; false when it waits for a file load (nothing written).
    bool respond(const shared::http::RequestHead &head);
    // The current message is answered and read to its end: ready for the next one.
    void next_message();
    void dispatch(Exchange &ex, std::string_view host);
    void fail(int status, std::string_view reason);
    void pump();
    void after_io();
    // Sends what the output holds: false when it cannot go on now (the connection closed, or
    // the output waits for the page cache or for the round's send batch).
    bool flush();
    // Queues the memory at the front of the output in the round's send batch; false when
    // batching is off or the batch is full.
    bool batch_send(bool closing);
    // Has the next file window read in on the threadpool; false if that cannot be queued.
    bool start_warm();
    void compact();
    void grow_input();
    void begin_linger();
    // Closing after the response needs no lingering (nothing unread, no error mid-request).
    bool clean_close() const noexcept;
    // Joins the worker's epoll set (edge-triggered, once for the connection's life).
    void watch();
    void rearm();
    bool idle() const noexcept;

    Worker &worker_;
    int fd_;
    State state_ = State::kOpen;
    sockaddr_storage peer_;

    static constexpr uint32_t kInitialInput = 2048;
    char *in_;                         // inline_in_ until a large head needs more
    std::unique_ptr<char[]> grown_in_; // owns in_ once grown
    char inline_in_[kInitialInput];
    uint32_t max_in_cap_; // head limit plus slack; in_ grows to this at most once
    uint32_t in_cap_;
    uint32_t in_len_ = 0;    // bytes read into in_
    uint32_t in_pos_ = 0;    // bytes consumed by the parser
    uint32_t msg_start_ = 0; // where the current message's head begins

    shared::http::RequestParser parser_;
    OutputQueue out_;
    bool responded_ = false; // current message answered at head-complete
    bool close_after_flush_ = false;
    bool read_eof_ = false;
    bool draining_ = false;
    bool watched_ = false;       // in the epoll set: only once we first have to wait
    bool input_pending_ = false; // the socket may hold unread bytes no new event will announce
    bool peer_shut_ = false;     // the client's FIN has arrived: read on to the EOF
    bool linger_needed_ = false; // an error response: drain the client before closing
    bool warming_ = false;       // output waits for file bytes to reach the page cache
    bool sending_ = false;       // output is in the round's send batch
    size_t batched_bytes_ = 0;   // what that batch entry asks the socket to take
    std::shared_ptr<WarmTicket> warm_ticket_;
    // The load the current request waits for. Meanwhile nothing is parsed or read (the head's
    // views point into in_), and output already queued keeps going.
    FileLoadRef file_load_;
    bool answer_completes_message_ = false; // that request was read whole before it waited

    Deadline deadline_kind_ = Deadline::kNone;
    uint64_t deadline_ms_ = 0;
    uint64_t request_start_ms_ = 0;
};

} // namespace berth::edge
