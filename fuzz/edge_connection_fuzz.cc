// Stateful: bytes from a client → a real Connection on a real Worker loop, over a socketpair.
// Whatever arrives, the edge answers with well-formed HTTP/1.x responses or closes cleanly,
// never crashes or leaks, and never serves a byte of the file outside the deployment.
//
// Three modes by prefix: plain bytes (no prefix); "TLS:" — a real TLS client handshakes with
// the edge's TLS transport, then sends the rest as application data and reads the answers
// decrypted; "RAWTLS:" — the rest goes as raw bytes to a TLS connection (handshake garbage).
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "edge/core/worker.h"
#include "fuzz/fuzz_check.h"
#include "tests/support/test_certs.h"

using namespace berth::edge;

namespace
{

struct Fixture {
    std::filesystem::path root;
    EdgeConfig config;
    ServerShared shared;
    std::unique_ptr<TlsServer> tls;
    std::unique_ptr<Worker> worker;
    SSL_CTX *client_ctx = nullptr;

    Fixture()
    {
        root = std::filesystem::temp_directory_path() /
               ("berth-conn-fuzz-" + std::to_string(getpid()));
        std::filesystem::create_directories(root / "deployments/demo/assets");
        write("deployments/demo/index.html", "<h1>index</h1>\n");
        write("deployments/demo/assets/app.3f9a1b2c.js", "app();\n");
        write("deployments/demo/big.bin", std::string(200 * 1024, 'b'));
        write("deployments/demo/.env", "DOTENV-VALUE\n");
        write("outside-secret.txt", "OUTSIDE-SECRET\n");
        config.deployments_root = (root / "deployments").string();
        config.base_domain = "localhost";
        config.max_header_bytes = 4096;
        config.max_url_bytes = 1024;
        config.max_body_bytes = 2048;
        config.small_file_bytes = 16 * 1024;
        config.revalidate_ms = 0;
        shared.config = &config;
        berth::test::CertFiles cert =
            berth::test::make_cert(root.string(), "edge", {{"demo.localhost"}});
        CertSources sources;
        sources.pairs = {{cert.cert, cert.key}};
        CertReport report;
        tls = std::make_unique<TlsServer>(sources, 100, report);
        FUZZ_CHECK(report.refused.empty());
        shared.tls = tls.get();
        worker = std::make_unique<Worker>(0, shared, std::vector<ListenSocket>{}, nullptr);
        client_ctx = SSL_CTX_new(TLS_client_method());
        signal(SIGPIPE,
               SIG_IGN); // the TLS client writes with write(): a closed edge must not kill us
    }
    ~Fixture()
    {
        SSL_CTX_free(client_ctx);
        worker.reset(); // closes cached descriptors before the tree goes
        std::error_code ec;
        std::filesystem::remove_all(root, ec);
    }
    void write(const std::string &rel, const std::string &content)
    {
        std::ofstream(root / rel, std::ios::binary) << content;
    }
};

Fixture &fixture()
{
    static Fixture f;
    return f;
}

// Each response starts with a status line; 1xx interim responses may precede a final one.
// A file's secret may only appear if the request itself carried the text (a redirect
// echoes its query, an error page its reason): the fuzzer learns the markers from our own
// comparisons below.
void check_output(const std::string &out, std::string_view in)
{
    for (std::string_view secret : {"OUTSIDE-SECRET", "DOTENV-VALUE"})
        if (in.find(secret) == std::string_view::npos)
            FUZZ_CHECK(out.find(secret) == std::string::npos);
    if (out.empty()) return;
    FUZZ_CHECK(out.rfind("HTTP/1.", 0) == 0);
}

} // namespace

// A non-blocking TLS client over the socketpair, stepped between loop rounds.
struct TlsClient {
    SSL *ssl;
    explicit TlsClient(SSL_CTX *ctx, int fd) : ssl(SSL_new(ctx))
    {
        SSL_set_fd(ssl, fd);
        SSL_set_tlsext_host_name(ssl, "demo.localhost");
        SSL_set_connect_state(ssl);
    }
    ~TlsClient()
    {
        SSL_free(ssl);
        ERR_clear_error();
    }
};

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Fixture &f = fixture();
    std::string_view input(reinterpret_cast<const char *>(data), size);
    bool tls = false, raw_tls = false;
    if (input.starts_with("TLS:")) {
        tls = true;
        input.remove_prefix(4);
    } else if (input.starts_with("RAWTLS:")) {
        raw_tls = true;
        input.remove_prefix(7);
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return 0;
    sockaddr_storage peer{};
    peer.ss_family = AF_UNIX;
    f.worker->adopt(sv[0], peer, tls || raw_tls);

    std::string out;
    size_t sent = 0;
    bool shut = false;
    char buf[65536];
    std::unique_ptr<TlsClient> client;
    if (tls) client = std::make_unique<TlsClient>(f.client_ctx, sv[1]);
    bool handshaken = false;
    // Drive the loop on this thread: feed input, drain output, until the edge closes its end.
    for (int round = 0; round < 20000 && f.worker->connection_count() > 0; ++round) {
        if (client && !handshaken) {
            int r = SSL_do_handshake(client->ssl);
            if (r == 1) {
                handshaken = true;
            } else {
                int e = SSL_get_error(client->ssl, r);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                    ::shutdown(sv[1], SHUT_WR); // our own client failed: just end it
                    client.reset();
                    shut = true;
                    raw_tls = true; // what comes now is an alert, not HTTP
                }
            }
        } else if (sent < input.size()) {
            ssize_t n;
            if (client) {
                size_t w = 0;
                n = SSL_write_ex(client->ssl, input.data() + sent, input.size() - sent, &w) == 1
                        ? ssize_t(w)
                        : -1;
                ERR_clear_error();
            } else {
                n = ::send(sv[1], input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
            }
            if (n > 0) sent += size_t(n);
        } else if (!shut) {
            if (client) SSL_shutdown(client->ssl);
            ERR_clear_error();
            ::shutdown(sv[1], SHUT_WR);
            shut = true;
        }
        f.worker->run_once(0);
        if (client && handshaken) {
            size_t got = 0;
            while (SSL_read_ex(client->ssl, buf, sizeof buf, &got) == 1)
                if (out.size() < (1u << 20)) out.append(buf, got);
            ERR_clear_error();
        } else if (!client) {
            ssize_t n;
            while ((n = ::recv(sv[1], buf, sizeof buf, 0)) > 0)
                if (out.size() < (1u << 20) && !raw_tls) out.append(buf, size_t(n));
        }
    }
    FUZZ_CHECK(f.worker->connection_count() == 0); // EOF after the input: always closed
    client.reset();
    ::close(sv[1]);
    check_output(out, input);
    return 0;
}
