// Stateful (#14): random bytes from both ends of a proxied exchange. A real Connection on a
// Worker loop (driven here) serves a proxy route whose upstream is a loopback listener of
// this process: the first part of the input goes to the edge as the client, the rest as the
// upstream's answer to whatever the edge sends it. Invariants: the client only ever sees
// responses starting with a status line, what reaches the upstream is only ever complete
// request heads the edge wrote (request line "METHOD /... HTTP/1.1"), and once both peers
// have closed the edge closes the client connection too (nothing leaks).
#include <arpa/inet.h>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

#include "edge/core/worker.h"
#include "fuzz/fuzz_check.h"
#include "shared/route/route_table_json.h"

using namespace berth::edge;

namespace
{

struct Fixture {
    EdgeConfig config;
    ServerShared shared;
    std::unique_ptr<Worker> worker;
    int listener = -1;

    Fixture()
    {
        listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        ::bind(listener, reinterpret_cast<sockaddr *>(&a), sizeof a);
        ::listen(listener, 64);
        socklen_t len = sizeof a;
        getsockname(listener, reinterpret_cast<sockaddr *>(&a), &len);
        std::string table = R"({"version": 1, "routes": [{"host": "api.test", "type": "proxy",
            "websocket": true, "retries": 0, "max_body_bytes": 4096,
            "upstreams": [{"addr": "127.0.0.1:)" +
                            std::to_string(ntohs(a.sin_port)) + R"("}]}]})";
        std::string error;
        auto routes = berth::shared::route::parse_route_table(table, error);
        config.max_header_bytes = 4096;
        config.max_url_bytes = 1024;
        config.max_body_bytes = 2048;
        shared.config = &config;
        worker = std::make_unique<Worker>(
            0, shared, std::vector<ListenSocket>{},
            std::make_shared<const berth::shared::route::RouteTable>(std::move(*routes)));
    }
};

Fixture &fixture()
{
    static Fixture f;
    return f;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    Fixture &f = fixture();
    size_t split = 1 + size_t(data[0]) * (size - 1) / 256;
    std::string client_in(reinterpret_cast<const char *>(data + 1), split - 1);
    std::string upstream_in(reinterpret_cast<const char *>(data + split), size - split);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return 0;
    sockaddr_storage peer{};
    peer.ss_family = AF_UNIX;
    f.worker->adopt(sv[0], peer);

    std::string out, seen;
    int up = -1;
    size_t sent = 0, up_sent = 0;
    bool shut = false, up_closed = false;
    char buf[65536];
    // Requests after the first (pipelined behind its answer) get fresh upstream connections:
    // each is closed at once, so the edge answers 502 rather than waiting for a response-header
    // timeout that never comes in this clockless loop.
    auto refuse_later = [&] {
        if (!up_closed) return;
        int later;
        while ((later = ::accept4(f.listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0)
            ::close(later);
    };
    for (int round = 0; round < 20000 && f.worker->connection_count() > 0; ++round) {
        if (sent < client_in.size()) {
            ssize_t n =
                ::send(sv[1], client_in.data() + sent, client_in.size() - sent, MSG_NOSIGNAL);
            if (n > 0) sent += size_t(n);
        } else if (!shut) {
            ::shutdown(sv[1], SHUT_WR);
            shut = true;
        }
        f.worker->run_once(0);
        if (up < 0 && !up_closed) up = ::accept4(f.listener, nullptr, nullptr, SOCK_NONBLOCK);
        refuse_later();
        if (up >= 0) {
            ssize_t n;
            while ((n = ::recv(up, buf, sizeof buf, 0)) > 0)
                if (seen.size() < (1u << 20)) seen.append(buf, size_t(n));
            // The upstream answers once it has seen a whole head, then closes.
            if (seen.find("\r\n\r\n") != std::string::npos || round > 200) {
                if (up_sent < upstream_in.size()) {
                    n = ::send(up, upstream_in.data() + up_sent, upstream_in.size() - up_sent,
                               MSG_NOSIGNAL);
                    if (n > 0) up_sent += size_t(n);
                } else {
                    ::close(up);
                    up = -1;
                    up_closed = true;
                }
            }
        }
        ssize_t n;
        while ((n = ::recv(sv[1], buf, sizeof buf, 0)) > 0)
            if (out.size() < (1u << 20)) out.append(buf, size_t(n));
    }
    if (up >= 0) ::close(up);
    // Let the edge see the upstream's close, then the client's end.
    up_closed = true;
    for (int round = 0; round < 2000 && f.worker->connection_count() > 0; ++round) {
        f.worker->run_once(0);
        refuse_later();
        ssize_t n;
        while ((n = ::recv(sv[1], buf, sizeof buf, 0)) > 0)
            if (out.size() < (1u << 20)) out.append(buf, size_t(n));
    }
    FUZZ_CHECK(f.worker->connection_count() == 0);
    ::close(sv[1]);
    if (!out.empty()) FUZZ_CHECK(out.rfind("HTTP/1.", 0) == 0);
    if (!seen.empty()) {
        size_t sp = seen.find(' ');
        FUZZ_CHECK(sp != std::string::npos);
        size_t eol = seen.find("\r\n");
        FUZZ_CHECK(eol != std::string::npos && seen.compare(eol - 9, 9, " HTTP/1.1") == 0);
        FUZZ_CHECK(seen[sp + 1] == '/' || seen[sp + 1] == '*');
    }
    return 0;
}
