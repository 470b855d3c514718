/* Report records (one JSON object per URL) and the closing summary. The
 * field names and their order are an interface: scripts and uvfetch(1)
 * depend on them. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define N_KINDS (sizeof(((uvf_cli_tally *)0)->by_kind) / sizeof(uint64_t))

static void field_u64(uvf_cli_buf *b, const char *name, uint64_t v) {
  uvf_cli_buf_printf(b, ",\"%s\":%" PRIu64, name, v);
}

static void field_str(uvf_cli_buf *b, const char *name, const char *v) {
  uvf_cli_buf_printf(b, ",\"%s\":", name);
  uvf_cli_json_str(b, v);
}

/* "history": the earlier attempts' errors as a JSON array of strings,
 * "http 503" for a status, the kind's name otherwise. */
static void history(uvf_cli_buf *b, const uvf_result *r) {
  unsigned i;
  uvf_cli_buf_puts(b, ",\"history\":[");
  for (i = 0; i < r->n_history; i++) {
    const uvf_attempt *a = &r->history[i];
    if (a->error == UVF_EHTTP)
      uvf_cli_buf_printf(b, "%s\"http %ld\"", i ? "," : "", a->status);
    else
      uvf_cli_buf_printf(b, "%s\"%s\"", i ? "," : "", uvf_err_name(a->error));
  }
  uvf_cli_buf_puts(b, "]");
}

/* "http_version": as curl writes it ("1.1", "2"), null if no reply. */
static void http_version(uvf_cli_buf *b, long v) {
  if (v <= 0)
    uvf_cli_buf_puts(b, ",\"http_version\":null");
  else if (v % 10 == 0)
    uvf_cli_buf_printf(b, ",\"http_version\":\"%ld\"", v / 10);
  else
    uvf_cli_buf_printf(b, ",\"http_version\":\"%ld.%ld\"", v / 10, v % 10);
}

/* 1 if header i's name came earlier: it was written with that one. */
static int seen_before(const uvf_result *r, size_t i) {
  size_t k;

  for (k = 0; k < i; k++)
    if (strcmp(r->headers[k].name, r->headers[i].name) == 0)
      return 1;
  return 0;
}

/* The values named as header i, from i on: one as a string, more as an
 * array, in the order received. */
static void header_values(uvf_cli_buf *b, const uvf_result *r, size_t i) {
  const char *name = r->headers[i].name;
  size_t k, n = 0;

  for (k = i; k < r->n_headers; k++)
    n += strcmp(r->headers[k].name, name) == 0;
  if (n == 1) {
    uvf_cli_json_str(b, r->headers[i].value);
    return;
  }
  uvf_cli_buf_add(b, "[", 1);
  for (k = i, n = 0; k < r->n_headers; k++)
    if (strcmp(r->headers[k].name, name) == 0) {
      if (n++)
        uvf_cli_buf_add(b, ",", 1);
      uvf_cli_json_str(b, r->headers[k].value);
    }
  uvf_cli_buf_add(b, "]", 1);
}

/* "headers": the final response's fields by lower-case name, a name
 * received more than once (Set-Cookie) with an array of its values. */
static void headers(uvf_cli_buf *b, const uvf_result *r) {
  size_t i;
  int first = 1;

  uvf_cli_buf_puts(b, ",\"headers\":{");
  for (i = 0; r->headers && i < r->n_headers; i++) {
    if (seen_before(r, i))
      continue;
    if (!first)
      uvf_cli_buf_add(b, ",", 1);
    first = 0;
    uvf_cli_json_str(b, r->headers[i].name);
    uvf_cli_buf_add(b, ":", 1);
    header_values(b, r, i);
  }
  uvf_cli_buf_add(b, "}", 1);
}

void uvf_cli_record_format(uvf_cli_buf *b, const uvf_cli_record *rec) {
  const uvf_result *r = rec->r;
  double t = r->time_total;

  if (!isfinite(t) || t < 0)
    t = 0;
  uvf_cli_buf_printf(b, "{\"index\":%" PRIu64, rec->index);
  field_str(b, "url", r->url);
  uvf_cli_buf_printf(b, ",\"ok\":%s", rec->ok ? "true" : "false");
  uvf_cli_buf_printf(b, ",\"status\":%ld", r->status);
  field_str(b, "error", rec->ok ? NULL : uvf_err_name(rec->error));
  field_str(b, "message", rec->message ? rec->message : "");
  field_u64(b, "bytes", r->bytes);
  field_u64(b, "attempts", r->attempts);
  history(b, r);
  uvf_cli_buf_printf(b, ",\"time_total\":%.6f", t);
  field_str(b, "final_url", r->final_url);
  http_version(b, r->http_version);
  if (rec->with_file)
    field_str(b, "file", rec->file);
  if (rec->with_headers)
    headers(b, r);
  if (rec->tag)
    uvf_cli_buf_printf(b, ",\"tag\":%s", rec->tag); /* JSON already */
  uvf_cli_buf_add(b, "}\n", 2);
}

void uvf_cli_tally_add(uvf_cli_tally *t, int ok, uvf_err error,
                       uint64_t bytes) {
  size_t kind = (size_t) - (long)error;

  t->total++;
  t->bytes += bytes;
  if (ok) {
    t->ok++;
    return;
  }
  t->failed++;
  if (kind < N_KINDS)
    t->by_kind[kind]++;
}

static void print_kinds(FILE *fp, const uvf_cli_tally *t) {
  const char *sep = " (";
  size_t k;

  for (k = 1; k < N_KINDS; k++) {
    if (t->by_kind[k] == 0)
      continue;
    fprintf(fp, "%s%s %" PRIu64, sep, uvf_err_name(-(int)k), t->by_kind[k]);
    sep = ", ";
  }
  if (sep[0] == ',')
    fputc(')', fp);
}

void uvf_cli_tally_print(FILE *fp, const uvf_cli_tally *t, double seconds) {
  uint64_t fetched = t->total - t->replayed;
  double rate = seconds > 0 ? (double)fetched / seconds : 0;

  fprintf(fp, "%" PRIu64 " URL%s: %" PRIu64 " ok, %" PRIu64 " failed", t->total,
          t->total == 1 ? "" : "s", t->ok, t->failed);
  print_kinds(fp, t);
  if (t->replayed > 0)
    fprintf(fp, "; %" PRIu64 " from the journal", t->replayed);
  fprintf(fp,
          "\n%.3f s, %.1f requests/s, %" PRIu64 " byte%s (%.1f MiB), %" PRIu64
          " connection%s opened\n",
          seconds, rate, t->bytes, t->bytes == 1 ? "" : "s",
          (double)t->bytes / (1024.0 * 1024.0), t->connects,
          t->connects == 1 ? "" : "s");
}
