#include "caching_allocator.hpp"
// cmocka after the C++ headers: its macros clash with the standard library's names.
// cmocka.h (1.1) has no extern "C" guard of its own.
extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
}
static void t(void**) { assert_true(1); }
int main() { const struct CMUnitTest tests[] = {cmocka_unit_test(t)}; return cmocka_run_group_tests(tests, nullptr, nullptr); }
