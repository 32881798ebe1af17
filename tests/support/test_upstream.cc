// A test upstream for the proxy tests (#14): a small HTTP/1.1 server on 127.0.0.1:0, one thread
// per connection, with its own request parser (independent of the edge's), that logs every
// request it receives as one JSON line, so a test can check exactly what reached it.
//
// usage: berth_test_upstream NAME LOGFILE   → prints "listening on PORT" and serves until killed
// Paths:
//   /id                 "NAME conn=N req=M" (which upstream, which connection)
//   /slow?ms=N          the same after N ms
//   /headers            the request head as received, as the body
//   /upload             reads the body (Content-Length or chunked): "bytes=N sum=HEX"
//   /big?bytes=N        N pattern bytes with Content-Length
//   /chunked?bytes=N    N pattern bytes, chunked in 1000-byte chunks
//   /close?bytes=N      N pattern bytes, close-delimited (HTTP/1.0-style)
//   /cut?bytes=N        a head announcing N bytes, then N/2, then the connection is closed
//   /bad/<kind>         a malformed answer: cl-te, two-cl, obs-fold, bare-lf, nul, huge-head,
//                       bad-chunk, garbage
//   /expect             with "Expect: 100-continue": answers 100 first, then reads the body
//   /refuse-body        answers 413 at once without reading the body
//   /ws                 WebSocket: 101 and then an echo of every frame (unmasked back)
//   /ws-flood?bytes=N   WebSocket: 101, then N payload bytes in binary frames without reading;
//                       logs {"ws_flood":"blocked"} the first time the socket is full and
//                       {"ws_flood":"done"} at the end
//   /304, /head         a 304 / a 200 with Content-Length 10 and, to HEAD, a body anyway
//   /then-close?ms=N    as /id (keep-alive, no Connection: close), then closes the idle
//                       connection after N ms, as a keep-alive timeout does
//   /drop-next          as /id, then reads and logs the next request and closes unanswered
//                       (an idle close racing the edge's next request)
//   /drop?on=NAME       upstream NAME closes unanswered after reading it; the others as /id
//   /stall?bytes=N&ms=M a head announcing 2N bytes, N of them, M ms of silence, the rest
//   /hold?ms=N          as /id after N ms, unless the edge closes the connection first: logs
//                       {"hold":"closed"} or {"hold":"answered"}
//   /drip?ms=N&n=K      a chunked answer of K chunks, one every N ms, until the edge closes:
//                       logs {"drip":"closed","chunks":C} or {"drip":"done"}
#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace
{

std::string g_name;
FILE *g_log = nullptr;
std::mutex g_log_mutex;
std::atomic<int> g_conns{0};

std::string json_escape(const std::string &s)
{
    std::string out;
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(char(c));
        } else if (c < 0x20 || c >= 0x7f) {
            char b[8];
            std::snprintf(b, sizeof b, "\\u%04x", c);
            out += b;
        } else {
            out.push_back(char(c));
        }
    }
    return out;
}

void log_line(const std::string &line)
{
    std::lock_guard<std::mutex> lock(g_log_mutex);
    std::fputs(line.c_str(), g_log);
    std::fputc('\n', g_log);
    std::fflush(g_log);
}

std::string pattern(size_t n)
{
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i)
        s[i] = "0123456789abcdef"[i % 16];
    return s;
}

bool send_all(int fd, const std::string &s)
{
    size_t off = 0;
    while (off < s.size()) {
        ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return false;
        off += size_t(n);
    }
    return true;
}

struct Conn {
    int fd;
    int id;
    std::string buf;
    bool fill()
    {
        char tmp[65536];
        ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0) return false;
        buf.append(tmp, size_t(n));
        return true;
    }
    // Reads exactly n bytes of body, summing them; false on EOF.
    bool body(uint64_t n, uint64_t &sum, uint64_t &count)
    {
        while (n > 0) {
            if (buf.empty() && !fill()) return false;
            size_t take = size_t(std::min<uint64_t>(n, buf.size()));
            for (size_t i = 0; i < take; ++i)
                sum = sum * 31 + uint8_t(buf[i]);
            count += take;
            buf.erase(0, take);
            n -= take;
        }
        return true;
    }
    bool line(std::string &out)
    {
        size_t nl;
        while ((nl = buf.find("\r\n")) == std::string::npos)
            if (!fill()) return false;
        out = buf.substr(0, nl);
        buf.erase(0, nl + 2);
        return true;
    }
};

std::string lower(std::string s)
{
    for (char &c : s)
        c = char(std::tolower(uint8_t(c)));
    return s;
}

