// A throwaway redis-server for tests on a free loopback port, no persistence, stopped by PID.
#pragma once

#include <string>
#include <sys/types.h>

namespace berth::test
{

class RedisInstance
{
public:
    RedisInstance();  // starts and waits for PONG; throws std::runtime_error on failure
    ~RedisInstance(); // stop + remove the directory
    RedisInstance(const RedisInstance &) = delete;
    RedisInstance &operator=(const RedisInstance &) = delete;

    void start(); // (re)starts on the same port; data is not kept across restarts
    void stop();  // SIGTERM by PID; waits for exit
    bool running() const noexcept { return pid_ > 0; }

    int port() const noexcept { return port_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

private:
    std::string dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

} // namespace berth::test
