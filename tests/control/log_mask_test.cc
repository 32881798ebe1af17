// Pure pieces of the build sandbox (#16): line splitting, secret masking, the log cap, and the
// error texts of build results.
#include <catch2/catch.hpp>

#include <csignal>
#include <string>
#include <vector>

#include "control/base/crypto.h"
#include "control/sandbox/build_log.h"
#include "control/sandbox/line_splitter.h"
#include "control/sandbox/log_mask.h"
#include "control/sandbox/sandbox_result.h"

using namespace berth::control;

namespace
{

std::vector<std::string> split(const std::vector<std::string> &chunks, size_t max = 8192)
{
    LineSplitter splitter(max);
    std::vector<std::string> lines;
    auto on_line = [&](std::string_view l) { lines.emplace_back(l); };
    for (const auto &c : chunks)
        splitter.feed(c, on_line);
    splitter.finish(on_line);
    return lines;
}

} // namespace

TEST_CASE("line splitter joins chunks, strips CRLF and keeps the unterminated rest",
          "[control][sandbox]")
{
    CHECK(split({"a\nb", "c\r\n", "\nlast"}) == std::vector<std::string>{"a", "bc", "", "last"});
    CHECK(split({}).empty());
}

TEST_CASE("line splitter cuts a 20 KiB line without newline at 8 KiB", "[control][sandbox]")
{
    auto lines = split({std::string(20480, 'x')});
    REQUIRE(lines.size() == 3);
    CHECK(lines[0].size() == 8192);
    CHECK(lines[1].size() == 8192);
    CHECK(lines[2].size() == 4096);
    // Cuts never split a UTF-8 character: "é" is 2 bytes, the cut backs off by one.
    auto utf8 = split({std::string(7, 'a') + "\xc3\xa9" + "b"}, 8);
    CHECK(utf8 == std::vector<std::string>{"aaaaaaa", "\xc3\xa9"
                                                      "b"});
}

TEST_CASE("log masker hides raw, base64 and url-encoded secret values", "[control][sandbox]")
{
    const std::string secret = "s3cr3t/Value+with spaces?";
    LogMasker masker({secret, "short"});
    auto masked = [&](const std::string &line) { return masker.mask(line); };

    CHECK(masked("token=" + secret + ";") == "token=********;");
    std::string b64 = base64_encode(secret);
    CHECK(masked("b64 " + b64 + " end") == "b64 ******** end");
    std::string url = b64;
    for (char &c : url)
        c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (url.back() == '=')
        url.pop_back();
    CHECK(masked("u=" + url) == "u=********");
    CHECK(masked("q=s3cr3t%2FValue%2Bwith%20spaces%3F&x") == "q=********&x");
    CHECK(masked("q=s3cr3t%2fValue%2bwith%20spaces%3f&x") == "q=********&x");
    CHECK(masked("q=s3cr3t%2FValue%2Bwith+spaces%3F") == "q=********");
    // Values under 6 characters are left alone (they would mask ordinary words).
    CHECK(masked("short and sweet") == "short and sweet");
    // Overlapping and touching occurrences become one mask.
    CHECK(masked(secret + secret) == "********");
}

TEST_CASE("log masker finds a secret inside a longer base64 text at every offset",
          "[control][sandbox]")
{
    const std::string secret = "hunter2-password";
    LogMasker masker({secret});
    for (std::string prefix : {"", "u:", "us:", "user:", "admin:"}) {
        std::string header = "Authorization: Basic " + base64_encode(prefix + secret + "@host");
        std::string out = masker.mask(header);
        INFO(prefix << " → " << out);
        CHECK(out.find("********") != std::string::npos);
        // What remains of the encoding no longer decodes to the secret.
        CHECK(out.find(base64_encode(secret).substr(0, 8)) == std::string::npos);
    }
}

TEST_CASE("log masker with many secrets masks each of them", "[control][sandbox]")
{
    std::vector<std::string> secrets;
    for (int i = 0; i < 200; ++i)
        secrets.push_back("secret-value-" + std::to_string(i * 7919));
    LogMasker masker(secrets);
    CHECK(masker.needles().size() > 200);
    std::string line;
    for (int i = 0; i < 200; i += 13)
        line += "[" + secrets[size_t(i)] + "]";
    std::string out = masker.mask(line);
    for (const auto &s : secrets)
        CHECK(out.find(s) == std::string::npos);
    CHECK(LogMasker().mask("nothing to hide") == "nothing to hide");
}

