"""Self-contained plotly HTML dashboards that read only the results store."""
