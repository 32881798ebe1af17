// Versioned SQL migrations: embedded at build time, applied in order, each in a transaction.
#pragma once

#include <string>
#include <vector>

namespace berth::control
{

class Db;

struct Migration {
    int version;
    const char *name;
    const char *sql;
};

// Every control/store/migrations/NNNN_*.sql, sorted by version (generated file).
const std::vector<Migration> &embedded_migrations();

// Applies the migrations not yet recorded in schema_migrations, each in its own transaction
// together with its schema_migrations row, under an advisory lock so concurrent runs
// serialise. Returns the names applied (empty when already up to date). Throws on SQL errors;
// a failed migration leaves nothing behind.
std::vector<std::string> apply_migrations(Db &db);

} // namespace berth::control
