// A proxied exchange (#14). The order of things on the upstream side: pick an upstream, take
// a pooled connection or connect, send the head and the body as the client gives it, read the
// answer only when the client's output has room. Any call into the ExchangeStream is the last
// thing a code path does: the connection may end the task from inside it (the task's memory
// stays until the handler reaps it after the loop round).
#include "edge/proxy/proxy_task.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <netinet/in.h>

#include "edge/proxy/proxy_handler.h"
#include "shared/base/assert.h"
#include "shared/http/response_writer.h"

namespace berth::edge
{

using shared::http::Method;
using shared::http::ResponseEvent;

namespace
{

uint64_t now_us() noexcept
{
    return uv_hrtime() / 1000;
}

struct ErrorText {
    const char *title;
    const char *detail;
};

ErrorText error_text(int status) noexcept
{
    switch (status) {
    case 503:
        return {"Service Unavailable", "No upstream server is available for this site."};
    case 504:
        return {"Gateway Timeout", "The upstream server did not answer in time."};
    case 408:
        return {"Request Timeout", "The request body did not arrive in time."};
    default:
        return {"Bad Gateway", "The upstream server did not answer properly."};
    }
}

int status_for(UpstreamFailure why) noexcept
{
    switch (why) {
    case UpstreamFailure::kConnectTimeout:
    case UpstreamFailure::kHeaderTimeout:
    case UpstreamFailure::kIdleTimeout:
        return 504;
    default:
        return 502;
    }
}

void append_hex(std::string &out, size_t n)
{
    char digits[20];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n, 16);
    out.append(digits, size_t(end - digits));
}

} // namespace

ProxyTask::ProxyTask(ProxyHandler &handler) noexcept : handler_(handler) {}

void ProxyTask::reset() noexcept
{
    stream_ = nullptr;
    route_.reset();
    target_ = nullptr;
    conn_ = nullptr;
    tried_.clear();
    attempts_ = 0;
    upstream_us_ = -1;
    head_.clear();
    head_sent_ = 0;
    body_.clear();
    body_sent_ = 0;
    body_any_sent_ = has_body_ = chunked_body_ = client_body_done_ = body_held_ = false;
    idempotent_ = expect_continue_ = continue_relayed_ = continue_owed_ = websocket_ = tunnel_ =
        false;
    tunnel_client_eof_ = in_on_body_ = stale_retry_used_ = in_flight_ = false;
    address_tries_ = 0;
    msg_start_ = 0;
    request_id_len_ = 0;
    parser_.reset();
    answer_ = ClientAnswer{};
    framing_ = ClientFraming::kNone;
    path_.clear();
    country_len_ = 0;
    status_ = 0;
    head_end_ = 0;
    down_pos_ = down_len_ = 0;
    got_bytes_ = head_relayed_ = response_done_ = pull_waiting_ = send_blocked_ = false;
    failed_ = false;
    fail_status_ = 0;
    fail_why_ = UpstreamFailure::kCount;
    ended_ = false;
    deadline_ = Deadline::kNone;
    deadline_ms_ = 0;
}

