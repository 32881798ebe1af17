// Store and queue tests against real PostgreSQL and Redis: migrations, the one-in-flight index,
// the audit chain and its trigger, tokens, throttle windows, the reliable queue (#3).
#include <catch2/catch.hpp>

#include "control/queue/job_queue.h"
#include "control/queue/redis_conn.h"
#include "control/queue/throttle.h"
#include "control/store/audit_log.h"
#include "control/store/db.h"
#include "control/store/deployments_store.h"
#include "control/store/migrations.h"
#include "control/store/tokens.h"
#include "tests/support/pg_instance.h"
#include "tests/support/redis_instance.h"

using namespace berth::control;
using berth::test::PgInstance;
using berth::test::RedisInstance;

namespace
{

std::string make_service(Db &db, const std::string &name)
{
    return db.transact([&](pqxx::work &w) {
        std::string user =
            w.exec1("INSERT INTO users(name) VALUES ('u-" + name + "') RETURNING id")[0]
                .as<std::string>();
        std::string project =
            w.exec_params1("INSERT INTO projects(owner_id, name) VALUES ($1, 'p') RETURNING id",
                           user)[0]
                .as<std::string>();
        return w
            .exec_params1(
                "INSERT INTO services(project_id, name, repo_url, health_webhook_token_hash)"
                " VALUES ($1, $2, 'file:///x', 'h') RETURNING id",
                project, name)[0]
            .as<std::string>();
    });
}

} // namespace

TEST_CASE("migrations apply once and re-running them is a no-op", "[control][store]")
{
    PgInstance pg;
    Db db(pg.url(), 2);
    auto first = apply_migrations(db);
    CHECK(first.size() == embedded_migrations().size());
    CHECK(first.front() == "0001_init");
    CHECK(apply_migrations(db).empty());
    int rows = db.transact([](pqxx::work &w) {
        return w.exec1("SELECT count(*) FROM schema_migrations")[0].as<int>();
    });
    CHECK(rows == int(embedded_migrations().size()));
}

TEST_CASE("the database allows one in-flight deployment per service", "[control][store]")
{
    PgInstance pg;
    Db db(pg.url(), 2);
    apply_migrations(db);
    std::string svc = make_service(db, "one");
    NewDeployment d;
    d.service_id = svc;
    d.actor = "test";
    Json first = db.transact([&](pqxx::work &w) { return insert_deployment(w, d); });
    CHECK(first["status"] == "QUEUED");
    CHECK_THROWS_AS(db.transact([&](pqxx::work &w) { return insert_deployment(w, d); }),
                    pqxx::unique_violation);
    std::string id = first["id"];
    // Transitions are guarded: wrong "from" changes nothing; illegal ones are refused.
    CHECK_FALSE(db.transact([&](pqxx::work &w) {
        return transition(w, id, DeployStatus::kCloning, DeployStatus::kScanning, "t");
    }));
    CHECK_FALSE(db.transact([&](pqxx::work &w) {
        return transition(w, id, DeployStatus::kQueued, DeployStatus::kActive, "t");
    }));
    CHECK(db.transact([&](pqxx::work &w) {
        return transition(w, id, DeployStatus::kQueued, DeployStatus::kFailed, "t", "boom");
    }));
    Json second = db.transact([&](pqxx::work &w) { return insert_deployment(w, d); });
    CHECK(second["id"] != first["id"]);
    Json failed = db.transact([&](pqxx::work &w) { return *load_deployment(w, id); });
    CHECK(failed["error_message"] == "boom");
    CHECK(failed["status_history"].size() == 2);
    CHECK(failed["pipeline_stages"] == Json::array()); // QUEUED → FAILED: no phase ran
}

