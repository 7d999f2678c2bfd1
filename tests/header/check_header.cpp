// Compiled as C++11 with -pedantic -Wall -Wextra -Werror: a C++ program can include the public
// header as it is (extern "C", no C-only constructs).
#include <mmrt.h>

int mmrt_header_check_cxx();
int mmrt_header_check_cxx() {
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    mmrt_part part = mmrt_text_part("hello");
    return MMRT_ABI_VERSION + static_cast<int>(part.type) + gp.max_tokens;
}
