// libmaxminddb behind a shared_ptr: a reload swaps the pointer, lookups in flight keep theirs.
#include "edge/geo/geoip.h"

#include <cstring>
#include <netinet/in.h>

#include <maxminddb.h>

namespace berth::edge
{

class GeoDatabase
{
public:
    MMDB_s mmdb{};
    bool opened = false;
    ~GeoDatabase()
    {
        if (opened) MMDB_close(&mmdb);
    }
};

namespace
{

std::shared_ptr<GeoDatabase> open_db(const std::string &path, std::string &error)
{
    auto db = std::make_shared<GeoDatabase>();
    int rc = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &db->mmdb);
    if (rc != MMDB_SUCCESS) {
        error = "GeoIP database " + path + ": " + MMDB_strerror(rc) +
                (rc == MMDB_IO_ERROR ? std::string(" (") + std::strerror(errno) + ")" : "");
        return nullptr;
    }
    db->opened = true;
    return db;
}

bool country_at(MMDB_lookup_result_s &r, const char *const *path, Country &out)
{
    MMDB_entry_data_s data;
    if (MMDB_aget_value(&r.entry, &data, path) != MMDB_SUCCESS || !data.has_data ||
        data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size != 2)
        return false;
    std::memcpy(out.code, data.utf8_string, 2);
    for (char &c : out.code)
        if (c >= 'a' && c <= 'z') c = char(c - 32);
    return true;
}

} // namespace

Country lookup_country(const GeoDatabase &db, const IpAddr &a) noexcept
{
    Country c;
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    std::memcpy(&sa.sin6_addr, a.bytes, 16);
    // An IPv4 address is looked up as one: libmaxminddb finds it in an IPv4 database and in
    // the IPv4 subtree of an IPv6 one (where its mapped form may not be aliased).
    sockaddr_in sa4{};
    const sockaddr *addr = reinterpret_cast<const sockaddr *>(&sa);
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a.bytes, mapped, 12) == 0) {
        sa4.sin_family = AF_INET;
        std::memcpy(&sa4.sin_addr, a.bytes + 12, 4);
        addr = reinterpret_cast<const sockaddr *>(&sa4);
    }
    int error = 0;
    MMDB_lookup_result_s r = MMDB_lookup_sockaddr(const_cast<MMDB_s *>(&db.mmdb), addr, &error);
    if (error != MMDB_SUCCESS || !r.found_entry) return c;
    static const char *const country[] = {"country", "iso_code", nullptr};
    static const char *const registered[] = {"registered_country", "iso_code", nullptr};
    if (!country_at(r, country, c)) country_at(r, registered, c);
    return c;
}

std::string GeoIp::open(const std::string &path)
{
    path_ = path;
    return reload();
}

std::string GeoIp::reload()
{
    std::string error;
    auto db = open_db(path_, error);
    if (!db) return error;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        db_ = std::move(db);
    }
    generation_.fetch_add(1, std::memory_order_release);
    return "";
}

std::shared_ptr<const GeoDatabase> GeoIp::current() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return db_;
}

Country GeoIp::lookup(const IpAddr &a) const
{
    auto db = current();
    return db ? lookup_country(*db, a) : Country{};
}

Country GeoView::lookup(const IpAddr &a)
{
    if (!geo_) return {};
    uint64_t g = geo_->generation();
    if (g != generation_) {
        db_ = geo_->current();
        generation_ = g;
    }
    return db_ ? lookup_country(*db_, a) : Country{};
}

} // namespace berth::edge