bool ProxyTask::start(Exchange &ex, std::shared_ptr<RouteState> route, bool websocket)
{
    const shared::http::RequestHead &req = ex.req;
    route_ = std::move(route);
    stream_ = ex.stream;
    start_ms_ = handler_.now_ms();
    start_us_ = now_us();
    Method m = req.method;
    idempotent_ = m == Method::kGet || m == Method::kHead || m == Method::kOptions ||
                  m == Method::kPut || m == Method::kDelete;
    has_body_ = req.has_body;
    chunked_body_ = req.chunked;
    client_body_done_ = !req.has_body;
    expect_continue_ = req.expect_continue;
    websocket_ = websocket;
    // The connection may not pull before the upstream has news (a "Connection: close"
    // exchange is not pulled in the round that answered it): news always wakes the output.
    pull_waiting_ = true;

    // The request id: a trusted proxy's is kept, anyone else gets a new one.
    std::string_view client_id = req.get("x-request-id");
    if (ex.peer_trusted && valid_request_id(client_id)) {
        std::memcpy(request_id_buf_, client_id.data(), client_id.size());
        request_id_len_ = client_id.size();
    } else {
        handler_.generate_request_id(request_id_buf_);
        request_id_len_ = 16;
    }
    std::string_view request_id(request_id_buf_, request_id_len_);
    country_len_ = ex.country.size() == 2 ? 2 : 0;
    if (country_len_) std::memcpy(country_, ex.country.data(), 2);
    shared::ip_text(ex.peer, peer_ip_);
    if (!peer_ip_[0]) std::memcpy(peer_ip_, "unknown", 8);

    ForwardInfo f;
    f.host = route_->host_header.empty() ? req.host : std::string_view(route_->host_header);
    f.peer_ip = peer_ip_;
    f.peer_trusted = ex.peer_trusted;
    f.secure = ex.secure;
    f.request_id = request_id;
    f.country = std::string_view(country_, country_len_);
    f.websocket = websocket;
    build_upstream_request(req, f, head_);

    path_.assign(req.path);
    answer_.head_request = m == Method::kHead;
    answer_.http10 = req.is_http10();
    answer_.close = ex.close;
    answer_.date = ex.date;
    answer_.hsts = ex.hsts;
    answer_.request_id = request_id;
    answer_.rules = route_->header_rules.empty() ? nullptr : &route_->header_rules;
    answer_.path = path_;
    return attempt();
}

bool ProxyTask::attempt(UpstreamTarget *same)
{
    UpstreamTarget *t = same ? same : handler_.pick(*route_, tried_);
    if (!t) return false;
    if (same) ++t->in_flight;
    target_ = t;
    in_flight_ = true;
    if (!same) {
        tried_.push_back(t); // a stale pooled connection's second try is not an attempt
        ++attempts_;
        address_tries_ = 0;
    }
    attempt_start_us_ = now_us();
    head_sent_ = 0;
    body_sent_ = 0;
    got_bytes_ = false;
    send_blocked_ = false;
    parser_.reset();
    parser_.set_head_request(answer_.head_request);
    down_pos_ = down_len_ = msg_start_ = 0;
    readable_ = peer_hup_ = false; // a pooled connection held nothing (else it was dropped)
    t->stats->requests.add(1);
    int err = 0;
    conn_ = handler_.connection(*t, err);
    if (!conn_) {
        attempt_failed(err == -ECONNREFUSED ? UpstreamFailure::kConnectRefused
                                            : UpstreamFailure::kConnectError);
        return true;
    }
    conn_->user = this;
    if (!conn_->connected)
        set_deadline(Deadline::kConnect, route_->timeouts.connect_ms);
    else
        set_deadline(Deadline::kIdle, route_->timeouts.idle_ms);
    flush_up();
    return true;
}

void ProxyTask::set_deadline(Deadline d, uint32_t ms)
{
    deadline_ = d;
    deadline_ms_ = handler_.now_ms() + ms;
}

bool ProxyTask::body_may_never_come() const noexcept
{
    // A final answer before the body announced with 100-continue: the client may never send
    // it (its next request would be read as that body), so the connection ends after.
    return expect_continue_ && !client_body_done_ && !continue_relayed_;
}

bool ProxyTask::request_sent() const noexcept
{
    return head_sent_ == head_.size() && client_body_done_ && body_sent_ == body_.size();
}

void ProxyTask::flush_up()
{
    if (!conn_ || conn_->closed() || conn_->queued() || send_blocked_ || failed_) return;
    iovec iov[2];
    size_t n = 0;
    if (head_sent_ < head_.size())
        iov[n++] = {head_.data() + head_sent_, head_.size() - head_sent_};
    if (body_sent_ < body_.size())
        iov[n++] = {body_.data() + body_sent_, body_.size() - body_sent_};
    if (n == 0) {
        if (tunnel_ && tunnel_client_eof_) conn_->shutdown_write();
        return;
    }
    sending_ = iov[0].iov_len + (n > 1 ? iov[1].iov_len : 0);
    ssize_t r = conn_->send(iov, n);
    if (r == UpstreamConn::kQueued) return;
    after_sent(r);
}

void ProxyTask::on_upstream_sent(ssize_t result)
{
    if (ended_) return;
    after_sent(result);
}

