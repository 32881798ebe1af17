// dotenv syntax (#16): the parser for a repository's .env.example / .env.template / .env.sample.
// Lenient by design: a bad line is reported with its number and skipped, never fatal, since a
// template only tells Berth which keys the app expects.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace berth::control
{

struct EnvFileEntry {
    std::string key;
    std::string value; // unquoted and unescaped
    int line = 0;      // 1-based line where the entry starts
};

struct EnvFileIssue {
    int line = 0;
    std::string message; // "line 4: expected KEY=VALUE"
};

struct EnvFile {
    std::vector<EnvFileEntry> entries; // in file order, each key once (the first wins)
    std::vector<EnvFileIssue> issues;
};

// Accepted: blank lines, `# comments`, an optional `export ` prefix, `KEY=value` with spaces
// around `=`, values unquoted (an inline comment starts at ` #`), 'single-quoted' (literal),
// "double-quoted" (\n \r \t \" \\ escapes) or `backquoted`; quoted values may span lines. CRLF
// and a UTF-8 BOM are accepted. Keys match [A-Za-z_][A-Za-z0-9_]* (the env_vars table's rule).
// Reported and skipped: a line without `=`, a bad key, text after a closing quote, an
// unterminated quote (parsing resumes on the next line), a repeated key.
EnvFile parse_env_file(std::string_view text);

// True for a key the env_vars table accepts.
bool is_valid_env_key(std::string_view key) noexcept;

} // namespace berth::control
