#include "edge/static/missing_roots.h"

#include <sys/stat.h>

#include <string_view>
#include <unordered_set>

namespace berth::edge
{

namespace
{

bool is_directory(const std::string &deployments_root, const std::string &root)
{
    struct stat st;
    std::string path = deployments_root + "/" + root;
    return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

} // namespace

std::vector<std::string> static_roots(const shared::route::RouteTable &table)
{
    std::vector<std::string> roots;
    std::unordered_set<std::string_view> seen; // a root shared by several hosts: listed once
    for (const shared::route::Route &r : table.routes()) {
        if (r.type != shared::route::RouteType::kStatic || r.root_from_label) continue;
        if (seen.insert(r.root).second) roots.push_back(r.root);
    }
    return roots;
}

std::vector<std::string> missing_static_roots(const shared::route::RouteTable &table,
                                              const std::string &deployments_root)
{
    return still_missing(static_roots(table), deployments_root);
}

std::vector<std::string> still_missing(const std::vector<std::string> &missing,
                                       const std::string &deployments_root)
{
    std::vector<std::string> out;
    for (const std::string &root : missing)
        if (!is_directory(deployments_root, root)) out.push_back(root);
    return out;
}

} // namespace berth::edge
