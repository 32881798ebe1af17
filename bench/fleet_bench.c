/* Fleet propagation: how long from control's publish (one HSET of the whole table, then
 * PUBLISH of its version, as control/edges/edge_sync.cc does) until every edge has installed
 * the table and acknowledged it in <prefix>:edge:<name>. One persistent connection polls the
 * acknowledgements (a poll costs one loopback round trip, ~50 us), so the figure is the
 * edges' own latency, not a client's.
 *
 * usage: fleet_bench PORT ROUTES TABLES FIRST_VERSION EDGE...   prints one summary line */
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

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s PORT ROUTES TABLES FIRST_VERSION EDGE...\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), routes = atoi(argv[2]), tables = atoi(argv[3]);
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
        char *table = table_json(version, routes), vtext[32];
        snprintf(vtext, sizeof vtext, "%ld", version);
        double start = now_us();
        freeReplyObject(redisCommand(c, "HSET berth:routes version %s hash bench table %s", vtext,
                                     table));
        freeReplyObject(redisCommand(c, "PUBLISH berth:routes %s", vtext));
        for (int e = 0; e < edges; e++) {
            for (;;) {
                redisReply *r = redisCommand(c, "HGET berth:edge:%s version", argv[5 + e]);
                int done = r && r->type == REDIS_REPLY_STRING && atol(r->str) >= version;
                freeReplyObject(r);
                if (done) break;
                if (now_us() - start > 10e6) {
                    fprintf(stderr, "fleet_bench: edge %s did not acknowledge version %ld in 10 s\n",
                            argv[5 + e], version);
                    return 1;
                }
            }
        }
        lat[t] = (now_us() - start) / 1000.0;
        free(table);
    }
    qsort(lat, (size_t)tables, sizeof *lat, cmp);
    printf("%d edges, %d routes, %d tables: publish -> every edge acknowledged: median %.2f ms, "
           "p90 %.2f ms, max %.2f ms\n",
           edges, routes, tables, lat[tables / 2], lat[tables * 9 / 10], lat[tables - 1]);
    redisFree(c);
    return 0;
}
