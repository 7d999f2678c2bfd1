/* Test-only: built with the unchanged sources of cli/ into `mmrt-test-encoder` (tests/CMakeLists.txt),
 * this registers the test encoder of tests/helpers/test_encoder.c when the program starts, so that
 * `mmrt-test-encoder chat` runs a media encoder defined under tests/ through the CLI — no file
 * under fusion/, core/ or cli/ knows about it (tests/test_encoder_chat.c). */
#include "helpers/test_encoder.h"

__attribute__((constructor)) static void register_test_encoder(void) { test_encoder_enable(true); }
