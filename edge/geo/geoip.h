// GeoIP step: client address → ISO country code, from a MaxMind database (libmaxminddb), for
// the routes' geo rules, the X-Client-Country header and the access log (#14).
//
// The database is opened at startup (a missing or corrupt file is an error then) and reopened
// on reload (SIGHUP): a file that fails to open keeps the old one serving. Workers hold the
// database they last saw and pick up a new one at their next lookup (one relaxed load of a
// generation number); lookups happen once per connection, not per request.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "edge/geo/ip_ranges.h"

namespace berth::edge
{

class GeoDatabase; // one opened .mmdb file

// A two-letter code, or empty ("" when the address is not in the database).
struct Country {
    char code[2] = {0, 0};
    bool known() const noexcept { return code[0] != 0; }
    std::string_view view() const noexcept { return known() ? std::string_view(code, 2) : ""; }
};

class GeoIp
{
public:
    // Opens the database. Returns "" or the error (the file, and why).
    std::string open(const std::string &path);
    // Reopens the same file; on error the previous database stays. Returns "" or the error.
    std::string reload();
    const std::string &path() const noexcept { return path_; }
    uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
    std::shared_ptr<const GeoDatabase> current() const;
    // Lookups on the database as it is now (tests and the admin path).
    Country lookup(const IpAddr &a) const;

private:
    std::string path_;
    mutable std::mutex mutex_; // guards db_ (reload vs a worker picking up the new one)
    std::shared_ptr<const GeoDatabase> db_;
    std::atomic<uint64_t> generation_{0};
};

// One worker's view: its copy of the current database, refreshed when the generation moves.
class GeoView
{
public:
    explicit GeoView(const GeoIp *geo) : geo_(geo) {}
    bool enabled() const noexcept { return geo_ != nullptr; }
    Country lookup(const IpAddr &a);

private:
    const GeoIp *geo_;
    std::shared_ptr<const GeoDatabase> db_;
    uint64_t generation_ = 0;
};

Country lookup_country(const GeoDatabase &db, const IpAddr &a) noexcept;

} // namespace berth::edge