void ProxyTask::connected_now()
{
    if (!conn_ || conn_->connected) return;
    conn_->connected = true;
    if (deadline_ == Deadline::kConnect) set_deadline(Deadline::kIdle, route_->timeouts.idle_ms);
}

void ProxyTask::after_sent(ssize_t r)
{
    if (r == -EAGAIN || r == -EINTR) {
        send_blocked_ = true; // EPOLLOUT resumes (also the end of a connect)
        return;
    }
    if (r < 0) {
        bool connecting = !conn_->connected;
        attempt_failed(connecting ? (r == -ECONNREFUSED ? UpstreamFailure::kConnectRefused
                                                        : UpstreamFailure::kConnectError)
                                  : UpstreamFailure::kReset);
        return;
    }
    connected_now();
    size_t left = size_t(r);
    size_t head_left = head_.size() - head_sent_;
    size_t from_head = std::min(left, head_left);
    head_sent_ += from_head;
    left -= from_head;
    size_t want = sending_; // what this send was asked to take (the body may have grown since)
    if (left > 0) {
        body_sent_ += left;
        body_any_sent_ = true;
    }
    if (body_any_sent_ && body_sent_ == body_.size()) { // sent bytes are never replayed
        body_.clear();
        body_sent_ = 0;
    }
    if (deadline_ == Deadline::kIdle) set_deadline(Deadline::kIdle, route_->timeouts.idle_ms);
    if (size_t(r) < want) {
        send_blocked_ = true;
        return;
    }
    if (body_sent_ < body_.size()) { // more came meanwhile
        flush_up();
        if (ended_ || !conn_ || send_blocked_ || conn_->queued()) return;
    }
    if (request_sent() && !head_relayed_ && !tunnel_ && deadline_ != Deadline::kHeader)
        set_deadline(Deadline::kHeader, route_->timeouts.response_header_ms);
    if (tunnel_ && tunnel_client_eof_ && body_.size() == body_sent_) conn_->shutdown_write();
    if (!in_on_body_ && body_.size() - body_sent_ < kUpBuffer / 2) release_body_hold();
}

void ProxyTask::release_body_hold()
{
    if (!body_held_ || !stream_ || ended_ || in_on_body_) return;
    body_held_ = false;
    stream_->resume_body(); // last: the task may end inside
}

void ProxyTask::wake_output()
{
    if (!pull_waiting_ || !stream_ || ended_) return;
    pull_waiting_ = false;
    stream_->resume_output(); // last: the task may end inside
}

void ProxyTask::on_upstream_io(uint32_t events)
{
    if (ended_ || !conn_) return;
    if (!conn_->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int e = conn_->socket_error();
        if (e != 0 || (events & (EPOLLERR | EPOLLHUP))) {
            attempt_failed(e == ECONNREFUSED || e == 0 ? UpstreamFailure::kConnectRefused
                                                       : UpstreamFailure::kConnectError);
            return;
        }
        connected_now();
    }
    if ((events & EPOLLOUT) && send_blocked_) {
        send_blocked_ = false;
        flush_up();
        if (ended_ || !conn_) return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        readable_ = true;
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) peer_hup_ = true;
        if (body_held_ && failed_) {
            release_body_hold();
            return;
        }
        wake_output();
        return;
    }
    if (!in_on_body_ && body_.size() - body_sent_ < kUpBuffer / 2) release_body_hold();
}

bool ProxyTask::may_retry(UpstreamFailure why) const noexcept
{
    if (head_relayed_ || tunnel_ || attempts_ > route_->retries) return false;
    uint32_t total = route_->timeouts.total_ms;
    if (total && handler_.now_ms() - start_ms_ >= total) return false;
    bool never_reached = why == UpstreamFailure::kConnectRefused ||
                         why == UpstreamFailure::kConnectTimeout ||
                         why == UpstreamFailure::kConnectError || (head_sent_ == 0 && !got_bytes_);
    if (never_reached && !body_any_sent_) return true;
    if (body_any_sent_ || has_body_) return false;
    return route_->retry_idempotent && idempotent_;
}

