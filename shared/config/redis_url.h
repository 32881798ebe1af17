// redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], the one Redis address syntax of both processes'
// configs (user and password percent-encoded). Control's queue and the edge's route follower
// connect with exactly these parts (AUTH with the password, SELECT the database).
#pragma once

#include <stdexcept>
#include <string>

namespace berth::shared::config
{

struct RedisUrl {
    std::string user, password; // empty: no AUTH (or AUTH with the password alone)
    std::string host = "127.0.0.1";
    int port = 6379;
    int db = 0;
    std::string display() const; // host:port[/db], never the password
};

// Throws std::invalid_argument with what is wrong (no "redis://", options, a bad port or
// database, a user without a password).
RedisUrl parse_redis_url(const std::string &url);

// The URL with the password read from the first line of `file` (scripts/services.sh writes
// it, mode 0600). Throws std::invalid_argument when the URL already carries a password or
// the file cannot be read or starts with an empty line.
std::string redis_url_with_password_file(const std::string &url, const std::string &file);

// Whether `name` can name an edge in the fleet: it becomes part of the Redis key
// <prefix>:edge:<name>, so 1-200 characters without spaces, ':' or glob characters.
bool is_fleet_edge_name(const std::string &name);

} // namespace berth::shared::config
