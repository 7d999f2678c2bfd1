/* Compiled with -std=c11 -pedantic -Wall -Wextra -Werror: the public header must be clean C11. */
#include <mmrt.h>

int mmrt_header_check(void);
int mmrt_header_check(void) { return MMRT_ABI_VERSION + (int)MMRT_OK; }