void ProxyTask::attempt_failed(UpstreamFailure why)
{
    // A pooled connection the upstream had closed: not the upstream's fault, and the request
    // is tried once more on a fresh connection to the same upstream. Unless it may have been
    // acted on: a whole head of a non-idempotent request reached the socket, and the upstream
    // may have read it and died before answering (a POST must not run twice).
    bool replayable = idempotent_ || head_sent_ < head_.size();
    bool stale = conn_ && conn_->reused && !got_bytes_ && why == UpstreamFailure::kReset &&
                 !stale_retry_used_ && !body_any_sent_ && replayable;
    UpstreamTarget *t = target_;
    finish_attempt(false);
    fail_why_ = why;
    if (stale && t) {
        stale_retry_used_ = true;
        attempt(t);
        return;
    }
    // A name with several addresses whose current one refused: the next address of the same
    // upstream, before any other upstream, and not counted against it.
    bool connect_failed = why == UpstreamFailure::kConnectRefused ||
                          why == UpstreamFailure::kConnectError ||
                          why == UpstreamFailure::kConnectTimeout;
    if (connect_failed && t && !body_any_sent_ && address_tries_ + 1 < t->addrs.size() &&
        t->next_address()) {
        ++address_tries_;
        attempt(t);
        return;
    }
    if (connect_failed && t) handler_.refresh_name(*t);
    if (t) handler_.failed(*t, why);
    if (may_retry(why)) {
        if (t) t->stats->retries.add(1);
        if (attempt()) return;
    }
    give_up(status_for(why), why);
}

void ProxyTask::give_up(int status, UpstreamFailure why)
{
    failed_ = true;
    fail_status_ = status;
    fail_why_ = why;
    deadline_ = Deadline::kNone;
    if (conn_) {
        finish_attempt(false);
    }
    // The client's body is no longer wanted: what it still sends is taken and dropped.
    if (body_held_) {
        release_body_hold();
        if (ended_) return;
    }
    wake_output();
}

void ProxyTask::finish_attempt(bool reusable)
{
    if (attempt_start_us_)
        upstream_us_ =
            (upstream_us_ < 0 ? 0 : upstream_us_) + int64_t(now_us() - attempt_start_us_);
    attempt_start_us_ = 0;
    if (conn_) {
        conn_->user = nullptr;
        handler_.release(conn_, reusable);
        conn_ = nullptr;
    }
    if (in_flight_ && target_) {
        --target_->in_flight;
        in_flight_ = false;
        target_->sync_gauges(); // a retry moves on to another target: this one's stats now
    }
    deadline_ = Deadline::kNone;
}

size_t ProxyTask::on_body(const char *data, size_t len)
{
    if (ended_ || failed_ || response_done_) return len; // nobody wants it: dropped
    if (route_) { // body bytes move: the idle clock starts again (a connect keeps its own)
        if (deadline_ == Deadline::kNone || deadline_ == Deadline::kIdle)
            set_deadline(Deadline::kIdle, route_->timeouts.idle_ms);
        else if (deadline_ == Deadline::kHeader)
            set_deadline(Deadline::kHeader, route_->timeouts.response_header_ms);
    }
    // A send queued in the round's batch points into body_: it must neither move (no
    // reallocation: the capacity is reserved and never exceeded) nor shift (no compaction
    // until the result is in).
    if (body_.capacity() < 2 * kUpBuffer) body_.reserve(2 * kUpBuffer);
    size_t taken = 0;
    while (taken < len) {
        if (body_sent_ > 0 && (!conn_ || !conn_->queued())) {
            body_.erase(0, body_sent_);
            body_sent_ = 0;
        }
        size_t pending = body_.size() - body_sent_;
        if (pending + 32 >= kUpBuffer || body_.size() + 32 >= 2 * kUpBuffer) break;
        size_t n =
            std::min({len - taken, kUpBuffer - pending - 32, 2 * kUpBuffer - body_.size() - 32});
        if (chunked_body_ && !tunnel_) {
            append_hex(body_, n);
            body_.append("\r\n");
            body_.append(data + taken, n);
            body_.append("\r\n");
        } else {
            body_.append(data + taken, n);
        }
        taken += n;
        in_on_body_ = true;
        flush_up();
        in_on_body_ = false;
        if (ended_ || failed_) return len;
        if (body_.size() > body_sent_) break; // waits for the socket or the batch
    }
    if (taken < len) body_held_ = true;
    return taken;
}

