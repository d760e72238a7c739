"""A person's records in the query store: overview, insurance, contributions, accounts, benefit, card, statement."""
