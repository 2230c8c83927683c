"""The kinds of resource a stack manages: a module each (`agent`, `block`, `folder`, ...),
registered in dependency order by `reconciler.kinds.registry`.

Importing one kind's module does not import the others: the manifest reads a kind's manifest
side (the agent settings' table, say) without loading every kind's reading and writing code,
which is what keeps `letta-apply validate` quick to start.
"""
