/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Files assembled into read-only data with .incbin: the binary carries them, so nothing
 * depends on finding files at run time. Each symbol is the file's bytes and a NUL. The
 * Makefile makes the object depend on the file (the compiler's dependency list does not see
 * .incbin). path is relative to the directory make runs in.
 */
#ifndef FLOWCOLLECTOR_EMBED_H
#define FLOWCOLLECTOR_EMBED_H

#define EMBED(symbol, path)                            \
	__asm__(".pushsection .rodata\n"               \
		".global " #symbol "\n"                \
		".type " #symbol ", @object\n"         \
		".balign 16\n" #symbol ":\n"           \
		".incbin \"" path "\"\n"               \
		".byte 0\n"                            \
		".size " #symbol ", . - " #symbol "\n" \
		".popsection\n")

#endif
