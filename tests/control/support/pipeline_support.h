// Shared by the pipeline and build e2e tests: waiting for a status, a control plane with a
// real berth-edge (edged_control.h), and a follower of streamed build logs.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/control/support/control_env.h"
#include "tests/control/support/edged_control.h"
#include "tests/support/edge_process.h"
#include "tests/support/http_client.h"

namespace berth::test
{

// GET deployments/{id}/ until its status is `want` (or a terminal one that is not). Returns it.
nlohmann::json wait_status(HttpClient &c, const std::string &token, const std::string &id,
                           const std::string &want);

// A client of GET deployments/{id}/build-logs/?follow=1 that reads the chunked NDJSON body as
// it arrives (the JSON client would wait for the whole response).
class LogFollower
{
public:
    LogFollower(int port, const std::string &token, const std::string &id,
                const std::string &query = "follow=1")
        : conn_(port)
    {
        conn_.send("GET /api/v1/deployments/" + id + "/build-logs/?" + query +
                   " HTTP/1.1\r\nHost: control\r\nAuthorization: Token " + token + "\r\n\r\n");
    }

    // Reads until cond() holds, the body ended, or timeout_ms passed; returns cond().
    bool pump_until(const std::function<bool()> &cond, int timeout_ms = 20000)
    {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (!cond() && !ended_ && std::chrono::steady_clock::now() < deadline) {
            if (!conn_.read_some(100)) {
                closed_ = closed_ || conn_.wait_closed(0);
                if (closed_) break;
            }
            parse();
        }
        return cond();
    }

    int status() const { return status_; }
    bool ended() const { return ended_; } // the last (empty) chunk arrived
    std::string head() const { return head_; }
    std::vector<nlohmann::json> lines() const
    {
        std::vector<nlohmann::json> out;
        std::istringstream in(body_);
        for (std::string l; std::getline(in, l);)
            out.push_back(nlohmann::json::parse(l));
        return out;
    }
    bool closed() { return closed_ || (closed_ = conn_.wait_closed(3000)); }

private:
    void parse()
    {
        std::string buf = conn_.pending();
        size_t used = 0;
        if (status_ == 0) {
            size_t end = buf.find("\r\n\r\n");
            if (end == std::string::npos) return;
            head_ = buf.substr(0, end);
            status_ = std::stoi(head_.substr(9, 3));
            used = end + 4;
        }
        while (!ended_ && status_ == 200) { // other answers are plain JSON: not read here
            size_t eol = buf.find("\r\n", used);
            if (eol == std::string::npos) break;
            size_t n = std::stoul(buf.substr(used, eol - used), nullptr, 16);
            if (buf.size() < eol + 2 + n + 2) break;
            body_ += buf.substr(eol + 2, n);
            used = eol + 2 + n + 2;
            ended_ = n == 0;
        }
        conn_.consume(used);
    }

    RawClient conn_;
    int status_ = 0;
    std::string head_, body_;
    bool ended_ = false, closed_ = false;
};

} // namespace berth::test
