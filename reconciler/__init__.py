"""letta-apply: a declarative reconciler for Letta servers.

Data flows one way: manifests -> desired state -> live state -> plan -> (render | apply).
"""

__version__ = "0.1.0"
