// Follows the route tables berth-control publishes in Redis, so edges on any host form one
// fleet (DESIGN.md: Redis carries "route pub/sub"). It runs on the main loop with hiredis'
// asynchronous API, never on a worker loop, and never makes the edge wait: while Redis is
// away the edge serves the table it has (persisted in state_dir) and reconnects with back-off.
//
// Redis keys, under [redis] prefix ("berth"):
//   <prefix>:routes            hash: version, hash, table (the whole table as JSON) and
//                              signature (shared/fleet/signature.h), written
//                              by control; the channel of the same name carries the version
//                              after each change, so followers fetch at once
//   <prefix>:edge:<name>       hash: this edge's acknowledgement (version, hash, error,
//                              missing_roots as a JSON array, files_error, pid,
//                              instance, at_ms),
//                              refreshed every heartbeat, expiring after three missed
//   <prefix>:edges             set: the names of every edge that acknowledged
//   <prefix>:files:<root>      hash: data (a static deployment's files as a gzip'd tar) and
//                              signature, left by control
//                              (deployment_fetcher.h fetches the ones this host lacks)
// A published table is installed like routes.put (validated, version above the current one,
// persisted, swapped in every worker) and acknowledged at once; the files of its static roots
// that this host lacks are fetched first, so no host answers 404 while they travel.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <uv.h>

#include "edge/fleet/deployment_fetcher.h"
#include "shared/config/redis_url.h"
#include "shared/route/route_table.h"

struct redisAsyncContext;

namespace berth::edge
{

class RouteFollower
{
public:
    struct Settings {
        shared::config::RedisUrl url;
        std::string prefix = "berth";
        std::string name; // this edge's name in the fleet
        uint32_t heartbeat_ms = 2000;
        bool fetch_files = true;          // fetch missing static roots' files from Redis
        std::string deployments_root;     // where they go
        std::string state_dir;            // where the list of fetched ones is kept
        uint64_t keep_fetched_ms = 60000; // a fetched root no table serves is deleted after
        std::string signing_key;          // "": tables and archives are taken unsigned
    };
    struct Hooks {
        std::function<uint64_t()> version; // of the table served now, 0 without one
        std::function<std::string()> hash; // route_table_hash of it, "" without one
        std::function<std::vector<std::string>()> missing_roots; // its static roots not here
        std::function<std::vector<std::string>()> static_roots;  // of the table served now
        // The static roots of a published table (parsed once, here) that are not on this host.
        std::function<std::vector<std::string>(const shared::route::RouteTable &)> missing_in;
        std::function<std::string(shared::route::RouteTable)> install; // "" or the error
    };

    RouteFollower(uv_loop_t *loop, Settings settings, Hooks hooks);
    RouteFollower(const RouteFollower &) = delete;
    RouteFollower &operator=(const RouteFollower &) = delete;
    ~RouteFollower();

    void start();
    // Closes the connections and timers; their handles finish closing on the loop.
    void close();
    // The served table changed (from Redis, the admin socket or SIGHUP): say so now.
    void acknowledge();
    nlohmann::json stats() const; // for the admin "stats" reply

private:
    static void on_connect(const redisAsyncContext *ctx, int status);
    static void on_disconnect(const redisAsyncContext *ctx, int status);
    static void on_reply(redisAsyncContext *ctx, void *reply, void *privdata);
    enum class Step { kAuth, kSelect, kVersion, kTable, kFiles, kAck, kOwner, kSubscribe };

    void connect();
    void open(const std::string &ip);
    void connected(const redisAsyncContext *ctx);
    void lost(const redisAsyncContext *ctx, const std::string &why);
    // Drops both connections and retries after a back-off; logs each new reason once.
    void fail(const std::string &why);
    void drop_contexts();
    void send(redisAsyncContext *ctx, Step step, std::initializer_list<std::string> argv);
    void handle(Step step, bool on_subscriber, void *reply);
    void check_version(); // asks for the published version
    void install_published(uint64_t version, shared::route::RouteTable table);
    void refuse(uint64_t version, const std::string &why); // said in the ack, not fetched again
    void fetch_missing_files(); // of the table served now, when some have not arrived yet
    void fetch_done();          // a version check, table or file fetch has ended
    void heartbeat();
    bool ready() const { return cmd_ && sub_ && connects_left_ == 0; }

    uv_loop_t *loop_;
    Settings settings_;
    Hooks hooks_;
    std::string routes_key_, edge_key_, edges_key_;
    redisAsyncContext *cmd_ = nullptr; // commands and acknowledgements
    redisAsyncContext *sub_ = nullptr; // SUBSCRIBE only (a subscribed connection takes no other)
    int connects_left_ = 0;
    uv_timer_t retry_timer_, heartbeat_timer_, connect_timer_;
    uv_getaddrinfo_t resolve_;
    bool resolving_ = false;
    bool started_ = false, closing_ = false;
    uint64_t backoff_ms_ = 250;
    uint64_t waiting_since_ = 0; // loop time of the oldest unanswered command, 0 for none
    int in_flight_ = 0;
    bool fetching_ = false, fetch_again_ = false;
    // What stats says.
    bool subscribed_ = false;
    std::string last_error_, logged_error_;
    uint64_t published_version_ = 0;
    std::string install_error_; // the last published table this edge could not install
    uint64_t refused_version_ = 0;
    // Random per process, written with each acknowledgement: another instance's id found in
    // our key means two edges share one name (a copied edge.toml), which control would count
    // as one edge.
    std::string instance_;
    bool name_clash_ = false;
    std::unique_ptr<DeploymentFetcher> fetcher_; // null when fetch_files is off
};

} // namespace berth::edge
