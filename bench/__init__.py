"""schoolnet benchmarks (issue 7); see README.md."""
