// Connection state machine: read → parse → respond (in order) → write → keep-alive or close.
// Requests are answered as soon as their head is parsed; a body that follows (rare on static
// routes) is consumed and dropped so the next pipelined request still parses.
#include "edge/http/connection.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <unistd.h>

#include "edge/core/nocancel.h"
#include "edge/core/worker.h"
#include "edge/http/exchange.h"
#include "edge/log/access_log.h"
#include "edge/redirect/redirect_handler.h"
#include "edge/static/static_handler.h"
#include "shared/http/host.h"

namespace berth::edge
{

using shared::http::Method;
using shared::http::ParseEvent;

namespace
{

shared::http::ParserLimits limits_from(const EdgeConfig &c)
{
    shared::http::ParserLimits l;
    l.max_head_bytes = c.max_header_bytes;
    l.max_target_bytes = c.max_url_bytes;
    l.max_header_count = c.max_header_count;
    l.max_body_bytes = c.max_body_bytes;
    return l;
}

constexpr uint64_t kLingerMs = 2000;

} // namespace

Connection::Connection(Worker &worker, int fd, const sockaddr_storage &peer)
    : worker_(worker), fd_(fd), peer_(peer),
      // The head must fit; a little slack lets a pipelined next request start behind it.
      max_in_cap_(worker.config().max_header_bytes + 1024),
      // Most requests are a few hundred bytes: start small, grow once for a large head, so
      // thousands of idle keep-alive connections stay cheap (#2: RSS no more than nginx's).
      in_cap_(std::min<uint32_t>(kInitialInput, max_in_cap_)),
      parser_(limits_from(worker.config())), out_(worker.take_head_buffer())
{
    in_ = inline_in_;
}

Connection::~Connection()
{
    if (warm_ticket_) warm_ticket_->waiting = nullptr;
    if (file_load_) file_load_->forget(this);
    if (fd_ >= 0) ::close(fd_);
    worker_.shared().connections.fetch_sub(1, std::memory_order_relaxed);
    unlink();
    worker_.give_back_head_buffer(out_.release_buffer());
    worker_.on_connection_closed(*this);
}

void Connection::start()
{
    deadline_kind_ = Deadline::kHeader;
    deadline_ms_ = worker_.now_ms() + worker_.config().header_timeout_ms;
    // While the listener defers accepts (defer_accept_policy.h) the request is already here:
    // read it now, and a connection answered and closed in this first pass never touches
    // epoll. Otherwise the request usually lands a moment after the accept, so a read now
    // would mostly find nothing; joining the epoll set reports bytes already there as well.
    if (worker_.deferring_accept())
        on_readable();
    else
        watch();
}

void Connection::close()
{
    if (state_ == State::kClosing) return;
    state_ = State::kClosing;
    if (warm_ticket_) warm_ticket_->waiting = nullptr; // a warm-up in flight finds nobody
    if (file_load_) file_load_->forget(this);
    file_load_.reset();
    if (sending_) worker_.io().sends().cancel(this); // before the fd number can be reused
    sending_ = false;
    out_.clear();
    ::close(fd_); // also takes it out of the epoll set
    fd_ = -1;
    worker_.defer_delete(this); // later events of this round may still name us
}

void Connection::watch()
{
    if (watched_ || state_ == State::kClosing) return;
    if (!worker_.io().watch(fd_, this)) {
        close();
        return;
    }
    watched_ = true;
}

void Connection::on_io(uint32_t events)
{
    if (state_ == State::kClosing) return; // closed earlier in this round
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) peer_shut_ = true;
    if ((events & EPOLLOUT) && !out_.empty()) on_writable();
    // Readable now, or bytes left waiting while the output was backed up (epoll reports the
    // whole readiness mask with a send-space event, but that is not ours to rely on).
    if (state_ != State::kClosing &&
        ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) || input_pending_))
        on_readable();
}

bool Connection::idle() const noexcept
{
    return out_.empty() && !parser_.in_message() && in_pos_ == in_len_;
}

void Connection::drain()
{
    draining_ = true;
    if (state_ == State::kOpen && idle()) close();
}

