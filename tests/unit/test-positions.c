/* Input positions of library indexes (src/cli/positions.c): a resumed run
 * skips the URLs its journal has, and each index must still map to the
 * input position of its URL. */
#include "cli.h"
#include "harness.h"

static uvf_cli_positions *positions(void) {
  uvf_cli_positions *p = NULL;

  ASSERT_EQ(uvf_cli_positions_new(&p), 0);
  return p;
}

TEST_IMPL(positions_map_index_to_itself_when_nothing_is_skipped) {
  uvf_cli_positions *p = positions();
  uint64_t i;

  for (i = 0; i < 100; i++)
    ASSERT_EQ(uvf_cli_positions_note(p, i, i), 0);
  ASSERT_EQ(uvf_cli_positions_of(p, 0), 0);
  ASSERT_EQ(uvf_cli_positions_of(p, 99), 99);
  ASSERT_EQ(uvf_cli_positions_of(p, 1000), 1000); /* not noted yet */
  uvf_cli_positions_free(p);
}

/* Input positions 0-2 and 5 are journaled: indexes 0, 1, 2 are the URLs
 * at positions 3, 4 and 6. */
TEST_IMPL(positions_step_over_skipped_runs) {
  uvf_cli_positions *p = positions();

  ASSERT_EQ(uvf_cli_positions_note(p, 0, 3), 0);
  ASSERT_EQ(uvf_cli_positions_note(p, 1, 4), 0);
  ASSERT_EQ(uvf_cli_positions_note(p, 2, 6), 0);
  ASSERT_EQ(uvf_cli_positions_of(p, 0), 3);
  ASSERT_EQ(uvf_cli_positions_of(p, 1), 4);
  ASSERT_EQ(uvf_cli_positions_of(p, 2), 6);
  ASSERT_EQ(uvf_cli_positions_of(p, 3), 7); /* the last offset holds */
  uvf_cli_positions_free(p);
}

/* Every other URL skipped, over many steps: each lookup agrees with the
 * plain list of what was noted. */
TEST_IMPL(positions_agree_with_a_plain_list_over_many_steps) {
  enum { N = 5000 };
  static uint64_t expect[N];
  uvf_cli_positions *p = positions();
  uint64_t i, position = 0;

  for (i = 0; i < N; i++) {
    position += i % 3 == 0 ? 2 : 1; /* a skipped URL before every third */
    expect[i] = position;
    ASSERT_EQ(uvf_cli_positions_note(p, i, position), 0);
  }
  for (i = 0; i < N; i++)
    ASSERT_EQ(uvf_cli_positions_of(p, i), expect[i]);
  uvf_cli_positions_free(p);
  uvf_cli_positions_free(NULL);
}

static const test_entry tests[] = {
    TEST_ENTRY(positions_map_index_to_itself_when_nothing_is_skipped),
    TEST_ENTRY(positions_step_over_skipped_runs),
    TEST_ENTRY(positions_agree_with_a_plain_list_over_many_steps),
};

int main(int argc, char **argv) {
  return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
