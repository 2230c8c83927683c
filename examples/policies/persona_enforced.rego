# Every persona block a plan creates, changes or attaches must be enforced: an agent's persona
# is the team's to define, and a seeded one becomes the agent's own after it is created.
#
# Input: the plan document that `letta-apply plan --format json` prints (docs/plan-json.md).
# `block_policies` maps each memory block the plan creates (an agent's own blocks come with
# the agent), updates or attaches to its declared policy, `seed` or `enforce`.
package letta.plan.persona_enforced

import rego.v1

deny contains message if {
	some address, policy in input.block_policies
	endswith(address, "/persona")
	policy != "enforce"
	message := sprintf("%s: a persona block must be enforced (it is declared %s)", [address, policy])
}

deny contains message if {
	not "block_policies" in object.keys(input)
	message := "the plan does not record block policies; make it with a letta-apply writing plan format_version 3 or later"
}
