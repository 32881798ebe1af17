// The shared TOML reader: file:line messages, unknown keys, types and ranges (#12).
#include <catch2/catch.hpp>

#include <fstream>
#include <functional>

#include "shared/config/toml_reader.h"
#include "tests/support/temp_tree.h"

namespace config = berth::shared::config;

namespace
{

std::string error_of(const std::function<void()> &fn)
{
    try {
        fn();
    } catch (const config::ConfigError &e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("toml reader: typed getters with ranges and file:line errors", "[shared][config]")
{
    berth::test::TempTree tree;
    tree.write("c.toml", "[s]\nn = 5\nname = \"x\"\nflag = true\nmode = \"auto\"\n"
                         "list = [\"a\", \"b\"]\nbig = 99\nbad_list = [1]\n");
    std::string path = tree.path("c.toml");
    toml::table root = config::parse_file(path);
    const toml::table *t = config::section(path, root, "s");
    REQUIRE(t);
    CHECK(config::section(path, root, "absent") == nullptr);
    config::Reader r{path, *t};
    int n = 0;
    CHECK(r.integer("n", n, 1, 10));
    CHECK(n == 5);
    CHECK(!r.integer("missing", n, 1, 10));
    CHECK(n == 5);
    std::string name;
    CHECK(r.string("name", name));
    CHECK(name == "x");
    bool flag = false;
    CHECK(r.boolean("flag", flag));
    CHECK(flag);
    enum class Mode { kOn, kOff, kAuto } mode = Mode::kOn;
    CHECK(r.auto_switch("mode", mode, Mode::kOn, Mode::kOff, Mode::kAuto));
    CHECK(mode == Mode::kAuto);
    std::vector<std::string> list;
    CHECK(r.strings("list", list));
    CHECK(list == std::vector<std::string>{"a", "b"});

    CHECK(error_of([&] { r.integer("big", n, 1, 10); }) ==
          path + ":7: big must be between 1 and 10");
    CHECK(error_of([&] { r.integer("name", n, 1, 10); }) == path + ":3: name must be an integer");
    CHECK(error_of([&] { r.boolean("n", flag); }) == path + ":2: n must be true or false");
    CHECK(error_of([&] { r.auto_switch("n", mode, Mode::kOn, Mode::kOff, Mode::kAuto); }) ==
          path + ":2: n must be true, false or \"auto\"");
    CHECK(error_of([&] { r.strings("bad_list", list); }) ==
          path + ":8: bad_list entries must be strings");
    config::Reader named{path, *t, "s"};
    CHECK(error_of([&] { named.string("n", name); }) == path + ":2: s.n must be a string");
    CHECK(error_of([&] {
              config::check_keys(path, *t, "s", {"n", "name", "mode", "list", "big", "bad_list"});
          }) == path + ":4: unknown key \"flag\" in [s]");
}

TEST_CASE("toml reader: syntax errors and missing files carry a line", "[shared][config]")
{
    berth::test::TempTree tree;
    tree.write("bad.toml", "[a]\nx = 1\n[b\n");
    CHECK(error_of([&] {
              config::parse_file(tree.path("bad.toml"));
          }).rfind(tree.path("bad.toml") + ":3: ", 0) == 0);
    tree.write("t.toml", "a = 1\n");
    toml::table root = config::parse_file(tree.path("t.toml"));
    CHECK(error_of([&] { config::section(tree.path("t.toml"), root, "a"); }) ==
          tree.path("t.toml") + ":1: [a] must be a table");
    CHECK(!error_of([&] { config::parse_file(tree.path("none.toml")); }).empty());
}
