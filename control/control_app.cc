// Subcommand bodies; `serve` wires the loop thread, the threadpool and the pipeline threads.
#include "control/control_app.h"

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <uv.h>

#include "control/api/api_router.h"
#include "control/api/http_server.h"
#include "control/edges/edge_reconciler.h"
#include "control/pipeline/git_checkout.h"
#include "control/pipeline/job_runner.h"
#include "control/queue/redis_conn.h"
#include "control/sandbox/build_sandbox.h"
#include "control/store/audit_log.h"
#include "control/store/db.h"
#include "control/store/migrations.h"
#include "control/store/tokens.h"

namespace berth::control
{

int run_migrate(const ControlConfig &config)
{
    Db db(config.database_url, 1);
    auto applied = apply_migrations(db);
    for (const auto &name : applied)
        std::cout << "applied " << name << "\n";
    if (applied.empty()) std::cout << "up to date\n";
    return 0;
}

int run_token_create(const ControlConfig &config, const std::string &user, bool admin)
{
    Db db(config.database_url, 1);
    std::string token = create_token(db, user, admin);
    std::cout << "token for " << user << (admin ? " (admin)" : "") << "; it is shown only once:\n"
              << token << std::endl;
    return 0;
}

int run_token_revoke(const ControlConfig &config, const std::string &user)
{
    Db db(config.database_url, 1);
    std::cout << "revoked " << revoke_tokens(db, user) << " token(s) of " << user << "\n";
    return 0;
}

int run_audit_verify(const ControlConfig &config)
{
    Db db(config.database_url, 1);
    auto result = db.transact([](pqxx::work &w) { return audit_verify(w); });
    if (result.broken_id) {
        std::cout << "audit log BROKEN at row " << *result.broken_id << ": " << result.reason
                  << " (" << result.rows << " rows checked)\n";
        return 1;
    }
    std::cout << "audit log OK: " << result.rows << " rows\n";
    return 0;
}

namespace
{

struct ServeState {
    HttpServer *server;
    uv_signal_t sigint{}, sigterm{};
};

void on_signal(uv_signal_t *s, int)
{
    auto *st = static_cast<ServeState *>(s->data);
    st->server->close();
    uv_close(reinterpret_cast<uv_handle_t *>(&st->sigint), nullptr);
    uv_close(reinterpret_cast<uv_handle_t *>(&st->sigterm), nullptr);
}

// A build dir build uids cannot enter (a checkout under /root, mode 0700) fails every build
// that runs a command; say so at startup rather than at the first build. Checked as nobody:
// like every build uid, neither the owner nor in the group. (Builds never open cache_dir:
// control copies dependencies in and out.)
void warn_unreachable_build_dirs(const ControlConfig &config)
{
    SandboxUser user;
    user.name = config.build_user;
    std::string problem = build_user_reach_problem(user, config.builds_dir);
    if (!problem.empty())
        std::fprintf(stderr,
                     "berth-control: warning: [deploy] builds_dir: %s; builds that run commands "
                     "will fail until it points where build uids can reach\n",
                     problem.c_str());
}

} // namespace

int run_serve(const ControlConfig &config)
{
    auto box = SecretBox::from_hex_key(encryption_key_hex(config));
    // The threadpool runs every request's DB and Redis work; size it before the first use.
    std::string threads = std::to_string(config.api_threads);
    setenv("UV_THREADPOOL_SIZE", threads.c_str(), 1);
    signal(SIGPIPE, SIG_IGN);

    GitLibrary git;
    Db db(config.database_url, config.database_pool);
    RedisPool redis(config.redis_url);
    ApiContext api{config, db, redis, *box, wall_clock_ms};

    uv_loop_t loop;
    uv_loop_init(&loop);
    shared::http::ParserLimits limits;
    limits.max_body_bytes = config.max_body_bytes;
    HttpServer server(
        &loop, [&api](const ApiRequest &req) { return handle_api_request(api, req); }, limits,
        uint64_t(config.idle_timeout_ms), config.max_streams);
    server.set_body_limit([&config](const shared::http::RequestHead &head) {
        return request_body_limit(config, head);
    });
    server.set_head_check(
        [&api](const ApiRequest &req) { return check_api_request_head(api, req); });
    size_t colon = config.api_listen.rfind(':');
    std::string host = config.api_listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    int port = std::atoi(config.api_listen.c_str() + colon + 1);
    if (int rc = server.listen(host, port); rc != 0) {
        std::fprintf(stderr, "berth-control: cannot listen on %s: %s\n", config.api_listen.c_str(),
                     uv_strerror(rc));
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return 1;
    }
    ServeState st{&server};
    uv_signal_init(&loop, &st.sigint);
    uv_signal_init(&loop, &st.sigterm);
    st.sigint.data = st.sigterm.data = &st;
    uv_signal_start(&st.sigint, on_signal, SIGINT);
    uv_signal_start(&st.sigterm, on_signal, SIGTERM);

    PipelineWorkers workers(config, db, &*box);
    workers.start(config.workers);
    EdgeReconciler reconciler(config, db);
    reconciler.start();
    if (!config.has_edges())
        std::fprintf(stderr, "berth-control: warning: [edges] admin_sockets and redis_edges are"
                             " empty: deployments go ACTIVE without waiting for any edge (route"
                             " tables are still published in redis)\n");
    warn_unreachable_build_dirs(config);
    std::printf("berth-control: listening on %s:%d\n", host.c_str(), server.bound_port());
    std::fflush(stdout);

    uv_run(&loop, UV_RUN_DEFAULT);
    reconciler.stop();
    workers.stop();
    int rc = uv_loop_close(&loop);
    std::fprintf(stderr, "berth-control: stopped%s\n", rc == 0 ? "" : " (loop not empty)");
    return 0;
}

} // namespace berth::control
