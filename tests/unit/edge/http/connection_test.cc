// Connection driven byte by byte through an in-memory transport (no sockets): pipelining,
// partial writes, stalls, batched sends, idle buffers going back to the pool, waiting and
// streamed exchanges with backpressure both ways, and access-log lines written once the
// answer has left.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <uv.h>

#include "edge/http/connection.h"
#include "tests/support/fake_transport.h"
#include "tests/support/temp_tree.h"

using namespace berth::edge;
using berth::test::FakeTransport;
using berth::test::read_file;
using berth::test::TempTree;

namespace
{

// Answers "GET /x" with a 200 whose body is the path, keep-alive unless asked to close.
struct EchoPathHandler : Handler {
    int served = 0;
    void serve(Exchange &ex) override
    {
        ++served;
        ex.begin(200);
        std::string body(ex.req.path);
        ex.writer().header("Content-Length", uint64_t(body.size()));
        ex.end_head();
        if (!ex.head_only) ex.out.buffer().append(body);
    }
};

std::string echo_answer(const std::string &path, bool close = false)
{
    return "HTTP/1.1 200 OK\r\n" + std::string("Server: berth\r\nContent-Length: ") +
           std::to_string(path.size()) + "\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n" +
           path;
}

// Drops the Date line (it changes with the clock) so answers compare exactly.
std::string without_date(std::string s)
{
    size_t at;
    while ((at = s.find("Date: ")) != std::string::npos)
        s.erase(at, s.find("\r\n", at) + 2 - at);
    return s;
}

std::string get(const std::string &path, const std::string &extra = "")
{
    return "GET " + path + " HTTP/1.1\r\nHost: app.test\r\n" + extra + "\r\n";
}

// A worker's context around one or more connections, on a real libuv loop (the clock).
struct Harness : ConnectionOwner {
    EdgeConfig config;
    uv_loop_t loop;
    DateHeader date;
    Router router{"test", true};
    HandlerTable handlers;
    EchoPathHandler echo;
    BusyStatePool busy{berth::shared::http::ParserLimits{}, 16 * 1024 + 1024, 8};
    PageCacheWarmer warmer{nullptr};
    ConnectionStats stats;
    ConnectionContext ctx;
    std::vector<std::unique_ptr<Connection>> retired;
    std::unique_ptr<AccessLog> log;
    int log_fd = -1;

    Harness()
    {
        uv_loop_init(&loop);
        handlers.set(RouteTarget::Kind::kStatic, &echo);
        ctx.config = &config;
        ctx.loop = &loop;
        ctx.date = &date;
        ctx.router = &router;
        ctx.handlers = &handlers;
        ctx.busy = &busy;
        ctx.warmer = &warmer;
        ctx.stats = &stats;
        ctx.owner = this;
    }
    ~Harness()
    {
        retired.clear();
        log.reset();
        if (log_fd >= 0) ::close(log_fd);
        uv_loop_close(&loop);
    }
    void retire(Connection &c) noexcept override { retired.emplace_back(&c); }
    berth::shared::IntrusiveList<DeferredPump> deferred;
    void defer(DeferredPump &p) noexcept override { deferred.push_front(p); }
    // What a worker does after each round: the deferred pumps go on (until none is left).
    void run_deferred()
    {
        while (!deferred.empty())
            deferred.for_each([](DeferredPump &p) {
                p.unlink();
                p.conn->pump_deferred();
            });
    }

    void log_to(const std::string &path, LogFormat format)
    {
        log_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        REQUIRE(log_fd >= 0);
        log = std::make_unique<AccessLog>(&loop, log_fd, format);
        ctx.access_log = log.get();
    }
};

// One connection over a fake transport; closes it (if still open) at the end.
struct Client {
    Harness &h;
    FakeTransport t;
    Connection *c;
    explicit Client(Harness &harness, bool request_waiting = false) : h(harness)
    {
        sockaddr_storage peer{};
        peer.ss_family = AF_INET;
        c = new Connection(h.ctx, t, peer);
        c->start(request_waiting);
    }
    ~Client()
    {
        if (!c->closed()) c->close();
    }
    std::string out() const { return without_date(t.output); }
};

} // namespace

