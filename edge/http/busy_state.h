// What only a connection with work in hand needs: the input buffer, the request parser, the
// output queue and the log lines of answers still leaving. An idle keep-alive connection
// gives it back to its worker's pool and takes one again when bytes arrive, so thousands of
// idle connections cost a few hundred bytes each instead of ~9 KiB (#12).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "edge/http/exchange_log.h"
#include "edge/write/output_queue.h"
#include "shared/http/request_parser.h"

namespace berth::edge
{

struct BusyState {
    static constexpr uint32_t kInitialInput = 2048;

    BusyState(const shared::http::ParserLimits &limits, uint32_t max_input) noexcept
        : max_cap(max_input), cap(std::min(kInitialInput, max_input)), parser(limits)
    {
    }
    BusyState(const BusyState &) = delete;
    BusyState &operator=(const BusyState &) = delete;

    // Ready for the next connection: nothing buffered, queued or half-parsed. The parser
    // starts over unless it stopped cleanly between keep-alive messages (llhttp keeps state
    // across messages: after a "Connection: close" one it refuses further input).
    void reset(bool parser_clean) noexcept
    {
        len = pos = msg_start = 0;
        if (grown) { // a large head was rare: give its memory back
            grown.reset();
            in = inline_in;
            cap = std::min(kInitialInput, max_cap);
        }
        if (!parser_clean || parser.in_message() || parser.error_status()) parser.reset();
        if (!out.empty()) out.clear(); // the idle path gives them back empty: nothing to do
        if (!log.empty()) log.clear();
    }
    // Room to read on: nothing unparsed fills the buffer.
    bool input_idle() const noexcept { return pos == len && !parser.in_message(); }

    char *in = inline_in;          // inline_in until a large head needs more
    std::unique_ptr<char[]> grown; // owns in once grown
    uint32_t max_cap;              // head limit plus slack; in grows to this at most once
    uint32_t cap;
    uint32_t len = 0;       // bytes read into in
    uint32_t pos = 0;       // bytes consumed by the parser
    uint32_t msg_start = 0; // where the current message's head begins
    shared::http::RequestParser parser;
    OutputQueue out;
    ExchangeLog log;
    char inline_in[kInitialInput];
};

// The worker's spare BusyStates, kept constructed so their buffers keep their capacity.
class BusyStatePool
{
public:
    BusyStatePool(const shared::http::ParserLimits &limits, uint32_t max_input, size_t max_spare)
        : limits_(limits), max_input_(max_input), max_spare_(max_spare)
    {
        spare_.reserve(max_spare);
    }

    BusyState *take()
    {
        if (spare_.empty()) return new BusyState(limits_, max_input_);
        BusyState *s = spare_.back().release();
        spare_.pop_back();
        return s;
    }
    // parser_clean: the connection goes on (keep-alive) and its parser is between messages.
    void give(BusyState *s, bool parser_clean) noexcept
    {
        s->reset(parser_clean);
        if (spare_.size() < max_spare_)
            spare_.emplace_back(s); // never grows: reserved up front
        else
            delete s;
    }
    size_t spare() const noexcept { return spare_.size(); }

private:
    shared::http::ParserLimits limits_;
    uint32_t max_input_;
    size_t max_spare_;
    std::vector<std::unique_ptr<BusyState>> spare_;
};

} // namespace berth::edge
