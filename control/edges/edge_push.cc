// One connection per edge and push; the shared client bounds each call by its timeout.
#include "control/edges/edge_push.h"

#include "shared/admin/admin_client.h"

namespace berth::control
{

std::vector<PushResult> push_route_table(const std::vector<std::string> &sockets,
                                         const Json &table, int timeout_ms)
{
    std::vector<PushResult> results;
    for (const auto &sock : sockets) {
        PushResult r{sock, false, {}};
        try {
            shared::admin::AdminClient client(sock, timeout_ms);
            Json reply = client.call(Json{{"cmd", "routes.put"}, {"table", table}});
            r.ok = reply.value("ok", false);
            if (!r.ok)
                r.error = reply.contains("error") && reply["error"].is_string()
                              ? reply["error"].get<std::string>()
                              : "the edge refused the table without a reason";
        } catch (const shared::admin::AdminError &e) {
            r.error = e.what();
        }
        results.push_back(std::move(r));
    }
    return results;
}

Json push_results_json(const std::vector<PushResult> &results)
{
    Json out = Json::array();
    for (const auto &r : results) {
        Json j = {{"socket", r.socket}, {"ok", r.ok}};
        if (!r.ok) j["error"] = r.error;
        out.push_back(std::move(j));
    }
    return out;
}

} // namespace berth::control
