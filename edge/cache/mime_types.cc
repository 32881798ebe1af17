// The MIME table; looked up once per file when it enters the file cache, never per request.
#include "edge/cache/mime_types.h"

#include <array>
#include <utility>

namespace berth::edge
{

namespace
{
constexpr std::array<std::pair<std::string_view, std::string_view>, 62> kTypes{{
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"cjs", "text/javascript; charset=utf-8"},
    {"json", "application/json; charset=utf-8"},
    {"map", "application/json; charset=utf-8"},
    {"webmanifest", "application/manifest+json; charset=utf-8"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml; charset=utf-8"},
    {"rss", "application/rss+xml; charset=utf-8"},
    {"atom", "application/atom+xml; charset=utf-8"},
    {"svg", "image/svg+xml; charset=utf-8"},
    {"ics", "text/calendar; charset=utf-8"},
    {"vtt", "text/vtt; charset=utf-8"},
    {"yaml", "application/yaml; charset=utf-8"},
    {"yml", "application/yaml; charset=utf-8"},
    {"wasm", "application/wasm"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"bmp", "image/bmp"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"apng", "image/apng"},
    {"jxl", "image/jxl"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"eot", "application/vnd.ms-fontobject"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"br", "application/octet-stream"},
    {"tar", "application/x-tar"},
    {"mp4", "video/mp4"},
    {"m4v", "video/mp4"},
    {"webm", "video/webm"},
    {"ogv", "video/ogg"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"m4a", "audio/mp4"},
    {"ogg", "audio/ogg"},
    {"oga", "audio/ogg"},
    {"opus", "audio/opus"},
    {"wav", "audio/wav"},
    {"flac", "audio/flac"},
    {"aac", "audio/aac"},
    {"txt", "text/plain; charset=utf-8"},
    {"xhtml", "application/xhtml+xml; charset=utf-8"},
    {"jsonld", "application/ld+json; charset=utf-8"},
    {"pem", "application/x-pem-file"},
    {"swf", "application/x-shockwave-flash"},
    {"wasm", "application/wasm"},
}};
} // namespace

std::string_view content_type_for(std::string_view ext) noexcept
{
    if (ext.empty() || ext.size() > 16) return "application/octet-stream";
    char lower[16];
    for (size_t i = 0; i < ext.size(); ++i)
        lower[i] = (ext[i] >= 'A' && ext[i] <= 'Z') ? char(ext[i] | 0x20) : ext[i];
    std::string_view key(lower, ext.size());
    for (const auto &[e, type] : kTypes)
        if (e == key) return type;
    return "application/octet-stream";
}

std::string_view path_extension(std::string_view path) noexcept
{
    size_t slash = path.rfind('/');
    std::string_view last = slash == std::string_view::npos ? path : path.substr(slash + 1);
    size_t dot = last.rfind('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 == last.size()) return {};
    return last.substr(dot + 1);
}

} // namespace berth::edge
