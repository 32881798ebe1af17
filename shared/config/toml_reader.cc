// toml++ gives each node its source line, so every message points at the value it is about.
#include "shared/config/toml_reader.h"

#include <set>
#include <string_view>

namespace berth::shared::config
{

std::string at(const std::string &file, const toml::node &node)
{
    return file + ":" + std::to_string(node.source().begin.line);
}

void fail(const std::string &where, const std::string &what)
{
    throw ConfigError(where + ": " + what);
}

void fail(const std::string &file, const toml::node &node, const std::string &what)
{
    fail(at(file, node), what);
}

toml::table parse_file(const std::string &path)
{
    try {
        return toml::parse_file(path);
    } catch (const toml::parse_error &e) {
        fail(path + ":" + std::to_string(e.source().begin.line), std::string(e.description()));
    }
}

void check_keys(const std::string &file, const toml::table &t, const std::string &section,
                std::initializer_list<const char *> known)
{
    std::set<std::string_view> k(known.begin(), known.end());
    for (auto &&[key, node] : t)
        if (!k.count(key.str()))
            fail(at(file, node),
                 "unknown key \"" + std::string(key.str()) + "\" in [" + section + "]");
}

const toml::table *section(const std::string &file, const toml::table &root, const char *name)
{
    const toml::node *n = root.get(name);
    if (!n) return nullptr;
    if (!n->is_table()) fail(at(file, *n), std::string("[") + name + "] must be a table");
    return n->as_table();
}

void Reader::fail_key(const char *key, const std::string &what) const
{
    const toml::node *n = t.get(key);
    std::string name = section_name ? std::string(section_name) + "." + key : std::string(key);
    fail(n ? at(file, *n) : at(file, t), name + " " + what);
}

bool Reader::integer64(const char *key, int64_t &out, int64_t min, int64_t max) const
{
    const toml::node *n = t.get(key);
    if (!n) return false;
    auto v = n->value<int64_t>();
    if (!n->is_integer() || !v) fail_key(key, "must be an integer");
    if (*v < min || *v > max)
        fail_key(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    out = *v;
    return true;
}

bool Reader::string(const char *key, std::string &out) const
{
    const toml::node *n = t.get(key);
    if (!n) return false;
    if (!n->is_string()) fail_key(key, "must be a string");
    out = *n->value<std::string>();
    return true;
}

bool Reader::boolean(const char *key, bool &out) const
{
    const toml::node *n = t.get(key);
    if (!n) return false;
    if (!n->is_boolean()) fail_key(key, "must be true or false");
    out = *n->value<bool>();
    return true;
}

bool Reader::tristate(const char *key, int &out) const
{
    const toml::node *n = t.get(key);
    if (!n) return false;
    if (n->is_boolean())
        out = *n->value<bool>() ? 1 : -1;
    else if (n->is_string() && *n->value<std::string>() == "auto")
        out = 0;
    else
        fail_key(key, "must be true, false or \"auto\"");
    return true;
}

bool Reader::strings(const char *key, std::vector<std::string> &out) const
{
    const toml::node *n = t.get(key);
    if (!n) return false;
    const toml::array *a = n->as_array();
    if (!a) fail_key(key, "must be an array of strings");
    for (const toml::node &e : *a) {
        if (!e.is_string())
            fail(at(file, e), (section_name ? std::string(section_name) + "." : std::string()) +
                                  key + " entries must be strings");
        out.push_back(*e.value<std::string>());
    }
    return true;
}

} // namespace berth::shared::config
