// Static serving: resolve (cache), choose a representation, evaluate conditions and ranges,
// then queue head + body. The order of checks follows RFC 9110 13.2.2.
#include "edge/static/static_handler.h"

#include <cstring>

#include "edge/cache/mime_types.h"
#include "edge/static/conditional.h"
#include "edge/static/path_normalizer.h"

namespace berth::edge
{

using shared::http::HeaderToken;
using shared::http::Method;

namespace
{

constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";
constexpr std::string_view kRevalidate = "public, max-age=0, must-revalidate";

double qvalue(std::string_view params)
{
    // params: ";q=0.5" (possibly with spaces); default 1.
    size_t q = params.find_first_of("qQ");
    while (q != std::string_view::npos && (q + 1 >= params.size() || params[q + 1] != '='))
        q = params.find_first_of("qQ", q + 1);
    if (q == std::string_view::npos) return 1.0;
    std::string_view v = params.substr(q + 2);
    double result = 0, scale = 1;
    bool frac = false;
    for (char c : v) {
        if (c == '.') {
            frac = true;
            continue;
        }
        if (c < '0' || c > '9') break;
        if (frac) {
            scale /= 10;
            result += (c - '0') * scale;
        } else {
            result = result * 10 + (c - '0');
        }
    }
    return result;
}

// The route's header rules as they apply to one answer (matched against the request path):
// where a rule sets a header the edge would send too (Content-Type, ETag, Cache-Control,
// Server...), the rule's value replaces the edge's, so no name goes out twice.
class RuleHeaders
{
public:
    RuleHeaders(const RouteTarget &t, std::string_view path)
        : rules_(t.header_rules && shared::route::any_rule_matches(*t.header_rules, path)
                     ? t.header_rules
                     : nullptr),
          path_(path)
    {
    }

