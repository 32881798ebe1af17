#include "shared/route/route_table_hash.h"

#include <nlohmann/json.hpp>
#include <openssl/sha.h>

#include "shared/route/route_table_json.h"

namespace berth::shared::route
{

std::string route_table_hash(const RouteTable &table)
{
    // Compact, keys sorted (nlohmann's object is a map); a bad UTF-8 byte cannot throw.
    std::string text = route_table_to_json(table)["routes"].dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char *>(text.data()), text.size(), md);
    static const char digits[] = "0123456789abcdef";
    std::string hex(2 * sizeof md, '0');
    for (size_t i = 0; i < sizeof md; ++i) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    return hex;
}

} // namespace berth::shared::route
