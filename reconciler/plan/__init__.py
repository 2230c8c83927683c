"""Planning: compare desired and live state (both plain values) and produce a `Plan`."""