uint64_t query_num(const std::string &target, const char *key, uint64_t dflt)
{
    std::string k = std::string(key) + "=";
    size_t at = target.find(k);
    if (at == std::string::npos) return dflt;
    return std::strtoull(target.c_str() + at + k.size(), nullptr, 10);
}

std::string ws_accept(const std::string &key)
{
    std::string in = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char *>(in.data()), in.size(), digest);
    unsigned char out[64];
    int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
    return std::string(reinterpret_cast<char *>(out), size_t(n));
}

// Echoes WebSocket frames back unmasked until a close frame or EOF.
void ws_echo(Conn &c)
{
    while (true) {
        while (c.buf.size() < 2)
            if (!c.fill()) return;
        uint8_t b0 = uint8_t(c.buf[0]), b1 = uint8_t(c.buf[1]);
        uint64_t len = b1 & 0x7f;
        size_t hdr = 2;
        if (len == 126) hdr = 4;
        if (len == 127) hdr = 10;
        bool masked = b1 & 0x80;
        size_t need = hdr + (masked ? 4 : 0);
        while (c.buf.size() < need)
            if (!c.fill()) return;
        if (len == 126) len = (uint64_t(uint8_t(c.buf[2])) << 8) | uint8_t(c.buf[3]);
        if (len == 127) {
            len = 0;
            for (int i = 0; i < 8; ++i)
                len = (len << 8) | uint8_t(c.buf[2 + i]);
        }
        while (c.buf.size() < need + len)
            if (!c.fill()) return;
        std::string payload = c.buf.substr(need, len);
        if (masked)
            for (size_t i = 0; i < payload.size(); ++i)
                payload[i] = char(payload[i] ^ c.buf[hdr + i % 4]);
        c.buf.erase(0, need + len);
        std::string out;
        out.push_back(char(b0));
        if (len < 126) {
            out.push_back(char(len));
        } else if (len < 65536) {
            out.push_back(char(126));
            out.push_back(char(len >> 8));
            out.push_back(char(len & 0xff));
        } else {
            out.push_back(char(127));
            for (int i = 7; i >= 0; --i)
                out.push_back(char((len >> (8 * i)) & 0xff));
        }
        out += payload;
        if (!send_all(c.fd, out)) return;
        if ((b0 & 0x0f) == 8) return; // close
    }
}

// Sends N payload bytes as 65535-byte binary frames as fast as the socket takes them.
void ws_flood(int fd, uint64_t bytes)
{
    std::string frame = std::string("\x82\x7e\xff\xff", 4) + std::string(65535, 'f');
    bool blocked = false;
    for (uint64_t sent = 0; sent < bytes; sent += 65535) {
        size_t len = size_t(std::min<uint64_t>(65535, bytes - sent));
        frame[2] = char(len >> 8);
        frame[3] = char(len & 0xff);
        size_t n = 4 + len, at = 0;
        while (at < n) {
            ssize_t w = ::send(fd, frame.data() + at, n - at, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) {
                at += size_t(w);
                continue;
            }
            if (w < 0 && errno != EAGAIN && errno != EINTR) return;
            if (!blocked) log_line(R"({"ws_flood":"blocked"})");
            blocked = true;
            pollfd p{fd, POLLOUT, 0};
            ::poll(&p, 1, -1);
        }
    }
    log_line(R"({"ws_flood":"done"})");
}

