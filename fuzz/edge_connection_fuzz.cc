// Stateful: bytes from a client → a real Connection on a real Worker loop, over a socketpair.
// Whatever arrives, the edge answers with well-formed HTTP/1.x responses or closes cleanly,
// never crashes or leaks, and never serves a byte of the file outside the deployment.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <unistd.h>

#include "edge/core/worker.h"
#include "fuzz/fuzz_check.h"

using namespace berth::edge;

namespace
{

struct Fixture {
    std::filesystem::path root;
    EdgeConfig config;
    ServerShared shared;
    std::unique_ptr<Worker> worker;

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
        worker = std::make_unique<Worker>(0, shared, std::vector<ListenSocket>{}, nullptr);
    }
    ~Fixture()
    {
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

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Fixture &f = fixture();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return 0;
    sockaddr_storage peer{};
    peer.ss_family = AF_UNIX;
    f.worker->adopt(sv[0], peer);

    std::string out;
    size_t sent = 0;
    bool shut = false;
    char buf[65536];
    // Drive the loop on this thread: feed input, drain output, until the edge closes its end.
    for (int round = 0; round < 20000 && f.worker->connection_count() > 0; ++round) {
        if (sent < size) {
            ssize_t n = ::send(sv[1], data + sent, size - sent, MSG_NOSIGNAL);
            if (n > 0) sent += size_t(n);
        } else if (!shut) {
            ::shutdown(sv[1], SHUT_WR);
            shut = true;
        }
        f.worker->run_once(0);
        ssize_t n;
        while ((n = ::recv(sv[1], buf, sizeof buf, 0)) > 0)
            if (out.size() < (1u << 20)) out.append(buf, size_t(n));
    }
    FUZZ_CHECK(f.worker->connection_count() == 0); // EOF after the input: always closed
    ::close(sv[1]);
    check_output(out, std::string_view(reinterpret_cast<const char *>(data), size));
    return 0;
}
