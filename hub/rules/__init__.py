"""Pure policy rules: money, periods, contributions, interest and benefits (DOMAIN.md §1)."""
