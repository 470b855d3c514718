/* Input lines as requests: a URL line, or a JSON object (JSON Lines) with
 * the request's url, method, headers, body and tag, parsed with jansson.
 * The options' -X, -d and --json apply to every line that does not say
 * otherwise. What a call hands out lives until the next call, which is
 * as long as the library reads it (it copies before it asks again). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "cli.h"

struct uvf_cli_reqs {
  int format; /* enum uvf_cli_input_format */
  const char *method;
  const char *body;
  size_t body_len;
  const char *const *global; /* -H lines, for --json's defaults */
  size_t n_global;
  /* the last request handed out */
  uvf_request rq;
  json_t *root;
  const char **headers;
  size_t n_headers, cap;
  char *json_body;      /* "json": serialized */
  unsigned char *bytes; /* "body_base64": decoded */
  char *tag;            /* "tag": serialized */
  char why[256];
};

int uvf_cli_reqs_new(uvf_cli_reqs **out, const uvf_cli_reqs_defaults *d) {
  uvf_cli_reqs *r = calloc(1, sizeof(*r));

  if (!r)
    return -ENOMEM;
  r->format = d->format;
  r->method = d->method;
  r->body = d->body;
  r->body_len = d->body_len;
  r->global = d->headers;
  r->n_global = d->n_headers;
  *out = r;
  return 0;
}

static void clear(uvf_cli_reqs *r) {
  json_decref(r->root);
  free(r->json_body);
  free(r->bytes);
  free(r->tag);
  r->root = NULL;
  r->json_body = r->tag = NULL;
  r->bytes = NULL;
  r->n_headers = 0;
  r->why[0] = '\0';
}

void uvf_cli_reqs_free(uvf_cli_reqs *r) {
  if (!r)
    return;
  clear(r);
  free(r->headers);
  free(r);
}

/* An empty line is one the reader refused (too long, a NUL byte): it
 * goes on as an invalid URL, whose record says why. */
int uvf_cli_reqs_is_json(const uvf_cli_reqs *r, const char *line) {
  return (r->format == UVF_CLI_INPUT_JSONL && line[0] != '\0') ||
         (r->format == UVF_CLI_INPUT_AUTO && line[0] == '{');
}

/* Says why the line is not a request; returns -EINVAL. */
static int bad(uvf_cli_reqs *r, const char *field, const char *what) {
  if (field)
    snprintf(r->why, sizeof(r->why), "invalid request: field \"%s\": %s", field,
             what);
  else
    snprintf(r->why, sizeof(r->why), "invalid request: %s", what);
  return -EINVAL;
}

static int add_header(uvf_cli_reqs *r, const char *line) {
  const char **grown =
      uvf_cli_grow(r->headers, r->n_headers, &r->cap, sizeof(*grown), 8);

  if (!grown)
    return bad(r, NULL, "out of memory");
  r->headers = grown;
  r->headers[r->n_headers++] = line;
  return 0;
}

/* "Name: value" lines live in the parsed tree: the value string is
 * replaced by the whole line. */
static int header_line(uvf_cli_reqs *r, const char *name, json_t *v) {
  size_t n = strlen(name), len;
  char *line;

  if (!json_is_string(v))
    return bad(r, "headers", "values must be strings or arrays of strings");
  len = json_string_length(v);
  if (!*name || strpbrk(name, ":\r\n") || memchr(json_string_value(v), 0, len))
    return bad(r, "headers", "a name or value that cannot be sent");
  if (!(line = malloc(n + len + 3)))
    return bad(r, NULL, "out of memory");
  memcpy(line, name, n);
  memcpy(line + n, ": ", 2);
  memcpy(line + n + 2, json_string_value(v), len + 1);
  json_string_setn_nocheck(v, line, n + len + 2);
  free(line);
  return add_header(r, json_string_value(v));
}

static int headers_of(uvf_cli_reqs *r, json_t *h) {
  const char *name;
  json_t *v, *item;
  size_t i;

  if (!json_is_object(h))
    return bad(r, "headers", "not an object of names and values");
  json_object_foreach(h, name, v) {
    if (!json_is_array(v)) {
      if (header_line(r, name, v))
        return -EINVAL;
      continue;
    }
    json_array_foreach(v, i, item) {
      if (header_line(r, name, item))
        return -EINVAL;
    }
  }
  return 0;
}