void Connection::on_readable()
{
    if (state_ == State::kLingering) {
        // Discard what the client still sends so our response is not lost to a RST.
        char sink[4096];
        while (true) {
            ssize_t n = recv_nocancel(fd_, sink, sizeof sink);
            if (n > 0) continue;
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) return;
            close();
            return;
        }
    }
    // Edge-triggered: read until a short read (the socket was empty at that moment; later
    // bytes bring a new event) or EAGAIN. While responses are backed up, read nothing and
    // remember that bytes may be waiting: on_io comes back here once they have left.
    while (state_ == State::kOpen) {
        if (!out_.empty() || file_load_) {
            input_pending_ = true;
            return;
        }
        if (in_len_ == in_cap_) {
            compact();
            if (in_len_ == in_cap_ && in_cap_ < max_in_cap_) grow_input();
            if (in_len_ == in_cap_) {
                // A head larger than the buffer (the buffer is sized to the head limit).
                bool in_target = parser_.head().header_count == 0;
                fail(in_target ? 414 : 431, "request head exceeds the configured limit");
                pump();
                after_io();
                return;
            }
        }
        uint32_t room = in_cap_ - in_len_;
        ssize_t n = recv_nocancel(fd_, in_ + in_len_, room);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                input_pending_ = false;
                watch(); // nothing more to read: wait for the next event
                return;
            }
            close();
            return;
        }
        input_pending_ = uint32_t(n) == room || peer_shut_;
        if (n == 0)
            read_eof_ = true; // answer what is complete, then close
        else
            in_len_ += uint32_t(n);
        pump();
        after_io();
        if (!input_pending_ || read_eof_) return;
    }
}

void Connection::on_writable()
{
    pump();
    after_io();
}

void Connection::pump()
{
    // Parse and answer, write, and go on while the socket keeps up with a pipeline. Nothing
    // is answered while the output is in the send batch: the batch points into its buffer.
    if (sending_) return;
    for (int round = 0; round < 64 && state_ == State::kOpen; ++round) {
        process();
        if (!flush()) return;
        if (!out_.empty() || close_after_flush_ || file_load_ || in_pos_ >= in_len_) return;
    }
}

void Connection::after_io()
{
    if (state_ != State::kOpen) return;
    if (!out_.empty()) {
        // A send-space event resumes us. Output in the round's send batch is not waiting
        // yet: on_sent comes back here if the socket did not take it all, and a connection
        // answered and closed within its first round never joins the epoll set.
        if (!sending_) watch();
        rearm();
        return;
    }
    if (file_load_) { // the answer comes once the file is in, even after the client's FIN
        rearm();
        return;
    }
    if (close_after_flush_) {
        // Linger only when the client may still be sending (an error mid-request, unread
        // bytes): closing with unread input would reset the connection and could destroy
        // the response before the client reads it. A clean "Connection: close" just closes.
        bool clean = !linger_needed_ && in_pos_ == in_len_ && !parser_.in_message();
        if (read_eof_ || clean)
            close();
        else
            begin_linger();
        return;
    }
    if (read_eof_ || (draining_ && idle())) {
        close();
        return;
    }
    watch();
    rearm();
}

void Connection::process()
{
    if (file_load_) return; // no compact() either: the waiting head's views point into in_
    while (state_ == State::kOpen && !close_after_flush_ && in_pos_ < in_len_) {
        if (!out_.has_room()) break; // let the socket drain before answering more
        auto r = parser_.feed(in_ + in_pos_, in_len_ - in_pos_);
        in_pos_ += uint32_t(r.consumed);
        if (r.event == ParseEvent::kNeedMore) break;
        if (r.event == ParseEvent::kError) {
            fail(parser_.error_status(), parser_.error_reason());
            break;
        }
        if (r.event == ParseEvent::kHeadComplete) {
            if (!respond(parser_.head())) return; // the head's views must stay where they are
            responded_ = true;
            continue;
        }
        if (!responded_ && !respond(parser_.head())) {
            answer_completes_message_ = true;
            return;
        }
        next_message();
    }
    compact();
}

void Connection::next_message()
{
    responded_ = false;
    parser_.reset_message();
    msg_start_ = in_pos_;
}

void Connection::on_file_loaded()
{
    file_load_.reset();
    if (state_ != State::kOpen) return;
    if (!respond(parser_.head())) return; // the next file it needs is loading now
    if (answer_completes_message_) {
        answer_completes_message_ = false;
        next_message();
    } else {
        responded_ = true;
    }
    pump();
    after_io();
    // Reads paused while we waited; no new event will announce those bytes.
    if (state_ == State::kOpen && input_pending_ && out_.empty()) on_readable();
}

