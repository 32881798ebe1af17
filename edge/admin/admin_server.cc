// Admin socket server. Each client connection reads lines; every line gets exactly one reply
// line, in order.
#include "edge/admin/admin_server.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace berth::edge
{

using shared::admin::error_reply;

struct AdminServer::Client {
    AdminServer *server;
    uv_pipe_t pipe;
    std::string buf;
    bool closing = false;
};

namespace
{

struct WriteReq {
    uv_write_t req;
    std::string data;
};

} // namespace

AdminServer::AdminServer(uv_loop_t *loop, Handler handler)
    : loop_(loop), handler_(std::move(handler))
{
}

AdminServer::~AdminServer()
{
    close();
}

namespace
{

sockaddr_un unix_address(const std::string &path)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size()); // the length was checked
    return addr;
}

// Whether something answers on the unix socket at `path`: a live edge (or anything else) must
// not lose its socket to us; a refused connect means a file left behind by a process gone.
bool socket_answers(const std::string &path)
{
    sockaddr_un addr = unix_address(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        throw std::runtime_error("cannot check admin socket " + path + ": " + strerror(errno));
    int rc = connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
    int err = errno;
    ::close(fd);
    if (rc == 0 || err == EAGAIN) return true; // EAGAIN: listening, its backlog full
    if (err == ECONNREFUSED || err == ENOENT) return false;
    throw std::runtime_error("cannot check whether admin socket " + path +
                             " is in use: " + strerror(err));
}

} // namespace

void AdminServer::listen(const std::string &path)
{
    if (path.size() >= sizeof(sockaddr_un{}.sun_path))
        throw std::runtime_error("admin socket path " + path + " is too long (at most " +
                                 std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes)");
    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            throw std::runtime_error("admin socket path " + path + " exists and is not a socket");
        if (socket_answers(path))
            throw std::runtime_error("admin socket " + path + " is in use by a running edge");
        unlink(path.c_str()); // left over from a previous run
    }
    // Bound here, not by uv_pipe_bind: libuv would unlink the path when the handle closes,
    // whoever's socket it names by then.
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw std::runtime_error("cannot create admin socket " + path + ": " + strerror(errno));
    sockaddr_un addr = unix_address(path);
    mode_t old = umask(0177); // the socket is created 0600: operators only
    int rc = bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0 ? 0 : -errno;
    umask(old);
    if (rc != 0) {
        ::close(fd);
        throw std::runtime_error("cannot listen on admin socket " + path + ": " + uv_strerror(rc));
    }
    uv_pipe_init(loop_, &listener_, 0);
    listener_.data = this;
    rc = uv_pipe_open(&listener_, fd);
    if (rc != 0) ::close(fd);
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t *>(&listener_), 64, on_connection);
    if (rc != 0) {
        uv_close(reinterpret_cast<uv_handle_t *>(&listener_), nullptr);
        unlink(path.c_str());
        throw std::runtime_error("cannot listen on admin socket " + path + ": " + uv_strerror(rc));
    }
    chmod(path.c_str(), 0600);
    listening_ = true;
    path_ = path;
    // Held open so the file's inode cannot be reused by another socket while ours is gone:
    // close() then tells our socket file from one bound after ours was removed.
    bound_fd_ = open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

void AdminServer::close()
{
    if (listening_) {
        uv_close(reinterpret_cast<uv_handle_t *>(&listener_), nullptr);
        // Only our own socket: another edge may have bound this path since (after someone
        // removed ours), and deleting its socket would leave it unreachable.
        struct stat ours, now;
        if (bound_fd_ >= 0 && fstat(bound_fd_, &ours) == 0 && lstat(path_.c_str(), &now) == 0 &&
            now.st_dev == ours.st_dev && now.st_ino == ours.st_ino)
            unlink(path_.c_str());
        if (bound_fd_ >= 0) ::close(bound_fd_);
        bound_fd_ = -1;
        listening_ = false;
    }
    for (Client *c : clients_) {
        if (c->closing) continue;
        c->closing = true;
        uv_close(reinterpret_cast<uv_handle_t *>(&c->pipe),
                 [](uv_handle_t *h) { delete static_cast<Client *>(h->data); });
    }
    clients_.clear();
}

void AdminServer::on_connection(uv_stream_t *server, int status)
{
    auto *self = static_cast<AdminServer *>(server->data);
    if (status < 0) return;
    auto *c = new Client{self, {}, {}, false};
    uv_pipe_init(self->loop_, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_accept(server, reinterpret_cast<uv_stream_t *>(&c->pipe)) != 0) {
        uv_close(reinterpret_cast<uv_handle_t *>(&c->pipe),
                 [](uv_handle_t *h) { delete static_cast<Client *>(h->data); });
        return;
    }
    self->clients_.push_back(c);
    uv_read_start(
        reinterpret_cast<uv_stream_t *>(&c->pipe),
        [](uv_handle_t *, size_t suggested, uv_buf_t *buf) {
            buf->base = new char[suggested];
            buf->len = suggested;
        },
        [](uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
            auto *client = static_cast<Client *>(stream->data);
            AdminServer *srv = client->server;
            if (n > 0) {
                client->buf.append(buf->base, size_t(n));
                size_t nl;
                while (!client->closing && (nl = client->buf.find('\n')) != std::string::npos) {
                    std::string line = client->buf.substr(0, nl);
                    client->buf.erase(0, nl + 1);
                    srv->on_line(*client, line);
                }
                if (client->buf.size() > shared::admin::kMaxLineBytes) {
                    srv->send_reply(*client, error_reply("request line too long"));
                    client->buf.clear();
                    n = UV_EOF; // and close this client
                }
            }
            delete[] buf->base;
            if (n < 0 && !client->closing) {
                client->closing = true;
                auto &list = srv->clients_;
                for (auto it = list.begin(); it != list.end(); ++it)
                    if (*it == client) {
                        list.erase(it);
                        break;
                    }
                uv_close(reinterpret_cast<uv_handle_t *>(&client->pipe),
                         [](uv_handle_t *h) { delete static_cast<Client *>(h->data); });
            }
        });
}

void AdminServer::on_line(Client &c, std::string_view line)
{
    std::string error;
    std::string reply;
    if (auto cmd = shared::admin::parse_admin_command(line, error)) {
        try {
            reply = handler_(*cmd);
        } catch (const std::exception &e) {
            reply = error_reply(std::string("internal error: ") + e.what());
        }
    } else {
        reply = error_reply(error);
    }
    send_reply(c, std::move(reply));
}

void AdminServer::send_reply(Client &c, std::string reply)
{
    auto *w = new WriteReq{{}, std::move(reply)};
    uv_buf_t b = uv_buf_init(w->data.data(), unsigned(w->data.size()));
    w->req.data = w;
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t *>(&c.pipe), &b, 1,
                      [](uv_write_t *req, int) { delete static_cast<WriteReq *>(req->data); });
    if (rc != 0) delete w; // libuv's rule: an error return means the callback never runs
}

} // namespace berth::edge
