"""国密 primitives for data at rest: SM4-GCM field encryption, HMAC-SM3 blind indexes, wrapped data keys."""
