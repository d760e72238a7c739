"""Starlette glue shared by every web front end: request ids, problem+json rendering, typed deps."""
