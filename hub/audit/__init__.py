"""The tamper-evident audit log: who read or changed which subject's data, through what, with what result."""
