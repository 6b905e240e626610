#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>

__attribute__((weak)) void fuzz_init(void)
{
}

_Noreturn void fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz: invariant broken: %s\n", what);
    abort();
}
