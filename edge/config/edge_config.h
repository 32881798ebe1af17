// berth-edge configuration: TOML file (conf/edge.toml) plus command-line overrides.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared/base/log.h"
#include "shared/config/toml_reader.h"

namespace berth::edge
{

// Thrown at startup only; what() is "file:line: message". main() prints it and exits 2.
using ConfigError = shared::config::ConfigError;

struct ListenAddr {
    std::string host; // "127.0.0.1", "::1", "0.0.0.0"
    uint16_t port = 0;
    bool tls = false;
};

// "127.0.0.1:8080", "[::1]:8443", ":8080" (all IPv4 interfaces). Throws ConfigError(where: ...).
ListenAddr parse_listen_addr(const std::string &spec, const std::string &where);

enum class LogFormat : uint8_t { kCombined, kJson };

// A feature that is off, on, or decided at run time ("auto"): TCP_DEFER_ACCEPT on listeners
// (while new connections pour in, defer_accept_policy.h), io_uring send batches (when the
// kernel allows them, send_batch.h).
enum class AutoSwitch : uint8_t { kOff, kOn, kAuto };

struct EdgeConfig {
    // [edge]
    unsigned workers = 0; // 0: one per core
    std::string deployments_root;
    std::string base_domain; // quick mode: NAME.<base_domain> → <deployments_root>/NAME/
    std::string state_dir;   // last route table pushed, so a restart serves what it served
    std::string routes_file;
    bool quick_spa = true;
    AutoSwitch defer_accept = AutoSwitch::kAuto;
    uint32_t defer_accept_rate = 2000; // auto: new connections per second per worker
    AutoSwitch io_uring = AutoSwitch::kAuto;

    std::vector<ListenAddr> listen;

    // [tls]
    std::string certs_dir;    // <host>.crt/.key, _wildcard.<domain>.crt/.key (cert_store.h)
    std::string default_cert; // for clients whose SNI names nothing known
    bool hsts = false;        // Strict-Transport-Security on HTTPS answers
    uint32_t hsts_max_age = 31536000;
    bool hsts_include_subdomains = false;
    bool redirect_http = false; // plain HTTP → 308 https:// (routes may say otherwise)
    uint32_t handshake_timeout_ms = 10000;
    uint32_t ticket_key_rotation_s = 43200;
    uint32_t session_cache_size = 20000;
    std::vector<std::string> tls_certs; // --tls-cert/--tls-key pairs
    std::vector<std::string> tls_keys;

    // [limits]
    uint32_t header_timeout_ms = 10000;
    uint32_t idle_timeout_ms = 60000;
    uint32_t send_timeout_ms = 30000;
    uint32_t drain_timeout_ms = 15000;
    uint32_t max_header_bytes = 16 * 1024;
    uint32_t max_url_bytes = 8 * 1024;
    uint32_t max_header_count = 100;
    uint32_t max_connections = 10000;
    uint64_t max_body_bytes = 1 << 20;

    // [cache]
    uint64_t small_file_bytes = 256 * 1024;
    uint64_t memory_bytes = 32 << 20; // per worker, for the bodies of small files
    uint64_t revalidate_ms = 1000;

    // [admin]
    std::string admin_socket;
    std::string metrics_listen;

    // [log]
    std::string access_log; // path, "-" for stdout, "" for off
    LogFormat log_format = LogFormat::kCombined;
    shared::LogLevel log_level = shared::LogLevel::kInfo; // stderr messages

    // [redis]: follow route tables published by berth-control (a fleet of edges, any host).
    std::string redis_url; // empty: off; password_file already folded in
    std::string redis_prefix = "berth";
    std::string redis_name;             // this edge in the fleet; empty: the host name
    uint32_t redis_heartbeat_ms = 2000; // acknowledgement refresh and version check
    // Unpack a deployment's files that control left in Redis when a table names a static root
    // this host lacks (an edge on another host than control).
    // [redis] signing_key_file's key: tables and archives must carry control's signature.
    std::string redis_signing_key;
    bool redis_fetch_files = true;
    uint32_t redis_keep_fetched_ms = 60000; // a fetched root no table serves is deleted after

    // [geoip]
    std::string geoip_database;
    std::vector<std::string> trusted_proxies;

    std::string source; // the config file, for messages
};

// Loads and validates a TOML file. Relative paths in it are resolved against the current
// directory (the README runs from the checkout). Throws ConfigError.
EdgeConfig load_edge_config(const std::string &path);

// Checks the combination of settings (after CLI overrides). Throws ConfigError.
void validate_edge_config(EdgeConfig &config);

} // namespace berth::edge
