"""The 12333 hotline (IVR and agent desk)."""
