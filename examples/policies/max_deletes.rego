# At most `data.letta.max_deletes` resources deleted by one plan (10 when it is not given).
#
# Input: the plan document that `letta-apply plan --format json` prints (docs/plan-json.md).
# Counted are resources, not delete changes: deleting an agent also deletes its own memory
# blocks (`owned_children`), so one change can remove several resources. The count is the
# figure `summary.deleted_resources` reports and letta-apply's own mass-delete guard uses; it
# is taken from `changes`, since a saved plan may leave out the derived `summary`.
package letta.plan.max_deletes

import rego.v1

default limit := 10

limit := data.letta.max_deletes

deletes := [change | some change in input.changes; change.action == "delete"]

deleted_resources := count(deletes) + sum([count(change.owned_children) | some change in deletes])

# The message is joined with concat rather than sprintf's %s: some Rego engines (rego-cpp,
# which the tests run) quote a string another built-in made when sprintf inserts it.
deny contains message if {
	deleted_resources > limit
	message := concat("", [
		sprintf("the plan deletes %d resources, more than the %d allowed: ", [deleted_resources, limit]),
		concat(", ", sort([change.address | some change in deletes])),
	])
}
