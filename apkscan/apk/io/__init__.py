"""Bounded, streaming access to input bytes: a file or a window of one, and the ZIP reader over it."""
