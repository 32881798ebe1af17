/* Fleet propagation: how long from control's publish (one HSET of the whole table, then
 * PUBLISH of its version, as control/edges/edge_sync.cc does) until every edge has installed
 * the table and acknowledged it in <prefix>:edge:<name>. One persistent connection polls the
 * acknowledgements (a poll costs one loopback round trip, ~50 us), so the figure is the
 * edges' own latency, not a client's.
 *
 * With ROUTES given as files=ARCHIVE, each table instead sends one host to a new root whose
 * files are only in Redis (ARCHIVE, a gzip'd tar, in chunks as control/edges/deployment_files.cc
 * leaves it): the figure is then publish -> every edge fetched, checked and unpacked the files and
 * installed the table (acknowledged with no missing roots).
 *
 * usage: fleet_bench PORT ROUTES|files=ARCHIVE TABLES FIRST_VERSION EDGE...
 * prints one summary line */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* {"version":V,"routes":[{"host":"h0.fleet.test","type":"static","root":"site/v1"},...]} */
static char *table_json(long version, int routes)
{
    size_t cap = 64 + (size_t)routes * 80, len = 0;
    char *s = malloc(cap);
    len += snprintf(s + len, cap - len, "{\"version\":%ld,\"routes\":[", version);
    for (int i = 0; i < routes; i++)
        len += snprintf(s + len, cap - len,
                        "%s{\"host\":\"h%d.fleet.test\",\"type\":\"static\",\"root\":\"site/v1\"}",
                        i ? "," : "", i);
    snprintf(s + len, cap - len, "]}");
    return s;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc(*len ? *len : 1);
    if (fread(data, 1, *len, f) != *len) {
        free(data);
        data = NULL;
    }
    fclose(f);
    return data;
}

/* Whether the edge's acknowledgement holds `version` (and, for files, nothing missing). */
static int acknowledged(redisContext *c, const char *edge, long version, int files)
{
    redisReply *r = redisCommand(c, "HMGET berth:edge:%s version missing_roots", edge);
    int done = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[0]->type == REDIS_REPLY_STRING && atol(r->element[0]->str) >= version &&
               (!files || (r->element[1]->type == REDIS_REPLY_STRING &&
                           strcmp(r->element[1]->str, "[]") == 0));
    freeReplyObject(r);
    return done;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s PORT ROUTES TABLES FIRST_VERSION EDGE...\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), routes = atoi(argv[2]), tables = atoi(argv[3]);
    size_t archive_len = 0;
    char *archive = NULL;
    if (strncmp(argv[2], "files=", 6) == 0) {
        archive = read_file(argv[2] + 6, &archive_len);
        if (!archive) {
            fprintf(stderr, "fleet_bench: cannot read %s\n", argv[2] + 6);
            return 1;
        }
        routes = 1;
    }
    long first = atol(argv[4]);
    int edges = argc - 5;
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err) {
        fprintf(stderr, "fleet_bench: cannot connect to redis on port %d\n", port);
        return 1;
    }
    double *lat = calloc((size_t)tables, sizeof *lat);
    for (int t = 0; t < tables; t++) {
        long version = first + t;
        char *table = table_json(version, routes), vtext[32], root[64];
        snprintf(vtext, sizeof vtext, "%ld", version);
        snprintf(root, sizeof root, "files/v%ld", version);
        if (archive) { /* one host, served from a root that only Redis has */
            free(table);
            size_t cap = 256;
            table = malloc(cap);
            snprintf(table, cap,
                     "{\"version\":%ld,\"routes\":[{\"host\":\"files.fleet.test\",\"type\":"
                     "\"static\",\"root\":\"%s\"}]}",
                     version, root);
        }
        double start = now_us();
        if (archive) { /* in 4 MiB chunks, size and count last (shared/fleet/archive_chunks.h) */
            /* hiredis formats %lu but not %zu */
            unsigned long chunk = 4ul << 20, n = 0;
            for (size_t at = 0; at < archive_len; at += chunk, n++)
                freeReplyObject(redisCommand(c, "HSET berth:files:%s chunk:%lu %b", root, n,
                                             archive + at,
                                             archive_len - at < chunk ? archive_len - at : chunk));
            freeReplyObject(redisCommand(c, "HSET berth:files:%s size %lu chunks %lu signature %s",
                                         root, (unsigned long)archive_len, n, ""));
        }
        freeReplyObject(
            redisCommand(c, "HSET berth:routes version %s hash bench table %s", vtext, table));
        freeReplyObject(redisCommand(c, "PUBLISH berth:routes %s", vtext));
        for (int e = 0; e < edges; e++) {
            for (;;) {
                if (acknowledged(c, argv[5 + e], version, archive != NULL)) break;
                if (now_us() - start > 60e6) {
                    fprintf(stderr,
                            "fleet_bench: edge %s did not acknowledge version %ld in 60 s\n",
                            argv[5 + e], version);
                    return 1;
                }
            }
        }
        lat[t] = (now_us() - start) / 1000.0;
        free(table);
    }
    qsort(lat, (size_t)tables, sizeof *lat, cmp);
    if (archive)
        printf("%d edges, %d tables each needing a %.1f MB archive: publish -> every edge fetched, "
               "unpacked and acknowledged: median %.2f ms, p90 %.2f ms, max %.2f ms\n",
               edges, tables, archive_len / 1e6, lat[tables / 2], lat[tables * 9 / 10],
               lat[tables - 1]);
    else
        printf("%d edges, %d routes, %d tables: publish -> every edge acknowledged: median %.2f "
               "ms, p90 %.2f ms, max %.2f ms\n",
               edges, routes, tables, lat[tables / 2], lat[tables * 9 / 10], lat[tables - 1]);
    redisFree(c);
    return 0;
}