TEST_CASE("build log masks before storing and caps lines with one truncation line",
          "[control][sandbox]")
{
    std::vector<LogLine> stored;
    BuildLog log(LogMasker({"topsecret"}), BuildLogCap{3, 1 << 20},
                 [&](const LogLine &l) { stored.push_back(l); });
    log.add(LogStream::kStdout, 1, "key topsecret");
    log.add(LogStream::kStderr, 2, "two");
    log.add(LogStream::kStdout, 3, "three");
    log.add(LogStream::kStdout, 4, "four");
    log.add(LogStream::kStdout, 5, "five topsecret");
    REQUIRE(stored.size() == 4);
    CHECK(stored[0].text == "key ********");
    CHECK(stored[1].stream == LogStream::kStderr);
    CHECK(stored[3].stream == LogStream::kSystem);
    CHECK(stored[3].text == "… log truncated after 3 lines");
    CHECK(log.truncated());
    CHECK(log.lines_stored() == 3);
    CHECK(log.lines_dropped() == 2);
    CHECK(log.tail().back() == "five ********");
}

TEST_CASE("build log caps bytes", "[control][sandbox]")
{
    std::vector<LogLine> stored;
    BuildLog log(LogMasker(), BuildLogCap{1000, 10},
                 [&](const LogLine &l) { stored.push_back(l); });
    log.add(LogStream::kStdout, 1, "12345");
    log.add(LogStream::kStdout, 2, "67890");
    log.add(LogStream::kStdout, 3, "x");
    REQUIRE(stored.size() == 3);
    CHECK(stored[2].text == "… log truncated after 10 bytes (2 lines)");
    CHECK(log.bytes_stored() == 10);
}

TEST_CASE("build results map to clear error texts", "[control][sandbox]")
{
    SandboxLimits limits;
    limits.memory_bytes = uint64_t(512) << 20;
    limits.cpu_seconds = 60;
    limits.file_size_bytes = uint64_t(100) << 20;
    limits.wall_timeout = std::chrono::seconds(30);
    auto text = [&](auto edit) {
        SandboxResult r;
        r.exit_code = 0;
        edit(r);
        return describe(r, limits);
    };
    CHECK(text([](SandboxResult &) {}) == "exit 0");
    CHECK(text([](SandboxResult &r) { r.exit_code = 2; }) == "exit 2");
    CHECK(text([](SandboxResult &r) { r.exit_code = -1, r.term_signal = SIGKILL; }) ==
          "exit 137 (killed: out of memory)");
    CHECK(text([](SandboxResult &r) { r.exit_code = 137; }) == "exit 137 (killed: out of memory)");
    CHECK(text([](SandboxResult &r) { r.exit_code = 152; }) ==
          "exit 152 (killed: CPU time limit of 60 s)");
    CHECK(text([](SandboxResult &r) {
              r.exit_code = -1, r.term_signal = SIGKILL, r.cpu_time = std::chrono::seconds(61);
          }) == "exit 137 (killed: CPU time limit of 60 s)");
    CHECK(text([](SandboxResult &r) { r.exit_code = 153; }) ==
          "exit 153 (killed: file size limit of 100 MiB)");
    CHECK(text([](SandboxResult &r) { r.exit_code = 1, r.oom_output = true; }) ==
          "exit 1 (out of memory: the limit is 512 MiB per process)");
    CHECK(text([](SandboxResult &r) { r.exit_code = 134, r.oom_output = true; }) ==
          "exit 134 (out of memory: the limit is 512 MiB per process)");
    CHECK(text([](SandboxResult &r) { r.exit_code = 139; }) == "exit 139 (killed by SIGSEGV)");
    CHECK(text([](SandboxResult &r) { r.timed_out = true; }) == "timed out after 30 s");
    CHECK(text([](SandboxResult &r) { r.cancelled = true, r.timed_out = true; }) == "cancelled");
    CHECK(text([](SandboxResult &r) { r.setup_error = "cannot run /bin/sh"; }) ==
          "cannot run /bin/sh");
}

TEST_CASE("out-of-memory messages of common runtimes are recognised", "[control][sandbox]")
{
    CHECK(looks_like_out_of_memory(
        "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"));
    CHECK(looks_like_out_of_memory("MemoryError"));
    CHECK(looks_like_out_of_memory("terminate called after throwing an instance of "
                                   "'std::bad_alloc'"));
    CHECK(looks_like_out_of_memory("mmap: Cannot allocate memory"));
    CHECK(looks_like_out_of_memory("awk: out of memory in readrec"));
    CHECK(looks_like_out_of_memory("memory allocation of 1024 bytes failed"));
    CHECK_FALSE(looks_like_out_of_memory("built 12 pages in 340 ms"));
}