void ProxyTask::on_body_end()
{
    if (ended_) return;
    if (tunnel_) {
        tunnel_client_eof_ = true;
        flush_up();
        return;
    }
    if (client_body_done_) return;
    client_body_done_ = true;
    if (failed_ || response_done_) return;
    // Within the reserved capacity (on_body keeps 32 bytes spare), so a queued send's
    // pointers stay valid.
    if (chunked_body_) body_.append("0\r\n\r\n");
    in_on_body_ = true;
    flush_up();
    in_on_body_ = false;
    if (!ended_ && conn_ && request_sent() && !head_relayed_ && deadline_ != Deadline::kHeader)
        set_deadline(Deadline::kHeader, route_->timeouts.response_header_ms);
}

ExchangeNotes ProxyTask::notes() const noexcept
{
    ExchangeNotes n;
    if (target_) n.upstream = target_->addr;
    if (failed_ || fail_why_ != UpstreamFailure::kCount)
        n.error = fail_why_ == UpstreamFailure::kCount ? "" : failure_name(fail_why_);
    n.request_id = std::string_view(request_id_buf_, request_id_len_);
    n.country = std::string_view(country_, country_len_);
    n.upstream_us = upstream_us_;
    return n;
}

void ProxyTask::end(bool)
{
    if (ended_) return;
    if (conn_) finish_attempt(false); // the client went first: the upstream's answer is cut
    if (in_flight_ && target_) {
        --target_->in_flight;
        in_flight_ = false;
    }
    if (target_) target_->sync_gauges();
    ended_ = true;
    stream_ = nullptr;
    handler_.task_ended(*this);
}

void ProxyTask::check_deadline(uint64_t now)
{
    if (ended_) return;
    if (expect_continue_ && !continue_relayed_ && !continue_owed_ && !head_relayed_ &&
        !client_body_done_ && !answer_.http10 && now - start_ms_ >= kContinueAfterMs) {
        continue_owed_ = true;
        wake_output(); // pull() writes it
        if (ended_) return;
    }
    if (deadline_ == Deadline::kNone || now < deadline_ms_) return;
    switch (deadline_) {
    case Deadline::kConnect:
        attempt_failed(UpstreamFailure::kConnectTimeout);
        return;
    case Deadline::kHeader:
        attempt_failed(UpstreamFailure::kHeaderTimeout);
        return;
    case Deadline::kIdle: {
        // Blamed on the upstream only when the client's side waits on it: the output asked
        // for more, or the whole body is in, or the upstream does not take it. A client that
        // stopped reading or sending, or a quiet tunnel, must never eject an upstream.
        bool upstream_silent =
            !tunnel_ && (send_blocked_ || (head_relayed_ ? pull_waiting_ : client_body_done_));
        if (!upstream_silent)
            give_up(head_relayed_ || tunnel_ ? 504 : 408, UpstreamFailure::kIdleTimeout);
        else if (head_relayed_)
            give_up(504, UpstreamFailure::kIdleTimeout);
        else
            attempt_failed(UpstreamFailure::kIdleTimeout);
        if (upstream_silent && head_relayed_ && target_ && !ended_)
            handler_.failed(*target_, UpstreamFailure::kIdleTimeout);
        return;
    }
    case Deadline::kNone:
        return;
    }
}

ExchangeTask::Pull ProxyTask::write_error(OutputQueue &out)
{
    ErrorText text = error_text(fail_status_);
    status_ = fail_status_;
    std::string &b = out.buffer();
    shared::http::ResponseWriter w(b);
    w.status_line(fail_status_, answer_.http10);
    b.append(answer_.date).append("Server: berth\r\n").append(answer_.hsts);
    char body[320];
    int len = std::snprintf(body, sizeof body,
                            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%d "
                            "%s</title></head>\n<body><h1>%s</h1>\n<p>%s</p>\n</body></html>\n",
                            fail_status_, text.title, text.title, text.detail);
    b.append("Content-Type: text/html; charset=utf-8\r\n");
    w.header("Content-Length", uint64_t(len));
    b.append("Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nX-Request-Id: ");
    b.append(request_id_buf_, request_id_len_).append("\r\n");
    if (body_may_never_come()) answer_.close = true;
    if (answer_.close)
        b.append("Connection: close\r\n\r\n");
    else if (answer_.http10)
        b.append("Connection: keep-alive\r\n\r\n");
    else
        b.append("\r\n");
    head_end_ = out.queued_total();
    head_relayed_ = true;
    if (!answer_.head_request) b.append(body, size_t(len));
    response_done_ = true;
    return answer_.close ? Pull::kDoneClose : Pull::kDone;
}

