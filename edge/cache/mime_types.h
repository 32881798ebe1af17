// File extension → Content-Type, with charset for text types.
#pragma once

#include <string_view>

namespace berth::edge
{

// Case-insensitive on the extension (without the dot). Unknown → "application/octet-stream".
std::string_view content_type_for(std::string_view extension) noexcept;

// The last segment's extension ("js" for "/a/app.3f9a.js"), empty when there is none.
std::string_view path_extension(std::string_view path) noexcept;

// Types whose responses get "Cache-Control: no-cache" (HTML documents).
inline bool is_html_type(std::string_view content_type) noexcept
{
    return content_type.starts_with("text/html");
}

} // namespace berth::edge
