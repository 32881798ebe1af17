// Test support: the one test HTTP client (edge e2e and control tests). A raw HTTP/1.1 client
// over a real loopback socket that sends exact bytes and parses responses itself, so tests see
// precisely what the server wrote; and a keep-alive JSON API client built on it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/tls_client.h"

namespace berth::test
{

struct Response {
    std::string version;
    int status = 0;
    std::string reason;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    // First value of a header (case-insensitive name), or "" when absent.
    std::string header(std::string_view name) const;
    bool has_header(std::string_view name) const;
    size_t count_header(std::string_view name) const;
    // The body parsed as JSON; a discarded value when it is not JSON.
    nlohmann::json json() const;
};

class RawClient
{
public:
    // rcvbuf > 0 shrinks the receive buffer before connecting (to make the server stall).
    // Speaks TLS (no SNI, any certificate) when the e2e suite runs over TLS
    // (BERTH_TEST_EDGE_TLS=1), so every test runs over both.
    explicit RawClient(int port, int rcvbuf = 0);
    // Always TLS, with these options. Throws TlsError when the handshake fails.
    RawClient(int port, const TlsOptions &tls);
    RawClient(const RawClient &) = delete;
    RawClient &operator=(const RawClient &) = delete;
    ~RawClient();

    void send(std::string_view bytes);
    // One response; `no_body` for HEAD requests. nullopt on timeout or close before a full
    // response.
    std::optional<Response> read_response(bool no_body = false, int timeout_ms = 5000);
    // True when the server closes the connection (EOF or reset) within the timeout.
    bool wait_closed(int timeout_ms = 5000);
    // Bytes received and not yet parsed into a response.
    const std::string &pending() const { return buf_; }
    // Reads whatever arrives within the timeout into pending(); false on timeout or EOF.
    bool read_some(int timeout_ms) { return fill(timeout_ms); }
    // Takes n bytes off the front of pending().
    void consume(size_t n) { buf_.erase(0, n); }
    void shutdown_write();
    int fd() const { return fd_; }
    // The TLS session, or null on a plain connection.
    TlsSession *tls() const { return tls_.get(); }

private:
    void connect_to(int port, int rcvbuf);
    void start_tls(const TlsOptions &options);
    bool fill(int timeout_ms);
    int fd_ = -1;
    std::unique_ptr<TlsSession> tls_;
    std::string buf_;
    bool eof_ = false;
};

// Opens a connection, sends `raw`, reads one response.
std::optional<Response> request(int port, std::string_view raw, bool no_body = false);
// GET path with Host, "Connection: close" not set; extra header lines end in "\r\n".
std::optional<Response> get(int port, std::string_view host, std::string_view path,
                            std::string_view extra_headers = {});

// The response, REQUIRE'd to have arrived.
Response must(std::optional<Response> r);

// A blocking client over one keep-alive connection to 127.0.0.1:port, reconnecting when the
// server closed it. Throws std::runtime_error (never REQUIREs), so it may run on any thread.
class HttpClient
{
public:
    explicit HttpClient(int port) : port_(port) {}

    // Sends one request and reads the whole response (30 s at most). A request that fails on a
    // reused connection (the server closed it while idle) is retried once on a fresh one.
    Response request(const std::string &method, const std::string &path,
                     const std::string &body = {},
                     const std::vector<std::pair<std::string, std::string>> &headers = {});

    // /api/v1/<path> with Authorization: Token <token> (when not empty) and a JSON body (when
    // not null).
    Response call(const std::string &method, const std::string &path, const std::string &token,
                  const nlohmann::json &body = nullptr);

    // Sends raw bytes on the connection (opening it if needed) and reads one response.
    Response raw(const std::string &bytes);

    // Connects (if needed) and waits until the server closes the connection.
    bool wait_closed(int timeout_ms);

private:
    int port_;
    std::unique_ptr<RawClient> conn_;
};

} // namespace berth::test
