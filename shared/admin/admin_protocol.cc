// Admin request validation: an object with a known "cmd" string; each command checks its fields.
#include "shared/admin/admin_protocol.h"

#include <utility>

#include "shared/route/route_table_json.h"

namespace berth::shared::admin
{

using nlohmann::json;

std::optional<AdminCommand> parse_admin_command(std::string_view line, std::string &error)
{
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
        line.remove_suffix(1);
    if (line.empty()) {
        error = "empty request: send one JSON object per line, e.g. {\"cmd\":\"ping\"}";
        return std::nullopt;
    }
    json doc = json::parse(line, nullptr, false);
    if (doc.is_discarded()) {
        error = "request is not valid JSON";
        return std::nullopt;
    }
    if (!doc.is_object()) {
        error = "request must be a JSON object";
        return std::nullopt;
    }
    auto it = doc.find("cmd");
    if (it == doc.end() || !it->is_string()) {
        error = "missing \"cmd\" (a string)";
        return std::nullopt;
    }
    std::string cmd = it->get<std::string>();
    bool known = false;
    for (const char *c : kCommands)
        known |= cmd == c;
    if (!known) {
        error = "unknown command \"" + cmd + "\"";
        return std::nullopt;
    }
    if (cmd == "routes.put") {
        auto t = doc.find("table");
        if (t == doc.end() || !t->is_object()) {
            error = "routes.put needs \"table\": a route table object";
            return std::nullopt;
        }
        // The parse above kept the last of two equal keys; a table must not mean two things.
        std::string dup;
        if (!shared::route::parse_json_refusing_duplicates(line, dup)) {
            error = "routes.put: " + dup;
            return std::nullopt;
        }
    }
    if (cmd == "upstream.health") {
        // DESIGN.md names the fields host and addr; issue #14 calls them route and upstream:
        // either is taken, and said back as host and addr.
        for (auto [key, alias] : {std::pair{"host", "route"}, std::pair{"addr", "upstream"}}) {
            auto a = doc.find(alias);
            if (a != doc.end()) {
                if (doc.contains(key) && doc[key] != *a) {
                    error = std::string("upstream.health: \"") + key + "\" and \"" + alias +
                            "\" name the same thing and differ";
                    return std::nullopt;
                }
                doc[key] = *a;
                doc.erase(alias);
            }
            auto f = doc.find(key);
            if (f == doc.end() || !f->is_string()) {
                error = std::string("upstream.health needs \"") + key + "\" (or \"" + alias +
                        "\"), a string";
                return std::nullopt;
            }
        }
        auto h = doc.find("healthy");
        if (h == doc.end() || !h->is_boolean()) {
            error = "upstream.health needs \"healthy\": true or false";
            return std::nullopt;
        }
    }
    return AdminCommand{std::move(cmd), std::move(doc)};
}

std::string ok_reply(json fields)
{
    if (!fields.is_object()) fields = json::object();
    fields["ok"] = true;
    return fields.dump() + "\n";
}

std::string error_reply(std::string_view message)
{
    return json{{"ok", false}, {"error", message}}.dump() + "\n";
}

} // namespace berth::shared::admin
