/* The small shared pieces: errors, logging (levels, format, journald prefix, rate limiting),
 * clock, ids, checksums, JSON helpers. */
#include <errno.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "tests/test.h"

/* Runs fn with the log redirected to a memory buffer; returns the text (caller frees). */
static char *capture_log(void (*fn)(void)) {
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  zr_log_set_stream(mem);
  fn();
  zr_log_set_stream(NULL);
  fclose(mem);
  return text;
}

static void log_levels(void) {
  zr_log_set_level(ZR_LOG_INFO);
  ZR_DEBUG("test", "hidden debug");
  ZR_INFO("test", "visible info n=%d", 7);
  ZR_WARN("test", "multi\nline warn");
  zr_log_set_level(ZR_LOG_ERROR);
  ZR_WARN("test", "hidden warn");
  ZR_ERROR("test", "visible error peer=%s", "abc");
  zr_log_set_level(ZR_LOG_INFO);
}

static void log_limited(void) {
  int written = 0;
  for (int i = 0; i < 100; i++)
    written += zr_log_limited("bad-msg:peer1", 60000, ZR_LOG_WARN, "hub", "bad message from peer1 i=%d", i);
  written += zr_log_limited("bad-msg:peer2", 60000, ZR_LOG_WARN, "hub", "bad message from peer2");
  CHECK_INT(written, 2);
  /* a short period lets the next record through and reports the suppressed count */
  for (int i = 0; i < 5; i++) zr_log_limited("burst", 50, ZR_LOG_WARN, "hub", "burst i=%d", i);
  usleep(80 * 1000);
  CHECK_INT(zr_log_limited("burst", 50, ZR_LOG_WARN, "hub", "burst again"), 1);
}

static void test_log(void) {
  char *text = capture_log(log_levels);
  CHECK(strstr(text, "hidden") == NULL);
  CHECK_CONTAINS(text, "info  test: visible info n=7\n");
  CHECK_CONTAINS(text, "warn  test: multi line warn\n"); /* one record, one line */
  CHECK_CONTAINS(text, "error test: visible error peer=abc\n");
  CHECK(text[0] == '2' && text[4] == '-' && text[10] == 'T'); /* RFC 3339 timestamp first */
  free(text);

  text = capture_log(log_limited);
  int count = 0;
  for (const char *p = text; (p = strstr(p, "bad message from peer1")); p++) count++;
  CHECK_INT(count, 1);
  CHECK_CONTAINS(text, "bad message from peer2");
  CHECK_CONTAINS(text, "burst again repeated=4\n");
  free(text);

  CHECK_INT(zr_log_level_parse("WARN"), ZR_LOG_WARN);
  CHECK_INT(zr_log_level_parse("warning"), ZR_LOG_WARN);
  CHECK_INT(zr_log_level_parse("verbose"), -1);
  CHECK_STR(zr_log_level_name(ZR_LOG_ERROR), "error");
}

static void test_errors_clock_ids(void) {
  CHECK_INT(zr_seterr(-EINVAL, "%s:%d: unknown key '%s'", "job.ini", 3, "prot"), -EINVAL);
  CHECK_STR(zr_errmsg(), "job.ini:3: unknown key 'prot'");
  zr_clearerr();
  CHECK_STR(zr_errmsg(), "");

  uint64_t a = zr_clock_mono_ns();
  usleep(2000);
  uint64_t b = zr_clock_mono_ns();
  CHECK(b - a >= 2000000ull);
  CHECK(zr_clock_wall_ms() > 1700000000000ull);
  char ts[32];
  zr_clock_format_wall(0, ts);
  CHECK_STR(ts, "1970-01-01T00:00:00.000Z");
  zr_clock_format_wall(1796143201123ull, ts);
  CHECK_STR(ts, "2026-12-01T16:40:01.123Z");

  char id1[ZR_ID_HEX_LEN + 1], id2[ZR_ID_HEX_LEN + 1];
  zr_id_new(id1);
  zr_id_new(id2);
  CHECK_INT(strlen(id1), 32);
  CHECK(strspn(id1, "0123456789abcdef") == 32);
  CHECK(strcmp(id1, id2) != 0);
  CHECK(zr_id_u64() != zr_id_u64());

  /* xxh3-64 known answers (from the xxHash reference implementation) */
  CHECK(zr_checksum64("", 0) == 0x2D06800538D394C2ull);
  CHECK(zr_checksum64("abc", 3) == 0x78AF5F94892F3950ull);
  const char text[] = "the quick brown fox jumps over the lazy dog, twice over";
  zr_checksum_state *st = zr_checksum_begin();
  zr_checksum_update(st, text, 10);
  zr_checksum_update(st, text + 10, sizeof text - 11);
  CHECK(zr_checksum_end(st) == zr_checksum64(text, sizeof text - 1));

  char small[4];
  CHECK_INT(zr_strlcpy(small, "abcdef", sizeof small), 6);
  CHECK_STR(small, "abc");
  CHECK(zr_hostname()[0] != '\0');
}

static void test_json(void) {
  const char *line = "{\"id\": \"t1\", \"n\": 3, \"x\": 0.5, \"ok\": true, \"s\": 4}";
  json_t *v = zr_json_parse(line, strlen(line), "tasks.jsonl:1");
  CHECK(v != NULL);
  const char *s;
  int64_t n;
  double x;
  int b;
  CHECK_INT(zr_json_get_str(v, "id", "tasks.jsonl:1", &s), 0);
  CHECK_STR(s, "t1");
  CHECK_INT(zr_json_get_int(v, "n", "tasks.jsonl:1", &n), 0);
  CHECK_INT(n, 3);
  CHECK_INT(zr_json_get_num(v, "x", "tasks.jsonl:1", &x), 0);
  CHECK(x == 0.5);
  CHECK_INT(zr_json_get_bool(v, "ok", "tasks.jsonl:1", &b), 0);
  CHECK_INT(b, 1);
  CHECK_INT(zr_json_get_str(v, "s", "tasks.jsonl:1", &s), -EINVAL);
  CHECK_STR(zr_errmsg(), "tasks.jsonl:1: key 's' must be a string");
  CHECK_INT(zr_json_get_str(v, "missing", "tasks.jsonl:1", &s), -ENOENT);
  CHECK_CONTAINS(zr_errmsg(), "missing key 'missing'");
  char *out = zr_json_dump_line(v);
  CHECK_STR(out, "{\"id\":\"t1\",\"n\":3,\"x\":0.5,\"ok\":true,\"s\":4}");
  free(out);
  json_decref(v);

  CHECK(zr_json_parse("{\"a\": 1, \"a\": 2}", 16, "dup.json") == NULL); /* duplicate keys */
  CHECK_CONTAINS(zr_errmsg(), "dup.json");
  CHECK(zr_json_parse("{\"a\": ", 6, "cut.jsonl:9") == NULL);
  CHECK_CONTAINS(zr_errmsg(), "cut.jsonl:9: invalid JSON");
  CHECK(zr_json_load_file("/nonexistent/file.json") == NULL);
  CHECK_CONTAINS(zr_errmsg(), "/nonexistent/file.json");
}

int main(void) {
  test_log();
  test_errors_clock_ids();
  test_json();
  return TEST_DONE();
}
