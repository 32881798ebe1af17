// A blocking HTTP/1.1 test client over one keep-alive loopback connection.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::testing
{

struct HttpResponse {
    int status = 0;
    std::map<std::string, std::string> headers; // lower-cased names
    std::string body;
    nlohmann::json json() const;
    std::string header(const std::string &lower_name) const;
};

class HttpClient
{
public:
    explicit HttpClient(int port) : port_(port) {}
    ~HttpClient();
    HttpClient(const HttpClient &) = delete;
    HttpClient &operator=(const HttpClient &) = delete;

    // Sends one request (reconnecting if the server closed the connection) and reads the
    // whole response (Content-Length framing). Throws std::runtime_error on socket errors.
    HttpResponse request(const std::string &method, const std::string &path,
                         const std::string &body = {},
                         const std::vector<std::pair<std::string, std::string>> &headers = {});
    // Sends raw bytes and reads one response.
    HttpResponse raw(const std::string &bytes);

    // Connects (if needed) and waits until the server closes the connection.
    bool wait_closed(int timeout_ms);

    // With Authorization: Token <token> and a JSON body.
    HttpResponse call(const std::string &method, const std::string &path, const std::string &token,
                      const nlohmann::json &body = nullptr);

private:
    void connect();
    HttpResponse read_response();

    int port_;
    int fd_ = -1;
    std::string pending_;
};

} // namespace berth::testing
