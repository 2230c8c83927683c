# No deletion of an agent tagged `tier:prod`.
#
# Input: the plan document that `letta-apply plan --format json` prints (docs/plan-json.md).
# A delete carries the tags the resource has on the server (plan format_version 3 and later).
# A delete of an agent whose tags the plan does not record is denied too: its tags are
# unknown, not empty.
package letta.plan.no_prod_agent_deletes

import rego.v1

protected_tag := "tier:prod"

agent_deletes contains change if {
	some change in input.changes
	change.action == "delete"
	change.kind == "agent"
}

deny contains message if {
	some change in agent_deletes
	protected_tag in change.tags
	message := sprintf(
		"%s: deleting an agent tagged %s is not allowed (%s)",
		[change.address, protected_tag, change.reason],
	)
}

deny contains message if {
	some change in agent_deletes
	not "tags" in object.keys(change)
	message := sprintf(
		"%s: the plan does not record the agent's tags; make it with a letta-apply writing plan format_version 3 or later",
		[change.address],
	)
}
