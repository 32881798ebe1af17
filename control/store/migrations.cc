// Migration runner: schema_migrations records what ran; re-running is a no-op (#3).
#include "control/store/migrations.h"

#include "control/store/db.h"

namespace berth::control
{

namespace
{
constexpr const char *kLockKey = "7301"; // pg_advisory_xact_lock key for migrations
}

std::vector<std::string> apply_migrations(Db &db)
{
    db.transact([](pqxx::work &w) {
        w.exec("SELECT pg_advisory_xact_lock(" + std::string(kLockKey) + ")");
        w.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
               " version integer PRIMARY KEY, name text NOT NULL,"
               " applied_at timestamptz NOT NULL DEFAULT now())");
        return 0;
    });
    std::vector<std::string> applied;
    for (const Migration &m : embedded_migrations()) {
        bool ran = db.transact([&](pqxx::work &w) {
            w.exec("SELECT pg_advisory_xact_lock(" + std::string(kLockKey) + ")");
            auto r = w.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", m.version);
            if (!r.empty()) return false;
            w.exec(m.sql);
            w.exec_params("INSERT INTO schema_migrations(version, name) VALUES ($1, $2)", m.version,
                          std::string(m.name));
            return true;
        });
        if (ran) applied.emplace_back(m.name);
    }
    return applied;
}

} // namespace berth::control
