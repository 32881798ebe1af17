// Token creation and lookup (#3); tokens are "brt_" + 40 random hex digits.
#include "control/store/tokens.h"

#include "control/base/crypto.h"
#include "control/store/audit_log.h"
#include "control/store/db.h"

namespace berth::control
{

std::string create_token(Db &db, const std::string &user_name, bool admin)
{
    std::string token = "brt_" + random_hex(20);
    db.transact([&](pqxx::transaction_base &w) {
        auto row = w.exec_params1(
            "INSERT INTO users(name, is_admin) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE"
            " SET is_admin = users.is_admin OR EXCLUDED.is_admin RETURNING id",
            user_name, admin);
        std::string user_id = row[0].as<std::string>();
        auto tok =
            w.exec_params1("INSERT INTO tokens(user_id, token_hash) VALUES ($1, $2) RETURNING id",
                           user_id, sha256_hex(token));
        audit_append(w, {"cli", "TOKEN_CREATE", "token", tok[0].as<std::string>(),
                         Json{{"user", user_name}, {"admin", admin}}});
        return 0;
    });
    return token;
}

int revoke_tokens(Db &db, const std::string &user_name)
{
    return db.transact([&](pqxx::work &w) {
        auto r = w.exec_params(
            "DELETE FROM tokens WHERE user_id = (SELECT id FROM users WHERE name = $1)"
            " RETURNING id",
            user_name);
        int n = int(r.size());
        audit_append(w, {"cli", "TOKEN_REVOKE", "user", user_name, Json{{"tokens", n}}});
        return n;
    });
}

std::optional<User> authenticate_token(pqxx::transaction_base &w, const std::string &token)
{
    auto r = w.exec_params(
        "SELECT u.id, u.name, u.is_admin FROM tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.token_hash = $1",
        sha256_hex(token));
    if (r.empty()) return std::nullopt;
    return User{r[0][0].as<std::string>(), r[0][1].as<std::string>(), r[0][2].as<bool>()};
}

} // namespace berth::control