// The one-in-flight index (0005_stages.sql) and is_terminal() must name the same statuses, or
// a phase failure would let a second deployment start while the first one cleans up.
TEST_CASE("the in-flight index lists exactly the non-terminal statuses", "[control][store]")
{
    PgInstance pg;
    Db db(pg.url(), 1);
    apply_migrations(db);
    std::string def = db.transact([](pqxx::work &w) {
        return w
            .exec1("SELECT indexdef FROM pg_indexes WHERE indexname ="
                   " 'deployments_one_in_flight'")[0]
            .as<std::string>();
    });
    for (int i = 0; i < kDeployStatusCount; ++i) {
        DeployStatus s = DeployStatus(i);
        INFO(status_name(s) << " in " << def);
        bool listed = def.find("'" + std::string(status_name(s)) + "'") != std::string::npos;
        CHECK(listed == !is_terminal(s));
        bool in_sql = in_flight_statuses_sql().find("'" + std::string(status_name(s)) + "'") !=
                      std::string::npos;
        CHECK(in_sql == !is_terminal(s));
    }
    // And the CHECK constraint admits every status.
    std::string check = db.transact([](pqxx::work &w) {
        return w
            .exec1("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname ="
                   " 'deployments_status_check'")[0]
            .as<std::string>();
    });
    for (int i = 0; i < kDeployStatusCount; ++i)
        CHECK(check.find("'" + std::string(status_name(DeployStatus(i))) + "'") !=
              std::string::npos);
}

TEST_CASE("audit log is append-only and verify finds a tampered row", "[control][store][audit]")
{
    PgInstance pg;
    Db db(pg.url(), 2);
    apply_migrations(db);
    for (int i = 0; i < 5; ++i)
        db.transact([&](pqxx::work &w) {
            audit_append(
                w, {"user:t", "TEST", "thing", std::to_string(i), Json{{"n", i}, {"s", "é\"x"}}});
            return 0;
        });
    auto ok = db.transact([](pqxx::work &w) { return audit_verify(w); });
    CHECK(ok.rows == 5);
    CHECK_FALSE(ok.broken_id);

    CHECK_THROWS_AS(db.transact([](pqxx::work &w) {
        return w.exec("UPDATE audit_log SET actor = 'evil' WHERE id = 3").affected_rows();
    }),
                    pqxx::sql_error);
    CHECK_THROWS_AS(
        db.transact([](pqxx::work &w) { return w.exec("DELETE FROM audit_log").affected_rows(); }),
        pqxx::sql_error);

    // A superuser can disable the trigger; the chain still shows it.
    db.transact([](pqxx::work &w) {
        w.exec("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete");
        w.exec("UPDATE audit_log SET details = '{\"n\":99}' WHERE id = (SELECT min(id) + 2 FROM "
               "audit_log)");
        w.exec("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete");
        return 0;
    });
    int64_t third = db.transact([](pqxx::work &w) {
        return w.exec1("SELECT min(id) + 2 FROM audit_log")[0].as<int64_t>();
    });
    auto bad = db.transact([](pqxx::work &w) { return audit_verify(w); });
    REQUIRE(bad.broken_id);
    CHECK(*bad.broken_id == third);
    CHECK(bad.reason.find("modified") != std::string::npos);
}

TEST_CASE("tokens are stored as hashes and authenticate their user", "[control][store]")
{
    PgInstance pg;
    Db db(pg.url(), 2);
    apply_migrations(db);
    std::string token = create_token(db, "alice", false);
    CHECK(token.rfind("brt_", 0) == 0);
    auto user = db.transact([&](pqxx::work &w) { return authenticate_token(w, token); });
    REQUIRE(user);
    CHECK(user->name == "alice");
    CHECK_FALSE(db.transact([&](pqxx::work &w) { return authenticate_token(w, token + "x"); }));
    int clear = db.transact([&](pqxx::work &w) {
        return w.exec_params1("SELECT count(*) FROM tokens WHERE token_hash = $1", token)[0]
            .as<int>();
    });
    CHECK(clear == 0);
}

TEST_CASE("the database pool reports an outage and recovers", "[control][store]")
{
    PgInstance pg;
    Db db(pg.url(), 2);
    CHECK(db.transact([](pqxx::work &w) { return w.exec1("SELECT 1")[0].as<int>(); }) == 1);
    pg.stop();
    CHECK_THROWS_AS(db.transact([](pqxx::work &w) { return w.exec1("SELECT 1")[0].as<int>(); }),
                    DbUnavailable);
    pg.start();
    CHECK(db.transact([](pqxx::work &w) { return w.exec1("SELECT 2")[0].as<int>(); }) == 2);
}

