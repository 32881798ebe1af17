// libpqxx connections: a small pool and one transact() that every store function goes through.
#pragma once

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/pqxx>

namespace berth::control
{

// PostgreSQL cannot be reached (connection refused, reset, or lost mid-transaction). The API
// answers 503 `database_unavailable`; the pipeline leaves the job for a later retry.
struct DbUnavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Db
{
public:
    // url: a libpq connection URI or key=value string. Up to pool_size idle connections are
    // kept; more are opened on demand when every pooled one is in use.
    Db(std::string url, int pool_size);
    Db(const Db &) = delete;
    Db &operator=(const Db &) = delete;

    // Runs fn(pqxx::work &) in one transaction and commits when fn returns; any exception
    // rolls back and propagates. A connection found broken before commit is discarded and fn
    // is retried once on a fresh one (the server may have restarted since it was pooled); if
    // that fails too, DbUnavailable. Safe from any thread.
    template <class F> auto transact(F &&fn) { return run<pqxx::work>(std::forward<F>(fn)); }

    // Like transact, for reads that need no transaction: each statement runs on its own
    // (no BEGIN/COMMIT round trips). fn receives a pqxx::nontransaction.
    template <class F> auto read(F &&fn) { return run<pqxx::nontransaction>(std::forward<F>(fn)); }

    const std::string &url() const noexcept { return url_; }

private:
    template <class Tx, class F> auto run(F &&fn)
    {
        for (int attempt = 0;; ++attempt) {
            auto conn = acquire();
            try {
                Tx w(*conn);
                auto result = fn(w);
                w.commit();
                release(std::move(conn));
                return result;
            } catch (const pqxx::in_doubt_error &e) {
                throw DbUnavailable(std::string("database connection lost during commit: ") +
                                    e.what());
            } catch (const pqxx::broken_connection &e) {
                if (attempt == 0) continue; // conn is dropped, not returned to the pool
                throw DbUnavailable(std::string("database unavailable: ") + e.what());
            } catch (...) {
                if (conn->is_open()) release(std::move(conn));
                throw;
            }
        }
    }

    std::unique_ptr<pqxx::connection> acquire();
    void release(std::unique_ptr<pqxx::connection> conn);

    std::string url_;
    size_t pool_size_;
    std::mutex mu_;
    std::vector<std::unique_ptr<pqxx::connection>> idle_;
};

} // namespace berth::control
