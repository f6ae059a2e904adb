/* NOT YET WRITTEN: filled in by the family owner. */
#include "ops_test_util.h"

static void test_nothing_yet(void** state) {
    (void)state;
    assert_non_null(ot_device());
}

int main(void) {
    ot_init();
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_nothing_yet)};
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_fini();
    return rc;
}
