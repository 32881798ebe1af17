// Polling, not LISTEN/NOTIFY: a pooled connection per poll keeps followers off dedicated
// PostgreSQL connections, and 200 ms is well under what a person watching a build notices.
#include "control/api/build_log_follow.h"

#include "control/api/api_router.h"
#include "control/model/state_machine.h"
#include "control/store/db.h"

namespace berth::control
{

namespace
{

struct Batch {
    std::optional<DeployStatus> status; // nullopt: the deployment is gone
    std::vector<std::pair<int64_t, std::string>> lines;
};

constexpr int kBatch = 500;

} // namespace

BodyProducer follow_build_logs(const ApiContext &api, std::string id, int64_t after_id)
{
    return [&api, id = std::move(id), after_id](ChunkSink &sink) {
        int64_t last = after_id;
        for (;;) {
            Batch b;
            try {
                b = api.db.read([&](pqxx::transaction_base &w) {
                    Batch out;
                    // Status first, then lines: a line committed with or before the status
                    // change (the pipeline writes its last line in that transaction) is seen.
                    auto st = w.exec_params("SELECT status FROM deployments WHERE id = $1", id);
                    if (!st.empty()) out.status = parse_status(st[0][0].as<std::string>());
                    for (const auto &r : w.exec_params(
                             "SELECT id, json_build_object('id', id, 'stream', stream, 'line',"
                             " line, 'at', created_at)::text FROM build_logs WHERE"
                             " deployment_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                             id, last, kBatch))
                        out.lines.emplace_back(r[0].as<int64_t>(), r[1].as<std::string>());
                    return out;
                });
            } catch (const DbUnavailable &) {
                if (!sink.wait(1000)) return; // PostgreSQL restarting: keep following
                continue;
            }
            for (const auto &[line_id, text] : b.lines) {
                if (!sink.write(text + "\n")) return;
                last = line_id;
            }
            if (b.lines.size() == size_t(kBatch)) continue; // more are waiting now
            if (!b.status || is_terminal(*b.status) ||
                *b.status == DeployStatus::kAwaitingApproval) {
                Json end = {{"end", true},
                            {"status", b.status ? Json(status_name(*b.status)) : Json(nullptr)}};
                sink.write(end.dump() + "\n");
                return;
            }
            if (!sink.wait(kFollowPollMs)) return;
        }
    };
}

} // namespace berth::control
