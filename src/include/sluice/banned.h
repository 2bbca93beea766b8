/*
 * banned.h - functions sluice never calls.  Include it last in every .c.
 *
 * They either cannot bound their output (strcpy, strcat, sprintf, gets),
 * have no error reporting (atoi, atol), or keep hidden state (strtok).
 * Use sl_buf, snprintf and the cursor helpers instead.
 */
#ifndef SLUICE_BANNED_H
#define SLUICE_BANNED_H

#undef strcpy
#undef strcat
#undef sprintf
#undef vsprintf
#undef gets
#undef strtok
#undef sscanf
#undef atoi
#undef atol

#pragma GCC poison strcpy strcat sprintf vsprintf gets strtok sscanf atoi atol

#endif
