// content_type_for: the types browsers need for a modern static site, charset on text.
#include <catch2/catch.hpp>

#include <string>

#include "edge/cache/mime_types.h"

using berth::edge::content_type_for;
using berth::edge::is_html_type;
using berth::edge::path_extension;

TEST_CASE("mime types map web document and script extensions", "[static]")
{
    CHECK(content_type_for("html") == "text/html; charset=utf-8");
    CHECK(content_type_for("htm") == "text/html; charset=utf-8");
    CHECK(content_type_for("js") == "text/javascript; charset=utf-8");
    CHECK(content_type_for("mjs") == "text/javascript; charset=utf-8");
    CHECK(content_type_for("css") == "text/css; charset=utf-8");
    CHECK(content_type_for("json") == "application/json; charset=utf-8");
    CHECK(content_type_for("map") == "application/json; charset=utf-8");
    CHECK(content_type_for("webmanifest") == "application/manifest+json; charset=utf-8");
    CHECK(content_type_for("txt") == "text/plain; charset=utf-8");
    CHECK(content_type_for("xml") == "application/xml; charset=utf-8");
    CHECK(content_type_for("svg") == "image/svg+xml; charset=utf-8");
    CHECK(content_type_for("wasm") == "application/wasm");
}

TEST_CASE("mime types map images, fonts and media", "[static]")
{
    CHECK(content_type_for("png") == "image/png");
    CHECK(content_type_for("jpg") == "image/jpeg");
    CHECK(content_type_for("jpeg") == "image/jpeg");
    CHECK(content_type_for("gif") == "image/gif");
    CHECK(content_type_for("webp") == "image/webp");
    CHECK(content_type_for("avif") == "image/avif");
    CHECK(content_type_for("ico") == "image/x-icon");
    CHECK(content_type_for("woff") == "font/woff");
    CHECK(content_type_for("woff2") == "font/woff2");
    CHECK(content_type_for("ttf") == "font/ttf");
    CHECK(content_type_for("pdf") == "application/pdf");
    CHECK(content_type_for("mp4") == "video/mp4");
    CHECK(content_type_for("webm") == "video/webm");
}

TEST_CASE("mime types ignore the case of the extension", "[static]")
{
    CHECK(content_type_for("HTML") == "text/html; charset=utf-8");
    CHECK(content_type_for("Js") == "text/javascript; charset=utf-8");
    CHECK(content_type_for("PNG") == "image/png");
    CHECK(content_type_for("WebManifest") == "application/manifest+json; charset=utf-8");
    CHECK(content_type_for("WOFF2") == "font/woff2");
}

TEST_CASE("mime types fall back to application/octet-stream", "[static]")
{
    CHECK(content_type_for("") == "application/octet-stream");
    CHECK(content_type_for("exe") == "application/octet-stream");
    CHECK(content_type_for("htmlx") == "application/octet-stream");
    CHECK(content_type_for("ht") == "application/octet-stream");
    CHECK(content_type_for(".html") == "application/octet-stream");
    CHECK(content_type_for(std::string(16, 'a')) == "application/octet-stream");
    CHECK(content_type_for(std::string(17, 'a')) == "application/octet-stream");
    CHECK(content_type_for(std::string(1000, 'x')) == "application/octet-stream");
    CHECK(content_type_for(std::string_view("js\0", 3)) == "application/octet-stream");
}

TEST_CASE("mime types add a charset to text types only", "[static]")
{
    for (const char *ext : {"html", "css", "js", "mjs", "json", "map", "txt", "xml", "svg",
                            "webmanifest", "csv", "md"}) {
        CAPTURE(ext);
        CHECK(std::string(content_type_for(ext)).ends_with("; charset=utf-8"));
    }
    for (const char *ext : {"png", "jpg", "gif", "webp", "avif", "ico", "woff", "woff2", "ttf",
                            "pdf", "mp4", "webm", "wasm", "zip"}) {
        CAPTURE(ext);
        CHECK(std::string(content_type_for(ext)).find("charset") == std::string::npos);
    }
}

TEST_CASE("mime types mark only HTML as an HTML document", "[static]")
{
    CHECK(is_html_type(content_type_for("html")));
    CHECK(is_html_type(content_type_for("HTM")));
    CHECK_FALSE(is_html_type(content_type_for("xhtml")));
    CHECK_FALSE(is_html_type(content_type_for("js")));
    CHECK_FALSE(is_html_type(content_type_for("txt")));
}

TEST_CASE("path extension is the last segment's suffix", "[cache]")
{
    CHECK(path_extension("/a/app.3f9a.js") == "js");
    CHECK(path_extension("/x.tar.gz") == "gz");
    CHECK(path_extension("/INDEX.HTML") == "HTML");
    CHECK(path_extension("/a.b/c").empty());
    CHECK(path_extension("/a/b").empty());
    CHECK(path_extension("/.well-known").empty());
    CHECK(path_extension("/file.").empty());
    CHECK(path_extension("/").empty());
    CHECK(path_extension("").empty());
}
