// AccessLog: combined and JSON lines, escaping of hostile bytes, and writes that never
// block the loop (the threadpool writes; flush_blocking at exit).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <unistd.h>

#include <uv.h>

#include "edge/log/access_log.h"
#include "tests/support/temp_tree.h"

using namespace berth::edge;
using berth::test::TempTree;

namespace
{

struct LogFile {
    TempTree tree;
    std::string path = tree.path("access.log");
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    uv_loop_t loop;
    LogFile() { uv_loop_init(&loop); }
    ~LogFile()
    {
        uv_loop_close(&loop);
        ::close(fd);
    }
    std::string text() const { return berth::test::read_file(path); }
};

sockaddr_storage v4(const char *ip)
{
    sockaddr_storage ss{};
    auto *a = reinterpret_cast<sockaddr_in *>(&ss);
    a->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a->sin_addr);
    return ss;
}

AccessRecord record(const sockaddr_storage &peer)
{
    AccessRecord r;
    r.peer = &peer;
    r.host = "app.test";
    r.method = "GET";
    r.target = "/a?b=1";
    r.referer = "https://ref.test/";
    r.user_agent = "curl/8";
    r.status = 200;
    r.bytes = 1234;
    r.duration_us = 56;
    return r;
}

} // namespace

TEST_CASE("combined lines read like nginx's, with dashes for missing fields", "[log]")
{
    LogFile f;
    auto peer = v4("192.0.2.7");
    {
        AccessLog log(&f.loop, f.fd, LogFormat::kCombined);
        log.log(record(peer));
        AccessRecord bare = record(peer);
        bare.referer = bare.user_agent = {};
        bare.http10 = true;
        bare.status = 404;
        bare.bytes = 0;
        log.log(bare);
        log.flush_blocking();
    }
    std::string text = f.text();
    CHECK(text.find("192.0.2.7 - - [") == 0);
    CHECK(text.find("] \"GET /a?b=1 HTTP/1.1\" 200 1234 \"https://ref.test/\" \"curl/8\"\n") !=
          std::string::npos);
    CHECK(text.find("\"GET /a?b=1 HTTP/1.0\" 404 0 \"-\" \"-\"\n") != std::string::npos);
}

TEST_CASE("hostile bytes cannot forge a line or break the JSON", "[log]")
{
    LogFile f;
    auto peer = v4("10.0.0.1");
    AccessRecord r = record(peer);
    r.target = "/x\"\n127.0.0.1 - - [forged]\x01\xff";
    r.user_agent = "a\\b\"c";
    {
        AccessLog combined(&f.loop, f.fd, LogFormat::kCombined);
        combined.log(r);
        combined.flush_blocking();
        AccessLog json(&f.loop, f.fd, LogFormat::kJson);
        json.log(r);
        json.flush_blocking();
    }
    std::string text = f.text();
    std::string first = text.substr(0, text.find('\n'));
    CHECK(first.find("/x\\x22\\x0A127.0.0.1 - - [forged]\\x01\\xFF") != std::string::npos);
    CHECK(first.find("\"a\\x5Cb\\x22c\"") != std::string::npos);
    std::string second = text.substr(text.find('\n') + 1);
    auto j = nlohmann::json::parse(second);
    CHECK(j["target"] == "/x\"\n127.0.0.1 - - [forged]\x01\xc3\xbf"); // \u00ff
    CHECK(j["user_agent"] == "a\\b\"c");
    CHECK(j["remote"] == "10.0.0.1");
    CHECK(j["host"] == "app.test");
    CHECK(j["status"] == 200);
    CHECK(j["bytes"] == 1234);
    CHECK(j["duration_us"] == 56);
    CHECK(std::count(text.begin(), text.end(), '\n') == 2);
}

TEST_CASE("lines are written by the threadpool, not the loop thread", "[log]")
{
    LogFile f;
    auto peer = v4("127.0.0.1");
    AccessLog log(&f.loop, f.fd, LogFormat::kCombined);
    log.log(record(peer));
    CHECK(f.text().empty()); // buffered
    log.flush();
    CHECK_FALSE(log.idle()); // a write is under way on the threadpool
    uv_run(&f.loop, UV_RUN_DEFAULT);
    CHECK(log.idle());
    CHECK(f.text().find("\"GET /a?b=1 HTTP/1.1\" 200 1234") != std::string::npos);
}