ExchangeTask::Pull ProxyTask::after_failure(OutputQueue &out)
{
    if (failed_) return head_relayed_ ? Pull::kAbort : write_error(out);
    pull_waiting_ = true; // a retry is under way
    return Pull::kWait;
}

ExchangeTask::Pull ProxyTask::finish_response(OutputQueue &out)
{
    if (framing_ == ClientFraming::kChunked) out.buffer().append("0\r\n\r\n");
    response_done_ = true;
    const auto &h = parser_.head();
    if (h.status >= 100 && h.status < 600) target_->stats->status[h.status / 100 - 1].add(1);
    handler_.succeeded(*target_);
    // Nothing of it may be left unread: bytes after the answer (a buggy upstream's body to a
    // HEAD) would become the next request's answer. `readable_` still set means the last read
    // filled the buffer and the socket may hold more.
    bool reusable = h.keep_alive && request_sent() && down_pos_ == down_len_ && !readable_ &&
                    !parser_.close_delimited();
    finish_attempt(reusable);
    return answer_.close ? Pull::kDoneClose : Pull::kDone;
}

void ProxyTask::make_room()
{
    if (parser_.in_message() && !parser_.head_complete()) {
        // The head's views point into down_: move the head to the front, views along.
        if (msg_start_ > 0) {
            std::memmove(down_, down_ + msg_start_, down_len_ - msg_start_);
            parser_.rebase(-std::ptrdiff_t(msg_start_));
            down_len_ -= msg_start_;
            down_pos_ -= msg_start_;
            msg_start_ = 0;
        }
        return;
    }
    if (down_pos_ == down_len_) {
        down_pos_ = down_len_ = msg_start_ = 0;
        return;
    }
    std::memmove(down_, down_ + down_pos_, down_len_ - down_pos_);
    down_len_ -= down_pos_;
    down_pos_ = msg_start_ = 0;
}

bool ProxyTask::read_more(Pull &result)
{
    make_room();
    if (down_len_ == kDownBuffer) { // a head larger than the buffer
        attempt_failed(UpstreamFailure::kBadResponse);
        result = Pull::kWait;
        return false;
    }
    // Edge-triggered: read only after an event said so, until a short read (no recv that
    // would only say EAGAIN: one syscall less per request).
    if (!conn_ || !conn_->connected || !readable_) {
        pull_waiting_ = true;
        result = Pull::kWait;
        return false;
    }
    size_t room = kDownBuffer - down_len_;
    ssize_t n = conn_->recv(down_ + down_len_, room);
    if (n > 0) {
        if (size_t(n) < room && !peer_hup_) readable_ = false; // else the EOF is next
        down_len_ += uint32_t(n);
        got_bytes_ = true;
        if (deadline_ == Deadline::kIdle) set_deadline(Deadline::kIdle, route_->timeouts.idle_ms);
        return true;
    }
    if (n == -EAGAIN) {
        readable_ = false;
        pull_waiting_ = true;
        result = Pull::kWait;
        return false;
    }
    result = Pull::kWait; // the caller maps failures
    if (n == 0 && head_relayed_ && parser_.close_delimited()) {
        if (parser_.finish() == ResponseEvent::kMessageComplete) {
            result = Pull::kDone; // marks "finish the response"
            return false;
        }
    }
    attempt_failed(UpstreamFailure::kReset);
    return false;
}

