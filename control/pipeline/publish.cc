// Publish step (#3): a deployment directory is immutable once renamed into place; the route
// push is a whole snapshot over the edge admin socket's newline-delimited JSON protocol.
#include "control/pipeline/publish.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace berth::control
{

namespace fs = std::filesystem;

std::string publish_static(const fs::path &source, const std::string &deployments_root,
                           const std::string &service, const std::string &deployment_id)
{
    fs::path service_dir = fs::path(deployments_root) / service;
    fs::create_directories(service_dir);
    fs::path final_dir = service_dir / deployment_id;
    fs::path tmp = service_dir / ("." + deployment_id + ".tmp");
    if (fs::exists(final_dir))
        throw std::runtime_error("deployment directory already exists: " + final_dir.string());
    fs::remove_all(tmp);
    try {
        fs::create_directory(tmp);
        for (auto it = fs::recursive_directory_iterator(source);
             it != fs::recursive_directory_iterator(); ++it) {
            const fs::path rel = fs::relative(it->path(), source);
            if (rel.begin()->string() == ".git") {
                if (it->is_directory()) it.disable_recursion_pending();
                continue;
            }
            fs::path dst = tmp / rel;
            if (it->is_symlink()) {
                // A link could point outside the deployment; static sites do not need them.
                continue;
            } else if (it->is_directory()) {
                fs::create_directory(dst);
            } else if (it->is_regular_file()) {
                fs::copy_file(it->path(), dst);
                fs::permissions(dst, fs::perms::owner_read | fs::perms::group_read |
                                         fs::perms::others_read);
            }
        }
        fs::rename(tmp, final_dir);
    } catch (...) {
        std::error_code ec;
        fs::remove_all(tmp, ec);
        throw;
    }
    return service + "/" + deployment_id;
}

Json build_route_table(pqxx::transaction_base &w, const ControlConfig &config)
{
    int64_t version = w.exec("SELECT nextval('route_table_version')")[0][0].as<int64_t>();
    Json routes = Json::array();
    for (const auto &r : w.exec("SELECT s.name, d.artifact_path FROM deployments d JOIN services s"
                                " ON s.id = d.service_id WHERE d.status = 'ACTIVE'"
                                " AND d.artifact_path IS NOT NULL ORDER BY s.name")) {
        routes.push_back({{"host", r[0].as<std::string>() + "." + config.base_domain},
                          {"type", "static"},
                          {"root", r[1].as<std::string>()},
                          {"spa", true}});
    }
    // Domains verified for a service point at the same root.
    for (const auto &r :
         w.exec("SELECT dm.hostname, d.artifact_path FROM domains dm JOIN deployments d"
                " ON d.service_id = dm.service_id AND d.status = 'ACTIVE'"
                " WHERE dm.verified AND d.artifact_path IS NOT NULL ORDER BY dm.hostname")) {
        routes.push_back({{"host", r[0].as<std::string>()},
                          {"type", "static"},
                          {"root", r[1].as<std::string>()},
                          {"spa", true}});
    }
    return {{"version", version}, {"routes", routes}};
}

namespace
{

// One request, one reply line, within timeout_ms in total.
std::string admin_call(const std::string &socket_path, const std::string &line, int timeout_ms)
{
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof addr.sun_path)
        throw std::runtime_error("socket path too long");
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0)
        throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    std::string msg = line + "\n";
    for (size_t off = 0; off < msg.size();) {
        ssize_t n = ::send(fd, msg.data() + off, msg.size() - off, MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
        off += size_t(n);
    }
    std::string reply;
    char buf[4096];
    while (reply.find('\n') == std::string::npos) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0)
            throw std::runtime_error("timed out waiting for the edge");
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) throw std::runtime_error("edge closed the admin connection");
        reply.append(buf, size_t(n));
    }
    return reply.substr(0, reply.find('\n'));
}

} // namespace

Json push_route_table(const ControlConfig &config, const Json &table)
{
    Json results = Json::array();
    std::string line = canonical_json(Json{{"cmd", "routes.put"}, {"table", table}});
    for (const auto &sock : config.edge_admin_sockets) {
        Json r = {{"socket", sock}};
        try {
            Json reply = parse_json_or_discarded(admin_call(sock, line, 3000));
            r["ok"] = reply.is_object() && reply.value("ok", false);
            if (!r["ok"].get<bool>())
                r["error"] = reply.is_object() && reply.contains("error") ? reply["error"]
                                                                          : Json("bad reply");
        } catch (const std::exception &e) {
            r["ok"] = false;
            r["error"] = e.what();
        }
        results.push_back(r);
    }
    return results;
}

} // namespace berth::control
