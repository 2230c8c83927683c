"""The kinds of resource a stack manages: a module each (`agent`, `block`, `folder`, ...),
registered in dependency order by `reconciler.kinds.registry`.

The package itself imports no kind, and the modules the manifest reads (the agent settings'
table, the agent and block records) import no kind's reading or planning code: reading
manifests (`letta-apply validate`) never loads them. Only the registry imports every kind.
"""
