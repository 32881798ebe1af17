// Whether text can name a host in a config file: letters, digits, '-' and '.', at most 253
// bytes, no empty label at either end. Loose on purpose (a config may name "localhost" or
// "redis-1"); the API's stricter DNS-name rules for public domains live with the API.
#pragma once

#include <string_view>

namespace berth::shared
{

bool is_host_name(std::string_view h) noexcept;

} // namespace berth::shared
