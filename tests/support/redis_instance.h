// A throwaway redis-server for tests on a free loopback port, no persistence, stopped by PID.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

struct redisReply;

namespace berth::test
{

class RedisInstance
{
public:
    // Starts and waits for it to answer; throws std::runtime_error on failure. A password
    // makes it require AUTH (requirepass).
    explicit RedisInstance(std::string password = {});
    ~RedisInstance(); // stop + remove the directory
    RedisInstance(const RedisInstance &) = delete;
    RedisInstance &operator=(const RedisInstance &) = delete;

    void start(); // (re)starts on the same port; data is not kept across restarts
    void stop();  // SIGTERM by PID; waits for exit
    bool running() const noexcept { return pid_ > 0; }

    // One command on a fresh connection (AUTH first when there is a password), so it works
    // across restarts. The reply as text: a string, status or error, an integer, "(nil)";
    // an array as its elements joined by '\n'. Throws std::runtime_error when it cannot connect.
    std::string call(const std::vector<std::string> &argv) const;
    std::map<std::string, std::string> hash(const std::string &key) const; // HGETALL

    int port() const noexcept { return port_; }
    // With the password when there is one (redis://:PASSWORD@...).
    std::string url() const
    {
        return "redis://" + (password_.empty() ? "" : ":" + password_ + "@") +
               "127.0.0.1:" + std::to_string(port_);
    }

private:
    std::unique_ptr<redisReply, void (*)(redisReply *)>
    command(const std::vector<std::string> &argv) const;

    std::string password_;
    std::string dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

} // namespace berth::test
