// conf/control.toml → ControlConfig; every error is `file:line: message` (exit 2 in main).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shared/config/toml_reader.h"

namespace berth::control
{

using ConfigError = shared::config::ConfigError;

struct ControlConfig {
    std::string path; // the file this came from (for messages)

    // [api]
    std::string api_listen = "127.0.0.1:8700";
    int api_threads = 4;        // DB/Redis work threads (libuv threadpool size)
    int trigger_per_minute = 3; // per-user trigger throttle windows
    int trigger_per_hour = 10;
    int page_size_default = 20;
    int page_size_max = 100;
    uint64_t max_body_bytes = 1 << 20;
    // POST deployments/upload/ only (#16): the archive is held in memory while it arrives.
    uint64_t max_upload_bytes = 100ull << 20;
    int idle_timeout_ms = 60000; // close connections idle this long
    int max_streams = 16;        // open ?follow=1 streams, each on a thread of its own (#16)

    // [database]
    std::string database_url = "postgresql://berth@127.0.0.1:54329/berth";
    int database_pool = 8;

    // [redis]
    std::string redis_url = "redis://127.0.0.1:63799";
    std::string redis_prefix = "berth";
    // [redis] signing_key_file's key: route tables and deployment archives published in Redis
    // are signed with it (shared/fleet/signature.h); empty: unsigned.
    std::string redis_signing_key;

    // [deploy]
    std::string deployments_root = ".berth/deployments";
    std::string base_domain = "localhost";
    std::string builds_dir = ".berth/builds";
    // Stored UPLOAD archives (#16), one <deployment id>.tar.gz each while it is in flight.
    // Unset in the file: "uploads" next to builds_dir.
    std::string uploads_dir = ".berth/uploads";
    int keep_deployments = 5;
    int workers = 1;
    int visibility_timeout_s = 30; // lease of a running job; heartbeats every fifth of it
    int recover_queued_after_s = 30;

    // [edges]
    std::vector<std::string> edge_admin_sockets;
    // Edges that follow route tables through Redis ([redis] url in their edge.toml), by their
    // [redis] name. Control publishes every table in Redis whoever listens; these are the
    // ones whose acknowledgements count like an admin socket's (as "redis:<name>" in
    // edges_pending and GET system/edges/).
    std::vector<std::string> edge_redis_names;
    // Whether deploys wait for an edge (with none, they go ACTIVE once published).
    bool has_edges() const { return !edge_admin_sockets.empty() || !edge_redis_names.empty(); }
    // Every configured edge: admin socket paths, then "redis:<name>".
    std::vector<std::string> edge_ids() const
    {
        std::vector<std::string> ids = edge_admin_sockets;
        for (const auto &n : edge_redis_names)
            ids.push_back("redis:" + n);
        return ids;
    }
    // Leave each live static deployment's files in Redis (<prefix>:files:<root>, a gzip'd tar)
    // for fleet edges on other hosts, which fetch what they lack before installing a table.
    // Unset in the file: on exactly when redis_edges lists an edge.
    bool distribute_files = false;
    uint64_t distribute_max_bytes = 256ull << 20; // per deployment archive
    int edge_timeout_ms = 3000;                   // each admin call (routes.get, routes.put)
    int edge_sync_interval_ms = 2000;             // the reconciler's pass over every edge
    int edge_ack_timeout_s = 30; // a deploy waits this long for a first edge to serve it
    // Where the edges serve HTTP ("IP:PORT"): the static health check requests the new
    // deployment through them (#16). Empty: the check looks at the published directory only.
    std::vector<std::string> edge_http_addresses;
    int health_timeout_ms = 2000; // each health check request
    int health_attempts = 3;      // rounds over edge_http_addresses before HEALTH_FAILED

    // [builds] (#16): install and build commands run as sandboxed child processes.
    // When control runs as root, a service's builds run as uid and gid build_uid_base + n, n
    // the service's own number (store: build_uid_number), so no two services share a uid.
    int64_t build_uid_base = 200000;
    // Not read from the file (`[builds] user` is refused since uid_base): the account whose
    // reach of builds_dir is checked at startup. A build uid neither owns it nor is in its
    // group, so it reaches it as this one does (the "other" bits).
    std::string build_user = "nobody";
    std::string cache_dir = ".berth/cache"; // dependency caches, per service and lockfile hash
    int build_timeout_s = 1800;             // wall clock, per command
    int build_memory_mb = 4096;             // private writable memory (RLIMIT_DATA), per process
    int build_cpu_s = 1800;                 // CPU time, per process
    int build_processes = 1024;
    int build_open_files = 4096;
    int build_file_size_mb = 4096; // the largest file a build may write
    int build_log_max_lines = 20000;
    int build_log_max_kib = 8192;

    // [security]
    std::string encryption_key_env = "BERTH_ENCRYPTION_KEY";
    std::string encryption_key_file; // used when the environment variable is unset
    std::vector<std::string> allowed_repo_hosts;
    bool allow_file_urls = false;

    // [webhooks]: secrets by environment variable name (preferred) or inline.
    std::string github_secret_env = "BERTH_GITHUB_WEBHOOK_SECRET";
    std::string gitlab_secret_env = "BERTH_GITLAB_WEBHOOK_SECRET";
    std::string bitbucket_secret_env = "BERTH_BITBUCKET_WEBHOOK_SECRET";
    std::string github_secret;
    std::string gitlab_secret;
    std::string bitbucket_secret;
};

// Throws ConfigError("file:line: message") on a syntax error, an unknown key, a wrong type or an
// out-of-range value. Relative paths are kept as written (resolved against the working
// directory, which is the repository root in every documented command).
ControlConfig load_control_config(const std::string &path);

// Empty when `entry` is a valid [security] allowed_repo_hosts entry (a host name or an address
// range), else the message naming it.
std::string check_allowed_repo_host(const std::string &entry);

// The webhook secret for a provider ("github"...): the environment variable if set, else the
// inline value; empty when neither is configured (deliveries are then refused).
std::string webhook_secret(const ControlConfig &config, const std::string &provider);

// The 64-hex-digit AES-256 key: from the environment variable, else from the key file.
// Throws ConfigError naming both places when neither holds a valid key.
std::string encryption_key_hex(const ControlConfig &config);

} // namespace berth::control
