// LeakSanitizer defaults for sanitizer builds: known leaks inside third-party libraries.
// Linked into berth-control and the control test binaries (not a library: the runtime looks
// the symbol up in the executable). Without a sanitizer runtime it is never called.
//
// - libpqxx 6.4 drops a PGresult when a connection breaks mid-query (PostgreSQL restarts).
// - libgit2 1.5's PCRE2-backed regexps leave per-thread match data behind after clones.
// - libgit2 1.5 leaks a strdup'd string (23 bytes) when an https clone through a proxy (the
//   clone proxy of #15) fails; the stack has no symbols, so the library is named.
extern "C" const char *__lsan_default_suppressions();
extern "C" const char *__lsan_default_suppressions()
{
    return "leak:libpqxx-6.4.so\n"
           "leak:libpcre2-8.so\n"
           "leak:libgit2.so.1.5\n";
}
