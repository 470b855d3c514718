/* Counters behind /stats.  Tests read them to check what a client did
 * to the server: how many requests, how many at once, on which address,
 * over how many connections, TLS handshakes and h2 streams. */
#include <stdio.h>

#include "ts.h"

static void bump(uint64_t *v, uint64_t *peak) {
  if (++*v > *peak)
    *peak = *v;
}

/* Headers received: the request is in flight until fully written. */
void ts_stats_begin(struct ts_conn *c) {
  ts_srv.st.requests++;
  if (c->h2 != NULL)
    ts_srv.st.h2_streams++;
  bump(&ts_srv.st.in_flight, &ts_srv.st.peak_in_flight);
  bump(&c->lis->in_flight, &c->lis->peak_in_flight);
  c->inflight++;
}

/* Once closing, the connection's remainder was already taken off in
 * ts_stats_conn_close; late write callbacks must not take it twice. */
void ts_stats_done(struct ts_conn *c, unsigned n) {
  if (n == 0 || c->closing)
    return;
  c->inflight -= n;
  ts_srv.st.in_flight -= n;
  c->lis->in_flight -= n;
}

void ts_stats_conn_open(struct ts_conn *c) {
  bump(&ts_srv.st.conns, &ts_srv.st.peak_conns);
  bump(&c->lis->conns, &c->lis->peak_conns);
  ts_srv.st.accepted++;
  c->lis->accepted++;
}

void ts_stats_tls(int resumed) {
  ts_srv.st.tls_handshakes++;
  if (resumed)
    ts_srv.st.tls_resumed++;
}

void ts_stats_h2_conn(void) { ts_srv.st.h2_conns++; }

void ts_stats_conn_close(struct ts_conn *c) {
  ts_srv.st.in_flight -= c->inflight;
  c->lis->in_flight -= c->inflight;
  c->inflight = 0;
  ts_srv.st.conns--;
  c->lis->conns--;
}

/* Totals restart from zero.  Peaks restart from the current values: a
 * peak below what is open now would be a maximum that never held. */
void ts_stats_reset(void) {
  struct ts_stats *s = &ts_srv.st;
  int i;

  s->requests = s->accepted = s->tls_handshakes = s->tls_resumed = 0;
  s->h2_conns = s->h2_streams = 0;
  s->peak_in_flight = s->in_flight;
  s->peak_conns = s->conns;
  for (i = 0; i < ts_srv.nlis; i++) {
    struct ts_listener *l = &ts_srv.lis[i];

    l->peak_in_flight = l->in_flight;
    l->peak_conns = l->conns;
    l->accepted = 0;
  }
}

enum per_addr { PEAK_IN_FLIGHT, PEAK_CONNS, ACCEPTED };

static size_t by_addr(char *buf, size_t cap, const char *key, int which) {
  size_t n = (size_t)snprintf(buf, cap, ",\"%s\":{", key);
  int i;

  for (i = 0; i < ts_srv.nlis && n < cap; i++) {
    const struct ts_listener *l = &ts_srv.lis[i];
    uint64_t v = which == PEAK_IN_FLIGHT ? l->peak_in_flight
                 : which == PEAK_CONNS   ? l->peak_conns
                                         : l->accepted;

    n += (size_t)snprintf(buf + n, cap - n, "%s\"%s\":%llu", i ? "," : "",
                          l->name, (unsigned long long)v);
  }
  if (n < cap)
    n += (size_t)snprintf(buf + n, cap - n, "}");
  return n;
}

/* Returns the length written; cap is sized for TS_MAX_ADDRS by caller. */
size_t ts_stats_json(char *buf, size_t cap) {
  const struct ts_stats *s = &ts_srv.st;
  size_t n = (size_t)snprintf(
      buf, cap,
      "{\"requests\":%llu,\"in_flight\":%llu,\"peak_in_flight\":%llu,"
      "\"connections\":%llu,\"open_connections\":%llu,"
      "\"peak_connections\":%llu,\"tls_handshakes\":%llu,"
      "\"tls_resumed\":%llu,\"h2_connections\":%llu,\"h2_streams\":%llu",
      (unsigned long long)s->requests, (unsigned long long)s->in_flight,
      (unsigned long long)s->peak_in_flight, (unsigned long long)s->accepted,
      (unsigned long long)s->conns, (unsigned long long)s->peak_conns,
      (unsigned long long)s->tls_handshakes, (unsigned long long)s->tls_resumed,
      (unsigned long long)s->h2_conns, (unsigned long long)s->h2_streams);

  if (n < cap)
    n += by_addr(buf + n, cap - n, "peak_in_flight_by_addr", PEAK_IN_FLIGHT);
  if (n < cap)
    n += by_addr(buf + n, cap - n, "peak_connections_by_addr", PEAK_CONNS);
  if (n < cap)
    n += by_addr(buf + n, cap - n, "connections_by_addr", ACCEPTED);
  if (n < cap)
    n += (size_t)snprintf(buf + n, cap - n, "}\n");
  return n < cap ? n : cap - 1;
}
