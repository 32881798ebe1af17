// Connection state machine: read → parse → respond (in order) → write → keep-alive or close.
// Requests are answered as soon as their head is parsed; a body that follows is handed to a
// streaming exchange that asked for it, or consumed and dropped so the next pipelined request
// still parses.
#include "edge/http/connection.h"

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "shared/base/assert.h"
#include "shared/http/host.h"

namespace berth::edge
{

using shared::http::Method;
using shared::http::ParseEvent;

namespace
{

constexpr uint64_t kLingerMs = 2000;
// A streamed answer is pulled while less than this is queued and unsent: the memory a
// connection holds for a download does not grow with the download.
constexpr uint64_t kStreamHighWater = 64 * 1024;

const RouteTarget kNoTarget{};

// A route's geo rules (#14): an allow list admits only its countries (an unknown country is
// not on it); a deny list refuses its own.
bool geo_allows(const shared::route::Route &r, std::string_view country) noexcept
{
    if (!r.allow_countries.empty()) {
        bool listed = false;
        for (const std::string &c : r.allow_countries)
            listed |= c == country;
        if (!listed) return false;
    }
    for (const std::string &c : r.deny_countries)
        if (c == country) return false;
    return true;
}

} // namespace

Connection::Connection(ConnectionContext &ctx, Transport &transport, const sockaddr_storage &peer)
    : ctx_(ctx), transport_(&transport), peer_(peer),
      secure_(transport.kind() == TransportKind::kTls)
{
    transport_->set_user(this);
}

Connection::~Connection()
{
    BERTH_ASSERT(state_ == State::kClosing); // the owner deletes only retired connections
    unlink();
}

uint64_t Connection::now_us() const noexcept
{
    return uv_hrtime() / 1000;
}

void Connection::start(bool request_waiting)
{
    deadline_kind_ = Deadline::kHeader;
    deadline_ms_ = ctx_.now_ms() + ctx_.config->header_timeout_ms;
    // While the listener defers accepts the request is already here: read it now, and a
    // connection answered and closed in this first pass never touches epoll. Otherwise the
    // request usually lands a moment after the accept, so a read now would mostly find
    // nothing; joining the epoll set reports bytes already there as well.
    if (request_waiting)
        on_readable();
    else
        watch();
}

void Connection::close()
{
    if (state_ == State::kClosing) return;
    state_ = State::kClosing;
    pump_later_.unlink();
    if (warm_ticket_) warm_ticket_->waiting = nullptr; // a warm-up in flight finds nobody
    if (task_) end_task(false);
    if (busy_) {
        if (ctx_.access_log) {
            if (waiting_) { // the client went away before its answer: 499, as nginx logs it
                Exchange gone{busy_->parser.head(), {}, kNoTarget, busy_->out, {}, 0};
                gone.status = 499;
                gone.head_end = busy_->out.queued_total();
                log_answer(gone, false);
            }
            busy_->log.finish_all(busy_->out.sent_total(), now_us(), *ctx_.access_log, &peer_);
        }
        release_busy();
    }
    if (waiting_) waiting_->forget(this);
    waiting_.reset();
    transport_->close();
    ctx_.owner->retire(*this); // later events of this round may still name us
}

void Connection::watch()
{
    if (state_ != State::kClosing && !transport_->watch()) close();
}

void Connection::take_busy()
{
    busy_ = ctx_.busy->take();
    busy_->parser.set_body_limit_fn(&Connection::body_limit, this);
}

uint64_t Connection::body_limit(void *self, const shared::http::RequestHead &head) noexcept
{
    // Asked only for a request with a body, before its head is answered: a proxy route may
    // allow more (uploads) or less than the global limit (#14).
    auto &c = *static_cast<Connection *>(self);
    char host_buf[shared::http::kMaxHostLength];
    std::string_view host = shared::http::normalize_host(head.host, host_buf, sizeof host_buf);
    char scratch[512];
    RouteTarget target = c.ctx_.router->route(c.ctx_.routes, host, scratch, sizeof scratch);
    if (target.route && target.route->max_body_bytes) return *target.route->max_body_bytes;
    return c.ctx_.config->max_body_bytes;
}

void Connection::release_busy(bool parser_clean) noexcept
{
    ctx_.busy->give(busy_, parser_clean);
    busy_ = nullptr;
}

void Connection::on_ready(uint8_t readiness)
{
    if (state_ == State::kClosing) return; // closed earlier in this round
    if (readiness & kHangup) peer_shut_ = true;
    // Send space, or a TLS transport's records all gone (a close waiting for them goes on).
    if ((readiness & kWritable) && ((busy_ && !busy_->out.empty()) || close_after_flush_))
        on_writable();
    // Readable now, or bytes left waiting while the output was backed up (the transport
    // reports the whole readiness with a send-space event, but that is not ours to rely on).
    if (state_ != State::kClosing && ((readiness & kReadable) || input_pending_)) on_readable();
}

bool Connection::idle() const noexcept
{
    return !busy_ || (busy_->out.empty() && busy_->input_idle() && !waiting_ && !task_);
}

void Connection::drain()
{
    draining_ = true;
    if (state_ == State::kOpen && idle()) close();
}

bool Connection::reads_paused() const noexcept
{
    if (!busy_) return false;
    if (waiting_ || held_len_ > 0) return true;
    if (busy_->out.empty()) return false;
    // Output backed up: read on only while a streamed exchange takes the request body (or a
    // tunnel's bytes), so an upload and its answer can flow at the same time.
    return !(task_ && task_reads_body_ && (busy_->parser.in_message() || tunnel_));
}

bool Connection::task_abandoned() const noexcept
{
    // Nothing unread is left that the client could want answered (a pipeline goes on), so
    // nobody reads this answer: nginx logs such a request 499 and Caddy cancels it too. A
    // long poll or an event stream otherwise holds its upstream until it next writes.
    return state_ == State::kOpen && task_ && !tunnel_ && busy_ && busy_->pos >= busy_->len;
}

void Connection::on_readable()
{
    if (state_ == State::kLingering) {
        // Discard what the client still sends so our response is not lost to a RST.
        char sink[4096];
        while (true) {
            ReadResult r = transport_->read(sink, sizeof sink);
            if (r.n > 0) continue;
            if (r.n == -EAGAIN) return;
            close();
            return;
        }
    }
    // Edge-triggered: read until the transport says nothing more is waiting (later bytes
    // bring a new event). While responses are backed up, read nothing and remember that bytes
    // may be waiting: on_ready comes back here once they have left.
    while (state_ == State::kOpen) {
        if (reads_paused()) {
            input_pending_ = true;
            return;
        }
        if (!busy_) take_busy();
        BusyState &b = *busy_;
        if (b.len == b.cap) {
            compact();
            if (b.len == b.cap && b.cap < b.max_cap) grow_input();
            if (b.len == b.cap && task_ && !tunnel_ && !b.parser.in_message()) {
                // Pipelined requests fill the buffer behind a streamed answer: they wait
                // (end_task reads on), they are not a head too large.
                input_pending_ = true;
                return;
            }
            if (b.len == b.cap) {
                // A head larger than the buffer (the buffer is sized to the head limit).
                bool in_target = b.parser.head().header_count == 0;
                fail(in_target ? 414 : 431, "request head exceeds the configured limit");
                pump();
                after_io();
                return;
            }
        }
        uint32_t room = b.cap - b.len;
        ReadResult r = transport_->read(b.in + b.len, room);
        if (r.n < 0) {
            if (r.n == -EAGAIN) {
                input_pending_ = false;
                if (idle()) release_busy(true); // nothing came: an idle connection holds no buffers
                watch();                        // nothing more to read: wait for the next event
                return;
            }
            close();
            return;
        }
        input_pending_ = r.more || peer_shut_;
        if (r.n == 0)
            read_eof_ = true; // answer what is complete, then close
        else
            b.len += uint32_t(r.n);
        pump();
        if (read_eof_ && task_abandoned()) {
            close(); // the upstream is let go now, not when it answers
            return;
        }
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
    if (!busy_ || busy_->out.in_flight() || pumping_) return;
    pumping_ = true;
    int round = 0;
    for (; round < kPumpRounds && state_ == State::kOpen; ++round) {
        if (task_) pull_task();
        process();
        if (!flush()) break;
        if (!busy_) break;
        BusyState &b = *busy_;
        bool task_can_go = task_ && !task_waiting_;
        if (!b.out.empty() || close_after_flush_ || waiting_ || (task_ && !task_can_go)) break;
        if (b.pos >= b.len && !task_can_go) break;
    }
    pumping_ = false;
    // Stopped by the cap with more to do (a streamed answer whose sends all went out at once,
    // a long pipeline): no event will come back for it, so the worker pumps again after the
    // round's other connections had their turn.
    if (round == kPumpRounds && state_ == State::kOpen) ctx_.owner->defer(pump_later_);
}

void Connection::pump_deferred()
{
    if (state_ != State::kOpen) return;
    on_writable();
    if (state_ == State::kOpen && input_pending_ && !reads_paused()) on_readable();
}

void Connection::after_io()
{
    if (state_ != State::kOpen) return;
    if (!busy_) { // idle keep-alive: nothing buffered, nothing to send
        if (read_eof_ || draining_) {
            close();
            return;
        }
        watch();
        rearm();
        return;
    }
    BusyState &b = *busy_;
    if (!b.out.empty() || (close_after_flush_ && !transport_->flushed())) {
        // A send-space event resumes us. Output in the round's send batch is not waiting
        // yet: on_sent comes back here if the socket did not take it all, and a connection
        // answered and closed within its first round never joins the epoll set. A TLS
        // transport's records still leaving hold a close back until they are gone.
        if (!b.out.in_flight()) watch();
        rearm();
        return;
    }
    if (waiting_ || task_) { // the answer comes once the wait is over, even after the client's FIN
        if (task_) watch();
        rearm();
        return;
    }
    if (close_after_flush_) {
        // Linger only when the client may still be sending (an error mid-request, unread
        // bytes): closing with unread input would reset the connection and could destroy
        // the response before the client reads it. A clean "Connection: close" just closes.
        if (read_eof_ || clean_close())
            close();
        else
            begin_linger();
        return;
    }
    if (read_eof_ || (draining_ && idle())) {
        close();
        return;
    }
    if (b.input_idle()) release_busy(true); // idle keep-alive: the buffers go back to the pool
    watch();
    rearm();
}

void Connection::process()
{
    // While waiting, nothing moves: the waiting head's views point into the input buffer; and
    // body bytes a task holds must stay where they are.
    if (!busy_ || waiting_ || held_len_ > 0) return;
    BusyState &b = *busy_;
    if (tunnel_) {
        feed_tunnel();
        return;
    }
    // After a body piece the parser is fed once more, even with no bytes left: the message's
    // end (a Content-Length body's last byte) is reported only by the next feed, and without
    // it the task would never hear the body ended until the client's next request.
    while (state_ == State::kOpen && !close_after_flush_ && (b.pos < b.len || body_fed_)) {
        // The next request waits until the streamed answer before it is complete.
        if (task_ && !b.parser.in_message()) break;
        if (!b.out.has_room() || b.log.full()) break; // let the socket drain first
        body_fed_ = false;
        auto r = b.parser.feed(b.in + b.pos, b.len - b.pos);
        b.pos += uint32_t(r.consumed);
        if (r.event == ParseEvent::kNeedMore) break;
        if (r.event == ParseEvent::kError) {
            fail(b.parser.error_status(), b.parser.error_reason());
            break;
        }
        if (r.event == ParseEvent::kBody) { // only while a task reads the body
            body_fed_ = true;
            std::string_view piece = b.parser.body();
            size_t took = task_ ? task_->on_body(piece.data(), piece.size()) : piece.size();
            if (took < piece.size()) {
                held_at_ = uint32_t(piece.data() + took - b.in);
                held_len_ = uint32_t(piece.size() - took);
                return;
            }
            continue;
        }
        if (r.event == ParseEvent::kHeadComplete) {
            if (!respond(b.parser.head())) return; // the head's views must stay where they are
            responded_ = true;
            continue;
        }
        if (!responded_ && !respond(b.parser.head())) {
            answer_completes_message_ = true;
            return;
        }
        if (task_ && task_reads_body_) task_->on_body_end();
        next_message();
    }
    compact();
}

void Connection::feed_tunnel()
{
    BusyState &b = *busy_;
    if (task_ && b.pos < b.len) {
        uint32_t from = b.pos;
        size_t took = task_->on_body(b.in + from, b.len - from);
        b.pos = b.len;
        if (took < b.len - from) { // held in place until resume_body()
            held_at_ = from + uint32_t(took);
            held_len_ = b.len - held_at_;
            return;
        }
    }
    if (held_len_ == 0) b.pos = b.len = b.msg_start = 0;
    if (task_ && read_eof_ && !tunnel_eof_) {
        tunnel_eof_ = true;
        task_->on_body_end();
    }
}

void Connection::upgrade()
{
    if (state_ != State::kOpen || !task_) return;
    tunnel_ = true; // once the tunnel ends, so does the connection (end_task)
    task_reads_body_ = true;
    busy_->parser.set_body_spans(false);
    if (!pumping_) {
        pump();
        after_io();
    }
}

void Connection::next_message()
{
    BusyState &b = *busy_;
    responded_ = false;
    body_fed_ = false;
    b.parser.reset_message();
    b.parser.set_body_spans(false);
    b.msg_start = b.pos;
}

void Connection::on_wake()
{
    waiting_.reset();
    if (state_ != State::kOpen) return;
    if (!respond(busy_->parser.head())) return; // the next thing it needs is on its way now
    if (answer_completes_message_) {
        answer_completes_message_ = false;
        if (task_ && task_reads_body_) task_->on_body_end();
        next_message();
    } else {
        responded_ = true;
    }
    pump();
    after_io();
    // Reads paused while we waited; no new event will announce those bytes.
    if (state_ == State::kOpen && input_pending_ && (!busy_ || busy_->out.empty())) on_readable();
}

void Connection::grow_input()
{
    BusyState &b = *busy_;
    std::unique_ptr<char[]> bigger(new char[b.max_cap]);
    std::memcpy(bigger.get(), b.in, b.len);
    if (b.parser.in_message() && !b.parser.head_complete())
        b.parser.rebase(reinterpret_cast<std::intptr_t>(bigger.get()) -
                        reinterpret_cast<std::intptr_t>(b.in)); // head views move along
    b.grown = std::move(bigger);
    b.in = b.grown.get();
    b.cap = b.max_cap;
}

void Connection::compact()
{
    BusyState &b = *busy_;
    if (b.input_idle()) {
        b.pos = b.len = b.msg_start = 0; // the common case: no copy at all
        return;
    }
    if (b.cap - b.len > b.cap / 4) return; // enough room left to read on
    bool mid_head = b.parser.in_message() && !b.parser.head_complete();
    uint32_t from = mid_head ? b.msg_start : b.pos;
    if (from == 0) return;
    std::memmove(b.in, b.in + from, b.len - from);
    if (mid_head) b.parser.rebase(-std::ptrdiff_t(from));
    b.len -= from;
    b.pos -= from;
    b.msg_start = b.msg_start >= from ? b.msg_start - from : 0;
}

bool Connection::respond(const shared::http::RequestHead &head)
{
    BusyState &b = *busy_;
    char host_buf[shared::http::kMaxHostLength]; // the normalised host, for routing and the log
    std::string_view host = shared::http::normalize_host(head.host, host_buf, sizeof host_buf);
    char scratch[512];
    RouteTarget target =
        ctx_.router->route(ctx_.routes, host, scratch, sizeof scratch); // site_dir may use scratch
    Exchange ex{head, host, target, b.out, ctx_.date->line(), ctx_.now_ms(), this};
    ex.secure = secure_;
    if (ex.secure) ex.hsts = ctx_.hsts;
    ex.head_only = head.method == Method::kHead;
    ex.peer = &peer_;
    if (ctx_.geo || ctx_.trusted) identify_client(ex);
    ex.close = !head.keep_alive || draining_ || ctx_.draining;
    if (!waiting_ && ctx_.access_log && exchange_start_us_ == 0) exchange_start_us_ = now_us();
    size_t unanswered = b.out.buffer().size(); // taken back if the answer must wait
    if (head.has_body && head.expect_continue &&
        (head.method == Method::kGet || head.method == Method::kHead ||
         head.method == Method::kOptions))
        b.out.buffer().append("HTTP/1.1 100 Continue\r\n\r\n");
    dispatch(ex);
    if (ex.pending) {
        b.out.buffer().resize(unanswered);
        waiting_ = std::move(ex.pending);
        waiting_->wait(this);
        return false;
    }
    deadline_kind_ = Deadline::kNone; // each answered request restarts the idle/header clocks
    if (ex.close) {
        // Not before a streamed answer ends: it still reads the body, or is still written.
        if (ex.task)
            close_after_task_ = true;
        else
            close_after_flush_ = true;
    }
    ctx_.stats->requests.add(1);
    if (ex.task) {
        task_ = ex.task;
        task_reads_body_ = ex.task_reads_body;
        task_waiting_ = false;
        if (task_reads_body_) b.parser.set_body_spans(true);
    }
    if (ctx_.access_log) log_answer(ex, ex.task != nullptr);
    exchange_start_us_ = 0;
    return true;
}

void Connection::identify_client(Exchange &ex)
{
    if (peer_trusted_ < 0)
        peer_trusted_ = ctx_.trusted && !ctx_.trusted->empty() && ctx_.trusted->contains(peer_);
    ex.peer_trusted = peer_trusted_ == 1;
    if (!ctx_.geo) return;
    if (ex.peer_trusted) {
        // Behind a trusted proxy the client is named by X-Forwarded-For, per request.
        std::string_view client =
            forwarded_client(ex.req.get(shared::http::HeaderToken::kXForwardedFor), *ctx_.trusted);
        IpAddr a;
        if (!client.empty() && parse_ip(client, a)) {
            Country c = ctx_.geo->lookup(a);
            std::memcpy(forwarded_country_, c.code, 2);
            ex.country = c.known() ? std::string_view(forwarded_country_, 2) : std::string_view();
            return;
        }
    }
    if (!country_known_) { // once per connection: the peer does not change
        IpAddr a;
        if (ip_of(peer_, a)) country_ = ctx_.geo->lookup(a);
        country_known_ = true;
    }
    ex.country = country_.view();
}

void Connection::log_answer(const Exchange &ex, bool streaming)
{
    BusyState &b = *busy_;
    uint64_t end = streaming ? ExchangeLog::kStreaming : b.out.queued_total();
    uint64_t start = exchange_start_us_ ? exchange_start_us_ : now_us();
    ExchangeNotes notes = ex.notes;
    if (notes.country.empty()) notes.country = ex.country;
    b.log.add(ex.req, ex.host, ex.status, ex.head_end ? ex.head_end : end, end, start,
              transport_->tls_info(), notes);
    b.log.advance(b.out.sent_total(), start, *ctx_.access_log, &peer_); // nothing to send
}

void Connection::dispatch(Exchange &ex)
{
    const auto &head = ex.req;
    if (head.target == "*") { // OPTIONS * : the server's own capabilities
        ex.begin(204);
        ex.writer().header("Allow", kStaticAllow);
        ex.end_head();
        return;
    }
    if (ex.host.empty() && !head.host.empty()) {
        ex.close = true;
        send_error(ex, 400, "Bad Request", "The Host header is not a valid host name.");
        return;
    }
    if (ex.target.kind == RouteTarget::Kind::kUnknownHost) {
        send_error(ex, 404, "Unknown host", "No deployment is served at this host name.");
        return;
    }
    if (ctx_.geo && ex.target.route && !geo_allows(*ex.target.route, ex.country)) {
        send_error(ex, 403, "Forbidden", "This site is not available in your region.");
        return;
    }
    if (!ex.secure && ctx_.https && ctx_.https->redirects(ex)) {
        ctx_.https->redirect(ex);
        return;
    }
    Handler *handler = ctx_.handlers->find(ex.target.kind);
    if (!handler) {
        send_error(ex, 502, "Bad Gateway", "This route type is not served by this edge build.");
        return;
    }
    handler->serve(ex);
}

void Connection::fail(int status, std::string_view reason)
{
    BusyState &b = *busy_;
    close_after_flush_ = true;
    linger_needed_ = true;
    b.pos = b.len;
    held_len_ = 0;
    if (task_) end_task(false);
    if (responded_ || status == 0) return; // the response already left; just close after it
    Exchange ex{b.parser.head(), {}, kNoTarget, b.out, ctx_.date->line(), ctx_.now_ms(), this};
    ex.close = true;
    send_error(ex, status, shared::http::reason_phrase(status), reason);
    if (ctx_.access_log && !b.log.full()) log_answer(ex, false);
    responded_ = true;
}

void Connection::pull_task()
{
    OutputQueue &out = busy_->out;
    while (task_ && !task_waiting_ && out.unsent() < kStreamHighWater && out.has_room()) {
        switch (task_->pull(out)) {
        case ExchangeTask::Pull::kMore:
            continue;
        case ExchangeTask::Pull::kWait:
            task_waiting_ = true;
            return;
        case ExchangeTask::Pull::kDone:
            end_task(true);
            return;
        case ExchangeTask::Pull::kDoneClose:
            close_after_flush_ = true;
            end_task(true);
            return;
        case ExchangeTask::Pull::kAbort:
            // The answer cannot be completed: what was queued goes, then the connection
            // closes, so the client sees a cut answer rather than a wrong one.
            close_after_flush_ = true;
            end_task(false);
            return;
        }
    }
}

void Connection::end_task(bool completed)
{
    ExchangeTask *task = task_;
    task_ = nullptr;
    task_waiting_ = false;
    held_len_ = 0;
    if (tunnel_ || close_after_task_) close_after_flush_ = true;
    close_after_task_ = false;
    if (busy_) {
        busy_->parser.set_body_spans(false); // a body the task did not read is dropped
        if (ctx_.access_log) {
            ExchangeNotes notes = task->notes();
            int status = task->status();
            if (!completed && status == 0) status = 499; // gone before the answer, as nginx logs
            if (!completed && read_eof_ && notes.error.empty()) notes.error = "client_closed";
            busy_->log.set_end(busy_->out.queued_total(), status, task->head_end(), &notes);
        }
    }
    task->end(completed);
    // Bytes left unread behind it (a pipeline that filled the buffer): read on once this
    // round's events are through.
    if (input_pending_ && state_ == State::kOpen) ctx_.owner->defer(pump_later_);
}

bool Connection::flush()
{
    if (state_ != State::kOpen || warming_ || !busy_ || busy_->out.in_flight()) return false;
    OutputQueue &out = busy_->out;
    uint64_t written = 0;
    bool closing = close_after_flush_ && clean_close();
    OutputQueue::Flush r;
    while ((r = out.flush(*transport_, written, closing, ctx_.now_ms())) ==
           OutputQueue::Flush::kCold) {
        if (start_warm()) break;
        out.mark_warm(); // no threadpool to read it in: send it as it is
    }
    note_sent(written);
    if (r == OutputQueue::Flush::kError) {
        close();
        return false;
    }
    return r != OutputQueue::Flush::kQueued;
}

void Connection::note_sent(uint64_t bytes)
{
    if (bytes == 0) return;
    ctx_.stats->bytes_out.add(bytes);
    if (deadline_kind_ == Deadline::kSend)
        deadline_ms_ = ctx_.now_ms() + ctx_.config->send_timeout_ms;
    if (ctx_.access_log && !busy_->log.empty())
        busy_->log.advance(busy_->out.sent_total(), now_us(), *ctx_.access_log, &peer_);
}

void Connection::on_sent(ssize_t result)
{
    if (state_ == State::kClosing || !busy_) return;
    uint64_t written = 0;
    OutputQueue::Flush r = busy_->out.sent(result, written);
    note_sent(written);
    if (r == OutputQueue::Flush::kError) {
        close();
        return;
    }
    // The socket is full (EAGAIN, or it took only part): a send-space event resumes us, as
    // after a direct send. Otherwise go on with what followed (the body's next piece, a file
    // body, the next pipelined response, the bytes left unread meanwhile).
    if (r == OutputQueue::Flush::kBlocked) {
        after_io();
        return;
    }
    on_writable();
    if (state_ == State::kOpen && input_pending_ && (!busy_ || busy_->out.empty())) on_readable();
}

bool Connection::start_warm()
{
    if (!warm_ticket_) warm_ticket_ = std::make_shared<WarmTicket>();
    OutputQueue::ColdWindow w = busy_->out.cold_window();
    if (!ctx_.warmer->warm(w.fd, w.offset, w.length, std::move(w.keep), warm_ticket_)) return false;
    warm_ticket_->waiting = this;
    warming_ = true;
    ctx_.stats->cold_file_reads.add(1);
    return true;
}

void Connection::on_warm()
{
    warming_ = false;
    if (state_ != State::kOpen) return;
    busy_->out.mark_warm();
    on_writable();
    // Reads paused while the output was backed up; no new event will announce those bytes.
    if (state_ == State::kOpen && input_pending_) on_readable();
}

void Connection::resume_output()
{
    if (state_ != State::kOpen || !task_) return;
    task_waiting_ = false;
    if (pumping_) return; // called from within pull(): the pump goes on by itself
    pump();
    after_io();
}

void Connection::resume_body()
{
    if (state_ != State::kOpen || !task_ || held_len_ == 0 || pumping_) return;
    BusyState &b = *busy_;
    uint32_t offered = held_len_;
    size_t took = task_->on_body(b.in + held_at_, held_len_);
    // The task may have ended inside (a failed send answers at once): nothing is held now.
    if (state_ != State::kOpen || !task_ || held_len_ != offered) return;
    BERTH_ASSERT(took <= held_len_);
    held_at_ += uint32_t(took);
    held_len_ -= uint32_t(took);
    if (held_len_ > 0 || !task_) return;
    pump();
    after_io();
    if (state_ == State::kOpen && input_pending_ && !reads_paused()) on_readable();
}

bool Connection::clean_close() const noexcept
{
    return !linger_needed_ && (!busy_ || busy_->input_idle());
}

void Connection::begin_linger()
{
    transport_->shutdown_write();
    state_ = State::kLingering;
    deadline_kind_ = Deadline::kLinger;
    deadline_ms_ = ctx_.now_ms() + kLingerMs;
    if (busy_) release_busy(); // lingering only discards
    watch();
    on_readable(); // bytes already waiting would bring no new edge-triggered event
}

void Connection::rearm()
{
    if (state_ != State::kOpen) return;
    uint64_t now = ctx_.now_ms();
    const EdgeConfig &c = *ctx_.config;
    if (busy_ && !busy_->out.empty()) {
        if (deadline_kind_ != Deadline::kSend) {
            deadline_kind_ = Deadline::kSend;
            deadline_ms_ = now + c.send_timeout_ms;
        }
        return;
    }
    if (task_) { // a streamed exchange keeps its own deadlines (connect, upstream idle)
        deadline_kind_ = Deadline::kNone;
        return;
    }
    if (busy_ && !busy_->input_idle()) {
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
    if (state_ == State::kClosing) return;
    if (transport_->expired(now)) { // a TLS handshake that stalled
        close();
        return;
    }
    if (deadline_kind_ == Deadline::kNone || now < deadline_ms_) return;
    if (waiting_) { // the disk did not give the file within the header timeout
        close();
        return;
    }
    if (deadline_kind_ == Deadline::kHeader && state_ == State::kOpen && busy_ &&
        busy_->out.empty() && (busy_->parser.in_message() || busy_->len > 0)) {
        fail(408, "The request head did not arrive in time.");
        deadline_kind_ = Deadline::kNone;
        pump();
        after_io();
        return;
    }
    close();
}

} // namespace berth::edge
