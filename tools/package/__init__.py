"""Packaging the skill for HiLens Studio and regenerating the bundled sample material."""
