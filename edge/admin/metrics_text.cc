// stats JSON → Prometheus text. Each family is written whole (HELP, TYPE, its samples), as
// the format asks; names follow Prometheus conventions (_total counters, base units).
#include "edge/admin/metrics_text.h"

#include <cstdio>
#include <ctime>
#include <string_view>

namespace berth::edge
{
namespace
{

using nlohmann::json;

// A label value with \, " and newlines escaped.
std::string label_value(std::string_view v)
{
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out.push_back('\\');
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out.push_back(c);
    }
    return out;
}

std::string number(const json &v)
{
    if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
    if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
    if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
    if (v.is_number()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.17g", v.get<double>());
        return buf;
    }
    return "0";
}

class Writer
{
public:
    void family(std::string_view name, std::string_view type, std::string_view help)
    {
        name_ = name;
        out_ += "# HELP ";
        out_ += name;
        out_ += ' ';
        out_ += help;
        out_ += "\n# TYPE ";
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }
    // One sample of the current family; labels: already rendered (`a="x",b="y"`) or empty.
    void sample(const std::string &labels, const std::string &value)
    {
        out_ += name_;
        if (!labels.empty()) out_ += "{" + labels + "}";
        out_ += ' ';
        out_ += value;
        out_ += '\n';
    }
    // A family with one unlabelled sample, from stats[key] when it is there.
    void single(const json &stats, const char *key, std::string_view name, std::string_view type,
                std::string_view help)
    {
        auto it = stats.find(key);
        if (it == stats.end() || it->is_null()) return;
        family(name, type, help);
        sample("", number(*it));
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
    std::string name_;
};

std::string label(std::string_view name, std::string_view value)
{
    return std::string(name) + "=\"" + label_value(value) + "\"";
}

// A stats field and the family it becomes.
struct Plain {
    const char *key, *name, *type, *help;
};

// [redis] fleet following: alert when published_version stays above routes_version (the
// edge cannot fetch or install what control published) or connected stays 0.
void fleet_families(Writer &w, const json &fleet)
{
    if (!fleet.is_object()) return;
    w.single(fleet, "connected", "berth_edge_fleet_connected", "gauge",
             "1 while the edge is connected to the fleet's Redis.");
    w.single(fleet, "published_version", "berth_edge_fleet_published_version", "gauge",
             "Route table version last seen published in Redis.");
    w.family("berth_edge_fleet_install_failed", "gauge",
             "1 while the newest published table is one this edge refused.");
    w.sample("", fleet.value("install_error", json()).is_null() ? "0" : "1");
    const json &files = fleet.value("files", json());
    if (!files.is_object()) return; // fetch_files off
    static constexpr Plain kFiles[] = {
        {"fetched", "berth_edge_fleet_files_fetched_total", "counter",
         "Deployments whose files this edge fetched from Redis and unpacked."},
        {"fetched_bytes", "berth_edge_fleet_files_fetched_bytes_total", "counter",
         "Bytes of deployment archives fetched from Redis."},
        {"removed", "berth_edge_fleet_files_removed_total", "counter",
         "Fetched deployments deleted once no route served them."},
    };
    for (const Plain &p : kFiles)
        w.single(files, p.key, p.name, p.type, p.help);
    w.family("berth_edge_fleet_files_refused", "gauge",
             "Deployment archives this edge refused (hostile entry, too large, cannot write).");
    w.sample("", std::to_string(files.value("refused", json::object()).size()));
}

void upstream_families(Writer &w, const json &upstreams)
{
    if (!upstreams.is_array() || upstreams.empty()) return;
    static constexpr Plain kPlain[] = {
        {"requests", "berth_edge_upstream_requests_total", "counter",
         "Attempts sent to the upstream (retries included)."},
        {"retries", "berth_edge_upstream_retries_total", "counter",
         "Requests that went on to another upstream after this one failed."},
        {"open_connections", "berth_edge_upstream_open_connections", "gauge",
         "Connections open to the upstream, all workers."},
        {"idle_connections", "berth_edge_upstream_idle_connections", "gauge",
         "Keep-alive connections idle in the pools."},
        {"in_flight", "berth_edge_upstream_in_flight", "gauge",
         "Requests waiting on the upstream now."},
        {"ejected_workers", "berth_edge_upstream_ejected_workers", "gauge",
         "Workers whose passive health check has ejected the upstream."},
    };
    for (const Plain &p : kPlain) {
        w.family(p.name, p.type, p.help);
        for (const json &u : upstreams)
            w.sample(label("addr", u.value("addr", "")), number(u.value(p.key, json(0))));
    }
    w.family("berth_edge_upstream_healthy", "gauge",
             "1 while the upstream takes traffic, 0 while marked down, ejected or unresolved.");
    for (const json &u : upstreams)
        w.sample(label("addr", u.value("addr", "")),
                 u.value("health", "") == "healthy" ? "1" : "0");
    // Objects of counters keyed by a label value: status classes and failure kinds.
    struct Keyed {
        const char *key, *name, *label, *help;
    };
    static constexpr Keyed kKeyed[] = {
        {"status", "berth_edge_upstream_responses_total", "class",
         "Responses relayed from the upstream, by status class."},
        {"failures", "berth_edge_upstream_failures_total", "kind",
         "Failed attempts, by what went wrong."},
    };
    for (const Keyed &k : kKeyed) {
        w.family(k.name, "counter", k.help);
        for (const json &u : upstreams) {
            auto it = u.find(k.key);
            if (it == u.end() || !it->is_object()) continue;
            for (auto &[key, value] : it->items())
                w.sample(label("addr", u.value("addr", "")) + "," + label(k.label, key),
                         number(value));
        }
    }
}

// "2027-03-01T12:00:00Z" → seconds since the epoch; -1 when it does not parse.
long long epoch_of(const std::string &when)
{
    std::tm tm{};
    if (!strptime(when.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return -1;
    return static_cast<long long>(timegm(&tm));
}

void tls_families(Writer &w, const json &tls)
{
    if (!tls.is_object()) return;
    const json &hs = tls.value("handshakes", json::object());
    w.family("berth_edge_tls_handshakes_total", "counter", "Completed TLS handshakes.");
    w.sample(label("kind", "full"), number(hs.value("full", json(0))));
    w.sample(label("kind", "resumed"), number(hs.value("resumed", json(0))));
    if (hs.contains("failed") && hs["failed"].is_object()) {
        w.family("berth_edge_tls_handshake_failures_total", "counter",
                 "Failed TLS handshakes, by reason.");
        for (auto &[reason, n] : hs["failed"].items())
            w.sample(label("reason", reason), number(n));
    }
    w.single(tls, "ticket_key_rotations", "berth_edge_tls_ticket_key_rotations_total", "counter",
             "Session ticket key rotations.");
    if (tls.contains("certificates") && tls["certificates"].is_array()) {
        w.family("berth_edge_tls_certificate_not_after_seconds", "gauge",
                 "When each loaded certificate expires (seconds since the epoch).");
        for (const json &c : tls["certificates"]) {
            long long t = epoch_of(c.value("not_after", ""));
            if (t >= 0) w.sample(label("name", c.value("name", "")), std::to_string(t));
        }
    }
}

} // namespace

std::string prometheus_text(const json &stats)
{
    Writer w;
    w.single(stats, "requests", "berth_edge_requests_total", "counter", "Requests answered.");
    w.single(stats, "accepted", "berth_edge_accepted_total", "counter", "Connections accepted.");
    w.single(stats, "rejected_over_cap", "berth_edge_rejected_over_cap_total", "counter",
             "Connections refused at the max_connections cap.");
    w.single(stats, "bytes_out", "berth_edge_sent_bytes_total", "counter",
             "Bytes written to clients.");
    w.single(stats, "cold_file_reads", "berth_edge_cold_file_reads_total", "counter",
             "Static file reads that were not in the page cache (done off the loop).");
    w.single(stats, "batched_sends", "berth_edge_batched_sends_total", "counter",
             "Sends that left in an io_uring batch.");
    w.single(stats, "connections", "berth_edge_connections", "gauge", "Client connections open.");
    w.single(stats, "workers", "berth_edge_workers", "gauge", "Worker threads.");
    w.single(stats, "routes_version", "berth_edge_routes_version", "gauge",
             "Version of the route table in use.");
    if (stats.contains("missing_roots") && stats["missing_roots"].is_array()) {
        w.family("berth_edge_missing_static_roots", "gauge",
                 "Static roots of the route table that are not directories on this host.");
        w.sample("", std::to_string(stats["missing_roots"].size()));
    }
    w.single(stats, "draining", "berth_edge_draining", "gauge", "1 while the edge drains.");
    if (stats.contains("uptime_ms") && stats["uptime_ms"].is_number()) {
        w.family("berth_edge_uptime_seconds", "gauge", "Seconds since the edge started.");
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.3f", stats["uptime_ms"].get<double>() / 1000.0);
        w.sample("", buf);
    }
    fleet_families(w, stats.value("fleet", json()));
    upstream_families(w, stats.value("upstreams", json::array()));
    tls_families(w, stats.value("tls", json()));
    return w.take();
}

} // namespace berth::edge