TEST_CASE("a pipeline fed one byte at a time is answered whole and in order", "[connection]")
{
    Harness h;
    Client c(h);
    c.t.read_chunk = 1;
    std::string pipeline = get("/a") + get("/bb") + get("/ccc");
    for (char ch : pipeline)
        c.t.client_sends(std::string(1, ch));
    CHECK(c.out() == echo_answer("/a") + echo_answer("/bb") + echo_answer("/ccc"));
    CHECK(h.echo.served == 3);
    CHECK(h.stats.requests.get() == 3);
    CHECK_FALSE(c.c->closed());
    // The client's FIN: the connection closes cleanly.
    c.t.client_closes();
    CHECK(c.c->closed());
    CHECK(c.t.closed);
}

TEST_CASE("a socket that takes a few bytes at a time gets every byte in order", "[connection]")
{
    Harness h;
    Client c(h);
    c.t.send_room = 7;
    c.t.client_sends(get("/first") + get("/second"));
    std::string expected = echo_answer("/first") + echo_answer("/second");
    CHECK(c.t.output.size() == 7);
    for (int i = 0; i < 1000; ++i)
        c.t.client_reads(7);
    CHECK(c.out() == expected);
    CHECK(h.stats.bytes_out.get() == c.t.output.size());
}

TEST_CASE("a stalled client stops the reading: answers never pile up past the output's room",
          "[connection]")
{
    Harness h;
    Client c(h);
    c.t.send_room = 0; // the client reads nothing
    std::string many;
    for (int i = 0; i < 2000; ++i)
        many += get("/p" + std::to_string(i));
    c.t.client_sends(many);
    CHECK(c.t.output.empty());
    CHECK_FALSE(c.t.input.empty()); // backpressure: the rest stays in the socket
    CHECK(h.echo.served < 2000);
    // The client reads again: everything is answered, in order.
    for (int i = 0; i < 100000 && h.echo.served < 2000; ++i)
        c.t.client_reads();
    std::string expected;
    for (int i = 0; i < 2000; ++i)
        expected += echo_answer("/p" + std::to_string(i));
    CHECK(c.out() == expected);
}

TEST_CASE("a send queued for the loop round's batch keeps the output until its result",
          "[connection]")
{
    Harness h;
    Client c(h);
    c.t.batch = true;
    c.t.send_room = 10;
    c.t.client_sends(get("/one") + get("/two"));
    CHECK(c.t.output.empty()); // queued, not sent
    // The round ends: the socket takes 10 bytes; the rest waits for send space.
    REQUIRE(c.t.flush_batch());
    CHECK(c.t.output.size() == 10);
    c.t.send_room = SIZE_MAX;
    c.t.client_reads();
    while (c.t.flush_batch()) {
    }
    CHECK(c.out() == echo_answer("/one") + echo_answer("/two"));
    // A socket that broke while the send was queued: the connection closes.
    c.t.client_sends(get("/three"));
    REQUIRE(c.t.fail_batch(ECONNRESET));
    CHECK(c.c->closed());
}

TEST_CASE("an idle keep-alive connection gives its buffers back and takes them again",
          "[connection]")
{
    Harness h;
    Client c(h);
    CHECK_FALSE(c.c->busy());
    c.t.client_sends(get("/x"));
    CHECK(c.out() == echo_answer("/x"));
    CHECK_FALSE(c.c->busy()); // answered and idle: nothing held
    CHECK(h.busy.spare() == 1);
    // Half a request holds the buffers; the rest completes it.
    c.t.client_sends("GET /y HTTP/1.1\r\nHo");
    CHECK(c.c->busy());
    CHECK(h.busy.spare() == 0);
    c.t.client_sends("st: app.test\r\n\r\n");
    CHECK(c.out() == echo_answer("/x") + echo_answer("/y"));
    CHECK_FALSE(c.c->busy());
    // Output the socket has not taken yet holds them too.
    c.t.send_room = 5;
    c.t.client_sends(get("/z"));
    CHECK(c.c->busy());
    c.t.client_reads();
    CHECK_FALSE(c.c->busy());
    // A readiness event with nothing to read takes and gives back at once.
    c.t.client_sends("");
    CHECK_FALSE(c.c->busy());
}

