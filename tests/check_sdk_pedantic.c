/* SPDX-License-Identifier: MIT */
/*
 * Compiled with -std=c99 -pedantic -Werror: the SDK header needs nothing but itself.
 */
#include <cargoman/plugin.h>

int main(void)
{
    struct cm_host h;
    h.abi_version = CM_ABI_VERSION;
    return CM_ABI_VERSION_MAJOR(h.abi_version) == CM_ABI_MAJOR ? 0 : 1;
}
