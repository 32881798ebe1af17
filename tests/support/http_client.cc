// Minimal response parsing for tests: status line, headers, Content-Length or close-delimited body.
#include "tests/support/http_client.h"
#include "tests/support/test_certs.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

namespace berth::test
{

std::string Response::header(std::string_view name) const
{
    for (auto &[n, v] : headers)
        if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) return v;
    return {};
}

bool Response::has_header(std::string_view name) const
{
    return count_header(name) > 0;
}

size_t Response::count_header(std::string_view name) const
{
    size_t count = 0;
    for (auto &[n, v] : headers)
        if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) ++count;
    return count;
}

RawClient::RawClient(int port, int rcvbuf)
{
    connect_to(port, rcvbuf);
    if (e2e_over_tls()) start_tls(TlsOptions{});
}

RawClient::RawClient(int port, const TlsOptions &tls)
{
    connect_to(port, 0);
    start_tls(tls);
}

void RawClient::start_tls(const TlsOptions &options)
{
    try {
        tls_ = std::make_unique<TlsSession>(fd_, options);
    } catch (...) {
        ::close(fd_); // the destructor does not run for a constructor that throws
        fd_ = -1;
        throw;
    }
}

void RawClient::connect_to(int port, int rcvbuf)
{
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0)
        throw std::runtime_error("connect failed: " + std::string(strerror(errno)));
    timeval tv{10, 0}; // a TLS read blocks for a whole record: never forever
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

RawClient::~RawClient()
{
    tls_.reset();
    if (fd_ >= 0) ::close(fd_);
}

void RawClient::send(std::string_view bytes)
{
    while (!bytes.empty()) {
        ssize_t n = tls_ ? tls_->write(bytes.data(), bytes.size())
                         : ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return; // the server may have closed; reads will tell
        }
        bytes.remove_prefix(size_t(n));
    }
}

void RawClient::shutdown_write()
{
    if (tls_) tls_->shutdown();
    ::shutdown(fd_, SHUT_WR);
}

bool RawClient::fill(int timeout_ms)
{
    if (eof_) return false;
    if (!tls_ || !tls_->has_pending()) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0) return false;
    }
    char tmp[65536];
    ssize_t n = tls_ ? tls_->read(tmp, sizeof tmp) : ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
        eof_ = true;
        return false;
    }
    buf_.append(tmp, size_t(n));
    return true;
}

std::optional<Response> RawClient::read_response(bool no_body, int timeout_ms)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    auto left = [&] {
        return int(std::max<long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                         deadline - std::chrono::steady_clock::now())
                                         .count()));
    };
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
        if (!fill(left())) return std::nullopt;
    Response r;
    std::string head = buf_.substr(0, end);
    size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    size_t sp1 = status_line.find(' ');
    r.version = status_line.substr(0, sp1);
    r.status = std::atoi(status_line.c_str() + sp1 + 1);
    size_t sp2 = status_line.find(' ', sp1 + 1);
    if (sp2 != std::string::npos) r.reason = status_line.substr(sp2 + 1);
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
        size_t eol = head.find("\r\n", pos);
        if (eol == std::string::npos) eol = head.size();
        std::string line = head.substr(pos, eol - pos);
        size_t colon = line.find(':');
        std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ')
            value.erase(0, 1);
        r.headers.emplace_back(line.substr(0, colon), value);
        pos = eol + 2;
    }
    buf_.erase(0, end + 4);
    if (no_body || r.status < 200 || r.status == 204 || r.status == 304) return r;
    std::string cl = r.header("Content-Length");
    if (!cl.empty()) {
        size_t len = std::stoull(cl);
        while (buf_.size() < len)
            if (!fill(left())) return std::nullopt;
        r.body = buf_.substr(0, len);
        buf_.erase(0, len);
        return r;
    }
    while (fill(left())) {
    }
    r.body = std::move(buf_);
    buf_.clear();
    return r;
}

bool RawClient::wait_closed(int timeout_ms)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!eof_) {
        int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(
                           deadline - std::chrono::steady_clock::now())
                           .count());
        if (left <= 0) return false;
        if (!fill(left) && !eof_) return false;
    }
    return true;
}

std::optional<Response> request(int port, std::string_view raw, bool no_body)
{
    RawClient c(port);
    c.send(raw);
    return c.read_response(no_body);
}

std::optional<Response> get(int port, std::string_view host, std::string_view path,
                            std::string_view extra_headers)
{
    std::string raw = "GET " + std::string(path) + " HTTP/1.1\r\nHost: " + std::string(host) +
                      "\r\n" + std::string(extra_headers) + "\r\n";
    return request(port, raw);
}

Response must(std::optional<Response> r)
{
    REQUIRE(r.has_value());
    return *r;
}

nlohmann::json Response::json() const
{
    return nlohmann::json::parse(body, nullptr, false);
}

Response HttpClient::raw(const std::string &bytes)
{
    if (!conn_) conn_ = std::make_unique<RawClient>(port_);
    conn_->send(bytes);
    auto r = conn_->read_response(false, 30000);
    if (!r) {
        conn_.reset();
        throw std::runtime_error("no complete response from 127.0.0.1:" + std::to_string(port_));
    }
    if (strcasecmp(r->header("Connection").c_str(), "close") == 0) conn_.reset();
    return std::move(*r);
}

Response HttpClient::request(const std::string &method, const std::string &path,
                             const std::string &body,
                             const std::vector<std::pair<std::string, std::string>> &headers)
{
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto &[k, v] : headers)
        req += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST" || method == "PATCH")
        req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    bool reused = conn_ != nullptr;
    try {
        return raw(req);
    } catch (const std::runtime_error &) {
        if (!reused) throw;
        conn_.reset(); // closed by the server while idle: once more on a fresh connection
        return raw(req);
    }
}

Response HttpClient::call(const std::string &method, const std::string &path,
                          const std::string &token, const nlohmann::json &body)
{
    std::vector<std::pair<std::string, std::string>> h;
    if (!token.empty()) h.emplace_back("Authorization", "Token " + token);
    std::string b;
    if (!body.is_null()) {
        b = body.dump();
        h.emplace_back("Content-Type", "application/json");
    }
    return request(method, "/api/v1/" + path, b, h);
}

bool HttpClient::wait_closed(int timeout_ms)
{
    if (!conn_) conn_ = std::make_unique<RawClient>(port_);
    bool closed = conn_->wait_closed(timeout_ms);
    if (closed) conn_.reset();
    return closed;
}

} // namespace berth::test