void Connection::grow_input()
{
    std::unique_ptr<char[]> bigger(new char[max_in_cap_]);
    std::memcpy(bigger.get(), in_, in_len_);
    if (parser_.in_message() && !parser_.head_complete())
        parser_.rebase(reinterpret_cast<std::intptr_t>(bigger.get()) -
                       reinterpret_cast<std::intptr_t>(in_)); // head views move along
    grown_in_ = std::move(bigger);
    in_ = grown_in_.get();
    in_cap_ = max_in_cap_;
}

void Connection::compact()
{
    if (in_pos_ == in_len_ && !parser_.in_message()) {
        in_pos_ = in_len_ = msg_start_ = 0; // the common case: no copy at all
        return;
    }
    if (in_cap_ - in_len_ > in_cap_ / 4) return; // enough room left to read on
    bool mid_head = parser_.in_message() && !parser_.head_complete();
    uint32_t from = mid_head ? msg_start_ : in_pos_;
    if (from == 0) return;
    std::memmove(in_, in_ + from, in_len_ - from);
    if (mid_head) parser_.rebase(-std::ptrdiff_t(from));
    in_len_ -= from;
    in_pos_ -= from;
    msg_start_ = msg_start_ >= from ? msg_start_ - from : 0;
}

bool Connection::respond(const shared::http::RequestHead &head)
{
    Exchange ex{head, out_, worker_};
    ex.head_only = head.method == Method::kHead;
    ex.close = !head.keep_alive || draining_ || worker_.draining();
    size_t unanswered = out_.buffer().size(); // taken back if the answer must wait
    if (head.has_body && head.expect_continue &&
        (head.method == Method::kGet || head.method == Method::kHead ||
         head.method == Method::kOptions))
        out_.buffer().append("HTTP/1.1 100 Continue\r\n\r\n");
    char host_buf[shared::http::kMaxHostLength]; // the normalised host, for routing and the log
    std::string_view host = shared::http::normalize_host(head.host, host_buf, sizeof host_buf);
    dispatch(ex, host);
    if (ex.pending) {
        out_.buffer().resize(unanswered);
        file_load_ = std::move(ex.pending);
        file_load_->wait(this);
        return false;
    }
    deadline_kind_ = Deadline::kNone; // each answered request restarts the idle/header clocks
    if (ex.close) close_after_flush_ = true;
    worker_.stats().requests.add(1);
    if (AccessLog *log = worker_.access_log()) {
        AccessRecord rec;
        rec.peer = &peer_;
        rec.req = &head;
        rec.host = host;
        rec.status = ex.status;
        rec.bytes = ex.body_bytes;
        log->log(rec);
    }
    return true;
}

void Connection::dispatch(Exchange &ex, std::string_view host)
{
    const auto &head = ex.req;
    if (head.target == "*") { // OPTIONS * : the server's own capabilities
        ex.begin(204);
        ex.writer().header("Allow", kStaticAllow);
        ex.end_head();
        return;
    }
    if (host.empty() && !head.host.empty()) {
        ex.close = true;
        send_error(ex, 400, "Bad Request", "The Host header is not a valid host name.");
        return;
    }
    char scratch[512];
    RouteTarget target = worker_.router().route(worker_.routes(), host, scratch, sizeof scratch);
    switch (target.kind) {
    case RouteTarget::Kind::kStatic:
        serve_static(ex, target);
        return;
    case RouteTarget::Kind::kRedirect:
        serve_redirect(ex, *target.route);
        return;
    case RouteTarget::Kind::kProxy:
        send_error(ex, 502, "Bad Gateway", "Proxy routes are not served by this edge build yet.");
        return;
    case RouteTarget::Kind::kUnknownHost:
        send_error(ex, 404, "Unknown host", "No deployment is served at this host name.");
        return;
    }
}

void Connection::fail(int status, std::string_view reason)
{
    close_after_flush_ = true;
    linger_needed_ = true;
    in_pos_ = in_len_;
    if (responded_ || status == 0) return; // the response already left; just close after it
    Exchange ex{parser_.head(), out_, worker_};
    ex.close = true;
    send_error(ex, status, shared::http::reason_phrase(status), reason);
    responded_ = true;
}

bool Connection::flush()
{
    if (state_ != State::kOpen || warming_ || sending_) return false;
    uint64_t written = 0;
    bool closing = close_after_flush_ && clean_close();
    if (out_.memory_first() && batch_send(closing)) return false;
    OutputQueue::Flush r;
    while ((r = out_.flush(fd_, written, closing, worker_.now_ms())) == OutputQueue::Flush::kCold) {
        if (start_warm()) break;
        out_.mark_warm(); // no threadpool to read it in: send it as it is
    }
    worker_.stats().bytes_out.add(written);
    if (written && deadline_kind_ == Deadline::kSend)
        deadline_ms_ = worker_.now_ms() + worker_.config().send_timeout_ms;
    if (r == OutputQueue::Flush::kError) {
        close();
        return false;
    }
    return true;
}

