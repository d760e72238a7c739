"""Reference core system: a stand-in for the 机关保 business system that the hub integrates with."""
