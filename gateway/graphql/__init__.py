"""GraphQL at /graphql (strawberry): the same services, subject, errors and audit as the REST API."""
