"""Access mechanisms without a web framework: subjects, channels, scopes, row-level rules, masking, limits."""
