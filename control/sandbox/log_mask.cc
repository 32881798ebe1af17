// Aho-Corasick rather than one find() per needle: a service with 50 secrets has ~700 needles
// and a build prints tens of thousands of lines (#16).
#include "control/sandbox/log_mask.h"

#include <algorithm>
#include <deque>
#include <set>

#include "control/base/crypto.h"
#include "shared/base/percent_coding.h"

namespace berth::control
{

namespace
{

std::string url_safe(std::string s)
{
    std::replace(s.begin(), s.end(), '+', '-');
    std::replace(s.begin(), s.end(), '/', '_');
    return s;
}

std::string unpadded(std::string s)
{
    while (!s.empty() && s.back() == '=')
        s.pop_back();
    return s;
}

// The base64 characters fixed by `value` alone when it starts `offset` bytes into a 3-byte
// group: character i covers bits [6i, 6i + 6) of the encoded bytes, and only those within the
// value's bits [8 * offset, 8 * (offset + size)) are known.
std::string base64_inner(std::string_view value, size_t offset)
{
    std::string encoded = base64_encode(std::string(offset, '\0') + std::string(value));
    size_t first = (8 * offset + 5) / 6;
    size_t end = 8 * (offset + value.size()) / 6;
    return first < end ? encoded.substr(first, end - first) : std::string();
}

} // namespace

std::vector<std::string> secret_forms(std::string_view value)
{
    std::set<std::string> forms;
    if (value.size() < LogMasker::kMinSecretLength) return {};
    forms.insert(std::string(value));
    forms.insert(shared::percent_encode(value, true, false));
    forms.insert(shared::percent_encode(value, false, false));
    forms.insert(shared::percent_encode(value, true, true));
    std::string full = base64_encode(value);
    for (const std::string &b64 : {full, unpadded(full), base64_inner(value, 0),
                                   base64_inner(value, 1), base64_inner(value, 2)}) {
        forms.insert(b64);
        forms.insert(url_safe(b64));
    }
    std::vector<std::string> out;
    for (const auto &f : forms)
        if (f.size() >= LogMasker::kMinSecretLength) out.push_back(f);
    return out;
}

LogMasker::LogMasker(const std::vector<std::string> &secret_values)
{
    std::set<std::string> unique;
    for (const auto &v : secret_values)
        for (auto &f : secret_forms(v))
            unique.insert(std::move(f));
    needles_.assign(unique.begin(), unique.end());
    std::stable_sort(needles_.begin(), needles_.end(),
                     [](const auto &a, const auto &b) { return a.size() > b.size(); });
    if (needles_.empty()) return;

    nodes_.emplace_back(); // the root
    for (const auto &needle : needles_) {
        int node = 0;
        for (char ch : needle) {
            auto c = static_cast<unsigned char>(ch);
            int next = child(node, c);
            if (next < 0) {
                next = int(nodes_.size());
                nodes_.emplace_back();
                auto &edges = nodes_[size_t(node)].next;
                edges.insert(std::lower_bound(edges.begin(), edges.end(), std::make_pair(c, 0)),
                             {c, next});
            }
            node = next;
        }
        auto &n = nodes_[size_t(node)];
        n.match_len = std::max(n.match_len, needle.size());
    }
    // Breadth-first: a node's fail link is the longest proper suffix of its path in the trie.
    std::deque<int> queue;
    for (auto [c, n] : nodes_[0].next)
        queue.push_back(n);
    while (!queue.empty()) {
        int node = queue.front();
        queue.pop_front();
        for (auto [c, next] : nodes_[size_t(node)].next) {
            int f = nodes_[size_t(node)].fail;
            int target = child(f, c);
            while (target < 0 && f != 0) {
                f = nodes_[size_t(f)].fail;
                target = child(f, c);
            }
            int fail = target >= 0 && target != next ? target : 0;
            nodes_[size_t(next)].fail = fail;
            nodes_[size_t(next)].match_len =
                std::max(nodes_[size_t(next)].match_len, nodes_[size_t(fail)].match_len);
            queue.push_back(next);
        }
    }
}

int LogMasker::child(int node, unsigned char c) const
{
    const auto &edges = nodes_[size_t(node)].next;
    auto it = std::lower_bound(edges.begin(), edges.end(), std::make_pair(c, 0));
    return it != edges.end() && it->first == c ? it->second : -1;
}

int LogMasker::step(int node, unsigned char c) const
{
    while (true) {
        int next = child(node, c);
        if (next >= 0) return next;
        if (node == 0) return 0;
        node = nodes_[size_t(node)].fail;
    }
}

std::string LogMasker::mask(std::string_view line) const
{
    if (nodes_.empty()) return std::string(line);
    // Matches as [begin, end) ranges; the longest needle ending at each position covers every
    // shorter one ending there (a suffix of it), and ranges that overlap or touch are merged.
    std::vector<std::pair<size_t, size_t>> ranges;
    int node = 0;
    for (size_t i = 0; i < line.size(); ++i) {
        node = step(node, static_cast<unsigned char>(line[i]));
        size_t len = nodes_[size_t(node)].match_len;
        if (len == 0) continue;
        size_t begin = i + 1 - len;
        while (!ranges.empty() && ranges.back().second >= begin) {
            begin = std::min(begin, ranges.back().first);
            ranges.pop_back();
        }
        ranges.emplace_back(begin, i + 1);
    }
    if (ranges.empty()) return std::string(line);
    std::string out;
    out.reserve(line.size());
    size_t at = 0;
    for (auto [begin, end] : ranges) {
        out.append(line.substr(at, begin - at));
        out.append(kMask);
        at = end;
    }
    out.append(line.substr(at));
    return out;
}

} // namespace berth::control
