// Fixture tree: see the comments by each deployment for what the tests rely on.
#include "tests/e2e/edge_fixture.h"

namespace berth::test
{

std::string write_config(const TempTree &tree, const std::string &name, const std::string &toml)
{
    tree.write(name, toml);
    return tree.path(name);
}

EdgeFixture &edge_fixture()
{
    static std::unique_ptr<EdgeFixture> instance;
    if (instance) return *instance;
    instance = std::make_unique<EdgeFixture>();
    {
        EdgeFixture &fx = *instance;
        TempTree &t = fx.tree;
        // Outside every deployment: must never be served.
        t.write("secret.txt", "TOP-SECRET\n");
        // demo: quick-mode site with assets, folders, dotfiles and a 404 page.
        t.write("deployments/demo/index.html", "<h1>demo index</h1>\n");
        t.write("deployments/demo/404.html", "<h1>demo custom 404</h1>\n");
        t.write("deployments/demo/docs/index.html", "<h1>docs</h1>\n");
        t.write("deployments/demo/assets/app.3f9a1b2c.js", "console.log('app');\n");
        t.write("deployments/demo/assets/app.3f9a1b2c.js.br", "BROTLI-BYTES");
        t.write("deployments/demo/assets/app.3f9a1b2c.js.gz", "GZIP-BYTES");
        t.write("deployments/demo/style.css", "body{color:red}\n");
        t.write("deployments/demo/data.json", "{\"a\":1}\n");
        t.write("deployments/demo/img/logo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n");
        t.write("deployments/demo/app.wasm", std::string("\0asm", 4));
        t.write("deployments/demo/site.webmanifest", "{}\n");
        t.write("deployments/demo/font.woff2", "wOF2");
        t.write("deployments/demo/pic.avif", "avif");
        t.write("deployments/demo/range.txt", pattern_bytes(100));
        t.write("deployments/demo/same.txt", "same content in two deployments\n");
        t.write("deployments/demo/.env", "SECRET=1\n");
        t.write("deployments/demo/.git/config", "[core]\n");
        t.write("deployments/demo/sub/.htpasswd", "user:hash\n");
        t.write("deployments/demo/.well-known/security.txt", "Contact: ops@example.test\n");
        t.write("deployments/demo/with space.txt", "spaced\n");
        fx.big = pattern_bytes(300 * 1024, 3);
        t.write("deployments/demo/big.bin", fx.big);
        fx.huge = pattern_bytes(3 * 1024 * 1024, 7);
        t.write("deployments/demo/huge.bin", fx.huge);
        t.symlink("../../secret.txt", "deployments/demo/escape.txt");
        t.symlink("index.html", "deployments/demo/alias.html");
        // other: same.txt with identical bytes (ETag must match demo's), no 404.html.
        t.write("deployments/other/index.html", "<h1>other</h1>\n");
        t.write("deployments/other/same.txt", "same content in two deployments\n");
        // spa: a 200.html that wins over index.html for fallbacks.
        t.write("deployments/spa/index.html", "<h1>spa index</h1>\n");
        t.write("deployments/spa/200.html", "<h1>spa 200</h1>\n");
        // www must never be a deployment, even if the folder exists.
        t.write("deployments/www/index.html", "<h1>www folder</h1>\n");
        // Route-table sites.
        t.write("deployments/myapp/d-17/index.html", "<h1>myapp d-17</h1>\n");
        t.write("deployments/myapp/d-17/assets/x.js", "x();\n");
        t.write("deployments/myapp/d-17/robots.txt", "User-agent: *\n");
        t.write("deployments/previews/pr-1/index.html", "<h1>preview pr-1</h1>\n");
        t.write("routes.json", R"({ "version": 42,
  "routes": [
    { "host": "myapp.example.test", "type": "static", "root": "myapp/d-17", "spa": false,
      "headers": { "/assets/*": { "Cache-Control": "public, max-age=31536000, immutable",
                                  "X-Asset": "yes" },
                   "/robots.txt": { "X-Robots": "exact" } } },
    { "host": "*.preview.example.test", "type": "static", "root": "previews", "root_from_label": true, "spa": true },
    { "host": "exact.preview.example.test", "type": "static", "root": "myapp/d-17" },
    { "host": "www.example.test", "type": "redirect", "to": "https://example.test", "code": 308 },
    { "host": "api.example.test", "type": "proxy", "upstreams": [ { "addr": "127.0.0.1:9", "weight": 1 } ] }
  ] })");
        std::string conf = write_config(t, "edge.toml", R"(
[edge]
workers = 2
[cache]
small_file_bytes = 65536
[limits]
max_header_bytes = 8192
max_url_bytes = 2048
max_header_count = 40
max_body_bytes = 4096
)");
        fx.edge = std::make_unique<EdgeProcess>(std::vector<std::string>{
            "--config", conf, "--listen", "127.0.0.1:0", "--deployments", t.path("deployments"),
            "--base-domain", "localhost", "--routes", t.path("routes.json")});
    }
    return *instance;
}

} // namespace berth::test
