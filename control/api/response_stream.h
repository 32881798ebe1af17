// A streaming response body (#16): a producer on a thread of its own hands chunks to the
// loop thread through a uv_async_t, with backpressure, until it returns or the client goes.
// Used for GET deployments/{id}/build-logs/?follow=1; the connection (http_server.cc) writes
// what it is handed and never knows who produces it.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <uv.h>

namespace berth::control
{

// What a producer writes to. Each call is made from the producer's own thread.
class ChunkSink
{
public:
    virtual ~ChunkSink() = default;
    // Queues `data` as one HTTP/1.1 chunk. Blocks while more than kStreamHighWater bytes wait
    // to be written to the client (backpressure). Returns false once the client has gone or
    // the server is closing: the producer should return then.
    virtual bool write(const std::string &data) = 0;
    // Sleeps up to ms; returns false early once the client has gone (so a poll loop stops at
    // once rather than at its next write).
    virtual bool wait(int ms) = 0;
};

// Runs on its own thread, never on libuv's threadpool (a follower may run for minutes and the
// pool serves every API request). Exceptions are caught: the body then ends without its last
// chunk, so the client sees it was cut short.
using BodyProducer = std::function<void(ChunkSink &)>;

inline constexpr size_t kStreamHighWater = 64 * 1024;

class ResponseStream : private ChunkSink
{
public:
    struct Callbacks {
        std::function<void(std::string framed)> on_data; // chunk-framed bytes to write
        std::function<void(bool complete)> on_end;       // producer returned (false: it threw)
    };

    // Starts `producer` on a new thread. Callbacks run on the loop thread. The stream frees
    // itself once its thread has ended and its async handle is closed; *active is incremented
    // now and decremented then (the server's count of open streams).
    static ResponseStream *start(uv_loop_t *loop, BodyProducer producer, Callbacks callbacks,
                                 int *active);

    // Loop thread: n bytes handed to on_data were written; the producer may queue more.
    void written(size_t n);
    // Loop thread: the client went away (or the server closes). No callback runs after this;
    // the producer's next write or wait returns false. Must not be called after on_end.
    void cancel();

private:
    ResponseStream(uv_loop_t *loop, Callbacks callbacks, int *active);
    ~ResponseStream() = default;
    bool write(const std::string &data) override;
    bool wait(int ms) override;
    static void on_async(uv_async_t *a);

    uv_async_t async_{};
    Callbacks callbacks_;   // loop thread only
    bool detached_ = false; // loop thread only: cancel() ran, no callback may run
    int *active_;
    std::thread thread_;

    std::mutex mu_; // guards everything below
    std::condition_variable cv_;
    std::deque<std::string> chunks_;
    size_t queued_ = 0; // bytes handed over and not yet written
    bool cancelled_ = false;
    bool finished_ = false;
    bool complete_ = false;
};

} // namespace berth::control
