"""spooledctl's command groups, one module per noun."""
