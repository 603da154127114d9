/*
 * daos_oclass_name2id() of the test double: the names and ids of DAOS's public object class
 * table (src/object/obj_class_def.c): "S<g>", "SX", "RP_<r>G<g>", "RP_<r>GX", "EC_<k>P<p>G<g>",
 * "EC_<k>P<p>GX"; id = (redundancy << 24) | groups, groups of X = 0xffff; unknown -> 0.
 */
#include "fake_internal.h"

#include <stdlib.h>
#include <string.h>

#define OC_REDUN_SHIFT 24
#define MAX_NUM_GROUPS 0xffff

/* parse "G<g>" / "GX" (or "<g>" / "X" without with_g) at s, up to the end of the string */
static int
parse_groups(const char *s, const int *allowed, bool with_g)
{
	char *end;
	long  g;

	if (with_g) {
		if (*s != 'G')
			return -1;
		s++;
	}
	if (strcmp(s, "X") == 0)
		return MAX_NUM_GROUPS;
	if (*s < '1' || *s > '9')
		return -1;
	g = strtol(s, &end, 10);
	if (*end)
		return -1;
	for (int i = 0; allowed[i]; i++)
		if (allowed[i] == g)
			return (int)g;
	return -1;
}

static int
oc_id(int redun, int groups)
{
	return groups < 0 ? 0 : (redun << OC_REDUN_SHIFT) | groups;
}

#ifndef OMIT_daos_oclass_name2id
int
daos_oclass_name2id(const char *name)
{
	static const int ss_groups[] = {1, 2, 4, 6, 8, 12, 16, 32, 0};
	static const int ec_groups[] = {1, 2, 4, 8, 12, 16, 32, 0};
	static const struct {
		const char *k_p;
		int         redun;
	} ec[] = {{"2P1", 32}, {"2P2", 33}, {"4P1", 34},  {"4P2", 35},  {"8P1", 36},  {"8P2", 37},
		  {"16P1", 38}, {"16P2", 39}, {"4P3", 40}, {"8P3", 41}, {"16P3", 42}, {NULL, 0}};

	if (name == NULL || strlen(name) > 24)
		return 0;
	if (name[0] == 'S')
		return oc_id(1, parse_groups(name + 1, ss_groups, false));
	if (strncmp(name, "RP_", 3) == 0 && name[3] >= '2' && name[3] <= '6' && name[4] == 'G')
		return oc_id(8 + (name[3] - '2'), parse_groups(name + 4, ss_groups, true));
	if (strncmp(name, "EC_", 3) == 0) {
		for (int i = 0; ec[i].k_p; i++) {
			size_t n = strlen(ec[i].k_p);

			if (strncmp(name + 3, ec[i].k_p, n) == 0)
				return oc_id(ec[i].redun, parse_groups(name + 3 + n, ec_groups, true));
		}
	}
	return 0;
}
#endif
