/* board.h — what startup.c offers the harness: semihosting text output and exit, and a
 * SysTick tick counter (24 bits). */
#ifndef SPK_BOARD_H
#define SPK_BOARD_H
#include <stdint.h>
void board_puts(const char *s);
void board_put_int(long v);
void board_exit(int status);
void board_ticks_start(void);
uint32_t board_ticks(void);
uint32_t board_ticks_since(uint32_t start); /* for intervals below 2^24 ticks */
#endif
