// The dotenv parser (#16). Written as a cursor over the whole text rather than line by line,
// because a quoted value may run over several lines.
#include "control/analyze/env_file.h"

#include <algorithm>
#include <map>

namespace berth::control
{

namespace
{

bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

class Parser
{
public:
    explicit Parser(std::string_view text) : text_(text)
    {
        if (text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);
    }

    EnvFile run()
    {
        while (pos_ < text_.size())
            parse_line();
        return std::move(out_);
    }

private:
    // The rest of the current line, without its "\r\n" / "\n"; moves to the next line.
    std::string_view take_line()
    {
        size_t nl = text_.find('\n', pos_);
        size_t end = nl == std::string_view::npos ? text_.size() : nl;
        std::string_view line = text_.substr(pos_, end - pos_);
        pos_ = nl == std::string_view::npos ? text_.size() : nl + 1;
        ++line_;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        return line;
    }

    void issue(int line, std::string what)
    {
        out_.issues.push_back({line, "line " + std::to_string(line) + ": " + std::move(what)});
    }

    void parse_line()
    {
        size_t line_start = pos_;
        int line_no = line_ + 1;
        std::string_view line = take_line();
        size_t i = 0;
        while (i < line.size() && is_blank(line[i]))
            ++i;
        if (i == line.size() || line[i] == '#') return;
        if (line.compare(i, 7, "export ") == 0 || line.compare(i, 7, "export\t") == 0) {
            i += 7;
            while (i < line.size() && is_blank(line[i]))
                ++i;
        }
        size_t eq = line.find('=', i);
        if (eq == std::string_view::npos) return issue(line_no, "expected KEY=VALUE");
        std::string_view key = line.substr(i, eq - i);
        while (!key.empty() && is_blank(key.back()))
            key.remove_suffix(1);
        if (!is_valid_env_key(key))
            return issue(line_no, "invalid key \"" + std::string(key.substr(0, 64)) + "\"");
        size_t value_at = line_start + eq + 1;
        while (value_at < text_.size() && is_blank(text_[value_at]))
            ++value_at;
        std::string value;
        bool ok = value_at < text_.size() && is_quote(text_[value_at])
                      ? parse_quoted(value_at, line_no, value)
                      : (value = unquoted(line.substr(value_at - line_start)), true);
        if (ok) add(key, std::move(value), line_no);
    }

    static bool is_quote(char c) { return c == '"' || c == '\'' || c == '`'; }

    static std::string unquoted(std::string_view rest)
    {
        // An inline comment needs a blank before '#': URLs keep their fragments.
        for (size_t i = 0; i < rest.size(); ++i)
            if (rest[i] == '#' && (i == 0 || is_blank(rest[i - 1]))) {
                rest = rest.substr(0, i);
                break;
            }
        while (!rest.empty() && is_blank(rest.back()))
            rest.remove_suffix(1);
        return std::string(rest);
    }

    // A quoted value starting at text_[at]; it may end on a later line. On success pos_ moves
    // past the line holding the closing quote.
    bool parse_quoted(size_t at, int line_no, std::string &value)
    {
        char quote = text_[at];
        size_t i = at + 1;
        for (; i < text_.size() && text_[i] != quote; ++i) {
            char c = text_[i];
            if (c == '\r' && i + 1 < text_.size() && text_[i + 1] == '\n') continue; // CRLF
            if (quote != '"' || c != '\\' || i + 1 >= text_.size()) {
                value += c;
                continue;
            }
            switch (char e = text_[++i]) {
            case 'n':
                value += '\n';
                break;
            case 'r':
                value += '\r';
                break;
            case 't':
                value += '\t';
                break;
            case '"':
            case '\\':
                value += e;
                break;
            default:
                value += '\\', value += e; // unknown escape: kept as written
            }
        }
        if (i >= text_.size()) {
            issue(line_no, std::string("unterminated ") + quote + " quote");
            return false; // pos_ is already on the next line: parsing resumes there
        }
        // The closing quote's line is consumed whole; only a comment may follow the quote.
        pos_ = i + 1;
        line_ += int(std::count(text_.begin() + at, text_.begin() + i, '\n'));
        --line_; // take_line() counts the closing line again
        std::string_view tail = take_line();
        size_t j = 0;
        while (j < tail.size() && is_blank(tail[j]))
            ++j;
        if (j < tail.size() && tail[j] != '#') {
            issue(line_no, "unexpected text after the closing quote");
            return false;
        }
        return true;
    }

    void add(std::string_view key, std::string value, int line_no)
    {
        auto [it, fresh] = first_line_.emplace(std::string(key), line_no);
        if (!fresh)
            return issue(line_no, "duplicate key " + std::string(key) + " (first on line " +
                                      std::to_string(it->second) + ")");
        out_.entries.push_back({std::string(key), std::move(value), line_no});
    }

    std::string_view text_;
    size_t pos_ = 0;
    int line_ = 0; // lines consumed so far
    EnvFile out_;
    std::map<std::string, int, std::less<>> first_line_;
};

} // namespace

bool is_valid_env_key(std::string_view key) noexcept
{
    if (key.empty() || (key[0] >= '0' && key[0] <= '9')) return false;
    for (char c : key)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    return true;
}

EnvFile parse_env_file(std::string_view text)
{
    return Parser(text).run();
}

} // namespace berth::control
