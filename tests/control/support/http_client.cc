// Test HTTP client: plain sockets, so the server is exercised over real loopback TCP.
#include "tests/control/support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace berth::testing
{

nlohmann::json HttpResponse::json() const
{
    return nlohmann::json::parse(body, nullptr, false);
}

std::string HttpResponse::header(const std::string &lower_name) const
{
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
}

HttpClient::~HttpClient()
{
    if (fd_ >= 0) close(fd_);
}

void HttpClient::connect()
{
    if (fd_ >= 0) close(fd_);
    pending_.clear();
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
        close(fd_);
        fd_ = -1;
        throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port_) + " failed");
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

HttpResponse HttpClient::read_response()
{
    auto fill = [&] {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 30000) <= 0) throw std::runtime_error("timed out reading a response");
        char buf[16384];
        ssize_t n = recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) throw std::runtime_error("connection closed before a full response");
        pending_.append(buf, size_t(n));
    };
    size_t end;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos)
        fill();
    HttpResponse r;
    std::string head = pending_.substr(0, end);
    pending_.erase(0, end + 4);
    size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    r.status = std::stoi(status_line.substr(9, 3));
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
        size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string line = head.substr(pos, e - pos);
        size_t colon = line.find(':');
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return char(std::tolower(c)); });
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        r.headers[name] = value;
        pos = e + 2;
    }
    size_t len = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    while (pending_.size() < len)
        fill();
    r.body = pending_.substr(0, len);
    pending_.erase(0, len);
    if (r.header("connection") == "close") {
        close(fd_);
        fd_ = -1;
    }
    return r;
}

bool HttpClient::wait_closed(int timeout_ms)
{
    if (fd_ < 0) connect();
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char b;
    bool closed = recv(fd_, &b, 1, 0) <= 0;
    if (closed) {
        close(fd_);
        fd_ = -1;
    }
    return closed;
}

HttpResponse HttpClient::raw(const std::string &bytes)
{
    if (fd_ < 0) connect();
    for (size_t off = 0; off < bytes.size();) {
        ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error("send failed");
        off += size_t(n);
    }
    return read_response();
}

HttpResponse HttpClient::request(const std::string &method, const std::string &path,
                                 const std::string &body,
                                 const std::vector<std::pair<std::string, std::string>> &headers)
{
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto &[k, v] : headers)
        req += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST" || method == "PATCH")
        req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    for (int attempt = 0;; ++attempt) {
        try {
            return raw(req);
        } catch (const std::runtime_error &) {
            // The server may have closed an idle keep-alive connection: retry once, fresh.
            if (attempt > 0) throw;
            if (fd_ >= 0) close(fd_);
            fd_ = -1;
        }
    }
}

HttpResponse HttpClient::call(const std::string &method, const std::string &path,
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

} // namespace berth::testing