TEST_CASE("trigger throttle: 3 per minute and 10 per hour with exact retry-after",
          "[control][queue]")
{
    RedisInstance redis;
    RedisConn conn(redis.url());
    ThrottleLimits limits{3, 10};
    int64_t t0 = 1'000'000'000;
    for (int i = 0; i < 3; ++i)
        CHECK(throttle_trigger(conn, "t", "u1", limits, t0 + i * 1000).allowed);
    auto refused = throttle_trigger(conn, "t", "u1", limits, t0 + 5000);
    CHECK_FALSE(refused.allowed);
    CHECK(refused.retry_after_ms == 55000); // the first one leaves the minute window at t0 + 60 s
    CHECK(refused.retry_after_s() == 55);
    CHECK(throttle_trigger(conn, "t", "u2", limits, t0 + 5000).allowed); // per user
    CHECK(throttle_trigger(conn, "t", "u1", limits, t0 + 60001).allowed);
    // Fill the hour: 10 allowed in total, spaced so the minute window never blocks.
    int allowed = 4;
    for (int i = 0; allowed < 10; ++i) {
        if (throttle_trigger(conn, "t", "u1", limits, t0 + 120000 + i * 61000).allowed) ++allowed;
    }
    auto hour = throttle_trigger(conn, "t", "u1", limits, t0 + 600000);
    CHECK_FALSE(hour.allowed);
    CHECK(hour.retry_after_ms == 3600000 - 600000); // until t0 leaves the hour window
}

TEST_CASE("a Redis that requires a password is reached with the URL's and refuses others",
          "[control][queue]")
{
    RedisInstance redis("s3cret pass");
    // Percent-encoded in the URL (the config's password_file does that).
    std::string url = "redis://:s3cret%20pass@127.0.0.1:" + std::to_string(redis.port()) + "/1";
    RedisConn good(url);
    RedisReply pong = good.command({"PING"});
    REQUIRE(pong);
    CHECK(std::string(pong->str, pong->len) == "PONG");
    RedisConn bad("redis://:wrong@127.0.0.1:" + std::to_string(redis.port()));
    try {
        bad.command({"PING"});
        FAIL("a wrong password was accepted");
    } catch (const RedisUnavailable &e) {
        CHECK(std::string(e.what()).find("refused AUTH") != std::string::npos);
    }
    RedisConn none("redis://127.0.0.1:" + std::to_string(redis.port()));
    RedisReply refused = none.command({"PING"});
    REQUIRE(refused);
    CHECK(refused->type == REDIS_REPLY_ERROR); // NOAUTH: nothing without the password
}

TEST_CASE("job queue moves jobs atomically and requeues expired leases", "[control][queue]")
{
    RedisInstance redis;
    RedisConn conn(redis.url());
    JobQueue q(conn, "t", 1000);
    CHECK_FALSE(q.take(50, 0));
    q.push("a");
    q.push("b");
    CHECK(q.contains("a"));
    auto a = q.take(100, 10'000);
    REQUIRE(a);
    CHECK(*a == "a");       // FIFO
    CHECK(q.contains("a")); // in processing
    CHECK(q.requeue_expired(10'500) == 0);
    CHECK(q.requeue_expired(11'001) == 1); // its worker "died": lease expired
    auto again = q.take(100, 12'000);      // a requeued job goes first
    REQUIRE(again);
    CHECK(*again == "a");
    q.ack("a");
    auto b = q.take(100, 12'000);
    REQUIRE(b);
    CHECK(*b == "b");
    q.ack("b");
    CHECK_FALSE(q.contains("a"));
    CHECK_FALSE(q.contains("b"));
    redis.stop();
    CHECK_THROWS_AS(q.push("c"), RedisUnavailable);
    redis.start();
    q.push("c"); // reconnects
    CHECK(q.contains("c"));
}
