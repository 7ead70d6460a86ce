"""spooledctl: the Spooled command line (``spooledctl --help``)."""