    bool sets(std::string_view name) const
    {
        return rules_ && shared::route::rule_header(*rules_, path_, name);
    }
    // The edge's header, unless a rule replaces it.
    void header(shared::http::ResponseWriter &w, std::string_view name,
                std::string_view value) const
    {
        if (!sets(name)) w.header(name, value);
    }
    // Pre-built "Name: value\r\n" lines, each unless a rule replaces it.
    void raw(shared::http::ResponseWriter &w, std::string_view lines) const
    {
        if (!rules_) {
            w.raw(lines);
            return;
        }
        while (!lines.empty()) {
            size_t end = lines.find("\r\n");
            end = end == std::string_view::npos ? lines.size() : end + 2;
            std::string_view line = lines.substr(0, end);
            if (!sets(line.substr(0, line.find(':')))) w.raw(line);
            lines.remove_prefix(end);
        }
    }
    // The rules' own headers, each name once.
    void write(shared::http::ResponseWriter &w) const
    {
        if (rules_)
            shared::route::for_each_rule_header(
                *rules_, path_, [&](std::string_view n, std::string_view v) { w.header(n, v); });
    }

private:
    const std::vector<shared::route::HeaderRule> *rules_;
    std::string_view path_;
};

// Status line, Date, Server and HSTS, as Exchange::begin writes them but for a rule that
// replaces Server or Strict-Transport-Security.
void begin(Exchange &ex, int code, const RuleHeaders &rules)
{
    if (!rules.sets("server") && !rules.sets("strict-transport-security")) {
        ex.begin(code);
        return;
    }
    ex.status = code;
    auto w = ex.writer();
    w.status_line(code, ex.req.is_http10());
    w.raw(ex.date);
    rules.raw(w, "Server: berth\r\n");
    rules.raw(w, ex.hsts);
}

// Route header rules, then the Cache-Control policy unless a rule gave one.
void write_policy_headers(Exchange &ex, const FileEntry &entry, const RuleHeaders &rules,
                          bool not_found)
{
    auto w = ex.writer();
    rules.write(w);
    if (rules.sets("cache-control")) return;
    if (entry.html || not_found)
        w.raw("Cache-Control: no-cache\r\n");
    else if (entry.hashed_name)
        w.header("Cache-Control", kImmutable);
    else
        w.header("Cache-Control", kRevalidate);
}

const FileBody &choose_body(const Exchange &ex, const FileEntry &entry)
{
    if (!entry.br && !entry.gzip) return entry.identity;
    std::string_view ae = ex.req.get(HeaderToken::kAcceptEncoding);
    if (ae.empty()) return entry.identity;
    if (entry.br && accepts_encoding(ae, "br")) return *entry.br;
    if (entry.gzip && accepts_encoding(ae, "gzip")) return *entry.gzip;
    return entry.identity;
}

void push_body(Exchange &ex, const FileEntryRef &ref, const FileBody &body, uint64_t offset,
               uint64_t length)
{
    if (ex.head_only || length == 0) return;
    if (body.in_memory())
        ex.out.push_memory(body.data.data() + offset, size_t(length), ref);
    else
        ex.out.push_file(FileSource{body.fd, body.size, &body.resident_checked_ms}, offset, length,
                         ref);
}

void serve_file(Exchange &ex, const FileEntryRef &ref, const RouteTarget &t,
                std::string_view req_path, int status)
{
    const FileEntry &entry = *ref;
    const FileBody &body = choose_body(ex, entry);
    bool vary = entry.br || entry.gzip;
    auto w = ex.writer();
    RuleHeaders rules(t, req_path);

    if (status == 200) {
        const auto &req = ex.req;
        if (precondition_failed(req.get(HeaderToken::kIfMatch),
                                req.get(HeaderToken::kIfUnmodifiedSince), body.etag, entry.mtime)) {
            send_error(ex, 412, "Precondition Failed",
                       "The file does not match the request's If-Match or If-Unmodified-Since.");
            return;
        }
        if (is_not_modified(req.get(HeaderToken::kIfNoneMatch),
                            req.get(HeaderToken::kIfModifiedSince), body.etag, entry.mtime)) {
            begin(ex, 304, rules);
            if (!body.etag.empty()) rules.header(w, "ETag", body.etag);
            rules.header(w, "Last-Modified", entry.last_modified);
            if (vary) rules.raw(w, "Vary: Accept-Encoding\r\n");
            write_policy_headers(ex, entry, rules, false);
            ex.end_head();
            return;
        }
        std::string_view range_header = req.get(HeaderToken::kRange);
        if (!range_header.empty() && req.method == Method::kGet &&
            if_range_matches(req.get(HeaderToken::kIfRange), body.etag, entry.mtime)) {
            ByteRange r;
            switch (parse_range(range_header, body.size, r)) {
            case RangeKind::kSingle: {
                begin(ex, 206, rules);
                rules.header(w, "Content-Type", entry.content_type);
                w.header("Content-Length", r.length());
                char cr[96];
                int n = std::snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu",
                                      (unsigned long long)r.first, (unsigned long long)r.last,
                                      (unsigned long long)body.size);
                w.header("Content-Range", std::string_view(cr, size_t(n)));
                rules.header(w, "Last-Modified", entry.last_modified);
                if (!body.etag.empty()) rules.header(w, "ETag", body.etag);
                rules.raw(w, "Accept-Ranges: bytes\r\n");
                if (!body.encoding.empty()) w.header("Content-Encoding", body.encoding);
                if (vary) rules.raw(w, "Vary: Accept-Encoding\r\n");
                write_policy_headers(ex, entry, rules, false);
                ex.end_head();
                push_body(ex, ref, body, r.first, r.length());
                return;
            }
            case RangeKind::kUnsatisfiable: {
                char cr[48];
                int n = std::snprintf(cr, sizeof cr, "Content-Range: bytes */%llu\r\n",
                                      (unsigned long long)body.size);
                send_error(ex, 416, "Range Not Satisfiable",
                           "The requested range is outside the file.",
                           std::string_view(cr, size_t(n)));
                return;
            }
            case RangeKind::kMultiple: // answered with the whole representation
            case RangeKind::kNone:
                break;
            }
        }
    }
    begin(ex, status, rules);
    rules.raw(w, body.headers);
    write_policy_headers(ex, entry, rules, status == 404);
    ex.end_head();
    push_body(ex, ref, body, 0, body.size);
}

void not_found(Exchange &ex, Site &site, const CacheLimits &limits, const RouteTarget &t,
               std::string_view req_path)
{
    FileEntryRef page = site.lookup("/404.html", ex.now_ms, limits, &ex.pending);
    if (!page) return; // loading: the request comes back here
    if (page->kind == FileEntry::Kind::kFile) {
        serve_file(ex, page, t, req_path, 404);
        return;
    }
    send_error(ex, 404, "Not Found", "There is no file at this path.");
}

// Nothing at this path. SPA: extension-less paths are client-side routes (200.html, else
// index.html); assets never are. False when the route has no fallback for it.
bool spa_fallback(Exchange &ex, Site &site, const CacheLimits &limits, const RouteTarget &t,
                  std::string_view req_path)
{
    if (!t.spa || !path_extension(req_path).empty()) return false;
    for (std::string_view fallback : {"/200.html", "/index.html"}) {
        FileEntryRef page = site.lookup(fallback, ex.now_ms, limits, &ex.pending);
        if (!page) return true; // loading: the request comes back here
        if (page->kind == FileEntry::Kind::kFile) {
            serve_file(ex, page, t, req_path, 200);
            return true;
        }
    }
    return false;
}

// Percent-encodes everything but unreserved characters, sub-delims, ':', '@' and '/'.
std::string percent_encode_path(std::string_view path)
{
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(path.size() + 8);
    for (unsigned char c : path) {
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("-._~!$&'()*+,;=:@/").find(char(c)) != std::string_view::npos;
        if (keep) {
            out.push_back(char(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

} // namespace

bool accepts_encoding(std::string_view ae, std::string_view coding) noexcept
{
    double star = -1;
    while (!ae.empty()) {
        size_t comma = ae.find(',');
        std::string_view item = ae.substr(0, comma);
        size_t semi = item.find(';');
        std::string_view name = shared::http::trim_ows(item.substr(0, semi));
        double q = semi == std::string_view::npos ? 1.0 : qvalue(item.substr(semi));
        if (shared::http::iequals(name, coding)) return q > 0;
        if (name == "*") star = q;
        if (comma == std::string_view::npos) break;
        ae.remove_prefix(comma + 1);
    }
    return star > 0;
}

void StaticHandler::serve(Exchange &ex)
{
    const RouteTarget &t = ex.target;
    const auto &req = ex.req;
    if (req.method == Method::kOptions) {
        ex.begin(204);
        ex.writer().header("Allow", kStaticAllow);
        ex.end_head();
        return;
    }
    if (req.method != Method::kGet && req.method != Method::kHead) {
        char allow[64];
        int n = std::snprintf(allow, sizeof allow, "Allow: %.*s\r\n", int(kStaticAllow.size()),
                              kStaticAllow.data());
        if (req.has_body) ex.close = true; // do not read a body we will not use
        send_error(ex, 405, "Method Not Allowed",
                   "Static deployments answer GET, HEAD and OPTIONS only.",
                   std::string_view(allow, size_t(n)));
        return;
    }
    uint64_t now = ex.now_ms;
    const CacheLimits &limits = cache_.limits();
    Site *site = cache_.site(t.site_dir, now, &ex.pending);
    if (!site && ex.pending) return; // its directory is being opened off the loop thread
    if (!site) {
        send_error(ex, 404, "Deployment not found", "No deployment is published at this host.");
        return;
    }
    char buf[4096 + 16];
    NormalizedPath np = normalize_path(req.path, buf, 4096);
    if (np.verdict == PathVerdict::kTooLong) {
        // Longer than any file path can be (the URL itself is within max_url_bytes): no file,
        // but it may be a client-side route.
        if (!spa_fallback(ex, *site, limits, t, req.path)) not_found(ex, *site, limits, t, "/");
        return;
    }
    if (np.verdict != PathVerdict::kOk) {
        not_found(ex, *site, limits, t, "/");
        return;
    }
    // A lookup that returns null is loading the file off the loop thread: nothing has been
    // written, and the connection hands the request back here once the file is cached.
    FileEntryRef entry = site->lookup(np.path, now, limits, &ex.pending);
    if (!entry) return;
    std::string_view path = np.path;

    if (entry->kind == FileEntry::Kind::kDirectory) {
        if (!np.trailing_slash && path != "/") {
            // "/docs" → "/docs/" so relative links in its index resolve (as nginx does). Built
            // from the normalised path, re-encoded: "//evil" must never become a Location.
            std::string location = percent_encode_path(path);
            location += '/';
            if (!req.query.empty()) location.append("?").append(req.query);
            std::string extra = "Location: " + location + "\r\n";
            send_error(ex, 301, "Moved Permanently",
                       "This folder lives at its path with a trailing slash.", extra);
            return;
        }
        // Append "/index.html" in place: buf has room beyond the 4096 bytes normalise used.
        size_t len = path == "/" ? 0 : path.size();
        static constexpr std::string_view kIndex = "/index.html";
        if (len + kIndex.size() <= sizeof buf) {
            std::memcpy(buf + len, kIndex.data(), kIndex.size());
            entry =
                site->lookup(std::string_view(buf, len + kIndex.size()), now, limits, &ex.pending);
            if (!entry) return;
        }
        if (entry->kind == FileEntry::Kind::kFile) {
            serve_file(ex, entry, t, path, 200);
            return;
        }
    } else if (entry->kind == FileEntry::Kind::kFile && !np.trailing_slash) {
        serve_file(ex, entry, t, path, 200);
        return;
    }

    if (!spa_fallback(ex, *site, limits, t, path)) not_found(ex, *site, limits, t, path);
}

} // namespace berth::edge
