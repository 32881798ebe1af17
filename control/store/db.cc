// Connection pool: connections are opened lazily, so the API starts while PostgreSQL is down
// and recovers when it returns (#3).
#include "control/store/db.h"

namespace berth::control
{

Db::Db(std::string url, int pool_size) : url_(std::move(url)), pool_size_(size_t(pool_size)) {}

std::unique_ptr<pqxx::connection> Db::acquire()
{
    {
        std::lock_guard lock(mu_);
        if (!idle_.empty()) {
            auto c = std::move(idle_.back());
            idle_.pop_back();
            return c;
        }
    }
    try {
        auto c = std::make_unique<pqxx::connection>(url_);
        // Timestamps in UTC whatever the server's TimeZone: the API writes them "+00:00".
        c->set_variable("TimeZone", "'UTC'");
        return c;
    } catch (const pqxx::broken_connection &e) {
        throw DbUnavailable(std::string("database unavailable: ") + e.what());
    }
}

void Db::release(std::unique_ptr<pqxx::connection> conn)
{
    std::lock_guard lock(mu_);
    if (idle_.size() < pool_size_) idle_.push_back(std::move(conn));
}

} // namespace berth::control
