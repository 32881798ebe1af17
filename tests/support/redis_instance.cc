// redis-server with --save "" and no AOF: tests own the whole lifetime of its data.
#include "tests/support/redis_instance.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include <hiredis/hiredis.h>

#include "tests/support/pg_instance.h"

namespace berth::test
{

RedisInstance::RedisInstance(std::string password) : password_(std::move(password))
{
    dir_ = make_temp_dir("berth-redis");
    start_on_free_port(
        port_, [this] { start(); }, dir_);
}

RedisInstance::~RedisInstance()
{
    stop();
    remove_tree(dir_);
}

void RedisInstance::start()
{
    if (pid_ > 0) return;
    const char *bin = std::getenv("BERTH_REDIS_SERVER");
    std::string server = bin ? bin : "/usr/bin/redis-server";
    std::string log = dir_ + "/redis.log";
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        std::string port = std::to_string(port_);
        std::vector<const char *> argv{server.c_str(),
                                       "--port",
                                       port.c_str(),
                                       "--bind",
                                       "127.0.0.1",
                                       "--dir",
                                       dir_.c_str(),
                                       "--save",
                                       "",
                                       "--appendonly",
                                       "no",
                                       "--daemonize",
                                       "no",
                                       "--protected-mode",
                                       "yes"};
        if (!password_.empty()) {
            argv.push_back("--requirepass");
            argv.push_back(password_.c_str());
        }
        argv.push_back(nullptr);
        execv(server.c_str(), const_cast<char *const *>(argv.data()));
        _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
        timeval tv{0, 200000};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", port_, tv);
        if (c && !c->err) {
            auto *r = static_cast<redisReply *>(redisCommand(c, "PING"));
            // Up: PONG, or NOAUTH when it wants a password.
            bool ok =
                r && (r->type == REDIS_REPLY_STATUS ||
                      (r->type == REDIS_REPLY_ERROR && std::strncmp(r->str, "NOAUTH", 6) == 0));
            if (r) freeReplyObject(r);
            redisFree(c);
            if (ok) return;
        } else if (c) {
            redisFree(c);
        }
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("redis-server exited early (see " + log + ")");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20)); // bounded poll on readiness
    }
    stop();
    throw std::runtime_error("redis-server did not answer PING");
}

void RedisInstance::stop()
{
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
}

namespace
{

std::string reply_text(const redisReply *e)
{
    if (e->type == REDIS_REPLY_INTEGER) return std::to_string(e->integer);
    if (e->type == REDIS_REPLY_NIL) return "(nil)";
    return e->str ? std::string(e->str, e->len) : std::string();
}

} // namespace

std::unique_ptr<redisReply, void (*)(redisReply *)>
RedisInstance::command(const std::vector<std::string> &argv) const
{
    redisContext *c = redisConnect("127.0.0.1", port_);
    if (!c || c->err) {
        std::string why = c ? c->errstr : "out of memory";
        if (c) redisFree(c);
        throw std::runtime_error("redis 127.0.0.1:" + std::to_string(port_) + ": " + why);
    }
    if (!password_.empty()) freeReplyObject(redisCommand(c, "AUTH %s", password_.c_str()));
    std::vector<const char *> args;
    std::vector<size_t> lens;
    for (const auto &a : argv) {
        args.push_back(a.data());
        lens.push_back(a.size());
    }
    auto *r =
        static_cast<redisReply *>(redisCommandArgv(c, int(args.size()), args.data(), lens.data()));
    std::string why = r ? "" : c->errstr;
    redisFree(c);
    if (!r) throw std::runtime_error("redis command failed: " + why);
    return {r, [](redisReply *p) { freeReplyObject(p); }};
}

std::string RedisInstance::call(const std::vector<std::string> &argv) const
{
    auto r = command(argv);
    if (r->type != REDIS_REPLY_ARRAY) return reply_text(r.get());
    std::string out;
    for (size_t i = 0; i < r->elements; ++i)
        out += (i ? "\n" : "") + reply_text(r->element[i]);
    return out;
}

std::map<std::string, std::string> RedisInstance::hash(const std::string &key) const
{
    auto r = command({"HGETALL", key});
    std::map<std::string, std::string> out;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < r->elements; i += 2)
            out[reply_text(r->element[i])] = reply_text(r->element[i + 1]);
    return out;
}

} // namespace berth::test
