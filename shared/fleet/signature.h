// Route tables and deployment archives travel through Redis, so anyone who can write there
// could route an edge's traffic or put files on its disk. With a signing key shared by control
// and its edges ([redis] signing_key_file on both), control signs each table and archive
// (HMAC-SHA256) and an edge with a key takes nothing unsigned or signed with another key.
// What is signed names its kind and where it goes, so a signature cannot be moved to another
// version, root or kind.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace berth::shared::fleet
{

// The key: the file's first line, at least 32 characters (e.g. `openssl rand -hex 32`).
// Throws std::runtime_error saying what is wrong with the file.
std::string read_signing_key(const std::string &path);

// Lower-case hex HMAC-SHA256s; "" with an empty key (unsigned). `version` as written in Redis
// (decimal).
std::string sign_table(std::string_view key, std::string_view version, std::string_view table);
std::string sign_archive(std::string_view key, std::string_view root, std::string_view archive);

// Why an edge holding `key` must refuse what carries signature `given`; "" when it may take it
// (always, with an empty key). Compared in constant time.
std::string table_signature_problem(std::string_view key, std::string_view version,
                                    std::string_view table, std::string_view given);

// sign_archive, and the check an edge makes, for an archive in pieces (too large to hold in
// memory): update() with each piece in order, then hex() or problem(), once.
class ArchiveSigner
{
public:
    ArchiveSigner(std::string_view key, std::string_view root);
    ArchiveSigner(const ArchiveSigner &) = delete;
    ArchiveSigner &operator=(const ArchiveSigner &) = delete;
    ~ArchiveSigner();

    void update(std::string_view piece);
    std::string hex(); // "" without a key
    std::string problem(std::string_view given);

private:
    struct State; // the OpenSSL MAC context; none without a key
    std::unique_ptr<State> state_;
    bool key_set_;
};

} // namespace berth::shared::fleet
