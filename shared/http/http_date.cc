// HTTP dates without locale or timezone state: gmtime_r/timegm only.
#include "shared/http/http_date.h"

#include <cstdio>
#include <cstring>

namespace berth::shared::http
{

namespace
{
constexpr const char *kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char *kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int month_index(std::string_view m)
{
    for (int i = 0; i < 12; ++i)
        if (m == kMonths[i]) return i;
    return -1;
}

bool digits(std::string_view s, int &out)
{
    if (s.empty()) return false;
    int v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    out = v;
    return true;
}

std::optional<std::time_t> make_time(int year, int mon, int day, std::string_view hms)
{
    int h, m, s;
    if (hms.size() != 8 || hms[2] != ':' || hms[5] != ':' || !digits(hms.substr(0, 2), h) ||
        !digits(hms.substr(3, 2), m) || !digits(hms.substr(6, 2), s))
        return std::nullopt;
    if (mon < 0 || day < 1 || day > 31 || h > 23 || m > 59 || s > 60 || year < 1970)
        return std::nullopt;
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = mon;
    tm.tm_mday = day;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = s;
    return timegm(&tm);
}
} // namespace

void format_http_date(std::time_t t, char *out) noexcept
{
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[kHttpDateLength + 1];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday % 7],
                  tm.tm_mday, kMonths[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000, tm.tm_hour,
                  tm.tm_min, tm.tm_sec);
    std::memcpy(out, buf, kHttpDateLength);
}

std::optional<std::time_t> parse_http_date(std::string_view s) noexcept
{
    int day, year;
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    if (s.size() == 29 && s[3] == ',' && s.substr(25) == " GMT") {
        if (!digits(s.substr(5, 2), day) || !digits(s.substr(12, 4), year)) return std::nullopt;
        return make_time(year, month_index(s.substr(8, 3)), day, s.substr(17, 8));
    }
    // asctime: "Sun Nov  6 08:49:37 1994"
    if (s.size() == 24 && s[3] == ' ' && s[7] == ' ') {
        std::string_view d = s.substr(8, 2);
        if (d[0] == ' ') d.remove_prefix(1);
        if (!digits(d, day) || !digits(s.substr(20, 4), year)) return std::nullopt;
        return make_time(year, month_index(s.substr(4, 3)), day, s.substr(11, 8));
    }
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    size_t comma = s.find(", ");
    if (comma != std::string_view::npos && s.size() == comma + 24 &&
        s.substr(s.size() - 4) == " GMT") {
        std::string_view r = s.substr(comma + 2);
        if (r[2] != '-' || r[6] != '-' || !digits(r.substr(0, 2), day) ||
            !digits(r.substr(7, 2), year))
            return std::nullopt;
        year += year < 70 ? 2000 : 1900;
        return make_time(year, month_index(r.substr(3, 3)), day, r.substr(10, 8));
    }
    return std::nullopt;
}

} // namespace berth::shared::http
