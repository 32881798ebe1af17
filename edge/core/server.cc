// Startup and shutdown of the edge process.
#include "edge/core/server.h"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <pthread.h>
#include <sstream>
#include <stdexcept>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "shared/route/route_table_json.h"

namespace berth::edge
{

namespace
{

struct StartupError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

sockaddr_storage resolve(const ListenAddr &a, socklen_t &len)
{
    sockaddr_storage ss{};
    auto *v4 = reinterpret_cast<sockaddr_in *>(&ss);
    auto *v6 = reinterpret_cast<sockaddr_in6 *>(&ss);
    if (inet_pton(AF_INET, a.host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(a.port);
        len = sizeof *v4;
        return ss;
    }
    if (inet_pton(AF_INET6, a.host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(a.port);
        len = sizeof *v6;
        return ss;
    }
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(a.host.c_str(), nullptr, &hints, &res) != 0 || !res)
        throw StartupError("cannot resolve listen host \"" + a.host + "\"");
    std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
    len = socklen_t(res->ai_addrlen);
    freeaddrinfo(res);
    if (ss.ss_family == AF_INET)
        v4->sin_port = htons(a.port);
    else
        v6->sin6_port = htons(a.port);
    return ss;
}

int bind_socket(const sockaddr_storage &ss, socklen_t len, const std::string &what)
{
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw StartupError("socket(): " + std::string(strerror(errno)));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); // inherited by accepted sockets
    // Wake accept only once the request's first bytes are there (1 s, then accept anyway).
    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof one);
    if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, reinterpret_cast<const sockaddr *>(&ss), len) != 0) {
        int e = errno;
        ::close(fd);
        throw StartupError("cannot listen on " + what + ": " + strerror(e));
    }
    if (listen(fd, 4096) != 0) {
        int e = errno;
        ::close(fd);
        throw StartupError("listen() on " + what + ": " + strerror(e));
    }
    return fd;
}

std::string format_addr(const sockaddr_storage &ss)
{
    char ip[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_INET6) {
        auto *v6 = reinterpret_cast<const sockaddr_in6 *>(&ss);
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
        return "[" + std::string(ip) + "]:" + std::to_string(ntohs(v6->sin6_port));
    }
    auto *v4 = reinterpret_cast<const sockaddr_in *>(&ss);
    inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(v4->sin_port));
}

std::optional<shared::route::RouteTable> read_table(const std::string &path, bool required)
{
    std::ifstream in(path);
    if (!in) {
        if (required)
            throw StartupError("cannot read routes file " + path + ": " + strerror(errno));
        return std::nullopt;
    }
    std::stringstream text;
    text << in.rdbuf();
    std::string error;
    auto table = shared::route::parse_route_table(text.str(), error);
    if (!table) throw StartupError(path + ": " + error);
    return table;
}

void raise_fd_limit()
{
    rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

} // namespace

Server::Server(EdgeConfig config) : config_(std::move(config))
{
    shared_.config = &config_;
}

Server::~Server()
{
    workers_.clear();
    for (auto &fds : listen_fds_)
        for (int fd : fds)
            if (fd >= 0) ::close(fd);
}

void Server::open_listeners()
{
    listen_fds_.assign(config_.workers, {});
    for (const ListenAddr &a : config_.listen) {
        socklen_t len = 0;
        sockaddr_storage ss = resolve(a, len);
        std::string what = a.host + ":" + std::to_string(a.port);
        for (unsigned w = 0; w < config_.workers; ++w) {
            int fd = bind_socket(ss, len, what);
            if (w == 0) {
                // Port 0: every worker's socket must share the port the kernel picked.
                socklen_t blen = sizeof ss;
                getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &blen);
                std::printf("berth-edge: listening on http://%s\n", format_addr(ss).c_str());
            }
            listen_fds_[w].push_back(fd);
        }
    }
    std::fflush(stdout);
}

std::shared_ptr<const shared::route::RouteTable> Server::initial_routes()
{
    std::optional<shared::route::RouteTable> table;
    if (!config_.routes_file.empty()) table = read_table(config_.routes_file, true);
    // The last table pushed to this edge wins when it is newer than the file.
    if (!config_.state_dir.empty()) {
        auto saved = read_table(config_.state_dir + "/routes.json", false);
        if (saved && (!table || saved->version() > table->version())) table = std::move(saved);
    }
    if (!table) return nullptr;
    return std::make_shared<const shared::route::RouteTable>(std::move(*table));
}

int Server::run()
{
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    std::shared_ptr<const shared::route::RouteTable> routes;
    try {
        if (config_.listen.empty() || config_.workers == 0) validate_edge_config(config_);
        for (const ListenAddr &a : config_.listen)
            if (a.tls) throw StartupError("TLS listeners are not supported by this build yet");
        routes = initial_routes();
        if (!config_.access_log.empty()) {
            shared_.access_log_fd = config_.access_log == "-"
                                        ? dup(STDOUT_FILENO)
                                        : open(config_.access_log.c_str(),
                                               O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
            if (shared_.access_log_fd < 0)
                throw StartupError("cannot open access log " + config_.access_log + ": " +
                                   strerror(errno));
        }
        open_listeners();
    } catch (const StartupError &e) {
        std::fprintf(stderr, "berth-edge: %s\n", e.what());
        return 1;
    }

    // Signals go to no thread but this one: block them before the workers inherit the mask,
    // then wait for them synchronously. The workers never see a signal handler run.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    for (unsigned w = 0; w < config_.workers; ++w) {
        workers_.push_back(
            std::make_unique<Worker>(int(w), shared_, std::move(listen_fds_[w]), routes));
        listen_fds_[w].clear();
    }
    for (auto &w : workers_)
        w->start();

    int signum = 0;
    while (sigwait(&stop_signals, &signum) != 0) {
    }
    std::fprintf(stderr, "berth-edge: %s received, draining connections\n",
                 signum == SIGTERM ? "SIGTERM" : "SIGINT");
    for (auto &w : workers_)
        w->request_stop();

    for (auto &w : workers_)
        w->join();
    workers_.clear();
    if (shared_.access_log_fd >= 0) ::close(shared_.access_log_fd);
    std::fprintf(stderr, "berth-edge: stopped\n");
    return 0;
}

} // namespace berth::edge
