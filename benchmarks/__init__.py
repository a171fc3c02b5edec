"""Side-by-side benchmarks of chainrule against its peers (see benchmarks/README.md)."""