bool Connection::batch_send(bool closing)
{
    SendBatch::Slot *slot = worker_.io().sends().reserve(this, fd_);
    if (!slot) return false;
    OutputQueue::Gathered g = out_.gather(slot->iov, closing);
    slot->n_iov = g.n_iov;
    slot->flags = g.flags;
    batched_bytes_ = g.bytes;
    sending_ = true;
    return true;
}

void Connection::on_sent(ssize_t result)
{
    sending_ = false;
    worker_.stats().batched_sends.add(1);
    if (state_ != State::kOpen) return;
    if (result < 0 && result != -EAGAIN && result != -EINTR) {
        close();
        return;
    }
    if (result > 0) {
        out_.consume(size_t(result));
        worker_.stats().bytes_out.add(uint64_t(result));
        if (deadline_kind_ == Deadline::kSend)
            deadline_ms_ = worker_.now_ms() + worker_.config().send_timeout_ms;
    }
    // The socket is full (EAGAIN, or it took only part): a send-space event resumes us, as
    // after a direct sendmsg. Otherwise go on with what followed (the body's next piece, a
    // file body, the next pipelined response, the bytes left unread meanwhile).
    if (result == -EAGAIN || (result >= 0 && size_t(result) < batched_bytes_)) {
        after_io();
        return;
    }
    on_writable();
    if (state_ == State::kOpen && input_pending_ && out_.empty()) on_readable();
}

bool Connection::start_warm()
{
    if (!warm_ticket_) warm_ticket_ = std::make_shared<WarmTicket>();
    OutputQueue::ColdWindow w = out_.cold_window();
    if (!worker_.warmer().warm(w.fd, w.offset, w.length, std::move(w.keep), warm_ticket_))
        return false;
    warm_ticket_->waiting = this;
    warming_ = true;
    worker_.stats().cold_file_reads.add(1);
    return true;
}

void Connection::on_warm()
{
    warming_ = false;
    out_.mark_warm();
    on_writable();
    // Reads paused while the output was backed up; no new event will announce those bytes.
    if (state_ == State::kOpen && input_pending_) on_readable();
}

bool Connection::clean_close() const noexcept
{
    return !linger_needed_ && in_pos_ == in_len_ && !parser_.in_message();
}

void Connection::begin_linger()
{
    ::shutdown(fd_, SHUT_WR);
    state_ = State::kLingering;
    deadline_kind_ = Deadline::kLinger;
    deadline_ms_ = worker_.now_ms() + kLingerMs;
    watch();
    on_readable(); // bytes already waiting would bring no new edge-triggered event
}

void Connection::rearm()
{
    if (state_ != State::kOpen) return;
    uint64_t now = worker_.now_ms();
    const EdgeConfig &c = worker_.config();
    if (!out_.empty()) {
        if (deadline_kind_ != Deadline::kSend) {
            deadline_kind_ = Deadline::kSend;
            deadline_ms_ = now + c.send_timeout_ms;
        }
        return;
    }
    if (parser_.in_message() || in_pos_ < in_len_) {
        if (deadline_kind_ != Deadline::kHeader) { // not extended by more bytes (slowloris)
            deadline_kind_ = Deadline::kHeader;
            deadline_ms_ = now + c.header_timeout_ms;
        }
        return;
    }
    if (deadline_kind_ != Deadline::kIdle) {
        deadline_kind_ = Deadline::kIdle;
        deadline_ms_ = now + c.idle_timeout_ms;
    }
}

void Connection::on_tick(uint64_t now)
{
    if (state_ == State::kClosing || deadline_ms_ == 0 || now < deadline_ms_) return;
    if (file_load_) { // the disk did not give the file within the header timeout
        close();
        return;
    }
    if (deadline_kind_ == Deadline::kHeader && state_ == State::kOpen && out_.empty() &&
        (parser_.in_message() || in_len_ > 0)) {
        fail(408, "The request head did not arrive in time.");
        deadline_kind_ = Deadline::kNone;
        pump();
        after_io();
        return;
    }
    close();
}

} // namespace berth::edge