// True when the peer closes (or resets) the connection within ms; it sends nothing meanwhile.
bool edge_closes_within(int fd, int ms)
{
    pollfd p{fd, POLLRDHUP, 0};
    return ::poll(&p, 1, ms) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

void serve(int fd)
{
    Conn c{fd, ++g_conns, {}};
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int req_no = 0;
    while (true) {
        std::string request_line;
        if (!c.line(request_line)) break;
        ++req_no;
        std::vector<std::pair<std::string, std::string>> headers;
        std::string raw_head = request_line + "\r\n";
        bool malformed = false;
        while (true) {
            std::string l;
            if (!c.line(l)) {
                malformed = true;
                break;
            }
            raw_head += l + "\r\n";
            if (l.empty()) break;
            size_t colon = l.find(':');
            if (colon == std::string::npos || l[0] == ' ' || l[0] == '\t') malformed = true;
            std::string v = colon == std::string::npos ? "" : l.substr(colon + 1);
            while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
                v.erase(0, 1);
            headers.emplace_back(l.substr(0, colon), v);
        }
        std::string method = request_line.substr(0, request_line.find(' '));
        size_t sp = request_line.find(' ');
        std::string target = request_line.substr(sp + 1, request_line.rfind(' ') - sp - 1);
        std::string cl, te, expect, key;
        int cl_count = 0;
        for (auto &[n, v] : headers) {
            std::string ln = lower(n);
            if (ln == "content-length") {
                cl = v;
                ++cl_count;
            }
            if (ln == "transfer-encoding") te = lower(v);
            if (ln == "expect") expect = lower(v);
            if (ln == "sec-websocket-key") key = v;
        }
        if (cl_count > 1 || (!cl.empty() && !te.empty()) || (!te.empty() && te != "chunked"))
            malformed = true;
        std::string path = target.substr(0, target.find('?'));
        bool expect_continue = expect == "100-continue";
        if (expect_continue && path == "/refuse-body") {
            std::string h;
            for (auto &[n, v] : headers)
                h += "[\"" + json_escape(n) + "\",\"" + json_escape(v) + "\"],";
            log_line("{\"conn\":" + std::to_string(c.id) + ",\"method\":\"" + json_escape(method) +
                     "\",\"target\":\"" + json_escape(target) + "\",\"refused\":true}");
            send_all(fd, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: "
                         "close\r\n\r\nno!\n");
            break;
        }
        if (expect_continue && path == "/expect") send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n");
        uint64_t sum = 0, count = 0;
        bool ok = true;
        if (!cl.empty()) {
            ok = c.body(std::strtoull(cl.c_str(), nullptr, 10), sum, count);
        } else if (te == "chunked") {
            while (ok) {
                std::string size_line;
                if (!c.line(size_line)) {
                    ok = false;
                    break;
                }
                char *end = nullptr;
                uint64_t n = std::strtoull(size_line.c_str(), &end, 16);
                if (end == size_line.c_str() || (*end && *end != ';')) malformed = true;
                if (n == 0) {
                    std::string trailer;
                    while (c.line(trailer) && !trailer.empty()) {
                    }
                    break;
                }
                ok = c.body(n, sum, count);
                std::string crlf;
                if (ok && (!c.line(crlf) || !crlf.empty())) malformed = true;
            }
        }
        std::string hj;
        for (auto &[n, v] : headers)
            hj += std::string(hj.empty() ? "" : ",") + "[\"" + json_escape(n) + "\",\"" +
                  json_escape(v) + "\"]";
        char sumhex[24];
        std::snprintf(sumhex, sizeof sumhex, "%016llx", (unsigned long long)sum);
        log_line("{\"conn\":" + std::to_string(c.id) + ",\"req\":" + std::to_string(req_no) +
                 ",\"method\":\"" + json_escape(method) + "\",\"target\":\"" + json_escape(target) +
                 "\",\"headers\":[" + hj + "],\"body_bytes\":" + std::to_string(count) +
                 ",\"body_sum\":\"" + sumhex +
                 "\",\"malformed\":" + (malformed ? "true" : "false") + "}");
        if (!ok || malformed) break;

        std::string id =
            g_name + " conn=" + std::to_string(c.id) + " req=" + std::to_string(req_no);
        auto simple = [&](const std::string &body, const std::string &extra = "") {
            return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\nX-Upstream: " + g_name + "\r\n" + extra +
                   "\r\n" + (method == "HEAD" ? "" : body);
        };
        bool close_after = false;
        std::string out;
        if (path == "/drop" && target.find("on=" + g_name) != std::string::npos) break;
        if (path == "/then-close") {
            if (!send_all(fd, simple(id))) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(query_num(target, "ms", 50)));
            break;
        } else if (path == "/drop-next") {
            if (!send_all(fd, simple(id))) break;
            std::string next;
            if (c.line(next))
                log_line("{\"conn\":" + std::to_string(c.id) + ",\"dropped\":\"" +
                         json_escape(next) + "\"}");
            break;
        } else if (path == "/stall") {
            uint64_t n = query_num(target, "bytes", 1000);
            if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(2 * n) +
                                  "\r\n\r\n" + pattern(n)))
                break;
            std::this_thread::sleep_for(std::chrono::milliseconds(query_num(target, "ms", 1000)));
            out = pattern(n);
        } else if (path == "/hold") {
            if (edge_closes_within(fd, int(query_num(target, "ms", 5000)))) {
                log_line(R"({"hold":"closed"})");
                break;
            }
            log_line(R"({"hold":"answered"})");
            out = simple(id);
        } else if (path == "/drip") {
            if (!send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) break;
            uint64_t chunks = query_num(target, "n", 3), sent = 0;
            bool closed = false;
            while (sent < chunks && !closed) {
                if (!send_all(fd, "5\r\ntick\n\r\n")) break;
                ++sent;
                closed = edge_closes_within(fd, int(query_num(target, "ms", 1000)));
            }
            if (sent < chunks || closed) {
                log_line(R"({"drip":"closed","chunks":)" + std::to_string(sent) + "}");
                break;
            }
            log_line(R"({"drip":"done"})");
            out = "0\r\n\r\n";
        } else if (path == "/slow") {
            std::this_thread::sleep_for(std::chrono::milliseconds(query_num(target, "ms", 100)));
            out = simple(id);
        } else if (path == "/headers") {
            out = simple(raw_head);
        } else if (path == "/upload" || path == "/expect") {
            out = simple("bytes=" + std::to_string(count) + " sum=" + sumhex);
        } else if (path == "/big") {
            out = simple(pattern(query_num(target, "bytes", 1000)));
        } else if (path == "/chunked") {
            std::string body = pattern(query_num(target, "bytes", 1000));
            out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Upstream: " + g_name +
                  "\r\n\r\n";
            for (size_t at = 0; at < body.size(); at += 1000) {
                std::string piece = body.substr(at, 1000);
                char hex[16];
                std::snprintf(hex, sizeof hex, "%zx", piece.size());
                out += std::string(hex) + ";ext=1\r\n" + piece + "\r\n";
            }
            out += "0\r\nX-Trailer: t\r\n\r\n";
        } else if (path == "/close") {
            out = "HTTP/1.1 200 OK\r\nX-Upstream: " + g_name + "\r\nConnection: close\r\n\r\n" +
                  pattern(query_num(target, "bytes", 1000));
            close_after = true;
        } else if (path == "/cut") {
            uint64_t n = query_num(target, "bytes", 100000);
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n" +
                             pattern(n / 2));
            break;
        } else if (path.rfind("/bad/", 0) == 0) {
            std::string kind = path.substr(5);
            if (kind == "cl-te")
                out = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "0\r\n\r\n";
            else if (kind == "two-cl")
                out = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!";
            else if (kind == "obs-fold")
                out = "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok";
            else if (kind == "bare-lf")
                out = "HTTP/1.1 200 OK\nContent-Length: 2\n\nok";
            else if (kind == "nul")
                out =
                    std::string("HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nok", 50);
            else if (kind == "huge-head")
                out = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(64 * 1024, 'x') +
                      "\r\nContent-Length: 2\r\n\r\nok";
            else if (kind == "bad-chunk")
                out =
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n";
            else if (kind == "split")
                out =
                    "HTTP/1.1 200 OK\r\nX-A: a\rSet-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok";
            else
                out = "NOT HTTP AT ALL\r\n\r\n";
            close_after = true;
        } else if (path == "/ws") {
            send_all(fd, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                         "Upgrade\r\nSec-WebSocket-Accept: " +
                             ws_accept(key) + "\r\n\r\n");
            ws_echo(c);
            break;
        } else if (path == "/ws-flood") {
            send_all(fd, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                         "Upgrade\r\nSec-WebSocket-Accept: " +
                             ws_accept(key) + "\r\n\r\n");
            ws_flood(fd, query_num(target, "bytes", 1 << 20));
            break;
        } else if (path == "/304") {
            out = "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 10\r\n\r\n";
        } else if (path == "/head") {
            out = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
        } else if (path == "/hop") {
            out = "HTTP/1.1 200 OK\r\nConnection: X-Secret, keep-alive\r\nX-Secret: s\r\n"
                  "Keep-Alive: timeout=5\r\nProxy-Agent: p\r\nTrailer: X-T\r\nUpgrade: h2c\r\n"
                  "X-Kept: k\r\nContent-Length: 2\r\n\r\nok";
        } else {
            out = simple(id);
        }
        if (!send_all(fd, out) || close_after) break;
    }
    ::shutdown(fd, SHUT_WR);
    char sink[4096];
    timeval tv{0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (::recv(fd, sink, sizeof sink, 0) > 0) {
    }
    ::close(fd);
}

} // namespace

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s NAME LOGFILE [PORT [IPV4]]\n", argv[0]);
        return 2;
    }
    g_name = argv[1];
    g_log = std::fopen(argv[2], "a");
    if (!g_log) return 1;
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(argc > 3 ? std::atoi(argv[3]) : 0));
    if (inet_pton(AF_INET, argc > 4 ? argv[4] : "127.0.0.1", &a.sin_addr) != 1) return 2;
    if (bind(s, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 || listen(s, 1024) != 0) {
        std::perror("bind/listen");
        return 1;
    }
    socklen_t len = sizeof a;
    getsockname(s, reinterpret_cast<sockaddr *>(&a), &len);
    std::printf("listening on %d\n", ntohs(a.sin_port));
    std::fflush(stdout);
    while (true) {
        int fd = ::accept4(s, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        std::thread(serve, fd).detach();
    }
}
