// The one TOML helper of both processes: parse a file, check that every key is known, read
// typed values with ranges. Every error is a ConfigError "file:line: message" (#12).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include <toml++/toml.h>

namespace berth::shared::config
{

// "file:line: message". main() prints what() and exits 2.
struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// "file:line" of a node (the line where its value starts).
std::string at(const std::string &file, const toml::node &node);

// Throws ConfigError(where + ": " + what).
[[noreturn]] void fail(const std::string &where, const std::string &what);
[[noreturn]] void fail(const std::string &file, const toml::node &node, const std::string &what);

// Parses a whole file. A syntax error or an unreadable file throws ConfigError with the line.
toml::table parse_file(const std::string &path);

// Every key of a table must be known: a typo must not silently fall back to a default.
// `section` names the table in the message ("unknown key \"x\" in [api]").
void check_keys(const std::string &file, const toml::table &t, const std::string &section,
                std::initializer_list<const char *> known);

// root[name] as a table, nullptr when absent; throws when present but not a table.
const toml::table *section(const std::string &file, const toml::table &root, const char *name);

// Typed getters for the keys of one table. Each returns false (leaving `out` as it was) when
// the key is absent and throws ConfigError naming the key when its type or range is wrong.
struct Reader {
    const std::string &file;
    const toml::table &t;
    // When set, messages name keys as "section.key" (control's style); else just "key".
    const char *section_name = nullptr;

    template <typename T> bool integer(const char *key, T &out, int64_t min, int64_t max) const
    {
        int64_t v = 0;
        if (!integer64(key, v, min, max)) return false;
        out = T(v);
        return true;
    }
    bool integer64(const char *key, int64_t &out, int64_t min, int64_t max) const;
    bool string(const char *key, std::string &out) const;
    bool boolean(const char *key, bool &out) const;
    // true, false or "auto" → on, off or automatic.
    template <typename E> bool auto_switch(const char *key, E &out, E on, E off, E automatic) const
    {
        int v = 0;
        if (!tristate(key, v)) return false;
        out = v > 0 ? on : v < 0 ? off : automatic;
        return true;
    }
    // Appends to `out` (an array of strings).
    bool strings(const char *key, std::vector<std::string> &out) const;
    // The node of `key` (for messages about a value that passed its type check), or nullptr.
    const toml::node *node(const char *key) const { return t.get(key); }
    // Throws ConfigError "file:line: <key> <what>" at the key's line (the table's if absent).
    [[noreturn]] void fail_key(const char *key, const std::string &what) const;

private:
    bool tristate(const char *key, int &out) const; // 1 true, -1 false, 0 "auto"
};

} // namespace berth::shared::config
