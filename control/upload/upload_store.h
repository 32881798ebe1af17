// Stored UPLOAD archives (#16): <uploads_dir>/<deployment id>.tar.gz, written durably before
// the deployment row commits (so a queued upload survives a crash), read by the pipeline in
// place of a clone, and removed once the deployment has ended.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace berth::control
{

std::filesystem::path upload_path(const std::string &uploads_dir, const std::string &deployment_id);

// Writes `data` to a temporary file in uploads_dir (created if needed), fsyncs it, renames it
// to upload_path() and fsyncs the directory. Throws std::system_error (nothing left behind).
void store_upload(const std::string &uploads_dir, const std::string &deployment_id,
                  std::string_view data);

// The stored archive; throws std::runtime_error when it is missing or unreadable.
std::string read_upload(const std::string &uploads_dir, const std::string &deployment_id);

// Best effort: a file that is already gone is not an error.
void remove_upload(const std::string &uploads_dir, const std::string &deployment_id);

// What uploads_dir holds: archives by deployment id, and temporary files of writes that never
// finished (an id of "" and their full name in `path`).
struct StoredUpload {
    std::string deployment_id; // "" for a leftover temporary file
    std::filesystem::path path;
    std::chrono::seconds age;
};
std::vector<StoredUpload> list_uploads(const std::string &uploads_dir);

} // namespace berth::control
