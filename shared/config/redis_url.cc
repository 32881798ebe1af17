#include "shared/config/redis_url.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string_view>

#include "shared/base/host_name.h"
#include "shared/base/percent_coding.h"

namespace berth::shared::config
{

namespace
{

bool all_digits(std::string_view s)
{
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

} // namespace

std::string RedisUrl::display() const
{
    return host + ":" + std::to_string(port) + (db ? "/" + std::to_string(db) : "");
}

RedisUrl parse_redis_url(const std::string &url)
{
    using Bad = std::invalid_argument;
    if (url.rfind("redis://", 0) != 0) throw Bad("must start with redis://");
    RedisUrl out;
    std::string_view rest = std::string_view(url).substr(8);
    if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
        std::string_view credentials = rest.substr(0, at);
        size_t colon = credentials.find(':');
        if (colon == std::string_view::npos || colon + 1 == credentials.size())
            throw Bad("needs a password after the user (redis://[USER]:PASSWORD@HOST)");
        out.user = percent_decode(credentials.substr(0, colon), false);
        out.password = percent_decode(credentials.substr(colon + 1), false);
        rest.remove_prefix(at + 1);
    }
    if (rest.find_first_of("?#") != std::string_view::npos)
        throw Bad("must not carry options (?...): none are supported");
    if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
        std::string_view db = rest.substr(slash + 1);
        if (!all_digits(db) || db.size() > 2)
            throw Bad("database index after / must be a number from 0 to 99");
        out.db = std::stoi(std::string(db));
        rest = rest.substr(0, slash);
    }
    if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
        std::string_view port = rest.substr(colon + 1);
        if (!all_digits(port) || port.size() > 5 || std::stol(std::string(port)) > 65535 ||
            std::stol(std::string(port)) == 0)
            throw Bad("port must be a number from 1 to 65535");
        out.port = std::stoi(std::string(port));
        rest = rest.substr(0, colon);
    }
    if (!shared::is_host_name(rest)) throw Bad("needs a host name or IPv4 address");
    out.host = std::string(rest);
    return out;
}

std::string redis_url_with_password_file(const std::string &url, const std::string &file)
{
    if (url.find('@') != std::string::npos)
        throw std::invalid_argument("is set while redis.url carries a password: choose one");
    std::ifstream in(file);
    std::string password;
    if (!in || !std::getline(in, password))
        throw std::invalid_argument("cannot read \"" + file + "\": " + std::strerror(errno));
    if (password.empty()) throw std::invalid_argument("\"" + file + "\" starts with an empty line");
    std::string rest = url.rfind("redis://", 0) == 0 ? url.substr(8) : url;
    return "redis://:" + percent_encode(password) + "@" + rest;
}

bool is_fleet_edge_name(const std::string &name)
{
    return !name.empty() && name.size() <= 200 &&
           name.find_first_of(" \t\r\n*?[:") == std::string::npos;
}

} // namespace berth::shared::config
