"""Pictures: self-contained HTML pages of a run, a diff and a sweep (plotly.js inlined)."""