TEST_CASE("a pooled parser starts clean after a connection that asked to close", "[connection]")
{
    Harness h;
    {
        Client a(h);
        a.t.client_sends(get("/a", "Connection: close\r\n"));
        CHECK(a.out() == echo_answer("/a", true));
        CHECK(a.c->closed());
    }
    Client b(h);
    b.t.client_sends(get("/b"));
    CHECK(b.out() == echo_answer("/b"));
}

TEST_CASE("a malformed request gets a 400, is logged, and the connection lingers then closes",
          "[connection]")
{
    TempTree tree;
    Harness h;
    h.log_to(tree.path("access.log"), LogFormat::kJson);
    Client c(h);
    c.t.client_sends("GET / HTTP/1.1\r\nHost: app.test\r\nBad Header\r\n\r\n");
    CHECK(c.out().rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
    CHECK(c.t.shut); // lingering: our side is shut, the client's bytes are read and dropped
    CHECK_FALSE(c.c->closed());
    c.t.client_closes();
    CHECK(c.c->closed());
    h.log->flush_blocking();
    CHECK(read_file(tree.path("access.log")).find("\"status\":400") != std::string::npos);
}

namespace
{

// Waits once per request on a WakeList the test wakes, then answers like EchoPathHandler.
struct WaitOnceHandler : Handler {
    EchoPathHandler echo;
    std::shared_ptr<WakeList> gate = std::make_shared<WakeList>();
    std::vector<std::string> waited;
    void serve(Exchange &ex) override
    {
        std::string path(ex.req.path);
        if (std::find(waited.begin(), waited.end(), path) == waited.end()) {
            waited.push_back(path);
            ex.pending = gate;
            return;
        }
        echo.serve(ex);
    }
};

} // namespace

TEST_CASE("a waiting request pauses the pipeline and is answered, in order, once woken",
          "[connection]")
{
    TempTree tree;
    Harness h;
    WaitOnceHandler wait;
    h.handlers.set(RouteTarget::Kind::kStatic, &wait);
    h.log_to(tree.path("access.log"), LogFormat::kCombined);
    Client c(h);
    c.t.client_sends(get("/slow") + get("/next"));
    CHECK(c.t.output.empty());
    CHECK(wait.gate->has_waiters());
    wait.gate->wake();
    // /next waits its turn too (first sight), then is answered after /slow.
    REQUIRE(wait.gate->has_waiters());
    wait.gate->wake();
    CHECK(c.out() == echo_answer("/slow") + echo_answer("/next"));

    // A client gone while its request waits is logged 499, as nginx does.
    c.t.client_sends(get("/never"));
    CHECK(wait.gate->has_waiters());
    c.c->close();
    CHECK_FALSE(wait.gate->has_waiters());
    h.log->flush_blocking();
    std::string log = read_file(tree.path("access.log"));
    CHECK(log.find("\"GET /slow HTTP/1.1\" 200 5") != std::string::npos);
    CHECK(log.find("\"GET /next HTTP/1.1\" 200 5") != std::string::npos);
    CHECK(log.find("\"GET /never HTTP/1.1\" 499 0") != std::string::npos);
}

TEST_CASE("the access-log line is written when the answer has left, with the bytes that went",
          "[connection]")
{
    TempTree tree;
    Harness h;
    h.log_to(tree.path("access.log"), LogFormat::kJson);
    Client c(h);
    c.t.send_room = 0;
    c.t.client_sends(get("/abcdef", "User-Agent: tester\r\n"));
    h.log->flush_blocking();
    CHECK(read_file(tree.path("access.log")).empty()); // queued, not sent
    c.t.client_reads();
    h.log->flush_blocking();
    std::string line = read_file(tree.path("access.log"));
    CHECK(line.find("\"host\":\"app.test\"") != std::string::npos);
    CHECK(line.find("\"target\":\"/abcdef\"") != std::string::npos);
    CHECK(line.find("\"status\":200") != std::string::npos);
    CHECK(line.find("\"bytes\":7") != std::string::npos); // the body, not the head
    CHECK(line.find("\"duration_us\":") != std::string::npos);
    CHECK(line.find("\"user_agent\":\"tester\"") != std::string::npos);

    // A connection closed with its answer half sent: logged with the body bytes that went.
    Client e(h);
    std::string path = "/0123456789";
    size_t head_with_date = echo_answer(path).size() - path.size() + h.date.line().size();
    e.t.send_room = head_with_date + 6;
    e.t.client_sends(get(path));
    REQUIRE(e.t.output.size() == head_with_date + 6);
    e.c->close();
    h.log->flush_blocking();
    std::string all = read_file(tree.path("access.log"));
    CHECK(all.find("\"target\":\"/0123456789\",\"proto\":\"HTTP/1.1\",\"status\":200,"
                   "\"bytes\":6,") != std::string::npos);
}

namespace
{

// Streams `total` bytes in 16 KiB pieces after its head, recording how much output was
// queued and unsent at each pull (the memory a download holds).
struct DownloadTask : ExchangeTask {
    size_t total = 0;
    size_t produced = 0;
    bool head_written = false;
    bool paused = false; // says kWait until resumed
    uint64_t head_end_at = 0;
    uint64_t max_unsent = 0;
    int ended = 0;
    bool completed = false;
    Pull pull(OutputQueue &out) override
    {
        max_unsent = std::max(max_unsent, out.unsent());
        if (paused) return Pull::kWait;
        if (!head_written) {
            out.buffer().append("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(total) +
                                "\r\n\r\n");
            head_end_at = out.queued_total();
            head_written = true;
            return Pull::kMore;
        }
        if (produced == total) return Pull::kDone;
        size_t n = std::min<size_t>(16 * 1024, total - produced);
        for (size_t i = 0; i < n; ++i)
            out.buffer().push_back(char('a' + (produced + i) % 26));
        produced += n;
        return Pull::kMore;
    }
    size_t on_body(const char *, size_t len) override { return len; }
    void on_body_end() override {}
    int status() const noexcept override { return 200; }
    uint64_t head_end() const noexcept override { return head_end_at; }
    void end(bool done) override
    {
        ++ended;
        completed = done;
    }
};

struct TaskHandler : Handler {
    ExchangeTask *task = nullptr;
    bool reads_body = false;
    ExchangeStream *stream = nullptr;
    EchoPathHandler echo;
    void serve(Exchange &ex) override
    {
        if (ex.req.path != "/task") return echo.serve(ex);
        ex.task = task;
        ex.task_reads_body = reads_body;
        stream = ex.stream;
    }
};

} // namespace

TEST_CASE("a streamed answer is pulled as the output drains, with bounded memory", "[connection]")
{
    TempTree tree;
    Harness h;
    h.log_to(tree.path("access.log"), LogFormat::kJson);
    DownloadTask download;
    download.total = 4 * 1024 * 1024;
    TaskHandler handler;
    handler.task = &download;
    h.handlers.set(RouteTarget::Kind::kStatic, &handler);
    Client c(h);
    c.t.send_room = 0;
    c.t.client_sends(get("/task") + get("/after"));
    CHECK(download.head_written);
    CHECK(download.produced < download.total); // nobody reads: it stopped producing
    size_t guard = 0;
    while (download.ended == 0 && ++guard < 100000)
        c.t.client_reads(8 * 1024); // a slow reader
    c.t.client_reads();
    REQUIRE(download.ended == 1);
    CHECK(download.completed);
    CHECK(download.max_unsent <= 64 * 1024 + 16 * 1024); // the high-water mark plus one piece
    std::string expected_body;
    for (size_t i = 0; i < download.total; ++i)
        expected_body.push_back(char('a' + i % 26));
    // The pipelined request behind it is answered after the whole stream.
    std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 4194304\r\n\r\n";
    CHECK(c.t.output.compare(0, head.size() + expected_body.size(), head + expected_body) == 0);
    CHECK(c.out() == head + expected_body + echo_answer("/after"));
    h.log->flush_blocking();
    CHECK(read_file(tree.path("access.log")).find("\"bytes\":4194304") != std::string::npos);
}

TEST_CASE("a streamed answer that waits is resumed, one that aborts cuts the connection",
          "[connection]")
{
    Harness h;
    DownloadTask download;
    download.total = 100;
    download.paused = true;
    TaskHandler handler;
    handler.task = &download;
    h.handlers.set(RouteTarget::Kind::kStatic, &handler);
    {
        Client c(h);
        c.t.client_sends(get("/task"));
        CHECK(c.t.output.empty());
        download.paused = false;
        handler.stream->resume_output();
        CHECK(download.completed);
        CHECK(c.t.output.size() ==
              std::string("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n").size() + 100);
    }
    // The client goes away mid-stream: the task hears end(false).
    DownloadTask stuck;
    stuck.total = 100;
    stuck.paused = true;
    handler.task = &stuck;
    Client c(h);
    c.t.client_sends(get("/task"));
    c.t.client_closes();
    c.c->close();
    CHECK(stuck.ended == 1);
    CHECK_FALSE(stuck.completed);
}

namespace
{

// Takes at most `budget` body bytes until given more; records what it got.
struct UploadTask : ExchangeTask {
    std::string body;
    size_t budget = SIZE_MAX;
    bool body_ended = false;
    bool answered = false;
    int ended = 0;
    Pull pull(OutputQueue &out) override
    {
        if (!body_ended) return Pull::kWait;
        if (!answered) {
            answered = true;
            std::string size = std::to_string(body.size());
            out.buffer().append("HTTP/1.1 201 Created\r\nContent-Length: " +
                                std::to_string(size.size()) + "\r\n\r\n" + size);
        }
        return Pull::kDone;
    }
    size_t on_body(const char *data, size_t len) override
    {
        size_t n = std::min(len, budget);
        body.append(data, n);
        if (budget != SIZE_MAX) budget -= n;
        return n;
    }
    void on_body_end() override { body_ended = true; }
    int status() const noexcept override { return 201; }
    uint64_t head_end() const noexcept override { return 0; }
    void end(bool) override { ++ended; }
};

} // namespace

TEST_CASE("a task reads the request body as a stream and holds back what it cannot take",
          "[connection]")
{
    Harness h;
    UploadTask upload;
    upload.budget = 1000;
    TaskHandler handler;
    handler.task = &upload;
    handler.reads_body = true;
    h.handlers.set(RouteTarget::Kind::kStatic, &handler);
    Client c(h);
    std::string body;
    for (int i = 0; i < 5000; ++i)
        body.push_back(char('0' + i % 10));
    c.t.client_sends("POST /task HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5000\r\n\r\n" +
                     body + get("/after"));
    CHECK(upload.body.size() == 1000); // it took its budget; the rest is held
    CHECK_FALSE(upload.body_ended);
    while (!upload.body_ended) {
        upload.budget = 700;
        handler.stream->resume_body();
    }
    CHECK(upload.body == body);
    handler.stream->resume_output();
    CHECK(c.out() ==
          "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\n5000" + echo_answer("/after"));
    CHECK(upload.ended == 1);
}

TEST_CASE("a chunked request body reaches the task de-chunked, across reads", "[connection]")
{
    Harness h;
    UploadTask upload;
    TaskHandler handler;
    handler.task = &upload;
    handler.reads_body = true;
    h.handlers.set(RouteTarget::Kind::kStatic, &handler);
    Client c(h);
    c.t.read_chunk = 3;
    c.t.client_sends("POST /task HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n");
    CHECK(upload.body == "hello, world");
    CHECK(upload.body_ended);
    handler.stream->resume_output();
    CHECK(c.out() == "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n12");
}

TEST_CASE("the header timeout answers 408 and the idle timeout closes quietly", "[connection]")
{
    Harness h;
    h.config.header_timeout_ms = 50;
    h.config.idle_timeout_ms = 80;
    Client slow(h);
    slow.t.client_sends("GET / HTTP/1.1\r\n");
    uint64_t now = uv_now(&h.loop);
    slow.c->on_tick(now + 10);
    CHECK(slow.t.output.empty());
    slow.c->on_tick(now + 60);
    CHECK(slow.out().rfind("HTTP/1.1 408 Request Timeout\r\n", 0) == 0);

    Client idle(h);
    idle.t.client_sends(get("/x"));
    idle.c->on_tick(now + 60);
    CHECK_FALSE(idle.c->closed());
    idle.c->on_tick(now + 200);
    CHECK(idle.c->closed());
    CHECK(idle.out() == echo_answer("/x")); // nothing more was written
}
