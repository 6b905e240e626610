/* AFL++ persistent mode: one process runs many inputs from shared memory.
 * Built only with afl-cc (the __AFL_* macros come from it). */
#include "fuzz.h"

#include <unistd.h>

__AFL_FUZZ_INIT();

int main(void)
{
    fuzz_init();
#ifdef __AFL_HAVE_MANUAL_CONTROL
    __AFL_INIT();
#endif
    unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
    while (__AFL_LOOP(10000)) {
        int len = __AFL_FUZZ_TESTCASE_LEN;
        fuzz_one(buf, (size_t)len);
    }
    return 0;
}
