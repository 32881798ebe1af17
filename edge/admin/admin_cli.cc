// `berth-edge admin`: one request to a running edge's admin socket, through the shared admin
// client; the reply line goes to stdout.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "edge/admin/admin_cli.h"
#include "edge/config/edge_config.h"
#include "shared/admin/admin_client.h"

namespace berth::edge
{

namespace
{

int usage(FILE *to, const char *error)
{
    if (error) std::fprintf(to, "berth-edge admin: %s\n", error);
    std::fprintf(
        to, "usage: berth-edge admin [--socket PATH | --config FILE] COMMAND [JSON | @FILE]\n"
            "       berth-edge admin [--socket PATH | --config FILE] '{\"cmd\":COMMAND, ...}'\n"
            "commands: ping stats routes.get routes.put upstream.health certs.reload logs.reopen "
            "drain\n"
            "The socket is --socket, else the [admin] socket of --config, else "
            ".berth/edge-admin.sock.\n");
    return to == stdout ? 0 : 2;
}

} // namespace

int run_admin_client(const std::vector<std::string> &args)
{
    std::string socket_path = ".berth/edge-admin.sock";
    std::vector<std::string> rest;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--help" || args[i] == "-h" || args[i] == "help")
            return usage(stdout, nullptr);
        if ((args[i] == "--socket" || args[i] == "--config") && i + 1 == args.size())
            return usage(stderr, (args[i] + " needs a value").c_str());
        if (args[i] == "--socket") {
            socket_path = args[++i];
        } else if (args[i] == "--config") {
            try {
                EdgeConfig c = load_edge_config(args[++i]);
                if (!c.admin_socket.empty()) socket_path = c.admin_socket;
            } catch (const ConfigError &e) {
                std::fprintf(stderr, "berth-edge admin: %s\n", e.what());
                return 2;
            }
        } else {
            rest.push_back(args[i]);
        }
    }
    if (rest.empty()) return usage(stderr, "no command given");
    if (rest.size() > 2) return usage(stderr, "too many arguments");
    nlohmann::json request = nlohmann::json::object();
    if (rest.size() == 1 && !rest[0].empty() && rest[0][0] == '{') {
        // A whole request line, as the socket takes it: {"cmd":"stats"}.
        request = nlohmann::json::parse(rest[0], nullptr, false);
        if (request.is_discarded() || !request.is_object() || !request.contains("cmd") ||
            !request["cmd"].is_string()) {
            std::fprintf(stderr, "berth-edge admin: a request line must be a JSON object with a "
                                 "\"cmd\" string\n");
            return 2;
        }
        rest[0] = request["cmd"].get<std::string>();
    } else if (rest.size() == 2) {
        std::string text = rest[1];
        if (!text.empty() && text[0] == '@') {
            std::ifstream in(text.substr(1));
            if (!in) {
                std::fprintf(stderr, "berth-edge admin: cannot read %s\n", text.c_str() + 1);
                return 2;
            }
            std::stringstream s;
            s << in.rdbuf();
            text = s.str();
        }
        request = nlohmann::json::parse(text, nullptr, false);
        if (request.is_discarded() || !request.is_object()) {
            std::fprintf(stderr, "berth-edge admin: the argument must be a JSON object\n");
            return 2;
        }
        // routes.put with a bare table: wrap it as {"table": ...}.
        if (rest[0] == "routes.put" && !request.contains("table") && request.contains("routes"))
            request = nlohmann::json{{"table", request}};
    }
    request["cmd"] = rest[0];
    try {
        // A routes.put waits for every worker to swap (bounded at 2 s per worker there).
        shared::admin::AdminClient client(socket_path, 30000);
        std::string reply = client.call_line(request.dump());
        std::printf("%s\n", reply.c_str());
        nlohmann::json parsed = nlohmann::json::parse(reply, nullptr, false);
        return parsed.is_object() && parsed.value("ok", false) ? 0 : 1;
    } catch (const shared::admin::AdminError &e) {
        std::fprintf(stderr, "berth-edge admin: %s\n", e.what());
        return 2;
    }
}

} // namespace berth::edge
