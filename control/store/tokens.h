// API users and tokens: a token is shown once; only its SHA-256 is stored.
#pragma once

#include <optional>
#include <string>

#include <pqxx/pqxx>

namespace berth::control
{

class Db;

struct User {
    std::string id;
    std::string name;
    bool is_admin = false;
};

// Creates the user when missing (admin sets is_admin on creation and on an existing user),
// then a new token for it. Returns the token in clear: the caller prints it once.
std::string create_token(Db &db, const std::string &user_name, bool admin);

// Deletes every token of user_name (with an audit row); returns how many were deleted.
int revoke_tokens(Db &db, const std::string &user_name);

// The user owning `token`, or nullopt when unknown. Compares hashes, so lookup time does not
// depend on how much of a guessed token is right.
std::optional<User> authenticate_token(pqxx::transaction_base &w, const std::string &token);

} // namespace berth::control
