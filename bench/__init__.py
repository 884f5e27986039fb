"""Signpost benchmarks: `python -m bench --help`.

Every figure is printed beside a baseline measured in the same run, on the same embedded
broker, so a slow machine slows both sides and the ratio stays meaningful. See
docs/benchmarks.md for what each benchmark measures and the figures measured so far.
"""
