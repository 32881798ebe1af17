// The header rules of the proxy (#14), as pure functions over parsed heads: what goes to an
// upstream for a client's request, and what goes to the client for an upstream's answer.
//
// Both ways: hop-by-hop fields are dropped (Connection and every field it names, Keep-Alive,
// Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade unless tunnelling) and the message is
// re-framed by the edge (its own Content-Length or chunked coding), so a framing header never
// passes from one side to the other as it came.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/http/request_head.h"
#include "shared/http/response_parser.h"
#include "shared/route/route_table.h"

namespace berth::edge
{

struct ForwardInfo {
    std::string_view host;       // Host to send (the route's host_header, or the client's)
    std::string_view peer_ip;    // the TCP peer, as text
    bool peer_trusted = false;   // the peer is a trusted proxy: its forwarding headers stand
    bool secure = false;         // the client came over TLS
    std::string_view request_id; // X-Request-Id to send
    std::string_view country;    // X-Client-Country to send, or empty
    bool websocket = false;      // forward Upgrade: websocket and Connection: Upgrade
};

// True when the request asks for a WebSocket (Upgrade: websocket, Connection: upgrade, GET).
bool wants_websocket(const shared::http::RequestHead &req) noexcept;

// Appends the request head for the upstream: request line (origin-form, HTTP/1.1), the
// client's end-to-end fields, forwarding fields, framing (Content-Length, or chunked for a
// chunked body), then the blank line.
void build_upstream_request(const shared::http::RequestHead &req, const ForwardInfo &f,
                            std::string &out);

// A request id from the client that may be kept (from a trusted peer): 1..128 visible chars.
bool valid_request_id(std::string_view id) noexcept;

// How the edge frames the body it relays to the client.
enum class ClientFraming : uint8_t {
    kNone,    // no body (HEAD, 1xx, 204, 304)
    kLength,  // Content-Length from the upstream
    kChunked, // re-chunked (the upstream's was chunked or close-delimited; HTTP/1.1 client)
    kClose,   // close-delimited (an HTTP/1.0 client and a body of unknown length)
};

struct ClientAnswer {
    bool head_request = false;
    bool http10 = false;
    bool close = false;    // "Connection: close" (decided by the caller, and kClose forces it)
    bool tunnel = false;   // a 101 that opens a WebSocket tunnel: Upgrade/Connection kept
    std::string_view date; // "Date: ...\r\n" used when the upstream sent none
    std::string_view hsts; // "Strict-Transport-Security: ...\r\n" or empty
    std::string_view request_id;
    const std::vector<shared::route::HeaderRule> *rules = nullptr;
    std::string_view path; // for the rules
};

// Decides the framing (ClientAnswer::close may be forced on for kClose) and appends the
// response head for the client, ending with the blank line.
ClientFraming build_client_response(const shared::http::ResponseHead &resp, ClientAnswer &a,
                                    std::string &out);

} // namespace berth::edge
