"""A unit's records in the query store: overview, roster and month totals."""
