// Fuzzes webhook handling without I/O: byte 0 picks the provider, the first line is the event
// header, the rest is the body. Parsing must never crash or throw, a push must carry what the
// handler relies on, and a correct HMAC must always verify while a changed body must not.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "control/base/crypto.h"
#include "control/webhooks/webhook_payload.h"
#include "fuzz/fuzz_check.h"

using namespace berth::control;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    Provider p = Provider(data[0] % 3);
    std::string_view rest(reinterpret_cast<const char *>(data + 1), size - 1);
    size_t nl = rest.find('\n');
    std::string_view event = rest.substr(0, nl);
    std::string_view body = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);

    WebhookEvent ev = parse_webhook_event(p, event, body);
    if (ev.kind == WebhookEvent::Kind::kPush) {
        FUZZ_CHECK(!ev.pushes.empty());
        for (const PushEvent &push : ev.pushes) {
            FUZZ_CHECK(!push.branch.empty());
            FUZZ_CHECK(!push.repo_urls.empty());
            for (const auto &u : push.repo_urls)
                FUZZ_CHECK(!u.empty());
        }
    } else if (ev.kind == WebhookEvent::Kind::kMalformed ||
               ev.kind == WebhookEvent::Kind::kIgnored) {
        FUZZ_CHECK(!ev.reason.empty());
    }

    const std::string secret = "fuzz-secret";
    std::string good = p == Provider::kGitlab ? secret : "sha256=" + hmac_sha256_hex(secret, body);
    FUZZ_CHECK(verify_webhook_signature(p, secret, good, body) == SignatureCheck::kValid);
    if (p != Provider::kGitlab) {
        std::string changed(body);
        changed.push_back('x');
        FUZZ_CHECK(verify_webhook_signature(p, secret, good, changed) == SignatureCheck::kInvalid);
    }
    // Arbitrary header bytes as the signature: any answer but a crash, and "valid" only for the
    // right value (hex digits compare case-insensitively).
    if (verify_webhook_signature(p, secret, event, body) == SignatureCheck::kValid) {
        std::string lowered(event);
        for (char &ch : lowered)
            ch = char(std::tolower(static_cast<unsigned char>(ch)));
        FUZZ_CHECK(p == Provider::kGitlab ? event == good : lowered == good);
    }
    (void)normalize_repo_url(event);
    return 0;
}
