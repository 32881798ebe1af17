// The one admin-socket client (berth-edge admin, berth-control's route pushes, the tests): a
// unix-socket connection that sends newline-delimited JSON requests and reads one reply line
// per request, each call within a total timeout.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace berth::shared::admin
{

// Every failure of the client: cannot connect, timed out, connection closed, reply not JSON.
// what() is a complete sentence naming the socket ("admin socket /x.sock: timed out after
// 3000 ms waiting for a reply").
struct AdminError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class AdminClient
{
public:
    // Connects to the unix socket at `path` within timeout_ms; throws AdminError on failure
    // (missing socket, refused, path too long, timeout). timeout_ms also bounds each call.
    AdminClient(std::string path, int timeout_ms);
    ~AdminClient();
    AdminClient(AdminClient &&other) noexcept;
    AdminClient &operator=(AdminClient &&) = delete;
    AdminClient(const AdminClient &) = delete;
    AdminClient &operator=(const AdminClient &) = delete;

    // Sends `line` (a newline is appended; it must not contain one) and returns the reply
    // line without its newline. Sending and receiving together take at most timeout_ms.
    // Throws AdminError; after an error the connection is closed and further calls throw.
    std::string call_line(std::string_view line);

    // call_line(request.dump()), the reply parsed. Throws AdminError when the reply is not a
    // JSON object. An {"ok":false,"error":...} reply is returned as is, not thrown.
    nlohmann::json call(const nlohmann::json &request);

    const std::string &path() const noexcept { return path_; }

private:
    [[noreturn]] void fail(const std::string &what);

    std::string path_;
    int timeout_ms_;
    int fd_ = -1;
    std::string buf_; // bytes after the last reply line
};

} // namespace berth::shared::admin
