// Fuzzes API request body validation: byte 0 picks the endpoint's validator, the rest is the
// body. Every input either validates or throws ApiError 400 with a code; anything else (another
// exception, a crash, a stack overflow on deep nesting) is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "control/api/request_body.h"
#include "fuzz/fuzz_check.h"

using namespace berth::control;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    std::string_view body(reinterpret_cast<const char *>(data + 1), size - 1);
    try {
        Json j = parse_body_object(body);
        FUZZ_CHECK(j.is_object());
        switch (data[0] % 10) {
        case 0:
            FUZZ_CHECK(validate_project(j, true).contains("name"));
            break;
        case 1:
            validate_project(j, false);
            break;
        case 2: {
            Json s = validate_service(j, true);
            FUZZ_CHECK(is_uuid(s["project_id"].get<std::string>()));
            FUZZ_CHECK(is_service_name(s["name"].get<std::string>()));
            break;
        }
        case 3:
            validate_service(j, false);
            break;
        case 4:
            FUZZ_CHECK(is_uuid(parse_trigger(j).service_id));
            break;
        case 5:
            FUZZ_CHECK(is_env_key(parse_env_var(j, true).key));
            break;
        case 6:
            parse_env_var(j, false);
            break;
        case 7:
            parse_health_report(j).details.dump();
            break;
        case 8:
            (void)rollback_confirmed(j);
            break;
        }
    } catch (const ApiError &e) {
        FUZZ_CHECK(e.status == 400);
        FUZZ_CHECK(!e.code.empty());
    }
    return 0;
}