ExchangeTask::Pull ProxyTask::pull_tunnel(OutputQueue &out)
{
    if (down_pos_ < down_len_) {
        out.buffer().append(down_ + down_pos_, down_len_ - down_pos_);
        down_pos_ = down_len_ = 0;
        return Pull::kMore;
    }
    if (!conn_) return Pull::kAbort;
    if (!readable_) {
        pull_waiting_ = true;
        return Pull::kWait;
    }
    ssize_t n = conn_->recv(down_, kDownBuffer);
    if (n > 0) {
        if (size_t(n) < kDownBuffer && !peer_hup_) readable_ = false;
        out.buffer().append(down_, size_t(n));
        set_deadline(Deadline::kIdle, route_->timeouts.idle_ms);
        return Pull::kMore;
    }
    if (n == -EAGAIN) {
        readable_ = false;
        pull_waiting_ = true;
        return Pull::kWait;
    }
    finish_attempt(false); // the upstream closed the tunnel: so does the client's side
    response_done_ = true;
    return n == 0 ? Pull::kDone : Pull::kAbort;
}

ExchangeTask::Pull ProxyTask::pull(OutputQueue &out)
{
    if (ended_) return Pull::kAbort;
    if (failed_) return head_relayed_ ? Pull::kAbort : write_error(out);
    if (response_done_) return Pull::kDone;
    if (tunnel_) return pull_tunnel(out);
    if (continue_owed_ && !continue_relayed_ && !head_relayed_) {
        out.buffer().append("HTTP/1.1 100 Continue\r\n\r\n");
        continue_relayed_ = true;
    }
    if (deadline_ == Deadline::kIdle && head_relayed_) // the client reads: the exchange moves
        set_deadline(Deadline::kIdle, route_->timeouts.idle_ms);
    while (true) {
        auto r = parser_.feed(down_ + down_pos_, down_len_ - down_pos_);
        down_pos_ += uint32_t(r.consumed);
        switch (r.event) {
        case ResponseEvent::kHeadComplete: {
            const auto &h = parser_.head();
            if (h.status == 101) {
                if (!websocket_) {
                    attempt_failed(UpstreamFailure::kBadResponse);
                    return after_failure(out);
                }
                answer_.tunnel = true;
                build_client_response(h, answer_, out.buffer());
                status_ = 101;
                head_end_ = out.queued_total();
                head_relayed_ = tunnel_ = true;
                handler_.succeeded(*target_);
                target_->stats->status[0].add(1);
                set_deadline(Deadline::kIdle, route_->timeouts.idle_ms);
                if (stream_) stream_->upgrade(); // within pull: the connection just notes it
                return Pull::kMore;
            }
            if (h.status < 200) {
                if (h.status == 100 && expect_continue_ && !continue_relayed_ && !answer_.http10) {
                    out.buffer().append("HTTP/1.1 100 Continue\r\n\r\n");
                    continue_relayed_ = true;
                }
                continue; // the interim message ends next
            }
            if (body_may_never_come()) answer_.close = true;
            framing_ = build_client_response(h, answer_, out.buffer());
            status_ = h.status;
            head_end_ = out.queued_total();
            head_relayed_ = true;
            set_deadline(Deadline::kIdle, route_->timeouts.idle_ms);
            return Pull::kMore;
        }
        case ResponseEvent::kBody: {
            std::string_view piece = parser_.body();
            std::string &b = out.buffer();
            if (framing_ == ClientFraming::kChunked) {
                append_hex(b, piece.size());
                b.append("\r\n").append(piece).append("\r\n");
            } else if (framing_ != ClientFraming::kNone) {
                b.append(piece);
            }
            if (out.unsent() >= 64 * 1024 || !out.has_room()) return Pull::kMore;
            continue;
        }
        case ResponseEvent::kMessageComplete:
            if (!head_relayed_) { // an interim (1xx) message
                parser_.reset_message();
                msg_start_ = down_pos_;
                continue;
            }
            return finish_response(out);
        case ResponseEvent::kError:
            attempt_failed(UpstreamFailure::kBadResponse);
            return after_failure(out);
        case ResponseEvent::kNeedMore:
            break;
        }
        Pull result;
        if (!read_more(result)) {
            if (result == Pull::kDone) { // a close-delimited body ended
                auto ev = parser_.feed(down_ + down_pos_, 0);
                (void)ev;
                return finish_response(out);
            }
            if (pull_waiting_) return Pull::kWait;
            return after_failure(out);
        }
    }
}

} // namespace berth::edge
