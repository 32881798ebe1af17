// The "Date: <IMF-fixdate>\r\n" line of a worker's responses, formatted once per second.
#pragma once

#include <cstring>
#include <ctime>
#include <string_view>

#include "shared/http/http_date.h"

namespace berth::edge
{

class DateHeader
{
public:
    std::string_view line() noexcept
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME_COARSE, &ts);
        if (ts.tv_sec != second_) {
            second_ = ts.tv_sec;
            std::memcpy(buf_, "Date: ", 6);
            shared::http::format_http_date(ts.tv_sec, buf_ + 6);
            std::memcpy(buf_ + 6 + shared::http::kHttpDateLength, "\r\n", 2);
            len_ = 6 + shared::http::kHttpDateLength + 2;
        }
        return std::string_view(buf_, len_);
    }

private:
    time_t second_ = 0;
    char buf_[64];
    size_t len_ = 0;
};

} // namespace berth::edge