static int b64_value(int c) {
  static const char tab[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const char *at = c ? strchr(tab, c) : NULL;

  return at ? (int)(at - tab) : -1;
}

/* Standard base64 with its padding (RFC 4648 4). */
static int base64_body(uvf_cli_reqs *r, json_t *v) {
  const char *s = json_string_value(v);
  size_t len = json_is_string(v) ? json_string_length(v) : 1, i, n = 0;
  int q[4], k;

  if (!json_is_string(v) || len % 4)
    return bad(r, "body_base64", "not base64");
  if (!(r->bytes = malloc(len / 4 * 3 + 1)))
    return bad(r, NULL, "out of memory");
  for (i = 0; i < len; i += 4) {
    for (k = 0; k < 4; k++)
      q[k] = b64_value(s[i + k]);
    if (q[0] < 0 || q[1] < 0 || (q[2] < 0 && s[i + 2] != '=') ||
        (q[3] < 0 && s[i + 3] != '=') || (q[2] < 0 && q[3] >= 0) ||
        (i + 4 < len && q[3] < 0))
      return bad(r, "body_base64", "not base64");
    r->bytes[n++] = (unsigned char)(q[0] << 2 | q[1] >> 4);
    if (q[2] >= 0)
      r->bytes[n++] = (unsigned char)((q[1] & 15) << 4 | q[2] >> 2);
    if (q[3] >= 0)
      r->bytes[n++] = (unsigned char)((q[2] & 3) << 6 | q[3]);
  }
  r->rq.body = r->bytes;
  r->rq.body_len = n;
  return 0;
}

int uvf_cli_header_named(const char *const *lines, size_t n, const char *name) {
  size_t len = strlen(name), i;

  for (i = 0; i < n; i++)
    if (strncasecmp(lines[i], name, len) == 0 &&
        (lines[i][len] == ':' || lines[i][len] == ';'))
      return 1;
  return 0;
}

/* "json": the value as the body, with the two headers curl's --json
 * sends, unless the line or -H gives them. */
static int json_body(uvf_cli_reqs *r, json_t *v) {
  static const char *const defaults[][2] = {
      {"Content-Type", "Content-Type: application/json"},
      {"Accept", "Accept: application/json"}};
  size_t i;

  if (!(r->json_body = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
    return bad(r, NULL, "out of memory");
  r->rq.body = r->json_body;
  r->rq.body_len = strlen(r->json_body);
  for (i = 0; i < 2; i++)
    if (!uvf_cli_header_named(r->headers, r->n_headers, defaults[i][0]) &&
        !uvf_cli_header_named(r->global, r->n_global, defaults[i][0]) &&
        add_header(r, defaults[i][1]))
      return -EINVAL;
  return 0;
}

static int string_field(uvf_cli_reqs *r, const char *name, json_t *v,
                        const char **to) {
  if (!json_is_string(v) ||
      memchr(json_string_value(v), 0, json_string_length(v)))
    return bad(r, name, "not a string");
  *to = json_string_value(v);
  return 0;
}

/* The body, from whichever of the three fields the line has. */
static int body_of(uvf_cli_reqs *r, json_t *body, json_t *b64, json_t *json) {
  if ((body != NULL) + (b64 != NULL) + (json != NULL) > 1)
    return bad(r, NULL, "only one of body, body_base64 and json may be given");
  if (body && !json_is_string(body))
    return bad(r, "body", "not a string");
  if (body) {
    r->rq.body = json_string_value(body);
    r->rq.body_len = json_string_length(body);
    return 0;
  }
  return b64 ? base64_body(r, b64) : json ? json_body(r, json) : 0;
}

static int known_fields(uvf_cli_reqs *r) {
  static const char *const names[] = {"url",  "method", "headers",    "body",
                                      "json", "tag",    "body_base64"};
  const char *key;
  json_t *v;
  size_t i;

  json_object_foreach(r->root, key, v) {
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
      if (strcmp(key, names[i]) == 0)
        break;
    if (i == sizeof(names) / sizeof(names[0]))
      return bad(r, key, "unknown field");
  }
  return 0;
}

static int from_json(uvf_cli_reqs *r, const char *line) {
  json_error_t err;
  json_t *v, *tag;

  r->root = json_loadb(line, strlen(line),
                       JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
  if (!r->root) {
    snprintf(r->why, sizeof(r->why),
             "invalid request: not JSON (column %d: %s)", err.column, err.text);
    return -EINVAL;
  }
  if (!json_is_object(r->root))
    return bad(r, NULL, "not a JSON object");
  if (known_fields(r))
    return -EINVAL;
  if (!(v = json_object_get(r->root, "url")))
    return bad(r, "url", "missing");
  if (string_field(r, "url", v, &r->rq.url))
    return -EINVAL;
  if ((v = json_object_get(r->root, "method")) &&
      string_field(r, "method", v, &r->rq.method))
    return -EINVAL;
  if ((v = json_object_get(r->root, "headers")) && headers_of(r, v))
    return -EINVAL;
  if (body_of(r, json_object_get(r->root, "body"),
              json_object_get(r->root, "body_base64"),
              json_object_get(r->root, "json")))
    return -EINVAL;
  if ((tag = json_object_get(r->root, "tag")) &&
      !(r->tag = json_dumps(tag, JSON_COMPACT | JSON_ENCODE_ANY)))
    return bad(r, NULL, "out of memory");
  return 0;
}

int uvf_cli_reqs_make(uvf_cli_reqs *r, const char *line, uint64_t tag,
                      uvf_cli_made *out) {
  int rc = 0;

  clear(r);
  memset(&r->rq, 0, sizeof(r->rq)); /* as uvf_request_init(), code-free */
  r->rq.size = sizeof(r->rq);
  r->rq.tag = tag;
  if (uvf_cli_reqs_is_json(r, line))
    rc = from_json(r, line);
  else
    r->rq.url = line;
  if (rc == 0 && !r->rq.method)
    r->rq.method = r->method;
  if (rc == 0 && !r->rq.body) {
    r->rq.body = r->body;
    r->rq.body_len = r->body_len;
  }
  r->rq.headers = r->headers;
  r->rq.n_headers = r->n_headers;
  out->rq = &r->rq;
  out->why = rc ? r->why : NULL;
  out->tag = r->tag;
  if (rc) { /* the library gives it its index and invalid_request */
    r->rq.url = NULL;
    r->rq.method = NULL;
    r->rq.body = NULL;
    r->rq.body_len = r->rq.n_headers = 0;
  }
  return rc;
}
