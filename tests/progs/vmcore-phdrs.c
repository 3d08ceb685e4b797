// SPDX-License-Identifier: GPL-2.0
/*
 * vmcore-phdrs: print the physical ranges of an ELF64 core's PT_LOAD
 * program headers, one "0xSTART 0xEND" line each (END inclusive).
 *
 *   vmcore-phdrs [FILE]       (default /proc/vmcore)
 */
#include <elf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/proc/vmcore";
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	FILE *f = fopen(path, "rb");
	unsigned int i, loads = 0;

	if (!f) {
		perror(path);
		return 2;
	}
	if (fread(&eh, sizeof(eh), 1, f) != 1 ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(ph)) {
		fprintf(stderr, "%s: not an ELF64 core\n", path);
		return 2;
	}
	for (i = 0; i < eh.e_phnum; i++) {
		if (fseek(f, (long)(eh.e_phoff + (uint64_t)i * sizeof(ph)), SEEK_SET) ||
		    fread(&ph, sizeof(ph), 1, f) != 1) {
			fprintf(stderr, "%s: cannot read program header %u\n", path, i);
			return 2;
		}
		if (ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		printf("0x%" PRIx64 " 0x%" PRIx64 "\n", (uint64_t)ph.p_paddr,
		       (uint64_t)(ph.p_paddr + ph.p_memsz - 1));
		loads++;
	}
	fclose(f);
	return loads ? 0 : 1;
}
