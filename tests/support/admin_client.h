// Test support: one connection to the edge's admin socket (newline-delimited JSON).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace berth::test
{

class AdminConn
{
public:
    explicit AdminConn(const std::string &socket_path);
    AdminConn(const AdminConn &) = delete;
    AdminConn &operator=(const AdminConn &) = delete;
    ~AdminConn();

    // Sends one request line and returns the reply line, parsed.
    nlohmann::json call(const std::string &line);

private:
    int fd_ = -1;
    std::string buf_;
};

} // namespace berth::test
