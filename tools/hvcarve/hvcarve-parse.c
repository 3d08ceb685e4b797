// SPDX-License-Identifier: GPL-2.0-only
/*
 * hvcarve-parse - read hvcarve= from a kernel command line as the x86
 * kernel does: the kernel's own parser (include/linux/hvcarve_parse.h,
 * compiled here as it is), the kernel's splitting of the command line into
 * parameters (next_arg() of lib/cmdline.c and parse_args() of
 * kernel/params.c, ported below), and its rules for several hvcarve=
 * parameters (hvcarve_setup() of mm/hvcarve.c). scripts/hvcarve-cmdline.sh
 * asks it instead of parsing the parameter itself.
 *
 *   hvcarve-parse [--page-size N] [--phys-bits N] CMDLINE
 *
 * Prints one line per region the kernel would reserve, in the order given,
 * "region I BASE SIZE" (hex), or, when the kernel would refuse the
 * parameter, the kernel's message "rejecting ...", and nothing else. A
 * command line without hvcarve= prints nothing.
 *
 * Not modelled: a built-in command line (CONFIG_CMDLINE), and other
 * architectures' COMMAND_LINE_SIZE. A CMDLINE that begins with "--" is
 * taken for an option: put a space in front of it.
 *
 * Only the parameter is checked here; whether each region is RAM, clear of
 * the kernel and so on is the memory map's business (the kernel's
 * arch/x86/kernel/hvcarve.c, the tool's check).
 *
 * Exit status: 0 accepted (or no hvcarve=), 1 rejected, 2 usage error.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t u64;

#include "../../include/linux/hvcarve_parse.h"

#define PROG			"hvcarve-parse"
#define EXIT_REJECTED		1
#define EXIT_USAGE		2
/* x86's COMMAND_LINE_SIZE: the kernel keeps the first 2047 characters. */
#define COMMAND_LINE_SIZE	2048
#define DEFAULT_PAGE_SIZE	4096u
/* x86-64 with 5-level paging; 46 with 4-level (MAX_PHYSMEM_BITS). */
#define DEFAULT_PHYS_BITS	52u
#define MAX_PHYS_BITS		64u

static const char usage_text[] =
	"usage: " PROG " [--page-size N] [--phys-bits N] CMDLINE\n"
	"Prints \"region I BASE SIZE\" per region the kernel would reserve, or its\n"
	"\"rejecting ...\" message. Exit: 0 accepted or none, 1 rejected, 2 usage.\n";

static void __attribute__((noreturn)) usage(const char *why)
{
	fprintf(stderr, PROG ": %s\n%s", why, usage_text);
	exit(EXIT_USAGE);
}

/* lib/ctype.c's isspace(): the C ones and Latin-1's no-break space (0xa0). */
static bool is_space(char c)
{
	unsigned char u = (unsigned char)c;

	return u == ' ' || u == '\t' || u == '\n' || u == '\v' || u == '\f' ||
	       u == '\r' || u == 0xa0;
}

static char *skip_spaces(char *s)
{
	while (is_space(*s))
		s++;
	return s;
}

/* lib/cmdline.c: next_arg(), as it is. */
static char *next_arg(char *args, char **param, char **val)
{
	unsigned int i, equals = 0;
	int in_quote = 0, quoted = 0;

	if (*args == '"') {
		args++;
		in_quote = 1;
		quoted = 1;
	}

	for (i = 0; args[i]; i++) {
		if (is_space(args[i]) && !in_quote)
			break;
		if (equals == 0) {
			if (args[i] == '=')
				equals = i;
		}
		if (args[i] == '"')
			in_quote = !in_quote;
	}

	*param = args;
	if (!equals) {
		*val = NULL;
	} else {
		args[equals] = '\0';
		*val = args + equals + 1;

		/* Don't include quotes in value. */
		if (**val == '"') {
			(*val)++;
			if (args[i - 1] == '"')
				args[i - 1] = '\0';
		}
	}
	if (quoted && i > 0 && args[i - 1] == '"')
		args[i - 1] = '\0';

	if (args[i]) {
		args[i] = '\0';
		args += i + 1;
	} else {
		args += i;
	}

	return skip_spaces(args);
}

/* kernel/params.c: parameq(): '-' and '_' are the same in a name. */
static bool parameq(const char *a, const char *b)
{
	for (;; a++, b++) {
		char ca = *a == '-' ? '_' : *a, cb = *b == '-' ? '_' : *b;

		if (ca != cb)
			return false;
		if (!ca)
			return true;
	}
}

static u64 parse_u(const char *opt, const char *s, u64 max)
{
	const char *end;
	u64 v;

	if (hvcarve_parse_num(s, &end, &v) || *end || v > max) {
		fprintf(stderr, PROG ": %s: '%s' is not a number up to %llu\n%s",
			opt, s, (unsigned long long)max, usage_text);
		exit(EXIT_USAGE);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct hvcarve_range ranges[HVCARVE_MAX_REGIONS];
	char cmdline[COMMAND_LINE_SIZE];
	unsigned int nr = 0, first, i;
	u64 page_size = DEFAULT_PAGE_SIZE, phys_bits = DEFAULT_PHYS_BITS;
	char *args, *param, *val;
	const char *text = NULL;
	int a;

	for (a = 1; a < argc && argv[a][0] == '-' && argv[a][1] == '-' && argv[a][2]; a++) {
		if (!strcmp(argv[a], "--help")) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (a + 1 >= argc)
			usage("an option needs a value");
		if (!strcmp(argv[a], "--page-size"))
			page_size = parse_u(argv[a], argv[a + 1], UINT64_C(1) << 30);
		else if (!strcmp(argv[a], "--phys-bits"))
			phys_bits = parse_u(argv[a], argv[a + 1], MAX_PHYS_BITS);
		else
			usage("unknown option");
		a++;
	}
	if (a != argc - 1)
		usage("one CMDLINE argument is needed");
	if (!page_size || (page_size & (page_size - 1)))
		usage("the page size must be a power of two");
	if (phys_bits < 12)
		usage("too few physical address bits");

	/* The kernel keeps COMMAND_LINE_SIZE - 1 characters. */
	snprintf(cmdline, sizeof(cmdline), "%s", argv[a]);

	/* parse_args() of the early parameters, for hvcarve_setup(). */
	args = skip_spaces(cmdline);
	while (*args) {
		args = next_arg(args, &param, &val);
		if (!val && !strcmp(param, "--"))
			break;
		if (!parameq(param, "hvcarve"))
			continue;
		first = nr;
		if (hvcarve_parse_value(val, ranges, &nr, page_size,
					phys_bits >= MAX_PHYS_BITS ? ~(u64)0 :
					(u64)1 << phys_bits, &text)) {
			/* The element that failed, as hvcarve_setup() finds it. */
			const char *elem = val;
			size_t len;

			for (i = first; elem && i < nr; i++) {
				elem = strchr(elem, ',');
				if (elem)
					elem++;
			}
			len = elem ? strcspn(elem, ",") : 0;
			printf("rejecting \"hvcarve=%s\": \"%.*s\": %s\n",
			       val ? val : "", (int)len, elem ? elem : "", text);
			return EXIT_REJECTED;
		}
	}
	for (i = 0; i < nr; i++)
		printf("region %u 0x%llx 0x%llx\n", i,
		       (unsigned long long)ranges[i].base,
		       (unsigned long long)ranges[i].size);
	return 0;
}
