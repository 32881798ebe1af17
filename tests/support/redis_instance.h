// A throwaway redis-server for tests on a free loopback port, no persistence, stopped by PID.
#pragma once

#include <string>
#include <sys/types.h>

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

    int port() const noexcept { return port_; }
    // With the password when there is one (redis://:PASSWORD@...).
    std::string url() const
    {
        return "redis://" + (password_.empty() ? "" : ":" + password_ + "@") +
               "127.0.0.1:" + std::to_string(port_);
    }

private:
    std::string password_;
    std::string dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

} // namespace berth::test
